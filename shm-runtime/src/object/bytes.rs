//! `SharedBytes`: a byte string of bounded length shared between processes,
//! and the segment plumbing it shares with `SharedString`.

use crate::format::header::Layout;
use crate::format::header::ObjectKind;
use crate::format::layout::cell::WAITERS_WORD;
use crate::format::schema;
use crate::object::notify::{self, Versioned};
use crate::object::shared_object::sealed::{self, SegmentOwned, SegmentRef};
use crate::object::shared_object::{SharedObject, debug_handle};
use crate::protocol::cell::{ByteCell, CellError, layout_words};
use crate::protocol::lock::LOCK_WAIT;
use crate::segment::error::{CreateError, OpenError, ReadError, WriteError};
use crate::segment::handle::Handle;
use crate::segment::liveness;
use crate::segment::name::SegmentName;
use crate::segment::options::OpenOptions;
use crate::segment::{Segment, Spec};
use core::fmt;
use core::sync::atomic::AtomicU32;
use std::time::Duration;

/// Layout fingerprint of [`SharedBytes`].
/// Fingerprint and name of the stored value.
const LAYOUT: Layout<'static> = Layout::of(schema::builtin::BYTES, "SharedBytes");

/// A segment holding a byte cell (see `cell.rs`), whose number of words
/// is checked against the capacity once, at create or open: each access
/// then takes the cell as a view of the payload that borrows `self`
/// ([`CellSegment::cell`]) and checks nothing.
pub(crate) struct CellSegment {
    segment: Segment,
    /// The cell's capacity in bytes: the payload has exactly
    /// `layout_words(capacity)` words (checked at create or open; a
    /// segment's payload never changes size). Never re-read from shared
    /// memory.
    capacity: usize,
}

impl CellSegment {
    pub(crate) fn create(
        name: Option<&str>,
        kind: ObjectKind,
        layout: Layout<'_>,
        capacity: usize,
    ) -> Result<Self, CreateError> {
        Self::create_with(name, kind, layout, capacity, b"")
    }

    /// Creates a cell holding `initial` (at most `capacity` bytes).
    pub(crate) fn create_with(
        name: Option<&str>,
        kind: ObjectKind,
        layout: Layout<'_>,
        capacity: usize,
        initial: &[u8],
    ) -> Result<Self, CreateError> {
        // The name to report when refusing before any system call.
        let error_name = || {
            name.map_or_else(|| Ok(SegmentName::unnamed()), |n| SegmentName::new(n).map_err(CreateError::InvalidName))
        };
        if capacity == 0 {
            let reason = "the capacity must be at least 1 byte";
            return Err(CreateError::InvalidCapacity { name: error_name()?, capacity, reason });
        }
        let bytes = layout_words(capacity).and_then(|w| w.checked_mul(8)).and_then(|b| u64::try_from(b).ok());
        let Some(payload_size) = bytes else {
            return Err(CreateError::SizeOverflow { name: error_name()?, capacity });
        };
        let spec = Spec { kind, layout, payload_size, payload_align: 8, capacity };
        let segment = Segment::create(name, &spec, |payload| {
            ByteCell::init(payload.words(), capacity, initial);
        })?;
        // Checked once, here, so that `cell` need not check it.
        let words = segment.payload().words().len();
        assert_eq!(Some(words), layout_words(capacity), "the payload was sized with layout_words(capacity)");
        Ok(Self::wrap(segment, capacity))
    }

    pub(crate) fn open(
        handle: &Handle,
        kind: ObjectKind,
        layout: Layout<'_>,
        options: &OpenOptions,
    ) -> Result<Self, OpenError> {
        let segment = Segment::open(handle, kind, layout, None, options)?;
        // `attach` checks the stored capacity against the number of words.
        let capacity = ByteCell::attach(segment.payload().words())
            .map_err(|what| OpenError::Corrupt { name: segment.name().clone(), what })?
            .capacity();
        Ok(Self::wrap(segment, capacity))
    }

    fn wrap(segment: Segment, capacity: usize) -> Self {
        // Asked once here, so that writes can wake waiters without a fence
        // (`object/notify.rs`).
        crate::segment::barrier::this_process();
        Self { segment, capacity }
    }

