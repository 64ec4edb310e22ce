//! One publisher, several subscriber processes: shm's `Broadcast` (and,
//! with the peers, iceoryx2 publish-subscribe with as many subscribers)
//! at 8 B and 64 KiB, with 1, 2 and 4 subscribers.
//!
//! Throughput with `s` subscribers: the parent publishes `n` items; every
//! subscriber (a child process each) receives and checks every one of
//! them; the pass ends when the slowest has all `n`. The figure is items
//! per second delivered to each subscriber (so bytes per second are what
//! each subscriber receives, not the sum over them): the publisher's rate
//! over chunks of eight ringfuls, which backpressure holds to the slowest
//! subscriber's pace (less than one ringful of slack per chunk), the
//! median chunk as in every stream case.
//!
//! Round trip with `s` subscribers: the parent publishes an item; each
//! subscriber echoes it back through a broadcast of its own (iceoryx2: a
//! service of its own) with the parent as its one subscriber; a round trip
//! ends when the parent has the echo from every subscriber.
//!
//! Processes: the parent on CPU 0, subscriber `i` on CPU `1 + i mod
//! (cores - 1)`. Where subscribers share a core (on a 2-core machine, 2 and
//! 4 of them on CPU 1), a subscriber with nothing to read yields the core
//! (`sched_yield`) instead of spinning, iceoryx2's as shm's: a spinning one
//! would hold the core for a whole time slice while another has items to
//! take. A subscriber with a core of its own spins the stream consumer's
//! poll gap before it looks again (`link::consume`, `measure::PollGap`).

use super::{Case, ChildCtx, Ctx, Group, Metric, args, capacity_for, chunk_for, id};
use crate::Result;
use crate::link::{FanIn, Rx, Tx, echo_with, ping, publish, subscribe};
use crate::links::{BroadcastRx, BroadcastTx, RingRx, RingTx};
use crate::measure::{self, Measure};
use crate::proc::{self, ChildGuard, ChildWatch, Control, Stdio3, Watch};
use crate::raw::unique_name;
use shm_runtime::{Broadcast, BroadcastConfig, Consumer, MemoryInterface, Policy, Producer, SharedObject, Subscriber};
use std::time::Duration;

/// Subscriber counts measured.
pub const SUBSCRIBERS: [usize; 3] = [1, 2, 4];

pub(super) fn cases(out: &mut Vec<Case>) {
    sized::<1>(out);
    sized::<8192>(out);
}

/// The slug of the shm broadcast case with `subs` subscribers.
pub fn slug(subs: usize) -> String {
    format!("broadcast-{subs}sub")
}

/// The slug of the iceoryx2 case with `subs` subscribers.
#[cfg(feature = "peers")]
pub fn iox_slug(subs: usize) -> String {
    format!("iceoryx2-fanout-{subs}sub")
}

fn transport(subs: usize) -> &'static str {
    match subs {
        1 => "Broadcast, 1 subscriber",
        2 => "Broadcast, 2 subscribers",
        _ => "Broadcast, 4 subscribers",
    }
}

const NOTE: &str = "Broadcast<[u64; N]> (Backpressure), publish / read one item at a time, `param` subscriber \
                    processes; throughput: items per second delivered to each subscriber, until the slowest has all; \
                    round trip: until every subscriber's echo is back";

fn sized<const N: usize>(out: &mut Vec<Case>) {
    let (cap, bytes) = (capacity_for(N), N * 8);
    let ring_pub = id(Group::Shm, "ring-published", Metric::Throughput, bytes);
    out.push(
        Case::new(Group::Shm, "ring-published", Metric::Throughput, bytes, "MemoryInterface (publisher-timed)", ring_parent::<N>)
            .child(ring_child::<N>)
            .floor(id(Group::Shm, "ring", Metric::Throughput, bytes))
            .capacity(cap)
            .param(1)
            .note("MemoryInterface through the fan-out driver (the parent produces and times, the child consumes and reports): the broadcast's 1-subscriber comparison"),
    );
    for subs in SUBSCRIBERS {
        out.push(
            Case::new(Group::Shm, &slug(subs), Metric::Throughput, bytes, transport(subs), thr_parent::<N>)
                .child(thr_child::<N>)
                .floor(ring_pub.clone())
                .capacity(cap)
                .param(subs)
                .note(NOTE),
        );
        out.push(
            Case::new(Group::Shm, &slug(subs), Metric::RoundTrip, bytes, transport(subs), rtt_parent::<N>)
                .child(rtt_child::<N>)
                .floor(id(Group::Shm, "ring", Metric::RoundTrip, bytes))
                .capacity(cap)
                .param(subs)
                .note(NOTE),
        );
    }
    #[cfg(feature = "peers")]
    iox::sized::<N>(out);
}

