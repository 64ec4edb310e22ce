//! The low-latency link (`--low-latency` on both bridges, one from the
//! command line, one from a configuration file): a byte ring carried
//! across two bridge processes (loopback), small items batched and items
//! as large as the link allows, every item checked; a source whose items
//! cannot fit in one low-latency message refused at start, naming the
//! sizes.

mod common;

use common::{Bridge, assert_clean, check, free_port, message, name, until_or};
use shm_bridge::link::low_latency_sample_max;
use shm_bridge::wire::HEADER_LEN;
use shm_runtime::{ByteRing, Consumer, Producer, SharedObject};
use std::time::Duration;

const ITEMS: u64 = 20_000;

/// Item `i`: mostly a small numbered message; every 50th one fills the
/// slot (or nearly: one or two bytes short), with filler derived from the
/// number.
fn item(i: u64, slot: usize) -> Vec<u8> {
    if i % 50 != 7 {
        return message(i);
    }
    let len = slot - usize::try_from(i % 3).expect("small");
    let mut m = i.to_le_bytes().to_vec();
    m.extend((8..len).map(|k| (i.wrapping_mul(31).wrapping_add(k as u64) % 251) as u8));
    m
}

fn check_item(m: &[u8], slot: usize) -> Result<u64, String> {
    let i = u64::from_le_bytes(m.get(0..8).ok_or("shorter than 8 bytes")?.try_into().expect("8"));
    if i % 50 != 7 {
        return check(m);
    }
    if item(i, slot) == m { Ok(i) } else { Err(format!("large item {i} ({} bytes) is corrupt", m.len())) }
}

#[test]
fn low_latency_ring_every_item_checked() {
    let (a, b) = (name("ll-a"), name("ll-b"));
    let port = free_port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let key = format!("shm-test/{}/ll", std::process::id());
    // The largest item a low-latency sample on this key holds.
    let slot = low_latency_sample_max(&key) - HEADER_LEN;
    let mut tx = ByteRing::<Producer>::create_named(&a, slot, 256).expect("create ring A");
    let out =
        Bridge::start("llout", &["out", "--from", &a, "--key", &key, "--listen", &listen, "--low-latency", "--quiet"]);
    // The far side's link option from a configuration file.
    let config = std::env::temp_dir().join(format!("shm-bridge-test-{}-ll.conf", std::process::id()));
    std::fs::write(&config, format!("--connect {listen}\n--low-latency\nin --key {key} --to {b} --create 256\n"))
        .expect("write the config");
    let inb = Bridge::start("llin", &["--config", config.to_str().expect("utf-8"), "--quiet"]);
    let producer = std::thread::spawn(move || {
        for i in 0..ITEMS {
            tx.write_timeout(&item(i, slot), Duration::from_secs(30)).expect("ring A takes every item");
        }
        tx
    });
    let logs = || format!("out:\n{}\nin:\n{}", out.log(), inb.log());
    let mut rx = until_or(Duration::from_secs(30), "ring B", || ByteRing::<Consumer>::open(&b).ok(), logs);
    let _ = std::fs::remove_file(&config);
    let mut got = Vec::new();
    for expected in 0..ITEMS {
        rx.read_timeout(&mut got, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("item {expected}: {e}\nout:\n{}\nin:\n{}", out.log(), inb.log()));
        assert_eq!(check_item(&got, slot), Ok(expected), "item {expected} out of order or corrupt");
    }
    let tx = producer.join().expect("producer");
    let (out_log, in_log) = (out.stop(), inb.stop());
    assert!(!in_log.contains("gap") && !in_log.contains("dropped"), "{in_log}");
    assert!(out_log.is_empty(), "{out_log}");
    drop((tx, rx));
    assert_clean(&[&a, &b]);
}

#[test]
fn items_too_large_for_a_low_latency_message_are_refused() {
    let port = free_port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let key = format!("shm-test/{}/ll-large", std::process::id());
    let item_max = low_latency_sample_max(&key) - HEADER_LEN;
    for (tag, slot) in [("big", 65_536), ("one-over", item_max + 1)] {
        let a = name(&format!("ll-{tag}"));
        let tx = ByteRing::<Producer>::create_named(&a, slot, 4).expect("create ring A");
        let out = Bridge::start(tag, &["out", "--from", &a, "--key", &key, "--listen", &listen, "--low-latency"]);
        let (status, log) = out.wait_exit(Duration::from_secs(30));
        assert!(!status.success(), "{log}");
        let want = format!(
            "items of up to {slot} bytes (the source's slot size) cannot go over a low-latency link: Zenoh sends each \
             sample there as one message of at most 32000 bytes, which leaves {item_max} bytes for an item on this \
             key; carry this stream on a bridge without --low-latency"
        );
        assert!(log.contains(&want), "{log}");
        assert!(log.contains(&format!("out {a} -> {key}")), "{log}");
        drop(tx);
        assert_clean(&[&a]);
    }
}
