//! `shm watch`: a segment's value refreshed in place until Ctrl-C, or
//! until the segment disappears.

use crate::report::{self, Object, Value};
use crate::{Failure, print, target};
use shm_runtime::tools::{InspectError, inspect_segment};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by the SIGINT handler; the loop checks it between naps.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Longest nap between two looks at [`INTERRUPTED`].
const NAP: Duration = Duration::from_millis(10);

extern "C" fn on_sigint(_signal: libc::c_int) {
    // Async-signal-safe: one atomic store. Relaxed: the flag carries no
    // other data.
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Makes SIGINT set [`INTERRUPTED`] instead of killing the process.
fn catch_sigint() -> Result<(), Failure> {
    // SAFETY: `sigaction` is a plain C struct for which all zeros is a
    // valid value (no handler, empty flags, and a mask filled below).
    let mut action: libc::sigaction = unsafe { core::mem::zeroed() };
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    action.sa_sigaction = handler as libc::sighandler_t;
    // SAFETY: `sa_mask` is a valid, writable `sigset_t`.
    unsafe { libc::sigemptyset(&raw mut action.sa_mask) };
    // SAFETY: `action` is fully initialized and its handler only stores an
    // atomic (async-signal-safe); the old action is not asked for.
    let result = unsafe { libc::sigaction(libc::SIGINT, &raw const action, core::ptr::null_mut()) };
    if result == 0 { Ok(()) } else { Err(Failure(format!("cannot catch SIGINT: {}", std::io::Error::last_os_error()))) }
}

/// Hides the cursor on a terminal and shows it again when dropped (on every
/// way out of the loop).
struct Cursor {
    tty: bool,
}

impl Cursor {
    fn new(tty: bool) -> Result<Self, Failure> {
        if tty {
            print("\x1b[?25l")?;
        }
        Ok(Self { tty })
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        if self.tty {
            let _ = print("\x1b[?25h");
        }
    }
}

/// Runs `shm watch`.
pub(crate) fn run(text: &str, interval_ms: u64, count: Option<u64>) -> Result<(), Failure> {
    let target = target::resolve(text)?;
    let name = target.info.name.clone();
    if target.info.status.is_stale() {
        return Err(Failure(format!(
            "segment {name:?} is {}: nothing will change it (remove it with `shm clean`)",
            target.info.status
        )));
    }
    if !target.readable() {
        return Err(Failure(format!(
            "segment {name:?} cannot be watched: {}",
            report::unreadable_reason(&target.info)
        )));
    }
    let object = Object::open(&target.handle)?;
    let nonce = target.handle.nonce();
    let kind = target.handle.kind();
    let type_name = target.info.header.as_ref().and_then(|h| h.type_name().map(str::to_owned));
    catch_sigint()?;
    let interval = Duration::from_millis(interval_ms);
    let tty = std::io::stdout().is_terminal();
    let cursor = Cursor::new(tty)?;
    // A ring's write position and when it was read, for messages/s.
    let mut last_write: Option<(Instant, u64)> = None;
    let mut drawn = 0usize;
    let mut refresh = 0u64;
    while !INTERRUPTED.load(Ordering::Relaxed) {
        // The name still there, and still the same segment?
        let info = match inspect_segment(&name) {
            Ok(info) if info.header.is_some_and(|h| h.nonce == nonce) => info,
            Ok(_) => return Err(Failure(format!("segment {name:?} was replaced by another segment of that name"))),
            Err(InspectError::NotFound { .. }) => {
                drop(cursor);
                return Err(Failure(format!("segment {name:?} disappeared (its creator removed it)")));
            }
            Err(e) => return Err(e.into()),
        };
        refresh += 1;
        let mut lines = vec![format!(
            "{name}  {kind}{}  refresh {refresh}, every {interval_ms} ms (Ctrl-C to stop)",
            type_name.as_deref().map_or_else(String::new, |t| format!(" of {t}"))
        )];
        lines.push(format!("status:       {}", info.status));
        match report::read_value(&object) {
            Ok(value) => {
                let write_position = match &value {
                    Value::Ring(ring, _) => Some(ring.write_position),
                    Value::Broadcast(b) => Some(b.write_position),
                    Value::ByteBroadcast(b) => Some(b.write_position),
                    _ => None,
                };
                if let Some(write_position) = write_position {
                    let now = Instant::now();
                    let rate = last_write.map(|(then, position)| {
                        #[expect(clippy::cast_precision_loss, reason = "a rate for people")]
                        let written = write_position.wrapping_sub(position) as f64;
                        written / now.duration_since(then).as_secs_f64()
                    });
                    last_write = Some((now, write_position));
                    lines.extend(report::value_lines(&value));
                    lines.push(rate.map_or_else(
                        || "rate:         - messages/s".to_owned(),
                        |r| format!("rate:         {r:.0} messages/s"),
                    ));
                } else {
                    lines.extend(report::value_lines(&value));
                }
            }
            Err(Failure(e)) => lines.push(format!("value:        cannot read: {e}")),
        }
        draw(&lines, tty, &mut drawn, refresh)?;
        if count.is_some_and(|n| refresh >= n) {
            break;
        }
        // An interval past the clock's range waits until Ctrl-C.
        let next = Instant::now().checked_add(interval);
        while !INTERRUPTED.load(Ordering::Relaxed) {
            let left = next.map_or(NAP, |next| next.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                break;
            }
            std::thread::sleep(NAP.min(left));
        }
    }
    drop(cursor);
    Ok(())
}

/// Prints one refresh: in place on a terminal (up over the last one,
/// clearing each line), otherwise as a block after a blank line.
fn draw(lines: &[String], tty: bool, drawn: &mut usize, refresh: u64) -> Result<(), Failure> {
    let mut out = String::new();
    if tty {
        if *drawn > 0 {
            let _ = write!(out, "\x1b[{}A", *drawn);
        }
        for line in lines {
            let _ = write!(out, "\r\x1b[2K{line}\n");
        }
        // Clear what a longer previous refresh left below.
        let extra = drawn.saturating_sub(lines.len());
        if extra > 0 {
            out.push_str(&"\r\x1b[2K\n".repeat(extra));
            let _ = write!(out, "\x1b[{extra}A");
        }
        *drawn = lines.len();
    } else {
        if refresh > 1 {
            out.push('\n');
        }
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    print(&out)
}
