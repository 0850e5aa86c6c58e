"""Hostile search pages against the paging loop (issue 11 points 2, 4 and 7), end to end.

Each test serves v1 and/or v2 search pages from the hostile loopback server as the real APIs
do, with one twist per test, and runs ``operate-export run`` in a subprocess: a page nested
100,000 levels deep must be a clear error (exit 1), never a segfault that takes the other
exports down; cursors that go backwards, repeat with a period, or are 1 MB long must stop the
export within bounded time and memory; a short page ends the export without another request;
a page larger than the page size is reported as exactly that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from tests.hostile_pages import (
    SEARCH,
    empty,
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
from tests.hostile_server import Request

APIS = ["v1", "v2"]
FORMATS = ["parquet", "jsonl"]

GOOD_EXPORT = """  - endpoint: process-definitions
    name: good
    page_size: 5
"""


def _good_definitions(api: str) -> bytes:
    if api == "v1":
        items = [{"key": 10 + k, "bpmnProcessId": f"p{k}", "version": 1} for k in range(2)]
        return v1_page(items, total=2)
    items = [{"processDefinitionKey": str(10 + k), "processDefinitionId": f"p{k}"} for k in (0, 1)]
    return v2_page(items, total=2, end_cursor="c11")


def _deep_page(api: str, depth: int) -> bytes:
    nested = b"[" * depth + b"]" * depth
    if api == "v1":
        return (
            b'{"items":[{"key":1,"state":"ACTIVE","x":' + nested + b'}],"sortValues":[1],"total":1}'
        )
    return (
        b'{"items":[{"incidentKey":"1","state":"ACTIVE","x":'
        + nested
        + b'}],"page":{"totalItems":1,"hasMoreTotalItems":false,"endCursor":"c1"}}'
    )


def _manifest(out: Path, name: str = "hostile") -> list[Path]:
    return sorted((out / name).glob("snapshot=*/_manifest.json"))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("api", APIS)
def test_a_page_nested_100000_levels_is_a_clear_error_not_a_segfault(
    hostile_server: Any, tmp_path: Path, api: str, fmt: str
) -> None:
    good = f"/{api}/process-definitions/search"
    server = hostile_server(
        {
            SEARCH[api]: scripted([_deep_page(api, 100_000)], api),
            good: scripted([_good_definitions(api)], api),
        }
    )
    out = tmp_path / "out"
    run = run_cli(spec_yaml(server.base_url, out, api, fmt, extra_exports=GOOD_EXPORT), tmp_path)
    assert run.returncode == 1, (run.returncode, run.output[-3000:])
    assert "hostile: page 1" in run.output
    assert "nested" in run.output and "levels" in run.output
    assert not _manifest(out)
    assert _manifest(out, "good"), "the export running next to it must finish"
    # Refused at once: a deep page is not retried as if it were truncated.
    assert len(searches(server, api)) == 1
    assert run.seconds < 20


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_deep_but_parseable_record_is_kept_exactly_on_every_path(
    hostile_server: Any, tmp_path: Path, fmt: str
) -> None:
    # 100 levels: Arrow could take it, but the page goes the same way as a parsed one (the
    # unknown field lands in _extra / the JSONL line, exactly as sent).
    server = hostile_server({SEARCH["v1"]: scripted([_deep_page("v1", 100)], "v1")})
    out = tmp_path / "out"
    run = run_cli(spec_yaml(server.base_url, out, "v1", fmt), tmp_path)
    assert run.returncode == 0, run.output[-3000:]
    (part,) = (out / "hostile").glob("snapshot=*/part-*")
    expected: list[Any] = []
    for _ in range(99):
        expected = [expected]
    if fmt == "parquet":
        (extra,) = pq.read_table(part).column("_extra").to_pylist()
        assert orjson.loads(extra) == {"x": expected}
    else:
        assert orjson.loads(part.read_bytes())["x"] == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_page_with_more_brackets_than_arrow_may_take_goes_through_orjson(
    hostile_server: Any, tmp_path: Path, fmt: str
) -> None:
    # 5,000 levels: too many opening brackets for Arrow, too deep for orjson: a clear error.
    server = hostile_server({SEARCH["v1"]: scripted([_deep_page("v1", 5000)], "v1")})
    out = tmp_path / "out"
    run = run_cli(spec_yaml(server.base_url, out, "v1", fmt), tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    assert "hostile: page 1" in run.output
    assert "nested deeper than 1024 levels, the JSON parser's limit" in run.output
    assert not _manifest(out)


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("jsonl", "record 0 of the page cannot be written as JSON"),
        ("parquet", "record key=1 (row 0) has fields the schema does not know nested deeper"),
    ],
)
def test_a_record_nested_deeper_than_can_be_written_is_named(
    hostile_server: Any, tmp_path: Path, fmt: str, message: str
) -> None:
    # orjson parses up to 1024 levels but writes at most 254: a clear error, not a TypeError.
    server = hostile_server({SEARCH["v1"]: scripted([_deep_page("v1", 300)], "v1")})
    out = tmp_path / "out"
    run = run_cli(spec_yaml(server.base_url, out, "v1", fmt), tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    assert message in run.output
    assert "254 levels" in run.output
    assert "internal error" not in run.output
    assert not _manifest(out)


# -- cursors ----------------------------------------------------------------------------------


def _backwards_forever(request: Request) -> bytes:
    """Always a full page of new records whose cursor is before the one asked after."""
    after = (request.json() or {}).get("searchAfter") or [1000]
    start = after[0] - 10
    return page("v1", [start, start + 1, start + 2])


def test_a_v1_cursor_moving_backwards_stops_the_export(hostile_server: Any, tmp_path: Path) -> None:
    server = hostile_server({SEARCH["v1"]: scripted([_backwards_forever] * 1000, "v1")})
    out = tmp_path / "out"
    for fmt in FORMATS:
        run = run_cli(spec_yaml(server.base_url, out / fmt, "v1", fmt), tmp_path)
        assert run.returncode == 1, run.output[-3000:]
        assert "the cursor of page 2 moves backwards in the sort order" in run.output
        assert "[984] comes before the previous [992]" in run.output
        assert not _manifest(out / fmt)
    assert len(searches(server, "v1")) == 4  # two pages per format, none after the bad one


def test_the_cursor_order_follows_the_sort_directions(hostile_server: Any, tmp_path: Path) -> None:
    # Sorted by creationTime DESC then key ASC: a later page has a smaller date (forward)...
    forward = [
        v1_page([item("v1", k) for k in (1, 2, 3)], sort_values=[3000, 3]),
        v1_page([item("v1", k) for k in (4, 5, 6)], sort_values=[2000, 6]),
        v1_page([item("v1", k) for k in (7, 8)], sort_values=[2000, 8]),
    ]
    sort = "    sort: [{field: creationTime, order: DESC}]\n"
    server = hostile_server({SEARCH["v1"]: scripted(forward, "v1")})
    run = run_cli(spec_yaml(server.base_url, tmp_path / "a", "v1", "jsonl", sort=sort), tmp_path)
    assert run.returncode == 0, run.output[-3000:]
    # ...and a larger date on the next page is backwards, whatever the key does.
    backwards = [forward[0], v1_page([item("v1", k) for k in (4, 5, 6)], sort_values=[4000, 6])]
    server = hostile_server({SEARCH["v1"]: scripted(backwards, "v1")})
    run = run_cli(spec_yaml(server.base_url, tmp_path / "b", "v1", "jsonl", sort=sort), tmp_path)
    assert run.returncode == 1
    assert "moves backwards in the sort order: [4000, 6] comes before the previous" in run.output


@pytest.mark.parametrize("period", [1, 3])
def test_v2_cursors_repeating_with_a_period_are_a_loop(
    hostile_server: Any, tmp_path: Path, period: int
) -> None:
    served = {"n": 0}

    def cycling(request: Request) -> bytes:
        served["n"] += 1
        keys = [served["n"] * 10 + k for k in range(3)]  # always new records
        return v2_page([item("v2", k) for k in keys], end_cursor=f"cursor-{served['n'] % period}")

    server = hostile_server({SEARCH["v2"]: scripted([cycling] * 1000, "v2")})
    out = tmp_path / "out"
    run = run_cli(spec_yaml(server.base_url, out, "v2", "jsonl"), tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    assert f"the same as {period} page(s) before" in run.output
    assert len(searches(server, "v2")) == period + 1
    assert not _manifest(out)


def test_v2_paging_past_an_exact_total_is_stopped(hostile_server: Any, tmp_path: Path) -> None:
    served = {"n": 0}

    def endless(request: Request) -> bytes:
        served["n"] += 1
        keys = [served["n"] * 10 + k for k in range(3)]
        return v2_page([item("v2", k) for k in keys], total=6, end_cursor=f"c{served['n']}")

    server = hostile_server({SEARCH["v2"]: scripted([endless] * 10_000, "v2")})
    run = run_cli(spec_yaml(server.base_url, tmp_path / "out", "v2", "parquet"), tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    assert "reported 6 records in total, yet after 14 pages of 3" in run.output
    assert len(searches(server, "v2")) == 14


@pytest.mark.parametrize("api", APIS)
def test_megabyte_cursors_are_refused_in_bounded_time_and_memory(
    hostile_server: Any, tmp_path: Path, api: str
) -> None:
    served = {"n": 0}

    def huge(request: Request) -> bytes:
        served["n"] += 1
        cursor = f"{served['n']:08d}" + "x" * (1 << 20)  # always new, 1 MiB
        keys = [served["n"] * 10 + k for k in range(3)]
        if api == "v1":
            return v1_page([item("v1", k) for k in keys], sort_values=[cursor, keys[-1]])
        return v2_page([item("v2", k) for k in keys], end_cursor=cursor)

    sort = "    sort: [{field: message, order: ASC}]\n" if api == "v1" else ""
    server = hostile_server({SEARCH[api]: scripted([huge] * 10_000, api)})
    run = run_cli(spec_yaml(server.base_url, tmp_path / "out", api, "jsonl", sort=sort), tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    assert "a cursor may have at most 65536" in run.output
    assert len(searches(server, api)) == 1
    assert run.seconds < 20
    assert run.peak_rss_mb < 300, run.peak_rss_mb


# -- short and oversized pages ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("api", APIS)
def test_a_short_page_is_the_last_request(
    hostile_server: Any, tmp_path: Path, api: str, fmt: str
) -> None:
    # A third request would get a page that breaks the contract: it must never be sent.
    pages = [page(api, [1, 2, 3]), page(api, [4, 5]), page(api, [6, 7, 8]) + b"garbage"]
    server = hostile_server({SEARCH[api]: scripted(pages, api)})
    out = tmp_path / "out"
    run = run_cli(spec_yaml(server.base_url, out, api, fmt), tmp_path)
    assert run.returncode == 0, run.output[-3000:]
    assert len(searches(server, api)) == 2
    assert len(_manifest(out)) == 1


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("api", APIS)
def test_an_oversized_page_is_reported_as_such(
    hostile_server: Any, tmp_path: Path, api: str, fmt: str
) -> None:
    # Four items for size 3, then the same page again: the first problem is the size.
    oversized = page(api, [1, 2, 3, 4])
    server = hostile_server({SEARCH[api]: scripted([oversized] * 5, api)})
    out = tmp_path / "out"
    run = run_cli(spec_yaml(server.base_url, out, api, fmt), tmp_path)
    assert run.returncode == 1, run.output[-3000:]
    assert "page 1: the server returned 4 items for size 3" in run.output
    assert "repeated" not in run.output
    assert not _manifest(out)
    assert all(not list(d.glob("part-*")) for d in snapshot_dirs(out))


def test_the_empty_page_after_a_full_one_ends_the_export(
    hostile_server: Any, tmp_path: Path
) -> None:
    pages = [page("v1", [1, 2, 3]), empty("v1")]
    server = hostile_server({SEARCH["v1"]: scripted(pages, "v1")})
    run = run_cli(spec_yaml(server.base_url, tmp_path / "out", "v1", "parquet"), tmp_path)
    assert run.returncode == 0, run.output[-3000:]
    assert [s.get("searchAfter") for s in searches(server, "v1")] == [None, [3]]
