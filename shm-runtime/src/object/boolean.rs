//! `SharedBool`: one flag shared between processes.

use crate::format::header::Layout;
use crate::format::header::ObjectKind;
use crate::format::schema;
use crate::object::shared_object::sealed::{self, SegmentOwned, SegmentRef};
use crate::object::shared_object::{SharedObject, debug_handle};
use crate::segment::error::{CreateError, OpenError};
use crate::segment::handle::Handle;
use crate::segment::options::OpenOptions;
use crate::segment::{Segment, Spec};
use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};

/// Layout fingerprint of [`SharedBool`].
/// Fingerprint and name of the stored value.
const LAYOUT: Layout = Layout::of(schema::builtin::BOOL, "SharedBool");

/// A `bool` in shared memory, stored as one byte: 0 is `false`, 1 is `true`.
///
/// Another process may store any byte there. Reads treat every nonzero
/// byte as `true` (as C does), so a stray `2` reads as `true`: defined,
/// never undefined behaviour. [`SharedBool::read_raw`] shows the byte.
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
    const SPEC: Spec = Spec { kind: ObjectKind::Bool, layout: LAYOUT, payload_size: 1, payload_align: 1, capacity: 1 };

    /// Creates a new flag holding `initial`, under a generated name.
    pub fn create_sharedobject(initial: bool) -> Result<Self, CreateError> {
        Self::create(None, initial)
    }

    /// Creates a new flag holding `initial` under `name`.
    pub fn create_named(name: &str, initial: bool) -> Result<Self, CreateError> {
        Self::create(Some(name), initial)
    }

    fn create(name: Option<&str>, initial: bool) -> Result<Self, CreateError> {
        let segment = Segment::create(name, &Self::SPEC, |payload| {
            payload.bytes()[0].store(u8::from(initial), Ordering::Relaxed);
        })?;
        Ok(Self { segment })
    }

    fn byte(&self) -> &AtomicU8 {
        &self.segment.payload().bytes()[0]
    }

    /// The current value: `false` for a 0 byte, `true` for any other.
    /// `Acquire`: pairs with the `Release` of the store that produced it.
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
    pub fn write(&self, value: bool) {
        self.byte().store(u8::from(value), Ordering::Release);
    }

    /// Stores `value` and returns the previous value (nonzero is `true`).
    /// `AcqRel`: pairs with the other side's stores and loads.
    pub fn swap(&self, value: bool) -> bool {
        self.byte().swap(u8::from(value), Ordering::AcqRel) != 0
    }
}

impl SharedObject for SharedBool {
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        Segment::open_fixed(handle, &Self::SPEC, options).map(|segment| Self { segment })
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
