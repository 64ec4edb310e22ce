//! Copies between process-local bytes and shared payload words, free of
//! Rust-level data races: what the cell (`Shared<T>`, strings, bytes,
//! arrays), the ring and the byte ring's fragments move their payloads
//! with.
//!
//! Two ways, chosen by length:
//!
//! - **Per word**: one relaxed `AtomicU64` load or store per word. Best
//!   for small payloads (a handful of words, no set-up), and the only way
//!   in loom and Miri builds and on targets other than `x86_64`.
//! - **Vector moves** (`x86_64`, 64 bytes and more): whole 64-byte blocks
//!   copied by inline assembly, with 32-byte AVX moves where the CPU has
//!   AVX and 16-byte SSE2 moves (every `x86_64` CPU has them) otherwise,
//!   then the rest per word. The per-word path copies about a quarter as
//!   fast as `memcpy` on payloads that are in cache (one 8-byte access
//!   per word, with the loop the atomics keep the compiler from
//!   widening); the vector moves copy as fast as `memcpy`.
//! - **`rep movsb`** (`x86_64`) for the whole blocks of a copy into or
//!   out of the shared words of `STRING_COPY` (4 KiB) and more, where the
//!   CPU has fast strings (ERMS): what glibc's `memcpy` does from the same
//!   size on such CPUs. A fast-string store takes each destination line
//!   whole, invalidating the other copies of it without reading it in
//!   first (Intel SDM vol. 3A, "Out-of-Order Stores For String
//!   Operations"); a ring slot's lines usually sit in the other process's
//!   cache (it read them last), where a vector store must fetch each line
//!   before it writes it. Measured (shm-bench, 5 rounds, alternated runs,
//!   2-vCPU VM): a 64 KiB ring round trip took 22-25 µs with vector
//!   stores and 17-20 µs with string stores, the hand-written ring
//!   (glibc's `memcpy`) 18-20 µs in the same rounds; with string loads as
//!   well, 64 KiB ring throughput went from 11.9-12.3 to 15.1-15.6 GB/s
//!   (the hand ring 15.9), `ByteRing`'s and a broadcast's alike. Measured
//!   on Intel CPUs only; some AMD CPUs are reported to run `rep movsb`
//!   slowly when source and destination share a page offset, which no
//!   case here has checked.
//!
//! Why the vector moves are not a data race. Rust's rules on data races
//! are rules about Rust's memory accesses; an inline assembly block is a
//! hardware operation whose effect Rust sees as whatever Rust code it is
//! equivalent to. These blocks load and store memory with plain x86
//! moves, which the hardware never treats as undefined: a move racing with
//! another processor's store reads some of the old bytes and some of the
//! new, which is exactly what a sequence of relaxed atomic loads and
//! stores of those bytes may observe. So each block is equivalent to such
//! a sequence, which is race-free Rust, and the protocols already accept
//! its outcome: the cell's seqlock re-checks its sequence word and throws
//! a torn copy away, the ring reads a slot only after the producer's
//! `Release` store of the write position published it (and a hostile peer
//! that writes anyway can only give it wrong bytes, which the ring's
//! caller checks as it checks every byte in /dev/shm). The ordering the
//! protocols build around the copy holds too: the blocks are not marked
//! `nomem`, so the compiler keeps every memory access where the program
//! puts it relative to them, and x86 orders vector moves like every other
//! load and store (total store order). A `rep movsb` may make its own
//! stores visible out of order among themselves, but it is not reordered
//! with other stores (the SDM's memory-ordering principles for string
//! operations on write-back memory): every store the protocols order
//! around a copy is a separate store (a ring's `Release` store of its
//! write position after the slot's copy; a cell's odd sequence before
//! its copy and even sequence after), so they see what they would with
//! word stores, and no protocol depends on the order of the stores
//! inside one copy (a reader checks a seqlock copy as a whole). Its loads
//! are ordered as any loads: the SDM makes string operations an
//! exception only to the rule that writes are not reordered with other
//! writes, so reads are still not reordered with other reads, nor writes
//! with older reads (a ring consumer's copy out is done before its
//! `Release` store of the read position; a seqlock reader's copy lies
//! between its two loads of the sequence).

