"""Every view of the example plan against golden files (UPDATE_GOLDEN=1 rewrites them)."""

import json
import os
from pathlib import Path

import pytest

from reconciler import jsonschemas
from reconciler.diagnostics import Diagnostic, Severity
from reconciler.plan import (
    Action,
    CustomerChange,
    CustomerDrift,
    FieldChange,
    FieldDrift,
    Origin,
    Plan,
)
from reconciler.views import render
from reconciler.views.markdown import render_markdown
from reconciler.views.redact import Redactor, redact_plan
from reconciler.views.text import render_text
from tests.conftest import Workspace

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; rerun with UPDATE_GOLDEN=1 if intended"


@pytest.mark.parametrize(
    ("args", "golden"),
    [
        ((), "plan.txt"),
        (("--format", "json"), "plan.json"),
        (("--format", "markdown"), "plan.md"),
        (("--redact",), "plan-redacted.txt"),
        (("--format", "json", "--redact"), "plan-redacted.json"),
        (("--format", "markdown", "--redact"), "plan-redacted.md"),
    ],
)
def test_example_plan_golden(example_workspace: Workspace, run, args, golden: str) -> None:
    result = run(example_workspace, "plan", *args)
    assert result.exit_code == 0, result.output
    check_golden(golden, result.stdout)


@pytest.mark.parametrize("flush_at", [1, 64, 1 << 20])
def test_the_streamed_json_plan_is_the_standard_encoders(
    example_workspace: Workspace, run, monkeypatch, flush_at
) -> None:
    """Written a customer at a time, in pieces of any size: the bytes of json.dumps(indent=2)
    of the whole document, for the example plan and for plans with every list empty, long,
    or holding text that needs escaping."""
    from reconciler.planfile import load_plan
    from reconciler.views import jsonplan

    monkeypatch.setattr(jsonplan, "_FLUSH_AT", flush_at)
    assert run(example_workspace, "plan", "-out", "x.plan").exit_code == 0
    example = load_plan(example_workspace.root / "x.plan").plan
    odd = FieldChange("notes", 'a "quoted"\nline\u2028 é', "\\ <b>")
    plans = [
        example,
        Plan(changes=(), unchanged=0),
        Plan(changes=tuple(updates(300, "city")), unchanged=2),
        Plan(
            changes=(CustomerChange(9, Action.UPDATE, "c.yaml:1", (odd,), 3, ("w \u00e9",)),),
            unchanged=0,
            drift=(CustomerDrift(9, None, (FieldDrift("city", "a", "b\tc"),)),),
            diagnostics=(Diagnostic(Severity.WARNING, "m ✓", "c.yaml", 1, 2, 9, "notes"),),
            new_labels=("VIP",),
        ),
    ]
    for plan in plans:
        expected = json.dumps(jsonplan.plan_document(plan), indent=2, ensure_ascii=False) + "\n"
        chunks = list(jsonplan.json_chunks(plan))
        assert "".join(chunks) == expected
        assert jsonplan.render_json(plan) == expected
        if flush_at == 1 and plan.changes:
            assert len(chunks) > len(plan.changes)  # never the whole text at once


@pytest.mark.parametrize("redact", [False, True])
def test_json_plan_matches_its_schema(example_workspace: Workspace, run, redact: bool) -> None:
    result = run(example_workspace, "plan", "--format", "json", *(["--redact"] if redact else []))
    document = json.loads(result.stdout)
    assert jsonschemas.iter_errors("plan", document) == []
    assert document["redacted"] is redact
    assert set(document["summary"]) >= {"update", "no_op", "not_in_state", "forget", "errors"}


