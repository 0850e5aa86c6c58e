"""v2 search filters, sorts and cursors as pure functions (no I/O).

Three users: spec validation (``validate_v2_filter`` / ``validate_v2_sort`` return located
``SpecProblem`` s, never raise), the request builder (``to_wire_filter``: keys as strings, dates as
RFC 3339), and the simulator's v2 view (``matches_v2_filter``, ``encode_cursor``/``decode_cursor``,
``cursor_values``), so the exporter and its test server read the operators the same way.

Operator semantics (``orchestration-v2.md`` 2.2, spec P1 ``Advanced*Filter`` schemas):
a plain value is ``$eq``; several operators on one field are ANDed; top-level fields are ANDed and
``$or`` groups (process instances) are ORed; ``$like`` has ``*`` (any run), ``?`` (one character)
and ``\\`` escapes, and matches the whole value, case-sensitively; ``$exists: false`` matches a
missing or null field; on a missing field ``$neq`` and ``$notIn`` match (Elasticsearch
``must_not`` semantics), every other operator does not [inferred]. Keys compare as integers,
dates as instants, whatever offset they were written with.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

import orjson

from exporter.api.types import Kind
from exporter.api.v2.registry import (
    OPS_ALL,
    OPS_STRING,
    RENAMED_ENUM_VALUES,
    SERVER_VERSIONS,
    V2Endpoint,
    V2Field,
    V2Kind,
)
from exporter.errors import SpecProblem

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_KEY_TEXT = re.compile(r"^-?[0-9]{1,25}$")  # P1 LongKey pattern and length
# RFC 3339 section 5.6 date-time: the offset is mandatory (P1 examples "2025-06-07T13:14:15Z").
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_LIST_OPS = frozenset({"$in", "$notIn"})
_RANGE_OPS = frozenset({"$gt", "$gte", "$lt", "$lte"})

# (filter name, record) -> {variable name: value as JSON text}, for the variable filters.
VariablesLookup = Callable[[str, Mapping[str, Any]], Mapping[str, str]]


class CursorError(ValueError):
    """A cursor that is not base64 of a JSON array (the simulator answers 400)."""


# -- dates ------------------------------------------------------------------------------------


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 date-time with offset -> aware datetime. ValueError names what is wrong."""
    if not _RFC3339.match(text):
        raise ValueError(
            f"{text!r} is not an RFC 3339 date-time with offset, e.g. 2025-06-07T13:14:15Z"
        )
    normalised = text.upper()
    head, dot, rest = normalised.partition(".")
    if dot:  # fromisoformat takes at most 6 fraction digits
        digits = re.match(r"\d+", rest)
        assert digits is not None  # guaranteed by _RFC3339
        frac = digits.group(0)
        normalised = f"{head}.{frac[:6].ljust(6, '0')}{rest[len(frac) :]}"
    return datetime.fromisoformat(normalised)


def format_rfc3339(moment: datetime) -> str:
    """The form v2 servers send: UTC, milliseconds, ``Z`` (``2025-07-08T05:15:19.302Z``)."""
    if moment.tzinfo is None:
        raise ValueError("a date-time without a UTC offset is ambiguous")
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _as_instant(value: object) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a date-time without a UTC offset is ambiguous")
        return value
    if isinstance(value, str):
        return parse_rfc3339(value)
    raise ValueError(f"expected an RFC 3339 date-time string, got {type(value).__name__}")


