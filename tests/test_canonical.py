"""The canonical schema (issue 14): one record shape per export whichever API answered.

The mapping (``canonical*`` attributes of the v1 registry) is checked against both official
specs; the same spec run against the simulator through v1 and through v2 writes the same
Parquet schema and, for the records both carry, the same rows (and the same JSONL records);
``native`` keeps the API's own shape; filters and sorts with canonical names work on v1;
``native`` + ``auto`` refuses to switch an export to the other API (exit 2).
"""

from __future__ import annotations

import glob
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exporter import load_spec, run_job
from exporter.api import REGISTRY
from exporter.api.canonical import (
    CANONICAL_API,
    canonical_endpoint,
    converter,
    mapping_markdown,
    mapping_of,
    mapping_table,
)
from exporter.api.types import Kind
from exporter.api.v1.checks import native_filter
from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.api.v2.registry import V2_ENDPOINTS
from exporter.pipeline.results import RunOptions
from tests.openapi_specs import load_spec as load_openapi

ROOT = Path(__file__).resolve().parents[1]
COMMON = sorted(set(V1_ENDPOINTS) & set(V2_ENDPOINTS))

# The spec schemas of each export's records: v1 (Operate 8.5) and v2 (8.8, 8.9).
V1_SCHEMAS = {
    "process-definitions": "ProcessDefinition",
    "process-instances": "ProcessInstance",
    "incidents": "Incident",
    "flownode-instances": "FlowNodeInstance",
    "variables": "Variable",
    "decision-definitions": "DecisionDefinition",
    "decision-requirements": "DecisionRequirements",
    "decision-instances": "DecisionInstance",
}
V2_SCHEMAS = {
    "process-definitions": ["ProcessDefinitionResult"],
    "process-instances": ["ProcessInstanceResult"],
    "incidents": ["IncidentResult"],
    "flownode-instances": ["ElementInstanceResult"],
    "variables": ["VariableSearchResult", "VariableResult"],
    "decision-definitions": ["DecisionDefinitionResult"],
    "decision-requirements": ["DecisionRequirementsResult"],
    "decision-instances": ["DecisionInstanceResult", "DecisionInstanceGetQueryResult"],
}
# Fields the exporter fetches from another v1 endpoint than the search (GET .../xml), and v1
# fields newer than the vendored 8.5 spec (operate-api.md section 3: added in 8.6/8.7).
V1_NOT_IN_SEARCH_SCHEMA = {
    ("process-definitions", "bpmnXml"),
    ("decision-requirements", "dmnXml"),
}
V2_NOT_IN_RESULT_SCHEMA = {
    ("process-definitions", "bpmnXml"),
    ("decision-definitions", "dmnXml"),
    ("decision-requirements", "dmnXml"),
}


