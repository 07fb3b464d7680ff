"""`fluentcart import [ID...]`: read declared customers from the store into the state."""

from pathlib import Path

import click

from reconciler.apply import now
from reconciler.client import CustomerNotFound, FluentCartClient
from reconciler.commands.context import (
    ConnectOptions,
    connect,
    declare,
    echo_diagnostics,
    open_state,
    resolve_name_mode,
)
from reconciler.errors import FluentCartError
from reconciler.lock import StateLock, describe_takeover
from reconciler.state import CustomerRecord, save_state
from reconciler.workspace import load_workspace

# With more customers to read than this, one list page first tells whether paging is cheaper.
FEW = 3


def run(ids: tuple[int, ...], lock_timeout: float, options: ConnectOptions) -> int:
    workspace = load_workspace(Path.cwd())
    with (
        connect(workspace, options) as client,
        StateLock(workspace.state_path, "import", lock_timeout) as lock,
    ):
        if lock.took_over:
            click.echo(describe_takeover(lock.took_over), err=True)
        on_disk, state = open_state(workspace, client.site, None)
        mode = resolve_name_mode(workspace, on_disk, client)
        state.name_mode = mode
        declaration = declare(workspace, mode)
        if declaration.errors:
            echo_diagnostics(declaration.diagnostics)
            raise FluentCartError(
                f"{len(declaration.errors)} problem(s) in the declared files; nothing was imported"
            )
        failed = False
        if ids:
            undeclared = [i for i in ids if i not in declaration.customers]
            for customer_id in undeclared:
                click.echo(
                    f"refused: customer {customer_id} is not declared in any YAML file, so nothing would manage it",
                    err=True,
                )
            failed = bool(undeclared)
            wanted = sorted({i for i in ids if i in declaration.customers})
        else:
            wanted = sorted(i for i in declaration.customers if i not in state.customers)
        found = _read(client, wanted)
        for customer_id in wanted:
            customer = found.get(customer_id)
            if customer is None:
                click.echo(
                    f"not found: customer {customer_id} does not exist on the store", err=True
                )
                failed = True
                continue
            previous = state.customers.get(customer_id)
            last_applied = previous.last_applied if previous else {}
            state.customers[customer_id] = CustomerRecord(customer, now(), last_applied)
        save_state(workspace.state_path, state, on_disk)
        imported = len(found)
        click.echo(
            f"Import complete: {imported} customer(s) read from {client.site} in {client.requests_sent} request(s)."
        )
        if not wanted and not ids:
            click.echo("Every declared customer is already in the state.")
        return 1 if failed else 0


def _read(client: FluentCartClient, wanted: list[int]) -> dict[int, dict]:
    """The wanted customers, by single GETs or by listing pages, whichever needs fewer requests."""
    found: dict[int, dict] = {}
    if len(wanted) > FEW:
        first = client.list_page(1)
        pages = int(first.get("last_page") or 1)
        if pages < len(wanted):
            wanted_set = set(wanted)
            for page in range(1, pages + 1):
                paginator = first if page == 1 else client.list_page(page)
                for item in paginator["data"]:
                    if item["id"] in wanted_set:
                        found[item["id"]] = item
                if not paginator["data"]:
                    break
            return found
        found.update({item["id"]: item for item in first["data"] if item["id"] in set(wanted)})
    for customer_id in wanted:
        if customer_id in found:
            continue
        try:
            found[customer_id] = client.get_customer(customer_id)
        except CustomerNotFound:
            continue
    return found
