"""The parse cache: same answers with and without it, and no parsing of unchanged files."""

import json
import stat

import pytest

from reconciler import yamlsource
from tests.conftest import Workspace, make_state, observed

GOOD = "customers:\n  - id: 1\n    city: Paris\n    email: a@example.org\n  - id: 2\n    status: gone\n    notes: |\n      two\n      lines\n"


def test_second_run_reads_the_cache_and_says_the_same(
    workspace: Workspace, run, monkeypatch, private_cache
) -> None:
    workspace.declare("a.yaml", GOOD)
    workspace.declare("b.yaml", "id: 3\nemail: jane@@x\n")
    first = run(workspace, "validate")
    assert first.exit_code == 1
    entries = list((private_cache / "declared").glob("*.json"))
    assert len(entries) == 2
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in entries)

    def no_parsing(text):
        raise AssertionError("an unchanged file was parsed again")

    monkeypatch.setattr(yamlsource, "parse", no_parsing)
    second = run(workspace, "validate")
    assert second.output == first.output
    assert "customers/a.yaml:6:13: customer 2: status:" in second.output
    assert "customers/b.yaml:2:8: customer 3: email:" in second.output


def test_a_changed_file_is_parsed_again(workspace: Workspace, run) -> None:
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    workspace.state(make_state([observed(1, city="Lyon")]))
    assert "Paris" in run(workspace, "plan").stdout
    workspace.declare("a.yaml", "id: 1\ncity: Rome\n")
    assert '"Lyon" -> "Rome"' in run(workspace, "plan").stdout


def test_rules_are_part_of_the_key(workspace: Workspace, run) -> None:
    workspace.declare("a.yaml", "id: 1\nstatus: archived\n")
    assert run(workspace, "validate").exit_code == 1
    workspace.config("statuses: [active, archived]\n")
    assert run(workspace, "validate").exit_code == 0


def test_a_broken_cache_entry_is_ignored(workspace: Workspace, run, private_cache) -> None:
    workspace.declare("a.yaml", "id: 1\nemail: jane@@x\n")
    expected = run(workspace, "validate").output
    for entry in (private_cache / "declared").glob("*.json"):
        entry.write_text("{not json")
    assert run(workspace, "validate").output == expected


@pytest.mark.parametrize("variable", ["FLUENTCART_NO_CACHE"])
def test_the_cache_can_be_turned_off(
    workspace: Workspace, run, monkeypatch, private_cache, variable
) -> None:
    monkeypatch.setenv(variable, "1")
    workspace.declare("a.yaml", GOOD)
    run(workspace, "validate")
    assert not (private_cache / "declared").exists()


def test_cached_values_round_trip(workspace: Workspace, run, private_cache) -> None:
    workspace.declare("a.yaml", 'id: 1\npostcode: 01234\ncountry: NO\nnotes: "é 😀"\n')
    run(workspace, "validate")
    (entry,) = (private_cache / "declared").glob("*.json")
    fields = json.loads(entry.read_text())["customers"][0]["fields"]
    assert fields == {"postcode": "01234", "country": "NO", "notes": "é 😀"}
