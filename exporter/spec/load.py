"""Loading a job spec: YAML -> ${ENV} substitution -> JSON Schema + semantic checks -> model.

The JSON Schema in ``schemas/job.schema.json`` (bundled as ``exporter/schemas/job.schema.json``)
is the single definition of the language; ``model.py`` holds its typed, validated form. What
needs an API's registry comes in as ``SpecRules`` (``exporter.api.validation.RULES``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path
from typing import IO, Any, Protocol

from exporter.errors import SpecError, SpecProblem
from exporter.spec.checks import (
    auth_key_problems,
    non_finite_problems,
    schema_problems,
    scrub,
    secret_paths,
    secret_values,
    url_problems,
    url_secrets,
)
from exporter.spec.envsubst import Placeholder, substitute
from exporter.spec.model import (
    DEFAULT_SAAS_TOKEN_URL,
    AuthSpec,
    ExportSpec,
    IncrementalSpec,
    JobSpec,
    LimitsSpec,
    OutputSpec,
    ParentSpec,
    PartitionSpec,
    RetrySpec,
    SortSpec,
    SourceSpec,
    TableSpec,
    TlsSpec,
)
from exporter.spec.output_checks import output_problems
from exporter.spec.reader import parse_yaml, read_spec_file, read_spec_stream
from exporter.spec.tables import table_problems
from exporter.spec.timespec import parse_duration


class SpecRules(Protocol):
    """What a spec check needs from the API layer (``exporter.api.validation.RULES``): this
    package knows no registry, so the loader is handed the rules that depend on one."""

    def problems(self, document: Any) -> list[SpecProblem]:
        """Registry-dependent problems (endpoints, filter/sort fields, values, page sizes)."""
        ...

    def typed_filter(self, endpoint: str, filters: dict[str, Any], api: str) -> dict[str, Any]:
        """The filter values typed for the API (v1: digit strings of key fields become ints)."""
        ...

    def default_audience(self, auth_mode: str, api: str) -> str | None:
        """The audience of an auth mode that names none (None: send no audience)."""
        ...


class NoRegistryRules:
    """Rules for callers without the API layer: no registry checks, values as written."""

    def problems(self, document: Any) -> list[SpecProblem]:
        return []

    def typed_filter(self, endpoint: str, filters: dict[str, Any], api: str) -> dict[str, Any]:
        return filters

    def default_audience(self, auth_mode: str, api: str) -> str | None:
        return None


# --------------------------------------------------------------------------- loading

SCHEMA_RESOURCE = ("schemas", "job.schema.json")


def schema_text() -> str:
    """The JSON Schema as bundled in the installed package (never read from the source tree)."""
    return resources.files("exporter").joinpath(*SCHEMA_RESOURCE).read_text(encoding="utf-8")


@functools.cache
def load_schema() -> dict[str, Any]:
    return json.loads(schema_text())


def load_spec(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None, *, rules: SpecRules
) -> JobSpec:
    """Read, substitute, validate and type a job spec file; raise SpecError with every problem."""
    origin = str(path)
    return parse_spec_text(read_spec_file(Path(path)), origin, env, rules=rules)


def load_spec_stream(
    stream: IO[bytes],
    origin: str = "<stdin>",
    env: Mapping[str, str] | None = None,
    *,
    rules: SpecRules,
) -> JobSpec:
    """``load_spec`` for a byte stream (``validate -`` reads stdin), with the same size cap."""
    return parse_spec_text(read_spec_stream(stream, origin), origin, env, rules=rules)


def parse_spec_text(
    text: str,
    origin: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    rules: SpecRules,
) -> JobSpec:
    return load_document(parse_yaml(text, origin), origin, env, rules=rules)


def load_document(
    document: Any,
    origin: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    rules: SpecRules,
) -> JobSpec:
    """``parse_spec_text`` for a document already parsed (a mapping as the YAML would give)."""
    resolved, problems = _resolve(document, os.environ if env is None else env, rules)
    if problems:
        raise SpecError(problems, origin)
    return _build(resolved, origin, rules)


def validate_document(
    document: Any, env: Mapping[str, str] | None = None, *, rules: SpecRules
) -> list[SpecProblem]:
    """Every problem of an already-parsed document (env substitution included), in one list."""
    return _resolve(document, os.environ if env is None else env, rules)[1]


@dataclass(frozen=True)
class OfflineCheck:
    """``validate --offline``: the spec, and the unset variables it was checked without.

    ``spec`` is None when a placeholder leaves it impossible to type (a number from an unset
    variable); its values at placeholder paths are empty strings, never to be used for a run.
    """

    spec: JobSpec | None
    placeholders: list[Placeholder]


def _covered(path: str, placeholders: list[Placeholder]) -> bool:
    """A problem at (or under) a value that holds an unset variable: unknowable offline."""
    return any(
        path == p.path or path.startswith((p.path + ".", p.path + "[")) for p in placeholders
    )


def check_document_offline(
    document: Any,
    origin: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    rules: SpecRules,
) -> OfflineCheck:
    """Every check of ``load_document`` except those of values built from unset variables,
    which are reported as placeholders instead (specs linted in CI without the secrets)."""
    placeholders: list[Placeholder] = []
    resolved, problems = _resolve(document, os.environ if env is None else env, rules, placeholders)
    problems = [p for p in problems if not _covered(p.path, placeholders)]
    if problems:
        raise SpecError(problems, origin)
    try:
        spec: JobSpec | None = _build(resolved, origin, rules)
    except (TypeError, ValueError, KeyError, AttributeError):
        if not placeholders:
            raise
        spec = None
    return OfflineCheck(spec, placeholders)


def check_spec_offline(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None, *, rules: SpecRules
) -> OfflineCheck:
    origin = str(path)
    document = parse_yaml(read_spec_file(Path(path)), origin)
    return check_document_offline(document, origin, env, rules=rules)


def check_stream_offline(
    stream: IO[bytes], origin: str, env: Mapping[str, str] | None = None, *, rules: SpecRules
) -> OfflineCheck:
    document = parse_yaml(read_spec_stream(stream, origin), origin)
    return check_document_offline(document, origin, env, rules=rules)


def spec_digest(spec: JobSpec) -> str:
    """sha256 of the canonical JSON of the resolved spec, secrets (writeOnly) removed."""
    data = asdict(spec)
    data.pop("origin", None)
    data.pop("digest", None)
    for parts in secret_paths(load_schema()):
        node: Any = data
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(parts[-1], None)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def summary(spec: JobSpec) -> str:
    """One line: exports, endpoints, auth mode, format, output path."""
    endpoints = ", ".join(dict.fromkeys(e.endpoint for e in spec.exports))
    noun = "export" if len(spec.exports) == 1 else "exports"
    out = spec.output
    return (
        f"{len(spec.exports)} {noun} ({endpoints}); auth {spec.source.auth.mode}; "
        f"{out.format} ({out.effective_compression}) -> {out.path}"
    )


def _resolve(
    document: Any,
    env: Mapping[str, str],
    rules: SpecRules,
    placeholders: list[Placeholder] | None = None,
) -> tuple[Any, list[SpecProblem]]:
    schema = load_schema()
    resolved, problems = substitute(
        _without_extensions(document), env, schema=schema, placeholders=placeholders
    )
    # A value whose variable is unset (or did not convert) already has its real problem, and so
    # does a NaN/infinity (which the schema's bounds would report confusingly, or not at all).
    problems += non_finite_problems(resolved)
    reported = {problem.path for problem in problems}
    checks = schema_problems(schema, resolved) + auth_key_problems(schema, resolved)
    checks += url_problems(resolved) + output_problems(resolved) + rules.problems(resolved)
    checks += table_problems(resolved)
    problems += [problem for problem in checks if problem.path not in reported]
    return resolved, scrub(problems, secret_values(schema, resolved) + url_secrets(resolved))


def _without_extensions(document: Any) -> Any:
    """The document without its top-level ``x-...`` keys (a home for YAML anchors, ignored)."""
    if not isinstance(document, dict):
        return document
    return {k: v for k, v in document.items() if not (isinstance(k, str) and k.startswith("x-"))}


def _build_limits(limits: dict[str, Any]) -> LimitsSpec:
    default = LimitsSpec()
    return LimitsSpec(
        request_deadline_seconds=float(
            limits.get("request_deadline_seconds", default.request_deadline_seconds)
        ),
        max_response_bytes=int(limits.get("max_response_bytes", default.max_response_bytes)),
        max_decompressed_bytes=int(
            limits.get("max_decompressed_bytes", default.max_decompressed_bytes)
        ),
    )


def _build(doc: dict[str, Any], origin: str | None, rules: SpecRules) -> JobSpec:
    """Type a document that passed every check; defaults follow the schema's ``default``s."""
    src = doc["source"]
    retry, tls = src.get("retry", {}), src.get("tls", {})
    spec = JobSpec(
        version=doc["version"],
        source=SourceSpec(
            base_url=src["base_url"].rstrip("/"),
            auth=_build_auth(src.get("auth", {}), src.get("api", "auto"), rules),
            api=src.get("api", "auto"),
            server_version=src.get("server_version", "8.8"),
            timeout_seconds=float(src.get("timeout_seconds", 30.0)),
            max_in_flight=src.get("max_in_flight", 8),
            retry=RetrySpec(
                max_attempts=retry.get("max_attempts", 6),
                max_backoff_seconds=float(retry.get("max_backoff_seconds", 30.0)),
                initial_backoff_seconds=float(retry.get("initial_backoff_seconds", 0.5)),
            ),
            tls=TlsSpec(verify=tls.get("verify", True), ca_bundle=tls.get("ca_bundle")),
            limits=_build_limits(src.get("limits", {})),
        ),
        exports=tuple(_build_export(e, src.get("api", "auto"), rules) for e in doc["exports"]),
        output=_build_output(doc.get("output", {})),
        concurrency=doc.get("concurrency", 4),
        hydration_concurrency=doc.get("hydration_concurrency", 8),
        retention=parse_duration(doc.get("retention", "P30D")),
        origin=origin,
    )
    return _with_digest(spec)


