"""The API of ``memory_interface`` (PyHighSpeedSharedMemory), backed by shm.

A user of that library changes one line::

    from shm.compat.memory_interface import MemoryInterface, SharedString

and keeps the rest: the same classes, constructors taking a ``memblk``,
``create_sharedobject`` / ``load_sharedobject`` returning and taking a
``memblk`` dict that travels to other processes (through
``multiprocessing`` arguments, fork or spawn), ``read``, ``write``,
``cleanup``; and ``MemoryInterface`` with ``create_memorybuf``,
``load_memorybuf``, ``can_read``, ``can_write``, ``read``, ``write``,
``write_partial``, ``reset_read``, ``get_fullness``, ``is_valid`` and the
pointer getters.

Where the library had a fault, the behaviour is fixed (the README's
"Python" section lists every difference):

- a full ring is never overwritten: ``write`` raises ``shm.Full``;
- ``read`` of an empty ring raises ``BufferEmpty`` instead of returning
  stale data and moving the read pointer past it;
- values are never torn, and ``SharedBytes.read`` returns what was last
  written, without the stale tail of a longer earlier write;
- only the creating process removes a segment, and only when it cleans up
  (no resource tracker removes segments other processes still use);
- ``create_memorybuf(..., use_pickle=False)`` writes bytes (the library
  pickled them there).
"""

import functools
import pickle
import uuid

import shm
from shm._shm import CompatSide as _CompatSide

__all__ = [
    "BufferEmpty",
    "MemoryInterface",
    "SharedBool",
    "SharedBytes",
    "SharedInt",
    "SharedString",
    "TooLargeError",
]


class TooLargeError(shm.TooLarge, ValueError):
    """A value longer than the object holds. A ``ValueError``, as the
    library raised, and an ``shm.Error``."""


class NotLoadedError(shm.Error, ValueError):
    """An object used before ``create_sharedobject`` or ``load_sharedobject``.
    A ``ValueError``, as the library raised."""


class BufferEmpty(shm.RingError):
    """``MemoryInterface.read`` found nothing to read (check ``can_read``)."""


# How long ``can_read`` and ``can_write`` wait before answering no. The
# seed's users poll them in a loop; a poll that gives the CPU away for a
# moment lets the other side run instead of competing with it for a core,
# which makes such a loop several times faster on a busy machine (see
# bench/ring_rate.py), at the price of at most this much latency per poll
# that finds nothing.
POLL_WAIT = 50e-6


# What the ring end's ``_read_pickle`` returns when nothing is ready (any
# pickled object, ``None`` included, is an item).
_EMPTY = object()


def _too_large(err):
    return TooLargeError(str(err))


def _put(ring, size_in_bytes, buf):
    """Writes ``buf`` whole into ``ring``; longer than ``size_in_bytes``:
    ``TooLargeError`` with the seed's message. Returns its length."""
    if len(buf) > size_in_bytes:
        raise TooLargeError(f"too large: {len(buf)} but only {size_in_bytes}")
    ring.write(buf)
    return len(buf)


def _put_whole(ring, size_in_bytes, use_pickle, item):
    """What a native ``write`` does with an item the ring refused as too
    large: as the Python ``write`` (``_put`` of its pickle or bytes)."""
    return _put(ring, size_in_bytes, pickle.dumps(item) if use_pickle else bytes(item))


class _Value:
    """What the four value classes share: the shm object inside, its
    ``memblk``, and ``cleanup``."""

    _kind = None  # the shm class

    def __init__(self, memblk=None):
        self._obj = None
        self.loaded = False
        if memblk is not None:
            self.load_sharedobject(memblk)

    def _created(self, obj, size):
        self.cleanup()
        self._obj = obj
        self.loaded = False
        self.memblk = {"size": size, "handle": obj.handle}
        return self.memblk

    def load_sharedobject(self, memblk):
        """Opens the object ``memblk`` (another object's
        ``create_sharedobject`` result) describes."""
        self.cleanup()
        self._obj = self._kind.load_sharedobject(memblk["handle"])
        self.memblk = dict(memblk)
        self.loaded = True

    def _live(self):
        if self._obj is None:
            raise NotLoadedError("Error: no object loaded")
        return self._obj

    def cleanup(self):
        """Creator: removes the segment. Opener: lets go of it."""
        obj, self._obj = self._obj, None
        self.loaded = False
        if obj is not None:
            obj.cleanup()


