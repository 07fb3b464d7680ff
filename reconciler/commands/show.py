"""`fluentcart show FILE`: render a saved plan exactly as `plan` did."""

from pathlib import Path

import click

from reconciler.commands.context import use_color
from reconciler.planfile import load_plan
from reconciler.views import render
from reconciler.views.redact import Redactor, redact_plan
from reconciler.workspace import load_workspace


def run(path: Path, fmt: str, redact: bool, no_color: bool) -> int:
    saved = load_plan(path)
    sensitive = load_workspace(Path.cwd()).sensitive if redact else frozenset()
    click.echo(
        render(redact_plan(saved.plan, Redactor(sensitive, redact)), fmt, use_color(no_color)),
        nl=False,
    )
    return 0
