"""Git awareness: saved plans record the commit; apply notes a moved HEAD; --require-clean."""

import json
import subprocess

import pytest

from tests.conftest import Workspace, recorded_state, seed_customer

TWO = "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n    city: Oslo\n"


def git(root, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repo(workspace: Workspace, sandbox):
    server = sandbox([seed_customer(1, city="Lyon"), seed_customer(2, city="Bern")])
    workspace.declare("a.yaml", TWO)
    workspace.state(recorded_state(server, [1, 2]))
    (workspace.root / ".gitignore").write_text("*.plan\nfluentcart.state.json*\n")
    git(workspace.root, "init", "-q", "-b", "main")
    git(workspace.root, "-c", "user.email=t@example.org", "-c", "user.name=T", "add", "-A")
    git(
        workspace.root,
        "-c",
        "user.email=t@example.org",
        "-c",
        "user.name=T",
        "commit",
        "-qm",
        "declare",
    )
    return server


def commit(root, message: str) -> None:
    git(root, "-c", "user.email=t@example.org", "-c", "user.name=T", "add", "-A")
    git(root, "-c", "user.email=t@example.org", "-c", "user.name=T", "commit", "-qm", message)


def test_saved_plan_records_the_commit_and_markdown_shows_it(
    workspace: Workspace, run, repo
) -> None:
    head = git(workspace.root, "rev-parse", "HEAD")
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    saved = json.loads((workspace.root / "p.plan").read_text())
    assert saved["plan"]["git_commit"] == head and saved["plan"]["git_dirty"] is False
    markdown = run(workspace, "show", "p.plan", "--format", "markdown").stdout
    assert f"commit `{head[:12]}`" in markdown and "base state serial 1" in markdown
    assert markdown == run(workspace, "plan", "--format", "markdown").stdout


def test_apply_says_when_head_moved(workspace: Workspace, run, repo) -> None:
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    (workspace.root / "README").write_text("unrelated\n")
    commit(workspace.root, "unrelated")
    result = run(workspace, "apply", "p.plan", "--require-clean")
    assert result.exit_code == 0, result.output
    assert "HEAD has moved since the plan was made" in result.stderr


def test_require_clean_refuses_a_plan_made_from_uncommitted_files(
    workspace: Workspace, run, repo
) -> None:
    workspace.declare("a.yaml", TWO.replace("Oslo", "Rome"))  # not committed
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    saved = json.loads((workspace.root / "p.plan").read_text())
    assert saved["plan"]["git_dirty"] is True
    result = run(workspace, "apply", "p.plan", "--require-clean")
    assert result.exit_code == 1
    assert (
        "declared files differ from commit" in result.stderr and "customers/a.yaml" in result.stderr
    )
    assert repo.count("PUT") == 0
    assert run(workspace, "apply", "p.plan").exit_code == 0  # without the flag it applies


def test_require_clean_outside_git(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1, city="Lyon")])
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    workspace.state(recorded_state(server, [1]))
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    result = run(workspace, "apply", "p.plan", "--require-clean")
    assert result.exit_code == 1 and "not made in a git checkout" in result.stderr


def test_changed_since_plans_only_changed_files(workspace: Workspace, run, repo) -> None:
    workspace.declare("b.yaml", "id: 3\ncity: Rome\n")
    commit(workspace.root, "more")
    base = git(workspace.root, "rev-parse", "HEAD")
    workspace.declare("b.yaml", "id: 3\ncity: Nice\n")  # changed, uncommitted
    result = run(workspace, "plan", "--changed-since", base)
    assert result.exit_code == 0, result.output
    assert "customer 3" in result.stdout
    assert "customer 1 " not in result.stdout and "customer 2 " not in result.stdout
    assert (
        f"2 declared customer(s) in files unchanged since {base} were not planned." in result.stdout
    )
    document = json.loads(
        run(workspace, "plan", "--changed-since", base, "--format", "json").stdout
    )
    assert document["changed_since"] == base and document["not_planned"] == 2


def test_changed_since_with_nothing_changed(workspace: Workspace, run, repo) -> None:
    result = run(workspace, "plan", "--changed-since", "HEAD", "--detailed-exitcode")
    assert result.exit_code == 0
    assert "No changes against the recorded state." in result.stdout
    assert "2 declared customer(s) in files unchanged since HEAD were not planned." in result.stdout


def test_changed_since_an_unknown_ref(workspace: Workspace, run, repo) -> None:
    result = run(workspace, "plan", "--changed-since", "no-such-branch")
    assert result.exit_code == 1 and "no such commit" in result.stderr
