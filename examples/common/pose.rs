//! The struct both pose examples share: a robot pose as a sensor would
//! publish it.

use shm_runtime::{Flag, SharedState};

/// One pose sample. `#[repr(C)]` with no padding: the derive checks both.
#[derive(SharedState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub struct Pose {
    /// Sample number, from 1.
    pub seq: u64,
    /// Time of the sample, nanoseconds since the publisher started.
    pub stamp_ns: u64,
    /// Position in metres.
    pub position: [f64; 3],
    /// Orientation as a unit quaternion (w, x, y, z).
    pub orientation: [f64; 4],
    /// Whether the robot is moving.
    pub moving: Flag,
    /// Explicit padding to a multiple of 8 bytes, so the struct has none.
    pub reserved: [u8; 7],
}

impl Pose {
    /// The sample the publisher sends as number `seq`: a slow circle whose
    /// every field follows from `seq`, so the reader can check that what it
    /// read is one whole sample.
    #[must_use]
    pub fn sample(seq: u64, stamp_ns: u64) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "sample numbers stay far below 2^52")]
        let angle = seq as f64 * 0.01;
        let (sin, cos) = (angle / 2.0).sin_cos();
        Self {
            seq,
            stamp_ns,
            position: [angle.cos(), angle.sin(), 0.0],
            orientation: [cos, 0.0, 0.0, sin],
            moving: Flag::new(!seq.is_multiple_of(100)),
            reserved: [0; 7],
        }
    }

    /// Whether this is exactly the sample `Pose::sample` makes for its
    /// `seq` (any stamp): a torn read would mix two samples and fail.
    #[must_use]
    #[allow(dead_code, reason = "the printer uses it; the publisher shares this file")]
    pub fn is_whole(&self) -> bool {
        *self == Self::sample(self.seq, self.stamp_ns)
    }
}
