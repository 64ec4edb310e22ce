//! The rings: the two ends every ring is built on (`end`), the typed ring
//! `MemoryInterface<T>` and the byte ring `ByteRing`, and [`Ring`], what
//! both have whichever side they hold.
//!
//! [`MemoryInterface`]: crate::MemoryInterface
//! [`ByteRing`]: crate::ByteRing

pub(crate) mod byte_ring;
pub(crate) mod end;
pub(crate) mod iter;
pub(crate) mod memory_interface;

use crate::object::shared_object::SharedObject;
use crate::segment::error::RingError;
use end::sealed;
use std::time::Duration;

/// Where a ring's other side is, as [`Ring::peer_state`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerState {
    /// Nobody has held the other side yet.
    NotAttached,
    /// A process holds it and, as far as the kernel says, lives.
    Attached {
        /// Its process id.
        pid: u64,
    },
    /// It held the other side and let go (dropped its end).
    LetGo,
    /// The process that holds it is proven dead (its liveness lock is
    /// gone); its claim can be taken over.
    Died {
        /// Its process id.
        pid: u64,
    },
}

/// The methods both ring types ([`MemoryInterface`](crate::MemoryInterface)
/// and [`ByteRing`](crate::ByteRing)) have, whichever side they hold; the side's own methods (`write`,
/// `read`, ...) are on the types. Sealed: it cannot be implemented outside
/// this crate.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{ByteRing, Consumer, MemoryInterface, Producer, Ring, SharedObject};
///
/// fn report(ring: &impl Ring) -> String {
///     format!("{}: {} of {} slots", ring.handle().kind(), ring.len(), ring.capacity())
/// }
///
/// let mut tx = MemoryInterface::<u64>::create_memorybuf(4)?;
/// let rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
/// tx.write(&1).unwrap();
/// assert_eq!(report(&rx), "ring: 1 of 4 slots");
/// assert_eq!(report(&ByteRing::<Producer>::create_memorybuf(8, 2)?), "bytering: 0 of 2 slots");
/// # Ok(()) }
/// ```
pub trait Ring: SharedObject + sealed::HasEnd {
    /// Number of slots.
    #[must_use]
    fn capacity(&self) -> usize {
        self.end().capacity()
    }

    /// Number of slots (the seed's name for
    /// [`capacity`](Self::capacity)).
    #[must_use]
    fn get_number_of_memories(&self) -> usize {
        self.end().capacity()
    }

    /// Size of the whole segment in bytes (header, positions,
    /// slots).
    #[must_use]
    fn get_size_in_bytes(&self) -> usize {
        self.end().size_in_bytes()
    }

    /// Slots written and not yet read, as the positions are now. A
    /// pair of positions no peer could store counts as 0 (see
    /// [`error`](Self::error)).
    #[must_use]
    fn len(&self) -> usize {
        self.end().len()
    }

    /// Whether no slot waits to be read.
    #[must_use]
    fn is_empty(&self) -> bool {
        self.end().len() == 0
    }

    /// How full the ring is, in percent (0.0 to 100.0).
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "a percentage; exact below 2^52 slots")]
    fn get_fullness(&self) -> f64 {
        self.end().len() as f64 * 100.0 / self.end().capacity() as f64
    }

    /// Slot index the consumer reads next (`read position %
    /// capacity`).
    #[must_use]
    fn get_read_pointer(&self) -> usize {
        self.end().pointer(false)
    }

    /// Slot index the producer writes next (`write position %
    /// capacity`).
    #[must_use]
    fn get_write_pointer(&self) -> usize {
        self.end().pointer(true)
    }

    /// The corruption this end found, if any. Once set, reads find
    /// nothing, writes find no room, and waiting calls return this
    /// error.
    #[must_use]
    fn error(&self) -> Option<RingError> {
        self.end().error()
    }

    /// Whether the other side is attached and its process alive:
    /// `None` if nobody has attached yet or it let go.
    #[must_use]
    fn peer_alive(&self) -> Option<bool> {
        self.end().peer_alive()
    }

    /// Where the other side is: not attached yet, attached (and alive),
    /// let go, or died; what `peer_alive` folds into `None` and `Some`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{Consumer, MemoryInterface, PeerState, Ring, SharedObject};
    ///
    /// let tx = MemoryInterface::<u64>::create_memorybuf(4)?;
    /// assert_eq!(tx.peer_state(), PeerState::NotAttached);
    /// let rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
    /// assert!(matches!(tx.peer_state(), PeerState::Attached { .. }));
    /// drop(rx);
    /// assert_eq!(tx.peer_state(), PeerState::LetGo);
    /// # Ok(()) }
    /// ```
    #[must_use]
    fn peer_state(&self) -> PeerState {
        self.end().peer_state()
    }

    /// Waits up to `timeout` until the other side has attached.
    /// Fails with [`RingError::Closed`] if it attached and let go already,
    /// [`RingError::PeerDead`] if it died, [`RingError::Timeout`] if
    /// nobody came.
    fn wait_for_peer(&self, timeout: Duration) -> Result<(), RingError> {
        self.end().wait_for_peer(timeout)
    }
}
