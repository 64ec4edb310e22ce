"""The native objects: each in one process, then across two (fork and spawn)."""

import os
import pickle
import signal
import threading
import time

import pytest

import shm
from conftest import assert_ctrl_c_interrupts, entries, run_child

# ---------------------------------------------------------------- one process


def test_int_round_trip_and_atomics():
    with shm.SharedInt(5) as a:
        assert a.read() == 5
        b = shm.SharedInt.load_sharedobject(a.handle)
        assert not b.is_creator and a.is_creator
        b.write(-7)
        assert a.read() == -7
        assert a.fetch_add(10) == -7
        assert b.swap(1) == 3
        assert a.compare_exchange(1, 2) == (True, 1)
        assert a.compare_exchange(1, 3) == (False, 2)
        a.write(2**63 - 1)
        assert b.read() == 2**63 - 1
        b.cleanup()
        name = a.name
        assert name in entries(), "an opener's cleanup only unmaps"
    assert name not in entries(), "the creator's context manager removes the name"


def test_handle_is_str_and_context_manager_removes_the_name():
    with shm.SharedInt.create_sharedobject(3) as a:
        handle, name = a.handle, a.name
        assert isinstance(handle, str) and handle.startswith("shm1:") and name in handle
        assert name.startswith(shm.NAME_PREFIX) and name in entries()
        assert "SharedInt(handle=" in repr(a)
    assert name not in entries()
    with pytest.raises(shm.CleanedUp):
        a.read()
    a.cleanup()  # again: nothing to do
    with pytest.raises(shm.NotFound):
        shm.SharedInt.load_sharedobject(handle, timeout=0)


def test_bool():
    with shm.SharedBool() as flag:
        assert flag.read() is False
        other = shm.SharedBool.load_sharedobject(flag.handle)
        other.write(True)
        assert flag.read() is True
        assert flag.swap(False) is True
        assert other.read() is False
        other.cleanup()


def test_string_unicode_and_capacity_in_bytes():
    with shm.SharedString(8) as s:
        assert s.capacity == 8 and s.read() == ""
        s.write("héllo")  # 6 bytes
        peer = shm.SharedString.load_sharedobject(s.handle)
        assert peer.read() == "héllo"
        s.write("ü" * 4)  # exactly 8 bytes
        assert peer.read() == "ü" * 4
        with pytest.raises(shm.TooLarge) as err:
            s.write("ü" * 4 + "x")
        assert "capacity is 8 bytes" in str(err.value)
        assert peer.read() == "ü" * 4, "a refused write stores nothing"
        s.write("")
        assert peer.read() == ""
        peer.cleanup()


def test_bytes_accepts_bytes_and_bytearray():
    with shm.SharedBytes.create_sharedobject(16) as b:
        assert b.capacity == 16 and b.read() == b""
        b.write(b"\x00\x01abc")
        assert b.read() == b"\x00\x01abc"
        b.write(bytearray(b"xyz"))
        assert b.read() == b"xyz", "no stale tail from the longer write before"
        with pytest.raises(shm.TooLarge):
            b.write(bytes(17))
        assert b.read() == b"xyz"


def test_open_by_name(unique_name):
    with shm.SharedString.create_named(unique_name, 32) as s:
        s.write("by name")
        with shm.SharedString.open(unique_name) as t:
            assert t.read() == "by name" and t.name == unique_name
        with pytest.raises(shm.AlreadyExists):
            shm.SharedString.create_named(unique_name, 32)
        with pytest.raises(shm.KindMismatch):
            shm.SharedInt.open(unique_name, timeout=0)


def test_open_missing_name_times_out(unique_name):
    t0 = time.monotonic()
    with pytest.raises(shm.NotFound):
        shm.SharedInt.open(unique_name, timeout=0.1)
    assert time.monotonic() - t0 < 5


# ---------------------------------------------------------------- byte ring


