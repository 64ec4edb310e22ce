//! `MemoryInterface`: a ring of scalar items (`i64`, `u64` or `f64`)
//! between one producer and one consumer process, over shm-runtime's
//! `MemoryInterface<T>`; a Rust `MemoryInterface<u64>` (say) and a Python
//! one with `item="u64"` are the same ring. Items of struct types wait for
//! the schema of shm-runtime's segments.

use crate::codec::{decode, encode};
use crate::errors::{Closed, Full, PeerDead, RingError, ToPyErr, WrongSide, py_result};
use crate::schema::StructType;
use crate::values::{cleaned_up, parse_handle};
use crate::wait::{Target, blocking, open_wait, opening};
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;
use shm_runtime::dynamic::{DynRing, ItemType};
use shm_runtime::{Consumer, Producer, Ring, SharedObject, TryWriteError};

/// What `item` shows for a ring of a run-time type: its `shm.Struct`,
/// else its name.
fn dyn_item(py: Python<'_>, item: &ItemType) -> PyResult<Py<PyAny>> {
    match StructType::from_schema(item.schema()) {
        Some(st) => Ok(Py::new(py, st)?.into_any()),
        None => item.type_name().into_py_any(py),
    }
}

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
    /// Items of a type known at run time (a `shm.Struct`, or the type a
    /// segment records), producer side.
    DynP(DynRing<Producer>),
    /// The same, consumer side.
    DynC(DynRing<Consumer>),
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
            Typed::DynP($r) => $body,
            Typed::DynC($r) => $body,
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
            Typed::DynP(_) => unreachable!("struct rings are handled before"),
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
            Typed::DynC(_) => unreachable!("struct rings are handled before"),
            _ => Err(WrongSide::new_err("this MemoryInterface holds the producer side; reading needs the consumer")),
        }
    };
}

