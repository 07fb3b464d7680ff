"""The PostgreSQL state backend next to the JSON file, side by side, in one run.

    python bench/state.py --customers 100000 --changes 1000 --latency-ms 50 --parallelism 8

Starts a throwaway PostgreSQL 15 (tests/pg.py: Debian's postgresql-15, in a temporary
directory, stopped at the end), generates N declared customers in 100 files with a state in
which 10% differ in one field, and measures, each as a subprocess:
  plan          `fluentcart plan --format json` with the state in the file, then in
                PostgreSQL (parse cache warm, so the state's read is what differs)
  migrate       `fluentcart state migrate` file -> PostgreSQL and back, verified (the
                median of --runs runs each way, each to a new workspace or file)
  apply         M changes against the sandbox at the given latency and parallelism, with
                each backend (each records every answer as it arrives); the median of
                --runs runs each, alternating
  commit        the median cost of recording one customer's answer, what its worker
                waits for: a journal line written for the file (its syncer thread
                fsyncs the lines as they come), one transaction for PostgreSQL
and prints each figure with its goal.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    ROOT,
    apply_arguments,
    fluentcart,
    make_workspace,
    median_of,
    print_table,
    sandbox_workspace,
    seeded_store,
    timed,
)

sys.path.insert(0, str(ROOT))
from reconciler.sandbox import Sandbox
from reconciler.sandbox.server import Faults
from reconciler.state import CustomerRecord
from reconciler.storage.file import Journal
from reconciler.storage.postgres import PostgresStorage
from tests import pg
from tests.conftest import make_state, observed

PASSWORD = "bench-password"


def run(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def plan_and_migrate(server: pg.Server, count: int, runs: int, env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        root = make_workspace(Path(directory) / "ws", count, min(100, count))
        env = {**env, "FLUENTCART_CACHE_DIR": str(Path(directory) / "cache")}
        plan = fluentcart("-C", str(root), "plan", "--format", "json")
        timed(fluentcart("-C", str(root), "validate"), env=env)  # fills the parse cache
        file_plan = median_of(runs, plan, env=env)
        # Each migrate goes to a new workspace (or file); the median of --runs each way.
        names = [f"bench-{os.getpid()}-{count}-{attempt}" for attempt in range(runs)]
        to_pg = statistics.median(
            run(
                fluentcart(
                    "-C", str(root), "state", "migrate", "--to", server.url(), "--workspace", name
                ),
                env,
            )
            for name in names
        )
        (root / "fluentcart.yaml").write_text(
            f"name_mode: full_name\nstate: {server.url()}\nworkspace: {names[0]}\n"
        )
        pg_plan = median_of(runs, plan, env=env)
        copies = [f"back-{attempt}.state.json" for attempt in range(runs)]
        back = statistics.median(
            run(fluentcart("-C", str(root), "state", "migrate", "--to", copy), env)
            for copy in copies
        )
        original = (root / "fluentcart.state.json").read_bytes()
        same = all((root / copy).read_bytes() == original for copy in copies)
        for measure in (file_plan, pg_plan):
            assert measure.returncode == 0, measure
        mb = (root / "fluentcart.state.json").stat().st_size / 1e6
        return {
            "file_plan": file_plan,
            "pg_plan": pg_plan,
            "to_pg": to_pg,
            "back": back,
            "same": same,
            "mb": mb,
        }


def apply_with(
    backend: str, server: pg.Server, count: int, latency: float, parallelism: int, attempt: int
) -> float:
    store = seeded_store(count, PASSWORD)
    with (
        Sandbox(store, faults=Faults(latency_ms=latency)) as sandbox,  # type: ignore[arg-type]
        tempfile.TemporaryDirectory() as directory,
    ):
        root = Path(directory)
        env = sandbox_workspace(root, sandbox, count, "Paris", PASSWORD)
        env["PGPASSWORD"] = server.password
        if backend == "postgres":
            name = f"apply-{os.getpid()}-{count}-{attempt}"
            run(
                fluentcart(
                    "-C", str(root), "state", "migrate", "--to", server.url(), "--workspace", name
                ),
                env,
            )
            (root / "fluentcart.yaml").write_text(f"state: {server.url()}\nworkspace: {name}\n")
        command = fluentcart(
            "-C", str(root), "apply", "--auto-approve", "--parallelism", str(parallelism)
        )
        elapsed = run(command, env)
        assert all(c["city"] == "Paris" for c in store.customers.values())
        return elapsed


def commit_costs(server: pg.Server, samples: int) -> tuple[float, float]:
    """Median seconds a worker waits to record one customer's answer, (file, PostgreSQL):
    the file's line written (synced in the background), PostgreSQL's row committed."""
    records = {
        i: CustomerRecord(observed(i, city="Paris"), "2026-12-01T00:00:00+00:00", {"city": "Paris"})
        for i in range(1, samples + 1)
    }
    with tempfile.TemporaryDirectory() as directory:
        journal = Journal(Path(directory) / "fluentcart.state.json")
        file_times = []
        for customer_id, record in records.items():
            started = time.perf_counter()
            journal.record(customer_id, record)
            file_times.append(time.perf_counter() - started)
        journal.close()
    storage = PostgresStorage(server.url(), f"commit-{os.getpid()}")
    with storage.lock("bench"):
        storage.replace(make_state([observed(i) for i in records]))
    pg_times = []
    with storage.lock("bench"):
        storage.read()
        recorder = storage.recorder()
        for customer_id, record in records.items():
            started = time.perf_counter()
            recorder.record(customer_id, record)
            pg_times.append(time.perf_counter() - started)
        recorder.close()
    return statistics.median(file_times), statistics.median(pg_times)


def main() -> None:
    parser = apply_arguments(__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per plan and apply measurement (median)"
    )
    args = parser.parse_args()
    server, base = pg.start()
    try:
        os.environ["PGPASSWORD"] = server.password  # libpq reads it, in here and in children
        env = dict(os.environ)
        sizes = plan_and_migrate(server, args.customers, args.runs, env)
        # Alternating, median of --runs each: one apply's time varies by a few percent.
        applies: dict[str, list[float]] = {"file": [], "postgres": []}
        for attempt in range(args.runs):
            for backend in applies:
                applies[backend].append(
                    apply_with(
                        backend, server, args.changes, args.latency_ms, args.parallelism, attempt
                    )
                )
        file_apply = statistics.median(applies["file"])
        pg_apply = statistics.median(applies["postgres"])
        file_commit, pg_commit = commit_costs(server, 1000)
    finally:
        pg.stop(base)
    ideal = args.changes * args.latency_ms / 1000 / args.parallelism
    file_plan, pg_plan = sizes["file_plan"].seconds, sizes["pg_plan"].seconds

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(
        f"{args.customers:,} customers ({sizes['mb']:.0f} MB state file); apply of"
        f" {args.changes:,} changes at {args.latency_ms:g} ms, parallelism {args.parallelism}"
        f" (ideal {ideal:.2f} s)"
    )
    print_table(
        ["measure", "file", "postgres", "postgres/file", "goal", ""],
        [
            [
                "plan (cached parse)",
                f"{file_plan:.2f} s",
                f"{pg_plan:.2f} s",
                f"{pg_plan / file_plan:.2f}x",
                "<= 1.0x",
                verdict(pg_plan <= file_plan),
            ],
            [
                "  peak memory",
                f"{sizes['file_plan'].max_rss_mb:.0f} MB",
                f"{sizes['pg_plan'].max_rss_mb:.0f} MB",
                "",
                "",
                "",
            ],
            [
                "state migrate to PostgreSQL",
                "",
                f"{sizes['to_pg']:.2f} s",
                "",
                "<= 10 s",
                verdict(sizes["to_pg"] <= 10),
            ],
            [
                "state migrate back to a file",
                f"{sizes['back']:.2f} s",
                "",
                "byte for byte" if sizes["same"] else "DIFFERS",
                "<= 10 s",
                verdict(sizes["back"] <= 10 and sizes["same"]),
            ],
            [
                "apply",
                f"{file_apply:.2f} s",
                f"{pg_apply:.2f} s",
                f"{pg_apply / file_apply:.2f}x",
                "<= 1.05x",
                verdict(pg_apply <= 1.05 * file_apply),
            ],
            [
                "  ratio to ideal",
                f"{file_apply / ideal:.2f}x",
                f"{pg_apply / ideal:.2f}x",
                "",
                "",
                "",
            ],
            [
                "one customer's commit (median)",
                f"{file_commit * 1000:.2f} ms",
                f"{pg_commit * 1000:.2f} ms",
                f"{pg_commit / file_commit:.2f}x",
                "",
                "",
            ],
        ],
    )


if __name__ == "__main__":
    main()
