//! `SharedBool`: one flag shared between processes.

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
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

/// Layout fingerprint of [`SharedBool`].
/// Fingerprint and name of the stored value.
const LAYOUT: Layout<'static> = Layout::of(schema::builtin::BOOL, "SharedBool");

/// A `bool` in shared memory, stored as one byte: 0 is `false`, 1 is `true`.
///
/// Another process may store any byte there. Reads treat every nonzero
/// byte as `true` (as C does), so a stray `2` reads as `true`: defined,
/// never undefined behaviour. [`SharedBool::read_raw`] shows the byte.
///
/// Every write also advances a [version](SharedBool::version), and
/// [`wait_changed`](SharedBool::wait_changed) sleeps until it moves.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{SharedBool, SharedObject};
/// let stop = SharedBool::create_sharedobject(false)?;
/// let peer = SharedBool::load_sharedobject(&stop.handle())?;
/// peer.write(true);
/// assert!(stop.read());
/// assert!(stop.swap(false));
/// # Ok(()) }
/// ```
pub struct SharedBool {
    segment: Segment,
}

impl SharedBool {
    const SPEC: Spec<'static> =
        Spec { kind: ObjectKind::Bool, layout: LAYOUT, payload_size: 8 * WORDS as u64, payload_align: 8, capacity: 1 };

    /// Creates a new flag holding `initial`, under a generated name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedBool, SharedObject};
    ///
    /// let running = SharedBool::create_sharedobject(true)?;
    /// let opened = SharedBool::load_sharedobject(&running.handle())?; // another process
    /// opened.write(false);
    /// assert!(!running.read());
    /// # Ok(()) }
    /// ```
    pub fn create_sharedobject(initial: bool) -> Result<Self, CreateError> {
        Self::create(None, initial)
    }

    /// Creates a new flag holding `initial` under `name`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedBool, SharedObject};
    /// # let name = format!("shmrs-doc-bool-{}", std::process::id());
    /// let stop = SharedBool::create_named(&name, false)?;
    /// SharedBool::open(&name)?.write(true); // another program
    /// assert!(stop.read());
    /// # Ok(()) }
    /// ```
    pub fn create_named(name: &str, initial: bool) -> Result<Self, CreateError> {
        Self::create(Some(name), initial)
    }

    fn create(name: Option<&str>, initial: bool) -> Result<Self, CreateError> {
        let segment = Segment::create(name, &Self::SPEC, |payload| {
            payload.bytes()[8 * VALUE_WORD].store(u8::from(initial), Ordering::Relaxed);
        })?;
        Ok(Self::wrap(segment))
    }

    fn wrap(segment: Segment) -> Self {
        // Asked once here, so that writes can wake waiters without a fence
        // (`object/notify.rs`).
        crate::segment::barrier::this_process();
        Self { segment }
    }

    /// The value's byte: the first of the value word, which is accessed
    /// only as this byte.
    fn byte(&self) -> &AtomicU8 {
        &self.segment.payload().bytes()[8 * VALUE_WORD]
    }

    /// After a store of the byte: advances the version (`Release`, after
    /// the store; pairs with the `Acquire` in `version`) and wakes whoever
    /// waits for a change.
    #[inline]
    fn publish(&self) {
        self.segment.payload().words()[VERSION_WORD].fetch_add(1, Ordering::Release);
        notify::published(self.waiters());
    }

    /// The version of the value: a number that every `write` and `swap`
    /// advances by one (wrapping), in whichever process it runs. A value
    /// read after this call is that version's or a later one.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedBool;
    /// let flag = SharedBool::create_sharedobject(false)?;
    /// let before = flag.version();
    /// flag.write(true);
    /// assert_ne!(flag.version(), before);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn version(&self) -> u64 {
        self.load_version()
    }

    /// Sleeps until the [version](Self::version) differs from `since`,
    /// and returns the new version; `None` once `timeout` has passed first
    /// (`Duration::MAX` waits for ever, zero only looks). A write while
    /// nobody waits makes no system call.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedBool, SharedObject};
    /// use std::time::Duration;
    /// let stop = SharedBool::create_sharedobject(false)?;
    /// let peer = SharedBool::load_sharedobject(&stop.handle())?;
    /// let since = stop.version();
    /// let writer = std::thread::spawn(move || peer.write(true));
    /// while !stop.read() {
    ///     stop.wait_changed(since, Duration::from_secs(10)).expect("a write within 10 s");
    /// }
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
    /// use shm_runtime::{SharedBool, SharedObject};
    /// let stop = SharedBool::create_sharedobject(false)?;
    /// let peer = SharedBool::load_sharedobject(&stop.handle())?;
    /// let since = stop.version();
    /// let writer = std::thread::spawn(move || peer.write(true));
    /// smol::block_on(stop.changed(since));
    /// assert!(stop.read());
    /// # writer.join().unwrap();
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn changed(&self, since: u64) -> impl core::future::Future<Output = u64> + Send + '_ {
        crate::object::future::Changed::new(self, since)
    }

    /// The current value: `false` for a 0 byte, `true` for any other.
    /// `Acquire`: pairs with the `Release` of the store that produced it.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedBool;
    ///
    /// let flag = SharedBool::create_sharedobject(false)?;
    /// assert!(!flag.read());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn read(&self) -> bool {
        self.read_raw() != 0
    }

    /// The stored byte itself (0 or 1 unless a peer stored something else).
    #[must_use]
    pub fn read_raw(&self) -> u8 {
        self.byte().load(Ordering::Acquire)
    }

    /// Stores `value` as 0 or 1 (`Release`, pairs with the `Acquire` in
    /// `read`).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedBool;
    ///
    /// let flag = SharedBool::create_sharedobject(false)?;
    /// flag.write(true);
    /// assert!(flag.read());
    /// # Ok(()) }
    /// ```
    pub fn write(&self, value: bool) {
        self.byte().store(u8::from(value), Ordering::Release);
        self.publish();
    }

    /// Stores `value` and returns the previous value (nonzero is `true`).
    /// `AcqRel`: pairs with the other side's stores and loads.
    pub fn swap(&self, value: bool) -> bool {
        let previous = self.byte().swap(u8::from(value), Ordering::AcqRel) != 0;
        self.publish();
        previous
    }
}

impl Versioned for SharedBool {
    fn load_version(&self) -> u64 {
        // Pairs with the Release increment in `publish`.
        self.segment.payload().words()[VERSION_WORD].load(Ordering::Acquire)
    }

    fn waiters(&self) -> &AtomicU32 {
        // The waiters word is accessed only through this view.
        self.segment.payload().futex_word(WAITERS_WORD)
    }
}

impl SharedObject for SharedBool {
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        Segment::open_fixed(handle, &Self::SPEC, options).map(Self::wrap)
    }
}

impl sealed::Sealed for SharedBool {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(&self.segment)
    }

    fn into_segment(self) -> SegmentOwned {
        SegmentOwned(self.segment)
    }
}

impl fmt::Debug for SharedBool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_handle(self, "SharedBool", f)
    }
}
