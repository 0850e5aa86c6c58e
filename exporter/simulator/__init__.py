"""The bundled Operate simulator: a real loopback HTTP server with Operate v1 semantics.

    from exporter.simulator import Simulator, SimulatorConfig, FaultConfig
    with Simulator(SimulatorConfig(scale=200, seed=7)) as sim:
        ...  # sim.base_url, sim.stats(), sim.dataset.records("variables")

Modules: data (API-neutral dataset), v1 (wire rendering), query (search semantics),
api (routes), auth (five modes), faults, stats, server (HTTP + Simulator), command (CLI),
clock (simulated time, Date header), live (live mode: changes over time, importer lag).
"""

from exporter.simulator.faults import FaultConfig
from exporter.simulator.server import Simulator, SimulatorConfig

__all__ = ["FaultConfig", "Simulator", "SimulatorConfig"]
