//! Timeouts from Python (seconds as `float`, `None` for no limit) and the
//! one loop every blocking call runs: the GIL released while waiting, in
//! slices of at most [`SLICE`], with Python's signal handlers run between
//! slices so Ctrl-C raises `KeyboardInterrupt`.

use crate::errors::ToPyErr;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use shm_runtime::{OpenError, RingError};
use std::time::{Duration, Instant};

/// Longest wait between two looks at Python's signals.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// `seconds` as a duration: `None` is no limit (also for a value too large
/// for a `Duration`); negative or NaN is a `ValueError`.
pub(crate) fn timeout(seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_nan() || s < 0.0 => {
            Err(PyValueError::new_err(format!("a timeout is 0 or more seconds, not {s}")))
        }
        Some(s) => Ok(Duration::try_from_secs_f64(s).ok()),
    }
}

/// How long an open waits for its creator: `seconds`, or shm's default.
pub(crate) fn open_wait(seconds: Option<f64>) -> PyResult<Duration> {
    match seconds {
        None => Ok(shm_runtime::DEFAULT_OPEN_WAIT),
        Some(_) => Ok(timeout(seconds)?.unwrap_or(Duration::MAX)),
    }
}

/// Runs `attempt` (a ring call that waits up to the duration it gets)
/// until it succeeds, fails with anything but a timeout, or `limit`
/// passes (`None`: no limit). Each attempt runs without the GIL and waits
/// at most [`SLICE`]; between attempts Python's signal handlers run, and
/// an exception they raise (`KeyboardInterrupt`) ends the wait.
pub(crate) fn blocking<T: Send>(
    py: Python<'_>,
    limit: Option<Duration>,
    mut attempt: impl FnMut(Duration) -> Result<T, RingError> + Send,
) -> PyResult<T> {
    let deadline = limit.and_then(|l| Instant::now().checked_add(l));
    loop {
        let slice = match deadline {
            None => SLICE,
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        };
        match py.detach(|| attempt(slice)) {
            Ok(value) => return Ok(value),
            Err(RingError::Timeout { name, .. }) => {
                py.check_signals()?;
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    let waited = limit.unwrap_or_default();
                    return Err(RingError::Timeout { name, waited }.to_py());
                }
            }
            Err(e) => return Err(e.to_py()),
        }
    }
}

/// How long a wait of a ring's `can_read`/`can_write` or of `wait_changed`
/// spins (without the GIL) before it sleeps: what comes within it costs
/// neither side a system call (a write while nobody sleeps makes none).
pub(crate) const SPIN_BEFORE_SLEEP: Duration = Duration::from_micros(30);

/// The loop of every `wait_changed`: looks at `version` (the object's
/// version) without the GIL for up to [`SPIN_BEFORE_SLEEP`], then runs
/// `wait` (a change wait of up to the duration it gets: the new version,
/// or `None` when it passed unchanged) in slices of at most [`SLICE`]
/// without the GIL until a version other than `since` comes back or
/// `seconds` (`None`: no limit) pass; Python's signal handlers run between
/// slices, so Ctrl-C raises `KeyboardInterrupt`. `None` once the time is
/// up.
pub(crate) fn changed(
    py: Python<'_>,
    since: u64,
    seconds: Option<f64>,
    version: impl Fn() -> u64 + Sync,
    mut wait: impl FnMut(Duration) -> Option<u64> + Send,
) -> PyResult<Option<u64>> {
    let limit = timeout(seconds)?;
    let deadline = limit.and_then(|t| Instant::now().checked_add(t));
    let mut seen = since;
    if spin(py, limit.map_or(SPIN_BEFORE_SLEEP, |l| l.min(SPIN_BEFORE_SLEEP)), || {
        seen = version();
        seen != since
    }) {
        return Ok(Some(seen));
    }
    loop {
        let slice = deadline.map_or(SLICE, |d| d.saturating_duration_since(Instant::now()).min(SLICE));
        if let Some(version) = py.detach(|| wait(slice)) {
            return Ok(Some(version));
        }
        py.check_signals()?;
        if slice.is_zero() || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
    }
}

/// What an open looks for: a segment by name (which may appear later) or
/// by handle (whose segment exists already, or never will).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// `open(name)`: a missing name is waited for.
    Name,
    /// `load_sharedobject(handle)`: a missing name is final.
    Handle,
}

/// Runs `attempt` (an open that waits up to the duration it gets for the
/// segment to appear and be ready) in slices of at most [`SLICE`] without
/// the GIL until it succeeds, fails for good, or `wait` passes; Python's
/// signal handlers run between slices, so Ctrl-C ends a long wait.
pub(crate) fn opening<T: Send>(
    py: Python<'_>,
    target: Target,
    wait: Duration,
    mut attempt: impl FnMut(Duration) -> Result<T, OpenError> + Send,
) -> PyResult<T> {
    let deadline = Instant::now().checked_add(wait);
    loop {
        let slice = match deadline {
            None => SLICE,
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        };
        let result = py.detach(|| attempt(slice));
        let retry = match &result {
            Err(OpenError::NotInitialized { .. }) => true,
            Err(OpenError::NotFound { .. }) => target == Target::Name,
            _ => false,
        };
        let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
        if !retry || out_of_time {
            return result.map_err(|e| e.to_py());
        }
        py.check_signals()?;
    }
}

/// Whether `ready` says yes within `wait` (short: microseconds), asking
/// it again and again without the GIL, with the processor's spin hint
/// between looks.
pub(crate) fn spin(py: Python<'_>, wait: Duration, mut ready: impl FnMut() -> bool + Send) -> bool {
    py.detach(|| {
        let deadline = Instant::now().checked_add(wait);
        loop {
            if ready() {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            for _ in 0..16 {
                std::hint::spin_loop();
            }
        }
    })
}
