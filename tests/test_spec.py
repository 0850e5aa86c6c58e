"""Loading specs: typed result, defaults, digest, YAML and file errors, secrets, the schema."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from exporter import spec as spec_module
from exporter.api import REGISTRY
from exporter.api.validation import load_spec, parse_spec_text, resolve_api
from exporter.errors import SpecError
from exporter.spec import (
    SECRET_FIELDS,
    AuthSpec,
    ExportSpec,
    OutputSpec,
    RetrySpec,
    TlsSpec,
    load_schema,
    schema_text,
)
from exporter.spec.checks import secret_paths

REPO = Path(__file__).resolve().parent.parent

MINIMAL = """\
version: 1
source:
  base_url: http://127.0.0.1:8080/
exports:
  - endpoint: process-instances
"""

FULL = """\
version: 1
source:
  base_url: https://bru-2.operate.camunda.io/abc
  api: v1
  auth:
    mode: saas
    client_id: my-id
    client_secret: ${SECRET}
    scope: operate
  timeout_seconds: 12
  retry: {max_attempts: 3, max_backoff_seconds: 9, initial_backoff_seconds: 0.25}
  tls: {verify: false, ca_bundle: /tmp/ca.pem}
concurrency: 2
hydration_concurrency: 3
exports:
  - endpoint: process-instances
    name: finished-orders
    filter:
      bpmnProcessId: order-process
      state: COMPLETED
      startDate: "2026-11-01T00:00:00.000+0000||/M"
      parentProcessInstanceKey: "9223372036854775807"
      incident: false
    sort: [{field: startDate, order: DESC}, {field: key}]
    page_size: 200
    max_records: 50000
  - endpoint: process-definitions
    include_xml: true
  - endpoint: decision-instances
    include_evaluation_details: true
  - endpoint: variables
    hydrate: false
output:
  format: jsonl
  path: /data/exports
  compression: gzip
  rows_per_file: 10
  row_group_size: 5
