"""JSONL part writer: one record per line, exactly as the API returned it (plus hydrated fields).

``orjson.dumps`` keeps key order and writes integers as integers (64-bit keys stay exact). With
gzip, one zlib stream per part gives a single-member ``.jsonl.gz`` every gzip reader accepts.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson
import pyarrow as pa

from exporter.errors import OutputError
from exporter.sinks.parts import HashingStream

JSONL_COMPRESSIONS = ("none", "gzip")
# orjson writes at most this many levels of nesting (a parsed page may hold up to 1024).
WRITABLE_NESTING = 254


def _unwritable(records: list[dict[str, Any]]) -> str:
    """Which record of a page orjson cannot write, and why (never its values)."""
    for index, record in enumerate(records):
        try:
            orjson.dumps(record)
        except orjson.JSONEncodeError as exc:
            return (
                f"record {index} of the page cannot be written as JSON ({exc}): it nests deeper "
                f"than the {WRITABLE_NESTING} levels JSONL output can hold"
            )
    return "a record of the page cannot be written as JSON"


class JsonlPartWriter:
    def __init__(self, stream: HashingStream, compression: str) -> None:
        self._stream = stream
        # wbits=31: zlib writes the gzip header and trailer.
        self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31) if compression == "gzip" else None
        self.rows = 0

    def write(self, records: list[dict[str, Any]], batch: pa.RecordBatch | None) -> None:
        if not records:
            return
        try:
            data = b"\n".join(map(orjson.dumps, records)) + b"\n"
        except orjson.JSONEncodeError:
            raise OutputError(_unwritable(records)) from None
        if self._gzip is not None:
            data = self._gzip.compress(data)
        if data:
            self._stream.write(data)
        self.rows += len(records)

    def close(self) -> tuple[int, str]:
        if self._gzip is not None:
            self._stream.write(self._gzip.flush())
        self._stream.close()
        return self._stream.bytes_written, self._stream.sha256

    def discard(self) -> None:
        self._stream.close()
