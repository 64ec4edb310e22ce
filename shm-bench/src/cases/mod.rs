//! The case list. Every case runs in two processes (the parent measures,
//! the child is the other side), except memcpy bandwidth; the parent and
//! the child find a case by its id in [`all`], so both sides share it.

mod asleep;
mod broadcast;
mod floor;
#[cfg(feature = "peers")]
mod peer;
mod segment;
mod shm;

use crate::Result;
use crate::link::{Rx, Tx, consume, echo, ping, produce};
use crate::measure::{self, Measure, Plan};
use crate::proc::{ChildGuard, Control, Stdio3, Watch, is_stop};
use shm_runtime::Handle;

/// Where a case belongs in the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Raw shared memory: what no library can beat.
    Floor,
    /// This project.
    Shm,
    /// Other IPC (feature `peers`).
    Peers,
    /// How shm's costs change with capacity and open segments.
    Scaling,
}

impl Group {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::Shm => "shm",
            Self::Peers => "peers",
            Self::Scaling => "scaling",
        }
    }
}

/// What a case's figure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Mean round trip, ns (lower is better).
    RoundTrip,
    /// One-way bytes per second (higher is better).
    Throughput,
    /// memcpy bytes per second (higher is better).
    Bandwidth,
    /// Mean time of one read, ns (lower is better).
    Read,
    /// Mean time to create one segment, ns (lower is better).
    Create,
    /// Mean time to open one segment, ns (lower is better).
    Open,
}

impl Metric {
    /// Whether a bigger figure is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Self::Throughput | Self::Bandwidth)
    }

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RoundTrip => "round trip",
            Self::Throughput => "throughput",
            Self::Bandwidth => "bandwidth",
            Self::Read => "read",
            Self::Create => "create",
            Self::Open => "open",
        }
    }
}

/// Parent side of a case.
pub type ParentFn = fn(&Ctx<'_>) -> Result<Measure>;
/// Child side of a case.
pub type ChildFn = fn(&ChildCtx<'_>) -> Result<()>;

/// One case.
pub struct Case {
    /// Unique id, `group/transport/metric/size`; `--case` matches parts of
    /// it.
    pub id: String,
    /// Report group.
    pub group: Group,
    /// What the figure is.
    pub metric: Metric,
    /// Bytes per item.
    pub payload: usize,
    /// The transport, as the comparison table and the plots name it.
    pub transport: &'static str,
    /// Id of the case this one is compared with as its floor.
    pub floor: Option<String>,
    /// Ring capacity in items (ring cases).
    pub capacity: usize,
    /// Case parameter: other segments open, or 1 for a busy writer.
    pub param: usize,
    /// How the case differs from the obvious reading of its name.
    pub note: &'static str,
    /// A stream whose consumer looks again at once at an empty transport
    /// (no poll gap, whatever `--poll-gap-ns` says): the `-eager` cases.
    pub eager: bool,
    /// The parent's side.
    pub parent: ParentFn,
    /// The child's side (`None`: the case runs in the parent alone).
    pub child: Option<ChildFn>,
}

impl Case {
    /// A case with id `group/slug/metric/size`, no floor, no parameters.
    pub fn new(
        group: Group,
        slug: &str,
        metric: Metric,
        payload: usize,
        transport: &'static str,
        parent: ParentFn,
    ) -> Self {
        Self {
            id: id(group, slug, metric, payload),
            group,
            metric,
            payload,
            transport,
            floor: None,
            capacity: 0,
            param: 0,
            note: "",
            eager: false,
            parent,
            child: None,
        }
    }

    /// With `child` as the child's side.
    #[must_use]
    pub fn child(mut self, child: ChildFn) -> Self {
        self.child = Some(child);
        self
    }

    /// Compared with the case `floor`.
    #[must_use]
    pub fn floor(mut self, floor: String) -> Self {
        self.floor = Some(floor);
        self
    }

    /// With a ring of `capacity` items.
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// With parameter `param`.
    #[must_use]
    pub fn param(mut self, param: usize) -> Self {
        self.param = param;
        self
    }

    /// A stream without a poll gap (see [`Case::eager`]).
    #[must_use]
    pub fn eager(mut self) -> Self {
        self.eager = true;
        self
    }

    /// With a note.
    #[must_use]
    pub fn note(mut self, note: &'static str) -> Self {
        self.note = note;
        self
    }
}

/// The hand ring a transport of `payload` bytes is measured against for
/// `metric`: for round trips the slot-sequence one (a new item and its
/// signal in one cache line: the faster round trip at 8 B, alike at 1 KiB
/// and 64 KiB; the report's targets take the faster of the two in each
/// round), for throughput the one with positions only (8 items a line at
/// 8 B, not 4). The floor is the best a ring does at each.
pub fn hand_floor(metric: Metric, payload: usize) -> String {
    let slug = if metric == Metric::RoundTrip { "hand-ring-seq" } else { "hand-ring" };
    id(Group::Floor, slug, metric, payload)
}

/// The id of a case: `group/slug/metric/size`.
pub fn id(group: Group, slug: &str, metric: Metric, payload: usize) -> String {
    let metric = match metric {
        Metric::RoundTrip => "rtt",
        Metric::Throughput => "thr",
        Metric::Bandwidth => "bw",
        Metric::Read => "read",
        Metric::Create => "create",
        Metric::Open => "open",
    };
    format!("{}/{slug}/{metric}/{}", group.name(), size_name(payload))
}

/// What a parent side gets.
pub struct Ctx<'a> {
    /// The case.
    pub case: &'a Case,
    /// How much to measure.
    pub plan: Plan,
    /// Whether to pin the parent to CPU 0 and the child to CPU 1.
    pub pin: bool,
}

impl Ctx<'_> {
    /// Starts the child of this case with `args` (key/value pairs).
    pub fn spawn(&self, ctl: &Control, args: &[String], stdio: Stdio3) -> Result<ChildGuard> {
        ChildGuard::spawn(&self.case.id, ctl, args, stdio, self.pin)
    }

    /// Ping-pong over `tx`/`rx` with the (ready) child: the latency figure.
    pub fn ping_pong<T: Tx, R: Rx>(
        &self,
        ctl: &Control,
        child: &mut ChildGuard,
        tx: &mut T,
        rx: &mut R,
    ) -> Result<Measure> {
        child.wait_ready(ctl)?;
        let mut watch = Watch::new(child.child().id(), ctl);
        let mut seq = 1;
        measure::latency(&self.plan, |n, hist| ping(tx, rx, &mut watch, &mut seq, n, hist))
    }

    /// One-way stream from the child into `rx`: the throughput figure.
    pub fn stream<R: Rx>(&self, ctl: &Control, child: &mut ChildGuard, rx: &mut R, batch: u64) -> Result<Measure> {
        child.wait_ready(ctl)?;
        let mut watch = Watch::new(child.child().id(), ctl);
        let mut seq = 1;
        let chunk = chunk_for(self.case.capacity.max(1));
        let gap = self.plan.poll_gap.for_stream(self.case.capacity, self.case.eager);
        measure::throughput(&self.plan, self.case.payload, chunk, |n, chunks| {
            consume(rx, ctl, &mut watch, &mut seq, n, batch, gap, chunks)
        })
    }
}

