"""The run lock: one run at a time per output location and export.

A run takes the lock of every export it writes before its first request; a second run of any of
the same exports into the same location stops at once with ``RunLocked`` (exit 75, EX_TEMPFAIL)
naming the holder (host, pid, start time, run id). Runs of different exports into the same
location, or of the same export into different locations, go ahead side by side.

Local paths: ``<output.path>/<export>/.lock``, held with ``fcntl.flock`` on an open descriptor.
The kernel drops the lock when the process dies however it dies (SIGKILL, OOM kill), so a lock
left by a killed run is simply free again: the next run takes it over. The file's content (the
holder as JSON) is informative only, for the message and ``operate-export ls``; the file is
never deleted (deleting a lock file races with a run that has just opened it).

S3 (``lease.py``): a lease object ``<output.path>/<export>/_lease.json`` written with a
conditional put: created with ``If-None-Match: *`` when there is none, renewed by the running
holder every third of its duration with ``If-Match`` on its ETag, and taken over (again with
``If-Match``) once it has expired, which is how a killed run's lease is recovered. Other object
stores (gs://, abfs://) are not locked and say so once in the log. ``lock_for`` is the one place
that picks the implementation per location.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from exporter.errors import OutputError, RunLocked
from exporter.sinks.fs import OutputLocation, location_of, resolve_output
from exporter.sinks.storage import Storage
from exporter.spec import OutputSpec

LOCK_NAME = ".lock"
PROBE_RETRIES = 3
PROBE_RETRY_SECONDS = 0.05

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a lock."""

    host: str
    pid: int
    started_at: str
    run_id: str

    @classmethod
    def this_process(cls, run_id: str) -> Holder:
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return cls(socket.gethostname(), os.getpid(), started, run_id)

    @classmethod
    def parse(cls, data: bytes) -> Holder | None:
        """The holder recorded in a lock file; None when it is empty or unreadable."""
        try:
            fields = orjson.loads(data)
            return cls(
                str(fields["host"]),
                int(fields["pid"]),
                str(fields["started_at"]),
                str(fields.get("run_id", "")),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    def to_json(self) -> bytes:
        return orjson.dumps(self.__dict__) + b"\n"

    def describe(self) -> str:
        run = f", run {self.run_id}" if self.run_id else ""
        return f"host {self.host}, pid {self.pid}, started {self.started_at}{run}"


class ExportLock(Protocol):
    """What the runner needs of a lock: take it without waiting, give it back."""

    def acquire(self, holder: Holder) -> None:
        """Take the lock or raise ``RunLocked`` naming the holder; never waits."""
        ...

    def release(self) -> None: ...


class FileLock:
    """``flock`` on ``<export dir>/.lock`` (local filesystems; released by the kernel on death)."""

    def __init__(self, path: str, export: str, shown: str) -> None:
        self.path = path
        self.export = export
        self.shown = shown
        self._fd: int | None = None

    def acquire(self, holder: Holder) -> None:
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(
                f"export {self.export!r}: cannot open the run lock {self.shown}: {exc}"
            ) from exc
        if not _try_flock(fd):
            current = Holder.parse(_read_all(fd))
            os.close(fd)
            who = current.describe() if current else "a process that has not written its name yet"
            raise RunLocked(
                f"export {self.export!r} is being exported into this location by another run "
                f"({who}); lock {self.shown}. Not starting; try again when that run has finished"
            ) from None
        # Ours: record who holds it (informative: the flock is the lock).
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.to_json(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class NoLock:
    """Object stores without conditional puts in reach (gs://, abfs://): not locked, said once
    per run."""

    def __init__(self, export: str, shown: str) -> None:
        self.export = export
        self.shown = shown

    def acquire(self, holder: Holder) -> None:
        log.warning(
            "export %r: %s is not a local path; runs into it are not locked against each other",
            self.export,
            self.shown,
        )

    def release(self) -> None:
        pass


def _try_flock(fd: int) -> bool:
    """Take the exclusive lock without blocking; a few short retries ride over ``ls`` probing
    it with a shared lock at that very instant (a run holds it for its whole duration)."""
    for attempt in range(PROBE_RETRIES + 1):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt < PROBE_RETRIES:
                time.sleep(PROBE_RETRY_SECONDS)
    return False


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 65536, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def lock_path(location: OutputLocation, export: str, suffix: str = "") -> str:
    return location.join(export, LOCK_NAME + suffix)


def lock_for(location: OutputLocation, export: str, suffix: str = "") -> ExportLock:
    """The lock of ``export`` in ``location`` (the implementation the location supports);
    ``suffix``: one shard's lock (``run --shard``)."""
    path = lock_path(location, export, suffix)
    shown = location.display(path)
    if location.local:
        return FileLock(path, export, shown)
    if location.is_s3:
        from exporter.pipeline.lease import LeaseLock, lease_path  # (S3 output only)

        lease = lease_path(location, export, suffix)
        return LeaseLock(Storage(location), lease, export, location.display(lease))
    return NoLock(export, shown)


def read_holder(location: OutputLocation, export: str) -> Holder | None:
    """The last holder recorded for ``export`` (informative: it may have finished or died)."""
    if location.is_s3:
        from exporter.pipeline.lease import read_lease

        lease = read_lease(location, export)
        return Holder.parse(orjson.dumps(lease)) if lease is not None else None
    if not location.local:
        return None
    try:
        with open(lock_path(location, export), "rb") as file:
            return Holder.parse(file.read(65536))
    except OSError:
        return None


def is_held(location: OutputLocation, export: str) -> bool:
    """Whether a run holds the lock now. Tested with a shared lock taken and dropped at once:
    a run starting in that instant retries for a moment (``_try_flock``). On S3: a lease that
    has not expired."""
    if location.is_s3:
        from exporter.pipeline.lease import read_lease

        lease = read_lease(location, export)
        return lease is not None and not lease.get("expired", True)
    if not location.local:
        return False
    try:
        fd = os.open(lock_path(location, export), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextlib.contextmanager
def hold_locks(
    output: OutputSpec | str, exports: Iterable[str], run_id: str, suffix: str = ""
) -> Iterator[Any]:
    """Take the locks of ``exports`` (sorted: two runs never wait on each other in a cycle, and
    none waits anyway), yield, release them all; the first held one raises ``RunLocked`` after
    releasing those already taken. ``output``: the spec's output (or a bare path)."""
    location = resolve_output(output) if isinstance(output, str) else location_of(output)
    holder = Holder.this_process(run_id)
    taken: list[ExportLock] = []
    try:
        for export in sorted(set(exports)):
            lock = lock_for(location, export, suffix)
            lock.acquire(holder)
            taken.append(lock)
        yield holder
    finally:
        for lock in reversed(taken):
            lock.release()
