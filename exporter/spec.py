"""Job spec: YAML -> ${ENV} substitution -> JSON Schema + semantic checks -> frozen dataclasses.

The JSON Schema in ``schemas/job.schema.json`` (bundled as ``exporter/schemas/job.schema.json``)
is the single definition of the language; the dataclasses below are its typed, validated form.
Every consumer downstream (auth, paging, sinks, runner) reads these dataclasses, never raw YAML.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import IO, Any

from exporter.endpoints import REGISTRY, Kind
from exporter.envsubst import substitute
from exporter.errors import SpecError, SpecProblem
from exporter.spec_checks import (
    api_problems,
    auth_api_problems,
    auth_key_problems,
    non_finite_problems,
    parse_key,
    schema_problems,
    scrub,
    secret_paths,
    secret_values,
    semantic_problems,
    url_problems,
    url_secrets,
)
from exporter.spec_yaml import parse_yaml, read_spec_file, read_spec_stream

AUTH_MODES = ("saas", "identity", "cookie", "basic", "none")
SECRET_FIELDS = ("client_secret", "password")

DEFAULT_SAAS_TOKEN_URL = "https://login.cloud.camunda.io/oauth/token"
DEFAULT_SAAS_AUDIENCE = "operate.camunda.io"
# The Orchestration Cluster (v2) REST API's SaaS audience (ZEEBE_TOKEN_AUDIENCE).
DEFAULT_SAAS_AUDIENCE_V2 = "zeebe.camunda.io"
API_CHOICES = ("v1", "v2", "auto")
DEFAULT_IDENTITY_AUDIENCE = "operate-api"


@dataclass(frozen=True)
class AuthSpec:
    mode: str = "none"
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token_url: str | None = None
    # None means "do not send an audience" (IdPs that reject it).
    audience: str | None = None
    scope: str | None = None
    # How the client-credentials request body is encoded: "json" (Operate 8.4 docs) or "form".
    token_request_format: str = "json"
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RetrySpec:
    max_attempts: int = 6
    max_backoff_seconds: float = 30.0
    initial_backoff_seconds: float = 0.5


@dataclass(frozen=True)
class LimitsSpec:
    """``source.limits``: what one HTTP answer may cost in time and memory."""

    request_deadline_seconds: float = 300.0  # connect + headers + whole body
    max_response_bytes: int = 256 * 1024 * 1024  # body as it comes over the wire
    max_decompressed_bytes: int = 256 * 1024 * 1024  # body after gzip/deflate


@dataclass(frozen=True)
class TlsSpec:
    verify: bool = True
    ca_bundle: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    base_url: str
    auth: AuthSpec = field(default_factory=AuthSpec)
    # "v1", "v2" or "auto" (probe once per run; the runner replaces it with the choice).
    api: str = "auto"
    # v2: the oldest Camunda minor the spec must work with ("8.8" or "8.9").
    server_version: str = "8.8"
    timeout_seconds: float = 30.0
    retry: RetrySpec = field(default_factory=RetrySpec)
    tls: TlsSpec = field(default_factory=TlsSpec)
    limits: LimitsSpec = field(default_factory=LimitsSpec)


@dataclass(frozen=True)
class SortSpec:
    field: str
    order: str = "ASC"

    def to_api(self) -> dict[str, str]:
        return {"field": self.field, "order": self.order}


@dataclass(frozen=True)
class ExportSpec:
    endpoint: str
    name: str
    filter: Mapping[str, Any] = field(default_factory=dict)
    sort: tuple[SortSpec, ...] = ()
    page_size: int = 1000
    max_records: int | None = None
    # Complete truncated variable values from GET /v1/variables/{key}.
    hydrate: bool = True
    # Process definitions / decision requirements: add the BPMN / DMN XML.
    include_xml: bool = False
    # Decision instances: add evaluatedInputs / evaluatedOutputs from get-by-id.
    include_evaluation_details: bool = False


@dataclass(frozen=True)
class OutputSpec:
    format: str = "parquet"
    path: str = "./exports"
    compression: str | None = None  # None = the format's default (zstd / none)
    rows_per_file: int = 1_000_000
    row_group_size: int = 100_000

    @property
    def effective_compression(self) -> str:
        if self.compression is not None:
            return self.compression
        return "zstd" if self.format == "parquet" else "none"


@dataclass(frozen=True)
class JobSpec:
    source: SourceSpec
    exports: tuple[ExportSpec, ...]
    output: OutputSpec = field(default_factory=OutputSpec)
    version: int = 1
    concurrency: int = 4
    hydration_concurrency: int = 8
    # Where the spec came from (file path) and a digest of its content with secrets removed.
    origin: str | None = None
    digest: str = ""


# --------------------------------------------------------------------------- loading

SCHEMA_RESOURCE = ("schemas", "job.schema.json")


def schema_text() -> str:
    """The JSON Schema as bundled in the installed package (never read from the source tree)."""
    return resources.files("exporter").joinpath(*SCHEMA_RESOURCE).read_text(encoding="utf-8")


@functools.cache
def load_schema() -> dict[str, Any]:
    return json.loads(schema_text())


def load_spec(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> JobSpec:
    """Read, substitute, validate and type a job spec file; raise SpecError with every problem."""
    origin = str(path)
    return parse_spec_text(read_spec_file(Path(path)), origin, env)


def load_spec_stream(
    stream: IO[bytes], origin: str = "<stdin>", env: Mapping[str, str] | None = None
) -> JobSpec:
    """``load_spec`` for a byte stream (``validate -`` reads stdin), with the same size cap."""
    return parse_spec_text(read_spec_stream(stream, origin), origin, env)


def parse_spec_text(
    text: str, origin: str | None = None, env: Mapping[str, str] | None = None
) -> JobSpec:
    document = parse_yaml(text, origin)
    resolved, problems = _resolve(document, os.environ if env is None else env)
    if problems:
        raise SpecError(problems, origin)
    spec = _build(resolved, origin)
    return spec


def validate_document(document: Any, env: Mapping[str, str] | None = None) -> list[SpecProblem]:
    """Every problem of an already-parsed document (env substitution included), in one list."""
    return _resolve(document, os.environ if env is None else env)[1]


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


def _resolve(document: Any, env: Mapping[str, str]) -> tuple[Any, list[SpecProblem]]:
    schema = load_schema()
    resolved, problems = substitute(_without_extensions(document), env, schema=schema)
    # A value whose variable is unset (or did not convert) already has its real problem, and so
    # does a NaN/infinity (which the schema's bounds would report confusingly, or not at all).
    problems += non_finite_problems(resolved)
    reported = {problem.path for problem in problems}
    checks = schema_problems(schema, resolved) + auth_key_problems(schema, resolved)
    checks += url_problems(resolved) + semantic_problems(resolved)
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


def _build(doc: dict[str, Any], origin: str | None) -> JobSpec:
    """Type a document that passed every check; defaults follow the schema's ``default``s."""
    src = doc["source"]
    retry, tls = src.get("retry", {}), src.get("tls", {})
    spec = JobSpec(
        version=doc["version"],
        source=SourceSpec(
            base_url=src["base_url"].rstrip("/"),
            auth=_build_auth(src.get("auth", {}), src.get("api", "auto")),
            api=src.get("api", "auto"),
            server_version=src.get("server_version", "8.8"),
            timeout_seconds=float(src.get("timeout_seconds", 30.0)),
            retry=RetrySpec(
                max_attempts=retry.get("max_attempts", 6),
                max_backoff_seconds=float(retry.get("max_backoff_seconds", 30.0)),
                initial_backoff_seconds=float(retry.get("initial_backoff_seconds", 0.5)),
            ),
            tls=TlsSpec(verify=tls.get("verify", True), ca_bundle=tls.get("ca_bundle")),
            limits=_build_limits(src.get("limits", {})),
        ),
        exports=tuple(_build_export(e, src.get("api", "auto")) for e in doc["exports"]),
        output=OutputSpec(**doc.get("output", {})),
        concurrency=doc.get("concurrency", 4),
        hydration_concurrency=doc.get("hydration_concurrency", 8),
        origin=origin,
    )
    return _with_digest(spec)


