//! Who may open a segment: rows F2 and F3 of the reliability matrix
//! (`docs/RELIABILITY.md`; F1, the mode whatever the umask, is in
//! `tests/matrix.rs`), [`OpenOptions`] on every object type, and sharing
//! with a group.
//!
//! Another user is played by a child (this test binary re-run in a role,
//! see `common::spawn_role`) that drops from root to uid 65534 with
//! `setgroups`, `setgid`, `setuid` before it opens anything. Tests that
//! change owners or users need root and skip with a printed reason
//! otherwise; CI runs as root. Every segment here is made by the library
//! in the parent and removed by its creator's drop, also when an
//! assertion fails (a chown does not change the file the creator checks
//! before unlinking).

mod common;

use shm_runtime::{
    ByteRing, Consumer, MemoryInterface, OpenError, OpenOptions, Ring, ShareError, Shared, SharedArray,
    SharedArrayPart, SharedBool, SharedBytes, SharedInt, SharedObject, SharedString,
};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The user and group a child drops to: `nobody`/`nogroup` on most
/// systems, and never this test's own (root).
const NOBODY: u32 = 65534;
/// A group the child leaves out of its groups to be an outsider.
const OTHER_GROUP: u32 = 65533;

/// Short waits: every segment here is ready before it is opened.
fn strict() -> OpenOptions {
    OpenOptions::new().wait(Duration::from_millis(200))
}
fn group() -> OpenOptions {
    strict().allow_group_shared()
}
fn any() -> OpenOptions {
    strict().allow_any_owner_and_mode()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether a root-gated test may run; prints why not.
fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!("skipped {test}: it changes owners or users, which needs root");
    false
}

/// Mode bits of segment `name`'s file.
fn mode_of(name: &str) -> u32 {
    std::fs::metadata(common::shm_path(name)).unwrap().permissions().mode() & 0o7777
}

