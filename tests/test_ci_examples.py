"""The CI workflows in examples/ci/: valid against the published schemas, their fluentcart
commands use options that exist, and they drop in: a pinned install, a private state file.
check-jsonschema carries the schemas: offline. tests/test_pr_flow.py runs them."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from reconciler.main import cli

CI = Path(__file__).resolve().parent.parent / "examples" / "ci"
WORKFLOWS = [
    (CI / "github" / "fluentcart.yml", "vendor.github-workflows"),
    (CI / "github-postgres" / "fluentcart.yml", "vendor.github-workflows"),
    (CI / "gitlab" / ".gitlab-ci.yml", "vendor.gitlab-ci"),
]
IDS = ["github", "github-postgres", "gitlab"]
PROJECT = tomllib.loads((CI.parent.parent / "pyproject.toml").read_text())["project"]
# Where fluentcart appears as a command: a script line, a YAML `- ` item or `run:`, inline code.
COMMAND = re.compile(r"(?:^\s*(?:- )?(?:run: )?|`)fluentcart ([a-z-]+)((?: [^\s|>&;`]+)*)", re.M)


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def github_steps(path: Path) -> dict[str, list[dict[str, Any]]]:
    return {name: job["steps"] for name, job in load(path)["jobs"].items()}


def check(path: Path, schema: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(("path", "schema"), WORKFLOWS, ids=IDS)
def test_workflow_matches_its_published_schema(path: Path, schema: str) -> None:
    result = check(path, schema)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("path", "schema"), WORKFLOWS, ids=IDS)
def test_a_broken_workflow_is_caught(tmp_path: Path, path: Path, schema: str) -> None:
    broken = tmp_path / path.name
    broken.write_text(
        path.read_text().replace("stage: apply", "stage: [apply").replace("runs-on:", "runs_on:")
    )
    assert check(broken, schema).returncode != 0


@pytest.mark.parametrize(("path", "schema"), WORKFLOWS, ids=IDS)
def test_workflow_commands_exist(path: Path, schema: str) -> None:
    runner = CliRunner()
    uses = COMMAND.findall(path.read_text())
    assert len(uses) >= 5
    for command, rest in uses:
        assert command in cli.commands, command
        help_text = runner.invoke(cli, [command, "--help"]).output
        for flag in re.findall(r"(?<!\S)(-{1,2}[a-z][a-z-]*)", rest):
            assert flag in help_text, f"{command} {flag}"


@pytest.mark.parametrize(("path", "schema"), WORKFLOWS, ids=IDS)
def test_every_install_is_the_pinned_release(path: Path, schema: str) -> None:
    """One variable at the top names the release; every install uses it, and nothing else."""
    top = load(path)["env" if schema == "vendor.github-workflows" else "variables"]
    extra = "[postgres]" if "postgres" in path.parent.name else ""
    version = PROJECT["version"]
    assert top["FLUENTCART_INSTALL"] == (
        f"{PROJECT['name']}{extra} @ git+https://github.com/OWNER/{PROJECT['name']}@v{version}"
    )
    text = path.read_text()
    assert "FLUENTCART_INSTALL (below)" in text  # the header says how to set it
    installs = re.findall(r"pip install.*", text)
    assert installs and all(line.endswith('"$FLUENTCART_INSTALL"') for line in installs), installs


def test_every_github_job_installs_before_it_runs_fluentcart() -> None:
    for path in (CI / "github" / "fluentcart.yml", CI / "github-postgres" / "fluentcart.yml"):
        for job, steps in github_steps(path).items():
            runs = [step.get("run", "") for step in steps]
            install = next(i for i, run in enumerate(runs) if "pip install" in run)
            first = next(i for i, run in enumerate(runs) if COMMAND.search(run))
            assert install < first, (path, job)


def test_the_state_is_made_private_right_after_checkout() -> None:
    """git checks the state out 0644, and fluentcart warns about a state others can read."""
    chmod = "if [ -f fluentcart.state.json ]; then chmod 600 fluentcart.state.json; fi"
    for job, steps in github_steps(CI / "github" / "fluentcart.yml").items():
        assert steps[0]["uses"].startswith("actions/checkout"), job
        assert steps[1]["run"] == chmod, job
    before = load(CI / "gitlab" / ".gitlab-ci.yml")["default"]["before_script"]
    assert before[-1] == chmod  # after the install, before every job's script


def test_github_scripts_take_values_from_env_only() -> None:
    """`${{ }}` inside a script is pasted into the shell before it runs (script injection);
    values reach the scripts through `env:`, which tests/test_pr_flow.py provides."""
    for path in (CI / "github" / "fluentcart.yml", CI / "github-postgres" / "fluentcart.yml"):
        for steps in github_steps(path).values():
            for step in steps:
                assert "${{" not in step.get("run", ""), step.get("name")


def test_the_postgres_plan_job_is_the_file_ones() -> None:
    """The PostgreSQL variant's plan job is the file variant's without the state file's chmod,
    so tests/test_pr_flow.py's runs of it hold for both."""
    ours = github_steps(CI / "github" / "fluentcart.yml")["plan"]
    theirs = github_steps(CI / "github-postgres" / "fluentcart.yml")["plan"]
    assert theirs == [step for step in ours if "chmod" not in step.get("run", "")]


def test_workflows_keep_secrets_in_the_secret_store() -> None:
    github = (CI / "github" / "fluentcart.yml").read_text()
    assert "FLUENTCART_APP_PASSWORD: ${{ secrets.FLUENTCART_APP_PASSWORD }}" in github
    assert "concurrency:" in github and "fluentcart-apply" in github
    gitlab = (CI / "gitlab" / ".gitlab-ci.yml").read_text()
    assert "resource_group: fluentcart" in gitlab
    for text in (github, gitlab):
        assert "fluentcart apply fluentcart.plan --json --detailed-exitcode" in text


def test_the_postgres_workflow_commits_nothing_back() -> None:
    """With the state in PostgreSQL the apply job only reads the repository: no state file is
    committed or pushed, the database password comes from the secret store, and the
    package is installed with its PostgreSQL driver."""
    text = (CI / "github-postgres" / "fluentcart.yml").read_text()
    assert "PGPASSWORD: ${{ secrets.PGPASSWORD }}" in text
    assert "fluentcart-reconciler[postgres]" in text
    assert "contents: write" not in text
    assert "git push" not in text and "git commit" not in text and "gh pr create" not in text
    assert "fluentcart.state.json" not in text
    assert "--lock-timeout" in text
