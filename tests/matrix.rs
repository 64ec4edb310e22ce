//! Integration tests for the rows of the reliability matrix
//! (`docs/RELIABILITY.md`) that run against the real /dev/shm: A1, A3, A4, A6,
//! A7, A9, B1, B3, B4, C1, C3..C7, D5, F1 (F2 and F3 are in
//! `tests/permissions.rs`).
//!
//! A hostile or foreign peer is played by editing the segment file
//! directly: the segment named `N` is the file `/dev/shm/N`, and the byte
//! offsets below are the ones `header.rs` and `cell.rs` pin. Every file a
//! test makes by hand is removed by a [`FileGuard`], also when an assertion
//! fails; objects the library creates unlink themselves on drop.

mod common;

use shm_runtime::format::Arch;
use shm_runtime::{
    ByteRing, Consumer, CreateError, Handle, MemoryInterface, ObjectKind, OpenError, ReadError, SharedBool,
    SharedBytes, SharedInt, SharedObject, SharedString, WriteError,
};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

// Header offsets (header.rs pins them with const assertions).
const HEADER_SIZE: u64 = 128;
/// The schema after a built-in object's payload: one byte (FORMAT.md,
/// "Fingerprints"), in one 8-byte word.
const SCHEMA_AREA: u64 = 8;
const OFF_STATE: u64 = 8;
const OFF_BYTE_ORDER: u64 = 16;
const OFF_POINTER_WIDTH: u64 = 20;
const OFF_VERSION: u64 = 24;
const OFF_FINGERPRINT: u64 = 32;
const OFF_PID: u64 = 72;
/// `STATE_READY` in header.rs: "SHMREADY" read as a big-endian number.
const STATE_READY: u64 = u64::from_be_bytes(*b"SHMREADY");
/// `BYTE_ORDER_MARK` in header.rs.
const BYTE_ORDER_MARK: u32 = 0x0102_0304;

// Byte cell offsets (cell.rs): the payload starts at 128 with the words
// lock, current, capacity, reserved; then slot 0 and slot 1, each
// seq, len, ceil(capacity / 8) data words.
const OFF_CELL_CURRENT: u64 = HEADER_SIZE + 8;
const OFF_CELL_SLOT0: u64 = HEADER_SIZE + 32;

/// How long openers wait in tests that expect `NotInitialized`.
const SHORT_WAIT: Duration = Duration::from_millis(100);
/// Slack on top of a wait before a test calls the open slow: generous,
/// the tests run in parallel on a loaded machine.
const SLACK: Duration = Duration::from_millis(1500);

/// Removes a file this test made by hand when dropped (also on panic).
struct FileGuard(PathBuf);

impl FileGuard {
    /// Creates `/dev/shm/name` exclusively, mode 0600, holding `bytes`.
    fn create(name: &str, bytes: &[u8]) -> Self {
        let path = common::shm_path(name);
        let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path).unwrap();
        let guard = Self(path);
        file.write_all_at(bytes, 0).unwrap();
        guard
    }

    /// Creates an empty `/dev/shm/name` asking for `mode` (the umask
    /// applies).
    fn create_with_mode(name: &str, mode: u32) -> Self {
        let path = common::shm_path(name);
        OpenOptions::new().write(true).create_new(true).mode(mode).open(&path).unwrap();
        Self(path)
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("cannot remove {}: {e}", self.0.display()),
        }
    }
}

/// Opens the file behind segment `name` for reading and writing.
fn segment_file(name: &str) -> File {
    OpenOptions::new().read(true).write(true).open(common::shm_path(name)).unwrap()
}

/// Overwrites bytes of segment `name` at `offset`, as a peer would.
fn patch(name: &str, offset: u64, bytes: &[u8]) {
    segment_file(name).write_all_at(bytes, offset).unwrap();
}

fn patch_u32(name: &str, offset: u64, value: u32) {
    patch(name, offset, &value.to_ne_bytes());
}

fn patch_u64(name: &str, offset: u64, value: u64) {
    patch(name, offset, &value.to_ne_bytes());
}

fn read_u64(name: &str, offset: u64) -> u64 {
    let mut buf = [0u8; 8];
    segment_file(name).read_exact_at(&mut buf, offset).unwrap();
    u64::from_ne_bytes(buf)
}

fn file_len(name: &str) -> u64 {
    std::fs::metadata(common::shm_path(name)).unwrap().len()
}

/// Payload size of a byte cell of `capacity` bytes (cell.rs
/// `layout_words` times 8).
fn cell_payload_size(capacity: usize) -> u64 {
    let data_words = capacity.div_ceil(8);
    u64::try_from((4 + 2 * (2 + data_words)) * 8).unwrap()
}

/// Offset in the file of the slot a reader of a cell of `capacity` bytes
/// reads now (`slots[current & 1]`).
fn current_slot_offset(name: &str, capacity: usize) -> u64 {
    let stride = u64::try_from((2 + capacity.div_ceil(8)) * 8).unwrap();
    let current = read_u64(name, OFF_CELL_CURRENT);
    OFF_CELL_SLOT0 + (current & 1) * stride
}

/// `handle` with field `index` of its text replaced by `value` (fields:
/// 0 version, 1 kind, 2 fingerprint, 3 size, 4 nonce, 5 name).
fn with_field(handle: &Handle, index: usize, value: &str) -> Handle {
    let text = handle.to_string();
    let mut fields: Vec<&str> = text.splitn(6, ':').collect();
    fields[index] = value;
    fields.join(":").parse().unwrap()
}

/// `handle` naming another segment.
fn renamed(handle: &Handle, name: &str) -> Handle {
    with_field(handle, 5, name)
}

/// Asserts that an error's `Display` names the segment.
fn assert_names(err: &impl std::fmt::Display, name: &str) {
    let text = err.to_string();
    assert!(text.contains(name), "error does not name {name:?}: {text}");
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_be_bytes()[0]
        })
        .collect()
}

/// The id of a child process that has exited and been reaped: no process
/// has it until the kernel hands it out again.
fn reaped_pid() -> u64 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = u64::from(child.id());
    assert!(child.wait().unwrap().success());
    pid
}

/// A shared mapping of a whole file, to store a header word atomically as
/// a creator in another process would (a `pwrite` of the word could be
/// seen half done by an opener polling it).
struct WordMap {
    base: *mut core::ffi::c_void,
    len: usize,
}

// SAFETY: the mapping is plain shared memory accessed only through atomics;
// moving the pointer to another thread does not change that.
unsafe impl Send for WordMap {}

impl WordMap {
    fn new(file: &File) -> Self {
        let len = usize::try_from(file.metadata().unwrap().len()).unwrap();
        assert!(len >= 16);
        let (prot, flags) = (rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE, rustix::mm::MapFlags::SHARED);
        // SAFETY: a fresh mapping at an address the kernel chooses aliases
        // no Rust memory; it is touched only through `AtomicU64`.
        let base = unsafe { rustix::mm::mmap(core::ptr::null_mut(), len, prot, flags, file, 0) }.unwrap();
        Self { base, len }
    }

