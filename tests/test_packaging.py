"""The wheel is the product: build the sdist and, from it, the wheel; install the wheel (not
editable) into a clean virtual environment; run the README's main job from that install.

Offline: the clean environment takes fluentcart's dependencies from `.venv/wheelhouse`, the
locked files that `scripts/setup` downloaded and checked against requirements.lock.
"""

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest

from reconciler import scaffold
from tests.conftest import ROOT

WHEELHOUSE = ROOT / ".venv" / "wheelhouse"


def offline_env() -> dict[str, str]:
    """The environment without the machine's pip settings: no index, no extra links."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "FLUENTCART_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def check(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with the built wheel installed; its bin directory."""
    assert WHEELHOUSE.is_dir(), "run bash scripts/setup first: it fills .venv/wheelhouse"
    dist = tmp_path_factory.mktemp("dist")
    # sdist first, then the wheel built from that sdist: what the sdist lacks, the wheel lacks.
    check([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)])
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    for required in (
        "reconciler/sandbox/server.py",
        "reconciler/commands/init.py",
        "reconciler/views/text.py",
        *(f"reconciler/schemas/{n}.schema.json" for n in scaffold.SCHEMA_NAMES),
    ):
        assert required in names, required
    assert sdist.stat().st_size > 0

    environment = tmp_path_factory.mktemp("clean") / "venv"
    venv.create(environment, with_pip=True)
    bin_dir = environment / "bin"
    check(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            str(WHEELHOUSE),
            str(wheel),
        ],
        env=offline_env(),
    )
    return bin_dir


def test_the_installed_package_is_the_wheel_not_this_checkout(
    installed: Path, tmp_path: Path
) -> None:
    where = check(
        [str(installed / "python"), "-c", "import reconciler; print(reconciler.__file__)"],
        cwd=tmp_path,
        env=offline_env(),
    ).stdout.strip()
    assert "site-packages" in where and not where.startswith(str(ROOT))
    version = check(
        [str(installed / "python"), "-m", "reconciler", "--version"],
        cwd=tmp_path,
        env=offline_env(),
    )
    assert "fluentcart, version" in version.stdout


def test_the_main_job_runs_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    """scripts/demo with the installed `fluentcart`: the sandbox, then validate, fmt, import,
    plan, apply and a last plan with no changes, all from the wheel."""
    env = {
        **offline_env(),
        "FLUENTCART": str(installed / "fluentcart"),
        "DEMO_DIR": str(tmp_path / "demo"),
        "FLUENTCART_CACHE_DIR": str(tmp_path / "cache"),
    }
    result = check(["bash", str(ROOT / "scripts" / "demo")], env=env, cwd=tmp_path)
    output = result.stdout
    assert "== sandbox running at http://127.0.0.1:" in output
    assert "Apply complete: 6 changed, 2 unchanged, 0 failed, 0 skipped." in output
    assert output.rstrip().endswith(
        "Done: the store, the state and the YAML agree (plan --refresh exit code 0)."
    )
    assert (tmp_path / "demo" / "workspace" / "fluentcart.state.json").is_file()


def test_init_from_the_wheel_copies_the_packaged_schemas(installed: Path, tmp_path: Path) -> None:
    check([str(installed / "fluentcart"), "init", "shop"], cwd=tmp_path, env=offline_env())
    for name in scaffold.SCHEMA_NAMES:
        copy = tmp_path / "shop" / ".fluentcart" / "schemas" / f"{name}.schema.json"
        assert copy.read_bytes() == (ROOT / "schemas" / f"{name}.schema.json").read_bytes()
