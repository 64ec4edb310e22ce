//! Cross-process tests of the broadcast: one publisher, several
//! subscriber processes, under both policies; subscribers that join and
//! leave during a stream, that are killed, or that scribble over their
//! table entry; and a publisher that is killed.
//!
//! As in `ring_cross_process.rs`, the test binary re-runs itself in a role
//! (see `common::spawn_role`): every test checks `common::role()` first
//! and, in a child, plays that role and returns (a panic is a nonzero exit
//! status). Every wait is time-boxed: children read with
//! `read_timeout(WAIT_LIMIT)`, the publisher writes with
//! `publish_timeout(WAIT_LIMIT)`, and a child the parent has not waited
//! for is killed and reaped when the parent fails. Every test checks that
//! its broadcast is gone from /dev/shm at the end.
//!
//! The stream tests send `SHM_BCAST_ITEMS` items to four subscribers:
//! by default 10^6 in an optimized build (`cargo test --release`), 250,000
//! in a debug build.

mod common;

use common::{Kid, RemoveOnDrop, WAIT_LIMIT, env, exists, handle_from, shm_path, unique_name, wait_for};

use shm_runtime::{
    Broadcast, BroadcastConfig, Handle, OpenError, PeerState, Policy, RecvError, SharedObject, SharedState, Subscriber,
};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

const VAR_HANDLE: &str = "SHM_BCAST_TEST_HANDLE";
const VAR_NAME: &str = "SHM_BCAST_TEST_NAME";
const VAR_ITEMS: &str = "SHM_BCAST_TEST_ITEMS";
const VAR_POLICY: &str = "SHM_BCAST_TEST_POLICY";
const VAR_SLOW: &str = "SHM_BCAST_TEST_SLOW";

/// Byte offset of the payload in a segment file (FORMAT.md).
const PAYLOAD_OFFSET: u64 = 128;
// Word indexes inside a broadcast's payload (FORMAT.md).
const TAIL_WORD: u64 = 8;
const TABLE_WORD: u64 = 32;
const ENTRY_WORDS: u64 = 8;
/// Slots of the scribble test's broadcast.
const CAPACITY: u64 = 128;
/// [`CAPACITY`] as the configuration takes it.
const CAPACITY_SLOTS: usize = 128;

/// A 64-byte item: its number, words made from it, and a checksum.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Frame {
    seq: u64,
    words: [u64; 6],
    check: u64,
}

const fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Frame {
    fn numbered(seq: u64) -> Self {
        let mut words = [0; 6];
        for (i, w) in words.iter_mut().enumerate() {
            *w = mix(seq, i as u64 + 1);
        }
        let mut frame = Self { seq, words, check: 0 };
        frame.check = frame.checksum();
        frame
    }

    fn checksum(&self) -> u64 {
        self.words.iter().fold(mix(self.seq, 99), |acc, w| mix(acc ^ w, 7))
    }

    /// Panics unless the frame is whole and is item `seq`.
    fn assert_whole(&self) {
        assert_eq!(self.check, self.checksum(), "torn frame {self:?}");
        assert_eq!(*self, Self::numbered(self.seq), "frame {} holds another item's words", self.seq);
    }
}

