//! shm's own cases: `SharedInt` and `Shared<T>` ping-pong, the
//! `MemoryInterface` ring (one item at a time, in batches, and in place),
//! the same ring typed at run time (`DynRing`),
//! the `ByteRing`, a `Shared<T>` reader under a busy writer, and the
//! scaling cases.

use super::{Case, ChildCtx, Ctx, Group, Metric, args, batch_for, capacity_for, id};
use crate::Result;
use crate::link::nanos;
use crate::links::{
    BatchRx, BatchTx, ByteRx, ByteTx, DynRingRx, DynRingTx, InPlaceRx, InPlaceTx, Msg64, RingRx, RingTx, StateRx,
    StateTx, WordRx, WordTx,
};
use crate::measure::{self, Measure};
use crate::proc::{ChildWatch, Control, Stdio3, Watch, is_stop};
use crate::raw::unique_name;
use shm_runtime::dynamic::{DynRing, ItemType};
use shm_runtime::{ByteRing, Consumer, MemoryInterface, Producer, Shared, SharedInt, SharedObject};
use std::time::{Duration, Instant};

pub(super) fn cases(out: &mut Vec<Case>) {
    let atomic = id(Group::Floor, "atomic", Metric::RoundTrip, 8);
    out.push(
        Case::new(Group::Shm, "shared-int", Metric::RoundTrip, 8, "SharedInt", int_parent)
            .child(int_child)
            .floor(atomic.clone())
            .note("two SharedInt (ping, pong), read/write"),
    );
    out.push(
        Case::new(Group::Shm, "shared-struct", Metric::RoundTrip, 64, "Shared<T>", struct_parent)
            .child(struct_child)
            .floor(atomic)
            .note("two Shared<Msg64> (derived 64-byte struct), write/read; floor: atomic word"),
    );
    ring_cases::<1>(out);
    ring_cases::<128>(out);
    ring_cases::<8192>(out);
    dyn_ring_cases::<1>(out);
    dyn_ring_cases::<128>(out);
    dyn_ring_cases::<8192>(out);
    in_place_cases::<1>(out);
    in_place_cases::<128>(out);
    in_place_cases::<8192>(out);
    byte_ring_cases::<1>(out);
    byte_ring_cases::<128>(out);
    byte_ring_cases::<8192>(out);
    for (slug, busy, note) in [
        ("shared-read-busy", 1, "Shared<Msg64>::read while the child writes it continuously"),
        ("shared-read-idle", 0, "Shared<Msg64>::read while nobody writes"),
    ] {
        out.push(
            Case::new(Group::Shm, slug, Metric::Read, 64, "Shared<T> read", read_parent)
                .child(read_child)
                .param(busy)
                .note(note),
        );
    }
    out.push(
        Case::new(Group::Shm, "shared-read-idle", Metric::Read, BIG_VALUE * 8, "Shared<T> read", big_read_parent)
            .floor(id(Group::Floor, "memcpy-one", Metric::Read, BIG_VALUE * 8))
            .note("Shared<[u64; 8192]>::read while nobody writes (the value in this process's cache); floor: one 64 KiB memcpy in cache"),
    );
}

/// Words of the large `Shared<T>` read case's value (64 KiB).
const BIG_VALUE: usize = 8192;

/// `Shared<[u64; BIG_VALUE]>::read` in a loop, nobody writing: what a
/// large value's read costs over the copy itself (the floor). Every read
/// is checked (its three stamps).
fn big_read_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let mut value = crate::link::boxed::<BIG_VALUE>();
    crate::link::stamp(&mut value, 7);
    let state = Shared::create_named(&unique_name("big-state"), &*value)?;
    drop(value);
    measure::latency(&ctx.plan, |n, mut hist| {
        let start = Instant::now();
        for _ in 0..n {
            let t0 = hist.is_some().then(Instant::now);
            let read: [u64; BIG_VALUE] = state.read();
            if let (Some(t0), Some(h)) = (t0, hist.as_deref_mut()) {
                h.saturating_record(nanos(t0.elapsed()));
            }
            crate::link::check(&read, 7)?;
        }
        Ok(start.elapsed())
    })
}

