//! Runs the real `shm` binary against segments this test makes: `ls`,
//! `inspect`, `clean`, `watch` (piped and under a pseudo-terminal), and
//! bad input. Every child is time-boxed; every segment and file made here
//! is removed again.

use serde_json::Value;
use shm_runtime::{
    Broadcast, BroadcastConfig, ByteBroadcast, ByteRing, Consumer, MemoryInterface, Policy, Shared, SharedBool,
    SharedBytes, SharedInt, SharedObject, SharedState, SharedString,
};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Longest any run of the binary may take.
const LIMIT: Duration = Duration::from_secs(30);
/// Environment variable that makes a re-run of this test binary play the
/// creator that gets killed.
const ROLE_ENV: &str = "SHM_CLI_TEST_ROLE";

/// `shm clean` removes every stale segment on the machine: the tests that
/// make a stale segment and expect it to exist until they remove it take
/// this lock, and so does every test that runs `shm clean`.
static STALE: Mutex<()> = Mutex::new(());

fn stale_lock() -> MutexGuard<'static, ()> {
    STALE.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Pose {
    x: f64,
    y: f64,
    seq: u64,
}

/// A segment name for this test, with the project's prefix (so CI's
/// /dev/shm check sees a leak), unique per process and call.
fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("shmrs-test-cli-{tag}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Removes a /dev/shm file on drop.
struct RemoveOnDrop(String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/dev/shm/{}", self.0));
    }
}

fn exists(name: &str) -> bool {
    std::path::Path::new("/dev/shm").join(name).exists()
}

fn shm() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shm"));
    cmd.stdin(Stdio::null());
    cmd
}

/// Sends `signal` to `pid` with the `kill` command.
fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill {signal} {pid} failed");
}

/// Waits for `child`, killing it after [`LIMIT`].
fn finish(child: Child) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(output) = rx.recv_timeout(LIMIT) else {
        kill(pid, "-KILL");
        panic!("shm (pid {pid}) did not finish within {LIMIT:?}");
    };
    output.expect("wait for shm")
}

fn run(args: &[&str]) -> Output {
    finish(shm().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start shm"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 errors")
}

/// Runs `args`, expecting success, and returns standard output.
fn ok(args: &[&str]) -> String {
    let output = run(args);
    assert!(output.status.success(), "shm {args:?} failed: {}", stderr(&output));
    assert!(output.stderr.is_empty(), "shm {args:?} wrote errors: {}", stderr(&output));
    stdout(&output)
}

/// Runs `args`, expecting the one-line error that names `fragment`.
fn fails(args: &[&str], fragment: &str) {
    let output = run(args);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "shm {args:?}: {output:?}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "shm {args:?} panicked: {err}");
    assert_eq!(err.lines().count(), 1, "shm {args:?}: not one line: {err}");
    assert!(err.starts_with("shm: error: "), "shm {args:?}: {err}");
    assert!(err.contains(fragment), "shm {args:?}: {err:?} does not say {fragment:?}");
    assert!(output.stdout.is_empty(), "shm {args:?} printed {}", stdout(&output));
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).unwrap_or_else(|e| panic!("shm {args:?}: not JSON: {e}"))
}

fn ls_entry(name: &str, all: bool) -> Option<Value> {
    let args: &[&str] = if all { &["ls", "--all", "--json"] } else { &["ls", "--json"] };
    json(args).as_array().expect("an array").iter().find(|e| e["name"] == name).cloned()
}

fn me() -> u64 {
    u64::from(std::process::id())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn pose_bytes(p: &Pose) -> Vec<u8> {
    [p.x.to_ne_bytes(), p.y.to_ne_bytes(), p.seq.to_ne_bytes()].concat()
}

/// A segment whose creator, a re-run of this binary, was killed with
/// SIGKILL: stale. Removed on drop (if `shm clean` did not).
struct StaleSegment {
    name: String,
    creator_pid: u32,
    _remove: RemoveOnDrop,
}

fn stale_segment() -> StaleSegment {
    let name = unique("stale");
    let remove = RemoveOnDrop(name.clone());
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["creator_role", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, &name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the creator");
    let creator_pid = child.id();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // libtest prints "test creator_role ... " before it.
            if line.contains("created shm1:") {
                let _ = tx.send(());
            }
        }
    });
    let made = rx.recv_timeout(LIMIT).is_ok();
    child.kill().expect("SIGKILL the creator");
    child.wait().expect("reap the creator");
    assert!(made, "the creator did not make its segment");
    StaleSegment { name, creator_pid, _remove: remove }
}

/// The creator of [`stale_segment`]: makes a segment and waits to be
/// killed. Without the role variable it is an ordinary, empty test.
#[test]
fn creator_role() {
    let Ok(name) = std::env::var(ROLE_ENV) else { return };
    let counter = SharedInt::create_named(&name, 7).expect("create the stale-to-be segment");
    println!("created {}", counter.handle());
    std::thread::sleep(LIMIT * 2);
    panic!("the creator was not killed");
}

