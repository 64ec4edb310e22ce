//! `ByteRing`: a ring of byte messages between one producer process and
//! one consumer process; one Python class holding either side.

use crate::errors::{Closed, PeerDead, Timeout, WrongSide, py_result};
use crate::values::{cleaned_up, live, parse_handle};
use crate::wait::{SPIN_BEFORE_SLEEP, Target, blocking, open_wait, opening};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyType};
use shm_runtime::{Consumer, Producer, Ring, RingError, SharedObject};
use std::mem::MaybeUninit;

/// The side a `ByteRing` holds.
enum Side {
    /// Writes messages.
    Producer(shm_runtime::ByteRing<Producer>),
    /// Reads them.
    Consumer(shm_runtime::ByteRing<Consumer>),
}

/// `Side`'s methods that both ring ends have, whichever it holds.
macro_rules! either {
    ($side:expr, $ring:ident => $body:expr) => {
        match $side {
            Side::Producer($ring) => $body,
            Side::Consumer($ring) => $body,
        }
    };
}

/// `"producer"` or `"consumer"` as a side to hold: whether it is the
/// producer.
fn is_producer(side: &str) -> PyResult<bool> {
    match side {
        "producer" => Ok(true),
        "consumer" => Ok(false),
        _ => Err(PyValueError::new_err(format!("side is \"producer\" or \"consumer\", not {side:?}"))),
    }
}

/// A ring of byte messages (each up to `slot_size` bytes) in shared
/// memory, between one producer and one consumer process. Nothing is
/// overwritten: a full ring refuses a write (`shm.Full`) or makes a
/// blocking write wait. Blocking calls release the GIL and let Ctrl-C
/// through within 50 ms.
#[pyclass(module = "shm")]
pub struct ByteRing {
    side: Option<Side>,
    /// The consumer's message buffer.
    inbox: Inbox,
}

/// The consumer's message buffer, reused from one read to the next so that
/// a read allocates only the object it returns; it may hold a message a
/// waiting `can_read` took from the ring and no read has returned yet.
#[derive(Default)]
struct Inbox {
    buffer: Vec<u8>,
    /// `buffer` holds a message taken from the ring, not yet returned.
    held: bool,
    /// Where `read_with` puts a message together from fragments (rare: a
    /// message in one slot is copied straight from the slot).
    scratch: Vec<u8>,
}

/// The C API's `PyBUF_READ` (a read-only memoryview), part of the stable
/// ABI's `PyMemoryView_FromMemory` contract; pyo3's ffi does not name it.
const PYBUF_READ: std::os::raw::c_int = 0x100;

/// `pickle.loads`, looked up once.
static PICKLE_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `pickle.dumps`, looked up once.
static PICKLE_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// How `_write_pickle` pickles a `bytes` object: these 4 bytes, the
/// length (`u32`, little-endian), the bytes, then [`BYTES_PICKLE_END`].
/// As pickle opcodes: `K\x00` `0` (push 0, pop it: 3 bytes that put the
/// payload on a word boundary of the slot, where it is copied by vector
/// moves), `B` (BINBYTES, its length and bytes), `.` (STOP). Any
/// `pickle.loads` returns the same `bytes` from it; it is 9 bytes longer
/// than the payload, never longer than `pickle.dumps` makes it (9 bytes
/// more from 64 KiB up, 15 or 18 below), so it fits every slot sized by
/// `pickle.dumps` of the largest object.
const BYTES_PICKLE_HEAD: [u8; 4] = *b"K\x000B";
/// The STOP opcode ending a pickle.
const BYTES_PICKLE_END: u8 = b'.';
/// Bytes a pickle of `bytes` adds to them.
const BYTES_PICKLE_EXTRA: usize = 9;

/// The first 8 bytes of the pickle `_write_pickle` writes for `len`
/// bytes; `None` past BINBYTES's 4 GiB.
fn bytes_pickle_head(len: usize) -> Option<[u8; 8]> {
    let len = u32::try_from(len).ok()?.to_le_bytes();
    let mut head = [0; 8];
    head[..4].copy_from_slice(&BYTES_PICKLE_HEAD);
    head[4..].copy_from_slice(&len);
    Some(head)
}

