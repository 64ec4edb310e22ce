//! Reads the sensor samples `examples/producer.rs` streams through a
//! shared-memory ring until the producer closes its end, checking every
//! one: sequence numbers in order with none missing, timestamps never
//! going backwards, checksums intact. Exits non-zero on the first bad
//! sample, if the producer died, or if the count is not the one expected.
//!
//! `cargo run --release --example producer -- 1000000` starts this program
//! itself. By hand, pass the handle the producer prints and the count:
//!
//! ```text
//! cargo run --release --example producer -- 1000000 --no-spawn
//! cargo run --release --example consumer -- '<handle>' --expect 1000000
//! ```
//!
//! Without a handle argument it reads `SHM_HANDLE`; without `--expect` it
//! accepts any count.

#[path = "common/sample.rs"]
mod sample;

use sample::Sample;
use shm_runtime::{Consumer, Handle, MemoryInterface, RingError};
use std::error::Error;
use std::process::ExitCode;

const USAGE: &str = "usage: consumer [<handle>] [--expect <count>]; without <handle>, SHM_HANDLE is read";

const HELP: &str = "\
Reads the sensor samples the producer (examples/producer.rs) streams
through a shared-memory ring until the producer closes its end, checking
every one (order, timestamps, checksums). Exits non-zero on the first bad
sample, if the producer died, or if the count is not the one expected.

Both sides with one command (the producer starts the consumer):
  cargo run --release --example producer -- 1000000
By hand, in two terminals (the producer prints this command):
  cargo run --release --example producer -- 1000000 --no-spawn
  cargo run --release --example consumer -- '<handle>' --expect 1000000

Options:
  --expect <count>   fail unless exactly <count> samples arrive (default: any count)
  -h, --help         print this help
";

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}\n\n{HELP}");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("consumer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut handle_text = None;
    let mut expect = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--expect" => {
                let value = args.next().ok_or_else(|| format!("--expect needs a value ({USAGE})"))?;
                let count = value.replace('_', "").parse::<u64>();
                expect = Some(count.map_err(|_| format!("--expect {value:?} is not a number ({USAGE})"))?);
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg:?} ({USAGE})").into()),
            _ if handle_text.is_none() => handle_text = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?} ({USAGE})").into()),
        }
    }
    let handle: Handle = match handle_text {
        Some(text) => text.parse().map_err(|e| format!("{e} ({USAGE})"))?,
        None => Handle::from_env().map_err(|e| format!("{e} ({USAGE})"))?,
    };

    let mut ring = MemoryInterface::<Sample, Consumer>::load_memorybuf(&handle)?;
    let mut check = Check::default();
    let mut batch = vec![Sample::default(); 256];
    let mut waits = 0u64;
    loop {
        // Take whatever is there in one go; when nothing is, wait for the
        // next sample, or learn that the producer is done.
        let n = ring.read_into(&mut batch);
        if n > 0 {
            batch[..n].iter().try_for_each(|sample| check.sample(sample))?;
            continue;
        }
        waits += 1;
        match ring.read_blocking() {
            Ok(sample) => check.sample(&sample)?,
            Err(RingError::Closed { .. }) => break,
            Err(e) => return Err(format!("after {} good samples: {e}", check.count).into()),
        }
    }
    let count = check.count;
    println!("consumer: received {count} samples, in order and intact; found the ring empty {waits} times");
    match expect {
        Some(expected) if expected != count => Err(format!("expected {expected} samples, received {count}").into()),
        _ => Ok(()),
    }
}

/// What the samples so far promise about the next one.
#[derive(Default)]
struct Check {
    /// Samples checked so far: the `seq` the next one must carry.
    count: u64,
    /// The last sample's timestamp.
    timestamp_ns: u64,
}

impl Check {
    fn sample(&mut self, sample: &Sample) -> Result<(), String> {
        if !sample.is_intact() {
            return Err(format!("sample #{} has a bad checksum: {sample:?}", self.count));
        }
        if sample.seq != self.count {
            return Err(format!("expected sample #{}, received #{}", self.count, sample.seq));
        }
        if sample.timestamp_ns < self.timestamp_ns {
            return Err(format!("sample #{} is older than the one before it", sample.seq));
        }
        self.count += 1;
        self.timestamp_ns = sample.timestamp_ns;
        Ok(())
    }
}
