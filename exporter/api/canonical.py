"""The canonical schema (issue 14): one record shape per export, whichever API it came from.

Camunda 8.10 removed the v1 API, so every export moves from v1 to v2 one day; written in each
API's own shape, the night of the upgrade would change every column name under the readers.
The canonical schema is v2's (the future-proof side): v2's fields with v2's names and types, in
v2's order, followed by the v1 fields that have no exact v2 counterpart (kept as is under their
v1 name, null for v2 records). A record of another API is converted on the way in, by the data
its registry holds per field (``V1Field.canonical`` and friends in ``api/v1/endpoints.toml``):
renamed, enum values v2 renamed mapped, nested item keys renamed, keys sent as text turned into
keys. v2 records pass through (Arrow batches only get the kept v1 columns, all null).

Neutral: no dialect is imported; the mapping is read from the registries' field attributes.
``output.schema: native`` skips all of this (the sinks ask ``converter``, which then is None).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from exporter.api import REGISTRY
from exporter.api.canonical_pages import Conversion, PageConverter
from exporter.api.types import Endpoint, Field, Kind
from exporter.errors import OutputError

# The API whose record shape is the canonical schema: v2, the only one from Camunda 8.10 on.
CANONICAL_API = "v2"
SCHEMA_MODES = ("canonical", "native")
DEFAULT_SCHEMA_MODE = "canonical"

# v1 dates (``yyyy-MM-dd'T'HH:mm:ss.SSSZZ``) -> RFC 3339 as v2 writes them (``...Z``).
_V1_OFFSET = re.compile(r"([+-])(\d{2})(\d{2})$")


@dataclass(frozen=True)
class FieldMapping:
    """What one field of a non-canonical API becomes in the canonical schema."""

    endpoint: str
    source: str  # the field's name in its API
    target: str  # its canonical column: the v2 name, or ``source`` when kept as is
    exact: bool  # False: no exact v2 counterpart, kept as is (``note`` says why)
    values: tuple[tuple[str, str], ...] = ()  # enum values v2 renamed
    items: tuple[tuple[str, str], ...] = ()  # nested item keys v2 renamed
    conversion: str | None = None  # "key_text": a key sent as a string of digits
    note: str = ""
    source_kind: Any = None


def mapping_of(field: Field, endpoint: str) -> FieldMapping:
    """A registry field's canonical mapping, read from its ``canonical*`` attributes."""
    target = getattr(field, "canonical", None)
    return FieldMapping(
        endpoint=endpoint,
        source=field.name,
        target=target or field.name,
        exact=target is not None,
        values=tuple(getattr(field, "canonical_values", ())),
        items=tuple(getattr(field, "canonical_items", ())),
        conversion=getattr(field, "canonical_conversion", None),
        note=getattr(field, "canonical_note", ""),
        source_kind=field.kind,
    )


def mappings(api: str, endpoint_name: str) -> tuple[FieldMapping, ...]:
    """Every field of ``api``'s export with what it becomes (identity for the canonical API)."""
    endpoint = REGISTRY[api][endpoint_name]
    if api == CANONICAL_API:
        return tuple(
            FieldMapping(endpoint_name, f.name, f.name, True, source_kind=f.kind)
            for f in endpoint.fields
        )
    return tuple(mapping_of(f, endpoint_name) for f in endpoint.fields)


def mapping_table() -> list[FieldMapping]:
    """All mappings of every non-canonical API, export by export (README's table)."""
    return [
        m
        for api, registry in REGISTRY.items()
        if api != CANONICAL_API
        for name in registry
        for m in mappings(api, name)
    ]


def _kept_fields(endpoint_name: str) -> tuple[Field, ...]:
    """Fields of the other APIs kept as is (no exact canonical counterpart), in table order."""
    kept: dict[str, Field] = {}
    for api, registry in REGISTRY.items():
        other = registry.get(endpoint_name)
        if api == CANONICAL_API or other is None:
            continue
        for f in other.fields:
            if getattr(f, "canonical", f.name) is None and f.name not in kept:
                kept[f.name] = Field(
                    f.name, f.kind, filterable=False, sortable=False, hydrated=f.hydrated
                )
    return tuple(kept.values())


@functools.cache
def canonical_endpoint(endpoint_name: str) -> Endpoint:
    """The canonical schema of an export as a registry endpoint (the Arrow schema is built from
    it like any other): the canonical API's fields, then the kept fields of the others."""
    base = REGISTRY[CANONICAL_API].get(endpoint_name)
    if base is None:  # an export only another API has: its own shape is canonical
        for registry in REGISTRY.values():
            if endpoint_name in registry:
                return registry[endpoint_name]
        raise KeyError(endpoint_name)
    kept = tuple(f for f in _kept_fields(endpoint_name) if base.field(f.name) is None)
    return replace(base, fields=(*base.fields, *kept)) if kept else base


