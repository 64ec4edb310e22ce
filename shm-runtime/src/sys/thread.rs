//! Questions about this process's threads: which one is calling, and how
//! much processor time one has used.

/// The calling thread's id (`gettid`).
pub(crate) fn current_tid() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}

/// Processor time thread `tid` of this process has run so far, from
/// `/proc/self/task/<tid>/schedstat` (nanoseconds on the CPU first);
/// `None` if the kernel does not say.
#[cfg(test)]
pub(crate) fn cpu_time(tid: i32) -> Option<std::time::Duration> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(std::time::Duration::from_nanos(nanos))
}
