"""``operate-export dump`` end to end: the real CLI in a subprocess against the bundled simulator.

Every dump here runs ``python -m exporter dump`` with a clean ``OPERATE_*`` environment, reads
its stdout as bytes and compares the records with the simulator's truth (or with what ``run``
writes for the printed spec).
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.simulator import FaultConfig, Simulator
from exporter.sinks import MANIFEST_NAME

MakeSim = Callable[..., Simulator]
ROOT = Path(__file__).resolve().parent.parent


def clean_env(base_url: str | None, **extra: str) -> dict[str, str]:
    """The test process's environment without OPERATE_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPERATE_")}
    env["PYTHONPATH"] = str(ROOT)
    if base_url is not None:
        env["OPERATE_BASE_URL"] = base_url
    env.update(extra)
    return env


def cli(
    *args: str, env: dict[str, str], cwd: Path | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        env=env,
        cwd=cwd,
        input=stdin,
        timeout=120,
        check=False,
    )


def dump(sim: Simulator, *args: str, **extra: str) -> subprocess.CompletedProcess[bytes]:
    """``dump`` with the API's own record shape (``--schema native``), which these tests compare
    with the simulator's truth; the canonical default is tested in tests/test_canonical.py."""
    native = () if "--schema" in args else ("--schema", "native")
    return cli("dump", *args, *native, env=clean_env(sim.base_url, **extra))


