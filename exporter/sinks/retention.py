"""``output.keep``: the newest N complete snapshots of an export stay, older ones go (issue 18).

Runs after a successful commit, under the run lock. Incomplete snapshots that started more than
a day ago go too (a resume continues only the newest one, and a day-old failure will not be).
Never touched: the newest complete snapshot (``_latest.json`` names it) and the snapshot just
written. A complete snapshot loses its manifest first, so a deletion cut short leaves an
incomplete-looking folder (which the next pruning removes), never a manifest over missing files.
"""

from __future__ import annotations

import datetime as dt
import logging

from exporter.sinks.layout import MANIFEST_NAME, SnapshotDir, scan_export
from exporter.sinks.storage import Storage

INCOMPLETE_MAX_AGE = dt.timedelta(days=1)

log = logging.getLogger(__name__)


def _started(snapshot: SnapshotDir) -> dt.datetime:
    stamp = snapshot.sort_key[0]
    return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def doomed(
    snapshots: list[SnapshotDir], keep: int, current: str, now: dt.datetime
) -> list[SnapshotDir]:
    """Which snapshots (oldest first) ``keep`` removes; ``current``: the one just written."""
    complete = [s for s in snapshots if s.complete]
    protected = {current, *(s.name for s in complete[-max(keep, 1) :])}
    old = [s for s in complete if s.name not in protected]
    stale = [
        s
        for s in snapshots
        if not s.complete and s.name not in protected and now - _started(s) > INCOMPLETE_MAX_AGE
    ]
    return sorted(old + stale, key=lambda s: s.sort_key)


def prune(
    storage: Storage, export_dir: str, keep: int, current: str, now: dt.datetime | None = None
) -> list[str]:
    """Delete what ``keep`` does not keep; the names of the deleted snapshots."""
    removed = []
    moment = now or dt.datetime.now(dt.UTC)
    for snapshot in doomed(scan_export(storage, export_dir), keep, current, moment):
        if snapshot.complete:
            storage.delete(f"{snapshot.path}/{MANIFEST_NAME}")
        storage.delete_tree(snapshot.path)
        removed.append(snapshot.name)
    if removed:
        log.info(
            "output.keep %d: removed %d snapshot(s) of %s: %s",
            keep,
            len(removed),
            storage.loc.display(export_dir),
            ", ".join(removed),
        )
    return removed