def test_redaction_masks_email_local_parts_and_sensitive_fields() -> None:
    plan = Plan(
        changes=(
            CustomerChange(
                1,
                Action.UPDATE,
                "c.yaml:1",
                (
                    FieldChange("email", "old.name@example.org", "new.name@example.org"),
                    FieldChange("notes", "VIP: card ending 4242", "VIP"),
                    FieldChange("city", "Paris", "Lyon"),
                ),
            ),
        ),
        unchanged=0,
        diagnostics=(
            Diagnostic(
                Severity.WARNING, 'FluentCart cleans "secret  stuff"', "c.yaml", 3, 1, 1, "notes"
            ),
        ),
    )
    redactor = Redactor({"notes"}, enabled=True)
    for fmt in ("text", "json", "markdown"):
        output = render(redact_plan(plan, redactor), fmt)
        for secret in ("old.name", "new.name", "4242", "secret  stuff", "secret stuff"):
            assert secret not in output, (fmt, secret)
        assert "***@example.org" in output
        assert "Lyon" in output


def test_markdown_escapes_values() -> None:
    plan = Plan(
        changes=(
            CustomerChange(
                1,
                Action.UPDATE,
                "c.yaml:1",
                (FieldChange("notes", "a|b", "<script>x</script> `c`"),),
            ),
        ),
        unchanged=0,
    )
    output = render_markdown(plan)
    assert "&lt;script&gt;" in output and "<script>" not in output
    assert "a&#124;b" in output


def test_markdown_stays_under_the_limit_and_says_what_it_left_out() -> None:
    changes = tuple(
        CustomerChange(
            i,
            Action.UPDATE,
            f"customers/c.yaml:{i}",
            (FieldChange("notes", "x" * 300, "y" * 300),),
        )
        for i in range(1, 2001)
    )
    output = render_markdown(Plan(changes=changes, unchanged=0), summary_over=2000)
    assert len(output) < 60_000
    shown = output.count("<details>")
    assert 0 < shown < 2000
    assert f"**{2000 - shown} more customers not shown**" in output


def updates(count: int, field: str, start: int = 1) -> list[CustomerChange]:
    return [
        CustomerChange(i, Action.UPDATE, f"customers/c.yaml:{i}", (FieldChange(field, "a", "b"),))
        for i in range(start, start + count)
    ]


def test_a_bulk_change_is_counted_per_field_ahead_of_a_capped_list() -> None:
    """500 changes: how many customers each field changes for, then the first 50 only (10 KB;
    listing as many as fit made 59.9 KB that still left 196 out)."""
    changes = updates(450, "city") + updates(12, "status", 451) + updates(38, "notes", 463)
    output = render_markdown(Plan(changes=tuple(changes), unchanged=3))
    assert len(output) < 20_000
    counts = (
        "| Field | Customers |\n|---|---:|\n| `city` | 450 |\n| `notes` | 38 |\n| `status` | 12 |\n"
    )
    assert counts in output
    assert "**Changes by field** (500 customers change; the list below stops after 50):" in output
    assert output.index(counts) < output.index("<details>")
    assert output.count("<details>") == 50
    assert "**450 more customers not shown**" in output


def test_the_count_per_field_starts_above_summary_over() -> None:
    at = render_markdown(Plan(changes=tuple(updates(50, "city")), unchanged=0))
    assert "Changes by field" not in at and "not shown" not in at
    assert at.count("<details>") == 50
    over = render_markdown(Plan(changes=tuple(updates(51, "city")), unchanged=0))
    assert "| `city` | 51 |" in over and "**1 more customer not shown**" in over
    few = render_markdown(Plan(changes=tuple(updates(5, "city")), unchanged=0), summary_over=4)
    assert "| `city` | 5 |" in few and few.count("<details>") == 4


