//! `MemoryInterface`: a ring of scalar items (`i64`, `u64` or `f64`)
//! between one producer and one consumer process, over shm-runtime's
//! `MemoryInterface<T>`; a Rust `MemoryInterface<u64>` (say) and a Python
//! one with `item="u64"` are the same ring. Items of struct types wait for
//! the schema of shm-runtime's segments.

use crate::errors::{Closed, Full, PeerDead, RingError, ToPyErr, WrongSide, py_result};
use crate::values::{cleaned_up, parse_handle};
use crate::wait::{Target, blocking, open_wait, opening};
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyType;
use shm_runtime::{Consumer, Producer, Ring, SharedObject, TryWriteError};

type Mi<T, R> = shm_runtime::MemoryInterface<T, R>;

/// The ring end, by item type and side.
enum Typed {
    /// `i64` items, producer side.
    I64P(Mi<i64, Producer>),
    /// `i64` items, consumer side.
    I64C(Mi<i64, Consumer>),
    /// `u64` items, producer side.
    U64P(Mi<u64, Producer>),
    /// `u64` items, consumer side.
    U64C(Mi<u64, Consumer>),
    /// `f64` items, producer side.
    F64P(Mi<f64, Producer>),
    /// `f64` items, consumer side.
    F64C(Mi<f64, Consumer>),
}

/// `$body` with `$r` bound to the end, whichever it is.
macro_rules! any_end {
    ($typed:expr, $r:ident => $body:expr) => {
        match $typed {
            Typed::I64P($r) => $body,
            Typed::I64C($r) => $body,
            Typed::U64P($r) => $body,
            Typed::U64C($r) => $body,
            Typed::F64P($r) => $body,
            Typed::F64C($r) => $body,
        }
    };
}

/// `$body` with `$r` bound to the producer end, or `shm.WrongSide`.
macro_rules! producer {
    ($typed:expr, $r:ident => $body:expr) => {
        match $typed {
            Typed::I64P($r) => $body,
            Typed::U64P($r) => $body,
            Typed::F64P($r) => $body,
            _ => Err(WrongSide::new_err("this MemoryInterface holds the consumer side; writing needs the producer")),
        }
    };
}

/// `$body` with `$r` bound to the consumer end, or `shm.WrongSide`.
macro_rules! consumer {
    ($typed:expr, $r:ident => $body:expr) => {
        match $typed {
            Typed::I64C($r) => $body,
            Typed::U64C($r) => $body,
            Typed::F64C($r) => $body,
            _ => Err(WrongSide::new_err("this MemoryInterface holds the producer side; reading needs the consumer")),
        }
    };
}

/// Builds the end for `item` and `side` from `$make`, a generic call
/// (`$make` is expanded once per item type and side).
macro_rules! make {
    ($item:expr, $side:expr, $make:expr) => {{
        let producer = match $side {
            "producer" => true,
            "consumer" => false,
            other => {
                return Err(PyValueError::new_err(format!("side is \"producer\" or \"consumer\", not {other:?}")));
            }
        };
        match ($item, producer) {
            ("i64", true) => Typed::I64P($make?),
            ("i64", false) => Typed::I64C($make?),
            ("u64", true) => Typed::U64P($make?),
            ("u64", false) => Typed::U64C($make?),
            ("f64", true) => Typed::F64P($make?),
            ("f64", false) => Typed::F64C($make?),
            (other, _) => {
                return Err(PyValueError::new_err(format!("item is \"i64\", \"u64\" or \"f64\", not {other:?}")));
            }
        }
    }};
}

impl<T> ToPyErr for TryWriteError<T> {
    fn to_py(&self) -> PyErr {
        let text = self.to_string();
        match self {
            TryWriteError::Full(_) => Full::new_err(text),
            TryWriteError::Closed { .. } => Closed::new_err(text),
            TryWriteError::PeerDead { .. } => PeerDead::new_err(text),
            _ => RingError::new_err(text),
        }
    }
}

