"""A Rust process and a Python process share ints, strings and a byte ring.

The Rust side is the workspace's example `python_peer` (examples/python_peer.rs):
$SHM_PYTHON_PEER names its binary; without it, the test builds it with cargo.
"""

import os
import subprocess

import pytest

import shm

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def peer():
    path = os.environ.get("SHM_PYTHON_PEER")
    if path:
        assert os.access(path, os.X_OK), f"SHM_PYTHON_PEER={path} is not an executable"
        return path
    subprocess.run(
        ["cargo", "build", "--quiet", "--example", "python_peer"], cwd=REPO, check=True, timeout=900
    )
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.path.join(target, "debug", "examples", "python_peer")


def run(peer, *args):
    done = subprocess.run([peer, *map(str, args)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"python_peer {args} failed:\n{done.stderr}"
    return done.stdout


def test_python_int_and_string_read_and_written_by_rust(peer):
    with shm.SharedInt(20) as n, shm.SharedString(64) as s:
        assert run(peer, "int", n.handle).strip() == "20"
        assert n.read() == 41
        s.write("héllo from Python")
        assert run(peer, "string", s.handle).strip() == "héllo from Python"
        assert s.read() == "nohtyP morf olléh"


def test_rust_int_and_string_read_and_written_by_python(peer):
    for command, args, check in [
        ("create-int", [-5], lambda h: _bump_int(h)),
        ("create-string", [32, "Grüße aus Rust"], lambda h: _answer_string(h)),
    ]:
        proc = subprocess.Popen([peer, command, *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            handle = proc.stdout.readline().strip()
            expected = check(handle)
            proc.stdin.write("done\n")
            proc.stdin.flush()
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0
        assert out.strip() == expected


def _bump_int(handle):
    with shm.SharedInt.load_sharedobject(handle) as n:
        assert n.read() == -5
        n.fetch_add(47)
    return "42"


def _answer_string(handle):
    with shm.SharedString.load_sharedobject(handle) as s:
        assert s.read() == "Grüße aus Rust"
        with pytest.raises(shm.TooLarge):
            s.write("x" * 33)
        s.write("Antwort aus Python")
    return "Antwort aus Python"


def test_byte_ring_python_producer_rust_consumer(peer):
    count = 20000
    with shm.ByteRing.create_memorybuf(32, 64) as tx:
        proc = subprocess.Popen([peer, "consume", tx.handle, str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for i in range(count):
                tx.write_blocking(b"msg %d" % i, timeout=30)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert out.strip() == f"ok {count}"


def test_byte_ring_rust_producer_python_consumer(peer):
    count = 20000
    # Python creates, Rust opens as the producer.
    with shm.ByteRing.create_memorybuf(32, 64, side="consumer") as rx:
        proc = subprocess.Popen([peer, "produce", rx.handle, str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for i in range(count):
                assert rx.read_blocking(timeout=30) == b"msg %d" % i
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
    # Rust creates (and leaves when done), Python opens as the consumer.
    proc = subprocess.Popen([peer, "create-ring", "16", "8", "1000"], stdout=subprocess.PIPE, text=True)
    try:
        handle = proc.stdout.readline().strip()
        with shm.ByteRing.load_memorybuf(handle) as rx:
            assert [m for m in rx] == [b"msg %d" % i for i in range(1000)], "every message, then Closed"
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


def test_rust_rejects_a_python_object_of_another_kind(peer):
    with shm.SharedString(8) as s:
        done = subprocess.run([peer, "int", s.handle], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert done.stderr.startswith("python_peer: "), done.stderr
        assert "string" in done.stderr and "int" in done.stderr, done.stderr


def test_typed_ring_of_100000_items_both_directions(peer):
    count = 100_000
    items = [3 * i + 1 for i in range(count)]
    with shm.MemoryInterface.create_memorybuf(1024, item="u64") as tx:
        proc = subprocess.Popen([peer, "typed-consume", tx.handle, str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            sent = 0
            while sent < count:
                n = tx.write_many(items[sent : sent + 1024])
                if n == 0:
                    tx.write_blocking(items[sent], timeout=30)
                    n = 1
                sent += n
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert out.strip() == f"ok {count}"
    with shm.MemoryInterface.create_memorybuf(1024, item="u64", side="consumer") as rx:
        proc = subprocess.Popen([peer, "typed-produce", rx.handle, str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            got = []
            while len(got) < count:
                batch = rx.read_many(1024)
                got.extend(batch if batch else [rx.read_blocking(timeout=30)])
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert got == items, "every item, in order"


def test_python_bytes_array_is_a_rust_shared_array(peer):
    import struct

    record = struct.Struct("=QQ")  # a Rust [u64; 2], native byte order
    with shm.BytesArray(record.size, 5) as array:
        for i in range(5):
            array[i] = record.pack(i, 10 * i)
        assert run(peer, "array", array.handle).strip() == "5"
        assert [record.unpack(array[i]) for i in range(5)] == [(i + 1, 20 * i) for i in range(5)]


def test_compat_memory_interface_bytes_reach_a_rust_byte_ring(peer):
    from shm.compat.memory_interface import MemoryInterface

    count = 2000
    mi = MemoryInterface()
    memblk = mi.create_memorybuf(b"msg 1999", 16, use_pickle=False)
    # The Rust reader opens the ring by the name in the memblk.
    proc = subprocess.Popen([peer, "consume", memblk["name"], str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sent = 0
        while sent < count:
            if mi.can_write():
                mi.write(b"msg %d" % sent)
                sent += 1
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        mi.cleanup()
    assert proc.returncode == 0, err
    assert out.strip() == f"ok {count}"
    # And a Rust writer reaches a compat reader.
    mi = MemoryInterface()
    memblk = mi.create_memorybuf(b"msg 1999", 16, use_pickle=False)
    assert not mi.can_read(), "the reader makes the ring; the Rust writer opens it by name"
    proc = subprocess.Popen([peer, "produce", memblk["name"], str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        got = 0
        while got < count:
            if mi.can_read():
                assert mi.read() == bytearray(b"msg %d" % got)
                got += 1
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        mi.cleanup()
    assert proc.returncode == 0, err
