//! Entry points for the fuzz targets in `fuzz/` (and this module's
//! proptests): each takes arbitrary bytes, builds what a peer could have
//! stored from them on heap memory, runs one validator of untrusted input
//! on it, and asserts the validator's contract. A panic is a finding: an
//! out-of-bounds access, an overflow, or a broken invariant.
//!
//! Not part of the API: hidden from the docs, and free to change with
//! every release.
//!
//! Inputs are read front to back; past their end every byte reads as zero,
//! so a short input is a valid one. Numbers are in this machine's byte
//! order, as they would sit in shared memory.
//!
//! Each function returns a label of the path the input took (`"ok"`, or
//! the error's name), for tests that check a seed reaches the path it was
//! written for.

use crate::format::header::{self, HEADER_SIZE, HEADER_WORDS, Header, ObjectKind};
use crate::format::schema::{self, MAX_SCHEMA_SIZE, Schema, SchemaError};
use crate::protocol::cell::{self, ByteCell, CellError};
use crate::protocol::lock::LOCK_WAIT;
use crate::protocol::ring::{self, ConsumerCursor, ProducerCursor, Ring};
use crate::segment::error::OpenError;
use crate::segment::handle::Handle;
use crate::segment::live_header::{self, Expected};
use crate::segment::name::{MAX_NAME_LEN, SegmentName};
use crate::tools::Value;
use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::VecDeque;

/// Most words a fuzzed ring region has: a stored shape that needs more is
/// given a small region (which its check then refuses).
const MAX_RING_WORDS: usize = 1 << 14;
/// Largest capacity of a fuzzed byte cell, likewise.
const MAX_CELL_CAPACITY: u64 = 1 << 16;
/// Most ring operations one input runs.
const MAX_RING_OPS: usize = 512;
use crate::format::layout::cell::{CAPACITY_WORD as CELL_CAPACITY_WORD, CURRENT_WORD as CELL_CURRENT_WORD};

/// Reads fields off the front of a fuzz input; zeros past its end.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let n = N.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        let mut out = [0u8; N];
        out[..n].copy_from_slice(head);
        self.data = rest;
        out
    }

    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    fn u16(&mut self) -> u16 {
        u16::from_ne_bytes(self.array())
    }

    fn u32(&mut self) -> u32 {
        u32::from_ne_bytes(self.array())
    }

    fn u64(&mut self) -> u64 {
        u64::from_ne_bytes(self.array())
    }

    /// The bytes not read yet.
    fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// Heap words holding `values`, as a segment's payload would.
fn heap_words(values: &[u64]) -> Vec<AtomicU64> {
    values.iter().map(|v| AtomicU64::new(*v)).collect()
}

/// `natural` moved by `delta` words (at least zero), so that most inputs
/// get exactly the size their stored words describe and some get one a
/// little off.
fn sized(natural: usize, delta: u8) -> usize {
    // `delta` as a signed byte.
    let delta = isize::from(i8::from_ne_bytes([delta]));
    natural.saturating_add_signed(delta)
}

/// Handle text: parsing, and printing then parsing again.
///
/// The whole input, as text (lossily decoded when it is not UTF-8), is
/// parsed: a handle must print back as exactly that text (parsing accepts
/// only the canonical form) and parse again to itself; a refusal must say
/// what is wrong and quote the text. Then a handle is built from the
/// input's fields (kind code, fingerprint, size, nonce, name) and printed:
/// the text must parse back to the same handle.
///
/// # Panics
///
/// When the parser breaks its contract: that is what a fuzzer looks for.
pub fn handle(data: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(data);
    let label = match text.parse::<Handle>() {
        Ok(handle) => {
            assert_eq!(handle.to_string(), text, "a parsed handle prints as another text");
            assert!(text.len() <= 330, "a handle of {} bytes parsed", text.len());
            assert_eq!(text.parse::<Handle>().as_ref(), Ok(&handle), "parsing is not deterministic");
            "ok"
        }
        Err(e) => {
            assert!(!e.reason.is_empty(), "a refusal without a reason");
            assert_eq!(e.text, text.chars().take(80).collect::<String>(), "a refusal quotes another text");
            assert!(e.to_string().starts_with("invalid handle"), "{e}");
            "InvalidHandle"
        }
    };

    let mut input = Input::new(data);
    let kind = ObjectKind::from_code(u32::from(input.u8() % 8) + 1).expect("codes 1 to 8 are kinds");
    let (fingerprint, payload_size, nonce) = (input.u64(), input.u64(), input.u64());
    let raw = input.rest();
    let raw = &raw[..raw.len().min(MAX_NAME_LEN)];
    // The name as given when valid, else mapped onto the name alphabet, so
    // that most inputs print a handle.
    let name = SegmentName::new(&String::from_utf8_lossy(raw)).unwrap_or_else(|_| {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
        let mut mapped: String = raw.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
        if mapped.is_empty() || mapped.starts_with('.') {
            mapped.insert(0, 'x');
            mapped.truncate(MAX_NAME_LEN);
        }
        SegmentName::new(&mapped).expect("mapped onto the name alphabet")
    });
    let built = Handle::new(name, kind, fingerprint, payload_size, nonce);
    let printed = built.to_string();
    assert!(printed.len() <= 330, "a handle prints as {} bytes", printed.len());
    assert_eq!(printed.parse::<Handle>().as_ref(), Ok(&built), "{printed:?} does not parse back");
    label
}