fn ring_cases<const N: usize>(out: &mut Vec<Case>) {
    let (cap, bytes) = (capacity_for(N), N * 8);
    out.push(
        Case::new(Group::Shm, "ring", Metric::RoundTrip, bytes, "MemoryInterface", ring_rtt_parent::<N>)
            .child(ring_rtt_child::<N>)
            .floor(super::hand_floor(Metric::RoundTrip, bytes))
            .capacity(cap)
            .note("MemoryInterface<[u64; N]>, write / read, one ring each way"),
    );
    out.push(
        Case::new(Group::Shm, "ring", Metric::Throughput, bytes, "MemoryInterface", ring_thr_parent::<N>)
            .child(ring_thr_child::<N>)
            .floor(super::hand_floor(Metric::Throughput, bytes))
            .capacity(cap)
            .note("MemoryInterface<[u64; N]>, write / read one item at a time, busy-polling"),
    );
    if N == 1 {
        out.push(
            Case::new(Group::Shm, "ring-eager", Metric::Throughput, bytes, "MemoryInterface, eager", ring_thr_parent::<N>)
                .child(ring_thr_child::<N>)
                .floor(id(Group::Floor, "hand-ring-eager", Metric::Throughput, bytes))
                .capacity(cap)
                .eager()
                .note("the ring case with a consumer that looks again at once at an empty ring (no poll gap): the item-by-item regime"),
        );
    }
    out.push(
        Case::new(Group::Shm, "ring-batch", Metric::Throughput, bytes, "MemoryInterface batch", batch_thr_parent::<N>)
            .child(batch_thr_child::<N>)
            .floor(super::hand_floor(Metric::Throughput, bytes))
            .capacity(cap)
            .param(batch_for(N))
            .note("write_slice / read_into, batches of up to `param` items"),
    );
}

fn dyn_ring_cases<const N: usize>(out: &mut Vec<Case>) {
    let (cap, bytes) = (capacity_for(N), N * 8);
    out.push(
        Case::new(Group::Shm, "dyn-ring", Metric::RoundTrip, bytes, "DynRing", dyn_rtt_parent::<N>)
            .child(dyn_rtt_child::<N>)
            .floor(super::hand_floor(Metric::RoundTrip, bytes))
            .capacity(cap)
            .note("DynRing of ItemType::of::<[u64; N]>(), write / read of bytes, one ring each way"),
    );
    out.push(
        Case::new(Group::Shm, "dyn-ring", Metric::Throughput, bytes, "DynRing", dyn_thr_parent::<N>)
            .child(dyn_thr_child::<N>)
            .floor(super::hand_floor(Metric::Throughput, bytes))
            .capacity(cap)
            .note("DynRing of ItemType::of::<[u64; N]>(), write / read of bytes one item at a time"),
    );
}

fn in_place_cases<const N: usize>(out: &mut Vec<Case>) {
    let (cap, bytes) = (capacity_for(N), N * 8);
    let note = "write_with / read_with: only the 3 stamp words written and read in the slot, as in the iceoryx2 loan \
                case (bytes/s count the nominal payload)";
    out.push(
        Case::new(
            Group::Shm,
            "ring-in-place",
            Metric::RoundTrip,
            bytes,
            "MemoryInterface in place",
            in_place_rtt_parent::<N>,
        )
        .child(in_place_rtt_child::<N>)
        .floor(super::hand_floor(Metric::RoundTrip, bytes))
        .capacity(cap)
        .note(note),
    );
    out.push(
        Case::new(
            Group::Shm,
            "ring-in-place",
            Metric::Throughput,
            bytes,
            "MemoryInterface in place",
            in_place_thr_parent::<N>,
        )
        .child(in_place_thr_child::<N>)
        .floor(super::hand_floor(Metric::Throughput, bytes))
        .capacity(cap)
        .note(note),
    );
}

fn byte_ring_cases<const N: usize>(out: &mut Vec<Case>) {
    let (cap, bytes) = (capacity_for(N), N * 8);
    let note = "ByteRing with slots of the item's size: write / read of each item's bytes as one message (the \
                length checked too)";
    out.push(
        Case::new(Group::Shm, "byte-ring", Metric::RoundTrip, bytes, "ByteRing", byte_rtt_parent::<N>)
            .child(byte_rtt_child::<N>)
            .floor(super::hand_floor(Metric::RoundTrip, bytes))
            .capacity(cap)
            .note(note),
    );
    out.push(
        Case::new(Group::Shm, "byte-ring", Metric::Throughput, bytes, "ByteRing", byte_thr_parent::<N>)
            .child(byte_thr_child::<N>)
            .floor(super::hand_floor(Metric::Throughput, bytes))
            .capacity(cap)
            .note(note),
    );
}

