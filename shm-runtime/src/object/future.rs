//! The futures of the `async` feature: [`Changed`] (a value object's
//! version moving) here, the rings' in `ring/`. A pending future first
//! spins and yields to the executor as the blocking waits spin and yield
//! (`Registration::awake`), then arms its futex word with this process's
//! waiter threads ([`crate::segment::waiter`]); none of them runs on, or
//! needs, a particular async runtime.

use crate::object::notify::{self, Versioned};
use crate::protocol::notify as handshake;
use crate::segment::waiter::{Awake, Registration};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::Duration;

/// How long a pending future whose kernel barrier failed waits before it
/// looks again (a registered publisher may have skipped its fence; see
/// `protocol/notify.rs`).
const POLL_SLICE: Duration = Duration::from_millis(1);

/// The future of `changed(since)`: ready with the new version once the
/// object's version differs from `since`.
///
/// Cancellation-safe: it takes nothing; dropping it only disarms its
/// futex word.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub(crate) struct Changed<V> {
    object: V,
    since: u64,
    registration: Registration,
}

impl<V: Versioned> Changed<V> {
    pub(crate) fn new(object: V, since: u64) -> Self {
        Self { object, since, registration: Registration::default() }
    }

    fn changed(&self) -> Option<u64> {
        Some(self.object.load_version()).filter(|v| *v != self.since)
    }
}

impl<V: Versioned + Unpin> Future for Changed<V> {
    type Output = u64;

