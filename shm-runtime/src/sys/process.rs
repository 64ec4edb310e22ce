//! Questions about processes and users: whether a pid lives, who we are.

use super::Errno;

/// Whether `pid` names a live process: `Some(false)` when the kernel says
/// no such process exists or it has exited and waits to be reaped (a
/// zombie, which `kill(pid, 0)` alone would call alive). Garbage (0,
/// negative, above `i32::MAX`) is `None`, never passed to `kill`.
///
/// Pids are reused: a dead process whose pid went to a new one still looks
/// alive here. Only slow paths (a lock held for long, an opener waiting)
/// call this.
pub(crate) fn alive(pid: u64) -> Option<bool> {
    let raw = i32::try_from(pid).ok().filter(|p| *p > 0)?;
    let pid = rustix::process::Pid::from_raw(raw)?;
    match rustix::process::test_kill_process(pid) {
        Err(Errno::SRCH) => Some(false),
        Ok(()) | Err(_) => Some(!is_zombie(raw)),
    }
}

/// Whether /proc says `pid` has exited (state `Z` or `X`). Unknown (no
/// /proc, a race with the reaper) counts as not a zombie.
pub(crate) fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ...": comm may contain anything, so look after the
    // last ')'.
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next());
    matches!(state, Some("Z" | "X"))
}

/// This process's effective user id.
pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// This process's effective group id.
pub(crate) fn egid() -> u32 {
    rustix::process::getegid().as_raw()
}

/// This process's supplementary groups.
pub(crate) fn groups() -> Result<Vec<u32>, Errno> {
    Ok(rustix::process::getgroups()?.into_iter().map(rustix::process::Gid::as_raw).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn alive_refuses_garbage_pids() {
        assert_eq!(alive(0), None);
        assert_eq!(alive(u64::MAX), None);
        assert_eq!(alive(u64::from(u32::MAX)), None);
        assert_eq!(alive(u64::from(std::process::id())), Some(true));
    }

    #[test]
    fn alive_calls_an_unreaped_child_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = u64::from(child.id());
        // Until it is reaped the child stays a zombie: kill(pid, 0) succeeds.
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) != Some(false) {
            assert!(Instant::now() < deadline, "exited child still called alive");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(is_zombie(i32::try_from(pid).unwrap()));
        child.wait().unwrap();
        assert_eq!(alive(pid), Some(false));
    }
}
