"""A JSONL sink that streams each page to standard output (``operate-export dump -o -``).

It has the runner's writer surface (``write_page``, ``commit``, ``abort``, ...) so that a dump goes
through the same client, paging, hydration and retries as ``run``; only where records go differs.
Lines are produced by the JSONL part writer itself, so a dump's stdout is byte for byte what
``run`` writes to ``part-*.jsonl`` (orjson; 64-bit keys stay exact integers).

Each page is written with ``os.write`` straight to the file descriptor: nothing waits in a Python
buffer, so a reader sees records as pages arrive. When the reader goes away (``| head -5``), the
write fails with EPIPE: the sink points the descriptor at /dev/null (so that nothing, not even the
interpreter's final flush of ``sys.stdout``, can fail on it again and print "Exception ignored
... BrokenPipeError") and raises ``ReaderClosed``, which stops the export's paging.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

from exporter.api import canonical
from exporter.errors import OutputError
from exporter.sinks.jsonl import JsonlPartWriter
from exporter.sinks.parts import HashingStream
from exporter.sinks.snapshot import SnapshotContext

STDOUT_LOCATION = "<stdout>"


class ReaderClosed(OutputError):
    """The reader of standard output closed it (``| head``): paging stops, nothing is wrong."""


class _DescriptorStream:
    """The raw stream under ``HashingStream``: whole writes to a file descriptor, no buffer."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        return len(data)

    def flush(self) -> None:
        pass  # nothing is buffered

    def close(self) -> None:
        pass  # standard output belongs to the process, not to the sink


@dataclass(frozen=True)
class StreamSummary:
    """What the runner reads from a committed writer (``Manifest``-like ``to_dict``)."""

    records: int
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "files": [],
            "location": STDOUT_LOCATION,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


def _is_closed_pipe(exc: OSError) -> bool:
    return isinstance(exc, BrokenPipeError) or exc.errno in (errno.EPIPE, errno.ECONNRESET)


def _point_at_devnull(fd: int) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class StdoutSink:
    """One export's records as JSON lines on a file descriptor (standard output by default)."""

    converts = False  # JSONL writes the records themselves
    decodes_pages = False  # pages arrive parsed, like any JSONL export
    resume_cursor = None  # a stream cannot be resumed

    def __init__(self, ctx: SnapshotContext, fd: int = 1) -> None:
        if ctx.output.format != "jsonl" or ctx.output.effective_compression != "none":
            raise OutputError(
                f"export {ctx.export.name!r}: only uncompressed jsonl can stream to stdout, not "
                f"{ctx.output.format} ({ctx.output.effective_compression}); write it to a path"
            )
        self.ctx = ctx
        self.fd = fd
        self.reader_closed = False
        self._stream = HashingStream(_DescriptorStream(fd))
        self._lines = JsonlPartWriter(self._stream, "none")
        # output.schema canonical (dump's default): v2-shaped records whatever the API.
        self._canonical = canonical.converter(ctx.endpoint, ctx.output.schema)

    @property
    def records_written(self) -> int:
        return self._lines.rows

    @property
    def location(self) -> str:
        return STDOUT_LOCATION

    def convert(self, records: list[dict[str, Any]], *, raw: bytes | None = None) -> None:
        return None

    def write_page(
        self,
        records: list[dict[str, Any]] | None,
        cursor: Any,
        *,
        raw: bytes | None = None,
        batch: Any = None,
    ) -> None:
        if self.reader_closed:
            raise self._closed_error()
        try:
            if self._canonical is not None and records:
                records = self._canonical.convert_records(records)
            self._lines.write(records or [], None)
        except OSError as exc:
            if not _is_closed_pipe(exc):
                raise OutputError(
                    f"export {self.ctx.export.name!r}: could not write to stdout: {exc}"
                ) from exc
            self.reader_closed = True
            _point_at_devnull(self.fd)
            raise self._closed_error() from None

    def commit(self, extra: dict[str, Any]) -> StreamSummary:
        return StreamSummary(self.records_written, self._stream.bytes_written, self._stream.sha256)

    def abort(self, reason: str, status: str = "failed") -> None:
        pass  # what was streamed cannot be taken back; the exit code and stderr say it failed

    def _closed_error(self) -> ReaderClosed:
        return ReaderClosed(
            f"export {self.ctx.export.name!r}: stdout was closed by its reader after "
            f"{self.records_written} records; paging stopped"
        )


def open_stdout_sink(ctx: SnapshotContext, resume: object = False, fd: int = 1) -> StdoutSink:
    """``RunOptions.open_writer`` for streaming: the export's records go to ``fd``."""
    return StdoutSink(ctx, fd)
