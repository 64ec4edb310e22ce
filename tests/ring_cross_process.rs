//! Cross-process tests of the ring `MemoryInterface<T, R>`: a producer
//! and a consumer in two processes, streaming a derived struct, with
//! either side killed, with a second producer or consumer, and with an
//! element type that disagrees.
//!
//! As in `cross_process.rs`, the test binary re-runs itself in a role (see
//! `common::spawn_role`): every test checks `common::role()` first and, in
//! a child, plays that role and returns (a panic is a nonzero exit status).
//! Every wait is time-boxed (a blocking call the parent makes runs on a
//! helper thread the parent waits for a bounded time, see [`bounded`]), a
//! child the parent has not waited for is killed and reaped when the
//! parent fails, and every test checks that the rings it created are gone
//! from /dev/shm at the end.
//!
//! The element type is [`Item`]: a sequence number, payload fields made
//! from it, and a checksum over all the other fields. [`expect_item`]
//! checks that an item is whole (checksum), is the one expected next
//! (nothing lost, duplicated or reordered), and holds exactly what its
//! sequence number says. E5 streams a 2 KiB [`Bulk`] (an `Item` and a
//! body made from its number) instead, so that a producer spends most of
//! its time copying and a kill lands mid-copy. Ids (E1, E5, ...) are rows
//! of the test matrix in docs/RELIABILITY.md.

mod common;

use common::{Kid, WAIT_LIMIT, env, handle_from, wait_for};

use rustix::process::Signal;
use shm_runtime::{
    Consumer, Handle, MemoryInterface, OpenError, Ring, RingError, SharedInt, SharedObject, SharedState, TryWriteError,
};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest a child's endless loop runs when nobody stops it (its parent
/// died, say): no orphan spins forever.
const ORPHAN_LIMIT: Duration = Duration::from_secs(25);
/// How far past the time asked a timed-out call may come back: generous,
/// for a loaded two-core machine.
const TIMEOUT_SLACK: Duration = Duration::from_millis(1500);
/// How soon a waiting call must notice a dead or departed peer, or a
/// sleeping consumer wake after a push (the ring checks every 20 ms).
const PROMPT: Duration = Duration::from_secs(1);

// Environment variables that carry handles and settings to a child.
const VAR_RING: &str = "SHM_RING_TEST_RING";
const VAR_BACK: &str = "SHM_RING_TEST_BACK";
const VAR_GATE: &str = "SHM_RING_TEST_GATE";
/// The sequence number a holder child writes or expects.
const VAR_SEQ: &str = "SHM_RING_TEST_SEQ";
/// Pids an intruder child expects to be named as the holders.
const VAR_PRODUCER_PID: &str = "SHM_RING_TEST_PRODUCER_PID";
const VAR_CONSUMER_PID: &str = "SHM_RING_TEST_CONSUMER_PID";

/// Byte offset of the payload in a segment file (FORMAT.md: the 128-byte
/// header, then the payload; a ring's payload alignment of 64 divides it).
const PAYLOAD_OFFSET: u64 = 128;
// Word indexes inside a ring's payload (FORMAT.md, `ring.rs`).
const CAPACITY_WORD: usize = 0;
const SLOT_WORDS_WORD: usize = 1;
const TAIL_WORD: usize = 8;
const HEAD_WORD: usize = 16;
const SLOTS_WORD: usize = 40;

// ---------------------------------------------------------------------------
// Items

/// The element streamed through the rings: 56 bytes (7 slot words) of
/// mixed widths.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Item {
    /// The item's number in its stream.
    seq: u64,
    stamp: u32,
    lane: u16,
    kind: u8,
    flags: u8,
    payload: [u64; 4],
    /// [`Item::checksum`] of every other field.
    check: u64,
}

/// [`Item`] with the same fields (names and types) in another order: the
/// same size and slot count, a different layout.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct ItemSwapped {
    seq: u64,
    lane: u16,
    kind: u8,
    flags: u8,
    stamp: u32,
    payload: [u64; 4],
    check: u64,
}

const _: () = assert!(size_of::<Item>() == 56 && size_of::<ItemSwapped>() == 56);

/// A bijective mix of `i` and `salt` (splitmix64's finalizer), so fields
/// of different items and different fields of one item differ.
const fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Item {
    /// Item number `i` of a stream.
    #[expect(clippy::cast_possible_truncation, reason = "narrow fields keep the low bits of the mix on purpose")]
    fn numbered(i: u64) -> Self {
        let mut item = Self {
            seq: i,
            stamp: mix(i, 1) as u32,
            lane: mix(i, 2) as u16,
            kind: mix(i, 3) as u8,
            flags: mix(i, 4) as u8,
            payload: core::array::from_fn(|k| mix(i, 5 + k as u64)),
            check: 0,
        };
        item.check = item.checksum();
        item
    }

    /// A checksum of every field but `check`.
    fn checksum(&self) -> u64 {
        let narrow = u64::from(self.stamp)
            | u64::from(self.lane) << 32
            | u64::from(self.kind) << 48
            | u64::from(self.flags) << 56;
        [self.seq, narrow].iter().chain(&self.payload).fold(0xcbf2_9ce4_8422_2325, |h, w| mix(h ^ w, 0x51))
    }

    /// The item as the bytes of its slot (`#[repr(C)]`, no padding).
    fn to_bytes(self) -> [u8; size_of::<Item>()] {
        let mut out = Vec::with_capacity(size_of::<Item>());
        out.extend_from_slice(&self.seq.to_ne_bytes());
        out.extend_from_slice(&self.stamp.to_ne_bytes());
        out.extend_from_slice(&self.lane.to_ne_bytes());
        out.extend_from_slice(&[self.kind, self.flags]);
        self.payload.iter().for_each(|w| out.extend_from_slice(&w.to_ne_bytes()));
        out.extend_from_slice(&self.check.to_ne_bytes());
        out.try_into().expect("56 bytes")
    }
}

/// What a consumer's buffer starts as.
const BLANK: Item = Item { seq: u64::MAX, stamp: 0, lane: 0, kind: 0, flags: 0, payload: [0; 4], check: 0 };

/// Words of a [`Bulk`] body.
const BULK_BODY: usize = 249;

/// A 2 KiB element for E5: an [`Item`] and a body made from its sequence
/// number, so that copying it into a slot is most of a producer's work
/// and a kill usually lands between the first word copied and the
/// publishing store.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Bulk {
    head: Item,
    /// Word `k` is `seq ^ body_salt(k)`.
    body: [u64; BULK_BODY],
}

const _: () = assert!(size_of::<Bulk>() == 2048);

/// What body word `k` of a [`Bulk`] holds besides the sequence number:
/// cheap to make (a producer must spend its time copying, not making),
/// different for every word.
const fn body_salt(k: usize) -> u64 {
    (k as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Bulk {
    /// Element number `i` of a stream.
    fn numbered(i: u64) -> Self {
        Self { head: Item::numbered(i), body: core::array::from_fn(|k| i ^ body_salt(k)) }
    }

    /// The element as the bytes of its slot (`#[repr(C)]`, no padding).
    fn to_bytes(self) -> Vec<u8> {
        let mut out = self.head.to_bytes().to_vec();
        self.body.iter().for_each(|w| out.extend_from_slice(&w.to_ne_bytes()));
        out
    }
}

/// [`expect_item`] for a [`Bulk`], and every body word as well.
fn expect_bulk(bulk: &Bulk, expected: u64, when: &str) {
    expect_item(&bulk.head, expected, when);
    let want = Bulk::numbered(expected);
    if let Some(k) = (0..BULK_BODY).find(|k| bulk.body[*k] != want.body[*k]) {
        let from = bulk.body[k] ^ body_salt(k);
        panic!("{when}: element #{expected}: body word {k} is that of element #{from} (torn)");
    }
}

/// Checks that `item` is whole (its checksum holds), is item `expected`
/// (nothing lost, duplicated or reordered before it), and holds exactly
/// what item `expected` holds; panics naming `when` otherwise.
fn expect_item(item: &Item, expected: u64, when: &str) {
    assert_eq!(
        item.check,
        item.checksum(),
        "{when}: expected item #{expected}, got one whose checksum does not hold (torn or garbled): {item:?}"
    );
    if item.seq != expected {
        let what = if item.seq < expected { "an old or duplicated item" } else { "items were lost" };
        panic!("{when}: expected item #{expected}, got #{} ({what})", item.seq);
    }
    assert_eq!(*item, Item::numbered(expected), "{when}: item #{expected} has a valid checksum but wrong fields");
}

// ---------------------------------------------------------------------------
// Helpers

/// Runs `f` on a helper thread and waits at most `limit` for it, so a
/// blocking ring call in the parent cannot hang the test: on timeout the
/// test fails (the thread is left behind, blocked).
fn bounded<T: Send + 'static>(what: &str, limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = done.send(f());
    });
    match result.recv_timeout(limit) {
        Ok(value) => {
            thread.join().expect("the helper thread finished");
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} did not return within {limit:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let panic = thread.join().expect_err("a helper thread that sent nothing panicked");
            std::panic::resume_unwind(panic)
        }
    }
}

