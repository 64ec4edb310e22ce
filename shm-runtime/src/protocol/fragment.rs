//! The fragment protocol of a byte ring (`FORMAT.md`, `bytering`): how a
//! message is laid over one or more consecutive slots, what a producer
//! checks before it begins a message, and what a consumer does with each
//! slot it takes. The slot words live in a ring's region, so these
//! functions work on heap words in the tests and the loom model below;
//! `ByteRing` in `byte_ring.rs` uses them.
//!
//! Every slot says what it is, in its header word:
//!
//! ```text
//! bit 63      MORE: the message continues in the next slot
//! bit 62      ABORT: the unfinished message before this slot is void;
//!             the header is exactly this bit
//! bit 61      CONT: this slot continues a message begun in an earlier slot
//! bits 0..61  number of message bytes in this slot, at most the slot size
//! ```
//!
//! So the state "a message is under way" lives in the segment, not in
//! either end, and a promise holds whichever end dies at whichever
//! fragment and whoever attaches next: a message is returned whole or not
//! at all (docs/RELIABILITY.md, promise 15).
//!
//! - A consumer returns a message only when it has taken, in order, a slot
//!   without CONT (the start) and every slot after it up to one without
//!   MORE. A start while it holds an unfinished message drops that one (its
//!   producer died or gave up); a CONT slot while it holds none is dropped
//!   (the start was taken by a consumer that died, or dropped by
//!   `reset_read` or the length limit), and with it, slot by slot, the
//!   rest of that message.
//! - A producer about to begin a message looks at the last slot published
//!   (write position - 1): if it says MORE, a message is open, left by a
//!   `write_partial` that gave up or by a producer that died, and it
//!   publishes an ABORT slot first. Only the producer writes slots, and it
//!   overwrites that one only a lap later, so it is still there for a
//!   producer that attaches after a crash. (The consumer's start rule alone
//!   keeps messages whole; the ABORT slot lets a consumer drop the cut
//!   message at once instead of holding it until the next message comes,
//!   and says in the ring what happened.)
//!
//! Headers are untrusted: a length above the slot size, or ABORT with any
//! other bit, is [`Corrupt`]. Every other header is something an honest
//! producer can leave behind, so it has a defined meaning.
//!
//! Ordering: the words of a slot are stored and loaded `Relaxed`; the ring
//! orders them (the producer's `Release` store of the write position after
//! it fills the slots, the consumer's `Acquire` load before it takes them;
//! `ring.rs`). A producer that attaches reads the last published slot after
//! `Ring::producer`'s `Acquire` load of the write position, which pairs
//! with the `Release` store that published that slot; a dead predecessor's
//! stores are, besides, all done before the kernel reports it dead.

use crate::protocol::cell::{load_bytes, store_bytes};
use crate::protocol::ring::Corrupt;
use crate::protocol::sync::{AtomicU64, Ordering};

/// Header bit: the message continues in the next slot.
pub(crate) const MORE: u64 = 1 << 63;
/// Header bit: the unfinished message before this slot is void. The
/// header of such a slot is exactly this bit.
pub(crate) const ABORT: u64 = 1 << 62;
/// Header bit: this slot continues a message begun in an earlier slot.
pub(crate) const CONT: u64 = 1 << 61;
/// Header bits holding the number of bytes in the slot; also the largest
/// slot size.
pub(crate) const LEN_MASK: u64 = CONT - 1;

/// The header of a fragment of `len` bytes (at most [`LEN_MASK`]): CONT
/// unless it `begins` its message, MORE unless it `ends` it.
#[inline]
pub(crate) fn header(len: usize, begins: bool, ends: bool) -> u64 {
    let cont = if begins { 0 } else { CONT };
    let more = if ends { 0 } else { MORE };
    len as u64 | cont | more
}

