//! Whether a process is alive, proven through the kernel instead of by pid
//! (the kernel reuses pids).
//!
//! Once per process, on first need, shm takes an `fcntl` record lock on a
//! range of a per-user lock file, `/dev/shm/.shmrs-live-<uid>` (never a
//! valid segment name: segment names cannot start with `.`). The words that
//! record who owns something in a segment (the creator in the header, ring
//! roles, writer locks) hold the process's *identity*, which names that
//! range:
//!
//! | bits | meaning |
//! |---|---|
//! | 0..32 | pid (for people and tools; never trusted alone) |
//! | 32..48 | slot, 1 to 65534 (0: no lock could be taken, see below) |
//! | 48..64 | token, 1 to 65535, random |
//!
//! The process holds a write lock on bytes `slot << 16 .. (slot << 16) +
//! token` of the file (the file stays empty: locks may lie past its end).
//! Two claims of one slot overlap at its first byte, so a slot has one
//! holder at a time. A peer asks `F_GETLK` about the slot's first byte: the
//! identity is alive exactly when a lock with that start and that length
//! (the token) is held. The kernel drops the lock when the process dies or
//! execs (the descriptor is close-on-exec and closing it drops the lock),
//! and a forked child does not inherit it (record locks belong to a
//! process); the child claims its own slot, as its identity is cached in
//! the wipe-on-fork page of [`crate::pid`].
//!
//! The descriptor is opened once per process and never closed: closing
//! any descriptor of the file would drop the process's lock.
//!
//! A dead process's slot can go to a new process, and its pid to another:
//! the identity still does not match unless the token (16 random bits)
//! matches too. Processes of other users lock their own files, which are
//! readable by everyone (they hold nothing but locks), so a check looks in
//! every `.shmrs-live-*` file it can open.
//!
//! When no lock can be taken (no /dev/shm, a lock file owned by someone
//! else, every slot taken), the identity has slot 0 and liveness falls
//! back to the pid alone, as [`process_alive`] does.
//!
//! What this does not protect against: a process of the same user that
//! removes the lock file while others run (their locks stay on the removed
//! file, so later checks call them dead). `shm clean` and
//! [`clean_stale`](crate::clean_stale) never remove it.

use crate::pid;
use crate::segment::{SHM_DIR, process_alive, retry};
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::shm;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Start of the lock file names in /dev/shm; the owner's uid follows.
pub const LOCK_FILE_PREFIX: &str = ".shmrs-live-";

const SLOT_SHIFT: u32 = 32;
const TOKEN_SHIFT: u32 = 48;
/// Highest slot: slot 65535 with token 65535 and pid `u32::MAX` would make
/// `u64::MAX`, which ring role words use for "let go".
const MAX_SLOT: u64 = 0xfffe;
/// Bytes of the lock file each slot spans (tokens are below this).
const SLOT_BYTES: u64 = 1 << 16;

/// The pid part of an identity word.
#[must_use]
pub const fn pid_of(identity: u64) -> u64 {
    identity & 0xffff_ffff
}

/// The lock slot of an identity, 0 for none.
const fn slot_of(identity: u64) -> u64 {
    (identity >> SLOT_SHIFT) & 0xffff
}

/// The token of an identity.
const fn token_of(identity: u64) -> u64 {
    identity >> TOKEN_SHIFT
}

/// What the kernel says about an identity word read from a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Liveness {
    /// The process holds its lock (or, for an identity without a lock,
    /// a process with its pid exists).
    Alive,
    /// Proven dead: its lock is gone (or no process has its pid).
    Dead,
    /// Cannot tell: the word is not a valid identity, or the kernel did not
    /// answer. Treated as alive by every decision that removes or takes
    /// over something.
    Unknown,
}

impl Liveness {
    /// Of an [`alive`] answer.
    pub(crate) const fn of(answer: Option<bool>) -> Self {
        match answer {
            Some(true) => Self::Alive,
            Some(false) => Self::Dead,
            None => Self::Unknown,
        }
    }
}