    /// The cell, for a borrow of `self`: a view of the payload, made
    /// without a check (the mapping goes only when `self` does, and
    /// `cleanup` consumes `self`).
    #[inline]
    pub(crate) fn cell(&self) -> ByteCell<'_> {
        // SAFETY: the payload has `layout_words(self.capacity)` words:
        // `create_with` checked it, `open` had `attach` check it, and
        // neither the segment nor the capacity ever changes after (both
        // private, neither re-read from shared memory).
        unsafe { ByteCell::split_unchecked(self.segment.payload().words(), self.capacity) }
    }

    pub(crate) fn segment(&self) -> &Segment {
        &self.segment
    }

    /// The segment, for `cleanup`; no view of the cell outlives `self`.
    pub(crate) fn into_segment(self) -> Segment {
        self.segment
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn write(&self, value: &[u8]) -> Result<(), WriteError> {
        self.cell().write(value, liveness::claimant(), LOCK_WAIT).map_err(|e| self.write_error(e))?;
        self.published();
        Ok(())
    }

    /// After a write (the cell's `current` advanced, the lock released):
    /// wakes whoever waits for a change.
    #[inline]
    pub(crate) fn published(&self) {
        notify::published(self.waiters());
    }

    /// Waits for a version other than `since` (see `object/notify.rs`).
    pub(crate) fn wait_changed(&self, since: u64, timeout: Duration) -> Option<u64> {
        notify::wait_changed(self, since, timeout)
    }

    pub(crate) fn write_error(&self, e: CellError) -> WriteError {
        let name = self.segment.name().clone();
        match e {
            CellError::TooLarge { len } => WriteError::TooLarge { name, len, capacity: self.capacity() },
            CellError::LockTimeout { holder, waited } => WriteError::LockTimeout { name, holder, waited },
            other => unreachable!("writes fail only with TooLarge or LockTimeout, not {other:?}"),
        }
    }

    pub(crate) fn read_error(&self, e: CellError) -> ReadError {
        let name = self.segment.name().clone();
        match e {
            CellError::Corrupt { len } => ReadError::Corrupt { name, len, capacity: self.capacity() },
            CellError::BufferTooSmall { len, buffer } => ReadError::BufferTooSmall { name, len, buffer },
            CellError::Contended => ReadError::Contended { name },
            other => unreachable!("reads fail only with Corrupt, BufferTooSmall or Contended, not {other:?}"),
        }
    }
}

impl Versioned for CellSegment {
    fn load_version(&self) -> u64 {
        self.cell().version()
    }

    fn waiters(&self) -> &AtomicU32 {
        // The waiters word is accessed only through this view.
        self.segment.payload().futex_word(WAITERS_WORD)
    }
}

/// Bytes in shared memory, up to a capacity fixed at creation.
///
/// `read` returns exactly the bytes of the last completed `write` (length
/// included), never a mix of two writes, even while another process
/// writes or after a writer was killed mid-write. Writers from several
/// processes take turns through a writer lock that a dead holder cannot
/// keep; readers never wait for it.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{SharedBytes, SharedObject};
/// let frame = SharedBytes::create_sharedobject(1024)?;
/// let peer = SharedBytes::load_sharedobject(&frame.handle())?;
/// frame.write(&[1, 2, 3])?;
/// assert_eq!(peer.read()?, [1, 2, 3]);
/// let mut buf = [0u8; 16];
/// let len = peer.read_into(&mut buf)?;
/// assert_eq!(&buf[..len], [1, 2, 3]);
/// assert!(frame.write(&[0; 2000]).is_err());
/// # Ok(()) }
/// ```
pub struct SharedBytes {
    inner: CellSegment,
}