def _properties(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """A component schema's properties, following ``allOf`` and ``$ref``."""
    schema = doc["components"]["schemas"][name]
    props: dict[str, Any] = {}
    for part in [schema, *schema.get("allOf", [])]:
        if "$ref" in part:
            props.update(_properties(doc, part["$ref"].rsplit("/", 1)[-1]))
        props.update(part.get("properties", {}))
    return props


def _enum(doc: dict[str, Any], prop: dict[str, Any]) -> set[str]:
    for part in [prop, *prop.get("allOf", []), *prop.get("oneOf", [])]:
        if "$ref" in part:
            target = doc["components"]["schemas"][part["$ref"].rsplit("/", 1)[-1]]
            found = _enum(doc, target)
            if found:
                return found
        if "enum" in part:
            return set(part["enum"])
    return set()


@pytest.fixture(scope="module")
def specs() -> dict[str, dict[str, Any]]:
    return {version: load_openapi(version) for version in ("v1", "8.8", "8.9")}


# -- the mapping as data ----------------------------------------------------------------


def test_every_v1_field_has_an_explicit_mapping() -> None:
    table = mapping_table()
    assert len(table) == sum(len(e.fields) for e in V1_ENDPOINTS.values())
    for m in table:
        if m.exact:
            assert m.target in {f.name for f in V2_ENDPOINTS[m.endpoint].fields}, m
        else:
            assert m.note, m  # kept as is: the table says why


@pytest.mark.parametrize("name", COMMON)
def test_mapping_agrees_with_the_v2_registrys_v1_names(name: str) -> None:
    """The v2 registry records which v1 field each v2 field replaces: the same pairs, except
    where the v1 registry says the value is kept (no exact counterpart)."""
    v1 = V1_ENDPOINTS[name]
    for f in V2_ENDPOINTS[name].fields:
        v1_name = getattr(f, "v1_name", None)
        if v1_name is None:
            continue
        source = v1.field(v1_name)
        assert source is not None, (name, f.name)
        m = mapping_of(source, name)
        assert m.target == f.name or not m.exact, (name, f.name, m)
    for f in v1.fields:
        m = mapping_of(f, name)
        if m.exact:
            target = V2_ENDPOINTS[name].field(m.target)
            assert target is not None and getattr(target, "v1_name", None) == f.name, m


@pytest.mark.parametrize("name", COMMON)
def test_mapping_is_checked_against_both_official_specs(name: str, specs: dict) -> None:
    v1_props = _properties(specs["v1"], V1_SCHEMAS[name])
    v2_props: dict[str, dict[str, Any]] = {}
    for version in ("8.8", "8.9"):
        for schema in V2_SCHEMAS[name]:
            for prop, value in _properties(specs[version], schema).items():
                v2_props.setdefault(prop, {})[version] = value
    for f in V1_ENDPOINTS[name].fields:
        m = mapping_of(f, name)
        if (name, f.name) not in V1_NOT_IN_SEARCH_SCHEMA and f.name in v1_props:
            v1_values = _enum(specs["v1"], v1_props[f.name])
            assert set(f.enum) >= v1_values, (name, f.name)
        if not m.exact:
            continue
        if (name, m.target) in V2_NOT_IN_RESULT_SCHEMA:
            continue
        assert m.target in v2_props, (name, f.name, m.target)
        if f.kind is Kind.ENUM:
            # every v1 value (renamed where v2 renamed it) is a value of v2's enum, and every
            # renamed value is really gone from v2
            v2_values = set().union(*(_enum(specs[v], p) for v, p in v2_props[m.target].items()))
            renamed = dict(m.values)
            v1_values = _enum(specs["v1"], v1_props[f.name]) if f.name in v1_props else set()
            for value in set(f.enum) | v1_values:
                assert renamed.get(value, value) in v2_values, (name, f.name, value)
            for old in renamed:
                assert old not in v2_values, (name, f.name, old)


def test_v1_fields_missing_from_the_8_5_spec_are_few_and_known(specs: dict) -> None:
    """The v1 registry follows Operate 8.4-8.8; fields newer than the vendored 8.5 spec are
    listed here so that a typo in a v1 name cannot hide."""
    missing = {
        (name, f.name)
        for name in COMMON
        for f in V1_ENDPOINTS[name].fields
        if f.name not in _properties(specs["v1"], V1_SCHEMAS[name])
    } - V1_NOT_IN_SEARCH_SCHEMA
    newer_than_8_5 = {
        ("process-definitions", "versionTag"),
        ("process-instances", "processVersionTag"),
        ("process-instances", "incident"),
        ("flownode-instances", "flowNodeName"),
        ("decision-instances", "evaluatedInputs"),
        ("decision-instances", "evaluatedOutputs"),
        ("decision-definitions", "decisionRequirementsName"),
        ("decision-definitions", "decisionRequirementsVersion"),
    }
    assert missing <= newer_than_8_5, missing - newer_than_8_5


def test_readme_table_is_generated_from_the_registry() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(
        r"<!-- canonical-mapping:start -->\n(.*?)<!-- canonical-mapping:end -->", readme, re.S
    )
    assert match, "README lacks the canonical mapping table markers"
    assert match.group(1) == mapping_markdown(), (
        "README's mapping table is stale: paste exporter.api.canonical.mapping_markdown()"
    )


def test_canonical_schema_is_v2s_plus_the_kept_v1_fields() -> None:
    for name in COMMON:
        endpoint = canonical_endpoint(name)
        names = [f.name for f in endpoint.fields]
        v2_names = [f.name for f in V2_ENDPOINTS[name].fields]
        kept = [m.source for m in mapping_table() if m.endpoint == name and not m.exact]
        assert names == v2_names + kept
    assert canonical_endpoint("jobs") is REGISTRY[CANONICAL_API]["jobs"]


# -- conversion ---------------------------------------------------------------------------


def test_a_v1_record_in_the_canonical_shape() -> None:
    conv = converter(V1_ENDPOINTS["process-instances"], "canonical")
    assert conv is not None
    record = {
        "key": 2251799813685296,
        "bpmnProcessId": "order-process",
        "state": "CANCELED",
        "startDate": "2026-10-12T07:29:46.067+0000",
        "endDate": "2026-10-12T07:29:46.067+0130",
        "incident": False,
        "surprise": 1,
    }
    assert conv.convert_record(record) == {
        "processInstanceKey": "2251799813685296",
        "processDefinitionId": "order-process",
        "state": "TERMINATED",
        "startDate": "2026-10-12T07:29:46.067Z",
        "endDate": "2026-10-12T07:29:46.067+01:30",
        "hasIncident": False,
        "surprise": 1,
    }
    assert converter(V1_ENDPOINTS["process-instances"], "native") is None
    assert converter(V2_ENDPOINTS["process-instances"], "canonical") is None


def test_decision_instances_swap_names_without_mixing_them() -> None:
    """v1's decisionId becomes decisionDefinitionId while v1's decisionDefinitionId (the key
    as text) becomes decisionDefinitionKey: renamed at once, never one over the other."""
    conv = converter(V1_ENDPOINTS["decision-instances"], "canonical")
    assert conv is not None
    out = conv.convert_record(
        {
            "decisionId": "risk",
            "decisionDefinitionId": "2251799813685283",
            "evaluatedInputs": [{"id": "i", "name": "n", "value": "1"}],
            "evaluatedOutputs": [{"id": "o", "name": "n", "value": "2", "ruleId": "r"}],
        }
    )
    assert out == {
        "decisionDefinitionId": "risk",
        "decisionDefinitionKey": "2251799813685283",
        "evaluatedInputs": [{"inputId": "i", "inputName": "n", "inputValue": "1"}],
        "evaluatedOutputs": [{"id": "o", "name": "n", "value": "2", "ruleId": "r"}],
    }


def test_a_canonical_column_that_does_not_convert_names_the_field() -> None:
    from exporter.errors import OutputError
    from exporter.sinks import schema_for
    from exporter.spec import ExportSpec

    endpoint = V1_ENDPOINTS["decision-instances"]
    conv = converter(endpoint, "canonical")
    assert conv is not None
    export = ExportSpec(endpoint="decision-instances", name="d")
    target = schema_for(conv.endpoint, export)
    batch = pa.RecordBatch.from_pylist(
        [{"decisionDefinitionId": "12a"}],
        schema=pa.schema([("decisionDefinitionId", pa.string())]),
    )
    with pytest.raises(OutputError, match=r"'decisionDefinitionId'.*decisionDefinitionKey"):
        conv.convert_batch(batch, target, "d")


def test_canonical_filters_on_v1_are_sent_with_v1_names() -> None:
    assert native_filter(
        "process-instances",
        {"processDefinitionId": "order-process", "state": "TERMINATED", "processInstanceKey": 1},
    ) == {"bpmnProcessId": "order-process", "state": "CANCELED", "key": 1}
    # v1's own names win, even where a canonical name means something else
    assert native_filter("decision-instances", {"decisionDefinitionId": "5"}) == {
        "decisionDefinitionId": "5"
    }
    assert native_filter("decision-instances", {"decisionDefinitionKey": 5}) == {
        "decisionDefinitionId": "5"
    }


# -- end to end against the simulator's two views of one dataset ---------------------------


def _doc(base_url: str, api: str, fmt: str, path: Path, **output: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"base_url": base_url, "api": api},
        "exports": [{"endpoint": name} for name in COMMON],
        "output": {"format": fmt, "path": str(path), **output},
    }


