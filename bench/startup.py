"""Median wall time of `fluentcart --version` and of `fluentcart validate` on examples/.

python bench/startup.py --runs 20
"""

import argparse
import statistics
import subprocess
import sys
import time

from common import ROOT, print_table


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    fluentcart = [sys.executable, "-m", "reconciler"]
    rows = [
        [
            "python -c pass",
            f"{median_seconds([sys.executable, '-c', 'pass'], args.runs) * 1000:.0f} ms",
        ],
        [
            "fluentcart --version",
            f"{median_seconds([*fluentcart, '--version'], args.runs) * 1000:.0f} ms",
        ],
        [
            "fluentcart validate (examples/)",
            f"{median_seconds([*fluentcart, '-C', str(ROOT / 'examples'), 'validate'], args.runs) * 1000:.0f} ms",
        ],
    ]
    print_table(["command", f"median of {args.runs}"], rows)


if __name__ == "__main__":
    main()
