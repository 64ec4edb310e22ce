//! Cross-process tests: the test binary re-runs itself in a role (see
//! `common::spawn_role`) and the parent races, kills, stops or forks it.
//!
//! Every test checks `common::role()` first: in a child it plays the role
//! named there and returns (a panic is a nonzero exit status). Every wait
//! for a child is time-boxed, a child the parent has not waited for is
//! killed and reaped when the parent fails, and every test removes what it
//! created from /dev/shm. Ids (D1, D3, ...) are rows of the test matrix in
//! docs/RELIABILITY.md.

mod common;

use common::{CHILD_LIMIT, Kid, RemoveOnDrop, WAIT_LIMIT, env, handle_from, wait_for};

use rustix::fs::Access;
use rustix::process::{Pid, Signal, WaitOptions};
use shm_runtime::{Handle, OpenError, SharedBool, SharedBytes, SharedInt, SharedObject, SharedString, WriteError};
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::{Barrier, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest a child's endless loop runs when nobody stops it (its parent
/// died, say): no orphan spins forever.
const ORPHAN_LIMIT: Duration = Duration::from_secs(25);
/// A read must come back within this even with a dead or stopped writer
/// (the library's retry budget under contention is 1 s; a read of a
/// value nobody is writing takes microseconds).
const PROMPT: Duration = Duration::from_millis(500);

// Environment variables that carry handles to a child.
const HANDLE_VAR: &str = shm_runtime::HANDLE_ENV;
const COUNTER_VAR: &str = "SHM_TEST_COUNTER";
const FLAG_VAR: &str = "SHM_TEST_FLAG";
const TEXT_VAR: &str = "SHM_TEST_TEXT";
/// Environment variable with the segment name a creator child uses.
const NAME_VAR: &str = "SHM_TEST_NAME";
/// Marks the line on which a creator child prints its handle.
const HANDLE_LINE: &str = "shm-test-handle=";

// ---------------------------------------------------------------------------
// Helpers

/// The pid in the writer lock word of a byte cell (payload word 0, right
/// after the 128-byte header; FORMAT.md), read from the segment file.
fn lock_word(name: &str) -> u64 {
    let file = File::open(common::shm_path(name)).expect("open the segment file");
    let mut word = [0u8; 8];
    file.read_exact_at(&mut word, 128).expect("read the lock word");
    common::pid_of(u64::from_ne_bytes(word))
}

/// Whether process `pid` is stopped (state `T` in /proc/<pid>/stat).
fn is_stopped(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // The state follows the command name, which is in parentheses and may
    // itself contain them.
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some(Some('T' | 't')))
}

/// Reads `bytes`, asserting the read comes back within [`PROMPT`].
fn read_promptly(bytes: &SharedBytes) -> Vec<u8> {
    let start = Instant::now();
    let value = bytes.read().expect("read");
    let took = start.elapsed();
    assert!(took < PROMPT, "a read took {took:?}");
    value
}

/// A short description of a value for failure messages (values are up to
/// kilobytes long).
fn describe(value: &[u8]) -> String {
    let head = &value[..value.len().min(24)];
    format!("{} bytes starting {head:02x?}", value.len())
}

// Indexed values (D3, D4): write number `i` as its 8 little-endian bytes
// followed by a filler byte that depends on `i % FILL_PERIOD`, with a
// length derived from `i`. The library's two-copy cell writes value `i`
// over the copy that held value `i - 2`, so a read mixing two writes
// differs from every complete value in the index, the filler or the
// length.

/// Capacity of the byte values the indexed writer writes: large enough
/// that a write takes a while, so kills and stops land mid-write.
const INDEXED_CAPACITY: usize = 8192;
/// Number of distinct filler bytes; at least 3 (see above).
const FILL_PERIOD: u64 = 7;

fn indexed_len(i: u64) -> usize {
    let half = INDEXED_CAPACITY / 2;
    half + usize::try_from(i.wrapping_mul(997) % (half as u64 + 1)).expect("below the capacity")
}

fn indexed_fill(i: u64) -> u8 {
    (i % FILL_PERIOD).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes()[0]
}

/// The write number of a complete indexed value, `None` for anything else.
fn decode_indexed(value: &[u8]) -> Option<u64> {
    let i = u64::from_le_bytes(value.get(..8)?.try_into().ok()?);
    let complete = value.len() == indexed_len(i) && value[8..].iter().all(|b| *b == indexed_fill(i));
    complete.then_some(i)
}

