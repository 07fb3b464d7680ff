"""`fluentcart import [ID...] [--all | --search TEXT] [--generate-yaml DIR [--per-file N]]`.

Reads customers from the store into the state. Without options: the declared customers the
state does not hold yet. With --generate-yaml: also customers no YAML declares, for which it
writes declared files (never overwriting one), so an existing store can be adopted.
"""

import fnmatch
import glob
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from reconciler.apply import now
from reconciler.atomicfile import write_atomic
from reconciler.cache import open_cache
from reconciler.client import FluentCartClient
from reconciler.commands.context import (
    ConnectOptions,
    connect,
    declare,
    declare_offline,
    echo_diagnostics,
    opened_state,
    require_valid,
    resolve_name_mode,
)
from reconciler.commands.init import PUBLIC_MODE, ensure_schemas, init_workspace
from reconciler.customer import FieldValue, json_value, observed_value
from reconciler.declared import Declaration, Rules, load_declared
from reconciler.diagnostics import Severity
from reconciler.errors import FluentCartError
from reconciler.generate import declared_fields, file_name, render_file
from reconciler.live import read_customers
from reconciler.scaffold import DEFAULT_PER_FILE, schema_comment
from reconciler.state import CustomerRecord, StateFile
from reconciler.workspace import CONFIG_FILE, NameMode, Workspace, load_workspace


@dataclass(frozen=True)
class ImportOptions:
    ids: tuple[int, ...] = ()
    all_customers: bool = False
    search: str | None = None
    generate_dir: Path | None = None
    per_file: int = DEFAULT_PER_FILE
    init: bool = False
    lock_timeout: float = 0.0
    connect: ConnectOptions = field(default_factory=ConnectOptions)


def run(options: ImportOptions) -> int:
    _require_workspace(options)
    workspace = load_workspace(Path.cwd())
    adopting = options.all_customers or options.search is not None
    if adopting and options.generate_dir is None:
        raise FluentCartError(
            "--all and --search need --generate-yaml DIR: nothing would declare those customers"
        )
    if options.all_customers and (options.search is not None or options.ids):
        raise FluentCartError("--all reads every customer: give no ids and no --search with it")
    missing_ok = options.generate_dir is not None
    offline, offline_mode = declare_offline(workspace, missing_ok)
    require_valid(offline, "nothing was imported")
    with (
        connect(workspace, options.connect) as client,
        opened_state(workspace, "import", options.lock_timeout, client) as opened,
    ):
        on_disk, state = opened.on_disk, opened.state
        mode = resolve_name_mode(workspace, on_disk, client)
        state.name_mode = mode
        declaration = offline if mode == offline_mode else declare(workspace, mode, missing_ok)
        require_valid(declaration, "nothing was imported")
        written: list[Path] = []
        if options.generate_dir is not None:
            failed, written = _adopt(workspace, client, declaration, state, mode, options)
        else:
            failed = _import_declared(client, declaration, state, options.ids)
        if client.catalog is not None:  # read with the customers: offline plans compare to it
            state.labels = client.catalog
        opened.storage.persist(state, on_disk)
        click.echo(f"Read from {client.site} in {client.requests_sent} request(s).")
    if not _report_generated(workspace, mode, written):
        failed = True
    return 1 if failed else 0


def _require_workspace(options: ImportOptions) -> None:
    """Adopting a store writes files that point at the workspace's schemas and that git will
    track: that needs a workspace, which `init` makes (and `--init` runs)."""
    if (Path.cwd() / CONFIG_FILE).exists():
        return
    if options.init:
        for name in init_workspace(Path.cwd()).created:
            click.echo(f"created {name}", err=True)
        return
    hint = "run `fluentcart init` first, or give `--init`"
    if options.generate_dir is not None:
        raise FluentCartError(
            f"this directory has no {CONFIG_FILE}, so it is no workspace yet: {hint}"
        )
    click.echo(f"note: this directory has no {CONFIG_FILE}; {hint} to create one", err=True)


def _report_generated(workspace: Workspace, mode: NameMode, written: list[Path]) -> bool:
    """Check the workspace with the generated files in it, as `validate` will, and report
    every problem in them with its file and line; True when the result validates."""
    if not written:
        return True
    files = {path.resolve(): path for path in workspace.declared_files(missing_ok=True)}
    files.update((path.resolve(), path) for path in written)
    declaration = load_declared(
        [(path, workspace.display(path)) for path in files.values()],
        Rules(workspace.statuses, mode),
        open_cache(),
    )
    generated = {workspace.display(path) for path in written}
    shown = [
        d for d in declaration.diagnostics if d.file in generated or d.severity is Severity.ERROR
    ]
    if not shown:
        return True
    errors = sum(d.severity is Severity.ERROR for d in shown)
    click.echo(
        "The store holds values that `fluentcart validate` will report in the generated files:",
        err=True,
    )
    echo_diagnostics(shown)
    if errors:
        click.echo(
            f"{errors} error(s): fix those values in the YAML (or the rules in {CONFIG_FILE},"
            " such as 'statuses') before the next plan; the state holds what the store has.",
            err=True,
        )
        return False
    click.echo(f"{len(shown)} warning(s); `fluentcart validate` passes.", err=True)
    return True


