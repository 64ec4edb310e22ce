"""Struct values written and read from Python: `shm.Shared` and a
`MemoryInterface` of struct items, against Rust's `Shared<Pose>` and
`MemoryInterface<Pose>` (examples/python_peer.rs) in both directions.
"""

import multiprocessing as mp
import subprocess

import pytest

import shm
from test_cross_language import peer  # noqa: F401  (the session fixture)
from test_struct import POSE, _finish, _rust_pose


def pose(x, seq):
    """examples/python_peer.rs's `pose(x, seq)`."""
    return {"x": x, "y": -x, "theta": 0.5, "seq": seq, "tag": list(b"pose\0\0\0"), "valid": True}


def test_pack_unpack_round_trip():
    value = pose(2.5, 9)
    data = POSE.pack(value)
    assert len(data) == POSE.size == 32
    assert POSE.unpack(data) == value
    assert POSE.pack(dict(value, tag=b"pose")) == data, "bytes for a u8 array are zero-padded"
    assert POSE.field_types[4] == ("tag", ("u8", 7))


@pytest.mark.parametrize(
    "change, error, words",
    [
        ({"seq": -1}, OverflowError, "Pose.seq"),
        ({"seq": 2**32}, OverflowError, "Pose.seq"),
        ({"seq": 1.0}, TypeError, "Pose.seq"),
        ({"valid": 1}, TypeError, "Pose.valid"),
        ({"x": "1"}, TypeError, "Pose.x"),
        ({"tag": [1] * 8}, ValueError, "8 items for an array of 7"),
        ({"tag": b"12345678"}, ValueError, "8 bytes for an array of 7"),
        ({"tag": "pose"}, TypeError, "Pose.tag"),
        ({"tag": [0, 0, 0, 256, 0, 0, 0]}, OverflowError, r"Pose.tag\[3\]"),
        ({"speed": 1}, ValueError, 'no field "speed"'),
    ],
)
def test_bad_values_raise_and_write_nothing(change, error, words):
    with shm.Shared(POSE, pose(1.0, 1)) as value:
        with pytest.raises(error, match=words):
            value.write(dict(pose(1.0, 2), **change))
        missing = pose(1.0, 3)
        del missing["theta"]
        with pytest.raises(ValueError, match="Pose.theta: missing"):
            value.write(missing)
        assert value.read() == pose(1.0, 1)
        assert value.version() == 0


def test_shared_struct_in_one_process():
    with shm.Shared(POSE) as value:
        assert value.read() == dict(pose(0.0, 0), y=0.0, theta=0.0, tag=[0] * 7, valid=False)
        other = shm.Shared.load_sharedobject(value.handle)  # the segment's type
        assert other.struct == POSE and not other.is_creator
        since = other.version()
        value.write(pose(4.0, 4))
        assert other.wait_changed(since, timeout=1) == since + 1
        assert other.read() == pose(4.0, 4)
        assert other.read_bytes() == POSE.pack(pose(4.0, 4))
        other.write_bytes(POSE.pack(pose(5.0, 5)))
        assert value.read()["seq"] == 5
        assert other.wait_changed(other.version(), timeout=0.01) is None
        other.cleanup()
        with pytest.raises(shm.CleanedUp):
            other.read()


def _child_bumps(value):
    current = value.read()
    value.write(dict(current, seq=current["seq"] + 1))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_shared_struct_travels_to_children(method):
    with shm.Shared(POSE, pose(1.0, 1)) as value:
        child = mp.get_context(method).Process(target=_child_bumps, args=(value,))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert value.read()["seq"] == 2


def test_struct_declared_differently_is_refused_by_name():
    retyped = shm.Struct(
        "Pose",
        [("x", "f64"), ("y", "f64"), ("theta", "f32"), ("seq", "i32"), ("tag", ("u8", 7)), ("valid", "bool")],
    )
    with shm.Shared(POSE) as value:
        with pytest.raises(shm.LayoutMismatch, match="field `seq` is `i32`"):
            shm.Shared.load_sharedobject(value.handle, struct=retyped)
    with shm.MemoryInterface.create_memorybuf(4, item=POSE) as tx:
        with pytest.raises(shm.LayoutMismatch, match="field `seq`"):
            shm.MemoryInterface.load_memorybuf(tx.handle, item=retyped)
        with pytest.raises(shm.LayoutMismatch):
            shm.MemoryInterface.load_memorybuf(tx.handle, item="u64")


def test_ring_of_structs_in_one_process():
    with shm.MemoryInterface.create_memorybuf(8, item=POSE) as tx:
        rx = shm.MemoryInterface.load_memorybuf(tx.handle)  # the segment's type
        assert rx.item == POSE and tx.item == POSE
        assert tx.write_many(pose(float(i), i) for i in range(10)) == 8, "only what fits"
        with pytest.raises(shm.Full):
            tx.write(pose(0.0, 0))
        assert rx.read_many(3) == [pose(float(i), i) for i in range(3)]
        assert [rx.read()["seq"] for _ in range(5)] == [3, 4, 5, 6, 7]
        assert rx.read() is None
        tx.write_blocking(pose(9.0, 9), timeout=1)
        assert rx.read_blocking(timeout=1) == pose(9.0, 9)
        with pytest.raises(shm.Timeout):
            rx.read_blocking(timeout=0.01)
        with pytest.raises(ValueError):
            tx.write({"x": 1.0})
        rx.cleanup()


@pytest.mark.timeout(120)
def test_python_shared_pose_updated_by_rust(peer):  # noqa: F811
    with shm.Shared(POSE, pose(1.5, 7)) as value:
        done = subprocess.run([peer, "pose-update", value.handle], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "7"
        assert value.read() == pose(3.0, 8)
        assert value.version() == 1


@pytest.mark.timeout(120)
def test_rust_shared_pose_written_from_python(peer):  # noqa: F811
    proc, _, _, shared = _rust_pose(peer)
    try:
        value = shm.Shared.load_sharedobject(shared, struct=POSE)
        assert value.read() == pose(1.5, 7)
        value.write(pose(-1.0, 99))
        # Rust's `pose-update` checks and rewrites what Python wrote.
        done = subprocess.run([peer, "pose-update", shared], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "99"
        assert value.read() == pose(-2.0, 100)
        value.cleanup()
    finally:
        _finish(proc)


@pytest.mark.timeout(120)
def test_rust_ring_of_poses_consumed_by_python(peer):  # noqa: F811
    count = 100_000
    proc = subprocess.Popen([peer, "pose-ring", str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        handle = proc.stdout.readline().strip()
        with shm.MemoryInterface.load_memorybuf(handle, item=POSE) as rx:
            for seq in range(count):
                item = rx.read()
                assert item == pose(float(seq), seq), f"item {seq}"
            assert rx.read() is None
    finally:
        _finish(proc)


@pytest.mark.timeout(120)
def test_python_ring_of_poses_consumed_by_rust(peer):  # noqa: F811
    count = 100_000
    with shm.MemoryInterface.create_memorybuf(1024, item=POSE) as tx:
        proc = subprocess.Popen([peer, "pose-consume", tx.handle, str(count)], stdout=subprocess.PIPE, text=True)
        try:
            for seq in range(count):
                tx.write_blocking(pose(float(seq), seq), timeout=30)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0
        assert out.strip() == f"ok {count}"
