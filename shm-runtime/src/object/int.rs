//! `SharedInt`: one `i64` shared between processes.

use crate::format::header::Layout;
use crate::format::header::ObjectKind;
use crate::format::layout::scalar::{VALUE_WORD, VERSION_WORD, WAITERS_WORD, WORDS};
use crate::format::schema;
use crate::object::notify::{self, Versioned};
use crate::object::shared_object::sealed::{self, SegmentOwned, SegmentRef};
use crate::object::shared_object::{SharedObject, debug_handle};
use crate::segment::error::{CreateError, OpenError};
use crate::segment::handle::Handle;
use crate::segment::options::OpenOptions;
use crate::segment::{Segment, Spec};
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Layout fingerprint of [`SharedInt`].
/// Fingerprint and name of the stored value.
const LAYOUT: Layout<'static> = Layout::of(schema::builtin::INT, "SharedInt");

/// An `i64` in shared memory. Every operation is one atomic instruction,
/// so values are never torn and a killed writer cannot leave a partial
/// value.
///
/// Every change also advances a [version](SharedInt::version), and
/// [`wait_changed`](SharedInt::wait_changed) sleeps until it moves.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{SharedInt, SharedObject};
/// let counter = SharedInt::create_sharedobject(5)?;
/// // Another process would do this with the text of `counter.handle()`.
/// let peer = SharedInt::load_sharedobject(&counter.handle())?;
/// peer.write(41);
/// assert_eq!(counter.fetch_add(1), 41);
/// assert_eq!(peer.read(), 42);
/// counter.cleanup()?;
/// # Ok(()) }
/// ```
pub struct SharedInt {
    segment: Segment,
}

impl SharedInt {
    const SPEC: Spec<'static> =
        Spec { kind: ObjectKind::Int, layout: LAYOUT, payload_size: 8 * WORDS as u64, payload_align: 8, capacity: 8 };

    /// Creates a new integer holding `initial`, under a generated name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Handle, SharedInt, SharedObject};
    ///
    /// let counter = SharedInt::create_sharedobject(10)?;
    /// let text = counter.handle().to_string(); // for another process
    /// let handle: Handle = text.parse()?;
    /// let opened = SharedInt::load_sharedobject(&handle)?;
    /// opened.fetch_add(5);
    /// assert_eq!(counter.read(), 15);
    /// # Ok(()) }
    /// ```
    pub fn create_sharedobject(initial: i64) -> Result<Self, CreateError> {
        Self::create(None, initial)
    }

    /// Creates a new integer holding `initial` under `name`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedInt, SharedObject};
    /// # let name = format!("shmrs-doc-int-{}", std::process::id());
    /// let hits = SharedInt::create_named(&name, 0)?;
    /// let same = SharedInt::open(&name)?; // another program, by the name alone
    /// same.fetch_add(1);
    /// assert_eq!(hits.read(), 1);
    /// # Ok(()) }
    /// ```
    pub fn create_named(name: &str, initial: i64) -> Result<Self, CreateError> {
        Self::create(Some(name), initial)
    }

    fn create(name: Option<&str>, initial: i64) -> Result<Self, CreateError> {
        let segment = Segment::create(name, &Self::SPEC, |payload| {
            payload.words()[VALUE_WORD].store(initial.cast_unsigned(), Ordering::Relaxed);
        })?;
        Ok(Self::wrap(segment))
    }

    fn wrap(segment: Segment) -> Self {
        // Asked once here, so that writes can wake waiters without a fence
        // (`object/notify.rs`).
        crate::segment::barrier::this_process();
        Self { segment }
    }

    fn word(&self) -> &AtomicU64 {
        &self.segment.payload().words()[VALUE_WORD]
    }

    /// After a change of the value: advances the version (`Release`,
    /// after the change; pairs with the `Acquire` in `version`) and wakes
    /// whoever waits for a change.
    #[inline]
    fn publish(&self) {
        self.segment.payload().words()[VERSION_WORD].fetch_add(1, Ordering::Release);
        notify::published(self.waiters());
    }

