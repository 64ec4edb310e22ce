//! The ring behind `Broadcast<T>`: one publisher, up to `max_subscribers`
//! subscribers, each with its own read position in a subscriber table,
//! over any region of 64-bit atomic words (a segment's payload, or heap
//! words in tests and loom models).
//!
//! Layout (64-bit words, see `FORMAT.md` and `format/layout.rs`):
//!
//! ```text
//! 0..7    shape          capacity, slot words, element bytes, table
//!                        entries, policy, history, first position
//! 8       tail           write position (publisher stores)
//! 9       limit          publisher's limit (backpressure; only grows)
//! 16..18  publisher      role word, futex word, mode word
//! 24..27  subscribers    shared futex word, shared mode word, join count,
//!                        entries in use
//! 32 ..   table          one 8-word entry per subscriber: role, active,
//!                        cursor
//! ..      slots          capacity * (1 + slot_words) words: a sequence
//!                        word, then the element
//! ```
//!
//! Positions are 64-bit counters wrapping to 0 at [`wrap_of`] the
//! capacity, as in the SPSC ring (`ring.rs`); slot `p % capacity` holds
//! item `p`. The publisher copies an item into its slot with relaxed
//! word stores and publishes it with a `Release` store of `tail`; a
//! subscriber loads `tail` with `Acquire`, copies items out, and stores
//! its own cursor with `Release`.
//!
//! # Backpressure
//!
//! The publisher writes position `w` (overwriting item `w - capacity`)
//! only below its *floor* plus the capacity, where the floor is the
//! oldest read position of the active subscribers when it last looked at
//! the table (`scan`). It looks again only when that cached floor leaves
//! too little room, like the SPSC producer's cached `head`.
//!
//! A subscriber joins by claiming a table entry (`role.rs`), storing a
//! start position in its cursor, then its identity in the entry's
//! `active` word (`Release`), then adding 1 to the join count, a
//! `SeqCst` fence, and loading the publisher's `limit`. The publisher,
//! after each scan, stores `limit = floor + capacity` (the word only
//! grows), makes a `SeqCst` fence and loads the join count; if it
//! changed, it scans again. This is the store-buffering pattern: either
//! the publisher's scan sees the joiner (and respects its cursor), or the
//! joiner sees the limit the publisher acts on, and moves its start up to
//! `limit - capacity`, below which nothing it needs can be overwritten.
//!
//! A cursor is untrusted: the publisher checks it against its own write
//! position. A cursor ahead of it is corrupt (no subscriber gets there):
//! the publisher lets go of that entry for it (its role word becomes let
//! go) and counts it; it no longer holds the publisher back. A cursor
//! more than a ring behind (a joiner between storing its start and moving
//! it up, or garbage) holds the publisher back completely until it is in
//! range, or until a waiting publisher finds it out of range twice, a
//! liveness slice apart ([`Broadcast::sweep`]), and calls it corrupt; so
//! does an entry whose identity no liveness check can vouch for, twice.
//! No cursor value makes the publisher overwrite an item another
//! subscriber has not read, or touch a word outside the ring. (An
//! evicted subscriber notices at its next read, which loads its role
//! word first; a cursor store it makes before that lands in its former
//! entry, where a subscriber that took the entry over in between would
//! find it. Only a subscriber found corrupt, or unvouched for twice, is
//! evicted alive.)
//!
//! # Overwrite
//!
//! The publisher never waits. Each slot starts with a sequence word:
//! the position of the item in it, or [`BUSY`] while it is being
//! replaced (a value no position takes). Writing item `p` (under either
//! policy, so that a tool's look at the newest item is whole under
//! backpressure as well, see `look`): store `BUSY`,
//! `fence(Release)`, the element's words, the sequence word `p`. Reading
//! item `p` (below a `tail` loaded with `Acquire`, so the item is
//! there): load the sequence word, and only if it is `p` copy the words
//! with relaxed loads, `fence(Acquire)`, load the sequence word again: if
//! it is still `p` no store of a later item reached the copy (a load that
//! read such a store would make the fence synchronize with the writer's,
//! and the second load see `BUSY` or later). Otherwise the item was
//! overwritten: the subscriber skips to the oldest item still there and
//! counts what it skipped, exactly (items seen plus items skipped is the
//! number published).

use crate::protocol::cell::{load_bytes, store_bytes};
use crate::protocol::copy::Bytes;
use crate::protocol::ring::{Corrupt, advance, distance, wrap_of};
use crate::protocol::role::{CLOSED, FREE};
use crate::protocol::sync::{self, AtomicU64, Ordering, Site};

pub(crate) use crate::format::layout::broadcast::{
    CAPACITY_WORD, ELEMENT_BYTES_WORD, ENTRIES_USED_WORD, ENTRY_ACTIVE, ENTRY_CURSOR, ENTRY_ROLE, ENTRY_WORDS,
    FIRST_WORD, HISTORY_WORD, JOIN_WORD, LIMIT_WORD, MAX_SUBSCRIBERS_WORD, POLICY_WORD, SLOT_WORDS_WORD, TABLE_WORD,
    TAIL_WORD,
};
/// The role, wait and mode words, for the object (`object/broadcast/`).
#[cfg(not(loom))]
pub(crate) use crate::format::layout::broadcast::{
    PUBLISHER_MODE_WORD, PUBLISHER_ROLE_WORD, PUBLISHER_WAIT_WORD, SUBSCRIBER_MODE_WORD, SUBSCRIBER_WAIT_WORD,
};

/// Sequence word value while a slot is being replaced: no position takes
/// it (positions are below [`wrap_of`] the capacity, which is at most
/// `u64::MAX`).
pub(crate) const BUSY: u64 = u64::MAX;

/// Most table entries a broadcast may have.
pub(crate) const MAX_SUBSCRIBERS: usize = 4096;

/// Most slots a broadcast may have (so that positions a slot holds in
/// turn stay far apart: `wrap / capacity` is at least 2^32).
pub(crate) const MAX_CAPACITY: u64 = 1 << 32;

/// What happens when the slowest subscriber is a whole ring behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The publisher never overwrites an item a live subscriber has not
    /// read: it waits (or gets its value back) until the slowest one
    /// reads.
    Backpressure,
    /// The publisher never waits: a subscriber that fell a whole ring
    /// behind loses the oldest items and learns how many.
    Overwrite,
}

impl Policy {
    /// The number stored in the policy word.
    pub(crate) const fn code(self) -> u64 {
        match self {
            Self::Backpressure => 0,
            Self::Overwrite => 1,
        }
    }

    /// The policy stored as `code`.
    pub(crate) const fn from_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(Self::Backpressure),
            1 => Some(Self::Overwrite),
            _ => None,
        }
    }
}

/// What a broadcast is made of: fixed at creation, stored in words 0 to 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Number of slots, 1 to [`MAX_CAPACITY`].
    pub(crate) capacity: u64,
    /// Element words per slot (the sequence word not counted).
    pub(crate) slot_words: usize,
    /// Bytes of an element.
    pub(crate) element_bytes: u64,
    /// Table entries, 1 to [`MAX_SUBSCRIBERS`].
    pub(crate) max_subscribers: usize,
    /// Overflow policy.
    pub(crate) policy: Policy,
    /// Past items a late subscriber starts with, at most.
    pub(crate) history: u64,
}

/// Number of words of a broadcast of `capacity` slots of `slot_words`
/// element words with `max_subscribers` entries, or `None` on overflow.
pub(crate) fn layout_words(capacity: u64, slot_words: usize, max_subscribers: usize) -> Option<usize> {
    let table = max_subscribers.checked_mul(ENTRY_WORDS)?;
    let slots = usize::try_from(capacity).ok()?.checked_mul(slot_words.checked_add(1)?)?;
    TABLE_WORD.checked_add(table)?.checked_add(slots)
}

/// Whether position `a` is behind `b` (by less than half the circle).
#[inline]
fn behind(a: u64, b: u64, wrap: u64) -> bool {
    a != b && distance(b, a, wrap) < wrap / 2
}

/// `position - n` modulo `wrap`, for `n` at most `wrap`.
#[inline]
fn retreat(position: u64, n: u64, wrap: u64) -> u64 {
    advance(position, wrap - n, wrap)
}

/// What the publisher remembers of one table entry between sweeps.
#[derive(Debug, Clone, Copy, Default)]
struct Watch {
    /// The identity whose cursor was more than a ring behind at the last
    /// sweep (0: none).
    strike: u64,
}

