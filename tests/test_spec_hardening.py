"""Issue 11, spec side: hostile or careless specs are refused clearly, in bounded time and memory.

Size and alias limits (a 600-byte alias bomb, a 58 MB file, /dev/zero, deep nesting), numbers the
schema's bounds let through (NaN, infinities, 2^70), the trailing-newline regex hole, merge keys,
URLs with credentials/query/fragment, ${VAR} conversion to numbers and booleans, `validate -`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporter.api.validation import load_spec, parse_spec_text, validate_document
from exporter.errors import SpecError
from exporter.spec import load_schema
from exporter.spec.checks import schema_problems
from exporter.spec.reader import SPEC_MAX_BYTES, YAML_MAX_DEPTH, YAML_MAX_NODES

CLI = [sys.executable, "-m", "exporter"]
HEAD = 'version: 1\nsource: {base_url: "http://127.0.0.1:8080", auth: {mode: none}}\n'
ONE_EXPORT = "exports: [{endpoint: incidents}]\n"
MAX_RSS_MB = 300
MAX_SECONDS = 20


def billion_laughs(levels: int = 9) -> str:
    """The classic alias bomb: 9 levels of 9 aliases each = 9^9 (387 million) leaves, ~600 bytes."""
    lines = [HEAD.rstrip("\n"), 'x-a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"x-a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    lines.append(ONE_EXPORT.rstrip("\n"))
    return "\n".join(lines) + "\n"


@dataclass
class Measured:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float


# Runs the command as the only child of a fresh, small interpreter and writes that child's peak
# RSS to a file: ru_maxrss of a child forked straight from pytest would count pytest's own pages.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[2:], timeout=120).returncode\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "open(sys.argv[1], 'w').write(str(peak))\n"
    "sys.exit(code)\n"
)


def run_measured(args: list[str], tmp_path: Path, stdin: bytes = b"") -> Measured:
    """Run the CLI in a child process and measure its wall time and its own peak RSS."""
    peak = tmp_path / "peak_kib"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(peak), *args],
        input=stdin,
        capture_output=True,
        timeout=150,
        check=False,
    )
    return Measured(
        code=done.returncode,
        stdout=done.stdout.decode(),
        stderr=done.stderr.decode(),
        seconds=time.monotonic() - started,
        peak_mb=int(peak.read_text()) / 1024,  # KiB on Linux
    )


def problems_of(text: str, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        parse_spec_text(text, "t.yaml", env or {})
    return [(p.path, p.message) for p in info.value.problems]


# --------------------------------------------------------------------------- size and aliases


def test_billion_laughs_is_refused_fast_and_small_by_validate(tmp_path: Path) -> None:
    bomb = billion_laughs()
    assert len(bomb) < 700
    spec = tmp_path / "bomb.yaml"
    spec.write_text(bomb)
    run = run_measured([*CLI, "validate", str(spec)], tmp_path)
    assert run.code == 2, run.stderr
    assert f"more than {YAML_MAX_NODES} values" in run.stderr
    assert "alias" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.peak_mb < MAX_RSS_MB and run.seconds < MAX_SECONDS, run


def test_a_58_mb_spec_is_refused_from_its_size_without_being_read(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:  # sparse: 58 MB of holes costs nothing on disk
        f.truncate(58 * 1024 * 1024)
    run = run_measured([*CLI, "validate", str(big)], tmp_path)
    assert run.code == 2
    assert f"{58 * 1024 * 1024} bytes, more than the limit of {SPEC_MAX_BYTES} bytes" in run.stderr
    assert "it was not read" in run.stderr
    assert run.peak_mb < MAX_RSS_MB and run.seconds < MAX_SECONDS, run


def test_an_endless_file_is_read_only_up_to_the_cap(tmp_path: Path) -> None:
    # /dev/zero reports size 0 and never ends: the read itself must stop at the cap.
    run = run_measured([*CLI, "validate", "/dev/zero"], tmp_path)
    assert run.code == 2
    assert "larger than the limit of 1048576 bytes" in run.stderr
    assert "reading stopped there" in run.stderr
    assert run.peak_mb < MAX_RSS_MB and run.seconds < MAX_SECONDS, run


def test_a_spec_of_exactly_the_cap_is_still_read(tmp_path: Path) -> None:
    text = HEAD + ONE_EXPORT
    padded = text + "#" * (SPEC_MAX_BYTES - len(text) - 1) + "\n"
    path = tmp_path / "padded.yaml"
    path.write_text(padded)
    assert path.stat().st_size == SPEC_MAX_BYTES
    assert load_spec(path, env={}).exports[0].endpoint == "incidents"
    path.write_text(padded + "\n")
    with pytest.raises(SpecError, match="more than the limit"):
        load_spec(path, env={})


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "deep nesting",
            HEAD + "x-deep: " + "[" * 100_000 + "]" * 100_000 + "\n" + ONE_EXPORT,
            f"nested more than {YAML_MAX_DEPTH} levels deep",
        ),
        ("recursive alias", HEAD + "x-loop: &loop [*loop]\n" + ONE_EXPORT, "recursive alias"),
        (
            "deep through aliases",
            HEAD
            + "".join(
                f"x-{i}: &d{i} [[[[[[[[[[{f'*d{i - 1}' if i else '1'}]]]]]]]]]]\n"
                for i in range(10)
            )
            + ONE_EXPORT,
            "nested more than 64 levels deep once aliases are expanded",
        ),
        (
            "many plain values",
            HEAD + "x-list: [" + ",".join(["1"] * (YAML_MAX_NODES + 1)) + "]\n" + ONE_EXPORT,
            f"more than {YAML_MAX_NODES} values",
        ),
    ],
)
def test_yaml_beyond_the_limits_is_one_clear_problem(name: str, text: str, expected: str) -> None:
    ((path, message),) = problems_of(text)
    assert path == "" and expected in message, (name, message)


# --------------------------------------------------------------------------- merge keys


def test_merge_keys_are_allowed_and_explicit_keys_win() -> None:
    text = HEAD + (
        "x-defaults: &defaults {page_size: 500, max_records: 10, hydrate: false}\n"
        "exports:\n"
        "  - <<: *defaults\n"
        "    endpoint: incidents\n"
        "  - <<: *defaults\n"
        "    endpoint: variables\n"
        "    page_size: 200\n"
    )
    spec = parse_spec_text(text, "t.yaml", {})
    first, second = spec.exports
    assert (first.endpoint, first.page_size, first.max_records, first.hydrate) == (
        "incidents",
        500,
        10,
        False,
    )
    assert (second.endpoint, second.page_size, second.max_records) == ("variables", 200, 10)


def test_merging_an_earlier_export_needs_no_extension_key() -> None:
    text = HEAD + (
        "exports:\n"
        "  - &base {endpoint: incidents, page_size: 300}\n"
        "  - {<<: *base, name: incidents-again}\n"
    )
    spec = parse_spec_text(text, "t.yaml", {})
    assert [(e.name, e.page_size) for e in spec.exports] == [
        ("incidents", 300),
        ("incidents-again", 300),
    ]


def test_extension_keys_are_ignored_but_other_unknown_keys_are_not() -> None:
    ((path, message),) = problems_of(
        HEAD + "x-notes: {anything: '${UNSET}'}\ndefaults: 1\n" + ONE_EXPORT
    )
    assert path == "defaults"
    assert "unknown key" in message and "x-..." in message


def test_duplicate_keys_are_still_refused_next_to_a_merge_key() -> None:
    text = HEAD + "x-d: &d {page_size: 5}\nexports:\n  - <<: *d\n    endpoint: a\n    endpoint: b\n"
    ((_, message),) = problems_of(text)
    assert "duplicate key 'endpoint'" in message


# --------------------------------------------------------------------------- numbers

NUMBERS = [
    # (YAML snippet placed under its parent, path, message fragment)
    ("source.timeout_seconds", ".nan", "must be a finite number, got .nan"),
    ("source.timeout_seconds", ".inf", "must be a finite number, got .inf"),
    ("source.timeout_seconds", "3601", "greater than the maximum of 3600"),
    ("source.retry.initial_backoff_seconds", ".nan", "must be a finite number, got .nan"),
    ("source.retry.initial_backoff_seconds", "-.inf", "must be a finite number, got -.inf"),
    ("source.retry.initial_backoff_seconds", "1e308", "greater than the maximum of 3600"),
    ("source.retry.max_backoff_seconds", ".inf", "must be a finite number, got .inf"),
    ("source.retry.max_backoff_seconds", "1e9", "greater than the maximum of 3600"),
    ("source.retry.max_backoff_seconds", "1.0e308", "greater than the maximum of 3600"),
    ("source.retry.max_attempts", "101", "greater than the maximum of 100"),
    ("concurrency", "1000000", "greater than the maximum of 64"),
    ("hydration_concurrency", "65", "greater than the maximum of 64"),
    ("exports[0].page_size", str(2**70), "greater than the maximum of 10000"),
    ("exports[0].max_records", str(2**70), f"greater than the maximum of {2**63 - 1}"),
    ("exports[0].max_records", ".nan", "must be a finite number"),
    ("output.row_group_size", str(2**70), "greater than the maximum of 10000000"),
    ("output.rows_per_file", str(2**70), "greater than the maximum of 1000000000"),
    ("exports[0].filter.processDefinitionKey", ".nan", "must be a finite number, got .nan"),
]


def document_with(path: str, value: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "version": 1,
        "source": {"base_url": "http://127.0.0.1:8080", "auth": {"mode": "none"}, "retry": {}},
        "exports": [{"endpoint": "process-instances", "filter": {}}],
        "output": {},
    }
    node: Any = document
    parts = path.replace("[0]", ".0").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    node[parts[-1]] = value
    return document


@pytest.mark.parametrize(("path", "snippet", "expected"), NUMBERS)
def test_every_number_is_finite_and_bounded(path: str, snippet: str, expected: str) -> None:
    import yaml

    from exporter.spec.reader import SpecLoader

    value = yaml.load(snippet, Loader=SpecLoader)  # as the spec's YAML reads it
    problems = validate_document(document_with(path, value), env={})
    assert [p.path for p in problems] == [path], problems
    assert expected in problems[0].message


def test_every_number_in_the_schema_has_both_bounds() -> None:
    def numbers(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
        found = []
        if isinstance(node, dict):
            types = node.get("type")
            if types in ("number", "integer") or (
                isinstance(types, list) and {"number", "integer"} & set(types)
            ):
                found.append((where, node))
            for key, sub in node.items():
                found += numbers(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for index, sub in enumerate(node):
                found += numbers(sub, f"{where}/{index}")
        return found

    found = numbers(load_schema())
    assert len(found) >= 11
    for where, node in found:
        if "const" in node:
            continue
        assert "minimum" in node or "exclusiveMinimum" in node, where
        assert "maximum" in node or "exclusiveMaximum" in node, where


# --------------------------------------------------------------------------- patterns and URLs


def test_no_schema_pattern_lets_a_trailing_newline_through() -> None:
    schema = load_schema()
    name = document_with("exports[0].name", "xx\n")
    assert any(p.path == "exports[0].name" for p in schema_problems(schema, name))
    assert not schema_problems(schema, document_with("exports[0].name", "xx"))
    # Every '$'-anchored pattern of the schema, through the same validator.
    patterns: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            for sub in node.values():
                collect(sub)
        elif isinstance(node, list):
            for sub in node:
                collect(sub)

    collect(schema)
    anchored = [p for p in patterns if p.endswith("$")]
    assert anchored
    for pattern in anchored:
        probe = {"type": "string", "pattern": pattern}
        for value in ("a", "a-1", "x.y"):
            if not schema_problems(probe, value):
                assert schema_problems(probe, value + "\n"), pattern


def test_dates_and_keys_with_a_trailing_newline_are_refused() -> None:
    filters = {"startDate": "2026-11-01T00:00:00.000+0000\n", "key": "123\n"}
    document = document_with("exports[0].filter", filters)
    document["source"]["api"] = "v1"
    problems = validate_document(document, env={})
    assert sorted(p.path for p in problems) == [
        "exports[0].filter.key",
        "exports[0].filter.startDate",
    ]


URLS = [
    (
        "source.base_url",
        "http://alice:hunter2-pw@operate.example/x",
        "must not contain credentials",
    ),
    ("source.base_url", "https://hunter2-pw@operate.example", "must not contain credentials"),
    ("source.base_url", "http://operate.example/x?tenant=a", "must not have a query"),
    ("source.base_url", "http://operate.example/x#frag", "must not have a query"),
    ("source.base_url", "http://operate.example/x?", "must not have a query"),
    ("source.base_url", "http://operate.example/x\n", "spaces or control characters"),
    ("source.base_url", "http://operate .example", "spaces or control characters"),
    ("source.auth.token_url", "https://id:hunter2-pw@login.example/token", "must not contain"),
]


@pytest.mark.parametrize(("path", "url", "expected"), URLS)
def test_urls_with_credentials_query_or_fragment_are_refused(
    path: str, url: str, expected: str
) -> None:
    document = document_with(path, url)
    if path.startswith("source.auth"):
        document["source"]["auth"] = {
            "mode": "saas",
            "client_id": "i",
            "client_secret": "s3cret-value",
            "token_url": url,
        }
    problems = validate_document(document, env={})
    assert [p.path for p in problems] == [path], problems
    assert expected in problems[0].message
    if "credentials" in expected:
        assert "source.auth" in problems[0].message
    for problem in problems:
        assert "hunter2" not in problem.message and "alice" not in problem.message


def test_a_url_password_is_scrubbed_from_every_other_message_too() -> None:
    # The schema's pattern message quotes the value: the userinfo must not survive it.
    problems = validate_document(document_with("source.base_url", "ftp://bob:hunter2-pw@h"), env={})
    assert problems
    assert all("hunter2" not in p.message for p in problems), problems


def test_a_plain_base_url_with_a_path_is_fine() -> None:
    spec = parse_spec_text(HEAD.replace("8080", "8080/operate/") + ONE_EXPORT, "t.yaml", {})
    assert spec.source.base_url == "http://127.0.0.1:8080/operate"


# --------------------------------------------------------------------------- ${VAR} conversion

CONVERSIONS = [
    ("concurrency: ${N}", {"N": "8"}, lambda s: s.concurrency, 8),
    ("concurrency: ${N:-3}", {}, lambda s: s.concurrency, 3),
    ("concurrency: ${N:-3}", {"N": " 5 "}, lambda s: s.concurrency, 5),
    (
        "source: {base_url: 'http://h', tls: {verify: '${VERIFY}'}}",
        {"VERIFY": "false"},
        lambda s: s.source.tls.verify,
        False,
    ),
    (
        "source: {base_url: 'http://h', tls: {verify: '${VERIFY}'}}",
        {"VERIFY": "TRUE"},
        lambda s: s.source.tls.verify,
        True,
    ),
    (
        "source: {base_url: 'http://h', timeout_seconds: '${T}'}",
        {"T": "2.5"},
        lambda s: s.source.timeout_seconds,
        2.5,
    ),
    (
        "source: {base_url: 'http://h', timeout_seconds: '${T}'}",
        {"T": "45"},
        lambda s: s.source.timeout_seconds,
        45.0,
    ),
    (
        "exports: [{endpoint: incidents, page_size: '${P:-250}', hydrate: '${H:-false}'}]",
        {},
        lambda s: (s.exports[0].page_size, s.exports[0].hydrate),
        (250, False),
    ),
    (
        "output: {row_group_size: '${RG}', path: 'out-${RG}'}",
        {"RG": "1000"},
        lambda s: (s.output.row_group_size, s.output.path),
        (1000, "out-1000"),
    ),
    # String-typed keys keep their text, even when it looks like a number.
    (
        "source: {base_url: 'http://h', auth: {mode: basic, username: '${U}', password: '${P}'}}",
        {"U": "123", "P": "456789"},
        lambda s: (s.source.auth.username, s.source.auth.password),
        ("123", "456789"),
    ),
]


def spec_with(line: str) -> str:
    """A minimal valid spec with ``line``'s top-level key replaced."""
    parts = {
        "version": "version: 1",
        "source": "source: {base_url: 'http://h'}",
        "exports": "exports: [{endpoint: incidents}]",
        "concurrency": "",
        "output": "",
    }
    parts[line.split(":", 1)[0]] = line
    return "\n".join(p for p in parts.values() if p) + "\n"


