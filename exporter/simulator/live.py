"""Live mode: the cluster keeps working while the simulator's clock moves.

Two layers, both deterministic functions of the seed and of time alone (not of how the clock
got there, so one 60-minute step and sixty 1-minute steps give the same data):

* **Engine.** Each simulated minute (a bucket aligned to the epoch minute) starts a number of
  new process instances drawn from ``Random(seed:bucket)``; each instance is a small script
  (``_NewInstance.script``) that, step by step, starts flow nodes, creates jobs and user tasks,
  opens and resolves incidents, overwrites a variable, evaluates decisions and finally completes
  or cancels. Half of the generated history's running instances finish within 12 hours, at a
  time drawn from their key. Steps run in time order from one heap; keys are allocated when a
  record is created, so they stay ``(partition << 51) + counter`` and increase with creation
  time per partition, above every generated key.
* **Visibility.** Every change (``Change``: the record's complete new state at ``time``) shows
  in search only at ``visible_at = time + lag`` (importer lag), or ``late_seconds`` after it for
  a ``late_fraction`` of changes drawn from a hash of the change (camunda/camunda#39962:
  incidents 45-90 s late). A record shows the state of its newest (by ``time``) visible change;
  a finished instance whose end is not visible yet shows as ACTIVE without ``endDate``.

Rows are never mutated: each change carries a new dict, so views may cache by identity.
"""

from __future__ import annotations

import heapq
import random
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import orjson

from exporter.simulator.data import (
    DECIDE,
    DRDS,
    END,
    GATEWAY,
    INCIDENT_KINDS,
    KEY_BITS,
    PARTITIONS,
    REVIEW,
    START,
    TASK,
    TENANTS,
    Dataset,
    Row,
)

MINUTE = 60_000
FINISH_HORIZON_MS = 12 * 3_600_000  # half the history's running instances end within 12 h
# Script steps yield a delay in ms; the engine resumes the script that much later.
Script = Generator[int, None, None]


@dataclass(frozen=True)
class LiveConfig:
    instances_per_minute: float = 10.0
    visibility_lag_ms: int = 5_000
    late_fraction: float = 0.0
    late_ms: int = 90_000
    late_resources: tuple[str, ...] = ()  # empty: every resource

    def __post_init__(self) -> None:
        if self.instances_per_minute < 0:
            raise ValueError("live instances per minute must be >= 0")
        if self.visibility_lag_ms < 0 or self.late_ms < 0:
            raise ValueError("visibility lag and late seconds must be >= 0")
        if not 0.0 <= self.late_fraction <= 1.0:
            raise ValueError("late_fraction must be within 0..1")


@dataclass(frozen=True)
class Change:
    """One record's complete state after a change at ``time``, shown from ``visible_at`` on."""

    time: int
    visible_at: int
    resource: str
    key: Any  # the resource's unique key (``id`` for decision instances)
    row: Row
    created: bool
    seq: int  # order of application: ties at the same ``time`` keep it


def unique_key_of(resource: str) -> str:
    return {
        "decision-instances": "id",
        "decision-requirements": "key",
        "decision-definitions": "key",
        "user-tasks": "userTaskKey",
        "jobs": "jobKey",
    }.get(resource, "key")


