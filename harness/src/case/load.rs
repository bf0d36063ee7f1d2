//! How heavy a scenario is on the server: the floods and crowds that run
//! alone on this machine, and that a server the harness did not start only
//! gets with `--allow-load`.

use crate::scenario::Scenario;

/// A case opening this many connections loads both cores by itself.
pub const CROWD: u32 = 250;

/// How many connections the scenario's clients open in all.
pub fn connection_count(sc: &Scenario) -> u32 {
    sc.connections.iter().map(|c| c.repeat).sum()
}

/// What makes `sc` heavy, in words ("a flood of 20000 datagrams"), or
/// `None` for a scenario that loads a server no more than a few clients.
pub fn heavy(sc: &Scenario) -> Option<String> {
    let mut what = Vec::new();
    if let Some(a) = &sc.attack {
        if a.datagrams > 0 {
            what.push(format!("a flood of {} datagrams", a.datagrams));
        }
        if a.spoofed > 0 {
            what.push(format!("{} clients with spoofed addresses", a.spoofed));
        }
    }
    let n = connection_count(sc);
    if n >= CROWD {
        what.push(format!("{n} connections"));
    }
    (!what.is_empty()).then(|| what.join(" and "))
}