fn chmod(name: &str, mode: u32) {
    std::fs::set_permissions(common::shm_path(name), std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(name: &str, uid: Option<u32>, gid: Option<u32>) {
    std::os::unix::fs::chown(common::shm_path(name), uid, gid).unwrap();
}

fn assert_names(err: &impl std::fmt::Display, name: &str) {
    let text = err.to_string();
    assert!(text.contains(name), "error does not name segment {name:?}: {text}");
}

#[track_caller]
fn assert_mode_too_wide<T>(opened: Result<T, OpenError>, name: &str, mode: u32, allowed: u32) {
    match opened {
        Err(err @ OpenError::ModeTooWide { .. }) => {
            let OpenError::ModeTooWide { name: found, mode: found_mode, allowed: found_allowed } = &err else {
                unreachable!()
            };
            assert_eq!((found.as_str(), *found_mode, *found_allowed), (name, mode, allowed), "{err}");
            assert_names(&err, name);
            assert!(err.to_string().contains(&format!("{mode:04o}")), "{err}");
        }
        Err(e) => panic!("expected ModeTooWide for {name} (mode {mode:o}), got {e:?}"),
        Ok(_) => panic!("opened {name} with mode {mode:o}, which allows more than {allowed:o}"),
    }
}

#[track_caller]
fn assert_foreign_owner<T>(opened: Result<T, OpenError>, name: &str, owner: u32, group: u32, me: u32) {
    match opened {
        Err(err @ OpenError::ForeignOwner { .. }) => {
            let OpenError::ForeignOwner { name: found, owner: found_owner, group: found_group, me: found_me } = &err
            else {
                unreachable!()
            };
            assert_eq!((found.as_str(), *found_owner, *found_group, *found_me), (name, owner, group, me), "{err}");
            assert_names(&err, name);
            assert!(err.to_string().contains(&format!("uid {owner}")), "{err}");
        }
        Err(e) => panic!("expected ForeignOwner for {name}, got {e:?}"),
        Ok(_) => panic!("opened {name}, owned by uid {owner}, as uid {me}"),
    }
}

#[track_caller]
fn assert_permission_denied<T>(opened: Result<T, OpenError>, name: &str) {
    match opened {
        Err(e @ OpenError::PermissionDenied { .. }) => assert_names(&e, name),
        Err(e) => panic!("expected PermissionDenied for {name}, got {e:?}"),
        Ok(_) => panic!("a process outside the segment's user and group opened {name}"),
    }
}

// ---------------------------------------------------------------- sharing

/// `share_with_group(None)` makes the segment 0660 in the creator's group;
/// a strict open (also by the same user, and through the older
/// `load_sharedobject*` calls) refuses it, the group opt-in accepts it.
#[test]
fn share_with_group_makes_0660_which_only_an_opt_in_accepts() {
    let int = SharedInt::create_sharedobject(41).unwrap();
    let name = int.name().as_str().to_owned();
    assert_eq!(mode_of(&name), 0o600);
    int.share_with_group(None).unwrap();
    assert_eq!(mode_of(&name), 0o660);
    let meta = std::fs::metadata(common::shm_path(&name)).unwrap();
    assert_eq!(meta.gid(), rustix::process::getegid().as_raw(), "the group should stay the creator's");

    let handle = int.handle();
    assert_mode_too_wide(SharedInt::load_sharedobject(&handle), &name, 0o660, 0o600);
    assert_mode_too_wide(SharedInt::load_sharedobject_timeout(&handle, Duration::ZERO), &name, 0o660, 0o600);
    assert_mode_too_wide(SharedInt::load_sharedobject_with(&handle, &strict()), &name, 0o660, 0o600);
    let peer = SharedInt::load_sharedobject_with(&handle, &group()).unwrap();
    assert_eq!(peer.fetch_add(1), 41);
    assert_eq!(SharedInt::load_sharedobject_with(&handle, &any()).unwrap().read(), 42);
    // Sharing twice is harmless.
    int.share_with_group(None).unwrap();
    assert_eq!(mode_of(&name), 0o660);
}

#[test]
fn share_with_group_refuses_openers_bad_groups_and_replaced_names() {
    let int = SharedInt::create_sharedobject(1).unwrap();
    let name = int.name().as_str().to_owned();
    let peer = SharedInt::load_sharedobject(&int.handle()).unwrap();
    let err = peer.share_with_group(None).unwrap_err();
    assert!(matches!(&err, ShareError::NotCreator { name: n } if n.as_str() == name), "{err:?}");
    assert_names(&err, &name);

    let err = int.share_with_group(Some(u32::MAX)).unwrap_err();
    assert!(matches!(&err, ShareError::InvalidGroup { group: u32::MAX, .. }), "{err:?}");
    assert_names(&err, &name);
    assert_eq!(mode_of(&name), 0o600, "a refused share changed the mode");

    // A third party removes the name and another segment takes it: the
    // old creator must not touch the newcomer.
    common::remove(&name);
    let err = int.share_with_group(None).unwrap_err();
    assert!(matches!(&err, ShareError::Replaced { .. }), "{err:?}");
    let newcomer = SharedInt::create_named(&name, 2).unwrap();
    let err = int.share_with_group(None).unwrap_err();
    assert!(matches!(&err, ShareError::Replaced { .. }), "{err:?}");
    assert_names(&err, &name);
    assert_eq!(mode_of(&name), 0o600, "the old creator changed the newcomer's mode");
    drop(newcomer);
}

/// A group this process is not in: the kernel refuses the `fchown`, and
/// the mode stays 0600. Root may chown to any group, so as root the check
/// runs in a child dropped to uid and gid 65534.
#[test]
fn share_with_a_group_this_user_is_not_in_is_permission_denied() {
    const TEST: &str = "share_with_a_group_this_user_is_not_in_is_permission_denied";
    let in_child = common::role().as_deref() == Some("share");
    if is_root() && !in_child {
        run_child(TEST, "share", &[]);
        return;
    }
    if in_child {
        become_user(NOBODY, NOBODY, &[]);
    }
    let int = SharedInt::create_sharedobject(1).unwrap();
    let name = int.name().as_str().to_owned();
    let err = int.share_with_group(Some(OTHER_GROUP)).unwrap_err();
    assert!(matches!(&err, ShareError::PermissionDenied { .. }), "{err:?}");
    assert_names(&err, &name);
    assert_eq!(mode_of(&name), 0o600, "a refused share changed the mode");
    // Its own group works.
    int.share_with_group(Some(rustix::process::getegid().as_raw())).unwrap();
    assert_eq!(mode_of(&name), 0o660);
    drop(int);
    assert!(!common::exists(&name), "the creator left {name}");
    println!("{DONE}");
}

/// Every type's `load_sharedobject_with` goes through the check (strict
/// refuses a group-shared segment, the opt-in accepts it), and every
/// creator has `share_with_group`.
#[test]
fn every_type_honours_open_options_and_can_share_with_group() {
    let name = |n: &shm_runtime::SegmentName| n.as_str().to_owned();

    let int = SharedInt::create_sharedobject(3).unwrap();
    int.share_with_group(None).unwrap();
    assert_mode_too_wide(SharedInt::load_sharedobject_with(&int.handle(), &strict()), &name(int.name()), 0o660, 0o600);
    assert_eq!(SharedInt::load_sharedobject_with(&int.handle(), &group()).unwrap().read(), 3);

    let flag = SharedBool::create_sharedobject(true).unwrap();
    flag.share_with_group(None).unwrap();
    assert_mode_too_wide(
        SharedBool::load_sharedobject_with(&flag.handle(), &strict()),
        &name(flag.name()),
        0o660,
        0o600,
    );
    assert!(SharedBool::load_sharedobject_with(&flag.handle(), &group()).unwrap().read());

    let text = SharedString::create_sharedobject(8).unwrap();
    text.write("hi").unwrap();
    text.share_with_group(None).unwrap();
    let n = name(text.name());
    assert_mode_too_wide(SharedString::load_sharedobject_with(&text.handle(), &strict()), &n, 0o660, 0o600);
    assert_eq!(SharedString::load_sharedobject_with(&text.handle(), &group()).unwrap().read().unwrap(), "hi");

    let bytes = SharedBytes::create_sharedobject(8).unwrap();
    bytes.write(b"\x01\x02").unwrap();
    bytes.share_with_group(None).unwrap();
    let n = name(bytes.name());
    assert_mode_too_wide(SharedBytes::load_sharedobject_with(&bytes.handle(), &strict()), &n, 0o660, 0o600);
    assert_eq!(SharedBytes::load_sharedobject_with(&bytes.handle(), &group()).unwrap().read().unwrap(), [1, 2]);

    let state = Shared::<u64>::create_sharedobject(&7).unwrap();
    state.share_with_group(None).unwrap();
    let n = name(state.name());
    assert_mode_too_wide(Shared::<u64>::load_sharedobject_with(&state.handle(), &strict()), &n, 0o660, 0o600);
    assert_eq!(Shared::<u64>::load_sharedobject_with(&state.handle(), &group()).unwrap().read(), 7);

    let array = SharedArray::<u32>::create_from_slice(&[1, 2, 3]).unwrap();
    array.share_with_group(None).unwrap();
    let n = name(array.name());
    assert_mode_too_wide(SharedArray::<u32>::load_sharedobject_with(&array.handle(), &strict()), &n, 0o660, 0o600);
    assert_eq!(SharedArray::<u32>::load_sharedobject_with(&array.handle(), &group()).unwrap().to_vec(), [1, 2, 3]);
    let part = array.part(1..).unwrap();
    match SharedArrayPart::<u32>::load_part_with(&part, &strict()) {
        Err(shm_runtime::LoadPartError::Open(e)) => assert_mode_too_wide::<()>(Err(e), &n, 0o660, 0o600),
        other => panic!("expected ModeTooWide, got {other:?}"),
    }
    assert!(SharedArrayPart::<u32>::load_part(&part).is_err(), "load_part must stay strict");
    let worker = SharedArrayPart::<u32>::load_part_with(&part, &group()).unwrap();
    worker.set(2, &30).unwrap();
    assert_eq!(array.get(2), Some(30));

    let mut ring = MemoryInterface::<u64>::create_memorybuf(4).unwrap();
    ring.share_with_group(None).unwrap();
    let n = name(ring.name());
    assert_mode_too_wide(
        MemoryInterface::<u64, Consumer>::load_sharedobject_with(&ring.handle(), &strict()),
        &n,
        0o660,
        0o600,
    );
    assert_mode_too_wide(MemoryInterface::<u64, Consumer>::load_memorybuf(&ring.handle()), &n, 0o660, 0o600);
    let mut consumer = MemoryInterface::<u64, Consumer>::load_sharedobject_with(&ring.handle(), &group()).unwrap();
    ring.write(&9).unwrap();
    assert_eq!(consumer.read(), Some(9));

    let mut bytes_ring = ByteRing::create_memorybuf(16, 4).unwrap();
    bytes_ring.share_with_group(None).unwrap();
    let n = name(bytes_ring.name());
    assert_mode_too_wide(
        ByteRing::<Consumer>::load_sharedobject_with(&bytes_ring.handle(), &strict()),
        &n,
        0o660,
        0o600,
    );
    assert_mode_too_wide(ByteRing::<Consumer>::load_memorybuf(&bytes_ring.handle()), &n, 0o660, 0o600);
    let mut reader = ByteRing::<Consumer>::load_sharedobject_with(&bytes_ring.handle(), &group()).unwrap();
    bytes_ring.write(b"hello").unwrap();
    let mut message = Vec::new();
    assert!(reader.read(&mut message).unwrap());
    assert_eq!(message, b"hello");
}

// ---------------------------------------------------------------- F3

/// F3: a segment whose mode someone widened is refused, with each
/// opt-in accepting exactly what it promises.
#[test]
fn f3_segment_with_a_wider_mode_is_refused_unless_allowed() {
    let int = SharedInt::create_sharedobject(5).unwrap();
    let name = int.name().as_str().to_owned();
    let handle = int.handle();
    // Within 0660: only the group opt-in or "any" accepts.
    for mode in [0o640, 0o620, 0o660] {
        chmod(&name, mode);
        assert_mode_too_wide(SharedInt::load_sharedobject(&handle), &name, mode, 0o600);
        assert_eq!(SharedInt::load_sharedobject_with(&handle, &group()).unwrap().read(), 5);
        assert_eq!(SharedInt::load_sharedobject_with(&handle, &any()).unwrap().read(), 5);
    }
    // Bits for other users, execute, setuid, setgid, sticky: only "any".
    for mode in [0o666, 0o604, 0o602, 0o700, 0o670, 0o4600, 0o2660, 0o1600] {
        chmod(&name, mode);
        assert_mode_too_wide(SharedInt::load_sharedobject(&handle), &name, mode, 0o600);
        assert_mode_too_wide(SharedInt::load_sharedobject_with(&handle, &group()), &name, mode, 0o660);
        assert_eq!(SharedInt::load_sharedobject_with(&handle, &any()).unwrap().read(), 5);
    }
    // A narrower mode is not a risk: accepted (root may still write it;
    // the owner opens read-write, so give write back for non-root).
    chmod(&name, 0o600);
    assert_eq!(SharedInt::load_sharedobject(&handle).unwrap().read(), 5);
}

/// F3: a segment chowned to another user is refused; the group opt-in
/// accepts it only while the file's group is one of ours; "any" accepts it.
#[test]
fn f3_segment_owned_by_another_user_is_refused_unless_allowed() {
    if !root_or_skip("f3_segment_owned_by_another_user_is_refused_unless_allowed") {
        return;
    }
    let int = SharedInt::create_sharedobject(6).unwrap();
    let name = int.name().as_str().to_owned();
    let handle = int.handle();
    let my_group = rustix::process::getegid().as_raw();
    chown(&name, Some(NOBODY), None);
    assert_foreign_owner(SharedInt::load_sharedobject(&handle), &name, NOBODY, my_group, 0);
    assert_foreign_owner(SharedInt::load_sharedobject_with(&handle, &strict()), &name, NOBODY, my_group, 0);
    // The file's group is still ours: the group opt-in trusts it.
    assert_eq!(SharedInt::load_sharedobject_with(&handle, &group()).unwrap().read(), 6);
    assert_eq!(SharedInt::load_sharedobject_with(&handle, &any()).unwrap().read(), 6);

    // A group that is none of ours.
    chown(&name, None, Some(NOBODY));
    assert_foreign_owner(SharedInt::load_sharedobject(&handle), &name, NOBODY, NOBODY, 0);
    assert_foreign_owner(SharedInt::load_sharedobject_with(&handle, &group()), &name, NOBODY, NOBODY, 0);
    let peer = SharedInt::load_sharedobject_with(&handle, &any()).unwrap();
    peer.write(7);
    assert_eq!(int.read(), 7);

    // The owner is checked before the mode.
    chmod(&name, 0o666);
    assert_foreign_owner(SharedInt::load_sharedobject(&handle), &name, NOBODY, NOBODY, 0);
    drop(peer);
    // The creator still removes its (chowned) file.
    drop(int);
    assert!(!common::exists(&name), "the creator left {name}");
}

// ---------------------------------------------------------------- F2

/// Environment variables from parent to child.
const INT_ENV: &str = "SHM_TEST_PERM_INT";
const SHARED_ENV: &str = "SHM_TEST_PERM_SHARED";
const RING_ENV: &str = "SHM_TEST_PERM_RING";
const GID_ENV: &str = "SHM_TEST_PERM_GID";
const GROUPS_ENV: &str = "SHM_TEST_PERM_GROUPS";
/// What a child prints once all its checks passed.
const DONE: &str = "permissions-child: all checks passed";

/// Drops this process (every thread: glibc's `setuid` and friends apply
/// to all) to `uid`, `gid` and exactly the supplementary `groups`. Root only.
fn become_user(uid: u32, gid: u32, groups: &[u32]) {
    let check = |what: &str, result: i32| assert_eq!(result, 0, "{what}: {}", std::io::Error::last_os_error());
    // SAFETY: `groups` points to `groups.len()` initialized gid_t values
    // that outlive the call.
    check("setgroups", unsafe { libc::setgroups(groups.len(), groups.as_ptr()) });
    // SAFETY: setgid has no memory-safety requirements.
    check("setgid", unsafe { libc::setgid(gid) });
    // SAFETY: setuid has no memory-safety requirements.
    check("setuid", unsafe { libc::setuid(uid) });
    assert_eq!(rustix::process::geteuid().as_raw(), uid);
    assert_eq!(rustix::process::getegid().as_raw(), gid);
    let mut now: Vec<u32> =
        rustix::process::getgroups().unwrap().into_iter().map(rustix::process::Gid::as_raw).collect();
    now.sort_unstable();
    let mut wanted = groups.to_vec();
    wanted.sort_unstable();
    assert_eq!(now, wanted);
}

/// Runs `test` of this binary as a child in `role` with `envs`, bounded in
/// time; asserts it succeeded and ran its checks to the end.
fn run_child(test: &str, role: &str, envs: &[(&str, String)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(common::ROLE_ENV, role)
        .envs(envs.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Read the pipes on threads so a chatty child cannot block on them.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(&mut stdout).unwrap());
    let err = std::thread::spawn(move || std::io::read_to_string(&mut stderr).unwrap());
    let status = common::wait_timeout(&mut child, common::CHILD_LIMIT);
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "child {role} failed ({status}):\n{out}\n{err}");
    assert!(out.contains(DONE), "child {role} did not run its checks:\n{out}\n{err}");
}

/// Child of F2: uid and gid 65534, no other group.
fn f2_child() {
    let private = common::handle_from(INT_ENV);
    let shared = common::handle_from(SHARED_ENV);
    become_user(NOBODY, NOBODY, &[]);
    // The kernel refuses before shm looks at anything: the opt-ins do not
    // override it.
    for options in [strict(), group(), any()] {
        assert_permission_denied(SharedInt::load_sharedobject_with(&private, &options), private.name().as_str());
        assert_permission_denied(SharedInt::load_sharedobject_with(&shared, &options), shared.name().as_str());
    }
    assert_permission_denied(SharedInt::load_sharedobject(&private), private.name().as_str());
    println!("{DONE}");
}

/// F2: another user opens a 0600 segment: `PermissionDenied`; and one
/// shared with a group the user is not in, likewise.
#[test]
fn f2_another_user_is_denied() {
    const TEST: &str = "f2_another_user_is_denied";
    if common::role().as_deref() == Some("f2") {
        f2_child();
        return;
    }
    if !root_or_skip(TEST) {
        return;
    }
    let private = SharedInt::create_sharedobject(1).unwrap();
    let shared = SharedInt::create_sharedobject(2).unwrap();
    shared.share_with_group(None).unwrap();
    assert_ne!(std::fs::metadata(common::shm_path(shared.name().as_str())).unwrap().gid(), NOBODY);
    run_child(TEST, "f2", &[common::env(INT_ENV, &private.handle()), common::env(SHARED_ENV, &shared.handle())]);
    assert_eq!((private.read(), shared.read()), (1, 2), "the other user changed a value");
}

// ---------------------------------------------------------------- group

/// Child of the group test: uid 65534, with the gid and supplementary
/// groups the parent names. Opens the int and the ring shared with group
/// 65534.
fn group_child() {
    let int = common::handle_from(INT_ENV);
    let ring = common::handle_from(RING_ENV);
    let gid: u32 = std::env::var(GID_ENV).unwrap().parse().unwrap();
    let groups: Vec<u32> =
        std::env::var(GROUPS_ENV).unwrap().split(',').filter(|g| !g.is_empty()).map(|g| g.parse().unwrap()).collect();
    become_user(NOBODY, gid, &groups);
    let member = gid == NOBODY || groups.contains(&NOBODY);
    if !member {
        for options in [strict(), group(), any()] {
            assert_permission_denied(SharedInt::load_sharedobject_with(&int, &options), int.name().as_str());
        }
        println!("{DONE}");
        return;
    }
    // Root owns it: a strict open refuses, naming the owner.
    assert_foreign_owner(SharedInt::load_sharedobject(&int), int.name().as_str(), 0, NOBODY, NOBODY);
    let value = SharedInt::load_sharedobject_with(&int, &group()).unwrap();
    assert_eq!(value.read(), 41);
    value.write(42);
    assert_foreign_owner(ByteRing::<Consumer>::load_sharedobject(&ring), ring.name().as_str(), 0, NOBODY, NOBODY);
    let mut consumer = ByteRing::<Consumer>::load_sharedobject_with(&ring, &group()).unwrap();
    let mut message = Vec::new();
    consumer.read_timeout(&mut message, common::WAIT_LIMIT).unwrap();
    assert_eq!(message, b"for the group");
    println!("{DONE}");
}

/// The creator shares with group 65534; a child of uid 65534 in that group
/// (as its gid, or only as a supplementary group) opens with
/// `allow_group_shared` and reads and writes; without it, refused. A child
/// outside the group is denied by the kernel.
#[test]
fn group_member_opens_a_group_shared_segment_with_the_opt_in() {
    const TEST: &str = "group_member_opens_a_group_shared_segment_with_the_opt_in";
    if common::role().as_deref() == Some("group") {
        group_child();
        return;
    }
    if !root_or_skip(TEST) {
        return;
    }
    // (gid, supplementary groups): primary member, supplementary member,
    // outsider.
    for (gid, groups) in [(NOBODY, ""), (OTHER_GROUP, "65534"), (OTHER_GROUP, "")] {
        let int = SharedInt::create_sharedobject(41).unwrap();
        int.share_with_group(Some(NOBODY)).unwrap();
        let mut ring = ByteRing::create_memorybuf(32, 4).unwrap();
        ring.share_with_group(Some(NOBODY)).unwrap();
        for name in [int.name().as_str(), ring.name().as_str()] {
            let meta = std::fs::metadata(common::shm_path(name)).unwrap();
            assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777), (0, NOBODY, 0o660));
        }
        ring.write(b"for the group").unwrap();
        let envs = [
            common::env(INT_ENV, &int.handle()),
            common::env(RING_ENV, &ring.handle()),
            (GID_ENV, gid.to_string()),
            (GROUPS_ENV, groups.to_owned()),
        ];
        run_child(TEST, "group", &envs);
        let member = gid == NOBODY || !groups.is_empty();
        assert_eq!(int.read(), if member { 42 } else { 41 }, "gid {gid}, groups {groups:?}");
        assert_eq!(ring.len(), usize::from(!member), "gid {gid}, groups {groups:?}");
        // A message left for a consumer that never came keeps a dropped
        // ring's name for it; `cleanup` removes it now.
        ring.cleanup().unwrap();
    }
}
