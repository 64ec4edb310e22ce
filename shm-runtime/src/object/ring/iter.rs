//! Rust shapes over the consumers' and producers' own methods: iterators
//! on both consumers, and `std::io::{Write, Read}` on the byte ring.
//!
//! The rule for what these return, as for the methods they use:
//!
//! - [`MemoryInterface::iter`] and `for item in &mut consumer` wait for
//!   each item and yield `Ok(item)`; they end (`None`) when the producer
//!   let go and everything it wrote was read ([`RingError::Closed`]), and
//!   any other error (the producer died, the ring is corrupt) is yielded
//!   once as `Err` and ends the iteration.
//! - [`MemoryInterface::try_iter`] takes what is there now, without
//!   waiting, and yields bare items.
//! - The byte ring's iterators yield `Vec<u8>` per message (one
//!   allocation each; [`ByteRing::read`] into a reused buffer allocates
//!   nothing).

use crate::object::ring::byte_ring::ByteRing;
use crate::object::ring::end::{Consumer, Producer};
use crate::object::ring::memory_interface::MemoryInterface;
use crate::object::state::SharedState;
use crate::segment::error::RingError;
use std::io;
use std::time::Duration;

/// Blocking iterator over a typed ring's items, made by
/// [`MemoryInterface::iter`] or `&mut consumer` in a `for` loop: it waits
/// for each item and yields `Ok(item)`; it ends (`None`) when the producer
/// let go and everything it wrote was read ([`RingError::Closed`]); any
/// other error (the producer died, the ring is corrupt) is yielded once as
/// `Err` and ends it.
#[derive(Debug)]
pub struct Iter<'a, T: SharedState> {
    ring: &'a mut MemoryInterface<T, Consumer>,
    done: bool,
}

impl<T: SharedState> Iterator for Iter<'_, T> {
    type Item = Result<T, RingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.ring.read_blocking();
        end_on_error(&mut self.done, item)
    }
}

/// What a blocking iterator yields for `item`: `Closed` ends it quietly,
/// another error ends it after yielding that error.
fn end_on_error<T>(done: &mut bool, item: Result<T, RingError>) -> Option<Result<T, RingError>> {
    match item {
        Ok(item) => Some(Ok(item)),
        Err(RingError::Closed { .. }) => {
            *done = true;
            None
        }
        Err(e) => {
            *done = true;
            Some(Err(e))
        }
    }
}

/// Non-blocking iterator over the items ready now, made by
/// [`MemoryInterface::try_iter`]: bare items, `None` when none is ready.
#[derive(Debug)]
pub struct TryIter<'a, T: SharedState> {
    ring: &'a mut MemoryInterface<T, Consumer>,
}

impl<T: SharedState> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.ring.read()
    }
}

impl<T: SharedState> MemoryInterface<T, Consumer> {
    /// Iterates over the items, waiting for each; ends once the producer
    /// let go and everything was read; see [`Iter`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, SharedObject};
    ///
    /// let mut tx = MemoryInterface::<u32>::create_memorybuf(8)?;
    /// let mut rx = MemoryInterface::<u32, Consumer>::load_memorybuf(&tx.handle())?;
    /// for i in 0..3 {
    ///     tx.write(&i).map_err(|_| "full")?;
    /// }
    /// drop(tx); // the producer lets go: the iteration ends after the last item
    /// let items: Vec<u32> = rx.iter().collect::<Result<_, _>>()?;
    /// assert_eq!(items, [0, 1, 2]);
    /// # Ok(()) }
    /// ```
    pub fn iter(&mut self) -> Iter<'_, T> {
        Iter { ring: self, done: false }
    }

    /// Iterates over the items ready now, without waiting.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, SharedObject};
    ///
    /// let mut tx = MemoryInterface::<u8>::create_memorybuf(8)?;
    /// let mut rx = MemoryInterface::<u8, Consumer>::load_memorybuf(&tx.handle())?;
    /// tx.write(&7).map_err(|_| "full")?;
    /// tx.write(&9).map_err(|_| "full")?;
    /// assert_eq!(rx.try_iter().sum::<u8>(), 16);
    /// assert_eq!(rx.try_iter().next(), None, "drained");
    /// # Ok(()) }
    /// ```
    pub fn try_iter(&mut self) -> TryIter<'_, T> {
        TryIter { ring: self }
    }
}