def _run(doc: dict[str, Any], options: RunOptions | None = None) -> Any:
    result = run_job(load_spec(doc), options)
    assert result.ok, [r.error for r in result.failed]
    return result


def _part(root: Path, name: str, ext: str) -> Path:
    (found,) = glob.glob(str(root / name / "snapshot=*" / f"part-00000.{ext}"))
    return Path(found)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from exporter.simulator.server import Simulator, SimulatorConfig

    sim = Simulator(SimulatorConfig(scale=60, seed=11, port=0, api="both")).start()
    yield sim, tmp_path_factory.mktemp("canonical")
    sim.stop()


def _compare_rows(v1_rows: list[dict], v2_rows: list[dict], key: str) -> int:
    """Every value a v1 record carries equals the v2 record's; returns the fields compared."""
    by_key = {r[key]: r for r in v2_rows}
    assert set(by_key) == {r[key] for r in v1_rows}
    compared = 0
    for row in v1_rows:
        other = by_key[row[key]]
        for column, value in row.items():
            if value is None:
                continue
            kept = column in ("id", "evaluatedOutputs")  # v1 only: null on v2
            assert other.get(column) == (None if kept else value), (key, column)
            compared += 1
    return compared


def test_parquet_from_v1_and_v2_has_one_schema_and_the_same_rows(both: Any) -> None:
    sim, root = both
    for api in ("v1", "v2"):
        _run(_doc(sim.base_url, api, "parquet", root / f"pq-{api}"))
    states = set()
    for name in COMMON:
        v1 = pq.read_table(_part(root / "pq-v1", name, "parquet"))
        v2 = pq.read_table(_part(root / "pq-v2", name, "parquet"))
        assert v1.schema.equals(v2.schema), name
        columns = [f.name for f in canonical_endpoint(name).fields if not f.hydrated]
        assert v1.schema.names == [*columns, "_extra"]
        key = V2_ENDPOINTS[name].unique_key
        assert _compare_rows(v1.to_pylist(), v2.to_pylist(), key) > v1.num_rows, name
        if name == "process-instances":
            states = set(v1.column("state").to_pylist())
    assert "TERMINATED" in states and "CANCELED" not in states


