//! Cross-process tests of `ByteRing`: byte messages of random lengths
//! between a producer and a consumer in two processes, one slot at a time
//! and split over slots with `write_partial`, serde values, and a producer
//! killed in the middle of a split message.
//!
//! As in `ring_cross_process.rs`, the test binary re-runs itself in a role
//! (`common::spawn_role`): every test checks `common::role()` first and, in
//! a child, plays that role and returns (a panic is a nonzero exit status).
//! Every wait is bounded, a child the parent has not waited for is killed
//! and reaped when the parent fails, and every test checks that its ring
//! is gone from /dev/shm at the end.
//!
//! Message `i` of a stream is [`message`]`(i, len)`: its bytes are made
//! from `i` and their position, so the consumer can rebuild the message it
//! expects next and compare all of it: a lost, duplicated, reordered,
//! shortened, padded or mixed message fails the comparison.

mod common;

use common::{Kid, WAIT_LIMIT, env, handle_from};
use shm_runtime::{ByteRing, Consumer, RingError, SendError};
use std::time::{Duration, Instant};

const VAR_RING: &str = "SHM_BYTE_RING_TEST_RING";

/// Messages per E1 stream.
const E1_MESSAGES: u64 = 1_000_000;

/// splitmix64's finalizer of `i` and `salt`.
const fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills `out` with message `i` of `len` bytes: word `j` of it is a mix
/// of `i` with every byte xored with `j`.
fn message(i: u64, len: usize, out: &mut Vec<u8>) {
    let seed = mix(i, 9);
    out.clear();
    out.resize(len, 0);
    for (j, chunk) in out.chunks_mut(8).enumerate() {
        let word = seed ^ (j as u64).wrapping_mul(0x0101_0101_0101_0101);
        chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
    }
}

/// Checks that `got` is message `i` of `len` bytes, naming what differs.
fn expect_message(got: &[u8], i: u64, len: usize, scratch: &mut Vec<u8>, what: &str) {
    message(i, len, scratch);
    assert_eq!(got.len(), len, "{what}: message {i} has {} bytes, {len} were written", got.len());
    if got != &scratch[..] {
        let k = got.iter().zip(scratch.iter()).position(|(a, b)| a != b).unwrap_or(len);
        panic!("{what}: message {i} differs at byte {k} of {len}");
    }
}

/// The slot size of the E1 rings: a multiple of 8 plus a part word, so
/// lengths end anywhere in a word.
const SLOT: usize = 44;

/// Length of message `i` in the one-slot stream: 0 ..= SLOT.
fn slot_len(i: u64) -> usize {
    usize::try_from(mix(i, 1) % (SLOT as u64 + 1)).expect("small")
}

/// Length of message `i` in the `write_partial` stream: mostly 0 to 3
/// slots, and every 997th one 40 slots (longer than the 16-slot ring).
fn partial_len(i: u64) -> usize {
    let len = if i.is_multiple_of(997) { 40 * SLOT } else { 3 * SLOT };
    usize::try_from(mix(i, 2) % (len as u64 + 1)).expect("small")
}

/// Reads `count` messages with `read` (and `read_timeout` when none is
/// ready), checking each against `len_of`, then expects `Closed`.
fn consume(rx: &mut ByteRing<Consumer>, count: u64, len_of: fn(u64) -> usize, what: &str) -> Duration {
    let start = Instant::now();
    let (mut got, mut scratch) = (Vec::new(), Vec::new());
    for i in 0..count {
        if !rx.read(&mut got).unwrap_or_else(|e| panic!("{what}: reading message {i}: {e}")) {
            rx.read_timeout(&mut got, WAIT_LIMIT).unwrap_or_else(|e| panic!("{what}: waiting for message {i}: {e}"));
        }
        expect_message(&got, i, len_of(i), &mut scratch, what);
    }
    let took = start.elapsed();
    let end = rx.read_timeout(&mut got, WAIT_LIMIT);
    assert!(matches!(end, Err(RingError::Closed { role: "producer", .. })), "{what}: after the last message: {end:?}");
    took
}

