"""The state file: what fluentcart last saw of each managed customer.

Only this module reads and writes it. The on-disk form is canonical (sorted keys, customers
in id order, two-space indentation, one trailing newline) so the same content always gives
the same bytes and git diffs stay small.
"""

import contextlib
import hashlib
import json
import os
import re
import stat
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import __version__, jsonschemas
from reconciler.atomicfile import write_atomic
from reconciler.errors import StateError
from reconciler.wordpress import joined_full_name
from reconciler.workspace import NameMode

FORMAT_VERSION = 1


@dataclass
class CustomerRecord:
    observed: dict[str, Any]
    observed_at: str
    last_applied: dict[str, str | int] = field(default_factory=dict)


@dataclass
class StateFile:
    lineage: str
    serial: int
    site: str | None
    name_mode: NameMode | None
    customers: dict[int, CustomerRecord] = field(default_factory=dict)
    tool_version: str = __version__
    sha256: str | None = field(default=None, compare=False)  # of the bytes it was read from

    def content(self) -> dict[str, Any]:
        """The state as written, serial and tool version aside (they do not make a change)."""
        return {
            "lineage": self.lineage,
            "site": self.site,
            "name_mode": str(self.name_mode) if self.name_mode else None,
            "customers": {
                str(cid): {
                    "observed": record.observed,
                    "observed_at": record.observed_at,
                    "last_applied": record.last_applied,
                }
                for cid, record in sorted(self.customers.items())
            },
        }


def new_state(site: str | None, name_mode: NameMode | None) -> StateFile:
    return StateFile(lineage=str(uuid.uuid4()), serial=0, site=site, name_mode=name_mode)


def observed_value(observed: Mapping[str, Any], name: str) -> str | int:
    """A managed field of a recorded customer, in the form declared values are compared in."""
    if name == "user_id":
        raw = observed.get("user_id")
        try:
            return int(raw or 0)
        except (TypeError, ValueError):
            return 0
    if name == "full_name" and not observed.get("full_name"):
        return joined_full_name(
            str(observed.get("first_name") or ""), str(observed.get("last_name") or "")
        )
    value = observed.get(name)
    return "" if value is None else str(value)


def is_linked(observed: Mapping[str, Any]) -> bool:
    """Linked to a WordPress user: FluentCart's loose `user_id != 0` (API.md 10.1 step 7)."""
    return observed_value(observed, "user_id") != 0


# What a plan reads of a recorded customer; `slim` loading keeps only these.
PLAN_FIELDS = frozenset(
    {"id", "user_id", "email", "first_name", "last_name", "full_name", "status", "notes"}
    | {"city", "state", "postcode", "country"}
)


def record_version(record: CustomerRecord) -> str:
    """A recorded customer's version: the sha256 of what a plan reads of it (its managed
    fields as observed, and the values last applied), the same from a full or a slim load.

    It moves whenever an apply, import or refresh records something a plan depends on, and
    not when another customer changes: saved plans are checked customer by customer.
    """
    observed = {key: record.observed[key] for key in sorted(PLAN_FIELDS) if key in record.observed}
    material = {"last_applied": record.last_applied, "observed": observed}
    text = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _slim_customer(obj: dict[str, Any]) -> dict[str, Any]:
    if "id" in obj and "email" in obj and "observed" not in obj:
        return {key: obj[key] for key in PLAN_FIELDS if key in obj}
    return obj


