"""One snapshot written by many shards (issue 17): shard parts, shard markers, one commit.

Layout of a sharded snapshot (the publish protocol of ``snapshot.py``, per shard)::

    <export>/snapshot=20261201T170000Z/
        _plan.json                 the plan every shard reads (written before any shard runs)
        _INCOMPLETE                until the commit
        _part-0003-00000.parquet   shard 3's durable parts (part-0003-00000.parquet at commit)
        _checkpoint-0003.json      shard 3's checkpoint (its parts and cursor: resume per shard)
        _shard-0003.json           shard 3 finished: its parts, records and request counts
        _manifest.json             written LAST by the commit, once every shard has its marker

A shard's parts, checkpoint and marker carry its number, so shards never write the same file,
whether they are threads of one run or processes on several machines. ``run --shard I/N
--run-id ID`` finds the snapshot through ``<export>/_run-<ID>.json`` (created exclusively on a
local filesystem: the first process to arrive plans and creates the snapshot, the others read
its plan); ``commit --run-id ID`` writes the manifest when every shard has its marker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow.fs as pafs

from exporter.api.shards import ShardPlan
from exporter.errors import OutputError, UsageError, redact_secrets
from exporter.sinks.commit import publish_commit
from exporter.sinks.fs import location_of
from exporter.sinks.layout import uncommitted_name
from exporter.sinks.parts import PartInfo
from exporter.sinks.snapshot import (
    INCOMPLETE_NAME,
    MANIFEST_NAME,
    Manifest,
    NotResumable,
    SnapshotContext,
    SnapshotWriter,
    _iso,
    _Storage,
    after_commit,
    claim_snapshot_dir,
    export_digest,
    make_manifest,
    part_extension,
    snapshot_dirs,
)

PLAN_NAME = "_plan.json"
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")
_JSON = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS

log = logging.getLogger(__name__)


def marker_name(index: int) -> str:
    return f"_shard-{index:04d}.json"


def checkpoint_name(index: int) -> str:
    return f"_checkpoint-{index:04d}.json"


def pointer_name(run_id: str) -> str:
    return f"_run-{run_id}.json"


def check_run_id(run_id: str) -> str:
    if not RUN_ID_RE.match(run_id):
        raise UsageError(
            f"--run-id {run_id!r}: use 1-128 letters, digits and . _ : + - (it names a file)"
        )
    return run_id


class ShardDone:
    """What a shard's commit returns to the pipeline (the shape of a manifest it reads)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return self.data


class ShardWriter(SnapshotWriter):
    """``SnapshotWriter`` for one shard of a sharded snapshot: parts and checkpoint named after
    the shard; its commit writes the shard's marker, not the manifest."""

    def __init__(self, *args: Any, shard: int, label: str = "", **kwargs: Any) -> None:
        self.shard = shard
        self.label = label
        self.checkpoint_name = checkpoint_name(shard)
        super().__init__(*args, **kwargs)

    def _part_name(self, index: int) -> str:
        return f"part-{self.shard:04d}-{index:05d}{part_extension(self.ctx.output)}"

    def mark_in_progress(self) -> None:
        """The sharded snapshot's ``_INCOMPLETE`` stands for every shard (written once)."""

    def _write_marker(self, status: str, reason: str) -> None:
        """A failed shard keeps its checkpoint; the run reports why (no shared marker)."""

    def commit(self, extra: dict[str, Any]) -> ShardDone:  # type: ignore[override]
        self._require_open("commit")
        if self._part is None and not self._parts:
            self._open_part()  # an empty shard still has one (empty) part with the schema
        if self._part is not None:
            self._close_part()
        data = {
            "shard": self.shard,
            "label": self.label,
            "run_id": self.ctx.run_id,
            "export_digest": export_digest(self.ctx),
            "records": self._records,
            "files": [p.to_dict() for p in self._parts],
            "seconds": round(time.monotonic() - self._t0, 3),
            "finished_at": _iso(self._clock()),
            "extra": dict(extra),
            "location": self.location,
        }
        with self._io("publish the shard marker"):
            body = orjson.dumps(data, option=_JSON) + b"\n"
            self._storage.write_atomic(self.directory, marker_name(self.shard), body)
            self._storage.delete(self._path(self.checkpoint_name))
        self._state = "committed"
        return ShardDone(data)