/// `rx.read_blocking()` on a helper thread, bounded by [`WAIT_LIMIT`]
/// (see [`bounded`]); gives `rx` back with the result.
fn read_blocking_bounded(
    mut rx: MemoryInterface<Item, Consumer>,
) -> (MemoryInterface<Item, Consumer>, Result<Item, RingError>) {
    bounded("read_blocking", WAIT_LIMIT, move || {
        let result = rx.read_blocking();
        (rx, result)
    })
}

/// Processor time this thread has used.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let secs = u64::try_from(t.tv_sec).expect("not negative");
    Duration::new(secs, u32::try_from(t.tv_nsec).expect("nanoseconds below 10^9"))
}

/// Runs `call`, which must fail with `Timeout` no sooner than `asked` and
/// no later than `asked + TIMEOUT_SLACK`, backing off while it waits:
/// using the processor for less than a third of `asked` (a call that
/// spins for it would use about all of it). Returns how long it took and
/// the processor time it used.
fn expect_timeout<T>(what: &str, asked: Duration, call: impl FnOnce() -> Result<T, RingError>) -> (Duration, Duration) {
    let (start, cpu_start) = (Instant::now(), thread_cpu_time());
    let result = call();
    let (took, cpu) = (start.elapsed(), thread_cpu_time().saturating_sub(cpu_start));
    match result {
        Err(RingError::Timeout { waited, .. }) => {
            assert!(waited >= asked, "{what}: the error says it waited {waited:?}, less than the {asked:?} asked");
        }
        Err(e) => panic!("{what}: expected a timeout, got: {e}"),
        Ok(_) => panic!("{what}: expected a timeout, but the call succeeded"),
    }
    assert!(took >= asked, "{what}: timed out after {took:?}, before the {asked:?} asked");
    assert!(took < asked + TIMEOUT_SLACK, "{what}: timed out after {took:?}, asked {asked:?}");
    assert!(cpu < asked / 3, "{what}: used {cpu:?} of processor time waiting {took:?}: no backoff");
    (took, cpu)
}

/// Asserts `result` is `PeerDead` for `role` in process `pid`.
fn expect_peer_dead<T>(what: &str, result: Result<T, RingError>, role: &str, pid: u64) {
    match result {
        Err(RingError::PeerDead { role: r, pid: p, .. }) if r == role && p == pid => {}
        Err(e) => panic!("{what}: expected PeerDead for the {role} (process {pid}), got: {e}"),
        Ok(_) => panic!("{what}: expected PeerDead for the {role} (process {pid}), but the call succeeded"),
    }
}

/// Asserts `result` is `Closed` by `role`.
fn expect_closed<T>(what: &str, result: Result<T, RingError>, role: &str) {
    match result {
        Err(RingError::Closed { role: r, .. }) if r == role => {}
        Err(e) => panic!("{what}: expected Closed by the {role}, got: {e}"),
        Ok(_) => panic!("{what}: expected Closed by the {role}, but the call succeeded"),
    }
}

/// Asserts `result` is `RoleTaken` for `role`, naming `holder`.
fn expect_role_taken<T>(what: &str, result: Result<T, OpenError>, role: &str, holder: u64) {
    match result {
        Err(OpenError::RoleTaken { role: r, holder: h, .. }) if r == role && h == holder => {}
        Err(e) => panic!("{what}: expected RoleTaken for the {role} naming process {holder}, got: {e}"),
        Ok(_) => panic!("{what}: expected RoleTaken for the {role} naming process {holder}, but it attached"),
    }
}

/// Payload words `first..first + n` of segment `name`, read from its file.
fn payload_words(name: &str, first: usize, n: usize) -> Vec<u64> {
    let file = File::open(common::shm_path(name)).expect("open the segment file");
    let mut bytes = vec![0u8; 8 * n];
    file.read_exact_at(&mut bytes, PAYLOAD_OFFSET + 8 * first as u64).expect("read payload words");
    bytes.chunks_exact(8).map(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes"))).collect()
}

/// Payload word `index` of segment `name`.
fn payload_word(name: &str, index: usize) -> u64 {
    payload_words(name, index, 1)[0]
}

/// The ring's (write, read) positions, read from its file; checks first
/// that the file holds a ring of `capacity` slots of `T` where this file
/// expects it.
fn positions<T>(name: &str, capacity: usize) -> (u64, u64) {
    assert_eq!(payload_word(name, CAPACITY_WORD), capacity as u64, "{name}: capacity word");
    assert_eq!(payload_word(name, SLOT_WORDS_WORD), (size_of::<T>() / 8) as u64, "{name}: slot size word");
    (payload_word(name, TAIL_WORD), payload_word(name, HEAD_WORD))
}

/// How many words of the slot that element `position` of a [`Bulk`] ring
/// goes into hold that element already: 0 unless the producer was killed
/// between copying its first word and publishing it.
fn words_of_unpublished(name: &str, capacity: usize, position: u64) -> usize {
    let slot_words = size_of::<Bulk>() / 8;
    let slot = usize::try_from(position % capacity as u64).expect("small");
    let words = payload_words(name, SLOTS_WORD + slot * slot_words, slot_words);
    let expected = Bulk::numbered(position).to_bytes();
    words.iter().zip(expected.chunks_exact(8)).filter(|(w, e)| w.to_ne_bytes() == **e).count()
}

/// Asserts none of `names` is left in /dev/shm.
fn assert_removed<S: AsRef<str>>(names: &[S]) {
    for name in names {
        let name = name.as_ref();
        assert!(!common::exists(name), "{name} left in /dev/shm");
    }
}

/// Waits until `gate` holds at least `value`; panics if `kid` exits first.
fn await_gate(gate: &SharedInt, value: i64, what: &str, kid: Option<&mut Kid>) {
    wait_for(what, kid, || (gate.read() >= value).then_some(()));
}

/// Nanoseconds on the system-wide monotonic clock, which every process
/// shares (so two processes can time one event).
fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = u64::try_from(now.tv_sec).expect("the monotonic clock is not negative");
    secs * 1_000_000_000 + u64::try_from(now.tv_nsec).expect("nanoseconds below 10^9")
}

/// Statistics of a latency sample: (median, max).
fn median_max(sample: &mut [Duration]) -> (Duration, Duration) {
    sample.sort_unstable();
    (sample[sample.len() / 2], sample[sample.len() - 1])
}

/// Kills `kid` with `SIGKILL`: if `leave_zombie`, leaves it unreaped (a
/// zombie still holds its pid; the returned `Kid` reaps it when dropped),
/// otherwise reaps it at once.
fn kill(kid: Kid, leave_zombie: bool, when: &str) -> Option<Kid> {
    if leave_zombie {
        kid.signal(Signal::KILL);
        Some(kid)
    } else {
        let status = kid.kill_and_reap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{when}: the child died otherwise: {status}");
        None
    }
}

/// This process's pid as the ring's role words store it.
fn my_pid() -> u64 {
    u64::from(std::process::id())
}

