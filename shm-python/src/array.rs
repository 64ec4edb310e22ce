//! `BytesArray`: a fixed-length array of fixed-size byte records, each
//! read and written whole (never torn), over shm-runtime's
//! `SharedArray<[u64; W]>`. Records are padded to whole words; `W` is
//! the smallest of a fixed set of widths that holds the record (up to
//! 1 KiB). Typed elements (a struct declared in Python) wait for the
//! schema of shm-runtime's segments.

use crate::errors::{TooLarge, py_result};
use crate::values::{cleaned_up, parse_handle};
use crate::wait::{Target, changed, open_wait, opening};
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyType;
use shm_runtime::{SharedArray, SharedObject};

/// Every record width, in words, and the enum over them.
macro_rules! widths {
    ($($variant:ident = $w:literal),* $(,)?) => {
        /// An array of records `W` words wide, for each supported `W`.
        enum Words {
            $(
                #[doc = concat!("Records of ", stringify!($w), " words.")]
                $variant(SharedArray<[u64; $w]>),
            )*
        }

        /// The supported widths in words, smallest first.
        const WIDTHS: &[usize] = &[$($w),*];

        /// Runs `$body` with `$a` bound to the array, whatever its width.
        macro_rules! each {
            ($words:expr, $a:ident => $body:expr) => {
                match $words {
                    $(Words::$variant($a) => $body,)*
                }
            };
        }

        impl Words {
            /// A new array of `len` zeroed records `words` wide (one of
            /// `WIDTHS`).
            fn create(words: usize, len: usize) -> Result<Self, shm_runtime::CreateError> {
                match words {
                    $($w => SharedArray::create_sharedobject(len).map(Words::$variant),)*
                    _ => unreachable!("callers pick a width from WIDTHS"),
                }
            }

            /// The array `handle` names, records `words` wide.
            fn load(
                words: usize,
                handle: &shm_runtime::Handle,
                wait: std::time::Duration,
            ) -> Result<Self, shm_runtime::OpenError> {
                match words {
                    $($w => SharedArray::load_sharedobject_timeout(handle, wait).map(Words::$variant),)*
                    _ => unreachable!("callers pick a width from WIDTHS"),
                }
            }

            /// Record `index` as bytes (all its words).
            fn get(&self, index: usize) -> Option<Vec<u8>> {
                each!(self, a => a.get(index).map(|r| r.iter().flat_map(|w| w.to_ne_bytes()).collect()))
            }

            /// Stores `record` (zero-padded to the width) at `index`.
            fn set(&self, index: usize, record: &[u8]) -> Result<(), shm_runtime::ArrayError> {
                match self {
                    $(Words::$variant(a) => {
                        let mut words = [0u64; $w];
                        for (word, chunk) in words.iter_mut().zip(record.chunks(8)) {
                            let mut bytes = [0u8; 8];
                            bytes[..chunk.len()].copy_from_slice(chunk);
                            *word = u64::from_ne_bytes(bytes);
                        }
                        a.set(index, &words)
                    })*
                }
            }

            fn len(&self) -> usize {
                each!(self, a => a.len())
            }

            /// Record `index`'s version, `None` if out of range.
            fn version(&self, index: usize) -> Option<u64> {
                each!(self, a => a.version(index))
            }

            /// Waits up to `timeout` for record `index`'s version to
            /// differ from `since`.
            fn wait_changed(
                &self,
                index: usize,
                since: u64,
                timeout: std::time::Duration,
            ) -> Result<Option<u64>, shm_runtime::ArrayError> {
                each!(self, a => a.wait_changed(index, since, timeout))
            }

            fn handle(&self) -> String {
                each!(self, a => a.handle().to_string())
            }

            fn cleanup(self) -> Result<(), shm_runtime::CleanupError> {
                each!(self, a => a.cleanup())
            }
        }
    };
}

widths!(
    W1 = 1,
    W2 = 2,
    W3 = 3,
    W4 = 4,
    W5 = 5,
    W6 = 6,
    W7 = 7,
    W8 = 8,
    W12 = 12,
    W16 = 16,
    W24 = 24,
    W32 = 32,
    W48 = 48,
    W64 = 64,
    W96 = 96,
    W128 = 128,
);

/// The width in words for records of `item_size` bytes.
fn width_for(item_size: usize) -> PyResult<usize> {
    let needed = item_size.div_ceil(8).max(1);
    WIDTHS.iter().copied().find(|&w| w >= needed).ok_or_else(|| {
        PyValueError::new_err(format!("a record holds up to {} bytes, not {item_size}", WIDTHS[WIDTHS.len() - 1] * 8))
    })
}

