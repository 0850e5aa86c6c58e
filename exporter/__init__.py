"""operate-export: Camunda 8 Operate data to Parquet or JSONL snapshots.

The pipeline, one module per step (data flows top to bottom):

    spec.py        YAML -> ${ENV} substitution -> JSON Schema + semantic checks
                   -> frozen dataclasses
    endpoints.py   the registry of exportable resources (paths, keys, fields, types)
    auth.py        credential objects (saas, identity, cookie, basic, none)
    http.py        session, timeouts, classify-then-retry, big-int-safe JSON
    paging.py      searchAfter (v1) / page cursor (v2) loops
    hydrate.py     completes what search results leave out (variables, decision details, XML)
    sinks/         Arrow schemas, Parquet and JSONL part writers, snapshot publish + manifest
    runner.py      wires one job together, returns result objects, never prints
    progress.py    terminal / log-line / JSON progress reporting
    cli.py         the thin click shell
    simulator/     the bundled Operate simulator (tests, demo, trying specs)
"""

__version__ = "0.1.0"