def test_the_text_plan_of_a_bulk_change_counts_by_field_and_lists_the_first() -> None:
    """Above summary_over customers: counts per field ("city: 4,500 customers"), the first
    summary_over listed, and every diagnostic still printed (those of unlisted customers
    among the loose ones)."""
    changes = updates(4500, "city") + updates(120, "status", 4501) + updates(3, "notes", 4621)
    problem = Diagnostic(Severity.WARNING, "cleaned", "customers/c.yaml", 4600, 3, 4600, "status")
    plan = Plan(changes=tuple(changes), unchanged=7, diagnostics=(problem,))
    output = render_text(plan, summary_over=1000)
    assert (
        "Changes by field (4,623 customers change; the first 1,000 are listed below):\n"
        "  city    4,500 customer(s)\n"
        "  status    120 customer(s)\n"
        "  notes       3 customer(s)\n"
    ) in output
    assert output.count("  # customer ") == 1000
    assert "# customer 1000 will" in output and "# customer 1001 will" not in output
    assert "... and 3,623 more customer(s), not listed: `--format json` lists every one" in output
    assert "customers/c.yaml:4600:3: warning: customer 4600: status: cleaned" in output
    assert output.rstrip().endswith("4623 to change, 7 unchanged, 0 not in state, 0 to forget.")
    within = render_text(Plan(changes=tuple(updates(1000, "city")), unchanged=0))
    assert "Changes by field" not in within and "not listed" not in within
    assert within.count("  # customer ") == 1000


def test_the_text_plan_counts_drift_by_field_above_summary_over() -> None:
    drift = tuple(
        CustomerDrift(i, f"customers/c.yaml:{i}", (FieldDrift("city", "a", "b"),))
        for i in range(1, 6)
    )
    output = render_text(Plan(changes=(), unchanged=5, drift=drift), summary_over=2)
    assert (
        "  5 customers, by field (the first 2 listed below):\n    city: 5 customer(s)\n" in output
    )
    assert "# customer 2 (" in output and "# customer 3 (" not in output
    assert "  ... and 3 more customer(s), not listed." in output


def test_render_takes_summary_over_for_text_and_markdown() -> None:
    plan = Plan(changes=tuple(updates(5, "city")), unchanged=0)
    assert render(plan, "text", summary_over=2).count("  # customer ") == 2
    assert render(plan, "markdown", summary_over=2).count("<details>") == 2
    assert render(plan, "text").count("  # customer ") == 5
    assert len(json.loads(render(plan, "json", summary_over=2))["changes"]) == 5


def test_markdown_worst_case_stays_under_the_limit() -> None:
    """Every part at once, each too long: long values in many fields, drift on every customer,
    problems by the thousand. The drift list gives way to a line, never the customers."""
    fields = ("email", "full_name", "notes", "city", "state", "postcode", "country", "status")
    changes = tuple(
        CustomerChange(
            i,
            Action.UPDATE,
            f"customers/c.yaml:{i}",
            tuple(FieldChange(name, "x" * 500, "y" * 500, Origin.BOTH) for name in fields),
        )
        for i in range(1, 2001)
    )
    drift = tuple(
        CustomerDrift(
            i, f"customers/c.yaml:{i}", tuple(FieldDrift(n, "r" * 500, "l" * 500) for n in fields)
        )
        for i in range(1, 2001)
    )
    diagnostics = tuple(
        Diagnostic(Severity.ERROR, "e" * 300, "c.yaml", i, 1, i, "notes") for i in range(1, 2001)
    )
    plan = Plan(changes=changes, unchanged=0, drift=drift, refreshed=True, diagnostics=diagnostics)
    output = render_markdown(plan)
    assert len(output) < 60_000
    assert "The changes outside fluentcart are too long to show here" in output
    shown = output.count("<details>")
    assert shown > 0 and f"**{2000 - shown} more customers not shown**" in output
    assert "more problems not shown" in output


def test_the_drift_list_is_capped_like_the_customers() -> None:
    drift = tuple(
        CustomerDrift(i, f"customers/c.yaml:{i}", (FieldDrift("city", "Oslo", "Bergen"),))
        for i in range(1, 61)
    )
    output = render_markdown(Plan(changes=(), unchanged=60, drift=drift, refreshed=True))
    assert "Changed outside fluentcart since recorded (60 customer(s))" in output
    assert output.count('<code>"Bergen"</code>') == 50
    assert "10 more customer(s) changed outside fluentcart not shown." in output