#[test]
fn ls_shows_segments_with_kind_type_creator_status_and_fill() {
    let int_name = unique("ls-int");
    let counter = SharedInt::create_named(&int_name, 1).unwrap();
    let pose_name = unique("ls-pose");
    let _pose = Shared::create_named(&pose_name, &Pose { x: 1.0, y: 2.0, seq: 3 }).unwrap();
    let ring_name = unique("ls-ring");
    let mut ring = MemoryInterface::<u64>::create_named(&ring_name, 8).unwrap();
    assert_eq!(ring.write_slice(&[1, 2, 3]), 3);

    let table = ok(&["ls"]);
    let line = |name: &str| table.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {table}"));
    let fields: Vec<&str> = line(&int_name).split_whitespace().collect();
    let fingerprint = format!("{:016x}", counter.handle().fingerprint());
    let pid = me().to_string();
    // 128 header bytes, the int's 24 (value, version, waiters word) and 8
    // for the one-byte schema.
    assert_eq!(fields, [int_name.as_str(), "int", "SharedInt", &fingerprint, "160", &pid, "live", "-"]);
    assert!(line(&pose_name).contains(" state ") && line(&pose_name).contains("Pose"), "{table}");
    assert!(line(&ring_name).split_whitespace().rev().take(2).eq(["3/8", "live"]), "{table}");
    assert!(table.starts_with("NAME "), "{table}");

    // Piped: one line of JSON.
    let piped = ok(&["ls", "--json"]);
    assert_eq!(piped.lines().count(), 1, "{piped}");
    let entry = ls_entry(&int_name, false).expect("the int in ls --json");
    assert_eq!(entry["kind"], "int");
    assert_eq!(entry["type_name"], "SharedInt");
    assert_eq!(entry["creator_pid"], me());
    assert_eq!(entry["status"], "live");
    assert_eq!(entry["fingerprint"], fingerprint);
    assert_eq!(entry["handle"], counter.handle().to_string());
    let pose = ls_entry(&pose_name, false).expect("the pose");
    assert_eq!(pose["kind"], "state");
    assert!(pose["type_name"].as_str().unwrap().ends_with("Pose"), "{pose}");
    let ring_entry = ls_entry(&ring_name, false).expect("the ring");
    assert_eq!(ring_entry["ring"]["fill"], 3);
    assert_eq!(ring_entry["ring"]["capacity"], 8);
    assert_eq!(ring_entry["ring"]["consumer"], serde_json::json!({ "state": "free", "pid": null }));
    assert_eq!(ring_entry["ring"]["producer"], serde_json::json!({ "state": "alive", "pid": me() }));

    // A file of another program: only with --all, marked foreign.
    let foreign = unique("foreign");
    let _remove = RemoveOnDrop(foreign.clone());
    std::fs::write(format!("/dev/shm/{foreign}"), [0xab; 4096]).unwrap();
    assert!(ls_entry(&foreign, false).is_none(), "a foreign file listed without --all");
    assert_eq!(ls_entry(&foreign, true).expect("listed with --all")["status"], "foreign");
    assert!(ok(&["ls", "--all"]).lines().any(|l| l.starts_with(&foreign) && l.contains("foreign")));
    // Three items left for a consumer that never came keep a dropped
    // ring's name for it; `cleanup` removes it now.
    ring.cleanup().unwrap();
}

