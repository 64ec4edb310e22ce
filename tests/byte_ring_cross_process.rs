//! Cross-process tests of `ByteRing`: byte messages of random lengths
//! between a producer and a consumer in two processes, one slot at a time
//! and split over slots with `write_partial`, serde values, a producer
//! killed in the middle of a split message, and (H7) a producer or a
//! consumer killed at each fragment boundary of a split message and
//! another attaching in its place.
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
use shm_runtime::{ByteRing, Consumer, Ring, RingError, SendError, SharedInt, SharedObject};
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

/// Environment variable naming how many fragments the first producer of
/// an H7 test publishes.
const VAR_CUT: &str = "SHM_BYTE_RING_TEST_CUT";
/// Environment variable with the handle of the `SharedInt` through which
/// a child tells the parent how far it got.
const VAR_STAGE: &str = "SHM_BYTE_RING_TEST_STAGE";

/// Slots of the message an H7 test cuts.
const H7_FRAGMENTS: usize = 5;
/// Length of that message (number 100): five slots, the last one in part.
const H7_LEN: usize = H7_FRAGMENTS * SLOT - 3;
/// The messages the end that attaches after the kill writes or reads:
/// (number, length), one slot and then three.
const H7_NEXT: [(u64, usize); 2] = [(200, 5), (201, 2 * SLOT + 7)];

/// Reads the next message (bounded wait) and checks it is message `i` of
/// `len` bytes.
fn expect_next(rx: &mut ByteRing<Consumer>, i: u64, len: usize, what: &str) {
    let (mut got, mut scratch) = (Vec::new(), Vec::new());
    rx.read_timeout(&mut got, WAIT_LIMIT).unwrap_or_else(|e| panic!("{what}: waiting for message {i}: {e}"));
    expect_message(&got, i, len, &mut scratch, what);
}

/// H7, producer side: a producer child is `SIGKILL`ed after it published
/// 1, 2, 3, 4 or all 5 fragments of a 5-slot message, then a new producer
/// child attaches and writes two messages. The consumer (the parent)
/// returns what came before whole, the cut message never (or whole, when
/// all its fragments were out), and the new messages whole: never a splice
/// of the cut message and the next one. Each cut is run twice: the
/// consumer takes the cut fragments before the new producer comes (and
/// gets `PeerDead`), or only after it wrote.
///
/// The first producer stops at a known point: it fills the ring but for
/// `cut` slots, so `write_partial` publishes exactly `cut` fragments and
/// then waits for room, which only the parent could make; the parent
/// waits until the ring is full and kills it.
#[test]
fn h7_producer_killed_at_each_fragment_boundary() {
    const TEST: &str = "h7_producer_killed_at_each_fragment_boundary";
    const CAPACITY: usize = 8;
    if let Some(role) = common::role() {
        let mut tx = ByteRing::load_memorybuf(&handle_from(VAR_RING)).expect("producer attaches");
        let mut m = Vec::new();
        match role.as_str() {
            "first producer" => {
                let cut: usize = std::env::var(VAR_CUT).expect("cut").parse().expect("a number");
                for i in 0..CAPACITY - cut {
                    message(i as u64, slot_len(i as u64), &mut m);
                    tx.write(&m).expect("room for the fillers");
                }
                message(100, H7_LEN, &mut m);
                let sent = tx.write_partial(&m, WAIT_LIMIT);
                assert!(sent.is_ok() || cut < H7_FRAGMENTS, "{sent:?}");
                // Killed here (bounded, so an orphan stops on its own).
                std::thread::sleep(WAIT_LIMIT);
            }
            "second producer" => {
                for (i, len) in H7_NEXT {
                    message(i, len, &mut m);
                    tx.write_partial(&m, WAIT_LIMIT).unwrap_or_else(|e| panic!("second producer, message {i}: {e}"));
                }
            }
            other => panic!("unknown role {other}"),
        }
        return;
    }
    for cut in 1..=H7_FRAGMENTS {
        for taken_before in [true, false] {
            let what = &format!(
                "producer killed after {cut} of {H7_FRAGMENTS} fragments, {} taken before the next producer came",
                if taken_before { "they were" } else { "none" }
            );
            let mut rx = ByteRing::<Consumer>::create_named(&common::unique_name("bh7p"), SLOT, CAPACITY)
                .expect("create the ring");
            let name = rx.name().to_string();
            let ring = env(VAR_RING, &rx.handle());
            let mut first = Kid::spawn(TEST, "first producer", &[ring.clone(), (VAR_CUT, cut.to_string())]);
            common::wait_for("the first producer to fill the ring", Some(&mut first), || {
                (rx.len() == rx.capacity()).then_some(())
            });
            let pid = first.pid_word();
            assert!(!first.kill_and_reap().success(), "{what}: the first producer was not killed");
            // Everything published before the kill, whole: the fillers,
            // and the message only if all of it was out.
            let published_before = |rx: &mut ByteRing<Consumer>| {
                for i in 0..(CAPACITY - cut) as u64 {
                    expect_next(rx, i, slot_len(i), what);
                }
                if cut == H7_FRAGMENTS {
                    expect_next(rx, 100, H7_LEN, what);
                }
            };
            if taken_before {
                published_before(&mut rx);
                let end = rx.read_timeout(&mut Vec::new(), WAIT_LIMIT);
                let dead = matches!(end, Err(RingError::PeerDead { role: "producer", pid: p, .. }) if p == pid);
                assert!(dead, "{what}: after the fragments: {end:?}");
            }
            let mut second = Kid::spawn(TEST, "second producer", &[ring]);
            // Attached (alive), or done already and let go.
            common::wait_for("the second producer to attach", Some(&mut second), || {
                (rx.peer_alive() != Some(false)).then_some(())
            });
            if !taken_before {
                published_before(&mut rx);
            }
            for (i, len) in H7_NEXT {
                expect_next(&mut rx, i, len, what);
            }
            let end = rx.read_timeout(&mut Vec::new(), WAIT_LIMIT);
            assert!(matches!(end, Err(RingError::Closed { role: "producer", .. })), "{what}: at the end: {end:?}");
            second.expect_success();
            rx.cleanup().expect("cleanup");
            assert!(!common::exists(&name), "{what}: the ring was not removed");
        }
    }
}

