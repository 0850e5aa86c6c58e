"""What a run returns (and what the reporters show): options in, results out."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from exporter.api.paging import TOTAL_CAP


def new_run_id() -> str:
    """A run's id: its UTC start second (ids sort by start) and 8 random hex digits."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    # False, True (continue the newest incomplete snapshot, refuse an incompatible one) or
    # "auto" (continue it when compatible, else start a fresh snapshot and log why).
    resume: bool | str = False
    quiet: bool = False
    # Export names to run (empty = all). Unknown names are a usage error.
    only: tuple[str, ...] = ()
    # Opens each export's writer as ``open_writer(ctx, resume=...)``; None: a snapshot under
    # ``output.path`` (``sinks.open_snapshot``). ``dump -o -`` passes a stdout sink here.
    open_writer: Callable[..., Any] | None = None
    # output.schema native + source.api auto: write into exports whose snapshots came from the
    # other API (refused with exit 2 otherwise; issue 14).
    allow_api_switch: bool = False
    # Names this run in JSON log lines, manifests and the run lock; empty: run_job makes one.
    run_id: str = ""
    # run --from/--to: re-export this range of the incremental exports (RFC 3339 or -30d).
    range_from: str | None = None
    range_to: str | None = None
    # run --shard I/N: run shard I of each (sharded) export's N, into run_id's snapshot.
    shard: tuple[int, int] | None = None


@dataclass
class ExportResult:
    name: str
    endpoint: str
    records: int = 0
    pages: int = 0
    retries: int = 0
    requests: int = 0
    seconds: float = 0.0
    files: list[dict[str, Any]] = field(default_factory=list)
    bytes: int = 0
    location: str | None = None
    error: str | None = None
    error_type: str | None = None
    total_reported: int | None = None
    # Dry run: the exact first request the export would page with.
    search_path: str | None = None
    request_body: dict[str, Any] | None = None
    # Incremental exports: the window this result's snapshot holds, [from, to).
    window: str | None = None
    # output.table: what the run's update of the export's table did (sinks/table.py).
    table: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def total_is_lower_bound(self) -> bool | None:
        """True when the server's total is the search engine's cap (shown as ``10000+``)."""
        return None if self.total_reported is None else self.total_reported >= TOTAL_CAP

    def to_dict(self) -> dict[str, Any]:
        """JSON form (summary, events): the export's name is ``export``, as in every event."""
        data = {k: v for k, v in self.__dict__.items() if v is not None}
        data = {"export": data.pop("name"), **data}
        if self.total_reported is not None:
            data["total_is_lower_bound"] = self.total_is_lower_bound
        data["ok"] = self.ok
        return data


@dataclass
class RunResult:
    exports: list[ExportResult]
    dry_run: bool = False
    seconds: float = 0.0
    run_id: str = ""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.exports)

    @property
    def failed(self) -> list[ExportResult]:
        return [r for r in self.exports if not r.ok]