#[test]
fn inspect_decodes_the_builtins() {
    let counter = SharedInt::create_sharedobject(42).unwrap();
    let name = counter.name().as_str().to_owned();
    let text = ok(&["inspect", &name]);
    for expected in [
        format!("name:         {name}"),
        "kind:         int (code 1)".to_owned(),
        "type:         SharedInt".to_owned(),
        format!("creator:      pid {} (alive)", me()),
        "status:       live".to_owned(),
        "owner:        uid 0, mode 0600".replace("uid 0", &format!("uid {}", rustix_uid())),
        format!("nonce:        {:016x}", counter.handle().nonce()),
        "state:        ready".to_owned(),
        "value:        42".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == expected), "{expected:?} not in\n{text}");
    }
    counter.write(-5);
    let value = json(&["inspect", &name, "--json"]);
    assert_eq!(value["value"], -5);
    created_is_a_utc_time(&text, &value);
    assert_eq!(value["header"]["kind"], "int");
    assert_eq!(value["header"]["creator_pid"], me());
    assert_eq!(value["header"]["creator_state"], "alive");
    assert_eq!(value["header"]["payload_size"], 24);
    assert_eq!(value["mode"], "0600");
    // The handle's text works as well as the name.
    assert_eq!(json(&["inspect", &counter.handle().to_string(), "--json"])["value"], -5);

    let message = SharedString::create_sharedobject(64).unwrap();
    message.write("hello \"shm\"").unwrap();
    let value = json(&["inspect", message.name().as_str(), "--json"]);
    assert_eq!(value["value"]["text"], "hello \"shm\"");
    assert_eq!(value["value"]["capacity"], 64);
    assert!(ok(&["inspect", message.name().as_str()]).contains(r#"value:        "hello \"shm\"""#));

    let flag = SharedBool::create_sharedobject(true).unwrap();
    assert_eq!(json(&["inspect", flag.name().as_str(), "--json"])["value"], true);
    let bytes = SharedBytes::create_sharedobject(16).unwrap();
    bytes.write(&[1, 2, 0xff]).unwrap();
    assert_eq!(json(&["inspect", bytes.name().as_str(), "--json"])["value"]["hex"], "0102ff");
}

/// The `created:` line of `inspect` is a UTC time and an age, the JSON
/// keeps the nanoseconds and adds the time in RFC 3339.
fn created_is_a_utc_time(text: &str, value: &Value) {
    let line = text.lines().find_map(|l| l.strip_prefix("created:      ")).unwrap_or_else(|| panic!("{text}"));
    let (time, age) = line.split_once(" UTC (").unwrap_or_else(|| panic!("{line:?}"));
    assert!(age.ends_with(" ago)"), "{line:?}");
    let shape: String = time.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect();
    assert_eq!(shape, "9999-99-99 99:99:99", "{line:?}");
    let ns = value["header"]["created_unix_ns"].as_u64().expect("created_unix_ns, a number");
    assert_eq!(value["header"]["created_utc"], format!("{}Z", time.replace(' ', "T")), "{value}");
    // Seconds since the epoch as `date` prints them, where `date -d @` works.
    let secs = format!("@{}", ns / 1_000_000_000);
    if let Ok(date) = Command::new("date").args(["-u", "-d", &secs, "+%Y-%m-%d %H:%M:%S"]).output()
        && date.status.success()
    {
        assert_eq!(String::from_utf8_lossy(&date.stdout).trim(), time, "{ns} ns");
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let age = now.saturating_sub(Duration::from_nanos(ns));
    assert!(age < LIMIT, "created {age:?} ago");
}

fn rustix_uid() -> u32 {
    // The tests run as whatever user; the segment is that user's.
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap()
}

#[test]
fn inspect_shows_a_derived_struct_by_field() {
    let pose = Pose { x: 1.5, y: -2.25, seq: 77 };
    let shared = Shared::create_sharedobject(&pose).unwrap();
    let name = shared.name().as_str().to_owned();
    let value = json(&["inspect", &name, "--json"]);
    assert_eq!(value["header"]["kind"], "state");
    assert!(value["header"]["type_name"].as_str().unwrap().ends_with("Pose"), "{value}");
    // The schema of `Pose { x: f64, y: f64, seq: u64 }`: 1 + 8 + 4 + 3 * 8
    // bytes, then per field 8 + name + 8 + 1.
    assert_eq!(value["header"]["schema_size"], 37 + 18 + 18 + 20);
    assert_eq!(value["value"]["fields"], serde_json::json!({ "x": 1.5, "y": -2.25, "seq": 77 }));
    assert_eq!(value["value"]["not_decoded"], Value::Null);
    // The raw bytes stay in the JSON for scripts that read them.
    assert_eq!(value["value"]["hex"], hex(&pose_bytes(&pose)));
    assert_eq!(value["value"]["u64_words"], serde_json::json!([1.5f64.to_bits(), (-2.25f64).to_bits(), 77]));
    let next = Pose { x: 0.0, y: 1.0, seq: 78 };
    shared.write(&next).unwrap();
    let text = ok(&["inspect", &name]);
    let lines: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("value:")).collect();
    assert_eq!(lines, ["value:        Pose (24 bytes)", "  x = 0.0", "  y = 1.0", "  seq = 78"], "{text}");
    assert!(text.contains("schema:       93 bytes after the payload"), "{text}");
}

#[test]
fn inspect_shows_a_ring_of_structs_oldest_and_newest_by_field() {
    let mut tx = MemoryInterface::<Pose>::create_memorybuf(4).unwrap();
    let name = tx.name().as_str().to_owned();
    let text = ok(&["inspect", &name]);
    assert!(text.contains("oldest:       -\nnewest:       -\n"), "an empty ring: {text}");
    for seq in 1..=6 {
        // The ring holds 4: the last two do not fit.
        let _ = tx.write(&Pose { x: 0.5, y: -1.0, seq });
    }
    let text = ok(&["inspect", &name]);
    assert!(text.contains("oldest:       #0 = { x = 0.5, y = -1.0, seq = 1 }\n"), "{text}");
    assert!(text.contains("newest:       #3 = { x = 0.5, y = -1.0, seq = 4 }\n"), "{text}");
    let ring = &json(&["inspect", &name, "--json"])["value"];
    assert_eq!(ring["newest_unread"]["value"], serde_json::json!({ "x": 0.5, "y": -1.0, "seq": 4 }));
    // Emptied, with the consumer the last end to let go: the name goes.
    let mut rx = MemoryInterface::<Pose, Consumer>::load_memorybuf(&tx.handle()).unwrap();
    while rx.read().is_some() {}
    drop(tx);
    drop(rx);
    assert!(!exists(&name));
}

#[test]
fn inspect_shows_an_array_as_a_table_and_a_primitive_state_as_a_value() {
    let array = shm_runtime::SharedArray::<Pose>::create_sharedobject(3).unwrap();
    array.set(1, &Pose { x: -0.5, y: 100.25, seq: 2 }).unwrap();
    let name = array.name().as_str().to_owned();
    let text = ok(&["inspect", &name]);
    let lines: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("length:")).collect();
    assert_eq!(
        lines,
        [
            "length:       3 elements of 24 bytes (Pose)",
            "  index  x     y       seq",
            "  0      0.0   0.0     0",
            "  1      -0.5  100.25  2",
            "  2      0.0   0.0     0",
        ],
        "{text}"
    );
    let value = json(&["inspect", &name, "--json"]);
    assert_eq!(value["value"]["element_type"], "Pose");
    assert_eq!(value["value"]["first_elements"][1], serde_json::json!({ "x": -0.5, "y": 100.25, "seq": 2 }));

    let counters = Shared::<[i16; 3]>::create_sharedobject(&[-1, 0, 7]).unwrap();
    let text = ok(&["inspect", counters.name().as_str()]);
    assert!(text.contains("value:        [-1, 0, 7]\n"), "{text}");
    let value = json(&["inspect", counters.name().as_str(), "--json"]);
    assert_eq!(value["value"]["fields"], serde_json::json!([-1, 0, 7]));
}

