"""The PostgreSQL state backend against a real PostgreSQL 15 (tests/pg.py): the main job,
per-customer rows and history, credentials, locking between processes and workspaces, a
database session killed mid-apply, and a schema newer than the tool. (The crash, fault,
lock, secrets and convergence suites run against this backend too: tests/backends.py.)"""

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox, Store
from reconciler.sandbox.server import Faults, default_users
from reconciler.storage.postgres import SCHEMA_VERSION, PostgresStorage
from tests.conftest import PASSWORD, Workspace, seed_customer
from tests.test_crash import fluentcart


def pg_workspace(
    workspace: Workspace, server, name: str | None = None, database: str = "postgres"
) -> str:
    """Point the workspace at the session's database; returns its workspace name there."""
    name = name or f"shop-{uuid.uuid4().hex[:8]}"
    workspace.config(f"state: {server.url(database)}\nworkspace: {name}\n")
    return name


def rows(server, sql: str, *args: object) -> list[tuple]:
    import psycopg

    with psycopg.connect(server.url(), password=server.password) as connection:
        return connection.execute(sql, args).fetchall()


def test_import_plan_apply_plan(workspace: Workspace, run, sandbox, postgres) -> None:
    store = sandbox([seed_customer(i, city="Lyon") for i in (1, 2, 3)])
    name = pg_workspace(workspace, postgres)
    workspace.declare("a.yaml", "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n  - id: 3\n")
    assert run(workspace, "import").exit_code == 0
    plan = run(workspace, "plan", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    assert '~ city = "Lyon" -> "Paris"' in plan.stdout
    applied = run(workspace, "apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert store.store.customers[1]["city"] == "Paris"
    assert run(workspace, "plan", "--detailed-exitcode").exit_code == 0
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0

    assert not (workspace.root / "fluentcart.state.json").exists()
    ((workspace_id, serial),) = rows(
        postgres, "SELECT id, serial FROM fluentcart.workspace WHERE name = %s", name
    )
    assert serial == 2  # import, then apply: once per run
    customers = dict(
        rows(
            postgres,
            "SELECT customer_id, version FROM fluentcart.customer WHERE workspace_id = %s",
            workspace_id,
        )
    )
    assert customers == {1: 2, 2: 1, 3: 1}
    history = rows(
        postgres,
        "SELECT version, op, observed->>'city' FROM fluentcart.customer_version"
        " WHERE workspace_id = %s AND customer_id = 1 ORDER BY version",
        workspace_id,
    )
    assert history == [(1, "record", "Lyon"), (2, "apply", "Paris")]
    runs = rows(
        postgres,
        "SELECT kind, status FROM fluentcart.run WHERE workspace_id = %s ORDER BY id",
        workspace_id,
    )
    assert runs == [("import", "done"), ("apply", "done")]
    assert rows(postgres, "SELECT count(*) FROM fluentcart.pending_op") == [(0,)]
    listing = run(workspace, "state", "list")
    assert listing.exit_code == 0 and f"(workspace {name})" in listing.stdout


def test_workspaces_in_one_database_are_apart(
    workspace: Workspace, run, sandbox, postgres, tmp_path: Path
) -> None:
    sandbox([seed_customer(1, city="Lyon")])
    pg_workspace(workspace, postgres, "staging")
    workspace.declare("a.yaml", "id: 1\n")
    assert run(workspace, "import").exit_code == 0
    (tmp_path / "other").mkdir()
    other = Workspace(tmp_path / "other")
    pg_workspace(other, postgres, "production")
    other.declare("a.yaml", "id: 1\n")
    result = run(other, "plan")
    assert result.exit_code == 0
    assert "not in state" in result.stdout  # production has recorded nothing yet


def test_a_password_in_fluentcart_yaml_is_refused(workspace: Workspace, run, postgres) -> None:
    workspace.config(
        f"state: postgresql://fluentcart:{postgres.password}@127.0.0.1:{postgres.port}/postgres\nworkspace: x\n"
    )
    workspace.declare("a.yaml", "id: 1\n")
    result = run(workspace, "plan")
    assert result.exit_code == 1
    assert "PGPASSWORD" in result.output
    assert postgres.password not in result.output


def test_credentials_never_leave_the_environment(
    workspace: Workspace, run, sandbox, postgres, monkeypatch
) -> None:
    """A URL with a password in FLUENTCART_STATE works, and neither output, the run rows nor
    the recorded customers carry it."""
    sandbox([seed_customer(1, city="Lyon")])
    monkeypatch.delenv("PGPASSWORD")
    secret_url = postgres.url().replace("fluentcart@", f"fluentcart:{postgres.password}@")
    monkeypatch.setenv("FLUENTCART_STATE", secret_url)
    workspace.config("workspace: secret-test\n")
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    outputs = [
        run(workspace, *args)
        for args in (("import",), ("apply", "--auto-approve"), ("state", "list"))
    ]
    assert all(r.exit_code == 0 for r in outputs), [r.output for r in outputs]
    for result in outputs:
        assert postgres.password not in result.output
    dumped = rows(
        postgres,
        "SELECT r.holder::text, c.observed::text FROM fluentcart.run r, fluentcart.customer c"
        " WHERE r.workspace_id = c.workspace_id",
    )
    assert dumped and all(postgres.password not in cell for row in dumped for cell in row)
    assert PASSWORD not in json.dumps(dumped)


def test_an_unreachable_database_stops_before_the_store(workspace: Workspace, run, sandbox) -> None:
    store = sandbox([seed_customer(1)])
    workspace.config("state: postgresql://fluentcart@127.0.0.1:1/postgres\nworkspace: x\n")
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    for args in (
        ("plan",),
        ("plan", "--refresh"),
        ("apply", "--auto-approve"),
        ("import",),
        ("refresh",),
    ):
        result = run(workspace, *args)
        assert result.exit_code == 1, result.output
        assert (
            "cannot connect to the state database postgresql://fluentcart@127.0.0.1:1/postgres"
            in result.output
        )
        assert "Traceback" not in result.output
    # validate needs no state: it checks the files, and says the state was not read
    checked = run(workspace, "validate")
    assert checked.exit_code == 0 and "cannot connect to the state database" in checked.stderr
    assert store.count() == 0  # not one request to the store


def test_a_schema_newer_than_the_tool_is_refused(workspace: Workspace, run, postgres) -> None:
    database = postgres.new_database()
    pg_workspace(workspace, postgres, "w", database)
    workspace.declare("a.yaml", "id: 1\n")
    assert run(workspace, "plan").exit_code == 0  # creates the schema
    postgres.sql("INSERT INTO fluentcart.schema_migrations (version) VALUES (99)", database)
    result = run(workspace, "plan")
    assert result.exit_code == 1
    assert f"has schema version 99, newer than this fluentcart's {SCHEMA_VERSION}" in result.output


def test_one_apply_at_a_time_per_workspace(
    workspace: Workspace, run, sandbox, postgres, tmp_path: Path
) -> None:
    server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
    name = pg_workspace(workspace, postgres)
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    assert run(workspace, "import").exit_code == 0
    storage = PostgresStorage(postgres.url(), name)
    with storage.lock("apply by a colleague") as held:
        refused = run(workspace, "apply", "--auto-approve")
        assert refused.exit_code == 1
        assert "the state is locked" in refused.stderr
        assert "for 'apply by a colleague'" in refused.stderr
        assert held.info is not None and held.info.id in refused.stderr
        # Another workspace in the same database is not blocked.
        (tmp_path / "other").mkdir()
        other = Workspace(tmp_path / "other")
        pg_workspace(other, postgres)
        other.declare("a.yaml", "id: 2\ncity: Oslo\n")
        assert run(other, "import").exit_code == 0
        assert run(other, "apply", "--auto-approve").exit_code == 0
        assert server.store.customers[2]["city"] == "Oslo"
        # With --lock-timeout the run waits for the holder to finish.
        threading.Timer(1.0, lambda: held.__exit__(None, None, None)).start()
        waited = run(workspace, "apply", "--auto-approve", "--lock-timeout", "20")
    assert waited.exit_code == 0, waited.output
    assert server.store.customers[1]["city"] == "Paris"


def test_force_unlock_ends_the_holders_session(
    workspace: Workspace, run, sandbox, postgres
) -> None:
    sandbox([seed_customer(1)])
    name = pg_workspace(workspace, postgres)
    workspace.declare("a.yaml", "id: 1\n")
    assert run(workspace, "import").exit_code == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from reconciler.storage.postgres import PostgresStorage;"
            f" lock = PostgresStorage({postgres.url()!r}, {name!r}).lock('apply').__enter__();"
            " print(lock.info.id, flush=True); time.sleep(60)",
        ],
        env={**os.environ, "PGPASSWORD": postgres.password},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        lock_id = holder.stdout.readline().strip()
        locked = run(workspace, "import").stderr
        assert "the state is locked" in locked and "force-unlock" not in locked  # it runs here
        refused = run(workspace, "force-unlock", lock_id)
        assert refused.exit_code == 1 and "running on this machine" in refused.stderr
        assert "the state is locked" in run(workspace, "import").stderr  # still held
        released = run(workspace, "force-unlock", lock_id, "--force")
        assert released.exit_code == 0, released.output
        assert lock_id in released.output
        assert run(workspace, "import").exit_code == 0
    finally:
        holder.kill()
        holder.wait()


def test_saved_plans_for_different_customers_both_apply(
    workspace: Workspace, run, sandbox, postgres
) -> None:
    server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
    pg_workspace(workspace, postgres)
    workspace.declare("a.yaml", "id: 1\ncity: Lyon\n")
    workspace.declare("b.yaml", "id: 2\ncity: Bern\n")
    assert run(workspace, "import").exit_code == 0
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    assert run(workspace, "plan", "-out", "a.plan").exit_code == 0
    workspace.declare("a.yaml", "id: 1\ncity: Lyon\n")
    workspace.declare("b.yaml", "id: 2\ncity: Oslo\n")
    assert run(workspace, "plan", "-out", "b.plan").exit_code == 0
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    for name in ("b", "a"):
        result = run(workspace, "apply", f"{name}.plan")
        assert result.exit_code == 0, result.output
    assert (server.store.customers[1]["city"], server.store.customers[2]["city"]) == (
        "Paris",
        "Oslo",
    )


def test_the_demo_on_a_throwaway_postgres(postgres, tmp_path: Path) -> None:
    """`bash scripts/demo --postgres`, as the README gives it: its own server, started and
    stopped, and the main job with the state in it."""
    from tests.conftest import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUENTCART_", "PG"))}
    env["DEMO_DIR"] = str(tmp_path / "demo")
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo"), "--postgres"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "== PostgreSQL state at postgresql://fluentcart@127.0.0.1:" in result.stdout
    assert "Apply complete: 6 changed, 2 unchanged, 0 failed, 0 skipped." in result.stdout
    assert result.stdout.rstrip().endswith("(plan --refresh exit code 0).")
    assert not (tmp_path / "demo" / "workspace" / "fluentcart.state.json").exists()


def test_intents_left_by_a_dead_run_are_resolved_for_good(
    workspace: Workspace, run, sandbox, postgres
) -> None:
    """An intent left behind (a PUT whose answer was lost): the next run that opens the state
    reads that customer again and records it in the same transaction that clears the intent,
    even when the run then stops (a stale saved plan). A customer `state rm` dropped is not
    brought back by its intent."""
    server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
    name = pg_workspace(workspace, postgres)
    workspace.declare("a.yaml", "customers:\n  - id: 1\n  - id: 2\n")
    assert run(workspace, "import").exit_code == 0
    assert run(workspace, "plan", "-out", "old.plan").exit_code == 0
    workspace.declare("a.yaml", "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n")
    (workspace_id,) = rows(postgres, "SELECT id FROM fluentcart.workspace WHERE name = %s", name)[0]
    for customer in (1, 2):
        postgres.sql(
            f"INSERT INTO fluentcart.pending_op (workspace_id, customer_id) VALUES ({workspace_id}, {customer})"
        )
    server.store.customers[1]["city"] = "Paris"  # the lost PUT's answer, taken by the store
    assert run(workspace, "state", "rm", "2").exit_code == 0
    stale = run(workspace, "apply", "old.plan")
    assert stale.exit_code == 1 and "stale" in stale.stderr
    assert "Read 1 customer(s) again from the store" in stale.stderr
    assert rows(postgres, "SELECT count(*) FROM fluentcart.pending_op") == [(0,)]
    recorded = dict(
        rows(
            postgres,
            "SELECT customer_id, observed->>'city' FROM fluentcart.customer WHERE workspace_id = %s",
            workspace_id,
        )
    )
    assert recorded == {1: "Paris"}  # customer 2 stays removed
    plan = run(workspace, "plan").stdout
    assert "customer 1 will be updated" not in plan  # the store's answer is recorded
    assert "Plan: 0 to change, 1 unchanged, 1 not in state" in plan


def test_migrate_to_postgres_and_back_keeps_the_file_byte_for_byte(
    example_workspace: Workspace, run, postgres
) -> None:
    original = (example_workspace.root / "fluentcart.state.json").read_bytes()
    name = f"migrated-{uuid.uuid4().hex[:8]}"
    there = run(example_workspace, "state", "migrate", "--to", postgres.url(), "--workspace", name)
    assert there.exit_code == 0, there.output
    assert "verified" in there.stdout and postgres.password not in there.output
    example_workspace.config(f"state: {postgres.url()}\nworkspace: {name}\n")
    pulled = run(example_workspace, "state", "pull")
    assert pulled.exit_code == 0
    assert pulled.stdout.encode() == original  # the file format, exactly
    assert run(example_workspace, "state", "list").exit_code == 0
    back = run(example_workspace, "state", "migrate", "--to", "back.state.json")
    assert back.exit_code == 0, back.output
    assert (example_workspace.root / "back.state.json").read_bytes() == original
    again = run(example_workspace, "state", "migrate", "--to", "back.state.json")
    assert again.exit_code == 1 and "holds a state already" in again.output


def test_every_value_a_file_can_hold_comes_back_exactly(
    workspace: Workspace, run, postgres
) -> None:
    """jsonb has no NUL character and no key order, and reads numbers as numerics: a record
    with each of these still comes back from PostgreSQL as the file had it, byte for byte."""
    from tests.conftest import make_state, observed

    odd = observed(
        7,
        notes="before\x00after \\u0000 literal",
        city="\u00c5lesund \U0001f600 \u200b",
        zeta="last key first",
        aov="12.50",
        contact_id=12345678901234567890,
        ratio=1.0,
        nested={"b": [1, "2", None], "a": True},
    )
    workspace.state(make_state([odd, observed(8)]))
    original = (workspace.root / "fluentcart.state.json").read_bytes()
    name = f"odd-{uuid.uuid4().hex[:8]}"
    there = run(workspace, "state", "migrate", "--to", postgres.url(), "--workspace", name)
    assert there.exit_code == 0, there.output
    workspace.config(f"state: {postgres.url()}\nworkspace: {name}\n")
    pulled = run(workspace, "state", "pull")
    assert pulled.exit_code == 0, pulled.output
    assert pulled.stdout.encode() == original
    shown = run(workspace, "state", "show", "7", "--version", "1")  # from the history table
    assert shown.exit_code == 0 and "before\\u0000after" in shown.stdout, shown.output


def test_push_refuses_another_lineage_or_an_older_serial(
    example_workspace: Workspace, run, postgres, tmp_path: Path
) -> None:
    original = json.loads((example_workspace.root / "fluentcart.state.json").read_text())
    name = f"pushed-{uuid.uuid4().hex[:8]}"
    example_workspace.config(f"state: {postgres.url()}\nworkspace: {name}\n")
    source = example_workspace.root / "fluentcart.state.json"
    assert run(example_workspace, "state", "push", str(source)).exit_code == 0
    older = tmp_path / "older.json"
    older.write_text(json.dumps({**original, "serial": original["serial"] - 1}, indent=2))
    result = run(example_workspace, "state", "push", str(older))
    assert result.exit_code == 1 and "is older" in result.output
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**original, "lineage": str(uuid.uuid4())}, indent=2))
    result = run(example_workspace, "state", "push", str(other))
    assert result.exit_code == 1 and "another state" in result.output
    assert run(example_workspace, "state", "push", str(other), "--force").exit_code == 0
    pulled = json.loads(run(example_workspace, "state", "pull").stdout)
    assert pulled["lineage"] == json.loads(other.read_text())["lineage"]


