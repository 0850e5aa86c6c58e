"""Where snapshots go: ``output.path`` resolved to a ``pyarrow.fs`` filesystem and a base path.

Every byte the sinks write goes through the ``pyarrow.fs.FileSystem`` returned here, so object
stores (``s3://``, ``gs://``, ``abfs://``) slot in without redesign. Plain paths (absolute or
relative to the current working directory) and ``file://`` URIs give the local filesystem.

``output.storage_options`` become the filesystem's keyword arguments (``S3FileSystem`` /
``GcsFileSystem``); credentials come from the store's own environment and profile chains. One
filesystem per output is built per process (``_filesystem``) and shared by every snapshot, window
and lock. How the publish protocol copes with stores where a rename is a copy plus a delete is in
``storage.py`` and ``snapshot.py``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyarrow.fs as pafs

from exporter.errors import OutputError, redact_url
from exporter.spec import OutputSpec
from exporter.spec.output_checks import is_secret_option

# The pyarrow filesystem built from ``output.storage_options`` for each object-store scheme.
_OPTION_FILESYSTEMS: dict[str, Any] = {
    "s3": pafs.S3FileSystem,
    "gs": pafs.GcsFileSystem,
    "gcs": pafs.GcsFileSystem,
}


@dataclass(frozen=True)
class OutputLocation:
    """A filesystem and the root path inside it (no trailing slash)."""

    filesystem: pafs.FileSystem
    root: str
    # True for the local filesystem: atomic rename, fsync and O_EXCL-style mkdir are available.
    local: bool
    # How to show the root in messages: the original URI scheme kept, never credentials.
    display_root: str
    # The URI scheme ("" for a local path) and output.storage_options (never credentials).
    scheme: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_s3(self) -> bool:
        return self.scheme == "s3"

    def join(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts]) if self.root else "/".join(parts)

    def display(self, path: str) -> str:
        """A path inside this location as the user would write it (URI scheme kept)."""
        if path.startswith(self.root):
            return self.display_root.rstrip("/") + path[len(self.root.rstrip("/")) :]
        return path


def _has_scheme(path: str) -> bool:
    head, sep, _ = path.partition("://")
    # "C:\\..." style drive letters are not URIs; a scheme is at least two characters.
    return bool(sep) and len(head) > 1 and head.replace("+", "").replace("-", "").isalnum()


def location_of(output: OutputSpec) -> OutputLocation:
    """The location of a spec's ``output`` (path and storage options)."""
    return resolve_output(output.path, output.storage_options)


def _with_options(path: str, scheme: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    """The filesystem of ``scheme`` built with ``options`` and the bucket/prefix root (no
    ``from_uri``: it would ask the default endpoint for the bucket's region first)."""
    factory = _OPTION_FILESYSTEMS.get(scheme)
    if factory is None:
        raise OutputError(
            f"output.storage_options: not supported for {scheme}:// paths (only "
            f"{', '.join(s + '://' for s in _OPTION_FILESYSTEMS)}); put the options in the URI"
        )
    rest = path.partition("://")[2].split("?", 1)[0]
    try:
        return factory(**dict(options)), rest.rstrip("/")
    except TypeError as exc:
        raise OutputError(
            f"output.storage_options: not an option of pyarrow's {factory.__name__} "
            f"({exc}); see its documentation for the accepted names"
        ) from None


# Object stores: built once per process (a client, its pools and credentials); others each time.
_CACHED_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "az")


@functools.lru_cache(maxsize=32)
def _filesystem(path: str, scheme: str, options: tuple[tuple[str, Any], ...]) -> tuple[Any, str]:
    """One filesystem per output for the whole process (an S3 client has connection pools and
    credentials to set up; every snapshot, window and lock of a run share it)."""
    if options:
        return _with_options(path, scheme, dict(options))
    return pafs.FileSystem.from_uri(path)


def resolve_output(path: str, options: Mapping[str, Any] | None = None) -> OutputLocation:
    """Resolve ``output.path`` (plain path or URI) with ``output.storage_options``; OutputError
    if it cannot be opened."""
    options = dict(options or {})
    if not _has_scheme(path):
        if options:
            raise OutputError("output.storage_options: only applies to object store paths")
        root = os.path.abspath(os.path.expanduser(path))
        return OutputLocation(pafs.LocalFileSystem(), root, True, root)
    scheme = path.partition("://")[0].lower()
    try:
        if scheme in _CACHED_SCHEMES:
            filesystem, root = _filesystem(path, scheme, tuple(sorted(options.items())))
        else:
            filesystem, root = _filesystem.__wrapped__(path, scheme, tuple(options.items()))
    except (ValueError, OSError, TypeError) as exc:
        # The URI may carry credentials (user info, ?secret_key=): show it redacted only.
        shown = redact_url(path)
        reason = str(exc).replace(path, shown)
        raise OutputError(
            f"output.path: cannot open {shown} ({type(exc).__name__}: {reason})"
        ) from None
    local = isinstance(filesystem, pafs.LocalFileSystem)
    display_root = root if local else f"{scheme}://{root}"
    if not options and "?" in path:
        # Options given as URI query parameters (s3://b/p?endpoint_override=...): the
        # conditional-put client of s3:// (storage.py) needs them too.
        query = parse_qsl(urlsplit(path).query)
        options = {k: v for k, v in query if not is_secret_option(k)}
    return OutputLocation(
        filesystem,
        root.rstrip("/") or root,
        local,
        display_root,
        "" if local else scheme,
        options,
    )
