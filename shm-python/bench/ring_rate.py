"""Message rate between two Python processes, same run, every message checked.

    python shm-python/bench/ring_rate.py [--smoke] [--seed DIR] [--repeat N] [--no-trim] [--int-only]

Cases: shm's compat ``MemoryInterface`` (``shm.compat.memory_interface``,
pickled items, ``can_write``/``can_read`` polling as the seed's users do),
shm's ``ByteRing`` (blocking calls), ``multiprocessing.Pipe``, each at 8 B
and 64 KiB, and a ``SharedInt`` ping-pong round trip (each side spinning on
``read()``, then sleeping in ``wait_changed``). With ``--seed DIR``
(a checkout of PyHighSpeedSharedMemory, holding ``memory_interface.py``;
not part of this repository) the seed's ``MemoryInterface`` runs the same
code as the compat one, and so does ``bench/mi_floor.py`` (8 B only), a
``MemoryInterface`` with nothing behind it: the rate of the loop alone,
the most any ring run by that loop can reach. Each message carries its
sequence number; the reader counts lost and reordered ones.

With ``--no-trim`` every case runs with glibc's heap trimming off: at
64 KiB, CPython's allocate-and-free of each message's ``bytes`` otherwise
returns the top of the heap to the kernel and faults it back per message,
which costs more than the transfer itself.
"""

import argparse
import importlib
import multiprocessing as mp
import os
import resource
import statistics
import struct
import sys
import time

import shm

SEQ = struct.Struct("<Q")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


def payload(i, size):
    return SEQ.pack(i) + bytes(size - SEQ.size)


def check(received, expected_next):
    seq = SEQ.unpack_from(received)[0]
    return seq, (seq != expected_next)


# ----------------------------------------------------------- MemoryInterface (seed API)


def mi_reader(module_name, seed_dir, memblk, count, result):
    if seed_dir:
        sys.path.insert(0, seed_dir)
    module = importlib.import_module(module_name)
    mi = module.MemoryInterface(memblk)
    bad = 0
    expected = 0
    got = 0
    deadline = time.monotonic() + 120
    while got < count and time.monotonic() < deadline:
        if mi.can_read():
            seq, wrong = check(mi.read(), expected)
            bad += wrong
            expected = seq + 1
            got += 1
    result.put((got, bad))


def run_mi(module_name, seed_dir, size, count):
    if seed_dir:
        sys.path.insert(0, seed_dir)
    module = importlib.import_module(module_name)
    if hasattr(module, "prepare"):
        module.prepare(count)  # bench/mi_floor.py: what its reader reads
    mi = module.MemoryInterface()
    memblk = mi.create_memorybuf(payload(0, size), 64, use_pickle=True)
    result = mp.Queue()
    reader = mp.Process(target=mi_reader, args=(module_name, seed_dir, memblk, count, result))
    reader.start()
    start = time.perf_counter()
    sent = 0
    deadline = time.monotonic() + 120
    while sent < count and time.monotonic() < deadline:
        if mi.can_write():
            mi.write(payload(sent, size))
            sent += 1
    got, bad = result.get(timeout=180)
    elapsed = time.perf_counter() - start
    reader.join()
    mi.cleanup()
    return count / elapsed, count - got, bad


# ----------------------------------------------------------- ByteRing


def ring_reader(handle, count, result):
    rx = shm.ByteRing.load_memorybuf(handle)
    bad = 0
    expected = 0
    for _ in range(count):
        seq, wrong = check(rx.read_blocking(timeout=60), expected)
        bad += wrong
        expected = seq + 1
    rx.cleanup()
    result.put((count, bad))


def run_ring(size, count):
    tx = shm.ByteRing.create_memorybuf(size, 64)
    result = mp.Queue()
    reader = mp.Process(target=ring_reader, args=(tx.handle, count, result))
    reader.start()
    start = time.perf_counter()
    for i in range(count):
        tx.write_blocking(payload(i, size), timeout=60)
    got, bad = result.get(timeout=180)
    elapsed = time.perf_counter() - start
    reader.join()
    tx.cleanup()
    return count / elapsed, count - got, bad


