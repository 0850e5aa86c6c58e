"""What the two dialects share: one class, so that ``v1/dialect.py`` and ``v2/dialect.py``
hold only what differs. What is data (name, SaaS audience, the one-record body, where the
total is, the conversion hints) is the ``[dialect]`` table of the API's ``endpoints.toml``;
the registry, the paginator and the modules with the API's behaviour come in as arguments."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from exporter.api.registry_data import dialect_data
from exporter.api.types import ConversionHints, Endpoint, Field, Kind
from exporter.errors import SpecProblem
from exporter.spec import ExportSpec
from exporter.spec.timespec import parse_duration

# The kinds a parent's field may link by (dates, booleans and documents select nothing exactly).
LINKABLE_KINDS = (Kind.KEY, Kind.STRING, Kind.INT32)

# Self-Managed Identity's Operate audience, the same for both APIs.
DEFAULT_IDENTITY_AUDIENCE = "operate-api"


@dataclass(frozen=True)
class DialectData:
    """The ``[dialect]`` table: the keys it must have, and nothing else."""

    name: str  # "v1", "v2"
    saas_audience: str  # the token audience of mode saas when the spec names none
    one_record: Mapping[str, Any]  # what a search body gets to ask for one record
    total_path: tuple[str, ...]  # where a search response holds the total
    conversion: Mapping[str, Any]  # ConversionHints (api/types.py)


# The modules with an API's behaviour, by their names in its package (``parts``).
PART_NAMES = frozenset({"hydration", "checks", "windows", "shards"})


class DialectBase:
    """Implements ``exporter.api.Dialect`` for the API package of ``module`` (a dialect
    module's ``__name__``): its ``[dialect]`` data, its registry and paginator, and its
    ``parts``, the package's modules ``hydration`` (needs_hydration, lookup), ``checks``
    (export_problems, auth_problems, typed_filter: spec checks; parent_filters: the searches of
    dependent exports), ``windows`` (window_fields, window_problem, plan_windows,
    window_filter) and ``shards`` (shard_problem, plan, paginator: issue 17)."""

    def __init__(
        self,
        module: str,
        registry: Mapping[str, Endpoint],
        paginator_class: Any,  # (endpoint, export, *, start_cursor, already_emitted)
        parts: Iterable[ModuleType],
    ) -> None:
        where, table = dialect_data(module)
        try:
            data = DialectData(**table)
            self.conversion = ConversionHints(**data.conversion)
        except TypeError as exc:
            raise ValueError(f"{where}: {exc}") from None
        self.name = data.name
        self.saas_audience = data.saas_audience
        self.one_record = dict(data.one_record)
        self.total_path = data.total_path
        self.registry = registry
        self.paginator_class = paginator_class
        by_name = {part.__name__.rpartition(".")[2]: part for part in parts}
        if by_name.keys() != PART_NAMES:
            raise ValueError(
                f"{module}: parts must be the modules {', '.join(sorted(PART_NAMES))}; "
                f"got {', '.join(sorted(by_name))}"
            )
        self.hydration = by_name["hydration"]
        self.checks = by_name["checks"]
        self.windows = by_name["windows"]
        self.shards = by_name["shards"]

    def own(self, endpoint: Endpoint) -> Any:
        """``endpoint`` as this dialect's registry type (it must come from this registry)."""
        if self.registry.get(endpoint.name) is not endpoint:
            raise TypeError(f"{endpoint.name} is not an endpoint of the {self.name} registry")
        return endpoint

    def paginator(
        self,
        endpoint: Endpoint,
        export: ExportSpec,
        *,
        start_cursor: Any = None,
        already_emitted: int = 0,
    ) -> Any:
        return self.paginator_class(
            self.own(endpoint), export, start_cursor=start_cursor, already_emitted=already_emitted
        )

    def default_audience(self, auth_mode: str) -> str | None:
        defaults = {"saas": self.saas_audience, "identity": DEFAULT_IDENTITY_AUDIENCE}
        return defaults.get(auth_mode)

    def needs_hydration(self, endpoint: Endpoint, export: ExportSpec) -> bool:
        return bool(self.hydration.needs_hydration(self.own(endpoint), export))

    def hydration_lookup(
        self, client: Any, endpoint: Endpoint, export: ExportSpec, item: Any
    ) -> Any:
        return self.hydration.lookup(client, self.own(endpoint), export, item)

    def export_problems(
        self, where: str, export: dict[str, Any], endpoint: Endpoint, server_version: str
    ) -> Iterator[SpecProblem]:
        """The problems of one export of a spec document (``where``: its path) on this API."""
        problems: Iterator[SpecProblem] = self.checks.export_problems(
            where, export, self.own(endpoint), server_version
        )
        return itertools.chain(
            problems,
            self._incremental_problems(where, export, endpoint, server_version),
            self._shard_problems(where, export, endpoint, server_version),
        )

    def _shard_problems(
        self, where: str, export: dict[str, Any], endpoint: Endpoint, server_version: str
    ) -> Iterator[SpecProblem]:
        """``shards``: an export this API can cut into ranges that tile it."""
        if export.get("shards", 1) == 1:
            return
        at = f"{where}.shards"
        if export.get("max_records") is not None:
            yield SpecProblem(
                at,
                "an export with max_records cannot be sharded: the cap counts the records of "
                "one cursor chain in order (remove max_records or the shards)",
            )
            return
        if export.get("parent") is not None:
            yield SpecProblem(
                at,
                "a dependent export cannot be sharded: its searches follow its parent's "
                "batches (shard the parent's siblings, or remove the shards)",
            )
            return
        reason = self.shard_problem(endpoint, export, server_version)
        if reason is not None:
            yield SpecProblem(at, f"cannot shard {endpoint.name} on {self.name}: {reason}")

    def shard_problem(
        self, endpoint: Endpoint, export: dict[str, Any], server_version: str
    ) -> str | None:
        """Why this API cannot shard an export (its spec document), or None."""
        reason: str | None = self.shards.shard_problem(self.own(endpoint), export, server_version)
        return reason

    def plan_shards(
        self, client: Any, endpoint: Endpoint, export: ExportSpec, count: int, server_version: str
    ) -> Any:
        """The ``ShardPlan`` of ``count`` shards tiling the export (probes the server)."""
        return self.shards.plan(client, self.own(endpoint), export, count, server_version)

    def shard_paginator(
        self,
        endpoint: Endpoint,
        export: ExportSpec,
        shard: Any,
        *,
        start_cursor: Any = None,
        already_emitted: int = 0,
    ) -> Any:
        """The paginator reading exactly one shard of a plan (resumed after ``start_cursor``)."""
        return self.shards.paginator(
            self.own(endpoint),
            export,
            shard,
            start_cursor=start_cursor,
            already_emitted=already_emitted,
        )

    def _incremental_problems(
        self, where: str, export: dict[str, Any], endpoint: Endpoint, server_version: str
    ) -> Iterator[SpecProblem]:
        """``incremental``: a date field this API can window, not filtered as well; a window
        this API can express."""
        incremental = export.get("incremental")
        if not isinstance(incremental, dict):
            return
        at = f"{where}.incremental"
        field = incremental.get("field")
        valid = self.window_fields(endpoint.name, server_version)
        if isinstance(field, str) and field not in valid:
            names = ", ".join(valid) if valid else "none"
            yield SpecProblem(
                f"{at}.field",
                f"{field!r} is not a date field {endpoint.name} can be windowed by on "
                f"{self.name}; valid fields are: {names}",
            )
        filters = export.get("filter")
        if isinstance(field, str) and isinstance(filters, dict) and field in filters:
            yield SpecProblem(
                f"{where}.filter.{field}",
                f"filters the incremental field {field!r}: the windows select it (remove "
                "the filter, or export without incremental)",
            )
        window = incremental.get("window", "P1D")
        try:
            seconds = parse_duration(window) if isinstance(window, str) else None
        except ValueError:
            seconds = None  # the schema names a malformed duration
        problem = None if seconds is None else self.windows.window_problem(seconds)
        if problem is not None:
            yield SpecProblem(f"{at}.window", f"{window!r}: {problem} on {self.name}")

    def window_fields(self, endpoint_name: str, server_version: str = "8.8") -> list[str]:
        """The date fields an export of that endpoint can be windowed by."""
        endpoint = self.registry.get(endpoint_name)
        if endpoint is None:
            return []
        fields: list[str] = self.windows.window_fields(endpoint, server_version)
        return fields

    def plan_windows(self, start: int, end: int, window_seconds: int) -> list[tuple[int, int]]:
        """``[start, end)`` (epoch ms) as the windows this API expresses, each one snapshot."""
        planned: list[tuple[int, int]] = self.windows.plan_windows(start, end, window_seconds)
        return planned

    def window_filter(self, field: str, start: int, end: int) -> dict[str, Any]:
        """The filter entry selecting ``[start, end)`` of a planned window."""
        entry: dict[str, Any] = self.windows.window_filter(field, start, end)
        return entry

    def auth_problems(self, mode: Any) -> list[SpecProblem]:
        """The problem of an auth mode this API cannot take (empty when it can)."""
        problems: list[SpecProblem] = self.checks.auth_problems(mode)
        return problems

    def typed_filter(self, endpoint_name: str, filters: dict[str, Any]) -> dict[str, Any]:
        """A spec's filter values as this API's requests carry them."""
        typed: dict[str, Any] = self.checks.typed_filter(endpoint_name, filters)
        return typed

    def filter_field(self, endpoint_name: str, name: str) -> Field | None:
        """The field a filter key of that export tests, or None (unknown export or key)."""
        endpoint = self.registry.get(endpoint_name)
        return endpoint.filter_field(name) if endpoint is not None else None

    def parent_link_problems(
        self, where: str, parent_endpoint: str, field: str, child_endpoint: str, filter_field: str
    ) -> list[SpecProblem]:
        """``parent`` (at ``where``): ``field`` is a result field of the parent's endpoint,
        ``filter_field`` a filter field of the child's, both of one linkable kind."""
        parent, child = self.registry.get(parent_endpoint), self.registry.get(child_endpoint)
        if parent is None or child is None:
            return []  # the unknown endpoint is reported where it is named
        problems = []
        source = parent.field(field)
        if source is None:
            problems.append(
                SpecProblem(
                    f"{where}.field",
                    f"{field!r} is not a field of {parent_endpoint} on {self.name}; fields are: "
                    f"{', '.join(parent.field_names)}",
                )
            )
        target = self.filter_field(child_endpoint, filter_field)
        if target is None or not target.filterable or filter_field not in child.filter_fields:
            problems.append(
                SpecProblem(
                    f"{where}.filter_field",
                    f"{filter_field!r} is not a filter field of {child_endpoint} on {self.name}; "
                    f"filter fields are: {', '.join(child.filter_fields)}",
                )
            )
            target = None
        if source is None or target is None:
            return problems
        if source.kind not in LINKABLE_KINDS or source.kind != target.kind:
            problems.append(
                SpecProblem(
                    f"{where}.filter_field",
                    f"{child_endpoint}.{filter_field} ({target.kind}) cannot take the values of "
                    f"{parent_endpoint}.{field} ({source.kind}): the two fields must have the "
                    "same kind, one of " + ", ".join(str(k) for k in LINKABLE_KINDS),
                )
            )
        return problems

    def parent_filters(
        self, endpoint: Endpoint, filter_field: str, values: list[Any], server_version: str
    ) -> list[dict[str, Any]]:
        """The filter entries of the child searches that select the children of ``values``
        (one batch of parent values), one entry per search (the API's ``checks`` module)."""
        entries: list[dict[str, Any]] = self.checks.parent_filters(
            self.own(endpoint), filter_field, values, server_version
        )
        return entries

    def one_record_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` asking for one record only (``run --dry-run``)."""
        return {**body, **self.one_record}

    def reported_total(self, response: Any) -> Any:
        """The server's total in a search response (progress only; may be anything)."""
        node = response
        for key in self.total_path:
            node = node.get(key) if isinstance(node, dict) else None
        return node
