//! Cross-process tests of the byte broadcast (`ByteBroadcast`,
//! `ByteSubscriber`): a stream of messages of varying length to three
//! subscriber processes under both policies; a hostile process storing
//! impossible length words; and a publisher killed (`SIGKILL`) while it copies
//! large messages.
//!
//! As in `broadcast_cross_process.rs`, the test binary re-runs itself in
//! a role (`common::spawn_role`); every wait is time-boxed, and every test
//! checks that its broadcast is gone from /dev/shm at the end.

mod common;

use common::{Kid, RemoveOnDrop, WAIT_LIMIT, env, exists, handle_from, shm_path, unique_name, wait_for};

use shm_runtime::{BroadcastConfig, ByteBroadcast, ByteSubscriber, PeerState, Policy, RecvError, SharedObject};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

const VAR_HANDLE: &str = "SHM_BBCAST_TEST_HANDLE";
const VAR_NAME: &str = "SHM_BBCAST_TEST_NAME";
const VAR_ITEMS: &str = "SHM_BBCAST_TEST_ITEMS";
const VAR_POLICY: &str = "SHM_BBCAST_TEST_POLICY";
const VAR_SLOT: &str = "SHM_BBCAST_TEST_SLOT";
const VAR_SLOW: &str = "SHM_BBCAST_TEST_SLOW";

/// Byte offset of the payload in a segment file (FORMAT.md).
const PAYLOAD_OFFSET: u64 = 128;
// Word indexes inside a broadcast's payload (FORMAT.md).
const TAIL_WORD: u64 = 8;
const TABLE_WORD: u64 = 32;
const ENTRY_WORDS: u64 = 8;

fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Message `k` for slots of `slot` bytes: 8 bytes of `k`, then bytes made
/// from `k`; its length (8 to `slot`) made from `k` as well, so that a
/// message with another's length or tail is caught.
fn message(k: u64, slot: usize) -> Vec<u8> {
    let span = u64::try_from(slot - 8).unwrap() + 1;
    let len = 8 + usize::try_from(mix(k, 1) % span).unwrap();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&k.to_ne_bytes());
    let mut word = mix(k, 2);
    while m.len() < len {
        m.push(word.to_ne_bytes()[0]);
        word = word.rotate_right(8) ^ u64::try_from(m.len()).unwrap();
    }
    m
}

/// Checks `got` is a whole message; returns its number.
fn check(got: &[u8], slot: usize) -> u64 {
    assert!(got.len() >= 8, "a message of {} bytes", got.len());
    let k = u64::from_ne_bytes(got[..8].try_into().unwrap());
    assert!(got == message(k, slot).as_slice(), "message {k} ({} bytes) arrived mixed or cut", got.len());
    k
}

fn policy_var(policy: Policy) -> (&'static str, String) {
    (VAR_POLICY, if policy == Policy::Overwrite { "overwrite".into() } else { "backpressure".into() })
}

fn policy_from_env() -> Policy {
    if std::env::var(VAR_POLICY).is_ok_and(|p| p == "overwrite") { Policy::Overwrite } else { Policy::Backpressure }
}

fn var<T: std::str::FromStr>(name: &str) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name} unset"))
}

/// What a checking subscriber saw: messages seen and reported missed,
/// and the number the next one must have.
#[derive(Debug, Default)]
struct Tally {
    seen: u64,
    missed: u64,
    next: Option<u64>,
}

impl Tally {
    fn take(&mut self, k: u64) {
        let expected = *self.next.get_or_insert(k);
        assert_eq!(k, expected, "a message was lost, duplicated or reordered ({self:?})");
        self.next = Some(k + 1);
        self.seen += 1;
    }

    fn lag(&mut self, n: u64) {
        self.missed += n;
        self.next = self.next.map(|next| next + n);
    }
}

/// Reads until the end, into a caller buffer (`vec`: into a `Vec`),
/// checking every message.
fn read_all(rx: &mut ByteSubscriber, policy: Policy, into_vec: bool, sleepy: bool) -> (Tally, RecvError) {
    let slot = rx.slot_size();
    let mut buffer = vec![0u8; slot];
    let mut message = Vec::new();
    let mut tally = Tally::default();
    loop {
        let got = if into_vec {
            rx.read_vec_timeout(&mut message, WAIT_LIMIT).map(|()| message.as_slice())
        } else {
            rx.read_timeout(&mut buffer, WAIT_LIMIT).map(|n| &buffer[..n])
        };
        match got {
            Ok(m) => {
                tally.take(check(m, slot));
                if sleepy && tally.seen.is_multiple_of(1024) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Err(RecvError::Lagged(n)) => {
                assert_eq!(policy, Policy::Overwrite, "a lag under backpressure");
                tally.lag(n);
            }
            Err(end) => return (tally, end),
        }
    }
}

// ---------------------------------------------------------------------------
// A stream to three subscribers

/// Child: subscribes, reads every message until the publisher lets go.
#[test]
fn checking_subscriber() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "subscriber");
    let policy = policy_from_env();
    let total: u64 = var(VAR_ITEMS);
    let vec = std::env::var(VAR_SLOW).is_err();
    let mut rx = ByteSubscriber::load_sharedobject(&handle_from(VAR_HANDLE)).unwrap();
    let (tally, end) = read_all(&mut rx, policy, vec, !vec);
    assert!(matches!(end, RecvError::Closed { .. }), "{end}");
    assert_eq!(tally.seen + tally.missed, total, "{tally:?}");
    if policy == Policy::Backpressure {
        assert_eq!(tally.missed, 0);
    }
}

