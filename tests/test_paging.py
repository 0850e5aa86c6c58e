"""Unit tests of the v1 searchAfter paginator (pure: responses are built by hand)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from exporter.api import get_endpoint, make_paginator
from exporter.api.paging import format_total
from exporter.api.v1.paging import SearchAfterPaginator
from exporter.errors import ProtocolError
from exporter.spec import ExportSpec, SortSpec

BIG = 2**53 + 7  # a partition-4 style key that a float would corrupt


def _export(**kw: Any) -> ExportSpec:
    base: dict[str, Any] = {"endpoint": "process-instances", "name": "pi", "page_size": 3}
    base.update(kw)
    return ExportSpec(**base)


def _paginator(**kw: Any) -> SearchAfterPaginator:
    start = kw.pop("start_cursor", None)
    emitted = kw.pop("already_emitted", 0)
    export = _export(**kw)
    endpoint = get_endpoint(export.endpoint)
    return make_paginator(endpoint, export, start_cursor=start, already_emitted=emitted)


def _page(keys: list[int], sort_values: Any = "auto", total: int = 100) -> dict[str, Any]:
    items = [{"key": k} for k in keys]
    if sort_values == "auto":
        sort_values = [keys[-1]] if keys else []
    return {"items": items, "sortValues": sort_values, "total": total}


def test_first_request_has_filter_size_and_sort_but_no_cursor() -> None:
    p = _paginator(filter={"state": "ACTIVE"}, sort=(SortSpec("startDate", "DESC"),))
    assert p.first_request() == {
        "filter": {"state": "ACTIVE"},
        "size": 3,
        "sort": [{"field": "startDate", "order": "DESC"}],
    }


def test_sort_values_are_echoed_exactly_with_types_and_64_bits() -> None:
    p = _paginator(sort=(SortSpec("bpmnProcessId"),))
    p.first_request()
    raw = b'{"items":[{"key":1},{"key":2},{"key":%d}],"sortValues":["called-process",%d],"total":9}'
    response = orjson.loads(raw % (BIG, BIG))
    p.update_state(response)
    body = p.next_request()
    assert body["searchAfter"] == ["called-process", BIG]
    assert type(body["searchAfter"][1]) is int
    # Serialised back, the key is the same token the server sent.
    assert str(BIG).encode() in orjson.dumps(body)


def test_ends_on_short_page_and_counts_pages() -> None:
    p = _paginator()
    p.first_request()
    assert len(p.update_state(_page([1, 2, 3]))) == 3
    assert p.has_next
    p.next_request()
    assert len(p.update_state(_page([4]))) == 1
    assert not p.has_next
    assert (p.pages, p.emitted, p.cursor) == (2, 4, [4])


def test_ends_on_empty_page_when_size_divides_count() -> None:
    p = _paginator()
    p.first_request()
    p.update_state(_page([1, 2, 3]))
    p.next_request()
    assert p.update_state(_page([])) == []
    assert not p.has_next
    assert p.cursor == [3]


def test_total_is_kept_from_first_page_only_and_never_stops_the_loop() -> None:
    p = _paginator()
    p.first_request()
    p.update_state(_page([1, 2, 3], total=2))  # a total smaller than what was served
    assert p.total == 2
    assert p.has_next
    p.next_request()
    p.update_state(_page([4, 5, 6], total=50))
    assert p.total == 2
    assert format_total(10_000) == "10000+"
    assert format_total(9_999) == "9999"
    assert format_total(None) == "?"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        pytest.param([], "expected an object", id="not-an-object"),
        pytest.param({"sortValues": []}, "no 'items' list", id="no-items"),
        pytest.param(_page([1, 2, 3, 4]), "4 items for size 3", id="page-larger-than-size"),
        pytest.param(
            {"items": [{"key": 1}, "x", {"key": 3}], "sortValues": [3]},
            "item 1 is str",
            id="item-not-object",
        ),
        pytest.param(_page([1, 2, 3], sort_values=None), "without sortValues", id="no-cursor"),
        pytest.param(_page([1, 2, 3], sort_values=[]), "without sortValues", id="empty-cursor"),
        pytest.param(_page([1, 2, 3], sort_values=[3, 3]), "should have 1 values", id="long"),
    ],
)
def test_contract_violations_raise_protocol_error(response: Any, message: str) -> None:
    p = _paginator()
    p.first_request()
    with pytest.raises(ProtocolError, match=message):
        p.update_state(response)


def test_cursor_must_include_the_tie_breaker() -> None:
    p = _paginator(sort=(SortSpec("startDate"),))
    p.first_request()
    with pytest.raises(ProtocolError, match="should have 2 values"):
        p.update_state(_page([1, 2, 3], sort_values=[1646904085499]))


def test_repeated_cursor_is_a_protocol_error() -> None:
    p = _paginator()
    p.first_request()
    p.update_state(_page([1, 2, 3]))
    p.next_request()
    with pytest.raises(ProtocolError, match="repeated the cursor"):
        p.update_state(_page([1, 2, 3]))


def test_a_cursor_value_changing_its_json_type_is_a_protocol_error() -> None:
    p = _paginator()
    p.first_request()
    p.update_state(_page([1, 2, 3], sort_values=[3]))
    p.next_request()
    with pytest.raises(ProtocolError, match=r"sortValues\[0\] of page 2 is a str where"):
        p.update_state(_page([4, 5, 6], sort_values=["3"]))  # a string "3" cannot be ordered


def test_max_records_requests_a_smaller_last_page_and_never_emits_more() -> None:
    p = _paginator(max_records=7)
    sizes = []
    emitted = 0
    keys = iter(range(1, 100))
    while p.has_next:
        body = p.next_request()
        sizes.append(body["size"])
        emitted += len(p.update_state(_page([next(keys) for _ in range(body["size"])])))
    assert sizes == [3, 3, 1]
    assert emitted == 7


def test_max_records_counts_records_from_the_resumed_run() -> None:
    p = _paginator(max_records=5, start_cursor=[4], already_emitted=4)
    body = p.first_request()
    assert body["searchAfter"] == [4]
    assert body["size"] == 1
    p.update_state(_page([5]))
    assert not p.has_next


def test_max_records_already_reached_means_no_request() -> None:
    p = _paginator(max_records=4, start_cursor=[4], already_emitted=4)
    assert not p.has_next


def test_resume_cursor_of_wrong_length_is_rejected() -> None:
    with pytest.raises(ProtocolError, match="resume cursor"):
        _paginator(start_cursor=[1, 2])


def test_decision_instances_cursor_ends_with_string_id() -> None:
    p = _paginator(endpoint="decision-instances", sort=(SortSpec("evaluationDate", "DESC"),))
    p.first_request()
    items = {"items": [{"id": "9-1"}], "sortValues": [1700000000000, "9-1"], "total": 1}
    assert p.update_state(items) == [{"id": "9-1"}]
    assert not p.has_next
    assert p.cursor == [1700000000000, "9-1"]
