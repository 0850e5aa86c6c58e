"""What the dialects' hydration lookups share: the client they use, the shape of a lookup, the
item path and the identifier check. The pipeline's ``Hydrator`` runs the lookups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

from exporter.api.types import Endpoint
from exporter.errors import ProtocolError
from exporter.spec import ExportSpec

Item = dict[str, Any]
Patch = dict[str, Any]


class HydrationClient(Protocol):
    def get_json(self, path: str, *, stats: Any = None) -> Any: ...

    def get_text(self, path: str, *, stats: Any = None) -> str: ...


Lookup = Callable[[Any], Patch]  # (stats) -> fields to set on the item


def item_path(endpoint: Endpoint, ident: Any, suffix: str = "") -> str:
    # Decision-instance ids are strings like "2251799813686100-1": quote them for the path.
    return f"{endpoint.path}/{quote(str(ident), safe='')}{suffix}"


def ident(endpoint: Endpoint, export: ExportSpec, item: Item, field: str) -> Any:
    value = item.get(field)
    if value is None or isinstance(value, bool | float | dict | list):
        raise ProtocolError(f"{export.name}: a search item has no usable {field!r} to look up")
    return value


def full_value(client: HydrationClient, export: ExportSpec, path: str, flag: str) -> Lookup:
    """GET by key gives the whole ``value`` the search truncated; ``flag`` becomes false."""

    def fetch(stats: Any) -> Patch:
        full = client.get_json(path, stats=stats)
        if not isinstance(full, dict) or not isinstance(full.get("value"), str):
            raise ProtocolError(f"{export.name}: GET {path} returned no string 'value'")
        return {"value": full["value"], flag: False}

    return fetch


def details(
    client: HydrationClient, export: ExportSpec, path: str, fields: tuple[str, ...]
) -> Lookup:
    """GET by key gives the ``fields`` the search leaves out (decision evaluation details)."""

    def fetch(stats: Any) -> Patch:
        full = client.get_json(path, stats=stats)
        if not isinstance(full, dict):
            raise ProtocolError(f"{export.name}: GET {path} returned no object")
        # An evaluation without inputs/outputs is an empty list, not a missing field.
        return {name: full.get(name) or [] for name in fields}

    return fetch


def xml(client: HydrationClient, path: str, field: str, *, empty_is_none: bool) -> Lookup:
    """GET ``.../xml`` gives the definition's XML (``empty_is_none``: 204 means none)."""

    def fetch(stats: Any) -> Patch:
        text = client.get_text(path, stats=stats)
        return {field: (text or None) if empty_is_none else text}

    return fetch
