//! [`Tx`]/[`Rx`] over the floor's atomic words and over shm's objects:
//! `SharedInt`, a derived struct in `Shared<T>`, `MemoryInterface` (one
//! item at a time, in batches, and in place), `DynRing` (the same ring
//! typed at run time), and `ByteRing`.

#![expect(clippy::inline_always, reason = "every send and recv alike (link.rs)")]

use crate::Result;
use crate::link::{Mismatch, Rx, Tx, check, check_words, stamp};
use crate::raw::RawShm;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use shm_runtime::dynamic::DynRing;
use shm_runtime::{
    Broadcast, ByteRing, Consumer, MemoryInterface, Producer, Ring, SendError, Shared, SharedInt, SharedState,
    Subscriber,
};
use std::rc::Rc;
use zerocopy::IntoBytes;

/// A 64-bit word two processes share.
pub trait Word {
    /// Loads the word (pairs with the other side's `store`).
    fn load(&self) -> u64;
    /// Stores the word (pairs with the other side's `load`).
    fn store(&self, value: u64);
}

/// One word of a bare mapping: the floor.
pub struct RawWord {
    word: NonNull<AtomicU64>,
    /// Keeps the mapping alive.
    _shm: Rc<RawShm>,
}

impl RawWord {
    /// Word `index` of `shm`.
    pub fn new(shm: &Rc<RawShm>, index: usize) -> Self {
        let word = NonNull::from(&shm.words(index + 1)[index]);
        Self { word, _shm: Rc::clone(shm) }
    }
}

impl Word for RawWord {
    #[inline]
    fn load(&self) -> u64 {
        // SAFETY: the word is inside the mapping `_shm` keeps alive, and is
        // only ever accessed atomically.
        let word = unsafe { self.word.as_ref() };
        // Acquire pairs with the other process's Release store.
        word.load(Ordering::Acquire)
    }

    #[inline]
    fn store(&self, value: u64) {
        // SAFETY: as in `load`.
        let word = unsafe { self.word.as_ref() };
        // Release pairs with the other process's Acquire load.
        word.store(value, Ordering::Release);
    }
}

impl Word for SharedInt {
    #[inline]
    fn load(&self) -> u64 {
        // `read` is an Acquire load; pairs with `write`'s Release store.
        self.read().cast_unsigned()
    }

    #[inline]
    fn store(&self, value: u64) {
        self.write(value.cast_signed());
    }
}

/// Sends by storing the item's number in a word.
pub struct WordTx<W: Word>(pub W);

/// Receives by watching a word for the next number.
pub struct WordRx<W: Word>(pub W);

impl<W: Word> Tx for WordTx<W> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        self.0.store(*next);
        *next += 1;
        Ok(1)
    }
}

impl<W: Word> Rx for WordRx<W> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        let found = self.0.load();
        if found == *expected {
            *expected += 1;
            Ok(1)
        } else if found == expected.wrapping_sub(1) {
            Ok(0)
        } else {
            Err(Mismatch { expected: *expected, found: [found; 3] }.into())
        }
    }
}

/// The 64-byte struct of the `Shared<T>` cases: a sequence number, six
/// words derived from it, and a check word.
#[derive(SharedState, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Msg64 {
    /// Item number.
    pub seq: u64,
    /// `seq * (i + 2)` (wrapping) for word `i`.
    pub data: [u64; 6],
    /// `seq ^ CHECK`.
    pub check: u64,
}

const _: () = assert!(size_of::<Msg64>() == 64);

/// Xored into the check word.
const CHECK: u64 = 0x5a5a_a5a5_0ff0_f00f;

impl Msg64 {
    /// Item `seq`.
    pub fn new(seq: u64) -> Self {
        let mut data = [0; 6];
        for (i, word) in (2..).zip(&mut data) {
            *word = seq.wrapping_mul(i);
        }
        Self { seq, data, check: seq ^ CHECK }
    }

