"""build_plan is pure: declared customers and a state in, a Plan out."""

import textwrap
from pathlib import Path

import pytest

from reconciler.declared import Declaration, Rules, load_declared
from reconciler.diagnostics import Severity
from reconciler.plan import Action, Plan, build_plan
from reconciler.workspace import NameMode
from tests.conftest import make_state, observed


def triples(change) -> list[tuple]:
    return [(f.name, f.before, f.after) for f in change.fields]


def declare(tmp_path: Path, text: str, mode: NameMode | None = NameMode.FULL_NAME) -> Declaration:
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(text))
    declaration = load_declared([(path, "c.yaml")], Rules(("active", "inactive"), mode))
    assert not declaration.errors, [d.format() for d in declaration.errors]
    return declaration


def test_update_shows_only_changed_fields(tmp_path) -> None:
    declaration = declare(
        tmp_path,
        """\
        id: 4
        email: customer4@example.org
        full_name: Test Customer4
        city: Paris
        """,
    )
    plan = build_plan(declaration, make_state([observed(4, city="Lyon")]), NameMode.FULL_NAME)
    (change,) = plan.changes
    assert change.action is Action.UPDATE
    assert triples(change) == [("city", "Lyon", "Paris")]
    assert change.unchanged_fields == 2
    assert change.source == "c.yaml:1"


def test_undeclared_fields_are_never_managed(tmp_path) -> None:
    declaration = declare(tmp_path, "id: 4\ncity: Lyon\n")
    state = make_state([observed(4, city="Lyon", notes="keep me", email="other@example.org")])
    plan = build_plan(declaration, state, NameMode.FULL_NAME)
    assert plan.changes == ()
    assert plan.summary.no_op == 1
    assert not plan.summary.has_changes


def test_normalization_makes_plans_converge(tmp_path) -> None:
    # What the server stores after cleaning, compared with the same cleaning applied to YAML.
    declaration = declare(
        tmp_path,
        """\
        id: 4
        notes: |
          first line
          second   line
        state: "<b>ON</b>"
        postcode: 12345
        city: "  Toronto  "
        country: CA
        """,
    )
    stored = observed(
        4,
        notes="first line second line",
        state="ON",
        postcode="12345",
        city="Toronto",
        country="CA",
    )
    assert build_plan(declaration, make_state([stored]), NameMode.FULL_NAME).changes == ()


def test_full_name_mode_compares_the_full_name(tmp_path) -> None:
    declaration = declare(tmp_path, "id: 7\nfull_name: Jean Luc Picard\n")
    same = observed(7, first_name="Jean Luc", last_name="Picard")
    assert build_plan(declaration, make_state([same]), NameMode.FULL_NAME).changes == ()
    other = observed(7, first_name="Jean", last_name="Luc Picard")  # set by another tool
    # trim(first + " " + last) is the same text: the server would store the same row.
    assert build_plan(declaration, make_state([other]), NameMode.FULL_NAME).changes == ()
    renamed = observed(7, first_name="Jean-Luc", last_name="Picard")
    (change,) = build_plan(declaration, make_state([renamed]), NameMode.FULL_NAME).changes
    assert triples(change) == [("full_name", "Jean-Luc Picard", "Jean Luc Picard")]


def test_first_last_mode_compares_each_part(tmp_path) -> None:
    declaration = declare(
        tmp_path, "id: 7\nfirst_name: Jean\nlast_name: Luc Picard\n", NameMode.FIRST_LAST
    )
    state = make_state(
        [observed(7, first_name="Jean Luc", last_name="Picard")], NameMode.FIRST_LAST
    )
    (change,) = build_plan(declaration, state, NameMode.FIRST_LAST).changes
    assert triples(change) == [
        ("first_name", "Jean Luc", "Jean"),
        ("last_name", "Picard", "Luc Picard"),
    ]


def test_full_name_parts_longer_than_the_columns_are_compared_cut(tmp_path) -> None:
    long_last = "D" * 200
    declaration = declare(tmp_path, f"id: 1\nfull_name: Jane {long_last}\n")
    stored = observed(1, first_name="Jane", last_name="D" * 192)
    assert build_plan(declaration, make_state([stored]), NameMode.FULL_NAME).changes == ()


def test_address_over_45_characters_is_compared_cut(tmp_path) -> None:
    city = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch"
    declaration = declare(tmp_path, f"id: 1\ncity: {city}\n")
    stored = observed(1, city=city[:45])
    assert build_plan(declaration, make_state([stored]), NameMode.FULL_NAME).changes == ()


def test_user_id_compares_as_a_number(tmp_path) -> None:
    declaration = declare(tmp_path, "id: 5\nuser_id: 2\n")
    assert build_plan(declaration, make_state([observed(5, user_id="2")]), None).changes == ()
    (change,) = build_plan(declaration, make_state([observed(5, user_id="0")]), None).changes
    assert triples(change) == [("user_id", 0, 2)]


def test_email_compares_case_sensitively(tmp_path) -> None:
    declaration = declare(tmp_path, "id: 2\nemail: Bob@Example.test\n")
    (change,) = build_plan(
        declaration, make_state([observed(2, email="bob@example.test")]), None
    ).changes
    assert triples(change) == [("email", "bob@example.test", "Bob@Example.test")]


