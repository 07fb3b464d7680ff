"""`fluentcart state list | show ID | rm ID...`: look into the state file, or drop customers from it."""

import json
from pathlib import Path

import click

from reconciler.commands.context import declare, effective_name_mode, locked
from reconciler.errors import StateError
from reconciler.state import StateFile, new_state
from reconciler.statefile import canonical_sha256, serialize
from reconciler.storage import StateStorage, open_storage, storage_at
from reconciler.storage.file import load_state
from reconciler.storage.postgres import shown_location
from reconciler.workspace import Workspace, load_workspace


def _no_state(storage: StateStorage) -> StateError:
    return StateError(f"there is no state file yet ({storage.display})")


def _read(workspace: Workspace) -> tuple[StateStorage, StateFile]:
    """The state as a consistent snapshot, without the lock, so that it can be looked at
    while an apply runs: the file is replaced whole (rename) and its journal folded in, and
    PostgreSQL reads one REPEATABLE READ snapshot."""
    storage = open_storage(workspace)
    state, _ = storage.read()
    if state is None:
        raise _no_state(storage)
    return storage, state


def list_() -> int:
    workspace = load_workspace(Path.cwd())
    storage, state = _read(workspace)
    rows = [("ID", "EMAIL", "NAME", "STATUS", "RECORDED AT")]
    for customer_id, record in sorted(state.customers.items()):
        observed = record.observed
        name = (
            observed.get("full_name")
            or f"{observed.get('first_name') or ''} {observed.get('last_name') or ''}".strip()
        )
        rows.append(
            (
                str(customer_id),
                str(observed.get("email") or ""),
                name,
                str(observed.get("status") or ""),
                record.observed_at,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    click.echo(f"{len(state.customers)} customer(s) in {storage.display} (serial {state.serial}).")
    return 0


def show(customer_id: int, version: int | None = None) -> int:
    workspace = load_workspace(Path.cwd())
    if version is not None:
        storage = open_storage(workspace)
        found = [e for e in storage.history(customer_id) if e.version == version]
        if not found or found[0].record is None:
            raise StateError(
                f"customer {customer_id} has no version {version} in {storage.display}"
                + ("" if storage.keeps_history else " (it keeps only the current record)")
            )
        record = found[0].record
    else:
        _, state = _read(workspace)
        current = state.customers.get(customer_id)
        if current is None:
            raise StateError(f"customer {customer_id} is not in the state")
        record = current
    document = {
        "observed": record.observed,
        "observed_at": record.observed_at,
        "last_applied": record.last_applied,
    }
    click.echo(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
    return 0


def rm(customer_ids: tuple[int, ...], timeout: float, purge: bool = False) -> int:
    workspace = load_workspace(Path.cwd())
    storage = open_storage(workspace)
    with locked(storage, "state rm", timeout):
        on_disk, state, _ = storage.recover(new_state(None, None))
        if on_disk is None:
            raise _no_state(storage)
        missing = [i for i in customer_ids if i not in state.customers]
        if missing:
            raise StateError(
                f"not in the state: {', '.join(map(str, missing))}; nothing was removed"
            )
        declaration = declare(workspace, effective_name_mode(workspace, state))
        for customer_id in customer_ids:
            del state.customers[customer_id]
            declared = declaration.customers.get(customer_id)
            still = (
                f"; it is still declared at {declared.source}, so the next plan lists it as not in state"
                if declared
                else ""
            )
            click.echo(
                f"Removed customer {customer_id} from the state; the store is unchanged{still}."
            )
        storage.persist(state, on_disk)
        if purge:
            storage.purge(list(customer_ids))
            kept = (
                "every recorded version is erased"
                if storage.keeps_history
                else "the state file kept only the current record; earlier ones stay in git's"
                " history of the file"
            )
            click.echo(f"Purged {len(customer_ids)} customer(s): {kept}.")
    return 0


def pull() -> int:
    """The state in the JSON file format, to stdout (read under the lock)."""
    workspace = load_workspace(Path.cwd())
    _, state = _read(workspace)
    click.echo(serialize(state).decode("utf-8"), nl=False)
    return 0


def push(source: Path, force: bool, timeout: float) -> int:
    """Make the workspace's state the state file `source`, lineage and serial included."""
    workspace = load_workspace(Path.cwd())
    incoming = load_state(source, str(source))
    if incoming is None:
        raise StateError(f"{source}: no such state file")
    storage = open_storage(workspace)
    with locked(storage, "state push", timeout):
        current, pending = storage.read()
        if pending or storage.unresolved():
            raise StateError(
                f"{storage.display} has records of an interrupted run pending: run `fluentcart"
                " refresh` (or apply) first, so that nothing the store took is lost"
            )
        if current is not None and not force:
            if current.lineage != incoming.lineage:
                raise StateError(
                    f"{source} is another state (lineage {incoming.lineage}, the stored one"
                    f" {current.lineage}); --force replaces it anyway"
                )
            if incoming.serial < current.serial:
                raise StateError(
                    f"{source} is older (serial {incoming.serial}) than the stored state (serial"
                    f" {current.serial}); --force replaces it anyway"
                )
        storage.replace(incoming)
    click.echo(
        f"Pushed {source} to {storage.display}: {len(incoming.customers)} customer(s),"
        f" serial {incoming.serial}."
    )
    return 0


def migrate(destination: str, name: str | None, timeout: float) -> int:
    """Copy the state to another storage (file to PostgreSQL or back), verified."""
    workspace = load_workspace(Path.cwd())
    source = open_storage(workspace)
    target = storage_at(workspace, destination, name or workspace.state_workspace)
    if target.display == source.display:
        raise StateError(f"the state is already in {source.display}")
    with locked(source, "state migrate", timeout), locked(target, "state migrate", timeout):
        state, pending = source.read()
        if state is None:
            raise _no_state(source)
        if pending or source.unresolved():
            raise StateError(
                f"{source.display} has records of an interrupted run pending"
                f" ({source.pending_location}): run `fluentcart refresh` (or apply) first"
            )
        existing, _ = target.read()
        if existing is not None and existing.customers:
            raise StateError(f"{target.display} holds a state already; nothing was copied")
        expected = canonical_sha256(state)
        target.replace(state)
        copied, _ = target.read()
        got = canonical_sha256(copied) if copied is not None else None
        if got != expected:
            raise StateError(
                f"the copy in {target.display} does not read back as the state it was made from"
                f" (sha256 {got} instead of {expected}); the source is unchanged"
            )
    click.echo(
        f"Migrated {len(state.customers)} customer(s) (lineage {state.lineage}, serial"
        f" {state.serial}) from {source.display} to {target.display}; verified, sha256"
        f" {expected[:16]}. Now set `state: {shown_location(destination)}` in fluentcart.yaml"
        + (f" and `workspace: {name}`" if name else "")
        + "; the old state is left as it was."
    )
    return 0


def history(customer_id: int) -> int:
    """Every recorded version of a customer, with the run that wrote it and what changed."""
    from reconciler.commands.refresh import changed_fields

    workspace = load_workspace(Path.cwd())
    storage = open_storage(workspace)
    entries = storage.history(customer_id)
    if not entries:
        raise StateError(f"customer {customer_id} has no recorded version in {storage.display}")
    previous = None
    for entry in entries:
        if entry.record is None:
            what = "removed from the state"
        elif previous is None:
            what = "first recorded"
        else:
            what = "changed: " + changed_fields(previous.observed, entry.record.observed)
        click.echo(f"v{entry.version}  {entry.recorded_at}  {entry.op:<8} {entry.run}; {what}")
        previous = entry.record or previous
    if not storage.keeps_history:
        click.echo(
            f"{storage.display} keeps only the current record (git keeps the file's history);"
            " the PostgreSQL backend keeps every version."
        )
    return 0
