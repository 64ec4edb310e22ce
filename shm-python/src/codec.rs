//! Python values to and from the bytes of a schema (native byte order, the
//! layout `#[repr(C)]` gives the same Rust type): a struct is a mapping of
//! its field names (a `dict`, or anything with `[name]`, such as a numpy
//! record), an array a sequence of its length (or `bytes` for an array of
//! `u8`), a number an `int` or `float`, a `Flag` a `bool`.
//!
//! Why this is not `Python object -> shm_runtime::tools::Value ->
//! Value::encode` (and `Value::decode -> Python` the other way): that route
//! builds a `Value` tree per item (a `String` per field name, a `Vec` per
//! struct and array) and a fresh `Vec` for the bytes, where this writes
//! straight into the caller's reused buffer. Measured with
//! `bench/codec_rate.py` (release wheel, 2 cores shared with other work,
//! best of 4 x 5 runs of 30 000 items), `pack` of the `Pose` of
//! `examples/python_peer.rs` takes 1.23 us here and took 1.91 us through
//! `Value` (an earlier version of this file, 1.54 us, in the same runs); of
//! a nested struct with arrays and flags 4.3 us here, 7.2 us through
//! `Value` (earlier version: 6.4 us). Decoding is the smaller cost either
//! way, and `Value::decode` keeps at most `MAX_ARRAY_ITEMS` elements of an
//! array, which a field like `[u8; 8192]` exceeds. So both directions stay
//! here, with no layout of their own: every offset and size comes from the
//! runtime's `Schema`, the acceptance rules are `Value::encode`'s (fields
//! whose name starts with `_`, explicit padding, may be left out and are
//! zeros; a `u8` array also takes `bytes`, zero-padded; out-of-range
//! integers are refused with its wording), and `tests/test_shared_array.py`
//! checks, through the Rust peer, that the bytes for a nested struct with
//! arrays and flags equal `Value::encode`'s. Differences that remain: a
//! `str` is refused for a `u8` array (Python text needs an explicit
//! encoding), and an `int` given for a float field rounds as `float(n)`
//! does instead of being refused when inexact.
//!
//! What is checked on the way in: every field present (but padding) and
//! no other key in a `dict`, each array of its length, each integer in its
//! type's range (else `OverflowError`), each value of a type that fits
//! (else `TypeError`); errors name the field (`Pose.tag[3]`). Paths are
//! built in one buffer, so a value that fits allocates only that. On
//! the way out nothing can fail but the schema itself (text or bytes,
//! which no item holds).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyList};
use shm_runtime::format::schema::{Prim, Schema};

/// Adds `path` to the message of `err`, keeping its type.
fn at(py: Python<'_>, err: &PyErr, path: &str) -> PyErr {
    let message = err.value(py).to_string();
    let ty = err.get_type(py);
    let text = format!("{path}: {message}");
    if ty.is(py.get_type::<pyo3::exceptions::PyOverflowError>()) {
        pyo3::exceptions::PyOverflowError::new_err(text)
    } else if ty.is(py.get_type::<PyTypeError>()) {
        PyTypeError::new_err(text)
    } else {
        PyValueError::new_err(text)
    }
}

/// Writes `value`, of type `schema`, into `out` (exactly the schema's
/// size); `root` names it in errors.
pub(crate) fn encode(value: &Bound<'_, PyAny>, schema: &Schema, out: &mut [u8], root: &str) -> PyResult<()> {
    encode_at(value, schema, out, &mut String::from(root))
}

/// Runs `f` with `suffix` appended to `path`, then takes it off again.
fn below<T>(path: &mut String, suffix: std::fmt::Arguments<'_>, f: impl FnOnce(&mut String) -> T) -> T {
    use std::fmt::Write as _;
    let at = path.len();
    // Writing into a `String` cannot fail.
    let _ = path.write_fmt(suffix);
    let result = f(path);
    path.truncate(at);
    result
}

