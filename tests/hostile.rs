//! Hostile neighbours: rows H1 to H6 and H8 of the reliability matrix
//! (`docs/RELIABILITY.md`, promise 14), each written as the attack.
//!
//! /dev/shm is shared by every user of the machine. These tests put there
//! what another user or another program can put there (FIFOs and symbolic
//! links named like shm's lock files and segments, forged liveness locks,
//! another program's files with zeros where the magic would be, sparse
//! files with a valid header) and check that shm neither hangs on them,
//! nor follows them, nor trusts them, nor removes them; and that caller
//! durations and name lengths at the documented limits work.
//!
//! # Where the attacks run
//!
//! Attacks that need another user (uid 65534, `nobody`, played by a child
//! that drops to it) or that clean the whole of /dev/shm run as root in a
//! new mount namespace with a private tmpfs on /dev/shm, as B1 in
//! `tests/matrix.rs` does: the test re-runs this binary under `unshare -m`
//! in the role [`NS`], and that process plays the scenario. Nothing
//! planted there reaches the machine's /dev/shm, and the tmpfs goes away
//! with the namespace. Without root or `unshare` they are skipped with a
//! printed reason (H4 then runs against the real /dev/shm under names of
//! its own).
//!
//! Inside, every call that an attack could make hang runs in a fresh child
//! process (this binary in the role [`OP`]) with a deadline
//! ([`OP_LIMIT`]): a hang is killed and reported, and the scenario goes on
//! with its next check, so one run lists every defect it finds. Fresh
//! processes matter for what shm does once per process, too: the first
//! liveness claim (which opens the lock file) and the stale sweep at the
//! first create. Children die with their parent (`PR_SET_PDEATHSIG`), so a
//! scenario killed at its deadline leaves no process behind.
//!
//! Where the kernel's own protections are on (`fs.protected_symlinks`,
//! `fs.protected_fifos`), the kernel refuses some of these links and FIFOs
//! before shm sees them; the tests then still pass, and prove less.
//!
//! H5, H6 and H8 need no other user and run against the real /dev/shm
//! under names of their own (the parts that need a small tmpfs or a
//! private sweep run in a namespace). The sparse file is opened in a child
//! whose data limit (`RLIMIT_DATA`) turns a huge allocation into an abort
//! instead of eating the machine's memory.

mod common;

use common::{Kid, ROLE_ENV, shm_path, unique_name};
use shm_runtime::format::STATE_READY;
use shm_runtime::tools::{InspectError, Peek, Status, clean_stale, find_stale, inspect_segment, list_segments};
use shm_runtime::{
    ByteRing, Consumer, CreateError, Handle, MAX_NAME_LEN, MemoryInterface, NAME_PREFIX, OpenError, OpenOptions,
    Producer, Ring, SegmentName, Shared, SharedArray, SharedArrayPart, SharedBool, SharedBytes, SharedInt,
    SharedObject, SharedString,
};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

/// The other user: `nobody` on most systems, never root.
const NOBODY: u32 = 65_534;
/// Role of the process that plays a scenario inside the mount namespace.
const NS: &str = "ns";
/// Role of a child that runs one operation (named by the `OP` argument).
const OP: &str = "op";
/// What a scenario prints once all its checks passed.
const DONE: &str = "hostile: all checks passed";
/// Longest one operation may take before it counts as hung. The slowest
/// honest one waits out a 2 s default (open wait, writer lock wait).
const OP_LIMIT: Duration = Duration::from_secs(10);
/// Longest a whole scenario may take (every operation hung, on a loaded
/// machine).
const NS_LIMIT: Duration = Duration::from_secs(400);
/// What "at once" means for an operation that must not wait (less than
/// the 2 s default waits it would otherwise spend), with slack for a
/// loaded machine.
const PROMPT: Duration = Duration::from_millis(1500);
/// Environment variable with the device number of the machine's /dev/shm,
/// set for everything that runs in a private one (which checks it has
/// another).
const OUTER_SHM_DEV: &str = "SHM_HOSTILE_OUTER_SHM_DEV";
/// Prefix of the environment variables that carry arguments to children.
const ARG_PREFIX: &str = "SHM_HOSTILE_";
/// Header offsets (FORMAT.md).
const OFF_STATE: usize = 8;
const OFF_PAYLOAD_SIZE: usize = 48;
const OFF_CREATOR: u64 = 72;
const HEADER_BYTES: usize = 128;

// ---------------------------------------------------------------- roles

/// An argument the parent passed (see [`arg_pair`]).
fn arg(key: &str) -> String {
    std::env::var(format!("{ARG_PREFIX}{key}")).unwrap_or_else(|_| panic!("missing argument {ARG_PREFIX}{key}"))
}

/// An argument that is a list of words.
fn arg_words(key: &str) -> Vec<String> {
    arg(key).split_whitespace().map(str::to_owned).collect()
}

/// `(variable, value)` for a child's argument `key`.
fn arg_pair(key: &str, value: &dyn std::fmt::Display) -> (String, String) {
    (format!("{ARG_PREFIX}{key}"), value.to_string())
}

/// Plays the role this run of `test` was started in, if any: the
/// namespace side of the test (`scenario`) or a child. Returns whether it
/// did (the test function then returns).
fn as_role(test: &str, scenario: fn(&str)) -> bool {
    let Some(role) = common::role() else { return false };
    // Started for a private /dev/shm: make sure it is not the machine's.
    if let Ok(outer) = std::env::var(OUTER_SHM_DEV) {
        let here = std::fs::metadata("/dev/shm").expect("stat /dev/shm").dev();
        assert_ne!(here.to_string(), outer, "{role}: /dev/shm is the machine's, not a private tmpfs");
    }
    if role == NS {
        scenario(test);
        println!("{DONE}");
        return true;
    }
    die_with_parent();
    match role.as_str() {
        OP => op(&arg("OP")),
        "plant" => plant(),
        "victim" => victim(),
        "forge" => forge(),
        "hold" => hold(),
        "sparse-open" => sparse_open(),
        "sparse-write" => sparse_write(),
        other => panic!("unknown role {other}"),
    }
    true
}

/// For tests without a namespace side.
fn no_scenario(test: &str) {
    panic!("{test} has no namespace scenario");
}

/// Has the kernel SIGKILL this child when the parent thread that started
/// it ends, so a parent killed at its deadline leaves no child behind.
fn die_with_parent() {
    let signal = libc::c_ulong::try_from(libc::SIGKILL).expect("signal number");
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and reads no memory.
    let result = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal) };
    assert_eq!(result, 0, "prctl(PR_SET_PDEATHSIG): {}", std::io::Error::last_os_error());
}

/// Drops this process (all its threads) from root to uid and gid 65534
/// with no supplementary group. Changing users clears the parent-death
/// signal, so it is set again.
fn become_nobody() {
    let check = |what: &str, result: i32| assert_eq!(result, 0, "{what}: {}", std::io::Error::last_os_error());
    // SAFETY: an empty list; the null pointer is never read.
    check("setgroups", unsafe { libc::setgroups(0, std::ptr::null()) });
    // SAFETY: setgid has no memory-safety requirements.
    check("setgid", unsafe { libc::setgid(NOBODY) });
    // SAFETY: setuid has no memory-safety requirements.
    check("setuid", unsafe { libc::setuid(NOBODY) });
    assert_eq!(rustix::process::geteuid().as_raw(), NOBODY);
    die_with_parent();
}

/// Child side: blocks until the parent closes our stdin (or kills us).
fn wait_for_parent() {
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

// ---------------------------------------------------------------- children

/// A child of this test binary in a role, with piped stdin, stdout and
/// stderr; threads collect what it prints.
struct Peer {
    kid: Kid,
    stdin: Option<ChildStdin>,
    /// Its stdout, line by line.
    lines: mpsc::Receiver<String>,
    /// Everything it printed, for messages.
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    /// What it is, for messages.
    what: String,
}

impl Peer {
    fn spawn(test: &str, role: &str, args: &[(String, String)], what: &str) -> Self {
        let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
        cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE_ENV, role)
            .env("RUST_BACKTRACE", "0")
            .envs(args.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the test binary in a role");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let log = Arc::clone(&output);
        let out = thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut all = log.lock().unwrap_or_else(PoisonError::into_inner);
                all.push_str(&line);
                all.push('\n');
                drop(all);
                let _ = tx.send(line);
            }
        });
        let log = Arc::clone(&output);
        let err = thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut all = log.lock().unwrap_or_else(PoisonError::into_inner);
                all.push_str("stderr: ");
                all.push_str(&line);
                all.push('\n');
            }
        });
        Self { kid: Kid::new(child), stdin, lines, output, readers: vec![out, err], what: what.to_owned() }
    }

    fn pid(&self) -> u32 {
        self.kid.pid
    }

    fn output(&self) -> String {
        self.output.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// What follows `tag ` on the next stdout line that has it (the test
    /// harness prints lines of its own, sometimes in front of ours).
    /// Panics after [`OP_LIMIT`] or when the child ends without one.
    fn line(&self, tag: &str) -> String {
        let deadline = Instant::now() + OP_LIMIT;
        let marker = format!("{tag} ");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    // A bare `tag` at the end of the line has nothing after it.
                    let line = format!("{} ", line.trim_end());
                    if let Some(at) = line.find(&marker) {
                        return line[at + marker.len()..].trim_end().to_owned();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{} sent no line `{tag} ...` within {OP_LIMIT:?}:\n{}", self.what, self.output())
                }
            }
        }
    }

    /// Closes the child's stdin and waits up to `limit` for it to exit:
    /// its output when it exited with status 0, otherwise what happened
    /// (a child still running at the deadline is killed: it hangs).
    fn finish(mut self, limit: Duration) -> Result<String, String> {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.kid.has_exited() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            thread::sleep(Duration::from_millis(5));
        };
        let Self { kid, readers, what, .. } = self;
        if status.is_none() {
            kid.kill_and_reap();
        } else {
            drop(kid);
        }
        for reader in readers {
            let _ = reader.join();
        }
        let output = without_harness(&self.output.lock().unwrap_or_else(PoisonError::into_inner));
        match status {
            Some(status) if status.success() => Ok(output),
            Some(status) => Err(format!("{what} failed ({}):\n{output}", describe(status))),
            None => Err(format!("{what} did not finish within {limit:?} (killed: it hangs):\n{output}")),
        }
    }

    /// Sends the child a line on its stdin.
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("write to {}: {e}", self.what));
    }

    /// SIGKILLs the child and reaps it: from here on the kernel calls it
    /// dead.
    fn kill(self) {
        self.kid.kill_and_reap();
    }
}

