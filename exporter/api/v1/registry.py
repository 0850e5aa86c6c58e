"""The v1 registry: the exportable Operate resources of ``POST /v1/<resource>/search``.

Everything that needs to know an entity's shape reads it from here: spec validation (filter and
sort fields, enums, key and date fields), the Arrow schemas of the Parquet sink, the paging loop
(unique tie-breaker key) and the bundled simulator. The table itself is data, ``endpoints.toml``
beside this module (one ``[[endpoint]]`` per export; README "Adding an endpoint"); the value
lists its ``enum`` options name are below.

Field facts follow ``shared/reference/operate-api.md`` section 3 (v1, Operate 8.4-8.8).
"""

from __future__ import annotations

from exporter.api.registry_data import load_endpoints
from exporter.api.types import Endpoint, Field

PROCESS_INSTANCE_STATES = ("ACTIVE", "COMPLETED", "CANCELED")
INCIDENT_STATES = ("ACTIVE", "RESOLVED", "PENDING", "MIGRATED")
FLOW_NODE_STATES = ("ACTIVE", "COMPLETED", "TERMINATED")

V1_ENDPOINTS: dict[str, Endpoint] = load_endpoints(__name__, "v1", Endpoint, Field, globals())
