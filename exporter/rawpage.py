"""The paging cursor of a v1 search page read from its tail, without parsing the items.

Parquet exports that need no hydration decode a page's items only once, with ``pyarrow.json``
on the converting thread. The paging thread needs just the cursor (``sortValues``) and, for
progress, ``total``. A key appears in the raw bytes as ``"sortValues"`` with both quotes
unescaped (inside a JSON string every quote is escaped), so the single such occurrence followed
by ``:`` and an array is the member; only that array is decoded (orjson: types as sent, 64-bit
integers exact). Anything ambiguous returns None and the caller parses the whole page as before.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

_SORT_VALUES = b'"sortValues"'
_TOTAL = b'"total"'
_ITEMS = b'"items"'
_WHITESPACE = b" \t\r\n"
# An empty page ends the export: it is always parsed whole (and is small).
_EMPTY_ITEMS = re.compile(rb'"items"\s*:\s*\[\s*\]')
_INTEGER = re.compile(rb"\s*:\s*(-?\d+)\s*[,}]")
# An array's closing bracket may sit inside one of its strings: try a few candidates.
_MAX_BRACKET_TRIES = 16


class Unsure(enum.Enum):
    UNSURE = "unsure"


UNSURE = Unsure.UNSURE


@dataclass(frozen=True)
class PageTail:
    """What the paging thread reads from a page: the cursor and where the
    ``sortValues`` member sits (``raw[:cut[0]] + raw[cut[1]:]`` is the page without it)."""

    cursor: list[Any]
    cut: tuple[int, int]
    raw: bytes = field(repr=False)

    def total(self) -> int | Unsure | None:
        """The page's ``total`` (None when absent), or ``UNSURE`` when it cannot be read from
        the bytes alone. Read on demand: only the first page's total is used."""
        at = _last_key(self.raw, _TOTAL, len(self.raw))
        if at is None:
            return UNSURE
        if at < 0:
            return None
        match = _INTEGER.match(self.raw, at + len(_TOTAL))
        return UNSURE if match is None else int(match.group(1))


@dataclass(frozen=True)
class RawPage:
    """A search response as received: its tail when readable, else the full parse."""

    raw: bytes
    tail: PageTail | None
    parsed: Any = None


def _skip(raw: bytes, at: int) -> int:
    while at < len(raw) and raw[at] in _WHITESPACE:
        at += 1
    return at


def _escaped(raw: bytes, at: int) -> bool:
    """Whether the quote at ``at`` is escaped (an odd run of backslashes before it)."""
    backslashes = 0
    while at - backslashes > 0 and raw[at - backslashes - 1] == 0x5C:  # "\"
        backslashes += 1
    return backslashes % 2 == 1


def _last_key(raw: bytes, key: bytes, end: int) -> int | None:
    """Offset of the one unescaped occurrence of ``key`` in ``raw[:end]``; -1 when absent;
    None when there are several (or it is escaped). Found from the end (the cursor sits at
    the tail of a typical page), then one pass over the prefix proves it is the only one."""
    at = raw.rfind(key, 0, end)
    if at < 0:
        return -1
    if _escaped(raw, at) or raw.find(key, 0, at) >= 0:
        return None
    return at


def read_tail(raw: bytes) -> PageTail | None:
    """The page's cursor (and, lazily, total), or None when the page must be parsed whole."""
    end = len(raw)
    while end > 0 and raw[end - 1] in _WHITESPACE:
        end -= 1
    if end < 2 or raw[0:1] != b"{" or raw[end - 1 : end] != b"}":
        return None
    items_at = raw.find(_ITEMS)
    if items_at < 0 or _EMPTY_ITEMS.match(raw, items_at) is not None:
        return None
    key = _last_key(raw, _SORT_VALUES, end)
    if key is None or key < 0:
        return None
    start = _skip(raw, key + len(_SORT_VALUES))
    if raw[start : start + 1] != b":":
        return None
    start = _skip(raw, start + 1)
    if raw[start : start + 1] != b"[":
        return None
    close = start
    cursor: Any = None
    for _ in range(_MAX_BRACKET_TRIES):
        close = raw.find(b"]", close + 1)
        if close < 0:
            return None
        try:
            cursor = orjson.loads(raw[start : close + 1])
            break
        except orjson.JSONDecodeError:
            continue
    if not isinstance(cursor, list) or not cursor:
        return None
    after = _skip(raw, close + 1)
    if raw[after : after + 1] == b",":
        cut = (key, after + 1)
    elif raw[after : after + 1] == b"}":
        before = key - 1
        while before > 0 and raw[before] in _WHITESPACE:
            before -= 1
        if raw[before : before + 1] != b",":
            return None
        cut = (before, close + 1)
    else:
        return None
    return PageTail(cursor, cut, raw)


def read_page(raw: bytes) -> RawPage:
    """The page's tail, or (when unsure) the whole page parsed; raises orjson's error."""
    tail = read_tail(raw)
    if tail is not None:
        return RawPage(raw, tail)
    return RawPage(raw, None, orjson.loads(raw))
