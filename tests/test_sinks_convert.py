"""Records -> Arrow batch: exact keys, both date offsets, nulls, _extra, loud mismatches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pytest
from sinks_records import BIG_KEY, make_pages

from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.errors import OutputError
from exporter.sinks import EXTRA_COLUMN, RecordConverter

PI = V1_ENDPOINTS["process-instances"]
DI = V1_ENDPOINTS["decision-instances"]


def convert(records: list[dict[str, Any]], endpoint: str = "process-instances", **flags: Any):
    from exporter.spec import ExportSpec

    export = ExportSpec(endpoint=endpoint, name="my-export", **flags)
    return RecordConverter(V1_ENDPOINTS[endpoint], export).convert(records)


def test_both_date_offsets_give_the_same_utc_instant() -> None:
    batch = convert(
        [
            {"key": 1, "startDate": "2022-03-17T11:50:25.729+0000"},
            {"key": 2, "startDate": "2022-03-17T11:50:25.729+00:00"},
            {"key": 3, "startDate": "2022-03-17T13:50:25.729+0200"},
        ]
    )
    expected = datetime(2022, 3, 17, 11, 50, 25, 729000, tzinfo=UTC)
    assert batch.column("startDate").to_pylist() == [expected] * 3
    assert batch.schema.field("startDate").type == pa.timestamp("ms", tz="UTC")


def test_keys_beyond_2_pow_53_stay_exact() -> None:
    keys = [2**53 + 1, 2**63 - 1, BIG_KEY, -(2**63)]
    batch = convert([{"key": k, "processDefinitionKey": k} for k in keys])
    assert batch.column("key").to_pylist() == keys
    assert batch.column("processDefinitionKey").to_pylist() == keys


def test_omitted_fields_become_nulls_and_extra_stays_null() -> None:
    batch = convert([{"key": 1}, {"key": 2, "state": "ACTIVE", "incident": True}])
    assert batch.column("state").to_pylist() == [None, "ACTIVE"]
    assert batch.column("endDate").to_pylist() == [None, None]
    assert batch.column("incident").to_pylist() == [None, True]
    assert batch.column(EXTRA_COLUMN).to_pylist() == [None, None]


def test_explicit_null_is_not_mistaken_for_an_unknown_field() -> None:
    batch = convert([{"key": 1, "endDate": None}])
    assert batch.column("endDate").to_pylist() == [None]
    assert batch.column(EXTRA_COLUMN).to_pylist() == [None]


def test_unknown_fields_are_kept_in_extra_as_json_object_text() -> None:
    newer = {"key": 1, "state": "ACTIVE", "tags": ["a"], "bigCount": 2**63 - 1}
    batch = convert([newer, {"key": 2}])
    extra = batch.column(EXTRA_COLUMN).to_pylist()
    assert orjson.loads(extra[0]) == {"tags": ["a"], "bigCount": 2**63 - 1}
    assert list(orjson.loads(extra[0])) == ["tags", "bigCount"]  # API key order kept
    assert extra[1] is None
    assert batch.column("state").to_pylist() == ["ACTIVE", None]


def test_unrequested_hydrated_field_goes_to_extra_not_lost() -> None:
    record = {"id": "1-1", "key": 5, "evaluatedInputs": [{"id": "i", "name": "n", "value": "1"}]}
    batch = convert([record], endpoint="decision-instances")
    assert "evaluatedInputs" not in batch.schema.names
    assert orjson.loads(batch.column(EXTRA_COLUMN)[0].as_py()) == {
        "evaluatedInputs": record["evaluatedInputs"]
    }


def test_evaluated_inputs_outputs_as_list_of_struct() -> None:
    record = {
        "id": "7-1",
        "key": 7,
        "evaluatedInputs": [{"id": "i1", "name": "Amount", "value": "100"}],
        "evaluatedOutputs": [
            {"id": "o1", "name": "Ok", "value": "true", "ruleId": "r1", "ruleIndex": 2}
        ],
    }
    batch = convert(
        [record, {"id": "8-1", "key": 8}], "decision-instances", include_evaluation_details=True
    )
    assert batch.column("evaluatedInputs").to_pylist() == [record["evaluatedInputs"], None]
    assert batch.column("evaluatedOutputs").to_pylist() == [record["evaluatedOutputs"], None]
    assert batch.column(EXTRA_COLUMN).to_pylist() == [None, None]


def test_unknown_nested_key_keeps_the_original_list_in_extra() -> None:
    outputs = [{"id": "o", "name": "n", "value": "1", "ruleId": "r", "ruleIndex": 0, "new": 1}]
    batch = convert(
        [{"id": "1-1", "key": 1, "evaluatedOutputs": outputs}],
        "decision-instances",
        include_evaluation_details=True,
    )
    assert orjson.loads(batch.column(EXTRA_COLUMN)[0].as_py()) == {"evaluatedOutputs": outputs}


@pytest.mark.parametrize(
    ("field", "value", "got"),
    [
        pytest.param("key", "2251799813685249", "got string", id="string-in-key"),
        pytest.param("key", 2**64, "integer beyond int64", id="int-beyond-int64"),
        pytest.param("key", 2**63, "integer beyond int64", id="int-just-beyond-int64"),
        pytest.param("key", 1.5, "got float", id="float-in-key"),
        pytest.param("key", 2.0, "got float", id="integral-float-in-key"),
        pytest.param("parentKey", True, "got boolean", id="bool-in-key"),
        pytest.param("processVersion", 2**31, "got integer", id="int32-overflow"),
        pytest.param("incident", "true", "got string", id="string-in-bool"),
        pytest.param("incident", 1, "got integer", id="int-in-bool"),
        pytest.param("state", 3, "got integer", id="int-in-enum"),
        pytest.param("startDate", "yesterday", "not such a date", id="unparseable-date"),
        pytest.param("startDate", "2021-01-02T03:04:05.678", "not such a date", id="naive-date"),
        pytest.param("endDate", 1646904085499, "got integer", id="epoch-number-date"),
    ],
)
def test_type_mismatch_fails_loudly_naming_export_field_and_type(
    field: str, value: Any, got: str
) -> None:
    good = {"key": 10, "processVersion": 1}
    bad = {"key": 11, "processVersion": 1, field: value}
    if field == "key":
        bad = {field: value}
    with pytest.raises(OutputError) as info:
        convert([good, bad])
    message = str(info.value)
    assert "'my-export'" in message
    assert f"field {field!r}" in message
    assert got in message
    if field != "key":
        assert "record key=11" in message
    if isinstance(value, str):
        assert value not in message  # values are never echoed (they can hold anything)


def test_mismatch_inside_evaluated_outputs_fails() -> None:
    bad = [{"id": "o", "name": "n", "value": "1", "ruleId": "r", "ruleIndex": "zero"}]
    with pytest.raises(OutputError, match="evaluatedOutputs"):
        convert(
            [{"id": "1-1", "key": 1, "evaluatedOutputs": bad}],
            "decision-instances",
            include_evaluation_details=True,
        )


@pytest.mark.parametrize("name", sorted(V1_ENDPOINTS))
def test_synthetic_pages_of_every_endpoint_convert(name: str) -> None:
    from exporter.spec import ExportSpec

    export = ExportSpec(endpoint=name, name="x", include_xml=True, include_evaluation_details=True)
    (page,) = make_pages(V1_ENDPOINTS[name], export, 40, 40)
    batch = RecordConverter(V1_ENDPOINTS[name], export).convert(page)
    assert batch.num_rows == 40
    assert batch.column(EXTRA_COLUMN).null_count == 40
    for column_name in V1_ENDPOINTS[name].field_names:
        column = batch.column(column_name)
        values = [r.get(column_name) for r in page]
        assert column.null_count == values.count(None), column_name
