//! The peers (feature `peers`): iceoryx2 publish/subscribe (copy and
//! loan), the hand ring over the `shared_memory` crate, a Unix domain
//! socket and a pair of pipes, with the same payloads and checks.

use super::{Case, ChildCtx, Ctx, Group, Metric, args, capacity_for};
use crate::Result;
use crate::hand::{self, HandRx, HandTx};
use crate::link::{Rx, Tx};
use crate::measure::Measure;
use crate::peers::{
    IoxLoanRx, IoxLoanTx, IoxRx, IoxSetup, IoxTx, StreamRx, StreamTx, iox2_node, iox2_publisher, iox2_subscriber,
    shmem_create, shmem_open,
};
use crate::proc::{Control, Stdio3};
use crate::raw::unique_name;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Stdio;

/// iceoryx2 round trips: set up as its own benchmark does.
const RTT: IoxSetup = IoxSetup::RoundTrip;

pub(super) fn cases(out: &mut Vec<Case>) {
    sized::<1>(out);
    sized::<128>(out);
    sized::<8192>(out);
}

/// Which peer a case drives.
#[derive(Clone, Copy)]
enum Peer {
    IoxCopy,
    IoxLoan,
    Shmem,
    Uds,
    Pipe,
}

const PEERS: [(Peer, &str, &str, &str); 5] = [
    (
        Peer::IoxCopy,
        "iceoryx2-copy",
        "iceoryx2 copy",
        "publish/subscribe, send_copy, and the subscriber copies the payload out; round trips set up as iceoryx2's own benchmark (buffer 1, history 0, safe overflow)",
    ),
    (
        Peer::IoxLoan,
        "iceoryx2-loan",
        "iceoryx2 loan",
        "publish/subscribe, loan_uninit and only the 3 stamp words written in place, read in place (bytes/s count the nominal payload); round trips set up as iceoryx2's own benchmark",
    ),
    (Peer::Shmem, "shared_memory-ring", "shared_memory ring", "the hand ring in a `shared_memory` 0.12 mapping"),
    (Peer::Uds, "uds", "Unix socket", "std UnixStream pair, blocking; one write per item, 256 KiB read buffer"),
    (Peer::Pipe, "pipe", "pipe", "two pipes, blocking; one write per item, 256 KiB read buffer"),
];

fn sized<const N: usize>(out: &mut Vec<Case>) {
    let bytes = N * 8;
    for (i, (_, slug, transport, note)) in PEERS.into_iter().enumerate() {
        for metric in [Metric::RoundTrip, Metric::Throughput] {
            let (parent, child): (super::ParentFn, super::ChildFn) = match metric {
                Metric::RoundTrip => (rtt_parent::<N>, rtt_child::<N>),
                _ => (thr_parent::<N>, thr_child::<N>),
            };
            out.push(
                Case::new(Group::Peers, slug, metric, bytes, transport, parent)
                    .child(child)
                    .floor(super::hand_floor(metric, bytes))
                    .capacity(capacity_for(N))
                    .param(i)
                    .note(note),
            );
        }
    }
}

fn peer(case: &Case) -> Peer {
    PEERS[case.param].0
}

/// The child's end of a pair of byte streams it got as stdin/stdout.
fn child_streams() -> Result<(File, File)> {
    let input = File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let output = File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    Ok((input, output))
}