/// The payload of `message` if it is exactly a pickle `_write_pickle`
/// writes for a `bytes` object (checked whole: its head names the length
/// the rest has); anything else goes through `pickle.loads`.
fn bytes_pickle_payload(message: &[u8]) -> Option<&[u8]> {
    let payload = message.len().checked_sub(BYTES_PICKLE_EXTRA)?;
    let (head, rest) = message.split_at(8);
    (Some(head) == bytes_pickle_head(payload).as_ref().map(<[u8; 8]>::as_slice)
        && rest.last() == Some(&BYTES_PICKLE_END))
    .then(|| &rest[..payload])
}

/// A message `_read_pickle` took from its slot.
enum Taken<'py> {
    /// A pickled `bytes` object, built straight from the slot.
    Bytes(PyResult<Bound<'py, PyBytes>>),
    /// Anything else, copied into the inbox's buffer for `pickle.loads`.
    Buffered,
}

/// A buffer that grew past this many bytes (a long message put together
/// from fragments) is let go after the read that needed it.
const KEEP_BUFFER: usize = 1 << 20;

/// A new `bytes` of `len` bytes, filled by `fill` (which writes every
/// byte of the uninitialised buffer it gets: not zeroed first).
fn new_bytes(py: Python<'_>, len: usize, fill: impl FnOnce(&mut [MaybeUninit<u8>])) -> PyResult<Bound<'_, PyBytes>> {
    let size = isize::try_from(len).map_err(|_| PyValueError::new_err("message too long"))?;
    // SAFETY: a null pointer asks for an object of `size` bytes left
    // uninitialised; the result is a new reference or null with an
    // exception set.
    let raw = unsafe { pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), size) };
    // SAFETY: `raw` is a new reference or null with an exception set.
    let bytes = unsafe { Bound::from_owned_ptr_or_err(py, raw) }?.cast_into::<PyBytes>()?;
    // SAFETY: `bytes` is a `bytes` object: its buffer (of `len` bytes and
    // a terminating 0) lives as long as the object.
    let data = unsafe { pyo3::ffi::PyBytes_AsString(bytes.as_ptr()) };
    // SAFETY: `data` points to `len` bytes owned by `bytes`, which lives
    // through this function and is referenced nowhere else yet (new, not
    // returned yet), so nothing else reads or writes them meanwhile;
    // `MaybeUninit<u8>` asks nothing of their contents.
    let buffer = unsafe { std::slice::from_raw_parts_mut(data.cast::<MaybeUninit<u8>>(), len) };
    fill(buffer);
    Ok(bytes)
}

/// A new `bytearray` of `len` bytes, filled by `fill` as in [`new_bytes`].
fn new_bytearray(
    py: Python<'_>,
    len: usize,
    fill: impl FnOnce(&mut [MaybeUninit<u8>]),
) -> PyResult<Bound<'_, PyByteArray>> {
    let size = isize::try_from(len).map_err(|_| PyValueError::new_err("message too long"))?;
    // SAFETY: as for `PyBytes_FromStringAndSize` in `new_bytes`.
    let raw = unsafe { pyo3::ffi::PyByteArray_FromStringAndSize(std::ptr::null(), size) };
    // SAFETY: `raw` is a new reference or null with an exception set.
    let array = unsafe { Bound::from_owned_ptr_or_err(py, raw) }?.cast_into::<PyByteArray>()?;
    // SAFETY: `array` is a `bytearray`: its buffer holds `len` bytes and
    // stays put until the object is resized, which nobody can do before
    // this function returns it.
    let data = unsafe { pyo3::ffi::PyByteArray_AsString(array.as_ptr()) };
    // SAFETY: as in `new_bytes`: `len` bytes owned by a new object nobody
    // else references yet.
    let buffer = unsafe { std::slice::from_raw_parts_mut(data.cast::<MaybeUninit<u8>>(), len) };
    fill(buffer);
    Ok(array)
}

