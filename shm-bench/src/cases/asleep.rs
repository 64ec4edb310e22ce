//! Waiting that sleeps: shm's ring through its blocking and its async
//! forms, a `SharedInt`'s `wait_changed` and `changed().await`, beside a
//! raw futex ping-pong (the floor of a wake-up) and tokio's Unix socket.
//!
//! Round trips here are taken with both sides asleep: before each round
//! trip the parent sleeps 200 µs (`std::thread::sleep`), long past the
//! other side's spinning and yielding (shm's blocking forms spin 200
//! times, then yield 20 times, then sleep on the futex), so every item
//! arrives at a process asleep in the kernel; only the round trip is
//! timed (two clock reads, ~50 ns, inside it). The async forms run in a
//! tokio current-thread runtime in each process (the `-mt` case: a
//! multi-thread one), entered once per call (`block_on`); tokio's socket
//! pays the same.
//!
//! The `-awake` round trips are the same transports back to back (no
//! gap): each round trip starts as soon as the last one ended, so each
//! side's wait finds the item while it still spins or yields (shm's async
//! forms spin in their first poll and yield to the executor for 20 polls
//! before they arm the waiter thread), the regime of a busy request/reply
//! pair. tokio's socket has no such phase: its reads still go through the
//! I/O driver (`epoll_wait`).
//!
//! Throughputs are streams as in every stream case (the parent consumes
//! and times), here through the waiting forms: `read_blocking` /
//! `write_blocking` one item a call, and the async forms 64 items per
//! runtime entry.

use super::{Case, ChildCtx, Ctx, Group, Metric, args, capacity_for, id};
use crate::Result;
use crate::link::{Rx, Tx, echo_with, ping_asleep};
use crate::links_asleep::{
    AsyncRx, AsyncTx, BlockingRx, BlockingTx, FutexRx, FutexTx, FutexWord, IntRx, IntTx, IntWait, STOP, TokioRx,
    TokioTx, current_thread, tokio_halves,
};
use crate::measure::{self, Measure, Plan};
use crate::proc::{ChildGuard, ChildWatch, Control, Stdio3, Watch};
use crate::raw::{RawShm, unique_name};
use shm_runtime::{Consumer, MemoryInterface, Producer, SharedInt, SharedObject};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;
use tokio::runtime::Runtime;

/// The parent's sleep before each round trip.
pub const GAP: Duration = Duration::from_micros(200);

/// Case parameter of the async cases: a current-thread runtime.
const CURRENT: usize = 0;
/// Case parameter of the async cases: a multi-thread runtime.
const MULTI: usize = 1;

/// Case parameter bit of the round-trip cases: back to back (awake), no
/// gap before each round trip.
const AWAKE: usize = 2;

/// Case parameter of the int cases: `wait_changed`.
const INT_BLOCKING: usize = 0;
/// Case parameter bit of the int cases: `changed().await`.
const INT_ASYNC: usize = 1;

/// Words of the futex mapping: ping at word 0, pong at word 512 (another
/// page).
const FUTEX_WORDS: usize = 1024;