def _with_digest(spec: JobSpec) -> JobSpec:
    return replace(spec, digest=spec_digest(spec))


def _build_output(output: dict[str, Any]) -> OutputSpec:
    values = dict(output)
    if "table" in values:
        values["table"] = TableSpec(**values["table"])
    if "partition_by" in values:
        values["partition_by"] = PartitionSpec(**values["partition_by"])
    return OutputSpec(**values)


def _build_auth(auth: dict[str, Any], api: str, rules: SpecRules) -> AuthSpec:
    mode = auth.get("mode", "none")
    values = dict(auth)
    if mode == "saas":
        values.setdefault("token_url", DEFAULT_SAAS_TOKEN_URL)
    if mode in ("saas", "identity"):
        # The API's default audience (the dialect's); an explicit one, even null, stays.
        values.setdefault("audience", rules.default_audience(mode, api))
    return AuthSpec(**values)


def _build_incremental(incremental: dict[str, Any]) -> IncrementalSpec:
    return IncrementalSpec(
        field=incremental["field"],
        lag=parse_duration(incremental.get("lag", "PT15M")),
        start=incremental.get("start", "-30d"),
        window=parse_duration(incremental.get("window", "P1D")),
    )


def _build_export(export: dict[str, Any], api: str, rules: SpecRules) -> ExportSpec:
    built = ("filter", "sort", "incremental", "table", "parent")
    values = {k: v for k, v in export.items() if k not in built}
    if "table" in export:
        values["table"] = export["table"]["name"]
    values.setdefault("name", export["endpoint"])
    if "incremental" in export:
        values["incremental"] = _build_incremental(export["incremental"])
    if "parent" in export:
        values["parent"] = ParentSpec(**export["parent"])
    sort = tuple(SortSpec(s["field"], s.get("order", "ASC")) for s in export.get("sort", []))
    filters = rules.typed_filter(export["endpoint"], dict(export.get("filter", {})), api)
    return ExportSpec(filter=filters, sort=sort, **values)
