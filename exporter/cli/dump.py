"""``operate-export dump``: a one-off export of one endpoint, from options instead of a spec file.

The options are turned into the job spec document a YAML file would hold (credentials as
``${VAR}`` references to the same variables as ``configs/*.yaml``), which then goes through the
normal loader (``${VAR}`` substitution, schema, registry checks: the same messages) and the normal
runner (auth, retries, paging, hydration, conversions). Only the destination can differ: with
``-o -`` the runner is handed ``sinks.stdout.StdoutSink``, which streams each page to stdout as
JSON lines. ``--print-spec`` prints that document as YAML, ready to become a cron job.

Filter values arrive as text (``--filter state=ACTIVE``) and are typed through the endpoint's
registry, the way a YAML scalar would be: integers for key and int32 fields, ``true``/``false``
for booleans, text for everything else (so ``bpmnProcessId=123`` stays the string YAML would
need quotes for). Anything else, operators included, goes through ``--filter-json``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import click
import orjson
import yaml

from exporter.api import AUTO_ORDER, get_dialect
from exporter.api.types import Kind
from exporter.api.validation import parse_spec_text, validate_document
from exporter.cli.options import metrics_file_option
from exporter.errors import (
    EXIT_INVALID,
    EXIT_OK,
    RedactingStream,
    SpecError,
    redact_secrets,
)
from exporter.pipeline.progress import (
    LogLineReporter,
    Reporter,
    choose_reporter,
    configure_logging,
    format_summary,
)
from exporter.spec import API_CHOICES, AUTH_MODES, JobSpec
from exporter.spec.envsubst import substitute

if TYPE_CHECKING:  # cli.run imports the pipeline: only a dump that runs pays for it
    from exporter.cli.run import RunRecord

STDOUT = "-"
ORIGIN = "dump options"
BASE_URL_VARIABLE = "OPERATE_BASE_URL"
AUTH_MODE_VARIABLE = "OPERATE_AUTH_MODE"
# Where the printed spec of a streamed dump writes: ``run`` makes snapshots, never a stream.
PRINTED_STREAM_PATH = "./exports"
# The ``spec`` label of a dump's metrics (run's is the spec file's name): a dump has no file.
METRICS_LABEL = "dump"

# Credential keys per auth mode and the variables they come from (the names configs/*.yaml use).
AUTH_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "saas": (("client_id", "OPERATE_CLIENT_ID"), ("client_secret", "OPERATE_CLIENT_SECRET")),
    "identity": (
        ("client_id", "OPERATE_CLIENT_ID"),
        ("client_secret", "OPERATE_CLIENT_SECRET"),
        ("token_url", "OPERATE_TOKEN_URL"),
    ),
    "cookie": (("username", "OPERATE_USERNAME"), ("password", "OPERATE_PASSWORD")),
    "basic": (("username", "OPERATE_USERNAME"), ("password", "OPERATE_PASSWORD")),
    "none": (),
}
# Referenced only when set, so that the spec's own defaults apply otherwise.
AUTH_OPTIONAL: dict[str, tuple[tuple[str, str], ...]] = {
    "saas": (
        ("token_url", "OPERATE_TOKEN_URL"),
        ("audience", "OPERATE_AUDIENCE"),
        ("scope", "OPERATE_SCOPE"),
    ),
    "identity": (("audience", "OPERATE_AUDIENCE"), ("scope", "OPERATE_SCOPE")),
}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_HINT = (
    "hint: exports[0].filter comes from --filter/--filter-json, exports[0].sort from --sort, "
    "source from --base-url/--api/--auth and the OPERATE_* environment variables"
)


@dataclass(frozen=True)
class DumpRequest:
    """The parsed command line of one dump."""

    endpoint: str
    filters: tuple[tuple[str, str], ...] = ()
    filter_json: Mapping[str, Any] | None = None
    sort: tuple[tuple[str, str], ...] = ()
    max_records: int | None = None
    page_size: int | None = None
    format: str = "jsonl"
    output: str = STDOUT
    base_url: str | None = None  # None: ${OPERATE_BASE_URL}
    auth: str = "none"
    api: str = "auto"
    server_version: str | None = None
    schema: str = "canonical"  # output.schema: v2-shaped records whatever the API, or native

    @property
    def streamed(self) -> bool:
        return self.output == STDOUT


# --------------------------------------------------------------------------- options -> document


def filter_kind(endpoint: str, field: str, api: str) -> Kind | None:
    """The registry kind of a filter field (v2 first under ``auto``); None when unknown."""
    for candidate in AUTO_ORDER if api == "auto" else (api,):
        found = get_dialect(candidate).filter_field(endpoint, field)
        if found is not None and isinstance(found.kind, Kind):
            return found.kind
    return None


def typed_value(kind: Kind | None, text: str) -> Any:
    """``--filter`` text typed like the YAML scalar a spec would hold for that field."""
    if kind in (Kind.KEY, Kind.INT32) and _INTEGER.fullmatch(text):
        return int(text)
    if kind is Kind.BOOL and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def literal(value: Any) -> Any:
    """A value given on the command line, escaped so that ``${...}`` substitution keeps it."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: literal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [literal(item) for item in value]
    return value


