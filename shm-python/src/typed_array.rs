//! `SharedArray`: a fixed-length array of typed elements (a `shm.Struct`
//! or a number type) over shm-runtime's `dynamic::DynArray`, the run-time
//! typed form of `SharedArray<T>`: the same segment, so a Rust
//! `SharedArray<Pose>` and a Python `SharedArray` of the same `shm.Struct`
//! are one array, whichever side created it. Each element is read and
//! written whole (a complete copy of one write, never torn); writers of
//! one element take turns through its lock, without the GIL.

use crate::codec::{decode, encode};
use crate::errors::py_result;
use crate::schema::{StructType, numpy_dtype, prim_named};
use crate::values::{cleaned_up, parse_handle};
use crate::wait::{Target, changed, open_wait, opening};
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyList, PyType};
use shm_runtime::dynamic::{DynArray, ItemType};
use shm_runtime::format::schema::Schema;
use shm_runtime::{OpenOptions, SharedObject};

/// The element type `item` names: a `shm.Struct`, or a number type by
/// name (`"u8"` ... `"u128"`, `"i8"` ... `"i128"`, `"f32"`, `"f64"`,
/// `"bool"`).
fn item_type(item: &Bound<'_, PyAny>) -> PyResult<ItemType> {
    if let Ok(st) = item.cast::<StructType>() {
        return st.get().item_type();
    }
    let refused = || {
        PyTypeError::new_err(format!(
            "an element type is a shm.Struct or a number type name (\"u8\" ... \"f64\", \"bool\"), not {}",
            item.repr().map_or_else(|_| "?".to_owned(), |r| r.to_string())
        ))
    };
    let name: String = item.extract().map_err(|_| refused())?;
    let prim = prim_named(&name).ok_or_else(refused)?;
    ItemType::new(prim.name(), Schema::Prim(prim)).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A fixed-length array of typed elements in shared memory: `len`, `[]`
/// and `[] =` (negative from the end), iteration, `update`, `version`,
/// `wait_changed`,
/// `to_numpy()`. Elements are dicts (any mapping, such as a numpy
/// record, going in) for a struct, numbers for a number type.
#[pyclass(module = "shm")]
pub struct SharedArray {
    /// `None` once cleaned up.
    array: Option<DynArray>,
}

impl SharedArray {
    fn array(&self) -> PyResult<&DynArray> {
        self.array.as_ref().ok_or_else(|| cleaned_up("SharedArray"))
    }

    fn schema(&self) -> PyResult<&Schema> {
        Ok(self.array()?.item_type().schema())
    }

    /// `index` checked against the length, negative counting from the end.
    fn index(&self, index: isize) -> PyResult<usize> {
        let len = self.array()?.len();
        let resolved = if index < 0 { len.checked_sub(index.unsigned_abs()) } else { Some(index.unsigned_abs()) };
        resolved
            .filter(|&i| i < len)
            .ok_or_else(|| PyIndexError::new_err(format!("index {index} out of range for length {len}")))
    }

    /// `value` as one element's bytes (errors name the field).
    fn encoded(&self, value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
        let array = self.array()?;
        let mut bytes = vec![0; array.item_type().size()];
        encode(value, array.item_type().schema(), &mut bytes, array.item_type().type_name())?;
        Ok(bytes)
    }

    /// Opens with `attempt` (given the expected element type, if any).
    fn opened(
        py: Python<'_>,
        target: Target,
        item: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        attempt: impl Fn(Option<&ItemType>, &OpenOptions) -> Result<DynArray, shm_runtime::OpenError> + Send + Sync,
    ) -> PyResult<Self> {
        let expected = item.map(item_type).transpose()?;
        let wait = open_wait(timeout)?;
        let array = opening(py, target, wait, |slice| attempt(expected.as_ref(), &OpenOptions::new().wait(slice)))?;
        Ok(Self { array: Some(array) })
    }
}

#[pymethods]
impl SharedArray {
    /// Creates `length` elements of type `item` (a `shm.Struct` or a
    /// number type name), all zero, under a generated name.
    #[classmethod]
    fn create(_cls: &Bound<'_, PyType>, item: &Bound<'_, PyAny>, length: usize) -> PyResult<Self> {
        let array = py_result(DynArray::create(&item_type(item)?, length))?;
        Ok(Self { array: Some(array) })
    }

    /// Creates `length` zero elements of type `item` under `name`.
    #[classmethod]
    fn create_named(_cls: &Bound<'_, PyType>, name: &str, item: &Bound<'_, PyAny>, length: usize) -> PyResult<Self> {
        let array = py_result(DynArray::create_named(name, &item_type(item)?, length))?;
        Ok(Self { array: Some(array) })
    }

    /// Opens the array `handle` names, with the element type its segment
    /// records or, with `struct` (a `shm.Struct` or a number type name),
    /// exactly that one (else `shm.LayoutMismatch` naming the first field
    /// that differs).
    #[classmethod]
    #[pyo3(signature = (handle, r#struct = None, timeout = None))]
    fn load_sharedobject(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        handle: &str,
        r#struct: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let handle = parse_handle(handle)?;
        Self::opened(py, Target::Handle, r#struct, timeout, |item, options| DynArray::load(&handle, item, options))
    }

    /// Opens the array named `name` once it appears (see
    /// `load_sharedobject`).
    #[classmethod]
    #[pyo3(signature = (name, r#struct = None, timeout = None))]
    fn open(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        r#struct: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        Self::opened(py, Target::Name, r#struct, timeout, |item, options| DynArray::open_by_name(name, item, options))
    }

    /// The element type as a `shm.Struct` (`None` for numbers).
    #[getter]
    fn r#struct(&self) -> PyResult<Option<StructType>> {
        Ok(StructType::from_schema(self.schema()?))
    }

    /// The handle (a `str`) another process passes to `load_sharedobject`.
    #[getter]
    fn handle(&self) -> PyResult<String> {
        Ok(self.array()?.handle().to_string())
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.array()?.len())
    }

    /// Element `index` (negative counts from the end): a dict for a
    /// struct, a number for a number type.
    fn __getitem__(&self, py: Python<'_>, index: isize) -> PyResult<Py<PyAny>> {
        let i = self.index(index)?;
        let array = self.array()?;
        let mut bytes = vec![0; array.item_type().size()];
        py_result(array.get(i, &mut bytes))?;
        decode(py, array.item_type().schema(), &bytes)
    }

    /// Replaces element `index` with `value` (a mapping of every field for
    /// a struct, such as a dict or a numpy record; a number for a number
    /// type). A value that does not fit changes nothing.
    fn __setitem__(&self, py: Python<'_>, index: isize, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let i = self.index(index)?;
        let bytes = self.encoded(value)?;
        let array = self.array()?;
        // Without the GIL: another thread of this process may hold the
        // element's lock inside `update` and need the GIL to finish.
        py_result(py.detach(|| array.set(i, &bytes)))
    }

    /// Replaces element `index` with `f(element)`, holding the element's
    /// writer lock throughout, so that updates from several processes do
    /// not lose each other's changes. Returns the new value. If `f`
    /// raises, or returns a value that does not fit, the element keeps
    /// its value (its version still counts the write). Keep `f` short:
    /// other writers of the element wait for it (and give up with
    /// `shm.ArrayError` after the runtime's lock wait), and `f` must not
    /// write the same element itself.
    fn update(&self, py: Python<'_>, index: isize, f: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let i = self.index(index)?;
        let array = self.array()?;
        let schema = array.item_type().schema();
        let type_name = array.item_type().type_name();
        let f = f.clone().unbind();
        let outcome = py.detach(|| {
            array.update(i, |bytes| {
                Python::attach(|py| -> PyResult<Py<PyAny>> {
                    let new = f.bind(py).call1((decode(py, schema, bytes)?,))?;
                    let mut out = vec![0; bytes.len()];
                    encode(&new, schema, &mut out, type_name)?;
                    bytes.copy_from_slice(&out);
                    Ok(new.unbind())
                })
            })
        });
        py_result(outcome)?
    }

    /// The number of writes made to element `index` so far.
    fn version(&self, index: isize) -> PyResult<u64> {
        let i = self.index(index)?;
        self.array()?.version(i).ok_or_else(|| PyIndexError::new_err("index out of range"))
    }

    /// Waits until the version of element `index` differs from `since` and
    /// returns the new one; `None` once `timeout` seconds (`None`: no
    /// limit) have passed. Writes of other elements do not end it. Releases
    /// the GIL; Ctrl-C interrupts within 50 ms.
    #[pyo3(signature = (index, since, timeout = None))]
    fn wait_changed(&self, py: Python<'_>, index: isize, since: u64, timeout: Option<f64>) -> PyResult<Option<u64>> {
        let i = self.index(index)?;
        let array = self.array()?;
        // `i < len` (checked above): `version` is `Some` and `wait_changed`
        // cannot fail.
        changed(
            py,
            since,
            timeout,
            || array.version(i).unwrap_or_else(|| unreachable!("index {i} was checked")),
            |slice| array.wait_changed(i, since, slice).unwrap_or_else(|e| unreachable!("index {i} was checked: {e}")),
        )
    }

    /// Every element, as a list (each one a complete copy of one write).
    fn to_list(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let array = self.array()?;
        let size = array.item_type().size();
        let mut bytes = vec![0; array.len() * size];
        py_result(array.copy_to(&mut bytes))?;
        let list = PyList::empty(py);
        for element in bytes.chunks_exact(size.max(1)) {
            list.append(decode(py, array.item_type().schema(), element)?)?;
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
        let array = self.array()?;
        let dtype = numpy_dtype(py, array.item_type().schema())?;
        let mut bytes = vec![0; array.len() * array.item_type().size()];
        py_result(array.copy_to(&mut bytes))?;
        py.import("shm._numpy")?.call_method1("array", (PyByteArray::new(py, &bytes), dtype))
    }

    /// Pickling sends the handle: unpickling opens the same array.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        Ok((slf.get_type().getattr("load_sharedobject")?, (slf.borrow().handle()?,)))
    }

    /// Creator: removes the segment; opener: unmaps. Again: nothing.
    fn cleanup(&mut self) -> PyResult<()> {
        match self.array.take() {
            Some(array) => py_result(array.cleanup()),
            None => Ok(()),
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Leaving the `with` block cleans up.
    fn __exit__(
        &mut self,
        _kind: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.cleanup()?;
        Ok(false)
    }
}
