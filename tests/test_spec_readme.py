"""The README's spec reference and exit codes stay consistent with the schema and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from exporter.errors import EXIT_EXPORT_FAILED, EXIT_INVALID, EXIT_OK
from exporter.spec import load_schema

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `(?P<key>[^`]+)` \| (?P<default>[^|]+) \| (?P<meaning>.+) \|$", re.M)


def schema_keys(node: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    keys: dict[str, dict[str, Any]] = {}
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        keys[path] = sub
        child = sub.get("items", sub) if sub.get("type") == "array" else sub
        keys.update(schema_keys(child, f"{path}[]." if child is not sub else f"{path}."))
    return keys


def test_reference_lists_exactly_the_schema_keys_with_their_defaults() -> None:
    # Only the spec reference: other sections have tables with backticked first columns too.
    reference = README.split("## The job spec", 1)[1].split("\n## ", 1)[0]
    rows = {m["key"]: m for m in ROW.finditer(reference)}
    keys = schema_keys(load_schema())
    assert set(rows) == set(keys)
    for key, sub in keys.items():
        if "default" in sub:
            assert rows[key]["default"].strip() == f"`{json.dumps(sub['default'])}`", key
        if key in load_schema().get("required", []):
            assert "required" in rows[key]["default"], key


def test_readme_documents_exit_codes_and_the_two_commands() -> None:
    for code, meaning in (
        (EXIT_OK, "success"),
        (EXIT_EXPORT_FAILED, "an export failed"),
        (EXIT_INVALID, "invalid job spec or command-line usage"),
    ):
        assert f"| {code} | {meaning}" in README
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^make \w+", quick_start, re.M)
    assert commands == ["make demo", "make test"]
