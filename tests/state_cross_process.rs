//! Cross-process tests of `Shared<T>`: typed values in the two-copy byte
//! cell, written and read by several processes at once, with writers
//! killed, stopped, and counters started next to the `u64` wrap.
//!
//! As in `cross_process.rs`, the test binary re-runs itself in a role (see
//! `common::spawn_role`): every test checks `common::role()` first and, in
//! a child, plays that role and returns (a panic is a nonzero exit status).
//! Every wait is time-boxed, a child the parent has not waited for is
//! killed and reaped when the parent fails, and every test checks that
//! what it created is gone from /dev/shm at the end. The values are
//! `[i; N]` arrays (every element the write number `i`), so a read that
//! mixes two writes shows as unequal elements. Ids (D1, D3, ...) are rows
//! of the test matrix in RELIABILITY.md.

mod common;

use common::{CHILD_LIMIT, Kid, RemoveOnDrop, WAIT_LIMIT, env, handle_from, wait_for};

use rustix::process::Signal;
use shm_runtime::{Handle, Shared, SharedBool, SharedInt, SharedString, WriteError};
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

/// A 64-byte value.
type Small = [u64; 8];
/// Words of [`Big`].
const BIG_WORDS: usize = 512;
/// A 4 KiB value: a write takes long enough that kills and stops land
/// inside it.
type Big = [u64; BIG_WORDS];

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

/// Byte offset of the payload in a segment file (FORMAT.md).
const PAYLOAD_OFFSET: u64 = 128;
// Word indexes inside a byte cell's payload (FORMAT.md, `cell.rs`).
const LOCK_WORD: usize = 0;
const CURRENT_WORD: usize = 1;

/// Index of slot `slot`'s sequence word in a cell holding `T` (the length
/// word follows it, then the data words).
const fn seq_word<T>(slot: usize) -> usize {
    4 + slot * (2 + size_of::<T>().div_ceil(8))
}

// ---------------------------------------------------------------------------
// Helpers