/// E1 for the byte ring: a producer child writes 10^6 messages of random
/// lengths from 0 to the slot size with `write` (waiting with
/// `write_timeout` when full); the parent reads every one and compares it
/// whole with the message it expects next.
#[test]
fn e1_million_messages_of_random_lengths() {
    const TEST: &str = "e1_million_messages_of_random_lengths";
    if let Some(role) = common::role() {
        assert_eq!(role, "producer", "unknown role");
        let mut tx = ByteRing::load_memorybuf(&handle_from(VAR_RING)).expect("producer attaches");
        assert_eq!(tx.slot_size(), SLOT, "the opener learns the slot size");
        let mut m = Vec::new();
        for i in 0..E1_MESSAGES {
            message(i, slot_len(i), &mut m);
            match tx.write(&m) {
                Ok(()) => {}
                Err(SendError::Full) => {
                    tx.write_timeout(&m, WAIT_LIMIT).unwrap_or_else(|e| panic!("producer, message {i}: {e}"));
                }
                Err(e) => panic!("producer, message {i}: {e}"),
            }
        }
        return;
    }
    let mut rx = ByteRing::<Consumer>::create_named(&common::unique_name("be1"), SLOT, 64).expect("create the ring");
    let name = rx.name().to_string();
    let kid = Kid::spawn(TEST, "producer", &[env(VAR_RING, &rx.handle())]);
    let took = consume(&mut rx, E1_MESSAGES, slot_len, "E1 byte messages");
    kid.expect_success();
    eprintln!("E1 byte ring: {E1_MESSAGES} messages of 0..={SLOT} bytes in {took:?}");
    rx.cleanup().expect("cleanup");
    assert!(!common::exists(&name), "the ring was not removed");
}

/// E1 for `write_partial`: the parent writes 10^6 messages of 0 to 3
/// slots, and every 997th of up to 40 slots through a 16-slot ring, so
/// messages wrap around the ring and some are longer than all of it; a
/// consumer child reads each one whole and compares it.
#[test]
fn e1_million_partial_messages_across_slots() {
    const TEST: &str = "e1_million_partial_messages_across_slots";
    if let Some(role) = common::role() {
        assert_eq!(role, "consumer", "unknown role");
        let mut rx = ByteRing::<Consumer>::load_memorybuf(&handle_from(VAR_RING)).expect("consumer attaches");
        consume(&mut rx, E1_MESSAGES, partial_len, "E1 write_partial");
        return;
    }
    let mut tx = ByteRing::create_named(&common::unique_name("bp1"), SLOT, 16).expect("create the ring");
    let name = tx.name().to_string();
    let kid = Kid::spawn(TEST, "consumer", &[env(VAR_RING, &tx.handle())]);
    let start = Instant::now();
    let mut m = Vec::new();
    for i in 0..E1_MESSAGES {
        message(i, partial_len(i), &mut m);
        tx.write_partial(&m, WAIT_LIMIT).unwrap_or_else(|e| panic!("producer, message {i}: {e}"));
    }
    let took = start.elapsed();
    tx.cleanup().expect("cleanup");
    kid.expect_success();
    eprintln!("E1 write_partial: {E1_MESSAGES} messages of up to 40 slots in {took:?}");
    assert!(!common::exists(&name), "the ring was not removed");
}

/// A value of many shapes for the serde test.
#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Reading {
    seq: u64,
    sensor: String,
    values: Vec<f32>,
    status: Option<bool>,
}

impl Reading {
    #[expect(clippy::cast_precision_loss, reason = "test values")]
    fn numbered(i: u64) -> Self {
        let n = usize::try_from(i % 7).expect("small");
        Self {
            seq: i,
            sensor: format!("sensor-{}", mix(i, 3) % 1000),
            values: (0..n).map(|k| (i * 10 + k as u64) as f32).collect(),
            status: (!i.is_multiple_of(3)).then_some(i.is_multiple_of(2)),
        }
    }
}