# ----------------------------------------------------------- Pipe


def pipe_reader(conn, count, result):
    bad = 0
    expected = 0
    for _ in range(count):
        seq, wrong = check(conn.recv_bytes(), expected)
        bad += wrong
        expected = seq + 1
    result.put((count, bad))


def run_pipe(size, count):
    rx, tx = mp.Pipe(duplex=False)
    result = mp.Queue()
    reader = mp.Process(target=pipe_reader, args=(rx, count, result))
    reader.start()
    start = time.perf_counter()
    for i in range(count):
        tx.send_bytes(payload(i, size))
    got, bad = result.get(timeout=180)
    elapsed = time.perf_counter() - start
    reader.join()
    return count / elapsed, count - got, bad


# ----------------------------------------------------------- SharedInt ping-pong


def int_echo(handle, count, wait):
    n = shm.SharedInt.load_sharedobject(handle)
    since = n.version()
    for i in range(1, count + 1):
        # With `wait`, sleep until the value changes (the version is read
        # before the value, so a write between the two is not missed).
        while n.read() != 2 * i - 1:
            if wait:
                since = n.wait_changed(since, timeout=10)
                if since is None:
                    raise RuntimeError(f"echo: no change within 10 s in round {i}")
        n.write(2 * i)
        since = n.version()
    n.cleanup()


