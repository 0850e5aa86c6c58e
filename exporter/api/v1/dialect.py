"""The v1 dialect (``POST /v1/<resource>/search`` with ``searchAfter``): the one object through
which the layers above reach v1's registry, paging and hydration."""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

from exporter.api.dialect import DialectBase
from exporter.api.types import ConversionHints
from exporter.api.v1 import checks as v1_checks
from exporter.api.v1 import hydration as v1_hydration
from exporter.api.v1 import windows as v1_windows
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
    checks: ClassVar[ModuleType] = v1_checks
    windows: ClassVar[ModuleType] = v1_windows
    one_record: ClassVar[dict[str, Any]] = {"size": 1}
    total_path = ("total",)


DIALECT = V1Dialect()