/// The subscribers of a case: their control blocks and processes.
struct Children {
    ctls: Vec<Control>,
    guards: Vec<ChildGuard>,
}

impl Children {
    /// Starts `subs` children of `ctx`'s case, child `i` with `args(i)`
    /// and `--index i`.
    fn spawn(ctx: &Ctx<'_>, subs: usize, args: impl Fn(usize) -> Vec<String>) -> Result<Self> {
        let ctls: Vec<Control> = (0..subs).map(|_| Control::create()).collect::<Result<_>>()?;
        let mut guards = Vec::new();
        for (i, ctl) in ctls.iter().enumerate() {
            let mut a = args(i);
            a.extend(["--index".to_owned(), i.to_string(), "--subscribers".to_owned(), subs.to_string()]);
            let gap = ctx.plan.poll_gap.for_stream(ctx.case.capacity, ctx.case.eager);
            a.extend(["--gap-ns".to_owned(), crate::link::nanos(gap).to_string()]);
            guards.push(ctx.spawn(ctl, &a, Stdio3::default())?);
        }
        for (guard, ctl) in guards.iter_mut().zip(&ctls) {
            guard.wait_ready(ctl)?;
        }
        Ok(Self { ctls, guards })
    }

    /// A watch on every child.
    fn watches(&mut self) -> Vec<Watch<'_>> {
        let pids: Vec<u32> = self.guards.iter_mut().map(|g| g.child().id()).collect();
        pids.into_iter().zip(&self.ctls).map(|(pid, ctl)| Watch::new(pid, ctl)).collect()
    }

    /// Stops every child and waits for it.
    fn finish(self) -> Result<()> {
        for ctl in &self.ctls {
            ctl.stop();
        }
        self.guards.into_iter().try_for_each(ChildGuard::finish)
    }
}

/// A subscriber child's place: re-pins child `i` to its own core where
/// the machine has cores to spare, and says whether it shares its core
/// with other subscribers (then it yields when idle) and how long it
/// spins before it looks again when it found nothing: the stream's poll
/// gap (`measure::PollGap`) on a core of its own, none when it yields.
fn placement(ctx: &ChildCtx<'_>) -> Result<(bool, Duration)> {
    let index: usize = ctx.arg("--index")?.parse()?;
    let subs: usize = ctx.arg("--subscribers")?.parse()?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let spare = cores.saturating_sub(1).max(1);
    if !ctx.args.iter().any(|a| a == "--no-pin") {
        proc::pin_to(1 + index % spare);
    }
    let shares = subs > spare;
    let gap = if shares { Duration::ZERO } else { Duration::from_nanos(ctx.arg("--gap-ns")?.parse()?) };
    Ok((shares, gap))
}

/// Parent side of a fan-out stream over `tx` to the ready `children`.
fn run_publish<T: Tx>(ctx: &Ctx<'_>, tx: &mut T, children: &mut Children) -> Result<Measure> {
    let chunk = chunk_for(ctx.case.capacity.max(1));
    let Children { ctls, guards } = children;
    let pids: Vec<u32> = guards.iter_mut().map(|g| g.child().id()).collect();
    let mut watches: Vec<Watch<'_>> =
        pids.into_iter().zip(ctls.iter()).map(|(pid, ctl)| Watch::new(pid, ctl)).collect();
    let mut seq = 1;
    measure::throughput(&ctx.plan, ctx.case.payload, chunk, |n, chunks| {
        publish(tx, ctls, &mut watches, &mut seq, n, 1, chunks)
    })
}

/// Parent side of a fan-out ping-pong.
fn run_ping<T: Tx, R: Rx>(ctx: &Ctx<'_>, tx: &mut T, rx: &mut R, children: &mut Children) -> Result<Measure> {
    // The driver watches one child; a stuck or dead other child stops the
    // echoes, so the first child's watch ends the case at its deadline.
    let mut watch = children.watches().swap_remove(0);
    let mut seq = 1;
    measure::latency(&ctx.plan, |n, hist| ping(tx, rx, &mut watch, &mut seq, n, hist))
}

