"""`fluentcart validate`: every bad input gives exit 1 and a message naming file, line and field."""

import pytest

from tests.conftest import Workspace, make_state, observed

GOOD = """\
customers:
  - id: 1
    email: ada@example.org
    full_name: Ada Lovelace
    status: active
"""

# (name, file content, line expected in the message, text expected in the message)
BAD_CASES = [
    ("yaml-syntax", "customers:\n  - id: 1\n    email: [a@b.co\n", 4, "invalid YAML"),
    ("tab-indent", "customers:\n\t- id: 1\n", 2, "invalid YAML"),
    ("empty-file", "", 1, "the file is empty"),
    ("comment-only", "# nothing\n", 1, "the file is empty"),
    ("top-level-list", "- id: 1\n", 1, "at the top"),
    ("top-level-scalar", "just text\n", 1, "at the top"),
    ("customers-not-list", "customers:\n  id: 1\n", 2, "'customers' must be a list"),
    ("entry-not-mapping", "customers:\n  - 42\n", 2, "must be a mapping"),
    (
        "missing-id-and-email",
        "customers:\n  - full_name: Ann Lee\n",
        2,
        "a customer without an id is one to create, known by its email",
    ),
    ("id-zero", "id: 0\n", 1, "id: 0 is less than 1"),
    ("id-negative", "id: -4\n", 1, "id: -4 is less than 1"),
    ("id-huge", "id: 99999999999999999999999\n", 1, "is greater than 18446744073709551615"),
    ("id-string", "id: '42'\n", 1, 'id: "42" is not a whole number'),
    ("id-float", "id: 42.0\n", 1, "id: 42.0 is not a whole number"),
    ("id-hex", "id: 0x2A\n", 1, "must be written as plain decimal digits"),
    ("id-sexagesimal", "id: 1:30\n", 1, "must be written as plain decimal digits"),
    (
        "id-leading-zero",
        "id: 010\n",
        1,
        "must be written as plain decimal digits (YAML reads it as 8)",
    ),
    ("user-id-leading-zero", "id: 1\nuser_id: 07\n", 2, "must be written as plain decimal digits"),
    ("id-bool", "id: true\n", 1, "id: True is not a whole number"),
    ("unknown-field", "id: 1\nphone: 555\n", 2, 'unknown field "phone"'),
    ("typo-field", "id: 1\nemial: a@example.org\n", 2, "did you mean 'email'"),
    ("unknown-top-key", "customers:\n  - id: 1\ncustomer: []\n", 3, "unknown top-level key"),
    ("email-list", "id: 1\nemail: [a@example.org]\n", 2, "email: a list is not text or a number"),
    ("email-mapping", "id: 1\nemail: {a: 1}\n", 2, "email: a mapping is not text or a number"),
    ("email-double-at", "id: 1\nemail: jane@@x\n", 2, '"jane@@x" is not a valid email address'),
    ("email-no-domain-dot", "id: 1\nemail: jane@example\n", 2, "is not a valid email address"),
    ("email-empty", "id: 1\nemail: ''\n", 2, "email: cannot be empty"),
    ("email-html", "id: 1\nemail: <a>@example.org\n", 2, "contains HTML"),
    ("email-percent", "id: 1\nemail: a%41b@example.org\n", 2, "percent-encoded"),
    ("email-inner-space", "id: 1\nemail: 'a  b@example.org'\n", 2, "two or more spaces"),
    ("email-too-many-bytes", "id: 1\nemail: " + "a" * 250 + "@example.org\n", 2, "bytes long"),
    (
        "email-over-column",
        "id: 1\nemail: " + "a" * 190 + "@example.org\n",
        2,
        "would store a broken address",
    ),
    (
        "name-double-space",
        "id: 1\nfull_name: Jane  Doe\n",
        2,
        'full_name: "Jane  Doe" contains two or more spaces',
    ),
    ("name-tab", 'id: 1\nfull_name: "Jane\\tDoe"\n', 2, "contains a tab"),
    ("name-newline", 'id: 1\nfull_name: "Jane\\nDoe"\n', 2, "contains a line break"),
    ("name-html", "id: 1\nfull_name: <b>Jane</b>\n", 2, "contains HTML"),
    ("name-lone-lt", "id: 1\nfull_name: Jane < Doe\n", 2, "a '>' comes after it"),
    ("name-percent", "id: 1\nfull_name: Jane%20Doe\n", 2, "percent-encoded sequence '%20'"),
    ("name-empty", "id: 1\nfull_name: '   '\n", 2, "full_name: cannot be empty"),
    (
        "first-name-empty",
        "id: 1\nfirst_name: ''\nlast_name: Doe\n",
        2,
        "first_name: cannot be empty",
    ),
    ("name-cjk-bytes", "id: 1\nfull_name: " + "山" * 100 + "\n", 2, "300 bytes long"),
    ("city-html", "id: 1\ncity: <b>Tor</b>onto\n", 2, 'city: "<b>Tor</b>onto" contains HTML'),
    ("city-double-space", "id: 1\ncity: 'New  York'\n", 2, "two or more spaces"),
    ("status-unknown", "id: 1\nstatus: archived\n", 2, '"archived" is not an allowed status'),
    ("status-empty", "id: 1\nstatus:\n", 2, '"" is not an allowed status'),
    ("user-id-negative", "id: 1\nuser_id: -1\n", 2, "user_id: -1 is less than 0"),
    ("user-id-text", "id: 1\nuser_id: jane\n", 2, 'user_id: "jane" is not a whole number'),
    (
        "names-mixed",
        "id: 1\nfull_name: Jane Doe\nfirst_name: Jane\n",
        1,
        "either full_name or first_name/last_name",
    ),
    ("duplicate-key", "id: 1\ncity: Paris\ncity: Lyon\n", 3, "'city' is written twice"),
    (
        "python-tag",
        "id: 1\nnotes: !!python/object/apply:os.system [touch /tmp/pwned]\n",
        2,
        "unsupported YAML tag",
    ),
    ("custom-tag", "id: 1\ncity: !city Paris\n", 2, "unsupported YAML tag !city"),
    ("two-documents", "id: 1\n---\nid: 2\n", 2, "one YAML document"),
    ("undefined-alias", "id: 1\ncity: *nowhere\n", 2, "undefined alias"),
    ("deep-nesting", "id: 1\nnotes: " + "[" * 200 + "]" * 200 + "\n", 2, "nested deeper"),
    ("control-char", "id: 1\ncity: Par\x07is\n", 2, "control characters"),
    ("merge-not-mapping", "id: 1\n<<: 5\n", 2, "'<<' must be followed by a mapping"),
    ("mapping-key", "id: 1\n? [a, b]\n: 1\n", 2, "a mapping key must be plain text"),
]


