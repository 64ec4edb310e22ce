//! Objects whose item type is known only at run time: [`DynRing`] (the
//! ring of [`MemoryInterface<T>`](crate::MemoryInterface)),
//! [`DynBroadcast`] and [`DynSubscriber`] (the two sides of
//! [`Broadcast<T>`](crate::Broadcast)) and
//! [`DynShared`] (the value of [`Shared<T>`](crate::Shared)), typed by an
//! [`ItemType`] (a [`Schema`] and a name) instead of a `T: SharedState`.
//!
//! They are the same objects, not look-alikes: the same segment kind, the
//! same header, schema and fingerprint, the same ring and cell protocols
//! and the same ends, with the item copied as bytes of a length fixed when
//! the object is created or opened. So a program that learns its types at
//! run time (a Python process declaring a struct, a bridge that carries
//! any ring by name) and a Rust program that derives `SharedState` open
//! each other's objects, and a type built field by field that equals the
//! derived one's schema has its fingerprint.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use shm_runtime::dynamic::{DynRing, ItemType};
//! use shm_runtime::format::schema::{FieldSchema, Prim, Schema, StructSchema};
//! use shm_runtime::{Consumer, MemoryInterface, SharedObject, SharedState};
//!
//! #[derive(SharedState, Clone, Copy, Debug, PartialEq)]
//! #[repr(C)]
//! struct Point {
//!     x: f32,
//!     y: f32,
//! }
//!
//! // The same type, declared at run time.
//! let field = |name: &str, offset| FieldSchema { name: name.into(), offset, ty: Schema::Prim(Prim::F32) };
//! let schema = Schema::Struct(StructSchema {
//!     name: "Point".into(),
//!     size: 8,
//!     align: 4,
//!     fields: vec![field("x", 0), field("y", 4)],
//! });
//! let point = ItemType::new("Point", schema)?;
//! assert_eq!(point.fingerprint(), Point::FINGERPRINT);
//!
//! let mut tx = DynRing::<shm_runtime::Producer>::create(&point, 8)?;
//! let mut rx = MemoryInterface::<Point, Consumer>::load_memorybuf(&tx.handle())?;
//! let bytes: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_ne_bytes()).collect();
//! tx.write(&bytes)?;
//! assert_eq!(rx.read(), Some(Point { x: 1.5, y: -2.0 }));
//! # Ok(()) }
//! ```

pub(crate) mod ring;
pub(crate) mod shared;

use crate::format::header::{Layout, SchemaRef, TYPE_NAME_BYTES};
use crate::format::schema::{MAX_SCHEMA_SIZE, Schema, SchemaError};
use crate::object::state::SharedState;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

pub use crate::object::broadcast::dynamic::{DynBroadcast, DynSubscriber};
pub use ring::DynRing;
pub use shared::DynShared;

/// The type of the items of a [`DynRing`] or the value of a
/// [`DynShared`], known at run time: a [`Schema`] with a size, and a
/// name for the header and for messages.
///
/// Two item types with equal schemas have the same
/// [`fingerprint`](Self::fingerprint), and it is the fingerprint a
/// `#[derive(SharedState)]` type with that schema has; the name is not part
/// of it.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::dynamic::ItemType;
/// use shm_runtime::format::schema::{Prim, Schema};
///
/// let pair = ItemType::new("pair", Schema::Array { len: 2, element: Box::new(Schema::Prim(Prim::U64)) })?;
/// assert_eq!((pair.size(), pair.type_name()), (16, "pair"));
/// assert_eq!(pair.fingerprint(), ItemType::of::<[u64; 2]>().fingerprint());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemType {
    /// The schema: within the parser's limits, with a size (checked by
    /// `new`, or read from a segment whose schema was checked).
    schema: Schema,
    /// The name, at most [`MAX_TYPE_NAME_LEN`] bytes when `new` made it.
    type_name: Cow<'static, str>,
    /// `schema.size()`, in bytes; at least 1.
    size: usize,
    /// `schema.fingerprint()`.
    fingerprint: u64,
}

