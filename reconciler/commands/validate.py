"""`fluentcart validate [PATH...]`: check declared files offline."""

from pathlib import Path

import click

from reconciler.cache import open_cache
from reconciler.commands.context import echo_diagnostics, offline_name_mode
from reconciler.declared import Rules, load_declared
from reconciler.diagnostics import Diagnostic, Severity
from reconciler.errors import StateError
from reconciler.workspace import Workspace, files_from_arguments, load_workspace


def chosen_files(
    workspace: Workspace, paths: tuple[Path, ...]
) -> tuple[list[Path], list[Diagnostic]]:
    """The files PATH arguments name (the workspace's declared files without any), and an
    error for each path that does not exist."""
    if not paths:
        return workspace.declared_files(), []
    files, missing = files_from_arguments(paths)
    return files, [
        Diagnostic(Severity.ERROR, "no such file or directory", str(path)) for path in missing
    ]


def offline_rules(workspace: Workspace) -> Rules:
    """The workspace's rules; a broken state only hides the recorded name mode."""
    try:
        mode = offline_name_mode(workspace)
    except StateError as exc:
        click.echo(f"warning: {exc}; name mode not known", err=True)
        mode = None
    return Rules(workspace.statuses, mode)


def run(paths: tuple[Path, ...]) -> int:
    workspace = load_workspace(Path.cwd())
    files, missing = chosen_files(workspace, paths)
    declaration = load_declared(
        [(path, workspace.display(path)) for path in files], offline_rules(workspace), open_cache()
    )
    diagnostics = missing + declaration.diagnostics
    echo_diagnostics(diagnostics, err=False)
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    noun = "file" if len(files) == 1 else "files"
    if errors:
        click.echo(f"Invalid: {errors} error(s), {warnings} warning(s) in {len(files)} {noun}.")
        return 1
    count = len(declaration.customers)
    click.echo(f"Valid: {count} customer(s) in {len(files)} {noun}, {warnings} warning(s).")
    return 0