    /// The version of the value: a number that every `write`, `fetch_add`
    /// and `swap`, and every `compare_exchange` that stores, advances by
    /// one (wrapping), in whichever process it runs. Compare it with a
    /// version read earlier to learn whether the value changed since, or
    /// pass it to [`wait_changed`](Self::wait_changed). A value read after
    /// this call is that version's or a later one.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedInt;
    /// let counter = SharedInt::create_sharedobject(0)?;
    /// let before = counter.version();
    /// counter.write(0);
    /// assert_ne!(counter.version(), before, "every write counts, even of the same value");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn version(&self) -> u64 {
        self.load_version()
    }

    /// Sleeps until the [version](Self::version) differs from `since`
    /// (some process changed the value after the caller read `since`), and
    /// returns the new version; `None` once `timeout` has passed first
    /// (`Duration::MAX` waits for ever, zero only looks). The sleep is on
    /// a futex in the segment: a write wakes it at once, and a write while
    /// nobody waits makes no system call.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedInt, SharedObject};
    /// use std::time::Duration;
    /// let answer = SharedInt::create_sharedobject(0)?;
    /// let peer = SharedInt::load_sharedobject(&answer.handle())?;
    /// let since = answer.version();
    /// let writer = std::thread::spawn(move || peer.write(42));
    /// let now = answer.wait_changed(since, Duration::from_secs(10)).expect("a write within 10 s");
    /// assert_ne!(now, since);
    /// assert_eq!(answer.read(), 42);
    /// assert_eq!(answer.wait_changed(now, Duration::ZERO), None, "nothing newer");
    /// # writer.join().unwrap();
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn wait_changed(&self, since: u64, timeout: Duration) -> Option<u64> {
        notify::wait_changed(self, since, timeout)
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
    /// use shm_runtime::{SharedInt, SharedObject};
    /// let answer = SharedInt::create_sharedobject(0)?;
    /// let peer = SharedInt::load_sharedobject(&answer.handle())?;
    /// let since = answer.version();
    /// let writer = std::thread::spawn(move || peer.write(42));
    /// let now = smol::block_on(answer.changed(since));
    /// assert_ne!(now, since);
    /// assert_eq!(answer.read(), 42);
    /// # writer.join().unwrap();
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn changed(&self, since: u64) -> impl core::future::Future<Output = u64> + Send + '_ {
        crate::object::future::Changed::new(self, since)
    }

    /// The current value. `Acquire`: pairs with the `Release` of the store
    /// or read-modify-write that produced the value, so what that process
    /// wrote before it is visible after this.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedInt;
    ///
    /// let n = SharedInt::create_sharedobject(7)?;
    /// assert_eq!(n.read(), 7);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn read(&self) -> i64 {
        self.word().load(Ordering::Acquire).cast_signed()
    }

    /// Stores `value` (`Release`, pairs with the `Acquire` in `read`).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedInt;
    ///
    /// let n = SharedInt::create_sharedobject(0)?;
    /// n.write(-3);
    /// assert_eq!(n.read(), -3);
    /// # Ok(()) }
    /// ```
    pub fn write(&self, value: i64) {
        self.word().store(value.cast_unsigned(), Ordering::Release);
        self.publish();
    }

    /// Adds `delta` (wrapping) and returns the previous value; atomic
    /// across processes. `AcqRel`: pairs with the other operations' stores
    /// and loads on both sides.
    pub fn fetch_add(&self, delta: i64) -> i64 {
        let previous = self.word().fetch_add(delta.cast_unsigned(), Ordering::AcqRel).cast_signed();
        self.publish();
        previous
    }

    /// Stores `value` and returns the previous value (`AcqRel`, as
    /// `fetch_add`).
    pub fn swap(&self, value: i64) -> i64 {
        let previous = self.word().swap(value.cast_unsigned(), Ordering::AcqRel).cast_signed();
        self.publish();
        previous
    }

    /// Stores `new` if the value is `current`. Returns the previous value:
    /// `Ok` if it was `current` (and was replaced), `Err` otherwise.
    /// `AcqRel` on success, `Acquire` on failure, as `fetch_add`.
    pub fn compare_exchange(&self, current: i64, new: i64) -> Result<i64, i64> {
        let outcome = self
            .word()
            .compare_exchange(current.cast_unsigned(), new.cast_unsigned(), Ordering::AcqRel, Ordering::Acquire)
            .map(u64::cast_signed)
            .map_err(u64::cast_signed);
        if outcome.is_ok() {
            self.publish();
        }
        outcome
    }
}

impl Versioned for SharedInt {
    fn load_version(&self) -> u64 {
        // Pairs with the Release increment in `publish`.
        self.segment.payload().words()[VERSION_WORD].load(Ordering::Acquire)
    }

    fn waiters(&self) -> &AtomicU32 {
        // The waiters word is accessed only through this view.
        self.segment.payload().futex_word(WAITERS_WORD)
    }
}

impl SharedObject for SharedInt {
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        Segment::open_fixed(handle, &Self::SPEC, options).map(Self::wrap)
    }
}

impl sealed::Sealed for SharedInt {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(&self.segment)
    }

    fn into_segment(self) -> SegmentOwned {
        SegmentOwned(self.segment)
    }
}

impl fmt::Debug for SharedInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_handle(self, "SharedInt", f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::shared_object::SharedObject;
    use crate::segment::error::CreateError;
    use crate::segment::name::{MAX_NAME_LEN, NAME_PREFIX};

    /// H8: the longest name the docs allow makes a working segment (the
    /// kernel's file-name limit, with nothing of ours counted against it);
    /// one byte more is refused before any system call.
    #[test]
    fn h8_names_of_254_and_255_bytes_work() {
        for len in [254, MAX_NAME_LEN] {
            let tag = format!("{NAME_PREFIX}h8-{}-", std::process::id());
            let name = format!("{tag}{}", "n".repeat(len - tag.len()));
            assert_eq!(name.len(), len);
            let creator = SharedInt::create_named(&name, 7).unwrap_or_else(|e| panic!("{len} bytes: {e}"));
            let text = creator.handle().to_string();
            let opened = SharedInt::load_sharedobject(&text.parse().unwrap()).unwrap();
            assert_eq!(opened.read(), 7);
            assert_eq!(crate::tools::inspect::inspect_segment(&name).unwrap().name, name);
            drop(opened);
            creator.cleanup().unwrap();
            assert!(crate::tools::inspect::inspect_segment(&name).is_err(), "{len} bytes: cleanup left the file");
        }
        let err = SharedInt::create_named(&"n".repeat(MAX_NAME_LEN + 1), 7).unwrap_err();
        assert!(matches!(err, CreateError::InvalidName(_)), "{err}");
    }
}
