//! `SharedState`: types that can live in shared memory, and `Shared<T>`,
//! one such value in a segment.
//!
//! `#[derive(SharedState)]` implements the trait for `#[repr(C)]` structs;
//! this module implements it for the fixed-width integers (`u8` to
//! `u128`, `i8` to `i128`), `f32`, `f64`, [`Flag`] and arrays of
//! `SharedState` types.
//!
//! `Shared<T>` stores the value in the two-copy byte cell that
//! `SharedString` uses (see `cell.rs` and `FORMAT.md`), with a capacity of
//! `size_of::<T>()`.

use crate::format::header::ObjectKind;
use crate::format::header::{Layout, SchemaRef};
use crate::format::schema::{self, Prim, TypeDesc};
use crate::object::bytes::CellSegment;
use crate::object::shared_object::sealed::{self, SegmentOwned, SegmentRef};
use crate::object::shared_object::{SharedObject, debug_handle};
use crate::protocol::cell::ByteCell;
use crate::protocol::copy::Bytes;
use crate::protocol::lock::LOCK_WAIT;
use crate::segment::error::{CreateError, OpenError, WriteError};
use crate::segment::handle::Handle;
use crate::segment::liveness;
use crate::segment::options::OpenOptions;
use core::marker::PhantomData;
use core::mem::size_of;
use core::sync::atomic::AtomicU64;
use std::fmt;
use std::time::Duration;

