//! Helpers shared by the integration tests: re-running the test binary in a
//! role, time-boxed waits, and /dev/shm bookkeeping.
#![allow(dead_code, reason = "each test file uses a different subset")]

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
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"]).env(ROLE_ENV, role).stdin(Stdio::null());
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
