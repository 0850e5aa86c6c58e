"""Turning a spec document into located problems: schema errors, then what a schema can't check.

``schema_problems`` rewrites jsonschema's errors into ``SpecProblem``s with spec paths
(``exports[1].page_size``), answers unknown keys with the valid ones and never prints the value
of a ``writeOnly`` (secret) property. What depends on an API's registry (endpoint names, filter
and sort fields, enum/key/date values, per-endpoint options) is checked by the API layer
(``exporter.api.validation``), handed to the loader as ``SpecRules``. Both are written
defensively: a document the schema rejected still gets its semantic problems, without a crash
or a duplicate report.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, ValidationError, validators

from exporter.errors import SpecProblem
from exporter.spec.envsubst import join_path

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
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
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
