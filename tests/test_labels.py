"""Labels: declared as titles, compared as the store compares them, planned as added and
removed, applied as the full set (never a body that clears them by omission), created only
when the plan says so, recorded with the store's catalog, imported and formatted as titles."""

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply import Outcome
from reconciler.client import ClientOptions, Credentials, FluentCartClient, TransportError
from reconciler.declared import Rules, load_declared
from reconciler.fmt import format_text
from reconciler.labels import Catalog, Labels, missing_label
from reconciler.plan import build_plan
from reconciler.state import CustomerRecord
from reconciler.statefile import FORMAT_VERSION, parse, serialize
from reconciler.views.jsonplan import render_json
from reconciler.views.markdown import render_markdown
from reconciler.views.text import render_text
from reconciler.workspace import NameMode
from tests.backends import apply_changes
from tests.conftest import PASSWORD, Workspace, as_recorded, make_state, observed, seed_customer

RULES = Rules(("active", "inactive"), NameMode.FULL_NAME)


def _declare(tmp_path: Path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return load_declared([(path, "c.yaml")], RULES)


# ---- the value ------------------------------------------------------------------------------


def test_labels_are_a_set_compared_ignoring_case_and_accents() -> None:
    assert Labels(["VIP", "Wholesale"]) == Labels(["wholesale", "vïp"])
    assert Labels(["VIP"]) == ["vip"] and Labels(["VIP"]) == ["Vip"]
    assert Labels(["VIP"]) != Labels(["VIP", "B2B"])
    assert Labels(["VIP", "vip", "Vïp"]) == ("VIP",) and len(Labels(["VIP", "vip"])) == 1
    assert Labels(["b", "A"]) == ("A", "b")  # the table's order
    assert hash(Labels(["VIP"])) == hash(Labels(["vip"]))
    assert Labels(["VIP"]) != "VIP" and Labels() != ""
    assert Labels(["VIP", "B2B"]).without(Labels(["vip"])) == ("B2B",)


def test_the_catalog_finds_a_label_the_way_the_unique_key_does() -> None:
    catalog = Catalog({1: "VIP", 4: "Wholesale"})
    assert catalog.id_of("vïp ") == 1 and catalog.id_of("B2B") is None
    assert catalog.missing(["vip", "B2B"]) == ("B2B",)
    assert catalog.title_of(999) == missing_label(999)
    assert Catalog.from_json(catalog.to_json()) == catalog


# ---- declaring --------------------------------------------------------------------------------


def test_declared_titles_are_cleaned_checked_and_kept_as_written(tmp_path: Path) -> None:
    declaration = _declare(
        tmp_path,
        "id: 1\nlabels:\n  - VIP\n  - 010\n  - yes\n  - '  Spaced  '\n  - vip\n",
    )
    assert not declaration.errors
    assert declaration.customers[1].fields["labels"] == ("010", "Spaced", "VIP", "yes")
    (warning,) = declaration.diagnostics
    assert warning.line == 7 and 'same label as "VIP"' in warning.message


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("id: 1\nlabels: VIP\n", 2, '"VIP" is not a list'),
        ("id: 1\nlabels:\n  - ok\n  - [a]\n", 4, "a list is not text or a number"),
        ("id: 1\nlabels:\n  - ok\n  - ''\n", 4, "empty label title"),
        ("id: 1\nlabels:\n  - '<b>VIP</b>'\n", 3, "HTTP 422"),
        ("id: 1\nlabels:\n  - ~\n", 3, "is not text or a number"),
    ],
)
def test_a_bad_title_is_an_error_at_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    declaration = _declare(tmp_path, text)
    (error,) = declaration.errors
    assert error.line == line and error.field == "labels", error
    assert message in error.message


def test_a_title_longer_than_the_column_is_cut_with_a_warning(tmp_path: Path) -> None:
    declaration = _declare(tmp_path, f"id: 1\nlabels: [{'x' * 200}]\n")
    assert declaration.customers[1].fields["labels"] == ("x" * 192,)
    assert "keeps 192" in declaration.diagnostics[0].message


# ---- planning ---------------------------------------------------------------------------------


def _plan(tmp_path: Path, text: str, recorded: dict[str, Any], catalog=None, **kw: Any):
    state = make_state([observed(1, **recorded)])
    state.labels = catalog
    return build_plan(_declare(tmp_path, text), state, NameMode.FULL_NAME, **kw)


