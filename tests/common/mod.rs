//! Helpers shared by the integration tests: re-running the test binary in a
//! role, time-boxed waits, and /dev/shm bookkeeping.
#![allow(dead_code, reason = "each test file uses a different subset")]

use rustix::process::{Pid, Signal};
use shm_runtime::Handle;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the role a re-run test binary plays.
pub const ROLE_ENV: &str = "SHM_TEST_ROLE";

/// The role this process plays, if it was started by [`spawn_role`].
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// Re-runs this test binary as a child that runs only `test` (a test
/// function that checks [`role`] first) with `ROLE_ENV=role` and `envs`.
pub fn spawn_role(test: &str, role: &str, envs: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    // The child's harness prints its own "running 1 test" and summary to
    // stdout: dropped, so `cargo test` counts each test once. What the
    // child says on stderr (a panic, a diagnostic) still shows.
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn test binary in a role")
}

/// Waits for `child` at most `limit`; kills it and panics on timeout so a
/// bug fails the test instead of hanging CI.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child {} did not finish within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for `child` and asserts it exited with status 0.
pub fn expect_success(mut child: Child, limit: Duration) {
    let status = wait_timeout(&mut child, limit);
    assert!(status.success(), "child failed: {status}");
}

/// Polls `cond` until it holds or `limit` passes; returns whether it held.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// Path of a segment's file.
pub fn shm_path(name: &str) -> PathBuf {
    PathBuf::from("/dev/shm").join(name)
}

/// Whether a segment with this name exists.
pub fn exists(name: &str) -> bool {
    shm_path(name).exists()
}

/// A test-only name with the project prefix, unique per process and call.
pub fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("shmrs-test-{tag}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Removes a segment a killed child left behind (tests only).
pub fn remove(name: &str) {
    match std::fs::remove_file(shm_path(name)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot remove {name}: {e}"),
    }
}

/// Names in /dev/shm that start with `prefix`.
pub fn entries_with_prefix(prefix: &str) -> BTreeSet<String> {
    std::fs::read_dir("/dev/shm")
        .expect("read /dev/shm")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Longest a parent waits for a child to exit.
pub const CHILD_LIMIT: Duration = Duration::from_secs(30);
/// Longest either side waits for something the other side brings about.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// A child process that is killed and reaped if the test fails before
/// waiting for it, so a failing test leaves no process behind.
pub struct Kid {
    child: Option<Child>,
    /// The child's pid (stays valid until the child is reaped).
    pub pid: u32,
}

impl Kid {
    pub fn new(child: Child) -> Self {
        let pid = child.id();
        Self { child: Some(child), pid }
    }

    /// Runs `test` of this binary in `role` with `envs` (`spawn_role`).
    pub fn spawn(test: &str, role: &str, envs: &[(&str, String)]) -> Self {
        Self::new(spawn_role(test, role, envs))
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("child already waited for")
    }

    /// The pid as a 64-bit word (what [`pid_of`] gives for a lock or role
    /// word the child holds).
    pub fn pid_word(&self) -> u64 {
        u64::from(self.pid)
    }

    /// Sends `signal`. Only valid before the child is reaped, so the pid
    /// cannot name another process.
    pub fn signal(&self, signal: Signal) {
        assert!(self.child.is_some(), "signal to a reaped child");
        let pid = Pid::from_raw(i32::try_from(self.pid).expect("pid fits i32")).expect("nonzero pid");
        rustix::process::kill_process(pid, signal).expect("signal the child");
    }

    /// Whether the child has exited (reaping it if so).
    pub fn has_exited(&mut self) -> Option<ExitStatus> {
        self.child().try_wait().expect("try_wait")
    }

    /// Waits (bounded) for the child and asserts it exited with status 0.
    pub fn expect_success(mut self) {
        let child = self.child.take().expect("child already waited for");
        expect_success(child, CHILD_LIMIT);
    }

    /// SIGKILLs the child and reaps it, so its pid is free and the kernel
    /// reports it dead.
    pub fn kill_and_reap(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("child already waited for");
        child.kill().expect("SIGKILL the child");
        child.wait().expect("reap the child")
    }

    /// Waits (bounded, [`CHILD_LIMIT`]) for the child to exit, after a
    /// signal for example, and reaps it.
    pub fn wait_for_exit(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("child already waited for");
        wait_timeout(&mut child, CHILD_LIMIT)
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The pid part of a process identity as lock, role and creator words hold
/// it (FORMAT.md): the low 32 bits; the rest names the liveness lock.
pub fn pid_of(identity: u64) -> u64 {
    identity & 0xffff_ffff
}

/// Removes a segment name on drop: what a killed creator child leaves.
pub struct RemoveOnDrop(pub String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

/// Polls `cond` until it returns `Some`: spins briefly, then yields, then
/// naps, so two processes on two busy cores hand over quickly without
/// starving each other. Panics naming `what` after [`WAIT_LIMIT`], or as
/// soon as `kid` exits without `cond` holding.
pub fn wait_for<T>(what: &str, mut kid: Option<&mut Kid>, mut cond: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut tries = 0u32;
    loop {
        if let Some(value) = cond() {
            return value;
        }
        tries = tries.saturating_add(1);
        if tries < 64 {
            core::hint::spin_loop();
            continue;
        }
        if tries < 256 {
            std::thread::yield_now();
            continue;
        }
        if let Some(status) = kid.as_mut().and_then(|k| k.has_exited()) {
            if let Some(value) = cond() {
                return value;
            }
            panic!("the child exited ({status}) while the parent waited for {what}");
        }
        assert!(start.elapsed() < WAIT_LIMIT, "timed out after {WAIT_LIMIT:?} waiting for {what}");
        std::thread::sleep(Duration::from_micros(20));
    }
}

/// The handle a parent passed in `var` (child side).
pub fn handle_from(var: &str) -> Handle {
    Handle::from_env_var(var).unwrap_or_else(|e| panic!("{e}"))
}

/// `(var, handle text)` for `spawn_role`.
pub fn env(var: &'static str, handle: &Handle) -> (&'static str, String) {
    (var, handle.to_string())
}

/// `cargo run --example <name> [args]` from the workspace root, output
/// captured, time-boxed.
pub fn run_example(name: &str, args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--example", name, "--"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SHM_HANDLE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cargo");
    // Read the pipes on threads so a chatty child cannot block on them.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || std::io::read_to_string(&mut stdout).expect("stdout"));
    let err = std::thread::spawn(move || std::io::read_to_string(&mut stderr).expect("stderr"));
    let status = wait_timeout(&mut child, Duration::from_secs(300));
    (status.success(), out.join().expect("stdout thread"), err.join().expect("stderr thread"))
}
