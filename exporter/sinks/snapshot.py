"""Snapshot lifecycle: layout, part rotation, atomic publish, checkpoint, manifest, resume.

Layout (one directory per run of one export; ``layout.py`` lists it and is its one reader)::

    <output.path>/<export name>/snapshot=20261127T221500Z/
        _part-00000.parquet       durable parts while the snapshot is not committed
        .part-00001.parquet.tmp   the part being written (local filesystem; never a partial file)
        _checkpoint.json          after each durable part: parts, record count, cursor, digest
        _INCOMPLETE               present from the start until the commit; says why on failure
        _commit.json              the manifest to be, while the parts get their final names
        part-00000.parquet        the parts, renamed at commit (.jsonl / .jsonl.gz for JSONL)
        _manifest.json            written LAST: the snapshot is complete exactly when it exists
    <output.path>/<export name>/_latest.json   the newest complete snapshot, after its manifest

Uncommitted parts carry a leading ``_``, which Spark, pyarrow.dataset, DuckDB's hive discovery and
globs on ``part-*`` skip: a reader never sees the data of a run that has not committed. The commit
writes ``_commit.json``, renames every part (on object stores a copy plus a delete), writes the
manifest, then removes the bookkeeping files. A run that dies among the renames leaves
``_commit.json``; the next run of the export (under the run lock) finishes those renames and
publishes that manifest, so nothing is lost or duplicated. On the local filesystem parts are
fsync'd before each rename and the directory after it. Two snapshots started in the same second
get ``-001``, ``-002``... suffixes; the name is claimed with an exclusive mkdir locally and a
conditional put (``If-None-Match``) of ``_INCOMPLETE`` on S3 (``storage.py``).

Parts rotate at page boundaries, because the cursor (what the paginator sends next) only exists
per page: a part is closed before a page that would take it past ``rows_per_file`` and as soon as
it reaches ``rows_per_file``. So a part holds at most ``rows_per_file`` rows, unless a single page
is larger. The checkpoint stores the cursor of the last page inside durable parts; on resume the
runner re-fetches from there, so the finished snapshot equals an uninterrupted run.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import pyarrow as pa

from exporter.api import canonical
from exporter.api.rawpage import RawPage
from exporter.api.types import Endpoint
from exporter.errors import OutputError, UsageError, redact_secrets
from exporter.sinks.arrow_schema import schema_for, schema_to_json
from exporter.sinks.commit import finish_interrupted_commits, publish_commit
from exporter.sinks.convert import RecordConverter
from exporter.sinks.fs import location_of
from exporter.sinks.jsonl import JSONL_COMPRESSIONS, JsonlPartWriter
from exporter.sinks.layout import (  # X as X: also imported from here by others
    CHECKPOINT_NAME as CHECKPOINT_NAME,
)
from exporter.sinks.layout import (
    INCOMPLETE_NAME as INCOMPLETE_NAME,
)
from exporter.sinks.layout import (
    LATEST_NAME,
    PART_RE,
    SnapshotDir,
    newest_manifest,
    scan_export,
    uncommitted_name,
    update_latest,
)
from exporter.sinks.layout import (
    MANIFEST_NAME as MANIFEST_NAME,
)
from exporter.sinks.layout import (
    SNAPSHOT_PREFIX as SNAPSHOT_PREFIX,
)
from exporter.sinks.layout import (
    snapshot_sort_key as snapshot_sort_key,
)
from exporter.sinks.parquet import PARQUET_COMPRESSIONS, ParquetPartWriter
from exporter.sinks.partitions import Partitioner
from exporter.sinks.parts import HashingStream, PartInfo, PartWriter
from exporter.sinks.storage import Storage
from exporter.spec import ExportSpec, OutputSpec

MANIFEST_VERSION = 1
CHECKPOINT_VERSION = 1
_Storage = Storage  # the name other modules imported from here
# Snapshot folders open for writing in this process (not an interrupted commit to finish).
_OPEN_DIRS: set[str] = set()
_OPEN_LOCK = threading.Lock()
_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
RUNNING_REASON = "the export is running (or was killed)"
RESUMED_REASON = "resumed (or killed again)"

log = logging.getLogger(__name__)


class NotResumable(OutputError):
    """An incomplete snapshot cannot be continued with this spec (a different filter, sort,
    format...; a damaged checkpoint or part). ``reason`` says why, without advice."""

    def __init__(self, export: str, shown: str, reason: str) -> None:
        self.reason = reason
        self.shown = shown
        super().__init__(
            f"export {export!r}: cannot resume {shown}: {reason}. Run without --resume to start "
            "a fresh snapshot, or with --resume=auto to do that whenever resuming is impossible"
        )


@dataclass(frozen=True)
class SnapshotContext:
    """Everything the sink needs to know about one export of one job."""

    export: ExportSpec
    endpoint: Endpoint
    output: OutputSpec
    job_digest: str
    api_version: str = "v1"
    tool_version: str = ""
    # The run that writes the snapshot (also in its JSON log lines and the run lock).
    run_id: str = ""
    # An incremental export's window (issue 15): recorded in the manifest, and a resume only
    # continues a snapshot of the same window.
    incremental: dict[str, Any] | None = None
    # A dependent export's parent snapshot (issue 16): recorded in the manifest.
    parent: dict[str, Any] | None = None


def _plain(value: Any) -> Any:
    """Mappings/tuples (the frozen spec) -> dicts/lists, so orjson and digests see plain JSON."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def export_identity(ctx: SnapshotContext) -> dict[str, Any]:
    """What must not change between a checkpoint and its resume (else the data would mix)."""
    export = ctx.export
    return {
        "endpoint": ctx.endpoint.name,
        "api_version": ctx.api_version,
        "filter": _plain(export.filter),
        "sort": [s.to_api() for s in export.sort],
        "max_records": export.max_records,
        "hydrate": export.hydrate,
        "include_xml": export.include_xml,
        "include_evaluation_details": export.include_evaluation_details,
        "format": ctx.output.format,
        "compression": ctx.output.effective_compression,
        "schema_mode": ctx.output.schema,
    }


