//! Either bridge killed (SIGKILL) and restarted mid-stream: every item
//! that arrives is whole, none arrives twice, and every item that does
//! not arrive lies in a gap the receiver reported.

mod common;

use common::{Bridge, assert_clean, check, free_port, message, name, until_or};
use shm_runtime::{ByteRing, Consumer, Producer, RingError, SharedObject};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const N: u64 = 30_000;

/// The `[from, to)` ranges of the gap lines in a receiver's log.
fn gaps(log: &str) -> Vec<(u64, u64)> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split("gap: the source's slots ").nth(1)?;
            let range = rest.split_whitespace().next()?;
            let (a, b) = range.split_once("..")?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

#[test]
fn kill_and_restart_either_bridge_mid_stream() {
    let (a, b) = (name("kill-a"), name("kill-b"));
    let port = free_port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let key = format!("shm-test/{}/kill", std::process::id());
    let out_args = ["out", "--from", &a, "--key", &key, "--listen", &listen, "--quiet"];
    let in_args = ["in", "--key", &key, "--to", &b, "--create", "512", "--connect", &listen, "--quiet"];
    let mut tx = ByteRing::<Producer>::create_named(&a, 64, 512).expect("create ring A");
    let mut out = Bridge::start("kout", &out_args);
    let mut inb = Bridge::start("kin", &in_args);
    let logs = || String::new();
    let mut rx = until_or(Duration::from_secs(30), "ring B", || ByteRing::<Consumer>::open(&b).ok(), logs);
    // The producer paces itself (about 10,000 items a second) so that
    // the kills land mid-stream.
    let producer = std::thread::spawn(move || {
        for i in 0..N {
            tx.write_timeout(&message(i), Duration::from_secs(60)).expect("ring A takes every item");
            if i % 50 == 49 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        tx
    });
    let newest = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&newest);
    let consumer = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        while got.last() != Some(&(N - 1)) && Instant::now() < deadline {
            match rx.read_timeout(&mut buf, Duration::from_millis(100)) {
                Ok(()) => {
                    let i = check(&buf).unwrap_or_else(|e| panic!("{e}"));
                    assert!(
                        got.last().is_none_or(|&l| i > l),
                        "item {i} after {:?}: a duplicate or out of order",
                        got.last()
                    );
                    got.push(i);
                    seen.store(i, Ordering::Relaxed);
                }
                // The receiving bridge was killed: a new one attaches.
                Err(RingError::Timeout { .. } | RingError::PeerDead { .. }) => {}
                Err(e) => panic!("ring B: {e}"),
            }
        }
        (got, rx)
    });
    let wait_for = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while newest.load(Ordering::Relaxed) < n {
            assert!(Instant::now() < deadline, "the stream stopped before item {n}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let mut in_logs = String::new();
    wait_for(N / 4);
    out.kill();
    out = Bridge::start("kout2", &out_args);
    wait_for(N / 2);
    in_logs += &inb.kill();
    inb = Bridge::start("kin2", &in_args);
    wait_for(3 * N / 4);
    let (got, rx) = consumer.join().expect("consumer");
    let tx = producer.join().expect("producer");
    assert!(out.running() && inb.running());
    out.stop();
    in_logs += &inb.stop();
    assert_eq!(got.last(), Some(&(N - 1)), "the stream did not reach its end\n{in_logs}");
    // Every missing item lies in a reported gap (positions are item
    // numbers: one slot per message, from 0).
    let reported = gaps(&in_logs);
    let mut have = got.iter().peekable();
    let mut missing = 0;
    for i in 0..N {
        if have.peek() == Some(&&i) {
            have.next();
            continue;
        }
        missing += 1;
        assert!(reported.iter().any(|&(a, b)| (a..b).contains(&i)), "item {i} lost without a report\n{in_logs}");
    }
    eprintln!("{missing} items lost, in the gaps {reported:?}");
    drop((tx, rx));
    assert_clean(&[&a, &b]);
}
