"""numpy: struct types as structured dtypes and back, values as numpy
records, rings and a Rust `SharedArray<Pose>` read into numpy arrays.

numpy is optional for the package; these tests skip only when it cannot be
imported, unless SHM_REQUIRE_NUMPY is set (CI sets it: there they must run).
"""

import os

import pytest

import shm
from test_cross_language import peer  # noqa: F401  (the session fixture)
from test_struct import POSE, _expected, _finish, _rust_pose
from test_struct_values import pose

if os.environ.get("SHM_REQUIRE_NUMPY"):
    import numpy as np
else:
    np = pytest.importorskip("numpy")


def test_dtype_has_the_struct_layout():
    dt = POSE.dtype
    assert dt.itemsize == POSE.size
    assert [(name, dt.fields[name][1]) for name in dt.names] == POSE.fields
    assert dt["tag"].shape == (7,) and dt["valid"] == np.dtype("?")
    assert shm.struct_from_dtype(dt) == POSE
    assert shm.struct_from_dtype(dt, "Pose").fingerprint == POSE.fingerprint


def test_struct_from_a_handwritten_dtype():
    dt = np.dtype({"names": ["seq", "x"], "formats": ["<u4", "<f4"], "offsets": [0, 4], "itemsize": 8})
    point = shm.struct_from_dtype(dt, "Sample")
    assert point == shm.Struct("Sample", [("seq", "u32"), ("x", "f32")])
    nested = np.dtype([("a", point.dtype), ("b", "<u8")])
    assert shm.struct_from_dtype(nested, "Outer") == shm.Struct("Outer", [("a", point), ("b", "u64")])


@pytest.mark.parametrize(
    "dtype, error",
    [
        (np.dtype([("a", "u1"), ("b", "<u4")], align=True), ValueError),  # padding
        (np.dtype([("a", ">u4")]), ValueError),  # not native
        (np.dtype([("a", "U4")]), TypeError),  # no shm type
        (np.dtype([("a", np.dtype([("b", "u1")]))]), ValueError),  # nested, unnamed
        (np.dtype("u4"), TypeError),  # not a struct
    ],
)
def test_dtypes_without_an_shm_layout_are_refused(dtype, error):
    with pytest.raises(error):
        shm.struct_from_dtype(dtype, "Bad")


def test_no_dtype_for_128_bit_fields():
    wide = shm.Struct("Wide", [("n", "u128")])
    with pytest.raises(TypeError, match="u128"):
        wide.dtype


def test_values_as_records():
    with shm.Shared(POSE, pose(1.5, 7)) as value:
        record = value.read_record()
        assert record["seq"] == 7 and bytes(record["tag"]) == b"pose\0\0\0" and record.dtype == POSE.dtype
        record["seq"] = 8
        value.write(record)
        assert value.read() == pose(1.5, 8)
        assert POSE.unpack_record(POSE.pack(pose(2.0, 2)))["x"] == 2.0


def test_ring_of_structs_to_and_from_numpy():
    items = np.zeros(5, dtype=POSE.dtype)
    items["seq"] = np.arange(5)
    items["x"] = np.arange(5) * 0.5
    items["valid"] = True
    with shm.MemoryInterface.create_memorybuf(8, item=POSE) as tx:
        rx = shm.MemoryInterface.load_memorybuf(tx.handle, item=POSE)
        assert tx.write_many(items) == 5
        got = rx.read_numpy(3)
        assert got.dtype == POSE.dtype and got.flags.writeable
        assert got.tobytes() == items[:3].tobytes()
        assert list(rx.read_numpy(10)["seq"]) == [3, 4]
        assert len(rx.read_numpy(10)) == 0
        rx.cleanup()


@pytest.mark.parametrize("item, values", [("i64", [-1, 2**62]), ("u64", [0, 2**64 - 1]), ("f64", [0.5, -1e300])])
def test_scalar_rings_to_numpy(item, values):
    with shm.MemoryInterface.create_memorybuf(8, item=item) as tx:
        rx = shm.MemoryInterface.load_memorybuf(tx.handle, item=item)
        tx.write_many(values)
        got = rx.read_numpy(8)
        assert got.dtype == np.dtype({"i64": "=i8", "u64": "=u8", "f64": "=f8"}[item])
        assert got.tolist() == values
        rx.cleanup()


@pytest.mark.timeout(120)
def test_rust_array_of_poses_to_numpy(peer):  # noqa: F811
    proc, array, _, shared = _rust_pose(peer)
    try:
        with shm.SharedArray.load_sharedobject(array, struct=POSE) as poses:
            assert len(poses) == 3 and poses.struct == POSE
            assert poses[0] == _expected(0) and poses[-1] == _expected(2)
            assert list(poses) == [_expected(i) for i in range(3)]
            table = poses.to_numpy()
            assert table.dtype == POSE.dtype
            assert table["seq"].tolist() == [0, 1, 2] and table["x"].tolist() == [1.5] * 3
            with pytest.raises(IndexError):
                poses[3]
        retyped = shm.Struct("Pose", [(n, "i32" if n == "seq" else t) for n, t in POSE.field_types])
        with pytest.raises(shm.LayoutMismatch, match="field `seq`"):
            shm.SharedArray.load_sharedobject(array, struct=retyped)
        with pytest.raises(shm.KindMismatch):
            shm.SharedArray.load_sharedobject(shared)
    finally:
        _finish(proc)


def test_numeric_array_to_numpy():
    with shm.BytesArray(16, 4) as records:  # a Rust SharedArray<[u64; 2]>
        for i in range(4):
            records[i] = np.array([i, 10 * i], dtype="=u8").tobytes()
        table = shm.SharedArray.load_sharedobject(records.handle).to_numpy()
        assert table.shape == (4, 2) and table.dtype == np.dtype("=u8")
        assert table[:, 1].tolist() == [0, 10, 20, 30]
