"""Candidate optimisations of operate-export, applied by monkeypatching for A/B measurement.

Loaded by ``bench/candidates.py`` in the exporter's child process before ``exporter.cli.app.main``;
the ``CANDIDATES`` environment variable selects them (comma-separated). ``dict``, ``extras``,
``stream`` and ``env`` were measured here first and are now part of the exporter itself (applying
them again measures nothing new); ``switch*``, ``threadcpu`` and ``native`` are still only
measurements:

* ``dict``   sinks/parquet.py: dictionary-encode only string columns; int64 keys and timestamps
             are nearly unique, so their dictionaries are built and then abandoned.
* ``extras`` sinks/convert.py ``RecordConverter._extras``: an exact O(columns) test that no
             record has an unknown key (total key count == total non-null known values), before
             the per-record work.
* ``stream`` http.py ``Transport._attempt``: ``stream=True`` + one ``raw.read()`` instead of
             ``response.content`` (requests reads a 350 KB page in 10 KB ``iter_content`` chunks).
* ``switch1ms`` / ``switch20ms``  ``sys.setswitchinterval`` (default 5 ms): how long a thread
             keeps the GIL before a waiting thread gets it (paging vs writing thread hand-offs).
* ``native`` api/canonical.py ``converter``: no canonical conversion (records written as the API
             sent them, as before issue 14): the conversion's share of an export's time.
* ``env``    http.py ``Transport.session``: resolve proxies from the environment once per
             session (``trust_env = False`` afterwards) instead of on every request.
"""

from __future__ import annotations

import os
from typing import Any

SELECTED = frozenset(filter(None, os.environ.get("CANDIDATES", "").split(",")))


def _dictionary_only_for_strings() -> None:
    import pyarrow.parquet as pq

    from exporter.sinks import parquet as part_writer

    original = pq.ParquetWriter

    def writer(where: Any, schema: Any, **kwargs: Any) -> Any:
        strings = [f.name for f in schema if str(f.type) == "string" and f.name != "_extra"]
        return original(where, schema, use_dictionary=strings, **kwargs)

    class _Shim:
        ParquetWriter = staticmethod(writer)

    part_writer.pq = _Shim  # type: ignore[assignment]


def _extras_fast_path() -> None:
    from exporter.sinks import convert

    original = convert.RecordConverter._extras

    def _extras(self: Any, records: Any, arrays: Any) -> Any:
        # Every record has at least as many keys as non-null known values, with equality for
        # all records exactly when none has an unknown key (or an explicit null).
        if not self._nested and sum(map(len, records)) == sum(
            len(a) - a.null_count for a in arrays
        ):
            return [None] * len(records)
        return original(self, records, arrays)

    convert.RecordConverter._extras = _extras  # type: ignore[method-assign]


def _single_read() -> None:
    import requests
    import urllib3

    from exporter.transport import http

    def _attempt(
        self: Any, method: str, url: str, headers: Any, data: Any, expect: Any, stats: Any
    ) -> Any:
        stats.add(requests=1)
        try:
            response = self.session().request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
                stream=True,
            )
            try:
                body = response.raw.read(decode_content=True)
            finally:
                response.close()
            response._content = body
            response._content_consumed = True
        except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
            return http.classify_exception(exc, self.timeout), None
        stats.add(bytes_received=len(body))
        verdict = http.classify_response(response.status_code, response.headers, body, expect)
        return verdict, response

    http.Transport._attempt = _attempt  # type: ignore[method-assign]


def _environment_once() -> None:
    import requests

    from exporter.transport import http

    original = http.Transport.session

    def session(self: Any) -> requests.Session:
        current = original(self)
        if current.trust_env:
            current.proxies.update(requests.utils.get_environ_proxies("http://127.0.0.1"))
            current.trust_env = False
        return current

    http.Transport.session = session  # type: ignore[method-assign]


def _no_canonical_conversion() -> None:
    from exporter.api import canonical

    canonical.converter = lambda endpoint, mode: None  # type: ignore[assignment]


def _switch_interval(seconds: float) -> Any:
    def apply() -> None:
        import sys

        sys.setswitchinterval(seconds)

    return apply


def _thread_cpu() -> None:
    """Not an optimisation: appends each exporter thread's CPU time to $THREAD_CPU_LOG."""
    import time

    from exporter.pipeline import fetch, runner

    def timed(original: Any, label: str) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                with open(os.environ["THREAD_CPU_LOG"], "a", encoding="utf-8") as log:
                    log.write(f"{label} {time.thread_time() - start:.3f}\n")

        return wrapper

    fetch.Fetcher.run = timed(fetch.Fetcher.run, "paging-thread")  # type: ignore[method-assign]
    runner._Run.export = timed(runner._Run.export, "export-thread")  # type: ignore[method-assign]


PATCHES = {
    "threadcpu": _thread_cpu,
    "switch1ms": _switch_interval(0.001),
    "switch20ms": _switch_interval(0.02),
    "dict": _dictionary_only_for_strings,
    "extras": _extras_fast_path,
    "stream": _single_read,
    "env": _environment_once,
    "native": _no_canonical_conversion,
}

for _name in sorted(SELECTED):
    PATCHES[_name]()
