"""`fluentcart plan`: show what apply would change, offline, against the state file."""

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.commands.context import (
    ConnectOptions,
    Loaded,
    check_same_site,
    connect,
    declare,
    echo_diagnostics,
    load_all,
    read_live,
    resolve_name_mode,
    use_color,
)
from reconciler.errors import FluentCartError
from reconciler.gitinfo import changed_since, head_commit, is_dirty, would_commit
from reconciler.plan import Action, build_plan
from reconciler.planfile import SavedPlan, base_of, pins_of, save_plan
from reconciler.views import render
from reconciler.views.jsonplan import json_chunks
from reconciler.views.redact import Redactor, redact_plan

if TYPE_CHECKING:
    from reconciler.client import FluentCartClient

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


@dataclass(frozen=True)
class PlanOptions:
    fmt: str = "text"
    out: Path | None = None
    redact: bool = False
    detailed_exitcode: bool = False
    targets: tuple[int, ...] = ()
    no_color: bool = False
    refresh: bool = False
    refresh_only: bool = False
    changed_since: str | None = None
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    update_yaml: bool = False  # with refresh_only: show what refresh --update-yaml writes


def run(options: PlanOptions) -> int:
    loaded = load_all()
    if options.refresh or options.refresh_only:
        with connect(loaded.workspace, options.connect) as client:
            return _plan(options, loaded, client)
    return _plan(options, loaded, None)


def _changed_scope(loaded: Loaded, ref: str) -> tuple[tuple[int, ...], int, set[str]]:
    """The customers declared in files changed since `ref`, plus recorded ones no longer
    declared (their file changed too); how many declared customers that leaves out; and the
    changed files (customers to create are planned when theirs is one)."""
    workspace, declaration = loaded.workspace, loaded.declaration
    changed = changed_since(workspace.root, ref)
    if changed is None:
        raise FluentCartError(f"--changed-since {ref}: not a git checkout, or no such commit")
    files = {workspace.display(path) for path in changed}
    ids = {c.id for c in declaration.customers.values() if c.file in files}
    recorded = set(loaded.state.customers) if loaded.state is not None else set()
    forgotten = recorded - set(declaration.customers)
    return tuple(sorted(ids | forgotten)), len(declaration.customers) - len(ids), files


def _plan(options: PlanOptions, loaded: Loaded, client: "FluentCartClient | None") -> int:
    live = None
    if client is not None:
        check_same_site(loaded.workspace, loaded.state, client.site)
        mode = resolve_name_mode(loaded.workspace, loaded.state, client)
        if mode != loaded.name_mode:
            loaded = Loaded(loaded.workspace, loaded.state, mode, declare(loaded.workspace, mode))
    workspace, declaration = loaded.workspace, loaded.declaration
    if declaration.errors:
        echo_diagnostics(
            declaration.diagnostics, redactor=Redactor(workspace.sensitive, options.redact)
        )
        count = len(declaration.errors)
        click.echo(f"Error: {count} problem(s) in the declared files; no plan was made.", err=True)
        return EXIT_ERROR
    recorded = loaded.state.customers if loaded.state else {}
    for target in options.targets:
        if target not in declaration.customers and target not in recorded:
            click.echo(
                f"warning: --target {target}: customer {target} is neither declared nor in the state",
                err=True,
            )

    targets, not_planned = options.targets, 0
    if targets:  # --target names ids: no customer to create is one of them
        declaration = replace(declaration, creates={})
    if options.changed_since is not None:
        targets, not_planned, files = _changed_scope(loaded, options.changed_since)
        creates = {k: c for k, c in declaration.creates.items() if c.file in files}
        declaration = replace(declaration, creates=creates)
    if client is not None:
        live = read_live(client, declaration, loaded.state, targets, options.refresh_only)
    plan = build_plan(
        declaration,
        loaded.state,
        loaded.name_mode,
        targets,
        live,
        options.refresh_only,
        workspace.create_labels,
    )
    if options.changed_since is not None:
        if not targets:  # nothing changed: an empty plan, not a plan of everything
            new = tuple(c for c in plan.changes if c.action is Action.CREATE)
            plan = replace(plan, changes=new, unchanged=0, drift=())
        plan = replace(plan, changed_since=options.changed_since, not_planned=not_planned)
    commit = head_commit(workspace.root)
    if commit is not None:
        plan = replace(plan, git_commit=commit, git_dirty=is_dirty(workspace.root))
    shown = redact_plan(plan, Redactor(workspace.sensitive, options.redact))
    if options.fmt == "json":  # written as it is encoded: a million customers stream
        for chunk in json_chunks(shown):
            click.echo(chunk, nl=False)
    else:
        click.echo(
            render(shown, options.fmt, use_color(options.no_color), workspace.summary_over),
            nl=False,
        )
    if options.update_yaml and live is not None and loaded.state is not None:
        from reconciler.accept import to_accept, yaml_edits
        from reconciler.commands.refresh import echo_edits

        acceptance = to_accept(
            declaration, loaded.state, live.found, workspace.statuses, str(loaded.name_mode)
        )
        edits = yaml_edits(workspace.root, declaration, acceptance)
        if options.redact:  # a diff shows values: with --redact only how much would change
            click.echo(
                f"--update-yaml would write {acceptance.count} value(s) into {len(edits)}"
                " declared file(s) (the diff is not shown with --redact)."
            )
        else:
            echo_edits(edits, acceptance)
        if acceptance.values:
            click.echo("Nothing was written: `fluentcart refresh --update-yaml` writes it.")

    summary = plan.summary
    if options.out is not None:
        if summary.errors:
            click.echo(f"Error: the plan has errors; {options.out} was not written.", err=True)
            return EXIT_ERROR
        save_plan(
            options.out,
            SavedPlan(
                plan=plan,
                site=workspace.site,
                name_mode=loaded.name_mode,
                state_file=workspace.display(workspace.state_path),
                base_state=base_of(loaded.state),
                declared_files=declaration.file_hashes,
                targets=options.targets,
                pins=pins_of(plan, loaded.state, declaration.customers),
            ),
        )
        click.echo(
            f"Saved the plan to {options.out}; apply it with: fluentcart apply {options.out}",
            err=True,
        )
        if would_commit(workspace.root, options.out):
            click.echo(
                f"warning: git would commit {options.out}, and a saved plan holds customer data:"
                " add it to .gitignore (`fluentcart init` writes one that ignores *.plan)",
                err=True,
            )
    if summary.errors:
        return EXIT_ERROR
    if options.detailed_exitcode and summary.has_changes:
        return EXIT_CHANGES
    return EXIT_OK
