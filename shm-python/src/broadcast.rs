//! `Broadcast` and `Subscriber`: one publisher, many subscribers, each
//! subscriber reading every item (or, under the overwrite policy, learning
//! how many it missed); over shm-runtime's run-time-typed `DynBroadcast`
//! and `DynSubscriber`, so a Python end meets a Rust `Broadcast<T>` or
//! `Subscriber<T>` of the same item type (a number type or a
//! `shm.Struct`).

use crate::codec::{decode, encode};
use crate::errors::{Closed, Corrupt, Full, Lagged, PeerDead, RingError, Timeout, ToPyErr, TooLarge, py_result};
use crate::schema::StructType;
use crate::values::{cleaned_up, parse_handle};
use crate::wait::{SLICE, Target, open_wait, opening};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;
use shm_runtime::dynamic::{DynBroadcast, DynSubscriber, ItemType};
use shm_runtime::{BroadcastConfig, OpenOptions, Policy, PublishError, RecvError, SharedObject};
use std::time::{Duration, Instant};

impl ToPyErr for RecvError {
    fn to_py(&self) -> PyErr {
        let text = self.to_string();
        match self {
            RecvError::Lagged(_) => Lagged::new_err(text),
            RecvError::Timeout { .. } => Timeout::new_err(text),
            RecvError::Closed { .. } => Closed::new_err(text),
            RecvError::PeerDead { .. } => PeerDead::new_err(text),
            RecvError::Corrupt { .. } => Corrupt::new_err(text),
            _ => RingError::new_err(text),
        }
    }
}

impl ToPyErr for PublishError {
    fn to_py(&self) -> PyErr {
        let text = self.to_string();
        match self {
            PublishError::Timeout { .. } => Timeout::new_err(text),
            PublishError::TooLarge { .. } => TooLarge::new_err(text),
            _ => RingError::new_err(text),
        }
    }
}

/// The item type `item` names: `"i64"`, `"u64"`, `"f64"`, `"i32"`,
/// `"u32"`, `"f32"`, `"u8"`, or a `shm.Struct`.
fn item_type(item: &Bound<'_, PyAny>) -> PyResult<ItemType> {
    if let Ok(st) = item.cast::<StructType>() {
        return st.get().item_type();
    }
    let name: String =
        item.extract().map_err(|_| PyTypeError::new_err("item is a number type name or a shm.Struct"))?;
    Ok(match name.as_str() {
        "i64" => ItemType::of::<i64>(),
        "u64" => ItemType::of::<u64>(),
        "f64" => ItemType::of::<f64>(),
        "i32" => ItemType::of::<i32>(),
        "u32" => ItemType::of::<u32>(),
        "f32" => ItemType::of::<f32>(),
        "u8" => ItemType::of::<u8>(),
        other => {
            return Err(PyValueError::new_err(format!(
                "item is \"i64\", \"u64\", \"f64\", \"i32\", \"u32\", \"f32\", \"u8\" or a shm.Struct, not {other:?}"
            )));
        }
    })
}

/// `"overwrite"` or `"backpressure"`.
fn policy(name: &str) -> PyResult<Policy> {
    match name {
        "overwrite" => Ok(Policy::Overwrite),
        "backpressure" => Ok(Policy::Backpressure),
        other => Err(PyValueError::new_err(format!("policy is \"overwrite\" or \"backpressure\", not {other:?}"))),
    }
}

/// The name of `policy`.
fn policy_name(policy: Policy) -> &'static str {
    match policy {
        Policy::Backpressure => "backpressure",
        Policy::Overwrite => "overwrite",
    }
}

/// What `item` shows: the item's `shm.Struct`, else its Rust name.
fn item_of(py: Python<'_>, item: &ItemType) -> PyResult<Py<PyAny>> {
    match StructType::from_schema(item.schema()) {
        Some(st) => Ok(Py::new(py, st)?.into_any()),
        None => Ok(item.type_name().into_pyobject(py)?.into_any().unbind()),
    }
}

