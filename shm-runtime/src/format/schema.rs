//! The schema: a canonical description of the type a segment stores, its
//! byte encoding, its parser (with limits: the encoding is read from
//! shared memory, written by a peer) and the layout fingerprint, which is
//! the 64-bit FNV-1a hash of the encoding. `FORMAT.md` ("Schema")
//! specifies the same thing byte by byte, with test vectors.
//!
//! Two forms of one description:
//!
//! - [`TypeDesc`] (with [`StructDesc`], [`FieldDesc`]): `'static` data
//!   built in `const` context, what [`SharedState::SCHEMA`] holds
//!   (`#[derive(SharedState)]` emits it), and what a new object kind points
//!   its layout at. [`fingerprint`] hashes it at compile time.
//! - [`Schema`] (with [`StructSchema`], [`FieldSchema`]): owned, what
//!   [`Schema::parse`] returns from untrusted bytes and what tools walk.
//!
//! ```
//! use shm_runtime::format::schema::{self, Prim, Schema};
//! use shm_runtime::SharedState;
//!
//! #[derive(SharedState, Clone, Copy)]
//! #[repr(C)]
//! struct Pose {
//!     position: [f64; 3],
//!     seq: u32,
//!     moving: shm_runtime::Flag,
//!     _pad: [u8; 3],
//! }
//!
//! let owned = Schema::from_desc(Pose::SCHEMA);
//! let bytes = owned.encode();
//! assert_eq!(Schema::parse(&bytes), Ok(owned.clone()));
//! assert_eq!(schema::fingerprint_of_bytes(&bytes), Pose::FINGERPRINT);
//! assert_eq!(owned.size(), Some(32));
//! assert_eq!(Schema::parse(&[Prim::U32.code()]), Ok(Schema::Prim(Prim::U32)));
//! ```
//!
//! [`SharedState::SCHEMA`]: crate::SharedState::SCHEMA

use crate::format::fingerprint::{self as fnv, fold};
use std::collections::HashSet;
use std::fmt;

/// Most bytes an encoded schema may have.
pub const MAX_SCHEMA_SIZE: usize = 65_536;
/// Deepest nesting of arrays and structs (the root counts as 1).
pub const MAX_DEPTH: usize = 32;
/// Most fields one struct may have.
pub const MAX_FIELDS: usize = 1024;
/// Longest struct or field name, in bytes (names are 1 to this many bytes
/// of UTF-8).
pub const MAX_NAME_LEN: usize = 255;
/// Largest struct alignment.
pub const MAX_ALIGN: u64 = 64;

/// Tag byte of an array: `0x40`, then the length (u64), then the element.
pub const TAG_ARRAY: u8 = 0x40;
/// Tag byte of a struct: `0x50`, then name, size, alignment, field count,
/// fields.
pub const TAG_STRUCT: u8 = 0x50;

/// A leaf type: a number, a flag, or (at the root of a built-in object
/// only) a variable-length text or byte string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Prim {
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `u128`.
    U128,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `i128`.
    I128,
    /// `f32`, IEEE 754 binary32.
    F32,
    /// `f64`, IEEE 754 binary64.
    F64,
    /// [`Flag`](crate::Flag): one byte, 0 false, anything else true.
    Flag,
    /// UTF-8 text of a length up to a capacity (`SharedString`); only as
    /// the whole schema.
    Text,
    /// Bytes of a length up to a capacity (`SharedBytes`, the messages of
    /// a `ByteRing`); only as the whole schema.
    Bytes,
}

impl Prim {
    const ALL: [Self; 15] = [
        Self::U8,
        Self::U16,
        Self::U32,
        Self::U64,
        Self::U128,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::I64,
        Self::I128,
        Self::F32,
        Self::F64,
        Self::Flag,
        Self::Text,
        Self::Bytes,
    ];

