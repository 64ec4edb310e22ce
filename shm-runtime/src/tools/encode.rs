//! The inverse of [`Value::decode`]: the bytes of a value of the type a
//! [`Schema`] describes, built from a [`Value`] tree (a dict from Python,
//! a JSON document, a tool's input), to write into a
//! [`DynShared`](crate::dynamic::DynShared) or a
//! [`DynRing`](crate::dynamic::DynRing).
//!
//! Numbers are written in this machine's byte order, each field at its
//! offset; bytes no field covers, and fields whose name starts with `_`
//! (explicit padding, as the derive asks for) that the value leaves out,
//! are zeros. Every mistake is an [`EncodeError`] naming the field's path
//! (`position[2]`, `inner.seq`) and what was wrong.

use crate::format::schema::{Prim, Schema, StructSchema};
use crate::tools::value::Value;
use std::fmt;

/// Why a [`Value`] could not be encoded with a schema
/// ([`Value::encode`]). `path` names the field from the root (`seq`,
/// `position[2]`, `inner.points[0].x`; empty for the root itself).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// A struct value has no field of this name (only fields whose name
    /// starts with `_` may be left out).
    MissingField {
        /// The field.
        path: String,
    },
    /// A struct value has a field the schema does not.
    UnknownField {
        /// The field.
        path: String,
    },
    /// The value is of another kind than the schema's type there (a text
    /// for a number, a number for a struct, ...).
    WrongKind {
        /// Where.
        path: String,
        /// The schema's type there, as Rust syntax.
        expected: String,
        /// What the value is (`struct`, `array`, `unsigned integer`, ...).
        found: &'static str,
    },
    /// An integer outside its type's range (or not exactly a float of the
    /// type, for an integer given for a float).
    OutOfRange {
        /// Where.
        path: String,
        /// The type.
        ty: &'static str,
        /// The value, in decimal.
        value: String,
    },
    /// An array value whose number of items is not the array's length.
    ArrayLength {
        /// The array.
        path: String,
        /// The array's length.
        expected: u64,
        /// The items given (a decoded value keeps at most
        /// [`MAX_ARRAY_ITEMS`](crate::tools::MAX_ARRAY_ITEMS); the rest, in
        /// `more`, cannot be encoded).
        found: u64,
    },
    /// Text or bytes longer than the `u8` array they go into.
    TextTooLong {
        /// The array.
        path: String,
        /// Length in bytes.
        len: usize,
        /// The array's length.
        max: u64,
    },
    /// The schema itself cannot hold a value: text or bytes below the
    /// root, fields that overlap or lie outside their struct, a size past
    /// the address space. (A schema read from a segment, or accepted by
    /// [`ItemType::new`](crate::dynamic::ItemType::new), never is.)
    BadSchema {
        /// Where.
        path: String,
        /// What is wrong.
        what: &'static str,
    },
}

impl EncodeError {
    /// The path of the field the error is about.
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            Self::MissingField { path }
            | Self::UnknownField { path }
            | Self::WrongKind { path, .. }
            | Self::OutOfRange { path, .. }
            | Self::ArrayLength { path, .. }
            | Self::TextTooLong { path, .. }
            | Self::BadSchema { path, .. } => path,
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        if path.is_empty() {
            f.write_str("the value: ")?;
        } else {
            write!(f, "field `{path}`: ")?;
        }
        match self {
            Self::MissingField { .. } => f.write_str("missing"),
            Self::UnknownField { .. } => f.write_str("no such field in the type"),
            Self::WrongKind { expected, found, .. } => write!(f, "expected `{expected}`, found {found}"),
            Self::OutOfRange { ty, value, .. } => write!(f, "{value} is out of range for `{ty}`"),
            Self::ArrayLength { expected, found, .. } => {
                write!(f, "the array has {expected} items, the value {found}")
            }
            Self::TextTooLong { len, max, .. } => write!(f, "{len} bytes do not fit in {max}"),
            Self::BadSchema { what, .. } => write!(f, "the schema cannot hold a value: {what}"),
        }
    }
}

impl std::error::Error for EncodeError {}