    /// Whether every field agrees with `seq` (no mix of two writes).
    pub fn is_whole(&self) -> bool {
        *self == Self::new(self.seq)
    }
}

/// Sends by writing a `Shared<Msg64>`.
pub struct StateTx(pub Shared<Msg64>);

/// Receives by reading a `Shared<Msg64>` until the next number shows.
pub struct StateRx(pub Shared<Msg64>);

impl Tx for StateTx {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        self.0.write(&Msg64::new(*next))?;
        *next += 1;
        Ok(1)
    }
}

impl Rx for StateRx {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        let msg = self.0.read();
        if msg.seq == expected.wrapping_sub(1) {
            return Ok(0);
        }
        if msg.seq != *expected || !msg.is_whole() {
            return Err(Mismatch { expected: *expected, found: [msg.seq, msg.data[0], msg.check] }.into());
        }
        *expected += 1;
        Ok(1)
    }
}

/// Producer end of a `MemoryInterface` ring, one item per `write`.
pub struct RingTx<const N: usize> {
    /// The ring.
    pub ring: MemoryInterface<[u64; N], Producer>,
    item: Box<[u64; N]>,
}

/// Consumer end of a `MemoryInterface` ring, one item per `read`.
pub struct RingRx<const N: usize> {
    /// The ring.
    pub ring: MemoryInterface<[u64; N], Consumer>,
}

impl<const N: usize> RingTx<N> {
    /// Sends through `ring`.
    pub fn new(ring: MemoryInterface<[u64; N], Producer>) -> Self {
        Self { ring, item: crate::link::boxed() }
    }
}

impl<const N: usize> Tx for RingTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        stamp(&mut self.item, *next);
        if self.ring.write(&self.item).is_ok() {
            *next += 1;
            return Ok(1);
        }
        match self.ring.error() {
            Some(e) => Err(e.into()),
            None => Ok(0),
        }
    }
}

impl<const N: usize> Rx for RingRx<N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        let Some(item) = self.ring.read() else {
            return self.ring.error().map_or(Ok(0), |e| Err(e.into()));
        };
        check(&item, *expected)?;
        *expected += 1;
        Ok(1)
    }
}

/// Producer end of a `DynRing` of `[u64; N]` items, one item per `write`
/// of its bytes.
pub struct DynRingTx<const N: usize> {
    /// The ring.
    pub ring: DynRing<Producer>,
    item: Box<[u64; N]>,
}

/// Consumer end of a `DynRing` of `[u64; N]` items, one item per `read`
/// into a buffer of its bytes.
pub struct DynRingRx<const N: usize> {
    /// The ring.
    pub ring: DynRing<Consumer>,
    item: Box<[u64; N]>,
}

impl<const N: usize> DynRingTx<N> {
    /// Sends through `ring` (of items of `N * 8` bytes).
    pub fn new(ring: DynRing<Producer>) -> Self {
        Self { ring, item: crate::link::boxed() }
    }
}

impl<const N: usize> DynRingRx<N> {
    /// Receives from `ring` (of items of `N * 8` bytes).
    pub fn new(ring: DynRing<Consumer>) -> Self {
        Self { ring, item: crate::link::boxed() }
    }
}

impl<const N: usize> Tx for DynRingTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        stamp(&mut self.item, *next);
        match self.ring.write(self.item.as_bytes()) {
            Ok(()) => {
                *next += 1;
                Ok(1)
            }
            Err(SendError::Full) => self.ring.error().map_or(Ok(0), |e| Err(e.into())),
            Err(e) => Err(e.into()),
        }
    }
}

impl<const N: usize> Rx for DynRingRx<N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        if !self.ring.read(self.item.as_mut_bytes())? {
            return self.ring.error().map_or(Ok(0), |e| Err(e.into()));
        }
        check(&self.item, *expected)?;
        *expected += 1;
        Ok(1)
    }
}

