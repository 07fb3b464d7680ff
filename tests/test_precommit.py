"""The hooks in `.pre-commit-hooks.yaml`, checked and run by pre-commit itself (offline)."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.test_fmt import CANONICAL, MESSY
from tests.test_git import git

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".pre-commit-hooks.yaml"


def manifest_hooks() -> dict[str, dict]:
    from pre_commit.clientlib import load_manifest

    return {hook["id"]: hook for hook in load_manifest(str(MANIFEST))}


def test_the_manifest_is_valid_and_names_this_package() -> None:
    hooks = manifest_hooks()  # pre-commit's own schema check: raises on a bad manifest
    assert set(hooks) == {"fluentcart-fmt", "fluentcart-validate"}
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, hook in hooks.items():
        assert hook["language"] == "python"  # pre-commit installs this repository for it
        assert hook["entry"] in scripts
        assert hook["args"] == [name.removeprefix("fluentcart-")]
        assert hook["pass_filenames"] is False  # the workspace decides what is declared


def pre_commit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home"),
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "NO_COLOR": "1",
    }
    environment.pop("FLUENTCART_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=repo,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def store_repo(tmp_path: Path) -> Path:
    """A store's repository using the published hooks, run from this checkout's scripts
    (`language: system`: installing them as `python` hooks would need the network)."""
    repo = tmp_path / "store"
    (repo / "customers").mkdir(parents=True)
    (repo / "customers" / "retail.yaml").write_text(MESSY)
    hooks = []
    for hook in manifest_hooks().values():
        fields = ("id", "name", "entry", "args", "files", "pass_filenames", "require_serial")
        hooks.append({**{key: hook[key] for key in fields}, "language": "system"})
    config = {"repos": [{"repo": "local", "hooks": hooks}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    return repo


def test_the_hooks_format_then_pass_then_catch_an_error(store_repo: Path) -> None:
    first = pre_commit(store_repo, "run", "--all-files")
    output = first.stdout + first.stderr
    assert first.returncode == 1, output
    assert "fluentcart fmt" in output and "files were modified by this hook" in output
    assert "customers/retail.yaml" in output
    assert (store_repo / "customers" / "retail.yaml").read_text() == CANONICAL

    git(store_repo, "add", "-A")
    second = pre_commit(store_repo, "run", "--all-files")
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("Passed") == 2

    (store_repo / "customers" / "bad.yaml").write_text("id: 40\nemail: nobody@@example.com\n")
    git(store_repo, "add", "-A")
    third = pre_commit(store_repo, "run", "--all-files")
    output = third.stdout + third.stderr
    assert third.returncode == 1, output
    assert 'customers/bad.yaml:2:8: customer 40: email: "nobody@@example.com"' in output
    assert (store_repo / "customers" / "bad.yaml").read_text() == (
        "id: 40\nemail: nobody@@example.com\n"
    )
