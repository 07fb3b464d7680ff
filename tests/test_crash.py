"""Crash safety: a real `fluentcart apply` killed right after the k-th PUT answer, for every k,
with each state backend (the JSON file, PostgreSQL).

After every kill: the stored state is whole and valid, the lock is recovered, every change
the store accepted is in the state or reconciled by the rerun, and after the rerun the store,
the state and the YAML agree. SIGKILL is the worst case (no cleanup at all); SIGINT (Ctrl-C)
must finish the PUTs in flight, save, release the lock and exit non-zero.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from reconciler.commands.apply import INTERRUPT_GRACE
from reconciler.sandbox import Sandbox, Store
from reconciler.sandbox.server import Faults, default_users
from tests.backends import Backend, FileBackend
from tests.conftest import PASSWORD, recorded_state, seed_customer

COUNT = 20


def start_sandbox() -> Sandbox:
    store = Store("http://127.0.0.1", users=default_users("admin", PASSWORD))
    for i in range(1, COUNT + 1):
        store.seed(seed_customer(i, city="Lyon"))
    return Sandbox(store, faults=Faults(latency_ms=10)).start()


def environment(server: Sandbox) -> dict[str, str]:
    return {
        **os.environ,
        "FLUENTCART_URL": server.url,
        "FLUENTCART_USERNAME": "admin",
        "FLUENTCART_APP_PASSWORD": PASSWORD,
        "PYTHONUNBUFFERED": "1",
    }


def fluentcart(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "-C", str(root), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signame", ["SIGKILL", "SIGINT"])
def test_interrupted_after_each_put(tmp_path: Path, signame: str, backend: Backend) -> None:
    sig = getattr(signal, signame)

    def attempt(k: int) -> None:
        server = start_sandbox()
        try:
            _one_run(tmp_path / f"{signame}-{k}", server, sig, k, backend)
        finally:
            server.stop()

    # Each k has its own sandbox and workspace; three at a time keep both cores busy.
    with ThreadPoolExecutor(max_workers=3) as pool:
        for future in [pool.submit(attempt, k) for k in range(1, COUNT + 1)]:
            future.result()


def _apply_signalled(
    root: Path,
    env: dict[str, str],
    server: Sandbox,
    k: int,
    sig: int,
    methods: tuple[str, ...] = ("PUT",),
) -> tuple[subprocess.Popen, str, str]:
    """`apply` in a child process, sent `sig` when the store has answered its k-th request
    of `methods` (PUTs unless told)."""
    answered = 0
    lock = threading.Lock()
    process: subprocess.Popen | None = None

    def after(method: str, path: str, status: int) -> None:
        nonlocal answered
        if method not in methods or status != 200:
            return
        with lock:
            answered += 1
            if answered == k and process is not None:
                os.kill(process.pid, sig)

    server.on_answer = after
    process = fluentcart(root, env, "apply", "--auto-approve", "--parallelism", "4")
    stdout, stderr = process.communicate(timeout=60)
    server.on_answer = None
    return process, stdout, stderr


def _rerun_converges(root: Path, env: dict[str, str], context: str) -> str:
    """Apply again, which must succeed, then `plan --refresh --detailed-exitcode`, which must
    find nothing to change; returns the rerun's stderr."""
    rerun = fluentcart(root, env, "apply", "--auto-approve")
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, f"{context}\nrerun:\n{out}\n{err}"
    check = fluentcart(root, env, "plan", "--refresh", "--detailed-exitcode")
    plan_out, plan_err = check.communicate(timeout=60)
    assert check.returncode == 0, f"{context}\nplan:\n{plan_out}\n{plan_err}"
    return err


