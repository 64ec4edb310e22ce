"""Struct types declared in Python (`shm.Struct`) against Rust's derive.

The fingerprints are FORMAT.md's test vectors; the cross-language tests
read a Rust `Shared<Pose>` and `SharedArray<Pose>` (examples/python_peer.rs,
`create-pose`) by field with `shm.peek`.
"""

import subprocess

import pytest

import shm
from test_cross_language import peer  # noqa: F401  (the session fixture)

POINT = shm.Struct("Point", [("x", "f32"), ("y", "f32")])

# The Pose of examples/python_peer.rs, field for field.
POSE = shm.Struct(
    "Pose",
    [("x", "f64"), ("y", "f64"), ("theta", "f32"), ("seq", "u32"), ("tag", ("u8", 7)), ("valid", "bool")],
)


def test_format_md_test_vectors():
    assert POINT.fingerprint == 0x57D72BD967E83DD7
    assert len(POINT.schema) == 74
    pose = shm.Struct(
        "Pose", [("position", ("f64", 3)), ("seq", "u32"), ("moving", "bool"), ("_pad", ("u8", 3))]
    )
    assert (pose.size, pose.align, len(pose.schema)) == (32, 8, 144)
    assert pose.fingerprint == 0xFD1A85F46AF454B8
    path = shm.Struct("Path", [("points", (POINT, 2)), ("id", "u64")])
    assert (path.size, path.align, len(path.schema)) == (24, 8, 161)
    assert path.fingerprint == 0xE03AE4EEB80F5122


def test_layout_and_unpack():
    assert POSE.size == 32 and POSE.align == 8
    assert POSE.fields == [("x", 0), ("y", 8), ("theta", 16), ("seq", 20), ("tag", 24), ("valid", 31)]
    import struct

    data = struct.pack("=ddfI7s?", 1.5, -2.0, 0.25, 9, b"ab", True)
    assert POSE.unpack(data) == {
        "x": 1.5, "y": -2.0, "theta": 0.25, "seq": 9, "tag": [97, 98, 0, 0, 0, 0, 0], "valid": True,
    }
    with pytest.raises(ValueError):
        POSE.unpack(data[:-1])
    assert POSE == shm.Struct("Pose", [(n, t) for n, t in [
        ("x", "f64"), ("y", "f64"), ("theta", "f32"), ("seq", "u32"), ("tag", ("u8", 7)), ("valid", "bool")]])
    assert "seq" in POINT.difference(shm.Struct("Point", [("x", "f32"), ("seq", "f32")]))


def test_bad_declarations():
    with pytest.raises(ValueError, match="padding"):
        shm.Struct("Gap", [("a", "u8"), ("b", "u32")])
    with pytest.raises(ValueError, match="padding"):
        shm.Struct("Tail", [("a", "u32"), ("b", "u8")])
    with pytest.raises(ValueError, match="unknown field type"):
        shm.Struct("Bad", [("a", "float")])
    with pytest.raises(TypeError):
        shm.Struct("Bad", [("a", 3)])
    with pytest.raises(ValueError):
        shm.Struct("Empty", [])
    with pytest.raises(ValueError):
        shm.Struct("Twice", [("a", "u8"), ("a", "u8")])


def _rust_pose(peer):  # noqa: F811
    proc = subprocess.Popen(
        [peer, "create-pose", "1.5"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    array, fingerprint, shared = (proc.stdout.readline().strip() for _ in range(3))
    return proc, array, int(fingerprint, 16), shared


def _finish(proc):
    try:
        proc.stdin.write("done\n")
        proc.stdin.flush()
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


def _expected(seq):
    return {"x": 1.5, "y": -1.5, "theta": 0.5, "seq": seq, "tag": list(b"pose\0\0\0"), "valid": True}


@pytest.mark.timeout(120)
def test_rust_pose_read_from_python(peer):  # noqa: F811
    proc, array, fingerprint, shared = _rust_pose(peer)
    try:
        assert POSE.fingerprint == fingerprint
        assert shm.Struct.of_segment(shared) == POSE
        assert shm.Struct.of_segment(array) == POSE
        assert shm.peek(shared, POSE) == _expected(7)
        assert shm.peek(shared) == _expected(7)  # from the schema in the segment
        assert shm.peek(array, POSE) == [_expected(i) for i in range(3)]
    finally:
        _finish(proc)


@pytest.mark.timeout(120)
def test_struct_declared_differently_is_a_layout_mismatch(peer):  # noqa: F811
    renamed = shm.Struct(
        "Pose",
        [("x", "f64"), ("y", "f64"), ("theta", "f32"), ("sequence", "u32"), ("tag", ("u8", 7)), ("valid", "bool")],
    )
    retyped = shm.Struct(
        "Pose",
        [("x", "f64"), ("y", "f64"), ("theta", "u32"), ("seq", "f32"), ("tag", ("u8", 7)), ("valid", "bool")],
    )
    proc, array, _, shared = _rust_pose(peer)
    try:
        with pytest.raises(shm.LayoutMismatch, match="field `sequence`") as caught:
            shm.peek(shared, renamed)
        assert "Pose" in str(caught.value)
        with pytest.raises(shm.LayoutMismatch, match="field `theta`"):
            shm.peek(array, retyped)
        assert isinstance(caught.value, shm.OpenError)
    finally:
        _finish(proc)


def test_peek_garbage_handle():
    with pytest.raises(shm.InvalidHandle):
        shm.peek("not a handle")


def test_struct_from_ctypes():
    import ctypes

    class Pose(ctypes.Structure):
        _fields_ = [
            ("x", ctypes.c_double),
            ("y", ctypes.c_double),
            ("theta", ctypes.c_float),
            ("seq", ctypes.c_uint32),
            ("tag", ctypes.c_uint8 * 7),
            ("valid", ctypes.c_bool),
        ]

    assert shm.struct_from_ctypes(Pose) == POSE
    value = Pose(1.5, -1.5, 0.5, 7, (ctypes.c_uint8 * 7)(*b"pose"), True)
    assert POSE.unpack(bytes(value)) == _expected(7)

    class Path(ctypes.Structure):
        _fields_ = [("points", (ctypes.c_float * 2) * 2), ("id", ctypes.c_uint64)]

    assert shm.struct_from_ctypes(Path).size == 24

    class Gap(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint8), ("b", ctypes.c_uint32)]

    with pytest.raises(ValueError, match="padding"):
        shm.struct_from_ctypes(Gap)
    with pytest.raises(TypeError):
        shm.struct_from_ctypes(int)


@pytest.mark.timeout(120)
def test_rust_ring_of_poses_peeked_from_python(peer):  # noqa: F811
    count = 100_000
    proc = subprocess.Popen([peer, "pose-ring", str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        handle = proc.stdout.readline().strip()
        assert shm.Struct.of_segment(handle) == POSE
        ring = shm.peek(handle, POSE)
        assert ring["fill"] == count
        first, last = dict(_expected(0), x=0.0, y=-0.0), dict(_expected(count - 1), x=count - 1.0, y=1.0 - count)
        assert ring["oldest"] == (0, first)
        assert ring["newest"] == (count - 1, last)
    finally:
        _finish(proc)
