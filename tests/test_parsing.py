"""Parsing on worker processes: the same customers, diagnostics and plans as one process,
with and without the parse cache (reconciler/parsing.py)."""

import os
import signal
from pathlib import Path

import pytest

from reconciler import parsing
from reconciler.declared import Rules, load_declared
from reconciler.workspace import NameMode
from tests.conftest import Workspace, make_state, observed

RULES = Rules(("active", "inactive"), NameMode.FULL_NAME)


def customers_file(first: int, count: int, extra: str = "") -> str:
    return "customers:\n" + "".join(
        f"  - id: {i}\n    email: c{i}@example.org\n    city: City {i % 7}\n"
        f"    notes: 'note  {i}'\n{extra}"
        for i in range(first, first + count)
    )


def busy_workspace(workspace: Workspace) -> None:
    """Files with every kind of problem, across files: what merging must keep in order."""
    workspace.declare("a.yaml", customers_file(1, 40))
    workspace.declare("b.yaml", customers_file(41, 40, "    status: gone\n"))
    workspace.declare(
        "c.yaml", "customers:\n  - id: 3\n    city: Twice\n  - id: 200\n    email: C1@example.org\n"
    )  # id 3 and email c1 declared in a.yaml
    workspace.declare("d.yaml", "customers:\n  - id: 201\n    email: [not closed\n")
    workspace.declare_bytes("e.yaml", b"id: 5\x00\n")
    workspace.declare("f.yaml", "")
    workspace.declare("g.yaml", "email: new@example.org\nfull_name: New Person\n")
    workspace.declare("h.yaml", 'id: 202\nemail: jane@@x\ncity: "a <b>c</b>"\n')


def outputs(run, workspace: Workspace, monkeypatch, workers: str, cache: bool, *args: str):
    monkeypatch.setenv(parsing.ENV, workers)
    if cache:
        monkeypatch.delenv("FLUENTCART_NO_CACHE", raising=False)
    else:
        monkeypatch.setenv("FLUENTCART_NO_CACHE", "1")
    result = run(workspace, *args)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", [("validate",), ("plan",), ("plan", "--format", "json")])
def test_diagnostics_are_the_same_from_workers_and_from_the_cache(
    workspace: Workspace, run, monkeypatch, command
) -> None:
    busy_workspace(workspace)
    one = outputs(run, workspace, monkeypatch, "1", False, *command)
    assert one[0] == 1 and "declared twice" in one[2] + one[1]
    assert outputs(run, workspace, monkeypatch, "3", False, *command) == one
    assert outputs(run, workspace, monkeypatch, "3", True, *command) == one  # fills the cache
    assert outputs(run, workspace, monkeypatch, "3", True, *command) == one  # reads it
    assert outputs(run, workspace, monkeypatch, "1", True, *command) == one


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_plans_are_byte_identical_from_workers_and_from_the_cache(
    workspace: Workspace, run, monkeypatch, fmt
) -> None:
    for index in range(6):
        workspace.declare(f"part-{index}.yaml", customers_file(1 + index * 50, 50))
    workspace.state(
        make_state([observed(i, email=f"c{i}@example.org", city="Lyon") for i in range(1, 301)])
    )
    args = ("plan", "--format", fmt)
    one = outputs(run, workspace, monkeypatch, "1", False, *args)
    assert one[0] == 0 and "c300@example.org" not in one[2]
    assert "City 3" in one[1]
    for workers, cache in (("2", False), ("4", True), ("4", True), ("1", True)):
        assert outputs(run, workspace, monkeypatch, workers, cache, *args) == one


def jobs_of(paths: list[Path]) -> list[tuple[Path, str]]:
    return [(path, path.name) for path in paths]


def test_the_pool_is_used_and_gives_what_one_process_gives(workspace: Workspace) -> None:
    busy_workspace(workspace)
    files = jobs_of(sorted((workspace.root / "customers").iterdir()))
    alone = load_declared(files, RULES, workers=1)
    jobs = [(p.read_bytes(), d, None, False) for p, d in files]
    pooled = parsing.start(jobs, RULES, None, workers=2)
    try:
        assert pooled._pool is not None
    finally:
        pooled.close()
    assert load_declared(files, RULES, workers=2) == alone
    assert alone.diagnostics and alone.customers and alone.creates


