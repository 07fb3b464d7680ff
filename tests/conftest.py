"""Shared fixtures: temporary workspaces and a CLI runner."""

import json
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler.main import cli
from reconciler.state import CustomerRecord, StateFile, serialize
from reconciler.workspace import NameMode

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

    def invoke(root: Path | Workspace, *args: str) -> Result:
        directory = root.root if isinstance(root, Workspace) else root
        runner = CliRunner()
        result = runner.invoke(cli, ["-C", str(directory), *args], catch_exceptions=False)
        return result

    return invoke
