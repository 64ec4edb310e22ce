//! SVG plots of round trip and throughput against payload size, one line
//! per transport (floor, shm, peers), and memcpy bandwidth (in cache and
//! from DRAM) as flat lines in the throughput plot.

use crate::Result;
use crate::cases::{Metric, size_name};
use crate::report::{Outcome, SIZES, series_value};
use plotters::prelude::*;
use std::path::Path;

/// Transports plotted, in legend order.
const SERIES: &[&str] = &crate::report::TRANSPORTS;

/// Writes `round_trip.svg` and `throughput.svg` into `dir`; returns their
/// paths.
pub fn write(dir: &Path, outcomes: &[Outcome<'_>]) -> Result<Vec<std::path::PathBuf>> {
    let mut written = Vec::new();
    for (metric, file, title, unit, scale) in [
        (Metric::RoundTrip, "round_trip.svg", "Round trip against payload (lower is better)", "round trip (µs)", 1e-3),
        (
            Metric::Throughput,
            "throughput.svg",
            "One-way throughput against payload (higher is better)",
            "throughput (GB/s)",
            1e-9,
        ),
    ] {
        let mut series: Vec<(&str, Vec<(f64, f64)>)> = SERIES
            .iter()
            .map(|t| {
                #[expect(clippy::cast_precision_loss, reason = "plot coordinates")]
                let points = SIZES
                    .iter()
                    .filter_map(|s| series_value(outcomes, t, metric, *s).map(|v| (*s as f64, v * scale)))
                    .collect();
                (*t, points)
            })
            .filter(|(_, points): &(&str, Vec<(f64, f64)>)| !points.is_empty())
            .collect();
        if series.is_empty() {
            continue;
        }
        if metric == Metric::Throughput {
            // memcpy bandwidth (in cache and from DRAM) as flat lines: what
            // copying bytes costs, whatever carries them.
            for line in ["memcpy in cache", "memcpy from DRAM"] {
                if let Some(v) = series_value(outcomes, line, Metric::Bandwidth, 64 * 1024) {
                    series.push((line, vec![(8.0, v * scale), (65_536.0, v * scale)]));
                }
            }
        }
        let path = dir.join(file);
        draw(&path, title, unit, &series).map_err(|e| format!("plotting {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

fn draw(
    path: &Path,
    title: &str,
    unit: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let ys = series.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y));
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (lo, hi) = (lo / 2.0, hi * 2.0);
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(
            (4.0f64..131_072.0).log_scale().with_key_points(vec![8.0, 64.0, 1024.0, 8192.0, 65_536.0]),
            (lo..hi).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("payload")
        .y_desc(unit)
        .y_labels(12)
        .x_label_formatter(&|x| {
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "axis labels")]
            let bytes = x.round() as usize;
            size_name(bytes)
        })
        .y_label_formatter(&|y| axis_number(*y))
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A tick label: as many decimals as a number of that size needs.
fn axis_number(y: f64) -> String {
    if y >= 100.0 {
        format!("{y:.0}")
    } else if y >= 1.0 {
        format!("{y:.1}")
    } else if y >= 0.01 {
        format!("{y:.2}")
    } else {
        format!("{y:.1e}")
    }
}