def test_a_worker_that_dies_leaves_its_file_to_this_process(workspace: Workspace) -> None:
    paths = [workspace.declare(f"p{i}.yaml", customers_file(1 + i * 30, 30)) for i in range(4)]
    jobs = [(path.read_bytes(), path.name, None, False) for path in paths]
    expected = [parsing.parse_entry(*job[:2], RULES, None, None)[0] for job in jobs]
    pooled = parsing.start(jobs, RULES, None, workers=2)
    assert pooled._pool is not None
    for pid in list(pooled._pool._processes):  # still importing: none has parsed a file
        os.kill(pid, signal.SIGKILL)
    try:
        assert [result() for result in pooled.results] == expected
    finally:
        pooled.close()


def test_how_many_workers(monkeypatch) -> None:
    small = [(b"x" * 1000, "a", None, False), (b"y" * 1000, "b", None, False)]
    big = [(b"x" * parsing.MIN_POOL_BYTES, "a", None, False), (b"y", "b", None, False)]
    cached = [(b"x" * parsing.MIN_POOL_BYTES, "a", "k", True), (b"y", "b", "k2", True)]
    monkeypatch.delenv(parsing.ENV, raising=False)
    monkeypatch.setattr(parsing, "usable_cores", lambda: 8)
    assert parsing.Parsing._pool_size(small, None) == 1  # not worth starting processes
    assert parsing.Parsing._pool_size(big, None) == 2  # no more workers than files
    assert parsing.Parsing._pool_size(big[:1], None) == 1
    assert parsing.Parsing._pool_size(cached, None) == 1  # reading entries weighs less
    assert parsing.Parsing._pool_size(cached * 8, None) == 8
    monkeypatch.setenv(parsing.ENV, "3")
    assert parsing.Parsing._pool_size(small, None) == 2
    monkeypatch.setenv(parsing.ENV, "1")
    assert parsing.Parsing._pool_size(big, None) == 1


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_worker_count_is_refused_without_a_traceback(
    workspace: Workspace, run, monkeypatch, value
) -> None:
    workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
    monkeypatch.setenv(parsing.ENV, value)
    result = run(workspace, "validate")
    assert result.exit_code != 0
    assert "FLUENTCART_WORKERS must be a whole number" in result.output
    assert "Traceback" not in result.output


def test_workers_read_cache_entries_and_parse_those_that_do_not_read(
    workspace: Workspace, run, monkeypatch, private_cache
) -> None:
    busy_workspace(workspace)
    expected = outputs(run, workspace, monkeypatch, "1", False, "validate")
    assert outputs(run, workspace, monkeypatch, "2", True, "validate") == expected  # fills it
    entries = sorted((private_cache / "declared").glob("*.json"))
    assert len(entries) == 8  # every file, the ones with errors too
    for entry in entries[::2]:
        entry.write_text("{not json")
    assert outputs(run, workspace, monkeypatch, "2", True, "validate") == expected
    assert outputs(run, workspace, monkeypatch, "2", True, "validate") == expected


@pytest.mark.parametrize("workers", ["1", "2"])
def test_declared_texts_equal_to_recorded_ones_are_held_once(
    workspace: Workspace, monkeypatch, workers
) -> None:
    """Memory (issue 16): a declared text equal to its recorded value is that same string,
    and every customer's field names are one string each, from workers too; what differs
    stays as declared."""
    from reconciler.commands.context import load_all

    for index in range(3):
        workspace.declare(f"part-{index}.yaml", customers_file(1 + index * 20, 20))
    workspace.state(
        make_state(
            [
                observed(i, email=f"c{i}@example.org", city="Lyon" if i % 2 else f"City {i % 7}")
                for i in range(1, 61)
            ]
        )
    )
    monkeypatch.setenv(parsing.ENV, workers)
    monkeypatch.setenv("FLUENTCART_NO_CACHE", "1")
    loaded = load_all(workspace.root)
    assert loaded.state is not None
    declared, recorded = loaded.declaration.customers, loaded.state.customers
    assert sorted(declared) == list(range(1, 61))
    for customer_id, customer in declared.items():
        kept = recorded[customer_id].observed
        assert customer.fields["email"] is kept.get("email")
        # A shared field (a few values, one string each a file): equal, left as it is.
        assert customer.fields["city"] == f"City {customer_id % 7}"
        # Stored with one space (WordPress' sanitizing), sent as written; recorded empty.
        assert customer.fields["notes"] == f"note {customer_id}" != kept.get("notes")
        assert customer.sent["notes"] == f"note  {customer_id}"
    # Two customers of one file (a worker sends its results a file at a time).
    first, last = declared[1], declared[20]
    assert [a is b for a, b in zip(first.fields, last.fields, strict=True)] == [True] * 3
    assert first.lines is last.lines  # one layout object for customers written alike