pub(super) fn cases(out: &mut Vec<Case>) {
    let (rtt, thr) = (Metric::RoundTrip, Metric::Throughput);
    let futex = id(Group::Floor, "futex", rtt, 8);
    let cap = capacity_for(1);
    out.push(
        Case::new(Group::Floor, "futex", rtt, 8, "futex ping-pong", futex_parent)
            .child(futex_child)
            .note("both asleep (200 µs gap): a raw futex word each way, store then FUTEX_WAKE every time, FUTEX_WAIT while it holds the old number: two wake-ups, the floor of the waiting cases"),
    );
    out.push(
        Case::new(Group::Shm, "ring-blocking", rtt, 8, "MemoryInterface blocking", blocking_rtt_parent)
            .child(blocking_rtt_child)
            .floor(futex.clone())
            .capacity(cap)
            .note("both asleep (200 µs gap): write_blocking / read_blocking, one ring each way"),
    );
    for (param, slug, transport, note) in [
        (
            CURRENT,
            "ring-async",
            "MemoryInterface async",
            "both asleep (200 µs gap): write_async / read_async in a tokio current-thread runtime in each process, one ring each way",
        ),
        (
            MULTI,
            "ring-async-mt",
            "MemoryInterface async (multi-thread)",
            "as ring-async, in a tokio multi-thread runtime (block_on on the main thread)",
        ),
    ] {
        out.push(
            Case::new(Group::Shm, slug, rtt, 8, transport, async_rtt_parent)
                .child(async_rtt_child)
                .floor(futex.clone())
                .capacity(cap)
                .param(param)
                .note(note),
        );
    }
    out.push(
        Case::new(Group::Shm, "int-wait-changed", rtt, 8, "SharedInt wait_changed", int_parent)
            .child(int_child)
            .floor(futex.clone())
            .param(INT_BLOCKING)
            .note("both asleep (200 µs gap): write, then wait_changed on the other SharedInt's version: two wake-ups"),
    );
    out.push(
        Case::new(Group::Shm, "int-changed-async", rtt, 8, "SharedInt changed().await", int_parent)
            .child(int_child)
            .floor(futex)
            .param(INT_ASYNC)
            .note("both asleep (200 µs gap): write, then changed(since).await in a tokio current-thread runtime: two wake-ups"),
    );
    out.push(
        Case::new(Group::Peers, "tokio-uds", rtt, 8, "tokio Unix socket", tokio_rtt_parent)
            .child(tokio_rtt_child)
            .floor(id(Group::Shm, "ring-async", rtt, 8))
            .note("both asleep (200 µs gap): tokio::net::UnixStream in a current-thread runtime, length-prefixed messages (4-byte length + payload, one write_all each), tokio BufReader; vs floor: over shm's async ring"),
    );
    awake_cases(out);
    out.push(
        Case::new(Group::Shm, "ring-blocking", thr, 8, "MemoryInterface blocking", blocking_thr_parent)
            .child(blocking_thr_child)
            .floor(id(Group::Shm, "ring", thr, 8))
            .capacity(cap)
            .note("write_blocking / read_blocking, one item a call"),
    );
    out.push(
        Case::new(Group::Shm, "ring-async", thr, 8, "MemoryInterface async", async_thr_parent)
            .child(async_thr_child)
            .floor(id(Group::Shm, "ring", thr, 8))
            .capacity(cap)
            .note("write_async / read_async in a tokio current-thread runtime, up to 64 items per runtime entry"),
    );
    out.push(
        Case::new(Group::Peers, "tokio-uds", thr, 8, "tokio Unix socket", tokio_thr_parent)
            .child(tokio_thr_child)
            .floor(id(Group::Shm, "ring-async", thr, 8))
            .note("tokio::net::UnixStream, length-prefixed messages, up to 64 items per runtime entry; vs floor: over shm's async ring"),
    );
}

