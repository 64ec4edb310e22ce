"""Instructions per message of a ``MemoryInterface``, one process, for
``valgrind --tool=callgrind`` (load-independent, unlike timings).

    valgrind --tool=callgrind --callgrind-out-file=OUT \\
        python shm-python/bench/mi_cost.py MODULE SIZE COUNT [--seed DIR] [--bytes]

Writes and reads back ``COUNT`` messages of ``SIZE`` bytes (each built as
the two-process benchmark builds it, ``bench/ring_rate.py``) through the
``MemoryInterface`` of ``MODULE`` (``shm.compat.memory_interface``, or
``memory_interface`` from ``--seed DIR``), pickled unless ``--bytes``;
every message is checked. ``MODULE`` ``mi_floor`` (``bench/mi_floor.py``,
found next to this script) is the loop alone, with nothing behind the
calls. Run it with
two counts and divide the difference of the totals by the difference of
the counts: the set-up and the interpreter's start cancel out. Set
``PYTHONHASHSEED=0``: with hash randomisation the count per message moves
by a few hundred instructions from run to run.
"""

import argparse
import importlib
import struct
import sys

SEQ = struct.Struct("<Q")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module")
    parser.add_argument("size", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", metavar="DIR")
    parser.add_argument("--bytes", action="store_true", help="use_pickle=False")
    args = parser.parse_args()
    if args.seed:
        sys.path.insert(0, args.seed)
    module = importlib.import_module(args.module)
    mi = module.MemoryInterface()
    memblk = mi.create_memorybuf(bytes(args.size), 8, use_pickle=not args.bytes)
    rx = module.MemoryInterface(memblk)
    pad = args.size - SEQ.size
    for i in range(args.count):
        if not mi.can_write():
            raise SystemExit("no room")
        mi.write(SEQ.pack(i) + bytes(pad))
        if not rx.can_read():
            raise SystemExit("nothing to read")
        got = rx.read()
        if SEQ.unpack_from(got)[0] != i or len(got) != args.size:
            raise SystemExit(f"message {i} wrong")
    rx.cleanup()
    mi.cleanup()


if __name__ == "__main__":
    main()
