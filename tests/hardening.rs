//! Hardening tests: a hostile peer that writes garbage into every kind of
//! segment (issue item 7; rows D5, E4 and C4 of the test matrix in
//! `docs/RELIABILITY.md`), a process that runs out of file
//! descriptors (G1), and signals that interrupt creating and opening (G2).
//!
//! # Garbage from a peer
//!
//! For each object kind, the reading side reads in a loop in this process
//! while a scribbler thread writes random bytes through the segment's file
//! in /dev/shm (`pwrite`, as another process would through its mapping) at
//! random offsets over the header and the payload ([`Scribbler`]). The
//! random numbers come from splitmix64 seeded per test; the seed is
//! printed and `SHM_HARDENING_SEED` replays one. Every call is timed
//! ([`Tally::timed`]): none may take longer than its bound, and the whole
//! test runs on a helper thread the test waits for a bounded time
//! ([`bounded`]), so a hang fails the test instead of hanging CI. Every
//! error must belong to the families a garbled segment may produce
//! (`Corrupt`, `InvalidUtf8`, `Contended`, `LockTimeout`, ring `Corrupt`,
//! `TooLarge`, `PeerDead`, `Closed`, `Timeout`); anything else fails the
//! test. Opening the scribbled segment afresh must give an `OpenError` or
//! succeed. Then targeted sub-cases on fresh objects scribble the words
//! that must be noticed (a cell's length words, a string's data words, a
//! ring's positions, a byte ring's message headers, an array's geometry,
//! a cell's sequence words stuck odd) and assert the expected error (or
//! the defined value) appears, so corruption that goes unnoticed fails.
//!
//! # Children
//!
//! G1 and G2 run in a child (the test binary re-run in a role, see
//! `common::spawn_role`): the fd limit and the signal handler stay out of
//! the other tests. The parent waits a bounded time, asserts exit status
//! 0, and checks /dev/shm holds nothing with the child's name prefix.

mod common;

use common::{Kid, RemoveOnDrop, entries_with_prefix, exists, shm_path, unique_name};

use rustix::process::{Resource, Rlimit};
use shm_runtime::dynamic::{DynRing, DynShared, ItemType};
use shm_runtime::{
    ArrayError, ByteRing, Consumer, CreateError, Handle, MemoryInterface, OpenError, Producer, ReadError, Ring,
    RingError, SegmentName, SendError, Shared, SharedArray, SharedBool, SharedBytes, SharedInt, SharedObject,
    SharedState, SharedString, TryWriteError, WriteError,
};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Byte offset of the payload in every segment file (FORMAT.md).
const HEADER_SIZE: u64 = 128;
/// How long the scribbler runs over the whole file, per kind.
const SCRIBBLE_TIME: Duration = Duration::from_millis(500);
/// How long a targeted sub-case scribbles.
const TARGETED_TIME: Duration = Duration::from_millis(200);
/// Longest a call that takes no lock may take (a cell read gives up after
/// a 1 s budget; ring reads here wait 1 ms), with slack for a busy machine.
const CALL_BOUND: Duration = Duration::from_secs(2);
/// Longest a call that may wait for a writer lock (2 s when garbage in
/// the lock word names a live process) may take.
const LOCKING_CALL_BOUND: Duration = Duration::from_secs(8);
/// Longest a whole garbage test may run before the watchdog fails it.
const WATCHDOG: Duration = Duration::from_secs(30);
/// How long a re-open waits for a scribbled state word to become ready.
const REOPEN_WAIT: Duration = Duration::from_millis(30);
/// How long a ring read or write waits.
const RING_WAIT: Duration = Duration::from_millis(1);
/// Replays a seed: `SHM_HARDENING_SEED=1234 cargo test --test hardening`.
const SEED_ENV: &str = "SHM_HARDENING_SEED";
/// The name prefix a G1 or G2 child creates its objects under.
const VAR_PREFIX: &str = "SHM_HARDENING_PREFIX";
/// The name of the segment the G1 cleanup probe creates.
const VAR_NAME: &str = "SHM_HARDENING_NAME";

// Word indexes inside a byte cell (FORMAT.md, "the byte cell").
const CELL_LOCK: usize = 0;
/// Words of a cell before its first slot.
const CELL_PREFIX: usize = 4;
// Word indexes inside a ring's payload (FORMAT.md, "ring").
const RING_TAIL: usize = 8;
const RING_HEAD: usize = 16;
const RING_SLOTS: usize = 40;

/// The derived struct stored in `Shared`, arrays and rings: 24 bytes,
/// 3 words.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Pose {
    x: f64,
    y: f64,
    id: u32,
    flags: u32,
}

/// Data words of a [`Pose`] cell.
const POSE_WORDS: usize = 3;
/// Elements of the arrays under test.
const ARRAY_LEN: usize = 4;
/// Words of one array element: a cell of `8 + 2 * 3 = 14` words rounded
/// up to a multiple of 8 (FORMAT.md, "array").
const ARRAY_STRIDE: usize = 16;
/// Words of an array payload before its first element.
const ARRAY_PREFIX: usize = 8;

fn pose(i: u64) -> Pose {
    let id = u32::try_from(i & 0xffff_ffff).expect("masked to 32 bits");
    Pose { x: f64::from(id) * 0.5, y: -f64::from(id), id, flags: id ^ 0x5a5a }
}

// ---------------------------------------------------------------------------
// Random numbers, bounded runs, tallies

/// splitmix64: small, deterministic, good enough to pick offsets and bytes.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The seed for test `tag`: `SHM_HARDENING_SEED` if set, otherwise a hash
/// of the tag, so every run scribbles the same sequence. Printed.
fn seed(tag: &str) -> u64 {
    let seed = std::env::var(SEED_ENV).map_or_else(
        |_| tag.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)),
        |s| s.parse().unwrap_or_else(|e| panic!("{SEED_ENV}={s:?}: {e}")),
    );
    println!("{tag}: seed {seed} (replay with {SEED_ENV}={seed})");
    seed
}

/// Runs `f` on a helper thread and waits at most `limit` for it: a hang
/// fails the test (the stuck thread is left behind) instead of hanging CI.
/// A panic in `f` is the test's panic.
fn bounded<T: Send + 'static>(what: &str, limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let thread = thread::Builder::new()
        .name(what.to_owned())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn the bounded thread");
    match rx.recv_timeout(limit) {
        Ok(value) => {
            thread.join().expect("the bounded thread sent its result");
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("watchdog: {what} did not finish within {limit:?} (a hang)"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread ended without sending"),
        },
    }
}

/// How many calls ended which way, and the slowest call.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, u64>,
    calls: u64,
    slowest: Duration,
}

impl Tally {
    /// Runs one call, failing the test if it took longer than `bound`.
    fn timed<T>(&mut self, bound: Duration, what: &str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let value = f();
        let took = start.elapsed();
        assert!(took < bound, "{what} took {took:?}, over the bound of {bound:?}");
        self.calls += 1;
        self.slowest = self.slowest.max(took);
        value
    }

    fn count(&mut self, outcome: &str) {
        *self.counts.entry(outcome.to_owned()).or_default() += 1;
    }

    fn of(&self, outcome: &str) -> u64 {
        self.counts.get(outcome).copied().unwrap_or(0)
    }

    /// Asserts that every outcome counted is one of `allowed`.
    fn only(&self, what: &str, allowed: &[&str]) {
        for key in self.counts.keys() {
            assert!(allowed.contains(&key.as_str()), "{what}: unexpected outcome {key:?} ({:?})", self.counts);
        }
    }

    fn report(&self, what: &str) {
        println!("{what}: {} timed calls, slowest {:?}, outcomes {:?}", self.calls, self.slowest, self.counts);
    }
}

fn read_error_kind(e: &ReadError) -> &'static str {
    match e {
        ReadError::Corrupt { len, capacity, .. } => {
            assert!(*len > *capacity as u64, "Corrupt with a length within the capacity: {e}");
            "read: Corrupt"
        }
        ReadError::InvalidUtf8 { .. } => "read: InvalidUtf8",
        ReadError::Contended { .. } => "read: Contended",
        other => panic!("unexpected read error from a garbled cell: {other}"),
    }
}

fn write_error_kind(e: &WriteError) -> &'static str {
    match e {
        WriteError::LockTimeout { .. } => "write: LockTimeout",
        other => panic!("unexpected write error from a garbled cell: {other}"),
    }
}

fn array_error_kind(e: &ArrayError) -> &'static str {
    match e {
        ArrayError::LockTimeout { .. } => "write: LockTimeout",
        other => panic!("unexpected array error from a garbled array: {other}"),
    }
}

