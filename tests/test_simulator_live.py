"""The simulator's clock and live mode (issue 15 point 7): the oracle of incremental exports.

Everything goes over HTTP where a client would see it (Date header, /__sim/clock, search, GET by
key) and is compared with ``sim.truth``/``truth_window``/``truth_changes``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
import requests

from exporter.simulator import Simulator, SimulatorConfig
from exporter.simulator.clock import format_iso
from exporter.simulator.data import KEY_BITS
from exporter.simulator.v1 import format_date

START = 1795737600000  # 2026-11-27T00:00:00Z, the default clock
HOUR = 3_600_000
LIVE_RESOURCES = (
    "process-instances",
    "flownode-instances",
    "incidents",
    "variables",
    "decision-instances",
    "user-tasks",
    "jobs",
)
# (resource, v1 date field, v2 path, v2 date field): every endpoint with a date field.
DATED = (
    ("process-instances", "startDate", "process-instances", "startDate"),
    ("process-instances", "endDate", "process-instances", "endDate"),
    ("flownode-instances", "startDate", "element-instances", "startDate"),
    ("flownode-instances", "endDate", "element-instances", "endDate"),
    ("incidents", "creationTime", "incidents", "creationTime"),
    ("decision-instances", "evaluationDate", "decision-instances", "evaluationDate"),
)
V2_ONLY_DATED = (
    ("user-tasks", "creationDate"),
    ("user-tasks", "completionDate"),
    ("jobs", "endTime"),
)
UNIQUE = {"decision-instances": "id", "user-tasks": "userTaskKey", "jobs": "jobKey"}
V2_UNIQUE = {
    "process-instances": "processInstanceKey",
    "flownode-instances": "elementInstanceKey",
    "incidents": "incidentKey",
    "decision-instances": "decisionEvaluationInstanceKey",
    "user-tasks": "userTaskKey",
    "jobs": "jobKey",
}


def iso(ms: int) -> str:
    return format_iso(ms)


def date_header(response: requests.Response) -> int:
    return int(parsedate_to_datetime(response.headers["Date"]).timestamp() * 1000)


def advance(sim: Simulator, step: str | float) -> dict:
    answer = requests.post(f"{sim.base_url}/__sim/clock", json={"advance": step}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def v1_all(sim: Simulator, resource: str, filter_: dict) -> list[dict]:
    path = "drd" if resource == "decision-requirements" else resource
    body: dict = {"filter": filter_, "size": 1000}
    items: list[dict] = []
    while True:
        page = requests.post(f"{sim.base_url}/v1/{path}/search", json=body, timeout=60).json()
        items += page["items"]
        if len(page["items"]) < 1000:
            return items
        body["searchAfter"] = page["sortValues"]


def v2_all(sim: Simulator, path: str, filter_: dict) -> list[dict]:
    body: dict = {"filter": filter_, "page": {"limit": 1000}}
    items: list[dict] = []
    while True:
        answer = requests.post(f"{sim.base_url}/v2/{path}/search", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["items"]
        if len(page["items"]) < 1000:
            return items
        body["page"] = {"limit": 1000, "after": page["page"]["endCursor"]}


def keys_of(rows: list[dict], resource: str) -> set:
    return {r[UNIQUE.get(resource, "key")] for r in rows}


# -- the clock ---------------------------------------------------------------------------


def test_every_answer_carries_the_date_of_the_standing_clock(make_simulator):
    sim = make_simulator(scale=20, api="both")
    for answer in (
        requests.post(f"{sim.base_url}/v1/process-instances/search", json={}, timeout=10),
        requests.post(f"{sim.base_url}/v2/process-instances/search", json={}, timeout=10),
        requests.get(f"{sim.base_url}/v1/process-instances/1", timeout=10),  # 404 too
        requests.get(f"{sim.base_url}/__sim/stats", timeout=10),
    ):
        assert answer.headers["Date"] == "Fri, 27 Nov 2026 00:00:00 GMT"
    clock = requests.get(f"{sim.base_url}/__sim/clock", timeout=10).json()
    assert clock == {
        "now": "2026-11-27T00:00:00.000Z",
        "epochMillis": START,
        "rate": 0.0,
        "live": False,
    }
    assert sim.now() == START


def test_the_clock_is_set_and_advanced_and_the_date_header_follows(make_simulator):
    sim = make_simulator(scale=20)
    answer = requests.post(
        f"{sim.base_url}/__sim/clock", json={"set": "2026-12-24T18:30:15.250+01:00"}, timeout=10
    )
    assert answer.json()["now"] == "2026-12-24T17:30:15.250Z"
    assert answer.headers["Date"] == "Thu, 24 Dec 2026 17:30:15 GMT"
    assert advance(sim, "PT1H30M")["now"] == "2026-12-24T19:00:15.250Z"
    assert advance(sim, 44.75)["now"] == "2026-12-24T19:01:00.000Z"
    assert sim.clock.advance(60) == sim.now()
    sim.clock.set("2026-11-27T10:00:00Z")
    search = requests.post(f"{sim.base_url}/v1/incidents/search", json={}, timeout=10)
    assert date_header(search) == datetime(2026, 11, 27, 10, tzinfo=UTC).timestamp() * 1000
    # Without live mode the clock may go back; the data never changes with it.
    assert sim.clock.set(START - HOUR) == START - HOUR
    assert sim.truth("process-instances") == sim.dataset.raw_rows("process-instances")


@pytest.mark.parametrize(
    "body",
    [
        {"set": "yesterday"},
        {"set": "2026-11-27T10:00:00"},
        {"advance": "one hour"},
        {"advance": -5},
        {"advance": True},
        {},
        {"set": "2026-11-27T10:00:00Z", "advance": 5},
        [],
    ],
)
def test_bad_clock_moves_are_400_naming_the_problem(make_simulator, body):
    sim = make_simulator(scale=5)
    answer = requests.post(f"{sim.base_url}/__sim/clock", json=body, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["message"]
    assert sim.now() == START


def test_live_mode_refuses_to_go_back_in_time(make_simulator):
    sim = make_simulator(scale=5, live=True)
    advance(sim, "PT10M")
    answer = requests.post(f"{sim.base_url}/__sim/clock", json={"set": iso(START)}, timeout=10)
    assert answer.status_code == 400 and "back in time" in answer.json()["message"]
    assert sim.now() == START + 10 * 60_000


def test_a_flowing_clock_moves_by_itself(make_simulator):
    sim = make_simulator(scale=5, clock_rate=3600.0, clock_start="2027-01-01T00:00:00Z")
    first = date_header(requests.get(f"{sim.base_url}/__sim/clock", timeout=10))
    time.sleep(1.1)
    later = requests.get(f"{sim.base_url}/__sim/clock", timeout=10).json()["epochMillis"]
    assert first >= 1798761600000 and later - first >= 3600 * 1000  # >= one simulated hour


# -- live mode: what happens as time passes ------------------------------------------------


@pytest.fixture(scope="module")
def live_hour():
    """Live, both APIs, 2 h of activity, everything visible (clock 10 min past the last)."""
    sim = Simulator(SimulatorConfig(scale=300, port=0, api="both", live=True)).start()
    try:
        sim.clock.advance(2 * 3600)
        advance(sim, "PT10M")
        yield sim
    finally:
        sim.stop()


def test_advancing_starts_runs_and_finishes_instances(live_hour):
    sim = live_hour
    changes = sim.truth_changes(START, START + 2 * HOUR)
    by_resource = defaultdict(list)
    for change in changes:
        by_resource[change.resource].append(change)
    created = {r: {c.key for c in cs if c.created} for r, cs in by_resource.items()}
    assert len(created["process-instances"]) > 600  # ~10 per minute
    for resource in LIVE_RESOURCES:
        assert created[resource], resource
    instances = sim.truth("process-instances")
    states = defaultdict(int)
    for row in instances:
        if row["key"] in created["process-instances"]:
            states[row["state"]] += 1
            assert ("endDate" in row) == (row["state"] != "ACTIVE")
            assert row["startDate"] >= START
    assert states["COMPLETED"] and states["CANCELED"] and states["ACTIVE"]
    # Running instances of the generated history finish too.
    history = _history(sim)
    finished = [
        r
        for r in instances
        if r["key"] in history and history[r["key"]]["state"] == "ACTIVE" and r["state"] != "ACTIVE"
    ]
    assert finished and all(START < r["endDate"] <= sim.now() for r in finished)
    # And over HTTP: a new instance by key, with its v2 shape.
    key = max(created["process-instances"])
    v1 = requests.get(f"{sim.base_url}/v1/process-instances/{key}", timeout=10).json()
    v2 = requests.get(f"{sim.base_url}/v2/process-instances/{key}", timeout=10).json()
    assert v1["key"] == key and v2["processInstanceKey"] == str(key)
    truth = next(r for r in instances if r["key"] == key)
    assert v1["startDate"] == format_date(truth["startDate"]) and v2["startDate"] == iso(
        truth["startDate"]
    )


def _history(sim: Simulator) -> dict:
    return {r["key"]: r for r in sim.live.base_rows["process-instances"]}  # type: ignore[union-attr]


def test_incidents_open_and_resolve_without_a_resolution_timestamp(live_hour):
    sim = live_hour
    states = defaultdict(list)
    for change in sim.truth_changes(START, START + 2 * HOUR, "incidents"):
        states[change.key].append(change.row)
    reopened = [
        rows for rows in states.values() if [r["state"] for r in rows] == ["ACTIVE", "RESOLVED"]
    ]
    assert reopened, "some incident opened and resolved within the two hours"
    opened, resolved = reopened[0]
    assert resolved == opened | {"state": "RESOLVED"}  # only the state changes
    v1 = requests.get(f"{sim.base_url}/v1/incidents/{opened['key']}", timeout=10).json()
    assert v1["state"] == "RESOLVED" and set(v1) <= set(opened) - {
        "_elementInstanceKey",
        "_elementId",
    }
    v2 = requests.get(f"{sim.base_url}/v2/incidents/{opened['key']}", timeout=10).json()
    assert v2["state"] == "RESOLVED" and v2["creationTime"] == iso(opened["creationTime"])
    # The instance's incident flag went up and down with it.
    flags = [
        c.row["incident"]
        for c in sim.truth_changes(START, START + 2 * HOUR, "process-instances")
        if c.key == opened["processInstanceKey"]
    ]
    assert True in flags and flags[-1] is False


def test_variables_are_overwritten_in_place_without_a_timestamp(live_hour):
    sim = live_hour
    versions = defaultdict(list)
    for change in sim.truth_changes(START, START + 2 * HOUR, "variables"):
        versions[change.key].append(change.row)
    overwritten = [rows for rows in versions.values() if len(rows) == 2]
    assert overwritten
    before, after = overwritten[0]
    assert before["value"] != after["value"] and {k for k in before if before[k] != after[k]} == {
        "value"
    }
    assert not any("date" in f.lower() or "time" in f.lower() for f in after)
    got = requests.get(f"{sim.base_url}/v1/variables/{after['key']}", timeout=10).json()
    assert got["value"] == after["value"]


def test_decisions_tasks_and_jobs_follow_their_elements(live_hour):
    sim = live_hour
    window = (START, START + 2 * HOUR)
    decisions = sim.truth_window("decision-instances", "evaluationDate", *window)
    assert decisions and all(d["id"].startswith(f"{d['key']}-") for d in decisions)
    tasks = sim.truth_window("user-tasks", "creationDate", *window)
    assert {t["state"] for t in tasks} >= {"CREATED", "COMPLETED"}
    assert all(("completionDate" in t) == (t["state"] == "COMPLETED") for t in tasks)
    jobs = sim.truth_window("jobs", "_creationTime", *window)
    assert {j["state"] for j in jobs} >= {"COMPLETED", "CANCELED"}
    assert all(("endTime" in j) == (j["state"] in ("COMPLETED", "CANCELED")) for j in jobs)


def test_keys_are_unique_and_increase_with_creation_per_partition(live_hour):
    sim = live_hour
    history_max = defaultdict(int)
    for resource in LIVE_RESOURCES:
        for row in sim.live.base_rows[resource]:  # type: ignore[union-attr]
            for key in (row.get("key"), row.get("jobKey"), row.get("userTaskKey")):
                if isinstance(key, int):
                    history_max[key >> KEY_BITS] = max(history_max[key >> KEY_BITS], key)
    created = [c for c in sim.truth_changes(START, START + 3 * HOUR) if c.created]
    keys = [c.row["key"] if c.resource == "decision-instances" else c.key for c in created]
    evaluation_keys = {c.row["key"] for c in created if c.resource == "decision-instances"}
    # One evaluation key per evaluation (its decision instances share it, ids differ).
    distinct = [k for c, k in zip(created, keys, strict=True) if c.resource != "decision-instances"]
    assert len(set(distinct)) == len(distinct) and not set(distinct) & evaluation_keys
    by_partition = defaultdict(list)
    for change, key in zip(created, keys, strict=True):
        by_partition[key >> KEY_BITS].append((change.time, change.seq, key))
    assert set(by_partition) == set(range(1, 7))
    for partition, entries in by_partition.items():
        in_creation_order = [k for _, _, k in sorted(entries)]
        assert in_creation_order == sorted(in_creation_order)
        assert in_creation_order[0] > history_max[partition]


# -- visibility ------------------------------------------------------------------------------


def _search_key(sim: Simulator, resource: str, key: int) -> list[dict]:
    return v1_all(sim, resource, {"key": key})


def test_a_record_dated_t_shows_exactly_at_t_plus_lag(make_simulator):
    sim = make_simulator(scale=20, live=True, visibility_lag=120.0)
    advance(sim, "PT10M")
    now = sim.now()
    fresh = [c for c in sim.truth_changes(now - 110_000, now + 1, "process-instances") if c.created]
    assert fresh
    change = fresh[0]
    assert change.visible_at == change.time + 120_000 and change.row["startDate"] == change.time
    sim.clock.set(change.time + 119_000)
    url = f"{sim.base_url}/v1/process-instances/{change.key}"
    assert requests.get(url, timeout=10).status_code == 404
    assert _search_key(sim, "process-instances", change.key) == []
    assert change.key not in keys_of(sim.truth("process-instances"), "process-instances")
    sim.clock.set(change.time + 120_000)
    assert requests.get(url, timeout=10).json()["startDate"] == format_date(change.time)
    assert len(_search_key(sim, "process-instances", change.key)) == 1
    assert change.key in keys_of(sim.truth("process-instances"), "process-instances")


def test_a_finished_instance_shows_active_until_its_end_is_visible(make_simulator):
    sim = make_simulator(scale=20, live=True, visibility_lag=30.0)
    advance(sim, "PT30M")
    ends = [
        c
        for c in sim.truth_changes(START + 5 * 60_000, START + 29 * 60_000, "process-instances")
        if c.row["state"] == "COMPLETED" and c.row["startDate"] < c.time - 60_000
    ]
    assert ends
    end = ends[-1]
    # A later move past the end; the truth as of just before end + lag still shows it running.
    before = {r["key"]: r for r in sim.truth("process-instances", as_of=end.time + 29_999)}
    after = {r["key"]: r for r in sim.truth("process-instances", as_of=end.time + 30_000)}
    assert before[end.key]["state"] == "ACTIVE" and "endDate" not in before[end.key]
    assert after[end.key]["state"] == "COMPLETED" and after[end.key]["endDate"] == end.time
    # Over HTTP on a fresh simulator whose clock stops at those instants.
    replay = make_simulator(scale=20, live=True, visibility_lag=30.0)
    replay.clock.set(end.time + 29_999)
    url = f"{replay.base_url}/v1/process-instances/{end.key}"
    running = requests.get(url, timeout=10).json()
    assert running["state"] == "ACTIVE" and "endDate" not in running
    assert v1_all(replay, "process-instances", {"endDate": format_date(end.time)}) == []
    replay.clock.set(end.time + 30_000)
    done = requests.get(url, timeout=10).json()
    assert done["state"] == "COMPLETED" and done["endDate"] == format_date(end.time)
    assert [
        r["key"] for r in v1_all(replay, "process-instances", {"endDate": format_date(end.time)})
    ] == [end.key]


def test_late_records_show_late_seconds_after_their_change(make_simulator):
    sim = make_simulator(
        scale=20, live=True, late_fraction=1.0, late_seconds=90.0, late_resources=("incidents",)
    )
    advance(sim, "PT2H")
    incidents = [c for c in sim.truth_changes(START, START + 2 * HOUR, "incidents") if c.created]
    others = [c for c in sim.truth_changes(START, START + 2 * HOUR, "flownode-instances")]
    assert incidents and all(c.visible_at == c.time + 90_000 for c in incidents)
    assert others and all(c.visible_at == c.time + 5_000 for c in others)
    first = incidents[0]
    at_lag = {r["key"] for r in sim.truth("incidents", as_of=first.time + 89_999)}
    assert first.key not in at_lag
    assert first.key in {r["key"] for r in sim.truth("incidents", as_of=first.time + 90_000)}


def test_late_fraction_picks_a_share_of_changes(make_simulator):
    sim = make_simulator(scale=20, live=True, late_fraction=0.25, late_seconds=60.0)
    advance(sim, "PT1H")
    changes = sim.truth_changes(START, START + HOUR)
    late = sum(c.visible_at - c.time == 60_000 for c in changes)
    assert 0.15 < late / len(changes) < 0.35


# -- search windows against the truth ----------------------------------------------------------


def _hour_bucket(ms: int) -> str:
    return format_date(ms - ms % HOUR) + "||/h"


@pytest.mark.parametrize(("resource", "field", "v2_path", "v2_field"), DATED)
def test_v1_date_math_and_v2_ranges_match_the_truth(live_hour, resource, field, v2_path, v2_field):
    sim = live_hour
    for hour in range(2):
        low, high = START + hour * HOUR, START + (hour + 1) * HOUR
        expected = keys_of(sim.truth_window(resource, field, low, high), resource)
        assert expected, (resource, field, hour)
        got_v1 = keys_of(v1_all(sim, resource, {field: _hour_bucket(low)}), resource)
        assert got_v1 == expected
        window = {v2_field: {"$gte": iso(low), "$lt": iso(high)}}
        got_v2 = {r[V2_UNIQUE[resource]] for r in v2_all(sim, v2_path, window)}
        assert got_v2 == {str(k) for k in expected}
    day = keys_of(v1_all(sim, resource, {field: format_date(START + 5) + "||/d"}), resource)
    assert day == keys_of(sim.truth_window(resource, field, START, START + 24 * HOUR), resource)


@pytest.mark.parametrize(("resource", "field"), V2_ONLY_DATED)
def test_v2_only_date_windows_match_the_truth(live_hour, resource, field):
    sim = live_hour
    low, high = START + 30 * 60_000, START + 90 * 60_000
    expected = {str(r[UNIQUE[resource]]) for r in sim.truth_window(resource, field, low, high)}
    got = {
        r[UNIQUE[resource]]
        for r in v2_all(sim, resource, {field: {"$gte": iso(low), "$lt": iso(high)}})
    }
    assert expected and got == expected


def test_window_bounds_are_exact_to_the_millisecond(live_hour):
    """Operate's ||/h is [floor, floor + 1 h): the last millisecond of an hour rounds into that
    hour, the first of the next does not; v2 $gte includes, $gt and $lt exclude the instant."""
    sim = live_hour
    row = sim.truth_window("flownode-instances", "endDate", START, START + HOUR)[0]
    when, key = row["endDate"], row["key"]
    floor = when - when % HOUR

    def v1_has(value: str) -> bool:
        return key in keys_of(v1_all(sim, "flownode-instances", {"endDate": value}), "x")

    assert v1_has(format_date(when)) and not v1_has(format_date(when + 1))
    assert v1_has(format_date(floor) + "||/h") and v1_has(format_date(floor + HOUR - 1) + "||/h")
    assert not v1_has(format_date(floor - 1) + "||/h") and not v1_has(
        format_date(floor + HOUR) + "||/h"
    )
    assert v1_has(format_date(when) + "||/m") and v1_has(format_date(when) + "||/s")

    def v2_has(condition: dict) -> bool:
        items = v2_all(sim, "element-instances", {"endDate": condition})
        return str(key) in {r["elementInstanceKey"] for r in items}

    assert v2_has({"$gte": iso(when), "$lt": iso(when + 1)})
    assert not v2_has({"$gt": iso(when)}) and not v2_has({"$lt": iso(when)})
    assert v2_has({"$lte": iso(when), "$gte": iso(when - HOUR)}) and v2_has(iso(when))
    assert not v2_has({"$gte": iso(when + 1), "$lt": iso(when + HOUR)})


def test_searches_sort_over_the_visible_state(live_hour):
    sim = live_hour
    body = {"sort": [{"field": "endDate", "order": "DESC"}], "size": 5}
    page = requests.post(
        f"{sim.base_url}/v1/process-instances/search", json=body, timeout=10
    ).json()
    newest = sorted(
        (r for r in sim.truth("process-instances") if "endDate" in r),
        key=lambda r: (-r["endDate"], r["key"]),
    )[:5]
    assert [i["key"] for i in page["items"]] == [r["key"] for r in newest]
    everything = v1_all(sim, "process-instances", {})
    assert [i["key"] for i in everything] == sorted(
        r["key"] for r in sim.truth("process-instances")
    )


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_and_time_give_the_same_data_whatever_the_steps(make_simulator):
    one_step = make_simulator(scale=30, live=True, seed=11)
    many_steps = make_simulator(scale=30, live=True, seed=11)
    one_step.clock.advance(3600)
    for _ in range(60):
        advance(many_steps, 60)
    assert one_step.now() == many_steps.now()
    for resource in LIVE_RESOURCES:
        assert one_step.truth(resource) == many_steps.truth(resource), resource
    a = one_step.truth_changes(START, START + HOUR)
    b = many_steps.truth_changes(START, START + HOUR)
    assert len(a) > 1000 and a == b
    other_seed = make_simulator(scale=30, live=True, seed=12)
    other_seed.clock.advance(3600)
    assert other_seed.truth("process-instances") != one_step.truth("process-instances")


def test_without_live_mode_the_data_and_truth_are_the_generated_dataset(make_simulator):
    sim = make_simulator(scale=50)
    before = {r: list(sim.dataset.raw_rows(r)) for r in LIVE_RESOURCES}
    advance(sim, "P3D")
    for resource in LIVE_RESOURCES:
        assert sim.truth(resource) == before[resource] == sim.dataset.raw_rows(resource)
    assert sim.truth("variables", api="v1") == sim.dataset.records("variables")
    assert sim.truth_changes(START, START + 10 * HOUR) == []


def test_simulate_live_serves_a_moving_cluster():
    env = {**os.environ, "SIM_EXIT_AFTER": "30"}
    command = [
        sys.executable,
        "-c",
        "from exporter.simulator.command import simulate; simulate()",
        "--port",
        "0",
        "--scale",
        "10",
        "--live",
        "--visibility-lag",
        "1",
    ]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        base = re.search(r"base URL:\s+(\S+)", "".join(lines)).group(1)
        assert "clock:     2026-11-27T00:00:00.000Z (standing still; live" in "".join(lines)
        before = requests.post(
            f"{base}/v1/process-instances/search", json={"size": 100}, timeout=10
        )
        moved = requests.post(f"{base}/__sim/clock", json={"advance": "PT30M"}, timeout=10)
        after = requests.post(f"{base}/v1/process-instances/search", json={"size": 100}, timeout=10)
        assert moved.json()["now"] == "2026-11-27T00:30:00.000Z"
        assert after.headers["Date"] == "Fri, 27 Nov 2026 00:30:00 GMT"
        assert after.json()["total"] > before.json()["total"] == 10
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # closes the pipes
