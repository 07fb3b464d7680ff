"""`fluentcart plan` and `fluentcart show` through the CLI: exit codes and saved plans."""

import hashlib
import json
import stat

import pytest

from reconciler import jsonschemas
from tests.conftest import Workspace, make_state, observed


@pytest.fixture
def converged(workspace: Workspace) -> Workspace:
    workspace.declare(
        "a.yaml", "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n    city: Oslo\n"
    )
    workspace.state(make_state([observed(1, city="Paris"), observed(2, city="Oslo")]))
    return workspace


def test_exit_codes(converged: Workspace, run) -> None:
    assert run(converged, "plan").exit_code == 0
    assert run(converged, "plan", "--detailed-exitcode").exit_code == 0
    converged.declare(
        "a.yaml", "customers:\n  - id: 1\n    city: Rome\n  - id: 2\n    city: Oslo\n"
    )
    assert run(converged, "plan").exit_code == 0
    assert run(converged, "plan", "--detailed-exitcode").exit_code == 2
    converged.declare("a.yaml", "customers:\n  - id: 1\n    city: <b>Rome</b>\n")
    result = run(converged, "plan", "--detailed-exitcode")
    assert result.exit_code == 1
    assert "customers/a.yaml:3:11: customer 1: city:" in result.stderr
    assert "no plan was made" in result.stderr
    assert result.stdout == ""


def test_plan_errors_exit_one_even_with_detailed_exitcode(workspace: Workspace, run) -> None:
    workspace.declare("a.yaml", "id: 5\nemail: new@example.org\n")
    workspace.state(make_state([observed(5, user_id="2")]))
    result = run(workspace, "plan", "--detailed-exitcode")
    assert result.exit_code == 1
    assert (
        "! error: customers/a.yaml:2: customer 5: email: cannot change the email" in result.stdout
    )


def test_saved_plan_is_private_complete_and_shown_identically(
    example_workspace: Workspace, run
) -> None:
    root = example_workspace.root
    outputs = {}
    for fmt in ("text", "json", "markdown"):
        outputs[fmt] = run(example_workspace, "plan", "--format", fmt, "-out", "saved.plan").stdout
    saved_path = root / "saved.plan"
    assert stat.S_IMODE(saved_path.stat().st_mode) == 0o600
    saved = json.loads(saved_path.read_text())
    assert jsonschemas.iter_errors("saved-plan", saved) == []
    assert jsonschemas.iter_errors("plan", saved["plan"]) == []
    state_bytes = (root / "fluentcart.state.json").read_bytes()
    assert saved["base_state"] == {
        "lineage": "6f1c1f0e-9a51-4c3e-8d5e-2b7f3b1a9c40",
        "serial": 4,
        "sha256": hashlib.sha256(state_bytes).hexdigest(),
    }
    for name in ("customers/vip.yaml", "customers/retail.yaml"):
        assert (
            saved["declared_files"][name] == hashlib.sha256((root / name).read_bytes()).hexdigest()
        )
    assert saved["site"] is None  # the example sets no site; FLUENTCART_URL is unset here
    assert saved["name_mode"] == "full_name"
    assert saved["tool_version"]
    for fmt, expected in outputs.items():
        assert run(example_workspace, "show", "saved.plan", "--format", fmt).stdout == expected
    redacted = run(example_workspace, "plan", "--redact").stdout
    assert run(example_workspace, "show", "saved.plan", "--redact").stdout == redacted


def test_long_out_option_and_targets(converged: Workspace, run) -> None:
    converged.declare(
        "a.yaml", "customers:\n  - id: 1\n    city: Rome\n  - id: 2\n    city: Bern\n"
    )
    result = run(converged, "plan", "--target", "2", "--target", "99", "--out", "p.json")
    assert "customer 2 will be updated" in result.stdout
    assert "customer 1 " not in result.stdout
    assert "--target 99: customer 99 is neither declared nor in the state" in result.stderr
    saved = json.loads((converged.root / "p.json").read_text())
    assert saved["targets"] == [2, 99]


