"""The command line itself: exit codes of usage errors, Terraform's spellings, lists of ids,
the environment variables in `--help`, options only where they act, and a closed stdout."""

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from reconciler.main import cli
from reconciler.sandbox import Sandbox, Store
from reconciler.sandbox.server import Faults, default_users
from reconciler.statefile import serialize
from tests.conftest import PASSWORD, recorded_state, seed_customer

COMMANDS = {
    name: command for name, command in cli.commands.items() if not isinstance(command, click.Group)
}
SUBCOMMANDS = [["state", name] for name in ("list", "show", "rm")]
ALL_COMMANDS = [[name] for name in COMMANDS] + SUBCOMMANDS


def test_every_command_is_covered() -> None:
    assert {"validate", "fmt", "plan", "show", "apply", "refresh", "import", "init"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("words", ALL_COMMANDS, ids=" ".join)
def test_an_unknown_option_exits_1(tmp_path: Path, run, words: list[str]) -> None:
    result = run(tmp_path, *words, "--bogus")
    assert result.exit_code == 1, result.output
    assert "No such option: --bogus" in result.output or "--bogus" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["apply", "--detailed-exitcode", "--auto-approve", "--bogus"],
        ["plan", "--detailed-exitcode", "--target", "abc"],
        ["plan", "--target", "0"],
        ["plan", "--target", "7,,8"],
        ["plan", "--format", "yaml"],
        ["apply", "--parallelism", "0"],
        ["state", "show"],
        ["state", "rm"],
        ["nosuchcommand"],
        ["--bogus"],
    ],
    ids=" ".join,
)
def test_usage_errors_exit_1_never_2(tmp_path: Path, run, args: list[str]) -> None:
    result = run(tmp_path, *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output


def test_usage_error_of_the_installed_command_exits_1(tmp_path: Path) -> None:
    """The console script, not only click's test runner: what CI's shell sees."""
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--detailed-exitcode", "--bogus"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "No such option" in result.stderr


def parsed(command: str, args: list[str]) -> dict[str, object]:
    context = COMMANDS[command].make_context(command, list(args))
    return dict(context.params)


TERRAFORM_SPELLINGS = [
    ("apply", ["-auto-approve"], ["--auto-approve"]),
    ("apply", ["-target", "7"], ["--target", "7"]),
    ("apply", ["-target=7"], ["--target", "7"]),
    ("apply", ["-detailed-exitcode"], ["--detailed-exitcode"]),
    ("apply", ["-refresh"], ["--refresh"]),
    ("apply", ["-refresh-only"], ["--refresh-only"]),
    ("apply", ["-lock-timeout", "5"], ["--lock-timeout", "5"]),
    ("apply", ["-parallelism", "3"], ["--parallelism", "3"]),
    ("apply", ["-json"], ["--json"]),
    ("apply", ["-no-color"], ["--no-color"]),
    ("plan", ["-out", "x.plan"], ["--out", "x.plan"]),
    ("plan", ["-target", "7"], ["--target", "7"]),
    ("plan", ["-detailed-exitcode"], ["--detailed-exitcode"]),
    ("plan", ["-refresh"], ["--refresh"]),
    ("plan", ["-refresh-only"], ["--refresh-only"]),
    ("plan", ["-no-color"], ["--no-color"]),
    ("refresh", ["-target", "7", "-lock-timeout", "2"], ["--target", "7", "--lock-timeout", "2"]),
    ("import", ["-lock-timeout", "2"], ["--lock-timeout", "2"]),
    ("show", ["x.plan", "-no-color"], ["x.plan", "--no-color"]),
]


@pytest.mark.parametrize(("command", "short", "long"), TERRAFORM_SPELLINGS)
def test_terraform_spellings_mean_the_long_options(
    command: str, short: list[str], long: list[str]
) -> None:
    assert parsed(command, short) == parsed(command, long)
    defaults = parsed(command, ["x.plan"] if command == "show" else [])
    assert parsed(command, short) != defaults


def test_target_takes_lists_and_repeats() -> None:
    assert parsed("plan", ["--target", "7,300"])["targets"] == (7, 300)
    assert parsed("plan", ["--target", "7", "--target", "300,9"])["targets"] == (7, 300, 9)
    assert parsed("apply", ["-target", "7, 300", "-target=7"])["targets"] == (7, 300)


def test_target_list_limits_a_plan(workspace, run) -> None:
    workspace.declare("a.yaml", "customers:\n" + "".join(f"  - id: {i}\n" for i in (1, 7, 300)))
    result = run(workspace, "plan", "--format", "json", "-target", "7,300")
    assert result.exit_code == 0, result.output
    planned = {c["id"] for c in json.loads(result.stdout)["changes"]}
    assert planned == {7, 300}


STORE_VARIABLES = ("FLUENTCART_URL", "FLUENTCART_USERNAME", "FLUENTCART_APP_PASSWORD")


@pytest.mark.parametrize("words", [[], *ALL_COMMANDS, ["sandbox"]], ids=" ".join)
def test_help_names_the_environment_variables(tmp_path: Path, run, words: list[str]) -> None:
    result = run(tmp_path, *words, "--help")
    assert result.exit_code == 0
    assert "Environment variables:" in result.output
    assert "FLUENTCART_DEBUG" in result.output
    talks_to_store = not words or words[0] in ("plan", "apply", "import", "refresh")
    for variable in STORE_VARIABLES:
        assert (variable in result.output) == talks_to_store, (words, variable)


def test_method_override_only_where_a_put_is_sent(tmp_path: Path, run) -> None:
    for name in COMMANDS:
        options = {o for p in COMMANDS[name].params for o in p.opts}
        assert ("--method-override" in options) == (name == "apply"), name
    result = run(tmp_path, "import", "--method-override")
    assert result.exit_code == 1


@pytest.mark.parametrize("leave_after", ["the first line", "the first applied customer"])
def test_closed_stdout_finishes_the_apply_cleanly(tmp_path: Path, leave_after: str) -> None:
    """`fluentcart apply --auto-approve | head -1`: the reader leaves while the run still has
    lines to print (during the plan, or while customers are being applied). Every PUT is
    recorded, the journal is folded and removed, the lock released, the exit code is the
    run's, and nothing is printed about the pipe."""
    store = Store("http://127.0.0.1", users=default_users("admin", PASSWORD))
    for i in range(1, 41):
        store.seed(seed_customer(i, city="Lyon"))
    server = Sandbox(store, faults=Faults(latency_ms=30)).start()
    try:
        root = tmp_path / "ws"
        (root / "customers").mkdir(parents=True)
        (root / "customers" / "all.yaml").write_text(
            "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 41))
        )
        state_path = root / "fluentcart.state.json"
        state_path.write_bytes(serialize(recorded_state(server, list(range(1, 41)))))
        state_path.chmod(0o600)
        env = {
            **os.environ,
            "FLUENTCART_URL": server.url,
            "FLUENTCART_USERNAME": "admin",
            "FLUENTCART_APP_PASSWORD": PASSWORD,
            "PYTHONUNBUFFERED": "1",  # each line reaches the pipe as it is printed
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "-C", str(root), "apply", "--auto-approve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline()
        if leave_after == "the first applied customer":
            while b": changed" not in line:
                line = process.stdout.readline()
                assert line, "apply printed no result line"
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=120) == 0, stderr
        assert stderr == ""
        assert server.count("PUT") == 40
        state = json.loads(state_path.read_text())
        assert {r["observed"]["city"] for r in state["customers"].values()} == {"Paris"}
        assert not (root / "fluentcart.state.json.journal").exists()
        # The lock is free and nothing is left to do.
        again = subprocess.run(
            [sys.executable, "-m", "reconciler", "-C", str(root), "plan", "--refresh"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert again.returncode == 0, again.stderr
        assert "No changes" in again.stdout
    finally:
        server.stop()


def test_shell_completion_as_the_readme_gives_it(tmp_path: Path) -> None:
    def complete(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reconciler"],
            cwd=tmp_path,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )

    for shell in ("bash", "zsh", "fish"):
        script = complete(_FLUENTCART_COMPLETE=f"{shell}_source")
        assert script.returncode == 0, script.stderr
        assert "_FLUENTCART_COMPLETE" in script.stdout
    words = complete(
        _FLUENTCART_COMPLETE="bash_complete", COMP_WORDS="fluentcart apply -auto", COMP_CWORD="2"
    )
    assert words.stdout.split() == ["plain,-auto-approve"]


@pytest.mark.parametrize("words", [[], ["state"]], ids=["fluentcart", "state"])
def test_a_group_alone_prints_its_help_and_exits_1(tmp_path: Path, words: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", *words], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "Commands:" in result.stderr
    assert "Error:" not in result.stderr
