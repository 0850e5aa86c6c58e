"""Old import path of the v2 registry, kept only for ``exporter/simulator`` (see endpoints.py)."""

from exporter.api.v2.registry import RENAMED_ENUM_VALUES, V2_ENDPOINTS, V2Endpoint, V2Field, V2Kind

__all__ = ["RENAMED_ENUM_VALUES", "V2_ENDPOINTS", "V2Endpoint", "V2Field", "V2Kind"]
