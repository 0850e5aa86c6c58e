"""v2 hydration, driven by the registry: truncated flag + GET by key, detail fields, XML."""

from __future__ import annotations

from exporter.api import hydration
from exporter.api.hydration import HydrationClient, Item, Lookup, ident, item_path
from exporter.api.v2.registry import V2Endpoint
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
        return hydration.full_value(client, export, path, flag)
    if endpoint.detail_fields:
        path = item_path(endpoint, ident(endpoint, export, item, key_field))
        return hydration.details(client, export, path, endpoint.detail_fields)
    if endpoint.has_xml and endpoint.xml_field:
        path = item_path(endpoint, ident(endpoint, export, item, key_field), "/xml")
        # 204 No Content: the definition has no XML (null, not an empty document).
        return hydration.xml(client, path, endpoint.xml_field, empty_is_none=True)
    return None
