//! What the bridge tests share: bridge processes that are stopped (or
//! killed) when a test ends, however it ends; free loopback ports; names;
//! deadlines.

#![allow(dead_code, reason = "each test file uses a part")]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("local address").port()
}

/// A segment name of this test process.
pub fn name(tag: &str) -> String {
    format!("shmrs-bt-{}-{tag}", std::process::id())
}

/// A bridge process; its stderr goes to a file read by [`Bridge::log`].
pub struct Bridge {
    child: Child,
    log: PathBuf,
}

impl Bridge {
    /// Starts `shm-bridge` with `args`.
    pub fn start(tag: &str, args: &[&str]) -> Self {
        let log = std::env::temp_dir().join(format!("shm-bridge-test-{}-{tag}-{}.log", std::process::id(), nanos()));
        let file = std::fs::File::create(&log).expect("create the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_shm-bridge"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start shm-bridge");
        Self { child, log }
    }

    /// What the bridge printed on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// SIGKILL, and reap.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }

    /// SIGTERM; waits up to 10 s for a clean exit (then SIGKILL and a
    /// panic). Returns the log.
    pub fn stop(mut self) -> String {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: signalling our own child, which has not been reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let log = self.log();
                assert!(status.success(), "shm-bridge exited with {status}:\n{log}");
                return log;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("shm-bridge did not stop within 10 s of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `limit` for the process to exit; its status and log.
    pub fn wait_exit(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, self.log());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("shm-bridge did not exit within {limit:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Retries `f` until it returns `Some` or `limit` passes (then panics
/// with `what`).
pub fn until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    until_or(limit, what, &mut f, String::new)
}

/// [`until`], with `context` (the bridges' logs) in the panic message.
pub fn until_or<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>, context: impl Fn() -> String) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}\n{}", context());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// None of `names` (nor their bridges' stats objects) is left in
/// /dev/shm.
pub fn assert_clean(names: &[&str]) {
    let left: Vec<String> = names
        .iter()
        .flat_map(|n| [n.to_string(), format!("{n}.bridge-out"), format!("{n}.bridge-in")])
        .filter(|n| std::path::Path::new("/dev/shm").join(n).exists())
        .collect();
    assert!(left.is_empty(), "left in /dev/shm: {left:?}");
}

/// A message of the numbered stream: the number, its check word, and
/// `number % 48` filler bytes derived from the number.
pub fn message(i: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&i.to_le_bytes());
    m.extend_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555).to_le_bytes());
    let fill = usize::try_from(i % 48).expect("small");
    m.extend((0..fill).map(|k| i.to_le_bytes()[0].wrapping_add(u8::try_from(k).expect("below 48"))));
    m
}

/// The number of a message, if the message is whole and unchanged.
pub fn check(m: &[u8]) -> Result<u64, String> {
    let i = u64::from_le_bytes(m.get(0..8).ok_or("shorter than 8 bytes")?.try_into().expect("8"));
    if message(i) == m { Ok(i) } else { Err(format!("message {i} is corrupt: {m:02x?}")) }
}
