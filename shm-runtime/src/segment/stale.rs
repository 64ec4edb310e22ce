//! What a file in /dev/shm is, read without opening it as an object, and
//! removing the stale ones: the work behind [`crate::tools`]'s listing,
//! inspecting and cleaning, and the sweep a process makes before its first
//! create.
//!
//! Everything here reads files with `pread` (never a mapping, so a file
//! another process shrinks cannot raise `SIGBUS`), treats every byte as
//! untrusted, and decides liveness through the kernel
//! ([`crate::segment::liveness`]).
//!
//! A segment is *stale* when its header is complete (state ready) and its
//! creator is proven dead, and *abandoned* when its creator died before
//! finishing it (it starts with the magic, its state is still initializing
//! and the creator is dead; or, under a name with shm's prefix, it is empty
//! or its whole header is zeros and no creator holds the initialization
//! lock). A creator stores the magic and its identity in its first stores,
//! so a file with zeros where the magic goes and anything else in its
//! header is never shm's, whatever its name: it is `Foreign`.
//!
//! Files are opened without following links or waiting on FIFOs
//! ([`crate::sys::shm_dir`]); anything but a regular file is left out. The
//! sweep a process makes at its first create looks only at files its
//! effective user owns.
//! Only those two are ever removed, and only while the cleaner holds the
//! segment's initialization lock: a creator holds that lock from just after
//! `open` until it publishes, and two cleaners cannot both hold it, so
//! a segment is examined and removed by one cleaner at a time, never while
//! its creator sets it up.

use crate::format::header::{HEADER_SIZE, Header, MAGIC, ObjectKind, STATE_INITIALIZING, STATE_READY};
use crate::segment::handle::Handle;
use crate::segment::liveness::{self, Liveness};
use crate::segment::name::{NAME_PREFIX, SegmentName};
use crate::sys::shm_dir::{self, FileError};
use crate::sys::{Errno, process};
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How old a file without a header (or without its creator's identity) must
/// be before a free initialization lock proves its creator gone: the
/// creator takes the lock right after `open`, and this covers the gap.
const UNWRITTEN_GRACE: Duration = Duration::from_secs(2);

/// What a file in /dev/shm is, as far as shm can tell.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Ready, and its creator is alive.
    Live,
    /// Its creator is still setting it up (it is alive, or holds the
    /// initialization lock).
    Initializing,
    /// Ready, but its creator is dead: nobody will remove it.
    Stale {
        /// The dead creator.
        creator_pid: u64,
    },
    /// Its creator died before finishing it.
    Abandoned {
        /// The dead creator, when it got as far as writing its identity.
        creator_pid: Option<u64>,
    },
    /// Made by shm, but whether its creator lives cannot be told (an
    /// invalid identity, or the kernel did not answer). Never removed.
    Unknown {
        /// The creator's pid, as recorded.
        creator_pid: u64,
    },
    /// Starts with shm's magic but its state word is neither initializing
    /// nor ready: damaged. Never removed.
    Corrupt,
    /// Not made by shm (another program's file). Never removed.
    Foreign,
    /// This process may not read it (another user's segment).
    NoAccess,
}

impl Status {
    /// Whether [`clean_stale`](crate::tools::clean_stale) removes a segment in this state.
    #[must_use]
    pub const fn is_stale(self) -> bool {
        matches!(self, Self::Stale { .. } | Self::Abandoned { .. })
    }

    /// Whether the file is a segment made by shm (of any state).
    #[must_use]
    pub const fn is_shm(self) -> bool {
        !matches!(self, Self::Foreign | Self::NoAccess)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Live => f.write_str("live"),
            Self::Initializing => f.write_str("initializing"),
            Self::Stale { creator_pid } => write!(f, "stale (creator pid {creator_pid} is dead)"),
            Self::Abandoned { creator_pid: Some(pid) } => {
                write!(f, "abandoned (creator pid {pid} died while initializing it)")
            }
            Self::Abandoned { creator_pid: None } => {
                f.write_str("abandoned (its creator died before writing a header)")
            }
            Self::Unknown { creator_pid } => write!(f, "unknown (cannot tell whether creator pid {creator_pid} lives)"),
            Self::Corrupt => f.write_str("corrupt (state word is neither initializing nor ready)"),
            Self::Foreign => f.write_str("foreign (not made by shm)"),
            Self::NoAccess => f.write_str("no access (owned by another user)"),
        }
    }
}

