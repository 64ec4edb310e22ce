//! shm-bench: shm against a raw shared-memory floor and against other IPC,
//! each case in two processes of this same binary.
//!
//! ```text
//! cargo run --profile bench-lto -p shm-bench                    # floor, shm, scaling
//! cargo run --profile bench-lto -p shm-bench --features peers   # + iceoryx2, shared_memory, UDS, pipe
//! cargo run --profile bench-lto -p shm-bench -- --case ring/rtt # only ids containing "ring/rtt"
//! cargo run --release -p shm-bench --features peers -- --smoke  # CI: every case once
//! ```
//!
//! Figures come from the `bench-lto` profile (the workspace's
//! `Cargo.toml`: release with thin LTO and one codegen unit), the same for
//! every transport; the smoke run only checks that every case works and
//! uses the release profile CI has built anyway.
//!
//! Every case (but memcpy bandwidth) spawns this binary again in the
//! child role (`--child <case id>`; the broadcast cases one child per
//! subscriber), pins the parent to CPU 0 and the child to CPU 1,
//! busy-polls unless the case says otherwise (the byte-stream peers block
//! in `read`; the waiting cases sleep 200 µs before each round trip so
//! both sides are asleep; a stream's consumer that finds its transport
//! empty spins 2 ns per ring slot, at most 2 µs, before it looks again, the
//! `-eager` cases not at all, `--poll-gap-ns <ns>` a fixed time: see
//! `link::consume` and `measure::PollGap`; on a two-core VM it decides
//! whether an 8-byte ring runs full or item by item), calibrates its count to a time budget, makes
//! `--runs` runs (5) and reports the median run: for latency cases the
//! mean of an untimed pass, with p50/p99/p99.9 from a second pass that
//! times each operation (`HdrHistogram`). Every item carries its sequence
//! number and every receiver checks it: a wrong item is a verification
//! failure, a hard error.
//!
//! Output: the machine, a table of every case with its ratio to its floor,
//! shm against the peers, the issue's targets (met or missed), a JSON file
//! (`--json`, default `target/shm-bench/results.json`) and two SVG plots
//! beside it (`--plots <dir>`). `--smoke` runs every case once with tiny
//! counts (output under `target/shm-bench/smoke/`) and exits non-zero if any
//! case failed or did not verify.
//!
//! Everything it creates in /dev/shm is named `shmrs-bench-<pid>-...`
//! (iceoryx2's files too, under its own folder in the temporary directory)
//! and removed when the case ends; leftovers of a run that was killed are
//! removed at the next start once their pid is dead.

mod cases;
mod hand;
mod link;
mod links;
mod links_asleep;
mod machine;
mod measure;
#[cfg(feature = "peers")]
mod peers;
mod plot;
mod proc;
mod raw;
mod report;
mod selfcheck;

use cases::Case;
use measure::{Plan, PollGap};
use report::{Failure, Outcome};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Any error of a case.
pub type Error = Box<dyn std::error::Error>;
/// A case's result.
pub type Result<T> = std::result::Result<T, Error>;

const USAGE: &str = "usage: shm-bench [--smoke] [--case <substring>]... [--runs <n>] [--pass-ms <ms>] \
[--poll-gap-ns <ns>] [--json <path>] [--plots <dir>] [--previous <json>] [--list] [--no-pin]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child_main(&args[1..]);
    }
    match options(&args).and_then(|o| run(&o)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("shm-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the command line asks for.
struct Options {
    plan: Plan,
    filters: Vec<String>,
    json: PathBuf,
    plots: Option<PathBuf>,
    previous: Option<PathBuf>,
    list: bool,
    pin: bool,
}

fn options(args: &[String]) -> Result<Options> {
    let mut smoke = false;
    let mut runs = 5;
    let mut pass_ms = 100;
    let mut poll_gap = PollGap::Scaled;
    let mut filters = Vec::new();
    let mut json = None;
    let mut plots = None;
    let mut previous = None;
    let mut list = false;
    let mut pin = true;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value ({USAGE})"));
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--case" => filters.push(value()?.clone()),
            "--runs" => runs = value()?.parse().map_err(|_| format!("--runs takes a count ({USAGE})"))?,
            "--pass-ms" => pass_ms = value()?.parse().map_err(|_| format!("--pass-ms takes milliseconds ({USAGE})"))?,
            "--poll-gap-ns" => {
                let ns = value()?.parse().map_err(|_| format!("--poll-gap-ns takes nanoseconds ({USAGE})"))?;
                poll_gap = PollGap::Fixed(Duration::from_nanos(ns));
            }
            "--json" => json = Some(PathBuf::from(value()?)),
            "--plots" => plots = Some(PathBuf::from(value()?)),
            "--previous" => previous = Some(PathBuf::from(value()?)),
            "--list" => list = true,
            "--no-pin" => pin = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?} ({USAGE})").into()),
        }
    }
    if runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    let plan = Plan { smoke, runs: if smoke { 1 } else { runs }, pass_time: Duration::from_millis(pass_ms), poll_gap };
    let json = match json {
        Some(path) => path,
        None => output_dir(smoke)?.join("results.json"),
    };
    Ok(Options { plan, filters, json, plots, previous, list, pin })
}

