"""The whole review-before-apply flow in a scratch git repository against the sandbox.

It follows examples/ci/github/fluentcart.yml step by step: on the pull request `validate`,
`fmt --check` and `plan --refresh --format markdown --detailed-exitcode -out`; after the merge,
in a fresh clone of main, `apply PLANFILE --json --detailed-exitcode` and the state committed
back. Then the refusal: a reviewed plan whose base state was written in between (another pull
request merged and applied first) is not applied, and nothing reaches the store.
"""

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import Workspace, recorded_state, seed_customer
from tests.test_git import commit, git

DECLARED = """\
customers:
  - id: 1
    email: ada@example.com
    full_name: Ada Lovelace
    city: London

  - id: 2
    email: grace@example.com
    full_name: Grace Hopper
    city: Arlington
"""


@pytest.fixture
def store(workspace: Workspace, sandbox):
    """main: a workspace whose state (kept in git, as the workflows do) matches the store."""
    server = sandbox(
        [
            seed_customer(
                1, email="ada@example.com", first_name="Ada", last_name="Lovelace", city="London"
            ),
            seed_customer(
                2,
                email="grace@example.com",
                first_name="Grace",
                last_name="Hopper",
                city="Arlington",
            ),
        ]
    )
    workspace.declare("team.yaml", DECLARED)
    workspace.state(recorded_state(server, [1, 2]))
    (workspace.root / ".gitignore").write_text("*.plan\nplan.md\n*.journal\n*.backup\n*.lock\n")
    git(workspace.root, "init", "-q", "-b", "main")
    commit(workspace.root, "declare the team")
    return server


def pull_request(workspace: Workspace, run, branch: str, old: str, new: str, artifacts: Path):
    """A branch that edits the declared file, then the pull-request job; returns the plan's
    Markdown and keeps the saved plan as the 'artifact'."""
    root = workspace.root
    git(root, "checkout", "-q", "-b", branch, "main")
    path = root / "customers" / "team.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    commit(root, f"{branch}: {new}")
    assert run(workspace, "validate").exit_code == 0
    assert run(workspace, "fmt", "--check").exit_code == 0
    plan = run(
        workspace,
        "plan",
        "--refresh",
        "--format",
        "markdown",
        "--detailed-exitcode",
        "-out",
        "fluentcart.plan",
    )
    assert plan.exit_code == 2, plan.output  # changes to review
    artifacts.mkdir(parents=True, exist_ok=True)
    shutil.move(root / "fluentcart.plan", artifacts / "fluentcart.plan")
    git(root, "checkout", "-q", "main")
    return plan.stdout, git(root, "rev-parse", branch)


def merge(workspace: Workspace, branch: str) -> None:
    git(workspace.root, "merge", "-q", "--no-ff", "-m", f"Merge {branch}", branch)


def apply_job(run, main: Path, clone: Path, artifact: Path):
    """The push job: a fresh clone of main, the reviewed plan downloaded into it, applied."""
    if clone.exists():
        shutil.rmtree(clone)
    git(main.parent, "clone", "-q", str(main), str(clone))
    (clone / "fluentcart.state.json").chmod(0o600)
    shutil.copy(artifact, clone / "fluentcart.plan")
    result = run(clone, "apply", "fluentcart.plan", "--json", "--detailed-exitcode")
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return result, events


def record_state(main: Path, clone: Path) -> None:
    """The job commits the state back to main (here: copied into the main repository)."""
    shutil.copy(clone / "fluentcart.state.json", main / "fluentcart.state.json")
    commit(main, "fluentcart: record the applied state")


