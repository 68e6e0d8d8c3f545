//! An SVG line chart of one series' demand against each policy's capacity over the scored part,
//! written as plain SVG text (no plotting dependency): one polyline per line, a y axis with its
//! maximum, a legend.

use std::fmt::Write;

use super::Replay;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;
/// Line colours: demand first, then one per policy.
const COLOURS: [&str; 5] = ["#222222", "#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// The chart of `replay` as an SVG document.
pub fn svg(replay: &Replay, title: &str) -> String {
    let n = replay.demand.len();
    let ymax = replay
        .demand
        .iter()
        .flatten()
        .copied()
        .chain(replay.capacity.iter().flat_map(|(_, c)| c.iter().copied()))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.05 } else { 1.0 };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| LEFT + plot_w * i as f64 / (n.max(2) - 1) as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - (v / ymax).clamp(0.0, 1.0));
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/><text x="{LEFT}" y="18">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<g stroke="#999" fill="none"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b}"/><line x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}"/></g>"##,
        b = TOP + plot_h,
        r = LEFT + plot_w
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="end">{:.4}</text><text x="{}" y="{}" text-anchor="end">0</text><text x="{LEFT}" y="{}">scored interval 1</text><text x="{}" y="{}" text-anchor="end">{n}</text>"#,
        LEFT - 4.0,
        TOP + 4.0,
        ymax,
        LEFT - 4.0,
        TOP + plot_h,
        HEIGHT - 12.0,
        LEFT + plot_w,
        HEIGHT - 12.0
    );
    let mut lines: Vec<(String, Vec<Option<f64>>)> =
        vec![("demand".to_string(), replay.demand.clone())];
    for (p, c) in &replay.capacity {
        lines.push((p.name().to_string(), c.iter().map(|v| Some(*v)).collect()));
    }
    for (k, (label, values)) in lines.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let width = if k == 0 { 1.6 } else { 1.0 };
        // A gap in demand breaks its line.
        for run in values
            .iter()
            .enumerate()
            .collect::<Vec<_>>()
            .split(|(_, v)| v.is_none_or(|v| !v.is_finite()))
        {
            if run.is_empty() {
                continue;
            }
            let pts: Vec<String> = run
                .iter()
                .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x(*i), y(v))))
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{}"/>"#,
                pts.join(" ")
            );
        }
        let ly = TOP + 16.0 * k as f64;
        let lx = LEFT + plot_w + 12.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            escape(label)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::PolicyKind;

    #[test]
    fn one_line_per_policy_and_a_gap_breaks_demand() {
        let r = Replay {
            name: "A->B".into(),
            demand: vec![Some(1.0), None, Some(3.0), Some(2.0)],
            capacity: vec![
                (PolicyKind::Oracle, vec![1.0, 0.0, 3.0, 2.0]),
                (PolicyKind::Static, vec![4.0; 4]),
            ],
        };
        let s = svg(&r, "A->B <lead 2>");
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        // Demand in two runs, one line per policy.
        assert_eq!(s.matches("<polyline").count(), 4);
        assert!(s.contains("A-&gt;B &lt;lead 2&gt;"));
        assert!(s.contains(">oracle<") && s.contains(">static<"));
    }
}
