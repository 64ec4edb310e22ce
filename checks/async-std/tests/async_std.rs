//! shm-runtime's async forms under async-std, across two processes: a
//! child awaits with async-std (`task::block_on`, and tasks spawned on its
//! executor) against a parent using the blocking forms, with and without
//! `futex_waitv`; a producer killed while the consumer awaits ends the
//! await with `PeerDead`. As in the workspace's `tests/async_cross_process.rs`
//! (which covers tokio and smol), the test binary re-runs itself in a
//! role; every wait is time-boxed and /dev/shm is left as found.

use async_std::stream::StreamExt;
use shm_runtime::{ByteRing, Consumer, Handle, MemoryInterface, Producer, RingError, SharedInt, SharedObject};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest any wait of these tests may take.
const LIMIT: Duration = Duration::from_secs(20);
/// Items each way.
const ITEMS: u64 = 300;
const ROLE: &str = "SHM_ASYNC_STD_ROLE";
const VAR_GO: &str = "SHM_ASYNC_STD_GO";
const VAR_DOWN: &str = "SHM_ASYNC_STD_DOWN";
const VAR_UP: &str = "SHM_ASYNC_STD_UP";
const VAR_BYTES_DOWN: &str = "SHM_ASYNC_STD_BYTES_DOWN";
const VAR_BYTES_UP: &str = "SHM_ASYNC_STD_BYTES_UP";
/// The runtime's switch to one waiter thread per word.
const NO_WAITV: &str = "SHMRS_NO_FUTEX_WAITV";

fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

fn handle_from(var: &str) -> Handle {
    std::env::var(var).unwrap().parse().unwrap()
}

