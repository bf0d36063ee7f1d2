//! Files that together stay under a case's size cap: past it, writes are
//! dropped and the file is named as cut.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes left for a case's evidence, and which files were cut.
pub struct Budget {
    left: AtomicU64,
    cut: Mutex<Vec<String>>,
}

impl Budget {
    pub fn new(cap: u64) -> Budget {
        Budget {
            left: AtomicU64::new(cap),
            cut: Mutex::new(Vec::new()),
        }
    }

    /// Takes `n` bytes if they are left.
    fn take(&self, n: u64) -> bool {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| l.checked_sub(n))
            .is_ok()
    }

    fn mark_cut(&self, name: &str) {
        let mut cut = self.cut.lock().unwrap_or_else(|p| p.into_inner());
        if !cut.iter().any(|c| c == name) {
            cut.push(name.to_string());
        }
    }

    /// The files cut so far.
    pub fn cut(&self) -> Vec<String> {
        self.cut.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A file whose writes count against a [`Budget`].
pub struct Capped {
    file: BufWriter<File>,
    name: String,
    budget: Arc<Budget>,
}

impl Capped {
    /// Creates (or appends to) `dir/name`.
    pub fn create(dir: &Path, name: &str, budget: &Arc<Budget>) -> io::Result<Capped> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))?;
        Ok(Capped {
            file: BufWriter::new(file),
            name: name.to_string(),
            budget: Arc::clone(budget),
        })
    }
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget.take(buf.len() as u64) {
            self.file.write_all(buf)?;
        } else {
            self.budget.mark_cut(&self.name);
        }
        // Dropped bytes are reported as written: the writer (quiche's qlog,
        // a pcap) must go on, not fail the connection.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_past_the_cap_are_dropped_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Arc::new(Budget::new(10));
        let mut a = Capped::create(dir.path(), "a", &budget).unwrap();
        let mut b = Capped::create(dir.path(), "b", &budget).unwrap();
        a.write_all(b"123456").unwrap();
        b.write_all(b"7890").unwrap();
        b.write_all(b"x").unwrap();
        a.flush().unwrap();
        b.flush().unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"123456");
        assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), b"7890");
        assert_eq!(budget.cut(), ["b"]);
    }
}