fn ring_error_kind(e: &RingError) -> &'static str {
    match e {
        RingError::Timeout { .. } => "ring: Timeout",
        RingError::Corrupt { .. } => "ring: Corrupt",
        RingError::TooLarge { .. } => "ring: TooLarge",
        // A scribbled role word names a dead process or "let go".
        RingError::PeerDead { .. } => "ring: PeerDead",
        RingError::Closed { .. } => "ring: Closed",
        other => panic!("unexpected ring error from a garbled ring: {other}"),
    }
}

fn open_error_kind(e: &OpenError) -> &'static str {
    match e {
        OpenError::NotInitialized { .. } => "open: NotInitialized",
        OpenError::InitAbandoned { .. } => "open: InitAbandoned",
        OpenError::BadMagic { .. } => "open: BadMagic",
        OpenError::ArchMismatch { .. } => "open: ArchMismatch",
        OpenError::VersionMismatch { .. } => "open: VersionMismatch",
        OpenError::KindMismatch { .. } => "open: KindMismatch",
        OpenError::LayoutMismatch { .. } => "open: LayoutMismatch",
        OpenError::RoleTaken { .. } => "open: RoleTaken",
        OpenError::SizeMismatch { .. } => "open: SizeMismatch",
        OpenError::PayloadMismatch { .. } => "open: PayloadMismatch",
        OpenError::HandleMismatch { .. } => "open: HandleMismatch",
        OpenError::StaleHandle { .. } => "open: StaleHandle",
        OpenError::Corrupt { .. } => "open: Corrupt",
        // A schema that hashes to a scribbled fingerprint and does not parse.
        OpenError::BadSchema { .. } => "open: BadSchema",
        // A ring end that let go found the other side's role word let go or
        // naming a dead process (a scribbled word does), so it was the last
        // one out and removed the name (README, who removes a name).
        OpenError::NotFound { .. } => "open: NotFound",
        other => panic!("unexpected open error for a garbled segment: {other}"),
    }
}

/// Counts how an open of a garbled segment ended (the object, if any, is
/// dropped: an opener removes nothing).
fn count_open<T>(tally: &mut Tally, opened: Result<T, OpenError>) {
    match opened {
        Ok(object) => {
            drop(object);
            tally.count("open: Ok");
        }
        Err(e) => tally.count(open_error_kind(&e)),
    }
}

// ---------------------------------------------------------------------------
// The scribbler

/// What the scribbler writes.
#[derive(Clone, Copy)]
enum Garbage {
    /// 1 to 8 random bytes at any byte offset of the targets.
    Bytes,
    /// One whole aligned word of the targets, made by the function.
    Words(fn(&mut SplitMix64) -> u64),
}

/// A thread that writes garbage into a segment's file until stopped.
struct Scribbler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Scribbler {
    /// Starts scribbling over `targets` (byte ranges of the file; for
    /// [`Garbage::Words`] 8-aligned with lengths multiple of 8).
    fn start(name: &SegmentName, seed: u64, targets: Vec<Range<u64>>, garbage: Garbage) -> Self {
        let file = segment_file(name);
        let len = file.metadata().expect("stat the segment").len();
        assert!(!targets.is_empty(), "nothing to scribble");
        for r in &targets {
            assert!(r.start < r.end && r.end <= len, "target {r:?} outside the file of {len} bytes");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut rng = SplitMix64(seed);
            let mut writes = 0u64;
            let count = targets.len() as u64;
            while !flag.load(Ordering::Relaxed) {
                let target = &targets[usize::try_from(rng.below(count)).expect("small")];
                let bytes;
                let (offset, data) = match garbage {
                    Garbage::Bytes => {
                        let offset = target.start + rng.below(target.end - target.start);
                        let n = (1 + rng.below(8)).min(target.end - offset);
                        bytes = rng.next().to_ne_bytes();
                        (offset, &bytes[..usize::try_from(n).expect("at most 8")])
                    }
                    Garbage::Words(make) => {
                        let offset = target.start + 8 * rng.below((target.end - target.start) / 8);
                        bytes = make(&mut rng).to_ne_bytes();
                        (offset, &bytes[..])
                    }
                };
                file.write_all_at(data, offset).expect("pwrite garbage");
                writes += 1;
                if writes.is_multiple_of(16) {
                    thread::yield_now();
                }
            }
            writes
        });
        Self { stop, thread: Some(thread) }
    }

    /// Stops the thread; returns how many writes it made.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().expect("running").join().expect("the scribbler panicked")
    }
}

impl Drop for Scribbler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn segment_file(name: &SegmentName) -> File {
    OpenOptions::new().read(true).write(true).open(shm_path(name.as_str())).expect("open the segment file")
}

/// The whole file: header and payload.
fn whole_file(name: &SegmentName) -> Vec<Range<u64>> {
    let len = std::fs::metadata(shm_path(name.as_str())).expect("stat the segment").len();
    let whole = 0..len;
    vec![whole]
}

/// Byte range of payload word `word`.
fn payload_word(word: usize) -> Range<u64> {
    let start = HEADER_SIZE + 8 * word as u64;
    start..start + 8
}

/// Writes `bytes` at file offset `offset`, as a peer would.
fn poke(name: &SegmentName, offset: u64, bytes: &[u8]) {
    segment_file(name).write_all_at(bytes, offset).expect("pwrite");
}

fn poke_word(name: &SegmentName, word: usize, value: u64) {
    poke(name, payload_word(word).start, &value.to_ne_bytes());
}

fn peek_word(name: &SegmentName, word: usize) -> u64 {
    let mut bytes = [0; 8];
    segment_file(name).read_exact_at(&mut bytes, payload_word(word).start).expect("pread");
    u64::from_ne_bytes(bytes)
}

/// Runs `step` in a loop (with the iteration number) for `time` while a
/// scribbler writes `garbage` over `targets`.
fn scribbled(
    what: &str,
    name: &SegmentName,
    seed: u64,
    targets: Vec<Range<u64>>,
    garbage: Garbage,
    time: Duration,
    mut step: impl FnMut(&mut Tally, u64),
) -> Tally {
    let scribbler = Scribbler::start(name, seed, targets, garbage);
    let mut tally = Tally::default();
    let end = Instant::now() + time;
    let mut i = 0;
    while Instant::now() < end {
        step(&mut tally, i);
        i += 1;
    }
    let writes = scribbler.finish();
    assert!(writes > 0, "{what}: the scribbler wrote nothing");
    println!("{what}: {writes} garbage writes, {i} reader iterations");
    tally
}

/// Fails unless every name is gone from /dev/shm.
fn assert_gone(names: &[String]) {
    for name in names {
        assert!(!exists(name), "{name} is left in /dev/shm");
    }
}

/// Byte ranges of the `seq` or `len` words (`field` 0 or 1) of both slots
/// of a cell of `data_words` words starting at payload word `cell`.
fn cell_slot_words(cell: usize, data_words: usize, field: usize) -> Vec<Range<u64>> {
    (0..2).map(|s| payload_word(cell + CELL_PREFIX + s * (2 + data_words) + field)).collect()
}

/// Byte ranges of the data words of both slots of a cell.
fn cell_data_words(cell: usize, data_words: usize) -> Vec<Range<u64>> {
    (0..2)
        .map(|s| {
            let first = payload_word(cell + CELL_PREFIX + s * (2 + data_words) + 2);
            first.start..first.start + 8 * data_words as u64
        })
        .collect()
}

/// A length no cell of these tests can hold.
fn huge_len(rng: &mut SplitMix64) -> u64 {
    rng.next() | 1 << 40
}

// ---------------------------------------------------------------------------
// Garbage: SharedInt, SharedBool

#[test]
fn garbage_peer_int_reads_stay_defined() {
    let names = bounded("int", WATCHDOG, || {
        let seed = seed("int");
        let int = SharedInt::create_sharedobject(7).expect("create");
        let name = int.name().clone();
        let mut tally = scribbled("int", &name, seed, whole_file(&name), Garbage::Bytes, SCRIBBLE_TIME, |t, i| {
            t.timed(CALL_BOUND, "SharedInt::read", || int.read());
            t.count("read: value");
            if i % 16 == 0 {
                t.timed(CALL_BOUND, "SharedInt::fetch_add", || int.fetch_add(1));
            }
        });
        count_open(&mut tally, SharedInt::load_sharedobject_timeout(&int.handle(), REOPEN_WAIT));
        tally.report("int");
        // Whatever a peer stores is the value read.
        for value in [0x1122_3344_5566_7788_i64, -1, i64::MIN] {
            poke(&name, HEADER_SIZE, &value.to_ne_bytes());
            assert_eq!(int.read(), value);
        }
        vec![name.to_string()]
    });
    assert_gone(&names);
}

