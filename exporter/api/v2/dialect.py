"""The v2 dialect (``POST /v2/<resource>/search`` with page cursors): the one object through
which the layers above reach v2's registry, paging and hydration."""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

from exporter.api.dialect import DialectBase
from exporter.api.types import ConversionHints
from exporter.api.v2 import checks as v2_checks
from exporter.api.v2 import hydration as v2_hydration
from exporter.api.v2 import windows as v2_windows
from exporter.api.v2.paging import CursorPaginator
from exporter.api.v2.registry import V2_ENDPOINTS

# The Orchestration Cluster (v2) REST API's SaaS audience (ZEEBE_TOKEN_AUDIENCE).
DEFAULT_SAAS_AUDIENCE = "zeebe.camunda.io"


class V2Dialect(DialectBase):
    name = "v2"
    registry = V2_ENDPOINTS
    # Keys are strings of digits (cast to int64 in Arrow compute); pages Arrow decodes from
    # their bytes, the cursor read from ``page.endCursor`` at their tail (issue 12 point 6).
    conversion = ConversionHints(
        keys_as_text=True, arrow_decodes_pages=True, cursor_path=("page", "endCursor")
    )
    saas_audience = DEFAULT_SAAS_AUDIENCE
    paginator_class = CursorPaginator
    hydration: ClassVar[ModuleType] = v2_hydration
    checks: ClassVar[ModuleType] = v2_checks
    windows: ClassVar[ModuleType] = v2_windows
    one_record: ClassVar[dict[str, Any]] = {"page": {"limit": 1}}
    total_path = ("page", "totalItems")


DIALECT = V2Dialect()
