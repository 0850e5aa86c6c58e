"""Old import path of the registries, kept only for ``exporter/simulator`` (being edited by another
engineer while the package was restructured). New code imports ``exporter.api``; delete this file
once the simulator does too (the import-linter contract "simulator" names it).
"""

from exporter.api import REGISTRY
from exporter.api.types import Endpoint, Kind
from exporter.api.v1.registry import V1_ENDPOINTS

__all__ = ["REGISTRY", "V1_ENDPOINTS", "Endpoint", "Kind"]
