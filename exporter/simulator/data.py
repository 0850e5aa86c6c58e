# ruff: noqa: RUF001  (en dashes and other look-alikes in names are deliberate test data)
"""Deterministic, API-neutral dataset of the simulator.

Records are plain dicts with the Operate entity field names, int keys and dates as epoch
milliseconds (UTC). A field that is null is simply absent. Fields starting with ``_`` are links
v1 does not show (an incident's element instance, a decision instance's business-rule task) and
that a view may use; views never render them as such. Rendering to a wire format (v1 date
strings, variable truncation, hidden fields) is the job of a view (``v1.py``), so a v2 view can
be added beside it without touching generation.

Everything derives from ``random.Random(f"{seed}:{scale}")``: same seed and scale, same data.
"""

from __future__ import annotations

import gc
import math
import random
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from exporter.api.v1.registry import V1_ENDPOINTS
from exporter.api.v2.registry import V2_ENDPOINTS

Row = dict[str, Any]

PARTITIONS = 6
KEY_BITS = 51  # Zeebe: key = (partitionId << 51) + counter
TENANTS = ("<default>", "tenant-a", "tenant-b")
# 2026-09-01T00:00:00Z .. 2026-11-27T00:00:00Z in epoch millis.
START_MS = 1788220800000
END_MS = 1795737600000

# (bpmnProcessId, name or None, versions)
PROCESSES: tuple[tuple[str, str | None, int], ...] = (
    ("order-process", 'Order "Fulfilment"', 3),
    ("invoice-approval", "Rechnungsprüfung ✓", 2),
    ("called-process", "Called Process", 1),
    ("loan-application", "Loan application – l'offre", 2),
    ("shipping", None, 1),
)
# (decisionRequirementsId, name, [(decisionId, decisionName, decisionType)])
DRDS: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "invoice-decisions",
        "Invoice Decisions",
        (
            ("invoice-classification", "Invoice Classification", "DECISION_TABLE"),
            ("invoice-approver", "Invoice Approver – «Prüfer»", "DECISION_TABLE"),
        ),
    ),
    (
        "risk-rules",
        'Risk "rules" Ω',
        (
            ("risk-score", "Risk score", "LITERAL_EXPRESSION"),
            ("risk-level", "Risk level", "DECISION_TABLE"),
            ("risk-owner", "Risk owner", "DECISION_TABLE"),
        ),
    ),
)
# (flowNodeId, flowNodeName, type)
START = ("start", "Order received", "START_EVENT")
TASK = ("check-stock", 'Check "stock"', "SERVICE_TASK")
DECIDE = ("decide", "Decide ⚖", "BUSINESS_RULE_TASK")
REVIEW = ("review", "Review by l'équipe", "USER_TASK")
CALL = ("call-sub", "Call sub-process", "CALL_ACTIVITY")
GATEWAY = ("gateway", "Approved?", "EXCLUSIVE_GATEWAY")
END = ("end", "Done", "END_EVENT")

INCIDENT_KINDS = (
    ("JOB_NO_RETRIES", 'No more retries left for job "check-stock"'),
    ("IO_MAPPING_ERROR", "failed to evaluate expression 'amount > limit': no variable found"),
    ("EXTRACT_VALUE_ERROR", "Expected result of the expression 'approved' to be 'BOOLEAN'"),
    ("CALLED_DECISION_ERROR", "Expected to evaluate decision 'risk-score' – Größe unknown"),
)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building millions of acyclic dicts (it rescans them all)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class SortedField:
    """The ``(value, position)`` pairs of one field's non-null values in value order, so that a
    range search finds its rows by bisection (O(log n + k)) instead of reading every row, as a
    search engine answers a range from the field's index. Kept in step by ``Table.put``; live
    changes mostly carry recent dates, which land near the end of the list."""

    def __init__(self, rows: list[Row], name: str) -> None:
        self.name = name
        self.pairs = sorted(
            (value, position)
            for position, row in enumerate(rows)
            if (value := row.get(name)) is not None
        )

    def replace(self, position: int, old: Any, new: Any) -> None:
        if old == new:
            return
        pairs = self.pairs
        if old is not None:
            del pairs[bisect_left(pairs, (old, position))]
        if new is not None:
            insort(pairs, (new, position))

    def between(self, low: Any, high: Any) -> list[int]:
        """Positions of the rows with ``low <= value <= high``, in position order."""
        pairs = self.pairs
        start = bisect_left(pairs, (low, -1))
        stop = bisect_right(pairs, (high, math.inf))
        return sorted(position for _value, position in pairs[start:stop])