def test_byte_ring_in_order_nothing_overwritten():
    with shm.ByteRing.create_memorybuf(16, 4) as tx:
        rx = shm.ByteRing.load_memorybuf(tx.handle)
        assert (tx.side_name, rx.side_name) == ("producer", "consumer")
        assert (tx.slot_size, tx.capacity, tx.get_number_of_memories()) == (16, 4, 4)
        assert rx.read() is None and not rx.can_read() and tx.can_write()
        for i in range(4):
            tx.write(b"m%d" % i)
        assert not tx.can_write() and len(rx) == 4 and tx.get_fullness() == 100.0
        with pytest.raises(shm.Full):
            tx.write(b"lost?")
        assert [rx.read() for _ in range(4)] == [b"m0", b"m1", b"m2", b"m3"]
        assert rx.read() is None and rx.get_fullness() == 0.0
        assert tx.get_write_pointer() == rx.get_read_pointer() == 0
        with pytest.raises(shm.TooLarge):
            tx.write(bytes(17))
        tx.write(b"")
        assert rx.read() == b""
        rx.cleanup()


def test_byte_ring_sides_and_roles():
    with shm.ByteRing.create_memorybuf(8, 2, side="consumer") as rx:
        tx = shm.ByteRing.load_memorybuf(rx.handle, side="producer")
        with pytest.raises(shm.WrongSide):
            rx.write(b"x")
        with pytest.raises(shm.WrongSide):
            tx.read()
        with pytest.raises(shm.WrongSide):
            iter(tx)
        with pytest.raises(shm.RoleTaken):
            shm.ByteRing.load_memorybuf(rx.handle, side="consumer")
        with pytest.raises(ValueError):
            shm.ByteRing.load_memorybuf(rx.handle, side="both")
        tx.write_blocking(b"abc", timeout=1)
        assert rx.read_blocking(timeout=1) == b"abc"
        tx.cleanup()


def test_byte_ring_blocking_times_out_and_iteration_ends_when_producer_leaves():
    tx = shm.ByteRing.create_memorybuf(8, 2)
    rx = shm.ByteRing.load_memorybuf(tx.handle)
    t0 = time.monotonic()
    with pytest.raises(shm.Timeout):
        rx.read_blocking(timeout=0.2)
    assert 0.15 < time.monotonic() - t0 < 5
    tx.write(b"1")
    tx.write(b"2")
    with pytest.raises(shm.Timeout):
        tx.write_blocking(b"3", timeout=0.1)
    tx.cleanup()
    assert list(rx) == [b"1", b"2"]
    with pytest.raises(shm.Closed):
        rx.read_blocking(timeout=1)
    rx.cleanup()


def test_byte_ring_reset_read_skips_to_newest():
    with shm.ByteRing.create_memorybuf(8, 8) as tx:
        with shm.ByteRing.load_memorybuf(tx.handle) as rx:
            for i in range(5):
                tx.write(b"%d" % i)
            assert rx.reset_read() == 5
            assert rx.read() is None
            tx.write(b"new")
            assert rx.read() == b"new"


def test_blocking_read_releases_the_gil_and_ctrl_c_interrupts_it():
    with shm.ByteRing.create_memorybuf(8, 2) as tx:
        rx = shm.ByteRing.load_memorybuf(tx.handle)
        assert_ctrl_c_interrupts(lambda: rx.read_blocking(), "the read waited")
        rx.cleanup()


# ---------------------------------------------------------------- two processes


def child_adds(handle, times):
    counter = shm.SharedInt.load_sharedobject(handle)
    for _ in range(times):
        counter.fetch_add(1)
    counter.cleanup()


def test_int_two_processes(mp):
    with shm.SharedInt(0) as counter:
        proc = mp.Process(target=child_adds, args=(counter.handle, 5000))
        proc.start()
        for _ in range(5000):
            counter.fetch_add(1)
        proc.join(60)
        assert proc.exitcode == 0
        assert counter.read() == 10000


def child_answers(string_handle, flag_handle, bytes_handle):
    s = shm.SharedString.load_sharedobject(string_handle)
    flag = shm.SharedBool.load_sharedobject(flag_handle)
    data = shm.SharedBytes.load_sharedobject(bytes_handle)
    assert s.read() == "Hello"
    assert data.read() == b"\x00\xffpayload"
    s.write("From afar")
    data.write(b"answer")
    flag.write(True)
    for obj in (s, flag, data):
        obj.cleanup()


