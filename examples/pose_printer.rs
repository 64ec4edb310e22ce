//! Prints the robot pose that `examples/pose_publisher.rs` publishes,
//! checking that every sample it reads is whole.
//!
//! `cargo run --example pose_publisher` starts this program itself. By
//! hand, pass the handle the publisher prints:
//!
//! ```text
//! cargo run --example pose_printer -- '<handle>' [--until <seq>]
//! ```
//!
//! Without a handle argument it reads `SHM_HANDLE`. It prints every tenth
//! sample and stops after sample `--until` (without it: on Ctrl-C, or after
//! ten minutes).

#[path = "common/pose.rs"]
mod pose;

use pose::Pose;
use shm_runtime::Handle;
use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const HELP: &str = "\
usage: pose_printer [<handle>] [--until <seq>]

Prints the robot pose that pose_publisher (examples/pose_publisher.rs)
publishes, every tenth sample, and checks that every sample it reads is
whole. Without <handle>, the handle is read from SHM_HANDLE.

Both sides with one command (the publisher starts the printer):
  cargo run --example pose_publisher
By hand, in two terminals (the publisher prints the handle):
  cargo run --example pose_publisher -- --no-spawn
  cargo run --example pose_printer -- '<handle>'

Options:
  --until <seq>   stop after sample <seq> (without it: on Ctrl-C, or after ten minutes)
  -h, --help      print this help
";

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pose_printer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let until = match args.iter().position(|a| a == "--until") {
        Some(i) => Some(args.get(i + 1).ok_or("--until needs a value")?.parse::<u64>()?),
        None => None,
    };
    let handle: Handle = match args.first().filter(|a| !a.starts_with("--")) {
        Some(text) => text.parse()?,
        None => Handle::from_env()?,
    };
    let pose = Pose::load_sharedobject(&handle)?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut reads = 0u64;
    let mut last_printed = 0;
    loop {
        let sample = pose.read();
        reads += 1;
        if !sample.is_whole() {
            return Err(format!("read a torn sample: {sample:?}").into());
        }
        if sample.seq != last_printed && (sample.seq % 10 == 0 || Some(sample.seq) == until) {
            let [x, y, _] = sample.position;
            println!(
                "printer: #{:<4} t={:>7.3}s x={x:+.3} y={y:+.3} moving={}",
                sample.seq,
                Duration::from_nanos(sample.stamp_ns).as_secs_f64(),
                sample.moving.get()
            );
            last_printed = sample.seq;
        }
        if until.is_some_and(|u| sample.seq >= u) {
            println!("printer: read {reads} whole samples, last #{}", sample.seq);
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("no final sample within 10 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