def cpu_seconds():
    """Processor time of this process and its waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_int(count, wait):
    """Round trips per second, and processor microseconds per round trip
    (both processes, set-up included): this side writes 2i-1, the echo
    answers 2i. Each side waits for the other's write spinning on
    ``read()`` or, with ``wait``, in ``wait_changed``."""
    cpu = cpu_seconds()
    with shm.SharedInt(0) as n:
        echo = mp.Process(target=int_echo, args=(n.handle, count, wait))
        echo.start()
        start = time.perf_counter()
        since = n.version()
        for i in range(1, count + 1):
            n.write(2 * i - 1)
            while n.read() != 2 * i:
                if wait:
                    since = n.wait_changed(since, timeout=10)
                    if since is None:
                        raise RuntimeError(f"no answer within 10 s in round {i}")
        elapsed = time.perf_counter() - start
        echo.join()
        if echo.exitcode != 0:
            raise RuntimeError(f"the echo process exited with {echo.exitcode}")
    return count / elapsed, (cpu_seconds() - cpu) / count * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="few messages: checks, not timings")
    parser.add_argument("--seed", metavar="DIR", help="a checkout holding the seed's memory_interface.py")
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="run every case N times, interleaved; report medians"
    )
    parser.add_argument(
        "--no-trim",
        action="store_true",
        help="re-run with glibc's heap trimming off (MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_) for every case",
    )
    parser.add_argument("--int-only", action="store_true", help="only the SharedInt round trips")
    args = parser.parse_args()
    if args.no_trim and "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        # glibc reads these when a process starts: run again with them. A
        # loop that allocates and frees 64 KiB objects (bytes, pickles)
        # otherwise gives the top of the heap back to the kernel and
        # faults it in again for every message, in every case alike.
        env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="268435456", MALLOC_TOP_PAD_="16777216")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    small, large, trips = (500, 20, 200) if args.smoke else (50_000, 2_000, 20_000)
    cases = [("compat MemoryInterface", lambda s, c: run_mi("shm.compat.memory_interface", None, s, c))]
    if args.seed:
        cases.insert(0, ("seed MemoryInterface", lambda s, c: run_mi("memory_interface", args.seed, s, c)))
        # The same loop over a MemoryInterface with nothing behind it: no
        # ring run by the seed's loop moves more (8 B only).
        cases.insert(1, ("loop alone (mi_floor)", lambda s, c: run_mi("mi_floor", BENCH_DIR, s, c)))
    cases += [("shm ByteRing", run_ring), ("multiprocessing.Pipe", run_pipe)]
    failed = False
    rates = {}
    print("load average at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    # Rounds interleave the cases, so that a busy spell of the machine
    # hits all of them alike; the median of each case is reported.
    for _ in range(max(1, args.repeat)):
        for name, run in [] if args.int_only else cases:
            for size, count in ((8, small), (65536, large)):
                if name.startswith("loop alone") and size != 8:
                    continue
                rate, lost, bad = run(size, count)
                failed |= bool(lost or bad) and not name.startswith("seed")
                rates.setdefault((name, size), []).append((rate, lost, bad))
    if rates:
        print(f"{'case':<24} {'size':>6} {'messages/s':>12} {'MB/s':>9} {'lost':>6} {'out of order':>13}")
    for (name, size), runs in rates.items():
        rate = statistics.median(r for r, _, _ in runs)
        lost, bad = sum(r[1] for r in runs), sum(r[2] for r in runs)
        print(f"{name:<24} {size:>6} {rate:>12.0f} {rate * size / 1e6:>9.1f} {lost:>6} {bad:>13}")
    if args.seed and not args.int_only:
        # The ratio of each round (both cases ran in it, one after the
        # other): its median and range over the rounds.
        for size in (8, 65536):
            compat = [r for r, _, _ in rates[("compat MemoryInterface", size)]]
            seed = [r for r, _, _ in rates[("seed MemoryInterface", size)]]
            ratios = [c / s for c, s in zip(compat, seed)]
            print(
                f"compat / seed at {size} B: median {statistics.median(ratios):.2f}x"
                f" (rounds: {min(ratios):.2f}x to {max(ratios):.2f}x, {len(ratios)} rounds)"
            )
        # The most any ring run by the seed's loop could reach against the
        # seed, round by round: the loop alone over the seed.
        floor = [r for r, _, _ in rates[("loop alone (mi_floor)", 8)]]
        seed = [r for r, _, _ in rates[("seed MemoryInterface", 8)]]
        ratios = [f / s for f, s in zip(floor, seed)]
        print(
            f"loop alone / seed at 8 B (the bound for any ring under this loop): median"
            f" {statistics.median(ratios):.2f}x (rounds: {min(ratios):.2f}x to {max(ratios):.2f}x)"
        )
        compat = [r for r, _, _ in rates[("compat MemoryInterface", 8)]]
        ratios = [c / f for c, f in zip(compat, floor)]
        print(
            f"compat / loop alone at 8 B: median {statistics.median(ratios):.2f}"
            f" (rounds: {min(ratios):.2f} to {max(ratios):.2f})"
        )
    # Round trips, interleaved rounds as above: spinning on read() and
    # sleeping in wait_changed.
    trip_rates = {}
    for _ in range(max(1, args.repeat)):
        for label, wait in (("spinning on read()", False), ("wait_changed", True)):
            trip_rates.setdefault(label, []).append(run_int(trips, wait))
    for label, runs in trip_rates.items():
        rates, cpus = [r for r, _ in runs], [c for _, c in runs]
        print(
            f"SharedInt ping-pong, {label}: median {statistics.median(rates):.0f} round trips/s"
            f" (rounds: {min(rates):.0f} to {max(rates):.0f}), processor time per round trip"
            f" median {statistics.median(cpus):.1f} us ({min(cpus):.1f} to {max(cpus):.1f})"
        )
    ratios = [w / s for (w, _), (s, _) in zip(trip_rates["wait_changed"], trip_rates["spinning on read()"])]
    print(
        f"SharedInt ping-pong, wait_changed / spinning: median {statistics.median(ratios):.2f}x"
        f" (rounds: {min(ratios):.2f}x to {max(ratios):.2f}x, {len(ratios)} rounds)"
    )
    print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