/// A number a parent passed in `var`.
fn number_from(var: &str) -> u64 {
    std::env::var(var).unwrap_or_else(|e| panic!("{var}: {e}")).parse().unwrap_or_else(|e| panic!("{var}: {e}"))
}

// ---------------------------------------------------------------------------
// E1: a million items in order

/// Items per E1 stream.
const E1_ITEMS: u64 = 1_000_000;
/// [`E1_ITEMS`] for dividing a `Duration`.
const E1_ITEMS_U32: u32 = 1_000_000;
/// Slots of the E1 rings: small, so the two sides wait for each other
/// all the time and the positions wrap the ring thousands of times.
const E1_SLOTS: usize = 64;

/// E1 with single items: a producer child writes items 0 .. 10^6 with
/// `write` (on `Full`, which must hand back the same item, it waits with
/// `write_timeout`); the parent, holding the consumer side, reads them
/// with `read` (on `None`, `read_timeout`) and checks every one with
/// [`expect_item`]. After the last item the producer's drop makes the next
/// read `Closed`; nothing is left in the ring.
#[test]
fn e1_million_items_one_at_a_time() {
    const TEST: &str = "e1_million_items_one_at_a_time";
    if let Some(role) = common::role() {
        assert_eq!(role, "producer", "unknown role");
        let mut tx = MemoryInterface::<Item>::load_memorybuf(&handle_from(VAR_RING)).expect("producer attaches");
        let mut refused = 0u64;
        for i in 0..E1_ITEMS {
            let item = Item::numbered(i);
            if let Err(TryWriteError::Full(back)) = tx.write(&item) {
                assert_eq!(back, item, "Full handed back another value");
                refused += 1;
                tx.write_timeout(&back, WAIT_LIMIT).unwrap_or_else(|e| panic!("producer, item {i}: {e}"));
            }
        }
        assert_eq!(tx.written(), E1_ITEMS);
        eprintln!("E1 producer: {refused} writes found the ring full");
        return;
    }
    let mut rx =
        MemoryInterface::<Item, Consumer>::create_named(&common::unique_name("e1"), E1_SLOTS).expect("create the ring");
    let name = rx.name().to_string();
    let start = Instant::now();
    let kid = Kid::spawn(TEST, "producer", &[env(VAR_RING, &rx.handle())]);
    let mut empty = 0u64;
    for i in 0..E1_ITEMS {
        let item = rx.read().unwrap_or_else(|| {
            empty += 1;
            rx.read_timeout(WAIT_LIMIT).unwrap_or_else(|e| panic!("consumer, waiting for item {i}: {e}"))
        });
        expect_item(&item, i, "E1 one at a time");
    }
    let took = start.elapsed();
    expect_closed("E1: read after the last item", rx.read_timeout(WAIT_LIMIT), "producer");
    assert_eq!((rx.read_count(), rx.len()), (E1_ITEMS, 0));
    kid.expect_success();
    eprintln!(
        "E1 one at a time: {E1_ITEMS} items through {E1_SLOTS} slots in {took:?} ({:?} per item); \
         {empty} reads found the ring empty",
        took / E1_ITEMS_U32
    );
    rx.cleanup().expect("cleanup");
    assert_removed(&[name]);
}

/// Batch length for the batch starting at item `i`: 1 to 97, so batches
/// are sometimes larger than the ring and end anywhere in it.
fn batch_len(i: u64) -> usize {
    1 + usize::try_from(mix(i, 77) % 97).expect("small")
}

/// E1 with batches, the other way round: the parent holds the producer
/// side and writes items 0 .. 10^6 with `write_slice` in batches of 1 to
/// 97 (whatever does not fit is retried; when nothing fits it waits with
/// `write_timeout` for one item); a consumer child reads with `read_into`
/// into buffers of 1 to 97 items (when nothing is there it waits with
/// `read_timeout`), checks every item, and after the last one expects
/// `Closed` once the parent let go.
#[test]
fn e1_million_items_in_batches() {
    const TEST: &str = "e1_million_items_in_batches";
    if let Some(role) = common::role() {
        assert_eq!(role, "consumer", "unknown role");
        let mut rx =
            MemoryInterface::<Item, Consumer>::load_memorybuf(&handle_from(VAR_RING)).expect("consumer attaches");
        let mut buf = vec![BLANK; 97];
        let (mut next, mut batches) = (0u64, 0u64);
        while next < E1_ITEMS {
            let want = batch_len(next ^ 0x5555);
            let n = rx.read_into(&mut buf[..want]);
            if n == 0 {
                let item = rx.read_timeout(WAIT_LIMIT).unwrap_or_else(|e| panic!("consumer, item {next}: {e}"));
                expect_item(&item, next, "E1 batches, waited");
                next += 1;
                continue;
            }
            batches += 1;
            for item in &buf[..n] {
                expect_item(item, next, "E1 batches");
                next += 1;
            }
        }
        expect_closed("E1 batches: read after the last item", rx.read_timeout(WAIT_LIMIT), "producer");
        assert_eq!(rx.read_count(), E1_ITEMS);
        eprintln!("E1 consumer: {batches} non-empty read_into calls, {} items each on average", E1_ITEMS / batches);
        return;
    }
    let mut tx = MemoryInterface::<Item>::create_named(&common::unique_name("e1b"), E1_SLOTS).expect("create the ring");
    let name = tx.name().to_string();
    let start = Instant::now();
    let mut kid = Kid::spawn(TEST, "consumer", &[env(VAR_RING, &tx.handle())]);
    wait_for("the consumer to attach", Some(&mut kid), || tx.peer_alive().map(|_| ()));
    let mut batch = Vec::with_capacity(97);
    let (mut next, mut partial, mut waits) = (0u64, 0u64, 0u64);
    while next < E1_ITEMS {
        let len = batch_len(next).min(usize::try_from(E1_ITEMS - next).expect("small"));
        batch.clear();
        batch.extend((next..).take(len).map(Item::numbered));
        let mut sent = 0;
        while sent < len {
            let n = tx.write_slice(&batch[sent..]);
            if n == 0 {
                waits += 1;
                tx.write_timeout(&batch[sent], WAIT_LIMIT)
                    .unwrap_or_else(|e| panic!("producer, item {}: {e}", next + sent as u64));
                sent += 1;
            } else {
                partial += u64::from(sent + n < len);
                sent += n;
            }
        }
        next += len as u64;
    }
    assert_eq!(tx.written(), E1_ITEMS);
    let took = start.elapsed();
    tx.cleanup().expect("cleanup");
    kid.expect_success();
    eprintln!(
        "E1 batches: {E1_ITEMS} items through {E1_SLOTS} slots in {took:?} ({:?} per item); \
         {partial} write_slice calls wrote part of their batch, {waits} waits for space",
        took / E1_ITEMS_U32
    );
    assert_removed(&[name]);
}

/// Items of the in-place stream.
const IN_PLACE_ITEMS: u64 = 100_000;

/// E1 with in-place access: a producer child builds every item field by
/// field in its slot with `write_with` (after `clear`, so no field of the
/// item written a lap earlier survives); the parent looks at each with
/// `read_with`, first at the `seq` field alone, then at the whole item,
/// which must be the one expected next and whole (checksum).
#[test]
fn e1_items_written_and_read_in_place() {
    const TEST: &str = "e1_items_written_and_read_in_place";
    if let Some(role) = common::role() {
        assert_eq!(role, "producer", "unknown role");
        let mut tx = MemoryInterface::<Item>::load_memorybuf(&handle_from(VAR_RING)).expect("producer attaches");
        for i in 0..IN_PLACE_ITEMS {
            let item = Item::numbered(i);
            let fill = |slot: &mut shm_runtime::SlotMut<'_, Item>| {
                slot.clear();
                slot.set(|f| f.seq, &item.seq);
                slot.set(|f| f.stamp, &item.stamp);
                slot.set(|f| f.lane, &item.lane);
                slot.set(|f| f.kind, &item.kind);
                slot.set(|f| f.flags, &item.flags);
                slot.set(|f| f.payload, &item.payload);
                slot.set(|f| f.check, &item.check);
            };
            while tx.write_with(fill).is_none() {
                tx.wait_can_write(WAIT_LIMIT).unwrap_or_else(|e| panic!("producer, item {i}: {e}"));
            }
        }
        return;
    }
    let mut rx = MemoryInterface::<Item, Consumer>::create_named(&common::unique_name("e1p"), 16).expect("create");
    let name = rx.name().to_string();
    let kid = Kid::spawn(TEST, "producer", &[env(VAR_RING, &rx.handle())]);
    for i in 0..IN_PLACE_ITEMS {
        let look = |item: &shm_runtime::SlotRef<'_, Item>| (item.get(|f| f.seq), item.read());
        let (seq, whole) = loop {
            if let Some(seen) = rx.read_with(look) {
                break seen;
            }
            rx.wait_can_read(WAIT_LIMIT).unwrap_or_else(|e| panic!("consumer, item {i}: {e}"));
        };
        assert_eq!(seq, i, "in place: the seq field");
        expect_item(&whole, i, "in place");
    }
    expect_closed("in place: read after the last item", rx.read_timeout(WAIT_LIMIT), "producer");
    kid.expect_success();
    rx.cleanup().expect("cleanup");
    assert_removed(&[name]);
}