def build_filter(request: DumpRequest) -> dict[str, Any]:
    """``--filter`` pairs (typed) and ``--filter-json`` merged; a field given twice is refused."""
    merged: dict[str, Any] = {}
    for field, text in request.filters:
        if field in merged:
            raise click.BadParameter(f"field {field!r} is given twice", param_hint="'--filter'")
        merged[field] = typed_value(filter_kind(request.endpoint, field, request.api), text)
    for field, value in (request.filter_json or {}).items():
        if field in merged:
            raise click.BadParameter(
                f"field {field!r} is also given with --filter; give it once",
                param_hint="'--filter-json'",
            )
        merged[field] = value
    return merged


def source_document(request: DumpRequest, env: Mapping[str, str]) -> dict[str, Any]:
    base_url = literal(request.base_url) if request.base_url else f"${{{BASE_URL_VARIABLE}}}"
    source: dict[str, Any] = {"base_url": base_url, "api": request.api}
    if request.server_version is not None:
        source["server_version"] = request.server_version
    auth: dict[str, Any] = {"mode": request.auth}
    for key, variable in AUTH_REQUIRED[request.auth]:
        auth[key] = f"${{{variable}}}"
    for key, variable in AUTH_OPTIONAL.get(request.auth, ()):
        if env.get(variable):
            auth[key] = f"${{{variable}}}"
    source["auth"] = auth
    return source


def dump_document(request: DumpRequest, env: Mapping[str, str]) -> dict[str, Any]:
    """The job spec document the options stand for (what ``--print-spec`` prints)."""
    export: dict[str, Any] = {"endpoint": request.endpoint}
    filters = build_filter(request)
    if filters:
        export["filter"] = literal(filters)
    if request.sort:
        export["sort"] = [{"field": literal(f), "order": order} for f, order in request.sort]
    if request.page_size is not None:
        export["page_size"] = request.page_size
    if request.max_records is not None:
        export["max_records"] = request.max_records
    path = PRINTED_STREAM_PATH if request.streamed else literal(request.output)
    output: dict[str, Any] = {"format": request.format, "path": path}
    if request.schema != "canonical":
        output["schema"] = request.schema  # canonical is the default: not printed
    return {
        "version": 1,
        "source": source_document(request, env),
        "exports": [export],
        "output": output,
    }


def document_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)


def load_dump_spec(request: DumpRequest, env: Mapping[str, str]) -> JobSpec:
    """The options as a validated ``JobSpec``, through the spec loader (SpecError as for a file)."""
    return parse_spec_text(document_yaml(dump_document(request, env)), ORIGIN, env)


