"""`fluentcart init`: a new workspace, an existing one left alone, schema copies and the
`$schema` comments that point at them, and adopting a store into an initialized workspace."""

import json
import re
import subprocess
from pathlib import Path

import yaml
from click.testing import Result

from reconciler import scaffold
from reconciler.commands.init import init_workspace
from reconciler.jsonschemas import iter_errors
from reconciler.workspace import DEFAULT_PARALLELISM, DEFAULT_STATUSES, NameMode, load_workspace
from tests.conftest import EXAMPLES, seed_customer

SCHEMA_COMMENT = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)


def schema_targets(root: Path) -> dict[Path, Path]:
    """Every YAML file under `root` with a `$schema` comment, and where that comment leads."""
    found = {}
    for path in root.rglob("*.y*ml"):
        match = SCHEMA_COMMENT.search(path.read_text("utf-8"))
        if match:
            found[path] = (path.parent / match.group(1)).resolve()
    return found


def test_init_creates_a_workspace(tmp_path: Path, run) -> None:
    result = run(tmp_path, "init", "shop")
    assert result.exit_code == 0, result.output
    shop = tmp_path / "shop"
    assert (shop / "customers").is_dir()
    for name in scaffold.SCHEMA_NAMES:
        copy = shop / ".fluentcart" / "schemas" / f"{name}.schema.json"
        assert copy.read_bytes() == scaffold.packaged_schema(name)
        assert f"created .fluentcart/schemas/{name}.schema.json" in result.output
    assert "Initialized a fluentcart workspace in shop" in result.output
    assert oct((shop / "fluentcart.yaml").stat().st_mode & 0o777) == "0o644"

    # The new fluentcart.yaml holds every key at its default, and names the credentials.
    text = (shop / "fluentcart.yaml").read_text()
    config = yaml.safe_load(text)
    assert not iter_errors("workspace", config)
    keys = json.loads(scaffold.packaged_schema("workspace"))["properties"]
    assert len(keys) >= 7
    for key in keys:  # every key, set to its default, or commented out (site)
        assert re.search(rf"^(# )?{key}:", text, re.MULTILINE), key
    for variable in ("FLUENTCART_URL", "FLUENTCART_USERNAME", "FLUENTCART_APP_PASSWORD"):
        assert variable in text
    workspace = load_workspace(shop, env={})
    assert workspace.statuses == DEFAULT_STATUSES
    assert workspace.parallelism == DEFAULT_PARALLELISM
    assert workspace.name_mode is NameMode.AUTO
    assert workspace.sensitive == frozenset()
    assert schema_targets(shop) == {
        shop / "fluentcart.yaml": (shop / ".fluentcart/schemas/workspace.schema.json").resolve()
    }

    gitignore = (shop / ".gitignore").read_text().splitlines()
    for suffix in (".backup", ".journal", ".lock"):
        assert f"/fluentcart.state.json{suffix}" in gitignore
    assert "*.plan" in gitignore


def test_init_in_an_existing_workspace_changes_nothing(tmp_path: Path, run) -> None:
    (tmp_path / "fluentcart.yaml").write_text("state: shop.state.json\nstatuses: [active, vip]\n")
    (tmp_path / ".gitignore").write_text("node_modules/\n*.plan\n")
    schemas = tmp_path / ".fluentcart" / "schemas"
    schemas.mkdir(parents=True)
    (schemas / "customer.schema.json").write_text("{}")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    result = run(tmp_path, "init")
    assert result.exit_code == 0, result.output
    for path, data in before.items():
        assert path.read_bytes() == data, path
    assert "created fluentcart.yaml" not in result.output
    # What it would add to the files it keeps, with the state file's own name.
    assert "add these lines" in result.output
    assert "/shop.state.json.journal" in result.output
    assert "*.plan" not in result.output.split("add these lines")[1]
    assert "--upgrade-schemas" in result.output
    assert "created customers/" in result.output
    assert "created .fluentcart/schemas/plan.schema.json" in result.output

    again = run(tmp_path, "init")
    assert "Nothing to add" in again.output

    upgraded = run(tmp_path, "init", "--upgrade-schemas")
    assert upgraded.exit_code == 0
    assert upgraded.output.startswith(
        "upgraded .fluentcart/schemas/customer.schema.json to this version's schema\n"
    )
    assert "created" not in upgraded.output
    assert (schemas / "customer.schema.json").read_bytes() == scaffold.packaged_schema("customer")
    assert (tmp_path / ".gitignore").read_bytes() == before[tmp_path / ".gitignore"]


def test_init_refuses_a_broken_config_with_its_position(tmp_path: Path, run) -> None:
    (tmp_path / "fluentcart.yaml").write_text("statuses: active\n")
    result = run(tmp_path, "init")
    assert result.exit_code == 1
    assert "fluentcart.yaml:1:" in result.output