def export_digest(ctx: SnapshotContext) -> str:
    canonical = orjson.dumps(export_identity(ctx), option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def part_extension(output: OutputSpec) -> str:
    if output.format == "parquet":
        return ".parquet"
    return ".jsonl.gz" if output.effective_compression == "gzip" else ".jsonl"


def part_name(index: int, output: OutputSpec) -> str:
    return f"part-{index:05d}{part_extension(output)}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Manifest:
    """The content of ``_manifest.json``; also the source of the CLI's final summary."""

    tool_version: str
    export: str
    endpoint: str
    api_version: str
    spec_digest: str
    export_digest: str
    filter: dict[str, Any]
    sort: list[dict[str, str]]
    options: dict[str, Any]
    format: str
    compression: str
    started_at: str
    finished_at: str
    seconds: float
    records: int
    files: list[PartInfo]
    extra: dict[str, Any]
    snapshot: str
    location: str
    schema: list[dict[str, Any]] | None = None
    resumed_at: list[str] = field(default_factory=list)
    # canonical (v2-shaped records whatever the API) or native (issue 14).
    schema_mode: str = canonical.DEFAULT_SCHEMA_MODE
    run_id: str = ""
    incremental: dict[str, Any] | None = None  # the window this snapshot holds (issue 15)
    # Dependent exports (issue 16): the parent snapshot of a child, the children of a parent.
    parent: dict[str, Any] | None = None
    children: list[dict[str, Any]] | None = None

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "manifest_version": MANIFEST_VERSION,
            "tool": "operate-export",
            "tool_version": self.tool_version,
            "export": self.export,
            "endpoint": self.endpoint,
            "api_version": self.api_version,
            "api": self.api_version,
            "schema_mode": self.schema_mode,
            "spec_digest": self.spec_digest,
            "export_digest": self.export_digest,
            "filter": self.filter,
            "sort": self.sort,
            "options": self.options,
            "format": self.format,
            "compression": self.compression,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "resumed_at": self.resumed_at,
            "seconds": self.seconds,
            "records": self.records,
            "bytes": self.bytes,
            "files": [f.to_dict() for f in self.files],
            "extra": self.extra,
            "snapshot": self.snapshot,
            "location": self.location,
            "run_id": self.run_id,
        }
        if self.schema is not None:
            data["schema"] = self.schema
        if self.incremental is not None:
            data["incremental"] = self.incremental
        if self.parent is not None:
            data["parent"] = self.parent
        if self.children is not None:
            data["children"] = self.children
        return data

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def to_json(self) -> builtins.bytes:  # ``bytes`` here is the property above
        return orjson.dumps(self.to_dict(), option=_JSON_OPTIONS) + b"\n"