// ---------------------------------------------------------------------------
// E2/E3: full and empty, across processes

/// Slots of the E2/E3 ring.
const E2_SLOTS: usize = 8;
/// Time asked of each timed call that must time out.
const E2_ASK: Duration = Duration::from_millis(300);

/// E2/E3 with the consumer in a child. The child first finds the empty
/// ring empty (`read` is `None`, `can_read` false, `read_into` 0,
/// `read_timeout` a `Timeout` in about the time asked, sleeping rather
/// than spinning meanwhile; see [`expect_timeout`]). The parent then
/// fills the 8 slots; the 9th `write` hands the same item back in `Full`,
/// `write_slice` writes nothing, `write_timeout` times out in about the
/// time asked (the consumer is alive, so it is not `PeerDead`). The child
/// then reads exactly items 0..8 (nothing overwritten by the refused
/// writes), finds the ring empty again, and reads items 8..16, which the
/// parent writes only after the ring has room: the refused items were
/// not lost either.
#[test]
fn e2_e3_full_and_empty_across_processes() {
    const TEST: &str = "e2_e3_full_and_empty_across_processes";
    if let Some(role) = common::role() {
        assert_eq!(role, "consumer", "unknown role");
        let gate = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("consumer opens the gate");
        let mut rx =
            MemoryInterface::<Item, Consumer>::load_memorybuf(&handle_from(VAR_RING)).expect("consumer attaches");
        assert_eq!((rx.capacity(), rx.get_number_of_memories(), rx.len()), (E2_SLOTS, E2_SLOTS, 0));
        assert_eq!(rx.read(), None, "an empty ring returns nothing");
        assert!(!rx.can_read());
        assert_eq!(rx.read_into(&mut [BLANK; 4]), 0);
        let (took, cpu) = expect_timeout("read_timeout on an empty ring", E2_ASK, || rx.read_timeout(E2_ASK));
        eprintln!("E3: read_timeout({E2_ASK:?}) on an empty ring took {took:?}, {cpu:?} of processor time");
        gate.write(1);
        await_gate(&gate, 2, "the parent to fill the ring", None);
        assert_eq!(rx.len(), E2_SLOTS);
        assert!((rx.get_fullness() - 100.0).abs() < f64::EPSILON, "fullness {}", rx.get_fullness());
        assert!(rx.can_read());
        for i in 0..E2_SLOTS as u64 {
            expect_item(&rx.read().expect("an item of the full ring"), i, "E2: reading the full ring");
        }
        assert_eq!(rx.read(), None, "the refused writes left nothing behind");
        assert_eq!(rx.get_read_pointer(), 0, "read all 8 slots once");
        gate.write(3);
        for i in E2_SLOTS as u64..2 * E2_SLOTS as u64 {
            let item = rx.read_timeout(WAIT_LIMIT).unwrap_or_else(|e| panic!("waiting for item {i}: {e}"));
            expect_item(&item, i, "E2: after the ring had room again");
        }
        assert_eq!(rx.read(), None);
        return;
    }
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    let mut tx = MemoryInterface::<Item>::create_named(&common::unique_name("e2"), E2_SLOTS).expect("create the ring");
    let names = [tx.name().to_string(), gate.name().to_string()];
    let mut kid = Kid::spawn(TEST, "consumer", &[env(VAR_RING, &tx.handle()), env(VAR_GATE, &gate.handle())]);
    await_gate(&gate, 1, "the consumer to find the ring empty", Some(&mut kid));
    assert_eq!(tx.peer_alive(), Some(true));
    for i in 0..E2_SLOTS as u64 {
        assert!(tx.can_write());
        tx.write(&Item::numbered(i)).unwrap_or_else(|_| panic!("item {i} of 8 refused"));
    }
    assert_eq!((tx.len(), tx.get_write_pointer(), tx.written()), (E2_SLOTS, 0, E2_SLOTS as u64));
    assert!(!tx.can_write());
    let refused = Item::numbered(E2_SLOTS as u64);
    match tx.write(&refused) {
        Err(TryWriteError::Full(back)) => assert_eq!(back, refused, "Full handed back another value"),
        other => panic!("a write into the full ring: {other:?}"),
    }
    let rest: Vec<Item> = (E2_SLOTS as u64..2 * E2_SLOTS as u64).map(Item::numbered).collect();
    assert_eq!(tx.write_slice(&rest), 0, "write_slice into the full ring");
    let (took, cpu) = expect_timeout("write_timeout on a full ring", E2_ASK, || tx.write_timeout(&refused, E2_ASK));
    eprintln!("E2: write_timeout({E2_ASK:?}) on a full ring took {took:?}, {cpu:?} of processor time");
    assert_eq!(tx.written(), E2_SLOTS as u64, "refused writes moved the write position");
    gate.write(2);
    await_gate(&gate, 3, "the consumer to drain the ring", Some(&mut kid));
    assert_eq!(tx.write_slice(&rest), E2_SLOTS, "the drained ring takes a whole ring of items");
    kid.expect_success();
    tx.cleanup().expect("cleanup");
    gate.cleanup().expect("cleanup");
    assert_removed(&names);
}

// ---------------------------------------------------------------------------
// Blocking calls wake promptly

/// Wake-ups measured in each direction.
const WAKE_ROUNDS: u64 = 12;