/// A fixed-length array of fixed-size byte records in shared memory;
/// each record is read and written whole, so a reader never sees half of
/// one write and half of another, and writers of different records never
/// disturb each other.
#[pyclass(module = "shm")]
pub struct BytesArray {
    words: Option<Words>,
    item_size: usize,
}

impl BytesArray {
    fn words(&self) -> PyResult<&Words> {
        self.words.as_ref().ok_or_else(|| cleaned_up("BytesArray"))
    }

    /// `index` checked against the length, negative counting from the end.
    fn index(&self, index: isize) -> PyResult<usize> {
        let len = self.words()?.len();
        let resolved = if index < 0 { len.checked_sub(index.unsigned_abs()) } else { Some(index.unsigned_abs()) };
        resolved
            .filter(|&i| i < len)
            .ok_or_else(|| PyIndexError::new_err(format!("index {index} out of range for length {len}")))
    }
}

#[pymethods]
impl BytesArray {
    /// Creates `length` records of `item_size` bytes, all zero.
    #[new]
    fn new(item_size: usize, length: usize) -> PyResult<Self> {
        let words = py_result(Words::create(width_for(item_size)?, length))?;
        Ok(Self { words: Some(words), item_size })
    }

    /// Opens the array `handle` names, whose records are `item_size` bytes.
    #[classmethod]
    #[pyo3(signature = (handle, item_size, timeout = None))]
    fn load_sharedobject(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        handle: &str,
        item_size: usize,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let handle = parse_handle(handle)?;
        let wait = open_wait(timeout)?;
        let width = width_for(item_size)?;
        let words = opening(py, Target::Handle, wait, |slice| Words::load(width, &handle, slice))?;
        Ok(Self { words: Some(words), item_size })
    }

    /// Bytes per record.
    #[getter]
    fn item_size(&self) -> usize {
        self.item_size
    }

    /// The handle (a `str`) another process passes to `load_sharedobject`.
    #[getter]
    fn handle(&self) -> PyResult<String> {
        Ok(self.words()?.handle())
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.words()?.len())
    }

    /// Record `index` (negative counts from the end) as `bytes`.
    fn __getitem__(&self, index: isize) -> PyResult<Vec<u8>> {
        let i = self.index(index)?;
        let mut record = self.words()?.get(i).ok_or_else(|| PyIndexError::new_err("index out of range"))?;
        record.truncate(self.item_size);
        Ok(record)
    }

    /// Stores `record` (exactly `item_size` bytes) at `index`.
    #[expect(clippy::needless_pass_by_value, reason = "pyo3 hands arguments over by value")]
    fn __setitem__(&self, index: isize, record: PyBackedBytes) -> PyResult<()> {
        if record.len() != self.item_size {
            return Err(TooLarge::new_err(format!(
                "a record of this array is {} bytes, not {}",
                self.item_size,
                record.len()
            )));
        }
        let i = self.index(index)?;
        py_result(self.words()?.set(i, &record))
    }

    /// The number of writes made to record `index` so far (by any
    /// process).
    fn version(&self, index: isize) -> PyResult<u64> {
        let i = self.index(index)?;
        self.words()?.version(i).ok_or_else(|| PyIndexError::new_err("index out of range"))
    }

    /// Waits until the version of record `index` differs from `since` and
    /// returns the new one; `None` once `timeout` seconds (`None`: no
    /// limit) have passed. Writes of other records do not end it. Releases
    /// the GIL; Ctrl-C interrupts within 50 ms.
    #[pyo3(signature = (index, since, timeout = None))]
    fn wait_changed(&self, py: Python<'_>, index: isize, since: u64, timeout: Option<f64>) -> PyResult<Option<u64>> {
        let i = self.index(index)?;
        let words = self.words()?;
        // `i < len` (checked above): `version` is `Some` and `wait_changed`
        // cannot fail.
        changed(
            py,
            since,
            timeout,
            || words.version(i).unwrap_or_else(|| unreachable!("index {i} was checked")),
            |slice| words.wait_changed(i, since, slice).unwrap_or_else(|e| unreachable!("index {i} was checked: {e}")),
        )
    }

    /// Pickling sends the handle and record size: unpickling opens the
    /// same array.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String, usize))> {
        let this = slf.borrow();
        Ok((slf.get_type().getattr("load_sharedobject")?, (this.handle()?, this.item_size)))
    }

    /// Creator: removes the segment; opener: unmaps. Again: nothing.
    fn cleanup(&mut self) -> PyResult<()> {
        match self.words.take() {
            Some(words) => py_result(words.cleanup()),
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
