//! Cross-process tests of `SharedArray<T>` (issue 8): the seed's two
//! workers filling the halves of an array through `ArrayPart`s, `update`s
//! of shared elements from four processes, per-element wholeness while
//! other processes write, a writer killed mid-write, and the errors an
//! opener gets for a wrong type, a wrong kind, or an index or range out of
//! bounds.
//!
//! As in `state_cross_process.rs`, the test binary re-runs itself in a
//! role (`common::spawn_role`): every test checks `common::role()` first
//! and, in a child, plays that role and returns (a panic is a nonzero exit
//! status). Every wait is time-boxed, a child the parent has not waited
//! for is killed and reaped when the parent fails, and every test checks
//! that what it created is gone from /dev/shm at the end.

mod common;

use common::{CHILD_LIMIT, Kid, WAIT_LIMIT, env, handle_from, wait_for};

use shm_runtime::{
    ArrayError, ArrayPart, LoadPartError, OpenError, Shared, SharedArray, SharedArrayPart, SharedInt, SharedObject,
    SharedState,
};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// Environment variables that carry handles and parts to a child.
const VAR_ARRAY: &str = "SHM_ARRAY_TEST_ARRAY";
const VAR_PART: &str = "SHM_ARRAY_TEST_PART";
const VAR_GATE: &str = "SHM_ARRAY_TEST_GATE";
const VAR_COUNTER: &str = "SHM_ARRAY_TEST_COUNTER";
const VAR_SINGLE: &str = "SHM_ARRAY_TEST_SINGLE";
const VAR_WORKER: &str = "SHM_ARRAY_TEST_WORKER";

/// Longest a child's endless loop runs when nobody stops it (its parent
/// died, say): no orphan spins forever.
const ORPHAN_LIMIT: Duration = Duration::from_secs(25);

// ---------------------------------------------------------------------------
// Element types

/// The seed's record: what a worker stores at index `i`.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Item {
    /// `i * 2` (the seed's example).
    value: u64,
    /// Pid of the worker that wrote it.
    writer: u32,
    /// The index, as the worker saw it.
    index: u32,
}

/// Same size as [`Item`], other field names: another layout.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct OtherItem {
    amount: u64,
    source: u32,
    slot: u32,
}

/// Workers in the update test.
const WORKERS: usize = 4;

/// A counter element for the update test: the total and each worker's
/// share, so a read that mixes two writes (or an update that was lost)
/// shows as `count != sum(per_worker)` or a wrong final total.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Tally {
    count: u64,
    per_worker: [u64; WORKERS],
}

/// 256 bytes (four cache lines) in which every word holds one write
/// number: a read that mixes two writes has two different words.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Wide {
    words: [u64; 32],
}

impl Wide {
    fn numbered(n: u64) -> Self {
        Self { words: [n; 32] }
    }

    /// The write number, or `None` for a mix of two writes.
    fn number(&self) -> Option<u64> {
        self.words.iter().all(|w| *w == self.words[0]).then_some(self.words[0])
    }
}

/// The write number `value` holds; panics naming `what` if it is torn.
fn whole(value: &Wide, what: &str) -> u64 {
    value.number().unwrap_or_else(|| panic!("{what}: torn read, words {:?}", value.words))
}

#[test]
fn wholeness_check_notices_a_mix_of_two_writes() {
    for k in 0..32 {
        let mut mixed = Wide::numbered(5);
        mixed.words[k] = 6;
        assert_eq!(mixed.number(), None, "word {k} from another write went unnoticed");
    }
    assert_eq!(Wide::numbered(7).number(), Some(7));
}

// ---------------------------------------------------------------------------
// Helpers

/// The parent's half of a start gate: waits until `kids` children have
/// joined, then starts them all at once.
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

/// What the parent stores in a gate to start the children.
const GO: i64 = 1 << 40;

/// A child's half of the start gate.
fn join_gate() {
    let gate = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("child opens the gate");
    gate.fetch_add(1);
    wait_for("the parent's go", None, || (gate.read() >= GO).then_some(()));
}

