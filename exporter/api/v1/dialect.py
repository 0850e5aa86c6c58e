"""The v1 dialect (``POST /v1/<resource>/search`` with ``searchAfter``): the one object through
which the layers above reach v1's registry, paging and hydration. Its data (name, audience,
conversion hints, ...) is the ``[dialect]`` table of ``endpoints.toml`` beside this module."""

from __future__ import annotations

from exporter.api.dialect import DialectBase
from exporter.api.v1 import checks, hydration, shards, windows
from exporter.api.v1.paging import SearchAfterPaginator
from exporter.api.v1.registry import V1_ENDPOINTS

PARTS = (checks, hydration, shards, windows)
DIALECT = DialectBase(__name__, V1_ENDPOINTS, SearchAfterPaginator, PARTS)