class ShardedSnapshot:
    """The snapshot every shard of one export's plan writes into."""

    def __init__(
        self,
        ctx: SnapshotContext,
        storage: _Storage,
        directory: str,
        plan: ShardPlan,
        started_at: datetime,
    ) -> None:
        self.ctx = ctx
        self.storage = storage
        self.directory = directory
        self.plan = plan
        self.started_at = started_at
        self._t0 = time.monotonic()

    @property
    def location(self) -> str:
        return self.storage.loc.display(self.directory)

    def _path(self, name: str) -> str:
        return f"{self.directory}/{name}"

    def _read_json(self, name: str) -> Any:
        raw = self.storage.read(self._path(name))
        if raw is None:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None

    def finished(self) -> dict[int, dict[str, Any]]:
        """The markers of the shards that finished, by shard number."""
        done = {}
        for shard in self.plan.shards:
            data = self._read_json(marker_name(shard.index))
            if isinstance(data, dict) and data.get("export_digest") == export_digest(self.ctx):
                done[shard.index] = data
        return done

    def missing(self) -> list[int]:
        done = self.finished()
        return [s.index for s in self.plan.shards if s.index not in done]

    def writer(self, index: int, clock: Any = None) -> ShardWriter:
        """Shard ``index``'s writer: continued from its checkpoint when it has one that fits
        (else the shard starts again, its parts dropped)."""
        shard = self.plan.shards[index]
        kwargs: dict[str, Any] = {"shard": index, "label": shard.label}
        if clock is not None:
            kwargs["clock"] = clock
        checkpoint = self._read_json(checkpoint_name(index))
        if isinstance(checkpoint, dict):
            try:
                return self._resumed(index, checkpoint, kwargs)
            except NotResumable as exc:
                # The shard's own files only: starting it again is always safe.
                log.warning("%s; starting shard %d again", exc, index)
                self.storage.delete(self._path(checkpoint_name(index)))
        self._drop_files(index, keep=set())
        return ShardWriter(self.ctx, self.storage, self.directory, _now(), **kwargs)

    def _resumed(
        self, index: int, checkpoint: dict[str, Any], kwargs: dict[str, Any]
    ) -> ShardWriter:
        shown = f"{self.location} shard {index}"
        try:
            parts = [PartInfo.from_dict(p) for p in checkpoint["parts"]]
            records = int(checkpoint["records"])
            started = datetime.fromisoformat(str(checkpoint["started_at"]).replace("Z", "+00:00"))
            resumed = [str(x) for x in checkpoint.get("resumed_at", [])]
            cursor = checkpoint["cursor"]
        except (KeyError, TypeError, ValueError) as exc:
            raise NotResumable(
                self.ctx.export.name, shown, f"its checkpoint is unreadable ({type(exc).__name__})"
            ) from None
        if checkpoint.get("export_digest") != export_digest(self.ctx):
            raise NotResumable(self.ctx.export.name, shown, "it was written by another export spec")
        self._drop_files(index, keep={p.name for p in parts})
        for part in parts:
            info = self.storage.info(self._path(uncommitted_name(part.name)))
            if info.type == pafs.FileType.NotFound or info.size != part.bytes:
                raise NotResumable(
                    self.ctx.export.name, shown, f"part {part.name} is missing or changed size"
                )
        return ShardWriter(
            self.ctx,
            self.storage,
            self.directory,
            started,
            parts=parts,
            records=records,
            cursor=cursor,
            resumed_at=[*resumed, _iso(_now())],
            **kwargs,
        )

    def _drop_files(self, index: int, keep: set[str]) -> None:
        """Shard ``index``'s parts written after its last checkpoint (fetched again)."""
        prefix = f"_part-{index:04d}-"
        keep = {uncommitted_name(name) for name in keep}
        for info in self.storage.listdir(self.directory):
            base = info.base_name
            own = base.startswith((prefix, f".{prefix}"))
            if own and base not in keep:
                self.storage.delete(info.path)

    def commit(self, extra: dict[str, Any] | None = None) -> Manifest:
        """The manifest, once every shard has finished (else ``ShardsMissing``)."""
        if self.storage.info(self._path(MANIFEST_NAME)).type != pafs.FileType.NotFound:
            raise OutputError(f"export {self.ctx.export.name!r}: {self.location} is committed")
        done = self.finished()
        missing = [s.index for s in self.plan.shards if s.index not in done]
        if missing:
            raise ShardsMissing(self.ctx.export.name, self.location, missing, self.plan.count)
        files: list[PartInfo] = []
        shards: list[dict[str, Any]] = []
        totals = {"pages": 0, "requests": 0, "retries": 0}
        for shard in self.plan.shards:
            data = done[shard.index]
            files.extend(PartInfo.from_dict(p) for p in data["files"])
            shard_extra = data.get("extra") or {}
            for key in totals:
                totals[key] += int(shard_extra.get(key) or 0)
            shards.append(
                {
                    "shard": shard.index,
                    "label": shard.label,
                    "records": int(data["records"]),
                    "files": [p["name"] for p in data["files"]],
                    "seconds": data.get("seconds"),
                    **{key: shard_extra.get(key) for key in totals},
                }
            )
        schema = self._schema()
        manifest = make_manifest(
            self.ctx,
            started_at=self.started_at,
            finished_at=_now(),
            resumed_at=[],
            seconds=time.monotonic() - self._t0,
            records=sum(int(d["records"]) for d in done.values()),
            files=files,
            extra={**totals, **(extra or {}), "shards": shards, "plan": self.plan.to_dict()},
            directory=self.directory,
            location=self.location,
            schema=schema,
        )
        try:
            # The parts get their final names, then the manifest (the commit protocol of
            # commit.py: a crash in between is finished by the next run of the export).
            publish_commit(self.storage, self.directory, manifest.to_dict())
            for shard in self.plan.shards:
                self.storage.delete(self._path(checkpoint_name(shard.index)))
            self.storage.delete(self._path(INCOMPLETE_NAME))
        except OSError as exc:
            raise OutputError(
                f"export {self.ctx.export.name!r}: could not publish the manifest in "
                f"{self.location}: {exc}"
            ) from exc
        after_commit(self.storage, self.directory, self.ctx.output, manifest.to_dict())
        return manifest

    def _schema(self) -> Any:
        """The records' Arrow schema (Parquet), as a writer of this context has it (making a
        writer touches no file)."""
        writer = SnapshotWriter(self.ctx, self.storage, self.directory, self.started_at)
        writer._closed()  # not a snapshot being written
        return writer._schema

    def mark(self, status: str, reason: str) -> None:
        """(Re)write the snapshot's ``_INCOMPLETE`` marker."""
        data = {
            "status": status,
            "reason": redact_secrets(reason),
            "export": self.ctx.export.name,
            "run_id": self.ctx.run_id,
            "started_at": _iso(self.started_at),
            "updated_at": _iso(_now()),
            "shards": self.plan.count,
            "note": "This sharded snapshot is incomplete and must not be used. Its shards "
            "resume from their checkpoints; 'operate-export commit' publishes it once every "
            "shard has finished.",
        }
        body = orjson.dumps(data, option=_JSON) + b"\n"
        try:
            self.storage.write_atomic(self.directory, INCOMPLETE_NAME, body)
        except OSError as exc:
            raise OutputError(
                f"export {self.ctx.export.name!r}: cannot mark {self.location}: {exc}"
            ) from exc


