"""v2 Parquet exports without hydration decode their pages with Arrow, like v1's (issue 12.6).

The paging thread reads only ``page.endCursor`` from a v2 page's tail (``exporter.api.rawpage``);
the converting thread decodes the items with ``pyarrow.json``, casts the string keys to int64
and the RFC 3339 dates to ``timestamp[ms, UTC]`` in Arrow compute, and checks that the tail's
cursor is the page's ``page.endCursor``. These tests compare whole Parquet snapshots with the
Python converter's over real v2 simulator exports of every endpoint, compare single real pages
both ways, feed deviating records (offsets, long fractions, explicit nulls, keys that are not
int64 digits) to both paths, and serve deviating pages over real HTTP.
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
from exporter.api.paging import check_keys
from exporter.api.rawpage import read_page, read_tail
from exporter.api.types import Kind
from exporter.api.v2.registry import V2_ENDPOINTS
from exporter.errors import OutputError, ProtocolError
from exporter.pipeline.runner import RunOptions, RunResult, run_job
from exporter.simulator import Simulator
from exporter.sinks.convert import RecordConverter
from exporter.spec import ExportSpec, JobSpec, OutputSpec, RetrySpec, SortSpec, SourceSpec
from exporter.transport.client import ApiClient
from tests.auth_helpers import source_for
from tests.hostile_pages import SEARCH, run_cli, spec_yaml
from tests.hostile_pages import page as hostile_page
from tests.hostile_pages import scripted as hostile_scripted

FAST_RETRY = RetrySpec(max_attempts=3, initial_backoff_seconds=0.001, max_backoff_seconds=0.01)
BIG = 2**62 + 7


@pytest.fixture(scope="module")
def v2_simulator() -> Iterator[Simulator]:
    from exporter.simulator import SimulatorConfig

    sim = Simulator(SimulatorConfig(scale=300, seed=7, port=0, api="v2")).start()
    try:
        yield sim
    finally:
        sim.stop()


def _job(base_url: str, out: Path, *exports: ExportSpec) -> JobSpec:
    return JobSpec(
        source=SourceSpec(base_url=base_url, api="v2", retry=FAST_RETRY, timeout_seconds=10.0),
        exports=exports,
        output=OutputSpec(format="parquet", path=str(out)),
        concurrency=2,
        digest="test",
    )


def _table(location: str) -> pa.Table:
    parts = sorted(Path(location).glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts])


class _Counting:
    """Counts unparsed pages and those Arrow decoded (wraps the real converter methods)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pages = 0
        self.decoded = 0
        convert_page = RecordConverter.convert_page
        decode = RecordConverter._decode

        def counted(converter: RecordConverter, *args: Any) -> pa.RecordBatch:
            self.pages += 1
            return convert_page(converter, *args)

        def decoded(converter: RecordConverter, *args: Any, **kwargs: Any) -> Any:
            batch = decode(converter, *args, **kwargs)
            self.decoded += batch is not None
            return batch

        monkeypatch.setattr(RecordConverter, "convert_page", counted)
        monkeypatch.setattr(RecordConverter, "_decode", decoded)


def _run_both(
    monkeypatch: pytest.MonkeyPatch, base_url: str, tmp_path: Path, exports: list[ExportSpec]
) -> tuple[RunResult, RunResult, _Counting]:
    counting = _Counting(monkeypatch)
    fast = run_job(_job(base_url, tmp_path / "fast", *exports), RunOptions())
    with monkeypatch.context() as m:
        m.setattr(exporter.pipeline.export, "decodes_unparsed", lambda *args: False)
        m.setattr(RecordConverter, "_decode", lambda *args, **kwargs: None)  # Python only
        parsed = run_job(_job(base_url, tmp_path / "dict", *exports), RunOptions())
    return fast, parsed, counting


