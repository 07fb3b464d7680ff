"""Drift and adoption against the sandbox: three-way plans, gone, refresh, import with YAML."""

import json
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import yamlsource
from reconciler.generate import scalar
from reconciler.lock import StateLock
from reconciler.sandbox.server import Faults
from reconciler.state import CustomerRecord
from reconciler.storage.file import Journal
from tests.conftest import Workspace, recorded_state, seed_customer

DECLARED = (
    "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n    city: Oslo\n  - id: 3\n    city: Rome\n"
)


@pytest.fixture
def drifted(workspace: Workspace, sandbox):
    """Customer 1: YAML changed (config). 2: store changed (drift). 3: both. 4: unchanged."""
    server = sandbox(
        [seed_customer(i, city=c) for i, c in ((1, "Lyon"), (2, "Oslo"), (3, "Bern"), (4, "Kyiv"))]
    )
    workspace.declare(
        "a.yaml",
        "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n    city: Oslo\n  - id: 3\n    city: Rome\n  - id: 4\n    city: Kyiv\n",
    )
    workspace.state(recorded_state(server, [1, 2, 3, 4]))
    server.store.customers[2]["city"] = "Bergen"
    server.store.customers[3]["city"] = "Basel"
    return server


def fields_of(document: dict) -> dict[int, list[dict]]:
    return {c["id"]: c["fields"] for c in document["changes"]}