/// The publishing end of a broadcast: `Broadcast(capacity, item="i64",
/// policy="overwrite")`. Under `"overwrite"` a publish never waits and a
/// subscriber that falls a whole ring behind loses the oldest items
/// (`shm.Lagged` tells it how many); under `"backpressure"` nothing unread
/// is overwritten: `publish` raises `shm.Full`, `publish_blocking` waits.
#[pyclass(module = "shm")]
pub struct Broadcast {
    inner: Option<DynBroadcast>,
    /// One item's bytes (reused).
    buffer: Vec<u8>,
}

impl Broadcast {
    fn live(&mut self) -> PyResult<(&mut DynBroadcast, &mut Vec<u8>)> {
        match self.inner.as_mut() {
            Some(b) => {
                self.buffer.resize(b.item_type().size(), 0);
                Ok((b, &mut self.buffer))
            }
            None => Err(cleaned_up("Broadcast")),
        }
    }

    fn get(&self) -> PyResult<&DynBroadcast> {
        self.inner.as_ref().ok_or_else(|| cleaned_up("Broadcast"))
    }

    fn config(
        capacity: usize,
        policy_name: &str,
        max_subscribers: Option<usize>,
        history: usize,
    ) -> PyResult<BroadcastConfig> {
        let mut config = BroadcastConfig::new(capacity, policy(policy_name)?).history(history);
        if let Some(n) = max_subscribers {
            config = config.max_subscribers(n);
        }
        Ok(config)
    }
}

#[pymethods]
impl Broadcast {
    /// Creates a broadcast of `capacity` items of type `item` under a
    /// generated name; `max_subscribers` at a time (default 64), and a
    /// late subscriber starts with up to `history` past items.
    #[new]
    #[pyo3(signature = (capacity, item = None, policy = "overwrite", max_subscribers = None, history = 0))]
    fn new(
        capacity: usize,
        item: Option<&Bound<'_, PyAny>>,
        policy: &str,
        max_subscribers: Option<usize>,
        history: usize,
    ) -> PyResult<Self> {
        let item = item.map_or_else(|| Ok(ItemType::of::<i64>()), item_type)?;
        let config = Self::config(capacity, policy, max_subscribers, history)?;
        Ok(Self { inner: Some(py_result(DynBroadcast::create(&item, &config))?), buffer: Vec::new() })
    }

    /// Creates a broadcast like the constructor, under `name`.
    #[classmethod]
    #[pyo3(signature = (name, capacity, item = None, policy = "overwrite", max_subscribers = None, history = 0))]
    fn create_named(
        _cls: &Bound<'_, PyType>,
        name: &str,
        capacity: usize,
        item: Option<&Bound<'_, PyAny>>,
        policy: &str,
        max_subscribers: Option<usize>,
        history: usize,
    ) -> PyResult<Self> {
        let item = item.map_or_else(|| Ok(ItemType::of::<i64>()), item_type)?;
        let config = Self::config(capacity, policy, max_subscribers, history)?;
        Ok(Self { inner: Some(py_result(DynBroadcast::create_named(name, &item, &config))?), buffer: Vec::new() })
    }

    /// The handle (a `str`) subscribers pass to
    /// `Subscriber.load_sharedobject`.
    #[getter]
    fn handle(&self) -> PyResult<String> {
        Ok(self.get()?.handle().to_string())
    }