def test_jsonl_from_v1_and_v2_has_the_same_records(both: Any) -> None:
    sim, root = both
    for api in ("v1", "v2"):
        _run(_doc(sim.base_url, api, "jsonl", root / f"jl-{api}"))
    for name in COMMON:
        rows = [
            [
                json.loads(x)
                for x in _part(root / f"jl-{api}", name, "jsonl").read_text().splitlines()
            ]
            for api in ("v1", "v2")
        ]
        key = V2_ENDPOINTS[name].unique_key
        assert _compare_rows(rows[0], rows[1], key) > len(rows[0]), name


def test_native_keeps_the_apis_own_shape_and_the_manifest_says_which(both: Any) -> None:
    sim, root = both
    result = _run(_doc(sim.base_url, "v1", "parquet", root / "native", schema="native"))
    table = pq.read_table(_part(root / "native", "process-instances", "parquet"))
    assert "key" in table.schema.names and "processInstanceKey" not in table.schema.names
    assert "CANCELED" in set(table.column("state").to_pylist())
    (export,) = [e for e in result.exports if e.name == "process-instances"]
    manifest = json.loads((Path(export.location) / "_manifest.json").read_text())
    assert (manifest["api"], manifest["api_version"], manifest["schema_mode"]) == (
        "v1",
        "v1",
        "native",
    )


def test_canonical_names_filter_and_sort_on_v1(both: Any) -> None:
    sim, root = both
    doc = _doc(sim.base_url, "v1", "jsonl", root / "filtered")
    doc["exports"] = [
        {
            "endpoint": "process-instances",
            "filter": {"state": "TERMINATED"},
            "sort": [{"field": "processInstanceKey", "order": "DESC"}],
        }
    ]
    _run(doc)
    lines = _part(root / "filtered", "process-instances", "jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    expected = sim.dataset.records("process-instances", api="v1")
    canceled = [r["key"] for r in expected if r.get("state") == "CANCELED"]
    assert canceled, "the dataset needs canceled instances"
    assert [int(r["processInstanceKey"]) for r in rows] == sorted(canceled, reverse=True)
    assert {r["state"] for r in rows} == {"TERMINATED"}


def test_native_auto_refuses_to_switch_an_export_to_the_other_api(
    make_simulator: Any, tmp_path: Path
) -> None:
    v1_only = make_simulator(scale=20, seed=3, api="v1")
    out = tmp_path / "out"
    spec = tmp_path / "job.yaml"

    def write(base_url: str, schema: str) -> None:
        doc = _doc(base_url, "auto", "parquet", out, schema=schema)
        doc["exports"] = [{"endpoint": "incidents"}]
        spec.write_text(json.dumps(doc))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "exporter", "run", str(spec), "-q", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    write(v1_only.base_url, "native")
    assert cli().returncode == 0
    both_apis = make_simulator(scale=20, seed=3, api="both")  # "upgraded": auto now picks v2
    write(both_apis.base_url, "native")
    refused = cli()
    assert refused.returncode == 2, refused.stderr
    assert "incidents (v1" in refused.stderr and "--allow-api-switch" in refused.stderr
    assert len(glob.glob(str(out / "incidents" / "snapshot=*"))) == 1  # nothing written
    write(both_apis.base_url, "canonical")
    assert cli().returncode == 0  # canonical: the same schema on both, switches freely
    write(both_apis.base_url, "native")
    assert cli("--allow-api-switch").returncode == 0
    from exporter.sinks.snapshot import snapshot_sort_key

    found = glob.glob(str(out / "incidents" / "snapshot=*" / "_manifest.json"))
    # in start order (two snapshots in one second: -001 comes after the unsuffixed one)
    manifests = sorted(found, key=lambda m: snapshot_sort_key(Path(m).parent.name) or ("", 0))
    apis = [json.loads(Path(m).read_text())["api"] for m in manifests]
    assert apis == ["v1", "v2", "v2"]


def test_dump_streams_the_canonical_schema_unless_told_native(both: Any) -> None:
    sim, _ = both
    env = {"PATH": "/usr/bin:/bin", "OPERATE_BASE_URL": sim.base_url}

    def dump(*args: str) -> list[dict[str, Any]]:
        command = [sys.executable, "-m", "exporter", "dump", "incidents", "--api", "v1", *args]
        proc = subprocess.run(command, capture_output=True, env=env, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr.decode()
        return [json.loads(line) for line in proc.stdout.splitlines()]

    canonical = dump("-q")
    native = dump("-q", "--schema", "native")
    assert canonical and len(canonical) == len(native)
    assert [r["incidentKey"] for r in canonical] == [str(r["key"]) for r in native]
    assert {"errorType", "errorMessage"} <= set(canonical[0]) and "key" not in canonical[0]