/// This process's identity, claimed on first use (a lock file open and
/// usually one `fcntl`); afterwards one atomic load.
pub(crate) fn me() -> u64 {
    if let Some(word) = pid::fork_local(1) {
        // Relaxed: the word is private to this process; threads store the
        // same value under `CLAIM`.
        let cached = word.load(core::sync::atomic::Ordering::Relaxed);
        if cached != 0 {
            return cached;
        }
    }
    me_slow()
}

#[cold]
fn me_slow() -> u64 {
    // The pid and identity of the last claim, for kernels without
    // wipe-on-fork (where the pid is compared on every call).
    static CLAIM: Mutex<(u64, u64)> = Mutex::new((0, 0));
    let mut last = CLAIM.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = pid::current();
    let identity = match pid::fork_local(1) {
        Some(word) => match word.load(core::sync::atomic::Ordering::Relaxed) {
            0 => {
                let identity = claim(pid);
                // Relaxed: see `me`.
                word.store(identity, core::sync::atomic::Ordering::Relaxed);
                identity
            }
            cached => cached,
        },
        None if last.0 == pid => last.1,
        None => claim(pid),
    };
    *last = (pid, identity);
    identity
}

/// The lock file of the effective user, opened once per process; `None`
/// when it cannot be used.
fn own_lock_file() -> Option<&'static OwnedFd> {
    static FILE: OnceLock<Option<OwnedFd>> = OnceLock::new();
    FILE.get_or_init(open_own_lock_file).as_ref()
}

fn open_own_lock_file() -> Option<OwnedFd> {
    let uid = rustix::process::geteuid().as_raw();
    let path = format!("/{LOCK_FILE_PREFIX}{uid}");
    // Readable by everyone: other users' processes check our locks with
    // F_GETLK, which needs only a read descriptor. It holds no data.
    let mode = Mode::RUSR | Mode::WUSR | Mode::RGRP | Mode::ROTH;
    let fd = retry(|| shm::open(path.as_str(), shm::OFlags::CREATE | shm::OFlags::RDWR, mode)).ok()?;
    let stat = retry(|| rustix::fs::fstat(&fd)).ok()?;
    // A file someone else made under our name is not trusted.
    if stat.st_uid != uid || !rustix::fs::FileType::from_raw_mode(stat.st_mode).is_file() {
        return None;
    }
    // The umask may have narrowed the mode; widen it to what others need.
    let _ = retry(|| rustix::fs::fchmod(&fd, mode));
    Some(fd)
}

/// Takes a free slot in the lock file for `pid`; an identity without a
/// slot when none can be taken.
fn claim(pid: u64) -> u64 {
    let pid = pid_of(pid);
    let Some(fd) = own_lock_file() else { return pid };
    let Ok(random) = crate::name::random_u64() else { return pid };
    let token = (random >> 48).max(1);
    let first = random % MAX_SLOT;
    for i in 0..MAX_SLOT {
        let slot = (first + i) % MAX_SLOT + 1;
        match set_lock(fd, slot * SLOT_BYTES, token) {
            Ok(true) => return pid | (slot << SLOT_SHIFT) | (token << TOKEN_SHIFT),
            Ok(false) => {}
            Err(_) => return pid,
        }
    }
    pid
}

