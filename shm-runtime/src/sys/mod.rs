//! The operating system, and nothing else: every system call the runtime
//! makes goes through this layer (files in /dev/shm, mappings, record
//! locks, futexes, membarrier, random bytes, process and thread questions and the
//! process's fork-local page). It imports nothing from the layers above;
//! no file outside it names `libc` or `rustix`.

pub(crate) mod futex;
pub(crate) mod lock;
pub(crate) mod map;
pub(crate) mod membarrier;
pub(crate) mod pid;
pub(crate) mod process;
pub(crate) mod random;
pub(crate) mod shm_dir;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(feature = "async")]
pub(crate) mod thread;

/// What `fstat` says about a file.
pub(crate) use rustix::fs::Stat;
/// An error number from a system call.
pub(crate) use rustix::io::Errno;

/// Retries `f` while it fails with `EINTR`.
pub(crate) fn retry<T>(mut f: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    loop {
        match f() {
            Err(Errno::INTR) => {}
            other => return other,
        }
    }
}