#[allow(
    clippy::into_iter_without_iter,
    reason = "reading takes items out, so the method is `iter(&mut self)`, not `iter_mut`"
)]
impl<'a, T: SharedState> IntoIterator for &'a mut MemoryInterface<T, Consumer> {
    type Item = Result<T, RingError>;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// Blocking iterator over a byte ring's messages, one `Vec<u8>` each (one
/// allocation per message; [`ByteRing::read`] into a reused buffer
/// allocates nothing); it ends and reports errors as [`Iter`] does.
#[derive(Debug)]
pub struct Messages<'a> {
    ring: &'a mut ByteRing<Consumer>,
    done: bool,
}

impl Iterator for Messages<'_> {
    type Item = Result<Vec<u8>, RingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut message = Vec::new();
        let read = self.ring.read_blocking(&mut message).map(|()| message);
        end_on_error(&mut self.done, read)
    }
}

/// Non-blocking iterator over the messages ready now.
#[derive(Debug)]
pub struct TryMessages<'a> {
    ring: &'a mut ByteRing<Consumer>,
}

impl Iterator for TryMessages<'_> {
    type Item = Result<Vec<u8>, RingError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut message = Vec::new();
        match self.ring.read(&mut message) {
            Ok(true) => Some(Ok(message)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl ByteRing<Consumer> {
    /// Iterates over the messages, waiting for each; ends once the producer
    /// let go and everything was read; see [`Messages`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{ByteRing, Consumer, SharedObject};
    ///
    /// let mut tx = ByteRing::create_memorybuf(16, 4)?;
    /// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
    /// tx.write(b"one")?;
    /// tx.write(b"two")?;
    /// drop(tx);
    /// let messages: Vec<Vec<u8>> = rx.iter().collect::<Result<_, _>>()?;
    /// assert_eq!(messages, [b"one".to_vec(), b"two".to_vec()]);
    /// # Ok(()) }
    /// ```
    pub fn iter(&mut self) -> Messages<'_> {
        Messages { ring: self, done: false }
    }

    /// Iterates over the messages ready now, without waiting (an error is
    /// yielded as it comes; a corrupt ring keeps yielding it).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{ByteRing, Consumer, SharedObject};
    ///
    /// let mut tx = ByteRing::create_memorybuf(16, 8)?;
    /// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
    /// tx.write(b"a")?;
    /// tx.write(b"bc")?;
    /// let total: usize = rx.try_iter().map(|m| m.map(|m| m.len())).sum::<Result<_, _>>()?;
    /// assert_eq!(total, 3);
    /// assert!(rx.try_iter().next().is_none(), "drained");
    /// # Ok(()) }
    /// ```
    pub fn try_iter(&mut self) -> TryMessages<'_> {
        TryMessages { ring: self }
    }
}

#[allow(
    clippy::into_iter_without_iter,
    reason = "reading takes items out, so the method is `iter(&mut self)`, not `iter_mut`"
)]
impl<'a> IntoIterator for &'a mut ByteRing<Consumer> {
    type Item = Result<Vec<u8>, RingError>;
    type IntoIter = Messages<'a>;

    fn into_iter(self) -> Messages<'a> {
        self.iter()
    }
}

/// The `io::Error` of a ring error: the other side gone is `BrokenPipe`
/// (writing) or the end of the stream (reading, handled by the caller),
/// a timeout `TimedOut`, a message over a limit `InvalidInput`, anything
/// else `Other`, each with the ring error inside.
fn io_error(e: RingError) -> io::Error {
    let kind = match e {
        RingError::PeerDead { .. } | RingError::Closed { .. } => io::ErrorKind::BrokenPipe,
        RingError::Timeout { .. } => io::ErrorKind::TimedOut,
        RingError::TooLarge { .. } => io::ErrorKind::InvalidInput,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// Each `write` call sends `buf` as one message, of any length (split over
/// slots as [`ByteRing::write_partial`] does), waiting as long as it takes
/// for room: `write_all(buf)` is one message, which the consumer's
/// [`read`](ByteRing::read) gets back whole. (`write!` writes each piece of
/// its format as a call of its own, so several messages: format into a
/// `String` first for one; wrapped in a `BufWriter`, messages are whatever
/// the buffer flushes.) A consumer that let go or died is `BrokenPipe`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{ByteRing, Consumer, SharedObject};
/// use std::io::Write;
///
/// let mut tx = ByteRing::create_memorybuf(8, 8)?;
/// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
/// tx.write_all(format!("pose {} {}", 1.5, -2).as_bytes())?; // one message, over several slots
/// let mut message = Vec::new();
/// assert!(rx.read(&mut message)?);
/// assert_eq!(message, b"pose 1.5 -2");
/// # Ok(()) }
/// ```
impl io::Write for ByteRing<Producer> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_partial(buf, Duration::MAX).map_err(io_error)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Every `write` published its message before returning.
        Ok(())
    }
}

