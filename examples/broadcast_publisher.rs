//! Streams sensor samples (`examples/common/sample.rs`, 72 bytes each)
//! through a shared-memory broadcast (`Broadcast<T>`) to three subscriber
//! processes (`examples/broadcast_subscriber.rs`) at once, one of them
//! slow; each checks every sample it gets.
//!
//! Run everything with one command (the publisher starts the three
//! subscribers), once per policy:
//!
//! ```text
//! cargo run --release --example broadcast_publisher -- 1000000 --policy backpressure
//! cargo run --release --example broadcast_publisher -- 1000000 --policy overwrite
//! ```
//!
//! Under `backpressure` the publisher waits for the slow subscriber, and
//! every subscriber gets every sample. Under `overwrite` the publisher
//! never waits: the slow subscriber misses samples, learns how many
//! (`RecvError::Lagged`), and its count of samples received plus samples
//! missed is still the number published.
//!
//! To start subscribers by hand instead, pass `--no-spawn`; the publisher
//! prints their command line and waits for three.
//!
//! Options: `[<count>]` (default 1000000; `_` separators allowed),
//! `--policy backpressure|overwrite` (default backpressure),
//! `--capacity <slots>` (default 1024), `--no-spawn`.

#[path = "common/sample.rs"]
mod sample;

use sample::Sample;
use shm_runtime::{Broadcast, BroadcastConfig, Handle, Policy, SharedObject, TryWriteError};
use std::error::Error;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: broadcast_publisher [<count>] [--policy backpressure|overwrite] [--capacity <slots>] \
                     [--no-spawn]";

const HELP: &str = "\
Streams 72-byte sensor samples through a shared-memory broadcast to three
subscriber processes (examples/broadcast_subscriber.rs), one of them slow;
each checks every sample it gets.

Everything with one command (the publisher starts the subscribers):
  cargo run --release --example broadcast_publisher -- 1000000 --policy backpressure
  cargo run --release --example broadcast_publisher -- 1000000 --policy overwrite
By hand (the publisher prints the subscribers' command and waits for three):
  cargo run --release --example broadcast_publisher -- 1000000 --no-spawn

Options:
  <count>              samples to send (default 1000000; `_` separators allowed)
  --policy <policy>    backpressure (wait for the slowest subscriber; the
                       default) or overwrite (never wait; slow subscribers
                       miss samples and are told how many)
  --capacity <slots>   slots in the broadcast (default 1024)
  --no-spawn           do not start the subscribers; wait up to 5 minutes
  -h, --help           print this help
";

/// Subscribers the example runs.
const SUBSCRIBERS: usize = 3;

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}\n\n{HELP}");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("broadcast_publisher: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the command line asks for.
struct Options {
    count: u64,
    policy: Policy,
    capacity: usize,
    spawn: bool,
}

/// Parses a count like `1000000` or `1_000_000`.
fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.replace('_', "").parse().map_err(|_| format!("{what} {text:?} is not a number ({USAGE})"))
}

fn options() -> Result<Options, String> {
    let mut options = Options { count: 1_000_000, policy: Policy::Backpressure, capacity: 1024, spawn: true };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-spawn" => options.spawn = false,
            "--capacity" => {
                let value = args.next().ok_or_else(|| format!("--capacity needs a value ({USAGE})"))?;
                options.capacity = number(&value, "--capacity")?;
            }
            "--policy" => {
                options.policy = match args.next().as_deref() {
                    Some("backpressure") => Policy::Backpressure,
                    Some("overwrite") => Policy::Overwrite,
                    other => return Err(format!("--policy {other:?}: backpressure or overwrite ({USAGE})")),
                };
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg:?} ({USAGE})")),
            _ => options.count = number(&arg, "the count")?,
        }
    }
    Ok(options)
}