/// The scaling cases: ring throughput against capacity, round trip with
/// other segments open.
pub(super) fn scaling(out: &mut Vec<Case>) {
    for cap in [16, 64, 256, 1024, 4096, 16_384, 65_536] {
        let hand = format!("hand-ring-capacity-{cap}");
        out.push(
            Case::new(
                Group::Scaling,
                &hand,
                Metric::Throughput,
                8,
                "hand ring",
                super::floor::hand_thr_parent::<1, false>,
            )
            .child(super::floor::hand_thr_child::<1, false>)
            .capacity(cap)
            .note("the hand ring at this capacity: the floor of the MemoryInterface case after it"),
        );
        let slug = format!("ring-capacity-{cap}");
        out.push(
            Case::new(Group::Scaling, &slug, Metric::Throughput, 8, "MemoryInterface", ring_thr_parent::<1>)
                .child(ring_thr_child::<1>)
                .floor(id(Group::Scaling, &hand, Metric::Throughput, 8))
                .capacity(cap)
                .note("write / read one item at a time; floor: the hand ring of the same capacity"),
        );
    }
    let floor_rtt = super::hand_floor(Metric::RoundTrip, 8);
    for others in [1, 1000] {
        out.push(
            Case::new(
                Group::Scaling,
                &format!("ring-others-{others}"),
                Metric::RoundTrip,
                8,
                "MemoryInterface",
                ring_rtt_parent::<1>,
            )
            .child(ring_rtt_child::<1>)
            .floor(floor_rtt.clone())
            .capacity(capacity_for(1))
            .param(others)
            .note("each process has `param` other SharedInt segments open"),
        );
    }
}

/// Opens `n` other segments (kept open while the case runs).
fn others(n: usize) -> Result<Vec<SharedInt>> {
    (0..n).map(|i| Ok(SharedInt::create_named(&unique_name("other"), i64::try_from(i)?)?)).collect()
}

fn int_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let outward = SharedInt::create_named(&unique_name("int"), 0)?;
    let back = SharedInt::create_named(&unique_name("int"), 0)?;
    let handles = args([("--ping", outward.handle().to_string()), ("--pong", back.handle().to_string())]);
    let (mut tx, mut rx) = (WordTx(outward), WordRx(back));
    let mut child = ctx.spawn(&ctl, &handles, Stdio3::default())?;
    let m = ctx.ping_pong(&ctl, &mut child, &mut tx, &mut rx)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn int_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let outward = SharedInt::load_sharedobject(&ctx.handle("--ping")?)?;
    let back = SharedInt::load_sharedobject(&ctx.handle("--pong")?)?;
    ctx.echo(&mut WordTx(back), &mut WordRx(outward))
}

fn struct_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let outward = Shared::create_named(&unique_name("struct"), &Msg64::new(0))?;
    let back = Shared::create_named(&unique_name("struct"), &Msg64::new(0))?;
    let handles = args([("--ping", outward.handle().to_string()), ("--pong", back.handle().to_string())]);
    let (mut tx, mut rx) = (StateTx(outward), StateRx(back));
    let mut child = ctx.spawn(&ctl, &handles, Stdio3::default())?;
    let m = ctx.ping_pong(&ctl, &mut child, &mut tx, &mut rx)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn struct_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let outward = Shared::<Msg64>::load_sharedobject(&ctx.handle("--ping")?)?;
    let back = Shared::<Msg64>::load_sharedobject(&ctx.handle("--pong")?)?;
    ctx.echo(&mut StateTx(back), &mut StateRx(outward))
}

fn ring_rtt_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let cap = ctx.case.capacity;
    let _others = others(ctx.case.param)?;
    let ctl = Control::create()?;
    let a2b = MemoryInterface::<[u64; N], Producer>::create_named(&unique_name("ring"), cap)?;
    let b2a = MemoryInterface::<[u64; N], Consumer>::create_named(&unique_name("ring"), cap)?;
    let handles = args([("--a2b", a2b.handle().to_string()), ("--b2a", b2a.handle().to_string())]);
    let (mut tx, mut rx) = (RingTx::new(a2b), RingRx { ring: b2a });
    let mut child = ctx.spawn(&ctl, &handles, Stdio3::default())?;
    let m = ctx.ping_pong(&ctl, &mut child, &mut tx, &mut rx)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn ring_rtt_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let _others = others(ctx.case.param)?;
    let mut rx = RingRx { ring: MemoryInterface::<[u64; N], Consumer>::load_memorybuf(&ctx.handle("--a2b")?)? };
    let mut tx = RingTx::new(MemoryInterface::<[u64; N], Producer>::load_memorybuf(&ctx.handle("--b2a")?)?);
    ctx.echo(&mut tx, &mut rx)
}

/// The consumer's end of a ring of `N` words.
type ConsumerEnd<const N: usize> = MemoryInterface<[u64; N], Consumer>;

