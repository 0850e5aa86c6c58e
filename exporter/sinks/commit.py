"""The commit of a snapshot, and finishing one a crash interrupted (see snapshot.py's docstring).

Order: ``_commit.json`` (the manifest to be) -> every ``_part-*`` renamed to ``part-*`` ->
``_manifest.json`` -> checkpoint, ``_commit.json`` and ``_INCOMPLETE`` removed -> ``_latest.json``
-> retention. A rename on an object store is a copy then a delete, so a crash can leave a part
under both names, or some parts renamed and others not; ``_commit.json`` says which files the
snapshot holds, and any later run of the export finishes the job from it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

import orjson
import pyarrow.fs as pafs

from exporter.sinks.layout import (
    CHECKPOINT_NAME,
    COMMIT_NAME,
    INCOMPLETE_NAME,
    MANIFEST_NAME,
    SnapshotDir,
    read_json,
    uncommitted_name,
    update_latest,
)
from exporter.sinks.storage import Storage

log = logging.getLogger(__name__)
_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS


def _present(storage: Storage, directory: str) -> dict[str, int]:
    """Files under ``directory`` (relative name -> size), one recursive listing."""
    prefix = directory.rstrip("/") + "/"
    return {
        info.path[len(prefix) :]: info.size or 0
        for info in storage.listdir(directory, recursive=True)
        if info.type == pafs.FileType.File and info.path.startswith(prefix)
    }


def rename_parts(
    storage: Storage,
    directory: str,
    files: list[dict[str, Any]],
    present: Mapping[str, int] | None = None,
) -> None:
    """Give every part its final name; idempotent (a part already renamed, or copied but not
    yet deleted, is recognised by its size). ``present``: the files under ``directory`` with
    their sizes when the caller knows them (else listed)."""
    if present is None:
        present = _present(storage, directory)
    folders = {directory}
    for part in files:
        name = str(part["name"])
        source = uncommitted_name(name)
        size = int(part["bytes"])
        if source in present:
            if present.get(name) == size:
                storage.delete(f"{directory}/{source}")  # copied before a crash: drop the copy
            else:
                storage.move(f"{directory}/{source}", f"{directory}/{name}")
        elif present.get(name) != size:
            raise OSError(f"part {name} is missing (neither {source} nor {name} is complete)")
        folders.add(f"{directory}/{name}".rpartition("/")[0])
    for folder in folders:
        storage.fsync_dir(folder)


def publish_commit(
    storage: Storage,
    directory: str,
    manifest: Mapping[str, Any],
    present: Mapping[str, int] | None = None,
) -> None:
    """Commit a snapshot whose parts are all durable under their uncommitted names
    (``present``: as ``rename_parts`` takes it)."""
    data = orjson.dumps(dict(manifest), option=_JSON_OPTIONS) + b"\n"
    storage.write_atomic(directory, COMMIT_NAME, data)
    rename_parts(storage, directory, list(manifest.get("files", [])), present)
    # The manifest is the last data file and its presence alone says "complete". Only then
    # are the bookkeeping files removed, marker last: a crash at any point leaves either a
    # manifest (complete; a stale file beside it is ignored) or no manifest AND the
    # _INCOMPLETE marker, never an unmarked snapshot.
    storage.write_atomic(directory, MANIFEST_NAME, data)
    for name in (CHECKPOINT_NAME, COMMIT_NAME, INCOMPLETE_NAME):
        storage.delete(f"{directory}/{name}")


def finish_interrupted_commits(
    storage: Storage, export_dir: str, snapshots: list[SnapshotDir], busy: Collection[str]
) -> None:
    """Complete every commit of the export a crash interrupted (``_commit.json`` without a
    manifest). ``busy``: snapshot folders this process is writing (windows of the export run
    side by side; the run lock keeps other processes out). One that cannot be completed (a
    part lost) is left as it is, with a warning."""
    for snapshot in snapshots:
        if snapshot.complete or not snapshot.has(COMMIT_NAME) or snapshot.path in busy:
            continue
        shown = storage.loc.display(snapshot.path)
        try:
            manifest = read_json(storage, f"{snapshot.path}/{COMMIT_NAME}")
            if not isinstance(manifest, dict):
                raise ValueError("not a JSON object")
            publish_commit(storage, snapshot.path, manifest)
            update_latest(storage, export_dir, manifest)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("could not finish the interrupted commit of %s: %s", shown, exc)
            continue
        snapshot.files[MANIFEST_NAME] = 0
        log.warning("finished the commit of %s, which an earlier run left half done", shown)
