"""`shm.SharedArray` created and written from Python (shm-runtime's
`DynArray`): struct and number elements, `update`, `version`, numpy in and
out, a wrong declared type, and a Rust `SharedArray<Pose>` (the
`pose-array` command of examples/python_peer.rs) reading and updating an
array Python made.
"""

import multiprocessing
import pickle

import pytest

import shm
from test_cross_language import peer, run  # noqa: F401  (the session fixture)
from test_struct import POSE, _expected, _rust_pose
from test_struct_values import pose


def test_struct_elements_written_and_read():
    with shm.SharedArray.create(POSE, 4) as poses:
        assert len(poses) == 4 and poses.struct == POSE
        assert poses[0] == dict(pose(0.0, 0), theta=0.0, tag=[0] * 7, valid=False)
        for i in range(4):
            poses[i] = pose(float(i), i)
        poses[-1] = dict(pose(9.0, 9), tag=b"nine")
        assert [p["seq"] for p in poses] == [0, 1, 2, 9]
        assert poses[3]["tag"] == list(b"nine\0\0\0")
        other = shm.SharedArray.load_sharedobject(poses.handle)  # type from the segment
        assert other.struct == POSE and other[1] == pose(1.0, 1)
        other.cleanup()


def test_bad_values_change_nothing():
    with shm.SharedArray.create(POSE, 2) as poses:
        poses[0] = pose(1.0, 1)
        before = poses.version(0)
        with pytest.raises(OverflowError, match=r"Pose\.seq"):
            poses[0] = pose(1.0, -1)
        with pytest.raises(ValueError, match=r"Pose\.tag"):
            poses[0] = dict(pose(1.0, 1), tag=b"too long!")
        with pytest.raises(ValueError, match='has no field "z"'):
            poses[0] = dict(pose(1.0, 1), z=0)
        with pytest.raises(IndexError):
            poses[2] = pose(1.0, 1)
        assert poses[0] == pose(1.0, 1) and poses.version(0) == before


def test_number_elements_and_update():
    with shm.SharedArray.create("u32", 3) as counts:
        assert counts.struct is None and list(counts) == [0, 0, 0]
        counts[1] = 7
        v = counts.version(1)
        assert counts.update(1, lambda n: n * 3) == 21
        assert counts[1] == 21 and counts.version(1) == v + 1
        with pytest.raises(OverflowError):
            counts[0] = 2**32
        with pytest.raises(TypeError):
            counts[0] = 1.5
        with pytest.raises(RuntimeError, match="boom"):
            counts.update(1, lambda n: (_ for _ in ()).throw(RuntimeError("boom")))
        assert counts[1] == 21
    with pytest.raises(TypeError, match="element type"):
        shm.SharedArray.create("u33", 1)


def test_create_named_and_open():
    name = "shm-python-test-array"
    with shm.SharedArray.create_named(name, "f64", 2) as values:
        values[0] = 0.25
        opened = shm.SharedArray.open(name, "f64", timeout=5)
        assert opened[0] == 0.25 and opened.handle == values.handle
        opened[1] = -1.0
        assert values[1] == -1.0
        opened.cleanup()
        with pytest.raises(shm.AlreadyExists):
            shm.SharedArray.create_named(name, "f64", 2)


def test_wrong_declared_type_names_the_field():
    retyped = shm.Struct("Pose", [(n, "i32" if n == "seq" else t) for n, t in POSE.field_types])
    with shm.SharedArray.create(POSE, 1) as poses:
        with pytest.raises(shm.LayoutMismatch, match="field `seq`"):
            shm.SharedArray.load_sharedobject(poses.handle, retyped)
        with pytest.raises(shm.LayoutMismatch):
            shm.SharedArray.load_sharedobject(poses.handle, "u64")


def _add_ten(array):
    for i in range(len(array)):
        array.update(i, lambda n: n + 10)
    array.cleanup()


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.timeout(120)
def test_two_processes(method):
    with shm.SharedArray.create("i64", 5) as values:
        for i in range(5):
            values[i] = -i
        child = multiprocessing.get_context(method).Process(target=_add_ten, args=(pickle.loads(pickle.dumps(values)),))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert list(values) == [10 - i for i in range(5)]


def _increment(handle, times):
    array = shm.SharedArray.load_sharedobject(handle)
    for _ in range(times):
        array.update(0, lambda n: n + 1)
    array.cleanup()


@pytest.mark.timeout(120)
def test_concurrent_updates_lose_nothing():
    with shm.SharedArray.create("u64", 1) as counter:
        child = multiprocessing.get_context("fork").Process(target=_increment, args=(counter.handle, 2000))
        child.start()
        _increment(counter.handle, 2000)
        child.join(60)
        assert child.exitcode == 0
        assert counter[0] == 4000 and counter.version(0) == 4000


