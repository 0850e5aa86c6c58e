"""The v2 view: renders the API-neutral dataset as the Orchestration Cluster API sends it.

v2 specifics live here: v2 field names (read through the registry's ``v1_name``), keys as JSON
strings, dates RFC 3339 in UTC with milliseconds (``2026-11-17T11:50:25.729Z``), process-instance
``CANCELED`` -> ``TERMINATED``, variable values cut to ``variable_threshold`` characters with
``isTruncated: true`` in search, decision instances without ``evaluatedInputs``/``matchedRules``
in search (they come from GET by key).

The shape follows ``server_version`` (the official specs, ``rest-api-8.8.yaml`` and
``v2/8.9/*.yaml``):

* **8.8** sends only the fields 8.8 defines and leaves a null field out;
* **8.9** sends every field of its result schemas, which 8.9 all declares required, with an
  explicit ``null`` where the value is absent (``endDate`` of a running instance, ``jobKey`` of
  an incident that is not a job's, ...), and adds 8.9's fields (``rootProcessInstanceKey``,
  process definition ``state``, ``tags``, ``businessId``, ...).

Required non-null fields always carry a value: a process instance's ``processDefinitionName``
falls back to the process id (as Operate does for unnamed processes), a job that no worker has
activated has ``worker: ""``, a failed decision instance's ``result`` is ``"null"`` on 8.9
[inferred: the JSON text of no output]. The truth (``records``) and the wire always agree: both are
rendered here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import orjson

from exporter.api.types import Kind, ShapeKind
from exporter.api.v2.registry import (
    RENAMED_ENUM_VALUES,
    V2_ENDPOINTS,
    V2Endpoint,
    V2Field,
)
from exporter.simulator.data import Dataset, Row

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SERVER_VERSIONS = ("8.8", "8.9")


def format_rfc3339_ms(ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode`` (UTF-16 code units, int32 overflow): the incident error hash
    code that the process-instance filter ``incidentErrorHashCode`` matches."""
    value = 0
    for unit in text.encode("utf-16-be").hex(" ", 2).split():
        value = (31 * value + int(unit, 16)) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