    /// The byte that encodes this type.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::U8 => 0x01,
            Self::U16 => 0x02,
            Self::U32 => 0x03,
            Self::U64 => 0x04,
            Self::U128 => 0x05,
            Self::I8 => 0x11,
            Self::I16 => 0x12,
            Self::I32 => 0x13,
            Self::I64 => 0x14,
            Self::I128 => 0x15,
            Self::F32 => 0x23,
            Self::F64 => 0x24,
            Self::Flag => 0x30,
            Self::Text => 0x31,
            Self::Bytes => 0x32,
        }
    }

    /// The type encoded by `code`, if any.
    #[must_use]
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    /// Size in bytes; `None` for [`Text`](Self::Text) and
    /// [`Bytes`](Self::Bytes), whose length varies.
    #[must_use]
    pub const fn size(self) -> Option<u64> {
        match self {
            Self::U8 | Self::I8 | Self::Flag => Some(1),
            Self::U16 | Self::I16 => Some(2),
            Self::U32 | Self::I32 | Self::F32 => Some(4),
            Self::U64 | Self::I64 | Self::F64 => Some(8),
            Self::U128 | Self::I128 => Some(16),
            Self::Text | Self::Bytes => None,
        }
    }

    /// The Rust name (`u32`, `Flag`, `text`, `bytes`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::U128 => "u128",
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::I128 => "i128",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::Flag => "Flag",
            Self::Text => "text",
            Self::Bytes => "bytes",
        }
    }
}

/// A type's description as `'static` data, built in `const` context
/// ([`SharedState::SCHEMA`](crate::SharedState::SCHEMA)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeDesc {
    /// A leaf type.
    Prim(Prim),
    /// `[element; len]`.
    Array {
        /// Number of elements, at least 1.
        len: usize,
        /// The element type.
        element: &'static TypeDesc,
    },
    /// A `#[repr(C)]` struct without padding.
    Struct(&'static StructDesc),
}

/// A struct's description (see [`TypeDesc::Struct`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StructDesc {
    /// The struct's name as written, without its module path.
    pub name: &'static str,
    /// `size_of` the struct.
    pub size: usize,
    /// `align_of` the struct.
    pub align: usize,
    /// The fields in declaration order.
    pub fields: &'static [FieldDesc],
}

/// A field's description (see [`StructDesc`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDesc {
    /// The field's name (`0`, `1`, ... for a tuple struct).
    pub name: &'static str,
    /// Its byte offset in the struct.
    pub offset: usize,
    /// Its type.
    pub ty: &'static TypeDesc,
}

/// Folds a number into a hash the way the encoding writes it: 8 bytes,
/// little-endian.
const fn fold_u64(hash: u64, n: u64) -> u64 {
    fold(hash, &n.to_le_bytes())
}

/// Folds a name: its length as a u64, then its bytes.
const fn fold_name(hash: u64, name: &str) -> u64 {
    fold(fold_u64(hash, name.len() as u64), name.as_bytes())
}

/// Folds the encoding of `ty` into `hash` (the same bytes [`Schema::encode`]
/// writes, without building them).
const fn fold_type(hash: u64, ty: &TypeDesc) -> u64 {
    match *ty {
        TypeDesc::Prim(p) => fold(hash, &[p.code()]),
        TypeDesc::Array { len, element } => fold_type(fold_u64(fold(hash, &[TAG_ARRAY]), len as u64), element),
        TypeDesc::Struct(s) => {
            let mut hash = fold_name(fold(hash, &[TAG_STRUCT]), s.name);
            hash = fold_u64(hash, s.size as u64);
            hash = fold_u64(hash, s.align as u64);
            hash = fold_u64(hash, s.fields.len() as u64);
            let mut i = 0;
            while i < s.fields.len() {
                let field = &s.fields[i];
                hash = fold_u64(fold_name(hash, field.name), field.offset as u64);
                hash = fold_type(hash, field.ty);
                i += 1;
            }
            hash
        }
    }
}

/// The layout fingerprint of `ty`: FNV-1a 64 of its encoding, computed in
/// `const` context.
#[must_use]
pub const fn fingerprint(ty: &TypeDesc) -> u64 {
    fold_type(fnv::of_str(""), ty)
}

