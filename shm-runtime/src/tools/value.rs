//! Values decoded by field: a [`Value`] tree built from a [`Schema`] and
//! the bytes of one value (a `Shared<T>`'s value, an array element), as
//! `shm inspect` prints them and other tools walk them.
//!
//! The schema is the segment's own (validated at open), the bytes a copy:
//! decoding never touches shared memory, reads numbers in this machine's
//! byte order (an opener checks the segment has the same), and checks the
//! byte count against the schema's size before it reads anything.

use crate::format::schema::{Prim, Schema};
use std::fmt;

/// Most elements of one array a [`Value`] holds; the rest are counted in
/// [`Value::Array::more`], so that a peer's huge array cannot make a tool
/// build a huge tree.
pub const MAX_ARRAY_ITEMS: usize = 4096;

/// A value decoded by field ([`Value::decode`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A struct: its name and its fields in order.
    Struct {
        /// The struct's name (without module path).
        name: String,
        /// Each field's name and value.
        fields: Vec<(String, Value)>,
    },
    /// An array: its first elements (up to [`MAX_ARRAY_ITEMS`]).
    Array {
        /// The elements decoded.
        items: Vec<Value>,
        /// How many more elements the array has.
        more: u64,
    },
    /// An unsigned integer (`u8` to `u128`).
    Unsigned(u128),
    /// A signed integer (`i8` to `i128`).
    Signed(i128),
    /// A float (`f32` widened exactly, or `f64`).
    Float(f64),
    /// A [`Flag`](crate::Flag): `true` for any nonzero byte.
    Flag(bool),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// Why bytes could not be decoded with a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not as many as the schema's size.
    SizeMismatch {
        /// The schema's size (`None`: text or bytes, of any length).
        schema: Option<u64>,
        /// The number of bytes.
        bytes: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SizeMismatch { schema: Some(size), bytes } => {
                write!(f, "the schema describes {size} bytes but the value has {bytes}")
            }
            Self::SizeMismatch { schema: None, bytes } => write!(f, "{bytes} bytes of text are not UTF-8"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl Value {
    /// Decodes `bytes`, a value of the type `schema` describes (for
    /// `text`, UTF-8 of any length; for `bytes`, any bytes).
    ///
    /// ```
    /// use shm_runtime::format::schema::Schema;
    /// use shm_runtime::tools::Value;
    /// use shm_runtime::{Flag, SharedState};
    ///
    /// #[derive(SharedState, Clone, Copy)]
    /// #[repr(C)]
    /// struct Pose {
    ///     position: [f64; 2],
    ///     seq: u32,
    ///     moving: Flag,
    ///     _pad: [u8; 3],
    /// }
    ///
    /// let pose = Pose { position: [1.5, -2.0], seq: 7, moving: Flag::new(true), _pad: [0; 3] };
    /// let bytes = [1.5f64.to_ne_bytes(), (-2.0f64).to_ne_bytes()].concat();
    /// let bytes = [&bytes[..], &7u32.to_ne_bytes(), &[1, 0, 0, 0]].concat();
    /// let value = Value::decode(&Schema::from_desc(Pose::SCHEMA), &bytes).unwrap();
    /// assert_eq!(value.field("seq"), Some(&Value::Unsigned(7)));
    /// assert_eq!(value.field("position").unwrap().to_string(), "[1.5, -2.0]");
    /// assert_eq!(value.field("moving").unwrap().to_string(), "true");
    /// # let _ = pose;
    /// ```
    ///
    /// # Errors
    ///
    /// [`DecodeError::SizeMismatch`] when `bytes` is not the schema's
    /// size, or text that is not UTF-8.
    pub fn decode(schema: &Schema, bytes: &[u8]) -> Result<Self, DecodeError> {
        match (schema, schema.size()) {
            (Schema::Prim(Prim::Text), _) => String::from_utf8(bytes.to_vec())
                .map(Value::Text)
                .map_err(|_| DecodeError::SizeMismatch { schema: None, bytes: bytes.len() }),
            (Schema::Prim(Prim::Bytes), _) => Ok(Value::Bytes(bytes.to_vec())),
            (_, Some(size)) if size == bytes.len() as u64 => Ok(decode_sized(schema, bytes)),
            (_, size) => Err(DecodeError::SizeMismatch { schema: size, bytes: bytes.len() }),
        }
    }

    /// The field `name` of a struct value.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Self::Struct { fields, .. } => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Decodes a value whose bytes are exactly the schema's size (checked by
/// the caller, and by `Schema::parse` for every nested size).
fn decode_sized(schema: &Schema, bytes: &[u8]) -> Value {
    match schema {
        Schema::Prim(prim) => decode_prim(*prim, bytes),
        Schema::Array { len, element } => {
            let size = usize::try_from(element.size().unwrap_or(0)).unwrap_or(usize::MAX).max(1);
            let items: Vec<Value> =
                bytes.chunks_exact(size).take(MAX_ARRAY_ITEMS).map(|chunk| decode_sized(element, chunk)).collect();
            Value::Array { more: len.saturating_sub(items.len() as u64), items }
        }
        Schema::Struct(s) => Value::Struct {
            name: s.name.clone(),
            fields: s
                .fields
                .iter()
                .map(|field| {
                    let start = usize::try_from(field.offset).unwrap_or(usize::MAX);
                    let size = field.ty.size().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
                    let part = bytes.get(start..start.saturating_add(size)).unwrap_or(&[]);
                    (field.name.clone(), decode_sized(&field.ty, part))
                })
                .collect(),
        },
    }
}

/// A number or flag from exactly its bytes, in native byte order.
fn decode_prim(prim: Prim, bytes: &[u8]) -> Value {
    /// The first `N` bytes (zeros past the end, which the size check
    /// rules out).
    fn take<const N: usize>(bytes: &[u8]) -> [u8; N] {
        let mut out = [0; N];
        let n = N.min(bytes.len());
        out[..n].copy_from_slice(&bytes[..n]);
        out
    }
    match prim {
        Prim::U8 => Value::Unsigned(u8::from_ne_bytes(take(bytes)).into()),
        Prim::U16 => Value::Unsigned(u16::from_ne_bytes(take(bytes)).into()),
        Prim::U32 => Value::Unsigned(u32::from_ne_bytes(take(bytes)).into()),
        Prim::U64 => Value::Unsigned(u64::from_ne_bytes(take(bytes)).into()),
        Prim::U128 => Value::Unsigned(u128::from_ne_bytes(take(bytes))),
        Prim::I8 => Value::Signed(i8::from_ne_bytes(take(bytes)).into()),
        Prim::I16 => Value::Signed(i16::from_ne_bytes(take(bytes)).into()),
        Prim::I32 => Value::Signed(i32::from_ne_bytes(take(bytes)).into()),
        Prim::I64 => Value::Signed(i64::from_ne_bytes(take(bytes)).into()),
        Prim::I128 => Value::Signed(i128::from_ne_bytes(take(bytes))),
        Prim::F32 => Value::Float(f32::from_ne_bytes(take(bytes)).into()),
        Prim::F64 => Value::Float(f64::from_ne_bytes(take(bytes))),
        Prim::Flag => Value::Flag(bytes.first().is_some_and(|b| *b != 0)),
        Prim::Text => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
        Prim::Bytes => Value::Bytes(bytes.to_vec()),
    }
}

/// One line: `7`, `-2.0`, `true`, `[1.5, -2.0, 0.0]`,
/// `{ x = 1.0, y = 2.0 }`, `"text"`, `0x0a0b`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Struct { fields, .. } => {
                f.write_str("{ ")?;
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name} = {value}")?;
                }
                f.write_str(" }")
            }
            Self::Array { items, more } => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                if *more > 0 {
                    write!(f, ", ... {more} more")?;
                }
                f.write_str("]")
            }
            Self::Unsigned(n) => write!(f, "{n}"),
            Self::Signed(n) => write!(f, "{n}"),
            Self::Float(x) => write!(f, "{x:?}"),
            Self::Flag(b) => write!(f, "{b}"),
            Self::Text(text) => write!(f, "{text:?}"),
            Self::Bytes(bytes) => {
                f.write_str("0x")?;
                bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::schema::{FieldSchema, StructSchema};

    fn prim(p: Prim) -> Schema {
        Schema::Prim(p)
    }

    #[test]
    fn numbers_of_every_width_and_sign() {
        let cases: [(Prim, Vec<u8>, Value); 9] = [
            (Prim::U8, vec![250], Value::Unsigned(250)),
            (Prim::I8, (-3i8).to_ne_bytes().to_vec(), Value::Signed(-3)),
            (Prim::U16, 60_000u16.to_ne_bytes().to_vec(), Value::Unsigned(60_000)),
            (Prim::I32, (-70_000i32).to_ne_bytes().to_vec(), Value::Signed(-70_000)),
            (Prim::I64, i64::MIN.to_ne_bytes().to_vec(), Value::Signed(i64::MIN.into())),
            (Prim::U128, u128::MAX.to_ne_bytes().to_vec(), Value::Unsigned(u128::MAX)),
            (Prim::I128, i128::MIN.to_ne_bytes().to_vec(), Value::Signed(i128::MIN)),
            (Prim::F32, 1.5f32.to_ne_bytes().to_vec(), Value::Float(1.5)),
            (Prim::Flag, vec![2], Value::Flag(true)),
        ];
        for (p, bytes, expected) in cases {
            assert_eq!(Value::decode(&prim(p), &bytes), Ok(expected), "{p:?}");
        }
        assert_eq!(Value::decode(&prim(Prim::F64), &(-2.0f64).to_ne_bytes()).unwrap().to_string(), "-2.0");
    }

    #[test]
    fn structs_and_arrays_by_field_and_sizes_checked() {
        let field = |name: &str, offset, ty| FieldSchema { name: name.into(), offset, ty };
        let point = Schema::Struct(StructSchema {
            name: "Point".into(),
            size: 4,
            align: 2,
            fields: vec![field("x", 0, prim(Prim::I16)), field("y", 2, prim(Prim::U16))],
        });
        let schema = Schema::Array { len: 2, element: Box::new(point) };
        let bytes = [(-1i16).to_ne_bytes(), 2u16.to_ne_bytes(), 3i16.to_ne_bytes(), 4u16.to_ne_bytes()].concat();
        let value = Value::decode(&schema, &bytes).unwrap();
        assert_eq!(value.to_string(), "[{ x = -1, y = 2 }, { x = 3, y = 4 }]");
        let err = Value::decode(&schema, &bytes[1..]).unwrap_err();
        assert_eq!(err, DecodeError::SizeMismatch { schema: Some(8), bytes: 7 });
        assert!(matches!(Value::decode(&prim(Prim::Text), &[0xff]), Err(DecodeError::SizeMismatch { .. })));
        assert_eq!(Value::decode(&prim(Prim::Bytes), &[1, 0xab]).unwrap().to_string(), "0x01ab");
        assert_eq!(Value::decode(&prim(Prim::Text), b"hi").unwrap().to_string(), "\"hi\"");
    }

    #[test]
    fn huge_arrays_keep_the_first_items_and_count_the_rest() {
        let schema = Schema::Array { len: 10_000, element: Box::new(prim(Prim::U8)) };
        let Value::Array { items, more } = Value::decode(&schema, &[7; 10_000]).unwrap() else { panic!() };
        assert_eq!((items.len(), more), (MAX_ARRAY_ITEMS, 10_000 - MAX_ARRAY_ITEMS as u64));
    }
}