/// [`encode`], `path` naming `value` in errors.
fn encode_at(value: &Bound<'_, PyAny>, schema: &Schema, out: &mut [u8], path: &mut String) -> PyResult<()> {
    let py = value.py();
    match schema {
        Schema::Struct(s) => {
            if let Ok(dict) = value.cast::<PyDict>() {
                for key in dict.keys() {
                    let key: String = key.extract().map_err(|e| at(py, &e, path))?;
                    if !s.fields.iter().any(|f| f.name == key) {
                        let known: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
                        return Err(PyValueError::new_err(format!(
                            "{path}: `{}` has no field {key:?} (its fields: {})",
                            s.name,
                            known.join(", ")
                        )));
                    }
                }
            }
            // The fields tile the struct (`Schema::parse`, under both
            // `shm.Struct` and `ItemType`, refuses gaps), so every byte of
            // `out` is written below.
            for field in &s.fields {
                let start = usize::try_from(field.offset).map_err(|_| PyValueError::new_err("offset too large"))?;
                let size = field.ty.size().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
                let slot = &mut out[start..start + size];
                below(path, format_args!(".{}", field.name), |path| match value.get_item(&field.name) {
                    Ok(item) => encode_at(&item, &field.ty, slot, path),
                    // Padding may be left out, as `Value::encode` allows.
                    Err(_) if field.name.starts_with('_') => {
                        slot.fill(0);
                        Ok(())
                    }
                    Err(_) => Err(PyValueError::new_err(format!("{path}: missing (a `{}` needs every field)", s.name))),
                })?;
            }
            Ok(())
        }
        Schema::Array { len, element } => {
            let len = usize::try_from(*len).map_err(|_| PyValueError::new_err("array too long"))?;
            if matches!(**element, Schema::Prim(Prim::U8)) {
                let raw: Option<Vec<u8>> = if let Ok(b) = value.cast::<PyBytes>() {
                    Some(b.as_bytes().to_vec())
                } else if let Ok(b) = value.cast::<PyByteArray>() {
                    Some(b.to_vec())
                } else {
                    None
                };
                if let Some(raw) = raw {
                    if raw.len() > len {
                        return Err(PyValueError::new_err(format!(
                            "{path}: {} bytes for an array of {len}",
                            raw.len()
                        )));
                    }
                    out[..raw.len()].copy_from_slice(&raw);
                    out[raw.len()..].fill(0);
                    return Ok(());
                }
            }
            if value.is_instance_of::<pyo3::types::PyString>() {
                return Err(PyTypeError::new_err(format!("{path}: a str is not an array (encode it to bytes)")));
            }
            let got = value.len().map_err(|_| {
                PyTypeError::new_err(format!("{path}: an array of {len} needs a sequence, not {}", type_name(value)))
            })?;
            if got != len {
                return Err(PyValueError::new_err(format!("{path}: {got} items for an array of {len}")));
            }
            let size = element.size().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
            for i in 0..len {
                let item = value.get_item(i).map_err(|e| at(py, &e, path))?;
                let slot = &mut out[i * size..(i + 1) * size];
                below(path, format_args!("[{i}]"), |path| encode_at(&item, element, slot, path))?;
            }
            Ok(())
        }
        Schema::Prim(p) => encode_prim(value, *p, out).map_err(|e| at(py, &e, path)),
    }
}

/// The Python type name of `value`, for messages.
fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

/// Writes the number or flag `value` as `prim` into `out`.
fn encode_prim(value: &Bound<'_, PyAny>, prim: Prim, out: &mut [u8]) -> PyResult<()> {
    if matches!(prim, Prim::Flag) {
        // numpy's bool is `bool_` (numpy 1) or `bool` (numpy 2), not a
        // subclass of Python's.
        if !value.is_instance_of::<PyBool>() && !matches!(type_name(value).as_str(), "bool" | "bool_") {
            return Err(PyTypeError::new_err(format!("a bool is needed, not {}", type_name(value))));
        }
        out[0] = u8::from(value.extract::<bool>()?);
        return Ok(());
    }
    if matches!(prim, Prim::F32 | Prim::F64) {
        let x: f64 = value.extract()?;
        #[expect(clippy::cast_possible_truncation, reason = "an f32 field stores the nearest f32, as Rust's `as` does")]
        match prim {
            Prim::F32 => out.copy_from_slice(&(x as f32).to_ne_bytes()),
            _ => out.copy_from_slice(&x.to_ne_bytes()),
        }
        return Ok(());
    }
    if value.is_instance_of::<PyBool>() || value.is_instance_of::<pyo3::types::PyFloat>() {
        return Err(PyTypeError::new_err(format!("an int is needed, not {}", type_name(value))));
    }
    // An integer out of the type's range, worded as `Value::encode` words it.
    let range = |e: PyErr| {
        if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(value.py()) {
            let shown = value.str().map_or_else(|_| "the value".to_owned(), |s| s.to_string());
            pyo3::exceptions::PyOverflowError::new_err(format!("{shown} is out of range for `{}`", prim.name()))
        } else {
            e
        }
    };
    encode_int(value, prim, out).map_err(range)
}