/// The round trips back to back (the `-awake` cases; see the module
/// comment).
fn awake_cases(out: &mut Vec<Case>) {
    let rtt = Metric::RoundTrip;
    let cap = capacity_for(1);
    out.push(
        Case::new(Group::Shm, "ring-blocking-awake", rtt, 8, "MemoryInterface blocking", blocking_rtt_parent)
            .child(blocking_rtt_child)
            .floor(id(Group::Shm, "ring", rtt, 8))
            .capacity(cap)
            .param(AWAKE)
            .note("back to back (no gap, both awake): write_blocking / read_blocking, one ring each way; vs floor: over the non-blocking ring's round trip"),
    );
    out.push(
        Case::new(Group::Shm, "ring-async-awake", rtt, 8, "MemoryInterface async", async_rtt_parent)
            .child(async_rtt_child)
            .floor(id(Group::Shm, "ring-blocking-awake", rtt, 8))
            .capacity(cap)
            .param(CURRENT | AWAKE)
            .note("back to back (no gap, both awake): write_async / read_async in a tokio current-thread runtime in each process, one ring each way; vs floor: over the blocking forms back to back"),
    );
    out.push(
        Case::new(Group::Peers, "tokio-uds-awake", rtt, 8, "tokio Unix socket", tokio_rtt_parent)
            .child(tokio_rtt_child)
            .floor(id(Group::Shm, "ring-async-awake", rtt, 8))
            .param(AWAKE)
            .note("back to back (no gap): tokio::net::UnixStream in a current-thread runtime, as tokio-uds; vs floor: over shm's async ring back to back"),
    );
    out.push(
        Case::new(Group::Shm, "int-wait-changed-awake", rtt, 8, "SharedInt wait_changed", int_parent)
            .child(int_child)
            .floor(id(Group::Shm, "shared-int", rtt, 8))
            .param(INT_BLOCKING | AWAKE)
            .note("back to back (no gap, both awake): write, then wait_changed on the other SharedInt's version; vs floor: over the SharedInt ping-pong that polls read()"),
    );
    out.push(
        Case::new(Group::Shm, "int-changed-async-awake", rtt, 8, "SharedInt changed().await", int_parent)
            .child(int_child)
            .floor(id(Group::Shm, "int-wait-changed-awake", rtt, 8))
            .param(INT_ASYNC | AWAKE)
            .note("back to back (no gap, both awake): write, then changed(since).await in a tokio current-thread runtime; vs floor: over wait_changed back to back"),
    );
}

/// A runtime for case parameter `param`.
fn runtime(param: usize) -> Result<Rc<Runtime>> {
    if param & MULTI != 0 {
        Ok(Rc::new(tokio::runtime::Builder::new_multi_thread().enable_all().build()?))
    } else {
        current_thread()
    }
}

/// The ping-pong with both sides asleep, over the ready child's echo.
fn run_asleep<T: Tx, R: Rx>(
    ctx: &Ctx<'_>,
    ctl: &Control,
    child: &mut ChildGuard,
    tx: &mut T,
    rx: &mut R,
) -> Result<Measure> {
    child.wait_ready(ctl)?;
    let mut watch = Watch::new(child.child().id(), ctl);
    // A quarter of the pass budget: the gaps are not counted in the time
    // the count is calibrated to, and at least 1,000 round trips are made.
    let plan = Plan { pass_time: ctx.plan.pass_time / 4, ..ctx.plan };
    let mut seq = 1;
    measure::latency(&plan, |n, hist| ping_asleep(tx, rx, &mut watch, &mut seq, n, GAP, hist))
}

/// The child's echo, looking at the stop word on every turn (its receive
/// sleeps at most a slice before it returns empty).
fn echo_asleep<T: Tx, R: Rx>(ctx: &ChildCtx<'_>, tx: &mut T, rx: &mut R) -> Result<()> {
    ctx.ctl.ready();
    super::ended(echo_with(tx, rx, &mut ChildWatch::new(&ctx.ctl).every_turn()))
}

fn futex_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let shm = Rc::new(RawShm::create(&unique_name("futex"), FUTEX_WORDS * 8)?);
    let (mut tx, mut rx) = (FutexTx(FutexWord::new(&shm, 0)), FutexRx(FutexWord::new(&shm, 512)));
    let mut child = ctx.spawn(&ctl, &args([("--seg", shm.name().to_owned())]), Stdio3::default())?;
    let m = run_asleep(ctx, &ctl, &mut child, &mut tx, &mut rx)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn futex_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let shm = Rc::new(RawShm::open(ctx.arg("--seg")?, FUTEX_WORDS * 8)?);
    echo_asleep(ctx, &mut FutexTx(FutexWord::new(&shm, 512)), &mut FutexRx(FutexWord::new(&shm, 0)))
}

/// The producer end of an 8 B ring.
type Tx8 = MemoryInterface<[u64; 1], Producer>;
/// The consumer end of an 8 B ring.
type Rx8 = MemoryInterface<[u64; 1], Consumer>;

/// The two rings of a ping-pong, made by the parent, and the child's
/// arguments.
type Rings = (Tx8, Rx8, Vec<String>);