#[test]
fn garbage_peer_bool_reads_stay_defined() {
    let names = bounded("bool", WATCHDOG, || {
        let seed = seed("bool");
        let flag = SharedBool::create_sharedobject(true).expect("create");
        let name = flag.name().clone();
        let mut tally = scribbled("bool", &name, seed, whole_file(&name), Garbage::Bytes, SCRIBBLE_TIME, |t, i| {
            t.timed(CALL_BOUND, "SharedBool::read", || flag.read());
            t.timed(CALL_BOUND, "SharedBool::read_raw", || flag.read_raw());
            t.count("read: value");
            if i % 16 == 0 {
                t.timed(CALL_BOUND, "SharedBool::swap", || flag.swap(i % 32 == 0));
            }
        });
        count_open(&mut tally, SharedBool::load_sharedobject_timeout(&flag.handle(), REOPEN_WAIT));
        tally.report("bool");
        // D5: any nonzero byte reads as true, 0 as false.
        for byte in [2_u8, 0xff, 0x80, 1, 0] {
            poke(&name, HEADER_SIZE, &[byte]);
            assert_eq!(flag.read_raw(), byte);
            assert_eq!(flag.read(), byte != 0, "byte {byte}");
        }
        vec![name.to_string()]
    });
    assert_gone(&names);
}

// ---------------------------------------------------------------------------
// Garbage: SharedString, SharedBytes

/// Capacity of the strings and byte values under test.
const CELL_CAPACITY: usize = 40;
/// Data words of such a cell.
const CELL_WORDS: usize = CELL_CAPACITY.div_ceil(8);

fn count_string_read(t: &mut Tally, read: Result<String, ReadError>) {
    match read {
        Ok(s) => {
            assert!(s.len() <= CELL_CAPACITY, "read {} bytes from a cell of {CELL_CAPACITY}", s.len());
            t.count("read: value");
        }
        Err(e) => t.count(read_error_kind(&e)),
    }
}

#[test]
fn garbage_peer_string_reads_are_values_or_errors() {
    let names = bounded("string", WATCHDOG, || {
        let seed = seed("string");
        let text = SharedString::create_sharedobject(CELL_CAPACITY).expect("create");
        let name = text.name().clone();
        let mut tally = scribbled("string", &name, seed, whole_file(&name), Garbage::Bytes, SCRIBBLE_TIME, |t, i| {
            let read = t.timed(CALL_BOUND, "SharedString::read", || text.read());
            count_string_read(t, read);
            if i % 16 == 0 {
                match t.timed(LOCKING_CALL_BOUND, "SharedString::write", || text.write("hello, world")) {
                    Ok(()) => t.count("write: ok"),
                    Err(e) => t.count(write_error_kind(&e)),
                }
            }
        });
        count_open(&mut tally, SharedString::load_sharedobject_timeout(&text.handle(), REOPEN_WAIT));
        tally.report("string (whole file)");

        // D5: a length above the capacity is Corrupt, never a longer read.
        let text = SharedString::create_sharedobject(CELL_CAPACITY).expect("create");
        let name_len = text.name().clone();
        text.write(&"a".repeat(CELL_CAPACITY)).expect("write");
        let targets = cell_slot_words(0, CELL_WORDS, 1);
        let tally =
            scribbled("string len", &name_len, seed, targets, Garbage::Words(huge_len), TARGETED_TIME, |t, _| {
                let read = t.timed(CALL_BOUND, "SharedString::read", || text.read());
                count_string_read(t, read);
            });
        tally.report("string (length words)");
        tally.only("string (length words)", &["read: value", "read: Corrupt"]);
        assert!(tally.of("read: Corrupt") > 0, "lengths above the capacity went unnoticed");

        // D5: bytes that are not UTF-8 are InvalidUtf8.
        let text = SharedString::create_sharedobject(CELL_CAPACITY).expect("create");
        let name_data = text.name().clone();
        text.write(&"b".repeat(CELL_CAPACITY)).expect("write");
        let targets = cell_data_words(0, CELL_WORDS);
        let tally = scribbled(
            "string data",
            &name_data,
            seed,
            targets,
            Garbage::Words(SplitMix64::next),
            TARGETED_TIME,
            |t, _| {
                let read = t.timed(CALL_BOUND, "SharedString::read", || text.read());
                count_string_read(t, read);
            },
        );
        tally.report("string (data words)");
        tally.only("string (data words)", &["read: value", "read: InvalidUtf8"]);
        assert!(tally.of("read: InvalidUtf8") > 0, "bytes that are not UTF-8 went unnoticed");
        vec![name.to_string(), name_len.to_string(), name_data.to_string()]
    });
    assert_gone(&names);
}

fn count_bytes_read(t: &mut Tally, read: Result<Vec<u8>, ReadError>) {
    match read {
        Ok(v) => {
            assert!(v.len() <= CELL_CAPACITY, "read {} bytes from a cell of {CELL_CAPACITY}", v.len());
            t.count("read: value");
        }
        Err(e) => t.count(read_error_kind(&e)),
    }
}

#[test]
fn garbage_peer_bytes_reads_are_values_or_errors() {
    let names = bounded("bytes", WATCHDOG, || {
        let seed = seed("bytes");
        let bytes = SharedBytes::create_sharedobject(CELL_CAPACITY).expect("create");
        let name = bytes.name().clone();
        let mut buf = [0_u8; CELL_CAPACITY];
        let mut tally = scribbled("bytes", &name, seed, whole_file(&name), Garbage::Bytes, SCRIBBLE_TIME, |t, i| {
            let read = t.timed(CALL_BOUND, "SharedBytes::read", || bytes.read());
            count_bytes_read(t, read);
            match t.timed(CALL_BOUND, "SharedBytes::read_into", || bytes.read_into(&mut buf)) {
                Ok(n) => assert!(n <= CELL_CAPACITY),
                Err(e) => t.count(read_error_kind(&e)),
            }
            if i % 16 == 0 {
                match t.timed(LOCKING_CALL_BOUND, "SharedBytes::write", || bytes.write(&[1, 2, 3, 4, 5, 6, 7, 8, 9])) {
                    Ok(()) => t.count("write: ok"),
                    Err(e) => t.count(write_error_kind(&e)),
                }
            }
        });
        count_open(&mut tally, SharedBytes::load_sharedobject_timeout(&bytes.handle(), REOPEN_WAIT));
        tally.report("bytes (whole file)");

        // D5: a length above the capacity is Corrupt.
        let bytes = SharedBytes::create_sharedobject(CELL_CAPACITY).expect("create");
        let name_len = bytes.name().clone();
        bytes.write(b"twelve bytes").expect("write");
        let targets = cell_slot_words(0, CELL_WORDS, 1);
        let tally =
            scribbled("bytes len", &name_len, seed, targets, Garbage::Words(huge_len), TARGETED_TIME, |t, _| {
                let read = t.timed(CALL_BOUND, "SharedBytes::read", || bytes.read());
                count_bytes_read(t, read);
            });
        tally.report("bytes (length words)");
        tally.only("bytes (length words)", &["read: value", "read: Corrupt"]);
        assert!(tally.of("read: Corrupt") > 0, "lengths above the capacity went unnoticed");

        // Both copies stuck "being written" (odd sequence words): the read
        // gives up with Contended within its budget instead of spinning.
        for range in cell_slot_words(0, CELL_WORDS, 0) {
            poke(&name_len, range.start, &1_u64.to_ne_bytes());
        }
        let start = Instant::now();
        let read = bytes.read();
        let took = start.elapsed();
        assert!(matches!(read, Err(ReadError::Contended { .. })), "{read:?}");
        assert!(took < CALL_BOUND, "Contended only after {took:?}");
        println!("bytes (odd sequence words): Contended after {took:?}");
        vec![name.to_string(), name_len.to_string()]
    });
    assert_gone(&names);
}

// ---------------------------------------------------------------------------
// Garbage: Shared<T>, SharedArray<T>

