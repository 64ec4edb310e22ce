//! A byte ring carried across two bridge processes (loopback), every
//! item checked; the same for a ring of a derived type created on the far
//! side from the stream's own description.

mod common;

use common::{Bridge, assert_clean, check, free_port, message, name, until_or};
use shm_runtime::{ByteRing, Consumer, MemoryInterface, Producer, SharedObject, SharedState};
use std::time::Duration;

const ITEMS: u64 = 100_000;
const N: u64 = 20_000;

#[test]
fn byte_ring_a_to_b_every_item_checked() {
    let (a, b) = (name("ring-a"), name("ring-b"));
    let port = free_port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let key = format!("shm-test/{}/ring", std::process::id());
    let mut tx = ByteRing::<Producer>::create_named(&a, 64, 1024).expect("create ring A");
    let out = Bridge::start("out", &["out", "--from", &a, "--key", &key, "--listen", &listen, "--quiet"]);
    let inb =
        Bridge::start("in", &["in", "--key", &key, "--to", &b, "--create", "1024", "--connect", &listen, "--quiet"]);
    let producer = std::thread::spawn(move || {
        for i in 0..ITEMS {
            tx.write_timeout(&message(i), Duration::from_secs(30)).expect("ring A takes every item");
        }
        tx
    });
    // Ring B appears when the first item arrives.
    let logs = || format!("out:\n{}\nin:\n{}", out.log(), inb.log());
    let mut rx = until_or(Duration::from_secs(30), "ring B", || ByteRing::<Consumer>::open(&b).ok(), logs);
    let mut got = Vec::new();
    for expected in 0..ITEMS {
        rx.read_timeout(&mut got, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("item {expected}: {e}\n{}", inb.log()));
        assert_eq!(check(&got), Ok(expected), "item {expected} out of order or corrupt");
    }
    let tx = producer.join().expect("producer");
    let (out_log, in_log) = (out.stop(), inb.stop());
    assert!(!in_log.contains("gap") && !in_log.contains("dropped"), "{in_log}");
    assert!(out_log.is_empty(), "{out_log}");
    drop((tx, rx));
    assert_clean(&[&a, &b]);
}

/// A derived type, carried by its schema (the far side creates its ring
/// from the description it queries).
#[derive(SharedState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
struct Sample {
    seq: u64,
    value: f64,
    check: [u32; 4],
}

fn sample(i: u64) -> Sample {
    #[expect(clippy::cast_possible_truncation, reason = "the low half, a check")]
    let c = i as u32;
    #[expect(clippy::cast_precision_loss, reason = "small numbers")]
    Sample { seq: i, value: i as f64 * 0.5, check: [c, !c, c ^ 0xa5a5_a5a5, c.rotate_left(7)] }
}

#[test]
fn typed_ring_created_on_the_far_side_from_the_schema() {
    let (a, b) = (name("typed-a"), name("typed-b"));
    let port = free_port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let key = format!("shm-test/{}/typed", std::process::id());
    let mut tx = MemoryInterface::<Sample>::create_named(&a, 256).expect("create ring A");
    let out = Bridge::start("tout", &["out", "--from", &a, "--key", &key, "--listen", &listen, "--quiet"]);
    let inb =
        Bridge::start("tin", &["in", "--key", &key, "--to", &b, "--create", "256", "--connect", &listen, "--quiet"]);
    let producer = std::thread::spawn(move || {
        for i in 0..N {
            tx.write_timeout(&sample(i), Duration::from_secs(30)).expect("ring A takes every item");
        }
        tx
    });
    // Opened as the typed ring: the far side's schema is this type's.
    let logs = || format!("out:\n{}\nin:\n{}", out.log(), inb.log());
    let mut rx =
        until_or(Duration::from_secs(30), "ring B", || MemoryInterface::<Sample, Consumer>::open(&b).ok(), logs);
    for i in 0..N {
        let got = rx.read_timeout(Duration::from_secs(30)).unwrap_or_else(|e| panic!("item {i}: {e}\n{}", inb.log()));
        assert_eq!(got, sample(i));
    }
    let tx = producer.join().expect("producer");
    out.stop();
    inb.stop();
    drop((tx, rx));
    assert_clean(&[&a, &b]);
}
