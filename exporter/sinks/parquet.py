"""Parquet part writer: a fixed schema, bounded row groups, compression per spec.

Converted Arrow batches (not Python dicts) are buffered until ``row_group_size`` rows are ready,
then written as exactly one row group, so memory per open part is about one row group however
large the export is.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from exporter.sinks.arrow_schema import EXTRA_COLUMN
from exporter.sinks.parts import HashingStream

PARQUET_COMPRESSIONS = ("zstd", "snappy", "gzip", "none")


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary encoding: the repetitive strings (states, types, ids, names).

    Keys and timestamps are nearly unique, so their dictionaries would be built and then
    abandoned for plain encoding (wasted CPU, and a flow-node file twice as large); ``_extra``
    is mostly null or unique JSON text.
    """
    return [f.name for f in schema if pa.types.is_string(f.type) and f.name != EXTRA_COLUMN]


class ParquetPartWriter:
    def __init__(
        self, stream: HashingStream, schema: pa.Schema, compression: str, row_group_size: int
    ) -> None:
        self._stream = stream
        self._schema = schema
        self._row_group_size = max(1, row_group_size)
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0
        self.rows = 0
        self._writer = pq.ParquetWriter(
            pa.PythonFile(stream, mode="w"),
            schema,
            compression="none" if compression == "none" else compression,
            use_dictionary=dictionary_columns(schema),
        )

    def write(self, records: list[dict[str, Any]], batch: pa.RecordBatch | None) -> None:
        assert batch is not None, "the Parquet writer needs the converted batch"
        if batch.num_rows == 0:
            return
        self._buffer.append(batch)
        self._buffered += batch.num_rows
        self.rows += batch.num_rows
        if self._buffered >= self._row_group_size:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_batches(self._buffer, schema=self._schema)
        size = self._row_group_size
        while table.num_rows >= size or (final and table.num_rows > 0):
            chunk = table.slice(0, size)
            self._writer.write_table(chunk, row_group_size=size)
            table = table.slice(chunk.num_rows)
        # The remainder (< one row group) waits for the next page; combine_chunks drops
        # references to the already written batches so their memory is freed.
        self._buffer = table.combine_chunks().to_batches() if table.num_rows else []
        self._buffered = table.num_rows

    def close(self) -> tuple[int, str]:
        self._flush(final=True)
        if self.rows == 0:
            # An empty export still yields a readable file with the declared schema.
            self._writer.write_table(self._schema.empty_table())
        self._writer.close()
        self._stream.close()
        return self._stream.bytes_written, self._stream.sha256

    def discard(self) -> None:
        self._buffer = []
        try:
            self._writer.close()
        finally:
            self._stream.close()