/// The publisher's local state.
#[derive(Debug)]
pub(crate) struct PublisherCursor {
    /// Our write position (the truth; the shared word is a copy).
    tail: u64,
    /// The oldest active read position at the last scan: positions below
    /// `floor + capacity` may be written.
    floor: u64,
    /// The highest limit stored so far (the word only grows).
    limit: u64,
    /// The join count at the last scan.
    joins_seen: u64,
    /// The most entries in use seen so far (see `entries_seen`).
    entries_seen: usize,
    /// Per table entry.
    watch: Vec<Watch>,
    /// Subscribers found corrupt (and let go of) so far.
    pub(crate) corrupt: u64,
    /// The last corruption found.
    pub(crate) last_corrupt: Option<Corrupt>,
    /// Subscribers found dead while they held the publisher back.
    pub(crate) lost: u64,
}

/// A subscriber's local state.
#[derive(Debug)]
pub(crate) struct SubscriberCursor {
    /// Our read position.
    head: u64,
    /// The publisher's write position when last loaded.
    tail_cache: u64,
    /// Our table entry.
    pub(crate) entry: usize,
    /// Our identity, in the entry's role and active words.
    pub(crate) me: u64,
    /// Items skipped because they were overwritten, not yet reported.
    lagged: u64,
}

impl SubscriberCursor {
    /// Items skipped since the last call (overwrite policy), reset.
    pub(crate) fn take_lagged(&mut self) -> u64 {
        core::mem::take(&mut self.lagged)
    }

    /// Whether items were skipped since the last
    /// [`take_lagged`](Self::take_lagged).
    #[inline]
    pub(crate) fn has_lagged(&self) -> bool {
        self.lagged > 0
    }

    /// Our read position.
    pub(crate) fn position(&self) -> u64 {
        self.head
    }
}

/// A shape checked against a number of words by [`Broadcast::split`],
/// kept so that [`Broadcast::view_unchecked`] need not check it again on every
/// call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    capacity: u64,
    mask: u64,
    wrap: u64,
    stride: usize,
    policy: Policy,
    history: u64,
    /// First word of the slots.
    slots_start: usize,
    /// Number of words it was checked against.
    words: usize,
}

/// A broadcast ring over words whose shape has been checked.
#[derive(Clone, Copy)]
pub(crate) struct Broadcast<'a> {
    capacity: u64,
    /// `capacity - 1` if the capacity is a power of two (`position & mask`
    /// is then the slot index, without a division), `u64::MAX` otherwise.
    mask: u64,
    /// [`wrap_of`] the capacity: positions range over `0..wrap`.
    wrap: u64,
    /// Words per slot: the sequence word and the element's.
    stride: usize,
    policy: Policy,
    history: u64,
    words: &'a [AtomicU64],
    /// The words before the table (shape, positions, role, wait and mode
    /// words): a fixed-size view, so that indexing it with one of their
    /// constants needs no bounds check on the hot path.
    fixed: &'a [AtomicU64; TABLE_WORD],
    table: &'a [AtomicU64],
    slots: &'a [AtomicU64],
}

impl Geometry {
    /// Number of words it was checked against.
    pub(crate) fn words(&self) -> usize {
        self.words
    }
}

impl<'a> Broadcast<'a> {
    /// Splits `words` into the ring's parts; `None` unless `words` has
    /// exactly the words of `shape` and the shape is usable.
    pub(crate) fn split(words: &'a [AtomicU64], shape: Shape) -> Option<Self> {
        let usable = (1..=MAX_CAPACITY).contains(&shape.capacity)
            && shape.slot_words > 0
            && (1..=MAX_SUBSCRIBERS).contains(&shape.max_subscribers)
            && shape.element_bytes <= shape.slot_words as u64 * 8;
        if !usable || Some(words.len()) != layout_words(shape.capacity, shape.slot_words, shape.max_subscribers) {
            return None;
        }
        let slots_start = TABLE_WORD + shape.max_subscribers * ENTRY_WORDS;
        let (fixed, _) = words.split_first_chunk::<TABLE_WORD>()?;
        Some(Self {
            capacity: shape.capacity,
            mask: if shape.capacity.is_power_of_two() { shape.capacity - 1 } else { u64::MAX },
            wrap: wrap_of(shape.capacity),
            stride: shape.slot_words + 1,
            policy: shape.policy,
            history: shape.history.min(shape.capacity),
            words,
            fixed,
            table: &words[TABLE_WORD..slots_start],
            slots: &words[slots_start..],
        })
    }

    /// What [`view`](Self::view) needs to rebuild this ring.
    pub(crate) fn geometry(&self) -> Geometry {
        Geometry {
            capacity: self.capacity,
            mask: self.mask,
            wrap: self.wrap,
            stride: self.stride,
            policy: self.policy,
            history: self.history,
            slots_start: self.words.len() - self.slots.len(),
            words: self.words.len(),
        }
    }

    /// The ring in `words`, of a `geometry` that [`split`](Self::split)
    /// made for them before, checking nothing: for an owner that made
    /// the geometry once, at create or open, and takes this view on every
    /// call (a few register moves once inlined).
    ///
    /// # Safety
    ///
    /// `words` has exactly the number of words `geometry` was made for
    /// (`Geometry::words`).
    #[inline]
    pub(crate) unsafe fn view_unchecked(words: &'a [AtomicU64], geometry: Geometry) -> Self {
        debug_assert_eq!(words.len(), geometry.words, "the geometry was checked against these words");
        let Geometry { capacity, mask, wrap, stride, policy, history, slots_start, .. } = geometry;
        // SAFETY: `split` made `slots_start` as `TABLE_WORD` plus the
        // table's words, for `words.len()` (our caller) of
        // `layout_words(..)`, which is `slots_start` plus the slots' words:
        // `slots_start <= words.len()`.
        let (head, slots) = unsafe { words.split_at_unchecked(slots_start) };
        // SAFETY: `head` has `slots_start` words, at least `TABLE_WORD`
        // (see above).
        let (fixed, table) = unsafe { head.split_at_unchecked(TABLE_WORD) };
        // `fixed` has `TABLE_WORD` words by construction: the check folds.
        let fixed = fixed.try_into().expect("split at TABLE_WORD");
        Self { capacity, mask, wrap, stride, policy, history, words, fixed, table, slots }
    }

    /// Sets up fresh (zeroed) words as an empty broadcast whose positions
    /// start at `start` (modulo the wrap). Only the creator calls this,
    /// before publishing.
    pub(crate) fn init(words: &'a [AtomicU64], shape: Shape, start: u64) -> Self {
        let ring = Self::split(words, shape).expect("caller sized the payload with layout_words");
        let store = |i: usize, v: u64| words[i].store(v, Ordering::Relaxed);
        store(CAPACITY_WORD, shape.capacity);
        store(SLOT_WORDS_WORD, shape.slot_words as u64);
        store(ELEMENT_BYTES_WORD, shape.element_bytes);
        store(MAX_SUBSCRIBERS_WORD, shape.max_subscribers as u64);
        store(POLICY_WORD, shape.policy.code());
        store(HISTORY_WORD, shape.history);
        let start = start % ring.wrap;
        store(FIRST_WORD, start);
        store(TAIL_WORD, start);
        store(LIMIT_WORD, advance(start, ring.capacity, ring.wrap));
        for slot in ring.slots.chunks_exact(ring.stride) {
            slot[0].store(BUSY, Ordering::Relaxed);
        }
        ring
    }

