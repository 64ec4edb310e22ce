//! Whether a process is alive, proven through the kernel instead of by pid
//! (the kernel reuses pids).
//!
//! Once per process, on first need, shm takes an `fcntl` record lock on a
//! range of a per-user lock file, `/dev/shm/.shmrs-live-<uid>` (never a
//! valid segment name: segment names cannot start with `.`). The words that
//! record who owns something in a segment (the creator in the header, ring
//! roles, writer locks) hold the process's *identity*, which names that
//! range:
//!
//! | bits | meaning |
//! |---|---|
//! | 0..32 | pid (for people and tools; never trusted alone) |
//! | 32..48 | slot, 1 to 65534 (0: no lock could be taken, see below) |
//! | 48..64 | token, 1 to 65535, random |
//!
//! The process holds a write lock on bytes `slot << 16 .. (slot << 16) +
//! token` of the file (the file stays empty: locks may lie past its end).
//! Two claims of one slot overlap at its first byte, so a slot has one
//! holder at a time. A peer asks `F_GETLK` about the slot's first byte: the
//! identity is alive exactly when a lock with that start and that length
//! (the token) is held. The kernel drops the lock when the process dies or
//! execs (the descriptor is close-on-exec and closing it drops the lock),
//! and a forked child does not inherit it (record locks belong to a
//! process); the child claims its own slot, as its identity is cached in
//! the wipe-on-fork page of [`crate::sys::pid`].
//!
//! The descriptor is opened once per process and never closed: closing
//! any descriptor of the file would drop the process's lock.
//!
//! A dead process's slot can go to a new process, and its pid to another:
//! the identity still does not match unless the token (16 random bits)
//! matches too. Processes of other users lock their own files, which are
//! readable by everyone (they hold nothing but locks), so a check looks in
//! every `.shmrs-live-*` file it can open.
//!
//! # Evidence from hostile neighbours
//!
//! Every user can make files in /dev/shm, and `F_GETLK` shows anyone which
//! ranges a process holds, so a lock is evidence only where nobody else
//! could have put it:
//!
//! - a lock in a file owned by this process's effective user or by root
//!   (nobody else can make such a file), or
//! - a lock in any other user's file whose holder, as the kernel reports
//!   it (`l_pid`), is the process the identity names.
//!
//! A user who copies our live ranges into a lock file of their own holds
//! them with their own pid, so our dead processes stay dead. What that
//! user could still do is take a dead process's pid (by starting
//! processes until the kernel reuses it) and hold its range, which delays
//! the takeover or cleanup of that one identity while it lasts. A process
//! of the *same* user can do anything: it can write the segments too.
//!
//! Every lock file is opened without following links or waiting on a FIFO
//! and used only if it is a regular file ([`crate::sys::shm_dir`]). Our own is
//! used only if it is a regular, empty file with one link that we own (a
//! link planted under its name is never followed, so never `chmod`-ed);
//! if something else holds the well-known name, the process makes a lock
//! file of its own under the same prefix with a random suffix, which the
//! checks above find like any other.
//!
//! When no lock can be taken (no /dev/shm, every slot taken), the identity
//! has slot 0 and liveness falls back to the pid alone, as
//! [`process_alive`] does.
//!
//! What this does not protect against: a process of the same user that
//! removes the lock file while others run (their locks stay on the removed
//! file, so later checks call them dead). `shm clean` and
//! [`clean_stale`](crate::tools::clean_stale) never remove it.

pub(crate) use crate::format::identity::pid_of;
use crate::format::identity::{LOCK_FILE_PREFIX, MAX_SLOT, SLOT_BYTES, compose, slot_of, token_of};
use crate::sys::lock::{self as record_lock, Held};
use crate::sys::shm_dir;
use crate::sys::{Errno, pid, process, random};
use std::os::fd::OwnedFd;
use std::sync::{Mutex, OnceLock, PoisonError};

/// What the kernel says about an identity word read from a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Liveness {
    /// The process holds its lock (or, for an identity without a lock,
    /// a process with its pid exists).
    Alive,
    /// Proven dead: its lock is gone (or no process has its pid).
    Dead,
    /// Cannot tell: the word is not a valid identity, or the kernel did not
    /// answer. Treated as alive by every decision that removes or takes
    /// over something.
    Unknown,
}

impl Liveness {
    /// Of an [`alive`] answer.
    pub(crate) const fn of(answer: Option<bool>) -> Self {
        match answer {
            Some(true) => Self::Alive,
            Some(false) => Self::Dead,
            None => Self::Unknown,
        }
    }
}

/// This process as a writer-lock claimant: its identity, with the kernel's
/// liveness check for the holders it finds.
pub(crate) fn claimant() -> crate::protocol::lock::Claimant {
    crate::protocol::lock::Claimant { identity: me(), alive }
}