/// Writes the integer `value` as `prim` (an integer type) into `out`.
fn encode_int(value: &Bound<'_, PyAny>, prim: Prim, out: &mut [u8]) -> PyResult<()> {
    match prim {
        Prim::U8 => out.copy_from_slice(&value.extract::<u8>()?.to_ne_bytes()),
        Prim::U16 => out.copy_from_slice(&value.extract::<u16>()?.to_ne_bytes()),
        Prim::U32 => out.copy_from_slice(&value.extract::<u32>()?.to_ne_bytes()),
        Prim::U64 => out.copy_from_slice(&value.extract::<u64>()?.to_ne_bytes()),
        Prim::U128 => out.copy_from_slice(&value.extract::<u128>()?.to_ne_bytes()),
        Prim::I8 => out.copy_from_slice(&value.extract::<i8>()?.to_ne_bytes()),
        Prim::I16 => out.copy_from_slice(&value.extract::<i16>()?.to_ne_bytes()),
        Prim::I32 => out.copy_from_slice(&value.extract::<i32>()?.to_ne_bytes()),
        Prim::I64 => out.copy_from_slice(&value.extract::<i64>()?.to_ne_bytes()),
        Prim::I128 => out.copy_from_slice(&value.extract::<i128>()?.to_ne_bytes()),
        _ => return Err(PyValueError::new_err("a type this version cannot write")),
    }
    Ok(())
}

/// `N` bytes from the start of `bytes` (the caller sized it by the schema).
fn word<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

/// The Python value the bytes `data` of type `schema` hold (`data` is
/// exactly the schema's size): dicts for structs, lists for arrays.
pub(crate) fn decode(py: Python<'_>, schema: &Schema, data: &[u8]) -> PyResult<Py<PyAny>> {
    Ok(match schema {
        Schema::Struct(s) => {
            let dict = PyDict::new(py);
            for field in &s.fields {
                let start = usize::try_from(field.offset).map_err(|_| PyValueError::new_err("offset too large"))?;
                let size = field.ty.size().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
                dict.set_item(&field.name, decode(py, &field.ty, &data[start..start + size])?)?;
            }
            dict.into_any().unbind()
        }
        Schema::Array { element, .. } => {
            let size = element.size().and_then(|n| usize::try_from(n).ok()).unwrap_or(1).max(1);
            let list = PyList::empty(py);
            for chunk in data.chunks_exact(size) {
                list.append(decode(py, element, chunk)?)?;
            }
            list.into_any().unbind()
        }
        Schema::Prim(p) => match p {
            Prim::U8 => data[0].into_pyobject(py)?.into_any().unbind(),
            Prim::U16 => u16::from_ne_bytes(word(data)).into_pyobject(py)?.into_any().unbind(),
            Prim::U32 => u32::from_ne_bytes(word(data)).into_pyobject(py)?.into_any().unbind(),
            Prim::U64 => u64::from_ne_bytes(word(data)).into_pyobject(py)?.into_any().unbind(),
            Prim::U128 => u128::from_ne_bytes(word(data)).into_pyobject(py)?.into_any().unbind(),
            Prim::I8 => i8::from_ne_bytes(word(data)).into_pyobject(py)?.into_any().unbind(),
            Prim::I16 => i16::from_ne_bytes(word(data)).into_pyobject(py)?.into_any().unbind(),
            Prim::I32 => i32::from_ne_bytes(word(data)).into_pyobject(py)?.into_any().unbind(),
            Prim::I64 => i64::from_ne_bytes(word(data)).into_pyobject(py)?.into_any().unbind(),
            Prim::I128 => i128::from_ne_bytes(word(data)).into_pyobject(py)?.into_any().unbind(),
            Prim::F32 => f64::from(f32::from_ne_bytes(word(data))).into_pyobject(py)?.into_any().unbind(),
            Prim::F64 => f64::from_ne_bytes(word(data)).into_pyobject(py)?.into_any().unbind(),
            Prim::Flag => PyBool::new(py, data[0] != 0).to_owned().into_any().unbind(),
            _ => return Err(PyValueError::new_err("a type this version cannot read")),
        },
    })
}