/// Header validation: the first 128 bytes of the input are a header as a
/// peer stored it, the next 8 the file size, then what the opener expects:
/// kind code (4 bytes; an unknown code expects `int`), fingerprint,
/// payload size and nonce (8 bytes each).
///
/// The header is copied out of heap words with `live_header::snapshot`, as an
/// opener does, and validated. The result must be `Ok` exactly when every
/// documented check passes, and otherwise the error of the first check
/// that fails, in the documented order, naming the segment and the values.
///
/// # Panics
///
/// When validation breaks that contract.
pub fn header(data: &[u8]) -> &'static str {
    let mut input = Input::new(data);
    let raw: [u8; HEADER_SIZE] = input.array();
    let file_size = input.u64();
    let kind = ObjectKind::from_code(input.u32()).unwrap_or(ObjectKind::Int);
    let expected =
        Expected { kind, fingerprint: input.u64(), type_name: "Fuzzed", payload_size: input.u64(), nonce: input.u64() };

    let values: [u64; HEADER_WORDS] =
        core::array::from_fn(|i| u64::from_ne_bytes(raw[i * 8..i * 8 + 8].try_into().expect("8 bytes")));
    let words: [AtomicU64; HEADER_WORDS] = values.map(AtomicU64::new);
    let h = live_header::snapshot(&words);
    let back: [u8; HEADER_SIZE] = zerocopy::transmute!(h);
    assert_eq!(back, raw, "the snapshot is not the stored bytes");
    if let Some(type_name) = h.type_name() {
        let len = usize::from(raw[88]);
        assert!(!type_name.is_empty() && len <= 35 && type_name.as_bytes() == &raw[89..89 + len], "{type_name:?}");
    }

    let name = SegmentName::new("shmrs-fuzz").expect("a valid name");
    let result = live_header::validate(&h, &name, &expected, file_size);
    let oracle = first_failed_check(&h, &expected, file_size);
    match result {
        Ok(()) => {
            assert_eq!(oracle, None, "a header that fails the {oracle:?} check was accepted: {h:?}");
            // What makes the opener's mapping safe: a mapping of the size
            // the handle announces (and room for the largest schema)
            // covers the whole file, payload and schema.
            assert_eq!(header::total_size(expected.payload_size, h.schema_size), Some(file_size));
            let room = u32::try_from(MAX_SCHEMA_SIZE).expect("fits");
            assert!(header::total_size(expected.payload_size, room) >= Some(file_size));
            "ok"
        }
        Err(err) => {
            let label = open_error_label(&err);
            assert_eq!(Some(label), oracle, "{err}");
            assert!(err.to_string().contains("\"shmrs-fuzz\""), "the error does not name the segment: {err}");
            check_error_values(&err, &h, &expected, file_size);
            label
        }
    }
}

/// The check a header fails first, restated from `FORMAT.md` and the
/// documented order (magic, architecture, version, kind, layout, offset,
/// alignment, size, handle's size, nonce); `None` when it passes them all.
fn first_failed_check(h: &Header, expected: &Expected, file_size: u64) -> Option<&'static str> {
    let ours = (header::BYTE_ORDER_MARK, u32::try_from(size_of::<usize>()).expect("small"));
    let payload_end = u128::from(h.payload_size).next_multiple_of(8) + HEADER_SIZE as u128;
    let file_end = payload_end + u128::from(h.schema_size).next_multiple_of(8);
    let failed = [
        (h.magic != header::MAGIC, "BadMagic"),
        ((h.byte_order, h.pointer_width) != ours, "ArchMismatch"),
        (h.format_version != header::FORMAT_VERSION, "VersionMismatch"),
        (h.kind != expected.kind.code(), "KindMismatch"),
        (h.fingerprint != expected.fingerprint, "LayoutMismatch"),
        (h.payload_offset != HEADER_SIZE as u64, "Corrupt"),
        (h.payload_align == 0 || h.payload_align & (h.payload_align - 1) != 0 || h.payload_align > 64, "Corrupt"),
        (h.schema_size as usize > MAX_SCHEMA_SIZE, "Corrupt"),
        (file_end > u128::from(u64::MAX), "Corrupt"),
        (file_end != u128::from(file_size), "SizeMismatch"),
        (h.payload_size != expected.payload_size, "HandleMismatch"),
        (h.nonce != expected.nonce, "StaleHandle"),
    ];
    failed.into_iter().find(|(failed, _)| *failed).map(|(_, label)| label)
}

/// The variant's name.
fn open_error_label(err: &OpenError) -> &'static str {
    match err {
        OpenError::BadMagic { .. } => "BadMagic",
        OpenError::ArchMismatch { .. } => "ArchMismatch",
        OpenError::VersionMismatch { .. } => "VersionMismatch",
        OpenError::KindMismatch { .. } => "KindMismatch",
        OpenError::LayoutMismatch { .. } => "LayoutMismatch",
        OpenError::SizeMismatch { .. } => "SizeMismatch",
        OpenError::HandleMismatch { .. } => "HandleMismatch",
        OpenError::StaleHandle { .. } => "StaleHandle",
        OpenError::Corrupt { .. } => "Corrupt",
        _ => "another error",
    }
}

/// The values an error reports are the ones found and expected.
fn check_error_values(err: &OpenError, h: &Header, expected: &Expected, file_size: u64) {
    match *err {
        OpenError::BadMagic { found, .. } => assert_eq!(found, h.magic),
        OpenError::ArchMismatch { found, .. } => {
            assert_eq!((found.byte_order, found.pointer_width), (h.byte_order, h.pointer_width));
        }
        OpenError::VersionMismatch { found, .. } => assert_eq!(found, h.format_version),
        OpenError::KindMismatch { expected: kind, found, .. } => {
            assert_eq!((kind, found), (expected.kind, h.kind));
        }
        OpenError::LayoutMismatch { expected: fingerprint, found, .. } => {
            assert_eq!((fingerprint, found), (expected.fingerprint, h.fingerprint));
        }
        OpenError::SizeMismatch { header, file, .. } => {
            assert_eq!((Some(header), file), (header::total_size(h.payload_size, h.schema_size), file_size));
        }
        OpenError::HandleMismatch { handle, header, .. } => {
            assert_eq!((handle, header), (expected.payload_size, h.payload_size));
        }
        OpenError::StaleHandle { handle_nonce, segment_nonce, .. } => {
            assert_eq!((handle_nonce, segment_nonce), (expected.nonce, h.nonce));
        }
        OpenError::Corrupt { what, .. } => assert!(!what.is_empty()),
        _ => unreachable!("validate returned {err}"),
    }
}