#[test]
fn garbage_peer_state_reads_stay_bounded() {
    let names = bounded("state", WATCHDOG, || {
        let seed = seed("state");
        let state = Shared::create_sharedobject(&pose(1)).expect("create");
        let name = state.name().clone();
        let mut tally = scribbled("state", &name, seed, whole_file(&name), Garbage::Bytes, SCRIBBLE_TIME, |t, i| {
            t.timed(LOCKING_CALL_BOUND, "Shared::read", || state.read());
            t.count("read: value");
            t.timed(LOCKING_CALL_BOUND, "Shared::read_field", || state.read_field(|f| f.id));
            if i % 16 == 0 {
                match t.timed(LOCKING_CALL_BOUND, "Shared::write", || state.write(&pose(i))) {
                    Ok(()) => t.count("write: ok"),
                    Err(e) => t.count(write_error_kind(&e)),
                }
            }
            if i % 16 == 8 {
                match t.timed(LOCKING_CALL_BOUND, "Shared::update", || state.update(|p| p.id = p.id.wrapping_add(1))) {
                    Ok(()) => t.count("write: ok"),
                    Err(e) => t.count(write_error_kind(&e)),
                }
            }
        });
        count_open(&mut tally, Shared::<Pose>::load_sharedobject_timeout(&state.handle(), REOPEN_WAIT));
        tally.report("state (whole file)");

        // Both copies stuck odd and the lock held by a live process (this
        // one): the read still ends, with the bytes of the current copy.
        let state = Shared::create_sharedobject(&pose(42)).expect("create");
        let name_stuck = state.name().clone();
        for range in cell_slot_words(0, POSE_WORDS, 0) {
            poke(&name_stuck, range.start, &0x1235_u64.to_ne_bytes());
        }
        poke_word(&name_stuck, CELL_LOCK, u64::from(std::process::id()));
        let start = Instant::now();
        assert_eq!(state.read(), pose(42));
        let took = start.elapsed();
        assert!(took < LOCKING_CALL_BOUND, "read took {took:?}");
        println!("state (odd sequence words, lock held by a live pid): read after {took:?}");
        // The lock free again: the fallback copies under the lock.
        poke_word(&name_stuck, CELL_LOCK, 0);
        let start = Instant::now();
        assert_eq!(state.read(), pose(42));
        assert!(start.elapsed() < CALL_BOUND, "read took {:?}", start.elapsed());
        vec![name.to_string(), name_stuck.to_string()]
    });
    assert_gone(&names);
}

/// Payload word of array element `i`'s cell.
fn array_cell(i: usize) -> usize {
    ARRAY_PREFIX + i * ARRAY_STRIDE
}

/// Reads every element (each must be there) and one past the end (never).
fn read_whole_array(t: &mut Tally, array: &SharedArray<Pose>) {
    for index in 0..ARRAY_LEN {
        let got = t.timed(LOCKING_CALL_BOUND, "SharedArray::get", || array.get(index));
        assert!(got.is_some(), "element {index} of {ARRAY_LEN} missing");
        t.count("read: value");
    }
    assert_eq!(array.get(ARRAY_LEN), None);
    assert_eq!(array.len(), ARRAY_LEN);
}

#[test]
fn garbage_peer_array_reads_stay_in_bounds() {
    let names = bounded("array", WATCHDOG, || {
        let seed = seed("array");
        let values: Vec<Pose> = (0..ARRAY_LEN as u64).map(pose).collect();
        let array = SharedArray::create_from_slice(&values).expect("create");
        let name = array.name().clone();
        assert_eq!(peek_word(&name, 2), ARRAY_STRIDE as u64, "stride (FORMAT.md)");
        let mut tally = scribbled("array", &name, seed, whole_file(&name), Garbage::Bytes, SCRIBBLE_TIME, |t, i| {
            read_whole_array(t, &array);
            if i % 16 == 0 {
                let index = usize::try_from(i / 16).expect("small") % ARRAY_LEN;
                match t.timed(LOCKING_CALL_BOUND, "SharedArray::set", || array.set(index, &pose(i))) {
                    Ok(()) => t.count("write: ok"),
                    Err(e) => t.count(array_error_kind(&e)),
                }
            }
        });
        count_open(&mut tally, SharedArray::<Pose>::load_sharedobject_timeout(&array.handle(), REOPEN_WAIT));
        tally.report("array (whole file)");

        // The geometry words (length, element size, stride) scribbled: the
        // open array keeps its own copy and stays in bounds; a new opener
        // refuses the array as corrupt.
        let array = SharedArray::create_from_slice(&values).expect("create");
        let name_geometry = array.name().clone();
        let targets = vec![payload_word(0), payload_word(1), payload_word(2)];
        let bump = |r: &mut SplitMix64| r.next() | 1 << 33;
        let tally =
            scribbled("array geometry", &name_geometry, seed, targets, Garbage::Words(bump), TARGETED_TIME, |t, _| {
                read_whole_array(t, &array);
                assert_eq!(array.to_vec().len(), ARRAY_LEN);
            });
        tally.report("array (geometry words)");
        assert_eq!(array.to_vec(), values, "elements changed although only the geometry words were scribbled");
        for word in 0..3 {
            assert!(peek_word(&name_geometry, word) >= 1 << 33, "geometry word {word} not scribbled");
        }
        let reopened = SharedArray::<Pose>::load_sharedobject_timeout(&array.handle(), REOPEN_WAIT);
        assert!(matches!(reopened, Err(OpenError::Corrupt { .. })), "{reopened:?}");

        // An element's copies stuck odd: its read ends (under the lock)
        // with the current copy; the other elements are untouched.
        let array = SharedArray::create_from_slice(&values).expect("create");
        let name_stuck = array.name().clone();
        for range in cell_slot_words(array_cell(2), POSE_WORDS, 0) {
            poke(&name_stuck, range.start, &3_u64.to_ne_bytes());
        }
        let start = Instant::now();
        assert_eq!(array.get(2), Some(values[2]));
        assert!(start.elapsed() < CALL_BOUND, "read took {:?}", start.elapsed());
        assert_eq!(array.to_vec(), values);
        vec![name.to_string(), name_geometry.to_string(), name_stuck.to_string()]
    });
    assert_gone(&names);
}

// ---------------------------------------------------------------------------
// Garbage: MemoryInterface, ByteRing

/// Slots of the rings under test.
const RING_CAPACITY: usize = 8;

/// A position far from any other: bit 63 set.
fn far_position(rng: &mut SplitMix64) -> u64 {
    rng.next() | 1 << 63
}

/// Counts a ring outcome; after a `Corrupt`, checks that it is sticky
/// (`error()` reports it) and returns `true` (the end must be replaced).
fn count_ring(t: &mut Tally, outcome: Result<(), RingError>, error: impl FnOnce() -> Option<RingError>) -> bool {
    match outcome {
        Ok(()) => {
            t.count("ring: value");
            false
        }
        Err(e) => {
            t.count(ring_error_kind(&e));
            let corrupt = matches!(e, RingError::Corrupt { .. });
            if corrupt {
                assert_eq!(error(), Some(e), "a Corrupt error is not sticky");
            }
            corrupt
        }
    }
}

/// Consumer reads while a scribbler writes `garbage` over `targets`; a
/// consumer found corrupt is checked sticky, dropped and opened again.
fn scribble_ring_consumer(
    what: &str,
    seed: u64,
    targets: Option<Vec<Range<u64>>>,
    garbage: Garbage,
    time: Duration,
) -> (Tally, String) {
    let mut producer = MemoryInterface::<Pose>::create_memorybuf(RING_CAPACITY).expect("create");
    let name = producer.name().clone();
    let handle = producer.handle();
    let mut consumer = Some(MemoryInterface::<Pose, Consumer>::load_sharedobject(&handle).expect("open"));
    let targets = targets.unwrap_or_else(|| whole_file(&name));
    let mut tally = scribbled(what, &name, seed, targets, garbage, time, |t, i| {
        if i % 2 == 0 {
            match t.timed(CALL_BOUND, "MemoryInterface::write", || producer.write(&pose(i))) {
                Ok(()) => t.count("push: ok"),
                Err(TryWriteError::Full(_)) => t.count("push: Full"),
                // The consumer's role word scribbled to "let go", or the
                // consumer dropped after a corruption.
                Err(TryWriteError::Closed { .. }) => t.count("push: Closed"),
                // ... or to the identity of a process that does not exist.
                Err(TryWriteError::PeerDead { .. }) => t.count("push: PeerDead"),
                Err(e) => panic!("unexpected write error: {e}"),
            }
        }
        if let Some(c) = consumer.as_mut() {
            let read = t.timed(CALL_BOUND, "MemoryInterface::read_timeout", || c.read_timeout(RING_WAIT));
            let replace = count_ring(t, read.map(|_| ()), || c.error());
            if replace {
                let again = t.timed(CALL_BOUND, "MemoryInterface::read_timeout", || c.read_timeout(RING_WAIT));
                assert!(matches!(again, Err(RingError::Corrupt { .. })), "not sticky: {again:?}");
                consumer = None;
            }
        } else if i % 8 == 0 {
            let opened = MemoryInterface::<Pose, Consumer>::load_sharedobject_timeout(&handle, REOPEN_WAIT);
            match opened {
                Ok(c) => {
                    t.count("open: Ok");
                    consumer = Some(c);
                }
                Err(e) => t.count(open_error_kind(&e)),
            }
        }
    });
    drop(consumer);
    count_open(&mut tally, MemoryInterface::<Pose, Consumer>::load_sharedobject_timeout(&handle, REOPEN_WAIT));
    (tally, name.to_string())
}

