//! `fcntl` record locks: the per-process locks that prove a process alive
//! (`F_SETLK`/`F_GETLK`, released by the kernel when the process dies or
//! execs, and by `close` of *any* descriptor of the file), and whole-file
//! open-file-description locks (`F_OFD_SETLK`/`F_OFD_GETLK`, which belong
//! to one open file description and no other descriptor's `close` drops).

use super::{Errno, retry};
use std::os::fd::{AsRawFd, OwnedFd};

/// A write lock another process holds: its range and holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    /// First byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// The holder's pid as the kernel reports it in this process's pid
    /// namespace; 0 when the holder is not visible from it.
    pub pid: u64,
}

/// The error of the last failed libc call.
fn last_errno() -> Errno {
    Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

/// A `struct flock` for bytes `start .. start + len` (`len` 0: to the end
/// of the file and beyond).
fn flock(kind: i32, start: u64, len: u64) -> libc::flock {
    // SAFETY: `flock` is a plain C struct; all zeros is a valid value.
    let mut lock: libc::flock = unsafe { core::mem::zeroed() };
    lock.l_type = i16::try_from(kind).unwrap_or(i16::MAX);
    lock.l_whence = i16::try_from(libc::SEEK_SET).unwrap_or(0);
    lock.l_start = i64::try_from(start).unwrap_or(i64::MAX);
    lock.l_len = i64::try_from(len).unwrap_or(i64::MAX);
    lock
}

/// `fcntl(fd, command, lock)`, retried on `EINTR`.
fn fcntl_lock(fd: &OwnedFd, command: i32, lock: &mut libc::flock) -> Result<(), Errno> {
    retry(|| {
        // SAFETY: `fd` is an open descriptor and `lock` a valid `flock` for
        // the duration of the call; the lock commands read it, and the
        // query commands overwrite it with another valid `flock`.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), command, &raw mut *lock) };
        if r == -1 { Err(last_errno()) } else { Ok(()) }
    })
}

/// Tries to write-lock `start .. start + len` of `fd` for this process,
/// without waiting: `Ok(false)` when another process holds part of it.
pub(crate) fn try_lock_range(fd: &OwnedFd, start: u64, len: u64) -> Result<bool, Errno> {
    match fcntl_lock(fd, libc::F_SETLK, &mut flock(libc::F_WRLCK, start, len)) {
        Ok(()) => Ok(true),
        Err(Errno::AGAIN | Errno::ACCESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The write lock another process holds over byte `start` of `fd`; `None`
/// if there is none (or the kernel refused). Needs only a read
/// descriptor: a read-lock query conflicts with every write lock.
pub(crate) fn range_holder(fd: &OwnedFd, start: u64) -> Option<Held> {
    let mut lock = flock(libc::F_RDLCK, start, 1);
    fcntl_lock(fd, libc::F_GETLK, &mut lock).ok()?;
    if i32::from(lock.l_type) == libc::F_UNLCK {
        return None;
    }
    Some(Held {
        start: u64::try_from(lock.l_start).ok()?,
        len: u64::try_from(lock.l_len).ok()?,
        pid: u64::try_from(lock.l_pid).unwrap_or(0),
    })
}

/// Sets (`F_WRLCK`) or clears (`F_UNLCK`) an open-file-description lock
/// over the whole of `fd`'s file, without waiting: `Ok(false)` when
/// another description holds a conflicting lock; `Err(EINVAL)` on a kernel
/// without such locks (before Linux 3.15).
fn whole_file(fd: &OwnedFd, kind: i32) -> Result<bool, Errno> {
    // `l_pid` 0, as F_OFD_SETLK requires.
    match fcntl_lock(fd, libc::F_OFD_SETLK, &mut flock(kind, 0, 0)) {
        Ok(()) => Ok(true),
        Err(Errno::AGAIN | Errno::ACCESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Tries to take the whole-file open-file-description lock of `fd`.
pub(crate) fn try_lock_file(fd: &OwnedFd) -> Result<bool, Errno> {
    whole_file(fd, libc::F_WRLCK)
}

/// Releases [`try_lock_file`]'s lock. Nothing to do on failure: the lock
/// goes with the open file description.
pub(crate) fn unlock_file(fd: &OwnedFd) {
    let _ = whole_file(fd, libc::F_UNLCK);
}

/// Whether another open file description holds a whole-file lock on `fd`'s
/// file.
pub(crate) fn file_locked_elsewhere(fd: &OwnedFd) -> bool {
    // `l_pid` 0, as F_OFD_GETLK requires.
    let mut lock = flock(libc::F_RDLCK, 0, 0);
    fcntl_lock(fd, libc::F_OFD_GETLK, &mut lock).is_ok() && i32::from(lock.l_type) != libc::F_UNLCK
}