/// A type whose values can be stored in shared memory and read back in
/// another process: plain bytes with no padding and no pointers.
///
/// Implement it with `#[derive(SharedState)]`, which checks every
/// obligation below at compile time, and share a value through
/// [`Shared<T>`] (one value), [`SharedArray<T>`](crate::SharedArray) or
/// [`MemoryInterface<T>`](crate::MemoryInterface) (a ring).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{Flag, SharedObject, SharedState};
///
/// #[derive(SharedState, Clone, Copy, Debug, PartialEq)]
/// #[repr(C)]
/// struct Pose {
///     position: [f64; 3],
///     sequence: u32,
///     valid: Flag,       // not `bool`: a peer could store 2
///     _pad_end: [u8; 3], // explicit: the derive refuses hidden padding
/// }
///
/// let pose = Pose { position: [1.0, 2.0, 3.0], sequence: 7, valid: Flag::new(true), _pad_end: [0; 3] };
/// let shared = Pose::create_sharedobject(&pose)?;
/// let peer = Pose::load_sharedobject(&shared.handle())?; // in another process
/// assert_eq!(peer.read(), pose);
/// peer.write_field(|f| f.sequence, &8)?;
/// assert_eq!(shared.read_field(|f| f.sequence), 8);
/// # Ok(()) }
/// ```
///
/// # What the derive accepts
///
/// A `#[repr(C)]` struct (named or tuple fields, `align(N)` up to 64
/// allowed) that is `Copy`, has no padding and has fields of these types:
///
/// | field type | |
/// |---|---|
/// | `u8`, `u16`, `u32`, `u64`, `u128`, `i8`, `i16`, `i32`, `i64`, `i128` | accepted |
/// | `f32`, `f64` | accepted (stored bit for bit, NaN payloads included) |
/// | [`Flag`] | accepted: a `bool` stored as one byte |
/// | `[T; N]` with `T` accepted and `N > 0` | accepted |
/// | a struct that derives `SharedState` | accepted |
/// | a type parameter `T` | accepted: the derive adds `T: SharedState` |
///
/// Everything else is a compile error on the offending tokens that says
/// what to write instead:
///
/// | rejected | why | use instead |
/// |---|---|---|
/// | `bool` | a peer may store a byte other than 0 or 1 | [`Flag`] |
/// | `char` | a peer may store a `u32` that is no `char` | `u32`, read with `char::from_u32` |
/// | `usize`, `isize` | their width depends on the target | `u64`, `i64` |
/// | `&T`, `*const T`, `*mut T`, `fn(..)` | addresses mean nothing in another process | an index or offset as `u64` |
/// | `String`, `Vec<T>` | the contents live on one process's heap | `[u8; N]` or `[T; N]` with a length field |
/// | `Box<T>`, `Rc<T>`, `Arc<T>` | they point into one process's heap | the value itself |
/// | `Option<T>` | a peer may store a tag that is neither variant | the value plus a [`Flag`] saying whether it is set |
/// | tuples | their layout is unspecified | `[T; N]` or a derived struct |
/// | slices, `str`, `dyn Trait` | no fixed size, or a vtable pointer | `[T; N]`, a concrete type |
/// | `()`, `[T; 0]` | zero-sized: nothing to share | remove the field |
/// | enums, unions (as fields or derived) | invalid tags, uninitialized bytes | a struct with an integer tag field, or `[u8; N]` |
/// | structs without `#[derive(SharedState)]`, atomics, `NonZero*`, `Cell` | not `SharedState` | derive it, or plain integers |
///
/// And for the struct itself:
///
/// | rejected | use instead |
/// |---|---|
/// | no `#[repr(C)]`, or `repr(Rust)`, `repr(transparent)`, `repr(u8)`.. | `#[repr(C)]` |
/// | `repr(packed)` | `#[repr(C)]` with explicit `[u8; N]` fields |
/// | `align(N)` with `N` above 64 | at most `align(64)` |
/// | padding between fields or after the last one | the `[u8; N]` field the message names, or fields ordered by decreasing alignment |
/// | no fields, or only zero-sized ones | at least one field |
/// | lifetime parameters | owned values |
///
/// The padding check runs on the layout the compiler computed, and its
/// message gives the numbers: "`Tagged` has 4 bytes of padding before
/// field `value` (offset 4 to 8): add `_pad_before_value: [u8; 4]` before
/// `value`, or order the fields by decreasing alignment".
///
/// # What the derive generates
///
/// Besides this trait's impl (and a hidden field descriptor for
/// [`Shared::read_field`] and [`Shared::write_field`]), the derive adds
/// inherent `create_sharedobject`, `create_named`, `create_zeroed` and
/// `load_sharedobject` to the struct, each calling the function of the
/// same name on [`Shared<T>`]. A struct with methods of those names of its
/// own opts out with `#[shm(constructors = false)]` and uses `Shared<T>`:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{Shared, SharedObject, SharedState};
///
/// #[derive(SharedState, Clone, Copy)]
/// #[repr(C)]
/// #[shm(constructors = false)]
/// struct Counters {
///     total: u128,
///     errors: u64,
///     _pad_end: [u8; 8],
/// }
///
/// impl Counters {
///     fn create_named(_name: &str) -> Self {
///         Self { total: 0, errors: 0, _pad_end: [0; 8] }
///     }
/// }
///
/// let counters = Shared::<Counters>::create_zeroed()?;
/// let peer = Shared::<Counters>::load_sharedobject(&counters.handle())?;
/// peer.update(|c| c.total += 1)?;
/// assert_eq!(counters.read().total, 1);
/// # let _ = Counters::create_named("");
/// # Ok(()) }
/// ```
///
/// `#[shm(crate = "path")]` makes the generated code name the runtime
/// `path` instead of `::shm_runtime`, for a renamed or re-exported runtime.
///
/// `u128` and `i128` are 16-byte aligned on `x86_64` and `aarch64` (with
/// the supported compilers), so next to 8-byte fields they often need an
/// explicit `[u8; 8]`, as above. Their width is no concern for tearing:
/// a value is copied in and out of shared memory through the two-copy
/// cell described at [`Shared<T>`], never read in place.
///
/// # Safety
///
/// An implementation promises, for `Self`:
///
/// 1. **No padding**: every byte of a value is part of a field, so a value
///    can be viewed as `size_of::<Self>()` initialized bytes.
/// 2. **Every bit pattern is valid**: any `size_of::<Self>()` bytes are a
///    valid value (no `bool`, `char`, enums, references, `NonZero*`).
/// 3. **No pointers or handles**: nothing in the value refers to memory or
///    resources of one process (no references, raw pointers, `Box`,
///    `String`, file descriptors), and no interior mutability.
/// 4. **Same layout in every process built from the same source**: no
///    `usize`/`isize` or other target-dependent types; `#[repr(C)]` for
///    structs.
/// 5. `size_of::<Self>() > 0`.
/// 6. [`SharedState::SCHEMA`] describes the layout truly (every field's
///    name, type and offset, the size and alignment), so that
///    [`SharedState::FINGERPRINT`], the hash of the schema, changes
///    whenever the layout does, and [`SharedState::FIELDS`] holds the true
///    offset of every field.
///
/// The hidden method exists so that the trait is not implemented by hand by
/// accident; its argument type cannot be named outside this crate's
/// private module.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in shared memory",
    label = "`{Self}` is not `SharedState`",
    note = "shared fields must be fixed-width integers (`u8` to `u128`, `i8` to `i128`), `f32`/`f64`, `shm_runtime::Flag`, arrays of these, or `#[derive(SharedState)]` structs; see the table in the `shm_runtime::SharedState` docs"
)]
pub unsafe trait SharedState: Copy + Send + Sync + 'static {
    /// The type's name for messages and tools: the path of a derived
    /// struct (`"robot::Pose"`, without generic arguments), `"u32"` for a
    /// primitive, `"array"` for an array. Not part of the fingerprint
    /// (a derived struct's fingerprint has its bare name, not its module).
    const TYPE_NAME: &'static str;
    /// The type's schema: its canonical description (struct name, each
    /// field's name, offset and type, size and alignment), stored in every
    /// segment that holds the type, so tools and other languages read
    /// values by field (see [`format::schema`](crate::format::schema) and
    /// `FORMAT.md`).
    const SCHEMA: &'static TypeDesc;
    /// Layout fingerprint: the hash of the encoded [`SCHEMA`](Self::SCHEMA)
    /// ([`schema::fingerprint`]); two programs whose types disagree on the
    /// layout get different values (and `LayoutMismatch` when one opens
    /// the other's segment).
    const FINGERPRINT: u64 = {
        schema::check(Self::SCHEMA);
        schema::fingerprint(Self::SCHEMA)
    };
    /// Descriptors of the fields, for [`Shared::read_field`] and
    /// [`Shared::write_field`]; `()` for types without named fields.
    type Fields: Copy;
    /// The field descriptors.
    const FIELDS: Self::Fields;

    #[doc(hidden)]
    fn __shm_derive_only(token: __private::DeriveOnly);
}

