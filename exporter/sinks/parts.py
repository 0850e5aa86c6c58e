"""Part files: one open output stream that counts and hashes every byte it writes.

Hashing while writing gives the manifest's sha256 without reading the file back (which would
double the I/O, and on object stores the bandwidth).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa


@dataclass(frozen=True)
class PartInfo:
    """A durable part file: what the checkpoint and the manifest record about it."""

    name: str
    rows: int
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartInfo:
        return cls(str(data["name"]), int(data["rows"]), int(data["bytes"]), str(data["sha256"]))


class HashingStream:
    """A minimal writable file object over a pyarrow output stream, hashing what passes."""

    def __init__(self, raw: pa.NativeFile) -> None:
        self._raw = raw
        self._sha = hashlib.sha256()
        self.bytes_written = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._sha.update(data)
        self._raw.write(data)
        size = len(memoryview(data).cast("B"))
        self.bytes_written += size
        return size

    def tell(self) -> int:
        return self.bytes_written

    def flush(self) -> None:
        self._raw.flush()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._raw.close()

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


class PartWriter(Protocol):
    """One part file being written. ``close`` finishes it; ``discard`` abandons it."""

    rows: int

    def write(self, records: list[dict[str, Any]], batch: pa.RecordBatch | None) -> None: ...

    def close(self) -> tuple[int, str]:
        """Finish the file; returns (bytes, sha256)."""
        ...

    def discard(self) -> None: ...