/// Stores a fragment into a free slot's `words`: the header, then `chunk`
/// (at most the slot size). `Relaxed`: the caller publishes the slot with
/// the ring's `Release` store of the write position.
#[inline]
pub(crate) fn put(words: &[AtomicU64], chunk: &[u8], begins: bool, ends: bool) {
    // Relaxed: published by the Release store in `Ring::publish`, which
    // pairs with the consumer's Acquire load in `Ring::available`.
    words[0].store(header(chunk.len(), begins, ends), Ordering::Relaxed);
    store_bytes(&words[1..], chunk);
}

/// Stores an ABORT mark into a free slot's `words` (published like
/// [`put`]'s).
#[inline]
pub(crate) fn put_abort(words: &[AtomicU64]) {
    // Relaxed: published as in `put`.
    words[0].store(ABORT, Ordering::Relaxed);
}

/// Whether the message that `last`, the last slot published (the one
/// before the write position), belongs to is still open: its header says
/// MORE. A fresh ring's zero header does not. A garbage header that says
/// MORE costs one ABORT slot, never a spliced message.
///
/// `Relaxed`: the slot was published before the write position the caller
/// holds, and the caller either wrote it or loaded that position with
/// `Acquire` when it attached (`Ring::producer`), which pairs with the
/// `Release` store that published it.
#[inline]
pub(crate) fn left_open(last: &[AtomicU64]) -> bool {
    // Relaxed: ordered after the store by `Ring::producer`'s Acquire load
    // of the write position, which pairs with the Release store in
    // `Ring::publish` (or by program order, for our own slot).
    last[0].load(Ordering::Relaxed) & MORE != 0
}

/// What a slot's header asks of a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// ABORT: drop the unfinished message, if any.
    Abort,
    /// A continuation with no start before it (this consumer holds no
    /// unfinished message): drop the slot.
    Orphan,
    /// Begin a message with the slot's `len` bytes, dropping an
    /// unfinished one; `whole` if the slot is also its last.
    Begin { len: usize, whole: bool },
    /// Append the slot's `len` bytes to the unfinished message; `last` if
    /// the message is whole with them.
    Append { len: usize, last: bool },
}

/// What a slot whose header is `header` asks of a consumer that holds an
/// unfinished message (`open`) or none, in a ring of `slot`-byte slots.
///
/// # Errors
///
/// [`Corrupt`] for a header no producer writes: a length above `slot`,
/// or ABORT with any other bit.
#[inline]
pub(crate) fn step(header: u64, open: bool, slot: usize) -> Result<Step, Corrupt> {
    let len = header & LEN_MASK;
    let corrupt = len > slot as u64 || (header & ABORT != 0 && header != ABORT);
    if corrupt {
        return Err(Corrupt { what: "message header", found: header });
    }
    if header == ABORT {
        return Ok(Step::Abort);
    }
    let len = usize::try_from(len).expect("at most the slot size");
    let ends = header & MORE == 0;
    Ok(match (header & CONT != 0, open) {
        (false, _) => Step::Begin { len, whole: ends },
        (true, true) => Step::Append { len, last: ends },
        (true, false) => Step::Orphan,
    })
}

/// Replaces `message` with the first `len` bytes of `words`, copied
/// straight into its buffer (not zeroed first: a `memset` call per
/// message before the copy that overwrites it).
///
/// # Panics
///
/// If `words` holds fewer than `len` bytes (the caller checked `len`
/// against the slot size, which they hold).
#[inline]
fn load_whole(words: &[AtomicU64], len: usize, message: &mut Vec<u8>) {
    assert!(len <= words.len() * 8, "a fragment's length is within its slot");
    message.clear();
    message.reserve(len);
    let spare = &mut message.spare_capacity_mut()[..len];
    load_bytes(words, spare);
    // SAFETY: `load_bytes` wrote the first `len` bytes of the spare
    // capacity (it fills all of `spare`, as far as `words` reaches, and
    // `words` holds at least `len` bytes: asserted above), and `reserve`
    // made the capacity at least `len`.
    unsafe { message.set_len(len) };
}