def test_the_plan_shows_labels_added_and_removed_and_the_ones_it_creates(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        "id: 1\nlabels: [vip, Wholesale]\n",
        {"labels": ["B2B", "VIP"]},
        Catalog({1: "VIP", 2: "B2B"}),
    )
    (change,) = plan.changes
    (item,) = change.fields
    assert item.added == ("Wholesale",) and item.removed == ("B2B",)
    assert plan.new_labels == ("Wholesale",)
    text = render_text(plan)
    assert '+ label "Wholesale"' in text
    assert '(+ "Wholesale", - "B2B")' in text
    document = json.loads(render_json(plan))
    assert document["new_labels"] == ["Wholesale"]
    (field,) = document["changes"][0]["fields"]
    assert field["added"] == ["Wholesale"] and field["removed"] == ["B2B"]
    assert "`labels`: + &quot;Wholesale&quot;" in render_markdown(plan) or (
        '`labels`: + "Wholesale", - "B2B"' in render_markdown(plan)
    )


def test_the_same_labels_spelled_otherwise_are_no_change(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "id: 1\nlabels: [vip, b2b]\n", {"labels": ["B2B", "VIP"]})
    assert not plan.changes and plan.unchanged == 1


def test_not_declaring_labels_leaves_them_out_of_the_plan(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "id: 1\ncity: Oslo\n", {"labels": ["VIP"]})
    assert [f.name for f in plan.changes[0].fields] == ["city"]


def test_labels_a_record_never_read_are_shown_as_not_recorded(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "id: 1\nlabels: [VIP]\n", {})
    (item,) = plan.changes[0].fields
    assert item.before is None and item.added == ("VIP",)
    assert '= (not recorded) -> ["VIP"]' in render_text(plan)


def test_a_workspace_that_creates_no_labels_makes_a_missing_one_an_error(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        "id: 1\nlabels: [VIP, Wholesale]\n",
        {"labels": []},
        Catalog({1: "VIP"}),
        create_labels=False,
    )
    (error,) = plan.diagnostics
    assert error.line == 2 and '"Wholesale"' in error.message and "create_labels" in error.message


def test_without_a_recorded_catalog_the_customers_labels_are_known(tmp_path: Path) -> None:
    state = make_state([observed(1, labels=[]), observed(2, labels=["VIP"])])
    declaration = _declare(tmp_path, "customers:\n  - id: 1\n    labels: [VIP, New]\n")
    plan = build_plan(declaration, state, NameMode.FULL_NAME)
    assert plan.new_labels == ("New",)


# ---- the state --------------------------------------------------------------------------------


def test_a_version_1_state_reads_and_is_written_as_the_current_version() -> None:
    state = make_state([observed(1)])
    old = json.loads(serialize(state))
    old["format_version"] = 1
    read = parse(json.dumps(old).encode(), "old.json")
    assert read.labels is None
    read.labels = Catalog({3: "VIP"})
    read.customers[1] = CustomerRecord(observed(1, labels=["VIP"]), "t", {"labels": ["VIP"]})
    again = parse(serialize(read), "new.json")
    assert json.loads(serialize(read))["format_version"] == FORMAT_VERSION
    assert again.labels == Catalog({3: "VIP"})
    assert again.customers[1].observed["labels"] == ["VIP"]


# ---- fmt and import ---------------------------------------------------------------------------


def test_fmt_writes_labels_as_a_block_list_in_the_canonical_place() -> None:
    text = "id: 1\nlabels: [VIP, 010]  # segments\ncity: Oslo\n"
    assert format_text(text) == "id: 1\ncity: Oslo\nlabels:  # segments\n  - VIP\n  - '010'\n"
    listed = "customers:\n  - labels: []\n    id: 2\n"
    assert format_text(listed) == "customers:\n  - id: 2\n    labels: []\n"


# ---- on the sandbox ---------------------------------------------------------------------------


def _label_titles(server, customer_id: int) -> list[str]:
    store = server.store
    status, body = store.find(customer_id, {})
    assert status == 200
    titles = {row["id"]: row["value"] for row in store.labels()[1]["labels"]}
    return sorted(titles[i] for i in body["customer"]["selected_labels"] if i in titles)