def _with_digest(spec: JobSpec) -> JobSpec:
    return replace(spec, digest=spec_digest(spec))


def _build_auth(auth: dict[str, Any], api: str = "v1") -> AuthSpec:
    mode = auth.get("mode", "none")
    values = dict(auth)
    if mode == "saas":
        values.setdefault("token_url", DEFAULT_SAAS_TOKEN_URL)
        # auto keeps v1's audience: an existing SaaS spec without ``api`` must keep working.
        audience = DEFAULT_SAAS_AUDIENCE_V2 if api == "v2" else DEFAULT_SAAS_AUDIENCE
        values.setdefault("audience", audience)
    elif mode == "identity":
        values.setdefault("audience", DEFAULT_IDENTITY_AUDIENCE)
    return AuthSpec(**values)


def _build_export(export: dict[str, Any], api: str) -> ExportSpec:
    values = {k: v for k, v in export.items() if k not in ("filter", "sort")}
    values.setdefault("name", export["endpoint"])
    sort = tuple(SortSpec(s["field"], s.get("order", "ASC")) for s in export.get("sort", []))
    filters = _typed_filter(export["endpoint"], dict(export.get("filter", {})), api)
    return ExportSpec(filter=filters, sort=sort, **values)


def _typed_filter(endpoint_name: str, filters: dict[str, Any], api: str) -> dict[str, Any]:
    """v1: keys written as digit strings (as in Operate's docs) travel as exact ints.

    v2 (and auto, until the probe has chosen) keep the values as written: v2 sends keys as
    strings anyway (``v2_filters.to_wire_filter``) and values may be operator objects.
    """
    if api != "v1":
        return filters
    endpoint = REGISTRY["v1"][endpoint_name]
    typed: dict[str, Any] = {}
    for key, value in filters.items():
        field_def = endpoint.field(endpoint.filter_aliases.get(key, key))
        is_key = field_def is not None and field_def.kind is Kind.KEY
        typed[key] = parse_key(value) if is_key else value
    return typed