/// What taking one slot gave a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// No message yet: the slot was a fragment of an unfinished message,
    /// an ABORT, or a continuation without its start (dropped).
    Nothing,
    /// A whole message is in the caller's buffer.
    Message,
    /// The message is `len` bytes or more, over the consumer's limit: it
    /// was dropped, and the rest of its fragments are dropped as they come
    /// (they are continuations of nothing now).
    TooLarge(usize),
}

/// A consumer's part of the protocol: the message it is putting together
/// from fragments, and nothing else (a consumer that attaches starts with
/// none, whatever its predecessor held).
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    /// The fragments of the unfinished message taken so far; empty unless
    /// `open`. Reused, so steady traffic allocates nothing.
    partial: Vec<u8>,
    /// Whether an unfinished message is held: the last slot taken began or
    /// continued a message and said MORE.
    open: bool,
}

impl Reassembly {
    /// Takes the slot `words` (a header and the bytes of a `slot`-byte
    /// slot, published and not yet released): a whole message goes into
    /// `message` (replacing what it held), at most `max` bytes.
    ///
    /// # Errors
    ///
    /// [`Corrupt`] for a header no producer writes; nothing is changed
    /// then.
    #[inline]
    pub(crate) fn take(
        &mut self,
        words: &[AtomicU64],
        slot: usize,
        max: usize,
        message: &mut Vec<u8>,
    ) -> Result<Taken, Corrupt> {
        // Relaxed: `Ring::available`'s Acquire load of the write position
        // (or `Ring::consumer`'s), which pairs with the Release store in
        // `Ring::publish`, ordered this slot's stores before us.
        let header = words[0].load(Ordering::Relaxed);
        Ok(match step(header, self.open, slot)? {
            Step::Abort | Step::Orphan => {
                self.void();
                Taken::Nothing
            }
            Step::Begin { len, whole: true } => {
                self.void();
                if len > max {
                    return Ok(Taken::TooLarge(len));
                }
                // A whole message in one slot: straight into the caller's
                // buffer.
                load_whole(&words[1..], len, message);
                Taken::Message
            }
            Step::Begin { len, whole: false } => {
                self.void();
                self.open = true;
                self.append(words, len, false, max, message)
            }
            Step::Append { len, last } => self.append(words, len, last, max, message),
        })
    }

    /// The one-slot fast path of [`take`](Self::take): if no unfinished
    /// message is held and the slot `words` holds a whole message of at
    /// most `limit` bytes (the smaller of the slot size and the caller's
    /// longest message), copies it into `message` and returns `true`;
    /// otherwise changes nothing and returns `false`, and the caller takes
    /// the slot with [`take`](Self::take), which loads the header again
    /// and says what it is (a fragment, an ABORT, a message over the
    /// limit, or [`Corrupt`]).
    ///
    /// One compare decides it: a whole message that begins and ends in
    /// its slot has a bare length for its header (no flag bit), so a
    /// header at most `limit` is exactly such a message with a length
    /// already checked against the slot size (`limit` is at most that);
    /// any flag bit makes the header larger than every length.
    #[inline]
    pub(crate) fn take_whole(&self, words: &[AtomicU64], limit: usize, message: &mut Vec<u8>) -> bool {
        if self.open {
            return false;
        }
        // Relaxed: as in `take`.
        let header = words[0].load(Ordering::Relaxed);
        if header > limit as u64 {
            return false;
        }
        // Not `open`, so `partial` is empty: nothing to void. The length is
        // at most `limit`, a `usize`.
        #[expect(clippy::cast_possible_truncation, reason = "at most `limit`, a usize")]
        load_whole(&words[1..], header as usize, message);
        true
    }

