//! A broadcast carried across two bridge processes to two subscribers on
//! the far side, every item checked by both.

mod common;

use common::{Bridge, assert_clean, free_port, name, until_or};
use shm_runtime::{Broadcast, BroadcastConfig, Policy, SharedObject, SharedState, Subscriber};
use std::time::Duration;

const N: u64 = 20_000;

#[derive(SharedState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
struct Tick {
    seq: u64,
    square: u64,
}

#[test]
fn broadcast_reaches_two_remote_subscribers() {
    let (a, b) = (name("bc-a"), name("bc-b"));
    let port = free_port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let key = format!("shm-test/{}/broadcast", std::process::id());
    let mut publisher =
        Broadcast::<Tick>::create_named(&a, &BroadcastConfig::new(256, Policy::Backpressure)).expect("create A");
    let out = Bridge::start("bout", &["out", "--from", &a, "--key", &key, "--listen", &listen, "--quiet"]);
    let inb =
        Bridge::start("bin", &["in", "--key", &key, "--to", &b, "--create", "256", "--connect", &listen, "--quiet"]);
    let logs = || format!("out:\n{}\nin:\n{}", out.log(), inb.log());
    // The far side's broadcast is made when the receiver learns the type,
    // before any item: both subscribers see every item.
    let subscribers: Vec<Subscriber<Tick>> = (0..2)
        .map(|_| until_or(Duration::from_secs(30), "broadcast B", || Subscriber::<Tick>::open(&b).ok(), logs))
        .collect();
    // The sending bridge subscribed to A when it started.
    until_or(
        Duration::from_secs(30),
        "the bridge's subscription",
        || (publisher.subscriber_count() == 1).then_some(()),
        logs,
    );
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                for i in 0..N {
                    let got = s.read_timeout(Duration::from_secs(30)).unwrap_or_else(|e| panic!("item {i}: {e}"));
                    assert_eq!(got, Tick { seq: i, square: i * i });
                }
                s
            })
        })
        .collect();
    for i in 0..N {
        publisher.publish_timeout(&Tick { seq: i, square: i * i }, Duration::from_secs(30)).expect("publish");
    }
    let subscribers: Vec<_> = readers.into_iter().map(|r| r.join().expect("a subscriber")).collect();
    out.stop();
    inb.stop();
    drop((publisher, subscribers));
    assert_clean(&[&a, &b]);
}