/// A consumer child sleeps in `read_blocking` on ring A; the parent waits
/// 25 to 55 ms (so the child is past its spinning and asleep on the
/// futex), then writes the time into ring A. The child reports how long
/// after that write it woke, through ring B. Then the other direction:
/// the child fills ring B (4 slots) and sleeps in `write_blocking`; the
/// parent waits, notes the time, reads one item, and sends that time
/// through ring A; the child reports how long after the read it woke.
/// Every wake-up must come within 1 s (the 20 ms liveness slices alone
/// would give at most about 20 ms; a futex wake much less).
#[test]
fn blocking_calls_wake_promptly_across_processes() {
    const TEST: &str = "blocking_calls_wake_promptly_across_processes";
    const B_SLOTS: usize = 4;
    /// What the child writes into ring B when it is about to block.
    const ABOUT_TO_BLOCK: u64 = u64::MAX;
    /// What the parent writes into ring A to start a round of the second
    /// direction.
    const GO: u64 = u64::MAX - 1;
    if let Some(role) = common::role() {
        assert_eq!(role, "child", "unknown role");
        let mut a = MemoryInterface::<u64, Consumer>::load_memorybuf(&handle_from(VAR_RING)).expect("attach to A");
        let mut b = MemoryInterface::<u64>::load_memorybuf(&handle_from(VAR_BACK)).expect("attach to B");
        for _ in 0..WAKE_ROUNDS {
            b.write_blocking(&ABOUT_TO_BLOCK).expect("announce");
            let sent = a.read_blocking().expect("read_blocking");
            b.write_blocking(&monotonic_ns().saturating_sub(sent)).expect("report");
        }
        for _ in 0..WAKE_ROUNDS {
            // Only once the parent has read the last report: a read of
            // anything else must not wake the write below.
            assert_eq!(a.read_blocking().expect("the parent's go"), GO);
            while b.write(&ABOUT_TO_BLOCK).is_ok() {}
            b.write_blocking(&ABOUT_TO_BLOCK).expect("write_blocking");
            let woke = monotonic_ns();
            let freed = a.read_blocking().expect("the time the parent read");
            b.write_blocking(&woke.saturating_sub(freed)).expect("report");
        }
        return;
    }
    let a = MemoryInterface::<u64>::create_named(&common::unique_name("wake-a"), 4).expect("create A");
    let b = MemoryInterface::<u64, Consumer>::create_named(&common::unique_name("wake-b"), B_SLOTS).expect("create B");
    let names = [a.name().to_string(), b.name().to_string()];
    let mut kid = Kid::spawn(TEST, "child", &[env(VAR_RING, &a.handle()), env(VAR_BACK, &b.handle())]);
    let (mut a, mut b) = (a, b);
    let nap = |round: u64| Duration::from_millis(25 + (round * 7919) % 31);
    let mut read_wakes = Vec::new();
    for round in 0..WAKE_ROUNDS {
        let marker = b.read_timeout(WAIT_LIMIT).expect("the child's announcement");
        assert_eq!(marker, ABOUT_TO_BLOCK);
        std::thread::sleep(nap(round));
        a.write(&monotonic_ns()).expect("A has room");
        let ns = b.read_timeout(WAIT_LIMIT).expect("the child's report");
        read_wakes.push(Duration::from_nanos(ns));
    }
    let mut write_wakes = Vec::new();
    for round in 0..WAKE_ROUNDS {
        a.write(&GO).expect("A has room");
        wait_for("the child to fill B", Some(&mut kid), || (b.len() == B_SLOTS).then_some(()));
        std::thread::sleep(nap(round + WAKE_ROUNDS));
        let freed = monotonic_ns();
        assert_eq!(b.read(), Some(ABOUT_TO_BLOCK));
        a.write(&freed).expect("A has room");
        // B now holds the rest of the fill, then the report.
        let report = loop {
            let v = b.read_timeout(WAIT_LIMIT).expect("the child's report");
            if v != ABOUT_TO_BLOCK {
                break v;
            }
        };
        write_wakes.push(Duration::from_nanos(report));
    }
    kid.expect_success();
    let (read_median, read_max) = median_max(&mut read_wakes);
    let (write_median, write_max) = median_max(&mut write_wakes);
    eprintln!(
        "wake-up after the other side acted, {WAKE_ROUNDS} each: read_blocking median {read_median:?} max \
         {read_max:?}; write_blocking median {write_median:?} max {write_max:?}"
    );
    assert!(read_max < PROMPT, "a read_blocking consumer woke {read_max:?} after the push");
    assert!(write_max < PROMPT, "a write_blocking producer woke {write_max:?} after the read");
    a.cleanup().expect("cleanup");
    b.cleanup().expect("cleanup");
    assert_removed(&names);
}

// ---------------------------------------------------------------------------
// E5: the producer dies

/// Rounds of E5, each with a new producer, at least; more (up to
/// [`E5_MAX_ROUNDS`]) until a kill lands mid-copy, which on a loaded
/// machine happens in about one busy round in three.
const E5_ROUNDS: u64 = 16;
/// Rounds of E5 at most.
const E5_MAX_ROUNDS: u64 = 64;
/// Slots of the E5 ring.
const E5_SLOTS: usize = 64;

/// Child role of E5: writes elements 0, 1, 2, ... until it is killed.
fn endless_producer() {
    let mut tx = MemoryInterface::<Bulk>::load_memorybuf(&handle_from(VAR_RING)).expect("producer attaches");
    let start = Instant::now();
    for i in 0.. {
        if i % 1024 == 0 {
            assert!(start.elapsed() < ORPHAN_LIMIT, "producer was never killed");
        }
        // Built in its slot, word by word (`write_with`): the producer
        // spends nearly all its time between the first word and the
        // publishing store, where the kill must land. (A copy of a finished
        // element by `write_timeout` takes a few tens of nanoseconds with
        // the vector moves, too short a window for a kill to hit.)
        tx.wait_can_write(WAIT_LIMIT).unwrap_or_else(|e| panic!("producer, element {i}: {e}"));
        let bulk = Bulk::numbered(i);
        let bytes = bulk.to_bytes();
        tx.write_with(|slot| {
            for (k, word) in bytes.chunks_exact(8).enumerate() {
                slot.set_bytes(8 * k, word);
            }
        })
        .unwrap_or_else(|| panic!("producer, element {i}: no free slot after wait_can_write"));
    }
}

/// E5: a producer child streams 2 KiB [`Bulk`] elements (each built in its
/// slot word by word with `write_with`) and is killed
/// with `SIGKILL`, in 16 rounds (or more, see [`E5_ROUNDS`]), after the
/// parent read 200 to 5,000 of them: either while the producer refills
/// the ring (8 to 55 elements in; it is then most likely copying an
/// element into its slot) or once it sleeps waiting on the full ring
/// (every 4th round); left unreaped (a zombie still holds its pid) in even
/// rounds, reaped in odd ones. The parent then reads on: every element
/// the producer published (the write position in the segment) arrives
/// whole and in order, none more, and the next `read_timeout` is
/// `PeerDead` naming the producer's pid within 1 s, not a hang and not a
/// timeout; a second one says the same. The parent counts the rounds in
/// which the slot after the last published one already held words of the
/// next element (kills that landed between copying and publishing) and
/// requires at least one.
#[test]
fn e5_producer_killed_mid_stream() {
    const TEST: &str = "e5_producer_killed_mid_stream";
    if let Some(role) = common::role() {
        assert_eq!(role, "producer", "unknown role");
        endless_producer();
        return;
    }
    let (mut mid_copy, mut slowest_dead) = (0u32, Duration::ZERO);
    let mut names = Vec::new();
    let mut buf = vec![Bulk::numbered(u64::MAX); E5_SLOTS];
    let mut rounds = 0;
    while rounds < E5_ROUNDS || (mid_copy == 0 && rounds < E5_MAX_ROUNDS) {
        let round = rounds;
        rounds += 1;
        let when = format!("E5 round {round}");
        let mut rx = MemoryInterface::<Bulk, Consumer>::create_named(&common::unique_name("e5"), E5_SLOTS)
            .expect("create the ring");
        let name = rx.name().to_string();
        names.push(name.clone());
        let mut kid = Kid::spawn(TEST, "producer", &[env(VAR_RING, &rx.handle())]);
        let pid = kid.pid_word();
        let while_full = round % 4 == 3;
        let kill_after = if while_full { 1000 } else { 200 + (round * 7919) % 5000 };
        let mut next = 0u64;
        while next < kill_after {
            let bulk = rx.read_timeout(WAIT_LIMIT).unwrap_or_else(|e| panic!("{when}, element {next}: {e}"));
            expect_bulk(&bulk, next, &when);
            next += 1;
        }
        let mut drained = 0;
        if while_full {
            wait_for("the producer to fill the ring", Some(&mut kid), || (rx.len() == E5_SLOTS).then_some(()));
            // Past its spinning: asleep on the futex.
            std::thread::sleep(Duration::from_millis(30));
        } else {
            // The parent checks more slowly than the producer writes, so
            // the ring is full now and the producer waits. Drain it in one
            // call (checked below) and kill while the producer refills it,
            // busy copying rather than waiting.
            drained = rx.read_into(&mut buf);
            let fill = usize::try_from(8 + (round * 13) % 48).expect("small");
            wait_for("the producer to refill the ring", Some(&mut kid), || (rx.len() >= fill).then_some(()));
        }
        // Reaped when dropped, at the end of the round.
        let _zombie = kill(kid, round % 2 == 0, &when);
        for bulk in &buf[..drained] {
            expect_bulk(bulk, next, &format!("{when}, drained in one read"));
            next += 1;
        }
        let (published, read) = positions::<Bulk>(&name, E5_SLOTS);
        assert_eq!(read, next, "{when}: read position in the segment");
        assert!(published - read <= E5_SLOTS as u64, "{when}: write position {published}, read position {read}");
        let copied = words_of_unpublished(&name, E5_SLOTS, published);
        mid_copy += u32::from(copied > 0);
        let (end, took) = loop {
            let start = Instant::now();
            match rx.read_timeout(WAIT_LIMIT) {
                Ok(bulk) => {
                    expect_bulk(&bulk, next, &format!("{when}, after the kill"));
                    next += 1;
                }
                Err(e) => break (Err::<Bulk, _>(e), start.elapsed()),
            }
        };
        expect_peer_dead(&when, end, "producer", pid);
        slowest_dead = slowest_dead.max(took);
        assert!(took < PROMPT, "{when}: PeerDead took {took:?} once the ring was empty");
        assert_eq!(next, published, "{when}: elements read in all, against the write position");
        assert_eq!((rx.read_count(), rx.len()), (published, 0));
        assert_eq!(rx.read(), None);
        let start = Instant::now();
        expect_peer_dead(&when, rx.read_timeout(WAIT_LIMIT), "producer", pid);
        assert!(start.elapsed() < PROMPT, "{when}: the second PeerDead took {:?}", start.elapsed());
        assert_eq!(rx.peer_alive(), Some(false));
        rx.cleanup().expect("cleanup");
    }
    eprintln!(
        "E5: {rounds} producers killed, {mid_copy} of them between copying an element's first word and \
         publishing it; PeerDead at most {slowest_dead:?} after the ring was drained"
    );
    assert!(mid_copy > 0, "no producer was killed between copying and publishing: the test did not exercise E5");
    assert_removed(&names);
}