/// Where a field of type `F` sits inside a `S`; made by the derive, used
/// with [`Shared::read_field`] and [`Shared::write_field`].
pub struct Field<S, F> {
    offset: usize,
    _types: PhantomData<fn() -> (S, F)>,
}

impl<S, F> Field<S, F> {
    #[doc(hidden)]
    /// # Safety
    ///
    /// `offset` is the byte offset of a field of type `F` inside `S`.
    #[must_use]
    pub const unsafe fn __new(offset: usize) -> Self {
        Self { offset, _types: PhantomData }
    }

    /// Byte offset of the field inside `S`.
    #[must_use]
    pub const fn offset(self) -> usize {
        self.offset
    }
}

impl<S, F> Clone for Field<S, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S, F> Copy for Field<S, F> {}

impl<S, F> fmt::Debug for Field<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Field").field("offset", &self.offset).finish()
    }
}

/// A `bool` for shared structs, stored as one byte: 0 is `false`, anything
/// else `true` (a peer may store any byte; reading it is always defined).
///
/// ```
/// use shm_runtime::Flag;
/// assert!(Flag::new(true).get());
/// assert!(!Flag::default().get());
/// assert_eq!(Flag::from(true).raw(), 1);
/// ```
#[repr(transparent)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flag(u8);

impl Flag {
    /// `0` for `false`, `1` for `true`.
    #[must_use]
    pub const fn new(value: bool) -> Self {
        Self(value as u8)
    }

    /// `false` for a 0 byte, `true` for any other.
    #[must_use]
    pub const fn get(self) -> bool {
        self.0 != 0
    }

    /// The stored byte.
    #[must_use]
    pub const fn raw(self) -> u8 {
        self.0
    }
}

impl From<bool> for Flag {
    fn from(value: bool) -> Self {
        Self::new(value)
    }
}

impl From<Flag> for bool {
    fn from(flag: Flag) -> Self {
        flag.get()
    }
}

impl fmt::Debug for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

macro_rules! primitive {
    ($($ty:ty => $prim:ident),*) => {$(
        // SAFETY: a primitive number has no padding, every bit pattern is a
        // valid value, it holds no pointer, its layout is the same in every
        // process of one target, and it is not zero-sized. (`u128`/`i128`:
        // 16 bytes everywhere; their alignment was 8 on x86 before Rust
        // 1.77, below the `rust-version`, and a struct's fingerprint folds
        // in its field offsets and alignment, so builds that disagree on it
        // get `LayoutMismatch`, not a misread. Values are copied as bytes,
        // never referenced in shared memory, so nothing relies on the
        // segment's alignment of them.)
        unsafe impl SharedState for $ty {
            const TYPE_NAME: &'static str = stringify!($ty);
            const SCHEMA: &'static TypeDesc = &TypeDesc::Prim(Prim::$prim);
            type Fields = ();
            const FIELDS: Self::Fields = ();
            fn __shm_derive_only(_: __private::DeriveOnly) {}
        }
    )*};
}

primitive!(
    u8 => U8, u16 => U16, u32 => U32, u64 => U64, u128 => U128,
    i8 => I8, i16 => I16, i32 => I32, i64 => I64, i128 => I128,
    f32 => F32, f64 => F64, Flag => Flag
);

// SAFETY: an array of `T: SharedState` has no padding between elements
// (size is a multiple of alignment), every bit pattern of each element is
// valid, and it holds no pointer; `N > 0` is checked in FINGERPRINT, which
// every use of a `Shared<[T; N]>` evaluates.
unsafe impl<T: SharedState, const N: usize> SharedState for [T; N] {
    const TYPE_NAME: &'static str = "array";
    const SCHEMA: &'static TypeDesc = {
        assert!(N > 0, "a zero-length array cannot be stored in shared memory");
        &TypeDesc::Array { len: N, element: T::SCHEMA }
    };
    type Fields = ();
    const FIELDS: Self::Fields = ();
    fn __shm_derive_only(_: __private::DeriveOnly) {}
}

