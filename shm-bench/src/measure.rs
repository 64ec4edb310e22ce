//! Runs and their statistics: how many items a pass gets (calibrated to
//! a time budget), repeated runs, the median run, and percentiles from an
//! `HdrHistogram`.

use crate::Result;
use hdrhistogram::Histogram;
use std::time::Duration;

/// How much to measure.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Smoke mode: tiny fixed counts, one run, no calibration.
    pub smoke: bool,
    /// Runs per case (the report takes the median run); the parent makes
    /// them in rounds, one run of every case per round.
    pub runs: usize,
    /// Time one pass should take (the count is calibrated to it).
    pub pass_time: Duration,
    /// How long a stream's consumer waits before it looks again when the
    /// transport had nothing for it. See [`crate::link::consume`].
    pub poll_gap: PollGap,
}

/// A stream consumer's wait before it looks again at an empty transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollGap {
    /// The default: [`PollGap::PER_SLOT`] per slot of the case's ring (or
    /// buffer), at most [`PollGap::MAX`]; none for a case without one.
    Scaled,
    /// The same for every case (`--poll-gap-ns`; zero: look again at once).
    Fixed(Duration),
}

impl PollGap {
    /// The scaled gap per slot: at 2 ns a slot even a producer of 8-byte
    /// items at 200 M/s (5 ns an item) fills less than half of the ring
    /// while the consumer waits, so the gap never holds the producer up.
    pub const PER_SLOT: Duration = Duration::from_nanos(2);
    /// The longest scaled gap: 2 µs, enough for a producer to run ahead by
    /// a batch, as one that is not chasing its consumer does.
    pub const MAX: Duration = Duration::from_micros(2);

    /// The gap of a stream through a ring of `capacity` slots; zero for an
    /// `eager` case (one that measures the regime without a gap).
    pub fn for_stream(self, capacity: usize, eager: bool) -> Duration {
        match self {
            _ if eager => Duration::ZERO,
            Self::Fixed(gap) => gap,
            Self::Scaled => {
                let slots = u32::try_from(capacity).unwrap_or(u32::MAX);
                (Self::PER_SLOT * slots).min(Self::MAX)
            }
        }
    }

    /// How the report states it.
    pub fn describe(self) -> String {
        match self {
            Self::Scaled => {
                format!("{:?} per ring slot, at most {:?} (none in the -eager cases)", Self::PER_SLOT, Self::MAX)
            }
            Self::Fixed(gap) if gap.is_zero() => "none (--poll-gap-ns 0)".to_owned(),
            Self::Fixed(gap) => format!("{gap:?} in every stream (--poll-gap-ns; none in the -eager cases)"),
        }
    }

    /// The gap in the JSON: null when scaled, else nanoseconds.
    pub fn json_ns(self) -> Option<u64> {
        match self {
            Self::Scaled => None,
            Self::Fixed(gap) => Some(u64::try_from(gap.as_nanos()).unwrap_or(u64::MAX)),
        }
    }
}

impl Plan {
    /// Items for a pass: `smoke` items in smoke mode, otherwise what fills
    /// `pass_time` at `per_item`, within `[min, max]`.
    fn count(&self, per_item: Duration, smoke: u64, min: u64, max: u64) -> u64 {
        if self.smoke {
            return smoke;
        }
        let per = per_item.as_secs_f64().max(1e-9);
        // Truncation is fine: a count for a time budget.
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped below")]
        let n = (self.pass_time.as_secs_f64() / per) as u64;
        n.clamp(min, max)
    }
}