/// A ring of scalar items (`item`: `"i64"`, `"u64"` or `"f64"`) in shared
/// memory between one producer and one consumer process. Nothing is
/// overwritten: a full ring refuses a write (`shm.Full`) or makes a
/// blocking write wait. Blocking calls release the GIL and let Ctrl-C
/// through within 50 ms.
#[pyclass(module = "shm")]
pub struct MemoryInterface {
    typed: Option<Typed>,
}

impl MemoryInterface {
    fn typed(&self) -> PyResult<&Typed> {
        self.typed.as_ref().ok_or_else(|| cleaned_up("MemoryInterface"))
    }

    fn typed_mut(&mut self) -> PyResult<&mut Typed> {
        self.typed.as_mut().ok_or_else(|| cleaned_up("MemoryInterface"))
    }

    fn wrap(typed: Typed) -> Self {
        Self { typed: Some(typed) }
    }
}

#[pymethods]
impl MemoryInterface {
    /// Creates a ring of `nr_of_memories` items of type `item` under a
    /// generated name, and holds its `side`.
    #[classmethod]
    #[pyo3(signature = (nr_of_memories, item = "i64", side = "producer"))]
    fn create_memorybuf(_cls: &Bound<'_, PyType>, nr_of_memories: usize, item: &str, side: &str) -> PyResult<Self> {
        Ok(Self::wrap(make!(item, side, py_result(Mi::create_memorybuf(nr_of_memories)))))
    }

    /// Creates a ring like `create_memorybuf` under `name`.
    #[classmethod]
    #[pyo3(signature = (name, nr_of_memories, item = "i64", side = "producer"))]
    fn create_named(
        _cls: &Bound<'_, PyType>,
        name: &str,
        nr_of_memories: usize,
        item: &str,
        side: &str,
    ) -> PyResult<Self> {
        Ok(Self::wrap(make!(item, side, py_result(Mi::create_named(name, nr_of_memories)))))
    }

    /// Opens the ring `handle` names, of items of type `item`, and claims
    /// its `side` (default: the consumer). Another item type is
    /// `shm.LayoutMismatch`.
    #[classmethod]
    #[pyo3(signature = (handle, item = "i64", side = "consumer", timeout = None))]
    fn load_memorybuf(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        handle: &str,
        item: &str,
        side: &str,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let handle = parse_handle(handle)?;
        let wait = open_wait(timeout)?;
        Ok(Self::wrap(make!(
            item,
            side,
            opening(py, Target::Handle, wait, |slice| Mi::load_sharedobject_timeout(&handle, slice))
        )))
    }

    /// Opens the ring named `name` (see `load_memorybuf`).
    #[classmethod]
    #[pyo3(signature = (name, item = "i64", side = "consumer", timeout = None))]
    fn open(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        item: &str,
        side: &str,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let wait = open_wait(timeout)?;
        Ok(Self::wrap(make!(
            item,
            side,
            opening(py, Target::Name, wait, |slice| Mi::open_with(name, &shm_runtime::OpenOptions::new().wait(slice)))
        )))
    }

    /// The handle (a `str`) the other side passes to `load_memorybuf`.
    #[getter]
    fn handle(&self) -> PyResult<String> {
        Ok(any_end!(self.typed()?, r => r.handle().to_string()))
    }

