"""CPU time of a server process and of PostgreSQL's backends, from /proc (Linux).

The bench loads one server at a time, so the CPU its process and the backends
of the bench database spend during a run, over the requests the run completed,
is that server's cost per request on each side. Backends are found by their
process title ("postgres: <user> <database> <client> …"), so only the bench
database's count, not other databases' on a shared server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


def cpu_seconds(pid: int) -> float:
    """Time on a CPU of a process, summed over its threads (schedstat's first
    field, in ns: finer than utime and stime in clock ticks); 0 once it is gone."""
    total = 0
    try:
        for task in (_PROC / str(pid) / "task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                continue  # a thread that ended meanwhile
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return total / 1e9


def backends(database: str) -> dict[int, float]:
    """The CPU seconds of every PostgreSQL backend connected to `database`."""
    found: dict[int, float] = {}
    marker = f" {database} "
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if title.startswith("postgres: ") and marker in title:
            found[int(entry.name)] = cpu_seconds(int(entry.name))
    return found


@dataclass
class Sample:
    server: float
    database: dict[int, float]


def sample(pid: int, database: str) -> Sample:
    return Sample(cpu_seconds(pid), backends(database))


def spent(before: Sample, after: Sample) -> tuple[float, float]:
    """CPU seconds of the server and of the database's backends between two samples
    (a backend that appeared in between counts from its start)."""
    database = sum(
        seconds - before.database.get(pid, 0.0) for pid, seconds in after.database.items()
    )
    return after.server - before.server, database