/// One file of /dev/shm, as read (not opened as an object).
#[derive(Clone, Debug)]
pub struct SegmentInfo {
    /// The file's name in /dev/shm (the segment name, for shm's segments).
    pub name: String,
    /// The file's size in bytes.
    pub file_size: u64,
    /// The owner's user id.
    pub owner_uid: u32,
    /// The permission bits (`0o600` for shm's own).
    pub mode: u32,
    /// When the file's data was last modified (by `fallocate` at creation,
    /// for shm's segments).
    pub modified: SystemTime,
    /// The header as stored, unvalidated beyond its magic: `None` for a
    /// file shorter than a header, a foreign file, or one we cannot read.
    pub header: Option<Header>,
    /// What it is.
    pub status: Status,
    /// Device and inode, to tell this file from one made later under the
    /// same name.
    file_id: (u64, u64),
}

impl SegmentInfo {
    /// The stored object's kind, if the header names one this version
    /// knows.
    #[must_use]
    pub fn kind(&self) -> Option<ObjectKind> {
        self.header.and_then(|h| ObjectKind::from_code(h.kind))
    }

    /// A handle that opens the segment as the object its header announces
    /// (opening still checks everything).
    #[must_use]
    pub fn handle(&self) -> Option<Handle> {
        let header = self.header?;
        let name = SegmentName::new(&self.name).ok()?;
        Some(Handle::new(name, self.kind()?, header.fingerprint, header.payload_size, header.nonce))
    }
}

/// Removes stale segments of this process's effective user older than
/// `min_age` (by the file's modification time) at most once per process:
/// what creating a segment does first, so leftovers of crashed programs do
/// not pile up. Other users' files are never touched by this sweep (a
/// program run as root removes only root's own leftovers here; `shm clean`
/// and [`clean_stale`](crate::tools::clean_stale) remove others' when asked).
pub(crate) fn clean_on_create(min_age: Duration) {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !*done {
        *done = true;
        let _ = clean(Some(min_age), Some(process::euid()), false);
    }
}

/// Removes `name` if it is a stale or abandoned segment (its creator
/// proven dead) of this process's effective user, for a creator that wants
/// the name: a program killed and started again gets its name back at once.
/// Otherwise says what the file is (`None` if it cannot be read) and who
/// created it.
pub(crate) fn take_over(name: &str) -> Result<(), (Option<Status>, Option<u64>)> {
    match examine(name, true) {
        // Held: the initialization lock, until the end of this call.
        Ok(Some((info, Some(_lock)))) => {
            if info.status.is_stale() && info.owner_uid == process::euid() && remove_if_same(name, &info) {
                Ok(())
            } else {
                Err((Some(info.status), info.header.map(|h| h.creator_pid())))
            }
        }
        // Someone holds the lock: a creator is setting it up.
        Ok(Some((info, None))) => Err((Some(Status::Initializing), info.header.map(|h| h.creator_pid()))),
        Err(Errno::ACCESS | Errno::PERM) => Err((Some(Status::NoAccess), None)),
        // Gone meanwhile: the caller tries again.
        Err(Errno::NOENT) => Ok(()),
        Ok(None) => Err((Some(Status::Foreign), None)),
        Err(_) => Err((None, None)),
    }
}

