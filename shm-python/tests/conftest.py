"""Shared fixtures: every test leaves /dev/shm as it found it."""

import os
import signal
import struct
import threading
import time
import uuid

import pytest

SHM_DIR = "/dev/shm"
PREFIX = "shmrs-"


def entries():
    """The names in /dev/shm with shm's prefix."""
    try:
        return {n for n in os.listdir(SHM_DIR) if n.startswith(PREFIX)}
    except FileNotFoundError:
        return set()


def creator_pid(name):
    """The pid in the segment header's creator identity (bytes 72..76), or None."""
    try:
        with open(os.path.join(SHM_DIR, name), "rb") as f:
            f.seek(72)
            word = f.read(8)
    except OSError:
        return None
    if len(word) != 8:
        return None
    return struct.unpack("<Q", word)[0] & 0xFFFFFFFF


# Pids of every process the tests started (multiprocessing children and
# subprocesses): a segment one of them made is this run's.
CHILD_PIDS = set()


def _record_children():
    import multiprocessing.process
    import subprocess

    start = multiprocessing.process.BaseProcess.start

    def recording_start(self):
        start(self)
        CHILD_PIDS.add(self.pid)

    multiprocessing.process.BaseProcess.start = recording_start
    execute = subprocess.Popen._execute_child

    def recording_execute(self, *args, **kwargs):
        execute(self, *args, **kwargs)
        CHILD_PIDS.add(self.pid)

    subprocess.Popen._execute_child = recording_execute


_record_children()


def ours(name):
    """Whether a segment is this run's: made by this process or by a process
    a test started. Other programs using shm on the same machine may make
    and remove segments while a test runs; those are not counted."""
    pid = creator_pid(name)
    return pid is not None and (pid == os.getpid() or pid in CHILD_PIDS)


@pytest.fixture(autouse=True)
def devshm_left_as_found():
    before = entries()
    yield
    import gc

    gc.collect()
    left = sorted(n for n in entries() - before if ours(n))
    assert not left, f"the test left segments in /dev/shm: {left}"


@pytest.fixture
def unique_name():
    """A fresh segment name with shm's prefix."""
    return f"{PREFIX}pytest-{os.getpid()}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["fork", "spawn"])
def mp(request):
    """A multiprocessing context, once with fork and once with spawn."""
    import multiprocessing

    return multiprocessing.get_context(request.param)


def run_child(mp, target, *args, timeout=60):
    """Runs `target(*args)` in a child process; fails unless it exits 0 in time."""
    proc = mp.Process(target=target, args=args)
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        pytest.fail(f"child {target.__name__} did not finish within {timeout} s")
    assert proc.exitcode == 0, f"child {target.__name__} exited with {proc.exitcode}"


def assert_ctrl_c_interrupts(wait, what):
    """Runs ``wait`` (a blocking call given no timeout) while another
    thread keeps ticking and a third sends SIGINT to this process after
    0.3 s: ``wait`` must raise ``KeyboardInterrupt`` within 0.5 s of the
    signal (signals are looked at every 50 ms; the margin is for a loaded
    machine), and the ticking thread must have run meanwhile, which it
    only can if ``wait`` released the GIL."""
    ticks, sent = [], []
    stop = threading.Event()

    def other_thread():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.005)

    def interrupt():
        time.sleep(0.3)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    worker = threading.Thread(target=other_thread)
    killer = threading.Thread(target=interrupt)
    worker.start()
    killer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            wait()
        raised = time.monotonic()
    finally:
        stop.set()
        worker.join()
        killer.join()
    assert raised - sent[0] < 0.5, f"KeyboardInterrupt came {raised - sent[0]:.3f} s after SIGINT"
    assert len(ticks) > 10, f"another thread ran while {what} (GIL released)"
