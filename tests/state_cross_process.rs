//! Cross-process tests of `Shared<T>` on `#[derive(SharedState)]` structs:
//! values in the two-copy byte cell, written and read by several processes
//! at once, with writers killed, stopped, and counters started next to the
//! `u64` wrap; and single fields written by one process and read by
//! another.
//!
//! As in `cross_process.rs`, the test binary re-runs itself in a role (see
//! `common::spawn_role`): every test checks `common::role()` first and, in
//! a child, plays that role and returns (a panic is a nonzero exit status).
//! Every wait is time-boxed, a child the parent has not waited for is
//! killed and reaped when the parent fails, and every test checks that
//! what it created is gone from /dev/shm at the end.
//!
//! The values are derived structs: a 64-byte [`Frame`], a 4 KiB [`Big`]
//! made of nested derived structs and arrays of them ([`Stamp`], [`Row`]),
//! [`Counters`] for `update`, [`Settings`] for per-field access, and
//! [`ReaderStats`]. A [`Numbered`] value (`Frame`, `Big`) is made from a
//! write number `i`: every field, at every nesting level, holds `i` XOR a
//! constant of its own, truncated to the field's width ([`mark`]). So the
//! same field of two writes differs (a `u32` whenever the write numbers
//! differ in their low 32 bits, as any two this file writes do; the narrow
//! `u16`/`u8` fields of a [`Stamp`] share their 8-byte word with such a
//! `u32`), two fields of one write differ, and [`whole`] compares every
//! field with what the value's write number says: a read that mixes two
//! writes, or finds a field at the wrong offset, fails and names the
//! field. `wholeness_check_notices_any_word_from_another_write` checks
//! that for every 8-byte word of both types. Ids (D1, D3, ...) are rows of
//! the test matrix in docs/RELIABILITY.md.

mod common;

use common::{CHILD_LIMIT, Kid, RemoveOnDrop, WAIT_LIMIT, env, handle_from, wait_for};

use rustix::process::Signal;
use shm_runtime::{Flag, Handle, Shared, SharedBool, SharedInt, SharedObject, SharedState, SharedString, WriteError};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest a child's endless loop runs when nobody stops it (its parent
/// died, say): no orphan spins forever.
const ORPHAN_LIMIT: Duration = Duration::from_secs(25);
/// A read of a value nobody is replacing takes microseconds; this much
/// leaves room for a loaded machine.
const PROMPT: Duration = Duration::from_millis(500);

// Environment variables that carry handles and settings to a child.
const VAR_A: &str = "SHM_STATE_TEST_A";
const VAR_B: &str = "SHM_STATE_TEST_B";
const VAR_GATE: &str = "SHM_STATE_TEST_GATE";
const VAR_STOP: &str = "SHM_STATE_TEST_STOP";
const VAR_COUNTER: &str = "SHM_STATE_TEST_COUNTER";
const VAR_STATS: &str = "SHM_STATE_TEST_STATS";
/// The name under which a creator child creates its object.
const VAR_NAME: &str = "SHM_STATE_TEST_NAME";
/// A `SharedString` into which a creator child writes its handle.
const VAR_HANDLE_OUT: &str = "SHM_STATE_TEST_HANDLE_OUT";

/// Byte offset of the payload in a segment file (FORMAT.md: always 128,
/// whatever the stored type).
const PAYLOAD_OFFSET: u64 = 128;
// Word indexes inside a byte cell's payload (FORMAT.md, `cell.rs`).
const LOCK_WORD: usize = 0;
const CURRENT_WORD: usize = 1;

/// Index of slot `slot`'s sequence word in a cell holding `T` (the length
/// word follows it, then the `size_of::<T>() / 8` data words).
const fn seq_word<T>(slot: usize) -> usize {
    4 + slot * (2 + size_of::<T>().div_ceil(8))
}

// ---------------------------------------------------------------------------
// Values

/// What a field with salt `salt` holds in the value of write number `i`:
/// `i` XOR a constant that differs for every salt (and is 0 for salt 0, so
/// a value's write-number field is `i` itself). A bijection of `i`, so the
/// same field of two writes differs; its low bits are one of the low bits
/// of `i`, so a truncated field of two writes differs as long as their
/// numbers differ in those bits.
const fn mark(i: u64, salt: u64) -> u64 {
    i ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A value made from a write number (see the module docs).
trait Numbered: SharedState + PartialEq {
    /// The value write number `i` stores.
    fn numbered(i: u64) -> Self;
    /// The write number the value says it is.
    fn number(&self) -> u64;
    /// Every field, at every nesting level, as (path, value widened to
    /// `u64`), in layout order: what a failure message names.
    fn fields(&self) -> Vec<(String, u64)>;
}

/// The 64-byte value: a write number and seven words made from it.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Frame {
    /// The write number.
    seq: u64,
    /// Word `k` is `mark(seq, k + 1)`.
    words: [u64; 7],
}

impl Numbered for Frame {
    fn numbered(i: u64) -> Self {
        Self { seq: i, words: core::array::from_fn(|k| mark(i, k as u64 + 1)) }
    }

    fn number(&self) -> u64 {
        self.seq
    }

    fn fields(&self) -> Vec<(String, u64)> {
        let mut out = vec![("seq".to_owned(), self.seq)];
        out.extend(self.words.iter().enumerate().map(|(k, w)| (format!("words[{k}]"), *w)));
        out
    }
}

impl Frame {
    /// The frame as the eight payload words it occupies (`#[repr(C)]`:
    /// `seq`, then `words`).
    fn as_words(&self) -> [u64; 8] {
        core::array::from_fn(|k| if k == 0 { self.seq } else { self.words[k - 1] })
    }
}

/// 16 bytes of mixed widths, nested in [`Big`] (once as its header, three
/// times in an array) and in [`Settings`].
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Stamp {
    seq: u64,
    check: u32,
    flags: u16,
    kind: u8,
    tag: u8,
}

/// Salts a [`Stamp`] uses, from its base salt.
const STAMP_SALTS: u64 = 5;

impl Stamp {
    /// The stamp of write `i` whose fields use salts `base..base + 5`.
    #[expect(clippy::cast_possible_truncation, reason = "narrow fields keep the low bits of the mark on purpose")]
    fn numbered(i: u64, base: u64) -> Self {
        Self {
            seq: mark(i, base),
            check: mark(i, base + 1) as u32,
            flags: mark(i, base + 2) as u16,
            kind: mark(i, base + 3) as u8,
            tag: mark(i, base + 4) as u8,
        }
    }

    fn push_fields(&self, path: &str, out: &mut Vec<(String, u64)>) {
        out.push((format!("{path}.seq"), self.seq));
        out.push((format!("{path}.check"), self.check.into()));
        out.push((format!("{path}.flags"), self.flags.into()));
        out.push((format!("{path}.kind"), self.kind.into()));
        out.push((format!("{path}.tag"), self.tag.into()));
    }
}

/// One 64-byte row of [`Big`].
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Row {
    serial: u32,
    lane: u32,
    cells: [u64; 7],
}

/// Salts a [`Row`] uses, from its base salt.
const ROW_SALTS: u64 = 9;

impl Row {
    /// The row of write `i` whose fields use salts `base..base + 9`.
    #[expect(clippy::cast_possible_truncation, reason = "narrow fields keep the low bits of the mark on purpose")]
    fn numbered(i: u64, base: u64) -> Self {
        Self {
            serial: mark(i, base) as u32,
            lane: mark(i, base + 1) as u32,
            cells: core::array::from_fn(|k| mark(i, base + 2 + k as u64)),
        }
    }