def test_migrate_refuses_a_pending_journal(example_workspace: Workspace, run, postgres) -> None:
    from reconciler.state import CustomerRecord
    from reconciler.storage.file import Journal

    journal = Journal(example_workspace.root / "fluentcart.state.json")
    journal.record(1, CustomerRecord({"id": 1, "email": "a@example.org"}, "now", {}))
    journal.close()
    result = run(example_workspace, "state", "migrate", "--to", postgres.url(), "--workspace", "j")
    assert result.exit_code == 1
    assert "interrupted run pending" in result.output


def test_history_show_version_and_purge(workspace: Workspace, run, sandbox, postgres) -> None:
    sandbox([seed_customer(1, city="Lyon"), seed_customer(2)])
    name = pg_workspace(workspace, postgres)
    workspace.declare("a.yaml", "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n")
    assert run(workspace, "import").exit_code == 0
    assert run(workspace, "apply", "--auto-approve").exit_code == 0
    history = run(workspace, "state", "history", "1")
    assert history.exit_code == 0, history.output
    lines = history.stdout.splitlines()
    assert lines[0].startswith("v1 ") and "record" in lines[0] and "first recorded" in lines[0]
    assert lines[1].startswith("v2 ") and "apply by " in lines[1] and "changed: city" in lines[1]
    first = run(workspace, "state", "show", "1", "--version", "1")
    assert json.loads(first.stdout)["observed"]["city"] == "Lyon"
    assert run(workspace, "state", "show", "1", "--version", "9").exit_code == 1
    workspace.declare("a.yaml", "customers:\n  - id: 2\n")
    purged = run(workspace, "state", "rm", "1", "--purge")
    assert purged.exit_code == 0, purged.output
    assert "every recorded version is erased" in purged.stdout
    left = rows(
        postgres,
        "SELECT count(*) FROM fluentcart.customer_version v JOIN fluentcart.workspace w"
        " ON w.id = v.workspace_id WHERE w.name = %s AND v.customer_id = 1",
        name,
    )
    assert left == [(0,)]
    assert run(workspace, "state", "history", "1").exit_code == 1
    assert run(workspace, "state", "history", "2").exit_code == 0


