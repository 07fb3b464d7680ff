"""Requests and time of `plan --refresh` over N customers against the sandbox.

python bench/refresh.py --customers 10000
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, fluentcart, print_table, sandbox_workspace, seeded_store

sys.path.insert(0, str(ROOT))
from reconciler.sandbox import Sandbox

PASSWORD = "bench-password"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, nargs="+", default=[10000])
    args = parser.parse_args()
    rows = []
    for count in args.customers:
        with (
            Sandbox(seeded_store(count, PASSWORD)) as sandbox,
            tempfile.TemporaryDirectory() as directory,
        ):
            root = Path(directory)
            env = sandbox_workspace(root, sandbox, count, "Lyon", PASSWORD)
            sandbox.requests.clear()
            started = time.perf_counter()
            done = subprocess.run(
                fluentcart("-C", str(root), "plan", "--refresh", "--detailed-exitcode"),
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            elapsed = time.perf_counter() - started
            if done.returncode != 0:
                sys.exit(f"plan --refresh failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
            rows.append(
                [f"{count:,}", str(sandbox.count()), str(-(-count // 199) + 1), f"{elapsed:.2f} s"]
            )
    print_table(["customers", "requests", "bound ceil(N/199)+1", "wall time"], rows)


if __name__ == "__main__":
    main()
