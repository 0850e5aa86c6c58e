"""Search semantics of the simulator over real HTTP (operate-api.md section 2)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import requests

from exporter.simulator import Simulator
from exporter.simulator.v1 import parse_date


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def search(
    http: requests.Session, sim: Simulator, resource: str, body: Any = None, **kw: Any
) -> requests.Response:
    path = "/v1/drd/search" if resource == "decision-requirements" else f"/v1/{resource}/search"
    data = None if body is None else orjson.dumps(body)
    headers = {"Content-Type": "application/json"} if data is not None else {}
    return http.post(sim.base_url + path, data=data, headers=headers, **kw)


def ok(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return orjson.loads(response.content)


def assert_problem(response: requests.Response, status: int, text: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = orjson.loads(response.content)
    assert set(body) == {"status", "message", "instance", "type"}
    assert body["status"] == status
    assert text in body["message"]
    return body


def test_body_is_optional_and_size_defaults_to_10(simulator, http):
    no_body = ok(search(http, simulator, "process-instances"))
    empty = ok(search(http, simulator, "process-instances", {}))
    assert len(no_body["items"]) == 10
    assert no_body == empty
    keys = [r["key"] for r in simulator.dataset.records("process-instances")[:10]]
    assert [i["key"] for i in no_body["items"]] == keys
    assert no_body["sortValues"] == [keys[-1]]
    assert no_body["total"] == 300


@pytest.mark.parametrize("size", [0, -1, 1001])
def test_size_outside_1_to_1000_is_400(simulator, http, size):
    assert_problem(
        search(http, simulator, "incidents", {"size": size}),
        400,
        "size should be greater than zero and less than 1000",
    )


def test_size_1000_is_accepted(simulator, http):
    body = ok(search(http, simulator, "flownode-instances", {"size": 1000}))
    assert len(body["items"]) == 1000


def test_filters_are_exact_and_anded(simulator, http):
    records = simulator.dataset.search_view("process-instances")
    want = [r for r in records if r["state"] == "COMPLETED" and r["tenantId"] == "tenant-a"]
    assert 0 < len(want) < len(records)
    body = ok(
        search(
            http,
            simulator,
            "process-instances",
            {"filter": {"state": "COMPLETED", "tenantId": "tenant-a"}, "size": 1000},
        )
    )
    assert body["items"] == want
    assert body["total"] == len(want)


def test_key_filter_accepts_numeric_string_and_alias(simulator, http):
    child = next(r for r in simulator.dataset.records("process-instances") if "parentKey" in r)
    by_alias = ok(
        search(
            http,
            simulator,
            "process-instances",
            {"filter": {"parentProcessInstanceKey": str(child["parentKey"])}},
        )
    )
    assert child["key"] in [i["key"] for i in by_alias["items"]]
    assert all(i["parentKey"] == child["parentKey"] for i in by_alias["items"])


def test_unknown_filter_field_is_400_naming_it(simulator, http):
    assert_problem(
        search(http, simulator, "variables", {"filter": {"colour": "red"}}), 400, "colour"
    )


@pytest.mark.parametrize(
    ("unit", "start", "end"),
    [
        ("M", "2026-10-01T00:00:00.000+0000", "2026-11-01T00:00:00.000+0000"),
        ("d", "2026-10-17T00:00:00.000+0000", "2026-10-18T00:00:00.000+0000"),
        ("h", "2026-10-17T11:00:00.000+0000", "2026-10-17T12:00:00.000+0000"),
        ("w", "2026-10-12T00:00:00.000+0000", "2026-10-19T00:00:00.000+0000"),
    ],
)
def test_date_math_selects_the_whole_unit(make_simulator, http, unit, start, end):
    sim = make_simulator(scale=2000, seed=3)
    low, high = parse_date(start), parse_date(end)
    rows = sim.dataset.raw_rows("flownode-instances")
    want = [r["key"] for r in rows if low <= r["startDate"] < high]
    assert want, "the dataset must have records in the unit"
    value = f"2026-10-17T11:50:25.729+0000||/{unit}"
    got: list[int] = []
    after = None
    while True:
        body = {"filter": {"startDate": value}, "size": 1000}
        if after:
            body["searchAfter"] = after
        page = ok(search(http, sim, "flownode-instances", body))
        got += [i["key"] for i in page["items"]]
        if len(page["items"]) < 1000:
            break
        after = page["sortValues"]
    assert got == want


def test_exact_date_filter_matches_the_instant(simulator, http):
    record = simulator.dataset.search_view("incidents")[0]
    body = ok(
        search(http, simulator, "incidents", {"filter": {"creationTime": record["creationTime"]}})
    )
    assert record in body["items"]
    assert all(i["creationTime"] == record["creationTime"] for i in body["items"])


def test_sort_gets_tiebreaker_and_dates_as_epoch_millis(simulator, http):
    body = ok(
        search(
            http,
            simulator,
            "process-instances",
            {"sort": [{"field": "startDate", "order": "DESC"}], "size": 5},
        )
    )
    last = body["items"][-1]
    millis = int(datetime.strptime(last["startDate"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)
    assert body["sortValues"] == [millis, last["key"]]
    dates = [i["startDate"] for i in body["items"]]
    assert dates == sorted(dates, reverse=True)


def test_decision_instance_tiebreaker_is_the_string_id(simulator, http):
    body = ok(search(http, simulator, "decision-instances", {"size": 3}))
    assert body["sortValues"] == [body["items"][-1]["id"]]
    assert isinstance(body["sortValues"][0], str)


def test_invalid_sort_field_is_400_and_unindexed_is_500(simulator, http):
    assert_problem(
        search(http, simulator, "incidents", {"sort": [{"field": "nope"}]}),
        400,
        "Sort has invalid field(s): nope",
    )
    assert_problem(
        search(http, simulator, "incidents", {"sort": [{"order": "ASC"}]}),
        400,
        "No 'field' given in sort",
    )
    assert_problem(
        search(http, simulator, "flownode-instances", {"sort": [{"field": "flowNodeName"}]}),
        500,
        "Error in reading",
    )


def test_search_after_validation(simulator, http):
    assert_problem(
        search(http, simulator, "variables", {"searchAfter": []}),
        400,
        "searchAfter should have a least 1 value",
    )
    sort = [{"field": "name", "order": "ASC"}]
    assert_problem(
        search(http, simulator, "variables", {"sort": sort, "searchAfter": ["x"]}),
        400,
        "searchAfter should have a 2 values",
    )
    # Without sort Operate does not check: the search engine fails -> 500.
    assert_problem(
        search(http, simulator, "variables", {"searchAfter": [1, 2]}), 500, "Error in reading"
    )
    assert_problem(
        search(http, simulator, "variables", {"searchAfter": [2.5e15]}), 500, "Error in reading"
    )


def test_numeric_string_search_after_is_coerced(simulator, http):
    first = ok(search(http, simulator, "process-instances", {"size": 5}))
    as_string = ok(
        search(
            http,
            simulator,
            "process-instances",
            {"size": 5, "searchAfter": [str(first["sortValues"][0])]},
        )
    )
    as_int = ok(
        search(
            http, simulator, "process-instances", {"size": 5, "searchAfter": first["sortValues"]}
        )
    )
    assert as_string == as_int
    assert as_int["items"][0]["key"] > first["items"][-1]["key"]


@pytest.mark.parametrize(
    ("resource", "sort"),
    [
        ("flownode-instances", None),
        ("flownode-instances", [{"field": "endDate", "order": "DESC"}]),
        ("variables", [{"field": "name"}, {"field": "scopeKey", "order": "DESC"}]),
        ("decision-instances", [{"field": "evaluationDate"}]),
        ("incidents", [{"field": "type", "order": "DESC"}]),
    ],
)
def test_paging_yields_every_record_exactly_once(simulator, http, resource, sort):
    body: dict[str, Any] = {"size": 97}
    if sort:
        body["sort"] = sort
    seen: list[Any] = []
    while True:
        page = ok(search(http, simulator, resource, body))
        seen += page["items"]
        if len(page["items"]) < body["size"]:
            break
        body["searchAfter"] = page["sortValues"]
    unique = "id" if resource == "decision-instances" else "key"
    truth = simulator.dataset.search_view(resource)
    assert sorted(i[unique] for i in seen) == sorted(r[unique] for r in truth)
    assert len(seen) == len(truth)


def test_missing_values_sort_last_with_long_sentinels(simulator, http):
    total = len(simulator.dataset.records("process-instances"))
    body = ok(
        search(
            http,
            simulator,
            "process-instances",
            {"sort": [{"field": "endDate", "order": "ASC"}], "size": 1000},
        )
    )
    ends = [i.get("endDate") for i in body["items"]]
    first_missing = ends.index(None)
    assert all(e is None for e in ends[first_missing:]) and len(ends) == total
    assert body["sortValues"][0] == 2**63 - 1


def test_empty_page_shape(simulator, http):
    body = ok(search(http, simulator, "incidents", {"filter": {"tenantId": "nobody"}}))
    assert body == {"items": [], "sortValues": [], "total": 0}
    last = simulator.dataset.records("incidents")[-1]["key"]
    after = ok(search(http, simulator, "incidents", {"searchAfter": [last]}))
    assert after["items"] == [] and after["sortValues"] == []


def test_total_is_capped_at_10000_but_paging_continues(make_simulator, http):
    sim = make_simulator(scale=2600, seed=1)
    real = len(sim.dataset.raw_rows("flownode-instances"))
    assert real > 10_000
    body: dict[str, Any] = {"size": 1000}
    count = 0
    while True:
        page = ok(search(http, sim, "flownode-instances", body))
        assert page["total"] == 10_000
        count += len(page["items"])
        if len(page["items"]) < 1000:
            break
        body["searchAfter"] = page["sortValues"]
    assert count == real


def test_keys_above_2_pow_53_are_exact(simulator, http):
    body = ok(search(http, simulator, "process-instances", {"size": 1000}))
    big = [i["key"] for i in body["items"] if i["key"] > 2**53]
    assert big
    raw = search(http, simulator, "process-instances", {"size": 1000}).text
    assert str(big[-1]) in raw  # written as an exact integer literal, not a float
    assert {k >> 51 for k in (i["key"] for i in body["items"])} == {1, 2, 3, 4, 5, 6}


def test_null_fields_are_omitted(simulator, http):
    raw = search(http, simulator, "process-instances", {"size": 1000}).content
    assert b"null" not in raw
    items = orjson.loads(raw)["items"]
    assert any("endDate" not in i for i in items) and any("parentKey" not in i for i in items)


def test_unauthenticated_shape_is_checked_elsewhere_problem_for_bad_json(simulator, http):
    response = http.post(
        simulator.base_url + "/v1/incidents/search",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400, "JSON")


def test_get_by_key_and_404(simulator, http):
    record = simulator.dataset.records("incidents")[3]
    got = http.get(f"{simulator.base_url}/v1/incidents/{record['key']}")
    assert orjson.loads(got.content) == record
    missing = http.get(f"{simulator.base_url}/v1/incidents/123")
    assert_problem(missing, 404, "123")
    assert_problem(http.get(f"{simulator.base_url}/v1/incidents/abc"), 400, "abc")


def test_stats_count_searches_and_items(make_simulator, http):
    sim = make_simulator(scale=20)
    ok(search(http, sim, "variables", {"size": 7}))
    http.get(sim.base_url + f"/v1/variables/{sim.dataset.records('variables')[0]['key']}")
    stats = orjson.loads(http.get(sim.base_url + "/__sim/stats").content)
    assert stats["searches"] == {"variables": 1}
    assert stats["gets"] == {"variables": 1}
    assert stats["items_served"] == 7 and stats["requests"] == 2
    assert stats == sim.stats()


def test_dates_use_operate_format(simulator, http):
    item = ok(search(http, simulator, "flownode-instances", {"size": 1}))["items"][0]
    parsed = datetime.strptime(item["startDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert item["startDate"].endswith("+0000") and parsed.tzinfo is not None
    assert datetime(2026, 9, 1, tzinfo=UTC) <= parsed <= datetime(2026, 11, 28, tzinfo=UTC)