/// What a child side gets.
pub struct ChildCtx<'a> {
    /// The case.
    pub case: &'a Case,
    /// The control block shared with the parent.
    pub ctl: Control,
    /// Case arguments: key/value pairs.
    pub args: Vec<String>,
    /// The parent's pid.
    #[cfg_attr(not(feature = "peers"), expect(dead_code, reason = "only the iceoryx2 cases need it"))]
    pub parent: u32,
}

impl ChildCtx<'_> {
    /// The value after `key` in the case arguments.
    pub fn arg(&self, key: &str) -> Result<&str> {
        self.args
            .iter()
            .position(|a| a == key)
            .and_then(|i| self.args.get(i + 1))
            .map(String::as_str)
            .ok_or_else(|| format!("case argument {key} missing").into())
    }

    /// The handle after `key`.
    pub fn handle(&self, key: &str) -> Result<Handle> {
        Ok(self.arg(key)?.parse()?)
    }

    /// Says ready, then echoes until the parent stops.
    pub fn echo<T: Tx, R: Rx>(&self, tx: &mut T, rx: &mut R) -> Result<()> {
        self.ctl.ready();
        ended(echo(tx, rx, &self.ctl))
    }

    /// Says ready, then produces until the parent stops.
    pub fn produce<T: Tx>(&self, tx: &mut T, batch: u64) -> Result<()> {
        self.ctl.ready();
        ended(produce(tx, &self.ctl, batch))
    }
}

/// A child loop's result: the parent's stop is the normal end.
fn ended(result: Result<()>) -> Result<()> {
    match result {
        Err(e) if is_stop(&e) => Ok(()),
        other => other,
    }
}

/// Key/value arguments for a child.
pub fn args<const K: usize>(pairs: [(&str, String); K]) -> Vec<String> {
    pairs.into_iter().flat_map(|(k, v)| [k.to_owned(), v]).collect()
}

/// Ring capacity for items of `N` words: 1024 slots, at most 4 MiB of
/// slots (64 for 64 KiB items).
pub const fn capacity_for(n: usize) -> usize {
    let by_size = (4 << 20) / (n * 8);
    if by_size < 1024 { by_size } else { 1024 }
}

/// Items per timed chunk of a stream through a ring of `capacity` slots:
/// eight ringfuls (at least 1024 items), so that the items a ring buffers
/// while the consumer is descheduled, drained fast afterwards, are a small
/// part of a chunk.
pub const fn chunk_for(capacity: usize) -> u64 {
    let items = capacity * 8;
    (if items < 1024 { 1024 } else { items }) as u64
}

/// Items per batch in the batch cases.
pub const fn batch_for(n: usize) -> usize {
    let half = capacity_for(n) / 2;
    if half < 64 { half } else { 64 }
}

/// Human size: `8B`, `1KiB`, `64KiB`.
pub fn size_name(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) { format!("{}KiB", bytes / 1024) } else { format!("{bytes}B") }
}

/// Cases planned but not measured yet: what they wait for (none now).
pub const PENDING: &[(&str, &str)] = &[];

/// Every case, in report order.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    floor::cases(&mut cases);
    shm::cases(&mut cases);
    broadcast::cases(&mut cases);
    asleep::cases(&mut cases);
    #[cfg(feature = "peers")]
    peer::cases(&mut cases);
    shm::scaling(&mut cases);
    segment::cases(&mut cases);
    cases
}

/// The case with id `id`.
pub fn find(id: &str) -> Option<Case> {
    all().into_iter().find(|c| c.id == id)
}