/// Builds the end for `item` and `side` from `$make`, a generic call
/// (`$make` is expanded once per item type and side).
macro_rules! make {
    ($item:expr, $side:expr, $make:expr, $make_dyn:expr) => {{
        let producer = match $side {
            "producer" => true,
            "consumer" => false,
            other => {
                return Err(PyValueError::new_err(format!("side is \"producer\" or \"consumer\", not {other:?}")));
            }
        };
        let scalar = match &$item {
            ItemArg::Scalar(name) => name.as_str(),
            ItemArg::Dyn(item) => {
                let item: Option<&ItemType> = item.as_ref();
                return Ok(Self::wrap(if producer {
                    Typed::DynP(($make_dyn)(item)?)
                } else {
                    Typed::DynC(($make_dyn)(item)?)
                }));
            }
        };
        match (scalar, producer) {
            ("i64", true) => Typed::I64P($make?),
            ("i64", false) => Typed::I64C($make?),
            ("u64", true) => Typed::U64P($make?),
            ("u64", false) => Typed::U64C($make?),
            ("f64", true) => Typed::F64P($make?),
            ("f64", false) => Typed::F64C($make?),
            (other, _) => {
                return Err(PyValueError::new_err(format!(
                    "item is \"i64\", \"u64\", \"f64\" or a shm.Struct, not {other:?}"
                )));
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
    /// One item's bytes, for rings of run-time types (reused).
    buffer: Vec<u8>,
}

/// What the `item` argument names: a scalar type by name, or a type known
/// at run time (`None`: the one the segment records).
enum ItemArg {
    /// `"i64"`, `"u64"` or `"f64"` (checked by `make!`).
    Scalar(String),
    /// A `shm.Struct`, or `None` when opening: the segment's type.
    Dyn(Option<ItemType>),
}

/// `item` as given to a constructor: a type name, a `shm.Struct`, or
/// `None` (only when opening: the type the segment records).
fn item_arg(item: Option<&Bound<'_, PyAny>>) -> PyResult<ItemArg> {
    let Some(item) = item else { return Ok(ItemArg::Dyn(None)) };
    if let Ok(st) = item.cast::<StructType>() {
        return Ok(ItemArg::Dyn(Some(st.get().item_type()?)));
    }
    match item.extract::<String>() {
        Ok(name) => Ok(ItemArg::Scalar(name)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "item is \"i64\", \"u64\", \"f64\" or a shm.Struct, not {}",
            item.repr()?
        ))),
    }
}

/// The item type a creator needs (`None` is refused).
fn created(item: Option<&ItemType>) -> PyResult<&ItemType> {
    item.ok_or_else(|| PyValueError::new_err("creating a ring needs its item type"))
}

impl MemoryInterface {
    fn typed(&self) -> PyResult<&Typed> {
        self.typed.as_ref().ok_or_else(|| cleaned_up("MemoryInterface"))
    }

    fn typed_mut(&mut self) -> PyResult<&mut Typed> {
        self.typed.as_mut().ok_or_else(|| cleaned_up("MemoryInterface"))
    }

    fn wrap(typed: Typed) -> Self {
        Self { typed: Some(typed), buffer: Vec::new() }
    }

    /// The ring of a run-time type with the item buffer sized for it, if
    /// that is what this holds.
    fn dynamic(&mut self) -> Option<(&mut Typed, &mut Vec<u8>)> {
        match &mut self.typed {
            Some(typed @ (Typed::DynP(_) | Typed::DynC(_))) => {
                let size = match typed {
                    Typed::DynP(r) => r.item_type().size(),
                    Typed::DynC(r) => r.item_type().size(),
                    _ => 0,
                };
                self.buffer.resize(size, 0);
                Some((typed, &mut self.buffer))
            }
            _ => None,
        }
    }
}

#[pymethods]
impl MemoryInterface {
    /// Creates a ring of `nr_of_memories` items of type `item` under a
    /// generated name, and holds its `side`.
    #[classmethod]
    #[pyo3(signature = (nr_of_memories, item = None, side = "producer"))]
    fn create_memorybuf(
        _cls: &Bound<'_, PyType>,
        nr_of_memories: usize,
        item: Option<&Bound<'_, PyAny>>,
        side: &str,
    ) -> PyResult<Self> {
        let item = match item {
            None => ItemArg::Scalar("i64".to_owned()),
            given => item_arg(given)?,
        };
        Ok(Self::wrap(make!(item, side, py_result(Mi::create_memorybuf(nr_of_memories)), |item| py_result(
            DynRing::create(created(item)?, nr_of_memories)
        ))))
    }

    /// Creates a ring like `create_memorybuf` under `name`.
    #[classmethod]
    #[pyo3(signature = (name, nr_of_memories, item = None, side = "producer"))]
    fn create_named(
        _cls: &Bound<'_, PyType>,
        name: &str,
        nr_of_memories: usize,
        item: Option<&Bound<'_, PyAny>>,
        side: &str,
    ) -> PyResult<Self> {
        let item = match item {
            None => ItemArg::Scalar("i64".to_owned()),
            given => item_arg(given)?,
        };
        Ok(Self::wrap(make!(item, side, py_result(Mi::create_named(name, nr_of_memories)), |item| py_result(
            DynRing::create_named(name, created(item)?, nr_of_memories)
        ))))
    }

    /// Opens the ring `handle` names, of items of type `item` (`None`:
    /// the type the segment records), and claims its `side` (default: the
    /// consumer). Another item type is `shm.LayoutMismatch`, naming the
    /// first field that differs.
    #[classmethod]
    #[pyo3(signature = (handle, item = None, side = "consumer", timeout = None))]
    fn load_memorybuf(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        handle: &str,
        item: Option<&Bound<'_, PyAny>>,
        side: &str,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let handle = parse_handle(handle)?;
        let wait = open_wait(timeout)?;
        let item = item_arg(item)?;
        Ok(Self::wrap(make!(
            item,
            side,
            opening(py, Target::Handle, wait, |slice| Mi::load_sharedobject_timeout(&handle, slice)),
            |item: Option<&ItemType>| opening(py, Target::Handle, wait, |slice| DynRing::load(
                &handle,
                item,
                &shm_runtime::OpenOptions::new().wait(slice)
            ))
        )))
    }

    /// Opens the ring named `name` (see `load_memorybuf`).
    #[classmethod]
    #[pyo3(signature = (name, item = None, side = "consumer", timeout = None))]
    fn open(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        item: Option<&Bound<'_, PyAny>>,
        side: &str,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let wait = open_wait(timeout)?;
        let item = item_arg(item)?;
        Ok(Self::wrap(make!(
            item,
            side,
            opening(py, Target::Name, wait, |slice| Mi::open_with(name, &shm_runtime::OpenOptions::new().wait(slice))),
            |item: Option<&ItemType>| opening(py, Target::Name, wait, |slice| DynRing::open_by_name(
                name,
                item,
                &shm_runtime::OpenOptions::new().wait(slice)
            ))
        )))
    }

    /// The handle (a `str`) the other side passes to `load_memorybuf`.
    #[getter]
    fn handle(&self) -> PyResult<String> {
        Ok(any_end!(self.typed()?, r => r.handle().to_string()))
    }

    /// `"i64"`, `"u64"` or `"f64"`, or the `shm.Struct` of the items
    /// (for a ring of another type: the Rust name of its type).
    #[getter]
    fn item(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let name = match self.typed()? {
            Typed::I64P(_) | Typed::I64C(_) => "i64",
            Typed::U64P(_) | Typed::U64C(_) => "u64",
            Typed::F64P(_) | Typed::F64C(_) => "f64",
            Typed::DynP(r) => return dyn_item(py, r.item_type()),
            Typed::DynC(r) => return dyn_item(py, r.item_type()),
        };
        name.into_py_any(py)
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
        if let Some(Typed::DynP(r)) = &mut self.typed {
            return Ok(r.can_write());
        }
        producer!(self.typed_mut()?, r => Ok(r.can_write()))
    }

    /// Writes `value` without waiting: `shm.Full`, `shm.Closed` or
    /// `shm.PeerDead` write nothing (producer).
    fn write(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Some((Typed::DynP(r), buffer)) = self.dynamic() {
            encode(value, r.item_type().schema(), buffer, r.item_type().type_name())?;
            return py_result(r.write(buffer));
        }
        producer!(self.typed_mut()?, r => py_result(r.write(&value.extract()?)))
    }

    /// Writes `value`, waiting up to `timeout` seconds (`None`: as long as
    /// it takes) for room (producer).
    #[pyo3(signature = (value, timeout = None))]
    fn write_blocking(&mut self, py: Python<'_>, value: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let limit = crate::wait::timeout(timeout)?;
        if let Some((Typed::DynP(r), buffer)) = self.dynamic() {
            encode(value, r.item_type().schema(), buffer, r.item_type().type_name())?;
            let item: &[u8] = buffer;
            return match r.write(item) {
                Err(shm_runtime::SendError::Full) => blocking(py, limit, |slice| r.write_timeout(item, slice)),
                other => py_result(other),
            };
        }
        producer!(self.typed_mut()?, r => {
            let value = value.extract()?;
            blocking(py, limit, |slice| r.write_timeout(&value, slice))
        })
    }

    /// Writes as many of `values` (a sequence) as fit now, in order;
    /// returns how many (producer).
    fn write_many(&mut self, values: &Bound<'_, PyAny>) -> PyResult<usize> {
        if let Some((Typed::DynP(r), buffer)) = self.dynamic() {
            let mut sent = 0;
            for value in values.try_iter()? {
                if !r.can_write() {
                    break;
                }
                encode(&value?, r.item_type().schema(), buffer, r.item_type().type_name())?;
                py_result(r.write(buffer))?;
                sent += 1;
            }
            return Ok(sent);
        }
        producer!(self.typed_mut()?, r => {
            let values: Vec<_> = values.extract()?;
            Ok(r.write_slice(&values))
        })
    }

    /// Whether an item is ready (consumer).
    fn can_read(&mut self) -> PyResult<bool> {
        if let Some(Typed::DynC(r)) = &mut self.typed {
            return Ok(r.can_read());
        }
        consumer!(self.typed_mut()?, r => Ok(r.can_read()))
    }

    /// The next item, or `None` if none is ready, without waiting
    /// (consumer).
    fn read(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if let Some((Typed::DynC(r), buffer)) = self.dynamic() {
            if !py_result(r.read(buffer))? {
                return Ok(None);
            }
            return decode(py, r.item_type().schema(), buffer).map(Some);
        }
        consumer!(self.typed_mut()?, r => r.read().map(|v| v.into_py_any(py)).transpose())
    }

    /// The next item, waiting up to `timeout` seconds (`None`: as long as
    /// it takes): `shm.Timeout` then; `shm.Closed` once the producer let
    /// go and everything was read (consumer).
    #[pyo3(signature = (timeout = None))]
    fn read_blocking(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let limit = crate::wait::timeout(timeout)?;
        if let Some((Typed::DynC(r), buffer)) = self.dynamic() {
            if !py_result(r.read(buffer))? {
                blocking(py, limit, |slice| r.read_timeout(buffer, slice))?;
            }
            return decode(py, r.item_type().schema(), buffer);
        }
        consumer!(self.typed_mut()?, r => blocking(py, limit, |slice| r.read_timeout(slice))?.into_py_any(py))
    }

    /// Up to `max` items ready now, in order, as a numpy array (a
    /// structured one for struct items) that owns its memory (consumer;
    /// needs numpy).
    fn read_numpy<'py>(&mut self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        let (bytes, dtype) = if let Some((Typed::DynC(r), buffer)) = self.dynamic() {
            let mut out = Vec::with_capacity(buffer.len() * max.min(4096));
            let mut n = 0;
            while n < max && py_result(r.read(buffer))? {
                out.extend_from_slice(buffer);
                n += 1;
            }
            (out, crate::schema::numpy_dtype(py, r.item_type().schema())?)
        } else {
            fn take<T: shm_runtime::SharedState + Copy + Default, const N: usize>(
                r: &mut Mi<T, Consumer>,
                max: usize,
                to_bytes: fn(T) -> [u8; N],
            ) -> Vec<u8> {
                let mut items = vec![T::default(); max];
                let n = r.read_into(&mut items);
                items[..n].iter().flat_map(|&v| to_bytes(v)).collect()
            }
            let (bytes, name) = match self.typed_mut()? {
                Typed::I64C(r) => (take(r, max, i64::to_ne_bytes), "i64"),
                Typed::U64C(r) => (take(r, max, u64::to_ne_bytes), "u64"),
                Typed::F64C(r) => (take(r, max, f64::to_ne_bytes), "f64"),
                _ => {
                    return Err(WrongSide::new_err(
                        "this MemoryInterface holds the producer side; reading needs the consumer",
                    ));
                }
            };
            (bytes, py.import("shm._numpy")?.call_method1("scalar_dtype", (name,))?)
        };
        py.import("shm._numpy")?.call_method1("array", (pyo3::types::PyByteArray::new(py, &bytes), dtype))
    }

    /// Up to `max` items ready now, in order, as a list (consumer).
    fn read_many(&mut self, py: Python<'_>, max: usize) -> PyResult<Py<PyAny>> {
        if let Some((Typed::DynC(r), buffer)) = self.dynamic() {
            let list = pyo3::types::PyList::empty(py);
            while list.len() < max && py_result(r.read(buffer))? {
                list.append(decode(py, r.item_type().schema(), buffer)?)?;
            }
            return Ok(list.into_any().unbind());
        }
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
        if matches!(slf.typed, Some(Typed::I64P(_) | Typed::U64P(_) | Typed::F64P(_) | Typed::DynP(_))) {
            return Err(WrongSide::new_err("only the consumer side of a MemoryInterface is iterable"));
        }
        Ok(slf)
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if let Some((Typed::DynC(r), buffer)) = self.dynamic() {
            if !py_result(r.read(buffer))? {
                let more = blocking(py, None, |slice| match r.read_timeout(buffer, slice) {
                    Ok(()) => Ok(true),
                    Err(shm_runtime::RingError::Closed { .. }) => Ok(false),
                    Err(e) => Err(e),
                })?;
                if !more {
                    return Ok(None);
                }
            }
            return decode(py, r.item_type().schema(), buffer).map(Some);
        }
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
        if let Some(Typed::DynC(r)) = &mut self.typed {
            return py_result(r.reset_read());
        }
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