def test_string_bool_bytes_two_processes(mp):
    with shm.SharedString(200) as s, shm.SharedBool() as flag, shm.SharedBytes(64) as data:
        s.write("Hello")
        data.write(b"\x00\xffpayload")
        run_child(mp, child_answers, s.handle, flag.handle, data.handle)
        assert flag.read() is True
        assert s.read() == "From afar"
        assert data.read() == b"answer"


def child_consumes(handle, count):
    rx = shm.ByteRing.load_memorybuf(handle)
    for i, message in enumerate(rx):
        assert message == b"msg %d" % i, (i, message)
        if i == count - 1:
            break
    else:
        raise AssertionError("the ring closed early")
    rx.cleanup()


def child_produces(handle, count):
    tx = shm.ByteRing.load_memorybuf(handle, side="producer")
    for i in range(count):
        tx.write_blocking(b"msg %d" % i, timeout=30)
    tx.cleanup()


def test_byte_ring_two_processes_both_directions(mp):
    count = 20000
    with shm.ByteRing.create_memorybuf(32, 16) as tx:
        proc = mp.Process(target=child_consumes, args=(tx.handle, count))
        proc.start()
        for i in range(count):
            tx.write_blocking(b"msg %d" % i, timeout=30)
        proc.join(60)
        assert proc.exitcode == 0
    with shm.ByteRing.create_memorybuf(32, 16, side="consumer") as rx:
        proc = mp.Process(target=child_produces, args=(rx.handle, count))
        proc.start()
        for i in range(count):
            assert rx.read_blocking(timeout=30) == b"msg %d" % i
        proc.join(60)
        assert proc.exitcode == 0


# ---------------------------------------------------------------- typed ring


def test_memory_interface_items_of_each_type():
    for item, values in [("i64", [-(2**63), 0, 2**63 - 1]), ("u64", [0, 2**64 - 1, 7]), ("f64", [1.5, -0.0, 1e300])]:
        with shm.MemoryInterface.create_memorybuf(4, item=item) as tx:
            rx = shm.MemoryInterface.load_memorybuf(tx.handle, item=item)
            assert (tx.item, rx.item, tx.get_number_of_memories()) == (item, item, 4)
            for v in values:
                tx.write(v)
            assert len(rx) == 3 and rx.get_fullness() == 75.0
            assert [rx.read() for _ in range(3)] == values
            assert rx.read() is None
            rx.cleanup()


def test_memory_interface_full_batches_and_errors():
    with shm.MemoryInterface.create_memorybuf(4, item="u64") as tx:
        rx = shm.MemoryInterface.load_memorybuf(tx.handle, item="u64")
        assert tx.write_many(range(10)) == 4, "only what fits"
        with pytest.raises(shm.Full):
            tx.write(99)
        with pytest.raises(shm.Timeout):
            tx.write_blocking(99, timeout=0.05)
        assert rx.read_many(10) == [0, 1, 2, 3]
        with pytest.raises(OverflowError):
            tx.write(-1)
        with pytest.raises(TypeError):
            tx.write("1")
        with pytest.raises(shm.WrongSide):
            tx.read()
        with pytest.raises(shm.WrongSide):
            rx.write(1)
        with pytest.raises(shm.LayoutMismatch):
            shm.MemoryInterface.load_memorybuf(tx.handle, item="f64")
        with pytest.raises(ValueError):
            shm.MemoryInterface.load_memorybuf(tx.handle, item="str")
        tx.write(5)
        tx.write(6)
        assert rx.reset_read() == 2 and rx.read() is None
        rx.cleanup()
    with pytest.raises(shm.Closed):
        rx_closed = shm.MemoryInterface.create_memorybuf(2, side="consumer")
        tx2 = shm.MemoryInterface.load_memorybuf(rx_closed.handle, side="producer")
        tx2.cleanup()
        try:
            rx_closed.read_blocking(timeout=5)
        finally:
            rx_closed.cleanup()


def test_memory_interface_iteration_ends_when_the_producer_leaves():
    tx = shm.MemoryInterface.create_memorybuf(8, item="i64")
    rx = shm.MemoryInterface.load_memorybuf(tx.handle, item="i64")
    with pytest.raises(shm.WrongSide):
        iter(tx)
    tx.write_many([3, 2, 1])
    tx.cleanup()
    assert list(rx) == [3, 2, 1]
    rx.cleanup()


