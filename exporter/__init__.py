"""operate-export: Camunda 8 Operate data to Parquet or JSONL snapshots.

The pipeline, one module per step (data flows top to bottom):

    spec.py        YAML -> ${ENV} substitution -> JSON Schema + semantic checks
                   -> frozen dataclasses (envsubst.py, spec_checks.py, v2_filters.py)
    endpoints.py   the registries of exportable resources (v1; endpoints_v2.py for v2)
    probe.py       source.api: auto -> v1 or v2, once per run
    auth.py        credential objects (saas, identity, cookie, basic, none)
    http.py        session, timeouts, classify-then-retry (retry.py), big-int-safe JSON
    paging.py      searchAfter (v1) loop; paging_v2.py: page cursor (v2) loop
    hydrate.py     completes what search results leave out (variables, decision details, XML)
    sinks/         Arrow schemas, Parquet and JSONL part writers, snapshot publish + manifest
    runner.py      wires one job together, returns result objects, never prints
    progress.py    terminal / log-line / JSON progress reporting
    cli.py         the thin click shell (run_command.py holds the run command's body)
    simulator/     the bundled Operate simulator (tests, demo, trying specs)
"""

__version__ = "0.1.0"
