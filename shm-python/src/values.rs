//! The value objects: `SharedInt`, `SharedBool`, `SharedString`,
//! `SharedBytes`. Each wraps the shm-runtime object of the same name; what
//! every one of them has (loading, opening by name, `handle`, `cleanup`,
//! the context manager) is written once, in `value_object!`.

use crate::errors::{CleanedUp, py_result};
use crate::wait::{Target, changed, open_wait, opening};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyType;
use shm_runtime::{Handle, SharedObject};

/// The runtime object inside a Python object, `None` once `cleanup` took it.
pub(crate) fn live<'a, T>(object: Option<&'a T>, type_name: &str) -> PyResult<&'a T> {
    object.ok_or_else(|| cleaned_up(type_name))
}

/// `shm.CleanedUp` for an object of `type_name`.
pub(crate) fn cleaned_up(type_name: &str) -> PyErr {
    CleanedUp::new_err(format!("this {type_name} was cleaned up"))
}

/// `text` parsed as a handle, or `shm.InvalidHandle`.
pub(crate) fn parse_handle(text: &str) -> PyResult<Handle> {
    py_result(text.parse::<Handle>())
}

/// The methods every value object has, around the class-specific ones.
macro_rules! value_object {
    ($class:ident, $rust:ty, $type_name:literal, { $($methods:tt)* }) => {
        #[pymethods]
        impl $class {
            /// Opens the object `handle` (the text of another object's
            /// `handle`) names, waiting up to `timeout` seconds (default:
            /// shm's open wait) for its creator to finish setting it up.
            #[classmethod]
            #[pyo3(signature = (handle, timeout = None))]
            fn load_sharedobject(
                _cls: &Bound<'_, PyType>,
                py: Python<'_>,
                handle: &str,
                timeout: Option<f64>,
            ) -> PyResult<Self> {
                let handle = parse_handle(handle)?;
                let wait = open_wait(timeout)?;
                let object = opening(py, Target::Handle, wait, |slice| {
                    <$rust>::load_sharedobject_timeout(&handle, slice)
                })?;
                Ok(Self { inner: Some(object) })
            }

            /// Opens the object named `name` (made by `create_named` in this
            /// or another process), waiting up to `timeout` seconds (default:
            /// shm's open wait) for it to appear and be ready.
            #[classmethod]
            #[pyo3(signature = (name, timeout = None))]
            fn open(_cls: &Bound<'_, PyType>, py: Python<'_>, name: &str, timeout: Option<f64>) -> PyResult<Self> {
                let wait = open_wait(timeout)?;
                let object = opening(py, Target::Name, wait, |slice| {
                    <$rust>::open_with(name, &shm_runtime::OpenOptions::new().wait(slice))
                })?;
                Ok(Self { inner: Some(object) })
            }

            /// The handle (a `str`) another process passes to
            /// `load_sharedobject`.
            #[getter]
            fn handle(&self) -> PyResult<String> {
                Ok(live(self.inner.as_ref(), $type_name)?.handle().to_string())
            }

            /// The segment's name.
            #[getter]
            fn name(&self) -> PyResult<String> {
                Ok(live(self.inner.as_ref(), $type_name)?.name().as_str().to_owned())
            }

            /// Whether this object created the segment in this process (and
            /// so removes its name on `cleanup`).
            #[getter]
            fn is_creator(&self) -> PyResult<bool> {
                Ok(live(self.inner.as_ref(), $type_name)?.is_creator())
            }

            /// Removes the segment's name if this process created it, then
            /// unmaps; an opener only unmaps. Calling it again does nothing.
            fn cleanup(&mut self) -> PyResult<()> {
                match self.inner.take() {
                    Some(object) => py_result(object.cleanup()),
                    None => Ok(()),
                }
            }

            /// The number of changes made so far (by any process): every
            /// `write`, `swap`, `fetch_add` and storing `compare_exchange`
            /// advances it by one, even one that stores the same value.
            fn version(&self) -> PyResult<u64> {
                Ok(live(self.inner.as_ref(), $type_name)?.version())
            }

            /// Waits until the version differs from `since` (a `version()`
            /// read before) and returns the new one; `None` once `timeout`
            /// seconds (`None`: no limit) have passed. Sleeps without the
            /// GIL until a write in any process wakes it; Ctrl-C raises
            /// `KeyboardInterrupt` within 50 ms.
            #[pyo3(signature = (since, timeout = None))]
            fn wait_changed(&self, py: Python<'_>, since: u64, timeout: Option<f64>) -> PyResult<Option<u64>> {
                let object = live(self.inner.as_ref(), $type_name)?;
                changed(py, since, timeout, || object.version(), |slice| object.wait_changed(since, slice))
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

            /// Pickling sends the handle: unpickling (in a `multiprocessing`
            /// child started with spawn, say) opens the same object.
            fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
                let handle = slf.borrow().handle()?;
                Ok((slf.get_type().getattr("load_sharedobject")?, (handle,)))
            }

            fn __repr__(&self) -> String {
                match &self.inner {
                    Some(object) => format!("{}(handle={:?})", $type_name, object.handle().to_string()),
                    None => format!("{}(cleaned up)", $type_name),
                }
            }

            $($methods)*
        }
    };
}

