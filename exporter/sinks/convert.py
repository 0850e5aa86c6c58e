"""Records (dicts parsed by orjson) -> one Arrow record batch with the endpoint's explicit schema.

The hot path of a Parquet export, so it works column-wise: one list per column built in a single
comprehension over the page, then one ``pa.array`` call per column (dates: a string array cast
to ``timestamp[ms, UTC]``, which accepts both ``+0000`` and ``+00:00`` offsets). Row-by-row
appends would be several times slower.

Conversions are strict. A value that does not fit its column (a string or float in an int64
key column, an int beyond int64, an unparseable date, a number in a string column) raises
OutputError naming the export, field, record and the value's *type*, never becomes null, and
the value itself is not echoed (variable values can hold anything). Fields the schema does not
know are kept in ``_extra`` as JSON object text; so are evaluated inputs/outputs whose items carry
keys the struct type does not know (the typed column holds the known keys, ``_extra`` the
original list), so overlaying ``_extra`` on the typed columns gives back the API record.

Fast path: given the raw bytes of an unmodified search page, ``pyarrow.json`` decodes them in
C++ (releasing the GIL) and the result is used only when it provably equals what the Python path
would build (see ``RecordConverter._from_raw``); anything else falls back to the Python path.
Pages whose items were never parsed (``convert_page``, exports without hydration) are decoded
the same way with unknown fields inferred, and checked against the paging contract here. Keys
sent as strings of digits (the dialect's ``keys_as_text``) are read as strings and cast to int64
in Arrow compute (exact: no float on the way; anything but digits fails and falls back); dates
are cast to ``timestamp[ms, UTC]`` there too, with fractions beyond milliseconds cut first,
as ``_dates`` does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pyarrow as pa

from exporter.api import dialect_of
from exporter.api.paging import check_count, check_keys, checked_items
from exporter.api.rawpage import PageTail, RawPage, UnusablePage, read_tail
from exporter.api.types import Endpoint, Kind, ShapeKind
from exporter.errors import OutputError, ProtocolError
from exporter.sinks.arrow_schema import (
    DECISION_INPUT_TYPE,
    EVALUATED_INPUT_TYPE,
    EVALUATED_OUTPUT_TYPE,
    EXTRA_COLUMN,
    MATCHED_RULE_TYPE,
    TIMESTAMP_TYPE,
    arrow_type,
    columns,
    schema_for,
)
from exporter.spec import ExportSpec

_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError)


class _Mismatch(Exception):
    """A column's values do not fit its type; the caller locates the value and reports it."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


ColumnConverter = Callable[[list[Any]], pa.Array]


def _integers(target: pa.DataType, expected: str) -> ColumnConverter:
    # Inference first, then a safe cast: ``pa.array([1.5], pa.int64())`` would silently
    # truncate a float, while inference reports double; ints beyond int64 infer as uint64 or
    # raise, and the safe cast to int32 rejects out-of-range versions.
    def convert(values: list[Any]) -> pa.Array:
        try:
            inferred = pa.array(values)
        except _ARROW_ERRORS:
            raise _Mismatch(expected) from None
        if not (pa.types.is_null(inferred.type) or inferred.type == pa.int64()):
            raise _Mismatch(expected)
        try:
            return inferred.cast(target)
        except _ARROW_ERRORS:
            raise _Mismatch(expected) from None

    return convert


def _keys(values: list[Any]) -> pa.Array:
    """int64 keys from JSON numbers (v1) or strings of digits (v2), exactly.

    v2 sends keys as strings; Arrow's string -> int64 cast parses them as integers (no float
    on the way: 9007199254740993 stays itself) and refuses anything that is not digits.
    """
    try:
        inferred = pa.array(values)
    except _ARROW_ERRORS:
        raise _Mismatch(_KEY_EXPECTED) from None
    if pa.types.is_string(inferred.type) or pa.types.is_large_string(inferred.type):
        try:
            return inferred.cast(pa.int64())
        except _ARROW_ERRORS:
            raise _Mismatch(_KEY_EXPECTED) from None
    if not (pa.types.is_null(inferred.type) or inferred.type == pa.int64()):
        raise _Mismatch(_KEY_EXPECTED)
    return inferred