/// Removes (or with `dry_run` lists) the stale segments older than
/// `min_age`, only those owned by `owner` if given.
pub(crate) fn clean(min_age: Option<Duration>, owner: Option<u32>, dry_run: bool) -> io::Result<Vec<SegmentInfo>> {
    let mut removed = Vec::new();
    for name in candidate_names()? {
        // Only with the initialization lock held (`examine` takes it, and
        // the descriptor holds it until dropped at the end of this turn).
        let Ok(Some((info, Some(_lock)))) = examine(&name, true) else { continue };
        if !info.status.is_stale() || owner.is_some_and(|uid| uid != info.owner_uid) {
            continue;
        }
        let old_enough = min_age.is_none_or(|age| info.modified.elapsed().is_ok_and(|elapsed| elapsed >= age));
        if !old_enough {
            continue;
        }
        if !dry_run && !remove_if_same(&name, &info) {
            continue;
        }
        removed.push(info);
    }
    Ok(removed)
}

/// Removes `name` if it still is the file `info` describes (another
/// process may have removed it and made a new one under the same name).
fn remove_if_same(name: &str, info: &SegmentInfo) -> bool {
    // `lstat`: a link put in the file's place is not the file.
    let Ok(stat) = shm_dir::lstat(name) else { return false };
    if (stat.st_dev, stat.st_ino) != info.file_id {
        return false;
    }
    shm_dir::unlink(name).is_ok()
}

pub(crate) fn no_access(name: &str) -> SegmentInfo {
    SegmentInfo {
        name: name.to_owned(),
        file_size: 0,
        owner_uid: u32::MAX,
        mode: 0,
        modified: SystemTime::UNIX_EPOCH,
        header: None,
        status: Status::NoAccess,
        file_id: (0, 0),
    }
}

/// The names in /dev/shm that could be segments: not starting with `.`.
pub(crate) fn candidate_names() -> io::Result<Vec<String>> {
    let mut names: Vec<String> = shm_dir::names()?.into_iter().filter(|name| !name.starts_with('.')).collect();
    names.sort_unstable();
    Ok(names)
}

/// Reads `name`'s metadata and header and decides its status. With
/// `lock`, opens it writable and takes its initialization lock first (a
/// file whose lock is held is reported initializing and the descriptor is
/// not returned). `Ok(None)` for something other than a regular file.
pub(crate) fn examine(name: &str, lock: bool) -> Result<Option<(SegmentInfo, Option<OwnedFd>)>, Errno> {
    // Never following a link, never waiting on a FIFO.
    let (fd, stat) = match shm_dir::open_existing(name, lock) {
        Ok(opened) => opened,
        Err(FileError::NotAFile(_)) => return Ok(None),
        Err(FileError::Sys(e)) => return Err(e),
    };
    let locked = if lock { liveness::try_lock_whole(&fd)? } else { !liveness::whole_file_lock_held(&fd) };
    let file_size = u64::try_from(stat.st_size).unwrap_or(0);
    let modified = SystemTime::UNIX_EPOCH
        + Duration::new(u64::try_from(stat.st_mtime).unwrap_or(0), u32::try_from(stat.st_mtime_nsec).unwrap_or(0));
    // A creator takes its lock microseconds after `open`; a file this
    // young without the lock may be in that gap.
    let young = modified.elapsed().map_or(true, |age| age < UNWRITTEN_GRACE);
    let mut header_bytes = [0u8; HEADER_SIZE];
    let mut read = 0;
    while read < HEADER_SIZE {
        match shm_dir::read_at(&fd, &mut header_bytes[read..], read as u64)? {
            0 => break,
            n => read += n,
        }
    }
    let header = (read == HEADER_SIZE).then(|| zerocopy::transmute!(header_bytes));
    let prefixed = name.starts_with(NAME_PREFIX);
    let status = status_of(header.as_ref(), file_size, prefixed, locked && !young);
    let info = SegmentInfo {
        name: name.to_owned(),
        file_size,
        owner_uid: stat.st_uid,
        mode: stat.st_mode & 0o7777,
        modified,
        header: header.filter(|h: &Header| h.magic == MAGIC),
        status,
        file_id: (stat.st_dev, stat.st_ino),
    };
    Ok(Some((info, (lock && locked).then_some(fd))))
}