def test_every_v2_endpoint_gives_the_python_converters_parquet(
    v2_simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports = [
        ExportSpec(endpoint=endpoint, name=f"{endpoint}-{size}", page_size=size)
        for endpoint in sorted(V2_ENDPOINTS)
        for size in (50, 97)
    ]
    exports.append(
        ExportSpec(
            endpoint="flownode-instances",
            name="fni-by-start",
            page_size=97,
            sort=(SortSpec("startDate", "DESC"),),
        )
    )
    fast, parsed, counting = _run_both(monkeypatch, v2_simulator.base_url, tmp_path, exports)
    assert fast.ok and parsed.ok, [r.error for r in fast.failed + parsed.failed]
    # The unparsed path is really taken, and Arrow really decodes those pages.
    assert counting.pages > len(exports) and counting.decoded >= counting.pages
    big_keys = 0
    for mine, theirs, export in zip(fast.exports, parsed.exports, exports, strict=True):
        table = _table(mine.location)
        assert table.equals(_table(theirs.location)), export.name
        truth = v2_simulator.dataset.records(export.endpoint, api="v2")
        assert table.num_rows == len(truth) > 0, export.name
        assert (mine.records, mine.pages, mine.total_reported, mine.requests) == (
            theirs.records,
            theirs.pages,
            theirs.total_reported,
            theirs.requests,
        ), export.name
        key = V2_ENDPOINTS[export.endpoint].unique_key
        if pa.types.is_int64(table.schema.field(key).type):
            big_keys += pc.sum(pc.greater(table[key], 2**53)).as_py() or 0
    assert big_keys > 0  # keys beyond 2^53, sent as strings, arrived exactly


def _pages(client: ApiClient, endpoint: str, limit: int) -> list[tuple[bytes, Any]]:
    path = V2_ENDPOINTS[endpoint].search_path
    pages, body = [], {"page": {"limit": limit}}
    while True:
        raw, response = client.post_json_raw(path, body)
        pages.append((raw, response))
        cursor = response["page"].get("endCursor")
        if len(response["items"]) < limit or not cursor:
            return pages
        body = {"page": {"limit": limit, "after": cursor}}


@pytest.mark.parametrize("endpoint", sorted(V2_ENDPOINTS))
def test_real_v2_pages_decode_exactly_as_the_python_converter(
    v2_simulator: Simulator, endpoint: str
) -> None:
    converter = RecordConverter(V2_ENDPOINTS[endpoint], ExportSpec(endpoint=endpoint, name="e"))
    client = ApiClient(source_for(v2_simulator))
    try:
        pages = _pages(client, endpoint, 97)
    finally:
        client.close()
    compared = 0
    for raw, response in pages:
        items = response["items"]
        if not items:
            continue
        expected = converter.convert(items)
        assert converter.convert(items, raw=raw).equals(expected)
        if not converter.decodes_pages:
            continue  # nested columns (JSON objects): the Python converter only
        # A parsed page (the first, the last, hydrated ones) is decoded by Arrow too, explicit
        # nulls and all (the Python converter would import pandas through pa.array).
        from_raw = converter._from_raw(raw, items)
        assert from_raw is not None and from_raw.equals(expected), endpoint
        tail = read_page(raw).tail
        if tail is not None:  # the last page has no cursor: parsed whole while paging
            assert tail.key == "endCursor"
            batch = converter.convert_page(read_page(raw), 97, 1)
            assert batch.equals(expected), endpoint
            assert converter._decode(raw, converter._page_options, None, cursor=tail.cursor)
            compared += 1
    if converter.decodes_pages:
        assert compared > 0


def _v2_page(records: list[dict[str, Any]], cursor: str = "Y3Vyc29y") -> bytes:
    page = {"totalItems": len(records), "startCursor": "c3RhcnQ=", "endCursor": cursor}
    return orjson.dumps({"items": records, "page": page})


INSTANCE = {
    "elementInstanceKey": str(BIG),
    "processInstanceKey": "2251799813685249",
    "startDate": "2025-03-17T11:50:25.729Z",
    "state": "COMPLETED",
    "hasIncident": False,
}

V2_DEVIATIONS = [
    pytest.param([INSTANCE], id="plain"),
    pytest.param([{**INSTANCE, "startDate": "2025-03-17T13:50:25.729+02:00"}], id="offset"),
    pytest.param([{**INSTANCE, "startDate": "2025-03-17T11:50:25Z"}], id="no-fraction"),
    pytest.param([{**INSTANCE, "startDate": "2025-03-17T11:50:25.7Z"}], id="short-fraction"),
    pytest.param(
        [{**INSTANCE, "startDate": "2025-03-17T11:50:25.729123456+05:30"}], id="ns-fraction"
    ),
    pytest.param([{**INSTANCE, "endDate": None, "incidentKey": None}], id="explicit-nulls"),
    pytest.param([{**INSTANCE, "elementInstanceKey": "9007199254740993"}], id="key-2^53+1"),
    pytest.param([{**INSTANCE, "elementInstanceKey": str(2**63 - 1)}], id="key-int64-max"),
    pytest.param([{**INSTANCE, "elementInstanceKey": str(2**63)}], id="key-beyond-int64"),
    pytest.param([{**INSTANCE, "elementInstanceKey": "12a"}], id="key-not-digits"),
    pytest.param([{**INSTANCE, "elementInstanceKey": "+5"}], id="key-plus-sign"),
    pytest.param([{**INSTANCE, "elementInstanceKey": ""}], id="key-empty"),
    pytest.param([{**INSTANCE, "elementInstanceKey": 5}], id="key-as-number"),
    pytest.param([{**INSTANCE, "elementInstanceKey": 1.5}], id="key-float"),
    pytest.param([{**INSTANCE, "startDate": "yesterday"}], id="bad-date"),
    pytest.param([{**INSTANCE, "startDate": 1742212225729}], id="date-as-number"),
    pytest.param([{**INSTANCE, "hasIncident": "false"}], id="bool-as-string"),
    pytest.param([{**INSTANCE, "newField": {"a": [1, 2]}}], id="unknown-field-to-extra"),
    pytest.param([{**INSTANCE, "newField": None}], id="unknown-null"),
    pytest.param([INSTANCE, {**INSTANCE, "elementInstanceKey": "7"}], id="two-records"),
]


@pytest.mark.parametrize("records", V2_DEVIATIONS)
def test_v2_deviations_give_the_same_batch_or_the_same_error(
    records: list[dict[str, Any]],
) -> None:
    endpoint = V2_ENDPOINTS["flownode-instances"]
    converter = RecordConverter(endpoint, ExportSpec(endpoint="flownode-instances", name="e"))
    page = read_page(_v2_page(records))
    assert page.tail is not None and page.tail.key == "endCursor"
    # The parsed path: the paginator's key checks, then the Python converter.
    try:
        check_keys("e", 1, records, endpoint.fields_of_kind(Kind.KEY), endpoint.unique_key)
        expected: pa.RecordBatch | str = converter.convert(records)
    except (OutputError, ProtocolError) as exc:
        expected = str(exc)
    try:
        got: pa.RecordBatch | str = converter.convert_page(page, 10, 1)
    except (OutputError, ProtocolError) as exc:
        got = str(exc)
    if isinstance(expected, str):
        assert got == expected
    else:
        assert isinstance(got, pa.RecordBatch) and got.equals(expected)
        # The same page parsed (page 1, hydrated pages): the raw bytes give the same batch.
        assert converter.convert(records, raw=page.raw).equals(expected)


def test_offsets_and_fractions_land_on_the_same_instant() -> None:
    endpoint = V2_ENDPOINTS["flownode-instances"]
    converter = RecordConverter(endpoint, ExportSpec(endpoint="flownode-instances", name="e"))
    dates = [
        "2025-03-17T11:50:25.729Z",
        "2025-03-17T13:50:25.729+02:00",
        "2025-03-17T11:50:25.729999999Z",
        "2025-03-17T11:50:25.7291+00:00",
    ]
    records = [{**INSTANCE, "startDate": d} for d in dates]
    batch = converter._decode(_v2_page(records), converter._page_options, None, "Y3Vyc29y")
    assert batch is not None  # decoded by Arrow, not the fallback
    assert {v.value for v in batch.column("startDate")} == {1742212225729}


# -- the tail reader -------------------------------------------------------------------


def test_tail_reader_reads_the_end_cursor_as_sent() -> None:
    raw = _v2_page([INSTANCE], cursor='a"b\\c]')
    tail = read_tail(raw)
    assert tail is not None and tail.key == "endCursor" and tail.cursor == 'a"b\\c]'
    assert tail.cut == (0, 0) and read_page(raw).tail_of("sortValues") is None


@pytest.mark.parametrize(
    "page",
    [
        b'{"items": [{"k": "1"}], "page": {"endCursor": null}}',  # the last page
        b'{"items": [{"k": "1"}], "page": {"endCursor": ""}}',
        b'{"items": [{"k": "1"}], "page": {"endCursor": 5}}',
        b'{"items": [{"k": "1", "endCursor": "x"}], "page": {"endCursor": "y"}}',  # twice
        b'{"items": [], "page": {"endCursor": "y"}}',  # an empty page ends the export
        b'{"items": [{"k": "1"}], "page": {"endCursor": "y"',  # cut off
    ],
)
def test_tail_reader_refuses_end_cursors_it_cannot_vouch_for(page: bytes) -> None:
    assert read_tail(page) is None


# -- deviating servers ------------------------------------------------------------------


class _Scripted(ThreadingHTTPServer):
    daemon_threads = True
    pages: list[bytes]
    requests: int


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Scripted

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests += 1
        body = self.server.pages.pop(0) if self.server.pages else _v2_page([], cursor="")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def scripted() -> Iterator[_Scripted]:
    server = _Scripted(("127.0.0.1", 0), _Handler)
    server.pages = []
    server.requests = 0
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _incidents(keys: range, **item: Any) -> list[dict[str, Any]]:
    return [{"incidentKey": str(BIG + k), "state": "ACTIVE", **item} for k in keys]


def _export(tmp_path: Path, server: _Scripted) -> RunResult:
    export = ExportSpec(endpoint="incidents", name="inc", page_size=3)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    return run_job(_job(base_url, tmp_path, export), RunOptions())


def test_a_short_unparsed_page_ends_the_export_without_another_request(
    scripted: _Scripted, tmp_path: Path
) -> None:
    # Page 2 is read unparsed (page 1 is parsed for its totals); it is short, so it is the
    # last: the third page, a contract violation, is never asked for.
    scripted.pages = [
        _v2_page(_incidents(range(0, 3)), "c1"),
        _v2_page(_incidents(range(3, 5)), "c2"),
        _v2_page(_incidents(range(5, 6)), "c3"),
    ]
    (result,) = _export(tmp_path, scripted).exports
    assert result.ok, result.error
    assert (result.records, result.pages, scripted.requests) == (5, 2, 2)
    assert _table(result.location)["incidentKey"].to_pylist() == [BIG + k for k in range(5)]


def test_more_items_than_the_limit_on_an_unparsed_page_is_a_protocol_error(
    scripted: _Scripted, tmp_path: Path
) -> None:
    scripted.pages = [
        _v2_page(_incidents(range(0, 3)), "c1"),
        _v2_page(_incidents(range(3, 7)), "c2"),
    ]
    (result,) = _export(tmp_path, scripted).exports
    assert result.error_type == "ProtocolError"
    assert "page 2: the server returned 4 items for size 3" in str(result.error)


def test_an_end_cursor_outside_the_page_object_is_a_protocol_error(
    scripted: _Scripted, tmp_path: Path
) -> None:
    # The tail reader finds the only "endCursor", but it is not page.endCursor: Arrow's batch
    # is not taken, the parsed page has no cursor to page on.
    misplaced = orjson.dumps({"items": _incidents(range(3, 6)), "endCursor": "c2", "page": {}})
    scripted.pages = [_v2_page(_incidents(range(0, 3)), "c1"), misplaced]
    (result,) = _export(tmp_path, scripted).exports
    assert result.error_type == "ProtocolError"
    assert "page 2 has no single top-level page.endCursor to page on" in str(result.error)


def test_a_repeated_end_cursor_read_from_the_tail_is_a_protocol_error(
    scripted: _Scripted, tmp_path: Path
) -> None:
    scripted.pages = [
        _v2_page(_incidents(range(0, 3)), "c1"),
        _v2_page(_incidents(range(3, 6)), "c1"),
    ]
    (result,) = _export(tmp_path, scripted).exports
    assert result.error_type == "ProtocolError"
    assert "repeated the cursor" in str(result.error)


def test_unknown_fields_of_unparsed_v2_pages_reach_extra(
    scripted: _Scripted, tmp_path: Path
) -> None:
    scripted.pages = [
        _v2_page(_incidents(range(0, 3)), "c1"),
        _v2_page(_incidents(range(3, 6), newField={"a": [1, 2]}), "c2"),
        _v2_page(_incidents(range(6, 7)), ""),
    ]
    (result,) = _export(tmp_path, scripted).exports
    assert result.ok, result.error
    extra = _table(result.location)["_extra"].to_pylist()
    assert extra[:3] == [None] * 3 and extra[6:] == [None]
    assert [orjson.loads(e) for e in extra[3:6]] == [{"newField": {"a": [1, 2]}}] * 3


def test_non_object_items_of_an_unparsed_v2_page_are_a_protocol_error() -> None:
    converter = RecordConverter(
        V2_ENDPOINTS["incidents"], ExportSpec(endpoint="incidents", name="inc")
    )
    page = read_page(orjson.dumps({"items": [5], "page": {"endCursor": "c"}}))
    with pytest.raises(ProtocolError, match="item 0 is int, expected an object"):
        converter.convert_page(page, 3, 1)


# -- issue 11's hostile pages on the unparsed v2 path (page 2: page 1 is parsed whole) --------


def _hostile_run(hostile_server: Any, tmp_path: Path, second: bytes) -> tuple[Any, Any, Path]:
    first = hostile_page("v2", [BIG + 1, BIG + 2, BIG + 3])
    server = hostile_server({SEARCH["v2"]: hostile_scripted([first, second], "v2")})
    out = tmp_path / "out"
    return run_cli(spec_yaml(server.base_url, out, "v2", "parquet"), tmp_path), server, out


def _published(out: Path) -> list[Path]:
    return sorted((out / "hostile").glob("snapshot=*/_manifest.json"))


@pytest.mark.parametrize("depth", [100_000, 5000])
def test_a_deep_unparsed_v2_page_is_a_clear_error_not_a_segfault(
    hostile_server: Any, tmp_path: Path, depth: int
) -> None:
    # More opening brackets than Arrow may take: orjson gets it, and refuses the depth.
    nested = b"[" * depth + b"]" * depth
    deep = (
        b'{"items":[{"incidentKey":"9","state":"ACTIVE","x":' + nested + b"}],"
        b'"page":{"totalItems":4,"hasMoreTotalItems":false,"endCursor":"c9"}}'
    )
    run, _, out = _hostile_run(hostile_server, tmp_path, deep)
    assert run.returncode == 1, (run.returncode, run.output[-3000:])
    assert "hostile: page 2" in run.output
    assert "nested deeper than 1024 levels" in run.output
    assert not _published(out)
    assert run.seconds < 20


def test_a_bare_key_beyond_64_bits_on_an_unparsed_v2_page_fails_the_export(
    hostile_server: Any, tmp_path: Path
) -> None:
    raw = hostile_page("v2", [BIG + 4, BIG + 5, BIG + 6])
    quoted = b'"incidentKey":"' + str(BIG + 5).encode() + b'"'
    huge = raw.replace(quoted, b'"incidentKey":' + str(2**70).encode())
    assert huge != raw
    run, _, out = _hostile_run(hostile_server, tmp_path, huge)
    assert run.returncode == 1, run.output[-3000:]
    assert "field 'incidentKey'" in run.output and "beyond 64 bits" in run.output
    assert "internal error" not in run.output
    assert not _published(out)


def test_an_oversized_unparsed_v2_page_is_reported_as_such(
    hostile_server: Any, tmp_path: Path
) -> None:
    run, _, out = _hostile_run(
        hostile_server, tmp_path, hostile_page("v2", [BIG + k for k in range(4, 8)])
    )
    assert run.returncode == 1, run.output[-3000:]
    assert "page 2: the server returned 4 items for size 3" in run.output
    assert not _published(out)