/// Child role shared by D3 and D4: writes indexed values 0, 1, 2, ... to
/// the bytes in [`HANDLE_VAR`] as fast as it can, adding 1 to the counter
/// in [`COUNTER_VAR`] after each completed write, until the flag in
/// [`FLAG_VAR`] is set.
fn indexed_writer() {
    let bytes = SharedBytes::load_sharedobject(&handle_from(HANDLE_VAR)).expect("writer opens the bytes");
    let writes = SharedInt::load_sharedobject(&handle_from(COUNTER_VAR)).expect("writer opens the counter");
    let stop = SharedBool::load_sharedobject(&handle_from(FLAG_VAR)).expect("writer opens the stop flag");
    assert_eq!(bytes.capacity(), INDEXED_CAPACITY);
    let start = Instant::now();
    // One buffer per filler, so preparing a value costs only its index and
    // the writer spends nearly all its time inside `write`.
    let mut buffers: Vec<Vec<u8>> = (0..FILL_PERIOD).map(|k| vec![indexed_fill(k); INDEXED_CAPACITY]).collect();
    let mut i = 0u64;
    while !stop.read() {
        assert!(start.elapsed() < ORPHAN_LIMIT, "writer was never stopped");
        let buf = &mut buffers[usize::try_from(i % FILL_PERIOD).expect("small")];
        buf[..8].copy_from_slice(&i.to_le_bytes());
        bytes.write(&buf[..indexed_len(i)]).expect("writer writes");
        writes.fetch_add(1);
        i += 1;
    }
}

/// The shared objects an indexed writer child uses, created by the parent.
struct IndexedSetup {
    bytes: SharedBytes,
    writes: SharedInt,
    stop: SharedBool,
}

impl IndexedSetup {
    fn new() -> Self {
        Self {
            bytes: SharedBytes::create_sharedobject(INDEXED_CAPACITY).expect("create bytes"),
            writes: SharedInt::create_sharedobject(0).expect("create counter"),
            stop: SharedBool::create_sharedobject(false).expect("create stop flag"),
        }
    }