/// The number every element of `value` holds; panics naming `when` if the
/// elements differ (a torn read).
fn whole<const N: usize>(value: &[u64; N], when: &str) -> u64 {
    let first = value[0];
    if let Some(at) = value.iter().position(|v| *v != first) {
        let head = &value[..N.min(4)];
        panic!("{when}: torn read: element 0 is {first} but element {at} is {} (starts {head:?})", value[at]);
    }
    first
}

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
fn timed_read<T: shm_runtime::SharedState>(shared: &Shared<T>, limit: Duration) -> (T, Duration) {
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

/// One child writes `[i; 8]` for i = 1, 2, ... as fast as it can, 10^6
/// times or for 3 s, and `[i; 512]` after every eighth (and the last) of
/// those writes, while two reader children read both objects
/// continuously. Every read is whole, never older than the one
/// before, and a small value read after a big one is never older than it
/// (the writer wrote the small one first). Both readers see many distinct
/// values, and after the parent stops them their last reads are exactly
/// the writer's last value.
#[test]
fn d1_d7_one_writer_two_readers() {
    const TEST: &str = "d1_d7_one_writer_two_readers";
    if let Some(role) = common::role() {
        let small = Shared::<Small>::load_sharedobject(&handle_from(VAR_A)).expect("child opens the small value");
        let big = Shared::<Big>::load_sharedobject(&handle_from(VAR_B)).expect("child opens the big value");
        let gate = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("child opens the gate");
        if role == "writer" {
            d1_writer(&small, &big, &gate);
        } else {
            let index = role.strip_prefix("reader-").and_then(|i| i.parse().ok()).expect("role reader-<index>");
            d1_reader(index, &small, &big, &gate);
        }
        return;
    }
    let small = Shared::<Small>::create_zeroed().expect("create the small value");
    let big = Shared::<Big>::create_zeroed().expect("create the big value");
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    // 0 while the readers read; then the writer's last write number.
    let stop = Shared::<u64>::create_zeroed().expect("create the stop word");
    // Per reader: reads, distinct small values, distinct big values, and
    // the longest pair of reads in microseconds.
    let stats = Shared::<[[u64; 4]; D1_READERS]>::create_zeroed().expect("create the statistics");
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
    for (k, [reads, distinct_small, distinct_big, longest_us]) in stats.read().iter().enumerate() {
        assert!(
            *distinct_small >= D1_MIN_DISTINCT && *distinct_big >= D1_MIN_DISTINCT,
            "reader {k} saw only {distinct_small} small and {distinct_big} big values in {reads} reads"
        );
        eprintln!(
            "D1/D7: reader {k}: {reads} reads of each value, {distinct_small} distinct small, \
             {distinct_big} distinct big; longest big-then-small read pair {longest_us} µs"
        );
    }
    let big_writes = last / D1_BIG_EVERY + 1;
    eprintln!(
        "D1/D7: the writer wrote the small value {last} times and the big one {big_writes} times in {wrote_for:?}"
    );
    small.cleanup().expect("cleanup");
    big.cleanup().expect("cleanup");
    gate.cleanup().expect("cleanup");
    stop.cleanup().expect("cleanup");
    stats.cleanup().expect("cleanup");
    assert_removed(&names);
}

/// The D1 writer: `[i; 8]` for i = 1, 2, ..., and `[i; 512]` after every
/// [`D1_BIG_EVERY`]th of those writes and after the last.
fn d1_writer(small: &Shared<Small>, big: &Shared<Big>, gate: &SharedInt) {
    join_gate(gate);
    let start = Instant::now();
    let mut i = 0;
    while i < D1_WRITES && (!i.is_multiple_of(256) || start.elapsed() < D1_TIME) {
        i += 1;
        small.write(&[i; 8]).expect("write the small value");
        if i.is_multiple_of(D1_BIG_EVERY) {
            big.write(&[i; BIG_WORDS]).expect("write the big value");
        }
    }
    big.write(&[i; BIG_WORDS]).expect("write the big value");
    eprintln!("D1/D7 writer: {i} writes of the small value in {:?}", start.elapsed());
}

/// A D1 reader: reads both values until the parent stores the writer's
/// last write number in the stop word, then checks its last reads are
/// exactly that and publishes its statistics.
fn d1_reader(index: usize, small: &Shared<Small>, big: &Shared<Big>, gate: &SharedInt) {
    let stop = Shared::<u64>::load_sharedobject(&handle_from(VAR_STOP)).expect("reader opens the stop word");
    let stats =
        Shared::<[[u64; 4]; D1_READERS]>::load_sharedobject(&handle_from(VAR_STATS)).expect("reader opens the stats");
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
        let s = whole(&small.read(), "small value");
        longest = longest.max(began.elapsed());
        assert!(b >= last_big, "reader {index}: the big value went back from {last_big} to {b}");
        assert!(s >= last_small, "reader {index}: the small value went back from {last_small} to {s}");
        assert!(s >= b, "reader {index}: read small {s} after big {b}, but the writer wrote small {b} first");
        distinct_big += u64::from(b != last_big);
        distinct_small += u64::from(s != last_small);
        (last_small, last_big) = (s, b);
        reads += 1;
    };
    assert_eq!(whole(&small.read(), "final small"), last, "reader {index}: final small value");
    assert_eq!(whole(&big.read(), "final big"), last, "reader {index}: final big value");
    let longest_us = u64::try_from(longest.as_micros()).unwrap_or(u64::MAX);
    stats.update(|s| s[index] = [reads, distinct_small, distinct_big, longest_us]).expect("publish the statistics");
}

// ---------------------------------------------------------------------------
// D3, D4: a writer killed or stopped mid-write

