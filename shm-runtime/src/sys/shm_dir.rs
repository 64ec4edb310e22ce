//! Files in /dev/shm, opened as hostile ground.
//!
//! /dev/shm is shared by every user of the machine: any name in it may be
//! a FIFO (opening one without `O_NONBLOCK` waits for a writer forever), a
//! symbolic link (following one lets another user point us at a file of
//! ours or at a path to create), a socket, a directory, or another
//! program's file. So nothing here goes through `shm_open`, which follows
//! links in some libcs and never adds `O_NONBLOCK`: every file is opened by
//! its full path with `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC` and checked with
//! `fstat` before anything else touches it; a link is refused by the kernel
//! (`ELOOP`), anything but a regular file is refused here. The same path
//! also lifts the limit `shm_open` put on names: a name may use the whole
//! 255 bytes of a file name.
//!
//! One more trap: closing *any* descriptor of a file drops every `fcntl`
//! record lock this process holds on it, and the process's liveness lock
//! ([`crate::segment::liveness`]) is such a lock. Another user may give that file a
//! second name (a hard link, where `fs.protected_hardlinks` is off), and a
//! scan of lock files meets it under its own name. So an existing file is
//! first opened with `O_PATH` (closing such a descriptor drops no lock),
//! checked with `fstat` (its type, and that it is not the lock file), and
//! only then opened for reading or writing through `/proc/self/fd`, which
//! reaches exactly the inode that was checked.

use super::{Errno, Stat, retry};
use rustix::fs::{AtFlags, FallocateFlags, FileType, Mode, OFlags};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;

/// Where Linux keeps POSIX shared memory objects.
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// Flags every open here carries: never follow a link, never wait (on a
/// FIFO), never leak into an exec'd program.
const SAFE: OFlags = OFlags::NOFOLLOW.union(OFlags::NONBLOCK).union(OFlags::CLOEXEC);

/// Device and inode of the file this process must never open and close
/// again: its liveness lock file (set once, by [`guard`]).
static GUARDED: OnceLock<(u64, u64)> = OnceLock::new();

/// Marks the file of `stat` as the one [`open_existing`] refuses: the
/// process's liveness lock file, whose locks any `close` would drop.
pub(crate) fn guard(stat: &Stat) {
    let _ = GUARDED.set((stat.st_dev, stat.st_ino));
}

/// Why a file in /dev/shm was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileError {
    /// The system call failed.
    Sys(Errno),
    /// The name is not a regular file: what it is instead ("a FIFO",
    /// "a symbolic link", ...).
    NotAFile(&'static str),
}

impl From<Errno> for FileError {
    fn from(e: Errno) -> Self {
        Self::Sys(e)
    }
}

/// The full path of `name` (a file name without `/`) in /dev/shm.
pub(crate) fn path(name: &str) -> String {
    format!("{SHM_DIR}/{name}")
}

/// What a file of type `kind` is, in words, for errors.
pub(crate) fn describe(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "a file of unknown type",
    }
}

/// What [`open_existing`] calls the process's own lock file met under
/// another name.
pub(crate) const LOCK_FILE_ALIAS: &str = "another name of this process's liveness lock file";

