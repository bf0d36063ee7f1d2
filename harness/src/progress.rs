//! A one-line progress indicator on a terminal: cases done of the total,
//! what is running, time so far. Drawn on stderr, wiped before each report
//! line and at the end, so it never appears in captured output.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use crate::schedule::{plan::Case, Watch};

/// The indicator; inert when `enabled` is false.
pub struct Progress {
    enabled: bool,
    total: usize,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    done: usize,
    /// Labels of the cases running now, oldest first.
    running: Vec<(usize, String)>,
    drawn: bool,
}

impl Progress {
    /// `enabled` only for people: stderr a terminal, no `NO_COLOR`, human
    /// output (see `main.rs`).
    pub fn new(enabled: bool, total: usize) -> Progress {
        Progress {
            enabled,
            total,
            started: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    /// Runs `f` (which writes a report line) with the indicator out of the
    /// way, then draws it again.
    pub fn around(&self, f: impl FnOnce()) {
        if !self.enabled {
            return f();
        }
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        wipe(&mut s);
        f();
        self.draw(&mut s);
    }

    /// Removes the indicator for good.
    pub fn finish(&self) {
        if self.enabled {
            wipe(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    /// The line for the current state.
    fn line(&self, s: &State) -> String {
        let now = match s.running.first() {
            Some((_, label)) if s.running.len() > 1 => {
                format!("  {label} and {} more", s.running.len() - 1)
            }
            Some((_, label)) => format!("  {label}"),
            None => String::new(),
        };
        let mut line = format!(
            "[{}/{}] {:.1} s{now}",
            s.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        line.truncate(100);
        line
    }

    fn draw(&self, s: &mut State) {
        let line = self.line(s);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        s.drawn = true;
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        if !self.enabled {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        self.draw(&mut s);
    }
}

fn wipe(s: &mut State) {
    if s.drawn {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
        s.drawn = false;
    }
}

impl Watch for Progress {
    fn started(&self, case: &Case<'_>) {
        let label = format!("{} [{}]", case.scenario.id, case.driver);
        self.update(|s| s.running.push((case.index, label)));
    }

    fn finished(&self, case: &Case<'_>) {
        self.update(|s| {
            s.done += 1;
            s.running.retain(|(i, _)| *i != case.index);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_and_names_what_runs() {
        let p = Progress::new(false, 57);
        let mut s = State::default();
        assert!(p.line(&s).starts_with("[0/57] 0.0 s"));
        s.done = 3;
        s.running.push((4, "fin/binary [native]".into()));
        assert!(
            p.line(&s).ends_with("s  fin/binary [native]"),
            "{}",
            p.line(&s)
        );
        s.running.push((5, "alpn/h3-rejected [openssl]".into()));
        assert!(p.line(&s).ends_with("fin/binary [native] and 1 more"));
        assert!(p.line(&s).starts_with("[3/57]"));
    }
}
