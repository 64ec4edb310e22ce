//! Liveness and stale cleanup across processes: rows A5, A10, A11 and H10 of the
//! test matrix in `docs/RELIABILITY.md`.
//!
//! A creator child makes segments and is killed (`SIGKILL`); the segments are then
//! reported stale by [`inspect_segment`] and removed by [`clean_stale`],
//! while live segments (of this process and of a live child) are never
//! removed. Abandoned initializations are made by hand (a file with no
//! header, a header whose state is still initializing), with and without a
//! creator holding the initialization lock. The race test runs two cleaner
//! processes and a creating process at once.
//!
//! The tests of this file clean the whole of /dev/shm (that is what
//! `clean_stale` does), so they run one at a time ([`serial`]): one test's
//! cleaner must not remove the stale segment another is looking at.

mod common;

use common::{Kid, RemoveOnDrop, exists, unique_name};
use rustix::process::Signal;
use shm_runtime::tools::{Status, clean_stale, find_stale, inspect_segment, list_segments};
use shm_runtime::{CreateError, Handle, MemoryInterface, OpenError, SharedInt, SharedObject, SharedString};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Byte offsets in the header (FORMAT.md).
const OFF_STATE: u64 = 8;
const OFF_CREATOR: u64 = 72;

/// One test of this file at a time (see the module docs).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `test` in `role` with piped stdin and stdout.
fn spawn_piped(test: &str, role: &str, envs: &[(&str, String)]) -> (Kid, BufReader<ChildStdout>) {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(common::ROLE_ENV, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child: Child = cmd.spawn().expect("spawn test binary in a role");
    let out = BufReader::new(child.stdout.take().expect("piped"));
    (Kid::new(child), out)
}

/// What follows `tag ` on the next line from a child that has it (the
/// test harness prints its own lines too). Fails after
/// [`common::CHILD_LIMIT`] without such a line, rather than hang.
fn line_from(out: &mut BufReader<ChildStdout>, tag: &str) -> String {
    let deadline = Instant::now() + common::CHILD_LIMIT;
    let mut line = String::new();
    loop {
        line.clear();
        if out.buffer().is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pollfd = libc::pollfd { fd: out.get_ref().as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let millis = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
            let ready = loop {
                // SAFETY: `pollfd` is one valid, initialized entry that
                // lives across the call; the descriptor is the child's
                // open stdout.
                let ready = unsafe { libc::poll(&raw mut pollfd, 1, millis) };
                if ready >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                    break ready;
                }
            };
            assert!(ready > 0, "no line `{tag} ...` from the child within {:?}", common::CHILD_LIMIT);
        }
        assert_ne!(out.read_line(&mut line).expect("read from child"), 0, "child ended before sending {tag}");
        // The harness may have printed the test's name on the same line.
        let marker = format!("{tag} ");
        if let Some(at) = line.find(&marker) {
            return line[at + marker.len()..].trim_end().to_owned();
        }
    }
}

