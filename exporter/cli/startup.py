"""What the CLI process does differently while it starts: the garbage collector, and the two
modules pyarrow imports without the exporter ever using them.

The collector. A ``run`` imports click, jsonschema, requests and pyarrow: ~50,000 objects that
live until the process exits. With the collector on, those imports trigger about a hundred
young collections and a full one that walk them and free nothing (~70 ms of a v2
fast-scenario run on a quiet 2-core box, ~170 ms under load), and every later full collection
walks them again. So the console entry point pauses the collector, and the command group turns
it back on once the command's own imports are in, after ``gc.freeze()`` has moved everything
that exists then out of its way: cycles the export itself makes are collected as before.

numpy and pandas. ``pyarrow.lib`` imports numpy when it can, to convert numpy arrays (~60 ms of
a run's ~300 ms of imports on a quiet box); the first ``pa.array`` of Python objects makes
pyarrow's pandas shim import pandas, to recognise pandas values (~240 ms and ~40 MB when
installed, and a Python-converted page of a hydrated export pays it). The exporter hands
pyarrow neither: Python lists, dicts and JSON bytes only. So the CLI process hides numpy while
pyarrow is imported (pyarrow then works without it, as it does where numpy is not installed;
anything imported later may still import numpy itself), and hides pandas for good.

Only the console entry point does this: a program that calls the CLI in-process (click's
CliRunner, the tests) or uses the library keeps its collector and its modules as they are.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

# Hidden while the command's modules (pyarrow among them) are imported.
HIDDEN_DURING_STARTUP = ("numpy",)
# Hidden for the rest of the process (pyarrow only ever probes for it).
HIDDEN_FOR_GOOD = ("pandas",)

_paused = False


class _Hidden:
    """A meta path finder that answers "no such module" for the packages it hides. An
    ImportError from the import system itself, not ``None`` in ``sys.modules``: Cython's
    import (pyarrow's pandas shim) takes such a ``None`` for the module."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (operate-export's CLI does not use it)",
                name=fullname,
            )
        return None


_HIDDEN = _Hidden()


def pause_collector() -> None:
    """Called first by the console entry point (``cli.app.main``)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_collector(*modules: str) -> None:
    """Import ``modules`` (those the command is about to import anyway), freeze what exists and
    turn the collector back on; nothing at all unless ``pause_collector`` paused it."""
    global _paused
    if not _paused:
        return
    try:
        for module in modules:
            importlib.import_module(module)
    finally:
        _paused = False
        gc.freeze()
        gc.enable()


def hide_unused_modules() -> None:
    """``import numpy`` and ``import pandas`` fail from now on (pyarrow takes that as "not
    installed"), unless something imported them already. Called by the console entry point
    before pyarrow is imported."""
    names = (
        HIDDEN_FOR_GOOD if "pyarrow" in sys.modules else (*HIDDEN_DURING_STARTUP, *HIDDEN_FOR_GOOD)
    )
    _HIDDEN.names.update(name for name in names if name not in sys.modules)
    if _HIDDEN.names and _HIDDEN not in sys.meta_path:
        sys.meta_path.insert(0, _HIDDEN)


def reveal_startup_modules() -> None:
    """numpy importable again (for whatever may want it later), once the command's imports,
    pyarrow's among them, are in."""
    _HIDDEN.names.difference_update(HIDDEN_DURING_STARTUP)