#[test]
fn garbage_peer_ring_consumer_gets_values_or_sticky_corrupt() {
    let names = bounded("ring", WATCHDOG, || {
        let seed = seed("ring");
        let (tally, name) = scribble_ring_consumer("ring", seed, None, Garbage::Bytes, SCRIBBLE_TIME);
        tally.report("ring (whole file)");

        // E4: a garbage write position is noticed, sticky.
        let targets = Some(vec![payload_word(RING_TAIL)]);
        let (tally, name_tail) =
            scribble_ring_consumer("ring tail", seed, targets, Garbage::Words(far_position), TARGETED_TIME);
        tally.report("ring (write position)");
        assert!(tally.of("ring: Corrupt") > 0, "a garbage write position went unnoticed");

        // Garbage in the slots: every bit pattern is a `Pose`, so reads
        // return values; the positions are intact, so nothing is corrupt.
        let targets = Some(ring_slots(RING_CAPACITY, POSE_WORDS));
        let (tally, name_slots) = scribble_ring_consumer("ring slots", seed, targets, Garbage::Bytes, TARGETED_TIME);
        tally.report("ring (slots)");
        tally.only("ring (slots)", &["push: ok", "push: Full", "ring: value", "ring: Timeout", "open: Ok"]);
        assert!(tally.of("ring: value") > 0, "no value read from a ring with garbage slots");

        // E4: a garbage read position is noticed by the producer, sticky.
        let mut producer = MemoryInterface::<Pose>::create_memorybuf(RING_CAPACITY).expect("create");
        let name_head = producer.name().clone();
        let targets = vec![payload_word(RING_HEAD)];
        let mut corrupt_seen = false;
        let tally =
            scribbled("ring head", &name_head, seed, targets, Garbage::Words(far_position), TARGETED_TIME, |t, i| {
                let wrote = t.timed(CALL_BOUND, "MemoryInterface::write_timeout", || {
                    producer.write_timeout(&pose(i), RING_WAIT)
                });
                if corrupt_seen {
                    assert!(matches!(wrote, Err(RingError::Corrupt { .. })), "not sticky: {wrote:?}");
                }
                corrupt_seen |= count_ring(t, wrote, || producer.error());
            });
        tally.report("ring (read position)");
        // Timeout: the ring is full before the first garbage lands.
        tally.only("ring (read position)", &["ring: value", "ring: Timeout", "ring: Corrupt"]);
        assert!(tally.of("ring: Corrupt") > 0, "a garbage read position went unnoticed");
        assert!(producer.write(&pose(0)).is_err(), "a corrupt producer wrote");
        vec![name, name_tail, name_slots, name_head.to_string()]
    });
    assert_gone(&names);
}

/// The run-time-typed ring and value: a `DynRing` consumer opened with
/// the segment's own type, and a `DynShared` opened the same way, read
/// (and written) while garbage lands anywhere in their files; every
/// outcome is a value or an error of the families above, and opening the
/// scribbled segment afresh, with no type of its own, an `OpenError` or
/// success.
#[test]
fn garbage_peer_dyn_ring_and_dyn_shared_stay_defined() {
    let names = bounded("dynamic", WATCHDOG, || {
        let seed = seed("dynamic");
        let item = ItemType::of::<Pose>();
        let mut producer = DynRing::<Producer>::create(&item, RING_CAPACITY).expect("create");
        let name = producer.name().clone();
        let handle = producer.handle();
        let open = |wait| DynRing::<Consumer>::load(&handle, None, &shm_runtime::OpenOptions::new().wait(wait));
        let mut consumer = Some(open(Duration::from_secs(1)).expect("open"));
        let bytes = |i: u64| {
            let p = pose(i);
            [&p.x.to_ne_bytes()[..], &p.y.to_ne_bytes(), &p.id.to_ne_bytes(), &p.flags.to_ne_bytes()].concat()
        };
        let mut out = vec![0; item.size()];
        let mut tally = scribbled("dyn ring", &name, seed, whole_file(&name), Garbage::Bytes, SCRIBBLE_TIME, |t, i| {
            if i % 2 == 0 {
                match t.timed(CALL_BOUND, "DynRing::write", || producer.write(&bytes(i))) {
                    Ok(()) => t.count("push: ok"),
                    Err(SendError::Full) => t.count("push: Full"),
                    Err(SendError::Closed) => t.count("push: Closed"),
                    Err(SendError::PeerDead { .. }) => t.count("push: PeerDead"),
                    Err(e) => panic!("unexpected write error: {e}"),
                }
            }
            if let Some(c) = consumer.as_mut() {
                let read = t.timed(CALL_BOUND, "DynRing::read_timeout", || c.read_timeout(&mut out, RING_WAIT));
                if count_ring(t, read, || c.error()) {
                    consumer = None;
                }
            } else if i % 8 == 0 {
                match open(REOPEN_WAIT) {
                    Ok(c) => {
                        t.count("open: Ok");
                        consumer = Some(c);
                    }
                    Err(e) => t.count(open_error_kind(&e)),
                }
            }
        });
        drop(consumer);
        count_open(&mut tally, open(REOPEN_WAIT));
        tally.report("dyn ring (whole file)");

        let value = DynShared::create(&item, &bytes(1)).expect("create");
        let name_value = value.name().clone();
        let handle = value.handle();
        let mut tally = scribbled(
            "dyn shared",
            &name_value,
            seed,
            whole_file(&name_value),
            Garbage::Bytes,
            SCRIBBLE_TIME,
            |t, i| {
                t.timed(LOCKING_CALL_BOUND, "DynShared::read", || value.read(&mut out)).expect("the right size");
                t.count("read: value");
                if i % 16 == 0 {
                    match t.timed(LOCKING_CALL_BOUND, "DynShared::write", || value.write(&bytes(i))) {
                        Ok(()) => t.count("write: ok"),
                        Err(e) => t.count(write_error_kind(&e)),
                    }
                }
            },
        );
        let opened = DynShared::load(&handle, None, &shm_runtime::OpenOptions::new().wait(REOPEN_WAIT));
        count_open(&mut tally, opened);
        tally.report("dyn shared (whole file)");
        vec![name.to_string(), name_value.to_string()]
    });
    assert_gone(&names);
}

/// Slot size of the byte rings under test.
const SLOT_SIZE: usize = 32;
/// Words of one byte ring slot: a header word and the bytes.
const BYTE_SLOT_WORDS: usize = 1 + SLOT_SIZE / 8;
/// The consumer's message limit, below the slot size so that garbage
/// lengths can be over it.
const MAX_MESSAGE: usize = 16;

/// Opens a byte ring's consumer with the test's message limit.
fn open_byte_consumer(handle: &Handle) -> Result<ByteRing<Consumer>, OpenError> {
    ByteRing::<Consumer>::load_sharedobject_timeout(handle, REOPEN_WAIT).map(|mut c| {
        c.set_max_message_len(MAX_MESSAGE);
        c
    })
}

/// [`scribble_ring_consumer`] for a byte ring: the producer writes
/// messages of 1 to 16 bytes, the consumer reads them (each within its
/// limit) or an error.
fn scribble_byte_ring_consumer(
    what: &str,
    seed: u64,
    targets: Option<Vec<Range<u64>>>,
    garbage: Garbage,
    time: Duration,
) -> (Tally, String) {
    let mut producer = ByteRing::<Producer>::create_memorybuf(SLOT_SIZE, RING_CAPACITY).expect("create");
    let name = producer.name().clone();
    let handle = producer.handle();
    let mut consumer = Some(open_byte_consumer(&handle).expect("open"));
    let mut message = Vec::new();
    let targets = targets.unwrap_or_else(|| whole_file(&name));
    let mut tally = scribbled(what, &name, seed, targets, garbage, time, |t, i| {
        let len = usize::try_from(i % MAX_MESSAGE as u64).expect("small") + 1;
        match t.timed(CALL_BOUND, "ByteRing::write", || producer.write(&[0xab; MAX_MESSAGE][..len])) {
            Ok(()) => t.count("push: ok"),
            Err(SendError::Full) => t.count("push: Full"),
            // The consumer's role word scribbled to "let go", or the
            // consumer dropped after a corruption.
            Err(SendError::Closed) => t.count("push: Closed"),
            // ... or to the identity of a process that does not exist.
            Err(SendError::PeerDead { .. }) => t.count("push: PeerDead"),
            Err(e) => panic!("unexpected send error: {e}"),
        }
        if let Some(c) = consumer.as_mut() {
            let read = t.timed(CALL_BOUND, "ByteRing::read_timeout", || c.read_timeout(&mut message, RING_WAIT));
            if read.is_ok() {
                assert!(message.len() <= MAX_MESSAGE, "a message of {} bytes over the limit", message.len());
            }
            if count_ring(t, read, || c.error()) {
                let again = t.timed(CALL_BOUND, "ByteRing::read", || c.read(&mut message));
                assert!(matches!(again, Err(RingError::Corrupt { .. })), "not sticky: {again:?}");
                consumer = None;
            }
        } else if i % 8 == 0 {
            match open_byte_consumer(&handle) {
                Ok(c) => {
                    t.count("open: Ok");
                    consumer = Some(c);
                }
                Err(e) => t.count(open_error_kind(&e)),
            }
        }
    });
    drop(consumer);
    count_open(&mut tally, open_byte_consumer(&handle));
    (tally, name.to_string())
}