/// Child role shared by D3 and D4: writes `[i; 512]` for i = 1, 2, ... to
/// the value in [`VAR_A`] (or to one it creates under [`VAR_NAME`],
/// announcing its handle in [`VAR_HANDLE_OUT`]) as fast as it can,
/// storing `i` in the counter in [`VAR_COUNTER`] after each completed
/// write, until the flag in [`VAR_STOP`] (if any) is set.
fn indexed_writer() {
    let counter = SharedInt::load_sharedobject(&handle_from(VAR_COUNTER)).expect("writer opens the counter");
    let stop = std::env::var_os(VAR_STOP)
        .map(|_| SharedBool::load_sharedobject(&handle_from(VAR_STOP)).expect("writer opens the stop flag"));
    let big = if let Ok(name) = std::env::var(VAR_NAME) {
        let big = Shared::<Big>::create_named(&name, &[0; BIG_WORDS]).expect("writer creates the value");
        let out = SharedString::load_sharedobject(&handle_from(VAR_HANDLE_OUT)).expect("writer opens the handle slot");
        out.write(&big.handle().to_string()).expect("announce the handle");
        big
    } else {
        Shared::<Big>::load_sharedobject(&handle_from(VAR_A)).expect("writer opens the value")
    };
    let start = Instant::now();
    let mut i = 0u64;
    while !stop.as_ref().is_some_and(SharedBool::read) {
        i += 1;
        if i.is_multiple_of(1024) {
            assert!(start.elapsed() < ORPHAN_LIMIT, "writer was never stopped");
        }
        big.write(&[i; BIG_WORDS]).expect("writer writes");
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

/// 20 rounds: a child writes `[i; 512]` in a tight loop and is killed
/// with `SIGKILL` 0.1 to 5 ms in, then reaped. In even rounds the parent created the
/// value; in odd rounds the killed child did (the parent opened it through
/// the handle the child announced, and removes the name afterwards). A
/// read then returns promptly a whole value that is the last or the
/// next-to-last write; a `write` and an `update` succeed promptly (the
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
    let own = Shared::<Big>::create_zeroed().expect("create the value");
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
            Shared::<Big>::load_sharedobject(&handle).expect("open the child's value")
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
        big.write(&[marker; BIG_WORDS]).expect("write after the writer was killed");
        let took = start.elapsed();
        slowest[1] = slowest[1].max(took);
        assert!(took < Duration::from_secs(1), "round {round}: the write took {took:?}");
        assert_eq!(whole(&timed_read(big, PROMPT).0, &when), marker, "round {round}: the parent's write");
        let start = Instant::now();
        let old = big
            .update(|v| {
                let old = v[0];
                *v = [old + 1; BIG_WORDS];
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

/// A child writes `[i; 512]` in a loop and is stopped with `SIGSTOP`,
/// three times. While it is stopped, reads (from the parent's main
/// thread, and from a second thread while the first waits for the lock)
/// come back promptly, always whole and always the same value (the last
/// or next-to-last write). If the stopped child holds the writer lock,
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
    let big = Shared::<Big>::create_zeroed().expect("create the value");
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

        if holder == kid.pid_word() {
            stopped_holding += 1;
            if refused.is_none() {
                refused = Some(d4_refused_writes(&big, &kid, index, &mut latencies, &when));
            }
        } else {
            assert_eq!(holder, 0, "{when}: lock word is neither free nor the writer's pid");
            assert!(!odd, "{when}: a copy is mid-write but nobody holds the lock");
            let marker = u64::MAX - u64::from(cycle);
            big.write(&[marker; BIG_WORDS]).expect("write while the stopped writer holds no lock");
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
        let write = big.write(&[u64::MAX; BIG_WORDS]);
        let write_took = start.elapsed();
        let start = Instant::now();
        let update = big.update(|v| v[0] = u64::MAX);
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
const UPDATES: u64 = 100_000;

/// One update: element 0 counts the updates, element `k` grows by `k + 1`
/// each time, so a consistent value has `v[k] == (k + 1) * v[0]`.
fn bump(v: &mut Small) {
    check_consistent(v, "inside update");
    v[0] += 1;
    for (k, x) in v.iter_mut().enumerate().skip(1) {
        *x = x.wrapping_add(k as u64 + 1);
    }
}

/// Asserts `v[k] == (k + 1) * v[0]` for every `k`.
fn check_consistent(v: &Small, when: &str) {
    for (k, x) in v.iter().enumerate() {
        assert_eq!(*x, (k as u64 + 1) * v[0], "{when}: inconsistent value {v:?}");
    }
}

/// Two child processes, started together through a gate, each make
/// 100,000 `update`s that add 1 to element 0 and `k + 1` to element `k` of
/// one `Shared<[u64; 8]>`, checking inside each update that the value they
/// were handed is consistent. Meanwhile the parent reads: every value
/// consistent, element 0 never going back. At the end element 0 is
/// exactly 200,000 and the rest match.
#[test]
fn update_two_processes_100000_each() {
    const TEST: &str = "update_two_processes_100000_each";
    if let Some(role) = common::role() {
        assert_eq!(role, "updater", "unknown role");
        let shared = Shared::<Small>::load_sharedobject(&handle_from(VAR_A)).expect("child opens the value");
        let gate = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("child opens the gate");
        join_gate(&gate);
        let start = Instant::now();
        for _ in 0..UPDATES {
            shared.update(bump).expect("update");
        }
        eprintln!("update: one child's {UPDATES} updates took {:?}", start.elapsed());
        return;
    }
    let shared = Shared::<Small>::create_zeroed().expect("create the value");
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    let names = [shared.name(), gate.name()].map(ToString::to_string);
    let envs = [env(VAR_A, &shared.handle()), env(VAR_GATE, &gate.handle())];
    let mut kids = vec![Kid::spawn(TEST, "updater", &envs), Kid::spawn(TEST, "updater", &envs)];
    open_gate(&gate, &mut kids);
    let start = Instant::now();
    let (mut reads, mut last, mut changes) = (0u64, 0u64, 0u64);
    while !kids.is_empty() {
        let value = shared.read();
        check_consistent(&value, "parent read");
        assert!(value[0] >= last, "element 0 went back from {last} to {}", value[0]);
        changes += u64::from(value[0] != last);
        last = value[0];
        reads += 1;
        if reads.is_multiple_of(16) {
            let mut i = 0;
            while i < kids.len() {
                match kids[i].has_exited() {
                    Some(status) => {
                        assert!(status.success(), "an updater failed: {status}");
                        kids.swap_remove(i);
                    }
                    None => i += 1,
                }
            }
            assert!(start.elapsed() < CHILD_LIMIT, "the updaters did not finish within {CHILD_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    let took = start.elapsed();
    let value = shared.read();
    check_consistent(&value, "final");
    assert_eq!(value[0], 2 * UPDATES, "updates were lost: {value:?}");
    eprintln!("update: 2 x {UPDATES} updates in {took:?}; the parent's {reads} reads saw {changes} changes");
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

/// Value the D6 objects are created with.
const D6_INITIAL: Small = [0; 8];
/// What the parent stores in the copy nobody points at: a read of it
/// would show.
const D6_STALE: Small = [0xdead_beef; 8];

/// Sets the cell of `name` (a `Shared<Small>` holding [`D6_INITIAL`] in
/// slot 0, untouched by any other process) to `start` by writing its file.
fn patch_near_wrap(name: &str, start: &WrapStart) {
    let data = |slot: usize| seq_word::<Small>(slot) + 2;
    let (live, stale) = if start.in_slot1 { (1, 0) } else { (0, 1) };
    for (k, v) in D6_INITIAL.iter().enumerate() {
        patch_word(name, data(live) + k, *v);
    }
    for (k, v) in D6_STALE.iter().enumerate() {
        patch_word(name, data(stale) + k, *v);
    }
    for slot in 0..2 {
        assert_eq!(start.seq[slot] & 1, 0, "a complete copy has an even sequence word");
        patch_word(name, seq_word::<Small>(slot), start.seq[slot]);
        patch_word(name, seq_word::<Small>(slot) + 1, size_of::<Small>() as u64);
    }
    assert_eq!(usize::from(start.current & 1 == 1), live, "current points at the live copy");
    patch_word(name, CURRENT_WORD, start.current);
}

/// Two `Shared<[u64; 8]>` with their cells' counters patched (through the
/// segment file, before any other process opens them) to just below
/// `u64::MAX`: one wrapping mid-run, one at the first write (its value in
/// slot 1, `current` odd). A writer child writes `[i; 8]` to both for i =
/// 1..=10,000, pausing briefly between writes, while a reader child reads
/// both continuously: every read whole and never going back, the final
/// values exact, and the counters wrapped to exactly where 10,000 writes
/// take them.
#[test]
fn d6_counters_near_u64_max() {
    const TEST: &str = "d6_counters_near_u64_max";
    if let Some(role) = common::role() {
        let a = Shared::<Small>::load_sharedobject(&handle_from(VAR_A)).expect("child opens value A");
        let b = Shared::<Small>::load_sharedobject(&handle_from(VAR_B)).expect("child opens value B");
        let gate = SharedInt::load_sharedobject(&handle_from(VAR_GATE)).expect("child opens the gate");
        join_gate(&gate);
        match role.as_str() {
            "writer" => d6_writer(&a, &b),
            "reader" => d6_reader(&a, &b),
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let a = Shared::<Small>::create_sharedobject(&D6_INITIAL).expect("create value A");
    let b = Shared::<Small>::create_sharedobject(&D6_INITIAL).expect("create value B");
    let gate = SharedInt::create_sharedobject(0).expect("create the gate");
    let names = [a.name(), b.name(), gate.name()].map(ToString::to_string);
    patch_near_wrap(a.name().as_str(), &WRAP_MID);
    patch_near_wrap(b.name().as_str(), &WRAP_NOW);
    assert_eq!(a.read(), D6_INITIAL, "A after patching");
    assert_eq!(b.read(), D6_INITIAL, "B after patching (its value is in slot 1)");
    let envs = [env(VAR_A, &a.handle()), env(VAR_B, &b.handle()), env(VAR_GATE, &gate.handle())];
    let mut kids = vec![Kid::spawn(TEST, "writer", &envs), Kid::spawn(TEST, "reader", &envs)];
    open_gate(&gate, &mut kids);
    for kid in kids {
        kid.expect_success();
    }
    for (object, start, what) in [(&a, &WRAP_MID, "A"), (&b, &WRAP_NOW, "B")] {
        assert_eq!(object.read(), [D6_WRITES; 8], "{what}: final value");
        let name = object.name().as_str();
        assert_eq!(payload_word(name, CURRENT_WORD), start.current.wrapping_add(D6_WRITES), "{what}: current");
        for slot in 0..2 {
            // Each slot took half the writes, each adding 2 to its word.
            let seq = payload_word(name, seq_word::<Small>(slot));
            assert_eq!(seq, start.seq[slot].wrapping_add(D6_WRITES), "{what}: slot {slot} sequence word");
        }
        assert_eq!(payload_word(name, LOCK_WORD), 0, "{what}: lock word");
        // A write after the run still lands and reads back.
        object.update(|v| *v = [v[0] + 1; 8]).expect("update after the wrap");
        assert_eq!(object.read(), [D6_WRITES + 1; 8], "{what}: after an update");
    }
    a.cleanup().expect("cleanup");
    b.cleanup().expect("cleanup");
    gate.cleanup().expect("cleanup");
    assert_removed(&names);
}

/// The D6 writer: `[i; 8]` to both values for i = 1..=10,000, spinning a
/// few microseconds between writes so the reader sees the wrap.
fn d6_writer(a: &Shared<Small>, b: &Shared<Small>) {
    let start = Instant::now();
    for i in 1..=D6_WRITES {
        a.write(&[i; 8]).expect("write A");
        b.write(&[i; 8]).expect("write B");
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
fn d6_reader(a: &Shared<Small>, b: &Shared<Small>) {
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