// ---------------------------------------------------------------------------
// E6: the consumer dies

/// Slots of the E6 ring.
const E6_SLOTS: usize = 16;

/// Child role of E6: reads items 0, 1, 2, ..., checking each, and counts
/// them in the shared counter, until it is killed.
fn endless_consumer() {
    let mut rx = MemoryInterface::<Item, Consumer>::load_memorybuf(&handle_from(VAR_RING)).expect("consumer attaches");
    let count = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("consumer opens the counter");
    let start = Instant::now();
    for i in 0.. {
        if i % 1024 == 0 {
            assert!(start.elapsed() < ORPHAN_LIMIT, "consumer was never killed");
        }
        let item = rx.read_timeout(WAIT_LIMIT).unwrap_or_else(|e| panic!("consumer, item {i}: {e}"));
        expect_item(&item, i, "E6 consumer");
        count.write(i64::try_from(i + 1).expect("small"));
    }
}

/// E6: a consumer child reads and is killed with `SIGKILL`, in 4 rounds:
/// after reading 300 to 3,300 items while the parent writes, or once it
/// sleeps on the empty ring; left unreaped or reaped; and the parent goes
/// on writing with `write_blocking` or with `write_timeout(5 s)` (each
/// choice meets each other one once). The writes fill the ring exactly
/// (the free slots the dead consumer left) and the next one is
/// `PeerDead` naming the consumer's pid, within 1 s of the kill; a plain
/// `write` then hands the item back in `TryWriteError::PeerDead` naming
/// the pid too, and `write_timeout` says `PeerDead` again.
#[test]
fn e6_consumer_killed() {
    const TEST: &str = "e6_consumer_killed";
    const ASK: Duration = Duration::from_secs(5);
    if let Some(role) = common::role() {
        assert_eq!(role, "consumer", "unknown role");
        endless_consumer();
        return;
    }
    let count = SharedInt::create_sharedobject(0).expect("create the counter");
    let mut names = vec![count.name().to_string()];
    let mut slowest = Duration::ZERO;
    for round in 0..4u64 {
        let when = format!("E6 round {round}");
        count.write(0);
        let mut tx =
            MemoryInterface::<Item>::create_named(&common::unique_name("e6"), E6_SLOTS).expect("create the ring");
        let name = tx.name().to_string();
        names.push(name.clone());
        let mut kid = Kid::spawn(TEST, "consumer", &[env(VAR_RING, &tx.handle()), env(VAR_GATE, &count.handle())]);
        let pid = kid.pid_word();
        let asleep = round >= 2;
        let kill_after = 300 + round * 1000;
        let mut next = 0u64;
        while u64::try_from(count.read()).expect("not negative") < kill_after {
            tx.write_timeout(&Item::numbered(next), WAIT_LIMIT).unwrap_or_else(|e| panic!("{when}, item {next}: {e}"));
            next += 1;
            if kill_after < next && asleep {
                break;
            }
        }
        if asleep {
            wait_for("the consumer to read everything", Some(&mut kid), || {
                (u64::try_from(count.read()).ok() == Some(next)).then_some(())
            });
            std::thread::sleep(Duration::from_millis(30));
        }
        let leave_zombie = round % 2 == 0;
        let zombie = kill(kid, leave_zombie, &when);
        let start = Instant::now();
        // Each of the three choices meets each other one once.
        let blocking = leave_zombie != asleep;
        let (tx_back, written, end) = bounded(&format!("{when}: writing to a dead consumer"), WAIT_LIMIT, move || {
            let mut i = next;
            let end = loop {
                let item = Item::numbered(i);
                let result = if blocking { tx.write_blocking(&item) } else { tx.write_timeout(&item, ASK) };
                match result {
                    Ok(()) => i += 1,
                    Err(e) => break e,
                }
            };
            (tx, i, end)
        });
        tx = tx_back;
        let took = start.elapsed();
        slowest = slowest.max(took);
        expect_peer_dead(&when, Err::<(), _>(end), "consumer", pid);
        assert!(took < PROMPT, "{when}: PeerDead came {took:?} after the kill");
        let (published, read) = positions::<Item>(&name, E6_SLOTS);
        assert_eq!(published, written, "{when}: write position");
        assert_eq!(published - read, E6_SLOTS as u64, "{when}: the writes after the kill filled the ring exactly");
        assert_eq!(tx.len(), E6_SLOTS);
        let item = Item::numbered(written);
        match tx.write(&item) {
            Err(TryWriteError::PeerDead { value, pid: dead, .. }) => {
                assert_eq!((value, dead), (item, pid), "{when}: the item back, and the dead consumer's pid");
            }
            other => panic!("{when}: write to the full ring of a dead consumer: {other:?}"),
        }
        expect_peer_dead(&when, tx.write_timeout(&item, ASK), "consumer", pid);
        assert_eq!(tx.peer_alive(), Some(false));
        drop(zombie);
        tx.cleanup().expect("cleanup");
    }
    eprintln!("E6: 4 consumers killed; PeerDead at most {slowest:?} after the kill");
    count.cleanup().expect("cleanup");
    assert_removed(&names);
}

// ---------------------------------------------------------------------------
// E7: one producer, one consumer

/// Child role of E7: tries to attach to the ring in [`VAR_RING`] as a
/// producer and as a consumer, and expects both refused with
/// `RoleTaken` naming the pids in [`VAR_PRODUCER_PID`] and
/// [`VAR_CONSUMER_PID`].
fn intruder() {
    let handle = handle_from(VAR_RING);
    let (producer, consumer) = (number_from(VAR_PRODUCER_PID), number_from(VAR_CONSUMER_PID));
    expect_role_taken("second producer", MemoryInterface::<Item>::load_memorybuf(&handle), "producer", producer);
    expect_role_taken(
        "second consumer",
        MemoryInterface::<Item, Consumer>::load_memorybuf(&handle),
        "consumer",
        consumer,
    );
    // The refusal names the holder in its message too.
    let message = MemoryInterface::<Item>::load_memorybuf(&handle).expect_err("refused again").to_string();
    assert!(message.contains(&format!("process {producer}")), "{message}");
}