    fn push_fields(&self, path: &str, out: &mut Vec<(String, u64)>) {
        out.push((format!("{path}.serial"), self.serial.into()));
        out.push((format!("{path}.lane"), self.lane.into()));
        out.extend(self.cells.iter().enumerate().map(|(k, c)| (format!("{path}.cells[{k}]"), *c)));
    }
}

/// Rows of [`Big`].
const BIG_ROWS: usize = 63;

/// The 4 KiB value, made of nested derived structs and arrays of them: a
/// write takes long enough that kills and stops land inside it.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Big {
    /// `header.seq` is the write number.
    header: Stamp,
    rows: [Row; BIG_ROWS],
    trailer: [Stamp; 3],
}

impl Numbered for Big {
    fn numbered(i: u64) -> Self {
        let row_base = STAMP_SALTS;
        let trailer_base = row_base + ROW_SALTS * BIG_ROWS as u64;
        Self {
            header: Stamp::numbered(i, 0),
            rows: core::array::from_fn(|r| Row::numbered(i, row_base + ROW_SALTS * r as u64)),
            trailer: core::array::from_fn(|t| Stamp::numbered(i, trailer_base + STAMP_SALTS * t as u64)),
        }
    }

    fn number(&self) -> u64 {
        self.header.seq
    }

    fn fields(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        self.header.push_fields("header", &mut out);
        for (r, row) in self.rows.iter().enumerate() {
            row.push_fields(&format!("rows[{r}]"), &mut out);
        }
        for (t, stamp) in self.trailer.iter().enumerate() {
            stamp.push_fields(&format!("trailer[{t}]"), &mut out);
        }
        out
    }
}

const _: () = assert!(size_of::<Frame>() == 64 && core::mem::offset_of!(Frame, words) == 8);
const _: () = assert!(size_of::<Stamp>() == 16 && size_of::<Row>() == 64);
const _: () = assert!(size_of::<Big>() == 4096);

/// What is wrong with `value` if some field disagrees with its write
/// number (a torn read): the first such field, what it holds and what it
/// should; `None` if the value is whole.
fn torn<T: Numbered>(value: &T) -> Option<String> {
    let n = value.number();
    let expected = T::numbered(n);
    if *value == expected {
        return None;
    }
    let differs = value.fields().into_iter().zip(expected.fields()).find(|(found, want)| found.1 != want.1);
    Some(match differs {
        Some(((path, found), (_, want))) => {
            // A field holds `i` XOR a constant of its own, so this is the
            // number of the write the field is from (in the field's width).
            let from = n ^ found ^ want;
            format!(
                "the value says it is write #{n}, but its field {path} is {found:#x} where write #{n} has {want:#x} \
                 (it is that field of write #{from}, in the field's width)"
            )
        }
        None => format!("the value says it is write #{n} but differs from it"),
    })
}

/// The write number of `value`; panics naming `when` and the first field
/// that disagrees with it if any field does (a torn read).
fn whole<T: Numbered>(value: &T, when: &str) -> u64 {
    if let Some(why) = torn(value) {
        panic!("{when}: torn read: {why}");
    }
    value.number()
}

/// What each D1 reader reports.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct ReaderStats {
    /// Reads of each value.
    reads: u64,
    /// Distinct frame values seen.
    distinct_small: u64,
    /// Distinct big values seen.
    distinct_big: u64,
    /// The longest pair of reads (big, then frame), in microseconds.
    longest_us: u64,
}

// ---------------------------------------------------------------------------
// Helpers

/// A process's half of a start gate: announces itself by adding 1, then
/// waits until the parent stores [`GO`].
fn join_gate(gate: &SharedInt) {
    gate.fetch_add(1);
    wait_for("the parent's go", None, || (gate.read() >= GO).then_some(()));
}

/// What the parent stores in a gate to start the children.
const GO: i64 = 1 << 40;

/// The parent's half of a start gate: waits until `kids` children have
/// joined, then starts them.
fn open_gate(gate: &SharedInt, kids: &mut [Kid]) {
    let n = i64::try_from(kids.len()).expect("few children");
    let start = Instant::now();
    while gate.read() < n {
        for kid in kids.iter_mut() {
            if let Some(status) = kid.has_exited() {
                panic!("child {} exited ({status}) before the start", kid.pid);
            }
        }
        assert!(start.elapsed() < WAIT_LIMIT, "the children did not reach the gate within {WAIT_LIMIT:?}");
        std::thread::sleep(Duration::from_micros(200));
    }
    gate.write(GO);
}

