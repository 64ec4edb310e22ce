//! Sleeping on a word of shared memory until another process changes it.

use core::sync::atomic::AtomicU32;
use rustix::thread::futex;
use std::time::Duration;

/// Sleeps while `word` holds `expected`, for at most `timeout` (or until a
/// [`wake`] on the same word, from any process mapping it, or a spurious
/// wakeup). The caller re-checks its condition either way.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let timeout = rustix::time::Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    // Not FUTEX_PRIVATE: the word is shared between processes. EAGAIN (the
    // word changed), EINTR and ETIMEDOUT all send the caller back to its
    // check, which is what it does anyway.
    let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&timeout));
}

/// Wakes every process sleeping in [`wait`] on `word`.
pub(crate) fn wake(word: &AtomicU32) {
    // An error can only mean a bad address, which a reference rules out.
    let _ = futex::wake(word, futex::Flags::empty(), u32::MAX);
}
