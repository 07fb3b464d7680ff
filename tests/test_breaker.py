"""A store that stops answering: retries announced, the circuit breaker, the deadline, first
contact failing fast, and what apply says and records when it stops early."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from reconciler.breaker import Breaker, RetryNotice, StopKind, parse_duration
from reconciler.client import (
    ClientOptions,
    FluentCartClient,
    NotSent,
    ServerError,
    StoreUnreachable,
    TransportError,
)
from reconciler.jsonschemas import load_schema
from reconciler.sandbox.server import Faults
from reconciler.workspace import NameMode
from tests.conftest import PASSWORD, make_state, observed, recorded_state, seed_customer
from tests.test_client import ADMIN, FAST, Stub


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- the breaker on its own ----------------------------------------------------------------


def test_it_opens_after_the_threshold_of_failures_in_a_row_and_an_answer_resets_it() -> None:
    breaker = Breaker(threshold=3)
    breaker.answered()
    breaker.failed("HTTP 503")
    breaker.failed("HTTP 503")
    breaker.answered()  # the count starts again
    breaker.failed("connection refused", connecting=True)
    breaker.failed("connection refused", connecting=True)
    assert breaker.stopped is None
    breaker.failed("connection refused", connecting=True)
    stop = breaker.stopped
    assert stop is not None and stop.kind is StopKind.UNREACHABLE
    assert "the store is unreachable since" in stop.message
    assert "3 attempts in a row" in stop.message and "connection refused" in stop.message
    assert stop.since is not None
    breaker.answered()  # a late answer of a request in flight does not reopen the run
    assert breaker.stopped is stop


def test_a_first_contact_fails_after_two_unconnected_attempts_but_not_on_answers() -> None:
    breaker = Breaker(threshold=10)
    breaker.failed("HTTP 503")  # an answer of sorts: the store is there
    breaker.failed("HTTP 503")
    assert breaker.stopped is None
    breaker.failed("[Errno 111] Connection refused", connecting=True)
    assert breaker.stopped is None
    breaker.failed("[Errno 111] Connection refused", connecting=True)
    stop = breaker.stopped
    assert stop is not None and stop.message.startswith("cannot reach the store: ")


def test_the_deadline_and_an_interrupt_stop_the_run_and_the_first_reason_is_kept() -> None:
    clock = Clock()
    breaker = Breaker(deadline=90, clock=clock)
    clock.now += 89
    assert breaker.stopped is None
    clock.now += 1
    stop = breaker.stopped
    assert stop is not None and stop.kind is StopKind.DEADLINE
    assert stop.message == "the deadline of 90s (--deadline) passed"
    breaker.halt(StopKind.INTERRUPTED, "interrupted")
    assert breaker.stopped is stop


def test_a_sleeping_retry_wakes_when_the_run_stops() -> None:
    breaker = Breaker()
    threading.Timer(0.1, breaker.halt, (StopKind.INTERRUPTED, "interrupted")).start()
    started = time.monotonic()
    stop = breaker.wait(30)
    assert time.monotonic() - started < 5
    assert stop is not None and stop.kind is StopKind.INTERRUPTED


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("0.5s", 0.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "-5s", "0", "5d", "nan", "inf", "1e999"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# ---- the client ----------------------------------------------------------------------------


def test_every_retry_is_announced_with_its_reason() -> None:
    stub = Stub(503, b'{"code":"x","message":"busy"}')
    notices: list[RetryNotice] = []
    try:
        with FluentCartClient(stub.url, ADMIN, FAST) as client:
            client.breaker.on_retry = notices.append
            with pytest.raises(ServerError, match="HTTP 503"):
                client.get_customer(1)
    finally:
        stub.close()
    assert [(n.request, n.attempt, n.retries, n.reason) for n in notices] == [
        ("GET /customers/1", 1, 2, "HTTP 503"),
        ("GET /customers/1", 2, 2, "HTTP 503"),
    ]


def test_a_store_that_is_not_there_fails_at_once_with_the_reason() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    options = ClientOptions(retries=10, backoff=0.5)
    started = time.monotonic()
    with FluentCartClient(url, ADMIN, options) as client:
        with pytest.raises(StoreUnreachable, match=r"cannot reach the store: .*refused"):
            client.get_customer(1)
        assert client.requests_sent <= 2
    assert time.monotonic() - started < 3


def test_a_store_that_goes_away_opens_the_breaker_and_nothing_more_is_sent(sandbox) -> None:
    server = sandbox([seed_customer(1)])
    options = ClientOptions(retries=10, backoff=0.05, backoff_max=0.05, unreachable_after=4)
    with FluentCartClient(server.url, ADMIN, options) as client:
        client.get_customer(1)
        server.faults = Faults(fail_rate=1.0)  # every answer a 503 from here on
        with pytest.raises(StoreUnreachable, match=r"the store is unreachable since .*4 attempts"):
            client.get_customer(1)
        sent = server.count()
        with pytest.raises(NotSent, match="not sent: the store is unreachable"):
            client.get_customer(1)
        assert server.count() == sent


def test_the_deadline_cuts_a_long_retry_after_short() -> None:
    stub = Stub(
        429, b'{"code":"x","message":"slow down"}', {"Content-Type": "application/json",
        "Retry-After": "30"},
    )  # fmt: skip
    options = ClientOptions(retries=5, deadline=0.5)
    started = time.monotonic()
    try:
        with (
            FluentCartClient(stub.url, ADMIN, options) as client,
            pytest.raises(StoreUnreachable, match=r"the deadline of 0.5s \(--deadline\) passed"),
        ):
            client.get_customer(1)
    finally:
        stub.close()
    assert time.monotonic() - started < 5


# ---- the commands --------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["import"], ["plan", "--refresh"], ["refresh"]])
def test_commands_against_a_wrong_port_fail_in_seconds(
    workspace, run, monkeypatch, command: list[str]
) -> None:
    workspace.declare("a.yaml", "customers:\n  - id: 1\n    city: Paris\n")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    workspace.state(dataclasses.replace(make_state([observed(1)]), site=url))
    monkeypatch.setenv("FLUENTCART_URL", url)
    monkeypatch.setenv("FLUENTCART_USERNAME", "admin")
    monkeypatch.setenv("FLUENTCART_APP_PASSWORD", "secret")
    started = time.monotonic()
    result = run(workspace, *command)
    assert result.exit_code == 1, result.output
    assert "cannot reach the store" in result.output and "refused" in result.output
    assert "Traceback" not in result.output
    assert time.monotonic() - started < 5


def test_apply_shows_retries_as_lines_and_as_json_events(workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(i, city="Lyon") for i in range(1, 4)])
    workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 4))
    )
    workspace.state(recorded_state(server, [1, 2, 3]))
    server.faults = Faults(fail_rate=0.5, seed=3)
    result = run(workspace, "apply", "--auto-approve", "--json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    validator = jsonschema.Draft202012Validator(load_schema("apply-events"))
    for event in events:
        validator.validate(event)
    retries = [e for e in events if e["type"] == "retry"]
    assert retries and all(e["reason"] == "HTTP 503" for e in retries)
    assert events[-1]["type"] == "summary" and events[-1]["retries"] == len(retries)

    workspace.state(recorded_state(server, [1, 2, 3]))
    for i in range(1, 4):
        server.store.customers[i]["city"] = "Lyon"
    server.faults = Faults(fail_rate=0.5, seed=3)
    result = run(workspace, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "  retry 1/10 of " in result.stderr and ": HTTP 503" in result.stderr


def test_apply_stops_at_the_deadline_and_a_rerun_continues(workspace, run, sandbox) -> None:
    count = 30
    server = sandbox([seed_customer(i, city="Lyon") for i in range(1, count + 1)])
    workspace.declare(
        "a.yaml",
        "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, count + 1)),
    )
    workspace.state(recorded_state(server, list(range(1, count + 1))))
    server.faults = Faults(latency_ms=100)
    result = run(workspace, "apply", "--auto-approve", "--parallelism", "1", "--deadline", "1s")
    assert result.exit_code == 1, result.output
    assert "Apply stopped: the deadline passed: " in result.stdout
    assert "not started." in result.stdout
    assert "the deadline of 1s (--deadline) passed" in result.stderr
    changed = sum(server.store.customers[i]["city"] == "Paris" for i in range(1, count + 1))
    assert 0 < changed < count
    state = json.loads(Path(workspace.root, "fluentcart.state.json").read_text())
    recorded = sum(c["observed"]["city"] == "Paris" for c in state["customers"].values())
    assert recorded == changed  # every PUT in flight was finished and recorded

    server.faults = Faults()
    assert run(workspace, "apply", "--auto-approve").exit_code == 0
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0


# ---- a store that dies mid-apply, end to end -------------------------------------------------


def summary_of(stdout: str) -> str:
    return next(x for x in stdout.splitlines() if x.startswith("Apply "))


def _sandbox(port: int, data: Path, seed: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "sandbox", "--port", str(port), "--data", str(data),
         "--seed", str(seed), "--latency-ms", "30", "--app-password", PASSWORD],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if "listening on" in line:
            return process
    raise AssertionError(f"the sandbox did not start (exit {process.wait()})")


def test_a_store_killed_mid_apply_ends_the_run_fast_and_a_rerun_converges(
    tmp_path: Path,
) -> None:
    """500 changes at 30 ms latency; the sandbox is killed after about 50 answers: the run
    ends within seconds (not hours of retries) with exit 1, how many were changed, failed and
    not started, and since when the store is unreachable. Restarted on its data file, the
    store has every change it answered; a rerun converges and `plan --refresh` is empty."""
    count = 500
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps([seed_customer(i, city="Lyon") for i in range(1, count + 1)]))
    data, port = tmp_path / "store.jsonl", free_port()
    root = tmp_path / "workspace"
    (root / "customers").mkdir(parents=True)
    (root / "customers" / "all.yaml").write_text(
        "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, count + 1))
    )
    env = {
        **os.environ,
        "FLUENTCART_URL": f"http://127.0.0.1:{port}",
        "FLUENTCART_USERNAME": "admin",
        "FLUENTCART_APP_PASSWORD": PASSWORD,
        "PYTHONUNBUFFERED": "1",
    }

    def fluentcart(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "reconciler", "-C", str(root), *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    store = _sandbox(port, data, seed)
    try:
        imported = fluentcart("import")
        out, err = imported.communicate(timeout=60)
        assert imported.returncode == 0, out + err
        apply = fluentcart("apply", "--auto-approve", "--parallelism", "4")
        assert apply.stdout is not None
        changed = 0
        lines = []
        for line in apply.stdout:
            lines.append(line)
            changed += ": changed: " in line
            if changed == 50:
                break
        store.kill()
        store.wait()
        killed_at = time.monotonic()
        rest, err = apply.communicate(timeout=120)
        took = time.monotonic() - killed_at
        stdout = "".join(lines) + rest
        context = f"{stdout}\n{err}"
        assert apply.returncode == 1, context
        assert took < 30, context
        print(f"ended {took:.2f} s after the outage: {summary_of(stdout)}")
        summary = summary_of(stdout)
        assert summary.startswith("Apply stopped: the store is unreachable: "), context
        assert "not started" in summary and "failed" in summary, context
        assert "the store is unreachable since" in err, context
        assert "  retry " in err, context  # the retries were shown

        store = _sandbox(port, data, seed)  # the same store: --seed is not applied again
        rerun = fluentcart("apply", "--auto-approve", "--parallelism", "4")
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, f"{context}\nrerun:\n{out}\n{err}"
        check = fluentcart("plan", "--refresh", "--detailed-exitcode")
        out, err = check.communicate(timeout=60)
        assert check.returncode == 0, f"{context}\nplan:\n{out}\n{err}"
    finally:
        store.kill()
        store.wait()


def test_a_tls_failure_at_first_contact_fails_at_once_with_the_reason() -> None:
    """https:// to a server that does not speak TLS: one attempt, the reason, no retries."""
    stub = Stub(200, b"{}")
    url = stub.url.replace("http://", "https://")
    started = time.monotonic()
    try:
        with FluentCartClient(url, ADMIN, ClientOptions(retries=10, backoff=0.5)) as client:
            with pytest.raises(TransportError, match="TLS verification failed"):
                client.get_customer(1)
            assert client.retries == 0
    finally:
        stub.close()
    assert time.monotonic() - started < 3


