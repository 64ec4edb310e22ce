//! Cross-process tests of the `async` feature: every async form (value
//! objects' `changed`, the rings' `read_async`, `write_async` and
//! `stream`) in a child process under tokio (current-thread and
//! multi-thread) and smol, with and without `futex_waitv`, against a
//! parent that uses the blocking forms; a producer killed (SIGKILL) while the
//! consumer awaits; futures cancelled at random points while items flow.
//!
//! As in `ring_cross_process.rs`, the test binary re-runs itself in a role
//! (`common::spawn_role`); every wait is time-boxed, and every test checks
//! that what it created is gone from /dev/shm at the end.

mod common;

use common::{Kid, env, handle_from};
use shm_runtime::{ByteRing, Consumer, MemoryInterface, Producer, RingError, SharedInt, SharedObject};
use std::future::Future;
use std::time::{Duration, Instant};

/// Longest any future of these tests may take.
const LIMIT: Duration = Duration::from_secs(20);
/// Items each way per run.
const ITEMS: u64 = 300;

const VAR_GO: &str = "SHM_ASYNC_TEST_GO";
const VAR_DOWN: &str = "SHM_ASYNC_TEST_DOWN";
const VAR_UP: &str = "SHM_ASYNC_TEST_UP";
const VAR_BYTES_DOWN: &str = "SHM_ASYNC_TEST_BYTES_DOWN";
const VAR_BYTES_UP: &str = "SHM_ASYNC_TEST_BYTES_UP";
const VAR_RUNTIME: &str = "SHM_ASYNC_TEST_RUNTIME";
/// Set to `1` in a child: one waiter thread per word instead of
/// `futex_waitv` (the runtime's fallback).
const NO_WAITV: &str = "SHMRS_NO_FUTEX_WAITV";

/// Runs `f` to completion on `runtime` (`tokio-current`, `tokio-multi`,
/// `smol`), failing after [`LIMIT`].
fn run_on<F: Future<Output = ()>>(runtime: &str, f: F) {
    let tokio = match runtime {
        "tokio-current" => tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap(),
        "tokio-multi" => tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap(),
        "smol" => {
            return smol::block_on(async {
                smol::future::or(f, async {
                    smol::Timer::after(LIMIT).await;
                    panic!("timed out");
                })
                .await;
            });
        }
        other => panic!("unknown runtime {other}"),
    };
    tokio.block_on(async { tokio::time::timeout(LIMIT, f).await.expect("timed out") });
}

/// The child: every async form, against the parent's blocking ones.
async fn child_side() {
    let go = SharedInt::load_sharedobject(&handle_from(VAR_GO)).unwrap();
    let mut down = MemoryInterface::<u64, Consumer>::load_memorybuf(&handle_from(VAR_DOWN)).unwrap();
    let mut up = MemoryInterface::<u64, Producer>::load_memorybuf(&handle_from(VAR_UP)).unwrap();
    let mut bytes_down = ByteRing::<Consumer>::load_memorybuf(&handle_from(VAR_BYTES_DOWN)).unwrap();
    let mut bytes_up = ByteRing::<Producer>::load_memorybuf(&handle_from(VAR_BYTES_UP)).unwrap();

    // The parent writes `go` once everyone is attached.
    let since = go.version();
    go.write(-1); // tells the parent we are here
    let seen = go.changed(since.wrapping_add(1)).await;
    assert_eq!(go.read(), 1, "version {seen}");

    // Items: the first with read_async, the rest as a stream; each sent
    // back (doubled) with write_async.
    let first = down.read_async().await.unwrap();
    assert_eq!(first, 0);
    up.write_async(&0).await.unwrap();
    let mut expected = 1;
    {
        let mut items = down.stream();
        while let Some(item) = smol::stream::StreamExt::next(&mut items).await {
            let item = item.unwrap();
            assert_eq!(item, expected, "items in order, none lost");
            expected += 1;
            up.write_async(&(item * 2)).await.unwrap();
        }
    }
    assert_eq!(expected, ITEMS, "the stream ended after the last item (the producer let go)");

    // Messages: the first with read_async, the rest as a stream; echoed.
    let mut message = Vec::new();
    bytes_down.read_async(&mut message).await.unwrap();
    assert_eq!(message, b"m0");
    bytes_up.write_async(&message).await.unwrap();
    let mut messages = bytes_down.stream();
    let mut n = 1;
    while let Some(message) = smol::stream::StreamExt::next(&mut messages).await {
        let message = message.unwrap();
        assert_eq!(message, format!("m{n}").into_bytes());
        n += 1;
        bytes_up.write_async(&message).await.unwrap();
    }
    assert_eq!(n, ITEMS);
}