class ShardsMissing(OutputError):
    """``commit`` before every shard finished: names the shards that did not."""

    def __init__(self, export: str, location: str, missing: list[int], count: int) -> None:
        self.missing = missing
        shown = ", ".join(str(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
        super().__init__(
            f"export {export!r}: {len(missing)} of {count} shards have not finished in "
            f"{location}: shard(s) {shown} (run them with run --shard I/{count} and the same "
            "--run-id, then commit again)"
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _plan_document(ctx: SnapshotContext, plan: ShardPlan) -> bytes:
    data = {"export_digest": export_digest(ctx), "run_id": ctx.run_id, "plan": plan.to_dict()}
    return orjson.dumps(data, option=_JSON) + b"\n"


def _read_plan(storage: _Storage, directory: str) -> tuple[str, ShardPlan] | None:
    raw = storage.read(f"{directory}/{PLAN_NAME}")
    try:
        data = orjson.loads(raw) if raw else None
        if not isinstance(data, dict):
            return None
        return str(data["export_digest"]), ShardPlan.from_dict(data["plan"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _create(
    ctx: SnapshotContext, storage: _Storage, export_dir: str, plan: ShardPlan
) -> ShardedSnapshot:
    moment = _now()
    directory = claim_snapshot_dir(storage, export_dir, moment)
    snapshot = ShardedSnapshot(ctx, storage, directory, plan, moment)
    snapshot.mark("in progress", "the shards are running (or were killed)")
    storage.write_atomic(directory, PLAN_NAME, _plan_document(ctx, plan))
    return snapshot


def _resumable(ctx: SnapshotContext, storage: _Storage, export_dir: str) -> ShardedSnapshot | None:
    """The newest sharded snapshot of the same export without a manifest."""
    for path in snapshot_dirs(storage, export_dir):
        if storage.info(f"{path}/{MANIFEST_NAME}").type != pafs.FileType.NotFound:
            continue
        found = _read_plan(storage, path)
        if found is not None and found[0] == export_digest(ctx):
            return ShardedSnapshot(ctx, storage, path, found[1], _now())
    return None


def open_sharded(
    ctx: SnapshotContext, make_plan: Any, *, resume: bool | str = False
) -> ShardedSnapshot:
    """A fresh sharded snapshot of ``make_plan()``, or with ``resume`` the newest unfinished
    one of the same export (its plan, its finished shards and checkpoints)."""
    location = location_of(ctx.output)
    storage = _Storage(location)
    export_dir = location.join(ctx.export.name)
    try:
        if resume:
            found = _resumable(ctx, storage, export_dir)
            if found is not None:
                found.mark("in progress", "resumed (or killed again)")
                return found
        return _create(ctx, storage, export_dir, make_plan())
    except OSError as exc:
        raise OutputError(
            f"export {ctx.export.name!r}: cannot prepare a sharded snapshot in "
            f"{location.display(export_dir)}: {exc}"
        ) from exc


def _claim_pointer(storage: _Storage, path: str, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists (exclusive on a local filesystem; an
    object store checks first, see the README)."""
    if storage.loc.local:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temp = f"{path}.{os.getpid()}.tmp"
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temp, path)  # atomic, fails when the pointer exists
        except FileExistsError:
            return False
        finally:
            os.unlink(temp)
        return True
    conditional = storage.conditional
    if conditional is not None:  # S3: If-None-Match, exclusive like the link above
        return conditional.put_if_absent(path, data) is not None
    if storage.info(path).type != pafs.FileType.NotFound:
        return False
    with storage.fs.open_output_stream(path) as out:
        out.write(data)
    return True


def run_snapshot(ctx: SnapshotContext, run_id: str, make_plan: Any) -> ShardedSnapshot:
    """The snapshot run ``run_id`` writes: found through its pointer, or created (with the plan
    ``make_plan()`` gives) by the first process of the run to get here."""
    location = location_of(ctx.output)
    storage = _Storage(location)
    export_dir = location.join(ctx.export.name)
    pointer = f"{export_dir}/{pointer_name(check_run_id(run_id))}"
    try:
        found = find_run_snapshot(ctx, run_id)
        if found is not None:
            return found
        created = _create(ctx, storage, export_dir, make_plan())
        body = orjson.dumps({"snapshot": created.directory.rsplit("/", 1)[-1]}) + b"\n"
        if _claim_pointer(storage, pointer, body):
            return created
        # Another process of the run got there first: use its snapshot and plan.
        with contextlib.suppress(OSError):
            storage.fs.delete_dir(created.directory)
        found = find_run_snapshot(ctx, run_id)
        if found is None:
            raise OutputError(f"export {ctx.export.name!r}: run {run_id}'s pointer is unreadable")
        return found
    except OSError as exc:
        raise OutputError(
            f"export {ctx.export.name!r}: cannot prepare run {run_id}'s snapshot in "
            f"{location.display(export_dir)}: {exc}"
        ) from exc


def find_run_snapshot(ctx: SnapshotContext, run_id: str) -> ShardedSnapshot | None:
    """The snapshot of run ``run_id`` (None when no process of it has started)."""
    location = location_of(ctx.output)
    storage = _Storage(location)
    export_dir = location.join(ctx.export.name)
    raw = storage.read(f"{export_dir}/{pointer_name(check_run_id(run_id))}")
    if raw is None:
        return None
    try:
        directory = f"{export_dir}/{orjson.loads(raw)['snapshot']}"
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise OutputError(
            f"export {ctx.export.name!r}: run {run_id}'s pointer is unreadable ({exc})"
        ) from None
    found = _read_plan(storage, directory)
    if found is None:
        raise OutputError(
            f"export {ctx.export.name!r}: run {run_id}'s snapshot {location.display(directory)} "
            "has no readable plan"
        )
    digest, plan = found
    if digest != export_digest(ctx):
        raise UsageError(
            f"export {ctx.export.name!r}: run {run_id} was planned from another version of this "
            "export (filter, sort, format...); use a new --run-id"
        )
    return ShardedSnapshot(ctx, storage, directory, plan, _now())


def stored_api(output: Any, export: str, run_id: str) -> str | None:
    """The API run ``run_id``'s plan of ``export`` was made for (``source.api: auto``)."""
    location = location_of(output)
    storage = _Storage(location)
    export_dir = location.join(export)
    raw = storage.read(f"{export_dir}/{pointer_name(check_run_id(run_id))}")
    try:
        directory = f"{export_dir}/{orjson.loads(raw or b'')['snapshot']}"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    found = _read_plan(storage, directory)
    return found[1].api if found is not None else None
