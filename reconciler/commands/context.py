"""What most commands start from: the workspace, its state and its declared customers."""

import copy
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.declared import Declaration, Rules, load_declared
from reconciler.diagnostics import Diagnostic
from reconciler.errors import FluentCartError, StateError
from reconciler.state import (
    StateFile,
    fold_journal,
    journal_path,
    load_state,
    new_state,
    readable_by_others,
    recorded_name_mode,
    remove_journal,
    save_state,
)
from reconciler.workspace import NameMode, Workspace, load_workspace

if TYPE_CHECKING:
    from reconciler.client import FluentCartClient
    from reconciler.live import LiveRead


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
    state = load_state(workspace.state_path, workspace.display(workspace.state_path), slim=True)
    if state is not None and readable_by_others(workspace.state_path):
        click.echo(
            f"warning: {workspace.display(workspace.state_path)} is readable by other users; it"
            " holds customer data (chmod 600 it; fluentcart writes it 0600)",
            err=True,
        )
    if state is not None:
        pending = fold_journal(state, workspace.state_path)
        if pending:
            click.echo(
                f"warning: {pending} customer(s) recorded by an interrupted apply are in"
                f" {journal_path(workspace.state_path).name}; this plan includes them, and the next"
                " apply or import folds them into the state",
                err=True,
            )
    mode = effective_name_mode(workspace, state)
    return Loaded(workspace, state, mode, declare(workspace, mode))


def echo_diagnostics(
    diagnostics: list[Diagnostic] | tuple[Diagnostic, ...], err: bool = True
) -> None:
    for diagnostic in diagnostics:
        click.echo(diagnostic.format(), err=err)


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


def connect(
    workspace: Workspace, options: ConnectOptions, parallelism: int = 4
) -> "FluentCartClient":
    """A client for the workspace's site, with credentials from the environment."""
    from reconciler.client import ClientOptions, FluentCartClient, credentials_from_env

    credentials = credentials_from_env(os.environ)
    client_options = ClientOptions(
        insecure_http=options.insecure_http,
        rest_route=options.rest_route,
        method_override=options.method_override,
        read_timeout=options.timeout,
        connect_timeout=min(options.timeout, 10.0),
        retries=options.retries,
        pool_size=max(parallelism, 4),
    )
    return FluentCartClient(workspace.site or "", credentials, client_options)


def open_state(
    workspace: Workspace, site: str, name_mode: NameMode | None
) -> tuple[StateFile | None, StateFile]:
    """(the state as on disk, a working copy), with any interrupted apply's journal folded in.

    Call it with the lock held. A state recorded from another site is refused.
    """
    path = workspace.state_path
    on_disk = load_state(path, workspace.display(path))
    working = copy.deepcopy(on_disk) if on_disk is not None else new_state(site, name_mode)
    folded = fold_journal(working, path)
    if folded:
        save_state(path, working, on_disk)
        remove_journal(path)
        on_disk = copy.deepcopy(working)
        click.echo(
            f"Recovered {folded} customer(s) that an interrupted apply had recorded in"
            f" {journal_path(path).name}; they are now in the state.",
            err=True,
        )
    check_same_site(workspace, working, site)
    working.site = site
    return on_disk, working


def resolve_name_mode(
    workspace: Workspace, state: StateFile | None, client: "FluentCartClient"
) -> NameMode:
    """The configured mode, else the store's (one request), else the recorded one, else full-name."""
    if workspace.name_mode is not NameMode.AUTO:
        return workspace.name_mode
    detected = client.detect_name_mode()
    if detected is not None:
        return detected
    if state is not None and state.name_mode is not None:
        return state.name_mode
    return NameMode.FULL_NAME


def declare(workspace: Workspace, mode: NameMode | None, missing_ok: bool = False) -> Declaration:
    from reconciler.cache import open_cache

    files = [(path, workspace.display(path)) for path in workspace.declared_files(missing_ok)]
    cache = open_cache()
    declaration = load_declared(files, Rules(workspace.statuses, mode), cache)
    if cache is not None and cache.writes:
        cache.prune()
    return declaration


def check_same_site(workspace: Workspace, state: StateFile | None, site: str) -> None:
    if state is not None and state.site and state.site != site:
        raise StateError(
            f"{workspace.display(workspace.state_path)} was recorded from {state.site}, but the site"
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

    recorded = set(state.customers) if state is not None else set()
    ids = recorded if everything_recorded else recorded & set(declaration.customers)
    if targets:
        ids &= set(targets)
    return read_customers(client, ids)


def require_valid(declaration: Declaration, consequence: str) -> None:
    """Stop, with every problem printed, when the declared files have errors."""
    if declaration.errors:
        echo_diagnostics(declaration.diagnostics)
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
    return recorded_name_mode(workspace.state_path)
