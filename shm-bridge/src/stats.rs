//! A stream's counters: kept by the stream's thread, printed once a
//! second as a live line on stderr, and published in a small value
//! object next to the bridged one, so that `shm ls` and `shm watch` show
//! the bridge's rates.

use shm_runtime::{CreateError, Shared, SharedObject, SharedState};
use std::time::{Duration, Instant};

/// The last segment of the type name `shm ls` recognizes a bridge's
/// counters by (the derive records the path,
/// `shm_bridge::stats::BridgeStats`).
pub const TYPE_NAME: &str = "BridgeStats";

/// A stream's counters, as published in its stats object (a
/// `Shared<BridgeStats>` named by [`stats_name`]).
#[derive(SharedState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BridgeStats {
    /// Items (or values) carried.
    pub messages: u64,
    /// Payload bytes carried.
    pub bytes: u64,
    /// Items dropped: a full local ring in drop mode.
    pub drops: u64,
    /// Gaps seen in the source's positions: each a run of items that
    /// never arrived (a bridge restarted, or drop mode).
    pub gaps: u64,
    /// Items lost in those gaps, counted in source slots.
    pub lost: u64,
    /// Samples refused: not a bridge's, a foreign fingerprint, a repeated
    /// position.
    pub garbage: u64,
    /// Items per second over the last second.
    pub messages_per_s: u64,
    /// Payload bytes per second over the last second.
    pub bytes_per_s: u64,
    /// (`in`) The source segment's nonce of the last item written.
    pub last_nonce: u64,
    /// (`in`) The source's read position after the last item written: a
    /// restarted receiver reports a gap from here.
    pub last_end: u64,
    /// 1 for `out`, 2 for `in`.
    pub direction: u64,
}

/// The name of the stats object of `object` for a direction: `out` and
/// `in` bridges of one object on one host do not collide.
pub fn stats_name(object: &str, direction: &str) -> String {
    format!("{object}.bridge-{direction}")
}

/// The counters of one stream and their stats object.
pub struct Stats {
    /// What is counted.
    pub now: BridgeStats,
    object: Shared<BridgeStats>,
    label: String,
    quiet: bool,
    at: Instant,
    last: BridgeStats,
}

impl Stats {
    /// Creates the stats object `name`, carrying over what a dead
    /// predecessor's object held (its totals and last position), and
    /// returns it with the predecessor's counters.
    pub fn create(
        name: &str,
        label: String,
        quiet: bool,
        direction: u64,
    ) -> Result<(Self, Option<BridgeStats>), String> {
        // A predecessor killed mid-stream left its object behind (stale):
        // read it before taking the name over.
        let previous = Shared::<BridgeStats>::open_with(name, &shm_runtime::OpenOptions::new().wait(Duration::ZERO))
            .ok()
            .map(|old| old.read());
        let mut now = previous.unwrap_or_default();
        now.messages_per_s = 0;
        now.bytes_per_s = 0;
        now.direction = direction;
        let object = Shared::create_named(name, &now).map_err(|e| match e {
            CreateError::AlreadyExists { .. } => {
                format!("another live bridge already carries this object ({name} exists): {e}")
            }
            e => e.to_string(),
        })?;
        let stats = Self { now, object, label, quiet, at: Instant::now(), last: now };
        Ok((stats, previous))
    }

    /// Writes the stats object and prints the live line when a second has
    /// passed since the last time.
    pub fn tick(&mut self) {
        let elapsed = self.at.elapsed();
        if elapsed < Duration::from_secs(1) {
            return;
        }
        let per_s = |now: u64, then: u64| {
            let d = now.wrapping_sub(then);
            // Whole units per second; the elapsed time is a second or a
            // little more.
            u64::try_from(u128::from(d) * 1000 / elapsed.as_millis().max(1)).unwrap_or(u64::MAX)
        };
        self.now.messages_per_s = per_s(self.now.messages, self.last.messages);
        self.now.bytes_per_s = per_s(self.now.bytes, self.last.bytes);
        self.publish();
        if !self.quiet {
            eprintln!("{}", self.line());
        }
        self.last = self.now;
        self.at = Instant::now();
    }

    /// Writes the counters into the stats object now.
    pub fn publish(&self) {
        // A `Shared<T>` write fails only if a writer holds its lock for
        // too long; this process is the object's only writer.
        let _ = self.object.write(&self.now);
    }

    /// The live line: `label: N msg/s, B/s, drops, gaps`.
    pub fn line(&self) -> String {
        let s = &self.now;
        format!(
            "{}: {} msg/s, {}/s, {} msgs total, {} drops, {} gaps ({} lost), {} garbage",
            self.label,
            s.messages_per_s,
            human_bytes(s.bytes_per_s),
            s.messages,
            s.drops,
            s.gaps,
            s.lost,
            s.garbage
        )
    }
}

/// `1.5 MB`, `820 B`.
pub fn human_bytes(n: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "a rate shown with one decimal")]
    let f = n as f64;
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", f / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", f / 1e6),
        _ => format!("{:.1} GB", f / 1e9),
    }
}