/// Waits for `kids` while `poll` keeps checking the shared state: `poll`
/// runs every 50 µs until all have exited, each successfully, within
/// [`CHILD_LIMIT`].
fn poll_until_exited(mut kids: Vec<Kid>, what: &str, mut poll: impl FnMut()) {
    let start = Instant::now();
    let mut polls = 0u64;
    while !kids.is_empty() {
        poll();
        polls += 1;
        if polls.is_multiple_of(16) {
            let mut i = 0;
            while i < kids.len() {
                match kids[i].has_exited() {
                    Some(status) => {
                        assert!(status.success(), "{what}: a child failed: {status}");
                        kids.swap_remove(i);
                    }
                    None => i += 1,
                }
            }
            assert!(start.elapsed() < CHILD_LIMIT, "{what}: the children did not finish within {CHILD_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Payload word `index` of segment `name`, read from its file.
fn payload_word(name: &str, index: usize) -> u64 {
    let file = File::open(common::shm_path(name)).expect("open the segment file");
    let mut word = [0u8; 8];
    file.read_exact_at(&mut word, PAYLOAD_OFFSET + 8 * index as u64).expect("read a payload word");
    u64::from_ne_bytes(word)
}

/// Overwrites payload word `index` of segment `name` through its file.
fn patch_word(name: &str, index: usize, value: u64) {
    let file = File::options().write(true).open(common::shm_path(name)).expect("open the segment file for writing");
    file.write_all_at(&value.to_ne_bytes(), PAYLOAD_OFFSET + 8 * index as u64).expect("patch a payload word");
}

/// Whether process `pid` is stopped (state `T` in /proc/<pid>/stat).
fn is_stopped(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // The state follows the command name, which is in parentheses and may
    // itself contain them.
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some(Some('T' | 't')))
}

/// Reads `shared`, asserting the read comes back within `limit`; returns
/// the value and how long the read took.
fn timed_read<T: SharedState>(shared: &Shared<T>, limit: Duration) -> (T, Duration) {
    let start = Instant::now();
    let value = shared.read();
    let took = start.elapsed();
    assert!(took < limit, "a read took {took:?}");
    (value, took)
}

/// Asserts none of `names` is left in /dev/shm.
fn assert_removed<S: AsRef<str>>(names: &[S]) {
    for name in names {
        let name = name.as_ref();
        assert!(!common::exists(name), "{name} left in /dev/shm");
    }
}

/// The writer's progress counter as a write number.
fn count(counter: &SharedInt) -> u64 {
    u64::try_from(counter.read()).expect("write count is not negative")
}

/// Statistics of a latency sample: (median, max).
fn median_max(sample: &mut [Duration]) -> (Duration, Duration) {
    sample.sort_unstable();
    (sample[sample.len() / 2], sample[sample.len() - 1])
}

// ---------------------------------------------------------------------------
// The wholeness check itself

/// For each 8-byte word of `T` (the unit the cell copies atomically),
/// patches that word of a stored write 5 with the word write 6 stores
/// there (through the segment files) and asserts that [`torn`] reports the
/// read; returns how many words were tried.
fn every_mixed_word_is_noticed<T: Numbered>() -> usize {
    let five = Shared::<T>::create_sharedobject(&T::numbered(5)).expect("create write 5");
    let six = Shared::<T>::create_sharedobject(&T::numbered(6)).expect("create write 6");
    let names = [five.name(), six.name()].map(ToString::to_string);
    let [name_five, name_six] = &names;
    assert_eq!(torn(&five.read()), None, "{}: write 5 as stored", T::TYPE_NAME);
    // Freshly created, so the value is in slot 0.
    let data = seq_word::<T>(0) + 2;
    let words = size_of::<T>() / 8;
    for k in 0..words {
        let (mine, theirs) = (payload_word(name_five, data + k), payload_word(name_six, data + k));
        assert_ne!(mine, theirs, "{}: word {k} is the same in writes 5 and 6", T::TYPE_NAME);
        patch_word(name_five, data + k, theirs);
        assert!(torn(&five.read()).is_some(), "{}: word {k} of write 6 in write 5 went unnoticed", T::TYPE_NAME);
        patch_word(name_five, data + k, mine);
    }
    assert_eq!(whole(&five.read(), "after restoring every word"), 5);
    five.cleanup().expect("cleanup");
    six.cleanup().expect("cleanup");
    assert_removed(&names);
    words
}

/// The check every other test relies on: a [`Frame`] or [`Big`] read
/// with any one of its words from another write is reported torn.
#[test]
fn wholeness_check_notices_any_word_from_another_write() {
    let frame = every_mixed_word_is_noticed::<Frame>();
    let big = every_mixed_word_is_noticed::<Big>();
    assert_eq!((frame, big), (8, 512));
}

// ---------------------------------------------------------------------------
// D1, D7: one writer process, two reader processes

/// Writes the writer makes at most.
const D1_WRITES: u64 = 1_000_000;
/// Longest the writer writes (the debug build writes far fewer than
/// [`D1_WRITES`] values in this time).
const D1_TIME: Duration = Duration::from_secs(3);
/// The writer writes the big value at every this many small writes (and
/// after the last).
const D1_BIG_EVERY: u64 = 8;
/// Readers.
const D1_READERS: usize = 2;
/// Fewest distinct values each reader must see of each object.
const D1_MIN_DISTINCT: u64 = 100;

/// One child writes the [`Frame`] of write i = 1, 2, ... as fast as it
/// can, 10^6 times or for 3 s, and the [`Big`] of i after every eighth
/// (and the last) of those writes, while two reader children read both
/// objects continuously. Every read is whole (every field of every nested
/// struct from one write), never older than the one before, and a frame
/// read after a big value is never older than it (the writer wrote the
/// frame first). Both readers see many distinct values, and after the
/// parent stops them their last reads are exactly the writer's last
/// value.
#[test]
fn d1_d7_one_writer_two_readers() {
    const TEST: &str = "d1_d7_one_writer_two_readers";
    if let Some(role) = common::role() {
        let small = Frame::load_sharedobject(&handle_from(VAR_A)).expect("child opens the frame");
        let big = Big::load_sharedobject(&handle_from(VAR_B)).expect("child opens the big value");
        let gate = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("child opens the gate");
        if role == "writer" {
            d1_writer(&small, &big, &gate);
        } else {
            let index = role.strip_prefix("reader-").and_then(|i| i.parse().ok()).expect("role reader-<index>");
            d1_reader(index, &small, &big, &gate);
        }
        return;
    }
    let small = Frame::create_sharedobject(&Frame::numbered(0)).expect("create the frame");
    let big = Big::create_sharedobject(&Big::numbered(0)).expect("create the big value");
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    // 0 while the readers read; then the writer's last write number.
    let stop = Shared::<u64>::create_zeroed().expect("create the stop word");
    let stats = Shared::<[ReaderStats; D1_READERS]>::create_zeroed().expect("create the statistics");
    let names = [small.name(), big.name(), gate.name(), stop.name(), stats.name()].map(ToString::to_string);
    let envs = [
        env(VAR_A, &small.handle()),
        env(VAR_B, &big.handle()),
        env(VAR_GATE, &gate.handle()),
        env(VAR_STOP, &stop.handle()),
        env(VAR_STATS, &stats.handle()),
    ];
    let mut kids = vec![Kid::spawn(TEST, "writer", &envs)];
    for k in 0..D1_READERS {
        kids.push(Kid::spawn(TEST, &format!("reader-{k}"), &envs));
    }
    open_gate(&gate, &mut kids);
    let start = Instant::now();
    let mut kids = kids.into_iter();
    kids.next().expect("the writer").expect_success();
    let wrote_for = start.elapsed();
    let last = whole(&small.read(), "after the writer exited");
    assert_eq!(whole(&big.read(), "after the writer exited"), last, "the two values disagree after the writer exited");
    assert!(last >= 10_000, "the writer made only {last} writes in {wrote_for:?}");
    stop.write(&last).expect("stop the readers");
    for kid in kids {
        kid.expect_success();
    }
    for (k, s) in stats.read().iter().enumerate() {
        assert!(
            s.distinct_small >= D1_MIN_DISTINCT && s.distinct_big >= D1_MIN_DISTINCT,
            "reader {k} saw only {} frames and {} big values in {} reads",
            s.distinct_small,
            s.distinct_big,
            s.reads
        );
        eprintln!(
            "D1/D7: reader {k}: {} reads of each value, {} distinct frames, {} distinct big values; longest \
             big-then-frame read pair {} µs",
            s.reads, s.distinct_small, s.distinct_big, s.longest_us
        );
    }
    let big_writes = last / D1_BIG_EVERY + 1;
    eprintln!("D1/D7: the writer wrote the frame {last} times and the big value {big_writes} times in {wrote_for:?}");
    small.cleanup().expect("cleanup");
    big.cleanup().expect("cleanup");
    gate.cleanup().expect("cleanup");
    stop.cleanup().expect("cleanup");
    stats.cleanup().expect("cleanup");
    assert_removed(&names);
}

/// The D1 writer: the frame of i = 1, 2, ..., and the big value of i
/// after every [`D1_BIG_EVERY`]th of those writes and after the last.
fn d1_writer(small: &Shared<Frame>, big: &Shared<Big>, gate: &SharedInt) {
    join_gate(gate);
    let start = Instant::now();
    let mut i = 0;
    while i < D1_WRITES && (!i.is_multiple_of(256) || start.elapsed() < D1_TIME) {
        i += 1;
        small.write(&Frame::numbered(i)).expect("write the frame");
        if i.is_multiple_of(D1_BIG_EVERY) {
            big.write(&Big::numbered(i)).expect("write the big value");
        }
    }
    big.write(&Big::numbered(i)).expect("write the big value");
    eprintln!("D1/D7 writer: {i} writes of the frame in {:?}", start.elapsed());
}

/// A D1 reader: reads both values until the parent stores the writer's
/// last write number in the stop word, then checks its last reads are
/// exactly that and publishes its statistics.
fn d1_reader(index: usize, small: &Shared<Frame>, big: &Shared<Big>, gate: &SharedInt) {
    let stop = Shared::<u64>::load_sharedobject(&handle_from(VAR_STOP)).expect("reader opens the stop word");
    let stats = Shared::<[ReaderStats; D1_READERS]>::load_sharedobject(&handle_from(VAR_STATS))
        .expect("reader opens the stats");
    join_gate(gate);
    let start = Instant::now();
    let (mut last_small, mut last_big) = (0, 0);
    let (mut reads, mut distinct_small, mut distinct_big) = (0u64, 0u64, 0u64);
    let mut longest = Duration::ZERO;
    let last = loop {
        if reads.is_multiple_of(64) {
            let last = stop.read();
            if last != 0 {
                break last;
            }
            assert!(start.elapsed() < ORPHAN_LIMIT, "reader {index} was never stopped");
        }
        let began = Instant::now();
        let b = whole(&big.read(), "big value");
        let s = whole(&small.read(), "frame");
        longest = longest.max(began.elapsed());
        assert!(b >= last_big, "reader {index}: the big value went back from {last_big} to {b}");
        assert!(s >= last_small, "reader {index}: the frame went back from {last_small} to {s}");
        assert!(s >= b, "reader {index}: read frame {s} after big {b}, but the writer wrote frame {b} first");
        distinct_big += u64::from(b != last_big);
        distinct_small += u64::from(s != last_small);
        (last_small, last_big) = (s, b);
        reads += 1;
    };
    assert_eq!(small.read(), Frame::numbered(last), "reader {index}: final frame");
    assert_eq!(whole(&big.read(), "final big"), last, "reader {index}: final big value");
    let longest_us = u64::try_from(longest.as_micros()).unwrap_or(u64::MAX);
    let mine = ReaderStats { reads, distinct_small, distinct_big, longest_us };
    stats.update(|s| s[index] = mine).expect("publish the statistics");
}

// ---------------------------------------------------------------------------
// D3, D4: a writer killed or stopped mid-write

/// Child role shared by D3 and D4: writes the [`Big`] of i = 1, 2, ... to
/// the value in [`VAR_A`] (or to one it creates under [`VAR_NAME`],
/// announcing its handle in [`VAR_HANDLE_OUT`]) as fast as it can,
/// storing `i` in the counter in [`VAR_COUNTER`] after each completed
/// write, until the flag in [`VAR_STOP`] (if any) is set.
fn indexed_writer() {
    let counter = SharedInt::load_sharedobject(&handle_from(VAR_COUNTER)).expect("writer opens the counter");
    let stop = std::env::var_os(VAR_STOP)
        .map(|_| SharedBool::load_sharedobject(&handle_from(VAR_STOP)).expect("writer opens the stop flag"));
    let big = if let Ok(name) = std::env::var(VAR_NAME) {
        let big = Big::create_named(&name, &Big::numbered(0)).expect("writer creates the value");
        let out = SharedString::load_sharedobject(&handle_from(VAR_HANDLE_OUT)).expect("writer opens the handle slot");
        out.write(&big.handle().to_string()).expect("announce the handle");
        big
    } else {
        Big::load_sharedobject(&handle_from(VAR_A)).expect("writer opens the value")
    };
    let start = Instant::now();
    let mut i = 0u64;
    while !stop.as_ref().is_some_and(SharedBool::read) {
        i += 1;
        if i.is_multiple_of(1024) {
            assert!(start.elapsed() < ORPHAN_LIMIT, "writer was never stopped");
        }
        if i.is_multiple_of(2) {
            big.write(&Big::numbered(i)).expect("writer writes");
        } else {
            // Built inside `update`, that is with the writer lock held: a
            // kill lands there often (a `write` holds the lock only for its
            // copy, a few tens of nanoseconds with the vector moves).
            big.update(|v| *v = Big::numbered(i)).expect("writer updates");
        }
        counter.write(i64::try_from(i).expect("small"));
    }
}

/// Checks a value read after the writer stopped making progress at
/// counter `writes`: whole, and the last completed write (`writes`) or the
/// one completed just before the writer was halted, whose counter store
/// had not happened (`writes + 1`). Returns its write number.
fn check_latest(value: &Big, writes: u64, when: &str) -> u64 {
    let i = whole(value, when);
    assert!(
        i == writes || i == writes + 1,
        "{when}: read write #{i}, but the writer had completed {writes} writes (a published value was lost)"
    );
    i
}

/// What the cell's words say about a writer that stopped: (lock word,
/// whether the copy `current` does not point at has an odd sequence word,
/// that is, a write was under way).
fn cell_state(name: &str) -> (u64, bool) {
    let lock = payload_word(name, LOCK_WORD);
    let current = payload_word(name, CURRENT_WORD);
    let other = usize::from(current & 1 == 0);
    (lock, payload_word(name, seq_word::<Big>(other)) & 1 == 1)
}

const D3_ROUNDS: u32 = 20;

/// 20 rounds: a child writes the [`Big`] of i = 1, 2, ... in a tight loop
/// (`write` and, building the value with the lock held, `update` in turn)
/// and is killed with `SIGKILL` 0.1 to 5 ms in, then reaped. In even
/// rounds the parent created the value; in odd rounds the killed child did
/// (the parent opened it through the handle the child announced, and
/// removes the name afterwards). A read then returns promptly a whole
/// value (every field of every nested struct from one write) that is the
/// last or the next-to-last write; a `write` and an `update` succeed promptly (the
/// dead writer's lock is taken over, its half-written copy rewritten) and
/// read back. At least one writer must die holding the writer lock.
#[test]
fn d3_writer_sigkill_20_rounds_struct() {
    const TEST: &str = "d3_writer_sigkill_20_rounds_struct";
    if let Some(role) = common::role() {
        assert_eq!(role, "writer", "unknown role");
        indexed_writer();
        return;
    }
    let own = Big::create_sharedobject(&Big::numbered(0)).expect("create the value");
    let counter = SharedInt::create_sharedobject(0).expect("create the counter");
    let handle_slot = SharedString::create_sharedobject(512).expect("create the handle slot");
    let names = [own.name(), counter.name(), handle_slot.name()].map(ToString::to_string);
    let (mut holding_lock, mut mid_copy) = (0, 0);
    let mut slowest = [Duration::ZERO; 3];
    for round in 0..D3_ROUNDS {
        let when = format!("round {round}, after SIGKILL");
        counter.write(0);
        handle_slot.write("").expect("clear the handle slot");
        let child_creates = round % 2 == 1;
        let created_name = common::unique_name("d3s");
        let _remove = RemoveOnDrop(created_name.clone());
        let mut envs = vec![env(VAR_COUNTER, &counter.handle())];
        if child_creates {
            envs.push((VAR_NAME, created_name.clone()));
            envs.push(env(VAR_HANDLE_OUT, &handle_slot.handle()));
        } else {
            envs.push(env(VAR_A, &own.handle()));
        }
        let mut kid = Kid::spawn(TEST, "writer", &envs);
        let opened = child_creates.then(|| {
            let text = wait_for("the writer's handle", Some(&mut kid), || {
                Some(handle_slot.read().expect("read the handle slot")).filter(|t| !t.is_empty())
            });
            let handle: Handle = text.parse().unwrap_or_else(|e| panic!("round {round}: {e}"));
            Big::load_sharedobject(&handle).expect("open the child's value")
        });
        let big = opened.as_ref().unwrap_or(&own);
        let name = big.name().to_string();
        wait_for("the writer's first writes", Some(&mut kid), || (count(&counter) >= 3).then_some(()));
        // A different moment each round, 0.1 to 5 ms after the writes began.
        let jitter = u64::from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos() % 1000);
        std::thread::sleep(Duration::from_micros(100 + (u64::from(round) * 2477 + jitter) % 4900));
        let pid = kid.pid_word();
        let status = kid.kill_and_reap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "round {round}: the writer died otherwise: {status}");
        let (holder, odd) = cell_state(&name);
        let holder = common::pid_of(holder);
        if holder == pid {
            holding_lock += 1;
        } else {
            assert_eq!(holder, 0, "round {round}: lock word is neither free nor the dead writer's pid {pid}");
        }
        mid_copy += u32::from(odd);

        let (value, took) = timed_read(big, PROMPT);
        slowest[0] = slowest[0].max(took);
        check_latest(&value, count(&counter), &when);

        // The lock of a dead writer is taken over, long before the 2 s a
        // live holder is waited for.
        let marker = 1_000_000_000 + u64::from(round) * 10;
        let start = Instant::now();
        big.write(&Big::numbered(marker)).expect("write after the writer was killed");
        let took = start.elapsed();
        slowest[1] = slowest[1].max(took);
        assert!(took < Duration::from_secs(1), "round {round}: the write took {took:?}");
        assert_eq!(whole(&timed_read(big, PROMPT).0, &when), marker, "round {round}: the parent's write");
        let start = Instant::now();
        let old = big
            .update(|v| {
                let old = v.number();
                *v = Big::numbered(old + 1);
                old
            })
            .expect("update");
        let took = start.elapsed();
        slowest[2] = slowest[2].max(took);
        assert!(took < Duration::from_secs(1), "round {round}: the update took {took:?}");
        assert_eq!(old, marker, "round {round}: update saw another value");
        assert_eq!(whole(&timed_read(big, PROMPT).0, &when), marker + 1, "round {round}: the parent's update");
        let (lock, odd) = cell_state(&name);
        assert_eq!((lock, odd), (0, false), "round {round}: the parent's writes left the cell mid-write");
        if let Some(opened) = opened {
            assert!(!opened.is_creator());
            opened.cleanup().expect("unmap the child's value");
            assert!(common::exists(&name), "round {round}: an opener's cleanup removed the killed creator's segment");
            common::remove(&name);
            assert!(!common::exists(&name), "round {round}: the killed creator's segment is still there");
        }
    }
    eprintln!(
        "D3 struct: of {D3_ROUNDS} writers {holding_lock} were killed holding the writer lock, {mid_copy} mid-copy \
         (odd sequence word); slowest read {:?}, write {:?}, update {:?}",
        slowest[0], slowest[1], slowest[2]
    );
    assert!(holding_lock > 0, "no writer was killed mid-write: the test did not exercise D3");
    own.cleanup().expect("cleanup");
    counter.cleanup().expect("cleanup");
    handle_slot.cleanup().expect("cleanup");
    assert_removed(&names);
}

/// Stop/continue cycles in D4.
const D4_CYCLES: u32 = 3;
/// How long the parent reads in each cycle while the writer is stopped.
const D4_READ_TIME: Duration = Duration::from_millis(200);
/// Bound on each read while the writer is stopped: a read never waits for
/// the writer lock a stopped writer holds, beyond its bounded fallback
/// (which a stable value never reaches).
const D4_READ_BOUND: Duration = Duration::from_secs(1);

/// A child writes the [`Big`] of i = 1, 2, ... in a loop and is stopped
/// with `SIGSTOP`, three times. While it is stopped, reads (from the
/// parent's main thread, and from a second thread while the first waits
/// for the lock) come back promptly, always whole and always the same
/// value (the last or next-to-last write). If the stopped child holds the writer lock,
/// the parent's `write` and `update` wait a bounded time and fail with
/// `LockTimeout` naming it, changing nothing; if not, they succeed. After
/// `SIGCONT` the child makes progress again; at the end it stops cleanly
/// when asked.
#[test]
fn d4_writer_sigstop_struct() {
    const TEST: &str = "d4_writer_sigstop_struct";
    if let Some(role) = common::role() {
        assert_eq!(role, "writer", "unknown role");
        indexed_writer();
        return;
    }
    let big = Big::create_sharedobject(&Big::numbered(0)).expect("create the value");
    let counter = SharedInt::create_sharedobject(0).expect("create the counter");
    let stop = SharedBool::create_sharedobject(false).expect("create the stop flag");
    let name = big.name().to_string();
    let names = [big.name(), counter.name(), stop.name()].map(ToString::to_string);
    let envs = [env(VAR_A, &big.handle()), env(VAR_COUNTER, &counter.handle()), env(VAR_STOP, &stop.handle())];
    let mut kid = Kid::spawn(TEST, "writer", &envs);
    let mut latencies = Vec::new();
    let mut refused = None;
    let mut stopped_holding = 0;
    let mut resumed_from = 0;
    for cycle in 0..D4_CYCLES {
        let when = format!("cycle {cycle}, writer stopped");
        wait_for("the writer's writes", Some(&mut kid), || (count(&counter) >= resumed_from + 3).then_some(()));
        std::thread::sleep(Duration::from_millis(1 + u64::from(cycle)));
        kid.signal(Signal::STOP);
        let pid = kid.pid;
        wait_for("the writer to stop", Some(&mut kid), || is_stopped(pid).then_some(()));

        let frozen = count(&counter);
        let (holder, odd) = cell_state(&name);
        let first = big.read();
        let index = check_latest(&first, frozen, &when);
        let start = Instant::now();
        while start.elapsed() < D4_READ_TIME {
            let (value, took) = timed_read(&big, D4_READ_BOUND);
            latencies.push(took);
            assert_eq!(whole(&value, &when), index, "{when}: the value changed while its writer was stopped");
        }
        assert_eq!(count(&counter), frozen, "{when}: the writer made progress while stopped");

        if common::pid_of(holder) == kid.pid_word() {
            stopped_holding += 1;
            if refused.is_none() {
                refused = Some(d4_refused_writes(&big, &kid, index, &mut latencies, &when));
            }
        } else {
            assert_eq!(holder, 0, "{when}: lock word is neither free nor the writer's pid");
            assert!(!odd, "{when}: a copy is mid-write but nobody holds the lock");
            let marker = u64::MAX - u64::from(cycle);
            big.write(&Big::numbered(marker)).expect("write while the stopped writer holds no lock");
            assert_eq!(whole(&timed_read(&big, PROMPT).0, &when), marker);
        }

        kid.signal(Signal::CONT);
        wait_for("the writer to resume", Some(&mut kid), || (count(&counter) >= frozen + 3).then_some(()));
        let resumed = whole(&timed_read(&big, PROMPT).0, "after SIGCONT");
        assert!(resumed > frozen && resumed < u64::MAX - 100, "after SIGCONT the value is {resumed}, before {frozen}");
        resumed_from = count(&counter);
    }
    stop.write(true);
    kid.expect_success();
    let last = count(&counter);
    assert_eq!(whole(&timed_read(&big, PROMPT).0, "after a clean stop"), last, "after a clean stop");
    assert_eq!(cell_state(&name), (0, false), "the writer stopped mid-write");
    let (median, max) = median_max(&mut latencies);
    eprintln!(
        "D4 struct: {} reads while the writer was stopped ({stopped_holding} of {D4_CYCLES} stops holding the lock): \
         median {median:?}, max {max:?}",
        latencies.len()
    );
    match refused {
        Some((write, update)) => eprintln!("D4 struct: refused write took {write:?}, refused update {update:?}"),
        None => eprintln!("D4 struct: the writer never stopped holding the lock; no refused write was tried"),
    }
    big.cleanup().expect("cleanup");
    counter.cleanup().expect("cleanup");
    stop.cleanup().expect("cleanup");
    assert_removed(&names);
}

/// While a stopped writer holds the lock: a `write` and then an `update`
/// from the parent each fail with `LockTimeout` naming the writer after a
/// bounded wait, while a second thread keeps reading the unchanged value
/// `index` promptly (its latencies go into `latencies`). Returns how long
/// the write and the update waited.
fn d4_refused_writes(
    big: &Shared<Big>,
    kid: &Kid,
    index: u64,
    latencies: &mut Vec<Duration>,
    when: &str,
) -> (Duration, Duration) {
    let done = std::sync::atomic::AtomicBool::new(false);
    let (write, update) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut sample = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let (value, took) = timed_read(big, D4_READ_BOUND);
                assert_eq!(whole(&value, when), index, "{when}: the value changed during a refused write");
                sample.push(took);
                std::thread::sleep(Duration::from_micros(200));
            }
            sample
        });
        let start = Instant::now();
        let write = big.write(&Big::numbered(u64::MAX));
        let write_took = start.elapsed();
        let start = Instant::now();
        let update = big.update(|v| *v = Big::numbered(u64::MAX));
        let update_took = start.elapsed();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        latencies.extend(reader.join().expect("the reading thread"));
        for (what, result) in [("write", write), ("update", update)] {
            match result {
                Err(WriteError::LockTimeout { holder, .. }) => assert_eq!(holder, kid.pid_word(), "{when}: {what}"),
                other => panic!("{when}: a {what} while a stopped writer holds the lock returned {other:?}"),
            }
        }
        (write_took, update_took)
    });
    for took in [write, update] {
        assert!(took < Duration::from_secs(10), "{when}: a refused write waited {took:?}");
    }
    assert_eq!(whole(&timed_read(big, PROMPT).0, when), index, "{when}: a refused write changed the value");
    (write, update)
}

