"""Is the process that owns a run still alive?

A run records its host and pid. On the same host the pid is checked directly, and on Linux the
process's start time rules out a recycled pid. Runs of other hosts are judged by heartbeat.
"""

from __future__ import annotations

import os
import socket
from functools import cache

_PROC = "/proc"


@cache
def hostname() -> str:
    """Where a run's process lives: host name, boot and PID namespace.

    Two machines (or containers, or VMs) can share a host name; they never share the boot id
    and PID namespace as well, so a pid is only ever checked where it means the same process.
    """
    return (
        f"{socket.gethostname()}|{_read(f'{_PROC}/sys/kernel/random/boot_id')}|{_pid_namespace()}"
    )


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return "-"


def _pid_namespace() -> str:
    try:
        return os.readlink(f"{_PROC}/self/ns/pid")
    except OSError:
        return "-"


@cache
def _boot_time() -> float | None:
    try:
        with open(f"{_PROC}/stat") as stat:
            for line in stat:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def process_start_time(pid: int) -> float | None:
    """Epoch seconds at which ``pid`` started, where the OS tells (Linux); else None."""
    boot = _boot_time()
    if boot is None:
        return None
    try:
        with open(f"{_PROC}/{pid}/stat") as stat:
            # The command name (field 2) may hold spaces; fields after its ')' are fixed.
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = int(fields[19])  # field 22 overall: starttime in clock ticks since boot
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int, started_before_ms: int | None = None) -> bool:
    """Whether ``pid`` is a live process on this host that could own a run started then.

    The start-time check applies to this very process too: after a container restart the new
    process may have the dead one's pid (often 1).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if started_before_ms is not None:
        started = process_start_time(pid)
        # A process that started after the run did cannot be its owner: the pid was reused.
        # One second of slack covers the coarse resolution of boot time.
        if started is not None and started > started_before_ms / 1000 + 1.0:
            return False
    state = _process_state(pid)
    return state not in ("Z", "X")  # a zombie has exited; only its parent has not reaped it


def _process_state(pid: int) -> str | None:
    try:
        with open(f"{_PROC}/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