fn rings(cap: usize) -> Result<Rings> {
    let a2b = MemoryInterface::<[u64; 1], Producer>::create_named(&unique_name("ring"), cap)?;
    let b2a = MemoryInterface::<[u64; 1], Consumer>::create_named(&unique_name("ring"), cap)?;
    let handles = args([("--a2b", a2b.handle().to_string()), ("--b2a", b2a.handle().to_string())]);
    Ok((a2b, b2a, handles))
}

/// The child's ends of [`rings`]: the consumer of a2b, the producer of b2a.
fn child_rings(ctx: &ChildCtx<'_>) -> Result<(Rx8, Tx8)> {
    let rx = MemoryInterface::<[u64; 1], Consumer>::load_memorybuf(&ctx.handle("--a2b")?)?;
    let tx = MemoryInterface::<[u64; 1], Producer>::load_memorybuf(&ctx.handle("--b2a")?)?;
    Ok((rx, tx))
}

/// Runs the asleep ping-pong (back to back if the case's parameter has
/// [`AWAKE`]), then stops the child: our ends are dropped before waiting
/// for it (its receive ends with `Closed` or the end of the stream).
fn ping_then_stop<T: Tx, R: Rx>(
    ctx: &Ctx<'_>,
    ctl: &Control,
    args: &[String],
    stdio: Stdio3,
    mut tx: T,
    mut rx: R,
) -> Result<Measure> {
    let mut child = ctx.spawn(ctl, args, stdio)?;
    let m = if ctx.case.param & AWAKE != 0 {
        ctx.ping_pong(ctl, &mut child, &mut tx, &mut rx)?
    } else {
        run_asleep(ctx, ctl, &mut child, &mut tx, &mut rx)?
    };
    ctl.stop();
    drop((tx, rx));
    child.finish()?;
    Ok(m)
}

fn blocking_rtt_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let (a2b, b2a, handles) = rings(ctx.case.capacity)?;
    ping_then_stop(ctx, &ctl, &handles, Stdio3::default(), BlockingTx::new(a2b), BlockingRx(b2a))
}

fn blocking_rtt_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let (rx, tx) = child_rings(ctx)?;
    echo_asleep(ctx, &mut BlockingTx::new(tx), &mut BlockingRx(rx))
}

fn async_rtt_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let rt = runtime(ctx.case.param)?;
    let (a2b, b2a, handles) = rings(ctx.case.capacity)?;
    ping_then_stop(ctx, &ctl, &handles, Stdio3::default(), AsyncTx::new(a2b, Rc::clone(&rt)), AsyncRx::new(b2a, rt))
}

fn async_rtt_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let rt = runtime(ctx.case.param)?;
    let (rx, tx) = child_rings(ctx)?;
    echo_asleep(ctx, &mut AsyncTx::new(tx, Rc::clone(&rt)), &mut AsyncRx::new(rx, rt))
}

/// The waiting form of an int case (its `param`).
fn int_wait(param: usize) -> Result<IntWait> {
    Ok(if param & INT_ASYNC != 0 { IntWait::Async(current_thread()?) } else { IntWait::Blocking })
}

fn int_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let request = SharedInt::create_named(&unique_name("int"), 0)?;
    let reply = SharedInt::create_named(&unique_name("int"), 0)?;
    let handles = args([("--ping", request.handle().to_string()), ("--pong", reply.handle().to_string())]);
    let (mut tx, mut rx) = (IntTx(request), IntRx::new(reply, int_wait(ctx.case.param)?));
    let mut child = ctx.spawn(&ctl, &handles, Stdio3::default())?;
    let m = if ctx.case.param & AWAKE != 0 {
        ctx.ping_pong(&ctl, &mut child, &mut tx, &mut rx)?
    } else {
        run_asleep(ctx, &ctl, &mut child, &mut tx, &mut rx)?
    };
    ctl.stop();
    // Wakes the child, which takes this value as the stop.
    tx.0.write(STOP.cast_signed());
    child.finish()?;
    Ok(m)
}