/// Opens the existing file `name` in /dev/shm, for reading and writing
/// when `write`, and returns it with its status, after checking it is a
/// regular file (and not the process's lock file under another name). A
/// link, a FIFO or anything else is refused without being followed, opened
/// for reading, or waited on.
pub(crate) fn open_existing(name: &str, write: bool) -> Result<(OwnedFd, Stat), FileError> {
    let path = path(name);
    // O_PATH: no access to the data, no wait on a FIFO, and closing it
    // drops no record lock. With O_NOFOLLOW it opens a link itself.
    let place =
        retry(|| rustix::fs::open(path.as_str(), OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()))?;
    let stat = retry(|| rustix::fs::fstat(&place))?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind != FileType::RegularFile {
        return Err(FileError::NotAFile(describe(kind)));
    }
    if GUARDED.get() == Some(&(stat.st_dev, stat.st_ino)) {
        return Err(FileError::NotAFile(LOCK_FILE_ALIAS));
    }
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    // The inode just checked, whatever the name points at now; the kernel
    // checks access as for any open.
    let fd = match retry(|| {
        rustix::fs::open(
            format!("/proc/self/fd/{}", place.as_raw_fd()).as_str(),
            access | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }) {
        Ok(fd) => fd,
        // No /proc: by name again, still never following or waiting, and
        // refused unless it is the same file. (Without /proc, a file
        // swapped in between the two opens is opened and closed: the
        // only window left for the lock file's alias.)
        Err(Errno::NOENT) => {
            retry(|| rustix::fs::open(path.as_str(), access | SAFE, Mode::empty())).map_err(|e| match e {
                Errno::LOOP => FileError::NotAFile(describe(FileType::Symlink)),
                e => FileError::Sys(e),
            })?
        }
        Err(e) => return Err(FileError::Sys(e)),
    };
    let opened = retry(|| rustix::fs::fstat(&fd))?;
    if (opened.st_dev, opened.st_ino) != (stat.st_dev, stat.st_ino) {
        return Err(FileError::Sys(Errno::STALE));
    }
    Ok((fd, opened))
}

/// Creates `name` in /dev/shm, which must not exist (`EEXIST` otherwise,
/// also for a link or a FIFO under that name: `O_EXCL` never follows),
/// readable and writable, with the permission bits `mode` as narrowed by
/// the umask.
pub(crate) fn create_new(name: &str, mode: u32) -> Result<OwnedFd, Errno> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | SAFE;
    retry(|| rustix::fs::open(path(name).as_str(), flags, Mode::from_bits_truncate(mode)))
}

/// The status of an open file.
pub(crate) fn stat(fd: &OwnedFd) -> Result<Stat, Errno> {
    retry(|| rustix::fs::fstat(fd))
}

/// Whether `stat` is of a regular file.
pub(crate) fn is_regular(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile
}

/// Sets the permission bits of an open file (`fchmod`), whatever the
/// umask.
pub(crate) fn set_mode(fd: &OwnedFd, mode: u32) -> Result<(), Errno> {
    retry(|| rustix::fs::fchmod(fd, Mode::from_bits_truncate(mode)))
}

/// Sets the group of an open file (`fchown` with the owner unchanged).
pub(crate) fn set_group(fd: &OwnedFd, gid: u32) -> Result<(), Errno> {
    retry(|| rustix::fs::fchown(fd, None, Some(rustix::process::Gid::from_raw(gid))))
}

/// Gives the first `len` bytes of an open file their pages (`fallocate`),
/// growing it to `len` if shorter: afterwards touching them cannot raise
/// `SIGBUS`, and a full file system is `ENOSPC` now rather than a signal
/// later.
pub(crate) fn reserve(fd: &OwnedFd, len: u64) -> Result<(), Errno> {
    retry(|| rustix::fs::fallocate(fd, FallocateFlags::empty(), 0, len))
}

/// Reads from `offset` of an open file into `buf` (`pread`, no mapping: a
/// file another process shrinks cannot raise `SIGBUS`); the count read,
/// 0 at the end of the file.
pub(crate) fn read_at(fd: &OwnedFd, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    retry(|| rustix::io::pread(fd, &mut *buf, offset))
}

/// The status of `name` in /dev/shm itself, not of what a link points at.
/// Needs no file descriptor.
pub(crate) fn lstat(name: &str) -> Result<Stat, Errno> {
    retry(|| rustix::fs::statat(rustix::fs::CWD, path(name).as_str(), AtFlags::SYMLINK_NOFOLLOW))
}

/// Removes `name` from /dev/shm (a link itself, never its target).
pub(crate) fn unlink(name: &str) -> Result<(), Errno> {
    retry(|| rustix::fs::unlink(path(name).as_str()))
}

