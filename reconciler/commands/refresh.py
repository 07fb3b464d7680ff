"""`fluentcart refresh` (and `apply --refresh-only`): accept the store's values into the state.

Nothing is sent to the store. Customers whose record changed are rewritten in the state;
customers the store no longer has are dropped from it; the serial moves only when
something changed.
"""

from pathlib import Path
from typing import Any

import click

from reconciler.apply import now
from reconciler.commands.context import (
    ConnectOptions,
    connect,
    declare,
    opened_state,
    read_live,
    resolve_name_mode,
)
from reconciler.plan import build_plan
from reconciler.views import render
from reconciler.workspace import load_workspace

PROMPT = "Do you want to record these values in the state? Only 'yes' will be accepted:"


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
    targets: tuple[int, ...], approved: bool, lock_timeout: float, options: ConnectOptions
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
        click.echo(render(plan, "text"), nl=False)
        updated = 0
        for customer_id, customer in sorted(live.found.items()):
            record = state.customers[customer_id]
            if record.observed != customer:
                fields = changed_fields(record.observed, customer)
                click.echo(f"customer {customer_id}: changed on the store: {fields}")
                record.observed = customer
                record.observed_at = now()
                updated += 1
        for customer_id in sorted(live.gone):
            state.customers.pop(customer_id, None)
            click.echo(
                f"customer {customer_id} no longer exists on the store: dropped from the state",
                err=True,
            )
        state.name_mode = mode
        changed = state.content() != on_disk.content()
        if changed and not approved:
            click.echo()
            if (
                click.prompt(PROMPT, default="", show_default=False, prompt_suffix=" ").strip()
                != "yes"
            ):
                click.echo("Refresh cancelled.")
                return 1
        wrote = opened.storage.persist(state, on_disk)
        serial = f" (state serial {state.serial})" if wrote else " (the state did not change)"
        click.echo(
            f"Refresh complete: {updated} customer(s) updated, {len(live.gone)} gone,"
            f" {len(live.found) - updated} unchanged, read in {client.requests_sent} request(s){serial}."
        )
        return 0
