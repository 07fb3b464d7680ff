"""Secret hygiene, file permissions and concurrent applies.

Every command runs with a recognisable application password; its output, and every file
the workspace ends up with, is searched for the password, its spaceless form and its Basic
token. Including --debug, errors, and an error page that echoes the request headers.
"""

import base64
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.sandbox.server import Faults
from tests.backends import Backend
from tests.conftest import PASSWORD, Workspace, recorded_state, seed_customer

SECRET = "Zq9 Xr4T W8pL m2Vn K7sD b3Hy"
FORMS = [SECRET, SECRET.replace(" ", ""), base64.b64encode(f"admin:{SECRET}".encode()).decode()]


def fluentcart(
    root: Path, env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "--debug", "-C", str(root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_clean(text: str | bytes, where: str, others: tuple[str, ...] = ()) -> None:
    data = text.encode() if isinstance(text, str) else text
    for form in (*FORMS, *others):
        assert form.encode() not in data, f"a password leaked into {where}"


def test_no_command_leaks_the_password(
    workspace: Workspace, sandbox, monkeypatch, backend: Backend
) -> None:
    """Neither the store's password nor the state database's (PGPASSWORD) reaches any output,
    any file of the workspace, or any row the backend keeps."""
    from reconciler.sandbox.server import default_users

    server = sandbox(
        [seed_customer(i, city="Lyon") for i in (1, 2, 3)], users=default_users("admin", SECRET)
    )
    monkeypatch.setenv("FLUENTCART_APP_PASSWORD", SECRET)
    backend.prepare(workspace.root)
    env = {**os.environ, **backend.env()}
    database_password = tuple(backend.env().values())
    root = workspace.root
    workspace.declare(
        "a.yaml", "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n    city: Oslo\n"
    )
    runs = [
        ("validate",),
        ("import",),
        ("plan",),
        ("plan", "--refresh", "--format", "json"),
        ("plan", "--refresh", "--format", "markdown"),
        ("plan", "-out", "saved.plan"),
        ("show", "saved.plan"),
        ("apply", "saved.plan"),
        ("refresh",),
        ("state", "list"),
        ("state", "show", "1"),
        ("state", "history", "1"),
        ("state", "pull"),
        ("import", "--all", "--generate-yaml", "generated"),
        ("apply", "--auto-approve", "--rest-route"),
    ]
    outputs = [fluentcart(root, env, *args) for args in runs]
    # Failures: a wrong password (401), a store that is down, a customer that is gone.
    bad = {**env, "FLUENTCART_APP_PASSWORD": SECRET + "x"}
    outputs.append(fluentcart(root, bad, "apply", "--auto-approve"))
    workspace.declare(
        "a.yaml", "customers:\n  - id: 1\n    city: Rome\n  - id: 2\n    city: Oslo\n"
    )
    del server.store.customers[2]
    outputs.append(fluentcart(root, env, "apply", "--refresh", "--auto-approve"))
    outputs.append(
        fluentcart(
            root,
            {**env, "FLUENTCART_URL": "http://127.0.0.1:9"},
            "plan",
            "--refresh",
            "--retries",
            "0",
        )
    )
    outputs.append(
        fluentcart(
            root, {**env, "FLUENTCART_URL": "http://shop.invalid"}, "apply", "--auto-approve"
        )
    )
    assert any("HTTP 401" in o.stderr + o.stdout for o in outputs)
    assert any("debug: fluentcart.http: GET" in o.stderr for o in outputs)  # --debug really logged
    for result in outputs:
        assert "Traceback" not in result.stderr, result.stderr
        assert_clean(result.stdout, f"stdout of {result.args[4:]}", database_password)
        assert_clean(result.stderr, f"stderr of {result.args[4:]}", database_password)
    for path in root.rglob("*"):
        if path.is_file():
            assert_clean(path.read_bytes(), str(path), database_password)
    kept = backend.everything_kept(root)
    assert b"Rome" in kept  # the rows searched are the ones this run wrote
    assert_clean(kept, f"what the {backend.name} backend keeps", database_password)


def test_an_internal_error_does_not_leak_it(monkeypatch, capsys) -> None:
    """A bug's message is printed without a traceback, and without the credentials."""
    from reconciler import main as entry
    from reconciler.commands import validate

    monkeypatch.setenv("FLUENTCART_APP_PASSWORD", SECRET)
    monkeypatch.delenv("FLUENTCART_DEBUG", raising=False)

    def broken(paths):
        raise RuntimeError(f"boom with {SECRET} and {SECRET.replace(' ', '')}")

    monkeypatch.setattr(validate, "run", broken)
    monkeypatch.setattr(sys, "argv", ["fluentcart", "validate"])
    with pytest.raises(SystemExit) as info:
        entry.main()
    assert info.value.code == 70
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom with <redacted>" in err
    assert "Traceback" not in err
    assert_clean(err, "an internal error")


def test_site_url_with_credentials_is_refused_before_it_is_shown() -> None:
    from reconciler.client import ConfigurationError, check_site

    for site in ("ftp://admin:hunter2@shop.example.com", "https://admin:hunter2@shop.example.com"):
        with pytest.raises(ConfigurationError) as info:
            check_site(site, insecure_http=False)
        assert "hunter2" not in str(info.value)


def test_private_files_are_0600(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(i, city="Lyon") for i in (1, 2)], faults=Faults(latency_ms=200))
    workspace.declare(
        "a.yaml", "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n    city: Oslo\n"
    )
    workspace.state(recorded_state(server, [1, 2]))
    (workspace.root / "fluentcart.state.json").chmod(0o644)
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    assert run(workspace, "apply", "p.plan").exit_code == 0
    root = workspace.root
    for name in ("fluentcart.state.json", "fluentcart.state.json.backup", "p.plan"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name
    # The lock and the journal exist only during a run: look at them from inside one.
    env = dict(os.environ)
    workspace.declare(
        "a.yaml", "customers:\n  - id: 1\n    city: Rome\n  - id: 2\n    city: Bern\n"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "-C",
            str(root),
            "apply",
            "--auto-approve",
            "--parallelism",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    journal = root / "fluentcart.state.json.journal"
    lock = root / "fluentcart.state.json.lock"
    deadline = time.monotonic() + 20
    while not journal.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (journal, lock) if p.exists()}
    assert process.wait(timeout=30) == 0
    assert modes == {journal.name: 0o600, lock.name: 0o600}


def test_two_applies_at_the_same_moment(workspace: Workspace, sandbox, backend: Backend) -> None:
    server = sandbox(
        [seed_customer(i, city="Lyon") for i in range(1, 11)], faults=Faults(latency_ms=50)
    )
    workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 11))
    )
    backend.prepare(workspace.root, recorded_state(server, list(range(1, 11))))
    serial = backend.serial(workspace.root)
    env = dict(os.environ)
    command = [
        sys.executable,
        "-m",
        "reconciler",
        "-C",
        str(workspace.root),
        "apply",
        "--auto-approve",
    ]
    first = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    second = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    results = [(*p.communicate(timeout=60), p.returncode) for p in (first, second)]
    codes = sorted(code for _, _, code in results)
    assert codes == [0, 1], results
    loser = next(err for _, err, code in results if code == 1)
    assert "the state is locked" in loser and "for 'apply'" in loser
    assert backend.serial(workspace.root) == serial + 1  # written once
    assert server.count("PUT") == 10


