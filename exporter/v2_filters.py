"""Old import path of the v2 filter rules, kept for ``exporter/simulator`` (see endpoints.py)."""

from exporter.api.v2.filters import (
    CursorError,
    cursor_values,
    decode_cursor,
    encode_cursor,
    matches_v2_filter,
    validate_v2_filter,
    validate_v2_sort,
)

__all__ = [
    "CursorError",
    "cursor_values",
    "decode_cursor",
    "encode_cursor",
    "matches_v2_filter",
    "validate_v2_filter",
    "validate_v2_sort",
]
