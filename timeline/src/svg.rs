//! The timeline as inline SVG sequence diagrams, one per client: a client
//! lane and a server lane, an arrow per datagram (time runs down, a row
//! each), drops stopped half-way with a cross, long silences drawn as
//! gaps. Self-contained: no script, no font, no stylesheet outside it.

use std::fmt::Write;

use crate::text::{contents, fate, GAP_MS};
use crate::{Datagram, Timeline};

/// At most this many clients are drawn, and this many datagrams each.
pub const MAX_CLIENTS: usize = 4;
pub const MAX_ROWS: usize = 300;

const ROW: f64 = 16.0;
const TIME_X: f64 = 46.0;
const CLIENT_X: f64 = 54.0;
const SERVER_X: f64 = 174.0;
const TEXT_X: f64 = 182.0;
const WIDTH: f64 = 640.0;
/// What the colours and strokes mean.
const LEGEND: &str =
    "blue: to the server; green: to the client; red \u{d7}: dropped by the relay; \
                      orange: corrupted; dashed: delayed; thick: duplicated";
/// Characters of a datagram's description shown beside its arrow (the
/// whole of it is the arrow's tooltip).
const LABEL_CHARS: usize = 64;

/// `text` safe inside XML and HTML elements and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One `<svg>` per client drawn, and a line saying what was left out.
pub fn render(t: &Timeline) -> String {
    let clients = t.clients();
    let mut out = String::new();
    for &c in clients.iter().take(MAX_CLIENTS) {
        let mine: Vec<&Datagram> = t.datagrams.iter().filter(|d| d.client == c).collect();
        out.push_str(&client(c, &mine));
    }
    let hidden_clients = clients.len().saturating_sub(MAX_CLIENTS);
    if hidden_clients > 0 {
        write!(
            out,
            "<p class=\"timeline-more\">{hidden_clients} more client(s) not drawn; \
             <code>harness explain</code> on the evidence folder lists them all.</p>"
        )
        .expect("writing to a String");
    }
    out
}

/// The rows of one client's diagram: a datagram, or a silence before one.
enum Row<'a> {
    Datagram(&'a Datagram),
    Gap(u64),
}

fn rows<'a>(mine: &[&'a Datagram]) -> Vec<Row<'a>> {
    let mut rows = Vec::new();
    let mut last: Option<u64> = None;
    for d in mine.iter().take(MAX_ROWS) {
        if let Some(gap) = last
            .map(|l| d.ms.saturating_sub(l))
            .filter(|&g| g >= GAP_MS)
        {
            rows.push(Row::Gap(gap));
        }
        last = Some(d.ms);
        rows.push(Row::Datagram(d));
    }
    rows
}

fn client(c: usize, mine: &[&Datagram]) -> String {
    let rows = rows(mine);
    let height = 40.0 + ROW * (rows.len() as f64 + 2.0);
    let dropped = mine.iter().filter(|d| d.dropped()).count();
    let mut s = format!(
        r#"<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="client {c}: {} datagrams, {dropped} dropped" font-family="sans-serif" font-size="11">"#,
        mine.len()
    );
    s.push_str(&lanes(c, height));
    let mut y = 40.0;
    for row in &rows {
        match row {
            Row::Gap(ms) => s.push_str(&gap(y, *ms)),
            Row::Datagram(d) => s.push_str(&arrow(y, d)),
        }
        y += ROW;
    }
    if mine.len() > MAX_ROWS {
        write!(
            s,
            r##"<text x="{CLIENT_X}" y="{y}" fill="#555">{} more datagrams not drawn</text>"##,
            mine.len() - MAX_ROWS
        )
        .expect("writing to a String");
    }
    write!(
        s,
        r##"<text x="{TIME_X}" y="{y}" dy="{ROW}" fill="#555" font-size="10">{LEGEND}</text>"##
    )
    .expect("writing to a String");
    s.push_str("</svg>\n");
    s
}