/// The outcome of a wait for room or for a message: `true` once it came,
/// `false` if the wait ran out or the other side is gone (the next write
/// or read reports that); other errors (Ctrl-C, corruption) are raised.
fn ended_wait(py: Python<'_>, waited: PyResult<()>) -> PyResult<bool> {
    match waited {
        Ok(()) => Ok(true),
        Err(e)
            if e.is_instance_of::<Timeout>(py)
                || e.is_instance_of::<Closed>(py)
                || e.is_instance_of::<PeerDead>(py) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

impl ByteRing {
    fn side(&self) -> PyResult<&Side> {
        live(self.side.as_ref(), "ByteRing")
    }

    fn producer(&mut self) -> PyResult<&mut shm_runtime::ByteRing<Producer>> {
        match self.side.as_mut() {
            Some(Side::Producer(ring)) => Ok(ring),
            Some(Side::Consumer(_)) => {
                Err(WrongSide::new_err("this ByteRing holds the consumer side; writing needs the producer"))
            }
            None => Err(cleaned_up("ByteRing")),
        }
    }

    fn consumer(&mut self) -> PyResult<(&mut shm_runtime::ByteRing<Consumer>, &mut Inbox)> {
        match self.side.as_mut() {
            Some(Side::Consumer(ring)) => Ok((ring, &mut self.inbox)),
            Some(Side::Producer(_)) => {
                Err(WrongSide::new_err("this ByteRing holds the producer side; reading needs the consumer"))
            }
            None => Err(cleaned_up("ByteRing")),
        }
    }

    fn wrap(side: Side) -> Self {
        Self { side: Some(side), inbox: Inbox::default() }
    }

    /// `can_write` with its wait converted (`None`: no limit).
    pub(crate) fn can_write_within(&mut self, py: Python<'_>, wait: Option<std::time::Duration>) -> PyResult<bool> {
        let ring = self.producer()?;
        if ring.can_write() {
            return Ok(true);
        }
        if wait.is_some_and(|w| w.is_zero()) {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        let spin = wait.map_or(SPIN_BEFORE_SLEEP, |w| w.min(SPIN_BEFORE_SLEEP));
        if crate::wait::spin(py, spin, || ring.can_write()) {
            return Ok(true);
        }
        let wait = wait.map(|w| w.saturating_sub(started.elapsed()));
        ended_wait(py, blocking(py, wait, |slice| ring.wait_writable(slice)))
    }

    /// `can_read` with its wait converted (`None`: no limit).
    pub(crate) fn can_read_within(&mut self, py: Python<'_>, wait: Option<std::time::Duration>) -> PyResult<bool> {
        let mut deadline = None;
        let (ring, inbox) = self.consumer()?;
        let mut spun = false;
        loop {
            // A message whole in one slot stays there: the read copies it
            // straight from the slot.
            if inbox.held || ring.peek_len().is_some() {
                return Ok(true);
            }
            // Anything else ready (fragments, marks) is taken: what `read`
            // returns is whole or absent.
            if ring.can_read() && py_result(ring.read(&mut inbox.buffer))? {
                inbox.held = true;
                return Ok(true);
            }
            // Read at the first miss: an item ready at once costs no
            // look at the clock.
            let deadline = *deadline.get_or_insert_with(|| wait.and_then(|w| std::time::Instant::now().checked_add(w)));
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Ok(false);
            }
            if !spun {
                // A short spin first (without the GIL): a writer in full
                // flow publishes again within it, and neither side pays a
                // sleep and a wake-up per message.
                spun = true;
                crate::wait::spin(py, left.map_or(SPIN_BEFORE_SLEEP, |l| l.min(SPIN_BEFORE_SLEEP)), || ring.can_read());
                continue;
            }
            if !ended_wait(py, blocking(py, left, |slice| ring.wait_readable(slice)))? {
                return Ok(false);
            }
        }
    }

    /// The next message if one is ready now, as `bytes`: the one a waiting
    /// `can_read` took, else one filled straight from its slot (one copy).
    fn ready_message<'py>(
        py: Python<'py>,
        ring: &mut shm_runtime::ByteRing<Consumer>,
        inbox: &mut Inbox,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if std::mem::take(&mut inbox.held) {
            return Ok(Some(Self::message(py, &mut inbox.buffer)));
        }
        let taken = ring.read_with(&mut inbox.scratch, |len, copy| {
            new_bytes(py, len, |dst| {
                copy(0, dst);
            })
        });
        py_result(taken)?.transpose()
    }

    /// The message in `buffer` as `bytes` (one copy); a buffer grown past
    /// [`KEEP_BUFFER`] is let go.
    fn message<'py>(py: Python<'py>, buffer: &mut Vec<u8>) -> Bound<'py, PyBytes> {
        let bytes = PyBytes::new(py, buffer);
        if buffer.capacity() > KEEP_BUFFER {
            *buffer = Vec::new();
        }
        bytes
    }
}