use crate::protocol::sync::{AtomicU64, Ordering};
use core::mem::MaybeUninit;

/// Stores `src` into the first words of `dst` (the last word zero-padded),
/// as far as `dst` reaches. The caller owns the words (a seqlock copy with
/// its sequence odd, a ring slot not yet published): nobody else stores
/// to them while it does.
#[inline]
pub(crate) fn store_bytes(dst: &[AtomicU64], src: &[u8]) {
    let done = bulk::store(dst, src);
    words::store_bytes(&dst[done / 8..], &src[done..]);
}

/// Bytes a copy out of the shared words fills: `[u8]`, or
/// `[MaybeUninit<u8>]` for a value built in place (not zeroed first, as a
/// value would be only to be overwritten). The copies write every byte
/// they are asked to fill, and only initialized values.
pub(crate) trait Bytes {
    /// Number of bytes.
    fn len(&self) -> usize;

    /// The bytes as possibly uninitialized, for a copy to fill.
    ///
    /// # Safety
    ///
    /// Nothing but initialized bytes may be written through the result
    /// (so that a `[u8]` stays initialized).
    unsafe fn as_uninit(&mut self) -> &mut [MaybeUninit<u8>];
}

impl Bytes for [u8] {
    #[inline]
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    #[inline]
    unsafe fn as_uninit(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: `MaybeUninit<u8>` has the size and alignment of `u8`, so
        // the pointer and length cover exactly these bytes, which the
        // result borrows exclusively for as long as `self`; every `u8` is
        // a valid `MaybeUninit<u8>`, and the caller writes back only
        // initialized bytes (this function's contract), so the bytes are
        // valid `u8`s again when the borrow ends.
        unsafe { core::slice::from_raw_parts_mut(self.as_mut_ptr().cast::<MaybeUninit<u8>>(), self.len()) }
    }
}

impl Bytes for [MaybeUninit<u8>] {
    #[inline]
    fn len(&self) -> usize {
        <[MaybeUninit<u8>]>::len(self)
    }

    #[inline]
    unsafe fn as_uninit(&mut self) -> &mut [MaybeUninit<u8>] {
        self
    }
}

/// Fills `dst` from the first words of `src` (as far as `src` reaches).
#[inline]
pub(crate) fn load_bytes<D: Bytes + ?Sized>(src: &[AtomicU64], dst: &mut D) {
    // SAFETY: the copies below write only initialized bytes (the words'
    // values), as `as_uninit` asks.
    let dst = unsafe { dst.as_uninit() };
    let done = bulk::load(src, dst.as_mut_ptr().cast(), dst.len());
    // A small copy (no blocks) takes the words whole, without re-slicing.
    if done == 0 {
        words::load_bytes(src, dst);
    } else {
        words::load_bytes(&src[done / 8..], &mut dst[done..]);
    }
}

/// Stores `src` into the bytes of `dst` starting at byte `offset`; the
/// bytes of a word covered in part keep their value. The caller owns the
/// words. Panics if the range is outside `dst`.
#[inline]
pub(crate) fn store_range(dst: &[AtomicU64], offset: usize, src: &[u8]) {
    let done = match dst.get(offset / 8..) {
        Some(words) if offset.is_multiple_of(8) => bulk::store(words, src),
        _ => 0,
    };
    words::store_range(dst, offset + done, &src[done..]);
}

