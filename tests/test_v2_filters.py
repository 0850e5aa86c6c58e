"""v2 filter validation, evaluation and cursors (pure functions, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from exporter.api.types import Kind
from exporter.api.v2.filters import (
    CursorError,
    cursor_values,
    decode_cursor,
    encode_cursor,
    format_rfc3339,
    like_pattern,
    matches_v2_filter,
    parse_rfc3339,
    to_wire_filter,
    validate_v2_filter,
    validate_v2_page_limit,
    validate_v2_sort,
)
from exporter.api.v2.registry import V2_ENDPOINTS, V2Field, get_v2_endpoint
from exporter.spec import SortSpec

PI = get_v2_endpoint("process-instances")
INCIDENTS = get_v2_endpoint("incidents")
TASKS = get_v2_endpoint("user-tasks")
BIG = 2**53 + 1  # not representable as a float
WHERE = "exports[0].filter"


def problems(filter_doc: object, endpoint=PI, version: str = "8.8") -> list[str]:
    return [str(p) for p in validate_v2_filter(filter_doc, endpoint, WHERE, server_version=version)]


# -- validation -------------------------------------------------------------------------------


def test_a_real_date_range_and_plain_values_are_valid() -> None:
    doc = {
        "startDate": {"$gte": "2025-06-01T00:00:00Z", "$lt": "2025-06-02T00:00:00+02:00"},
        "state": "ACTIVE",
        "processDefinitionId": {"$like": "order-*", "$neq": "order-test"},
        "processInstanceKey": {"$in": [str(BIG), BIG]},
        "processDefinitionVersion": {"$gte": 2},
        "hasIncident": False,
        "endDate": {"$exists": False},
    }
    assert problems(doc) == []


def test_every_operator_of_every_filter_field_is_accepted_with_a_valid_operand() -> None:
    samples = {
        Kind.KEY: "2251799813685249",
        Kind.DATE: "2025-06-07T13:14:15.123Z",
        Kind.INT32: 3,
        Kind.STRING: "x",
        Kind.JSON_TEXT: '"x"',
    }
    checked = 0
    for endpoint in V2_ENDPOINTS.values():
        for name in endpoint.filter_fields:
            spec = endpoint.filter_field(name)
            assert spec is not None
            sample = spec.enum[0] if spec.kind is Kind.ENUM else samples.get(spec.kind)  # type: ignore[arg-type]
            if sample is None or not spec.exists_in("8.8"):
                continue
            for op in spec.operators:
                operand = {"$exists": True, "$in": [sample], "$notIn": [sample]}.get(op, sample)
                if op == "$like":
                    operand = "a*"
                found = problems({name: {op: operand}}, endpoint)
                assert found == [], (endpoint.name, name, op, found)
                checked += 1
    assert checked > 150


def test_operator_outside_the_fields_schema_is_located_and_lists_the_allowed_ones() -> None:
    found = problems({"processInstanceKey": {"$like": "22*"}, "startDate": {"$notIn": ["x"]}})
    assert found == [
        f"{WHERE}.processInstanceKey.$like: $like is not supported on processInstanceKey; "
        "allowed: $eq $neq $exists $in $notIn",
        f"{WHERE}.startDate.$notIn: $notIn is not supported on startDate; "
        "allowed: $eq $neq $exists $in $gt $gte $lt $lte",
    ]


def test_plain_only_field_rejects_operators() -> None:
    assert problems({"hasIncident": {"$eq": True}}) == [
        f"{WHERE}.hasIncident.$eq: hasIncident takes a plain value only (exact match)"
    ]


def test_89_operators_are_refused_for_88_and_accepted_for_89() -> None:
    doc = {"errorType": {"$in": ["JOB_NO_RETRIES", "IO_MAPPING_ERROR"]}}
    assert problems(doc, INCIDENTS, "8.8") == [
        f"{WHERE}.errorType.$in: errorType takes a plain value only (exact match) "
        "(Camunda 8.9 and later accept it)"
    ]
    assert problems(doc, INCIDENTS, "8.9") == []


def test_89_only_fields_need_89() -> None:
    assert problems({"businessId": "b-1"}) == [
        f"{WHERE}.businessId: businessId needs Camunda 8.9 or later"
    ]
    assert problems({"businessId": "b-1"}, version="8.9") == []


def test_unknown_operator_and_field_and_v1_names() -> None:
    found = problems({"state": {"$regex": "A.*"}, "bpmnProcessId": "x", "nope": 1})
    assert found[0].startswith(f"{WHERE}.state.$regex: unknown operator; v2 operators are $eq")
    assert found[1] == (
        f"{WHERE}.bpmnProcessId: 'bpmnProcessId' is not a filter field of process-instances "
        "on API v2; v2 calls it 'processDefinitionId'"
    )
    assert found[2].startswith(f"{WHERE}.nope: 'nope' is not a filter field")
    assert "filterable fields: processInstanceKey" in found[2]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"state": "CANCELED"}, "state: 'CANCELED' is the v1 value; v2 calls it 'TERMINATED'"),
        ({"state": {"$in": ["ACTIVE", "NOPE"]}}, "state.$in[1]: 'NOPE' is not one of"),
        ({"startDate": ""}, "startDate: an empty date is not a filter"),
        ({"startDate": "2025-06-01"}, "startDate: '2025-06-01' is not an RFC 3339 date-time"),
        ({"startDate": "2025-06-01T00:00:00"}, "is not an RFC 3339 date-time with offset"),
        ({"startDate": "2025-06-01T00:00:00.000+0000"}, "not an RFC 3339"),
        ({"startDate": "2025-06-01||/d"}, "date math (||/d) is v1 only"),
        ({"startDate": datetime(2025, 6, 1)}, "without a UTC offset"),
        ({"processInstanceKey": "12a"}, "'12a' is not a key"),
        ({"processInstanceKey": 2**64}, "does not fit a 64-bit key"),
        ({"processInstanceKey": True}, "a key is a string of digits"),
        ({"processInstanceKey": {"$in": []}}, "$in takes a non-empty list"),
        ({"endDate": {"$exists": "no"}}, "$exists takes true or false"),
        ({"processDefinitionVersion": "2"}, "expected an integer"),
        ({"processDefinitionVersion": 2**31}, "does not fit int32"),
        ({"hasIncident": "yes"}, "expected true or false"),
        ({"startDate": {}}, "empty operator object"),
        ({"variables": [{"name": "x"}]}, "variables[0]: expected {name: <variable>, value"),
        ({"variables": [{"name": "x", "value": {"$gt": "1"}}]}, "variables[0].value.$gt"),
        ({"$or": []}, "$or takes a non-empty list"),
        ({"$or": [{"$or": [{"state": "ACTIVE"}]}]}, "$or[0].$or: $or cannot be nested"),
        ({"$or": [{"state": "CANCELED"}]}, "$or[0].state: 'CANCELED' is the v1 value"),
    ],
)
def test_bad_values_are_located(doc: dict, expected: str) -> None:
    found = problems(doc)
    assert len(found) == 1, found
    assert expected in found[0]
    assert found[0].startswith(WHERE + ".")


def test_a_filter_must_be_a_mapping_and_versions_are_checked() -> None:
    assert problems(["state"]) == [f"{WHERE}: a filter is a mapping of field -> value or operators"]
    with pytest.raises(ValueError, match="server_version"):
        validate_v2_filter({}, PI, WHERE, server_version="8.7")


def test_sort_and_page_limit_validation() -> None:
    assert validate_v2_sort([SortSpec("startDate"), {"field": "processInstanceKey"}], PI, "s") == []
    found = [str(p) for p in validate_v2_sort([SortSpec("bpmnProcessId", "UP")], PI, "s")]
    assert found == [
        "s[0].field: 'bpmnProcessId' is not sortable; v2 calls it 'processDefinitionId'",
        "s[0].order: order is ASC or DESC",
    ]
    found = [str(p) for p in validate_v2_sort([SortSpec("userTaskKey")], TASKS, "s")]
    assert found[0].startswith("s[0].field: 'userTaskKey' is not sortable; sortable fields: ")
    assert validate_v2_page_limit(10_000, PI, "p") == []
    assert [str(p) for p in validate_v2_page_limit(10_001, PI, "p")] == [
        "p: v2 page limit is 1..10000, got 10001"
    ]
    assert validate_v2_page_limit(True, PI, "p")[0].message == "expected an integer"


# -- evaluation -------------------------------------------------------------------------------

RECORD = {
    "processInstanceKey": str(BIG),
    "processDefinitionId": "order-process",
    "processDefinitionVersion": 3,
    "startDate": "2025-06-01T10:00:00.000Z",
    "endDate": None,
    "state": "ACTIVE",
    "hasIncident": False,
    "tenantId": "<default>",
    "tags": ["vip", "eu"],
}


def match(doc: dict, record: dict = RECORD, endpoint=PI, **kw) -> bool:
    assert validate_v2_filter(doc, endpoint, "f", server_version="8.9") == [], doc
    return matches_v2_filter(doc, record, endpoint, **kw)


def test_plain_value_is_eq_and_keys_compare_exactly_beyond_2_pow_53() -> None:
    assert match({"processInstanceKey": str(BIG)})
    assert match({"processInstanceKey": BIG})
    assert not match({"processInstanceKey": str(BIG - 1)})  # equal as floats, not as keys
    assert match({"processInstanceKey": {"$eq": str(BIG)}})
    assert match({"processInstanceKey": {"$neq": str(BIG - 1)}})
    assert not match({"processInstanceKey": {"$neq": str(BIG)}})


def test_in_and_not_in() -> None:
    assert match({"state": {"$in": ["COMPLETED", "ACTIVE"]}})
    assert not match({"state": {"$in": ["COMPLETED", "TERMINATED"]}})
    assert match({"processInstanceKey": {"$notIn": [str(BIG - 1)]}})
    assert not match({"processInstanceKey": {"$notIn": [str(BIG)]}})


def test_integer_ranges() -> None:
    assert match({"processDefinitionVersion": {"$gt": 2, "$lte": 3}})
    assert not match({"processDefinitionVersion": {"$gt": 3}})
    assert match({"processDefinitionVersion": {"$gte": 3, "$lt": 4}})
    assert not match({"processDefinitionVersion": {"$lt": 3}})


def test_dates_compare_as_instants_whatever_the_offset() -> None:
    # 12:00+02:00 is 10:00Z: the same instant.
    assert match({"startDate": "2025-06-01T12:00:00+02:00"})
    assert match(
        {"startDate": {"$gte": "2025-06-01T12:00:00+02:00", "$lt": "2025-06-01T10:00:00.001Z"}}
    )
    assert not match({"startDate": {"$gt": "2025-06-01T12:00:00+02:00"}})
    assert match({"startDate": {"$lte": datetime(2025, 6, 1, 10, tzinfo=UTC)}})
    assert not match({"startDate": {"$lt": datetime(2025, 6, 1, 10, tzinfo=UTC)}})


def test_exists_and_missing_fields() -> None:
    assert match({"endDate": {"$exists": False}})
    assert not match({"endDate": {"$exists": True}})
    assert match({"startDate": {"$exists": True}})
    # A missing value matches only the negative operators.
    assert match({"endDate": {"$neq": "2025-06-01T10:00:00Z"}})
    assert not match({"endDate": "2025-06-01T10:00:00Z"})
    assert not match({"endDate": {"$gte": "2000-01-01T00:00:00Z"}})


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("order-*", "order-process", True),
        ("*process", "order-process", True),
        ("order-?rocess", "order-process", True),
        ("order-?", "order-process", False),
        ("order", "order-process", False),  # whole value, not a substring
        ("Order-*", "order-process", False),  # case-sensitive
        (r"a\*b", "a*b", True),
        (r"a\*b", "axxb", False),
        (r"a\?b", "axb", False),
        ("a.b", "axb", False),  # regex metacharacters are literal
        ("*", "", True),
    ],
)
def test_like_wildcards(pattern: str, value: str, expected: bool) -> None:
    assert (like_pattern(pattern).fullmatch(value) is not None) is expected


def test_like_on_a_record() -> None:
    assert match({"processDefinitionId": {"$like": "order-*", "$neq": "order-test"}})
    assert not match({"processDefinitionId": {"$like": "order-*", "$neq": "order-process"}})
    assert match({"state": {"$like": "ACT*"}})


def test_top_level_fields_and_or_groups() -> None:
    assert match(
        {"state": "ACTIVE", "$or": [{"hasIncident": True}, {"processDefinitionVersion": 3}]}
    )
    assert not match(
        {"state": "ACTIVE", "$or": [{"hasIncident": True}, {"processDefinitionVersion": 4}]}
    )
    assert not match({"state": "COMPLETED", "$or": [{"processDefinitionVersion": 3}]})


def test_variable_filters_use_the_lookup() -> None:
    seen: list[str] = []

    def lookup(name: str, record: dict) -> dict[str, str]:
        seen.append(name)
        return {"region": '"eu"', "amount": "42"}

    assert match({"variables": [{"name": "region", "value": '"eu"'}]}, variables=lookup)
    assert match({"variables": [{"name": "region", "value": {"$like": '"e*'}}]}, variables=lookup)
    assert not match({"variables": [{"name": "amount", "value": "41"}]}, variables=lookup)
    assert not match({"variables": [{"name": "missing", "value": "1"}]}, variables=lookup)
    assert seen == ["variables"] * 4
    with pytest.raises(ValueError, match="variables lookup"):
        matches_v2_filter({"variables": [{"name": "a", "value": "1"}]}, RECORD, PI)


def test_tags_and_list_attributes() -> None:
    assert match({"tags": ["vip"]})
    assert not match({"tags": ["vip", "us"]})
    task = {"userTaskKey": "1", "candidateGroups": ["sales", "ops"], "candidateUsers": []}
    assert match({"candidateGroup": "ops"}, task, TASKS)
    assert match({"candidateGroup": {"$like": "sa*"}}, task, TASKS)
    assert not match({"candidateGroup": {"$neq": "ops"}}, task, TASKS)
    assert match({"candidateUser": {"$exists": False}}, task, TASKS)


def test_string_decision_instance_keys_compare_as_strings() -> None:
    di = get_v2_endpoint("decision-instances")
    record = {"decisionEvaluationInstanceKey": "2251799813685262-2"}
    assert match({"decisionEvaluationInstanceKey": "2251799813685262-2"}, record, di)
    assert not match({"decisionEvaluationInstanceKey": "2251799813685262-1"}, record, di)


def test_unknown_field_at_evaluation_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown v2 filter field"):
        matches_v2_filter({"bpmnProcessId": "x"}, RECORD, PI)


# -- wire form and dates ----------------------------------------------------------------------


def test_wire_filter_sends_keys_as_strings_and_dates_as_rfc3339() -> None:
    cest = timezone(timedelta(hours=2))
    doc = {
        "processInstanceKey": {"$in": [BIG, "5"]},
        "parentProcessInstanceKey": BIG,
        "startDate": {"$gte": datetime(2025, 6, 1, 2, 0, 0, 123456, tzinfo=cest)},
        "endDate": {"$exists": False},
        "processDefinitionVersion": 2,
        "$or": [{"processDefinitionKey": 7}],
    }
    assert to_wire_filter(doc, PI) == {
        "processInstanceKey": {"$in": [str(BIG), "5"]},
        "parentProcessInstanceKey": str(BIG),
        "startDate": {"$gte": "2025-06-01T00:00:00.123Z"},
        "endDate": {"$exists": False},
        "processDefinitionVersion": 2,
        "$or": [{"processDefinitionKey": "7"}],
    }


def test_rfc3339_parse_and_format() -> None:
    moment = parse_rfc3339("2025-07-08T07:15:19.302123456+02:00")
    assert moment == datetime(2025, 7, 8, 5, 15, 19, 302123, tzinfo=UTC)
    assert format_rfc3339(moment) == "2025-07-08T05:15:19.302Z"
    assert parse_rfc3339("2025-07-08t05:15:19z") == datetime(2025, 7, 8, 5, 15, 19, tzinfo=UTC)
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339("2025-07-08T05:15:19.302+0000")  # v1's form
    with pytest.raises(ValueError, match="offset"):
        format_rfc3339(datetime(2025, 1, 1))


# -- cursors ----------------------------------------------------------------------------------


def test_cursor_matches_the_documented_examples() -> None:
    assert decode_cursor("WzIyNTE3OTk4MTM2ODcxMDJd") == [2251799813687102]
    cursor = encode_cursor(["2025-07-08T05:15:19.302Z", 2251799813685297])
    assert cursor == "WyIyMDI1LTA3LTA4VDA1OjE1OjE5LjMwMloiLDIyNTE3OTk4MTM2ODUyOTdd"


@pytest.mark.parametrize(
    "values",
    [
        [BIG],
        [2**63 - 1],
        [-(2**63)],
        ["2025-07-08T05:15:19.302Z", 2**63 - 2],
        [None, "x", 1.5, True],
    ],
)
def test_cursor_round_trip_is_exact(values: list) -> None:
    decoded = decode_cursor(encode_cursor(values))
    assert decoded == values
    assert [type(v) for v in decoded] == [type(v) for v in values]


def test_cursor_without_padding_is_accepted() -> None:
    cursor = encode_cursor([1])  # "WzFd"
    assert decode_cursor(encode_cursor([12]).rstrip("=")) == [12]
    assert decode_cursor(cursor) == [1]


@pytest.mark.parametrize("bad", ["", "***", "e30=", "bm90IGpzb24=", None, 5])
def test_bad_cursors_raise_cursor_error(bad: object) -> None:
    # "e30=" is {} (not an array), "bm90IGpzb24=" is "not json".
    with pytest.raises(CursorError):
        decode_cursor(bad)


def test_cursor_refuses_ints_beyond_64_bits() -> None:
    with pytest.raises(CursorError):
        encode_cursor([2**64])


def test_cursor_values_turn_keys_into_numbers() -> None:
    values = cursor_values(RECORD, ["startDate", "processInstanceKey", "endDate"], PI)
    assert values == ["2025-06-01T10:00:00.000Z", BIG, None]
    assert decode_cursor(encode_cursor(values)) == values


def test_v2_field_versions() -> None:
    field = V2Field("x", Kind.STRING, since="8.9")
    assert not field.exists_in("8.8") and field.exists_in("8.9")