def test_an_interrupt_never_waits_for_the_breaker_lock() -> None:
    """Ctrl-C's handler runs in the main thread, maybe while it holds the breaker's lock
    (an answer being counted): halting must not take that lock, or the handler hangs."""
    breaker = Breaker()
    done = threading.Event()

    def handler() -> None:
        with breaker._lock:  # the main thread, in the middle of answered()
            breaker.halt(StopKind.INTERRUPTED, "interrupted")
        done.set()

    threading.Thread(target=handler, daemon=True).start()
    assert done.wait(5), "halt() waited for the lock its own thread holds"
    assert breaker.stopped is not None and breaker.stopped.kind is StopKind.INTERRUPTED


def test_a_deadline_that_passes_after_the_last_customer_stops_nothing(
    workspace, sandbox, tmp_path
) -> None:
    from reconciler.apply import Applier, Outcome
    from reconciler.declared import Rules, load_declared
    from reconciler.plan import build_plan
    from reconciler.storage.file import Journal

    server = sandbox([seed_customer(i, city="Lyon") for i in (1, 2)])
    path = workspace.declare(
        "a.yaml", "customers:\n  - id: 1\n    city: Paris\n  - id: 2\n    city: Rome\n"
    )
    declaration = load_declared([(path, "a.yaml")], Rules(("active",), NameMode.FULL_NAME))
    plan = build_plan(declaration, recorded_state(server, [1, 2]), NameMode.FULL_NAME)
    clock = Clock()
    journal = Journal(tmp_path / "fluentcart.state.json")
    client = FluentCartClient(server.url, ADMIN, ClientOptions(retries=0))
    client.breaker = Breaker(deadline=60, clock=clock)
    done = 0

    def late(outcome: object) -> None:
        nonlocal done
        done += 1
        if done == 2:
            clock.now += 61  # the deadline passes as the last customer finishes

    try:
        applier = Applier(client, journal, NameMode.FULL_NAME, declaration.customers, 1)
        result = applier.run(list(plan.changes), on_result=late)
    finally:
        client.close()
        journal.close()
    assert result.count(Outcome.CHANGED) == 2
    assert result.stop is None
