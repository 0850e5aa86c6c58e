"""Current-state tables (issue 20): committed snapshots merged by key into a Delta Lake table.

The snapshots are the change log and stay the source of truth; a table is derived from them and
can always be rebuilt (``rebuild``). Layout: ``<output.path>/_tables/<name>/`` (``_delta_log``
and delta-rs's data files). Each row carries two extra columns: ``_exported_at`` (the finish
time of the snapshot it came from) and ``_snapshot`` (``<export>/<snapshot directory>``).

Which snapshots a table already holds is recorded IN the table, atomically with the data: every
commit carries one Delta ``txn`` action per snapshot it took (app id ``operate-export:<export>/
<snapshot>``), so ``pending`` is "the complete snapshots whose app id the table has not seen".
A run killed after its snapshots committed but before (or during) the table commit leaves the
table at its previous version, and the next run takes those snapshots too: it converges.

Merge rule (mode ``merge``): within the incoming rows one row per key, the latest
``_exported_at`` (then the larger ``_snapshot``) wins; against the table a row replaces the
existing one only when its ``_exported_at`` is later. ``append`` adds every incoming row;
``overwrite`` replaces the table with the incoming rows (one per key).

One writer per table: locally the run lock of the table (``pipeline/lock.py``); on object stores
delta-rs commits the next ``_delta_log`` entry with a conditional put (If-None-Match), so of two
writers exactly one commits a version and the other gets ``CommitFailedError``: it reloads the
table, recomputes what is still pending and tries again (``COMMIT_ATTEMPTS``), else fails with an
error naming the table. A lost race never leaves a partial version: data files a loser wrote are
not referenced by any log entry (``vacuum`` removes them).

``deltalake`` (the ``table`` extra) is imported only here, and only when a table is written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from exporter.api import REGISTRY
from exporter.api.canonical import canonical_endpoint
from exporter.errors import OutputError
from exporter.sinks.arrow_schema import TIMESTAMP_TYPE
from exporter.sinks.fs import OutputLocation, location_of
from exporter.spec import OutputSpec

TABLES_DIR = "_tables"
EXPORTED_AT = "_exported_at"
SNAPSHOT = "_snapshot"
APP_PREFIX = "operate-export:"
COMMIT_ATTEMPTS = 4
# Commit metadata (Delta commitInfo), for people reading the table's history.
META_RUN_ID = "operate_export.run_id"
META_SNAPSHOTS = "operate_export.snapshots"

log = logging.getLogger(__name__)


def unique_key(endpoint: str, api: str, schema_mode: str) -> str:
    """The key column of an export's records as its snapshots hold them (canonical: v2's
    unique key whatever the API; native: the API's own, e.g. v1 decision instances ``id``)."""
    if schema_mode == "canonical":
        return canonical_endpoint(endpoint).unique_key
    return REGISTRY[api][endpoint].unique_key


@dataclass(frozen=True)
class SnapshotRef:
    """One complete snapshot a table may take, read from its manifest."""

    export: str
    snapshot: str  # the directory name, snapshot=...
    directory: str  # its path inside the output filesystem
    files: tuple[str, ...]
    finished_at: str  # RFC 3339, the rows' _exported_at
    key: str  # the key column
    run_id: str = ""

    @property
    def app_id(self) -> str:
        return f"{APP_PREFIX}{self.export}/{self.snapshot}"

    @property
    def label(self) -> str:
        return f"{self.export}/{self.snapshot}"