/// Fills `dst` from the bytes of `src` starting at byte `offset`. Panics
/// if the range is outside `src`.
#[inline]
pub(crate) fn load_range<D: Bytes + ?Sized>(src: &[AtomicU64], offset: usize, dst: &mut D) {
    // SAFETY: the copies below write only initialized bytes (the words'
    // values), as `as_uninit` asks.
    let dst = unsafe { dst.as_uninit() };
    let done = match src.get(offset / 8..) {
        Some(words) if offset.is_multiple_of(8) => bulk::load(words, dst.as_mut_ptr().cast(), dst.len()),
        _ => 0,
    };
    words::load_range(src, offset + done, &mut dst[done..]);
}

/// Asks the CPU to bring the line holding the first of `words` into its
/// cache (`prefetcht0` on `x86_64`; nothing elsewhere, and in loom and
/// Miri builds). A hint: it loads nothing the program sees, so it is no
/// access in Rust's memory model and races with nothing.
#[inline]
pub(crate) fn prefetch(words: &[AtomicU64]) {
    #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
    if let Some(first) = words.first() {
        // SAFETY: `_mm_prefetch` needs SSE, which every `x86_64` CPU has;
        // it never faults (whatever the address) and reads nothing into
        // the program's state, and the address is that of a live word.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                core::ptr::from_ref(first).cast::<i8>(),
            );
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri))))]
    let _ = words;
}

/// The per-word copies: one relaxed atomic access per word.
mod words {
    use super::{AtomicU64, MaybeUninit, Ordering};

    /// See [`super::store_bytes`].
    #[inline]
    pub(super) fn store_bytes(dst: &[AtomicU64], src: &[u8]) {
        // Whole words first, each an 8-byte load the compiler keeps inline
        // (a variable-length copy per word would be a `memcpy` call per word).
        let whole = src.len() / 8 * 8;
        let (full, tail) = src.split_at(whole);
        for (word, chunk) in dst.iter().zip(full.chunks_exact(8)) {
            let bytes: [u8; 8] = chunk.try_into().expect("chunks_exact(8)");
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
        if let Some(word) = dst.get(whole / 8).filter(|_| !tail.is_empty()) {
            let mut bytes = [0u8; 8];
            bytes[..tail.len()].copy_from_slice(tail);
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
    }

    /// See [`super::store_range`]: a relaxed store per word covered, and a
    /// relaxed load, merge and store for a word covered in part.
    #[inline]
    pub(super) fn store_range(dst: &[AtomicU64], offset: usize, src: &[u8]) {
        let mut taken = 0;
        let mut position = offset;
        while taken < src.len() {
            let word = &dst[position / 8];
            let within = position % 8;
            let n = (8 - within).min(src.len() - taken);
            let mut bytes = if n == 8 { [0; 8] } else { word.load(Ordering::Relaxed).to_ne_bytes() };
            bytes[within..within + n].copy_from_slice(&src[taken..taken + n]);
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
            taken += n;
            position += n;
        }
    }

    /// See [`super::load_range`]: one relaxed load per word touched.
    #[inline]
    pub(super) fn load_range(src: &[AtomicU64], offset: usize, dst: &mut [MaybeUninit<u8>]) {
        let mut filled = 0;
        let mut position = offset;
        while filled < dst.len() {
            let bytes = src[position / 8].load(Ordering::Relaxed).to_ne_bytes().map(MaybeUninit::new);
            let within = position % 8;
            let n = (8 - within).min(dst.len() - filled);
            dst[filled..filled + n].copy_from_slice(&bytes[within..within + n]);
            filled += n;
            position += n;
        }
    }

    /// See [`super::load_bytes`]: one relaxed load per word.
    #[inline]
    pub(super) fn load_bytes(src: &[AtomicU64], dst: &mut [MaybeUninit<u8>]) {
        // Whole words first (see `store_bytes`), then the part word.
        let whole = dst.len() / 8 * 8;
        let (full, tail) = dst.split_at_mut(whole);
        for (word, chunk) in src.iter().zip(full.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes().map(MaybeUninit::new));
        }
        if let Some(word) = src.get(whole / 8).filter(|_| !tail.is_empty()) {
            let bytes = word.load(Ordering::Relaxed).to_ne_bytes().map(MaybeUninit::new);
            tail.copy_from_slice(&bytes[..tail.len()]);
        }
    }
}

/// The vector moves (`x86_64` outside loom and Miri): each function copies
/// whole 64-byte blocks from the start and returns how many bytes it
/// copied (a multiple of 64, so the per-word rest starts on a word).
#[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
mod bulk {
    use super::AtomicU64;
    use core::arch::asm;