def child_typed_consumer(handle, count):
    rx = shm.MemoryInterface.load_memorybuf(handle, item="f64")
    for i in range(count):
        assert rx.read_blocking(timeout=30) == i / 2
    rx.cleanup()


def test_memory_interface_two_processes(mp):
    count = 20000
    with shm.MemoryInterface.create_memorybuf(64, item="f64") as tx:
        proc = mp.Process(target=child_typed_consumer, args=(tx.handle, count))
        proc.start()
        for i in range(count):
            tx.write_blocking(i / 2, timeout=30)
        proc.join(60)
        assert proc.exitcode == 0


def child_gets_objects(n, s, b, flag, array):
    n.fetch_add(1)
    s.write("pickled " + s.read())
    b.write(b.read()[::-1])
    flag.write(True)
    array[0] = b"child"
    for obj in (n, s, b, flag, array):
        obj.cleanup()


def test_value_objects_and_arrays_pickle_as_their_handle(mp):
    with shm.SharedInt(1) as n, shm.SharedString(32) as s, shm.SharedBytes(8) as b, shm.SharedBool() as flag:
        with shm.BytesArray(5, 1) as array:
            s.write("hello")
            b.write(b"abc")
            copy = pickle.loads(pickle.dumps(n))
            assert not copy.is_creator and copy.handle == n.handle
            copy.cleanup()
            run_child(mp, child_gets_objects, n, s, b, flag, array)
            assert (n.read(), s.read(), b.read(), flag.read(), array[0]) == (2, "pickled hello", b"cba", True, b"child")
    with pytest.raises(shm.CleanedUp):
        pickle.dumps(n)
    with pytest.raises(TypeError):
        pickle.dumps(shm.ByteRing.create_memorybuf(8, 2))


def child_writes_then_dies(handle):
    tx = shm.ByteRing.load_memorybuf(handle, side="producer")
    for i in range(5):
        tx.write(b"%d" % i)
    os.kill(os.getpid(), signal.SIGKILL)


def child_attaches_then_dies(handle):
    rx = shm.ByteRing.load_memorybuf(handle)  # the consumer side, never read
    os.kill(os.getpid(), signal.SIGKILL)
    rx.cleanup()  # not reached


def test_a_killed_peer_is_peer_dead_not_a_hang(mp):
    with shm.ByteRing.create_memorybuf(8, 8, side="consumer") as rx:
        proc = mp.Process(target=child_writes_then_dies, args=(rx.handle,))
        proc.start()
        proc.join(60)
        assert proc.exitcode == -signal.SIGKILL
        assert [rx.read_blocking(timeout=10) for _ in range(5)] == [b"%d" % i for i in range(5)]
        with pytest.raises(shm.PeerDead) as err:
            rx.read_blocking(timeout=10)
        assert "producer" in str(err.value)
    with shm.ByteRing.create_memorybuf(8, 2) as tx:
        proc = mp.Process(target=child_attaches_then_dies, args=(tx.handle,))
        proc.start()
        proc.join(60)
        assert proc.exitcode == -signal.SIGKILL
        tx.write(b"a")
        tx.write(b"b")
        with pytest.raises(shm.PeerDead):
            tx.write_blocking(b"c", timeout=10)


def test_open_by_name_waits_for_a_later_creator_and_ctrl_c_ends_the_wait(unique_name):
    made = []

    def create_later():
        time.sleep(0.3)
        made.append(shm.SharedInt.create_named(unique_name, 42))

    maker = threading.Thread(target=create_later)
    maker.start()
    with shm.SharedInt.open(unique_name, timeout=30) as n:  # the maker runs while this waits
        assert n.read() == 42
    maker.join()
    made[0].cleanup()

    def interrupt():
        time.sleep(0.3)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    sent = []
    killer = threading.Thread(target=interrupt)
    killer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            shm.SharedInt.open(unique_name + "-never", timeout=3600)
        raised = time.monotonic()
    finally:
        killer.join()
    assert raised - sent[0] < 0.5, f"KeyboardInterrupt came {raised - sent[0]:.3f} s after SIGINT"
