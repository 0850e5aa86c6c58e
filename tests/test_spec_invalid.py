"""A table of invalid specs, each pinning the path and the message of its problem."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exporter.api.validation import validate_document
from exporter.errors import SpecProblem

ENV = {"OPERATE_CLIENT_SECRET": "s3cr3t-value"}


def base() -> dict[str, Any]:
    return {
        "version": 1,
        "source": {"base_url": "http://127.0.0.1:8080", "auth": {"mode": "none"}},
        "exports": [{"endpoint": "process-instances"}],
        "output": {"format": "parquet", "path": "./out"},
    }


def with_(path: str, value: Any) -> dict[str, Any]:
    """``base()`` with ``value`` set at a dotted path (``exports.0.filter``)."""
    doc = copy.deepcopy(base())
    node: Any = doc
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


def without(path: str) -> dict[str, Any]:
    doc = base()
    node: Any = doc
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    del node[last]
    return doc


def export(**fields: Any) -> dict[str, Any]:
    return with_("exports", [fields])


PI_VALID_FILTERS = (
    "key, processVersion, processVersionTag, bpmnProcessId, parentKey, parentFlowNodeInstanceKey,"
    " startDate, endDate, state, incident, processDefinitionKey, tenantId, parentProcessInstanceKey"
)

CASES = [
    pytest.param(without("version"), "version", "is required", id="missing-version"),
    pytest.param(with_("version", 2), "version", "1 was expected", id="wrong-version"),
    pytest.param(without("source"), "source", "is required", id="missing-source"),
    pytest.param(without("exports"), "exports", "is required", id="missing-exports"),
    pytest.param(with_("exports", []), "exports", "[] should be non-empty", id="empty-exports"),
    pytest.param(
        with_("colour", "blue"),
        "colour",
        "unknown key; valid keys are: version, source, concurrency, hydration_concurrency, "
        "retention, exports, output",
        id="unknown-top-level-key",
    ),
    pytest.param(
        with_("source.base_url", "localhost:8080"),
        "source.base_url",
        "'localhost:8080' does not match '^https?://[^/]'",
        id="base-url-without-scheme",
    ),
    pytest.param(
        with_("source.api", "v3"),
        "source.api",
        "'v3' is not one of ['v1', 'v2', 'auto']",
        id="unknown-api",
    ),
    pytest.param(
        with_("source.auth", {"mode": "kerberos"}),
        "source.auth.mode",
        "'kerberos' is not one of ['saas', 'identity', 'cookie', 'basic', 'none']",
        id="unknown-auth-mode",
    ),
    pytest.param(
        with_("source.auth", {"mode": "saas", "client_id": "abc"}),
        "source.auth.client_secret",
        "is required for auth mode 'saas'",
        id="saas-without-secret",
    ),
    pytest.param(
        with_(
            "source.auth",
            {"mode": "identity", "client_id": "a", "client_secret": "${OPERATE_CLIENT_SECRET}"},
        ),
        "source.auth.token_url",
        "is required for auth mode 'identity'",
        id="identity-without-token-url",
    ),
    pytest.param(
        with_("source.auth", {"mode": "basic", "username": "demo"}),
        "source.auth.password",
        "is required for auth mode 'basic'",
        id="basic-without-password",
    ),
    pytest.param(
        with_("source.auth", {"mode": "cookie", "password": "${OPERATE_CLIENT_SECRET}"}),
        "source.auth.username",
        "is required for auth mode 'cookie'",
        id="cookie-without-username",
    ),
    pytest.param(
        with_("source.auth", {"mode": "saas", "client_id": "a", "client_secret": "b", "x": 1}),
        "source.auth.x",
        "unknown key; valid keys are: mode, client_id, client_secret, token_url, audience, "
        "scope, token_request_format, username, password",
        id="unknown-auth-key",
    ),
    pytest.param(
        with_("source.auth", {"mode": "none", "password": "${OPERATE_CLIENT_SECRET}"}),
        "source.auth.password",
        "not used by auth mode 'none' (only by cookie, basic)",
        id="password-with-mode-none",
    ),
    pytest.param(
        with_("source.auth", {"mode": "basic", "username": "u", "password": "p", "scope": "s"}),
        "source.auth.scope",
        "not used by auth mode 'basic' (only by saas, identity)",
        id="oauth-key-with-basic",
    ),
    pytest.param(
        with_("source.timeout_seconds", 0),
        "source.timeout_seconds",
        "0 is less than or equal to the minimum of 0",
        id="zero-timeout",
    ),
    pytest.param(
        with_("source.retry", {"max_attempts": "six"}),
        "source.retry.max_attempts",
        "must be integer, got string",
        id="retry-attempts-not-int",
    ),
    pytest.param(
        with_("source.tls", {"verify": "yes please"}),
        "source.tls.verify",
        "must be boolean, got string",
        id="tls-verify-not-bool",
    ),
    pytest.param(
        with_("concurrency", 0),
        "concurrency",
        "0 is less than the minimum of 1",
        id="concurrency-0",
    ),
    pytest.param(
        export(endpoint="process-instance"),
        "exports[0].endpoint",
        "unknown endpoint 'process-instance'; valid endpoints are: process-definitions, "
        "process-instances, incidents, flownode-instances, variables, decision-definitions, "
        "decision-requirements, decision-instances",
        id="unknown-endpoint",
    ),
    pytest.param(export(), "exports[0].endpoint", "is required", id="export-without-endpoint"),
    pytest.param(
        export(endpoint="variables", name="../etc"),
        "exports[0].name",
        "'../etc' does not match '^[A-Za-z0-9][A-Za-z0-9._-]*$'",
        id="name-not-filesystem-safe",
    ),
    pytest.param(
        with_("exports", [{"endpoint": "incidents"}, {"endpoint": "incidents"}]),
        "exports[1].name",
        "duplicate export name 'incidents', already used by exports[0] (the name defaults to "
        "the endpoint); names must be unique",
        id="duplicate-default-names",
    ),
    pytest.param(
        with_(
            "exports",
            [{"endpoint": "incidents", "name": "x"}, {"endpoint": "variables", "name": "x"}],
        ),
        "exports[1].name",
        "duplicate export name 'x', already used by exports[0]; names must be unique",
        id="duplicate-explicit-names",
    ),
    pytest.param(
        export(endpoint="process-instances", filter={"state": "RUNNING"}),
        "exports[0].filter.state",
        "'RUNNING' is not one of ['ACTIVE', 'COMPLETED', 'CANCELED']",
        id="filter-enum-value",
    ),
    pytest.param(
        export(endpoint="process-instances", filter={"status": "ACTIVE"}),
        "exports[0].filter.status",
        f"unknown filter field 'status' for endpoint process-instances; valid fields are: "
        f"{PI_VALID_FILTERS}",
        id="filter-unknown-field",
    ),
    pytest.param(
        export(endpoint="flownode-instances", filter={"flowNodeName": "Approve"}),
        "exports[0].filter.flowNodeName",
        "unknown filter field 'flowNodeName' for endpoint flownode-instances; valid fields are: "
        "key, processInstanceKey, processDefinitionKey, startDate, endDate, flowNodeId, "
        "incidentKey, type, state, incident, tenantId",
        id="filter-on-unfilterable-field",
    ),
    pytest.param(
        export(endpoint="incidents", filter={"processInstanceKey": "22517998x"}),
        "exports[0].filter.processInstanceKey",
        "must be an integer key (64-bit), got '22517998x'",
        id="filter-key-not-digits",
    ),
    pytest.param(
        export(endpoint="incidents", filter={"key": 2**63}),
        "exports[0].filter.key",
        f"must be an integer key (64-bit), got {2**63}",
        id="filter-key-beyond-int64",
    ),
    pytest.param(
        export(endpoint="incidents", filter={"key": 1.5}),
        "exports[0].filter.key",
        "must be an integer key (64-bit), got 1.5",
        id="filter-key-float",
    ),
    pytest.param(
        export(endpoint="process-definitions", filter={"version": "2"}),
        "exports[0].filter.version",
        "must be a 32-bit integer, got '2'",
        id="filter-int32-as-string",
    ),
    pytest.param(
        export(endpoint="process-instances", filter={"incident": "true"}),
        "exports[0].filter.incident",
        "must be true or false, got 'true'",
        id="filter-bool-as-string",
    ),
    pytest.param(
        export(endpoint="process-instances", filter={"startDate": "2022-03-17"}),
        "exports[0].filter.startDate",
        "'2022-03-17': expected Operate's date format yyyy-MM-dd'T'HH:mm:ss.SSSZZ with optional "
        "||/y|M|w|d|h|m|s rounding, e.g. '2022-03-17T11:50:25.729+0000' or "
        "'2022-03-17T00:00:00.000+0000||/d'",
        id="filter-date-without-time",
    ),
    pytest.param(
        export(endpoint="incidents", filter={"creationTime": "2022-03-17T11:50:25.729+0000||/q"}),
        "exports[0].filter.creationTime",
        "'2022-03-17T11:50:25.729+0000||/q': expected Operate's date format",
        id="filter-date-bad-rounding-unit",
    ),
    pytest.param(
        export(endpoint="incidents", filter={"creationTime": "2022-02-30T11:50:25.729+0000"}),
        "exports[0].filter.creationTime",
        "'2022-02-30T11:50:25.729+0000': expected Operate's date format",
        id="filter-date-impossible-day",
    ),
    pytest.param(
        export(endpoint="variables", filter={"name": 42}),
        "exports[0].filter.name",
        "must be a string, got integer",
        id="filter-string-as-int",
    ),
    pytest.param(
        export(endpoint="variables", filter=["name"]),
        "exports[0].filter",
        "must be object, got array",
        id="filter-not-a-mapping",
    ),
    pytest.param(
        export(endpoint="process-instances", sort=[{"field": "flowNodeName"}]),
        "exports[0].sort[0].field",
        "unknown sort field 'flowNodeName' for endpoint process-instances; sortable fields are: "
        "key, processVersion, processVersionTag, bpmnProcessId, parentFlowNodeInstanceKey, "
        "startDate, endDate, state, incident, processDefinitionKey, tenantId",
        id="sort-unknown-field",
    ),
    pytest.param(
        export(endpoint="process-instances", sort=[{"field": "startDate", "order": "asc"}]),
        "exports[0].sort[0].order",
        "'asc' is not one of ['ASC', 'DESC']",
        id="sort-order-lowercase",
    ),
    pytest.param(
        export(endpoint="process-instances", sort={"field": "startDate"}),
        "exports[0].sort",
        "must be array, got object",
        id="sort-not-a-list",
    ),
    pytest.param(
        with_("source.api", "v1") | {"exports": [{"endpoint": "variables", "page_size": 1001}]},
        "exports[0].page_size",
        "1001 is greater than the maximum of 1000",
        id="page-size-too-big",
    ),
    pytest.param(
        export(endpoint="variables", page_size=0),
        "exports[0].page_size",
        "0 is less than the minimum of 1",
        id="page-size-zero",
    ),
    pytest.param(
        export(endpoint="variables", max_records=-5),
        "exports[0].max_records",
        "-5 is less than the minimum of 1",
        id="max-records-negative",
    ),
    pytest.param(
        export(endpoint="variables", include_xml=True),
        "exports[0].include_xml",
        "only applies to process-definitions, decision-requirements, not variables",
        id="include-xml-on-variables",
    ),
    pytest.param(
        export(endpoint="decision-definitions", include_evaluation_details=True),
        "exports[0].include_evaluation_details",
        "only applies to decision-instances, not decision-definitions",
        id="evaluation-details-on-definitions",
    ),
    pytest.param(
        with_("output.format", "csv"),
        "output.format",
        "'csv' is not one of ['parquet', 'jsonl']",
        id="unknown-format",
    ),
    pytest.param(
        with_("output", {"format": "jsonl", "compression": "zstd"}),
        "output.compression",
        "'zstd' is not one of ['none', 'gzip']",
        id="jsonl-with-zstd",
    ),
    pytest.param(
        with_("output.compression", "lz4"),
        "output.compression",
        "'lz4' is not one of ['zstd', 'snappy', 'gzip', 'none']",
        id="parquet-with-lz4",
    ),
    pytest.param(
        with_("output.rows_per_file", 0),
        "output.rows_per_file",
        "0 is less than the minimum of 1",
        id="rows-per-file-zero",
    ),
    pytest.param(
        with_("output.path", "${EXPORT_ROOT_NOT_SET}"),
        "output.path",
        "environment variable EXPORT_ROOT_NOT_SET is not set and has no default",
        id="unset-variable",
    ),
    pytest.param(
        with_("output.path", "${EXPORT ROOT}"),
        "output.path",
        "malformed variable reference '${EXPORT ROOT}'",
        id="malformed-variable",
    ),
]


@pytest.mark.parametrize(("document", "path", "message"), CASES)
def test_invalid_spec_reports_path_and_message(document: Any, path: str, message: str) -> None:
    problems = validate_document(document, env=ENV)
    assert problems, "expected at least one problem"
    matching = [p for p in problems if p.path == path and p.message.startswith(message)]
    assert matching, f"no problem at {path!r} starting with {message!r}; got {problems}"
    # Exactly one problem: each mistake is reported once, not echoed by several layers.
    assert len(problems) == 1, problems


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 25


def test_base_document_is_valid() -> None:
    assert validate_document(base(), env=ENV) == []


def test_every_problem_is_reported_at_once() -> None:
    document = base()
    document["concurrency"] = 0
    document["source"]["auth"] = {"mode": "identity", "client_id": "a", "client_secret": "b"}
    document["exports"] = [
        {"endpoint": "process-instances", "filter": {"state": "RUNNING", "bogus": 1}},
        {"endpoint": "process-instance"},
        {"endpoint": "variables", "name": "process-instances", "page_size": 5000},
        {"endpoint": "incidents", "sort": [{"field": "nope", "order": "UP"}]},
    ]
    document["output"] = {"format": "jsonl", "compression": "snappy", "extra": True}
    problems = validate_document(document, env=ENV)
    paths = {p.path for p in problems}
    assert paths == {
        "concurrency",
        "source.auth.token_url",
        "exports[0].filter.state",
        "exports[0].filter.bogus",
        "exports[1].endpoint",
        "exports[2].name",
        "exports[2].page_size",
        "exports[3].sort[0].field",
        "exports[3].sort[0].order",
        "output.compression",
        "output.extra",
    }
    assert (
        SpecProblem(
            "exports[0].filter.state", "'RUNNING' is not one of ['ACTIVE', 'COMPLETED', 'CANCELED']"
        )
        in problems
    )