def snapshot_refs(
    location: OutputLocation, export: str, manifests: Iterable[dict[str, Any]]
) -> list[SnapshotRef]:
    """The refs of ``export``'s complete snapshots (manifests as ``complete_manifests`` reads
    them). A manifest that does not say what a table needs is an error naming it."""
    refs = []
    for manifest in manifests:
        snapshot = str(manifest.get("snapshot", ""))
        try:
            if manifest.get("format") != "parquet":
                raise ValueError(f"format {manifest.get('format')!r}, a table needs parquet")
            key = unique_key(
                str(manifest["endpoint"]),
                str(manifest.get("api_version", manifest.get("api"))),
                str(manifest.get("schema_mode", "canonical")),
            )
            refs.append(
                SnapshotRef(
                    export=export,
                    snapshot=snapshot,
                    directory=location.join(export, snapshot),
                    files=tuple(str(f["name"]) for f in manifest["files"]),
                    finished_at=str(manifest["finished_at"]),
                    key=key,
                    run_id=str(manifest.get("run_id", "")),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            shown = location.display(location.join(export, snapshot))
            raise OutputError(
                f"snapshot {shown} cannot go into a table: its manifest {exc}"
            ) from None
    return refs


@dataclass
class TableCommit:
    """What one table update did (``version`` None: the table does not exist yet)."""

    table: str
    location: str
    mode: str
    version: int | None = None
    committed: bool = False
    snapshots: list[str] = field(default_factory=list)
    rows_in: int = 0
    attempts: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "location": self.location,
            "mode": self.mode,
            "version": self.version,
            "committed": self.committed,
            "snapshots": len(self.snapshots),
            "rows_in": self.rows_in,
        }


def latest_per_key(rows: pa.Table, key: str) -> pa.Table:
    """One row per ``key``: the one with the latest ``_exported_at``, then the larger
    ``_snapshot`` (a deterministic winner when two snapshots finished in the same ms). Rows
    whose keys are already unique (one snapshot, or disjoint windows) come back as they are,
    without a copy; else only the kept rows are copied (sorted by key)."""
    keys = rows.column(key)
    if keys.null_count:
        raise OutputError(f"{keys.null_count} record(s) without a {key}: a table needs the key")
    if rows.num_rows == 0 or pc.count_distinct(keys).as_py() == rows.num_rows:
        return rows
    order = [(key, "ascending"), (EXPORTED_AT, "descending"), (SNAPSHOT, "descending")]
    indices = pc.sort_indices(rows.select([key, EXPORTED_AT, SNAPSHOT]), sort_keys=order)
    ordered = keys.take(indices)
    first = pc.not_equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))
    keep = pa.concat_arrays([pa.array([True]), first.combine_chunks()])
    return rows.take(indices.filter(keep))


def _storage(output: OutputSpec, location: OutputLocation) -> tuple[str, dict[str, str]]:
    """The tables' root as delta-rs names it, and its storage options.

    delta-rs reads AWS_* credentials from the environment as pyarrow does; only where the
    store is (``endpoint_override``/``scheme``/``region`` of ``output.storage_options`` or of
    the URI's query) is translated. Nothing turns on unsafe renames: commits use conditional
    puts."""
    if location.local:
        return os.path.join(location.root, TABLES_DIR), {}
    scheme = output.path.partition("://")[0]
    query = dict(parse_qsl(urlsplit(output.path).query))
    given = dict(getattr(output, "storage_options", None) or {})
    settings = {**query, **{k: str(v) for k, v in given.items()}}
    options: dict[str, str] = {}
    if scheme == "s3":
        endpoint = settings.get("endpoint_override")
        http = settings.get("scheme", "https")
        if endpoint:
            options["AWS_ENDPOINT_URL"] = endpoint if "://" in endpoint else f"{http}://{endpoint}"
            if options["AWS_ENDPOINT_URL"].startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        if settings.get("region"):
            options["AWS_REGION"] = settings["region"]
    return f"{scheme}://{location.root.rstrip('/')}/{TABLES_DIR}", options


