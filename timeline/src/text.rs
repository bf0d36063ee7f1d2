//! The timeline as text, one line per datagram (for a terminal, ssh and CI
//! logs): `harness explain DIR`.

use std::fmt::Write;

use crate::{Datagram, Kind, Packet, Source, Timeline};

/// A silence at least this long between two datagrams of a client gets a
/// line of its own.
pub const GAP_MS: u64 = 1000;

/// What a packet carried, in a few words: its kind, number and frames
/// (PADDING left out), or why its frames are not known.
pub fn packet(p: &Packet) -> String {
    let mut s = p.kind.label().to_string();
    if let Some(pn) = p.pn {
        write!(s, " {pn}").expect("writing to a String");
    }
    match (&p.frames, &p.unread) {
        (Some(frames), _) => {
            let shown: Vec<String> = frames
                .iter()
                .filter(|f| !matches!(f, quic_wire::Frame::Padding(_)))
                .map(|f| f.to_string())
                .collect();
            if !shown.is_empty() {
                write!(s, ": {}", shown.join(", ")).expect("writing to a String");
            }
        }
        (None, Some(why)) => write!(s, " ({why})").expect("writing to a String"),
        (None, None) if p.kind == Kind::Padding => {
            write!(s, " ({} B)", p.size).expect("writing to a String")
        }
        (None, None) if matches!(p.kind, Kind::Retry | Kind::VersionNegotiation) => {}
        (None, None) => s.push_str(" (not read)"),
    }
    s
}

/// What a datagram carried: its packets, or that its bytes were not kept.
pub fn contents(d: &Datagram) -> String {
    if d.packets.is_empty() {
        return "(bytes not captured)".into();
    }
    let parts: Vec<String> = d.packets.iter().map(packet).collect();
    parts.join(" | ")
}

/// The fate column: drops in capitals, so they stand out.
pub fn fate(d: &Datagram) -> String {
    match &d.fate {
        None => "seen by the client".into(),
        Some(f) if f.dropped() => f.to_string().replacen("dropped", "DROPPED", 1),
        Some(f) => f.to_string(),
    }
}

/// The whole timeline, a client at a time.
pub fn render(t: &Timeline) -> String {
    let mut out = String::new();
    let source = match t.source {
        Source::Relay => "at the relay, before the network model (relay.log, relay.pcap)",
        Source::Client => "at the client (client.pcap); no relay log, so no fates",
    };
    let dropped = t.datagrams.iter().filter(|d| d.dropped()).count();
    writeln!(
        out,
        "{} datagrams, {dropped} dropped, seen {source}",
        t.datagrams.len()
    )
    .expect("writing to a String");
    for c in t.clients() {
        client(&mut out, t, c);
    }
    out
}

fn client(out: &mut String, t: &Timeline, c: usize) {
    let mine: Vec<&Datagram> = t.datagrams.iter().filter(|d| d.client == c).collect();
    writeln!(out, "\nclient {c}: {} datagrams", mine.len()).expect("writing to a String");
    writeln!(
        out,
        "{:>6} {:>7}  {:<4} {:>5}  {:<24} carried",
        "#", "ms", "way", "bytes", "fate"
    )
    .expect("writing to a String");
    let mut last: Option<u64> = None;
    for d in mine {
        if let Some(gap) = last
            .map(|l| d.ms.saturating_sub(l))
            .filter(|&g| g >= GAP_MS)
        {
            writeln!(out, "{:>14}  ... {gap} ms without a datagram ...", "")
                .expect("writing to a String");
        }
        last = Some(d.ms);
        let way = if d.from_client { "C->S" } else { "C<-S" };
        writeln!(
            out,
            "{:>6} {:>7}  {way} {:>5}  {:<24} {}",
            d.index,
            d.ms,
            d.bytes,
            fate(d),
            contents(d)
        )
        .expect("writing to a String");
    }
}