/// What the derive's generated code uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use ::core;

    /// The argument type of `SharedState::__shm_derive_only`.
    pub struct DeriveOnly(());

    /// Checks a derived struct's schema against the limits a reader
    /// enforces (a compile error otherwise).
    pub const fn check_schema(schema: &crate::format::schema::TypeDesc) {
        crate::format::schema::check(schema);
    }

    /// Fails to compile unless `T: SharedState`; the derive calls it
    /// spanned on each field's type, for the field's schema.
    #[must_use]
    pub const fn assert_shared_state<T: crate::SharedState>() -> &'static crate::format::schema::TypeDesc {
        T::SCHEMA
    }

    /// A compile-time error message with numbers in it, built piece by
    /// piece in a const evaluation and passed to `panic!("{}", ..)`, which
    /// const evaluation accepts for a `&str`. The derive's padding checks
    /// use it to say how many bytes are missing where.
    ///
    /// Holds up to [`Message::CAPACITY`] bytes; a piece that does not fit
    /// is dropped with everything after it, so the text is always whole
    /// pieces (valid UTF-8).
    pub struct Message {
        /// `bytes[..len]` is the text so far.
        bytes: [u8; Message::CAPACITY],
        /// How many bytes of `bytes` are written; at most `CAPACITY`.
        len: usize,
        /// A piece did not fit; nothing more is appended.
        full: bool,
    }

    impl Message {
        /// The most bytes a message holds.
        pub const CAPACITY: usize = 1024;

        /// A message that starts with `text`.
        #[must_use]
        pub const fn start(text: &str) -> Self {
            Self { bytes: [0; Self::CAPACITY], len: 0, full: false }.text(text)
        }

        /// Appends `text`.
        #[must_use]
        pub const fn text(mut self, text: &str) -> Self {
            let text = text.as_bytes();
            if self.full || text.len() > Self::CAPACITY - self.len {
                self.full = true;
                return self;
            }
            let mut i = 0;
            while i < text.len() {
                self.bytes[self.len + i] = text[i];
                i += 1;
            }
            self.len += text.len();
            self
        }

        /// Appends `n` in decimal.
        #[must_use]
        pub const fn number(self, n: usize) -> Self {
            // `usize::MAX` has at most 20 digits.
            let mut digits = [0_u8; 20];
            let mut start = digits.len();
            let mut rest = n;
            loop {
                start -= 1;
                digits[start] = b"0123456789"[rest % 10];
                rest /= 10;
                if rest == 0 {
                    break;
                }
            }
            let (_, digits) = digits.split_at(start);
            match core::str::from_utf8(digits) {
                Ok(text) => self.text(text),
                Err(_) => self,
            }
        }

        /// Appends "1 byte" or "`n` bytes".
        #[must_use]
        pub const fn bytes(self, n: usize) -> Self {
            self.number(n).text(if n == 1 { " byte" } else { " bytes" })
        }

        /// The text so far.
        #[must_use]
        pub const fn as_str(&self) -> &str {
            let (text, _) = self.bytes.split_at(self.len);
            // Only whole `&str` pieces were copied in, so this never fails.
            match core::str::from_utf8(text) {
                Ok(text) => text,
                Err(_) => "",
            }
        }
    }
}

/// Retries of a seqlock read before a reader takes the writer lock.
const READ_ATTEMPTS: u32 = 1000;

/// A value of a [`SharedState`] type in shared memory.
///
/// `read` returns a value some `write` (or `update`) produced, never a mix
/// of two: the value is kept in two alternating copies with a sequence word
/// each, copied with atomic loads and stores. A writer killed mid-write
/// leaves the last complete value readable. Writers (`write`, `update`,
/// `write_field`) from any number of processes take turns through a writer
/// lock that a dead holder cannot keep, so no `update` is lost.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{Shared, SharedObject};
/// let counters = Shared::<[u64; 4]>::create_sharedobject(&[0; 4])?;
/// let peer = Shared::<[u64; 4]>::load_sharedobject(&counters.handle())?;
/// peer.update(|c| c[2] += 5)?;
/// assert_eq!(counters.read(), [0, 0, 5, 0]);
/// # Ok(()) }
/// ```
pub struct Shared<T: SharedState> {
    inner: CellSegment,
    _type: PhantomData<fn() -> T>,
}

impl<T: SharedState> Shared<T> {
    const LAYOUT: Layout<'static> =
        Layout { fingerprint: T::FINGERPRINT, type_name: T::TYPE_NAME, schema: SchemaRef::Desc(T::SCHEMA) };

    fn wrap(inner: CellSegment) -> Self {
        Self { inner, _type: PhantomData }
    }

    fn create(name: Option<&str>, initial: &T) -> Result<Self, CreateError> {
        CellSegment::create_with(name, ObjectKind::State, Self::LAYOUT, size_of::<T>(), bytes_of(initial))
            .map(Self::wrap)
    }

    /// Creates a new object holding `initial`, under a generated name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Shared, SharedObject, SharedState};
    ///
    /// #[derive(SharedState, Clone, Copy, Debug, PartialEq)]
    /// #[repr(C)]
    /// struct Pose {
    ///     x: f64,
    ///     y: f64,
    /// }
    ///
    /// let pose = Shared::create_sharedobject(&Pose { x: 1.0, y: 2.0 })?;
    /// let opened = Shared::<Pose>::load_sharedobject(&pose.handle())?; // another process
    /// assert_eq!(opened.read(), Pose { x: 1.0, y: 2.0 });
    /// # Ok(()) }
    /// ```
    pub fn create_sharedobject(initial: &T) -> Result<Self, CreateError> {
        Self::create(None, initial)
    }

    /// Creates a new object holding `initial` under `name`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Shared, SharedObject};
    /// # let name = format!("shmrs-doc-state-{}", std::process::id());
    /// let limits = Shared::create_named(&name, &[10u32, 20, 30])?;
    /// assert_eq!(Shared::<[u32; 3]>::open(&name)?.read(), [10, 20, 30]);
    /// # drop(limits);
    /// # Ok(()) }
    /// ```
    pub fn create_named(name: &str, initial: &T) -> Result<Self, CreateError> {
        Self::create(Some(name), initial)
    }

    /// Creates a new object holding the all-zero value, under a generated
    /// name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::Shared;
    ///
    /// let big = Shared::<[u64; 4096]>::create_zeroed()?; // no 32 KiB value on the stack
    /// assert_eq!(big.read()[4095], 0);
    /// # Ok(()) }
    /// ```
    pub fn create_zeroed() -> Result<Self, CreateError> {
        Self::create(None, &zeroed())
    }