"""


def parse(text: str, env: dict[str, str] | None = None) -> spec_module.JobSpec:
    return parse_spec_text(text, "test.yaml", env or {})


def problems_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse(text, env)
    return [str(p) for p in info.value.problems]


# ----------------------------------------------------------------------------- typed result


def test_minimal_spec_gets_the_documented_defaults() -> None:
    spec = parse(MINIMAL)
    assert spec.source.base_url == "http://127.0.0.1:8080"  # trailing slash dropped
    assert spec.source.api == "auto"
    assert spec.source.server_version == "8.8"
    assert spec.source.auth == AuthSpec(mode="none")
    assert spec.source.retry == RetrySpec()
    assert spec.source.tls == TlsSpec()
    assert spec.concurrency == 4 and spec.hydration_concurrency == 8
    assert spec.output == OutputSpec()
    assert spec.output.effective_compression == "zstd"
    assert spec.exports == (ExportSpec(endpoint="process-instances", name="process-instances"),)
    assert spec.origin == "test.yaml"
    assert len(spec.digest) == 64


def test_full_spec_maps_onto_the_dataclasses() -> None:
    spec = parse(FULL, {"SECRET": "top-secret"})
    auth = spec.source.auth
    assert auth.mode == "saas" and auth.client_secret == "top-secret" and auth.scope == "operate"
    assert auth.token_url == "https://login.cloud.camunda.io/oauth/token"
    assert auth.audience == "operate.camunda.io"
    assert auth.token_request_format == "json"
    assert spec.source.timeout_seconds == 12.0
    assert spec.source.retry == RetrySpec(3, 9.0, 0.25)
    assert spec.source.tls == TlsSpec(verify=False, ca_bundle="/tmp/ca.pem")
    assert (spec.concurrency, spec.hydration_concurrency) == (2, 3)
    orders, definitions, decisions, variables = spec.exports
    assert orders.name == "finished-orders"
    # A key written as a digit string becomes an exact int, beyond 2^53 included.
    assert orders.filter["parentProcessInstanceKey"] == 9223372036854775807
    assert type(orders.filter["parentProcessInstanceKey"]) is int
    assert orders.filter["startDate"] == "2026-11-01T00:00:00.000+0000||/M"
    assert orders.filter["incident"] is False
    assert [s.to_api() for s in orders.sort] == [
        {"field": "startDate", "order": "DESC"},
        {"field": "key", "order": "ASC"},
    ]
    assert (orders.page_size, orders.max_records) == (200, 50000)
    assert definitions.include_xml and not definitions.include_evaluation_details
    assert decisions.include_evaluation_details
    assert variables.hydrate is False and orders.hydrate is True
    assert spec.output == OutputSpec("jsonl", "/data/exports", "gzip", 10, 5)


def test_identity_defaults_audience_and_null_audience_means_none() -> None:
    text = MINIMAL.replace(
        "  base_url: http://127.0.0.1:8080/\n",
        "  base_url: http://127.0.0.1:8080/\n  auth: {mode: identity, client_id: a, "
        "client_secret: b, token_url: 'http://kc/token'AUD}\n",
    )
    assert parse(text.replace("AUD", "")).source.auth.audience == "operate-api"
    assert parse(text.replace("AUD", ", audience: null")).source.auth.audience is None
    assert parse(text.replace("AUD", ", token_request_format: form")).source.auth == AuthSpec(
        "identity", "a", "b", "http://kc/token", "operate-api", None, "form"
    )


def test_key_filter_accepts_ints_and_digit_strings_within_int64() -> None:
    v1 = MINIMAL.replace("  base_url:", "  api: v1\n  base_url:")
    for value in ("2251799813685255", 2251799813685255, -1, "9223372036854775807"):
        text = v1 + f"    filter: {{key: {json.dumps(value)}}}\n"
        assert parse(text).exports[0].filter["key"] == int(value)
        # auto keeps the value as written until the probe has chosen the API.
        auto = parse(MINIMAL + f"    filter: {{key: {json.dumps(value)}}}\n")
        assert auto.exports[0].filter["key"] == value
        assert resolve_api(auto, "v1").exports[0].filter["key"] == int(value)


@pytest.mark.parametrize(
    "date",
    [
        "2022-03-17T11:50:25.729+0000",
        "2022-03-17T11:50:25.729-0130",
        *(f"2022-03-17T00:00:00.000+0000||/{unit}" for unit in "yMwdhms"),
    ],
)
def test_operate_dates_with_rounding_are_accepted(date: str) -> None:
    spec = parse(MINIMAL + f"    filter: {{endDate: '{date}'}}\n")
    assert spec.exports[0].filter["endDate"] == date


def test_unquoted_yaml_date_stays_text_and_is_rejected_with_the_format() -> None:
    problems = problems_of(MINIMAL + "    filter: {startDate: 2022-03-17}\n")
    assert problems == [
        "exports[0].filter.startDate: '2022-03-17': expected Operate's date format "
        "yyyy-MM-dd'T'HH:mm:ss.SSSZZ with optional ||/y|M|w|d|h|m|s rounding, e.g. "
        "'2022-03-17T11:50:25.729+0000' or '2022-03-17T00:00:00.000+0000||/d'"
    ]


# ----------------------------------------------------------------------------- digest


def test_digest_ignores_secrets_and_origin_but_not_content() -> None:
    one = parse_spec_text(FULL, "a.yaml", {"SECRET": "one"})
    two = parse_spec_text(FULL, "b.yaml", {"SECRET": "two"})
    assert one.digest == two.digest
    changed = parse_spec_text(
        FULL.replace("page_size: 200", "page_size: 201"), "a.yaml", {"SECRET": "one"}
    )
    assert changed.digest != one.digest
    # Defaults are resolved first: spelling a default out does not change the digest.
    explicit = parse(MINIMAL.replace("version: 1\n", "version: 1\nconcurrency: 4\n"))
    assert explicit.digest == parse(MINIMAL).digest


# ----------------------------------------------------------------------------- env substitution


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${ROOT}", {"ROOT": "/x"}, "/x"),
        ("${ROOT:-/default}", {}, "/default"),
        ("${ROOT:-/default}", {"ROOT": ""}, "/default"),
        ("${ROOT:-}/x", {}, "/x"),
        ("${ROOT:-/default}", {"ROOT": "/set"}, "/set"),
        ("/a/${ONE}/${TWO}", {"ONE": "1", "TWO": "2"}, "/a/1/2"),
        ("/cost$$5", {}, "/cost$5"),
        ("/$$${ROOT}", {"ROOT": "r"}, "/$r"),
        ("/plain$dollar", {}, "/plain$dollar"),
    ],
)
def test_env_substitution(value: str, env: dict[str, str], expected: str) -> None:
    spec = parse(MINIMAL + f"output: {{path: '{value}'}}\n", env)
    assert spec.output.path == expected


def test_unset_variable_names_variable_and_path_and_each_occurrence() -> None:
    text = MINIMAL.replace("http://127.0.0.1:8080/", "${BASE}") + "output: {path: '${OUT}'}\n"
    assert problems_of(text, {}) == [
        "source.base_url: environment variable BASE is not set and has no default "
        "(set it, or write ${BASE:-default})",
        "output.path: environment variable OUT is not set and has no default "
        "(set it, or write ${OUT:-default})",
    ]


def test_substitution_does_not_touch_keys_or_non_strings() -> None:
    spec = parse(MINIMAL + "    page_size: 10\n    name: ${N:-n1}\n", {})
    assert spec.exports[0].name == "n1"
    assert spec.exports[0].page_size == 10


def test_substituted_value_is_not_reinterpreted_as_yaml() -> None:
    spec = parse(MINIMAL + "output: {path: '${OUT}'}\n", {"OUT": "{a: 1}\n- b"})
    assert spec.output.path == "{a: 1}\n- b"


# ----------------------------------------------------------------------------- secrets


SECRET = "hunter2-very-secret"


@pytest.mark.parametrize(
    ("auth", "path"),
    [
        (f"{{mode: saas, client_id: a, client_secret: [{SECRET}]}}", "source.auth.client_secret"),
        (f"{{mode: basic, username: u, password: {{p: {SECRET}}}}}", "source.auth.password"),
        ("{mode: cookie, username: u, password: 123456789}", "source.auth.password"),
        (f"{{mode: saas, client_id: a, client_secret: {SECRET}, bad: 1}}", "source.auth.bad"),
    ],
)
def test_secret_value_never_appears_in_errors(auth: str, path: str) -> None:
    text = MINIMAL.replace(
        "  base_url: http://127.0.0.1:8080/\n", f"  base_url: http://h:1\n  auth: {auth}\n"
    )
    with pytest.raises(SpecError) as info:
        parse(text)
    rendered = str(info.value)
    assert SECRET not in rendered and "123456789" not in rendered
    assert [p.path for p in info.value.problems] == [path]


def test_secret_from_environment_never_appears_even_in_other_problems() -> None:
    text = (
        MINIMAL.replace(
            "  base_url: http://127.0.0.1:8080/\n",
            "  base_url: http://h:1\n  auth: {mode: saas, client_id: a, client_secret: '${S}'}\n",
        )
        + f"    name: '{SECRET}!'\n"
    )
    with pytest.raises(SpecError) as info:
        parse(text, {"S": SECRET})
    assert SECRET not in str(info.value)
    assert [p.path for p in info.value.problems] == ["exports[0].name"]


def test_repr_of_spec_hides_secrets() -> None:
    spec = parse(FULL, {"SECRET": SECRET})
    assert SECRET not in repr(spec)


# ----------------------------------------------------------------------------- YAML and files


def test_yaml_syntax_error_names_line_and_column() -> None:
    text = "version: 1\nsource:\n  base_url: [http://h:1\nexports: []\n"
    (problem,) = problems_of(text)
    assert problem.startswith("YAML syntax error at line 4, column 8: ")


def test_yaml_bad_indentation_names_line_and_column() -> None:
    text = "version: 1\nsource:\n  base_url: http://h:1\n   api: v1\n"
    (problem,) = problems_of(text)
    assert problem.startswith("YAML syntax error at line 4, column 7: ")


def test_duplicate_key_is_an_error_with_its_line() -> None:
    (problem,) = problems_of(MINIMAL + "version: 1\n")
    assert problem == "YAML syntax error at line 6, column 1: duplicate key 'version'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "",
            "the file is empty; expected a job spec mapping with keys version, source, "
            "exports, output",
        ),
        ("# only a comment\n", "the file is empty; expected a job spec mapping"),
        ("- version: 1\n", "the document is a list; expected a mapping with keys version"),
        ("just a string\n", "the document is a str; expected a mapping with keys version"),
    ],
)
def test_empty_and_non_mapping_documents(text: str, message: str) -> None:
    (problem,) = problems_of(text)
    assert problem.startswith(message)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "nope.yaml")
    assert (
        str(info.value)
        == f"{tmp_path / 'nope.yaml'}: invalid job spec (1 problem):\n  file not found"
    )
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path)
    assert info.value.problems[0].message == "is a directory, expected a YAML job spec file"


def test_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"version: 1\n\xff\xfe")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "not UTF-8 text" in str(info.value)


def test_load_spec_reads_a_file_and_records_its_origin(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    spec = load_spec(path, env={})
    assert spec.origin == str(path)
    assert spec.exports[0].endpoint == "process-instances"


# ----------------------------------------------------------------------------- the schema


def test_bundled_schema_is_the_single_source_copy() -> None:
    assert schema_text() == (REPO / "schemas" / "job.schema.json").read_text(encoding="utf-8")
    assert load_schema() == json.loads(schema_text())


def test_schema_is_valid_2020_12() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def _walk_properties(schema: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            found.append((f"{path}.{name}".lstrip("."), sub))
            found.extend(_walk_properties(sub, f"{path}.{name}"))
        for keyword in ("items", "allOf", "then", "if"):
            value = schema.get(keyword)
            for sub in value if isinstance(value, list) else [value]:
                found.extend(_walk_properties(sub, path))
    return found


def test_every_property_has_title_description_examples() -> None:
    properties = _walk_properties(load_schema())
    documented = [(p, s) for p, s in properties if "type" in s]
    assert len(documented) > 40
    for path, sub in documented:
        assert sub.get("title"), path
        assert sub.get("description"), path
        assert sub.get("examples"), path


def test_every_object_forbids_unknown_keys() -> None:
    def objects(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            here = [node] if node.get("type") == "object" and "properties" in node else []
            return here + [o for value in node.values() for o in objects(value)]
        if isinstance(node, list):
            return [o for value in node for o in objects(value)]
        return []

    found = objects(load_schema())
    assert len(found) >= 7
    assert all(o.get("additionalProperties") is False for o in found)


def test_secrets_are_write_only_in_the_schema() -> None:
    paths = secret_paths(load_schema())
    assert paths == [("source", "auth", "client_secret"), ("source", "auth", "password")]
    assert tuple(p[-1] for p in paths) == SECRET_FIELDS


def test_schema_defaults_match_the_dataclass_defaults() -> None:
    schema = load_schema()
    source = schema["properties"]["source"]["properties"]
    pairs = [
        (source["retry"]["properties"], RetrySpec()),
        (source["tls"]["properties"], TlsSpec()),
        (schema["properties"]["output"]["properties"], OutputSpec()),
        (schema["properties"]["exports"]["items"]["properties"], ExportSpec("x", "x")),
        (source["auth"]["properties"], AuthSpec()),
    ]
    checked = 0
    for properties, instance in pairs:
        for name, sub in properties.items():
            if "default" in sub:
                assert sub["default"] == getattr(instance, name), name
                checked += 1
    top = schema["properties"]
    assert (
        top["concurrency"]["default"]
        == 4
        == spec_module.JobSpec.__dataclass_fields__["concurrency"].default
    )
    assert (
        source["api"]["default"]
        == "auto"
        == spec_module.SourceSpec.__dataclass_fields__["api"].default
    )
    assert checked >= 12


def test_schema_auth_modes_and_endpoints_agree_with_the_code() -> None:
    schema = load_schema()
    auth = schema["properties"]["source"]["properties"]["auth"]["properties"]
    assert tuple(auth["mode"]["enum"]) == spec_module.AUTH_MODES
    endpoint_doc = schema["properties"]["exports"]["items"]["properties"]["endpoint"]
    for name in REGISTRY["v1"]:
        assert name in endpoint_doc["description"]
    api_enum = schema["properties"]["source"]["properties"]["api"]["enum"]
    assert api_enum == [*REGISTRY, "auto"] == list(spec_module.API_CHOICES)


def test_every_spec_dataclass_field_is_in_the_schema() -> None:
    schema = load_schema()
    source = schema["properties"]["source"]["properties"]
    targets = {
        spec_module.AuthSpec: source["auth"]["properties"],
        spec_module.RetrySpec: source["retry"]["properties"],
        spec_module.TlsSpec: source["tls"]["properties"],
        spec_module.SourceSpec: source,
        spec_module.ExportSpec: schema["properties"]["exports"]["items"]["properties"],
        spec_module.ParentSpec: schema["properties"]["exports"]["items"]["properties"]["parent"][
            "properties"
        ],
        spec_module.OutputSpec: schema["properties"]["output"]["properties"],
        spec_module.JobSpec: schema["properties"],
    }
    for cls, properties in targets.items():
        names = {f.name for f in dataclasses.fields(cls)} - {"origin", "digest"}
        assert names == set(properties), cls.__name__
