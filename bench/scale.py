"""Every goal of one million customers (issue 16) next to its baseline, in one run.

    python bench/scale.py --customers 1000000 --files 1000 --small 100000 \\
        --refresh-customers 1000000 --changes 100000 --latency-ms 20 --parallelism 8

Each fluentcart command runs as a subprocess, as a user runs it (wall time; peak RSS from
bench/rss.py). With --runs N, the baseline, validate and plan without the cache take turns
N times (medians), so that the machine's drift during the runs weighs on each alike.
Sections (--only picks some):

  scale    N declared customers in F files, a state where 10% differ in one field.
           baseline: PyYAML's C loader on every file plus json.load of the state.
           validate and plan without the parse cache; plan with it; plan's peak memory.
  postgres the same workspace with its state migrated to a throwaway PostgreSQL 15
           (tests/pg.py); baseline: the C loader plus reading the state's rows with psycopg.
  small    --small customers in F * small / N files: plan without the cache.
  refresh  `plan --refresh` of R recorded customers against the sandbox: its requests, and
           the time it adds to `plan` (both with the parse cache warm), next to a bare
           concurrent loop of `requests` reading the same pages at the same parallelism
           (a subprocess too, so that neither shares the sandbox's interpreter).
  apply    M changes (one field each) at the given latency and parallelism, with the file
           and with PostgreSQL: the ratio to the ideal M x L / P, and the peak memory of
           apply beside that of an apply of a tenth of them on the same workspace before it
           (what each further change adds, against what one recorded customer takes in
           memory as json.load reads it: the records themselves);
           and, as the floor of the transport, the same PUTs from a bare concurrent loop
           of `requests` (a subprocess, its bodies read from list pages beforehand).

Prints one table: each figure, its baseline, the ratio, the goal, met or MISSED.
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    ROOT,
    Measure,
    fluentcart,
    interleaved,
    make_workspace,
    median_of,
    print_table,
    seeded_store,
    timed,
)
from plan import BASELINE

sys.path.insert(0, str(ROOT))
from reconciler.sandbox import Sandbox
from reconciler.sandbox.server import Faults
from reconciler.statefile import serialize
from tests import pg
from tests.conftest import recorded_state

PASSWORD = "bench-password"
PER_FILE = 1000

PG_BASELINE = """
import glob, sys, yaml, psycopg
for path in sorted(glob.glob(sys.argv[1] + "/customers/*.yaml")):
    with open(path, "rb") as handle:
        yaml.load(handle, Loader=yaml.CSafeLoader)
with psycopg.connect(sys.argv[2]) as connection:
    rows = connection.execute(
        "SELECT c.customer_id, c.observed, c.observed_at, c.last_applied"
        " FROM fluentcart.customer c JOIN fluentcart.workspace w ON w.id = c.workspace_id"
        " WHERE w.name = %s ORDER BY c.customer_id", (sys.argv[3],)
    ).fetchall()
assert rows
"""

BARE_PAGES = """
import sys, threading, requests
from concurrent.futures import ThreadPoolExecutor
url, user, password, parallelism, pages = sys.argv[1:6]
local = threading.local()
def page(number):
    if not hasattr(local, "session"):
        local.session = requests.Session()
        local.session.auth = (user, password)
    answer = local.session.get(url + "/wp-json/fluent-cart/v2/customers", params={
        "per_page": 199, "page": number, "sort_by": "id", "sort_type": "asc",
        "with[]": ["labels", "billing_address", "shipping_address"]}, timeout=60)
    answer.raise_for_status()
    return len(answer.json()["customers"]["data"])
with ThreadPoolExecutor(int(parallelism)) as pool:
    total = sum(pool.map(page, range(1, int(pages) + 1)))
print(total)
"""

# The apply's floor: the same PUTs as bare requests calls, `parallelism` at a time, each
# body the customer as a list page shows it with the new city (the pages are read first,
# untimed). Prints the seconds the PUTs took.
BARE_PUTS = """
import sys, threading, time, requests
from concurrent.futures import ThreadPoolExecutor
url, user, password, parallelism, count, city = sys.argv[1:7]
local = threading.local()
def session():
    if not hasattr(local, "session"):
        local.session = requests.Session()
        local.session.auth = (user, password)
    return local.session
def page(number):
    answer = session().get(url + "/wp-json/fluent-cart/v2/customers", params={
        "per_page": 199, "page": number, "sort_by": "id", "sort_type": "asc"}, timeout=60)
    answer.raise_for_status()
    return answer.json()["customers"]["data"]
def put(item):
    body = {k: v for k, v in item.items() if not isinstance(v, (dict, list))}
    answer = session().put(url + f"/wp-json/fluent-cart/v2/customers/{item['id']}",
                           json={**body, "city": city}, timeout=60)
    answer.raise_for_status()