/// Waits for `kids` while `poll` keeps checking the shared state, until
/// all have exited, each successfully, within [`CHILD_LIMIT`].
fn poll_until_exited(mut kids: Vec<Kid>, what: &str, mut poll: impl FnMut()) {
    let start = Instant::now();
    while !kids.is_empty() {
        poll();
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
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn assert_removed<S: AsRef<str>>(names: &[S]) {
    for name in names {
        let name = name.as_ref();
        assert!(!common::exists(name), "{name} left in /dev/shm");
    }
}

/// Words in an element's slot of the array payload for a `size`-byte `T`
/// (the FORMAT draft: a byte cell of `8 + 2 * ceil(size / 8)` words,
/// rounded up to whole 64-byte lines).
const fn stride_words(size: usize) -> usize {
    (8 + 2 * size.div_ceil(8)).next_multiple_of(8)
}

/// Payload word `index` of segment `name`, read from its file.
fn payload_word(name: &str, index: usize) -> u64 {
    let file = File::open(common::shm_path(name)).expect("open the segment file");
    let mut bytes = [0u8; 8];
    file.read_exact_at(&mut bytes, 128 + 8 * index as u64).expect("read a payload word");
    u64::from_ne_bytes(bytes)
}

// ---------------------------------------------------------------------------
// The seed's example

/// The seed's example: two worker processes each fill one half of a
/// 10-element array with `i * 2`, through an `ArrayPart` passed as text;
/// the parent reads the array back exactly. Each worker also tries to
/// write one element and one range outside its part and must be refused
/// with `IndexOutsidePart` / `RangeOutsidePart`.
#[test]
fn two_workers_fill_their_halves_and_the_parent_reads_it_back() {
    const TEST: &str = "two_workers_fill_their_halves_and_the_parent_reads_it_back";
    const LEN: usize = 10;
    if let Some(role) = common::role() {
        assert!(role == "left" || role == "right", "unknown role {role}");
        let part = SharedArrayPart::<Item>::load(&std::env::var(VAR_PART).expect("part text")).expect("load part");
        let me = std::process::id();
        for i in part.range() {
            let index = u32::try_from(i).expect("small index");
            part.set(i, &Item { value: 2 * i as u64, writer: me, index }).expect("set inside the part");
        }
        let outside = if role == "left" { 5 } else { 4 };
        let bogus = Item { value: 999, writer: me, index: 999 };
        let err = part.set(outside, &bogus).expect_err("a write outside the part");
        assert!(matches!(&err, ArrayError::IndexOutsidePart { index, .. } if *index == outside), "{err}");
        assert!(err.to_string().contains(&format!("part {}..{}", part.range().start, part.range().end)), "{err}");
        let err = part.update(outside, |v| *v = bogus).expect_err("an update outside the part");
        assert!(matches!(err, ArrayError::IndexOutsidePart { .. }), "{err}");
        let err = part.copy_from_slice(3, &[bogus; 4]).expect_err("a range across both parts");
        assert!(matches!(err, ArrayError::RangeOutsidePart { start: 3, end: 7, .. }), "{err}");
        assert_eq!(part.array_len(), LEN);
        return;
    }
    let array = SharedArray::<Item>::create_sharedobject(LEN).expect("create the array");
    let name = array.name().to_string();
    let halves = [array.part(..LEN / 2).expect("left half"), array.part(LEN / 2..).expect("right half")];
    let kids: Vec<Kid> = ["left", "right"]
        .iter()
        .zip(&halves)
        .map(|(role, part)| Kid::spawn(TEST, role, &[(VAR_PART, part.to_string())]))
        .collect();
    let pids: Vec<u32> = kids.iter().map(|k| k.pid).collect();
    let start = Instant::now();
    for kid in kids {
        kid.expect_success();
    }
    let values = array.to_vec();
    eprintln!("two workers filled their halves in {:?}: {values:?}", start.elapsed());
    assert_eq!(values.iter().map(|v| v.value).collect::<Vec<_>>(), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    for (i, v) in values.iter().enumerate() {
        assert_eq!(v.index as usize, i, "element {i}: {v:?}");
        assert_eq!(v.writer, pids[i / (LEN / 2)], "element {i} was written by the other worker: {v:?}");
    }
    array.cleanup().expect("cleanup");
    assert_removed(&[name]);
}

// ---------------------------------------------------------------------------
// Updates from four processes

/// Elements the update test spreads its increments over.
const TALLY_ELEMENTS: usize = 8;
/// `update` calls each worker makes.
const UPDATES: usize = 100_000;

/// Four worker processes each make 100,000 `update` increments, element
/// `k % 8` for the k-th, all starting at once: every element ends with
/// exactly 4 x 12,500 increments, 12,500 from each worker. Meanwhile the
/// parent reads every element: each read is whole (`count` equals the sum
/// of the per-worker counts) and never goes back.
#[test]
fn updates_from_four_processes_are_never_lost() {
    const TEST: &str = "updates_from_four_processes_are_never_lost";
    if let Some(role) = common::role() {
        assert_eq!(role, "worker", "unknown role");
        let worker: usize = std::env::var(VAR_WORKER).expect("worker number").parse().expect("a number");
        let array = SharedArray::<Tally>::load_sharedobject(&handle_from(VAR_ARRAY)).expect("worker opens the array");
        join_gate();
        let start = Instant::now();
        for k in 0..UPDATES {
            array
                .update(k % TALLY_ELEMENTS, |t| {
                    t.count += 1;
                    t.per_worker[worker] += 1;
                })
                .expect("update");
        }
        eprintln!("worker {worker}: {UPDATES} updates in {:?}", start.elapsed());
        return;
    }
    let zero = Tally { count: 0, per_worker: [0; WORKERS] };
    let array = SharedArray::create_from_slice(&[zero; TALLY_ELEMENTS]).expect("create the array");
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    let names = [array.name(), gate.name()].map(ToString::to_string);
    let mut kids: Vec<Kid> = (0..WORKERS)
        .map(|w| {
            let envs = [env(VAR_ARRAY, &array.handle()), env(VAR_GATE, &gate.handle()), (VAR_WORKER, w.to_string())];
            Kid::spawn(TEST, "worker", &envs)
        })
        .collect();
    open_gate(&gate, &mut kids);
    let start = Instant::now();
    let mut last = [0u64; TALLY_ELEMENTS];
    let mut reads = 0u64;
    poll_until_exited(kids, "update workers", || {
        for (i, t) in array.iter().enumerate() {
            assert_eq!(t.count, t.per_worker.iter().sum::<u64>(), "element {i} read torn: {t:?}");
            assert!(t.count >= last[i], "element {i} went back from {} to {}", last[i], t.count);
            last[i] = t.count;
        }
        reads += 1;
    });
    let took = start.elapsed();
    let per_element = (WORKERS * UPDATES / TALLY_ELEMENTS) as u64;
    let per_worker = (UPDATES / TALLY_ELEMENTS) as u64;
    for (i, t) in array.iter().enumerate() {
        assert_eq!(t, Tally { count: per_element, per_worker: [per_worker; WORKERS] }, "element {i}");
    }
    eprintln!(
        "{WORKERS} processes x {UPDATES} updates over {TALLY_ELEMENTS} elements in {took:?}, none lost; the parent \
         made {reads} passes of whole reads meanwhile"
    );
    array.cleanup().expect("cleanup");
    gate.cleanup().expect("cleanup");
    assert_removed(&names);
}

// ---------------------------------------------------------------------------
// Wholeness per element

/// Elements of the wholeness test; each writer owns half of them.
const WIDE_ELEMENTS: usize = 4;
/// Rounds each writer makes (one write to each of its elements a round).
const WIDE_ROUNDS: u64 = 50_000;

/// Two writer processes each own half of a 4-element array of 256-byte
/// values (through parts) and store round n = 1..=50,000 in all 32 words
/// of each of their elements; a reader process and the parent read all
/// elements until the last round: every read has all words equal (never a
/// mix of two writes), never goes back, and the reader sees each element
/// change (how often depends on the scheduler; the run prints it).
#[test]
fn per_element_reads_are_never_torn_across_processes() {
    const TEST: &str = "per_element_reads_are_never_torn_across_processes";
    if let Some(role) = common::role() {
        if role == "reader" {
            let array =
                SharedArray::<Wide>::load_sharedobject(&handle_from(VAR_ARRAY)).expect("reader opens the array");
            join_gate();
            let (reads, distinct) = read_until_last_round(&array, "reader");
            eprintln!("reader: {reads} passes, distinct values per element {distinct:?}");
            assert!(distinct.iter().all(|d| *d >= 2), "the reader saw an element never change: {distinct:?}");
        } else {
            assert_eq!(role, "writer", "unknown role");
            let part = SharedArrayPart::<Wide>::load(&std::env::var(VAR_PART).expect("part")).expect("load part");
            join_gate();
            let start = Instant::now();
            for n in 1..=WIDE_ROUNDS {
                for i in part.range() {
                    part.set(i, &Wide::numbered(n)).expect("set");
                }
            }
            eprintln!("writer {:?}: {WIDE_ROUNDS} rounds in {:?}", part.range(), start.elapsed());
        }
        return;
    }
    let array = SharedArray::<Wide>::create_sharedobject(WIDE_ELEMENTS).expect("create the array");
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    let names = [array.name(), gate.name()].map(ToString::to_string);
    let gate_env = env(VAR_GATE, &gate.handle());
    let mut kids = vec![Kid::spawn(TEST, "reader", &[env(VAR_ARRAY, &array.handle()), gate_env.clone()])];
    for part in [array.part(..WIDE_ELEMENTS / 2), array.part(WIDE_ELEMENTS / 2..)] {
        let part = part.expect("half").to_string();
        kids.push(Kid::spawn(TEST, "writer", &[(VAR_PART, part), gate_env.clone()]));
    }
    open_gate(&gate, &mut kids);
    let start = Instant::now();
    let mut last = [0u64; WIDE_ELEMENTS];
    poll_until_exited(kids, "wholeness", || {
        for (i, value) in array.iter().enumerate() {
            let n = whole(&value, &format!("parent, element {i}"));
            assert!(n >= last[i], "element {i} went back from {} to {n}", last[i]);
            last[i] = n;
        }
    });
    eprintln!("wholeness: 2 writers x {WIDE_ROUNDS} rounds in {:?}", start.elapsed());
    assert!(array.iter().all(|v| v == Wide::numbered(WIDE_ROUNDS)), "not every element holds the last round");
    array.cleanup().expect("cleanup");
    gate.cleanup().expect("cleanup");
    assert_removed(&names);
}

/// Reads every element until all hold the last round, each read whole and
/// never going back; returns the passes made and the distinct values seen
/// per element.
fn read_until_last_round(array: &SharedArray<Wide>, who: &str) -> (u64, [u64; WIDE_ELEMENTS]) {
    let start = Instant::now();
    let mut last = [0u64; WIDE_ELEMENTS];
    let mut distinct = [0u64; WIDE_ELEMENTS];
    let mut reads = 0u64;
    while last != [WIDE_ROUNDS; WIDE_ELEMENTS] {
        assert!(start.elapsed() < WAIT_LIMIT, "{who}: the last round did not arrive within {WAIT_LIMIT:?}");
        for (i, value) in array.iter().enumerate() {
            let n = whole(&value, &format!("{who}, element {i}"));
            assert!(n >= last[i], "{who}: element {i} went back from {} to {n}", last[i]);
            assert!(n <= WIDE_ROUNDS, "{who}: element {i} holds {n}, never written");
            distinct[i] += u64::from(n != last[i]);
            last[i] = n;
        }
        reads += 1;
    }
    (reads, distinct)
}

// ---------------------------------------------------------------------------
// A writer killed mid-write

/// Rounds of the kill test, at least.
const KILL_ROUNDS: u32 = 10;
/// Rounds of the kill test at most: it goes on past [`KILL_ROUNDS`] until
/// a writer was killed holding the lock (on a loaded machine ten random
/// kills can all land outside the locked copy).
const KILL_ROUNDS_MAX: u32 = 200;
/// The element the killed writer writes; its neighbours stay untouched.
const KILL_INDEX: usize = 1;

/// Ten rounds or more: a child writes element 1 of a 3-element array of 256-byte
/// values in a tight loop (round n in all words, n = 1, 2, ...) and is
/// killed with `SIGKILL` 0.1 to 5 ms in, then reaped. Then a read of
/// element 1 returns promptly the last or next-to-last write, whole; `set`
/// and `update` of element 1 succeed promptly (the dead writer's lock is
/// taken over); elements 0 and 2 are untouched. At least one writer must
/// have been killed holding the element's lock, or the test did not test
/// anything: rounds go on (up to [`KILL_ROUNDS_MAX`]) until one was.
#[test]
fn a_killed_writer_leaves_its_element_whole_and_writable() {
    const TEST: &str = "a_killed_writer_leaves_its_element_whole_and_writable";
    if let Some(role) = common::role() {
        assert_eq!(role, "writer", "unknown role");
        let array = SharedArray::<Wide>::load_sharedobject(&handle_from(VAR_ARRAY)).expect("writer opens the array");
        let counter = SharedInt::load_sharedobject(&handle_from(VAR_COUNTER)).expect("writer opens the counter");
        let start = Instant::now();
        let mut n = 0u64;
        loop {
            n += 1;
            if n.is_multiple_of(1024) {
                assert!(start.elapsed() < ORPHAN_LIMIT, "writer was never killed");
            }
            array.set(KILL_INDEX, &Wide::numbered(n)).expect("writer writes");
            counter.write(i64::try_from(n).expect("small"));
        }
    }
    let neighbours = Wide::numbered(0xabcd);
    let array = SharedArray::create_from_slice(&[neighbours, Wide::numbered(0), neighbours]).expect("create");
    let counter = SharedInt::create_sharedobject(0).expect("create the counter");
    let names = [array.name(), counter.name()].map(ToString::to_string);
    let name = array.name().as_str();
    let stride = stride_words(size_of::<Wide>());
    assert_eq!(array.handle().payload_size(), 8 * (8 + 3 * stride as u64), "the layout this test reads");
    let lock_word = 8 + KILL_INDEX * stride;
    let envs = [env(VAR_ARRAY, &array.handle()), env(VAR_COUNTER, &counter.handle())];
    let mut holding_lock = 0;
    let mut slowest = Duration::ZERO;
    let mut rounds = 0;
    for round in 0..KILL_ROUNDS_MAX {
        if round >= KILL_ROUNDS && holding_lock > 0 {
            break;
        }
        rounds += 1;
        counter.write(0);
        let mut kid = Kid::spawn(TEST, "writer", &envs);
        wait_for("the writer's first writes", Some(&mut kid), || (counter.read() >= 3).then_some(()));
        let jitter = u64::from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos() % 1000);
        std::thread::sleep(Duration::from_micros(100 + (u64::from(round) * 2477 + jitter) % 4900));
        let pid = kid.pid_word();
        let status = kid.kill_and_reap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "round {round}: the writer died otherwise: {status}");
        let holder = common::pid_of(payload_word(name, lock_word));
        if holder == pid {
            holding_lock += 1;
        } else {
            assert_eq!(holder, 0, "round {round}: lock word is neither free nor the dead writer's pid {pid}");
        }

        let start = Instant::now();
        let value = array.get(KILL_INDEX).expect("in range");
        let n = whole(&value, &format!("round {round}, after SIGKILL"));
        let writes = u64::try_from(counter.read()).expect("not negative");
        assert!(n == writes || n == writes + 1, "round {round}: read write {n}, the writer had counted {writes}");
        let marker = 1_000_000_000 + u64::from(round) * 10;
        array.set(KILL_INDEX, &Wide::numbered(marker)).expect("set after the writer was killed");
        let old = array
            .update(KILL_INDEX, |v| {
                let old = *v;
                *v = Wide::numbered(marker + 1);
                old
            })
            .expect("update after the writer was killed");
        let took = start.elapsed();
        slowest = slowest.max(took);
        assert!(took < Duration::from_secs(1), "round {round}: read, set and update took {took:?}");
        assert_eq!(whole(&old, "update"), marker, "round {round}: update saw another value");
        assert_eq!(array.get(KILL_INDEX), Some(Wide::numbered(marker + 1)), "round {round}");
        assert_eq!(payload_word(name, lock_word), 0, "round {round}: the parent's writes left the lock held");
        assert_eq!((array.get(0), array.get(2)), (Some(neighbours), Some(neighbours)), "round {round}: neighbours");
    }
    eprintln!(
        "kill: of {rounds} writers {holding_lock} were killed holding the element's lock; slowest read + set + \
         update after a kill {slowest:?}"
    );
    assert!(
        holding_lock > 0,
        "no writer of {rounds} was killed holding the lock: the test did not exercise a mid-write kill"
    );
    array.cleanup().expect("cleanup");
    counter.cleanup().expect("cleanup");
    assert_removed(&names);
}

// ---------------------------------------------------------------------------
// Errors an opener gets

/// A child opens the parent's 10-element array of `Item` with the wrong
/// element type (`LayoutMismatch` naming both types), a `Shared<Item>` as
/// an array and the array as a `Shared<Item>` (`KindMismatch`), a part
/// edited to reach past the end (`OutOfBounds`), and indexes and copies
/// past the end (`IndexOutOfRange` / `RangeOutOfBounds` naming the index
/// or range, the length and the segment). Nothing it tried changed the
/// array.
#[test]
fn wrong_types_kinds_and_indices_give_clear_errors_across_processes() {
    const TEST: &str = "wrong_types_kinds_and_indices_give_clear_errors_across_processes";
    if let Some(role) = common::role() {
        assert_eq!(role, "opener", "unknown role");
        opener_checks_errors();
        return;
    }
    let array = SharedArray::<Item>::create_sharedobject(10).expect("create the array");
    let single = Shared::<Item>::create_zeroed().expect("create a single item");
    let names = [array.name(), single.name()].map(ToString::to_string);
    let envs = [env(VAR_ARRAY, &array.handle()), env(VAR_SINGLE, &single.handle())];
    Kid::spawn(TEST, "opener", &envs).expect_success();
    let zero = Item { value: 0, writer: 0, index: 0 };
    assert!(array.iter().all(|v| v == zero), "a refused operation changed the array: {:?}", array.to_vec());
    array.cleanup().expect("cleanup");
    single.cleanup().expect("cleanup");
    assert_removed(&names);
}

fn opener_checks_errors() {
    let handle = handle_from(VAR_ARRAY);
    let name = handle.name().as_str().to_owned();

    let err = SharedArray::<OtherItem>::load_sharedobject(&handle).expect_err("wrong element type");
    assert!(matches!(&err, OpenError::LayoutMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("OtherItem") && text.contains("::Item`") && text.contains(&name), "{text}");

    let err = SharedArray::<Item>::load_sharedobject(&handle_from(VAR_SINGLE)).expect_err("a single value");
    assert!(err.to_string().contains("as `array`: it holds `state`"), "{err}");
    let err = Shared::<Item>::load_sharedobject(&handle).expect_err("an array as a single value");
    assert!(err.to_string().contains("as `state`: it holds `array`"), "{err}");

    let array = SharedArray::<Item>::load_sharedobject(&handle).expect("the right type opens");
    assert_eq!(array.len(), 10);
    assert_eq!(array.get(10), None);
    let item = Item { value: 1, writer: 1, index: 1 };
    let err = array.set(10, &item).expect_err("index 10 of 10");
    assert_eq!(err.to_string(), format!("index 10 is out of range for array {name:?} of length 10"));
    let mut buf = [item; 3];
    let err = array.copy_to_slice(8, &mut buf).expect_err("8..11 of 10");
    assert_eq!(err.to_string(), format!("range 8..11 is out of bounds for array {name:?} of length 10"));
    let err = array.copy_from_slice(8, &buf).expect_err("8..11 of 10");
    assert!(matches!(err, ArrayError::RangeOutOfBounds { start: 8, end: 11, len: 10, .. }), "{err}");

    let part: ArrayPart = format!("5..11@{handle}").parse().expect("a part parses without the array");
    let err = SharedArrayPart::<Item>::load_part(&part).expect_err("a part past the end");
    assert!(matches!(&err, LoadPartError::OutOfBounds { len: 10, .. }), "{err}");
    assert!(err.to_string().contains("5..11") && err.to_string().contains("only 10 elements"), "{err}");
    let err = SharedArrayPart::<OtherItem>::load(&format!("0..5@{handle}")).expect_err("a part of the wrong type");
    assert!(matches!(err, LoadPartError::Open(OpenError::LayoutMismatch { .. })), "{err}");
}
