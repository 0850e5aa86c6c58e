"""Progress reporting: the runner calls a ``Reporter``; this module decides how it looks.

* ``TerminalReporter``: a live block with one line per export (records done / total or
  ``10000+``, rate, elapsed), redrawn in place; only used when stderr is a TTY.
* ``LogLineReporter``: plain log lines for cron: one per export every few seconds, and at the end.
* ``JsonReporter``: one JSON object per line (``--log-format json``).
* ``QuietReporter``: nothing (errors still reach stderr through the CLI).

Reporters are called from several export threads at once, so each guards its stream with a lock.
The final per-export summary (``format_summary``) is plain text for stdout. A failed export shows
as FAILED (or "stopped" after a signal) in the text reporters and the summary; its error is
printed once, by ``run_command``, on stderr. JSON events name the export ``export`` throughout.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
import time
from typing import Any, Protocol

import orjson

from exporter.api.paging import TOTAL_CAP, format_total
from exporter.pipeline.results import ExportResult, RunResult


class TextStream(Protocol):
    """Where reporters write: stderr, or the CLI's secret-scrubbing wrapper around it."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class Reporter(Protocol):
    def export_started(self, name: str, endpoint: str) -> None: ...

    def page_done(
        self, name: str, *, records: int, pages: int, total: int | None, retries: int
    ) -> None: ...

    def retry(self, name: str, *, retries: int) -> None: ...

    def export_finished(self, result: ExportResult) -> None: ...

    def run_finished(self, result: RunResult) -> None: ...


class QuietReporter:
    def export_started(self, name: str, endpoint: str) -> None:
        pass

    def page_done(
        self, name: str, *, records: int, pages: int, total: int | None, retries: int
    ) -> None:
        pass

    def retry(self, name: str, *, retries: int) -> None:
        pass

    def export_finished(self, result: ExportResult) -> None:
        pass

    def run_finished(self, result: RunResult) -> None:
        pass