    /// Stores `value` into the 8-aligned word at byte `offset` (Release,
    /// as the creator's publishing store).
    fn store(&self, offset: usize, value: u64) {
        assert!(offset + 8 <= self.len);
        let word = self.base.wrapping_byte_add(offset).cast::<u64>();
        assert!(word.is_aligned());
        // SAFETY: `word` is 8-aligned (checked) and its 8 bytes lie inside
        // the mapping (checked), which lives as long as `self`; all access
        // to it is atomic.
        let word = unsafe { AtomicU64::from_ptr(word) };
        word.store(value, Ordering::Release);
    }
}

impl Drop for WordMap {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are what mmap returned; no reference into the
        // mapping outlives `store`.
        let result = unsafe { rustix::mm::munmap(self.base, self.len) };
        // No panic here: this may run while a failed assertion unwinds.
        if let Err(e) = result {
            eprintln!("munmap failed: {e}");
        }
    }
}

/// Makes `/dev/shm/name` a byte-for-byte copy of segment `source` with the
/// state word back at initializing and `pid` as the creator pid.
fn initializing_copy(source: &str, name: &str, pid: u64) -> FileGuard {
    let mut bytes = std::fs::read(common::shm_path(source)).unwrap();
    let (state, creator) = (usize::try_from(OFF_STATE).unwrap(), usize::try_from(OFF_PID).unwrap());
    bytes[state..state + 8].copy_from_slice(&0u64.to_ne_bytes());
    bytes[creator..creator + 8].copy_from_slice(&pid.to_ne_bytes());
    FileGuard::create(name, &bytes)
}

// ---------------------------------------------------------------- A

#[test]
fn a1_create_same_name_twice() {
    let name = common::unique_name("a1");
    let first = SharedInt::create_named(&name, 7).unwrap();

    let err = SharedInt::create_named(&name, 8).unwrap_err();
    assert!(matches!(&err, CreateError::AlreadyExists { name: n, .. } if n.as_str() == name), "{err:?}");
    assert_names(&err, &name);
    // Another kind under the same name is refused the same way.
    let err = SharedBytes::create_named(&name, 64).unwrap_err();
    assert!(matches!(&err, CreateError::AlreadyExists { .. }), "{err:?}");
    assert_names(&err, &name);

    // The first object is untouched: same value, same file, still works.
    assert_eq!(first.read(), 7);
    // The value, its version and its waiters word (FORMAT.md, `int`), then
    // the one-word schema area.
    assert_eq!(file_len(&name), HEADER_SIZE + 24 + SCHEMA_AREA);
    first.write(-3);
    let peer = SharedInt::load_sharedobject(&first.handle()).unwrap();
    assert_eq!(peer.read(), -3);
    assert!(first.is_creator() && !peer.is_creator());
    drop(peer);
    first.cleanup().unwrap();
    assert!(!common::exists(&name));
}

#[test]
fn a1_create_over_a_foreign_file_leaves_it_untouched() {
    let name = common::unique_name("a1f");
    let content = pseudo_random_bytes(11, 300);
    let _file = FileGuard::create(&name, &content);
    let err = SharedString::create_named(&name, 16).unwrap_err();
    assert!(matches!(&err, CreateError::AlreadyExists { .. }), "{err:?}");
    assert_names(&err, &name);
    assert_eq!(std::fs::read(common::shm_path(&name)).unwrap(), content);
}

#[test]
fn a3_open_missing_segment() {
    let name = common::unique_name("a3");
    let int = SharedInt::create_sharedobject(0).unwrap();
    let err = SharedInt::load_sharedobject(&renamed(&int.handle(), &name)).unwrap_err();
    assert!(matches!(&err, OpenError::NotFound { name: n } if n.as_str() == name), "{err:?}");
    assert_names(&err, &name);

    let bytes = SharedBytes::create_sharedobject(10).unwrap();
    let err = SharedBytes::load_sharedobject(&renamed(&bytes.handle(), &name)).unwrap_err();
    assert!(matches!(&err, OpenError::NotFound { .. }), "{err:?}");

    // A handle whose segment was removed since.
    let gone = SharedBool::create_named(&name, true).unwrap();
    let handle = gone.handle();
    drop(gone);
    let err = SharedBool::load_sharedobject(&handle).unwrap_err();
    assert!(matches!(&err, OpenError::NotFound { .. }), "{err:?}");
    assert_names(&err, &name);
    assert!(!common::exists(&name));
}

#[test]
fn a4a_empty_file_is_not_initialized_after_the_wait() {
    let name = common::unique_name("a4a");
    let _file = FileGuard::create(&name, &[]);
    let template = SharedInt::create_sharedobject(0).unwrap();
    let start = Instant::now();
    let err = SharedInt::load_sharedobject_timeout(&renamed(&template.handle(), &name), SHORT_WAIT).unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(&err, OpenError::NotInitialized { waited, .. } if *waited >= SHORT_WAIT), "{err:?}");
    assert_names(&err, &name);
    assert!(elapsed >= SHORT_WAIT && elapsed < SHORT_WAIT + SLACK, "{elapsed:?}");
    // The opener never grew or wrote the file.
    assert_eq!(file_len(&name), 0);
}

#[test]
fn a4b_initializing_segment_of_a_live_creator_is_not_initialized() {
    let source = SharedInt::create_sharedobject(5).unwrap();
    let name = common::unique_name("a4b");
    let _copy = initializing_copy(source.name().as_str(), &name, u64::from(std::process::id()));
    let start = Instant::now();
    let err = SharedInt::load_sharedobject_timeout(&renamed(&source.handle(), &name), SHORT_WAIT).unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(&err, OpenError::NotInitialized { waited, .. } if *waited >= SHORT_WAIT), "{err:?}");
    assert_names(&err, &name);
    assert!(elapsed >= SHORT_WAIT && elapsed < SHORT_WAIT + SLACK, "{elapsed:?}");
}

#[test]
fn a4c_initializing_segment_of_a_dead_creator_is_abandoned() {
    let source = SharedInt::create_sharedobject(5).unwrap();
    let name = common::unique_name("a4c");
    let dead = reaped_pid();
    let _copy = initializing_copy(source.name().as_str(), &name, dead);
    let wait = Duration::from_secs(2);
    let start = Instant::now();
    let err = SharedInt::load_sharedobject_timeout(&renamed(&source.handle(), &name), wait).unwrap_err();
    assert!(matches!(&err, OpenError::InitAbandoned { creator_pid, .. } if *creator_pid == dead), "{err:?}");
    assert_names(&err, &name);
    assert!(err.to_string().contains(&dead.to_string()), "{err}");
    // Known dead: no need to sit out the wait.
    assert!(start.elapsed() < wait, "{:?}", start.elapsed());
}

