"""v2's spec checks: what a job spec may ask of a v2 export (filters with their operators,
sort fields, page limits, per-endpoint options) and which auth modes v2 takes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exporter.api.types import Endpoint
from exporter.api.v2.filters import validate_v2_filter, validate_v2_page_limit, validate_v2_sort
from exporter.api.v2.registry import V2_ENDPOINTS
from exporter.errors import SpecProblem
from exporter.spec.envsubst import join_path

SCHEMA_MAX_PAGE_SIZE = 10_000  # the schema's maximum reports anything above


def auth_problems(mode: Any) -> list[SpecProblem]:
    """Cookie login is Operate's web-app session: v1 only."""
    if mode != "cookie":
        return []
    return [
        SpecProblem(
            "source.auth.mode",
            "cookie login is Operate's web-app session and works with the v1 API only; "
            "the v2 API takes basic, saas, identity or none",
        )
    ]


def typed_filter(endpoint_name: str, filters: dict[str, Any]) -> dict[str, Any]:
    """Values as written: v2 sends keys as strings anyway (``filters.to_wire_filter``) and
    values may be operator objects."""
    return filters


def parent_filters(
    endpoint: Endpoint, filter_field: str, values: list[Any], server_version: str
) -> list[dict[str, Any]]:
    """A dependent export's searches for a batch of parent values: one ``$in`` search where
    the filter property takes ``$in`` (variables' processInstanceKey; incidents' from 8.9),
    else one exact search per value (element instances' processInstanceKey is exact-only on
    8.8 and 8.9)."""
    field = V2_ENDPOINTS[endpoint.name].filter_field(filter_field)
    if field is not None and "$in" in field.operators_for(server_version):
        return [{filter_field: {"$in": list(values)}}] if values else []
    return [{filter_field: value} for value in values]


def export_problems(
    where: str, export: dict[str, Any], endpoint: Endpoint, server_version: str
) -> Iterator[SpecProblem]:
    """The problems of one export document against v2's registry entry ``endpoint``."""
    v2 = V2_ENDPOINTS[endpoint.name]
    filters = export.get("filter")
    if isinstance(filters, dict):
        yield from validate_v2_filter(
            filters, v2, join_path(where, "filter"), server_version=server_version
        )
    sort = export.get("sort")
    if isinstance(sort, list) and all(isinstance(s, dict) for s in sort):
        # The schema reports bad orders; only the fields are the registry's business.
        entries = [{"field": s.get("field"), "order": "ASC"} for s in sort]
        yield from validate_v2_sort(
            entries, v2, join_path(where, "sort"), server_version=server_version
        )
    page_size = export.get("page_size")
    if type(page_size) is int and 1 <= page_size <= SCHEMA_MAX_PAGE_SIZE:  # else: schema
        yield from validate_v2_page_limit(page_size, v2, join_path(where, "page_size"))
    if export.get("include_xml") is True and not v2.has_xml:
        with_xml = [e.name for e in V2_ENDPOINTS.values() if e.has_xml]
        yield SpecProblem(
            join_path(where, "include_xml"),
            f"only applies to {', '.join(with_xml)}, not {endpoint.name}",
        )
    if export.get("include_evaluation_details") is True and not v2.detail_fields:
        with_details = [e.name for e in V2_ENDPOINTS.values() if e.detail_fields]
        yield SpecProblem(
            join_path(where, "include_evaluation_details"),
            f"only applies to {', '.join(with_details)}, not {endpoint.name}",
        )