/// Producer end of a `MemoryInterface` ring, in batches (`write_slice`).
pub struct BatchTx<const N: usize> {
    /// The ring.
    pub ring: MemoryInterface<[u64; N], Producer>,
    items: Vec<[u64; N]>,
}

/// Consumer end of a `MemoryInterface` ring, in batches (`read_into`).
pub struct BatchRx<const N: usize> {
    /// The ring.
    pub ring: MemoryInterface<[u64; N], Consumer>,
    items: Vec<[u64; N]>,
}

impl<const N: usize> BatchTx<N> {
    /// Sends through `ring`, up to `batch` items per call.
    pub fn new(ring: MemoryInterface<[u64; N], Producer>, batch: usize) -> Self {
        Self { ring, items: vec![[0; N]; batch] }
    }
}

impl<const N: usize> BatchRx<N> {
    /// Receives from `ring`, up to `batch` items per call.
    pub fn new(ring: MemoryInterface<[u64; N], Consumer>, batch: usize) -> Self {
        Self { ring, items: vec![[0; N]; batch] }
    }
}

impl<const N: usize> Tx for BatchTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, max: u64) -> Result<u64> {
        let k = usize::try_from(max).map_or(self.items.len(), |m| m.min(self.items.len()));
        for (seq, item) in (*next..).zip(&mut self.items[..k]) {
            stamp(item, seq);
        }
        let sent = self.ring.write_slice(&self.items[..k]) as u64;
        if sent == 0
            && let Some(e) = self.ring.error()
        {
            return Err(e.into());
        }
        *next += sent;
        Ok(sent)
    }
}

impl<const N: usize> Rx for BatchRx<N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, max: u64) -> Result<u64> {
        let k = usize::try_from(max).map_or(self.items.len(), |m| m.min(self.items.len()));
        let got = self.ring.read_into(&mut self.items[..k]);
        if got == 0 {
            return self.ring.error().map_or(Ok(0), |e| Err(e.into()));
        }
        for item in &self.items[..got] {
            check(item, *expected)?;
            *expected += 1;
        }
        Ok(got as u64)
    }
}

/// Producer end of a `MemoryInterface` ring that builds each item in its
/// slot (`write_with`), writing only the three stamp words, as the
/// iceoryx2 loan case does.
pub struct InPlaceTx<const N: usize> {
    /// The ring.
    pub ring: MemoryInterface<[u64; N], Producer>,
}

/// Consumer end of a `MemoryInterface` ring that reads only the three
/// stamp words of each item in its slot (`read_with`).
pub struct InPlaceRx<const N: usize> {
    /// The ring.
    pub ring: MemoryInterface<[u64; N], Consumer>,
}

/// Byte offsets of the stamp words of an item of `N` words.
const fn stamp_offsets<const N: usize>() -> [usize; 3] {
    [0, N / 2 * 8, (N - 1) * 8]
}

impl<const N: usize> Tx for InPlaceTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        let seq = next.to_ne_bytes();
        let written = self.ring.write_with(|slot| {
            for offset in stamp_offsets::<N>() {
                slot.set_bytes(offset, &seq);
            }
        });
        if written.is_some() {
            *next += 1;
            return Ok(1);
        }
        self.ring.error().map_or(Ok(0), |e| Err(e.into()))
    }
}

impl<const N: usize> Rx for InPlaceRx<N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        let stamps = self.ring.read_with(|item| {
            stamp_offsets::<N>().map(|offset| {
                let mut word = [0; 8];
                item.read_bytes(offset, &mut word);
                u64::from_ne_bytes(word)
            })
        });
        let Some([first, middle, last]) = stamps else {
            return self.ring.error().map_or(Ok(0), |e| Err(e.into()));
        };
        check_words(first, middle, last, *expected)?;
        *expected += 1;
        Ok(1)
    }
}

/// Producer end of a `ByteRing`: each item's bytes as one message.
pub struct ByteTx<const N: usize> {
    /// The ring.
    pub ring: ByteRing<Producer>,
    item: Box<[u64; N]>,
}