    fn envs(&self) -> [(&'static str, String); 3] {
        [
            env(HANDLE_VAR, &self.bytes.handle()),
            env(COUNTER_VAR, &self.writes.handle()),
            env(FLAG_VAR, &self.stop.handle()),
        ]
    }

    fn writes(&self) -> u64 {
        u64::try_from(self.writes.read()).expect("write count is not negative")
    }

    /// Asserts `value` is a complete indexed value written by a writer that
    /// had completed `writes` writes (so it is the last completed write, or
    /// the one whose counter increment had not happened yet), and returns
    /// its index.
    fn check_latest(value: &[u8], writes: u64, when: &str) -> u64 {
        let index =
            decode_indexed(value).unwrap_or_else(|| panic!("{when}: torn or foreign value, {}", describe(value)));
        assert!(
            index + 1 == writes || index == writes,
            "{when}: read write #{index}, but the writer had completed {writes} writes (a published value was lost)"
        );
        index
    }

    fn cleanup(self) {
        let names = [self.bytes.name().to_string(), self.writes.name().to_string(), self.stop.name().to_string()];
        self.bytes.cleanup().expect("cleanup bytes");
        self.writes.cleanup().expect("cleanup counter");
        self.stop.cleanup().expect("cleanup stop flag");
        for name in names {
            assert!(!common::exists(&name), "{name} left in /dev/shm");
        }
    }
}

// ---------------------------------------------------------------------------
// Seed scenarios

/// The README's first example across two processes: the parent writes
/// "Hello", the child reads it and answers "From afar".
#[test]
fn seed_hello_from_afar() {
    if let Some(role) = common::role() {
        assert_eq!(role, "peer", "unknown role");
        let text = SharedString::load_sharedobject(&handle_from(HANDLE_VAR)).expect("child opens the string");
        assert!(!text.is_creator(), "an opener is not the creator");
        assert_eq!(text.read().expect("child reads"), "Hello");
        text.write("From afar").expect("child writes");
        return;
    }
    let text = SharedString::create_sharedobject(64).expect("create");
    let name = text.name().to_string();
    text.write("Hello").expect("write");
    let mut kid = Kid::spawn("seed_hello_from_afar", "peer", &[env(HANDLE_VAR, &text.handle())]);
    wait_for("the child's answer", Some(&mut kid), || (text.read().expect("read") == "From afar").then_some(()));
    kid.expect_success();
    // The child only opened the segment: its exit removed nothing.
    assert!(common::exists(&name), "an opener's exit removed the segment");
    assert_eq!(text.read().expect("read"), "From afar");
    text.cleanup().expect("cleanup");
    assert!(!common::exists(&name), "the creator's cleanup left the segment");
}

const ROUND_TRIPS: i64 = 10_000;

/// One integer as a turn counter: the parent serves `2k + 1`, the child
/// answers `2k + 2`; each side checks every value it receives is exactly
/// the expected one (no lost, stale or duplicated update).
#[test]
fn int_ping_pong_10000() {
    if let Some(role) = common::role() {
        assert_eq!(role, "pong", "unknown role");
        let ball = SharedInt::load_sharedobject(&handle_from(HANDLE_VAR)).expect("child opens the int");
        for k in 0..ROUND_TRIPS {
            let got = wait_for("the parent's serve", None, || Some(ball.read()).filter(|v| *v != 2 * k));
            assert_eq!(got, 2 * k + 1, "child, round {k}");
            ball.write(2 * k + 2);
        }
        return;
    }
    let ball = SharedInt::create_sharedobject(0).expect("create");
    let mut kid = Kid::spawn("int_ping_pong_10000", "pong", &[env(HANDLE_VAR, &ball.handle())]);
    let start = Instant::now();
    for k in 0..ROUND_TRIPS {
        ball.write(2 * k + 1);
        let got = wait_for("the child's answer", Some(&mut kid), || Some(ball.read()).filter(|v| *v != 2 * k + 1));
        assert_eq!(got, 2 * k + 2, "parent, round {k}");
    }
    let took = start.elapsed();
    kid.expect_success();
    assert_eq!(ball.read(), 2 * ROUND_TRIPS);
    eprintln!("ping-pong: {ROUND_TRIPS} round trips in {took:?}");
    let name = ball.name().to_string();
    ball.cleanup().expect("cleanup");
    assert!(!common::exists(&name));
}

const ADDS: i64 = 100_000;
const ADD_START: i64 = 1_000_000_007;

/// `ADDS` atomic increments by `counter`, asserting each returns a value
/// above the previous one and within the range the two processes cover.
/// Returns how often the other process had incremented in between.
fn add_all(counter: &SharedInt) -> u32 {
    let mut previous = None;
    let mut interleaved = 0;
    for _ in 0..ADDS {
        let got = counter.fetch_add(1);
        assert!((ADD_START..ADD_START + 2 * ADDS).contains(&got), "fetch_add returned {got}");
        if let Some(p) = previous {
            assert!(got > p, "fetch_add went back from {p} to {got}");
            if got != p + 1 {
                interleaved += 1;
            }
        }
        previous = Some(got);
    }
    interleaved
}

/// Spins (without sleeping, so the child starts the moment the parent
/// does) until the parent sets `gate` to 2.
fn spin_until_go(gate: &SharedInt) {
    let start = Instant::now();
    while gate.read() != 2 {
        assert!(start.elapsed() < WAIT_LIMIT, "the parent never said go");
        core::hint::spin_loop();
    }
}

/// The parent and a child each add 1 `ADDS` times to one integer, started
/// together through a gate: no increment may be lost.
#[test]
fn fetch_add_2x100000() {
    if let Some(role) = common::role() {
        assert_eq!(role, "adder", "unknown role");
        let counter = SharedInt::load_sharedobject(&handle_from(HANDLE_VAR)).expect("child opens the counter");
        let gate = SharedInt::load_sharedobject(&handle_from(FLAG_VAR)).expect("child opens the gate");
        gate.write(1);
        spin_until_go(&gate);
        add_all(&counter);
        return;
    }
    let counter = SharedInt::create_sharedobject(ADD_START).expect("create counter");
    let gate = SharedInt::create_sharedobject(0).expect("create gate");
    let mut kid =
        Kid::spawn("fetch_add_2x100000", "adder", &[env(HANDLE_VAR, &counter.handle()), env(FLAG_VAR, &gate.handle())]);
    wait_for("the child to be ready", Some(&mut kid), || (gate.read() == 1).then_some(()));
    // The child spins on the gate, so both start within microseconds.
    gate.write(2);
    let interleaved = add_all(&counter);
    kid.expect_success();
    assert_eq!(counter.read(), ADD_START + 2 * ADDS, "increments were lost");
    eprintln!("fetch_add: the child's increments fell between the parent's {interleaved} times");
    for object in [counter, gate] {
        let name = object.name().to_string();
        object.cleanup().expect("cleanup");
        assert!(!common::exists(&name));
    }
}

// ---------------------------------------------------------------------------
// D1: one writer process, one reader process: never a torn value

const D1_BYTES_CAPACITY: usize = 1000;
/// The characters of the string values: 1- to 4-byte UTF-8.
const D1_CHARS: [char; 6] = ['a', 'Z', 'é', '€', '𝄞', '🦀'];

/// The length of a byte value whose bytes are all `b`: a function of `b`,
/// varying widely between consecutive values.
fn d1_len(b: u8) -> usize {
    1 + usize::from(b) * 97 % D1_BYTES_CAPACITY
}

/// How many times character number `j` of [`D1_CHARS`] repeats.
fn d1_repeat(j: usize) -> usize {
    5 + 11 * j
}

/// String value number `i`: one character repeated a number of times that
/// depends on the character.
fn d1_string(i: u64) -> String {
    let j = usize::try_from(i % D1_CHARS.len() as u64).expect("small");
    D1_CHARS[j].to_string().repeat(d1_repeat(j))
}

/// Asserts `value` is a complete byte value: all bytes equal, length the
/// one that byte goes with.
fn d1_check_bytes(value: &[u8]) {
    let first = *value.first().unwrap_or_else(|| panic!("empty value"));
    assert!(value.len() == d1_len(first) && value.iter().all(|b| *b == first), "torn byte value: {}", describe(value));
}

/// Asserts `text` is a complete string value.
fn d1_check_string(text: &str) {
    let first = text.chars().next().unwrap_or_else(|| panic!("empty string"));
    let j = D1_CHARS.iter().position(|c| *c == first).unwrap_or_else(|| panic!("foreign string {text:?}"));
    assert!(text.chars().all(|c| c == first) && text.chars().count() == d1_repeat(j), "torn string: {text:?}");
}

/// A child writes byte values `[b; d1_len(b)]` and strings of one repeated
/// character in a loop while the parent reads both concurrently: every
/// read is a complete value, and the reader sees the values change.
#[test]
fn d1_string_bytes_never_torn() {
    if let Some(role) = common::role() {
        assert_eq!(role, "writer", "unknown role");
        let bytes = SharedBytes::load_sharedobject(&handle_from(HANDLE_VAR)).expect("writer opens the bytes");
        let text = SharedString::load_sharedobject(&handle_from(TEXT_VAR)).expect("writer opens the string");
        let writes = SharedInt::load_sharedobject(&handle_from(COUNTER_VAR)).expect("writer opens the counter");
        let stop = SharedBool::load_sharedobject(&handle_from(FLAG_VAR)).expect("writer opens the stop flag");
        let start = Instant::now();
        let mut buf = Vec::with_capacity(D1_BYTES_CAPACITY);
        let mut i = 1u64;
        while !stop.read() {
            assert!(start.elapsed() < ORPHAN_LIMIT, "writer was never stopped");
            let b = i.to_le_bytes()[0];
            buf.clear();
            buf.resize(d1_len(b), b);
            bytes.write(&buf).expect("writer writes bytes");
            text.write(&d1_string(i)).expect("writer writes the string");
            writes.fetch_add(1);
            i += 1;
        }
        return;
    }
    let bytes = SharedBytes::create_sharedobject(D1_BYTES_CAPACITY).expect("create bytes");
    let text = SharedString::create_sharedobject(4 * d1_repeat(D1_CHARS.len() - 1)).expect("create string");
    let writes = SharedInt::create_sharedobject(0).expect("create counter");
    let stop = SharedBool::create_sharedobject(false).expect("create stop flag");
    bytes.write(&[0; 1]).expect("initial bytes");
    text.write(&d1_string(0)).expect("initial string");
    let mut kid = Kid::spawn(
        "d1_string_bytes_never_torn",
        "writer",
        &[
            env(HANDLE_VAR, &bytes.handle()),
            env(TEXT_VAR, &text.handle()),
            env(COUNTER_VAR, &writes.handle()),
            env(FLAG_VAR, &stop.handle()),
        ],
    );
    wait_for("the writer's first write", Some(&mut kid), || (writes.read() > 0).then_some(()));
    let start = Instant::now();
    let (mut reads, mut changes) = (0u64, 0u64);
    let (mut value, mut last, mut string) = (Vec::new(), Vec::new(), String::new());
    // Read for a second, and on until the values changed often enough.
    while start.elapsed() < Duration::from_secs(1) || changes < 200 {
        assert!(start.elapsed() < WAIT_LIMIT, "the reader saw only {changes} changes in {reads} reads");
        assert!(kid.has_exited().is_none(), "the writer exited early");
        bytes.read_to_vec(&mut value).expect("read bytes");
        d1_check_bytes(&value);
        if value != last {
            changes += 1;
            last.clone_from(&value);
        }
        text.read_into(&mut string).expect("read string");
        d1_check_string(&string);
        reads += 1;
    }
    stop.write(true);
    kid.expect_success();
    let total = writes.read();
    assert!(total >= 1000, "the writer made only {total} writes");
    eprintln!("D1: {total} writes of each value, {reads} reads of each, {changes} changes seen");
    d1_check_bytes(&bytes.read().expect("final read"));
    d1_check_string(&text.read().expect("final read"));
    let names = [bytes.name(), text.name(), writes.name(), stop.name()].map(ToString::to_string);
    bytes.cleanup().expect("cleanup");
    text.cleanup().expect("cleanup");
    writes.cleanup().expect("cleanup");
    stop.cleanup().expect("cleanup");
    for name in names {
        assert!(!common::exists(&name), "{name} left in /dev/shm");
    }
}

// ---------------------------------------------------------------------------
// D3, D4: a writer killed or stopped mid-write

const D3_ROUNDS: u32 = 20;

/// 20 rounds: a child writes indexed values in a tight loop and is killed
/// with `SIGKILL` a few milliseconds in. After reaping it, a read returns
/// promptly with the last complete value (never a torn one, never an
/// older one), and a new write succeeds at once (the dead writer's lock is
/// taken over) and reads back. The lock word in the file shows whether the
/// writer died inside a write; at least one round must.
#[test]
fn d3_writer_sigkill_20_rounds() {
    if let Some(role) = common::role() {
        assert_eq!(role, "writer", "unknown role");
        indexed_writer();
        return;
    }
    let setup = IndexedSetup::new();
    let name = setup.bytes.name().to_string();
    let envs = setup.envs();
    let mut killed_holding_lock = 0;
    for round in 0..D3_ROUNDS {
        setup.writes.write(0);
        let mut kid = Kid::spawn("d3_writer_sigkill_20_rounds", "writer", &envs);
        wait_for("the writer's first writes", Some(&mut kid), || (setup.writes() >= 3).then_some(()));
        // A different moment each round, 0.1 to 5 ms after the writes began.
        let jitter = u64::from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos() % 1000);
        std::thread::sleep(Duration::from_micros(100 + (u64::from(round) * 2477 + jitter) % 4900));
        let pid = kid.pid_word();
        let status = kid.kill_and_reap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "round {round}: the writer died otherwise: {status}");
        let holder = lock_word(&name);
        if holder == pid {
            killed_holding_lock += 1;
        } else {
            assert_eq!(holder, 0, "round {round}: lock word is neither free nor the dead writer's pid {pid}");
        }
        let value = read_promptly(&setup.bytes);
        IndexedSetup::check_latest(&value, setup.writes(), &format!("round {round}, after SIGKILL"));
        // The lock of a dead writer is taken over, long before the 2 s a
        // live holder is waited for.
        let marker = format!("the parent, after round {round}");
        let start = Instant::now();
        setup.bytes.write(marker.as_bytes()).expect("write after the writer was killed");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "round {round}: the write took {took:?}");
        assert_eq!(read_promptly(&setup.bytes), marker.as_bytes(), "round {round}");
        assert_eq!(lock_word(&name), 0, "round {round}: the parent's write left the lock taken");
    }
    eprintln!("D3: {killed_holding_lock} of {D3_ROUNDS} writers were killed holding the writer lock");
    assert!(killed_holding_lock > 0, "no writer was killed mid-write: the test did not exercise D3");
    setup.cleanup();
}

