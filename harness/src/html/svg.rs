//! Grouped bar charts as inline SVG, written by hand: a few rectangles,
//! axes and labels need no plotting library.

use super::esc;

/// Series colours, told apart also in grey print (light to dark).
const COLOURS: &[&str] = &[
    "#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#64748b",
];

/// One chart: `groups` along the x axis, one bar per series in each.
pub struct Bars<'a> {
    pub title: &'a str,
    /// The unit of the values (shown on the axis).
    pub unit: &'a str,
    pub groups: Vec<String>,
    pub series: Vec<String>,
    /// `values[group][series]`; `None` draws no bar.
    pub values: Vec<Vec<Option<f64>>>,
}

impl Bars<'_> {
    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> String {
        let (w, h) = (720.0, 300.0);
        let (left, right, top, bottom) = (70.0, 10.0, 30.0, 60.0);
        let plot_w = w - left - right;
        let plot_h = h - top - bottom;
        let max = self
            .values
            .iter()
            .flatten()
            .flatten()
            .copied()
            .fold(0.0_f64, f64::max);
        let top_value = nice_ceiling(max);
        let mut out = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="{t}">"#,
            t = esc(self.title)
        );
        out += &format!(
            r#"<text x="{left}" y="18" font-weight="600">{}</text>"#,
            esc(self.title)
        );
        // Grid lines and the value axis.
        for i in 0..=4 {
            let v = top_value * f64::from(i) / 4.0;
            let y = top + plot_h - plot_h * f64::from(i) / 4.0;
            out += &format!(
                "<line x1=\"{left}\" x2=\"{x2}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text>",
                x2 = w - right,
                tx = left - 6.0,
                ty = y + 4.0,
                label = esc(&short(v)),
            );
        }
        out += &format!(
            "<text x=\"12\" y=\"{y}\" transform=\"rotate(-90 12 {y})\" text-anchor=\"middle\">{}</text>",
            esc(self.unit),
            y = top + plot_h / 2.0
        );
        let groups = self.groups.len().max(1) as f64;
        let series = self.series.len().max(1) as f64;
        let slot = plot_w / groups;
        let bar = (slot * 0.8 / series).min(60.0);
        for (g, name) in self.groups.iter().enumerate() {
            let x0 = left + slot * g as f64 + (slot - bar * series) / 2.0;
            for (s, value) in self.values.get(g).into_iter().flatten().enumerate() {
                let Some(v) = value.filter(|v| v.is_finite()) else {
                    out += &format!(
                        "<text x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#888\">n/a</text>",
                        cx = x0 + bar * s as f64 + (bar - 2.0) / 2.0,
                        ty = top + plot_h - 3.0,
                    );
                    continue;
                };
                let bh = if top_value > 0.0 {
                    plot_h * v / top_value
                } else {
                    0.0
                };
                let x = x0 + bar * s as f64;
                let y = top + plot_h - bh;
                out += &format!(
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"{c}\"><title>{t}</title></rect>",
                    bw = bar - 2.0,
                    c = COLOURS[s % COLOURS.len()],
                    t = esc(&format!("{}, {name}: {} {}", self.series[s], short(v), self.unit)),
                );
                if bar >= 28.0 {
                    out += &format!(
                        "<text x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" font-size=\"10\">{}</text>",
                        esc(&short(v)),
                        cx = x + (bar - 2.0) / 2.0,
                        ty = y - 3.0,
                    );
                }
            }
            out += &format!(
                "<text x=\"{cx:.1}\" y=\"{ty}\" text-anchor=\"middle\">{}</text>",
                esc(name),
                cx = left + slot * (g as f64 + 0.5),
                ty = top + plot_h + 16.0,
            );
        }
        // Legend.
        let mut lx = left;
        for (s, name) in self.series.iter().enumerate() {
            out += &format!(
                "<rect x=\"{lx:.1}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{c}\"/>\
                 <text x=\"{tx:.1}\" y=\"{ty}\">{}</text>",
                esc(name),
                y = h - 24.0,
                c = COLOURS[s % COLOURS.len()],
                tx = lx + 16.0,
                ty = h - 14.0,
            );
            lx += 26.0 + 7.5 * name.chars().count() as f64;
        }
        out + "</svg>"
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * p)
}

/// A value with three significant figures at most, and k/M suffixes.
fn short(v: f64) -> String {
    let (n, suffix) = if v.abs() >= 1e6 {
        (v / 1e6, "M")
    } else if v.abs() >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let digits = if n.abs() >= 100.0 || n == n.trunc() {
        0
    } else if n.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{n:.digits$}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(2668.0), 5000.0);
        assert_eq!(nice_ceiling(81.0), 100.0);
        assert_eq!(nice_ceiling(0.3), 0.5);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(short(2668.0), "2668");
        assert_eq!(short(22400.0), "22.4k");
        assert_eq!(short(0.198), "0.20");
    }

    #[test]
    fn one_bar_per_value_and_a_legend_entry_per_series() {
        let chart = Bars {
            title: "connections/s",
            unit: "1/s",
            groups: vec!["clients=1".into(), "clients=16".into()],
            series: vec!["reference".into(), "quinn <peer>".into()],
            values: vec![vec![Some(10.0), Some(8.0)], vec![Some(20.0), None]],
        }
        .svg();
        assert_eq!(
            chart.matches("<rect").count(),
            3 + 2,
            "3 bars, 2 legend keys"
        );
        assert!(chart.contains("quinn &lt;peer&gt;"));
        assert!(chart.starts_with("<svg") && chart.ends_with("</svg>"));
    }
}