/// What a case measured (the median run, and every run's figure).
#[derive(Clone, Debug, Default)]
pub struct Measure {
    /// The figure: ns per operation for latency cases (the median of the
    /// means of chunks of `CHUNK` operations, so neither clock reads nor a
    /// preemption now and then count), bytes per second for throughput and
    /// bandwidth cases.
    pub value: f64,
    /// Latency cases: the plain mean over the whole untimed pass, ns
    /// (preemptions and all).
    pub mean: Option<f64>,
    /// Items (messages) per second, for throughput cases.
    pub items_per_s: Option<f64>,
    /// Percentiles of the median run, in ns (latency cases).
    pub p50: Option<f64>,
    /// 99th percentile, ns.
    pub p99: Option<f64>,
    /// 99.9th percentile, ns.
    pub p999: Option<f64>,
    /// Each run's figure, in run order.
    pub runs: Vec<f64>,
    /// Operations per run.
    pub count: u64,
}

/// A fresh histogram of nanoseconds (1 ns to 100 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid bounds")
}

#[expect(clippy::cast_precision_loss, reason = "statistics")]
fn per_op_ns(elapsed: Duration, n: u64) -> f64 {
    elapsed.as_secs_f64() * 1e9 / n.max(1) as f64
}

/// Index of the median of `values` (the lower one for an even count).
fn median_index(values: &[f64]) -> usize {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    order[(values.len() - 1) / 2]
}

/// Operations per chunk of an untimed latency pass.
pub const CHUNK: u64 = 64;

/// A latency case: `pass(n, hist)` does `n` operations and returns the
/// time they took; with `Some(hist)` it also times each one into `hist`.
/// Each run makes an untimed pass in chunks of [`CHUNK`] operations (the
/// median chunk mean is the run's figure: no clock read per operation, and
/// a preemption spoils a chunk, not the figure) and a timed pass (its
/// histogram gives the percentiles, clock reads included).
pub fn latency(
    plan: &Plan,
    mut pass: impl FnMut(u64, Option<&mut Histogram<u64>>) -> Result<Duration>,
) -> Result<Measure> {
    let n = if plan.smoke {
        plan.count(Duration::ZERO, CHUNK, 0, 0)
    } else {
        // Warm-up and calibration.
        let probe = 1000;
        let elapsed = pass(probe, None)?;
        plan.count(elapsed / u32::try_from(probe).expect("small"), 0, 1000, 5_000_000).next_multiple_of(CHUNK)
    };
    let mut typical = Vec::new();
    let mut means = Vec::new();
    let mut hists = Vec::new();
    for _ in 0..plan.runs {
        let mut chunks = Vec::new();
        let mut total = Duration::ZERO;
        for _ in 0..n / CHUNK {
            let elapsed = pass(CHUNK, None)?;
            total += elapsed;
            chunks.push(per_op_ns(elapsed, CHUNK));
        }
        typical.push(chunks[median_index(&chunks)]);
        means.push(per_op_ns(total, n));
        let mut hist = histogram();
        pass(n, Some(&mut hist))?;
        hists.push(hist);
    }
    let median = median_index(&typical);
    let mut m = from_hist(typical[median], &hists[median], typical, n);
    m.mean = Some(means[median]);
    Ok(m)
}

/// A measure whose figure is `value` and percentiles come from `hist`.
#[expect(clippy::cast_precision_loss, reason = "statistics")]
pub fn from_hist(value: f64, hist: &Histogram<u64>, runs: Vec<f64>, count: u64) -> Measure {
    let at = |q: f64| Some(hist.value_at_quantile(q) as f64);
    Measure {
        value,
        mean: Some(hist.mean()),
        items_per_s: None,
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        runs,
        count,
    }
}

/// Where a throughput pass records its chunks: every `items` items
/// received, the time per item of that chunk, in ns.
pub struct Chunks {
    /// Items per chunk.
    pub items: u64,
    /// ns per item of each whole chunk of the pass, in order.
    pub per_item_ns: Vec<f64>,
}

impl Chunks {
    /// Records a chunk of `items` items that took `elapsed`.
    #[inline]
    pub fn record(&mut self, elapsed: Duration, items: u64) {
        self.per_item_ns.push(per_op_ns(elapsed, items));
    }
}

