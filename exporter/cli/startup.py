"""The garbage collector during the CLI process's start-up.

A ``run`` imports click, jsonschema, requests, pyarrow and numpy: ~50,000 objects that live
until the process exits. With the collector on, those imports trigger about a hundred young
collections and a full one that walk them and free nothing (~70 ms of a v2 fast-scenario run
on a quiet 2-core box, ~170 ms under load), and every later full collection walks them again.
So the console entry point pauses the collector, and the command group turns it back on once
the command's own imports are in, after ``gc.freeze()`` has moved everything that exists then
out of its way: cycles the export itself makes are collected as before.

Only the console entry point pauses: a program that calls the CLI in-process (click's
CliRunner, the tests) or uses the library keeps its collector as it is.
"""

from __future__ import annotations

import gc
import importlib

_paused = False


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