#[test]
fn inspect_shows_a_rings_positions_fill_and_roles() {
    let mut tx = MemoryInterface::<u64>::create_memorybuf(8).unwrap();
    assert_eq!(tx.write_slice(&[1, 2, 3, 4, 5]), 5);
    let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle()).unwrap();
    assert_eq!((rx.read(), rx.read()), (Some(1), Some(2)));
    let name = tx.name().as_str().to_owned();
    let ring = &json(&["inspect", &name, "--json"])["value"];
    assert_eq!(ring["capacity"], 8);
    assert_eq!(ring["slot_bytes"], 8);
    assert_eq!(ring["write_position"], 5);
    assert_eq!(ring["read_position"], 2);
    assert_eq!(ring["fill"], 3);
    assert_eq!(ring["producer"], serde_json::json!({ "state": "alive", "pid": me() }));
    assert_eq!(ring["consumer"], serde_json::json!({ "state": "alive", "pid": me() }));
    // The oldest and newest unread items, decoded.
    assert_eq!(ring["oldest_unread"], serde_json::json!({ "position": 2, "value": 3 }));
    assert_eq!(ring["newest_unread"], serde_json::json!({ "position": 4, "value": 5 }));
    drop(rx);
    let text = ok(&["inspect", &name]);
    for expected in [
        "capacity:     8 slots of 8 bytes",
        "write pos:    5",
        "read pos:     2",
        "fill:         [#######.............] 3/8 (37.5%)",
        "consumer:     let go",
        "oldest:       #2 = 3",
        "newest:       #4 = 5",
    ] {
        assert!(text.lines().any(|l| l == expected), "{expected:?} not in\n{text}");
    }
    assert!(text.contains(&format!("producer:     pid {} (alive)", me())), "{text}");
    // Inspecting claimed nothing: a consumer still attaches and reads.
    let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle()).unwrap();
    assert_eq!(rx.read(), Some(3));
    assert!(tx.write(&6).is_ok());
    // Emptied, with the consumer the last end to let go: the ring's name
    // goes with it (a producer leaving unread items keeps it for a
    // consumer to come).
    while rx.read().is_some() {}
    drop(tx);
    drop(rx);
    assert!(!exists(&name));
}

#[test]
fn clean_removes_a_stale_segment_and_keeps_a_live_one() {
    let _serial = stale_lock();
    let live = SharedInt::create_named(&unique("live"), 1).unwrap();
    let stale = stale_segment();
    let entry = ls_entry(&stale.name, false).expect("the stale segment in ls");
    assert_eq!(entry["status"], "stale");
    assert_eq!(entry["creator_pid"], stale.creator_pid);
    let why = format!("stale (creator pid {} is dead)", stale.creator_pid);

    let dry = ok(&["clean", "--dry-run"]);
    assert!(dry.lines().any(|l| l == format!("would remove {}: {why}", stale.name)), "{dry}");
    assert!(!dry.contains(live.name().as_str()), "{dry}");
    assert!(exists(&stale.name), "--dry-run removed the stale segment");

    let cleaned = ok(&["clean"]);
    assert!(cleaned.lines().any(|l| l == format!("removed {}: {why}", stale.name)), "{cleaned}");
    assert!(!cleaned.contains(live.name().as_str()), "{cleaned}");
    assert!(!exists(&stale.name), "the stale segment is still there");
    assert!(exists(live.name().as_str()), "the live segment was removed");
    assert_eq!(ok(&["clean"]), "nothing to clean\n");
    assert_eq!(ok(&["clean", "--dry-run"]), "nothing to clean\n");
}

/// Collects a child's output lines on a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads lines until `pred` holds for one; all lines read so far.
fn read_until(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, mut pred: impl FnMut(&str) -> bool) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| panic!("no matching line in {seen:#?}"));
        let hit = pred(&line);
        seen.push(line);
        if hit {
            return;
        }
    }
}

