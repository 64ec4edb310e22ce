//! The message both ring examples share: one reading of a 12-channel
//! sensor, as a driver would stream it to a logger or a controller.

use shm_runtime::SharedState;

/// One sensor reading, 72 bytes. `#[repr(C)]` with no padding: the derive
/// checks both.
#[derive(SharedState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub struct Sample {
    /// Sample number, from 0, one more for every sample sent.
    pub seq: u64,
    /// Time of the reading, nanoseconds since the producer started
    /// streaming; never goes backwards.
    pub timestamp_ns: u64,
    /// The channels (say accelerometer, gyroscope and magnetometer x/y/z,
    /// then temperature, pressure and humidity), each in `-1.0..1.0`.
    pub values: [f32; 12],
    /// [`Sample::checksum_of`] the fields above: a torn or garbled copy
    /// fails [`Sample::is_intact`].
    pub checksum: u64,
}

impl Sample {
    /// The reading the producer sends as number `seq`, checksum included.
    #[must_use]
    #[allow(dead_code, reason = "the producer uses it; the consumer shares this file")]
    pub fn new(seq: u64, timestamp_ns: u64) -> Self {
        let mut values = [0.0; 12];
        for (channel, value) in (1..).zip(&mut values) {
            // A different sawtooth per channel: cheap, and every value
            // depends on `seq`.
            #[expect(clippy::cast_precision_loss, reason = "below 2000: exact in an f32")]
            let step = (seq.wrapping_mul(channel) % 2000) as f32;
            *value = step / 1000.0 - 1.0;
        }
        let mut sample = Self { seq, timestamp_ns, values, checksum: 0 };
        sample.checksum = sample.checksum_of();
        sample
    }

    /// A 64-bit hash of every field but `checksum`. Each step (xor,
    /// multiply by an odd constant, rotate) is a bijection, so changing
    /// any one word always changes the result.
    #[must_use]
    pub fn checksum_of(&self) -> u64 {
        let mut hash: u64 = 0x6a09_e667_f3bc_c908;
        let mut mix = |word: u64| hash = (hash ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
        mix(self.seq);
        mix(self.timestamp_ns);
        for pair in self.values.chunks_exact(2) {
            mix(u64::from(pair[0].to_bits()) | (u64::from(pair[1].to_bits()) << 32));
        }
        hash
    }

    /// Whether `checksum` matches the other fields.
    #[must_use]
    #[allow(dead_code, reason = "the consumer uses it; the producer shares this file")]
    pub fn is_intact(&self) -> bool {
        self.checksum == self.checksum_of()
    }
}
