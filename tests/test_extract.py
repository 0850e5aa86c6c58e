"""Extraction against the simulator over HTTP: paging + hydration yield exactly the truth.

Expectations are computed here from ``sim.dataset`` with the test's own filter and sort logic,
never from the exporter's code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from exporter.api import get_endpoint, make_paginator
from exporter.pipeline.fetch import iter_pages
from exporter.pipeline.hydrate import Hydrator
from exporter.simulator import Simulator
from exporter.spec import ExportSpec, RetrySpec, SortSpec, SourceSpec
from exporter.transport.client import ApiClient
from exporter.transport.http import RequestStats

ENDPOINTS = (
    "process-definitions",
    "process-instances",
    "incidents",
    "flownode-instances",
    "variables",
    "decision-definitions",
    "decision-requirements",
    "decision-instances",
)
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
ALIASES = {"parentProcessInstanceKey": "parentKey"}


@pytest.fixture(scope="module")
def sim(simulator: Simulator) -> Simulator:
    return simulator  # conftest's shared read-only simulator (scale 300, seed 7)


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Iterator[ApiClient]:
    source = SourceSpec(base_url=sim.base_url, retry=RetrySpec(initial_backoff_seconds=0.01))
    api = ApiClient(source)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def extract(
    client: ApiClient, export: ExportSpec, pool: ThreadPoolExecutor | None = None
) -> tuple[list[dict[str, Any]], list[int]]:
    """Run the exporter's paging loop and hydration; returns records and page sizes asked."""
    endpoint = get_endpoint(export.endpoint)
    paginator = make_paginator(endpoint, export)
    hydrator = Hydrator(client, endpoint, export, pool)
    records: list[dict[str, Any]] = []
    sizes: list[int] = []
    stats = RequestStats()
    for page in iter_pages(client, endpoint, paginator, stats):
        sizes.append(len(page.items))
        records.extend(hydrator.hydrate_page(page.items, stats))
    return records, sizes


# -- the test's own model of Operate's filter and sort semantics ----------------------------


def _millis(text: str) -> int:
    return int(dt.datetime.strptime(text, DATE_FORMAT).timestamp() * 1000)


def _date_match(actual: str | None, wanted: str) -> bool:
    if actual is None:
        return False
    value, _, unit = wanted.partition("||/")
    a = dt.datetime.strptime(actual, DATE_FORMAT).astimezone(dt.UTC)
    w = dt.datetime.strptime(value, DATE_FORMAT).astimezone(dt.UTC)
    if not unit:
        return a == w
    cut = {"d": 3, "h": 4, "m": 5}[unit]
    fields = ("year", "month", "day", "hour", "minute")[:cut]
    return all(getattr(a, f) == getattr(w, f) for f in fields)


def expected(
    sim: Simulator,
    name: str,
    filt: dict[str, Any] | None = None,
    sort: tuple[SortSpec, ...] = (),
    hydrated: bool = True,
) -> list[dict[str, Any]]:
    rows = sim.dataset.records(name) if hydrated else sim.dataset.search_view(name)
    endpoint = get_endpoint(name)
    for field, wanted in (filt or {}).items():
        field = ALIASES.get(field, field)
        if field in endpoint.fields_of_kind(*_date_kinds()):
            rows = [r for r in rows if _date_match(r.get(field), wanted)]
        else:
            rows = [r for r in rows if r.get(field) == wanted]
    unique = endpoint.unique_key
    rows = sorted(rows, key=lambda r: r[unique])
    for spec in reversed(sort):  # stable sorts, last key first
        convert = _millis if spec.field in endpoint.fields_of_kind(*_date_kinds()) else str
        rows = sorted(rows, key=lambda r: convert(r[spec.field]), reverse=spec.order == "DESC")
    return rows


def _date_kinds() -> tuple[Any, ...]:
    from exporter.api.types import Kind

    return (Kind.DATE,)