def _document_of(spec: JobSpec, api: str) -> dict[str, Any]:
    """The registry-relevant part of a typed spec as a document, for ``api_problems``."""
    exports = []
    for e in spec.exports:
        exports.append(
            {
                "endpoint": e.endpoint,
                "name": e.name,
                "filter": dict(e.filter),
                "sort": [s.to_api() for s in e.sort],
                "page_size": e.page_size,
                "include_xml": e.include_xml,
                "include_evaluation_details": e.include_evaluation_details,
            }
        )
    source = {
        "api": api,
        "server_version": spec.source.server_version,
        "auth": {"mode": spec.source.auth.mode},
    }
    return {"source": source, "exports": exports}


def fitting_apis(spec: JobSpec) -> tuple[str, ...]:
    """The APIs this spec can run against as written, v2 first (for ``source.api: auto``).

    A spec written with v1 field names, v1-only filters or cookie auth fits only v1; one naming
    ``user-tasks`` or a v2 range filter fits only v2; a spec with neither fits both.
    """
    fits = []
    for api in ("v2", "v1"):
        document = _document_of(spec, api)
        if not api_problems(document, api) and not auth_api_problems(document, api):
            fits.append(api)
    return tuple(fits)


def resolve_api(spec: JobSpec, api: str) -> JobSpec:
    """``spec`` bound to the API a run uses: validated for it, filters typed for it.

    ``auto`` specs are validated as "fits v1 or v2"; once the probe has chosen, a spec that only
    fits the other API (a v2 range filter on a v1-only server, ``user-tasks`` on v1) is refused
    here with every problem, before any export starts (exit 2).
    """
    if api not in ("v1", "v2"):
        raise ValueError(f"api must be v1 or v2, got {api!r}")
    if spec.source.api == api:
        return spec
    document = _document_of(spec, api)
    problems = api_problems(document, api) + auth_api_problems(document, api)
    if problems:
        note = f"the server was probed as API {api} (source.api: auto); "
        located = [SpecProblem(p.path, note + p.message) for p in problems]
        raise SpecError(located, spec.origin)
    exports = tuple(
        replace(e, filter=_typed_filter(e.endpoint, dict(e.filter), api)) for e in spec.exports
    )
    return replace(spec, source=replace(spec.source, api=api), exports=exports)
