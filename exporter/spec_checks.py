"""Turning a spec document into located problems: schema errors, then what a schema can't check.

``schema_problems`` rewrites jsonschema's errors into ``SpecProblem``s with spec paths
(``exports[1].page_size``), answers unknown keys with the valid ones and never prints the value
of a ``writeOnly`` (secret) property. ``semantic_problems`` checks everything that depends on
the endpoint registry: endpoint names, filter and sort fields, enum/key/date values, export-name
uniqueness and the per-endpoint options. Both are written defensively: a document the schema
rejected still gets its semantic problems, without a crash or a duplicate report.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, ValidationError, validators

from exporter.endpoints import REGISTRY, Endpoint, Field, Kind
from exporter.envsubst import join_path
from exporter.errors import SpecProblem

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# Operate's API date format yyyy-MM-dd'T'HH:mm:ss.SSSZZ, optionally rounded with ||/unit.
_DATE = re.compile(
    r"^(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4})(?:\|\|/(?P<unit>[yMwdhms]))?$"
)
DATE_HINT = (
    "expected Operate's date format yyyy-MM-dd'T'HH:mm:ss.SSSZZ with optional ||/y|M|w|d|h|m|s "
    "rounding, e.g. '2022-03-17T11:50:25.729+0000' or '2022-03-17T00:00:00.000+0000||/d'"
)
_DIGITS = re.compile(r"^-?\d+$")
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def format_path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path = join_path(path, part)
    return path


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return _JSON_TYPES.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------- schema errors


@functools.cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    r"""``pattern`` with ECMA-262's ``$`` (end of input), as JSON Schema means it.

    Python's ``$`` also matches before a final newline, so ``^[a-z]+$`` would accept "xx\n"
    (a folder name with a newline). Unescaped ``$`` outside a character class becomes ``\Z``.
    """
    out: list[str] = []
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            out.append(r"\Z")
            continue
        out.append(char)
    return re.compile("".join(out))


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


SpecValidator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


def schema_problems(schema: dict[str, Any], document: Any) -> list[SpecProblem]:
    validator = SpecValidator(schema)
    problems: list[SpecProblem] = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path))):
        problems.extend(_translate(error))
    return problems


def _translate(error: ValidationError) -> Iterator[SpecProblem]:
    path = format_path(error.absolute_path)
    secret = bool(isinstance(error.schema, dict) and error.schema.get("writeOnly"))
    kind = error.validator
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(error.message)
        mode = error.instance.get("mode") if isinstance(error.instance, dict) else None
        conditional = "then" in error.relative_schema_path or "then" in error.schema_path
        why = f" for auth mode {mode!r}" if conditional and mode else ""
        yield SpecProblem(join_path(path, missing), f"is required{why}")
    elif kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        # Only the top level has patternProperties (x-...); list them as "x-..." for readers.
        valid = ", ".join(allowed + [p.lstrip("^") + "..." for p in patterns])
        for key in error.instance:
            matches = any(_ecma_regex(p).search(str(key)) for p in patterns)
            if key not in allowed and not matches:
                yield SpecProblem(
                    join_path(path, str(key)), f"unknown key; valid keys are: {valid}"
                )
    elif secret:
        # Never build the message from the value: it is a secret (even when mistyped).
        yield SpecProblem(path, _secret_message(error))
    elif kind == "type":
        expected = error.validator_value
        names = " or ".join(expected) if isinstance(expected, list) else expected
        yield SpecProblem(path, f"must be {names}, got {json_type(error.instance)}")
    else:
        yield SpecProblem(path, error.message)


def _secret_message(error: ValidationError) -> str:
    if error.validator == "type":
        return f"must be {error.validator_value}, got {json_type(error.instance)} (value hidden)"
    if error.validator == "minLength":
        return "must not be empty (value hidden)"
    return f"fails {error.validator} {error.validator_value!r} (value hidden)"


def secret_paths(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of every ``writeOnly`` property, read from the schema (masking is schema-driven)."""
    found: list[tuple[str, ...]] = []
    for name, sub in schema.get("properties", {}).items():
        if sub.get("writeOnly"):
            found.append((*prefix, name))
        found.extend(secret_paths(sub, (*prefix, name)))
    return found


def secret_values(schema: dict[str, Any], document: Any) -> list[str]:
    values: list[str] = []
    for parts in secret_paths(schema):
        node = document
        for part in parts:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None and not isinstance(node, bool) and len(str(node)) >= 3:
            values.append(str(node))
    return values


def scrub(problems: list[SpecProblem], secrets: list[str]) -> list[SpecProblem]:
    """Defence in depth: whatever built a message, a secret's text never leaves."""
    if not secrets:
        return problems
    cleaned = []
    for problem in problems:
        message = problem.message
        for value in secrets:
            message = message.replace(value, "***")
        cleaned.append(SpecProblem(problem.path, message))
    return cleaned


