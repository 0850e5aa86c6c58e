"""The frozen, typed form of a job spec: what every layer above reads, never raw YAML.

The JSON Schema (``schemas/job.schema.json``) is the single definition of the language; these
dataclasses mirror it (a test keeps their fields and the schema's properties equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

AUTH_MODES = ("saas", "identity", "cookie", "basic", "none")
SECRET_FIELDS = ("client_secret", "password")

DEFAULT_SAAS_TOKEN_URL = "https://login.cloud.camunda.io/oauth/token"
API_CHOICES = ("v1", "v2", "auto")


@dataclass(frozen=True)
class AuthSpec:
    mode: str = "none"
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token_url: str | None = None
    # None means "do not send an audience" (IdPs that reject it).
    audience: str | None = None
    scope: str | None = None
    # How the client-credentials request body is encoded: "json" (Operate 8.4 docs) or "form".
    token_request_format: str = "json"
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RetrySpec:
    max_attempts: int = 6
    max_backoff_seconds: float = 30.0
    initial_backoff_seconds: float = 0.5


@dataclass(frozen=True)
class LimitsSpec:
    """``source.limits``: what one HTTP answer may cost in time and memory."""

    request_deadline_seconds: float = 300.0  # connect + headers + whole body
    max_response_bytes: int = 256 * 1024 * 1024  # body as it comes over the wire
    max_decompressed_bytes: int = 256 * 1024 * 1024  # body after gzip/deflate


@dataclass(frozen=True)
class TlsSpec:
    verify: bool = True
    ca_bundle: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    base_url: str
    auth: AuthSpec = field(default_factory=AuthSpec)
    # "v1", "v2" or "auto" (probe once per run; the runner replaces it with the choice).
    api: str = "auto"
    # v2: the oldest Camunda minor the spec must work with ("8.8" or "8.9").
    server_version: str = "8.8"
    timeout_seconds: float = 30.0
    # The run's cap on requests in flight at once (all exports, shards and lookups).
    max_in_flight: int = 8
    retry: RetrySpec = field(default_factory=RetrySpec)
    tls: TlsSpec = field(default_factory=TlsSpec)
    limits: LimitsSpec = field(default_factory=LimitsSpec)


@dataclass(frozen=True)
class SortSpec:
    field: str
    order: str = "ASC"

    def to_api(self) -> dict[str, str]:
        return {"field": self.field, "order": self.order}


@dataclass(frozen=True)
class IncrementalSpec:
    """``exports[].incremental``: export ``[from, to)`` windows of a date field (issue 15)."""

    field: str
    lag: int = 15 * 60  # seconds: to = the run's server clock - lag
    start: str = "-30d"  # where the first run begins: RFC 3339 or relative to the run's clock
    window: int = 86400  # seconds: the size of one window (one snapshot each)


DEFAULT_PARENT_BATCH = 100


@dataclass(frozen=True)
class ParentSpec:
    """``exports[].parent``: run once per batch of another export's records (issue 16)."""

    export: str  # the parent export's name
    field: str  # the parent records' field whose values select the children
    filter_field: str  # this export's filter field that takes those values
    batch_size: int = DEFAULT_PARENT_BATCH  # parent values per hand-over (v2: per $in search)


@dataclass(frozen=True)
class ExportSpec:
    endpoint: str
    name: str
    filter: Mapping[str, Any] = field(default_factory=dict)
    sort: tuple[SortSpec, ...] = ()
    page_size: int = 1000
    max_records: int | None = None
    # Complete truncated variable values from GET /v1/variables/{key}.
    hydrate: bool = True
    # Process definitions / decision requirements: add the BPMN / DMN XML.
    include_xml: bool = False
    # Decision instances: add evaluatedInputs / evaluatedOutputs from get-by-id.
    include_evaluation_details: bool = False
    # Date windows instead of everything (None: a full export every run).
    incremental: IncrementalSpec | None = None
    # A dependent export: its records are selected by the parent's records of the same run.
    parent: ParentSpec | None = None
    # ``table: {name}``: the current-state table this export merges into (None: its own name).
    table: str | None = None
    # Parallel shards of this export, one snapshot (issue 17): a count or "auto".
    shards: int | str = 1

    @property
    def table_name(self) -> str:
        """The ``output.table`` this export feeds (issue 20)."""
        return self.table or self.name

    @property
    def sharded(self) -> bool:
        return self.shards != 1


TABLE_MODES = ("merge", "append", "overwrite")


@dataclass(frozen=True)
class TableSpec:
    """``output.table``: a current-state table per export, merged by key (issue 20)."""

    format: str = "delta"
    mode: str = "merge"  # one of TABLE_MODES


@dataclass(frozen=True)
class PartitionSpec:
    """``output.partition_by``: Hive-style date partitions inside a snapshot (issue 18)."""

    field: str
    granularity: str = "day"  # day | month

    @property
    def column(self) -> str:
        """The partition folder's key: ``<field>_<granularity>`` (not the field itself, whose
        values stay in the files with their own type)."""
        return f"{self.field}_{self.granularity}"


@dataclass(frozen=True)
class OutputSpec:
    format: str = "parquet"
    path: str = "./exports"
    compression: str | None = None  # None = the format's default (zstd / none)
    rows_per_file: int = 1_000_000
    row_group_size: int = 100_000
    # canonical: v2's field names and types whatever the API (issue 14); native: as the API sent.
    schema: str = "canonical"
    table: TableSpec | None = None
    # Object store filesystem options (endpoint_override, region...); never credentials.
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    # Retention: the newest N complete snapshots per export (None: all).
    keep: int | None = None
    partition_by: PartitionSpec | None = None

    @property
    def effective_compression(self) -> str:
        if self.compression is not None:
            return self.compression
        return "zstd" if self.format == "parquet" else "none"


@dataclass(frozen=True)
class JobSpec:
    source: SourceSpec
    exports: tuple[ExportSpec, ...]
    output: OutputSpec = field(default_factory=OutputSpec)
    version: int = 1
    concurrency: int = 4
    hydration_concurrency: int = 8
    # How long the server keeps data; a window starting earlier gets a warning.
    retention: int = 30 * 86400  # seconds
    # Where the spec came from (file path) and a digest of its content with secrets removed.
    origin: str | None = None
    digest: str = ""
