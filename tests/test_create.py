"""Creating customers: a declared customer without an id is one to create, known by its
email. The plan shows `+ create`; apply creates it (POST /customers), records the new id
against that email, then sets its labels and addresses; `fmt --write-ids` writes the id in.
An email the store already has is refused, naming the customer that has it."""

import json
from pathlib import Path

from reconciler.declared import Rules, load_declared
from reconciler.workspace import NameMode
from tests.conftest import Workspace, seed_customer

RULES = Rules(("active", "inactive"), NameMode.FULL_NAME)
NEW = (
    "customers:\n"
    "  - id: 1\n"
    "    labels: [VIP]\n"
    "  - email: New.Person@example.test\n"
    "    full_name: New Person\n"
    "    city: Oslo\n"
    "    country: 'NO'\n"
    "    labels: [Wholesale]\n"
    "    addresses:\n"
    "      billing:\n"
    "        name: New Person\n"
    "        email: new.person@example.test\n"
    "        address_1: 1 Fjord Rd\n"
    "        city: Oslo\n"
    "        country: 'NO'\n"
)


def test_a_new_customer_end_to_end_on_the_sandbox(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1), seed_customer(2, email="other@example.test")])
    workspace.declare("a.yaml", NEW)
    assert run(workspace, "validate").exit_code == 0
    assert run(workspace, "import").exit_code == 0
    plan = run(workspace, "plan")
    assert plan.exit_code == 0, plan.output
    assert '+ customer "New.Person@example.test" {' in plan.stdout, plan.stdout
    assert '+ full_name = "New Person"' in plan.stdout
    assert "+ new billing address (primary)" in plan.stdout
    assert "Plan: 1 to create, 1 to change" in plan.stdout, plan.stdout
    document = json.loads(run(workspace, "plan", "--format", "json").stdout)
    assert document["summary"]["create"] == 1
    (create,) = [c for c in document["changes"] if c["action"] == "create"]
    assert create["id"] is None
    applied = run(workspace, "apply", "-auto-approve")
    assert applied.exit_code == 0, applied.output
    assert 'new customer "New.Person@example.test": changed: created as customer 3' in (
        applied.output
    ), applied.output
    store = server.store
    assert store.customers[3]["email"] == "New.Person@example.test"
    assert store.customers[3]["city"] == "Oslo"
    _, labels = store.labels()
    titles = {row["id"]: row["value"] for row in labels["labels"]}
    assert [titles[int(link["label_id"])] for link in store._links(3)] == ["Wholesale"]
    _, body = store.addresses("3", {})
    assert [(a["city"], a["is_primary"]) for a in body["addresses"]] == [("Oslo", "1")]
    state = workspace.read_state()
    assert state["customers"]["3"]["last_applied"]["fluentcart:created"] == (
        "New.Person@example.test"
    )
    # Found again by its email: nothing more to do, and nothing created twice.
    again = run(workspace, "plan", "--refresh", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "created as customer 3: `fluentcart fmt --write-ids`" in again.output
    posts = [p for m, p in server.requests if m == "POST" and p.endswith("/customers")]
    assert len(posts) == 1, server.requests
    # The id written in: the file becomes the usual id-keyed form.
    written = run(workspace, "fmt", "--write-ids")
    assert written.exit_code == 0, written.output
    text = (workspace.root / "customers" / "a.yaml").read_text()
    assert "  - id: 3\n    email: New.Person@example.test\n" in text, text
    final = run(workspace, "plan", "--refresh", "--detailed-exitcode")
    assert final.exit_code == 0, final.output
    assert "write-ids" not in final.output


def test_an_email_the_store_has_is_an_error_at_plan_refresh_and_at_apply(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1), seed_customer(2, email="Taken@Example.test")])
    workspace.declare(
        "a.yaml", "customers:\n  - id: 1\n  - email: taken@example.test\n    full_name: X Y\n"
    )
    assert run(workspace, "import").exit_code == 0
    plan = run(workspace, "plan", "--refresh")
    assert plan.exit_code == 1
    assert "customer 2 on the store has this email" in plan.output, plan.output
    assert "`fluentcart import 2`" in plan.output
    # Without --refresh the plan cannot know; apply fails clearly and creates nothing.
    applied = run(workspace, "apply", "-auto-approve")
    assert applied.exit_code == 1, applied.output
    assert "customer 2 on the store already has this email" in applied.output, applied.output
    assert "`fluentcart import 2` and write `id: 2` in customers/a.yaml" in applied.output
    assert len(server.store.customers) == 2


