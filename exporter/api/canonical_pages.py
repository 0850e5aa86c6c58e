"""A page of records converted to the canonical shape in bulk, one compiled loop per record
shape (v1 JSONL's hot loop, issue 14).

Converting record by record costs ~2 us a record in Python: each field's name is looked up,
then each changing value goes through a chain of tests (issue 14 made v1 JSONL 2.6x slower).
But nearly every record of a page has one of a few *shapes* (its keys, in order), and for a
shape all of that is known in advance: the canonical name of every position and what happens
to its value. So a shape gets a plan, made once: a list comprehension generated for it (as
dataclasses generates ``__init__``) that unpacks each record's values and builds the canonical
dict in one display with constant keys, the value conversions written inline for the common
case (an int key -> ``str``, a ``+0000`` date -> ``Z``, an enum value -> its v2 name) and
everything else handed to the per-record conversion's own function for that field.

The per-record conversion stays the reference: a shape with names that collide (the reference
decides who wins), a shape seen rarely in a page, a page of too many shapes or a record that is
not a dict go through it, and the result is the same dicts, in the same key order, either way.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

Record = Mapping[str, Any]
Build = Callable[[list[Record]], list[dict[str, Any]]]

# Below this many records of one shape in a page, the per-record path is as cheap as a plan.
MIN_GROUP = 4
# Bounds against pages of ever-new shapes (a hostile server): plans kept per converter, shapes
# planned per page, fields of a planned shape.
MAX_PLANS = 64
MAX_SHAPES_PER_PAGE = 16
MAX_FIELDS = 256


@dataclass(frozen=True)
class Conversion:
    """How one field's value changes. ``each``: the reference (the per-record conversion's
    function for this field, value -> value); ``role``: the one thing it does that the plan
    writes inline ("key": an int becomes ``str``; "date": ``...+0000`` becomes ``...Z``;
    "enum": ``values`` renames a str), "" when it does more (the plan calls ``each``)."""

    each: Callable[[Any], Any]
    role: str = ""
    values: Mapping[str, str] = field(default_factory=dict)


# The inline expression per role for value ``v``; anything else goes to the reference ``e``.
_INLINE = {
    # f"{int}" is str(int) (the format of an exact int is its str) without a call.
    "key": '(f"{{{v}}}" if {v}.__class__ is _int else {e}({v}))',
    "date": '({v}[:-5] + "Z" if {v}.__class__ is _str and {v}[-5:] == "+0000" else {e}({v}))',
    "enum": "({m}.get({v}, {v}) if {v}.__class__ is _str else {e}({v}))",
    "": "{e}({v})",
}


def _compile(targets: tuple[str, ...], conversions: list[Conversion | None]) -> Build:
    """``[{targets[0]: <v0 converted>, ...} for v0, ... in map(dict.values, records)]`` for
    one shape. Names are written with ``repr`` (any str reads back equal); functions and
    mappings are passed in, never written into the source."""
    entries: list[str] = []
    params: list[str] = []
    args: list[Any] = []
    for i, (target, conversion) in enumerate(zip(targets, conversions, strict=True)):
        value = f"v{i}"
        if conversion is not None:
            value = _INLINE[conversion.role].format(v=value, e=f"e{i}", m=f"m{i}")
            params += [f"e{i}", f"m{i}"]
            args += [conversion.each, conversion.values]
        entries.append(f"{target!r}: {value}")
    names = ", ".join(f"v{i}" for i in range(len(targets)))
    source = (
        f"def make(_str, _int, _values, {', '.join(params)}):\n"
        "    def build(records):\n"
        f"        return [{{{', '.join(entries)}}} for {names}, in map(_values, records)]\n"
        "    return build\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "<canonical record shape>", "exec"), namespace)
    build: Build = namespace["make"](str, int, dict.values, *args)
    return build


class PageConverter:
    """Converts pages of one export's records; plans are made as shapes turn up.

    ``renames``: source name -> canonical name (absent: kept); ``conversions``: source name ->
    how its value changes (absent: unchanged); ``convert_record``: the reference per record.
    Plans are cached per shape (dict updates are atomic under the GIL: two threads may at
    worst compile the same plan twice).
    """

    def __init__(
        self,
        renames: Mapping[str, str],
        conversions: Mapping[str, Conversion],
        convert_record: Callable[[Record], dict[str, Any]],
    ) -> None:
        self._renames = dict(renames)
        self._conversions = dict(conversions)
        self._convert_record = convert_record
        self._plans: dict[tuple[str, ...], Build | None] = {}

    def convert(self, records: Iterable[Record]) -> list[dict[str, Any]]:
        records = records if isinstance(records, list) else list(records)
        if len(records) < MIN_GROUP:
            return list(map(self._convert_record, records))
        return self._convert(records, list(map(tuple, records)), MAX_SHAPES_PER_PAGE)

    def _convert(
        self, records: list[Record], shapes: list[tuple[str, ...]], shapes_left: int
    ) -> list[dict[str, Any]]:
        """The records of the first record's shape by its plan, the others (a few shapes at
        most: the fields Operate leaves out when null) the same way, merged back in order."""
        count = len(records)
        if count < MIN_GROUP or shapes_left <= 0:
            return list(map(self._convert_record, records))
        first = shapes[0]
        picked = list(map(first.__eq__, shapes))
        if picked.count(True) == count:  # the usual page: one shape
            return self._convert_shape(first, records)
        ours = self._convert_shape(first, list(compress(records, picked)))
        rest = list(map(operator.not_, picked))
        others = self._convert(
            list(compress(records, rest)), list(compress(shapes, rest)), shapes_left - 1
        )
        # Record i comes from ours when picked[i], else from others: merged in C.
        take = (iter(others).__next__, iter(ours).__next__)
        return list(map(operator.call, map(take.__getitem__, picked)))

    def _convert_shape(self, shape: tuple[str, ...], records: list[Record]) -> list[dict[str, Any]]:
        build = self._plan(shape) if len(records) >= MIN_GROUP else None
        if build is not None:
            try:
                return build(records)
            except TypeError:  # a record that is a Mapping but not a dict: the reference
                pass
        return list(map(self._convert_record, records))

    def _plan(self, shape: tuple[str, ...]) -> Build | None:
        try:
            return self._plans[shape]
        except KeyError:
            pass
        build = self._compile(shape)
        if len(self._plans) < MAX_PLANS:
            self._plans[shape] = build
        return build

    def _compile(self, shape: tuple[str, ...]) -> Build | None:
        """None when the shape is for the reference: no fields, too many, a key that is not a
        str, or two fields that would take one name (the reference decides who wins)."""
        if not shape or len(shape) > MAX_FIELDS or not all(type(k) is str for k in shape):
            return None
        targets = tuple(self._renames.get(name, name) for name in shape)
        if len(set(targets)) != len(targets):
            return None
        return _compile(targets, [self._conversions.get(name) for name in shape])


__all__ = ["Conversion", "PageConverter"]
