"""The click shell: ``operate-export`` (app.py) and the bodies of its commands.

app.py      the main group, validate and schema (thin: parse options, call the layers below)
run.py      the run command's body (progress, signals, exit codes); demo.py uses it too
dump.py     one-off exports without a spec file
demo.py     ``python -m exporter.demo``: the bundled simulator + the demo spec
"""

from exporter.cli.app import cli, main

__all__ = ["cli", "main"]