/// The broadcast of a case: `capacity` slots, backpressure, `subs`
/// entries.
fn config(capacity: usize, subs: usize) -> BroadcastConfig {
    BroadcastConfig::new(capacity, Policy::Backpressure).max_subscribers(subs)
}

/// Waits (up to 10 s) until `subs` subscribers have joined `tx`.
fn await_subscribers<const N: usize>(tx: &Broadcast<[u64; N]>, subs: usize) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tx.subscriber_count() < subs {
        if std::time::Instant::now() > deadline {
            return Err(format!("only {} of {subs} subscribers joined", tx.subscriber_count()).into());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}

fn thr_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let subs = ctx.case.param;
    let tx = Broadcast::<[u64; N]>::create_named(&unique_name("bcast"), &config(ctx.case.capacity, subs))?;
    let handle = tx.handle().to_string();
    let mut children = Children::spawn(ctx, subs, |_| args([("--bcast", handle.clone())]))?;
    await_subscribers(&tx, subs)?;
    let m = run_publish(ctx, &mut BroadcastTx::new(tx), &mut children)?;
    children.finish()?;
    Ok(m)
}

fn thr_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let (yields, gap) = placement(ctx)?;
    let mut rx = BroadcastRx(Subscriber::<[u64; N]>::load_sharedobject(&ctx.handle("--bcast")?)?);
    ctx.ctl.ready();
    super::ended(subscribe(&mut rx, &ctx.ctl, &mut ChildWatch::new(&ctx.ctl).yielding(yields), gap))
}

fn rtt_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let subs = ctx.case.param;
    let tx = Broadcast::<[u64; N]>::create_named(&unique_name("bcast"), &config(ctx.case.capacity, subs))?;
    let handle = tx.handle().to_string();
    let replies: Vec<String> = (0..subs).map(|_| unique_name("echo")).collect();
    let mut children =
        Children::spawn(ctx, subs, |i| args([("--bcast", handle.clone()), ("--echo", replies[i].clone())]))?;
    await_subscribers(&tx, subs)?;
    let rxs = replies.iter().map(|name| Ok(BroadcastRx(Subscriber::<[u64; N]>::open(name)?))).collect::<Result<_>>()?;
    let m = run_ping(ctx, &mut BroadcastTx::new(tx), &mut FanIn::new(rxs), &mut children)?;
    children.finish()?;
    Ok(m)
}

fn rtt_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let (yields, _) = placement(ctx)?;
    let mut rx = BroadcastRx(Subscriber::<[u64; N]>::load_sharedobject(&ctx.handle("--bcast")?)?);
    let echo = Broadcast::<[u64; N]>::create_named(ctx.arg("--echo")?, &config(ctx.case.capacity, 1))?;
    let mut tx = BroadcastTx::new(echo);
    ctx.ctl.ready();
    super::ended(echo_with(&mut tx, &mut rx, &mut ChildWatch::new(&ctx.ctl).yielding(yields)))
}

fn ring_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let ring = MemoryInterface::<[u64; N], Producer>::create_named(&unique_name("ring"), ctx.case.capacity)?;
    let handle = ring.handle().to_string();
    let mut children = Children::spawn(ctx, 1, |_| args([("--ring", handle.clone())]))?;
    let m = run_publish(ctx, &mut RingTx::new(ring), &mut children)?;
    children.finish()?;
    Ok(m)
}

fn ring_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let (yields, gap) = placement(ctx)?;
    let mut rx = RingRx { ring: MemoryInterface::<[u64; N], Consumer>::load_memorybuf(&ctx.handle("--ring")?)? };
    ctx.ctl.ready();
    super::ended(subscribe(&mut rx, &ctx.ctl, &mut ChildWatch::new(&ctx.ctl).yielding(yields), gap))
}

/// iceoryx2 publish-subscribe with `s` subscribers (feature `peers`).
#[cfg(feature = "peers")]
mod iox {
    use super::{Case, ChildCtx, Children, Ctx, Group, Metric, SUBSCRIBERS, capacity_for, iox_slug, placement};
    use crate::Result;
    use crate::cases::args;
    use crate::link::{FanIn, echo_with, subscribe};
    use crate::measure::Measure;
    use crate::peers::{
        IoxFanTx, IoxRx, IoxSetup, IoxTx, iox2_node, iox2_publisher, iox2_subscriber, iox2_subscriber_of,
    };
    use crate::proc::ChildWatch;
    use crate::raw::unique_name;

