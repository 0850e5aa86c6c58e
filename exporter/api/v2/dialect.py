"""The v2 dialect (``POST /v2/<resource>/search`` with page cursors): the one object through
which the layers above reach v2's registry, paging and hydration. Its data (name, audience,
conversion hints, ...) is the ``[dialect]`` table of ``endpoints.toml`` beside this module."""

from __future__ import annotations

from exporter.api.dialect import DialectBase
from exporter.api.v2 import checks, hydration, shards, windows
from exporter.api.v2.paging import CursorPaginator
from exporter.api.v2.registry import V2_ENDPOINTS

PARTS = (checks, hydration, shards, windows)
DIALECT = DialectBase(__name__, V2_ENDPOINTS, CursorPaginator, PARTS)