fn rtt_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let cap = ctx.case.capacity;
    let ctl = Control::create()?;
    let pid = std::process::id();
    match peer(ctx.case) {
        Peer::IoxCopy | Peer::IoxLoan => {
            let node = iox2_node(pid)?;
            let base = unique_name("svc");
            let names = args([("--svc", base.clone())]);
            let copy = matches!(peer(ctx.case), Peer::IoxCopy);
            let m = if copy {
                let tx = IoxTx::<N>::new(iox2_publisher(&node, &format!("{base}/a2b"), RTT)?);
                let rx = IoxRx::<N>::new(iox2_subscriber(&node, &format!("{base}/b2a"), RTT)?);
                run_rtt(ctx, &ctl, &names, Stdio3::default(), tx, rx)?
            } else {
                let tx = IoxLoanTx::<N>(iox2_publisher(&node, &format!("{base}/a2b"), RTT)?);
                let rx = IoxLoanRx::<N>(iox2_subscriber(&node, &format!("{base}/b2a"), RTT)?);
                run_rtt(ctx, &ctl, &names, Stdio3::default(), tx, rx)?
            };
            Ok(m)
        }
        Peer::Shmem => {
            let len = hand::bytes::<N, false>(cap);
            let (a2b, b2a) = (unique_name("shmem"), unique_name("shmem"));
            let names = args([("--a2b", a2b.clone()), ("--b2a", b2a.clone())]);
            let tx = HandTx::<_, N>::new(shmem_create(&a2b, len)?, cap);
            let rx = HandRx::<_, N>::new(shmem_create(&b2a, len)?, cap);
            run_rtt(ctx, &ctl, &names, Stdio3::default(), tx, rx)
        }
        Peer::Uds => {
            let (ours, theirs) = UnixStream::pair()?;
            let stdio = Stdio3 { stdin: Stdio::from(OwnedFd::from(theirs)), stdout: Stdio::null() };
            let tx = StreamTx::<_, N>::new(ours.try_clone()?);
            run_rtt(ctx, &ctl, &[], stdio, tx, StreamRx::<_, N>::new(ours))
        }
        Peer::Pipe => {
            let (from_parent, to_child) = std::io::pipe()?;
            let (from_child, to_parent) = std::io::pipe()?;
            let stdio = Stdio3 { stdin: Stdio::from(from_parent), stdout: Stdio::from(to_parent) };
            run_rtt(ctx, &ctl, &[], stdio, StreamTx::<_, N>::new(to_child), StreamRx::<_, N>::new(from_child))
        }
    }
}

/// Spawns the child, runs the ping-pong, then stops the child. `tx` and
/// `rx` are dropped before waiting for it: a stream peer blocked in a read
/// ends when our ends close.
fn run_rtt<T: Tx, R: Rx>(
    ctx: &Ctx<'_>,
    ctl: &Control,
    args: &[String],
    stdio: Stdio3,
    mut tx: T,
    mut rx: R,
) -> Result<Measure> {
    let mut child = ctx.spawn(ctl, args, stdio)?;
    let m = ctx.ping_pong(ctl, &mut child, &mut tx, &mut rx)?;
    ctl.stop();
    drop((tx, rx));
    child.finish()?;
    Ok(m)
}

fn rtt_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let cap = ctx.case.capacity;
    match peer(ctx.case) {
        Peer::IoxCopy => {
            let node = iox2_node(ctx.parent)?;
            let base = ctx.arg("--svc")?;
            let mut rx = IoxRx::<N>::new(iox2_subscriber(&node, &format!("{base}/a2b"), RTT)?);
            let mut tx = IoxTx::<N>::new(iox2_publisher(&node, &format!("{base}/b2a"), RTT)?);
            ctx.echo(&mut tx, &mut rx)
        }
        Peer::IoxLoan => {
            let node = iox2_node(ctx.parent)?;
            let base = ctx.arg("--svc")?;
            let mut rx = IoxLoanRx::<N>(iox2_subscriber(&node, &format!("{base}/a2b"), RTT)?);
            let mut tx = IoxLoanTx::<N>(iox2_publisher(&node, &format!("{base}/b2a"), RTT)?);
            ctx.echo(&mut tx, &mut rx)
        }
        Peer::Shmem => {
            let mut rx = HandRx::<_, N>::new(shmem_open(ctx.arg("--a2b")?)?, cap);
            let mut tx = HandTx::<_, N>::new(shmem_open(ctx.arg("--b2a")?)?, cap);
            ctx.echo(&mut tx, &mut rx)
        }
        Peer::Uds => {
            let ours = UnixStream::from(std::io::stdin().as_fd().try_clone_to_owned()?);
            let mut tx = StreamTx::<_, N>::new(ours.try_clone()?);
            ctx.echo(&mut tx, &mut StreamRx::<_, N>::new(ours))
        }
        Peer::Pipe => {
            let (input, output) = child_streams()?;
            ctx.echo(&mut StreamTx::<_, N>::new(output), &mut StreamRx::<_, N>::new(input))
        }
    }
}