    /// Bytes below which the per-word copy is used alone.
    const BLOCK: usize = 64;

    /// Bytes of whole blocks from which a copy uses `rep movsb` (where
    /// the CPU has fast strings): glibc's threshold with 32-byte vectors.
    const STRING_COPY: usize = 4096;

    /// Copies the whole 64-byte blocks of `src` (as far as `dst` reaches)
    /// into `dst`; returns the bytes copied. Only the length check is
    /// inlined: a small item's copy stays a few instructions in its
    /// caller (which keeps the callers small enough to be inlined in
    /// turn), a large one pays one call.
    #[inline]
    pub(super) fn store(dst: &[AtomicU64], src: &[u8]) -> usize {
        if src.len() < BLOCK { 0 } else { store_blocks(dst, src) }
    }

    /// [`store`] for 64 bytes and more.
    #[inline(never)]
    fn store_blocks(dst: &[AtomicU64], src: &[u8]) -> usize {
        let len = blocks(src.len(), dst.len());
        if len > 0 {
            // SAFETY: `len <= src.len()` and `len <= 8 * dst.len()`
            // (`blocks`), so both ranges lie in their slices, which live
            // for this call; they do not overlap (`src` is a shared borrow
            // of local bytes, `dst` atomics: no `&[u8]` can point into
            // atomics). Writing through a pointer made from `&[AtomicU64]`
            // is allowed: the words are `UnsafeCell`s. Not a data race:
            // see the module comment (the copy is equivalent to relaxed
            // atomic stores of the bytes; the caller owns the words).
            unsafe { copy(dst.as_ptr().cast::<u8>().cast_mut(), src.as_ptr(), len) };
        }
        len
    }

    /// Copies the whole 64-byte blocks of the `len` bytes at `dst` (as far
    /// as `src` reaches) from `src`; returns the bytes copied. `dst` must
    /// be valid for writes of `len` bytes (it comes from a `&mut` slice).
    #[inline]
    pub(super) fn load(src: &[AtomicU64], dst: *mut u8, len: usize) -> usize {
        if len < BLOCK { 0 } else { load_blocks(src, dst, len) }
    }

    /// [`load`] for 64 bytes and more (same contract).
    #[inline(never)]
    fn load_blocks(src: &[AtomicU64], dst: *mut u8, len: usize) -> usize {
        let len = blocks(len, src.len());
        if len > 0 {
            // SAFETY: `len` is at most the caller's length (the bytes of a
            // `&mut` slice, valid for writes and borrowed by no one else)
            // and at most `8 * src.len()` (`blocks`); the ranges do not
            // overlap (atomics and a unique borrow). Reading through a
            // pointer made from `&[AtomicU64]` is allowed. Not a data
            // race: see the module comment (equivalent to relaxed atomic
            // loads of the bytes; a torn result is what the callers'
            // protocols already check for).
            unsafe { copy(dst, src.as_ptr().cast::<u8>(), len) };
        }
        len
    }

    /// The largest multiple of 64 within `len` bytes and `words` words.
    #[inline]
    fn blocks(len: usize, words: usize) -> usize {
        let len = len.min(words.saturating_mul(8));
        if len < BLOCK { 0 } else { len / BLOCK * BLOCK }
    }

