"""``shm.struct_from_ctypes``: a ``shm.Struct`` from a ``ctypes.Structure``."""

import ctypes

from ._shm import Struct

# Fixed-size ctypes types by their shm type name (c_int and friends are
# aliases of these on Linux, so they are found too).
_NAMES = {
    ctypes.c_uint8: "u8",
    ctypes.c_uint16: "u16",
    ctypes.c_uint32: "u32",
    ctypes.c_uint64: "u64",
    ctypes.c_int8: "i8",
    ctypes.c_int16: "i16",
    ctypes.c_int32: "i32",
    ctypes.c_int64: "i64",
    ctypes.c_float: "f32",
    ctypes.c_double: "f64",
    ctypes.c_bool: "bool",
}


def _field_type(ctype):
    if ctype in _NAMES:
        return _NAMES[ctype]
    if isinstance(ctype, type) and issubclass(ctype, ctypes.Array):
        return (_field_type(ctype._type_), ctype._length_)
    if isinstance(ctype, type) and issubclass(ctype, ctypes.Structure):
        return struct_from_ctypes(ctype)
    raise TypeError(f"no shm type for the ctypes type {ctype!r}")


def struct_from_ctypes(cls, name=None):
    """The ``shm.Struct`` laid out as the ``ctypes.Structure`` ``cls``.

    ``name`` (default: the class name) is the Rust struct's name, which is
    part of the fingerprint. Bit fields, pointers, unions and ``_pack_``
    are refused; so is padding (``Struct`` refuses it, as the derive
    does). The layout is checked against ``ctypes.sizeof`` and each
    field's offset.
    """
    if not (isinstance(cls, type) and issubclass(cls, ctypes.Structure)):
        raise TypeError(f"expected a ctypes.Structure subclass, not {cls!r}")
    if getattr(cls, "_pack_", 0):
        raise ValueError(f"{cls.__name__} sets _pack_; shm structs are #[repr(C)] without padding")
    fields = []
    for entry in cls._fields_:
        if len(entry) != 2:
            raise ValueError(f"{cls.__name__}.{entry[0]} is a bit field; shm structs have none")
        fields.append((entry[0], _field_type(entry[1])))
    struct = Struct(name or cls.__name__, fields)
    offsets = [(field, getattr(cls, field).offset) for field, _ in fields]
    if struct.fields != offsets or struct.size != ctypes.sizeof(cls):
        raise ValueError(f"{cls.__name__}: ctypes lays it out differently from #[repr(C)]")
    return struct
