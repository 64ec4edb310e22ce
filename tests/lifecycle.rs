//! Row H9 of `docs/RELIABILITY.md`: the newcomer's first ring program. A
//! producer creates a ring, starts its consumer (a child handed the
//! handle with `pass_to`), writes ten items and drops its end at once,
//! maybe before the consumer attached. The consumer must get all ten,
//! then `Closed`, never `NotFound`; and the name is gone once both left.

mod common;

use shm_runtime::{Consumer, Handle, MemoryInterface, RingError, SharedObject};
use std::process::{Command, Stdio};
use std::time::Duration;

const TEST: &str = "h9_producer_drops_before_the_consumer_attaches";
const RUNS: usize = 200;

#[test]
fn h9_producer_drops_before_the_consumer_attaches() {
    if common::role().as_deref() == Some("consumer") {
        let handle = Handle::from_env().expect("the handle in the environment");
        let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&handle).unwrap_or_else(|e| panic!("open: {e}"));
        let items: Vec<u64> = (&mut rx).into_iter().collect::<Result<_, _>>().unwrap_or_else(|e| panic!("read: {e}"));
        assert_eq!(items, (0..10).collect::<Vec<u64>>(), "every item, in order");
        assert!(matches!(rx.read_timeout(Duration::ZERO), Err(RingError::Closed { .. })), "then Closed");
        return;
    }
    for run in 0..RUNS {
        let mut tx = MemoryInterface::<u64>::create_memorybuf(16).unwrap();
        let name = tx.name().as_str().to_owned();
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([TEST, "--exact", "--test-threads=1"])
            .env(common::ROLE_ENV, "consumer")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        tx.handle().pass_to(&mut command);
        let child = command.spawn().unwrap();
        for i in 0..10 {
            tx.write_blocking(&i).unwrap();
        }
        drop(tx);
        common::expect_success(child, common::CHILD_LIMIT);
        assert!(!common::exists(&name), "run {run}: the name outlived both ends");
    }
}

/// `peer_state` tells the four places of the other side apart, the last
/// one across processes: a consumer child attached, then killed.
#[test]
fn peer_state_sees_a_consumer_attach_and_die() {
    use shm_runtime::{PeerState, Ring};
    if common::role().as_deref() == Some("holder") {
        let handle = Handle::from_env().expect("the handle in the environment");
        let _rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&handle).unwrap();
        std::thread::sleep(common::CHILD_LIMIT);
        return;
    }
    let tx = MemoryInterface::<u64>::create_memorybuf(4).unwrap();
    assert_eq!(tx.peer_state(), PeerState::NotAttached);
    let kid = common::Kid::spawn(
        "peer_state_sees_a_consumer_attach_and_die",
        "holder",
        &[(shm_runtime::HANDLE_ENV, tx.handle().to_string())],
    );
    let pid = kid.pid_word();
    common::wait_for("the consumer to attach", None, || (tx.peer_state() == PeerState::Attached { pid }).then_some(()));
    kid.kill_and_reap();
    assert_eq!(tx.peer_state(), PeerState::Died { pid });
    assert_eq!(tx.peer_alive(), Some(false));
}

/// Disconnection across processes: a consumer child reads three items and
/// exits (letting go of its end). Every write after that says so, in each
/// form (`TryWriteError::Closed`, `RingError::Closed`, `SendError::Closed`
/// for a byte ring), with room in the ring, instead of filling it and then
/// reporting `Full`; a consumer that attaches again makes writes succeed.
#[test]
fn writes_after_the_consumer_left_say_closed() {
    use shm_runtime::{ByteRing, PeerState, Ring, SendError, TryWriteError};
    const NAME: &str = "writes_after_the_consumer_left_say_closed";
    match common::role().as_deref() {
        Some("reader") => {
            let handle = Handle::from_env().expect("the handle in the environment");
            let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&handle).unwrap();
            for expected in 0..3 {
                assert_eq!(rx.read_timeout(common::CHILD_LIMIT).unwrap(), expected);
            }
            return;
        }
        Some("byte-reader") => {
            let handle = Handle::from_env().expect("the handle in the environment");
            let mut rx = ByteRing::<Consumer>::load_memorybuf(&handle).unwrap();
            let mut message = Vec::new();
            rx.read_timeout(&mut message, common::CHILD_LIMIT).unwrap();
            assert_eq!(message, b"hello");
            return;
        }
        Some(other) => panic!("unknown role {other}"),
        None => {}
    }
    let mut tx = MemoryInterface::<u64>::create_memorybuf(64).unwrap();
    let kid = common::Kid::spawn(NAME, "reader", &[(shm_runtime::HANDLE_ENV, tx.handle().to_string())]);
    for item in 0..3 {
        tx.write(&item).unwrap();
    }
    kid.expect_success();
    assert_eq!(tx.peer_state(), PeerState::LetGo);
    assert!(tx.is_empty() && tx.can_write(), "room in the ring, nobody to read it");
    match tx.write(&3) {
        Err(TryWriteError::Closed { value, name }) => assert_eq!((value, &name), (3, tx.name())),
        other => panic!("write after the consumer left: {other:?}"),
    }
    assert_eq!(tx.write_slice(&[3, 4]), 0, "write_slice after the consumer left");
    assert!(tx.write_with(|slot| slot.write(&3)).is_none(), "write_with after the consumer left");
    for result in [tx.write_blocking(&3), tx.write_timeout(&3, Duration::from_secs(5))] {
        assert!(matches!(result, Err(RingError::Closed { role: "consumer", .. })), "{result:?}");
    }
    assert_eq!(tx.len(), 0, "nothing was written");
    // A consumer that attaches again takes the let-go role: writes succeed.
    let mut again = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle()).unwrap();
    tx.write(&3).unwrap();
    assert_eq!(again.read(), Some(3));
    drop(again);
    assert!(matches!(tx.write(&4), Err(TryWriteError::Closed { .. })));

    let mut bytes = ByteRing::create_memorybuf(16, 8).unwrap();
    let kid = common::Kid::spawn(NAME, "byte-reader", &[(shm_runtime::HANDLE_ENV, bytes.handle().to_string())]);
    bytes.write(b"hello").unwrap();
    kid.expect_success();
    assert_eq!(bytes.write(b"again"), Err(SendError::Closed));
    let partial = bytes.write_partial(&[7; 100], Duration::from_secs(5));
    assert!(matches!(partial, Err(RingError::Closed { role: "consumer", .. })), "{partial:?}");
    let io = std::io::Write::write(&mut bytes, b"x").unwrap_err();
    assert_eq!(io.kind(), std::io::ErrorKind::BrokenPipe, "{io}");
}
