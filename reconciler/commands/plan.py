"""`fluentcart plan`: show what apply would change, offline, against the state file."""

from dataclasses import dataclass
from pathlib import Path

import click

from reconciler.commands.context import echo_diagnostics, load_all, use_color
from reconciler.plan import build_plan
from reconciler.planfile import SavedPlan, base_of, save_plan
from reconciler.views import render
from reconciler.views.redact import Redactor

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


def run(options: PlanOptions) -> int:
    loaded = load_all()
    workspace, declaration = loaded.workspace, loaded.declaration
    if declaration.errors:
        echo_diagnostics(declaration.diagnostics)
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

    plan = build_plan(declaration, loaded.state, loaded.name_mode, options.targets)
    redactor = Redactor(workspace.sensitive, options.redact)
    click.echo(render(plan, options.fmt, redactor, use_color(options.no_color)), nl=False)

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
            ),
        )
        click.echo(
            f"Saved the plan to {options.out}; apply it with: fluentcart apply {options.out}",
            err=True,
        )
    if summary.errors:
        return EXIT_ERROR
    if options.detailed_exitcode and summary.has_changes:
        return EXIT_CHANGES
    return EXIT_OK
