"""Completes what Operate's search results leave out, one page at a time.

* variables with ``truncated: true``: the full ``value`` from ``GET /v1/variables/{key}``
  (``ExportSpec.hydrate``, on by default); ``truncated`` becomes ``false``;
* decision instances: ``evaluatedInputs`` / ``evaluatedOutputs`` from
  ``GET /v1/decision-instances/{id}`` (``include_evaluation_details``);
* process definitions / decision requirements: ``bpmnXml`` / ``dmnXml`` from
  ``GET {path}/{key}/xml`` (``include_xml``).

The lookups of a page run concurrently on the run's shared, bounded executor and go through the
same ``ApiClient`` as the searches (same retry, auth and 401 handling). Page order is kept: every
item is patched in place at its position.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Protocol
from urllib.parse import quote

from exporter.endpoints import Endpoint
from exporter.endpoints_v2 import V2Endpoint
from exporter.errors import ProtocolError
from exporter.interrupt import StopFlag
from exporter.spec import ExportSpec

Item = dict[str, Any]
Patch = dict[str, Any]


class HydrationClient(Protocol):
    def get_json(self, path: str, *, stats: Any = None) -> Any: ...

    def get_text(self, path: str, *, stats: Any = None) -> str: ...


Lookup = Callable[[Any], Patch]  # (stats) -> fields to set on the item

XML_FIELDS = {"process-definitions": "bpmnXml", "decision-requirements": "dmnXml"}
EVALUATION_FIELDS = ("evaluatedInputs", "evaluatedOutputs")


def needs_hydration(endpoint: Endpoint, export: ExportSpec) -> bool:
    """Whether this export makes any per-item requests at all."""
    if isinstance(endpoint, V2Endpoint):
        if endpoint.truncated_flag:
            return export.hydrate
        if endpoint.detail_fields:
            return export.include_evaluation_details
        return endpoint.has_xml and export.include_xml
    if endpoint.name == "variables":
        return export.hydrate
    if endpoint.name == "decision-instances":
        return export.include_evaluation_details
    if endpoint.name in XML_FIELDS:
        return export.include_xml
    return False


def _item_path(endpoint: Endpoint, ident: Any, suffix: str = "") -> str:
    # Decision-instance ids are strings like "2251799813686100-1": quote them for the path.
    return f"{endpoint.path}/{quote(str(ident), safe='')}{suffix}"


def _ident(endpoint: Endpoint, export: ExportSpec, item: Item, field: str) -> Any:
    value = item.get(field)
    if value is None or isinstance(value, bool | float | dict | list):
        raise ProtocolError(f"{export.name}: a search item has no usable {field!r} to look up")
    return value


class Hydrator:
    """Per-export hydration plan; ``hydrate_page`` patches a page's items in place."""

    def __init__(
        self,
        client: HydrationClient,
        endpoint: Endpoint,
        export: ExportSpec,
        executor: Executor | None,
        *,
        stop: StopFlag | None = None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.export = export
        self.executor = executor
        self.enabled = needs_hydration(endpoint, export)
        self.stop = stop or StopFlag()

    def _lookup_for(self, item: Item) -> Lookup | None:
        endpoint, export, client = self.endpoint, self.export, self.client
        if isinstance(endpoint, V2Endpoint):
            return _v2_lookup(client, endpoint, export, item)
        if endpoint.name == "variables":
            if item.get("truncated") is not True:
                return None
            path = _item_path(endpoint, _ident(endpoint, export, item, "key"))

            def full_variable(stats: Any) -> Patch:
                full = client.get_json(path, stats=stats)
                if not isinstance(full, dict) or not isinstance(full.get("value"), str):
                    raise ProtocolError(f"{export.name}: GET {path} returned no string 'value'")
                return {"value": full["value"], "truncated": False}

            return full_variable
        if endpoint.name == "decision-instances":
            path = _item_path(endpoint, _ident(endpoint, export, item, "id"))

            def evaluation(stats: Any) -> Patch:
                full = client.get_json(path, stats=stats)
                if not isinstance(full, dict):
                    raise ProtocolError(f"{export.name}: GET {path} returned no object")
                # An evaluation without inputs/outputs is an empty list, not a missing field.
                return {name: full.get(name) or [] for name in EVALUATION_FIELDS}

            return evaluation
        if endpoint.name in XML_FIELDS:
            field = XML_FIELDS[endpoint.name]
            path = _item_path(endpoint, _ident(endpoint, export, item, "key"), "/xml")

            def xml(stats: Any) -> Patch:
                return {field: client.get_text(path, stats=stats)}

            return xml
        return None

    def hydrate_page(self, items: list[Item], stats: Any = None) -> list[Item]:
        """Patch ``items`` in place (order kept); lookups count into ``stats`` (thread-safe)."""
        self.hydrate(items, stats)
        return items

    def hydrate(self, items: list[Item], stats: Any = None) -> bool:
        """``hydrate_page`` that says whether any item was patched (the page then differs from
        the raw search response, so the sink must not convert the raw bytes)."""
        if not self.enabled or not items:
            return False
        jobs = [(i, lookup) for i, item in enumerate(items) if (lookup := self._lookup_for(item))]
        if not jobs:
            return False
        if self.executor is None or len(jobs) == 1:
            patches = [self._run(lookup, stats) for _, lookup in jobs]
        else:
            futures = [self.executor.submit(self._run, lookup, stats) for _, lookup in jobs]
            try:
                patches = [f.result() for f in futures]
            finally:
                # On the first failure, don't leave the rest of the page queued on the pool.
                for f in futures:
                    f.cancel()
        for (index, _), patch in zip(jobs, patches, strict=True):
            items[index].update(patch)
        return True

    def _run(self, lookup: Lookup, stats: Any) -> Patch:
        # After a stop signal the lookups still queued on the pool end at once instead of each
        # sending its request: the page is abandoned anyway.
        self.stop.check()
        return lookup(stats)


def _v2_lookup(
    client: HydrationClient, endpoint: V2Endpoint, export: ExportSpec, item: Item
) -> Lookup | None:
    """v2, driven by the registry: truncated flag + GET by key, detail fields, XML."""
    key_field = endpoint.unique_key
    flag = endpoint.truncated_flag
    if flag is not None:
        if item.get(flag) is not True:
            return None
        path = _item_path(endpoint, _ident(endpoint, export, item, key_field))

        def full_value(stats: Any) -> Patch:
            full = client.get_json(path, stats=stats)
            if not isinstance(full, dict) or not isinstance(full.get("value"), str):
                raise ProtocolError(f"{export.name}: GET {path} returned no string 'value'")
            return {"value": full["value"], flag: False}

        return full_value
    if endpoint.detail_fields:
        path = _item_path(endpoint, _ident(endpoint, export, item, key_field))
        fields = endpoint.detail_fields

        def details(stats: Any) -> Patch:
            full = client.get_json(path, stats=stats)
            if not isinstance(full, dict):
                raise ProtocolError(f"{export.name}: GET {path} returned no object")
            return {name: full.get(name) or [] for name in fields}

        return details
    if endpoint.has_xml and endpoint.xml_field:
        xml_field = endpoint.xml_field
        path = _item_path(endpoint, _ident(endpoint, export, item, key_field), "/xml")

        def xml(stats: Any) -> Patch:
            text = client.get_text(path, stats=stats)
            # 204 No Content: the definition has no XML (null, not an empty document).
            return {xml_field: text or None}

        return xml
    return None