def test_the_file_backend_says_it_keeps_the_current_record_only(
    example_workspace: Workspace, run
) -> None:
    result = run(example_workspace, "state", "history", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("v1 ")
    assert "keeps only the current record" in result.stdout


def test_a_refused_put_leaves_no_intent(workspace: Workspace, run, sandbox, postgres) -> None:
    """The store answers 422 (the email belongs to a customer fluentcart does not manage):
    nothing changed there, so nothing is left for the next run to read again."""
    sandbox([seed_customer(1), seed_customer(2)])
    name = pg_workspace(workspace, postgres)
    workspace.declare("a.yaml", "id: 1\n")
    assert run(workspace, "import").exit_code == 0
    workspace.declare("a.yaml", "id: 1\nemail: customer2@example.org\n")
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert "1 failed" in result.stdout
    left = rows(
        postgres,
        "SELECT count(*) FROM fluentcart.pending_op p JOIN fluentcart.workspace w"
        " ON w.id = p.workspace_id WHERE w.name = %s",
        name,
    )
    assert left == [(0,)]
    assert "Read " not in run(workspace, "apply", "--auto-approve").stderr


@pytest.mark.parametrize("sessions", ["fluentcart apply%", "fluentcart apply (lock)"])
def test_a_database_session_killed_mid_apply(tmp_path: Path, postgres, sessions: str) -> None:
    """pg_terminate_backend on the apply's sessions (all, or only the lock's) after the 3rd
    PUT answer: the run stops with a clear error and no traceback, sends no PUT without its
    lock, loses nothing the store accepted (recorded, or left as an intent the next run
    resolves), and the rerun converges."""
    from tests.backends import PostgresBackend
    from tests.conftest import recorded_state

    store = Store("http://127.0.0.1", users=default_users("admin", PASSWORD))
    for i in range(1, 13):
        store.seed(seed_customer(i, city="Lyon"))
    server = Sandbox(store, faults=Faults(latency_ms=30)).start()
    backend = PostgresBackend(postgres)
    root = tmp_path / "ws"
    root.mkdir()
    Workspace(root).declare(
        "all.yaml",
        "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 13)),
    )
    backend.prepare(root, recorded_state(server, list(range(1, 13))))
    answered = 0
    lock = threading.Lock()

    def after(method: str, path: str, status: int) -> None:
        nonlocal answered
        if method == "PUT" and status == 200:
            with lock:
                answered += 1
                if answered == 3:
                    postgres.sql(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        f" WHERE application_name LIKE '{sessions}'"
                    )

    server.on_answer = after
    env = {
        **os.environ,
        "FLUENTCART_URL": server.url,
        "FLUENTCART_USERNAME": "admin",
        "FLUENTCART_APP_PASSWORD": PASSWORD,
        **backend.env(),
    }
    try:
        process = fluentcart(root, env, "apply", "--auto-approve", "--parallelism", "2")
        out, err = process.communicate(timeout=120)
        server.on_answer = None
        context = f"{out}\n{err}"
        assert process.returncode == 1, context
        assert "Traceback" not in err, context
        if sessions == "fluentcart apply%":
            assert "lost its connection to the state database" in context, context
        assert "lost the lock on" in err and "run it again to finish" in err, context
        assert postgres.password not in context
        accepted = {i for i, c in store.customers.items() if c["city"] == "Paris"}
        state = backend.stored(root)
        assert state is not None
        recorded = {i for i, r in state.customers.items() if r.observed["city"] == "Paris"}
        pending = set(backend.storage(root).unresolved())
        assert accepted <= recorded | pending, context  # nothing the store took is unaccounted
        assert len(accepted) < 12, context  # it stopped
        rerun = fluentcart(root, env, "apply", "--auto-approve")
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, f"{context}\nrerun:\n{out}\n{err}"
        check = fluentcart(root, env, "plan", "--refresh", "--detailed-exitcode")
        out, err = check.communicate(timeout=120)
        assert check.returncode == 0, out + err
        final = backend.stored(root)
        assert final is not None
        assert all(final.customers[i].observed["city"] == "Paris" for i in range(1, 13))
        assert backend.pending(root) == [] and backend.holder(root) is None
    finally:
        server.stop()


def test_a_large_write_keeps_versions_history_and_the_conflict_rule(postgres) -> None:
    """Writes of many customers go through COPY and set statements (BULK_MIN and more):
    the same rows, versions and history as one by one, and a customer another run moved
    meanwhile stops the whole write, named, with nothing of it kept."""
    from reconciler.errors import StateError
    from reconciler.statefile import serialize
    from reconciler.storage.postgres import BULK_MIN
    from tests.conftest import make_state, observed

    count = BULK_MIN * 3
    name = f"bulk-{uuid.uuid4().hex[:8]}"
    storage = PostgresStorage(postgres.url(), name)
    first = make_state([observed(i, city="Lyon") for i in range(1, count + 1)])
    with storage.lock("test"):
        storage.replace(first)
    second = make_state(
        [observed(i, city="Paris") for i in range(1, count + 1) if i % 3]  # every 3rd removed
        + [observed(i) for i in range(count + 1, count + BULK_MIN + 1)],  # and new ones
        serial=2,
    )
    with storage.lock("test"):
        storage.replace(second)
    stored = PostgresStorage(postgres.url(), name).read()[0]
    assert stored is not None and serialize(stored) == serialize(second)
    assert [v.version for v in storage.history(1)] == [1, 2]
    assert [(v.version, v.record is None) for v in storage.history(3)] == [(1, False), (2, True)]
    assert storage.history(count + 1)[0].version == 1

    stale = PostgresStorage(postgres.url(), name)
    stale.read()
    other = PostgresStorage(postgres.url(), name)
    other.read()
    moved = make_state([observed(i, city="Rome") for i in stored.customers], serial=3)
    with other.lock("test"):
        other.replace(moved)
    late = make_state([observed(i, city="Oslo") for i in stored.customers], serial=4)
    with (
        pytest.raises(StateError, match=r"customer\(s\) 1, 2, 4"),
        stale.lock("test"),
        stale.connect("t") as connection,
        connection.transaction(),
    ):
        stale.write_customers(
            connection, {i: late.customers[i] for i in sorted(late.customers)}, "push"
        )
    kept = PostgresStorage(postgres.url(), name).read()[0]
    assert kept is not None and {r.observed["city"] for r in kept.customers.values()} == {"Rome"}


def test_a_database_at_schema_1_is_migrated_with_its_records(postgres) -> None:
    """A database written by the first schema gets the plan column filled from its records,
    and a slim read gives exactly the fields a full read's plan would compare."""
    from reconciler.state import PLAN_FIELDS
    from reconciler.storage.postgres import MIGRATIONS
    from tests.conftest import LINEAGE

    database = postgres.new_database()
    postgres.sql(
        "CREATE SCHEMA fluentcart; CREATE TABLE fluentcart.schema_migrations (version int"
        " PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
        + MIGRATIONS[0][1]
        + "INSERT INTO fluentcart.schema_migrations (version) VALUES (1);"
        f"INSERT INTO fluentcart.workspace (name, lineage, serial, tool_version)"
        f" VALUES ('old', '{LINEAGE}', 3, '0.1');",
        database,
    )
    import psycopg

    wrapped = json.dumps({"fluentcart:json-text": json.dumps({"id": 2, "notes": "a\x00b"})})
    with psycopg.connect(postgres.url(database), password=postgres.password) as connection:
        connection.execute(
            "INSERT INTO fluentcart.customer (workspace_id, customer_id, observed, observed_at,"
            " last_applied, version) VALUES (1, 1, %s, 'then', '{}', 1), (1, 2, %s, 'then',"
            " '{}', 1)",
            (json.dumps({"id": 1, "city": "Lyon", "photo": "x"}), wrapped),
        )
    storage = PostgresStorage(postgres.url(database), "old")
    slim, _ = storage.read(slim=True)
    full, _ = storage.read()
    assert slim is not None and full is not None
    assert full.customers[2].observed == {"id": 2, "notes": "a\x00b"}
    for customer_id, record in full.customers.items():
        expected = {k: v for k, v in record.observed.items() if k in PLAN_FIELDS}
        assert slim.customers[customer_id].observed == expected
    latest = [(SCHEMA_VERSION,)]
    assert postgres.sql("SELECT max(version) FROM fluentcart.schema_migrations", database) == latest
    assert postgres.sql("SELECT labels FROM fluentcart.workspace", database) == [(None,)]


def test_first_versions_go_straight_in_and_a_workspace_with_history_continues_it(
    postgres,
) -> None:
    """A new workspace's customers are copied straight into the customer table (version 1,
    history alike); one whose customers were all removed has history, so the next write
    continues each customer's versions; and a run that read an empty workspace in which
    another run has recorded since is refused, naming them, with nothing overwritten."""
    from reconciler.errors import StateError
    from reconciler.storage.postgres import BULK_MIN
    from tests.conftest import make_state, observed

    count = BULK_MIN * 2
    name = f"first-{uuid.uuid4().hex[:8]}"
    storage = PostgresStorage(postgres.url(), name)
    stale = PostgresStorage(postgres.url(), name)
    state = make_state([observed(i, city="Lyon") for i in range(1, count + 1)])
    with storage.lock("test"):
        storage.replace(state)
    assert storage.versions == dict.fromkeys(range(1, count + 1), 1)
    assert [(v.version, v.op) for v in storage.history(count)] == [(1, "push")]
    with storage.lock("test"):
        storage.replace(make_state([], serial=2))
    stale.read()
    assert stale.versions == {}
    with storage.lock("test"):
        storage.replace(
            make_state([observed(i, city="Bern") for i in range(1, count + 1)], serial=3)
        )
    assert [v.version for v in storage.history(1)] == [1, 2, 3]
    assert storage.versions[count] == 3

    late = make_state([observed(i, city="Oslo") for i in range(1, count + 1)], serial=4)
    with (
        pytest.raises(StateError, match=r"customer\(s\) 1, 2, 3"),
        stale.lock("test"),
        stale.connect("t") as connection,
        connection.transaction(),
    ):
        stale.write_customers(connection, late.customers, "push")
    kept = PostgresStorage(postgres.url(), name).read()[0]
    assert kept is not None and {r.observed["city"] for r in kept.customers.values()} == {"Bern"}


def test_intents_recorded_ahead_are_cleared_for_customers_that_got_no_put(
    workspace: Workspace, run, sandbox, postgres, tmp_path: Path
) -> None:
    """Intents are recorded a batch at a time before the batch's PUTs: a customer skipped
    (changed on the store since the saved plan), one already as declared, and one refused
    before its PUT (linking a WordPress user that does not exist) leave none behind, so the next run reads
    nothing again; the PUTs that were sent are all recorded."""
    server = sandbox([seed_customer(i, city="Lyon") for i in range(1, 7)])
    name = pg_workspace(workspace, postgres)
    workspace.declare("a.yaml", "customers:\n" + "".join(f"  - id: {i}\n" for i in range(1, 7)))
    assert run(workspace, "import").exit_code == 0
    workspace.declare(
        "a.yaml",
        "customers:\n"
        + "".join(f"  - id: {i}\n    city: Paris\n" for i in (1, 2, 3, 5, 6))
        + "  - id: 4\n    city: Paris\n    user_id: 999\n",  # no such WordPress user
    )
    plan_file = tmp_path / "reviewed.plan"
    assert run(workspace, "plan", "-out", str(plan_file)).exit_code == 0
    server.store.customers[2]["city"] = "Bern"  # edited since the plan: skipped
    server.store.customers[3]["city"] = "Paris"  # already as declared
    result = run(workspace, "apply", str(plan_file))
    assert result.exit_code == 1, result.output
    assert server.count("PUT") == 3  # 1, 5, 6
    left = rows(
        postgres,
        "SELECT count(*) FROM fluentcart.pending_op p JOIN fluentcart.workspace w"
        " ON w.id = p.workspace_id WHERE w.name = %s",
        name,
    )
    assert left == [(0,)], result.output
    state = PostgresStorage(postgres.url(), name).read()[0]
    assert state is not None
    assert {i for i, r in state.customers.items() if r.observed["city"] == "Paris"} == {1, 3, 5, 6}
    assert "Read " not in run(workspace, "plan").stderr
    # The workers' connections, opened ahead in the background, are all closed with the run.
    assert rows(
        postgres,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
        "fluentcart apply (records)",
    ) == [(0,)]


def test_the_session_connection_is_kept_and_replaced_when_the_server_ends_it(postgres) -> None:
    """Short statements share one connection per thread (no new authentication each time);
    one the server ended while idle is replaced, not used; nested uses commit once."""
    import time

    from tests.conftest import make_state, observed

    storage = PostgresStorage(postgres.url(), f"session-{uuid.uuid4().hex[:8]}")
    with storage.lock("test"):
        storage.replace(make_state([observed(1)]))

    def pid() -> int:
        with storage.session("fluentcart") as connection:
            row = connection.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            with storage.session("fluentcart") as inner:
                assert inner is connection
            return int(row[0])

    first = pid()
    assert pid() == first
    assert storage.read()[0] is not None and pid() == first
    postgres.sql(f"SELECT pg_terminate_backend({first})")
    time.sleep(0.2)
    assert storage.read()[0] is not None
    assert pid() != first


def test_a_read_without_chunked_streaming_gives_the_same_state(postgres, monkeypatch) -> None:
    """Reads stream rows in chunks where libpq can (17 and later); with an older libpq they
    are fetched at once, with the same state."""
    import psycopg

    from reconciler.statefile import serialize
    from tests.conftest import make_state, observed

    storage = PostgresStorage(postgres.url(), f"stream-{uuid.uuid4().hex[:8]}")
    state = make_state([observed(i, city=f"City {i}") for i in range(1, 2500)])
    with storage.lock("test"):
        storage.replace(state)
    streamed = PostgresStorage(postgres.url(), storage.workspace).read()[0]
    monkeypatch.setattr(psycopg.pq, "version", lambda: 160004)
    fetched = PostgresStorage(postgres.url(), storage.workspace).read()[0]
    assert streamed is not None and fetched is not None
    assert serialize(streamed) == serialize(fetched) == serialize(state)


def test_recorded_answers_share_what_they_have_in_common_with_the_records_read(postgres) -> None:
    """Memory of a large apply (issue 16): each answer the recorder holds until persist
    shares the values it did not change with the record it replaces; persisted as sent."""
    from reconciler.state import CustomerRecord, new_state
    from tests.conftest import make_state, observed

    storage = PostgresStorage(postgres.url(), f"share-{uuid.uuid4().hex[:8]}")
    with storage.lock("test"):
        storage.replace(make_state([observed(1, city="Lyon"), observed(2, city="Lyon")]))
    with storage.lock("apply"):
        on_disk, working, _ = storage.recover(new_state(None, None))
        assert on_disk is not None
        recorder = storage.recorder(1)
        answer = {**json.loads(json.dumps(observed(1))), "city": "Paris"}
        recorder.record(1, CustomerRecord(answer, "2026-12-03T00:00:00+00:00"))
        recorder.close()
        kept = storage.recorded[1].observed
        assert kept == answer
        assert kept["email"] is on_disk.customers[1].observed["email"]
        assert kept["city"] == "Paris" and kept["city"] is not on_disk.customers[1].observed["city"]
        assert storage.persist(working, on_disk)
    state = storage.read()[0]
    assert state is not None and state.customers[1].observed == answer
    assert state.customers[2].observed["city"] == "Lyon"


def _apply_recorder(postgres, count: int):
    """A workspace of customers 1..count in Lyon, its lock held as an apply holds it (the
    lock's session quiet) and a recorder of one worker; yields (storage, recorder)."""
    from reconciler.state import new_state
    from tests.conftest import make_state, observed

    storage = PostgresStorage(postgres.url(), f"sent-{uuid.uuid4().hex[:8]}")
    with storage.lock("test"):
        storage.replace(make_state([observed(i, city="Lyon") for i in range(1, count + 1)]))
    lock = storage.lock("apply")
    lock.__enter__()
    storage.recover(new_state(None, None))
    return storage, storage.recorder(1), lock


def _paris(customer_id: int):
    from reconciler.state import CustomerRecord
    from tests.conftest import observed

    answer = {**json.loads(json.dumps(observed(customer_id))), "city": "Paris"}
    return CustomerRecord(answer, "2026-12-03T00:00:00+00:00")


def test_an_answer_is_sent_without_waiting_for_its_commit(postgres) -> None:
    """While the lock's session is quiet, record returns once its statement is sent: here
    while another session holds the customer's row, so the commit cannot have happened.
    The record counts only once committed, which close waits for."""
    import psycopg

    storage, recorder, lock = _apply_recorder(postgres, 1)
    try:
        with psycopg.connect(postgres.url(), password=postgres.password) as blocker:
            blocker.execute(
                "SELECT 1 FROM fluentcart.customer WHERE workspace_id = %s AND customer_id = 1"
                " FOR UPDATE",
                (storage.workspace_id(),),
            )
            sender = threading.Thread(target=recorder.record, args=(1, _paris(1)))
            sender.start()
            sender.join(10)
            assert not sender.is_alive()  # returned while the row is held
            assert 1 not in storage.recorded  # not committed yet
            blocker.rollback()
        recorder.close()
        assert storage.recorded[1].observed["city"] == "Paris"
        assert [v.version for v in storage.history(1)] == [1, 2]
    finally:
        lock.__exit__(None, None, None)
    state = storage.read()[0]
    assert state is not None and state.customers[1].observed["city"] == "Paris"


def test_an_answer_whose_commit_failed_stops_the_run_at_the_next_use(postgres) -> None:
    """A sent answer that the database refused (its row moved: another writer) is told at
    the connection's next use, naming it and the customer whose answer came next; neither
    is recorded and both intents are left for the next run. One that fails last is told by
    close."""
    from reconciler.errors import StateError

    storage, recorder, lock = _apply_recorder(postgres, 3)
    workspace_id = storage.workspace_id()

    def move(customer_id: int) -> None:
        rows(
            postgres,
            "UPDATE fluentcart.customer SET version = version + 1 WHERE workspace_id = %s"
            " AND customer_id = %s RETURNING version",
            workspace_id,
            customer_id,
        )

    try:
        recorder.intend_ahead([1, 2, 3])
        move(1)
        recorder.intend(1)  # the PUT's (already recorded ahead)
        recorder.record(1, _paris(1))  # sent
        recorder.intend(2)
        with pytest.raises(StateError) as failed:
            recorder.record(2, _paris(2))
        assert "customer 1 was changed in" in str(failed.value)
        assert "Customer 2's answer, which came next, is not recorded either" in str(failed.value)
        assert 1 not in storage.recorded and 2 not in storage.recorded
        move(3)
        recorder.intend(3)
        recorder.record(3, _paris(3))
        with pytest.raises(StateError, match="customer 3 was changed in"):
            recorder.close()
        assert not storage.recorded
    finally:
        lock.__exit__(None, None, None)
    left = rows(
        postgres,
        "SELECT customer_id FROM fluentcart.pending_op WHERE workspace_id = %s ORDER BY 1",
        workspace_id,
    )
    assert left == [(1,), (2,), (3,)]
    state = storage.read()[0]
    assert state is not None
    assert all(state.customers[i].observed["city"] == "Lyon" for i in (1, 2, 3))