# -- $like ------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def like_pattern(pattern: str) -> re.Pattern[str]:
    """``$like`` -> a compiled full-match regex: ``*`` any run, ``?`` one char, ``\\`` escapes."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL)


# -- validation -------------------------------------------------------------------------------


def _describe_ops(ops: frozenset[str]) -> str:
    order = ("$eq", "$neq", "$exists", "$in", "$notIn", "$gt", "$gte", "$lt", "$lte", "$like")
    return " ".join(op for op in order if op in ops)


def _scalar_problem(
    value: object, spec: V2Field, endpoint: V2Endpoint, op: str | None
) -> str | None:
    """Why ``value`` cannot be an operand of ``spec`` (None when it can)."""
    kind = spec.kind
    if op == "$like":
        return None if isinstance(value, str) else "$like takes a string pattern"
    if kind is Kind.KEY:
        if isinstance(value, bool) or not isinstance(value, int | str):
            return "a key is a string of digits (or an integer)"
        if isinstance(value, str) and not _KEY_TEXT.match(value):
            return f"{value!r} is not a key (digits only, at most 25)"
        number = int(value)
        if not INT64_MIN <= number <= INT64_MAX:
            return f"{value} does not fit a 64-bit key"
        return None
    if kind is Kind.DATE:
        if isinstance(value, str) and value == "":
            return "an empty date is not a filter (the server answers 500); leave the field out"
        if isinstance(value, str) and "||" in value:
            return "date math (||/d) is v1 only; on v2 write a range with $gte and $lt"
        try:
            _as_instant(value)
        except ValueError as exc:
            return str(exc)
        return None
    if kind is Kind.INT32:
        if isinstance(value, bool) or not isinstance(value, int):
            return "expected an integer"
        return None if INT32_MIN <= value <= INT32_MAX else f"{value} does not fit int32"
    if kind is Kind.BOOL:
        return None if isinstance(value, bool) else "expected true or false"
    if kind is Kind.ENUM:
        if not isinstance(value, str):
            return "expected one of: " + ", ".join(spec.enum)
        if value in spec.enum:
            return None
        renamed = RENAMED_ENUM_VALUES.get((endpoint.name, spec.name), {}).get(value)
        if renamed:
            return f"{value!r} is the v1 value; v2 calls it {renamed!r}"
        return f"{value!r} is not one of: " + ", ".join(spec.enum)
    if kind is V2Kind.STRING_LIST:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else "expected a list of strings"
    return None if isinstance(value, str) else "expected a string"


def _validate_condition(
    cond: object,
    spec: V2Field,
    endpoint: V2Endpoint,
    path: str,
    server_version: str,
) -> list[SpecProblem]:
    if not isinstance(cond, Mapping):
        problem = _scalar_problem(cond, spec, endpoint, None)
        return [SpecProblem(path, problem)] if problem else []
    allowed = spec.operators_for(server_version)
    if not cond:
        return [SpecProblem(path, "empty operator object; give a value or operators")]
    problems: list[SpecProblem] = []
    for op, operand in cond.items():
        where = f"{path}.{op}"
        if op not in OPS_ALL:
            problems.append(
                SpecProblem(where, f"unknown operator; v2 operators are {_describe_ops(OPS_ALL)}")
            )
            continue
        if op not in allowed:
            problems.append(SpecProblem(where, _unsupported(op, spec, allowed, server_version)))
            continue
        if op == "$exists":
            if not isinstance(operand, bool):
                problems.append(SpecProblem(where, "$exists takes true or false"))
        elif op in _LIST_OPS:
            if not isinstance(operand, list) or not operand:
                problems.append(SpecProblem(where, f"{op} takes a non-empty list"))
                continue
            for i, item in enumerate(operand):
                problem = _scalar_problem(item, spec, endpoint, op)
                if problem:
                    problems.append(SpecProblem(f"{where}[{i}]", problem))
        else:
            problem = _scalar_problem(operand, spec, endpoint, op)
            if problem:
                problems.append(SpecProblem(where, problem))
    return problems


def _unsupported(op: str, spec: V2Field, allowed: frozenset[str], server_version: str) -> str:
    if not allowed:
        head = f"{spec.name} takes a plain value only (exact match)"
    else:
        head = f"{op} is not supported on {spec.name}; allowed: {_describe_ops(allowed)}"
    if server_version == "8.8" and spec.operators_8_9 and op in spec.operators_8_9:
        head += " (Camunda 8.9 and later accept it)"
    return head


def _validate_variables(value: object, path: str) -> list[SpecProblem]:
    if not isinstance(value, list) or not value:
        return [SpecProblem(path, "expected a non-empty list of {name, value} entries")]
    string_spec = V2Field("value", Kind.STRING, operators=OPS_STRING)
    dummy = _DUMMY_ENDPOINT
    problems: list[SpecProblem] = []
    for i, entry in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(entry, Mapping) or set(entry) != {"name", "value"}:
            problems.append(SpecProblem(where, "expected {name: <variable>, value: <filter>}"))
            continue
        if not isinstance(entry["name"], str) or not entry["name"]:
            problems.append(SpecProblem(f"{where}.name", "expected a variable name"))
        problems += _validate_condition(entry["value"], string_spec, dummy, f"{where}.value", "8.8")
    return problems


def validate_v2_filter(
    filter_doc: object,
    endpoint: V2Endpoint,
    path: str,
    *,
    server_version: str = "8.8",
    _in_or: bool = False,
) -> list[SpecProblem]:
    """Every problem of a v2 filter, located under ``path`` (e.g. ``exports[0].filter``).

    ``server_version`` "8.8" (default: what every v2 server accepts) or "8.9" (wider operators,
    more fields).
    """
    if server_version not in SERVER_VERSIONS:
        raise ValueError(f"server_version must be one of {SERVER_VERSIONS}")
    if not isinstance(filter_doc, Mapping):
        return [SpecProblem(path, "a filter is a mapping of field -> value or operators")]
    problems: list[SpecProblem] = []
    for name, cond in filter_doc.items():
        where = f"{path}.{name}"
        spec = endpoint.filter_field(name) if isinstance(name, str) else None
        if spec is None:
            problems.append(SpecProblem(where, _unknown_field(name, endpoint)))
            continue
        if not spec.exists_in(server_version):
            problems.append(SpecProblem(where, f"{name} needs Camunda {spec.since} or later"))
            continue
        if spec.kind is V2Kind.OR_GROUPS:
            if _in_or:
                problems.append(SpecProblem(where, "$or cannot be nested"))
            elif not isinstance(cond, list) or not cond:
                problems.append(SpecProblem(where, "$or takes a non-empty list of filters"))
            else:
                for i, group in enumerate(cond):
                    problems += validate_v2_filter(
                        group, endpoint, f"{where}[{i}]", server_version=server_version, _in_or=True
                    )
        elif spec.kind is V2Kind.VARIABLE_FILTERS:
            problems += _validate_variables(cond, where)
        else:
            problems += _validate_condition(cond, spec, endpoint, where, server_version)
    return problems


def _unknown_field(name: object, endpoint: V2Endpoint) -> str:
    message = f"{name!r} is not a filter field of {endpoint.name} on API v2"
    renamed = endpoint.v2_name_for_v1(name) if isinstance(name, str) else None
    if renamed and endpoint.filter_field(renamed):
        return f"{message}; v2 calls it {renamed!r}"
    return f"{message}; filterable fields: {', '.join(endpoint.filter_fields)}"


def validate_v2_sort(
    sort: Sequence[object], endpoint: V2Endpoint, path: str, *, server_version: str = "8.8"
) -> list[SpecProblem]:
    """Sort entries (``SortSpec`` objects or ``{field, order}`` mappings) against the sort enum."""
    problems: list[SpecProblem] = []
    for i, entry in enumerate(sort):
        where = f"{path}[{i}]"
        if isinstance(entry, Mapping):
            name, order = entry.get("field"), entry.get("order", "ASC")
        else:
            name, order = getattr(entry, "field", None), getattr(entry, "order", "ASC")
        spec = endpoint.field(name) if isinstance(name, str) else None
        sortable = isinstance(spec, V2Field) and spec.sortable_in(server_version)
        if spec is None or not (spec.sortable or sortable):
            renamed = endpoint.v2_name_for_v1(name) if isinstance(name, str) else None
            hint = (
                f"; v2 calls it {renamed!r}"
                if renamed and (found := endpoint.field(renamed)) and found.sortable
                else f"; sortable fields: {', '.join(endpoint.sort_fields)}"
            )
            problems.append(SpecProblem(f"{where}.field", f"{name!r} is not sortable{hint}"))
        elif isinstance(spec, V2Field) and not spec.exists_in(server_version):
            problems.append(SpecProblem(f"{where}.field", f"{name} needs Camunda {spec.since}"))
        if order not in ("ASC", "DESC"):
            problems.append(SpecProblem(f"{where}.order", "order is ASC or DESC"))
    return problems


def validate_v2_page_limit(limit: object, endpoint: V2Endpoint, path: str) -> list[SpecProblem]:
    if isinstance(limit, bool) or not isinstance(limit, int):
        return [SpecProblem(path, "expected an integer")]
    if not 1 <= limit <= endpoint.max_page_limit:
        return [SpecProblem(path, f"v2 page limit is 1..{endpoint.max_page_limit}, got {limit}")]
    return []


# -- request form -----------------------------------------------------------------------------


def _wire_value(value: object, spec: V2Field) -> object:
    if spec.kind is Kind.KEY and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        return format_rfc3339(value)
    if isinstance(value, list):
        return [_wire_value(v, spec) for v in value]
    return value


def to_wire_filter(filter_doc: Mapping[str, Any], endpoint: V2Endpoint) -> dict[str, Any]:
    """A validated filter as the request body wants it: keys as strings, dates RFC 3339."""
    out: dict[str, Any] = {}
    for name, cond in filter_doc.items():
        spec = endpoint.filter_field(name)
        if spec is None:
            raise ValueError(f"unknown v2 filter field {name!r} (validate first)")
        if spec.kind is V2Kind.OR_GROUPS:
            out[name] = [to_wire_filter(group, endpoint) for group in cond]
        elif spec.kind is V2Kind.VARIABLE_FILTERS:
            out[name] = [dict(entry) for entry in cond]
        elif isinstance(cond, Mapping):
            out[name] = {
                op: operand if op in ("$exists", "$like") else _wire_value(operand, spec)
                for op, operand in cond.items()
            }
        else:
            out[name] = _wire_value(cond, spec)
    return out


# -- evaluation (the simulator's v2 view) -----------------------------------------------------


def _normalise(value: object, spec: V2Field) -> object:
    if spec.kind is Kind.KEY:
        return int(value)  # type: ignore[call-overload]
    if spec.kind is Kind.DATE:
        return _as_instant(value)
    return value


def _test_op(op: str, operand: object, actual: object, spec: V2Field) -> bool:
    if op == "$exists":
        return (actual is not None) == operand
    if actual is None:
        return op in ("$neq", "$notIn")
    if op == "$like":
        return isinstance(actual, str) and like_pattern(str(operand)).fullmatch(actual) is not None
    have = _normalise(actual, spec)
    if op in _LIST_OPS:
        found = any(have == _normalise(v, spec) for v in operand)  # type: ignore[attr-defined]
        return found if op == "$in" else not found
    want = _normalise(operand, spec)
    if op == "$eq":
        return have == want
    if op == "$neq":
        return have != want
    if op in _RANGE_OPS:
        if op == "$gt":
            return have > want  # type: ignore[operator]
        if op == "$gte":
            return have >= want  # type: ignore[operator]
        if op == "$lt":
            return have < want  # type: ignore[operator]
        return have <= want  # type: ignore[operator]
    raise ValueError(f"unknown operator {op!r}")


def _test_condition(cond: object, actual: object, spec: V2Field) -> bool:
    if isinstance(cond, Mapping):
        return all(_test_op(op, operand, actual, spec) for op, operand in cond.items())
    return _test_op("$eq", cond, actual, spec)


def _test_field(cond: object, actual: object, spec: V2Field) -> bool:
    if spec.kind is V2Kind.STRING_LIST:
        # TagSet filter: the record carries every tag asked for [inferred; P1 TagSet].
        return isinstance(actual, list) and set(cast(Iterable[Any], cond)) <= set(actual)
    if isinstance(actual, list):
        # A scalar filter over a list attribute (candidateGroup over candidateGroups): any
        # element matches; an empty list is a missing value.
        if not actual:
            return _test_condition(cond, None, spec)
        if isinstance(cond, Mapping) and ("$neq" in cond or "$notIn" in cond):
            return all(_test_condition(cond, item, spec) for item in actual)
        return any(_test_condition(cond, item, spec) for item in actual)
    return _test_condition(cond, actual, spec)


_VARIABLE_VALUE = V2Field("value", Kind.STRING, operators=OPS_STRING)


def matches_v2_filter(
    filter_doc: Mapping[str, Any],
    record: Mapping[str, Any],
    endpoint: V2Endpoint,
    *,
    variables: VariablesLookup | None = None,
) -> bool:
    """Does ``record`` (v2 wire or Python values) satisfy a validated v2 filter?

    Filter-only properties are read from the record under their own name (or ``record_field``),
    so a server keeps hidden attributes like ``errorMessage`` on its internal records.
    Variable filters ask ``variables(filter_name, record)`` for ``{name: JSON text}``.
    """
    for name, cond in filter_doc.items():
        spec = endpoint.filter_field(name)
        if spec is None:
            raise ValueError(f"unknown v2 filter field {name!r} for {endpoint.name}")
        if spec.kind is V2Kind.OR_GROUPS:
            if not any(matches_v2_filter(g, record, endpoint, variables=variables) for g in cond):
                return False
            continue
        if spec.kind is V2Kind.VARIABLE_FILTERS:
            if variables is None:
                raise ValueError(f"filter {name!r} needs a variables lookup")
            values = variables(name, record)
            for entry in cond:
                actual = values.get(entry["name"])
                if not _test_condition(entry["value"], actual, _VARIABLE_VALUE):
                    return False
            continue
        actual = record.get(spec.record_field or name)
        if not _test_field(cond, actual, spec):
            return False
    return True


# -- cursors ----------------------------------------------------------------------------------


def encode_cursor(sort_values: Sequence[object]) -> str:
    """Base64 of the JSON array of sort values, as v2 servers send ``endCursor`` (issue I1)."""
    try:
        raw = orjson.dumps(list(sort_values))
    except orjson.JSONEncodeError as exc:  # e.g. an int beyond 64 bits
        raise CursorError(f"sort values cannot be encoded: {exc}") from None
    return base64.b64encode(raw).decode("ascii")


def decode_cursor(cursor: object) -> list[Any]:
    """The sort values inside a cursor; ``CursorError`` for anything else (exact int64 kept)."""
    if not isinstance(cursor, str) or not cursor:
        raise CursorError("a cursor is a non-empty base64 string")
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
        values = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise CursorError(f"cursor {cursor[:40]!r} is not base64 of a JSON array") from None
    if not isinstance(values, list):
        raise CursorError(f"cursor {cursor[:40]!r} does not hold a JSON array")
    return values


def cursor_values(
    record: Mapping[str, Any], sort_fields: Sequence[str], endpoint: V2Endpoint
) -> list[Any]:
    """A record's sort values in cursor form: keys as JSON numbers, everything else as sent.

    The observed cursor ``["2025-07-08T05:15:19.302Z", 2251799813685297]`` (issue I3) carries
    the date as its string and the key as a number.
    """
    out: list[Any] = []
    for name in sort_fields:
        value = record.get(name)
        spec = endpoint.field(name)
        if value is not None and spec is not None and spec.kind is Kind.KEY:
            value = int(value)
        out.append(value)
    return out


# A stand-in endpoint for validating variable-filter values (plain strings, no enum).
_DUMMY_ENDPOINT = V2Endpoint(
    name="variables-filter", api="v2", path="/v2/-", unique_key="-", fields=()
)