/// Child role of E7: attaches as producer, writes item [`VAR_SEQ`], adds
/// 1 to the gate, waits until the gate reaches 100 + that item's number,
/// then lets go (by `cleanup`) and exits.
fn producer_holder() {
    let gate = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("holder opens the gate");
    let seq = number_from(VAR_SEQ);
    let mut tx = MemoryInterface::<Item>::load_memorybuf(&handle_from(VAR_RING)).expect("holder attaches");
    tx.write_timeout(&Item::numbered(seq), WAIT_LIMIT).expect("holder writes");
    gate.fetch_add(1);
    await_gate(&gate, 100 + i64::try_from(seq).expect("small"), "the parent's release", None);
    tx.cleanup().expect("holder lets go");
}

/// Child role of E7: attaches as consumer, reads item [`VAR_SEQ`], adds 1
/// to the gate, waits until the gate reaches 100 + that item's number,
/// then lets go (by dropping its end) and exits.
fn consumer_holder() {
    let gate = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("holder opens the gate");
    let seq = number_from(VAR_SEQ);
    let mut rx = MemoryInterface::<Item, Consumer>::load_memorybuf(&handle_from(VAR_RING)).expect("holder attaches");
    let item = rx.read_timeout(WAIT_LIMIT).expect("holder reads");
    expect_item(&item, seq, "E7 consumer holder");
    gate.fetch_add(1);
    await_gate(&gate, 100 + i64::try_from(seq).expect("small"), "the parent's release", None);
}

/// Runs the E7 child roles; `false` in the parent.
fn e7_child() -> bool {
    let Some(role) = common::role() else { return false };
    match role.as_str() {
        "intruder" => intruder(),
        "producer" => producer_holder(),
        "consumer" => consumer_holder(),
        _ => panic!("unknown role {role}"),
    }
    true
}

/// Environment of an E7 child.
fn e7_env(ring: &Handle, gate: &SharedInt, seq: u64) -> Vec<(&'static str, String)> {
    vec![env(VAR_RING, ring), env(VAR_GATE, &gate.handle()), (VAR_SEQ, seq.to_string())]
}

/// Runs an intruder child that expects `producer` and `consumer` named as
/// the holders.
fn run_intruder(test: &str, ring: &Handle, producer: u64, consumer: u64) {
    let envs =
        [env(VAR_RING, ring), (VAR_PRODUCER_PID, producer.to_string()), (VAR_CONSUMER_PID, consumer.to_string())];
    Kid::spawn(test, "intruder", &envs).expect_success();
}

/// E7, producer side. The parent creates the ring holding the consumer
/// side. Producer child 1 attaches and writes; a second producer is
/// refused with `RoleTaken` naming child 1, in another process and in the
/// parent, and a second consumer naming the parent (in the parent too).
/// Child 1 lets go: the parent reads its item, then `Closed`; child 2
/// attaches (and the refusals now name it) and writes; it is killed and
/// left unreaped: the parent gets `PeerDead`, and child 3 takes the dead
/// holder's claim over and writes; it is killed and reaped, and child 4
/// takes over again. Every item arrives.
#[test]
fn e7_second_producer_refused_until_the_holder_leaves() {
    const TEST: &str = "e7_second_producer_refused_until_the_holder_leaves";
    if e7_child() {
        return;
    }
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    let mut rx =
        MemoryInterface::<Item, Consumer>::create_named(&common::unique_name("e7p"), 4).expect("create the ring");
    let names = [rx.name().to_string(), gate.name().to_string()];
    let handle = rx.handle();
    let me = my_pid();
    assert_eq!(rx.peer_alive(), None, "no producer yet");

    let mut first = Kid::spawn(TEST, "producer", &e7_env(&handle, &gate, 0));
    await_gate(&gate, 1, "producer 1 to attach", Some(&mut first));
    assert_eq!(rx.peer_alive(), Some(true));
    run_intruder(TEST, &handle, first.pid_word(), me);
    expect_role_taken(
        "producer in the parent",
        MemoryInterface::<Item>::load_memorybuf(&handle),
        "producer",
        first.pid_word(),
    );
    expect_role_taken(
        "second consumer in the holder's own process",
        MemoryInterface::<Item, Consumer>::load_memorybuf(&handle),
        "consumer",
        me,
    );
    expect_item(&rx.read_timeout(WAIT_LIMIT).expect("item 0"), 0, "E7, from producer 1");
    gate.write(100);
    first.expect_success();
    expect_closed("E7: after producer 1 let go", rx.read_timeout(WAIT_LIMIT), "producer");
    assert_eq!(rx.peer_alive(), None, "the producer let go");

    let mut previous: Option<Kid> = None;
    for seq in 1..=3u64 {
        let when = format!("E7, producer {}", seq + 1);
        gate.write(0);
        let mut kid = Kid::spawn(TEST, "producer", &e7_env(&handle, &gate, seq));
        await_gate(&gate, 1, "the next producer to attach", Some(&mut kid));
        drop(previous.take());
        run_intruder(TEST, &handle, kid.pid_word(), me);
        expect_item(&rx.read_timeout(WAIT_LIMIT).expect("the next item"), seq, &when);
        if seq == 3 {
            gate.write(100 + 3);
            kid.expect_success();
            expect_closed(&when, rx.read_timeout(WAIT_LIMIT), "producer");
            break;
        }
        let pid = kid.pid_word();
        // Producer 2 is left a zombie while producer 3 attaches (its drop
        // in the next round reaps it); producer 3 is reaped at once.
        previous = kill(kid, seq == 1, &when);
        expect_peer_dead(&when, rx.read_timeout(WAIT_LIMIT), "producer", pid);
    }
    rx.cleanup().expect("cleanup");
    gate.cleanup().expect("cleanup");
    assert_removed(&names);
}

/// E7, consumer side. The parent creates the ring holding the producer
/// side. Consumer child 1 attaches and reads; a second consumer is
/// refused naming child 1 and a second producer naming the parent. Child
/// 1 is killed (left unreaped): the parent's writes fill the ring and the
/// next `write_timeout` is `PeerDead`; consumer child 2 takes the claim
/// over and reads the item the parent writes once a slot is free; it lets
/// go by dropping its end, and the parent's wait on the full ring is
/// `Closed`, not `PeerDead`; consumer child 3 attaches after it.
#[test]
fn e7_second_consumer_refused_until_the_holder_leaves() {
    const TEST: &str = "e7_second_consumer_refused_until_the_holder_leaves";
    if e7_child() {
        return;
    }
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    let mut tx = MemoryInterface::<Item>::create_named(&common::unique_name("e7c"), 4).expect("create the ring");
    let names = [tx.name().to_string(), gate.name().to_string()];
    let handle = tx.handle();
    let me = my_pid();

    tx.write(&Item::numbered(0)).expect("room");
    let mut first = Kid::spawn(TEST, "consumer", &e7_env(&handle, &gate, 0));
    await_gate(&gate, 1, "consumer 1 to attach and read", Some(&mut first));
    run_intruder(TEST, &handle, me, first.pid_word());
    expect_role_taken(
        "consumer in the parent",
        MemoryInterface::<Item, Consumer>::load_memorybuf(&handle),
        "consumer",
        first.pid_word(),
    );
    let first_pid = first.pid_word();
    let _zombie = kill(first, true, "E7, consumer 1");
    for i in 1..=4 {
        tx.write_timeout(&Item::numbered(i), WAIT_LIMIT).expect("the dead consumer left 4 free slots");
    }
    expect_peer_dead("E7, consumer 1 killed", tx.write_timeout(&Item::numbered(5), WAIT_LIMIT), "consumer", first_pid);

    // Consumer 2 expects item 1, the oldest unread.
    gate.write(0);
    let mut second = Kid::spawn(TEST, "consumer", &e7_env(&handle, &gate, 1));
    await_gate(&gate, 1, "consumer 2 to take over and read", Some(&mut second));
    run_intruder(TEST, &handle, me, second.pid_word());
    tx.write_timeout(&Item::numbered(5), WAIT_LIMIT).expect("consumer 2 freed a slot");
    gate.write(100 + 1);
    second.expect_success();
    expect_closed("E7, consumer 2 let go", tx.write_timeout(&Item::numbered(6), WAIT_LIMIT), "consumer");

    // Consumer 3 expects item 2.
    gate.write(0);
    let mut third = Kid::spawn(TEST, "consumer", &e7_env(&handle, &gate, 2));
    await_gate(&gate, 1, "consumer 3 to attach and read", Some(&mut third));
    gate.write(100 + 2);
    third.expect_success();
    assert_eq!(tx.len(), 3, "items 3, 4, 5 are left");
    tx.cleanup().expect("cleanup");
    gate.cleanup().expect("cleanup");
    assert_removed(&names);
}

