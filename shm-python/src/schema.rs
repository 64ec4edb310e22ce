//! `Struct`: a struct type declared in Python from a field list, with the
//! schema and layout fingerprint `#[derive(SharedState)]` gives the same
//! `#[repr(C)]` struct in Rust (see shm-runtime's `FORMAT.md`, "Schema");
//! and `peek`, which reads a segment's value by field, as dicts, checking
//! a declared `Struct` against the schema stored in the segment.
//!
//! What this layer checks: the declared layout is a `#[repr(C)]` struct
//! without padding (the runtime's schema parser refuses anything else),
//! and, when a `Struct` is given to `peek`, that it equals the segment's
//! schema field by field (else `shm.LayoutMismatch` naming the first field
//! that differs). Reading goes through shm-runtime's `tools::Peek`, which
//! copies the value consistently but is read-only: opening a struct
//! segment for writing, or as a ring end, needs a runtime entry point
//! that takes a schema at run time (shm-runtime's objects take a
//! compile-time `SharedState` type only).

use crate::errors::{LayoutMismatch, ReadError, py_result};
use crate::values::parse_handle;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use shm_runtime::ObjectKind;
use shm_runtime::dynamic::ItemType;
use shm_runtime::format::schema::{FieldSchema, Prim, Schema, StructSchema};
use shm_runtime::tools::{Peek, PeekError, Value};

impl crate::errors::ToPyErr for PeekError {
    fn to_py(&self) -> PyErr {
        ReadError::new_err(self.to_string())
    }
}

/// A struct type declared in Python, laid out as `#[repr(C)]`:
/// `Struct("Pose", [("x", "f64"), ("seq", "u32"), ("tag", ("u8", 7)),
/// ("valid", "bool")])`. A field's type is a number type name (`u8` ...
/// `u128`, `i8` ... `i128`, `f32`, `f64`), `bool` (a Rust `Flag`), another
/// `Struct`, or a tuple `(type, length)` for a Rust array `[type; length]`.
/// The struct name is the Rust name without its module path. Like the
/// derive, it refuses padding: add explicit filler fields.
#[pyclass(name = "Struct", module = "shm", frozen)]
pub struct StructType {
    /// The schema, always a `Schema::Struct`.
    schema: Schema,
}

/// The primitive named `name`, if any (`bool` is `Flag`).
pub(crate) fn prim_named(name: &str) -> Option<Prim> {
    let name = if name == "bool" { "Flag" } else { name };
    (0..=u8::MAX).filter_map(Prim::from_code).find(|p| p.name() == name && p.size().is_some())
}

/// Alignment of a (sized) schema.
fn align_of(schema: &Schema) -> u64 {
    match schema {
        Schema::Prim(p) => p.size().unwrap_or(1),
        Schema::Array { element, .. } => align_of(element),
        Schema::Struct(s) => s.align,
    }
}

/// The schema a Python field type spec stands for.
fn spec_schema(spec: &Bound<'_, PyAny>) -> PyResult<Schema> {
    if let Ok(name) = spec.extract::<String>() {
        return prim_named(&name).map(Schema::Prim).ok_or_else(|| {
            PyValueError::new_err(format!("unknown field type {name:?}: use u8..u128, i8..i128, f32, f64 or bool"))
        });
    }
    if let Ok(st) = spec.cast::<StructType>() {
        return Ok(st.get().schema.clone());
    }
    if let Ok(tuple) = spec.cast::<PyTuple>()
        && tuple.len() == 2
    {
        let element = spec_schema(&tuple.get_item(0)?)?;
        let len: u64 = tuple.get_item(1)?.extract()?;
        return Ok(Schema::Array { len, element: Box::new(element) });
    }
    Err(PyTypeError::new_err(format!(
        "a field type is a type name, a shm.Struct or a (type, length) tuple, not {}",
        spec.repr()?
    )))
}

/// A Python value for a decoded value: dicts for structs, lists for
/// arrays (of ints for `u8` arrays too). Arrays of more than
/// `tools::MAX_ARRAY_ITEMS` elements are refused (`Value` stops there).
fn to_py(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Struct { fields, .. } => {
            let dict = PyDict::new(py);
            for (name, v) in fields {
                dict.set_item(name, to_py(py, v)?)?;
            }
            dict.into_any().unbind()
        }
        Value::Array { items, more } => {
            if *more > 0 {
                return Err(ReadError::new_err(format!("an array of more than {} elements", items.len())));
            }
            let list = PyList::empty(py);
            for v in items {
                list.append(to_py(py, v)?)?;
            }
            list.into_any().unbind()
        }
        Value::Unsigned(n) => n.into_pyobject(py)?.into_any().unbind(),
        Value::Signed(n) => n.into_pyobject(py)?.into_any().unbind(),
        Value::Float(x) => x.into_pyobject(py)?.into_any().unbind(),
        Value::Flag(b) => pyo3::types::PyBool::new(py, *b).to_owned().into_any().unbind(),
        Value::Text(s) => s.into_pyobject(py)?.into_any().unbind(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any().unbind(),
        _ => return Err(ReadError::new_err("a value of a kind this version cannot show")),
    })
}

