//! Reads the sensor samples `examples/broadcast_publisher.rs` streams
//! through a shared-memory broadcast until the publisher closes its end,
//! checking every one: checksums intact, sequence numbers in order, and
//! under the overwrite policy, samples received plus samples reported
//! missed (`RecvError::Lagged`) equal to the samples published. Exits
//! non-zero on the first bad sample, if the publisher died, or if the
//! count is not the one expected.
//!
//! `cargo run --release --example broadcast_publisher -- 1000000` starts
//! three of these itself. By hand, pass the handle the publisher prints:
//!
//! ```text
//! cargo run --release --example broadcast_publisher -- 1000000 --no-spawn
//! cargo run --release --example broadcast_subscriber -- '<handle>' --expect 1000000 [--slow]
//! ```
//!
//! Without a handle argument it reads `SHM_HANDLE`; without `--expect` it
//! accepts any count. `--slow` sleeps 50 µs every 16 samples.

#[path = "common/sample.rs"]
mod sample;

use sample::Sample;
use shm_runtime::{Handle, RecvError, SharedObject, Subscriber};
use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: broadcast_subscriber [<handle>] [--expect <count>] [--slow] [--label <text>]; without <handle>, \
     SHM_HANDLE is read";

const HELP: &str = "\
Reads the sensor samples the publisher (examples/broadcast_publisher.rs)
streams through a shared-memory broadcast until the publisher closes its
end, checking every one (checksums, order, and samples received plus
samples missed equal to samples published). Exits non-zero on the first
bad sample, if the publisher died, or if the count is not the one expected.

The publisher starts three of these:
  cargo run --release --example broadcast_publisher -- 1000000
By hand (the publisher prints this command):
  cargo run --release --example broadcast_publisher -- 1000000 --no-spawn
  cargo run --release --example broadcast_subscriber -- '<handle>' --expect 1000000

Options:
  <handle>           the publisher's handle (default: $SHM_HANDLE)
  --expect <count>   fail unless exactly this many samples were published
  --slow             sleep 50 µs every 16 samples (a slow subscriber)
  --label <text>     name this subscriber in its report
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
            eprintln!("broadcast_subscriber: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the command line asks for.
struct Options {
    handle: Handle,
    expect: Option<u64>,
    slow: bool,
    label: String,
}

fn options() -> Result<Options, String> {
    let (mut handle, mut expect, mut slow, mut label) = (None, None, false, String::from("?"));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--slow" => slow = true,
            "--expect" => {
                let value = args.next().ok_or_else(|| format!("--expect needs a value ({USAGE})"))?;
                let count = value.replace('_', "").parse::<u64>();
                expect = Some(count.map_err(|_| format!("--expect {value:?} is not a number ({USAGE})"))?);
            }
            "--label" => label = args.next().ok_or_else(|| format!("--label needs a value ({USAGE})"))?,
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg:?} ({USAGE})")),
            _ => handle = Some(arg),
        }
    }
    let handle = match handle {
        Some(text) => text.parse().map_err(|e| format!("{e} ({USAGE})"))?,
        None => Handle::from_env().map_err(|e| format!("{e} ({USAGE})"))?,
    };
    Ok(Options { handle, expect, slow, label })
}

fn run() -> Result<(), Box<dyn Error>> {
    let Options { handle, expect, slow, label } = options()?;
    let mut rx = Subscriber::<Sample>::load_sharedobject(&handle)?;
    let (mut received, mut missed) = (0u64, 0u64);
    for item in &mut rx {
        match item {
            Ok(sample) => {
                if !sample.is_intact() {
                    return Err(format!("sample {} is not intact: {sample:?}", sample.seq).into());
                }
                // Items are numbered from 0 and this subscriber joined
                // before the first: each is the one after those received
                // and those missed.
                if sample.seq != received + missed {
                    return Err(format!("sample {} came where {} was due", sample.seq, received + missed).into());
                }
                received += 1;
                if slow && received % 16 == 0 {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            Err(RecvError::Lagged(n)) => missed += n,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(expect) = expect
        && received + missed != expect
    {
        return Err(format!("{received} received and {missed} missed, but {expect} were published").into());
    }
    println!(
        "broadcast_subscriber {label}: received {received} samples, missed {missed} (overwritten), in order and intact"
    );
    Ok(())
}