#[test]
fn a4d_opener_succeeds_when_the_state_turns_ready_during_its_wait() {
    let source = SharedInt::create_sharedobject(1234).unwrap();
    let name = common::unique_name("a4d");
    let _copy = initializing_copy(source.name().as_str(), &name, u64::from(std::process::id()));
    let map = WordMap::new(&segment_file(&name));
    let handle = renamed(&source.handle(), &name);
    let delay = Duration::from_millis(50);
    // Taken before the flipper starts: the flip is at least `delay` later.
    let start = Instant::now();
    let flipper = std::thread::spawn(move || {
        std::thread::sleep(delay);
        map.store(usize::try_from(OFF_STATE).unwrap(), STATE_READY);
    });
    let opened = SharedInt::load_sharedobject_timeout(&handle, Duration::from_secs(2));
    let elapsed = start.elapsed();
    flipper.join().unwrap();
    let opened = opened.unwrap();
    assert!(elapsed >= delay, "opened before the state was ready: {elapsed:?}");
    assert!(!opened.is_creator());
    assert_eq!(opened.read(), 1234);
    opened.write(99);
    assert_eq!(read_u64(&name, HEADER_SIZE), 99);
    // The copy is a separate segment.
    assert_eq!(source.read(), 1234);
}

#[test]
fn a6_only_the_creator_unlinks_and_openers_stay_valid() {
    let name = common::unique_name("a6");
    let creator = SharedString::create_named(&name, 32).unwrap();
    creator.write("before").unwrap();
    let first = SharedString::load_sharedobject(&creator.handle()).unwrap();
    let second = SharedString::load_sharedobject(&creator.handle()).unwrap();

    // An opener's cleanup and drop remove nothing.
    assert!(common::exists(&name));
    first.cleanup().unwrap();
    assert!(common::exists(&name));
    let third = SharedString::load_sharedobject(&creator.handle()).unwrap();
    drop(third);
    assert!(common::exists(&name));
    assert_eq!(creator.read().unwrap(), "before");

    // The creator's drop removes the name; the opener's mapping lives on.
    drop(creator);
    assert!(!common::exists(&name));
    assert_eq!(second.read().unwrap(), "before");
    second.write("after").unwrap();
    assert_eq!(second.read().unwrap(), "after");

    // Someone creates the name again: the old opener's drop leaves it.
    let newcomer = SharedInt::create_named(&name, 1).unwrap();
    second.cleanup().unwrap();
    assert!(common::exists(&name));
    assert_eq!(newcomer.read(), 1);
    drop(newcomer);
    assert!(!common::exists(&name));
}

#[test]
fn a7_segment_unlinked_by_a_third_party() {
    let name = common::unique_name("a7");
    let creator = SharedBytes::create_named(&name, 16).unwrap();
    let opener = SharedBytes::load_sharedobject(&creator.handle()).unwrap();
    std::fs::remove_file(common::shm_path(&name)).unwrap();

    creator.write(b"still here").unwrap();
    assert_eq!(opener.read().unwrap(), b"still here");
    opener.write(b"and here").unwrap();
    assert_eq!(creator.read().unwrap(), b"and here");
    // A new opener cannot find it any more.
    let err = SharedBytes::load_sharedobject(&creator.handle()).unwrap_err();
    assert!(matches!(&err, OpenError::NotFound { .. }), "{err:?}");

    opener.cleanup().unwrap();
    creator.cleanup().unwrap();
    assert!(!common::exists(&name));
}

/// A7 continued: after a third party removed the name and another process
/// created a new segment under it, the old creator's cleanup must not
/// remove the newcomer (a live segment of someone else).
#[test]
fn a7_creator_cleanup_spares_a_segment_recreated_under_its_name() {
    let name = common::unique_name("a7r");
    let old = SharedInt::create_named(&name, 1).unwrap();
    std::fs::remove_file(common::shm_path(&name)).unwrap();
    let newcomer = SharedInt::create_named(&name, 2).unwrap();
    let result = old.cleanup();
    let survived = common::exists(&name);
    // Whatever happened above, the newcomer removes its own name.
    drop(newcomer);
    result.unwrap();
    assert!(survived, "the old creator's cleanup removed the segment another creator made under {name:?}");
}

/// Counts open file descriptors of this process.
fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Counts mappings of this process backed by /dev/shm files.
fn shm_mapping_count() -> usize {
    std::fs::read_to_string("/proc/self/maps").unwrap().lines().filter(|l| l.contains("/dev/shm/")).count()
}

/// Kinds [`a9_cycle`] goes through.
const A9_KINDS: usize = 6;

/// One create/open/drop cycle; `i` picks the kind and whether the name is
/// generated. Returns the segment name.
fn a9_cycle(i: usize, tag: &str) -> String {
    let value = i64::try_from(i).unwrap();
    match i % A9_KINDS {
        0 => {
            let c = SharedInt::create_named(&common::unique_name(tag), value).unwrap();
            let o = SharedInt::load_sharedobject(&c.handle()).unwrap();
            assert_eq!(o.fetch_add(1), value);
            assert_eq!(c.read(), value + 1);
            c.name().as_str().to_owned()
        }
        1 => {
            let c = SharedBool::create_sharedobject(i % 8 == 1).unwrap();
            let o = SharedBool::load_sharedobject(&c.handle()).unwrap();
            assert_eq!(o.read(), i % 8 == 1);
            c.name().as_str().to_owned()
        }
        2 => {
            let c = SharedString::create_named(&common::unique_name(tag), 24).unwrap();
            let o = SharedString::load_sharedobject(&c.handle()).unwrap();
            c.write(&i.to_string()).unwrap();
            assert_eq!(o.read().unwrap(), i.to_string());
            // Opener dropped first this time.
            drop(o);
            c.name().as_str().to_owned()
        }
        3 => {
            let c = SharedBytes::create_sharedobject(100).unwrap();
            let o = SharedBytes::load_sharedobject(&c.handle()).unwrap();
            o.write(&i.to_ne_bytes()).unwrap();
            assert_eq!(c.read().unwrap(), i.to_ne_bytes());
            let name = c.name().as_str().to_owned();
            c.cleanup().unwrap();
            name
        }
        4 => {
            let mut producer = MemoryInterface::<u64>::create_named(&common::unique_name(tag), 4).unwrap();
            let mut consumer = MemoryInterface::<u64, Consumer>::load_memorybuf(&producer.handle()).unwrap();
            producer.write(&(i as u64)).unwrap();
            assert_eq!(consumer.read(), Some(i as u64));
            // The consumer lets go first, then the creator cleans up.
            consumer.cleanup().unwrap();
            let name = producer.name().as_str().to_owned();
            producer.cleanup().unwrap();
            name
        }
        _ => {
            let mut producer = ByteRing::create_memorybuf(16, 2).unwrap();
            let mut consumer = ByteRing::<Consumer>::load_sharedobject(&producer.handle()).unwrap();
            producer.write(&i.to_ne_bytes()).unwrap();
            let mut message = Vec::new();
            assert!(consumer.read(&mut message).unwrap());
            assert_eq!(message, i.to_ne_bytes());
            // The creator goes first this time; the consumer still unmaps.
            let name = producer.name().as_str().to_owned();
            drop(producer);
            drop(consumer);
            name
        }
    }
}

