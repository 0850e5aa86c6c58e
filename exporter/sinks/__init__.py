"""Output side of an export: Arrow schemas, Parquet/JSONL part writers, snapshot publishing.

The runner uses four names::

    writer = open_snapshot(SnapshotContext(...), resume=False)
    writer.write_page(records, cursor)      # per page
    manifest = writer.commit(extra)          # or writer.abort(reason)

See ``snapshot.py`` for the layout and the publish/resume protocol.
"""

from exporter.sinks.arrow_schema import EXTRA_COLUMN, schema_for
from exporter.sinks.convert import RecordConverter
from exporter.sinks.fs import OutputLocation, resolve_output
from exporter.sinks.parts import PartInfo
from exporter.sinks.snapshot import (
    CHECKPOINT_NAME,
    INCOMPLETE_NAME,
    MANIFEST_NAME,
    Manifest,
    SnapshotContext,
    SnapshotWriter,
    export_digest,
    open_snapshot,
)

__all__ = [
    "CHECKPOINT_NAME",
    "EXTRA_COLUMN",
    "INCOMPLETE_NAME",
    "MANIFEST_NAME",
    "Manifest",
    "OutputLocation",
    "PartInfo",
    "RecordConverter",
    "SnapshotContext",
    "SnapshotWriter",
    "export_digest",
    "open_snapshot",
    "resolve_output",
    "schema_for",
]