/// Why [`ItemType::new`] refused a type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemTypeError {
    /// The type name is empty.
    EmptyTypeName,
    /// The type name is longer than the header's type name field holds.
    TypeNameTooLong {
        /// Its length in bytes.
        len: usize,
        /// The most bytes allowed.
        max: usize,
    },
    /// The schema breaks a limit or describes no consistent layout (what a
    /// peer parsing it from the segment would refuse).
    BadSchema(SchemaError),
    /// The schema has no fixed size: text or bytes, which only the
    /// built-in `SharedString` and `SharedBytes` hold.
    Unsized {
        /// The schema, as Rust syntax.
        schema: String,
    },
    /// The size does not fit this machine's address space.
    TooLarge {
        /// The size in bytes.
        size: u64,
    },
}

impl fmt::Display for ItemTypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyTypeName => f.write_str("an item type needs a name of at least one byte"),
            Self::TypeNameTooLong { len, max } => {
                write!(f, "an item type name of {len} bytes is longer than the header's {max}")
            }
            Self::BadSchema(e) => write!(f, "the item type's schema is invalid: {e}"),
            Self::Unsized { schema } => {
                write!(f, "the item type `{schema}` has no fixed size (text and bytes are not items)")
            }
            Self::TooLarge { size } => write!(f, "an item type of {size} bytes does not fit in memory"),
        }
    }
}

impl std::error::Error for ItemTypeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::BadSchema(e) => Some(e),
            _ => None,
        }
    }
}

/// Most bytes of a type name: the header's field, less its length byte.
pub const MAX_TYPE_NAME_LEN: usize = TYPE_NAME_BYTES - 1;

impl ItemType {
    /// An item type named `type_name` (for the header and messages; not
    /// part of the fingerprint) described by `schema`.
    ///
    /// # Errors
    ///
    /// [`ItemTypeError`]: an empty name or one over
    /// [`MAX_TYPE_NAME_LEN`] bytes; a schema that breaks the parser's
    /// limits or describes an inconsistent layout (fields that do not tile
    /// their struct, a bad alignment, an empty array: what
    /// [`Schema::parse`] refuses); text or bytes, which have no size.
    ///
    /// ```
    /// use shm_runtime::dynamic::{ItemType, ItemTypeError};
    /// use shm_runtime::format::schema::{FieldSchema, Prim, Schema, StructSchema};
    ///
    /// // `b` should start at 4: the fields do not tile the struct.
    /// let gap = Schema::Struct(StructSchema {
    ///     name: "Gap".into(),
    ///     size: 8,
    ///     align: 4,
    ///     fields: vec![
    ///         FieldSchema { name: "a".into(), offset: 0, ty: Schema::Prim(Prim::U16) },
    ///         FieldSchema { name: "b".into(), offset: 4, ty: Schema::Prim(Prim::U32) },
    ///     ],
    /// });
    /// assert!(matches!(ItemType::new("Gap", gap), Err(ItemTypeError::BadSchema(_))));
    /// assert!(matches!(ItemType::new("", Schema::Prim(Prim::U8)), Err(ItemTypeError::EmptyTypeName)));
    /// assert!(matches!(ItemType::new("text", Schema::Prim(Prim::Text)), Err(ItemTypeError::Unsized { .. })));
    /// ```
    pub fn new(type_name: &str, schema: Schema) -> Result<Self, ItemTypeError> {
        if type_name.is_empty() {
            return Err(ItemTypeError::EmptyTypeName);
        }
        if type_name.len() > MAX_TYPE_NAME_LEN {
            return Err(ItemTypeError::TypeNameTooLong { len: type_name.len(), max: MAX_TYPE_NAME_LEN });
        }
        // What a peer will parse out of the segment, checked the same way
        // here: limits, tiling, alignment. The encoding is canonical, so
        // a schema that parses back is equal to what was given.
        let bytes = schema.encode();
        if bytes.len() > MAX_SCHEMA_SIZE {
            return Err(ItemTypeError::BadSchema(SchemaError::TooLong { len: bytes.len() }));
        }
        let parsed = Schema::parse(&bytes).map_err(ItemTypeError::BadSchema)?;
        debug_assert_eq!(parsed, schema, "the encoding is canonical");
        Self::sized(Cow::Owned(type_name.to_owned()), schema)
    }