def printed_spec(request: DumpRequest, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """The YAML for ``--print-spec`` and the variables it references that are not set here.

    Unset variables are allowed (the spec is often written on another machine than the one that
    runs it); every other problem is a SpecError, exactly as ``validate`` would report it.
    """
    document = dump_document(request, env)
    _, unset = substitute(document, env)
    problems = [p for p in validate_document(document, env) if p not in unset]
    if problems:
        raise SpecError(problems, ORIGIN)
    variables = _referenced_variables(document)
    header = [
        "# operate-export job spec written by `operate-export dump --print-spec`.",
        "# Save it, then: operate-export validate job.yaml && operate-export run job.yaml",
    ]
    if request.streamed:
        header.append(
            f"# The dump streamed to stdout; run writes a snapshot to {PRINTED_STREAM_PATH}."
        )
    if variables:
        header.append(f"# Reads from the environment: {', '.join(variables)}")
    missing = [name for name in variables if name not in env]
    return "\n".join(header) + "\n" + document_yaml(document), missing


def _referenced_variables(document: Any) -> list[str]:
    text = json.dumps(document).replace("$$", "")
    return list(dict.fromkeys(re.findall(r"\$\{(\w+)\}", text)))


# --------------------------------------------------------------------------- running


class _StreamReporter:
    """Reports a streamed dump's endings as what they are: a reader that closed stdout is a
    finished export, not a failure; an interrupted one has no snapshot to resume."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner

    @staticmethod
    def settled(result: Any) -> Any:
        from exporter.pipeline.interrupt import Interrupted
        from exporter.sinks.stdout import ReaderClosed

        if result.error_type == ReaderClosed.__name__:
            return replace(result, error=None, error_type=None)
        if result.error_type == Interrupted.__name__:
            cause = str(result.error).split(";", 1)[0]  # "interrupted by SIGINT"
            error = (
                f"{cause} after {result.records} records on stdout; a stream cannot be "
                "resumed: run the dump again"
            )
            return replace(result, error=error)
        return result

    def settled_run(self, result: Any) -> Any:
        return replace(result, exports=[self.settled(r) for r in result.exports])

    def export_started(self, name: str, endpoint: str) -> None:
        self.inner.export_started(name, endpoint)

    def page_done(
        self, name: str, *, records: int, pages: int, total: int | None, retries: int
    ) -> None:
        self.inner.page_done(name, records=records, pages=pages, total=total, retries=retries)

    def retry(self, name: str, *, retries: int) -> None:
        self.inner.retry(name, retries=retries)

    def export_finished(self, result: Any) -> None:
        self.inner.export_finished(self.settled(result))

    def run_finished(self, result: Any) -> None:
        self.inner.run_finished(self.settled_run(result))


def run_dump(
    request: DumpRequest, *, quiet: bool, log_format: str, record: RunRecord | None = None
) -> int:
    """Validate, run and report one dump; returns the exit code. ``record`` gets the spec and
    the result as they become known (for ``--metrics-file``)."""
    from exporter.cli.run import RunRecord, _exit_code, _report_failures
    from exporter.pipeline.interrupt import StopFlag, stop_on_signals
    from exporter.pipeline.results import new_run_id
    from exporter.pipeline.runner import RunOptions, run_job
    from exporter.sinks.stdout import ReaderClosed, open_stdout_sink

    record = record if record is not None else RunRecord()
    try:
        spec = record.spec = load_dump_spec(request, os.environ)
    except SpecError as exc:
        return _invalid(exc)
    # As for run: the last line of defence, nothing reaches stderr with a registered secret.
    err = RedactingStream(sys.stderr)
    run_id = new_run_id()  # as for run: in the JSON lines and the manifest of -o PATH
    handler = configure_logging(log_format=log_format, quiet=quiet, stream=err, run_id=run_id)
    try:
        reporter = _reporter(request, log_format=log_format, quiet=quiet, stream=err, run_id=run_id)
        if request.streamed:
            sys.stdout.flush()  # nothing may overtake the records on the descriptor
        options = RunOptions(
            open_writer=open_stdout_sink if request.streamed else None, run_id=run_id
        )
        shown = _StreamReporter(reporter) if request.streamed else reporter
        # SIGINT/SIGTERM stop the paging as for run (exit 130/143).
        with stop_on_signals(StopFlag()) as stop:
            result = record.result = run_job(spec, options, shown, stop=stop)
    finally:
        logging.getLogger("exporter").removeHandler(handler)
    closed = [r for r in result.exports if r.error_type == ReaderClosed.__name__]
    if closed:
        if not quiet:
            click.echo(
                f"dump: stdout was closed by its reader after {closed[0].records} records; "
                "stopped paging",
                err=True,
            )
        return EXIT_OK
    if isinstance(shown, _StreamReporter):
        result = shown.settled_run(result)
    if result.ok:
        if not request.streamed and not quiet:
            click.echo(redact_secrets(_summary_text(result, log_format)))
        return EXIT_OK
    _report_failures(result, reporter, log_format)  # as run: each error once, stopped or failed
    return _exit_code(result, stop)


def _reporter(
    request: DumpRequest, *, log_format: str, quiet: bool, stream: Any, run_id: str = ""
) -> Reporter:
    """``run``'s choice, except that records on a terminal get plain progress lines: the live
    display redraws its lines in place and would overwrite the records between them."""
    if request.streamed and not quiet and log_format == "text" and sys.stdout.isatty():
        return LogLineReporter(stream)
    return choose_reporter(log_format=log_format, quiet=quiet, stream=stream, run_id=run_id)


def _invalid(exc: SpecError) -> int:
    click.echo(redact_secrets(f"error: {exc}\n{_HINT}"), err=True)
    return EXIT_INVALID


def _summary_text(result: Any, log_format: str) -> str:
    if log_format != "json":
        return format_summary(result)
    payload = {
        "event": "summary",
        "ok": result.ok,
        "seconds": round(result.seconds, 3),
        "exports": [r.to_dict() for r in result.exports],
    }
    return orjson.dumps(payload).decode()


def _print_spec(request: DumpRequest) -> int:
    try:
        text, missing = printed_spec(request, os.environ)
    except SpecError as exc:
        return _invalid(exc)
    click.echo(text, nl=False)
    if missing:
        click.echo(f"note: not set here, needed by run: {', '.join(missing)}", err=True)
    return EXIT_OK


# --------------------------------------------------------------------------- click command


def _parse_filters(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in values:
        field, sep, value = item.partition("=")
        if not sep or not field.strip():
            raise click.BadParameter(f"{item!r} is not FIELD=VALUE (e.g. state=ACTIVE)")
        pairs.append((field.strip(), value))
    return tuple(pairs)


def _parse_filter_json(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)  # exact integers of any size, unlike a float parse
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(
            'expected a JSON object of field -> value, e.g. {"startDate": {"$gte": "..."}}'
        )
    return parsed


def _parse_sort(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    entries = []
    for item in values:
        field, sep, order = item.partition(":")
        order = order.strip().upper() if sep else "ASC"
        if not field.strip() or order not in ("ASC", "DESC"):
            raise click.BadParameter(f"{item!r} is not FIELD, FIELD:asc or FIELD:desc")
        entries.append((field.strip(), order))
    return tuple(entries)


@click.command()
@click.argument("endpoint")
@click.option(
    "--filter",
    "-f",
    "filters",
    multiple=True,
    metavar="FIELD=VALUE",
    callback=_parse_filters,
    help="Exact-match filter (repeatable); typed by the field: keys and ints as integers, "
    "booleans as true/false. v1 dates may use date math, e.g. startDate=...+0000||/h.",
)
@click.option(
    "--filter-json",
    metavar="JSON",
    callback=_parse_filter_json,
    help="Filter as a JSON object, merged with --filter; v2 operators, e.g. "
    '\'{"startDate": {"$gte": "2026-11-01T00:00:00Z"}}\'.',
)
@click.option(
    "--sort",
    "sort",
    multiple=True,
    metavar="FIELD[:desc]",
    callback=_parse_sort,
    help="Sort field, ascending unless :desc (repeatable; the server adds the key as tie-breaker).",
)
@click.option("--max-records", type=int, help="Stop after this many records.")
@click.option("--page-size", type=int, help="Records per search request (v1 1..1000, v2 1..10000).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["jsonl", "parquet"]),
    default="jsonl",
    show_default=True,
    help="jsonl streams to stdout or writes a snapshot; parquet writes a snapshot (needs -o PATH).",
)
@click.option(
    "--output",
    "-o",
    metavar="PATH|-",
    help="- (default for jsonl): one JSON object per line on stdout; PATH: one snapshot under "
    "PATH/<endpoint>/, like run.",
)
@click.option(
    "--base-url",
    metavar="URL",
    help=f"Operate's base URL; default: ${BASE_URL_VARIABLE} (referenced as such in --print-spec).",
)
@click.option(
    "--auth",
    "auth_mode",
    type=click.Choice(AUTH_MODES),
    default="none",
    show_default=True,
    envvar=AUTH_MODE_VARIABLE,
    show_envvar=True,
    help="Auth mode; credentials come from OPERATE_CLIENT_ID/OPERATE_CLIENT_SECRET (saas, "
    "identity; plus OPERATE_TOKEN_URL, OPERATE_AUDIENCE, OPERATE_SCOPE) or "
    "OPERATE_USERNAME/OPERATE_PASSWORD (basic, cookie).",
)
@click.option(
    "--api",
    type=click.Choice(API_CHOICES),
    default="auto",
    show_default=True,
    help="v1 (Operate API), v2 (Orchestration Cluster API) or auto (probe, prefer v2).",
)
@click.option(
    "--server-version",
    type=click.Choice(["8.8", "8.9"]),
    help="v2 only: the oldest Camunda minor the filters must work with (8.9 unlocks more).",
)
@click.option(
    "--schema",
    "schema_mode",
    type=click.Choice(["canonical", "native"]),
    default="canonical",
    show_default=True,
    help="canonical: records in v2's shape (names, types) whatever the API answered; native: "
    "as the API sent them (output.schema).",
)
@click.option(
    "--print-spec",
    is_flag=True,
    help="Print the YAML job spec these options stand for (no network) and exit.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on stderr but errors.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Progress and log lines (stderr) as text or JSON lines.",
)
@metrics_file_option(
    "With -o PATH: write the dump's metrics in the Prometheus text format to PATH, as run "
    'does (atomically; label spec="dump", export=<endpoint>).'
)
def dump(
    endpoint: str,
    filters: tuple[tuple[str, str], ...],
    filter_json: dict[str, Any] | None,
    sort: tuple[tuple[str, str], ...],
    max_records: int | None,
    page_size: int | None,
    output_format: str,
    output: str | None,
    base_url: str | None,
    auth_mode: str,
    api: str,
    server_version: str | None,
    schema_mode: str,
    print_spec: bool,
    quiet: bool,
    log_format: str,
    metrics_file: str | None,
) -> None:
    """Export one endpoint without a spec file: JSON lines to stdout, or one snapshot to PATH.

    The options build the same job spec a YAML file would (see --print-spec), validated and
    run by the same code as `run`: same messages, auth, retries, paging and records. With
    -o - (the default for jsonl) stdout carries nothing but records, one per line, as pages
    arrive; progress and logs go to stderr. A reader that closes the pipe early (| head)
    stops the paging; the dump then exits 0.

    \b
    Example:
      export OPERATE_BASE_URL=http://localhost:8080
      operate-export dump incidents --filter state=ACTIVE | jq .message
      operate-export dump process-instances --filter bpmnProcessId=order-process \\
          --filter 'startDate=2026-11-27T10:00:00.000+0000||/h' --sort startDate:desc
      operate-export dump incidents --api v2 \\
          --filter-json '{"creationTime": {"$gte": "2026-11-27T09:00:00Z"}}'
      operate-export dump variables --format parquet -o ./exports
      operate-export dump incidents --filter state=ACTIVE --print-spec > incidents.yaml
    """
    if output is None:
        if output_format == "parquet":
            raise click.BadParameter(
                "parquet cannot stream to stdout; give a folder with -o PATH", param_hint="'-o'"
            )
        output = STDOUT
    if output == STDOUT and metrics_file is not None:
        raise click.BadParameter(
            "--metrics-file describes a snapshot; a dump to stdout writes none: give a folder "
            "with -o PATH",
            param_hint="'--metrics-file'",
        )
    if output == STDOUT and output_format == "parquet":
        raise click.BadParameter(
            "parquet cannot stream to stdout (it is written per file, footer last); give a folder "
            "with -o PATH, or use --format jsonl",
            param_hint="'-o'",
        )
    request = DumpRequest(
        endpoint=endpoint,
        filters=filters,
        filter_json=filter_json,
        sort=sort,
        max_records=max_records,
        page_size=page_size,
        format=output_format,
        output=output,
        base_url=base_url,
        auth=auth_mode,
        api=api,
        server_version=server_version,
        schema=schema_mode,
    )
    if print_spec:
        code = _print_spec(request)
    elif metrics_file is None:
        code = run_dump(request, quiet=quiet, log_format=log_format)
    else:
        from exporter.cli.run import with_metrics

        code = with_metrics(
            metrics_file,
            METRICS_LABEL,
            lambda record: run_dump(request, quiet=quiet, log_format=log_format, record=record),
        )
    if code:
        click.get_current_context().exit(code)