/// serde values through a ring: a producer child encodes 20,000
/// `Reading`s with `write_serde`; the parent decodes each with
/// `read_serde` and compares it with the one expected.
#[test]
fn serde_values_cross_processes() {
    const TEST: &str = "serde_values_cross_processes";
    const COUNT: u64 = 20_000;
    if let Some(role) = common::role() {
        assert_eq!(role, "producer", "unknown role");
        let mut tx = ByteRing::load_memorybuf(&handle_from(VAR_RING)).expect("producer attaches");
        for i in 0..COUNT {
            tx.write_serde_timeout(&Reading::numbered(i), WAIT_LIMIT).unwrap_or_else(|e| panic!("value {i}: {e}"));
        }
        return;
    }
    let mut rx = ByteRing::<Consumer>::create_named(&common::unique_name("bs1"), 128, 32).expect("create the ring");
    let name = rx.name().to_string();
    let kid = Kid::spawn(TEST, "producer", &[env(VAR_RING, &rx.handle())]);
    for i in 0..COUNT {
        let value = match rx.read_serde::<Reading>() {
            Ok(Some(value)) => value,
            Ok(None) => rx.read_serde_timeout(WAIT_LIMIT).unwrap_or_else(|e| panic!("waiting for value {i}: {e}")),
            Err(e) => panic!("value {i}: {e}"),
        };
        assert_eq!(value, Reading::numbered(i));
    }
    kid.expect_success();
    rx.cleanup().expect("cleanup");
    assert!(!common::exists(&name), "the ring was not removed");
}

/// A producer `SIGKILL`ed while it streams long split messages: every
/// message the consumer returns is whole and in order, the fragments of
/// the one cut by the kill are never returned, and the consumer then gets
/// `PeerDead`.
#[test]
fn e5_producer_killed_mid_partial_message() {
    const TEST: &str = "e5_producer_killed_mid_partial_message";
    let len_of = |i: u64| 5 * SLOT + usize::try_from(i % 50).expect("small");
    if let Some(role) = common::role() {
        assert_eq!(role, "producer", "unknown role");
        let mut tx = ByteRing::load_memorybuf(&handle_from(VAR_RING)).expect("producer attaches");
        let mut m = Vec::new();
        let start = Instant::now();
        // Until killed (bounded, so an orphan stops on its own).
        for i in 0.. {
            message(i, len_of(i), &mut m);
            if tx.write_partial(&m, WAIT_LIMIT).is_err() || start.elapsed() > Duration::from_secs(25) {
                break;
            }
        }
        return;
    }
    let mut rx = ByteRing::<Consumer>::create_named(&common::unique_name("bk1"), SLOT, 8).expect("create the ring");
    let name = rx.name().to_string();
    let kid = Kid::spawn(TEST, "producer", &[env(VAR_RING, &rx.handle())]);
    let (mut got, mut scratch) = (Vec::new(), Vec::new());
    // Read a while, so the producer is in full swing, and stop reading in
    // the middle of a message: the ring fills with part of the next one.
    for i in 0..2000 {
        rx.read_timeout(&mut got, WAIT_LIMIT).unwrap_or_else(|e| panic!("message {i}: {e}"));
        expect_message(&got, i, len_of(i), &mut scratch, "before the kill");
    }
    common::wait_for("the producer to fill the ring", None, || (rx.len() == rx.capacity()).then_some(()));
    let pid = kid.pid_word();
    let status = kid.kill_and_reap();
    assert!(!status.success());
    let mut next = 2000;
    let end = loop {
        match rx.read_timeout(&mut got, WAIT_LIMIT) {
            Ok(()) => {
                expect_message(&got, next, len_of(next), &mut scratch, "after the kill");
                next += 1;
            }
            Err(e) => break e,
        }
    };
    assert!(matches!(end, RingError::PeerDead { role: "producer", pid: p, .. } if p == pid), "{end}");
    assert_eq!(next, 2001, "message 2000 was whole in the full ring, 2001 was cut by the kill");
    assert!(rx.is_empty(), "the cut message's fragments were taken, not returned");
    eprintln!("E5 byte ring: {next} whole messages, then PeerDead");
    rx.cleanup().expect("cleanup");
    assert!(!common::exists(&name), "the ring was not removed");
}
