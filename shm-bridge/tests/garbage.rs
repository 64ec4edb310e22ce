//! Garbage published on the key by a foreign Zenoh publisher: counted,
//! logged and dropped; the receiving bridge keeps running and delivers
//! the real stream whole.

mod common;

use common::{Bridge, assert_clean, check, free_port, message, name, until, until_or};
use shm_bridge::stats::BridgeStats;
use shm_bridge::wire::{BATCH, HEADER_LEN, Header, push_record};
use shm_runtime::{ByteRing, Consumer, ObjectKind, Producer, Shared, SharedObject};
use std::time::Duration;
use zenoh::Wait;
use zenoh::pubsub::Publisher;

/// Real items streamed while the foreign publisher interleaves samples
/// of other fingerprints.
const STREAM: u64 = 10_000;

#[test]
fn garbage_from_a_foreign_publisher_is_counted_and_dropped() {
    let (a, b) = (name("junk-a"), name("junk-b"));
    let (p1, p2) = (free_port(), free_port());
    let (listen_out, listen_in) = (format!("tcp/127.0.0.1:{p1}"), format!("tcp/127.0.0.1:{p2}"));
    let key = format!("shm-test/{}/junk", std::process::id());
    let mut tx = ByteRing::<Producer>::create_named(&a, 64, 256).expect("create ring A");
    let out = Bridge::start("jout", &["out", "--from", &a, "--key", &key, "--listen", &listen_out, "--quiet"]);
    let mut inb = Bridge::start(
        "jin",
        &[
            "in",
            "--key",
            &key,
            "--to",
            &b,
            "--create",
            "256",
            "--connect",
            &listen_out,
            "--listen",
            &listen_in,
            "--quiet",
        ],
    );
    // The foreign publisher: a Zenoh peer of the receiver's.
    let link = shm_bridge::Link { connect: vec![listen_in.clone()], ..Default::default() };
    let session = link.open().expect("a zenoh session");
    let publisher = session.declare_publisher(key.clone()).wait().expect("publisher");
    let stats_name = format!("{b}.bridge-in");
    let logs = || format!("in:\n{}", inb.log());
    let stats = until_or(
        Duration::from_secs(30),
        "the receiver's stats",
        || Shared::<BridgeStats>::open(&stats_name).ok(),
        logs,
    );
    // Wait until the receiver subscribes (it first learns the stream's
    // type from the sending bridge).
    until_or(
        Duration::from_secs(30),
        "the receiver's subscription",
        || publisher.matching_status().wait().ok()?.matching().then_some(()),
        logs,
    );
    let mut forged = vec![0; HEADER_LEN + 8];
    Header { kind: ObjectKind::ByteRing, flags: 0, fingerprint: 0xbad, nonce: 1, start: 0, end: 1 }
        .write_to(&mut forged);
    let mut wrong_version = forged.clone();
    wrong_version[4] = 9;
    // Batches of the stream's own type (its fingerprint) that do not
    // hold together: one cut short inside its second record, one whose
    // records' slots do not add up to its positions.
    let fingerprint = shm_bridge::local::describe(&a).expect("describe A").schema.fingerprint();
    let mut batch = vec![0; HEADER_LEN];
    push_record(&mut batch, b"first", 1).expect("a record");
    push_record(&mut batch, b"second", 1).expect("a record");
    let header = Header { kind: ObjectKind::ByteRing, flags: BATCH, fingerprint, nonce: 1, start: 0, end: 2 };
    header.write_to(&mut batch);
    let truncated = batch[..batch.len() - 3].to_vec();
    let mut miscounted = batch;
    Header { end: 5, ..header }.write_to(&mut miscounted);
    // A sample of another fingerprint is refused where it stands, like
    // the rest.
    let junk: [&[u8]; 7] = [b"hello", &[0xff; 100], &[], &wrong_version, &truncated, &miscounted, &forged];
    for sample in junk {
        publisher.put(sample.to_vec()).wait().expect("put");
    }
    until_or(
        Duration::from_secs(30),
        "seven garbage samples counted",
        || (stats.read().garbage >= 7).then_some(()),
        logs,
    );
    // The real stream still flows, whole.
    let mut rx = until(Duration::from_secs(30), "ring B", || ByteRing::<Consumer>::open(&b).ok());
    let mut got = Vec::new();
    for i in 0..2000 {
        tx.write_timeout(&message(i), Duration::from_secs(30)).expect("write A");
        rx.read_timeout(&mut got, Duration::from_secs(30)).unwrap_or_else(|e| panic!("item {i}: {e}\n{}", logs()));
        assert_eq!(check(&got), Ok(i));
    }
    assert_eq!(stats.read().garbage, 7, "{}", logs());
    // A running stream with foreign fingerprints interleaved, each one
    // new: the receiver keeps its subscription (a subscription set aside
    // even briefly loses the real samples in flight, reported as a gap).
    let tx = stream_among_forgeries(tx, &mut rx, &publisher, &stats, &logs);
    assert!(inb.running());
    drop(stats);
    let log = inb.stop();
    out.stop();
    for why in [
        "5 bytes, shorter than the 40-byte header",
        "is not \"SHMB\"",
        "wire version 9",
        "fingerprint 0x0000000000000bad is not the stream's",
        "a bad batch: a record runs past the end",
        "a bad batch: the records' slots do not add up",
    ] {
        assert!(log.contains(why), "no log line saying {why:?}:\n{log}");
    }
    // Rate-limited: each of the first ten refusals, then one in a thousand.
    assert_eq!(log.matches("dropped a sample").count(), 10, "{log}");
    drop((publisher, session, tx, rx));
    assert_clean(&[&a, &b]);
}

