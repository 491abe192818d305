//! SVG charts of a run (plotters, SVG backend): one file per scenario, one panel per
//! metric with every server's median and its min–max, then a panel of our ratio to each
//! peer (above 1: tower-socketio is better).

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::report::{self, Results, fmt_num, median_min_max};
use crate::scenarios::{Kind, Scenario, Server, scenarios};

const WIDTH: u32 = 960;
const ROW: u32 = 22;
const PANEL_EXTRA: u32 = 58;
const LABEL_AREA: u32 = 250;

/// One bar: label, median, min, max, colour.
type Bar = (String, f64, f64, f64, RGBColor);

fn color(label: &str) -> RGBColor {
    if label.starts_with("tower-socketio 1w") {
        RGBColor(31, 94, 180)
    } else if label.starts_with("tower-socketio") {
        RGBColor(96, 150, 220)
    } else if label.starts_with("socketioxide 1w") {
        RGBColor(222, 119, 30)
    } else if label.starts_with("socketioxide") {
        RGBColor(240, 170, 100)
    } else if label.starts_with("node") {
        RGBColor(60, 150, 70)
    } else if label.starts_with("ws") {
        RGBColor(120, 120, 120)
    } else {
        RGBColor(140, 90, 170)
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// A horizontal bar per row: (label, median, min, max, colour).
fn panel(area: &Area<'_>, title: &str, rows: &[Bar], reference: Option<f64>) -> Result<(), String> {
    let n = rows.len();
    let top = rows
        .iter()
        .map(|r| r.3.max(r.1))
        .fold(reference.unwrap_or(0.0), f64::max);
    let xmax = if top > 0.0 { top * 1.18 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 15))
        .margin(6)
        .margin_right(24)
        .x_label_area_size(22)
        .y_label_area_size(LABEL_AREA)
        .build_cartesian_2d(0f64..xmax, (0..n).into_segmented())
        .map_err(|e| format!("{e:?}"))?;
    // Row 0 at the top.
    let at = |i: usize| n - 1 - i;
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE.mix(0.0))
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if *i < n => labels[n - 1 - *i].clone(),
            _ => String::new(),
        })
        .x_label_formatter(&|x| fmt_num(*x))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|e| format!("{e:?}"))?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| {
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(at(i))),
                    (r.1, SegmentValue::Exact(at(i) + 1)),
                ],
                r.4.filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        }))
        .map_err(|e| format!("{e:?}"))?;
    chart
        .draw_series(
            rows.iter()
                .enumerate()
                .filter(|(_, r)| r.3 > r.2)
                .map(|(i, r)| {
                    PathElement::new(
                        vec![
                            (r.2, SegmentValue::CenterOf(at(i))),
                            (r.3, SegmentValue::CenterOf(at(i))),
                        ],
                        BLACK.stroke_width(1),
                    )
                }),
        )
        .map_err(|e| format!("{e:?}"))?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| {
            EmptyElement::at((r.3.max(r.1), SegmentValue::CenterOf(at(i))))
                + Text::new(
                    fmt_num(r.1),
                    (5, -6),
                    ("sans-serif", 12).into_font().color(&BLACK),
                )
        }))
        .map_err(|e| format!("{e:?}"))?;
    if let Some(x) = reference {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, SegmentValue::Exact(0)), (x, SegmentValue::Exact(n))],
                RED.stroke_width(1),
            )))
            .map_err(|e| format!("{e:?}"))?;
    }
    Ok(())
}

