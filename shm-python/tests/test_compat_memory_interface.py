"""shm.compat.memory_interface: the seed's API, with its faults fixed."""

import os
import pickle
import subprocess
import sys
import time

import pytest

import shm
from conftest import run_child
from shm.compat.memory_interface import (
    BufferEmpty,
    MemoryInterface,
    SharedBool,
    SharedBytes,
    SharedInt,
    SharedString,
)

HERE = os.path.dirname(os.path.abspath(__file__))


def test_seed_readme_example_runs_unchanged_but_for_the_import():
    script = os.path.join(HERE, "seed_examples", "memory_interface_readme.py")
    done = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "In main process read: <From afar>" in done.stdout
    assert "From afar read Hello and is sending From afar" in done.stdout


def test_value_classes_with_memblks():
    for cls, create_args, value in [
        (SharedInt, (), -(2**40)),
        (SharedBool, (), True),
        (SharedString, (32,), "héllo wörld"),
        (SharedBytes, (16,), b"\x00\x01\x02"),
    ]:
        a = cls()
        memblk = a.create_sharedobject(*create_args)
        assert isinstance(memblk, dict) and pickle.loads(pickle.dumps(memblk)) == memblk
        b = cls(memblk)
        assert b.loaded and not a.loaded
        b.write(value)
        assert a.read() == value
        b.cleanup()
        a.cleanup()
        a.cleanup()  # twice: nothing to do


def test_value_class_faults_fixed_and_errors_kept():
    b = SharedBytes()
    with pytest.raises(ValueError):
        b.read()  # no object loaded
    b.create_sharedobject(8)
    b.write(b"12345678")
    b.write(b"ab")
    assert b.read() == bytearray(b"ab"), "no stale tail"
    with pytest.raises(ValueError) as err:
        b.write(b"123456789")
    assert isinstance(err.value, shm.Error)
    b.cleanup()
    s = SharedString()
    with pytest.raises(ValueError):
        s.create_sharedobject(4)
    s.create_sharedobject(5)
    with pytest.raises(ValueError):
        s.write("123456")
    s.cleanup()
    i = SharedInt()
    i.create_sharedobject()
    with pytest.raises(OverflowError):
        i.write(2**63)
    with pytest.raises(TypeError):
        i.write("7")
    i.cleanup()


def test_memory_interface_basics_like_the_seed_tests():
    largest = list(range(100))
    memsize = len(pickle.dumps(largest))
    nrmem = 5
    creator = MemoryInterface()
    memblk = creator.create_memorybuf(largest, nrmem)
    mi = MemoryInterface(memblk)
    assert (mi.get_read_pointer(), mi.get_write_pointer(), mi.get_size_in_bytes()) == (0, 0, memsize)
    assert mi.get_number_of_memories() == nrmem and mi.get_fullness() == 0
    assert not any(mi.is_valid(i) for i in range(nrmem))
    assert mi.can_read() is False and mi.can_write() is True
    towrite = list(range(50))
    assert mi.write(towrite) == len(pickle.dumps(towrite))
    assert mi.get_fullness() == 100 // nrmem and mi.get_write_pointer() == 1
    assert mi.can_read() and mi.is_valid(0) and not mi.is_valid(1)
    assert mi.read() == towrite and mi.get_fullness() == 0
    with pytest.raises(ValueError):
        mi.write(list(range(101)))
    assert mi.get_write_pointer() == 1, "a refused write leaves the pointer"
    for i in range(nrmem):
        assert mi.can_write()
        mi.write({"item": i})
    assert not mi.can_write() and mi.get_fullness() == 100
    with pytest.raises(shm.Full):
        mi.write({"item": "overwrites?"})
    assert [mi.read() for _ in range(nrmem)] == [{"item": i} for i in range(nrmem)], "nothing overwritten"
    with pytest.raises(BufferEmpty):
        mi.read()
    mi.cleanup()
    creator.cleanup()


def test_memory_interface_bytes_partial_and_reset():
    mi = MemoryInterface()
    mi.create_memorybuf(b"12345678", 4, use_pickle=False)
    assert mi.write(b"abc") == 3
    assert mi.read() == bytearray(b"abc")
    assert mi.write_partial(b"0123456789") == 2  # one whole slot written, 2 bytes wait
    assert mi.write_partial(b"abcdefgh") == 2
    assert mi.read() == bytearray(b"01234567")
    assert mi.read() == bytearray(b"89abcdef")
    for i in range(3):
        mi.write(b"%d" % i)
    mi.reset_read()
    assert not mi.can_read()
    mi.write(b"newest")
    assert mi.read() == bytearray(b"newest")
    mi.cleanup()


