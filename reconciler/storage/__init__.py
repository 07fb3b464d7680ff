"""Where a workspace's state is kept, behind one interface (Terraform's statemgr).

Commands ask `open_storage(workspace)` for their state and never see where it lives. Each
backend is a module of this package: the file backend (`file.py`), the default, and
PostgreSQL (`postgres.py`) for state that a team shares.

What a command needs from state, step by step:
- `read(slim)`: a consistent snapshot, with what an interrupted run recorded but never
  folded in (and how many such records), without taking the lock. `plan` and `validate`
  read this way.
- `recorded_name_mode()`: the name mode the state recorded, cheaply.
- `lock(operation, timeout)`: one writer at a time; a context manager whose `took_over`
  names a dead holder's lock it released. `force_unlock(lock_id, force, confirm)` for a
  holder that cannot: refused for a holder running on this machine unless `force`, and
  only once `confirm(holder)` agrees (lock.check_release).
- `recover(fresh)`: with the lock held, fold an interrupted run's records into the stored
  state for good; returns (the state as stored, a working copy, how many were folded).
- `unresolved()`: customers whose PUT an interrupted run sent without recording the answer
  (its intent is left); the command reads them from the store again, and
  `resolve(records, ids)` records what it read and clears those intents in one step.
- `recorder(workers)`: where an apply's `workers` threads record the intent before each
  PUT (`intend(id)`, which may cost nothing when `intend_ahead(ids)` recorded the intents
  of a batch in one step) and each customer's answer, the moment it arrives
  (`record(id, record)`: a journal line written, fsynced in the background, or a row's
  statement sent to the database, its commit confirmed at the worker's next record; a
  failure is raised there or by `close`; `release(id)` when the store refused the PUT, so
  nothing is left to resolve), then `close()`, which clears the intents of customers that
  got no PUT.
- `persist(state, previous)`: write the run's state once at the end (with everything the
  recorder took), moving the serial only when the content changed; returns whether it wrote.
- `replace(state)`: make the stored state exactly `state`, lineage and serial included
  (`state push`, `state migrate`), with the lock held.
- `history(id)`: every recorded version of a customer, oldest first (only the current one
  where `keeps_history` is false); `purge(ids)`: erase what is kept of removed customers.
"""

from collections.abc import Callable
from typing import Protocol

from reconciler.lock import LockInfo
from reconciler.state import CustomerRecord, RecordVersion, StateFile
from reconciler.storage.file import FileStorage
from reconciler.storage.postgres import PostgresStorage, is_postgres
from reconciler.workspace import NameMode, Workspace


class Lock(Protocol):
    took_over: LockInfo | None

    def __enter__(self) -> "Lock": ...

    def __exit__(self, *exc: object) -> None: ...


class Recorder(Protocol):
    def intend_ahead(self, customer_ids: list[int]) -> None: ...

    def intend(self, customer_id: int) -> None: ...

    def record(self, customer_id: int, record: CustomerRecord) -> None: ...

    def release(self, customer_id: int) -> None: ...

    def close(self) -> None: ...


class StateStorage(Protocol):
    display: str  # how messages name it
    pending_location: str  # where an interrupted run's records wait, for messages

    def read(self, slim: bool = False) -> tuple[StateFile | None, int]: ...

    def recorded_name_mode(self) -> NameMode | None: ...

    def warnings(self) -> list[str]: ...

    def lock(self, operation: str, timeout: float = 0.0) -> Lock: ...

    def force_unlock(
        self,
        lock_id: str,
        force: bool = False,
        confirm: Callable[[LockInfo], bool] = ...,
    ) -> LockInfo: ...

    def recover(self, fresh: StateFile) -> tuple[StateFile | None, StateFile, int]: ...

    def unresolved(self) -> list[int]: ...

    def resolve(self, records: dict[int, CustomerRecord], customer_ids: list[int]) -> None: ...

    def recorder(self, workers: int = 1) -> Recorder: ...

    def persist(self, state: StateFile, previous: StateFile | None) -> bool: ...

    def replace(self, state: StateFile) -> None: ...

    keeps_history: bool  # whether earlier versions of a record are kept

    def history(self, customer_id: int) -> list[RecordVersion]: ...

    def purge(self, customer_ids: list[int]) -> None: ...


def open_storage(workspace: Workspace) -> StateStorage:
    """The storage of the workspace's state (`state` in fluentcart.yaml, or FLUENTCART_STATE)."""
    return storage_at(workspace, workspace.state, workspace.state_workspace)


def storage_at(workspace: Workspace, location: str, name: str) -> StateStorage:
    """The storage at `location`: a file relative to the workspace, or a database URL (with
    `name`, the workspace's name in it)."""
    if is_postgres(location):
        return PostgresStorage(location, name)
    path = workspace.root / location
    return FileStorage(path, workspace.display(path))
