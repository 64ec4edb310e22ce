//! [`Tx`]/[`Rx`] whose waits sleep: shm's ring through its blocking forms
//! (`write_blocking`/`read_blocking`) and its async forms
//! (`write_async`/`read_async` under a tokio current-thread runtime), a
//! `SharedInt` watched with `wait_changed` and `changed().await`, a raw
//! futex word (the floor of a wake-up), and tokio's Unix socket with
//! length-prefixed messages.
//!
//! A receive here waits inside the call (it returns an item, or 0 after a
//! bounded sleep so the child can look at the stop word); a producer's
//! drop (`Closed`), the end of the socket, or the value [`STOP`] in a
//! watched word is the parent's stop, reported as [`Stopped`].
//!
//! The async forms enter the runtime once per call (`block_on`) and move
//! up to `max` items inside it; the tokio socket does the same, so both
//! async transports pay the same runtime entry.

#![expect(clippy::inline_always, reason = "every send and recv alike (link.rs)")]

use crate::link::{Mismatch, Rx, Tx, check, stamp};
use crate::proc::Stopped;
use crate::raw::RawShm;
use crate::{Error, Result};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use shm_runtime::{Consumer, MemoryInterface, Producer, RingError, SharedInt};
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::runtime::Runtime;
use zerocopy::IntoBytes;

/// A watched word's value that tells the child to stop.
pub const STOP: u64 = u64::MAX;

/// Longest single sleep of a receive that has a timeout: the child looks
/// at the stop word this often.
const SLICE: Duration = Duration::from_millis(20);

/// A tokio current-thread runtime with every driver on, as tokio's docs
/// build one (`Builder::new_current_thread().enable_all()`).
pub fn current_thread() -> Result<Rc<Runtime>> {
    Ok(Rc::new(tokio::runtime::Builder::new_current_thread().enable_all().build()?))
}

/// A ring error, with `Closed` (the other side let go) as the stop.
fn ring_error(e: RingError) -> Error {
    if matches!(e, RingError::Closed { .. }) { Stopped.into() } else { e.into() }
}

/// Producer end of a `MemoryInterface` ring, `write_blocking`.
pub struct BlockingTx<const N: usize> {
    ring: MemoryInterface<[u64; N], Producer>,
    item: Box<[u64; N]>,
}

impl<const N: usize> BlockingTx<N> {
    /// Sends through `ring`.
    pub fn new(ring: MemoryInterface<[u64; N], Producer>) -> Self {
        Self { ring, item: crate::link::boxed() }
    }
}

impl<const N: usize> Tx for BlockingTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        stamp(&mut self.item, *next);
        self.ring.write_blocking(&self.item).map_err(ring_error)?;
        *next += 1;
        Ok(1)
    }
}

/// Consumer end of a `MemoryInterface` ring, `read_blocking`.
pub struct BlockingRx<const N: usize>(pub MemoryInterface<[u64; N], Consumer>);

impl<const N: usize> Rx for BlockingRx<N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        let item = self.0.read_blocking().map_err(ring_error)?;
        check(&item, *expected)?;
        *expected += 1;
        Ok(1)
    }
}

/// Producer end of a `MemoryInterface` ring, `write_async` in a tokio
/// current-thread runtime.
pub struct AsyncTx<const N: usize> {
    ring: MemoryInterface<[u64; N], Producer>,
    item: Box<[u64; N]>,
    rt: Rc<Runtime>,
}

impl<const N: usize> AsyncTx<N> {
    /// Sends through `ring` in `rt`.
    pub fn new(ring: MemoryInterface<[u64; N], Producer>, rt: Rc<Runtime>) -> Self {
        Self { ring, item: crate::link::boxed(), rt }
    }
}

impl<const N: usize> Tx for AsyncTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, max: u64) -> Result<u64> {
        let Self { ring, item, rt } = self;
        rt.block_on(async {
            for _ in 0..max {
                stamp(item, *next);
                ring.write_async(item).await.map_err(ring_error)?;
                *next += 1;
            }
            Ok(max)
        })
    }
}

