"""The v2 dialect (``POST /v2/<resource>/search`` with page cursors): the one object through
which the layers above reach v2's registry, paging and hydration."""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

from exporter.api.dialect import DialectBase
from exporter.api.types import ConversionHints, Field
from exporter.api.v2 import hydration as v2_hydration
from exporter.api.v2.paging import CursorPaginator
from exporter.api.v2.registry import V2_ENDPOINTS

# The Orchestration Cluster (v2) REST API's SaaS audience (ZEEBE_TOKEN_AUDIENCE).
DEFAULT_SAAS_AUDIENCE = "zeebe.camunda.io"


class V2Dialect(DialectBase):
    name = "v2"
    registry = V2_ENDPOINTS
    # Keys are strings of digits (int64 in Python); pages are parsed in Python for now: the
    # decode stage takes Arrow-decodable pages from a dialect once v2 has a raw-page decoder
    # (issue 12 point 6).
    conversion = ConversionHints(keys_as_text=True, arrow_decodes_pages=False)
    saas_audience = DEFAULT_SAAS_AUDIENCE
    paginator_class = CursorPaginator
    hydration: ClassVar[ModuleType] = v2_hydration

    def filter_field(self, endpoint_name: str, name: str) -> Field | None:
        endpoint = V2_ENDPOINTS.get(endpoint_name)
        return endpoint.filter_field(name) if endpoint else None

    def one_record_request(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "page": {"limit": 1}}

    def reported_total(self, response: Any) -> Any:
        page = response.get("page") if isinstance(response, dict) else None
        return page.get("totalItems") if isinstance(page, dict) else None


DIALECT = V2Dialect()
