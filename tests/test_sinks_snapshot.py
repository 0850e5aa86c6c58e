"""Snapshot sink end to end on local temp dirs: layout, parts, row groups, compression,
manifest, abort, resume, atomicity, read-back of Parquet against JSONL."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from sinks_records import BIG_KEY, cursor_of, make_pages

from exporter.api.types import Kind
from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.errors import OutputError
from exporter.sinks import (
    CHECKPOINT_NAME,
    EXTRA_COLUMN,
    INCOMPLETE_NAME,
    MANIFEST_NAME,
    SnapshotContext,
    SnapshotWriter,
    open_snapshot,
    schema_for,
)
from exporter.spec import ExportSpec, OutputSpec, SortSpec

NOW = datetime(2026, 11, 27, 22, 15, 0, tzinfo=UTC)


def context(
    root: Path | str,
    endpoint: str = "flownode-instances",
    fmt: str = "parquet",
    *,
    export_flags: dict[str, Any] | None = None,
    **output: Any,
) -> SnapshotContext:
    export = ExportSpec(
        endpoint=endpoint,
        name=f"{endpoint}-export",
        filter={"state": "COMPLETED"},
        sort=(SortSpec("startDate", "ASC"),),
        **(export_flags or {}),
    )
    return SnapshotContext(
        export=export,
        endpoint=V1_ENDPOINTS[endpoint],
        output=OutputSpec(format=fmt, path=str(root), **{"schema": "native", **output}),
        job_digest="sha256:job",
        tool_version="9.9.9",
    )


def write_all(writer: SnapshotWriter, pages: list[list[dict[str, Any]]], ctx: SnapshotContext):
    for page in pages:
        writer.write_page(page, cursor_of(page, ctx.endpoint))
    return writer.commit({"pages": len(pages), "retries": 0, "requests": len(pages)})


def files_in(directory: str | Path) -> set[str]:
    """File names; the random part of temp names left out (``.x.1a2b3c4d.tmp`` -> ``.x.tmp``)."""
    return {re.sub(r"\.[0-9a-f]{8}\.tmp$", ".tmp", name) for name in os.listdir(directory)}


def parquet_rows_as_records(path: Path) -> list[dict[str, Any]]:
    return parquet_rows_as_records_from(pq.read_table(path).to_pylist())


def parquet_rows_as_records_from(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Undo the documented conversions: drop nulls, overlay _extra."""
    out = []
    for row in rows:
        extra = row.pop(EXTRA_COLUMN)
        record = {k: v for k, v in row.items() if v is not None}
        if extra is not None:
            record.update(orjson.loads(extra))
        out.append(record)
    return out


def jsonl_records_normalised(records: list[dict[str, Any]], endpoint: str) -> list[dict[str, Any]]:
    """JSONL records with the documented conversions applied: dates -> UTC datetimes."""
    dates = set(V1_ENDPOINTS[endpoint].fields_of_kind(Kind.DATE))
    out = []
    for record in records:
        fixed = {}
        for k, v in record.items():
            if v is None:
                continue
            if k in dates:
                v = datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
            fixed[k] = v
        out.append(fixed)
    return out


def read_jsonl(directory: Path, names: list[str]) -> list[dict[str, Any]]:
    records = []
    for name in names:
        data = (directory / name).read_bytes()
        if name.endswith(".gz"):
            data = gzip.decompress(data)
        records.extend(orjson.loads(line) for line in data.splitlines())
    return records


