//! A timeline summed up in one line for a failing check: only counts and
//! times the evidence shows (what was dropped, whose, the longest silence,
//! each side's last datagram), never a guess at why.

use crate::{Datagram, Kind, Source, Timeline};

/// The one-line summary; `None` for a timeline without datagrams.
pub fn summary(t: &Timeline) -> Option<String> {
    if t.datagrams.is_empty() {
        return None;
    }
    let mut parts = vec![format!("{} datagrams", t.datagrams.len())];
    if t.source == Source::Relay {
        parts.push(drops(&t.datagrams));
    }
    if let Some((from, gap)) = longest_silence(&t.datagrams) {
        parts.push(format!(
            "longest silence {} after {}",
            seconds(gap),
            seconds(from)
        ));
    }
    let last = |client: bool| {
        t.datagrams
            .iter()
            .rev()
            .find(|d| d.from_client == client)
            .map(|d| seconds(d.ms))
    };
    let sides: Vec<String> = [("server", last(false)), ("client", last(true))]
        .into_iter()
        .map(|(who, at)| match at {
            Some(at) => format!("the {who}'s at {at}"),
            None => format!("none from the {who}"),
        })
        .collect();
    parts.push(format!("last datagram: {}", sides.join(", ")));
    Some(parts.join("; "))
}

/// How many the relay dropped, whose, and which of the server's packet
/// kinds were in them.
fn drops(all: &[Datagram]) -> String {
    let dropped: Vec<&Datagram> = all.iter().filter(|d| d.dropped()).collect();
    if dropped.is_empty() {
        return "none dropped by the relay".into();
    }
    let server = dropped.iter().filter(|d| !d.from_client).count();
    let mut s = format!(
        "{} dropped by the relay ({server} of the server's, {} of the client's)",
        dropped.len(),
        dropped.len() - server
    );
    let kinds: Vec<String> = [Kind::Initial, Kind::Handshake, Kind::OneRtt]
        .into_iter()
        .filter_map(|k| {
            let n = dropped
                .iter()
                .filter(|d| !d.from_client && d.packets.iter().any(|p| p.kind == k))
                .count();
            (n > 0).then(|| format!("{} with {} packets", n, k.label()))
        })
        .collect();
    if !kinds.is_empty() {
        s.push_str(&format!(": of the server's, {}", kinds.join(", ")));
    }
    s
}

/// The longest time without any datagram, once it is at least a second:
/// when it began and how long it lasted, in ms.
fn longest_silence(all: &[Datagram]) -> Option<(u64, u64)> {
    all.windows(2)
        .map(|w| (w[0].ms, w[1].ms.saturating_sub(w[0].ms)))
        .filter(|&(_, gap)| gap >= crate::text::GAP_MS)
        .max_by_key(|&(_, gap)| gap)
}

/// A time in ms, or in seconds from one second on.
fn seconds(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        _ => format!("{:.1} s", ms as f64 / 1000.0),
    }
}