def child_reads(memblk, count):
    mi = MemoryInterface(memblk)
    got = 0
    while got < count:
        if mi.can_read():
            assert mi.read() == ("item", got)
            got += 1
    mi.cleanup()


def child_writes(memblk, count):
    mi = MemoryInterface(memblk)
    sent = 0
    while sent < count:
        if mi.can_write():
            mi.write(("item", sent))
            sent += 1
    mi.cleanup()


def test_memory_interface_either_process_writes(mp):
    count = 500
    parent = MemoryInterface()
    memblk = parent.create_memorybuf(("item", 10**6), 8)
    proc = mp.Process(target=child_reads, args=(memblk, count))
    proc.start()
    sent = 0
    while sent < count:
        if parent.can_write():
            parent.write(("item", sent))
            sent += 1
    proc.join(60)
    assert proc.exitcode == 0
    parent.cleanup()

    parent = MemoryInterface()
    memblk = parent.create_memorybuf(("item", 10**6), 8)
    proc = mp.Process(target=child_writes, args=(memblk, count))
    proc.start()
    got = 0
    while got < count:
        if parent.can_read():
            assert parent.read() == ("item", got)
            got += 1
    proc.join(60)
    assert proc.exitcode == 0
    parent.cleanup()


def child_writes_and_leaves(memblk):
    mi = MemoryInterface(memblk)
    mi.write("left for the reader")
    # No cleanup: the process ends with the item unread.


def test_items_outlive_a_writer_that_left(mp):
    parent = MemoryInterface()
    memblk = parent.create_memorybuf("x" * 40, 2)
    run_child(mp, child_writes_and_leaves, memblk)
    assert parent.can_read()
    assert parent.read() == "left for the reader"
    parent.cleanup()


def test_creator_cleanup_removes_a_ring_nobody_read(mp):
    parent = MemoryInterface()
    memblk = parent.create_memorybuf("x" * 40, 2)
    run_child(mp, child_writes_and_leaves, memblk)
    parent.cleanup()  # the fixture checks that nothing is left


def test_pickled_none_large_items_and_empty_are_told_apart():
    mi = MemoryInterface()
    mi.create_memorybuf(bytes(70_000), 4, use_pickle=True)
    try:
        mi.write(None)
        big = bytes(range(256)) * 256
        mi.write(big)
        assert mi.can_read()
        assert mi.read() is None, "a pickled None is an item"
        assert mi.read() == big
        with pytest.raises(BufferEmpty):
            mi.read()
    finally:
        mi.cleanup()


def test_pickled_bytes_go_straight_into_the_slot_and_are_real_pickles():
    # `write` of a `bytes` object writes a pickle of its own (no
    # `pickle.dumps`), never longer than `pickle.dumps` makes it; the
    # compat reader builds the `bytes` straight from the slot.
    items = [b"", b"a", bytes(range(256)), bytes(range(256)) * 256, b"K\x000B\x00\x00\x00\x00."]
    mi = MemoryInterface()
    mi.create_memorybuf(items[3], 8, use_pickle=True)
    try:
        for item in items:
            assert mi.write(item) <= len(pickle.dumps(item))
            got = mi.read()
            assert got == item and type(got) is bytes
    finally:
        mi.cleanup()


def test_what_compat_writes_is_pickles_for_any_reader():
    mi = MemoryInterface()
    memblk = mi.create_memorybuf(bytes(100), 4, use_pickle=True)
    raw = None
    try:
        mi.write(b"seen raw")  # makes the ring, as its producer
        mi.write(bytearray(b"not bytes"))
        mi.write(("a", b"tuple"))
        raw = shm.ByteRing.open(memblk["name"], side="consumer", timeout=5)
        assert pickle.loads(raw.read()) == b"seen raw"
        assert pickle.loads(raw.read()) == bytearray(b"not bytes")
        assert pickle.loads(raw.read()) == ("a", b"tuple")
    finally:
        mi.cleanup()
        if raw is not None:
            raw.cleanup()


def test_a_message_that_only_looks_like_pickled_bytes_is_unpickled():
    # A head naming another length than the message has is not the direct
    # form: it goes to `pickle.loads`, which runs out of input.
    mi = MemoryInterface()
    memblk = mi.create_memorybuf(bytes(64), 4, use_pickle=True)
    writer = None
    try:
        assert not mi.can_read()  # makes the ring, as its consumer
        writer = shm.ByteRing.open(memblk["name"], side="producer", timeout=5)
        writer.write(b"K\x000B" + (5).to_bytes(4, "little") + b"abcd.")  # says 5, holds 4
        writer.write(b"K\x000B" + (4).to_bytes(4, "little") + b"abcd.")  # right
        assert mi.can_read()
        with pytest.raises(EOFError):
            mi.read()
        assert mi.can_read() and mi.read() == b"abcd"
    finally:
        if writer is not None:
            writer.cleanup()
        mi.cleanup()