def make_manifest(
    ctx: SnapshotContext,
    *,
    started_at: datetime,
    finished_at: datetime,
    resumed_at: list[str],
    seconds: float,
    records: int,
    files: list[PartInfo],
    extra: dict[str, Any],
    directory: str,
    location: str,
    schema: pa.Schema | None,
    children: list[dict[str, Any]] | None = None,
) -> Manifest:
    """The manifest of a snapshot of ``ctx``'s export (one writer's, or every shard's)."""
    return Manifest(
        tool_version=ctx.tool_version,
        export=ctx.export.name,
        endpoint=ctx.endpoint.name,
        api_version=ctx.api_version,
        spec_digest=ctx.job_digest,
        export_digest=export_digest(ctx),
        filter=_plain(ctx.export.filter),
        sort=[s.to_api() for s in ctx.export.sort],
        options={
            "hydrate": ctx.export.hydrate,
            "include_xml": ctx.export.include_xml,
            "include_evaluation_details": ctx.export.include_evaluation_details,
            "max_records": ctx.export.max_records,
            "page_size": ctx.export.page_size,
            "rows_per_file": ctx.output.rows_per_file,
            "row_group_size": ctx.output.row_group_size,
        },
        format=ctx.output.format,
        compression=ctx.output.effective_compression,
        started_at=_iso(started_at),
        finished_at=_iso(finished_at),
        resumed_at=list(resumed_at),
        seconds=round(seconds, 3),
        records=records,
        files=list(files),
        extra=_plain(dict(extra)),
        snapshot=directory.rsplit("/", 1)[-1],
        location=location,
        schema=schema_to_json(schema) if schema is not None else None,
        schema_mode=ctx.output.schema,
        run_id=ctx.run_id,
        incremental=ctx.incremental,
        parent=ctx.parent,
        children=children,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SnapshotWriter:
    """Writes one snapshot: pages in, durable parts + checkpoints, then commit or abort."""

    # A shard's writer (sinks/shards.py) names its parts and checkpoint after its shard.
    checkpoint_name = CHECKPOINT_NAME

    def _part_name(self, index: int) -> str:
        return part_name(index, self.ctx.output)

    def __init__(
        self,
        ctx: SnapshotContext,
        storage: _Storage,
        directory: str,
        started_at: datetime,
        *,
        parts: list[PartInfo] | None = None,
        records: int = 0,
        cursor: Any = None,
        resumed_at: list[str] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        output = ctx.output
        if output.format not in ("parquet", "jsonl"):
            raise OutputError(
                f"export {ctx.export.name!r}: unknown output format {output.format!r}"
            )
        allowed = PARQUET_COMPRESSIONS if output.format == "parquet" else JSONL_COMPRESSIONS
        if output.effective_compression not in allowed:
            raise OutputError(
                f"export {ctx.export.name!r}: compression {output.effective_compression!r} is not "
                f"available for {output.format}; use one of {', '.join(allowed)}"
            )
        self.ctx = ctx
        self._storage = storage
        self.directory = directory
        with _OPEN_LOCK:
            _OPEN_DIRS.add(directory)
        self.started_at = started_at
        self._clock = clock
        self._t0 = time.monotonic()
        self._parts: list[PartInfo] = list(parts or [])
        self._records = records
        self._durable_records = records
        self._cursor = cursor
        self._resume_cursor = cursor
        self._resumed_at = list(resumed_at or [])
        self._progress_reason = RESUMED_REASON if resumed_at else RUNNING_REASON
        self._part: PartWriter | None = None
        self._part_temp: str | None = None
        self._state = "open"
        self._digest = export_digest(ctx)
        self._converter = (
            RecordConverter(ctx.endpoint, ctx.export) if output.format == "parquet" else None
        )
        # output.schema canonical: records of another API's shape are converted on the way in.
        self._canonical = canonical.converter(ctx.endpoint, output.schema)
        self._schema: pa.Schema | None = None
        if self._converter is not None:
            self._schema = self._converter.schema
            if self._canonical is not None:
                self._schema = schema_for(self._canonical.endpoint, ctx.export)
        # output.partition_by: one open part per partition folder, closed together.
        self._partitioner: Partitioner | None = None
        self._keyed: dict[str, tuple[PartWriter, str, str]] = {}  # folder -> part, temp, name
        self._keyed_rows = 0
        if output.partition_by is not None:
            shape = self._canonical.endpoint if self._canonical is not None else ctx.endpoint
            fields = (self._schema or schema_for(shape, ctx.export)).names
            self._partitioner = Partitioner(output.partition_by, ctx.export.name, fields)

    # -- public surface --------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self._storage.loc.display(self.directory)

    @property
    def resume_cursor(self) -> Any:
        return self._resume_cursor

    @property
    def records_written(self) -> int:
        return self._records

    @property
    def parts(self) -> list[PartInfo]:
        return list(self._parts)

    @property
    def converts(self) -> bool:
        """Whether pages are converted before writing (Parquet), i.e. ``convert`` does work."""
        return self._converter is not None

    def convert(
        self, records: list[dict[str, Any]], *, raw: bytes | None = None
    ) -> pa.RecordBatch | None:
        """A page's record batch (Parquet) or None (JSONL writes the records themselves).

        Touches no writer state, so the runner may convert the next page on another thread
        while this one is written. ``raw``: the search response ``records`` were parsed from,
        unmodified; the converter may decode it instead of the dicts (same result).
        """
        if self._converter is None or not records:
            return None
        return self._to_canonical(self._converter.convert(records, raw=raw))

    def _to_canonical(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self._canonical is None or self._schema is None:
            return batch
        converted: pa.RecordBatch = self._canonical.convert_batch(
            batch, self._schema, self.ctx.export.name
        )
        return converted

    @property
    def decodes_pages(self) -> bool:
        """Whether ``convert_page`` can take pages whose items were never parsed (Parquet of
        v1 columns Arrow's JSON reader decodes)."""
        return self._converter is not None and self._converter.decodes_pages

    def convert_page(self, page: RawPage, size: int, number: int) -> pa.RecordBatch:
        """A page read by ``rawpage`` (items unparsed) as a batch; state-free like ``convert``."""
        assert self._converter is not None
        return self._to_canonical(self._converter.convert_page(page, size, number))

    def write_page(
        self,
        records: list[dict[str, Any]] | None,
        cursor: Any,
        *,
        raw: bytes | None = None,
        batch: pa.RecordBatch | None = None,
    ) -> None:
        """Append one page; ``batch``: the page already converted by ``convert`` (or by
        ``convert_page``, then ``records`` is None: the batch is the page)."""
        self._require_open("write a page")
        limit = max(1, self.ctx.output.rows_per_file)
        count = len(records) if records is not None else 0 if batch is None else batch.num_rows
        if count:
            if batch is None:
                assert records is not None
                batch = self.convert(records, raw=raw)
            if self._converter is None and self._canonical is not None and records:
                records = self._canonical.convert_records(records)  # JSONL: v2-shaped dicts
            if self._partitioner is not None:
                self._write_keyed(records, batch, count, limit)
                self._cursor = cursor
                if self._keyed_rows >= limit:
                    self._close_keyed()
                return
            if self._part is not None and self._part.rows + count > limit:
                self._close_part()
            if self._part is None:
                self._open_part()
            assert self._part is not None
            with self._io("write a part"):
                self._part.write(records or [], batch)
            self._records += count
        self._cursor = cursor
        if self._part is not None and self._part.rows >= limit:
            self._close_part()

    def commit(
        self, extra: dict[str, Any], *, children: list[dict[str, Any]] | None = None
    ) -> Manifest:
        """Publish the manifest; ``children``: the committed snapshots of a parent's
        dependent exports, named in it."""
        self._require_open("commit")
        # The last parts close without a checkpoint or marker update: ``_commit.json`` follows
        # at once and supersedes both (a crash in between resumes from the previous checkpoint,
        # which drops parts written after it and fetches them again).
        if self._keyed:
            self._close_keyed(final=True)
        if self._part is None and not self._parts:
            self._open_part()  # an empty export still gets one (empty) part with the schema
        if self._part is not None:
            self._close_part(final=True)
        manifest = make_manifest(
            self.ctx,
            started_at=self.started_at,
            finished_at=self._clock(),
            resumed_at=self._resumed_at,
            seconds=time.monotonic() - self._t0,
            records=self._records,
            files=self._parts,
            extra=extra,
            directory=self.directory,
            location=self.location,
            schema=self._schema,
            children=children,
        )
        try:
            # The parts are where this writer made them durable (no listing needed).
            present = {uncommitted_name(p.name): p.bytes for p in self._parts}
            with self._io("publish the manifest"):
                publish_commit(self._storage, self.directory, manifest.to_dict(), present)
        finally:
            self._closed()
        self._state = "committed"
        after_commit(self._storage, self.directory, self.ctx.output, manifest.to_dict())
        return manifest

    def abort(self, reason: str, *, status: str = "failed") -> None:
        """Discard the open part, mark the snapshot incomplete (``status``: failed, or
        interrupted by a signal), keep the checkpoint."""
        if self._state != "open":
            return
        self._state = "aborted"
        self._closed()
        open_parts = [(self._part, self._part_temp)] + [(p, t) for p, t, _ in self._keyed.values()]
        self._part = self._part_temp = None
        self._keyed = {}
        for part, temp in open_parts:
            # Best effort: this runs on an error path and must not hide the original error.
            with contextlib.suppress(OSError, pa.ArrowException):
                if part is not None:
                    part.discard()
            with contextlib.suppress(OSError, pa.ArrowException):
                if temp is not None:
                    self._storage.delete(temp)
        with contextlib.suppress(OSError, pa.ArrowException):
            self._write_marker(status, reason)

    # -- internals -------------------------------------------------------------------------
    def _closed(self) -> None:
        with _OPEN_LOCK:
            _OPEN_DIRS.discard(self.directory)

    def _path(self, name: str) -> str:
        return f"{self.directory}/{name}"

    def _require_open(self, action: str) -> None:
        if self._state != "open":
            raise OutputError(
                f"export {self.ctx.export.name!r}: cannot {action}, the snapshot is {self._state}"
            )

    def _io(self, action: str) -> _IoGuard:
        return _IoGuard(self, action)

    def _new_part(self, name: str) -> tuple[PartWriter, str]:
        """An open part bound for ``name`` (relative to the snapshot) and its temp path."""
        temp = self._storage.temp_for(self._path(uncommitted_name(name)))
        with self._io("open a part"):
            if "/" in name:
                self._storage.ensure_dir(self._path(name.rpartition("/")[0]))
            stream = HashingStream(self._storage.fs.open_output_stream(temp))
            if self._converter is not None:
                assert self._schema is not None
                part: PartWriter = ParquetPartWriter(
                    stream,
                    self._schema,
                    self.ctx.output.effective_compression,
                    self.ctx.output.row_group_size,
                )
            else:
                part = JsonlPartWriter(stream, self.ctx.output.effective_compression)
        return part, temp

    def _open_part(self) -> None:
        self._part, self._part_temp = self._new_part(self._part_name(len(self._parts)))

    def _write_keyed(
        self,
        records: list[dict[str, Any]] | None,
        batch: pa.RecordBatch | None,
        count: int,
        limit: int,
    ) -> None:
        """A page split into its partitions. All open parts close together (so the checkpoint's
        cursor covers every row written): before a page that would take them past
        ``rows_per_file`` rows in all, and once they reach it."""
        assert self._partitioner is not None
        if self._keyed and self._keyed_rows + count > limit:
            self._close_keyed()
        for folder, rows, piece in self._partitioner.split(records, batch):
            if folder not in self._keyed:
                index = len(self._parts) + len(self._keyed)
                name = f"{folder}/{self._part_name(index)}"
                self._keyed[folder] = (*self._new_part(name), name)
            with self._io("write a part"):
                self._keyed[folder][0].write(rows, piece)
        self._keyed_rows += count
        self._records += count

    def _close_keyed(self, *, final: bool = False) -> None:
        for part, temp, name in self._keyed.values():
            with self._io("finish a part"):
                size, sha = part.close()
                folder = self._path(name.rpartition("/")[0])
                self._storage.publish(temp, self._path(uncommitted_name(name)), folder)
            self._parts.append(PartInfo(name, part.rows, size, sha))
        self._keyed = {}
        self._keyed_rows = 0
        self._durable_records = sum(p.rows for p in self._parts)
        if not final:
            self._write_checkpoint()
            self.mark_in_progress()

    def _close_part(self, *, final: bool = False) -> None:
        """Make the open part durable; unless ``final`` (the commit follows), record it in the
        checkpoint and the marker."""
        part, temp = self._part, self._part_temp
        assert part is not None and temp is not None
        name = self._part_name(len(self._parts))
        with self._io("finish a part"):
            size, sha = part.close()
            self._storage.publish(temp, self._path(uncommitted_name(name)), self.directory)
        self._part = self._part_temp = None
        self._parts.append(PartInfo(name, part.rows, size, sha))
        self._durable_records = sum(p.rows for p in self._parts)
        if not final:
            self._write_checkpoint()
            self.mark_in_progress()  # the marker's durable_parts/records follow the checkpoint

    def mark_in_progress(self) -> None:
        """(Re)write ``_INCOMPLETE`` as "in progress" with the current durable counts."""
        with self._io("write the _INCOMPLETE marker"):
            self._write_marker("in progress", self._progress_reason)

    def _write_checkpoint(self) -> None:
        data = {
            "checkpoint_version": CHECKPOINT_VERSION,
            "export": self.ctx.export.name,
            "endpoint": self.ctx.endpoint.name,
            "export_digest": self._digest,
            "identity": export_identity(self.ctx),
            "started_at": _iso(self.started_at),
            "resumed_at": self._resumed_at,
            "updated_at": _iso(self._clock()),
            "parts": [p.to_dict() for p in self._parts],
            "records": self._durable_records,
            "cursor": self._cursor,
        }
        with self._io("write the checkpoint"):
            self._storage.write_atomic(
                self.directory, self.checkpoint_name, orjson.dumps(data, option=_JSON_OPTIONS)
            )

    def _write_marker(self, status: str, reason: str) -> None:
        data = marker_document(
            self.ctx,
            status,
            reason,
            started_at=self.started_at,
            updated_at=self._clock(),
            parts=len(self._parts),
            records=self._durable_records,
        )
        self._storage.write_atomic(self.directory, INCOMPLETE_NAME, data)


def marker_document(
    ctx: SnapshotContext,
    status: str,
    reason: str,
    *,
    started_at: datetime,
    updated_at: datetime,
    parts: int = 0,
    records: int = 0,
) -> bytes:
    """The content of ``_INCOMPLETE``."""
    data = {
        "status": status,
        "reason": redact_secrets(reason),  # last line: no secret in a file on disk
        "export": ctx.export.name,
        "run_id": ctx.run_id,
        "started_at": _iso(started_at),
        "updated_at": _iso(updated_at),
        "durable_parts": parts,
        "durable_records": records,
        "note": "This snapshot is incomplete and must not be used. Run the job again with "
        "--resume to continue it from its last checkpoint.",
    }
    return orjson.dumps(data, option=_JSON_OPTIONS) + b"\n"


def after_commit(
    storage: Storage, directory: str, output: OutputSpec, manifest: dict[str, Any]
) -> None:
    """``_latest.json``, then ``output.keep``'s pruning (a pruning failure only warns: the
    snapshot is committed and the next run prunes again)."""
    export_dir = directory.rpartition("/")[0]
    try:
        update_latest(storage, export_dir, manifest)
    except OSError as exc:
        raise OutputError(
            f"export {manifest.get('export')!r}: the snapshot {storage.loc.display(directory)} "
            f"is committed, but {LATEST_NAME} could not be written: {exc}"
        ) from exc
    if output.keep is not None:
        try:
            from exporter.sinks.retention import prune  # (output.keep only)

            prune(storage, export_dir, output.keep, str(manifest["snapshot"]))
        except OSError as exc:
            log.warning("output.keep: could not prune %s: %s", storage.loc.display(export_dir), exc)


class _IoGuard:
    """Turns filesystem errors into OutputError naming the export and the step."""

    def __init__(self, writer: SnapshotWriter, action: str) -> None:
        self.writer = writer
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> Literal[False]:
        if exc is not None and isinstance(exc, OSError):
            raise OutputError(
                f"export {self.writer.ctx.export.name!r}: could not {self.action} in "
                f"{self.writer.location}: {exc}"
            ) from exc
        return False


def open_snapshot(
    ctx: SnapshotContext,
    resume: bool | str = False,
    now: datetime | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> SnapshotWriter:
    """Start a fresh snapshot, or with ``resume`` continue the newest incomplete one.

    ``resume=True`` refuses (``NotResumable``) an incomplete snapshot this spec cannot continue;
    ``resume="auto"`` starts a fresh snapshot instead and logs why (for cron: a spec change must
    not make every later run fail). Commits a crash interrupted are finished first.
    """
    location = location_of(ctx.output)
    storage = Storage(location)
    moment = (now or _utcnow()).astimezone(UTC)
    tick = clock or _utcnow
    export_dir = location.join(ctx.export.name)
    try:
        if resume or ctx.incremental is None:
            # An incremental window comes from the planner, which finished the export's
            # interrupted commits under the run lock held since (plan_run): no second listing.
            with _OPEN_LOCK:
                busy = set(_OPEN_DIRS)  # before the listing: a commit seen there is not ours
            snapshots = scan_export(storage, export_dir)
            finish_interrupted_commits(storage, export_dir, snapshots, busy)
        if resume:
            if ctx.incremental is not None:
                found = _find_window_resumable(storage, snapshots, export_digest(ctx))
            else:
                found = _find_resumable(snapshots)
            if found is not None:
                try:
                    return _resume(ctx, storage, found, moment, tick)
                except NotResumable as exc:
                    if resume != "auto":
                        raise
                    log.warning(
                        "export %r: --resume=auto: not resuming %s: %s; starting a fresh snapshot",
                        ctx.export.name,
                        exc.shown,
                        exc.reason,
                    )
        return _fresh(ctx, storage, export_dir, moment, tick)
    except OSError as exc:
        raise OutputError(
            f"export {ctx.export.name!r}: cannot prepare a snapshot in "
            f"{location.display(export_dir)}: {exc}"
        ) from exc


def finish_interrupted(output: OutputSpec, export_name: str) -> list[SnapshotDir]:
    """Finish the commits of ``export_name`` a crash left half done (``_commit.json``, no
    manifest), before anything reads which snapshots are complete: the incremental planner must
    see such a window as committed, or it would export the window again beside it. Returns the
    export's snapshots as they are then (those finished here complete)."""
    location = location_of(output)
    storage = Storage(location)
    export_dir = location.join(export_name)
    try:
        with _OPEN_LOCK:
            busy = set(_OPEN_DIRS)
        snapshots = scan_export(storage, export_dir)
        finish_interrupted_commits(storage, export_dir, snapshots, busy)
        return snapshots
    except OSError as exc:
        raise OutputError(
            f"export {export_name!r}: cannot read its snapshots in "
            f"{location.display(export_dir)}: {exc}"
        ) from exc


def claim_snapshot_dir(
    storage: Storage, export_dir: str, moment: datetime, marker: bytes | None = None
) -> str:
    """A new snapshot directory named after ``moment`` (``-001``... within one second), claimed
    with its first ``_INCOMPLETE`` marker (``marker``, by default a "starting" one; exclusive
    locally and on S3, see storage.py)."""
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    claim = marker or orjson.dumps({"status": "starting", "started_at": _iso(moment)})
    # After the newest snapshot of that second (retention may have freed an older name, and a
    # reused one would sort before snapshots written after it).
    taken = [snapshot_sort_key(info.base_name) for info in storage.listdir(export_dir)]
    sequence = 1 + max((key[1] for key in taken if key and key[0] == stamp), default=-1)
    while True:
        suffix = f"-{sequence:03d}" if sequence else ""
        directory = f"{export_dir}/{SNAPSHOT_PREFIX}{stamp}{suffix}"
        if storage.claim_dir(directory, INCOMPLETE_NAME, claim):
            return directory
        sequence += 1


def _fresh(
    ctx: SnapshotContext,
    storage: Storage,
    export_dir: str,
    moment: datetime,
    clock: Callable[[], datetime],
) -> SnapshotWriter:
    # The claim writes the "in progress" marker itself (one durable write, not two).
    marker = marker_document(
        ctx, "in progress", RUNNING_REASON, started_at=moment, updated_at=clock()
    )
    directory = claim_snapshot_dir(storage, export_dir, moment, marker)
    return SnapshotWriter(ctx, storage, directory, moment, clock=clock)


class ApiSwitchRefused(UsageError):
    """``output.schema: native`` with ``source.api: auto`` would write a second API's record
    shape into an export whose snapshots hold the other's (issue 14); exit 2."""


def snapshot_dirs(storage: Storage, export_dir: str) -> list[str]:
    """The snapshot directories of an export folder, newest first."""
    return [s.path for s in reversed(scan_export(storage, export_dir))]


def refuse_api_switch(output: OutputSpec, export_names: list[str], api: str) -> None:
    """Raise ``ApiSwitchRefused`` naming every export whose newest complete snapshot came from
    another API than ``api`` (native records of two APIs in one folder break its readers)."""
    try:
        location = location_of(output)
        storage = Storage(location)
        found = []
        for name in export_names:
            manifest = newest_manifest(storage, location.join(name))
            before = manifest.get("api_version") if manifest else None
            if isinstance(before, str) and before != api:
                found.append(f"{name} ({before}, {location.display(location.join(name))})")
    except OSError as exc:
        raise OutputError(f"cannot read the existing snapshots in {output.path}: {exc}") from exc
    if found:
        raise ApiSwitchRefused(
            f"source.api auto chose {api}, but the newest snapshots of {', '.join(found)} "
            f"came from the other API, and output.schema is native: the files would change "
            f"their field names under their readers. Use output.schema: canonical (the same "
            f"schema on both APIs), pin source.api, or pass --allow-api-switch to write "
            f"{api}'s records anyway"
        )


def _find_resumable(snapshots: list[SnapshotDir]) -> SnapshotDir | None:
    """The newest snapshot with a checkpoint and no manifest, newer than any complete one."""
    for snapshot in reversed(snapshots):
        if snapshot.complete:
            return None  # a complete snapshot is newer than any incomplete one left below it
        if snapshot.has(CHECKPOINT_NAME):
            return snapshot
    return None


def _find_window_resumable(
    storage: Storage, snapshots: list[SnapshotDir], digest: str
) -> SnapshotDir | None:
    """The newest checkpointed snapshot without a manifest of the same window (its filter holds
    the window, so the digest names it): an incremental export's windows are snapshots of one
    folder, committed in any order, so a newer complete one does not hide it."""
    for snapshot in reversed(snapshots):
        if snapshot.complete or not snapshot.has(CHECKPOINT_NAME):
            continue
        raw = storage.read(f"{snapshot.path}/{CHECKPOINT_NAME}")
        try:
            checkpoint = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            continue
        if isinstance(checkpoint, dict) and checkpoint.get("export_digest") == digest:
            return snapshot
    return None


def _resume(
    ctx: SnapshotContext,
    storage: Storage,
    snapshot: SnapshotDir,
    moment: datetime,
    clock: Callable[[], datetime],
) -> SnapshotWriter:
    directory = snapshot.path
    shown = storage.loc.display(directory)
    name = ctx.export.name
    raw = storage.read(f"{directory}/{CHECKPOINT_NAME}")
    try:
        checkpoint = orjson.loads(raw or b"")
        parts = [PartInfo.from_dict(p) for p in checkpoint["parts"]]
        records = int(checkpoint["records"])
        digest = str(checkpoint["export_digest"])
        started_at = datetime.fromisoformat(str(checkpoint["started_at"]).replace("Z", "+00:00"))
        resumed_at = [str(x) for x in checkpoint.get("resumed_at", [])]
        cursor = checkpoint["cursor"]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise NotResumable(
            name, shown, f"its checkpoint is unreadable ({type(exc).__name__})"
        ) from None
    expected = export_digest(ctx)
    if digest != expected:
        before = checkpoint.get("identity")
        before = before if isinstance(before, dict) else {}
        now = export_identity(ctx)
        changed = [
            f"{key} ({before[key]!r} -> {now[key]!r})" if key == "api_version" else key
            for key in now
            if key in before and before[key] != now[key]
        ]
        what = ", ".join(changed) or "endpoint/filter/sort/options/format"
        raise NotResumable(
            name,
            shown,
            f"it was written with a different {what}; mixing them would corrupt the snapshot",
        )
    if records != sum(p.rows for p in parts):
        raise NotResumable(name, shown, "its checkpoint is inconsistent")
    durable = {uncommitted_name(p.name) for p in parts}
    for relative in list(snapshot.files):
        base = relative.rpartition("/")[2]
        if base.endswith(".tmp") or (PART_RE.match(base) and relative not in durable):
            # written after the last checkpoint: re-fetched on resume
            storage.delete(f"{directory}/{relative}")
            del snapshot.files[relative]
    for part in parts:
        if snapshot.files.get(uncommitted_name(part.name)) != part.bytes:
            raise NotResumable(
                name,
                shown,
                f"part {uncommitted_name(part.name)} is missing or has a different size than "
                "its checkpoint says",
            )
    resumed_at.append(_iso(moment))
    writer = SnapshotWriter(
        ctx,
        storage,
        directory,
        started_at,
        parts=parts,
        records=records,
        cursor=cursor,
        resumed_at=resumed_at,
        clock=clock,
    )
    writer.mark_in_progress()
    return writer