/// Writes `<dir>/<scenario>.svg` for each scenario with samples; returns how many.
pub fn write(
    r: &Results,
    scs: &[Scenario],
    servers: &[Server],
    dir: &Path,
) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let order: Vec<String> = servers.iter().map(|s| s.label.clone()).collect();
    let pairs = report::ratio_pairs(servers);
    let mut written = 0;
    for sc in scs {
        let labels = r.labels(sc.name, &order);
        if labels.is_empty() {
            continue;
        }
        // Panels: every metric with a sample, then the ratios.
        let mut panels: Vec<(String, Vec<Bar>, Option<f64>)> = Vec::new();
        for metric in &sc.metrics {
            let rows: Vec<_> = labels
                .iter()
                .filter_map(|l| {
                    let (med, lo, hi) = median_min_max(r.get(sc.name, l, metric.key)?);
                    Some((l.clone(), med, lo, hi, color(l)))
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            let better = match metric.better {
                crate::scenarios::Better::Higher => "higher is better",
                crate::scenarios::Better::Lower => "lower is better",
            };
            panels.push((format!("{} ({better})", metric.label), rows, None));
        }
        let mut ratios = Vec::new();
        // The unstable network's servers differ in recovery: no ratios.
        let ratio_metrics = sc
            .metrics
            .iter()
            .filter(|m| !m.key.starts_with("held") && !sc.unstable);
        for metric in ratio_metrics {
            for (o, p) in &pairs {
                if let Some(x) = report::ratio(r, sc.name, metric.key, metric.better, o, p) {
                    let short = metric.label.split(" (").next().unwrap_or(metric.label);
                    ratios.push((format!("{short}: vs {p}"), x, x, x, color(p)));
                }
            }
        }
        if !ratios.is_empty() {
            panels.push((
                "tower-socketio ÷ peer (×, above 1 = tower-socketio is better; red line: 1)".into(),
                ratios,
                Some(1.0),
            ));
        }
        let heights: Vec<u32> = panels
            .iter()
            .map(|p| PANEL_EXTRA + ROW * p.1.len() as u32)
            .collect();
        let total = 40 + heights.iter().sum::<u32>();
        let path = dir.join(format!("{}.svg", sc.name));
        {
            let root = SVGBackend::new(&path, (WIDTH, total)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
            let (head, mut rest) = root.split_vertically(40);
            head.draw(&Text::new(
                r.titles.get(sc.name).unwrap_or(&sc.title).clone(),
                (10, 12),
                ("sans-serif", 17).into_font().style(FontStyle::Bold),
            ))
            .map_err(|e| format!("{e:?}"))?;
            for ((title, rows, reference), h) in panels.iter().zip(&heights) {
                let (this, below) = rest.split_vertically(*h);
                panel(&this, title, rows, *reference)?;
                rest = below;
            }
            root.present().map_err(|e| format!("{e:?}"))?;
        }
        written += 1;
    }
    Ok(written)
}

/// The servers a set of labels names (for charts made from a samples file).
fn servers_from(labels: &[String]) -> Vec<Server> {
    let mut out = Vec::new();
    for l in labels {
        let (name, w) = match l.rsplit_once(' ') {
            Some((n, w)) if w.ends_with('w') => (n, w.trim_end_matches('w').parse().unwrap_or(1)),
            _ => (l.as_str(), 1),
        };
        let kind = match name {
            "tower-socketio" => Kind::Ours,
            "socketioxide" => Kind::Socketioxide,
            "node socket.io" => Kind::Node,
            "ws echo" => Kind::WsEcho,
            "ws floor" => Kind::WsFloor,
            other => Kind::OursAt(other.to_owned(), Default::default()),
        };
        out.push(Server::new(kind, w));
    }
    // The usual order: ours, socketioxide, node, the floors, then other builds.
    let rank = |s: &Server| match s.kind {
        Kind::Ours => 0,
        Kind::Socketioxide => 1,
        Kind::Node => 2,
        Kind::WsFloor => 3,
        Kind::WsEcho => 4,
        Kind::OursAt(..) => 5,
    };
    out.sort_by_key(|s| (rank(s), s.workers));
    out
}

/// `sio-bench charts SAMPLES DIR`: the charts of an earlier run, from its samples.
pub fn from_samples_file(samples: &Path, dir: &Path) -> Result<usize, String> {
    let text =
        std::fs::read_to_string(samples).map_err(|e| format!("{}: {e}", samples.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let r = Results::from_json(&v);
    let mut labels: Vec<String> = Vec::new();
    for (_, b, _) in r.samples.keys() {
        if !labels.contains(b) {
            labels.push(b.clone());
        }
    }
    write(
        &r,
        &scenarios(false, true, usize::MAX),
        &servers_from(&labels),
        dir,
    )
}
