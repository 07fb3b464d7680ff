"""Accepting changes made on the store: `refresh --update-yaml` writes them into the YAML
(comments and canonical form kept); after a plain `refresh`, plans mark the fields whose
apply would revert such a change."""

import json

import pytest

from tests.conftest import Workspace, seed_customer

YAML = """\
# Our best customers.
customers:
  - id: 1  # Ada
    email: customer1@example.org
    status: active
    # moved in 2025
    city: Paris

  - id: 2
    city: Oslo
    notes: Prefers email
"""


@pytest.fixture
def edited(workspace: Workspace, run, sandbox):
    """Two customers imported, then edited on the store (a shop's change)."""
    server = sandbox([seed_customer(1, city="Paris"), seed_customer(2, city="Oslo", notes="x")])
    workspace.declare("a.yaml", YAML)
    server.store.customers[2]["notes"] = "Prefers email"
    assert run(workspace, "import").exit_code == 0
    server.store.customers[1]["status"] = "inactive"
    server.store.customers[1]["city"] = "Lyon"
    server.store.customers[2]["notes"] = ""
    return server


def test_refresh_update_yaml_writes_exactly_the_store_values_and_the_next_plan_is_empty(
    workspace: Workspace, run, edited
) -> None:
    path = workspace.root / "customers" / "a.yaml"
    assert run(workspace, "fmt", "--check").exit_code == 0  # canonical: only values change
    result = run(workspace, "refresh", "--update-yaml")
    assert result.exit_code == 0, result.output
    assert path.read_text() == YAML.replace("city: Paris", "city: Lyon").replace(
        "status: active", "status: inactive"
    ).replace("notes: Prefers email", "notes: null")
    assert "-    city: Paris\n+    city: Lyon\n" in result.stdout  # the diff is shown
    assert "3 value(s) written into 1 declared file(s)." in result.stdout
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0
    assert run(workspace, "plan", "--detailed-exitcode").exit_code == 0
    assert run(workspace, "fmt", "--check").exit_code == 0


def test_a_plain_refresh_marks_what_apply_would_revert_in_every_format(
    workspace: Workspace, run, edited
) -> None:
    result = run(workspace, "refresh")
    assert result.exit_code == 0, result.output
    assert "the next plan reverts those changes made on the store" in result.stderr
    assert "refresh --update-yaml" in result.stderr
    text = run(workspace, "plan").stdout
    line = next(x for x in text.splitlines() if "status" in x)
    assert '"inactive" -> "active"' in line
    assert "reverts a change made on the store (accepted by refresh on 20" in line
    document = json.loads(run(workspace, "plan", "--format", "json").stdout)
    fields = {f["name"]: f for c in document["changes"] for f in c["fields"]}
    assert set(fields) == {"status", "city", "notes"}
    assert all(len(f["accepted_on"]) == 10 for f in fields.values())
    assert "accepted by refresh on" in run(workspace, "plan", "--refresh").stdout
    markdown = run(workspace, "plan", "--format", "markdown").stdout
    assert "(reverts changes made on the store)</summary>" in markdown
    assert "> `status` reverts a change made on the store (accepted by refresh on 20" in markdown

    # Accepting them afterwards still works: --update-yaml takes the recorded values too.
    result = run(workspace, "refresh", "--update-yaml")
    assert result.exit_code == 0, result.output
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0


def test_a_change_of_the_yaml_is_never_marked(workspace: Workspace, run, edited) -> None:
    workspace.declare("a.yaml", YAML.replace("city: Paris", "city: Rome"))
    run(workspace, "refresh")
    document = json.loads(run(workspace, "plan", "--format", "json").stdout)
    city = next(f for c in document["changes"] for f in c["fields"] if f["name"] == "city")
    assert (city["before"], city["after"]) == ("Lyon", "Rome")
    assert "accepted_on" not in city


def test_a_field_changed_in_the_yaml_and_on_the_store_keeps_the_yaml(
    workspace: Workspace, run, edited
) -> None:
    changed = YAML.replace("city: Paris", "city: Rome")
    workspace.declare("a.yaml", changed)
    result = run(workspace, "refresh", "--update-yaml")
    assert result.exit_code == 0, result.output
    assert "customer 1 city: changed in the YAML" in result.stderr
    text = (workspace.root / "customers" / "a.yaml").read_text()
    assert "city: Rome" in text and "status: inactive" in text