#[test]
fn watch_refreshes_until_sigint_and_exits_zero() {
    let counter = SharedInt::create_sharedobject(1).unwrap();
    let mut child = shm()
        .args(["watch", counter.name().as_str(), "--interval", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    let mut seen = Vec::new();
    read_until(&rx, &mut seen, |l| l == "value:        1");
    counter.write(2);
    read_until(&rx, &mut seen, |l| l == "value:        2");
    let refreshes = seen.iter().filter(|l| l.contains(" refresh ")).count();
    assert!(refreshes >= 2, "{seen:#?}");
    // Not a terminal: blocks separated by a blank line, no escapes.
    assert!(seen.iter().any(String::is_empty), "{seen:#?}");
    assert!(!seen.iter().any(|l| l.contains('\x1b')), "{seen:#?}");
    kill(child.id(), "-INT");
    let output = finish(child);
    assert!(output.status.success(), "watch did not exit 0 on SIGINT: {output:?}");
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
}

#[test]
fn watch_shows_a_rings_rate_and_stops_after_count() {
    let mut tx = MemoryInterface::<u64>::create_memorybuf(16).unwrap();
    tx.write_slice(&[1, 2, 3, 4]);
    let output = ok(&["watch", tx.name().as_str(), "--interval", "20", "--count", "3"]);
    let blocks: Vec<&str> = output.split("\n\n").collect();
    assert_eq!(blocks.len(), 3, "{output}");
    assert!(blocks[0].contains("fill:         [#####...............] 4/16 (25.0%)"), "{output}");
    assert!(blocks[0].contains("rate:         - messages/s"), "{output}");
    assert!(blocks[2].contains("rate:         0 messages/s"), "{output}");
    // Items left for a consumer that never came: only `cleanup` removes
    // the name now.
    tx.cleanup().unwrap();
}

#[test]
fn watch_says_so_when_the_segment_disappears() {
    let flag = SharedBool::create_sharedobject(false).unwrap();
    let mut child = shm()
        .args(["watch", flag.name().as_str(), "--interval", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    read_until(&rx, &mut Vec::new(), |l| l == "value:        false");
    let name = flag.name().as_str().to_owned();
    flag.cleanup().unwrap();
    let output = finish(child);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let err = stderr(&output);
    assert_eq!(err, format!("shm: error: segment {name:?} disappeared (its creator removed it)\n"));
}

/// A pseudo-terminal: (master, slave).
fn pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: both out-pointers are valid; name, termios and winsize may be
    // null (defaults).
    let result = unsafe {
        libc::openpty(&raw mut master, &raw mut slave, core::ptr::null_mut(), core::ptr::null(), core::ptr::null())
    };
    assert_eq!(result, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned these descriptors to us, open and unowned.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    // SAFETY: as above.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    (master, slave)
}

#[test]
fn ls_json_is_indented_on_a_terminal() {
    let name = unique("ls-tty");
    let _counter = SharedInt::create_named(&name, 4).unwrap();
    let (master, slave) = pty();
    let child = shm().args(["ls", "--json"]).stdout(slave).stderr(Stdio::piped()).spawn().unwrap();
    // Our copy of the slave went with the command: reading the master ends
    // (EIO) once the child exits.
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let (mut screen, mut buf) = (Vec::new(), [0u8; 4096]);
        while let Ok(n @ 1..) = master.read(&mut buf) {
            screen.extend_from_slice(&buf[..n]);
        }
        screen
    });
    let output = finish(child);
    assert!(output.status.success(), "{output:?}");
    // The terminal turns each "\n" into "\r\n".
    let screen = String::from_utf8(reader.join().unwrap()).unwrap().replace("\r\n", "\n");
    assert!(screen.starts_with("[\n  {\n"), "{screen}");
    assert!(screen.contains(&format!("\n    \"name\": \"{name}\",\n")), "{screen}");
    let value: Value = serde_json::from_str(&screen).unwrap_or_else(|e| panic!("not JSON: {e}: {screen}"));
    assert!(value.as_array().unwrap().iter().any(|e| e["name"] == name.as_str()), "{screen}");
}

#[test]
fn watch_under_a_terminal_redraws_in_place_and_restores_the_cursor() {
    let counter = SharedInt::create_sharedobject(10).unwrap();
    let (master, slave) = pty();
    let mut child = shm()
        .args(["watch", counter.name().as_str(), "--interval", "30"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Our copies of the slave are closed now (moved into the command and
    // dropped with it), so reading the master ends once the child exits.
    let screen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let screen = Arc::clone(&screen);
        let mut master = std::fs::File::from(master);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = master.read(&mut buf) {
                screen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    let deadline = Instant::now() + LIMIT;
    while !text().contains("refresh 3,") {
        assert!(Instant::now() < deadline, "no third refresh on the terminal: {:?}", text());
        std::thread::sleep(Duration::from_millis(5));
    }
    kill(child.id(), "-INT");
    let status = {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "watch did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    reader.join().unwrap();
    assert!(status.success(), "{status}");
    let screen = text();
    assert!(screen.starts_with("\x1b[?25l"), "cursor not hidden first: {screen:?}");
    // The second refresh moves up over the first (3 lines: title, status,
    // value) and clears each line it rewrites.
    assert!(screen.contains("\x1b[3A\r\x1b[2K"), "{screen:?}");
    assert!(screen.ends_with("\x1b[?25h"), "cursor not restored last: {screen:?}");
    assert_eq!(screen.matches("value:        10").count(), screen.matches(" refresh ").count(), "{screen:?}");
}

#[test]
fn bad_input_is_a_one_line_error() {
    let missing = unique("missing");
    fails(&["inspect", &missing], &format!("no segment named {missing:?}"));
    fails(&["watch", &missing], &format!("no segment named {missing:?}"));
    fails(&["inspect", "../etc/passwd"], "");
    fails(&["inspect", "shm1:int:zz"], "invalid handle \"shm1:int:zz\"");
    fails(&["watch", "shm1:ring:nonsense"], "invalid handle");
    fails(&["inspect", &format!("shm1:int:00112233445566ff:8:0123456789abcdef:{missing}")], "no segment named");

    // A handle whose nonce is not the segment's: refused on open.
    let counter = SharedInt::create_sharedobject(3).unwrap();
    let handle = counter.handle().to_string();
    let nonce = format!("{:016x}", counter.handle().nonce());
    let other = format!("{:016x}", counter.handle().nonce() ^ 1);
    fails(&["inspect", &handle.replace(&nonce, &other)], counter.name().as_str());

    // A file of another program.
    let foreign = unique("foreign");
    let _remove = RemoveOnDrop(foreign.clone());
    // A header's worth and more (shorter files count as abandoned ones).
    std::fs::write(format!("/dev/shm/{foreign}"), [b'x'; 200]).unwrap();
    fails(&["inspect", &foreign], "is not a shm segment (foreign");
    fails(&["watch", &foreign], "is not a shm segment (foreign");

    // A segment of another user (only root can give one away).
    if rustix_uid() == 0 {
        let theirs = SharedInt::create_sharedobject(9).unwrap();
        let path = format!("/dev/shm/{}", theirs.name());
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        fails(&["inspect", theirs.name().as_str()], "belongs to another user (uid 65534");
        fails(&["watch", theirs.name().as_str()], "belongs to another user (uid 65534");
        assert!(ls_entry(theirs.name().as_str(), false).is_some(), "another user's segment is still listed");
    }

    // clap's own refusals: non-zero, no panic.
    for args in [&["frobnicate"][..], &["watch", "x", "--interval", "0"], &["inspect"]] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!stderr(&output).contains("panicked"), "{args:?}");
    }
}

#[test]
fn watch_refuses_a_stale_segment() {
    let _serial = stale_lock();
    let stale = stale_segment();
    fails(&["watch", &stale.name], &format!("is stale (creator pid {} is dead)", stale.creator_pid));
    // Inspect still shows it, marked stale, with the dead creator.
    let value = json(&["inspect", &stale.name, "--json"]);
    assert_eq!(value["status"], "stale");
    assert_eq!(value["header"]["creator_state"], "dead");
    assert_eq!(value["value"], 7);
}

#[test]
fn help_has_examples() {
    let help = ok(&["--help"]);
    assert!(help.contains("Examples:") && help.contains("shm clean --dry-run"), "{help}");
    for command in ["ls", "inspect", "clean", "watch"] {
        let help = ok(&[command, "--help"]);
        assert!(help.contains("Examples:"), "{command}: {help}");
    }
}

/// Overwrites bytes of the segment file `name` at `offset`, as a peer
/// that scribbles on it would.
fn patch(name: &str, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(format!("/dev/shm/{name}")).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

#[test]
fn inspect_shows_raw_words_and_why_when_the_schema_is_bad() {
    let pose = Pose { x: 1.5, y: -2.25, seq: 77 };
    let shared = Shared::create_sharedobject(&pose).unwrap();
    let name = shared.name().as_str().to_owned();
    // The schema starts right after the 24-byte payload's cell (its size
    // is in the handle), and its first byte is the struct tag: make it
    // something else, so that it no longer hashes to the fingerprint.
    let schema_at = 128 + shared.handle().payload_size().next_multiple_of(8);
    patch(&name, schema_at, &[0x77]);
    // A typed open refuses it ...
    let err = Shared::<Pose>::load_sharedobject(&shared.handle()).unwrap_err();
    assert!(err.to_string().contains("schema does not hash to the layout fingerprint"), "{err}");
    // ... the tool shows the raw value and says why it cannot decode it.
    let text = ok(&["inspect", &name]);
    assert!(text.contains("value:        24 bytes (raw, native byte order)"), "{text}");
    assert!(text.contains("not decoded:  segment") && text.contains("schema does not hash"), "{text}");
    assert!(text.contains(&format!("u64 words:    [{}, {}, 77]", 1.5f64.to_bits(), (-2.25f64).to_bits())), "{text}");
    let value = json(&["inspect", &name, "--json"]);
    assert_eq!(value["value"]["fields"], Value::Null);
    assert!(value["value"]["not_decoded"].as_str().unwrap().contains("bad schema"), "{value}");
}

#[test]
fn inspect_and_watch_say_a_version_2_segment_is_from_an_older_shm() {
    let counter = SharedInt::create_sharedobject(5).unwrap();
    let name = counter.name().as_str().to_owned();
    patch(&name, 24, &2u32.to_ne_bytes());
    let text = ok(&["inspect", &name]);
    assert!(text.contains("format:       version 2,"), "{text}");
    assert!(
        text.contains(
            "value:        - (format version 2, this shm reads version 3: another version of shm made it \
             (before segments described their type))"
        ),
        "{text}"
    );
    let value = json(&["inspect", &name, "--json"]);
    assert_eq!(value["value"], Value::Null);
    assert!(value["not_readable"].as_str().unwrap().starts_with("format version 2"), "{value}");
    fails(&["watch", &name, "--count", "1"], "cannot be watched: format version 2");
    // A typed open refuses it with a message that says so (the migration
    // FORMAT.md chooses: refuse, never guess).
    let err = SharedInt::load_sharedobject(&counter.handle()).unwrap_err();
    assert!(err.to_string().contains("format version 2, this library reads version 3 (an older shm made it"), "{err}");
}

#[test]
fn inspect_ls_and_watch_show_a_byte_broadcast() {
    let config = BroadcastConfig::new(4, Policy::Overwrite).max_subscribers(2).history(1);
    let mut tx = ByteBroadcast::create(32, &config).unwrap();
    let name = tx.name().as_str().to_owned();
    let mut fast = tx.subscribe().unwrap();
    let _slow = tx.subscribe().unwrap();
    for i in 0..3 {
        tx.publish(format!("frame {i}").as_bytes()).unwrap();
    }
    let mut buffer = [0u8; 32];
    while fast.read(&mut buffer).unwrap().is_some() {}
    let write = tx.published();
    let text = ok(&["inspect", &name]);
    assert!(
        text.contains(
            "policy:       overwrite\ncapacity:     4 slots, messages up to 32 bytes\nhistory:      1 messages\n"
        ),
        "{text}"
    );
    assert!(text.contains(&format!("write pos:    {write}\n")), "{text}");
    assert!(text.contains("subscribers:  2 of 2 entries\n"), "{text}");
    assert!(text.contains("[....................]  alive\n"), "{text}");
    assert!(text.contains("[###############.....]  alive\n"), "{text}");
    let newest = format!("newest:       #{}: 7 bytes in 1 slot: 6672616d652032 \"frame 2\"\n", write.wrapping_sub(1));
    assert!(text.contains(&newest), "{text}");
    let value = &json(&["inspect", &name, "--json"])["value"];
    assert_eq!((value["policy"].as_str(), value["slot_size"].as_u64()), (Some("overwrite"), Some(32)));
    assert_eq!(value["newest"]["head_text"], "frame 2");
    assert_eq!(value["subscribers"][1]["lag"], 3);
    let row = ok(&["ls"]).lines().find(|l| l.starts_with(&name)).map(str::to_owned).unwrap();
    assert!(row.split_whitespace().rev().take(2).eq(["3/4", "live"]), "{row}");
    let output = ok(&["watch", &name, "--interval", "20", "--count", "2"]);
    assert!(output.contains("[###############.....]  alive\n"), "{output}");
}

#[test]
fn inspect_and_watch_show_a_broadcasts_subscribers_and_their_lags() {
    let config = BroadcastConfig::new(8, Policy::Backpressure).max_subscribers(4).history(2);
    let mut tx = Broadcast::<Pose>::create(&config).unwrap();
    let name = tx.name().as_str().to_owned();
    let mut fast = tx.subscribe().unwrap();
    let slow = tx.subscribe().unwrap();
    for seq in 1..=6 {
        tx.publish(&Pose { x: 0.5, y: -1.0, seq }).unwrap();
    }
    while fast.read().unwrap().is_some() {}
    let text = ok(&["inspect", &name]);
    let me = me();
    let write = tx.published();
    assert!(
        text.contains("policy:       backpressure\ncapacity:     8 slots of 24 bytes\nhistory:      2 items\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "write pos:    {write}\npublisher:    pid {me} (alive)\nsubscribers:  2 of 4 entries\n"
        )),
        "{text}"
    );
    let start = write.wrapping_sub(6);
    let c0 = write.to_string();
    let c1 = start.to_string();
    let w = c0.len().max(c1.len()).max("cursor".len());
    let table = format!(
        "  slot  pid{p}  {cursor:<w$}  lag  fill                    state\n  \
         0     {me}  {c0:<w$}  0    [....................]  alive\n  \
         1     {me}  {c1:<w$}  6    [###############.....]  alive\n",
        p = " ".repeat(me.to_string().len().saturating_sub(3)),
        cursor = "cursor",
    );
    assert!(text.contains(&table), "{text}\nwanted:\n{table}");
    assert!(
        text.contains(&format!("newest:       #{} = {{ x = 0.5, y = -1.0, seq = 6 }}\n", write.wrapping_sub(1))),
        "{text}"
    );
    let value = &json(&["inspect", &name, "--json"])["value"];
    assert_eq!(value["policy"], "backpressure");
    assert_eq!((value["capacity"].as_u64(), value["history"].as_u64()), (Some(8), Some(2)));
    assert_eq!(value["write_position"].as_u64(), Some(write));
    assert_eq!(value["publisher"], serde_json::json!({ "state": "alive", "pid": me }));
    let subs = value["subscribers"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(
        subs[1],
        serde_json::json!({ "slot": 1, "state": "alive", "pid": me, "active": true, "cursor": start, "lag": 6, "corrupt": null })
    );
    assert_eq!(subs[0]["lag"], 0);
    assert_eq!(value["newest"]["value"], serde_json::json!({ "x": 0.5, "y": -1.0, "seq": 6 }));
    // `ls` shows the slowest subscriber's lag as the fill.
    let row = ok(&["ls"]).lines().find(|l| l.starts_with(&name)).map(str::to_owned).unwrap();
    // (Columns as wide as their widest cell machine-wide: compare words.)
    assert!(row.split_whitespace().rev().take(2).eq(["6/8", "live"]), "{row}");
    assert_eq!(ls_entry(&name, false).unwrap()["broadcast"]["subscribers"][1]["lag"], 6);
    // `watch` draws one lag bar per subscriber.
    let output = ok(&["watch", &name, "--interval", "20", "--count", "2"]);
    assert!(output.contains("[....................]  alive\n"), "{output}");
    assert!(output.contains("[###############.....]  alive\n"), "{output}");
    assert!(output.contains("rate:         0 messages/s"), "{output}");
    // A peer scribbles a table entry: a held, active entry whose cursor
    // is ahead of the write position is shown as corrupt, in text and
    // JSON (table entry 2: 32 words in, 8 words each; role, active,
    // cursor).
    let payload = json(&["inspect", &name, "--json"])["header"]["payload_offset"].as_u64().unwrap();
    let entry = payload + (32 + 2 * 8) * 8;
    let garbage = 0x0000_ffff_0000_0007_u64.to_ne_bytes();
    let ahead = write.wrapping_add(3).to_ne_bytes();
    patch(&name, entry, &[garbage, garbage, ahead].concat());
    let text = ok(&["inspect", &name]);
    assert!(text.contains("subscribers:  3 of 4 entries\n"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("  2     7")
            && l.ends_with("?    -                       corrupt: cursor is ahead of the write position")),
        "{text}"
    );
    let value = &json(&["inspect", &name, "--json"])["value"];
    let bad = &value["subscribers"][2];
    assert_eq!((bad["slot"].as_u64(), bad["pid"].as_u64(), bad["state"].as_str()), (Some(2), Some(7), Some("unknown")));
    assert_eq!(bad["lag"], Value::Null);
    assert_eq!(bad["corrupt"], "cursor is ahead of the write position");
    patch(&name, entry, &[0; 24]);
    drop((fast, slow, tx));
    assert!(!exists(&name), "every end let go: the name goes");
}

#[test]
fn inspect_shows_a_byte_rings_oldest_and_newest_messages() {
    let mut tx = ByteRing::create_memorybuf(8, 8).unwrap();
    let name = tx.name().as_str().to_owned();
    let text = ok(&["inspect", &name]);
    assert!(text.contains("oldest:       -\nnewest:       -\n"), "an empty ring: {text}");
    tx.write(b"hi\n").unwrap();
    tx.write_partial(b"a message of 25 bytes....", Duration::from_secs(5)).unwrap();
    let text = ok(&["inspect", &name]);
    assert!(text.contains("oldest:       #0: 3 bytes in 1 slot: 68690a \"hi\\n\"\n"), "{text}");
    assert!(text.contains("newest:       #1: 25 bytes in 4 slots: 61206d6573736167... \"a messag\"...\n"), "{text}");
    let ring = &json(&["inspect", &name, "--json"])["value"];
    assert_eq!(
        ring["oldest_unread"],
        serde_json::json!({ "position": 0, "slots": 1, "len": 3, "head_hex": "68690a", "head_text": "hi\\n" })
    );
    assert_eq!(ring["newest_unread"]["len"], 25);
    assert_eq!(ring["newest_unread"]["head_text"], "a messag");
    // Read to the end, with the consumer the last end to let go: the name
    // goes.
    let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle()).unwrap();
    let mut message = Vec::new();
    rx.read(&mut message).unwrap();
    assert_eq!(message, b"hi\n");
    let text = ok(&["inspect", &name]);
    assert!(text.contains("oldest:       #1: 25 bytes"), "{text}");
    rx.read(&mut message).unwrap();
    drop(tx);
    drop(rx);
    assert!(!exists(&name));
}

/// The counters `shm-bridge` keeps beside an object it carries, declared
/// as the bridge declares them (same name, same fields).
#[derive(SharedState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
struct BridgeStats {
    messages: u64,
    bytes: u64,
    drops: u64,
    gaps: u64,
    lost: u64,
    garbage: u64,
    messages_per_s: u64,
    bytes_per_s: u64,
    last_nonce: u64,
    last_end: u64,
    direction: u64,
}

#[test]
fn ls_shows_a_bridges_rates() {
    let name = format!("{}.bridge-in", unique("bridged"));
    let stats = BridgeStats {
        messages: 10,
        drops: 2,
        gaps: 1,
        messages_per_s: 1234,
        bytes_per_s: 5_600_000,
        ..Default::default()
    };
    let _object = Shared::create_named(&name, &stats).expect("create");
    let table = ok(&["ls"]);
    let line = table.lines().find(|l| l.starts_with(&name)).unwrap_or_else(|| panic!("{name} not listed:\n{table}"));
    assert!(line.ends_with("1234 msg/s, 5.6 MB/s, 2 drops, 1 gaps"), "{line}");
    let entry = ls_entry(&name, false).expect("listed");
    assert_eq!(entry["bridge"]["messages_per_s"], 1234);
    assert_eq!(entry["bridge"]["drops"], 2);
}

#[test]
fn bridge_without_shm_bridge_installed_says_so() {
    // The test binary's `shm` has no shm-bridge beside it (the bridge is
    // built in its own workspace); an empty PATH finds none either.
    let output = shm().args(["bridge", "out", "--from", "x", "--key", "k"]).env("PATH", "").output().expect("run shm");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.starts_with("shm: error: shm-bridge is not installed"), "{err}");
}

#[test]
fn bridge_runs_the_shm_bridge_it_finds_on_path_with_the_arguments() {
    let dir = std::env::temp_dir().join(unique("path"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let fake = dir.join("shm-bridge");
    std::fs::write(&fake, "#!/bin/sh\necho \"fake bridge: $*\"\n").expect("write");
    std::process::Command::new("chmod").arg("755").arg(&fake).status().expect("chmod");
    let output = shm().args(["bridge", "in", "--key", "k", "--to", "b"]).env("PATH", &dir).output().expect("run shm");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "fake bridge: in --key k --to b\n");
}
