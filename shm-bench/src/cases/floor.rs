//! The floor: raw `AtomicU64` ping-pong in a bare mapping, the hand ring
//! (`hand.rs`) in bare mappings, and memcpy bandwidth.

use super::{Case, ChildCtx, Ctx, Group, Metric, args, capacity_for};
use crate::Result;
use crate::hand::{self, HandRx, HandTx};
use crate::links::{RawWord, WordRx, WordTx};
use crate::measure::{self, Measure};
use crate::proc::{Control, Stdio3, Watch};
use crate::raw::{RawShm, unique_name};
use crate::selfcheck;
use shm_runtime::{Consumer, MemoryInterface, Producer, SharedObject};
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
    out.push(
        Case::new(Group::Floor, "self-check", Metric::Throughput, 8, "standalone loop", selfcheck_parent)
            .child(selfcheck_child)
            .capacity(selfcheck::CAPACITY)
            .note("a standalone two-process SPSC loop of u64 (selfcheck.rs), no driver: the hand ring's 8 B throughput must be within 15% of it"),
    );
    for (slug, label, array) in [
        ("ring-standalone", "MemoryInterface<u64>, standalone loop", 0),
        ("ring-standalone-array", "MemoryInterface<[u64; 1]>, standalone loop", 1),
    ] {
        out.push(
            Case::new(Group::Shm, slug, Metric::Throughput, 8, label, selfcheck_ring_parent)
                .child(selfcheck_ring_child)
                .capacity(selfcheck::CAPACITY)
                .param(array)
                .floor(super::id(Group::Floor, "self-check", Metric::Throughput, 8))
                .note("the self-check's loop (selfcheck.rs) over a MemoryInterface, no driver: the ring against the hand ring in the same loop shape"),
        );
    }
    hand_cases::<1>(out);
    hand_cases::<128>(out);
    hand_cases::<8192>(out);
    out.push(
        Case::new(Group::Floor, "memcpy", Metric::Bandwidth, 64 * 1024, "memcpy from DRAM", memcpy_parent)
            .note("one process; 64 KiB blocks over 2 x 128 MiB (far above the caches): DRAM bandwidth"),
    );
    out.push(
        Case::new(Group::Floor, "memcpy-cached", Metric::Bandwidth, 64 * 1024, "memcpy in cache", memcpy_cached_parent)
            .note("one process; 64 KiB blocks from a 4 MiB set (the 64 KiB rings' 64 slots) into one 64 KiB buffer: in cache"),
    );
    out.push(
        Case::new(Group::Floor, "memcpy-one", Metric::Read, 64 * 1024, "memcpy of one value", memcpy_one_parent)
            .note("one process; the same 64 KiB block copied again and again into one buffer (both in cache): the floor of a large Shared<T> read"),
    );
}

fn hand_cases<const N: usize>(out: &mut Vec<Case>) {
    let cap = capacity_for(N);
    out.push(
        Case::new(Group::Floor, "hand-ring", Metric::RoundTrip, N * 8, "hand ring", hand_rtt_parent::<N, false>)
            .child(hand_rtt_child::<N, false>)
            .capacity(cap)
            .note("hand-written SPSC ring in a bare mapping: copy in, copy out, one ring each way"),
    );
    out.push(
        Case::new(Group::Floor, "hand-ring-seq", Metric::RoundTrip, N * 8, "hand ring, slot sequence", hand_rtt_parent::<N, true>)
            .child(hand_rtt_child::<N, true>)
            .capacity(cap)
            .note("the hand ring with a sequence word in each slot, which an empty ring's consumer looks at instead of the write position (hand.rs): one cache line each way instead of two"),
    );
    out.push(
        Case::new(Group::Floor, "hand-ring", Metric::Throughput, N * 8, "hand ring", hand_thr_parent::<N, false>)
            .child(hand_thr_child::<N, false>)
            .capacity(cap)
            .note("hand-written SPSC ring in a bare mapping: copy in, copy out, one item at a time"),
    );
    if N == 1 {
        out.push(
            Case::new(Group::Floor, "hand-ring-eager", Metric::Throughput, N * 8, "hand ring, eager", hand_thr_parent::<N, false>)
                .child(hand_thr_child::<N, false>)
                .capacity(cap)
                .eager()
                .note("the hand ring with a consumer that looks again at once at an empty ring (no poll gap): the item-by-item regime"),
        );
        out.push(
            Case::new(Group::Floor, "hand-ring-seq", Metric::Throughput, N * 8, "hand ring, slot sequence", hand_thr_parent::<N, true>)
                .child(hand_thr_child::<N, true>)
                .capacity(cap)
                .note("the slot-sequence hand ring (see its round trip) streaming one item at a time: a word a slot more, 4 items a line instead of 8"),
        );
    }
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

fn selfcheck_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let shm = RawShm::create(&unique_name("self"), selfcheck::WORDS * 8)?;
    let mut child = ctx.spawn(&ctl, &args([("--ring", shm.name().to_owned())]), Stdio3::default())?;
    child.wait_ready(&ctl)?;
    let mut watch = Watch::new(child.child().id(), &ctl);
    let words = shm.words(selfcheck::WORDS);
    let mut seq = 0;
    let m = measure::throughput(&ctx.plan, 8, super::chunk_for(selfcheck::CAPACITY), |n, chunks| {
        selfcheck::consume(words, &ctl, &mut watch, &mut seq, n, chunks)
    })?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn selfcheck_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let shm = RawShm::open(ctx.arg("--ring")?, selfcheck::WORDS * 8)?;
    ctx.ctl.ready();
    selfcheck::produce(shm.words(selfcheck::WORDS), &ctx.ctl);
    Ok(())
}