def test_labels_end_to_end_on_the_sandbox(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1), seed_customer(2)])
    server.store.create_label({"value": "VIP"})
    server.store.create_label({"value": "B2B", "bind_to_type": "Customer", "bind_to_id": "2"})
    workspace.declare(
        "a.yaml",
        "customers:\n  - id: 1\n    labels: [vip, Wholesale]\n  - id: 2\n    city: Oslo\n",
    )
    assert run(workspace, "import").exit_code == 0
    plan = run(workspace, "plan")
    assert '+ label "Wholesale"' in plan.stdout, plan.stdout
    assert '(+ "vip", + "Wholesale")' in plan.stdout, plan.stdout
    applied = run(workspace, "apply", "-auto-approve")
    assert applied.exit_code == 0, applied.output
    assert 'created label "Wholesale"' in applied.output
    assert _label_titles(server, 1) == ["VIP", "Wholesale"]
    assert _label_titles(server, 2) == ["B2B"]  # not declared: untouched by its PUT
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0
    state = workspace.read_state()
    assert state["customers"]["1"]["observed"]["labels"] == ["VIP", "Wholesale"]
    assert sorted(state["labels"].values()) == ["B2B", "VIP", "Wholesale"]

    # Removing one label removes it on the store; the other stays.
    workspace.declare("a.yaml", "customers:\n  - id: 1\n    labels: [Wholesale]\n  - id: 2\n")
    assert run(workspace, "apply", "-auto-approve").exit_code == 0
    assert _label_titles(server, 1) == ["Wholesale"]
    # Leaving labels out changes nothing, also when another field changes.
    workspace.declare("a.yaml", "customers:\n  - id: 1\n    city: Bergen\n  - id: 2\n")
    assert run(workspace, "apply", "-auto-approve").exit_code == 0
    assert _label_titles(server, 1) == ["Wholesale"]
    assert server.store.customers[1]["city"] == "Bergen"
    # An empty list removes them all.
    workspace.declare("a.yaml", "customers:\n  - id: 1\n    labels: []\n  - id: 2\n")
    assert run(workspace, "apply", "-auto-approve").exit_code == 0
    assert _label_titles(server, 1) == []
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0
    labels_puts = server.count("PUT", "/fluent-cart/v2/customers/1/additional-info")
    assert labels_puts == 3


def test_apply_creates_only_the_labels_the_saved_plan_announced(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1)])
    server.store.create_label({"value": "VIP"})
    workspace.declare("a.yaml", "id: 1\nlabels: [VIP]\n")
    assert run(workspace, "import").exit_code == 0
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    from reconciler.sandbox.store import LABEL

    server.store.tables[LABEL].clear()  # gone meanwhile (no route deletes one: the sandbox can)
    result = run(workspace, "apply", "p.plan", "-auto-approve")
    assert result.exit_code == 1
    assert 'the store has no label "VIP", and the plan did not say' in result.output
    assert server.count("POST", "/fluent-cart/v2/labels") == 0


def test_import_generate_yaml_writes_labels_as_titles(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1), seed_customer(2)])
    server.store.create_label({"value": "VIP", "bind_to_type": "Customer", "bind_to_id": "1"})
    server.store.create_label({"value": "B2B", "bind_to_type": "Customer", "bind_to_id": "1"})
    server.store.update_additional_info("2", {"labels": [999]})  # a label that does not exist
    result = run(
        workspace, "import", "--init", "--all", "--generate-yaml", "customers", "--per-file", "1"
    )
    assert result.exit_code == 0, result.output
    first = (workspace.root / "customers" / "customer-000001.yaml").read_text()
    assert "labels:\n  - B2B\n  - VIP\n" in first
    second = (workspace.root / "customers" / "customer-000002.yaml").read_text()
    assert "labels" not in second
    assert run(workspace, "validate").exit_code == 0
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0


def test_redact_masks_labels_when_they_are_sensitive(tmp_path: Path) -> None:
    from reconciler.views.redact import MASK, Redactor, redact_plan

    plan = _plan(tmp_path, "id: 1\nlabels: [Debtor]\n", {"labels": []}, Catalog({}))
    shown = redact_plan(plan, Redactor(["labels"], enabled=True))
    for view in (render_text(shown), render_json(shown), render_markdown(shown)):
        assert "Debtor" not in view and MASK in view
    assert "Debtor" in render_text(redact_plan(plan, Redactor([], enabled=True)))


class _LabelsFail(FluentCartClient):
    """A store whose labels endpoint never answers: the customer PUT before it succeeds."""

    def set_labels(self, customer_id: int, label_ids: list[int]) -> None:
        raise TransportError("PUT /customers/1/additional-info: cannot reach the store: reset")


