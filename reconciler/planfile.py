"""Saved plans (`plan -out FILE`): the plan plus what it was based on, to refuse stale ones.

A plan pins each customer it will update: the version of its record in the state and the
declared file it comes from. `apply FILE` goes ahead as long as none of those moved, whatever
else was applied in between, so two reviewed plans for different customers both apply.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler import __version__, jsonschemas
from reconciler.atomicfile import write_atomic
from reconciler.customer import observed_value
from reconciler.declared import DeclaredCustomer
from reconciler.errors import PlanFileError
from reconciler.plan import Action, CustomerChange, Plan
from reconciler.state import CustomerRecord, StateFile, record_version
from reconciler.workspace import NameMode

KIND = "fluentcart-saved-plan"
FORMAT_VERSION = 2


@dataclass(frozen=True)
class BaseState:
    lineage: str
    serial: int
    sha256: str


@dataclass(frozen=True)
class Pin:
    """What one customer's planned update was made from."""

    version: str | None  # record_version of its record; None when the state did not hold it
    file: str  # the declared file it comes from


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    site: str | None
    name_mode: NameMode | None
    state_file: str
    base_state: BaseState | None
    declared_files: dict[str, str]
    targets: tuple[int, ...] = ()
    # Empty in plans saved before format 2, which are checked against the whole state.
    pins: dict[int, Pin] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    tool_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        base = self.base_state
        return {
            "format_version": FORMAT_VERSION,
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
            "customers": {
                str(cid): {"version": pin.version, "file": pin.file}
                for cid, pin in sorted(self.pins.items())
            },
            "plan": self.plan.to_dict(),
        }


def pins_of(
    plan: Plan, state: StateFile | None, declared: Mapping[int, DeclaredCustomer]
) -> dict[int, Pin]:
    """The pin of every customer the plan updates."""
    pins = {}
    for change in plan.changes:
        if change.action is not Action.UPDATE:
            continue
        record = state.customers.get(change.id) if state is not None else None
        version = record_version(record) if record is not None else None
        pins[change.id] = Pin(version, declared[change.id].file)
    return pins


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
        pins={
            int(cid): Pin(pin["version"], pin["file"])
            for cid, pin in document.get("customers", {}).items()
        },
        created_at=document["created_at"],
        tool_version=document["tool_version"],
    )


def stale_reasons(
    saved: SavedPlan,
    state: StateFile | None,
    file_hashes: Mapping[str, str],
    declared: Mapping[int, DeclaredCustomer],
    site: str,
    mode: NameMode,
) -> list[str]:
    """Why the saved plan may no longer be applied as it was reviewed; empty when it may.

    With pins (format 2), only what the plan's own customers depend on counts: their records
    and the files that declare them. A pinned customer whose record moved only because it
    already holds the planned values (an interrupted apply of this plan) does not count, so
    an interrupted plan can be applied again to finish. Plans saved before pins existed are
    checked against the whole state and every declared file.
    """
    problems = _state_reasons(saved, state) if not saved.pins else _lineage_reasons(saved, state)
    if saved.pins:
        problems += _pin_reasons(saved, state, file_hashes, declared)
    else:
        problems += _file_reasons(
            saved.declared_files, file_hashes, sorted(set(saved.declared_files) | set(file_hashes))
        )
    if saved.site != site:
        problems.append(f"the plan was made for {saved.site}, the site is now {site}")
    if saved.name_mode is not None and saved.name_mode != mode:
        problems.append(
            f"the plan was made in {saved.name_mode} mode, the store is now in {mode} mode"
        )
    return problems


def _lineage_reasons(saved: SavedPlan, state: StateFile | None) -> list[str]:
    base = saved.base_state
    if base is not None and state is None:
        return ["the plan was made from a state that no longer exists"]
    if base is not None and state is not None and base.lineage != state.lineage:
        return [
            f"the state's lineage is {state.lineage}, the plan's {base.lineage} (another state file)"
        ]
    return []


def _state_reasons(saved: SavedPlan, state: StateFile | None) -> list[str]:
    base = saved.base_state
    if base is None and state is not None:
        return ["the plan was made without a state, and there is one now"]
    problems = _lineage_reasons(saved, state)
    if problems or base is None or state is None:
        return problems
    if base.serial != state.serial:
        return [
            f"the state's serial is {state.serial}, the plan's {base.serial} (it was written since)"
        ]
    if base.sha256 != state.sha256:
        return ["the state file's content changed since the plan"]
    return []


def _pin_reasons(
    saved: SavedPlan,
    state: StateFile | None,
    file_hashes: Mapping[str, str],
    declared: Mapping[int, DeclaredCustomer],
) -> list[str]:
    changes = {c.id: c for c in saved.plan.changes}
    problems = []
    for customer_id, pin in sorted(saved.pins.items()):
        record = state.customers.get(customer_id) if state is not None else None
        version = record_version(record) if record is not None else None
        now = declared.get(customer_id)
        if version != pin.version and not _applied_by_this_plan(record, changes[customer_id], now):
            problems.append(
                f"customer {customer_id} was recorded again since the plan (another apply, import"
                " or refresh changed what the plan started from)"
            )
        if now is None:
            problems.append(f"customer {customer_id} is no longer declared")
        elif now.file != pin.file:
            problems.append(f"customer {customer_id} moved from {pin.file} to {now.file}")
    files = sorted({pin.file for pin in saved.pins.values()})
    problems += _file_reasons(saved.declared_files, file_hashes, files)
    for change in saved.plan.changes:
        if change.action is Action.FORGET and change.id in declared:
            problems.append(
                f"customer {change.id} is declared again ({declared[change.id].source}); the plan"
                " would stop managing it"
            )
    return problems


def _applied_by_this_plan(
    record: CustomerRecord | None, change: CustomerChange, declared: DeclaredCustomer | None
) -> bool:
    """Whether the record is what applying this very plan leaves (an interrupted apply of
    it): every value the change sets, and exactly the declared fields (unchanged since the
    plan, as its pinned file is) as the values last applied. Another plan that set the same
    changed fields but other declared ones does not count."""
    if record is None or declared is None or not change.fields:
        return False
    if dict(record.last_applied) != dict(declared.fields):
        return False
    return all(observed_value(record.observed, f.name) == f.after for f in change.fields)


def _file_reasons(
    planned: Mapping[str, str], current: Mapping[str, str], names: list[str]
) -> list[str]:
    problems = []
    for name in names:
        if planned.get(name) != current.get(name):
            what = (
                "is new" if name not in planned else "is gone" if name not in current else "changed"
            )
            problems.append(f"{name} {what} since the plan")
    return problems
