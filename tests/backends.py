"""The two state backends as the suites that must pass against both see them.

A suite takes the `backend` fixture (tests/conftest.py), which runs each test once with the
state in a JSON file and once in PostgreSQL (tests/pg.py, a real server). Through it a test
puts a state in place, points the workspace at it, and reads back what is stored, whatever
the backend: the next run's starting point, the lock holder, and what an interrupted run
left pending (the file's journal, the database's intents).
"""

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import jsonschemas
from reconciler.lock import LockInfo, read_lock
from reconciler.state import StateFile, new_state
from reconciler.statefile import serialize
from reconciler.storage import StateStorage
from reconciler.storage.file import FileStorage, fold_journal, journal_path, load_state
from reconciler.storage.postgres import PostgresStorage

if TYPE_CHECKING:
    from reconciler.apply import ApplyResult
    from reconciler.client import FluentCartClient
    from reconciler.declared import DeclaredCustomer
    from reconciler.plan import Plan
    from reconciler.workspace import NameMode

STATE_FILE = "fluentcart.state.json"


def apply_changes(
    storage: StateStorage,
    state: StateFile | None,
    client: "FluentCartClient",
    mode: "NameMode",
    plan: "Plan",
    declared: "Mapping[int, DeclaredCustomer]",
) -> "ApplyResult":
    """The apply command's steps, without its output: lock, recover, one worker recording
    each answer, persist."""
    from reconciler.apply import Applier

    with storage.lock("apply"):
        on_disk, working, _ = storage.recover(state or new_state(client.site, mode))
        recorder = storage.recorder()
        try:
            applier = Applier(
                client, recorder, mode, declared, parallelism=1, new_labels=plan.new_labels
            )
            result = applier.run(list(plan.changes))
        finally:
            recorder.close()
        storage.persist(working, on_disk)
    return result


class FileBackend:
    name = "file"

    def prepare(self, root: Path, state: StateFile | None = None, config: str = "") -> None:
        """Point the workspace at its state (with `config`, more of fluentcart.yaml) and
        store `state` there."""
        root.mkdir(parents=True, exist_ok=True)
        if config:
            (root / "fluentcart.yaml").write_text(config)
        if state is not None:
            path = root / STATE_FILE
            path.write_bytes(serialize(state))
            path.chmod(0o600)

    def env(self) -> dict[str, str]:
        return {}

    def storage(self, root: Path) -> StateStorage:
        return FileStorage(root / STATE_FILE, STATE_FILE)

    def stored(self, root: Path) -> StateFile | None:
        """The state as stored, checked against its schema (never the journal)."""
        path = root / STATE_FILE
        if not path.exists():
            return None
        assert jsonschemas.iter_errors("state", json.loads(path.read_text())) == []
        return load_state(path)

    def next_start(self, root: Path) -> StateFile | None:
        """What the next run starts from: the stored state with the journal folded in."""
        state = self.stored(root)
        if state is not None:
            fold_journal(state, root / STATE_FILE)
        return state

    def holder(self, root: Path) -> LockInfo | None:
        return read_lock(root / STATE_FILE)

    def pending(self, root: Path) -> list[str]:
        """What an interrupted run left to fold or resolve; empty when it ended cleanly."""
        journal = journal_path(root / STATE_FILE)
        return [journal.read_text()] if journal.exists() else []

    def serial(self, root: Path) -> int:
        state = self.stored(root)
        return state.serial if state is not None else 0

    def everything_kept(self, root: Path) -> bytes:
        """Every byte this backend keeps for the workspace (for the secrets test)."""
        return b"".join(
            p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and ".venv" not in p.parts
        )


class PostgresBackend:
    name = "postgres"

    def __init__(self, server: Any) -> None:
        self.server = server
        self.names: dict[Path, str] = {}

    def location(self) -> str:
        return self.server.url()

    def workspace_name(self, root: Path) -> str:
        return self.names.setdefault(root, f"shop-{uuid.uuid4().hex[:10]}")

    def prepare(self, root: Path, state: StateFile | None = None, config: str = "") -> None:
        root.mkdir(parents=True, exist_ok=True)
        (root / "fluentcart.yaml").write_text(
            f"state: {self.location()}\nworkspace: {self.workspace_name(root)}\n{config}"
        )
        if state is not None:
            storage = self.storage(root)
            with storage.lock("test"):
                storage.replace(state)

    def env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.server.password}

    def storage(self, root: Path) -> PostgresStorage:
        return PostgresStorage(self.location(), self.workspace_name(root))

    def stored(self, root: Path) -> StateFile | None:
        return self.storage(root).read()[0]

    def next_start(self, root: Path) -> StateFile | None:
        # Every answer is committed as it arrives: the stored rows are the starting point.
        return self.stored(root)

    def holder(self, root: Path) -> LockInfo | None:
        return self.storage(root).holder()

    def pending(self, root: Path) -> list[str]:
        return [f"intent for customer {i}" for i in self.storage(root).unresolved()]

    def serial(self, root: Path) -> int:
        state = self.stored(root)
        return state.serial if state is not None else 0

    def everything_kept(self, root: Path) -> bytes:
        """Every row of every fluentcart table, as text, and the workspace's files."""
        tables = [
            name
            for (name,) in self.server.sql(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'fluentcart' ORDER BY table_name"
            )
        ]
        rows = [
            str(row)
            for table in tables
            for row in self.server.sql(f"SELECT * FROM fluentcart.{table}")
        ]
        files = FileBackend().everything_kept(root)
        return "\n".join(rows).encode() + files


Backend = FileBackend | PostgresBackend
