"""Issue 18 point 6: a 1M-record export into an S3 server vs the same export to local disk.

The S3 server is moto's server mode in its own process (``moto_server``, from the dev extras),
so neither its CPU nor its memory counts as the exporter's; fake credentials in the child's
environment. Targets: the S3 run's peak RSS < 250 MB and its wall time <= 1.3x the local run's
(interleaved rounds, medians). The S3 output is read back and counted (pyarrow.dataset over the
files ``exporter.latest_snapshot`` names), and each run writes into a fresh bucket.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml
from clients import CHILD_TIMEOUT_S, establish_truth, export_spec, run_export
from harness import HarnessError, Sample, SimulatorProcess, check_count, run_measured
from scenarios import (
    FLOWNODES,
    PAGE_SIZE,
    SEED,
    Config,
    Row,
    ScenarioResult,
    _log,
    _rounds,
    _verdict,
)

from exporter.api import get_endpoint

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench-access-key",
    "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class MotoProcess:
    """``moto_server`` on a free loopback port, killed on exit."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MotoProcess:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        script = Path(sys.executable).with_name("moto_server")
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [str(script), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=log,
                env={**os.environ, **CREDENTIALS},
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise HarnessError(f"moto_server did not start; see {self.log_path}") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()

    @property
    def options(self) -> dict[str, str]:
        return {
            "endpoint_override": f"127.0.0.1:{self.port}",
            "scheme": "http",
            "region": "us-east-1",
        }

    def new_bucket(self, name: str) -> None:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=name)


def _count_s3(path: str, options: dict[str, str]) -> int:
    os.environ.update(CREDENTIALS)
    import pyarrow.dataset as ds

    import exporter

    latest = exporter.latest_snapshot(path, FLOWNODES, options)
    if latest is None:
        raise HarnessError(f"no complete snapshot under {path}")
    return int(ds.dataset(latest.paths, filesystem=latest.filesystem).count_rows())


def s3_export(cfg: Config) -> ScenarioResult:
    endpoint = get_endpoint(FLOWNODES)
    work = cfg.work / "s3"
    work.mkdir(parents=True, exist_ok=True)
    result = ScenarioResult(
        "S3 output",
        f"{FLOWNODES}, simulator scale {cfg.big_scale}, page size {PAGE_SIZE}, Parquet, into "
        "moto's S3 server (own process, loopback) vs the local disk",
    )
    numbers = itertools.count()
    with (
        SimulatorProcess(
            scale=cfg.big_scale, seed=SEED, latency_ms=0, log_path=work / "simulator.log"
        ) as sim,
        MotoProcess(work / "moto.log") as moto,
    ):
        _log(f"S3 output: simulator at {sim.base_url}, S3 on port {moto.port}; counting ...")
        expected = establish_truth(sim, endpoint.path, PAGE_SIZE)
        item = {"endpoint": FLOWNODES, "page_size": PAGE_SIZE}

        def local() -> Sample:
            spec = export_spec(sim.base_url, [item], fmt="parquet", out_dir=work / "out-local")
            return run_export(spec, {FLOWNODES: expected}, work, "local")

        def s3() -> Sample:
            bucket = f"bench-{next(numbers)}"
            moto.new_bucket(bucket)
            spec = export_spec(sim.base_url, [item], fmt="parquet", out_dir=work / "unused")
            path = f"s3://{bucket}/operate"
            spec["output"] = {"format": "parquet", "path": path, "storage_options": moto.options}
            spec_path = work / "s3.yaml"
            spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
            wall, cpu, rss, _ = run_measured(
                [sys.executable, "-m", "exporter", "run", str(spec_path)],
                log_path=work / "s3.log",
                timeout_s=CHILD_TIMEOUT_S,
                env={**os.environ, **CREDENTIALS},
            )
            got = _count_s3(path, moto.options)
            check_count("operate-export s3", got, expected)
            return Sample(wall, cpu, rss, got)

        figures = _rounds(cfg, "s3", sim, {"local disk": local, "S3 (moto)": s3})
    base, remote = figures["local disk"], figures["S3 (moto)"]
    ratio = remote.wall_s / base.wall_s
    result.rows.append(Row(result.name, "operate-export parquet, local disk", base, "1.00x"))
    result.rows.append(
        Row(
            result.name, f"operate-export parquet, S3 ({expected} records)", remote,
            f"{ratio:.2f}x wall", "RSS < 250 MB, wall <= 1.3x local",
            _verdict(remote.peak_rss_mb < 250 and ratio <= 1.3 and expected >= 1_000_000),
        )
    )  # fmt: skip
    result.commands = [
        f"python -m exporter simulate --port 0 --scale {cfg.big_scale} --seed {SEED} "
        "--latency-ms 0",
        "moto_server -H 127.0.0.1 -p PORT   # with fake AWS_* credentials in its environment",
        "python -m exporter run local.yaml   # flownode-instances, parquet, local disk",
        "python -m exporter run s3.yaml      # the same into s3://bench-N/operate",
    ]
    return result