/// The messages as one byte stream: `read` fills `buf` from the current
/// message and goes on with the next (message boundaries are not kept),
/// waiting for data as long as it takes; `Ok(0)` (the end of the stream)
/// once the producer let go and everything was read. A producer that died
/// is `BrokenPipe`. `BufRead` works through `BufReader`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{ByteRing, Consumer, SharedObject};
/// use std::io::{BufRead, BufReader, Write};
///
/// let mut tx = ByteRing::create_memorybuf(16, 8)?;
/// let rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
/// tx.write_all(b"first line\nsecond ")?;
/// tx.write_all(b"line\n")?;
/// drop(tx);
/// let lines: Vec<String> = BufReader::new(rx).lines().collect::<Result<_, _>>()?;
/// assert_eq!(lines, ["first line", "second line"]);
/// # Ok(()) }
/// ```
impl io::Read for ByteRing<Consumer> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.stream_at >= self.stream.len() {
            let mut message = core::mem::take(&mut self.stream);
            match self.read_blocking(&mut message) {
                Ok(()) => {
                    self.stream = message;
                    self.stream_at = 0;
                }
                Err(RingError::Closed { .. }) => {
                    self.stream = message;
                    self.stream_at = self.stream.len();
                    return Ok(0);
                }
                Err(e) => {
                    self.stream = message;
                    self.stream_at = self.stream.len();
                    return Err(io_error(e));
                }
            }
        }
        let rest = &self.stream[self.stream_at..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.stream_at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::shared_object::SharedObject;
    use std::io::{Read, Write};

    #[test]
    fn for_loops_over_a_consumer_end_when_the_producer_lets_go() {
        let mut tx = MemoryInterface::<u64>::create_memorybuf(4).unwrap();
        let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle()).unwrap();
        std::thread::scope(|s| {
            s.spawn(move || {
                for i in 0..100 {
                    tx.write_blocking(&i).unwrap();
                }
                // `tx` drops here: the consumer's iteration ends after 99.
            });
            let mut next = 0;
            for item in &mut rx {
                assert_eq!(item.unwrap(), next);
                next += 1;
            }
            assert_eq!(next, 100, "every item, then the end");
        });
        assert!(rx.iter().next().is_none(), "stays ended");
    }

    #[test]
    fn try_iter_takes_only_what_is_there() {
        let mut tx = ByteRing::create_memorybuf(8, 4).unwrap();
        let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle()).unwrap();
        assert_eq!(rx.try_iter().count(), 0);
        tx.write(b"a").unwrap();
        tx.write(b"bc").unwrap();
        let got: Vec<Vec<u8>> = rx.try_iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(got, [b"a".to_vec(), b"bc".to_vec()]);
        assert_eq!(rx.try_iter().count(), 0, "and nothing waits");
        let mut typed_tx = MemoryInterface::<u16>::create_memorybuf(4).unwrap();
        let mut typed_rx = MemoryInterface::<u16, Consumer>::load_memorybuf(&typed_tx.handle()).unwrap();
        typed_tx.write(&3).unwrap();
        typed_tx.write(&4).unwrap();
        assert_eq!(typed_rx.try_iter().collect::<Vec<_>>(), [3, 4]);
    }

    #[test]
    fn a_byte_stream_longer_than_the_ring_goes_through_io_write_and_read() {
        let mut tx = ByteRing::create_memorybuf(16, 4).unwrap();
        let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle()).unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        std::thread::scope(|s| {
            s.spawn(|| {
                for chunk in data.chunks(333) {
                    tx.write_all(chunk).unwrap();
                }
                drop(tx);
            });
            let mut got = Vec::new();
            // Small reads: pieces of messages, across message boundaries.
            let mut buf = [0u8; 7];
            loop {
                match Read::read(&mut rx, &mut buf).unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
            assert_eq!(got, data, "the bytes in order, then the end of the stream");
            assert_eq!(Read::read(&mut rx, &mut buf).unwrap(), 0, "stays at the end");
        });
    }

    #[test]
    fn writing_to_a_ring_whose_consumer_let_go_is_a_broken_pipe() {
        let mut tx = ByteRing::create_memorybuf(8, 2).unwrap();
        let rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle()).unwrap();
        drop(rx);
        let mut err = None;
        // The ring has room for two slots; the third write must find out.
        for _ in 0..3 {
            if let Err(e) = tx.write_all(b"12345678") {
                err = Some(e);
                break;
            }
        }
        let err = err.expect("writes went on after the consumer let go");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
        assert!(matches!(err.get_ref().and_then(|e| e.downcast_ref::<RingError>()), Some(RingError::Closed { .. })));
    }
}
