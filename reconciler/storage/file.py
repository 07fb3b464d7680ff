"""The file backend: the state as one JSON file in the workspace (the default).

Only this module reads and writes the state file and its companions:
- `<state>`: the state (statefile.py's canonical format), only ever replaced atomically
  (temporary file, fsync, rename, fsync of the directory), mode 0600;
- `<state>.backup`: the previous version, one generation;
- `<state>.journal`: one fsynced JSON line per customer an apply recorded, folded into the
  state at the end of the run, or by the next run after a crash;
- `<state>.lock`: the flock that makes one writer at a time (lock.py).
"""

import contextlib
import copy
import hashlib
import json
import os
import stat
import threading
from pathlib import Path

from reconciler import __version__
from reconciler.atomicfile import write_atomic
from reconciler.errors import StateError
from reconciler.lock import LockInfo, StateLock, force_unlock
from reconciler.state import CustomerRecord, StateFile
from reconciler.statefile import name_mode_in_head, parse, serialize
from reconciler.workspace import NameMode


def journal_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".journal")


def load_state(path: Path, display: str | None = None, slim: bool = False) -> StateFile | None:
    """The state at `path`, or None when there is none yet; StateError when it is unusable."""
    shown = display or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{shown}: cannot read the state file: {exc.strerror or exc}") from None
    backup = path.with_name(path.name + ".backup")
    hint = f"; the previous version is in {backup.name}" if backup.exists() else ""
    return parse(data, shown, hint, slim)


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

    def intend(self, customer_id: int) -> None:
        """Nothing to write: after a crash, the next apply compares each planned customer's
        live values with the declared ones, so a PUT whose answer was lost is seen as done."""

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


class FileStorage:
    """The StateStorage of a state file (see storage/__init__.py for what each step means)."""

    def __init__(self, path: Path, display: str) -> None:
        self.path = path
        self.display = display
        self.pending_location = journal_path(path).name

    def read(self, slim: bool = False) -> tuple[StateFile | None, int]:
        state = load_state(self.path, self.display, slim)
        pending = fold_journal(state, self.path) if state is not None else 0
        return state, pending

    def recorded_name_mode(self) -> NameMode | None:
        try:
            with self.path.open("rb") as handle:
                head = handle.read(65536).decode("utf-8", "replace")
        except OSError:
            return None
        found, mode = name_mode_in_head(head)
        if found:
            return mode
        state = load_state(self.path, self.display, slim=True)
        return state.name_mode if state is not None else None

    def warnings(self) -> list[str]:
        if self.path.exists() and readable_by_others(self.path):
            return [
                f"{self.display} is readable by other users; it holds customer data (chmod 600"
                " it; fluentcart writes it 0600)"
            ]
        return []

    def lock(self, operation: str, timeout: float = 0.0) -> StateLock:
        return StateLock(self.path, operation, timeout)

    def force_unlock(self, lock_id: str) -> LockInfo:
        return force_unlock(self.path, lock_id)

    def recover(self, fresh: StateFile) -> tuple[StateFile | None, StateFile, int]:
        on_disk = load_state(self.path, self.display)
        working = copy.deepcopy(on_disk) if on_disk is not None else fresh
        folded = fold_journal(working, self.path)
        if folded:
            save_state(self.path, working, on_disk)
            remove_journal(self.path)
            on_disk = copy.deepcopy(working)
        return on_disk, working, folded

    def unresolved(self) -> list[int]:
        return []  # the file backend keeps no intents (see Journal.intend)

    def clear_unresolved(self, customer_ids: list[int]) -> None:
        return

    def recorder(self) -> Journal:
        return Journal(self.path)

    def persist(self, state: StateFile, previous: StateFile | None) -> bool:
        fold_journal(state, self.path)
        wrote = save_state(self.path, state, previous)
        remove_journal(self.path)
        return wrote
