"""Options that more than one command declares, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def metrics_file_option(help_text: str) -> Callable[[Any], Any]:
    """``--metrics-file PATH`` (``run`` and ``dump``): the Prometheus textfile to replace."""
    return click.option(
        "--metrics-file",
        metavar="PATH",
        type=click.Path(dir_okay=False, path_type=str),
        help=help_text,
    )
