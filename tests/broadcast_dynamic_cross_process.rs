//! Cross-process tests of the run-time-typed broadcast: a `DynBroadcast`
//! whose item type is built field by field at run time streams to a typed
//! `Subscriber<Frame>` process and a `DynSubscriber` process that learns
//! the type from the segment; and a typed `Broadcast<Frame>` streams to a
//! `DynSubscriber` process. Every item is checked whole and in order.
//!
//! As in `broadcast_cross_process.rs`, the test binary re-runs itself in
//! a role (`common::spawn_role`); every wait is time-boxed, and every test
//! checks that its broadcast is gone from /dev/shm at the end.

mod common;

use common::{Kid, WAIT_LIMIT, env, exists, handle_from};

use shm_runtime::dynamic::{DynBroadcast, DynSubscriber, ItemType};
use shm_runtime::format::schema::{FieldSchema, Prim, Schema, StructSchema};
use shm_runtime::{Broadcast, BroadcastConfig, Policy, RecvError, SharedObject, SharedState, Subscriber};

const VAR_HANDLE: &str = "SHM_DBCAST_TEST_HANDLE";
const VAR_ITEMS: &str = "SHM_DBCAST_TEST_ITEMS";
const VAR_POLICY: &str = "SHM_DBCAST_TEST_POLICY";

/// The item both sides agree on.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Frame {
    seq: u64,
    value: f64,
    check: u64,
}

impl Frame {
    fn numbered(seq: u64) -> Self {
        Self { seq, value: f64::from(u32::try_from(seq % 1_000_000).unwrap()) * 0.5, check: !seq ^ 0x5a5a }
    }

    fn to_bytes(self) -> Vec<u8> {
        [self.seq.to_ne_bytes(), self.value.to_ne_bytes(), self.check.to_ne_bytes()].concat()
    }

    fn from_bytes(b: &[u8]) -> Self {
        let word = |i: usize| <[u8; 8]>::try_from(&b[i * 8..i * 8 + 8]).unwrap();
        Self {
            seq: u64::from_ne_bytes(word(0)),
            value: f64::from_ne_bytes(word(1)),
            check: u64::from_ne_bytes(word(2)),
        }
    }
}

/// `Frame`'s type, declared at run time (as a Python process or a bridge
/// would), not taken from the derive.
fn frame_type() -> ItemType {
    let field = |name: &str, offset, prim| FieldSchema { name: name.into(), offset, ty: Schema::Prim(prim) };
    let schema = Schema::Struct(StructSchema {
        name: "Frame".into(),
        size: 24,
        align: 8,
        fields: vec![field("seq", 0, Prim::U64), field("value", 8, Prim::F64), field("check", 16, Prim::U64)],
    });
    ItemType::new("Frame", schema).unwrap()
}

fn items() -> u64 {
    if cfg!(debug_assertions) { 50_000 } else { 200_000 }
}

fn policy_var(policy: Policy) -> (&'static str, String) {
    (VAR_POLICY, if policy == Policy::Overwrite { "overwrite".into() } else { "backpressure".into() })
}

fn policy_from_env() -> Policy {
    if std::env::var(VAR_POLICY).is_ok_and(|p| p == "overwrite") { Policy::Overwrite } else { Policy::Backpressure }
}

/// Counts `frame` as the next item after `next` (and `missed` lags):
/// whole, in order.
fn take(frame: Frame, next: &mut u64, seen: &mut u64) {
    assert_eq!(frame, Frame::numbered(frame.seq), "torn frame");
    assert_eq!(frame.seq, *next, "a frame was lost, duplicated or reordered");
    *next += 1;
    *seen += 1;
}