fn int_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let request = SharedInt::load_sharedobject(&ctx.handle("--ping")?)?;
    let reply = SharedInt::load_sharedobject(&ctx.handle("--pong")?)?;
    let mut rx = IntRx::new(request, int_wait(ctx.case.param)?);
    echo_asleep(ctx, &mut IntTx(reply), &mut rx)
}

/// The child's end of the socket pair: its stdin.
fn child_socket() -> Result<UnixStream> {
    Ok(UnixStream::from(std::io::stdin().as_fd().try_clone_to_owned()?))
}

/// A socket pair: ours, and the child's as its stdin.
fn socket_pair() -> Result<(UnixStream, Stdio3)> {
    let (ours, theirs) = UnixStream::pair()?;
    Ok((ours, Stdio3 { stdin: Stdio::from(OwnedFd::from(theirs)), stdout: Stdio::null() }))
}

fn tokio_rtt_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let rt = current_thread()?;
    let (ours, stdio) = socket_pair()?;
    let (input, output) = tokio_halves(ours, &rt)?;
    let (tx, rx) = (TokioTx::<1>::new(output, Rc::clone(&rt)), TokioRx::<1>::new(input, Rc::clone(&rt)));
    ping_then_stop(ctx, &ctl, &[], stdio, tx, rx)
}

fn tokio_rtt_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let rt = current_thread()?;
    let (input, output) = tokio_halves(child_socket()?, &rt)?;
    echo_asleep(ctx, &mut TokioTx::<1>::new(output, Rc::clone(&rt)), &mut TokioRx::<1>::new(input, rt))
}

/// Items per call of the async streams.
const ASYNC_BATCH: u64 = 64;

/// Runs a stream into `rx` from the child, then stops it.
fn stream_then_stop<R: Rx>(
    ctx: &Ctx<'_>,
    ctl: &Control,
    args: &[String],
    stdio: Stdio3,
    mut rx: R,
    batch: u64,
) -> Result<Measure> {
    let mut child = ctx.spawn(ctl, args, stdio)?;
    let m = ctx.stream(ctl, &mut child, &mut rx, batch)?;
    ctl.stop();
    drop(rx);
    child.finish()?;
    Ok(m)
}

fn stream_ring(ctx: &Ctx<'_>) -> Result<(Rx8, Vec<String>)> {
    let ring = MemoryInterface::<[u64; 1], Consumer>::create_named(&unique_name("ring"), ctx.case.capacity)?;
    let handle = args([("--ring", ring.handle().to_string())]);
    Ok((ring, handle))
}

fn child_producer(ctx: &ChildCtx<'_>) -> Result<MemoryInterface<[u64; 1], Producer>> {
    Ok(MemoryInterface::<[u64; 1], Producer>::load_memorybuf(&ctx.handle("--ring")?)?)
}

fn blocking_thr_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let (ring, handle) = stream_ring(ctx)?;
    stream_then_stop(ctx, &ctl, &handle, Stdio3::default(), BlockingRx(ring), 1)
}

fn blocking_thr_child(ctx: &ChildCtx<'_>) -> Result<()> {
    ctx.produce(&mut BlockingTx::new(child_producer(ctx)?), 1)
}

fn async_thr_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let (ring, handle) = stream_ring(ctx)?;
    stream_then_stop(ctx, &ctl, &handle, Stdio3::default(), AsyncRx::new(ring, current_thread()?), ASYNC_BATCH)
}

fn async_thr_child(ctx: &ChildCtx<'_>) -> Result<()> {
    ctx.produce(&mut AsyncTx::new(child_producer(ctx)?, current_thread()?), ASYNC_BATCH)
}

fn tokio_thr_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let rt = current_thread()?;
    let (ours, stdio) = socket_pair()?;
    let (input, _output) = tokio_halves(ours, &rt)?;
    stream_then_stop(ctx, &ctl, &[], stdio, TokioRx::<1>::new(input, Rc::clone(&rt)), ASYNC_BATCH)
}

fn tokio_thr_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let rt = current_thread()?;
    let (_input, output) = tokio_halves(child_socket()?, &rt)?;
    ctx.produce(&mut TokioTx::<1>::new(output, rt), ASYNC_BATCH)
}
