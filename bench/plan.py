"""Plan and validate against the cost of only reading their inputs.

    python bench/plan.py --customers 1000 10000 100000 --files 100

For each N: generates N declared customers in F files plus a matching state in which 10% of
the customers differ in one field, then times, as subprocesses under the same conditions:
  baseline  PyYAML's C loader on every declared file, plus json.load of the state
  validate  fluentcart validate
  plan      fluentcart plan --format json
and prints median wall time, peak RSS and the ratios to the baseline.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from common import fluentcart, make_workspace, median_of, print_table

BASELINE = """
import json, sys, glob, yaml
for path in sorted(glob.glob(sys.argv[1] + "/customers/*.yaml")):
    with open(path, "rb") as handle:
        yaml.load(handle, Loader=yaml.CSafeLoader)
with open(sys.argv[1] + "/fluentcart.state.json", "rb") as handle:
    json.load(handle)
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args()
    rows = []
    for count in args.customers:
        with tempfile.TemporaryDirectory() as directory:
            root = make_workspace(Path(directory), count, min(args.files, count))
            state_mb = (root / "fluentcart.state.json").stat().st_size / 1e6
            baseline = median_of(args.runs, [sys.executable, "-c", BASELINE, str(root)])
            validate = median_of(args.runs, fluentcart("-C", str(root), "validate"))
            plan = median_of(args.runs, fluentcart("-C", str(root), "plan", "--format", "json"))
            assert validate.returncode == 0 and plan.returncode == 0, (validate, plan)
            rows.append(
                [
                    f"{count:,}",
                    f"{state_mb:.1f} MB",
                    f"{baseline.seconds:.2f} s",
                    f"{validate.seconds:.2f} s",
                    f"{plan.seconds:.2f} s",
                    f"{validate.seconds / baseline.seconds:.2f}x",
                    f"{plan.seconds / baseline.seconds:.2f}x",
                    f"{baseline.max_rss_mb:.0f} MB",
                    f"{plan.max_rss_mb:.0f} MB",
                ]
            )
            print(f"done {count:,}", file=sys.stderr)
    print_table(
        [
            "customers",
            "state",
            "baseline",
            "validate",
            "plan",
            "validate/base",
            "plan/base",
            "base RSS",
            "plan RSS",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