@pytest.mark.parametrize(
    ("endpoint", "flags"),
    [
        pytest.param("flownode-instances", {}, id="flownode-instances"),
        pytest.param("process-definitions", {"include_xml": True}, id="process-definitions-xml"),
        pytest.param(
            "decision-instances", {"include_evaluation_details": True}, id="decision-instances"
        ),
        pytest.param("variables", {}, id="variables"),
    ],
)
def test_parquet_reads_back_with_declared_schema_and_equals_jsonl(
    tmp_path: Path, endpoint: str, flags: dict[str, Any]
) -> None:
    probe = context(tmp_path, endpoint, export_flags=flags)
    pages = make_pages(probe.endpoint, probe.export, 530, 100)
    pages[2][5]["newerOperateField"] = {"nested": [1, BIG_KEY]}  # unknown -> _extra
    manifests = {}
    for fmt in ("parquet", "jsonl"):
        ctx = context(tmp_path / fmt, endpoint, fmt, export_flags=flags, rows_per_file=200)
        manifests[fmt] = write_all(open_snapshot(ctx, now=NOW), pages, ctx)

    parquet_dir = Path(manifests["parquet"].location)
    declared = schema_for(probe.endpoint, probe.export)
    from_parquet = []
    for entry in manifests["parquet"].files:
        schema = pq.read_schema(parquet_dir / entry.name)
        assert schema.equals(declared, check_metadata=False), entry.name
        from_parquet.extend(parquet_rows_as_records(parquet_dir / entry.name))

    jsonl_dir = Path(manifests["jsonl"].location)
    from_jsonl = read_jsonl(jsonl_dir, [f.name for f in manifests["jsonl"].files])
    originals = [r for page in pages for r in page]
    assert from_jsonl == originals  # lossless, key order included
    assert [list(r) for r in from_jsonl] == [list(r) for r in originals]
    assert from_parquet == jsonl_records_normalised(from_jsonl, endpoint)
    assert manifests["parquet"].records == manifests["jsonl"].records == 530


def test_layout_and_manifest(tmp_path: Path) -> None:
    ctx = context(tmp_path, rows_per_file=250, row_group_size=100)
    pages = make_pages(ctx.endpoint, ctx.export, 620, 50)
    manifest = write_all(open_snapshot(ctx, now=NOW), pages, ctx)

    snapshot = tmp_path / "flownode-instances-export" / "snapshot=20261127T221500Z"
    assert Path(manifest.location) == snapshot
    names = [f"part-{i:05d}.parquet" for i in range(3)]
    assert files_in(snapshot) == {MANIFEST_NAME, *names}

    on_disk = orjson.loads((snapshot / MANIFEST_NAME).read_bytes())
    assert on_disk == manifest.to_dict()
    assert list(on_disk) == sorted(on_disk)  # deterministic key order
    assert (snapshot / MANIFEST_NAME).read_text().startswith("{\n  ")  # pretty-printed
    assert on_disk["tool_version"] == "9.9.9"
    assert on_disk["spec_digest"] == "sha256:job"
    assert on_disk["export_digest"].startswith("sha256:")
    assert on_disk["export"] == "flownode-instances-export"
    assert on_disk["endpoint"] == "flownode-instances"
    assert on_disk["api_version"] == "v1"
    assert on_disk["filter"] == {"state": "COMPLETED"}
    assert on_disk["sort"] == [{"field": "startDate", "order": "ASC"}]
    assert (on_disk["format"], on_disk["compression"]) == ("parquet", "zstd")
    assert on_disk["started_at"] == "2026-11-27T22:15:00.000Z"
    assert datetime.fromisoformat(on_disk["finished_at"].replace("Z", "+00:00")).tzinfo
    assert on_disk["records"] == 620
    assert on_disk["extra"] == {"pages": 13, "retries": 0, "requests": 13}
    assert [f["name"] for f in on_disk["files"]] == names
    assert [f["rows"] for f in on_disk["files"]] == [250, 250, 120]
    for entry in on_disk["files"]:
        data = (snapshot / entry["name"]).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert on_disk["bytes"] == sum(f["bytes"] for f in on_disk["files"]) == manifest.bytes
    assert [c["name"] for c in on_disk["schema"]] == [*ctx.endpoint.field_names, EXTRA_COLUMN]
    assert {"name": "startDate", "type": "timestamp[ms, tz=UTC]", "nullable": True} in on_disk[
        "schema"
    ]