/// This process's identity, claimed on first use (a lock file open and
/// usually one `fcntl`); afterwards one atomic load.
pub(crate) fn me() -> u64 {
    if let Some(word) = pid::fork_local(1) {
        // Relaxed: the word is private to this process; threads store the
        // same value under `CLAIM`.
        let cached = word.load(core::sync::atomic::Ordering::Relaxed);
        if cached != 0 {
            return cached;
        }
    }
    me_slow()
}

#[cold]
fn me_slow() -> u64 {
    // The pid and identity of the last claim, for kernels without
    // wipe-on-fork (where the pid is compared on every call).
    static CLAIM: Mutex<(u64, u64)> = Mutex::new((0, 0));
    let mut last = CLAIM.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = pid::current();
    let identity = match pid::fork_local(1) {
        Some(word) => match word.load(core::sync::atomic::Ordering::Relaxed) {
            0 => {
                let identity = claim(pid);
                // Relaxed: see `me`.
                word.store(identity, core::sync::atomic::Ordering::Relaxed);
                identity
            }
            cached => cached,
        },
        None if last.0 == pid => last.1,
        None => claim(pid),
    };
    *last = (pid, identity);
    identity
}

/// The lock file of the effective user, opened once per process; `None`
/// when it cannot be used.
fn own_lock_file() -> Option<&'static OwnedFd> {
    static FILE: OnceLock<Option<OwnedFd>> = OnceLock::new();
    FILE.get_or_init(open_own_lock_file).as_ref()
}