    const NOTE: &str = "publish/subscribe with `param` subscriber processes, send_copy, each subscriber copies the \
                        payload out; throughput: subscriber buffer = ring capacity, history 0, no overflow, publisher \
                        RetryUntilDelivered (every subscriber gets every item); round trip as iceoryx2's own \
                        benchmark (buffer 1, history 0, safe overflow), each subscriber echoing on a service of its own";

    fn transport(subs: usize) -> &'static str {
        match subs {
            1 => "iceoryx2, 1 subscriber",
            2 => "iceoryx2, 2 subscribers",
            _ => "iceoryx2, 4 subscribers",
        }
    }

    pub(super) fn sized<const N: usize>(out: &mut Vec<Case>) {
        let (cap, bytes) = (capacity_for(N), N * 8);
        for subs in SUBSCRIBERS {
            for metric in [Metric::Throughput, Metric::RoundTrip] {
                let (parent, child): (crate::cases::ParentFn, crate::cases::ChildFn) = match metric {
                    Metric::Throughput => (thr_parent::<N>, thr_child::<N>),
                    _ => (rtt_parent::<N>, rtt_child::<N>),
                };
                out.push(
                    Case::new(Group::Peers, &iox_slug(subs), metric, bytes, transport(subs), parent)
                        .child(child)
                        .capacity(cap)
                        .param(subs)
                        .note(NOTE),
                );
            }
        }
    }

    fn thr_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
        let subs = ctx.case.param;
        let node = iox2_node(std::process::id())?;
        let base = unique_name("svc");
        let mut tx = IoxFanTx::<N>::new(&node, &base, IoxSetup::Stream(ctx.case.capacity), subs)?;
        let mut children = Children::spawn(ctx, subs, |_| args([("--svc", base.clone())]))?;
        tx.connect()?;
        let m = super::run_publish(ctx, &mut tx, &mut children)?;
        children.finish()?;
        Ok(m)
    }

    fn thr_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
        let (yields, gap) = placement(ctx)?;
        let subs: usize = ctx.arg("--subscribers")?.parse()?;
        let node = iox2_node(ctx.parent)?;
        let setup = IoxSetup::Stream(ctx.case.capacity);
        let mut rx = IoxRx::<N>::new(iox2_subscriber_of(&node, ctx.arg("--svc")?, setup, subs)?);
        ctx.ctl.ready();
        crate::cases::ended(subscribe(&mut rx, &ctx.ctl, &mut ChildWatch::new(&ctx.ctl).yielding(yields), gap))
    }

    fn rtt_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
        let subs = ctx.case.param;
        let node = iox2_node(std::process::id())?;
        let base = unique_name("svc");
        let mut tx = IoxFanTx::<N>::new(&node, &format!("{base}/a2b"), IoxSetup::RoundTrip, subs)?;
        let rxs = (0..subs)
            .map(|i| Ok(IoxRx::<N>::new(iox2_subscriber(&node, &format!("{base}/b2a-{i}"), IoxSetup::RoundTrip)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut children = Children::spawn(ctx, subs, |_| args([("--svc", base.clone())]))?;
        tx.connect()?;
        let m = super::run_ping(ctx, &mut tx, &mut FanIn::new(rxs), &mut children)?;
        children.finish()?;
        Ok(m)
    }

    fn rtt_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
        let (yields, _) = placement(ctx)?;
        let (index, subs): (usize, usize) = (ctx.arg("--index")?.parse()?, ctx.arg("--subscribers")?.parse()?);
        let node = iox2_node(ctx.parent)?;
        let base = ctx.arg("--svc")?;
        let mut rx = IoxRx::<N>::new(iox2_subscriber_of(&node, &format!("{base}/a2b"), IoxSetup::RoundTrip, subs)?);
        let mut tx = IoxTx::<N>::new(iox2_publisher(&node, &format!("{base}/b2a-{index}"), IoxSetup::RoundTrip)?);
        ctx.ctl.ready();
        crate::cases::ended(echo_with(&mut tx, &mut rx, &mut ChildWatch::new(&ctx.ctl).yielding(yields)))
    }
}