/// `target/shm-bench` (`target/shm-bench/smoke` for a smoke run), found
/// from this binary's place in `target/<profile>/`.
fn output_dir(smoke: bool) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe.parent().and_then(std::path::Path::parent).ok_or("cannot find the target folder")?;
    let dir = target.join("shm-bench");
    Ok(if smoke { dir.join("smoke") } else { dir })
}

/// The cargo profile this binary was built with: the name of the folder
/// it sits in (`target/<profile>/shm-bench`; `release` is
/// `target/release`, `bench-lto` is `target/bench-lto`).
fn profile_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.file_name()?.to_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Runs the selected cases and reports; `Ok(false)` if any case failed.
fn run(options: &Options) -> Result<bool> {
    let all = cases::all();
    let selected: Vec<&Case> = all
        .iter()
        .filter(|c| options.filters.is_empty() || options.filters.iter().any(|f| c.id.contains(f.as_str())))
        .collect();
    if options.list {
        for case in &all {
            println!("{}\t{}", case.id, case.note);
        }
        return Ok(true);
    }
    if selected.is_empty() {
        return Err(format!("no case matches {:?} (see --list)", options.filters).into());
    }
    for name in raw::remove_stale() {
        eprintln!("shm-bench: removed {name}, left by a run that died");
    }
    let machine = machine::Machine::describe();
    let pin = options.pin && machine.available >= 2;
    if pin {
        proc::pin_to(0);
    }
    let started = Instant::now();
    let outcomes = run_rounds(&selected, &options.plan, pin);
    // iceoryx2 may leave its (empty) root folder; anything else of ours
    // still there is a leak, removed now and reported as a failure.
    #[cfg(feature = "peers")]
    let iox2_leftovers = raw::remove_own(peers::IOX2_TAG);
    #[cfg(not(feature = "peers"))]
    let iox2_leftovers: Vec<String> = Vec::new();
    let leaked = raw::remove_own("");
    let load_end = machine::load();
    let targets = report::targets(&outcomes);

    let run_line = format!(
        "{} run(s) per case, median reported; pass budget {:?}; stream consumer's poll gap {}; {}; build profile {}; {:.0} s in all{}",
        options.plan.runs,
        options.plan.pass_time,
        options.plan.poll_gap.describe(),
        if pin { "parent pinned to CPU 0, child to CPU 1" } else { "not pinned" },
        profile_name(),
        started.elapsed().as_secs_f64(),
        if options.plan.smoke { "; SMOKE RUN: tiny counts, figures mean nothing" } else { "" },
    );
    let mut out = render(&machine, &load_end, &run_line, &outcomes, &targets);
    if let Some(path) = &options.previous {
        let previous: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)?;
        let _ = write!(out, "\n## Change since the previous run ({})\n\n", path.display());
        out.push_str(&report::changes(&outcomes, &previous));
    }
    println!("{out}");

    let json = report::json(&machine, &load_end, &options.plan, &outcomes, &targets);
    if let Some(dir) = options.json.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&options.json, serde_json::to_string_pretty(&json)? + "\n")?;
    println!("results: {}", options.json.display());
    let plot_dir =
        options.plots.clone().unwrap_or_else(|| options.json.parent().map(PathBuf::from).unwrap_or_default());
    std::fs::create_dir_all(&plot_dir)?;
    for path in plot::write(&plot_dir, &outcomes)? {
        println!("plot: {}", path.display());
    }
    if !iox2_leftovers.is_empty() {
        println!("removed what iceoryx2 left: {}", iox2_leftovers.join(", "));
    }
    if !leaked.is_empty() {
        println!("LEAK: this run left {} (removed now)", leaked.join(", "));
    }
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    println!("{} passed, {failed} failed", outcomes.len() - failed);
    Ok(failed == 0 && leaked.is_empty())
}