/// What a child printed, without the test harness's own lines.
fn without_harness(output: &str) -> String {
    let mut kept = String::new();
    for line in output.lines() {
        let line = line.strip_prefix("stderr: ").unwrap_or(line);
        // The harness prints `test NAME ... ` in front of the test's first line.
        let line = line.strip_prefix("test ").and_then(|l| l.split_once(" ... ")).map_or(line, |(_, rest)| rest);
        let harness = line.trim().is_empty()
            || line == "running 1 test"
            || line == "failures:"
            || line == "FAILED"
            || line == "ok"
            || line.starts_with("test result:")
            || line.starts_with("    ")
            || line.starts_with("note: run with `RUST_BACKTRACE");
        if !harness {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// An exit status in words, naming the signals the attacks can cause.
fn describe(status: ExitStatus) -> String {
    match status.signal() {
        Some(libc::SIGABRT) => "killed by SIGABRT: aborted, e.g. on a failed allocation".to_owned(),
        Some(libc::SIGBUS) => "killed by SIGBUS: touched a page the file does not have".to_owned(),
        Some(libc::SIGSEGV) => "killed by SIGSEGV".to_owned(),
        Some(libc::SIGKILL) => "killed by SIGKILL".to_owned(),
        _ => status.to_string(),
    }
}

/// The failed checks of a scenario, reported together at its end.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn expect(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            let what = what();
            println!("FAILED: {what}");
            self.0.push(what);
        }
    }

    #[track_caller]
    fn finish(self, test: &str) {
        let count = self.0.len();
        assert!(count == 0, "{test}: {count} check(s) failed:\n\n{}", self.0.join("\n\n"));
    }
}

/// Runs operation `op` in a fresh child (role [`OP`]) with `args`, bounded
/// by [`OP_LIMIT`]; records a failure (a failed check, a panic, a hang)
/// under `what`. Returns the child's output when it succeeded.
fn run_op(test: &str, failures: &mut Failures, what: &str, op: &str, args: &[(String, String)]) -> Option<String> {
    let mut all = vec![arg_pair("OP", &op)];
    all.extend_from_slice(args);
    let start = Instant::now();
    let result = Peer::spawn(test, OP, &all, what).finish(OP_LIMIT);
    println!("{what}: {} after {:?}", if result.is_ok() { "ok" } else { "FAILED" }, start.elapsed());
    match result {
        Ok(output) => Some(output),
        Err(e) => {
            failures.expect(false, || e);
            None
        }
    }
}

/// Runs a setup child to its end; panics if it fails (the scenario cannot
/// go on).
fn run_setup(test: &str, role: &str, args: &[(String, String)], what: &str) {
    Peer::spawn(test, role, args, what).finish(OP_LIMIT).unwrap_or_else(|e| panic!("setup: {e}"));
}

/// Runs `test` again in the role [`NS`] as root in a new mount namespace
/// whose /dev/shm is a private tmpfs of `size`, and asserts it passed.
/// Skips with a printed reason when not root or when no namespace can be
/// made here.
fn run_in_private_shm(test: &str, size: &str) {
    if !is_root() {
        println!("skipped {test}: it needs root (for a private /dev/shm in a mount namespace)");
        return;
    }
    let mount = format!("mount -t tmpfs -o size={size},mode=1777 tmpfs /dev/shm");
    match Command::new("unshare").args(["-m", "sh", "-c", &mount]).stdin(Stdio::null()).output() {
        Err(e) => {
            println!("skipped {test}: it needs `unshare` ({e})");
            return;
        }
        Ok(out) if !out.status.success() => {
            let reason = String::from_utf8_lossy(&out.stderr);
            println!("skipped {test}: cannot mount a private tmpfs here ({}): {}", out.status, reason.trim());
            return;
        }
        Ok(_) => {}
    }
    let script = format!("{mount} && exec \"$0\" \"$1\" --exact --nocapture --test-threads=1");
    let mut child = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .arg(std::env::current_exe().expect("test binary path"))
        .arg(test)
        .env(ROLE_ENV, NS)
        .env(OUTER_SHM_DEV, std::fs::metadata("/dev/shm").expect("stat /dev/shm").dev().to_string())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unshare");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = thread::spawn(move || std::io::read_to_string(&mut stdout).unwrap_or_default());
    let err = thread::spawn(move || std::io::read_to_string(&mut stderr).unwrap_or_default());
    let deadline = Instant::now() + NS_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    let Some(status) = status else { panic!("{test} did not finish within {NS_LIMIT:?}:\n{out}\n{err}") };
    assert!(status.success() && out.contains(DONE), "{test} failed ({}):\n{out}\n{err}", describe(status));
    println!("{out}");
}

// ---------------------------------------------------------------- files

/// A file made by hand in /dev/shm, removed when dropped.
struct Planted(PathBuf);

impl Drop for Planted {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("cannot remove {}: {e}", self.0.display()),
        }
    }
}

/// Creates `/dev/shm/name` (which must not exist), mode 0600, holding
/// `bytes`.
fn plant_file(name: &str, bytes: &[u8]) -> (File, Planted) {
    let path = shm_path(name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let guard = Planted(path);
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
    file.write_all_at(bytes, 0).expect("write the planted file");
    (file, guard)
}

/// Sets a file's modification time an hour back, past every age a sweep
/// waits for.
fn backdate(file: &File) {
    file.set_modified(SystemTime::now() - Duration::from_secs(3600)).expect("set the modification time");
}

/// Makes a FIFO at `/dev/shm/name` owned by this process's user.
fn mkfifo(name: &str, mode: u32) {
    let mode = rustix::fs::Mode::from_bits_truncate(mode);
    rustix::fs::mknodat(rustix::fs::CWD, shm_path(name), rustix::fs::FileType::Fifo, mode, 0)
        .unwrap_or_else(|e| panic!("mkfifo {name}: {e}"));
}

/// What a file is, in words: its type, owner, mode and contents (`None`
/// for a missing one); compared before and after an attack.
fn snapshot(path: &std::path::Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let kind = meta.file_type();
    let (uid, mode) = (meta.uid(), meta.mode() & 0o7777);
    if kind.is_symlink() {
        let target = std::fs::read_link(path).ok()?;
        return Some(format!("symbolic link to {}, uid {uid}", target.display()));
    }
    if !kind.is_file() {
        let kind = if kind.is_fifo() {
            "FIFO"
        } else if kind.is_dir() {
            "directory"
        } else {
            "other"
        };
        return Some(format!("{kind}, uid {uid}, mode {mode:04o}"));
    }
    let contents = std::fs::read(path).ok()?;
    // FNV-1a, to tell contents apart without printing them all.
    let hash =
        contents.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
    let start = String::from_utf8_lossy(&contents[..contents.len().min(32)]).into_owned();
    Some(format!("file, uid {uid}, mode {mode:04o}, {} bytes {start:?}... (hash {hash:016x})", contents.len()))
}

fn is_fifo(name: &str) -> bool {
    std::fs::symlink_metadata(shm_path(name)).is_ok_and(|m| m.file_type().is_fifo())
}

/// A pid no process has: a child that has exited and been reaped.
fn dead_pid() -> u64 {
    let mut child = Command::new("true").spawn().expect("run true");
    child.wait().expect("reap true");
    u64::from(child.id())
}

/// `handle` with another name: the same kind, fingerprint, size and
/// nonce, so only the file behind the name differs.
fn with_name(handle: &Handle, name: &str) -> Handle {
    let text = handle.to_string();
    let (head, _) = text.rsplit_once(':').expect("handle text has fields");
    format!("{head}:{name}").parse().unwrap_or_else(|e| panic!("handle for {name}: {e}"))
}

/// `handle` with another payload size and name.
fn with_size_and_name(handle: &Handle, payload_size: u64, name: &str) -> Handle {
    let text = handle.to_string();
    let mut fields: Vec<&str> = text.splitn(6, ':').collect();
    let size = payload_size.to_string();
    fields[3] = &size;
    fields[5] = name;
    fields.join(":").parse().unwrap_or_else(|e| panic!("handle for {name}: {e}"))
}

/// The first `HEADER_BYTES` bytes of segment `name`'s file.
fn header_bytes(name: &str) -> Vec<u8> {
    let mut header = vec![0; HEADER_BYTES];
    File::open(shm_path(name)).expect("open a segment file").read_exact_at(&mut header, 0).expect("read its header");
    header
}

/// The identity word (pid, lock slot, token) in segment `name`'s header.
fn creator_identity(name: &str) -> u64 {
    let mut word = [0; 8];
    File::open(shm_path(name)).expect("open a segment file").read_exact_at(&mut word, OFF_CREATOR).expect("read it");
    u64::from_ne_bytes(word)
}

// ---------------------------------------------------------------- fcntl

fn flock(kind: i32, start: u64, len: u64) -> libc::flock {
    // SAFETY: `flock` is a plain C struct; all zeros is a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = i16::try_from(kind).expect("lock type");
    lock.l_whence = i16::try_from(libc::SEEK_SET).expect("whence");
    lock.l_start = i64::try_from(start).expect("lock start");
    lock.l_len = i64::try_from(len).expect("lock length");
    lock
}

/// The write lock another process holds over byte `start` of `file`, as
/// `(start, len, pid)`.
fn held_lock(file: &File, start: u64) -> Option<(u64, u64, i32)> {
    let mut lock = flock(libc::F_RDLCK, start, 1);
    // SAFETY: a valid descriptor and a valid `flock` the kernel overwrites.
    let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &raw mut lock) };
    assert_eq!(result, 0, "F_GETLK: {}", std::io::Error::last_os_error());
    if i32::from(lock.l_type) == libc::F_UNLCK {
        return None;
    }
    Some((u64::try_from(lock.l_start).ok()?, u64::try_from(lock.l_len).ok()?, lock.l_pid))
}

/// Takes a write lock on `start .. start + len` of `file`.
fn take_lock(file: &File, start: u64, len: u64) {
    let lock = flock(libc::F_WRLCK, start, len);
    // SAFETY: a valid descriptor and a valid `flock` the kernel only reads.
    let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &raw const lock) };
    assert_eq!(result, 0, "F_SETLK {start}+{len}: {}", std::io::Error::last_os_error());
}