/// Consumer end of a `MemoryInterface` ring, `read_async` in a tokio
/// current-thread runtime.
pub struct AsyncRx<const N: usize> {
    ring: MemoryInterface<[u64; N], Consumer>,
    rt: Rc<Runtime>,
}

impl<const N: usize> AsyncRx<N> {
    /// Receives from `ring` in `rt`.
    pub fn new(ring: MemoryInterface<[u64; N], Consumer>, rt: Rc<Runtime>) -> Self {
        Self { ring, rt }
    }
}

impl<const N: usize> Rx for AsyncRx<N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, max: u64) -> Result<u64> {
        let Self { ring, rt } = self;
        rt.block_on(async {
            for _ in 0..max {
                let item = ring.read_async().await.map_err(ring_error)?;
                check(&item, *expected)?;
                *expected += 1;
            }
            Ok(max)
        })
    }
}

/// Sends by writing the item's number into a `SharedInt` (which advances
/// its version and wakes whoever waits).
pub struct IntTx(pub SharedInt);

impl Tx for IntTx {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        self.0.write(next.cast_signed());
        *next += 1;
        Ok(1)
    }
}

/// How an [`IntRx`] waits for the next version.
pub enum IntWait {
    /// `wait_changed(since, 20 ms)`: spins, yields, then sleeps on the
    /// object's futex.
    Blocking,
    /// `changed(since).await` in a tokio current-thread runtime.
    Async(Rc<Runtime>),
}

/// Receives by waiting for a `SharedInt`'s version to move, then reading
/// the number.
pub struct IntRx {
    int: SharedInt,
    since: u64,
    wait: IntWait,
}

impl IntRx {
    /// Watches `int` from its current version on.
    pub fn new(int: SharedInt, wait: IntWait) -> Self {
        let since = int.version();
        Self { int, since, wait }
    }
}

impl Rx for IntRx {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        let version = match &self.wait {
            IntWait::Blocking => self.int.wait_changed(self.since, SLICE),
            IntWait::Async(rt) => Some(rt.block_on(self.int.changed(self.since))),
        };
        let Some(version) = version else { return Ok(0) };
        self.since = version;
        let found = self.int.read().cast_unsigned();
        if found == STOP {
            return Err(Stopped.into());
        }
        if found != *expected {
            return Err(Mismatch { expected: *expected, found: [found; 3] }.into());
        }
        *expected += 1;
        Ok(1)
    }
}

/// A 32-bit word of a bare mapping used as a futex (shared between
/// processes: no `FUTEX_PRIVATE_FLAG`).
pub struct FutexWord {
    word: NonNull<AtomicU32>,
    /// Keeps the mapping alive.
    _shm: Rc<RawShm>,
}

impl FutexWord {
    /// The low half of 64-bit word `index` of `shm`.
    pub fn new(shm: &Rc<RawShm>, index: usize) -> Self {
        let word64 = &shm.words(index + 1)[index];
        // An `AtomicU64` is 8-byte aligned, so its first 4 bytes are a
        // 4-byte aligned `AtomicU32`; both processes only ever access the
        // word through this 32-bit view.
        let word = NonNull::from(word64).cast::<AtomicU32>();
        Self { word, _shm: Rc::clone(shm) }
    }

    fn get(&self) -> &AtomicU32 {
        // SAFETY: the word is inside the mapping `_shm` keeps alive, aligned
        // (see `new`), and only ever accessed atomically, by either process.
        unsafe { self.word.as_ref() }
    }
}

/// Sends by storing the item's number (low 32 bits) and waking the other
/// side with `FUTEX_WAKE` every time: the floor of a wake-up.
pub struct FutexTx(pub FutexWord);

impl Tx for FutexTx {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        let word = self.0.get();
        // Truncation: the low 32 bits are the futex value.
        #[expect(clippy::cast_possible_truncation, reason = "the low half is the futex value")]
        let value = *next as u32;
        // Release pairs with the Acquire load in `FutexRx::recv`.
        word.store(value, Ordering::Release);
        rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), 1)?;
        *next += 1;
        Ok(1)
    }
}

/// Receives by waiting (`FUTEX_WAIT`, at most 20 ms) while the word holds
/// the previous number.
pub struct FutexRx(pub FutexWord);