    /// Appends the slot's `len` bytes to the unfinished message; if that
    /// makes it whole (`last`), hands it over in `message`.
    fn append(&mut self, words: &[AtomicU64], len: usize, last: bool, max: usize, message: &mut Vec<u8>) -> Taken {
        let start = self.partial.len();
        if start.saturating_add(len) > max {
            self.void();
            return Taken::TooLarge(start.saturating_add(len));
        }
        self.partial.resize(start + len, 0);
        load_bytes(&words[1..], &mut self.partial[start..]);
        if !last {
            return Taken::Nothing;
        }
        self.open = false;
        message.clear();
        core::mem::swap(message, &mut self.partial);
        Taken::Message
    }

    /// Drops the unfinished message, if any: the continuations of it that
    /// come later are dropped as they come.
    #[inline]
    pub(crate) fn void(&mut self) {
        self.partial.clear();
        self.open = false;
    }

    /// Whether an unfinished message is held.
    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        self.open
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SLOT: usize = 8;

    fn slot_words() -> Vec<AtomicU64> {
        core::iter::repeat_with(|| AtomicU64::new(0)).take(1 + SLOT / 8).collect()
    }

    #[test]
    fn every_header_has_one_meaning() {
        let h = |len: usize, begins, ends| header(len, begins, ends);
        for open in [false, true] {
            assert_eq!(step(h(3, true, true), open, SLOT), Ok(Step::Begin { len: 3, whole: true }));
            assert_eq!(step(h(8, true, false), open, SLOT), Ok(Step::Begin { len: 8, whole: false }));
            assert_eq!(step(ABORT, open, SLOT), Ok(Step::Abort));
            for junk in
                [ABORT | 1, ABORT | MORE, ABORT | CONT, ABORT | CONT | MORE, 9, CONT | 9, MORE | CONT | 9, 1 << 60]
            {
                assert_eq!(step(junk, open, SLOT), Err(Corrupt { what: "message header", found: junk }), "{junk:#x}");
            }
        }
        assert_eq!(step(h(8, false, false), true, SLOT), Ok(Step::Append { len: 8, last: false }));
        assert_eq!(step(h(0, false, true), true, SLOT), Ok(Step::Append { len: 0, last: true }));
        assert_eq!(step(h(8, false, false), false, SLOT), Ok(Step::Orphan), "a continuation of nothing");
        assert_eq!(step(h(2, false, true), false, SLOT), Ok(Step::Orphan));
        assert_eq!(h(5, true, true), 5, "a one-slot message has a bare length");
        assert_eq!(h(5, false, false), 5 | CONT | MORE);
    }

    /// The one-slot fast path agrees with `take` wherever it answers, and
    /// leaves every other header (fragments, ABORT, over the limit,
    /// corrupt) to `take` without touching anything.
    #[test]
    fn take_whole_takes_exactly_the_one_slot_messages_within_the_limit() {
        let words = slot_words();
        words[1].store(u64::from_ne_bytes(*b"abcdefgh"), Ordering::Relaxed);
        let headers = [0, 1, 5, 7, 8, 9, 1 << 60, CONT | 3, MORE | 3, MORE | CONT | 3, ABORT, ABORT | 3, u64::MAX];
        for limit in [0, 4, SLOT] {
            for open in [false, true] {
                for h in headers {
                    words[0].store(h, Ordering::Relaxed);
                    let assembly = Reassembly { partial: if open { b"xy".to_vec() } else { Vec::new() }, open };
                    let mut message = b"old".to_vec();
                    let fast = assembly.take_whole(&words, limit, &mut message);
                    let whole = !open && h <= limit as u64;
                    assert_eq!(fast, whole, "header {h:#x}, limit {limit}, open {open}");
                    if fast {
                        let mut general = Reassembly::default();
                        let mut expected = Vec::new();
                        assert_eq!(general.take(&words, SLOT, limit, &mut expected), Ok(Taken::Message));
                        assert_eq!(message, expected);
                        assert_eq!(message, &b"abcdefgh"[..usize::try_from(h).unwrap()]);
                    } else {
                        assert_eq!(message, b"old", "header {h:#x}: nothing changed");
                    }
                }
            }
        }
    }

