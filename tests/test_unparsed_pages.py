"""v1 Parquet exports without hydration page without parsing their items in Python.

The paging thread reads only ``sortValues`` / ``total`` from a page's tail
(``exporter.api.rawpage``); the converting thread decodes the items with ``pyarrow.json`` and does
the item checks. These tests compare whole Parquet snapshots with the dict path over real
simulator exports, unit-test the tail reader on tricky pages, and serve deviating pages over
real HTTP (a short page followed by more data, unknown fields).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import exporter.pipeline.export
from exporter.api.rawpage import UNSURE, read_page, read_tail
from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.pipeline.runner import RunOptions, RunResult, run_job
from exporter.simulator import Simulator
from exporter.sinks.convert import RecordConverter
from exporter.spec import ExportSpec, JobSpec, OutputSpec, RetrySpec, SortSpec, SourceSpec

FAST_RETRY = RetrySpec(max_attempts=3, initial_backoff_seconds=0.001, max_backoff_seconds=0.01)
BIG = 2**62 + 7


def _job(base_url: str, out: Path, *exports: ExportSpec) -> JobSpec:
    return JobSpec(
        source=SourceSpec(base_url=base_url, api="v1", retry=FAST_RETRY, timeout_seconds=10.0),
        exports=exports,
        output=OutputSpec(format="parquet", path=str(out), schema="native"),
        concurrency=2,
        digest="test",
    )


def _table(location: str) -> pa.Table:
    parts = sorted(Path(location).glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts])


class _Counting:
    """Counts the pages that took the unparsed path (wraps the real converter method)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pages = 0
        original = RecordConverter.convert_page

        def counted(converter: RecordConverter, *args: Any) -> pa.RecordBatch:
            self.pages += 1
            return original(converter, *args)

        monkeypatch.setattr(RecordConverter, "convert_page", counted)


def _run_both(
    monkeypatch: pytest.MonkeyPatch, base_url: str, tmp_path: Path, exports: list[ExportSpec]
) -> tuple[RunResult, RunResult, int]:
    counting = _Counting(monkeypatch)
    fast = run_job(_job(base_url, tmp_path / "fast", *exports), RunOptions())
    used = counting.pages
    with monkeypatch.context() as m:
        m.setattr(exporter.pipeline.export, "decodes_unparsed", lambda *args: False)
        parsed = run_job(_job(base_url, tmp_path / "dict", *exports), RunOptions())
    return fast, parsed, used


def _sizes(count: int) -> list[int]:
    dividing = [d for d in range(2, min(count, 200) + 1) if count % d == 0]
    other = next(d for d in (7, 11, 13, 17) if count % d)
    return [*dividing[-1:], other]


