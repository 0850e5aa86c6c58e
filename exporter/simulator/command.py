"""``operate-export simulate``: run the bundled Operate simulator until Ctrl-C."""

from __future__ import annotations

import os
import time

import click

from exporter.simulator.auth import AUDIENCES, MODES
from exporter.simulator.clock import format_iso
from exporter.simulator.faults import KINDS, FaultConfig
from exporter.simulator.server import Simulator, SimulatorConfig
from exporter.simulator.v2 import SERVER_VERSIONS

EXAMPLE = """\b
Examples:
  operate-export simulate --port 0 --scale 5000
  SIM_CLIENT_SECRET=s3cret operate-export simulate --auth saas --token-ttl 60
  operate-export simulate --fault-rate 429=0.05 --fault-rate reset=0.01 --latency-ms 20
  operate-export simulate --api v2 --server-version 8.8
  operate-export simulate --live --clock-rate 60 --api both   # a minute per second

\b
Credentials: --client-secret and --password default to the environment variables
SIM_CLIENT_SECRET and SIM_PASSWORD (preferred over flags: flags show up in `ps`).
Fault kinds: 429, 500, 502, 503, 504, reset, slow, truncated, html.
Control: GET /__sim/stats, POST /__sim/faults with FaultConfig JSON,
GET /__sim/clock, POST /__sim/clock with {"set": "2026-11-27T10:00:00Z"} or {"advance": "PT1H"}.
"""


def audiences_for(auth: str, api: str) -> str:
    """The token audiences that open the served API(s), e.g. ``operate.camunda.io (v1)``."""
    served = ("v1", "v2") if api == "both" else (api,)
    return ", ".join(
        f"{audience} ({'/'.join(a for a in apis if a in served)})"
        for audience, apis in AUDIENCES[auth].items()
        if any(a in served for a in apis)
    )


def _parse_faults(values: tuple[str, ...], latency_ms: int) -> FaultConfig:
    rates: dict[str, float] = {}
    for item in values:
        kind, sep, rate = item.partition("=")
        if not sep or kind not in KINDS:
            raise click.BadParameter(
                f"{item!r}: expected KIND=RATE with KIND one of {', '.join(KINDS)}",
                param_hint="--fault-rate",
            )
        try:
            rates[f"rate_{kind}"] = float(rate)
        except ValueError:
            raise click.BadParameter(
                f"{item!r}: RATE must be a number", param_hint="--fault-rate"
            ) from None
    try:
        return FaultConfig(latency_ms=latency_ms, **rates)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault-rate") from None