class CurrentStateTable:
    """One table of an output location: what it holds, what is pending, one commit per call."""

    def __init__(self, output: OutputSpec, name: str, mode: str = "merge") -> None:
        self.output = output
        self.name = name
        self.mode = mode
        self.location = location_of(output)
        root, self.storage_options = _storage(output, self.location)
        self.uri = f"{root}/{name}" if "://" in root else os.path.join(root, name)
        self.shown = self.location.display(self.location.join(TABLES_DIR, name))

    # -- reading -------------------------------------------------------------------------
    def load(self) -> Any:
        """The table's current version (a ``deltalake.DeltaTable``), or None before its first
        commit."""
        deltalake = _deltalake()
        try:
            return deltalake.DeltaTable(self.uri, storage_options=self.storage_options or None)
        except deltalake.exceptions.TableNotFoundError:
            return None
        except (deltalake.exceptions.DeltaError, OSError) as exc:
            raise OutputError(
                f"table {self.name!r} ({self.shown}) cannot be read: {_first_line(exc)}; "
                f"operate-export rebuild-table rebuilds it from the snapshots once it is moved "
                f"away"
            ) from None

    def pending(self, table: Any, refs: Sequence[SnapshotRef]) -> list[SnapshotRef]:
        """The snapshots of ``refs`` the table has not taken yet."""
        if table is None:
            return list(refs)
        return [r for r in refs if table.transaction_version(r.app_id) is None]

    def read(self, refs: Sequence[SnapshotRef]) -> pa.Table:
        """The rows of ``refs`` with ``_exported_at`` and ``_snapshot``, one table."""
        fs = self.location.filesystem
        pieces = []
        for ref in refs:
            exported = _parse_ms(ref.finished_at)
            for name in ref.files:
                try:
                    part = pq.read_table(f"{ref.directory}/{name}", filesystem=fs)
                except (OSError, pa.ArrowException) as exc:
                    raise OutputError(
                        f"table {self.name!r}: cannot read {self.location.display(ref.directory)}"
                        f"/{name}: {exc}"
                    ) from exc
                part = part.append_column(
                    pa.field(EXPORTED_AT, TIMESTAMP_TYPE, nullable=False),
                    pa.array([exported] * part.num_rows, TIMESTAMP_TYPE),
                )
                part = part.append_column(
                    pa.field(SNAPSHOT, pa.string(), nullable=False),
                    pa.array([ref.label] * part.num_rows, pa.string()),
                )
                pieces.append(part)
        if not pieces:
            raise OutputError(f"table {self.name!r}: no snapshot files to read")
        try:
            return pa.concat_tables(pieces, promote_options="default")
        except pa.ArrowException as exc:
            raise OutputError(
                f"table {self.name!r}: the snapshots' columns do not fit together: {exc}"
            ) from exc

    # -- writing -------------------------------------------------------------------------
    def update(self, refs: Sequence[SnapshotRef], run_id: str = "") -> TableCommit:
        """Take every snapshot of ``refs`` the table does not hold yet, in one commit (none
        when nothing is pending). A lost commit race is retried with what is then pending."""
        return self._commit(refs, run_id, rebuild=False)

    def rebuild(self, refs: Sequence[SnapshotRef], run_id: str = "") -> TableCommit:
        """Replace the table's content with ``refs`` (all of an export's complete snapshots),
        in one commit: the same table the runs would have built, from the source of truth."""
        return self._commit(refs, run_id, rebuild=True)

    def _rebuilt_from(self, refs: Sequence[SnapshotRef]) -> list[SnapshotRef]:
        """What a rebuild takes: every snapshot, but for ``overwrite`` (which holds what the
        last run took) only those of the run that finished the newest snapshot."""
        if self.mode != "overwrite" or not refs:
            return list(refs)
        newest = max(refs, key=lambda r: (_parse_ms(r.finished_at), r.label))
        if not newest.run_id:
            return [newest]
        return [r for r in refs if r.run_id == newest.run_id]

    def _commit(self, refs: Sequence[SnapshotRef], run_id: str, rebuild: bool) -> TableCommit:
        deltalake = _deltalake()
        _check_keys(self.name, refs)
        result = TableCommit(self.name, self.shown, "rebuild" if rebuild else self.mode)
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            result.attempts = attempt
            table = self.load()
            todo = self._rebuilt_from(refs) if rebuild else self.pending(table, refs)
            result.version = None if table is None else table.version()
            if not todo:
                result.snapshots = []
                return result
            rows = self.read(todo)
            result.rows_in = rows.num_rows
            if self.mode != "append":  # an append table is a change log: every row stays
                rows = latest_per_key(rows, todo[0].key)
            result.snapshots = [r.label for r in todo]
            if rows.num_rows == 0 and table is not None and not rebuild:
                return result  # nothing to change; the empty snapshots stay pending, harmlessly
            try:
                result.metrics = self._write(table, todo, rows, run_id, rebuild)
            except (deltalake.exceptions.CommitFailedError, _TableAppeared) as exc:
                if attempt == COMMIT_ATTEMPTS:
                    raise OutputError(
                        f"table {self.name!r} ({self.shown}): another writer committed first "
                        f"{attempt} times in a row ({exc}); the table is unchanged at its last "
                        f"version and the snapshots stay pending for the next run"
                    ) from None
                log.warning(
                    "table %r: another writer committed first (%s); reloading and retrying",
                    self.name,
                    exc,
                )
                continue
            except (deltalake.exceptions.DeltaError, OSError) as exc:
                raise OutputError(
                    f"table {self.name!r} ({self.shown}): {_first_line(exc)}"
                ) from None
            result.committed = True
            loaded = self.load()
            result.version = None if loaded is None else loaded.version()
            return result
        raise AssertionError("unreachable")

    def _write(
        self,
        table: Any,
        refs: Sequence[SnapshotRef],
        rows: pa.Table,
        run_id: str,
        rebuild: bool,
    ) -> dict[str, Any]:
        deltalake = _deltalake()
        key = refs[0].key
        properties = deltalake.CommitProperties(
            custom_metadata={
                META_RUN_ID: run_id,
                META_SNAPSHOTS: orjson.dumps([r.label for r in refs]).decode(),
            },
            app_transactions=[deltalake.Transaction(r.app_id, 1) for r in refs],
            # A conflict is resolved here (reload, recompute pending), not blindly re-applied.
            max_commit_retries=0,
        )
        options = self.storage_options or None
        mode = "overwrite" if rebuild else self.mode
        if table is None or mode == "overwrite":
            try:
                deltalake.write_deltalake(
                    self.uri,
                    rows,
                    mode="error" if table is None else "overwrite",
                    schema_mode=None if table is None else "overwrite",
                    storage_options=options,
                    commit_properties=properties,
                    name=self.name,
                )
            except deltalake.exceptions.DeltaError as exc:
                if table is None and "exists" in str(exc).lower():
                    raise _TableAppeared(str(exc)) from None
                raise
            return {"num_added_rows": rows.num_rows}
        if mode == "append":
            deltalake.write_deltalake(
                table,
                rows,
                mode="append",
                schema_mode="merge",
                storage_options=options,
                commit_properties=properties,
            )
            return {"num_added_rows": rows.num_rows}
        metrics: dict[str, Any] = (
            table.merge(
                rows,
                predicate=f"t.`{key}` = s.`{key}`",
                source_alias="s",
                target_alias="t",
                merge_schema=True,
                commit_properties=properties,
            )
            .when_matched_update_all(predicate=f"s.`{EXPORTED_AT}` > t.`{EXPORTED_AT}`")
            .when_not_matched_insert_all()
            .execute()
        )
        return metrics


class _TableAppeared(Exception):
    """Another writer created the table between our look and our first commit."""


def _check_keys(name: str, refs: Sequence[SnapshotRef]) -> None:
    keys = {r.key for r in refs}
    if len(keys) > 1:
        raise OutputError(
            f"table {name!r}: its snapshots have different key columns ({', '.join(sorted(keys))})"
            "; exports sharing a table must write the same records (output.schema canonical "
            "keeps v1 and v2 snapshots the same)"
        )


def _first_line(exc: BaseException) -> str:
    """delta-rs errors may carry a Rust backtrace after their first line."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _parse_ms(text: str) -> int:
    from datetime import datetime

    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round(moment.timestamp() * 1000)


def _deltalake() -> Any:
    try:
        import deltalake
        import deltalake.exceptions
    except ImportError:
        raise OutputError(
            "output.table needs the deltalake package: pip install 'operate-export[table]'"
        ) from None
    return deltalake