/// Ring shape and position validation. The input holds the words a peer
/// stored: capacity, words per slot, element bytes, write position, read
/// position (8 bytes each); then a size adjustment (a signed byte: the
/// region has that many words more than the stored shape needs), the
/// element size in bytes the opener expects (2 bytes, 0 read as 1), and
/// then operations, one byte each (some followed by an 8-byte value):
/// push, pop, push all, pop all, skip all, scribble the write position,
/// scribble the read position.
///
/// Attaching must succeed exactly when the stored shape is the expected
/// one and fits the region; cursors exactly when the positions are below
/// the wrap and at most a capacity apart. Every count stays within the capacity, every
/// slot access in bounds, and until a position is scribbled the ring is
/// an exact FIFO; after one, the sides see `Corrupt` or stay in bounds.
///
/// # Panics
///
/// When the ring breaks that contract.
pub fn ring(data: &[u8]) -> &'static str {
    let mut input = Input::new(data);
    let (capacity, slot_words_word, element_word) = (input.u64(), input.u64(), input.u64());
    let (tail, head) = (input.u64(), input.u64());
    let delta = input.u8();
    let element = usize::from(input.u16()).max(1);
    let ops = input.rest();

    let natural = usize::try_from(slot_words_word)
        .ok()
        .and_then(|slot_words| ring::layout_words(capacity, slot_words))
        .filter(|n| *n <= MAX_RING_WORDS)
        .unwrap_or(ring::SLOTS_WORD);
    let len = sized(natural, delta);
    let mut values = vec![0u64; len];
    for (index, value) in [
        (ring::CAPACITY_WORD, capacity),
        (ring::SLOT_WORDS_WORD, slot_words_word),
        (ring::ELEMENT_BYTES_WORD, element_word),
        (ring::TAIL_WORD, tail),
        (ring::HEAD_WORD, head),
    ] {
        if let Some(word) = values.get_mut(index) {
            *word = value;
        }
    }
    let words = heap_words(&values);

    // What `MemoryInterface` accepts for an element of `element` bytes.
    let slot_words = element.div_ceil(8);
    let attached = Ring::attach(&words, slot_words, element as u64);
    let fits = slot_words_word == slot_words as u64
        && element_word == element as u64
        && capacity > 0
        && ring::layout_words(capacity, slot_words) == Some(len);
    let ring = match attached {
        Ok(ring) => {
            assert!(
                fits,
                "a ring of {len} words attached with shape words {capacity}, {slot_words_word}, {element_word}"
            );
            ring
        }
        Err(what) => {
            assert!(!fits, "a consistent ring refused: {what}");
            return "shape refused";
        }
    };

    // Positions wrap at the largest multiple of the capacity below 2^64.
    let wrap = u128::from(u64::MAX / capacity * capacity);
    let (tail_at, head_at) = (u128::from(tail), u128::from(head));
    let in_flight = (tail_at < wrap && head_at < wrap).then(|| (tail_at + wrap - head_at) % wrap);
    let apart = in_flight.is_some_and(|n| n <= u128::from(capacity));
    let (producer, consumer) = (ring.producer(), ring.consumer());
    assert_eq!(producer.is_ok(), apart, "producer cursor at {tail}, {head}: {producer:?}");
    assert_eq!(consumer.is_ok(), apart, "consumer cursor at {tail}, {head}: {consumer:?}");
    let (Ok(producer), Ok(consumer)) = (producer, consumer) else {
        return "positions refused";
    };
    let mut run = RingRun {
        ring,
        capacity,
        element,
        producer,
        consumer,
        // Items already in the ring: slots of zeros.
        queue: (0..in_flight.unwrap_or(0)).map(|_| None).collect(),
        next: 1,
        scribbled: false,
    };
    let mut ops = Input::new(ops);
    for _ in 0..MAX_RING_OPS {
        if ops.data.is_empty() {
            return "ok";
        }
        let outcome = match ops.u8() % 7 {
            0 => run.push(1),
            1 => run.pop(1),
            2 => run.push(capacity),
            3 => run.pop(u64::MAX),
            4 => run.skip_all(),
            op => {
                let index = if op == 5 { ring::TAIL_WORD } else { ring::HEAD_WORD };
                run.scribble(index, ops.u64(), &words);
                Ok(())
            }
        };
        if let Err(corrupt) = outcome {
            assert!(run.scribbled, "a ring nobody scribbled on is corrupt: {corrupt:?}");
            return "Corrupt";
        }
    }
    "ok"
}

/// A fuzzed ring with both sides, and what it should hold.
struct RingRun<'a> {
    ring: Ring<'a>,
    capacity: u64,
    element: usize,
    producer: ProducerCursor,
    consumer: ConsumerCursor,
    /// The items in flight, oldest first: `None` for one that was there
    /// before (zeros), `Some(k)` for the `k`th pushed. Meaningless once
    /// `scribbled`.
    queue: VecDeque<Option<u64>>,
    /// Number of the next item pushed.
    next: u64,
    /// Whether a position was overwritten behind the sides' backs.
    scribbled: bool,
}