def test_lock_timeout_waits_for_the_other_apply(
    workspace: Workspace, sandbox, backend: Backend
) -> None:
    server = sandbox(
        [seed_customer(i, city="Lyon") for i in range(1, 6)], faults=Faults(latency_ms=100)
    )
    workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 6))
    )
    backend.prepare(workspace.root, recorded_state(server, list(range(1, 6))))
    env = dict(os.environ)
    command = [
        sys.executable,
        "-m",
        "reconciler",
        "-C",
        str(workspace.root),
        "apply",
        "--auto-approve",
        "--lock-timeout",
        "30",
    ]
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [(*p.communicate(timeout=90), p.returncode) for p in processes]
    assert [code for _, _, code in results] == [0, 0], results
    assert any("Apply complete: 5 changed" in out for out, _, _ in results)
    assert any("No changes" in out for out, _, _ in results), results  # the second waited
    assert server.count("PUT") == 5


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_state_readable_by_others_warns(workspace: Workspace, run, mode: int) -> None:
    workspace.declare("a.yaml", "id: 1\n")
    from tests.conftest import make_state, observed

    path = workspace.state(make_state([observed(1)]))
    path.chmod(mode)
    assert "is readable by other users" in run(workspace, "plan").stderr


def test_credentials_are_only_read_from_the_environment(
    workspace: Workspace, run, monkeypatch
) -> None:
    workspace.config("site: https://admin:hunter2@shop.example.com\n")
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    monkeypatch.setenv("FLUENTCART_USERNAME", "admin")
    monkeypatch.setenv("FLUENTCART_APP_PASSWORD", PASSWORD)
    result = run(workspace, "import")
    assert result.exit_code == 1
    assert "must not carry credentials" in result.stderr
    assert "hunter2" not in result.output
