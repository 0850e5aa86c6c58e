"""v1's spec checks: what a job spec may ask of a v1 export (filter and sort fields of the
registry, filter values by field kind, the page size), and its filters typed for the wire."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from exporter.api.types import Endpoint, Field, Kind
from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.errors import SpecProblem
from exporter.spec.checks import DATE_HINT, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, json_type
from exporter.spec.envsubst import join_path

# Operate's API date format yyyy-MM-dd'T'HH:mm:ss.SSSZZ, optionally rounded with ||/unit.
_DATE = re.compile(
    r"^(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4})(?:\|\|/(?P<unit>[yMwdhms]))?$"
)
_DIGITS = re.compile(r"^-?\d+$")

MAX_PAGE_SIZE = 1000


def auth_problems(mode: Any) -> list[SpecProblem]:
    """v1 takes every auth mode."""
    return []


def parent_filters(
    endpoint: Endpoint, filter_field: str, values: list[Any], server_version: str
) -> list[dict[str, Any]]:
    """A dependent export's searches for a batch of parent values: v1 filters are exact, so
    one search per value."""
    return [{filter_field: value} for value in values]


def export_problems(
    where: str, export: dict[str, Any], endpoint: Endpoint, server_version: str
) -> Iterator[SpecProblem]:
    """The problems of one export document against v1's registry entry ``endpoint``."""
    endpoints: Mapping[str, Endpoint] = V1_ENDPOINTS
    filters = export.get("filter")
    if isinstance(filters, dict):
        yield from _duplicate_problems(where, filters, endpoint)
        filters = native_filter(endpoint.name, filters)
        for key, value in filters.items():
            path = join_path(join_path(where, "filter"), str(key))
            if key not in endpoint.filter_fields:
                yield SpecProblem(
                    path,
                    f"unknown filter field {key!r} for endpoint {endpoint.name}; valid fields "
                    f"are: {', '.join(endpoint.filter_fields)}",
                )
                continue
            field = endpoint.field(endpoint.filter_aliases.get(str(key), str(key)))
            if field is not None:
                message = filter_value_problem(field, value)
                if message:
                    yield SpecProblem(path, message)
    sort = export.get("sort")
    if isinstance(sort, list):
        for index, item in enumerate(sort):
            field_name = item.get("field") if isinstance(item, dict) else None
            if isinstance(field_name, str):
                field_name = native_name(endpoint, field_name)
            if isinstance(field_name, str) and field_name not in endpoint.sort_fields:
                yield SpecProblem(
                    join_path(join_path(join_path(where, "sort"), index), "field"),
                    f"unknown sort field {field_name!r} for endpoint {endpoint.name}; sortable "
                    f"fields are: {', '.join(endpoint.sort_fields)}",
                )
    page_size = export.get("page_size")
    if type(page_size) is int and page_size > MAX_PAGE_SIZE:
        yield SpecProblem(
            join_path(where, "page_size"),
            f"{page_size} is greater than the maximum of {MAX_PAGE_SIZE} (v1's page size; "
            "v2 allows up to 10000)",
        )
    if export.get("include_xml") is True and not endpoint.has_xml:
        with_xml = [e.name for e in endpoints.values() if e.has_xml]
        yield SpecProblem(
            join_path(where, "include_xml"),
            f"only applies to {', '.join(with_xml)}, not {endpoint.name}",
        )
    if export.get("include_evaluation_details") is True and not _has_evaluations(endpoint):
        with_details = [e.name for e in endpoints.values() if _has_evaluations(e)]
        yield SpecProblem(
            join_path(where, "include_evaluation_details"),
            f"only applies to {', '.join(with_details)}, not {endpoint.name}",
        )


def _has_evaluations(endpoint: Endpoint) -> bool:
    return bool(endpoint.fields_of_kind(Kind.EVALUATED_INPUTS, Kind.EVALUATED_OUTPUTS))


