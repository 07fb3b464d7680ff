"""What most commands start from: the workspace, its state and its declared customers."""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler import jsontext
from reconciler.declared import Declaration, DeclaredLoad, Rules, start_declared
from reconciler.diagnostics import Diagnostic
from reconciler.errors import FluentCartError, StateError
from reconciler.lock import describe_takeover
from reconciler.state import StateFile, new_state
from reconciler.storage import StateStorage, open_storage
from reconciler.workspace import (
    CONFIG_FILE,
    DEFAULT_PARALLELISM,
    NameMode,
    Workspace,
    load_workspace,
)

if TYPE_CHECKING:
    from reconciler.breaker import RetryNotice
    from reconciler.client import FluentCartClient
    from reconciler.live import LiveRead
    from reconciler.views.redact import Redactor


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
    storage = open_storage(workspace)
    # The files are parsed (on worker processes, for a large workspace) while the state is
    # read, under the name mode the state's head records: the same as the full read's but
    # for a hand-edited state, which is then parsed again under its own.
    guess = (
        workspace.name_mode
        if workspace.name_mode is not NameMode.AUTO
        else storage.recorded_name_mode()
    )
    with jsontext.many_objects():  # a heap of records that hold no reference cycles
        loaded = _load(workspace, storage, guess)
    jsontext.keep_for_the_run()
    return loaded


def _load(workspace: Workspace, storage: StateStorage, guess: NameMode | None) -> Loaded:
    loading = start_declare(workspace, guess)
    try:
        state, pending = storage.read(slim=True)
    except BaseException:
        loading.cancel()
        raise
    for warning in storage.warnings():
        click.echo(f"warning: {warning}", err=True)
    if pending:
        click.echo(
            f"warning: {pending} customer(s) recorded by an interrupted apply are in"
            f" {storage.pending_location}; this plan includes them, and the next"
            " apply or import folds them into the state",
            err=True,
        )
    mode = effective_name_mode(workspace, state)
    if mode != guess:
        loading.cancel()
        loading = start_declare(workspace, mode)
    return Loaded(workspace, state, mode, finish_declare(loading, state))


def echo_diagnostics(
    diagnostics: list[Diagnostic] | tuple[Diagnostic, ...],
    err: bool = True,
    redactor: "Redactor | None" = None,
) -> None:
    for diagnostic in diagnostics:
        shown = redactor.diagnostic(diagnostic) if redactor is not None else diagnostic
        click.echo(shown.format(), err=err)


def use_color(no_color: bool) -> bool:
    """Colour only on a terminal, never with --no-color or NO_COLOR set."""
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


@dataclass(frozen=True)
class ConnectOptions:
    """Command-line options about reaching the store."""

    insecure_http: bool = False
    rest_route: bool = False
    method_override: bool = False
    timeout: float = 60.0
    retries: int = 10
    unreachable_after: int = 10
    deadline: float | None = None
    parallelism: int | None = None  # pages read at once (plan --refresh, refresh)


def connect(
    workspace: Workspace,
    options: ConnectOptions,
    parallelism: int | None = None,
    on_retry: "Callable[[RetryNotice], None] | None" = None,
) -> "FluentCartClient":
    """A client for the workspace's site, with credentials from the environment; each retry
    goes to `on_retry`, else to a line on standard error."""
    from reconciler.client import ClientOptions, FluentCartClient, credentials_from_env

    credentials = credentials_from_env(os.environ)
    parallelism = parallelism or options.parallelism or workspace.parallelism or DEFAULT_PARALLELISM
    client_options = ClientOptions(
        insecure_http=options.insecure_http,
        rest_route=options.rest_route,
        method_override=options.method_override,
        read_timeout=options.timeout,
        connect_timeout=min(options.timeout, 10.0),
        retries=options.retries,
        pool_size=max(parallelism, 4),
        parallelism=parallelism,
        unreachable_after=options.unreachable_after,
        deadline=options.deadline,
    )
    client = FluentCartClient(workspace.site or "", credentials, client_options)
    client.breaker.on_retry = on_retry or echo_retry
    return client


def echo_retry(notice: "RetryNotice") -> None:
    """A retry, on its own line of standard error (clearing a progress bar drawn there)."""
    clear = "\r\x1b[K" if sys.stderr.isatty() else ""
    wait = f"in {notice.wait:.1f} s" if notice.wait > 0 else "now"
    click.echo(
        f"{clear}  retry {notice.attempt}/{notice.retries} of {notice.request} {wait}:"
        f" {notice.reason}",
        err=True,
    )


@dataclass
class Opened:
    """A state opened for writing, with the lock held."""

    storage: StateStorage
    on_disk: StateFile | None  # as stored, an interrupted run's records folded in
    state: StateFile  # the working copy this run changes and persists


@contextmanager
def locked(storage: StateStorage, operation: str, timeout: float = 0.0) -> Iterator[None]:
    """Hold the storage's lock for the block, saying when it released a dead holder's."""
    with storage.lock(operation, timeout) as lock:
        if lock.took_over:
            click.echo(describe_takeover(lock.took_over), err=True)
        yield


@contextmanager
def opened_state(
    workspace: Workspace, operation: str, lock_timeout: float, client: "FluentCartClient"
) -> Iterator[Opened]:
    """The shared opening steps of every command that writes the state: take the lock (saying
    when it released a dead holder's), fold what an interrupted apply recorded, read again
    the customers whose PUT it sent without recording the answer, and refuse a state
    recorded from another site. The lock is held until the block ends."""
    site = client.site
    storage = open_storage(workspace)
    for warning in storage.warnings():
        click.echo(f"warning: {warning}", err=True)
    with locked(storage, operation, lock_timeout):
        on_disk, working, folded = storage.recover(new_state(site, None))
        if folded:
            click.echo(
                f"Recovered {folded} customer(s) that an interrupted apply had recorded in"
                f" {storage.pending_location}; they are now in the state.",
                err=True,
            )
        check_same_site(workspace, working, site)
        working.site = site
        _resolve_intents(storage, working, client)
        yield Opened(storage, on_disk, working)