/// Child: a typed subscriber; reads until the publisher lets go.
#[test]
fn typed_subscriber() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "typed");
    let (policy, total): (Policy, u64) = (policy_from_env(), std::env::var(VAR_ITEMS).unwrap().parse().unwrap());
    let mut rx = Subscriber::<Frame>::load_sharedobject(&handle_from(VAR_HANDLE)).unwrap();
    let (mut next, mut seen, mut missed) = (0, 0, 0);
    loop {
        match rx.read_timeout(WAIT_LIMIT) {
            Ok(frame) => take(frame, &mut next, &mut seen),
            Err(RecvError::Lagged(n)) => {
                assert_eq!(policy, Policy::Overwrite);
                missed += n;
                next += n;
            }
            Err(RecvError::Closed { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(seen + missed, total);
}

/// Child: a dynamic subscriber that knows no type: it takes the segment's.
#[test]
fn dynamic_subscriber() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "dynamic");
    let (policy, total): (Policy, u64) = (policy_from_env(), std::env::var(VAR_ITEMS).unwrap().parse().unwrap());
    let mut rx = DynSubscriber::load_sharedobject(&handle_from(VAR_HANDLE)).unwrap();
    assert_eq!(rx.item_type().fingerprint(), Frame::FINGERPRINT);
    assert_eq!(rx.item_type().size(), 24);
    let mut out = vec![0u8; rx.item_type().size()];
    let (mut next, mut seen, mut missed) = (0, 0, 0);
    loop {
        match rx.recv_timeout(&mut out, WAIT_LIMIT) {
            Ok(()) => take(Frame::from_bytes(&out), &mut next, &mut seen),
            Err(RecvError::Lagged(n)) => {
                assert_eq!(policy, Policy::Overwrite);
                missed += n;
                next += n;
            }
            Err(RecvError::Closed { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(seen + missed, total);
}

fn envs(handle: &shm_runtime::Handle, total: u64, policy: Policy) -> Vec<(&'static str, String)> {
    vec![env(VAR_HANDLE, handle), (VAR_ITEMS, total.to_string()), policy_var(policy)]
}

fn dynamic_publisher_to_both(policy: Policy) {
    let total = items();
    let item = frame_type();
    assert_eq!(item.fingerprint(), Frame::FINGERPRINT, "the run-time type is the derived one");
    let mut tx = DynBroadcast::create(&item, &BroadcastConfig::new(64, policy)).unwrap();
    let name = tx.name().as_str().to_owned();
    let envs = envs(&tx.handle(), total, policy);
    let kids = [Kid::spawn("typed_subscriber", "typed", &envs), Kid::spawn("dynamic_subscriber", "dynamic", &envs)];
    common::wait_for("the subscribers to join", None, || (tx.subscriber_lags().len() == 2).then_some(()));
    for k in 0..total {
        tx.publish_timeout(&Frame::numbered(k).to_bytes(), WAIT_LIMIT).unwrap();
    }
    drop(tx);
    for kid in kids {
        kid.expect_success();
    }
    assert!(!exists(&name));
}

#[test]
fn backpressure_dynamic_publisher_to_typed_and_dynamic_subscribers() {
    if common::role().is_some() {
        return;
    }
    dynamic_publisher_to_both(Policy::Backpressure);
}

#[test]
fn overwrite_dynamic_publisher_to_typed_and_dynamic_subscribers() {
    if common::role().is_some() {
        return;
    }
    dynamic_publisher_to_both(Policy::Overwrite);
}

#[test]
fn typed_publisher_to_a_dynamic_subscriber() {
    if common::role().is_some() {
        return;
    }
    let total = items();
    let policy = Policy::Backpressure;
    let mut tx = Broadcast::<Frame>::create(&BroadcastConfig::new(64, policy)).unwrap();
    let name = tx.name().as_str().to_owned();
    let kid = Kid::spawn("dynamic_subscriber", "dynamic", &envs(&tx.handle(), total, policy));
    common::wait_for("the subscriber to join", None, || (tx.subscriber_lags().len() == 1).then_some(()));
    for k in 0..total {
        tx.publish_timeout(&Frame::numbered(k), WAIT_LIMIT).unwrap();
    }
    drop(tx);
    kid.expect_success();
    assert!(!exists(&name));
}
