"""Apply throughput against the sandbox, next to the ideal and to a naive loop.

    python bench/apply.py --changes 1000 --latency-ms 50 --parallelism 8

Starts the sandbox with that latency on every request, declares N changes (one field each),
runs `fluentcart apply --auto-approve` as a subprocess, and prints wall time, requests per
changed customer (and how many of those are the reads that guard the PUTs), the ratio to the
ideal N x L / P (one PUT per change at full parallelism), and the speed-up over the same
changes sent by a plain sequential loop of PUTs with requests, as a user would otherwise write.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from common import ROOT, apply_arguments, fluentcart, print_table, sandbox_workspace, seeded_store

sys.path.insert(0, str(ROOT))
from reconciler.sandbox import Sandbox, Store
from reconciler.sandbox.server import Faults

PASSWORD = "bench-password"


def reset(store: Store, count: int) -> None:
    store.customers = seeded_store(count, PASSWORD).customers  # type: ignore[attr-defined]


def main() -> None:
    args = apply_arguments(__doc__).parse_args()
    count, latency = args.changes, args.latency_ms
    store = seeded_store(count, PASSWORD)
    with (
        Sandbox(store, faults=Faults(latency_ms=latency)) as sandbox,
        tempfile.TemporaryDirectory() as directory,
    ):
        root = Path(directory)
        env = sandbox_workspace(root, sandbox, count, "Paris", PASSWORD)
        sandbox.requests.clear()
        started = time.perf_counter()
        done = subprocess.run(
            fluentcart(
                "-C", str(root), "apply", "--auto-approve", "--parallelism", str(args.parallelism)
            ),
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0 or f"Apply complete: {count} changed" not in done.stdout:
            sys.exit(f"apply failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        total = sandbox.count()
        puts = sandbox.count("PUT")
        pre_reads = sandbox.count("GET", "/fluent-cart/v2/customers")
        others = total - puts - pre_reads

        reset(store, count)
        sandbox.requests.clear()
        session = requests.Session()
        session.auth = ("admin", PASSWORD)
        base = f"{sandbox.url}/wp-json/fluent-cart/v2/customers"
        started = time.perf_counter()
        for i in range(1, count + 1):
            body = {
                "id": i,
                "email": f"customer{i}@example.org",
                "full_name": f"Test Customer{i}",
                "city": "Paris",
                "status": "active",
                "notes": "",
                "state": "",
                "postcode": "",
                "country": "",
                "user_id": 0,
                "aov": "0.00",
            }
            session.put(f"{base}/{i}", json=body, timeout=30).raise_for_status()
        naive = time.perf_counter() - started
    ideal = count * latency / 1000 / args.parallelism
    print(f"apply of {count:,} changes, {latency:g} ms latency, parallelism {args.parallelism}")
    print_table(
        ["", "value"],
        [
            ["fluentcart apply", f"{elapsed:.2f} s"],
            ["ideal N x L / P", f"{ideal:.2f} s"],
            ["ratio to ideal", f"{elapsed / ideal:.2f}x"],
            ["requests per change", f"{total / count:.3f}"],
            ["  PUTs per change", f"{puts / count:.3f}"],
            ["  pre-reads per change", f"{pre_reads / count:.3f}"],
            ["  other requests", f"{others}"],
            ["sequential requests loop", f"{naive:.2f} s"],
            ["speed-up over the loop", f"{naive / elapsed:.1f}x"],
        ],
    )


if __name__ == "__main__":
    main()