/// The error of the last failed libc call.
fn last_errno() -> Errno {
    Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

/// A `struct flock` for bytes `start .. start + len`.
fn flock(kind: i32, start: u64, len: u64) -> libc::flock {
    // SAFETY: `flock` is a plain C struct; all zeros is a valid value.
    let mut lock: libc::flock = unsafe { core::mem::zeroed() };
    lock.l_type = i16::try_from(kind).unwrap_or(i16::MAX);
    lock.l_whence = i16::try_from(libc::SEEK_SET).unwrap_or(0);
    lock.l_start = i64::try_from(start).unwrap_or(i64::MAX);
    lock.l_len = i64::try_from(len).unwrap_or(i64::MAX);
    lock
}

/// Tries to write-lock `start .. start + len` of `fd`: `Ok(false)` when
/// another process holds part of it.
fn set_lock(fd: &OwnedFd, start: u64, len: u64) -> Result<bool, Errno> {
    let lock = flock(libc::F_WRLCK, start, len);
    let result = retry(|| {
        // SAFETY: `fd` is an open descriptor and `lock` a valid `flock` for
        // the duration of the call; F_SETLK only reads it.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLK, &raw const lock) };
        if r == -1 { Err(last_errno()) } else { Ok(()) }
    });
    match result {
        Ok(()) => Ok(true),
        Err(Errno::AGAIN | Errno::ACCESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The write lock another process holds over byte `start` of `fd`, as
/// its `(start, len)`; `None` if there is none (or the kernel refused).
fn held_lock(fd: &OwnedFd, start: u64) -> Option<(u64, u64)> {
    // A read-lock query conflicts with every write lock, and needs only a
    // read descriptor.
    let mut lock = flock(libc::F_RDLCK, start, 1);
    retry(|| {
        // SAFETY: `fd` is an open descriptor and `lock` a valid `flock` the
        // kernel overwrites with the conflicting lock, if any.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETLK, &raw mut lock) };
        if r == -1 { Err(last_errno()) } else { Ok(()) }
    })
    .ok()?;
    if i32::from(lock.l_type) == libc::F_UNLCK {
        return None;
    }
    Some((u64::try_from(lock.l_start).ok()?, u64::try_from(lock.l_len).ok()?))
}

/// Sets (`F_WRLCK`) or clears (`F_UNLCK`) an open-file-description lock
/// over the whole of `fd`'s file, without waiting: `Ok(false)` when
/// another description holds a conflicting lock. Such a lock belongs to
/// the descriptor's open file description (not to the process, unlike the
/// identity lock), so no other descriptor's `close` drops it.
fn whole_file_lock(fd: &OwnedFd, kind: i32) -> Result<bool, Errno> {
    let lock = flock(kind, 0, 0);
    let result = retry(|| {
        // SAFETY: `fd` is an open descriptor and `lock` a valid `flock` (with
        // `l_pid` 0, as F_OFD_SETLK requires) for the duration of the call.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &raw const lock) };
        if r == -1 { Err(last_errno()) } else { Ok(()) }
    });
    match result {
        Ok(()) => Ok(true),
        Err(Errno::AGAIN | Errno::ACCESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The creator's lock over a segment it is initializing; a stale cleaner
/// holds the same lock while it examines a file. Waits (up to a second)
/// for a cleaner, which holds it only for a few system calls. A kernel
/// without open-file-description locks (before Linux 3.15) makes this a
/// no-op.
pub(crate) fn lock_for_init(fd: &OwnedFd) -> Result<(), Errno> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match whole_file_lock(fd, libc::F_WRLCK) {
            Ok(true) | Err(Errno::INVAL) => return Ok(()),
            Ok(false) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            Ok(false) => return Err(Errno::AGAIN),
            Err(e) => return Err(e),
        }
    }
}

/// Releases [`lock_for_init`].
pub(crate) fn unlock_init(fd: &OwnedFd) {
    // Nothing to do on failure: the lock goes when the mapping does.
    let _ = whole_file_lock(fd, libc::F_UNLCK);
}

/// Takes the whole-file lock a creator holds while initializing, without
/// waiting: `Ok(false)` while someone (a creator, another cleaner) holds it.
pub(crate) fn try_lock_whole(fd: &OwnedFd) -> Result<bool, Errno> {
    match whole_file_lock(fd, libc::F_WRLCK) {
        Err(Errno::INVAL) => Ok(true),
        other => other,
    }
}

/// Whether another open file description holds a lock on `fd`'s file
/// (a creator initializing it, or a cleaner examining it).
pub(crate) fn whole_file_lock_held(fd: &OwnedFd) -> bool {
    let mut lock = flock(libc::F_RDLCK, 0, 0);
    let result = retry(|| {
        // SAFETY: `fd` is an open descriptor and `lock` a valid `flock` (with
        // `l_pid` 0, as F_OFD_GETLK requires) the kernel overwrites.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_GETLK, &raw mut lock) };
        if r == -1 { Err(last_errno()) } else { Ok(()) }
    });
    result.is_ok() && i32::from(lock.l_type) != libc::F_UNLCK
}

/// Whether `fd` holds another process's lock for `slot` and `token`.
fn holds(fd: &OwnedFd, slot: u64, token: u64) -> bool {
    held_lock(fd, slot * SLOT_BYTES) == Some((slot * SLOT_BYTES, token))
}

/// Whether the process `identity` names is alive: `Some(false)` only when
/// proven dead. Slow path (a few system calls, a directory scan when the
/// lock is not in this user's file): called when a peer seems gone, never
/// per message.
pub(crate) fn alive(identity: u64) -> Option<bool> {
    let (slot, token) = (slot_of(identity), token_of(identity));
    if slot == 0 {
        return process_alive(identity);
    }
    if slot > MAX_SLOT || token == 0 {
        return None;
    }
    if identity == me() {
        return Some(true);
    }
    let own = own_lock_file();
    if own.is_some_and(|fd| holds(fd, slot, token)) {
        return Some(true);
    }
    // Another user's process (a group-shared segment), or our own lock
    // file could not be opened: look in every lock file we can read.
    let Ok(dir) = std::fs::read_dir(SHM_DIR) else { return None };
    let own_name = format!("{LOCK_FILE_PREFIX}{}", rustix::process::geteuid().as_raw());
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| n.starts_with(LOCK_FILE_PREFIX)) else { continue };
        if own.is_some() && name == own_name {
            continue;
        }
        let path = format!("/{name}");
        let Ok(fd) = retry(|| shm::open(path.as_str(), shm::OFlags::RDONLY, Mode::empty())) else { continue };
        if holds(&fd, slot, token) {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn identity_names_this_process_and_is_stable() {
        let me = me();
        assert_eq!(pid_of(me), pid::current());
        assert_eq!(me, super::me());
        assert_ne!(slot_of(me), 0, "no lock slot: is /dev/shm writable?");
        assert_ne!(token_of(me), 0);
        assert_ne!(me, u64::MAX);
        assert_eq!(alive(me), Some(true));
    }

    #[test]
    fn our_slot_with_another_token_is_a_dead_former_holder() {
        let me = me();
        assert_eq!(alive(me ^ (1 << TOKEN_SHIFT)), Some(false));
    }

    #[test]
    fn garbage_identities_are_unknown() {
        let pid = pid_of(me());
        assert_eq!(alive(pid | (0xffff << SLOT_SHIFT) | (1 << TOKEN_SHIFT)), None, "slot out of range");
        assert_eq!(alive(pid | (1 << SLOT_SHIFT)), None, "slot without a token");
    }

    /// Forks a child that claims its identity, sends it, waits for one byte,
    /// checks what `check` says in the child, and exits.
    fn with_forked_child(check: fn(parent: u64) -> bool, test: impl FnOnce(u64, &mut UnixStream)) {
        let parent = me();
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        // SAFETY: the child only makes system calls and leaves with _exit.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            drop(ours);
            let ok = check(parent);
            let _ = theirs.write_all(&me().to_ne_bytes());
            let _ = theirs.read(&mut [0u8; 1]);
            // SAFETY: leaves the child without running the parent's
            // destructors or test harness.
            unsafe { libc::_exit(i32::from(!ok)) };
        }
        drop(theirs);
        let mut buf = [0u8; 8];
        let sent = ours.read_exact(&mut buf);
        test(u64::from_ne_bytes(buf), &mut ours);
        drop(ours);
        let mut status = 0;
        // SAFETY: `child` is our child; `status` is a valid out pointer.
        assert_eq!(unsafe { libc::waitpid(child, &raw mut status, 0) }, child);
        sent.unwrap();
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child check failed (status {status})");
    }

    #[test]
    fn a_child_is_alive_until_it_exits_then_dead() {
        with_forked_child(
            |parent| me() != parent && pid_of(me()) == pid::current() && alive(parent) == Some(true),
            |child, stream| {
                assert_ne!(child, me(), "a forked child must claim its own identity");
                assert_ne!(slot_of(child), 0);
                assert_eq!(alive(child), Some(true));
                // Let it exit, then reap it (the caller waits).
                stream.write_all(&[1]).unwrap();
            },
        );
    }

    #[test]
    fn an_exited_child_is_dead_even_before_it_is_reaped() {
        let mut identity = 0;
        with_forked_child(|_| true, |child, _| identity = child);
        // Reaped by now; a fresh check sees no lock.
        assert_eq!(alive(identity), Some(false));
        assert_eq!(process_alive(pid_of(identity)), Some(false));
    }
}
