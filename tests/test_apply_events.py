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
