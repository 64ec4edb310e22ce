//! The creator side of the hello/answer pair, ported from the
//! `memory_interface` README: it writes "Hello" into a shared string,
//! starts the opener, and waits for the opener's answer "From afar":
//! asleep on the string's version (`wait_changed`), not re-reading it.
//!
//! Run both sides with one command:
//!
//! ```text
//! cargo run --example creator
//! ```
//!
//! The creator starts `examples/opener.rs` itself (the built binary next to
//! its own, or `cargo run --example opener`), passing the handle in the
//! `SHM_HANDLE` environment variable. To run the opener by hand instead, in
//! a second terminal, start the creator with `--no-spawn` and pass the
//! handle it prints:
//!
//! ```text
//! cargo run --example creator -- --no-spawn
//! cargo run --example opener -- '<handle>'
//! ```

use shm_runtime::{SharedObject, SharedString};
use std::error::Error;
use std::process::ExitCode;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const HELP: &str = "\
usage: creator [--no-spawn]

Writes \"Hello\" into a shared string, starts the opener (examples/opener.rs)
with the handle in SHM_HANDLE, and waits for its answer \"From afar\".

Both sides with one command:
  cargo run --example creator
By hand, in two terminals (the creator prints the handle):
  cargo run --example creator -- --no-spawn
  cargo run --example opener -- '<handle>'

Options:
  --no-spawn   do not start the opener; wait up to 5 minutes for one started by hand
  -h, --help   print this help
";

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("creator: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let spawn = !std::env::args().any(|a| a == "--no-spawn");
    let message = SharedString::create_sharedobject(64)?;
    message.write("Hello")?;
    println!("creator: wrote {:?}", message.read()?);
    println!("creator: handle {}", message.handle());

    // Every write advances the string's version; the answer is the first
    // write after ours.
    let mut since = message.version();
    let mut opener = if spawn { Some(start_opener(&message)?) } else { None };
    let deadline = Instant::now() + Duration::from_secs(if spawn { 120 } else { 300 });
    let answer = loop {
        // Sleeps on a futex in the segment until the opener writes (it
        // wakes at once then), or half a second passes: often enough to
        // notice an opener that died without answering.
        let left = deadline.saturating_duration_since(Instant::now());
        if let Some(version) = message.wait_changed(since, left.min(Duration::from_millis(500))) {
            since = version;
            let text = message.read()?;
            if text != "Hello" {
                break text;
            }
        }
        if let Some(child) = opener.as_mut()
            && let Some(status) = child.try_wait()?
        {
            // It may have answered just before it exited.
            let text = message.read()?;
            if text != "Hello" {
                break text;
            }
            return Err(format!("opener exited ({status}) without answering").into());
        }
        if left.is_zero() {
            return Err("no answer from the opener in time".into());
        }
    };
    println!("creator: got the answer {answer:?}");
    if let Some(mut child) = opener {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("opener failed: {status}").into());
        }
    }
    // Removes the segment; dropping `message` would too.
    message.cleanup()?;
    Ok(())
}

/// Starts the opener example with the handle in `SHM_HANDLE`.
fn start_opener(message: &SharedString) -> Result<Child, Box<dyn Error>> {
    let sibling = std::env::current_exe()?.with_file_name("opener");
    let mut command = if sibling.exists() {
        Command::new(sibling)
    } else {
        let cargo = std::env::var_os("CARGO").ok_or("build the opener first: cargo build --example opener")?;
        let mut command = Command::new(cargo);
        command.args(["run", "--quiet", "--example", "opener"]);
        command
    };
    Ok(message.handle().pass_to(&mut command).spawn()?)
}