/// The layout fingerprint of an encoded schema: FNV-1a 64 of the bytes.
#[must_use]
pub const fn fingerprint_of_bytes(bytes: &[u8]) -> u64 {
    fold(fnv::of_str(""), bytes)
}

/// Length of the encoding of `ty`, saturating.
pub(crate) const fn encoded_len(ty: &TypeDesc) -> usize {
    match *ty {
        TypeDesc::Prim(_) => 1,
        TypeDesc::Array { element, .. } => 9usize.saturating_add(encoded_len(element)),
        TypeDesc::Struct(s) => {
            let mut len = (1 + 8 + 8 + 8 + 8usize).saturating_add(s.name.len());
            let mut i = 0;
            while i < s.fields.len() {
                len = len.saturating_add(16 + s.fields[i].name.len()).saturating_add(encoded_len(s.fields[i].ty));
                i += 1;
            }
            len
        }
    }
}

/// Checks in `const` context that `ty` stays within the parser's limits
/// (depth, field count, name lengths, encoded size), so that every schema
/// a program can declare is one a peer can read; fails the build (or the
/// evaluation) with a message otherwise. Sizes and offsets are the
/// compiler's, checked by the derive's own assertions.
///
/// # Panics
///
/// When `ty` breaks a limit, or has an array of length 0: in `const`
/// context (where the derive and [`SharedState`](crate::SharedState) call
/// it) that is a compile error.
pub const fn check(ty: &TypeDesc) {
    check_depth(ty, 1);
    assert!(encoded_len(ty) <= MAX_SCHEMA_SIZE, "the type's schema is longer than 65536 bytes");
}

const fn check_depth(ty: &TypeDesc, depth: usize) {
    assert!(depth <= MAX_DEPTH, "the type nests arrays and structs more than 32 deep");
    match *ty {
        TypeDesc::Prim(_) => {}
        TypeDesc::Array { len, element } => {
            assert!(len > 0, "a zero-length array cannot be stored in shared memory");
            check_depth(element, depth + 1);
        }
        TypeDesc::Struct(s) => {
            assert!(!s.name.is_empty() && s.name.len() <= MAX_NAME_LEN, "a struct name is longer than 255 bytes");
            assert!(s.fields.len() <= MAX_FIELDS, "a struct has more than 1024 fields");
            let mut i = 0;
            while i < s.fields.len() {
                let name = s.fields[i].name;
                assert!(!name.is_empty() && name.len() <= MAX_NAME_LEN, "a field name is longer than 255 bytes");
                check_depth(s.fields[i].ty, depth + 1);
                i += 1;
            }
        }
    }
}

/// A type's description, owned: what [`Schema::parse`] reads from a
/// segment and tools walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schema {
    /// A leaf type.
    Prim(Prim),
    /// `[element; len]`.
    Array {
        /// Number of elements, at least 1.
        len: u64,
        /// The element type.
        element: Box<Schema>,
    },
    /// A struct.
    Struct(StructSchema),
}

/// A struct (see [`Schema::Struct`]). A parsed one has fields that tile
/// `0..size` exactly, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructSchema {
    /// Name, without module path.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Alignment, a power of two up to 64.
    pub align: u64,
    /// Fields in order of offset.
    pub fields: Vec<FieldSchema>,
}

/// A field of a [`StructSchema`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSchema {
    /// Name (`0`, `1`, ... in a tuple struct).
    pub name: String,
    /// Byte offset in the struct.
    pub offset: u64,
    /// Type.
    pub ty: Schema,
}

