"""Typed state shared between processes through Linux shared memory.

The Python face of the Rust library shm-runtime: ``SharedInt``,
``SharedBool``, ``SharedString``, ``SharedBytes``, the byte ring
``ByteRing``, ``MemoryInterface`` (a ring of ``i64``, ``u64`` or ``f64``
items) and ``BytesArray`` (fixed-size byte records). One process creates an object and passes its ``handle`` (a
``str``) to another, which opens the same object with
``load_sharedobject`` (``load_memorybuf`` for a ring). Every error is a
subclass of ``shm.Error`` and carries the Rust error's message.

``Struct`` declares a struct type from a field list (or
``struct_from_ctypes`` from a ``ctypes.Structure``, ``struct_from_dtype``
from a numpy structured dtype) with the schema and fingerprint
``#[derive(SharedState)]`` gives the same Rust struct. ``Shared`` holds one
value of it (a Rust ``Shared<T>``), ``MemoryInterface(..., item=struct)``
is a ring of them (a Rust ``MemoryInterface<T>``), ``Broadcast`` and
``Subscriber`` publish them (or numbers) to many readers; values are dicts
or numpy records. Opened without a type, an object uses the schema in its
segment; with one, a segment of another layout raises ``LayoutMismatch``
naming the first field that differs. ``SharedArray`` is an
array of structs or numbers (a Rust ``SharedArray<T>``), created or opened
from either side, with ``[]``, ``update``, ``version`` and ``to_numpy()``;
``peek`` reads any segment by field without claiming anything.

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
