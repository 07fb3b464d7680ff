"""The hostile-input corpus (tests/data/bad/): every case fails cleanly and sends nothing.

Each case runs a real `fluentcart apply --auto-approve` in a subprocess, under a memory limit
and a time limit, against a sandbox that counts requests. Each must exit 1 with a message
naming the file and line, never a traceback, and send zero requests.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox, Store
from reconciler.sandbox.server import default_users
from tests.conftest import PASSWORD

CORPUS = Path(__file__).parent / "data" / "bad"
MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())
MEMORY_LIMIT = 2 * 1024**3
TIME_LIMIT = 30


def test_the_corpus_is_large_enough() -> None:
    files = [p for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.json"]
    assert len(files) >= 60
    assert len(MANIFEST) >= 60


@pytest.fixture(scope="module")
def counting_sandbox():
    with Sandbox(Store("http://127.0.0.1", users=default_users("admin", PASSWORD))) as sandbox:
        yield sandbox


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_apply(workspace: Path, sandbox: Sandbox) -> tuple[subprocess.CompletedProcess, float]:
    env = {
        **os.environ,
        "FLUENTCART_URL": sandbox.url,
        "FLUENTCART_USERNAME": "admin",
        "FLUENTCART_APP_PASSWORD": PASSWORD,
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "-C", str(workspace), "apply", "--auto-approve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT * 2,
        preexec_fn=_limit_memory,
        check=False,
    )
    return result, time.monotonic() - started


def check_rejected(workspace: Path, sandbox: Sandbox, file: str, line: int, message: str) -> str:
    before = sandbox.count()
    result, elapsed = run_apply(workspace, sandbox)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    assert "Traceback" not in output and "internal error" not in output, output[-2000:]
    located = [row for row in output.splitlines() if row.startswith(f"customers/{file}:{line}:")]
    assert located, output[-2000:]
    assert any(message in row for row in located), output[-2000:]
    assert sandbox.count() == before, "a request was sent for bad input"
    assert elapsed < TIME_LIMIT
    assert not (workspace / "PWNED").exists()  # no YAML tag ever ran anything
    return output


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_bad_case(tmp_path: Path, counting_sandbox: Sandbox, name: str) -> None:
    case = MANIFEST[name]
    workspace = tmp_path / "ws"
    customers = workspace / "customers"
    source = CORPUS / name
    if source.is_dir():
        shutil.copytree(source, customers / name)
    else:
        customers.mkdir(parents=True)
        shutil.copy(CORPUS / case["file"], customers / case["file"])
    check_rejected(workspace, counting_sandbox, case["file"], case["line"], case["message"])


def test_a_50_mb_file(tmp_path: Path, counting_sandbox: Sandbox) -> None:
    customers = tmp_path / "ws" / "customers"
    customers.mkdir(parents=True)
    big = customers / "big.yaml"
    with big.open("w") as handle:
        handle.write("id: 1\nnotes: ")
        handle.write("x" * (50 * 1024 * 1024))
        handle.write("\nemail: not-an-email\n")
    assert big.stat().st_size > 50 * 1024 * 1024
    check_rejected(tmp_path / "ws", counting_sandbox, "big.yaml", 3, "is not a valid email address")
