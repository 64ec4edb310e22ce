//! Streams sensor samples (`examples/common/sample.rs`, 72 bytes each)
//! through a shared-memory ring (`MemoryInterface`) to the consumer
//! (`examples/consumer.rs`), which checks every one, and prints the rate.
//!
//! Run both sides with one command (the producer starts the consumer),
//! here for a million samples:
//!
//! ```text
//! cargo run --release --example producer -- 1000000
//! ```
//!
//! The producer starts the consumer with `cargo run --example consumer`
//! when it runs under cargo (so the consumer is built fresh, in the same
//! profile), otherwise the built binary next to its own, passing the
//! handle in `SHM_HANDLE` and the count as `--expect <count>`. It times
//! from the moment the consumer has attached until the consumer has read
//! the last sample, then prints messages/s, MB/s (10^6 bytes) and how many
//! writes found the ring full and had to wait.
//!
//! To run the consumer by hand instead, in a second terminal, start the
//! producer with `--no-spawn`; it prints the consumer's command line:
//!
//! ```text
//! cargo run --release --example producer -- 1000000 --no-spawn
//! cargo run --release --example consumer -- '<handle>' --expect 1000000
//! ```
//!
//! Options: `[<count>]` (default 1000000; `_` separators allowed),
//! `--capacity <slots>` (default 1024), `--no-spawn`.

#[path = "common/sample.rs"]
mod sample;

use sample::Sample;
use shm_runtime::{Handle, MemoryInterface, Ring, SharedObject, TryWriteError};
use std::error::Error;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: producer [<count>] [--capacity <slots>] [--no-spawn]";

const HELP: &str = "\
Streams 72-byte sensor samples through a shared-memory ring
(MemoryInterface) to the consumer (examples/consumer.rs), which checks
every one, and prints messages/s, MB/s and how often the ring was full.

Both sides with one command (the producer starts the consumer):
  cargo run --release --example producer -- 1000000
By hand, in two terminals (the producer prints the consumer's command):
  cargo run --release --example producer -- 1000000 --no-spawn
  cargo run --release --example consumer -- '<handle>' --expect 1000000

Options:
  <count>              samples to send (default 1000000; `_` separators allowed)
  --capacity <slots>   slots in the ring (default 1024)
  --no-spawn           do not start the consumer; wait up to 5 minutes for one
  -h, --help           print this help
";

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}\n\n{HELP}");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("producer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the command line asks for.
struct Options {
    count: u64,
    capacity: usize,
    spawn: bool,
}

/// Parses a count like `1000000` or `1_000_000`.
fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.replace('_', "").parse().map_err(|_| format!("{what} {text:?} is not a number ({USAGE})"))
}

fn options() -> Result<Options, String> {
    let mut options = Options { count: 1_000_000, capacity: 1024, spawn: true };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-spawn" => options.spawn = false,
            "--capacity" => {
                let value = args.next().ok_or_else(|| format!("--capacity needs a value ({USAGE})"))?;
                options.capacity = number(&value, "--capacity")?;
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg:?} ({USAGE})")),
            _ => options.count = number(&arg, "the count")?,
        }
    }
    Ok(options)
}

fn run() -> Result<(), Box<dyn Error>> {
    let Options { count, capacity, spawn } = options()?;
    let mut ring = MemoryInterface::<Sample>::create_memorybuf(capacity)?;
    let handle = ring.handle();
    println!(
        "producer: {count} samples of {} bytes through a ring of {capacity} slots, handle {handle}",
        size_of::<Sample>()
    );
    let mut consumer = if spawn {
        Some(start_consumer(&handle, count)?)
    } else {
        println!("producer: waiting for: cargo run --release --example consumer -- '{handle}' --expect {count}");
        None
    };
    let streamed = stream(&mut ring, count, consumer.as_mut());
    // Lets go of the producer side (the consumer reads everything left,
    // then gets `RingError::Closed`) and removes the segment's name.
    let cleaned = ring.cleanup();
    let status = consumer.map(|mut child| child.wait()).transpose()?;
    // The consumer's own error (on its stderr) says why it failed.
    let failed = status.filter(|s| !s.success()).map(|s| format!("the consumer failed: {s}"));
    let report = streamed.map_err(|e| match &failed {
        Some(failed) => format!("{e} ({failed})").into(),
        None => e,
    })?;
    cleaned?;
    if let Some(failed) = failed {
        return Err(failed.into());
    }
    println!("producer: {report}");
    Ok(())
}