    /// Copies `len` bytes (a non-zero multiple of 64).
    ///
    /// # Safety
    ///
    /// `src` is valid for reads and `dst` for writes of `len` bytes, the
    /// two do not overlap, and no Rust reference other than `&AtomicU64`
    /// points into either range while the copy runs.
    #[inline]
    unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) {
        debug_assert!(len > 0 && len.is_multiple_of(BLOCK));
        if len >= STRING_COPY && std::arch::is_x86_feature_detected!("ermsb") {
            // SAFETY: the caller's contract; the CPU has fast strings
            // (checked). Not a data race, and ordered with the stores and
            // loads around it (module comment).
            unsafe { copy_string(dst, src, len) };
        } else if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the caller's contract; AVX is there (checked).
            unsafe { copy_avx(dst, src, len) };
        } else {
            // SAFETY: the caller's contract (SSE2 is part of x86_64).
            unsafe { copy_sse2(dst, src, len) };
        }
    }

    /// `copy` with one `rep movsb`.
    ///
    /// # Safety
    ///
    /// As for `copy`.
    #[inline]
    unsafe fn copy_string(dst: *mut u8, src: *const u8, len: usize) {
        // SAFETY: `rep movsb` reads `[src, src + len)` and writes `[dst,
        // dst + len)` upwards (the direction flag is clear at every Rust
        // function boundary and in the asm block, as the ABI requires),
        // valid and not overlapping (the caller's contract); the three
        // registers it changes are declared. Not a data race, and ordered
        // with the stores around it (module comment).
        unsafe {
            asm!(
                "rep movsb",
                inout("rcx") len => _,
                inout("rdi") dst => _,
                inout("rsi") src => _,
                options(nostack, preserves_flags),
            );
        }
    }

    /// `copy` with 32-byte AVX moves, 64 bytes per turn.
    ///
    /// # Safety
    ///
    /// As for `copy`, and the CPU has AVX.
    #[inline]
    unsafe fn copy_avx(dst: *mut u8, src: *const u8, len: usize) {
        // SAFETY: the loop reads `[src, src + len)` and writes `[dst, dst
        // + len)` (`len` a non-zero multiple of 64, counted down to 0),
        // valid and not overlapping (the caller's contract); the CPU has
        // AVX (the caller's contract); the clobbered registers are
        // declared and `vzeroupper` leaves the upper halves clean for SSE
        // code after it. Not a data race (module comment).
        unsafe {
            asm!(
                "2:",
                "vmovdqu ymm0, ymmword ptr [{src}]",
                "vmovdqu ymm1, ymmword ptr [{src} + 32]",
                "vmovdqu ymmword ptr [{dst}], ymm0",
                "vmovdqu ymmword ptr [{dst} + 32], ymm1",
                "add {src}, 64",
                "add {dst}, 64",
                "sub {len}, 64",
                "jnz 2b",
                "vzeroupper",
                src = inout(reg) src => _,
                dst = inout(reg) dst => _,
                len = inout(reg) len => _,
                out("ymm0") _,
                out("ymm1") _,
                options(nostack),
            );
        }
    }

    /// `copy` with 16-byte SSE2 moves, 64 bytes per turn.
    ///
    /// # Safety
    ///
    /// As for `copy`.
    #[inline]
    unsafe fn copy_sse2(dst: *mut u8, src: *const u8, len: usize) {
        // SAFETY: as in `copy_avx`, with SSE2, which every x86_64 CPU has.
        unsafe {
            asm!(
                "2:",
                "movdqu xmm0, xmmword ptr [{src}]",
                "movdqu xmm1, xmmword ptr [{src} + 16]",
                "movdqu xmm2, xmmword ptr [{src} + 32]",
                "movdqu xmm3, xmmword ptr [{src} + 48]",
                "movdqu xmmword ptr [{dst}], xmm0",
                "movdqu xmmword ptr [{dst} + 16], xmm1",
                "movdqu xmmword ptr [{dst} + 32], xmm2",
                "movdqu xmmword ptr [{dst} + 48], xmm3",
                "add {src}, 64",
                "add {dst}, 64",
                "sub {len}, 64",
                "jnz 2b",
                src = inout(reg) src => _,
                dst = inout(reg) dst => _,
                len = inout(reg) len => _,
                out("xmm0") _,
                out("xmm1") _,
                out("xmm2") _,
                out("xmm3") _,
                options(nostack),
            );
        }
    }
}

