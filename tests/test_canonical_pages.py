"""The bulk canonical conversion of a page (api/canonical_pages.py) makes exactly the records the
per-record conversion makes, for every v1 export: same keys in the same order, same values of
the same types, whatever the records hold (unknown fields, nulls, missing fields, other orders,
names that collide with a canonical one, other types, other date offsets, nested items, enum
values v2 renamed), and a whole v1 JSONL export writes, line for line, the per-record
conversion of its native records.
"""

from __future__ import annotations

import glob
import random
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from exporter import load_spec, run_job
from exporter.api import canonical_pages
from exporter.api.canonical import CanonicalConverter, converter
from exporter.api.types import Endpoint, Kind
from exporter.api.v1.registry import V1_ENDPOINTS
from tests.sinks_records import BIG_KEY, field_value

V1 = sorted(V1_ENDPOINTS)


def _converter(name: str) -> CanonicalConverter:
    conv = converter(V1_ENDPOINTS[name], "canonical")
    assert conv is not None
    return conv


def _odd_value(kind: Kind, rng: random.Random) -> Any:
    """A value of the wrong type or an unusual form for the field's kind."""
    choices: list[Any] = [None, True, 1.5, [1, 2], {"n": 1}, "", "text", -7, 2**63 - 1]
    if kind is Kind.KEY:
        choices += ["2251799813685283", 2**64 + 5, -(2**62), 0, False]
    if kind is Kind.DATE:
        choices += [
            "2024-03-01T11:50:00.000+0130",
            "2024-03-01T11:50:00.000-0000",
            "2024-03-01T11:50:00.000Z",
            "2024-03-01T11:50:00.000",
            "+0000",
            "x+0000+0000",
            "a\x00b+0000",
            1_700_000_000_000,
        ]
    if kind is Kind.ENUM:
        choices += ["CANCELED", "canceled", "ACTIVE", 3]
    if kind in (Kind.EVALUATED_INPUTS, Kind.EVALUATED_OUTPUTS):
        choices += [[{"id": "i", "name": "n", "value": "1", "extra": 2}, "not-a-dict"], []]
    return rng.choice(choices)


def _record(endpoint: Endpoint, conv: CanonicalConverter, rng: random.Random, i: int) -> Any:
    """One record: usually Operate's (some optional fields left out), sometimes odd."""
    fields = list(endpoint.fields)
    record: dict[str, Any] = {}
    style = rng.random()
    if style < 0.05:
        rng.shuffle(fields)  # another key order
    for f in fields:
        if f.name not in ("key", "id") and rng.random() < 0.15:
            continue  # left out (Operate omits nulls)
        value = field_value(f.kind, f.name, i, f.enum)
        if f.kind is Kind.KEY and rng.random() < 0.5:
            value = BIG_KEY - i  # mostly distinct keys, beyond 2^53
        if rng.random() < 0.03:
            value = _odd_value(f.kind, rng)
        record[f.name] = value
    if 0.05 <= style < 0.10:
        record["surprise"] = rng.choice([1, "x", None, {"key": 1}, [1]])  # unknown: kept
    if 0.10 <= style < 0.13:
        # An unknown field named like a canonical one (the reference decides who wins).
        target = rng.choice(sorted(set(conv.endpoint.field_names)))
        record[target] = "unknown"
    if 0.13 <= style < 0.15:
        record = {k: v for k, v in record.items() if rng.random() < 0.5}  # sparse, maybe {}
    if 0.15 <= style < 0.16:
        return MappingProxyType(record)  # a Mapping that is not a dict
    return record


def _reference(conv: CanonicalConverter, records: list[Any]) -> str:
    return repr([conv.convert_record(r) for r in records])  # repr: key order and exact types


@pytest.mark.parametrize("name", V1)
def test_bulk_conversion_makes_the_per_record_conversions_records(name: str) -> None:
    endpoint = V1_ENDPOINTS[name]
    rng = random.Random(f"canonical-pages-{name}")
    compared = 0
    for size in (1, 3, 4, 5, 17, 64, 300, 1000):
        conv = _converter(name)  # fresh plans for each size
        for _ in range(3):  # plans made, then reused
            records = [_record(endpoint, conv, rng, rng.randrange(10_000)) for _ in range(size)]
            assert repr(conv.convert_records(records)) == _reference(conv, records)
            compared += size
    assert compared > 4000


