"""numpy for shm's struct types: a ``shm.Struct`` as a structured dtype and
back, and bytes of a struct or scalar type as numpy records and arrays.

numpy is optional: it is imported when one of these is first used, and
its absence raises ``ImportError`` then.
"""

# shm's type names and the numpy type codes with the same layout, in
# native byte order ("=").
_CODES = {
    "u8": "=u1",
    "u16": "=u2",
    "u32": "=u4",
    "u64": "=u8",
    "i8": "=i1",
    "i16": "=i2",
    "i32": "=i4",
    "i64": "=i8",
    "f32": "=f4",
    "f64": "=f8",
    "bool": "?",
}


def _np():
    import numpy

    return numpy


def _format(spec, field):
    np = _np()
    if isinstance(spec, str):
        if spec not in _CODES:
            raise TypeError(f"field {field!r}: numpy has no type laid out as {spec}")
        return np.dtype(_CODES[spec])
    if isinstance(spec, tuple):
        element, length = spec
        return np.dtype((_format(element, field), (length,)))
    return dtype_of(spec)


def dtype_of(struct):
    """The numpy structured dtype laid out as ``struct`` (field names,
    offsets and size alike; native byte order). Its metadata keeps the
    struct's name, so ``struct_from_dtype`` gives ``struct`` back."""
    np = _np()
    names = [name for name, _ in struct.field_types]
    formats = [_format(spec, name) for name, spec in struct.field_types]
    offsets = [offset for _, offset in struct.fields]
    spec = {"names": names, "formats": formats, "offsets": offsets, "itemsize": struct.size}
    return np.dtype(spec, metadata={"shm_name": struct.name})


def subarray(dtype, length):
    """The dtype of ``length`` elements of ``dtype`` (a Rust array)."""
    return _np().dtype((dtype, (length,)))


def scalar_dtype(name):
    """The numpy dtype of the scalar type ``name`` (``"u64"``, ...)."""
    return _np().dtype(_CODES[name])


def _spec_of(dt, field):
    np = _np()
    if dt.subdtype is not None:
        element, shape = dt.subdtype
        spec = _spec_of(element, field)
        for length in reversed(shape):
            spec = (spec, length)
        return spec
    if dt.names is not None:
        name = (dt.metadata or {}).get("shm_name")
        if name is None:
            raise ValueError(
                f"field {field!r} is a nested struct: give its dtype metadata={{'shm_name': 'RustName'}}"
                " (or build it with shm.struct_from_dtype first and use its .dtype)"
            )
        return struct_from_dtype(dt, name)
    if not dt.isnative:
        raise ValueError(f"field {field!r}: {dt} is not in this machine's byte order")
    for name, code in _CODES.items():
        if np.dtype(code) == dt:
            return name
    raise TypeError(f"field {field!r}: no shm type for the numpy type {dt}")


def struct_from_dtype(dtype, name=None):
    """The ``shm.Struct`` laid out as the structured ``dtype``: fields by
    offset, each of a fixed-size number type, ``bool``, a sub-array or a
    nested structured dtype (which needs its Rust name in
    ``metadata={"shm_name": ...}``). ``name`` (default: the dtype's
    ``shm_name`` metadata) is the Rust struct's name. Padding is refused,
    as the derive refuses it."""
    from ._shm import Struct

    np = _np()
    dtype = np.dtype(dtype)
    if dtype.names is None:
        raise TypeError(f"expected a structured dtype, not {dtype}")
    name = name or (dtype.metadata or {}).get("shm_name")
    if not name:
        raise ValueError("give the Rust struct's name: struct_from_dtype(dtype, name)")
    fields = sorted(((offset, field, dt) for field, (dt, offset, *_) in dtype.fields.items()))
    struct = Struct(name, [(field, _spec_of(dt, field)) for _, field, dt in fields])
    if struct.size != dtype.itemsize or [o for _, o in struct.fields] != [o for o, _, _ in fields]:
        raise ValueError(f"{name}: the dtype's offsets or size differ from #[repr(C)] without padding")
    return struct


def array(data, dtype):
    """The bytes ``data`` (a bytearray) as a writable numpy array of
    ``dtype``, without a copy."""
    return _np().frombuffer(data, dtype=dtype)


def record(data, dtype):
    """The bytes of one value as a numpy record (a copy)."""
    return _np().frombuffer(bytes(data), dtype=dtype)[0].copy()