/// Streams items 2000.. of the numbered stream from `tx` to `rx` through
/// the bridges, `publisher` putting a sample of another (each time new)
/// fingerprint every 25 items; every item must arrive, in order, with no
/// gap, and each forged sample be counted as garbage (after the seven
/// before). Returns the producer.
fn stream_among_forgeries(
    mut tx: ByteRing<Producer>,
    rx: &mut ByteRing<Consumer>,
    publisher: &Publisher<'_>,
    stats: &Shared<BridgeStats>,
    logs: &dyn Fn() -> String,
) -> ByteRing<Producer> {
    let mut got = Vec::new();
    let writer = std::thread::spawn(move || {
        for i in 2000..2000 + STREAM {
            tx.write_timeout(&message(i), Duration::from_secs(30)).expect("write A");
        }
        tx
    });
    let mut sent = 0_u64;
    for i in 2000..2000 + STREAM {
        if i % 25 == 0 {
            let mut sample = vec![0; HEADER_LEN + 8];
            let fingerprint = 0xf0e1_0000_0000 + i;
            Header { kind: ObjectKind::ByteRing, flags: 0, fingerprint, nonce: 1, start: i, end: i + 1 }
                .write_to(&mut sample);
            publisher.put(sample).wait().expect("put");
            sent += 1;
        }
        rx.read_timeout(&mut got, Duration::from_secs(30)).unwrap_or_else(|e| panic!("item {i}: {e}\n{}", logs()));
        assert_eq!(check(&got), Ok(i), "{}", logs());
    }
    until_or(
        Duration::from_secs(30),
        "the interleaved foreign samples and the real items counted",
        || {
            let now = stats.read();
            (now.garbage >= 7 + sent && now.messages >= 2000 + STREAM).then_some(())
        },
        logs,
    );
    let counters = stats.read();
    assert_eq!((counters.garbage, counters.gaps, counters.lost), (7 + sent, 0, 0), "{}", logs());
    assert_eq!(counters.messages, 2000 + STREAM, "{}", logs());
    writer.join().expect("the writer")
}
