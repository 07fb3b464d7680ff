"""What most commands start from: the workspace, its state and its declared customers."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from reconciler.declared import Declaration, Rules, load_declared
from reconciler.diagnostics import Diagnostic
from reconciler.state import StateFile, load_state, readable_by_others
from reconciler.workspace import NameMode, Workspace, load_workspace


@dataclass
class Loaded:
    workspace: Workspace
    state: StateFile | None
    name_mode: NameMode | None
    declaration: Declaration


def effective_name_mode(workspace: Workspace, state: StateFile | None) -> NameMode | None:
    """The configured mode, else the one recorded from the store, else unknown (None)."""
    if workspace.name_mode is not NameMode.AUTO:
        return workspace.name_mode
    return state.name_mode if state is not None else None


def load_all(root: Path | None = None) -> Loaded:
    """Workspace, state and declared customers; raises the tool's errors, never a traceback."""
    workspace = load_workspace(root or Path.cwd())
    state = load_state(workspace.state_path, workspace.display(workspace.state_path))
    if state is not None and readable_by_others(workspace.state_path):
        click.echo(
            f"warning: {workspace.display(workspace.state_path)} is readable by other users; it"
            " holds customer data (chmod 600 it; fluentcart writes it 0600)",
            err=True,
        )
    mode = effective_name_mode(workspace, state)
    files = [(path, workspace.display(path)) for path in workspace.declared_files()]
    declaration = load_declared(files, Rules(workspace.statuses, mode))
    return Loaded(workspace, state, mode, declaration)


def echo_diagnostics(
    diagnostics: list[Diagnostic] | tuple[Diagnostic, ...], err: bool = True
) -> None:
    for diagnostic in diagnostics:
        click.echo(diagnostic.format(), err=err)


def use_color(no_color: bool) -> bool:
    """Colour only on a terminal, never with --no-color or NO_COLOR set."""
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
