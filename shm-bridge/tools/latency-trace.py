#!/usr/bin/env python3
"""Where a bridged ping's time goes: reads the records that
`SHM_BRIDGE_TRACE=DIR shm-bridge-bench --size 8` leaves in DIR (src/trace.rs)
and prints each stage's median and 10th..90th percentiles, in µs.

    mkdir /tmp/trace && SHM_BRIDGE_TRACE=/tmp/trace shm-bridge-bench --size 8
    python3 shm-bridge/tools/latency-trace.py /tmp/trace
"""
import os
import statistics
import sys

# Stage numbers, as in src/trace.rs.
BENCH_WRITE, OUT_TOOK, OUT_PUT, OUT_PUT_RETURNED, IN_CALLBACK, IN_WRITTEN, ECHO_READ = 0, 1, 2, 3, 4, 5, 6
BENCH_READ, RAW_PUT, RAW_ECHO_RECEIVED, RAW_RECEIVED = 9, 10, 11, 13


def main(d):
    pids = {}
    for line in open(os.path.join(d, "roles")):
        words = line.split()
        for role, pid in zip(words[::2], words[1::2]):
            pids[role] = pid  # the last run's, if the file holds several

    def load(role):
        records = {}
        path = os.path.join(d, pids[role] + ".trace")
        if os.path.exists(path):
            for line in open(path):
                stage, number, at = map(int, line.split())
                records.setdefault((stage, number), []).append(at)
        return records

    bench, echo, near, far = (load(r) for r in ("bench", "echo", "near", "far"))
    show([
        ("bench writes ring A1 -> near `out` took it", (bench, BENCH_WRITE), (near, OUT_TOOK)),
        ("near `out`: took -> calls put", (near, OUT_TOOK), (near, OUT_PUT)),
        ("near `out`: put call -> put returned", (near, OUT_PUT), (near, OUT_PUT_RETURNED)),
        ("near put -> far `in` callback (Zenoh)", (near, OUT_PUT), (far, IN_CALLBACK)),
        ("far `in`: callback -> written to B1", (far, IN_CALLBACK), (far, IN_WRITTEN)),
        ("far `in` callback -> echo read B1", (far, IN_CALLBACK), (echo, ECHO_READ)),
        ("echo read B1 -> far `out` took from A2", (echo, ECHO_READ), (far, OUT_TOOK)),
        ("far `out`: put call -> put returned", (far, OUT_PUT), (far, OUT_PUT_RETURNED)),
        ("far put -> near `in` callback (Zenoh)", (far, OUT_PUT), (near, IN_CALLBACK)),
        ("near `in`: callback -> written to B2", (near, IN_CALLBACK), (near, IN_WRITTEN)),
        ("near `in` callback -> bench read B2", (near, IN_CALLBACK), (bench, BENCH_READ)),
        ("round trip, bridged", (bench, BENCH_WRITE), (bench, BENCH_READ)),
    ])
    if "raw-echo" in pids:
        raw_echo = load("raw-echo")
        show([
            ("raw: bench put -> echo received", (bench, RAW_PUT), (raw_echo, RAW_ECHO_RECEIVED)),
            ("raw: echo received -> bench received", (raw_echo, RAW_ECHO_RECEIVED), (bench, RAW_RECEIVED)),
            ("round trip, raw", (bench, RAW_PUT), (bench, RAW_RECEIVED)),
        ])


def show(stages):
    for name, (a, sa), (b, sb) in stages:
        numbers = {n for (s, n) in a if s == sa}
        # Raw pings are numbered from 0 in every round: pair them in order.
        v = [(tb - ta) / 1000 for n in numbers if (sb, n) in b for ta, tb in zip(a[(sa, n)], b[(sb, n)])]
        if len(v) < 10:
            print(f"{name:45s} no records")
            continue
        q = statistics.quantiles(v, n=10)
        print(f"{name:45s} {statistics.median(v):7.1f}  ({q[0]:.1f}..{q[-1]:.1f})  n={len(v)}")


if __name__ == "__main__":
    main(sys.argv[1])
