"""Broadcast from Python: one publisher, many subscribers (in this process,
in `multiprocessing` children, and a Rust `Subscriber<u64>` from
examples/python_peer.rs), both policies, struct items, timeouts and Ctrl-C.
"""

import multiprocessing as mp
import subprocess

import pytest

import shm
from conftest import assert_ctrl_c_interrupts
from test_cross_language import peer  # noqa: F401  (the session fixture)
from test_struct import POSE
from test_struct_values import pose


def test_every_subscriber_reads_every_item():
    with shm.Broadcast(8, item="u64", policy="backpressure") as tx:
        a, b = tx.subscribe(), shm.Subscriber.load_sharedobject(tx.handle)
        assert (tx.item, b.item, b.policy, tx.subscriber_count) == ("u64", "u64", "backpressure", 2)
        for i in range(8):
            tx.publish(i)
        with pytest.raises(shm.Full):
            tx.publish(8)  # the slowest subscriber has read nothing
        with pytest.raises(shm.Timeout):
            tx.publish_blocking(8, timeout=0.02)
        assert [a.read() for _ in range(8)] == list(range(8))
        assert a.read() is None and len(b) == 8
        assert [b.read_blocking(timeout=1) for _ in range(8)] == list(range(8))
        tx.publish_blocking(8, timeout=1)
        assert a.read() == 8 and b.read() == 8
        with pytest.raises(shm.Timeout):
            b.read_blocking(timeout=0.02)
        a.cleanup()
        b.cleanup()


def test_overwrite_policy_reports_what_was_lost():
    with shm.Broadcast(4, item="i64") as tx:
        rx = tx.subscribe()
        for i in range(10):
            tx.publish(-i)  # never waits
        with pytest.raises(shm.Lagged, match="6 items"):
            rx.read()
        assert [rx.read() for _ in range(4)] == [-6, -7, -8, -9]
        for i in range(10, 20):
            tx.publish(-i)
        tx.cleanup()
        assert list(rx) == [-16, -17, -18, -19], "iteration skips lost items and ends when the publisher leaves"
        assert rx.missed == 6
        with pytest.raises(shm.Closed):
            rx.read_blocking(timeout=1)
        rx.cleanup()


def test_struct_items_and_wrong_types():
    with shm.Broadcast(4, item=POSE, policy="backpressure") as tx:
        rx = shm.Subscriber.load_sharedobject(tx.handle)  # the segment's type
        assert rx.item == POSE
        tx.publish(pose(1.0, 1))
        assert rx.read() == pose(1.0, 1)
        with pytest.raises(ValueError, match="Pose.seq: missing"):
            tx.publish({"x": 1.0, "y": 2.0, "theta": 0.0})
        with pytest.raises(shm.LayoutMismatch):
            shm.Subscriber.load_sharedobject(tx.handle, item="u64")
        with pytest.raises(ValueError):
            shm.Broadcast(4, item="str")
        with pytest.raises(ValueError):
            shm.Broadcast(4, policy="sometimes")
        rx.cleanup()


def _subscriber(handle, count, ready, results):
    rx = shm.Subscriber.load_sharedobject(handle)
    ready.set()
    total = 0
    for i in range(count):
        value = rx.read_blocking(timeout=30)
        assert value == i
        total += value
    rx.cleanup()
    results.put(total)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_two_subscriber_processes(method):
    ctx = mp.get_context(method)
    count = 20_000
    with shm.Broadcast(256, item="u64", policy="backpressure") as tx:
        results = ctx.Queue()
        ready = [ctx.Event() for _ in range(2)]
        children = [ctx.Process(target=_subscriber, args=(tx.handle, count, r, results)) for r in ready]
        for child in children:
            child.start()
        for r in ready:
            assert r.wait(60)
        for i in range(count):
            tx.publish_blocking(i, timeout=30)
        totals = [results.get(timeout=60) for _ in children]
        for child in children:
            child.join(60)
            assert child.exitcode == 0
        assert totals == [count * (count - 1) // 2] * 2


@pytest.mark.timeout(120)
def test_rust_subscriber(peer):  # noqa: F811
    count = 100_000
    with shm.Broadcast(1024, item="u64", policy="backpressure") as tx:
        proc = subprocess.Popen([peer, "subscribe", tx.handle, str(count)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            for i in range(count):
                tx.publish_blocking(3 * i + 1, timeout=30)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0
        assert out.strip() == f"ok {count}"


@pytest.mark.timeout(60)
def test_ctrl_c_interrupts_a_waiting_read():
    with shm.Broadcast(4, item="u64") as tx:
        rx = tx.subscribe()
        assert_ctrl_c_interrupts(lambda: rx.read_blocking(), "the read waited")
        rx.cleanup()
