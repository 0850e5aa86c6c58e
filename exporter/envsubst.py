"""``${VAR}`` / ``${VAR:-default}`` substitution in the string values of a parsed spec.

Substitution runs on parsed YAML (never on the raw text), so a value can't inject YAML structure
and every problem can be located by its spec path. ``$$`` is a literal ``$``; a ``$`` that starts
no reference is kept as it is. Messages name variables, never their values: a substituted value
may be a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from exporter.errors import SpecProblem

# One alternation so that "$$" is consumed before it could start a "${".
_REFERENCE = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|(?P<bad>\{[^}]*\}?))"
)

SYNTAX_HINT = "use ${NAME} or ${NAME:-default} ($$ for a literal $)"


def join_path(parent: str, key: str | int) -> str:
    """``exports`` + 1 -> ``exports[1]``; ``exports[1]`` + ``filter`` -> ``exports[1].filter``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def substitute_string(
    text: str, env: Mapping[str, str], path: str, problems: list[SpecProblem]
) -> str:
    """Substitute the references in one string, appending a problem per unusable reference."""

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
    document: Any, env: Mapping[str, str], path: str = ""
) -> tuple[Any, list[SpecProblem]]:
    """Return a copy of ``document`` with every string value substituted, and the problems."""
    problems: list[SpecProblem] = []

    def walk(node: Any, where: str) -> Any:
        if isinstance(node, str):
            return substitute_string(node, env, where, problems)
        if isinstance(node, dict):
            return {key: walk(value, join_path(where, key)) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, join_path(where, index)) for index, item in enumerate(node)]
        return node

    return walk(document, path), problems
