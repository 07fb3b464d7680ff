"""Shared fixtures: temporary workspaces and a CLI runner."""

import json
import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

from reconciler.main import cli
from reconciler.state import CustomerRecord, StateFile
from reconciler.statefile import serialize
from reconciler.workspace import NameMode

# CI replays the same examples every run (a failure there is reproducible, never luck);
# local runs keep drawing new ones.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LINEAGE = "6f1c1f0e-9a51-4c3e-8d5e-2b7f3b1a9c40"


def observed(customer_id: int, **fields: Any) -> dict[str, Any]:
    """A recorded customer in the server's shape (strings for every column but id)."""
    first = fields.pop("first_name", "Test")
    last = fields.pop("last_name", f"Customer{customer_id}")
    base: dict[str, Any] = {
        "id": customer_id,
        "user_id": "0",
        "contact_id": "0",
        "email": f"customer{customer_id}@example.org",
        "first_name": first,
        "last_name": last,
        "full_name": f"{first} {last}".strip(),
        "status": "active",
        "aov": "0.00",
        "notes": "",
        "country": "",
        "city": "",
        "state": "",
        "postcode": "",
    }
    base.update(fields)
    return base


def make_state(
    customers: list[dict[str, Any]],
    name_mode: NameMode | None = NameMode.FULL_NAME,
    serial: int = 1,
) -> StateFile:
    return StateFile(
        lineage=LINEAGE,
        serial=serial,
        site="http://127.0.0.1:8088",
        name_mode=name_mode,
        customers={c["id"]: CustomerRecord(c, "2026-11-01T00:00:00+00:00", {}) for c in customers},
    )


class Workspace:
    """A workspace in a temporary directory, written from test data."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "customers").mkdir(exist_ok=True)

    def config(self, text: str) -> None:
        (self.root / "fluentcart.yaml").write_text(textwrap.dedent(text))

    def declare(self, name: str, text: str) -> Path:
        path = self.root / "customers" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def declare_bytes(self, name: str, data: bytes) -> Path:
        path = self.root / "customers" / name
        path.write_bytes(data)
        return path

    def state(self, state: StateFile) -> Path:
        path = self.root / "fluentcart.state.json"
        path.write_bytes(serialize(state))
        path.chmod(0o600)
        return path

    def read_state(self) -> dict[str, Any]:
        return json.loads((self.root / "fluentcart.state.json").read_text())


@pytest.fixture(autouse=True)
def private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own parse cache: the cache is exercised, never shared."""
    directory = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("FLUENTCART_CACHE_DIR", str(directory))
    monkeypatch.delenv("FLUENTCART_NO_CACHE", raising=False)
    monkeypatch.delenv("FLUENTCART_WORKERS", raising=False)
    return directory


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


@pytest.fixture
def example_workspace(tmp_path: Path) -> Workspace:
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target)
    return Workspace(target)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the CLI in a workspace directory through click's CliRunner."""
    monkeypatch.delenv("FLUENTCART_URL", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)

    def invoke(root: Path | Workspace, *args: str, input: str | None = None) -> Result:
        directory = root.root if isinstance(root, Workspace) else root
        runner = CliRunner()
        return runner.invoke(
            cli, ["-C", str(directory), *args], input=input, catch_exceptions=False
        )

    return invoke


PASSWORD = "Test App Pass 1234 abcd"


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch):
    """Start in-process sandboxes on loopback; the environment points fluentcart at the last one."""
    from reconciler.sandbox import Sandbox, Store
    from reconciler.sandbox.server import Faults, default_users

    started: list[Sandbox] = []

    def start(
        customers: list[dict[str, Any]] = (),  # type: ignore[assignment]
        name_mode: str = "full_name",
        faults: Faults | None = None,
        users: list | None = None,
    ) -> Sandbox:
        store = Store("http://127.0.0.1", name_mode, users or default_users("admin", PASSWORD))
        server = Sandbox(store, faults=faults)
        for customer in customers:
            store.seed(customer)
        server.start()
        started.append(server)
        monkeypatch.setenv("FLUENTCART_URL", server.url)
        monkeypatch.setenv("FLUENTCART_USERNAME", "admin")
        monkeypatch.setenv("FLUENTCART_APP_PASSWORD", PASSWORD)
        return server

    yield start
    for server in started:
        server.stop()


def seed_customer(customer_id: int, **fields: Any) -> dict[str, Any]:
    """A customer to seed the sandbox with (server shape, every column given)."""
    record = observed(customer_id, **fields)
    record.pop("full_name", None)
    return record


def as_recorded(server: Any, customer_id: int) -> dict[str, Any]:
    """A sandbox customer as fluentcart records it: the list page's shape, its labels as the
    titles of its label rows (the client joins them with GET /labels), its billing and
    shipping addresses as one list."""
    from reconciler.client import ADDRESS_RELATIONS, _addresses
    from reconciler.labels import Catalog, Labels

    store = server.store
    relations = ["labels", *ADDRESS_RELATIONS]
    customer = store.serialize(store.customers[customer_id], relations=relations)
    _addresses(customer)
    catalog = Catalog({row["id"]: row["value"] for row in store.labels()[1]["labels"]})
    rows = customer["labels"]
    customer["labels"] = list(Labels(catalog.title_of(int(r["label_id"])) for r in rows))
    return customer


def recorded_state(
    server: Any, ids: list[int], name_mode: NameMode = NameMode.FULL_NAME
) -> StateFile:
    """A state that recorded these sandbox customers exactly as fluentcart reads them."""
    state = make_state([as_recorded(server, i) for i in ids], name_mode)
    state.site = server.url
    return state


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL 15 for this test session (tests/pg.py), stopped at the end."""
    from tests import pg

    server, base = pg.start()
    yield server
    pg.stop(base)


@pytest.fixture
def postgres(postgres_server, monkeypatch: pytest.MonkeyPatch):
    """The session's PostgreSQL, with its password in PGPASSWORD as libpq reads it."""
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    monkeypatch.delenv("FLUENTCART_STATE", raising=False)
    return postgres_server


@pytest.fixture(params=["file", "postgres"])
def backend(request: pytest.FixtureRequest):
    """Run the test once with each state backend (tests/backends.py): the JSON file, and a
    workspace of its own in the session's PostgreSQL."""
    from tests.backends import FileBackend, PostgresBackend

    if request.param == "file":
        return FileBackend()
    return PostgresBackend(request.getfixturevalue("postgres"))
