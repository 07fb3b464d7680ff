"""The workspace: `fluentcart.yaml` and where the declared files and the state live."""

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from reconciler import jsonschemas, yamlsource
from reconciler.diagnostics import Diagnostic, Severity
from reconciler.errors import WorkspaceError

CONFIG_FILE = "fluentcart.yaml"
DEFAULT_CUSTOMERS = "customers/"
DEFAULT_STATE = "fluentcart.state.json"
DEFAULT_STATUSES = ("active", "inactive")
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
    state_path: Path
    name_mode: NameMode
    statuses: tuple[str, ...]
    sensitive: frozenset[str]
    parallelism: int | None

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
    return Workspace(
        root=root,
        site=str(site).rstrip("/") if site else None,
        customers=str(config.get("customers", DEFAULT_CUSTOMERS)),
        state_path=root / str(config.get("state", DEFAULT_STATE)),
        name_mode=NameMode(config.get("name_mode", NameMode.AUTO)),
        statuses=tuple(config.get("statuses", DEFAULT_STATUSES)),  # type: ignore[arg-type]
        sensitive=frozenset(config.get("sensitive", ())),  # type: ignore[arg-type]
        parallelism=config.get("parallelism"),  # type: ignore[arg-type]
    )


def _read_config(path: Path) -> dict[str, object]:
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
    for path, message, where in jsonschemas.located_problems(document, document.value, "workspace"):
        key = next((str(p) for p in reversed(path) if isinstance(p, str)), None)
        problems.append(
            Diagnostic(
                Severity.ERROR,
                message,
                CONFIG_FILE,
                where.line if where else None,
                where.column if where else None,
                field=key,
            )
        )
    if problems:
        raise WorkspaceError("\n".join(p.format() for p in problems))
    return document.value or {}  # type: ignore[return-value]