impl<const N: usize> ByteTx<N> {
    /// Sends through `ring`.
    pub fn new(ring: ByteRing<Producer>) -> Self {
        Self { ring, item: crate::link::boxed() }
    }
}

impl<const N: usize> Tx for ByteTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        stamp(&mut self.item, *next);
        match self.ring.write(zerocopy::IntoBytes::as_bytes(&*self.item)) {
            Ok(()) => {
                *next += 1;
                Ok(1)
            }
            Err(SendError::Full) => self.ring.error().map_or(Ok(0), |e| Err(e.into())),
            Err(e) => Err(e.into()),
        }
    }
}

/// Consumer end of a `ByteRing`: each message must be one item's bytes.
pub struct ByteRx<const N: usize> {
    /// The ring.
    pub ring: ByteRing<Consumer>,
    message: Vec<u8>,
}

impl<const N: usize> ByteRx<N> {
    /// Receives from `ring`.
    pub fn new(ring: ByteRing<Consumer>) -> Self {
        Self { ring, message: Vec::with_capacity(N * 8) }
    }
}

impl<const N: usize> Rx for ByteRx<N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        if !self.ring.read(&mut self.message)? {
            return Ok(0);
        }
        let word = |offset: usize| {
            let bytes = self.message.get(offset..offset + 8).and_then(|b| <[u8; 8]>::try_from(b).ok());
            bytes.map_or(u64::MAX, u64::from_ne_bytes)
        };
        let [first, middle, last] = stamp_offsets::<N>().map(word);
        if self.message.len() != N * 8 {
            return Err(Mismatch { expected: *expected, found: [first, middle, last] }.into());
        }
        check_words(first, middle, last, *expected)?;
        *expected += 1;
        Ok(1)
    }
}

/// The publisher of a `Broadcast`: `publish`, one item at a time.
pub struct BroadcastTx<const N: usize> {
    /// The broadcast.
    pub tx: Broadcast<[u64; N]>,
    item: Box<[u64; N]>,
}

impl<const N: usize> BroadcastTx<N> {
    /// Publishes through `tx`.
    pub fn new(tx: Broadcast<[u64; N]>) -> Self {
        Self { tx, item: crate::link::boxed() }
    }
}

impl<const N: usize> Tx for BroadcastTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        stamp(&mut self.item, *next);
        // Backpressure: `Full` (a subscriber has not read the oldest slot)
        // is the only error; nothing was published.
        if self.tx.publish(&self.item).is_ok() {
            *next += 1;
            Ok(1)
        } else {
            Ok(0)
        }
    }
}

/// A `Subscriber` of a broadcast: `read`, one item at a time.
pub struct BroadcastRx<const N: usize>(pub Subscriber<[u64; N]>);

impl<const N: usize> Rx for BroadcastRx<N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        let Some(item) = self.0.read()? else { return Ok(0) };
        check(&item, *expected)?;
        *expected += 1;
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    impl Word for Cell<u64> {
        fn load(&self) -> u64 {
            self.get()
        }
        fn store(&self, value: u64) {
            self.set(value);
        }
    }

    #[test]
    fn a_word_delivers_the_next_number_and_refuses_any_other() {
        let mut rx = WordRx(Cell::new(0));
        let mut expected = 1;
        assert_eq!(rx.recv(&mut expected, 1).unwrap(), 0, "the old number: nothing new yet");
        rx.0.set(1);
        assert_eq!(rx.recv(&mut expected, 1).unwrap(), 1);
        rx.0.set(3);
        let e = rx.recv(&mut expected, 1).unwrap_err();
        assert!(crate::link::is_mismatch(&e), "a skipped number is a verification failure: {e}");
    }

    #[test]
    fn msg64_detects_a_mix_of_two_writes() {
        let mut msg = Msg64::new(7);
        assert!(msg.is_whole());
        msg.data[3] = Msg64::new(8).data[3];
        assert!(!msg.is_whole());
    }
}
