"""The converting threads yield to the paging thread: they run at a higher nice value than the
thread that starts them (``pipeline/decode.py``; Linux, where a thread's priority is its own)."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from exporter.pipeline import decode
from exporter.pipeline.decode import DECODE_NICENESS, Decoder
from exporter.pipeline.fetch import Page


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


class _ReportingWriter:
    """A sink stand-in whose conversion answers with the niceness of the thread it ran on."""

    converts = True

    def convert(self, items: list[dict[str, Any]], raw: bytes | None = None) -> int:
        return _niceness()


def test_pages_are_converted_on_threads_of_lower_priority_and_the_caller_keeps_its_own() -> None:
    caller = _niceness()
    decoder = Decoder(_ReportingWriter(), "prio")
    try:
        futures = [decoder.submit(Page([{"key": n}], None, None), None) for n in range(4)]
        seen = {f.result() for f in futures if f is not None}
    finally:
        decoder.close()
    linux = sys.platform.startswith("linux")
    assert seen == {min(19, caller + DECODE_NICENESS) if linux else caller}
    assert _niceness() == caller


def test_no_niceness_leaves_the_threads_as_they_are(monkeypatch: Any) -> None:
    monkeypatch.setattr(decode, "DECODE_NICENESS", 0)
    caller = _niceness()
    decoder = Decoder(_ReportingWriter(), "prio0")
    try:
        future = decoder.submit(Page([{"key": 1}], None, None), None)
        assert future is not None and future.result() == caller
    finally:
        decoder.close()