def test_an_email_recorded_in_the_state_is_an_error_offline(
    workspace: Workspace, run, sandbox
) -> None:
    sandbox([seed_customer(1, email="ada@example.test")])
    workspace.declare(
        "a.yaml", "customers:\n  - id: 1\n  - email: ADA@example.test\n    full_name: X Y\n"
    )
    assert run(workspace, "import").exit_code == 0
    plan = run(workspace, "plan")
    assert plan.exit_code == 1
    assert "customer 1 has this email (it is in the state)" in plan.output, plan.output


def test_a_new_customer_needs_its_email_and_the_name_its_mode_requires(tmp_path: Path) -> None:
    """The email when the file is read; the name by the plan, which knows from the state
    whether apply created the customer already (then it is an update, and needs no name)."""
    from reconciler.diagnostics import Severity
    from reconciler.plan import build_plan, resolve_created
    from reconciler.state import CREATED_FROM, CustomerRecord
    from tests.conftest import make_state, observed

    def errors(plan):
        return [d for d in plan.diagnostics if d.severity is Severity.ERROR]

    path = tmp_path / "c.yaml"
    path.write_text("customers:\n  - full_name: No Email\n  - email: a@example.test\n")
    declaration = load_declared([(path, "c.yaml")], RULES)
    (error,) = declaration.errors
    assert "declare email" in error.message
    plan = build_plan(declaration, make_state([]), NameMode.FULL_NAME)
    assert [(d.line, d.message) for d in errors(plan)][-1:] == [
        (3, "creating a customer in full-name mode needs full_name (HTTP 422)")
    ]
    first_last = Rules(("active",), NameMode.FIRST_LAST)
    path.write_text("email: a@example.test\nlast_name: Only\n")
    declaration = load_declared([(path, "c.yaml")], first_last)
    assert declaration.errors == []
    (error,) = errors(build_plan(declaration, make_state([]), NameMode.FIRST_LAST))
    assert "needs first_name" in error.message
    # Created already: the state knows it by its email, and the plan is an update.
    state = make_state([])
    state.customers[5] = CustomerRecord(
        observed(5, email="a@example.test"),
        "2026-12-01T00:00:00Z",
        {CREATED_FROM: "a@example.test"},
    )
    plan = build_plan(resolve_created(declaration, state), state, NameMode.FIRST_LAST)
    assert errors(plan) == [], plan.diagnostics


def test_the_readme_says_why_nothing_is_deleted() -> None:
    readme = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
    assert "**Nothing is ever deleted.**" in readme
    assert "also deletes the customer's orders" in readme


def test_a_saved_plan_creates_as_planned(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1)])
    workspace.declare(
        "a.yaml", "customers:\n  - id: 1\n  - email: n@example.test\n    full_name: N M\n"
    )
    assert run(workspace, "import").exit_code == 0
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    shown = run(workspace, "show", "p.plan")
    assert '+ customer "n@example.test" {' in shown.stdout, shown.stdout
    applied = run(workspace, "apply", "p.plan", "-auto-approve")
    assert applied.exit_code == 0, applied.output
    assert server.store.customers[2]["email"] == "n@example.test"
    # --target names ids: a plan for one customer creates nobody.
    workspace.declare(
        "a.yaml",
        "customers:\n  - id: 1\n    city: Rome\n  - email: z@example.test\n    full_name: Z\n",
    )
    targeted = run(workspace, "apply", "--target", "1", "-auto-approve")
    assert targeted.exit_code == 0, targeted.output
    assert len(server.store.customers) == 2