# Small pages on small endpoints (many page boundaries), bigger ones where there are many rows.
PAGE_SIZES = {
    "flownode-instances": 97,
    "variables": 61,
    "process-instances": 23,
    "decision-requirements": 4,
}


def _export(name: str, **kw: Any) -> ExportSpec:
    hydrating = {"include_evaluation_details": True} if name == "decision-instances" else {}
    page_size = PAGE_SIZES.get(name, 7)
    return ExportSpec(endpoint=name, name=name, **{"page_size": page_size, **hydrating, **kw})


# -- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_endpoint_unfiltered_yields_the_truth(
    sim: Simulator, client: ApiClient, pool: ThreadPoolExecutor, name: str
) -> None:
    records, sizes = extract(client, _export(name), pool)
    truth = expected(sim, name)
    assert records == truth
    unique = get_endpoint(name).unique_key
    assert len({r[unique] for r in records}) == len(records)
    assert len(sizes) > 1
    assert sizes[-1] < PAGE_SIZES.get(name, 7)  # ended on a short page, not on total


@pytest.mark.parametrize(
    ("name", "filt"),
    [
        ("process-definitions", {"bpmnProcessId": "invoice-approval"}),
        ("process-instances", {"state": "COMPLETED", "tenantId": "tenant-a"}),
        ("incidents", {"state": "ACTIVE"}),
        ("flownode-instances", {"type": "SERVICE_TASK"}),
        ("variables", {"name": "payload"}),
        ("decision-definitions", {"decisionId": "invoice-classification"}),
        ("decision-requirements", {"decisionRequirementsId": "invoice-decisions"}),
        ("decision-instances", {"state": "FAILED"}),
    ],
)
def test_every_endpoint_filtered_yields_the_matching_records(
    sim: Simulator, client: ApiClient, pool: ThreadPoolExecutor, name: str, filt: dict[str, Any]
) -> None:
    records, _ = extract(client, _export(name, filter=filt), pool)
    truth = expected(sim, name, filt)
    assert truth, "the filter should match something in the simulated data"
    assert len(truth) < len(sim.dataset.records(name))
    assert records == truth


@pytest.mark.parametrize(
    ("name", "field", "unit"),
    [
        ("process-instances", "startDate", "d"),
        ("flownode-instances", "startDate", "d"),
        ("incidents", "creationTime", "d"),
        ("decision-instances", "evaluationDate", "d"),
        ("process-instances", "endDate", "h"),
    ],
)
def test_date_math_filters(
    sim: Simulator, client: ApiClient, name: str, field: str, unit: str
) -> None:
    sample = next(r[field] for r in sim.dataset.records(name) if field in r)
    filt = {field: f"{sample}||/{unit}"}
    records, _ = extract(client, _export(name, filter=filt, page_size=3))
    truth = expected(sim, name, filt)
    assert truth
    assert records == truth


SORTS = [
    ("process-instances", (SortSpec("startDate", "ASC"),)),
    ("process-instances", (SortSpec("startDate", "DESC"),)),
    ("process-instances", (SortSpec("bpmnProcessId", "ASC"),)),
    ("process-instances", (SortSpec("bpmnProcessId", "DESC"), SortSpec("startDate", "ASC"))),
    ("incidents", (SortSpec("creationTime", "DESC"),)),
    ("flownode-instances", (SortSpec("flowNodeId", "DESC"),)),
    ("variables", (SortSpec("name", "ASC"),)),
    ("decision-instances", (SortSpec("evaluationDate", "DESC"),)),
    ("decision-definitions", (SortSpec("decisionId", "ASC"),)),
    ("decision-requirements", (SortSpec("name", "DESC"),)),
    ("process-definitions", (SortSpec("bpmnProcessId", "DESC"),)),
]


@pytest.mark.parametrize(
    ("name", "sort"), SORTS, ids=[f"{n}-{'-'.join(s.field + s.order for s in o)}" for n, o in SORTS]
)
def test_sorts_on_dates_and_strings(
    sim: Simulator, client: ApiClient, pool: ThreadPoolExecutor, name: str, sort: Any
) -> None:
    records, _ = extract(client, _export(name, sort=sort), pool)
    assert records == expected(sim, name, sort=sort)