    /// `"i64"`, `"u64"` or `"f64"`.
    #[getter]
    fn item(&self) -> PyResult<&'static str> {
        Ok(match self.typed()? {
            Typed::I64P(_) | Typed::I64C(_) => "i64",
            Typed::U64P(_) | Typed::U64C(_) => "u64",
            Typed::F64P(_) | Typed::F64C(_) => "f64",
        })
    }

    /// Number of slots.
    fn get_number_of_memories(&self) -> PyResult<usize> {
        Ok(any_end!(self.typed()?, r => r.capacity()))
    }

    /// How full the ring is, in percent (0.0 to 100.0).
    fn get_fullness(&self) -> PyResult<f64> {
        Ok(any_end!(self.typed()?, r => r.get_fullness()))
    }

    /// Slot index the consumer reads next.
    fn get_read_pointer(&self) -> PyResult<usize> {
        Ok(any_end!(self.typed()?, r => r.get_read_pointer()))
    }

    /// Slot index the producer writes next.
    fn get_write_pointer(&self) -> PyResult<usize> {
        Ok(any_end!(self.typed()?, r => r.get_write_pointer()))
    }

    /// Items written and not yet read.
    fn __len__(&self) -> PyResult<usize> {
        Ok(any_end!(self.typed()?, r => r.len()))
    }

    /// Whether a `write` would find room now (producer).
    fn can_write(&mut self) -> PyResult<bool> {
        producer!(self.typed_mut()?, r => Ok(r.can_write()))
    }

    /// Writes `value` without waiting: `shm.Full`, `shm.Closed` or
    /// `shm.PeerDead` write nothing (producer).
    fn write(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        producer!(self.typed_mut()?, r => py_result(r.write(&value.extract()?)))
    }

    /// Writes `value`, waiting up to `timeout` seconds (`None`: as long as
    /// it takes) for room (producer).
    #[pyo3(signature = (value, timeout = None))]
    fn write_blocking(&mut self, py: Python<'_>, value: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let limit = crate::wait::timeout(timeout)?;
        producer!(self.typed_mut()?, r => {
            let value = value.extract()?;
            blocking(py, limit, |slice| r.write_timeout(&value, slice))
        })
    }

    /// Writes as many of `values` (a sequence) as fit now, in order;
    /// returns how many (producer).
    fn write_many(&mut self, values: &Bound<'_, PyAny>) -> PyResult<usize> {
        producer!(self.typed_mut()?, r => {
            let values: Vec<_> = values.extract()?;
            Ok(r.write_slice(&values))
        })
    }

    /// Whether an item is ready (consumer).
    fn can_read(&mut self) -> PyResult<bool> {
        consumer!(self.typed_mut()?, r => Ok(r.can_read()))
    }

    /// The next item, or `None` if none is ready, without waiting
    /// (consumer).
    fn read(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        consumer!(self.typed_mut()?, r => r.read().map(|v| v.into_py_any(py)).transpose())
    }

    /// The next item, waiting up to `timeout` seconds (`None`: as long as
    /// it takes): `shm.Timeout` then; `shm.Closed` once the producer let
    /// go and everything was read (consumer).
    #[pyo3(signature = (timeout = None))]
    fn read_blocking(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let limit = crate::wait::timeout(timeout)?;
        consumer!(self.typed_mut()?, r => blocking(py, limit, |slice| r.read_timeout(slice))?.into_py_any(py))
    }

    /// Up to `max` items ready now, in order, as a list (consumer).
    fn read_many(&mut self, py: Python<'_>, max: usize) -> PyResult<Py<PyAny>> {
        consumer!(self.typed_mut()?, r => {
            let mut out = vec![Default::default(); max];
            let n = r.read_into(&mut out);
            out.truncate(n);
            out.into_py_any(py)
        })
    }

    /// Iterating a consumer yields items, waiting for each, until the
    /// producer lets go.
    fn __iter__(slf: PyRefMut<'_, Self>) -> PyResult<PyRefMut<'_, Self>> {
        if matches!(slf.typed, Some(Typed::I64P(_) | Typed::U64P(_) | Typed::F64P(_))) {
            return Err(WrongSide::new_err("only the consumer side of a MemoryInterface is iterable"));
        }
        Ok(slf)
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        consumer!(self.typed_mut()?, r => {
            let next = blocking(py, None, |slice| match r.read_timeout(slice) {
                Ok(item) => Ok(Some(item)),
                Err(shm_runtime::RingError::Closed { .. }) => Ok(None),
                Err(e) => Err(e),
            })?;
            next.map(|item| item.into_py_any(py)).transpose()
        })
    }

    /// Skips every item ready now; returns how many (consumer).
    fn reset_read(&mut self) -> PyResult<u64> {
        consumer!(self.typed_mut()?, r => py_result(r.reset_read()))
    }

    /// Lets go of this side; the creating end also removes the ring's
    /// name. Again: nothing.
    fn cleanup(&mut self) -> PyResult<()> {
        match self.typed.take() {
            Some(typed) => any_end!(typed, r => py_result(r.cleanup())),
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