_KEY_EXPECTED = "an integer within int64 (or a string of its digits)"


def _json_objects(values: list[Any]) -> pa.Array:
    if any(v is not None and not isinstance(v, dict) for v in values):
        raise _Mismatch("a JSON object")
    try:
        texts = [None if v is None else orjson.dumps(v).decode() for v in values]
    except orjson.JSONEncodeError:
        raise _Mismatch(f"a JSON object nested at most {WRITABLE_NESTING} levels") from None
    return pa.array(texts, pa.string())


# orjson writes at most this many levels (deeper: JSONEncodeError "Recursion limit reached").
WRITABLE_NESTING = 254


def _booleans(values: list[Any]) -> pa.Array:
    try:
        inferred = pa.array(values)
    except _ARROW_ERRORS:
        raise _Mismatch("a boolean") from None
    if pa.types.is_null(inferred.type):
        return inferred.cast(pa.bool_())
    if inferred.type != pa.bool_():
        raise _Mismatch("a boolean")
    return inferred


def _strings(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, pa.string())
    except _ARROW_ERRORS:
        raise _Mismatch("a string") from None


_DATE_EXPECTED = "a date string like 2022-03-17T11:50:25.729+0000"


_LONG_FRACTION = re.compile(r"(\.\d{3})\d+")
_LONG_FRACTION_RE2 = r"(\.\d{3})\d+"  # the same pattern for Arrow compute (RE2)


def _arrow_dates(strings: pa.Array) -> pa.Array:
    """A string column cast like ``_dates`` (the decoded-page path): offsets (``Z``,
    ``+02:00``, ``+0000``) are understood by the cast; more than millisecond digits are cut
    first when the plain cast refuses them. Raises Arrow's error when a value is no date."""
    try:
        return strings.cast(TIMESTAMP_TYPE)
    except _ARROW_ERRORS:
        import pyarrow.compute as pc

        cut = pc.replace_substring_regex(strings, _LONG_FRACTION_RE2, r"\1", max_replacements=1)
        return cut.cast(TIMESTAMP_TYPE)


def _dates(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, pa.string()).cast(TIMESTAMP_TYPE)
    except _ARROW_ERRORS:
        pass
    # RFC 3339 allows more than millisecond digits (the cast refuses them): cut to ms.
    try:
        cut = [_LONG_FRACTION.sub(r"\1", v, count=1) if isinstance(v, str) else v for v in values]
        return pa.array(cut, pa.string()).cast(TIMESTAMP_TYPE)
    except _ARROW_ERRORS:
        raise _Mismatch(_DATE_EXPECTED) from None


def _nested(target: pa.DataType, expected: str) -> ColumnConverter:
    def convert(values: list[Any]) -> pa.Array:
        try:
            return pa.array(values, target)
        except _ARROW_ERRORS:
            raise _Mismatch(expected) from None

    return convert


_CONVERTERS: dict[Kind | ShapeKind, ColumnConverter] = {
    # v1 sends keys as JSON numbers: a string there is a contract deviation, refused.
    Kind.KEY: _integers(pa.int64(), "an integer within int64"),
    Kind.INT32: _integers(pa.int32(), "an integer within int32"),
    Kind.BOOL: _booleans,
    Kind.STRING: _strings,
    Kind.ENUM: _strings,
    Kind.JSON_TEXT: _strings,
    Kind.XML: _strings,
    Kind.DATE: _dates,
    Kind.EVALUATED_INPUTS: _nested(
        pa.list_(EVALUATED_INPUT_TYPE), "a list of {id, name, value} objects with string values"
    ),
    Kind.EVALUATED_OUTPUTS: _nested(
        pa.list_(EVALUATED_OUTPUT_TYPE),
        "a list of {id, name, value, ruleId, ruleIndex} objects",
    ),
    ShapeKind.STRING_LIST: _nested(pa.list_(pa.string()), "a list of strings"),
    ShapeKind.JSON_OBJECT: _json_objects,
    ShapeKind.DECISION_INPUTS: _nested(
        pa.list_(DECISION_INPUT_TYPE), "a list of {inputId, inputName, inputValue} objects"
    ),
    ShapeKind.MATCHED_RULES: _nested(
        pa.list_(MATCHED_RULE_TYPE),
        "a list of {ruleId, ruleIndex, evaluatedOutputs: [{outputId, outputName, outputValue}]}",
    ),
}

