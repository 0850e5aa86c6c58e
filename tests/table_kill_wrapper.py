"""Runs the real CLI (``operate-export ARGS...``) and SIGKILLs itself in the middle of its
Delta merge: once the merge has started writing a data file into the table's folder (a file
that was not there when the merge began), before the merge commits. Used by
tests/test_tables_kill.py as ``python table_kill_wrapper.py TABLE_DIR ARGS...``.

Only the moment of the kill is arranged here; the exporter, delta-rs and the filesystem are
the real ones, so what the kill leaves behind is what a crash would leave."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import deltalake.table


def _data_files(table_dir: Path) -> set[str]:
    try:
        return {n for n in os.listdir(table_dir) if n.startswith("part-")}
    except FileNotFoundError:
        return set()


def main() -> None:
    table_dir = Path(sys.argv[1])
    merge = deltalake.table.TableMerger.execute

    def execute(self: deltalake.table.TableMerger) -> object:
        before = _data_files(table_dir)

        def watch() -> None:
            while not _data_files(table_dir) - before:
                time.sleep(0.0002)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=watch, daemon=True).start()
        return merge(self)

    deltalake.table.TableMerger.execute = execute  # type: ignore[method-assign]
    from exporter.cli.app import main as cli_main

    sys.argv = ["operate-export", *sys.argv[2:]]
    cli_main()


if __name__ == "__main__":
    main()