def test_linked_customer_email_change_is_a_plan_error(tmp_path) -> None:
    declaration = declare(tmp_path, "id: 5\nemail: new@example.org\ncity: Oslo\n")
    plan = build_plan(declaration, make_state([observed(5, user_id="2")]), NameMode.FULL_NAME)
    (change,) = plan.changes
    assert "linked to WordPress user 2" in change.warnings[0]
    (error,) = [d for d in plan.diagnostics if d.severity is Severity.ERROR]
    assert (error.customer, error.field, error.line) == (5, "email", 2)
    assert "FluentCart answers 200 and keeps the old address" in error.message
    assert plan.summary.errors == 1


def test_unlinked_customer_email_change_is_fine(tmp_path) -> None:
    declaration = declare(tmp_path, "id: 5\nemail: new@example.org\n")
    plan = build_plan(declaration, make_state([observed(5)]), NameMode.FULL_NAME)
    assert plan.summary.errors == 0
    assert plan.changes[0].warnings == ()


@pytest.mark.parametrize("holder_first", [True, False])
def test_email_taken_by_another_recorded_customer(tmp_path, holder_first: bool) -> None:
    declaration = declare(tmp_path, "id: 5\nemail: Taken@example.org\n")
    customers = [observed(3, email="taken@example.org"), observed(5)]
    if not holder_first:
        customers.reverse()
    plan = build_plan(declaration, make_state(customers), NameMode.FULL_NAME)
    (error,) = [d for d in plan.diagnostics if d.severity is Severity.ERROR]
    assert "customer 3 keeps this address" in error.message


def test_email_freed_by_another_declared_change_is_fine(tmp_path) -> None:
    declaration = declare(
        tmp_path,
        "customers:\n  - id: 3\n    email: other@example.org\n  - id: 5\n    email: taken@example.org\n",
    )
    customers = [observed(3, email="taken@example.org"), observed(5)]
    plan = build_plan(declaration, make_state(customers), NameMode.FULL_NAME)
    assert plan.summary.errors == 0
    assert plan.summary.update == 2


def test_actions_and_summary(tmp_path) -> None:
    declaration = declare(
        tmp_path,
        "customers:\n  - id: 1\n    city: A\n  - id: 2\n    city: B\n  - id: 3\n    city: C\n",
    )
    state = make_state([observed(1, city="A"), observed(2, city="X"), observed(9)])
    plan = build_plan(declaration, state, NameMode.FULL_NAME)
    assert [(c.id, c.action) for c in plan.changes] == [
        (2, Action.UPDATE),
        (3, Action.NOT_IN_STATE),
        (9, Action.FORGET),
    ]
    summary = plan.summary
    assert (summary.update, summary.no_op, summary.not_in_state, summary.forget) == (1, 1, 1, 1)
    assert summary.has_changes


def test_no_state_means_everything_is_not_in_state(tmp_path) -> None:
    declaration = declare(tmp_path, "customers:\n  - id: 1\n  - id: 2\n")
    plan = build_plan(declaration, None, None)
    assert [c.action for c in plan.changes] == [Action.NOT_IN_STATE] * 2
    assert plan.state_serial is None


def test_targets_limit_the_plan(tmp_path) -> None:
    declaration = declare(tmp_path, "customers:\n  - id: 1\n    city: A\n  - id: 2\n    city: B\n")
    state = make_state([observed(1, city="X"), observed(2, city="Y"), observed(9)])
    plan = build_plan(declaration, state, NameMode.FULL_NAME, targets=[2])
    assert [c.id for c in plan.changes] == [2]
    assert plan.summary.no_op == 0


def test_plan_round_trips_through_json(tmp_path) -> None:
    declaration = declare(
        tmp_path, "customers:\n  - id: 1\n    city: A\n  - id: 5\n    email: n@example.org\n"
    )
    plan = build_plan(
        declaration,
        make_state([observed(1), observed(5, user_id="3"), observed(8)]),
        NameMode.FULL_NAME,
    )
    assert Plan.from_dict(plan.to_dict()) == plan


def test_the_no_op_check_reads_values_as_observed_value_does() -> None:
    """plan._as_recorded, the fast path of most customers of a large plan: a declared text
    that is the recorded string itself is as recorded, except an empty full name, which
    the store shows joined from the first and last names; a slim record the same."""
    import msgspec

    from reconciler import statefile
    from reconciler.plan import _as_recorded

    recorded = {"full_name": "", "first_name": "Ada", "last_name": "Lovelace", "notes": ""}
    assert not _as_recorded({"full_name": ""}, recorded)
    assert _as_recorded({"full_name": "Ada Lovelace"}, recorded)
    assert _as_recorded({"notes": ""}, recorded)
    text = "".join(["note "] * 8)
    assert _as_recorded({"notes": text}, {"notes": text})
    assert _as_recorded({"notes": text}, {"notes": "".join(["note "] * 8)})
    assert not _as_recorded({"notes": text}, {"notes": "other"})
    assert not _as_recorded({"user_id": 0}, {"user_id": "0"})  # not a text: the full diff
    record_type = statefile._slim_types()[0]
    slim_type = next(f.type for f in msgspec.structs.fields(record_type) if f.name == "observed")
    slim = slim_type(id=1, full_name="", first_name="Ada", last_name="Lovelace", notes=text)
    assert not _as_recorded({"full_name": ""}, slim)
    assert _as_recorded({"full_name": "Ada Lovelace", "notes": text}, slim)
    assert not _as_recorded({"city": ""}, slim_type(id=1, city="Lyon"))
    assert _as_recorded({"city": ""}, slim_type(id=1))  # not recorded: read as empty
