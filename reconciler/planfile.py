"""Saved plans (`plan -out FILE`): the plan plus what it was based on, to refuse stale ones."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler import __version__, jsonschemas
from reconciler.atomicfile import write_atomic
from reconciler.errors import PlanFileError
from reconciler.plan import Plan
from reconciler.state import StateFile
from reconciler.workspace import NameMode

KIND = "fluentcart-saved-plan"


@dataclass(frozen=True)
class BaseState:
    lineage: str
    serial: int
    sha256: str


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    site: str | None
    name_mode: NameMode | None
    state_file: str
    base_state: BaseState | None
    declared_files: dict[str, str]
    targets: tuple[int, ...] = ()
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    tool_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        base = self.base_state
        return {
            "format_version": 1,
            "kind": KIND,
            "created_at": self.created_at,
            "tool_version": self.tool_version,
            "site": self.site,
            "name_mode": str(self.name_mode) if self.name_mode else None,
            "state_file": self.state_file,
            "base_state": None
            if base is None
            else {"lineage": base.lineage, "serial": base.serial, "sha256": base.sha256},
            "declared_files": dict(sorted(self.declared_files.items())),
            "targets": sorted(self.targets),
            "plan": self.plan.to_dict(),
        }


def base_of(state: StateFile | None) -> BaseState | None:
    if state is None or state.sha256 is None:
        return None
    return BaseState(state.lineage, state.serial, state.sha256)


def save_plan(path: Path, saved: SavedPlan) -> None:
    """Write a saved plan with mode 0600: it holds customer data."""
    data = json.dumps(saved.to_dict(), indent=2, ensure_ascii=False) + "\n"
    try:
        write_atomic(path, data.encode("utf-8"))
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot write the plan file: {exc.strerror or exc}") from None


def load_plan(path: Path) -> SavedPlan:
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such plan file") from None
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read the plan file: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PlanFileError(f"{path}: not a fluentcart plan file (not JSON)") from None
    for name, instance in (
        ("saved-plan", document),
        ("plan", (document or {}).get("plan") if isinstance(document, dict) else None),
    ):
        errors = jsonschemas.iter_errors(name, instance)
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
            raise PlanFileError(
                f"{path}: not a valid fluentcart plan file ({name} schema, at {where}: "
                f"{errors[0].message[:200]})"
            )
    base = document["base_state"]
    mode = document["name_mode"]
    return SavedPlan(
        plan=Plan.from_dict(document["plan"]),
        site=document["site"],
        name_mode=NameMode(mode) if mode else None,
        state_file=document["state_file"],
        base_state=BaseState(base["lineage"], base["serial"], base["sha256"]) if base else None,
        declared_files=document["declared_files"],
        targets=tuple(document["targets"]),
        created_at=document["created_at"],
        tool_version=document["tool_version"],
    )