/// The lock slot and token of an identity word (FORMAT.md, Process
/// identity).
fn slot_and_token(identity: u64) -> (u64, u64) {
    ((identity >> 32) & 0xffff, identity >> 48)
}

// ---------------------------------------------------------------- child roles

/// Child: becomes uid 65534 and plants what `PLANT` lists in /dev/shm,
/// `;`-separated: `fifo NAME`, `file NAME` (empty, mode 0644), `dir NAME`,
/// `socket NAME` or `symlink NAME TARGET`.
fn plant() {
    become_nobody();
    for item in arg("PLANT").split(';') {
        let words: Vec<&str> = item.split_whitespace().collect();
        match words.as_slice() {
            ["fifo", name] => mkfifo(name, 0o644),
            ["file", name] => {
                let path = shm_path(name);
                let file = File::create_new(&path).unwrap_or_else(|e| panic!("create {name}: {e}"));
                file.set_permissions(std::fs::Permissions::from_mode(0o644)).expect("chmod 0644");
            }
            ["socket", name] => {
                // The socket file stays when the listener goes.
                std::os::unix::net::UnixListener::bind(shm_path(name)).unwrap_or_else(|e| panic!("bind {name}: {e}"));
            }
            ["dir", name] => std::fs::create_dir(shm_path(name)).unwrap_or_else(|e| panic!("mkdir {name}: {e}")),
            ["symlink", name, target] => std::os::unix::fs::symlink(target, shm_path(name))
                .unwrap_or_else(|e| panic!("symlink {name} -> {target}: {e}")),
            _ => panic!("cannot plant {item:?}"),
        }
        println!("planted as uid {NOBODY}: {item}");
    }
}

/// Child (root): creates, under `PREFIX`, a `SharedInt` (`int`), a
/// `Shared<u64>` (`locked`), a ring (`ring`, whose producer role it
/// holds) and a `SharedInt` whose name another process will create anew
/// (`taken`), copies the int's file to `init` with its state word still
/// initializing (a creation it never finished), prints their handles, and
/// takes the writer lock of `locked` and keeps it until it is killed.
fn victim() {
    let prefix = arg("PREFIX");
    let int = SharedInt::create_named(&format!("{prefix}int"), 41).expect("victim: create int");
    let state = Shared::<u64>::create_named(&format!("{prefix}locked"), &7).expect("victim: create state");
    let ring = MemoryInterface::<u64>::create_named(&format!("{prefix}ring"), 4).expect("victim: create ring");
    let taken = SharedInt::create_named(&format!("{prefix}taken"), 43).expect("victim: create taken");
    let mut bytes = std::fs::read(shm_path(int.name().as_str())).expect("victim: read its int's file");
    bytes[OFF_STATE..OFF_STATE + 8].fill(0);
    let (_, planted) = plant_file(&format!("{prefix}init"), &bytes);
    std::mem::forget(planted);
    println!("handles {} {} {}", int.handle(), state.handle(), ring.handle());
    let _ = std::io::stdout().flush();
    let _ = state.update(|_| {
        println!("locked");
        let _ = std::io::stdout().flush();
        wait_for_parent();
    });
    // Killed before it gets here; leaking keeps the names if not.
    std::mem::forget((int, state, ring, taken));
}

/// Child: becomes uid 65534, reads every lock range root's processes hold
/// in root's lock files (every `.shmrs-live-*` regular file root owns:
/// `F_GETLK` at each slot's first byte needs only a read descriptor, and
/// lock files are readable by everyone), and takes the same ranges in its
/// own file `TARGET`, so that a check that trusts any `.shmrs-live-*` file
/// (or one by its name) sees root's processes alive for as long as this
/// one lives.
fn forge() {
    become_nobody();
    let target = arg("TARGET");
    let mine = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(shm_path(&target))
        .expect("forger: open its own lock file");
    let mut copied = 0;
    for entry in std::fs::read_dir("/dev/shm").expect("forger: list /dev/shm").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let root_file = entry.metadata().is_ok_and(|m| m.is_file() && m.uid() == 0);
        if !name.starts_with(".shmrs-live-") || name == target || !root_file {
            continue;
        }
        let theirs = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(entry.path())
            .expect("forger: open root's lock file");
        for slot in 1..=0xfffe_u64 {
            if let Some((start, len, pid)) = held_lock(&theirs, slot << 16) {
                take_lock(&mine, start, len);
                println!("forged slot {slot} ({start}+{len}) of pid {pid} from {name} into {target}");
                copied += 1;
            }
        }
    }
    println!("forgeries {copied}");
    let _ = std::io::stdout().flush();
    wait_for_parent();
}

/// Child (root): creates a `SharedInt` named `NAME`, prints its handle,
/// and keeps it until its stdin closes (then its drop removes it) or it
/// is killed (then it is stale). On a line `scan NAME` it looks at
/// everything in /dev/shm, and at `NAME` in particular, every way the
/// library can, and prints `scanned`.
fn hold() {
    let int = SharedInt::create_named(&arg("NAME"), 5).unwrap_or_else(|e| panic!("holder: create: {e}"));
    println!("holding {}", int.handle());
    let _ = std::io::stdout().flush();
    for line in std::io::stdin().lines().map_while(Result::ok) {
        if let Some(name) = line.strip_prefix("scan ") {
            println!("list_segments: {:?}", list_segments().map(|all| all.len()));
            println!("find_stale: {:?}", find_stale().map(|all| all.len()));
            println!("inspect_segment({name}): {:?}", inspect_segment(name).map(|info| info.status));
            let handle = with_name(&int.handle(), name);
            println!("load_sharedobject({name}): {:?}", SharedInt::load_sharedobject(&handle).map(|i| i.read()));
            println!("Peek::open({name}): {:?}", Peek::open(&handle).map(|p| p.kind()));
            println!("clean_stale: {:?}", clean_stale().map(|all| all.len()));
            println!("scanned");
            let _ = std::io::stdout().flush();
        }
    }
}

// ---------------------------------------------------------------- operations

/// Child: runs one operation and panics unless it did what the fixed
/// library must do.
fn op(name: &str) {
    match name {
        "inspect" => op_inspect(),
        "list" => op_list(),
        "find-stale" => op_find_stale(),
        "clean" => op_clean(),
        "create" => op_create(),
        "create-invalid" => op_create_invalid(),
        "create-refused" => op_create_refused(),
        "load-refused" => op_load_refused(),
        "open-abandoned" => op_open_abandoned(),
        "takeover-write" => op_takeover_write(),
        "takeover-ring" => op_takeover_ring(),
        other => panic!("unknown operation {other}"),
    }
    println!("{DONE}");
}

/// `inspect_segment(NAME)` gives what `EXPECT` says: `live`, `stale PID`,
/// `not-a-file`, or `not-followed` (`NotAFile`, or the `ELOOP` of a
/// refused symbolic link).
fn op_inspect() {
    let name = arg("NAME");
    let expect = arg("EXPECT");
    let found = inspect_segment(&name);
    let ok = match (expect.split_whitespace().collect::<Vec<_>>().as_slice(), &found) {
        (["live"], Ok(info)) => info.status == Status::Live,
        (["stale", pid], Ok(info)) => info.status == Status::Stale { creator_pid: pid.parse().expect("pid") },
        (["not-a-file" | "not-followed"], Err(InspectError::NotAFile { name: found })) => *found == name,
        (["not-followed"], Err(InspectError::Io { source, .. })) => source.raw_os_error() == Some(libc::ELOOP),
        _ => false,
    };
    let found = found.map(|info| info.status);
    assert!(ok, "inspect_segment({name:?}): expected {expect}, got {found:?}");
    println!("inspect_segment({name:?}): {found:?}");
}

/// `list_segments` lists every name in `STALE` as stale or abandoned, and
/// none in `FOREIGN` as shm's.
fn op_list() {
    let all: BTreeMap<String, Status> =
        list_segments().expect("list_segments").into_iter().map(|info| (info.name, info.status)).collect();
    println!("list_segments: {all:?}");
    for name in arg_words("STALE") {
        assert!(all.get(&name).is_some_and(|s| s.is_stale()), "{name} not listed as stale: {:?}", all.get(&name));
    }
    for name in arg_words("FOREIGN") {
        assert!(all.get(&name).is_none_or(|s| !s.is_shm()), "{name} listed as shm's: {:?}", all.get(&name));
    }
}

/// `find_stale` finds every name in `STALE` and none in `FOREIGN`.
fn op_find_stale() {
    let found: Vec<String> = find_stale().expect("find_stale").into_iter().map(|info| info.name).collect();
    println!("find_stale: {found:?}");
    for name in arg_words("STALE") {
        assert!(found.contains(&name), "find_stale did not find {name}");
    }
    for name in arg_words("FOREIGN") {
        assert!(!found.contains(&name), "find_stale calls {name} stale");
    }
}

/// `clean_stale` removes every name in `REMOVED` and leaves every name in
/// `KEPT`.
fn op_clean() {
    let removed: Vec<String> = clean_stale().expect("clean_stale").into_iter().map(|info| info.name).collect();
    println!("clean_stale removed: {removed:?}");
    for name in arg_words("REMOVED") {
        assert!(removed.contains(&name), "clean_stale did not remove {name}");
        assert!(std::fs::symlink_metadata(shm_path(&name)).is_err(), "{name} is still there");
    }
    for name in arg_words("KEPT") {
        assert!(!removed.contains(&name), "clean_stale removed {name}");
        assert!(std::fs::symlink_metadata(shm_path(&name)).is_ok(), "{name} is gone");
    }
}

/// This process's first create (which sweeps stale segments first)
/// succeeds; the segment goes with its drop.
fn op_create() {
    let name = arg("NAME");
    let int = SharedInt::create_named(&name, 1).unwrap_or_else(|e| panic!("create_named({name:?}): {e}"));
    println!("created {}", int.handle());
    int.cleanup().expect("cleanup");
}

