//! The word layout of each payload (`FORMAT.md`, one section per kind),
//! in one place: the protocols, the objects, `Peek` and the fuzz entry
//! points all name these words through here. Word indices count 64-bit
//! words from the start of the payload.

/// A byte cell (`SharedString`, `SharedBytes`, `Shared<T>`, an array
/// element): four prefix words, then two copies of the value, each a
/// sequence word, a length word and the data words.
pub(crate) mod cell {
    /// The writer lock: the writer's identity, 0 when free.
    pub(crate) const LOCK_WORD: usize = 0;
    /// The number of the last completed write; its copy is
    /// `copies[current & 1]`.
    pub(crate) const CURRENT_WORD: usize = 1;
    /// The capacity in bytes, fixed at creation.
    pub(crate) const CAPACITY_WORD: usize = 2;
    /// The waiters word: its first four bytes are the futex word of
    /// change waiters (`protocol/notify.rs`). The version they wait on is
    /// [`CURRENT_WORD`].
    pub(crate) const WAITERS_WORD: usize = 3;
    /// Words before the first copy.
    pub(crate) const PREFIX_WORDS: usize = 4;
    /// Words of a copy before its data (sequence, length).
    pub(crate) const SLOT_HEADER_WORDS: usize = 2;
}

/// A scalar (`SharedInt`, `SharedBool`): the value, its version, and the
/// waiters word.
pub(crate) mod scalar {
    /// The value: an `i64`, or for a bool its first byte (accessed only as
    /// that byte; the other seven are zero).
    pub(crate) const VALUE_WORD: usize = 0;
    /// The version: advanced by one by every publish.
    pub(crate) const VERSION_WORD: usize = 1;
    /// The waiters word: its first four bytes are the futex word of
    /// change waiters (`protocol/notify.rs`).
    pub(crate) const WAITERS_WORD: usize = 2;
    /// Words of the payload.
    pub(crate) const WORDS: usize = 3;
}

/// A ring (`MemoryInterface`, `ByteRing`): shape words, the two positions
/// and each side's role, wait and mode words on cache lines of their own,
/// then the slots.
pub(crate) mod ring {
    /// The capacity (number of slots).
    pub(crate) const CAPACITY_WORD: usize = 0;
    /// The words per slot.
    pub(crate) const SLOT_WORDS_WORD: usize = 1;
    /// The element size in bytes.
    pub(crate) const ELEMENT_BYTES_WORD: usize = 2;
    /// The write position.
    pub(crate) const TAIL_WORD: usize = 8;
    /// The read position.
    pub(crate) const HEAD_WORD: usize = 16;
    /// The producer's role word.
    pub(crate) const PRODUCER_ROLE_WORD: usize = 24;
    /// The producer's futex word.
    pub(crate) const PRODUCER_WAIT_WORD: usize = 25;
    /// The producer's mode word (its wake barrier).
    pub(crate) const PRODUCER_MODE_WORD: usize = 26;
    /// The consumer's role word.
    pub(crate) const CONSUMER_ROLE_WORD: usize = 32;
    /// The consumer's futex word.
    pub(crate) const CONSUMER_WAIT_WORD: usize = 33;
    /// The consumer's mode word.
    pub(crate) const CONSUMER_MODE_WORD: usize = 34;
    /// The first slot.
    pub(crate) const SLOTS_WORD: usize = 40;
}

/// An array (`SharedArray<T>`): one line of shape words, then the
/// elements, each a byte cell starting on a 64-byte line.
pub(crate) mod array {
    /// Words before the first element: one 64-byte line.
    pub(crate) const PREFIX_WORDS: usize = 8;
    /// The element count.
    pub(crate) const LEN_WORD: usize = 0;
    /// The element size in bytes.
    pub(crate) const ELEMENT_SIZE_WORD: usize = 1;
    /// The stride in words.
    pub(crate) const STRIDE_WORD: usize = 2;
    /// Words in a 64-byte cache line.
    pub(crate) const LINE_WORDS: usize = 8;

    const _: () = assert!(PREFIX_WORDS.is_multiple_of(LINE_WORDS), "the first element starts a line");

    /// The stride of elements whose cells take `cell_words` words: the
    /// next whole number of lines; `None` on overflow.
    pub(crate) const fn stride(cell_words: usize) -> Option<usize> {
        cell_words.checked_next_multiple_of(LINE_WORDS)
    }
}
