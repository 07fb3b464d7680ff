"""End to end against the in-process sandbox: import, plan, apply, and what must never happen."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.lock import lock_path, read_lock
from reconciler.sandbox.server import Faults
from reconciler.sandbox.store import WpUser
from reconciler.state import CustomerRecord
from reconciler.storage.file import Journal, journal_path, load_state
from tests.conftest import (
    PASSWORD,
    Workspace,
    as_recorded,
    make_state,
    observed,
    recorded_state,
    seed_customer,
)

TWO = "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n    city: Oslo\n"


def store_row(server, customer_id: int) -> dict:
    return server.store.customers[customer_id]


@pytest.mark.parametrize("mode", ["full_name", "first_last"])
def test_convergence_in_both_name_modes(workspace: Workspace, run, sandbox, mode: str) -> None:
    server = sandbox([seed_customer(i, city="Lyon") for i in (1, 2, 3)], name_mode=mode)
    names = (
        "full_name: Jean Luc Picard\n"
        if mode == "full_name"
        else "first_name: Jean\n    last_name: Luc Picard\n"
    )
    workspace.declare(
        "a.yaml",
        f"customers:\n  - id: 1\n    {names}    city: Paris\n    email: new1@example.org\n"
        "  - id: 2\n    status: inactive\n    notes: |\n      two\n      lines\n  - id: 3\n    city: Lyon\n",
    )
    assert run(workspace, "import").exit_code == 0
    state = workspace.read_state()
    assert state["name_mode"] == mode
    assert state["site"] == server.url
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 2 changed, 1 unchanged, 0 failed, 0 skipped." in result.stdout
    row = store_row(server, 1)
    expected = ("Jean Luc", "Picard") if mode == "full_name" else ("Jean", "Luc Picard")
    assert (row["first_name"], row["last_name"]) == expected
    assert store_row(server, 2)["notes"] == "two lines"
    plan = run(workspace, "plan", "--refresh", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert "No changes. Customers match the declared state." in plan.stdout


def test_undeclared_fields_links_and_aov_survive(workspace: Workspace, run, sandbox) -> None:
    server = sandbox(
        [
            seed_customer(
                5,
                user_id="2",
                aov="83.00",
                notes="keep",
                postcode="80201",
                email="jane.linked@example.test",
            )
        ]
    )
    server.store.customers[5]["purchase_count"] = "3"
    workspace.declare("a.yaml", "id: 5\ncity: Boulder\n")
    workspace.state(recorded_state(server, [5]))
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    row = store_row(server, 5)
    assert row["city"] == "Boulder"
    assert (row["user_id"], row["aov"], row["notes"], row["postcode"]) == (
        "2",
        "83.00",
        "keep",
        "80201",
    )
    assert row["purchase_count"] == "3"
    assert row["email"] == "jane.linked@example.test"
    # The linked WordPress user was told, as FluentCart does, and still exists.
    assert server.store.users[2].first_name == "Test"


def test_unchanged_customers_get_no_put(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1, city="Paris"), seed_customer(2, city="Rome")])
    workspace.declare("a.yaml", TWO)
    workspace.state(recorded_state(server, [1, 2]))
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 0
    assert server.count("PUT") == 1
    assert server.count("GET", "/fluent-cart/v2/customers/") == 1  # only the changed one is read


def test_linked_customer_email_change_is_refused_and_not_recorded(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(5, user_id="2", email="jane.linked@example.test")])
    workspace.declare("a.yaml", "id: 5\nemail: jane.new@example.test\n")
    workspace.state(recorded_state(server, [5]))
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert "cannot change the email of a customer linked to WordPress user 2" in result.stdout
    assert server.count("PUT") == 0
    assert (
        workspace.read_state()["customers"]["5"]["observed"]["email"] == "jane.linked@example.test"
    )


def test_customer_linked_since_the_plan_is_not_sent_an_email(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(5, email="old@example.test")])
    workspace.declare("a.yaml", "id: 5\nemail: new@example.test\n")
    workspace.state(recorded_state(server, [5]))
    server.store.customers[5]["user_id"] = "2"  # linked in wp-admin after the state was recorded
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert "customer 5: failed: linked to WordPress user 2" in result.stdout
    assert server.count("PUT") == 0


def test_a_field_the_server_did_not_take_is_reported_not_recorded(
    workspace: Workspace, run, sandbox, monkeypatch
) -> None:
    server = sandbox([seed_customer(1, city="Lyon", state="")])
    workspace.declare("a.yaml", "id: 1\ncity: Paris\nstate: IDF\n")
    workspace.state(recorded_state(server, [1]))
    original = server.store.update

    def ignore_city(route_id, params):
        params = {**params, "city": server.store.customers[int(route_id)]["city"]}
        return original(route_id, params)

    monkeypatch.setattr(server.store, "update", ignore_city)
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert 'not applied: city (sent "Paris", the store kept "Lyon")' in result.stdout
    record = workspace.read_state()["customers"]["1"]
    assert record["observed"]["city"] == "Lyon" and record["observed"]["state"] == "IDF"
    assert "city" not in record["last_applied"] and record["last_applied"]["state"] == "IDF"
    assert run(workspace, "plan", "--detailed-exitcode").exit_code == 2


def test_changed_outside_since_the_plan_is_skipped_unless_forced(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
    workspace.declare("a.yaml", TWO)
    workspace.state(recorded_state(server, [1, 2]))
    server.store.customers[1]["city"] = "Marseille"  # someone edited it in wp-admin
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert (
        'customer 1: skipped: changed outside fluentcart since the plan: city was "Lyon"'
        in result.stdout
    )
    assert store_row(server, 1)["city"] == "Marseille"
    assert store_row(server, 2)["city"] == "Oslo"
    # The hint names the command that shows that edit: an offline plan does not.
    assert "`fluentcart plan --refresh` shows it (or apply with --force" in result.stdout
    assert "Marseille" in run(workspace, "plan", "--refresh").stdout
    assert "Marseille" not in run(workspace, "plan").stdout
    result = run(workspace, "apply", "--auto-approve", "--force")
    assert result.exit_code == 0, result.output
    assert store_row(server, 1)["city"] == "Paris"


def test_missing_customer_is_reported_and_others_proceed(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
    workspace.declare("a.yaml", TWO)
    workspace.state(recorded_state(server, [1, 2]))
    del server.store.customers[1]
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert "customer 1: failed: does not exist on the store" in result.stdout
    assert "Apply complete: 1 changed, 0 unchanged, 1 failed, 0 skipped." in result.stdout
    assert store_row(server, 2)["city"] == "Oslo"


def test_link_to_missing_wordpress_user_is_refused(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1)])
    workspace.declare("a.yaml", "id: 1\nuser_id: 99999\n")
    workspace.state(recorded_state(server, [1]))
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert "WordPress user 99999 does not exist" in result.stdout
    assert server.count("PUT") == 0
    server.store.users[7] = WpUser(7, "maria", "maria@example.test")
    workspace.declare("a.yaml", "id: 1\nuser_id: 7\n")
    assert run(workspace, "apply", "--auto-approve").exit_code == 0
    assert store_row(server, 1)["user_id"] == "7"


def test_uneditable_customer_423_is_reported_with_the_fix(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1, user_id="4242", city="Lyon")])
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    workspace.state(recorded_state(server, [1]))
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert (
        "WordPress user sync failed" in result.stdout
        and "Repair the link in wp-admin" in result.stdout
    )
    assert server.count("PUT") == 1  # never retried


def test_retries_under_throttling_and_server_errors(workspace: Workspace, run, sandbox) -> None:
    faults = Faults(fail_rate=0.2, throttle_rate=0.15, retry_after=0, seed=3)
    server = sandbox([seed_customer(i, city="Lyon") for i in range(1, 16)], faults=faults)
    workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 16))
    )
    workspace.state(recorded_state(server, list(range(1, 16))))
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Apply complete: 15 changed" in result.stdout
    assert "retried request(s)" in result.stdout
    assert all(store_row(server, i)["city"] == "Paris" for i in range(1, 16))


def test_dropped_connections_are_retried(workspace: Workspace, run, sandbox) -> None:
    server = sandbox(
        [seed_customer(i, city="Lyon") for i in range(1, 11)], faults=Faults(drop_rate=0.2, seed=5)
    )
    workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 11))
    )
    workspace.state(recorded_state(server, list(range(1, 11))))
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert run(workspace, "plan", "--detailed-exitcode").exit_code == 0


def test_bad_credentials_stop_the_run(workspace: Workspace, run, sandbox, monkeypatch) -> None:
    server = sandbox([seed_customer(i, city="Lyon") for i in (1, 2, 3)])
    workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in (1, 2, 3))
    )
    workspace.state(recorded_state(server, [1, 2, 3]))
    monkeypatch.setenv("FLUENTCART_APP_PASSWORD", "wrong")
    result = run(workspace, "apply", "--auto-approve", "--parallelism", "1")
    assert result.exit_code == 1
    assert "Application Passwords" in result.output
    assert server.count("PUT") == 0


def test_auto_approve_needed_without_a_terminal(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1)])
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    workspace.state(recorded_state(server, [1]))
    result = run(workspace, "apply")
    assert result.exit_code == 1
    assert "pass --auto-approve" in result.stderr
    assert server.count() == 0


@pytest.mark.parametrize(("answer", "applied"), [("yes", True), ("y", False), ("no", False)])
def test_prompt_accepts_only_yes(
    workspace: Workspace, sandbox, monkeypatch, answer: str, applied: bool
) -> None:
    from click.testing import CliRunner

    from reconciler.commands import apply as apply_command
    from reconciler.main import cli

    server = sandbox([seed_customer(1)])
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    workspace.state(recorded_state(server, [1]))
    monkeypatch.setattr(apply_command, "stdin_is_terminal", lambda: True)
    result = CliRunner().invoke(cli, ["-C", str(workspace.root), "apply"], input=f"{answer}\n")
    assert "Do you want to apply these changes? Only 'yes' will be accepted:" in result.output
    assert (store_row(server, 1)["city"] == "Paris") is applied
    assert result.exit_code == (0 if applied else 1)


def test_saved_plan_applies_and_stale_plans_are_refused(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
    workspace.declare("a.yaml", TWO)
    workspace.state(recorded_state(server, [1, 2]))
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    workspace.declare("a.yaml", TWO.replace("Oslo", "Rome"))
    result = run(workspace, "apply", "p.plan")
    assert result.exit_code == 1
    assert (
        "the saved plan is stale" in result.stderr
        and "customers/a.yaml changed since the plan" in result.stderr
    )
    assert server.count("PUT") == 0
    workspace.declare("a.yaml", TWO)
    result = run(workspace, "apply", "p.plan")
    assert result.exit_code == 0, result.output
    assert store_row(server, 2)["city"] == "Oslo"
    puts = server.count("PUT")
    # Applied again, the plan finds its customers already as planned: nothing to send.
    result = run(workspace, "apply", "p.plan")
    assert result.exit_code == 0, result.output
    assert server.count("PUT") == puts
    # A customer recorded again with other values (a refresh after an edit in wp-admin):
    # the plan no longer starts from what it was reviewed against.
    store_row(server, 2)["city"] = "Bergen"
    assert run(workspace, "refresh").exit_code == 0
    result = run(workspace, "apply", "p.plan")
    assert result.exit_code == 1
    assert "customer 2 was recorded again since the plan" in result.stderr
    assert "customer 1" not in result.stderr
    assert server.count("PUT") == puts


def test_saved_plans_for_different_customers_both_apply(workspace: Workspace, run, sandbox) -> None:
    """Two plans made from the same state for customers in different files (two pull
    requests): after both are merged, each applies, in either order."""
    for first, second in (("a", "b"), ("b", "a")):
        server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
        workspace.state(recorded_state(server, [1, 2]))
        workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
        workspace.declare("b.yaml", "id: 2\ncity: Bern\n")
        assert run(workspace, "plan", "-out", "a.plan").exit_code == 0
        workspace.declare("a.yaml", "id: 1\ncity: Lyon\n")
        workspace.declare("b.yaml", "id: 2\ncity: Oslo\n")
        assert run(workspace, "plan", "-out", "b.plan").exit_code == 0
        workspace.declare("a.yaml", "id: 1\ncity: Paris\n")  # both merged
        for name in (first, second):
            result = run(workspace, "apply", f"{name}.plan")
            assert result.exit_code == 0, result.output
            assert "stale" not in result.stderr
        assert (store_row(server, 1)["city"], store_row(server, 2)["city"]) == ("Paris", "Oslo")
        assert server.count("PUT") == 2
        assert run(workspace, "plan", "--detailed-exitcode").exit_code == 0


def test_a_saved_plan_overlapping_an_applied_one_is_refused(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1, city="Lyon")])
    workspace.state(recorded_state(server, [1]))
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    assert run(workspace, "plan", "-out", "paris.plan").exit_code == 0
    workspace.declare("a.yaml", "id: 1\nstatus: inactive\n")
    assert run(workspace, "plan", "-out", "inactive.plan").exit_code == 0
    assert run(workspace, "apply", "inactive.plan").exit_code == 0
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")  # the file as paris.plan saw it
    result = run(workspace, "apply", "paris.plan")
    assert result.exit_code == 1
    assert "customer 1 was recorded again since the plan" in result.stderr
    assert "a.yaml" not in result.stderr
    assert server.count("PUT") == 1
    assert store_row(server, 1)["city"] == "Lyon"


def test_a_plan_setting_the_same_changed_fields_is_not_mistaken_for_this_one(
    workspace: Workspace, run, sandbox
) -> None:
    """P sets city and declares notes empty; Q sets the same city and notes "VIP" and is
    applied first. P's customer now holds P's changed value, but not by P: P is stale, even
    with --force, and the notes Q set stay."""
    server = sandbox([seed_customer(1, city="Lyon")])
    workspace.state(recorded_state(server, [1]))
    workspace.declare("a.yaml", "id: 1\ncity: Paris\nnotes: ''\n")
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    workspace.declare("a.yaml", "id: 1\ncity: Paris\nnotes: VIP\n")
    assert run(workspace, "plan", "-out", "q.plan").exit_code == 0
    assert run(workspace, "apply", "q.plan").exit_code == 0
    workspace.declare("a.yaml", "id: 1\ncity: Paris\nnotes: ''\n")
    result = run(workspace, "apply", "p.plan", "--force")
    assert result.exit_code == 1
    assert "customer 1 was recorded again since the plan" in result.stderr
    assert store_row(server, 1)["notes"] == "VIP"


def test_an_interrupted_saved_plan_applies_again_to_finish(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
    workspace.declare("a.yaml", TWO)
    workspace.state(recorded_state(server, [1, 2]))
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    # What an apply of p.plan stopped after its first customer leaves behind.
    assert run(workspace, "apply", "--auto-approve", "--target", "1").exit_code == 0
    assert server.count("PUT") == 1
    result = run(workspace, "apply", "p.plan")
    assert result.exit_code == 0, result.output
    assert server.count("PUT") == 2
    assert (store_row(server, 1)["city"], store_row(server, 2)["city"]) == ("Paris", "Oslo")


def test_saved_plan_for_another_site_is_refused(
    workspace: Workspace, run, sandbox, monkeypatch
) -> None:
    server = sandbox([seed_customer(1, city="Lyon")])
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    workspace.state(recorded_state(server, [1]))
    monkeypatch.setenv("FLUENTCART_URL", server.url)
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    other = sandbox([seed_customer(1, city="Lyon")])
    result = run(workspace, "apply", "p.plan")
    assert result.exit_code == 1
    assert f"recorded from {server.url}, but the site is {other.url}" in result.stderr
    assert other.count("PUT") == 0


def test_import_without_ids_reads_only_missing_declared_customers(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(i) for i in range(1, 6)])
    workspace.declare("a.yaml", "customers:\n  - id: 1\n  - id: 2\n  - id: 3\n")
    result = run(workspace, "import")
    assert result.exit_code == 0, result.output
    assert sorted(workspace.read_state()["customers"]) == ["1", "2", "3"]
    before = server.count()
    assert "already in the state" in run(workspace, "import").stdout
    assert server.count() - before == 1  # only the name-mode detection


def test_import_uses_the_paged_list_when_cheaper(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(i) for i in range(1, 401)])
    workspace.declare("a.yaml", "customers:\n" + "".join(f"  - id: {i}\n" for i in range(1, 401)))
    result = run(workspace, "import")
    assert result.exit_code == 0, result.output
    assert len(workspace.read_state()["customers"]) == 400
    assert server.count("GET", "/fluent-cart/v2/customers/") == 0
    assert server.count("GET", "/fluent-cart/v2/customers") == 3  # 400 customers, 199 a page
    assert all(
        "per_page=199" in path and "sort_type=asc" in path
        for m, path in server.requests
        if "customers?" in path
    )


def test_import_ids_refuses_undeclared_and_reports_missing(
    workspace: Workspace, run, sandbox
) -> None:
    sandbox([seed_customer(1), seed_customer(2)])
    workspace.declare("a.yaml", "customers:\n  - id: 1\n  - id: 3\n")
    result = run(workspace, "import", "1", "2", "3")
    assert result.exit_code == 1
    assert "refused: customer 2 is not declared" in result.stderr
    assert "not found: customer 3 does not exist on the store" in result.stderr
    # It says why plan keeps asking for an import, and how to end that loop.
    assert "it does not create them yet" in result.stderr
    assert "or remove it from customers/a.yaml:3" in result.stderr, result.stderr
    assert sorted(workspace.read_state()["customers"]) == ["1"]


def test_lock_held_by_another_process(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1)])
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    workspace.state(recorded_state(server, [1]))
    holder = _lock_holder(workspace.root / "fluentcart.state.json")
    try:
        result = run(workspace, "apply", "--auto-approve")
        assert result.exit_code == 1
        assert "the state is locked" in result.stderr and f"(pid {holder.pid})" in result.stderr
        assert "for 'test-holder'" in result.stderr
        assert server.count("PUT") == 0
        start = time.monotonic()
        result = run(workspace, "apply", "--auto-approve", "--lock-timeout", "0.5")
        assert result.exit_code == 1 and time.monotonic() - start >= 0.5
        assert "waited 0.5 s" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing: the next run takes the lock over and says so.
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "released a lock left by a process that is gone" in result.stderr
    assert read_lock(workspace.root / "fluentcart.state.json") is None


def test_force_unlock(workspace: Workspace, run, sandbox) -> None:
    sandbox([])
    state = workspace.state(make_state([observed(1)]))
    holder = _lock_holder(state)
    try:
        lock_id = read_lock(state).id
        result = run(workspace, "force-unlock", "not-the-id")
        assert result.exit_code == 1 and "does not match" in result.stderr
        # Its holder is a process running here: refused, named, and not suggested.
        result = run(workspace, "force-unlock", lock_id)
        assert result.exit_code == 1, result.output
        assert f"(pid {holder.pid})" in result.stderr and "running on this machine" in result.stderr
        assert read_lock(state) is not None
        locked = run(workspace, "apply", "--auto-approve")
        assert "the state is locked" in locked.stderr and "force-unlock" not in locked.stderr
        # Looking at the state needs no lock: a snapshot, while the holder runs.
        listed = run(workspace, "state", "list")
        assert listed.exit_code == 0, listed.output
        assert "customer(s) in fluentcart.state.json" in listed.stdout
        assert run(workspace, "state", "pull").exit_code == 0
        result = run(workspace, "force-unlock", lock_id, "--force")
        assert result.exit_code == 0 and f"Released lock {lock_id}" in result.stdout
        assert read_lock(state) is None
    finally:
        holder.kill()
        holder.wait()


def test_force_unlock_asks_on_a_terminal_and_suggests_itself_for_a_remote_holder(
    workspace: Workspace, run, sandbox, monkeypatch
) -> None:
    from reconciler.commands import force_unlock as force_unlock_command

    sandbox([])
    state = workspace.root / "fluentcart.state.json"
    holder = _lock_holder(state)
    try:
        # A holder on another machine sharing the file system: it may be gone, so the lock
        # error names force-unlock, which asks before it releases.
        info = json.loads(lock_path(state).read_text())
        lock_path(state).write_text(json.dumps({**info, "hostname": "build-7.example"}))
        locked = run(workspace, "apply", "--auto-approve")
        assert f"fluentcart force-unlock {info['id']}" in locked.stderr, locked.output
        monkeypatch.setattr(force_unlock_command, "stdin_is_terminal", lambda: True)
        kept = run(workspace, "force-unlock", info["id"], input="no\n")
        assert kept.exit_code == 1 and "cancelled" in kept.stderr
        assert "build-7.example" in kept.stdout and read_lock(state) is not None
        released = run(workspace, "force-unlock", info["id"], input="yes\n")
        assert released.exit_code == 0, released.output
        assert read_lock(state) is None
    finally:
        holder.kill()
        holder.wait()


def _lock_holder(state: Path) -> subprocess.Popen:
    code = (
        "import sys, time; from pathlib import Path; from reconciler.lock import StateLock;"
        f"lock = StateLock(Path({str(state)!r}), 'test-holder').acquire(); print('ready', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def test_journal_of_an_interrupted_apply_is_recovered(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
    workspace.declare("a.yaml", TWO)
    state_path = workspace.state(recorded_state(server, [1, 2]))
    # An apply that died after the server took customer 1: its answer is only in the journal.
    server.store.customers[1]["city"] = "Paris"
    journal = Journal(state_path)
    journal.record(
        1,
        CustomerRecord(
            server.store.serialize(server.store.customers[1]),
            "2026-11-23T00:00:00+00:00",
            {"city": "Paris"},
        ),
    )
    journal.close()
    with open(journal_path(state_path), "a") as handle:
        handle.write('{"id": 2, "observed": {"id": 2, "ci')  # torn by the crash
    plan = run(workspace, "plan")
    assert "interrupted apply" in plan.stderr
    assert "customer 1 will be updated" not in plan.stdout
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Recovered 1 customer(s)" in result.stderr
    assert not journal_path(state_path).exists()
    assert server.count("PUT") == 1  # only customer 2
    assert load_state(state_path).customers[1].observed["city"] == "Paris"


def test_credentials_never_appear_in_output_or_files(
    workspace: Workspace, run, sandbox, monkeypatch
) -> None:
    server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
    workspace.declare("a.yaml", TWO)
    outputs = [
        run(workspace, "import"),
        run(workspace, "plan", "-out", "p.plan"),
        run(workspace, "apply", "p.plan"),
    ]
    monkeypatch.setenv("FLUENTCART_APP_PASSWORD", "wrong " + PASSWORD)
    outputs.append(run(workspace, "apply", "--auto-approve"))
    del server.store.customers[1]
    monkeypatch.setenv("FLUENTCART_APP_PASSWORD", PASSWORD)
    workspace.declare("a.yaml", TWO.replace("Paris", "Nice"))
    outputs.append(run(workspace, "apply", "--auto-approve"))
    secrets = [PASSWORD, PASSWORD.replace(" ", "")]
    for result in outputs:
        for secret in secrets:
            assert secret not in result.output
    for path in workspace.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, path


def test_state_records_the_returned_customer_after_each_put(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1, city="Lyon")])
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    workspace.state(recorded_state(server, [1]))
    assert run(workspace, "apply", "--auto-approve").exit_code == 0
    record = workspace.read_state()["customers"]["1"]
    assert record["observed"] == json.loads(json.dumps(as_recorded(server, 1)))
    assert record["last_applied"] == {"city": "Paris"}
    assert workspace.read_state()["serial"] == 2


def test_sigint_finishes_in_flight_requests_and_exits_nonzero(
    workspace: Workspace, sandbox
) -> None:
    server = sandbox(
        [seed_customer(i, city="Lyon") for i in range(1, 41)], faults=Faults(latency_ms=60)
    )
    workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 41))
    )
    state_path = workspace.state(recorded_state(server, list(range(1, 41))))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "-C",
            str(workspace.root),
            "apply",
            "--auto-approve",
            "--parallelism",
            "2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while server.count("PUT") < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stdout + stderr
    assert "Interrupted" in stderr and "Traceback" not in stderr
    assert read_lock(state_path) is None
    state = load_state(state_path)
    done = [i for i in range(1, 41) if server.store.customers[i]["city"] == "Paris"]
    assert 4 <= len(done) < 40
    assert all(state.customers[i].observed["city"] == "Paris" for i in done)
    assert not journal_path(state_path).exists()


def test_ctrl_c_while_the_runs_end_is_written_ends_it_as_interrupted(
    workspace: Workspace, run, sandbox, monkeypatch
) -> None:
    """A Ctrl-C after the last answer, while the last commits and the run's end are written
    (the moment a Ctrl-C at the last PUT's answer can land): the end is written all the
    same, the lock released, and the run ends as interrupted (130), never as click's
    "Aborted!"."""
    from reconciler.storage.file import FileStorage

    server = sandbox([seed_customer(i, city="Lyon") for i in (1, 2, 3)])
    workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in (1, 2, 3))
    )
    state_path = workspace.state(recorded_state(server, [1, 2, 3]))
    persist = FileStorage.persist

    def interrupted_persist(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here, in the main thread
        return persist(self, *args, **kwargs)

    monkeypatch.setattr(FileStorage, "persist", interrupted_persist)
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 130, result.output
    assert "Aborted" not in result.output
    assert read_lock(state_path) is None
    state = load_state(state_path)
    assert all(state.customers[i].observed["city"] == "Paris" for i in (1, 2, 3))
    assert not journal_path(state_path).exists()  # the end was written


def test_many_changes_are_guarded_by_list_pages_not_one_get_each(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(i, city="Lyon") for i in range(1, 301)])
    workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 251))
    )
    workspace.state(recorded_state(server, list(range(1, 251))))
    server.store.customers[7]["city"] = "Marseille"  # changed since the plan
    del server.store.customers[9]  # deleted since the plan
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert server.count("GET", "/fluent-cart/v2/customers?") == 2  # 300 customers, 199 a page
    assert server.count("GET", "/fluent-cart/v2/customers/") == 1  # only customer 9, missing
    assert server.count("PUT") == 248
    assert "customer 7: skipped: changed outside fluentcart since the plan" in result.stdout
    assert "customer 9: failed: does not exist on the store" in result.stdout
    assert server.store.customers[7]["city"] == "Marseille"
    assert all(server.store.customers[i]["city"] == "Paris" for i in range(10, 251))


def test_a_few_changes_on_a_big_store_use_gets(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(i, city="Lyon") for i in range(1, 1001)])
    workspace.declare(
        "a.yaml",
        "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in (5, 500, 900, 950)),
    )
    workspace.state(recorded_state(server, [5, 500, 900, 950]))
    assert run(workspace, "apply", "--auto-approve").exit_code == 0
    # One list page shows the store has 6 pages: more than 4 GETs would cost, so GETs.
    assert server.count("GET", "/fluent-cart/v2/customers?") == 1
    assert server.count("GET", "/fluent-cart/v2/customers/") == 3  # customer 5 was on page 1


def test_a_full_disk_stops_the_run_at_the_first_answer_it_cannot_record(
    workspace: Workspace, sandbox, tmp_path: Path
) -> None:
    """The journal cannot be written (ENOSPC, from /dev/full): the run sends no more PUTs,
    and says why, naming the customer whose answer is not recorded."""
    from reconciler.apply import Applier, Outcome
    from reconciler.client import ClientOptions, Credentials, FluentCartClient
    from reconciler.declared import Rules, load_declared
    from reconciler.plan import build_plan
    from reconciler.workspace import NameMode

    server = sandbox([seed_customer(i, city="Lyon") for i in range(1, 6)])
    path = workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 6))
    )
    declaration = load_declared([(path, "a.yaml")], Rules(("active",), NameMode.FULL_NAME))
    plan = build_plan(declaration, recorded_state(server, [1, 2, 3, 4, 5]), NameMode.FULL_NAME)
    journal = Journal(tmp_path / "fluentcart.state.json")
    os.dup2(os.open("/dev/full", os.O_WRONLY), journal._fd)
    client = FluentCartClient(server.url, Credentials("admin", PASSWORD), ClientOptions(retries=0))
    try:
        applier = Applier(client, journal, NameMode.FULL_NAME, declaration.customers, 1)
        result = applier.run(list(plan.changes))
    finally:
        client.close()
        journal.close()
    assert result.fatal is not None and "cannot record customer 1" in result.fatal
    assert "No space left on device" in result.fatal
    assert [r.outcome for r in result.results].count(Outcome.NOT_STARTED) == 4
    assert server.count("PUT") == 1


@pytest.mark.parametrize("configured", ["auto", "full_name"])
def test_a_store_switched_to_first_last_mode_after_the_plan_is_caught_before_any_put(
    workspace: Workspace, run, sandbox, tmp_path, configured: str
) -> None:
    """The shop switches its checkout to first and last names between plan and apply: the
    apply reads the mode again and refuses the plan before any PUT (a full_name would be
    ignored by the store), whether the mode is detected or configured."""
    server = sandbox([seed_customer(1, city="Lyon")])
    workspace.config(f"name_mode: {configured}\n")
    workspace.declare("a.yaml", "customers:\n  - id: 1\n    full_name: Jean Luc Picard\n")
    workspace.state(recorded_state(server, [1]))
    plan_file = tmp_path / "p.plan"
    assert run(workspace, "plan", "-out", str(plan_file)).exit_code == 0
    server.store.name_mode = "first_last"
    result = run(workspace, "apply", str(plan_file))
    assert result.exit_code == 1, result.output
    if configured == "auto":
        assert "the saved plan is stale and was not applied" in result.output
        assert "the plan was made in full_name mode, the store is now in first_last mode" in (
            result.output
        )
    else:
        assert "sets name_mode: full_name, but the store uses first_last now" in result.output
    assert server.count("PUT") == 0
    result = run(workspace, "apply", "--auto-approve")  # a fresh plan: the same refusal
    assert result.exit_code == 1 and server.count("PUT") == 0, result.output


def test_undeclared_values_the_database_cut_are_kept_as_they_are(
    workspace: Workspace, run, sandbox
) -> None:
    """The store holds values the database cut: a city cut after a space, a state cut
    between a '<' and its '>', a first name of 192 characters ending in a space. Sent back
    as they are, the server would trim the city, escape the '<' and refuse the full name
    (a double space); a PUT of another field keeps all three exactly."""
    city = "Llanfairpwllgwyngyll Gogerychwyrndrobwllllan "
    state = "a" * 40 + " < b "
    postcode = "b" * 43 + " <"  # cut right after a '<'
    first = "F" * 191 + " "
    server = sandbox(
        [
            seed_customer(1, city=city, state=state, first_name=first, last_name="Li"),
            seed_customer(2, city=postcode, postcode=postcode, first_name="x" * 190 + " <"),
        ]
    )
    assert (len(city), len(state), len(first), len(postcode)) == (45, 45, 192, 45)
    workspace.declare(
        "a.yaml", "customers:\n  - id: 1\n    status: inactive\n  - id: 2\n    status: inactive\n"
    )
    workspace.state(recorded_state(server, [1, 2]))
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    row = store_row(server, 1)
    assert row["status"] == "inactive"
    assert (row["city"], row["state"], row["first_name"], row["last_name"]) == (
        city,
        state,
        first,
        "Li",
    )
    row = store_row(server, 2)
    assert row["status"] == "inactive"
    assert (row["city"], row["postcode"], row["first_name"]) == (
        postcode,
        postcode,
        "x" * 190 + " <",
    )