/// The numpy dtype of `schema`: a structured dtype for a struct, the
/// number type for a number, a sub-array dtype for an array (needs numpy).
pub(crate) fn numpy_dtype<'py>(py: Python<'py>, schema: &Schema) -> PyResult<Bound<'py, PyAny>> {
    let np = py.import("shm._numpy")?;
    match schema {
        Schema::Struct(_) => np.call_method1("dtype_of", (Bound::new(py, StructType { schema: schema.clone() })?,)),
        Schema::Prim(p) if p.size().is_some() => {
            let name = if matches!(p, Prim::Flag) { "bool" } else { p.name() };
            np.call_method1("scalar_dtype", (name,))
        }
        Schema::Array { len, element } => np.call_method1("subarray", (numpy_dtype(py, element)?, *len)),
        other @ Schema::Prim(_) => Err(PyTypeError::new_err(format!("no numpy dtype for `{other}`"))),
    }
}

/// The type spec `Struct` takes for `schema` (the reverse of
/// `spec_schema`).
fn spec_of(py: Python<'_>, schema: &Schema) -> PyResult<Py<PyAny>> {
    Ok(match schema {
        Schema::Prim(Prim::Flag) => "bool".into_pyobject(py)?.into_any().unbind(),
        Schema::Prim(p) => p.name().into_pyobject(py)?.into_any().unbind(),
        Schema::Array { len, element } => (spec_of(py, element)?, *len).into_pyobject(py)?.into_any().unbind(),
        Schema::Struct(_) => Py::new(py, StructType { schema: schema.clone() })?.into_any(),
    })
}

/// Refuses `schema` unless it is what `declared` says, with the runtime's
/// `LayoutMismatch` wording.
pub(crate) fn check_declared(peek: &Peek, declared: &StructType, stored: &Schema) -> PyResult<()> {
    match declared.schema.difference(stored) {
        None => Ok(()),
        Some(difference) => Err(LayoutMismatch::new_err(format!(
            "cannot open segment {:?} as `{}` (layout fingerprint {:#018x}): it holds a type with layout \
             fingerprint {:#018x}: {difference}",
            peek.handle().name(),
            declared.name(),
            declared.schema.fingerprint(),
            stored.fingerprint(),
        ))),
    }
}

impl StructType {
    /// The `shm.Struct` of `schema`, if it is a struct.
    pub(crate) fn from_schema(schema: &Schema) -> Option<Self> {
        matches!(schema, Schema::Struct(_)).then(|| Self { schema: schema.clone() })
    }

    /// The runtime's item type for this struct (named as the struct).
    pub(crate) fn item_type(&self) -> PyResult<ItemType> {
        ItemType::new(&self.inner().name, self.schema.clone()).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The struct's schema.
    fn inner(&self) -> &StructSchema {
        match &self.schema {
            Schema::Struct(s) => s,
            _ => unreachable!("a StructType always holds a struct"),
        }
    }
}

#[pymethods]
impl StructType {
    /// Declares the struct `name` with `fields`, a list of `(name, type)`
    /// pairs in declaration order.
    #[new]
    #[expect(clippy::needless_pass_by_value, reason = "pyo3 hands arguments over by value")]
    fn new(name: String, fields: Vec<(String, Bound<'_, PyAny>)>) -> PyResult<Self> {
        let mut out = Vec::with_capacity(fields.len());
        let (mut end, mut align) = (0u64, 1u64);
        for (field, spec) in &fields {
            let ty = spec_schema(spec)?;
            let size = ty.size().ok_or_else(|| PyValueError::new_err(format!("field {field:?} has no fixed size")))?;
            let a = align_of(&ty);
            let offset = end.next_multiple_of(a);
            if offset != end {
                return Err(PyValueError::new_err(format!(
                    "field {field:?} would start at offset {offset} after {} bytes of padding; \
                     shm structs have none: add a filler field before it",
                    offset - end
                )));
            }
            align = align.max(a);
            end = offset + size;
            out.push(FieldSchema { name: field.clone(), offset, ty });
        }
        let size = end.next_multiple_of(align);
        if size != end {
            return Err(PyValueError::new_err(format!(
                "struct {name:?} would end with {} bytes of padding (size {end}, alignment {align}); \
                 shm structs have none: add a filler field at the end",
                size - end
            )));
        }
        let schema = Schema::Struct(StructSchema { name, size, align, fields: out });
        // The runtime's parser decides what a peer accepts.
        Schema::parse(&schema.encode()).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self { schema })
    }

    /// The struct type stored in the segment `handle` names (a shared
    /// struct, an array of structs or a ring of them).
    #[staticmethod]
    fn of_segment(handle: &str) -> PyResult<Self> {
        let peek = py_result(Peek::open(&parse_handle(handle)?))?;
        let schema = py_result(peek.schema())?.clone();
        match schema {
            Schema::Struct(_) => Ok(Self { schema }),
            other => Err(PyTypeError::new_err(format!("segment {handle:?} holds a {other:?}, not a struct"))),
        }
    }