    /// The segment's name.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.get()?.name().as_str().to_owned())
    }

    /// The item type: a `shm.Struct`, or the number type's name.
    #[getter]
    fn item(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        item_of(py, self.get()?.item_type())
    }

    /// `"overwrite"` or `"backpressure"`.
    #[getter]
    fn policy(&self) -> PyResult<&'static str> {
        Ok(policy_name(self.get()?.policy()))
    }

    /// Number of slots.
    #[getter]
    fn capacity(&self) -> PyResult<usize> {
        Ok(self.get()?.capacity())
    }

    /// Items published so far.
    #[getter]
    fn published(&self) -> PyResult<u64> {
        Ok(self.get()?.published())
    }

    /// Subscribers attached now.
    #[getter]
    fn subscriber_count(&self) -> PyResult<usize> {
        Ok(self.get()?.subscriber_count())
    }

    /// Publishes `value` without waiting; under backpressure a full ring
    /// raises `shm.Full` and writes nothing.
    fn publish(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (b, buffer) = self.live()?;
        encode(value, b.item_type().schema(), buffer, b.item_type().type_name())?;
        b.publish(buffer).map_err(|e| match e {
            shm_runtime::SendError::Full => Full::new_err(e.to_string()),
            other => other.to_py(),
        })
    }

    /// Publishes `value`, waiting up to `timeout` seconds (`None`: as
    /// long as it takes) for the slowest subscriber to make room
    /// (backpressure); releases the GIL, Ctrl-C interrupts within 50 ms.
    #[pyo3(signature = (value, timeout = None))]
    fn publish_blocking(&mut self, py: Python<'_>, value: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let limit = crate::wait::timeout(timeout)?;
        let (b, buffer) = self.live()?;
        encode(value, b.item_type().schema(), buffer, b.item_type().type_name())?;
        match b.publish(buffer) {
            Err(shm_runtime::SendError::Full) => {}
            other => return py_result(other),
        }
        let deadline = limit.and_then(|l| Instant::now().checked_add(l));
        let item: &[u8] = buffer;
        loop {
            let slice = deadline.map_or(SLICE, |d| d.saturating_duration_since(Instant::now()).min(SLICE));
            match py.detach(|| b.publish_timeout(item, slice)) {
                Ok(()) => return Ok(()),
                Err(PublishError::Timeout { name, .. }) => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        let waited = limit.unwrap_or_default();
                        return Err(PublishError::Timeout { name, waited }.to_py());
                    }
                }
                Err(e) => return Err(e.to_py()),
            }
        }
    }

    /// A subscriber in this process (see `Subscriber`).
    fn subscribe(&self) -> PyResult<Subscriber> {
        Ok(Subscriber::wrap(py_result(self.get()?.subscribe())?))
    }

    /// Lets go: subscribers read what is left, then get `shm.Closed`; the
    /// name goes with the last end. Again: nothing.
    fn cleanup(&mut self) -> PyResult<()> {
        match self.inner.take() {
            Some(b) => py_result(b.cleanup()),
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

/// A subscriber of a broadcast: `Subscriber.load_sharedobject(handle)` (or
/// `open(name)`), with the item type the segment records or, with `item`,
/// exactly that one. `read`, `read_blocking` and iteration (which waits
/// for each item and ends when the publisher lets go; items lost to the
/// overwrite policy are counted in `missed` and skipped).
#[pyclass(module = "shm")]
pub struct Subscriber {
    inner: Option<DynSubscriber>,
    /// One item's bytes (reused).
    buffer: Vec<u8>,
    /// Items lost to overwriting that iteration skipped.
    missed: u64,
}

impl Subscriber {
    fn wrap(inner: DynSubscriber) -> Self {
        Self { inner: Some(inner), buffer: Vec::new(), missed: 0 }
    }

    fn live(&mut self) -> PyResult<(&mut DynSubscriber, &mut Vec<u8>)> {
        match self.inner.as_mut() {
            Some(s) => {
                self.buffer.resize(s.item_type().size(), 0);
                Ok((s, &mut self.buffer))
            }
            None => Err(cleaned_up("Subscriber")),
        }
    }

    fn get(&self) -> PyResult<&DynSubscriber> {
        self.inner.as_ref().ok_or_else(|| cleaned_up("Subscriber"))
    }

    /// Waits up to `limit` (`None`: no limit) for the next item, in
    /// slices without the GIL, Python's signals run between them. With
    /// `skip_lag`, items lost to overwriting are counted in `missed` and
    /// the wait goes on; without, they are `shm.Lagged`.
    fn wait_next(&mut self, py: Python<'_>, limit: Option<Duration>, skip_lag: bool) -> PyResult<()> {
        let Some(s) = self.inner.as_mut() else { return Err(cleaned_up("Subscriber")) };
        self.buffer.resize(s.item_type().size(), 0);
        let buffer = &mut self.buffer;
        let deadline = limit.and_then(|l| Instant::now().checked_add(l));
        let mut first = true;
        loop {
            let slice = deadline.map_or(SLICE, |d| d.saturating_duration_since(Instant::now()).min(SLICE));
            // The first look is made holding the GIL: an item ready now
            // costs no release.
            let got = if first {
                first = false;
                match s.recv(buffer) {
                    Ok(true) => Ok(()),
                    Ok(false) => continue,
                    Err(e) => Err(e),
                }
            } else {
                py.detach(|| s.recv_timeout(buffer, slice))
            };
            match got {
                Ok(()) => return Ok(()),
                Err(RecvError::Lagged(n)) if skip_lag => self.missed += n,
                Err(RecvError::Timeout { name, .. }) => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        let waited = limit.unwrap_or_default();
                        return Err(RecvError::Timeout { name, waited }.to_py());
                    }
                }
                Err(e) => return Err(e.to_py()),
            }
        }
    }

    fn value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let s = self.get()?;
        decode(py, s.item_type().schema(), &self.buffer)
    }
}