#[pymethods]
impl ByteRing {
    /// Creates a ring of `nr_of_memories` slots of up to `slot_size` bytes
    /// each under a generated name, and holds its `side` (`"producer"` or
    /// `"consumer"`).
    #[classmethod]
    #[pyo3(signature = (slot_size, nr_of_memories, side = "producer"))]
    fn create_memorybuf(
        _cls: &Bound<'_, PyType>,
        slot_size: usize,
        nr_of_memories: usize,
        side: &str,
    ) -> PyResult<Self> {
        Ok(Self::wrap(if is_producer(side)? {
            Side::Producer(py_result(shm_runtime::ByteRing::create_memorybuf(slot_size, nr_of_memories))?)
        } else {
            Side::Consumer(py_result(shm_runtime::ByteRing::create_memorybuf(slot_size, nr_of_memories))?)
        }))
    }

    /// Creates a ring like `create_memorybuf` under `name`.
    #[classmethod]
    #[pyo3(signature = (name, slot_size, nr_of_memories, side = "producer"))]
    fn create_named(
        _cls: &Bound<'_, PyType>,
        name: &str,
        slot_size: usize,
        nr_of_memories: usize,
        side: &str,
    ) -> PyResult<Self> {
        Ok(Self::wrap(if is_producer(side)? {
            Side::Producer(py_result(shm_runtime::ByteRing::create_named(name, slot_size, nr_of_memories))?)
        } else {
            Side::Consumer(py_result(shm_runtime::ByteRing::create_named(name, slot_size, nr_of_memories))?)
        }))
    }

    /// Opens the ring `handle` names and claims its `side` (default: the
    /// consumer); a side a live process holds is `shm.RoleTaken`.
    #[classmethod]
    #[pyo3(signature = (handle, side = "consumer", timeout = None))]
    fn load_memorybuf(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        handle: &str,
        side: &str,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let handle = parse_handle(handle)?;
        let wait = open_wait(timeout)?;
        Ok(Self::wrap(if is_producer(side)? {
            Side::Producer(opening(py, Target::Handle, wait, |slice| {
                shm_runtime::ByteRing::load_sharedobject_timeout(&handle, slice)
            })?)
        } else {
            Side::Consumer(opening(py, Target::Handle, wait, |slice| {
                shm_runtime::ByteRing::load_sharedobject_timeout(&handle, slice)
            })?)
        }))
    }

    /// Opens the ring named `name` and claims its `side` (default: the
    /// consumer), waiting up to `timeout` seconds for it to appear.
    #[classmethod]
    #[pyo3(signature = (name, side = "consumer", timeout = None))]
    fn open(_cls: &Bound<'_, PyType>, py: Python<'_>, name: &str, side: &str, timeout: Option<f64>) -> PyResult<Self> {
        let wait = open_wait(timeout)?;
        Ok(Self::wrap(if is_producer(side)? {
            Side::Producer(opening(py, Target::Name, wait, |slice| {
                shm_runtime::ByteRing::open_with(name, &shm_runtime::OpenOptions::new().wait(slice))
            })?)
        } else {
            Side::Consumer(opening(py, Target::Name, wait, |slice| {
                shm_runtime::ByteRing::open_with(name, &shm_runtime::OpenOptions::new().wait(slice))
            })?)
        }))
    }