    fn cell(&self) -> ByteCell<'_> {
        self.inner.cell()
    }

    /// The current value.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::Shared;
    ///
    /// let value = Shared::create_sharedobject(&[1.5f32, -2.0])?;
    /// assert_eq!(value.read(), [1.5, -2.0]); // whole: never half of one write
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn read(&self) -> T {
        read_cell_value(&self.cell(), 0)
    }

    /// Replaces the value.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::Shared;
    ///
    /// let value = Shared::create_sharedobject(&[0u16; 3])?;
    /// value.write(&[1, 2, 3])?;
    /// assert_eq!(value.read(), [1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn write(&self, value: &T) -> Result<(), WriteError> {
        self.inner.write(bytes_of(value))
    }

    /// Reads the value, lets `f` change it, and writes it back, holding
    /// the writer lock throughout: updates from several processes never
    /// overwrite each other. Returns what `f` returns.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, WriteError> {
        let cell = self.cell();
        let guard = cell.lock(liveness::claimant(), LOCK_WAIT).map_err(|e| self.inner.write_error(e))?;
        let mut value = locked_value::<T>(&cell);
        let result = f(&mut value);
        cell.write_locked(&guard, bytes_of(&value));
        drop(guard);
        self.inner.published();
        Ok(result)
    }

    /// The version of the value: the number of writes made so far (in
    /// any process, wrapping), advanced by every `write`, `update` and
    /// `write_field`. A value read after this call is that version's or a
    /// later one.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::Shared;
    /// let level = Shared::<u32>::create_sharedobject(&0)?;
    /// let before = level.version();
    /// level.update(|l| *l += 1)?;
    /// assert_eq!(level.version(), before.wrapping_add(1));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn version(&self) -> u64 {
        self.cell().version()
    }

    /// Sleeps until the [version](Self::version) differs from `since`,
    /// and returns the new version; `None` once `timeout` has passed first
    /// (`Duration::MAX` waits for ever, zero only looks). A write while
    /// nobody waits makes no system call.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Shared, SharedObject};
    /// use std::time::Duration;
    /// let level = Shared::<u32>::create_sharedobject(&0)?;
    /// let peer = Shared::<u32>::load_sharedobject(&level.handle())?;
    /// let since = level.version();
    /// let writer = std::thread::spawn(move || peer.write(&7).map(drop));
    /// level.wait_changed(since, Duration::from_secs(10)).expect("a write within 10 s");
    /// assert_eq!(level.read(), 7);
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
    /// use shm_runtime::{Shared, SharedObject};
    /// let level = Shared::<u32>::create_sharedobject(&0)?;
    /// let peer = Shared::<u32>::load_sharedobject(&level.handle())?;
    /// let since = level.version();
    /// let writer = std::thread::spawn(move || peer.write(&7).map(drop));
    /// smol::block_on(level.changed(since));
    /// assert_eq!(level.read(), 7);
    /// # writer.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn changed(&self, since: u64) -> impl core::future::Future<Output = u64> + Send + '_ {
        crate::object::future::Changed::new(&self.inner, since)
    }

    /// Reads one field without copying the whole value out.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::SharedState;
    ///
    /// #[derive(SharedState, Clone, Copy)]
    /// #[repr(C)]
    /// struct Pose {
    ///     x: f64,
    ///     y: f64,
    /// }
    ///
    /// let pose = Pose::create_sharedobject(&Pose { x: 1.0, y: 2.0 })?;
    /// assert_eq!(pose.read_field(|f| f.y), 2.0);
    /// pose.write_field(|f| f.x, &3.0)?;
    /// assert_eq!(pose.read().x, 3.0);
    /// # Ok(()) }
    /// ```
    pub fn read_field<F: SharedState>(&self, pick: impl FnOnce(T::Fields) -> Field<T, F>) -> F {
        read_cell_value(&self.cell(), pick(T::FIELDS).offset)
    }

    /// Replaces one field, keeping the others; like an `update` of that
    /// field (the other fields are copied within shared memory, not out to
    /// the caller).
    pub fn write_field<F: SharedState>(
        &self,
        pick: impl FnOnce(T::Fields) -> Field<T, F>,
        value: &F,
    ) -> Result<(), WriteError> {
        let field = pick(T::FIELDS);
        self.update(|whole| {
            let end = field.offset + size_of::<F>();
            bytes_of_mut(whole)[field.offset..end].copy_from_slice(bytes_of(value));
        })
    }
}

impl<T: SharedState> SharedObject for Shared<T> {
    /// Opens the object `handle` names if `options` accept the segment's
    /// owner and mode, waiting up to `options.wait_time()` for its creator
    /// to finish setting it up. A stored value whose size is not
    /// `size_of::<T>()` is [`OpenError::Corrupt`].
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        let inner = CellSegment::open(handle, ObjectKind::State, Self::LAYOUT, options)?;
        if inner.capacity() != size_of::<T>() {
            let name = handle.name().clone();
            return Err(OpenError::Corrupt { name, what: "stored size differs from the type's size" });
        }
        Ok(Self::wrap(inner))
    }
}

impl<T: SharedState> sealed::Sealed for Shared<T> {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.inner.segment())
    }

    fn into_segment(self) -> SegmentOwned {
        SegmentOwned(self.inner.into_segment())
    }
}

impl<T: SharedState> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_handle(self, "Shared<T>", f)
    }
}

