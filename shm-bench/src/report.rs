//! The report: the main table (each figure with its ratio to its floor),
//! shm against the peers, the targets (met or missed, never a
//! test), and the JSON file.

use crate::cases::{Case, Group, Metric, PENDING, id, size_name};
use crate::machine::Machine;
use crate::measure::{Measure, Plan};
use serde_json::{Value, json};
use std::fmt::Write as _;

/// Why a case failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// A check of what arrived failed (not just an error on the way).
    pub verification: bool,
    /// The error.
    pub message: String,
}

/// One case's result.
pub struct Outcome<'a> {
    /// The case.
    pub case: &'a Case,
    /// Its measure, or why it failed.
    pub result: Result<Measure, Failure>,
    /// Wall time the case took, seconds.
    pub seconds: f64,
}

/// The figure of case `id`, if it ran and succeeded.
fn value(outcomes: &[Outcome<'_>], id: &str) -> Option<f64> {
    outcomes.iter().find(|o| o.case.id == id).and_then(|o| o.result.as_ref().ok()).map(|m| m.value)
}

/// A time in ns, for people.
pub fn time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// A rate in bytes/s, for people.
fn bytes_rate(bytes: f64) -> String {
    format!("{:.2} GB/s", bytes / 1e9)
}

/// The figure of `m`, for people.
pub fn table_figure(metric: Metric, m: &Measure) -> String {
    if metric.higher_is_better() {
        match m.items_per_s {
            Some(items) if metric == Metric::Throughput => format!("{:.2} M/s, {}", items / 1e6, bytes_rate(m.value)),
            _ => bytes_rate(m.value),
        }
    } else {
        time(m.value)
    }
}

fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}x", a / b)
}

/// The main table, Markdown.
pub fn table(outcomes: &[Outcome<'_>]) -> String {
    let mut out = String::new();
    out.push_str("| case | figure | p50 | p99 | p99.9 | runs spread | vs floor | floor |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---|\n");
    for o in outcomes {
        let case = o.case;
        match &o.result {
            Ok(m) => {
                let pct = |p: Option<f64>| p.map_or_else(String::new, time);
                let floor = case.floor.as_deref().and_then(|f| value(outcomes, f).map(|v| (f, v)));
                let (vs, name) =
                    floor.map_or((String::new(), String::new()), |(f, v)| (ratio(m.value, v), f.to_owned()));
                let max = m.runs.iter().copied().fold(f64::MIN, f64::max);
                let min = m.runs.iter().copied().fold(f64::MAX, f64::min);
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {vs} | {name} |",
                    case.id,
                    table_figure(case.metric, m),
                    pct(m.p50),
                    pct(m.p99),
                    pct(m.p999),
                    ratio(max, min),
                );
            }
            Err(f) => {
                let what = if f.verification { "VERIFICATION FAILED" } else { "FAILED" };
                let _ = writeln!(out, "| {} | {what}: {} | | | | | | |", case.id, f.message.replace('|', "/"));
            }
        }
    }
    out
}