/// The portable build (other targets, loom, Miri): no bulk copy, the
/// per-word path does everything.
#[cfg(not(all(target_arch = "x86_64", not(loom), not(miri))))]
mod bulk {
    use super::AtomicU64;

    /// Copies nothing (returns 0 bytes).
    #[inline]
    pub(super) fn store(_dst: &[AtomicU64], _src: &[u8]) -> usize {
        0
    }

    /// Copies nothing (returns 0 bytes).
    #[inline]
    pub(super) fn load(_src: &[AtomicU64], _dst: *mut u8, _len: usize) -> usize {
        0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn heap(words: usize, fill: u64) -> Vec<AtomicU64> {
        (0..words).map(|_| AtomicU64::new(fill)).collect()
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i.to_le_bytes()[0]).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn sizes_around_the_block_round_trip_and_stop_at_their_end() {
        // Around the block (64), the string copy (4096) and a 64 KiB item.
        for len in [
            0usize, 1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 191, 200, 1024, 1031, 4095, 4096, 4097, 4159, 4160, 65_536,
            65_541,
        ] {
            let words = heap(len.div_ceil(8) + 2, u64::MAX);
            let src = pattern(len, 3);
            store_bytes(&words, &src);
            let mut back = vec![0xAA; len];
            load_bytes(&words, &mut back[..]);
            assert_eq!(back, src, "len {len}");
            let mut uninit = vec![MaybeUninit::new(0xAAu8); len];
            load_bytes(&words, &mut uninit[..]);
            // SAFETY: every byte was initialized (by `vec!` and the copy).
            assert!(uninit.iter().zip(&src).all(|(u, s)| unsafe { u.assume_init() } == *s), "len {len} uninit");
            for word in &words[len.div_ceil(8)..] {
                assert_eq!(word.load(Ordering::Relaxed), u64::MAX, "len {len}: a word past the copy changed");
            }
        }
    }

    #[test]
    fn a_copy_stops_where_the_words_end() {
        // Words of 72 bytes (one whole block) with 200 offered; words of
        // 5,000 bytes (4,992 in whole blocks: a string copy each way) with
        // 8,000 offered.
        for (words, offered) in [(9, 200), (625, 8000)] {
            let reach = words * 8;
            let words = heap(words, 0);
            let src = pattern(offered, 5);
            store_bytes(&words, &src);
            let mut back = vec![0; offered];
            load_bytes(&words, &mut back[..]);
            assert_eq!(back[..reach], src[..reach], "{offered} offered");
            assert!(back[reach..].iter().all(|b| *b == 0), "{offered} offered: bytes past the words stay as they were");
        }
    }

    proptest! {
        /// Any range at any offset, large enough to use the vector moves:
        /// exactly its bytes change, and they load back.
        #[test]
        fn ranges_change_exactly_their_bytes(offset in 0usize..80, len in 0usize..4400, seed in any::<u8>()) {
            let total = 4480;
            let before = pattern(total, seed.wrapping_add(1));
            let words = heap(total / 8, 0);
            store_bytes(&words, &before);
            let src = pattern(len, seed);
            store_range(&words, offset, &src);
            let mut expected = before.clone();
            expected[offset..offset + len].copy_from_slice(&src);
            let mut all = vec![0; total];
            load_bytes(&words, &mut all[..]);
            prop_assert_eq!(&all, &expected);
            let mut back = vec![0; len];
            load_range(&words, offset, &mut back[..]);
            prop_assert_eq!(&back, &src);
        }
    }
}