/// Items of the stream test: `SHM_BCAST_ITEMS`, or 10^6 in an optimized
/// build and 250,000 in a debug build (where 10^6 items to four
/// subscribers take some 40 s on a loaded two-core machine).
fn items() -> u64 {
    let default = if cfg!(debug_assertions) { 250_000 } else { 1_000_000 };
    std::env::var("SHM_BCAST_ITEMS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn policy_var(policy: Policy) -> (&'static str, String) {
    (VAR_POLICY, if policy == Policy::Overwrite { "overwrite".into() } else { "backpressure".into() })
}

fn policy_from_env() -> Policy {
    if std::env::var(VAR_POLICY).is_ok_and(|p| p == "overwrite") { Policy::Overwrite } else { Policy::Backpressure }
}

/// What a checking subscriber saw.
#[derive(Debug, Default)]
struct Tally {
    seen: u64,
    missed: u64,
    /// The number of the item this subscriber started at (known from the
    /// first item it read).
    base: Option<u64>,
}

impl Tally {
    /// Checks `frame` as the next item (after the `missed` reported):
    /// whole, and numbered `base + seen + missed` (under backpressure
    /// nothing is missed, so that is: nothing lost, duplicated or
    /// reordered).
    fn take(&mut self, frame: &Frame, policy: Policy) {
        frame.assert_whole();
        let base = *self.base.get_or_insert(frame.seq - (self.seen + self.missed));
        assert_eq!(frame.seq, base + self.seen + self.missed, "an item was lost, duplicated or reordered ({policy:?})");
        self.seen += 1;
    }

    /// The next item number expected.
    fn next(&self) -> u64 {
        self.base.unwrap_or(0) + self.seen + self.missed
    }
}

/// Reads until the publisher lets go, checking every item; returns the
/// tally. `slow`: sleeps a little now and then.
fn read_all(rx: &mut Subscriber<Frame>, policy: Policy, slow: bool) -> (Tally, RecvError) {
    let mut tally = Tally::default();
    loop {
        match rx.read_timeout(WAIT_LIMIT) {
            Ok(frame) => {
                tally.take(&frame, policy);
                if slow && tally.seen % 4096 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Err(RecvError::Lagged(n)) => {
                assert_eq!(policy, Policy::Overwrite, "a lag under backpressure");
                tally.missed += n;
            }
            Err(end) => return (tally, end),
        }
    }
}

/// A publisher, its broadcast's name, and children subscribed to it.
fn publisher(policy: Policy, capacity: usize) -> (Broadcast<Frame>, String) {
    let tx = Broadcast::<Frame>::create(&BroadcastConfig::new(capacity, policy)).unwrap();
    let name = tx.name().as_str().to_owned();
    (tx, name)
}

/// Waits until `n` subscribers have joined (their read positions set).
fn await_subscribers(tx: &Broadcast<Frame>, n: usize) {
    wait_for("the subscribers to join", None, || (tx.subscriber_lags().len() == n).then_some(()));
}

// ---------------------------------------------------------------------------
// 10^6 items to four subscribers

/// Child: subscribes, reads every item until the publisher lets go, and
/// checks that items seen plus items missed are the items published.
#[test]
fn checking_subscriber() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "subscriber");
    let policy = policy_from_env();
    let total: u64 = std::env::var(VAR_ITEMS).unwrap().parse().unwrap();
    let slow = std::env::var(VAR_SLOW).is_ok();
    let mut rx = Subscriber::<Frame>::load_sharedobject(&handle_from(VAR_HANDLE)).unwrap();
    let (tally, end) = read_all(&mut rx, policy, slow);
    assert!(matches!(end, RecvError::Closed { .. }), "{end}");
    assert_eq!(tally.base.unwrap_or(0), 0, "joined after the first item");
    assert_eq!(tally.seen + tally.missed, total, "{tally:?}");
    if policy == Policy::Backpressure {
        assert_eq!(tally.missed, 0);
    }
}

fn stream_to_four(policy: Policy) {
    let total = items();
    let (mut tx, name) = publisher(policy, 1024);
    let handle = tx.handle();
    let kids: Vec<Kid> = (0..4)
        .map(|i| {
            let mut envs = vec![env(VAR_HANDLE, &handle), (VAR_ITEMS, total.to_string()), policy_var(policy)];
            if i == 0 {
                envs.push((VAR_SLOW, "1".into()));
            }
            Kid::spawn("checking_subscriber", "subscriber", &envs)
        })
        .collect();
    await_subscribers(&tx, 4);
    let start = Instant::now();
    let mut batch = Vec::with_capacity(64);
    let mut next = 0;
    while next < total {
        batch.clear();
        batch.extend((next..total.min(next + 64)).map(Frame::numbered));
        let mut sent = 0;
        while sent < batch.len() {
            sent += tx.publish_slice(&batch[sent..]);
            if sent < batch.len() {
                tx.wait_can_publish(WAIT_LIMIT).unwrap();
            }
        }
        next += batch.len() as u64;
    }
    let elapsed = start.elapsed();
    eprintln!("{policy:?}: {total} items to 4 subscribers in {elapsed:?}");
    assert_eq!(tx.lost_subscribers() + tx.corrupt_subscribers(), 0);
    drop(tx);
    for kid in kids {
        kid.expect_success();
    }
    assert!(!exists(&name), "the last subscriber removes the name");
}

