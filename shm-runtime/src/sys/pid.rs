//! This process's id, without a system call on the hot path and right
//! after `fork`.
//!
//! The id is cached in a private anonymous page marked `MADV_WIPEONFORK`:
//! the kernel hands a forked child that page zeroed, so the child sees 0
//! and asks the kernel again instead of using its parent's id. On a kernel
//! without `MADV_WIPEONFORK` every call asks the kernel.

use core::sync::atomic::{AtomicU64, Ordering};
use rustix::mm::{Advice, MapFlags, ProtFlags};
use std::sync::OnceLock;

/// Words of the cache page: this one's pid, and the process identity of
/// [`crate::segment::liveness`].
const WORDS: usize = 2;

/// The cache words, or `None` when the kernel cannot wipe them on fork.
static CACHE: OnceLock<Option<&'static [AtomicU64; WORDS]>> = OnceLock::new();

fn cache_page() -> Option<&'static [AtomicU64; WORDS]> {
    let len = rustix::param::page_size();
    // SAFETY: a fresh private anonymous mapping aliases no Rust memory.
    let page = unsafe {
        rustix::mm::mmap_anonymous(core::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE)
    }
    .ok()?;
    // SAFETY: `page` is a mapping of `len` bytes we own and nothing else
    // uses; the advice changes only what a forked child sees.
    if unsafe { rustix::mm::madvise(page, len, Advice::LinuxWipeOnFork) }.is_err() {
        // SAFETY: `page`/`len` are exactly what mmap returned and no
        // reference into it exists.
        let _ = unsafe { rustix::mm::munmap(page, len) };
        return None;
    }
    // SAFETY: the page is page aligned, zeroed, larger than the words,
    // never unmapped (it lives for the whole process), and only accessed
    // through these atomics.
    Some(unsafe { &*page.cast::<[AtomicU64; WORDS]>() })
}

/// Word `index` of a private page that a forked child sees zeroed: a cache
/// for per-process values that must not survive `fork`. `None` on kernels
/// without `MADV_WIPEONFORK`.
pub(crate) fn fork_local(index: usize) -> Option<&'static AtomicU64> {
    CACHE.get_or_init(cache_page).map(|words| &words[index])
}

fn ask_kernel() -> u64 {
    u64::from(rustix::process::getpid().as_raw_nonzero().get().unsigned_abs())
}

/// The calling process's id.
pub(crate) fn current() -> u64 {
    let Some(word) = fork_local(0) else {
        return ask_kernel();
    };
    // Relaxed: the word is private to this process and every thread would
    // store the same value.
    match word.load(Ordering::Relaxed) {
        0 => {
            let pid = ask_kernel();
            word.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_kernel() {
        assert_eq!(current(), u64::from(std::process::id()));
        assert_eq!(current(), u64::from(std::process::id()));
    }

    #[test]
    fn a_forked_child_sees_its_own_pid() {
        let parent = current();
        // SAFETY: the child only makes system calls and atomic accesses
        // (the cache is already initialized above) and leaves with _exit.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            // SAFETY: getpid and _exit are async-signal-safe.
            let ok = current() == u64::from(unsafe { libc::getpid() }.unsigned_abs()) && current() != parent;
            // SAFETY: leaves the child without running the parent's
            // destructors or test harness.
            unsafe { libc::_exit(i32::from(!ok)) };
        }
        let mut status = 0;
        // SAFETY: `child` is our child; `status` is a valid out pointer.
        let waited = unsafe { libc::waitpid(child, &raw mut status, 0) };
        assert_eq!(waited, child);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child saw a wrong pid (status {status})");
        assert_eq!(current(), parent);
    }
}