impl RingRun<'_> {
    /// The bytes of item `k`.
    fn item(&self, k: Option<u64>) -> Vec<u8> {
        let pattern = k.unwrap_or(0).to_ne_bytes();
        (0..self.element).map(|i| pattern[i % 8]).collect()
    }

    /// `count` from `free` or `available` when `wanted` were asked for and
    /// `exact` are there: within the capacity, and when the cached count
    /// is not enough, the exact one.
    fn check_count(&self, count: u64, wanted: u64, exact: u64) {
        assert!(count <= self.capacity, "{count} slots counted in a ring of {}", self.capacity);
        if !self.scribbled {
            assert!(count <= exact, "{count} counted, {exact} there");
            assert!(count >= wanted.min(exact), "{count} counted, {wanted} wanted and {exact} there");
        }
    }

    fn push(&mut self, wanted: u64) -> Result<(), ring::Corrupt> {
        let free = self.ring.free(&mut self.producer, wanted)?;
        self.check_count(free, wanted, self.capacity.saturating_sub(self.queue.len() as u64));
        let n = free.min(wanted);
        for offset in 0..n {
            let k = Some(self.next + offset);
            self.ring.put(&self.producer, offset, &self.item(k));
            self.queue.push_back(k);
        }
        self.next += n;
        self.ring.publish(&mut self.producer, n);
        Ok(())
    }

    fn pop(&mut self, wanted: u64) -> Result<(), ring::Corrupt> {
        let ready = self.ring.available(&mut self.consumer, wanted)?;
        self.check_count(ready, wanted, self.queue.len() as u64);
        let n = ready.min(wanted);
        let mut out = vec![0u8; self.element];
        for offset in 0..n {
            self.ring.get(&self.consumer, offset, &mut out);
            let expected = self.queue.pop_front();
            if !self.scribbled {
                let expected = expected.expect("counted above");
                assert_eq!(out, self.item(expected), "item {offset} of {n} arrived wrong");
            }
        }
        self.ring.release(&mut self.consumer, n);
        Ok(())
    }

    fn skip_all(&mut self) -> Result<(), ring::Corrupt> {
        let skipped = self.ring.skip_all(&mut self.consumer)?;
        self.check_count(skipped, u64::MAX, self.queue.len() as u64);
        self.queue.clear();
        Ok(())
    }

    /// A peer stores `value` into position word `index`.
    fn scribble(&mut self, index: usize, value: u64, words: &[AtomicU64]) {
        words[index].store(value, Ordering::Relaxed);
        self.scribbled = true;
    }
}

/// String and bytes length validation. The input holds the words a peer
/// stored in a byte cell: capacity, `current`, each copy's sequence word
/// and length (8 bytes each); then a size adjustment (a signed byte, as in
/// `ring`), a probe (2 bytes: a buffer size, a byte range), and then the
/// bytes of the two copies (copy 0's data words, then copy 1's).
///
/// Both sequence words are made even: an odd one means a writer is busy,
/// and a read waits up to a second for it (`Contended`), which unit tests
/// cover; here every input must run in microseconds.
///
/// Attaching must succeed exactly when the capacity word fits the region.
/// A read must return exactly the current copy's bytes when its length is
/// at most the capacity, and `Corrupt` with that length otherwise; read as
/// a string, bytes that are not UTF-8 must be `InvalidUtf8`. Reads never
/// touch memory outside the region. A write after any of this must be read
/// back exactly.
///
/// # Panics
///
/// When the cell breaks that contract.
pub fn cell_len(data: &[u8]) -> &'static str {
    let mut input = Input::new(data);
    let (capacity, current) = (input.u64(), input.u64());
    let (seq0, len0, seq1, len1) = (input.u64() & !1, input.u64(), input.u64() & !1, input.u64());
    let delta = input.u8();
    let probe = usize::from(input.u16());
    let bytes = input.rest();

    let (values, data_words) = cell_values(capacity, current, [(seq0, len0), (seq1, len1)], delta, bytes);
    let copy = |k: usize| cell::PREFIX_WORDS + k * (cell::SLOT_HEADER_WORDS + data_words);
    let len = values.len();
    let words = heap_words(&values);

    let fits = usize::try_from(capacity).ok().and_then(cell::layout_words) == Some(len);
    let cell = match ByteCell::attach(&words) {
        Ok(cell) => {
            assert!(fits, "a cell of {len} words attached with capacity word {capacity}");
            cell
        }
        Err(what) => {
            assert!(!fits, "a consistent cell refused: {what}");
            return "capacity refused";
        }
    };
    let capacity = cell.capacity();
    assert_eq!(capacity as u64, values[CELL_CAPACITY_WORD]);

    // The current copy's bytes, as the input put them.
    let k = usize::from(current & 1 == 1);
    let stored_len = [len0, len1][k];
    let stored: Vec<u8> =
        values[copy(k) + cell::SLOT_HEADER_WORDS..][..data_words].iter().flat_map(|w| w.to_ne_bytes()).collect();
    let value = usize::try_from(stored_len).ok().filter(|n| *n <= capacity).map(|n| &stored[..n]);

    let mut out = Vec::new();
    let label = match (cell.read_vec(&mut out), value) {
        (Ok(()), Some(value)) => {
            assert_eq!(out, value, "read another value than the current copy's");
            // The `SharedString` path: the same bytes, as UTF-8.
            match String::from_utf8(out) {
                Ok(text) => {
                    assert_eq!(text.as_bytes(), value);
                    "ok"
                }
                Err(e) => {
                    assert!(core::str::from_utf8(value).is_err());
                    assert!(e.utf8_error().valid_up_to() < value.len());
                    "InvalidUtf8"
                }
            }
        }
        (Err(CellError::Corrupt { len }), None) => {
            assert_eq!(len, stored_len, "Corrupt reports another length");
            "Corrupt"
        }
        (result, value) => panic!("read gave {result:?} for a stored length {stored_len} (value {value:?})"),
    };

    // Into a caller's buffer.
    let mut buffer = vec![0xa5u8; probe % (capacity + 2)];
    match (cell.read_into(&mut buffer), value) {
        (Ok(n), Some(value)) => assert_eq!(&buffer[..n], value),
        (Err(CellError::BufferTooSmall { len, buffer: size }), Some(value)) => {
            assert_eq!((len, size), (value.len(), buffer.len()));
            assert!(len > size);
        }
        (Err(CellError::Corrupt { len }), None) => assert_eq!(len, stored_len),
        (result, value) => panic!("read_into gave {result:?} for a stored length {stored_len} (value {value:?})"),
    }

    // A byte range, ignoring the stored length (the `Shared<T>` path).
    let offset = probe % (capacity + 1);
    let mut range = vec![0u8; (probe >> 8) % (capacity - offset + 1)];
    assert_eq!(cell.read_range(offset, &mut range[..], 1), Some(()), "an even copy did not read");
    assert_eq!(range, stored[offset..offset + range.len()]);

    // A writer takes over whatever a peer left.
    let written = &bytes[..bytes.len().min(capacity)];
    cell.write(written, 1, LOCK_WAIT).expect("the lock word is free");
    out = Vec::new();
    cell.read_vec(&mut out).expect("a value just written reads");
    assert_eq!(out, written, "a write after garbage reads back as another value");
    label
}

