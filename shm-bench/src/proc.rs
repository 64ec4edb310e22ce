//! The two processes of a case: the parent spawns this same binary in the
//! child role (`--child <case>`), and the two talk through a control block
//! (a bare shared mapping) beside whatever the case measures.
//!
//! No orphans: the parent's [`ChildGuard`] kills its child when dropped
//! (on every error path and on unwinding), and the child asks the kernel to
//! kill it when its parent dies (`PR_SET_PDEATHSIG`), checking right after
//! that its parent is still the one that spawned it.

use crate::raw::{self, RawShm};
use crate::{Error, Result};
use core::sync::atomic::{AtomicU64, Ordering};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Word of the control block: the parent's command (for streams, how many
/// items the producer may have sent in all).
const TARGET: usize = 0;
/// Word of the control block: non-zero once the parent asks the child to
/// end.
const STOP: usize = 1;
/// Word of the control block (its own cache line): the child's state.
const STATE: usize = 8;
/// Word of the control block (beside the state, written by the child): in
/// the fan-out streams, the item number up to which (not including) the
/// subscriber has received everything, written once per pass.
const PROGRESS: usize = 9;
/// Words in the control block.
const WORDS: usize = 16;

// Child state 0: still setting up.
/// Child state: attached to everything, ready for the first run.
const READY: u64 = 1;
/// Child state: failed (its error is on stderr).
const FAILED: u64 = 2;

/// Longest a parent waits for its child in one spin loop before it calls
/// the case failed.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The control block shared by a parent and its child.
pub struct Control {
    shm: RawShm,
}

impl Control {
    /// Makes a fresh control block (parent).
    pub fn create() -> Result<Self> {
        Ok(Self { shm: RawShm::create(&raw::unique_name("ctl"), WORDS * 8)? })
    }

    /// Opens the parent's control block (child).
    pub fn open(name: &str) -> Result<Self> {
        Ok(Self { shm: RawShm::open(name, WORDS * 8)? })
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        &self.shm.words(WORDS)[i]
    }

    /// Name to pass to the child.
    pub fn name(&self) -> &str {
        self.shm.name()
    }

    /// Parent: lets the producer send items up to (not including) `target`.
    pub fn set_target(&self, target: u64) {
        // Release pairs with the Acquire load in `target`; nothing else is
        // published with it, but the orderings keep the protocol obvious.
        self.word(TARGET).store(target, Ordering::Release);
    }

    /// Child: the parent's current target.
    pub fn target(&self) -> u64 {
        // Acquire pairs with the Release store in `set_target`.
        self.word(TARGET).load(Ordering::Acquire)
    }

    /// Parent: asks the child to end.
    pub fn stop(&self) {
        // Release pairs with the Acquire load in `stopped`.
        self.word(STOP).store(1, Ordering::Release);
    }

    /// Child: whether the parent asked it to end.
    pub fn stopped(&self) -> bool {
        // Acquire pairs with the Release store in `stop`.
        self.word(STOP).load(Ordering::Acquire) != 0
    }

    /// Child: everything is attached; the parent may start.
    pub fn ready(&self) {
        // Release pairs with the Acquire load in `child_state`: what the
        // child set up before (its ring side claimed, its segments open) is
        // done when the parent sees READY.
        self.word(STATE).store(READY, Ordering::Release);
    }

    /// Child: it failed (the message goes to stderr).
    pub fn failed(&self) {
        // Release pairs with the Acquire load in `child_state`.
        self.word(STATE).store(FAILED, Ordering::Release);
    }

    /// Child: it has received every item numbered below `next`.
    pub fn set_progress(&self, next: u64) {
        // Release pairs with the Acquire load in `progress`.
        self.word(PROGRESS).store(next, Ordering::Release);
    }

    /// Parent: the number below which the child has received everything.
    pub fn progress(&self) -> u64 {
        // Acquire pairs with the Release store in `set_progress`.
        self.word(PROGRESS).load(Ordering::Acquire)
    }

    fn child_state(&self) -> u64 {
        // Acquire pairs with the Release stores in `ready` and `failed`.
        self.word(STATE).load(Ordering::Acquire)
    }
}

/// What the child gets on its standard streams.
pub struct Stdio3 {
    /// The child's stdin.
    pub stdin: Stdio,
    /// The child's stdout.
    pub stdout: Stdio,
}

impl Default for Stdio3 {
    fn default() -> Self {
        Self { stdin: Stdio::null(), stdout: Stdio::null() }
    }
}

/// A running child; killed (and reaped) when dropped before `finish`.
pub struct ChildGuard {
    child: Option<Child>,
    pid: u32,
}

