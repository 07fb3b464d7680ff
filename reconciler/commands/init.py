"""`fluentcart init [DIR] [--upgrade-schemas]`: create a workspace, or complete one.

Creates what is missing (`fluentcart.yaml`, `customers/`, `.gitignore`, the JSON Schemas under
`.fluentcart/schemas/`) and never changes a file that exists: for those it says what it would
add. `--upgrade-schemas` is the one exception: it rewrites the schema copies with this
version's.
"""

from dataclasses import dataclass, field
from pathlib import Path

import click

from reconciler import scaffold
from reconciler.atomicfile import write_atomic
from reconciler.errors import FluentCartError
from reconciler.workspace import CONFIG_FILE, DEFAULT_CUSTOMERS, DEFAULT_STATE, load_workspace

PUBLIC_MODE = 0o644  # committed files: only the state, plans and the journal are private


@dataclass
class InitReport:
    created: list[str]
    kept: list[str]
    advice: list[str]
    upgraded: list[str] = field(default_factory=list)


def init_workspace(root: Path, upgrade_schemas: bool = False) -> InitReport:
    """Create what a workspace at `root` is missing; report what exists and differs."""
    if root.exists() and not root.is_dir():
        raise FluentCartError(f"{root} is a file, not a directory")
    root.mkdir(parents=True, exist_ok=True)
    report = InitReport([], [], [])
    config = root / CONFIG_FILE
    if config.exists():
        workspace = load_workspace(root)  # a broken fluentcart.yaml stops here, located
        customers = workspace.customers
        in_file = not workspace.state.startswith(("postgresql://", "postgres://"))
        state = workspace.display(workspace.state_path) if in_file else None
        report.kept.append(CONFIG_FILE)
    else:
        _create(root, CONFIG_FILE, scaffold.config_text(), report)
        customers, state = DEFAULT_CUSTOMERS, DEFAULT_STATE
    _customers_directory(root, customers, report)
    _gitignore(root, state, report)
    _schemas(root, upgrade_schemas, report)
    return report


def _create(root: Path, name: str, text: str, report: InitReport) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"), mode=PUBLIC_MODE)
    report.created.append(name)


def _customers_directory(root: Path, customers: str, report: InitReport) -> None:
    if any(c in customers for c in "*?["):
        return  # a glob names files, not a directory to create
    directory = root / customers
    if directory.exists():
        report.kept.append(customers)
        return
    directory.mkdir(parents=True)
    report.created.append(customers.rstrip("/") + "/")


def _gitignore(root: Path, state: str | None, report: InitReport) -> None:
    path = root / ".gitignore"
    if not path.exists():
        _create(root, ".gitignore", scaffold.gitignore_text(state), report)
        return
    present = set(path.read_text("utf-8", errors="replace").splitlines())
    missing = [line for line in scaffold.ignored_paths(state) if line not in present]
    report.kept.append(".gitignore")
    if missing:
        report.advice.append(
            ".gitignore exists and is left as it is; add these lines so that no customer data"
            " that fluentcart rewrites gets committed:\n" + "\n".join(f"  {m}" for m in missing)
        )


def _schemas(root: Path, upgrade: bool, report: InitReport) -> None:
    stale = []
    for name in scaffold.SCHEMA_NAMES:
        path = scaffold.schema_path(root, name)
        display = path.relative_to(root).as_posix()
        shipped = scaffold.packaged_schema(name)
        if path.exists() and path.read_bytes() == shipped:
            report.kept.append(display)
        elif path.exists() and not upgrade:
            report.kept.append(display)
            stale.append(display)
        elif path.exists():
            write_atomic(path, shipped, mode=PUBLIC_MODE)
            report.upgraded.append(display)
        else:
            _create(root, display, shipped.decode("utf-8"), report)
    if stale:
        report.advice.append(
            "these schema copies differ from this version of fluentcart's; refresh them with"
            " `fluentcart init --upgrade-schemas`:\n" + "\n".join(f"  {s}" for s in stale)
        )


def ensure_schemas(root: Path) -> list[str]:
    """Create the schema copies a workspace is missing (import writes files that point at
    them) and leave the others alone; returns what was created."""
    report = InitReport([], [], [])
    _schemas(root, False, report)
    return report.created


def run(directory: Path, upgrade_schemas: bool) -> int:
    report = init_workspace(directory, upgrade_schemas)
    where = "this directory" if directory == Path() else str(directory)
    for name in report.created:
        click.echo(f"created {name}")
    for name in report.upgraded:
        click.echo(f"upgraded {name} to this version's schema")
    for text in report.advice:
        click.echo(f"note: {text}")
    if report.upgraded and not report.created:
        return 0
    if not report.created:
        click.echo(f"Nothing to add: {where} is a fluentcart workspace already.")
        return 0
    if CONFIG_FILE in report.kept:
        click.echo(f"\nAdded what the workspace in {where} was missing; nothing was changed.")
        return 0
    click.echo(
        f"\nInitialized a fluentcart workspace in {where}. Next:\n"
        "  export FLUENTCART_URL=https://shop.example.com FLUENTCART_USERNAME=admin\n"
        "  export FLUENTCART_APP_PASSWORD='...'   # an Application Password\n"
        "  fluentcart import --all --generate-yaml customers/   # adopt the store's customers\n"
        "  fluentcart validate && fluentcart plan"
    )
    return 0