def test_the_reviewed_plan_is_applied_after_merge(
    workspace: Workspace, run, store, tmp_path: Path
) -> None:
    main = workspace.root
    markdown, branch_head = pull_request(
        workspace, run, "move-grace", "city: Arlington", "city: Washington", tmp_path / "pr-1"
    )
    # What the reviewer approves names the plan, its base and its commit.
    reviewed = re.search(r"Plan `([0-9a-f]{16})`", markdown)
    assert reviewed, markdown
    assert "base state serial 1" in markdown
    assert f"commit `{branch_head[:12]}`" in markdown
    assert "**Plan: 1 to change, 1 unchanged" in markdown
    assert '<code>"Arlington"</code> | <code>"Washington"</code>' in markdown
    assert store.count("PUT") == 0  # planning never writes

    merge(workspace, "move-grace")
    result, events = apply_job(
        run, main, tmp_path / "apply-1", tmp_path / "pr-1" / "fluentcart.plan"
    )
    assert result.exit_code == 2, result.output  # changes applied
    assert events[0]["type"] == "apply_start"
    assert events[0]["plan_sha256"].startswith(reviewed[1])  # the log names the reviewed plan
    assert f"Applying the saved plan {reviewed[1]} (base state serial 1, commit" in result.stderr
    assert events[-1]["type"] == "summary"
    assert events[-1]["changed"] == 1 and events[-1]["failed"] == 0
    assert "HEAD has moved since the plan was made" in result.stderr  # the merge commit

    live = store.store.customers[2]
    assert live["city"] == "Washington"
    assert live["email"] == "grace@example.com"
    assert (live["first_name"], live["last_name"]) == ("Grace", "Hopper")
    assert store.store.customers[1]["city"] == "London"
    assert store.count("PUT") == 1
    state = json.loads((tmp_path / "apply-1" / "fluentcart.state.json").read_text())
    assert state["serial"] == 2
    assert state["customers"]["2"]["observed"]["city"] == "Washington"

    record_state(main, tmp_path / "apply-1")
    again = run(main, "plan", "--refresh", "--detailed-exitcode")
    assert again.exit_code == 0, again.output  # store, state and YAML agree


def test_a_plan_whose_state_moved_is_refused(
    workspace: Workspace, run, store, tmp_path: Path
) -> None:
    main = workspace.root
    # Two pull requests are planned against the same state (serial 1).
    pull_request(workspace, run, "ada-city", "city: London", "city: Cambridge", tmp_path / "pr-a")
    pull_request(workspace, run, "grace-city", "city: Arlington", "city: Boston", tmp_path / "pr-b")

    # The first is merged and applied: the state moves to serial 2 and is committed.
    merge(workspace, "ada-city")
    first, _ = apply_job(run, main, tmp_path / "apply-a", tmp_path / "pr-a" / "fluentcart.plan")
    assert first.exit_code == 2, first.output
    record_state(main, tmp_path / "apply-a")
    assert store.count("PUT") == 1

    # The second is merged without a new review. Its customer was not touched by the first,
    # but the file that declares it was: the plan is stale, and nothing is sent.
    merge(workspace, "grace-city")
    second, events = apply_job(
        run, main, tmp_path / "apply-b", tmp_path / "pr-b" / "fluentcart.plan"
    )
    assert second.exit_code == 1
    assert "the saved plan is stale and was not applied" in second.stderr
    assert "customers/team.yaml changed since the plan" in second.stderr
    assert "Run `fluentcart plan -out FILE` again and review the new plan." in second.stderr
    assert store.count("PUT") == 1
    assert store.store.customers[2]["city"] == "Arlington"
    assert store.store.customers[1]["city"] == "Cambridge"
    state_b = tmp_path / "apply-b" / "fluentcart.state.json"
    assert state_b.read_bytes() == (main / "fluentcart.state.json").read_bytes()
    assert [e["type"] for e in events] == ["summary"]  # a CI step reads why from the log
    assert events[0]["status"] == "error" and events[0]["changed"] == 0
    assert "the saved plan is stale" in events[0]["message"]

    # The workflow then shows the new plan, asking for a review: only Grace's city is left.
    replan = run(tmp_path / "apply-b", "plan", "--refresh", "--detailed-exitcode")
    assert replan.exit_code == 2
    assert re.search(r"customer 2\b", replan.stdout) and "Boston" in replan.stdout
    assert not re.search(r"customer 1\b.*update", replan.stdout)