@pytest.mark.parametrize(
    ("rows_per_file", "row_group_size", "page", "total", "parts", "groups"),
    [
        pytest.param(250, 100, 50, 620, [250, 250, 120], [100, 100, 50], id="exact-fit"),
        pytest.param(250, 100, 60, 620, [240, 240, 140], [100, 100, 40], id="page-boundaries"),
        pytest.param(10, 4, 25, 60, [25, 25, 10], [4, 4, 4, 4, 4, 4, 1], id="page-over-limit"),
        pytest.param(10**6, 64, 100, 300, [300], [64, 64, 64, 64, 44], id="one-part"),
    ],
)
def test_parts_and_row_groups_are_bounded(
    tmp_path: Path,
    rows_per_file: int,
    row_group_size: int,
    page: int,
    total: int,
    parts: list[int],
    groups: list[int],
) -> None:
    ctx = context(tmp_path, rows_per_file=rows_per_file, row_group_size=row_group_size)
    manifest = write_all(
        open_snapshot(ctx, now=NOW), make_pages(ctx.endpoint, ctx.export, total, page), ctx
    )
    assert [f.rows for f in manifest.files] == parts
    first = pq.ParquetFile(Path(manifest.location) / manifest.files[0].name)
    sizes = [first.metadata.row_group(i).num_rows for i in range(first.metadata.num_row_groups)]
    assert sizes == groups
    for entry in manifest.files:
        meta = pq.ParquetFile(Path(manifest.location) / entry.name).metadata
        assert meta.num_rows == entry.rows
        assert all(meta.row_group(i).num_rows <= row_group_size for i in range(meta.num_row_groups))


@pytest.mark.parametrize(
    ("compression", "codec"),
    [
        pytest.param(None, "ZSTD", id="default-zstd"),
        pytest.param("snappy", "SNAPPY", id="snappy"),
        pytest.param("gzip", "GZIP", id="gzip"),
        pytest.param("none", "UNCOMPRESSED", id="none"),
    ],
)
def test_parquet_compression_is_honoured(
    tmp_path: Path, compression: str | None, codec: str
) -> None:
    ctx = context(tmp_path, compression=compression)
    manifest = write_all(
        open_snapshot(ctx, now=NOW), make_pages(ctx.endpoint, ctx.export, 50, 50), ctx
    )
    meta = pq.ParquetFile(Path(manifest.location) / manifest.files[0].name).metadata
    group = meta.row_group(0)
    assert {group.column(i).compression for i in range(group.num_columns)} == {codec}
    assert manifest.compression == ctx.output.effective_compression