class SharedBytes(_Value):
    """Bytes in shared memory, up to the size given at creation."""

    _kind = shm.SharedBytes

    @property
    def size_in_bytes(self):
        return self._obj.capacity if self._obj is not None else 0

    @property
    def mem(self):
        """The shm object (the library's ``SharedMemory``), or ``None``."""
        return self._obj

    def create_sharedobject(self, size):
        """Creates bytes of up to ``size``; returns the ``memblk``."""
        return self._created(shm.SharedBytes(size), size)

    def write(self, rsp_stream):
        """Stores ``rsp_stream`` (bytes-like); too long: ``ValueError``."""
        obj = self._live()
        try:
            obj.write(bytes(rsp_stream))
        except shm.TooLarge as err:
            raise _too_large(err) from None
        return True

    def read(self):
        """The bytes last written, as a ``bytearray``."""
        return bytearray(self._live().read())


class SharedInt(_Value):
    """A 64-bit signed integer in shared memory."""

    intsize = 8
    _kind = shm.SharedInt

    def __init__(self, num=None):
        super().__init__(num)

    def create_sharedobject(self):
        """Creates the integer (0); returns the ``memblk``."""
        return self._created(shm.SharedInt(0), self.intsize)

    def read(self):
        return self._live().read()

    def write(self, num):
        obj = self._live()
        if not -(2**63) <= num < 2**63:
            raise OverflowError("int too big to convert")
        obj.write(num)


class SharedBool(_Value):
    """A flag in shared memory."""

    _kind = shm.SharedBool

    def __init__(self, mem=None):
        super().__init__(mem)

    def create_sharedobject(self):
        """Creates the flag (False); returns the ``memblk``."""
        return self._created(shm.SharedBool(False), 1)

    def read(self):
        return self._live().read()

    def write(self, isnum):
        self._live().write(bool(isnum))


class SharedString(_Value):
    """A UTF-8 string of up to ``maxlength`` bytes in shared memory."""

    intsize = 4
    maxval = 2 ** (intsize * 8) - 1
    _kind = shm.SharedString

    def __init__(self, num=None):
        super().__init__(num)
        self.len = 0

    def create_sharedobject(self, maxlength):
        """Creates a string of up to ``maxlength`` UTF-8 bytes; returns the
        ``memblk``. The library's limits on ``maxlength`` hold."""
        if maxlength <= SharedString.intsize:
            raise ValueError(
                f"maxlength must be larger than {SharedString.intsize} to support 1 character"
            )
        if maxlength > SharedString.maxval:
            raise ValueError(f"maxlength must be smaller than {SharedString.maxval}")
        return self._created(shm.SharedString(maxlength), maxlength)

    def read(self):
        return self._live().read()

    def write(self, val):
        obj = self._live()
        try:
            obj.write(val)
        except shm.TooLarge as err:
            raise _too_large(err) from None