with ThreadPoolExecutor(int(parallelism)) as pool:
    items = [i for p in pool.map(page, range(1, int(count) // 199 + 2)) for i in p]
    started = time.perf_counter()
    list(pool.map(put, items))
print(time.perf_counter() - started)
"""

# What a recorded customer takes in memory, read as the commands read a whole state: the
# bytes that json.load's objects hold once the text is gone, per customer.
RECORD_MEMORY = """
import json, sys, tracemalloc
with open(sys.argv[1], "rb") as handle:
    text = handle.read()
tracemalloc.start()
state = json.loads(text)
del text
print(tracemalloc.get_traced_memory()[0] / len(state["customers"]))
"""


class Table:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []

    def add(
        self, measure: str, figure: str, baseline: str, ratio: float | None, goal: str, ok: bool
    ) -> None:
        shown = f"{ratio:.2f}x" if ratio is not None else ""
        self.rows.append([measure, figure, baseline, shown, goal, "met" if ok else "MISSED"])
        print(f"  {measure}: {figure} (baseline {baseline}) {shown}", file=sys.stderr)

    def note(self, measure: str, figure: str, baseline: str = "") -> None:
        self.rows.append([measure, figure, baseline, "", "", ""])

    def show(self) -> None:
        print_table(["measure", "figure", "baseline", "ratio", "goal", ""], self.rows)


def seconds(m: Measure) -> str:
    return f"{m.seconds:.2f} s"


def memory(m: Measure) -> str:
    return f"{m.max_rss_mb:,.0f} MB"


def checked(measure: Measure, what: str, allowed: tuple[int, ...] = (0,)) -> Measure:
    if measure.returncode not in allowed:
        sys.exit(f"{what} exited {measure.returncode}")
    return measure


def run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def cold(env: dict[str, str]) -> dict[str, str]:
    return {**env, "FLUENTCART_NO_CACHE": "1"}


def plan_goals(
    table: Table, root: Path, runs: int, env: dict[str, str], label: str, with_memory: bool
) -> None:
    """validate and plan without the cache, plan with it, against the read-only baseline."""
    count = label
    validate_cmd = fluentcart("-C", str(root), "validate")
    plan_cmd = fluentcart("-C", str(root), "plan", "--format", "json")
    measured = interleaved(
        runs,
        ([sys.executable, "-c", BASELINE, str(root)], None),
        *([(validate_cmd, cold(env))] if with_memory else []),
        (plan_cmd, cold(env)),
    )
    baseline = checked(measured[0], "the baseline")
    cold_plan = checked(measured[-1], "plan")
    cold_validate = checked(measured[1], "validate") if with_memory else None
    base = baseline.seconds
    shown = f"{seconds(baseline)} / {memory(baseline)}"
    if with_memory:
        timed(validate_cmd, env=env)  # fills the cache
        warm_plan = checked(median_of(runs, plan_cmd, env=env), "plan (cached)")
        assert cold_validate is not None
        ratio = cold_validate.seconds / base
        table.add(
            f"{count}: validate, no cache",
            seconds(cold_validate),
            shown,
            ratio,
            "<= 1.0x",
            ratio <= 1.0,
        )
    ratio = cold_plan.seconds / base
    goal = 1.2 if with_memory else 1.0
    table.add(
        f"{count}: plan, no cache", seconds(cold_plan), shown, ratio, f"<= {goal}x", ratio <= goal
    )
    if with_memory:
        table.add(
            f"{count}: plan, no cache, peak memory",
            memory(cold_plan),
            memory(baseline),
            None,
            "<= 1,536 MB",
            cold_plan.max_rss_mb <= 1536,
        )
        ratio = warm_plan.seconds / base
        table.add(
            f"{count}: plan, cached", seconds(warm_plan), shown, ratio, "<= 0.3x", ratio <= 0.3
        )


def postgres_goal(table: Table, root: Path, runs: int, env: dict[str, str], label: str) -> None:
    server, base = pg.start()
    try:
        env = {**env, "PGPASSWORD": server.password}
        name = f"scale-{os.getpid()}"
        run(
            fluentcart(
                "-C", str(root), "state", "migrate", "--to", server.url(), "--workspace", name
            ),
            env,
        )
        config = root / "fluentcart.yaml"
        before = config.read_text()
        config.write_text(f"{before}state: {server.url()}\nworkspace: {name}\n")
        try:
            baseline = checked(
                median_of(
                    runs,
                    [sys.executable, "-c", PG_BASELINE, str(root), server.url(), name],
                    env=env,
                ),
                "the PostgreSQL baseline",
            )
            plan = checked(
                median_of(
                    runs, fluentcart("-C", str(root), "plan", "--format", "json"), env=cold(env)
                ),
                "plan from PostgreSQL",
            )
        finally:
            config.write_text(before)
    finally:
        pg.stop(base)
    ratio = plan.seconds / baseline.seconds
    table.add(
        f"{label}: plan from PostgreSQL, no cache",
        f"{seconds(plan)} / {memory(plan)}",
        f"{seconds(baseline)} / {memory(baseline)}",
        ratio,
        "<= 1.2x",
        ratio <= 1.2,
    )


def declare_in_files(root: Path, count: int, city: str, first_cities: int = 0) -> None:
    """Customers 1..count declared with `city` (the first `first_cities` with "Nice")."""
    (root / "customers").mkdir(parents=True, exist_ok=True)
    for first in range(1, count + 1, PER_FILE):
        last = min(first + PER_FILE - 1, count)
        (root / "customers" / f"c-{first:07d}.yaml").write_text(
            "customers:\n"
            + "".join(
                f"  - id: {i}\n    city: {'Nice' if i <= first_cities else city}\n"
                for i in range(first, last + 1)
            )
        )


def refresh_goal(table: Table, count: int, parallelism: int, env: dict[str, str]) -> None:
    print(f"seeding a sandbox with {count:,} customers", file=sys.stderr)
    store = seeded_store(count, PASSWORD)
    with Sandbox(store) as sandbox, tempfile.TemporaryDirectory() as directory:  # type: ignore[arg-type]
        root = Path(directory)
        declare_in_files(root, count, "Lyon")
        (root / "fluentcart.state.json").write_bytes(
            serialize(recorded_state(sandbox, list(range(1, count + 1))))
        )
        env = {
            **env,
            "FLUENTCART_URL": sandbox.url,
            "FLUENTCART_USERNAME": "admin",
            "FLUENTCART_APP_PASSWORD": PASSWORD,
            "FLUENTCART_CACHE_DIR": str(root / ".cache"),
        }
        timed(fluentcart("-C", str(root), "validate"), env=env)  # fills the cache
        plan = checked(timed(fluentcart("-C", str(root), "plan"), env=env), "plan")
        sandbox.requests.clear()
        refresh = checked(
            timed(
                fluentcart(
                    "-C",
                    str(root),
                    "plan",
                    "--refresh",
                    "--detailed-exitcode",
                    "--parallelism",
                    str(parallelism),
                ),
                env=env,
            ),
            "plan --refresh",
        )
        requests_sent = sandbox.count()
        pages = math.ceil(count / 199)
        started = time.perf_counter()
        bare = subprocess.run(
            [
                sys.executable,
                "-c",
                BARE_PAGES,
                sandbox.url,
                "admin",
                PASSWORD,
                str(parallelism),
                str(pages),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        bare_seconds = time.perf_counter() - started
        assert int(bare.stdout) == count, bare.stdout
    bound = pages + 2
    label = f"plan --refresh, {count:,} customers, parallelism {parallelism}"
    table.add(
        f"{label}: requests",
        f"{requests_sent:,}",
        "",
        None,
        f"<= ceil(N/199)+2 = {bound:,}",
        requests_sent <= bound,
    )
    added = refresh.seconds - plan.seconds
    ratio = added / bare_seconds
    table.add(
        f"{label}: time added to plan",
        f"{added:.2f} s",
        f"{bare_seconds:.2f} s (bare loop)",
        ratio,
        "<= 1.2x",
        ratio <= 1.2,
    )
    table.note(
        f"{label}: whole command",
        f"{seconds(refresh)} / {memory(refresh)}",
        f"plan {seconds(plan)}",
    )


def apply_goal(
    table: Table, changes: int, latency: float, parallelism: int, env: dict[str, str]
) -> None:
    server, base = pg.start()
    try:
        env = {**env, "PGPASSWORD": server.password}
        for backend in ("file", "postgres"):
            store = seeded_store(changes, PASSWORD)
            with (
                Sandbox(store, faults=Faults(latency_ms=latency)) as sandbox,  # type: ignore[arg-type]
                tempfile.TemporaryDirectory() as directory,
            ):
                root = Path(directory)
                (root / "fluentcart.state.json").write_bytes(
                    serialize(recorded_state(sandbox, list(range(1, changes + 1))))
                )
                state_mb = (root / "fluentcart.state.json").stat().st_size / 1e6
                record_bytes = float(
                    subprocess.run(
                        [sys.executable, "-c", RECORD_MEMORY, str(root / "fluentcart.state.json")],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                )
                run_env = {
                    **env,
                    "FLUENTCART_URL": sandbox.url,
                    "FLUENTCART_USERNAME": "admin",
                    "FLUENTCART_APP_PASSWORD": PASSWORD,
                    "FLUENTCART_CACHE_DIR": str(root / ".cache"),
                }
                if backend == "postgres":
                    name = f"apply-{os.getpid()}"
                    run(
                        fluentcart(
                            "-C",
                            str(root),
                            "state",
                            "migrate",
                            "--to",
                            server.url(),
                            "--workspace",
                            name,
                        ),
                        run_env,
                    )
                    (root / "fluentcart.yaml").write_text(
                        f"state: {server.url()}\nworkspace: {name}\n"
                    )
                apply_cmd = fluentcart(
                    "-C", str(root), "apply", "--auto-approve", "--parallelism", str(parallelism)
                )
                # A tenth of the changes first (it writes the state as the full run does),
                # then all of them: what the other nine tenths add is per change.
                tenth = changes // 10
                declare_in_files(root, changes, "Lyon", first_cities=tenth)
                idle = checked(timed(apply_cmd, env=run_env), "apply of a tenth")
                declare_in_files(root, changes, "Paris")
                applied = checked(timed(apply_cmd, env=run_env), "apply")
                assert all(c["city"] == "Paris" for c in store.customers.values())
                if backend == "file":
                    bare_seconds = float(
                        subprocess.run(
                            [
                                sys.executable,
                                "-c",
                                BARE_PUTS,
                                sandbox.url,
                                "admin",
                                PASSWORD,
                                str(parallelism),
                                str(changes),
                                "Marseille",
                            ],
                            capture_output=True,
                            text=True,
                            check=True,
                        ).stdout
                    )
                    assert all(c["city"] == "Marseille" for c in store.customers.values())
            ideal = changes * latency / 1000 / parallelism
            ratio = applied.seconds / ideal
            label = f"apply, {changes:,} changes at {latency:g} ms, parallelism {parallelism}, {backend}"
            table.add(
                label,
                seconds(applied),
                f"{ideal:.2f} s (ideal N x L / P)",
                ratio,
                "<= 1.2x",
                ratio <= 1.2,
            )
            growth = (applied.max_rss_mb - idle.max_rss_mb) * 1e6 / (changes - tenth)
            per_record = record_bytes  # the records themselves: one in memory a change
            table.add(
                f"{label}: peak memory",
                memory(applied),
                f"{memory(idle)} (apply of {tenth:,})",
                None,
                f"<= that + one record a change ({per_record / 1e3:.1f} KB in memory,"
                f" {state_mb * 1e3 / changes:.1f} KB in the file)",
                growth <= per_record,
            )
            table.note(f"{label}: memory added per change", f"{growth / 1e3:.2f} KB")
            if backend == "file":
                table.note(
                    f"the same PUTs from a bare loop of requests, parallelism {parallelism}",
                    f"{bare_seconds:.2f} s",
                    f"{bare_seconds / ideal:.2f}x the ideal",
                )
    finally:
        pg.stop(base)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--refresh-customers", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--runs", type=int, default=1, help="runs per measurement (median)")
    sections = ["scale", "postgres", "small", "refresh", "apply"]
    parser.add_argument("--only", nargs="+", choices=sections, default=sections)
    args = parser.parse_args()
    env = dict(os.environ)
    table = Table()
    wanted = set(args.only)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        if wanted & {"scale", "postgres"}:
            print(
                f"generating {args.customers:,} customers in {args.files:,} files", file=sys.stderr
            )
            root = make_workspace(Path(directory) / "big", args.customers, args.files)
            mb = (root / "fluentcart.state.json").stat().st_size / 1e6
            label = f"{args.customers:,} customers"
            table.note(f"{label}: state file", f"{mb:,.0f} MB")
            big_env = {**env, "FLUENTCART_CACHE_DIR": str(Path(directory) / "cache-big")}
            if "scale" in wanted:
                plan_goals(table, root, args.runs, big_env, label, with_memory=True)
            if "postgres" in wanted:
                postgres_goal(table, root, args.runs, big_env, label)
            (root / "fluentcart.state.json").unlink()
        if "small" in wanted:
            files = max(1, args.files * args.small // args.customers)
            root = make_workspace(Path(directory) / "small", args.small, files)
            small_env = {**env, "FLUENTCART_CACHE_DIR": str(Path(directory) / "cache-small")}
            plan_goals(table, root, args.runs, small_env, f"{args.small:,} customers", False)
    if "refresh" in wanted:
        refresh_goal(table, args.refresh_customers, args.parallelism, env)
    if "apply" in wanted:
        apply_goal(table, args.changes, args.latency_ms, args.parallelism, env)
    print(
        f"({time.perf_counter() - started:.0f} s in all, {os.cpu_count()} cores)", file=sys.stderr
    )
    table.show()


if __name__ == "__main__":
    main()
