"""`fluentcart refresh` (and `apply --refresh-only`): accept the store's values into the state,
and with --update-yaml into the declared files too.

Nothing is sent to the store. Customers whose record changed are rewritten in the state;
customers the store no longer has are dropped from it; the serial moves only when
something changed.
"""

import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from reconciler.accept import Acceptance, YamlEdit, to_accept, yaml_edits
from reconciler.apply import now
from reconciler.atomicfile import write_atomic
from reconciler.commands.context import (
    ConnectOptions,
    connect,
    declare,
    opened_state,
    read_live,
    resolve_name_mode,
)
from reconciler.errors import FluentCartError
from reconciler.plan import build_plan
from reconciler.views import render
from reconciler.workspace import load_workspace

PROMPT = "Do you want to record these values in the state? Only 'yes' will be accepted:"
PROMPT_YAML = (
    "Do you want to write these values into the YAML and record them in the state?"
    " Only 'yes' will be accepted:"
)


def _without_labels(customer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in customer.items() if key != "labels"}


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The fields (nested ones as a.b) whose values differ, for the refresh report."""
    from deepdiff import DeepDiff  # only refresh needs it

    difference = DeepDiff(before, after, ignore_order=True, view="tree")
    paths = sorted(
        {
            ".".join(str(step) for step in item.path(output_format="list"))
            for items in difference.values()
            for item in items
        }
    )
    return ", ".join(paths) or "(types only)"


def run(
    targets: tuple[int, ...],
    approved: bool,
    lock_timeout: float,
    options: ConnectOptions,
    update_yaml: bool = False,
) -> int:
    workspace = load_workspace(Path.cwd())
    with (
        connect(workspace, options) as client,
        opened_state(workspace, "refresh", lock_timeout, client) as opened,
    ):
        on_disk, state = opened.on_disk, opened.state
        if on_disk is None:
            click.echo("There is no state yet: run `fluentcart import` first.")
            return 1
        mode = resolve_name_mode(workspace, on_disk, client)
        declaration = declare(workspace, mode)
        live = read_live(client, declaration, on_disk, targets, everything_recorded=True)
        plan = build_plan(declaration, on_disk, mode, targets, live, refresh_only=True)
        click.echo(render(plan, "text", summary_over=workspace.summary_over), nl=False)
        edits: list[YamlEdit] = []
        acceptance = to_accept(declaration, on_disk, live.found, workspace.statuses, str(mode))
        if update_yaml:
            if declaration.errors:
                raise FluentCartError(
                    "the declared files have errors (`fluentcart validate`): fix them before"
                    " --update-yaml writes into them; nothing was written or recorded"
                )
            edits = yaml_edits(workspace.root, declaration, acceptance)
            echo_edits(edits, acceptance)
        updated = 0
        for customer_id, customer in sorted(live.found.items()):
            record = state.customers[customer_id]
            if "labels" not in record.observed and record.observed == _without_labels(customer):
                # labels read for the first time: not a change
                state.customers[customer_id] = replace(record, observed=customer)
                continue
            if record.observed != customer:
                fields = changed_fields(record.observed, customer)
                click.echo(f"customer {customer_id}: changed on the store: {fields}")
                state.customers[customer_id] = replace(record, observed=customer, observed_at=now())
                updated += 1
        for customer_id in sorted(live.gone):
            state.customers.pop(customer_id, None)
            click.echo(
                f"customer {customer_id} no longer exists on the store: dropped from the state",
                err=True,
            )
        state.name_mode = mode
        if live.labels is not None:
            state.labels = live.labels
        changed = not state.same_content(on_disk)
        if (changed or edits) and not approved:
            click.echo()
            prompt = PROMPT_YAML if edits else PROMPT
            if (
                click.prompt(prompt, default="", show_default=False, prompt_suffix=" ").strip()
                != "yes"
            ):
                click.echo("Refresh cancelled.")
                return 1
        # The YAML first: a run stopped in between leaves declared values the store holds,
        # which the next plan shows as changes that apply finds already made.
        for edit in edits:  # nothing is written if a file changed while the prompt waited
            if edit.path.read_text("utf-8") != edit.before:
                raise FluentCartError(
                    f"{edit.file} changed since it was read; nothing was written or recorded."
                    " Run `fluentcart refresh --update-yaml` again"
                )
        for edit in edits:
            write_atomic(edit.path, edit.after.encode("utf-8"), mode=_mode_of(edit.path))
        wrote = opened.storage.persist(state, on_disk)
        serial = f" (state serial {state.serial})" if wrote else " (the state did not change)"
        written = (
            f" {acceptance.count} value(s) written into {len(edits)} declared file(s)."
            if edits
            else ""
        )
        click.echo(
            f"Refresh complete: {updated} customer(s) updated, {len(live.gone)} gone,"
            f" {len(live.found) - updated} unchanged, read in {client.requests_sent} request(s){serial}.{written}"
        )
        if acceptance.values and not update_yaml:
            click.echo(
                f"note: {acceptance.count} declared value(s) differ from what the store holds"
                " now; the next plan reverts those changes made on the store. To keep the"
                " store's values, run `fluentcart refresh --update-yaml` (it writes them into"
                " the YAML).",
                err=True,
            )
        return 0


def echo_edits(edits: list[YamlEdit], acceptance: Acceptance) -> None:
    """What --update-yaml writes (or would write), as a diff of each declared file."""
    for warning in acceptance.kept:
        click.echo(f"warning: {warning}", err=True)
    if not edits:
        click.echo("The declared files already hold the store's values: nothing to write.")
        return
    click.echo(
        f"The store's values of {acceptance.count} field(s) go into {len(edits)} declared file(s):"
    )
    for edit in edits:
        click.echo(edit.diff(), nl=False)


def _mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