    /// Spins and yields first as `notify::wait_changed` does (see
    /// [`Registration::awake`]), then announces itself and arms.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let this = self.get_mut();
        let (object, since) = (&this.object, this.since);
        let changed = || Some(object.load_version()).filter(|v| *v != since);
        match this.registration.awake(cx, notify::SPINS, notify::YIELDS, changed) {
            Awake::Ready(version) => {
                this.registration.disarm();
                return Poll::Ready(version);
            }
            Awake::Yielded => return Poll::Pending,
            Awake::Arm => {}
        }
        if let Some(version) = this.changed() {
            this.registration.disarm();
            return Poll::Ready(version);
        }
        let waiters = this.object.waiters();
        // Pairs with `take_waiters` in the publisher, as in
        // `notify::wait_changed`: either the re-check below sees the new
        // version, or the publisher sees our flag and wakes the word the
        // waiter thread sleeps on.
        let (expected, barrier_made) = handshake::announce(waiters);
        if let Some(version) = this.changed() {
            this.registration.disarm();
            return Poll::Ready(version);
        }
        let recheck = (!barrier_made).then_some(POLL_SLICE);
        this.registration.arm(waiters, expected, cx.waker(), recheck);
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use crate::segment::waiter;
    use crate::segment::waiter::testing::{CountingWaker, serial};
    use crate::{Shared, SharedArray, SharedBool, SharedBytes, SharedInt, SharedObject, SharedString};
    use core::future::Future;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    fn tokio_current() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    fn tokio_multi() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap()
    }

    /// Runs `f` (a future that must complete) on each runtime, failing
    /// after 10 s.
    fn on_every_runtime<F: Future<Output = ()> + Send + 'static>(f: impl Fn() -> F) {
        let limit = Duration::from_secs(10);
        tokio_current().block_on(async { tokio::time::timeout(limit, f()).await.expect("tokio current-thread") });
        tokio_multi().block_on(async { tokio::time::timeout(limit, f()).await.expect("tokio multi-thread") });
        smol::block_on(async {
            smol::future::or(f(), async {
                smol::Timer::after(limit).await;
                panic!("smol: timed out");
            })
            .await;
        });
    }

    /// Writes with `write` on another thread (its own mapping) after a
    /// pause long enough for the future to be pending.
    fn write_later<O: SharedObject + Send + 'static>(peer: O, write: fn(&O)) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            write(&peer);
        })
    }

    #[test]
    fn every_value_object_completes_changed_on_every_runtime() {
        let _serial = serial();
        on_every_runtime(|| async {
            let int = SharedInt::create_sharedobject(0).unwrap();
            let since = int.version();
            let writer = write_later(SharedInt::load_sharedobject(&int.handle()).unwrap(), |o| o.write(3));
            assert_eq!(int.changed(since).await, since + 1);
            assert_eq!(int.read(), 3);
            writer.join().unwrap();

            let flag = SharedBool::create_sharedobject(false).unwrap();
            let since = flag.version();
            let writer = write_later(SharedBool::load_sharedobject(&flag.handle()).unwrap(), |o| o.write(true));
            assert_eq!(flag.changed(since).await, since + 1);
            writer.join().unwrap();

            let text = SharedString::create_sharedobject(8).unwrap();
            let since = text.version();
            let writer =
                write_later(SharedString::load_sharedobject(&text.handle()).unwrap(), |o| o.write("hi").unwrap());
            assert_eq!(text.changed(since).await, since + 1);
            assert_eq!(text.read().unwrap(), "hi");
            writer.join().unwrap();

            let bytes = SharedBytes::create_sharedobject(8).unwrap();
            let since = bytes.version();
            let writer =
                write_later(SharedBytes::load_sharedobject(&bytes.handle()).unwrap(), |o| o.write(b"x").unwrap());
            assert_eq!(bytes.changed(since).await, since + 1);
            writer.join().unwrap();

            let state = Shared::<u64>::create_sharedobject(&0).unwrap();
            let since = state.version();
            let writer = write_later(Shared::<u64>::load_sharedobject(&state.handle()).unwrap(), |o| {
                o.update(|v| *v += 1).unwrap();
            });
            assert_eq!(state.changed(since).await, since + 1);
            writer.join().unwrap();

            let array = SharedArray::<u32>::create_sharedobject(3).unwrap();
            let since = array.version(2).unwrap();
            let writer =
                write_later(SharedArray::<u32>::load_sharedobject(&array.handle()).unwrap(), |o| o.set(2, &8).unwrap());
            assert_eq!(array.changed(2, since).await.unwrap(), since + 1);
            assert!(array.changed(3, 0).await.is_err());
            writer.join().unwrap();
        });
        assert_eq!(waiter::armed(), 0, "a completed future left its registration");
    }

    /// `changed()`'s awake regime, polled by hand on this thread: a change
    /// during the yield phase completes the future without arming; with
    /// none, the future arms after `YIELDS` yielding polls and the write
    /// then wakes it through the waiter thread.
    #[test]
    fn changed_yields_then_arms() {
        use super::notify::YIELDS;
        use core::task::{Context, Poll};
        // It arms a registration: the tests that count them must not see it.
        let _serial = serial();
        let int = SharedInt::create_sharedobject(0).unwrap();
        let counter = std::sync::Arc::new(CountingWaker::default());
        let waker = std::task::Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let woken = || counter.woken();
        let armed_before = waiter::armed_on_this_thread();

        let since = int.version();
        {
            let mut changed = core::pin::pin!(int.changed(since));
            for poll in 1..YIELDS {
                assert!(changed.as_mut().poll(&mut cx).is_pending());
                assert_eq!(woken(), poll as usize, "poll {poll} yielded");
            }
            int.write(1);
            assert_eq!(changed.as_mut().poll(&mut cx), Poll::Ready(since + 1));
        }
        assert_eq!(waiter::armed_on_this_thread(), armed_before, "a change seen while yielding armed");

        counter.reset();
        let since = int.version();
        {
            let mut changed = core::pin::pin!(int.changed(since));
            for _ in 0..YIELDS {
                assert!(changed.as_mut().poll(&mut cx).is_pending());
            }
            assert_eq!((woken(), waiter::armed_on_this_thread()), (YIELDS as usize, armed_before));
            assert!(changed.as_mut().poll(&mut cx).is_pending());
            assert_eq!(waiter::armed_on_this_thread(), armed_before + 1, "not armed after the yields");
            assert_eq!(woken(), YIELDS as usize, "the arming poll woke its own task");
            int.write(2);
            let woken_by = Instant::now() + Duration::from_secs(10);
            while woken() == YIELDS as usize {
                assert!(Instant::now() < woken_by, "the armed future was not woken");
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(changed.as_mut().poll(&mut cx), Poll::Ready(since + 1));
        }
    }

    /// A tiny deterministic generator for the write order.
    fn shuffled(n: usize, mut seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, usize::try_from(seed % (i as u64 + 1)).unwrap());
        }
        order
    }

    /// 1,000 futures (10 per object, on 100 objects) wait at once; the
    /// objects are written one at a time in a random order, and after each
    /// write exactly that object's 10 futures complete, each with the new
    /// version and the value written: none missed, none completed early
    /// or with a wrong value. Meanwhile, with nothing written, the waiter
    /// threads use almost no processor time.
    #[test]
    fn thousand_futures_on_a_hundred_objects() {
        thousand_futures();
    }

    /// The same where `futex_waitv` is missing: a thread per armed word
    /// (a thousand here, each future on its own mapping), which must not
    /// cost processor time while idle either.
    #[test]
    fn thousand_futures_on_a_hundred_objects_one_thread_per_word() {
        let test = "object::future::tests::thousand_futures_on_a_hundred_objects_one_thread_per_word";
        if crate::sys::testing::in_fresh_process_with_env(test, &[(waiter::NO_WAITV_ENV, "1")]) {
            thousand_futures();
            assert!(waiter::one_thread_per_word(), "{} was not obeyed", waiter::NO_WAITV_ENV);
        }
    }

    fn thousand_futures() {
        const OBJECTS: usize = 100;
        const PER_OBJECT: usize = 10;
        let _serial = serial();
        let objects: Vec<SharedInt> = (0..OBJECTS).map(|_| SharedInt::create_sharedobject(-1).unwrap()).collect();
        let runtime = tokio_multi();
        let (done, results) = mpsc::channel();
        for (i, object) in objects.iter().enumerate() {
            for _ in 0..PER_OBJECT {
                let peer = SharedInt::load_sharedobject(&object.handle()).unwrap();
                let since = peer.version();
                let done = done.clone();
                runtime.spawn(async move {
                    let version = peer.changed(since).await;
                    done.send((i, version == since + 1, peer.read())).unwrap();
                });
            }
        }
        // Every future is pending and armed.
        let armed_by = Instant::now() + Duration::from_secs(10);
        while waiter::armed() < OBJECTS * PER_OBJECT {
            assert!(Instant::now() < armed_by, "only {} futures armed", waiter::armed());
            std::thread::sleep(Duration::from_millis(10));
        }
        // Idle: nothing written for a second (after the threads have
        // caught up with the registrations' doorbell).
        std::thread::sleep(Duration::from_millis(200));
        let cpu_before = waiter::threads_cpu_time();
        let idle_from = Instant::now();
        std::thread::sleep(Duration::from_secs(1));
        let cpu = waiter::threads_cpu_time().saturating_sub(cpu_before);
        let idle = idle_from.elapsed();
        assert!(cpu < idle / 100, "waiter threads used {cpu:?} of {idle:?} while 1,000 futures waited idle");
        assert!(results.try_recv().is_err(), "a future completed with nothing written");
        for i in shuffled(OBJECTS, 0x5eed) {
            let value = i64::try_from(i).unwrap() * 7;
            objects[i].write(value);
            for got in 0..PER_OBJECT {
                let (object, right_version, read) = results
                    .recv_timeout(Duration::from_secs(10))
                    .unwrap_or_else(|_| panic!("object {i}: {got} of {PER_OBJECT} woken; {} armed", waiter::armed()));
                assert_eq!((object, right_version, read), (i, true, value), "after writing object {i}");
            }
            assert!(results.try_recv().is_err(), "a future of another object completed after writing {i}");
        }
        drop(runtime);
        assert_eq!(waiter::armed(), 0);
    }

    /// Cancellation: futures dropped while pending (at random points,
    /// between polls) leave no registration behind, and the others still
    /// complete.
    #[test]
    fn dropped_futures_disarm_and_lose_nothing() {
        let _serial = serial();
        let int = SharedInt::create_sharedobject(0).unwrap();
        let runtime = tokio_multi();
        let before = waiter::armed();
        runtime.block_on(async {
            for round in 0..50u64 {
                let since = int.version();
                let kept = tokio::spawn({
                    let peer = SharedInt::load_sharedobject(&int.handle()).unwrap();
                    async move {
                        peer.changed(since).await;
                        peer.read()
                    }
                });
                // Cancelled after a varying time: before, while or after it
                // arms.
                let pause = Duration::from_micros(round * 37 % 500);
                let cancelled = tokio::time::timeout(pause, int.changed(since)).await;
                assert!(cancelled.is_err(), "nothing written yet");
                int.write(i64::try_from(round).unwrap());
                assert_eq!(kept.await.unwrap(), i64::try_from(round).unwrap());
            }
        });
        let settled = Instant::now() + Duration::from_secs(5);
        while waiter::armed() > before && Instant::now() < settled {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(waiter::armed() <= before, "dropped futures left registrations");
    }
}