class _Tracker:
    """Per-export counters shared by the reporters that show rate and elapsed time."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.state: dict[str, dict[str, Any]] = {}

    def start(self, name: str, endpoint: str) -> None:
        self.started[name] = time.monotonic()
        self.state[name] = {"endpoint": endpoint, "records": 0, "pages": 0, "total": None}

    def update(self, name: str, **values: Any) -> dict[str, Any]:
        state = self.state.setdefault(name, {"records": 0, "pages": 0, "total": None})
        state.update(values)
        return state

    def elapsed(self, name: str) -> float:
        return time.monotonic() - self.started.get(name, time.monotonic())

    def rate(self, name: str) -> float:
        elapsed = self.elapsed(name)
        return self.state.get(name, {}).get("records", 0) / elapsed if elapsed > 0 else 0.0


def _progress_text(records: int, total: int | None) -> str:
    return f"{records}/{format_total(total)}" if total is not None else str(records)


def _status_text(result: ExportResult) -> str:
    """ok / FAILED / stopped: the reason is printed once, after the run (``run_command``)."""
    if result.ok:
        return "ok"
    return "stopped" if result.error_type == "Interrupted" else "FAILED"


class _ThrottledReporter:
    """Shared by the line-oriented reporters: one output stream, a tracker per export, and at
    most one progress line per export every ``interval`` seconds."""

    def __init__(self, stream: TextStream | None = None, interval: float = 5.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._lock = threading.Lock()
        self._tracker = _Tracker()
        self._last_line: dict[str, float] = {}

    def _write(self, line: str) -> None:
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def _start(self, name: str, endpoint: str) -> None:
        self._tracker.start(name, endpoint)
        self._last_line[name] = time.monotonic()

    def _due(self, name: str, *, records: int, pages: int, total: int | None) -> bool:
        """Track the page; True when a progress line for ``name`` is due."""
        self._tracker.update(name, records=records, pages=pages, total=total)
        now = time.monotonic()
        if now - self._last_line.get(name, 0.0) < self.interval:
            return False
        self._last_line[name] = now
        return True


class LogLineReporter(_ThrottledReporter):
    """Plain lines for logs (cron): throttled progress per export and one line at the end."""

    def _emit(self, text: str) -> None:
        stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        self._write(f"{stamp} {text}")

    def export_started(self, name: str, endpoint: str) -> None:
        self._start(name, endpoint)
        self._emit(f"export={name} endpoint={endpoint} started")

    def page_done(
        self, name: str, *, records: int, pages: int, total: int | None, retries: int
    ) -> None:
        if not self._due(name, records=records, pages=pages, total=total):
            return
        self._emit(
            f"export={name} records={_progress_text(records, total)} pages={pages} "
            f"retries={retries} rate={self._tracker.rate(name):.0f}/s "
            f"elapsed={self._tracker.elapsed(name):.1f}s"
        )

    def retry(self, name: str, *, retries: int) -> None:
        pass  # the HTTP client logs each retry itself; the counters appear in the next line

    def export_finished(self, result: ExportResult) -> None:
        self._emit(
            f"export={result.name} {_status_text(result)} records={result.records} "
            f"pages={result.pages} retries={result.retries} seconds={result.seconds:.1f}"
        )

    def run_finished(self, result: RunResult) -> None:
        failed = [r.name for r in result.exports if not r.ok]
        tail = f" failed={','.join(failed)}" if failed else ""
        self._emit(f"run finished exports={len(result.exports)}{tail}")


class JsonReporter(_ThrottledReporter):
    """One JSON object per line on the stream; progress lines are throttled like log lines.
    Every line carries the run's id (``run_id``, also in each manifest) when it has one."""

    run_id = ""

    def _emit(self, event: str, **fields: Any) -> None:
        record = {"ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), "event": event}
        if self.run_id:
            record["run_id"] = self.run_id
        record.update(fields)
        self._write(orjson.dumps(record, default=str).decode())

    def export_started(self, name: str, endpoint: str) -> None:
        self._start(name, endpoint)
        self._emit("export_started", export=name, endpoint=endpoint)

    def page_done(
        self, name: str, *, records: int, pages: int, total: int | None, retries: int
    ) -> None:
        if not self._due(name, records=records, pages=pages, total=total):
            return
        self._emit(
            "progress",
            export=name,
            records=records,
            pages=pages,
            total=total,
            total_is_lower_bound=total is not None and total >= TOTAL_CAP,
            retries=retries,
            rate=round(self._tracker.rate(name), 1),
            elapsed=round(self._tracker.elapsed(name), 3),
        )

    def retry(self, name: str, *, retries: int) -> None:
        self._emit("retry", export=name, retries=retries)

    def export_finished(self, result: ExportResult) -> None:
        self._emit("export_finished", **result.to_dict())

    def run_finished(self, result: RunResult) -> None:
        self._emit(
            "run_finished",
            ok=result.ok,
            exports=len(result.exports),
            failed=[r.name for r in result.exports if not r.ok],
        )


class TerminalReporter:
    """Live block of one line per export on a TTY, redrawn in place (ANSI cursor-up)."""

    def __init__(self, stream: TextStream | None = None, min_redraw: float = 0.1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.min_redraw = min_redraw
        self._lock = threading.Lock()
        self._tracker = _Tracker()
        self._order: list[str] = []
        self._lines: dict[str, str] = {}
        self._drawn = 0
        self._last_draw = 0.0

    def _line(self, name: str, suffix: str = "") -> str:
        state = self._tracker.state.get(name, {})
        records, total = state.get("records", 0), state.get("total")
        return (
            f"{name:<24} {_progress_text(records, total):>16} records  "
            f"{self._tracker.rate(name):>8.0f}/s  {self._tracker.elapsed(name):>7.1f}s"
            f"  retries {state.get('retries', 0)}{suffix}"
        )

    def _redraw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_redraw:
            return
        self._last_draw = now
        out = []
        if self._drawn:
            out.append(f"\x1b[{self._drawn}F")  # back to the first line of the block
        for name in self._order:
            out.append("\x1b[2K" + self._lines.get(name, name) + "\n")
        self._drawn = len(self._order)
        self.stream.write("".join(out))
        self.stream.flush()

    def export_started(self, name: str, endpoint: str) -> None:
        with self._lock:
            self._tracker.start(name, endpoint)
            self._order.append(name)
            self._lines[name] = self._line(name)
            self._redraw(force=True)

    def page_done(
        self, name: str, *, records: int, pages: int, total: int | None, retries: int
    ) -> None:
        with self._lock:
            self._tracker.update(name, records=records, pages=pages, total=total, retries=retries)
            self._lines[name] = self._line(name)
            self._redraw()

    def retry(self, name: str, *, retries: int) -> None:
        with self._lock:
            self._tracker.update(name, retries=retries)
            self._lines[name] = self._line(name)
            self._redraw()

    def export_finished(self, result: ExportResult) -> None:
        with self._lock:
            self._tracker.update(result.name, records=result.records, retries=result.retries)
            self._lines[result.name] = self._line(result.name, f"  {_status_text(result)}")
            self._redraw(force=True)

    def run_finished(self, result: RunResult) -> None:
        with self._lock:
            self._redraw(force=True)


def choose_reporter(
    *,
    log_format: str = "text",
    quiet: bool = False,
    stream: TextStream | None = None,
    run_id: str = "",
) -> Reporter:
    """Quiet > JSON > live terminal (stderr is a TTY) > log lines."""
    stream = stream if stream is not None else sys.stderr
    if quiet:
        return QuietReporter()
    if log_format == "json":
        reporter = JsonReporter(stream)
        reporter.run_id = run_id
        return reporter
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        return TerminalReporter(stream)
    return LogLineReporter(stream)


class _JsonLogFormatter(logging.Formatter):
    def __init__(self, run_id: str = "") -> None:
        super().__init__()
        self.run_id = run_id

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "event": "log",
            **({"run_id": self.run_id} if self.run_id else {}),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        return orjson.dumps(payload).decode()


def configure_logging(
    *,
    log_format: str = "text",
    quiet: bool = False,
    stream: TextStream | None = None,
    run_id: str = "",
) -> logging.Handler:
    """Route the ``exporter.*`` loggers (retries, warnings) to stderr in the chosen format.

    Returns the handler so that the caller can remove it when the run is over.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonLogFormatter(run_id))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("exporter")
    # INFO by default: the API choice, token renewals and re-logins are worth a line in a cron
    # log; --quiet keeps only errors.
    handler.setLevel(logging.ERROR if quiet else logging.INFO)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > handler.level:
        logger.setLevel(handler.level)
    return handler


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def format_summary(result: RunResult) -> str:
    """The final table: one line per export, then where each snapshot is or why it failed."""
    header = f"{'export':<24} {'status':<7} {'records':>9} {'pages':>6} {'retries':>7} "
    header += f"{'seconds':>8} {'files':>5} {'bytes':>10}"
    lines = [header]
    for r in result.exports:
        lines.append(
            f"{r.name:<24} {_status_text(r):<7} {r.records:>9} {r.pages:>6} "
            f"{r.retries:>7} {r.seconds:>8.1f} {len(r.files):>5} {format_size(r.bytes):>10}"
        )
    for r in result.exports:
        if r.ok and r.location:
            lines.append(f"  {r.name}: {r.location}")
    return "\n".join(lines)


def format_dry_run(result: RunResult) -> str:
    lines = []
    for r in result.exports:
        if r.ok:
            body = orjson.dumps(r.request_body).decode()
            lines.append(f"{r.name} ({r.endpoint}): total {format_total(r.total_reported)}")
            lines.append(f"  POST {r.search_path} {body}")
        else:
            lines.append(f"{r.name} ({r.endpoint}): {_status_text(r)}")
    return "\n".join(lines)