/// What one run measured.
struct Report {
    count: u64,
    elapsed: Duration,
    full: u64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[expect(clippy::cast_precision_loss, reason = "rates for a person to read")]
        let (messages, sample_bytes) = (self.count as f64, size_of::<Sample>() as f64);
        let bytes = messages * sample_bytes;
        let seconds = self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        write!(
            f,
            "sent {} samples ({:.1} MB) in {:.1?}: {:.2} M messages/s, {:.0} MB/s; the ring was full {} times",
            self.count,
            bytes / 1e6,
            self.elapsed,
            messages / seconds / 1e6,
            bytes / seconds / 1e6,
            self.full
        )
    }
}

/// Waits for the consumer to attach, writes `count` samples, and waits
/// until it has read them all.
fn stream(
    ring: &mut MemoryInterface<Sample>,
    count: u64,
    mut consumer: Option<&mut Child>,
) -> Result<Report, Box<dyn Error>> {
    // Generous when spawned: `cargo run` may have to build the consumer.
    let patience = Duration::from_secs(if consumer.is_some() { 120 } else { 300 });
    let deadline = Instant::now() + patience;
    while ring.peer_alive().is_none() {
        if let Some(child) = consumer.as_deref_mut()
            && let Some(status) = child.try_wait()?
        {
            return Err(format!("the consumer exited ({status}) before attaching").into());
        }
        if Instant::now() > deadline {
            return Err(format!("no consumer attached within {patience:?}").into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    let start = Instant::now();
    let mut full = 0;
    for seq in 0..count {
        let timestamp_ns = u64::try_from(start.elapsed().as_nanos())?;
        match ring.write(&Sample::new(seq, timestamp_ns)) {
            Ok(()) => {}
            // No free slot: count it, then wait for one (or for the
            // consumer to die or leave, which is an error).
            Err(TryWriteError::Full(sample)) => {
                full += 1;
                ring.write_blocking(&sample)?;
            }
            // The consumer left or died: `?` says which.
            Err(gone) => return Err(gone.into()),
        }
    }
    // The last samples may still be in the ring: the run ends when the
    // consumer has read them.
    while !ring.is_empty() {
        if ring.peer_alive() != Some(true) {
            return Err(format!("the consumer left with {} samples unread", ring.len()).into());
        }
        std::thread::yield_now();
    }
    Ok(Report { count, elapsed: start.elapsed(), full })
}

/// Starts the consumer example with the handle in `SHM_HANDLE`.
fn start_consumer(handle: &Handle, count: u64) -> Result<Child, Box<dyn Error>> {
    // Under cargo, `cargo run` rebuilds the consumer if its source changed
    // (a binary left next to ours may be stale); elsewhere, use that binary.
    let mut command = if let Some(cargo) = std::env::var_os("CARGO") {
        let mut command = Command::new(cargo);
        command.args(["run", "--quiet", "--example", "consumer"]);
        if !cfg!(debug_assertions) {
            command.arg("--release");
        }
        command.arg("--");
        command
    } else {
        let sibling = std::env::current_exe()?.with_file_name("consumer");
        if !sibling.exists() {
            return Err("build the consumer first: cargo build --release --example consumer".into());
        }
        Command::new(sibling)
    };
    command.args(["--expect", &count.to_string()]);
    Ok(handle.pass_to(&mut command).spawn()?)
}