@pytest.mark.parametrize(("line", "env", "read", "expected"), CONVERSIONS)
def test_a_whole_reference_becomes_the_number_or_boolean_the_schema_wants(
    line: str, env: dict[str, str], read: Any, expected: Any
) -> None:
    value = read(parse_spec_text(spec_with(line), "t.yaml", env))
    assert value == expected and type(value) is type(expected)


FAILED_CONVERSIONS = [
    (
        "concurrency: ${N}",
        {"N": "eight-secret"},
        "concurrency",
        "environment variable N must be an integer",
    ),
    ("concurrency: ${N}", {"N": "8.5"}, "concurrency", "environment variable N must be an integer"),
    ("concurrency: ${N:-many}", {}, "concurrency", "the default of ${N:-many} must be an integer"),
    ("concurrency: 'a${N}'", {"N": "8"}, "concurrency", "must be integer, got string"),
    ("concurrency: '${N}${N}'", {"N": "8"}, "concurrency", "must be integer, got string"),
    (
        "source: {base_url: 'http://h', tls: {verify: '${V}'}}",
        {"V": "yes-secret"},
        "source.tls.verify",
        "environment variable V must be true or false",
    ),
    (
        "source: {base_url: 'http://h', timeout_seconds: '${T}'}",
        {"T": "nan"},
        "source.timeout_seconds",
        "environment variable T must be a number",
    ),
    (
        "source: {base_url: 'http://h', timeout_seconds: '${T}'}",
        {"T": "1e999"},
        "source.timeout_seconds",
        "environment variable T must be a number",
    ),
    (
        "source: {base_url: 'http://h', timeout_seconds: '${T}'}",
        {"T": "7200"},
        "source.timeout_seconds",
        "greater than the maximum of 3600",
    ),
    ("concurrency: ${N}", {}, "concurrency", "environment variable N is not set"),
]


