"""Change notification on the value objects: `version()` and
`wait_changed(since, timeout=None)`, in one process, across two (fork and
spawn), and interrupted by Ctrl-C."""

import time

import pytest

import shm
from conftest import assert_ctrl_c_interrupts

# Each kind with a value to write and a different one.
KINDS = [
    (lambda: shm.SharedInt(0), 7, -7),
    (lambda: shm.SharedBool(False), True, False),
    (lambda: shm.SharedString(32), "Hello", "From afar"),
    (lambda: shm.SharedBytes(32), b"\x00\xff", b"answer"),
]
IDS = ["SharedInt", "SharedBool", "SharedString", "SharedBytes"]


@pytest.mark.parametrize("make, first, second", KINDS, ids=IDS)
def test_every_write_advances_the_version_and_wakes_a_waiter(make, first, second):
    with make() as value:
        other = type(value).load_sharedobject(value.handle)
        since = other.version()
        assert value.version() == since, "one version, whichever object reads it"
        assert other.wait_changed(since, timeout=0) is None, "nothing written yet"
        value.write(first)
        assert other.version() == since + 1
        assert other.wait_changed(since, timeout=0) == since + 1, "already changed: no wait"
        value.write(first)
        assert other.wait_changed(since + 1, timeout=1) == since + 2, "a write of the same value counts"
        start = time.monotonic()
        assert other.wait_changed(since + 2, timeout=0.1) is None
        assert time.monotonic() - start >= 0.09, "the timeout was waited out"
        other.write(second)
        assert value.wait_changed(since + 2) == since + 3 and value.read() == second
        other.cleanup()
        with pytest.raises(shm.CleanedUp):
            other.version()
        with pytest.raises(shm.CleanedUp):
            other.wait_changed(0, timeout=0)


def test_int_atomics_count_as_changes_and_a_failed_exchange_does_not():
    with shm.SharedInt(1) as n:
        v = n.version()
        n.fetch_add(2)
        n.swap(5)
        assert n.compare_exchange(5, 6) == (True, 5)
        assert n.version() == v + 3
        assert n.compare_exchange(5, 7) == (False, 6)
        assert n.version() == v + 3


def test_bad_arguments():
    with shm.SharedInt(0) as n:
        with pytest.raises(ValueError, match="timeout"):
            n.wait_changed(0, timeout=-1)
        with pytest.raises(ValueError, match="timeout"):
            n.wait_changed(0, timeout=float("nan"))
        with pytest.raises(OverflowError):
            n.wait_changed(-1, timeout=0)
        with pytest.raises(TypeError):
            n.wait_changed("0", timeout=0)


# ---------------------------------------------------------------- two processes

ROUNDS = 200


def _echo(handle):
    """Waits for each odd value and answers with the next even one."""
    n = shm.SharedInt.load_sharedobject(handle)
    since = n.version()
    for i in range(1, ROUNDS + 1):
        while n.read() != 2 * i - 1:
            since = n.wait_changed(since, timeout=20)
            assert since is not None, f"no change within 20 s in round {i}"
        n.write(2 * i)
        since = n.version()
    n.cleanup()


def test_ping_pong_between_two_processes_without_spinning(mp):
    with shm.SharedInt(0) as n:
        proc = mp.Process(target=_echo, args=(n.handle,))
        proc.start()
        try:
            since = n.version()
            for i in range(1, ROUNDS + 1):
                n.write(2 * i - 1)
                while n.read() != 2 * i:
                    since = n.wait_changed(since, timeout=20)
                    assert since is not None, f"no answer within 20 s in round {i}"
            # Two writes per round, each advancing the version once.
            assert n.version() == 2 * ROUNDS
        finally:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
                proc.join()
        assert proc.exitcode == 0


def _answer_late(string_handle, flag_handle, bytes_handle):
    """Waits for the question, then answers each object after a pause."""
    s = shm.SharedString.load_sharedobject(string_handle)
    flag = shm.SharedBool.load_sharedobject(flag_handle)
    data = shm.SharedBytes.load_sharedobject(bytes_handle)
    assert s.wait_changed(0, timeout=20) == 1 and s.read() == "Hello"
    for obj, answer in ((data, b"\x00answer"), (flag, True), (s, "From afar")):
        time.sleep(0.2)
        obj.write(answer)
    for obj in (s, flag, data):
        obj.cleanup()


def test_waits_end_on_writes_of_another_process(mp):
    with shm.SharedString(64) as s, shm.SharedBool() as flag, shm.SharedBytes(64) as data:
        proc = mp.Process(target=_answer_late, args=(s.handle, flag.handle, data.handle))
        proc.start()
        try:
            s.write("Hello")
            for obj, since, answer in ((data, 0, b"\x00answer"), (flag, 0, True), (s, 1, "From afar")):
                start = time.monotonic()
                assert obj.wait_changed(since, timeout=20) == since + 1
                waited = time.monotonic() - start
                # The child pauses 0.2 s before each write: a wait that
                # returned before the write would show here.
                assert waited >= 0.1, f"{type(obj).__name__}: returned after {waited:.3f} s, before the write"
                assert obj.read() == answer
        finally:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
                proc.join()
        assert proc.exitcode == 0


# ---------------------------------------------------------------- Ctrl-C


def test_wait_releases_the_gil_and_ctrl_c_interrupts_it():
    with shm.SharedInt(0) as n:
        assert_ctrl_c_interrupts(lambda: n.wait_changed(n.version()), "the wait slept")