def filter_value_problem(field: Field, value: Any) -> str | None:
    """What is wrong with ``value`` as a filter on ``field``, or None when it is fine."""
    if field.kind is Kind.KEY:
        key = parse_key(value)
        if key is None:
            return f"must be an integer key (64-bit), got {value!r}"
        return None
    if field.kind is Kind.INT32:
        if type(value) is not int or not INT32_MIN <= value <= INT32_MAX:
            return f"must be a 32-bit integer, got {value!r}"
        return None
    if field.kind is Kind.BOOL:
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if field.kind is Kind.ENUM:
        if value not in field.enum:
            return f"{value!r} is not one of {list(field.enum)!r}"
        return None
    if field.kind is Kind.DATE:
        return None if is_operate_date(value) else f"{value!r}: {DATE_HINT}"
    if not isinstance(value, str):
        return f"must be a string, got {json_type(value)}"
    return None


def parse_key(value: Any) -> int | None:
    """An int64 key from an int or a string of digits (as in Operate's examples), else None."""
    if type(value) is int:
        key = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        key = int(value)
    else:
        return None
    return key if INT64_MIN <= key <= INT64_MAX else None


def is_operate_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    match = _DATE.fullmatch(value)  # fullmatch: '$' would allow a trailing \n
    if not match:
        return False
    try:
        datetime.strptime(match.group("stamp"), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return False
    return True


def typed_filter(endpoint_name: str, filters: dict[str, Any]) -> dict[str, Any]:
    """Keys written as digit strings (as in Operate's docs) travel as exact ints; canonical
    (v2) names and enum values are sent as v1's."""
    endpoint = V1_ENDPOINTS[endpoint_name]
    typed: dict[str, Any] = {}
    for key, value in native_filter(endpoint_name, filters).items():
        field_def = endpoint.field(endpoint.filter_aliases.get(key, key))
        is_key = field_def is not None and field_def.kind is Kind.KEY
        typed[key] = parse_key(value) if is_key else value
    return typed


# -- canonical (v2) names in v1 filters and sorts (issue 14) -------------------------------


def _by_canonical(endpoint: Endpoint) -> dict[str, Field]:
    """v1 fields by their canonical (v2) name, where it differs from the v1 name."""
    return {
        canonical: f
        for f in endpoint.fields
        if (canonical := getattr(f, "canonical", None)) and canonical != f.name
    }


def native_name(endpoint: Endpoint, name: str) -> str:
    """A filter or sort field as v1 names it: v1's own names win (``decisionDefinitionId`` of
    decision instances is v1's field, not the canonical name of ``decisionId``), then a
    canonical name is translated."""
    if endpoint.field(name) is not None or name in endpoint.filter_fields:
        return name
    found = _by_canonical(endpoint).get(name)
    return found.name if found is not None else name


def _native_value(field: Field | None, value: Any, *, renamed: bool) -> Any:
    if field is None:
        return value
    reverse = {new: old for old, new in getattr(field, "canonical_values", ())}
    if isinstance(value, str) and value in reverse and value not in field.enum:
        return reverse[value]  # v2's TERMINATED is v1's CANCELED
    if (
        renamed
        and getattr(field, "canonical_conversion", None) == "key_text"
        and type(value) is int
    ):
        return str(value)  # the canonical key; v1 holds it as a string of digits
    return value


def native_filter(endpoint_name: str, filters: Mapping[str, Any]) -> dict[str, Any]:
    """A filter written with canonical (v2) names and enum values, as v1 sends it."""
    endpoint = V1_ENDPOINTS[endpoint_name]
    native: dict[str, Any] = {}
    for key, value in filters.items():
        name = native_name(endpoint, str(key))
        field = endpoint.field(name)
        native[name] = _native_value(field, value, renamed=name != key)
    return native


def native_sort(endpoint: Endpoint, item: dict[str, str]) -> dict[str, str]:
    """One sort item (``{field, order}``) with the field as v1 names it."""
    return {**item, "field": native_name(endpoint, item["field"])}


def _duplicate_problems(
    where: str, filters: Mapping[str, Any], endpoint: Endpoint
) -> Iterator[SpecProblem]:
    """A field given under both its v1 and its canonical name is ambiguous."""
    seen: dict[str, str] = {}
    for key in filters:
        name = native_name(endpoint, str(key))
        if name in seen:
            yield SpecProblem(
                join_path(join_path(where, "filter"), str(key)),
                f"{key!r} and {seen[name]!r} are the same v1 field {name!r}; give it once",
            )
        seen[name] = str(key)
