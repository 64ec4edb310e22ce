//! The hot methods of `shm.compat.memory_interface.MemoryInterface` in
//! native code: `write`, `read`, `can_write`, `can_read`, `get_fullness`.
//!
//! When a side of a compat `MemoryInterface` is first used, its Python
//! code makes a [`CompatSide`] for the `ByteRing` end it attached and puts
//! these methods on the instance as attributes (the instance's own
//! attributes come before the class's plain functions), so a call from the
//! seed's polling loop is one C call with no Python frame in between. The
//! methods keep the Python versions' semantics: return values, exceptions
//! (`BufferEmpty`, the seed's `ValueError` for a too large item, shm's
//! ring errors) and the `use_pickle` choice, fixed when the side is bound.
//!
//! `read`, `can_read`, `can_write` and `get_fullness` take no argument:
//! pyo3 makes them `METH_NOARGS` methods, which `CPython` calls with no
//! argument parsing. `write` takes one, which pyo3 would parse as fast-call
//! arguments with keywords; it is a `METH_O` C function instead
//! ([`CompatSide::write_function`]), which `CPython` hands its one argument
//! directly.

use crate::errors::TooLarge;
use crate::ring::ByteRing;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// One side of a compat `MemoryInterface`, bound: the `ByteRing` end it
/// holds and what its methods need from the Python module.
#[pyclass(module = "shm", frozen)]
pub struct CompatSide {
    /// The end this side attached (producer or consumer).
    ring: Py<ByteRing>,
    /// How long `can_read` / `can_write` wait for an item or room before
    /// answering no (the module's `POLL_WAIT` when the side was bound;
    /// `None`, from an infinite `POLL_WAIT`: no limit).
    wait: Option<Duration>,
    /// `BufferEmpty`: raised by `read` when nothing is ready.
    empty: Py<PyType>,
    /// Called with the item when the ring refuses it as too large (the
    /// Python `_put` path: the seed's `ValueError` with the pickle's
    /// length); its result is `write`'s.
    too_large: Py<PyAny>,
    /// Items are pickled (`use_pickle`), else written as their bytes.
    pickle: bool,
}

/// The message `read` raises `BufferEmpty` with, as the Python version.
const EMPTY_MESSAGE: &str = "nothing to read: check can_read() first";

/// A `PyMethodDef` in a `static`: `CPython` only reads it, and keeps a
/// pointer to it in every function object made from it.
struct MethodDef(ffi::PyMethodDef);

// SAFETY: the definition holds pointers to static text and to a function;
// nothing writes it after it is built (CPython reads it only), so sharing
// it between threads shares only reads of immutable data.
unsafe impl Sync for MethodDef {}

/// `write` as a `METH_O` function.
static WRITE: MethodDef = MethodDef(ffi::PyMethodDef {
    ml_name: c"write".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer { PyCFunction: write_o },
    ml_flags: ffi::METH_O,
    ml_doc: c"write(item): writes item (pickled with use_pickle) into the next slot; returns its size in bytes."
        .as_ptr(),
});

/// The C entry of `write`: `slf` is the function's `CompatSide`, `item`
/// its argument (both borrowed). Runs [`CompatSide::write`]; an error is
/// set as the Python exception and null returned, as `METH_O` asks; a
/// panic becomes a `PanicException` (pyo3's own wrappers do the same).
///
/// Unlike pyo3's wrappers it does not raise pyo3's count of attached
/// calls (no public API does that cheaply): a `Py` dropped in here, which
/// only an error path does (the `TooLarge` error given up for the
/// fallback), has its reference released at the next pyo3 call instead of
/// at once (a `Bound` is released at once either way), and a nested
/// `Python::attach` takes its slower path; both are correct.
unsafe extern "C" fn write_o(slf: *mut ffi::PyObject, item: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a C function only from a thread attached to
    // the interpreter (holding the GIL), for as long as the call lasts.
    let py = unsafe { Python::assume_attached() };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `slf` is the `self` the function object was made with
        // (`write_function`): a `CompatSide`, alive while the function
        // object, which holds a reference to it, is being called.
        let slf = unsafe { Bound::from_borrowed_ptr(py, slf) };
        // SAFETY: `item` is the call's argument, a live object CPython
        // holds a reference to for the length of the call.
        let item = unsafe { Bound::from_borrowed_ptr(py, item) };
        let side = slf.cast::<CompatSide>()?;
        side.get().write(py, &item)
    }));
    let result = outcome.unwrap_or_else(|_| Err(pyo3::panic::PanicException::new_err("panic in write")));
    match result {
        Ok(size) => size.into_ptr(),
        Err(err) => {
            err.restore(py);
            std::ptr::null_mut()
        }
    }
}