def test_a_labels_put_that_fails_after_the_customer_put_loses_nothing(
    tmp_path: Path, sandbox, backend
) -> None:
    """The customer PUT's answer is recorded; the labels, whose fate is not known, are
    recorded as not read, so the next plan shows them and the next apply reads and sets them.
    In both state backends."""
    server = sandbox([seed_customer(1, city="Lyon")])
    server.store.create_label({"value": "VIP"})
    state = make_state([as_recorded(server, 1)])
    state.site, state.labels = server.url, Catalog({1: "VIP"})
    declaration = _declare(tmp_path, "id: 1\ncity: Paris\nlabels: [VIP]\n")
    root = tmp_path / "ws"
    backend.prepare(root, state)

    def apply(client_class: type[FluentCartClient]):
        storage = backend.storage(root)
        stored = backend.stored(root)
        plan = build_plan(declaration, stored, NameMode.FULL_NAME)
        client = client_class(server.url, Credentials("admin", PASSWORD), ClientOptions(retries=0))
        try:
            result = apply_changes(
                storage, stored, client, NameMode.FULL_NAME, plan, declaration.customers
            )
        finally:
            client.close()
        return plan, result

    _, first = apply(_LabelsFail)
    (outcome,) = first.results
    assert outcome.outcome is Outcome.FAILED
    assert outcome.message.startswith("updated city; labels not set:"), outcome.message
    after = backend.stored(root)
    assert after is not None
    assert after.customers[1].observed["city"] == "Paris"
    assert "labels" not in after.customers[1].observed  # not known: not recorded
    assert after.customers[1].last_applied == {"city": "Paris"}
    plan, second = apply(FluentCartClient)
    assert [f.name for f in plan.changes[0].fields] == ["labels"]
    assert [r.outcome for r in second.results] == [Outcome.CHANGED]
    assert _label_titles(server, 1) == ["VIP"]
    assert build_plan(declaration, backend.stored(root), NameMode.FULL_NAME).changes == ()


def test_a_saved_plan_shows_and_applies_labels_as_planned(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1)])
    server.store.create_label({"value": "B2B", "bind_to_type": "Customer", "bind_to_id": "1"})
    workspace.declare("a.yaml", "id: 1\nlabels: [Wholesale]\n")
    assert run(workspace, "import").exit_code == 0
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    shown = run(workspace, "show", "p.plan")
    assert '+ label "Wholesale"' in shown.stdout
    assert '= ["B2B"] -> ["Wholesale"]  (+ "Wholesale", - "B2B")' in shown.stdout, shown.stdout
    document = json.loads(run(workspace, "show", "p.plan", "--format", "json").stdout)
    assert document["changes"][0]["fields"][0]["removed"] == ["B2B"]
    applied = run(workspace, "apply", "p.plan", "-auto-approve")
    assert applied.exit_code == 0, applied.output
    assert _label_titles(server, 1) == ["Wholesale"]
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0


def test_declared_labels_come_back_from_the_parse_cache_as_labels(tmp_path: Path) -> None:
    from reconciler.cache import ParseCache

    path = tmp_path / "c.yaml"
    path.write_text("id: 1\nlabels: [vip, B2B]\n")
    cache = ParseCache(tmp_path / "cache")
    first = load_declared([(path, "c.yaml")], RULES, cache)
    again = load_declared([(path, "c.yaml")], RULES, ParseCache(tmp_path / "cache"))
    labels = again.customers[1].fields["labels"]
    assert isinstance(labels, Labels) and labels == first.customers[1].fields["labels"]
    assert labels == ["VIP", "b2b"]


def test_messages_quote_labels_so_redact_masks_them() -> None:
    from reconciler.diagnostics import short_repr
    from reconciler.views.redact import Redactor

    text = f"labels was {short_repr(Labels(['A']))} when planned and is now {short_repr(Labels(['Secret Client', 'VIP']))}"
    assert text == 'labels was ["A"] when planned and is now ["Secret Client", "VIP"]'
    masked = Redactor(["labels"], enabled=True).message(text, ("labels",))
    assert "Secret" not in masked and "VIP" not in masked


def test_labels_never_read_are_not_drift_and_unknown_ones_are_not_errors(tmp_path: Path) -> None:
    from reconciler.live import LiveRead

    declaration = _declare(tmp_path, "id: 1\nlabels: [VIP]\n")
    state = make_state([observed(1)])  # a version 1 state: no labels, no catalog
    live = LiveRead(found={1: observed(1, labels=["VIP"])}, labels=None)
    plan = build_plan(declaration, state, NameMode.FULL_NAME, live=live, refresh_only=True)
    assert plan.drift == ()
    offline = build_plan(declaration, state, NameMode.FULL_NAME, create_labels=False)
    assert offline.diagnostics == () and offline.new_labels == ()
    assert build_plan(declaration, state, NameMode.FULL_NAME).new_labels == ("VIP",)


def test_a_saved_plan_creates_no_label_once_the_workspace_forbids_it(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1)])
    workspace.declare("a.yaml", "id: 1\nlabels: [Wholesale]\n")
    assert run(workspace, "import").exit_code == 0
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    (workspace.root / "fluentcart.yaml").write_text("create_labels: false\n")
    result = run(workspace, "apply", "p.plan", "-auto-approve")
    assert result.exit_code == 1
    assert server.count("POST", "/fluent-cart/v2/labels") == 0
    assert _label_titles(server, 1) == []
