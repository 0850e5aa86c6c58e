"""Registry tables as data: ``api/<version>/endpoints.toml`` becomes the dialect's endpoints.

A table lists one ``[[endpoint]]`` per export with its attributes and its ``fields`` (and, for
v2, ``filter_only``) as inline tables. ``kind`` is a ``Kind`` or ``ShapeKind`` value;
``enum``, ``operators`` and ``operators_8_9`` name a constant of the registry module (value
lists and operator sets stay Python, where other code uses them too). The attributes are the
dataclass fields of the registry's ``Endpoint`` and ``Field`` types: an unknown one, or an
unknown name, stops the import with the table and the endpoint named. The table's
``[dialect]`` holds what else differs between the APIs as data (``dialect_data``).
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from exporter.api import types
from exporter.api.types import Endpoint, Field, Kind, ShapeKind

TABLE = "endpoints.toml"
_NAMED = ("enum", "operators", "operators_8_9")


def named_constants(*namespaces: Mapping[str, Any]) -> dict[str, Any]:
    """The UPPER_CASE value lists and operator sets of the given module namespaces."""
    return {
        name: value
        for namespace in namespaces
        for name, value in namespace.items()
        if name.isupper() and isinstance(value, tuple | frozenset)
    }


def load_endpoints(
    module: str,
    api: str,
    endpoint_type: type[Endpoint],
    field_type: type[Field],
    namespace: Mapping[str, Any],
) -> dict[str, Any]:
    """The endpoints of the table beside ``module`` (a registry module's ``__name__``), by
    export name, in table order; ``enum`` and ``operators`` options name UPPER_CASE constants
    of ``namespace`` (the module's globals) or of ``api/types.py``."""
    names = named_constants(vars(types), namespace)
    where, table = _table(module.rpartition(".")[0])
    endpoints: dict[str, Any] = {}
    for entry in table["endpoint"]:
        context = f"{where}: endpoint {entry.get('name')!r}"
        values: dict[str, Any] = {
            key: tuple(v) if isinstance(v, list) else v for key, v in entry.items()
        }
        for group in ("fields", "filter_only"):
            if group in values:
                values[group] = tuple(
                    _field(item, field_type, names, context) for item in entry[group]
                )
        try:
            endpoint = endpoint_type(api=api, **values)
        except TypeError as exc:
            raise ValueError(f"{context}: {exc}") from None
        endpoints[endpoint.name] = endpoint
    return endpoints


def dialect_data(module: str) -> tuple[str, dict[str, Any]]:
    """The ``[dialect]`` table beside ``module`` (a dialect module's ``__name__``), arrays as
    tuples, with the name of the table for messages."""
    where, table = _table(module.rpartition(".")[0])
    data = table.get("dialect")
    if not isinstance(data, dict):
        raise ValueError(f"{where}: no [dialect] table")
    return f"{where} [dialect]", _tuples(data)


def _tuples(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _tuples(item) for key, item in value.items()}
    return tuple(value) if isinstance(value, list) else value


@functools.cache
def _table(package: str) -> tuple[str, dict[str, Any]]:
    """The package's table, parsed once (the registry and the dialect both read it)."""
    where = f"{package.replace('.', '/')}/{TABLE}"
    text = resources.files(package).joinpath(TABLE).read_text(encoding="utf-8")
    return where, tomllib.loads(text)


def lookup_endpoint(endpoints: Mapping[str, Any], name: str, api: str) -> Any:
    """``endpoints[name]``; an unknown name is answered with the valid ones."""
    try:
        return endpoints[name]
    except KeyError:
        valid = ", ".join(endpoints)
        message = f"unknown endpoint {name!r} for API {api}; valid endpoints are: {valid}"
        raise KeyError(message) from None


def _field(
    entry: Mapping[str, Any], field_type: type[Field], names: Mapping[str, Any], context: str
) -> Field:
    values = dict(entry)
    values["kind"] = _kind(values.get("kind"), context)
    for key in _NAMED:
        if key in values:
            try:
                values[key] = names[values[key]]
            except KeyError:
                raise ValueError(
                    f"{context}: field {entry.get('name')!r}: {key} names no constant "
                    f"{values[key]!r}"
                ) from None
    try:
        return field_type(**values)
    except TypeError as exc:
        raise ValueError(f"{context}: field {entry.get('name')!r}: {exc}") from None


def _kind(value: Any, context: str) -> Kind | ShapeKind:
    for kinds in (Kind, ShapeKind):
        try:
            return kinds(value)
        except ValueError:
            continue
    raise ValueError(f"{context}: unknown field kind {value!r}")
