"""The official OpenAPI specs (vendored in tests/fixtures/openapi) as openapi-core validators.

``load_spec("v1" | "8.8" | "8.9")`` -> the spec dict with every workaround of
``tests/openapi_workarounds.py`` applied; ``validator(version)`` -> an ``openapi_core.OpenAPI``
whose server is ``SERVER`` (the harness replaces the templated ``{schema}://{host}:{port}``).
The 8.9 spec is split into one file per resource with relative references
(``keys.yaml#/components/schemas/ProcessInstanceKey``) and no root index: ``bundle_8_9`` merges
their paths and components into one document and turns every reference into a local one.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from pathlib import Path
from typing import Any

import yaml

from tests.openapi_workarounds import apply_workarounds

SPEC_DIR = Path(__file__).parent / "fixtures" / "openapi"
SERVER = "http://simulator.test"
VERSIONS = ("v1", "8.8", "8.9")


def git_blob_id(path: Path) -> str:
    """``git hash-object`` of a file: proves a vendored copy is the upstream blob."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _read(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def _localise_refs(node: Any) -> None:
    """``other.yaml#/components/x`` -> ``#/components/x`` (the bundle holds every component)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and "#" in ref and not ref.startswith("#"):
            node["$ref"] = "#" + ref.split("#", 1)[1]
        for value in node.values():
            _localise_refs(value)
    elif isinstance(node, list):
        for value in node:
            _localise_refs(value)


def bundle_8_9() -> dict[str, Any]:
    """One OpenAPI document from the split 8.9 files (component names are unique across them)."""
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "Orchestration Cluster REST API (8.9, bundled)", "version": "8.9"},
        "paths": {},
        "components": {},
    }
    for path in sorted((SPEC_DIR / "v2-8.9").glob("*.yaml")):
        part = _read(path)
        for route, item in (part.get("paths") or {}).items():
            if route in doc["paths"]:
                raise ValueError(f"{path.name}: path {route} defined twice")
            doc["paths"][route] = item
        for section, items in (part.get("components") or {}).items():
            target = doc["components"].setdefault(section, {})
            for name, schema in items.items():
                if name in target:
                    raise ValueError(f"{path.name}: component {section}.{name} defined twice")
                target[name] = schema
    _localise_refs(doc)
    return doc


@functools.cache
def _raw(version: str) -> dict[str, Any]:
    if version == "v1":
        return _read(SPEC_DIR / "operate-openapi-8.5.yaml")
    if version == "8.8":
        return _read(SPEC_DIR / "v2-rest-api-8.8.yaml")
    if version == "8.9":
        return bundle_8_9()
    raise ValueError(f"unknown spec version {version!r}; one of {VERSIONS}")


def load_spec(version: str, *, workarounds: bool = True) -> dict[str, Any]:
    spec = copy.deepcopy(_raw(version))
    if workarounds:
        apply_workarounds(spec, version)
    spec["servers"] = [{"url": SERVER if version == "v1" else SERVER + "/v2"}]
    return spec


def _text(data: bytes) -> str:
    return data.decode("utf-8")


@functools.cache
def validator(version: str) -> Any:
    """openapi-core for one spec; XML bodies (``text/xml``, ``{type: string}``) read as text and
    problem details (``application/problem+json``) as JSON, which openapi-core has no
    deserializers for."""
    import orjson
    from openapi_core import Config, OpenAPI

    config = Config(
        extra_media_type_deserializers={"text/xml": _text, "application/problem+json": orjson.loads}
    )
    return OpenAPI.from_dict(load_spec(version), config=config)
