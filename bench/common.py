"""Shared pieces of the benchmarks: workspaces, timed subprocesses, tables."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.state import CustomerRecord, StateFile  # noqa: E402
from reconciler.statefile import serialize  # noqa: E402
from reconciler.workspace import NameMode  # noqa: E402

CITIES = ("Toronto", "Austin", "London", "Paris", "Berlin", "Madrid", "Oslo", "Lyon")


def customer(i: int) -> dict:
    """A customer in the server's shape (as the state records it)."""
    first, last = f"First{i % 97}", f"Last{i}"
    city = CITIES[i % len(CITIES)]
    return {
        "id": i,
        "user_id": "0",
        "contact_id": "0",
        "email": f"customer{i}@example.org",
        "first_name": first,
        "last_name": last,
        "status": "active" if i % 5 else "inactive",
        "purchase_value": [],
        "purchase_count": "0",
        "ltv": "0",
        "first_purchase_date": None,
        "last_purchase_date": None,
        "aov": "0.00",
        "notes": f"note {i}",
        "uuid": f"{i:032x}",
        "country": "CA",
        "city": city,
        "state": "ON",
        "postcode": f"M{i % 10}V {i % 7}T{i % 9}",
        "created_at": "2026-10-01T09:00:00+00:00",
        "updated_at": "2026-11-20T16:20:11+00:00",
        "full_name": f"{first} {last}",
        "photo": "https://secure.gravatar.com/avatar/x?s=100&#038;d=mm&#038;r=g",
        "country_name": "Canada",
        "formatted_address": {
            "country": "Canada",
            "state": "Ontario",
            "city": city,
            "postcode": f"M{i % 10}V {i % 7}T{i % 9}",
            "first_name": first,
            "last_name": last,
            "full_name": f"{first} {last}",
        },
        "user_link": "",
    }


def declared_entry(record: dict) -> str:
    return (
        f"  - id: {record['id']}\n"
        f"    email: {record['email']}\n"
        f"    full_name: {record['full_name']}\n"
        f"    status: {record['status']}\n"
        f"    city: {record['city']}\n"
        f"    state: 'ON'\n"
        f"    postcode: {record['postcode']}\n"
        f"    country: {record['country']}\n"
        f"    notes: {record['notes']}\n"
    )


def make_workspace(root: Path, customers: int, files: int, changed_share: float = 0.1) -> Path:
    """N declared customers in F files, and a state where `changed_share` differ in one field."""
    (root / "customers").mkdir(parents=True, exist_ok=True)
    records = [customer(i) for i in range(1, customers + 1)]
    per_file = max(1, -(-customers // files))
    for index in range(0, customers, per_file):
        chunk = records[index : index + per_file]
        text = "customers:\n" + "".join(declared_entry(r) for r in chunk)
        (root / "customers" / f"customers-{index // per_file:04d}.yaml").write_text(text)
    step = max(1, round(1 / changed_share)) if changed_share else 0
    state = StateFile(
        lineage="6f1c1f0e-9a51-4c3e-8d5e-2b7f3b1a9c40",
        serial=1,
        site="http://127.0.0.1:8088",
        name_mode=NameMode.FULL_NAME,
    )
    for record in records:
        observed = dict(record)
        if step and record["id"] % step == 0:
            observed["city"] = "Elsewhere"
        state.customers[record["id"]] = CustomerRecord(observed, "2026-11-20T16:20:11+00:00", {})
    (root / "fluentcart.yaml").write_text("name_mode: full_name\n")
    path = root / "fluentcart.state.json"
    path.write_bytes(serialize(state))
    path.chmod(0o600)
    return root


@dataclass
class Measure:
    seconds: float
    max_rss_mb: float
    returncode: int


def timed(
    command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Measure:
    """Wall time and peak RSS of one command.

    The peak is measured by bench/rss.py, a wrapper whose only child is the command (the
    rusage of children accumulates across all of a process's children).
    """
    wrapper = [sys.executable, str(Path(__file__).with_name("rss.py")), *command]
    started = time.perf_counter()
    result = subprocess.run(
        wrapper, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )
    elapsed = time.perf_counter() - started
    kib = int(result.stderr.strip().rsplit("maxrss_kib=", 1)[1])
    return Measure(elapsed, kib / 1024, result.returncode)


def median_of(runs: int, command: list[str], **kwargs) -> Measure:
    return _median([timed(command, **kwargs) for _ in range(runs)])


def interleaved(runs: int, *commands: tuple[list[str], dict[str, str] | None]) -> list[Measure]:
    """The median of `runs` runs of each (command, env), the commands taking turns (A B C
    A B C ...), so that a machine that slows down or speeds up during the runs weighs on
    every command alike rather than on whichever ran then."""
    results: list[list[Measure]] = [[] for _ in commands]
    for _ in range(runs):
        for found, (command, env) in zip(results, commands, strict=True):
            found.append(timed(command, env=env))
    return [_median(found) for found in results]


def _median(results: list[Measure]) -> Measure:
    return Measure(
        statistics.median(r.seconds for r in results),
        max(r.max_rss_mb for r in results),
        max(r.returncode for r in results),
    )


def fluentcart(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    for row in [headers, *rows]:
        print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths, strict=True)))


def dump(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2))


def sandbox_workspace(
    root: Path, sandbox: object, count: int, city: str, password: str
) -> dict[str, str]:
    """Declare customers 1..count with `city`, record them as the sandbox serves them, and
    return the environment that points fluentcart at the sandbox."""
    from tests.conftest import recorded_state

    (root / "customers").mkdir(exist_ok=True)
    (root / "customers" / "all.yaml").write_text(
        "customers:\n" + "".join(f"  - id: {i}\n    city: {city}\n" for i in range(1, count + 1))
    )
    (root / "fluentcart.state.json").write_bytes(
        serialize(recorded_state(sandbox, list(range(1, count + 1))))
    )
    return {
        **os.environ,
        "FLUENTCART_URL": sandbox.url,  # type: ignore[attr-defined]
        "FLUENTCART_USERNAME": "admin",
        "FLUENTCART_APP_PASSWORD": password,
    }


def seeded_store(count: int, password: str, city: str = "Lyon") -> object:
    """A sandbox store holding customers 1..count in `city`, with an admin using `password`."""
    from reconciler.sandbox import Store
    from reconciler.sandbox.server import default_users
    from tests.conftest import seed_customer

    store = Store("http://127.0.0.1", users=default_users("admin", password))
    for i in range(1, count + 1):
        store.seed(seed_customer(i, city=city))
    return store


def workspace_size_arguments(doc: str | None) -> argparse.Namespace:
    """--customers N..., --files F, --runs R: the sizes bench/plan.py and bench/fmt.py take."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    return parser.parse_args()


def apply_arguments(doc: str | None) -> argparse.ArgumentParser:
    """--changes M, --latency-ms L, --parallelism P: the apply run bench/apply.py and
    bench/state.py measure (each adds its own options)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--parallelism", type=int, default=8)
    return parser
