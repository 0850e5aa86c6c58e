"""Experiment (not the product): would a writer in its own process lift the GIL ceiling?

The exporter pages in one thread and converts/writes in another, but both need the GIL, so its
CPU (HTTP + parse + conversion + encoding) is serialised on one core. This prototype splits the
same work over two processes: the parent pages exactly like the limit (one keep-alive session,
orjson for the cursor) and hands each raw response body over a pipe; the child parses it again
and runs operate-export's own ``RecordConverter`` and a zstd ``ParquetWriter`` with the same row
groups. It measures what the architecture would give, to inform the decision; it has none of the
product's guarantees (snapshot publish, manifest, resume, hydration, retries).

Usage: split_writer.py BASE_URL ENDPOINT_NAME PAGE_SIZE OUT_FILE [parquet|jsonl]
Prints {"records": N} (the rows the child wrote).
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from multiprocessing.connection import Connection

import orjson
import requests

ROW_GROUP = 100_000


def _write_parquet(conn: Connection, endpoint_name: str, out_file: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from exporter.api import get_endpoint
    from exporter.sinks.convert import RecordConverter
    from exporter.spec import ExportSpec

    endpoint = get_endpoint(endpoint_name, "v1")
    converter = RecordConverter(endpoint, ExportSpec(endpoint=endpoint_name, name=endpoint_name))
    rows = 0
    buffered: list[pa.RecordBatch] = []
    pending = 0
    with pq.ParquetWriter(out_file, converter.schema, compression="zstd") as writer:
        while data := conn.recv_bytes():
            batch = converter.convert(orjson.loads(data)["items"])
            buffered.append(batch)
            pending += batch.num_rows
            if pending >= ROW_GROUP:
                writer.write_table(pa.Table.from_batches(buffered), row_group_size=ROW_GROUP)
                rows += pending
                buffered, pending = [], 0
        if buffered:
            writer.write_table(pa.Table.from_batches(buffered), row_group_size=ROW_GROUP)
            rows += pending
    conn.send(rows)


def _write_jsonl(conn: Connection, endpoint_name: str, out_file: str) -> None:
    rows = 0
    with open(out_file, "wb") as handle:
        while data := conn.recv_bytes():
            items = orjson.loads(data)["items"]
            if items:
                handle.write(b"\n".join(map(orjson.dumps, items)) + b"\n")
            rows += len(items)
    conn.send(rows)


def main(argv: list[str]) -> int:
    base_url, endpoint_name, page_size, out_file = argv[1], argv[2], int(argv[3]), argv[4]
    fmt = argv[5] if len(argv) > 5 else "parquet"
    parent, child = mp.Pipe()
    target = _write_parquet if fmt == "parquet" else _write_jsonl
    # fork: the child starts at once and imports pyarrow while the parent's first pages arrive.
    writer = mp.get_context("fork").Process(target=target, args=(child, endpoint_name, out_file))
    writer.start()
    url = f"{base_url.rstrip('/')}/v1/{endpoint_name}/search"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    body: dict[str, object] = {"size": page_size}
    with requests.Session() as session:
        while True:
            response = session.post(url, data=orjson.dumps(body), headers=headers, timeout=60)
            response.raise_for_status()
            page = orjson.loads(response.content)
            parent.send_bytes(response.content)
            if len(page["items"]) < page_size:
                break
            body["searchAfter"] = page["sortValues"]
    parent.send_bytes(b"")
    rows = parent.recv()
    writer.join()
    sys.stdout.write(orjson.dumps({"records": rows}).decode() + "\n")
    return 0 if writer.exitcode == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