def test_markdown_problem_list_is_bounded() -> None:
    diagnostics = tuple(
        Diagnostic(Severity.WARNING, "w" * 200, "c.yaml", i, 1, i, "notes") for i in range(1, 2000)
    )
    output = render_markdown(Plan(changes=(), unchanged=5, diagnostics=diagnostics))
    assert len(output) < 60_000
    assert "more problems not shown" in output


def test_colour_only_when_asked() -> None:
    plan = Plan(
        changes=(CustomerChange(1, Action.UPDATE, "c.yaml:1", (FieldChange("city", "A", "B"),)),),
        unchanged=0,
    )
    assert "\x1b[" in render_text(plan, color=True)
    assert "\x1b[" not in render_text(plan, color=False)


def test_cli_output_is_not_coloured_when_not_a_terminal(example_workspace: Workspace, run) -> None:
    assert "\x1b[" not in run(example_workspace, "plan").stdout


def test_no_changes_line(workspace: Workspace, run) -> None:
    workspace.declare("a.yaml", "id: 1\n")
    from tests.conftest import make_state, observed

    workspace.state(make_state([observed(1)]))
    result = run(workspace, "plan")
    # Offline, the plan says what it compared with and which command reads the store.
    assert result.stdout.strip().endswith(
        "No changes against the recorded state. The store was not read:"
        " `fluentcart plan --refresh` compares with it."
    )
    markdown = run(workspace, "plan", "--format", "markdown").stdout
    assert "The store was not read: `fluentcart plan --refresh` compares with it." in markdown


def test_no_changes_line_after_reading_the_store(workspace: Workspace, run, sandbox) -> None:
    from tests.conftest import recorded_state, seed_customer

    server = sandbox([seed_customer(1)])
    workspace.declare("a.yaml", "id: 1\n")
    workspace.state(recorded_state(server, [1]))
    result = run(workspace, "plan", "--refresh", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("No changes. Customers match the declared state.")


# Where a value can appear in a plan; each gets its own planted secret.
_PATHS = (
    "before",
    "after",
    "live",
    "recorded",
    "drift recorded",
    "drift live",
    "diagnostic",
    "error",
    "warning",
)


def _planted(field: str, path: str, secret: str) -> Plan:
    value = f"{secret}@example.org" if field == "email" else secret
    other = "someone@example.org" if field == "email" else "plain"
    change = FieldChange(
        field,
        value if path == "before" else other,
        value if path in ("after", "warning") else other,
        Origin.DRIFT,
        value if path == "live" else other,
        value if path == "recorded" else other,
    )
    drift = CustomerDrift(
        1,
        "c.yaml:1",
        (
            FieldDrift(
                field,
                value if path == "drift recorded" else other,
                value if path == "drift live" else other,
            ),
        ),
    )
    message = (
        f'FluentCart keeps "{value}" as "{value}"' if path in ("diagnostic", "error") else "a note"
    )
    severity = Severity.ERROR if path == "error" else Severity.WARNING
    warnings = (f"the store will hold {value} as sent",) if path == "warning" else ()
    return Plan(
        changes=(CustomerChange(1, Action.UPDATE, "c.yaml:1", (change,), warnings=warnings),),
        unchanged=0,
        diagnostics=(Diagnostic(severity, message, "c.yaml", 3, 1, 1, field),),
        drift=(drift,),
        refreshed=True,
    )


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
@pytest.mark.parametrize("path", _PATHS)
@pytest.mark.parametrize("field", ["email", "notes"])
def test_a_secret_in_any_place_of_a_plan_is_masked_in_every_format(
    fmt: str, path: str, field: str
) -> None:
    secret = f"planted{abs(hash((fmt, path, field))) % 10**6:06d}"
    plan = _planted(field, path, secret)
    assert secret in render(plan, "json")  # the plan carries it there
    shown = render(redact_plan(plan, Redactor({"notes"}, enabled=True)), fmt)
    assert secret not in shown
    assert redact_plan(plan, Redactor({"notes"}, enabled=True)).sha256 == plan.sha256
