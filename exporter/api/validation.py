"""Spec checks that need an API's registry, and the full spec load built on them.

``exporter.spec`` loads and checks what needs no registry (YAML, ``${ENV}``, the JSON Schema,
URLs, secrets) and takes the rest as ``SpecRules``: ``RULES`` here (endpoint names, unique
export names, ``auto``'s fitting, default audiences), each export's own checks asked of its
dialect (``api/v1/checks.py``, ``api/v2/checks.py``: filter and sort fields, values, page sizes,
per-endpoint options; auth modes).
``load_spec`` & co. below are the loader with these rules: what the CLI and the public API use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import IO, Any

from exporter.api import APIS, AUTO_ORDER, LOAD_DEFAULT_API, REGISTRY, get_dialect
from exporter.api.dependents import parent_problems
from exporter.errors import SpecError, SpecProblem
from exporter.spec import JobSpec, SpecRules
from exporter.spec import load as spec_load
from exporter.spec.envsubst import join_path

# --------------------------------------------------------------------------- semantic checks


def semantic_problems(document: Any) -> list[SpecProblem]:
    """Registry-dependent problems for the spec's ``source.api``.

    ``auto`` cannot know the API before the run probes the server, so a spec is accepted when it
    is valid for v1 or for v2; when it is valid for neither, the problems of the API its
    endpoints belong to are reported (v1 unless it names a v2-only export). The run validates
    again for the API the probe chose (``exporter.api.validation.resolve_api``).
    """
    if not isinstance(document, dict):
        return []
    source = document.get("source")
    api = source.get("api", "auto") if isinstance(source, dict) else "auto"
    if api == "auto":
        found: dict[str, list[SpecProblem]] = {}
        for candidate in APIS:
            found[candidate] = api_problems(document, candidate)
            found[candidate] += auth_api_problems(document, candidate)
            if not found[candidate]:
                return []
        # Report the problems of the API the spec's exports belong to: one whose registry alone
        # knows a named export, else the first.
        exports = document.get("exports")
        names = [e.get("endpoint") for e in exports if isinstance(e, dict)] if exports else []
        for candidate in APIS:
            others = [REGISTRY[other] for other in APIS if other != candidate]
            if any(n in REGISTRY[candidate] and all(n not in o for o in others) for n in names):
                return found[candidate]
        return found[APIS[0]]
    if isinstance(api, str) and api in REGISTRY:
        return api_problems(document, api) + auth_api_problems(document, api)
    return []


def auth_api_problems(document: dict[str, Any], api: str) -> list[SpecProblem]:
    """Auth modes the API cannot take (the dialect's rule: cookie login is v1 only)."""
    source = document.get("source")
    auth = source.get("auth") if isinstance(source, dict) else None
    mode = auth.get("mode") if isinstance(auth, dict) else None
    return get_dialect(api).auth_problems(mode)


def api_problems(document: dict[str, Any], api: str) -> list[SpecProblem]:
    """Every registry-dependent problem of ``document`` if it were run against ``api``."""
    dialect = get_dialect(api)
    endpoints = dialect.registry
    source = document.get("source")
    server_version = source.get("server_version", "8.8") if isinstance(source, dict) else "8.8"
    if server_version not in ("8.8", "8.9"):
        server_version = "8.8"  # the schema reports it
    exports = document.get("exports")
    if not isinstance(exports, list):
        return []
    problems: list[SpecProblem] = []
    seen_names: dict[str, int] = {}
    for index, export in enumerate(exports):
        if not isinstance(export, dict):
            continue
        where = join_path("exports", index)
        name = export.get("endpoint")
        if not isinstance(name, str) or not name:
            continue
        endpoint = endpoints.get(name)
        if endpoint is None:
            problems.append(SpecProblem(join_path(where, "endpoint"), _unknown_endpoint(name, api)))
        export_name = export.get("name", name)
        if isinstance(export_name, str):
            if export_name in seen_names:
                defaulted = "" if "name" in export else " (the name defaults to the endpoint)"
                problems.append(
                    SpecProblem(
                        join_path(where, "name"),
                        f"duplicate export name {export_name!r}, already used by "
                        f"exports[{seen_names[export_name]}]{defaulted}; names must be unique",
                    )
                )
            else:
                seen_names[export_name] = index
        if endpoint is None:
            continue
        problems.extend(dialect.export_problems(where, export, endpoint, server_version))
    return problems + parent_problems(exports, dialect)


def _unknown_endpoint(name: str, api: str) -> str:
    message = f"unknown endpoint {name!r}; valid endpoints are: {', '.join(REGISTRY[api])}"
    others = [other for other in REGISTRY if other != api and name in REGISTRY[other]]
    if others:
        message += f" ({name} needs api: {others[0]})"
    return message


def _typed_filter(endpoint_name: str, filters: dict[str, Any], api: str) -> dict[str, Any]:
    """The filter values typed for the API (``auto`` keeps them as written until the probe has
    chosen)."""
    if api not in APIS:
        return filters
    return get_dialect(api).typed_filter(endpoint_name, filters)


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
                **({} if e.parent is None else {"parent": asdict(e.parent)}),
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
    for api in AUTO_ORDER:
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
    if api not in APIS:
        raise ValueError(f"api must be one of {', '.join(APIS)}, got {api!r}")
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
    bound = with_api_audience(spec, api)
    return replace(bound, source=replace(bound.source, api=api), exports=exports)


def with_api_audience(spec: JobSpec, api: str) -> JobSpec:
    """``spec`` with the token audience of ``api`` when it is an ``auto`` spec whose audience
    is the loader's default (v1's); an audience the spec names, or null, is kept.

    The loader cannot know the API of an ``auto`` spec, so it fills v1's default audience (an
    existing SaaS spec without ``api`` must keep working); the probe and the run then ask for a
    token valid for the API they talk to. An ``auto`` spec that names v1's default audience
    itself is treated as defaulted (the two cannot be told apart after loading).
    """
    auth = spec.source.auth
    if spec.source.api != "auto" or auth.audience is None:
        return spec
    loader_default = RULES.default_audience(auth.mode, "auto")
    wanted = get_dialect(api).default_audience(auth.mode)
    if auth.audience != loader_default or wanted is None or wanted == auth.audience:
        return spec
    return replace(spec, source=replace(spec.source, auth=replace(auth, audience=wanted)))


class _RegistryRules:
    """``SpecRules`` backed by the API registries and dialects."""

    def problems(self, document: Any) -> list[SpecProblem]:
        return semantic_problems(document)

    def typed_filter(self, endpoint: str, filters: dict[str, Any], api: str) -> dict[str, Any]:
        return _typed_filter(endpoint, filters, api)

    def default_audience(self, auth_mode: str, api: str) -> str | None:
        # auto keeps v1's audience: an existing SaaS spec without ``api`` must keep working.
        return get_dialect(LOAD_DEFAULT_API if api == "auto" else api).default_audience(auth_mode)


RULES: SpecRules = _RegistryRules()


def load_spec(
    source: str | os.PathLike[str] | Mapping[str, Any], env: Mapping[str, str] | None = None
) -> JobSpec:
    """Read, substitute, validate and type a job spec; raise SpecError with every problem.

    ``source`` is a spec file's path, or the spec document itself as a mapping (what the YAML
    would give: dicts, lists, strings, numbers; ``${ENV}`` references are substituted too).
    """
    if isinstance(source, Mapping):
        return spec_load.load_document(dict(source), None, env, rules=RULES)
    return spec_load.load_spec(source, env, rules=RULES)


def load_spec_stream(
    stream: IO[bytes], origin: str = "<stdin>", env: Mapping[str, str] | None = None
) -> JobSpec:
    """``load_spec`` for a byte stream (``validate -`` reads stdin), with the same size cap."""
    return spec_load.load_spec_stream(stream, origin, env, rules=RULES)


def parse_spec_text(
    text: str, origin: str | None = None, env: Mapping[str, str] | None = None
) -> JobSpec:
    return spec_load.parse_spec_text(text, origin, env, rules=RULES)


def validate_document(document: Any, env: Mapping[str, str] | None = None) -> list[SpecProblem]:
    """Every problem of an already-parsed document (env substitution included), in one list."""
    return spec_load.validate_document(document, env, rules=RULES)


def check_offline(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> spec_load.OfflineCheck:
    """``validate --offline``: every check but those of unset ``${VAR}``s (placeholders)."""
    return spec_load.check_spec_offline(path, env, rules=RULES)


def check_offline_stream(
    stream: IO[bytes], origin: str = "<stdin>", env: Mapping[str, str] | None = None
) -> spec_load.OfflineCheck:
    return spec_load.check_stream_offline(stream, origin, env, rules=RULES)
