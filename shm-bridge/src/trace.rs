//! A latency trace for `shm-bridge-bench`, off unless the environment
//! variable `SHM_BRIDGE_TRACE` names a directory (the bench passes it on
//! to the processes it starts).
//!
//! Each process records the stages of an item's way through it, the item
//! known by its first 8 bytes (the bench's message number), with a
//! `CLOCK_MONOTONIC` time, which is comparable across the processes of
//! one machine, and [`dump`] appends them to `<dir>/<pid>.trace`, one
//! `stage number nanoseconds` line each. `tools/latency-trace.py` puts
//! the files together into the time each stage took. Off, a stage costs
//! a look at a flag set once; on, a lock and a push into a buffer
//! reserved at the start (no system call, no allocation).

use std::sync::{Mutex, OnceLock};

/// The bench wrote a ping into the first ring.
pub const BENCH_WRITE: u8 = 0;
/// `out` took the item from its ring (after waking, if it slept).
pub const OUT_TOOK: u8 = 1;
/// `out` calls Zenoh's put.
pub const OUT_PUT: u8 = 2;
/// `out`'s put returned.
pub const OUT_PUT_RETURNED: u8 = 3;
/// `in`'s subscriber callback started.
pub const IN_CALLBACK: u8 = 4;
/// `in` wrote the item into its ring.
pub const IN_WRITTEN: u8 = 5;
/// The bench's ring echo took the item.
pub const ECHO_READ: u8 = 6;
/// The bench read the pong from the last ring.
pub const BENCH_READ: u8 = 9;
/// Raw Zenoh: the bench puts a ping.
pub const RAW_PUT: u8 = 10;
/// Raw Zenoh: the echo received it.
pub const RAW_ECHO_RECEIVED: u8 = 11;
/// Raw Zenoh: the bench received the pong.
pub const RAW_RECEIVED: u8 = 13;

/// Room for this many records (reserved when tracing starts).
const CAPACITY: usize = 1 << 20;

struct Trace {
    dir: String,
    records: Mutex<Vec<(u8, u64, u64)>>,
}

fn trace() -> Option<&'static Trace> {
    static TRACE: OnceLock<Option<Trace>> = OnceLock::new();
    TRACE
        .get_or_init(|| {
            let dir = std::env::var("SHM_BRIDGE_TRACE").ok()?;
            Some(Trace { dir, records: Mutex::new(Vec::with_capacity(CAPACITY)) })
        })
        .as_ref()
}

/// Whether tracing is on.
pub fn on() -> bool {
    trace().is_some()
}

/// The number of the item whose bytes start with `item` (its first 8
/// bytes, little-endian), or `None` when tracing is off.
pub fn number(item: &[u8]) -> Option<u64> {
    trace()?;
    Some(item.get(..8).and_then(|b| b.try_into().ok()).map_or(u64::MAX, u64::from_le_bytes))
}

/// `CLOCK_MONOTONIC` now, in ns (read through the vDSO: no system call).
fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec that clock_gettime may write; the
    // clock id is one Linux always has.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs * 1_000_000_000 + nanos
}

/// Records `stage` for item `number` now (nothing for `None`: tracing
/// off). Records past the buffer's room are not kept.
pub fn mark(stage: u8, number: Option<u64>) {
    let (Some(t), Some(number)) = (trace(), number) else { return };
    let at = now_ns();
    if let Ok(mut records) = t.records.lock()
        && records.len() < CAPACITY
    {
        records.push((stage, number, at));
    }
}

/// Appends `line` to `<dir>/roles` (which process plays which part).
pub fn note(line: &str) {
    use std::io::Write;
    let Some(t) = trace() else { return };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(format!("{}/roles", t.dir)) {
        let _ = writeln!(f, "{line}");
    }
}

/// Appends the records so far to `<dir>/<pid>.trace` and forgets them.
pub fn dump() {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let Some(t) = trace() else { return };
    let Ok(mut records) = t.records.lock() else { return };
    let mut text = String::new();
    for (stage, number, at) in records.drain(..) {
        let _ = writeln!(text, "{stage} {number} {at}");
    }
    drop(records);
    let path = format!("{}/{}.trace", t.dir, std::process::id());
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(text.as_bytes());
    }
}