fn run() -> Result<(), Box<dyn Error>> {
    let Options { count, policy, capacity, spawn } = options()?;
    let config = BroadcastConfig::new(capacity, policy).max_subscribers(8);
    let mut tx = Broadcast::<Sample>::create(&config)?;
    let handle = tx.handle();
    println!(
        "broadcast_publisher: {count} samples of {} bytes, {policy:?}, {capacity} slots, handle {handle}",
        size_of::<Sample>()
    );
    let mut children = Vec::new();
    if spawn {
        for (i, slow) in [(1, false), (2, false), (3, true)] {
            children.push(start_subscriber(&handle, i, slow, count)?);
        }
    } else {
        println!(
            "broadcast_publisher: waiting for {SUBSCRIBERS} of: cargo run --release --example broadcast_subscriber \
             -- '{handle}' --expect {count} [--slow]"
        );
    }
    let streamed = stream(&mut tx, count, &mut children);
    // Lets go of the publisher's side: each subscriber reads what is left,
    // then gets `RecvError::Closed`; the last one out removes the name.
    drop(tx);
    let mut failed = None;
    for mut child in children {
        let status = child.wait()?;
        if !status.success() {
            failed = Some(format!("a subscriber failed: {status}"));
        }
    }
    let report = streamed?;
    if let Some(failed) = failed {
        return Err(failed.into());
    }
    println!("broadcast_publisher: {report}");
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
        let messages = self.count as f64;
        let seconds = self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        write!(
            f,
            "published {} samples in {:.1?}: {:.2} M messages/s; waited for the slowest subscriber {} times",
            self.count,
            self.elapsed,
            messages / seconds / 1e6,
            self.full
        )
    }
}

/// Waits for the subscribers to join, then publishes `count` samples.
fn stream(tx: &mut Broadcast<Sample>, count: u64, children: &mut [Child]) -> Result<Report, Box<dyn Error>> {
    // Generous when spawned: `cargo run` may have to build the subscriber.
    let patience = Duration::from_secs(if children.is_empty() { 300 } else { 120 });
    let deadline = Instant::now() + patience;
    while tx.subscriber_lags().len() < SUBSCRIBERS {
        for child in children.iter_mut() {
            if let Some(status) = child.try_wait()? {
                return Err(format!("a subscriber exited ({status}) before joining").into());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{SUBSCRIBERS} subscribers did not join within {patience:?}").into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    let mut full = 0;
    for seq in 0..count {
        let timestamp_ns = u64::try_from(start.elapsed().as_nanos())?;
        if let Err(TryWriteError::Full(sample)) = tx.publish(&Sample::new(seq, timestamp_ns)) {
            // Backpressure: the slowest subscriber has not read the oldest
            // slot yet. Count it, then wait.
            full += 1;
            tx.publish_blocking(&sample)?;
        }
    }
    Ok(Report { count, elapsed: start.elapsed(), full })
}

/// Starts subscriber `i` with the handle in `SHM_HANDLE`.
fn start_subscriber(handle: &Handle, i: usize, slow: bool, count: u64) -> Result<Child, Box<dyn Error>> {
    // Under cargo, `cargo run` rebuilds the subscriber if its source
    // changed; elsewhere, use the binary next to ours.
    let mut command = if let Some(cargo) = std::env::var_os("CARGO") {
        let mut command = Command::new(cargo);
        command.args(["run", "--quiet", "--example", "broadcast_subscriber"]);
        if !cfg!(debug_assertions) {
            command.arg("--release");
        }
        command.arg("--");
        command
    } else {
        let sibling = std::env::current_exe()?.with_file_name("broadcast_subscriber");
        if !sibling.exists() {
            return Err("build the subscriber first: cargo build --release --example broadcast_subscriber".into());
        }
        Command::new(sibling)
    };
    command.args(["--expect", &count.to_string(), "--label", &i.to_string()]);
    if slow {
        command.arg("--slow");
    }
    Ok(handle.pass_to(&mut command).spawn()?)
}
