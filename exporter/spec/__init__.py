"""Job spec: YAML -> ${ENV} substitution -> JSON Schema + semantic checks -> frozen dataclasses.

reader.py    the YAML reader (size cap, safe loader, duplicate keys)
envsubst.py  ``${ENV}`` substitution, typed by the schema
checks.py    schema problems with spec paths, URLs, secrets, non-finite numbers
model.py     the frozen model (``JobSpec``, ``ExportSpec``, ...)
load.py      the loader; checks that need an API's registry come in as ``SpecRules``
             (``exporter.api.validation.RULES``)

The JSON Schema in ``schemas/job.schema.json`` (bundled as ``exporter/schemas/job.schema.json``)
is the single definition of the language. This package imports nothing above ``exporter.errors``.
"""

from exporter.spec.load import (
    NoRegistryRules,
    SpecRules,
    load_schema,
    schema_text,
    spec_digest,
    summary,
)
from exporter.spec.model import (
    API_CHOICES,
    AUTH_MODES,
    DEFAULT_SAAS_TOKEN_URL,
    SECRET_FIELDS,
    AuthSpec,
    ExportSpec,
    IncrementalSpec,
    JobSpec,
    LimitsSpec,
    OutputSpec,
    ParentSpec,
    PartitionSpec,
    RetrySpec,
    SortSpec,
    SourceSpec,
    TableSpec,
    TlsSpec,
)

__all__ = [
    "API_CHOICES",
    "AUTH_MODES",
    "DEFAULT_SAAS_TOKEN_URL",
    "SECRET_FIELDS",
    "AuthSpec",
    "ExportSpec",
    "IncrementalSpec",
    "JobSpec",
    "LimitsSpec",
    "NoRegistryRules",
    "OutputSpec",
    "ParentSpec",
    "PartitionSpec",
    "RetrySpec",
    "SortSpec",
    "SourceSpec",
    "SpecRules",
    "TableSpec",
    "TlsSpec",
    "load_schema",
    "schema_text",
    "spec_digest",
    "summary",
]
