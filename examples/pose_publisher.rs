//! Publishes a robot pose at a fixed rate through shared memory; the pose
//! printer (`examples/pose_printer.rs`) prints what it reads.
//!
//! Run both with one command (the publisher starts the printer):
//!
//! ```text
//! cargo run --example pose_publisher
//! ```
//!
//! Or by hand in two terminals: `cargo run --example pose_publisher --
//! --no-spawn` prints the handle; pass it to
//! `cargo run --example pose_printer -- '<handle>'`.
//!
//! Options: `--rate <Hz>` (default 100) and `--count <samples>` (default
//! 200).

#[path = "common/pose.rs"]
mod pose;

use pose::Pose;
use shm_runtime::SharedObject;
use std::error::Error;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

const HELP: &str = "\
usage: pose_publisher [--rate <Hz>] [--count <samples>] [--no-spawn]

Publishes a robot pose (a #[derive(SharedState)] struct) at a fixed rate
through shared memory; pose_printer (examples/pose_printer.rs) prints what
it reads and checks that every sample is whole.

Both sides with one command (the publisher starts the printer):
  cargo run --example pose_publisher
By hand, in two terminals (the publisher prints the handle):
  cargo run --example pose_publisher -- --no-spawn
  cargo run --example pose_printer -- '<handle>'

Options:
  --rate <Hz>          samples per second (default 100)
  --count <samples>    samples to publish (default 200)
  --no-spawn           do not start the printer
  -h, --help           print this help
";

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pose_publisher: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The value after `flag` in the arguments, parsed, or `default`.
fn option(flag: &str, default: u64) -> Result<u64, Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => {
            let value = args.get(i + 1).ok_or_else(|| format!("{flag} needs a value"))?;
            Ok(value.parse().map_err(|e| format!("{flag} {value:?}: {e}"))?)
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let rate = option("--rate", 100)?.max(1);
    let count = option("--count", 200)?.max(1);
    let spawn = !std::env::args().any(|a| a == "--no-spawn");

    // Sample 0 until the first tick, so a reader never sees a non-sample.
    let pose = Pose::create_sharedobject(&Pose::sample(0, 0))?;
    println!("publisher: {count} samples at {rate} Hz, handle {}", pose.handle());
    let mut printer = if spawn { Some(start_printer(&pose, count)?) } else { None };

    let start = Instant::now();
    let period = Duration::from_secs(1) / u32::try_from(rate)?;
    for seq in 1..=count {
        let stamp = u64::try_from(start.elapsed().as_nanos())?;
        pose.write(&Pose::sample(seq, stamp))?;
        // Sleep until the next tick (not a fixed pause): the rate holds
        // whatever the write costs.
        let next = period * u32::try_from(seq)?;
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    println!("publisher: published {count} samples in {:.2?}", start.elapsed());
    if let Some(child) = printer.as_mut() {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("printer failed: {status}").into());
        }
    } else {
        // Give a printer started by hand time to read the last sample.
        std::thread::sleep(Duration::from_secs(1));
    }
    pose.cleanup()?;
    Ok(())
}

/// Starts the printer example with the handle in `SHM_HANDLE`.
fn start_printer(pose: &shm_runtime::Shared<Pose>, count: u64) -> Result<Child, Box<dyn Error>> {
    let sibling = std::env::current_exe()?.with_file_name("pose_printer");
    let mut command = if sibling.exists() {
        Command::new(sibling)
    } else {
        let cargo = std::env::var_os("CARGO").ok_or("build the printer first: cargo build --example pose_printer")?;
        let mut command = Command::new(cargo);
        command.args(["run", "--quiet", "--example", "pose_printer", "--"]);
        command
    };
    command.args(["--until", &count.to_string()]);
    Ok(pose.handle().pass_to(&mut command).spawn()?)
}