def test_a_lost_create_answer_is_not_sent_again(workspace: Workspace, run, sandbox) -> None:
    """POST /customers made but its answer lost: not sent again (a second would be refused,
    or with a store that allowed it, make two); the failure names the customer that now has
    the email and how to take it over."""
    server = sandbox([seed_customer(1)])
    workspace.declare("a.yaml", "customers:\n  - email: lost@example.test\n    full_name: Lo St\n")
    assert run(workspace, "import").exit_code == 0
    server.lose_answer = lambda method, path: method == "POST" and path.endswith("/customers")
    applied = run(workspace, "apply", "-auto-approve")
    server.lose_answer = None
    assert applied.exit_code == 1, applied.output
    posts = [p for m, p in server.requests if m == "POST" and p.endswith("/customers")]
    assert len(posts) == 1, server.requests
    assert "customer 2 now has this email: the request was probably made" in applied.output
    assert "`fluentcart import 2` and write `id: 2` in customers/a.yaml" in applied.output
    assert [c["email"] for c in server.store.customers.values()].count("lost@example.test") == 1


def test_a_saved_plan_applied_again_creates_nothing_twice(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1)])
    workspace.declare(
        "a.yaml",
        "customers:\n  - id: 1\n    city: Oslo\n  - email: again@example.test\n    full_name: A B\n",
    )
    assert run(workspace, "import").exit_code == 0
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    server.store.customers[1]["city"] = "Bergen"  # changed outside: apply skips customer 1
    first = run(workspace, "apply", "p.plan")
    assert "created as customer 2" in first.output, first.output
    server.store.customers[1]["city"] = ""
    again = run(workspace, "apply", "p.plan")
    assert "Traceback" not in again.output and "internal error" not in again.output, again.output
    assert "created by an earlier apply of this plan" in again.output, again.output
    posts = [p for m, p in server.requests if m == "POST" and p.endswith("/customers")]
    assert len(posts) == 1


def test_a_created_customer_is_recorded_even_when_reading_it_back_fails(
    tmp_path: Path, sandbox, backend
) -> None:
    """The POST answered; the GET that follows fails (interrupted, a timeout): the new id is
    in the state at once, and the failure says which customer was created."""
    from reconciler.apply import Applier, Outcome
    from reconciler.client import ClientOptions, Credentials, FluentCartClient, TransportError
    from reconciler.plan import build_plan
    from tests.conftest import PASSWORD, make_state

    class ReadFails(FluentCartClient):
        def get_customer(self, customer_id: int):
            raise TransportError("GET /customers/2: the store did not answer in time")

    server = sandbox([seed_customer(1)])
    path = tmp_path / "c.yaml"
    path.write_text("email: lost.read@example.test\nfull_name: Lo Read\n")
    declaration = load_declared([(path, "c.yaml")], RULES)
    state = make_state([])
    state.site = server.url
    root = tmp_path / "ws"
    backend.prepare(root, state)
    storage = backend.storage(root)
    plan = build_plan(declaration, backend.stored(root), NameMode.FULL_NAME)
    client = ReadFails(server.url, Credentials("admin", PASSWORD), ClientOptions(retries=0))
    with storage.lock("apply"):
        on_disk, working, _ = storage.recover(backend.stored(root))
        recorder = storage.recorder()
        try:
            applier = Applier(
                client, recorder, NameMode.FULL_NAME, {}, creates=dict(declaration.creates)
            )
            (result,) = applier.run(list(plan.changes)).results
        finally:
            recorder.close()
        storage.persist(working, on_disk)
    client.close()
    assert result.outcome is Outcome.FAILED and result.id == 2, result
    assert result.message.startswith("created as customer 2; reading it back failed"), result
    stored = backend.stored(root)
    assert stored is not None and stored.created() == {"lost.read@example.test": 2}