// ---------------------------------------------------------------------------
// update: two processes, no lost update

/// Updates each child makes.
const UPDATES: u32 = 100_000;

/// What the two updaters count. Consistent when `by[0] + by[1] == total`,
/// `sum == 1 + 2 + ... + total`, `last` is 0 exactly when `total` is (and
/// otherwise 1 or 2), and `switches < total` (or both are 0).
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Counters {
    /// Updates made, by both updaters.
    total: u64,
    /// 1 + 2 + ... + `total`: each update adds the new total.
    sum: u64,
    /// Updates made by updater 0 and by updater 1.
    by: [u32; 2],
    /// 1 + the index of the updater that made the last update; 0 before
    /// any.
    last: u32,
    /// Updates made by the other updater than the update before.
    switches: u32,
}

/// Updater `me`'s update after its own `done` earlier ones: checks that
/// the value it is handed is consistent and holds exactly those `done`,
/// then counts one more.
fn bump(c: &mut Counters, me: u32, done: u32) {
    check_consistent(c, "inside update");
    let mine = &mut c.by[me as usize];
    assert_eq!(*mine, done, "updater {me}: its own earlier updates were lost");
    *mine += 1;
    c.total += 1;
    c.sum += c.total;
    c.switches += u32::from(c.last != 0 && c.last != me + 1);
    c.last = me + 1;
}