fn open_own_lock_file() -> Option<OwnedFd> {
    let uid = process::euid();
    let name = format!("{LOCK_FILE_PREFIX}{uid}");
    let fd = match shm_dir::create_new(&name, LOCK_FILE_MODE) {
        Ok(fd) => Some(fd),
        // Ours from an earlier process, or something another user put
        // there: opened without following it, and checked below.
        Err(Errno::EXIST) => shm_dir::open_existing(&name, true).ok().map(|(fd, _)| fd),
        Err(_) => None,
    };
    if let Some(fd) = fd.filter(|fd| usable_lock_file(fd, uid)) {
        return Some(fd);
    }
    // The well-known name holds a link, a FIFO, another user's file, or a
    // file with data: make one of our own that nobody can guess.
    for _ in 0..4 {
        let random = random::random_u64().ok()?;
        match shm_dir::create_new(&format!("{name}-{random:016x}"), LOCK_FILE_MODE) {
            Ok(fd) if usable_lock_file(&fd, uid) => return Some(fd),
            Ok(_) | Err(Errno::EXIST) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Mode of a lock file: readable by everyone, since other users' processes
/// check our locks with `F_GETLK`, which needs only a read descriptor. It
/// holds no data.
const LOCK_FILE_MODE: u32 = 0o644;

/// Whether `fd` is a lock file this process may use: a regular file owned
/// by `uid`, with a single link (not another name of a file of ours, such
/// as a segment, that someone linked here) and no data. Sets its mode to
/// [`LOCK_FILE_MODE`] (the umask may have narrowed it) through the checked
/// descriptor.
fn usable_lock_file(fd: &OwnedFd, uid: u32) -> bool {
    let Ok(stat) = shm_dir::stat(fd) else { return false };
    let usable = shm_dir::is_regular(&stat) && stat.st_uid == uid && stat.st_nlink == 1 && stat.st_size == 0;
    // A failed chmod leaves the file readable by fewer users: their checks
    // of our processes then answer "unknown", never a wrong "dead".
    usable && {
        let _ = shm_dir::set_mode(fd, LOCK_FILE_MODE);
        // From here on no other descriptor of it may be opened and closed:
        // that would drop our lock.
        shm_dir::guard(&stat);
        true
    }
}

/// Takes a free slot in the lock file for `pid`; an identity without a
/// slot when none can be taken.
fn claim(pid: u64) -> u64 {
    let pid = pid_of(pid);
    let Some(fd) = own_lock_file() else { return pid };
    let Ok(random) = random::random_u64() else { return pid };
    let token = (random >> 48).max(1);
    let first = random % MAX_SLOT;
    for i in 0..MAX_SLOT {
        let slot = (first + i) % MAX_SLOT + 1;
        match record_lock::try_lock_range(fd, slot * SLOT_BYTES, token) {
            Ok(true) => return compose(pid, slot, token),
            Ok(false) => {}
            Err(_) => return pid,
        }
    }
    pid
}

/// The creator's lock over a segment it is initializing; a stale cleaner
/// holds the same lock while it examines a file. Waits (up to a second)
/// for a cleaner, which holds it only for a few system calls. A kernel
/// without open-file-description locks (before Linux 3.15) makes this a
/// no-op.
pub(crate) fn lock_for_init(fd: &OwnedFd) -> Result<(), Errno> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match record_lock::try_lock_file(fd) {
            Ok(true) | Err(Errno::INVAL) => return Ok(()),
            Ok(false) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            Ok(false) => return Err(Errno::AGAIN),
            Err(e) => return Err(e),
        }
    }
}

/// Releases [`lock_for_init`].
pub(crate) fn unlock_init(fd: &OwnedFd) {
    // Nothing to do on failure: the lock goes when the mapping does.
    record_lock::unlock_file(fd);
}

/// Takes the whole-file lock a creator holds while initializing, without
/// waiting: `Ok(false)` while someone (a creator, another cleaner) holds it.
pub(crate) fn try_lock_whole(fd: &OwnedFd) -> Result<bool, Errno> {
    match record_lock::try_lock_file(fd) {
        Err(Errno::INVAL) => Ok(true),
        other => other,
    }
}

/// Whether another open file description holds a lock on `fd`'s file
/// (a creator initializing it, or a cleaner examining it).
pub(crate) fn whole_file_lock_held(fd: &OwnedFd) -> bool {
    record_lock::file_locked_elsewhere(fd)
}

/// The lock another process holds on `fd` for `slot` and `token`, if any.
fn holder(fd: &OwnedFd, slot: u64, token: u64) -> Option<Held> {
    record_lock::range_holder(fd, slot * SLOT_BYTES).filter(|held| (held.start, held.len) == (slot * SLOT_BYTES, token))
}

/// Whether a lock file owned by `owner` holding `held` vouches for the
/// process `identity` names (see the module docs): the file is one only
/// this user or root can have made, or the kernel names that process as
/// the holder.
fn vouches(owner: u32, held: Held, identity: u64, me: u32) -> bool {
    owner == me || owner == 0 || (held.pid != 0 && held.pid == pid_of(identity))
}

/// Whether the process `identity` names is alive: `Some(false)` only when
/// proven dead. Slow path (a few system calls, a directory scan when the
/// lock is not in this process's lock file): called when a peer seems
/// gone, never per message.
pub(crate) fn alive(identity: u64) -> Option<bool> {
    // This process, even when it could take no lock (slot 0: its
    // identity is then its pid alone, which proves nothing to others).
    if identity == me() {
        return Some(true);
    }
    let (slot, token) = (slot_of(identity), token_of(identity));
    if slot == 0 {
        return process::alive(identity);
    }
    if slot > MAX_SLOT || token == 0 {
        return None;
    }
    let own = own_lock_file();
    if own.is_some_and(|fd| holder(fd, slot, token).is_some()) {
        return Some(true);
    }
    let euid = process::euid();
    // Other processes of ours that use another lock file, another user's
    // process (a group-shared segment), or our own lock file could not be
    // opened: look in every lock file, never following a link or waiting
    // on a FIFO, and count only what `vouches`.
    let Ok(names) = shm_dir::names() else { return None };
    for name in names.iter().filter(|n| n.starts_with(LOCK_FILE_PREFIX)) {
        // Our own file (under whatever name) is refused by `open_existing`
        // without being opened: closing it would drop our lock.
        let Ok((fd, stat)) = shm_dir::open_existing(name, false) else { continue };
        if holder(&fd, slot, token).is_some_and(|held| vouches(stat.st_uid, held, identity, euid)) {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::identity::{SLOT_SHIFT, TOKEN_SHIFT};
    use crate::sys::testing;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn identity_names_this_process_and_is_stable() {
        let me = me();
        assert_eq!(pid_of(me), pid::current());
        assert_eq!(me, super::me());
        assert_ne!(slot_of(me), 0, "no lock slot: is /dev/shm writable?");
        assert_ne!(token_of(me), 0);
        assert_ne!(me, u64::MAX);
        assert_eq!(alive(me), Some(true));
    }

    #[test]
    fn our_slot_with_another_token_is_a_dead_former_holder() {
        let me = me();
        assert_eq!(alive(me ^ (1 << TOKEN_SHIFT)), Some(false));
    }

    #[test]
    fn only_our_user_root_or_the_named_holder_vouch() {
        let identity = 0x1092 | (7 << SLOT_SHIFT) | (9 << TOKEN_SHIFT);
        let held = |pid| Held { start: 7 * SLOT_BYTES, len: 9, pid };
        assert!(vouches(1000, held(1), identity, 1000), "our own user's file");
        assert!(vouches(0, held(1), identity, 1000), "root's file");
        assert!(vouches(65534, held(0x1092), identity, 1000), "another user's file, held by the process itself");
        assert!(!vouches(65534, held(31337), identity, 1000), "a copy held by someone else");
        assert!(!vouches(65534, held(0), identity, 1000), "a holder outside our pid namespace");
    }

    /// Removes a file of /dev/shm when dropped.
    struct Planted(String);
    impl Drop for Planted {
        fn drop(&mut self) {
            let _ = shm_dir::unlink(&self.0);
        }
    }

    #[test]
    fn a_fifo_among_the_lock_files_is_skipped_not_waited_on() {
        let _ = me();
        let fifo = Planted(format!("{LOCK_FILE_PREFIX}fifo-test-{}", pid::current()));
        let _ = shm_dir::unlink(&fifo.0);
        testing::mkfifo(&shm_dir::path(&fifo.0)).unwrap();
        // A dead identity makes the check scan every lock file; a FIFO
        // opened for reading without O_NONBLOCK would wait forever.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(alive(me() ^ (1 << TOKEN_SHIFT))));
        let answer = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the liveness check hung on a FIFO");
        assert_eq!(answer, Some(false));
    }

    #[test]
    fn another_name_of_our_lock_file_is_never_opened_and_closed() {
        if !testing::in_fresh_process(
            "segment::liveness::tests::another_name_of_our_lock_file_is_never_opened_and_closed",
        ) {
            return;
        }
        let parent = me();
        let own = format!("{LOCK_FILE_PREFIX}{}", process::euid());
        let alias = Planted(format!("{LOCK_FILE_PREFIX}alias-test-{}", pid::current()));
        let _ = shm_dir::unlink(&alias.0);
        // Only meaningful when this process locks the well-known file.
        let Ok(own_stat) = shm_dir::lstat(&own) else { return };
        let lock_stat = shm_dir::stat(own_lock_file().unwrap()).unwrap();
        if (own_stat.st_dev, own_stat.st_ino) != (lock_stat.st_dev, lock_stat.st_ino) {
            return;
        }
        testing::hard_link(&shm_dir::path(&own), &shm_dir::path(&alias.0)).unwrap();
        assert_eq!(
            shm_dir::open_existing(&alias.0, false).err(),
            Some(shm_dir::FileError::NotAFile(shm_dir::LOCK_FILE_ALIAS))
        );
        // A scan meets the alias; our lock must survive it.
        assert_eq!(alive(parent ^ (1 << TOKEN_SHIFT)), Some(false));
        with_forked_child(|parent| alive(parent) == Some(true), |_, _| {});
    }

    #[test]
    fn garbage_identities_are_unknown() {
        let pid = pid_of(me());
        assert_eq!(alive(pid | (0xffff << SLOT_SHIFT) | (1 << TOKEN_SHIFT)), None, "slot out of range");
        assert_eq!(alive(pid | (1 << SLOT_SHIFT)), None, "slot without a token");
    }

    /// Forks a child that claims its identity, sends it, waits for one byte,
    /// checks what `check` says in the child, and exits. Only from a test
    /// body running in [`testing::in_fresh_process`]: the child formats,
    /// allocates and takes locks, which is sound after `fork` only when no
    /// other thread of the parent could hold one.
    fn with_forked_child(check: fn(parent: u64) -> bool, test: impl FnOnce(u64, &mut UnixStream)) {
        let parent = me();
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        let mut sent = Ok(());
        let status = testing::fork_and_wait(
            || {
                let ok = check(parent);
                let _ = theirs.write_all(&me().to_ne_bytes());
                let _ = theirs.read(&mut [0u8; 1]);
                i32::from(!ok)
            },
            |_| {
                let mut buf = [0u8; 8];
                sent = ours.read_exact(&mut buf);
                test(u64::from_ne_bytes(buf), &mut ours);
                // Lets the child finish if `test` did not.
                let _ = ours.shutdown(std::net::Shutdown::Both);
            },
        );
        sent.unwrap();
        assert_eq!(status, Some(0), "child check failed");
    }

    #[test]
    fn a_child_is_alive_until_it_exits_then_dead() {
        if !testing::in_fresh_process("segment::liveness::tests::a_child_is_alive_until_it_exits_then_dead") {
            return;
        }
        with_forked_child(
            |parent| me() != parent && pid_of(me()) == pid::current() && alive(parent) == Some(true),
            |child, stream| {
                assert_ne!(child, me(), "a forked child must claim its own identity");
                assert_ne!(slot_of(child), 0);
                assert_eq!(alive(child), Some(true));
                // Let it exit, then reap it (the caller waits).
                stream.write_all(&[1]).unwrap();
            },
        );
    }

    #[test]
    fn an_exited_child_is_dead_even_before_it_is_reaped() {
        if !testing::in_fresh_process("segment::liveness::tests::an_exited_child_is_dead_even_before_it_is_reaped") {
            return;
        }
        let mut identity = 0;
        with_forked_child(|_| true, |child, _| identity = child);
        // Reaped by now; a fresh check sees no lock.
        assert_eq!(alive(identity), Some(false));
        assert_eq!(process::alive(pid_of(identity)), Some(false));
    }
}