@dataclass
class Table:
    """One resource's records, ordered by its unique key (the tie-breaker)."""

    name: str
    unique_key: str
    rows: list[Row]
    index: dict[Any, int] = field(default_factory=dict)
    # False once live mode appended a key below the last one: searches then sort by key.
    key_ordered: bool = True
    # Range indexes of the fields searched by range so far (date windows), built on first use.
    sorted_fields: dict[str, SortedField] = field(default_factory=dict, repr=False)
    _index_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.rows.sort(key=lambda r: r[self.unique_key])
        self.index = {r[self.unique_key]: i for i, r in enumerate(self.rows)}

    def put(self, row: Row) -> tuple[int, bool]:
        """Live mode: replace the row with the same key, or append a new one (positions of
        existing rows never move, so caches by position stay valid). -> (position, appended)."""
        key = row[self.unique_key]
        position = self.index.get(key)
        if position is not None:
            old = self.rows[position]
            self.rows[position] = row
            self._reindex(position, old, row)
            return position, False
        if self.rows and key < self.rows[-1][self.unique_key]:
            self.key_ordered = False
        self.index[key] = len(self.rows)
        self.rows.append(row)
        self._reindex(len(self.rows) - 1, {}, row)
        return len(self.rows) - 1, True

    def _reindex(self, position: int, old: Row, new: Row) -> None:
        with self._index_lock:
            for name, sorted_field in self.sorted_fields.items():
                sorted_field.replace(position, old.get(name), new.get(name))

    def positions_between(self, name: str, low: Any, high: Any) -> list[int]:
        """Positions (ascending) of the rows whose ``name`` lies in ``[low, high]``; null values
        never match. The field's values must be mutually comparable (dates: epoch ms)."""
        with self._index_lock:
            sorted_field = self.sorted_fields.get(name)
            if sorted_field is None:
                sorted_field = self.sorted_fields[name] = SortedField(self.rows, name)
            return sorted_field.between(low, high)


class Dataset:
    """All eight v1 resources, v2's user tasks and jobs, and the definition XML, generated
    from ``seed`` and ``scale``."""

    def __init__(self, scale: int, seed: int) -> None:
        if scale < 0:
            raise ValueError("scale must be >= 0")
        self.scale = scale
        self.seed = seed
        with gc_paused():
            tables, xml = _Generator(scale, seed).run()
        self.tables: dict[str, Table] = {
            name: Table(name, _unique_key(name), rows) for name, rows in tables.items()
        }
        self._xml = xml
        self._views: dict[str, Any] = {}

    def table(self, name: str) -> Table:
        return self.tables[name]

    def raw_rows(self, name: str) -> list[Row]:
        """Internal (API-neutral) records in unique-key order; do not mutate."""
        return self.tables[name].rows

    def xml(self, name: str, key: int) -> str | None:
        return self._xml.get((name, key))

    def attach_view(self, api: str, view: Any) -> None:
        self._views[api] = view

    def records(self, name: str, api: str = "v1") -> list[dict[str, Any]]:
        """The truth: fully hydrated records as an exporter should end up with them."""
        return self._views[api].records(name)

    def search_view(self, name: str, api: str = "v1") -> list[dict[str, Any]]:
        """Records exactly as search returns them, in unique-key order."""
        return self._views[api].search_records(name)


def _unique_key(name: str) -> str:
    # user-tasks and jobs exist on v2 only; their internal rows use v2's names.
    return (V1_ENDPOINTS.get(name) or V2_ENDPOINTS[name]).unique_key