def records_of(proc: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    """stdout as records; fails unless every line is one JSON object (nothing else on stdout)."""
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.splitlines()
    records = [orjson.loads(line) for line in lines]
    assert all(isinstance(r, dict) for r in records)
    assert proc.stdout == b"" or proc.stdout.endswith(b"\n")
    return records


def by_key(records: list[dict[str, Any]], key: str) -> list[Any]:
    return [r[key] for r in records]


# --------------------------------------------------------------------------- filters and sorts


def test_v1_exact_filter_and_sort_give_the_servers_records_in_order(simulator: Simulator) -> None:
    proc = dump(simulator, "incidents", "--api", "v1", "--filter", "state=ACTIVE", "--sort",
                "creationTime:desc")  # fmt: skip
    got = records_of(proc)
    truth = [r for r in simulator.dataset.records("incidents") if r["state"] == "ACTIVE"]
    truth.sort(key=lambda r: (r["creationTime"], r["key"]), reverse=True)
    assert got == truth and len(got) >= 2
    assert by_key(got, "key") == by_key(truth, "key")  # exact int64 keys, server order
    # Progress and logs went to stderr.
    assert b"export=incidents ok records=" in proc.stderr


def test_v1_date_math_and_a_typed_key_filter(simulator: Simulator) -> None:
    instances = simulator.dataset.records("process-instances")
    hour = instances[len(instances) // 2]["startDate"][:13]  # "2026-09-01T09"
    definition = instances[0]["processDefinitionKey"]
    in_hour = [r for r in instances if r["startDate"].startswith(hour)]
    proc = dump(simulator, "process-instances", "--filter", f"startDate={hour}:00:00.000+0000||/h")
    assert records_of(proc) == in_hour
    # A key written as text reaches Operate as the exact integer (typed like a YAML scalar).
    proc = dump(simulator, "process-instances", "--filter", f"processDefinitionKey={definition}",
                "--filter", "incident=false", "--api", "v1")  # fmt: skip
    expected = [
        r for r in instances if r["processDefinitionKey"] == definition and not r["incident"]
    ]
    assert records_of(proc) == expected and expected


def test_v2_operators_through_filter_json(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=300, seed=7, api="v2")
    truth = sim.dataset.records("process-instances", api="v2")
    dates = sorted(r["startDate"] for r in truth)
    low, high = dates[len(dates) // 4], dates[3 * len(dates) // 4]
    window = orjson.dumps({"startDate": {"$gte": low, "$lt": high}}).decode()
    proc = dump(sim, "process-instances", "--api", "v2", "--filter-json", window,
                "--filter", "state=COMPLETED", "--sort", "startDate:desc")  # fmt: skip
    expected = [r for r in truth if low <= r["startDate"] < high and r["state"] == "COMPLETED"]
    expected.sort(key=lambda r: (r["startDate"], int(r["processInstanceKey"])), reverse=True)
    got = records_of(proc)
    assert got == expected and len(got) > 10
    assert isinstance(got[0]["processInstanceKey"], str)  # v2 records as the server sent them


def test_v2_date_math_is_refused_with_the_validators_message(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=50, api="v2")
    sim.reset_stats()
    proc = dump(sim, "incidents", "--api", "v2", "--filter",
                "creationTime=2026-11-27T10:00:00.000+0000||/h")  # fmt: skip
    assert proc.returncode == 2
    stderr = proc.stderr.decode()
    assert "exports[0].filter.creationTime" in stderr and "date math" in stderr
    assert "--filter/--filter-json" in stderr  # the hint maps spec paths to options
    assert proc.stdout == b""
    assert sim.stats()["requests"] == 0  # validation comes before any request


def test_max_records_caps_the_stream(simulator: Simulator) -> None:
    proc = dump(simulator, "flownode-instances", "--api", "v1", "--max-records", "25",
                "--page-size", "10")  # fmt: skip
    truth = sorted(simulator.dataset.records("flownode-instances"), key=lambda r: r["key"])
    assert records_of(proc) == truth[:25]


def test_auto_picks_v2_when_served_and_says_so_on_stderr(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=100, api="both")
    proc = dump(sim, "incidents", "--filter", "state=ACTIVE")
    got = records_of(proc)
    truth = [r for r in sim.dataset.records("incidents", api="v2") if r["state"] == "ACTIVE"]
    assert sorted(by_key(got, "incidentKey")) == sorted(by_key(truth, "incidentKey"))
    assert b"api auto: chose v2" in proc.stderr


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    ("mode", "good", "bad"),
    [
        pytest.param(
            "basic",
            {"OPERATE_USERNAME": "demo", "OPERATE_PASSWORD": "sim-pass-7f3a"},
            {"OPERATE_USERNAME": "demo", "OPERATE_PASSWORD": "wrong-pass-91c2"},
            id="basic",
        ),
        pytest.param(
            "saas",
            {"OPERATE_CLIENT_ID": "operate-export", "OPERATE_CLIENT_SECRET": "sim-secret-5d1e"},
            {"OPERATE_CLIENT_ID": "operate-export", "OPERATE_CLIENT_SECRET": "wrong-secret-c0de"},
            id="saas",
        ),
    ],
)
def test_credentials_come_from_the_environment(
    make_simulator: MakeSim, mode: str, good: dict[str, str], bad: dict[str, str]
) -> None:
    sim = make_simulator(
        scale=50, auth=mode, password="sim-pass-7f3a", client_secret="sim-secret-5d1e"
    )
    token = {"OPERATE_TOKEN_URL": str(sim.token_url)} if mode == "saas" else {}
    ok = dump(sim, "incidents", "--auth", mode, "--api", "v1", **good, **token)
    assert len(records_of(ok)) == len(sim.dataset.records("incidents"))
    # The mode may also come from the environment; a wrong credential fails with exit 1.
    failed = dump(sim, "incidents", **bad, **token, OPERATE_AUTH_MODE=mode)
    assert failed.returncode == 1
    assert failed.stdout == b""
    assert f"{mode} authentication".encode() in failed.stderr
    printed = dump(sim, "incidents", "--auth", mode, "--print-spec", **good, **token)
    assert printed.returncode == 0
    for secret in (*good.values(), *bad.values()):
        if "secret" in secret or "pass" in secret:
            assert secret.encode() not in ok.stderr + failed.stderr + printed.stdout


def test_a_missing_credential_variable_is_named(simulator: Simulator) -> None:
    proc = dump(simulator, "incidents", "--auth", "basic", OPERATE_USERNAME="demo")
    assert proc.returncode == 2
    assert b"source.auth.password: environment variable OPERATE_PASSWORD is not set" in (
        proc.stderr
    )


# --------------------------------------------------------------------------- a closed pipe


def test_a_reader_that_closes_the_pipe_stops_the_export_quietly(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=2000, seed=3)
    pages = len(sim.dataset.records("flownode-instances")) // 20
    sim.reset_stats()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "dump",
            "flownode-instances",
            "--api",
            "v1",
            "--page-size",
            "20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(sim.base_url),
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    assert all(isinstance(orjson.loads(line), dict) for line in lines)
    proc.stdout.close()
    try:
        code = proc.wait(timeout=20)  # generous: it stops at the next page it writes
    finally:
        proc.kill()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert "BrokenPipeError" not in stderr
    assert "stdout was closed by its reader" in stderr
    assert "FAILED" not in stderr
    assert sim.stats()["requests"] < pages // 4  # paging stopped instead of running on


def test_head_in_a_shell_pipeline(simulator: Simulator) -> None:
    command = f"{sys.executable} -m exporter dump variables --api v1 --page-size 5 | head -5"
    proc = subprocess.run(
        ["sh", "-c", command],
        capture_output=True,
        env=clean_env(simulator.base_url),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 5
    assert b"Traceback" not in proc.stderr and b"Exception ignored" not in proc.stderr


# --------------------------------------------------------------------------- --print-spec and -o


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_printed_spec_validates_and_runs_to_the_same_records(
    make_simulator: MakeSim, tmp_path: Path, api: str
) -> None:
    simulator = make_simulator(scale=300, seed=7, api="both")
    options = [
        "incidents",
        "--api",
        api,
        "--filter",
        "state=ACTIVE",
        "--sort",
        "creationTime:desc",
    ]
    streamed = dump(simulator, *options)
    assert records_of(streamed)
    printed = dump(simulator, *options, "--print-spec")
    assert printed.returncode == 0, printed.stderr.decode()
    text = printed.stdout.decode()
    assert "base_url: ${OPERATE_BASE_URL}" in text
    assert simulator.base_url not in text  # the source stays a reference, as in configs/
    spec = tmp_path / "job.yaml"
    spec.write_bytes(printed.stdout)
    env = clean_env(simulator.base_url)
    validated = cli("validate", str(spec), env=env)
    assert validated.returncode == 0, validated.stderr.decode()
    assert b"ok: 1 export (incidents)" in validated.stdout
    ran = cli("run", str(spec), env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr.decode()
    parts = sorted((tmp_path / "exports" / "incidents").rglob("part-*.jsonl"))
    assert len(parts) == 1
    # Byte for byte: same records, same order, same serialisation (exact int64 keys).
    assert parts[0].read_bytes() == streamed.stdout


def test_printed_spec_keeps_literal_dollars_and_typed_values(simulator: Simulator) -> None:
    printed = dump(simulator, "process-instances", "--api", "v1", "--filter",
                   "bpmnProcessId=cost$centre", "--filter", "key=2251799813685296",
                   "--filter", "incident=true", "--max-records", "10", "--base-url",
                   simulator.base_url, "--print-spec")  # fmt: skip
    assert printed.returncode == 0, printed.stderr.decode()
    text = printed.stdout.decode()
    assert "bpmnProcessId: cost$$centre" in text  # $$: not a ${VAR} reference
    assert "key: 2251799813685296\n" in text  # an integer, not '2251799813685296'
    assert "incident: true\n" in text
    assert "max_records: 10\n" in text
    assert f"base_url: {simulator.base_url}\n" in text
    assert "${OPERATE_BASE_URL}" not in text


def test_output_path_writes_one_snapshot_like_run(simulator: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = dump(simulator, "incidents", "--api", "v1", "-o", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().splitlines()[1].split()[:3] == ["incidents", "ok", "14"]
    manifests = list((out / "incidents").rglob(MANIFEST_NAME))
    assert len(manifests) == 1
    lines = next(manifests[0].parent.glob("part-*.jsonl")).read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == simulator.dataset.records("incidents")

    parquet = dump(simulator, "incidents", "--api", "v1", "--format", "parquet", "-o", str(out))
    assert parquet.returncode == 0, parquet.stderr.decode()
    written = sorted((out / "incidents").rglob(MANIFEST_NAME))
    assert len(written) == 2
    assert orjson.loads(written[-1].read_bytes())["format"] == "parquet"


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--format", "parquet"], b"parquet cannot stream to stdout", id="parquet"),
        pytest.param(
            ["--format", "parquet", "-o", "-"], b"parquet cannot stream to stdout", id="parquet-"
        ),
        pytest.param(["--filter", "state"], b"'state' is not FIELD=VALUE", id="filter-syntax"),
        pytest.param(
            ["--filter", "state=ACTIVE", "--filter", "state=RESOLVED"],
            b"field 'state' is given twice",
            id="filter-twice",
        ),
        pytest.param(["--filter-json", "[1]"], b"expected a JSON object", id="json-not-object"),
        pytest.param(["--filter-json", "{"], b"not JSON", id="json-syntax"),
        pytest.param(["--sort", "creationTime:up"], b"is not FIELD, FIELD:asc", id="sort"),
        pytest.param(
            ["--filter", "state=RUNNING"],
            b"exports[0].filter.state: 'RUNNING' is not one of",
            id="enum-value",
        ),
    ],
)
def test_bad_options_exit_2_before_any_request(
    simulator: Simulator, args: list[str], message: bytes
) -> None:
    simulator.reset_stats()
    proc = dump(simulator, "incidents", "--api", "v1", *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == b""
    assert simulator.stats()["requests"] == 0


def test_no_base_url_is_named(tmp_path: Path) -> None:
    proc = cli("dump", "incidents", env=clean_env(None))
    assert proc.returncode == 2
    assert b"source.base_url: environment variable OPERATE_BASE_URL is not set" in proc.stderr


def test_help_has_examples() -> None:
    proc = cli("dump", "--help", env=clean_env(None))
    assert proc.returncode == 0
    assert b"operate-export dump incidents --filter state=ACTIVE | jq" in proc.stdout
    assert b"--print-spec" in proc.stdout
    top = cli("--help", env=clean_env(None))
    assert b"dump" in top.stdout


def test_the_stream_starts_before_the_export_ends(make_simulator: MakeSim) -> None:
    """Records arrive as pages do: the first line is readable while the server is still paged."""
    sim = make_simulator(scale=300, faults=FaultConfig(latency_ms=150))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "dump",
            "flownode-instances",
            "--api",
            "v1",
            "--page-size",
            "50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=clean_env(sim.base_url),
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    requests_at_first_line = sim.stats()["requests"]
    rest = proc.stdout.read()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    total_pages = len(sim.dataset.records("flownode-instances")) // 50 + 1
    assert isinstance(orjson.loads(first), dict) and rest.count(b"\n") > 100
    assert requests_at_first_line < total_pages // 2  # not held back until the end


def test_records_on_a_terminal_are_not_overwritten_by_live_progress(simulator: Simulator) -> None:
    """stdout and stderr on one terminal: progress comes as plain lines, never redrawn over
    the records (the live display moves the cursor up)."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "exporter",
                "dump",
                "incidents",
                "--api",
                "v1",
                "--max-records",
                "3",
            ],
            stdout=terminal,
            stderr=terminal,
            env=clean_env(simulator.base_url),
            timeout=60,
            check=False,
        )
    finally:
        os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's other end is closed and everything was read
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert proc.returncode == 0
    assert shown.count(b'{"incidentKey":') == 3  # dump's default: the canonical schema
    assert b"\x1b[" not in shown
    assert b"export=incidents ok records=3" in shown


def test_sigint_stops_a_streaming_dump_like_run(make_simulator: MakeSim) -> None:
    sim = make_simulator(scale=300, faults=FaultConfig(latency_ms=100))
    pages = len(sim.dataset.records("flownode-instances")) // 20
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "dump",
            "flownode-instances",
            "--api",
            "v1",
            "--page-size",
            "20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(sim.base_url),
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert isinstance(orjson.loads(proc.stdout.readline()), dict)
    proc.send_signal(signal.SIGINT)
    killer = threading.Timer(20, proc.kill)  # generous: it stops within one request
    killer.start()
    try:
        out, err = proc.stdout.read(), proc.stderr.read()  # through the same buffered readers
        proc.wait()
    finally:
        killer.cancel()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    assert b"stopped: interrupted by SIGINT after" in err
    assert b"records on stdout; a stream cannot be resumed" in err
    assert all(isinstance(orjson.loads(line), dict) for line in out.splitlines())
    assert sim.stats()["requests"] < pages // 2  # paging stopped, not run to the end