fn stream(policy: Policy) {
    const SLOT: usize = 200;
    let total: u64 = if cfg!(debug_assertions) { 100_000 } else { 400_000 };
    let mut tx = ByteBroadcast::create(SLOT, &BroadcastConfig::new(256, policy)).unwrap();
    let name = tx.name().as_str().to_owned();
    let handle = tx.handle();
    let kids: Vec<Kid> = (0..3)
        .map(|i| {
            let mut envs = vec![env(VAR_HANDLE, &handle), (VAR_ITEMS, total.to_string()), policy_var(policy)];
            if i == 0 {
                envs.push((VAR_SLOW, "1".into()));
            }
            Kid::spawn("checking_subscriber", "subscriber", &envs)
        })
        .collect();
    wait_for("the subscribers to join", None, || (tx.subscriber_lags().len() == 3).then_some(()));
    let start = Instant::now();
    let mut batch = Vec::with_capacity(16);
    let mut next = 0;
    while next < total {
        batch.clear();
        batch.extend((next..total.min(next + 16)).map(|k| message(k, SLOT)));
        let mut sent = 0;
        while sent < batch.len() {
            sent += tx.publish_many(&batch[sent..]).unwrap();
            if sent < batch.len() {
                tx.wait_can_publish(WAIT_LIMIT).unwrap();
            }
        }
        next += batch.len() as u64;
    }
    eprintln!("{policy:?}: {total} messages to 3 subscribers in {:?}", start.elapsed());
    assert_eq!(tx.lost_subscribers() + tx.corrupt_subscribers(), 0);
    drop(tx);
    for kid in kids {
        kid.expect_success();
    }
    assert!(!exists(&name), "the last subscriber removes the name");
}

#[test]
fn backpressure_messages_to_three_subscribers() {
    if common::role().is_some() {
        return;
    }
    stream(Policy::Backpressure);
}

#[test]
fn overwrite_messages_to_three_subscribers() {
    if common::role().is_some() {
        return;
    }
    stream(Policy::Overwrite);
}

// ---------------------------------------------------------------------------
// A hostile length word

/// Child: a hostile process that stores `value` in the length word of
/// slot 0 through the segment file.
#[test]
fn length_scribbler() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "scribbler");
    let handle = handle_from(VAR_HANDLE);
    let entries: u64 = var(VAR_ITEMS);
    let value: u64 = var(VAR_SLOT);
    let file = OpenOptions::new().read(true).write(true).open(shm_path(handle.name().as_str())).unwrap();
    // Slot 0: after the table, its sequence word, then the length word.
    let length = PAYLOAD_OFFSET + (TABLE_WORD + entries * ENTRY_WORDS + 1) * 8;
    file.write_all_at(&value.to_ne_bytes(), length).unwrap();
}

#[test]
fn hostile_length_words_are_corrupt_and_nothing_else_is_lost() {
    const SLOT: usize = 100;
    if common::role().is_some() {
        return;
    }
    for policy in [Policy::Backpressure, Policy::Overwrite] {
        // One past the slot size (still inside the slot's 13 data words),
        // past the slot's words, and far outside the segment.
        for bad in [SLOT as u64 + 1, 8 * 13 + 8, u64::MAX] {
            let config = BroadcastConfig::new(4, policy).max_subscribers(4).history(4);
            let mut tx = ByteBroadcast::create(SLOT, &config).unwrap();
            let name = tx.name().as_str().to_owned();
            for k in 0..3 {
                tx.publish(&message(k, SLOT)).unwrap();
            }
            let mut buffer = vec![0u8; SLOT];
            let mut early = tx.subscribe().unwrap();
            let n = early.read(&mut buffer).unwrap().unwrap();
            assert_eq!(check(&buffer[..n], SLOT), 0);
            let envs = [env(VAR_HANDLE, &tx.handle()), (VAR_ITEMS, "4".into()), (VAR_SLOT, bad.to_string())];
            Kid::spawn("length_scribbler", "scribbler", &envs).expect_success();
            let mut rx = tx.subscribe().unwrap();
            let err = rx.read(&mut buffer).unwrap_err();
            assert_eq!(err, RecvError::Corrupt { name: rx.name().clone(), what: "message length", found: bad });
            assert!(rx.read_vec(&mut Vec::new()).is_err(), "sticky");
            assert_eq!(rx.read_count(), 0, "nothing taken");
            // Its owner gives up on it (under backpressure it would hold
            // the publisher back). Messages 1 and 2 are untouched, and the
            // publisher goes on.
            drop(rx);
            for k in 1..8 {
                if k >= 3 {
                    tx.publish(&message(k, SLOT)).unwrap();
                }
                let mut got = Vec::new();
                assert!(early.read_vec(&mut got).unwrap(), "{policy:?} {bad}");
                assert_eq!(check(&got, SLOT), k);
            }
            drop((tx, early));
            assert!(!exists(&name));
        }
    }
}

