"""v2 variables: whole values in the search itself (``?truncateValues=false``) when the export
hydrates, so no lookups; a server that ignores the parameter (8.8 builds from before it) still
gets its cut values completed by GET lookups; ``hydrate: false`` keeps the server's cut values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporter.pipeline.runner import run_job
from exporter.simulator import Simulator, SimulatorConfig
from exporter.spec import ExportSpec
from tests.test_runner import read_snapshot
from tests.test_v2_export import v2_job

THRESHOLD = 40


def export_variables(sim: Simulator, out: Path, *, hydrate: bool) -> list[dict[str, Any]]:
    sim.reset_stats()
    export = ExportSpec(endpoint="variables", name="var", page_size=50, hydrate=hydrate)
    result = run_job(v2_job(sim.base_url, out, export))
    assert result.ok, result.exports[0].error
    location = result.exports[0].location
    assert location is not None
    return read_snapshot(location)


def variable_gets(sim: Simulator) -> int:
    return int(sim.stats().get("gets", {}).get("variables", 0))


def long_values(sim: Simulator) -> int:
    return sum(len(v["value"]) > THRESHOLD for v in sim.dataset.records("variables", api="v2"))


def test_hydrating_export_asks_for_whole_values_and_looks_nothing_up(tmp_path: Path) -> None:
    with Simulator(
        SimulatorConfig(scale=60, seed=3, api="v2", variable_threshold=THRESHOLD)
    ) as sim:
        assert long_values(sim) > 0  # else the search would truncate nothing
        records = export_variables(sim, tmp_path / "out", hydrate=True)
        assert records == sim.dataset.records("variables", api="v2")
        assert variable_gets(sim) == 0


def test_a_server_ignoring_the_parameter_gets_its_cut_values_looked_up(tmp_path: Path) -> None:
    config = SimulatorConfig(
        scale=60, seed=3, api="v2", variable_threshold=THRESHOLD, truncate_values_param=False
    )
    with Simulator(config) as sim:
        records = export_variables(sim, tmp_path / "out", hydrate=True)
        assert records == sim.dataset.records("variables", api="v2")
        assert variable_gets(sim) == long_values(sim) > 0


def test_hydrate_false_keeps_the_servers_cut_values(tmp_path: Path) -> None:
    with Simulator(
        SimulatorConfig(scale=60, seed=3, api="v2", variable_threshold=THRESHOLD)
    ) as sim:
        records = export_variables(sim, tmp_path / "out", hydrate=False)
        cut = [r for r in records if r["isTruncated"]]
        assert len(cut) == long_values(sim) > 0
        assert all(len(r["value"]) == THRESHOLD for r in cut)
        assert variable_gets(sim) == 0