def test_numpy_records_in_and_out():
    np = pytest.importorskip("numpy")
    with shm.SharedArray.create(POSE, 3) as poses:
        table = np.zeros(3, dtype=POSE.dtype)
        table["seq"] = [4, 5, 6]
        table["valid"] = True
        for i in range(3):
            poses[i] = table[i]
        assert poses.to_numpy().tobytes() == table.tobytes()
    with shm.SharedArray.create("i16", 2) as small:
        small[0] = np.int16(-3)
        assert small.to_numpy().tolist() == [-3, 0]


@pytest.mark.timeout(120)
def test_rust_reads_and_updates_a_python_array(peer):  # noqa: F811
    with shm.SharedArray.create(POSE, 4) as poses:
        for i in range(4):
            poses[i] = pose(float(i), i)
        assert run(peer, "pose-array", poses.handle).strip() == "4"
        assert list(poses) == [pose(2.0 * i, i + 10) for i in range(4)]
        assert [poses.version(i) for i in range(4)] == [2] * 4


# The `Inner` and `Outer` of examples/python_peer.rs, field for field.
INNER = shm.Struct("Inner", [("points", (("i16", 2), 3)), ("on", ("bool", 2))])
OUTER = shm.Struct(
    "Outer",
    [("stamp", "u64"), ("gain", "f32"), ("inner", (INNER, 2)), ("flags", ("bool", 3)), ("level", "i8"), ("name", ("u8", 4))],
)


def nested(i):
    """examples/python_peer.rs's `nested_value(i)`."""
    inner = [{"points": [[10 * i + 3 * k + j, -j] for j in range(3)], "on": [k == 0, i % 2 == 1]} for k in range(2)]
    return {
        "stamp": 1000 + i,
        "gain": 0.25 * i,
        "inner": inner,
        "flags": [True, False, i % 2 == 0],
        "level": -i,
        "name": b"n%d" % i,
    }


@pytest.mark.timeout(120)
def test_python_encoding_equals_the_runtimes(peer):  # noqa: F811
    """Python's bytes for a nested struct with arrays and flags are, byte
    for byte, what the runtime's `Value::encode` makes of the same value
    (checked by the Rust peer), and Python reads back what it wrote."""
    with shm.SharedArray.create(OUTER, 3) as outers:
        for i in range(3):
            outers[i] = nested(i)
            assert outers[i] == dict(nested(i), name=list((b"n%d" % i).ljust(4, b"\0")))
        assert run(peer, "nested", outers.handle).strip() == "ok 3"
        for i in range(3):
            assert outers[i] == dict(nested(i + 100), name=list((b"n%d" % (i + 100)).ljust(4, b"\0")))


def test_padding_may_be_left_out_and_range_errors_read_as_the_runtimes():
    """The acceptance rules of the runtime's `Value::encode`: a field whose
    name starts with `_` (explicit padding) may be left out and is zeros;
    an integer out of range is refused with the runtime's wording."""
    padded = shm.Struct("Padded", [("seq", "u32"), ("on", "bool"), ("_pad", ("u8", 3))])
    with shm.SharedArray.create(padded, 1) as values:
        values[0] = {"seq": 5, "on": True}
        assert values[0] == {"seq": 5, "on": True, "_pad": [0, 0, 0]}
        assert padded.pack({"seq": 5, "on": True}) == padded.pack({"seq": 5, "on": True, "_pad": b""})
        with pytest.raises(OverflowError, match=r"Padded\.seq: -1 is out of range for `u32`"):
            values[0] = {"seq": -1, "on": True}
        with pytest.raises(ValueError, match=r"Padded\.on: missing"):
            values[0] = {"seq": 1}
        assert values[0]["seq"] == 5


@pytest.mark.timeout(120)
def test_python_writes_a_rust_array(peer):  # noqa: F811
    """A Rust `SharedArray<Pose>` (`create-pose`) opened and written from
    Python: the Rust side reads what Python wrote."""
    proc, array, _, _ = _rust_pose(peer)
    try:
        with shm.SharedArray.load_sharedobject(array, POSE) as poses:
            assert poses[1] == _expected(1)
            poses[1] = dict(_expected(1), seq=41)
            assert poses.update(2, lambda p: dict(p, seq=p["seq"] + 40))["seq"] == 42
        out, _ = proc.communicate("done\n", timeout=60)
        assert proc.returncode == 0
        assert out.splitlines()[-1] == "seqs 0 41 42"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
