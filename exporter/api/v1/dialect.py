"""The v1 dialect (``POST /v1/<resource>/search`` with ``searchAfter``): the one object through
which the layers above reach v1's registry, paging and hydration."""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

from exporter.api.dialect import DialectBase
from exporter.api.types import ConversionHints, Field
from exporter.api.v1 import hydration as v1_hydration
from exporter.api.v1.paging import SearchAfterPaginator
from exporter.api.v1.registry import V1_ENDPOINTS

DEFAULT_SAAS_AUDIENCE = "operate.camunda.io"


class V1Dialect(DialectBase):
    name = "v1"
    registry = V1_ENDPOINTS
    # Numeric keys, and pages Arrow decodes from their bytes (issue 7's fast path).
    conversion = ConversionHints(keys_as_text=False, arrow_decodes_pages=True)
    saas_audience = DEFAULT_SAAS_AUDIENCE
    paginator_class = SearchAfterPaginator
    hydration: ClassVar[ModuleType] = v1_hydration

    def filter_field(self, endpoint_name: str, name: str) -> Field | None:
        endpoint = V1_ENDPOINTS.get(endpoint_name)
        return endpoint.field(endpoint.filter_aliases.get(name, name)) if endpoint else None

    def one_record_request(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "size": 1}

    def reported_total(self, response: Any) -> Any:
        return response.get("total") if isinstance(response, dict) else None


DIALECT = V1Dialect()