/// A 64-bit signed integer in shared memory, with atomic `fetch_add`,
/// `swap` and `compare_exchange`.
#[pyclass(module = "shm")]
pub struct SharedInt {
    inner: Option<shm_runtime::SharedInt>,
}

value_object!(SharedInt, shm_runtime::SharedInt, "SharedInt", {
    /// Creates an integer holding `value` under a generated name.
    #[new]
    #[pyo3(signature = (value = 0))]
    fn new(value: i64) -> PyResult<Self> {
        Ok(Self { inner: Some(py_result(shm_runtime::SharedInt::create_sharedobject(value))?) })
    }

    /// Creates an integer holding `value` (the seed's name for the
    /// constructor).
    #[classmethod]
    #[pyo3(signature = (value = 0))]
    fn create_sharedobject(_cls: &Bound<'_, PyType>, value: i64) -> PyResult<Self> {
        Self::new(value)
    }

    /// Creates an integer holding `value` under `name`, for programs that
    /// meet by name (`open`).
    #[classmethod]
    #[pyo3(signature = (name, value = 0))]
    fn create_named(_cls: &Bound<'_, PyType>, name: &str, value: i64) -> PyResult<Self> {
        Ok(Self { inner: Some(py_result(shm_runtime::SharedInt::create_named(name, value))?) })
    }

    /// The value.
    fn read(&self) -> PyResult<i64> {
        Ok(live(self.inner.as_ref(), "SharedInt")?.read())
    }

    /// Stores `value`.
    fn write(&self, value: i64) -> PyResult<()> {
        live(self.inner.as_ref(), "SharedInt")?.write(value);
        Ok(())
    }

    /// Adds `delta` (wrapping) and returns the value before.
    fn fetch_add(&self, delta: i64) -> PyResult<i64> {
        Ok(live(self.inner.as_ref(), "SharedInt")?.fetch_add(delta))
    }

    /// Stores `value` and returns the value before.
    fn swap(&self, value: i64) -> PyResult<i64> {
        Ok(live(self.inner.as_ref(), "SharedInt")?.swap(value))
    }

    /// Stores `new` if the value is `current`; returns `(stored, value
    /// before)`.
    fn compare_exchange(&self, current: i64, new: i64) -> PyResult<(bool, i64)> {
        Ok(match live(self.inner.as_ref(), "SharedInt")?.compare_exchange(current, new) {
            Ok(before) => (true, before),
            Err(before) => (false, before),
        })
    }
});

/// A flag in shared memory.
#[pyclass(module = "shm")]
pub struct SharedBool {
    inner: Option<shm_runtime::SharedBool>,
}

value_object!(SharedBool, shm_runtime::SharedBool, "SharedBool", {
    /// Creates a flag holding `value` under a generated name.
    #[new]
    #[pyo3(signature = (value = false))]
    fn new(value: bool) -> PyResult<Self> {
        Ok(Self { inner: Some(py_result(shm_runtime::SharedBool::create_sharedobject(value))?) })
    }

    /// Creates a flag holding `value` (the seed's name for the
    /// constructor).
    #[classmethod]
    #[pyo3(signature = (value = false))]
    fn create_sharedobject(_cls: &Bound<'_, PyType>, value: bool) -> PyResult<Self> {
        Self::new(value)
    }

    /// Creates a flag holding `value` under `name`.
    #[classmethod]
    #[pyo3(signature = (name, value = false))]
    fn create_named(_cls: &Bound<'_, PyType>, name: &str, value: bool) -> PyResult<Self> {
        Ok(Self { inner: Some(py_result(shm_runtime::SharedBool::create_named(name, value))?) })
    }

    /// The value.
    fn read(&self) -> PyResult<bool> {
        Ok(live(self.inner.as_ref(), "SharedBool")?.read())
    }

    /// Stores `value`.
    fn write(&self, value: bool) -> PyResult<()> {
        live(self.inner.as_ref(), "SharedBool")?.write(value);
        Ok(())
    }

    /// Stores `value` and returns the value before.
    fn swap(&self, value: bool) -> PyResult<bool> {
        Ok(live(self.inner.as_ref(), "SharedBool")?.swap(value))
    }
});