def _one_run(root: Path, server: Sandbox, sig: int, k: int, backend: Backend) -> None:
    (root / "customers").mkdir(parents=True)
    (root / "customers" / "all.yaml").write_text(
        "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, COUNT + 1))
    )
    backend.prepare(root, recorded_state(server, list(range(1, COUNT + 1))))
    env = {**environment(server), **backend.env()}
    process, stdout, stderr = _apply_signalled(root, env, server, k, sig)
    context = f"{backend.name} k={k}\n{stdout}\n{stderr}"
    accepted = {i for i in range(1, COUNT + 1) if server.store.customers[i]["city"] == "Paris"}
    assert len(accepted) >= k, context

    # The stored state is whole and valid (schema-checked for the file), whatever happened.
    assert backend.stored(root) is not None, context
    state = backend.next_start(root)
    assert state is not None, context
    recorded = {i for i, r in state.customers.items() if r.observed["city"] == "Paris"}
    if sig == signal.SIGINT:
        assert process.returncode == 130, context
        assert "Traceback" not in stderr, context
        assert backend.holder(root) is None, context  # released
        assert backend.pending(root) == [], context  # folded into the state, nothing unknown
        assert recorded == accepted, context  # every accepted change is recorded
    else:
        assert process.returncode == -signal.SIGKILL, context
        assert recorded <= accepted, context
        unknown = accepted - recorded  # at most the PUTs in flight, each left pending
        assert len(unknown) <= 4, context
        if backend.name == "postgres":
            assert {f"intent for customer {i}" for i in unknown} <= set(backend.pending(root))

    # The rerun recovers the lock and what was pending, reconciles, and converges.
    err = _rerun_converges(root, env, context)
    if sig == signal.SIGKILL:
        assert "released a lock left by a process that is gone" in err, f"{context}\n{err}"
    assert all(server.store.customers[i]["city"] == "Paris" for i in range(1, COUNT + 1))
    final = backend.stored(root)
    assert final is not None
    assert all(final.customers[i].observed["city"] == "Paris" for i in range(1, COUNT + 1))
    assert backend.holder(root) is None and backend.pending(root) == [], context


def test_ctrl_c_twice_exits_at_once_and_the_rerun_recovers(
    tmp_path: Path, backend: Backend
) -> None:
    """The first Ctrl-C says what happens next; the second exits at once, with PUTs still in
    flight. Every PUT the store accepted is then recorded or has its intent recorded, so the
    rerun reads it again: after it, the store, the state and the YAML agree."""
    store = Store("http://127.0.0.1", users=default_users("admin", PASSWORD))
    for i in range(1, COUNT + 1):
        store.seed(seed_customer(i, city="Lyon"))
    server = Sandbox(store, faults=Faults(latency_ms=1500)).start()  # requests stay in flight
    try:
        (tmp_path / "customers").mkdir()
        (tmp_path / "customers" / "all.yaml").write_text(
            "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, COUNT + 1))
        )
        backend.prepare(tmp_path, recorded_state(server, list(range(1, COUNT + 1))))
        process: subprocess.Popen | None = None
        puts = 0
        lock = threading.Lock()

        def after(method: str, path: str, status: int) -> None:
            nonlocal puts
            if method != "PUT":
                return
            with lock:
                puts += 1
                if puts == 2 and process is not None:
                    os.kill(process.pid, signal.SIGINT)

        server.on_answer = after
        env = {**environment(server), **backend.env()}
        process = fluentcart(tmp_path, env, "apply", "--auto-approve")
        assert process.stderr is not None
        stderr_lines = []
        second_at = None
        for line in process.stderr:  # the second Ctrl-C once the first was taken
            stderr_lines.append(line)
            if line.startswith("Interrupted: starting no more customers"):
                second_at = time.monotonic()
                os.kill(process.pid, signal.SIGINT)
        stdout = process.stdout.read() if process.stdout else ""
        process.wait(timeout=60)
        server.on_answer = None
        stderr = "".join(stderr_lines)
        context = f"{stdout}\n{stderr}"
        assert second_at is not None, context
        assert process.returncode == 130, context
        assert time.monotonic() - second_at < 1.2, context  # not the 1.5 s of a PUT in flight
        assert "Traceback" not in stderr, context
        assert "Apply interrupted at once (Ctrl-C again)" in stderr, context
        assert "Apply complete" not in stdout, context
        time.sleep(1.6)  # the PUTs that were in flight reach the store all the same
        accepted = {i for i in range(1, COUNT + 1) if server.store.customers[i]["city"] == "Paris"}
        assert 2 <= len(accepted) < COUNT, context
        state = backend.next_start(tmp_path)
        assert state is not None, context
        recorded = {i for i, r in state.customers.items() if r.observed["city"] == "Paris"}
        assert recorded <= accepted, context
        if backend.name == "postgres":
            intents = set(backend.pending(tmp_path))
            assert {f"intent for customer {i}" for i in accepted - recorded} <= intents, context

        _rerun_converges(tmp_path, env, context)
        final = backend.stored(tmp_path)
        assert final is not None
        assert all(final.customers[i].observed["city"] == "Paris" for i in range(1, COUNT + 1))
        assert backend.holder(tmp_path) is None and backend.pending(tmp_path) == [], context
    finally:
        server.stop()


