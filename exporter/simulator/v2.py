"""The v2 view: renders the API-neutral dataset as the Orchestration Cluster API sends it.

v2 specifics live here: v2 field names (read through the registry's ``v1_name``), keys as JSON
strings, dates RFC 3339 in UTC with milliseconds (``2026-11-17T11:50:25.729Z``), process-instance
``CANCELED`` -> ``TERMINATED``, variable values cut to ``variable_threshold`` characters with
``isTruncated: true`` in search, decision instances without ``evaluatedInputs``/``matchedRules``
in search (they come from GET by key). Fields the dataset cannot derive are left out (v2
omits nulls), so the truth (``records``) and the wire always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import orjson

from exporter.endpoints import Kind
from exporter.endpoints_v2 import RENAMED_ENUM_VALUES, V2_ENDPOINTS, V2Endpoint, V2Kind
from exporter.simulator.data import Dataset, Row

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_rfc3339_ms(ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


class V2View:
    def __init__(self, dataset: Dataset, variable_threshold: int) -> None:
        self.dataset = dataset
        self.threshold = variable_threshold
        self._full: dict[str, list[dict[str, Any]]] = {}
        self._search: dict[str, list[dict[str, Any]]] = {}

    # Lookups are built on first use: a v1-only run at benchmark scale never pays for them.

    @cached_property
    def _definitions(self) -> dict[int, Row]:
        return {r["key"]: r for r in self.dataset.raw_rows("process-definitions")}

    @cached_property
    def _node_of_incident(self) -> dict[int, Row]:
        nodes = self.dataset.raw_rows("flownode-instances")
        return {r["incidentKey"]: r for r in nodes if "incidentKey" in r}

    @cached_property
    def _scopes(self) -> dict[int, dict[str, str]]:
        """Variable filters: {scope key: {name: JSON text}}."""
        scopes: dict[int, dict[str, str]] = {}
        for var in self.dataset.raw_rows("variables"):
            scopes.setdefault(var["scopeKey"], {})[var["name"]] = var["value"]
        return scopes

    @cached_property
    def _instance_vars(self) -> dict[int, dict[str, str]]:
        found: dict[int, dict[str, str]] = {}
        for var in self.dataset.raw_rows("variables"):
            found.setdefault(var["processInstanceKey"], {})[var["name"]] = var["value"]
        return found

    # -- rendering ----------------------------------------------------------------------

    def _derived(self, name: str, row: Row) -> dict[str, Any]:
        """v2 fields with no v1 counterpart, computed from the neutral row."""
        extra: dict[str, Any] = {}
        definition = self._definitions.get(row.get("processDefinitionKey"))  # type: ignore[arg-type]
        if name == "process-definitions":
            extra["resourceName"] = f"{row['bpmnProcessId']}.bpmn"
            extra["hasStartForm"] = False
        elif name == "process-instances":
            if definition is not None and "name" in definition:
                extra["processDefinitionName"] = definition["name"]
        elif name in ("flownode-instances", "incidents"):
            if definition is not None:
                extra["processDefinitionId"] = definition["bpmnProcessId"]
            node = self._node_of_incident.get(row["key"]) if name == "incidents" else None
            if node is not None:
                extra["elementInstanceKey"] = node["key"]
                extra["elementId"] = node["flowNodeId"]
        return extra

    def _render(self, name: str, row: Row, hydrated: bool) -> dict[str, Any]:
        endpoint = V2_ENDPOINTS[name]
        if name in ("user-tasks", "jobs"):
            source = {k: v for k, v in row.items() if not k.startswith("_")}
        else:
            source = self._derived(name, row)
            for f in endpoint.fields:
                v1 = getattr(f, "v1_name", None)
                if v1 is not None and v1 in row and f.name not in source:
                    source[f.name] = row[v1]
        out: dict[str, Any] = {}
        for f in endpoint.fields:
            if f.name not in source or source[f.name] is None:
                continue
            value = source[f.name]
            if f.kind is Kind.KEY:
                value = str(value)
            elif f.kind is Kind.DATE:
                value = format_rfc3339_ms(value)
            elif f.kind is Kind.ENUM:
                value = RENAMED_ENUM_VALUES.get((name, f.name), {}).get(value, value)
            elif f.kind is V2Kind.DECISION_INPUTS:
                value = [
                    {"inputId": i["id"], "inputName": i["name"], "inputValue": i["value"]}
                    for i in value
                ]
            elif f.kind is V2Kind.MATCHED_RULES:
                value = [
                    {
                        "ruleId": o["ruleId"],
                        "ruleIndex": o["ruleIndex"],
                        "evaluatedOutputs": [
                            {
                                "outputId": o["id"],
                                "outputName": o["name"],
                                "outputValue": o["value"],
                            }
                        ],
                    }
                    for o in value
                ]
            elif isinstance(value, list | dict):
                value = orjson.loads(orjson.dumps(value))  # a copy: views must not share rows
            out[f.name] = value
        if endpoint.truncated_flag:
            out[endpoint.truncated_flag] = False
            if not hydrated and len(out["value"]) > self.threshold:
                out["value"] = out["value"][: self.threshold]
                out[endpoint.truncated_flag] = True
        if not hydrated:
            for hidden in endpoint.detail_fields:
                out.pop(hidden, None)
        return out

    # -- views --------------------------------------------------------------------------

    def records(self, name: str) -> list[dict[str, Any]]:
        """The truth: fully hydrated v2 records in the unique-key order of the table."""
        if name not in self._full:
            self._full[name] = [self._render(name, r, True) for r in self.dataset.raw_rows(name)]
        return [dict(r) for r in self._full[name]]

    def search_records(self, name: str) -> list[dict[str, Any]]:
        if name not in self._search:
            self._search[name] = [self._render(name, r, False) for r in self.dataset.raw_rows(name)]
        return self._search[name]

    def full_record(self, name: str, position: int) -> dict[str, Any]:
        if name not in self._full:
            self.records(name)
        return self._full[name][position]

    def variables(self, filter_name: str, record: Mapping[str, Any]) -> Mapping[str, str]:
        """Lookup for the variable filters (``v2_filters.matches_v2_filter``)."""
        if filter_name == "localVariables":
            return self._scopes.get(int(record["elementInstanceKey"]), {})
        return self._instance_vars.get(int(record["processInstanceKey"]), {})

    def endpoint(self, name: str) -> V2Endpoint:
        return V2_ENDPOINTS[name]