impl ChildGuard {
    /// Starts this binary as the child of `case`, with the control block
    /// `ctl`, `args` after the fixed ones, and `stdio`.
    pub fn spawn(case: &str, ctl: &Control, args: &[String], stdio: Stdio3, pin: bool) -> Result<Self> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        command
            .args(["--child", case, "--control", ctl.name(), "--parent", &std::process::id().to_string()])
            .args(if pin { &[][..] } else { &["--no-pin"][..] })
            .args(args)
            .stdin(stdio.stdin)
            .stdout(stdio.stdout)
            .stderr(Stdio::inherit());
        let child = command.spawn()?;
        let pid = child.id();
        Ok(Self { child: Some(child), pid })
    }

    /// The child's process.
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("only finish and drop take the child")
    }

    /// Waits (spinning, as the runs do) until the child says it is ready.
    pub fn wait_ready(&mut self, ctl: &Control) -> Result<()> {
        let mut watch = Watch::new(self.pid, ctl);
        loop {
            match ctl.child_state() {
                READY => return Ok(()),
                FAILED => return Err("the child failed while setting up (see its message above)".into()),
                _ => watch.idle()?,
            }
        }
    }

    /// Waits for the child to exit (up to `PATIENCE`), and fails unless it
    /// exited successfully.
    pub fn finish(mut self) -> Result<()> {
        let mut child = self.child.take().expect("finish consumes the guard");
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the child (pid {}) did not exit within {PATIENCE:?}", self.pid).into());
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        check_status(status)
    }
}

fn check_status(status: ExitStatus) -> Result<()> {
    if status.success() { Ok(()) } else { Err(format!("the child failed: {status}").into()) }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A parent's busy wait for its child: every so many spins it checks the
/// clock, the child's state word, and (every 50 ms) whether the child
/// process still lives, so a dead or failed child is an error, never an
/// endless spin.
pub struct Watch<'a> {
    pid: u32,
    ctl: &'a Control,
    spins: u32,
    deadline: Instant,
    next_probe: Instant,
}

impl<'a> Watch<'a> {
    /// Watches the child `pid` that shares `ctl`.
    pub fn new(pid: u32, ctl: &'a Control) -> Self {
        let now = Instant::now();
        Self { pid, ctl, spins: 0, deadline: now + PATIENCE, next_probe: now }
    }

    /// Restarts the deadline (at the start of each pass).
    pub fn rearm(&mut self) {
        self.deadline = Instant::now() + PATIENCE;
    }

    /// One turn of a busy wait. No spin-wait hint (`pause`): with one in
    /// this turn, in [`ChildWatch::idle`] or both, the 8-byte rings'
    /// throughput stayed bistable (see `link::consume` for what decides
    /// it).
    #[inline]
    pub fn idle(&mut self) -> Result<()> {
        self.spins = self.spins.wrapping_add(1);
        if self.spins.is_multiple_of(4096) { self.check() } else { Ok(()) }
    }

    #[cold]
    fn check(&mut self) -> Result<()> {
        if self.ctl.child_state() == FAILED {
            return Err("the child failed (see its message above)".into());
        }
        let now = Instant::now();
        if now > self.deadline {
            return Err(format!("no progress for {PATIENCE:?}: the child (pid {}) is stuck", self.pid).into());
        }
        if now >= self.next_probe {
            self.next_probe = now + Duration::from_millis(50);
            if !raw::pid_alive(self.pid) {
                return Err(format!("the child (pid {}) died", self.pid).into());
            }
        }
        Ok(())
    }
}

/// A child's busy wait: ends (with [`Stopped`]) once the parent asks.
pub struct ChildWatch<'a> {
    ctl: &'a Control,
    spins: u32,
    /// Looks at the stop word every `every` turns (a power of two).
    every: u32,
    /// Gives up the processor on every turn (`sched_yield`): for children
    /// that share one core with other children.
    yields: bool,
}

/// The parent asked the child to end: not a failure.
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped by the parent")
    }
}

impl std::error::Error for Stopped {}

impl<'a> ChildWatch<'a> {
    /// Watches `ctl` for the parent's stop.
    pub fn new(ctl: &'a Control) -> Self {
        Self { ctl, spins: 0, every: 1024, yields: false }
    }

    /// Yields the processor on every turn: for several children pinned to
    /// one core, where a busy wait would hold the core for a whole time
    /// slice while another child has items to take.
    #[must_use]
    pub fn yielding(mut self, yields: bool) -> Self {
        self.yields = yields;
        self
    }

    /// Looks at the stop word on every turn: for loops whose turns already
    /// sleep (a bounded futex wait), so that a stop is seen at once.
    #[must_use]
    pub fn every_turn(mut self) -> Self {
        self.every = 1;
        self
    }

    /// One turn of a busy wait.
    #[inline]
    pub fn idle(&mut self) -> Result<()> {
        self.spins = self.spins.wrapping_add(1);
        if self.yields {
            std::thread::yield_now();
        }
        if self.spins.is_multiple_of(self.every) && self.ctl.stopped() { Err(Stopped.into()) } else { Ok(()) }
    }
}

/// Whether `e` is the child's normal end.
pub fn is_stop(e: &Error) -> bool {
    e.downcast_ref::<Stopped>().is_some()
}

/// Child set-up: dies with its parent, and checks that the parent is still
/// `parent` (it may have died before the death signal was set).
pub fn child_guard_parent(parent: u32) -> Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    let ppid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get().cast_unsigned());
    if ppid != parent {
        return Err(format!("the parent (pid {parent}) is gone").into());
    }
    Ok(())
}

/// Pins the calling process to `cpu` (when the machine has it).
pub fn pin_to(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    // Best effort: a failed pin leaves the scheduler to place us.
    let _ = rustix::thread::sched_setaffinity(None, &set);
}