class _Generator:
    def __init__(self, scale: int, seed: int) -> None:
        self.scale = scale
        self.seed = seed
        self.rng = random.Random(f"{seed}:{scale}")
        self.counters = [0] * (PARTITIONS + 1)
        self.waiting_jobs = 0
        self.out: dict[str, list[Row]] = {name: [] for name in V1_ENDPOINTS}
        self.out["user-tasks"] = []
        self.out["jobs"] = []
        self.xml: dict[tuple[str, int], str] = {}

    def key(self, partition: int) -> int:
        self.counters[partition] += 1
        return (partition << KEY_BITS) + self.counters[partition]

    def run(self) -> tuple[dict[str, list[Row]], dict[tuple[str, int], str]]:
        self.definitions()
        self.decisions()
        self.instances()
        # After everything v1 serves, with its own random stream: adding the v2-only
        # resources leaves the v1 data (and every test pinned to it) unchanged.
        self.tasks_and_jobs(random.Random(f"{self.seed}:{self.scale}:v2"))
        return self.out, self.xml

    def tasks_and_jobs(self, rng: random.Random) -> None:
        """User tasks from the review nodes, jobs from the service-task nodes (v2 names)."""
        instances = {row["key"]: row for row in self.out["process-instances"]}
        definitions = {row["key"]: row for row in self.out["process-definitions"]}
        incidents = {row["key"]: row for row in self.out["incidents"]}
        for node in self.out["flownode-instances"]:
            instance = instances[node["processInstanceKey"]]
            definition = definitions[node["processDefinitionKey"]]
            partition = (instance["key"] >> KEY_BITS) or 1
            common: Row = {
                "processDefinitionId": definition["bpmnProcessId"],
                "processDefinitionKey": definition["key"],
                "processInstanceKey": instance["key"],
                "elementId": node["flowNodeId"],
                "elementInstanceKey": node["key"],
                "tenantId": node["tenantId"],
            }
            if node["type"] == "USER_TASK":
                self.user_task(rng, node, definition, common, partition)
            elif node["type"] == "SERVICE_TASK":
                incident = incidents.get(node.get("incidentKey"))
                self.job(rng, node, common, partition, incident)

    def user_task(
        self, rng: random.Random, node: Row, definition: Row, common: Row, partition: int
    ) -> None:
        state = {"ACTIVE": "CREATED", "COMPLETED": "COMPLETED", "TERMINATED": "CANCELED"}
        task: Row = {
            "userTaskKey": self.key(partition),
            "name": node["flowNodeName"],
            "state": state[node["state"]],
            "candidateGroups": rng.choice((["reviewers"], ["reviewers", "finance"], [])),
            "candidateUsers": rng.choice(([], ["demo"], ["zoë", "demo"])),
            "creationDate": node["startDate"],
            "processDefinitionVersion": definition["version"],
            "customHeaders": {"channel": rng.choice(("web", "mobile")), "note": "l'équipe"},
            "priority": rng.randrange(0, 101),
            **common,
        }
        if "name" in definition:
            task["processName"] = definition["name"]
        assignee = rng.choice((None, "demo", "zoë.o'brien"))
        if assignee is not None:
            task["assignee"] = assignee
        if node["state"] == "COMPLETED":
            task["completionDate"] = node["endDate"]
        if rng.random() < 0.5:
            task["dueDate"] = node["startDate"] + rng.randrange(1, 10) * 86_400_000
        if rng.random() < 0.3:
            task["followUpDate"] = node["startDate"] + 86_400_000
        if rng.random() < 0.4:
            task["formKey"] = self.key(1)
        elif rng.random() < 0.3:
            task["externalFormReference"] = "https://forms.example.com/review?lang=fr"
        self.out["user-tasks"].append(task)

    def job(
        self, rng: random.Random, node: Row, common: Row, partition: int, incident: Row | None
    ) -> None:
        key = incident["jobKey"] if incident and "jobKey" in incident else self.key(partition)
        job: Row = {
            "jobKey": key,
            "type": "check-stock",
            "kind": "BPMN_ELEMENT",
            "listenerEventType": "UNSPECIFIED",
            "retries": 3,
            "hasFailedWithRetriesLeft": False,
            "isDenied": False,
            "customHeaders": {"timeout": "PT5M"},
            **common,
            # 8.9's job timestamps (v2 view only).
            "_creationTime": node["startDate"],
            "_lastUpdateTime": node.get("endDate", node["startDate"] + 1500),
        }
        if node["state"] == "COMPLETED":
            job |= {"state": "COMPLETED", "worker": "stock-worker", "endTime": node["endDate"]}
        elif node["state"] == "TERMINATED":
            job |= {"state": "CANCELED", "endTime": node["endDate"]}
        elif incident is not None:
            job |= {
                "state": "FAILED",
                "worker": "stock-worker",
                "retries": 0,
                "errorMessage": incident["message"],
                "deadline": node["startDate"] + 300_000,
            }
            if rng.random() < 0.5:
                job["errorCode"] = "OUT_OF_STOCK"
        elif self.waiting_job():
            # Failed once, retried: activatable again (hasFailedWithRetriesLeft). Every second
            # waiting job, not drawn from the random stream, so the rest of the v2 data stays.
            job |= {
                "state": "FAILED",
                "worker": "stock-worker",
                "retries": 2,
                "hasFailedWithRetriesLeft": True,
                "errorMessage": "Stock service timed out; retrying",
                "deadline": node["startDate"] + 300_000,
            }
        else:
            job |= {"state": "CREATED", "deadline": node["startDate"] + 300_000}
        self.out["jobs"].append(job)

    def waiting_job(self) -> bool:
        """True for every second job that waits for a worker (counted, not drawn)."""
        self.waiting_jobs += 1
        return self.waiting_jobs % 2 == 0

    def definitions(self) -> None:
        self.defs_by_tenant: dict[str, list[Row]] = {t: [] for t in TENANTS}
        for tenant in TENANTS:
            for bpmn_id, name, versions in PROCESSES:
                for version in range(1, versions + 1):
                    row: Row = {
                        "key": self.key(1),
                        "version": version,
                        "bpmnProcessId": bpmn_id,
                        "tenantId": tenant,
                    }
                    if name is not None:
                        row["name"] = name
                    if version > 1:
                        row["versionTag"] = f"v{version}.0"
                    self.out["process-definitions"].append(row)
                    self.defs_by_tenant[tenant].append(row)
                    self.xml[("process-definitions", row["key"])] = _bpmn_xml(bpmn_id, name)

    def decisions(self) -> None:
        self.decisions_by_tenant: dict[str, list[list[Row]]] = {t: [] for t in TENANTS}
        for tenant in TENANTS[:2]:  # tenant-b has no decisions at all
            for drd_id, drd_name, decisions in DRDS:
                for version in (1, 2) if drd_id == "invoice-decisions" else (1,):
                    drd_key = self.key(1)
                    self.out["decision-requirements"].append(
                        {
                            "id": str(drd_key),
                            "key": drd_key,
                            "decisionRequirementsId": drd_id,
                            "name": drd_name,
                            "version": version,
                            "resourceName": f"{drd_id}.dmn",
                            "tenantId": tenant,
                        }
                    )
                    self.xml[("decision-requirements", drd_key)] = _dmn_xml(drd_id, decisions)
                    group = []
                    for decision_id, decision_name, decision_type in decisions:
                        key = self.key(1)
                        row = {
                            "id": str(key),
                            "key": key,
                            "decisionId": decision_id,
                            "name": decision_name,
                            "version": version,
                            "decisionRequirementsId": drd_id,
                            "decisionRequirementsKey": drd_key,
                            "decisionRequirementsName": drd_name,
                            "decisionRequirementsVersion": version,
                            "tenantId": tenant,
                            "_type": decision_type,
                        }
                        group.append(row)
                    self.decisions_by_tenant[tenant].append(group)
                    for row in group:
                        public = {k: v for k, v in row.items() if not k.startswith("_")}
                        self.out["decision-definitions"].append(public)

    def instances(self) -> None:
        rng = self.rng
        span = END_MS - START_MS - 3 * 86_400_000
        previous_call: tuple[Row, int] | None = None
        for i in range(self.scale):
            if i % 10 == 9 and previous_call is not None:
                parent, call_node_key = previous_call
                tenant = parent["tenantId"]
                definition = next(
                    d for d in self.defs_by_tenant[tenant] if d["bpmnProcessId"] == "called-process"
                )
                partition = (parent["key"] >> KEY_BITS) or 1
                start = parent["startDate"] + rng.randrange(1000, 60_000)
            else:
                parent, call_node_key = None, 0
                tenant = TENANTS[0] if rng.random() < 0.6 else rng.choice(TENANTS[1:])
                definition = rng.choice(self.defs_by_tenant[tenant])
                partition = 1 + i % PARTITIONS
                start = START_MS + rng.randrange(span)
            previous_call = None
            pi_key = self.key(partition)
            roll = rng.random()
            has_incident = roll < 0.05
            state = (
                "ACTIVE"
                if has_incident or roll < 0.2
                else ("CANCELED" if roll > 0.92 else "COMPLETED")
            )
            instance: Row = {
                "key": pi_key,
                "processVersion": definition["version"],
                "bpmnProcessId": definition["bpmnProcessId"],
                "startDate": start,
                "state": state,
                "incident": has_incident,
                "processDefinitionKey": definition["key"],
                "tenantId": tenant,
            }
            if "versionTag" in definition:
                instance["processVersionTag"] = definition["versionTag"]
            if parent is not None:
                instance["parentKey"] = parent["key"]
                instance["parentFlowNodeInstanceKey"] = call_node_key
            middle = CALL if i % 10 == 8 else (DECIDE if i % 3 == 1 else REVIEW)
            path = [START, TASK, middle, GATEWAY, END]
            if has_incident:
                path = path[:2]
            elif state == "ACTIVE":
                path = path[: rng.choice((2, 3, 4))]
            elif state == "CANCELED":
                path = path[:3]
            t = start
            nodes: list[Row] = []
            for n, (node_id, node_name, node_type) in enumerate(path):
                last = n == len(path) - 1
                node: Row = {
                    "key": self.key(partition),
                    "processInstanceKey": pi_key,
                    "processDefinitionKey": definition["key"],
                    "startDate": t,
                    "flowNodeId": node_id,
                    "flowNodeName": node_name,
                    "type": node_type,
                    "incident": False,
                    "tenantId": tenant,
                }
                t += rng.randrange(5, 90_000)
                if last and state == "ACTIVE":
                    node["state"] = "ACTIVE"
                elif last and state == "CANCELED":
                    node["state"] = "TERMINATED"
                    node["endDate"] = t
                else:
                    node["state"] = "COMPLETED"
                    node["endDate"] = t
                nodes.append(node)
                if node_type == "CALL_ACTIVITY":
                    previous_call = (instance, node["key"])
                if node_type == "BUSINESS_RULE_TASK":
                    self.decision_instances(instance, node, partition)
            if state != "ACTIVE":
                instance["endDate"] = t
            if has_incident:
                self.incident(instance, nodes[-1], partition, "ACTIVE")
            elif rng.random() < 0.02:
                self.incident(instance, nodes[1], partition, "RESOLVED")
            self.out["process-instances"].append(instance)
            self.out["flownode-instances"].extend(nodes)
            self.variables(instance, nodes, partition, i)

    def incident(self, instance: Row, node: Row, partition: int, state: str) -> None:
        kind, message = self.rng.choice(INCIDENT_KINDS)
        key = self.key(partition)
        row: Row = {
            "key": key,
            "processDefinitionKey": instance["processDefinitionKey"],
            "processInstanceKey": instance["key"],
            "type": kind,
            "message": message,
            "creationTime": node["startDate"] + 1500,
            "state": state,
            "tenantId": instance["tenantId"],
            # The element the incident is on (v2 sends it on every incident, resolved or not).
            "_elementInstanceKey": node["key"],
            "_elementId": node["flowNodeId"],
        }
        if kind == "JOB_NO_RETRIES":
            row["jobKey"] = self.key(partition)
        if state == "ACTIVE":
            node["incident"] = True
            node["incidentKey"] = key
        self.out["incidents"].append(row)

    def variables(self, instance: Row, nodes: list[Row], partition: int, i: int) -> None:
        rng = self.rng
        pi_key = instance["key"]
        tenant = instance["tenantId"]
        values: list[tuple[str, object, int]] = [
            ("orderId", f"ORD-{i:06d}", pi_key),
            ("amount", round(rng.uniform(1, 10_000), 2), pi_key),
        ]
        if i % 3 == 0:
            items = [
                {"sku": f"SKU-{rng.randrange(10**6):06d}", "qty": rng.randrange(1, 9)}
                for _ in range(rng.randrange(3, 8))
            ]
            values.append(
                ("payload", {"items": items, "note": 'Größe "XL" – ok'}, nodes[-1]["key"])
            )
        elif i % 3 == 1:
            values.append(("customer", 'Zoë "Q" O\'Brien', pi_key))
        else:
            values.append(("approved", rng.random() < 0.7, nodes[0]["key"]))
        for name, value, scope in values:
            self.out["variables"].append(
                {
                    "key": self.key(partition),
                    "processInstanceKey": pi_key,
                    "scopeKey": scope,
                    "name": name,
                    "value": orjson.dumps(value).decode(),
                    "truncated": False,
                    "tenantId": tenant,
                }
            )

    def decision_instances(self, instance: Row, node: Row, partition: int) -> None:
        groups = self.decisions_by_tenant[instance["tenantId"]]
        if not groups:
            return
        rng = self.rng
        group = rng.choice(groups)
        eval_key = self.key(partition)
        failed_at = len(group) - 1 if rng.random() < 0.1 else -1
        for n, decision in enumerate(group, start=1):
            amount = rng.randrange(1, 5000)
            row: Row = {
                "id": f"{eval_key}-{n}",
                "key": eval_key,
                "state": "FAILED" if n - 1 == failed_at else "EVALUATED",
                "evaluationDate": node["startDate"] + n,
                "processDefinitionKey": instance["processDefinitionKey"],
                "processInstanceKey": instance["key"],
                "decisionId": decision["decisionId"],
                "decisionDefinitionId": decision["id"],
                "decisionName": decision["name"],
                "decisionVersion": decision["version"],
                "decisionType": decision["_type"],
                "tenantId": instance["tenantId"],
                "_elementInstanceKey": node["key"],  # the business-rule task (v2 only)
                "evaluatedInputs": [
                    {"id": "Input_1", "name": "amount", "value": str(amount)},
                    {"id": "Input_2", "name": "category", "value": '"Travel – «Reise»"'},
                ],
            }
            if n - 1 == failed_at:
                row["evaluationFailure"] = f"Failed to evaluate '{decision['decisionId']}'"
                row["evaluatedOutputs"] = []
            else:
                level = "high" if amount > 2500 else "low"
                row["result"] = orjson.dumps(level).decode()
                row["evaluatedOutputs"] = [
                    {
                        "id": "Output_1",
                        "name": "level",
                        "value": f'"{level}"',
                        "ruleId": f"Rule_{level}",
                        "ruleIndex": 1 if level == "high" else 2,
                    }
                ]
            self.out["decision-instances"].append(row)
            if n - 1 == failed_at:
                break


