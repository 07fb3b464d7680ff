"""The workspace: `fluentcart.yaml` and where the declared files and the state live."""

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from reconciler.diagnostics import Diagnostic, Severity
from reconciler.errors import WorkspaceError

CONFIG_FILE = "fluentcart.yaml"
DEFAULT_CUSTOMERS = "customers/"
DEFAULT_STATE = "fluentcart.state.json"
DEFAULT_STATUSES = ("active", "inactive")
DEFAULT_PARALLELISM = 4
YAML_SUFFIXES = (".yaml", ".yml")


class NameMode(StrEnum):
    """How the store takes customer names (API.md section 10.7)."""

    AUTO = "auto"
    FULL_NAME = "full_name"
    FIRST_LAST = "first_last"


@dataclass(frozen=True)
class Workspace:
    root: Path
    site: str | None
    customers: str
    state_path: Path  # the file backend's file (unused when `state` is a database)
    name_mode: NameMode
    statuses: tuple[str, ...]
    sensitive: frozenset[str]
    parallelism: int | None
    state: str = DEFAULT_STATE  # where the state is kept: a file, or a postgresql:// URL
    state_workspace: str = "default"  # the workspace's name in a shared state database
    create_labels: bool = True  # apply creates declared labels the store lacks (as planned)
    summary_over: int | None = None  # text and Markdown plans: list at most this many (views)

    def display(self, path: Path) -> str:
        """A path as messages show it: relative to the workspace when inside it."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def declared_files(self, missing_ok: bool = False) -> list[Path]:
        """The declared customer files, in a stable order.

        A missing customers directory is an error (a typo, usually) unless `missing_ok`.
        """
        pattern = self.customers
        if glob.has_magic(pattern):
            found = glob.glob(pattern, root_dir=self.root, recursive=True)
            return sorted(self.root / p for p in found if p.endswith(YAML_SUFFIXES))
        target = self.root / pattern
        if target.is_file():
            return [target]
        if not target.is_dir():
            if missing_ok:
                return []
            raise WorkspaceError(
                f"the customers directory {pattern!r} does not exist in {self.root}"
                f" (set 'customers' in {CONFIG_FILE})"
            )
        return yaml_files_under(target)


def files_from_arguments(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(the YAML files that PATH arguments name, directories searched; the missing paths)."""
    files: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(yaml_files_under(path))
        elif path.exists():
            files.append(path)
        else:
            missing.append(path)
    return files, missing


def yaml_files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())


def load_workspace(root: Path, env: Mapping[str, str] = os.environ) -> Workspace:
    """Read `fluentcart.yaml` in `root` (every key optional); raise WorkspaceError on a bad one."""
    config_path = root / CONFIG_FILE
    config: dict[str, object] = {}
    if config_path.exists():
        config = _read_config(config_path)
    site = env.get("FLUENTCART_URL") or config.get("site")
    state = env.get("FLUENTCART_STATE") or str(config.get("state", DEFAULT_STATE))
    if state.startswith(("postgresql://", "postgres://")):
        _check_database_url(str(config.get("state", "")))
    return Workspace(
        root=root,
        site=str(site).rstrip("/") if site else None,
        customers=str(config.get("customers", DEFAULT_CUSTOMERS)),
        state_path=root / state,
        name_mode=NameMode(str(config.get("name_mode", NameMode.AUTO.value))),
        statuses=tuple(_strings(config.get("statuses", DEFAULT_STATUSES))),
        sensitive=frozenset(_strings(config.get("sensitive", ()))),
        parallelism=_optional_int(config.get("parallelism")),
        state=state,
        state_workspace=_state_workspace(config.get("workspace"), site, state),
        create_labels=config.get("create_labels", True) is not False,
        summary_over=_optional_int(config.get("summary_over")),
    )


def _check_database_url(configured: str) -> None:
    """fluentcart.yaml is committed: a database password never goes in it."""
    from urllib.parse import urlsplit

    if configured.startswith(("postgresql://", "postgres://")):
        try:
            password = urlsplit(configured).password
        except ValueError:
            password = None
        if password is not None or "password=" in configured:
            raise WorkspaceError(
                f"{CONFIG_FILE}: state: the database URL carries a password, and this file is"
                " committed: remove it and set PGPASSWORD (or use ~/.pgpass) instead"
            )


def _state_workspace(configured: object, site: object, state: str) -> str:
    """The workspace's name in a state database: `workspace` in fluentcart.yaml, else the
    site's host and path (one store, one workspace)."""
    if isinstance(configured, str) and configured:
        return configured
    if not state.startswith(("postgresql://", "postgres://")):
        return "default"
    if not site:
        raise WorkspaceError(
            f"{CONFIG_FILE}: a state database holds many workspaces: set 'workspace' (or 'site',"
            " or FLUENTCART_URL) so fluentcart knows which one is this store's"
        )
    from urllib.parse import urlsplit

    parts = urlsplit(str(site))
    return f"{parts.netloc}{parts.path}".rstrip("/") or "default"


# The workspace schema has checked the types of these keys before they are read.
def _strings(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list | tuple) else []


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read_config(path: Path) -> dict[str, object]:
    # Imported here: the command line imports this module, and `--help` stays fast.
    from reconciler import jsonschemas, yamlsource

    try:
        document = yamlsource.read(path)
    except yamlsource.YamlSourceError as exc:
        raise WorkspaceError(
            Diagnostic(Severity.ERROR, exc.message, CONFIG_FILE, exc.line, exc.column).format()
        ) from None
    problems: list[Diagnostic] = []
    for key, first, again in document.duplicate_keys:
        problems.append(
            Diagnostic(
                Severity.ERROR,
                f"{key!r} is set twice (first on line {first.line})",
                CONFIG_FILE,
                again.line,
                again.column,
            )
        )
    for field_path, message, where in jsonschemas.located_problems(
        document, document.value, "workspace"
    ):
        name = next((str(p) for p in reversed(field_path) if isinstance(p, str)), None)
        problems.append(
            Diagnostic(
                Severity.ERROR,
                message,
                CONFIG_FILE,
                where.line if where else None,
                where.column if where else None,
                field=name,
            )
        )
    if problems:
        raise WorkspaceError("\n".join(p.format() for p in problems))
    return document.value if isinstance(document.value, dict) else {}
