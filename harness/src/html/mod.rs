//! Self-contained HTML pages people look at: the conformance matrix with
//! every case's checks and evidence ([`conformance`]), and bench results
//! with charts drawn as inline SVG ([`bench`], [`svg`]). No network, no
//! external scripts or fonts: one file that opens offline and on a phone.

pub mod bench;
pub mod conformance;
pub mod svg;

use std::path::Path;

/// `text` safe inside HTML elements and attribute values.
pub use quic_timeline::svg::esc;

/// A link from a page written at `page` to the file `target`: relative
/// when `target` is under the page's folder (the page and its evidence
/// move together), else an absolute `file://` URL.
pub fn href(page: &Path, target: &Path) -> String {
    let base = match page.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.canonicalize().ok(),
        _ => std::env::current_dir().and_then(|d| d.canonicalize()).ok(),
    };
    let rel = base.as_ref().and_then(|b| target.strip_prefix(b).ok());
    let path = match rel {
        Some(r) => r.to_string_lossy().into_owned(),
        None => format!("file://{}", target.display()),
    };
    // Encode what would break a URL; keep `/` and the usual characters.
    path.chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '#' => "%23".to_string(),
            '?' => "%3F".to_string(),
            '%' => "%25".to_string(),
            c => esc(&c.to_string()),
        })
        .collect()
}

/// The page around `body`: inline style, the filter script, a title.
pub fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{title}</h1>
{body}
<script>{SCRIPT}</script>
</body>
</html>
"#,
        title = esc(title),
    )
}

const STYLE: &str = r#"
body { font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1rem; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
.summary span { display: inline-block; margin: 0 .8rem .3rem 0; }
.notes { color: #555; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.cell { text-align: center; white-space: nowrap; }
td.cell a { color: inherit; text-decoration: none; display: block; }
.pass { background: #dff3e0; color: #14532d; }
.fail { background: #fbd5d5; color: #7f1d1d; font-weight: 600; }
.skip { background: #eee; color: #555; }
.error { background: #e0e7ff; color: #312e81; font-weight: 600; }
.flaky { outline: 2px dashed #b91c1c; outline-offset: -3px; }
.known { background: #fdecc8; color: #6b4a00; }
.unexpected { outline: 2px solid #b91c1c; outline-offset: -2px; }
input#filter { font: inherit; padding: .4rem .6rem; width: min(30rem, 100%); box-sizing: border-box; margin: .5rem 0; }
section.case { border: 1px solid #ddd; border-radius: 6px; padding: .5rem .8rem; margin: .8rem 0; }
section.case:target { border-color: #2563eb; box-shadow: 0 0 0 2px #bfdbfe; }
section.case h3 { margin-top: 0; }
.timeline-scroll { overflow-x: auto; }
svg.timeline { display: block; margin: .4rem 0; }
.checks td { font-size: .9rem; word-break: break-word; }
.checks td.verdict { white-space: nowrap; word-break: normal; }
pre { background: #f7f7f7; padding: .5rem; overflow-x: auto; font-size: .85rem; }
.muted { color: #666; }
svg { max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #222; }
@media (max-width: 600px) { body { margin: .5rem; font-size: 14px; } th, td { padding: .2rem .3rem; } }
"#;

/// Hides matrix rows and case sections whose text does not contain what
/// the filter box says.
const SCRIPT: &str = r#"
(function () {
  var box = document.getElementById('filter');
  if (!box) return;
  box.addEventListener('input', function () {
    var q = box.value.toLowerCase();
    document.querySelectorAll('[data-filter]').forEach(function (el) {
      el.style.display = el.getAttribute('data-filter').toLowerCase().indexOf(q) >= 0 ? '' : 'none';
    });
  });
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn links_are_relative_under_the_page_and_absolute_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let page = root.join("report.html");
        assert_eq!(
            href(&page, &root.join("art/a b/keys.log")),
            "art/a%20b/keys.log"
        );
        assert_eq!(
            href(&page, Path::new("/elsewhere/x")),
            "file:///elsewhere/x"
        );
    }
}