def test_init_of_a_file_is_an_error(tmp_path: Path, run) -> None:
    (tmp_path / "taken").write_text("")
    result = run(tmp_path, "init", "taken")
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_the_examples_are_an_initialized_workspace() -> None:
    """The shipped examples keep the current schemas, and every `$schema` comment in them
    leads to the workspace's copy, from the file's own directory."""
    for name in scaffold.SCHEMA_NAMES:
        copy = EXAMPLES / ".fluentcart" / "schemas" / f"{name}.schema.json"
        assert copy.read_bytes() == scaffold.packaged_schema(name), (
            f"{copy} is stale: run `fluentcart init --upgrade-schemas examples`"
        )
    targets = schema_targets(EXAMPLES)
    assert len(targets) >= 3
    for path, target in targets.items():
        assert target.is_file(), path
        assert target.is_relative_to((EXAMPLES / ".fluentcart" / "schemas").resolve()), path
    report = init_workspace(EXAMPLES.resolve())
    assert report.created == [] and report.advice == []


def test_schema_comment_is_relative_to_the_file(tmp_path: Path) -> None:
    deep = tmp_path / "customers" / "eu" / "de.yaml"
    assert scaffold.schema_comment(deep, tmp_path) == (
        "# yaml-language-server: $schema=../../.fluentcart/schemas/customer.schema.json"
    )


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout


def test_adopting_a_store_gives_a_clean_git_workspace(tmp_path: Path, run, sandbox) -> None:
    """init, then import --all --generate-yaml: 100 customers a file, schemas that resolve,
    and nothing that holds rewritten customer data is staged by `git add -A`."""
    sandbox([seed_customer(i, city="Paris") for i in range(1, 251)])
    assert run(tmp_path, "init").exit_code == 0
    result = run(tmp_path, "import", "--all", "--generate-yaml", "customers/")
    assert result.exit_code == 0, result.output
    assert "250 customer(s) written to customers (3 file(s))" in result.output
    assert sorted(p.name for p in (tmp_path / "customers").iterdir()) == [
        "customers-000001-000100.yaml",
        "customers-000101-000200.yaml",
        "customers-000201-000250.yaml",
    ]
    for path, target in schema_targets(tmp_path).items():
        assert target.is_file(), path
    assert run(tmp_path, "validate").exit_code == 0
    assert run(tmp_path, "plan", "-out", "reviewed.plan").exit_code == 0
    # What an apply leaves beside the state, and a kept plan, must stay out of git.
    for suffix in (".backup", ".journal", ".lock"):
        (tmp_path / f"fluentcart.state.json{suffix}").write_text("{}")

    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    staged = git(tmp_path, "diff", "--cached", "--name-only").split()
    assert "fluentcart.yaml" in staged and "fluentcart.state.json" in staged
    assert ".gitignore" in staged and ".fluentcart/schemas/customer.schema.json" in staged
    leaked = [name for name in staged if name.endswith((".backup", ".journal", ".lock", ".plan"))]
    assert leaked == []

    # A plan saved under another name would be committed: plan says so.
    assert "git would commit" not in run(tmp_path, "plan", "-out", "again.plan").stderr
    warned = run(tmp_path, "plan", "-out", "reviewed.bin")
    assert warned.exit_code == 0
    assert "warning: git would commit reviewed.bin" in warned.stderr


def test_import_reports_values_validate_rejects(tmp_path: Path, run, sandbox) -> None:
    sandbox(
        [
            seed_customer(1),
            seed_customer(2, status="vip"),
            seed_customer(3, first_name="Jane ", last_name=" Doe"),
        ]
    )
    run(tmp_path, "init")
    result: Result = run(tmp_path, "import", "--all", "--generate-yaml", "customers/")
    assert result.exit_code == 1, result.output
    file = "customers/customers-000001-000003.yaml"
    lines = (tmp_path / file).read_text().splitlines()
    vip_line = next(i for i, line in enumerate(lines, 1) if "status: vip" in line)
    assert f"{file}:{vip_line}:" in result.output
    assert "'vip' is not an allowed status" in result.output or '"vip"' in result.output
    assert "statuses" in result.output
    assert "customer 3" in result.output
    # The state holds what the store has, and validate names the same problems.
    assert set(load_state_ids(tmp_path)) == {1, 2, 3}
    validate = run(tmp_path, "validate")
    assert validate.exit_code == 1
    assert f"{file}:{vip_line}:" in validate.output


def load_state_ids(root: Path) -> list[int]:
    return [int(i) for i in json.loads((root / "fluentcart.state.json").read_text())["customers"]]


def test_import_without_a_workspace_suggests_init(tmp_path: Path, run, sandbox) -> None:
    server = sandbox([seed_customer(1)])
    result = run(tmp_path, "import", "--all", "--generate-yaml", "customers/")
    assert result.exit_code == 1
    assert "fluentcart init" in result.output and "--init" in result.output
    assert server.count() == 0
    assert not (tmp_path / "customers").exists()

    result = run(tmp_path, "import", "--init", "--all", "--generate-yaml", "customers/")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fluentcart.yaml").is_file()
    assert (tmp_path / ".gitignore").is_file()
    assert schema_targets(tmp_path)
