"""Reading a job spec's text and parsing its YAML, in bounded time and memory.

A spec is operator input, but it may come from a generated file, a pipe or a copy-paste, so the
reader refuses what no job spec needs before it can cost memory:

* more than ``SPEC_MAX_BYTES`` of text (checked before reading, and again while reading, so a
  FIFO or ``/dev/zero`` cannot grow without bound);
* more than ``YAML_MAX_NODES`` values once aliases are expanded: PyYAML shares an aliased node,
  but everything downstream (``${VAR}`` substitution, the schema, the checks) walks the
  expanded tree, so a 600-byte "billion laughs" would cost gigabytes there;
* nesting deeper than ``YAML_MAX_DEPTH`` (PyYAML composes recursively: a few thousand ``[``
  would end in a RecursionError) and recursive aliases (``&a [*a]``), which have no expansion.

Aliases and merge keys (``<<: *defaults``) are standard YAML and stay allowed within the budget.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, Any

import yaml

from exporter.errors import SpecError, SpecProblem

SPEC_MAX_BYTES = 1024 * 1024
YAML_MAX_NODES = 100_000
YAML_MAX_DEPTH = 64
_TOP_KEYS = "version, source, exports, output"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _fail(message: str, origin: str | None) -> SpecError:
    return SpecError([SpecProblem("", message)], origin)


def _too_big(size: int | None, origin: str | None) -> SpecError:
    limit = f"the limit of {SPEC_MAX_BYTES} bytes (1 MiB) for a job spec"
    if size is not None:
        return _fail(f"the spec is {size} bytes, more than {limit}; it was not read", origin)
    return _fail(f"the spec is larger than {limit}; reading stopped there", origin)


def read_spec_file(path: Path) -> str:
    """The text of a spec file; refuses directories, unreadable, non-UTF-8 and oversized files.

    The size is checked from ``stat`` before anything is read, and the read itself stops after
    ``SPEC_MAX_BYTES + 1`` bytes (special files report no size).
    """
    origin = str(path)
    if path.is_dir():
        raise _fail("is a directory, expected a YAML job spec file", origin)
    try:
        size = path.stat().st_size
        if size > SPEC_MAX_BYTES:
            raise _too_big(size, origin)
        with path.open("rb") as stream:
            return read_spec_stream(stream, origin)
    except FileNotFoundError:
        raise _fail("file not found", origin) from None
    except OSError as exc:
        raise _fail(f"cannot read file: {exc.strerror}", origin) from None


def read_spec_stream(stream: IO[bytes], origin: str | None) -> str:
    """At most ``SPEC_MAX_BYTES`` of UTF-8 text from ``stream`` (a file or stdin)."""
    data = stream.read(SPEC_MAX_BYTES + 1)
    if len(data) > SPEC_MAX_BYTES:
        raise _too_big(None, origin)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(
            f"not UTF-8 text (byte {exc.start}); a job spec is a YAML text file", origin
        ) from None


# YAML 1.1 (PyYAML) reads 1e308 or 5e-1 as text, YAML 1.2 and JSON as numbers: a spec should
# not say "must be number, got string" for them.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


class _Budget(yaml.YAMLError):
    """A size limit of the YAML document was hit (reported as a spec problem, not a syntax one)."""


class SpecLoader(yaml.SafeLoader):
    """SafeLoader with dates kept as strings, duplicate keys refused and bounded expansion."""

    # Operate dates must reach the checks as text; YAML 1.1 would turn 2022-03-17 into a date.
    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # Composition is recursive: stop at a sane depth instead of a RecursionError.
        self._depth += 1
        try:
            if self._depth > YAML_MAX_DEPTH:
                raise _Budget(f"the YAML is nested more than {YAML_MAX_DEPTH} levels deep")
            if not self.check_event(yaml.AliasEvent):
                # Counted while composing: a flat 1 MiB list must not build 500,000 nodes first.
                self._composed += 1
                if self._composed > YAML_MAX_NODES:
                    raise _Budget(_too_many_values())
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self._refuse_duplicate_keys(node)
        # SafeConstructor.construct_mapping flattens merge keys (<<) first: explicit keys win.
        return super().construct_mapping(node, deep=deep)

    def _refuse_duplicate_keys(self, node: yaml.MappingNode) -> None:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)


SpecLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose alias-expanded tree is too big, too deep or infinite.

    Sizes and heights are memoised per node, so a shared (aliased) node is measured once: the
    walk is linear in the composed document, never in its expansion.
    """
    measured: dict[int, tuple[int, int]] = {}
    in_progress: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        known = measured.get(id(node))
        if known is not None:
            return known
        if depth > YAML_MAX_DEPTH:
            raise _Budget(_too_deep_expanded())
        if id(node) in in_progress:
            raise _Budget("a YAML alias refers to a node that contains it (recursive alias)")
        in_progress.add(id(node))
        size, height = 1, 1
        for child in _children(node):
            child_size, child_height = measure(child, depth + 1)
            size += child_size
            height = max(height, child_height + 1)
            if size > YAML_MAX_NODES:
                raise _Budget(_too_many_values())
            if height > YAML_MAX_DEPTH:
                raise _Budget(_too_deep_expanded())
        in_progress.discard(id(node))
        measured[id(node)] = (size, height)
        return size, height

    measure(root, 1)


def _too_many_values() -> str:
    return (
        f"the YAML has more than {YAML_MAX_NODES} values (keys, values and list items, "
        "counting each use of an alias in full: an alias bomb?)"
    )


def _too_deep_expanded() -> str:
    return f"the YAML is nested more than {YAML_MAX_DEPTH} levels deep once aliases are expanded"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def parse_yaml(text: str, origin: str | None) -> dict[str, Any]:
    """The spec's YAML document as a mapping; every failure is a located SpecError."""
    try:
        document = yaml.load(text, Loader=SpecLoader)  # SafeLoader subclass
    except _Budget as exc:
        raise _fail(f"{exc}; a job spec needs far less", origin) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = exc.problem or exc.context or "unreadable"
        raise _fail(f"YAML syntax error at {where}{reason}", origin) from None
    except yaml.YAMLError as exc:
        raise _fail(f"YAML syntax error: {exc}", origin) from None
    if document is None:
        raise _fail(f"the file is empty; expected a job spec mapping with keys {_TOP_KEYS}", origin)
    if not isinstance(document, dict):
        kind = "list" if isinstance(document, list) else type(document).__name__
        raise _fail(f"the document is a {kind}; expected a mapping with keys {_TOP_KEYS}", origin)
    return document
