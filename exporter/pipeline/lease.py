"""The run lock on S3: a lease object with an expiry, written only with conditional puts.

``<output.path>/<export>/_lease.json`` holds the holder (host, pid, start time, run id) and
``expires_at``. A run takes the lease

* when there is none: ``PutObject`` with ``If-None-Match: *`` (of two runs starting together,
  exactly one succeeds; the other reads the winner's lease and stops with ``RunLocked``);
* when it has expired (its holder was killed and stopped renewing): ``PutObject`` with
  ``If-Match`` on the ETag it read, so of two runs taking over together only one succeeds.

The holder renews it every third of ``LEASE_SECONDS`` (If-Match on its own ETag) from a daemon
thread, and deletes it (If-Match) when it finishes. A renewal that finds someone else's ETag
means the lease was taken over (the holder stalled longer than the lease): logged as an error.
Expiry compares ``expires_at`` with the reader's clock, so hosts need clocks within a fraction
of the lease (NTP); ``OPERATE_EXPORT_LEASE_SECONDS`` changes the duration (default 120 s).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
from typing import Any, Protocol

import orjson

from exporter.errors import OutputError, RunLocked
from exporter.sinks.fs import OutputLocation
from exporter.sinks.storage import Storage

LEASE_NAME = "_lease.json"
DEFAULT_LEASE_SECONDS = 120.0

log = logging.getLogger(__name__)


class _Holder(Protocol):
    def to_json(self) -> bytes: ...


def lease_seconds() -> float:
    try:
        return max(1.0, float(os.environ.get("OPERATE_EXPORT_LEASE_SECONDS", "")))
    except ValueError:
        return DEFAULT_LEASE_SECONDS


def lease_path(location: OutputLocation, export: str, suffix: str = "") -> str:
    """``suffix``: one shard's lease (``run --shard``), like the local lock's."""
    return location.join(export, LEASE_NAME.replace(".json", f"{suffix}.json"))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        lease = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return lease if isinstance(lease, dict) else None


def _expired(lease: dict[str, Any] | None, now: dt.datetime) -> bool:
    """An unreadable lease counts as expired only once it is older than a lease would last:
    the caller treats None as "taken over after expiry" via ``If-Match`` anyway."""
    if lease is None:
        return True
    try:
        expires = dt.datetime.fromisoformat(str(lease["expires_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return True
    return now >= expires


def describe(lease: dict[str, Any] | None) -> str:
    if lease is None:
        return "a run whose lease cannot be read"
    run = f", run {lease['run_id']}" if lease.get("run_id") else ""
    return (
        f"host {lease.get('host')}, pid {lease.get('pid')}, started {lease.get('started_at')}"
        f"{run}, lease until {lease.get('expires_at')}"
    )


def read_lease(location: OutputLocation, export: str) -> dict[str, Any] | None:
    """The lease of ``export`` with an ``expired`` flag added, or None (for ``ls``)."""
    conditional = Storage(location).conditional
    if conditional is None:
        return None
    try:
        found = conditional.get(lease_path(location, export))
    except OSError:
        return None
    if found is None:
        return None
    lease = _parse(found[0])
    if lease is None:
        return None
    return {**lease, "expired": _expired(lease, _now())}


class LeaseLock:
    """``ExportLock`` for S3 (see the module docstring)."""

    def __init__(self, storage: Storage, path: str, export: str, shown: str) -> None:
        self.storage = storage
        self.path = path
        self.export = export
        self.shown = shown
        self.seconds = lease_seconds()
        self._holder: bytes = b""
        self._etag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def _body(self) -> bytes:
        fields = orjson.loads(self._holder)
        fields["expires_at"] = _iso(_now() + dt.timedelta(seconds=self.seconds))
        fields["lease_seconds"] = self.seconds
        return orjson.dumps(fields) + b"\n"

    def _refuse(self, lease: dict[str, Any] | None) -> RunLocked:
        return RunLocked(
            f"export {self.export!r} is being exported into this location by another run "
            f"({describe(lease)}); lease {self.shown}. Not starting; try again when that run "
            "has finished (a killed run's lease expires by itself)"
        )

    def acquire(self, holder: _Holder) -> None:
        conditional = self.storage.conditional
        assert conditional is not None
        self._holder = holder.to_json()
        try:
            found = conditional.get(self.path)
            if found is None:
                self._etag = conditional.put_if_absent(self.path, self._body())
                if self._etag is None:  # another run created it in between
                    again = conditional.get(self.path)
                    raise self._refuse(_parse(again[0]) if again else None)
            else:
                data, etag = found
                lease = _parse(data)
                if not _expired(lease, _now()):
                    raise self._refuse(lease)
                self._etag = conditional.put_if_match(self.path, self._body(), etag)
                if self._etag is None:  # another run took it over first
                    again = conditional.get(self.path)
                    raise self._refuse(_parse(again[0]) if again else None)
                log.warning(
                    "export %r: took over the expired run lease %s (%s)",
                    self.export,
                    self.shown,
                    describe(lease),
                )
        except OSError as exc:
            raise OutputError(
                f"export {self.export!r}: cannot take the run lease {self.shown}: {exc}"
            ) from None
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._renew_loop, name=f"lease-{self.export}", daemon=True
        )
        self._thread.start()

    def _renew_loop(self) -> None:
        conditional = self.storage.conditional
        assert conditional is not None
        while not self._stop.wait(self.seconds / 3):
            etag = self._etag
            if etag is None:
                return
            try:
                renewed = conditional.put_if_match(self.path, self._body(), etag)
            except OSError as exc:
                log.warning("export %r: could not renew the run lease: %s", self.export, exc)
                continue
            if renewed is None:
                self.lost = True
                log.error(
                    "export %r: the run lease %s was taken over by another run; this run "
                    "stalled longer than the lease (%.0f s)",
                    self.export,
                    self.shown,
                    self.seconds,
                )
                return
            self._etag = renewed

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        etag, self._etag = self._etag, None
        conditional = self.storage.conditional
        if etag is not None and conditional is not None and not self.lost:
            with contextlib.suppress(OSError):
                conditional.delete_if_match(self.path, etag)