#[test]
fn backpressure_stream_to_four_subscribers() {
    if common::role().is_some() {
        return;
    }
    stream_to_four(Policy::Backpressure);
}

#[test]
fn overwrite_stream_to_four_subscribers() {
    if common::role().is_some() {
        return;
    }
    stream_to_four(Policy::Overwrite);
}

// ---------------------------------------------------------------------------
// Join and leave storms

/// Child: subscribes and leaves again and again while the stream runs,
/// checking that each visit sees consecutive whole items.
#[test]
fn visiting_subscriber() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "visitor");
    let policy = policy_from_env();
    let handle = handle_from(VAR_HANDLE);
    for visit in 0..40u64 {
        let mut rx = match Subscriber::<Frame>::load_sharedobject(&handle) {
            Ok(rx) => rx,
            // The stream ended and its last end removed the name.
            Err(OpenError::NotFound { .. }) => return,
            Err(e) => panic!("visit {visit}: {e}"),
        };
        let mut last: Option<u64> = None;
        for _ in 0..=(visit % 7) * 50 {
            match rx.read_timeout(WAIT_LIMIT) {
                Ok(frame) => {
                    frame.assert_whole();
                    if let Some(last) = last.filter(|_| policy == Policy::Backpressure) {
                        assert_eq!(frame.seq, last + 1, "visit {visit}: a gap");
                    }
                    assert!(last.is_none_or(|l| frame.seq > l), "visit {visit}: out of order");
                    last = Some(frame.seq);
                }
                Err(RecvError::Lagged(_)) if policy == Policy::Overwrite => {}
                Err(RecvError::Closed { .. }) => return,
                Err(e) => panic!("visit {visit}: {e}"),
            }
        }
    }
}

fn storm(policy: Policy) {
    let (mut tx, name) = publisher(policy, 64);
    let handle = tx.handle();
    // The steady subscriber never leaves and checks the whole stream; the
    // visitors come and go during it.
    let steady = Kid::spawn(
        "checking_subscriber",
        "subscriber",
        &[env(VAR_HANDLE, &handle), (VAR_ITEMS, "200000".into()), policy_var(policy)],
    );
    await_subscribers(&tx, 1);
    let visitors: Vec<Kid> = (0..3)
        .map(|_| Kid::spawn("visiting_subscriber", "visitor", &[env(VAR_HANDLE, &handle), policy_var(policy)]))
        .collect();
    for k in 0..200_000 {
        tx.publish_timeout(&Frame::numbered(k), WAIT_LIMIT).unwrap();
    }
    drop(tx);
    steady.expect_success();
    for kid in visitors {
        kid.expect_success();
    }
    assert!(!exists(&name));
}

#[test]
fn backpressure_join_and_leave_storm() {
    if common::role().is_some() {
        return;
    }
    storm(Policy::Backpressure);
}

#[test]
fn overwrite_join_and_leave_storm() {
    if common::role().is_some() {
        return;
    }
    storm(Policy::Overwrite);
}

// ---------------------------------------------------------------------------
// SIGKILL of subscribers

/// Child: subscribes and reads forever (until killed), checking items.
#[test]
fn reading_forever() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "reader");
    let policy = policy_from_env();
    let mut rx = Subscriber::<Frame>::load_sharedobject(&handle_from(VAR_HANDLE)).unwrap();
    let (_, end) = read_all(&mut rx, policy, std::env::var(VAR_SLOW).is_ok());
    assert!(matches!(end, RecvError::Closed { .. }), "{end}");
}