/// Whether process `pid` is a zombie: dead, not yet reaped (state `Z`).
fn is_zombie(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some(Some('Z')))
}

/// D3 when the dead writer has not been reaped yet (its parent has not
/// got round to `wait`, or is the very process that writes next). The
/// writer is dead: the kernel released everything it held (docs/RELIABILITY.md
/// promise 3: "the kernel drops it on death"), and `WriteError::LockTimeout`
/// is documented for a holder that "is still alive". So the next write
/// must take the lock over at once, not wait 2 s and fail.
#[test]
fn d3_writer_sigkill_unreaped_lock_taken_over() {
    if let Some(role) = common::role() {
        assert_eq!(role, "writer", "unknown role");
        indexed_writer();
        return;
    }
    let setup = IndexedSetup::new();
    let name = setup.bytes.name().to_string();
    // Until a writer dies holding the lock (most tries; fewer when the
    // writer spends more of its loop outside the lock, as under ASan).
    let mut zombie = None;
    for _ in 0..50 {
        setup.writes.write(0);
        let mut kid = Kid::spawn("d3_writer_sigkill_unreaped_lock_taken_over", "writer", &setup.envs());
        wait_for("the writer's first writes", Some(&mut kid), || (setup.writes() >= 3).then_some(()));
        kid.signal(Signal::KILL);
        let pid = kid.pid;
        wait_for("the writer to die", None, || is_zombie(pid).then_some(()));
        if lock_word(&name) == kid.pid_word() {
            zombie = Some(kid);
            break;
        }
        let status = kid.kill_and_reap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "the writer died otherwise: {status}");
        setup.bytes.write(b"reset").expect("write after a reaped writer");
    }
    let kid = zombie.expect("no writer died holding the writer lock in 50 tries");
    let value = read_promptly(&setup.bytes);
    IndexedSetup::check_latest(&value, setup.writes(), "after SIGKILL, not reaped");
    let start = Instant::now();
    let result = setup.bytes.write(b"from the parent");
    let took = start.elapsed();
    // Reap before asserting, so a failure leaves no zombie behind.
    let status = kid.kill_and_reap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the writer died otherwise: {status}");
    assert!(
        result.is_ok() && took < Duration::from_secs(1),
        "a write after the lock holder died (killed, not yet reaped) returned {result:?} after {took:?}"
    );
    assert_eq!(read_promptly(&setup.bytes), b"from the parent");
    setup.cleanup();
}