def _v2_date(value: Any) -> Any:
    if isinstance(value, str):
        if value.endswith("+0000"):  # what Operate sends: skip the regex
            return value[:-5] + "Z"
        match = _V1_OFFSET.search(value)
        if match:
            sign, hours, minutes = match.groups()
            zone = "Z" if hours == minutes == "00" else f"{sign}{hours}:{minutes}"
            return value[: match.start()] + zone
    return value


class CanonicalConverter:
    """Converts one export's records (dicts) or Arrow batches of its API to the canonical
    schema. Built by ``converter``; state-free, so the converting thread may use it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.source = endpoint
        self.endpoint = canonical_endpoint(endpoint.name)
        self.is_identity = endpoint is self.endpoint
        maps = mappings(endpoint.api, endpoint.name) if not self.is_identity else ()
        if endpoint.api == CANONICAL_API:
            maps = ()  # v2 records pass through; batches only get the kept columns
        self._maps = {m.source: m for m in maps}
        self._renames = {m.source: m.target for m in maps if m.source != m.target}
        self._values = {m.source: dict(m.values) for m in maps if m.values}
        self._items = {m.source: dict(m.items) for m in maps if m.items}
        kinds = {f.name: f.kind for f in self.endpoint.fields}
        self._keys = {m.source for m in maps if kinds.get(m.target) is Kind.KEY}
        self._dates = {m.source for m in maps if kinds.get(m.target) is Kind.DATE}
        self._key_text = {m.source for m in maps if m.conversion == "key_text"}
        self._source_of = {m.target: m.source for m in maps}
        # Per v1 field: its canonical name and whether its value changes (the JSONL hot loop).
        valued = self._keys | self._dates | set(self._values) | set(self._items)
        self._plan = {m.source: (m.target, m.source in valued) for m in maps}
        self._valued = [(m.source, m.target) for m in maps if m.source in valued]
        # Whole pages: one compiled loop per record shape, this class's per-record conversion
        # as the reference and the fallback (api/canonical_pages.py).
        self._pages = PageConverter(
            self._renames, {name: self._conversion(name) for name in valued}, self.convert_record
        )

    # -- dicts (JSONL, stdout): v2's names and JSON types (keys as strings, RFC 3339 dates) --
    def convert_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        if not self._maps:
            return dict(record)
        # Renaming in one comprehension, then only the fields whose value changes: ~2x faster
        # than a Python loop over every field (this is v1 JSONL's hot loop).
        renames = self._renames
        out = {renames.get(name, name): value for name, value in record.items()}
        if len(out) != len(record):  # an unknown field named like a canonical one
            return self._convert_record_slowly(record)
        for source, target in self._valued:
            value = record.get(source)
            if value is not None:
                out[target] = self._value(source, value)
        return out

    def _convert_record_slowly(self, record: Mapping[str, Any]) -> dict[str, Any]:
        plan = self._plan
        out: dict[str, Any] = {}
        for name, value in record.items():
            step = plan.get(name)
            if step is None:  # a field the registry does not know: kept under its name
                if name not in out:  # ... unless a mapped field already took that name
                    out[name] = value
                continue
            target, needs_value = step
            out[target] = self._value(name, value) if needs_value and value is not None else value
        return out

    def convert_records(self, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """A page's records, each as ``convert_record`` makes it (in bulk: ~5x faster)."""
        if not self._maps:
            return list(records)  # type: ignore[arg-type]
        return self._pages.convert(records)

    def _conversion(self, name: str) -> Conversion:
        """What ``_value`` does to this field, for the bulk path: its one role (written inline
        there), or none (``_value`` itself is called)."""
        each = functools.partial(self._value, name)
        roles = [
            role
            for role, names in (
                ("key", self._keys),
                ("date", self._dates),
                ("enum", self._values),
                ("items", self._items),
            )
            if name in names
        ]
        if roles == ["enum"]:
            return Conversion(each, "enum", self._values[name])
        if roles in (["key"], ["date"]):
            return Conversion(each, roles[0])
        return Conversion(each)

    def _value(self, name: str, value: Any) -> Any:
        if name in self._keys and type(value) is int:
            return str(value)  # v2 sends keys as strings of digits
        if name in self._dates:
            return _v2_date(value)
        values = self._values.get(name)
        if values is not None and isinstance(value, str):
            return values.get(value, value)
        items = self._items.get(name)
        if items is not None and isinstance(value, list):
            return [
                {items.get(k, k): v for k, v in item.items()} if isinstance(item, dict) else item
                for item in value
            ]
        return value

    # -- Arrow (Parquet): the batch of the API's schema -> the canonical ``schema`` --------
    def convert_batch(self, batch: pa.RecordBatch, schema: pa.Schema, export: str) -> Any:
        """Renames columns, maps enum values and converts types with Arrow compute (cheap next
        to decoding the page); canonical columns the batch lacks are null."""
        if batch.schema.equals(schema):
            return batch
        present = set(batch.schema.names)
        arrays = []
        for target in schema:
            source = self._source_of.get(target.name, target.name)
            if source not in present:
                arrays.append(pa.nulls(batch.num_rows, target.type))
                continue
            column = batch.column(source)
            arrays.append(self._column(source, column, target, export))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _column(self, source: str, column: pa.Array, target: pa.Field, export: str) -> pa.Array:
        values = self._values.get(source)
        if values:
            for old, new in values.items():
                column = pc.if_else(pc.equal(column, old), pa.scalar(new, column.type), column)
        items = self._items.get(source)
        if items and pa.types.is_list(column.type):
            column = _rename_item_keys(column, items)
        if column.type.equals(target.type):
            return column
        try:
            return column.cast(target.type)  # safe cast: "12a" or an overflow raises
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            raise OutputError(
                f"export {export!r}: field {source!r} does not convert to the canonical column "
                f"{target.name!r} ({target.type}); write it with output.schema: native"
            ) from None


