"""`fluentcart validate [PATH...]`: check declared files offline."""

from pathlib import Path

import click

from reconciler.cache import open_cache
from reconciler.commands.context import echo_diagnostics, offline_name_mode
from reconciler.declared import Rules, load_declared
from reconciler.diagnostics import Diagnostic, Severity
from reconciler.errors import StateError
from reconciler.workspace import load_workspace, yaml_files_under


def run(paths: tuple[Path, ...]) -> int:
    workspace = load_workspace(Path.cwd())
    missing: list[Diagnostic] = []
    if paths:
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                files.extend(yaml_files_under(path))
            elif path.exists():
                files.append(path)
            else:
                missing.append(Diagnostic(Severity.ERROR, "no such file or directory", str(path)))
    else:
        files = workspace.declared_files()
    try:
        mode = offline_name_mode(workspace)
    except StateError as exc:
        # validate is about the YAML; a broken state only hides the recorded name mode.
        click.echo(f"warning: {exc}; name mode not known", err=True)
        mode = None
    declaration = load_declared(
        [(path, workspace.display(path)) for path in files],
        Rules(workspace.statuses, mode),
        open_cache(),
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
