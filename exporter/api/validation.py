"""Spec checks that need an API's registry, and the full spec load built on them.

``exporter.spec`` loads and checks what needs no registry (YAML, ``${ENV}``, the JSON Schema,
URLs, secrets) and takes the rest as ``SpecRules``: ``RULES`` here (endpoint names, filter and
sort fields per endpoint and API, enum/key/date values, page size per API, default audiences).
``load_spec`` & co. below are the loader with these rules: what the CLI and the public API use.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import IO, Any

from exporter.api import REGISTRY, get_dialect
from exporter.api.types import Endpoint, Field, Kind
from exporter.errors import SpecError, SpecProblem
from exporter.spec import JobSpec, SpecRules
from exporter.spec import load as spec_load
from exporter.spec.checks import DATE_HINT, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, json_type
from exporter.spec.envsubst import join_path

_DATE = re.compile(
    r"^(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4})(?:\|\|/(?P<unit>[yMwdhms]))?$"
)
_DIGITS = re.compile(r"^-?\d+$")


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
        v1 = api_problems(document, "v1")
        if not v1:
            return []
        v2 = api_problems(document, "v2") + auth_api_problems(document, "v2")
        if not v2:
            return []
        exports = document.get("exports")
        names = [e.get("endpoint") for e in exports if isinstance(e, dict)] if exports else []
        v2_only = any(n in REGISTRY["v2"] and n not in REGISTRY["v1"] for n in names)
        return v2 if v2_only else v1
    if isinstance(api, str) and api in REGISTRY:
        return api_problems(document, api) + auth_api_problems(document, api)
    return []


def auth_api_problems(document: dict[str, Any], api: str) -> list[SpecProblem]:
    """Auth modes the API cannot take: cookie login is Operate's web-app session (v1 only)."""
    source = document.get("source")
    auth = source.get("auth") if isinstance(source, dict) else None
    mode = auth.get("mode") if isinstance(auth, dict) else None
    if api == "v2" and mode == "cookie":
        return [
            SpecProblem(
                "source.auth.mode",
                "cookie login is Operate's web-app session and works with the v1 API only; "
                "the v2 API takes basic, saas, identity or none",
            )
        ]
    return []


def api_problems(document: dict[str, Any], api: str) -> list[SpecProblem]:
    """Every registry-dependent problem of ``document`` if it were run against ``api``."""
    endpoints = REGISTRY[api]
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
        if api == "v1":
            problems.extend(_export_problems(where, export, endpoint, endpoints))
        else:
            problems.extend(_v2_export_problems(where, export, endpoint, server_version))
    return problems


def _unknown_endpoint(name: str, api: str) -> str:
    message = f"unknown endpoint {name!r}; valid endpoints are: {', '.join(REGISTRY[api])}"
    others = [other for other in REGISTRY if other != api and name in REGISTRY[other]]
    if others:
        message += f" ({name} needs api: {others[0]})"
    return message


V1_MAX_PAGE_SIZE = 1000
V2_SCHEMA_MAX_PAGE_SIZE = 10_000  # the schema's maximum reports anything above


def _v2_export_problems(
    where: str, export: dict[str, Any], endpoint: Endpoint, server_version: str
) -> Iterator[SpecProblem]:
    from exporter.api.v2.filters import validate_v2_filter, validate_v2_page_limit, validate_v2_sort
    from exporter.api.v2.registry import V2_ENDPOINTS

    v2 = V2_ENDPOINTS[endpoint.name]
    filters = export.get("filter")
    if isinstance(filters, dict):
        yield from validate_v2_filter(
            filters, v2, join_path(where, "filter"), server_version=server_version
        )
    sort = export.get("sort")
    if isinstance(sort, list) and all(isinstance(s, dict) for s in sort):
        # The schema reports bad orders; only the fields are the registry's business.
        entries = [{"field": s.get("field"), "order": "ASC"} for s in sort]
        yield from validate_v2_sort(
            entries, v2, join_path(where, "sort"), server_version=server_version
        )
    page_size = export.get("page_size")
    if type(page_size) is int and 1 <= page_size <= V2_SCHEMA_MAX_PAGE_SIZE:  # else: schema
        yield from validate_v2_page_limit(page_size, v2, join_path(where, "page_size"))
    if export.get("include_xml") is True and not v2.has_xml:
        with_xml = [e.name for e in V2_ENDPOINTS.values() if e.has_xml]
        yield SpecProblem(
            join_path(where, "include_xml"),
            f"only applies to {', '.join(with_xml)}, not {endpoint.name}",
        )
    if export.get("include_evaluation_details") is True and not v2.detail_fields:
        with_details = [e.name for e in V2_ENDPOINTS.values() if e.detail_fields]
        yield SpecProblem(
            join_path(where, "include_evaluation_details"),
            f"only applies to {', '.join(with_details)}, not {endpoint.name}",
        )


