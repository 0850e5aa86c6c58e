"""Hostile values that used to give files that look complete but are not (issue 11 point 3).

Text that is not UTF-8 became a Parquet snapshot with a manifest that DuckDB and pandas cannot
read; a key of 2^70 became ``1.18e21`` in JSONL and a float in ``searchAfter``; a ``total`` of
2^70 was a TypeError. Each must now fail the export with a clear error (field, record key,
what was wrong), no manifest, and no published part holding the bad page, on both output
formats and both APIs. The CLI runs in a subprocess against the hostile loopback server.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from tests.hostile_pages import (
    KEY,
    SEARCH,
    item,
    page,
    run_cli,
    scripted,
    searches,
    snapshot_dirs,
    spec_yaml,
    v1_page,
    v2_page,
)

APIS = ["v1", "v2"]
FORMATS = ["parquet", "jsonl"]
HUGE = 2**70  # 1180591620717411303424: orjson reads it as 1.1805916207174113e+21


def _assert_failed_without_manifest(out: Path) -> None:
    dirs = snapshot_dirs(out)
    assert dirs, "the export should have started a snapshot"
    for directory in dirs:
        assert not (directory / "_manifest.json").exists()
        assert (directory / "_INCOMPLETE").exists()


def _read_part(path: Path) -> list[Any]:
    """Every row of a published part, read back strictly (as DuckDB/pandas would)."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        table.validate(full=True)  # invalid UTF-8 fails here
        return table.to_pylist()
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return [orjson.loads(line) for line in data.splitlines()]


def _published_rows(out: Path) -> list[Any]:
    rows: list[Any] = []
    for directory in snapshot_dirs(out):
        for part in sorted(directory.glob("part-*")):
            rows.extend(_read_part(part))
    return rows


def _with_bad_text(api: str, raw_text: bytes) -> bytes:
    """A full page whose second record's message holds ``raw_text`` verbatim."""
    good = page(api, [BIG_KEY + 4, BIG_KEY + 5, BIG_KEY + 6])
    field = b'"message":"m' if api == "v1" else b'"errorMessage":"m'
    marker = field + str(BIG_KEY + 5).encode() + b'"'
    assert marker in good
    return good.replace(marker, field + b"x" + raw_text + b'y"')


BIG_KEY = 2**62 + 7


@pytest.mark.parametrize(
    "raw_text",
    [pytest.param(b"\xff\xfe", id="bytes-not-utf8"), pytest.param(b"\\ud800", id="lone-surrogate")],
)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("api", APIS)
def test_text_that_is_not_utf8_fails_the_export_naming_field_and_record(
    hostile_server: Any, tmp_path: Path, api: str, fmt: str, raw_text: bytes
) -> None:
    first = page(api, [BIG_KEY + 1, BIG_KEY + 2, BIG_KEY + 3])
    pages = [first, _with_bad_text(api, raw_text)]
    server = hostile_server({SEARCH[api]: scripted(pages, api)})
    out = tmp_path / "out"
    # One page per part: the good first page is published before the bad one arrives.
    run = run_cli(spec_yaml(server.base_url, out, api, fmt, rows_per_file=3), tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    field = "message" if api == "v1" else "errorMessage"
    assert "page 2" in run.output
    assert f"field {field!r} of item 1 ({KEY[api]}=" in run.output
    assert str(BIG_KEY + 5) in run.output
    assert "not UTF-8" in run.output or "lone surrogate" in run.output
    assert "internal error" not in run.output
    _assert_failed_without_manifest(out)
    # What was published is readable and holds only the good page.
    keys = [int(row[KEY[api]]) for row in _published_rows(out)]
    assert keys in ([], [BIG_KEY + 1, BIG_KEY + 2, BIG_KEY + 3])
    # Not retried as if it were a truncated body (the Parquet fast path may have asked for the
    # page after it meanwhile: paging runs ahead of decoding).
    after = [str(body.get("searchAfter") or body.get("page")) for body in searches(server, api)]
    assert len(after) == len(set(after)) >= 2


def _huge_key_page(api: str, position: int) -> bytes:
    keys = [BIG_KEY + 1, BIG_KEY + 2, BIG_KEY + 3]
    raw = page(api, keys)
    target = str(keys[position]).encode()
    if api == "v1":
        return raw.replace(b'"key":' + target, b'"key":' + str(HUGE).encode())
    # v2 keys are strings; a server sending a bare number beyond 64 bits is the hazard.
    return raw.replace(b'"incidentKey":"' + target + b'"', b'"incidentKey":' + str(HUGE).encode())


@pytest.mark.parametrize("position", [0, 2], ids=["mid-page", "last-item"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("api", APIS)
def test_a_key_beyond_64_bits_fails_the_export(
    hostile_server: Any, tmp_path: Path, api: str, fmt: str, position: int
) -> None:
    server = hostile_server({SEARCH[api]: scripted([_huge_key_page(api, position)], api)})
    out = tmp_path / "out"
    run = run_cli(spec_yaml(server.base_url, out, api, fmt), tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    assert f"field {KEY[api]!r}" in run.output
    assert "beyond 64 bits" in run.output
    assert "internal error" not in run.output
    _assert_failed_without_manifest(out)
    assert _published_rows(out) == []
    for body in searches(server, api):
        assert not isinstance((body.get("searchAfter") or [0])[-1], float)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_cursor_beyond_64_bits_is_never_sent_back(
    hostile_server: Any, tmp_path: Path, fmt: str
) -> None:
    items = [item("v1", BIG_KEY + k) for k in (1, 2, 3)]
    raw = v1_page(items, sort_values=[7]).replace(
        b'"sortValues":[7]', f'"sortValues":[{HUGE}]'.encode()
    )
    pages = [raw]
    server = hostile_server({SEARCH["v1"]: scripted(pages, "v1")})
    out = tmp_path / "out"
    run = run_cli(spec_yaml(server.base_url, out, "v1", fmt), tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    assert "sortValues of page 1[0] is the number 1.1805916207174113e+21" in run.output
    assert "cannot be sent back exactly" in run.output
    assert len(searches(server, "v1")) == 1  # no searchAfter with a float
    _assert_failed_without_manifest(out)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("api", APIS)
def test_a_total_beyond_64_bits_is_a_clear_error(
    hostile_server: Any, tmp_path: Path, api: str, fmt: str
) -> None:
    keys = [BIG_KEY + 1, BIG_KEY + 2]
    if api == "v1":
        raw = v1_page([item("v1", k) for k in keys], total=12345).replace(
            b'"total":12345', b'"total":' + str(HUGE).encode()
        )
    else:
        raw = v2_page([item("v2", k) for k in keys], total=12345).replace(
            b'"totalItems":12345', b'"totalItems":' + str(HUGE).encode()
        )
    server = hostile_server({SEARCH[api]: scripted([raw], api)})
    out = tmp_path / "out"
    run = run_cli(spec_yaml(server.base_url, out, api, fmt), tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    assert "page 1 reports a total of" in run.output
    assert "expected a count of records" in run.output
    assert "TypeError" not in run.output
    _assert_failed_without_manifest(out)
