"""The CI workflows in examples/ci/: valid against the published schemas, and their
fluentcart commands use options that exist. check-jsonschema carries the schemas: offline."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.main import cli

CI = Path(__file__).resolve().parent.parent / "examples" / "ci"
WORKFLOWS = [
    (CI / "github" / "fluentcart.yml", "vendor.github-workflows"),
    (CI / "github-postgres" / "fluentcart.yml", "vendor.github-workflows"),
    (CI / "gitlab" / ".gitlab-ci.yml", "vendor.gitlab-ci"),
]
IDS = ["github", "github-postgres", "gitlab"]


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
    uses = re.findall(r"fluentcart ([a-z-]+)((?: [^\s|>&;]+)*)", path.read_text())
    assert uses
    for command, rest in uses:
        if command == "reconciler":  # the package name in pip install lines
            continue
        help_text = runner.invoke(cli, [command, "--help"]).output
        assert "Usage:" in help_text, command
        for flag in re.findall(r"(?<!\S)(-{1,2}[a-z][a-z-]*)", rest):
            assert flag in help_text, f"{command} {flag}"


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
    assert "git push" not in text and "git commit" not in text
    assert "fluentcart.state.json" not in text
    assert "--lock-timeout" in text