/// Byte ranges of the first `slots` slots of a ring of `slot_words`.
fn ring_slots(slots: usize, slot_words: usize) -> Vec<Range<u64>> {
    let slots = payload_word(RING_SLOTS).start..payload_word(RING_SLOTS + slots * slot_words).start;
    vec![slots]
}

#[test]
fn garbage_peer_byte_ring_consumer_gets_messages_or_errors() {
    let names = bounded("byte ring", WATCHDOG, || {
        let seed = seed("byte ring");
        let open = open_byte_consumer;
        let mut message = Vec::new();
        let (tally, name) = scribble_byte_ring_consumer("byte ring", seed, None, Garbage::Bytes, SCRIBBLE_TIME);
        tally.report("byte ring (whole file)");

        // Garbage in the slots (headers and bytes): messages within the
        // limit, or a message header found corrupt, or too large.
        let targets = Some(ring_slots(RING_CAPACITY, BYTE_SLOT_WORDS));
        let (tally, name_slots) =
            scribble_byte_ring_consumer("byte ring slots", seed, targets, Garbage::Bytes, TARGETED_TIME);
        tally.report("byte ring (slots)");
        assert!(tally.of("ring: Corrupt") + tally.of("ring: TooLarge") > 0, "garbage message headers went unnoticed");

        // E4: a garbage write position is noticed.
        let producer = ByteRing::<Producer>::create_memorybuf(SLOT_SIZE, RING_CAPACITY).expect("create");
        let name_tail = producer.name().clone();
        let mut consumer = open(&producer.handle()).expect("open");
        let targets = vec![payload_word(RING_TAIL)];
        let mut corrupt_seen = false;
        let tally = scribbled(
            "byte ring tail",
            &name_tail,
            seed,
            targets,
            Garbage::Words(far_position),
            TARGETED_TIME,
            |t, _| {
                let read =
                    t.timed(CALL_BOUND, "ByteRing::read_timeout", || consumer.read_timeout(&mut message, RING_WAIT));
                if corrupt_seen {
                    assert!(matches!(read, Err(RingError::Corrupt { .. })), "not sticky: {read:?}");
                }
                corrupt_seen |= count_ring(t, read, || consumer.error());
            },
        );
        tally.report("byte ring (write position)");
        tally.only("byte ring (write position)", &["ring: Timeout", "ring: Corrupt"]);
        assert!(corrupt_seen, "a garbage write position went unnoticed");

        // Garbage message headers (lengths over the slot) are Corrupt.
        let mut producer = ByteRing::<Producer>::create_memorybuf(SLOT_SIZE, RING_CAPACITY).expect("create");
        let name_headers = producer.name().clone();
        assert_eq!(peek_word(&name_headers, 1), BYTE_SLOT_WORDS as u64, "slot words (FORMAT.md)");
        let mut consumer = open(&producer.handle()).expect("open");
        for _ in 0..RING_CAPACITY {
            producer.write(b"ten bytes!").expect("room");
        }
        let mut rng = SplitMix64(seed);
        for slot in 0..RING_CAPACITY {
            poke_word(&name_headers, RING_SLOTS + slot * BYTE_SLOT_WORDS, huge_len(&mut rng) & !(1 << 62));
        }
        let read = consumer.read(&mut message);
        assert!(matches!(read, Err(RingError::Corrupt { what: "message header", .. })), "{read:?}");
        assert!(matches!(consumer.read(&mut message), Err(RingError::Corrupt { .. })), "not sticky");
        vec![name, name_slots, name_tail.to_string(), name_headers.to_string()]
    });
    assert_gone(&names);
}

// ---------------------------------------------------------------------------
// C4: header garbage on open

/// Scribbles the magic, then the whole header, of a fresh segment and
/// checks `open` refuses it: `BadMagic` naming the bytes found, then an
/// error of the header families.
fn refuse_header_garbage(
    what: &str,
    rng: &mut SplitMix64,
    name: &SegmentName,
    open: impl Fn() -> Result<(), OpenError>,
) {
    open().unwrap_or_else(|e| panic!("{what}: the intact segment does not open: {e}"));
    let mut magic = rng.next().to_ne_bytes();
    magic[0] = b'X';
    poke(name, 0, &magic);
    match open() {
        Err(OpenError::BadMagic { found, .. }) => assert_eq!(found, magic, "{what}"),
        other => panic!("{what}: a foreign magic opened as {other:?}"),
    }
    let mut header = [0_u8; 128];
    header.chunks_mut(8).for_each(|c| c.copy_from_slice(&rng.next().to_ne_bytes()));
    poke(name, 0, &header);
    let mut tally = Tally::default();
    match tally.timed(CALL_BOUND, "open", open) {
        Ok(()) => panic!("{what}: a header of random bytes opened"),
        Err(e) => tally.count(open_error_kind(&e)),
    }
    println!("{what}: a random header gives {:?}", tally.counts);
}

#[test]
fn c4_header_garbage_is_refused_by_every_kind() {
    let names = bounded("c4", WATCHDOG, || {
        let mut rng = SplitMix64(seed("c4"));
        let mut names = Vec::new();
        let int = SharedInt::create_sharedobject(1).expect("create");
        let h = int.handle();
        refuse_header_garbage("int", &mut rng, int.name(), || SharedInt::load_sharedobject(&h).map(drop));
        let flag = SharedBool::create_sharedobject(true).expect("create");
        let h = flag.handle();
        refuse_header_garbage("bool", &mut rng, flag.name(), || SharedBool::load_sharedobject(&h).map(drop));
        let text = SharedString::create_sharedobject(8).expect("create");
        let h = text.handle();
        refuse_header_garbage("string", &mut rng, text.name(), || SharedString::load_sharedobject(&h).map(drop));
        let bytes = SharedBytes::create_sharedobject(8).expect("create");
        let h = bytes.handle();
        refuse_header_garbage("bytes", &mut rng, bytes.name(), || SharedBytes::load_sharedobject(&h).map(drop));
        let state = Shared::create_sharedobject(&pose(3)).expect("create");
        let h = state.handle();
        refuse_header_garbage("state", &mut rng, state.name(), || Shared::<Pose>::load_sharedobject(&h).map(drop));
        let array = SharedArray::<Pose>::create_sharedobject(2).expect("create");
        let h = array.handle();
        refuse_header_garbage("array", &mut rng, array.name(), || SharedArray::<Pose>::load_sharedobject(&h).map(drop));
        let items = MemoryInterface::<Pose>::create_memorybuf(2).expect("create");
        let h = items.handle();
        refuse_header_garbage("ring", &mut rng, items.name(), || {
            MemoryInterface::<Pose, Consumer>::load_sharedobject(&h).map(drop)
        });
        let byte_ring = ByteRing::<Producer>::create_memorybuf(16, 2).expect("create");
        let h = byte_ring.handle();
        refuse_header_garbage("byte ring", &mut rng, byte_ring.name(), || {
            ByteRing::<Consumer>::load_sharedobject(&h).map(drop)
        });
        for name in [int.name(), flag.name(), text.name(), bytes.name(), state.name()] {
            names.push(name.to_string());
        }
        let item = ItemType::of::<Pose>();
        let dyn_items = DynRing::<Producer>::create(&item, 2).expect("create");
        let h = dyn_items.handle();
        refuse_header_garbage("dyn ring", &mut rng, dyn_items.name(), || {
            DynRing::<Consumer>::load(&h, None, &shm_runtime::OpenOptions::new()).map(drop)
        });
        let dyn_value = DynShared::create(&item, &[0; 24]).expect("create");
        let h = dyn_value.handle();
        refuse_header_garbage("dyn shared", &mut rng, dyn_value.name(), || DynShared::load_sharedobject(&h).map(drop));
        for name in [array.name(), items.name(), byte_ring.name(), dyn_items.name(), dyn_value.name()] {
            names.push(name.to_string());
        }
        names
    });
    assert_gone(&names);
}

// ---------------------------------------------------------------------------
// G1: a child with at most 16 file descriptors

/// Open file descriptors of this process (the directory's own fd aside).
/// What each open descriptor refers to.
fn fd_targets() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("list /proc/self/fd").count() - 1
}

/// Opens /dev/null until the fd limit is reached (`EMFILE`); the files are
/// the fds held.
fn exhaust_fds() -> Vec<File> {
    let mut held = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "opening /dev/null failed otherwise: {e}");
                return held;
            }
        }
        assert!(held.len() <= 16, "the fd limit of 16 does not hold");
    }
}

fn lower_fd_limit() {
    rustix::process::setrlimit(Resource::Nofile, Rlimit { current: Some(16), maximum: Some(16) })
        .expect("lower RLIMIT_NOFILE to 16");
}

