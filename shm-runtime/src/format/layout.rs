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

/// A broadcast ring (`Broadcast<T>`): shape words, the publisher's
/// position and limit, its role, wait and mode words, the subscribers'
/// shared wait words, the subscriber table (one 64-byte line per entry),
/// then the slots, each a sequence word and the element's words.
pub(crate) mod broadcast {
    /// The capacity (number of slots).
    pub(crate) const CAPACITY_WORD: usize = 0;
    /// The element words per slot (the sequence word not counted).
    pub(crate) const SLOT_WORDS_WORD: usize = 1;
    /// The element size in bytes.
    pub(crate) const ELEMENT_BYTES_WORD: usize = 2;
    /// The number of subscriber table entries.
    pub(crate) const MAX_SUBSCRIBERS_WORD: usize = 3;
    /// The overflow policy: 0 backpressure, 1 overwrite.
    pub(crate) const POLICY_WORD: usize = 4;
    /// How many past items a late subscriber starts with, at most.
    pub(crate) const HISTORY_WORD: usize = 5;
    /// The first position (where the write position started).
    pub(crate) const FIRST_WORD: usize = 6;
    /// The write position (the publisher stores it).
    pub(crate) const TAIL_WORD: usize = 8;
    /// The publisher's limit: the highest first position it may not
    /// write without looking at the table again (backpressure; only
    /// grows).
    pub(crate) const LIMIT_WORD: usize = 9;
    /// The publisher's role word.
    pub(crate) const PUBLISHER_ROLE_WORD: usize = 16;
    /// The publisher's futex word (it waits there for room).
    pub(crate) const PUBLISHER_WAIT_WORD: usize = 17;
    /// The publisher's mode word (its wake barrier).
    pub(crate) const PUBLISHER_MODE_WORD: usize = 18;
    /// The subscribers' shared futex word (they wait there for items).
    pub(crate) const SUBSCRIBER_WAIT_WORD: usize = 24;
    /// 1 while every subscriber so far calls `membarrier` before it
    /// sleeps; 0 once one fences (sticky).
    pub(crate) const SUBSCRIBER_MODE_WORD: usize = 25;
    /// Joins so far: each joining subscriber adds 1.
    pub(crate) const JOIN_WORD: usize = 26;
    /// Entries in use: one more than the highest entry a subscriber ever
    /// joined in (only grows); the publisher looks at no entry past it.
    pub(crate) const ENTRIES_USED_WORD: usize = 27;
    /// The first table entry.
    pub(crate) const TABLE_WORD: usize = 32;
    /// Words per table entry (one 64-byte line).
    pub(crate) const ENTRY_WORDS: usize = 8;
    /// Within an entry: the holder's identity (0 free, `u64::MAX` let go).
    pub(crate) const ENTRY_ROLE: usize = 0;
    /// Within an entry: the holder's identity once its cursor is set, 0
    /// before.
    pub(crate) const ENTRY_ACTIVE: usize = 1;
    /// Within an entry: the holder's read position.
    pub(crate) const ENTRY_CURSOR: usize = 2;

    const _: () = assert!(TABLE_WORD.is_multiple_of(ENTRY_WORDS), "entries start a line");
}
