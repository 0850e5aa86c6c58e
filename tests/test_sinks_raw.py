"""The raw-bytes Parquet path (pyarrow.json) gives exactly the Python converter's batches.

Real simulator pages of every v1 endpoint go through both paths and are compared with
``RecordBatch.equals``; hand-made pages with every kind of deviation must either give the same
batch or, through the fallback, the same OutputError.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pytest

from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.errors import OutputError
from exporter.simulator import Simulator
from exporter.sinks import RecordConverter
from exporter.spec import ExportSpec
from exporter.transport.client import ApiClient
from tests.auth_helpers import source_for


def _pages(client: ApiClient, endpoint: str, size: int) -> list[tuple[bytes, list[dict[str, Any]]]]:
    path = V1_ENDPOINTS[endpoint].search_path
    pages, body = [], {"size": size}
    while True:
        raw, response = client.post_json_raw(path, body)
        pages.append((raw, response["items"]))
        if len(response["items"]) < size:
            return pages
        body = {"size": size, "searchAfter": response["sortValues"]}


@pytest.mark.parametrize("endpoint", sorted(V1_ENDPOINTS))
def test_real_pages_of_every_endpoint_convert_identically(
    simulator: Simulator, endpoint: str
) -> None:
    converter = RecordConverter(
        V1_ENDPOINTS[endpoint], ExportSpec(endpoint=endpoint, name=endpoint)
    )
    client = ApiClient(source_for(simulator))
    try:
        pages = _pages(client, endpoint, 97)
    finally:
        client.close()
    fast_pages = 0
    for raw, items in pages:
        if not items:
            continue
        expected = converter.convert(items)
        fast = converter._from_raw(raw, items)
        if fast is not None:
            fast_pages += 1
            assert fast.equals(expected), endpoint
        assert converter.convert(items, raw=raw).equals(expected)
    # The raw path is really taken (every simulator record fits its schema without extras).
    assert fast_pages == sum(1 for _, items in pages if items)


def test_decision_instances_with_evaluation_columns_stay_on_the_python_path() -> None:
    export = ExportSpec(endpoint="decision-instances", name="d", include_evaluation_details=True)
    converter = RecordConverter(V1_ENDPOINTS["decision-instances"], export)
    raw = orjson.dumps({"items": [{"id": "1-1", "key": 1}]})
    assert converter._raw_options is None  # nested columns: no raw path
    assert converter.convert([{"id": "1-1", "key": 1}], raw=raw).num_rows == 1


BIG = 2**62 + 3

DEVIATIONS = [
    pytest.param([{"key": BIG, "startDate": "2024-01-01T00:00:00.000+0000"}], id="plain"),
    pytest.param([{"key": BIG, "newField": {"a": [1, 2]}}], id="unknown-field-to-extra"),
    pytest.param([{"key": BIG, "state": None}], id="explicit-null"),
    pytest.param([{"key": BIG, "unknown": None}], id="unknown-null"),
    pytest.param([{"key": "123"}], id="string-key"),
    pytest.param([{"key": 1.0}], id="float-key"),
    pytest.param([{"key": 2**63}], id="key-beyond-int64"),
    pytest.param([{"key": 1, "startDate": "yesterday"}], id="bad-date"),
    pytest.param([{"key": 1, "startDate": "2024-01-01T00:00:00.123456+00:00"}], id="micros"),
    pytest.param([{"key": 1, "state": 5}], id="number-in-string-column"),
    pytest.param([{"key": 1, "incident": "yes"}], id="string-in-bool-column"),
    pytest.param([{"key": 1, "bpmnProcessId": ["x"]}], id="list-in-string-column"),
]


def _outcome(converter: RecordConverter, records: list[dict[str, Any]], raw: bytes | None) -> Any:
    try:
        return converter.convert(records, raw=raw)
    except OutputError as exc:
        return f"OutputError: {exc}"


@pytest.mark.parametrize("records", DEVIATIONS)
def test_deviations_give_the_same_batch_or_the_same_error(records: list[dict[str, Any]]) -> None:
    endpoint = "process-instances"
    converter = RecordConverter(V1_ENDPOINTS[endpoint], ExportSpec(endpoint=endpoint, name="pi"))
    raw = orjson.dumps({"items": records, "sortValues": [1], "total": len(records)})
    slow = _outcome(converter, records, None)
    fast = _outcome(converter, records, raw)
    if records == DEVIATIONS[0].values[0]:
        assert converter._from_raw(raw, records) is not None  # the clean page takes the raw path
    if isinstance(slow, pa.RecordBatch):
        assert isinstance(fast, pa.RecordBatch) and fast.equals(slow)
    else:
        assert fast == slow


def test_duplicate_json_keys_fall_back_to_the_parsed_records() -> None:
    # orjson keeps the last of duplicate keys; Arrow refuses them, so the records decide.
    converter = RecordConverter(
        V1_ENDPOINTS["process-instances"], ExportSpec(endpoint="process-instances", name="pi")
    )
    raw = b'{"items": [{"key": 1, "key": 2}]}'
    records = orjson.loads(raw)["items"]
    assert converter._from_raw(raw, records) is None
    assert converter.convert(records, raw=raw).column("key").to_pylist() == [2]


def test_int32_out_of_range_is_refused_on_both_paths() -> None:
    converter = RecordConverter(
        V1_ENDPOINTS["process-definitions"],
        ExportSpec(endpoint="process-definitions", name="pd"),
    )
    records = [{"key": 1, "version": 2**31}]
    raw = orjson.dumps({"items": records})
    assert converter._from_raw(raw, records) is None
    with pytest.raises(OutputError, match="version"):
        converter.convert(records, raw=raw)