/// Bytes of a file of `stat` backed by memory (`st_blocks` counts
/// 512-byte units, whatever the file system's block size).
pub(crate) fn allocated_bytes(stat: &Stat) -> u64 {
    u64::try_from(stat.st_blocks).unwrap_or(0).saturating_mul(512)
}

/// Whether every byte of a file of `stat` is backed by memory, so that
/// touching a mapping of it cannot raise `SIGBUS`: `fallocate` gave a
/// segment all its pages, and a file grown with `ftruncate` (or with holes
/// punched) has fewer bytes allocated than its size. (`SEEK_HOLE` cannot
/// tell: tmpfs reports pages that were allocated but never written as
/// holes.)
pub(crate) fn backed(stat: &Stat) -> bool {
    allocated_bytes(stat) >= u64::try_from(stat.st_size).unwrap_or(u64::MAX)
}

/// The names in /dev/shm (unsorted); entries that are not valid UTF-8 are
/// left out (no name shm makes is).
pub(crate) fn names() -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_dir(SHM_DIR)?.flatten().filter_map(|entry| entry.file_name().into_string().ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> String {
        format!("shmrs-dirtest-{tag}-{}", std::process::id())
    }

    #[test]
    fn a_fifo_is_refused_at_once_not_waited_on() {
        let name = scratch("fifo");
        let _ = unlink(&name);
        rustix::fs::mknodat(rustix::fs::CWD, path(&name).as_str(), FileType::Fifo, Mode::RUSR | Mode::WUSR, 0).unwrap();
        assert_eq!(open_existing(&name, false).err(), Some(FileError::NotAFile("a FIFO")));
        assert_eq!(open_existing(&name, true).err(), Some(FileError::NotAFile("a FIFO")));
        assert_eq!(create_new(&name, 0o400).err(), Some(Errno::EXIST));
        unlink(&name).unwrap();
    }

    #[test]
    fn a_link_is_refused_not_followed() {
        let (target, link) = (scratch("target"), scratch("link"));
        let _ = (unlink(&target), unlink(&link));
        rustix::fs::symlink(path(&target).as_str(), path(&link).as_str()).unwrap();
        // Dangling: creating through it must not make the target.
        assert_eq!(create_new(&link, 0o600).err(), Some(Errno::EXIST));
        assert_eq!(open_existing(&link, true).err(), Some(FileError::NotAFile("a symbolic link")));
        assert_eq!(lstat(&target).err(), Some(Errno::NOENT), "the link's target was created");
        // Pointing at a real file: still refused, and `lstat` and `unlink`
        // see the link itself.
        drop(create_new(&target, 0o600).unwrap());
        assert_eq!(open_existing(&link, false).err(), Some(FileError::NotAFile("a symbolic link")));
        assert_eq!(FileType::from_raw_mode(lstat(&link).unwrap().st_mode), FileType::Symlink);
        unlink(&link).unwrap();
        assert!(lstat(&target).is_ok(), "unlinking the link removed its target");
        unlink(&target).unwrap();
    }

    #[test]
    fn a_sparse_file_has_fewer_bytes_allocated_than_its_size() {
        let name = scratch("sparse");
        let _ = unlink(&name);
        let fd = create_new(&name, 0o600).unwrap();
        rustix::fs::ftruncate(&fd, 1 << 20).unwrap();
        let (_, stat) = open_existing(&name, false).unwrap();
        assert!(!backed(&stat));
        rustix::fs::fallocate(&fd, rustix::fs::FallocateFlags::empty(), 0, 1 << 19).unwrap();
        let (_, stat) = open_existing(&name, false).unwrap();
        assert!(!backed(&stat), "the second half is a hole");
        rustix::fs::fallocate(&fd, rustix::fs::FallocateFlags::empty(), 0, 1 << 20).unwrap();
        let (_, stat) = open_existing(&name, false).unwrap();
        assert!(backed(&stat));
        assert!(allocated_bytes(&stat) >= 1 << 20);
        unlink(&name).unwrap();
    }
}