/// A child writes indexed values in a loop and is stopped with `SIGSTOP`.
/// While it is stopped, reads return promptly, always the same complete
/// value; a write from the parent is refused after a bounded wait if the
/// stopped child holds the writer lock (and succeeds if not). After
/// `SIGCONT` the child makes progress again and stops cleanly when asked.
#[test]
fn d4_writer_sigstop() {
    if let Some(role) = common::role() {
        assert_eq!(role, "writer", "unknown role");
        indexed_writer();
        return;
    }
    let setup = IndexedSetup::new();
    let name = setup.bytes.name().to_string();
    let mut kid = Kid::spawn("d4_writer_sigstop", "writer", &setup.envs());
    wait_for("the writer's first writes", Some(&mut kid), || (setup.writes() >= 3).then_some(()));
    std::thread::sleep(Duration::from_millis(2));
    kid.signal(Signal::STOP);
    let pid = kid.pid;
    wait_for("the writer to stop", Some(&mut kid), || is_stopped(pid).then_some(()));

    let frozen = setup.writes();
    let holder = lock_word(&name);
    let first = read_promptly(&setup.bytes);
    IndexedSetup::check_latest(&first, frozen, "stopped writer");
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(read_promptly(&setup.bytes), first, "the value changed while its writer was stopped");
    }
    assert_eq!(setup.writes(), frozen, "the writer made progress while stopped");

    let start = Instant::now();
    let result = setup.bytes.write(b"from the parent");
    let waited = start.elapsed();
    if holder == kid.pid_word() {
        // Stopped inside a write: the parent waits a bounded time and gets
        // an error naming the holder; nothing changed.
        match result {
            Err(WriteError::LockTimeout { holder, .. }) => assert_eq!(holder, kid.pid_word()),
            other => panic!("a write while a stopped writer holds the lock returned {other:?}"),
        }
        assert!(waited < Duration::from_secs(10), "the refused write waited {waited:?}");
        assert_eq!(read_promptly(&setup.bytes), first, "a refused write changed the value");
    } else {
        assert_eq!(holder, 0, "lock word is neither free nor the writer's pid");
        result.expect("write while the stopped writer holds no lock");
        assert_eq!(read_promptly(&setup.bytes), b"from the parent");
    }
    let held = if holder == 0 { "not holding" } else { "holding" };
    eprintln!("D4: the writer stopped {held} the writer lock; the parent's write took {waited:?}");

    kid.signal(Signal::CONT);
    wait_for("the writer to resume", Some(&mut kid), || (setup.writes() >= frozen + 3).then_some(()));
    let resumed = read_promptly(&setup.bytes);
    let index = decode_indexed(&resumed).unwrap_or_else(|| panic!("after SIGCONT: torn value, {}", describe(&resumed)));
    assert!(index >= frozen, "after SIGCONT the value is write #{index}, older than the {frozen} before the stop");
    setup.stop.write(true);
    kid.expect_success();
    IndexedSetup::check_latest(&read_promptly(&setup.bytes), setup.writes(), "after a clean stop");
    assert_eq!(lock_word(&name), 0, "the writer stopped with the lock taken");
    setup.cleanup();
}

