"""`fluentcart show FILE`: render a saved plan exactly as `plan` did."""

from pathlib import Path

import click

from reconciler.commands.context import use_color
from reconciler.errors import WorkspaceError
from reconciler.planfile import load_plan
from reconciler.views import render
from reconciler.views.redact import Redactor, redact_plan
from reconciler.workspace import load_workspace


def run(path: Path, fmt: str, redact: bool, no_color: bool) -> int:
    saved = load_plan(path)
    workspace = load_workspace(Path.cwd()) if redact else None
    sensitive = workspace.sensitive if workspace is not None else frozenset()
    try:
        summary_over = (workspace or load_workspace(Path.cwd())).summary_over
    except WorkspaceError:  # shown outside a workspace: the default
        summary_over = None
    shown = redact_plan(saved.plan, Redactor(sensitive, redact))
    click.echo(render(shown, fmt, use_color(no_color), summary_over), nl=False)
    return 0