def _export_problems(
    where: str, export: dict[str, Any], endpoint: Endpoint, endpoints: Mapping[str, Endpoint]
) -> Iterator[SpecProblem]:
    filters = export.get("filter")
    if isinstance(filters, dict):
        for key, value in filters.items():
            path = join_path(join_path(where, "filter"), str(key))
            if key not in endpoint.filter_fields:
                yield SpecProblem(
                    path,
                    f"unknown filter field {key!r} for endpoint {endpoint.name}; valid fields "
                    f"are: {', '.join(endpoint.filter_fields)}",
                )
                continue
            field = endpoint.field(endpoint.filter_aliases.get(str(key), str(key)))
            if field is not None:
                message = filter_value_problem(field, value)
                if message:
                    yield SpecProblem(path, message)
    sort = export.get("sort")
    if isinstance(sort, list):
        for index, item in enumerate(sort):
            field_name = item.get("field") if isinstance(item, dict) else None
            if isinstance(field_name, str) and field_name not in endpoint.sort_fields:
                yield SpecProblem(
                    join_path(join_path(join_path(where, "sort"), index), "field"),
                    f"unknown sort field {field_name!r} for endpoint {endpoint.name}; sortable "
                    f"fields are: {', '.join(endpoint.sort_fields)}",
                )
    page_size = export.get("page_size")
    if type(page_size) is int and page_size > V1_MAX_PAGE_SIZE:
        yield SpecProblem(
            join_path(where, "page_size"),
            f"{page_size} is greater than the maximum of {V1_MAX_PAGE_SIZE} (v1's page size; "
            "v2 allows up to 10000)",
        )
    if export.get("include_xml") is True and not endpoint.has_xml:
        with_xml = [e.name for e in endpoints.values() if e.has_xml]
        yield SpecProblem(
            join_path(where, "include_xml"),
            f"only applies to {', '.join(with_xml)}, not {endpoint.name}",
        )
    if export.get("include_evaluation_details") is True and not _has_evaluations(endpoint):
        with_details = [e.name for e in endpoints.values() if _has_evaluations(e)]
        yield SpecProblem(
            join_path(where, "include_evaluation_details"),
            f"only applies to {', '.join(with_details)}, not {endpoint.name}",
        )


def _has_evaluations(endpoint: Endpoint) -> bool:
    return bool(endpoint.fields_of_kind(Kind.EVALUATED_INPUTS, Kind.EVALUATED_OUTPUTS))


def filter_value_problem(field: Field, value: Any) -> str | None:
    """What is wrong with ``value`` as a filter on ``field``, or None when it is fine."""
    if field.kind is Kind.KEY:
        key = parse_key(value)
        if key is None:
            return f"must be an integer key (64-bit), got {value!r}"
        return None
    if field.kind is Kind.INT32:
        if type(value) is not int or not INT32_MIN <= value <= INT32_MAX:
            return f"must be a 32-bit integer, got {value!r}"
        return None
    if field.kind is Kind.BOOL:
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if field.kind is Kind.ENUM:
        if value not in field.enum:
            return f"{value!r} is not one of {list(field.enum)!r}"
        return None
    if field.kind is Kind.DATE:
        return None if is_operate_date(value) else f"{value!r}: {DATE_HINT}"
    if not isinstance(value, str):
        return f"must be a string, got {json_type(value)}"
    return None


def parse_key(value: Any) -> int | None:
    """An int64 key from an int or a string of digits (as in Operate's examples), else None."""
    if type(value) is int:
        key = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        key = int(value)
    else:
        return None
    return key if INT64_MIN <= key <= INT64_MAX else None


def is_operate_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    match = _DATE.fullmatch(value)  # fullmatch: '$' would allow a trailing \n
    if not match:
        return False
    try:
        datetime.strptime(match.group("stamp"), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return False
    return True


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
        return get_dialect("v1" if api == "auto" else api).default_audience(auth_mode)


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