// ---------------------------------------------------------------------------
// E8: the element type differs

/// E8: the parent creates a ring of [`Item`] (holding the producer side)
/// and writes one item. A child attaching with [`ItemSwapped`] (the same
/// fields in another order: same size, same slot count) is refused with
/// `LayoutMismatch` naming both types, as consumer and as producer, from
/// the handle the parent passed; and again when it edits the handle text
/// to announce `ItemSwapped`'s fingerprint, which the segment's header
/// then contradicts. The refused attaches claimed nothing: a consumer of
/// the right type attaches afterwards and reads the item.
#[test]
fn e8_other_element_type_refused() {
    const TEST: &str = "e8_other_element_type_refused";
    if let Some(role) = common::role() {
        let handle = handle_from(VAR_RING);
        match role.as_str() {
            "wrong" => {
                let text = handle.to_string();
                let fields: Vec<&str> = text.splitn(6, ':').collect();
                assert_eq!(fields[2], format!("{:016x}", Item::FINGERPRINT), "the handle's fingerprint field");
                let lying_text = [
                    fields[0],
                    fields[1],
                    &format!("{:016x}", ItemSwapped::FINGERPRINT),
                    fields[3],
                    fields[4],
                    fields[5],
                ]
                .join(":");
                let lying: Handle = lying_text.parse().expect("a well-formed handle");
                for (how, handle) in [("the real handle", &handle), ("a handle announcing ItemSwapped", &lying)] {
                    expect_layout_mismatch(how, MemoryInterface::<ItemSwapped, Consumer>::load_memorybuf(handle));
                    expect_layout_mismatch(how, MemoryInterface::<ItemSwapped>::load_memorybuf(handle));
                }
            }
            "right" => {
                let mut rx =
                    MemoryInterface::<Item, Consumer>::load_memorybuf(&handle).expect("the right type attaches");
                expect_item(&rx.read_timeout(WAIT_LIMIT).expect("the item"), 7, "E8, the right type");
            }
            _ => panic!("unknown role {role}"),
        }
        return;
    }
    let mut tx = MemoryInterface::<Item>::create_named(&common::unique_name("e8"), 4).expect("create the ring");
    let name = tx.name().to_string();
    tx.write(&Item::numbered(7)).expect("room");
    let envs = [env(VAR_RING, &tx.handle())];
    Kid::spawn(TEST, "wrong", &envs).expect_success();
    assert_eq!(tx.peer_alive(), None, "a refused attach claimed the consumer side");
    Kid::spawn(TEST, "right", &envs).expect_success();
    assert_eq!(tx.len(), 0, "the right consumer read the item");
    tx.cleanup().expect("cleanup");
    assert_removed(&[name]);
}

/// Asserts `result` is `LayoutMismatch` of an [`ItemSwapped`] opener
/// against an [`Item`] ring, naming both types (fields and message).
fn expect_layout_mismatch<T>(how: &str, result: Result<T, OpenError>) {
    let Err(e) = result else { panic!("{how}: an ItemSwapped end attached to an Item ring") };
    let message = e.to_string();
    let OpenError::LayoutMismatch { expected, expected_type, found, found_type, .. } = e else {
        panic!("{how}: expected LayoutMismatch, got: {message}")
    };
    assert_eq!((expected, expected_type), (ItemSwapped::FINGERPRINT, ItemSwapped::TYPE_NAME), "{how}");
    assert_eq!((found, found_type.as_deref()), (Item::FINGERPRINT, Some(Item::TYPE_NAME)), "{how}");
    assert!(message.contains("ItemSwapped`") && message.contains("Item`"), "{how}: {message}");
}

// ---------------------------------------------------------------------------
// Closed

/// Items the producer of the `Closed` test writes.
const CLOSED_ITEMS: u64 = 1000;
/// Slots of the `Closed` test's ring.
const CLOSED_SLOTS: usize = 64;

/// A producer child writes 1000 items through 64 slots and drops its end
/// while the last 64 are still unread (the parent stops reading 64 short
/// and waits for the child to exit). The parent then reads those 64, all
/// there and in order, and only then gets `Closed` (not `PeerDead`,
/// though the process is gone too); `read` is `None` and the producer
/// side shows as let go. The other way round: a consumer child reads 2
/// items of a 4-slot ring and drops its end; the parent's next `write`,
/// with 2 slots free, is `TryWriteError::Closed` and the next
/// `write_timeout` `Closed`, long before the time asked.
#[test]
fn closed_after_the_peer_lets_go() {
    const TEST: &str = "closed_after_the_peer_lets_go";
    if let Some(role) = common::role() {
        match role.as_str() {
            "producer" => {
                let mut tx =
                    MemoryInterface::<Item>::load_memorybuf(&handle_from(VAR_RING)).expect("producer attaches");
                for i in 0..CLOSED_ITEMS {
                    tx.write_blocking(&Item::numbered(i)).unwrap_or_else(|e| panic!("producer, item {i}: {e}"));
                }
                assert_eq!(tx.written(), CLOSED_ITEMS);
            }
            "consumer" => {
                let mut rx = MemoryInterface::<Item, Consumer>::load_memorybuf(&handle_from(VAR_RING))
                    .expect("consumer attaches");
                for i in 0..2 {
                    expect_item(&rx.read_blocking().expect("an item"), i, "closed, consumer");
                }
            }
            _ => panic!("unknown role {role}"),
        }
        return;
    }
    let mut rx = MemoryInterface::<Item, Consumer>::create_named(&common::unique_name("closed"), CLOSED_SLOTS)
        .expect("create the ring");
    let mut names = vec![rx.name().to_string()];
    let kid = Kid::spawn(TEST, "producer", &[env(VAR_RING, &rx.handle())]);
    let last = CLOSED_ITEMS - CLOSED_SLOTS as u64;
    for i in 0..last {
        expect_item(&rx.read_timeout(WAIT_LIMIT).expect("an item"), i, "closed");
    }
    kid.expect_success();
    assert_eq!(rx.len(), CLOSED_SLOTS, "the last items wait in the ring");
    assert_eq!(rx.peer_alive(), None, "the producer let go");
    for i in last..CLOSED_ITEMS {
        let item;
        (rx, item) = read_blocking_bounded(rx);
        expect_item(&item.expect("an item written before the producer let go"), i, "closed, after the producer left");
    }
    let end;
    (rx, end) = read_blocking_bounded(rx);
    expect_closed("closed: read after the last item", end, "producer");
    assert_eq!((rx.read_count(), rx.read()), (CLOSED_ITEMS, None));
    rx.cleanup().expect("cleanup");

    let mut tx = MemoryInterface::<Item>::create_named(&common::unique_name("closed"), 4).expect("create the ring");
    names.push(tx.name().to_string());
    for i in 0..4 {
        tx.write(&Item::numbered(i)).expect("room");
    }
    Kid::spawn(TEST, "consumer", &[env(VAR_RING, &tx.handle())]).expect_success();
    assert_eq!(tx.len(), 2, "the consumer freed 2 slots");
    match tx.write(&Item::numbered(4)) {
        Err(TryWriteError::Closed { value, .. }) => expect_item(&value, 4, "closed: the item back"),
        other => panic!("closed: write to a ring the consumer let go: {other:?}"),
    }
    let start = Instant::now();
    expect_closed(
        "closed: waiting write to a ring the consumer let go",
        tx.write_timeout(&Item::numbered(6), WAIT_LIMIT),
        "consumer",
    );
    assert!(start.elapsed() < PROMPT, "Closed took {:?}", start.elapsed());
    tx.cleanup().expect("cleanup");
    assert_removed(&names);
}
