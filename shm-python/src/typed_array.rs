//! `SharedArray`: a Rust `SharedArray<T>` (of a struct or a number type)
//! opened from Python, read element by element with the type its segment
//! records (each element a complete copy of one write, never torn), or
//! all at once as a numpy array. Read-only: shm-runtime has no run-time
//! typed array yet (its `dynamic` module has a value and a ring), so Python
//! neither creates these nor writes their elements; `BytesArray` is the
//! writable array of byte records.

use crate::codec::decode;
use crate::errors::py_result;
use crate::schema::{StructType, check_declared, numpy_dtype};
use crate::values::{cleaned_up, parse_handle};
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyList, PyType};
use shm_runtime::ObjectKind;
use shm_runtime::format::schema::Schema;
use shm_runtime::tools::Peek;

/// A Rust `SharedArray<T>` opened read-only, typed by the schema in its
/// segment: `len`, `[]` (negative from the end), iteration, `to_numpy()`.
#[pyclass(module = "shm")]
pub struct SharedArray {
    /// `None` once cleaned up.
    peek: Option<Peek>,
    /// The element type, from the segment.
    schema: Schema,
    /// Number of elements (fixed at creation).
    len: usize,
}

impl SharedArray {
    fn peek(&self) -> PyResult<&Peek> {
        self.peek.as_ref().ok_or_else(|| cleaned_up("SharedArray"))
    }

    /// `index` checked against the length, negative counting from the end.
    fn index(&self, index: isize) -> PyResult<u64> {
        let len = self.len;
        let resolved = if index < 0 { len.checked_sub(index.unsigned_abs()) } else { Some(index.unsigned_abs()) };
        resolved
            .filter(|&i| i < len)
            .map(|i| i as u64)
            .ok_or_else(|| PyIndexError::new_err(format!("index {index} out of range for length {len}")))
    }
}

#[pymethods]
impl SharedArray {
    /// Opens the array `handle` names, with the element type its segment
    /// records or, with `struct`, exactly that one (else
    /// `shm.LayoutMismatch` naming the first field that differs).
    #[classmethod]
    #[pyo3(signature = (handle, r#struct = None))]
    fn load_sharedobject(
        _cls: &Bound<'_, PyType>,
        handle: &str,
        r#struct: Option<&Bound<'_, StructType>>,
    ) -> PyResult<Self> {
        let peek = py_result(Peek::open(&parse_handle(handle)?))?;
        if peek.kind() != ObjectKind::Array {
            return Err(crate::errors::KindMismatch::new_err(format!(
                "segment {:?} holds a {:?}, not an array",
                peek.handle().name().as_str(),
                peek.kind()
            )));
        }
        let schema = py_result(peek.schema())?.clone();
        if let Some(declared) = r#struct {
            check_declared(&peek, declared.get(), &schema)?;
        }
        let len = usize::try_from(py_result(peek.array())?.len)
            .map_err(|_| PyTypeError::new_err("an array longer than this machine's memory"))?;
        Ok(Self { peek: Some(peek), schema, len })
    }

    /// The element type as a `shm.Struct` (`None` for numbers).
    #[getter]
    fn r#struct(&self) -> Option<StructType> {
        StructType::from_schema(&self.schema)
    }

    /// The handle (a `str`) of the array.
    #[getter]
    fn handle(&self) -> PyResult<String> {
        Ok(self.peek()?.handle().to_string())
    }

    fn __len__(&self) -> usize {
        self.len
    }

    /// Element `index` (negative counts from the end): a dict for a
    /// struct, a number for a number type.
    fn __getitem__(&self, py: Python<'_>, index: isize) -> PyResult<Py<PyAny>> {
        let i = self.index(index)?;
        let bytes = py_result(self.peek()?.array_element(i))?;
        decode(py, &self.schema, &bytes)
    }

    /// Every element, as a list (each one a complete copy of one write).
    fn to_list(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let list = PyList::empty(py);
        let peek = self.peek()?;
        for i in 0..self.len as u64 {
            list.append(decode(py, &self.schema, &py_result(peek.array_element(i))?)?)?;
        }
        Ok(list.into_any().unbind())
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.to_list(py)?.bind(py).try_iter()?.into_any().unbind())
    }

    /// Every element copied into a new numpy array: a structured one for
    /// struct elements (fields as in `shm.Struct.dtype`), of the number
    /// type otherwise (needs numpy). Each element is a complete copy of
    /// one write; elements are copied one after the other, not as one
    /// snapshot of the whole array.
    fn to_numpy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dtype = numpy_dtype(py, &self.schema)?;
        let peek = self.peek()?;
        let mut bytes = Vec::new();
        for i in 0..self.len as u64 {
            bytes.extend_from_slice(&py_result(peek.array_element(i))?);
        }
        py.import("shm._numpy")?.call_method1("array", (PyByteArray::new(py, &bytes), dtype))
    }

    /// Unmaps the array (an opener never removes it). Again: nothing.
    fn cleanup(&mut self) {
        self.peek = None;
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving the `with` block cleans up.
    fn __exit__(&mut self, _kind: &Bound<'_, PyAny>, _value: &Bound<'_, PyAny>, _traceback: &Bound<'_, PyAny>) -> bool {
        self.cleanup();
        false
    }
}