/// Why bytes are not a schema ([`Schema::parse`]). `at` is the byte
/// offset in the encoding where the problem was found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaError {
    /// Longer than [`MAX_SCHEMA_SIZE`].
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The bytes end inside a type.
    Truncated {
        /// Where more was expected.
        at: usize,
    },
    /// Bytes left after the type.
    TrailingBytes {
        /// Where the type ended.
        at: usize,
    },
    /// A byte that is no type.
    UnknownTag {
        /// The byte.
        tag: u8,
        /// Where.
        at: usize,
    },
    /// Nested more than [`MAX_DEPTH`] deep.
    TooDeep {
        /// Where.
        at: usize,
    },
    /// A struct with no fields or more than [`MAX_FIELDS`].
    FieldCount {
        /// The count.
        count: u64,
        /// Where.
        at: usize,
    },
    /// A name that is empty, longer than [`MAX_NAME_LEN`] or not UTF-8, or
    /// a field name used twice in a struct.
    BadName {
        /// Where.
        at: usize,
    },
    /// A zero-length array, text or bytes below the root, a size that
    /// overflows, a bad alignment, or fields that do not tile the struct.
    BadLayout {
        /// What is wrong.
        what: &'static str,
        /// Where.
        at: usize,
    },
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len } => write!(f, "schema of {len} bytes is longer than {MAX_SCHEMA_SIZE}"),
            Self::Truncated { at } => write!(f, "schema ends early at byte {at}"),
            Self::TrailingBytes { at } => write!(f, "schema has bytes after its end at byte {at}"),
            Self::UnknownTag { tag, at } => write!(f, "schema has unknown type tag {tag:#04x} at byte {at}"),
            Self::TooDeep { at } => write!(f, "schema nests more than {MAX_DEPTH} deep at byte {at}"),
            Self::FieldCount { count, at } => {
                write!(f, "schema has a struct of {count} fields (1 to {MAX_FIELDS} allowed) at byte {at}")
            }
            Self::BadName { at } => write!(f, "schema has an invalid or repeated name at byte {at}"),
            Self::BadLayout { what, at } => write!(f, "schema layout is invalid at byte {at}: {what}"),
        }
    }
}

impl std::error::Error for SchemaError {}

/// Reads the encoding front to back.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SchemaError> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or(SchemaError::Truncated { at: self.at })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, SchemaError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, SchemaError> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }

    fn name(&mut self) -> Result<String, SchemaError> {
        let at = self.at;
        let len = self.u64()?;
        let len = usize::try_from(len).ok().filter(|n| (1..=MAX_NAME_LEN).contains(n));
        let len = len.ok_or(SchemaError::BadName { at })?;
        let bytes = self.take(len)?;
        core::str::from_utf8(bytes).map(str::to_owned).map_err(|_| SchemaError::BadName { at })
    }

    fn ty(&mut self, depth: usize) -> Result<Schema, SchemaError> {
        let at = self.at;
        if depth > MAX_DEPTH {
            return Err(SchemaError::TooDeep { at });
        }
        let tag = self.u8()?;
        let layout = |what| SchemaError::BadLayout { what, at };
        match tag {
            TAG_ARRAY => {
                let len = self.u64()?;
                if len == 0 {
                    return Err(layout("array of length 0"));
                }
                let element = self.ty(depth + 1)?;
                let size = element.size().ok_or_else(|| layout("array of text or bytes"))?;
                size.checked_mul(len).ok_or_else(|| layout("array size overflows"))?;
                Ok(Schema::Array { len, element: Box::new(element) })
            }
            TAG_STRUCT => self.structure(depth, at).map(Schema::Struct),
            code => Prim::from_code(code).map(Schema::Prim).ok_or(SchemaError::UnknownTag { tag, at }),
        }
    }

    fn structure(&mut self, depth: usize, at: usize) -> Result<StructSchema, SchemaError> {
        let layout = |what| SchemaError::BadLayout { what, at };
        let name = self.name()?;
        let size = self.u64()?;
        let align = self.u64()?;
        if !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(layout("alignment is not a power of two up to 64"));
        }
        if !size.is_multiple_of(align) {
            return Err(layout("size is not a multiple of the alignment"));
        }
        let count_at = self.at;
        let count = self.u64()?;
        if count == 0 || count > MAX_FIELDS as u64 {
            return Err(SchemaError::FieldCount { count, at: count_at });
        }
        let mut fields = Vec::new();
        let mut names = HashSet::new();
        let mut end = 0u64;
        for _ in 0..count {
            let field_at = self.at;
            let name = self.name()?;
            if !names.insert(name.clone()) {
                return Err(SchemaError::BadName { at: field_at });
            }
            let offset = self.u64()?;
            let ty = self.ty(depth + 1)?;
            let field_size = ty.size().ok_or_else(|| layout("field of text or bytes"))?;
            // The fields tile the struct: each starts where the one before
            // it ends (no padding, no overlap, in order).
            if offset != end {
                return Err(SchemaError::BadLayout {
                    what: "field does not start where the previous ends",
                    at: field_at,
                });
            }
            end = offset.checked_add(field_size).ok_or_else(|| layout("struct size overflows"))?;
            fields.push(FieldSchema { name, offset, ty });
        }
        if end != size {
            return Err(layout("fields do not end at the struct's size"));
        }
        Ok(StructSchema { name, size, align, fields })
    }
}

