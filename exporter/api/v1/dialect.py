"""The v1 dialect (``POST /v1/<resource>/search`` with ``searchAfter``): the one object through
which the layers above reach v1's registry, paging and hydration."""

from __future__ import annotations

from typing import Any

from exporter.api.types import ConversionHints, Endpoint
from exporter.api.v1 import hydration
from exporter.api.v1.paging import SearchAfterPaginator
from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.spec import ExportSpec

DEFAULT_SAAS_AUDIENCE = "operate.camunda.io"
DEFAULT_IDENTITY_AUDIENCE = "operate-api"


class V1Dialect:
    name = "v1"
    registry = V1_ENDPOINTS
    # Numeric keys, and pages Arrow decodes from their bytes (issue 7's fast path).
    conversion = ConversionHints(keys_as_text=False, arrow_decodes_pages=True)

    def paginator(
        self,
        endpoint: Endpoint,
        export: ExportSpec,
        *,
        start_cursor: Any = None,
        already_emitted: int = 0,
    ) -> SearchAfterPaginator:
        return SearchAfterPaginator(
            endpoint, export, start_cursor=start_cursor, already_emitted=already_emitted
        )

    def default_audience(self, auth_mode: str) -> str | None:
        return {"saas": DEFAULT_SAAS_AUDIENCE, "identity": DEFAULT_IDENTITY_AUDIENCE}.get(auth_mode)

    def needs_hydration(self, endpoint: Endpoint, export: ExportSpec) -> bool:
        return hydration.needs_hydration(endpoint, export)

    def hydration_lookup(
        self, client: Any, endpoint: Endpoint, export: ExportSpec, item: Any
    ) -> hydration.Lookup | None:
        return hydration.lookup(client, endpoint, export, item)

    def one_record_request(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "size": 1}

    def reported_total(self, response: Any) -> Any:
        return response.get("total") if isinstance(response, dict) else None


DIALECT = V1Dialect()