    /// `"producer"` or `"consumer"`.
    #[getter]
    fn side_name(&self) -> PyResult<&'static str> {
        Ok(match self.side()? {
            Side::Producer(_) => "producer",
            Side::Consumer(_) => "consumer",
        })
    }

    /// The handle (a `str`) the other side passes to `load_memorybuf`.
    #[getter]
    fn handle(&self) -> PyResult<String> {
        Ok(either!(self.side()?, r => r.handle().to_string()))
    }

    /// The segment's name.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(either!(self.side()?, r => r.name().as_str().to_owned()))
    }

    /// Largest message in bytes.
    #[getter]
    fn slot_size(&self) -> PyResult<usize> {
        Ok(either!(self.side()?, r => r.slot_size()))
    }

    /// Number of slots.
    #[getter]
    pub(crate) fn capacity(&self) -> PyResult<usize> {
        Ok(either!(self.side()?, r => r.capacity()))
    }

    /// Number of slots (the seed's name).
    fn get_number_of_memories(&self) -> PyResult<usize> {
        self.capacity()
    }

    /// Size of the whole segment in bytes.
    fn get_size_in_bytes(&self) -> PyResult<usize> {
        Ok(either!(self.side()?, r => r.get_size_in_bytes()))
    }

    /// How full the ring is, in percent (0.0 to 100.0).
    fn get_fullness(&self) -> PyResult<f64> {
        Ok(either!(self.side()?, r => r.get_fullness()))
    }

    /// Slot index the consumer reads next.
    fn get_read_pointer(&self) -> PyResult<usize> {
        let (pointer, capacity) = either!(self.side()?, r => (r.get_read_pointer(), r.capacity()));
        // A message a waiting `can_read` took is still unread: one slot
        // back (as `__len__` counts it).
        Ok(if self.inbox.held { (pointer + capacity - 1) % capacity } else { pointer })
    }

    /// Slot index the producer writes next.
    fn get_write_pointer(&self) -> PyResult<usize> {
        Ok(either!(self.side()?, r => r.get_write_pointer()))
    }

    /// Slots written and not yet read (a message a waiting `can_read`
    /// took and no read returned yet counts as one).
    pub(crate) fn __len__(&self) -> PyResult<usize> {
        Ok(either!(self.side()?, r => r.len()) + usize::from(self.inbox.held))
    }

    /// Whether a `write` of a message up to the slot size would find room
    /// now or, with `wait` (seconds), within that time (producer). A loop
    /// that polls with a short `wait` (say 50e-6) leaves the CPU to the
    /// consumer while the ring is full instead of competing with it.
    ///
    /// A wait spins briefly, then sleeps without the GIL on the ring's
    /// futex word until the consumer's read wakes it.
    #[pyo3(signature = (wait = 0.0))]
    fn can_write(&mut self, py: Python<'_>, wait: f64) -> PyResult<bool> {
        let wait = crate::wait::timeout(Some(wait))?;
        self.can_write_within(py, wait)
    }

    /// For `shm.compat.memory_interface`: writes `item` pickled, without
    /// waiting; returns the pickle's length. A `bytes` object goes from
    /// its own buffer straight into the slot (see [`BYTES_PICKLE_HEAD`]);
    /// anything else through `pickle.dumps`. Errors as `write`'s
    /// (producer).
    #[pyo3(name = "_write_pickle")]
    pub(crate) fn write_pickle(&mut self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ring = self.producer()?;
        if let Ok(bytes) = item.cast_exact::<PyBytes>() {
            let payload = bytes.as_bytes();
            if let Some(head) = bytes_pickle_head(payload.len()) {
                py_result(ring.write_parts(&[&head, payload, &[BYTES_PICKLE_END]]))?;
                return Ok(payload.len() + BYTES_PICKLE_EXTRA);
            }
        }
        let pickled = PICKLE_DUMPS.import(py, "pickle", "dumps")?.call1((item,))?;
        let pickled = pickled.cast_into::<PyBytes>()?;
        py_result(ring.write(pickled.as_bytes()))?;
        Ok(pickled.as_bytes().len())
    }

    /// For `shm.compat.memory_interface`: writes the bytes of `item`
    /// (`bytes`, `bytearray`, or anything `bytes()` takes) from its own
    /// buffer into the slot, without waiting; returns their length.
    /// Errors as `write`'s (producer).
    #[pyo3(name = "_write_buffer")]
    pub(crate) fn write_buffer(&mut self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ring = self.producer()?;
        if let Ok(bytes) = item.cast_exact::<PyBytes>() {
            py_result(ring.write(bytes.as_bytes()))?;
            return Ok(bytes.as_bytes().len());
        }
        if let Ok(array) = item.cast_exact::<PyByteArray>() {
            // SAFETY: the slice is used only by the copy into the slot
            // below, which runs no Python code and keeps the GIL, so no
            // Python code can resize or free the bytearray meanwhile.
            let data = unsafe { array.as_bytes() };
            py_result(ring.write(data))?;
            return Ok(data.len());
        }
        let bytes = py.get_type::<PyBytes>().call1((item,))?.cast_into::<PyBytes>()?;
        py_result(ring.write(bytes.as_bytes()))?;
        Ok(bytes.as_bytes().len())
    }

    /// Writes `message` (`bytes` or `bytearray`, up to `slot_size`) without
    /// waiting: `shm.Full` if no slot is free, `shm.TooLarge` if it is too
    /// long, `shm.Closed` / `shm.PeerDead` if the consumer let go or died;
    /// nothing is written in any of these cases (producer).
    #[expect(clippy::needless_pass_by_value, reason = "pyo3 hands arguments over by value")]
    fn write(&mut self, message: PyBackedBytes) -> PyResult<()> {
        py_result(self.producer()?.write(&message))
    }

    /// Writes `message`, waiting up to `timeout` seconds (`None`: as long
    /// as it takes) for a free slot: `shm.Timeout` then (producer).
    #[pyo3(signature = (message, timeout = None))]
    #[expect(clippy::needless_pass_by_value, reason = "pyo3 hands arguments over by value")]
    fn write_blocking(&mut self, py: Python<'_>, message: PyBackedBytes, timeout: Option<f64>) -> PyResult<()> {
        let limit = crate::wait::timeout(timeout)?;
        let ring = self.producer()?;
        let message: &[u8] = &message;
        // Without releasing the GIL while there is room.
        match ring.write(message) {
            Err(shm_runtime::SendError::Full) => blocking(py, limit, |slice| ring.write_timeout(message, slice)),
            other => py_result(other),
        }
    }

    /// Whether a whole message is ready now or, with `wait` (seconds),
    /// within that time (consumer): a wait sleeps without the GIL until
    /// the producer's write wakes it. A message whole in one slot stays in
    /// the ring (the next read copies it out); one in fragments is taken
    /// into this end's buffer, and the next read returns it.
    #[pyo3(signature = (wait = 0.0))]
    fn can_read(&mut self, py: Python<'_>, wait: f64) -> PyResult<bool> {
        let wait = crate::wait::timeout(Some(wait))?;
        self.can_read_within(py, wait)
    }

    /// The next message as `bytes`, or `None` if none is ready, without
    /// waiting (consumer).
    fn read<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let (ring, inbox) = self.consumer()?;
        Self::ready_message(py, ring, inbox)
    }

    /// For `shm.compat.memory_interface`: the next message unpickled, or
    /// `empty` itself if no message is ready (consumer). A pickled
    /// `bytes` object as `_write_pickle` writes it becomes a `bytes`
    /// filled straight from the slot (one copy); anything else is copied
    /// into this end's buffer and unpickled from it through a read-only
    /// `memoryview` (`pickle.loads` copies out what it keeps; the view is
    /// released before this returns).
    #[pyo3(name = "_read_pickle")]
    pub(crate) fn read_pickle<'py>(
        &mut self,
        py: Python<'py>,
        empty: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (ring, inbox) = self.consumer()?;
        if std::mem::take(&mut inbox.held) {
            if let Some(payload) = bytes_pickle_payload(&inbox.buffer) {
                return Ok(PyBytes::new(py, payload).into_any());
            }
        } else {
            let buffer = &mut inbox.buffer;
            let taken = py_result(ring.read_with(&mut inbox.scratch, |len, copy| {
                if let Some(payload) = len.checked_sub(BYTES_PICKLE_EXTRA) {
                    let (mut head, mut end) = ([MaybeUninit::uninit(); 8], [MaybeUninit::uninit(); 1]);
                    let head = bytes_pickle_head(payload).filter(|h| *h == *copy(0, &mut head));
                    if head.is_some() && copy(len - 1, &mut end)[0] == BYTES_PICKLE_END {
                        return Taken::Bytes(new_bytes(py, payload, |dst| {
                            copy(8, dst);
                        }));
                    }
                }
                buffer.clear();
                buffer.reserve(len);
                copy(0, &mut buffer.spare_capacity_mut()[..len]);
                // SAFETY: the copy initialised the first `len` bytes of
                // the spare capacity, which `reserve` made at least `len`.
                unsafe { buffer.set_len(len) };
                Taken::Buffered
            }))?;
            match taken {
                None => return Ok(empty),
                Some(Taken::Bytes(bytes)) => return Ok(bytes?.into_any()),
                Some(Taken::Buffered) => {}
            }
        }
        let buffer = &mut inbox.buffer;
        let loads = PICKLE_LOADS.import(py, "pickle", "loads")?;
        let len = isize::try_from(buffer.len()).map_err(|_| PyValueError::new_err("message too long"))?;
        // SAFETY: the view covers `len` initialized bytes of `buffer`,
        // read-only (PyBUF_READ); `buffer` is neither written, resized nor
        // freed while the view can reach it: `self` stays mutably borrowed
        // (PyRefMut: a re-entrant call on this ring from code the pickle
        // runs fails) until the view is released below, and memory the
        // view may still reach afterwards is leaked, never reused.
        let raw = unsafe { pyo3::ffi::PyMemoryView_FromMemory(buffer.as_mut_ptr().cast(), len, PYBUF_READ) };
        // SAFETY: `raw` is a new reference or null with an exception set,
        // as `PyMemoryView_FromMemory` returns.
        let view = unsafe { Bound::from_owned_ptr_or_err(py, raw) }?;
        let result = loads.call1((&view,));
        // SAFETY: `view` is a live object: `view` holds a reference to it.
        let references = unsafe { pyo3::ffi::Py_REFCNT(view.as_ptr()) };
        // Code the pickle ran kept the view, or an export of it.
        if references > 1 || view.call_method0("release").is_err() {
            std::mem::forget(std::mem::take(buffer));
        }
        result
    }

    /// For `shm.compat.memory_interface`: the next message as a
    /// `bytearray` filled straight from the slot (one copy), or `None` if
    /// none is ready (consumer).
    #[pyo3(name = "_read_bytearray")]
    pub(crate) fn read_bytearray<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyByteArray>>> {
        let (ring, inbox) = self.consumer()?;
        if std::mem::take(&mut inbox.held) {
            return Ok(Some(PyByteArray::new(py, &inbox.buffer)));
        }
        // Straight from the slot into the new bytearray.
        let taken = ring.read_with(&mut inbox.scratch, |len, copy| {
            new_bytearray(py, len, |dst| {
                copy(0, dst);
            })
        });
        py_result(taken)?.transpose()
    }

    /// The next message, waiting up to `timeout` seconds (`None`: as long
    /// as it takes): `shm.Timeout` then; `shm.Closed` once the producer let
    /// go and everything it sent was read (consumer).
    #[pyo3(signature = (timeout = None))]
    fn read_blocking<'py>(&mut self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let limit = crate::wait::timeout(timeout)?;
        let (ring, inbox) = self.consumer()?;
        if let Some(message) = Self::ready_message(py, ring, inbox)? {
            return Ok(message);
        }
        let buffer = &mut inbox.buffer;
        blocking(py, limit, |slice| ring.read_timeout(buffer, slice))?;
        Ok(Self::message(py, &mut inbox.buffer))
    }

    /// Skips every message ready now; returns how many slots it skipped
    /// (consumer).
    fn reset_read(&mut self) -> PyResult<u64> {
        let (ring, inbox) = self.consumer()?;
        let held = std::mem::take(&mut inbox.held);
        py_result(ring.reset_read()).map(|n| n + u64::from(held))
    }

    /// Iterating a consumer yields messages, waiting for each, until the
    /// producer lets go.
    fn __iter__(slf: PyRefMut<'_, Self>) -> PyResult<PyRefMut<'_, Self>> {
        if matches!(slf.side, Some(Side::Producer(_))) {
            return Err(WrongSide::new_err("only the consumer side of a ByteRing is iterable"));
        }
        Ok(slf)
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let (ring, inbox) = self.consumer()?;
        if let Some(message) = Self::ready_message(py, ring, inbox)? {
            return Ok(Some(message));
        }
        let buffer = &mut inbox.buffer;
        let more = blocking(py, None, |slice| match ring.read_timeout(buffer, slice) {
            Err(RingError::Closed { .. }) => Ok(false),
            other => other.map(|()| true),
        })?;
        Ok(more.then(|| Self::message(py, &mut inbox.buffer)))
    }

    /// Lets go of this side; the creating end also removes the ring's
    /// name. Calling it again does nothing.
    fn cleanup(&mut self) -> PyResult<()> {
        match self.side.take() {
            Some(Side::Producer(ring)) => py_result(ring.cleanup()),
            Some(Side::Consumer(ring)) => py_result(ring.cleanup()),
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

    fn __repr__(&self) -> String {
        match &self.side {
            Some(side) => {
                let (kind, handle) = match side {
                    Side::Producer(r) => ("producer", r.handle().to_string()),
                    Side::Consumer(r) => ("consumer", r.handle().to_string()),
                };
                format!("ByteRing({kind}, handle={handle:?})")
            }
            None => "ByteRing(cleaned up)".to_owned(),
        }
    }
}