/// The schema parser on arbitrary bytes, as a peer may write them after
/// the payload. An accepted schema is canonical (encoding it again gives
/// the same bytes), within the limits, its struct fields tile each struct,
/// its fingerprint is the hash of the bytes, it differs from nothing in
/// itself, and a value of its size decodes by field ([`Value::decode`]);
/// a refused one gets an error with a message, never a panic.
///
/// # Panics
///
/// When the parser breaks that contract.
pub fn schema(data: &[u8]) -> &'static str {
    match Schema::parse(data) {
        Ok(parsed) => {
            assert_eq!(parsed.encode(), data, "not canonical: {parsed:?}");
            assert_eq!(parsed.fingerprint(), schema::fingerprint_of_bytes(data));
            assert!(parsed.difference(&parsed).is_none());
            check_schema_layout(&parsed, 1);
            // A value of that type decodes by field, whatever its bytes
            // (sizes up to 64 KiB, as a fuzzed payload would be).
            if let Some(size) = parsed.size().and_then(|n| usize::try_from(n).ok()).filter(|n| *n <= 1 << 16) {
                let value = Value::decode(&parsed, &vec![0xa5; size]).expect("bytes of the schema's size decode");
                assert!(!value.to_string().is_empty());
                assert!(Value::decode(&parsed, &vec![0; size + 1]).is_err());
            }
            "ok"
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
            match err {
                SchemaError::TooLong { .. } => "TooLong",
                SchemaError::Truncated { .. } => "Truncated",
                SchemaError::TrailingBytes { .. } => "TrailingBytes",
                SchemaError::UnknownTag { .. } => "UnknownTag",
                SchemaError::TooDeep { .. } => "TooDeep",
                SchemaError::FieldCount { .. } => "FieldCount",
                SchemaError::BadName { .. } => "BadName",
                SchemaError::BadLayout { .. } => "BadLayout",
            }
        }
    }
}

/// What [`schema`] promises of an accepted schema, restated: depth, field
/// counts, names, sizes.
fn check_schema_layout(ty: &Schema, depth: usize) {
    assert!(depth <= schema::MAX_DEPTH);
    match ty {
        Schema::Prim(_) => {}
        Schema::Array { len, element } => {
            assert!(*len > 0 && ty.size().is_some(), "{ty:?}");
            check_schema_layout(element, depth + 1);
        }
        Schema::Struct(s) => {
            assert!((1..=schema::MAX_FIELDS).contains(&s.fields.len()));
            assert!(s.align.is_power_of_two() && s.align <= 64 && s.size % s.align == 0);
            let mut end = 0;
            for field in &s.fields {
                assert!((1..=schema::MAX_NAME_LEN).contains(&field.name.len()));
                assert_eq!(field.offset, end);
                end += field.ty.size().expect("fields have a size");
                check_schema_layout(&field.ty, depth + 1);
            }
            assert_eq!(end, s.size);
        }
    }
}