/// What the cases' notes say, as a list: each note once, after the ids
/// of the cases it is about (cases without a note left out).
pub fn notes(outcomes: &[Outcome<'_>]) -> String {
    let mut notes: Vec<(String, Vec<&str>)> = Vec::new();
    for o in outcomes.iter().filter(|o| !o.case.note.is_empty()) {
        let c = o.case;
        let note = format!("{}: {}", c.transport, c.note.replace("`param`", &c.param.to_string()));
        match notes.iter_mut().find(|(n, _)| *n == note) {
            Some((_, ids)) => ids.push(&c.id),
            None => notes.push((note, vec![&c.id])),
        }
    }
    let mut out = String::new();
    for (note, ids) in notes {
        let ids: Vec<String> = ids.iter().map(|id| format!("`{id}`")).collect();
        let _ = writeln!(out, "- {note} ({})", ids.join(", "));
    }
    out
}

/// Transports of the comparison table and the plots, in column (and
/// legend) order.
pub const TRANSPORTS: [&str; 10] = [
    "hand ring",
    "MemoryInterface",
    "MemoryInterface batch",
    "MemoryInterface in place",
    "ByteRing",
    "iceoryx2 copy",
    "iceoryx2 loan",
    "shared_memory ring",
    "Unix socket",
    "pipe",
];

/// Sizes of the comparison table and the plots.
pub const SIZES: [usize; 3] = [8, 1024, 64 * 1024];

/// The figure of `transport`'s `metric` case at `size` bytes (floor, shm
/// and peers groups only).
pub fn series_value(outcomes: &[Outcome<'_>], transport: &str, metric: Metric, size: usize) -> Option<f64> {
    outcomes
        .iter()
        .filter(|o| matches!(o.case.group, Group::Floor | Group::Shm | Group::Peers))
        .find(|o| o.case.transport == transport && o.case.metric == metric && o.case.payload == size)
        .and_then(|o| o.result.as_ref().ok())
        .map(|m| m.value)
}

/// shm against the floor and the peers, Markdown: the figures, then
/// shm's rings (`MemoryInterface` one at a time, in batches, in place, and
/// `ByteRing`) as a ratio of each.
pub fn peers_table(outcomes: &[Outcome<'_>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| | {} |", TRANSPORTS.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(TRANSPORTS.len()));
    let rows = [Metric::RoundTrip, Metric::Throughput];
    for metric in rows {
        for size in SIZES {
            let cells: Vec<String> = TRANSPORTS
                .iter()
                .map(|t| {
                    series_value(outcomes, t, metric, size).map_or_else(
                        || "-".to_owned(),
                        |v| if metric.higher_is_better() { bytes_rate(v) } else { time(v) },
                    )
                })
                .collect();
            let _ = writeln!(out, "| {} {} | {} |", metric.name(), size_name(size), cells.join(" | "));
        }
    }
    out.push('\n');
    let _ = writeln!(out, "| shm as a ratio of | {} |", TRANSPORTS.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(TRANSPORTS.len()));
    for metric in rows {
        for size in SIZES {
            let shm_forms: &[&str] = if metric == Metric::Throughput {
                &["MemoryInterface", "MemoryInterface batch", "MemoryInterface in place", "ByteRing"]
            } else {
                &["MemoryInterface", "MemoryInterface in place", "ByteRing"]
            };
            for shm in shm_forms {
                let Some(ours) = series_value(outcomes, shm, metric, size) else { continue };
                let cells: Vec<String> = TRANSPORTS
                    .iter()
                    .map(|t| series_value(outcomes, t, metric, size).map_or_else(|| "-".to_owned(), |v| ratio(ours, v)))
                    .collect();
                let _ = writeln!(out, "| {shm} {} {} | {} |", metric.name(), size_name(size), cells.join(" | "));
            }
        }
    }
    out.push_str("\nRound trips: a ratio below 1 means shm is faster. Throughput: above 1 means shm moves more.\n");
    out
}

/// One of the targets, evaluated round by round.
pub struct Target {
    /// What it says.
    pub name: String,
    /// The ratio in each round where every case it needs ran (the cases
    /// of a round ran minutes apart at most, so a round's ratio compares
    /// figures taken in the same state of the machine).
    pub ratios: Vec<f64>,
    /// The limit.
    pub limit: f64,
    /// Whether the ratio must be at most (`true`) or at least the limit.
    pub at_most: bool,
    /// How the ratio was computed.
    pub detail: String,
}

impl Target {
    /// The median of the per-round ratios (the lower middle one for an
    /// even count); `None` when no round had every case it needs.
    pub fn ratio(&self) -> Option<f64> {
        let mut sorted = self.ratios.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.get((sorted.len().max(1) - 1) / 2).copied()
    }

    /// The smallest and largest per-round ratio.
    pub fn range(&self) -> Option<(f64, f64)> {
        let lo = self.ratios.iter().copied().reduce(f64::min)?;
        let hi = self.ratios.iter().copied().reduce(f64::max)?;
        Some((lo, hi))
    }

    /// Met (by the median), missed, or not measured.
    pub fn verdict(&self) -> &'static str {
        match self.ratio() {
            None => "not measured",
            Some(r) if (self.at_most && r <= self.limit) || (!self.at_most && r >= self.limit) => "met",
            Some(_) => "MISSED",
        }
    }
}

/// The figures of one round: every case's run of that round.
#[derive(Clone, Copy)]
struct Round<'a, 'b> {
    outcomes: &'a [Outcome<'b>],
    index: usize,
}

impl Round<'_, '_> {
    /// The figure of `group/slug/metric/size` in this round.
    fn v(&self, group: Group, slug: &str, metric: Metric, size: usize) -> Option<f64> {
        let id = id(group, slug, metric, size);
        let o = self.outcomes.iter().find(|o| o.case.id == id)?;
        o.result.as_ref().ok()?.runs.get(self.index).copied()
    }

    /// `a / b` of two cases' figures in this round.
    fn div(&self, a: (Group, &str, Metric, usize), b: (Group, &str, Metric, usize)) -> Option<f64> {
        Some(self.v(a.0, a.1, a.2, a.3)? / self.v(b.0, b.1, b.2, b.3)?)
    }
}

/// A target whose ratio in each round is `ratio(round)`.
fn target(
    outcomes: &[Outcome<'_>],
    name: &str,
    limit: f64,
    at_most: bool,
    detail: String,
    ratio: impl Fn(Round<'_, '_>) -> Option<f64>,
) -> Target {
    let rounds = outcomes.iter().filter_map(|o| o.result.as_ref().ok()).map(|m| m.runs.len()).max().unwrap_or(0);
    let ratios = (0..rounds).filter_map(|index| ratio(Round { outcomes, index })).collect();
    Target { name: name.to_owned(), ratios, limit, at_most, detail }
}

/// The targets, each the median of its per-round ratios.
#[expect(clippy::too_many_lines, reason = "one list of targets, one entry each")]
pub fn targets(outcomes: &[Outcome<'_>]) -> Vec<Target> {
    let (rtt, thr) = (Metric::RoundTrip, Metric::Throughput);
    let (floor, shm, peers) = (Group::Floor, Group::Shm, Group::Peers);
    let hand = |metric, size| (floor, "hand-ring", metric, size);
    // A round trip's floor: the faster of the two hand rings in the same
    // round (with positions only, and with a sequence word in each slot;
    // the second is the faster at 8 B, the two alike at 1 KiB and 64 KiB).
    let hand_rtt = |r: Round<'_, '_>, size| {
        [r.v(floor, "hand-ring", rtt, size), r.v(floor, "hand-ring-seq", rtt, size)]
            .into_iter()
            .flatten()
            .reduce(f64::min)
    };
    let ring = |metric, size| (shm, "ring", metric, size);
    let iox_best = |r: Round<'_, '_>| {
        [r.v(peers, "iceoryx2-copy", rtt, 8), r.v(peers, "iceoryx2-loan", rtt, 8)]
            .into_iter()
            .flatten()
            .reduce(f64::min)
    };
    let mut targets = vec![
        target(
            outcomes,
            "the driver: hand ring 8 B throughput >= 0.85x the standalone loop",
            0.85,
            false,
            "floor/hand-ring/thr/8B / floor/self-check/thr/8B (the same ring written without the harness's driver)"
                .into(),
            |r| r.div(hand(thr, 8), (floor, "self-check", thr, 8)),
        ),
        target(
            outcomes,
            "SharedInt ping-pong <= 1.1x the atomic floor",
            1.1,
            true,
            "shm/shared-int/rtt/8B / floor/atomic/rtt/8B".into(),
            |r| r.div((shm, "shared-int", rtt, 8), (floor, "atomic", rtt, 8)),
        ),
        target(
            outcomes,
            "ring 8 B round trip <= 1.15x the atomic ping-pong",
            1.15,
            true,
            "shm/ring/rtt/8B / floor/atomic/rtt/8B".into(),
            |r| r.div(ring(rtt, 8), (floor, "atomic", rtt, 8)),
        ),
        target(
            outcomes,
            "ring 8 B round trip <= 0.33x iceoryx2 at its best",
            0.33,
            true,
            "shm/ring/rtt/8B / the faster of peers/iceoryx2-copy and -loan/rtt/8B in the same round".into(),
            |r| Some(r.v(shm, "ring", rtt, 8)? / iox_best(r)?),
        ),
        target(
            outcomes,
            "ring 8 B throughput >= 0.9x the hand ring",
            0.9,
            false,
            "shm/ring/thr/8B / floor/hand-ring/thr/8B".into(),
            |r| r.div(ring(thr, 8), hand(thr, 8)),
        ),
        target(
            outcomes,
            "ring 8 B throughput >= 0.9x the hand ring, both consumers eager (no poll gap)",
            0.9,
            false,
            "shm/ring-eager/thr/8B / floor/hand-ring-eager/thr/8B (the item-by-item regime)".into(),
            |r| r.div((shm, "ring-eager", thr, 8), (floor, "hand-ring-eager", thr, 8)),
        ),
        target(
            outcomes,
            "ring batch 8 B throughput >= 1.2x the hand ring",
            1.2,
            false,
            "shm/ring-batch/thr/8B / floor/hand-ring/thr/8B".into(),
            |r| r.div((shm, "ring-batch", thr, 8), hand(thr, 8)),
        ),
        target(
            outcomes,
            "ring 1 KiB throughput >= 0.9x the hand ring",
            0.9,
            false,
            "shm/ring/thr/1KiB / floor/hand-ring/thr/1KiB".into(),
            |r| r.div(ring(thr, 1024), hand(thr, 1024)),
        ),
        target(
            outcomes,
            "ring 64 KiB throughput >= 0.9x the hand ring",
            0.9,
            false,
            "shm/ring/thr/64KiB / floor/hand-ring/thr/64KiB".into(),
            |r| r.div(ring(thr, 65536), hand(thr, 65536)),
        ),
        target(
            outcomes,
            "ring 64 KiB round trip <= 1.1x the hand ring",
            1.1,
            true,
            "shm/ring/rtt/64KiB / the faster of floor/hand-ring and hand-ring-seq/rtt/64KiB in the same round".into(),
            |r| Some(r.v(shm, "ring", rtt, 65536)? / hand_rtt(r, 65536)?),
        ),
        target(
            outcomes,
            "ByteRing round trip <= 1.1x the hand ring at every size",
            1.1,
            true,
            "largest over 8 B, 1 KiB, 64 KiB of shm/byte-ring/rtt / the faster of floor/hand-ring and hand-ring-seq/rtt"
                .into(),
            |r| {
                SIZES
                    .iter()
                    .map(|&size| Some(r.v(shm, "byte-ring", rtt, size)? / hand_rtt(r, size)?))
                    .collect::<Option<Vec<f64>>>()?
                    .into_iter()
                    .reduce(f64::max)
            },
        ),
        target(
            outcomes,
            "ring 64 KiB throughput >= 0.8x in-cache memcpy of one slot set",
            0.8,
            false,
            "shm/ring/thr/64KiB / floor/memcpy-cached/bw/64KiB (64 KiB blocks within a 4 MiB set, the ring's slots)"
                .into(),
            |r| r.div(ring(thr, 65536), (floor, "memcpy-cached", Metric::Bandwidth, 65536)),
        ),
    ];
    targets.push(in_place_target(outcomes));
    targets.extend(broadcast_targets(outcomes));
    targets.extend(asleep_targets(outcomes));
    // Flat against capacity: shm's cost over the hand ring's at the same
    // capacity should not move with the capacity (the hand ring itself
    // speeds up with room to run ahead; that is the hardware, not shm).
    let caps = [16, 64, 256, 1024, 4096, 16_384, 65_536];
    targets.push(target(
        outcomes,
        "flat cost against ring capacity (16 .. 65,536 slots)",
        1.2,
        true,
        "largest / smallest of (8 B throughput / the hand ring's at the same capacity) over the capacities; the 1.2 \
         limit is the harness's (the issue gives none)"
            .into(),
        |r| {
            let per_cap: Vec<f64> = caps
                .iter()
                .map(|cap| {
                    let shm = r.v(Group::Scaling, &format!("ring-capacity-{cap}"), thr, 8)?;
                    Some(shm / r.v(Group::Scaling, &format!("hand-ring-capacity-{cap}"), thr, 8)?)
                })
                .collect::<Option<_>>()?;
            let (lo, hi) = per_cap.iter().fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
            (per_cap.len() >= 2).then_some(hi / lo)
        },
    ));
    targets.push(target(
        outcomes,
        "flat cost against open segments (1 and 1,000 others)",
        1.2,
        true,
        "8 B round trip with 1,000 / with 1 other segment open; the 1.2 limit is the harness's".into(),
        |r| r.div((Group::Scaling, "ring-others-1000", rtt, 8), (Group::Scaling, "ring-others-1", rtt, 8)),
    ));
    targets
}

/// The broadcast's targets (issue 20): throughput with 1 subscriber
/// against `MemoryInterface` through the same fan-out driver, with 4
/// against 1, and with 4 against iceoryx2 with 4.
fn broadcast_targets(outcomes: &[Outcome<'_>]) -> Vec<Target> {
    let thr = Metric::Throughput;
    let sizes = [8, 64 * 1024];
    let smallest = |r: Round<'_, '_>, a: &str, b: (Group, &str)| {
        sizes
            .iter()
            .map(|&size| r.div((Group::Shm, a, thr, size), (b.0, b.1, thr, size)))
            .collect::<Option<Vec<f64>>>()?
            .into_iter()
            .reduce(f64::min)
    };
    vec![
        target(
            outcomes,
            "broadcast, 1 subscriber: throughput >= 0.9x MemoryInterface",
            0.9,
            false,
            "smallest over 8 B and 64 KiB of shm/broadcast-1sub/thr / shm/ring-published/thr (MemoryInterface through the \
             same fan-out driver)"
                .into(),
            |r| smallest(r, "broadcast-1sub", (Group::Shm, "ring-published")),
        ),
        target(
            outcomes,
            "broadcast, 4 subscribers: publisher throughput >= 0.5x of 1 subscriber",
            0.5,
            false,
            "smallest over 8 B and 64 KiB of shm/broadcast-4sub/thr / shm/broadcast-1sub/thr (items/s delivered to each \
             subscriber, until the slowest has all)"
                .into(),
            |r| smallest(r, "broadcast-4sub", (Group::Shm, "broadcast-1sub")),
        ),
        target(
            outcomes,
            "broadcast, 4 subscribers, 8 B: throughput >= 3x iceoryx2's",
            3.0,
            false,
            "shm/broadcast-4sub/thr/8B / peers/iceoryx2-fanout-4sub/thr/8B".into(),
            |r| r.div((Group::Shm, "broadcast-4sub", thr, 8), (Group::Peers, "iceoryx2-fanout-4sub", thr, 8)),
        ),
    ]
}

/// The async targets (issue 21): both sides asleep, and back to back.
fn asleep_targets(outcomes: &[Outcome<'_>]) -> Vec<Target> {
    let rtt = Metric::RoundTrip;
    vec![
        target(
            outcomes,
            "async ring 8 B round trip, both asleep, <= 1.5x the blocking one",
            1.5,
            true,
            "shm/ring-async/rtt/8B / shm/ring-blocking/rtt/8B (both with a 200 µs sleep before each round trip)".into(),
            |r| r.div((Group::Shm, "ring-async", rtt, 8), (Group::Shm, "ring-blocking", rtt, 8)),
        ),
        target(
            outcomes,
            "async ring 8 B round trip, both asleep, >= 5x faster than tokio's Unix socket",
            5.0,
            false,
            "peers/tokio-uds/rtt/8B / shm/ring-async/rtt/8B (both asleep, current-thread runtimes)".into(),
            |r| r.div((Group::Peers, "tokio-uds", rtt, 8), (Group::Shm, "ring-async", rtt, 8)),
        ),
        target(
            outcomes,
            "async ring 8 B round trip, both awake, >= 5x faster than tokio's Unix socket",
            5.0,
            false,
            "peers/tokio-uds-awake/rtt/8B / shm/ring-async-awake/rtt/8B (back to back, current-thread runtimes)".into(),
            |r| r.div((Group::Peers, "tokio-uds-awake", rtt, 8), (Group::Shm, "ring-async-awake", rtt, 8)),
        ),
    ]
}

/// In place against iceoryx2's loan API: the same work (only the three
/// stamp words written and read in the shared slot), the smallest ratio
/// over the sizes.
fn in_place_target(outcomes: &[Outcome<'_>]) -> Target {
    let thr = Metric::Throughput;
    target(
        outcomes,
        "in-place writes at least match iceoryx2's loan API",
        1.0,
        false,
        "smallest over 8 B, 1 KiB, 64 KiB of shm/ring-in-place/thr / peers/iceoryx2-loan/thr".into(),
        |r| {
            SIZES
                .iter()
                .map(|&size| {
                    r.div((Group::Shm, "ring-in-place", thr, size), (Group::Peers, "iceoryx2-loan", thr, size))
                })
                .collect::<Option<Vec<f64>>>()?
                .into_iter()
                .reduce(f64::min)
        },
    )
}

/// The targets, Markdown.
pub fn targets_table(targets: &[Target]) -> String {
    let mut out = String::from(
        "| target | median of rounds | min-max | rounds | verdict | how |\n|---|---:|---:|---:|---|---|\n",
    );
    for t in targets {
        let r = t.ratio().map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
        let range = t.range().map_or_else(|| "-".to_owned(), |(lo, hi)| format!("{lo:.2}-{hi:.2}x"));
        let _ = writeln!(out, "| {} | {r} | {range} | {} | {} | {} |", t.name, t.ratios.len(), t.verdict(), t.detail);
    }
    out
}

/// Each case against the same case in `previous` (the JSON of an earlier
/// run), Markdown: both figures and the change, "slower" when this run's
/// figure is more than 10% worse (the runs of one case often spread that
/// much on a shared virtual machine).
pub fn changes(outcomes: &[Outcome<'_>], previous: &Value) -> String {
    let Some(before) = previous["cases"].as_array() else {
        return "The previous run's JSON has no cases.\n".to_owned();
    };
    let mut out = String::from("| case | previous | now | change | |\n|---|---:|---:|---:|---|\n");
    for o in outcomes {
        let Ok(m) = &o.result else { continue };
        let Some(old) = before.iter().find(|c| c["id"] == o.case.id).and_then(|c| c["value"].as_f64()) else {
            let _ = writeln!(out, "| {} | - | {} | new | |", o.case.id, table_figure(o.case.metric, m));
            continue;
        };
        let better = if o.case.metric.higher_is_better() { m.value / old } else { old / m.value };
        let figure = |v: f64| if o.case.metric.higher_is_better() { bytes_rate(v) } else { time(v) };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:+.0}% | {} |",
            o.case.id,
            figure(old),
            figure(m.value),
            (better - 1.0) * 100.0,
            if better < 0.9 { "slower" } else { "" },
        );
    }
    out.push_str("\nChange: how much better this run's figure is (negative: worse), time or rate alike.\n");
    out
}

/// Cases waiting for other work, as a list.
pub fn pending() -> String {
    let mut out = String::new();
    for (ids, why) in PENDING {
        let _ = writeln!(out, "- `{ids}`: not measured: {why}.");
    }
    out
}

/// Everything, as JSON.
pub fn json(machine: &Machine, load_end: &str, plan: &Plan, outcomes: &[Outcome<'_>], targets: &[Target]) -> Value {
    let cases: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let c = o.case;
            let floor = c.floor.as_deref().and_then(|f| value(outcomes, f));
            let mut v = json!({
                "id": c.id,
                "group": c.group.name(),
                "metric": c.metric.name(),
                "unit": if c.metric.higher_is_better() { "bytes/s" } else { "ns" },
                "payload_bytes": c.payload,
                "transport": c.transport,
                "capacity": c.capacity,
                "param": c.param,
                "note": c.note,
                "floor": c.floor,
                "seconds": o.seconds,
            });
            match &o.result {
                Ok(m) => {
                    v["ok"] = json!(true);
                    v["verified"] = json!(true);
                    v["value"] = json!(m.value);
                    v["items_per_s"] = json!(m.items_per_s);
                    v["mean_ns"] = json!(m.mean);
                    v["p50_ns"] = json!(m.p50);
                    v["p99_ns"] = json!(m.p99);
                    v["p999_ns"] = json!(m.p999);
                    v["runs"] = json!(m.runs);
                    v["count_per_run"] = json!(m.count);
                    v["vs_floor"] = json!(floor.map(|f| m.value / f));
                }
                Err(f) => {
                    v["ok"] = json!(false);
                    v["verified"] = json!(!f.verification);
                    v["error"] = json!(f.message);
                }
            }
            v
        })
        .collect();
    let targets: Vec<Value> = targets
        .iter()
        .map(|t| json!({"target": t.name, "ratio": t.ratio(), "per_round": t.ratios, "limit": t.limit, "at_most": t.at_most, "verdict": t.verdict(), "how": t.detail}))
        .collect();
    let pending: Vec<Value> = PENDING.iter().map(|(ids, why)| json!({"cases": ids, "why": why})).collect();
    json!({
        "machine": machine.json(load_end),
        "plan": {"smoke": plan.smoke, "runs": plan.runs, "pass_seconds": plan.pass_time.as_secs_f64(), "poll_gap_ns": plan.poll_gap.json_ns()},
        "cases": cases,
        "targets": targets,
        "pending": pending,
    })
}