@pytest.mark.parametrize("name", V1)
def test_pages_of_one_shape_and_of_operates_few_shapes(name: str) -> None:
    """The planned paths themselves: one shape per page, and a few shapes interleaved."""
    endpoint = V1_ENDPOINTS[name]
    conv = _converter(name)
    full = {f.name: field_value(f.kind, f.name, 1, f.enum) for f in endpoint.fields}
    names = list(full)
    shapes = [names, names[:-1], [*names[:-2], names[-1]], names[1:]]
    for shapes_in_page in (1, 2, 4):
        records = [
            {n: field_value(f.kind, n, i, f.enum) for f in endpoint.fields if (n := f.name) in s}
            for i in range(200)
            for s in [shapes[i % shapes_in_page]]
        ]
        records = orjson.loads(orjson.dumps(records))  # the types the API client sees
        assert repr(conv.convert_records(records)) == _reference(conv, records)


def test_a_page_of_more_shapes_than_planned_and_ever_new_shapes() -> None:
    conv = _converter("flownode-instances")
    for page in range(canonical_pages.MAX_PLANS // 8 + 2):
        records = [
            {"key": i, f"unknown{page}-{i % (canonical_pages.MAX_SHAPES_PER_PAGE + 2)}": i}
            for i in range(100)
        ]
        assert repr(conv.convert_records(records)) == _reference(conv, records)
    assert len(conv._pages._plans) <= canonical_pages.MAX_PLANS


def test_pages_whose_records_have_a_field_named_like_a_canonical_one() -> None:
    """Every record of the page collides (v1 ``key`` and an unknown ``elementInstanceKey``,
    either order): the reference's rule holds for the whole page."""
    conv = _converter("flownode-instances")
    for first, second in (("key", "elementInstanceKey"), ("elementInstanceKey", "key")):
        records = [{first: i, "state": "ACTIVE", second: -i} for i in range(50)]
        assert repr(conv.convert_records(records)) == _reference(conv, records)


def test_the_generated_code_takes_any_field_name() -> None:
    conv = _converter("incidents")
    odd = ["a'b", 'q"q', "back\\slash", "new\nline", "{v0}", "é", "__class__", "e0", "_str"]
    records = [{"key": i, **{n: i for n in odd}, "state": "ACTIVE"} for i in range(10)]
    out = conv.convert_records(records)
    assert repr(out) == _reference(conv, records)
    assert list(out[0]) == ["incidentKey", *odd, "state"]


# -- a whole v1 JSONL export against the simulator -----------------------------------------


def test_a_v1_jsonl_export_writes_the_per_record_conversion_of_its_records(
    make_simulator: Any, tmp_path: Path
) -> None:
    """Canonical and native exports of the same data: every canonical line is exactly the
    per-record conversion of the native line (pages of 25: many pages, several shapes each)."""
    sim = make_simulator(scale=150, seed=5)
    exports = [
        {"endpoint": name, "page_size": 25, "include_xml": True}
        if name in ("process-definitions", "decision-requirements")
        else {"endpoint": name, "page_size": 25, "include_evaluation_details": True}
        if name == "decision-instances"
        else {"endpoint": name, "page_size": 25}
        for name in V1
    ]
    for schema in ("canonical", "native"):
        doc = {
            "version": 1,
            "source": {"base_url": sim.base_url, "api": "v1"},
            "exports": exports,
            "output": {"format": "jsonl", "path": str(tmp_path / schema), "schema": schema},
        }
        result = run_job(load_spec(doc))
        assert result.ok, [r.error for r in result.failed]
    lines = 0
    for name in V1:
        conv = _converter(name)
        parts = {
            schema: sorted(glob.glob(str(tmp_path / schema / name / "snapshot=*" / "*.jsonl")))
            for schema in ("canonical", "native")
        }
        native = b"".join(Path(p).read_bytes() for p in parts["native"]).splitlines()
        canonical = b"".join(Path(p).read_bytes() for p in parts["canonical"]).splitlines()
        assert native and len(canonical) == len(native), name
        for written, record in zip(canonical, native, strict=True):
            assert written == orjson.dumps(conv.convert_record(orjson.loads(record))), name
        lines += len(native)
    assert lines > 1000