/// H7, consumer side: a consumer child takes the first 1, 2, 3 or 4
/// fragments of a 5-slot message (one `read`, which releases them and
/// returns no message) and is `SIGKILL`ed; a new consumer child attaches
/// at the next fragment. It never returns the rest of the cut message as
/// a message, and returns the next two messages whole.
///
/// The first consumer stops at a known point and then tells the parent
/// through a `SharedInt` and waits to be killed. Two ways:
///
/// - holding the fragments: the ring has as many slots as it is to take,
///   and it reads once the producer (a thread of the parent, in
///   `write_partial`) has filled them. The producer goes on as slots free
///   up; it may find the consumer dead with the ring full and give the
///   message up (the next message then starts with an ABORT slot);
/// - having dropped them: the whole stream is in the ring before it
///   reads, and its message limit makes its `read` stop with `TooLarge`
///   after exactly those fragments. The rest of the message follows with
///   no ABORT slot, so only its continuation marks keep the new consumer
///   from returning it.
#[test]
fn h7_consumer_killed_at_each_fragment_boundary() {
    const TEST: &str = "h7_consumer_killed_at_each_fragment_boundary";
    /// The first consumer's message limit, if it is to drop the fragments.
    const VAR_LIMIT: &str = "SHM_BYTE_RING_TEST_LIMIT";
    if let Some(role) = common::role() {
        let stage = SharedInt::load_sharedobject(&handle_from(VAR_STAGE)).expect("child opens the stage");
        let mut rx = ByteRing::<Consumer>::load_memorybuf(&handle_from(VAR_RING)).expect("consumer attaches");
        let mut got = Vec::new();
        match role.as_str() {
            "first consumer" => {
                common::wait_for("the producer to fill the ring", None, || (rx.len() == rx.capacity()).then_some(()));
                if let Ok(limit) = std::env::var(VAR_LIMIT) {
                    let limit: usize = limit.parse().expect("a number");
                    rx.set_max_message_len(limit);
                    let read = rx.read(&mut got);
                    assert!(matches!(read, Err(RingError::TooLarge { len, .. }) if len == limit + 1), "{read:?}");
                } else {
                    let whole = rx.read(&mut got).expect("read");
                    assert!(!whole, "the first fragments came back as a message of {} bytes", got.len());
                }
                stage.write(1);
                // Killed here (bounded, so an orphan stops on its own).
                std::thread::sleep(WAIT_LIMIT);
            }
            "second consumer" => {
                stage.write(2);
                for (i, len) in H7_NEXT {
                    expect_next(&mut rx, i, len, "the consumer that came after the kill");
                }
                let end = rx.read_timeout(&mut got, WAIT_LIMIT);
                assert!(matches!(end, Err(RingError::Closed { role: "producer", .. })), "at the end: {end:?}");
            }
            other => panic!("unknown role {other}"),
        }
        return;
    }
    for taken in 1..H7_FRAGMENTS {
        for holding in [true, false] {
            let what = &format!(
                "consumer killed after {taken} of {H7_FRAGMENTS} fragments, {}",
                if holding { "holding them" } else { "having dropped them" }
            );
            // Holding: room for the fragments to take. Dropped: for the
            // whole stream (five slots, then one and three).
            let capacity = if holding { taken } else { H7_FRAGMENTS + 4 };
            let mut tx = ByteRing::create_named(&common::unique_name("bh7c"), SLOT, capacity).expect("create the ring");
            let name = tx.name().to_string();
            let stage = SharedInt::create_sharedobject(0).expect("create the stage");
            let mut envs = vec![env(VAR_RING, &tx.handle()), env(VAR_STAGE, &stage.handle())];
            let mut m = Vec::new();
            if !holding {
                for (i, len) in [(100, H7_LEN)].into_iter().chain(H7_NEXT) {
                    message(i, len, &mut m);
                    tx.write_partial(&m, Duration::ZERO).expect("room for the stream");
                }
                envs.push((VAR_LIMIT, (taken * SLOT - 1).to_string()));
            }
            let mut first = Kid::spawn(TEST, "first consumer", &envs);
            envs.truncate(2);
            let (go, attached) = std::sync::mpsc::channel::<()>();
            let second = std::thread::scope(|s| {
                let producer = holding.then(|| {
                    let tx = &mut tx;
                    s.spawn(move || {
                        let mut m = Vec::new();
                        message(100, H7_LEN, &mut m);
                        // Publishes `taken` fragments, then more as the
                        // first consumer frees their slots; ends when the
                        // second consumer has read enough, or when it
                        // finds the first one dead with the ring full.
                        let cut = tx.write_partial(&m, WAIT_LIMIT);
                        let ok = matches!(cut, Ok(()) | Err(RingError::PeerDead { role: "consumer", .. }));
                        assert!(ok, "{what}: the cut message: {cut:?}");
                        attached.recv_timeout(WAIT_LIMIT).expect("the second consumer attached");
                        for (i, len) in H7_NEXT {
                            message(i, len, &mut m);
                            tx.write_partial(&m, WAIT_LIMIT).unwrap_or_else(|e| panic!("{what}: message {i}: {e}"));
                        }
                    })
                });
                common::wait_for("the first consumer to take the fragments", Some(&mut first), || {
                    (stage.read() == 1).then_some(())
                });
                assert!(!first.kill_and_reap().success(), "{what}: the first consumer was not killed");
                let mut second = Kid::spawn(TEST, "second consumer", &envs);
                common::wait_for("the second consumer to attach", Some(&mut second), || {
                    (stage.read() == 2).then_some(())
                });
                if let Some(producer) = producer {
                    go.send(()).expect("the producer waits");
                    producer.join().expect("the producer thread");
                }
                second
            });
            // Let go, so the second consumer sees `Closed` after the
            // messages.
            tx.cleanup().expect("cleanup");
            second.expect_success();
            stage.cleanup().expect("cleanup");
            assert!(!common::exists(&name), "{what}: the ring was not removed");
        }
    }
}
