"""The whole review-before-apply flow, run from the workflows' own steps, against the sandbox.

A scratch git repository stands in for the hosted one: `origin.git`, a bare repository whose
pre-receive hook can refuse pushes to main as branch protection does, and a developer's clone
that branches, pushes and merges. The jobs of examples/ci/github/fluentcart.yml then run step
by step in fresh clones of it (`GitHubJob`): every `run:` step is the workflow's own shell
script, run by bash as the runner does, with `if:`, `${{ }}` in `env:` and GITHUB_OUTPUT; the
actions they use are played by the harness (checkout: a clone; upload-artifact: a copy;
github-script: the workflow's script under node, with a fake `github` client), and `gh` is a
script on PATH that records its arguments. The install steps are not run: the fluentcart on
PATH is this checkout's (tests/test_ci_examples.py checks that they install the pinned
version). examples/ci/gitlab/.gitlab-ci.yml runs the same way (`gitlab_job`), with `curl`
faked for GitLab's API.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import scaffold
from tests.conftest import ROOT, Workspace, recorded_state, seed_customer
from tests.test_git import commit, git

CI = ROOT / "examples" / "ci"
GITHUB = yaml.safe_load((CI / "github" / "fluentcart.yml").read_text())
GITLAB = yaml.safe_load((CI / "gitlab" / ".gitlab-ci.yml").read_text())
GITHUB_COMMENT_LIMIT = 65_536
PERMISSION_WARNING = "is readable by other users"

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

PROTECTING_HOOK = """\
#!/bin/sh
# Branch protection: main takes pushes only from a merge (ALLOW_MAIN=1) while `protected` exists.
while read -r old new ref; do
  if [ "$ref" = refs/heads/main ] && [ -f protected ] && [ "$ALLOW_MAIN" != 1 ]; then
    echo "GH006: Protected branch update failed for refs/heads/main." >&2
    exit 1
  fi