_STRUCT_KEYS: dict[Kind | ShapeKind, frozenset[str]] = {
    Kind.EVALUATED_INPUTS: frozenset(f.name for f in EVALUATED_INPUT_TYPE),
    Kind.EVALUATED_OUTPUTS: frozenset(f.name for f in EVALUATED_OUTPUT_TYPE),
    ShapeKind.DECISION_INPUTS: frozenset(f.name for f in DECISION_INPUT_TYPE),
    ShapeKind.MATCHED_RULES: frozenset(f.name for f in MATCHED_RULE_TYPE),
}


# Column kinds whose Arrow type the JSON reader produces exactly as the Python path does
# (dates are read as strings and cast like ``_dates``). Nested kinds stay on the Python path.
_RAW_KINDS = {
    Kind.KEY: pa.int64(),
    Kind.INT32: pa.int32(),
    Kind.BOOL: pa.bool_(),
    Kind.STRING: pa.string(),
    Kind.ENUM: pa.string(),
    Kind.JSON_TEXT: pa.string(),
    Kind.XML: pa.string(),
    Kind.DATE: pa.string(),
    ShapeKind.STRING_LIST: pa.list_(pa.string()),
}


def _raw_parse_options(endpoint: Endpoint, fields: Sequence[Any], unknown: str = "ignore") -> Any:
    """``pyarrow.json`` parse options for a page ``{"items": [...], ...}``, or None when the
    export has columns the raw path cannot decode (the API's pages are not Arrow-decodable;
    nested evaluation lists, JSON objects). Keys sent as text are read as strings (then cast)."""
    hints = dialect_of(endpoint).conversion
    if not hints.arrow_decodes_pages or any(f.kind not in _RAW_KINDS for f in fields):
        return None
    from pyarrow import json as pa_json

    kinds = dict(_RAW_KINDS)
    if hints.keys_as_text:
        kinds[Kind.KEY] = pa.string()
    item = pa.struct([pa.field(f.name, kinds[f.kind]) for f in fields])
    return pa_json.ParseOptions(
        explicit_schema=pa.schema([pa.field("items", pa.list_(item))]),
        newlines_in_values=True,  # the page is one JSON value, possibly pretty-printed
        # "ignore": sortValues, total; unknown item fields are counted by the caller.
        # "infer" (pages without sortValues): unknown item fields show in the struct type.
        unexpected_field_behavior=unknown,
    )


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer beyond int64" if not -(2**63) <= value < 2**63 else "integer"
    if isinstance(value, float):
        # orjson reads an integer beyond 64 bits (2^70) as a float: say so.
        return "float (or an integer beyond 64 bits, which JSON parsers read as a float)"
    names: dict[type, str] = {str: "string", list: "list", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _identity(values: Sequence[Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((type(v).__name__, repr(v)) for v in values)


def _member(document: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` in a parsed page (None when any step is missing)."""
    for step in path:
        document = document.get(step) if isinstance(document, dict) else None
    return document


def _same_cursor(found: Any, read: Any) -> bool:
    """Whether the page's parsed cursor is the one read from its tail (same JSON types)."""
    if isinstance(read, str):
        return isinstance(found, str) and found == read
    return isinstance(found, list) and _identity(found) == _identity(read)


def _decoded_member(table: pa.Table, path: Sequence[str]) -> Any:
    """The value at ``path`` in a page decoded as a one-row table (None when absent)."""
    if path[0] not in table.column_names:
        return None
    value = table.column(path[0])[0].as_py()
    return _member(value, path[1:]) if len(path) > 1 else value


class RecordConverter:
    """Converts pages of one export's records to record batches of ``schema``."""

    def __init__(self, endpoint: Endpoint, export: ExportSpec) -> None:
        self.endpoint = endpoint
        self.export = export
        self.schema = schema_for(endpoint, export)
        self._columns = columns(endpoint, export)
        self._known = frozenset(f.name for f in self._columns)
        self._by_kind = dict(_CONVERTERS)
        if dialect_of(endpoint).conversion.keys_as_text:
            self._by_kind[Kind.KEY] = _keys  # keys are strings of digits (v2)
        self._converters = [(f.name, f.kind, self._by_kind[f.kind]) for f in self._columns]
        self._nested = [
            (f.name, _STRUCT_KEYS[f.kind]) for f in self._columns if f.kind in _STRUCT_KEYS
        ]
        self._raw_options = _raw_parse_options(endpoint, self._columns)
        self._page_options = _raw_parse_options(endpoint, self._columns, unknown="infer")
        self._dates = [i for i, f in enumerate(self._columns) if f.kind is Kind.DATE]
        hints = dialect_of(endpoint).conversion
        # Key columns decoded as strings of digits, cast to int64 after decoding.
        self._text_keys = (
            [i for i, f in enumerate(self._columns) if f.kind is Kind.KEY]
            if hints.keys_as_text
            else []
        )
        self._cursor_path = hints.cursor_path
        self._key_fields = endpoint.fields_of_kind(Kind.KEY)

    def convert(
        self, records: Sequence[dict[str, Any]], raw: bytes | None = None
    ) -> pa.RecordBatch:
        """The page as a record batch. ``raw``: the search response ``records`` came from, as
        received and unmodified; decoded in C++ when it provably gives the same batch."""
        if raw is not None and self._raw_options is not None and records:
            batch = self._from_raw(raw, records)
            if batch is not None:
                return batch
        arrays: list[pa.Array] = []
        for name, kind, converter in self._converters:
            values = [r.get(name) for r in records]
            try:
                arrays.append(converter(values))
            except _Mismatch as mismatch:
                raise self._locate(name, kind, values, records, mismatch.expected) from None
        arrays.append(pa.array(self._extras(records, arrays), pa.string()))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _from_raw(self, raw: bytes, records: Sequence[dict[str, Any]]) -> pa.RecordBatch | None:
        """Decode the page's JSON with ``pyarrow.json`` (releases the GIL) or return None.

        The whole response is read as one JSON row of ``items: list<struct<columns>>``; Arrow's
        JSON reader is strict for an explicit schema (a string, float, boolean or out-of-range
        number in an integer column, a number in a string column, a duplicate key: all errors),
        dates are the same string -> timestamp cast as the Python path. It ignores fields the
        schema does not know, so the batch is taken only when the total number of keys in
        ``records`` equals the number of non-null values decoded: then no record had an
        unknown field (nor an explicit null) and ``_extra`` is all null. A page whose cursor
        the tail reader finds (v2's first and last pages, hydrated pages that hydration left
        alone) is read as ``convert_page`` reads it instead: unknown fields inferred show in
        the struct type, so explicit nulls, which v2 sends, do not send it to the Python path
        (whose ``pa.array`` on lists also imports pandas when it is installed, ~0.25 s).
        Anything else (and every error) returns None: the Python path then converts the page,
        or raises its precise OutputError.
        """
        tail = read_tail(raw) if self._page_options is not None else None
        if tail is not None and tail.key == self._cursor_path[-1]:
            # A page whose cursor the tail reader finds is read as ``convert_page`` reads it
            # (unknown fields inferred), so explicit nulls (v2 sends them) need no key count.
            return self._decode_page(tail, records)
        return self._decode(raw, self._raw_options, records)

    def _decode_page(
        self, tail: PageTail, records: Sequence[dict[str, Any]] | None
    ) -> pa.RecordBatch | None:
        """The page of ``tail`` decoded with unknown fields inferred, without its array cursor
        (its mixed types would defeat inference; a string cursor stays and is checked)."""
        start, end = tail.cut
        text = tail.raw[:start] + tail.raw[end:] if end > start else tail.raw
        return self._decode(text, self._page_options, records, cursor=tail.cursor)

    @property
    def decodes_pages(self) -> bool:
        """Whether ``convert_page`` can decode this export's pages from their raw bytes."""
        return self._page_options is not None

    def convert_page(self, page: RawPage, size: int, number: int) -> pa.RecordBatch:
        """A page read by ``rawpage`` (items not parsed yet) as a record batch, with the paging
        contract's item checks (objects, at most ``size``) that the paging thread skipped.

        The page (without an array cursor: v1's ``sortValues`` is cut out; a string cursor,
        v2's ``page.endCursor``, stays and must equal the one the paging thread read) is read by
        ``pyarrow.json`` with unknown fields inferred: the batch is taken when the items'
        struct has only the known fields.
        Otherwise (an unknown field, any Arrow error) the page is parsed by orjson and converted
        by the Python path, which fills ``_extra`` or raises its precise error.
        """
        tail = page.tail_of(self._cursor_path[-1])
        assert tail is not None and self._page_options is not None
        name = self.export.name
        # Arrow's JSON reader recurses per level (~20,000 crash the process): it only gets
        # pages that provably nest less; orjson (the fallback) refuses beyond 1024 levels.
        if tail.arrow_safe():
            batch = self._decode_page(tail, None)
            if batch is not None:
                check_count(name, number, batch.num_rows, size)
                return batch
        try:
            response = page.json(self.endpoint.unique_key)
        except UnusablePage as exc:
            raise ProtocolError(f"{name}: page {number}: {exc.reason}") from None
        records = checked_items(name, number, response, size)
        check_keys(name, number, records, self._key_fields, self.endpoint.unique_key)
        if not _same_cursor(_member(response, self._cursor_path), tail.cursor):
            where = ".".join(self._cursor_path)
            raise ProtocolError(f"{name}: page {number} has no single top-level {where} to page on")
        if not records:
            return pa.RecordBatch.from_pylist([], schema=self.schema)
        return self.convert(records)

    def _decode(
        self,
        raw: bytes,
        options: Any,
        records: Sequence[dict[str, Any]] | None,
        cursor: Any = None,
    ) -> pa.RecordBatch | None:
        """``raw`` read by ``pyarrow.json`` as one row ``items: list<struct<columns>>`` (the
        GIL is released); None when that cannot be the Python converter's batch. ``cursor``:
        a string cursor read from the page's tail, which must be the page's member at the
        dialect's ``cursor_path`` (an array cursor was cut out of the page already)."""
        from pyarrow import json as pa_json

        read_options = pa_json.ReadOptions(use_threads=False, block_size=max(1 << 20, len(raw) + 1))
        try:
            table = pa_json.read_json(
                pa.BufferReader(raw), read_options=read_options, parse_options=options
            )
            if table.num_rows != 1:
                return None
            if isinstance(cursor, str) and _decoded_member(table, self._cursor_path) != cursor:
                return None  # the tail's endCursor is not the page's: the Python path decides
            column = table.column("items")
            if column.null_count:
                return None
            items = column.chunk(0).flatten()
            if items.null_count or items.type.num_fields != len(self._columns):
                return None  # a null item, or an unknown field (inferred): the Python path
            if records is not None and len(items) != len(records):
                return None
            if records is None:
                # Arrow's JSON reader copies string bytes as they are: text that is not UTF-8
                # would give a file no reader opens. orjson (the fallback) names the field.
                items.validate(full=True)
            arrays: list[pa.Array] = items.flatten()
            for i in self._dates:
                arrays[i] = _arrow_dates(arrays[i])
            for i in self._text_keys:
                arrays[i] = arrays[i].cast(pa.int64())  # safe: digits only, within int64
        except _ARROW_ERRORS:
            return None
        if (
            records is not None
            and options is self._raw_options  # unknown fields ignored: count the keys
            and sum(map(len, records)) != sum(len(a) - a.null_count for a in arrays)
        ):
            return None
        arrays.append(pa.nulls(len(items), pa.string()))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _extras(
        self, records: Sequence[dict[str, Any]], arrays: list[pa.Array]
    ) -> list[str | None]:
        """The ``_extra`` column. A record can only hold an unknown field when it has more keys
        than it has non-null known columns; that test runs vectorised (a per-record key-set
        comparison would cost a fifth of the whole conversion) and only suspects are inspected.
        """
        out: list[str | None] = [None] * len(records)
        if not self._nested and sum(map(len, records)) == sum(
            len(a) - a.null_count for a in arrays
        ):
            # Exact shortcut: every record has at least as many keys as non-null known values,
            # so equal totals mean equality for every record, i.e. no record has an unknown
            # field (nor an explicit null, which is harmless). The common case costs O(columns).
            return out
        import pyarrow.compute as pc  # ~35 ms of imports, needed only when this path runs

        lengths = pa.array([len(r) for r in records], pa.int32())
        present = pa.array([0] * len(records), pa.int32()) if not arrays else None
        for array in arrays:
            valid = pc.cast(array.is_valid(), pa.int32())
            present = valid if present is None else pc.add(present, valid)
        suspects = pc.indices_nonzero(pc.not_equal(lengths, present)).to_pylist()
        if self._nested:
            nested_names = [name for name, _ in self._nested]
            suspects = sorted(
                set(suspects).union(
                    i for i, r in enumerate(records) if any(r.get(n) for n in nested_names)
                )
            )
        known = self._known
        for i in suspects:
            record = records[i]
            extra: dict[str, Any] | None = None
            if not record.keys() <= known:
                extra = {k: v for k, v in record.items() if k not in known}
            for name, struct_keys in self._nested:
                items = record.get(name)
                if isinstance(items, list) and any(
                    isinstance(item, dict) and not item.keys() <= struct_keys for item in items
                ):
                    # Keep the original list: the struct column can only hold the known keys.
                    extra = {} if extra is None else extra
                    extra[name] = items
            if extra is not None:
                try:
                    out[i] = orjson.dumps(extra).decode()
                except orjson.JSONEncodeError:
                    ident = record.get(self.endpoint.unique_key)
                    raise OutputError(
                        f"export {self.export.name!r}: record "
                        f"{self.endpoint.unique_key}={ident!r} (row {i}) has fields the schema "
                        f"does not know nested deeper than the {WRITABLE_NESTING} levels "
                        "_extra can hold"
                    ) from None
        return out

    def _locate(
        self,
        name: str,
        kind: Kind | ShapeKind,
        values: list[Any],
        records: Sequence[dict[str, Any]],
        expected: str,
    ) -> OutputError:
        converter = self._by_kind[kind]
        for index, value in enumerate(values):
            try:
                converter([value])
            except _Mismatch:
                ident_field = self.endpoint.unique_key
                # The offending field itself is never echoed, so it cannot name its record.
                ident = records[index].get(ident_field) if ident_field != name else None
                where = f"record {ident_field}={ident!r}" if ident is not None else f"row {index}"
                got = _type_name(value)
                if kind is Kind.DATE and isinstance(value, str):
                    got = "a string that is not such a date"
                return OutputError(
                    f"export {self.export.name!r}: field {name!r} of {where} does not fit its "
                    f"Parquet column ({arrow_type(kind)}): expected {expected}, got {got}"
                )
        return OutputError(
            f"export {self.export.name!r}: field {name!r} could not be converted to "
            f"{arrow_type(kind)}"
        )


__all__ = ["EXTRA_COLUMN", "RecordConverter"]