/// Copies `dst.len()` bytes from `offset` out of the last complete value
/// of a cell holding a `SharedState` value (`Shared<T>`, and each element
/// of a `SharedArray<T>`): lock-free, falling back to the writer lock when
/// writers keep replacing the value (see [`ByteCell::read_range_settled`]).
pub(crate) fn read_cell<D: Bytes + ?Sized>(cell: &ByteCell<'_>, offset: usize, dst: &mut D) {
    cell.read_range_settled(offset, dst, liveness::claimant(), READ_ATTEMPTS, LOCK_WAIT);
}

/// The `F` at byte `offset` of the last complete value of `cell` (see
/// [`read_cell`]), built in place: not zeroed first, as [`zeroed`] and a
/// copy into it would be (a 64 KiB value took 3.2-3.7 µs to read that
/// way, and a `memcpy` of it 1.7-2.0 µs, shm-bench).
///
/// Always inlined, for the reason [`load_value`] is.
#[expect(clippy::inline_always, reason = "as `load_value`: a large value is built in the caller's place")]
#[inline(always)]
pub(crate) fn read_cell_value<F: SharedState>(cell: &ByteCell<'_>, offset: usize) -> F {
    let mut value = core::mem::MaybeUninit::<F>::uninit();
    read_cell(cell, offset, uninit_bytes_of(&mut value));
    // SAFETY: `read_cell` wrote every byte of the value (each way out of
    // `read_range_settled` follows a whole copy of `dst`), and every bit
    // pattern is a valid `F` (`SharedState` obligation 2).
    unsafe { value.assume_init() }
}

/// A copy of the current value of `cell` for a writer that holds its
/// lock (see [`ByteCell::copy_current_unchecked`]), built in place as in
/// [`read_cell_value`].
#[expect(clippy::inline_always, reason = "as `load_value`: a large value is built in the caller's place")]
#[inline(always)]
pub(crate) fn locked_value<T: SharedState>(cell: &ByteCell<'_>) -> T {
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    cell.copy_current_unchecked(0, uninit_bytes_of(&mut value));
    // SAFETY: the copy filled every byte (`load_range` fills its whole
    // destination or panics), and every bit pattern is a valid `T`
    // (`SharedState` obligation 2).
    unsafe { value.assume_init() }
}

/// The all-zero value of `T`.
pub(crate) fn zeroed<T: SharedState>() -> T {
    // SAFETY: every bit pattern, all zeros included, is a valid `T`
    // (`SharedState` obligation 2).
    unsafe { core::mem::zeroed() }
}

/// The bytes of a `T` being built in place, to be written before
/// `assume_init`.
pub(crate) fn uninit_bytes_of<T: SharedState>(
    value: &mut core::mem::MaybeUninit<T>,
) -> &mut [core::mem::MaybeUninit<u8>] {
    // SAFETY: the pointer and length cover exactly the bytes of `value`,
    // which the caller lends exclusively for the slice's life;
    // `MaybeUninit<u8>` needs no initialization.
    unsafe { core::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<core::mem::MaybeUninit<u8>>(), size_of::<T>()) }
}

/// A `T` copied out of the first words of `src` (see `protocol::copy`),
/// built in place: not zeroed first, as [`zeroed`] and a copy into it
/// would be.
///
/// Always inlined, so that the place is the caller's: out of line, LLVM
/// built a large `T` in this function's frame and then copied it into the
/// caller's (one more `memcpy` of every item; `MemoryInterface<[u64;
/// 8192]>` streamed 8 GB/s with it and 15 GB/s without it, shm-bench, two
/// alternated 5-round runs).
#[expect(
    clippy::inline_always,
    reason = "out of line, a large value was built in this frame and copied to the caller's (above)"
)]
#[inline(always)]
pub(crate) fn load_value<T: SharedState>(src: &[AtomicU64]) -> T {
    assert!(src.len() * 8 >= size_of::<T>(), "the words hold a whole `T`");
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    crate::protocol::cell::load_bytes(src, uninit_bytes_of(&mut value));
    // SAFETY: the copy above wrote every byte (the words cover the whole
    // `T`, asserted above), and every bit pattern is a valid `T`
    // (`SharedState` obligation 2).
    unsafe { value.assume_init() }
}

/// The `F` at byte `offset` of the words `src` (a field of a slot read in
/// place), built in place as in [`load_value`].
#[expect(clippy::inline_always, reason = "as `load_value`: a large value is built in the caller's place")]
#[inline(always)]
pub(crate) fn load_field<F: SharedState>(src: &[AtomicU64], offset: usize) -> F {
    let mut value = core::mem::MaybeUninit::<F>::uninit();
    crate::protocol::copy::load_range(src, offset, uninit_bytes_of(&mut value));
    // SAFETY: `load_range` fills its whole destination or panics (a range
    // past the words' end), and every bit pattern is a valid `F`
    // (`SharedState` obligation 2).
    unsafe { value.assume_init() }
}

/// The bytes of `value`.
pub(crate) fn bytes_of<T: SharedState>(value: &T) -> &[u8] {
    // SAFETY: `T` has no padding (obligation 1), so all `size_of::<T>()`
    // bytes behind the reference are initialized; the slice borrows it.
    unsafe { core::slice::from_raw_parts(core::ptr::from_ref(value).cast::<u8>(), size_of::<T>()) }
}