def test_plan_refresh_only_update_yaml_shows_the_diff_and_writes_nothing(
    workspace: Workspace, run, edited
) -> None:
    path = workspace.root / "customers" / "a.yaml"
    state = (workspace.root / "fluentcart.state.json").read_bytes()
    result = run(workspace, "plan", "--refresh-only", "--update-yaml")
    assert result.exit_code == 0, result.output
    assert "+    status: inactive\n" in result.stdout
    assert "Nothing was written" in result.stdout
    assert path.read_text() == YAML
    assert (workspace.root / "fluentcart.state.json").read_bytes() == state


def test_apply_refresh_only_update_yaml(workspace: Workspace, run, edited) -> None:
    result = run(workspace, "apply", "--refresh-only", "--update-yaml", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "status: inactive" in (workspace.root / "customers" / "a.yaml").read_text()
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0
    refused = run(workspace, "apply", "--update-yaml", "--auto-approve")
    assert refused.exit_code == 1 and "goes with --refresh-only" in refused.output


def test_a_file_that_cannot_be_rewritten_changes_nothing(workspace: Workspace, run, edited) -> None:
    merged = (
        "customers:\n  - id: 1\n    <<: {status: active}\n    city: Paris\n"
        "  - id: 2\n    city: Oslo\n    notes: Prefers email\n"
    )
    workspace.declare("a.yaml", merged)
    state = (workspace.root / "fluentcart.state.json").read_bytes()
    result = run(workspace, "refresh", "--update-yaml")
    assert result.exit_code == 1
    assert "customers/a.yaml" in result.output and "nothing was written" in result.output
    assert "Traceback" not in result.output
    assert (workspace.root / "customers" / "a.yaml").read_text() == merged
    assert (workspace.root / "fluentcart.state.json").read_bytes() == state


def test_a_value_the_database_cut_after_a_space_is_written_so_that_it_is_kept(
    workspace: Workspace, run, edited
) -> None:
    """The store holds a city cut at 45 characters after a space: written as it is, the
    YAML would load it trimmed and the next apply would change the store; the value written
    carries a '>' that the cut removes again."""
    cut = "Llanfairpwllgwyngyll Gogerychwyrndrobwllllan "
    edited.store.customers[1]["city"] = cut
    result = run(workspace, "refresh", "--update-yaml")
    assert result.exit_code == 0, result.output
    assert (
        "city: Llanfairpwllgwyngyll Gogerychwyrndrobwllllan >"
        in (workspace.root / "customers" / "a.yaml").read_text()
    )
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0
    assert run(workspace, "apply", "--auto-approve").exit_code == 0
    assert edited.store.customers[1]["city"] == cut


def test_an_edit_saved_while_the_prompt_waits_is_never_overwritten(
    workspace: Workspace, run, edited, monkeypatch
) -> None:
    path = workspace.root / "customers" / "a.yaml"
    state = (workspace.root / "fluentcart.state.json").read_bytes()
    mine = YAML.replace("city: Oslo", "city: Bergen")

    def answer(*args: object, **kwargs: object) -> str:
        path.write_text(mine)  # saved in an editor meanwhile
        return "yes"

    monkeypatch.setattr("reconciler.commands.apply.stdin_is_terminal", lambda: True)
    monkeypatch.setattr("reconciler.commands.refresh.click.prompt", answer)
    result = run(workspace, "apply", "--refresh-only", "--update-yaml")
    assert result.exit_code == 1
    assert "customers/a.yaml changed since it was read; nothing was written" in result.output
    assert path.read_text() == mine
    assert (workspace.root / "fluentcart.state.json").read_bytes() == state


def test_update_yaml_and_declaration_errors_under_redact(workspace: Workspace, run, edited) -> None:
    (workspace.root / "fluentcart.yaml").write_text("name_mode: full_name\nsensitive: [notes]\n")
    edited.store.customers[2]["notes"] = "card 4242 live"
    result = run(workspace, "plan", "--refresh-only", "--update-yaml", "--redact")
    assert result.exit_code == 0, result.output
    assert "the diff is not shown with --redact" in result.output
    assert "4242" not in result.output
    workspace.declare("b.yaml", "customers:\n  - id: 9\n    email: secret.local@@example.org\n")
    for command in (["plan", "--redact"], ["apply", "--auto-approve", "--redact"]):
        result = run(workspace, *command)
        assert result.exit_code == 1
        assert "is not a valid email address" in result.output
        assert "secret.local" not in result.output, result.output