impl Schema {
    /// The owned copy of a static description.
    #[must_use]
    pub fn from_desc(desc: &TypeDesc) -> Self {
        match *desc {
            TypeDesc::Prim(p) => Self::Prim(p),
            TypeDesc::Array { len, element } => {
                Self::Array { len: len as u64, element: Box::new(Self::from_desc(element)) }
            }
            TypeDesc::Struct(s) => Self::Struct(StructSchema {
                name: s.name.to_owned(),
                size: s.size as u64,
                align: s.align as u64,
                fields: s
                    .fields
                    .iter()
                    .map(|f| FieldSchema {
                        name: f.name.to_owned(),
                        offset: f.offset as u64,
                        ty: Self::from_desc(f.ty),
                    })
                    .collect(),
            }),
        }
    }

    /// Parses an encoded schema read from a segment, within the limits
    /// ([`MAX_SCHEMA_SIZE`], [`MAX_DEPTH`], [`MAX_FIELDS`],
    /// [`MAX_NAME_LEN`]), and checks that it describes a consistent
    /// layout: arrays of at least one element, struct fields that tile
    /// the struct, sizes without overflow, text and bytes only at the
    /// root.
    ///
    /// # Errors
    ///
    /// A [`SchemaError`] saying what is wrong where.
    pub fn parse(bytes: &[u8]) -> Result<Self, SchemaError> {
        if bytes.len() > MAX_SCHEMA_SIZE {
            return Err(SchemaError::TooLong { len: bytes.len() });
        }
        let mut reader = Reader { bytes, at: 0 };
        let schema = reader.ty(1)?;
        if reader.at != bytes.len() {
            return Err(SchemaError::TrailingBytes { at: reader.at });
        }
        Ok(schema)
    }

    /// The canonical encoding (see `FORMAT.md`, "Schema").
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        let name = |out: &mut Vec<u8>, name: &str| {
            out.extend_from_slice(&(name.len() as u64).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
        };
        match self {
            Self::Prim(p) => out.push(p.code()),
            Self::Array { len, element } => {
                out.push(TAG_ARRAY);
                out.extend_from_slice(&len.to_le_bytes());
                element.encode_into(out);
            }
            Self::Struct(s) => {
                out.push(TAG_STRUCT);
                name(out, &s.name);
                for n in [s.size, s.align, s.fields.len() as u64] {
                    out.extend_from_slice(&n.to_le_bytes());
                }
                for field in &s.fields {
                    name(out, &field.name);
                    out.extend_from_slice(&field.offset.to_le_bytes());
                    field.ty.encode_into(out);
                }
            }
        }
    }

    /// The layout fingerprint: FNV-1a 64 of [`encode`](Self::encode).
    #[must_use]
    pub fn fingerprint(&self) -> u64 {
        fingerprint_of_bytes(&self.encode())
    }

    /// Size in bytes of a value; `None` for text and bytes (and for an
    /// array whose size overflows, which [`parse`](Self::parse) refuses).
    #[must_use]
    pub fn size(&self) -> Option<u64> {
        match self {
            Self::Prim(p) => p.size(),
            Self::Array { len, element } => element.size()?.checked_mul(*len),
            Self::Struct(s) => Some(s.size),
        }
    }

