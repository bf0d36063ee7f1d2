//! The relay's log of datagram fates (`relay.log`): one line per datagram
//! the relay handled, written by the relay and read back here, so the
//! format has one definition.

use std::fmt;

/// The first line of a relay log.
pub const HEADER: &str = "# index\tms\tdirection\tclient\tbytes\tfate";

/// Which way a datagram was going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Way {
    ToServer,
    ToClient,
    /// A line about a copy already logged (the relay's queue was full).
    Neither,
}

impl Way {
    fn word(self) -> &'static str {
        match self {
            Way::ToServer => "to-server",
            Way::ToClient => "to-client",
            Way::Neither => "-",
        }
    }
}

/// What the network did to one datagram.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fate {
    /// Copies delivered: 0 is a drop, 2 or more a duplicate.
    pub copies: usize,
    /// A delivered copy differed from what was sent.
    pub corrupted: bool,
    /// The longest delay of a copy, in ms (0: none).
    pub delay_ms: u64,
    /// Why it was dropped, when the network model is not the reason.
    pub why: Option<String>,
    /// Said after the fate ("a random loss spared: ...").
    pub aside: Option<String>,
}

impl Fate {
    pub fn dropped(&self) -> bool {
        self.copies == 0
    }

    /// The words a relay log line uses for it.
    fn parse(text: &str) -> Fate {
        let (text, aside) = match text.split_once(" (") {
            Some((t, a)) => (t, Some(a.trim_end_matches(')').to_string())),
            None => (text, None),
        };
        if let Some(rest) = text.strip_prefix("dropped") {
            let why = rest.strip_prefix(": ").map(str::to_string);
            return Fate {
                why,
                aside,
                ..Fate::default()
            };
        }
        let mut fate = Fate {
            copies: 1,
            aside,
            ..Fate::default()
        };
        for part in text.split(", ") {
            if part == "corrupted" {
                fate.corrupted = true;
            } else if let Some(ms) = part.strip_prefix("delayed ") {
                fate.delay_ms = ms.trim_end_matches(" ms").parse().unwrap_or(0);
            } else if let Some(n) = part.strip_prefix("duplicated x") {
                fate.copies = n.parse().unwrap_or(2);
            }
        }
        fate
    }
}

/// In words: `delivered`, `dropped`, `dropped: why`, or the copies'
/// (`corrupted, delayed 40 ms, duplicated x2`).
impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dropped() {
            write!(f, "dropped")?;
            if let Some(why) = &self.why {
                write!(f, ": {why}")?;
            }
        } else {
            let mut parts = Vec::new();
            if self.corrupted {
                parts.push("corrupted".to_string());
            }
            if self.delay_ms > 0 {
                parts.push(format!("delayed {} ms", self.delay_ms));
            }
            if self.copies > 1 {
                parts.push(format!("duplicated x{}", self.copies));
            }
            match parts.is_empty() {
                true => write!(f, "delivered")?,
                false => write!(f, "{}", parts.join(", "))?,
            }
        }
        if let Some(aside) = &self.aside {
            write!(f, " ({aside})")?;
        }
        Ok(())
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub index: u64,
    /// Since the relay started.
    pub ms: u64,
    pub way: Way,
    /// The relay's number for the client's address.
    pub client: usize,
    pub bytes: usize,
    pub fate: Fate,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\t{}\t{}\t{}\t{}\t{}",
            self.index,
            self.ms,
            self.way.word(),
            self.client,
            self.bytes,
            self.fate
        )
    }
}

/// Every well-formed line of a log; comments and lines that do not parse
/// (a log cut at its size cap) are left out.
pub fn parse(text: &str) -> Vec<Line> {
    text.lines().filter_map(line).collect()
}

fn line(text: &str) -> Option<Line> {
    if text.starts_with('#') {
        return None;
    }
    let mut f = text.splitn(6, '\t');
    let index = f.next()?.parse().ok()?;
    let ms = f.next()?.parse().ok()?;
    let way = match f.next()? {
        "to-server" => Way::ToServer,
        "to-client" => Way::ToClient,
        "-" => Way::Neither,
        _ => return None,
    };
    Some(Line {
        index,
        ms,
        way,
        client: f.next()?.parse().ok()?,
        bytes: f.next()?.parse().ok()?,
        fate: Fate::parse(f.next()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fate_reads_back_as_written() {
        let fates = [
            Fate {
                copies: 1,
                ..Fate::default()
            },
            Fate::default(),
            Fate {
                why: Some("sent to the client's old address".into()),
                ..Fate::default()
            },
            Fate {
                copies: 2,
                corrupted: true,
                delay_ms: 40,
                ..Fate::default()
            },
            Fate {
                aside: Some("a random loss spared: see netem::model".into()),
                copies: 1,
                ..Fate::default()
            },
        ];
        for fate in fates {
            let line = Line {
                index: 7,
                ms: 12,
                way: Way::ToClient,
                client: 3,
                bytes: 1200,
                fate,
            };
            let text = line.to_string();
            assert_eq!(parse(&format!("{HEADER}\n{text}\n")), vec![line], "{text}");
        }
        assert_eq!(Fate::default().to_string(), "dropped");
        assert!(parse("1\t2\tsideways\t0\t1\tdelivered\n3\t4").is_empty());
    }
}