def test_only_string_columns_are_dictionary_encoded(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    manifest = write_all(
        open_snapshot(ctx, now=NOW), make_pages(ctx.endpoint, ctx.export, 50, 50), ctx
    )
    meta = pq.ParquetFile(Path(manifest.location) / manifest.files[0].name).metadata
    group = meta.row_group(0)
    encoded = {
        group.column(i).path_in_schema: group.column(i).has_dictionary_page
        for i in range(group.num_columns)
    }
    assert encoded["key"] is False  # near-unique int64 keys
    assert encoded["startDate"] is False  # near-unique timestamps
    assert encoded["_extra"] is False
    assert encoded["state"] is True  # repetitive enum strings
    assert encoded["flowNodeId"] is True


def test_gzip_jsonl_is_one_gzip_stream_with_exact_integers(tmp_path: Path) -> None:
    ctx = context(tmp_path, "process-instances", "jsonl", compression="gzip", rows_per_file=100)
    pages = make_pages(ctx.endpoint, ctx.export, 230, 50)
    manifest = write_all(open_snapshot(ctx, now=NOW), pages, ctx)
    assert [f.name for f in manifest.files] == [f"part-{i:05d}.jsonl.gz" for i in range(3)]
    directory = Path(manifest.location)
    text = gzip.decompress((directory / "part-00000.jsonl.gz").read_bytes()).decode("utf-8")
    lines = text.splitlines()
    assert len(lines) == 100 and text.endswith("\n")
    assert f'"key":{BIG_KEY}' in lines[0]  # an integer, not a string or float
    assert read_jsonl(directory, [f.name for f in manifest.files]) == [r for p in pages for r in p]


def test_empty_export_still_yields_one_readable_part(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    writer = open_snapshot(ctx, now=NOW)
    writer.write_page([], None)
    manifest = writer.commit({})
    assert manifest.records == 0 and [f.rows for f in manifest.files] == [0]
    table = pq.read_table(Path(manifest.location) / "part-00000.parquet")
    assert table.num_rows == 0
    assert table.schema.equals(schema_for(ctx.endpoint, ctx.export), check_metadata=False)


def test_only_temp_names_are_visible_while_a_part_is_open(tmp_path: Path) -> None:
    ctx = context(tmp_path, rows_per_file=100, row_group_size=10)
    pages = make_pages(ctx.endpoint, ctx.export, 150, 50)
    writer = open_snapshot(ctx, now=NOW)
    directory = Path(writer.location)
    assert files_in(directory) == {INCOMPLETE_NAME}
    writer.write_page(pages[0], cursor_of(pages[0], ctx.endpoint))
    assert files_in(directory) == {"._part-00000.parquet.tmp", INCOMPLETE_NAME}
    writer.write_page(pages[1], cursor_of(pages[1], ctx.endpoint))  # part 0 full -> durable
    # durable but not committed: a "_" name, which readers that discover files skip
    assert files_in(directory) == {CHECKPOINT_NAME, INCOMPLETE_NAME, "_part-00000.parquet"}
    writer.write_page(pages[2], cursor_of(pages[2], ctx.endpoint))
    assert files_in(directory) == {
        "._part-00001.parquet.tmp",
        CHECKPOINT_NAME,
        INCOMPLETE_NAME,
        "_part-00000.parquet",
    }
    assert pq.read_metadata(directory / "_part-00000.parquet").num_rows == 100
    writer.commit({})
    assert files_in(directory) == {MANIFEST_NAME, "part-00000.parquet", "part-00001.parquet"}


def test_abort_leaves_marker_and_checkpoint_but_no_manifest(tmp_path: Path) -> None:
    ctx = context(tmp_path, rows_per_file=100)
    pages = make_pages(ctx.endpoint, ctx.export, 150, 50)
    writer = open_snapshot(ctx, now=NOW)
    for page in pages:
        writer.write_page(page, cursor_of(page, ctx.endpoint))
    writer.abort("HTTP 500 from /v1/flownode-instances/search after 6 attempts")
    directory = Path(writer.location)
    assert files_in(directory) == {CHECKPOINT_NAME, INCOMPLETE_NAME, "_part-00000.parquet"}
    marker = orjson.loads((directory / INCOMPLETE_NAME).read_bytes())
    assert marker["status"] == "failed"
    assert marker["reason"] == "HTTP 500 from /v1/flownode-instances/search after 6 attempts"
    assert marker["durable_records"] == 100
    assert "--resume" in marker["note"]
    with pytest.raises(OutputError, match="aborted"):
        writer.commit({})


def test_commit_never_passes_through_an_unmarked_state(tmp_path: Path) -> None:
    """A crash at any instant of commit leaves a manifest or the _INCOMPLETE marker."""
    ctx = context(tmp_path, rows_per_file=100)
    pages = make_pages(ctx.endpoint, ctx.export, 150, 50)
    writer = open_snapshot(ctx, now=NOW)
    for page in pages:
        writer.write_page(page, cursor_of(page, ctx.endpoint))
    directory = Path(writer.location)
    states: list[set[str]] = []
    storage = writer._storage
    original_publish, original_delete = storage.publish, storage.delete
    original_move = storage.move

    def publish(*args: Any, **kwargs: Any) -> None:
        original_publish(*args, **kwargs)
        states.append(files_in(directory))

    def move(*args: Any) -> None:  # the parts' renames at commit
        original_move(*args)
        states.append(files_in(directory))

    def delete(path: str) -> None:
        original_delete(path)
        states.append(files_in(directory))

    storage.publish, storage.delete = publish, delete  # type: ignore[method-assign]
    storage.move = move  # type: ignore[method-assign]
    writer.commit({})
    assert len(states) >= 5  # the last part, the manifest, the checkpoint and the marker
    for state in states:
        assert MANIFEST_NAME in state or INCOMPLETE_NAME in state, state
        # a part under its final name before the manifest: _commit.json says what to finish
        if any(name.startswith("part-") for name in state) and MANIFEST_NAME not in state:
            assert "_commit.json" in state, state
    assert states[-1] == {MANIFEST_NAME, "part-00000.parquet", "part-00001.parquet"}


def simulate_crash(writer: SnapshotWriter) -> None:
    """What a SIGKILL leaves: the open part's temp file stays, nothing else happens."""
    if writer._part is not None:
        writer._part.discard()  # only closes the handle (the test must not leak it)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_resume_continues_after_last_durable_part_and_equals_uninterrupted_run(
    tmp_path: Path, fmt: str
) -> None:
    ctx = context(tmp_path / "resumed", fmt=fmt, rows_per_file=120, row_group_size=50)
    pages = make_pages(ctx.endpoint, ctx.export, 700, 40)
    cursors = [cursor_of(p, ctx.endpoint) for p in pages]

    first = open_snapshot(ctx, now=NOW)
    for page, cursor in zip(pages[:8], cursors[:8], strict=True):
        first.write_page(page, cursor)
    # 8 pages of 40: parts of 120 close before page 4 and page 7 -> 2 durable parts (240 rows);
    # pages 7 and 8 sit in the open temp part. Also fake a part renamed just before a crash
    # that never reached the checkpoint.
    assert [p.rows for p in first.parts] == [120, 120]
    simulate_crash(first)
    directory = Path(first.location)
    stray = directory / ("_" + first.parts[-1].name.replace("00001", "00002"))
    stray.write_bytes(b"renamed, but the checkpoint was never written")

    resumed = open_snapshot(ctx, resume=True, now=datetime(2026, 11, 27, 23, 0, tzinfo=UTC))
    assert resumed.location == first.location
    assert resumed.records_written == 240
    assert resumed.resume_cursor == cursors[5]
    assert type(resumed.resume_cursor[1]) is int and resumed.resume_cursor[1] > 2**53
    ext = ".parquet" if fmt == "parquet" else ".jsonl"
    assert files_in(directory) == {
        CHECKPOINT_NAME,
        INCOMPLETE_NAME,
        f"_part-00000{ext}",
        f"_part-00001{ext}",
    }
    # The runner continues after the cursor: the page following the one it names.
    start = cursors.index(resumed.resume_cursor) + 1
    for page, cursor in zip(pages[start:], cursors[start:], strict=True):
        resumed.write_page(page, cursor)
    manifest = resumed.commit({})

    baseline_ctx = context(tmp_path / "baseline", fmt=fmt, rows_per_file=120, row_group_size=50)
    baseline = write_all(open_snapshot(baseline_ctx, now=NOW), pages, baseline_ctx)
    assert [f.name for f in manifest.files] == [f.name for f in baseline.files]
    assert [(f.rows, f.sha256) for f in manifest.files] == [
        (f.rows, f.sha256) for f in baseline.files
    ]
    assert manifest.records == 700
    assert manifest.started_at == "2026-11-27T22:15:00.000Z"
    assert manifest.resumed_at == ["2026-11-27T23:00:00.000Z"]
    assert CHECKPOINT_NAME not in files_in(directory)


class Killed(BaseException):
    """Stands for a SIGKILL at one instant of the commit (nothing after it runs)."""


def test_kill_between_the_last_part_and_the_commit_resumes_from_the_last_checkpoint(
    tmp_path: Path,
) -> None:
    """The commit closes the last part without a checkpoint (``_commit.json`` follows at once):
    a kill in between leaves that part durable but unrecorded, and a resume drops it and
    fetches its pages again, so the snapshot still equals an uninterrupted run."""
    ctx = context(tmp_path / "resumed", rows_per_file=120, row_group_size=50)
    pages = make_pages(ctx.endpoint, ctx.export, 300, 40)
    cursors = [cursor_of(p, ctx.endpoint) for p in pages]
    first = open_snapshot(ctx, now=NOW)
    directory = Path(first.location)
    marker = orjson.loads((directory / INCOMPLETE_NAME).read_bytes())
    assert marker["status"] == "in progress" and marker["durable_parts"] == 0  # from the claim
    for page, cursor in zip(pages, cursors, strict=True):
        first.write_page(page, cursor)
    storage = first._storage
    write_atomic = storage.write_atomic

    def killed_at_commit(directory: str, name: str, data: bytes, **kwargs: Any) -> None:
        if name == "_commit.json":
            raise Killed
        write_atomic(directory, name, data, **kwargs)

    storage.write_atomic = killed_at_commit  # type: ignore[method-assign]
    with pytest.raises(Killed):
        first.commit({})
    storage.write_atomic = write_atomic  # type: ignore[method-assign]
    # 300 rows: parts of 120 and 120 checkpointed, the last 60 durable but not checkpointed
    assert files_in(directory) == {
        CHECKPOINT_NAME,
        INCOMPLETE_NAME,
        "_part-00000.parquet",
        "_part-00001.parquet",
        "_part-00002.parquet",
    }
    resumed = open_snapshot(ctx, resume=True, now=datetime(2026, 11, 27, 23, 0, tzinfo=UTC))
    assert resumed.location == first.location and resumed.records_written == 240
    assert "_part-00002.parquet" not in files_in(directory)
    start = cursors.index(resumed.resume_cursor) + 1
    for page, cursor in zip(pages[start:], cursors[start:], strict=True):
        resumed.write_page(page, cursor)
    manifest = resumed.commit({})
    baseline_ctx = context(tmp_path / "baseline", rows_per_file=120, row_group_size=50)
    baseline = write_all(open_snapshot(baseline_ctx, now=NOW), pages, baseline_ctx)
    assert [(f.name, f.rows, f.sha256) for f in manifest.files] == [
        (f.name, f.rows, f.sha256) for f in baseline.files
    ]
    assert files_in(directory) == {MANIFEST_NAME} | {f.name for f in manifest.files}


def test_resume_refuses_a_checkpoint_of_a_different_export_definition(tmp_path: Path) -> None:
    ctx = context(tmp_path, rows_per_file=50)
    pages = make_pages(ctx.endpoint, ctx.export, 100, 50)
    writer = open_snapshot(ctx, now=NOW)
    writer.write_page(pages[0], cursor_of(pages[0], ctx.endpoint))
    writer.abort("boom")
    changed = SnapshotContext(
        export=ExportSpec(
            endpoint=ctx.export.endpoint, name=ctx.export.name, filter={"state": "ACTIVE"}
        ),
        endpoint=ctx.endpoint,
        output=ctx.output,
        job_digest="sha256:other",
    )
    with pytest.raises(OutputError, match="written with a different filter, sort;"):
        open_snapshot(changed, resume=True)
    as_jsonl = context(tmp_path, fmt="jsonl", rows_per_file=50)
    with pytest.raises(OutputError, match=r"different format, compression; .*without --resume"):
        open_snapshot(as_jsonl, resume=True)
    on_v2 = SnapshotContext(
        export=ctx.export,
        endpoint=ctx.endpoint,
        output=ctx.output,
        job_digest="x",
        api_version="v2",
    )
    with pytest.raises(OutputError, match=r"different api_version \('v1' -> 'v2'\);"):
        open_snapshot(on_v2, resume=True)


def test_resume_without_incomplete_snapshot_starts_fresh(tmp_path: Path) -> None:
    ctx = context(tmp_path, rows_per_file=50)
    pages = make_pages(ctx.endpoint, ctx.export, 100, 50)
    old = open_snapshot(ctx, now=NOW)
    old.write_page(pages[0], cursor_of(pages[0], ctx.endpoint))
    old.abort("boom")  # incomplete, with a checkpoint
    later = datetime(2026, 11, 28, tzinfo=UTC)
    write_all(open_snapshot(ctx, now=later), pages, ctx)  # a newer complete snapshot
    writer = open_snapshot(ctx, resume=True, now=datetime(2026, 11, 29, tzinfo=UTC))
    assert writer.resume_cursor is None and writer.records_written == 0
    assert writer.location.endswith("snapshot=20261129T000000Z")
    writer.abort("test over")


def test_snapshots_in_the_same_second_do_not_collide(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    locations = [open_snapshot(ctx, now=NOW) for _ in range(3)]
    names = [Path(w.location).name for w in locations]
    assert names == [
        "snapshot=20261127T221500Z",
        "snapshot=20261127T221500Z-001",
        "snapshot=20261127T221500Z-002",
    ]
    for writer in locations:
        writer.abort("test over")


def test_relative_output_path_resolves_against_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ctx = context("out/relative", fmt="jsonl")
    manifest = write_all(
        open_snapshot(ctx, now=NOW), make_pages(ctx.endpoint, ctx.export, 5, 5), ctx
    )
    assert Path(manifest.location) == tmp_path / "out" / "relative" / ctx.export.name / (
        "snapshot=20261127T221500Z"
    )
    assert (Path(manifest.location) / MANIFEST_NAME).exists()


def test_file_uri_output(tmp_path: Path) -> None:
    ctx = context(tmp_path.as_uri() + "/uri-out", fmt="jsonl")
    manifest = write_all(
        open_snapshot(ctx, now=NOW), make_pages(ctx.endpoint, ctx.export, 5, 5), ctx
    )
    assert (
        tmp_path / "uri-out" / ctx.export.name / "snapshot=20261127T221500Z" / MANIFEST_NAME
    ).exists()
    assert manifest.records == 5


def test_non_local_filesystem_goes_through_pyarrow_fs(tmp_path: Path) -> None:
    """pyarrow's in-memory mock filesystem stands in for an object store (no fsync, no mkdir)."""
    ctx = context("mock:///bucket/exports", rows_per_file=20)
    writer = open_snapshot(ctx, now=NOW)
    manifest = write_all(writer, make_pages(ctx.endpoint, ctx.export, 45, 15), ctx)
    assert (
        manifest.location
        == "mock://bucket/exports/flownode-instances-export/snapshot=20261127T221500Z"
    )
    fs = writer._storage.fs
    import pyarrow.fs as pafs

    listed = sorted(i.base_name for i in fs.get_file_info(pafs.FileSelector(writer.directory)))
    assert listed == [
        MANIFEST_NAME,
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    with fs.open_input_file(f"{writer.directory}/part-00000.parquet") as handle:
        assert pq.read_table(handle).num_rows == 15


def test_output_path_that_is_a_file_is_an_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="flownode-instances-export"):
        open_snapshot(context(blocker), now=NOW)


def test_conversion_error_leaves_no_partial_output(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    writer = open_snapshot(ctx, now=NOW)
    with pytest.raises(OutputError, match="field 'key'"):
        writer.write_page([{"key": "not-a-number"}], [1])
    assert writer.records_written == 0
    writer.abort("conversion failed")
    assert files_in(writer.location) == {INCOMPLETE_NAME}


@pytest.mark.parametrize("name", sorted(V1_ENDPOINTS))
def test_simulator_truth_round_trips_through_parquet(
    tmp_path: Path, simulator: Any, name: str
) -> None:
    """The simulator's hydrated records (realistic shapes, not just the registry's) convert
    without _extra and read back equal to the JSONL bytes of the same pages."""
    flags = {"include_evaluation_details": name == "decision-instances"}
    records = orjson.loads(orjson.dumps(simulator.dataset.records(name)))
    pages = [records[i : i + 100] for i in range(0, len(records), 100)]
    manifests = {}
    for fmt in ("parquet", "jsonl"):
        ctx = context(tmp_path / fmt, name, fmt, export_flags=flags)
        manifests[fmt] = write_all(open_snapshot(ctx, now=NOW), pages, ctx)
    directory = Path(manifests["parquet"].location)
    rows = [
        row
        for f in manifests["parquet"].files
        for row in pq.read_table(directory / f.name).to_pylist()
    ]
    assert all(row[EXTRA_COLUMN] is None for row in rows)
    from_parquet = parquet_rows_as_records_from(rows)
    jsonl = read_jsonl(
        Path(manifests["jsonl"].location), [f.name for f in manifests["jsonl"].files]
    )
    assert jsonl == records
    assert from_parquet == jsonl_records_normalised(jsonl, name)