def test_every_v1_endpoint_gives_the_dict_paths_parquet(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports = []
    for endpoint in sorted(V1_ENDPOINTS):
        count = len(simulator.dataset.records(endpoint))
        for size in _sizes(count):
            exports.append(ExportSpec(endpoint=endpoint, name=f"{endpoint}-{size}", page_size=size))
    exports += [
        ExportSpec(
            endpoint="flownode-instances",
            name="fni-by-start",
            page_size=97,
            sort=(SortSpec("startDate", "DESC"),),
        ),
        ExportSpec(
            endpoint="flownode-instances",
            name="fni-by-node",
            page_size=100,
            sort=(SortSpec("flowNodeId", "ASC"),),
        ),
        ExportSpec(
            endpoint="variables", name="var-by-name", page_size=90, sort=(SortSpec("name", "ASC"),)
        ),
    ]
    fast, parsed, used = _run_both(monkeypatch, simulator.base_url, tmp_path, exports)
    assert fast.ok and parsed.ok, [r.error for r in fast.failed + parsed.failed]
    assert used > len(exports)  # the unparsed path was really taken
    big_keys = 0
    for mine, theirs, export in zip(fast.exports, parsed.exports, exports, strict=True):
        table = _table(mine.location)
        assert table.equals(_table(theirs.location)), export.name
        assert table.num_rows == len(simulator.dataset.records(export.endpoint)) > 0
        assert (mine.records, mine.pages, mine.total_reported) == (
            theirs.records,
            theirs.pages,
            theirs.total_reported,
        ), export.name
        big_keys += pc.sum(pc.greater(table["key"], 2**53)).as_py() or 0
    assert big_keys > 0  # keys beyond 2^53 went through exactly


# -- the tail reader -------------------------------------------------------------------


def test_tail_reader_takes_the_top_level_cursor_exactly() -> None:
    raw = orjson.dumps(
        {"items": [{"key": 1, "name": "a]b"}], "sortValues": ['x]"y', BIG, 1.5], "total": 3}
    )
    tail = read_tail(raw)
    assert tail is not None
    assert tail.cursor == ['x]"y', BIG, 1.5] and tail.total() == 3
    assert type(tail.cursor[2]) is float and type(tail.cursor[1]) is int
    start, end = tail.cut
    assert orjson.loads(raw[:start] + raw[end:]) == {
        "items": [{"key": 1, "name": "a]b"}],
        "total": 3,
    }


@pytest.mark.parametrize(
    "page",
    [
        # key order items-last, the cursor first
        b'{"sortValues": [5, 9223372036854775807], "total": 12, "items": [{"key": 1}]}',
        # pretty-printed
        b'{\n  "items" : [\n    {"key": 1}\n  ],\n  "total" : 12,\n  "sortValues" : [\n    5,\n'
        b"    9223372036854775807\n  ]\n}\n",
        # "sortValues" as text inside a string value (its quotes are escaped there)
        b'{"items": [{"key": 1, "value": "\\"sortValues\\": [1]"}], "sortValues": '
        b'[5, 9223372036854775807], "total": 12}',
    ],
)
def test_tail_reader_on_tricky_pages(page: bytes) -> None:
    tail = read_tail(page)
    assert tail is not None
    assert tail.cursor == [5, 2**63 - 1] and tail.total() == 12
    full = orjson.loads(page)
    del full["sortValues"]
    start, end = tail.cut
    assert orjson.loads(page[:start] + page[end:]) == full


@pytest.mark.parametrize(
    "page",
    [
        b'{"items": [{"key": 1}], "total": 1}',  # no cursor
        b'{"items": [{"key": 1, "sortValues": [2]}], "sortValues": [1], "total": 1}',  # twice
        b'{"items": [{"key": 1}], "sortValues": 1, "total": 1}',  # not an array
        b'{"items": [{"key": 1}], "sortValues": [], "total": 1}',  # empty cursor
        b'{"items": [], "sortValues": [1], "total": 0}',  # an empty page ends the export
        b'{"items": [{"key": 1}], "sortValues": [1], "total": 1',  # cut off
    ],
)
def test_tail_reader_refuses_what_it_cannot_vouch_for(page: bytes) -> None:
    assert read_tail(page) is None


@pytest.mark.parametrize(
    "page",
    [
        b'{"items": [{"key": 1}], "sortValues": [1], "total": 1.0}',  # not an integer total
        b'{"items": [{"key": 1, "total": 2}], "sortValues": [1], "total": 1}',  # total twice
    ],
)
def test_an_unreadable_total_is_unsure(page: bytes) -> None:
    tail = read_tail(page)
    assert tail is not None and tail.total() is UNSURE


def test_an_absent_total_is_none() -> None:
    tail = read_tail(b'{"items": [{"key": 1}], "sortValues": [1]}')
    assert tail is not None and tail.total() is None


def test_read_page_parses_the_whole_page_when_unsure() -> None:
    page = b'{"items": [{"key": 1}], "total": 1}'
    assert read_page(page).parsed == {"items": [{"key": 1}], "total": 1}
    with pytest.raises(orjson.JSONDecodeError):
        read_page(page[:-1])


# -- deviating servers ------------------------------------------------------------------


class _Scripted(ThreadingHTTPServer):
    daemon_threads = True
    pages: list[bytes]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Scripted

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = self.server.pages.pop(0) if self.server.pages else b'{"items": [], "total": 0}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def scripted() -> Iterator[_Scripted]:
    server = _Scripted(("127.0.0.1", 0), _Handler)
    server.pages = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _page(keys: range, **item: Any) -> bytes:
    items = [{"key": BIG + k, "state": "ACTIVE", **item} for k in keys]
    return orjson.dumps({"items": items, "sortValues": [BIG + keys[-1]], "total": 9})


def _export(tmp_path: Path, server: _Scripted) -> RunResult:
    export = ExportSpec(endpoint="incidents", name="inc", page_size=3)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    return run_job(_job(base_url, tmp_path, export), RunOptions())


def test_a_short_page_ends_the_export_without_another_request(
    scripted: _Scripted, tmp_path: Path
) -> None:
    # The third page would be a contract violation; a short page is the last, so it is never
    # asked for (the page's item objects are counted from its bytes while paging).
    scripted.pages = [_page(range(0, 3)), _page(range(3, 5)), _page(range(5, 6))]
    (result,) = _export(tmp_path, scripted).exports
    assert result.ok, result.error
    assert (result.records, result.pages, result.requests) == (5, 2, 2)
    assert _table(result.location)["key"].to_pylist() == [BIG + k for k in range(5)]


def test_more_items_than_the_page_size_is_a_protocol_error(
    scripted: _Scripted, tmp_path: Path
) -> None:
    scripted.pages = [_page(range(0, 4))]
    (result,) = _export(tmp_path, scripted).exports
    assert result.error_type == "ProtocolError"
    assert "page 1: the server returned 4 items for size 3" in str(result.error)


def test_unknown_fields_reach_extra_through_the_fallback(
    scripted: _Scripted, tmp_path: Path
) -> None:
    scripted.pages = [_page(range(0, 3)), _page(range(3, 6), newField={"a": [1, 2]})]
    (result,) = _export(tmp_path, scripted).exports
    assert result.ok, result.error
    extra = _table(result.location)["_extra"].to_pylist()
    assert extra[:3] == [None] * 3
    assert [orjson.loads(e) for e in extra[3:]] == [{"newField": {"a": [1, 2]}}] * 3


def test_non_object_items_are_a_protocol_error(scripted: _Scripted, tmp_path: Path) -> None:
    scripted.pages = [
        orjson.dumps({"items": [{"key": 1}, 5, {"key": 3}], "sortValues": [3], "total": 3})
    ]
    (result,) = _export(tmp_path, scripted).exports
    assert result.error_type == "ProtocolError"
    assert "page 1 item 1 is int, expected an object" in str(result.error)