#[cfg(test)]
mod pingpong {
    use crate::{SharedInt, SharedObject};
    use std::time::{Duration, Instant};

    fn peer(int: &SharedInt) -> SharedInt {
        SharedInt::load_sharedobject(&int.handle()).unwrap()
    }

    /// Round trip of a change, the echo blocking: the initiating side
    /// blocking, then async (run with `--ignored --nocapture`; the
    /// benchmark's cases are in shm-bench).
    #[test]
    #[ignore = "measurement"]
    fn measure_round_trip() {
        const N: i64 = 2000;
        let request = SharedInt::create_sharedobject(0).unwrap();
        let reply = SharedInt::create_sharedobject(0).unwrap();
        let (p2, q2) = (peer(&request), peer(&reply));
        let first = request.version();
        let echo = std::thread::spawn(move || {
            let mut since = first;
            for _ in 0..2 * N {
                since = p2.wait_changed(since, Duration::from_secs(10)).unwrap();
                q2.write(p2.read());
            }
        });
        let start = Instant::now();
        for i in 0..N {
            let since = reply.version();
            request.write(i);
            reply.wait_changed(since, Duration::from_secs(10)).unwrap();
        }
        println!("blocking: {:?} per round trip", start.elapsed() / u32::try_from(N).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let start = Instant::now();
            for i in 0..N {
                let since = reply.version();
                request.write(i);
                reply.changed(since).await;
            }
            println!("async: {:?} per round trip", start.elapsed() / u32::try_from(N).unwrap());
        });
        echo.join().unwrap();
    }
}