    /// The shape another process stored in `words` (untrusted: only
    /// [`split`](Self::split) checks it against the number of words).
    pub(crate) fn stored_shape(words: &[AtomicU64]) -> Result<Shape, &'static str> {
        let stored =
            |i: usize| words.get(i).map(|w| w.load(Ordering::Relaxed)).ok_or("payload too small for a broadcast");
        let slot_words = usize::try_from(stored(SLOT_WORDS_WORD)?).map_err(|_| "slot size word is impossible")?;
        let max_subscribers =
            usize::try_from(stored(MAX_SUBSCRIBERS_WORD)?).map_err(|_| "subscriber count word is impossible")?;
        let policy = Policy::from_code(stored(POLICY_WORD)?).ok_or("policy word is neither 0 nor 1")?;
        Ok(Shape {
            capacity: stored(CAPACITY_WORD)?,
            slot_words,
            element_bytes: stored(ELEMENT_BYTES_WORD)?,
            max_subscribers,
            policy,
            history: stored(HISTORY_WORD)?,
        })
    }

    /// Attaches to a broadcast another process made, checking its shape
    /// words against the element and the number of words (for models and
    /// tests).
    #[cfg(any(test, loom))]
    pub(crate) fn attach(words: &'a [AtomicU64], slot_words: usize, element_bytes: u64) -> Result<Self, &'static str> {
        let shape = Self::stored_shape(words)?;
        if shape.slot_words != slot_words || shape.element_bytes != element_bytes {
            return Err("slot size words disagree with the element type");
        }
        Self::split(words, shape).ok_or("shape words disagree with the payload size")
    }

    /// The overflow policy.
    #[inline]
    pub(crate) fn policy(&self) -> Policy {
        self.policy
    }

    /// The words before the table (for the object's role, wait and mode
    /// words), as a fixed-size array: a constant index needs no check.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn fixed(&self) -> &'a [AtomicU64; TABLE_WORD] {
        self.fixed
    }

    /// Number of slots.
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Number of table entries.
    pub(crate) fn entries(&self) -> usize {
        self.table.len() / ENTRY_WORDS
    }

    /// Entries a subscriber ever joined in (the lowest ones: a subscriber
    /// takes the first free entry), as stored now, clamped to the table
    /// (the word is untrusted). Relaxed: a scan that must see a new entry
    /// comes after an Acquire load of the join count that saw its join
    /// (`refresh`), and the joiner stored this before joining.
    fn entries_used(&self) -> usize {
        let used = self.fixed[ENTRIES_USED_WORD].load(Ordering::Relaxed);
        usize::try_from(used).map_or(self.entries(), |used| used.min(self.entries()))
    }

    /// [`entries_used`](Self::entries_used) for the publisher: the most it
    /// has seen, so that a peer storing a smaller number cannot hide a
    /// subscriber from it.
    fn entries_seen(&self, cursor: &mut PublisherCursor) -> usize {
        cursor.entries_seen = cursor.entries_seen.max(self.entries_used());
        cursor.entries_seen
    }

    /// Word `which` of table entry `entry`.
    #[inline]
    fn entry(&self, entry: usize, which: usize) -> &'a AtomicU64 {
        &self.table[entry * ENTRY_WORDS + which]
    }

    /// The role word of table entry `entry`.
    pub(crate) fn entry_role(&self, entry: usize) -> &'a AtomicU64 {
        self.entry(entry, ENTRY_ROLE)
    }

    /// The sequence word and the element words of the slot of `position`.
    #[inline]
    fn slot(&self, position: u64) -> (&'a AtomicU64, &'a [AtomicU64]) {
        // In range: `position % capacity < capacity` (the mask is the same
        // for a power of two), and `split` checked that `slots` has
        // `capacity * stride` words.
        let index = if self.mask == u64::MAX { position % self.capacity } else { position & self.mask };
        let index = usize::try_from(index).expect("below the capacity, which fits usize");
        let slot = &self.slots[index * self.stride..(index + 1) * self.stride];
        (&slot[0], &slot[1..])
    }

    /// Current write position, as loaded now (for reports).
    pub(crate) fn tail_now(&self) -> u64 {
        self.fixed[TAIL_WORD].load(Ordering::Relaxed)
    }

    /// The read positions of the table's active entries, as loaded now
    /// (for reports: untrusted, not ordered with anything).
    pub(crate) fn cursors_now(&self) -> impl Iterator<Item = (usize, u64, u64)> + 'a {
        let this = *self;
        (0..self.entries()).filter_map(move |i| {
            let active = this.entry(i, ENTRY_ACTIVE).load(Ordering::Relaxed);
            let role = this.entry(i, ENTRY_ROLE).load(Ordering::Relaxed);
            (active != FREE && active == role).then(|| (i, role, this.entry(i, ENTRY_CURSOR).load(Ordering::Relaxed)))
        })
    }

    // ---- publisher -----------------------------------------------------

    /// A publisher's cursor, starting at the shared write position (a
    /// successor of a dead publisher continues where it stopped).
    pub(crate) fn publisher(&self) -> Result<PublisherCursor, Corrupt> {
        let tail = self.fixed[TAIL_WORD].load(Ordering::Acquire);
        if tail >= self.wrap {
            return Err(Corrupt { what: "write position", found: tail });
        }
        let mut cursor = PublisherCursor {
            tail,
            floor: tail,
            limit: advance(tail, self.capacity, self.wrap),
            joins_seen: 0,
            entries_seen: 0,
            watch: vec![Watch::default(); self.entries()],
            corrupt: 0,
            last_corrupt: None,
            lost: 0,
        };
        let stored = self.fixed[LIMIT_WORD].load(Ordering::Relaxed);
        if stored < self.wrap && behind(cursor.limit, stored, self.wrap) {
            cursor.limit = stored;
        }
        if self.policy == Policy::Backpressure {
            self.refresh(&mut cursor);
        }
        Ok(cursor)
    }

    /// Free slots for the publisher: always the capacity when
    /// overwriting; otherwise looks at the table only when the cached
    /// floor leaves fewer than `wanted`.
    #[inline]
    pub(crate) fn free(&self, cursor: &mut PublisherCursor, wanted: u64) -> u64 {
        if self.policy == Policy::Overwrite {
            return self.capacity;
        }
        let cached = self.capacity - distance(cursor.tail, cursor.floor, self.wrap);
        if cached >= wanted {
            return cached;
        }
        self.refresh(cursor);
        self.capacity - distance(cursor.tail, cursor.floor, self.wrap)
    }

    /// Scans the table until no subscriber joined during the scan, storing
    /// the limit each time (module comment, "Backpressure").
    fn refresh(&self, cursor: &mut PublisherCursor) {
        for _ in 0..8 {
            let floor = self.scan(cursor);
            let limit = advance(floor, self.capacity, self.wrap);
            if behind(cursor.limit, limit, self.wrap) {
                cursor.limit = limit;
            }
            // Ordered before the join count's load by the fence. Release
            // pairs with the joiner's Acquire load in `join`: a joiner that
            // moves up to this limit sees the write position it was
            // computed from (else it would find itself ahead of the write
            // position it loads next).
            self.fixed[LIMIT_WORD].store(cursor.limit, sync::at(Site::BcastLimitStore, Ordering::Release));
            // Pairs with the joiner's fence in `join`: either we see its
            // join below, or it sees the limit stored above.
            sync::fence(Site::BcastRefreshFence, Ordering::SeqCst);
            // Acquire pairs with the joiner's AcqRel increment: a scan
            // after this sees its `active` and cursor.
            let joins = self.fixed[JOIN_WORD].load(Ordering::Acquire);
            cursor.floor = floor;
            if joins == cursor.joins_seen {
                return;
            }
            cursor.joins_seen = joins;
        }
        // A join count that keeps changing (a hostile peer) leaves us with
        // the last scan, which saw every entry active before it began.
    }

    /// The oldest read position of the active subscribers (our write
    /// position if none), evicting those whose cursor left its range.
    fn scan(&self, cursor: &mut PublisherCursor) -> u64 {
        let mut most_behind = 0;
        for entry in 0..self.entries_seen(cursor) {
            // Acquire pairs with the Release store of `active` in `join`:
            // its start position is visible.
            let active = self.entry(entry, ENTRY_ACTIVE).load(Ordering::Acquire);
            if active == FREE || active == CLOSED {
                continue;
            }
            // Acquire pairs with the subscriber's Release store in
            // `release`: its copies out of the slots it passed are done
            // before we reuse them. (No mutant: loom does not model the
            // load buffering its removal would allow, as for `ring.rs`'s
            // head.)
            let position = self.entry(entry, ENTRY_CURSOR).load(Ordering::Acquire);
            // Relaxed: only whether the entry is still this holder's.
            if self.entry(entry, ENTRY_ROLE).load(Ordering::Relaxed) != active {
                continue;
            }
            // Never ahead of our write position: only garbage is.
            if position >= self.wrap || behind(cursor.tail, position, self.wrap) {
                self.evict_corrupt(cursor, entry, active, position);
                continue;
            }
            // More than a ring behind: a joiner moving its start up, or
            // garbage (`sweep` tells them apart). Holds us back completely
            // until then.
            most_behind = most_behind.max(distance(cursor.tail, position, self.wrap).min(self.capacity));
        }
        retreat(cursor.tail, most_behind, self.wrap)
    }

    /// Lets go of `entry` for its corrupt holder `holder`.
    fn evict_corrupt(&self, cursor: &mut PublisherCursor, entry: usize, holder: u64, found: u64) {
        cursor.watch[entry] = Watch::default();
        // Relaxed: nothing is published with it; the holder's next look at
        // its role word tells it.
        if self.entry(entry, ENTRY_ROLE).compare_exchange(holder, CLOSED, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            cursor.corrupt += 1;
            cursor.last_corrupt = Some(Corrupt { what: "subscriber read position", found });
        }
    }

    /// For a publisher that has waited a liveness slice: frees the entries
    /// of dead subscribers (counted in `lost`) and lets go of those whose
    /// cursor was out of range at this sweep and the last (corrupt).
    /// Returns whether anything changed.
    pub(crate) fn sweep(&self, cursor: &mut PublisherCursor, alive: impl Fn(u64) -> Option<bool>) -> bool {
        let mut changed = false;
        for entry in 0..self.entries_seen(cursor) {
            let role = self.entry(entry, ENTRY_ROLE).load(Ordering::Relaxed);
            if role == FREE || role == CLOSED {
                continue;
            }
            let liveness = alive(role);
            if liveness == Some(false) {
                // Relaxed: a new holder claims with Acquire from FREE, and
                // we publish nothing to it.
                if self
                    .entry(entry, ENTRY_ROLE)
                    .compare_exchange(role, FREE, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    cursor.lost += 1;
                    cursor.watch[entry] = Watch::default();
                    changed = true;
                }
                continue;
            }
            let active = self.entry(entry, ENTRY_ACTIVE).load(Ordering::Relaxed);
            let position = self.entry(entry, ENTRY_CURSOR).load(Ordering::Relaxed);
            let in_range = position < self.wrap && distance(cursor.tail, position, self.wrap) <= self.capacity;
            // (Ahead of the write position is caught by `scan`.) An
            // identity nobody can vouch for (not a valid identity, or the
            // kernel does not answer) is as suspect as a cursor out of
            // range.
            let suspect = (active == role && !in_range) || liveness.is_none();
            let watch = &mut cursor.watch[entry];
            if !suspect {
                watch.strike = 0;
            } else if watch.strike == role {
                self.evict_corrupt(cursor, entry, role, position);
                changed = true;
            } else {
                watch.strike = role;
            }
        }
        if changed {
            // The floor may have moved: look again on the next `free`.
            cursor.floor = cursor.tail;
            self.refresh(cursor);
        }
        changed
    }

    /// Copies `item` into the `offset`th free slot. The caller checked
    /// with [`free`](Self::free) that at least `offset + 1` slots are
    /// free, and publishes with [`publish`](Self::publish).
    #[inline]
    pub(crate) fn put(&self, cursor: &PublisherCursor, offset: u64, item: &[u8]) {
        self.put_with(cursor, offset, |data| store_bytes(data, item));
    }

    /// Copies a byte message into the `offset`th free slot, as
    /// [`put`](Self::put): its length in the slot's first element word,
    /// then its bytes. The caller checked that it fits the slot.
    #[inline]
    pub(crate) fn put_message(&self, cursor: &PublisherCursor, offset: u64, message: &[u8]) {
        self.put_with(cursor, offset, |data| {
            let (length, bytes) = data.split_first().expect("a message slot has a length word");
            // Relaxed: published with the bytes (see `put_with`).
            length.store(message.len() as u64, Ordering::Relaxed);
            store_bytes(bytes, message);
        });
    }

    /// Fills the element words of the `offset`th free slot with `fill`,
    /// between the marks of its sequence word.
    #[expect(clippy::inline_always, reason = "part of an always-inlined one-item call (Broadcast::publish)")]
    #[inline(always)]
    fn put_with(&self, cursor: &PublisherCursor, offset: u64, fill: impl FnOnce(&[AtomicU64])) {
        let position = advance(cursor.tail, offset, self.wrap);
        let (seq, data) = self.slot(position);
        // Marks the slot as being replaced before any of its words change.
        // Under backpressure no subscriber reads a slot being replaced,
        // but a look at the newest item (`look`, for tools) may: the mark
        // keeps that look whole too. It costs a store to the line the
        // element's first words share, and on x86 no instruction for the
        // fence.
        seq.store(BUSY, Ordering::Relaxed);
        // Pairs with the reader's fence in `SlotCheck::still_there`: a
        // reader whose copy loaded one of the stores below sees `BUSY` (or
        // later) when it re-checks.
        sync::fence(Site::BcastSlotWriterFence, Ordering::Release);
        fill(data);
        // Relaxed: the publishing store of `tail` makes it visible with
        // the item; readers compare it, they acquire nothing through it.
        seq.store(position, Ordering::Relaxed);
    }

    /// Makes the next `count` slots written with [`put`](Self::put)
    /// visible, with one store.
    #[inline]
    pub(crate) fn publish(&self, cursor: &mut PublisherCursor, count: u64) {
        cursor.tail = advance(cursor.tail, count, self.wrap);
        // Pairs with the subscribers' Acquire load in `available`.
        self.fixed[TAIL_WORD].store(cursor.tail, sync::at(Site::BcastPublish, Ordering::Release));
    }

    /// Our write position.
    pub(crate) fn write_position(cursor: &PublisherCursor) -> u64 {
        cursor.tail
    }

    // ---- subscriber ----------------------------------------------------

    /// Starts a subscriber in `entry`, which `me` has claimed: at the
    /// newest item, or with up to `history` past items (module comment,
    /// "Backpressure", for the handshake with the publisher).
    pub(crate) fn join(&self, entry: usize, me: u64) -> Result<SubscriberCursor, Corrupt> {
        // Acquire pairs with the publisher's Release store in `publish`.
        let tail = self.fixed[TAIL_WORD].load(Ordering::Acquire);
        if tail >= self.wrap {
            return Err(Corrupt { what: "write position", found: tail });
        }
        let first = self.fixed[FIRST_WORD].load(Ordering::Relaxed) % self.wrap;
        let published = distance(tail, first, self.wrap);
        let mut start = retreat(tail, self.history.min(published), self.wrap);
        // Relaxed: under backpressure the join count's increment below
        // (Release) publishes it with the rest of the join.
        self.fixed[ENTRIES_USED_WORD].fetch_max(entry as u64 + 1, Ordering::Relaxed);
        self.entry(entry, ENTRY_CURSOR).store(start, Ordering::Relaxed);
        // Pairs with the publisher's Acquire load of `active` in `scan`:
        // seeing us active, it sees the start above.
        self.entry(entry, ENTRY_ACTIVE).store(me, Ordering::Release);
        if self.policy == Policy::Backpressure {
            // AcqRel: Release pairs with the Acquire load in `refresh`.
            self.fixed[JOIN_WORD].fetch_add(1, Ordering::AcqRel);
            // Pairs with the publisher's fence in `refresh`.
            sync::fence(Site::BcastJoinFence, Ordering::SeqCst);
            // Acquire pairs with the Release store in `refresh`.
            let limit = self.fixed[LIMIT_WORD].load(sync::at(Site::BcastLimitLoad, Ordering::Acquire));
            let oldest = retreat(limit % self.wrap, self.capacity, self.wrap);
            // (A limit from a publisher that moved on since we loaded
            // `tail` may lie past it: its floor was at most its write
            // position then.)
            if behind(start, oldest, self.wrap) {
                start = oldest;
                self.entry(entry, ENTRY_CURSOR).store(start, Ordering::Release);
            }
        }
        Ok(SubscriberCursor { head: start, tail_cache: start, entry, me, lagged: 0 })
    }

    /// Whether `cursor`'s entry is still its holder's (the publisher lets
    /// go of a corrupt subscriber's entry, and frees a dead one's).
    pub(crate) fn still_held(&self, cursor: &SubscriberCursor) -> bool {
        // Relaxed: only compares identities.
        self.entry(cursor.entry, ENTRY_ROLE).load(Ordering::Relaxed) == cursor.me
    }

    /// Items ready for the subscriber, loading the write position only
    /// when the cached one shows fewer than `wanted`. When overwriting, a
    /// subscriber more than a ring behind first skips to the oldest item
    /// still there (counted, see [`SubscriberCursor::take_lagged`]).
    #[inline]
    pub(crate) fn available(&self, cursor: &mut SubscriberCursor, wanted: u64) -> Result<u64, Corrupt> {
        let cached = distance(cursor.tail_cache, cursor.head, self.wrap);
        if cached >= wanted {
            return Ok(cached);
        }
        // Acquire pairs with the publisher's Release store in `publish`:
        // the items it published are in their slots.
        let tail = self.fixed[TAIL_WORD].load(sync::at(Site::BcastTailLoad, Ordering::Acquire));
        if tail >= self.wrap {
            return Err(Corrupt { what: "write position", found: tail });
        }
        let mut ready = distance(tail, cursor.head, self.wrap);
        if ready > self.capacity {
            if self.policy == Policy::Backpressure {
                return Err(Corrupt { what: "write position", found: tail });
            }
            let skip = ready - self.capacity;
            self.skip(cursor, skip);
            ready = self.capacity;
        }
        cursor.tail_cache = tail;
        Ok(ready)
    }

    /// Moves past `count` items that were overwritten, counting them.
    fn skip(&self, cursor: &mut SubscriberCursor, count: u64) {
        cursor.lagged = cursor.lagged.saturating_add(count);
        cursor.head = advance(cursor.head, count, self.wrap);
        self.entry(cursor.entry, ENTRY_CURSOR).store(cursor.head, Ordering::Release);
    }

    /// Copies the `offset`th ready item into `out` (bytes, or bytes that
    /// may be uninitialized: a value built in place, not zeroed first);
    /// `false` if it was overwritten before or while it was copied
    /// (overwrite policy; `out` then holds nothing of use, and may not
    /// have been written at all: a slot already overwritten is not
    /// copied). The caller checked with
    /// [`available`](Self::available) that at least `offset + 1` are
    /// ready.
    #[expect(clippy::inline_always, reason = "part of an always-inlined one-item call (Subscriber::read)")]
    #[inline(always)]
    pub(crate) fn get<D: Bytes + ?Sized>(&self, cursor: &SubscriberCursor, offset: u64, out: &mut D) -> bool {
        let position = advance(cursor.head, offset, self.wrap);
        let (seq, data) = self.slot(position);
        // The copy fills `out` only as far as the slot reaches: a slot too
        // short for it would leave bytes unwritten that a caller building
        // a value in place then takes as initialized. (The opener checked
        // the slot size against the element; this keeps the promise
        // local.)
        assert!(data.len() * 8 >= out.len(), "a broadcast slot holds a whole item");
        if self.policy == Policy::Backpressure {
            load_bytes(data, out);
            return true;
        }
        Self::read_checked(seq, position, || load_bytes(data, out))
    }

    /// Copies the `offset`th ready byte message (see
    /// [`put_message`](Self::put_message)) into the buffer `sink` hands
    /// out for its length, as [`get`](Self::get) copies an item. The
    /// length word is untrusted: one above `max` (the slot size, which
    /// the caller checked against the slot's words) is
    /// [`Message::BadLength`], and no byte outside the slot is read; a
    /// length for which `sink` has no buffer is [`Message::TooLong`] and
    /// nothing is copied. Under overwrite, what was found counts only if
    /// the slot still held the message after the copy (else it is
    /// [`Message::Overwritten`], and the buffer holds nothing of use).
    #[inline]
    pub(crate) fn get_message<'b>(
        &self,
        cursor: &SubscriberCursor,
        offset: u64,
        max: usize,
        sink: impl FnOnce(usize) -> Option<&'b mut [u8]>,
    ) -> Message {
        let position = advance(cursor.head, offset, self.wrap);
        let (seq, data) = self.slot(position);
        let (length, bytes) = data.split_first().expect("a message slot has a length word");
        let mut found = Message::Overwritten;
        let copy = || {
            // Relaxed: as the element words in `get`.
            let stored = length.load(Ordering::Relaxed);
            found = match usize::try_from(stored) {
                Ok(len) if len <= max && len <= bytes.len() * 8 => match sink(len) {
                    Some(out) if out.len() == len => {
                        load_bytes(bytes, out);
                        Message::Got(len)
                    }
                    _ => Message::TooLong(len),
                },
                _ => Message::BadLength(stored),
            };
        };
        let whole = if self.policy == Policy::Backpressure {
            copy();
            true
        } else {
            Self::read_checked(seq, position, copy)
        };
        if whole { found } else { Message::Overwritten }
    }

    /// The element words of the `offset`th ready item, for a look in
    /// place, and the check to make after the look (see
    /// [`get`](Self::get)); `None` if it was overwritten already.
    pub(crate) fn ready_slot(
        &self,
        cursor: &SubscriberCursor,
        offset: u64,
    ) -> Option<(&'a [AtomicU64], SlotCheck<'a>)> {
        let position = advance(cursor.head, offset, self.wrap);
        let (seq, data) = self.slot(position);
        let overwrite = self.policy == Policy::Overwrite;
        // Relaxed: as in `read_checked`.
        if overwrite && seq.load(Ordering::Relaxed) != position {
            return None;
        }
        Some((data, SlotCheck { seq, position, overwrite }))
    }

    /// Runs `copy` on the element words of the item at `position` (which
    /// the caller saw below a write position it loaded with `Acquire`)
    /// between two loads of its slot's sequence word, as an overwrite
    /// subscriber reads; whether the item was there, whole, throughout.
    /// For a look that holds no read position (a tool showing the newest
    /// item, under either policy).
    pub(crate) fn look(&self, position: u64, copy: impl FnOnce(&'a [AtomicU64])) -> bool {
        let (seq, data) = self.slot(position % self.wrap);
        Self::read_checked(seq, position % self.wrap, || copy(data))
    }

    /// Runs `copy` between the two loads of `seq`; whether both were
    /// `position` (module comment, "Overwrite").
    #[inline]
    fn read_checked(seq: &AtomicU64, position: u64, copy: impl FnOnce()) -> bool {
        // Relaxed: the Acquire load of `tail` (below which `position` is)
        // already made the item visible; this only tells whether it is
        // still the item in the slot.
        if seq.load(Ordering::Relaxed) != position {
            return false;
        }
        copy();
        SlotCheck { seq, position, overwrite: true }.still_there()
    }

    /// Frees the next `count` items read, with one store of the cursor.
    #[inline]
    pub(crate) fn release(&self, cursor: &mut SubscriberCursor, count: u64) {
        cursor.head = advance(cursor.head, count, self.wrap);
        // Pairs with the publisher's Acquire load in `scan`.
        self.entry(cursor.entry, ENTRY_CURSOR).store(cursor.head, Ordering::Release);
    }

    /// After [`get`](Self::get) found the next item overwritten: skips to
    /// the oldest item that may still be there (at least one item),
    /// counting what it skipped.
    pub(crate) fn skip_overwritten(&self, cursor: &mut SubscriberCursor) {
        // Acquire pairs with `publish`, as in `available`.
        let tail = self.fixed[TAIL_WORD].load(Ordering::Acquire);
        let ahead = if tail < self.wrap { distance(tail, cursor.head, self.wrap) } else { 0 };
        if ahead == 0 {
            return;
        }
        let skip = ahead.saturating_sub(self.capacity).max(1);
        self.skip(cursor, skip);
        cursor.tail_cache = tail;
    }

    /// Drops every item published so far; returns how many.
    pub(crate) fn skip_all(&self, cursor: &mut SubscriberCursor) -> Result<u64, Corrupt> {
        let ready = self.available(cursor, u64::MAX)?;
        self.release(cursor, ready);
        Ok(ready)
    }
}

