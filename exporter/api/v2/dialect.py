"""The v2 dialect (``POST /v2/<resource>/search`` with page cursors): the one object through
which the layers above reach v2's registry, paging and hydration."""

from __future__ import annotations

from typing import Any

from exporter.api.types import ConversionHints, Endpoint
from exporter.api.v2 import hydration
from exporter.api.v2.paging import CursorPaginator
from exporter.api.v2.registry import V2_ENDPOINTS, V2Endpoint
from exporter.spec import ExportSpec

# The Orchestration Cluster (v2) REST API's SaaS audience (ZEEBE_TOKEN_AUDIENCE).
DEFAULT_SAAS_AUDIENCE = "zeebe.camunda.io"
DEFAULT_IDENTITY_AUDIENCE = "operate-api"


def _v2(endpoint: Endpoint) -> V2Endpoint:
    if not isinstance(endpoint, V2Endpoint):
        raise TypeError(f"{endpoint.name} is not an endpoint of the v2 registry")
    return endpoint


class V2Dialect:
    name = "v2"
    registry = V2_ENDPOINTS
    # Keys are strings of digits (int64 in Python); pages are parsed in Python for now: the
    # decode stage takes a raw-page decoder from here once v2 has one (issue 12 point 6).
    conversion = ConversionHints(keys_as_text=True, arrow_decodes_pages=False)

    def paginator(
        self,
        endpoint: Endpoint,
        export: ExportSpec,
        *,
        start_cursor: Any = None,
        already_emitted: int = 0,
    ) -> CursorPaginator:
        return CursorPaginator(
            _v2(endpoint), export, start_cursor=start_cursor, already_emitted=already_emitted
        )

    def default_audience(self, auth_mode: str) -> str | None:
        return {"saas": DEFAULT_SAAS_AUDIENCE, "identity": DEFAULT_IDENTITY_AUDIENCE}.get(auth_mode)

    def needs_hydration(self, endpoint: Endpoint, export: ExportSpec) -> bool:
        return hydration.needs_hydration(_v2(endpoint), export)

    def hydration_lookup(
        self, client: Any, endpoint: Endpoint, export: ExportSpec, item: Any
    ) -> hydration.Lookup | None:
        return hydration.lookup(client, _v2(endpoint), export, item)

    def one_record_request(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "page": {"limit": 1}}

    def reported_total(self, response: Any) -> Any:
        page = response.get("page") if isinstance(response, dict) else None
        return page.get("totalItems") if isinstance(page, dict) else None


DIALECT = V2Dialect()
