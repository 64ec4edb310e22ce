"""A ``MemoryInterface`` with nothing behind it: the floor under any ring
that runs the seed's polling loop (``bench/ring_rate.py``,
``bench/mi_cost.py``).

Each method an item needs is one call of a C function doing next to
nothing: ``can_write`` and ``can_read`` return true, ``write`` appends to
a ``collections.deque`` and ``read`` takes from it, so what a loop over
this module costs is the loop itself: CPython running the caller's code,
building and checking each message, and making the four calls. No ring
run by that loop can be faster.

In another process than the one that created it, there is no deque to
share: ``read`` returns the messages the creator announced (``prepare``)
from a list built when the buffer is loaded, so that the reader's checks
pass as they would for real messages. Not a transport; for the benchmarks
only.
"""

import collections
import itertools
import os
import struct

SEQ = struct.Struct("<Q")

_queues = {}
_names = itertools.count()
_count = 0


def prepare(count):
    """How many messages a reader in another process will read."""
    global _count
    _count = count


class MemoryInterface:
    def __init__(self, memblk=None):
        if memblk is not None:
            self.load_memorybuf(memblk)

    def create_memorybuf(self, largest_object=b"", nr_of_memories=10, use_pickle=True):
        name = next(_names)
        _queues[name] = collections.deque()
        memblk = {"name": name, "pid": os.getpid(), "size": len(largest_object), "count": _count}
        self.load_memorybuf(memblk)
        return memblk

    def load_memorybuf(self, memblk):
        # A forked child has a copy of the creator's deque, not the deque.
        queue = _queues.get(memblk["name"]) if memblk["pid"] == os.getpid() else None
        if queue is None:
            # Another process: the messages the writer sends, made now.
            pad = bytes(memblk["size"] - SEQ.size)
            queue = collections.deque(SEQ.pack(i) + pad for i in range(memblk["count"]))
        self.can_write = True.__bool__
        self.write = queue.append
        self.can_read = queue.__len__
        self.read = queue.popleft

    def cleanup(self):
        pass