def _bpmn_xml(bpmn_id: str, name: str | None) -> str:
    from xml.sax.saxutils import quoteattr

    label = quoteattr(name or bpmn_id)
    nodes = "".join(
        f'<bpmn:{tag} id="{node_id}" name={quoteattr(node_name)} />'
        for node_id, node_name, tag in (
            (START[0], START[1], "startEvent"),
            (TASK[0], TASK[1], "serviceTask"),
            (DECIDE[0], DECIDE[1], "businessRuleTask"),
            (REVIEW[0], REVIEW[1], "userTask"),
            (CALL[0], CALL[1], "callActivity"),
            (GATEWAY[0], GATEWAY[1], "exclusiveGateway"),
            (END[0], END[1], "endEvent"),
        )
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">'
        f'<bpmn:process id="{bpmn_id}" name={label} isExecutable="true">{nodes}</bpmn:process>'
        "</bpmn:definitions>\n"
    )


def _dmn_xml(drd_id: str, decisions: tuple[tuple[str, str, str], ...]) -> str:
    from xml.sax.saxutils import quoteattr

    body = "".join(
        f"<decision id={quoteattr(d_id)} name={quoteattr(d_name)} />"
        for d_id, d_name, _type in decisions
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" '
        f'id="{drd_id}" name="{drd_id}" namespace="http://camunda.org/schema/1.0/dmn">'
        f"{body}</definitions>\n"
    )