/// The words of a fuzzed byte cell (see [`cell_len`]): `capacity` and
/// `current`, each copy's sequence word and length, then `bytes` as the
/// copies' data; and the number of data words per copy.
fn cell_values(capacity: u64, current: u64, copies: [(u64, u64); 2], delta: u8, bytes: &[u8]) -> (Vec<u64>, usize) {
    let natural = usize::try_from(capacity)
        .ok()
        .filter(|c| *c as u64 <= MAX_CELL_CAPACITY)
        .and_then(cell::layout_words)
        .unwrap_or(cell::PREFIX_WORDS);
    let len = sized(natural, delta);
    // Data words per copy when `len` is a cell's size (the prefix, then
    // two copies of a header and the data).
    let data_words = (len.saturating_sub(cell::PREFIX_WORDS) / 2).saturating_sub(cell::SLOT_HEADER_WORDS);
    let mut values = vec![0u64; len];
    let copy = |k: usize| cell::PREFIX_WORDS + k * (cell::SLOT_HEADER_WORDS + data_words);
    let stored_words = [
        (CELL_CURRENT_WORD, current),
        (CELL_CAPACITY_WORD, capacity),
        (copy(0), copies[0].0),
        (copy(0) + 1, copies[0].1),
        (copy(1), copies[1].0),
        (copy(1) + 1, copies[1].1),
    ];
    for (index, value) in stored_words {
        if let Some(word) = values.get_mut(index) {
            *word = value;
        }
    }
    let mut chunks = bytes.chunks(8);
    for k in 0..2 {
        for i in 0..data_words {
            let mut word = [0u8; 8];
            if let Some(chunk) = chunks.next() {
                word[..chunk.len()].copy_from_slice(chunk);
            }
            if let Some(slot) = values.get_mut(copy(k) + cell::SLOT_HEADER_WORDS + i) {
                *slot = u64::from_ne_bytes(word);
            }
        }
    }
    (values, data_words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::header::{Layout, STATE_READY};
    use crate::{Flag, SharedState};
    use proptest::prelude::*;
    use std::path::PathBuf;

    /// A derived struct for the schema seeds.
    #[derive(SharedState, Clone, Copy)]
    #[shm(crate = "crate")]
    #[repr(C)]
    struct Pose {
        position: [f64; 3],
        seq: u32,
        moving: Flag,
        _pad: [u8; 3],
    }

    /// A header input: the header's bytes, the file size, and what the
    /// opener expects.
    fn header_input(h: &Header, file_size: u64, expected: &Expected) -> Vec<u8> {
        let raw: [u8; HEADER_SIZE] = zerocopy::transmute!(*h);
        let mut input = raw.to_vec();
        input.extend(file_size.to_ne_bytes());
        input.extend(expected.kind.code().to_ne_bytes());
        for value in [expected.fingerprint, expected.payload_size, expected.nonce] {
            input.extend(value.to_ne_bytes());
        }
        input
    }

    /// A published header of an `int` and what its handle makes an opener
    /// expect; the file is 144 bytes (a 1-byte schema after the payload).
    fn int_header() -> (Header, Expected) {
        let layout = Layout { fingerprint: 0xabcd, ..Layout::of(schema::builtin::INT, "SharedInt") };
        let h = Header { state: STATE_READY, ..Header::new(ObjectKind::Int, layout, 8, 8, 42, 7, 0) };
        let expected =
            Expected { kind: ObjectKind::Int, fingerprint: 0xabcd, type_name: "", payload_size: 8, nonce: 42 };
        (h, expected)
    }

    /// A ring input: the stored shape words (capacity, words per slot,
    /// element bytes), the write and read positions, the size adjustment,
    /// the element size the opener expects, and the operations.
    fn ring_input(shape: [u64; 3], tail: u64, head: u64, delta: i8, element: u16, ops: &[u8]) -> Vec<u8> {
        let mut input: Vec<u8> = shape.into_iter().chain([tail, head]).flat_map(u64::to_ne_bytes).collect();
        input.extend(delta.to_ne_bytes());
        input.extend(element.to_ne_bytes());
        input.extend(ops);
        input
    }

    /// Ring operation codes (see [`ring`]).
    const PUSH: u8 = 0;
    const POP: u8 = 1;
    const PUSH_ALL: u8 = 2;
    const POP_ALL: u8 = 3;
    const SKIP_ALL: u8 = 4;
    const SCRIBBLE_TAIL: u8 = 5;
    const SCRIBBLE_HEAD: u8 = 6;

    /// A byte cell input: capacity, `current`, each copy's sequence word
    /// and length, the size adjustment, the probe, and each copy's bytes.
    fn cell_input(capacity: u64, current: u64, copies: [(u64, u64, &[u8]); 2], delta: i8, probe: u16) -> Vec<u8> {
        let mut input: Vec<u8> = [capacity, current, copies[0].0, copies[0].1, copies[1].0, copies[1].1]
            .into_iter()
            .flat_map(u64::to_ne_bytes)
            .collect();
        input.extend(delta.to_ne_bytes());
        input.extend(probe.to_ne_bytes());
        let data_bytes = usize::try_from(capacity).unwrap().div_ceil(8) * 8;
        for (_, _, bytes) in copies {
            let mut data = bytes.to_vec();
            data.resize(data_bytes, 0);
            input.extend(data);
        }
        input
    }

    /// The committed seed corpus: target, file name, input, and the path
    /// the input takes.
    fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>, &'static str)> {
        let text = |s: &str| s.as_bytes().to_vec();
        let (h, e) = int_header();
        let string_layout =
            Layout { fingerprint: 0x0123_4567_89ab_cdef, ..Layout::of(schema::builtin::STRING, "SharedString") };
        let string_header =
            Header { state: STATE_READY, ..Header::new(ObjectKind::String, string_layout, 72, 8, 0xfeed, 9, 1) };
        let string_expected = Expected {
            kind: ObjectKind::String,
            fingerprint: 0x0123_4567_89ab_cdef,
            type_name: "",
            payload_size: 72,
            nonce: 0xfeed,
        };
        let typed = |capacity: u64, element: u16| [capacity, u64::from(element).div_ceil(8), u64::from(element)];
        let scribble = |op: u8, value: u64| [&[op][..], &value.to_ne_bytes()].concat();
        vec![
            ("handle", "string", text("shm1:string:0123456789abcdef:72:000000000000feed:shmrs-abc"), "ok"),
            (
                "handle",
                "bytering",
                text(
                    "shm1:bytering:ffffffffffffffff:18446744073709551615:0000000000000000:shmrs-0123456789abcdef0123456789abcdef",
                ),
                "ok",
            ),
            ("handle", "bad_hex", text("shm1:int:000000000000000G:8:0000000000000000:x"), "InvalidHandle"),
            ("handle", "slash_in_name", text("shm1:int:0000000000000000:8:0000000000000000:a/b"), "InvalidHandle"),
            ("handle", "leading_zero", text("shm1:int:0000000000000000:08:0000000000000000:x"), "InvalidHandle"),
            ("schema", "pose", Schema::from_desc(Pose::SCHEMA).encode(), "ok"),
            ("schema", "nested", Schema::from_desc(<[[Pose; 2]; 3]>::SCHEMA).encode(), "ok"),
            ("schema", "int", vec![schema::Prim::I64.code()], "ok"),
            ("schema", "truncated", Schema::from_desc(Pose::SCHEMA).encode()[..40].to_vec(), "Truncated"),
            ("schema", "deep", [[schema::TAG_ARRAY, 1, 0, 0, 0, 0, 0, 0, 0]; 40].concat(), "TooDeep"),
            ("schema", "unknown_tag", vec![0xee], "UnknownTag"),
            ("header", "int", header_input(&h, 144, &e), "ok"),
            ("header", "string", header_input(&string_header, 208, &string_expected), "ok"),
            ("header", "bad_magic", header_input(&Header { magic: *b"garbage!", ..h }, 144, &e), "BadMagic"),
            ("header", "swapped", header_input(&Header { byte_order: 0x0403_0201, ..h }, 144, &e), "ArchMismatch"),
            ("header", "short_file", header_input(&h, 100, &e), "SizeMismatch"),
            ("header", "stale", header_input(&Header { nonce: 43, ..h }, 144, &e), "StaleHandle"),
            ("header", "size_overflow", header_input(&Header { payload_size: u64::MAX, ..h }, 144, &e), "Corrupt"),
            ("ring", "fifo", ring_input(typed(4, 8), 0, 0, 0, 8, &[PUSH, PUSH, POP, PUSH_ALL, POP, POP_ALL]), "ok"),
            (
                "ring",
                "wrap",
                ring_input(typed(3, 12), u64::MAX - 1, u64::MAX - 2, 0, 12, &[PUSH_ALL, POP, PUSH, POP_ALL, SKIP_ALL]),
                "ok",
            ),
            (
                "ring",
                "scribbled_tail",
                ring_input(typed(2, 8), 0, 0, 0, 8, &[&[PUSH][..], &scribble(SCRIBBLE_TAIL, 9), &[POP]].concat()),
                "Corrupt",
            ),
            (
                "ring",
                "scribbled_head",
                ring_input(typed(2, 8), 0, 0, 0, 8, &[&[PUSH_ALL][..], &scribble(SCRIBBLE_HEAD, 7), &[PUSH]].concat()),
                "Corrupt",
            ),
            ("ring", "other_element", ring_input(typed(2, 16), 0, 0, 0, 8, &[PUSH]), "shape refused"),
            ("ring", "short_region", ring_input(typed(2, 8), 0, 0, -1, 8, &[PUSH]), "shape refused"),
            ("ring", "apart", ring_input(typed(2, 8), 3, 0, 0, 8, &[POP]), "positions refused"),
            // Found by the fuzzer (a subtraction overflow in this module's
            // own check): a read position past the wrap.
            ("ring", "past_wrap", ring_input(typed(65, 12), 0, u64::MAX - 2, 0, 12, &[POP]), "positions refused"),
            ("cell_len", "text", cell_input(16, 0, [(2, 5, b"hello"), (0, 0, b"")], 0, 0x0305), "ok"),
            (
                "cell_len",
                "second_copy",
                cell_input(9, 7, [(4, 1, b"x"), (6, 9, "\u{e9}t\u{e9}!!!".as_bytes())], 0, 9),
                "ok",
            ),
            ("cell_len", "not_utf8", cell_input(8, 0, [(0, 3, &[0x61, 0xff, 0x62]), (0, 0, b"")], 0, 2), "InvalidUtf8"),
            ("cell_len", "too_long", cell_input(8, 1, [(0, 0, b""), (2, 9, b"123456789")], 0, 8), "Corrupt"),
            ("cell_len", "huge_len", cell_input(8, 0, [(0, u64::MAX, b""), (0, 0, b"")], 0, 8), "Corrupt"),
            ("cell_len", "capacity_off", cell_input(16, 0, [(0, 1, b"a"), (0, 0, b"")], 1, 0), "capacity refused"),
        ]
    }

    fn corpus_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
    }

    #[test]
    fn seeds_take_the_path_they_were_written_for() {
        for (target, file, input, label) in seeds() {
            let run = match target {
                "handle" => handle,
                "header" => header,
                "ring" => ring,
                "schema" => schema,
                _ => cell_len,
            };
            assert_eq!(run(&input), label, "seed {target}/{file}");
        }
    }

    /// The files under `fuzz/corpus` are the seeds above, and nothing else.
    /// `SHM_WRITE_FUZZ_SEEDS=1 cargo test -p shm-runtime --lib fuzzing`
    /// writes them.
    #[test]
    fn committed_seed_corpus_is_current() {
        let write = std::env::var_os("SHM_WRITE_FUZZ_SEEDS").is_some();
        let mut expected_files = Vec::new();
        for (target, file, input, _) in seeds() {
            let path = corpus_dir().join(target).join(file);
            if write {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &input).unwrap();
            }
            let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(committed == input, "{} differs from its seed; rerun with SHM_WRITE_FUZZ_SEEDS=1", path.display());
            expected_files.push(format!("{target}/{file}"));
        }
        let mut found = Vec::new();
        for target in std::fs::read_dir(corpus_dir()).unwrap() {
            let target = target.unwrap();
            for file in std::fs::read_dir(target.path()).unwrap() {
                found.push(format!("{}/{}", target.file_name().display(), file.unwrap().file_name().display()));
            }
        }
        expected_files.sort();
        found.sort();
        assert_eq!(found, expected_files, "the committed corpus has files no seed describes");
    }

    fn any_handle_text() -> impl Strategy<Value = String> {
        (1u32..=8, any::<u64>(), any::<u64>(), any::<u64>(), "[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,254}").prop_map(
            |(code, fingerprint, size, nonce, name)| {
                let kind = ObjectKind::from_code(code).unwrap();
                Handle::new(SegmentName::new(&name).unwrap(), kind, fingerprint, size, nonce).to_string()
            },
        )
    }

    proptest! {
        #[test]
        fn handle_bytes(data in prop::collection::vec(any::<u8>(), 0..400)) {
            handle(&data);
        }

        /// Valid handle texts parse; with one byte changed they parse to
        /// exactly the changed text or are refused (`handle` asserts it).
        #[test]
        fn handle_texts(text in any_handle_text(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            prop_assert_eq!(handle(text.as_bytes()), "ok");
            let mut tampered = text.into_bytes();
            let i = at.index(tampered.len());
            tampered[i] = byte;
            handle(&tampered);
        }

        #[test]
        fn schema_bytes(data in prop::collection::vec(any::<u8>(), 0..300)) {
            schema(&data);
        }

        /// A valid schema with one byte changed or cut short.
        #[test]
        fn schema_with_one_byte_changed(at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
            let mut input = Schema::from_desc(<[Pose; 2]>::SCHEMA).encode();
            let at = at.index(input.len());
            if cut {
                input.truncate(at);
            } else {
                input[at] = byte;
            }
            schema(&input);
        }

        #[test]
        fn header_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
            header(&data);
        }

        /// A valid header with one word replaced: `header` checks the
        /// error is the one the first failing check names.
        #[test]
        fn header_with_one_word_changed(word in 0..HEADER_WORDS + 5, value in any::<u64>(), small in any::<bool>()) {
            let (h, e) = int_header();
            let mut input = header_input(&h, 144, &e);
            prop_assert_eq!(header(&input), "ok");
            let value = if small { value % 256 } else { value };
            let at = if word < HEADER_WORDS + 1 { word * 8 } else { HEADER_SIZE + 12 + (word - HEADER_WORDS - 1) * 8 };
            let end = (at + 8).min(input.len());
            input[at..end].copy_from_slice(&value.to_ne_bytes()[..end - at]);
            header(&input);
        }

        #[test]
        fn ring_bytes(data in prop::collection::vec(any::<u8>(), 0..400)) {
            ring(&data);
        }

        /// A consistent ring and any operations without a peer's
        /// scribbles: an exact FIFO (`ring` checks every item).
        #[test]
        fn ring_operations(
            capacity in 1u64..8,
            element in 1u16..40,
            start in any::<u64>(),
            used in 0u64..8,
            ops in prop::collection::vec(0..SCRIBBLE_TAIL, 0..100),
        ) {
            let used = used.min(capacity);
            let shape = [capacity, u64::from(element).div_ceil(8), u64::from(element)];
            let input = ring_input(shape, start.wrapping_add(used), start, 0, element, &ops);
            prop_assert_eq!(ring(&input), "ok");
        }

        /// The same with a peer's scribbles among the operations: `Corrupt`
        /// or counts within the capacity, never an access out of bounds.
        #[test]
        fn ring_operations_with_scribbles(
            capacity in 1u64..8,
            start in any::<u64>(),
            ops in prop::collection::vec((0..=SCRIBBLE_HEAD, any::<u64>(), 0u64..10, 0usize..3), 0..60),
        ) {
            let mut bytes = Vec::new();
            for (op, junk, near, which) in ops {
                bytes.push(op);
                if op >= SCRIBBLE_TAIL {
                    // Mostly values near the positions or the wrap, where
                    // the checks' edges are.
                    let value = [start.wrapping_add(near), u64::MAX - near, junk][which];
                    bytes.extend(value.to_ne_bytes());
                }
            }
            let label = ring(&ring_input([capacity, 1, 8], start, start, 0, 8, &bytes));
            prop_assert!(label == "ok" || label == "Corrupt", "{}", label);
        }

        #[test]
        fn cell_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
            cell_len(&data);
        }

        /// A consistent cell whose current copy holds `len` (perhaps more
        /// than the capacity) of these bytes: the value, `InvalidUtf8` or
        /// `Corrupt`, exactly as the bytes and the length say.
        #[test]
        fn cell_lengths(
            capacity in 1u64..40,
            current in any::<u64>(),
            len in prop_oneof![0u64..48, any::<u64>()],
            text in any::<bool>(),
            data in prop::collection::vec(any::<u8>(), 40),
            probe in any::<u16>(),
        ) {
            let data = if text { "a\u{e9}\u{1f600}".repeat(10).into_bytes() } else { data };
            let data = &data[..usize::try_from(capacity).unwrap()];
            let copy = (2 * (current & 7), len, data);
            let other = (0, 0, &b""[..]);
            let copies = if current & 1 == 0 { [copy, other] } else { [other, copy] };
            let label = cell_len(&cell_input(capacity, current, copies, 0, probe));
            let expected = match usize::try_from(len).ok().filter(|n| *n as u64 <= capacity) {
                None => "Corrupt",
                Some(n) if core::str::from_utf8(&data[..n]).is_err() => "InvalidUtf8",
                Some(_) => "ok",
            };
            prop_assert_eq!(label, expected);
        }
    }
}
