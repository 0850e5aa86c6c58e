"""The registry tables (``api/v1/endpoints.toml``, ``api/v2/endpoints.toml``) as data: what the
loader makes of them, and how it refuses a table it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.api import REGISTRY, get_dialect, registry_data
from exporter.api.dialect import DialectBase
from exporter.api.types import ConversionHints, Endpoint, Field, Kind, ShapeKind
from exporter.api.v1.dialect import PARTS as V1_DIALECT_PARTS
from exporter.api.v1.registry import INCIDENT_STATES, V1_ENDPOINTS, V1Field
from exporter.api.v2.registry import OPS_STRING, V2_ENDPOINTS, V2Endpoint, V2Field


def test_the_tables_load_into_the_registry_types() -> None:
    assert list(V1_ENDPOINTS)[:2] == ["process-definitions", "process-instances"]
    assert all(type(e) is Endpoint and e.api == "v1" for e in V1_ENDPOINTS.values())
    assert all(type(e) is V2Endpoint and e.api == "v2" for e in V2_ENDPOINTS.values())
    incidents = V1_ENDPOINTS["incidents"].field("state")
    assert incidents == V1Field("state", Kind.ENUM, enum=INCIDENT_STATES, canonical="state")
    name = V2_ENDPOINTS["process-definitions"].field("name")
    assert name == V2Field("name", Kind.STRING, operators=OPS_STRING, v1_name="name")
    tags = V2_ENDPOINTS["process-instances"].field("tags")
    assert tags is not None and tags.kind is ShapeKind.STRING_LIST
    assert REGISTRY == {"v1": V1_ENDPOINTS, "v2": V2_ENDPOINTS}


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str) -> object:
    # one package name per test: importlib keeps a package it has imported once
    name = f"fakeregistry_{tmp_path.name.replace('-', '_').replace('[', '_').replace(']', '_')}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "endpoints.toml").write_text(table)
    monkeypatch.syspath_prepend(str(tmp_path))
    return registry_data.load_endpoints(
        f"{name}.registry", "v1", Endpoint, Field, {"STATES": ("A", "B")}
    )


ENTRY = '[[endpoint]]\nname = "things"\npath = "/v1/things"\nunique_key = "key"\n'


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ('{ name = "key", kind = "number" }', "unknown field kind 'number'"),
        ('{ name = "s", kind = "enum", enum = "NOPE" }', "enum names no constant 'NOPE'"),
        ('{ name = "key", kind = "key", sortabel = false }', "field 'key': "),
    ],
)
def test_a_bad_table_names_the_table_the_endpoint_and_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        _load(tmp_path, monkeypatch, f"{ENTRY}fields = [\n  {fields},\n]\n")
    text = str(caught.value)
    assert text.startswith("fakeregistry_")
    assert "/endpoints.toml: endpoint 'things': " in text
    assert message in text


def test_a_good_table_with_a_named_value_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = f'{ENTRY}fields = [\n  {{ name = "s", kind = "enum", enum = "STATES" }},\n]\n'
    loaded = _load(tmp_path, monkeypatch, table)
    assert loaded == {
        "things": Endpoint(
            name="things",
            api="v1",
            path="/v1/things",
            unique_key="key",
            fields=(Field("s", Kind.ENUM, enum=("A", "B")),),
        )
    }


def test_the_dialects_data_comes_from_the_tables() -> None:
    v1, v2 = get_dialect("v1"), get_dialect("v2")
    assert (v1.name, v2.name) == ("v1", "v2")
    assert v1.conversion == ConversionHints(keys_as_text=False, arrow_decodes_pages=True)
    assert v2.conversion == ConversionHints(
        keys_as_text=True, arrow_decodes_pages=True, cursor_path=("page", "endCursor")
    )
    assert v1.one_record_request({"size": 50}) == {"size": 1}
    assert v2.one_record_request({"sort": []}) == {"sort": [], "page": {"limit": 1}}
    assert v1.reported_total({"total": 7}) == 7
    assert v2.reported_total({"page": {"totalItems": 8}}) == 8
    assert (v1.default_audience("saas"), v2.default_audience("saas")) == (
        "operate.camunda.io",
        "zeebe.camunda.io",
    )


DIALECT_TABLE = (
    '[dialect]\nname = "vx"\nsaas_audience = "a"\none_record = { size = 1 }\n'
    'total_path = ["total"]\n'
)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("conversion = { keys_as_txt = true }\n", "keys_as_txt"),
        ("conversion = {}\naudience = 'b'\n", "audience"),
        ("", "conversion"),
    ],
)
def test_a_bad_dialect_table_names_the_table_and_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, message: str
) -> None:
    name = f"fakedialect_{tmp_path.name.replace('-', '_').replace('[', '_').replace(']', '_')}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "endpoints.toml").write_text(DIALECT_TABLE + extra)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError) as caught:
        DialectBase(f"{name}.dialect", {}, object, V1_DIALECT_PARTS)
    assert str(caught.value).startswith(f"{name}/endpoints.toml [dialect]: ")
    assert message in str(caught.value)


def test_a_dialect_names_the_parts_it_lacks() -> None:
    with pytest.raises(ValueError) as caught:
        DialectBase("exporter.api.v1.dialect", V1_ENDPOINTS, object, V1_DIALECT_PARTS[:3])
    assert str(caught.value) == (
        "exporter.api.v1.dialect: parts must be the modules checks, hydration, shards, "
        "windows; got checks, hydration, shards"
    )
