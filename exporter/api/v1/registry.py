"""The v1 registry: the exportable Operate resources of ``POST /v1/<resource>/search``.

Everything that needs to know an entity's shape reads it from here: spec validation (filter and
sort fields, enums, key and date fields), the Arrow schemas of the Parquet sink, the paging loop
(unique tie-breaker key) and the bundled simulator. The table itself is data, ``endpoints.toml``
beside this module (one ``[[endpoint]]`` per export; README "Adding an endpoint"); the value
lists its ``enum`` options name are below.

Field facts follow ``shared/reference/operate-api.md`` section 3 (v1, Operate 8.4-8.8).

Each field also says what it becomes in the canonical schema (issue 14: one schema for v1 and
v2, v2's names and types; ``exporter/api/canonical.py`` applies it): ``canonical`` is the v2
field it maps to exactly, with ``canonical_values`` for enum values v2 renamed,
``canonical_items`` for keys of nested items v2 renamed and ``canonical_conversion`` for a type
change (``key_text``: a key v1 sent as a string of digits). A field without ``canonical`` has no
exact v2 counterpart: it is kept as is, under its v1 name, and ``canonical_note`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.api.registry_data import load_endpoints
from exporter.api.types import Endpoint, Field

# canonical_conversion values: how a v1 value becomes its canonical column's type.
CANONICAL_CONVERSIONS = ("key_text",)  # a key sent as a string of digits -> the key


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    """An inline table of the registry (``{CANCELED = "TERMINATED"}``) as hashable pairs."""
    if isinstance(value, dict):
        return tuple((str(k), str(v)) for k, v in value.items())
    return tuple(value)


@dataclass(frozen=True)
class V1Field(Field):
    # The canonical (v2) field this v1 field maps to exactly; None: no exact counterpart, the
    # value is kept as is under its v1 name (canonical_note says why).
    canonical: str | None = None
    # Enum values v2 renamed (v1 value -> v2 value); other values are the same on both.
    canonical_values: tuple[tuple[str, str], ...] = ()
    # Keys of nested items (evaluated inputs) v2 renamed (v1 key -> v2 key).
    canonical_items: tuple[tuple[str, str], ...] = ()
    canonical_conversion: str | None = None  # one of CANONICAL_CONVERSIONS
    canonical_note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "canonical_values", _pairs(self.canonical_values))
        object.__setattr__(self, "canonical_items", _pairs(self.canonical_items))
        if self.canonical_conversion not in (None, *CANONICAL_CONVERSIONS):
            raise TypeError(f"unknown canonical_conversion {self.canonical_conversion!r}")
        if self.canonical is None and not self.canonical_note:
            raise TypeError("a field kept as is (no canonical) needs a canonical_note")


PROCESS_INSTANCE_STATES = ("ACTIVE", "COMPLETED", "CANCELED")
INCIDENT_STATES = ("ACTIVE", "RESOLVED", "PENDING", "MIGRATED")
FLOW_NODE_STATES = ("ACTIVE", "COMPLETED", "TERMINATED")

V1_ENDPOINTS: dict[str, Endpoint] = load_endpoints(__name__, "v1", Endpoint, V1Field, globals())