def _rename_item_keys(column: pa.Array, renames: Mapping[str, str]) -> pa.Array:
    """list<struct<a, b>> -> list<struct<renamed a, renamed b>> (same values, same offsets)."""
    column = pa.concat_arrays([column]) if column.offset else column  # offsets from 0
    structs = column.values
    names = [renames.get(f.name, f.name) for f in structs.type]
    children = [structs.field(i) for i in range(structs.type.num_fields)]
    renamed = pa.StructArray.from_arrays(children, names=names, mask=structs.is_null())
    return pa.ListArray.from_arrays(column.offsets, renamed, mask=column.is_null())


def converter(endpoint: Endpoint, mode: str) -> CanonicalConverter | None:
    """The converter of an export's records, or None when they are written as they come
    (``native``, or an endpoint whose records already have the canonical shape)."""
    if mode != "canonical":
        return None
    conv = CanonicalConverter(endpoint)
    return None if conv.is_identity else conv


__all__ = [
    "CANONICAL_API",
    "DEFAULT_SCHEMA_MODE",
    "SCHEMA_MODES",
    "CanonicalConverter",
    "FieldMapping",
    "canonical_endpoint",
    "converter",
    "mapping_markdown",
    "mapping_table",
    "mappings",
]


def _conversion_text(m: FieldMapping, target_enum: tuple[str, ...]) -> str:
    if not m.exact:
        return f"kept as is (v1 only): {m.note}"
    parts = [] if m.source == m.target else ["renamed"]
    if m.values:
        parts.append("values " + ", ".join(f"`{a}` -> `{b}`" for a, b in m.values))
    if m.items:
        parts.append("item keys " + ", ".join(f"`{a}` -> `{b}`" for a, b in m.items))
    if m.conversion == "key_text":
        parts.append("the key v1 sends as a string of digits becomes the key")
    return "; ".join(parts) or "same"


def mapping_markdown() -> str:
    """README's "v1 or v2?" mapping table, generated from the registries (a test keeps the
    README in sync): every v1 field, what it becomes, and the v2 fields v1 never had."""
    rows = [
        "| export | v1 field | canonical (v2) column | conversion |",
        "| --- | --- | --- | --- |",
    ]
    for api, registry in REGISTRY.items():
        if api == CANONICAL_API:
            continue
        for name, endpoint in registry.items():
            target = canonical_endpoint(name)
            mapped = set()
            for f in endpoint.fields:
                m = mapping_of(f, name)
                mapped.add(m.target)
                target_field = target.field(m.target)
                target_enum = target_field.enum if target_field is not None else ()
                unmatched = (
                    [v for v in f.enum if dict(m.values).get(v, v) not in target_enum]
                    if f.enum
                    else []
                )
                text = _conversion_text(m, target_enum)
                if unmatched:
                    text += "; kept as is, no v2 value: " + ", ".join(unmatched)
                column = f"`{m.target}`"
                rows.append(f"| {name} | `{f.name}` | {column} | {text} |")
            only = [f.name for f in target.fields if f.name not in mapped]
            if only:
                names = ", ".join(f"`{n}`" for n in only)
                rows.append(f"| {name} | — | {names} | v2 only: null for v1 records |")
    return "\n".join(rows) + "\n"