impl SharedBytes {
    /// Creates an empty value of up to `capacity` bytes (at least 1) under
    /// a generated name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedBytes, SharedObject};
    ///
    /// let blob = SharedBytes::create_sharedobject(1024)?; // up to 1 KiB
    /// let opened = SharedBytes::load_sharedobject(&blob.handle())?; // another process
    /// blob.write(&[1, 2, 3])?;
    /// assert_eq!(opened.read()?, [1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn create_sharedobject(capacity: usize) -> Result<Self, CreateError> {
        CellSegment::create(None, ObjectKind::Bytes, LAYOUT, capacity).map(|inner| Self { inner })
    }

    /// Creates an empty value of up to `capacity` bytes under `name`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedBytes, SharedObject};
    /// # let name = format!("shmrs-doc-bytes-{}", std::process::id());
    /// let blob = SharedBytes::create_named(&name, 16)?;
    /// blob.write(b"frame")?;
    /// assert_eq!(SharedBytes::open(&name)?.read()?, b"frame");
    /// # Ok(()) }
    /// ```
    pub fn create_named(name: &str, capacity: usize) -> Result<Self, CreateError> {
        CellSegment::create(Some(name), ObjectKind::Bytes, LAYOUT, capacity).map(|inner| Self { inner })
    }

    /// Capacity in bytes.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Replaces the value with `value`. A value longer than the capacity is
    /// refused with [`WriteError::TooLarge`] and the stored value stays.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedBytes;
    ///
    /// let blob = SharedBytes::create_sharedobject(4)?;
    /// blob.write(b"abcd")?;
    /// assert!(blob.write(b"abcde").is_err(), "over the capacity");
    /// assert_eq!(blob.read()?, b"abcd");
    /// # Ok(()) }
    /// ```
    pub fn write(&self, value: &[u8]) -> Result<(), WriteError> {
        self.inner.write(value)
    }

    /// The value, in a new vector.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedBytes;
    ///
    /// let blob = SharedBytes::create_sharedobject(4)?;
    /// blob.write(b"ab")?;
    /// assert_eq!(blob.read()?, b"ab", "exactly what was written: no stale tail");
    /// # Ok(()) }
    /// ```
    pub fn read(&self) -> Result<Vec<u8>, ReadError> {
        let mut out = Vec::new();
        self.read_to_vec(&mut out)?;
        Ok(out)
    }

    /// Replaces the contents of `out` with the value, reusing its
    /// allocation (no allocation once `out` has grown to the capacity).
    pub fn read_to_vec(&self, out: &mut Vec<u8>) -> Result<(), ReadError> {
        self.inner.cell().read_vec(out).map_err(|e| self.inner.read_error(e))
    }

    /// Copies the value into the front of `buf` and returns its length,
    /// without allocating. [`ReadError::BufferTooSmall`] if it does not fit.
    pub fn read_into(&self, buf: &mut [u8]) -> Result<usize, ReadError> {
        self.inner.cell().read_into(buf).map_err(|e| self.inner.read_error(e))
    }

    /// The version of the value: the number of writes made so far (in
    /// any process, wrapping), advanced by every `write`. A value read
    /// after this call is that version's or a later one.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedBytes;
    /// let frame = SharedBytes::create_sharedobject(16)?;
    /// let before = frame.version();
    /// frame.write(b"abc")?;
    /// assert_eq!(frame.version(), before.wrapping_add(1));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn version(&self) -> u64 {
        self.inner.load_version()
    }

    /// Sleeps until the [version](Self::version) differs from `since`,
    /// and returns the new version; `None` once `timeout` has passed first
    /// (`Duration::MAX` waits for ever, zero only looks). A write while
    /// nobody waits makes no system call.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedBytes, SharedObject};
    /// use std::time::Duration;
    /// let frame = SharedBytes::create_sharedobject(16)?;
    /// let peer = SharedBytes::load_sharedobject(&frame.handle())?;
    /// let since = frame.version();
    /// let writer = std::thread::spawn(move || peer.write(b"next").map(drop));
    /// frame.wait_changed(since, Duration::from_secs(10)).expect("a write within 10 s");
    /// assert_eq!(frame.read()?, b"next");
    /// # writer.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn wait_changed(&self, since: u64, timeout: Duration) -> Option<u64> {
        self.inner.wait_changed(since, timeout)
    }

    /// The async form of [`wait_changed`](Self::wait_changed): completes
    /// with the new version once it differs from `since`, without a
    /// deadline of its own (wrap it in the runtime's timeout for one). It
    /// needs no particular runtime: while it is pending, a waiter thread
    /// of this process sleeps on the object's futex word for it.
    /// Cancellation-safe: dropping it takes nothing and loses nothing.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedBytes, SharedObject};
    /// let frame = SharedBytes::create_sharedobject(16)?;
    /// let peer = SharedBytes::load_sharedobject(&frame.handle())?;
    /// let since = frame.version();
    /// let writer = std::thread::spawn(move || peer.write(b"next").map(drop));
    /// smol::block_on(frame.changed(since));
    /// assert_eq!(frame.read()?, b"next");
    /// # writer.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn changed(&self, since: u64) -> impl core::future::Future<Output = u64> + Send + '_ {
        crate::object::future::Changed::new(&self.inner, since)
    }
}

impl SharedObject for SharedBytes {
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        CellSegment::open(handle, ObjectKind::Bytes, LAYOUT, options).map(|inner| Self { inner })
    }
}

impl sealed::Sealed for SharedBytes {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.inner.segment())
    }

    fn into_segment(self) -> SegmentOwned {
        SegmentOwned(self.inner.into_segment())
    }
}

impl fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_handle(self, "SharedBytes", f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SharedString;

    /// Objects move between threads and are shared by reference.
    const _: () = {
        const fn send_sync<S: Send + Sync>() {}
        send_sync::<SharedBytes>();
        send_sync::<SharedString>();
    };

    /// The cell is a view of the payload taken on every access from the
    /// capacity checked at create or open; the mapping does not move when
    /// the object does: moved into a box, an array and another thread,
    /// both sides still read and write the same value.
    #[test]
    fn the_cell_resolved_once_survives_moves() {
        let creator = Box::new(SharedBytes::create_sharedobject(16).unwrap());
        let opener = [SharedBytes::load_sharedobject(&creator.handle()).unwrap()];
        creator.write(b"before").unwrap();
        let creator = std::thread::spawn(move || {
            assert_eq!(creator.read().unwrap(), b"before");
            creator.write(b"from a thread").unwrap();
            *creator
        })
        .join()
        .unwrap();
        assert_eq!(opener[0].read().unwrap(), b"from a thread");
        assert_eq!(opener[0].capacity(), 16);
        let err = opener[0].write(&[0; 17]).unwrap_err();
        assert!(matches!(err, WriteError::TooLarge { len: 17, capacity: 16, .. }), "{err}");
        creator.cleanup().unwrap();
        assert_eq!(opener[0].read().unwrap(), b"from a thread", "removing the name leaves the mapping");
    }
}