// ---------------------------------------------------------------------------
// SIGKILL of the publisher mid-message

/// Child: creates the broadcast under the name given (large slots, so
/// that a kill lands in the middle of a copy now and then), waits for one
/// subscriber, then publishes forever (until killed).
#[test]
fn publishing_forever() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "publisher");
    let name = std::env::var(VAR_NAME).unwrap();
    let slot: usize = var(VAR_SLOT);
    let mut tx = ByteBroadcast::create_named(&name, slot, &BroadcastConfig::new(8, policy_from_env())).unwrap();
    let start = Instant::now();
    while tx.subscriber_count() == 0 {
        assert!(start.elapsed() < WAIT_LIMIT, "nobody subscribed");
        std::thread::sleep(Duration::from_millis(1));
    }
    // A few messages made once: the time goes into copying them.
    let messages: Vec<Vec<u8>> = (0..64).map(|k| message(k, slot)).collect();
    for k in 0u64.. {
        assert!(start.elapsed() < 2 * WAIT_LIMIT, "nobody killed the publisher");
        let mut m = messages[(k % 64) as usize].clone();
        m[..8].copy_from_slice(&k.to_ne_bytes());
        tx.publish_timeout(&m, WAIT_LIMIT).unwrap();
    }
}

/// Like `check`, for the publisher above: message `k` is message
/// `k % 64` with `k` in its first 8 bytes.
fn check_recycled(got: &[u8], slot: usize) -> u64 {
    let k = u64::from_ne_bytes(got[..8].try_into().unwrap());
    let expected = message(k % 64, slot);
    assert!(got.len() == expected.len() && got[8..] == expected[8..], "message {k} arrived mixed or cut");
    k
}

fn kill_publisher(policy: Policy) {
    const SLOT: usize = 64 * 1024;
    for round in 0..4 {
        let name = unique_name("bbcast-pub");
        let _guard = RemoveOnDrop(name.clone());
        let envs = [(VAR_NAME, name.clone()), (VAR_SLOT, SLOT.to_string()), policy_var(policy)];
        let publisher = Kid::spawn("publishing_forever", "publisher", &envs);
        let mut rx = wait_for("the publisher's broadcast", None, || ByteSubscriber::open(&name).ok());
        let mut buffer = vec![0u8; SLOT];
        let mut tally = Tally::default();
        // Kill at a different point each round.
        let before = 200 + round * 137;
        let mut end = None;
        while tally.seen < before {
            match rx.read_timeout(&mut buffer, WAIT_LIMIT) {
                Ok(n) => tally.take(check_recycled(&buffer[..n], SLOT)),
                Err(RecvError::Lagged(n)) => tally.lag(n),
                Err(e) => panic!("{e}"),
            }
        }
        let pid = u64::from(publisher.pid);
        publisher.kill_and_reap();
        // Everything published before the kill arrives whole (or, under
        // overwrite, reported missed), then PeerDead.
        while end.is_none() {
            match rx.read_timeout(&mut buffer, WAIT_LIMIT) {
                Ok(n) => tally.take(check_recycled(&buffer[..n], SLOT)),
                Err(RecvError::Lagged(n)) => tally.lag(n),
                Err(e) => end = Some(e),
            }
        }
        let end = end.unwrap();
        assert_eq!(end, RecvError::PeerDead { name: rx.name().clone(), pid }, "{end}");
        assert_eq!(rx.publisher_state(), PeerState::Died { pid });
        let file = OpenOptions::new().read(true).open(shm_path(&name)).unwrap();
        let mut tail = [0u8; 8];
        file.read_exact_at(&mut tail, PAYLOAD_OFFSET + TAIL_WORD * 8).unwrap();
        assert_eq!(rx.read_count(), u64::from_ne_bytes(tail), "messages were left unread");
        if policy == Policy::Backpressure {
            assert_eq!(tally.missed, 0);
        }
        drop(rx);
        assert!(!exists(&name), "the last end out removes the dead publisher's broadcast");
    }
}

#[test]
fn backpressure_publisher_killed_mid_message() {
    if common::role().is_some() {
        return;
    }
    kill_publisher(Policy::Backpressure);
}

#[test]
fn overwrite_publisher_killed_mid_message() {
    if common::role().is_some() {
        return;
    }
    kill_publisher(Policy::Overwrite);
}