def test_bytes_items_from_any_buffer():
    mi = MemoryInterface()
    mi.create_memorybuf(bytes(16), 4, use_pickle=False)
    try:
        for item in (b"bytes", bytearray(b"bytearray"), memoryview(b"view"), b""):
            assert mi.write(item) == len(item)
            assert mi.can_read() and mi.read() == bytearray(item)
    finally:
        mi.cleanup()


def child_reads_bytes_later(memblk, delay):
    mi = MemoryInterface(memblk)
    time.sleep(delay)
    assert mi.can_read() and mi.read() == bytearray(b"1")
    mi.cleanup()


def test_can_write_sleeps_until_the_reader_frees_a_slot(mp):
    mi = MemoryInterface()
    memblk = mi.create_memorybuf(bytes(8), 2, use_pickle=False)
    try:
        mi.write(b"1")
        mi.write(b"2")
        assert not mi.can_write(), "full: no room within the poll's wait"
        proc = mp.Process(target=child_reads_bytes_later, args=(memblk, 0.2))
        proc.start()
        try:
            started = time.monotonic()
            # Sleeps on the ring's futex word; the reader's read wakes it.
            assert mi._writer().can_write(30.0)
            assert time.monotonic() - started < 20
        finally:
            proc.join(60)
        assert proc.exitcode == 0
    finally:
        mi.cleanup()


HOT = ("can_write", "write", "can_read", "read", "get_fullness")


def test_hot_methods_are_native_once_a_side_is_used_and_go_with_cleanup():
    tx = MemoryInterface()
    memblk = tx.create_memorybuf(bytes(8), 4)
    rx = MemoryInterface(memblk)
    try:
        assert not any(name in tx.__dict__ for name in HOT), "nothing bound before first use"
        assert tx.can_write() is True
        for name in ("can_write", "write", "get_fullness"):
            assert type(tx.__dict__[name]).__name__ == "builtin_function_or_method", name
        assert "read" not in tx.__dict__ and "can_read" not in tx.__dict__
        assert tx.write(b"12345678") == len(b"12345678") + 9
        assert rx.can_read() is True
        for name in ("can_read", "read", "get_fullness"):
            assert type(rx.__dict__[name]).__name__ == "builtin_function_or_method", name
        assert rx.get_fullness() == tx.get_fullness() == 25
        assert rx.read() == b"12345678"
        with pytest.raises(BufferEmpty, match=r"nothing to read: check can_read\(\) first"):
            rx.read()
        # The seed's ValueError, with the length of the item's pickle.
        item = list(range(50))
        with pytest.raises(ValueError, match=f"too large: {len(pickle.dumps(item))} but only {len(pickle.dumps(bytes(8)))}"):
            tx.write(item)
        for _ in range(4):
            tx.write(b"x")
        with pytest.raises(shm.Full):
            tx.write(b"y")
        with pytest.raises(TypeError):
            tx.write()
    finally:
        rx.cleanup()
        tx.cleanup()
    assert not any(name in tx.__dict__ or name in rx.__dict__ for name in HOT), "cleanup unbinds"


def test_use_pickle_takes_effect_when_a_side_is_first_used():
    tx = MemoryInterface()
    memblk = tx.create_memorybuf(bytes(8), 4, use_pickle=True)
    rx = MemoryInterface(memblk)
    try:
        tx.use_pickle = False  # before first use: bytes from now on
        assert tx.write(b"ab") == 2
        tx.use_pickle = True  # the producer side is bound: still bytes
        assert tx.write(b"cd") == 2
        # rx reads pickles (memblk's use_pickle): a pickled b"ab" it is not.
        rx.use_pickle = False
        assert rx.read() == bytearray(b"ab")
        rx.use_pickle = True
        assert rx.read() == bytearray(b"cd")
    finally:
        rx.cleanup()
        tx.cleanup()


def test_bytes_items_through_the_native_write():
    tx = MemoryInterface()
    memblk = tx.create_memorybuf(bytes(8), 4, use_pickle=False)
    rx = MemoryInterface(memblk)
    try:
        assert tx.write(bytearray(b"abc")) == 3 and tx.write(memoryview(b"de")) == 2
        assert rx.read() == bytearray(b"abc") and rx.read() == bytearray(b"de")
        with pytest.raises(ValueError, match="too large: 9 but only 8"):
            tx.write(bytes(9))
        with pytest.raises(TypeError):
            tx.write(3.5)
    finally:
        rx.cleanup()
        tx.cleanup()