fn selfcheck_ring_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    if ctx.case.param == 0 { standalone_ring::<u64>(ctx) } else { standalone_ring::<[u64; 1]>(ctx) }
}

fn standalone_ring<T: selfcheck::Numbered>(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let mut rx = MemoryInterface::<T, Consumer>::create_named(&unique_name("self-ring"), selfcheck::CAPACITY)?;
    let mut child = ctx.spawn(&ctl, &args([("--ring", rx.handle().to_string())]), Stdio3::default())?;
    child.wait_ready(&ctl)?;
    let mut watch = Watch::new(child.child().id(), &ctl);
    let mut seq = 0;
    let m = measure::throughput(&ctx.plan, 8, super::chunk_for(selfcheck::CAPACITY), |n, chunks| {
        selfcheck::consume_ring(&mut rx, &ctl, &mut watch, &mut seq, n, chunks)
    })?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn selfcheck_ring_child(ctx: &ChildCtx<'_>) -> Result<()> {
    fn run<T: selfcheck::Numbered>(ctx: &ChildCtx<'_>) -> Result<()> {
        let mut tx = MemoryInterface::<T, Producer>::load_memorybuf(&ctx.handle("--ring")?)?;
        ctx.ctl.ready();
        selfcheck::produce_ring(&mut tx, &ctx.ctl);
        Ok(())
    }
    if ctx.case.param == 0 { run::<u64>(ctx) } else { run::<[u64; 1]>(ctx) }
}

/// Creates a bare mapping for a hand ring of `capacity` items of `N` words.
fn ring_shm<const N: usize, const SEQ: bool>(capacity: usize) -> Result<RawShm> {
    Ok(RawShm::create(&unique_name("hand"), hand::bytes::<N, SEQ>(capacity))?)
}

fn hand_rtt_parent<const N: usize, const SEQ: bool>(ctx: &Ctx<'_>) -> Result<Measure> {
    let cap = ctx.case.capacity;
    let ctl = Control::create()?;
    let (a2b, b2a) = (ring_shm::<N, SEQ>(cap)?, ring_shm::<N, SEQ>(cap)?);
    let names = args([("--a2b", a2b.name().to_owned()), ("--b2a", b2a.name().to_owned())]);
    let (mut tx, mut rx) = (HandTx::<_, N, SEQ>::new(a2b, cap), HandRx::<_, N, SEQ>::new(b2a, cap));
    let mut child = ctx.spawn(&ctl, &names, Stdio3::default())?;
    let m = ctx.ping_pong(&ctl, &mut child, &mut tx, &mut rx)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn hand_rtt_child<const N: usize, const SEQ: bool>(ctx: &ChildCtx<'_>) -> Result<()> {
    let (cap, len) = (ctx.case.capacity, hand::bytes::<N, SEQ>(ctx.case.capacity));
    let mut rx = HandRx::<_, N, SEQ>::new(RawShm::open(ctx.arg("--a2b")?, len)?, cap);
    let mut tx = HandTx::<_, N, SEQ>::new(RawShm::open(ctx.arg("--b2a")?, len)?, cap);
    ctx.echo(&mut tx, &mut rx)
}

pub(super) fn hand_thr_parent<const N: usize, const SEQ: bool>(ctx: &Ctx<'_>) -> Result<Measure> {
    let cap = ctx.case.capacity;
    let ctl = Control::create()?;
    let shm = ring_shm::<N, SEQ>(cap)?;
    let name = args([("--ring", shm.name().to_owned())]);
    let mut rx = HandRx::<_, N, SEQ>::new(shm, cap);
    let mut child = ctx.spawn(&ctl, &name, Stdio3::default())?;
    let m = ctx.stream(&ctl, &mut child, &mut rx, 1)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

pub(super) fn hand_thr_child<const N: usize, const SEQ: bool>(ctx: &ChildCtx<'_>) -> Result<()> {
    let (cap, len) = (ctx.case.capacity, hand::bytes::<N, SEQ>(ctx.case.capacity));
    let mut tx = HandTx::<_, N, SEQ>::new(RawShm::open(ctx.arg("--ring")?, len)?, cap);
    ctx.produce(&mut tx, 1)
}

/// Block size of the memcpy cases.
const BLOCK: usize = 64 * 1024;

/// memcpy from DRAM: 64 KiB blocks over 2 x 128 MiB, far above any
/// last-level cache of today (smoke: 2 x 8 MiB).
fn memcpy_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let size: usize = if ctx.plan.smoke { 8 << 20 } else { 128 << 20 };
    memcpy_blocks(ctx, size / BLOCK, size / BLOCK)
}

/// memcpy in cache: 64 KiB blocks from a set of 64 (4 MiB, the slots of
/// the 64 KiB rings) into one 64 KiB buffer, as a ring's consumer copies
/// out of its slots into one item.
fn memcpy_cached_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    memcpy_blocks(ctx, capacity_for(BLOCK / 8), 1)
}

/// One `BLOCK`-byte memcpy at a time, always the same block into the
/// same buffer, timed as a read is: what reading a large value out of a
/// cell that stays in cache costs at the least.
fn memcpy_one_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let words = BLOCK / 8;
    // Destination half a page past the source's page offset, as in
    // `memcpy_blocks` (the best the copy does).
    let gap = 2048 / 8;
    let mut buffer = vec![7u64; words + gap + words];
    let (src, rest) = buffer.split_at_mut(words);
    let dst = &mut rest[gap..];
    measure::latency(&ctx.plan, |n, mut hist| {
        let start = Instant::now();
        for _ in 0..n {
            let t0 = hist.is_some().then(Instant::now);
            std::hint::black_box(&mut *dst).copy_from_slice(std::hint::black_box(&*src));
            if let (Some(t0), Some(h)) = (t0, hist.as_deref_mut()) {
                h.saturating_record(crate::link::nanos(t0.elapsed()));
            }
            if dst[0] != 7 || dst[words - 1] != 7 {
                return Err("memcpy check failed".into());
            }
        }
        Ok(start.elapsed())
    })
}