/// Runs the cycles in a child process of its own: fds and mappings that
/// tests running in parallel open would blur the counts here.
#[test]
fn a9_ten_thousand_cycles_leak_nothing() {
    const CYCLES: usize = 10_000;
    const TEST: &str = "a9_ten_thousand_cycles_leak_nothing";
    const RESULT_ENV: &str = "SHM_TEST_A9_RESULT";
    if common::role().as_deref() == Some("a9") {
        let result = SharedInt::load_sharedobject(&std::env::var(RESULT_ENV).unwrap().parse().unwrap()).unwrap();
        let tag = "a9c";
        let prefix = format!("shmrs-test-{tag}-{}-", std::process::id());
        // Warm up each kind once (lazy one-time set-up is not a leak).
        let mut names: Vec<String> = (0..A9_KINDS).map(|i| a9_cycle(i, tag)).collect();
        let (fds, maps) = (fd_count(), shm_mapping_count());
        let start = Instant::now();
        names.extend((0..CYCLES).map(|i| a9_cycle(i, tag)));
        eprintln!("a9: {CYCLES} cycles in {:?}", start.elapsed());
        assert_eq!(fd_count(), fds, "file descriptors leaked");
        // The result object is the one mapping that stays.
        assert_eq!(shm_mapping_count(), maps, "mappings leaked");
        assert_eq!(maps, 1);
        let left_named = common::entries_with_prefix(&prefix);
        assert!(left_named.is_empty(), "named segments left behind: {left_named:?}");
        let left: Vec<&String> = names.iter().filter(|n| common::exists(n)).collect();
        assert!(left.is_empty(), "segments left behind: {left:?}");
        result.write(i64::try_from(names.len()).unwrap());
        return;
    }
    let result = SharedInt::create_sharedobject(-1).unwrap();
    let child = common::spawn_role(TEST, "a9", &[(RESULT_ENV, result.handle().to_string())]);
    common::expect_success(child, Duration::from_secs(60));
    assert_eq!(result.read(), i64::try_from(CYCLES + A9_KINDS).unwrap(), "the child did not run the cycles");
}

// ---------------------------------------------------------------- B

/// The body of B1 inside a private mount namespace with a 1 MiB tmpfs on
/// /dev/shm.
fn b1_child() {
    let listing = || -> Vec<String> {
        // The process's liveness lock file (FORMAT.md) is not a segment.
        std::fs::read_dir("/dev/shm")
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with(shm_runtime::format::LOCK_FILE_PREFIX))
            .collect()
    };
    assert_eq!(listing(), Vec::<String>::new(), "not a fresh private /dev/shm");

    let capacity = 4 << 20;
    let expected_total = HEADER_SIZE + cell_payload_size(capacity) + SCHEMA_AREA;
    let name = common::unique_name("b1");
    let err = SharedBytes::create_named(&name, capacity).unwrap_err();
    assert!(
        matches!(&err, CreateError::OutOfSpace { name: n, requested } if n.as_str() == name && *requested == expected_total),
        "{err:?}"
    );
    assert_names(&err, &name);
    assert_eq!(listing(), Vec::<String>::new(), "a refused create left a file");
    let err = SharedString::create_sharedobject(capacity).unwrap_err();
    assert!(matches!(&err, CreateError::OutOfSpace { .. }), "{err:?}");
    assert_eq!(listing(), Vec::<String>::new(), "a refused create left a file");

    // Fill part of the space: the next big object does not fit, the one
    // already made keeps its value.
    let big = SharedBytes::create_sharedobject(300 << 10).unwrap();
    let content = pseudo_random_bytes(1, 300 << 10);
    big.write(&content).unwrap();
    let err = SharedBytes::create_named(&name, 300 << 10).unwrap_err();
    assert!(matches!(&err, CreateError::OutOfSpace { .. }), "{err:?}");
    assert_eq!(listing(), vec![big.name().as_str().to_owned()]);
    assert_eq!(big.read().unwrap(), content);

    // A small object still works.
    let small = SharedInt::create_named(&name, 5).unwrap();
    let peer = SharedInt::load_sharedobject(&small.handle()).unwrap();
    peer.write(6);
    assert_eq!(small.read(), 6);
    drop((peer, small, big));
    assert_eq!(listing(), Vec::<String>::new());

    // Create 64 KiB objects until the file system is full: each create
    // before that succeeds, the first refusal names its segment and size
    // and leaves no file, and every page of every object made is then
    // written and read back (space reserved up front: no SIGBUS).
    let chunk = 64 << 10;
    let chunk_total = HEADER_SIZE + cell_payload_size(chunk) + SCHEMA_AREA;
    let mut made = Vec::new();
    let refusal = loop {
        assert!(made.len() < 64, "1 MiB took more than 64 objects of 64 KiB");
        let name = common::unique_name("b1fill");
        match SharedBytes::create_named(&name, chunk) {
            Ok(object) => made.push(object),
            Err(err) => break (name, err),
        }
    };
    let (refused, err) = refusal;
    assert!(
        matches!(&err, CreateError::OutOfSpace { name: n, requested } if n.as_str() == refused && *requested == chunk_total),
        "{err:?}"
    );
    assert_names(&err, &refused);
    assert!(err.to_string().contains(&chunk_total.to_string()), "the error does not give the size: {err}");
    // Each holds two copies of its value: about 128 KiB, so 1 MiB takes 7.
    let fit = (1 << 20) / chunk_total;
    assert!(made.len() as u64 + 1 >= fit, "only {} objects of {chunk_total} bytes fit in 1 MiB", made.len());
    let mut expected: Vec<String> = made.iter().map(|o| o.name().as_str().to_owned()).collect();
    expected.sort();
    let mut found = listing();
    found.sort();
    assert_eq!(found, expected, "the refused create left a file, or a made one is missing");
    for (i, object) in made.iter().enumerate() {
        object.write(&pseudo_random_bytes(i as u64 + 2, chunk)).unwrap();
    }
    for (i, object) in made.iter().enumerate() {
        assert_eq!(object.read().unwrap(), pseudo_random_bytes(i as u64 + 2, chunk));
    }
    // A ring is refused the same way.
    let err = ByteRing::<shm_runtime::Producer>::create_memorybuf(1 << 16, 4).unwrap_err();
    assert!(matches!(&err, CreateError::OutOfSpace { .. }), "{err:?}");
    drop(made);
    assert_eq!(listing(), Vec::<String>::new());
    println!("b1-child: all checks passed");
}