// ---------------------------------------------------------------------------
// A8: fork after mapping

/// Forks; the child runs `child(object)` and `_exit`s with its result, the
/// parent gets `object` back with the child's pid. `child` must not panic
/// or take locks another thread of the test harness may hold.
fn fork_with<T>(object: T, child: impl FnOnce(T) -> i32) -> (T, Pid) {
    // SAFETY: the child runs only `child`, which the callers keep to
    // atomics, munmap, access(2) and freeing memory (glibc's malloc is
    // usable after fork), and then leaves through `_exit` without
    // returning into the harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = child(object);
        // SAFETY: ends the forked child at once, running no destructor,
        // atexit handler or harness code inherited from the parent.
        unsafe { libc::_exit(code) }
    }
    (object, Pid::from_raw(pid).expect("fork returned a positive pid"))
}

/// Waits (bounded) for a forked child and returns its exit code.
fn wait_forked(pid: Pid) -> i32 {
    let start = Instant::now();
    loop {
        if let Some((_, status)) = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG).expect("waitpid") {
            return status.exit_status().unwrap_or_else(|| panic!("forked child did not exit normally: {status:?}"));
        }
        if start.elapsed() > CHILD_LIMIT {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
            panic!("forked child did not finish within {CHILD_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Forked child: checks it is not the creator, writes 6, drops its copy
/// and checks the segment file is still there. Exit code 0 or which check
/// failed.
fn forked_drop(int: SharedInt, path: &CStr) -> i32 {
    if int.is_creator() {
        return 10;
    }
    if int.read() != 5 {
        return 11;
    }
    int.write(6);
    drop(int);
    if rustix::fs::access(path, Access::EXISTS).is_err() {
        return 12;
    }
    0
}

/// Forked child: as [`forked_drop`], but through `cleanup()`, which must
/// succeed and remove nothing.
fn forked_cleanup(int: SharedInt, path: &CStr) -> i32 {
    if int.is_creator() {
        return 20;
    }
    if int.read() != 6 {
        return 21;
    }
    int.write(7);
    if int.cleanup().is_err() {
        return 22;
    }
    if rustix::fs::access(path, Access::EXISTS).is_err() {
        return 23;
    }
    0
}

/// A forked child that drops (and, in a second child, cleans up) its copy
/// of the creator's object removes nothing: only the creating pid unlinks.
/// The children's writes reach the parent through the shared mapping.
#[test]
fn a8_fork_child_drop_keeps_segment() {
    let int = SharedInt::create_sharedobject(5).expect("create");
    let name = int.name().to_string();
    let path = CString::new(common::shm_path(&name).into_os_string().into_vec()).expect("path without NUL");

    let (int, pid) = fork_with(int, |int| forked_drop(int, &path));
    assert_eq!(wait_forked(pid), 0, "forked child that dropped its copy (10: is_creator, 11: read, 12: file gone)");
    assert!(common::exists(&name), "a forked child's drop removed the segment");
    assert!(int.is_creator(), "the parent is still the creator");
    assert_eq!(int.read(), 6, "the child's write did not reach the parent");

    let (int, pid) = fork_with(int, |int| forked_cleanup(int, &path));
    assert_eq!(wait_forked(pid), 0, "forked child that cleaned up (20: is_creator, 21: read, 22: error, 23: gone)");
    assert!(common::exists(&name), "a forked child's cleanup removed the segment");
    assert_eq!(int.read(), 7, "the child's write did not reach the parent");

    // The object still works, and the name still opens.
    assert_eq!(int.fetch_add(1), 7);
    let peer = SharedInt::load_sharedobject(&int.handle()).expect("open after the forked children exited");
    assert_eq!(peer.read(), 8);
    drop(peer);
    int.cleanup().expect("cleanup");
    assert!(!common::exists(&name), "the creator's cleanup left the segment");
}

// ---------------------------------------------------------------------------
// A4: open while the creator is still initializing

/// The layout fingerprint of `SharedInt`, from a handle of a probe.
fn int_fingerprint() -> u64 {
    let probe = SharedInt::create_sharedobject(0).expect("create a probe");
    let fingerprint = probe.handle().fingerprint();
    probe.cleanup().expect("cleanup the probe");
    fingerprint
}

/// A handle for a `SharedInt` named `name` with a made-up nonce: an opener
/// can build it before the creator has made the segment.
fn guessed_int_handle(fingerprint: u64, name: &str) -> Handle {
    format!("shm1:int:{fingerprint:016x}:24:{:016x}:{name}", 0u64).parse().expect("a valid handle")
}

/// Opens `guess` (the right name with a made-up nonce) in a tight loop while
/// a creator is racing to make the segment, until the segment exists. The
/// first open that finds the file may find it empty or half set up; it
/// must wait until the creator publishes and then report the real nonce
/// (`StaleHandle`), never an error about a half-made segment. Returns the
/// segment's nonce and how long that open took (from 50 µs on, it slept
/// at least once waiting for the creator). `creator_alive` is polled now
/// and then.
fn race_open(guess: &Handle, mut creator_alive: impl FnMut() -> bool) -> (u64, Duration) {
    let start = Instant::now();
    let mut until_check = 0u32;
    loop {
        let attempt = Instant::now();
        match SharedInt::load_sharedobject_timeout(guess, Duration::from_secs(5)) {
            Err(OpenError::NotFound { .. }) => {}
            Err(OpenError::StaleHandle { handle_nonce, segment_nonce, .. }) => {
                assert_eq!(handle_nonce, guess.nonce());
                return (segment_nonce, attempt.elapsed());
            }
            // The made-up nonce was the real one (one chance in 2^64).
            Ok(int) => return (int.handle().nonce(), attempt.elapsed()),
            Err(e) => panic!("opening while the creator initializes failed: {e} ({e:?})"),
        }
        if until_check == 0 {
            until_check = 256;
            assert!(creator_alive(), "the creator ended before making the segment");
            assert!(start.elapsed() < WAIT_LIMIT, "the segment did not appear within {WAIT_LIMIT:?}");
        }
        until_check -= 1;
    }
}

/// Whether the open that found the segment slept waiting for its creator
/// (the library's first pause is 50 µs; an open of a finished segment
/// takes a few).
fn waited_for_creator(took: Duration) -> bool {
    took >= Duration::from_micros(50)
}

/// Opens the segment with the creator's real handle (it was announced
/// after the race) and checks it: value 7, nonce as the race saw it.
/// Writes 8 for the creator to check.
fn open_after_race(real: &Handle, name: &str, raced_nonce: u64) {
    assert_eq!(real.name().as_str(), name);
    assert_eq!(real.nonce(), raced_nonce, "the opener saw another segment's nonce");
    let int = SharedInt::load_sharedobject(real).expect("open with the creator's handle");
    assert!(!int.is_creator());
    assert_eq!(int.read(), 7);
    int.write(8);
}

const A4_PROCESS_ROUNDS: u32 = 50;

/// 50 rounds: a child creates a `SharedInt` under a name the parent chose,
/// while the parent opens that name in a tight loop (see [`race_open`]):
/// the racing opens get "not found" until the file appears, then wait for
/// the creator and see the finished segment. The handle the child prints
/// then opens and reads the initial value, and the child sees the
/// parent's write.
#[test]
fn a4_open_while_creator_initializes() {
    if let Some(role) = common::role() {
        assert_eq!(role, "creator", "unknown role");
        let name = std::env::var(NAME_VAR).expect("name variable");
        let int = SharedInt::create_named(&name, 7).expect("child creates");
        let mut out = std::io::stdout().lock();
        writeln!(out, "{HANDLE_LINE}{}", int.handle()).expect("print the handle");
        out.flush().expect("flush the handle");
        drop(out);
        // The parent closes our stdin when it is done.
        std::io::stdin().read_to_end(&mut Vec::new()).expect("wait for the parent");
        assert_eq!(int.read(), 8, "the parent's write did not arrive");
        int.cleanup().expect("child cleans up");
        return;
    }
    let fingerprint = int_fingerprint();
    let mut waited = 0;
    for round in 0..A4_PROCESS_ROUNDS {
        let name = common::unique_name("a4x");
        let _remove = RemoveOnDrop(name.clone());
        let guess = guessed_int_handle(fingerprint, &name);
        let mut child = Command::new(std::env::current_exe().expect("test binary path"))
            .args(["a4_open_while_creator_initializes", "--exact", "--nocapture", "--test-threads=1"])
            .env(common::ROLE_ENV, "creator")
            .env(NAME_VAR, &name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the creator");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut kid = Kid::new(child);
        // Reads the child's stdout to the end (so it never blocks on a full
        // pipe), passing on the handle line.
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let line = line.expect("read the child's stdout");
                if let Some((_, text)) = line.split_once(HANDLE_LINE) {
                    let _ = tx.send(text.trim().to_owned());
                }
            }
        });
        let (nonce, took) = race_open(&guess, || kid.has_exited().is_none());
        waited += u32::from(waited_for_creator(took));
        let text = rx.recv_timeout(WAIT_LIMIT).expect("the creator printed its handle");
        let real: Handle = text.parse().unwrap_or_else(|e| panic!("round {round}: {e}"));
        open_after_race(&real, &name, nonce);
        drop(stdin);
        kid.expect_success();
        reader.join().expect("stdout reader");
        assert!(!common::exists(&name), "round {round}: the creator's cleanup left the segment");
    }
    eprintln!("A4: in {waited} of {A4_PROCESS_ROUNDS} rounds the open that found the segment waited for its creator");
}

const A4_THREAD_ROUNDS: u32 = 200;

/// As [`a4_open_while_creator_initializes`] with the creator in a thread,
/// released together with the opener by a barrier, so the open attempts
/// overlap the creation much more often.
#[test]
fn a4_open_while_creator_initializes_threads() {
    let barrier = Barrier::new(2);
    let fingerprint = int_fingerprint();
    let mut waited = 0;
    for round in 0..A4_THREAD_ROUNDS {
        let name = common::unique_name("a4t");
        let guess = guessed_int_handle(fingerprint, &name);
        let (handle_tx, handle_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            let (barrier, name) = (&barrier, name.as_str());
            let creator = s.spawn(move || {
                barrier.wait();
                let int = SharedInt::create_named(name, 7).expect("thread creates");
                handle_tx.send(int.handle()).expect("send the handle");
                // Until the opener is done (or gone).
                let _ = done_rx.recv_timeout(WAIT_LIMIT);
                assert_eq!(int.read(), 8, "the opener's write did not arrive");
                int.cleanup().expect("cleanup");
            });
            let done_tx = done_tx;
            barrier.wait();
            let (nonce, took) = race_open(&guess, || !creator.is_finished());
            waited += u32::from(waited_for_creator(took));
            let real = handle_rx.recv_timeout(WAIT_LIMIT).expect("the creator sent its handle");
            open_after_race(&real, name, nonce);
            done_tx.send(()).expect("tell the creator");
        });
        assert!(!common::exists(&name), "round {round}: the creator's cleanup left the segment");
    }
    eprintln!("A4: in {waited} of {A4_THREAD_ROUNDS} rounds the open that found the segment waited for its creator");
}
