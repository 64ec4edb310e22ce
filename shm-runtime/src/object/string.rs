//! `SharedString`: UTF-8 text of bounded length shared between processes.

use crate::format::header::Layout;
use crate::format::header::ObjectKind;
use crate::format::schema;
use crate::object::bytes::CellSegment;
use crate::object::shared_object::sealed::{self, SegmentOwned, SegmentRef};
use crate::object::shared_object::{SharedObject, debug_handle};
use crate::segment::error::{CreateError, OpenError, ReadError, WriteError};
use crate::segment::handle::Handle;
use crate::segment::options::OpenOptions;
use core::fmt;
use std::time::Duration;

/// Layout fingerprint of [`SharedString`].
/// Fingerprint and name of the stored value.
const LAYOUT: Layout<'static> = Layout::of(schema::builtin::STRING, "SharedString");

/// A `String` in shared memory, up to a capacity in UTF-8 bytes fixed at
/// creation.
///
/// `read` returns exactly the last string written: multi-byte characters,
/// embedded NUL characters and a shorter string after a longer one all
/// come back as written. Reads never see a mix of two writes; a writer
/// killed mid-write leaves the previous string readable. Bytes a peer
/// stored that are not UTF-8 give [`ReadError::InvalidUtf8`], a length
/// above the capacity [`ReadError::Corrupt`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{SharedObject, SharedString};
/// let greeting = SharedString::create_sharedobject(32)?;
/// let peer = SharedString::load_sharedobject(&greeting.handle())?;
/// greeting.write("Grüße\0!")?;
/// assert_eq!(peer.read()?, "Grüße\0!");
/// assert!(greeting.write(&"x".repeat(33)).is_err());
/// assert_eq!(peer.read()?, "Grüße\0!");
/// # Ok(()) }
/// ```
pub struct SharedString {
    inner: CellSegment,
}

impl SharedString {
    /// Creates an empty string of up to `capacity` UTF-8 bytes (at least 1)
    /// under a generated name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedObject, SharedString};
    ///
    /// let status = SharedString::create_sharedobject(64)?; // up to 64 bytes of UTF-8
    /// let opened = SharedString::load_sharedobject(&status.handle())?; // another process
    /// status.write("ready")?;
    /// assert_eq!(opened.read()?, "ready");
    /// # Ok(()) }
    /// ```
    pub fn create_sharedobject(capacity: usize) -> Result<Self, CreateError> {
        CellSegment::create(None, ObjectKind::String, LAYOUT, capacity).map(|inner| Self { inner })
    }

    /// Creates an empty string of up to `capacity` UTF-8 bytes under `name`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedObject, SharedString};
    /// # let name = format!("shmrs-doc-string-{}", std::process::id());
    /// let status = SharedString::create_named(&name, 64)?;
    /// status.write("starting")?;
    /// assert_eq!(SharedString::open(&name)?.read()?, "starting");
    /// # Ok(()) }
    /// ```
    pub fn create_named(name: &str, capacity: usize) -> Result<Self, CreateError> {
        CellSegment::create(Some(name), ObjectKind::String, LAYOUT, capacity).map(|inner| Self { inner })
    }

    /// Capacity in UTF-8 bytes.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Replaces the string. One longer than the capacity (in UTF-8 bytes)
    /// is refused with [`WriteError::TooLarge`] and the stored string stays.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedString, WriteError};
    ///
    /// let text = SharedString::create_sharedobject(8)?;
    /// text.write("héllo")?; // 6 bytes of UTF-8
    /// assert!(matches!(text.write("too long!"), Err(WriteError::TooLarge { .. })));
    /// assert_eq!(text.read()?, "héllo", "a refused write changes nothing");
    /// # Ok(()) }
    /// ```
    pub fn write(&self, value: &str) -> Result<(), WriteError> {
        self.inner.write(value.as_bytes())
    }

    /// The string, in a new allocation.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedString;
    ///
    /// let text = SharedString::create_sharedobject(16)?;
    /// assert_eq!(text.read()?, "", "a new string is empty");
    /// text.write("hi")?;
    /// assert_eq!(text.read()?, "hi");
    /// # Ok(()) }
    /// ```
    pub fn read(&self) -> Result<String, ReadError> {
        let mut out = String::new();
        self.read_into(&mut out)?;
        Ok(out)
    }

    /// Replaces the contents of `out` with the string, reusing its
    /// allocation. On error `out` is left empty.
    pub fn read_into(&self, out: &mut String) -> Result<(), ReadError> {
        let mut bytes = core::mem::take(out).into_bytes();
        self.inner.cell().read_vec(&mut bytes).map_err(|e| self.inner.read_error(e))?;
        match String::from_utf8(bytes) {
            Ok(text) => {
                *out = text;
                Ok(())
            }
            Err(e) => Err(ReadError::InvalidUtf8 { name: self.inner.segment().name().clone(), source: e.utf8_error() }),
        }
    }

    /// The version of the string: the number of writes made so far (in
    /// any process, wrapping), advanced by every `write`. A string read
    /// after this call is that version's or a later one.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedString;
    /// let status = SharedString::create_sharedobject(16)?;
    /// let before = status.version();
    /// status.write("ready")?;
    /// assert_ne!(status.version(), before);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn version(&self) -> u64 {
        use crate::object::notify::Versioned as _;
        self.inner.load_version()
    }

    /// Sleeps until the [version](Self::version) differs from `since`,
    /// and returns the new version; `None` once `timeout` has passed first
    /// (`Duration::MAX` waits for ever, zero only looks). A write while
    /// nobody waits makes no system call.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{SharedObject, SharedString};
    /// use std::time::Duration;
    /// let answer = SharedString::create_sharedobject(32)?;
    /// let peer = SharedString::load_sharedobject(&answer.handle())?;
    /// let since = answer.version();
    /// let writer = std::thread::spawn(move || peer.write("forty-two").map(drop));
    /// answer.wait_changed(since, Duration::from_secs(10)).expect("an answer within 10 s");
    /// assert_eq!(answer.read()?, "forty-two");
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
    /// use shm_runtime::{SharedObject, SharedString};
    /// let answer = SharedString::create_sharedobject(32)?;
    /// let peer = SharedString::load_sharedobject(&answer.handle())?;
    /// let since = answer.version();
    /// let writer = std::thread::spawn(move || peer.write("forty-two").map(drop));
    /// smol::block_on(answer.changed(since));
    /// assert_eq!(answer.read()?, "forty-two");
    /// # writer.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn changed(&self, since: u64) -> impl core::future::Future<Output = u64> + Send + '_ {
        crate::object::future::Changed::new(&self.inner, since)
    }
}

impl SharedObject for SharedString {
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        CellSegment::open(handle, ObjectKind::String, LAYOUT, options).map(|inner| Self { inner })
    }
}

impl sealed::Sealed for SharedString {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.inner.segment())
    }

    fn into_segment(self) -> SegmentOwned {
        SegmentOwned(self.inner.into_segment())
    }
}

impl fmt::Debug for SharedString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_handle(self, "SharedString", f)
    }
}