    #[test]
    fn the_producer_sees_an_open_message_in_the_last_slot() {
        let words = slot_words();
        assert!(!left_open(&words), "a fresh slot");
        for (begins, ends, open) in
            [(true, true, false), (true, false, true), (false, false, true), (false, true, false)]
        {
            put(&words, b"ab", begins, ends);
            assert_eq!(left_open(&words), open, "begins {begins}, ends {ends}");
        }
        put_abort(&words);
        assert!(!left_open(&words), "an ABORT closes the message");
    }

    /// The slots of `messages` (lengths) as a producer lays them out, each
    /// message's bytes made from its index; `cut` stops message `i` after
    /// `f` fragments (a producer that dies or gives up), and `abort` puts
    /// an ABORT slot before the next message, as a producer that looks at
    /// the last slot does.
    fn lay_out(messages: &[usize], cut: Option<(usize, usize)>, abort: bool) -> (Vec<Vec<AtomicU64>>, Vec<usize>) {
        let mut slots = Vec::new();
        // The slot each message begins at, for whole messages only.
        let mut starts = Vec::new();
        for (i, &len) in messages.iter().enumerate() {
            let bytes = body(i, len);
            let chunks: Vec<&[u8]> = if bytes.is_empty() { vec![&[]] } else { bytes.chunks(SLOT).collect() };
            let sent = match cut {
                Some((at, f)) if at == i => f.min(chunks.len() - 1),
                _ => chunks.len(),
            };
            if sent == chunks.len() {
                starts.push(slots.len());
            } else {
                starts.push(usize::MAX);
            }
            for (k, chunk) in chunks.iter().enumerate().take(sent) {
                let words = slot_words();
                put(&words, chunk, k == 0, k + 1 == chunks.len());
                slots.push(words);
            }
            if 0 < sent && sent < chunks.len() && abort {
                let words = slot_words();
                put_abort(&words);
                slots.push(words);
            }
        }
        (slots, starts)
    }

    fn body(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|k| (i * 31 + k).to_le_bytes()[0]).collect()
    }

    proptest! {
        /// H7 on heap words: a stream of messages where the producer cut
        /// one of them short (with or without the ABORT slot) and a
        /// consumer that attaches at any slot (its predecessor died
        /// there). The consumer returns exactly the messages that were
        /// sent whole and begin at or after that slot: no splice, no
        /// truncation, no continuation taken for a message.
        #[test]
        fn messages_are_whole_or_absent(
            lens in prop::collection::vec(0usize..4 * SLOT + 1, 1..8),
            cut in any::<Option<(usize, usize)>>(),
            abort in any::<bool>(),
            attach in any::<usize>(),
        ) {
            let cut = cut.map(|(i, f)| (i % lens.len(), f % 4));
            let (slots, starts) = lay_out(&lens, cut, abort);
            let attach = attach % (slots.len() + 1);
            let expected: Vec<Vec<u8>> = lens
                .iter()
                .enumerate()
                .filter(|(i, _)| starts[*i] != usize::MAX && starts[*i] >= attach)
                .map(|(i, &len)| body(i, len))
                .collect();
            let mut consumer = Reassembly::default();
            let mut got = Vec::new();
            let mut message = Vec::new();
            for words in &slots[attach..] {
                if consumer.take(words, SLOT, usize::MAX, &mut message).unwrap() == Taken::Message {
                    got.push(message.clone());
                }
            }
            prop_assert_eq!(got, expected);
        }
    }
}