impl Value {
    /// The bytes of this value as the type `schema` describes it (for
    /// `text`, its UTF-8 bytes; for `bytes`, the bytes): the inverse of
    /// [`decode`](Value::decode), so `Value::decode(schema,
    /// &value.encode(schema)?)` gives `value` back for a value `decode`
    /// made.
    ///
    /// Struct fields are matched by name, in any order; fields whose name
    /// starts with `_` (padding) may be left out, and are zeros. An
    /// integer of either sign goes into any integer type it fits, or a
    /// float type it is exactly; a [`Value::Text`] or [`Value::Bytes`]
    /// goes into an array of `u8` as long or longer (the rest zeros).
    ///
    /// ```
    /// use shm_runtime::format::schema::Schema;
    /// use shm_runtime::tools::{EncodeError, Value};
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
    /// let schema = Schema::from_desc(Pose::SCHEMA);
    /// let field = |name: &str, value| (name.to_owned(), value);
    /// let pose = Value::Struct {
    ///     name: "Pose".into(),
    ///     fields: vec![
    ///         field("position", Value::Array { items: vec![Value::Float(1.5), Value::Float(-2.0)], more: 0 }),
    ///         field("seq", Value::Unsigned(7)),
    ///         field("moving", Value::Flag(true)),
    ///     ],
    /// };
    /// let bytes = pose.encode(&schema).unwrap();
    /// assert_eq!(bytes.len(), 24);
    /// assert_eq!(Value::decode(&schema, &bytes).unwrap().field("seq"), Some(&Value::Unsigned(7)));
    ///
    /// let Value::Struct { mut fields, name } = pose else { unreachable!() };
    /// fields[1].1 = Value::Signed(-1);
    /// let err = Value::Struct { name, fields }.encode(&schema).unwrap_err();
    /// assert_eq!(err.to_string(), "field `seq`: -1 is out of range for `u32`");
    /// ```
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] naming the field: missing or unknown, of the
    /// wrong kind, out of range, an array of the wrong length, text too
    /// long for its array; or a schema that cannot hold a value.
    pub fn encode(&self, schema: &Schema) -> Result<Vec<u8>, EncodeError> {
        let wrong_kind =
            || EncodeError::WrongKind { path: String::new(), expected: schema.to_string(), found: kind(self) };
        match (schema, self) {
            (Schema::Prim(Prim::Text | Prim::Bytes), Value::Text(text)) => Ok(text.as_bytes().to_vec()),
            (Schema::Prim(Prim::Bytes), Value::Bytes(bytes)) => Ok(bytes.clone()),
            (Schema::Prim(Prim::Text), Value::Bytes(bytes)) if core::str::from_utf8(bytes).is_ok() => Ok(bytes.clone()),
            (Schema::Prim(Prim::Text | Prim::Bytes), _) => Err(wrong_kind()),
            _ => {
                let mut out = Vec::new();
                encode_into(self, schema, &mut out, &mut String::new())?;
                Ok(out)
            }
        }
    }
}

/// What kind of value `value` is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Struct { .. } => "a struct",
        Value::Array { .. } => "an array",
        Value::Unsigned(_) => "an unsigned integer",
        Value::Signed(_) => "a signed integer",
        Value::Float(_) => "a float",
        Value::Flag(_) => "a flag",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytes",
    }
}

/// Appends the bytes of `value` as `schema` to `out`; `path` names where
/// (restored on return).
fn encode_into(value: &Value, schema: &Schema, out: &mut Vec<u8>, path: &mut String) -> Result<(), EncodeError> {
    let wrong_kind =
        |path: &str| EncodeError::WrongKind { path: path.to_owned(), expected: schema.to_string(), found: kind(value) };
    match (schema, value) {
        (Schema::Prim(prim), value) => {
            encode_prim(*prim, value, out, path).map_err(|e| e.unwrap_or_else(|| wrong_kind(path)))
        }
        (Schema::Array { len, element }, Value::Array { items, .. }) => {
            if items.len() as u64 != *len {
                return Err(EncodeError::ArrayLength { path: path.clone(), expected: *len, found: items.len() as u64 });
            }
            for (i, item) in items.iter().enumerate() {
                let at = path.len();
                path.push('[');
                path.push_str(&i.to_string());
                path.push(']');
                encode_into(item, element, out, path)?;
                path.truncate(at);
            }
            Ok(())
        }
        (Schema::Array { len, element }, Value::Text(_) | Value::Bytes(_))
            if matches!(**element, Schema::Prim(Prim::U8)) =>
        {
            let bytes = match value {
                Value::Text(text) => text.as_bytes(),
                Value::Bytes(bytes) => bytes.as_slice(),
                _ => unreachable!("matched above"),
            };
            if bytes.len() as u64 > *len {
                return Err(EncodeError::TextTooLong { path: path.clone(), len: bytes.len(), max: *len });
            }
            let end = out.len() as u64 + len;
            out.extend_from_slice(bytes);
            pad_to(out, end, path)
        }
        (Schema::Struct(s), Value::Struct { fields, .. }) => encode_struct(s, fields, out, path),
        _ => Err(wrong_kind(path)),
    }
}

/// Appends a struct: each field at its offset from where the struct
/// starts, zeros between and after.
fn encode_struct(
    s: &StructSchema,
    fields: &[(String, Value)],
    out: &mut Vec<u8>,
    path: &mut String,
) -> Result<(), EncodeError> {
    let at = path.len();
    let join = |path: &mut String, name: &str| {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
    };
    if let Some((name, _)) = fields.iter().find(|(name, _)| !s.fields.iter().any(|f| f.name == *name)) {
        join(path, name);
        return Err(EncodeError::UnknownField { path: path.clone() });
    }
    let start = out.len() as u64;
    for field in &s.fields {
        join(path, &field.name);
        let Some(offset) = start.checked_add(field.offset) else {
            return Err(EncodeError::BadSchema { path: path.clone(), what: "a field's offset overflows" });
        };
        if (out.len() as u64) > offset {
            return Err(EncodeError::BadSchema { path: path.clone(), what: "fields overlap" });
        }
        pad_to(out, offset, path)?;
        match fields.iter().find(|(name, _)| *name == field.name) {
            Some((_, value)) => encode_into(value, &field.ty, out, path)?,
            None if field.name.starts_with('_') => {
                let size = field.ty.size().ok_or_else(|| bad(path, "text or bytes below the root"))?;
                pad_to(out, offset.saturating_add(size), path)?;
            }
            None => return Err(EncodeError::MissingField { path: path.clone() }),
        }
        path.truncate(at);
    }
    if (out.len() as u64) > start.saturating_add(s.size) {
        return Err(bad(path, "fields end past the struct's size"));
    }
    pad_to(out, start.saturating_add(s.size), path)
}