/// The status of a file of `file_size` bytes with `header` (`None`:
/// shorter than a header); `prefixed` says its name starts with
/// [`NAME_PREFIX`]; `free` says nobody else holds its initialization lock
/// and the file is older than [`UNWRITTEN_GRACE`].
fn status_of(header: Option<&Header>, file_size: u64, prefixed: bool, free: bool) -> Status {
    // What a creator's file looks like before it stores its identity: empty
    // (before `fallocate`), or its full size and still all zeros. Other
    // programs keep small files in /dev/shm too (POSIX semaphores are 32
    // bytes): a short file that is not empty is never ours, and an empty or
    // zeroed one counts as ours only under shm's own name prefix, so that
    // an idle file of another program is never taken for an abandoned one.
    // A creator stores the magic and its identity first: a header with
    // zeros for the magic and anything else written was not made by shm.
    let unwritten = match header {
        None => file_size == 0,
        Some(h) => zerocopy::IntoBytes::as_bytes(h).iter().all(|b| *b == 0),
    };
    if (header.is_none() && !unwritten) || (unwritten && !prefixed) {
        return Status::Foreign;
    }
    if unwritten {
        // No creator recorded yet: one is setting it up exactly when it
        // holds the lock.
        return if free { Status::Abandoned { creator_pid: None } } else { Status::Initializing };
    }
    let Some(header) = header.filter(|h| h.magic == MAGIC) else {
        return Status::Foreign;
    };
    let creator_pid = header.creator_pid();
    let liveness = if header.creator == 0 { Liveness::Unknown } else { Liveness::of(liveness::alive(header.creator)) };
    match (header.state, liveness) {
        (STATE_READY | STATE_INITIALIZING, Liveness::Unknown) => Status::Unknown { creator_pid },
        (STATE_READY, Liveness::Alive) => Status::Live,
        (STATE_READY, Liveness::Dead) => Status::Stale { creator_pid },
        (STATE_INITIALIZING, Liveness::Alive) => Status::Initializing,
        (STATE_INITIALIZING, Liveness::Dead) => Status::Abandoned { creator_pid: Some(creator_pid) },
        _ => Status::Corrupt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    fn with_words(edit: impl FnOnce(&mut Header)) -> Header {
        let mut header = Header::new_zeroed();
        edit(&mut header);
        header
    }

    /// H4: zeros where the magic goes are not shm's magic, whatever else the
    /// file holds and whatever its name (a creator stores the magic first).
    #[test]
    fn h4_zeros_for_the_magic_are_foreign_unless_the_whole_header_is_zero_under_our_prefix() {
        let dead_creator = with_words(|h| h.creator = 0x7fff_fff0);
        for prefixed in [false, true] {
            for free in [false, true] {
                assert_eq!(status_of(Some(&dead_creator), 4096, prefixed, free), Status::Foreign, "{prefixed} {free}");
                let state_only = with_words(|h| h.state = STATE_READY);
                assert_eq!(status_of(Some(&state_only), 4096, prefixed, free), Status::Foreign);
            }
        }
        let zeros = Header::new_zeroed();
        assert_eq!(status_of(Some(&zeros), 4096, false, true), Status::Foreign, "another program's zeroed file");
        assert_eq!(status_of(None, 0, false, true), Status::Foreign, "another program's empty file");
        assert_eq!(status_of(None, 32, true, true), Status::Foreign, "short and not empty");
        assert_eq!(status_of(Some(&zeros), 4096, true, true), Status::Abandoned { creator_pid: None });
        assert_eq!(status_of(Some(&zeros), 4096, true, false), Status::Initializing);
        assert_eq!(status_of(None, 0, true, true), Status::Abandoned { creator_pid: None });
    }
}