@pytest.mark.parametrize(("line", "env", "path", "expected"), FAILED_CONVERSIONS)
def test_a_reference_that_does_not_convert_is_named_without_its_value(
    line: str, env: dict[str, str], path: str, expected: str
) -> None:
    ((where, message),) = problems_of(spec_with(line), env)
    assert where == path and expected in message, message
    assert "secret" not in message


# --------------------------------------------------------------------------- validate -


def test_validate_dash_reads_the_spec_from_stdin(tmp_path: Path) -> None:
    ok = subprocess.run(
        [*CLI, "validate", "-"],
        input=HEAD + ONE_EXPORT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("<stdin>: ok: 1 export (incidents); auth none")
    bad = subprocess.run(
        [*CLI, "validate", "-"],
        input=HEAD + "exports: [{endpoint: nope}]\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "<stdin>: invalid job spec" in bad.stderr and "unknown endpoint 'nope'" in bad.stderr


def test_validate_dash_refuses_a_bomb_and_a_flood_on_stdin(tmp_path: Path) -> None:
    bomb = run_measured([*CLI, "validate", "-"], tmp_path, stdin=billion_laughs().encode())
    assert bomb.code == 2 and "alias" in bomb.stderr
    assert bomb.peak_mb < MAX_RSS_MB and bomb.seconds < MAX_SECONDS, bomb
    flood = run_measured([*CLI, "validate", "-"], tmp_path, stdin=b"#" * (8 * SPEC_MAX_BYTES))
    assert flood.code == 2 and "reading stopped there" in flood.stderr
    assert flood.peak_mb < MAX_RSS_MB, flood


def test_a_whole_float_at_an_integer_key_becomes_an_int_and_a_fraction_is_refused() -> None:
    text = (
        "version: 1\nsource: {base_url: 'http://h'}\nconcurrency: 4.0\n"
        "exports: [{endpoint: incidents, page_size: 100.0, max_records: 1.0e3}]\n"
        "output: {rows_per_file: 10.0}\n"
    )
    spec = parse_spec_text(text, "t.yaml", {})
    values = (spec.concurrency, spec.exports[0].page_size, spec.exports[0].max_records)
    assert values == (4, 100, 1000) and all(type(v) is int for v in values)
    assert type(spec.output.rows_per_file) is int
    ((path, message),) = problems_of(text.replace("concurrency: 4.0", "concurrency: 2.5"))
    assert (path, message) == ("concurrency", "must be integer, got number")