def test_plan_with_errors_is_not_saved(workspace: Workspace, run) -> None:
    workspace.declare("a.yaml", "id: 5\nemail: new@example.org\n")
    workspace.state(make_state([observed(5, user_id="2")]))
    result = run(workspace, "plan", "-out", "p.plan")
    assert result.exit_code == 1
    assert "p.plan was not written" in result.stderr
    assert not (workspace.root / "p.plan").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "not a fluentcart plan file (not JSON)"),
        (b'{"kind": "other"}', "not a valid fluentcart plan file"),
    ],
)
def test_show_rejects_bad_plan_files(
    workspace: Workspace, run, content: bytes, message: str
) -> None:
    (workspace.root / "bad.plan").write_bytes(content)
    result = run(workspace, "show", "bad.plan")
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_show_missing_plan_file(workspace: Workspace, run) -> None:
    result = run(workspace, "show", "nope.plan")
    assert result.exit_code == 1
    assert "no such plan file" in result.stderr


def test_broken_state_is_reported_not_raised(workspace: Workspace, run) -> None:
    workspace.declare("a.yaml", "id: 1\n")
    (workspace.root / "fluentcart.state.json").write_text("{\n  broken")
    result = run(workspace, "plan")
    assert result.exit_code == 1
    assert "fluentcart.state.json:2:3: the state file is not valid JSON" in result.stderr


def test_bad_workspace_config(workspace: Workspace, run) -> None:
    workspace.config("name_mode: fullname\nparallelism: 0\nstatuses: active\nextra: 1\n")
    result = run(workspace, "plan")
    assert result.exit_code == 1
    for expected in (
        "fluentcart.yaml:1:12: name_mode:",
        "fluentcart.yaml:2:14: parallelism: 0 is less than 1",
        "fluentcart.yaml:3:11: statuses:",
        "fluentcart.yaml:4:1: extra: unknown field",
    ):
        assert expected in result.stderr


def test_custom_customers_glob_and_state_path(workspace: Workspace, run) -> None:
    workspace.config("customers: 'people/**/*.yaml'\nstate: state/prod.json\n")
    (workspace.root / "people" / "eu").mkdir(parents=True)
    (workspace.root / "people" / "eu" / "a.yaml").write_text("id: 1\ncity: Rome\n")
    (workspace.root / "state").mkdir()
    (workspace.root / "state" / "prod.json").write_bytes(
        __import__("reconciler.statefile", fromlist=["serialize"]).serialize(
            make_state([observed(1)])
        )
    )
    result = run(workspace, "plan")
    assert result.exit_code == 0, result.output
    assert "customer 1 will be updated (people/eu/a.yaml:1)" in result.stdout


def test_missing_customers_directory(tmp_path, run) -> None:
    result = run(tmp_path, "plan")
    assert result.exit_code == 1
    assert "the customers directory 'customers/' does not exist" in result.stderr


def test_site_from_environment_wins(converged: Workspace, run, monkeypatch) -> None:
    converged.config("site: https://config.example\n")
    monkeypatch.setenv("FLUENTCART_URL", "https://env.example/")
    run(converged, "plan", "-out", "p.plan")
    assert json.loads((converged.root / "p.plan").read_text())["site"] == "https://env.example"


def test_version() -> None:
    from click.testing import CliRunner

    from reconciler import __version__
    from reconciler.main import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.output.strip() == f"fluentcart, version {__version__}"


def test_state_readable_by_others_gets_a_warning(converged: Workspace, run) -> None:
    state = converged.root / "fluentcart.state.json"
    assert "readable by other users" not in run(converged, "plan").stderr
    state.chmod(0o644)
    assert "fluentcart.state.json is readable by other users" in run(converged, "plan").stderr
