"""Where snapshots go: ``output.path`` resolved to a ``pyarrow.fs`` filesystem and a base path.

Every byte the sinks write goes through the ``pyarrow.fs.FileSystem`` returned here, so object
stores (``s3://``, ``gs://``, ``abfs://``) slot in without redesign. Plain paths (absolute or
relative to the current working directory) and ``file://`` URIs give the local filesystem.

Atomicity is local-filesystem semantics: ``rename`` within one directory is atomic and ``fsync``
makes a file durable before it becomes visible. Object stores have neither (a "move" there is a
copy plus delete); on them the protocol still holds because readers trust only the files listed
in ``_manifest.json``, which is written last (see README "Output layout and manifest").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pyarrow.fs as pafs

from exporter.errors import OutputError, redact_url


@dataclass(frozen=True)
class OutputLocation:
    """A filesystem and the root path inside it (no trailing slash)."""

    filesystem: pafs.FileSystem
    root: str
    # True for the local filesystem: atomic rename, fsync and O_EXCL-style mkdir are available.
    local: bool
    # How to show the root in messages: the original URI scheme kept, never credentials.
    display_root: str

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


def resolve_output(path: str) -> OutputLocation:
    """Resolve ``output.path`` (plain path or URI); OutputError if it cannot be opened."""
    if not _has_scheme(path):
        root = os.path.abspath(os.path.expanduser(path))
        return OutputLocation(pafs.LocalFileSystem(), root, True, root)
    try:
        filesystem, root = pafs.FileSystem.from_uri(path)
    except (ValueError, OSError, TypeError) as exc:
        # The URI may carry credentials (user info, ?secret_key=): show it redacted only.
        shown = redact_url(path)
        reason = str(exc).replace(path, shown)
        raise OutputError(
            f"output.path: cannot open {shown} ({type(exc).__name__}: {reason})"
        ) from None
    local = isinstance(filesystem, pafs.LocalFileSystem)
    scheme = path.partition("://")[0]
    display_root = root if local else f"{scheme}://{root}"
    return OutputLocation(filesystem, root.rstrip("/") or root, local, display_root)