/// Child side: reads one line (or EOF) from stdin.
fn wait_for_parent() {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn status_of(name: &str) -> Status {
    inspect_segment(name).unwrap_or_else(|e| panic!("{e}")).status
}

fn names(infos: &[shm_runtime::tools::SegmentInfo], prefix: &str) -> BTreeSet<String> {
    infos.iter().map(|i| i.name.clone()).filter(|n| n.starts_with(prefix)).collect()
}

/// A file in /dev/shm made by hand (mode 0600, as shm makes them),
/// removed on drop.
fn raw_file(name: &str, bytes: &[u8]) -> (std::fs::File, RemoveOnDrop) {
    let guard = RemoveOnDrop(name.to_owned());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(common::shm_path(name))
        .expect("create a file in /dev/shm");
    file.write_all_at(bytes, 0).expect("write it");
    (file, guard)
}

/// Takes an open-file-description write lock over the whole of `file`, as
/// a creator does while it initializes a segment.
fn hold_init_lock(file: &std::fs::File) {
    // SAFETY: all zeros is a valid `flock`.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = i16::try_from(libc::F_WRLCK).unwrap();
    lock.l_whence = i16::try_from(libc::SEEK_SET).unwrap();
    // SAFETY: a valid descriptor and a valid `flock` for the call.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &raw const lock) };
    assert_eq!(r, 0, "F_OFD_SETLK: {}", std::io::Error::last_os_error());
}

/// Sets a file's modification time an hour back.
fn backdate(file: &std::fs::File) {
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    file.set_modified(hour_ago).expect("set the modification time");
}

// ---------------------------------------------------------------- A10

#[test]
fn a10_killed_creator_leaves_stale_segments_that_cleanup_removes_once() {
    if common::role().as_deref() == Some("creator") {
        let prefix = std::env::var("PREFIX").unwrap();
        let int = SharedInt::create_named(&format!("{prefix}int"), 41).unwrap();
        let ring = MemoryInterface::<u64>::create_named(&format!("{prefix}ring"), 8).unwrap();
        println!("ready {} {}", int.handle(), ring.handle());
        std::io::stdout().flush().unwrap();
        wait_for_parent();
        // Killed before it gets here; leaking keeps the names if not.
        std::mem::forget((int, ring));
        return;
    }
    let _serial = serial();
    let prefix = unique_name("a10-");
    let _left = [RemoveOnDrop(format!("{prefix}int")), RemoveOnDrop(format!("{prefix}ring"))];
    let live = SharedInt::create_named(&format!("{prefix}live"), 1).unwrap();
    let (kid, mut out) = spawn_piped(
        "a10_killed_creator_leaves_stale_segments_that_cleanup_removes_once",
        "creator",
        &[("PREFIX", prefix.clone())],
    );
    let handles = line_from(&mut out, "ready");
    let int_handle: Handle = handles.split(' ').next().unwrap().parse().unwrap();
    let child_pid = u64::from(kid.pid);

    // While the creator lives: live, and cleanup keeps it.
    assert_eq!(status_of(&format!("{prefix}int")), Status::Live);
    assert_eq!(status_of(&format!("{prefix}ring")), Status::Live);
    let info = inspect_segment(&format!("{prefix}int")).unwrap();
    assert_eq!(info.header.unwrap().creator_pid(), child_pid);
    assert_eq!(info.mode, 0o600);
    assert_eq!(info.handle().unwrap(), int_handle);
    assert!(names(&clean_stale().unwrap(), &prefix).is_empty(), "removed a live creator's segment");
    assert!(exists(&format!("{prefix}int")) && exists(&format!("{prefix}ring")));

    kid.kill_and_reap();
    let stale = Status::Stale { creator_pid: child_pid };
    assert_eq!(status_of(&format!("{prefix}int")), stale);
    assert_eq!(status_of(&format!("{prefix}ring")), stale);
    // Listed as stale; a dry run removes nothing.
    let listed = list_segments().unwrap();
    assert!(listed.iter().any(|i| i.name == format!("{prefix}int") && i.status == stale));
    let expected: BTreeSet<String> = [format!("{prefix}int"), format!("{prefix}ring")].into();
    assert_eq!(names(&find_stale().unwrap(), &prefix), expected);
    assert!(exists(&format!("{prefix}int")));
    // Still opens, with its last value: stale is not broken.
    assert_eq!(SharedInt::load_sharedobject(&int_handle).unwrap().read(), 41);

    // Removed once; the second run finds nothing; the live one stays.
    let removed = clean_stale().unwrap();
    assert_eq!(names(&removed, &prefix), expected);
    assert!(removed.iter().filter(|i| i.name.starts_with(&prefix)).all(|i| i.status == stale));
    assert!(!exists(&format!("{prefix}int")) && !exists(&format!("{prefix}ring")));
    assert!(names(&clean_stale().unwrap(), &prefix).is_empty());
    assert_eq!(status_of(live.name().as_str()), Status::Live);
    assert_eq!(live.read(), 1);
    live.cleanup().unwrap();
}

#[test]
fn a10_a_live_pid_with_a_lock_that_is_gone_is_dead() {
    let _serial = serial();
    // The creator word names this (live) process's pid but a lock nobody
    // holds: what a dead creator whose pid went to a new process looks
    // like. Liveness by pid alone would call it alive.
    let source = SharedInt::create_sharedobject(3).unwrap();
    let name = unique_name("a10pid");
    let mut bytes = std::fs::read(common::shm_path(source.name().as_str())).unwrap();
    let pid = u64::from(std::process::id());
    let ghost = pid | (0x1234 << 32) | (0x5678 << 48);
    let at = usize::try_from(OFF_CREATOR).unwrap();
    bytes[at..at + 8].copy_from_slice(&ghost.to_ne_bytes());
    let (_file, _guard) = raw_file(&name, &bytes);
    assert_eq!(status_of(&name), Status::Stale { creator_pid: pid });
    assert!(names(&clean_stale().unwrap(), &name).contains(&name));
    assert!(!exists(&name));
    // The real creator is untouched.
    assert_eq!(status_of(source.name().as_str()), Status::Live);
}

/// Liveness rests on the descriptor of the lock file (README, "Guarantees
/// and trust model"): a creator that closes every descriptor, as some
/// daemonizing code does, looks dead while its pid still runs.
#[test]
fn a10_a_creator_that_closes_every_descriptor_looks_dead() {
    if common::role().as_deref() == Some("closer") {
        let int = SharedInt::create_named(&std::env::var("NAME").unwrap(), 5).unwrap();
        // SAFETY: closes descriptors 3 and up: the liveness lock file
        // among them; this child uses no other descriptor afterwards (its
        // mapping does not need one, and 0 to 2 stay open).
        let closed = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
        assert_eq!(closed, 0, "close_range: {}", std::io::Error::last_os_error());
        println!("closed {}", std::process::id());
        std::io::stdout().flush().unwrap();
        wait_for_parent();
        // Still works for itself; the parent removed the name.
        assert_eq!(int.read(), 5);
        int.cleanup().unwrap();
        return;
    }
    let _serial = serial();
    let name = unique_name("a10close");
    let _left = RemoveOnDrop(name.clone());
    let (mut kid, mut out) =
        spawn_piped("a10_a_creator_that_closes_every_descriptor_looks_dead", "closer", &[("NAME", name.clone())]);
    assert_eq!(line_from(&mut out, "closed"), kid.pid.to_string());
    assert!(kid.has_exited().is_none(), "the creator is still running");
    assert_eq!(status_of(&name), Status::Stale { creator_pid: u64::from(kid.pid) });
    assert!(names(&clean_stale().unwrap(), &name).contains(&name));
    assert!(!exists(&name));
    kid.child().stdin.take().unwrap().write_all(b"go\n").unwrap();
    kid.expect_success();
}

// ---------------------------------------------------------------- A5

#[test]
fn a5_abandoned_initializations_are_reported_and_removed() {
    let _serial = serial();
    let source = SharedInt::create_sharedobject(9).unwrap();
    let header = std::fs::read(common::shm_path(source.name().as_str())).unwrap();

    // Died right after shm_open: an empty file, no lock held.
    let empty = unique_name("a5empty");
    let (empty_file, _g1) = raw_file(&empty, &[]);
    // A creator takes its lock right after shm_open: a young file without
    // it may be in that gap, an old one is abandoned.
    assert_eq!(status_of(&empty), Status::Initializing);
    assert!(!names(&clean_stale().unwrap(), &empty).contains(&empty), "removed a file 0 s old");
    backdate(&empty_file);
    assert_eq!(status_of(&empty), Status::Abandoned { creator_pid: None });

    // Died after writing its identity, before publishing: state still 0.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = u64::from(child.id());
    child.wait().unwrap();
    let half = unique_name("a5half");
    let mut bytes = header.clone();
    let (state, creator) = (usize::try_from(OFF_STATE).unwrap(), usize::try_from(OFF_CREATOR).unwrap());
    bytes[state..state + 8].copy_from_slice(&0u64.to_ne_bytes());
    bytes[creator..creator + 8].copy_from_slice(&dead.to_ne_bytes());
    let (_f2, _g2) = raw_file(&half, &bytes);
    assert_eq!(status_of(&half), Status::Abandoned { creator_pid: Some(dead) });
    let handle: Handle = source.handle().to_string().replace(source.name().as_str(), &half).parse().unwrap();
    let err = SharedInt::load_sharedobject(&handle).unwrap_err();
    assert!(matches!(err, OpenError::InitAbandoned { creator_pid, .. } if creator_pid == dead), "{err}");

    // A creator still setting up (it holds the initialization lock) is
    // left alone even before it wrote anything.
    let busy = unique_name("a5busy");
    let (busy_file, _g3) = raw_file(&busy, &[]);
    let holder = std::fs::OpenOptions::new().read(true).write(true).open(common::shm_path(&busy)).unwrap();
    backdate(&busy_file);
    hold_init_lock(&holder);
    assert_eq!(status_of(&busy), Status::Initializing);
    // Initializing with a live creator recorded: left alone too.
    let slow = unique_name("a5slow");
    let mut bytes = header.clone();
    bytes[state..state + 8].copy_from_slice(&0u64.to_ne_bytes());
    bytes[creator..creator + 8].copy_from_slice(&u64::from(std::process::id()).to_ne_bytes());
    let (_f4, _g4) = raw_file(&slow, &bytes);
    assert_eq!(status_of(&slow), Status::Initializing);

    let removed = clean_stale().unwrap();
    let ours: BTreeSet<String> =
        removed.iter().map(|i| i.name.clone()).filter(|n| [&empty, &half, &busy, &slow].contains(&n)).collect();
    assert_eq!(ours, [empty.clone(), half.clone()].into());
    assert!(!exists(&empty) && !exists(&half));
    assert!(exists(&busy) && exists(&slow));
    // Once its creator is gone (the lock with it), the empty one goes too.
    drop(holder);
    drop(busy_file);
    assert!(names(&clean_stale().unwrap(), &busy).contains(&busy));
    assert!(exists(&slow), "a live creator's initialization was removed");
}

#[test]
fn foreign_and_garbage_files_are_never_removed() {
    let _serial = serial();
    let foreign = unique_name("foreign");
    let (_f, _g) = raw_file(&foreign, &[0xAB; 300]);
    assert_eq!(status_of(&foreign), Status::Foreign);
    let corrupt = unique_name("corrupt");
    let source = SharedInt::create_sharedobject(1).unwrap();
    let mut bytes = std::fs::read(common::shm_path(source.name().as_str())).unwrap();
    bytes[8..16].copy_from_slice(&7u64.to_ne_bytes());
    let (_f2, _g2) = raw_file(&corrupt, &bytes);
    assert_eq!(status_of(&corrupt), Status::Corrupt);
    // Small files of other programs (a POSIX semaphore is 32 bytes), and
    // empty or zeroed files under names shm does not generate, however old
    // and unlocked: never taken for an abandoned segment.
    let semaphore = format!("sem.{}", unique_name("x"));
    let (f3, _g3) = raw_file(&semaphore, &[1; 32]);
    let empty = format!("other-{}", unique_name("empty"));
    let (f4, _g4) = raw_file(&empty, &[]);
    let zeroed = format!("other-{}", unique_name("zeroed"));
    let (f5, _g5) = raw_file(&zeroed, &[0; 4096]);
    // A short file that is not empty is not ours even under our prefix.
    let short = unique_name("short");
    let (f6, _g6) = raw_file(&short, &[1; 32]);
    for f in [&f3, &f4, &f5, &f6] {
        backdate(f);
    }
    for name in [&semaphore, &empty, &zeroed, &short] {
        assert_eq!(status_of(name), Status::Foreign, "{name}");
    }
    let removed = clean_stale().unwrap();
    let kept = [&foreign, &corrupt, &semaphore, &empty, &zeroed, &short];
    assert!(!removed.iter().any(|i| kept.contains(&&i.name)), "removed another program's file");
    assert!(kept.iter().all(|n| exists(n)));
    // Names that are not segment names are refused before any system call.
    assert!(matches!(inspect_segment("a/b"), Err(shm_runtime::tools::InspectError::InvalidName(_))));
    assert!(matches!(inspect_segment(&unique_name("missing")), Err(shm_runtime::tools::InspectError::NotFound { .. })));
}

// ---------------------------------------------------------------- A11

/// Stale segments made per round, and creations by the racing creator.
const STALE: usize = 30;
const CREATED: usize = 300;

#[test]
fn a11_two_cleaners_and_a_creator_race() {
    match common::role().as_deref() {
        Some("creator") => {
            // Makes STALE segments and is killed (first run), or creates
            // CREATED segments while the cleaners run, keeps them all, and
            // reports them (second run).
            let prefix = std::env::var("PREFIX").unwrap();
            let count: usize = std::env::var("COUNT").unwrap().parse().unwrap();
            let mut kept = Vec::new();
            for i in 0..count {
                kept.push(SharedInt::create_named(&format!("{prefix}{i}"), i64::try_from(i).unwrap()).unwrap());
            }
            println!("made {count}");
            std::io::stdout().flush().unwrap();
            wait_for_parent();
            for int in kept {
                int.cleanup().unwrap();
            }
            return;
        }
        Some("cleaner") => {
            let prefix = std::env::var("PREFIX").unwrap();
            wait_for_parent();
            let deadline = Instant::now() + Duration::from_millis(800);
            let mut removed = Vec::new();
            while Instant::now() < deadline {
                removed.extend(names(&clean_stale().unwrap(), &prefix));
            }
            println!("removed {}", removed.join(" "));
            return;
        }
        _ => {}
    }
    let _serial = serial();
    let test = "a11_two_cleaners_and_a_creator_race";
    let stale_prefix = unique_name("a11s-");
    let live_prefix = unique_name("a11l-");
    let _left: Vec<RemoveOnDrop> = (0..STALE).map(|i| RemoveOnDrop(format!("{stale_prefix}{i}"))).collect();
    let (dead, mut out) =
        spawn_piped(test, "creator", &[("PREFIX", stale_prefix.clone()), ("COUNT", STALE.to_string())]);
    line_from(&mut out, "made");
    dead.kill_and_reap();
    let mine = SharedInt::create_named(&format!("{live_prefix}parent"), 5).unwrap();

    // Cleaners report what they removed of this test (both prefixes).
    let envs = [("PREFIX", "shmrs-test-a11".to_owned())];
    let mut cleaners: Vec<_> = (0..2).map(|_| spawn_piped(test, "cleaner", &envs)).collect();
    let (mut creator, mut created) =
        spawn_piped(test, "creator", &[("PREFIX", live_prefix.clone()), ("COUNT", CREATED.to_string())]);
    // Start both cleaners together, racing the creator.
    for (kid, _) in &mut cleaners {
        kid.child().stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    line_from(&mut created, "made");
    let mut by_cleaner = Vec::new();
    for (kid, out) in &mut cleaners {
        let line = line_from(out, "removed");
        by_cleaner.push(line.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
        let status = common::wait_timeout(kid.child(), common::CHILD_LIMIT);
        assert!(status.success(), "cleaner failed: {status}");
    }

    // Every stale segment removed, each by exactly one cleaner.
    let all: Vec<&String> = by_cleaner.iter().flatten().filter(|n| n.starts_with(&stale_prefix)).collect();
    let unique: BTreeSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "a segment was reported removed twice: {all:?}");
    assert_eq!(unique.len(), STALE, "not every stale segment was removed: {unique:?}");
    assert!((0..STALE).all(|i| !exists(&format!("{stale_prefix}{i}"))));
    // No live segment removed: the parent's, and every one the creator made
    // while the cleaners ran.
    assert!(by_cleaner.iter().flatten().all(|n| !n.starts_with(&live_prefix)), "a live segment was removed");
    assert_eq!(mine.read(), 5);
    assert!(exists(mine.name().as_str()));
    for i in 0..CREATED {
        assert!(exists(&format!("{live_prefix}{i}")), "live segment {i} vanished");
    }
    creator.child().stdin.as_mut().unwrap().write_all(b"done\n").unwrap();
    creator.expect_success();
    mine.cleanup().unwrap();
    // Nothing of this test left.
    assert!(common::entries_with_prefix(&stale_prefix).is_empty());
    assert!(common::entries_with_prefix(&live_prefix).is_empty());
}

/// H10: a program that made `create_named(name)` and was stopped (Ctrl-C's
/// SIGINT, or SIGKILL) can be started again at once: the new creator finds
/// the old segment's creator proven dead and takes the name over. A live
/// owner still gets `AlreadyExists`, naming its pid and what to do.
#[test]
fn h10_create_named_right_after_the_owner_was_killed() {
    if common::role().as_deref() == Some("owner") {
        let name = std::env::var("NAME").unwrap();
        let app = SharedString::create_named(&name, 64).unwrap();
        app.write("first run").unwrap();
        println!("ready {}", app.name());
        std::io::stdout().flush().unwrap();
        wait_for_parent();
        std::mem::forget(app);
        return;
    }
    let _serial = serial();
    for signal in [Signal::INT, Signal::KILL] {
        let name = unique_name("h10");
        let _left = RemoveOnDrop(name.clone());
        let (kid, mut out) =
            spawn_piped("h10_create_named_right_after_the_owner_was_killed", "owner", &[("NAME", name.clone())]);
        line_from(&mut out, "ready");
        let owner_pid = u64::from(kid.pid);

        // While the owner lives: refused, naming it.
        let err = SharedString::create_named(&name, 64).unwrap_err();
        match &err {
            CreateError::AlreadyExists { found: Some(Status::Live), creator_pid: Some(pid), .. } => {
                assert_eq!(*pid, owner_pid, "{err}");
            }
            other => panic!("expected AlreadyExists naming a live owner, got {other:?}"),
        }
        assert!(err.to_string().contains(&format!("pid {owner_pid}")), "{err}");

        kid.signal(signal);
        let status = kid.wait_for_exit();
        assert!(!status.success(), "{signal:?}: the owner exited normally");

        // Started again: the name is taken over at once, with a fresh value.
        let started = Instant::now();
        let again =
            SharedString::create_named(&name, 64).unwrap_or_else(|e| panic!("{signal:?}: restart refused: {e}"));
        assert!(started.elapsed() < Duration::from_secs(1), "{signal:?}: the restart waited {:?}", started.elapsed());
        assert_eq!(again.read().unwrap(), "", "{signal:?}: the new segment holds the old value");
        again.write("second run").unwrap();
        assert_eq!(status_of(&name), Status::Live);
        drop(again);
        assert!(!exists(&name), "{signal:?}: the second owner's drop left the name");
    }
}