@pytest.mark.parametrize(
    ("name", "content", "line", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_bad_input(
    workspace: Workspace, run, name: str, content: str, line: int, message: str
) -> None:
    workspace.declare("good.yaml", GOOD.replace("id: 1", "id: 100").replace("ada@", "good@"))
    workspace.declare("bad.yaml", content)
    result = run(workspace, "validate")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    matching = [
        row for row in result.output.splitlines() if row.startswith(f"customers/bad.yaml:{line}:")
    ]
    assert matching, result.output
    assert any(message in row for row in matching), result.output


def test_at_least_thirty_bad_cases() -> None:
    assert len(BAD_CASES) >= 30


def test_every_problem_in_every_file_in_one_run(workspace: Workspace, run) -> None:
    workspace.declare(
        "a.yaml", "customers:\n  - id: 1\n    email: jane@@x\n  - id: 2\n    status: gone\n"
    )
    workspace.declare("b.yaml", "id: 3\ncity: <i>x</i>\nphone: 1\n")
    result = run(workspace, "validate")
    assert result.exit_code == 1
    for expected in (
        "customers/a.yaml:3:12: customer 1: email:",
        "customers/a.yaml:5:13: customer 2: status:",
        "customers/b.yaml:2:7: customer 3: city:",
        "customers/b.yaml:3:1: customer 3: phone: unknown field",
    ):
        assert expected in result.output
    assert "Invalid: 4 error(s)" in result.output


def test_invalid_utf8_and_binary_files(workspace: Workspace, run) -> None:
    workspace.declare_bytes("latin1.yaml", b"id: 1\ncity: Montr\xe9al\n")
    workspace.declare_bytes("image.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = run(workspace, "validate")
    assert result.exit_code == 1
    assert "customers/latin1.yaml:2:12: invalid UTF-8 (byte 0xe9)" in result.output
    assert "customers/image.yaml:3:1:" in result.output and "binary file" in result.output


def test_duplicate_id_across_files_names_both_places(workspace: Workspace, run) -> None:
    workspace.declare("a.yaml", "customers:\n  - id: 1\n  - id: 7\n    city: Paris\n")
    workspace.declare("b.yaml", "\nid: 7\ncity: Lyon\n")
    result = run(workspace, "validate")
    assert result.exit_code == 1
    assert (
        "customers/b.yaml:2:1: customer 7: declared twice: also at customers/a.yaml:3"
        in result.output
    )


def test_an_id_declared_twice_is_found_when_its_first_declaration_is_invalid(
    workspace: Workspace, run
) -> None:
    workspace.declare("a.yaml", "customers:\n  - id: 7\n    status: gone\n  - id: 8\n")
    workspace.declare("b.yaml", "id: 7\ncity: Lyon\n")
    workspace.declare("c.yaml", "id: 7\nstatus: also-gone\n")
    result = run(workspace, "validate")
    assert result.exit_code == 1
    assert "customers/b.yaml:1:1: customer 7: declared twice: also at customers/a.yaml:2" in (
        result.output
    )
    assert "customers/c.yaml:1:1: customer 7: declared twice: also at customers/a.yaml:2" in (
        result.output
    )


def test_duplicate_email_ignores_case(workspace: Workspace, run) -> None:
    workspace.declare("a.yaml", "id: 1\nemail: Jane@Example.org\n")
    workspace.declare("b.yaml", "id: 2\nemail: jane@example.ORG\n")
    result = run(workspace, "validate")
    assert result.exit_code == 1
    assert "customers/b.yaml:2" in result.output
    assert "is also declared for customer 1 at customers/a.yaml:1" in result.output


def test_warnings_do_not_fail(workspace: Workspace, run) -> None:
    workspace.declare(
        "a.yaml",
        "id: 1\ncity: "
        + "x" * 50
        + "\nnotes: |\n  two\n  lines\nfull_name: Jane "
        + "D" * 200
        + "\n",
    )
    result = run(workspace, "validate")
    assert result.exit_code == 0, result.output
    assert "customers/a.yaml:2:7: warning: customer 1: city: is 50 characters long" in result.output
    assert "warning: customer 1: notes: FluentCart cleans" in result.output
    assert "warning: customer 1: full_name:" in result.output
    assert "3 warning(s)" in result.output


def test_yaml_typing_traps_keep_what_was_written(workspace: Workspace, run) -> None:
    workspace.declare(
        "a.yaml", "id: 1\npostcode: 01234\ncountry: NO\nstate: 1e3\ncity: 2020-01-01\n"
    )
    result = run(workspace, "validate")
    assert result.exit_code == 0, result.output


def test_tagged_scalars_in_text_fields_keep_their_characters(workspace: Workspace) -> None:
    """`city: !!float "1.5"` once reached the text rules as a float and crashed validate."""
    from reconciler.commands.context import declare
    from reconciler.workspace import load_workspace

    workspace.declare(
        "a.yaml",
        'id: 1\ncity: !!float "1.5"\nnotes: !!int "7"\nstate: !!bool "yes"\n'
        'postcode: !!timestamp "2020-01-01"\n',
    )
    declaration = declare(load_workspace(workspace.root, env={}), None)
    assert declaration.diagnostics == []
    assert declaration.customers[1].fields == {
        "city": "1.5",
        "notes": "7",
        "state": "yes",
        "postcode": "2020-01-01",
    }


def test_name_mode_from_config_is_enforced(workspace: Workspace, run) -> None:
    workspace.config("name_mode: full_name\n")
    workspace.declare("a.yaml", "id: 1\nfirst_name: Jean\nlast_name: Luc Picard\n")
    result = run(workspace, "validate")
    assert result.exit_code == 1
    assert "full-name mode" in result.output
    assert 'full_name: "Jean Luc Picard"' in result.output
    workspace.config("name_mode: first_last\n")
    workspace.declare("a.yaml", "id: 1\nfull_name: Jean Luc Picard\n")
    result = run(workspace, "validate")
    assert result.exit_code == 1
    assert "first/last-name mode" in result.output


def test_name_mode_recorded_in_state_is_used_in_auto_mode(workspace: Workspace, run) -> None:
    workspace.state(make_state([observed(1)], name_mode=None))
    workspace.declare("a.yaml", "id: 1\nfirst_name: Jean\n")
    assert run(workspace, "validate").exit_code == 0
    workspace.state(make_state([observed(1)]))
    assert run(workspace, "validate").exit_code == 1


def test_custom_statuses(workspace: Workspace, run) -> None:
    workspace.config("statuses: [active, archived]\n")
    workspace.declare("a.yaml", "id: 1\nstatus: archived\n")
    assert run(workspace, "validate").exit_code == 0


def test_explicit_paths(workspace: Workspace, run, tmp_path) -> None:
    workspace.declare("good.yaml", GOOD)
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "x.yaml").write_text("id: 5\nstatus: nope\n")
    result = run(workspace, "validate", "customers/good.yaml")
    assert result.exit_code == 0
    result = run(workspace, "validate", str(other), "missing.yaml")
    assert result.exit_code == 1
    assert "x.yaml:2:9: customer 5: status:" in result.output
    assert "missing.yaml: no such file or directory" in result.output


def test_good_workspace(workspace: Workspace, run) -> None:
    workspace.declare("good.yaml", GOOD)
    result = run(workspace, "validate")
    assert result.exit_code == 0
    assert "Valid: 1 customer(s) in 1 file, 0 warning(s)." in result.output


def test_examples_are_valid(example_workspace: Workspace, run) -> None:
    result = run(example_workspace, "validate")
    assert result.exit_code == 0, result.output
