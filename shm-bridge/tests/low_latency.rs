//! The low-latency link (`--low-latency` on both bridges, one from the
//! command line, one from a configuration file): a byte ring carried
//! across two bridge processes (loopback), small items batched and items
//! as large as the link allows, every item checked; a source whose items
//! cannot fit in one low-latency message refused at start, naming the
//! sizes; batches kept within one low-latency message (the sent samples
//! themselves checked by a Zenoh subscriber of this test's own).

mod common;

use common::{Bridge, assert_clean, check, free_port, message, name, until_or};
use shm_bridge::link::low_latency_sample_max;
use shm_bridge::wire::{BATCH, HEADER_LEN, Header, Items};
use shm_runtime::{ByteRing, Consumer, Producer, SharedObject};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zenoh::Wait;

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

/// Items of 8 and 16 KB waiting in the ring go out batched, every sample
/// within one low-latency message. (Over loopback the link's batch is
/// 49,152 bytes, which a batch without the limit would not reach either:
/// the samples themselves are looked at here.)
#[test]
fn batches_stay_within_one_low_latency_message() {
    const COUNT: u64 = 2_000;
    let a = name("ll-batch");
    let port = free_port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let key = format!("shm-test/{}/ll-batch", std::process::id());
    let max = low_latency_sample_max(&key);
    // Two items of 8,000 bytes make a sample of 16,056 (under the 16 KiB
    // at which a batch stops taking items), and a third of 16,000 would
    // take it to 32,064, past the limit on this key (31,913 bytes).
    let size = |i: u64| if i % 3 == 2 { 16_000 } else { 8_000 };
    let mut tx = ByteRing::<Producer>::create_named(&a, 16_384, 256).expect("create ring A");
    // Items wait in the ring until a subscriber matches: batches form.
    for i in 0..200 {
        tx.write_timeout(&vec![u8::try_from(i % 251).expect("small"); size(i)], Duration::from_secs(5))
            .expect("ring A has room");
    }
    let out = Bridge::start(
        "llbatch",
        &["out", "--from", &a, "--key", &key, "--listen", &listen, "--low-latency", "--quiet"],
    );
    let session = shm_bridge::Link { connect: vec![listen.clone()], low_latency: true, ..Default::default() }
        .open()
        .expect("a zenoh session");
    // (sample length, items in it, a batch, every item as sent)
    let samples = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&samples);
    let _subscriber = session
        .declare_subscriber(key.clone())
        .callback(move |sample| {
            let bytes = sample.payload().to_bytes();
            let mut entry = (bytes.len(), 0_u64, false, true);
            if let Ok((header, payload)) = Header::parse(&bytes) {
                entry.2 = header.flags & BATCH != 0;
                for (start, _, item) in Items::new(&header, payload).expect("a whole sample") {
                    entry.1 += 1;
                    let byte = u8::try_from(start % 251).expect("small");
                    entry.3 &= item.len() == size(start) && item.iter().all(|&b| b == byte);
                }
            }
            seen.lock().expect("lock").push(entry);
        })
        .wait()
        .expect("a subscriber");
    for i in 200..COUNT {
        tx.write_timeout(&vec![u8::try_from(i % 251).expect("small"); size(i)], Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("item {i}: {e}\n{}", out.log()));
    }
    let logs = || out.log();
    until_or(
        Duration::from_secs(30),
        "every item",
        || (samples.lock().expect("lock").iter().map(|s| s.1).sum::<u64>() >= COUNT).then_some(()),
        logs,
    );
    let samples = samples.lock().expect("lock").clone();
    assert_eq!(samples.iter().map(|s| s.1).sum::<u64>(), COUNT);
    assert!(samples.iter().all(|s| s.3), "an item arrived changed");
    let longest = samples.iter().map(|s| s.0).max().expect("samples");
    assert!(longest <= max, "a sample of {longest} bytes, above {max}");
    let batches = samples.iter().filter(|s| s.2 && s.1 > 1).count();
    assert!(batches > 0, "no batch of several items among {} samples", samples.len());
    assert!(out.stop().is_empty());
    drop(tx);
    assert_clean(&[&a]);
}
