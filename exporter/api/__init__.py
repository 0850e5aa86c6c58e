"""The API layer: what the exporter knows about Operate's search APIs, one dialect per version.

``get_dialect("v1" | "v2")`` answers everything that differs between the versions (registry,
filter and sort rules, request bodies, paginators, hydration lookups, the default audience);
code outside this package asks the dialect and never tests which version is in use. The
neutral types (``Kind``, ``Field``, ``Endpoint``) are in ``types.py``, the shared paging parts
in ``paging.py`` and ``rawpage.py``, the ``source.api: auto`` probe in ``probe.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from exporter.api.paging import Paginator
from exporter.api.registry_data import lookup_endpoint
from exporter.api.types import ConversionHints, Endpoint, Field
from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.api.v2.registry import V2_ENDPOINTS
from exporter.errors import SpecProblem

APIS: tuple[str, ...] = ("v1", "v2")
# ``source.api: auto`` tries them in this order (v2 is the main line).
AUTO_ORDER: tuple[str, ...] = ("v2", "v1")
# The API whose defaults (the SaaS audience) an ``auto`` spec gets when loaded, before the probe:
# existing SaaS specs without ``api`` were written for it.
LOAD_DEFAULT_API = "v1"

REGISTRY: dict[str, Mapping[str, Endpoint]] = {"v1": V1_ENDPOINTS, "v2": V2_ENDPOINTS}

# The v1 export names (kept for callers that predate v2); see ``endpoint_names(api)``.
ENDPOINT_NAMES: tuple[str, ...] = tuple(V1_ENDPOINTS)


def endpoint_names(api: str = "v1") -> tuple[str, ...]:
    """Export names of one API ("v1", "v2"); "auto" = every name either API knows."""
    if api == "auto":
        return tuple(dict.fromkeys(name for a in APIS for name in REGISTRY[a]))
    return tuple(REGISTRY[api])


def get_endpoint(name: str, api: str = "v1") -> Endpoint:
    """Look an endpoint up; an unknown name is answered with the valid ones."""
    endpoint: Endpoint = lookup_endpoint(REGISTRY[api], name, api)
    return endpoint


class Dialect(Protocol):
    """What the layers above need from one API version (kept small on purpose)."""

    name: str  # "v1", "v2"
    registry: Mapping[str, Endpoint]
    # How the decode stage may treat this API's pages (api.types.ConversionHints).
    conversion: ConversionHints

    def paginator(
        self, endpoint: Any, export: Any, *, start_cursor: Any = None, already_emitted: int = 0
    ) -> Paginator:
        """A fresh paginator for one export (every paging-contract check lives in it)."""
        ...

    def default_audience(self, auth_mode: str) -> str | None:
        """The token audience a spec gets when it names none (None: send no audience)."""
        ...

    def needs_hydration(self, endpoint: Any, export: Any) -> bool:
        """Whether this export makes any per-item requests at all."""
        ...

    def hydration_lookup(self, client: Any, endpoint: Any, export: Any, item: Any) -> Any:
        """The request that completes one item (``api.hydration.Lookup``), or None."""
        ...

    def filter_field(self, endpoint_name: str, name: str) -> Field | None:
        """The field a filter key of that export tests, or None (unknown export or key)."""
        ...

    def export_problems(
        self, where: str, export: dict[str, Any], endpoint: Any, server_version: str
    ) -> Iterator[SpecProblem]:
        """The problems of one export of a spec document (``where``: its path) on this API."""
        ...

    def auth_problems(self, mode: Any) -> list[SpecProblem]:
        """The problem of an auth mode this API cannot take (empty when it can)."""
        ...

    def typed_filter(self, endpoint_name: str, filters: dict[str, Any]) -> dict[str, Any]:
        """A spec's filter values as this API's requests carry them."""
        ...

    def one_record_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` asking for one record only (``run --dry-run``)."""
        ...

    def parent_link_problems(
        self, where: str, parent_endpoint: str, field: str, child_endpoint: str, filter_field: str
    ) -> list[SpecProblem]:
        """A dependent export's link (issue 16): the parent's field exists, the child's is
        filterable, both of one linkable kind."""
        ...

    def parent_filters(
        self, endpoint: Any, filter_field: str, values: list[Any], server_version: str
    ) -> list[dict[str, Any]]:
        """The filter entries of the child searches for one batch of parent values, one per
        search (v2 ``$in`` where the field takes it; else one exact filter per value)."""
        ...

    def reported_total(self, response: Any) -> Any:
        """The server's total in a search response (progress only; may be anything)."""
        ...

    def window_fields(self, endpoint_name: str, server_version: str = "8.8") -> list[str]:
        """The date fields an incremental export of that endpoint can be windowed by."""
        ...

    def plan_windows(self, start: int, end: int, window_seconds: int) -> list[tuple[int, int]]:
        """``[start, end)`` (epoch ms) as the windows this API expresses (v1: buckets)."""
        ...

    def window_filter(self, field: str, start: int, end: int) -> dict[str, Any]:
        """The filter entry selecting one planned window ``[start, end)``."""
        ...

    def plan_shards(
        self, client: Any, endpoint: Any, export: Any, count: int, server_version: str
    ) -> Any:
        """The ``api.shards.ShardPlan`` of ``count`` shards tiling the export."""
        ...

    def shard_paginator(
        self,
        endpoint: Any,
        export: Any,
        shard: Any,
        *,
        start_cursor: Any = None,
        already_emitted: int = 0,
    ) -> Paginator:
        """The paginator reading exactly one shard of a plan."""
        ...


_DIALECT_MODULES = {"v1": "exporter.api.v1.dialect", "v2": "exporter.api.v2.dialect"}


def get_dialect(name: str) -> Dialect:
    """The dialect of ``name`` ("v1" or "v2"); imported on first use."""
    try:
        module = importlib.import_module(_DIALECT_MODULES[name])
    except KeyError:
        raise ValueError(f"no API dialect {name!r}; known: {', '.join(APIS)}") from None
    dialect: Dialect = module.DIALECT
    return dialect


def dialect_of(endpoint: Endpoint) -> Dialect:
    """The dialect an endpoint of the registry belongs to."""
    return get_dialect(endpoint.api)


def make_paginator(
    endpoint: Endpoint, export: Any, *, start_cursor: Any = None, already_emitted: int = 0
) -> Paginator:
    """The paginator of the endpoint's API (v1 searchAfter, v2 page cursor)."""
    return dialect_of(endpoint).paginator(
        endpoint, export, start_cursor=start_cursor, already_emitted=already_emitted
    )