/// Asserts that `c` is consistent (see [`Counters`]).
fn check_consistent(c: &Counters, when: &str) {
    let consistent = u64::from(c.by[0]) + u64::from(c.by[1]) == c.total
        && c.sum == c.total.wrapping_mul(c.total.wrapping_add(1)) / 2
        && (c.last == 0) == (c.total == 0)
        && c.last <= 2
        && u64::from(c.switches) < c.total.max(1);
    assert!(consistent, "{when}: inconsistent counters {c:?}");
}

/// Two child processes, started together through a gate, each make
/// 100,000 `update`s of one [`Counters`], checking inside each update that
/// the value they were handed is consistent and holds exactly their own
/// earlier updates. Meanwhile the parent reads: every value consistent,
/// no counter ever going back. At the end the counts are exact: 200,000
/// in all, 100,000 each, the sum `200,000 * 200,001 / 2`.
#[test]
fn update_two_processes_100000_each() {
    const TEST: &str = "update_two_processes_100000_each";
    if let Some(role) = common::role() {
        let me: u32 = role.strip_prefix("updater-").and_then(|i| i.parse().ok()).expect("role updater-<0 or 1>");
        let shared = Counters::load_sharedobject(&handle_from(VAR_A)).expect("child opens the counters");
        let gate = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("child opens the gate");
        join_gate(&gate);
        let start = Instant::now();
        for done in 0..UPDATES {
            shared.update(|c| bump(c, me, done)).expect("update");
        }
        eprintln!("update: child {me}'s {UPDATES} updates took {:?}", start.elapsed());
        return;
    }
    let shared = Counters::create_zeroed().expect("create the counters");
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    let names = [shared.name(), gate.name()].map(ToString::to_string);
    let envs = [env(VAR_A, &shared.handle()), env(VAR_GATE, &gate.handle())];
    let mut kids = vec![Kid::spawn(TEST, "updater-0", &envs), Kid::spawn(TEST, "updater-1", &envs)];
    open_gate(&gate, &mut kids);
    let start = Instant::now();
    let (mut reads, mut changes) = (0u64, 0u64);
    let mut last = shared.read();
    poll_until_exited(kids, "update", || {
        let c = shared.read();
        check_consistent(&c, "parent read");
        assert!(
            c.total >= last.total && c.by[0] >= last.by[0] && c.by[1] >= last.by[1],
            "the counters went back from {last:?} to {c:?}"
        );
        changes += u64::from(c.total != last.total);
        last = c;
        reads += 1;
    });
    let took = start.elapsed();
    let c = shared.read();
    check_consistent(&c, "final");
    let total = 2 * u64::from(UPDATES);
    assert_eq!((c.total, c.sum, c.by), (total, total * (total + 1) / 2, [UPDATES; 2]), "updates were lost: {c:?}");
    eprintln!(
        "update: 2 x {UPDATES} updates in {took:?}, {} switches between the updaters; the parent's {reads} reads \
         saw {changes} changes",
        c.switches
    );
    shared.cleanup().expect("cleanup");
    gate.cleanup().expect("cleanup");
    assert_removed(&names);
}