    /// The struct's name.
    #[getter]
    fn name(&self) -> String {
        self.inner().name.clone()
    }

    /// Size in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.inner().size
    }

    /// Alignment in bytes.
    #[getter]
    fn align(&self) -> u64 {
        self.inner().align
    }

    /// The layout fingerprint, equal to the Rust derive's
    /// `SharedState::FINGERPRINT` for the same struct.
    #[getter]
    fn fingerprint(&self) -> u64 {
        self.schema.fingerprint()
    }

    /// The numpy structured dtype with this layout (needs numpy).
    #[getter]
    fn dtype<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("shm._numpy")?.call_method1("dtype_of", (slf,))
    }

    /// The value `data` holds, as a numpy record (needs numpy).
    pub(crate) fn unpack_record<'py>(slf: &Bound<'py, Self>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let dtype = Self::dtype(slf)?;
        slf.py().import("shm._numpy")?.call_method1("record", (PyBytes::new(slf.py(), data), dtype))
    }

    /// The canonical encoding of the schema, as stored in segments.
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.schema.encode())
    }

    /// The fields as `(name, offset)` pairs.
    #[getter]
    fn fields(&self) -> Vec<(String, u64)> {
        self.inner().fields.iter().map(|f| (f.name.clone(), f.offset)).collect()
    }

    /// Where `self` and `other` first differ, in the runtime's
    /// `LayoutMismatch` wording; `None` when they are the same type.
    fn difference(&self, other: &Self) -> Option<String> {
        self.schema.difference(&other.schema).map(|d| d.to_string())
    }

    /// The value `data` (exactly `size` bytes, native byte order) holds,
    /// as a dict.
    fn unpack(&self, py: Python<'_>, data: &[u8]) -> PyResult<Py<PyAny>> {
        if data.len() as u64 != self.inner().size {
            return Err(PyValueError::new_err(format!(
                "`{}` is {} bytes, not {}",
                self.inner().name,
                self.inner().size,
                data.len()
            )));
        }
        crate::codec::decode(py, &self.schema, data)
    }

    /// The bytes of `value` (a dict of every field, or a numpy record):
    /// what a Rust program holding the same struct has in memory.
    fn pack<'py>(&self, py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let size = usize::try_from(self.inner().size).map_err(|_| PyValueError::new_err("struct too large"))?;
        let mut bytes = vec![0; size];
        crate::codec::encode(value, &self.schema, &mut bytes, &self.inner().name)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The fields as `(name, type)` pairs, the types written as
    /// `Struct` takes them (nested structs as `shm.Struct`).
    #[getter]
    fn field_types(&self, py: Python<'_>) -> PyResult<Vec<(String, Py<PyAny>)>> {
        self.inner().fields.iter().map(|f| Ok((f.name.clone(), spec_of(py, &f.ty)?))).collect()
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.schema == other.schema
    }

    fn __hash__(&self) -> u64 {
        self.schema.fingerprint()
    }

    fn __repr__(&self) -> String {
        format!("shm.Struct({:?}, size={}, fingerprint={:#018x})", self.name(), self.size(), self.fingerprint())
    }
}

/// Reads the value of the segment `handle` names, by field, from the
/// schema stored in it: a dict for a shared struct, a list of dicts for
/// an array of structs; for a ring of structs, a dict of its `fill` and
/// its `oldest` and `newest` unread items as `(position, dict)` pairs (or
/// `None`), without consuming anything. With `struct`, first checks that the segment
/// holds exactly that type (else `shm.LayoutMismatch`, naming the first
/// field that differs). Read-only; does not take a ring side.
#[pyfunction]
#[expect(clippy::needless_pass_by_value, reason = "pyo3 hands arguments over by value")]
#[pyo3(signature = (handle, r#struct = None))]
pub fn peek(py: Python<'_>, handle: &str, r#struct: Option<PyRef<'_, StructType>>) -> PyResult<Py<PyAny>> {
    let peek = py_result(Peek::open(&parse_handle(handle)?))?;
    let stored = py_result(peek.schema())?.clone();
    if let Some(declared) = &r#struct {
        check_declared(&peek, declared, &stored)?;
    }
    match peek.kind() {
        ObjectKind::Ring => {
            let fill = py_result(peek.ring())?.fill;
            let unread = py_result(peek.ring_unread())?;
            let dict = PyDict::new(py);
            dict.set_item("fill", fill)?;
            for (key, item) in [("oldest", unread.oldest), ("newest", unread.newest)] {
                match item {
                    Some(item) => dict.set_item(key, (item.position, to_py(py, &item.value)?))?,
                    None => dict.set_item(key, py.None())?,
                }
            }
            Ok(dict.into_any().unbind())
        }
        ObjectKind::Array => {
            let len = py_result(peek.array())?.len;
            let list = PyList::empty(py);
            for i in 0..len {
                list.append(to_py(py, &py_result(peek.array_element_value(i))?)?)?;
            }
            Ok(list.into_any().unbind())
        }
        _ => to_py(py, &py_result(peek.state_value())?),
    }
}