    /// The item type of a schema checked already (by [`Schema::parse`]).
    fn sized(type_name: Cow<'static, str>, schema: Schema) -> Result<Self, ItemTypeError> {
        let size = schema.size().ok_or_else(|| ItemTypeError::Unsized { schema: schema.to_string() })?;
        let size = usize::try_from(size).ok().filter(|s| isize::try_from(*s).is_ok());
        let size = size.ok_or(ItemTypeError::TooLarge { size: schema.size().unwrap_or(u64::MAX) })?;
        let fingerprint = schema.fingerprint();
        Ok(Self { schema, type_name, size, fingerprint })
    }

    /// The item type of a segment's schema (parsed and checked against the
    /// header's fingerprint when the segment was opened), named as the
    /// header names it, or by the schema when the header's name field is
    /// empty or malformed.
    pub(crate) fn stored(header_name: Option<&str>, schema: &Schema) -> Result<Self, ItemTypeError> {
        let name = header_name.map_or_else(|| schema.to_string(), str::to_owned);
        Self::sized(Cow::Owned(name), schema.clone())
    }

    /// The item type of `T`: its schema, its name
    /// ([`SharedState::TYPE_NAME`]) and so its fingerprint
    /// ([`SharedState::FINGERPRINT`]).
    ///
    /// ```
    /// use shm_runtime::SharedState;
    /// use shm_runtime::dynamic::ItemType;
    ///
    /// let item = ItemType::of::<[f32; 3]>();
    /// assert_eq!(item.size(), 12);
    /// assert_eq!(item.fingerprint(), <[f32; 3]>::FINGERPRINT);
    /// ```
    #[must_use]
    pub fn of<T: SharedState>() -> Self {
        Self {
            schema: Schema::from_desc(T::SCHEMA),
            type_name: Cow::Borrowed(T::TYPE_NAME),
            size: size_of::<T>(),
            fingerprint: T::FINGERPRINT,
        }
    }

    /// Size of an item in bytes (at least 1): every buffer written or read
    /// has exactly this length.
    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// The layout fingerprint: the hash of the encoded schema, as in the
    /// header of every segment holding this type.
    #[must_use]
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The schema.
    #[must_use]
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The name.
    #[must_use]
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// What a segment's header records of this type.
    pub(crate) fn layout(&self) -> Layout<'_> {
        let type_name = match self.type_name {
            Cow::Borrowed(name) => name,
            Cow::Owned(ref name) => intern(name),
        };
        Layout { fingerprint: self.fingerprint, type_name, schema: SchemaRef::Owned(&self.schema) }
    }
}

/// Most distinct names [`intern`] keeps; past them, names are not kept
/// (a process that opens segments of ever new names, perhaps made by a
/// hostile peer, keeps a bounded amount of memory).
const MAX_INTERNED: usize = 4096;

/// `name` as a `&'static str` (the header layout and the errors that name
/// the opener's type hold one), each distinct name leaked once; after
/// [`MAX_INTERNED`] names, a fixed stand-in (in messages, and in the
/// headers of segments created after: the name is informational there,
/// never checked).
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    // A panic while the set was held leaves it consistent (an insert
    // either happened or not).
    let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(kept) = names.get(name) {
        return kept;
    }
    if names.len() >= MAX_INTERNED {
        return "(a run-time type)";
    }
    let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(kept);
    kept
}

#[cfg(test)]
mod tests;