#[test]
fn b1_full_dev_shm_is_out_of_space() {
    const TEST: &str = "b1_full_dev_shm_is_out_of_space";
    if common::role().as_deref() == Some("b1") {
        b1_child();
        return;
    }
    if !rustix::process::geteuid().is_root() {
        println!("skipped: B1 needs root");
        return;
    }
    let mount = "mount -t tmpfs -o size=1m tmpfs /dev/shm";
    let probe = Command::new("unshare").args(["-m", "sh", "-c", mount]).stdin(Stdio::null()).output();
    match probe {
        Err(e) => {
            println!("skipped: B1 needs `unshare` ({e})");
            return;
        }
        Ok(out) if !out.status.success() => {
            let reason = String::from_utf8_lossy(&out.stderr);
            println!("skipped: B1 cannot mount a private tmpfs here ({}): {}", out.status, reason.trim());
            return;
        }
        Ok(_) => {}
    }
    let script = format!("{mount} && exec \"$0\" \"$1\" --exact --nocapture --test-threads=1");
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .arg(exe)
        .arg(TEST)
        .env(common::ROLE_ENV, "b1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = common::wait_timeout(&mut child, Duration::from_secs(30));
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(status.success(), "B1 child failed ({status}):\n{stdout}\n{stderr}");
    assert!(stdout.contains("b1-child: all checks passed"), "B1 child did not run its checks:\n{stdout}\n{stderr}");
}

#[test]
fn b3_file_shorter_than_its_header_claims() {
    let name = common::unique_name("b3s");
    let creator = SharedBytes::create_named(&name, 4096).unwrap();
    let total = HEADER_SIZE + cell_payload_size(4096) + SCHEMA_AREA;
    assert_eq!(file_len(&name), total);
    let handle = creator.handle();
    // The creator must not touch its mapping past the new end from here
    // on (that would be SIGBUS); it is only dropped.
    segment_file(&name).set_len(HEADER_SIZE + 64).unwrap();
    let err = SharedBytes::load_sharedobject(&handle).unwrap_err();
    assert!(
        matches!(&err, OpenError::SizeMismatch { header, file, .. } if *header == total && *file == HEADER_SIZE + 64),
        "{err:?}"
    );
    assert_names(&err, &name);

    // Shorter than the header itself: indistinguishable from a creator
    // that has not reserved the space yet.
    segment_file(&name).set_len(64).unwrap();
    let err = SharedBytes::load_sharedobject_timeout(&handle, SHORT_WAIT).unwrap_err();
    assert!(matches!(&err, OpenError::NotInitialized { .. }), "{err:?}");
    assert_names(&err, &name);
    drop(creator);
    assert!(!common::exists(&name));
}

#[test]
fn b3_file_larger_than_its_header_claims() {
    let name = common::unique_name("b3l");
    let creator = SharedBytes::create_named(&name, 4096).unwrap();
    let total = HEADER_SIZE + cell_payload_size(4096) + SCHEMA_AREA;
    // Grown with its pages (as a creator's `fallocate` would): the size
    // disagrees with the header.
    let grown = total.next_multiple_of(4096) + 4096;
    rustix::fs::fallocate(segment_file(&name), rustix::fs::FallocateFlags::empty(), 0, grown).unwrap();
    let err = SharedBytes::load_sharedobject(&creator.handle()).unwrap_err();
    assert!(
        matches!(&err, OpenError::SizeMismatch { header, file, .. } if *header == total && *file == grown),
        "{err:?}"
    );
    assert_names(&err, &name);
    // Grown without pages (`ftruncate`): sparse, refused before mapping.
    segment_file(&name).set_len(grown + 4096).unwrap();
    let err = SharedBytes::load_sharedobject(&creator.handle()).unwrap_err();
    assert!(
        matches!(&err, OpenError::Sparse { size, allocated, .. } if *size == grown + 4096 && *allocated == grown),
        "{err:?}"
    );
    assert_names(&err, &name);
    // The creator's own mapping is unaffected.
    creator.write(b"fine").unwrap();
    assert_eq!(creator.read().unwrap(), b"fine");
}

#[test]
fn b4_zero_capacity_is_refused() {
    let name = common::unique_name("b4z");
    let err = SharedBytes::create_named(&name, 0).unwrap_err();
    assert!(matches!(&err, CreateError::InvalidCapacity { capacity: 0, .. }), "{err:?}");
    assert_names(&err, &name);
    let err = SharedString::create_named(&name, 0).unwrap_err();
    assert!(matches!(&err, CreateError::InvalidCapacity { capacity: 0, .. }), "{err:?}");
    assert_names(&err, &name);
    let err = SharedBytes::create_sharedobject(0).unwrap_err();
    assert!(matches!(&err, CreateError::InvalidCapacity { capacity: 0, .. }), "{err:?}");
    assert!(!common::exists(&name));
}

#[test]
fn b4_one_byte_round_trips() {
    let bytes = SharedBytes::create_sharedobject(1).unwrap();
    assert_eq!(file_len(bytes.name().as_str()), HEADER_SIZE + cell_payload_size(1) + SCHEMA_AREA);
    let peer = SharedBytes::load_sharedobject(&bytes.handle()).unwrap();
    assert_eq!(peer.capacity(), 1);
    assert_eq!(peer.read().unwrap(), b"");
    bytes.write(&[0xab]).unwrap();
    assert_eq!(peer.read().unwrap(), [0xab]);
    let err = peer.write(&[1, 2]).unwrap_err();
    assert!(matches!(&err, WriteError::TooLarge { len: 2, capacity: 1, .. }), "{err:?}");
    assert_names(&err, bytes.name().as_str());
    assert_eq!(bytes.read().unwrap(), [0xab]);

    let text = SharedString::create_sharedobject(1).unwrap();
    let peer = SharedString::load_sharedobject(&text.handle()).unwrap();
    text.write("x").unwrap();
    assert_eq!(peer.read().unwrap(), "x");
    // Two UTF-8 bytes do not fit one.
    assert!(matches!(peer.write("é"), Err(WriteError::TooLarge { len: 2, capacity: 1, .. })));
    assert_eq!(text.read().unwrap(), "x");
}

/// Writes values of several lengths through one side and reads them back
/// exactly through the other.
fn round_trip_bytes(capacity: usize) {
    let creator = SharedBytes::create_sharedobject(capacity).unwrap();
    assert_eq!(file_len(creator.name().as_str()), HEADER_SIZE + cell_payload_size(capacity) + SCHEMA_AREA);
    let opener = SharedBytes::load_sharedobject(&creator.handle()).unwrap();
    assert_eq!(opener.capacity(), capacity);
    for (i, len) in [capacity, capacity - 1, capacity / 2 + 3, 1, 0, capacity].into_iter().enumerate() {
        let value = pseudo_random_bytes(u64::try_from(capacity + i).unwrap(), len);
        let (writer, reader) = if i % 2 == 0 { (&creator, &opener) } else { (&opener, &creator) };
        writer.write(&value).unwrap();
        assert!(reader.read().unwrap() == value, "capacity {capacity}, length {len}: bytes differ");
        let mut buf = vec![0x5a; capacity];
        assert_eq!(reader.read_into(&mut buf).unwrap(), len);
        assert!(buf[..len] == value[..], "capacity {capacity}, length {len}: read_into differs");
    }
}

fn round_trip_string(capacity: usize) {
    let creator = SharedString::create_sharedobject(capacity).unwrap();
    let opener = SharedString::load_sharedobject(&creator.handle()).unwrap();
    assert_eq!(opener.capacity(), capacity);
    let values = ["é".repeat(capacity / 2), "€\0".repeat(capacity / 4), "z".repeat(capacity), String::new()];
    for (i, value) in values.iter().enumerate() {
        let (writer, reader) = if i % 2 == 0 { (&creator, &opener) } else { (&opener, &creator) };
        writer.write(value).unwrap();
        assert!(reader.read().unwrap() == *value, "capacity {capacity}, value {i}: text differs");
    }
    let err = creator.write(&"z".repeat(capacity + 1)).unwrap_err();
    assert!(matches!(&err, WriteError::TooLarge { .. }), "{err:?}");
    assert_eq!(opener.read().unwrap(), "");
}

#[test]
fn b4_larger_than_a_page_round_trips_exactly() {
    round_trip_bytes(10_000);
    round_trip_bytes(1 << 20);
    round_trip_string(10_000);
    round_trip_string(1 << 20);
}

#[test]
fn b4_usize_max_capacity_overflows() {
    let name = common::unique_name("b4o");
    for capacity in [usize::MAX, usize::MAX - 7, usize::MAX / 2, 1 << 62] {
        let err = SharedBytes::create_named(&name, capacity).unwrap_err();
        assert!(matches!(&err, CreateError::SizeOverflow { capacity: c, .. } if *c == capacity), "{err:?}");
        assert_names(&err, &name);
        let err = SharedString::create_named(&name, capacity).unwrap_err();
        assert!(matches!(&err, CreateError::SizeOverflow { .. }), "{err:?}");
        assert!(!common::exists(&name));
    }
    let err = SharedBytes::create_sharedobject(usize::MAX).unwrap_err();
    assert!(matches!(&err, CreateError::SizeOverflow { .. }), "{err:?}");
}

// ---------------------------------------------------------------- C

#[test]
fn c1_header_fingerprint_differs_is_layout_mismatch() {
    // The segment was made by a type whose layout differs (a field added):
    // the handle carries the opener's fingerprint, the header another.
    let creator = SharedInt::create_sharedobject(3).unwrap();
    let name = creator.name().as_str().to_owned();
    let ours = creator.handle().fingerprint();
    patch_u64(&name, OFF_FINGERPRINT, ours ^ 0xdead);
    let err = SharedInt::load_sharedobject(&creator.handle()).unwrap_err();
    assert!(
        matches!(&err, OpenError::LayoutMismatch { expected, found, .. } if *expected == ours && *found == ours ^ 0xdead),
        "{err:?}"
    );
    assert_names(&err, &name);
}

#[test]
fn c3_format_version_patched_is_version_mismatch() {
    let creator = SharedInt::create_sharedobject(3).unwrap();
    let name = creator.name().as_str().to_owned();
    for version in [1, 2, 4, 0, u32::MAX] {
        patch_u32(&name, OFF_VERSION, version);
        let err = SharedInt::load_sharedobject(&creator.handle()).unwrap_err();
        assert!(matches!(&err, OpenError::VersionMismatch { expected: 3, found, .. } if *found == version), "{err:?}");
        assert_names(&err, &name);
        // Migration: an older segment (version 2 had no schema) is refused
        // with a message that says so.
        assert_eq!(err.to_string().contains("an older shm made it"), version < 3, "{err}");
    }
    patch_u32(&name, OFF_VERSION, 3);
    assert_eq!(SharedInt::load_sharedobject(&creator.handle()).unwrap().read(), 3);
}

#[test]
fn c4_random_bytes_from_another_program_are_bad_magic() {
    let int = SharedInt::create_sharedobject(0).unwrap();
    let bytes = SharedBytes::create_sharedobject(100).unwrap();
    for (i, size) in [128usize, 136, 200, 4096, 4099, 65_536].into_iter().enumerate() {
        let name = common::unique_name("c4");
        let mut content = pseudo_random_bytes(u64::try_from(i + 77).unwrap(), size);
        let state = u64::from_ne_bytes(content[8..16].try_into().unwrap());
        if state == 0 || state == STATE_READY {
            content[8] ^= 0x55;
        }
        if content[..5] == *b"SHMRS" {
            content[0] = b'X';
        }
        let _file = FileGuard::create(&name, &content);
        let magic: [u8; 8] = content[..8].try_into().unwrap();
        let err = SharedInt::load_sharedobject(&renamed(&int.handle(), &name)).unwrap_err();
        assert!(matches!(&err, OpenError::BadMagic { found, .. } if *found == magic), "size {size}: {err:?}");
        assert_names(&err, &name);
        let err = SharedBytes::load_sharedobject(&renamed(&bytes.handle(), &name)).unwrap_err();
        assert!(matches!(&err, OpenError::BadMagic { found, .. } if *found == magic), "size {size}: {err:?}");
        // Nothing was written to the foreign file.
        assert!(std::fs::read(common::shm_path(&name)).unwrap() == content);
    }
}

#[test]
fn c4_foreign_file_with_zero_state_word_is_bad_magic_without_waiting() {
    let int = SharedInt::create_sharedobject(0).unwrap();
    let name = common::unique_name("c4-zero-state");
    let mut content = pseudo_random_bytes(5, 4096);
    content[..8].copy_from_slice(b"FOREIGN!");
    content[8..16].fill(0);
    let _file = FileGuard::create(&name, &content);
    let start = std::time::Instant::now();
    let err = SharedInt::load_sharedobject_timeout(&renamed(&int.handle(), &name), std::time::Duration::from_secs(5))
        .unwrap_err();
    assert!(matches!(&err, OpenError::BadMagic { found, .. } if found == b"FOREIGN!"), "{err:?}");
    assert!(start.elapsed() < std::time::Duration::from_secs(1), "waited {:?} for a foreign file", start.elapsed());
}

#[test]
fn c4_right_size_and_ready_state_but_foreign_magic_is_bad_magic() {
    let creator = SharedInt::create_sharedobject(0).unwrap();
    let name = creator.name().as_str().to_owned();
    patch(&name, 0, b"NOT-SHM!");
    assert_eq!(read_u64(&name, OFF_STATE), STATE_READY);
    let err = SharedInt::load_sharedobject(&creator.handle()).unwrap_err();
    assert!(matches!(&err, OpenError::BadMagic { found, .. } if found == b"NOT-SHM!"), "{err:?}");
    assert_names(&err, &name);
}

#[test]
fn c5_other_byte_order_or_pointer_width_is_arch_mismatch() {
    let creator = SharedInt::create_sharedobject(0).unwrap();
    let name = creator.name().as_str().to_owned();
    let width = u32::try_from(size_of::<usize>()).unwrap();
    let ours = Arch { byte_order: BYTE_ORDER_MARK, pointer_width: width };

    patch_u32(&name, OFF_BYTE_ORDER, 0x0403_0201);
    let err = SharedInt::load_sharedobject(&creator.handle()).unwrap_err();
    let swapped = Arch { byte_order: 0x0403_0201, pointer_width: width };
    assert!(
        matches!(&err, OpenError::ArchMismatch { expected, found, .. } if *expected == ours && *found == swapped),
        "{err:?}"
    );
    assert_names(&err, &name);
    assert!(err.to_string().contains("swapped byte order"), "{err}");

    patch_u32(&name, OFF_BYTE_ORDER, BYTE_ORDER_MARK);
    patch_u32(&name, OFF_POINTER_WIDTH, 4);
    let err = SharedInt::load_sharedobject(&creator.handle()).unwrap_err();
    let narrow = Arch { byte_order: BYTE_ORDER_MARK, pointer_width: 4 };
    assert!(
        matches!(&err, OpenError::ArchMismatch { expected, found, .. } if *expected == ours && *found == narrow),
        "{err:?}"
    );
    assert_names(&err, &name);
    assert!(err.to_string().contains("32-bit pointers"), "{err}");
}

#[test]
fn c6_int_handle_opened_as_string_is_kind_mismatch() {
    let creator = SharedInt::create_sharedobject(0).unwrap();
    let name = creator.name().as_str().to_owned();
    let err = SharedString::load_sharedobject(&creator.handle()).unwrap_err();
    assert!(matches!(&err, OpenError::KindMismatch { expected: ObjectKind::String, found: 1, .. }), "{err:?}");
    assert_names(&err, &name);
    let err = SharedBytes::load_sharedobject(&creator.handle()).unwrap_err();
    assert!(matches!(&err, OpenError::KindMismatch { expected: ObjectKind::Bytes, found: 1, .. }), "{err:?}");
}

/// The handle says `int`; the most precise refusal names the kind, as for
/// `SharedString`, rather than the payload size that follows from it.
#[test]
fn c6_int_handle_opened_as_bool_is_kind_mismatch() {
    let creator = SharedInt::create_sharedobject(0).unwrap();
    let name = creator.name().as_str().to_owned();
    let err = SharedBool::load_sharedobject(&creator.handle()).unwrap_err();
    assert!(matches!(&err, OpenError::KindMismatch { expected: ObjectKind::Bool, found: 1, .. }), "{err:?}");
    assert_names(&err, &name);
}

#[test]
fn c6_handle_claiming_another_kind_is_checked_against_the_header() {
    // A handle edited to say `bool` with bool's fingerprint and size passes
    // every check that needs no system call; the header still says int.
    let int = SharedInt::create_sharedobject(0).unwrap();
    let template = SharedBool::create_sharedobject(false).unwrap();
    let forged = renamed(&template.handle(), int.name().as_str());
    let err = SharedBool::load_sharedobject(&forged).unwrap_err();
    assert!(matches!(&err, OpenError::KindMismatch { expected: ObjectKind::Bool, found: 1, .. }), "{err:?}");
    assert_names(&err, int.name().as_str());
}

#[test]
fn c6_tampered_fingerprint_is_layout_mismatch() {
    let creator = SharedString::create_sharedobject(8).unwrap();
    let handle = creator.handle();
    let err = SharedString::load_sharedobject(&with_field(&handle, 2, "0123456789abcdef")).unwrap_err();
    assert!(
        matches!(&err, OpenError::LayoutMismatch { expected, found: 0x0123_4567_89ab_cdef, .. } if *expected == handle.fingerprint()),
        "{err:?}"
    );
    assert_names(&err, creator.name().as_str());
}

#[test]
fn c6_tampered_size_of_int_is_payload_mismatch() {
    let creator = SharedInt::create_sharedobject(0).unwrap();
    for size in ["16", "0", "18446744073709551615"] {
        let err = SharedInt::load_sharedobject(&with_field(&creator.handle(), 3, size)).unwrap_err();
        assert!(
            matches!(&err, OpenError::PayloadMismatch { expected: 24, found, .. } if found.to_string() == size),
            "{err:?}"
        );
        assert_names(&err, creator.name().as_str());
    }
}

#[test]
fn c6_tampered_size_of_bytes_is_handle_mismatch() {
    // Byte cells have no fixed payload size: the opener maps no more than
    // the handle announces and then finds the header disagreeing.
    let creator = SharedBytes::create_sharedobject(4096).unwrap();
    let real = cell_payload_size(4096);
    assert_eq!(creator.handle().payload_size(), real);
    for size in [real + 8, real - 8, 0, 1 << 40, u64::MAX] {
        let err = SharedBytes::load_sharedobject(&with_field(&creator.handle(), 3, &size.to_string())).unwrap_err();
        assert!(
            matches!(&err, OpenError::HandleMismatch { field: "payload size", handle, header, .. } if *handle == size && *header == real),
            "size {size}: {err:?}"
        );
        assert_names(&err, creator.name().as_str());
    }
}

#[test]
fn c6_tampered_nonce_is_stale_handle() {
    let creator = SharedBytes::create_sharedobject(8).unwrap();
    let real = creator.handle().nonce();
    let forged = real ^ 1;
    let err = SharedBytes::load_sharedobject(&with_field(&creator.handle(), 4, &format!("{forged:016x}"))).unwrap_err();
    assert!(
        matches!(&err, OpenError::StaleHandle { handle_nonce, segment_nonce, .. } if *handle_nonce == forged && *segment_nonce == real),
        "{err:?}"
    );
    assert_names(&err, creator.name().as_str());
}

#[test]
fn c7_old_handle_after_the_name_was_recreated_is_stale() {
    let name = common::unique_name("c7");
    let old = SharedInt::create_named(&name, 1).unwrap();
    let old_handle = old.handle();
    drop(old);
    let new = SharedInt::create_named(&name, 2).unwrap();
    let new_nonce = new.handle().nonce();
    assert_ne!(new_nonce, old_handle.nonce());
    let err = SharedInt::load_sharedobject(&old_handle).unwrap_err();
    assert!(
        matches!(&err, OpenError::StaleHandle { handle_nonce, segment_nonce, .. } if *handle_nonce == old_handle.nonce() && *segment_nonce == new_nonce),
        "{err:?}"
    );
    assert_names(&err, &name);
    assert_eq!(SharedInt::load_sharedobject(&new.handle()).unwrap().read(), 2);
}

// ---------------------------------------------------------------- D

#[test]
fn d5_bool_byte_two_reads_true() {
    let creator = SharedBool::create_sharedobject(false).unwrap();
    let opener = SharedBool::load_sharedobject(&creator.handle()).unwrap();
    let name = creator.name().as_str().to_owned();
    for byte in [2u8, 0x80, 0xff] {
        patch(&name, HEADER_SIZE, &[byte]);
        assert!(creator.read() && opener.read());
        assert_eq!(creator.read_raw(), byte);
        assert_eq!(opener.read_raw(), byte);
    }
    assert!(opener.swap(false));
    assert_eq!(creator.read_raw(), 0);
    creator.write(true);
    assert_eq!(opener.read_raw(), 1);
}

#[test]
fn d5_string_length_above_capacity_is_corrupt() {
    let capacity = 16;
    let creator = SharedString::create_sharedobject(capacity).unwrap();
    let opener = SharedString::load_sharedobject(&creator.handle()).unwrap();
    let name = creator.name().as_str().to_owned();
    creator.write("hello").unwrap();
    let len_at = current_slot_offset(&name, capacity) + 8;
    assert_eq!(read_u64(&name, len_at), 5);
    for len in [17, u64::MAX] {
        patch_u64(&name, len_at, len);
        let err = opener.read().unwrap_err();
        assert!(matches!(&err, ReadError::Corrupt { len: l, capacity: 16, .. } if *l == len), "{err:?}");
        assert_names(&err, &name);
        let mut out = String::from("previous");
        assert!(matches!(creator.read_into(&mut out), Err(ReadError::Corrupt { .. })));
        assert!(out.is_empty());
    }
    // The next write replaces the scribbled copy.
    creator.write("healed").unwrap();
    assert_eq!(opener.read().unwrap(), "healed");

    let bytes = SharedBytes::create_sharedobject(capacity).unwrap();
    let name = bytes.name().as_str().to_owned();
    patch_u64(&name, current_slot_offset(&name, capacity) + 8, 24);
    let err = bytes.read().unwrap_err();
    assert!(matches!(&err, ReadError::Corrupt { len: 24, capacity: 16, .. }), "{err:?}");
    assert!(matches!(bytes.read_into(&mut [0; 64]), Err(ReadError::Corrupt { len: 24, .. })));
}

#[test]
fn d5_string_with_invalid_utf8_is_invalid_utf8() {
    let capacity = 16;
    let creator = SharedString::create_sharedobject(capacity).unwrap();
    let opener = SharedString::load_sharedobject(&creator.handle()).unwrap();
    let name = creator.name().as_str().to_owned();
    for (at, valid_up_to) in [(0u64, 0usize), (2, 2)] {
        creator.write("abcd").unwrap();
        let data_at = current_slot_offset(&name, capacity) + 16;
        patch(&name, data_at + at, &[0xff, 0xfe]);
        let err = opener.read().unwrap_err();
        assert!(
            matches!(&err, ReadError::InvalidUtf8 { source, .. } if source.valid_up_to() == valid_up_to),
            "{err:?}"
        );
        assert_names(&err, &name);
        let mut out = String::from("previous");
        assert!(matches!(creator.read_into(&mut out), Err(ReadError::InvalidUtf8 { .. })));
        assert!(out.is_empty());
    }
    opener.write("ok").unwrap();
    assert_eq!(creator.read().unwrap(), "ok");
}

#[test]
fn d5_bytes_read_into_a_too_small_buffer() {
    let creator = SharedBytes::create_sharedobject(32).unwrap();
    let opener = SharedBytes::load_sharedobject(&creator.handle()).unwrap();
    creator.write(b"12345").unwrap();
    let mut small = [0u8; 4];
    let err = opener.read_into(&mut small).unwrap_err();
    assert!(matches!(&err, ReadError::BufferTooSmall { len: 5, buffer: 4, .. }), "{err:?}");
    assert_names(&err, creator.name().as_str());
    assert_eq!(small, [0; 4]);
    let mut exact = [0u8; 5];
    assert_eq!(opener.read_into(&mut exact).unwrap(), 5);
    assert_eq!(&exact, b"12345");
}

// ---------------------------------------------------------------- F

/// Runs in a child with the umask from `SHM_TEST_F1_UMASK`: creates the
/// segment named `SHM_TEST_F1_NAME` and reports its mode through the
/// `SharedInt` whose handle is in `SHM_TEST_F1_RESULT`.
fn f1_child() {
    use rustix::fs::Mode;
    let env = |var: &str| std::env::var(var).unwrap();
    let mask = u32::from_str_radix(&env("SHM_TEST_F1_UMASK"), 8).unwrap();
    let result = SharedInt::load_sharedobject(&env("SHM_TEST_F1_RESULT").parse().unwrap()).unwrap();
    rustix::process::umask(Mode::from_raw_mode(mask));
    assert_eq!(rustix::process::umask(Mode::from_raw_mode(mask)).as_raw_mode(), mask, "umask not set");

    // The umask is in force: a plain file asking for 0666 gets less.
    let plain = common::unique_name("f1plain");
    let plain_file = FileGuard::create_with_mode(&plain, 0o666);
    let plain_mode = std::fs::metadata(&plain_file.0).unwrap().permissions().mode() & 0o777;
    assert_eq!(plain_mode, 0o666 & !mask);

    let object = SharedInt::create_named(&env("SHM_TEST_F1_NAME"), 1).unwrap();
    let mode = std::fs::metadata(common::shm_path(object.name().as_str())).unwrap().permissions().mode() & 0o777;
    // The creator can still use it (a umask removing owner write must not
    // matter).
    object.write(2);
    assert_eq!(SharedInt::load_sharedobject(&object.handle()).unwrap().read(), 2);
    result.write(i64::from(mode));
}

#[test]
fn f1_mode_is_0600_whatever_the_umask() {
    const TEST: &str = "f1_mode_is_0600_whatever_the_umask";
    if common::role().as_deref() == Some("f1") {
        f1_child();
        return;
    }
    for mask in ["000", "022", "077", "277"] {
        let result = SharedInt::create_sharedobject(-1).unwrap();
        let name = common::unique_name("f1");
        let envs = [
            ("SHM_TEST_F1_UMASK", mask.to_owned()),
            ("SHM_TEST_F1_NAME", name.clone()),
            ("SHM_TEST_F1_RESULT", result.handle().to_string()),
        ];
        common::expect_success(common::spawn_role(TEST, "f1", &envs), Duration::from_secs(30));
        assert_eq!(result.read(), 0o600, "umask {mask}: mode {:o}", result.read());
        assert!(!common::exists(&name), "the child left {name}");
    }
}

// ---------------------------------------------------------------- Display

#[test]
fn every_error_display_names_the_segment() {
    let name = common::unique_name("disp");
    let int = SharedInt::create_named(&name, 0).unwrap();
    let handle = int.handle();
    let open_errors = [
        SharedString::load_sharedobject(&handle).unwrap_err(),
        SharedInt::load_sharedobject(&with_field(&handle, 2, "0000000000000001")).unwrap_err(),
        SharedInt::load_sharedobject(&with_field(&handle, 3, "9")).unwrap_err(),
        SharedInt::load_sharedobject(&with_field(&handle, 4, "0000000000000001")).unwrap_err(),
    ];
    for err in &open_errors {
        assert_names(err, &name);
    }
    let create_errors = [
        SharedInt::create_named(&name, 0).unwrap_err(),
        SharedBytes::create_named(&name, 0).unwrap_err(),
        SharedBytes::create_named(&name, usize::MAX).unwrap_err(),
    ];
    for err in &create_errors {
        assert_names(err, &name);
    }
    let text = SharedString::create_sharedobject(2).unwrap();
    let err = text.write("abc").unwrap_err();
    assert_names(&err, text.name().as_str());
    drop(int);
    let err = SharedInt::load_sharedobject(&handle).unwrap_err();
    assert!(matches!(err, OpenError::NotFound { .. }));
    assert_names(&err, &name);
}
