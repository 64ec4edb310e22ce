"""Change notification on the arrays: `SharedArray.version(i)` and
`wait_changed(i, since, timeout=None)` (over shm-runtime's
`DynArray::wait_changed`), and the same on `BytesArray`, in one process,
across two (fork and spawn), and interrupted by Ctrl-C."""

import threading
import time

import pytest

import shm
from conftest import assert_ctrl_c_interrupts

# Each array kind, made with three elements, with two element values.
KINDS = [
    (lambda: shm.SharedArray.create("i64", 3), 7, -7),
    (lambda: shm.BytesArray(5, 3), b"\x00abcd", b"efgh\xff"),
]
IDS = ["SharedArray", "BytesArray"]


def _open(array):
    if isinstance(array, shm.BytesArray):
        return shm.BytesArray.load_sharedobject(array.handle, array.item_size)
    return shm.SharedArray.load_sharedobject(array.handle)


@pytest.mark.parametrize("make, first, second", KINDS, ids=IDS)
def test_each_element_has_its_version_and_wakes_its_waiters(make, first, second):
    with make() as array:
        other = _open(array)
        since = other.version(1)
        assert array.version(1) == since and array.version(-2) == since
        assert other.wait_changed(1, since, timeout=0) is None, "nothing written yet"
        array[0] = first
        array[2] = first
        assert other.version(1) == since and other.version(0) == since + 1
        start = time.monotonic()
        assert other.wait_changed(1, since, timeout=0.1) is None, "writes of other elements do not end it"
        assert time.monotonic() - start >= 0.09, "the timeout was waited out"
        array[1] = first
        assert other.wait_changed(1, since, timeout=0) == since + 1, "already changed: no wait"
        assert other.wait_changed(-2, since, timeout=1) == since + 1, "negative index from the end"

        # A waiter in another thread, sleeping without the GIL, woken by a write.
        seen = []
        waiter = threading.Thread(target=lambda: seen.append(other.wait_changed(1, since + 1, timeout=20)))
        waiter.start()
        time.sleep(0.05)
        array[1] = second
        waiter.join(30)
        assert seen == [since + 2] and other[1] == second

        with pytest.raises(IndexError):
            other.wait_changed(3, 0, timeout=0)
        with pytest.raises(IndexError):
            other.version(-4)
        with pytest.raises(ValueError, match="timeout"):
            other.wait_changed(0, 0, timeout=-1)
        with pytest.raises(OverflowError):
            other.wait_changed(0, -1, timeout=0)
        other.cleanup()
        with pytest.raises(shm.CleanedUp):
            other.wait_changed(0, 0, timeout=0)


# ---------------------------------------------------------------- two processes

ROUNDS = 200


def _echo(handle):
    """Waits for element 0 to hold each round's number and answers in
    element 1; element 2 it never writes."""
    array = shm.SharedArray.load_sharedobject(handle)
    for i in range(1, ROUNDS + 1):
        since = array.version(0)
        while array[0] != i:
            since = array.wait_changed(0, since, timeout=20)
            assert since is not None, f"no change of element 0 within 20 s in round {i}"
        array[1] = -i
    array.cleanup()


@pytest.mark.timeout(120)
def test_ping_pong_through_elements_between_two_processes(mp):
    with shm.SharedArray.create("i64", 3) as array:
        quiet = array.version(2)
        proc = mp.Process(target=_echo, args=(array.handle,))
        proc.start()
        try:
            for i in range(1, ROUNDS + 1):
                since = array.version(1)
                array[0] = i
                while array[1] != -i:
                    since = array.wait_changed(1, since, timeout=20)
                    assert since is not None, f"no answer within 20 s in round {i}"
            assert array.version(0) == ROUNDS and array.version(1) == ROUNDS
            assert array.wait_changed(2, quiet, timeout=0.05) is None and array.version(2) == quiet
        finally:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
                proc.join()
        assert proc.exitcode == 0


def _answer_late(handle, item_size):
    """Waits for the question in record 0, then answers in record 1 after
    a pause."""
    array = shm.BytesArray.load_sharedobject(handle, item_size)
    assert array.wait_changed(0, 0, timeout=20) == 1 and array[0] == b"ask"
    time.sleep(0.2)
    array[1] = b"ans"
    array.cleanup()


@pytest.mark.timeout(120)
def test_bytes_array_wait_ends_on_a_write_of_another_process(mp):
    with shm.BytesArray(3, 2) as array:
        proc = mp.Process(target=_answer_late, args=(array.handle, 3))
        proc.start()
        try:
            array[0] = b"ask"
            start = time.monotonic()
            assert array.wait_changed(1, 0, timeout=20) == 1
            waited = time.monotonic() - start
            # The child pauses 0.2 s before its write: a wait that returned
            # before the write would show here.
            assert waited >= 0.1, f"returned after {waited:.3f} s, before the write"
            assert array[1] == b"ans"
        finally:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
                proc.join()
        assert proc.exitcode == 0


# ---------------------------------------------------------------- Ctrl-C


@pytest.mark.timeout(60)
def test_wait_releases_the_gil_and_ctrl_c_interrupts_it():
    with shm.SharedArray.create("u8", 2) as array:
        assert_ctrl_c_interrupts(lambda: array.wait_changed(1, array.version(1)), "the wait slept")