/// A ring the parent consumes from, and the child's arguments to attach.
fn stream_ring<const N: usize>(cap: usize) -> Result<(ConsumerEnd<N>, Vec<String>)> {
    let ring = MemoryInterface::<[u64; N], Consumer>::create_named(&unique_name("ring"), cap)?;
    let handle = args([("--ring", ring.handle().to_string())]);
    Ok((ring, handle))
}

fn ring_thr_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let (ring, handle) = stream_ring::<N>(ctx.case.capacity)?;
    let mut rx = RingRx { ring };
    let mut child = ctx.spawn(&ctl, &handle, Stdio3::default())?;
    let m = ctx.stream(&ctl, &mut child, &mut rx, 1)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn ring_thr_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let mut tx = RingTx::new(MemoryInterface::<[u64; N], Producer>::load_memorybuf(&ctx.handle("--ring")?)?);
    ctx.produce(&mut tx, 1)
}

fn batch_thr_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let (ring, handle) = stream_ring::<N>(ctx.case.capacity)?;
    let batch = ctx.case.param;
    let mut rx = BatchRx::new(ring, batch);
    let mut child = ctx.spawn(&ctl, &handle, Stdio3::default())?;
    let m = ctx.stream(&ctl, &mut child, &mut rx, batch as u64)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn batch_thr_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let ring = MemoryInterface::<[u64; N], Producer>::load_memorybuf(&ctx.handle("--ring")?)?;
    let batch = ctx.case.param;
    ctx.produce(&mut BatchTx::new(ring, batch), batch as u64)
}

fn dyn_rtt_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let (cap, item) = (ctx.case.capacity, ItemType::of::<[u64; N]>());
    let ctl = Control::create()?;
    let a2b = DynRing::<Producer>::create_named(&unique_name("ring"), &item, cap)?;
    let b2a = DynRing::<Consumer>::create_named(&unique_name("ring"), &item, cap)?;
    let handles = args([("--a2b", a2b.handle().to_string()), ("--b2a", b2a.handle().to_string())]);
    let (mut tx, mut rx) = (DynRingTx::<N>::new(a2b), DynRingRx::<N>::new(b2a));
    let mut child = ctx.spawn(&ctl, &handles, Stdio3::default())?;
    let m = ctx.ping_pong(&ctl, &mut child, &mut tx, &mut rx)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn dyn_rtt_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let mut rx = DynRingRx::<N>::new(DynRing::<Consumer>::load_memorybuf(&ctx.handle("--a2b")?)?);
    let mut tx = DynRingTx::<N>::new(DynRing::<Producer>::load_memorybuf(&ctx.handle("--b2a")?)?);
    ctx.echo(&mut tx, &mut rx)
}

fn dyn_thr_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let item = ItemType::of::<[u64; N]>();
    let ring = DynRing::<Consumer>::create_named(&unique_name("ring"), &item, ctx.case.capacity)?;
    let handle = args([("--ring", ring.handle().to_string())]);
    let mut rx = DynRingRx::<N>::new(ring);
    let mut child = ctx.spawn(&ctl, &handle, Stdio3::default())?;
    let m = ctx.stream(&ctl, &mut child, &mut rx, 1)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn dyn_thr_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let mut tx = DynRingTx::<N>::new(DynRing::<Producer>::load_memorybuf(&ctx.handle("--ring")?)?);
    ctx.produce(&mut tx, 1)
}

fn in_place_rtt_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let cap = ctx.case.capacity;
    let ctl = Control::create()?;
    let a2b = MemoryInterface::<[u64; N], Producer>::create_named(&unique_name("ring"), cap)?;
    let b2a = MemoryInterface::<[u64; N], Consumer>::create_named(&unique_name("ring"), cap)?;
    let handles = args([("--a2b", a2b.handle().to_string()), ("--b2a", b2a.handle().to_string())]);
    let (mut tx, mut rx) = (InPlaceTx { ring: a2b }, InPlaceRx { ring: b2a });
    let mut child = ctx.spawn(&ctl, &handles, Stdio3::default())?;
    let m = ctx.ping_pong(&ctl, &mut child, &mut tx, &mut rx)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn in_place_rtt_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let mut rx = InPlaceRx { ring: MemoryInterface::<[u64; N], Consumer>::load_memorybuf(&ctx.handle("--a2b")?)? };
    let mut tx = InPlaceTx { ring: MemoryInterface::<[u64; N], Producer>::load_memorybuf(&ctx.handle("--b2a")?)? };
    ctx.echo(&mut tx, &mut rx)
}