def _resolve_intents(storage: StateStorage, state: StateFile, client: "FluentCartClient") -> None:
    unresolved = storage.unresolved()
    if not unresolved:
        return
    from reconciler.apply import now
    from reconciler.live import read_customers
    from reconciler.state import CustomerRecord

    recorded = [i for i in unresolved if i in state.customers]  # none that state rm dropped
    live = read_customers(client, recorded)
    records = {
        customer_id: CustomerRecord(customer, now(), state.customers[customer_id].last_applied)
        for customer_id, customer in live.found.items()
    }
    # Recorded and cleared together, before anything else can end the run.
    storage.resolve(records, unresolved)
    state.customers.update(records)
    click.echo(
        f"Read {len(records)} customer(s) again from the store: an interrupted run had sent"
        " their PUT without recording the answer.",
        err=True,
    )


def resolve_name_mode(
    workspace: Workspace, state: StateFile | None, client: "FluentCartClient"
) -> NameMode:
    """The store's mode (one request), else the configured one, else the recorded one, else
    full-name. A configured mode the store no longer has is an error: every PUT would send
    name fields the store ignores (a store can switch modes at any time, API-2.md)."""
    detected = client.detect_name_mode()
    if workspace.name_mode is not NameMode.AUTO:
        if detected is not None and detected is not workspace.name_mode:
            raise FluentCartError(
                f"{CONFIG_FILE} sets name_mode: {workspace.name_mode}, but the store uses"
                f" {detected} now (its checkout name fields): set name_mode: {detected} (or"
                " auto), declare the names that way, and plan again; nothing was sent"
            )
        return workspace.name_mode
    if detected is not None:
        return detected
    if state is not None and state.name_mode is not None:
        return state.name_mode
    return NameMode.FULL_NAME


def declare(workspace: Workspace, mode: NameMode | None, missing_ok: bool = False) -> Declaration:
    return finish_declare(start_declare(workspace, mode, missing_ok))


def start_declare(
    workspace: Workspace, mode: NameMode | None, missing_ok: bool = False
) -> DeclaredLoad:
    from reconciler.cache import open_cache

    files = [(path, workspace.display(path)) for path in workspace.declared_files(missing_ok)]
    return start_declared(files, Rules(workspace.statuses, mode), open_cache())


def finish_declare(loading: DeclaredLoad, state: StateFile | None = None) -> Declaration:
    """The declaration `loading` reads; with the state, declared values equal to recorded
    ones share their strings (DeclaredLoad.result)."""
    recorded = state.customers if state is not None else None
    with jsontext.many_objects():  # the parsed customers: no reference cycles among them
        declaration = loading.result(recorded)
    if loading.cache is not None and loading.cache.writes:
        loading.cache.prune()
    return declaration


def check_same_site(workspace: Workspace, state: StateFile | None, site: str) -> None:
    if state is not None and state.site and state.site != site:
        raise StateError(
            f"{open_storage(workspace).display} was recorded from {state.site}, but the site"
            f" is {site}; use one state file per store (set 'state' in fluentcart.yaml)"
        )


def read_live(
    client: "FluentCartClient",
    declaration: Declaration,
    state: StateFile | None,
    targets: tuple[int, ...] = (),
    everything_recorded: bool = False,
) -> "LiveRead":
    """The live records of the recorded customers a plan compares (all recorded ones with
    `everything_recorded`, as refresh needs)."""
    from reconciler.live import read_customers
    from reconciler.plan import resolve_created

    declaration = resolve_created(declaration, state)
    recorded = set(state.customers) if state is not None else set()
    ids = recorded if everything_recorded else recorded & set(declaration.customers)
    if targets:
        ids &= set(targets)
    with jsontext.many_objects():  # pages of customers: no reference cycles among them
        live = read_customers(client, ids)
    jsontext.keep_for_the_run()  # kept until the plan is shown
    if not targets:
        # A customer to create whose email the store has is refused (422 `exist`): the plan
        # names the customer that has it.
        for key, new in declaration.creates.items():
            found = client.customer_with_email(str(new.fields["email"]))
            if found is not None:
                live.emails[key] = found
    return live


def require_valid(
    declaration: Declaration, consequence: str, redactor: "Redactor | None" = None
) -> None:
    """Stop, with every problem printed (masked with --redact), when the declared files have
    errors."""
    if declaration.errors:
        echo_diagnostics(declaration.diagnostics, redactor=redactor)
        raise FluentCartError(
            f"{len(declaration.errors)} problem(s) in the declared files; {consequence}"
        )


def declare_offline(
    workspace: Workspace, missing_ok: bool = False
) -> tuple[Declaration, NameMode | None]:
    """The declared customers checked before any request: bad input never reaches the store."""
    mode = offline_name_mode(workspace)
    return declare(workspace, mode, missing_ok), mode


def offline_name_mode(workspace: Workspace) -> NameMode | None:
    """The configured mode, else the one the state recorded, read from the state's head
    (the customers are loaded later, under the lock, by the commands that need them)."""
    if workspace.name_mode is not NameMode.AUTO:
        return workspace.name_mode
    return open_storage(workspace).recorded_name_mode()
