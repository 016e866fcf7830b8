"""Time-ordered ids: valid UUIDv7s that sort by creation time and never repeat across workers."""

from __future__ import annotations

import os
import time
import uuid

from mlops.ids import time_ordered_id


def test_ids_are_uuid7_with_the_current_time() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid.UUID(time_ordered_id())
    after = time.time_ns() // 1_000_000
    assert (value.version, value.variant) == (7, uuid.RFC_4122)
    assert before <= value.int >> 80 <= after


def test_ids_sort_by_creation_time_and_do_not_repeat() -> None:
    first = [time_ordered_id() for _ in range(50_000)]
    time.sleep(0.002)
    later = time_ordered_id()
    assert len(set(first)) == len(first)
    assert all(later > earlier for earlier in first)
    # Within one millisecond the order is random, across milliseconds it is creation order.
    millis = [int(i[:12], 16) for i in first]
    assert millis == sorted(millis)


def test_forked_workers_draw_different_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id down the pipe, then leave without cleanup
        os.write(write, time_ordered_id().encode())
        os._exit(0)
    os.close(write)
    ours = time_ordered_id()
    os.waitpid(pid, 0)
    theirs = os.read(read, 64).decode()
    os.close(read)
    assert len(theirs) == 32
    assert theirs[13:] != ours[13:]  # the random parts differ (a shared seed would repeat them)