/// Asserts a create failed at `open` (of /dev/shm/<name>) with `EMFILE`, saying so.
fn expect_emfile_create<T>(what: &str, created: Result<T, CreateError>) {
    let Err(e) = created else { panic!("{what}: created with no fd left") };
    let text = e.to_string();
    match &e {
        CreateError::Io { op: "open", source, .. } => {
            assert_eq!(source.raw_os_error(), Some(libc::EMFILE), "{what}: {text}");
        }
        other => panic!("{what}: expected an `open` EMFILE error, got {other:?}"),
    }
    assert!(text.contains(": open failed: "), "{what}: the message does not name the failing call: {text}");
    println!("{what}: {text}");
}

/// Asserts an open failed at `open` (of /dev/shm/<name>) with `EMFILE`, saying so.
fn expect_emfile_open<T>(what: &str, opened: Result<T, OpenError>) {
    let Err(e) = opened else { panic!("{what}: opened with no fd left") };
    let text = e.to_string();
    match &e {
        OpenError::Io { op: "open", source, .. } => {
            assert_eq!(source.raw_os_error(), Some(libc::EMFILE), "{what}: {text}");
        }
        other => panic!("{what}: expected an `open` EMFILE error, got {other:?}"),
    }
    assert!(text.contains(": open failed: "), "{what}: the message does not name the failing call: {text}");
}

/// Objects of every kind made by the G1 child, `G1_EACH` of each.
#[derive(Default)]
struct Zoo {
    ints: Vec<(SharedInt, SharedInt)>,
    flags: Vec<SharedBool>,
    texts: Vec<(SharedString, SharedString)>,
    states: Vec<Shared<Pose>>,
    arrays: Vec<SharedArray<Pose>>,
    rings: Vec<(MemoryInterface<Pose>, MemoryInterface<Pose, Consumer>)>,
    byte_rings: Vec<(ByteRing, ByteRing<Consumer>)>,
}

/// Objects of each kind the G1 child makes: 8 kinds-and-openers of 8 make
/// 80 mappings, five times the fd limit.
const G1_EACH: usize = 8;

impl Zoo {
    fn create(prefix: &str) -> Self {
        let mut zoo = Self::default();
        for i in 0..G1_EACH {
            let n = |kind: &str| format!("{prefix}-{kind}{i}");
            let k = i64::try_from(i).expect("small");
            let int = SharedInt::create_named(&n("int"), k).expect("create int");
            let peer = SharedInt::load_sharedobject(&int.handle()).expect("open int");
            zoo.ints.push((int, peer));
            zoo.flags.push(SharedBool::create_named(&n("bool"), false).expect("create bool"));
            let text = SharedString::create_named(&n("string"), 16).expect("create string");
            let peer = SharedString::load_sharedobject(&text.handle()).expect("open string");
            zoo.texts.push((text, peer));
            zoo.states.push(Shared::create_named(&n("state"), &pose(0)).expect("create state"));
            zoo.arrays.push(SharedArray::create_named(&n("array"), 2).expect("create array"));
            let producer = MemoryInterface::create_named(&n("ring"), 4).expect("create ring");
            let consumer = MemoryInterface::load_sharedobject(&producer.handle()).expect("open ring");
            zoo.rings.push((producer, consumer));
            let producer = ByteRing::<Producer>::create_named(&n("bytering"), 16, 4).expect("create byte ring");
            let consumer = ByteRing::load_sharedobject(&producer.handle()).expect("open byte ring");
            zoo.byte_rings.push((producer, consumer));
        }
        zoo
    }

    /// Writes through every object and reads the value back (through the
    /// opener where there is one).
    fn round_trip(&mut self, round: u64) {
        let k = i64::try_from(round).expect("small");
        for (int, peer) in &self.ints {
            int.write(k);
            assert_eq!(peer.read(), k);
        }
        for flag in &self.flags {
            flag.write(round % 2 == 1);
            assert_eq!(flag.read(), round % 2 == 1);
        }
        for (text, peer) in &self.texts {
            text.write(&format!("round {round}")).expect("write string");
            assert_eq!(peer.read().expect("read string"), format!("round {round}"));
        }
        for state in &self.states {
            state.write(&pose(round)).expect("write state");
            assert_eq!(state.read(), pose(round));
        }
        for array in &self.arrays {
            array.set(1, &pose(round)).expect("set element");
            assert_eq!(array.get(1), Some(pose(round)));
        }
        for (producer, consumer) in &mut self.rings {
            producer.write(&pose(round)).expect("ring has room");
            assert_eq!(consumer.read(), Some(pose(round)));
        }
        let mut message = Vec::new();
        for (producer, consumer) in &mut self.byte_rings {
            producer.write(&round.to_ne_bytes()).expect("byte ring has room");
            assert_eq!(consumer.read(&mut message), Ok(true));
            assert_eq!(message, round.to_ne_bytes());
        }
    }

    /// Removes every name (creators) and unmaps everything.
    fn cleanup(self) {
        for (int, peer) in self.ints {
            peer.cleanup().expect("cleanup int opener");
            int.cleanup().expect("cleanup int");
        }
        self.flags.into_iter().for_each(|f| f.cleanup().expect("cleanup bool"));
        for (text, peer) in self.texts {
            peer.cleanup().expect("cleanup string opener");
            text.cleanup().expect("cleanup string");
        }
        self.states.into_iter().for_each(|s| s.cleanup().expect("cleanup state"));
        self.arrays.into_iter().for_each(|a| a.cleanup().expect("cleanup array"));
        for (producer, consumer) in self.rings {
            consumer.cleanup().expect("cleanup ring consumer");
            producer.cleanup().expect("cleanup ring");
        }
        for (producer, consumer) in self.byte_rings {
            consumer.cleanup().expect("cleanup byte ring consumer");
            producer.cleanup().expect("cleanup byte ring");
        }
    }
}

fn g1_child() {
    let prefix = std::env::var(VAR_PREFIX).expect("prefix from the parent");
    lower_fd_limit();
    let fds = open_fds();
    assert!(fds < 16, "{fds} fds open already");
    let before = fd_targets();
    let mut zoo = Zoo::create(&prefix);
    // The one descriptor shm keeps is the process's liveness lock file
    // (FORMAT.md, Process identity), opened once per process.
    let kept: Vec<String> = fd_targets().into_iter().filter(|t| !before.contains(t)).collect();
    assert!(
        kept.len() <= 1 && kept.iter().all(|t| t.starts_with("/dev/shm/.shmrs-live-")),
        "objects keep fds open: {kept:?}"
    );
    let fds = open_fds();
    zoo.round_trip(1);

    let held = exhaust_fds();
    println!("g1: {fds} fds open, {} more held until EMFILE", held.len());
    let n = |kind: &str| format!("{prefix}-x-{kind}");
    expect_emfile_create("SharedInt", SharedInt::create_named(&n("int"), 0));
    expect_emfile_create("SharedInt (generated name)", SharedInt::create_sharedobject(0));
    expect_emfile_create("SharedBool", SharedBool::create_named(&n("bool"), true));
    expect_emfile_create("SharedString", SharedString::create_named(&n("string"), 8));
    expect_emfile_create("SharedBytes", SharedBytes::create_named(&n("bytes"), 8));
    expect_emfile_create("Shared", Shared::create_named(&n("state"), &pose(1)));
    expect_emfile_create("SharedArray", SharedArray::<Pose>::create_named(&n("array"), 2));
    expect_emfile_create("MemoryInterface", MemoryInterface::<Pose>::create_named(&n("ring"), 2));
    expect_emfile_create("ByteRing", ByteRing::<Consumer>::create_named(&n("bytering"), 8, 2));
    let (int, _) = &zoo.ints[0];
    expect_emfile_open("SharedInt", SharedInt::load_sharedobject(&int.handle()));
    expect_emfile_open("SharedString", SharedString::load_sharedobject(&zoo.texts[0].0.handle()));
    expect_emfile_open("Shared", Shared::<Pose>::load_sharedobject(&zoo.states[0].handle()));
    expect_emfile_open("SharedArray", SharedArray::<Pose>::load_sharedobject(&zoo.arrays[0].handle()));
    // (No directory listing here: it needs an fd.)
    for kind in ["int", "bool", "string", "bytes", "state", "array", "ring", "bytering"] {
        assert!(!exists(&n(kind)), "the failed create of {kind} left its name behind");
    }

    // Everything made before keeps working with no fd left.
    zoo.round_trip(2);

    // One fd free: creating works again (and cleans up).
    let mut held = held;
    held.pop();
    let again = SharedInt::create_named(&n("again"), 5).expect("create with one fd free");
    assert_eq!(again.read(), 5);
    again.cleanup().expect("cleanup with one fd free");

    drop(held);
    zoo.round_trip(3);
    zoo.cleanup();
    let left: Vec<String> = entries_with_prefix(&prefix).into_iter().collect();
    assert!(left.is_empty(), "left in /dev/shm: {left:?}");
}

