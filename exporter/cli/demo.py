"""``python -m exporter.demo``: the whole tool in one command, no Operate cluster needed.

Starts the bundled simulator (scale 2000, seed 42) on a free loopback port, points
``OPERATE_BASE_URL`` at it and ``OPERATE_EXPORT_OUTPUT`` at ``./demo-output``, then runs
the demo spec (``configs/demo.yaml``, packaged as ``exporter/configs/demo.yaml`` so that it is
there after a non-editable install too) through the same code path as ``operate-export run``.
The simulator is stopped even when the run fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from importlib import resources
from pathlib import Path

from exporter.cli.run import run_command
from exporter.errors import ExporterError

PREVIEW_EXPORT = "process-instances"
PREVIEW_ROWS = 3


DEMO_SPEC_RESOURCE = ("configs", "demo.yaml")


def demo_spec_text() -> str:
    """The demo spec as packaged (never read from a source tree next to the package)."""
    return _demo_spec_resource().read_text(encoding="utf-8")


def _demo_spec_resource() -> resources.abc.Traversable:
    return resources.files("exporter").joinpath(*DEMO_SPEC_RESOURCE)


def _spec_path(spec: str | None) -> AbstractContextManager[Path]:
    """A real file for ``spec``, or for the packaged demo spec (extracted if it lives in a zip)."""
    if spec is not None:
        return nullcontext(Path(spec))
    return resources.as_file(_demo_spec_resource())


def preview(output: Path, export: str = PREVIEW_EXPORT, rows: int = PREVIEW_ROWS) -> list[str]:
    """A few lines showing what one snapshot holds: its manifest, columns and first rows.

    Reads only what the manifest lists, as a downstream job should; [] when there is nothing
    complete to show.
    """
    import orjson
    import pyarrow.parquet as pq

    complete = sorted((output / export).glob("snapshot=*/_manifest.json"))
    if not complete:
        return []
    manifest = orjson.loads(complete[-1].read_bytes())
    if manifest.get("format") != "parquet" or not manifest.get("files"):
        return []
    table = pq.read_table(complete[-1].parent / manifest["files"][0]["name"])
    keys = table.column(0).to_pylist()  # the unique key comes first (canonical and native)
    big = sum(1 for key in keys if key is not None and key > 2**53)
    columns = ", ".join(f"{f.name} {f.type}" for f in table.schema if f.name != "_extra")
    lines = [
        f"{export}: {manifest['records']} records in {len(manifest['files'])} file(s), "
        f"manifest {complete[-1]}",
        f"  columns: {columns}",
        f"  {big} of {table.num_rows} keys exceed 2^53 and are stored exactly as int64",
    ]
    for row in table.slice(0, rows).to_pylist():
        shown = ", ".join(
            f"{k}={_show(v)}" for k, v in row.items() if v is not None and k != "_extra"
        )
        lines.append(f"  {shown}")
    return lines


def _show(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    return repr(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporter.demo", description=__doc__)
    parser.add_argument("--spec", default=None, help="job spec to run (default: the demo spec)")
    parser.add_argument("--output", default="./demo-output", help="snapshot folder")
    parser.add_argument("--scale", type=int, default=2000, help="simulated process instances")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    from exporter.simulator import Simulator, SimulatorConfig

    sim = Simulator(SimulatorConfig(scale=args.scale, seed=args.seed)).start()
    try:
        os.environ["OPERATE_BASE_URL"] = sim.base_url
        os.environ["OPERATE_EXPORT_OUTPUT"] = args.output
        print(f"simulator: {sim.base_url} (scale {args.scale}, seed {args.seed})")
        print(f"output:    {Path(args.output).resolve()}")
        try:
            with _spec_path(args.spec) as spec_path:
                print(f"spec:      {spec_path}")
                print()
                code = run_command(str(spec_path))
        except ExporterError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        stats = sim.stats()
        print()
        for line in preview(Path(args.output)):
            print(line)
        print()
        print(
            f"simulator served {stats.get('requests', '?')} API requests, "
            f"{stats.get('items_served', '?')} items; "
            f"snapshots are under {Path(args.output).resolve()} "
            f"(read them with pyarrow.parquet or duckdb)"
        )
        return code
    finally:
        sim.stop()


if __name__ == "__main__":
    sys.exit(main())