    /// The first place where `self` (the opener's type) and `other` (the
    /// segment's) differ, as a path and both sides, for
    /// `LayoutMismatch`; `None` when they are equal.
    #[must_use]
    pub fn difference(&self, other: &Self) -> Option<Difference> {
        diff(self, other, String::new())
    }
}

/// Where two schemas first differ ([`Schema::difference`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The path from the root: `position[]`, `inner.seq`, empty for the
    /// root itself.
    pub path: String,
    /// What the opener's type has there.
    pub expected: String,
    /// What the segment's type has there.
    pub found: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "the type is {} here but {} in the segment", self.expected, self.found)
        } else {
            write!(f, "field `{}` is {} here but {} in the segment", self.path, self.expected, self.found)
        }
    }
}

fn diff(a: &Schema, b: &Schema, path: String) -> Option<Difference> {
    let differ = |path: String, expected: String, found: String| Some(Difference { path, expected, found });
    match (a, b) {
        (Schema::Array { len: la, element: ea }, Schema::Array { len: lb, element: eb }) if la == lb => {
            diff(ea, eb, format!("{path}[]"))
        }
        (Schema::Struct(sa), Schema::Struct(sb)) => {
            let join = |name: &str| if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") };
            for i in 0..sa.fields.len().max(sb.fields.len()) {
                let (fa, fb) = match (sa.fields.get(i), sb.fields.get(i)) {
                    (Some(fa), Some(fb)) => (fa, fb),
                    (Some(fa), None) => return differ(join(&fa.name), describe(fa), "missing".to_owned()),
                    (None, Some(fb)) => return differ(join(&fb.name), "missing".to_owned(), describe(fb)),
                    (None, None) => break,
                };
                let at = join(&fa.name);
                if fa.name != fb.name {
                    return differ(at, describe(fa), format!("field `{}`, {}", fb.name, describe(fb)));
                }
                if fa.ty != fb.ty {
                    // Deeper inside a nested struct or array when that is
                    // where they differ; else this field, with offsets.
                    return match diff(&fa.ty, &fb.ty, at.clone()) {
                        Some(d) if d.path != at => Some(d),
                        _ => differ(at, describe(fa), describe(fb)),
                    };
                }
                if fa.offset != fb.offset {
                    return differ(at, describe(fa), describe(fb));
                }
            }
            if (&sa.name, sa.size, sa.align) == (&sb.name, sb.size, sb.align) {
                return None;
            }
            let show = |s: &StructSchema| format!("struct `{}` (size {}, align {})", s.name, s.size, s.align);
            differ(path, show(sa), show(sb))
        }
        _ if a == b => None,
        _ => differ(path, format!("`{a}`"), format!("`{b}`")),
    }
}

/// "`[f64; 3]` at offset 0".
fn describe(field: &FieldSchema) -> String {
    format!("`{}` at offset {}", field.ty, field.offset)
}

/// Rust syntax for the type: `u32`, `[f64; 3]`, the struct's name.
impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Prim(p) => f.write_str(p.name()),
            Self::Array { len, element } => write!(f, "[{element}; {len}]"),
            Self::Struct(s) => f.write_str(&s.name),
        }
    }
}

/// The schemas of the built-in objects: their fingerprints are these
/// schemas' ([`fingerprint`]), like every other.
pub mod builtin {
    use super::{Prim, TypeDesc};

    /// `SharedInt`: an `i64`.
    pub const INT: &TypeDesc = &TypeDesc::Prim(Prim::I64);
    /// `SharedBool`: a flag byte.
    pub const BOOL: &TypeDesc = &TypeDesc::Prim(Prim::Flag);
    /// `SharedString`: text.
    pub const STRING: &TypeDesc = &TypeDesc::Prim(Prim::Text);
    /// `SharedBytes` and `ByteRing` (its messages): bytes.
    pub const BYTES: &TypeDesc = &TypeDesc::Prim(Prim::Bytes);
}

#[cfg(test)]
mod tests;
