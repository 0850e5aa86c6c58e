"""See the package layout in exporter/__init__.py."""