/// `create_named` of each name in `NAMES` (files that are not shm's, or
/// not regular files) is `AlreadyExists` at once, and the file stays as it
/// was.
fn op_create_refused() {
    let mut wrong = Vec::new();
    for name in arg_words("NAMES") {
        let path = shm_path(&name);
        let before = snapshot(&path);
        let start = Instant::now();
        let created = SharedInt::create_named(&name, 1);
        let took = start.elapsed();
        let after = snapshot(&path);
        match &created {
            Err(e @ CreateError::AlreadyExists { .. }) if took < PROMPT && after == before => println!("{name}: {e}"),
            other => {
                let other = other.as_ref().map(|_| "created");
                wrong.push(format!("create_named({name}): {other:?} after {took:?}; {before:?} became {after:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// This process's first creates, all with the invalid `NAME`, are each
/// refused with `InvalidName`.
fn op_create_invalid() {
    let name = arg("NAME");
    let refused = |what: &str, result: Result<(), CreateError>| match result {
        Err(CreateError::InvalidName(e)) => println!("{what}: {e}"),
        other => panic!("{what} with a {}-byte name: expected InvalidName, got {other:?}", name.len()),
    };
    refused("SharedInt::create_named", SharedInt::create_named(&name, 1).map(drop));
    refused("SharedBool::create_named", SharedBool::create_named(&name, true).map(drop));
    refused("SharedString::create_named", SharedString::create_named(&name, 8).map(drop));
    refused("SharedBytes::create_named", SharedBytes::create_named(&name, 8).map(drop));
    refused("Shared::<u64>::create_named", Shared::<u64>::create_named(&name, &1).map(drop));
    refused("SharedArray::<u32>::create_named", SharedArray::<u32>::create_named(&name, 2).map(drop));
    refused("MemoryInterface::<u64>::create_named", MemoryInterface::<u64>::create_named(&name, 2).map(drop));
    refused("ByteRing::create_named", ByteRing::<Producer>::create_named(&name, 16, 2).map(drop));
}

/// One way to open a segment, named.
type Attempt<'a> = (&'static str, Box<dyn Fn() -> Result<(), OpenError> + 'a>);

/// Opening each handle in `HANDLES` is refused at once, with `NotAFile`
/// naming the segment and what was found (`FOUND`: `fifo` or `link`),
/// whatever the options; `Peek` too.
fn op_load_refused() {
    let found_word = arg("FOUND");
    let mut wrong = Vec::new();
    for text in arg_words("HANDLES") {
        let handle: Handle = text.parse().expect("handle");
        let name = handle.name().clone();
        let any = OpenOptions::new().allow_any_owner_and_mode();
        let attempts: [Attempt<'_>; 3] = [
            ("SharedInt::load_sharedobject", Box::new(|| SharedInt::load_sharedobject(&handle).map(drop))),
            ("...with any owner and mode", Box::new(|| SharedInt::load_sharedobject_with(&handle, &any).map(drop))),
            ("Peek::open", Box::new(|| Peek::open(&handle).map(drop))),
        ];
        for (what, attempt) in attempts {
            let start = Instant::now();
            let result = attempt();
            let took = start.elapsed();
            let right = match &result {
                Err(e @ OpenError::NotAFile { name: refused, found }) => {
                    println!("{what}({name}): {e}");
                    *refused == name
                        && found.to_lowercase().contains(&found_word)
                        && e.to_string().contains(name.as_str())
                }
                _ => false,
            };
            if !right || took >= PROMPT {
                let result = result.map(|()| "opened it");
                wrong.push(format!(
                    "{what}({name}): {result:?} after {took:?}, expected NotAFile ({found_word}) at once"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Opening `HANDLE`, whose creator (`PID`) died while initializing it, is
/// `InitAbandoned` at once.
fn op_open_abandoned() {
    let handle: Handle = arg("HANDLE").parse().expect("handle");
    let pid: u64 = arg("PID").parse().expect("pid");
    let start = Instant::now();
    let result = SharedInt::load_sharedobject(&handle);
    let took = start.elapsed();
    match result {
        Err(OpenError::InitAbandoned { creator_pid, .. }) => assert_eq!(creator_pid, pid),
        Err(e) => panic!("expected InitAbandoned (creator {pid} is dead), got {e:?}"),
        Ok(_) => panic!("opened a segment whose creator died before publishing it"),
    }
    assert!(took < PROMPT, "InitAbandoned took {took:?}");
}

/// A write to the `Shared<u64>` `HANDLE`, whose writer lock a dead process
/// holds, takes the lock over at once.
fn op_takeover_write() {
    let handle: Handle = arg("HANDLE").parse().expect("handle");
    let state = Shared::<u64>::load_sharedobject(&handle).expect("open the state");
    let start = Instant::now();
    let written = state.write(&77);
    let took = start.elapsed();
    assert!(written.is_ok(), "write over a dead holder's lock: {written:?} after {took:?}");
    assert!(took < PROMPT, "taking a dead holder's lock over took {took:?}");
    assert_eq!(state.read(), 77);
}

/// Attaching as the producer of the ring `HANDLE`, whose producer is dead,
/// takes the role over.
fn op_takeover_ring() {
    let handle: Handle = arg("HANDLE").parse().expect("handle");
    let start = Instant::now();
    let attached = MemoryInterface::<u64, Producer>::load_sharedobject(&handle);
    let took = start.elapsed();
    let mut producer = attached.unwrap_or_else(|e| panic!("attach over a dead producer: {e:?} after {took:?}"));
    assert!(took < PROMPT, "taking a dead producer's role over took {took:?}");
    assert!(producer.write(&1).is_ok(), "the new producer cannot write");
}

// ---------------------------------------------------------------- scenarios

/// The dead victim of a scenario: its pid, its identity, and handles of
/// what it left (see [`victim`]).
struct Remains {
    pid: u32,
    identity: u64,
    int: Handle,
    locked: Handle,
    ring: Handle,
    init: Handle,
    /// A name `create_named` takes over once the victim is dead.
    taken: String,
}

/// Starts a [`victim`] under `prefix`, waits until it holds its writer
/// lock, and returns it with what it made.
fn start_victim(test: &str, prefix: &str) -> (Peer, Remains) {
    let peer = Peer::spawn(test, "victim", &[arg_pair("PREFIX", &prefix)], "victim (root)");
    let handles: Vec<Handle> = peer.line("handles").split(' ').map(|h| h.parse().expect("victim's handle")).collect();
    peer.line("locked");
    let init = with_name(&handles[0], &format!("{prefix}init"));
    let remains = Remains {
        pid: peer.pid(),
        identity: creator_identity(&format!("{prefix}int")),
        int: handles[0].clone(),
        locked: handles[1].clone(),
        ring: handles[2].clone(),
        init,
        taken: format!("{prefix}taken"),
    };
    (peer, remains)
}

impl Remains {
    /// What the victim left for `clean_stale`, as names.
    fn names(&self) -> String {
        [&self.int, &self.locked, &self.ring, &self.init].map(|h| h.name().as_str()).join(" ")
    }

    /// Everything the victim left, as names.
    fn all_names(&self) -> String {
        format!("{} {}", self.names(), self.taken)
    }
}

/// Checks that take over or clean up what a dead victim left: each in a
/// fresh process, each bounded.
fn check_dead_victim(test: &str, f: &mut Failures, dead: &Remains, foreign: &str) {
    let pid = dead.pid;
    let stale = || [arg_pair("STALE", &dead.all_names()), arg_pair("FOREIGN", &foreign)];
    run_op(test, f, "list_segments", "list", &stale());
    run_op(test, f, "find_stale", "find-stale", &stale());
    let expect = [arg_pair("NAME", &dead.int.name()), arg_pair("EXPECT", &format!("stale {pid}"))];
    run_op(test, f, "inspect_segment of the dead victim's segment", "inspect", &expect);
    let args = [arg_pair("HANDLE", &dead.init), arg_pair("PID", &pid)];
    run_op(test, f, "open of a segment whose creator died initializing it", "open-abandoned", &args);
    let args = [arg_pair("HANDLE", &dead.locked)];
    run_op(test, f, "write taking over the dead victim's writer lock", "takeover-write", &args);
    let args = [arg_pair("HANDLE", &dead.ring)];
    run_op(test, f, "producer taking over the dead victim's ring role", "takeover-ring", &args);
    let args = [arg_pair("NAME", &format!("{NAME_PREFIX}fresh-{pid}"))];
    run_op(test, f, "first create of a fresh process (stale sweep)", "create", &args);
    let args = [arg_pair("NAME", &dead.taken)];
    run_op(test, f, "create_named taking over the dead victim's name", "create", &args);
    let args = [arg_pair("REMOVED", &dead.names()), arg_pair("KEPT", &foreign)];
    run_op(test, f, "clean_stale", "clean", &args);
    if !foreign.is_empty() {
        let args = [arg_pair("NAMES", &foreign)];
        run_op(test, f, "create_named over what is not shm's", "create-refused", &args);
    }
}

/// A fresh root process creates `shmrs-<tag>-held` while the lock file is
/// whatever the attacker made of it: it must get working liveness (a lock
/// slot in a lock file of its own, not the pid-only fallback; its segment
/// `Live` while it runs, `Stale` once it is killed). Returns the segment's
/// handle.
fn check_fresh_liveness(test: &str, f: &mut Failures, tag: &str) -> Handle {
    let name = format!("{NAME_PREFIX}{tag}-held");
    let holder = Peer::spawn(test, "hold", &[arg_pair("NAME", &name)], &format!("{tag}: holder (root)"));
    let handle: Handle = holder.line("holding").parse().expect("holder's handle");
    let pid = holder.pid();
    let identity = creator_identity(&name);
    f.expect(slot_and_token(identity).0 != 0, || {
        format!("{tag}: the holder got no lock slot (identity {identity:#x}): liveness fell back to its pid alone")
    });
    let args = [arg_pair("NAME", &name), arg_pair("EXPECT", &"live")];
    run_op(test, f, &format!("{tag}: inspect_segment while its creator lives"), "inspect", &args);
    holder.kill();
    let args = [arg_pair("NAME", &name), arg_pair("EXPECT", &format!("stale {pid}"))];
    run_op(test, f, &format!("{tag}: inspect_segment once its creator was killed"), "inspect", &args);
    handle
}

// ---------------------------------------------------------------- H1

/// H1, inside the namespace: FIFOs of uid 65534 named like lock files and
/// like a segment, a FIFO of root named like a segment; then everything
/// that reads liveness or opens names.
fn h1_scenario(test: &str) {
    let mut f = Failures::default();
    let lock_fifos = [".shmrs-live-x", ".shmrs-live-65534"];
    let (their_fifo, root_fifo) = ("shmrs-h1-fifo", "h1-root-fifo");
    mkfifo(root_fifo, 0o600);
    // Not FIFOs, but no more segments than they are.
    let (dir, socket) = ("shmrs-h1-dir", "shmrs-h1-socket");
    let plant_list =
        format!("fifo {};fifo {};fifo {their_fifo};dir {dir};socket {socket}", lock_fifos[0], lock_fifos[1]);
    run_setup(test, "plant", &[arg_pair("PLANT", &plant_list)], "planter (uid 65534)");

    let (victim, dead) = start_victim(test, "shmrs-h1-");
    victim.kill();

    for fifo in [their_fifo, root_fifo] {
        let args = [arg_pair("NAME", &fifo), arg_pair("EXPECT", &"not-a-file")];
        run_op(test, &mut f, &format!("inspect_segment of the FIFO {fifo}"), "inspect", &args);
    }
    let handles = format!("{} {}", with_name(&dead.int, their_fifo), with_name(&dead.int, root_fifo));
    let args = [arg_pair("HANDLES", &handles), arg_pair("FOUND", &"fifo")];
    run_op(test, &mut f, "load_sharedobject of the FIFOs' names", "load-refused", &args);
    for (name, kind) in [(dir, "directory"), (socket, "socket")] {
        let args = [arg_pair("HANDLES", &with_name(&dead.int, name)), arg_pair("FOUND", &kind)];
        run_op(test, &mut f, &format!("load_sharedobject of a {kind}'s name"), "load-refused", &args);
    }
    check_dead_victim(test, &mut f, &dead, &format!("{their_fifo} {root_fifo} {dir} {socket}"));

    for fifo in lock_fifos.iter().chain(&[their_fifo, root_fifo]) {
        f.expect(is_fifo(fifo), || format!("the FIFO {fifo} is gone or changed"));
    }
    f.finish(test);
}

/// H1: a FIFO planted by another user under a lock file's name or a
/// segment's name never blocks anything: `create` (the stale sweep), an
/// open that takes a dead holder's lock or role over, `clean_stale`,
/// `find_stale`, `list_segments`, `inspect_segment` and
/// `load_sharedobject` of the FIFO's name (and of a directory's and a
/// socket's) all return at once, and the FIFO is refused (`NotAFile`) or
/// skipped.
#[test]
fn h1_fifos_named_like_lock_files_or_segments_block_nothing() {
    const TEST: &str = "h1_fifos_named_like_lock_files_or_segments_block_nothing";
    if as_role(TEST, h1_scenario) {
        return;
    }
    run_in_private_shm(TEST, "64m");
}

/// H1, inside the namespace: the lock file root's processes would use is
/// a FIFO of uid 65534.
fn h1_own_lock_file_scenario(test: &str) {
    let mut f = Failures::default();
    run_setup(test, "plant", &[arg_pair("PLANT", &"fifo .shmrs-live-0")], "planter (uid 65534)");
    check_fresh_liveness(test, &mut f, "h1-lock-fifo");
    let args = [arg_pair("REMOVED", &format!("{NAME_PREFIX}h1-lock-fifo-held")), arg_pair("KEPT", &"")];
    run_op(test, &mut f, "clean_stale", "clean", &args);
    f.expect(is_fifo(".shmrs-live-0"), || "the planted FIFO is gone or changed".to_owned());
    f.finish(test);
}

/// H1: a FIFO planted by another user where this user's lock file belongs,
/// before its first use: processes still get working liveness, and
/// nothing blocks.
#[test]
fn h1_fifo_in_place_of_the_lock_file_still_gives_working_liveness() {
    const TEST: &str = "h1_fifo_in_place_of_the_lock_file_still_gives_working_liveness";
    if as_role(TEST, h1_own_lock_file_scenario) {
        return;
    }
    run_in_private_shm(TEST, "64m");
}

// ---------------------------------------------------------------- H2

/// H2, inside the namespace.
fn h2_scenario(test: &str) {
    let mut f = Failures::default();
    let secret = shm_path("h2-root-secret");
    let (_, kept) = plant_file("h2-root-secret", b"root's secret\n");
    std::mem::forget(kept);
    let secret_before = snapshot(&secret);

    // Root's lock file name is a link to root's 0600 file, before any of
    // root's processes used it.
    let links = "symlink .shmrs-live-0 /dev/shm/h2-root-secret;symlink shmrs-h2-to-secret /dev/shm/h2-root-secret";
    run_setup(test, "plant", &[arg_pair("PLANT", &links)], "planter (uid 65534)");
    let held = check_fresh_liveness(test, &mut f, "h2-followed");
    f.expect(snapshot(&secret) == secret_before, || {
        format!("the link's target changed: {:?} became {:?}", secret_before, snapshot(&secret))
    });

    // Links named like segments: to a real segment of root, to root's file.
    let target = shm_path(held.name().as_str());
    let target_before = snapshot(&target);
    let link = format!("symlink shmrs-h2-to-segment {}", target.display());
    run_setup(test, "plant", &[arg_pair("PLANT", &link)], "planter (uid 65534)");
    let handles = format!("{} {}", with_name(&held, "shmrs-h2-to-segment"), with_name(&held, "shmrs-h2-to-secret"));
    let args = [arg_pair("HANDLES", &handles), arg_pair("FOUND", &"link")];
    run_op(test, &mut f, "load_sharedobject through links named like segments", "load-refused", &args);
    let args = [arg_pair("NAME", &"shmrs-h2-to-segment"), arg_pair("EXPECT", &"not-followed")];
    run_op(test, &mut f, "inspect_segment of a link", "inspect", &args);
    let args = [arg_pair("NAMES", &"shmrs-h2-to-segment shmrs-h2-to-secret")];
    run_op(test, &mut f, "create_named over links", "create-refused", &args);
    f.expect(snapshot(&target) == target_before, || {
        format!("the segment behind the link changed: {target_before:?} became {:?}", snapshot(&target))
    });
    f.expect(snapshot(&secret) == secret_before, || {
        format!("root's file behind the links changed: {:?} became {:?}", secret_before, snapshot(&secret))
    });

    // A dangling link where root's lock file belongs: its target must not
    // be created.
    std::fs::remove_file(shm_path(".shmrs-live-0")).expect("remove the first link");
    let dangling = "symlink .shmrs-live-0 /dev/shm/h2-must-not-exist";
    run_setup(test, "plant", &[arg_pair("PLANT", &dangling)], "planter (uid 65534)");
    check_fresh_liveness(test, &mut f, "h2-dangling");
    f.expect(snapshot(&shm_path("h2-must-not-exist")).is_none(), || {
        "root created the dangling link's target /dev/shm/h2-must-not-exist".to_owned()
    });
    f.finish(test);
}

/// H2: links planted by another user are never followed. Where root's lock
/// file belongs (`.shmrs-live-0`, before root's first use): a link to a
/// root-owned 0600 file leaves that file's mode and contents as they were,
/// a dangling link's target is not created, and root's processes still
/// get working liveness. Named like a segment: opening is refused with
/// `NotAFile` and the target is untouched.
#[test]
fn h2_symlinks_named_like_lock_files_or_segments_are_not_followed() {
    const TEST: &str = "h2_symlinks_named_like_lock_files_or_segments_are_not_followed";
    if as_role(TEST, h2_scenario) {
        return;
    }
    run_in_private_shm(TEST, "64m");
}

/// H2, inside the namespace.
fn h2_hard_link_scenario(test: &str) {
    let mut f = Failures::default();
    let name = format!("{NAME_PREFIX}h2-hard-held");
    let mut holder = Peer::spawn(test, "hold", &[arg_pair("NAME", &name)], "holder (root)");
    holder.line("holding");
    let identity = creator_identity(&name);
    let (slot, _) = slot_and_token(identity);
    assert_ne!(slot, 0, "setup: the holder got no lock slot (identity {identity:#x})");
    // Which lock file holds the holder's lock: that one gets a second name.
    let lock_file = std::fs::read_dir("/dev/shm")
        .expect("list /dev/shm")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".shmrs-live-"))
        .find(|n| File::open(shm_path(n)).is_ok_and(|file| held_lock(&file, slot << 16).is_some()))
        .expect("setup: no lock file holds the holder's lock");
    let link = "shmrs-h2-hard-link";
    std::fs::hard_link(shm_path(&lock_file), shm_path(link)).expect("hard-link the lock file");
    println!("{link} is a second name of the holder's lock file {lock_file}");

    holder.send(&format!("scan {link}"));
    holder.line("scanned");
    let args = [arg_pair("NAME", &name), arg_pair("EXPECT", &"live")];
    run_op(test, &mut f, "inspect_segment of the holder's segment after it looked at the link", "inspect", &args);
    let pid = holder.pid();
    holder.kill();
    let args = [arg_pair("NAME", &name), arg_pair("EXPECT", &format!("stale {pid}"))];
    run_op(test, &mut f, "inspect_segment once the holder was killed", "inspect", &args);
    f.finish(test);
}

/// H2: a process's own lock file under a segment's name (a hard link,
/// which another user can make where `fs.protected_hardlinks` is off;
/// made by root here): the process lists, inspects, opens and cleans
/// /dev/shm, that name included, and must still be alive for others (a
/// process that opens and closes its lock file under another name drops
/// its own liveness lock).
#[test]
fn h2_the_lock_file_under_a_segment_name_does_not_drop_liveness() {
    const TEST: &str = "h2_the_lock_file_under_a_segment_name_does_not_drop_liveness";
    if as_role(TEST, h2_hard_link_scenario) {
        return;
    }
    run_in_private_shm(TEST, "64m");
}

// ---------------------------------------------------------------- H3

/// H3, inside the namespace: a victim, and a forger that copies its lock
/// range into `target` (planted first as the forger's own empty file when
/// `plant_first`, so that it exists before root's first use).
fn forged_liveness(test: &str, target: &str, plant_first: bool) {
    let mut f = Failures::default();
    if plant_first {
        run_setup(test, "plant", &[arg_pair("PLANT", &format!("file {target}"))], "planter (uid 65534)");
    }
    let (victim, dead) = start_victim(test, "shmrs-h3-");
    let (slot, token) = slot_and_token(dead.identity);
    assert_ne!(slot, 0, "the victim got no lock slot (identity {:#x}): liveness fell back to its pid", dead.identity);

    let forger = Peer::spawn(test, "forge", &[arg_pair("TARGET", &target)], "forger (uid 65534)");
    let copied = forger.line("forgeries");
    // The forgery is in place: the forger holds the victim's exact range
    // in its file.
    let theirs = File::open(shm_path(target)).expect("open the forger's lock file");
    let held = held_lock(&theirs, slot << 16);
    let forger_pid = i32::try_from(forger.pid()).expect("pid");
    assert_eq!(held, Some((slot << 16, token, forger_pid)), "setup: the forgery is not in place ({copied} copied)");
    println!("the forger (pid {forger_pid}) holds the victim's range {}+{token} in {target}", slot << 16);

    victim.kill();
    check_dead_victim(test, &mut f, &dead, "");
    forger.kill();
    f.finish(test);
}

fn h3_scenario(test: &str) {
    forged_liveness(test, &format!(".shmrs-live-{NOBODY}"), false);
}

fn h3_own_name_scenario(test: &str) {
    forged_liveness(test, ".shmrs-live-0", true);
}

/// H3: another user copies the lock ranges of our live processes (which
/// `F_GETLK` on our lock file shows) into its own lock file and stays
/// alive; our processes that die must still count as dead: the victim's
/// segments are `Stale` and removed by `clean_stale`, its writer lock and
/// ring role are taken over at once.
#[test]
fn h3_forged_liveness_does_not_keep_the_dead_alive() {
    const TEST: &str = "h3_forged_liveness_does_not_keep_the_dead_alive";
    if as_role(TEST, h3_scenario) {
        return;
    }
    run_in_private_shm(TEST, "64m");
}

/// H3: another user makes root's lock file (`.shmrs-live-0`, an empty
/// regular file of its own) before root's first use, then copies root's
/// live lock ranges into it: a lock file counts by its owner, not by its
/// name, so root's processes use one of their own and their deaths still
/// count.
#[test]
fn h3_forged_liveness_in_a_lock_file_named_for_root() {
    const TEST: &str = "h3_forged_liveness_in_a_lock_file_named_for_root";
    if as_role(TEST, h3_own_name_scenario) {
        return;
    }
    run_in_private_shm(TEST, "64m");
}

// ---------------------------------------------------------------- H4

/// 4096 bytes of another program: zeros where shm's magic and state would
/// be, a dead pid where shm's creator word would be, data elsewhere.
fn other_program_bytes(dead: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..4096u32).map(|i| u8::try_from(i % 251).expect("below 251") | 1).collect();
    bytes[..16].fill(0);
    bytes[72..80].copy_from_slice(&dead.to_ne_bytes());
    bytes
}

/// H4, in the namespace or (without root) in the real /dev/shm.
fn h4_scenario(test: &str) {
    let mut f = Failures::default();
    let tag = std::process::id();
    let dead = dead_pid();
    let files = [
        (format!("h4-other-program-{tag}"), other_program_bytes(dead)),
        (format!("{NAME_PREFIX}h4-other-program-{tag}"), other_program_bytes(dead)),
        (format!("h4-zeros-{tag}"), vec![0; 4096]),
        (format!("h4-empty-{tag}"), Vec::new()),
    ];
    let _planted: Vec<Planted> = files
        .iter()
        .map(|(name, bytes)| {
            let (file, guard) = plant_file(name, bytes);
            backdate(&file);
            guard
        })
        .collect();
    let untouched = |f: &mut Failures, when: &str| {
        for (name, bytes) in &files {
            let now = std::fs::read(shm_path(name));
            f.expect(now.as_ref().is_ok_and(|now| now == bytes), || format!("{when}: {name} was removed or changed"));
        }
    };

    for (name, _) in &files {
        let status = inspect_segment(name).map(|info| info.status);
        f.expect(matches!(status, Ok(Status::Foreign)), || format!("inspect_segment({name}): {status:?}, not Foreign"));
    }
    let listed: BTreeMap<String, Status> =
        list_segments().expect("list_segments").into_iter().map(|info| (info.name, info.status)).collect();
    for (name, _) in &files {
        let status = listed.get(name);
        f.expect(status == Some(&Status::Foreign), || format!("list_segments lists {name} as {status:?}"));
    }
    let stale: Vec<String> = find_stale().expect("find_stale").into_iter().map(|info| info.name).collect();
    for (name, _) in &files {
        f.expect(!stale.contains(name), || format!("find_stale would remove {name}"));
    }
    let args = [arg_pair("NAME", &format!("{NAME_PREFIX}h4-fresh-{tag}"))];
    run_op(test, &mut f, "first create of a fresh process (stale sweep)", "create", &args);
    let names = files.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(" ");
    run_op(test, &mut f, "create_named over another program's files", "create-refused", &[arg_pair("NAMES", &names)]);
    untouched(&mut f, "after a fresh process's first create");
    let removed: Vec<String> = clean_stale().expect("clean_stale").into_iter().map(|info| info.name).collect();
    for (name, _) in &files {
        f.expect(!removed.contains(name), || format!("clean_stale removed {name}"));
    }
    untouched(&mut f, "after clean_stale");
    f.finish(test);
}

/// H4: another program's files in /dev/shm with zeros where the magic
/// would be (4096 bytes, zeros at 0..16, a dead pid at offset 72), under a
/// name of their own and under an `shmrs-` name, and all-zero and empty
/// files under a name of their own, all old: `Foreign`, never listed as
/// removable, left in place by `clean_stale` and by a fresh process's
/// first `create`.
#[test]
fn h4_another_programs_files_are_never_taken_for_ours() {
    const TEST: &str = "h4_another_programs_files_are_never_taken_for_ours";
    if as_role(TEST, h4_scenario) {
        return;
    }
    if is_root() {
        run_in_private_shm(TEST, "64m");
    } else {
        println!("{TEST}: not root, so against the real /dev/shm");
        h4_scenario(TEST);
    }
}

// ---------------------------------------------------------------- H5

/// A sparse copy of a real `SharedBytes`: its header with a payload for
/// `capacity` bytes, the cell's capacity word and slot 0's length set,
/// and a file that long with nothing allocated past its first page.
struct Sparse {
    handle: Handle,
    size: u64,
    _file: Planted,
}

impl Sparse {
    fn craft(real: &SharedBytes, name: &str, capacity: u64, stored_len: u64) -> Self {
        // FORMAT.md, the byte cell: 4 prefix words, then two slots of
        // 2 + ceil(C / 8) words.
        let payload_size = 8 * (4 + 2 * (2 + capacity.div_ceil(8)));
        let mut bytes = header_bytes(real.name().as_str());
        bytes[OFF_PAYLOAD_SIZE..OFF_PAYLOAD_SIZE + 8].copy_from_slice(&payload_size.to_ne_bytes());
        // Words lock, current, capacity, reserved, slot 0 seq, slot 0 len.
        for word in [0, 0, capacity, 0, 0, stored_len] {
            bytes.extend_from_slice(&word.to_ne_bytes());
        }
        let (file, guard) = plant_file(name, &bytes);
        let size = 128 + payload_size;
        file.set_len(size).expect("set the sparse size");
        let meta = file.metadata().expect("fstat");
        assert!(meta.blocks() * 512 < size, "setup: {name} is not sparse ({} blocks)", meta.blocks());
        let handle = with_size_and_name(&real.handle(), payload_size, name);
        Self { handle, size, _file: guard }
    }

    fn args(&self) -> [(String, String); 2] {
        [arg_pair("HANDLE", &self.handle), arg_pair("SIZE", &self.size)]
    }
}

/// `result` is `OpenError::Sparse` for `handle`'s segment of `size`
/// bytes, with fewer bytes allocated.
fn expect_sparse(what: &str, result: Result<(), OpenError>, handle: &Handle, size: u64) {
    match result {
        Err(e @ OpenError::Sparse { .. }) => {
            let OpenError::Sparse { name, size: found, allocated } = &e else { unreachable!() };
            assert_eq!(name, handle.name(), "{what}: {e}");
            assert_eq!(*found, size, "{what}: {e}");
            assert!(*allocated < size, "{what}: {e}");
            assert!(e.to_string().contains(name.as_str()), "{what}: the message does not name {name}: {e}");
            println!("{what}: {e}");
        }
        Err(e) => panic!("{what}: expected Sparse, got {e:?}"),
        Ok(()) => panic!("{what}: opened a sparse file"),
    }
}

/// Child: opens the sparse segment `HANDLE` (of `SIZE` bytes, claiming a
/// 32 GiB value) every way there is; each must be refused with `Sparse`.
/// A data limit of 1 GiB makes a read that believes the length abort
/// instead of allocating 32 GiB.
fn sparse_open() {
    // Not under AddressSanitizer (`.ci/asan` sets ASAN_OPTIONS): its shadow
    // memory needs more than the limit allows, and its allocator refuses a
    // 32 GiB allocation by itself.
    if std::env::var_os("ASAN_OPTIONS").is_none() {
        let limit = rustix::process::Rlimit { current: Some(1 << 30), maximum: None };
        rustix::process::setrlimit(rustix::process::Resource::Data, limit).expect("setrlimit(RLIMIT_DATA)");
    }
    let handle: Handle = arg("HANDLE").parse().expect("handle");
    let size: u64 = arg("SIZE").parse().expect("size");
    let read = |bytes: SharedBytes| {
        println!("opened the sparse file; reading its 32 GiB value");
        let _ = std::io::stdout().flush();
        let _ = bytes.read();
    };
    expect_sparse("SharedBytes::load_sharedobject", SharedBytes::load_sharedobject(&handle).map(read), &handle, size);
    let any = OpenOptions::new().allow_any_owner_and_mode();
    let opened = SharedBytes::load_sharedobject_with(&handle, &any).map(read);
    expect_sparse("SharedBytes::load_sharedobject_with(any owner and mode)", opened, &handle, size);
    expect_sparse("Peek::open", Peek::open(&handle).map(drop), &handle, size);
}

/// Child: opens the sparse segment `HANDLE` and, if that succeeds, writes
/// 16 MiB into the file's holes, more than the namespace's tmpfs holds.
fn sparse_write() {
    let handle: Handle = arg("HANDLE").parse().expect("handle");
    let size: u64 = arg("SIZE").parse().expect("size");
    let write = |bytes: SharedBytes| {
        println!("opened the sparse file; writing 16 MiB into its holes");
        let _ = std::io::stdout().flush();
        let _ = bytes.write(&vec![0xab; 16 << 20]);
    };
    expect_sparse("SharedBytes::load_sharedobject", SharedBytes::load_sharedobject(&handle).map(write), &handle, size);
}

/// H5: a sparse file of this user (mode 0600) with a valid header and a
/// size of 64 GiB, whose value claims 32 GiB, is refused on open with
/// `Sparse` (no `SIGBUS`, no huge allocation); a real segment still opens.
#[test]
fn h5_sparse_file_with_a_valid_header_is_refused() {
    const TEST: &str = "h5_sparse_file_with_a_valid_header_is_refused";
    if as_role(TEST, no_scenario) {
        return;
    }
    let real = SharedBytes::create_named(&unique_name("h5-real"), 64).expect("create");
    real.write(b"real").expect("write");
    let sparse = Sparse::craft(&real, &unique_name("h5-sparse"), 32 << 30, 32 << 30);
    let opener = Peer::spawn(TEST, "sparse-open", &sparse.args(), "opener of the sparse file");
    let result = opener.finish(Duration::from_secs(60));
    let peer = SharedBytes::load_sharedobject(&real.handle()).expect("a real segment still opens");
    assert_eq!(peer.read().expect("read"), b"real");
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// H5, inside a namespace whose tmpfs holds 8 MiB.
fn h5_sigbus_scenario(test: &str) {
    let real = SharedBytes::create_named("shmrs-h5-real", 64).expect("create");
    let sparse = Sparse::craft(&real, "shmrs-h5-sparse", 64 << 20, 0);
    let result = Peer::spawn(test, "sparse-write", &sparse.args(), "writer of the sparse file").finish(OP_LIMIT);
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// H5: a sparse segment of 128 MiB on a tmpfs of 8 MiB is refused on open
/// with `Sparse`, before a write into its holes can raise `SIGBUS`.
#[test]
fn h5_sparse_file_is_refused_before_a_write_can_raise_sigbus() {
    const TEST: &str = "h5_sparse_file_is_refused_before_a_write_can_raise_sigbus";
    if as_role(TEST, h5_sigbus_scenario) {
        return;
    }
    run_in_private_shm(TEST, "8m");
}

// ---------------------------------------------------------------- H6

/// Runs calls on their own threads, each bounded in time, and collects
/// what went wrong (a failed check, a panic, a hang).
#[derive(Default)]
struct Bounded(Failures);

impl Bounded {
    /// Runs `f` on a thread; `None` (and a failure) when it returned an
    /// error, panicked or did not return within 10 s.
    fn run<T: Send + 'static>(
        &mut self,
        what: &str,
        f: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Option<T> {
        let limit = Duration::from_secs(10);
        let (tx, rx) = mpsc::channel();
        let worker = thread::spawn(move || {
            let _ = tx.send(f());
        });
        let outcome = match rx.recv_timeout(limit) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("did not return within {limit:?}")),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(match worker.join() {
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    format!("panicked: {message}")
                }
                Ok(()) => "ended without an answer".to_owned(),
            }),
        };
        println!("{what}: {}", if outcome.is_ok() { "ok" } else { "FAILED" });
        match outcome {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.expect(false, || format!("{what}: {e}"));
                None
            }
        }
    }
}

/// `Duration::ZERO` or `Duration::MAX`, in words.
fn label(wait: Duration) -> &'static str {
    if wait == Duration::MAX { "Duration::MAX" } else { "Duration::ZERO" }
}

/// The `Debug` of an error, for a failure message.
fn debug<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Opens `handle` with `wait` through `load_sharedobject_timeout` and
/// through `OpenOptions::wait`: both succeed (the segment is ready).
fn opens_with_wait<T: 'static>(
    b: &mut Bounded,
    ty: &str,
    handle: &Handle,
    wait: Duration,
    timeout: fn(&Handle, Duration) -> Result<T, OpenError>,
    with: fn(&Handle, &OpenOptions) -> Result<T, OpenError>,
) {
    let w = label(wait);
    let h = handle.clone();
    b.run(&format!("{ty}::load_sharedobject_timeout(_, {w})"), move || timeout(&h, wait).map(drop).map_err(debug));
    let h = handle.clone();
    let what = format!("{ty}::load_sharedobject_with(_, OpenOptions::new().wait({w}))");
    b.run(&what, move || with(&h, &OpenOptions::new().wait(wait)).map(drop).map_err(debug));
}

/// Every open with `Duration::ZERO` and `Duration::MAX`, of every type, on
/// ready segments.
fn h6_opens(b: &mut Bounded) {
    let int = SharedInt::create_sharedobject(1).expect("create");
    let flag = SharedBool::create_sharedobject(true).expect("create");
    let text = SharedString::create_sharedobject(8).expect("create");
    let bytes = SharedBytes::create_sharedobject(8).expect("create");
    let state = Shared::<u64>::create_sharedobject(&3).expect("create");
    let array = SharedArray::<u32>::create_from_slice(&[1, 2, 3]).expect("create");
    let part = array.part(1..).expect("part");
    let ring = MemoryInterface::<u64>::create_memorybuf(4).expect("create");
    let byte_ring = ByteRing::<Producer>::create_memorybuf(16, 4).expect("create");
    for wait in [Duration::ZERO, Duration::MAX] {
        let w = label(wait);
        opens_with_wait(
            b,
            "SharedInt",
            &int.handle(),
            wait,
            SharedInt::load_sharedobject_timeout,
            SharedInt::load_sharedobject_with,
        );
        opens_with_wait(
            b,
            "SharedBool",
            &flag.handle(),
            wait,
            SharedBool::load_sharedobject_timeout,
            SharedBool::load_sharedobject_with,
        );
        opens_with_wait(
            b,
            "SharedString",
            &text.handle(),
            wait,
            SharedString::load_sharedobject_timeout,
            SharedString::load_sharedobject_with,
        );
        opens_with_wait(
            b,
            "SharedBytes",
            &bytes.handle(),
            wait,
            SharedBytes::load_sharedobject_timeout,
            SharedBytes::load_sharedobject_with,
        );
        opens_with_wait(
            b,
            "Shared<u64>",
            &state.handle(),
            wait,
            Shared::<u64>::load_sharedobject_timeout,
            Shared::<u64>::load_sharedobject_with,
        );
        opens_with_wait(
            b,
            "SharedArray<u32>",
            &array.handle(),
            wait,
            SharedArray::<u32>::load_sharedobject_timeout,
            SharedArray::<u32>::load_sharedobject_with,
        );
        opens_with_wait(
            b,
            "MemoryInterface<u64, Consumer>",
            &ring.handle(),
            wait,
            MemoryInterface::<u64, Consumer>::load_sharedobject_timeout,
            MemoryInterface::<u64, Consumer>::load_sharedobject_with,
        );
        opens_with_wait(
            b,
            "ByteRing<Consumer>",
            &byte_ring.handle(),
            wait,
            ByteRing::<Consumer>::load_sharedobject_timeout,
            ByteRing::<Consumer>::load_sharedobject_with,
        );
        let h = int.handle();
        b.run(&format!("Peek::open_with(_, OpenOptions::new().wait({w}))"), move || {
            Peek::open_with(&h, &OpenOptions::new().wait(wait)).map(drop).map_err(debug)
        });
        let p = part.clone();
        b.run(&format!("SharedArrayPart::load_part_timeout(_, {w})"), move || {
            SharedArrayPart::<u32>::load_part_timeout(&p, wait).map(drop).map_err(debug)
        });
    }
}

/// Ring calls with `Duration::ZERO` and `Duration::MAX` where they can
/// return at once (room to write, an item to read, a peer attached), and
/// with `ZERO` where they cannot (a timeout at once).
fn h6_ring_calls(b: &mut Bounded) {
    let producer = MemoryInterface::<u64>::create_memorybuf(4).expect("create");
    let consumer = MemoryInterface::<u64, Consumer>::load_sharedobject(&producer.handle()).expect("open");
    let mut ends = Some((producer, consumer));
    for wait in [Duration::ZERO, Duration::MAX] {
        let Some((mut p, mut c)) = ends.take() else { return };
        ends = b.run(&format!("MemoryInterface ring calls with {}", label(wait)), move || {
            p.wait_for_peer(wait).map_err(|e| format!("producer wait_for_peer: {e:?}"))?;
            c.wait_for_peer(wait).map_err(|e| format!("consumer wait_for_peer: {e:?}"))?;
            p.wait_can_write(wait).map_err(|e| format!("wait_can_write: {e:?}"))?;
            p.write_timeout(&5, wait).map_err(|e| format!("write_timeout: {e:?}"))?;
            c.wait_can_read(wait).map_err(|e| format!("wait_can_read: {e:?}"))?;
            let read = c.read_timeout(wait).map_err(|e| format!("read_timeout: {e:?}"))?;
            if read != 5 {
                return Err(format!("read_timeout read {read}"));
            }
            Ok((p, c))
        });
    }
    if let Some((mut p, mut c)) = ends {
        b.run("MemoryInterface calls with Duration::ZERO that cannot succeed", move || {
            match c.read_timeout(Duration::ZERO) {
                Err(shm_runtime::RingError::Timeout { .. }) => {}
                other => return Err(format!("read_timeout(ZERO) on an empty ring: {other:?}")),
            }
            while p.write(&1).is_ok() {}
            match p.write_timeout(&1, Duration::ZERO) {
                Err(shm_runtime::RingError::Timeout { .. }) => Ok(()),
                other => Err(format!("write_timeout(ZERO) on a full ring: {other:?}")),
            }
        });
    }
    let producer = ByteRing::<Producer>::create_memorybuf(16, 16).expect("create");
    let consumer = ByteRing::<Consumer>::load_sharedobject(&producer.handle()).expect("open");
    let mut ends = Some((producer, consumer));
    for wait in [Duration::ZERO, Duration::MAX] {
        let Some((mut p, mut c)) = ends.take() else { return };
        ends = b.run(&format!("ByteRing calls with {}", label(wait)), move || {
            p.wait_for_peer(wait).map_err(|e| format!("producer wait_for_peer: {e:?}"))?;
            c.wait_for_peer(wait).map_err(|e| format!("consumer wait_for_peer: {e:?}"))?;
            p.write_timeout(b"one", wait).map_err(|e| format!("write_timeout: {e:?}"))?;
            p.write_partial(&[7; 40], wait).map_err(|e| format!("write_partial: {e:?}"))?;
            p.write_serde_timeout(&(3u32, "three"), wait).map_err(|e| format!("write_serde_timeout: {e:?}"))?;
            let mut message = Vec::new();
            c.read_timeout(&mut message, wait).map_err(|e| format!("read_timeout: {e:?}"))?;
            c.read_timeout(&mut message, wait).map_err(|e| format!("read_timeout: {e:?}"))?;
            let value: (u32, String) = c.read_serde_timeout(wait).map_err(|e| format!("read_serde_timeout: {e:?}"))?;
            if message != [7; 40] || value != (3, "three".to_owned()) {
                return Err(format!("read back {message:?} and {value:?}"));
            }
            Ok((p, c))
        });
    }
}

/// `Duration::MAX` is no deadline: calls that must wait for something do
/// wait for it (a thread brings it about 200 ms later), and do not give
/// up at once.
fn h6_max_waits(b: &mut Bounded) {
    let later = Duration::from_millis(200);
    let mut producer = MemoryInterface::<u64>::create_memorybuf(2).expect("create");
    let mut consumer = MemoryInterface::<u64, Consumer>::load_sharedobject(&producer.handle()).expect("open");
    b.run("MemoryInterface::read_timeout(MAX) on an empty ring waits for the item", move || {
        let writer = thread::spawn(move || {
            thread::sleep(later);
            producer.write(&9).map_err(|_| "write").map(|()| producer)
        });
        let start = Instant::now();
        let read = consumer.read_timeout(Duration::MAX);
        let took = start.elapsed();
        let mut producer = writer.join().map_err(|_| "writer panicked")?.map_err(str::to_owned)?;
        if read.as_ref().ok() != Some(&9) || took < later / 2 {
            return Err(format!("got {read:?} after {took:?}"));
        }
        // Full ring: the write waits for the consumer.
        while producer.write(&1).is_ok() {}
        let reader = thread::spawn(move || {
            thread::sleep(later);
            consumer.read()
        });
        let start = Instant::now();
        let written = producer.write_timeout(&2, Duration::MAX);
        let took = start.elapsed();
        let _ = reader.join();
        if written.is_err() || took < later / 2 {
            return Err(format!("write_timeout(MAX) on a full ring: {written:?} after {took:?}"));
        }
        Ok(())
    });
    let producer = ByteRing::<Producer>::create_memorybuf(16, 4).expect("create");
    let handle = producer.handle();
    b.run("ByteRing::wait_for_peer(MAX) waits for the consumer to attach", move || {
        match producer.wait_for_peer(Duration::ZERO) {
            Err(shm_runtime::RingError::Timeout { .. }) => {}
            other => return Err(format!("wait_for_peer(ZERO) before the consumer attached: {other:?}")),
        }
        let consumer = thread::spawn(move || {
            thread::sleep(later);
            ByteRing::<Consumer>::load_sharedobject(&handle).map_err(debug)
        });
        let start = Instant::now();
        let attached = producer.wait_for_peer(Duration::MAX);
        let took = start.elapsed();
        let _consumer = consumer.join().map_err(|_| "attacher panicked")??;
        if attached.is_err() || took < later / 2 {
            return Err(format!("got {attached:?} after {took:?}"));
        }
        Ok(())
    });
}

/// An open with `Duration::MAX` of a segment whose (live) creator is still
/// initializing waits until it is ready; with `ZERO` it is
/// `NotInitialized` at once.
fn h6_open_waits(b: &mut Bounded) {
    let int = SharedInt::create_sharedobject(17).expect("create");
    let name = unique_name("h6-initializing");
    let mut bytes = std::fs::read(shm_path(int.name().as_str())).expect("read the segment");
    bytes[OFF_STATE..OFF_STATE + 8].fill(0);
    let (file, guard) = plant_file(&name, &bytes);
    let handle = with_name(&int.handle(), &name);
    let h = handle.clone();
    b.run("SharedInt::load_sharedobject_timeout(ZERO) of an initializing segment", move || {
        let start = Instant::now();
        match SharedInt::load_sharedobject_timeout(&h, Duration::ZERO) {
            Err(OpenError::NotInitialized { .. }) if start.elapsed() < PROMPT => Ok(()),
            other => Err(format!("{:?} after {:?}", other.map(|i| i.read()), start.elapsed())),
        }
    });
    b.run("SharedInt::load_sharedobject_timeout(MAX) waits for an initializing segment", move || {
        let publisher = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            file.write_all_at(&STATE_READY.to_ne_bytes(), 8)
        });
        let start = Instant::now();
        let opened = SharedInt::load_sharedobject_timeout(&handle, Duration::MAX).map(|i| i.read());
        let took = start.elapsed();
        publisher.join().map_err(|_| "publisher panicked")?.map_err(debug)?;
        if opened.as_ref().ok() != Some(&17) || took < Duration::from_millis(150) {
            return Err(format!("got {opened:?} after {took:?}"));
        }
        Ok(())
    });
    drop(guard);
}

/// H6: `Duration::MAX` and `Duration::ZERO` on every wait and open of the
/// public API: no panic; `MAX` means no deadline (so it is used where the
/// call returns at once, or where another thread soon lets it).
#[test]
fn h6_duration_max_and_zero_on_every_wait_and_open() {
    let mut b = Bounded::default();
    h6_opens(&mut b);
    h6_ring_calls(&mut b);
    h6_max_waits(&mut b);
    h6_open_waits(&mut b);
    b.0.finish("h6_duration_max_and_zero_on_every_wait_and_open");
}

// ---------------------------------------------------------------- H8

/// `prefix` padded with `x` to `len` bytes.
fn padded(prefix: &str, len: usize) -> String {
    let mut name = prefix.to_owned();
    name.extend(std::iter::repeat_n('x', len - prefix.len()));
    name
}

/// H8: names of 254 and 255 bytes (the documented maximum) work: create,
/// open by handle, handle text round trip, inspect, list, cleanup.
#[test]
fn h8_names_of_254_and_255_bytes_work() {
    assert_eq!(MAX_NAME_LEN, 255);
    let pid = std::process::id();
    for len in [254, 255] {
        let name = padded(&format!("{NAME_PREFIX}h8-int-{pid}-"), len);
        assert_eq!(SegmentName::new(&name).map(|n| n.as_str().len()), Ok(len));
        let int = SharedInt::create_named(&name, 8).unwrap_or_else(|e| panic!("create_named, {len}-byte name: {e}"));
        let text = int.handle().to_string();
        let parsed: Handle = text.parse().unwrap_or_else(|e| panic!("parse the handle of a {len}-byte name: {e}"));
        assert_eq!(parsed, int.handle());
        assert_eq!(parsed.to_string(), text);
        assert_eq!(parsed.name().as_str(), name);
        let peer = SharedInt::load_sharedobject(&parsed).unwrap_or_else(|e| panic!("open, {len}-byte name: {e}"));
        peer.write(9);
        assert_eq!(int.read(), 9);
        let info = inspect_segment(&name).unwrap_or_else(|e| panic!("inspect, {len}-byte name: {e}"));
        assert_eq!((info.name.as_str(), info.status), (name.as_str(), Status::Live));
        assert_eq!(info.handle(), Some(int.handle()));
        assert!(list_segments().expect("list").iter().any(|i| i.name == name), "{len}-byte name not listed");
        drop(peer);
        int.cleanup().unwrap_or_else(|e| panic!("cleanup, {len}-byte name: {e}"));
        assert!(!common::exists(&name), "cleanup left the {len}-byte name");

        let name = padded(&format!("{NAME_PREFIX}h8-ring-{pid}-"), len);
        let mut producer =
            ByteRing::<Producer>::create_named(&name, 16, 4).unwrap_or_else(|e| panic!("ring, {len} bytes: {e}"));
        let handle: Handle = producer.handle().to_string().parse().expect("ring handle round trip");
        let mut consumer = ByteRing::<Consumer>::load_sharedobject(&handle).expect("open the ring");
        producer.write(b"long name").expect("write");
        let mut message = Vec::new();
        assert!(consumer.read(&mut message).expect("read"));
        assert_eq!(message, b"long name");
        drop((producer, consumer));
        assert!(!common::exists(&name), "the ring left the {len}-byte name");
    }
}

/// H8: a name of 256 bytes is `InvalidName` for every way a name comes in.
#[test]
fn h8_a_name_of_256_bytes_is_invalid() {
    let name = padded(&format!("{NAME_PREFIX}h8-long-{}-", std::process::id()), MAX_NAME_LEN + 1);
    let err = SegmentName::new(&name).expect_err("a 256-byte name");
    assert!(err.reason.contains("255"), "{err}");
    assert!(matches!(SharedInt::create_named(&name, 1), Err(CreateError::InvalidName(_))));
    assert!(matches!(ByteRing::<Producer>::create_named(&name, 16, 2), Err(CreateError::InvalidName(_))));
    assert!(matches!(inspect_segment(&name), Err(InspectError::InvalidName(_))));
    let int = SharedInt::create_sharedobject(1).expect("create");
    let text = int.handle().to_string();
    let (head, _) = text.rsplit_once(':').expect("fields");
    assert!(format!("{head}:{name}").parse::<Handle>().is_err(), "a handle with a 256-byte name parsed");
    assert!(!common::exists(&name));
}

/// H8, inside the namespace: an old abandoned file that a sweep removes.
fn h8_scenario(test: &str) {
    let mut f = Failures::default();
    let leftover = "shmrs-h8-leftover";
    let (file, guard) = plant_file(leftover, b"");
    backdate(&file);
    std::mem::forget(guard);
    let name = padded(&format!("{NAME_PREFIX}h8-"), MAX_NAME_LEN + 1);
    run_op(
        test,
        &mut f,
        "first creates of a fresh process, with a 256-byte name",
        "create-invalid",
        &[arg_pair("NAME", &name)],
    );
    f.expect(common::exists(leftover), || {
        "the stale sweep ran before the 256-byte name was refused: a system call before InvalidName".to_owned()
    });
    // Control: a valid first create does sweep, so the check above can
    // see a sweep.
    run_op(test, &mut f, "control: first create with a valid name", "create", &[arg_pair("NAME", &"shmrs-h8-valid")]);
    f.expect(!common::exists(leftover), || {
        "control: the sweep left the abandoned file; the check proves nothing".to_owned()
    });
    f.finish(test);
}

/// H8 (and A2): a 256-byte name is refused before any system call: a
/// fresh process whose first create has such a name does not sweep
/// /dev/shm first (a valid first create does, as the control shows).
#[test]
fn h8_a_256_byte_name_is_refused_before_any_system_call() {
    const TEST: &str = "h8_a_256_byte_name_is_refused_before_any_system_call";
    if as_role(TEST, h8_scenario) {
        return;
    }
    run_in_private_shm(TEST, "16m");
}