fn kill_subscribers(policy: Policy) {
    const ITEMS: u64 = 300_000;
    let (mut tx, name) = publisher(policy, 256);
    let handle = tx.handle();
    let mut kids: Vec<Option<Kid>> = (0..4)
        .map(|i| {
            let mut envs = vec![env(VAR_HANDLE, &handle), policy_var(policy)];
            if i % 2 == 1 {
                envs.push((VAR_SLOW, "1".into()));
            }
            Some(Kid::spawn("reading_forever", "reader", &envs))
        })
        .collect();
    await_subscribers(&tx, 4);
    // Kill subscribers 1 and 2 (one slow, one fast) at points spread over
    // the stream; the publisher must go on.
    let kill_at = [ITEMS / 5, ITEMS / 2];
    let mut longest = Duration::ZERO;
    for k in 0..ITEMS {
        if let Some(i) = kill_at.iter().position(|&at| at == k) {
            kids[i + 1].take().unwrap().kill_and_reap();
        }
        let start = Instant::now();
        tx.publish_timeout(&Frame::numbered(k), WAIT_LIMIT).unwrap();
        longest = longest.max(start.elapsed());
    }
    eprintln!("{policy:?}: longest publish {longest:?}, lost {}", tx.lost_subscribers());
    if policy == Policy::Backpressure {
        assert_eq!(tx.lost_subscribers(), 2, "both dead subscribers held the publisher back, then were let go");
    }
    assert!(longest < Duration::from_secs(5), "a dead subscriber held the publisher back for {longest:?}");
    drop(tx);
    for kid in kids.into_iter().flatten() {
        kid.expect_success();
    }
    assert!(!exists(&name));
}

#[test]
fn backpressure_survives_killed_subscribers() {
    if common::role().is_some() {
        return;
    }
    kill_subscribers(Policy::Backpressure);
}

#[test]
fn overwrite_survives_killed_subscribers() {
    if common::role().is_some() {
        return;
    }
    kill_subscribers(Policy::Overwrite);
}

// ---------------------------------------------------------------------------
// SIGKILL of the publisher

/// Child: creates the broadcast under the name given, waits for one
/// subscriber, then publishes forever (until killed).
#[test]
fn publishing_forever() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "publisher");
    let name = std::env::var(VAR_NAME).unwrap();
    let mut tx = Broadcast::<Frame>::create_named(&name, &BroadcastConfig::new(64, policy_from_env())).unwrap();
    let start = Instant::now();
    while tx.subscriber_count() == 0 {
        assert!(start.elapsed() < WAIT_LIMIT, "nobody subscribed");
        std::thread::sleep(Duration::from_millis(1));
    }
    for k in 0.. {
        assert!(start.elapsed() < 2 * WAIT_LIMIT, "nobody killed the publisher");
        tx.publish_timeout(&Frame::numbered(k), WAIT_LIMIT).unwrap();
    }
}

fn kill_publisher(policy: Policy) {
    let name = unique_name("bcast-pub");
    let _guard = RemoveOnDrop(name.clone());
    let publisher = Kid::spawn("publishing_forever", "publisher", &[(VAR_NAME, name.clone()), policy_var(policy)]);
    let mut rx = wait_for("the publisher's broadcast", None, || Subscriber::<Frame>::open(&name).ok());
    let mut tally = Tally::default();
    while tally.seen < 20_000 {
        match rx.read_timeout(WAIT_LIMIT) {
            Ok(frame) => tally.take(&frame, policy),
            Err(RecvError::Lagged(n)) => tally.missed += n,
            Err(e) => panic!("{e}"),
        }
    }
    let pid = u64::from(publisher.pid);
    publisher.kill_and_reap();
    let (after, end) = read_all(&mut rx, policy, false);
    assert_eq!(end, RecvError::PeerDead { name: rx.name().clone(), pid }, "{end}");
    assert_eq!(rx.publisher_state(), PeerState::Died { pid });
    // Every item published before the kill was read (or, overwriting,
    // reported missed): the read position is the write position.
    let file = OpenOptions::new().read(true).open(shm_path(&name)).unwrap();
    let mut tail = [0u8; 8];
    file.read_exact_at(&mut tail, PAYLOAD_OFFSET + TAIL_WORD * 8).unwrap();
    let tail = u64::from_ne_bytes(tail);
    assert_eq!(rx.read_count(), tail, "items were left unread");
    if policy == Policy::Backpressure {
        assert_eq!(after.missed, 0);
        assert!(after.base.is_none_or(|b| b == tally.next()), "a gap at the kill");
        assert!(after.seen == 0 || after.next() == tail);
    }
    drop(rx);
    assert!(!exists(&name), "the last end out removes the dead publisher's broadcast");
}