#[test]
fn every_async_form_under_every_runtime_across_processes() {
    if common::role().as_deref() == Some("async-child") {
        let runtime = std::env::var(VAR_RUNTIME).unwrap();
        run_on(&runtime, child_side());
        return;
    }
    for runtime in ["tokio-current", "tokio-multi", "smol"] {
        for no_waitv in [false, true] {
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
                env(VAR_GO, &go.handle()),
                env(VAR_DOWN, &down.handle()),
                env(VAR_UP, &up.handle()),
                env(VAR_BYTES_DOWN, &bytes_down.handle()),
                env(VAR_BYTES_UP, &bytes_up.handle()),
                (VAR_RUNTIME, runtime.to_owned()),
            ];
            if no_waitv {
                envs.push((NO_WAITV, "1".to_owned()));
            }
            let mut kid = Kid::spawn("every_async_form_under_every_runtime_across_processes", "async-child", &envs);
            let what = format!("{runtime}, futex_waitv {}", if no_waitv { "off" } else { "on" });
            // The child is there once it wrote -1; then go.
            common::wait_for("the child to attach", Some(&mut kid), || (go.read() == -1).then_some(()));
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
            kid.expect_success();
            drop((go, up, bytes_up));
            for name in &names {
                assert!(!common::exists(name), "{what}: {name} left behind");
            }
        }
    }
}

/// A producer that writes three items and then waits to be killed; the
/// consumer's await ends with `PeerDead` soon after, with `futex_waitv`
/// (this process) and with one waiter thread per word (a consumer process
/// of its own, where the liveness rechecks are kept by the recheck
/// thread).
#[test]
fn a_killed_producer_ends_the_await_with_peer_dead() {
    const TEST: &str = "a_killed_producer_ends_the_await_with_peer_dead";
    match common::role().as_deref() {
        Some("producer") => {
            let mut ring = MemoryInterface::<u64, Producer>::load_memorybuf(&handle_from(VAR_DOWN)).unwrap();
            for i in 0..3 {
                ring.write_blocking(&i).unwrap();
            }
            std::thread::sleep(LIMIT);
            return;
        }
        Some("consumer") => {
            for runtime in ["tokio-current", "tokio-multi", "smol"] {
                await_until_the_producer_is_killed(TEST, runtime);
            }
            return;
        }
        _ => {}
    }
    for runtime in ["tokio-current", "tokio-multi", "smol"] {
        await_until_the_producer_is_killed(TEST, runtime);
    }
    Kid::spawn(TEST, "consumer", &[(NO_WAITV, "1".to_owned())]).expect_success();
}

fn await_until_the_producer_is_killed(test: &str, runtime: &str) {
    let mut ring = MemoryInterface::<u64, Consumer>::create_memorybuf(8).unwrap();
    let name = ring.name().as_str().to_owned();
    let kid = Kid::spawn(test, "producer", &[env(VAR_DOWN, &ring.handle())]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let ring = &mut ring;
        s.spawn(move || {
            run_on(runtime, async move {
                for i in 0..3 {
                    assert_eq!(ring.read_async().await.unwrap(), i);
                }
                tx.send(Instant::now()).unwrap();
                let err = ring.read_async().await.unwrap_err();
                tx.send(Instant::now()).unwrap();
                assert!(matches!(err, RingError::PeerDead { .. }), "{runtime}: {err}");
            });
        });
        let read_all = rx.recv_timeout(LIMIT).expect("three items");
        std::thread::sleep(Duration::from_millis(100));
        let killed = Instant::now();
        kid.kill_and_reap();
        let ended = rx.recv_timeout(LIMIT).expect("the await ended");
        assert!(ended.duration_since(killed) < Duration::from_secs(2), "{runtime}: PeerDead took too long");
        assert!(ended > read_all);
    });
    drop(ring);
    assert!(!common::exists(&name), "{runtime}: ring left behind");
}

/// Cancellation: a consumer's `read_async` futures are dropped at random
/// points (a timeout of a varying few microseconds around each) while a
/// producer in another process writes; afterwards every item arrived
/// exactly once, in order.
#[test]
fn cancelled_reads_lose_no_item() {
    if common::role().as_deref() == Some("producer") {
        let mut ring = MemoryInterface::<u64, Producer>::load_memorybuf(&handle_from(VAR_DOWN)).unwrap();
        for i in 0..ITEMS * 10 {
            ring.write_blocking(&i).unwrap();
            if i % 7 == 0 {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        return;
    }
    for runtime in ["tokio-current", "tokio-multi"] {
        let mut ring = MemoryInterface::<u64, Consumer>::create_memorybuf(4).unwrap();
        let name = ring.name().as_str().to_owned();
        let kid = Kid::spawn("cancelled_reads_lose_no_item", "producer", &[env(VAR_DOWN, &ring.handle())]);
        let mut cancelled = 0u32;
        run_on(runtime, async {
            let mut next = 0;
            let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
            loop {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let pause = Duration::from_micros(seed % 200);
                match tokio::time::timeout(pause, ring.read_async()).await {
                    Err(_) => cancelled += 1,
                    Ok(Ok(item)) => {
                        assert_eq!(item, next, "{runtime}: an item lost or repeated");
                        next += 1;
                    }
                    Ok(Err(RingError::Closed { .. })) => break,
                    Ok(Err(e)) => panic!("{runtime}: {e}"),
                }
            }
            assert_eq!(next, ITEMS * 10, "{runtime}: every item");
        });
        assert!(cancelled > 0, "{runtime}: no future was cancelled; the test proves nothing");
        kid.expect_success();
        drop(ring);
        assert!(!common::exists(&name), "{runtime}: ring left behind");
    }
}
