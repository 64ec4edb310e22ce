"""The API of ``shared_memory_handler`` (shared-memory-handler), backed by shm.

A user of that library changes one line::

    from shm.compat.shared_memory_handler import SharedMemoryHandlee

and keeps the rest: subclasses of ``SharedMemoryHandlee(length, struct=...)``,
``[]``, ``len``, iteration, ``get_at`` / ``set_at``, ``get_state`` /
``set_state``, pickling into ``multiprocessing`` children (fork or spawn),
and the context manager.

The records live in an ``shm.BytesArray``: each record is read and written
whole, so no reader sees a torn record and workers writing different
records never disturb each other. Differences from the library (the
README's "Python" section lists them all):

- ``data`` is a ``bytes`` copy of all records, not a live ``memoryview``
  (nothing in shm hands out a view of memory other processes write); write
  through ``[]`` or ``set_at``. So there is no ``BufferError`` on cleanup
  and no ``del`` of views is needed.
- Negative indexes count from the end (the library computed
  ``length - index``, which failed for every negative index).
- Only the creating process removes the segment: when its object is
  cleaned up (``with`` block, garbage collection, or process exit). The
  library installed SIGINT/SIGTERM handlers and an ``atexit`` hook; this
  module installs none.
- A record is at most 1 KiB.
"""

from struct import Struct

import shm

__all__ = ["SharedMemoryHandlee"]


class SharedMemoryHandlee:
    """A fixed-length array of ``struct``-formatted records (or of single
    bytes when ``struct`` is ``None``) in shared memory, for subclassing."""

    __slots__ = ("_smh_name", "_smh_length", "_smh_struct", "_smh_array")

    def __init__(self, length, struct=None):
        if length <= 0:
            raise ValueError(f"Length must be positive. Got '{length}'.")
        self._smh_struct = Struct(struct) if isinstance(struct, str) else struct
        item_size = self._smh_struct.size if self._smh_struct else 1
        self._smh_array = shm.BytesArray(item_size, length)
        self._smh_name = self._smh_array.handle
        self._smh_length = length

    @property
    def data(self):
        """A ``bytes`` copy of every record, in order."""
        return b"".join(self._smh_array[i] for i in range(self._smh_length))

    @property
    def struct(self):
        return self._smh_struct

    @property
    def size(self):
        return (self._smh_struct.size if self._smh_struct else 1) * self._smh_length

    def __len__(self):
        return self._smh_length

    def __iter__(self):
        return (self.get_at(i) for i in range(self._smh_length))

    def _index(self, index):
        length = self._smh_length
        if index < 0:
            index += length
        if not 0 <= index < length:
            raise IndexError("Index out of range.")
        return index

    def get_at(self, index):
        """Record ``index`` (negative counts from the end): a tuple, or an
        int when there is no struct."""
        record = self._smh_array[self._index(index)]
        if self._smh_struct:
            return self._smh_struct.unpack(record)
        return record[0]

    def set_at(self, index, values):
        """Stores ``values`` (a tuple for the struct, or an int when there is
        none) as record ``index``, whole."""
        index = self._index(index)
        if self._smh_struct:
            record = self._smh_struct.pack(*values)
        else:
            record = bytes((values,))
        self._smh_array[index] = record

    def __getitem__(self, index):
        return self.get_at(index)

    def __setitem__(self, index, *values):
        self.set_at(index, *values)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self._smh_array.cleanup()

    def get_state(self):
        return {
            "name": self._smh_name,
            "length": self._smh_length,
            "struct": self._smh_struct.format if self._smh_struct else None,
        }

    def set_state(self, state):
        self._smh_name = state["name"]
        self._smh_length = state["length"]
        self._smh_struct = Struct(state["struct"]) if state["struct"] else None
        item_size = self._smh_struct.size if self._smh_struct else 1
        self._smh_array = shm.BytesArray.load_sharedobject(self._smh_name, item_size)

    def __getstate__(self):
        return self.get_state()

    def __setstate__(self, state):
        self.set_state(state)