/// Loom model of the fragment protocol over a real ring of heap words
/// (run with the cell's models, see `cell.rs`), H7: producer 1 publishes
/// the first fragments of a three-fragment message, one store each, and
/// dies; producer 2 attaches and writes a short message. Meanwhile, on
/// another thread, consumer 1 takes some slots (releasing them, as `read`
/// does) and dies, and consumer 2 attaches and reads on. Every message
/// returned is one that was sent whole, returned whole: never a splice of
/// the two messages, never the cut one, never its tail. Deaths are
/// modelled as a hand-over on the same thread: the kernel reports a
/// process dead only after all its stores, so the successor sees them
/// (what a dead holder leaves behind is what the model is about, not how
/// its death is learnt).
///
/// The scenarios: producer 1 cut after two fragments (with and without
/// producer 2's ABORT slot, so the consumer's start rule is checked
/// alone), consumer 1 dead after one or two fragments of a whole message,
/// and both. Without the start rule the model returns the splice; without
/// the continuation rule, the cut message's tail.
///
/// Weakening the ring's publishing store or the consumer's load of it
/// must make the model fail: the consumer then takes a slot before its
/// header arrived. The fragment protocol adds no ordering of its own.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::protocol::ring::{ConsumerCursor, Ring, Shape, layout_words};
    use crate::protocol::sync::{self, Site, assert_mutants_fail, with_mutant};
    use loom::sync::Arc;

    /// Bytes per slot: one data word after the header.
    const SLOT: usize = 8;
    const SLOT_WORDS: usize = 2;
    /// Room for the longest stream (two fragments, an ABORT and a short
    /// message; or three fragments and a short message), so no side waits
    /// for the other to make room.
    const CAPACITY: u64 = 4;

    /// Producer 1's message: three fragments (8, 8 and 4 bytes), every
    /// byte different, so a truncation or a continuation shows.
    fn long() -> Vec<u8> {
        (1..=20).collect()
    }

    /// Producer 2's message.
    fn short() -> Vec<u8> {
        vec![0xEE; 5]
    }

    /// The scenario: producer 1 publishes `cut` of the three fragments
    /// (3: the message is whole); producer 2 looks at the last slot and
    /// voids an open message with ABORT if `check`; consumer 1 takes
    /// `first_takes` slots before it dies.
    fn whole_or_absent(cut: usize, check: bool, first_takes: u64) {
        loom::model(move || {
            let words: Vec<AtomicU64> =
                (0..layout_words(CAPACITY, SLOT_WORDS).unwrap()).map(|_| AtomicU64::new(0)).collect();
            let shape = Shape { capacity: CAPACITY, slot_words: SLOT_WORDS, element_bytes: SLOT as u64 };
            Ring::init(&words, shape, 0);
            let words = Arc::new(words);
            // The consumers run on a thread of their own: loom lets a
            // thread load a value older than the newest only if that
            // thread has not seen it before its last yield, and this thread
            // made the words (saw their zeros).
            let consumers = {
                let words = Arc::clone(&words);
                loom::thread::spawn(move || consume(&words, cut, check, first_takes))
            };
            let ring = Ring::attach(&words, SLOT_WORDS, SLOT as u64).unwrap();
            let message = long();
            let chunks: Vec<&[u8]> = message.chunks(SLOT).collect();
            let mut p = ring.producer().unwrap();
            for (k, chunk) in chunks.iter().enumerate().take(cut) {
                assert!(ring.free(&mut p, 1).unwrap() >= 1, "the ring has room for the stream");
                put(ring.free_slot(&p, 0), chunk, k == 0, k + 1 == chunks.len());
                ring.publish(&mut p, 1);
            }
            // Producer 1 is dead; producer 2 attaches.
            let mut p = ring.producer().unwrap();
            if check && left_open(ring.free_slot(&p, CAPACITY - 1)) {
                assert!(ring.free(&mut p, 1).unwrap() >= 1);
                put_abort(ring.free_slot(&p, 0));
                ring.publish(&mut p, 1);
            }
            assert!(ring.free(&mut p, 1).unwrap() >= 1);
            put(ring.free_slot(&p, 0), &short(), true, true);
            ring.publish(&mut p, 1);
            let returned = consumers.join().unwrap();
            // Consumer 1 took the start of producer 1's message if it took
            // anything: then nobody may return it.
            let long_whole = cut == 3 && first_takes == 0;
            let expected = if long_whole { vec![long(), short()] } else { vec![short()] };
            assert_eq!(returned, expected, "a message came back cut, spliced or from its middle");
        });
    }

    /// Consumer 1 takes `first_takes` slots and dies; consumer 2 attaches
    /// and reads the rest of the stream `whole_or_absent` describes.
    /// Returns the messages both returned.
    fn consume(words: &[AtomicU64], cut: usize, check: bool, first_takes: u64) -> Vec<Vec<u8>> {
        let ring = Ring::attach(words, SLOT_WORDS, SLOT as u64).unwrap();
        let mut returned = Vec::new();
        let mut message = Vec::new();
        // Takes one slot as `ByteRing::read` does, waiting for it.
        let take_one = |c: &mut ConsumerCursor, consumer: &mut Reassembly, message: &mut Vec<u8>| {
            while ring.available(c, 1).unwrap() == 0 {
                sync::yield_now();
            }
            let taken = consumer.take(ring.ready_slot(c, 0), SLOT, usize::MAX, message).unwrap();
            ring.release(c, 1);
            taken
        };
        let mut c = ring.consumer().unwrap();
        let mut consumer = Reassembly::default();
        for _ in 0..first_takes {
            if take_one(&mut c, &mut consumer, &mut message) == Taken::Message {
                returned.push(message.clone());
            }
        }
        // Consumer 1 is dead; consumer 2 attaches, and reads the rest:
        // producer 1's fragments, producer 2's ABORT if it wrote one, and
        // producer 2's message.
        let aborted = check && 0 < cut && cut < 3;
        let slots = cut as u64 + u64::from(aborted) + 1;
        let mut c = ring.consumer().unwrap();
        let mut consumer = Reassembly::default();
        for _ in first_takes..slots {
            if take_one(&mut c, &mut consumer, &mut message) == Taken::Message {
                returned.push(message.clone());
            }
        }
        returned
    }

    /// Producer 1 dies after two of three fragments; the consumer may
    /// have taken none, one or both when producer 2 writes.
    fn producer_dies_mid_message() {
        whole_or_absent(2, true, 0);
    }

    /// As above, but producer 2 does not look at the last slot: the
    /// consumer's start rule alone drops the cut message.
    fn producer_dies_and_the_next_does_not_abort() {
        whole_or_absent(2, false, 0);
    }

    /// Consumer 1 dies after taking the first fragment of the whole
    /// message; consumer 2 starts at a continuation.
    fn consumer_dies_mid_message() {
        whole_or_absent(3, true, 1);
    }

    /// Both die: producer 1 after two fragments, consumer 1 after the
    /// first.
    fn both_die_mid_message() {
        whole_or_absent(2, true, 1);
    }

    #[test]
    fn loom_fragments_whole_or_absent() {
        with_mutant(None, || {
            producer_dies_mid_message();
            producer_dies_and_the_next_does_not_abort();
            consumer_dies_mid_message();
            both_die_mid_message();
            // Consumer 1 takes two of three fragments.
            whole_or_absent(3, true, 2);
        });
    }

    #[test]
    fn loom_fragments_mutants_fail() {
        let (producer, consumer) = (producer_dies_mid_message as fn(), consumer_dies_mid_message as fn());
        assert_mutants_fail(&[
            (Site::RingPublish, producer, "producer_dies_mid_message"),
            (Site::RingTailLoad, producer, "producer_dies_mid_message"),
            (Site::RingPublish, consumer, "consumer_dies_mid_message"),
            (Site::RingTailLoad, consumer, "consumer_dies_mid_message"),
        ]);
    }
}