@click.command(epilog=EXAMPLE)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port; 0 picks a free one (the printed URL shows it).",
)
@click.option(
    "--scale",
    default=1000,
    show_default=True,
    type=click.IntRange(0),
    help="Number of process instances; other resources scale from it.",
)
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of data and faults.")
@click.option("--auth", "auth", default="none", show_default=True, type=click.Choice(MODES))
@click.option(
    "--token-ttl",
    default=300,
    show_default=True,
    type=click.IntRange(1),
    help="Lifetime (s) of issued tokens (saas, identity).",
)
@click.option(
    "--csrf-header",
    default="X-CSRF-TOKEN",
    show_default=True,
    type=click.Choice(["X-CSRF-TOKEN", "OPERATE-X-CSRF-TOKEN"]),
    help="Cookie mode.",
)
@click.option("--client-id", default="operate-export", show_default=True)
@click.option(
    "--client-secret",
    envvar="SIM_CLIENT_SECRET",
    default="sim-client-secret",
    show_default=False,
    help="Prefer env SIM_CLIENT_SECRET.",
)
@click.option("--username", default="demo", show_default=True)
@click.option(
    "--password",
    envvar="SIM_PASSWORD",
    default="demo",
    show_default=False,
    help="Prefer env SIM_PASSWORD.",
)
@click.option("--session-max-age", type=float, default=None, help="Cookie sessions expire (s).")
@click.option(
    "--session-max-requests",
    type=click.IntRange(1),
    default=None,
    help="Cookie sessions expire after N API requests.",
)
@click.option(
    "--variable-threshold",
    default=128,
    show_default=True,
    type=click.IntRange(1),
    help="Variable values longer than this are truncated in search.",
)
@click.option(
    "--latency-ms",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Fixed latency added to every API request.",
)
@click.option(
    "--fault-rate",
    "fault_rates",
    multiple=True,
    metavar="KIND=RATE",
    help="Inject a fault kind on a fraction of API requests (repeatable).",
)
@click.option(
    "--api",
    default="v1",
    show_default=True,
    type=click.Choice(["v1", "v2", "both"]),
    help="Which API to serve: v1 (/v1, Operate), v2 (/v2, Orchestration Cluster) or both.",
)
@click.option(
    "--server-version",
    default="8.9",
    show_default=True,
    type=click.Choice(list(SERVER_VERSIONS)),
    help="v2: the Camunda version whose response shapes, filters and sorts are served "
    "(8.9 sends explicit nulls for required-nullable fields).",
)
@click.option(
    "--live",
    is_flag=True,
    help="Live mode: as the clock advances, instances start, run and finish, incidents open "
    "and resolve, variables change; search shows each change --visibility-lag seconds later.",
)
@click.option(
    "--clock-start",
    default=None,
    metavar="ISO",
    help="Start time of the clock (default 2026-11-27T00:00:00Z, after the generated history).",
)
@click.option(
    "--clock-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Simulated seconds per real second (0: the clock moves only via POST /__sim/clock).",
)
@click.option(
    "--live-rate",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Live mode: new process instances per simulated minute.",
)
@click.option(
    "--visibility-lag",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Live mode: seconds from a change to search showing it (importer lag).",
)
@click.option(
    "--late-fraction",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Live mode: share of changes shown --late-seconds after them instead.",
)
@click.option("--late-seconds", default=90.0, show_default=True, type=click.FloatRange(0))
def simulate(
    host: str,
    port: int,
    scale: int,
    seed: int,
    auth: str,
    token_ttl: int,
    csrf_header: str,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    session_max_age: float | None,
    session_max_requests: int | None,
    variable_threshold: int,
    latency_ms: int,
    fault_rates: tuple[str, ...],
    api: str,
    server_version: str,
    live: bool,
    clock_start: str | None,
    clock_rate: float,
    live_rate: float,
    visibility_lag: float,
    late_fraction: float,
    late_seconds: float,
) -> None:
    """Run the bundled Operate simulator (a real HTTP/1.1 server) until Ctrl-C."""
    faults = _parse_faults(fault_rates, latency_ms)
    config = SimulatorConfig(
        scale=scale,
        seed=seed,
        auth=auth,
        client_id=client_id,
        client_secret=client_secret,
        username=username,
        password=password,
        token_ttl=token_ttl,
        csrf_header=csrf_header,
        session_max_age=session_max_age,
        session_max_requests=session_max_requests,
        variable_threshold=variable_threshold,
        faults=faults,
        host=host,
        port=port,
        api=api,
        server_version=server_version,
        live=live,
        clock_start=clock_start,
        clock_rate=clock_rate,
        live_instances_per_minute=live_rate,
        visibility_lag=visibility_lag,
        late_fraction=late_fraction,
        late_seconds=late_seconds,
    )
    try:
        sim = Simulator(config)
    except ValueError as exc:  # a bad --clock-start
        raise click.BadParameter(str(exc), param_hint="--clock-start") from None
    try:
        sim.start()
    except OSError as exc:
        raise click.UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    served = api if api == "v1" else f"{api}, v2 as Camunda {server_version}"
    click.echo(f"Operate simulator (API {served}, scale {scale}, seed {seed}, auth {auth})")
    click.echo(f"base URL:  {sim.base_url}")
    if sim.token_url:
        # The client id is not a secret; the client secret is never printed.
        click.echo(f"token URL: {sim.token_url}   (client id {client_id!r})")
        click.echo(f"audience:  {audiences_for(auth, api)}")
    if auth in ("cookie", "basic"):
        click.echo(
            f"login:     {sim.base_url}/api/login (user {username!r})"
            if auth == "cookie"
            else f"user:      {username!r}"
        )
    mode = f"live, {live_rate:g} instances/min, lag {visibility_lag:g} s" if live else "static"
    flow = f"{clock_rate:g}x real time" if clock_rate else "standing still"
    click.echo(f"clock:     {format_iso(sim.now())} ({flow}; {mode}): {sim.base_url}/__sim/clock")
    click.echo(f"stats:     {sim.base_url}/__sim/stats   (Ctrl-C to stop)", nl=True)
    if os.environ.get("SIM_EXIT_AFTER"):  # test hook: serve for N seconds, then stop
        deadline = time.monotonic() + float(os.environ["SIM_EXIT_AFTER"])
    else:
        deadline = float("inf")
    try:
        while time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        click.echo("simulator stopped", err=True)