def test_each_origin_in_json(workspace: Workspace, run, drifted) -> None:
    result = run(workspace, "plan", "--refresh", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["refreshed"] is True
    changed = fields_of(document)
    assert changed[1] == [
        {
            "name": "city",
            "before": "Lyon",
            "after": "Paris",
            "origin": "config",
            "live": "Lyon",
            "recorded": "Lyon",
        }
    ]
    assert changed[2] == [
        {
            "name": "city",
            "before": "Bergen",
            "after": "Oslo",
            "origin": "drift",
            "live": "Bergen",
            "recorded": "Oslo",
        }
    ]
    assert changed[3] == [
        {
            "name": "city",
            "before": "Basel",
            "after": "Rome",
            "origin": "both",
            "live": "Basel",
            "recorded": "Bern",
        }
    ]
    assert 4 not in changed
    assert [d["id"] for d in document["drift"]] == [2, 3]
    assert document["summary"]["drifted"] == 2


def test_drift_section_comes_first_in_text(workspace: Workspace, run, drifted) -> None:
    text = run(workspace, "plan", "--refresh").stdout
    assert text.index("changed outside fluentcart") < text.index(
        "fluentcart will make these changes"
    )
    assert '~ city = "Oslo" -> "Bergen"' in text  # recorded -> live
    assert '# drift: changed on the store (recorded "Oslo"); the declared value wins' in text
    assert (
        '# both: changed in the YAML (recorded "Bern") and on the store; the store\'s value is overwritten'
        in text
    )


def test_markdown_has_the_drift_and_origins(workspace: Workspace, run, drifted) -> None:
    text = run(workspace, "plan", "--refresh", "--format", "markdown").stdout
    assert "Changed outside fluentcart since recorded (2 customer(s))" in text
    assert (
        "| Field | Live | After | Origin |" in text and "| drift |" in text and "| both |" in text
    )


def test_plan_without_refresh_stays_offline(workspace: Workspace, run, drifted) -> None:
    before = drifted.count()
    document = json.loads(run(workspace, "plan", "--format", "json").stdout)
    assert drifted.count() == before
    assert document["refreshed"] is False
    assert {c["id"] for c in document["changes"]} == {1, 3}
    assert all(f["origin"] == "config" and f["live"] is None for f in fields_of(document)[3])


def test_apply_skips_unseen_drift_and_refresh_overwrites_it(
    workspace: Workspace, run, drifted
) -> None:
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert "customer 3: skipped: changed outside fluentcart since the plan" in result.stdout
    assert drifted.store.customers[3]["city"] == "Basel"
    result = run(workspace, "apply", "--refresh", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert [drifted.store.customers[i]["city"] for i in (1, 2, 3, 4)] == [
        "Paris",
        "Oslo",
        "Rome",
        "Kyiv",
    ]
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0


def test_saved_refreshed_plan_applies(workspace: Workspace, run, drifted) -> None:
    assert run(workspace, "plan", "--refresh", "-out", "p.plan").exit_code == 0
    result = run(workspace, "apply", "p.plan")
    assert result.exit_code == 0, result.output
    assert drifted.store.customers[2]["city"] == "Oslo"


def test_gone_customers_are_reported_and_others_proceed(workspace: Workspace, run, drifted) -> None:
    del drifted.store.customers[1]
    result = run(workspace, "plan", "--refresh", "--detailed-exitcode")
    assert result.exit_code == 2
    assert "customer 1 no longer exists on the store" in result.stdout
    assert "1 gone from the store." in result.stdout
    document = json.loads(run(workspace, "plan", "--refresh", "--format", "json").stdout)
    assert {c["id"]: c["action"] for c in document["changes"]}[1] == "gone"
    result = run(workspace, "apply", "--refresh", "--auto-approve")
    assert drifted.store.customers[3]["city"] == "Rome"  # the others were applied
    result = run(workspace, "refresh")
    assert result.exit_code == 0
    assert "customer 1 no longer exists on the store: dropped from the state" in result.stderr
    assert "1" not in workspace.read_state()["customers"]


def test_refresh_only_and_refresh(workspace: Workspace, run, drifted) -> None:
    plan = run(workspace, "plan", "--refresh-only", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert "Refresh: 2 customer(s) changed outside fluentcart" in plan.stdout
    assert "will be updated" not in plan.stdout
    # No changes follow a refresh-only plan's drift, so it does not announce any.
    assert "The changes below start from these live values." not in plan.stdout
    assert "The changes below start" in run(workspace, "plan", "--refresh").stdout
    serial = workspace.read_state()["serial"]
    result = run(workspace, "refresh")
    assert result.exit_code == 0, result.output
    assert "Refresh complete: 2 customer(s) updated, 0 gone, 2 unchanged" in result.stdout
    # Field-level explanation, unmanaged and nested fields included.
    assert "customer 2: changed on the store: city, formatted_address.city" in result.stdout
    state = workspace.read_state()
    assert state["serial"] == serial + 1
    assert state["customers"]["2"]["observed"]["city"] == "Bergen"
    assert drifted.count("PUT") == 0
    again = run(workspace, "refresh")
    assert "the state did not change" in again.stdout
    assert workspace.read_state()["serial"] == serial + 1
    assert (
        "No changes. The state matches the store."
        in run(workspace, "plan", "--refresh-only").stdout
    )


def test_apply_refresh_only_asks_unless_approved(workspace: Workspace, run, drifted) -> None:
    assert (
        run(workspace, "apply", "--refresh-only").exit_code == 1
    )  # no terminal, no --auto-approve
    result = run(workspace, "apply", "--refresh-only", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert workspace.read_state()["customers"]["3"]["observed"]["city"] == "Basel"


def test_large_refresh_costs_list_pages_not_gets(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(i) for i in range(1, 1001)])
    workspace.declare("a.yaml", "customers:\n" + "".join(f"  - id: {i}\n" for i in range(1, 1001)))
    workspace.state(recorded_state(server, list(range(1, 1001))))
    result = run(workspace, "plan", "--refresh")
    assert result.exit_code == 0, result.output
    lists = server.count("GET", "/fluent-cart/v2/customers?")
    assert lists <= 7
    assert server.count("GET", "/fluent-cart/v2/customers/") == 0
    assert server.count() <= 8  # the pages plus the name-mode detection


@pytest.mark.parametrize("parallelism", [1, 3])
def test_pages_are_read_at_once_up_to_the_parallelism(
    workspace: Workspace, run, sandbox, parallelism
) -> None:
    """ceil(N / 199) pages, at most --parallelism at a time, taken in page order: the plan
    is the one a page-by-page read makes (2,000 recorded; customer 1500 drifted)."""
    count = 2000
    server = sandbox(
        [seed_customer(i, city="Lyon") for i in range(1, count + 1)],
        faults=Faults(latency_ms=30),
    )
    workspace.declare(
        "a.yaml",
        "customers:\n" + "".join(f"  - id: {i}\n    city: Lyon\n" for i in range(1, count + 1)),
    )
    workspace.state(recorded_state(server, list(range(1, count + 1))))
    server.store.customers[1500]["city"] = "Basel"
    server.requests.clear()
    result = run(
        workspace, "plan", "--refresh", "--parallelism", str(parallelism), "--format", "json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [c["id"] for c in document["changes"]] == [1500]
    assert document["changes"][0]["fields"][0]["live"] == "Basel"
    assert document["summary"]["no_op"] == count - 1
    pages = -(-count // 199)
    assert server.count("GET", "/fluent-cart/v2/customers?") == pages
    assert server.count() <= pages + 2  # and the store's name mode
    assert server.most_in_flight == parallelism


def test_a_few_customers_are_read_one_by_one(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(i) for i in range(1, 500)])
    workspace.declare("a.yaml", "customers:\n  - id: 7\n  - id: 9\n")
    workspace.state(recorded_state(server, [7, 9]))
    run(workspace, "plan", "--refresh")
    assert server.count("GET", "/fluent-cart/v2/customers/") == 2
    assert server.count("GET", "/fluent-cart/v2/customers?") == 0


def test_import_all_with_yaml_then_validate_and_plan_show_nothing(
    workspace: Workspace, run, sandbox
) -> None:
    customers = [
        seed_customer(i, city=["Paris", "Toronto", "ON"][i % 3], postcode=f"{i:05d}", country="CA")
        for i in range(1, 501)
    ]
    customers[10]["state"] = "ON"
    customers[20]["status"] = "inactive"
    customers[30]["user_id"] = "2"
    customers[40]["notes"] = "O'Brien: VIP # since 2020"
    sandbox(customers)
    assert run(workspace, "init").exit_code == 0
    result = run(workspace, "import", "--all", "--generate-yaml", "customers/")  # 100 a file
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (workspace.root / "customers").iterdir())
    assert files == [f"customers-{a:06d}-{a + 99:06d}.yaml" for a in range(1, 501, 100)]
    first = (workspace.root / "customers" / files[0]).read_text()
    assert first.startswith(
        "# yaml-language-server: $schema=../.fluentcart/schemas/customer.schema.json\n"
    )
    assert "postcode: '00001'" in first and "state: 'ON'" in first
    assert stat.S_IMODE((workspace.root / "customers" / files[0]).stat().st_mode) == 0o644
    assert len(workspace.read_state()["customers"]) == 500
    assert run(workspace, "validate").exit_code == 0
    fmt_check = run(workspace, "fmt", "--check")  # generated files are already canonical
    assert fmt_check.exit_code == 0, fmt_check.output
    assert "0 file(s) would be reformatted, 5 already canonical." in fmt_check.stderr
    assert run(workspace, "plan", "--detailed-exitcode").exit_code == 0
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0


def test_one_file_per_customer_and_never_overwrite(workspace: Workspace, run, sandbox) -> None:
    sandbox([seed_customer(i) for i in (1, 2, 3)])
    (workspace.root / "customers" / "customer-000002.yaml").write_text("# mine\nid: 99\n")
    workspace.config("")
    result = run(workspace, "import", "1", "2", "--generate-yaml", "customers", "--per-file", "1")
    assert result.exit_code == 1
    assert "customer-000002.yaml exists; fluentcart never overwrites a file" in result.stderr
    assert (workspace.root / "customers" / "customer-000002.yaml").read_text() == "# mine\nid: 99\n"
    generated = (workspace.root / "customers" / "customer-000001.yaml").read_text()
    assert (
        "\nid: 1\nemail: customer1@example.org\nfull_name: Test Customer1\nstatus: active\n"
        in generated
    )


def test_values_validate_would_reject_get_a_comment(workspace: Workspace, run, sandbox) -> None:
    sandbox(
        [
            seed_customer(
                1, first_name="Jane ", last_name=" Doe", city="New  York", notes="<b>vip</b>"
            )
        ]
    )
    workspace.config("")
    result = run(workspace, "import", "--all", "--generate-yaml", "customers", "--per-file", "1")
    # The import itself says what validate will reject, where, and exits 1.
    assert result.exit_code == 1, result.output
    assert "customers/customer-000001.yaml:" in result.stderr
    assert "customer 1: city:" in result.stderr and "two or more spaces" in result.stderr
    text = (workspace.root / "customers" / "customer-000001.yaml").read_text()
    assert "# fluentcart: fix this value before the next apply:" in text
    validation = run(workspace, "validate")
    assert validation.exit_code == 1
    assert "customer 1: city:" in validation.stdout and "two or more spaces" in validation.stdout


def test_adoption_refusals(workspace: Workspace, run, sandbox) -> None:
    sandbox([seed_customer(i) for i in (1, 2)])
    workspace.declare("a.yaml", "id: 1\n")
    workspace.config("")
    result = run(workspace, "import", "--all")
    assert result.exit_code == 1 and "need --generate-yaml DIR" in result.stderr
    result = run(workspace, "import", "--all", "1", "--generate-yaml", "customers")
    assert result.exit_code == 1 and "give no ids" in result.stderr
    result = run(workspace, "import", "1", "--generate-yaml", "customers")
    assert result.exit_code == 1
    assert "refused: customer 1 is already declared at customers/a.yaml:1" in result.stderr
    result = run(
        workspace,
        "import",
        "--search",
        "customer2",
        "--generate-yaml",
        "elsewhere",
        "--per-file",
        "1",
    )
    assert result.exit_code == 0
    assert "is not where fluentcart.yaml looks for declared files" in result.stderr
    assert (workspace.root / "elsewhere" / "customer-000002.yaml").exists()


def test_state_commands(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(i) for i in (1, 2)])
    workspace.declare("a.yaml", "id: 1\n")
    workspace.state(recorded_state(server, [1, 2]))
    listing = run(workspace, "state", "list")
    assert listing.exit_code == 0
    assert "customer1@example.org" in listing.stdout and "2 customer(s)" in listing.stdout
    shown = run(workspace, "state", "show", "2")
    assert json.loads(shown.stdout)["observed"]["id"] == 2
    assert run(workspace, "state", "show", "9").exit_code == 1
    removed = run(workspace, "state", "rm", "1", "2")
    assert removed.exit_code == 0
    assert "still declared at customers/a.yaml:1" in removed.stdout
    assert workspace.read_state()["customers"] == {}
    assert server.count() == 0  # the store was never contacted
    assert run(workspace, "state", "rm", "5").exit_code == 1


def test_state_commands_that_write_take_the_lock_and_readers_do_not(
    workspace: Workspace, run, sandbox
) -> None:
    """While an apply holds the lock, `state rm` is refused; `state list`, `show` and `pull`
    read a consistent snapshot (the file is replaced whole, the journal folded in)."""
    server = sandbox([seed_customer(1)])
    workspace.state(recorded_state(server, [1]))
    with StateLock(workspace.root / "fluentcart.state.json", "apply"):
        result = run(workspace, "state", "rm", "1")
        assert result.exit_code == 1 and "the state is locked" in result.stderr
        for args in (("state", "list"), ("state", "show", "1"), ("state", "pull")):
            result = run(workspace, *args)
            assert result.exit_code == 0, (args, result.output)
            assert "customer" in result.stdout or '"customers"' in result.stdout


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_generated_scalars_read_back_exactly(value: str) -> None:
    assert yamlsource.parse(f"key: {scalar(value)}\n").value == {"key": value}


def test_adopting_into_an_empty_workspace(tmp_path, run, sandbox) -> None:
    sandbox([seed_customer(i) for i in (1, 2)])
    result = run(tmp_path, "import", "--init", "--all", "--generate-yaml", "customers")
    assert result.exit_code == 0, result.output
    assert "created fluentcart.yaml" in result.stderr
    assert run(tmp_path, "plan", "--detailed-exitcode").exit_code == 0


def test_state_rm_after_an_interrupted_apply_stays_removed(
    workspace: Workspace, run, sandbox
) -> None:
    """An interrupted apply's journal holds customer 2: `state rm 2` folds it, removes the
    customer, and clears the journal, so no later run brings the customer back."""
    server = sandbox([seed_customer(i) for i in (1, 2)])
    workspace.state(recorded_state(server, [1, 2]))
    journal = Journal(workspace.root / "fluentcart.state.json")
    journal.record(2, CustomerRecord(server.store.serialize(server.store.customers[2]), "now", {}))
    journal.close()
    result = run(workspace, "state", "rm", "2")
    assert result.exit_code == 0, result.output
    assert not (workspace.root / "fluentcart.state.json.journal").exists()
    assert list(workspace.read_state()["customers"]) == ["1"]
    assert "2" not in run(workspace, "state", "list").stdout.split()


def test_redact_masks_drift_live_and_recorded_values_in_json_and_show(
    workspace: Workspace, run, sandbox, tmp_path
) -> None:
    """--redact on a refreshed plan with drift: the recorded, live, before and after values
    of emails and of `sensitive:` fields appear in no format, nor in `show PLAN`."""
    server = sandbox(
        [
            seed_customer(1, email="ada.recorded@example.org", notes="card 1111 recorded"),
            seed_customer(2, email="bob.recorded@example.org", notes="card 2222 recorded"),
        ]
    )
    (workspace.root / "fluentcart.yaml").write_text("name_mode: full_name\nsensitive: [notes]\n")
    workspace.declare(
        "a.yaml",
        "customers:\n"
        "  - id: 1\n    email: ada.declared@example.org\n    notes: card 3333 declared\n"
        "  - id: 2\n    email: bob.recorded@example.org\n    notes: card 2222 recorded\n",
    )
    workspace.state(recorded_state(server, [1, 2]))
    for i in (1, 2):  # edited on the store since recorded: drift, and live values
        server.store.customers[i]["email"] = f"live.{i}@example.org"
        server.store.customers[i]["notes"] = f"card {i}{i}{i}9 live"
    planted = ["ada.", "bob.", "live.", "1111", "2222", "3333", "1119", "2229"]
    plan_file = tmp_path / "p.plan"
    for fmt in ("json", "text", "markdown"):
        result = run(workspace, "plan", "--refresh", "--format", fmt, "--redact")
        assert result.exit_code == 0, result.output
        assert not [s for s in planted if s in result.output], (fmt, result.output)
    assert run(workspace, "plan", "--refresh", "-out", str(plan_file)).exit_code == 0
    for fmt in ("json", "text", "markdown"):
        shown = run(workspace, "show", str(plan_file), "--format", fmt, "--redact")
        assert shown.exit_code == 0, shown.output
        assert not [s for s in planted if s in shown.output], (fmt, shown.output)
    unredacted = run(workspace, "plan", "--refresh", "--format", "json").stdout
    assert all(s in unredacted for s in planted)  # they were there to leak


@pytest.mark.parametrize("events", [False, True], ids=["text", "json-events"])
def test_apply_redact_masks_the_plan_the_results_and_the_events(
    workspace: Workspace, run, sandbox, tmp_path, events: bool
) -> None:
    """`apply --redact`: the plan it prints (with drift), each customer's result (a skip that
    quotes the values moved on the store since the plan, a store's refusal) and the JSON
    events carry none of the emails or `sensitive:` values."""
    server = sandbox(
        [
            seed_customer(1, email="ada.recorded@example.org", notes="card 1111 recorded"),
            seed_customer(2, email="bob.recorded@example.org", notes="card 2222 recorded"),
            seed_customer(3, email="cy.recorded@example.org", notes="card 3333 recorded"),
        ]
    )
    (workspace.root / "fluentcart.yaml").write_text("name_mode: full_name\nsensitive: [notes]\n")
    workspace.declare(
        "a.yaml",
        "customers:\n"
        "  - id: 1\n    email: ada.declared@example.org\n    notes: card 4444 declared\n"
        "  - id: 2\n    notes: card 5555 declared\n"
        "  - id: 3\n    email: cy.declared@example.org\n",
    )
    workspace.state(recorded_state(server, [1, 2, 3]))
    server.store.customers[3]["notes"] = "card 3339 drift"  # drift shown by --refresh
    plan_file = tmp_path / "p.plan"
    assert run(workspace, "plan", "--refresh", "-out", str(plan_file)).exit_code == 0
    # Moved on the store after the plan: apply skips them and says from what to what.
    server.store.customers[1]["email"] = "ada.moved@example.org"
    server.store.customers[2]["notes"] = "card 2229 moved"
    planted = ["ada.", "bob.", "cy.", "1111", "2222", "3333", "4444", "5555", "3339", "2229"]
    args = ["apply", str(plan_file), "--redact", *(["--json"] if events else [])]
    result = run(workspace, *args)
    assert "skipped" in result.output and "since the plan" in result.output, result.output
    assert not [s for s in planted if s in result.output], result.output
    if events:
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert {"apply_errored", "summary"} <= {e["type"] for e in lines}

    server.store.customers[1]["email"] = "ada.recorded@example.org"
    server.store.customers[2]["notes"] = "card 2222 recorded"
    unredacted = run(workspace, "apply", str(plan_file), *(["--json"] if events else []))
    assert [s for s in ("ada.", "4444", "5555") if s in unredacted.output]  # there to leak


def test_state_rm_then_import_then_refresh_reports_no_change(
    workspace: Workspace, run, sandbox
) -> None:
    """`import 2` reads customer 2 with GET /customers/2, whose answer also carries
    `selected_labels` and `labels` (relationship rows); the record keeps the shape of list
    pages (labels as titles), so the next refresh (which reads list pages) finds nothing
    changed."""
    server = sandbox([seed_customer(i) for i in (1, 2, 3, 4)])
    workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in (1, 2, 3, 4))
    )
    workspace.state(recorded_state(server, [1, 2, 3, 4]))
    assert run(workspace, "state", "rm", "2").exit_code == 0
    result = run(workspace, "import", "2")
    assert result.exit_code == 0, result.output
    assert server.count("GET", "/fluent-cart/v2/customers/2") == 1  # read with a single GET
    recorded = workspace.read_state()["customers"]["2"]["observed"]
    assert recorded["labels"] == [] and "selected_labels" not in recorded
    result = run(workspace, "refresh")
    assert result.exit_code == 0, result.output
    assert "changed on the store" not in result.output, result.output
    assert "Refresh complete: 0 customer(s) updated" in result.output


def test_generated_yaml_keeps_a_value_the_database_cut_after_a_space(
    workspace: Workspace, run, sandbox
) -> None:
    """import --generate-yaml writes the text validate maps to the stored value: a city cut
    at 45 characters after a space gets a '>' (which the cut removes again), so the next
    plan is empty and an apply keeps the store's value."""
    cut = "Llanfairpwllgwyngyll Gogerychwyrndrobwllllan "
    server = sandbox([seed_customer(1, city=cut)])
    assert run(workspace, "init").exit_code == 0
    result = run(workspace, "import", "--all", "--generate-yaml", "customers/")
    assert result.exit_code == 0, result.output
    text = next((workspace.root / "customers").iterdir()).read_text()
    assert "city: Llanfairpwllgwyngyll Gogerychwyrndrobwllllan >" in text
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0
    assert server.store.customers[1]["city"] == cut