#[pymethods]
impl Subscriber {
    /// Subscribes to the broadcast `handle` names (see the class).
    #[classmethod]
    #[pyo3(signature = (handle, item = None, timeout = None))]
    fn load_sharedobject(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        handle: &str,
        item: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let handle = parse_handle(handle)?;
        let item = item.map(item_type).transpose()?;
        let wait = open_wait(timeout)?;
        let inner = opening(py, Target::Handle, wait, |slice| {
            DynSubscriber::load(&handle, item.as_ref(), &OpenOptions::new().wait(slice))
        })?;
        Ok(Self::wrap(inner))
    }

    /// Subscribes to the broadcast named `name`, waiting up to `timeout`
    /// seconds for it to appear.
    #[classmethod]
    #[pyo3(signature = (name, item = None, timeout = None))]
    fn open(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        item: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let item = item.map(item_type).transpose()?;
        let wait = open_wait(timeout)?;
        let inner = opening(py, Target::Name, wait, |slice| {
            DynSubscriber::open_by_name(name, item.as_ref(), &OpenOptions::new().wait(slice))
        })?;
        Ok(Self::wrap(inner))
    }

    /// The item type: a `shm.Struct`, or the number type's name.
    #[getter]
    fn item(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        item_of(py, self.get()?.item_type())
    }

    /// The handle (a `str`) of the broadcast.
    #[getter]
    fn handle(&self) -> PyResult<String> {
        Ok(self.get()?.handle().to_string())
    }

    /// `"overwrite"` or `"backpressure"`.
    #[getter]
    fn policy(&self) -> PyResult<&'static str> {
        Ok(policy_name(self.get()?.policy()))
    }

    /// Items lost to overwriting that iteration skipped so far.
    #[getter]
    fn missed(&self) -> u64 {
        self.missed
    }

    /// Items published and not read yet.
    fn __len__(&self) -> PyResult<usize> {
        Ok(self.get()?.len())
    }

    /// The next item, or `None` if none is ready; `shm.Lagged` if items
    /// were overwritten before this subscriber read them (the next read
    /// goes on with the oldest left), `shm.Closed` once the publisher let
    /// go and everything was read.
    fn read(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let (s, buffer) = self.live()?;
        if !s.recv(buffer).map_err(|e| e.to_py())? {
            return Ok(None);
        }
        self.value(py).map(Some)
    }

    /// The next item, waiting up to `timeout` seconds (`None`: as long as
    /// it takes): `shm.Timeout` then. Releases the GIL; Ctrl-C interrupts
    /// within 50 ms.
    #[pyo3(signature = (timeout = None))]
    fn read_blocking(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let limit = crate::wait::timeout(timeout)?;
        self.wait_next(py, limit, false)?;
        self.value(py)
    }

    /// Skips every item published so far; returns how many.
    fn skip_all(&mut self) -> PyResult<u64> {
        let (s, _) = self.live()?;
        s.skip_all().map_err(|e| e.to_py())
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.wait_next(py, None, true) {
            Ok(()) => self.value(py).map(Some),
            Err(e) if e.is_instance_of::<Closed>(py) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lets go of this subscription. Again: nothing.
    fn cleanup(&mut self) -> PyResult<()> {
        match self.inner.take() {
            Some(s) => py_result(s.cleanup()),
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