/// The bytes of `value`, writable: any bytes written leave a valid `T`.
pub(crate) fn bytes_of_mut<T: SharedState>(value: &mut T) -> &mut [u8] {
    // SAFETY: no padding (obligation 1) and every bit pattern valid
    // (obligation 2), so the bytes are initialized and any write through
    // them leaves a valid `T`; the slice borrows `value` exclusively.
    unsafe { core::slice::from_raw_parts_mut(core::ptr::from_mut(value).cast::<u8>(), size_of::<T>()) }
}

#[cfg(test)]
#[expect(clippy::float_cmp, reason = "stored floats come back bit for bit")]
mod tests {
    use super::*;

    /// A struct implemented by hand the way the derive does, to test the
    /// runtime without the macro.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Pose {
        x: f64,
        tag: [u8; 4],
        id: u32,
    }

    #[derive(Clone, Copy)]
    struct PoseFields {
        x: Field<Pose, f64>,
        tag: Field<Pose, [u8; 4]>,
        id: Field<Pose, u32>,
    }

    // SAFETY: repr(C), fields 8 + 4 + 4 = 16 = size (no padding, asserted
    // below), all fields SharedState, offsets from offset_of!.
    unsafe impl SharedState for Pose {
        const TYPE_NAME: &'static str = "Pose";
        const SCHEMA: &'static TypeDesc = &TypeDesc::Struct(&schema::StructDesc {
            name: "Pose",
            size: size_of::<Self>(),
            align: align_of::<Self>(),
            fields: &[
                schema::FieldDesc { name: "x", offset: core::mem::offset_of!(Self, x), ty: f64::SCHEMA },
                schema::FieldDesc { name: "tag", offset: core::mem::offset_of!(Self, tag), ty: <[u8; 4]>::SCHEMA },
                schema::FieldDesc { name: "id", offset: core::mem::offset_of!(Self, id), ty: u32::SCHEMA },
            ],
        });
        const FINGERPRINT: u64 = {
            assert!(size_of::<Self>() == 16);
            schema::fingerprint(Self::SCHEMA)
        };
        type Fields = PoseFields;
        const FIELDS: PoseFields = PoseFields {
            // SAFETY: the offset of `x`, an f64.
            x: unsafe { Field::__new(core::mem::offset_of!(Pose, x)) },
            // SAFETY: the offset of `tag`, a [u8; 4].
            tag: unsafe { Field::__new(core::mem::offset_of!(Pose, tag)) },
            // SAFETY: the offset of `id`, a u32.
            id: unsafe { Field::__new(core::mem::offset_of!(Pose, id)) },
        };
        fn __shm_derive_only(_: __private::DeriveOnly) {}
    }

    const POSE: Pose = Pose { x: 1.5, tag: *b"abcd", id: 7 };

    #[test]
    fn create_load_read_write_update() {
        let shared = Shared::<Pose>::create_sharedobject(&POSE).unwrap();
        let peer = Shared::<Pose>::load_sharedobject(&shared.handle()).unwrap();
        assert_eq!(peer.read(), POSE);
        peer.write(&Pose { id: 9, ..POSE }).unwrap();
        assert_eq!(shared.read().id, 9);
        let old = shared.update(|p| core::mem::replace(&mut p.x, -2.0)).unwrap();
        assert_eq!(old, 1.5);
        assert_eq!(peer.read(), Pose { x: -2.0, id: 9, ..POSE });
        assert_eq!(shared.handle().kind(), ObjectKind::State);
    }

    #[test]
    fn fields_read_and_write_alone() {
        let shared = Shared::<Pose>::create_sharedobject(&POSE).unwrap();
        assert_eq!(shared.read_field(|f| f.x), 1.5);
        assert_eq!(shared.read_field(|f| f.tag), *b"abcd");
        assert_eq!(shared.read_field(|f| f.id), 7);
        shared.write_field(|f| f.tag, b"wxyz").unwrap();
        assert_eq!(shared.read(), Pose { tag: *b"wxyz", ..POSE });
    }

    #[test]
    fn zeroed_and_arrays() {
        let zero = Shared::<Pose>::create_zeroed().unwrap();
        assert_eq!(zero.read(), Pose { x: 0.0, tag: [0; 4], id: 0 });
        let array = Shared::<[Pose; 3]>::create_sharedobject(&[POSE; 3]).unwrap();
        array.update(|a| a[1].id = 42).unwrap();
        assert_eq!(array.read()[1].id, 42);
        assert_eq!(array.read()[2], POSE);
    }

    #[test]
    fn large_values_are_read_whole_without_zeroing_first() {
        // Built in place (not zeroed first): every byte must come from the
        // copy. 64 KiB takes the string copy; 4,101 bytes the vector moves
        // and a part word.
        let words: Box<[u64; 8192]> =
            (1..=8192u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect::<Vec<_>>().try_into().unwrap();
        let big = Shared::<[u64; 8192]>::create_sharedobject(&words).unwrap();
        assert!(big.read() == *words, "64 KiB read back");
        big.update(|w| w[8191] = 5).unwrap();
        let back = big.read();
        assert_eq!((back[8190], back[8191]), (words[8190], 5));
        let bytes: Box<[u8; 4101]> =
            (0..4101u32).map(|i| i.to_le_bytes()[0] ^ 0x5A).collect::<Vec<_>>().try_into().unwrap();
        let odd = Shared::<[u8; 4101]>::create_sharedobject(&bytes).unwrap();
        assert!(odd.read() == *bytes, "4,101 bytes read back");
    }

    #[test]
    fn c2_fingerprints_tell_types_apart() {
        let all = [
            u8::FINGERPRINT,
            i8::FINGERPRINT,
            u32::FINGERPRINT,
            i32::FINGERPRINT,
            f32::FINGERPRINT,
            u64::FINGERPRINT,
            f64::FINGERPRINT,
            u128::FINGERPRINT,
            i128::FINGERPRINT,
            <[u64; 2]>::FINGERPRINT,
            Flag::FINGERPRINT,
            <[u32; 2]>::FINGERPRINT,
            <[i32; 2]>::FINGERPRINT,
            <[u32; 3]>::FINGERPRINT,
            <[[u32; 2]; 3]>::FINGERPRINT,
            <[[u32; 3]; 2]>::FINGERPRINT,
            Pose::FINGERPRINT,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Renaming a field or moving it changes the fingerprint.
        let field = |name, offset| {
            let fields =
                vec![schema::FieldSchema { name: String::from(name), offset, ty: schema::Schema::Prim(Prim::F64) }];
            schema::Schema::Struct(schema::StructSchema { name: "Pose".into(), size: 8 + offset, align: 8, fields })
                .fingerprint()
        };
        assert_ne!(field("y", 0), field("x", 0));
        assert_ne!(field("x", 8), field("x", 0));
    }

    #[test]
    fn u128_and_i128_round_trip() {
        let value = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210_u128;
        let shared = Shared::<u128>::create_sharedobject(&value).unwrap();
        let peer = Shared::<u128>::load_sharedobject(&shared.handle()).unwrap();
        assert_eq!(peer.read(), value);
        peer.update(|v| *v = v.rotate_left(64)).unwrap();
        assert_eq!(shared.read(), 0xfedc_ba98_7654_3210_0123_4567_89ab_cdef);
        let signed = Shared::<[i128; 2]>::create_sharedobject(&[i128::MIN, i128::MAX]).unwrap();
        assert_eq!(signed.read(), [i128::MIN, i128::MAX]);
        // Same size as `[u64; 2]`, other type: refused.
        let err = Shared::<[u64; 2]>::load_sharedobject(&shared.handle()).unwrap_err();
        assert!(matches!(err, OpenError::LayoutMismatch { .. }), "{err}");
    }

    #[test]
    fn messages_are_built_in_const_evaluation() {
        const TEXT: __private::Message =
            __private::Message::start("`S` has ").bytes(4).text(" at ").number(0).text(" of ").number(usize::MAX);
        assert_eq!(TEXT.as_str(), format!("`S` has 4 bytes at 0 of {}", usize::MAX));
        assert_eq!(__private::Message::start("").bytes(1).as_str(), "1 byte");
        assert_eq!(__private::Message::start("").bytes(0).number(10).as_str(), "0 bytes10");
        // A piece that does not fit is dropped with everything after it.
        let long = "é".repeat(__private::Message::CAPACITY / 2);
        let full = __private::Message::start("ab").text(&long).text("cd");
        assert_eq!(full.as_str(), "ab");
        let exact = __private::Message::start(&long);
        assert_eq!(exact.as_str(), long);
        assert_eq!(exact.text("x").as_str(), long);
    }

    #[test]
    fn e8_other_type_is_layout_mismatch() {
        let shared = Shared::<[u32; 4]>::create_sharedobject(&[1, 2, 3, 4]).unwrap();
        let err = Shared::<[i32; 4]>::load_sharedobject(&shared.handle()).unwrap_err();
        assert!(
            matches!(err, OpenError::LayoutMismatch { expected, found, .. }
                if expected == <[i32; 4]>::FINGERPRINT && found == <[u32; 4]>::FINGERPRINT),
            "{err}"
        );
    }

    #[test]
    fn d1_threads_never_see_a_torn_struct_and_updates_are_never_lost() {
        let shared = Shared::<[u64; 16]>::create_sharedobject(&[0; 16]).unwrap();
        let peer = Shared::<[u64; 16]>::load_sharedobject(&shared.handle()).unwrap();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..5000 {
                        peer.update(|a| {
                            let next = a[0] + 1;
                            *a = [next; 16];
                        })
                        .unwrap();
                    }
                });
            }
            let mut last = 0;
            while last < 10_000 {
                let value = shared.read();
                assert!(value.iter().all(|v| *v == value[0]), "torn: {value:?}");
                assert!(value[0] >= last, "went back from {last} to {}", value[0]);
                last = value[0];
            }
        });
        assert_eq!(shared.read(), [10_000; 16]);
    }

    #[test]
    fn flag_reads_any_byte_as_defined() {
        let shared = Shared::<[Flag; 2]>::create_sharedobject(&[Flag::new(true), Flag::new(false)]).unwrap();
        assert_eq!(shared.read().map(Flag::get), [true, false]);
        // A peer stores 2 in the first flag's byte: it reads as true.
        shared.update(|flags| flags[0] = Flag(2)).unwrap();
        let read = shared.read();
        assert!(read[0].get());
        assert_eq!(read[0].raw(), 2);
    }
}