impl CompatSide {
    /// `write(item)`: the item pickled (`use_pickle`) or its bytes into the
    /// next slot, without waiting; its size in bytes. Too large: the
    /// `too_large` callable decides (the seed's `ValueError`); full:
    /// `shm.Full`; errors otherwise as `ByteRing.write`'s.
    fn write<'py>(&self, py: Python<'py>, item: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let written = {
            let mut ring = self.ring.bind(py).try_borrow_mut()?;
            if self.pickle { ring.write_pickle(py, item) } else { ring.write_buffer(py, item) }
        };
        match written {
            Ok(size) => Ok(size.into_pyobject(py)?.into_any()),
            Err(err) if err.is_instance_of::<TooLarge>(py) => self.too_large.bind(py).call1((item,)),
            Err(err) => Err(err),
        }
    }
}

#[pymethods]
impl CompatSide {
    /// Binds `ring` (an attached end of a compat `MemoryInterface`).
    #[new]
    fn new(ring: Py<ByteRing>, wait: f64, empty: Py<PyType>, too_large: Py<PyAny>, use_pickle: bool) -> PyResult<Self> {
        let wait = crate::wait::timeout(Some(wait))?;
        Ok(Self { ring, wait, empty, too_large, pickle: use_pickle })
    }

    /// `write` as a function object taking the item (`METH_O`).
    fn write_function<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let def = std::ptr::from_ref(&WRITE.0).cast_mut();
        // SAFETY: `def` points to a static definition CPython only reads;
        // `slf` is a live object, which the new function references (as
        // its `self`) for as long as it lives. The result is a new
        // reference or null with an exception set.
        let raw = unsafe { ffi::PyCFunction_NewEx(def, slf.as_ptr(), std::ptr::null_mut()) };
        // SAFETY: `raw` is a new reference or null with an exception set.
        unsafe { Bound::from_owned_ptr_or_err(slf.py(), raw) }
    }

    /// The next item: the object written (`use_pickle`) or its bytes (a
    /// `bytearray`); nothing ready: `BufferEmpty` (consumer).
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut ring = self.ring.bind(py).try_borrow_mut()?;
        let item = if self.pickle {
            // A marker no pickle can produce: the ring object itself.
            let empty = self.ring.bind(py).clone().into_any();
            let item = ring.read_pickle(py, empty)?;
            (!item.is(self.ring.bind(py))).then_some(item)
        } else {
            ring.read_bytearray(py)?.map(Bound::into_any)
        };
        item.ok_or_else(|| PyErr::from_type(self.empty.bind(py).clone(), EMPTY_MESSAGE))
    }

    /// Whether `read` finds an item now, waiting up to the bound poll wait
    /// for one (without the GIL) before saying no (consumer).
    fn can_read(&self, py: Python<'_>) -> PyResult<bool> {
        self.ring.bind(py).try_borrow_mut()?.can_read_within(py, self.wait)
    }

    /// Whether `write` finds room now, waiting up to the bound poll wait
    /// for it (without the GIL) before saying no (producer).
    fn can_write(&self, py: Python<'_>) -> PyResult<bool> {
        self.ring.bind(py).try_borrow_mut()?.can_write_within(py, self.wait)
    }

    /// Percentage of slots holding unread items, as an `int`.
    fn get_fullness(&self, py: Python<'_>) -> PyResult<usize> {
        let ring = self.ring.bind(py).try_borrow()?;
        let capacity = ring.capacity()?;
        if capacity == 0 {
            return Ok(0);
        }
        Ok(100 * ring.__len__()? / capacity)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("CompatSide({})", self.ring.bind(py).repr()?))
    }
}
