"""Plan and validate against the cost of only reading their inputs.

    python bench/plan.py --customers 1000 10000 100000 --files 100

For each N: generates N declared customers in F files plus a matching state in which 10% of
the customers differ in one field, then times, as subprocesses under the same conditions:
  baseline  PyYAML's C loader on every declared file, plus json.load of the state
  validate  fluentcart validate
  plan      fluentcart plan --format json
and prints median wall time, peak RSS and the ratios to the baseline, for validate and plan
both without the parse cache (FLUENTCART_NO_CACHE=1: every file parsed, as on a fresh CI
machine) and with it (files unchanged since the last run are not parsed again).
"""

import os
import sys
import tempfile
from pathlib import Path

from common import (
    fluentcart,
    make_workspace,
    median_of,
    print_table,
    timed,
    workspace_size_arguments,
)

BASELINE = """
import json, sys, glob, yaml
for path in sorted(glob.glob(sys.argv[1] + "/customers/*.yaml")):
    with open(path, "rb") as handle:
        yaml.load(handle, Loader=yaml.CSafeLoader)
with open(sys.argv[1] + "/fluentcart.state.json", "rb") as handle:
    json.load(handle)
"""


def main() -> None:
    args = workspace_size_arguments(__doc__)
    rows = []
    for count in args.customers:
        with tempfile.TemporaryDirectory() as directory:
            root = make_workspace(Path(directory), count, min(args.files, count))
            state_mb = (root / "fluentcart.state.json").stat().st_size / 1e6
            cache = Path(directory) / "cache"
            warm_env = {**os.environ, "FLUENTCART_CACHE_DIR": str(cache)}
            cold_env = {**os.environ, "FLUENTCART_NO_CACHE": "1"}
            validate_cmd = fluentcart("-C", str(root), "validate")
            plan_cmd = fluentcart("-C", str(root), "plan", "--format", "json")
            baseline = median_of(args.runs, [sys.executable, "-c", BASELINE, str(root)])
            cold_validate = median_of(args.runs, validate_cmd, env=cold_env)
            cold_plan = median_of(args.runs, plan_cmd, env=cold_env)
            timed(validate_cmd, env=warm_env)  # fills the cache
            validate = median_of(args.runs, validate_cmd, env=warm_env)
            plan = median_of(args.runs, plan_cmd, env=warm_env)
            for measure in (cold_validate, cold_plan, validate, plan):
                assert measure.returncode == 0, measure
            base = baseline.seconds
            rows.append(
                [
                    f"{count:,}",
                    f"{state_mb:.1f} MB",
                    f"{base:.2f} s / {baseline.max_rss_mb:.0f} MB",
                    f"{cold_validate.seconds:.2f} s ({cold_validate.seconds / base:.2f}x)",
                    f"{validate.seconds:.2f} s ({validate.seconds / base:.2f}x)",
                    f"{cold_plan.seconds:.2f} s ({cold_plan.seconds / base:.2f}x)"
                    f" / {cold_plan.max_rss_mb:.0f} MB",
                    f"{plan.seconds:.2f} s ({plan.seconds / base:.2f}x) / {plan.max_rss_mb:.0f} MB",
                ]
            )
            print(f"done {count:,}", file=sys.stderr)
    print_table(
        [
            "customers",
            "state file",
            "baseline (time / RSS)",
            "validate, no cache",
            "validate, cached",
            "plan, no cache (time / RSS)",
            "plan, cached (time / RSS)",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
