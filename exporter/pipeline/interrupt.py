"""Stopping a run on SIGINT (Ctrl-C) and SIGTERM (what Kubernetes and systemd send).

One ``StopFlag`` per run is shared by everything that waits: the paging producers check it before
each request, the export threads while waiting for the next page, the hydration lookups before
they start, and the retry backoff sleeps on it (``StopFlag.sleep`` is the client's sleep), so a
stop is seen within one in-flight request. Each export then aborts its own snapshot the way a
failure does (no manifest, ``_INCOMPLETE`` says "interrupted", the checkpoint stays), so
``--resume`` continues it. The run exits 128 + the signal number: 130 for SIGINT, 143 for SIGTERM.

A request already on the wire is not cut: if the run has not wound down ``grace_seconds`` after
the signal (a slow server), or a second signal arrives, the process exits at once with the same
code. That is as safe as SIGKILL, which the snapshot protocol already survives: every file
appears through an atomic rename and the marker is written before the first page.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from exporter.errors import ExportFailed

log = logging.getLogger(__name__)

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long a stopping run may take (one in-flight request, closing parts) before a forced exit.
GRACE_SECONDS = 2.0


def exit_code_for(signum: int) -> int:
    """The shell convention: 128 + the signal number (130 SIGINT, 143 SIGTERM)."""
    return 128 + signum


class Interrupted(ExportFailed):
    """The run was told to stop; the export's snapshot is left incomplete and resumable."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = exit_code_for(signum)
        super().__init__(
            f"interrupted by {signal.Signals(signum).name}; the snapshot is incomplete: "
            "run again with --resume to continue it"
        )


class StopFlag:
    """Set once by the first stop signal; everything that pages, sleeps or waits checks it."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None

    @property
    def stopped(self) -> bool:
        return self._event.is_set()

    @property
    def exit_code(self) -> int | None:
        return None if self.signum is None else exit_code_for(self.signum)

    def request(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
        self._event.set()

    def check(self) -> None:
        """Raise ``Interrupted`` when a stop was requested."""
        if self._event.is_set():
            raise Interrupted(self.signum if self.signum is not None else signal.SIGINT)

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` that ends early, with ``Interrupted``, when a stop is requested."""
        self._event.wait(max(0.0, seconds))
        self.check()


def _stderr_fd_write(text: str) -> None:
    """Unbuffered and lock-free: usable from a signal handler and right before ``os._exit``."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        fd = 2
    with contextlib.suppress(OSError):
        os.write(fd, text.encode())


class _SignalHandler:
    """First signal: request the stop and start the grace watchdog; second: exit at once."""

    def __init__(self, stop: StopFlag, grace_seconds: float) -> None:
        self.stop = stop
        self.grace_seconds = grace_seconds
        self.finished = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.stopped:
            _stderr_fd_write(
                f"{signal.Signals(signum).name} again: exiting now; incomplete snapshots can be "
                "continued with --resume\n"
            )
            os._exit(exit_code_for(signum))
        self.stop.request(signum)
        # Logging and printing happen on the watchdog thread: a handler that writes to a stream
        # the interrupted main thread was writing to could fail with a reentrant-call error.
        threading.Thread(
            target=self._watch, args=(signum,), name="stop-watchdog", daemon=True
        ).start()

    def _watch(self, signum: int) -> None:
        name = signal.Signals(signum).name
        log.warning(
            "%s received: stopping the exports (their snapshots stay incomplete and resumable "
            "with --resume); send it again to exit at once",
            name,
        )
        if self.finished.wait(self.grace_seconds):
            return
        _stderr_fd_write(
            f"error: the exports did not stop within {self.grace_seconds:g} s after {name} "
            "(a request still in flight); exiting now. Incomplete snapshots can be continued "
            "with --resume\n"
        )
        os._exit(exit_code_for(signum))


@contextlib.contextmanager
def stop_on_signals(stop: StopFlag, grace_seconds: float = GRACE_SECONDS) -> Iterator[StopFlag]:
    """Route SIGINT and SIGTERM to ``stop`` while the block runs; the old handlers come back
    afterwards. Outside the main thread (signals cannot be handled there) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    handler = _SignalHandler(stop, grace_seconds)
    previous: dict[int, Any] = {}
    try:
        for signum in HANDLED_SIGNALS:
            previous[signum] = signal.signal(signum, handler)
        yield stop
    finally:
        handler.finished.set()
        for number, old in previous.items():
            signal.signal(number, old)
