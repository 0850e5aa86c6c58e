"""The paging cursor of a search page read from its tail, without parsing the items.

Parquet exports that need no hydration decode a page's items only once, with ``pyarrow.json``
on the converting thread. The paging thread needs just the cursor and, for progress, the total.
The dialects name their cursor member in ``CURSOR_MEMBERS``: an array under ``sortValues`` or a
string under ``endCursor`` (inside the page's ``page`` object). A key appears in the raw bytes
with both quotes unescaped (inside a JSON string every quote is escaped), so the single such
occurrence followed by ``:`` and a value of the member's type is the member; only that value is
decoded (orjson: types as sent, 64-bit integers exact). Anything ambiguous returns None and the
caller parses the whole page as before; ``PageTail.key`` says which member was read, so that a
paginator takes only its own dialect's cursor.

It also holds the checks on a page's bytes that no parser does safely for us: how deep the JSON
can nest (``pyarrow.json`` recurses and crashes the process from about 20,000 levels: it only
gets pages with at most ``ARROW_SAFE_OPENINGS`` opening brackets, the others go through orjson,
which refuses more than 1,024 levels), an upper bound on the number of item objects (so that
unparsed paging can stop at a short page), and, for a page no parser accepts, whether it is
complete but unusable (text that is not UTF-8, nesting beyond orjson's limit: not retried) or
just truncated (retried).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate
from typing import Any

import orjson

_SORT_VALUES = b'"sortValues"'
_END_CURSOR = b'"endCursor"'
_TOTAL = b'"total"'
_ITEMS = b'"items"'
_WHITESPACE = b" \t\r\n"
# An empty page ends the export: it is always parsed whole (and is small).
_EMPTY_ITEMS = re.compile(rb'"items"\s*:\s*\[\s*\]')
_INTEGER = re.compile(rb"\s*:\s*(-?\d+)\s*[,}]")
# An array's closing bracket may sit inside one of its strings: try a few candidates.
_MAX_BRACKET_TRIES = 16

# ``pyarrow.json`` recurses once per level and crashes the process (SIGSEGV) from about 20,000
# levels on a worker thread (10,000 measured fine). A page with at most this many opening
# brackets cannot nest deeper, so Arrow may decode it; any other page goes through orjson.
ARROW_SAFE_OPENINGS = 4096
# orjson refuses deeper documents (JSONDecodeError); Arrow takes those safely.
ORJSON_MAX_NESTING = 1024
# The cursor is echoed in every request; one of Operate's is well under 1 KiB.
MAX_CURSOR_BYTES = 64 * 1024

# The structure of a JSON text is its brackets outside strings (see ``structure``).
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'"[]{}')
_QUOTE_OR_BACKSLASH_ESCAPE = re.compile(rb'\\[\\"]')
_STRING = re.compile(rb'"[^"]*"')
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")
_PAIR_ROUNDS = 8
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_SURROGATE = re.compile("[\ud800-\udfff]")


class Unsure(enum.Enum):
    UNSURE = "unsure"


UNSURE = Unsure.UNSURE


@dataclass(frozen=True)
class PageTail:
    """What the paging thread reads from a page: the cursor and where an array cursor member
    sits (``raw[:cut[0]] + raw[cut[1]:]`` is the page without it: its mixed types would defeat
    Arrow's inference; a string cursor is left in place, ``cut`` is then empty)."""

    cursor: Any  # a non-empty list (``sortValues``) or a non-empty string (``endCursor``)
    cut: tuple[int, int]
    raw: bytes = field(repr=False)
    key: str = "sortValues"  # the member the cursor was read from

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

    @cached_property
    def _braces(self) -> int:
        # One C-speed pass on the paging thread (a count is cheaper than a translate).
        return self.raw.count(b"{")

    def max_items(self) -> int:
        """An upper bound on the page's item objects: every ``{`` but the page's own and, for
        an ``endCursor``, the ``page`` object holding it (the sink checks that it is there:
        a page without it fails) (exact for Operate's flat records unless a string holds a
        brace). Items that are not objects are not counted; the sink refuses them."""
        containers = 2 if self.key == "endCursor" else 1
        return max(self._braces - containers, 0)

    def arrow_safe(self) -> bool:
        """Whether the page provably nests too little to crash Arrow's JSON reader: each
        opening bracket (in strings too) adds at most one level."""
        # The brackets are counted here, on the converting thread, off the paging thread.
        return self._braces + self.raw.count(b"[") <= ARROW_SAFE_OPENINGS


@dataclass(frozen=True)
class RawPage:
    """A search response as received: its tail when readable, else the full parse.

    ``unusable``: a complete page no parser can take (see ``unusable_reason``); the paging
    loop refuses it with the export and page named, instead of retrying it."""

    raw: bytes
    tail: PageTail | None
    parsed: Any = None
    unusable: bool = False

    def tail_of(self, key: str) -> PageTail | None:
        """The tail when its cursor was read from member ``key`` (a dialect's cursor), else
        None: the page is then parsed whole by the paginator."""
        return self.tail if self.tail is not None and self.tail.key == key else None

    def json(self, unique_key: str | None = None) -> Any:
        """The whole page parsed (orjson: 64-bit integers exact). Raises ``UnusablePage``
        naming what is wrong (field and record where it can) when it is not usable JSON."""
        if self.parsed is not None:
            return self.parsed
        if not self.unusable:
            try:
                return orjson.loads(self.raw)
            except orjson.JSONDecodeError:
                pass
        reason = unusable_reason(self.raw, unique_key) or "not valid JSON (truncated or malformed)"
        raise UnusablePage(reason)


class UnusablePage(Exception):
    """A page that cannot be used, without context: the caller names the export and page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def structure(raw: bytes) -> bytes:
    """The brackets of the JSON text ``raw`` that are outside strings, in order.

    Only the escapes ``\\\\`` and ``\\"`` change where a string ends: they are dropped first
    (a C-speed regex, only when the page has a backslash at all), then every byte but quotes and
    brackets (``translate``). Quotes then alternate open/close: removing two adjacent ones keeps
    that parity, and what remains between the last quotes is a string's brackets (a small
    regex over a few KiB).
    """
    if raw.find(b"\\") >= 0:
        raw = _QUOTE_OR_BACKSLASH_ESCAPE.sub(b"", raw)
    kept = raw.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    return _STRING.sub(b"", kept) if b'"' in kept else kept


def nesting(brackets: bytes, limit: int) -> int | None:
    """Depth of a bracket sequence (``structure``) if at most ``limit``, ``limit + 1`` if
    deeper, None when the brackets do not pair up. A usual page (a few KiB of brackets, three
    levels) takes a few rounds that each drop the innermost pairs (C-speed regex: the rounds
    needed are the depth); whatever is left after them is measured in one linear pass."""
    depth = 0
    while brackets and depth < _PAIR_ROUNDS:
        reduced = _INNERMOST_PAIR.sub(b"", brackets)
        if len(reduced) == len(brackets):
            return None
        brackets = reduced
        depth += 1
    if brackets:
        levels = list(accumulate(map(_BRACKET_STEP.__getitem__, brackets)))
        if levels[-1] != 0 or min(levels) < 0:
            return None
        depth += max(levels)
    return depth if depth <= limit else limit + 1


def unusable_reason(raw: bytes, unique_key: str | None = None) -> str | None:
    """Why a complete page is unusable: nested deeper than orjson takes, or holding text that
    is not UTF-8 (or a lone surrogate escape), naming the field and the record's
    ``unique_key`` when it can (never the value). None when the page is just not JSON, e.g.
    truncated (worth a retry)."""
    depth = nesting(structure(raw), ORJSON_MAX_NESTING)
    if depth is None:
        return None
    if depth > ORJSON_MAX_NESTING:
        return (
            f"nested deeper than {ORJSON_MAX_NESTING} levels, the JSON parser's limit "
            "(Operate's records nest at most 4)"
        )
    try:
        raw.decode("utf-8")
        what = "a lone surrogate escape (\\ud800-\\udfff), which is not Unicode text"
    except UnicodeDecodeError as exc:
        what = f"bytes that are not UTF-8 (at byte {exc.start} of the page)"
    try:
        document = json.loads(raw.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError):
        return None
    found = _first_bad_text(document)
    if found is None:
        return None
    return f"{_describe_place(found, document, unique_key)} holds {what}"


def _bad_text(value: str) -> bool:
    return _SURROGATE.search(value) is not None


def _walk_bad_text(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        if _bad_text(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if _bad_text(key):
                yield (*path, key)
            yield from _walk_bad_text(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_bad_text(item, (*path, index))


def _first_bad_text(document: Any) -> tuple[Any, ...] | None:
    return next(_walk_bad_text(document, ()), None)


def _describe_place(path: tuple[Any, ...], document: Any, unique_key: str | None) -> str:
    """``field 'name' of item 3 (key=2251799813685249)`` for a path into a search page."""
    shown = [p if isinstance(p, int) else p.encode("utf-8", "replace").decode() for p in path]
    if len(path) >= 3 and path[0] == "items" and isinstance(path[1], int):
        item = document["items"][path[1]]
        field_path = ".".join(str(p) for p in shown[2:])
        ident = item.get(unique_key) if unique_key and isinstance(item, dict) else None
        ident_text = f" ({unique_key}={ident!r})" if isinstance(ident, int | str) else ""
        if ident_text and isinstance(ident, str) and _bad_text(ident):
            ident_text = ""
        return f"field {field_path!r} of item {path[1]}{ident_text}"
    return f"member {'.'.join(str(p) for p in shown)!r} of the page" if path else "the page"


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
    # rfind, not find: CPython's backward search is ~3x faster for a key that starts and ends
    # with a quote (the most frequent byte of a JSON page); both scan the whole prefix.
    if _escaped(raw, at) or raw.rfind(key, 0, at) >= 0:
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
    if key is None:
        return None
    if key >= 0:
        return _array_cursor(raw, key)
    key = _last_key(raw, _END_CURSOR, end)
    return None if key is None or key < 0 else _string_cursor(raw, key)


def _value_start(raw: bytes, key: int, name: bytes) -> int | None:
    """Where the value of the member whose key starts at ``key`` begins (after the colon)."""
    start = _skip(raw, key + len(name))
    if raw[start : start + 1] != b":":
        return None
    return _skip(raw, start + 1)


def _array_cursor(raw: bytes, key: int) -> PageTail | None:
    """The ``sortValues`` array at ``key``, with the cut that removes the member."""
    start = _value_start(raw, key, _SORT_VALUES)
    if start is None or raw[start : start + 1] != b"[":
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


def _string_cursor(raw: bytes, key: int) -> PageTail | None:
    """The ``endCursor`` string at ``key`` (a null, empty or non-string one: None). Whether
    the member sits in the page's ``page`` object is checked by the sink, which decodes it."""
    start = _value_start(raw, key, _END_CURSOR)
    if start is None or raw[start : start + 1] != b'"':
        return None
    close = start
    while True:
        close = raw.find(b'"', close + 1)
        if close < 0 or close - start > MAX_CURSOR_BYTES + 2:
            return None  # an over-long cursor: the whole page is parsed, the paginator refuses it
        if not _escaped(raw, close):
            break
    try:
        cursor = orjson.loads(raw[start : close + 1])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(cursor, str) or not cursor:
        return None
    if raw[_skip(raw, close + 1) : _skip(raw, close + 1) + 1] not in (b",", b"}"):
        return None
    return PageTail(cursor, (0, 0), raw, key="endCursor")


def read_page(raw: bytes) -> RawPage:
    """The page's tail, or (when unsure) the whole page parsed. A page no parser takes raises
    orjson's error (retried as a truncated body) unless it is complete but unusable: then it
    is returned ``unusable``, for the paging loop to refuse with the export and page named."""
    tail = read_tail(raw)
    if tail is not None:
        return RawPage(raw, tail)
    try:
        return RawPage(raw, None, orjson.loads(raw))
    except orjson.JSONDecodeError:
        if unusable_reason(raw) is None:
            raise
    return RawPage(raw, None, unusable=True)