@pytest.mark.parametrize("page_size", [30, 50, 299, 300, 1000])
def test_page_sizes_that_do_and_do_not_divide_the_count(
    sim: Simulator, client: ApiClient, page_size: int
) -> None:
    records, sizes = extract(client, _export("process-instances", page_size=page_size))
    assert len(sim.dataset.records("process-instances")) == 300
    assert records == expected(sim, "process-instances")
    if 300 % page_size == 0:
        assert sizes[-1] == 0  # the empty page after an exact fit ends the loop
    assert all(s == page_size for s in sizes[:-1])


def test_page_size_one(sim: Simulator, client: ApiClient) -> None:
    records, sizes = extract(client, _export("incidents", page_size=1))
    assert records == expected(sim, "incidents")
    assert sizes == [1] * len(records) + [0]


def test_keys_above_2_pow_53_survive_exactly(sim: Simulator, client: ApiClient) -> None:
    records, _ = extract(client, _export("flownode-instances", page_size=500))
    big = [r["key"] for r in records if r["key"] > 2**53]
    assert big, "the simulated data should contain partition >= 4 keys"
    truth_keys = {r["key"] for r in sim.dataset.records("flownode-instances")}
    assert set(big) <= truth_keys
    assert all(type(k) is int for k in big)


@pytest.mark.parametrize(("max_records", "page_size"), [(25, 10), (30, 10), (5, 1000)])
def test_max_records_caps_without_over_fetching(
    sim: Simulator, client: ApiClient, max_records: int, page_size: int
) -> None:
    export = _export("variables", page_size=page_size, max_records=max_records)
    sim.reset_stats()
    records, sizes = extract(client, export)
    assert records == expected(sim, "variables")[:max_records]
    assert sum(sizes) == max_records
    assert sim.stats()["items_served"] == max_records


def test_truncated_variables_are_completed_from_get_by_key(
    sim: Simulator, client: ApiClient, pool: ThreadPoolExecutor
) -> None:
    truncated = {r["key"] for r in sim.dataset.search_view("variables") if r["truncated"]}
    assert truncated
    records, _ = extract(client, _export("variables", page_size=300), pool)
    by_key = {r["key"]: r for r in records}
    truth = {r["key"]: r for r in sim.dataset.records("variables")}
    for key in truncated:
        assert by_key[key]["truncated"] is False
        assert by_key[key]["value"] == truth[key]["value"]
        assert len(by_key[key]["value"]) > 128


def test_hydrate_false_keeps_the_search_view(sim: Simulator, client: ApiClient) -> None:
    records, _ = extract(client, _export("variables", page_size=300, hydrate=False))
    assert records == sim.dataset.search_view("variables")
    assert any(r["truncated"] for r in records)


def test_decision_instances_without_details_are_the_search_view(
    sim: Simulator, client: ApiClient
) -> None:
    export = ExportSpec(endpoint="decision-instances", name="di", page_size=50)
    records, _ = extract(client, export)
    assert records == sim.dataset.search_view("decision-instances")
    assert not any("evaluatedInputs" in r for r in records)


@pytest.mark.parametrize(
    ("name", "field"), [("process-definitions", "bpmnXml"), ("decision-requirements", "dmnXml")]
)
def test_include_xml_adds_the_definition_xml(
    sim: Simulator, client: ApiClient, pool: ThreadPoolExecutor, name: str, field: str
) -> None:
    records, _ = extract(client, _export(name, include_xml=True, page_size=4), pool)
    assert len(records) == len(sim.dataset.records(name))
    for record in records:
        xml = record.pop(field)
        assert xml == sim.dataset.xml(name, record["key"])
        assert xml.lstrip().startswith("<")
    assert records == sim.dataset.records(name)
