"""The peer: what a data engineer would otherwise reach for, dlt's ``rest_api`` source to Parquet.

The pipeline is configured the way dlt's documentation suggests for a POST search API with a cursor
in the JSON body: ``JSONResponseCursorPaginator(cursor_path="sortValues",
cursor_body_path="searchAfter")``, data selector ``items``, a local ``filesystem`` destination and
``loader_file_format="parquet"``. Everything else is left at dlt's defaults.

Usage: dlt_peer.py BASE_URL ENDPOINT_PATH PAGE_SIZE OUT_DIR
Writes Parquet files under OUT_DIR/bucket/<dataset>/<table>/ and prints {"table": NAME}.
dlt's own state goes to OUT_DIR/pipelines; telemetry is switched off (loopback only).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DATASET = "operate"


def run(base_url: str, endpoint_path: str, page_size: int, out_dir: Path) -> str:
    # Before importing dlt: no telemetry (no network beyond loopback), state under out_dir.
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ["DLT_DATA_DIR"] = str(out_dir / "data")

    import dlt
    from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
    from dlt.sources.rest_api import rest_api_source

    table = endpoint_path.rstrip("/").rsplit("/", 1)[-1].replace("-", "_")
    source = rest_api_source(
        {
            "client": {
                "base_url": base_url.rstrip("/") + "/",
                "paginator": JSONResponseCursorPaginator(
                    cursor_path="sortValues", cursor_body_path="searchAfter"
                ),
            },
            "resources": [
                {
                    "name": table,
                    "endpoint": {
                        "path": f"{endpoint_path.lstrip('/')}/search",
                        "method": "POST",
                        "json": {"size": page_size},
                        "data_selector": "items",
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_peer",
        pipelines_dir=str(out_dir / "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=(out_dir / "bucket").as_uri()),
        dataset_name=DATASET,
    )
    pipeline.run(source, loader_file_format="parquet")
    return table


def main(argv: list[str]) -> int:
    base_url, endpoint_path, page_size, out_dir = argv[1], argv[2], int(argv[3]), Path(argv[4])
    table = run(base_url, endpoint_path, page_size, out_dir)
    sys.stdout.write(json.dumps({"table": table}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