// ---------------------------------------------------------------------------
// Per-field access: `read_field` and `write_field` across processes

/// A struct whose fields are read and written alone: a nested derived
/// struct, a float, two counters, an array and narrow fields.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Settings {
    origin: Stamp,
    gain: f64,
    /// Counted up by the child `left` in the second phase.
    left: u64,
    /// Counted up by the child `right` in the second phase.
    right: u64,
    limits: [i32; 2],
    mode: u16,
    level: i8,
    armed: Flag,
    label: [u8; 4],
}

/// The value the settings are created with.
const SETTINGS: Settings = Settings {
    origin: Stamp { seq: 1, check: 2, flags: 3, kind: 4, tag: 5 },
    gain: 1.0,
    left: 0,
    right: 0,
    limits: [-1, 1],
    mode: 7,
    level: 0,
    armed: Flag::new(false),
    label: *b"init",
};

/// Field steps of the first phase: one field each, made by a child
/// process in even steps and by the parent in odd ones.
const FIELD_STEPS: usize = 6;
/// `write_field`s each child makes in the second phase.
const FIELD_WRITES: u64 = 20_000;

/// Applies field step `step` to `s`; returns the name of the field it
/// changes.
fn apply_step(step: usize, s: &mut Settings) -> &'static str {
    match step {
        0 => {
            s.origin = Stamp::numbered(0x5eed, 1000);
            "origin"
        }
        1 => {
            s.limits = [-40, 85];
            "limits"
        }
        2 => {
            s.gain = -2.5;
            "gain"
        }
        3 => {
            s.level = -3;
            "level"
        }
        4 => {
            s.armed = Flag::new(true);
            "armed"
        }
        5 => {
            s.label = *b"done";
            "label"
        }
        _ => panic!("no field step {step}"),
    }
}

