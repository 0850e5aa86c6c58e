"""v1 hydration: what Operate's v1 search results leave out, per endpoint name.

* variables with ``truncated: true``: the full ``value`` from ``GET /v1/variables/{key}``
  (``ExportSpec.hydrate``, on by default); ``truncated`` becomes ``false``;
* decision instances: ``evaluatedInputs`` / ``evaluatedOutputs`` from
  ``GET /v1/decision-instances/{id}`` (``include_evaluation_details``);
* process definitions / decision requirements: ``bpmnXml`` / ``dmnXml`` from
  ``GET {path}/{key}/xml`` (``include_xml``).
"""

from __future__ import annotations

from exporter.api import hydration
from exporter.api.hydration import HydrationClient, Item, Lookup, ident, item_path
from exporter.api.types import Endpoint
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
        return hydration.full_value(client, export, path, "truncated")
    if endpoint.name == "decision-instances":
        path = item_path(endpoint, ident(endpoint, export, item, "id"))
        return hydration.details(client, export, path, EVALUATION_FIELDS)
    if endpoint.name in XML_FIELDS:
        path = item_path(endpoint, ident(endpoint, export, item, "key"), "/xml")
        return hydration.xml(client, path, XML_FIELDS[endpoint.name], empty_is_none=False)
    return None