def _record(
    state: StateFile, customer: dict[str, Any], declared: Mapping[str, FieldValue] | None = None
) -> None:
    """Record `customer`; the `declared` values it already holds count as applied, as after
    an apply that found them in place, so that a later change made on the store is told
    apart from a change in the YAML (plan's "reverts a change made on the store")."""
    previous = state.customers.get(customer["id"])
    if previous is not None:  # read again: what fluentcart applied before stays as it was
        last_applied = dict(previous.last_applied)
    else:
        last_applied = {
            name: json_value(value)
            for name, value in (declared or {}).items()
            if observed_value(customer, name) == value
        }
    state.customers[customer["id"]] = CustomerRecord(customer, now(), last_applied)


def _import_declared(
    client: FluentCartClient, declaration: Declaration, state: StateFile, ids: tuple[int, ...]
) -> bool:
    failed = False
    if ids:
        for customer_id in ids:
            if customer_id not in declaration.customers:
                click.echo(
                    f"refused: customer {customer_id} is not declared in any YAML file, so nothing"
                    " would manage it (--generate-yaml DIR writes one)",
                    err=True,
                )
                failed = True
        wanted = sorted({i for i in ids if i in declaration.customers})
    else:
        wanted = sorted(i for i in declaration.customers if i not in state.customers)
    live = read_customers(client, wanted)
    for customer_id in sorted(live.gone):
        click.echo(
            f"not found: customer {customer_id} does not exist on the store. fluentcart"
            " manages customers that exist there (it does not create them yet): create it in"
            " wp-admin (FluentCart > Customers) and declare its id, or remove it from"
            f" {declaration.customers[customer_id].source or 'the YAML'}",
            err=True,
        )
        failed = True
    for customer in live.found.values():
        _record(state, customer, declaration.customers[customer["id"]].fields)
    if not wanted and not ids:
        click.echo("Every declared customer is already in the state.")
    click.echo(f"Import complete: {len(live.found)} customer(s) recorded in the state.")
    return failed


def _adopt(
    workspace: Workspace,
    client: FluentCartClient,
    declaration: Declaration,
    state: StateFile,
    mode: NameMode,
    options: ImportOptions,
) -> tuple[bool, list[Path]]:
    """Write files for the store's customers no YAML declares: (whether anything failed, the
    files written)."""
    failed = False
    if options.ids:
        live = read_customers(client, options.ids)
        for customer_id in sorted(live.gone):
            click.echo(f"not found: customer {customer_id} does not exist on the store", err=True)
            failed = True
        candidates = [live.found[i] for i in sorted(live.found)]
    else:
        candidates = list(client.iter_customers(search=options.search))
        client.known_labels()  # the store's labels, recorded for offline plans
    fresh: list[dict[str, Any]] = []
    for customer in candidates:
        declared = declaration.customers.get(customer["id"])
        if declared is None:
            fresh.append(customer)
            continue
        if options.ids:
            click.echo(
                f"refused: customer {customer['id']} is already declared at {declared.source}",
                err=True,
            )
            failed = True
        elif customer["id"] not in state.customers:
            _record(state, customer, declared.fields)  # declared already: a plain import
    files, written, skipped = _write_files(workspace, fresh, mode, options)
    for customer in written:
        _record(state, customer, dict(declared_fields(customer, mode)))
    if skipped:
        failed = True
    click.echo(
        f"Import complete: {len(written)} customer(s) written to {options.generate_dir}"
        f" ({len(files)} file(s)) and recorded in the state;"
        f" {len(candidates) - len(fresh)} already declared."
    )
    return failed, files


def _write_files(
    workspace: Workspace, customers: list[dict[str, Any]], mode: NameMode, options: ImportOptions
) -> tuple[list[Path], list[dict[str, Any]], int]:
    """(the files written, the customers in them, how many customers were not written)."""
    directory = options.generate_dir
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    if not _is_declared_location(workspace, directory):
        click.echo(
            f"note: {directory} is not where fluentcart.yaml looks for declared files"
            f" ({workspace.customers}); move the files there, or set 'customers'",
            err=True,
        )
    for name in ensure_schemas(workspace.root):
        click.echo(f"created {name} (the generated files' $schema comments point at it)", err=True)
    header = f"Imported by fluentcart from {workspace.site or 'the store'} on {datetime.now(UTC):%Y-%m-%d}."
    files: list[Path] = []
    written: list[dict[str, Any]] = []
    skipped = 0
    for start in range(0, len(customers), options.per_file):
        chunk = customers[start : start + options.per_file]
        path = directory / file_name([c["id"] for c in chunk], options.per_file)
        if path.exists():
            click.echo(f"refused: {path} exists; fluentcart never overwrites a file", err=True)
            skipped += len(chunk)
            continue
        comment = schema_comment(path, workspace.root)
        text = render_file(chunk, mode, workspace.statuses, comment, header, options.per_file > 1)
        # Declared files go to git; only the state, its journal and plans are private.
        write_atomic(path, text.encode("utf-8"), mode=PUBLIC_MODE)
        files.append(path)
        written.extend(chunk)
    return files, written, skipped


def _is_declared_location(workspace: Workspace, directory: Path) -> bool:
    """Whether a file written in `directory` would be one of the workspace's declared files."""
    probe = directory.resolve() / "customer-000001.yaml"
    try:
        relative = probe.relative_to(workspace.root.resolve()).as_posix()
    except ValueError:
        return False
    if glob.has_magic(workspace.customers):
        return fnmatch.fnmatch(relative, workspace.customers)
    target = (workspace.root / workspace.customers).resolve()
    return target == probe or target in probe.parents
