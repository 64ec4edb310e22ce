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
    // The kernel takes the count as a C `int`: `u32::MAX` would be -1 and
    // wake only one sleeper; `i32::MAX` is "all". An error can only mean a
    // bad address, which a reference rules out.
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX.cast_unsigned());
}

#[cfg(feature = "async")]
pub(crate) use waitv::*;

/// Sleeping on many words at once, for the waiter threads of the `async`
/// feature.
#[cfg(feature = "async")]
mod waitv {
    use rustix::thread::futex;
    use std::time::Duration;

    /// A word to sleep on by address, for the waiter threads: the address
    /// may outlive its mapping (a future forgotten with `mem::forget` never
    /// unregisters), so this process never reads it; only the kernel does,
    /// which reports an unmapped address as a fault.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub(crate) struct Armed {
        /// The word's address.
        pub(crate) addr: usize,
        /// The value to sleep on.
        pub(crate) expected: u32,
    }

    /// How a sleep on armed words ended.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Woke {
        /// The word at this index was woken (or woke spuriously).
        Woken(usize),
        /// Some word no longer held its value when the sleep began (or its
        /// address was not mapped): look at each.
        Changed,
        /// The timeout passed (or a signal interrupted the sleep).
        TimedOut,
        /// The kernel has no `futex_waitv` (before Linux 5.16, or a sandbox
        /// refuses it).
        Unsupported,
    }

    /// Most words one [`wait_any`] sleeps on (the kernel's limit).
    pub(crate) const WAITV_MAX: usize = 128;

    /// Sleeps until one of `words` (at most [`WAITV_MAX`]) is woken, or one
    /// holds another value than armed, or `timeout` passes (`None`: no
    /// timeout): `futex_waitv`, shared (not private) 32-bit words.
    pub(crate) fn wait_any(words: &[Armed], timeout: Option<Duration>) -> Woke {
        use rustix::thread::futex::{Wait, WaitFlags, WaitPtr, WaitvFlags};
        debug_assert!(words.len() <= WAITV_MAX);
        let mut waits = [Wait::new(); WAITV_MAX];
        for (wait, word) in waits.iter_mut().zip(words) {
            wait.val = u64::from(word.expected);
            // A raw address: the kernel reads it, this process does not.
            wait.uaddr = WaitPtr::new(core::ptr::without_provenance_mut(word.addr));
            wait.flags = WaitFlags::SIZE_U32;
        }
        // The timeout is absolute, on the monotonic clock.
        let deadline = timeout.map(|timeout| {
            let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
            let now = Duration::new(now.tv_sec.try_into().unwrap_or(0), now.tv_nsec.try_into().unwrap_or(0));
            let at = now.saturating_add(timeout);
            rustix::time::Timespec {
                tv_sec: i64::try_from(at.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(at.subsec_nanos()),
            }
        });
        let waits = &waits[..words.len()];
        match futex::waitv(waits, WaitvFlags::empty(), deadline.as_ref(), rustix::time::ClockId::Monotonic) {
            Ok(index) => Woke::Woken(index),
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::FAULT) => Woke::Changed,
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => Woke::Unsupported,
            // ETIMEDOUT, EINTR; anything else (EINVAL would be a bug of ours)
            // sends the caller back to its loop, which rechecks.
            Err(_) => Woke::TimedOut,
        }
    }

    /// Sleeps while the word at `word.addr` holds `word.expected`, for at most
    /// `timeout` (`Duration::ZERO`: only looks), by address (see [`Armed`]):
    /// [`Woke::Woken(0)`](Woke::Woken) when woken, [`Woke::Changed`] when it
    /// held another value or is not mapped, [`Woke::TimedOut`].
    pub(crate) fn wait_addr(word: Armed, timeout: Duration) -> Woke {
        let timeout = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos().cast_signed()),
        };
        // SAFETY: FUTEX_WAIT reads the 32-bit word at `addr` in the kernel,
        // which reports an unmapped address as EFAULT instead of faulting;
        // `timeout` is a valid timespec for the duration of the call. No Rust
        // reference to the word is made.
        let result = unsafe {
            libc::syscall(
                libc::SYS_futex,
                core::ptr::without_provenance::<u32>(word.addr),
                libc::FUTEX_WAIT,
                word.expected,
                &raw const timeout,
            )
        };
        if result == 0 {
            return Woke::Woken(0);
        }
        match rustix::io::Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)) {
            rustix::io::Errno::AGAIN | rustix::io::Errno::FAULT => Woke::Changed,
            _ => Woke::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::Ordering;
    use std::time::Instant;

    /// One `wake` wakes every sleeper, not one (the kernel reads the count
    /// as a C `int`, so `u32::MAX` would mean one).
    #[test]
    fn wake_wakes_every_sleeper() {
        let word = AtomicU32::new(1);
        let asleep = AtomicU32::new(0);
        std::thread::scope(|s| {
            let sleepers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        asleep.fetch_add(1, Ordering::Relaxed);
                        let started = Instant::now();
                        while word.load(Ordering::Relaxed) == 1 {
                            wait(&word, 1, Duration::from_secs(20));
                        }
                        started.elapsed()
                    })
                })
                .collect();
            while asleep.load(Ordering::Relaxed) < 4 {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(50));
            word.store(0, Ordering::Relaxed);
            wake(&word);
            for sleeper in sleepers {
                assert!(sleeper.join().unwrap() < Duration::from_secs(10), "a sleeper was not woken");
            }
        });
    }
}
