"""v1 hydration: what Operate's v1 search results leave out, per endpoint name.

* variables with ``truncated: true``: the full ``value`` from ``GET /v1/variables/{key}``
  (``ExportSpec.hydrate``, on by default); ``truncated`` becomes ``false``;
* decision instances: ``evaluatedInputs`` / ``evaluatedOutputs`` from
  ``GET /v1/decision-instances/{id}`` (``include_evaluation_details``);
* process definitions / decision requirements: ``bpmnXml`` / ``dmnXml`` from
  ``GET {path}/{key}/xml`` (``include_xml``).
"""

from __future__ import annotations

from typing import Any

from exporter.api.hydration import HydrationClient, Item, Lookup, Patch, ident, item_path
from exporter.api.types import Endpoint
from exporter.errors import ProtocolError
from exporter.spec import ExportSpec

XML_FIELDS = {"process-definitions": "bpmnXml", "decision-requirements": "dmnXml"}
EVALUATION_FIELDS = ("evaluatedInputs", "evaluatedOutputs")


def needs_hydration(endpoint: Endpoint, export: ExportSpec) -> bool:
    """Whether this export makes any per-item requests at all."""
    if endpoint.name == "variables":
        return export.hydrate
    if endpoint.name == "decision-instances":
        return export.include_evaluation_details
    if endpoint.name in XML_FIELDS:
        return export.include_xml
    return False


def lookup(
    client: HydrationClient, endpoint: Endpoint, export: ExportSpec, item: Item
) -> Lookup | None:
    """The request that completes one v1 item, if it needs one."""
    if endpoint.name == "variables":
        if item.get("truncated") is not True:
            return None
        path = item_path(endpoint, ident(endpoint, export, item, "key"))

        def full_variable(stats: Any) -> Patch:
            full = client.get_json(path, stats=stats)
            if not isinstance(full, dict) or not isinstance(full.get("value"), str):
                raise ProtocolError(f"{export.name}: GET {path} returned no string 'value'")
            return {"value": full["value"], "truncated": False}

        return full_variable
    if endpoint.name == "decision-instances":
        path = item_path(endpoint, ident(endpoint, export, item, "id"))

        def evaluation(stats: Any) -> Patch:
            full = client.get_json(path, stats=stats)
            if not isinstance(full, dict):
                raise ProtocolError(f"{export.name}: GET {path} returned no object")
            # An evaluation without inputs/outputs is an empty list, not a missing field.
            return {name: full.get(name) or [] for name in EVALUATION_FIELDS}

        return evaluation
    if endpoint.name in XML_FIELDS:
        field = XML_FIELDS[endpoint.name]
        path = item_path(endpoint, ident(endpoint, export, item, "key"), "/xml")

        def xml(stats: Any) -> Patch:
            return {field: client.get_text(path, stats=stats)}

        return xml
    return None
