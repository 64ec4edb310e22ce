"""Cost per item of converting struct values between Python and bytes.

    python shm-python/bench/codec_rate.py [--n N]

Times `Struct.pack(dict)` and `Struct.unpack(bytes)` (the conversion every
typed write and read does, without shared memory) for the `Pose` of
examples/python_peer.rs and a nested struct with arrays and flags; best of
five runs, nanoseconds per item.
"""

import argparse
import time

import shm

POSE = shm.Struct(
    "Pose",
    [("x", "f64"), ("y", "f64"), ("theta", "f32"), ("seq", "u32"), ("tag", ("u8", 7)), ("valid", "bool")],
)
INNER = shm.Struct("Inner", [("points", (("i16", 2), 3)), ("on", ("bool", 2))])
OUTER = shm.Struct(
    "Outer",
    [("stamp", "u64"), ("gain", "f32"), ("inner", (INNER, 2)), ("flags", ("bool", 3)), ("level", "i8"), ("name", ("u8", 4))],
)
POSE_VALUE = {"x": 1.0, "y": -1.0, "theta": 0.5, "seq": 7, "tag": b"pose", "valid": True}
OUTER_VALUE = {
    "stamp": 1001,
    "gain": 0.25,
    "inner": [{"points": [[10, 0], [11, -1], [12, -2]], "on": [True, False]}] * 2,
    "flags": [True, False, True],
    "level": -1,
    "name": b"n1",
}


def best(f, arg, n):
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            f(arg)
        times.append((time.perf_counter() - start) / n * 1e9)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    n = parser.parse_args().n
    for name, st, value in (("Pose", POSE, POSE_VALUE), ("Outer", OUTER, OUTER_VALUE)):
        data = st.pack(value)
        print(f"{name:6} pack {best(st.pack, value, n):7.0f} ns   unpack {best(st.unpack, data, n):7.0f} ns")


if __name__ == "__main__":
    main()
