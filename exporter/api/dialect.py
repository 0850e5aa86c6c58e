"""What the two dialects share: one base class, so that ``v1/dialect.py`` and
``v2/dialect.py`` hold only what differs (registry, paginator, hydration, request shapes)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any, ClassVar

from exporter.api.types import ConversionHints, Endpoint, Field
from exporter.errors import SpecProblem
from exporter.spec import ExportSpec

# Self-Managed Identity's Operate audience, the same for both APIs.
DEFAULT_IDENTITY_AUDIENCE = "operate-api"


class DialectBase:
    """Implements ``exporter.api.Dialect`` from a few class attributes."""

    name: ClassVar[str]
    registry: ClassVar[Mapping[str, Endpoint]]
    conversion: ClassVar[ConversionHints]
    saas_audience: ClassVar[str]
    paginator_class: ClassVar[Any]  # (endpoint, export, *, start_cursor, already_emitted)
    hydration: ClassVar[ModuleType]  # needs_hydration(endpoint, export), lookup(client, ...)
    checks: ClassVar[ModuleType]  # export_problems, auth_problems, typed_filter (spec checks)
    one_record: ClassVar[dict[str, Any]]  # what a search body gets to ask for one record
    total_path: ClassVar[tuple[str, ...]]  # where a search response holds the total

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
        return problems

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

    def one_record_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` asking for one record only (``run --dry-run``)."""
        return {**body, **self.one_record}

    def reported_total(self, response: Any) -> Any:
        """The server's total in a search response (progress only; may be anything)."""
        node = response
        for key in self.total_path:
            node = node.get(key) if isinstance(node, dict) else None
        return node