fn thr_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let cap = ctx.case.capacity;
    let ctl = Control::create()?;
    match peer(ctx.case) {
        Peer::IoxCopy | Peer::IoxLoan => {
            let node = iox2_node(std::process::id())?;
            let base = unique_name("svc");
            let names = args([("--svc", base.clone())]);
            if matches!(peer(ctx.case), Peer::IoxCopy) {
                run_thr(
                    ctx,
                    &ctl,
                    &names,
                    Stdio3::default(),
                    &mut IoxRx::<N>::new(iox2_subscriber(&node, &base, IoxSetup::Stream(cap))?),
                )
            } else {
                run_thr(
                    ctx,
                    &ctl,
                    &names,
                    Stdio3::default(),
                    &mut IoxLoanRx::<N>(iox2_subscriber(&node, &base, IoxSetup::Stream(cap))?),
                )
            }
        }
        Peer::Shmem => {
            let name = unique_name("shmem");
            let mut rx = HandRx::<_, N>::new(shmem_create(&name, hand::bytes::<N, false>(cap))?, cap);
            run_thr(ctx, &ctl, &args([("--ring", name)]), Stdio3::default(), &mut rx)
        }
        Peer::Uds => {
            let (ours, theirs) = UnixStream::pair()?;
            let stdio = Stdio3 { stdin: Stdio::from(OwnedFd::from(theirs)), stdout: Stdio::null() };
            run_thr(ctx, &ctl, &[], stdio, &mut StreamRx::<_, N>::new(ours))
        }
        Peer::Pipe => {
            let (from_child, to_parent) = std::io::pipe()?;
            let stdio = Stdio3 { stdin: Stdio::null(), stdout: Stdio::from(to_parent) };
            run_thr(ctx, &ctl, &[], stdio, &mut StreamRx::<_, N>::new(from_child))
        }
    }
}

fn run_thr<R: Rx>(ctx: &Ctx<'_>, ctl: &Control, args: &[String], stdio: Stdio3, rx: &mut R) -> Result<Measure> {
    let mut child = ctx.spawn(ctl, args, stdio)?;
    let m = ctx.stream(ctl, &mut child, rx, 1)?;
    ctl.stop();
    // The producer spins on the control block, not in a write: it sees the
    // stop at once.
    child.finish()?;
    Ok(m)
}

fn thr_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let cap = ctx.case.capacity;
    match peer(ctx.case) {
        Peer::IoxCopy => {
            let node = iox2_node(ctx.parent)?;
            ctx.produce(&mut IoxTx::<N>::new(iox2_publisher(&node, ctx.arg("--svc")?, IoxSetup::Stream(cap))?), 1)
        }
        Peer::IoxLoan => {
            let node = iox2_node(ctx.parent)?;
            ctx.produce(&mut IoxLoanTx::<N>(iox2_publisher(&node, ctx.arg("--svc")?, IoxSetup::Stream(cap))?), 1)
        }
        Peer::Shmem => {
            let mut tx = HandTx::<_, N>::new(shmem_open(ctx.arg("--ring")?)?, cap);
            ctx.produce(&mut tx, 1)
        }
        Peer::Uds => {
            let ours = UnixStream::from(std::io::stdin().as_fd().try_clone_to_owned()?);
            ctx.produce(&mut StreamTx::<_, N>::new(ours), 1)
        }
        Peer::Pipe => {
            let output = File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
            ctx.produce(&mut StreamTx::<_, N>::new(output), 1)
        }
    }
}