impl Rx for FutexRx {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        #[expect(clippy::cast_possible_truncation, reason = "the low half is the futex value")]
        let (want, old) = (*expected as u32, expected.wrapping_sub(1) as u32);
        let word = self.0.get();
        // Acquire pairs with the Release store in `FutexTx::send`.
        let mut found = word.load(Ordering::Acquire);
        if found == old {
            let timeout = rustix::time::Timespec { tv_sec: 0, tv_nsec: 20_000_000 };
            // Woken, timed out, interrupted, or the value moved before we
            // slept: any of them ends with a new look at the word.
            let _ = rustix::thread::futex::wait(word, rustix::thread::futex::Flags::empty(), old, Some(&timeout));
            // Acquire: as above.
            found = word.load(Ordering::Acquire);
        }
        if found == want {
            *expected += 1;
            Ok(1)
        } else if found == old {
            Ok(0)
        } else {
            Err(Mismatch { expected: *expected, found: [u64::from(found); 3] }.into())
        }
    }
}

/// Sends items over tokio's `UnixStream` as length-prefixed messages
/// (a 4-byte length, then the payload), each message one `write_all`.
pub struct TokioTx<const N: usize> {
    out: OwnedWriteHalf,
    message: Vec<u8>,
    rt: Rc<Runtime>,
}

impl<const N: usize> TokioTx<N> {
    /// Sends over `out` in `rt`.
    pub fn new(out: OwnedWriteHalf, rt: Rc<Runtime>) -> Self {
        let len = u32::try_from(N * 8).expect("items are far below 4 GiB");
        let mut message = len.to_le_bytes().to_vec();
        message.resize(4 + N * 8, 0);
        Self { out, message, rt }
    }
}

impl<const N: usize> Tx for TokioTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, max: u64) -> Result<u64> {
        let Self { out, message, rt } = self;
        rt.block_on(async {
            for _ in 0..max {
                let seq = next.to_ne_bytes();
                for offset in [0, N / 2 * 8, (N - 1) * 8] {
                    message[4 + offset..4 + offset + 8].copy_from_slice(&seq);
                }
                out.write_all(message).await?;
                *next += 1;
            }
            Ok(max)
        })
    }
}

/// Receives length-prefixed messages from tokio's `UnixStream` through
/// tokio's `BufReader` (its default 8 KiB buffer); the end of the stream is
/// the parent's stop.
pub struct TokioRx<const N: usize> {
    input: BufReader<OwnedReadHalf>,
    item: Box<[u64; N]>,
    rt: Rc<Runtime>,
}

impl<const N: usize> TokioRx<N> {
    /// Receives from `input` in `rt`.
    pub fn new(input: OwnedReadHalf, rt: Rc<Runtime>) -> Self {
        Self { input: BufReader::new(input), item: crate::link::boxed(), rt }
    }
}

/// An I/O error, with the end of the stream as the stop.
fn io_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof { Stopped.into() } else { e.into() }
}

impl<const N: usize> Rx for TokioRx<N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, max: u64) -> Result<u64> {
        let Self { input, item, rt } = self;
        rt.block_on(async {
            for _ in 0..max {
                let mut len = [0; 4];
                input.read_exact(&mut len).await.map_err(io_error)?;
                if u32::from_le_bytes(len) as usize != N * 8 {
                    let found = u64::from(u32::from_le_bytes(len));
                    return Err(Mismatch { expected: *expected, found: [found; 3] }.into());
                }
                input.read_exact(item.as_mut_bytes()).await.map_err(io_error)?;
                check(item, *expected)?;
                *expected += 1;
            }
            Ok(max)
        })
    }
}

/// Both halves of tokio's `UnixStream` over `stream`, registered with
/// `rt`'s I/O driver.
pub fn tokio_halves(stream: std::os::unix::net::UnixStream, rt: &Runtime) -> Result<(OwnedReadHalf, OwnedWriteHalf)> {
    stream.set_nonblocking(true)?;
    let _entered = rt.enter();
    Ok(tokio::net::UnixStream::from_std(stream)?.into_split())
}
