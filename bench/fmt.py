"""fmt against validate, which reads the same files.

    python bench/fmt.py --customers 1000 10000 100000 --files 100

For each N: generates N declared customers in F files (no blank line between customers, so
every file needs rewriting), then times, as subprocesses, without the parse cache:
  validate     fluentcart validate
  fmt          fluentcart fmt (rewrites every file)
  fmt --check  fluentcart fmt --check on the now canonical files (the CI and pre-commit case)
  cached       the same with the parse cache filled by a first run (a developer's machine,
               or CI keeping FLUENTCART_CACHE_DIR)
and prints median wall time and peak RSS, and the ratios to validate.
"""

import os
import shutil
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


def main() -> None:
    args = workspace_size_arguments(__doc__)
    env = {**os.environ, "FLUENTCART_NO_CACHE": "1"}
    rows = []
    for count in args.customers:
        with tempfile.TemporaryDirectory() as directory:
            root = make_workspace(Path(directory) / "w", count, min(args.files, count))
            pristine = Path(directory) / "pristine"
            shutil.copytree(root / "customers", pristine)
            validate = median_of(args.runs, fluentcart("-C", str(root), "validate"), env=env)
            rewrites = []
            for _ in range(args.runs):
                shutil.rmtree(root / "customers")
                shutil.copytree(pristine, root / "customers")
                rewrites.append(timed(fluentcart("-C", str(root), "fmt"), env=env))
            rewrite = sorted(rewrites, key=lambda m: m.seconds)[len(rewrites) // 2]
            check_cmd = fluentcart("-C", str(root), "fmt", "--check")
            check = median_of(args.runs, check_cmd, env=env)
            warm = {**os.environ, "FLUENTCART_CACHE_DIR": str(Path(directory) / "cache")}
            timed(check_cmd, env=warm)  # fills the cache
            cached = median_of(args.runs, check_cmd, env=warm)
            assert validate.returncode == 0 and rewrite.returncode == 0, (validate, rewrite)
            assert check.returncode == 0 and cached.returncode == 0, (check, cached)
            base = validate.seconds
            rows.append(
                [
                    f"{count:,}",
                    f"{base:.2f} s / {validate.max_rss_mb:.0f} MB",
                    f"{rewrite.seconds:.2f} s ({rewrite.seconds / base:.2f}x)"
                    f" / {rewrite.max_rss_mb:.0f} MB",
                    f"{check.seconds:.2f} s ({check.seconds / base:.2f}x)"
                    f" / {check.max_rss_mb:.0f} MB",
                    f"{cached.seconds:.2f} s ({cached.seconds / base:.2f}x)",
                ]
            )
            print(f"done {count:,}", file=sys.stderr)
    print_table(
        [
            "customers",
            "validate (time / RSS)",
            "fmt (rewrite all)",
            "fmt --check (canonical)",
            "fmt --check, cached",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