def load_state(path: Path, display: str | None = None, slim: bool = False) -> StateFile | None:
    """The state at `path`, or None when there is none yet; StateError when it is unusable.

    `slim` keeps only the fields a plan reads of each recorded customer, for read-only
    commands on large states (a state is never written from a slim load).
    """
    shown = display or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{shown}: cannot read the state file: {exc.strerror or exc}") from None
    backup = path.with_name(path.name + ".backup")
    hint = f"; the previous version is in {backup.name}" if backup.exists() else ""
    try:
        document = json.loads(data.decode("utf-8"), object_hook=_slim_customer if slim else None)
    except UnicodeDecodeError:
        raise StateError(f"{shown}: the state file is not UTF-8 text{hint}") from None
    except json.JSONDecodeError as exc:
        raise StateError(
            f"{shown}:{exc.lineno}:{exc.colno}: the state file is not valid JSON ({exc.msg}){hint}"
        ) from None
    errors = (
        []
        if jsonschemas.is_valid("state", document)
        else jsonschemas.iter_errors("state", document)
    )
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise StateError(
            f"{shown}: the state file does not match schemas/state.schema.json at {where}:"
            f" {first.message[:200]}"
        )
    mode = document["name_mode"]
    return StateFile(
        lineage=document["lineage"],
        serial=document["serial"],
        site=document["site"],
        name_mode=NameMode(mode) if mode else None,
        tool_version=document["tool_version"],
        customers={
            int(cid): CustomerRecord(r["observed"], r["observed_at"], r["last_applied"])
            for cid, r in document["customers"].items()
        },
        sha256=hashlib.sha256(data).hexdigest(),
    )


def recorded_name_mode(path: Path) -> NameMode | None:
    """The state's name mode, read from its head without loading the customers.

    The canonical form writes the sorted metadata keys before `customers`; anything else
    falls back to a full (slim) load.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(65536).decode("utf-8", "replace")
    except OSError:
        return None
    metadata = head.split('"customers"', 1)[0]
    match = re.search(r'^  "name_mode": (null|"full_name"|"first_last"),?$', metadata, re.MULTILINE)
    if match is None:
        state = load_state(path, slim=True)
        return state.name_mode if state is not None else None
    value = json.loads(match.group(1))
    return NameMode(value) if value else None


def serialize(state: StateFile) -> bytes:
    """The canonical bytes of a state file."""
    document = {
        "format_version": FORMAT_VERSION,
        "serial": state.serial,
        "tool_version": state.tool_version,
        **state.content(),
    }
    customers = document.pop("customers")
    # sort_keys would order ids as text ("10" before "9"); customers are already in id order.
    head = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    body = json.dumps(
        {cid: _sorted(record) for cid, record in customers.items()}, indent=2, ensure_ascii=False
    )
    indented_body = body.replace("\n", "\n  ")
    return (head[:-2] + f',\n  "customers": {indented_body}\n}}\n').encode("utf-8")


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def save_state(path: Path, state: StateFile, previous: StateFile | None) -> bool:
    """Write `state` if its content differs from `previous`; bump the serial when it does.

    Returns whether anything was written.
    """
    if previous is not None and previous.content() == state.content():
        return False
    state.serial = (previous.serial + 1) if previous is not None else max(state.serial, 1)
    state.tool_version = __version__
    data = serialize(state)
    try:
        write_atomic(path, data, backup=True)
    except OSError as exc:
        raise StateError(f"{path}: cannot write the state file: {exc.strerror or exc}") from None
    state.sha256 = hashlib.sha256(data).hexdigest()
    return True


def readable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


def journal_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".journal")


class Journal:
    """Customers recorded during an apply, one fsynced JSON line each, before the state is written.

    A crash leaves at most a torn last line, which is ignored; every complete line is folded
    into the state by the run itself or, after a crash, by the next one.
    """

    def __init__(self, state_path: Path) -> None:
        self.path = journal_path(state_path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._lock = threading.Lock()

    def record(self, customer_id: int, record: CustomerRecord) -> None:
        line = json.dumps(
            {
                "id": customer_id,
                "observed": record.observed,
                "observed_at": record.observed_at,
                "last_applied": record.last_applied,
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        data = ("\n" + line + "\n").encode("utf-8")  # a leading newline ends any torn line
        with self._lock:
            os.write(self._fd, data)
            os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def fold_journal(state: StateFile, state_path: Path) -> int:
    """Apply the journal's complete records to `state` in memory; returns how many."""
    path = journal_path(state_path)
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return 0
    count = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            record = CustomerRecord(entry["observed"], entry["observed_at"], entry["last_applied"])
            customer_id = int(entry["id"])
        except (ValueError, KeyError, TypeError):
            continue  # the torn last line of a crash
        state.customers[customer_id] = record
        count += 1
    return count


def remove_journal(state_path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        journal_path(state_path).unlink()
