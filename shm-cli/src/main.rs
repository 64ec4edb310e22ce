//! `shm`: list, inspect, clean and watch the shared-memory segments that
//! shm (`shm-runtime`) makes in /dev/shm.
//!
//! ```text
//! shm ls [--all] [--json]
//! shm inspect <name-or-handle> [--json]
//! shm clean [--dry-run]
//! shm watch <name-or-handle> [--interval MS] [--count N]
//! ```
//!
//! Nothing here writes into a segment: values are read with the objects'
//! own readers or through `shm_runtime::tools::Peek`, which claims no ring role
//! and takes no lock. `clean` removes only segments whose creator is
//! proven dead (`shm_runtime::tools::clean_stale`). Every failure is one line on
//! standard error, `shm: error: ...`, and exit status 1 (2 for a command
//! line clap cannot parse).

mod report;
mod target;
mod watch;

use clap::{Parser, Subcommand};
use shm_runtime::tools::{SegmentInfo, clean_stale, find_stale, list_segments};
use std::fmt::Write as _;
use std::io::{self, IsTerminal as _, Write as _};
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  shm ls                      every segment made by shm, with kind, type, creator and status
  shm ls --all --json         also files of other programs, as JSON for scripts
  shm inspect shmrs-1f2e...   the decoded header and the current value
  shm inspect 'shm1:ring:...' the same, from a handle (also checks its nonce)
  shm clean --dry-run         what `shm clean` would remove (segments whose creator died)
  shm watch shmrs-1f2e... --interval 200
                              a live view; Ctrl-C to stop";

/// List, inspect, clean and watch shm segments (POSIX shared memory in
/// /dev/shm made by shm-runtime).
#[derive(Parser)]
#[command(name = "shm", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List segments: name, kind, type, fingerprint, size, creator pid,
    /// status, and the fill level of rings (of a broadcast, its slowest
    /// subscriber's lag).
    #[command(
        after_help = "Examples:\n  shm ls\n  shm ls --all\n  shm ls --json | jq '.[] | select(.status == \"stale\")'"
    )]
    Ls {
        /// Also list files in /dev/shm that shm did not make (marked
        /// foreign) or cannot read.
        #[arg(long)]
        all: bool,
        /// Print a JSON array instead of a table: indented on a terminal,
        /// on one line when piped.
        #[arg(long)]
        json: bool,
    },
    /// Show a segment's decoded header and its current value (for rings:
    /// positions, fill, who holds each role, the oldest and newest unread
    /// items; for a broadcast: each subscriber's cursor, lag and
    /// liveness).
    #[command(after_help = "Examples:\n  shm inspect shmrs-0123456789abcdef0123456789abcdef\n  \
                            shm inspect \"$SHM_HANDLE\" --json")]
    Inspect {
        /// A segment name (as in `shm ls`) or a full handle (`shm1:...`).
        target: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove stale segments: those whose creator died (never a live one,
    /// never a file shm did not make).
    #[command(after_help = "Examples:\n  shm clean --dry-run\n  shm clean")]
    Clean {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show a segment's value (rings: fill and messages/s; a broadcast:
    /// a lag bar per subscriber and messages/s), refreshed in
    /// place until Ctrl-C or until the segment disappears.
    #[command(after_help = "Examples:\n  shm watch shmrs-0123456789abcdef0123456789abcdef\n  \
                            shm watch \"$SHM_HANDLE\" --interval 100 --count 50")]
    Watch {
        /// A segment name (as in `shm ls`) or a full handle (`shm1:...`).
        target: String,
        /// Milliseconds between refreshes.
        #[arg(long, value_name = "MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
        interval: u64,
        /// Stop after this many refreshes.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
    },
    /// Carry objects to other hosts over Zenoh: runs `shm-bridge` (found
    /// beside `shm` or on PATH) with the arguments given.
    #[command(after_help = "Examples:\n  shm bridge out --from camera --key lab/camera --listen tcp/0.0.0.0:7447\n  \
                            shm bridge in --key lab/camera --to camera --create 64 --connect tcp/10.0.0.2:7447\n  \
                            shm bridge --config streams.conf\n  shm bridge --help")]
    Bridge {
        /// The arguments of `shm-bridge` (`out ...`, `in ...`, `--config FILE`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
}

/// A failure to report: one line, after `shm: error: `.
#[derive(Debug)]
pub(crate) struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ls { all, json } => ls(all, json),
        Command::Inspect { target, json } => inspect(&target, json),
        Command::Clean { dry_run } => clean(dry_run),
        Command::Watch { target, interval, count } => watch::run(&target, interval, count),
        Command::Bridge { args } => bridge(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            // One line, whatever the error's text holds.
            let line = message.replace(['\n', '\r'], " ");
            let _ = writeln!(io::stderr(), "shm: error: {line}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` to standard output; a closed pipe (`shm ls | head`) ends
/// the output quietly.
pub(crate) fn print(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure(format!("cannot write to standard output: {e}"))),
    }
}

fn ls(all: bool, json: bool) -> Result<(), Failure> {
    let segments: Vec<SegmentInfo> = list_segments()
        .map_err(|e| Failure(format!("cannot list /dev/shm: {e}")))?
        .into_iter()
        .filter(|info| all || info.status.is_shm())
        .collect();
    let rows: Vec<report::Row> = segments.iter().map(report::Row::of).collect();
    if json {
        // Indented for a person at a terminal; one line for a pipe (`jq`,
        // `grep`, a script reading lines).
        let array = serde_json::Value::Array(rows.iter().map(report::Row::json).collect());
        let text = if io::stdout().is_terminal() { format!("{array:#}\n") } else { format!("{array}\n") };
        return print(&text);
    }
    if rows.is_empty() {
        return print("no segments\n");
    }
    print(&report::table(&rows))
}

fn inspect(text: &str, json: bool) -> Result<(), Failure> {
    let target = target::resolve(text)?;
    let value =
        if target.readable() { Some(report::read_value(&report::Object::open(&target.handle)?)?) } else { None };
    if json {
        print(&format!("{:#}\n", report::inspect_json(&target, value.as_ref())))
    } else {
        print(&report::inspect_text(&target, value.as_ref()))
    }
}

/// Replaces this process with `shm-bridge`: the one beside this
/// executable if there is one, else the first on PATH.
fn bridge(args: &[String]) -> Result<(), Failure> {
    use std::os::unix::process::CommandExt;
    let beside = std::env::current_exe().ok().map(|exe| exe.with_file_name("shm-bridge")).filter(|p| p.is_file());
    let on_path = || {
        std::env::var_os("PATH")
            .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join("shm-bridge")).find(|p| p.is_file()))
    };
    let Some(program) = beside.or_else(on_path) else {
        return Err(Failure(
            "shm-bridge is not installed: neither beside shm nor on PATH (build it with \
             `cargo build --release --manifest-path shm-bridge/Cargo.toml`, then put target/release/shm-bridge on PATH)"
                .to_owned(),
        ));
    };
    // `exec` returns only if it failed.
    let error = std::process::Command::new(&program).args(args).exec();
    Err(Failure(format!("cannot run {}: {error}", program.display())))
}

fn clean(dry_run: bool) -> Result<(), Failure> {
    let found = if dry_run { find_stale() } else { clean_stale() };
    let found = found.map_err(|e| Failure(format!("cannot clean /dev/shm: {e}")))?;
    if found.is_empty() {
        return print("nothing to clean\n");
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut lines = String::new();
    for info in &found {
        let _ = writeln!(lines, "{verb} {}: {}", info.name, info.status);
    }
    print(&lines)
}
