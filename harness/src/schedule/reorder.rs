//! Results handed on in report order, whatever order the cases finish in:
//! a report reads the same for any `--jobs`.

use std::collections::BTreeMap;

/// Holds results that finished early until every case before them has.
pub struct Reorder<T, F: FnMut(T)> {
    next: usize,
    held: BTreeMap<usize, T>,
    done: F,
}

impl<T, F: FnMut(T)> Reorder<T, F> {
    pub fn new(done: F) -> Self {
        Reorder {
            next: 0,
            held: BTreeMap::new(),
            done,
        }
    }

    /// Case `index` finished with `result`: hands on every result now due.
    pub fn push(&mut self, index: usize, result: T) {
        self.held.insert(index, result);
        while let Some(r) = self.held.remove(&self.next) {
            (self.done)(r);
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reorder;

    #[test]
    fn results_come_out_in_index_order() {
        let mut out = Vec::new();
        let mut r = Reorder::new(|x: usize| out.push(x));
        for i in [2, 0, 3, 1, 5, 4] {
            r.push(i, i);
        }
        drop(r);
        assert_eq!(out, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_gap_holds_back_what_follows_it() {
        let mut out = Vec::new();
        let mut r = Reorder::new(|x: usize| out.push(x));
        r.push(1, 1);
        r.push(2, 2);
        drop(r);
        assert!(out.is_empty());
    }
}