/// Runs every case of `selected` `plan.runs` times, in rounds.
fn run_rounds<'a>(selected: &[&'a Case], plan: &Plan, pin: bool) -> Vec<Outcome<'a>> {
    // The runs of a case are spread over rounds (every case once per
    // round) rather than made back to back: on a virtual machine the
    // core-to-core latency can change for seconds at a time, and a case
    // should not land whole in one such stretch while its floor lands in
    // another.
    let rounds = plan.runs;
    let one_run = Plan { runs: 1, ..*plan };
    let mut results: Vec<std::result::Result<Vec<measure::Measure>, Failure>> =
        selected.iter().map(|_| Ok(Vec::new())).collect();
    let mut seconds = vec![0.0; selected.len()];
    for round in 1..=rounds {
        for (i, case) in selected.iter().enumerate() {
            let Ok(runs) = &mut results[i] else { continue };
            eprint!("[round {round}/{rounds}, {}/{}] {} ... ", i + 1, selected.len(), case.id);
            let _ = std::io::stderr().flush();
            let t0 = Instant::now();
            let ctx = cases::Ctx { case, plan: one_run, pin };
            let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.parent)(&ctx))) {
                Ok(Ok(m)) => Ok(m),
                Ok(Err(e)) => Err(Failure { verification: link::is_mismatch(&e), message: e.to_string() }),
                Err(_) => Err(Failure { verification: false, message: "panicked (see the message above)".to_owned() }),
            };
            seconds[i] += t0.elapsed().as_secs_f64();
            match result {
                Ok(m) => {
                    eprintln!("{}", report::table_figure(case.metric, &m));
                    runs.push(m);
                }
                Err(f) => {
                    eprintln!("FAILED: {}", f.message);
                    results[i] = Err(f);
                }
            }
        }
    }
    selected
        .iter()
        .zip(results)
        .zip(seconds)
        .map(|((case, result), seconds)| Outcome { case, result: result.map(measure::median_run), seconds })
        .collect()
}

/// The report, Markdown.
fn render(
    machine: &machine::Machine,
    load_end: &str,
    run_line: &str,
    outcomes: &[Outcome<'_>],
    targets: &[report::Target],
) -> String {
    let mut out = String::new();
    out.push_str("## Machine\n\n");
    for line in machine.lines(load_end) {
        let _ = writeln!(out, "- {line}");
    }
    let _ = writeln!(out, "- run: {run_line}");
    out.push_str(
        "\n## Cases\n\nFigure: the median of the runs (made in rounds: every case once per round). A run's figure: \
         for times, the median over chunks of 64 operations of the chunk mean (no clock read inside a chunk; \
         p50/p99/p99.9 come from a second pass that times each operation, clock reads included); for create and \
         open, the median operation; for rates, items and bytes per second at the rate of the median chunk of eight \
         ringfuls (at least 1,024 items; memcpy: of 64 blocks). Runs spread: fastest run over slowest. \
         vs floor: the figure over its floor's figure (times: below 1 is faster; rates: above 1 is faster).\n\n",
    );
    out.push_str(&report::table(outcomes));
    out.push_str(
        "\nNotes (rings have 1024 slots, 64 for 64 KiB items, but in the capacity cases; items are [u64; N] \
         stamped with their number in the first, middle and last word, checked on arrival):\n\n",
    );
    out.push_str(&report::notes(outcomes));
    if cfg!(feature = "peers") {
        out.push_str("\n## shm against the peers\n\n");
        out.push_str(&report::peers_table(outcomes));
    }
    out.push_str("\n## Targets (the median of per-round ratios, with their min-max; met only when the median meets the target; not tests)\n\n");
    out.push_str(&report::targets_table(targets));
    if !cases::PENDING.is_empty() {
        out.push_str("\n## Not measured yet\n\n");
        out.push_str(&report::pending());
    }
    out
}

/// The child role: `--child <case> --control <name> --parent <pid>
/// [--no-pin] <case arguments>`.
fn child_main(args: &[String]) -> ExitCode {
    let Some((id, rest)) = args.split_first() else {
        eprintln!("shm-bench child: no case");
        return ExitCode::FAILURE;
    };
    let value = |key: &str| rest.iter().position(|a| a == key).and_then(|i| rest.get(i + 1));
    let (Some(control), Some(parent)) = (value("--control"), value("--parent").and_then(|p| p.parse::<u32>().ok()))
    else {
        eprintln!("shm-bench child {id}: --control and --parent are required");
        return ExitCode::FAILURE;
    };
    if let Err(e) = proc::child_guard_parent(parent) {
        eprintln!("shm-bench child {id}: {e}");
        return ExitCode::FAILURE;
    }
    if !rest.iter().any(|a| a == "--no-pin") {
        proc::pin_to(1);
    }
    let ctl = match proc::Control::open(control) {
        Ok(ctl) => ctl,
        Err(e) => {
            eprintln!("shm-bench child {id}: control block {control}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(case) = cases::find(id) else {
        ctl.failed();
        eprintln!("shm-bench child: no case {id}");
        return ExitCode::FAILURE;
    };
    let Some(child) = case.child else {
        ctl.failed();
        eprintln!("shm-bench child: case {id} has no child side");
        return ExitCode::FAILURE;
    };
    let ctx = cases::ChildCtx { case: &case, ctl, args: rest.to_vec(), parent };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child(&ctx)));
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            ctx.ctl.failed();
            eprintln!("shm-bench child {id}: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            ctx.ctl.failed();
            ExitCode::FAILURE
        }
    }
}
