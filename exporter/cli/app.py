"""The thin click shell: parse arguments, call one library function, map errors to exit codes.

Exit codes: 0 success, 1 an export failed (auth, API, output), 2 invalid spec or usage,
75 another run holds the run lock of an export,
130 / 143 stopped by SIGINT / SIGTERM (snapshots left incomplete and resumable).
"""

from __future__ import annotations

import importlib
import sys

import click

from exporter.api.validation import load_spec, load_spec_stream
from exporter.cli.options import metrics_file_option
from exporter.cli.startup import (
    hide_unused_modules,
    pause_collector,
    resume_collector,
    reveal_startup_modules,
)
from exporter.errors import EXIT_INVALID, ExporterError, SpecError, UsageError
from exporter.spec import schema_text, summary
from exporter.version import __version__

STDIN_ORIGIN = "<stdin>"

EXIT_CODES_HELP = """\b
Exit codes:
  0    success
  1    an export failed (authentication, API, output)
  2    invalid job spec or command-line usage
  75   another run is exporting the same exports into the same place (run lock); retry later
  130  stopped by SIGINT (Ctrl-C); the snapshots can be continued with --resume
  143  stopped by SIGTERM (e.g. Kubernetes); likewise resumable
"""


class _Commands(click.Group):
    """A group whose ``simulate`` command is imported only when it is used.

    The simulator pulls in http.server and the dataset generator (~60 ms of imports), which
    every ``run`` would otherwise pay for.
    """

    LAZY = {
        "simulate": "exporter.simulator.command",
        "dump": "exporter.cli.dump",
        "ls": "exporter.cli.ls",
        "state": "exporter.cli.state",
        "rebuild-table": "exporter.cli.tables",
        "plan": "exporter.cli.shards",
        "commit": "exporter.cli.shards",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module = importlib.import_module(self.LAZY[cmd_name])
            self.add_command(getattr(module, cmd_name.replace("-", "_")))
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_Commands,
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="operate-export")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Export Camunda 8 Operate data to Parquet or JSONL snapshots from a YAML job spec.

    \b
    Example:
      operate-export validate configs/demo.yaml
      operate-export run configs/demo.yaml
    """
    # The command is known and imported (run's module: below): see cli/startup.py.
    try:
        resume_collector(*_COMMAND_MODULES.get(ctx.invoked_subcommand or "", ()))
    finally:
        reveal_startup_modules()


# Modules a command imports when it starts (lazy commands are imported by _Commands already).
_COMMAND_MODULES = {"run": ("exporter.cli.run",)}


@cli.command()
@click.argument(
    "specs", nargs=-1, required=True, type=click.Path(dir_okay=True, allow_dash=True, path_type=str)
)
@click.option(
    "--offline",
    is_flag=True,
    help="For CI without the secrets: an unset ${VAR} is listed as a placeholder, not an "
    "error; everything else is checked as usual.",
)
def validate(specs: tuple[str, ...], offline: bool) -> None:
    """Check job specs without contacting any server; report every problem of every file.

    A valid spec prints a one-line summary (exports, endpoints, auth mode, format, output
    path). Environment variables referenced as ${VAR} must be set (or have a default);
    with --offline an unset one is reported as a placeholder (its value cannot be checked)
    and does not make the spec invalid. SPEC "-" reads the spec from standard input.

    \b
    Example:
      operate-export validate configs/demo.yaml configs/saas.yaml
      envsubst < job.yaml.tmpl | operate-export validate -
      operate-export validate --offline deploy/*.yaml     # CI, no secrets
    """
    invalid = 0
    for path in specs:
        try:
            if offline:
                path, line = _validate_offline(path)
            elif path == "-":
                path = STDIN_ORIGIN
                line = summary(load_spec_stream(sys.stdin.buffer, STDIN_ORIGIN))
            else:
                line = summary(load_spec(path))
        except SpecError as exc:
            invalid += 1
            click.echo(str(exc), err=True)
        else:
            click.echo(f"{path}: ok: {line}")
    if invalid:
        noun = "spec is" if invalid == 1 else "specs are"
        click.echo(f"{invalid} of {len(specs)} {noun} invalid", err=True)
        click.get_current_context().exit(EXIT_INVALID)


def _validate_offline(path: str) -> tuple[str, str]:
    """(shown path, summary line) of an offline check; SpecError when invalid."""
    from exporter.api.validation import check_offline, check_offline_stream

    if path == "-":
        path = STDIN_ORIGIN
        checked = check_offline_stream(sys.stdin.buffer, STDIN_ORIGIN)
    else:
        checked = check_offline(path)
    line = summary(checked.spec) if checked.spec is not None else "valid apart from placeholders"
    if checked.placeholders:
        names = ", ".join(f"{p.name} ({p.path})" for p in checked.placeholders)
        noun = "placeholder" if len(checked.placeholders) == 1 else "placeholders"
        line += f"; {len(checked.placeholders)} unset {noun}, not checked: {names}"
    return path, line


@cli.command()
def schema() -> None:
    """Print the JSON Schema (2020-12) of the job spec language.

    \b
    Example:
      operate-export schema > job.schema.json
    """
    click.echo(schema_text(), nl=False)


RESUME_ON = "on"
RESUME_AUTO = "auto"


class _RunCommand(click.Command):
    """``--resume`` takes an optional ``=auto``; written alone it must never swallow the next
    argument as its value (``run --resume job.yaml``), so it is spelled out before parsing."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args = [f"--resume={RESUME_ON}" if arg == "--resume" else arg for arg in args]
        return super().parse_args(ctx, args)


@cli.command(cls=_RunCommand, epilog=EXIT_CODES_HELP)
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--dry-run",
    is_flag=True,
    help="Connectivity check: first search of each export (size 1), body and total; no output.",
)
@click.option(
    "--resume",
    type=click.Choice([RESUME_ON, RESUME_AUTO]),
    is_flag=False,
    flag_value=RESUME_ON,
    default=None,
    metavar="[=auto]",
    help="Continue interrupted snapshots after their last written page; one that no longer "
    "fits the spec (filter, sort, format... changed) is an error. --resume=auto (for cron) "
    "starts a fresh snapshot instead and logs why.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Progress and log lines as text or as JSON lines (stderr).",
)
@click.option(
    "--only", "only", multiple=True, metavar="NAME", help="Run only this export (repeatable)."
)
@click.option(
    "--from",
    "range_from",
    metavar="T",
    help="Re-export the windows of [T, --to) of the incremental exports (RFC 3339 or -30d), "
    "without moving their watermarks; select them with --only.",
)
@click.option(
    "--to",
    "range_to",
    metavar="T",
    help="End of the --from range (default: the run's cutoff, the server's clock - lag).",
)
@metrics_file_option(
    "Write the run's metrics in the Prometheus text format to PATH (atomically; for "
    "node_exporter's textfile collector name it *.prom)."
)
@click.option(
    "--allow-api-switch",
    is_flag=True,
    help="With output.schema: native and source.api: auto, write snapshots of the API the "
    "probe chose even into exports whose snapshots came from the other API (refused, exit 2, "
    "without it).",
)
@click.option(
    "--shard",
    metavar="I/N",
    help="Run shard I (0..N-1) of the sharded exports' plan of N, into the snapshot of "
    "--run-id (another process runs each other shard; commit --run-id publishes it).",
)
@click.option(
    "--shard-from-env",
    type=click.IntRange(1, 1024),
    metavar="N",
    help="--shard I/N with I from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).",
)
@click.option(
    "--run-id", metavar="ID", help="Name the run (required with --shard: its shards share it)."
)
def run(
    spec_path: str,
    dry_run: bool,
    resume: str | None,
    quiet: bool,
    log_format: str,
    only: tuple[str, ...],
    metrics_file: str | None,
    allow_api_switch: bool,
    range_from: str | None = None,
    range_to: str | None = None,
    shard: str | None = None,
    shard_from_env: int | None = None,
    run_id: str | None = None,
) -> None:
    """Run the exports of a job spec and print a summary per export.

    The spec is validated first (exit 2 before any network request). Exports run
    concurrently; one failing export does not stop the others, and the run exits 1
    naming each failed export and why. Progress goes to stderr: a live display on a
    terminal, log lines otherwise (cron), JSON lines with --log-format json.
    SIGINT (Ctrl-C) or SIGTERM stops paging within a couple of seconds and leaves
    the snapshots incomplete for --resume (exit 130 / 143; a second signal exits at
    once). A second run of the same exports into the same output location while
    one is going exits 75 at once, naming the holder (host, pid, start time).

    \b
    Example:
      operate-export run configs/demo.yaml
      operate-export run configs/demo.yaml --dry-run
      operate-export run configs/demo.yaml --only variables --log-format json
      operate-export run configs/demo.yaml --resume=auto    # cron
      operate-export run job.yaml --only orders --from 2026-11-01T00:00:00Z --to -7d
      operate-export run job.yaml --resume=auto --metrics-file /var/lib/node_exporter/job.prom
      operate-export run job.yaml --shard 3/8 --run-id nightly-2026-12-01
    """
    from exporter.cli.run import run_or_exit

    shards = None
    if shard is not None or shard_from_env is not None:  # (the modules of sharded runs only)
        from exporter.cli.shards import parse_shard

        shards = parse_shard(shard, shard_from_env)
    if shards is not None and not run_id:
        raise UsageError("--shard needs --run-id: the shards of one run share its snapshot")
    if run_id is not None:
        from exporter.sinks.shards import check_run_id

        check_run_id(run_id)

    resume_mode: bool | str = RESUME_AUTO if resume == RESUME_AUTO else resume is not None
    code = run_or_exit(
        spec_path,
        dry_run=dry_run,
        resume=resume_mode,
        quiet=quiet,
        log_format=log_format,
        only=only,
        metrics_file=metrics_file,
        allow_api_switch=allow_api_switch,
        range_from=range_from,
        range_to=range_to,
        shard=shards,
        run_id=run_id,
    )
    if code:
        click.get_current_context().exit(code)


def main() -> None:
    """Console-script entry point: ExporterError -> its exit code, never a traceback."""
    pause_collector()  # until the command's imports are in (cli/startup.py)
    hide_unused_modules()  # numpy and pandas, which pyarrow would import for nothing
    try:
        # Without standalone mode click *returns* the code of ctx.exit(n) instead of exiting.
        result = cli.main(standalone_mode=False, prog_name="operate-export")
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else EXIT_INVALID)
    except ExporterError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(result if isinstance(result, int) and not isinstance(result, bool) else 0)
