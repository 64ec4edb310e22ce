//! Bare shared mappings for the floor cases and the control block: POSIX
//! `shm_open` by name, `ftruncate`, `mmap`, and nothing else (no header,
//! no checks). The creator unlinks the name when it drops its mapping.
//!
//! Every name the harness makes starts with [`prefix`] (`shmrs-bench-<pid>-`),
//! so a crashed run's leftovers can be told apart from a live run's and
//! removed at the next start ([`remove_stale`]); CI's `/dev/shm` check
//! (entries starting with `shmrs-`) sees them too.

use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use rustix::fs::Mode;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm;
use std::io;

/// What every name of this run starts with: `shmrs-bench-<pid>-`.
pub fn prefix() -> String {
    format!("shmrs-bench-{}-", std::process::id())
}

/// A fresh name for this run: the prefix, a counter, and `tag`.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // Relaxed: only uniqueness matters; no other memory is published by it.
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}{n}-{tag}", prefix())
}

/// The pid in a name made by [`prefix`] in some run, if it is one.
fn creator_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("shmrs-bench-")?;
    rest.split('-').next()?.parse().ok()
}

/// Whether process `pid` is alive (a zombie counts as dead).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the last `)` (the command name may hold one).
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Removes what a crashed earlier run left: `/dev/shm` entries and
/// iceoryx2 root folders in the temporary directory whose name carries the
/// pid of a process that is no longer alive. Returns the names removed.
pub fn remove_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let tmp = std::env::temp_dir();
    for dir in [std::path::Path::new("/dev/shm"), tmp.as_path()] {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = creator_pid(&name) else { continue };
            if pid == std::process::id() || pid_alive(pid) {
                continue;
            }
            let path = entry.path();
            let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            if gone.is_ok() {
                removed.push(name);
            }
        }
    }
    removed
}

/// Removes every `/dev/shm` entry and temporary folder of this run whose
/// name starts with `prefix() + tag`: what a peer library made under a
/// prefix of ours and may have left. Returns their paths.
pub fn remove_own(tag: &str) -> Vec<String> {
    let own = format!("{}{tag}", prefix());
    let tmp = std::env::temp_dir();
    let mut removed = Vec::new();
    for dir in [std::path::Path::new("/dev/shm"), tmp.as_path()] {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with(&own) {
                continue;
            }
            let path = entry.path();
            let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            if gone.is_ok() {
                removed.push(path.display().to_string());
            }
        }
    }
    removed
}

/// A shared mapping of a named POSIX shared-memory object.
pub struct RawShm {
    name: String,
    base: NonNull<u8>,
    len: usize,
    /// Whether this mapping created the name (and so unlinks it on drop).
    owner: bool,
}

// SAFETY: the mapping is plain memory that any thread may access; all
// access to it goes through atomics or through the ring protocols that
// hand each byte to one side at a time.
unsafe impl Send for RawShm {}

impl RawShm {
    /// Creates `name` (exclusively) with `len` zeroed bytes and maps it.
    pub fn create(name: &str, len: usize) -> io::Result<Self> {
        let path = format!("/{name}");
        let fd = shm::open(
            path.as_str(),
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::RUSR | Mode::WUSR,
        )?;
        // From here on a failure must not leave the name behind.
        let unlink = || {
            let _ = shm::unlink(path.as_str());
        };
        if let Err(e) = rustix::fs::ftruncate(&fd, len as u64) {
            unlink();
            return Err(e.into());
        }
        match map(&fd, len) {
            Ok(base) => Ok(Self { name: name.to_owned(), base, len, owner: true }),
            Err(e) => {
                unlink();
                Err(e)
            }
        }
    }

    /// Opens and maps `name`, which another process created with `len`
    /// bytes.
    pub fn open(name: &str, len: usize) -> io::Result<Self> {
        let path = format!("/{name}");
        let fd = shm::open(path.as_str(), shm::OFlags::RDWR, Mode::empty())?;
        let size = rustix::fs::fstat(&fd)?.st_size;
        if u64::try_from(size).ok() != Some(len as u64) {
            return Err(io::Error::other(format!("segment {name} has {size} bytes, expected {len}")));
        }
        let base = map(&fd, len)?;
        Ok(Self { name: name.to_owned(), base, len, owner: false })
    }

    /// The name (without the leading `/`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Start of the mapping (page aligned).
    pub fn ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The first `n` 64-bit words of the mapping as atomics.
    ///
    /// # Panics
    ///
    /// If the mapping is shorter than `n` words.
    #[expect(clippy::cast_ptr_alignment, reason = "mappings are page aligned")]
    pub fn words(&self, n: usize) -> &[AtomicU64] {
        assert!(n * 8 <= self.len, "mapping of {} bytes has fewer than {n} words", self.len);
        // SAFETY: the mapping is page aligned (so 8-byte aligned), at least
        // `n * 8` bytes long (asserted), lives as long as `self`, and is
        // only ever accessed through atomics at these offsets (the control
        // block and the ping-pong words), by either process.
        unsafe { core::slice::from_raw_parts(self.base.as_ptr().cast::<AtomicU64>(), n) }
    }
}

/// Maps `len` bytes of `fd` shared, readable and writable.
fn map(fd: &std::os::fd::OwnedFd, len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a new mapping chosen by the kernel (null hint) aliases no
    // Rust object; the file is `len` bytes long (created or checked by the
    // caller), so every mapped page is backed.
    let ptr = unsafe {
        rustix::mm::mmap(core::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, fd, 0)
    }?;
    NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))
}

impl Drop for RawShm {
    fn drop(&mut self) {
        // SAFETY: `base..base + len` is the mapping this object made; no
        // reference into it outlives `self` (`words` borrows `self`).
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast::<c_void>(), self.len) };
        if self.owner {
            let _ = shm::unlink(format!("/{}", self.name).as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_pid_and_stale_ones_are_recognized() {
        let name = unique_name("x");
        assert_eq!(creator_pid(&name), Some(std::process::id()));
        assert_eq!(creator_pid("shmrs-0123"), None);
        assert!(pid_alive(std::process::id()));
    }

    #[test]
    fn create_open_share_and_unlink() {
        let name = unique_name("test");
        let a = RawShm::create(&name, 4096).unwrap();
        let b = RawShm::open(&name, 4096).unwrap();
        // Release/Acquire pair with each other across the two mappings.
        a.words(1)[0].store(7, Ordering::Release);
        assert_eq!(b.words(1)[0].load(Ordering::Acquire), 7);
        assert!(RawShm::open(&name, 8192).is_err(), "size is checked");
        drop(a);
        assert!(!std::path::Path::new("/dev/shm").join(&name).exists());
    }
}
