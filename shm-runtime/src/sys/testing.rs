//! System calls the unit tests of the layers above need (planting files,
//! forking), kept here so that no file outside `sys/` names `libc` or
//! `rustix`.

use super::Errno;
use std::process::Command;

/// Makes a FIFO at `path`.
pub(crate) fn mkfifo(path: &str) -> Result<(), Errno> {
    let mode = rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR;
    rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, mode, 0)
}

/// Gives the file at `existing` a second name, `new`.
pub(crate) fn hard_link(existing: &str, new: &str) -> Result<(), Errno> {
    rustix::fs::link(existing, new)
}

/// Environment variable that marks this test binary as re-run by
/// [`in_fresh_process`].
const FRESH_ENV: &str = "SHMRS_UNIT_FRESH_PROCESS";

/// Runs the unit test `test` (its full path, as `cargo test` names it)
/// alone in a fresh process of this test binary, single-threaded but for
/// the harness's waiting main thread, so that the test may `fork` without
/// the child inheriting a lock another test thread holds. Returns `true`
/// in that fresh process (the caller then runs its body); in the calling
/// process it waits (bounded) for the fresh one, asserts it passed, and
/// returns `false`.
pub(crate) fn in_fresh_process(test: &str) -> bool {
    in_fresh_process_with_env(test, &[])
}

/// [`in_fresh_process`], with the environment variables `env` set in the
/// fresh process.
pub(crate) fn in_fresh_process_with_env(test: &str, env: &[(&str, &str)]) -> bool {
    if std::env::var(FRESH_ENV).is_ok_and(|t| t == test) {
        return true;
    }
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(FRESH_ENV, test)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        // Its harness's own summary would count the test twice.
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("re-run the test binary");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{test} did not finish within a minute in a fresh process");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(status.success(), "{test} failed in a fresh process: {status}");
    false
}

/// Forks. In the child, runs `child` and leaves with `_exit` and its
/// result as the status (never returning, never running the parent's
/// destructors); in the parent, runs `parent` with the child's pid, then
/// reaps the child and returns its exit status (`None` if it did not exit
/// normally).
///
/// Call it only from a process with no other thread that could hold a lock
/// the child takes (see [`in_fresh_process`]).
pub(crate) fn fork_and_wait(child: impl FnOnce() -> i32, parent: impl FnOnce(u32)) -> Option<i32> {
    // SAFETY: the caller runs this in a process whose only other thread (if
    // any) is blocked waiting for this one and holds no lock, so the child
    // may allocate, lock and format; it leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child();
        // SAFETY: leaves the child without running the parent's destructors
        // or the test harness.
        unsafe { libc::_exit(code) };
    }
    parent(pid.unsigned_abs());
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out pointer.
    let waited = unsafe { libc::waitpid(pid, &raw mut status, 0) };
    assert_eq!(waited, pid, "waitpid");
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}
