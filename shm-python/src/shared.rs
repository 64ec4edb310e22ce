//! `Shared`: one value of a struct type declared in Python (`shm.Struct`),
//! over shm-runtime's `DynShared`; the same object as a Rust `Shared<T>`
//! of the derived type with that schema. Values are dicts (or anything
//! with `[field]`, such as a numpy record) in, dicts out.

use crate::codec::{decode, encode};
use crate::errors::py_result;
use crate::schema::StructType;
use crate::values::{cleaned_up, parse_handle};
use crate::wait::{Target, changed, open_wait, opening};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyType};
use shm_runtime::dynamic::{DynShared, ItemType};
use shm_runtime::{OpenOptions, SharedObject};

/// A value of a struct type in shared memory: `Shared(pose, {"x": 1.0,
/// ...})` creates one; `Shared.load_sharedobject(handle)` opens one (with
/// the type the segment records, or `struct=` to insist on one: another
/// type is `shm.LayoutMismatch` naming the first field that differs).
/// Readers never see a mix of two writes, and a writer killed mid-write
/// leaves the last complete value.
#[pyclass(module = "shm")]
pub struct Shared {
    inner: Option<DynShared>,
}

impl Shared {
    fn live(&self) -> PyResult<&DynShared> {
        self.inner.as_ref().ok_or_else(|| cleaned_up("Shared"))
    }

    /// The bytes of `value` (`None`: all zero) for `item`.
    fn bytes_of(item: &ItemType, value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<u8>> {
        let mut bytes = vec![0; item.size()];
        if let Some(value) = value {
            encode(value, item.schema(), &mut bytes, item.type_name())?;
        }
        Ok(bytes)
    }
}

/// The item type `declared` (a `shm.Struct`) stands for, if given.
fn expected(declared: Option<&Bound<'_, StructType>>) -> PyResult<Option<ItemType>> {
    declared.map(|s| s.get().item_type()).transpose()
}

#[pymethods]
impl Shared {
    /// Creates a value of type `struct` holding `value` (`None`: every
    /// byte zero) under a generated name.
    #[new]
    #[pyo3(signature = (r#struct, value = None))]
    fn new(r#struct: &Bound<'_, StructType>, value: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let item = r#struct.get().item_type()?;
        let bytes = Self::bytes_of(&item, value)?;
        Ok(Self { inner: Some(py_result(DynShared::create(&item, &bytes))?) })
    }

    /// Creates a value like the constructor, under `name`.
    #[classmethod]
    #[pyo3(signature = (name, r#struct, value = None))]
    fn create_named(
        _cls: &Bound<'_, PyType>,
        name: &str,
        r#struct: &Bound<'_, StructType>,
        value: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let item = r#struct.get().item_type()?;
        let bytes = Self::bytes_of(&item, value)?;
        Ok(Self { inner: Some(py_result(DynShared::create_named(name, &item, &bytes))?) })
    }

    /// Opens the value `handle` names, of the type its segment records or,
    /// with `struct`, of exactly that type; waits up to `timeout` seconds
    /// for its creator.
    #[classmethod]
    #[pyo3(signature = (handle, r#struct = None, timeout = None))]
    fn load_sharedobject(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        handle: &str,
        r#struct: Option<&Bound<'_, StructType>>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let handle = parse_handle(handle)?;
        let item = expected(r#struct)?;
        let wait = open_wait(timeout)?;
        let object = opening(py, Target::Handle, wait, |slice| {
            DynShared::load(&handle, item.as_ref(), &OpenOptions::new().wait(slice))
        })?;
        Ok(Self { inner: Some(object) })
    }

    /// Opens the value named `name` (see `load_sharedobject`), waiting up
    /// to `timeout` seconds for it to appear.
    #[classmethod]
    #[pyo3(signature = (name, r#struct = None, timeout = None))]
    fn open(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        r#struct: Option<&Bound<'_, StructType>>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let item = expected(r#struct)?;
        let wait = open_wait(timeout)?;
        let object = opening(py, Target::Name, wait, |slice| {
            DynShared::open_by_name(name, item.as_ref(), &OpenOptions::new().wait(slice))
        })?;
        Ok(Self { inner: Some(object) })
    }

    /// The value's type, as a `shm.Struct` (`None` if it is not a struct).
    #[getter]
    fn r#struct(&self) -> PyResult<Option<StructType>> {
        Ok(StructType::from_schema(self.live()?.item_type().schema()))
    }

    /// The value, as a dict.
    fn read(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let object = self.live()?;
        let mut bytes = vec![0; object.item_type().size()];
        py_result(object.read(&mut bytes))?;
        decode(py, object.item_type().schema(), &bytes)
    }

    /// The value as a numpy record (needs numpy; structs only).
    fn read_record<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let st = self.r#struct()?.ok_or_else(|| pyo3::exceptions::PyTypeError::new_err("not a struct value"))?;
        let st = Bound::new(py, st)?;
        let bytes = self.read_bytes(py)?;
        StructType::unpack_record(&st, bytes.as_bytes())
    }

    /// The value's bytes (native byte order, the Rust type's layout).
    fn read_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let object = self.live()?;
        let mut bytes = vec![0; object.item_type().size()];
        py_result(object.read(&mut bytes))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Replaces the value with `value` (a dict of every field, or a numpy
    /// record); a missing or unknown field, a wrong type or an integer out
    /// of range raise and write nothing.
    fn write(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let object = self.live()?;
        let bytes = Self::bytes_of(object.item_type(), Some(value))?;
        py_result(object.write(&bytes))
    }

    /// Replaces the value with `data`, its bytes (exactly the type's size).
    #[expect(clippy::needless_pass_by_value, reason = "pyo3 hands arguments over by value")]
    fn write_bytes(&self, data: PyBackedBytes) -> PyResult<()> {
        py_result(self.live()?.write(&data))
    }

    /// The number of writes made so far (by any process).
    fn version(&self) -> PyResult<u64> {
        Ok(self.live()?.version())
    }

    /// Waits until the version differs from `since` and returns the new
    /// one; `None` once `timeout` seconds (`None`: no limit) have passed.
    /// Releases the GIL; Ctrl-C interrupts within 50 ms.
    #[pyo3(signature = (since, timeout = None))]
    fn wait_changed(&self, py: Python<'_>, since: u64, timeout: Option<f64>) -> PyResult<Option<u64>> {
        let object = self.live()?;
        changed(py, since, timeout, || object.version(), |slice| object.wait_changed(since, slice))
    }

    /// The handle (a `str`) another process passes to `load_sharedobject`.
    #[getter]
    fn handle(&self) -> PyResult<String> {
        Ok(self.live()?.handle().to_string())
    }

    /// The segment's name.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.live()?.name().as_str().to_owned())
    }

    /// Whether this object created the segment (and removes its name on
    /// `cleanup`).
    #[getter]
    fn is_creator(&self) -> PyResult<bool> {
        Ok(self.live()?.is_creator())
    }

    /// Removes the segment's name if this process created it, then unmaps;
    /// an opener only unmaps. Again: nothing.
    fn cleanup(&mut self) -> PyResult<()> {
        match self.inner.take() {
            Some(object) => py_result(object.cleanup()),
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

    /// Pickling sends the handle: unpickling opens the same value (with
    /// the type its segment records).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let handle = slf.borrow().handle()?;
        Ok((slf.get_type().getattr("load_sharedobject")?, (handle,)))
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            Some(object) => {
                format!("Shared({}, handle={:?})", object.item_type().type_name(), object.handle().to_string())
            }
            None => "Shared(cleaned up)".to_owned(),
        }
    }
}
