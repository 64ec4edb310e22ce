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