/// A UTF-8 string of up to `capacity` bytes in shared memory; readers
/// never see a mix of two writes.
#[pyclass(module = "shm")]
pub struct SharedString {
    inner: Option<shm_runtime::SharedString>,
}

value_object!(SharedString, shm_runtime::SharedString, "SharedString", {
    /// Creates an empty string of up to `capacity` UTF-8 bytes under a
    /// generated name.
    #[new]
    fn new(capacity: usize) -> PyResult<Self> {
        Ok(Self { inner: Some(py_result(shm_runtime::SharedString::create_sharedobject(capacity))?) })
    }

    /// Creates an empty string of up to `capacity` bytes (the seed's name
    /// for the constructor).
    #[classmethod]
    fn create_sharedobject(_cls: &Bound<'_, PyType>, capacity: usize) -> PyResult<Self> {
        Self::new(capacity)
    }

    /// Creates an empty string of up to `capacity` bytes under `name`.
    #[classmethod]
    fn create_named(_cls: &Bound<'_, PyType>, name: &str, capacity: usize) -> PyResult<Self> {
        Ok(Self { inner: Some(py_result(shm_runtime::SharedString::create_named(name, capacity))?) })
    }

    /// Largest number of UTF-8 bytes the string holds.
    #[getter]
    fn capacity(&self) -> PyResult<usize> {
        Ok(live(self.inner.as_ref(), "SharedString")?.capacity())
    }

    /// The string.
    fn read(&self, py: Python<'_>) -> PyResult<String> {
        let object = live(self.inner.as_ref(), "SharedString")?;
        py_result(py.detach(|| object.read()))
    }

    /// Stores `value`; longer than `capacity` UTF-8 bytes is
    /// `shm.TooLarge` and stores nothing.
    fn write(&self, py: Python<'_>, value: &str) -> PyResult<()> {
        let object = live(self.inner.as_ref(), "SharedString")?;
        py_result(py.detach(|| object.write(value)))
    }
});

/// Bytes, up to `capacity` of them, in shared memory; readers never see a
/// mix of two writes.
#[pyclass(module = "shm")]
pub struct SharedBytes {
    inner: Option<shm_runtime::SharedBytes>,
}

value_object!(SharedBytes, shm_runtime::SharedBytes, "SharedBytes", {
    /// Creates an empty value of up to `capacity` bytes under a generated
    /// name.
    #[new]
    fn new(capacity: usize) -> PyResult<Self> {
        Ok(Self { inner: Some(py_result(shm_runtime::SharedBytes::create_sharedobject(capacity))?) })
    }

    /// Creates an empty value of up to `capacity` bytes (the seed's name
    /// for the constructor).
    #[classmethod]
    fn create_sharedobject(_cls: &Bound<'_, PyType>, capacity: usize) -> PyResult<Self> {
        Self::new(capacity)
    }

    /// Creates an empty value of up to `capacity` bytes under `name`.
    #[classmethod]
    fn create_named(_cls: &Bound<'_, PyType>, name: &str, capacity: usize) -> PyResult<Self> {
        Ok(Self { inner: Some(py_result(shm_runtime::SharedBytes::create_named(name, capacity))?) })
    }

    /// Largest number of bytes the value holds.
    #[getter]
    fn capacity(&self) -> PyResult<usize> {
        Ok(live(self.inner.as_ref(), "SharedBytes")?.capacity())
    }

    /// The bytes last written (exactly as long as they were written).
    fn read(&self, py: Python<'_>) -> PyResult<Vec<u8>> {
        let object = live(self.inner.as_ref(), "SharedBytes")?;
        py_result(py.detach(|| object.read()))
    }

    /// Stores `value` (`bytes`, `bytearray` or any buffer of bytes);
    /// longer than `capacity` is `shm.TooLarge` and stores nothing.
    #[expect(clippy::needless_pass_by_value, reason = "pyo3 hands arguments over by value")]
    fn write(&self, py: Python<'_>, value: PyBackedBytes) -> PyResult<()> {
        let object = live(self.inner.as_ref(), "SharedBytes")?;
        let value: &[u8] = &value;
        py_result(py.detach(|| object.write(value)))
    }
});
