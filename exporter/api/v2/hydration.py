"""v2 hydration, driven by the registry: truncated flag + GET by key, detail fields, XML."""

from __future__ import annotations

from typing import Any

from exporter.api.hydration import HydrationClient, Item, Lookup, Patch, ident, item_path
from exporter.api.v2.registry import V2Endpoint
from exporter.errors import ProtocolError
from exporter.spec import ExportSpec


def needs_hydration(endpoint: V2Endpoint, export: ExportSpec) -> bool:
    """Whether this export makes any per-item requests at all."""
    if endpoint.truncated_flag:
        return export.hydrate
    if endpoint.detail_fields:
        return export.include_evaluation_details
    return endpoint.has_xml and export.include_xml


def lookup(
    client: HydrationClient, endpoint: V2Endpoint, export: ExportSpec, item: Item
) -> Lookup | None:
    """v2, driven by the registry: truncated flag + GET by key, detail fields, XML."""
    key_field = endpoint.unique_key
    flag = endpoint.truncated_flag
    if flag is not None:
        if item.get(flag) is not True:
            return None
        path = item_path(endpoint, ident(endpoint, export, item, key_field))

        def full_value(stats: Any) -> Patch:
            full = client.get_json(path, stats=stats)
            if not isinstance(full, dict) or not isinstance(full.get("value"), str):
                raise ProtocolError(f"{export.name}: GET {path} returned no string 'value'")
            return {"value": full["value"], flag: False}

        return full_value
    if endpoint.detail_fields:
        path = item_path(endpoint, ident(endpoint, export, item, key_field))
        fields = endpoint.detail_fields

        def details(stats: Any) -> Patch:
            full = client.get_json(path, stats=stats)
            if not isinstance(full, dict):
                raise ProtocolError(f"{export.name}: GET {path} returned no object")
            return {name: full.get(name) or [] for name in fields}

        return details
    if endpoint.has_xml and endpoint.xml_field:
        xml_field = endpoint.xml_field
        path = item_path(endpoint, ident(endpoint, export, item, key_field), "/xml")

        def xml(stats: Any) -> Patch:
            text = client.get_text(path, stats=stats)
            # 204 No Content: the definition has no XML (null, not an empty document).
            return {xml_field: text or None}

        return xml
    return None