class V2View:
    def __init__(self, dataset: Dataset, variable_threshold: int, server_version: str) -> None:
        if server_version not in SERVER_VERSIONS:
            raise ValueError(f"server_version must be one of {SERVER_VERSIONS}")
        self.dataset = dataset
        self.threshold = variable_threshold
        self.server_version = server_version
        self.explicit_nulls = server_version != "8.8"
        self._full: dict[str, list[dict[str, Any]]] = {}
        self._search: dict[str, list[dict[str, Any]]] = {}
        self._filterable: dict[str, list[dict[str, Any]]] = {}
        self._fields = {
            name: tuple(
                f
                for f in endpoint.fields
                if isinstance(f, V2Field) and f.exists_in(server_version) and f.kind is not Kind.XML
            )
            for name, endpoint in V2_ENDPOINTS.items()
        }

    # Lookups are built on first use: a v1-only run at benchmark scale never pays for them.

    @cached_property
    def _definitions(self) -> dict[int, Row]:
        return {r["key"]: r for r in self.dataset.raw_rows("process-definitions")}

    @cached_property
    def _instances(self) -> dict[int, Row]:
        return {r["key"]: r for r in self.dataset.raw_rows("process-instances")}

    @cached_property
    def _roots(self) -> dict[int, int]:
        """Process instance key -> key of the root of its call hierarchy (itself when root)."""
        roots: dict[int, int] = {}
        for key, row in self._instances.items():
            top = row
            while "parentKey" in top and top["parentKey"] in self._instances:
                top = self._instances[top["parentKey"]]
            roots[key] = top["key"]
        return roots

    @cached_property
    def _root_decisions(self) -> dict[int, int]:
        """Decision evaluation key -> decision definition key of its first (root) decision."""
        return {
            r["key"]: int(r["decisionDefinitionId"])
            for r in self.dataset.raw_rows("decision-instances")
            if r["id"].endswith("-1")
        }

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
        instance_key = row.get("processInstanceKey", row.get("key"))
        if name != "process-definitions" and instance_key in self._roots:
            extra["rootProcessInstanceKey"] = self._roots[instance_key]
        if name == "process-definitions":
            extra["resourceName"] = f"{row['bpmnProcessId']}.bpmn"
            extra["hasStartForm"] = False
            extra["state"] = "ACTIVE"
        elif name == "process-instances":
            if definition is not None:
                extra["processDefinitionName"] = definition.get("name", row["bpmnProcessId"])
            extra["tags"] = []
        elif name in ("flownode-instances", "incidents"):
            if definition is not None:
                extra["processDefinitionId"] = definition["bpmnProcessId"]
            if name == "incidents":
                extra["elementInstanceKey"] = row["_elementInstanceKey"]
                extra["elementId"] = row["_elementId"]
        elif name == "decision-instances":
            extra["elementInstanceKey"] = row["_elementInstanceKey"]
            # Live mode with late visibility: the evaluation's root decision may not be
            # visible yet (unknown until it is).
            extra["rootDecisionDefinitionKey"] = self._root_decisions.get(row["key"])
            if "result" not in row and self.explicit_nulls:
                extra["result"] = "null"
        return extra

    def _source(self, name: str, row: Row) -> dict[str, Any]:
        if name in ("user-tasks", "jobs"):
            source = {k: v for k, v in row.items() if not k.startswith("_")}
            source["rootProcessInstanceKey"] = self._roots.get(row["processInstanceKey"])
            if name == "user-tasks":
                source["tags"] = []
            else:
                source.setdefault("worker", "")  # not activated yet: no worker
                source["creationTime"] = row["_creationTime"]
                source["lastUpdateTime"] = row["_lastUpdateTime"]
            return source
        source = self._derived(name, row)
        for f in V2_ENDPOINTS[name].fields:
            v1 = getattr(f, "v1_name", None)
            if v1 is not None and v1 in row and f.name not in source:
                source[f.name] = row[v1]
        return source

    def _value(self, name: str, f: V2Field, value: Any) -> Any:
        if f.kind is Kind.KEY:
            return str(value)
        if f.kind is Kind.DATE:
            return format_rfc3339_ms(value)
        if f.kind is Kind.ENUM:
            return RENAMED_ENUM_VALUES.get((name, f.name), {}).get(value, value)
        if f.kind is ShapeKind.DECISION_INPUTS:
            return [
                {"inputId": i["id"], "inputName": i["name"], "inputValue": i["value"]}
                for i in value
            ]
        if f.kind is ShapeKind.MATCHED_RULES:
            return [self._matched_rule(o) for o in value]
        if isinstance(value, list | dict):
            return orjson.loads(orjson.dumps(value))  # a copy: views must not share rows
        return value

    def _matched_rule(self, output: Mapping[str, Any]) -> dict[str, Any]:
        item: dict[str, Any] = {
            "outputId": output["id"],
            "outputName": output["name"],
            "outputValue": output["value"],
        }
        if self.explicit_nulls:  # 8.9 repeats the rule on each evaluated output
            item |= {"ruleId": output["ruleId"], "ruleIndex": output["ruleIndex"]}
        return {
            "ruleId": output["ruleId"],
            "ruleIndex": output["ruleIndex"],
            "evaluatedOutputs": [item],
        }

    def _render(self, name: str, row: Row, hydrated: bool) -> dict[str, Any]:
        endpoint = V2_ENDPOINTS[name]
        source = self._source(name, row)
        out: dict[str, Any] = {}
        for f in self._fields[name]:
            value = source.get(f.name)
            if value is None:
                if self.explicit_nulls:
                    out[f.name] = None
                continue
            out[f.name] = self._value(name, f, value)
        if endpoint.truncated_flag:
            out[endpoint.truncated_flag] = False
            if not hydrated and len(out["value"]) > self.threshold:
                out["value"] = out["value"][: self.threshold]
                out[endpoint.truncated_flag] = True
        if not hydrated:
            for hidden in endpoint.detail_fields:
                out.pop(hidden, None)
        return out

    # -- live mode ----------------------------------------------------------------------

    def row_changed(self, name: str, position: int, appended: bool) -> None:
        """Live mode replaced (or appended) the row at ``position``: keep the lookups and the
        rendered lists that exist in step, record by record, instead of rendering all again."""
        row = self.dataset.raw_rows(name)[position]
        self._update_lookups(name, row)
        for cache, hydrated in ((self._full, True), (self._search, False)):
            records = cache.get(name)
            if records is not None:
                _store(records, position, appended, self._render(name, row, hydrated))
        filterable = self._filterable
        if name in ("process-instances", "flownode-instances", "incidents", "jobs"):
            # A process instance's filter attributes come from its elements, incidents, jobs.
            filterable.pop("process-instances", None)
        records = filterable.get(name)
        if records is not None:
            hidden = self._hidden_attributes(name)
            record = self._search[name][position]
            _store(records, position, appended, {**record, **hidden(row)} if hidden else record)

    def _update_lookups(self, name: str, row: Row) -> None:
        if name in ("process-definitions", "decision-definitions", "decision-requirements"):
            return
        instance_key = row["key"] if name == "process-instances" else row["processInstanceKey"]
        if name == "process-instances":
            self._instances[instance_key] = row
        # Live instances are roots; their records may become visible before the instance.
        self._roots.setdefault(instance_key, instance_key)
        if name == "variables":
            if "_scopes" in self.__dict__:
                self._scopes.setdefault(row["scopeKey"], {})[row["name"]] = row["value"]
            if "_instance_vars" in self.__dict__:
                self._instance_vars.setdefault(instance_key, {})[row["name"]] = row["value"]
        elif name == "decision-instances" and row["id"].endswith("-1"):
            self._root_decisions[row["key"]] = int(row["decisionDefinitionId"])

    def render_full(self, name: str, row: Row) -> dict[str, Any]:
        """One API-neutral row as GET by key returns it (the truth of a live snapshot)."""
        return self._render(name, row, True)

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

    def filter_records(self, name: str) -> list[dict[str, Any]]:
        """Search records plus the attributes that only filters see (``isLatestVersion``, a
        process instance's incident messages and elements, ...), position by position."""
        if name not in self._filterable:
            hidden = self._hidden_attributes(name)
            self._filterable[name] = [
                {**record, **hidden(row)} if hidden else record
                for record, row in zip(
                    self.search_records(name), self.dataset.raw_rows(name), strict=True
                )
            ]
        return self._filterable[name]

    def _hidden_attributes(self, name: str) -> Any:
        if name in ("process-definitions", "decision-definitions"):
            latest = self._latest_versions(name)
            id_field = "bpmnProcessId" if name == "process-definitions" else "decisionId"
            return lambda row: {
                "isLatestVersion": row["version"] == latest[(row[id_field], row["tenantId"])]
            }
        if name == "decision-instances":
            drd_of = {
                int(d["id"]): d["decisionRequirementsKey"]
                for d in self.dataset.raw_rows("decision-definitions")
            }
            return lambda row: {
                "decisionRequirementsKey": str(drd_of[int(row["decisionDefinitionId"])])
            }
        if name == "flownode-instances":
            # Every element of the simulated processes sits directly in the process scope.
            return lambda row: {"elementInstanceScopeKey": str(row["processInstanceKey"])}
        if name == "process-instances":
            return self._instance_attributes()
        return None

    def _latest_versions(self, name: str) -> dict[tuple[str, str], int]:
        id_field = "bpmnProcessId" if name == "process-definitions" else "decisionId"
        latest: dict[tuple[str, str], int] = {}
        for row in self.dataset.raw_rows(name):
            group = (row[id_field], row["tenantId"])
            latest[group] = max(latest.get(group, 0), row["version"])
        return latest

    def _instance_attributes(self) -> Any:
        """Process-instance filters over related records: active incidents' messages and hash
        codes, jobs that failed with retries left, and the elements (``_elements``: one
        ``{elementId, elementInstanceState, hasElementInstanceIncident}`` per element instance,
        matched together, as Camunda matches them on one element instance)."""
        messages: dict[int, list[str]] = {}
        for incident in self.dataset.raw_rows("incidents"):
            if incident["state"] == "ACTIVE":
                messages.setdefault(incident["processInstanceKey"], []).append(incident["message"])
        retrying = {
            job["processInstanceKey"]
            for job in self.dataset.raw_rows("jobs")
            if job["hasFailedWithRetriesLeft"]
        }
        elements: dict[int, list[dict[str, Any]]] = {}
        for node in self.dataset.raw_rows("flownode-instances"):
            elements.setdefault(node["processInstanceKey"], []).append(
                {
                    "elementId": node["flowNodeId"],
                    "elementInstanceState": node["state"],
                    "hasElementInstanceIncident": node["incident"],
                }
            )

        def attributes(row: Row) -> dict[str, Any]:
            texts = messages.get(row["key"], [])
            return {
                "errorMessage": texts,
                "incidentErrorHashCode": [java_string_hash(t) for t in texts],
                "hasRetriesLeft": row["key"] in retrying,
                "_elements": elements.get(row["key"], []),
            }

        return attributes

    def variables(self, filter_name: str, record: Mapping[str, Any]) -> Mapping[str, str]:
        """Lookup for the variable filters (``exporter.api.v2.filters.matches_v2_filter``)."""
        if filter_name == "localVariables":
            return self._scopes.get(int(record["elementInstanceKey"]), {})
        return self._instance_vars.get(int(record["processInstanceKey"]), {})

    def endpoint(self, name: str) -> V2Endpoint:
        return V2_ENDPOINTS[name]


def _store(records: list[Any], position: int, appended: bool, record: Any) -> None:
    if appended and position == len(records):
        records.append(record)
    else:
        records[position] = record