def test_one_ctrl_c_waits_a_bounded_time_for_a_store_that_hangs(tmp_path: Path) -> None:
    """A store that takes 30 s an answer does not hold the user after Ctrl-C: the run waits
    the grace period for the requests in flight, then exits as on a second Ctrl-C, and the
    rerun converges once the store answers again."""
    store = Store("http://127.0.0.1", users=default_users("admin", PASSWORD))
    for i in range(1, 4):
        store.seed(seed_customer(i, city="Lyon"))
    server = Sandbox(store).start()
    try:
        (tmp_path / "customers").mkdir()
        (tmp_path / "customers" / "all.yaml").write_text(
            "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 4))
        )
        FileBackend().prepare(tmp_path, recorded_state(server, [1, 2, 3]))

        def hang(method: str, path: str, status: int) -> None:
            if method == "GET" and "/customers/" in path:  # read before its PUT
                server.faults = Faults(latency_ms=30_000)

        server.on_answer = hang
        process = fluentcart(tmp_path, environment(server), "apply", "--auto-approve")
        deadline = time.monotonic() + 20
        while server.count("PUT") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.count("PUT"), "no PUT was sent"  # and it hangs
        interrupted_at = time.monotonic()
        os.kill(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        took = time.monotonic() - interrupted_at
        context = f"{stdout}\n{stderr}"
        assert process.returncode == 130, context
        assert INTERRUPT_GRACE - 0.5 < took < INTERRUPT_GRACE + 5, context
        assert f"Apply interrupted at once ({INTERRUPT_GRACE:g} s passed)" in stderr, context
        assert "Traceback" not in stderr, context

        server.on_answer = None
        server.faults = Faults()
        env = environment(server)
        _rerun_converges(tmp_path, env, context)
    finally:
        server.stop()


@pytest.mark.parametrize("k", [1, 8, 25])
def test_killed_among_customer_and_label_puts(tmp_path: Path, k: int, backend: Backend) -> None:
    """Each customer takes two PUTs (its record, then its labels, from B2B to VIP): a SIGKILL
    after the k-th answer of either kind loses nothing: the rerun converges, and the store,
    the state and the YAML agree."""
    server = start_sandbox()
    try:
        store = server.store
        store.create_label({"value": "VIP"})
        store.create_label({"value": "B2B"})
        for i in range(1, COUNT + 1):
            store.update_additional_info(str(i), {"labels": [2]})
        root = tmp_path / "ws"
        (root / "customers").mkdir(parents=True)
        (root / "customers" / "all.yaml").write_text(
            "customers:\n"
            + "".join(
                f"  - id: {i}\n    city: Paris\n    labels: [vip]\n" for i in range(1, COUNT + 1)
            )
        )
        backend.prepare(root, recorded_state(server, list(range(1, COUNT + 1))))
        env = {**environment(server), **backend.env()}
        process, stdout, stderr = _apply_signalled(root, env, server, k, signal.SIGKILL)
        context = f"{backend.name} k={k}\n{stdout}\n{stderr}"
        assert process.returncode == -signal.SIGKILL, context
        assert backend.stored(root) is not None, context
        _rerun_converges(root, env, context)
        for i in range(1, COUNT + 1):
            assert store.customers[i]["city"] == "Paris", context
            assert [link["label_id"] for link in store._links(i)] == [1], context
        final = backend.stored(root)
        assert final is not None
        assert all(final.customers[i].observed["labels"] == ["VIP"] for i in final.customers)
        assert backend.holder(root) is None and backend.pending(root) == [], context
    finally:
        server.stop()


ANN = {"name": "Ann Lee", "email": "ann@example.test"}


@pytest.mark.parametrize("k", [1, 14, 43])
def test_killed_among_address_requests(tmp_path: Path, k: int, backend: Backend) -> None:
    """Each customer takes four address requests (create a shipping address, make another
    billing address the primary, take the flag from the old one, delete it): a SIGKILL after
    the k-th answer loses nothing and makes nothing twice: the rerun converges, and every
    customer has exactly the declared addresses, on the store and in the state."""
    server = start_sandbox()
    try:
        store = server.store
        for i in range(1, COUNT + 1):
            for kind, city in (("billing", "Dallas"), ("billing", "Austin"), ("shipping", "Lyon")):
                country = {"country": "FR"} if city == "Lyon" else {"country": "US", "state": "TX"}
                body = {**ANN, "address_1": "1 Main St", "city": city, **country, "type": kind}
                store.create_address(str(i), body)
        wanted = (
            "      billing:\n"
            "        {name: Ann Lee, email: ann@example.test, address_1: 1 Main St,"
            " city: Austin, state: TX, country: US}\n"
            "      shipping:\n"
            "        - {name: Ann Lee, email: ann@example.test, address_1: 1 Main St,"
            " city: Lyon, country: FR}\n"
            "        - {name: Ann Lee, email: ann@example.test, address_1: 2 New Rd,"
            " city: Leeds, country: GB}\n"
        )
        root = tmp_path / "ws"
        (root / "customers").mkdir(parents=True)
        (root / "customers" / "all.yaml").write_text(
            "customers:\n"
            + "".join(f"  - id: {i}\n    addresses:\n{wanted}" for i in range(1, COUNT + 1))
        )
        backend.prepare(root, recorded_state(server, list(range(1, COUNT + 1))))
        env = {**environment(server), **backend.env()}
        methods = ("POST", "PUT", "DELETE")
        process, stdout, stderr = _apply_signalled(root, env, server, k, signal.SIGKILL, methods)
        context = f"{backend.name} k={k}\n{stdout}\n{stderr}"
        assert process.returncode == -signal.SIGKILL, context
        _rerun_converges(root, env, context)
        final = backend.stored(root)
        assert final is not None
        expected = [
            ("billing", "Austin", "1"),
            ("shipping", "Leeds", "0"),
            ("shipping", "Lyon", "1"),
        ]
        for i in range(1, COUNT + 1):
            _, body = store.addresses(str(i), {})
            shown = sorted((a["type"], a["city"], a["is_primary"]) for a in body["addresses"])
            assert shown == expected, context
            recorded = final.customers[i].observed["addresses"]
            assert sorted(
                (a["type"], a["city"], "1" if a["primary"] else "0") for a in recorded
            ) == (expected), context
        assert backend.holder(root) is None and backend.pending(root) == [], context
    finally:
        server.stop()


@pytest.mark.parametrize("k", [1, 7])
def test_killed_among_creates(tmp_path: Path, k: int, backend: Backend) -> None:
    """Ten customers declared without an id, created one at a time: a SIGKILL after the k-th
    POST /customers answer creates nothing twice and loses nothing. A customer whose POST was
    answered but not recorded is, on the rerun, a clear failure that names it and says how to
    import it (FluentCart refuses its email again); once imported, everything agrees."""
    server = start_sandbox()
    try:
        store = server.store
        root = tmp_path / "ws"
        (root / "customers").mkdir(parents=True)
        declared = "".join(
            f"  - email: new{i}@example.test\n    full_name: New Person{i}\n" for i in range(10)
        )
        (root / "customers" / "all.yaml").write_text("customers:\n" + declared)
        backend.prepare(root, recorded_state(server, []))
        env = {**environment(server), **backend.env()}
        process, stdout, stderr = _apply_signalled(root, env, server, k, signal.SIGKILL, ("POST",))
        context = f"{backend.name} k={k}\n{stdout}\n{stderr}"
        assert process.returncode == -signal.SIGKILL, context
        rerun = fluentcart(root, env, "apply", "--auto-approve")
        out, err = rerun.communicate(timeout=60)
        context += f"\nrerun:\n{out}\n{err}"
        emails = [row["email"] for row in store.customers.values()]
        assert len(emails) == len(set(emails)) == COUNT + 10, context  # none twice, all made
        if rerun.returncode != 0:
            # The one in flight: created, not recorded; the rerun names it.
            (line,) = [x for x in out.splitlines() if "already has this email" in x]
            holder = int(line.split("customer ")[2].split(" ")[0])
            assert f"`fluentcart import {holder}` and write `id: {holder}`" in line, context
            email = store.customers[holder]["email"]
            text = (root / "customers" / "all.yaml").read_text()
            (root / "customers" / "all.yaml").write_text(
                text.replace(f"  - email: {email}\n", f"  - id: {holder}\n    email: {email}\n")
            )
            imported = fluentcart(root, env, "import", str(holder))
            assert imported.wait(timeout=60) == 0, context
        _rerun_converges(root, env, context)
        fmt = fluentcart(root, env, "fmt", "--write-ids")
        assert fmt.wait(timeout=60) == 0, context
        text = (root / "customers" / "all.yaml").read_text()
        assert "  - email:" not in text, text  # every customer has its id now
        _rerun_converges(root, env, context)
        assert backend.holder(root) is None and backend.pending(root) == [], context
    finally:
        server.stop()