class MemoryInterface:
    """A circular buffer of ``nr_of_memories`` slots of up to
    ``size_in_bytes`` each, between one writing and one reading process
    (an shm ``ByteRing``).

    The segment is made by whichever side first uses it, so either process
    may write and either may read. The first producer call (``can_write``,
    ``write``, ``write_partial``) in a process claims the producer side, the
    first consumer call (``can_read``, ``read``, ``reset_read``) the consumer
    side; a side another live process holds is ``shm.RoleTaken``.
    """

    def __init__(self, memblk=None):
        self._producer = None
        self._consumer = None
        self._name = None
        self._created_here = False
        self.size_in_bytes = 0
        self.nr_of_memories = 0
        self.use_pickle = True
        self.partial_data = bytearray(0)
        self.loaded = False
        if memblk is not None:
            self.load_memorybuf(memblk)

    def create_memorybuf(self, largest_object=list(range(100)), nr_of_memories=10, use_pickle=True):
        """Describes a new buffer whose slots hold ``largest_object`` (pickled
        if ``use_pickle``, else its length in bytes); returns the ``memblk``
        another process passes to ``load_memorybuf``."""
        largest = pickle.dumps(largest_object) if use_pickle else largest_object
        size = len(largest)
        if size < 1:
            raise ValueError("a slot holds at least 1 byte")
        if nr_of_memories < 1:
            raise ValueError("nr_of_memories must be at least 1")
        self.cleanup()
        self._name = f"{shm.NAME_PREFIX}mi-{uuid.uuid4().hex}"
        self._created_here = True
        self.size_in_bytes = size
        self.nr_of_memories = nr_of_memories
        self.use_pickle = use_pickle
        self.loaded = False
        return self._memblk()

    def _memblk(self):
        return {
            "name": self._name,
            "size_in_bytes": self.size_in_bytes,
            "nr_of_memories": self.nr_of_memories,
            "use_pickle": self.use_pickle,
        }

    def load_memorybuf(self, parms):
        """Joins the buffer ``parms`` (a ``create_memorybuf`` result)
        describes."""
        self.cleanup()
        self._name = parms["name"]
        self._created_here = False
        self.size_in_bytes = parms["size_in_bytes"]
        self.nr_of_memories = parms["nr_of_memories"]
        self.use_pickle = parms["use_pickle"]
        self.loaded = True

    # -- the two sides, claimed on first use

    def _attach(self, side):
        if self._name is None:
            raise NotLoadedError("Error: no buffer created or loaded")
        # Open first: creating would take over a ring whose creator died,
        # and with it the items that creator left for this side.
        for _ in range(8):
            try:
                return shm.ByteRing.open(self._name, side=side, timeout=0)
            except shm.NotFound:
                pass
            except (shm.RoleTaken, shm.LayoutMismatch, shm.KindMismatch):
                raise
            except shm.OpenError:
                # Its maker is still setting it up: wait for that (bounded).
                return shm.ByteRing.open(self._name, side=side)
            try:
                return shm.ByteRing.create_named(self._name, self.size_in_bytes, self.nr_of_memories, side=side)
            except shm.AlreadyExists:
                continue  # the other side made it first: open it
        raise shm.NotFound(f"ring {self._name!r} kept appearing and going away")

    # A side is bound once it is attached; a bind that failed (say, an
    # invalid ``POLL_WAIT``) raises to that call and is tried again on the
    # next, rather than leaving the side on the Python methods for good.
    def _writer(self):
        if self._producer is None:
            self._producer = self._attach("producer")
        if "write" not in self.__dict__:
            self._bind(self._producer)
        return self._producer

    def _reader(self):
        if self._consumer is None:
            self._consumer = self._attach("consumer")
        if "read" not in self.__dict__:
            self._bind(self._consumer)
        return self._consumer

    # The hot methods of an attached side are native (``shm._shm.CompatSide``),
    # put on the instance, where they come before the class's functions
    # below: a call from a polling loop is then one C call, no Python
    # frame. ``use_pickle`` and ``POLL_WAIT`` are read here, when the side
    # is first used; ``cleanup`` takes the bound methods off again.
    _BOUND = ("can_write", "write", "can_read", "read", "get_fullness")

    def _bind(self, ring):
        too_large = functools.partial(_put_whole, ring, self.size_in_bytes, self.use_pickle)
        side = _CompatSide(ring, POLL_WAIT, BufferEmpty, too_large, self.use_pickle)
        if ring.side_name == "producer":
            self.can_write = side.can_write
            self.write = side.write_function()
            if self._consumer is None:
                self.get_fullness = side.get_fullness
        else:
            self.can_read = side.can_read
            self.read = side.read
            # The consumer's count includes an item a waiting ``can_read``
            # took from the ring.
            self.get_fullness = side.get_fullness

    def _unbind(self):
        for name in self._BOUND:
            self.__dict__.pop(name, None)

    def _any(self):
        return self._producer or self._consumer

    # -- the library's methods

    def can_read(self):
        """Whether ``read`` finds an item now. Finding none, it waits up to
        ``POLL_WAIT`` seconds for one (without the GIL) before saying no."""
        # The attached side looked up first: the polling loop's path.
        consumer = self._consumer
        if consumer is None:
            if self._name is None:
                return False
            consumer = self._reader()
        return consumer.can_read(POLL_WAIT)

    def can_write(self):
        """Whether ``write`` finds a free slot now. Finding none, it waits up
        to ``POLL_WAIT`` seconds for one (without the GIL) before saying no."""
        producer = self._producer
        if producer is None:
            if self._name is None:
                return False
            producer = self._writer()
        return producer.can_write(POLL_WAIT)

    def read(self):
        """The next item: the object written (``use_pickle``) or its bytes
        (a ``bytearray``). Nothing to read: ``BufferEmpty``."""
        if not self.use_pickle:
            return self.read_bytes()
        # read_pickle inlined: one Python call less per item.
        consumer = self._consumer
        if consumer is None:
            consumer = self._reader()
        item = consumer._read_pickle(_EMPTY)
        if item is _EMPTY:
            raise BufferEmpty("nothing to read: check can_read() first")
        return item

    def read_pickle(self):
        # A pickled ``bytes`` is built straight from the slot; anything
        # else unpickled from the ring end's buffer.
        item = self._reader()._read_pickle(_EMPTY)
        if item is _EMPTY:
            raise BufferEmpty("nothing to read: check can_read() first")
        return item

    def read_bytes(self):
        item = self._reader()._read_bytearray()
        if item is None:
            raise BufferEmpty("nothing to read: check can_read() first")
        return item

    def write(self, rsp_stream):
        """Writes an object (``use_pickle``) or bytes into the next slot;
        returns its size in bytes. Too large: ``ValueError``; full:
        ``shm.Full`` (nothing is overwritten)."""
        if not self.use_pickle:
            return self.write_bytes(rsp_stream)
        # write_pickle inlined: one Python call less per item.
        producer = self._producer
        if producer is None:
            producer = self._writer()
        try:
            return producer._write_pickle(rsp_stream)
        except shm.TooLarge:
            return self._put(pickle.dumps(rsp_stream))

    def write_pickle(self, rsp_stream):
        # Pickled and written in one call; a ``bytes`` object goes from its
        # own buffer straight into the slot.
        try:
            return self._writer()._write_pickle(rsp_stream)
        except shm.TooLarge:
            # The library's message, with the length of its pickle.
            return self._put(pickle.dumps(rsp_stream))

    def write_bytes(self, rsp_stream):
        # Straight from the object's buffer into the slot.
        try:
            return self._writer()._write_buffer(rsp_stream)
        except shm.TooLarge:
            return self._put(bytes(rsp_stream))

    def _put(self, buf):
        return _put(self._writer(), self.size_in_bytes, buf)

    def write_partial(self, rsp_stream):
        """Appends ``rsp_stream`` to a byte stream and writes every whole
        slot of it that has room (a full ring keeps the rest here); returns
        how many bytes wait for the next call."""
        self.partial_data += rsp_stream
        size = self.size_in_bytes
        writer = self._writer()
        while len(self.partial_data) > size and writer.can_write():
            writer.write(bytes(self.partial_data[:size]))
            self.partial_data = self.partial_data[size:]
        return len(self.partial_data)

    def reset_read(self):
        """Skips every item written so far (the reader continues with the
        newest to come)."""
        self._reader().reset_read()

    def is_valid(self, index):
        """Whether slot ``index`` holds an item not read yet."""
        end = self._any()
        if end is None:
            return False
        unread = len(end)
        return (index - end.get_read_pointer()) % self.nr_of_memories < unread

    def get_read_pointer(self):
        end = self._any()
        return end.get_read_pointer() if end is not None else 0

    def get_write_pointer(self):
        end = self._any()
        return end.get_write_pointer() if end is not None else 0

    def get_size_in_bytes(self):
        return self.size_in_bytes

    def get_number_of_memories(self):
        return self.nr_of_memories

    def get_fullness(self):
        """Percentage of slots holding unread items (an int, as before)."""
        end = self._any()
        if end is None or self.nr_of_memories == 0:
            return 0
        return 100 * len(end) // self.nr_of_memories

    def cleanup(self):
        """Lets go of both sides this process holds (the ring's name goes
        with the last side, once nothing in it waits to be read); the
        creator also removes a ring whose writer left unread items and no
        reader came."""
        had_reader = self._consumer is not None
        try:
            for end in (self._producer, self._consumer):
                if end is not None:
                    end.cleanup()
        finally:
            # Even when a side's cleanup raised: no native method stays
            # bound to a ring this object let go of.
            self._producer = self._consumer = None
            self._unbind()
        if self._created_here and not had_reader and self._name is not None:
            try:
                shm.ByteRing.open(self._name, side="consumer", timeout=0).cleanup()
            except (shm.NotFound, shm.RoleTaken):
                pass
        self.partial_data = bytearray(0)