/// Copies `BLOCK`-byte blocks, the next of `src_blocks` into the next of
/// `dst_blocks` each time, and checks the last block copied.
fn memcpy_blocks(ctx: &Ctx<'_>, src_blocks: usize, dst_blocks: usize) -> Result<Measure> {
    let words = BLOCK / 8;
    // Source and destination in one allocation, the destination starting
    // half a page (2 KiB) past a page boundary relative to the source:
    // `memcpy` of large blocks (`rep movsb` on this kind of CPU) slows down
    // up to twentyfold when source and destination share their offset in
    // a page, and separate allocations land wherever the allocator's
    // history puts them (measured: 36 GB/s in one round, 2.5 GB/s in the
    // next). The floor is the best the copy can do.
    let gap = 2048 / 8;
    let mut buffer = vec![u64::MAX; src_blocks * words + gap + dst_blocks * words];
    let (src, rest) = buffer.split_at_mut(src_blocks * words);
    let dst = &mut rest[gap..];
    // Every block starts with its own index, so a copy can be checked.
    for (i, block) in src.chunks_mut(words).enumerate() {
        block.fill(i as u64);
    }
    let (mut from, mut to) = (0, 0);
    // Timed in chunks of 64 blocks (4 MiB), as the streams are.
    measure::throughput(&ctx.plan, BLOCK, 64, |n, chunks| {
        let start = Instant::now();
        let mut mark = start;
        for i in 1..=n {
            dst[to * words..(to + 1) * words].copy_from_slice(&src[from * words..(from + 1) * words]);
            from = (from + 1) % src_blocks;
            to = (to + 1) % dst_blocks;
            if i % chunks.items == 0 {
                let now = Instant::now();
                chunks.record(now - mark, chunks.items);
                mark = now;
            }
        }
        let elapsed = start.elapsed();
        let (last, at) = ((from + src_blocks - 1) % src_blocks, (to + dst_blocks - 1) % dst_blocks);
        let (first_word, last_word) = (dst[at * words], dst[(at + 1) * words - 1]);
        if first_word != last as u64 || last_word != last as u64 {
            return Err(format!("memcpy check failed: block {last} holds {first_word}..{last_word}").into());
        }
        Ok(elapsed.max(Duration::from_nanos(1)))
    })
}