/// What [`Broadcast::get_message`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message {
    /// A message of this many bytes, copied.
    Got(usize),
    /// A message of this many bytes, for which there was no buffer: not
    /// copied.
    TooLong(usize),
    /// A length word no publisher stores (above the slot size).
    BadLength(u64),
    /// The item was overwritten before or during the look.
    Overwritten,
}

/// The check after a look in place ([`Broadcast::ready_slot`]).
#[derive(Clone, Copy)]
pub(crate) struct SlotCheck<'a> {
    seq: &'a AtomicU64,
    position: u64,
    overwrite: bool,
}

impl SlotCheck<'_> {
    /// Whether the item looked at is still in its slot: no store of a
    /// later item reached what was loaded before this call.
    #[inline]
    pub(crate) fn still_there(self) -> bool {
        if !self.overwrite {
            return true;
        }
        // Pairs with the writer's fence in `put`: if a load before this
        // read a store of a later item, the load below sees `BUSY` or a
        // later position.
        sync::fence(Site::BcastSlotReaderFence, Ordering::Acquire);
        self.seq.load(Ordering::Relaxed) == self.position
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::protocol::role;

    fn shape(capacity: u64, policy: Policy, max_subscribers: usize, history: u64) -> Shape {
        Shape { capacity, slot_words: 2, element_bytes: 16, max_subscribers, policy, history }
    }

    fn heap(shape: Shape) -> Vec<AtomicU64> {
        (0..layout_words(shape.capacity, shape.slot_words, shape.max_subscribers).unwrap())
            .map(|_| AtomicU64::new(0))
            .collect()
    }

    fn item(k: u64) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&k.to_ne_bytes());
        bytes[8..].copy_from_slice(&(!k).to_ne_bytes());
        bytes
    }

    fn subscribe(ring: &Broadcast<'_>, me: u64) -> SubscriberCursor {
        let entry = (0..ring.entries())
            .find(|&e| role::claim(ring.entry_role(e), me, |_| Some(true)).is_ok())
            .expect("a free entry");
        ring.join(entry, me).unwrap()
    }

    fn publish(ring: &Broadcast<'_>, p: &mut PublisherCursor, k: u64) -> bool {
        if ring.free(p, 1) == 0 {
            return false;
        }
        ring.put(p, 0, &item(k));
        ring.publish(p, 1);
        true
    }

    /// Next item: `Ok(Some(k))`, `Ok(None)` if none, `Err(n)` if `n` were
    /// skipped.
    fn read(ring: &Broadcast<'_>, s: &mut SubscriberCursor) -> Result<Option<u64>, u64> {
        let ready = ring.available(s, 1).unwrap();
        let lag = s.take_lagged();
        if lag > 0 {
            return Err(lag);
        }
        if ready == 0 {
            return Ok(None);
        }
        let mut out = [0u8; 16];
        if !ring.get(s, 0, &mut out[..]) {
            ring.skip_overwritten(s);
            return Err(s.take_lagged());
        }
        ring.release(s, 1);
        let k = u64::from_ne_bytes(out[..8].try_into().unwrap());
        assert_eq!(out, item(k), "torn item");
        Ok(Some(k))
    }

    /// `view_unchecked` over the geometry `split` made is the ring `split`
    /// made, and items and messages of 40 words (an element that
    /// straddles cache lines and takes the vector copies) go through one
    /// and come out of the other whole, under both policies.
    #[test]
    fn view_unchecked_is_split_without_the_checks() {
        const WORDS: usize = 40;
        for policy in [Policy::Backpressure, Policy::Overwrite] {
            let shape = Shape {
                capacity: 8,
                slot_words: WORDS,
                element_bytes: WORDS as u64 * 8,
                max_subscribers: 2,
                policy,
                history: 0,
            };
            let words = heap(shape);
            let split = Broadcast::init(&words, shape, 0);
            // SAFETY: `split` made the geometry for exactly these words.
            let ring = unsafe { Broadcast::view_unchecked(&words, split.geometry()) };
            assert!(core::ptr::eq(ring.slots, split.slots) && core::ptr::eq(ring.table, split.table));
            assert!(core::ptr::eq(ring.words, split.words));
            assert_eq!(
                (ring.capacity, ring.mask, ring.wrap, ring.stride),
                (split.capacity, split.mask, split.wrap, split.stride)
            );
            assert_eq!((ring.policy, ring.history), (split.policy, split.history));
            let mut p = ring.publisher().unwrap();
            let mut s = subscribe(&split, 1);
            let item = |k: u64| -> Vec<u8> { (0..WORDS as u64 * 8).map(|i| (k * 7 + i).to_le_bytes()[0]).collect() };
            let len = (WORDS - 1) * 8 - 3;
            for k in 0..20u64 {
                assert!(ring.free(&mut p, 1) > 0);
                if k % 2 == 0 {
                    ring.put(&p, 0, &item(k));
                } else {
                    ring.put_message(&p, 0, &item(k)[..len]);
                }
                ring.publish(&mut p, 1);
                assert_eq!(split.available(&mut s, 1).unwrap(), 1);
                let mut out = vec![0u8; WORDS * 8];
                if k % 2 == 0 {
                    assert!(split.get(&s, 0, &mut out[..]));
                    assert_eq!(out, item(k), "item {k}");
                } else {
                    let got = split.get_message(&s, 0, (WORDS - 1) * 8, |n| out.get_mut(..n));
                    assert_eq!(got, Message::Got(len));
                    assert_eq!(out[..len], item(k)[..len], "message {k}");
                }
                split.release(&mut s, 1);
            }
        }
    }

    #[test]
    fn backpressure_waits_for_the_slowest_subscriber() {
        let shape = shape(4, Policy::Backpressure, 4, 0);
        let words = heap(shape);
        let ring = Broadcast::init(&words, shape, u64::MAX - 6);
        let mut p = ring.publisher().unwrap();
        let (mut fast, mut slow) = (subscribe(&ring, 1), subscribe(&ring, 2));
        for k in 0..4 {
            assert!(publish(&ring, &mut p, k));
        }
        assert!(!publish(&ring, &mut p, 4), "full for both");
        for k in 0..4 {
            assert_eq!(read(&ring, &mut fast), Ok(Some(k)));
        }
        assert!(!publish(&ring, &mut p, 4), "the slow one has read nothing");
        assert_eq!(read(&ring, &mut slow), Ok(Some(0)));
        assert!(publish(&ring, &mut p, 4), "one slot freed by the slowest");
        assert!(!publish(&ring, &mut p, 5));
        for k in 1..5 {
            assert_eq!(read(&ring, &mut slow), Ok(Some(k)));
        }
        assert_eq!(read(&ring, &mut fast), Ok(Some(4)));
        assert_eq!(read(&ring, &mut fast), Ok(None));
        // Positions wrapped around u64 on the way.
        for k in 5..40 {
            assert!(publish(&ring, &mut p, k));
            assert_eq!((read(&ring, &mut fast), read(&ring, &mut slow)), (Ok(Some(k)), Ok(Some(k))));
        }
        assert!(Broadcast::write_position(&p) < 40);
    }

    #[test]
    fn overwrite_counts_every_item_missed() {
        let shape = shape(4, Policy::Overwrite, 2, 0);
        let words = heap(shape);
        let ring = Broadcast::init(&words, shape, u64::MAX - 3);
        let mut p = ring.publisher().unwrap();
        let mut s = subscribe(&ring, 1);
        for k in 0..10 {
            assert!(publish(&ring, &mut p, k), "overwriting never waits");
        }
        assert_eq!(read(&ring, &mut s), Err(6), "items 0 to 5 are gone");
        for k in 6..10 {
            assert_eq!(read(&ring, &mut s), Ok(Some(k)));
        }
        assert_eq!(read(&ring, &mut s), Ok(None));
        // An item overwritten between `available` and `get`.
        publish(&ring, &mut p, 10);
        assert_eq!(ring.available(&mut s, 1), Ok(1));
        for k in 11..15 {
            publish(&ring, &mut p, k);
        }
        let mut out = [0u8; 16];
        assert!(!ring.get(&s, 0, &mut out[..]), "slot 10 now holds item 14");
        ring.skip_overwritten(&mut s);
        assert_eq!(s.take_lagged(), 1);
        for k in 11..15 {
            assert_eq!(read(&ring, &mut s), Ok(Some(k)));
        }
    }

    #[test]
    fn late_subscribers_get_their_history() {
        for policy in [Policy::Backpressure, Policy::Overwrite] {
            let shape = shape(7, policy, 2, 3);
            let words = heap(shape);
            let ring = Broadcast::init(&words, shape, 0);
            let mut p = ring.publisher().unwrap();
            publish(&ring, &mut p, 0);
            let mut early = subscribe(&ring, 1);
            assert_eq!(read(&ring, &mut early), Ok(Some(0)), "only one item so far");
            for k in 1..6 {
                publish(&ring, &mut p, k);
            }
            let mut late = subscribe(&ring, 2);
            for k in 3..6 {
                assert_eq!(read(&ring, &mut late), Ok(Some(k)), "{policy:?}");
            }
            assert_eq!(read(&ring, &mut late), Ok(None));
        }
    }

    #[test]
    fn a_joiner_behind_the_limit_moves_up() {
        let shape = shape(4, Policy::Backpressure, 2, 4);
        let words = heap(shape);
        let ring = Broadcast::init(&words, shape, 0);
        let mut p = ring.publisher().unwrap();
        // Nobody holds the publisher back: it may overwrite freely.
        for k in 0..6 {
            assert!(publish(&ring, &mut p, k));
        }
        let mut s = subscribe(&ring, 1);
        // History 4 would start at 2; the limit says positions below the
        // floor at the last scan may go, and the start is at least there.
        let first = read(&ring, &mut s).unwrap().unwrap();
        assert!((2..6).contains(&first), "{first}");
        while publish(&ring, &mut p, 100) {}
        let mut got = vec![first];
        while let Ok(Some(k)) = read(&ring, &mut s) {
            got.push(k);
        }
        assert!(got.windows(2).all(|w| w[1] == w[0] + 1 || w[1] == 100), "{got:?}");
    }

    #[test]
    fn a_scribbled_cursor_is_evicted_and_protects_the_others() {
        let shape = shape(4, Policy::Backpressure, 3, 0);
        let words = heap(shape);
        let ring = Broadcast::init(&words, shape, 0);
        let mut p = ring.publisher().unwrap();
        let mut good = subscribe(&ring, 1);
        let bad = subscribe(&ring, 2);
        for k in 0..4 {
            assert!(publish(&ring, &mut p, k));
        }
        assert_eq!(read(&ring, &mut good), Ok(Some(0)));
        // The bad one claims to be far ahead: it must not let the
        // publisher overwrite `good`'s unread items.
        words[TABLE_WORD + bad.entry * ENTRY_WORDS + ENTRY_CURSOR].store(1 << 40, Ordering::Relaxed);
        assert!(publish(&ring, &mut p, 4), "good freed one slot");
        assert!(!publish(&ring, &mut p, 5), "good's items 1 to 4 stay");
        assert_eq!(p.corrupt, 1);
        assert_eq!(p.last_corrupt, Some(Corrupt { what: "subscriber read position", found: 1 << 40 }));
        assert!(!ring.still_held(&bad), "the bad one learns it was let go");
        for k in 1..5 {
            assert_eq!(read(&ring, &mut good), Ok(Some(k)));
        }
        // Garbage in every word of an entry, far behind: held back until
        // two sweeps find it out of range.
        let entry = TABLE_WORD + 2 * ENTRY_WORDS;
        for (i, v) in [(ENTRY_ROLE, 77), (ENTRY_ACTIVE, 77), (ENTRY_CURSOR, wrap_of(4) - 50)] {
            words[entry + i].store(v, Ordering::Relaxed);
        }
        words[ENTRIES_USED_WORD].store(3, Ordering::Relaxed);
        assert!(publish(&ring, &mut p, 5) || !publish(&ring, &mut p, 5));
        assert!(!publish(&ring, &mut p, 6), "held back by the unknown entry");
        assert!(!ring.sweep(&mut p, |_| Some(true)), "first strike");
        assert!(ring.sweep(&mut p, |_| Some(true)), "second strike");
        assert_eq!(p.corrupt, 2);
        assert!(publish(&ring, &mut p, 6));
    }

    #[test]
    fn a_subscriber_in_a_high_entry_holds_back() {
        let shape = shape(2, Policy::Backpressure, 8, 0);
        let words = heap(shape);
        let ring = Broadcast::init(&words, shape, 0);
        let mut p = ring.publisher().unwrap();
        assert!(publish(&ring, &mut p, 0) && publish(&ring, &mut p, 1) && publish(&ring, &mut p, 2));
        role::claim(ring.entry_role(5), 7, |_| Some(true)).unwrap();
        let mut s = ring.join(5, 7).unwrap();
        assert_eq!(ring.entries_used(), 6);
        assert!(publish(&ring, &mut p, 3) && publish(&ring, &mut p, 4));
        assert!(!publish(&ring, &mut p, 5), "entry 5 has read nothing");
        assert_eq!(read(&ring, &mut s), Ok(Some(3)));
        assert!(publish(&ring, &mut p, 5));
        words[ENTRIES_USED_WORD].store(u64::MAX, Ordering::Relaxed);
        assert_eq!(ring.entries_used(), 8, "clamped to the table");
        // A peer storing a smaller number hides nobody from the publisher.
        words[ENTRIES_USED_WORD].store(0, Ordering::Relaxed);
        assert_eq!(read(&ring, &mut s), Ok(Some(4)));
        assert!(publish(&ring, &mut p, 6) && !publish(&ring, &mut p, 7), "entry 5 still holds it back");
    }

    #[test]
    fn dead_subscribers_stop_holding_back() {
        let shape = shape(2, Policy::Backpressure, 2, 0);
        let words = heap(shape);
        let ring = Broadcast::init(&words, shape, 0);
        let mut p = ring.publisher().unwrap();
        let _dead = subscribe(&ring, 9);
        assert!(publish(&ring, &mut p, 0) && publish(&ring, &mut p, 1));
        assert!(!publish(&ring, &mut p, 2));
        assert!(ring.sweep(&mut p, |id| Some(id != 9)));
        assert_eq!(p.lost, 1);
        assert!(publish(&ring, &mut p, 2));
    }

    #[test]
    fn garbage_shape_words_are_refused() {
        let shape = shape(4, Policy::Overwrite, 2, 0);
        let words = heap(shape);
        Broadcast::init(&words, shape, 0);
        assert!(Broadcast::attach(&words, 2, 16).is_ok());
        words[POLICY_WORD].store(2, Ordering::Relaxed);
        assert!(Broadcast::attach(&words, 2, 16).is_err());
        words[POLICY_WORD].store(1, Ordering::Relaxed);
        words[MAX_SUBSCRIBERS_WORD].store(u64::MAX, Ordering::Relaxed);
        assert!(Broadcast::attach(&words, 2, 16).is_err());
        words[MAX_SUBSCRIBERS_WORD].store(2, Ordering::Relaxed);
        words[CAPACITY_WORD].store(0, Ordering::Relaxed);
        assert!(Broadcast::attach(&words, 2, 16).is_err());
        assert!(Broadcast::attach(&words[..3], 2, 16).is_err());
    }
}

