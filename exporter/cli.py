"""The thin click shell: parse arguments, call one library function, map errors to exit codes.

Exit codes: 0 success, 1 an export failed (auth, API, output), 2 invalid spec or usage.
"""

from __future__ import annotations

import sys

import click

from exporter import __version__
from exporter.errors import EXIT_INVALID, ExporterError

EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  1  an export failed (authentication, API, output)
  2  invalid job spec or command-line usage
"""


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="operate-export")
def cli() -> None:
    """Export Camunda 8 Operate data to Parquet or JSONL snapshots from a YAML job spec.

    \b
    Example:
      operate-export validate configs/demo.yaml
      operate-export run configs/demo.yaml
    """


def main() -> None:
    """Console-script entry point: ExporterError -> its exit code, never a traceback."""
    try:
        cli.main(standalone_mode=False, prog_name="operate-export")
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
    sys.exit(0)