#[test]
fn g1_fd_limit_of_16_gives_clean_errors_and_keeps_objects_working() {
    if let Some(role) = common::role() {
        if role == "g1" {
            g1_child();
        }
        return;
    }
    let prefix = unique_name("g1");
    let start = Instant::now();
    Kid::spawn("g1_fd_limit_of_16_gives_clean_errors_and_keeps_objects_working", "g1", &[(VAR_PREFIX, prefix.clone())])
        .expect_success();
    println!("g1: child done in {:?}", start.elapsed());
    let left = entries_with_prefix(&prefix);
    for name in &left {
        common::remove(name);
    }
    assert!(left.is_empty(), "the child left {left:?}");
}

fn g1_cleanup_child() {
    let name = std::env::var(VAR_NAME).expect("name from the parent");
    lower_fd_limit();
    let int = SharedInt::create_named(&name, 1).expect("create");
    let held = exhaust_fds();
    let cleaned = int.cleanup();
    drop(held);
    if let Err(e) = &cleaned {
        println!("g1 cleanup with no fd left: {e}");
    }
    assert!(!exists(&name), "the creator's cleanup with no fd left kept the name ({cleaned:?})");
    cleaned.expect("cleanup removed the name yet failed");
    let dropped = format!("{name}-drop");
    let int = SharedInt::create_named(&dropped, 1).expect("create");
    let held = exhaust_fds();
    drop(int);
    drop(held);
    assert!(!exists(&dropped), "the creator's drop with no fd left kept the name");
}

/// G1: a creator that cleans up (or drops) while the process has no fd
/// left still removes its name (promise 4, G3). Cleanup once opened the
/// name to compare inodes, failed with `EMFILE` and left it behind.
#[test]
fn g1_creator_cleanup_with_no_fd_left_removes_the_name() {
    if let Some(role) = common::role() {
        if role == "g1-cleanup" {
            g1_cleanup_child();
        }
        return;
    }
    let name = unique_name("g1c");
    let _remove = (RemoveOnDrop(name.clone()), RemoveOnDrop(format!("{name}-drop")));
    Kid::spawn("g1_creator_cleanup_with_no_fd_left_removes_the_name", "g1-cleanup", &[(VAR_NAME, name.clone())])
        .expect_success();
    assert!(!exists(&name), "{name} left behind");
    assert!(!exists(&format!("{name}-drop")), "{name}-drop left behind");
}

// ---------------------------------------------------------------------------
// G2: signals interrupting create and open

/// Signals the G2 child's handler has run.
static SIGNALS: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

/// Installs [`count_signal`] for `SIGUSR1` without `SA_RESTART`, so that
/// interrupted system calls fail with `EINTR`.
fn install_handler() {
    // SAFETY: an all-zero `sigaction` is a valid value (empty mask, no
    // flags) that the fields below complete.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = 0;
    // SAFETY: `sa_mask` is a valid, writable signal set.
    let emptied = unsafe { libc::sigemptyset(&raw mut action.sa_mask) };
    assert_eq!(emptied, 0);
    // SAFETY: the action is fully initialized; the handler only touches an
    // atomic, which is async-signal-safe.
    let installed = unsafe { libc::sigaction(libc::SIGUSR1, &raw const action, std::ptr::null_mut()) };
    assert_eq!(installed, 0, "sigaction: {}", std::io::Error::last_os_error());
}

/// Create-and-open cycles the G2 child runs.
const G2_CYCLES: u64 = 2000;

/// One create/open/use/drop cycle of kind `i % 6`; every call must
/// succeed although signals keep interrupting it.
fn g2_cycle(prefix: &str, i: u64) {
    let name = format!("{prefix}-{i}");
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! { panic!("cycle {i}: {what} failed under signals: {e}") };
    match i % 6 {
        0 => {
            let int = SharedInt::create_named(&name, 3).unwrap_or_else(|e| fail("create int", &e));
            let peer = SharedInt::load_sharedobject(&int.handle()).unwrap_or_else(|e| fail("open int", &e));
            assert_eq!(peer.read(), 3);
        }
        1 => {
            let text = SharedString::create_named(&name, 32).unwrap_or_else(|e| fail("create string", &e));
            let peer = SharedString::load_sharedobject(&text.handle()).unwrap_or_else(|e| fail("open string", &e));
            peer.write("interrupted?").unwrap_or_else(|e| fail("write string", &e));
            assert_eq!(text.read().unwrap_or_else(|e| fail("read string", &e)), "interrupted?");
        }
        2 => {
            let state = Shared::create_named(&name, &pose(i)).unwrap_or_else(|e| fail("create state", &e));
            let peer = Shared::<Pose>::load_sharedobject(&state.handle()).unwrap_or_else(|e| fail("open state", &e));
            assert_eq!(peer.read(), pose(i));
        }
        3 => {
            let array = SharedArray::<Pose>::create_named(&name, 3).unwrap_or_else(|e| fail("create array", &e));
            let peer =
                SharedArray::<Pose>::load_sharedobject(&array.handle()).unwrap_or_else(|e| fail("open array", &e));
            peer.set(2, &pose(i)).unwrap_or_else(|e| fail("set", &e));
            assert_eq!(array.get(2), Some(pose(i)));
        }
        4 => {
            let mut producer =
                MemoryInterface::<Pose>::create_named(&name, 2).unwrap_or_else(|e| fail("create ring", &e));
            let mut consumer = MemoryInterface::<Pose, Consumer>::load_sharedobject(&producer.handle())
                .unwrap_or_else(|e| fail("open ring", &e));
            // An interrupted futex sleep is no early timeout.
            let wait = Duration::from_micros(300);
            let start = Instant::now();
            let empty = consumer.read_timeout(wait);
            assert!(matches!(empty, Err(RingError::Timeout { .. })), "cycle {i}: {empty:?}");
            assert!(start.elapsed() >= wait, "cycle {i}: timed out after {:?}", start.elapsed());
            producer.write(&pose(i)).unwrap_or_else(|e| fail("push", &e));
            assert_eq!(consumer.read_timeout(CALL_BOUND).unwrap_or_else(|e| fail("pop", &e)), pose(i));
        }
        _ => {
            let mut producer =
                ByteRing::<Producer>::create_named(&name, 16, 2).unwrap_or_else(|e| fail("create byte ring", &e));
            let mut consumer = ByteRing::<Consumer>::load_sharedobject(&producer.handle())
                .unwrap_or_else(|e| fail("open byte ring", &e));
            producer.write(b"signal").unwrap_or_else(|e| fail("write message", &e));
            let mut message = Vec::new();
            consumer.read_timeout(&mut message, CALL_BOUND).unwrap_or_else(|e| fail("read message", &e));
            assert_eq!(message, b"signal");
        }
    }
}

fn g2_child() {
    let prefix = std::env::var(VAR_PREFIX).expect("prefix from the parent");
    install_handler();
    // SAFETY: pthread_self has no preconditions.
    let target = unsafe { libc::pthread_self() };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let sender = thread::spawn(move || {
        let mut sent = 0u64;
        while !flag.load(Ordering::Relaxed) {
            // SAFETY: `target` is the test thread, which joins this thread
            // before it returns, so it is alive for every call.
            let rc = unsafe { libc::pthread_kill(target, libc::SIGUSR1) };
            assert_eq!(rc, 0, "pthread_kill");
            sent += 1;
            thread::sleep(Duration::from_micros(50));
        }
        sent
    });
    let start = Instant::now();
    let outcome = std::panic::catch_unwind(|| {
        for i in 0..G2_CYCLES {
            g2_cycle(&prefix, i);
        }
    });
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().expect("the signal sender panicked");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    let handled = SIGNALS.load(Ordering::Relaxed);
    println!("g2: {G2_CYCLES} cycles in {:?}; {sent} signals sent, {handled} handled", start.elapsed());
    assert!(handled > 100, "only {handled} signals handled: the test interrupted nothing");
    let left: Vec<String> = entries_with_prefix(&prefix).into_iter().collect();
    assert!(left.is_empty(), "left in /dev/shm: {left:?}");
}

#[test]
fn g2_signals_without_sa_restart_cause_no_spurious_errors() {
    if let Some(role) = common::role() {
        if role == "g2" {
            g2_child();
        }
        return;
    }
    let prefix = unique_name("g2");
    let start = Instant::now();
    Kid::spawn("g2_signals_without_sa_restart_cause_no_spurious_errors", "g2", &[(VAR_PREFIX, prefix.clone())])
        .expect_success();
    println!("g2: child done in {:?}", start.elapsed());
    let left = entries_with_prefix(&prefix);
    for name in &left {
        common::remove(name);
    }
    assert!(left.is_empty(), "the child left {left:?}");
}