fn lanes(c: usize, height: f64) -> String {
    let bottom = height - 4.0;
    format!(
        r##"<text x="{CLIENT_X}" y="14" text-anchor="middle" font-weight="bold">client {c}</text><text x="{SERVER_X}" y="14" text-anchor="middle" font-weight="bold">server</text><text x="{TIME_X}" y="30" text-anchor="end" fill="#555">ms</text><line x1="{CLIENT_X}" y1="20" x2="{CLIENT_X}" y2="{bottom}" stroke="#94a3b8"/><line x1="{SERVER_X}" y1="20" x2="{SERVER_X}" y2="{bottom}" stroke="#94a3b8"/>"##
    )
}

fn gap(y: f64, ms: u64) -> String {
    let mid = (CLIENT_X + SERVER_X) / 2.0;
    format!(
        r##"<g class="gap"><rect x="{CLIENT_X}" y="{top}" width="{w}" height="{h}" fill="#f1f5f9"/><text x="{mid}" y="{ty}" text-anchor="middle" fill="#475569">{ms} ms silent</text></g>"##,
        top = y - ROW / 2.0 - 2.0,
        w = SERVER_X - CLIENT_X,
        h = ROW,
        ty = y + 4.0,
    )
}

fn arrow(y: f64, d: &Datagram) -> String {
    let (from, to) = match d.from_client {
        true => (CLIENT_X, SERVER_X),
        false => (SERVER_X, CLIENT_X),
    };
    let f = d.fate.as_ref();
    let colour = match (d.dropped(), f.is_some_and(|f| f.corrupted)) {
        (true, _) => "#dc2626",
        (false, true) => "#d97706",
        (false, false) if d.from_client => "#2563eb",
        (false, false) => "#059669",
    };
    let dash = match f.is_some_and(|f| f.delay_ms > 0) {
        true => r#" stroke-dasharray="4 2""#,
        false => "",
    };
    let width = if f.is_some_and(|f| f.copies > 1) {
        3
    } else {
        1
    };
    let end = if d.dropped() { (from + to) / 2.0 } else { to };
    let head = if d.dropped() {
        cross(end, y)
    } else {
        arrowhead(end, y, to > from, colour)
    };
    let what = contents(d);
    let label: String = what.chars().take(LABEL_CHARS).collect();
    let more = if what.chars().count() > LABEL_CHARS {
        "…"
    } else {
        ""
    };
    let class = if d.dropped() { "dg dropped" } else { "dg" };
    format!(
        r##"<g class="{class}" data-index="{i}"><title>#{i} at {ms} ms, {bytes} bytes, {fate}: {all}</title><text x="{TIME_X}" y="{ty}" text-anchor="end" fill="#555">{ms}</text><line x1="{from}" y1="{y}" x2="{end}" y2="{y}" stroke="{colour}" stroke-width="{width}"{dash}/>{head}<text x="{TEXT_X}" y="{ty}" fill="{colour}">{label}{more}</text></g>"##,
        i = d.index,
        ms = d.ms,
        bytes = d.bytes,
        fate = esc(&fate(d)),
        all = esc(&what),
        ty = y + 4.0,
        label = esc(&label),
    )
}

fn arrowhead(x: f64, y: f64, rightwards: bool, colour: &str) -> String {
    let back = if rightwards { x - 6.0 } else { x + 6.0 };
    format!(
        r#"<polygon points="{x},{y} {back},{a} {back},{b}" fill="{colour}"/>"#,
        a = y - 3.5,
        b = y + 3.5
    )
}

fn cross(x: f64, y: f64) -> String {
    let r = 4.0;
    format!(
        r##"<path d="M{a} {c}L{b} {d}M{a} {d}L{b} {c}" stroke="#dc2626" stroke-width="2"/>"##,
        a = x - r,
        b = x + r,
        c = y - r,
        d = y + r
    )
}