done
i=0
while [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do
  eval "echo \\"\\$GIT_PUSH_OPTION_$i\\"" >> push-options
  i=$((i + 1))
done
"""

FAKE_GH = '''\
"""gh, faked: records its arguments; answers from the JSON file FAKE_GH names."""
import json, os, shutil, sys
from pathlib import Path

args = sys.argv[1:]
config = json.loads(Path(os.environ["FAKE_GH"]).read_text())
with open(config["log"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[0] == "api" and args[1].endswith("/pulls"):
    print(config["pr"])
elif args[:2] == ["pr", "view"]:
    print(config["branch"])
elif args[:2] == ["run", "list"]:
    print(config["run_id"])
elif args[:2] == ["run", "download"]:
    for path in Path(config["artifacts"], args[2], args[args.index("--name") + 1]).iterdir():
        shutil.copy(path, path.name)
elif args[:2] == ["pr", "list"]:
    print(config.get("waiting", ""))
elif args[:2] == ["pr", "create"]:
    print("https://github.com/acme/shop/pull/12")
else:
    sys.exit(f"gh (fake): no answer for {args}")
'''

FAKE_CURL = '''\
"""curl, faked for GitLab's API: records each call; answers from the JSON file FAKE_CURL names."""
import json, os, shutil, sys
from pathlib import Path

args = sys.argv[1:]
config = json.loads(Path(os.environ["FAKE_CURL"]).read_text())
url = next(a for a in args if a.startswith("http"))
data = args[args.index("--data") + 1] if "--data" in args else None
with open(config["log"], "a") as log:
    log.write(json.dumps({"url": url, "data": data}) + "\\n")
if "--output" in args:
    shutil.copy(Path(config["artifacts"], url.split("/raw/")[1].split("?")[0]), args[args.index("--output") + 1])
elif "/repository/commits/" in url:
    print(json.dumps([{"source_branch": config["branch"]}]))
elif "/merge_requests?state=opened" in url or url.endswith("/notes?per_page=100"):
    print("[]")
'''

GITHUB_SCRIPT = """\
// actions/github-script, played: the step's script with a fake `github` and `context`.
const fs = require("fs");
const [scriptPath, pullPath] = process.argv.slice(2);
const pull = JSON.parse(fs.readFileSync(pullPath, "utf8"));
const github = {
  paginate: async (method, args) => (await method(args)).data,
  rest: { issues: {
    listComments: async () => ({ data: pull.comments }),
    createComment: async ({ body }) => { pull.comments.push({ id: pull.comments.length + 1, body }); },
    updateComment: async ({ comment_id, body }) => {
      pull.comments.find((c) => c.id === comment_id).body = body;
    },
  } },
};
const context = { repo: { owner: "acme", repo: "shop" }, issue: { number: pull.number } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction("github", "context", "require", fs.readFileSync(scriptPath, "utf8"))(
  github, context, require,
).then(() => fs.writeFileSync(pullPath, JSON.stringify(pull)));
"""


def write_tool(directory: Path, name: str, source: str) -> None:
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{source}")
    path.chmod(0o755)


def bash(script: str, cwd: Path, env: dict[str, str], *flags: str) -> tuple[int, str]:
    """A script as the runner runs it: bash, non-interactive, stdout and stderr in one log."""
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", *flags, "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout


# GitHub's expression syntax, as much as the workflows use, turned into Python.
_STATUS = {"always()": "True", "cancelled()": "False", "success()": "ok", "failure()": "(not ok)"}
_NAME = re.compile(r"\b(?:steps|github|runner|vars|secrets)(?:\.[\w-]+)+")


def evaluate(expression: str, lookup: Callable[[str], str], ok: bool) -> bool:
    """An `if:`; without a status function it means `success() && (...)`, as on GitHub."""
    text = expression.strip().removeprefix("${{").removesuffix("}}")
    if not any(function in text for function in _STATUS):
        text = f"success() && ({text})"
    text = re.sub(r"!(?!=)", " not ", text.replace("&&", " and ").replace("||", " or "))
    for function, python in _STATUS.items():
        text = text.replace(function, python)
    text = _NAME.sub(lambda m: repr(lookup(m[0])), text)
    return bool(eval(text, {"__builtins__": {}}, {"ok": ok}))


def substitute(value: str, lookup: Callable[[str], str]) -> str:
    return re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: lookup(m[1]), value)


@dataclass
class StepRun:
    name: str
    outcome: str  # success, failure or skipped, as steps.<id>.outcome says
    log: str = ""


@dataclass
class JobRun:
    run_id: str
    directory: Path
    steps: list[StepRun]
    pull: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(step.outcome == "failure" for step in self.steps)

    def step(self, name: str) -> StepRun:
        return next(step for step in self.steps if step.name == name)

    @property
    def log(self) -> str:
        return "\n".join(step.log for step in self.steps)

    @property
    def comments(self) -> list[str]:
        return [c["body"] for c in self.pull.get("comments", [])]


def step_name(step: dict[str, Any]) -> str:
    return step.get("name") or step.get("id") or step.get("uses") or step["run"].split("\n")[0]


class Hosting:
    """The hosted repository (a bare origin, protected or not), its runs' artifacts, and a
    developer's clone in `workspace.root` that branches, pushes and merges."""

    def __init__(self, workspace: Workspace, store_url: str, tmp_path: Path) -> None:
        self.dev = workspace.root
        self.store_url = store_url
        self.tmp = tmp_path
        self.origin = tmp_path / "origin.git"
        self.artifacts = tmp_path / "artifacts"
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        write_tool(self.bin, "gh", FAKE_GH)
        write_tool(self.bin, "curl", FAKE_CURL)
        self.gh_log = tmp_path / "gh.log"
        self.runs = 100
        git(tmp_path, "clone", "-q", "--bare", str(self.dev), str(self.origin))
        hook = self.origin / "hooks" / "pre-receive"
        hook.write_text(PROTECTING_HOOK)
        hook.chmod(0o755)
        git(self.origin, "config", "receive.advertisePushOptions", "true")
        git(self.dev, "remote", "add", "origin", str(self.origin))
        self.gitconfig = tmp_path / "gitconfig"
        self.gitconfig.write_text("")

    def protect_main(self) -> None:
        (self.origin / "protected").touch()

    def pull_request(self, branch: str, edits: dict[str, str], file: str = "team.yaml") -> str:
        """A branch from main that edits a declared file, pushed; returns its head commit."""
        git(self.dev, "fetch", "-q", "origin")
        git(self.dev, "checkout", "-q", "-B", branch, "origin/main")
        path = self.dev / "customers" / file
        text = path.read_text()
        for old, new in edits.items():
            assert old in text
            text = text.replace(old, new)
        path.write_text(text)
        commit(self.dev, f"{branch}: {', '.join(edits.values())}")
        git(self.dev, "push", "-q", "origin", branch)
        return git(self.dev, "rev-parse", "HEAD")

    def merge(self, branch: str) -> str:
        """The merge button: main (as it is on origin) merges the branch, protection or not."""
        git(self.dev, "fetch", "-q", "origin")
        git(self.dev, "checkout", "-q", "-B", "main", "origin/main")
        git(self.dev, "merge", "-q", "--no-ff", "-m", f"Merge {branch}", f"origin/{branch}")
        subprocess.run(
            ["git", "-C", str(self.dev), "push", "-q", "origin", "main"],
            env={**os.environ, "ALLOW_MAIN": "1"},
            check=True,
            capture_output=True,
        )
        return git(self.dev, "rev-parse", "HEAD")

    def main_state(self) -> dict[str, Any]:
        return json.loads(git(self.origin, "show", "main:fluentcart.state.json"))

    def gh_calls(self) -> list[list[str]]:
        if not self.gh_log.exists():
            return []
        return [json.loads(line) for line in self.gh_log.read_text().splitlines()]

    def checkout(self, ref: str) -> Path:
        """actions/checkout: a fresh clone at `ref` (detached), origin set; files 0644 by umask."""
        self.runs += 1
        directory = self.tmp / f"run-{self.runs}" / "work"
        git(self.tmp, "clone", "-q", str(self.origin), str(directory))
        git(directory, "checkout", "-q", "--detach", ref)
        return directory

    def fluentcart(self, directory: Path, args: str) -> tuple[int, str]:
        """fluentcart run by hand in a checkout (the state made private first, as the jobs do)."""
        (directory / "fluentcart.state.json").chmod(0o600)
        return bash(f"fluentcart {args}", directory, self.env({"FLUENTCART_URL": self.store_url}))

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "GIT_CONFIG_GLOBAL": str(self.gitconfig),
            "GIT_CONFIG_NOSYSTEM": "1",
            **extra,
        }


class GitHubJob:
    """One job of examples/ci/github/fluentcart.yml, run step by step."""

    def __init__(self, hosting: Hosting, job: str, ref: str, **variables: str) -> None:
        self.hosting = hosting
        self.job = GITHUB["jobs"][job]
        self.ref = ref
        self.variables = variables
        self.outcomes: dict[str, str] = {}
        self.outputs: dict[str, dict[str, str]] = {}
        self.context: dict[str, str] = {}  # the rest of ${{ }}: set when the job runs

    def lookup(self, name: str) -> str:
        parts = name.split(".")
        if parts[0] == "steps":
            if parts[2] == "outcome":
                return self.outcomes.get(parts[1], "")
            return self.outputs.get(parts[1], {}).get(parts[3], "")
        return self.context[name]

    def run(self, pull: dict[str, Any] | None = None, gh: dict[str, str] | None = None) -> JobRun:
        directory = self.hosting.checkout(self.ref)
        temp = directory.parent / "temp"
        temp.mkdir()
        run_id = str(self.hosting.runs)
        self.context = {
            "github.token": "ghs_fake",
            "github.workspace": str(directory),
            "runner.temp": str(temp),
            "vars.FLUENTCART_URL": self.hosting.store_url,
            "secrets.FLUENTCART_USERNAME": os.environ["FLUENTCART_USERNAME"],
            "secrets.FLUENTCART_APP_PASSWORD": os.environ["FLUENTCART_APP_PASSWORD"],
        }
        fake_gh = temp / "gh.json"
        fake_gh.write_text(json.dumps({"log": str(self.hosting.gh_log), **(gh or {})}))
        base = {name: substitute(str(v), self.lookup) for name, v in GITHUB["env"].items()}
        base |= {
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "acme/shop",
            "GITHUB_RUN_ID": run_id,
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_SHA": git(directory, "rev-parse", "HEAD"),
            "RUNNER_TEMP": str(temp),
            "FAKE_GH": str(fake_gh),
            **self.variables,
        }
        pull = {"number": 7, "comments": [], **(pull or {})}
        steps: list[StepRun] = []
        for index, step in enumerate(self.job["steps"]):
            name = step_name(step)
            ok = not any(s.outcome == "failure" for s in steps)
            if not evaluate(step.get("if", "success()"), self.lookup, ok):
                steps.append(StepRun(name, "skipped"))
            else:
                env = base | {
                    k: substitute(str(v), self.lookup) for k, v in step.get("env", {}).items()
                }
                env["GITHUB_OUTPUT"] = str(temp / f"output-{index}")
                steps.append(self.step(step, name, directory, env, pull, run_id))
            if "id" in step:
                self.outcomes[step["id"]] = steps[-1].outcome
        return JobRun(run_id, directory, steps, pull)

    def step(
        self,
        step: dict[str, Any],
        name: str,
        directory: Path,
        env: dict[str, str],
        pull: dict[str, Any],
        run_id: str,
    ) -> StepRun:
        uses = step.get("uses", "")
        with_ = {k: substitute(str(v), self.lookup) for k, v in step.get("with", {}).items()}
        if uses.startswith(("actions/checkout", "actions/setup-python", "actions/cache")):
            return StepRun(name, "success")  # checked out above; Python and the cache: ours
        if uses.startswith("actions/upload-artifact"):
            target = self.hosting.artifacts / run_id / with_["name"]
            target.mkdir(parents=True, exist_ok=True)
            for line in with_["path"].split():
                source = directory / line
                if source.is_dir():
                    shutil.copytree(source, target, dirs_exist_ok=True)
                elif source.exists():
                    shutil.copy(source, target)
            return StepRun(name, "success")
        if uses.startswith("actions/github-script"):
            return self.github_script(name, with_["script"], directory, env, pull)
        assert not uses, f"the harness does not know {uses}"
        if step["run"].startswith("pip install"):
            return StepRun(name, "success")  # this checkout's fluentcart is on PATH
        assert "${{" not in step["run"], f"{name}: values reach scripts through env:"
        output = Path(env["GITHUB_OUTPUT"])
        output.write_text("")
        code, log = bash(step["run"], directory, self.hosting.env(env), "-e")
        if "id" in step:
            pairs = (line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
            self.outputs[step["id"]] = dict(pairs)
        return StepRun(name, "success" if code == 0 else "failure", log)

    def github_script(
        self, name: str, script: str, directory: Path, env: dict[str, str], pull: dict[str, Any]
    ) -> StepRun:
        node = shutil.which("node")
        if node is None:  # without node, what the script posts: the file COMMENT names
            pull["comments"] = [{"id": 1, "body": Path(env["COMMENT"]).read_text()}]
            return StepRun(name, "success")
        temp = directory.parent / "temp"
        (temp / "step.js").write_text(script)
        (temp / "pull.json").write_text(json.dumps(pull))
        (temp / "github-script.js").write_text(GITHUB_SCRIPT)
        code, log = bash(
            f'"{node}" github-script.js step.js pull.json', temp, self.hosting.env(env)
        )
        pull.update(json.loads((temp / "pull.json").read_text()))
        return StepRun(name, "success" if code == 0 else "failure", log)


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
    (workspace.root / ".gitignore").write_text(scaffold.gitignore_text())  # what init writes
    git(workspace.root, "init", "-q", "-b", "main")
    commit(workspace.root, "declare the team")
    return server


@pytest.fixture
def hosting(workspace: Workspace, store, tmp_path_factory: pytest.TempPathFactory) -> Hosting:
    # Beside the workspace, not in it: the developer's clone would commit it.
    return Hosting(workspace, store.url, tmp_path_factory.mktemp("hosting"))


def plan_job(hosting: Hosting, head: str, pull: dict[str, Any] | None = None) -> JobRun:
    job = GitHubJob(hosting, "plan", head).run(pull)
    state = job.directory / "fluentcart.state.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600  # restored by the job
    return job


def apply_job(
    hosting: Hosting, merged: str, branch: str, plan: JobRun, waiting: str = ""
) -> JobRun:
    """The push job on the merge commit, fetching the plan that `plan` kept."""
    gh = {
        "pr": "7",
        "branch": branch,
        "run_id": plan.run_id,
        "artifacts": str(hosting.artifacts),
        "waiting": waiting,
    }
    return GitHubJob(hosting, "apply", merged, GITHUB_REF_NAME="main").run(gh=gh)


def events(job: JobRun) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (job.directory / "events.jsonl").read_text().splitlines()]


def test_a_fresh_checkout_has_the_state_0644(hosting: Hosting) -> None:
    """Why the jobs restore 0600: a clone's state is readable by others, and fluentcart warns."""
    directory = hosting.checkout("main")
    state = directory / "fluentcart.state.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o644
    code, log = bash("fluentcart validate && fluentcart plan", directory, hosting.env({}), "-e")
    assert code == 0 and PERMISSION_WARNING in log, log


def test_the_reviewed_plan_is_applied_after_merge(hosting: Hosting, store) -> None:
    head = hosting.pull_request("move-grace", {"city: Arlington": "city: Washington"})
    plan = plan_job(hosting, head)
    assert not plan.failed, plan.log
    assert plan.step("Fail when the plan failed (after its comment)").outcome == "skipped"
    assert PERMISSION_WARNING not in plan.log
    # What the reviewer approves: one comment naming the plan, its base and its commit.
    [comment] = plan.comments
    assert comment.startswith(GITHUB["env"]["FLUENTCART_COMMENT_MARKER"] + "\n### FluentCart plan")
    reviewed = re.search(r"Plan `([0-9a-f]{16})`", comment)
    assert reviewed, comment
    assert f"base state serial 1 · commit `{head[:12]}`\n" in comment  # not "uncommitted"
    assert "**Plan: 1 to change, 1 unchanged" in comment
    assert '<code>"Arlington"</code> | <code>"Washington"</code>' in comment
    assert f"[this run](https://github.com/acme/shop/actions/runs/{plan.run_id})" in comment
    kept = hosting.artifacts / plan.run_id / "fluentcart-plan"
    assert {p.name for p in kept.iterdir()} >= {"fluentcart.plan", "plan.txt", "plan.json"}
    assert store.count("PUT") == 0  # planning never writes

    # A new push to the pull request: the same comment, updated in place.
    again = plan_job(hosting, head, plan.pull)
    assert len(again.comments) == 1 and again.comments[0] != comment  # another run's link

    merged = hosting.merge("move-grace")
    apply = apply_job(hosting, merged, "move-grace", again)
    assert not apply.failed, apply.log
    assert PERMISSION_WARNING not in apply.log
    found = events(apply)
    assert found[0]["type"] == "apply_start"
    assert found[0]["plan_sha256"].startswith(reviewed[1])  # the log names the reviewed plan
    assert f"Applying the saved plan {reviewed[1]} (base state serial 1, commit" in apply.log
    assert found[-1]["type"] == "summary"
    assert found[-1]["changed"] == 1 and found[-1]["failed"] == 0
    assert "HEAD has moved since the plan was made" in apply.log  # the merge commit

    live = store.store.customers[2]
    assert live["city"] == "Washington"
    assert live["email"] == "grace@example.com"
    assert (live["first_name"], live["last_name"]) == ("Grace", "Hopper")
    assert store.store.customers[1]["city"] == "London"
    assert store.count("PUT") == 1

    # The state went straight to main, on top of the merge; no pull request was needed.
    assert "Recorded the state on main." in apply.log
    state = hosting.main_state()
    assert state["serial"] == 2 and state["customers"]["2"]["observed"]["city"] == "Washington"
    assert git(hosting.origin, "rev-parse", "main^") == merged
    assert not any(call[:2] == ["pr", "create"] for call in hosting.gh_calls())
    kept_state = hosting.artifacts / apply.run_id / "fluentcart-state" / "fluentcart.state.json"
    assert json.loads(kept_state.read_text()) == state

    code, log = hosting.fluentcart(hosting.checkout("main"), "plan --refresh --detailed-exitcode")
    assert code == 0, log  # the store, the state on main and the YAML agree


def test_a_protected_main_gets_the_state_in_a_pull_request(hosting: Hosting, store) -> None:
    hosting.protect_main()
    head = hosting.pull_request("move-grace", {"city: Arlington": "city: Washington"})
    plan = plan_job(hosting, head)
    merged = hosting.merge("move-grace")
    before = git(hosting.origin, "rev-parse", "main")
    apply = apply_job(hosting, merged, "move-grace", plan)

    # The push to main is refused; the applied state is on a branch of its own, in a pull request.
    assert apply.step("Record the state in git (a pull request where main refuses the push)")
    assert "GH006: Protected branch update failed" in apply.log
    assert not apply.failed, apply.log
    assert git(hosting.origin, "rev-parse", "main") == before
    branch = f"fluentcart/state-{apply.run_id}-1"
    state = json.loads(git(hosting.origin, "show", f"{branch}:fluentcart.state.json"))
    assert state["serial"] == 2 and state["customers"]["2"]["observed"]["city"] == "Washington"
    assert git(hosting.origin, "rev-parse", f"{branch}^") == merged
    [create] = [call for call in hosting.gh_calls() if call[:2] == ["pr", "create"]]
    assert create[create.index("--base") + 1] == "main"
    assert create[create.index("--head") + 1] == branch
    assert f"the state is on the branch {branch}" in apply.log
    kept = hosting.artifacts / apply.run_id / "fluentcart-state" / "fluentcart.state.json"
    assert json.loads(kept.read_text()) == state

    # Until that pull request is merged, the next apply refuses to start from main's old state.
    second = hosting.pull_request("move-ada", {"city: London": "city: Cambridge"})
    plan_b = plan_job(hosting, second)
    merged_b = hosting.merge("move-ada")
    blocked = apply_job(hosting, merged_b, "move-ada", plan_b, waiting="#12")
    assert blocked.failed
    assert "The state of an earlier apply waits in pull request #12" in blocked.log
    assert blocked.step("Apply exactly the reviewed plan").outcome == "skipped"
    assert store.count("PUT") == 1

    # Merged (the merge button), the state is main's, and the job run again applies on top of it.
    subprocess.run(
        ["git", "-C", str(hosting.origin), "update-ref", "refs/heads/main", branch], check=True
    )
    assert hosting.main_state()["serial"] == 2
    rerun = apply_job(hosting, merged_b, "move-ada", plan_b)
    assert not rerun.failed, rerun.log
    assert store.store.customers[1]["city"] == "Cambridge"
    waiting = json.loads(
        git(hosting.origin, "show", f"fluentcart/state-{rerun.run_id}-1:fluentcart.state.json")
    )
    assert waiting["serial"] == 3  # on top of the merged state: nothing of the first is lost
    assert waiting["customers"]["2"]["observed"]["city"] == "Washington"
    assert waiting["customers"]["1"]["observed"]["city"] == "Cambridge"


def test_applies_queued_behind_two_quick_merges_keep_both_states(hosting: Hosting, store) -> None:
    """Two pull requests merged before the first apply ran: the first apply records its state
    on main as main is now (the second merge), and the second starts from that state, not
    from the older one its merge commit holds."""
    team = hosting.dev / "customers" / "team.yaml"
    team.write_text(team.read_text().replace(GRACE, ""))
    (hosting.dev / "customers" / "grace.yaml").write_text(
        "customers:" + GRACE.replace("\n\n", "\n")
    )
    commit(hosting.dev, "one file each")
    git(hosting.dev, "push", "-q", "origin", "main")
    plan_a = plan_job(hosting, hosting.pull_request("ada", {"city: London": "city: Cambridge"}))
    plan_b = plan_job(
        hosting, hosting.pull_request("grace", {"city: Arlington": "city: Boston"}, "grace.yaml")
    )
    merged_a = hosting.merge("ada")
    merged_b = hosting.merge("grace")

    first = apply_job(hosting, merged_a, "ada", plan_a)
    assert not first.failed, first.log
    assert git(hosting.origin, "rev-parse", "main^") == merged_b  # on main's newest commit
    second = apply_job(hosting, merged_b, "grace", plan_b)
    assert not second.failed, second.log
    state = hosting.main_state()
    assert state["serial"] == 3
    assert state["customers"]["1"]["observed"]["city"] == "Cambridge"
    assert state["customers"]["2"]["observed"]["city"] == "Boston"
    code, log = hosting.fluentcart(hosting.checkout("main"), "plan --refresh --detailed-exitcode")
    assert code == 0, log


def test_a_plan_whose_state_moved_is_refused(hosting: Hosting, store) -> None:
    # Two pull requests are planned against the same state (serial 1).
    head_a = hosting.pull_request("ada-city", {"city: London": "city: Cambridge"})
    plan_a = plan_job(hosting, head_a)
    head_b = hosting.pull_request("grace-city", {"city: Arlington": "city: Boston"})
    plan_b = plan_job(hosting, head_b)

    # The first is merged and applied: the state moves to serial 2 and is committed.
    first = apply_job(hosting, hosting.merge("ada-city"), "ada-city", plan_a)
    assert not first.failed, first.log
    assert hosting.main_state()["serial"] == 2
    assert store.count("PUT") == 1

    # The second is merged without a new review. Its customer was not touched by the first,
    # but the file that declares it was: the plan is stale, and nothing is sent.
    second = apply_job(hosting, hosting.merge("grace-city"), "grace-city", plan_b)
    assert second.failed
    assert "the saved plan is stale and was not applied" in second.log
    assert "customers/team.yaml changed since the plan" in second.log
    assert "Run `fluentcart plan -out FILE` again and review the new plan." in second.log
    assert store.count("PUT") == 1
    assert store.store.customers[2]["city"] == "Arlington"
    assert store.store.customers[1]["city"] == "Cambridge"
    found = events(second)
    assert [e["type"] for e in found] == ["summary"]  # a CI step reads why from the log
    assert found[0]["status"] == "error" and found[0]["changed"] == 0
    assert "the saved plan is stale" in found[0]["message"]
    assert "The state did not change: nothing to record." in second.log
    assert hosting.main_state()["serial"] == 2

    # The workflow then shows the new plan, asking for a review: only Grace's city is left.
    replan = second.step("Apply exactly the reviewed plan").log
    assert re.search(r"customer 2\b", replan) and "Boston" in replan
    assert not re.search(r"customer 1\b.*update", replan)


GRACE = (
    "\n  - id: 2\n    email: grace@example.com\n    full_name: Grace Hopper\n    city: Arlington\n"
)
FAILING = [
    pytest.param(
        {"email: ada@example.com": 'email: "a@@b"'},
        'customers/team.yaml:3:12: customer 1: email: "a@@b" is not a valid email address',
        id="invalid-declared-file",
    ),
    pytest.param(
        # Grace is no longer declared, and the state keeps her address: the plan has an error.
        {GRACE: "", "email: ada@example.com": "email: grace@example.com"},
        "customer 1: email: customer 2 keeps this address in the state",
        id="error-in-the-plan",
    ),
]


@pytest.mark.parametrize(("edits", "error"), FAILING)
def test_a_failing_plan_is_commented_then_fails_the_job(
    hosting: Hosting, edits: dict[str, str], error: str
) -> None:
    plan = plan_job(hosting, hosting.pull_request("bad", edits))
    assert plan.failed
    names = [step.name for step in plan.steps]
    commented = names.index("Comment the plan (one comment per workspace, updated in place)")
    failed = names.index("Fail when the plan failed (after its comment)")
    assert plan.steps[commented].outcome == "success"
    assert plan.steps[failed].outcome == "failure" and commented < failed
    [comment] = plan.comments
    assert comment.startswith(GITHUB["env"]["FLUENTCART_COMMENT_MARKER"] + "\n")
    assert "### FluentCart plan failed" in comment
    assert error in comment
    assert "Everything fluentcart printed: `plan.err` in the artifact `fluentcart-plan`" in comment
    assert PERMISSION_WARNING not in plan.log
    assert not (hosting.artifacts / plan.run_id / "fluentcart-plan" / "fluentcart.plan").exists()


def seed_bulk_change(workspace: Workspace, store, count: int) -> str:
    """`count` more customers, recorded as the store has them (status active, city Lyon) and
    declared on main; then a branch that makes every 40th inactive and moves the others to
    Paris. Returns the branch's head."""
    ids = list(range(3, count + 3))
    for i in ids:
        store.store.seed(seed_customer(i, email=f"c{i}@example.org", city="Lyon"))
    workspace.state(recorded_state(store, [1, 2, *ids]))
    entries = "".join(f"  - id: {i}\n    status: active\n    city: Lyon\n\n" for i in ids)
    workspace.declare("many.yaml", "customers:\n" + entries.rstrip("\n") + "\n")
    commit(workspace.root, "manage the others")
    git(workspace.root, "push", "-q", "origin", "main")
    git(workspace.root, "checkout", "-q", "-b", "bulk")
    entries = "".join(
        f"  - id: {i}\n    status: inactive\n    city: Lyon\n\n"
        if i % 40 == 0
        else f"  - id: {i}\n    status: active\n    city: Paris\n\n"
        for i in ids
    )
    workspace.declare("many.yaml", "customers:\n" + entries.rstrip("\n") + "\n")
    commit(workspace.root, "bulk change")
    git(workspace.root, "push", "-q", "origin", "bulk")
    return git(workspace.root, "rev-parse", "HEAD")


def test_a_large_plan_comment_stays_under_githubs_limit(
    hosting: Hosting, workspace: Workspace, store
) -> None:
    plan = plan_job(hosting, seed_bulk_change(workspace, store, 500))
    assert not plan.failed, plan.log
    [comment] = plan.comments
    assert len(comment) < GITHUB_COMMENT_LIMIT
    assert "**Plan: 500 to change, 2 unchanged" in comment
    assert "| `city` | 488 |\n| `status` | 12 |" in comment  # ahead of the list
    assert comment.index("| `status` | 12 |") < comment.index("<details>")
    assert comment.count("<details>") == 50
    assert "**450 more customers not shown**" in comment
    # The full plan is in the artifact the comment names.
    assert "artifact `fluentcart-plan` of [this run]" in comment
    kept = hosting.artifacts / plan.run_id / "fluentcart-plan"
    assert len(json.loads((kept / "plan.json").read_text())["changes"]) == 500
    assert (kept / "plan.txt").read_text().count(" will be updated") == 500
    assert (kept / "fluentcart.plan").exists()


FAKE_FLUENTCART = """\
import sys
if sys.argv[1] == "plan":
    sys.stdout.write({stdout!r})
    sys.stderr.write({stderr!r})
    sys.exit(1)
"""


@pytest.mark.parametrize(
    ("stdout", "stderr"),
    [
        pytest.param("", "customers/a.yaml:1:1: <bad> & `x`\n" * 5000, id="only-messages"),
        pytest.param("é" * 59_999, "Error: <&>\n" * 20_000, id="a-full-plan-and-messages"),
    ],
)
def test_the_comment_stays_under_the_limit_whatever_the_plan_prints(
    tmp_path: Path, stdout: str, stderr: str
) -> None:
    """The Plan step's own bound: the renderer's 60,000 characters, plus at most what the
    step quotes of the messages, plus its lines, are under GitHub's 65,536."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_tool(bin_dir, "fluentcart", FAKE_FLUENTCART.format(stdout=stdout, stderr=stderr))
    [step] = [s for s in GITHUB["jobs"]["plan"]["steps"] if s.get("id") == "plan"]
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_RUN_ID": "1",
        "FLUENTCART_COMMENT_MARKER": GITHUB["env"]["FLUENTCART_COMMENT_MARKER"],
        "FMT_OUTCOME": "failure",
        "LC_ALL": "C.UTF-8",
    }
    code, log = bash(step["run"], tmp_path, env, "-e")
    assert code == 0, log
    comment = (tmp_path / "fluentcart-plan" / "comment.md").read_text(errors="replace")
    assert len(comment) < GITHUB_COMMENT_LIMIT
    assert "### FluentCart plan failed" in comment and "(cut here:" in comment
    assert "&lt;" in comment and "<bad>" not in comment  # the messages cannot inject markup
    assert "exit_code=1" in (tmp_path / "output").read_text()


def gitlab_script(job: str) -> Iterator[str]:
    """A GitLab job's before_script and script items, as the runner runs them; the lines that
    install (apt-get, pip) are left out: this checkout's fluentcart is on PATH."""
    for item in [*GITLAB["default"]["before_script"], *GITLAB[job]["script"]]:
        if not item.startswith(("apt-get", "pip install")):
            yield item


@dataclass
class GitLabRun:
    code: int
    log: str
    directory: Path  # the project directory, with the job's artifacts
    notes: list[str]  # merge-request notes the job posted


def gitlab_job(hosting: Hosting, job: str, ref: str, **curl: str) -> GitLabRun:
    """One job of examples/ci/gitlab/.gitlab-ci.yml in a fresh clone at `ref`; `curl` is
    what GitLab's API answers (the merged branch, where the plan job's artifacts are)."""
    directory = hosting.checkout(ref)
    calls = hosting.tmp / f"curl-{hosting.runs}.log"
    fake = hosting.tmp / f"curl-{hosting.runs}.json"
    fake.write_text(json.dumps({"log": str(calls), **curl}))
    env = {
        "CI_PROJECT_DIR": str(directory),
        "CI_API_V4_URL": "https://gitlab.example/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "7",
        "CI_JOB_URL": "https://gitlab.example/acme/shop/-/jobs/9",
        "CI_DEFAULT_BRANCH": "main",
        "CI_SERVER_HOST": "gitlab.example",
        "CI_PROJECT_PATH": "acme/shop",
        "CI_PIPELINE_ID": str(hosting.runs),
        "CI_COMMIT_SHA": git(directory, "rev-parse", "HEAD"),
        "FLUENTCART_GITLAB_TOKEN": "glpat-fake",
        "FLUENTCART_URL": hosting.store_url,
        "FAKE_CURL": str(fake),
    }
    for name, value in GITLAB["variables"].items():
        env[name] = re.sub(r"\$(\w+)", lambda m: env.get(m[1], m[0]), value)
    # The token URL the job pushes to is the bare origin here.
    hosting.gitconfig.write_text(
        f'[url "{hosting.origin}"]\n'
        "\tinsteadOf = https://oauth2:glpat-fake@gitlab.example/acme/shop.git\n"
    )
    code, log = bash("\n".join(gitlab_script(job)), directory, hosting.env(env), "-eo", "pipefail")
    posted = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    notes = [json.loads(call["data"])["body"] for call in posted if call["data"]]
    return GitLabRun(code, log, directory, notes)


def test_gitlab_flow_records_the_state_by_merge_request_when_main_refuses(
    hosting: Hosting, store
) -> None:
    hosting.protect_main()
    head = hosting.pull_request("move-grace", {"city: Arlington": "city: Washington"})
    plan = gitlab_job(hosting, "plan", head)
    assert plan.code == 0, plan.log
    assert PERMISSION_WARNING not in plan.log
    [note] = plan.notes
    assert note.startswith(GITLAB["variables"]["FLUENTCART_COMMENT_MARKER"] + "\n### FluentCart")
    assert '<code>"Arlington"</code> | <code>"Washington"</code>' in note
    assert (plan.directory / "fluentcart-plan" / "plan.txt").exists()

    merged = hosting.merge("move-grace")
    before = git(hosting.origin, "rev-parse", "main")
    apply = gitlab_job(hosting, "apply", merged, branch="move-grace", artifacts=str(plan.directory))
    assert apply.code == 0, apply.log
    assert PERMISSION_WARNING not in apply.log
    assert store.store.customers[2]["city"] == "Washington"
    # main refused the push: the state is on a branch, and the push opened a merge request.
    assert git(hosting.origin, "rev-parse", "main") == before
    branch = f"fluentcart/state-{hosting.runs}"
    state = json.loads(git(hosting.origin, "show", f"{branch}:fluentcart.state.json"))
    assert state["serial"] == 2 and state["customers"]["2"]["observed"]["city"] == "Washington"
    assert git(hosting.origin, "rev-parse", f"{branch}^") == merged
    options = (hosting.origin / "push-options").read_text().splitlines()
    assert "merge_request.create" in options and "merge_request.target=main" in options


def test_gitlab_unprotected_main_takes_the_state(hosting: Hosting, store) -> None:
    head = hosting.pull_request("move-grace", {"city: Arlington": "city: Washington"})
    plan = gitlab_job(hosting, "plan", head)
    merged = hosting.merge("move-grace")
    apply = gitlab_job(hosting, "apply", merged, branch="move-grace", artifacts=str(plan.directory))
    assert apply.code == 0, apply.log
    assert "Recorded the state on main." in apply.log
    assert hosting.main_state()["customers"]["2"]["observed"]["city"] == "Washington"
    assert git(hosting.origin, "rev-parse", "main^") == merged
    assert not (hosting.origin / "push-options").exists()


@pytest.mark.parametrize(("edits", "error"), FAILING)
def test_gitlab_failing_plan_gets_its_note_then_fails(
    hosting: Hosting, edits: dict[str, str], error: str
) -> None:
    plan = gitlab_job(hosting, "plan", hosting.pull_request("bad", edits))
    assert plan.code != 0
    [note] = plan.notes  # posted before the job failed
    assert "### FluentCart plan failed" in note and error in note
    assert re.search(r"^Failed:.* plan; the merge request's note says why", plan.log, re.M)