/// The settings after the first `steps` field steps.
fn settings_after(steps: usize) -> Settings {
    let mut s = SETTINGS;
    for step in 0..steps {
        apply_step(step, &mut s);
    }
    s
}

/// Makes field step `step` in `shared` with `write_field`, taking the new
/// value of the field from `s` (to which the step was applied).
fn write_step(shared: &Shared<Settings>, step: usize, s: &Settings) {
    let result = match step {
        0 => shared.write_field(|f| f.origin, &s.origin),
        1 => shared.write_field(|f| f.limits, &s.limits),
        2 => shared.write_field(|f| f.gain, &s.gain),
        3 => shared.write_field(|f| f.level, &s.level),
        4 => shared.write_field(|f| f.armed, &s.armed),
        5 => shared.write_field(|f| f.label, &s.label),
        _ => panic!("no field step {step}"),
    };
    result.unwrap_or_else(|e| panic!("field step {step}: {e}"));
}

/// Asserts that every field of `shared` read alone with `read_field`, and
/// the whole value read with `read`, are those of `expected`.
fn check_fields(shared: &Shared<Settings>, expected: &Settings, when: &str) {
    let alone = Settings {
        origin: shared.read_field(|f| f.origin),
        gain: shared.read_field(|f| f.gain),
        left: shared.read_field(|f| f.left),
        right: shared.read_field(|f| f.right),
        limits: shared.read_field(|f| f.limits),
        mode: shared.read_field(|f| f.mode),
        level: shared.read_field(|f| f.level),
        armed: shared.read_field(|f| f.armed),
        label: shared.read_field(|f| f.label),
    };
    assert_eq!(alone, *expected, "{when}: the fields read alone");
    assert_eq!(shared.read(), *expected, "{when}: the whole value");
}

/// A second-phase child: counts its own field (`left` or `right`) from 1
/// to [`FIELD_WRITES`] with `write_field`, reading it back alone after
/// each write; the other child's field, read alone, never goes back.
fn count_field(shared: &Shared<Settings>, left: bool) {
    let mut other_last = 0;
    for i in 1..=FIELD_WRITES {
        let (mine, other) = if left {
            shared.write_field(|f| f.left, &i).expect("write_field left");
            (shared.read_field(|f| f.left), shared.read_field(|f| f.right))
        } else {
            shared.write_field(|f| f.right, &i).expect("write_field right");
            (shared.read_field(|f| f.right), shared.read_field(|f| f.left))
        };
        assert_eq!(mine, i, "left {left}: its own field after write {i}");
        assert!(other >= other_last, "left {left}: the other field went back from {other_last} to {other}");
        assert!(other <= FIELD_WRITES, "left {left}: the other field is {other}, never written");
        other_last = other;
    }
}

/// Per-field access across processes, in two phases. First, six steps
/// each change one field of a [`Settings`] with `write_field`: a nested
/// [`Stamp`], an `f64`, a [`Flag`], ... Child processes make the even
/// steps, the parent the odd ones. Before and after its step a child
/// checks every field (each read alone with `read_field`, and the whole
/// value) against what the steps so far make, so it sees the parent's
/// field writes; after each step the parent checks every field the same
/// way: the changed field reads back, the others are unchanged. Then two
/// children, started together, each count their own `u64` field up to
/// 20,000 with `write_field`, reading it back alone each time, while the
/// parent reads the whole value: the other fields never change and the
/// counters never go back. Both counters end exactly at 20,000: no field
/// write undid the other process's.
#[test]
fn fields_written_alone_across_processes() {
    const TEST: &str = "fields_written_alone_across_processes";
    if let Some(role) = common::role() {
        let shared = Settings::load_sharedobject(&handle_from(VAR_A)).expect("child opens the settings");
        if let Some(step) = role.strip_prefix("step-") {
            let step = step.parse().expect("role step-<n>");
            let mut expected = settings_after(step);
            check_fields(&shared, &expected, &format!("child, before step {step}"));
            let field = apply_step(step, &mut expected);
            write_step(&shared, step, &expected);
            check_fields(&shared, &expected, &format!("child, after step {step} ({field})"));
        } else {
            assert!(role == "left" || role == "right", "unknown role {role}");
            let gate = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("child opens the gate");
            join_gate(&gate);
            count_field(&shared, role == "left");
        }
        return;
    }
    let shared = Settings::create_sharedobject(&SETTINGS).expect("create the settings");
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    let names = [shared.name(), gate.name()].map(ToString::to_string);
    let envs = [env(VAR_A, &shared.handle()), env(VAR_GATE, &gate.handle())];

    let mut expected = SETTINGS;
    for step in 0..FIELD_STEPS {
        let field = if step % 2 == 0 {
            Kid::spawn(TEST, &format!("step-{step}"), &envs).expect_success();
            apply_step(step, &mut expected)
        } else {
            let field = apply_step(step, &mut expected);
            write_step(&shared, step, &expected);
            field
        };
        check_fields(&shared, &expected, &format!("parent, after step {step} ({field})"));
    }
    assert_eq!(expected, settings_after(FIELD_STEPS));

    let mut kids = vec![Kid::spawn(TEST, "left", &envs), Kid::spawn(TEST, "right", &envs)];
    open_gate(&gate, &mut kids);
    let start = Instant::now();
    let (mut last, mut reads) = (expected, 0u64);
    poll_until_exited(kids, "field counters", || {
        let value = shared.read();
        assert_eq!(
            value,
            Settings { left: value.left, right: value.right, ..expected },
            "a field nobody wrote changed"
        );
        assert!(value.left >= last.left && value.right >= last.right, "a counter went back: {last:?} to {value:?}");
        assert!(value.left <= FIELD_WRITES && value.right <= FIELD_WRITES, "a counter ran past: {value:?}");
        last = value;
        reads += 1;
    });
    let took = start.elapsed();
    check_fields(&shared, &Settings { left: FIELD_WRITES, right: FIELD_WRITES, ..expected }, "at the end");
    eprintln!(
        "fields: {FIELD_STEPS} single-field steps, then 2 x {FIELD_WRITES} write_field calls in {took:?}; the \
         parent's {reads} reads saw no other field change"
    );
    shared.cleanup().expect("cleanup");
    gate.cleanup().expect("cleanup");
    assert_removed(&names);
}

// ---------------------------------------------------------------------------
// D6: counters near u64::MAX

/// Writes the D6 writer makes.
const D6_WRITES: u64 = 10_000;