/// Re-runs this test binary's `test` in `role`, with `envs`.
fn spawn(test: &str, role: &str, envs: &[(&str, String)]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for `child` at most [`LIMIT`], killing it if it overruns.
fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child {} did not finish within {LIMIT:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn exists(name: &str) -> bool {
    std::path::Path::new("/dev/shm").join(name).exists()
}

/// The child: every async form, on async-std, against the parent's
/// blocking ones. The items are echoed by a task spawned on async-std's
/// executor (its worker threads), the messages by the blocking-on thread.
async fn child_side() {
    let go = SharedInt::load_sharedobject(&handle_from(VAR_GO)).unwrap();
    let mut down = MemoryInterface::<u64, Consumer>::load_memorybuf(&handle_from(VAR_DOWN)).unwrap();
    let mut up = MemoryInterface::<u64, Producer>::load_memorybuf(&handle_from(VAR_UP)).unwrap();
    let mut bytes_down = ByteRing::<Consumer>::load_memorybuf(&handle_from(VAR_BYTES_DOWN)).unwrap();
    let mut bytes_up = ByteRing::<Producer>::load_memorybuf(&handle_from(VAR_BYTES_UP)).unwrap();

    let since = go.version();
    go.write(-1); // here
    let seen = go.changed(since.wrapping_add(1)).await;
    assert_eq!(go.read(), 1, "version {seen}");

    let items = async_std::task::spawn(async move {
        assert_eq!(down.read_async().await.unwrap(), 0);
        up.write_async(&0).await.unwrap();
        let mut expected = 1;
        let mut stream = down.stream();
        while let Some(item) = stream.next().await {
            let item = item.unwrap();
            assert_eq!(item, expected, "items in order, none lost");
            expected += 1;
            up.write_async(&(item * 2)).await.unwrap();
        }
        assert_eq!(expected, ITEMS, "the stream ended after the last item");
    });
    items.await;

    let mut message = Vec::new();
    bytes_down.read_async(&mut message).await.unwrap();
    assert_eq!(message, b"m0");
    bytes_up.write_async(&message).await.unwrap();
    let mut messages = bytes_down.stream();
    let mut n = 1;
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        assert_eq!(message, format!("m{n}").into_bytes());
        n += 1;
        bytes_up.write_async(&message).await.unwrap();
    }
    assert_eq!(n, ITEMS);
}

#[test]
fn every_async_form_under_async_std_across_processes() {
    const TEST: &str = "every_async_form_under_async_std_across_processes";
    if role().as_deref() == Some("child") {
        async_std::task::block_on(async_std::future::timeout(LIMIT, child_side())).expect("timed out");
        return;
    }
    for no_waitv in [false, true] {
        let what = format!("futex_waitv {}", if no_waitv { "off" } else { "on" });
        let go = SharedInt::create_sharedobject(0).unwrap();
        let mut down = MemoryInterface::<u64, Producer>::create_memorybuf(8).unwrap();
        let mut up = MemoryInterface::<u64, Consumer>::create_memorybuf(8).unwrap();
        let mut bytes_down = ByteRing::<Producer>::create_memorybuf(16, 4).unwrap();
        let mut bytes_up = ByteRing::<Consumer>::create_memorybuf(16, 4).unwrap();
        let names: Vec<String> = [go.name(), down.name(), up.name(), bytes_down.name(), bytes_up.name()]
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        let mut envs = vec![
            (VAR_GO, go.handle().to_string()),
            (VAR_DOWN, down.handle().to_string()),
            (VAR_UP, up.handle().to_string()),
            (VAR_BYTES_DOWN, bytes_down.handle().to_string()),
            (VAR_BYTES_UP, bytes_up.handle().to_string()),
        ];
        if no_waitv {
            envs.push((NO_WAITV, "1".to_owned()));
        }
        let mut child = spawn(TEST, "child", &envs);
        let deadline = Instant::now() + LIMIT;
        while go.read() != -1 {
            assert!(Instant::now() < deadline, "{what}: the child never attached");
            assert!(child.try_wait().unwrap().is_none(), "{what}: the child ended before attaching");
            std::thread::sleep(Duration::from_millis(1));
        }
        go.write(1);
        for i in 0..ITEMS {
            down.write_timeout(&i, LIMIT).unwrap_or_else(|e| panic!("{what}: item {i}: {e}"));
            let back = up.read_timeout(LIMIT).unwrap_or_else(|e| panic!("{what}: item {i} back: {e}"));
            assert_eq!(back, i * 2, "{what}");
        }
        drop(down); // ends the child's stream
        let mut message = Vec::new();
        for i in 0..ITEMS {
            bytes_down.write_timeout(format!("m{i}").as_bytes(), LIMIT).unwrap();
            bytes_up.read_timeout(&mut message, LIMIT).unwrap_or_else(|e| panic!("{what}: message {i}: {e}"));
            assert_eq!(message, format!("m{i}").into_bytes(), "{what}");
        }
        drop(bytes_down);
        assert!(wait(&mut child).success(), "{what}: the child failed");
        drop((go, up, bytes_up));
        for name in &names {
            assert!(!exists(name), "{what}: {name} left behind");
        }
    }
}

/// A producer writes three items and waits to be killed; the consumer's
/// `read_async` on async-std ends with `PeerDead` soon after the kill.
#[test]
fn a_killed_producer_ends_the_await_with_peer_dead() {
    const TEST: &str = "a_killed_producer_ends_the_await_with_peer_dead";
    if role().as_deref() == Some("producer") {
        let mut ring = MemoryInterface::<u64, Producer>::load_memorybuf(&handle_from(VAR_DOWN)).unwrap();
        for i in 0..3 {
            ring.write_blocking(&i).unwrap();
        }
        std::thread::sleep(LIMIT);
        return;
    }
    let mut ring = MemoryInterface::<u64, Consumer>::create_memorybuf(8).unwrap();
    let name = ring.name().as_str().to_owned();
    let mut producer = spawn(TEST, "producer", &[(VAR_DOWN, ring.handle().to_string())]);
    let (err, killed, ended) = async_std::task::block_on(async_std::future::timeout(LIMIT, async {
        for i in 0..3 {
            assert_eq!(ring.read_async().await.unwrap(), i);
        }
        let waiting = ring.read_async();
        let killer = async_std::task::spawn(async move {
            async_std::task::sleep(Duration::from_millis(100)).await;
            producer.kill().unwrap();
            producer.wait().unwrap();
            Instant::now()
        });
        let err = waiting.await.unwrap_err();
        let ended = Instant::now();
        (err, killer.await, ended)
    }))
    .expect("timed out");
    assert!(matches!(err, RingError::PeerDead { .. }), "{err}");
    assert!(ended.duration_since(killed) < Duration::from_secs(2), "PeerDead took {:?}", ended - killed);
    drop(ring);
    assert!(!exists(&name), "ring left behind");
}
