"""Small file operations of the publish protocol, per kind of store.

Local filesystem: a file is written under a temp name, fsync'd, renamed (atomic), and the
directory fsync'd; a snapshot name is claimed with an exclusive ``mkdir``.

Object stores: an object appears whole when its upload completes (a single PUT, or the
multipart upload pyarrow finishes on close) and never partially, so files are written under
their name directly: a temp name plus "rename" (copy + delete) would only double the traffic.
There are no directories; a snapshot name is claimed on S3 with a conditional put
(``If-None-Match: *``) of its ``_INCOMPLETE`` marker after checking the prefix is empty; other
stores check only (two runs of one export are kept apart by the run lock anyway).
"""

from __future__ import annotations

import os
import uuid
from functools import lru_cache
from typing import Any

import pyarrow.fs as pafs

from exporter.sinks.fs import OutputLocation
from exporter.sinks.s3cond import S3Conditional


@lru_cache(maxsize=8)
def _conditional(options: tuple[tuple[str, Any], ...]) -> S3Conditional:
    """One boto3 client per set of options (creating one costs ~0.1 s; they are thread-safe)."""
    return S3Conditional(dict(options))


class Storage:
    """The operations the snapshot writer, the reader and retention need, on one location."""

    def __init__(self, location: OutputLocation) -> None:
        self.loc = location
        self.fs: pafs.FileSystem = location.filesystem

    @property
    def conditional(self) -> S3Conditional | None:
        """Conditional puts (S3 only; None elsewhere)."""
        if not self.loc.is_s3:
            return None
        return _conditional(tuple(sorted(self.loc.options.items())))

    def fsync_file(self, path: str) -> None:
        if self.loc.local:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def fsync_dir(self, path: str) -> None:
        if self.loc.local:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                return
            try:
                os.fsync(fd)
            except OSError:
                pass  # some filesystems refuse fsync on directories; rename is still atomic
            finally:
                os.close(fd)

    def temp_for(self, path: str) -> str:
        """Where a file bound for ``path`` is written first: a hidden temp name locally, the
        name itself on object stores (an object appears only when complete)."""
        if not self.loc.local:
            return path
        head, _, base = path.rpartition("/")
        # Unique: windows of one export commit side by side in one process.
        return f"{head}/.{base}.{uuid.uuid4().hex[:8]}.tmp"

    def publish(
        self, temp: str, final: str, directory: str, *, sync_dir: bool = True, sync: bool = True
    ) -> None:
        """Make ``temp`` durable, then visible under ``final`` in one rename (``sync_dir``:
        and the rename durable before returning; ``sync=False``: no fsync at all)."""
        if temp == final:
            return
        if sync:
            self.fsync_file(temp)
        self.fs.move(temp, final)
        if sync and sync_dir:
            self.fsync_dir(directory)

    def move(self, source: str, target: str) -> None:
        """Rename (local: atomic; object stores: server-side copy, then delete)."""
        self.fs.move(source, target)

    def write_atomic(
        self, directory: str, name: str, data: bytes, *, sync_dir: bool = True, sync: bool = True
    ) -> None:
        """``name`` replaced whole by ``data``: a reader (or a crash) sees the old content or
        the new one, never a part. ``sync_dir=False`` when losing the replacement in a crash
        is harmless: the call then returns before the rename is durable. ``sync=False`` (no
        fsync) only for a cache its reader checks: after a crash the file may be empty or
        torn."""
        final = f"{directory}/{name}"
        temp = self.temp_for(final)
        with self.fs.open_output_stream(temp) as out:
            out.write(data)
        self.publish(temp, final, directory, sync_dir=sync_dir, sync=sync)

    def read(self, path: str) -> bytes | None:
        try:
            with self.fs.open_input_stream(path) as stream:
                data: bytes = stream.read()
                return data
        except FileNotFoundError:
            return None
        except OSError:
            if self.info(path).type == pafs.FileType.NotFound:
                return None
            raise

    def info(self, path: str) -> pafs.FileInfo:
        return self.fs.get_file_info(path)

    def exists(self, path: str) -> bool:
        return self.info(path).type != pafs.FileType.NotFound

    def listdir(self, path: str, recursive: bool = False) -> list[pafs.FileInfo]:
        selector = pafs.FileSelector(path, allow_not_found=True, recursive=recursive)
        return self.fs.get_file_info(selector)

    def delete(self, path: str) -> None:
        if self.info(path).type != pafs.FileType.NotFound:
            self.fs.delete_file(path)

    def delete_tree(self, path: str) -> None:
        if self.info(path).type != pafs.FileType.NotFound:
            self.fs.delete_dir(path)

    def ensure_dir(self, path: str) -> None:
        """Make ``path`` a folder files can be created in (S3 has no folders: nothing to do)."""
        if self.loc.local:
            os.makedirs(path, exist_ok=True)
        elif not self.loc.is_s3:
            self.fs.create_dir(path, recursive=True)

    def claim_dir(self, path: str, marker: str, data: bytes) -> bool:
        """Create the snapshot ``path`` with its first ``marker`` file; False if the name is
        taken (exclusive locally and on S3; check-then-create on other object stores)."""
        if self.loc.local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                os.mkdir(path)
            except FileExistsError:
                return False
            self.write_atomic(path, marker, data)
            return True
        if self.listdir(path):
            return False
        self.ensure_dir(path)
        conditional = self.conditional
        if conditional is not None:
            return conditional.put_if_absent(f"{path}/{marker}", data) is not None
        self.write_atomic(path, marker, data)
        return True