/// Cell word values D6 starts from, before any write (the value the
/// object was created with is in slot 0).
struct WrapStart {
    current: u64,
    seq: [u64; 2],
    /// Whether slot 1 holds the value (`current` odd); the parent copies
    /// it there and spoils slot 0.
    in_slot1: bool,
}

/// `current` even (slot 0), wrapping at write 4,001; slot 0's sequence
/// word wraps at its 2,000th write, slot 1's at its 2,501st.
const WRAP_MID: WrapStart =
    WrapStart { current: u64::MAX - 4001, seq: [u64::MAX - 3999, u64::MAX - 5001], in_slot1: false };
/// `current = u64::MAX` (odd: slot 1), both sequence words one write from
/// the wrap: the very first write wraps everything.
const WRAP_NOW: WrapStart = WrapStart { current: u64::MAX, seq: [u64::MAX - 1, u64::MAX - 1], in_slot1: true };

/// What the parent stores in the copy nobody points at: not a whole
/// frame (its words are not made from its `seq`), so a read of it would
/// show.
const D6_STALE: Frame = Frame { seq: 0xdead_beef, words: [0xdead_beef; 7] };

/// Sets the cell of `name` (a `Shared<Frame>` holding the frame of write 0
/// in slot 0, untouched by any other process) to `start` by writing its
/// file.
fn patch_near_wrap(name: &str, start: &WrapStart) {
    let data = |slot: usize| seq_word::<Frame>(slot) + 2;
    let (live, stale) = if start.in_slot1 { (1, 0) } else { (0, 1) };
    for (k, v) in Frame::numbered(0).as_words().iter().enumerate() {
        patch_word(name, data(live) + k, *v);
    }
    for (k, v) in D6_STALE.as_words().iter().enumerate() {
        patch_word(name, data(stale) + k, *v);
    }
    for slot in 0..2 {
        assert_eq!(start.seq[slot] & 1, 0, "a complete copy has an even sequence word");
        patch_word(name, seq_word::<Frame>(slot), start.seq[slot]);
        patch_word(name, seq_word::<Frame>(slot) + 1, size_of::<Frame>() as u64);
    }
    assert_eq!(usize::from(start.current & 1 == 1), live, "current points at the live copy");
    patch_word(name, CURRENT_WORD, start.current);
}

/// Two `Shared<Frame>` with their cells' counters patched (through the
/// segment file, before any other process opens them) to just below
/// `u64::MAX`: one wrapping mid-run, one at the first write (its value in
/// slot 1, `current` odd). A writer child writes the frame of i to both
/// for i = 1..=10,000, pausing briefly between writes, while a reader child reads
/// both continuously: every read whole and never going back, the final
/// values exact, and the counters wrapped to exactly where 10,000 writes
/// take them.
#[test]
fn d6_counters_near_u64_max() {
    const TEST: &str = "d6_counters_near_u64_max";
    if let Some(role) = common::role() {
        let a = Frame::load_sharedobject(&handle_from(VAR_A)).expect("child opens value A");
        let b = Frame::load_sharedobject(&handle_from(VAR_B)).expect("child opens value B");
        let gate = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("child opens the gate");
        join_gate(&gate);
        match role.as_str() {
            "writer" => d6_writer(&a, &b),
            "reader" => d6_reader(&a, &b),
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let a = Frame::create_sharedobject(&Frame::numbered(0)).expect("create value A");
    let b = Frame::create_sharedobject(&Frame::numbered(0)).expect("create value B");
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    let names = [a.name(), b.name(), gate.name()].map(ToString::to_string);
    patch_near_wrap(a.name().as_str(), &WRAP_MID);
    patch_near_wrap(b.name().as_str(), &WRAP_NOW);
    assert_eq!(a.read(), Frame::numbered(0), "A after patching");
    assert_eq!(b.read(), Frame::numbered(0), "B after patching (its value is in slot 1)");
    let envs = [env(VAR_A, &a.handle()), env(VAR_B, &b.handle()), env(VAR_GATE, &gate.handle())];
    let mut kids = vec![Kid::spawn(TEST, "writer", &envs), Kid::spawn(TEST, "reader", &envs)];
    open_gate(&gate, &mut kids);
    for kid in kids {
        kid.expect_success();
    }
    for (object, start, what) in [(&a, &WRAP_MID, "A"), (&b, &WRAP_NOW, "B")] {
        assert_eq!(object.read(), Frame::numbered(D6_WRITES), "{what}: final value");
        let name = object.name().as_str();
        assert_eq!(payload_word(name, CURRENT_WORD), start.current.wrapping_add(D6_WRITES), "{what}: current");
        for slot in 0..2 {
            // Each slot took half the writes, each adding 2 to its word.
            let seq = payload_word(name, seq_word::<Frame>(slot));
            assert_eq!(seq, start.seq[slot].wrapping_add(D6_WRITES), "{what}: slot {slot} sequence word");
        }
        assert_eq!(payload_word(name, LOCK_WORD), 0, "{what}: lock word");
        // A write after the run still lands and reads back.
        object.update(|v| *v = Frame::numbered(v.seq + 1)).expect("update after the wrap");
        assert_eq!(object.read(), Frame::numbered(D6_WRITES + 1), "{what}: after an update");
    }
    a.cleanup().expect("cleanup");
    b.cleanup().expect("cleanup");
    gate.cleanup().expect("cleanup");
    assert_removed(&names);
}

/// The D6 writer: the frame of i to both values for i = 1..=10,000,
/// spinning a few microseconds between writes so the reader sees the wrap.
fn d6_writer(a: &Shared<Frame>, b: &Shared<Frame>) {
    let start = Instant::now();
    for i in 1..=D6_WRITES {
        a.write(&Frame::numbered(i)).expect("write A");
        b.write(&Frame::numbered(i)).expect("write B");
        let pause = Instant::now();
        while pause.elapsed() < Duration::from_micros(3) {
            core::hint::spin_loop();
        }
    }
    eprintln!("D6 writer: {D6_WRITES} writes of each value in {:?}", start.elapsed());
}

/// The D6 reader: reads both values until both are the last write, each
/// read whole and never going back; counts the distinct values and those
/// around the wraps.
fn d6_reader(a: &Shared<Frame>, b: &Shared<Frame>) {
    let start = Instant::now();
    let mut last = [0u64; 2];
    let (mut reads, mut distinct, mut near_wrap) = (0u64, [0u64; 2], 0u64);
    while last != [D6_WRITES; 2] {
        assert!(start.elapsed() < WAIT_LIMIT, "the reader did not see the last write within {WAIT_LIMIT:?}");
        for (k, object) in [a, b].into_iter().enumerate() {
            let v = whole(&object.read(), if k == 0 { "value A" } else { "value B" });
            assert!(v >= last[k], "value {k} went back from {} to {v}", last[k]);
            assert!(v <= D6_WRITES, "value {k} is {v}, never written");
            if v != last[k] {
                distinct[k] += 1;
                // Value A's counters wrap between writes 2,500 and 5,000.
                near_wrap += u64::from(k == 0 && (2_400..=5_100).contains(&v));
            }
            last[k] = v;
        }
        reads += 1;
    }
    assert!(distinct.iter().all(|d| *d >= 2), "the reader saw only {distinct:?} distinct values");
    eprintln!(
        "D6 reader: {reads} reads; distinct values A {}, B {}; {near_wrap} of A's around its wraps",
        distinct[0], distinct[1]
    );
}
