"""``output.partition_by``: Hive-style date partitions inside a snapshot (issue 18 point 5).

A page is split by the UTC day (``YYYY-MM-DD``) or month (``YYYY-MM``) of a date field into
``<field>_<granularity>=<value>`` folders; a null (or absent) date goes to ``__null__``. The
folder key is not the field's own name, so the field keeps its type inside the files and a
reader with hive partitioning gets both (``startDate`` and ``startDate_day``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from exporter.errors import OutputError
from exporter.spec import PartitionSpec

NULL_PARTITION = "__null__"
_FORMATS = {"day": ("%Y-%m-%d", 10), "month": ("%Y-%m", 7)}


class Partitioner:
    """Splits pages into (partition folder, records, batch) groups."""

    def __init__(self, spec: PartitionSpec, export: str, fields: list[str] | None) -> None:
        if fields is not None and spec.field not in fields:
            raise OutputError(
                f"export {export!r}: output.partition_by.field {spec.field!r} is not a field of "
                f"its records (fields: {', '.join(fields)})"
            )
        self.spec = spec
        self._format, self._width = _FORMATS[spec.granularity]

    def folder(self, value: str | None) -> str:
        return f"{self.spec.column}={value or NULL_PARTITION}"

    def _text(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        return str(value)[: self._width]

    def split(
        self, records: list[dict[str, Any]] | None, batch: pa.RecordBatch | None
    ) -> list[tuple[str, list[dict[str, Any]], pa.RecordBatch | None]]:
        if batch is not None:
            return self._split_batch(batch)
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records or []:
            groups[self.folder(self._text(record.get(self.spec.field)))].append(record)
        return [(key, rows, None) for key, rows in groups.items()]

    def _split_batch(
        self, batch: pa.RecordBatch
    ) -> list[tuple[str, list[dict[str, Any]], pa.RecordBatch | None]]:
        column = batch.column(batch.schema.get_field_index(self.spec.field))
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            if pa.types.is_timestamp(column.type) and column.type.tz is None:
                column = pc.assume_timezone(column, "UTC")
            text = pc.strftime(column, format=self._format)
        else:
            text = pc.utf8_slice_codeunits(pc.cast(column, pa.string()), 0, self._width)
        text = pc.fill_null(text, NULL_PARTITION)
        values = text.to_pylist()
        groups: list[tuple[str, list[dict[str, Any]], pa.RecordBatch | None]] = []
        for value in dict.fromkeys(values):  # first-seen order
            mask = pc.equal(text, value)
            groups.append((self.folder(value), [], batch.filter(mask)))
        return groups