class LiveWorld:
    """The engine and the visibility queue of a live simulator, starting at ``start_ms``."""

    def __init__(self, dataset: Dataset, config: LiveConfig, seed: int, start_ms: int) -> None:
        self.dataset = dataset
        self.config = config
        self.seed = seed
        self.start_ms = start_ms
        self.engine_ms = start_ms  # every step up to here has run
        self.visible_ms = start_ms  # every change visible up to here has been handed out
        self.history: list[Change] = []
        self._pending: list[tuple[int, int, Change]] = []  # (visible_at, seq, change)
        self._heap: list[tuple[int, int, int, int, Script]] = []  # (time, bucket, n, step, s)
        self._steps = 0
        self._next_bucket = start_ms // MINUTE
        # The generated rows as they were, for truth(); the tables themselves get replaced.
        self.base_rows = {name: list(t.rows) for name, t in dataset.tables.items()}
        self.counters = _key_counters(dataset)
        self._catalog = _Catalog(dataset)
        self._schedule_history_finishes()

    # -- engine ---------------------------------------------------------------------------

    def key(self, partition: int) -> int:
        self.counters[partition] += 1
        return (partition << KEY_BITS) + self.counters[partition]

    def _push(self, when: int, bucket: int, n: int, script: Script) -> None:
        self._steps += 1
        heapq.heappush(self._heap, (when, bucket, n, self._steps, script))

    def advance(self, until_ms: int) -> None:
        """Run every step due at or before ``until_ms``, in time order."""
        if until_ms < self.engine_ms:
            raise ValueError("live mode cannot go back in time")
        while self._next_bucket * MINUTE <= until_ms:
            self._start_bucket(self._next_bucket)
            self._next_bucket += 1
        heap = self._heap
        while heap and heap[0][0] <= until_ms:
            when, bucket, n, _step, script = heapq.heappop(heap)
            self.engine_ms = when  # popped in time order: never backwards
            delay = next(script, None)
            if delay is not None:
                self._push(when + max(1, delay), bucket, n, script)
        self.engine_ms = until_ms

    def _start_bucket(self, bucket: int) -> None:
        rng = random.Random(f"{self.seed}:live:{bucket}")
        rate = self.config.instances_per_minute
        count = int(rate) + (rng.random() < rate - int(rate))
        count = max(0, count + rng.randint(-1, 1)) if count else 0
        starts = sorted(bucket * MINUTE + rng.randrange(MINUTE) for _ in range(count))
        for n, when in enumerate(starts):
            if when <= self.start_ms:
                continue  # before live mode began: that minute is history
            instance = _NewInstance(self, random.Random(f"{self.seed}:live:{bucket}:{n}"))
            self._push(when, bucket, n, instance.script())

    def _schedule_history_finishes(self) -> None:
        running = [r for r in self.base_rows["process-instances"] if r["state"] == "ACTIVE"]
        related = _related_of({r["key"] for r in running}, self.base_rows)
        for n, instance in enumerate(running):
            rng = random.Random(f"{self.seed}:finish:{instance['key']}")
            if rng.random() < 0.5:
                continue
            when = self.start_ms + 1 + rng.randrange(FINISH_HORIZON_MS)
            actor = _RunningInstance(self, rng, instance, related.get(instance["key"], []))
            self._push(when, -1, n, actor.script())

    # -- changes --------------------------------------------------------------------------

    def emit(self, when: int, resource: str, row: Row, created: bool) -> Row:
        key = row[unique_key_of(resource)]
        seq = len(self.history)
        change = Change(
            when, when + self._lag(resource, key, when), resource, key, row, created, seq
        )
        self.history.append(change)
        heapq.heappush(self._pending, (change.visible_at, seq, change))
        return row

    def _lag(self, resource: str, key: Any, when: int) -> int:
        config = self.config
        if config.late_fraction and (
            not config.late_resources or resource in config.late_resources
        ):
            digest = zlib.crc32(f"{self.seed}:{resource}:{key}:{when}".encode())
            if digest / 2**32 < config.late_fraction:
                return config.late_ms
        return config.visibility_lag_ms

    def newly_visible(self, until_ms: int) -> list[Change]:
        """Changes whose ``visible_at`` passed since the last call, oldest visible first."""
        out = []
        pending = self._pending
        while pending and pending[0][0] <= until_ms:
            out.append(heapq.heappop(pending)[2])
        self.visible_ms = max(self.visible_ms, until_ms)
        return out

    # -- truth ----------------------------------------------------------------------------

    def visible_rows(self, resource: str, as_of: int) -> list[Row]:
        """API-neutral rows as search shows them at ``as_of``, in unique-key order."""
        unique = unique_key_of(resource)
        rows = {r[unique]: r for r in self.base_rows[resource]}
        newest: dict[Any, tuple[int, int]] = {}
        for change in self.history:
            if change.resource != resource or change.visible_at > as_of:
                continue
            rank = (change.time, change.seq)
            if rank > newest.get(change.key, (-1, -1)):
                newest[change.key] = rank
                rows[change.key] = change.row
        return [rows[k] for k in sorted(rows)]

    def changes(self, since: int, until: int, resource: str | None = None) -> list[Change]:
        """Changes that happened in ``[since, until)`` (by ``time``), in order."""
        return [
            c
            for c in self.history
            if since <= c.time < until and (resource is None or c.resource == resource)
        ]


