"""Typed state shared between processes through Linux shared memory.

The Python face of the Rust library shm-runtime: ``SharedInt``,
``SharedBool``, ``SharedString``, ``SharedBytes``, the byte ring
``ByteRing``, ``MemoryInterface`` (a ring of ``i64``, ``u64`` or ``f64``
items) and ``BytesArray`` (fixed-size byte records). One process creates an object and passes its ``handle`` (a
``str``) to another, which opens the same object with
``load_sharedobject`` (``load_memorybuf`` for a ring). Every error is a
subclass of ``shm.Error`` and carries the Rust error's message.

``Struct`` declares a struct type from a field list (or
``struct_from_ctypes`` from a ``ctypes.Structure``) with the schema and
fingerprint ``#[derive(SharedState)]`` gives the same Rust struct;
``peek(handle, struct=None)`` reads a segment's value by field as dicts,
checking a declared ``Struct`` against the schema stored in the segment
(``LayoutMismatch`` names the first field that differs). Struct segments
are read-only from Python for now.

``shm.compat.memory_interface`` and ``shm.compat.shared_memory_handler``
keep the APIs of the two Python libraries shm replaces.
"""

from ._shm import (
    NAME_PREFIX,
    AlreadyExists,
    ArrayError,
    Broadcast,
    ByteRing,
    BytesArray,
    CleanedUp,
    CleanupError,
    Closed,
    Corrupt,
    CreateError,
    Error,
    Full,
    InvalidHandle,
    InvalidName,
    KindMismatch,
    Lagged,
    LayoutMismatch,
    MemoryInterface,
    NotFound,
    OpenError,
    PeerDead,
    ReadError,
    RingError,
    RoleTaken,
    SharedBool,
    Shared,
    SharedArray,
    Struct,
    peek,
    SharedBytes,
    SharedInt,
    SharedString,
    Subscriber,
    Timeout,
    TooLarge,
    WriteError,
    WrongSide,
)
from ._ctypes import struct_from_ctypes
from ._numpy import struct_from_dtype

__all__ = [
    "NAME_PREFIX",
    "AlreadyExists",
    "ArrayError",
    "Broadcast",
    "ByteRing",
    "BytesArray",
    "CleanedUp",
    "CleanupError",
    "Closed",
    "Corrupt",
    "CreateError",
    "Error",
    "Full",
    "InvalidHandle",
    "InvalidName",
    "KindMismatch",
    "Lagged",
    "LayoutMismatch",
    "MemoryInterface",
    "NotFound",
    "OpenError",
    "PeerDead",
    "ReadError",
    "RingError",
    "RoleTaken",
    "SharedBool",
    "Shared",
    "SharedArray",
    "Struct",
    "peek",
    "struct_from_ctypes",
    "struct_from_dtype",
    "SharedBytes",
    "SharedInt",
    "SharedString",
    "Subscriber",
    "Timeout",
    "TooLarge",
    "WriteError",
    "WrongSide",
]
