"""shm.compat.shared_memory_handler, and shm.BytesArray under it."""

import os
import pickle
import subprocess
import sys

import pytest

import shm
from conftest import entries, run_child
from shm.compat.shared_memory_handler import SharedMemoryHandlee

HERE = os.path.dirname(os.path.abspath(__file__))


def run_example(name, start_method=None):
    env = dict(os.environ)
    code = None
    script = os.path.join(HERE, "seed_examples", name)
    if start_method:
        # The example unchanged, with the start method set before it runs.
        code = (
            "import multiprocessing, runpy, sys; "
            f"multiprocessing.set_start_method({start_method!r}); "
            f"sys.argv = [{script!r}]; runpy.run_path({script!r}, run_name='__main__')"
        )
    args = [sys.executable, "-c", code] if code else [sys.executable, script]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "Error" not in done.stderr, done.stderr
    return done.stdout.split("\n")[:-1]


def test_seed_readme_basic_example():
    assert run_example("shared_memory_handler_basic.py") == [f"({i},)" for i in range(10)]


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_seed_readme_multiprocessing_example(start_method):
    lines = run_example("shared_memory_handler_multiprocessing.py", start_method)
    assert lines == [f"({2 * i},)" for i in range(10)]


class Pose(SharedMemoryHandlee):
    def __init__(self, length):
        super().__init__(length, struct="<iddd")


def test_records_get_set_iterate_and_negative_index():
    with Pose(4) as poses:
        assert len(poses) == 4 and poses.size == 4 * poses.struct.size
        assert list(poses) == [(0, 0.0, 0.0, 0.0)] * 4
        poses[1] = (7, 1.5, -2.0, 3.25)
        poses[-1] = (9, 0.0, 0.0, 1.0)
        assert poses[1] == (7, 1.5, -2.0, 3.25)
        assert poses.get_at(3) == poses[-1] == (9, 0.0, 0.0, 1.0)
        assert len(poses.data) == poses.size
        with pytest.raises(IndexError):
            poses[4]
        with pytest.raises(IndexError):
            poses[-5] = (1, 1.0, 1.0, 1.0)
        with pytest.raises(Exception):
            poses[0] = (1, 2)  # wrong number of fields: struct.error
        state = poses.get_state()
        assert state["length"] == 4 and state["struct"] == "<iddd"
        copy = pickle.loads(pickle.dumps(poses))
        assert isinstance(copy, Pose) and copy[1] == (7, 1.5, -2.0, 3.25)
        copy[2] = (2, 2.0, 2.0, 2.0)
        assert poses[2] == (2, 2.0, 2.0, 2.0)
    with pytest.raises(ValueError):
        Pose(0)


def test_without_struct_records_are_bytes():
    with SharedMemoryHandlee(3) as raw:
        raw[0] = 255
        raw[2] = 7
        assert list(raw) == [255, 0, 7]
        assert raw.data == b"\xff\x00\x07"


def writer(poses, start, end, rounds):
    for r in range(rounds):
        for i in range(start, end):
            poses[i] = (r, float(r), float(-r), float(r * 2))


def test_workers_write_whole_records_in_parallel(mp):
    rounds = 200
    poses = Pose(8)
    procs = [mp.Process(target=writer, args=(poses, s, s + 4, rounds)) for s in (0, 4)]
    for p in procs:
        p.start()
    for _ in range(2000):
        for r, a, b, c in poses:
            assert (a, b, c) == (float(r), float(-r), float(r * 2)), "a torn record"
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert list(poses) == [(rounds - 1, float(rounds - 1), float(1 - rounds), float(2 * rounds - 2))] * 8
    name = poses._smh_array.handle.rsplit(":", 1)[1]
    del poses
    assert name not in entries(), "the creator's object removes the segment when collected"


def test_bytes_array_direct():
    with shm.BytesArray(5, 3) as a:
        assert (len(a), a.item_size) == (3, 5)
        a[0] = b"abcde"
        b = shm.BytesArray.load_sharedobject(a.handle, 5)
        assert b[0] == b"abcde" and b[-1] == bytes(5)
        with pytest.raises(shm.TooLarge):
            b[1] = b"toolong"
        with pytest.raises(IndexError):
            b[3]
        with pytest.raises(TypeError):
            b[0] = "text"
        with pytest.raises(shm.LayoutMismatch):
            shm.BytesArray.load_sharedobject(a.handle, 100)
        b.cleanup()
    with pytest.raises(ValueError):
        shm.BytesArray(2000, 1)


def child_checks_array(handle):
    a = shm.BytesArray.load_sharedobject(handle, 16)
    assert a[0] == b"0123456789abcdef"
    a[1] = b"from the child!!"
    a.cleanup()


def test_bytes_array_two_processes(mp):
    with shm.BytesArray(16, 2) as a:
        a[0] = b"0123456789abcdef"
        run_child(mp, child_checks_array, a.handle)
        assert a[1] == b"from the child!!"