def _key_counters(dataset: Dataset) -> list[int]:
    counters = [0] * (PARTITIONS + 1)
    mask = (1 << KEY_BITS) - 1
    for name, table in dataset.tables.items():
        field = "key" if name == "decision-instances" else unique_key_of(name)
        for row in table.rows:
            for value in (row.get(field), row.get("jobKey"), row.get("formKey")):
                if isinstance(value, int) and 0 < value >> KEY_BITS <= PARTITIONS:
                    partition = value >> KEY_BITS
                    counters[partition] = max(counters[partition], value & mask)
    return counters


def _related_of(instance_keys: set[int], rows: dict[str, list[Row]]) -> dict[int, list[tuple]]:
    """Per running instance: (resource, row) of its records a finish changes."""
    related: dict[int, list[tuple[str, Row]]] = {}
    open_states = {
        "flownode-instances": ("ACTIVE",),
        "incidents": ("ACTIVE", "PENDING"),
        "user-tasks": ("CREATED", "ASSIGNING", "UPDATING"),
        "jobs": ("CREATED", "FAILED", "RETRIES_UPDATED"),
    }
    for resource, states in open_states.items():
        for row in rows[resource]:
            if row["processInstanceKey"] in instance_keys and row["state"] in states:
                related.setdefault(row["processInstanceKey"], []).append((resource, row))
    return related


class _Catalog:
    """Definitions new instances pick from: process definitions and decision groups per tenant."""

    def __init__(self, dataset: Dataset) -> None:
        self.processes: dict[str, list[Row]] = {t: [] for t in TENANTS}
        for row in dataset.raw_rows("process-definitions"):
            if row["bpmnProcessId"] != CALL_TARGET:
                self.processes[row["tenantId"]].append(row)
        types = {d_id: d_type for _, _, group in DRDS for d_id, _, d_type in group}
        groups: dict[tuple[str, int], list[Row]] = {}
        for row in dataset.raw_rows("decision-definitions"):
            groups.setdefault((row["tenantId"], row["decisionRequirementsKey"]), []).append(
                row | {"_type": types[row["decisionId"]]}
            )
        self.decisions: dict[str, list[list[Row]]] = {t: [] for t in TENANTS}
        for (tenant, _drd), group in sorted(groups.items()):
            self.decisions[tenant].append(group)


CALL_TARGET = "called-process"  # only ever started by a call activity