# --------------------------------------------------------------------------- numbers and URLs


def non_finite_problems(document: Any, path: str = "") -> list[SpecProblem]:
    """NaN and infinities anywhere: JSON Schema's bounds let NaN through (every comparison with
    NaN is false), and no key of a spec means anything with them."""
    if isinstance(document, float) and not math.isfinite(document):
        spelled = ".nan" if math.isnan(document) else ("-.inf" if document < 0 else ".inf")
        return [SpecProblem(path, f"must be a finite number, got {spelled}")]
    problems: list[SpecProblem] = []
    if isinstance(document, dict):
        for key, value in document.items():
            problems += non_finite_problems(value, join_path(path, str(key)))
    elif isinstance(document, list):
        for index, item in enumerate(document):
            problems += non_finite_problems(item, join_path(path, index))
    return problems


_URL_KEYS = (("base_url",), ("auth", "token_url"))


def _source_urls(document: Any) -> Iterator[tuple[str, str]]:
    """(spec path, value) of the URLs under ``source`` that are strings."""
    source = document.get("source") if isinstance(document, dict) else None
    for parts in _URL_KEYS:
        node: Any = source
        for part in parts:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str):
            yield format_path(("source", *parts)), node


def url_problems(document: Any) -> list[SpecProblem]:
    """What the schema's pattern cannot say about ``base_url`` and ``token_url``.

    Credentials in a URL would be dropped by the HTTP layer (and leak into logs); a query or
    fragment on ``base_url`` would sit between the host and the API path and 404. Messages never
    repeat the URL: it may hold a password.
    """
    problems: list[SpecProblem] = []
    for path, url in _source_urls(document):
        if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
            problems.append(SpecProblem(path, "must not contain spaces or control characters"))
            continue
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            problems.append(SpecProblem(path, f"is not a valid URL ({exc})"))
            continue
        if "@" in parts.netloc:
            problems.append(
                SpecProblem(
                    path,
                    "must not contain credentials (user:password@); put them in source.auth "
                    "(e.g. mode: basic with username and password from the environment)",
                )
            )
        has_query = parts.query or parts.fragment or url.endswith(("?", "#"))
        if path == "source.base_url" and has_query:
            problems.append(
                SpecProblem(
                    path,
                    "must not have a query (?...) or fragment (#...): the API paths are "
                    "appended to it",
                )
            )
    return problems


def url_secrets(document: Any) -> list[str]:
    """The user:password part of any source URL, to scrub from every message."""
    found = []
    for _, url in _source_urls(document):
        before_host = url.split("://", 1)[-1].split("/", 1)[0]
        if "@" in before_host:
            found.append(before_host.rsplit("@", 1)[0])
    return found


# --------------------------------------------------------------------------- semantic checks


def semantic_problems(document: Any) -> list[SpecProblem]:
    """Registry-dependent problems for the spec's ``source.api``.

    ``auto`` cannot know the API before the run probes the server, so a spec is accepted when it
    is valid for v1 or for v2; when it is valid for neither, the problems of the API its
    endpoints belong to are reported (v1 unless it names a v2-only export). The run validates
    again for the API the probe chose (``exporter.spec.resolve_api``).
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
    from exporter.endpoints_v2 import V2_ENDPOINTS
    from exporter.v2_filters import validate_v2_filter, validate_v2_page_limit, validate_v2_sort

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
    where: str, export: dict[str, Any], endpoint: Endpoint, endpoints: dict[str, Endpoint]
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
            field = endpoint.field(endpoint.filter_aliases.get(key, key))
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


def auth_key_problems(schema: dict[str, Any], document: Any) -> list[SpecProblem]:
    """Keys of another auth mode (``username`` under ``saas``) are mistakes, not noise.

    Which mode uses which key is the schema's ``x-modes`` annotation on each auth property.
    """
    source = document.get("source") if isinstance(document, dict) else None
    auth = source.get("auth") if isinstance(source, dict) else None
    if not isinstance(auth, dict) or not isinstance(auth.get("mode", "none"), str):
        return []
    mode = auth.get("mode", "none")
    properties = schema["properties"]["source"]["properties"]["auth"]["properties"]
    problems = []
    for key in auth:
        modes = properties.get(key, {}).get("x-modes") if isinstance(key, str) else None
        if modes is not None and mode in properties["mode"]["enum"] and mode not in modes:
            problems.append(
                SpecProblem(
                    join_path("source.auth", key),
                    f"not used by auth mode {mode!r} (only by {', '.join(modes)})",
                )
            )
    return problems