#[cfg(test)]
mod ring_pingpong {
    use crate::{Consumer, MemoryInterface, SharedObject};
    use std::time::Instant;

    /// Ring round trip, the echo blocking: the initiating side blocking,
    /// then async (run with `--ignored --nocapture`).
    #[test]
    #[ignore = "measurement"]
    fn measure_ring_round_trip() {
        const N: u32 = 2000;
        let mut req_tx = MemoryInterface::<u64>::create_memorybuf(64).unwrap();
        let mut req_rx = MemoryInterface::<u64, Consumer>::load_sharedobject(&req_tx.handle()).unwrap();
        let mut rep_tx = MemoryInterface::<u64>::create_memorybuf(64).unwrap();
        let mut rep_rx = MemoryInterface::<u64, Consumer>::load_sharedobject(&rep_tx.handle()).unwrap();
        let echo = std::thread::spawn(move || {
            for _ in 0..2 * N {
                let v = req_rx.read_blocking().unwrap();
                rep_tx.write_blocking(&v).unwrap();
            }
        });
        let start = Instant::now();
        for i in 0..u64::from(N) {
            req_tx.write_blocking(&i).unwrap();
            rep_rx.read_blocking().unwrap();
        }
        println!("ring blocking: {:?} per round trip", start.elapsed() / N);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let start = Instant::now();
            for i in 0..u64::from(N) {
                req_tx.write_async(&i).await.unwrap();
                rep_rx.read_async().await.unwrap();
            }
            println!("ring async: {:?} per round trip", start.elapsed() / N);
        });
        echo.join().unwrap();
    }
}