class _Actor:
    """Shared record-keeping of a scripted instance: current rows and change emission."""

    def __init__(self, world: LiveWorld, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.now = 0

    def put(self, resource: str, row: Row, created: bool = False) -> Row:
        return self.world.emit(self.now, resource, row, created)

    def tick(self, script: Callable[[], Script]) -> Script:
        """Wrap a script so that ``self.now`` is the engine time of each step."""

        def run() -> Script:
            inner = script()
            self.now = self.world.engine_ms
            for delay in inner:
                yield delay
                self.now = self.world.engine_ms

        return run()


class _RunningInstance(_Actor):
    """A running instance of the generated history: completes (or is canceled) at one time."""

    def __init__(
        self, world: LiveWorld, rng: random.Random, instance: Row, related: list[tuple]
    ) -> None:
        super().__init__(world, rng)
        self.instance = instance
        self.related = related

    def script(self) -> Script:
        return self.tick(self._steps)

    def _steps(self) -> Script:
        canceled = self.rng.random() < 0.2
        yield from ()
        t = self.now
        for resource, row in self.related:
            if resource == "flownode-instances":
                done = {"state": "TERMINATED" if canceled else "COMPLETED", "endDate": t}
                row = {k: v for k, v in row.items() if k != "incidentKey"} | done
                self.put(resource, row | {"incident": False})
            elif resource == "incidents":
                self.put(resource, row | {"state": "RESOLVED"})
            elif resource == "user-tasks":
                done = {"state": "CANCELED"} if canceled else {"state": "COMPLETED"}
                if not canceled:
                    done["completionDate"] = t
                self.put(resource, row | done)
            elif resource == "jobs":
                self.put(resource, _finish_job(row, t, canceled))
        end = {"state": "CANCELED" if canceled else "COMPLETED", "endDate": t, "incident": False}
        self.put("process-instances", self.instance | end)


def _finish_job(job: Row, t: int, canceled: bool) -> Row:
    out = {k: v for k, v in job.items() if k not in ("errorMessage", "errorCode", "deadline")}
    out |= {"endTime": t, "_lastUpdateTime": t, "hasFailedWithRetriesLeft": False}
    if canceled:
        return out | {"state": "CANCELED"}
    return out | {"state": "COMPLETED", "worker": "stock-worker", "retries": job.get("retries", 3)}


class _NewInstance(_Actor):
    """A process instance started in live mode, from its start event to its end."""

    def script(self) -> Script:
        return self.tick(self._steps)

    def _steps(self) -> Script:
        yield from ()
        rng, world = self.rng, self.world
        tenant = TENANTS[0] if rng.random() < 0.6 else rng.choice(TENANTS[1:])
        self.definition = rng.choice(world._catalog.processes[tenant])
        self.partition = 1 + rng.randrange(PARTITIONS)
        roll = rng.random()
        incident_kind = rng.choice(INCIDENT_KINDS) if roll < 0.08 else None
        resolves = rng.random() < 0.6
        cancels = 0.08 <= roll < 0.16
        middle = DECIDE if rng.random() < 0.4 else REVIEW
        self._start_instance(tenant)
        start = self._node(START, done=True)
        self._variable("approved", rng.random() < 0.7, start["key"])
        yield rng.randrange(5, 2_000)
        task = self._node(TASK)
        job = self._job(task)
        if incident_kind is not None:
            yield rng.randrange(1_000, 60_000)
            task, job = self._open_incident(task, job, incident_kind)
            if not resolves:
                yield rng.randrange(3_600_000, 6 * 3_600_000)
                return self._cancel(task, job=job)
            yield rng.randrange(30_000, 20 * MINUTE)
            task, job = self._resolve_incident(task, job)
        yield rng.randrange(1_000, 10 * MINUTE)
        if cancels:
            return self._cancel(task, job=job)
        self._complete_node(task)
        self.put("jobs", _finish_job(job, self.now, canceled=False))
        self._variable(
            "amount", round(rng.uniform(1, 10_000), 2), self.instance["key"], self.amount
        )
        node = self._node(middle)
        if middle is DECIDE:
            yield rng.randrange(5, 500)
            self._evaluate(node)
            yield rng.randrange(5, 500)
        else:
            user_task = self._user_task(node)
            yield rng.randrange(MINUTE, 3 * 3_600_000 if rng.random() < 0.2 else 30 * MINUTE)
            self.put("user-tasks", user_task | {"state": "COMPLETED", "completionDate": self.now})
        self._complete_node(node)
        self._node(GATEWAY, done=True)
        yield rng.randrange(5, 2_000)
        self._node(END, done=True)
        done = {"state": "COMPLETED", "endDate": self.now}
        self.put("process-instances", self.instance | done)
        return None

    # -- records --------------------------------------------------------------------------

    def _start_instance(self, tenant: str) -> None:
        definition = self.definition
        self.instance: Row = {
            "key": self.world.key(self.partition),
            "processVersion": definition["version"],
            "bpmnProcessId": definition["bpmnProcessId"],
            "startDate": self.now,
            "state": "ACTIVE",
            "incident": False,
            "processDefinitionKey": definition["key"],
            "tenantId": tenant,
        }
        if "versionTag" in definition:
            self.instance["processVersionTag"] = definition["versionTag"]
        self.put("process-instances", self.instance, created=True)
        self._variable(
            "orderId", f"ORD-L{self.instance['key'] & 0xFFFFFF:07d}", self.instance["key"]
        )
        self.amount = self._variable(
            "amount", round(self.rng.uniform(1, 10_000), 2), self.instance["key"]
        )

    def _node(self, element: tuple[str, str, str], done: bool = False) -> Row:
        node_id, node_name, node_type = element
        node: Row = {
            "key": self.world.key(self.partition),
            "processInstanceKey": self.instance["key"],
            "processDefinitionKey": self.instance["processDefinitionKey"],
            "startDate": self.now,
            "flowNodeId": node_id,
            "flowNodeName": node_name,
            "type": node_type,
            "incident": False,
            "tenantId": self.instance["tenantId"],
            "state": "ACTIVE",
        }
        if done:
            node |= {"state": "COMPLETED", "endDate": self.now}
        return self.put("flownode-instances", node, created=True)

    def _complete_node(self, node: Row, state: str = "COMPLETED") -> Row:
        row = {k: v for k, v in node.items() if k != "incidentKey"}
        return self.put("flownode-instances", row | {"state": state, "endDate": self.now})

    def _variable(self, name: str, value: object, scope: int, existing: Row | None = None) -> Row:
        text = orjson.dumps(value).decode()
        if existing is not None:  # overwritten in place: same key, new value, no timestamp
            return self.put("variables", existing | {"value": text})
        row: Row = {
            "key": self.world.key(self.partition),
            "processInstanceKey": self.instance["key"],
            "scopeKey": scope,
            "name": name,
            "value": text,
            "truncated": False,
            "tenantId": self.instance["tenantId"],
        }
        return self.put("variables", row, created=True)

    def _common(self, node: Row) -> Row:
        return {
            "processDefinitionId": self.definition["bpmnProcessId"],
            "processDefinitionKey": self.definition["key"],
            "processInstanceKey": self.instance["key"],
            "elementId": node["flowNodeId"],
            "elementInstanceKey": node["key"],
            "tenantId": node["tenantId"],
        }

    def _job(self, node: Row) -> Row:
        job: Row = {
            "jobKey": self.world.key(self.partition),
            "type": "check-stock",
            "kind": "BPMN_ELEMENT",
            "listenerEventType": "UNSPECIFIED",
            "retries": 3,
            "hasFailedWithRetriesLeft": False,
            "isDenied": False,
            "customHeaders": {"timeout": "PT5M"},
            **self._common(node),
            "_creationTime": self.now,
            "_lastUpdateTime": self.now,
            "state": "CREATED",
            "deadline": self.now + 300_000,
        }
        return self.put("jobs", job, created=True)

    def _user_task(self, node: Row) -> Row:
        task: Row = {
            "userTaskKey": self.world.key(self.partition),
            "name": node["flowNodeName"],
            "state": "CREATED",
            "candidateGroups": ["reviewers"],
            "candidateUsers": [],
            "creationDate": self.now,
            "processDefinitionVersion": self.definition["version"],
            "customHeaders": {"channel": "web", "note": "l'équipe"},
            "priority": self.rng.randrange(0, 101),
            **self._common(node),
        }
        if "name" in self.definition:
            task["processName"] = self.definition["name"]
        return self.put("user-tasks", task, created=True)

    def _open_incident(self, task: Row, job: Row, kind: tuple[str, str]) -> tuple[Row, Row]:
        error_type, message = kind
        incident: Row = {
            "key": self.world.key(self.partition),
            "processDefinitionKey": self.instance["processDefinitionKey"],
            "processInstanceKey": self.instance["key"],
            "type": error_type,
            "message": message,
            "creationTime": self.now,
            "state": "ACTIVE",
            "tenantId": self.instance["tenantId"],
            "_elementInstanceKey": task["key"],
            "_elementId": task["flowNodeId"],
        }
        if error_type == "JOB_NO_RETRIES":
            incident["jobKey"] = job["jobKey"]
        self.incident = self.put("incidents", incident, created=True)
        task = self.put(
            "flownode-instances", task | {"incident": True, "incidentKey": incident["key"]}
        )
        self.instance = self.put("process-instances", self.instance | {"incident": True})
        failed = {
            "state": "FAILED",
            "retries": 0,
            "worker": "stock-worker",
            "errorMessage": message,
            "_lastUpdateTime": self.now,
        }
        return task, self.put("jobs", job | failed)

    def _resolve_incident(self, task: Row, job: Row) -> tuple[Row, Row]:
        # No resolution timestamp: the incident's state changes, nothing else (v1 and v2).
        self.incident = self.put("incidents", self.incident | {"state": "RESOLVED"})
        row = {k: v for k, v in task.items() if k != "incidentKey"} | {"incident": False}
        task = self.put("flownode-instances", row)
        self.instance = self.put("process-instances", self.instance | {"incident": False})
        retried = {k: v for k, v in job.items() if k not in ("errorMessage", "errorCode")}
        retried |= {"state": "RETRIES_UPDATED", "retries": 3, "_lastUpdateTime": self.now}
        return task, self.put("jobs", retried)

    def _evaluate(self, node: Row) -> None:
        groups = self.world._catalog.decisions[self.instance["tenantId"]]
        if not groups:
            return
        group = self.rng.choice(groups)
        eval_key = self.world.key(self.partition)
        for n, decision in enumerate(group, start=1):
            amount = self.rng.randrange(1, 5000)
            level = "high" if amount > 2500 else "low"
            row: Row = {
                "id": f"{eval_key}-{n}",
                "key": eval_key,
                "state": "EVALUATED",
                "evaluationDate": self.now,
                "processDefinitionKey": self.instance["processDefinitionKey"],
                "processInstanceKey": self.instance["key"],
                "decisionId": decision["decisionId"],
                "decisionDefinitionId": decision["id"],
                "decisionName": decision["name"],
                "decisionVersion": decision["version"],
                "decisionType": decision["_type"],
                "tenantId": self.instance["tenantId"],
                "_elementInstanceKey": node["key"],
                "evaluatedInputs": [{"id": "Input_1", "name": "amount", "value": str(amount)}],
                "result": orjson.dumps(level).decode(),
                "evaluatedOutputs": [
                    {
                        "id": "Output_1",
                        "name": "level",
                        "value": f'"{level}"',
                        "ruleId": f"Rule_{level}",
                        "ruleIndex": 1 if level == "high" else 2,
                    }
                ],
            }
            self.put("decision-instances", row, created=True)

    def _cancel(self, task: Row, job: Row) -> None:
        """Canceled: the active element terminates, its incident resolves, the job is canceled."""
        if getattr(self, "incident", None) is not None and self.incident["state"] == "ACTIVE":
            self.incident = self.put("incidents", self.incident | {"state": "RESOLVED"})
        self._complete_node(task | {"incident": False}, "TERMINATED")
        self.put("jobs", _finish_job(job, self.now, canceled=True))
        end = {"state": "CANCELED", "endDate": self.now, "incident": False}
        self.instance = self.put("process-instances", self.instance | end)