fn bad(path: &str, what: &'static str) -> EncodeError {
    EncodeError::BadSchema { path: path.to_owned(), what }
}

/// Appends zeros up to `end` bytes.
fn pad_to(out: &mut Vec<u8>, end: u64, path: &str) -> Result<(), EncodeError> {
    let end = usize::try_from(end).ok().filter(|n| isize::try_from(*n).is_ok());
    let end = end.ok_or_else(|| bad(path, "the value is larger than the address space"))?;
    if end > out.len() {
        out.resize(end, 0);
    }
    Ok(())
}

/// Appends a number or flag; `Err(None)` for a value of the wrong kind
/// (the caller names the type).
fn encode_prim(prim: Prim, value: &Value, out: &mut Vec<u8>, path: &str) -> Result<(), Option<EncodeError>> {
    let out_of_range =
        |ty: &'static str, value: String| Some(EncodeError::OutOfRange { path: path.to_owned(), ty, value });
    // Integers of either sign as i128 where they fit, else u128.
    let int = match *value {
        Value::Unsigned(n) => Some(i128::try_from(n).map_err(|_| n)),
        Value::Signed(n) => Some(Ok(n)),
        _ => None,
    };
    macro_rules! int {
        ($ty:ty) => {{
            let n = int.ok_or(None)?;
            let v = match n {
                Ok(n) => <$ty>::try_from(n).map_err(|_| n.to_string()),
                Err(n) => <$ty>::try_from(n).map_err(|_| n.to_string()),
            };
            out.extend_from_slice(&v.map_err(|v| out_of_range(stringify!($ty), v))?.to_ne_bytes());
        }};
    }
    match prim {
        Prim::U8 => int!(u8),
        Prim::U16 => int!(u16),
        Prim::U32 => int!(u32),
        Prim::U64 => int!(u64),
        Prim::U128 => int!(u128),
        Prim::I8 => int!(i8),
        Prim::I16 => int!(i16),
        Prim::I32 => int!(i32),
        Prim::I64 => int!(i64),
        Prim::I128 => int!(i128),
        Prim::F32 => {
            #[expect(clippy::cast_possible_truncation, reason = "only to check that the f32 holds it exactly")]
            let exact = |x: f64| f64::from(x as f32).to_bits() == x.to_bits();
            let x = float(value, int, exact).map_err(|e| e.and_then(|v| out_of_range("f32", v)))?;
            // A float given for an f32 rounds to the nearest, as `as` does.
            #[expect(clippy::cast_possible_truncation, reason = "f32 fields round, as an `as` cast does")]
            out.extend_from_slice(&(x as f32).to_ne_bytes());
        }
        Prim::F64 => {
            let x = float(value, int, |_| true).map_err(|e| e.and_then(|v| out_of_range("f64", v)))?;
            out.extend_from_slice(&x.to_ne_bytes());
        }
        Prim::Flag => match value {
            Value::Flag(b) => out.push(u8::from(*b)),
            _ => return Err(None),
        },
        Prim::Text | Prim::Bytes => {
            return Err(Some(EncodeError::BadSchema { path: path.to_owned(), what: "text or bytes below the root" }));
        }
    }
    Ok(())
}

/// A float value, or an integer that `exact` says the float type holds
/// exactly; `Err(None)` for another kind, `Err(Some(decimal))` for an
/// integer it does not hold.
fn float(value: &Value, int: Option<Result<i128, u128>>, exact: impl Fn(f64) -> bool) -> Result<f64, Option<String>> {
    if let Value::Float(x) = value {
        return Ok(*x);
    }
    let n = int.ok_or(None)?;
    // The float must give the integer back; a float cast to an integer
    // saturates, so 2^127 (2^128) would pass for i128::MAX (u128::MAX):
    // those are out of range of the integer types, so refused first.
    let two_127 = 2f64.powi(127);
    #[expect(clippy::cast_precision_loss, reason = "checked: the float must give the integer back")]
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "below 2^127 (2^128), checked first")]
    let (x, back) = match n {
        Ok(n) => (n as f64, n as f64 >= -two_127 && (n as f64) < two_127 && (n as f64) as i128 == n),
        Err(n) => (n as f64, (n as f64) < 2.0 * two_127 && (n as f64) as u128 == n),
    };
    if back && exact(x) {
        Ok(x)
    } else {
        Err(Some(match n {
            Ok(n) => n.to_string(),
            Err(n) => n.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests;
