"""The three scenarios of issue 7: fast server, big export, slow server.

Each scenario starts its own simulator process, establishes the true record counts, runs its
clients ``runs`` times in interleaved rounds (so drift on a shared machine hits all clients alike)
and returns table rows with medians, ratios and PASS/FAIL against the targets.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from clients import (
    establish_truth,
    export_spec,
    run_dlt,
    run_export,
    run_limit,
    run_split_writer,
)
from harness import Figure, Sample, SimulatorProcess

from exporter.api import ENDPOINT_NAMES, get_endpoint

FLOWNODES = "flownode-instances"
PAGE_SIZE = 1000
SEED = 7


@dataclass(frozen=True)
class Config:
    runs: int
    work: Path
    fast_scale: int
    big_scale: int
    big_baseline_records: int
    slow_scale: int
    slow_latency_ms: int
    dlt_python: str | None  # None = skip the dlt peer
    quick: bool
    experiments: bool = True  # also measure bench/split_writer.py (a prototype, informational)


@dataclass
class Row:
    scenario: str
    client: str
    figure: Figure
    ratio: str = ""
    target: str = ""
    verdict: str = ""  # PASS / FAIL / "" (informational)


@dataclass
class ScenarioResult:
    name: str
    description: str
    rows: list[Row] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    # 1-minute load average before and after: the machine may be shared (CI, other jobs).
    load: tuple[float, float] = (0.0, 0.0)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _rounds(
    cfg: Config,
    scenario: str,
    sim: SimulatorProcess,
    clients: dict[str, Callable[[], Sample]],
) -> dict[str, Figure]:
    _log(f"  {scenario}: load average {os.getloadavg()[0]:.2f} before measuring")
    samples: dict[str, list[Sample]] = defaultdict(list)
    for run in range(1, cfg.runs + 1):
        for name, measure in clients.items():
            server_before = sim.cpu_seconds()
            sample = replace(measure(), server_cpu_s=sim.cpu_seconds() - server_before)
            samples[name].append(sample)
            _log(
                f"  {scenario} / {name} run {run}/{cfg.runs}: {sample.records} records, "
                f"{sample.wall_s:.2f} s wall, {sample.cpu_s:.2f} s CPU, "
                f"{sample.peak_rss_mb:.0f} MB; simulator {sample.server_cpu_s:.2f} s CPU"
            )
    return {name: Figure.of(found) for name, found in samples.items()}


def fast_server(cfg: Config) -> ScenarioResult:
    endpoint = get_endpoint(FLOWNODES)
    work = cfg.work / "fast"
    work.mkdir(parents=True, exist_ok=True)
    result = ScenarioResult(
        "fast server",
        f"{FLOWNODES}, simulator scale {cfg.fast_scale}, page size {PAGE_SIZE}, no added latency",
    )
    with SimulatorProcess(
        scale=cfg.fast_scale, seed=SEED, latency_ms=0, log_path=work / "simulator.log"
    ) as sim:
        _log(f"fast server: simulator at {sim.base_url}; counting records ...")
        expected = establish_truth(sim, endpoint.path, PAGE_SIZE)
        _log(f"fast server: {expected} records")

        def export(fmt: str) -> Sample:
            spec = export_spec(
                sim.base_url,
                [{"endpoint": FLOWNODES, "page_size": PAGE_SIZE}],
                fmt=fmt,
                out_dir=work / f"out-{fmt}",
            )
            return run_export(spec, {FLOWNODES: expected}, work, f"export-{fmt}")

        clients: dict[str, Callable[[], Sample]] = {
            "limit": lambda: run_limit(sim, endpoint.path, PAGE_SIZE, expected, work),
        }
        if cfg.dlt_python:
            python = cfg.dlt_python
            clients["dlt rest_api -> parquet"] = lambda: run_dlt(
                sim, endpoint.path, PAGE_SIZE, expected, work, python
            )
        clients["operate-export parquet"] = lambda: export("parquet")
        clients["operate-export jsonl"] = lambda: export("jsonl")
        if cfg.experiments:
            for fmt in ("parquet", "jsonl"):
                clients[f"experiment: split-process {fmt}"] = lambda fmt=fmt: run_split_writer(
                    sim, FLOWNODES, PAGE_SIZE, expected, work, fmt
                )
        figures = _rounds(cfg, "fast", sim, clients)

    limit = figures["limit"]
    result.rows.append(Row(result.name, "limit", limit, "1.00x", "(reference)"))
    dlt = figures.get("dlt rest_api -> parquet")
    if dlt:
        result.rows.append(
            Row(result.name, "dlt rest_api -> parquet", dlt, f"{dlt.wall_s / limit.wall_s:.2f}x")
        )
    for client, bound in (("operate-export parquet", 1.5), ("operate-export jsonl", 1.3)):
        fig = figures[client]
        ratio = fig.wall_s / limit.wall_s
        result.rows.append(
            Row(
                result.name, client, fig, f"{ratio:.2f}x wall",
                f"<= {bound}x limit wall", _verdict(ratio <= bound),
            )
        )  # fmt: skip
    if dlt:
        parquet = figures["operate-export parquet"]
        speedup = parquet.records_per_s / dlt.records_per_s
        result.rows.append(
            Row(
                result.name, "parquet vs dlt", parquet, f"{speedup:.1f}x rec/s",
                ">= 8x dlt rec/s", _verdict(speedup >= 8),
            )
        )  # fmt: skip
    for fmt, bound in (("parquet", 1.5), ("jsonl", 1.3)):
        fig = figures.get(f"experiment: split-process {fmt}")
        if fig:
            ratio = fig.wall_s / limit.wall_s
            result.rows.append(
                Row(
                    result.name, f"experiment: split-process {fmt}", fig, f"{ratio:.2f}x wall",
                    f"(information; <= {bound}x)",
                )
            )  # fmt: skip
    result.commands = [
        f"python -m exporter simulate --port 0 --scale {cfg.fast_scale} --seed {SEED} "
        "--latency-ms 0",
        f"python bench/limit_client.py $BASE_URL {endpoint.path} {PAGE_SIZE}",
        f"python bench/dlt_peer.py $BASE_URL {endpoint.path} {PAGE_SIZE} $OUT",
        "python -m exporter run fast-parquet.yaml   # exports: [{endpoint: flownode-instances, "
        "page_size: 1000}], output.format: parquet",
        "python -m exporter run fast-jsonl.yaml     # the same with output.format: jsonl",
        f"python bench/split_writer.py $BASE_URL {FLOWNODES} {PAGE_SIZE} $OUT parquet|jsonl"
        "   # experiment",
    ]
    return result


def v2_fast_server(cfg: Config) -> ScenarioResult:
    """The fast server on v2 (issue 12 point 6): element instances paged with ``page.after``,
    operate-export Parquet and JSONL against a v2 limit client (same sort, orjson per page)."""
    endpoint = get_endpoint(FLOWNODES, "v2")
    sort_key = endpoint.unique_key  # operate-export appends it as the tie-breaker
    work = cfg.work / "v2-fast"
    work.mkdir(parents=True, exist_ok=True)
    result = ScenarioResult(
        "v2 fast server",
        f"{FLOWNODES} ({endpoint.path}), simulator --api v2, scale {cfg.fast_scale}, "
        f"page limit {PAGE_SIZE}, no added latency",
    )
    with SimulatorProcess(
        scale=cfg.fast_scale, seed=SEED, latency_ms=0, log_path=work / "simulator.log", api="v2"
    ) as sim:
        _log(f"v2 fast server: simulator at {sim.base_url}; counting records ...")
        expected = establish_truth(sim, endpoint.path, PAGE_SIZE, "v2", sort_key)
        _log(f"v2 fast server: {expected} records")

        def export(fmt: str) -> Sample:
            spec = export_spec(
                sim.base_url,
                [{"endpoint": FLOWNODES, "page_size": PAGE_SIZE}],
                fmt=fmt,
                out_dir=work / f"out-{fmt}",
                api="v2",
            )
            return run_export(spec, {FLOWNODES: expected}, work, f"v2-export-{fmt}")

        clients: dict[str, Callable[[], Sample]] = {
            "limit": lambda: run_limit(
                sim, endpoint.path, PAGE_SIZE, expected, work, "v2", sort_key
            ),
            "operate-export parquet": lambda: export("parquet"),
            "operate-export jsonl": lambda: export("jsonl"),
        }
        figures = _rounds(cfg, "v2 fast", sim, clients)

    limit = figures["limit"]
    result.rows.append(Row(result.name, "v2 limit", limit, "1.00x", "(reference)"))
    parquet = figures["operate-export parquet"]
    ratio = parquet.wall_s / limit.wall_s
    result.rows.append(
        Row(
            result.name, "operate-export parquet (v2)", parquet, f"{ratio:.2f}x wall",
            "<= 1.35x v2 limit wall", _verdict(ratio <= 1.35),
        )
    )  # fmt: skip
    jsonl = figures["operate-export jsonl"]
    result.rows.append(
        Row(
            result.name, "operate-export jsonl (v2)", jsonl,
            f"{jsonl.wall_s / limit.wall_s:.2f}x wall", "(information; v1's target <= 1.3x)",
        )
    )  # fmt: skip
    result.commands = [
        f"python -m exporter simulate --port 0 --scale {cfg.fast_scale} --seed {SEED} "
        "--latency-ms 0 --api v2",
        f"python bench/limit_client.py $BASE_URL {endpoint.path} {PAGE_SIZE} v2 {sort_key}",
        "python -m exporter run v2-fast-parquet.yaml   # source.api: v2, exports: [{endpoint: "
        "flownode-instances, page_size: 1000}], output.format: parquet",
        "python -m exporter run v2-fast-jsonl.yaml     # the same with output.format: jsonl",
    ]
    return result


def big_export(cfg: Config) -> ScenarioResult:
    endpoint = get_endpoint(FLOWNODES)
    work = cfg.work / "big"
    work.mkdir(parents=True, exist_ok=True)
    result = ScenarioResult(
        "big export",
        f"{FLOWNODES}, simulator scale {cfg.big_scale}, page size {PAGE_SIZE}, Parquet; "
        f"baseline: the same export with max_records {cfg.big_baseline_records}",
    )
    with SimulatorProcess(
        scale=cfg.big_scale, seed=SEED, latency_ms=0, log_path=work / "simulator.log"
    ) as sim:
        _log(f"big export: simulator at {sim.base_url}; counting records ...")
        expected = establish_truth(sim, endpoint.path, PAGE_SIZE)
        baseline = min(expected, cfg.big_baseline_records)
        _log(f"big export: {expected} records (baseline {baseline})")

        def export(max_records: int | None, label: str, count: int) -> Sample:
            item: dict[str, object] = {"endpoint": FLOWNODES, "page_size": PAGE_SIZE}
            if max_records is not None:
                item["max_records"] = max_records
            spec = export_spec(sim.base_url, [item], fmt="parquet", out_dir=work / f"out-{label}")
            return run_export(spec, {FLOWNODES: count}, work, label)

        figures = _rounds(
            cfg,
            "big",
            sim,
            {
                f"parquet {baseline} records": lambda: export(baseline, "baseline", baseline),
                f"parquet {expected} records": lambda: export(None, "full", expected),
            },
        )
    base_fig = figures[f"parquet {baseline} records"]
    full_fig = figures[f"parquet {expected} records"]
    growth = full_fig.peak_rss_mb / base_fig.peak_rss_mb
    base_label = f"operate-export parquet {baseline}"
    result.rows.append(Row(result.name, base_label, base_fig, "1.00x RSS"))
    result.rows.append(
        Row(
            result.name, f"operate-export parquet {expected}", full_fig,
            f"{growth:.2f}x RSS", "RSS < 250 MB, <= 1.15x baseline",
            _verdict(full_fig.peak_rss_mb < 250 and growth <= 1.15 and expected >= 1_000_000),
        )
    )  # fmt: skip
    result.commands = [
        f"python -m exporter simulate --port 0 --scale {cfg.big_scale} --seed {SEED} "
        "--latency-ms 0",
        "python -m exporter run big-full.yaml       # flownode-instances, parquet",
        f"python -m exporter run big-baseline.yaml   # the same with max_records: "
        f"{cfg.big_baseline_records}",
    ]
    return result


def slow_server(cfg: Config) -> ScenarioResult:
    work = cfg.work / "slow"
    work.mkdir(parents=True, exist_ok=True)
    result = ScenarioResult(
        "slow server",
        f"all {len(ENDPOINT_NAMES)} endpoints, simulator scale {cfg.slow_scale}, "
        f"{cfg.slow_latency_ms} ms added latency per request, Parquet",
    )
    with SimulatorProcess(
        scale=cfg.slow_scale,
        seed=SEED,
        latency_ms=cfg.slow_latency_ms,
        log_path=work / "simulator.log",
    ) as sim:
        _log(f"slow server: simulator at {sim.base_url}; counting records ...")
        expected = {
            name: establish_truth(sim, get_endpoint(name).path, PAGE_SIZE)
            for name in ENDPOINT_NAMES
        }
        _log(f"slow server: {expected}")

        def export(
            concurrency: int | None,
            label: str,
            hydrate: bool = True,
            hydration_concurrency: int | None = None,
        ) -> Sample:
            # hydrate: false (variables only) is informational: it shows how much of the time
            # is the per-variable GETs rather than the search pages.
            exports = [
                {"endpoint": name} if hydrate or name != "variables"
                else {"endpoint": name, "hydrate": False}
                for name in ENDPOINT_NAMES
            ]  # fmt: skip
            spec = export_spec(
                sim.base_url, exports, fmt="parquet", out_dir=work / f"out-{label}",
                concurrency=concurrency,
            )  # fmt: skip
            if hydration_concurrency is not None:
                spec["hydration_concurrency"] = hydration_concurrency
            return run_export(spec, expected, work, label)

        figures = _rounds(
            cfg,
            "slow",
            sim,
            {
                "concurrency 1": lambda: export(1, "sequential"),
                "concurrency default": lambda: export(None, "default"),
                "concurrency 1, no hydration": lambda: export(1, "sequential-nohydrate", False),
                "concurrency default, no hydration": lambda: export(
                    None, "default-nohydrate", False
                ),
                # Everything one request at a time: what all the concurrency together buys.
                "fully sequential": lambda: export(1, "fully-sequential", True, 1),
            },
        )
    for suffix, target in (("", "<= 0.35x sequential"), (", no hydration", "(information)")):
        sequential = figures[f"concurrency 1{suffix}"]
        default = figures[f"concurrency default{suffix}"]
        ratio = default.wall_s / sequential.wall_s
        verdict = _verdict(ratio <= 0.35) if not suffix else ""
        result.rows.append(
            Row(result.name, f"operate-export concurrency: 1{suffix}", sequential, "1.00x")
        )
        result.rows.append(
            Row(
                result.name, f"operate-export default concurrency{suffix}", default,
                f"{ratio:.2f}x wall", target, verdict,
            )
        )  # fmt: skip
    fully = figures["fully sequential"]
    default = figures["concurrency default"]
    result.rows.append(
        Row(result.name, "operate-export concurrency: 1, hydration_concurrency: 1", fully, "1.00x")
    )
    result.rows.append(
        Row(
            result.name, "operate-export default concurrency (vs fully sequential)", default,
            f"{default.wall_s / fully.wall_s:.2f}x wall", "(information)",
        )
    )  # fmt: skip
    result.commands = [
        f"python -m exporter simulate --port 0 --scale {cfg.slow_scale} --seed {SEED} "
        f"--latency-ms {cfg.slow_latency_ms}",
        "python -m exporter run slow-sequential.yaml   # all eight endpoints, concurrency: 1",
        "python -m exporter run slow-default.yaml      # the same without concurrency (default)",
        "# and both again with hydrate: false on variables (information only),",
        "# and once with concurrency: 1 and hydration_concurrency: 1 (information only)",
    ]
    return result


def _s3_export(cfg: Config) -> ScenarioResult:
    from s3_output import s3_export  # its own module (imports this one)

    return s3_export(cfg)


SCENARIOS: dict[str, Callable[[Config], ScenarioResult]] = {
    "fast": fast_server,
    "v2": v2_fast_server,
    "big": big_export,
    "slow": slow_server,
    "s3": _s3_export,
}
