"""``${VAR}`` / ``${VAR:-default}`` substitution in the string values of a parsed spec.

Substitution runs on parsed YAML (never on the raw text), so a value can't inject YAML structure
and every problem can be located by its spec path. ``$$`` is a literal ``$``; a ``$`` that starts
no reference is kept as it is. Messages name variables, never their values: a substituted value
may be a secret.

A value that is exactly one reference (``concurrency: ${N}``) where the schema wants a number,
an integer or a boolean is converted to it after substitution: the environment only holds text.
Partial references (``a${N}``) and string-typed keys are never converted. For the same reason
a whole float at an integer key (``page_size: 500.0``, which JSON Schema counts as an integer)
becomes an int: downstream code uses these values as counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.errors import SpecProblem

# One alternation so that "$$" is consumed before it could start a "${".
_REFERENCE = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|(?P<bad>\{[^}]*\}?))"
)

# A whole value that is one reference and nothing else: the only kind that is type-converted.
_WHOLE_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<default>:-[^}]*)?\}")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOLEANS = {"true": True, "false": False}
_CONVERTIBLE = ("boolean", "integer", "number")

SYNTAX_HINT = "use ${NAME} or ${NAME:-default} ($$ for a literal $)"


def join_path(parent: str, key: str | int) -> str:
    """``exports`` + 1 -> ``exports[1]``; ``exports[1]`` + ``filter`` -> ``exports[1].filter``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


@dataclass(frozen=True)
class Placeholder:
    """An unset ``${VAR}`` (no default) met by an offline check: not an error, just unknown."""

    path: str
    name: str


def substitute_string(
    text: str,
    env: Mapping[str, str],
    path: str,
    problems: list[SpecProblem],
    placeholders: list[Placeholder] | None = None,
) -> str:
    """Substitute the references in one string, appending a problem per unusable reference
    (an unset variable is recorded in ``placeholders`` instead, when that list is given)."""

    def replace(match: re.Match[str]) -> str:
        if match.group("dollar"):
            return "$"
        if match.group("bad") is not None:
            problems.append(
                SpecProblem(path, f"malformed variable reference {match.group(0)!r}; {SYNTAX_HINT}")
            )
            return match.group(0)
        name = match.group("name")
        default = match.group("default")
        value = env.get(name)
        # Like the shell's ${VAR:-default}: an empty variable also takes the default.
        if default is not None and not value:
            return default
        if value is None and placeholders is not None:
            placeholders.append(Placeholder(path, name))
            return ""
        if value is None:
            problems.append(
                SpecProblem(
                    path,
                    f"environment variable {name} is not set and has no default "
                    f"(set it, or write ${{{name}:-default}})",
                )
            )
            return ""
        return value

    if "$" not in text:
        return text
    return _REFERENCE.sub(replace, text)


def substitute(
    document: Any,
    env: Mapping[str, str],
    path: str = "",
    schema: Mapping[str, Any] | None = None,
    placeholders: list[Placeholder] | None = None,
) -> tuple[Any, list[SpecProblem]]:
    """Return a copy of ``document`` with every string value substituted, and the problems.

    With ``schema`` (the JSON Schema of ``document``), whole references at keys typed number,
    integer or boolean are converted to that type. With ``placeholders`` (``validate
    --offline``), unset variables are recorded there instead of being problems.
    """
    problems: list[SpecProblem] = []
    unknown = placeholders if placeholders is not None else []

    def walk(node: Any, where: str, sub: Mapping[str, Any]) -> Any:
        if isinstance(node, str):
            found, held = len(problems), len(unknown)
            text = substitute_string(node, env, where, problems, placeholders)
            wanted = convertible_types(sub)
            whole = _WHOLE_REFERENCE.fullmatch(node) if wanted else None
            if whole is None or len(problems) > found or len(unknown) > held:
                return text
            return convert(text, wanted, _origin_of(whole, env), where, problems)
        if isinstance(node, dict):
            return {
                key: walk(value, join_path(where, key), property_schema(sub, key))
                for key, value in node.items()
            }
        if isinstance(node, float) and node.is_integer() and integer_only(sub):
            return int(node)
        if isinstance(node, list):
            items = sub.get("items")
            item_schema = items if isinstance(items, Mapping) else {}
            return [walk(item, join_path(where, i), item_schema) for i, item in enumerate(node)]
        return node

    return walk(document, path, schema or {}), problems


def property_schema(schema: Mapping[str, Any], key: Any) -> Mapping[str, Any]:
    """The subschema of property ``key`` (declared properties only; {} when unknown)."""
    properties = schema.get("properties")
    found = properties.get(key) if isinstance(properties, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def integer_only(schema: Mapping[str, Any]) -> bool:
    """The schema wants an integer and no other number (so 500.0 means 500)."""
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or ())
    return "integer" in types and "number" not in types


def convertible_types(schema: Mapping[str, Any]) -> tuple[str, ...]:
    """The number/integer/boolean types a string here may become; () where text is welcome."""
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or ())
    if "string" in types:
        return ()
    return tuple(t for t in _CONVERTIBLE if t in types)


def _origin_of(reference: re.Match[str], env: Mapping[str, str]) -> str:
    """Where a whole reference's text came from, for messages: the variable or the default."""
    name = reference.group("name")
    if reference.group("default") is not None and not env.get(name):
        return f"the default of {reference.group(0)}"
    return f"environment variable {name}"


def convert(
    text: str, wanted: tuple[str, ...], origin: str, path: str, problems: list[SpecProblem]
) -> Any:
    """``text`` (what a whole reference gave) as the first of ``wanted`` it parses as.

    The message names the reference, never the value (values may come from secret stores).
    """
    if "boolean" in wanted and text.strip().lower() in _BOOLEANS:
        return _BOOLEANS[text.strip().lower()]
    if ("integer" in wanted or "number" in wanted) and _INTEGER.fullmatch(text.strip()):
        return int(text.strip())
    if "number" in wanted and _DECIMAL.fullmatch(text.strip()):
        number = float(text.strip())
        if math.isfinite(number):
            return number
    names = {"boolean": "true or false", "integer": "an integer", "number": "a number"}
    expected = " or ".join(names[t] for t in wanted)
    problems.append(
        SpecProblem(
            path,
            f"{origin} must be {expected} here, e.g. {_EXAMPLES[wanted[0]]} "
            "(its value is not shown)",
        )
    )
    return text


_EXAMPLES = {"boolean": "true", "integer": "4", "number": "30 or 0.5"}