#[test]
fn backpressure_publisher_killed() {
    if common::role().is_some() {
        return;
    }
    kill_publisher(Policy::Backpressure);
}

#[test]
fn overwrite_publisher_killed() {
    if common::role().is_some() {
        return;
    }
    kill_publisher(Policy::Overwrite);
}

// ---------------------------------------------------------------------------
// A subscriber scribbling over its table entry

/// Child: subscribes (in table entry 1: an honest subscriber took entry 0
/// first), reads a little, then writes its cursor far ahead and stops
/// reading; once the publisher took the entry away, writes a garbage
/// identity and a cursor far behind into it.
#[test]
fn scribbling_subscriber() {
    let Some(role) = common::role() else { return };
    assert_eq!(role, "scribbler");
    let handle: Handle = handle_from(VAR_HANDLE);
    let mut rx = Subscriber::<Frame>::load_sharedobject(&handle).unwrap();
    for _ in 0..100 {
        rx.read_timeout(WAIT_LIMIT).unwrap().assert_whole();
    }
    let file = OpenOptions::new().read(true).write(true).open(shm_path(handle.name().as_str())).unwrap();
    let entry = PAYLOAD_OFFSET + (TABLE_WORD + ENTRY_WORDS) * 8;
    let word = |i: u64, v: u64| file.write_all_at(&v.to_ne_bytes(), entry + i * 8).unwrap();
    word(2, 1 << 50);
    let start = Instant::now();
    loop {
        let mut role = [0u8; 8];
        file.read_exact_at(&mut role, entry).unwrap();
        if u64::from_ne_bytes(role) == u64::MAX {
            break;
        }
        assert!(start.elapsed() < WAIT_LIMIT, "the publisher never took the entry away");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(matches!(rx.read(), Err(RecvError::Evicted { .. })));
    // An identity whose lock slot is out of range (no liveness check can
    // vouch for it), with a cursor far behind the write position.
    let garbage = (5 << 48) | (0xffff << 32) | 0x2a;
    let wrap = u64::MAX - u64::MAX % CAPACITY;
    word(2, wrap - 1000);
    word(1, garbage);
    word(0, garbage);
}

#[test]
fn scribbled_cursor_and_entry_are_corrupt_not_harmful() {
    if common::role().is_some() {
        return;
    }
    let (mut tx, name) = publisher(Policy::Backpressure, CAPACITY_SLOTS);
    let handle = tx.handle();
    let honest = Kid::spawn("reading_forever", "reader", &[env(VAR_HANDLE, &handle), policy_var(Policy::Backpressure)]);
    await_subscribers(&tx, 1);
    let scribbler = Kid::spawn("scribbling_subscriber", "scribbler", &[env(VAR_HANDLE, &handle)]);
    await_subscribers(&tx, 2);
    // Publish until both scribbles were found corrupt: the honest
    // subscriber checks that it missed nothing meanwhile.
    let start = Instant::now();
    let mut k = 0;
    while tx.corrupt_subscribers() < 2 || k < 10_000 {
        assert!(start.elapsed() < 2 * WAIT_LIMIT, "the scribbles were not found corrupt");
        tx.publish_timeout(&Frame::numbered(k), WAIT_LIMIT).unwrap();
        k += 1;
    }
    scribbler.expect_success();
    assert_eq!((tx.corrupt_subscribers(), tx.lost_subscribers()), (2, 0));
    drop(tx);
    honest.expect_success();
    assert!(!exists(&name));
}
