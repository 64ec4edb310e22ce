//! The `shared-memory-handler` example, ported: a parent process keeps a
//! fixed-length array of records in shared memory (`SharedArray`), starts
//! two worker processes, and each worker fills its half; the parent then
//! reads the whole array back and prints it.
//!
//! Run it (the parent starts both workers itself, as copies of its own
//! program):
//!
//! ```text
//! cargo run --example array_workers
//! cargo run --example array_workers -- 16      # 16 records instead of 10
//! ```
//!
//! Each worker gets its part of the array as one line of text on its
//! command line (`--worker <start>..<end>@<handle>`, the `Display` form of
//! an `ArrayPart`) and opens it with `SharedArrayPart::load`. A part lets
//! its worker write only inside its range: the worker shows this by trying
//! to write one element past its part, which is refused and changes
//! nothing. To run a worker by hand, pass it such a line:
//!
//! ```text
//! cargo run --example array_workers -- --worker '0..5@shm1:array:...'
//! ```
//!
//! Record `i` ends up holding `value = i * 2`, the index, and the pid of
//! the worker that wrote it. The parent removes the array when it exits.

use shm_runtime::{SharedArray, SharedArrayPart, SharedObject, SharedState};
use std::error::Error;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

/// One record of the array.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Record {
    /// `index * 2`, as the seed's example stores.
    value: i64,
    /// The record's own index, as the worker saw it.
    index: u32,
    /// Pid of the worker that filled the record; 0 while unfilled.
    worker_pid: u32,
}

const USAGE: &str = "usage: array_workers [<len>] | array_workers --worker <part>";

const HELP: &str = "\
A parent keeps a fixed-length array of records in shared memory
(SharedArray), starts two workers (copies of this program), and each fills
its half with i * 2; the parent then reads the array back and prints it.

Everything with one command (the parent starts both workers):
  cargo run --example array_workers
  cargo run --example array_workers -- 16      # 16 records instead of 10
One worker by hand, given its part of an array (as the parent passes it):
  cargo run --example array_workers -- --worker '0..5@shm1:array:...'

Options:
  <len>             records in the array (default 10, at least 2)
  --worker <part>   fill <part> (`<start>..<end>@<handle>`) as a worker
  -h, --help        print this help
";

/// How long the parent waits for its workers.
const WORKER_LIMIT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}\n\n{HELP}");
        return ExitCode::SUCCESS;
    }
    let (who, result) = match args.as_slice() {
        [flag, part] if flag == "--worker" => ("worker", worker(part)),
        [] => ("parent", parent(10)),
        [len] => {
            ("parent", len.parse().map_err(|_| format!("{len:?} is not a length ({USAGE})").into()).and_then(parent))
        }
        _ => ("array_workers", Err(USAGE.into())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{who}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parent(len: usize) -> Result<(), Box<dyn Error>> {
    if len < 2 {
        return Err(format!("an array of {len} records cannot be split between two workers ({USAGE})").into());
    }
    let records = SharedArray::<Record>::create_sharedobject(len)?;
    println!("parent: created {len} records, handle {}", records.handle());

    let halves = [records.part(..len / 2)?, records.part(len / 2..)?];
    let mut workers = Vec::new();
    for part in &halves {
        let child = Command::new(std::env::current_exe()?).arg("--worker").arg(part.to_string()).spawn()?;
        println!("parent: worker pid {} fills {:?}", child.id(), part.range());
        workers.push(child);
    }
    for child in &mut workers {
        wait(child)?;
    }

    for (i, record) in records.iter().enumerate() {
        println!("parent: [{i}] value {} (written by pid {})", record.value, record.worker_pid);
    }
    let pids: Vec<u32> = workers.iter().map(Child::id).collect();
    for (i, record) in records.iter().enumerate() {
        let expected = i64::try_from(i)? * 2;
        let pid = pids[usize::from(i >= len / 2)];
        if record.value != expected || record.index as usize != i || record.worker_pid != pid {
            return Err(format!("record {i} is {record:?}, expected value {expected} from pid {pid}").into());
        }
    }
    println!("parent: all {len} records hold i * 2, each half from its own worker");
    records.cleanup()?;
    Ok(())
}

/// Waits for a worker (bounded) and checks that it succeeded.
fn wait(child: &mut Child) -> Result<(), Box<dyn Error>> {
    let deadline = Instant::now() + WORKER_LIMIT;
    loop {
        if let Some(status) = child.try_wait()? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("worker {} failed: {status}", child.id()).into())
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("worker {} did not finish within {WORKER_LIMIT:?}", child.id()).into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn worker(text: &str) -> Result<(), Box<dyn Error>> {
    let part = SharedArrayPart::<Record>::load(text)?;
    let range = part.range();
    let pid = std::process::id();
    for i in range.clone() {
        part.set(i, &Record { value: i64::try_from(i)? * 2, index: u32::try_from(i)?, worker_pid: pid })?;
    }
    println!("worker {pid}: filled {range:?}");
    // One past the part: the other worker's record, or past the end.
    let outside = range.end;
    match part.set(outside, &Record { value: -1, index: 0, worker_pid: pid }) {
        Err(refused) => println!("worker {pid}: refused as it should be: {refused}"),
        Ok(()) => return Err(format!("writing index {outside}, outside the part {range:?}, was allowed").into()),
    }
    Ok(())
}