fn in_place_thr_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let (ring, handle) = stream_ring::<N>(ctx.case.capacity)?;
    let mut rx = InPlaceRx { ring };
    let mut child = ctx.spawn(&ctl, &handle, Stdio3::default())?;
    let m = ctx.stream(&ctl, &mut child, &mut rx, 1)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn in_place_thr_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let ring = MemoryInterface::<[u64; N], Producer>::load_memorybuf(&ctx.handle("--ring")?)?;
    ctx.produce(&mut InPlaceTx { ring }, 1)
}

fn byte_rtt_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let cap = ctx.case.capacity;
    let ctl = Control::create()?;
    let a2b = ByteRing::<Producer>::create_named(&unique_name("bytes"), N * 8, cap)?;
    let b2a = ByteRing::<Consumer>::create_named(&unique_name("bytes"), N * 8, cap)?;
    let handles = args([("--a2b", a2b.handle().to_string()), ("--b2a", b2a.handle().to_string())]);
    let (mut tx, mut rx) = (ByteTx::<N>::new(a2b), ByteRx::<N>::new(b2a));
    let mut child = ctx.spawn(&ctl, &handles, Stdio3::default())?;
    let m = ctx.ping_pong(&ctl, &mut child, &mut tx, &mut rx)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn byte_rtt_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let mut rx = ByteRx::<N>::new(ByteRing::<Consumer>::load_memorybuf(&ctx.handle("--a2b")?)?);
    let mut tx = ByteTx::<N>::new(ByteRing::<Producer>::load_memorybuf(&ctx.handle("--b2a")?)?);
    ctx.echo(&mut tx, &mut rx)
}

fn byte_thr_parent<const N: usize>(ctx: &Ctx<'_>) -> Result<Measure> {
    let ctl = Control::create()?;
    let ring = ByteRing::<Consumer>::create_named(&unique_name("bytes"), N * 8, ctx.case.capacity)?;
    let handle = args([("--ring", ring.handle().to_string())]);
    let mut rx = ByteRx::<N>::new(ring);
    let mut child = ctx.spawn(&ctl, &handle, Stdio3::default())?;
    let m = ctx.stream(&ctl, &mut child, &mut rx, 1)?;
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn byte_thr_child<const N: usize>(ctx: &ChildCtx<'_>) -> Result<()> {
    let ring = ByteRing::<Producer>::load_memorybuf(&ctx.handle("--ring")?)?;
    ctx.produce(&mut ByteTx::<N>::new(ring), 1)
}

fn read_parent(ctx: &Ctx<'_>) -> Result<Measure> {
    let busy = ctx.case.param == 1;
    let ctl = Control::create()?;
    let state = Shared::create_named(&unique_name("state"), &Msg64::new(0))?;
    let handle = args([("--state", state.handle().to_string())]);
    let mut child = ctx.spawn(&ctl, &handle, Stdio3::default())?;
    child.wait_ready(&ctl)?;
    let mut watch = Watch::new(child.child().id(), &ctl);
    // Measure only once the writer is writing.
    while busy && state.read().seq == 0 {
        watch.idle()?;
    }
    let first = state.read().seq;
    let mut last = first;
    let m = measure::latency(&ctx.plan, |n, mut hist| {
        let start = Instant::now();
        for _ in 0..n {
            let t0 = hist.is_some().then(Instant::now);
            let msg = state.read();
            if let (Some(t0), Some(h)) = (t0, hist.as_deref_mut()) {
                h.saturating_record(nanos(t0.elapsed()));
            }
            if !msg.is_whole() || msg.seq < last {
                return Err(format!("torn or older read: {msg:?} after seq {last}").into());
            }
            last = msg.seq;
        }
        Ok(start.elapsed())
    })?;
    // A smoke run reads a handful of times, which a descheduled writer on
    // a loaded machine may not interleave with: there the check is that the
    // writer is still writing (bounded), and every read above was whole and
    // in order all the same.
    if busy && last == first && ctx.plan.smoke {
        let deadline = Instant::now() + Duration::from_secs(2);
        while state.read().seq == last && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        last = state.read().seq;
    }
    if busy && last == first {
        return Err("the writer wrote nothing while the reader measured".into());
    }
    ctl.stop();
    child.finish()?;
    Ok(m)
}

fn read_child(ctx: &ChildCtx<'_>) -> Result<()> {
    let state = Shared::<Msg64>::load_sharedobject(&ctx.handle("--state")?)?;
    ctx.ctl.ready();
    let mut watch = ChildWatch::new(&ctx.ctl);
    let mut seq = 0;
    loop {
        if ctx.case.param == 1 {
            seq += 1;
            state.write(&Msg64::new(seq))?;
        }
        match watch.idle() {
            Err(e) if is_stop(&e) => return Ok(()),
            other => other?,
        }
    }
}
