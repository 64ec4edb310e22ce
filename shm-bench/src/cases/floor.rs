//! The floor: raw `AtomicU64` ping-pong in a bare mapping, the hand ring
//! (`hand.rs`) in bare mappings, and memcpy bandwidth.

use super::{Case, ChildCtx, Ctx, Group, Metric, args, capacity_for};
use crate::Result;
use crate::hand::{self, HandRx, HandTx};
use crate::links::{RawWord, WordRx, WordTx};
use crate::measure::{self, Measure};
use crate::proc::{Control, Stdio3};
use crate::raw::{RawShm, unique_name};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Word of the ping (parent to child).
const PING: usize = 0;
/// Word of the pong (child to parent): on another page, as two `SharedInt`
/// segments are.
const PONG: usize = 512;
/// Bytes of the ping-pong mapping.
const WORDS_LEN: usize = 8192;

pub(super) fn cases(out: &mut Vec<Case>) {
    out.push(
        Case::new(Group::Floor, "atomic", Metric::RoundTrip, 8, "atomic word", atomic_parent)
            .child(atomic_child)
            .note("two AtomicU64 on separate pages of a bare shm_open mapping, Acquire/Release"),
    );
    hand_cases::<1>(out);
    hand_cases::<128>(out);
    hand_cases::<8192>(out);
    out.push(
        Case::new(Group::Floor, "memcpy", Metric::Bandwidth, 64 * 1024, "memcpy", memcpy_parent)
            .note("one process; 64 KiB blocks over 2 x 128 MiB (far above the caches)"),
    );
}

fn hand_cases<const N: usize>(out: &mut Vec<Case>) {
    let cap = capacity_for(N);
    out.push(
        Case::new(Group::Floor, "hand-ring", Metric::RoundTrip, N * 8, "hand ring", hand_rtt_parent::<N>)
            .child(hand_rtt_child::<N>)
            .capacity(cap)
            .note("hand-written SPSC ring in a bare mapping: copy in, copy out, one ring each way"),
    );
    out.push(
        Case::new(Group::Floor, "hand-ring", Metric::Throughput, N * 8, "hand ring", hand_thr_parent::<N>)
            .child(hand_thr_child::<N>)
            .capacity(cap)
            .note("hand-written SPSC ring in a bare mapping: copy in, copy out, one item at a time"),
    );
}

fn atomic_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let shm = Rc::new(RawShm::create(&unique_name("atomic"), WORDS_LEN)?);
    let (mut tx, mut rx) = (WordTx(RawWord::new(&shm, PING)), WordRx(RawWord::new(&shm, PONG)));
    let mut child = ctx.spawn(&ctl, &args([("--seg", shm.name().to_owned())]), Stdio3::default())?;
    let m = ctx.ping_pong(&ctl, &mut child, &mut tx, &mut rx)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn atomic_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let shm = Rc::new(RawShm::open(ctx.arg("--seg")?, WORDS_LEN)?);
    ctx.echo(&mut WordTx(RawWord::new(&shm, PONG)), &mut WordRx(RawWord::new(&shm, PING)))
}

/// Creates a bare mapping for a hand ring of `capacity` items of `N` words.
fn ring_shm<const N: usize>(capacity: usize) -> Result<RawShm> {
    Ok(RawShm::create(&unique_name("hand"), hand::bytes::<N>(capacity))?)
}

fn hand_rtt_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let cap = ctx.case.capacity;
    let ctl = Control::create()?;
    let (a2b, b2a) = (ring_shm::<N>(cap)?, ring_shm::<N>(cap)?);
    let names = args([("--a2b", a2b.name().to_owned()), ("--b2a", b2a.name().to_owned())]);
    let (mut tx, mut rx) = (HandTx::<_, N>::new(a2b, cap), HandRx::<_, N>::new(b2a, cap));
    let mut child = ctx.spawn(&ctl, &names, Stdio3::default())?;
    let m = ctx.ping_pong(&ctl, &mut child, &mut tx, &mut rx)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn hand_rtt_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let (cap, len) = (ctx.case.capacity, hand::bytes::<N>(ctx.case.capacity));
    let mut rx = HandRx::<_, N>::new(RawShm::open(ctx.arg("--a2b")?, len)?, cap);
    let mut tx = HandTx::<_, N>::new(RawShm::open(ctx.arg("--b2a")?, len)?, cap);
    ctx.echo(&mut tx, &mut rx)
}

pub(super) fn hand_thr_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let cap = ctx.case.capacity;
    let ctl = Control::create()?;
    let shm = ring_shm::<N>(cap)?;
    let name = args([("--ring", shm.name().to_owned())]);
    let mut rx = HandRx::<_, N>::new(shm, cap);
    let mut child = ctx.spawn(&ctl, &name, Stdio3::default())?;
    let m = ctx.stream(&ctl, &mut child, &mut rx, 1)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

pub(super) fn hand_thr_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let (cap, len) = (ctx.case.capacity, hand::bytes::<N>(ctx.case.capacity));
    let mut tx = HandTx::<_, N>::new(RawShm::open(ctx.arg("--ring")?, len)?, cap);
    ctx.produce(&mut tx, 1)
}

/// Block size of the memcpy case.
const BLOCK: usize = 64 * 1024;

fn memcpy_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    // 2 x 128 MiB: far above any last-level cache of today (smoke: 2 x 8 MiB).
    let size: usize = if ctx.plan.smoke { 8 << 20 } else { 128 << 20 };
    let blocks = size / BLOCK;
    let words = BLOCK / 8;
    // Every block starts with its own index, so a copy can be checked.
    let mut src = vec![0u64; size / 8];
    for (i, block) in src.chunks_mut(words).enumerate() {
        block.fill(i as u64);
    }
    let mut dst = vec![u64::MAX; size / 8];
    let mut at = 0;
    measure::throughput(&ctx.plan, BLOCK, |n| {
        let start = Instant::now();
        for _ in 0..n {
            let range = at * words..(at + 1) * words;
            dst[range.clone()].copy_from_slice(&src[range]);
            at = (at + 1) % blocks;
        }
        let elapsed = start.elapsed();
        let last = (at + blocks - 1) % blocks;
        let (first_word, last_word) = (dst[last * words], dst[(last + 1) * words - 1]);
        if first_word != last as u64 || last_word != last as u64 {
            return Err(format!("memcpy check failed: block {last} holds {first_word}..{last_word}").into());
        }
        Ok(elapsed.max(Duration::from_nanos(1)))
    })
}