/// Fewest chunks a pass needs for its median chunk to be its figure.
const MIN_CHUNKS: usize = 5;

/// A throughput case: `pass(n, chunks)` moves `n` items of `item_bytes`
/// bytes, timing every `chunk_items` items into `chunks`, and returns the
/// time it took. A run's figure is bytes per second at the median chunk's
/// rate (as latency cases take the median chunk: a preemption of either
/// process spoils a chunk or two, not the figure), or over the whole pass
/// when it had fewer than `MIN_CHUNKS` chunks (smoke runs, memcpy).
pub fn throughput(
    plan: &Plan,
    item_bytes: usize,
    chunk_items: u64,
    mut pass: impl FnMut(u64, &mut Chunks) -> Result<Duration>,
) -> Result<Measure> {
    let mut chunks = Chunks { items: chunk_items.max(1), per_item_ns: Vec::new() };
    let n = if plan.smoke {
        plan.count(Duration::ZERO, 200, 0, 0)
    } else {
        let probe = (4_000_000 / item_bytes.max(8)).clamp(64, 100_000) as u64;
        let elapsed = pass(probe, &mut chunks)?;
        plan.count(elapsed / u32::try_from(probe).expect("small"), 0, 1000, 50_000_000)
    };
    let mut rates = Vec::new();
    for _ in 0..plan.runs {
        chunks.per_item_ns.clear();
        let elapsed = pass(n, &mut chunks)?;
        let items = if chunks.per_item_ns.len() >= MIN_CHUNKS {
            1e9 / chunks.per_item_ns[median_index(&chunks.per_item_ns)].max(1e-3)
        } else {
            #[expect(clippy::cast_precision_loss, reason = "statistics")]
            let n = n as f64;
            n / elapsed.as_secs_f64().max(1e-9)
        };
        rates.push(items);
    }
    let median = median_index(&rates);
    #[expect(clippy::cast_precision_loss, reason = "statistics")]
    let bytes = rates[median] * item_bytes as f64;
    #[expect(clippy::cast_precision_loss, reason = "statistics")]
    let runs = rates.iter().map(|r| r * item_bytes as f64).collect();
    Ok(Measure { value: bytes, items_per_s: Some(rates[median]), runs, count: n, ..Measure::default() })
}

/// The median of `runs` (one measure per round): its figure and
/// percentiles, with every run's figure in `runs`.
pub fn median_run(runs: Vec<Measure>) -> Measure {
    let values: Vec<f64> = runs.iter().map(|m| m.value).collect();
    let median = median_index(&values);
    let mut m = runs.into_iter().nth(median).expect("at least one run");
    m.runs = values;
    m
}

/// A case that times single operations (create, open): each run yields a
/// histogram of `count` operations; the figure is the median operation of
/// the median run.
#[expect(clippy::cast_precision_loss, reason = "statistics")]
pub fn samples(runs: &[Histogram<u64>], count: u64) -> Measure {
    let medians: Vec<f64> = runs.iter().map(|h| h.value_at_quantile(0.5) as f64).collect();
    let median = median_index(&medians);
    from_hist(medians[median], &runs[median], medians, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median_index(&[5.0, 1.0, 3.0]), 2);
        assert_eq!(median_index(&[4.0, 1.0, 3.0, 2.0]), 3);
    }

    #[test]
    fn smoke_plan_uses_fixed_counts() {
        let plan = Plan { smoke: true, runs: 1, pass_time: Duration::from_millis(1), poll_gap: PollGap::Scaled };
        let mut calls = Vec::new();
        let m = latency(&plan, |n, hist| {
            calls.push((n, hist.is_some()));
            if let Some(h) = hist {
                h.record(100).unwrap();
            }
            Ok(Duration::from_micros(n))
        })
        .unwrap();
        assert_eq!(calls, [(CHUNK, false), (CHUNK, true)]);
        assert!((m.value - 1000.0).abs() < 1e-6);
        assert_eq!(m.p50, Some(100.0));
    }
}