/// Loom models (run with the other models, see `sync.rs`). `publish`: a
/// publisher sends three two-word items through a two-slot backpressure
/// ring to a subscriber that joined first; each arrives whole, once, in
/// order. Weakening the publishing store or the subscriber's load of it
/// must make it fail. `overwrite`: a publisher overwrites a one-slot ring
/// twice while a subscriber reads; what it reads is whole, and items
/// seen plus items reported missed are the items published. Either
/// fence of the slot sequence switched off must make it fail. `join`: a
/// subscriber joins while the publisher (which has published two items
/// into a two-slot ring) refreshes and publishes a third; the joiner
/// never reads an item the publisher overwrote (`joiner_behind_a_moving_publisher`:
/// also when the publisher moves past the write position the joiner
/// loaded). Either fence of the join handshake switched off must make it
/// fail, and so must weakening the limit's `Release` store or the
/// joiner's `Acquire` load of it (the joiner then finds itself ahead of
/// the write position it loads).
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::protocol::role;
    use crate::protocol::sync::{assert_mutants_fail, with_mutant};
    use loom::sync::Arc;

    fn item(k: u64) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&k.to_ne_bytes());
        bytes[8..].copy_from_slice(&(!k).to_ne_bytes());
        bytes
    }

    fn words(capacity: u64, policy: Policy, history: u64) -> Arc<Vec<AtomicU64>> {
        let shape = Shape { capacity, slot_words: 2, element_bytes: 16, max_subscribers: 1, policy, history };
        let words: Vec<AtomicU64> = (0..layout_words(capacity, 2, 1).unwrap()).map(|_| AtomicU64::new(0)).collect();
        Broadcast::init(&words, shape, 0);
        Arc::new(words)
    }

    fn publish_in_order() {
        loom::model(|| {
            let words = words(2, Policy::Backpressure, 0);
            let ring = Broadcast::attach(&words, 2, 16).unwrap();
            role::claim(ring.entry_role(0), 1, |_| Some(true)).unwrap();
            let mut s = ring.join(0, 1).unwrap();
            let publisher = {
                let words = Arc::clone(&words);
                loom::thread::spawn(move || {
                    let ring = Broadcast::attach(&words, 2, 16).unwrap();
                    let mut p = ring.publisher().unwrap();
                    for k in 1..=3 {
                        while ring.free(&mut p, 1) == 0 {
                            sync::yield_now();
                        }
                        ring.put(&p, 0, &item(k));
                        ring.publish(&mut p, 1);
                    }
                })
            };
            for k in 1..=3 {
                while ring.available(&mut s, 1).unwrap() == 0 {
                    sync::yield_now();
                }
                let mut out = [0u8; 16];
                assert!(ring.get(&s, 0, &mut out[..]));
                ring.release(&mut s, 1);
                assert_eq!(out, item(k), "item {k} arrived wrong");
            }
            publisher.join().unwrap();
        });
    }

    fn overwrite_is_whole_and_counted() {
        loom::model(|| {
            let words = words(1, Policy::Overwrite, 0);
            let ring = Broadcast::attach(&words, 2, 16).unwrap();
            role::claim(ring.entry_role(0), 1, |_| Some(true)).unwrap();
            let mut s = ring.join(0, 1).unwrap();
            let publisher = {
                let words = Arc::clone(&words);
                loom::thread::spawn(move || {
                    let ring = Broadcast::attach(&words, 2, 16).unwrap();
                    let mut p = ring.publisher().unwrap();
                    for k in 1..=2 {
                        ring.put(&p, 0, &item(k));
                        ring.publish(&mut p, 1);
                    }
                })
            };
            let (mut seen, mut missed, mut last) = (0, 0, 0);
            while seen + missed < 2 {
                let ready = ring.available(&mut s, 1).unwrap();
                missed += s.take_lagged();
                if ready == 0 {
                    sync::yield_now();
                    continue;
                }
                let mut out = [0u8; 16];
                if ring.get(&s, 0, &mut out[..]) {
                    ring.release(&mut s, 1);
                    let k = u64::from_ne_bytes(out[..8].try_into().unwrap());
                    assert_eq!(out, item(k), "a torn item was returned");
                    assert!(k > last, "items out of order");
                    last = k;
                    seen += 1;
                } else {
                    ring.skip_overwritten(&mut s);
                    missed += s.take_lagged();
                }
            }
            assert_eq!(seen + missed, 2, "items seen and missed are the items published");
            publisher.join().unwrap();
        });
    }

    fn joiner_reads_nothing_overwritten() {
        loom::model(|| {
            // Two items in a two-slot ring, nobody subscribed: the
            // publisher's limit lets it overwrite item 0 next.
            let words = words(2, Policy::Backpressure, 2);
            {
                let ring = Broadcast::attach(&words, 2, 16).unwrap();
                let mut p = ring.publisher().unwrap();
                for k in 0..2 {
                    ring.put(&p, 0, &item(k));
                    ring.publish(&mut p, 1);
                }
            }
            let publisher = {
                let words = Arc::clone(&words);
                loom::thread::spawn(move || {
                    let ring = Broadcast::attach(&words, 2, 16).unwrap();
                    let mut p = ring.publisher().unwrap();
                    if ring.free(&mut p, 1) > 0 {
                        ring.put(&p, 0, &item(2));
                        ring.publish(&mut p, 1);
                    }
                })
            };
            let ring = Broadcast::attach(&words, 2, 16).unwrap();
            role::claim(ring.entry_role(0), 1, |_| Some(true)).unwrap();
            let mut s = ring.join(0, 1).unwrap();
            let first = s.position();
            if ring.available(&mut s, 1).unwrap() > 0 {
                let mut out = [0u8; 16];
                assert!(ring.get(&s, 0, &mut out[..]));
                assert_eq!(out, item(first), "the joiner read an overwritten item");
            }
            publisher.join().unwrap();
        });
    }

    /// The joiner loads the write position while the publisher (nobody
    /// subscribed, a one-slot ring) publishes two more items, refreshing
    /// before each: the limit the joiner loads may be past the write
    /// position it loaded, and it must still start where nothing it reads
    /// is overwritten.
    fn joiner_behind_a_moving_publisher() {
        loom::model(|| {
            let words = words(1, Policy::Backpressure, 1);
            {
                let ring = Broadcast::attach(&words, 2, 16).unwrap();
                let mut p = ring.publisher().unwrap();
                ring.put(&p, 0, &item(0));
                ring.publish(&mut p, 1);
            }
            let publisher = {
                let words = Arc::clone(&words);
                loom::thread::spawn(move || {
                    let ring = Broadcast::attach(&words, 2, 16).unwrap();
                    let mut p = ring.publisher().unwrap();
                    for k in 1..=2 {
                        if ring.free(&mut p, 1) == 0 {
                            return;
                        }
                        ring.put(&p, 0, &item(k));
                        ring.publish(&mut p, 1);
                    }
                })
            };
            let ring = Broadcast::attach(&words, 2, 16).unwrap();
            role::claim(ring.entry_role(0), 1, |_| Some(true)).unwrap();
            let mut s = ring.join(0, 1).unwrap();
            let first = s.position();
            if ring.available(&mut s, 1).unwrap() > 0 {
                let mut out = [0u8; 16];
                assert!(ring.get(&s, 0, &mut out[..]));
                assert_eq!(out, item(first), "the joiner read an overwritten item");
            }
            publisher.join().unwrap();
        });
    }

    /// A byte message's length word is read under the slot sequence as
    /// its bytes are: a publisher replaces an 8-byte message of 1s with a
    /// 16-byte message of 2s in a one-slot ring while a subscriber reads;
    /// what it reads is one message whole (never 8 bytes of 2s, or 16
    /// bytes beginning with 1s), and seen plus missed is published.
    fn message_is_whole_or_missed() {
        loom::model(|| {
            let shape = Shape {
                capacity: 1,
                slot_words: 3,
                element_bytes: 24,
                max_subscribers: 1,
                policy: Policy::Overwrite,
                history: 1,
            };
            let words: Vec<AtomicU64> = (0..layout_words(1, 3, 1).unwrap()).map(|_| AtomicU64::new(0)).collect();
            Broadcast::init(&words, shape, 0);
            let words = Arc::new(words);
            {
                let ring = Broadcast::attach(&words, 3, 24).unwrap();
                let mut p = ring.publisher().unwrap();
                ring.put_message(&p, 0, &[1; 8]);
                ring.publish(&mut p, 1);
            }
            let ring = Broadcast::attach(&words, 3, 24).unwrap();
            role::claim(ring.entry_role(0), 1, |_| Some(true)).unwrap();
            let mut s = ring.join(0, 1).unwrap();
            let publisher = {
                let words = Arc::clone(&words);
                loom::thread::spawn(move || {
                    let ring = Broadcast::attach(&words, 3, 24).unwrap();
                    let mut p = ring.publisher().unwrap();
                    ring.put_message(&p, 0, &[2; 16]);
                    ring.publish(&mut p, 1);
                })
            };
            let (mut seen, mut missed) = (0, 0);
            while seen + missed < 2 {
                let ready = ring.available(&mut s, 1).unwrap();
                missed += s.take_lagged();
                if ready == 0 {
                    sync::yield_now();
                    continue;
                }
                let mut out = [0u8; 16];
                match ring.get_message(&s, 0, 16, |len| out.get_mut(..len)) {
                    Message::Got(len) => {
                        ring.release(&mut s, 1);
                        let fill = if len == 8 { 1 } else { 2 };
                        assert!(len == 8 || len == 16, "a length no message had: {len}");
                        assert!(out[..len].iter().all(|b| *b == fill), "a mixed message: {out:?} of length {len}");
                        seen += 1;
                    }
                    Message::Overwritten => {
                        ring.skip_overwritten(&mut s);
                        missed += s.take_lagged();
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(seen + missed, 2, "messages seen and missed are the messages published");
            publisher.join().unwrap();
        });
    }

    /// A look at the newest item (`look`, as a tool makes) while a
    /// backpressure publisher nobody holds back overwrites it: whole or
    /// reported replaced, never a mix. Either slot fence switched off
    /// must make it fail.
    fn backpressure_look_is_whole() {
        loom::model(|| {
            let words = words(1, Policy::Backpressure, 0);
            {
                let ring = Broadcast::attach(&words, 2, 16).unwrap();
                let mut p = ring.publisher().unwrap();
                ring.put(&p, 0, &item(0));
                ring.publish(&mut p, 1);
            }
            let publisher = {
                let words = Arc::clone(&words);
                loom::thread::spawn(move || {
                    let ring = Broadcast::attach(&words, 2, 16).unwrap();
                    let mut p = ring.publisher().unwrap();
                    assert!(ring.free(&mut p, 1) > 0, "nobody holds it back");
                    ring.put(&p, 0, &item(1));
                    ring.publish(&mut p, 1);
                })
            };
            let ring = Broadcast::attach(&words, 2, 16).unwrap();
            // Acquire pairs with `publish`, as a tool's load does.
            let tail = words[TAIL_WORD].load(Ordering::Acquire);
            let mut out = [0u8; 16];
            if ring.look(tail - 1, |data| load_bytes(data, &mut out[..])) {
                assert_eq!(out, item(tail - 1), "a look returned a mix");
            }
            publisher.join().unwrap();
        });
    }

    #[test]
    fn loom_broadcast_holds() {
        with_mutant(None, || {
            publish_in_order();
            overwrite_is_whole_and_counted();
            joiner_reads_nothing_overwritten();
            joiner_behind_a_moving_publisher();
            message_is_whole_or_missed();
            backpressure_look_is_whole();
        });
    }

    #[test]
    fn loom_broadcast_mutants_fail() {
        assert_mutants_fail(&[
            (Site::BcastPublish, publish_in_order, "publish_in_order"),
            (Site::BcastTailLoad, publish_in_order, "publish_in_order"),
            (Site::BcastSlotWriterFence, overwrite_is_whole_and_counted, "overwrite_is_whole_and_counted"),
            (Site::BcastSlotReaderFence, overwrite_is_whole_and_counted, "overwrite_is_whole_and_counted"),
            (Site::BcastSlotWriterFence, message_is_whole_or_missed, "message_is_whole_or_missed"),
            (Site::BcastSlotReaderFence, message_is_whole_or_missed, "message_is_whole_or_missed"),
            (Site::BcastSlotWriterFence, backpressure_look_is_whole, "backpressure_look_is_whole"),
            (Site::BcastSlotReaderFence, backpressure_look_is_whole, "backpressure_look_is_whole"),
            (Site::BcastRefreshFence, joiner_reads_nothing_overwritten, "joiner_reads_nothing_overwritten"),
            (Site::BcastJoinFence, joiner_reads_nothing_overwritten, "joiner_reads_nothing_overwritten"),
            (Site::BcastRefreshFence, joiner_behind_a_moving_publisher, "joiner_behind_a_moving_publisher"),
            (Site::BcastJoinFence, joiner_behind_a_moving_publisher, "joiner_behind_a_moving_publisher"),
            (Site::BcastLimitStore, joiner_behind_a_moving_publisher, "joiner_behind_a_moving_publisher"),
            (Site::BcastLimitLoad, joiner_behind_a_moving_publisher, "joiner_behind_a_moving_publisher"),
        ]);
    }
}
