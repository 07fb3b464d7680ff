"""`apply --json`: events on stdout, each valid against schemas/apply-events.schema.json."""

import json

import pytest

from reconciler import jsonschemas
from tests.conftest import Workspace, recorded_state, seed_customer

TWO = "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n    city: Oslo\n"


def events_of(stdout: str) -> list[dict]:
    events = [json.loads(line) for line in stdout.splitlines()]
    for event in events:
        assert jsonschemas.iter_errors("apply-events", event) == [], event
    return events


@pytest.fixture
def ready(workspace: Workspace, sandbox):
    server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
    workspace.declare("a.yaml", TWO)
    workspace.state(recorded_state(server, [1, 2]))
    return server


def test_events_of_a_successful_apply(workspace: Workspace, run, ready) -> None:
    result = run(workspace, "apply", "--auto-approve", "--json", "--detailed-exitcode")
    assert result.exit_code == 2
    events = events_of(result.stdout)
    types = [e["type"] for e in events]
    assert types[0] == "apply_start" and types[-1] == "summary"
    assert types.count("apply_complete") == 2 and types.count("apply_progress") == 2
    assert events[0]["to_update"] == 2
    assert (
        events[-1]["status"] == "changes"
        and events[-1]["changed"] == 2
        and events[-1]["exit_code"] == 2
    )
    assert "will be updated" in result.stderr  # the plan goes to the log, not to stdout


def test_no_changes(workspace: Workspace, run, ready) -> None:
    assert run(workspace, "apply", "--auto-approve").exit_code == 0
    result = run(workspace, "apply", "--auto-approve", "--json", "--detailed-exitcode")
    assert result.exit_code == 0
    assert events_of(result.stdout)[-1]["status"] == "no-changes"


def test_partial_failure(workspace: Workspace, run, ready) -> None:
    del ready.store.customers[1]
    result = run(workspace, "apply", "--auto-approve", "--json", "--detailed-exitcode")
    assert result.exit_code == 3
    events = events_of(result.stdout)
    errored = [e for e in events if e["type"] == "apply_errored"]
    assert [(e["customer"], e["outcome"]) for e in errored] == [(1, "failed")]
    assert events[-1]["status"] == "partial-failure"
    assert run(workspace, "apply", "--auto-approve").exit_code == 1  # without the flag: 0 or 1


def test_error_before_any_customer(workspace: Workspace, run, ready) -> None:
    workspace.declare("a.yaml", "id: 1\nemail: jane@@x\n")
    result = run(workspace, "apply", "--auto-approve", "--json", "--detailed-exitcode")
    assert result.exit_code == 1
    (summary,) = events_of(result.stdout)
    assert summary["status"] == "error" and "problem(s) in the declared files" in summary["message"]
    assert ready.count() == 0


def test_json_never_asks(workspace: Workspace, run, ready) -> None:
    result = run(workspace, "apply", "--json")
    assert result.exit_code == 1
    assert events_of(result.stdout)[-1]["message"].startswith("--json needs --auto-approve")


def _planted_plan(secret: str):
    from reconciler.plan import Action, CustomerChange, FieldChange, Origin, Plan

    fields = (
        FieldChange("notes", f"old {secret}", f"new {secret}", Origin.CONFIG, f"live {secret}"),
        FieldChange("email", f"{secret}@old.example", f"{secret}@new.example", Origin.CONFIG),
    )
    return Plan(changes=(CustomerChange(1, Action.UPDATE, "c.yaml:1", fields),), unchanged=0)


# Each result message apply can produce that quotes values, with the secret in the values.
_RESULTS = {
    "not applied": lambda s: (
        f'not applied: notes (sent "new {s}", the store kept "new {s[:3]}")',
        ("notes",),
    ),
    "moved since the plan": lambda s: (
        f'changed outside fluentcart since the plan: email was "{s}@old.example" when planned'
        f' and is now "{s}@moved.example"',
        ("email", "notes"),
    ),
    "refused by the store": lambda s: (
        f"the store refused the values (HTTP 422): email: {s}@new.example is taken",
        ("email",),
    ),
    "store error": lambda s: (f"PUT /customers/1: HTTP 500: Duplicate entry 'new {s}'", ()),
}


@pytest.mark.parametrize("kind", list(_RESULTS))
def test_a_secret_in_any_apply_result_is_masked_in_lines_and_events(kind: str, capsys) -> None:
    from reconciler.apply import CustomerResult, Outcome
    from reconciler.commands.apply import _print_result
    from reconciler.views.events import ApplyEvents
    from reconciler.views.redact import Redactor, ResultMask

    secret = "planted" + str(abs(hash(kind)) % 10**6)
    message, quoted = _RESULTS[kind](secret)
    result = CustomerResult(1, Outcome.FAILED, message, quoted=quoted)
    declared = {1: {"notes": f"new {secret}", "email": f"{secret}@new.example"}}
    mask = ResultMask(Redactor({"notes"}, enabled=True), _planted_plan(secret), declared)
    shown = mask.result(result)
    lines: list[str] = []
    ApplyEvents(lines.append).customer(1, "failed", shown.message, (), 1, 1)
    _print_result(shown)
    output = capsys.readouterr().out + "\n".join(lines)
    assert secret in message  # it was there to leak
    assert secret not in output, output


def test_the_text_a_store_answered_is_not_shown_with_redact() -> None:
    """An error page quoted in a result may hold any field, declared or not."""
    from reconciler.apply import CustomerResult, Outcome
    from reconciler.plan import Plan
    from reconciler.views.redact import Redactor, ResultMask

    message = (
        "PUT /customers/1: HTTP 500 with a body that is not JSON (an HTML page); it begins:\n"
        "    <p>notes: card 4242 4242</p>"
    )
    mask = ResultMask(Redactor({"notes"}, enabled=True), Plan(changes=(), unchanged=0), {})
    shown = mask.result(CustomerResult(1, Outcome.FAILED, message))
    assert "4242" not in shown.message
    assert shown.message.startswith("PUT /customers/1: HTTP 500 with a body that is not JSON")
    assert "not shown with --redact" in shown.message
