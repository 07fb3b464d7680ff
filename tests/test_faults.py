"""Faults: a flaky store still converges; a hostile one gives a clear error and an intact state."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reconciler.sandbox.server import Faults
from reconciler.statefile import serialize
from tests.backends import Backend
from tests.conftest import PASSWORD, Workspace, make_state, observed, recorded_state, seed_customer


def test_apply_of_200_changes_through_faults(
    workspace: Workspace, run, sandbox, backend: Backend
) -> None:
    faults = Faults(
        latency_ms=100, fail_rate=0.2, throttle_rate=0.1, drop_rate=0.05, retry_after=1, seed=11
    )
    server = sandbox([seed_customer(i, city="Lyon") for i in range(1, 201)], faults=faults)
    workspace.declare(
        "a.yaml", "customers:\n" + "".join(f"  - id: {i}\n    city: Paris\n" for i in range(1, 201))
    )
    backend.prepare(workspace.root, recorded_state(server, list(range(1, 201))))
    result = run(workspace, "apply", "--auto-approve", "--parallelism", "8")
    assert result.exit_code == 0, result.output[-3000:]
    assert "Apply complete: 200 changed, 0 unchanged, 0 failed, 0 skipped." in result.stdout
    retried = int(result.stdout.split("Apply complete:")[1].split("(")[1].split(" retried")[0])
    assert retried > 0
    assert all(server.store.customers[i]["city"] == "Paris" for i in range(1, 201))
    state = backend.stored(workspace.root)
    assert state is not None
    assert all(state.customers[i].observed["city"] == "Paris" for i in range(1, 201))
    assert backend.pending(workspace.root) == [] and backend.holder(workspace.root) is None


class Hostile:
    """A server that answers every request with the same bad answer, and counts requests."""

    def __init__(self, behaviour: str) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                hostile.requests.append((self.command, dict(self.headers)))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                hostile.answer(self, behaviour)

            do_PUT = do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.other: Hostile | None = None
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, handler: BaseHTTPRequestHandler, behaviour: str) -> None:
        def send(
            status: int, body: bytes, content_type: str = "application/json", **headers: str
        ) -> None:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            for name, value in headers.items():
                handler.send_header(name.replace("_", "-"), value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        if behaviour == "truncated":
            send(200, b'{"customer":{"id":1,"email":"cust')
        elif behaviour == "html":
            send(
                200,
                b"<html><body><h1>There has been a critical error on this website.</h1></body></html>",
                "text/html",
            )
        elif behaviour == "shape":
            send(200, b'{"customers": {"data": "nope"}, "customer": [1, 2, 3]}')
        elif behaviour == "empty":
            send(200, b"")
        elif behaviour == "redirect":
            assert self.other is not None
            send(302, b"", Location=f"{self.other.url}/wp-json/fluent-cart/v2/customers/1")
        elif behaviour == "echo":
            auth = handler.headers.get("Authorization", "")
            send(
                500,
                f'{{"code":"proxy","message":"upstream failed for {auth} / {PASSWORD}"}}'.encode(),
            )
        elif behaviour == "huge":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(300 * 1024 * 1024))
            handler.end_headers()
            chunk = b"[" * 65536
            try:
                for _ in range(300 * 16):
                    handler.wfile.write(chunk)
            except OSError:
                pass  # the client stopped reading, as it should
        elif behaviour == "silent":
            threading.Event().wait(3)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("truncated", "not JSON"),
        ("html", "an HTML page: a WordPress critical error?"),
        ("shape", "unexpected shape"),
        ("empty", "empty body"),
        ("redirect", "fluentcart does not follow redirects"),
        ("echo", "upstream failed for Basic <redacted> / <redacted>"),
        ("huge", "larger than 32 MiB"),
        ("silent", "did not answer in time"),
    ],
)
def test_hostile_servers(
    workspace: Workspace, run, monkeypatch, behaviour: str, message: str, backend: Backend
) -> None:
    hostile = Hostile(behaviour)
    other = Hostile("empty")
    hostile.other = other
    try:
        monkeypatch.setenv("FLUENTCART_URL", hostile.url)
        monkeypatch.setenv("FLUENTCART_USERNAME", "admin")
        monkeypatch.setenv("FLUENTCART_APP_PASSWORD", PASSWORD)
        workspace.declare("a.yaml", "id: 1\ncity: Paris\n")
        state = make_state([observed(1, city="Lyon")])
        state.site = hostile.url
        backend.prepare(workspace.root, state)
        before = backend.stored(workspace.root)
        assert before is not None
        result = run(workspace, "apply", "--auto-approve", "--timeout", "0.5", "--retries", "1")
        assert result.exit_code == 1
        assert message in result.output, result.output
        assert "Traceback" not in result.output
        assert PASSWORD not in result.output and PASSWORD.replace(" ", "") not in result.output
        after = backend.stored(workspace.root)  # intact
        assert after is not None and serialize(after) == serialize(before)
        assert backend.pending(workspace.root) == [] and backend.holder(workspace.root) is None
        if backend.name == "file":
            assert sorted(p.name for p in workspace.root.iterdir()) == [
                "customers",
                "fluentcart.state.json",
            ]
        assert other.requests == []  # credentials never followed a redirect
    finally:
        hostile.close()
        other.close()


def test_creating_requests_are_never_sent_twice(
    workspace: Workspace, run, sandbox, backend: Backend
) -> None:
    """An address POST whose answer is lost, or that gets a 5xx, may have been made: it is
    never sent again (FluentCart would keep two). The apply fails for that customer, records
    its addresses as not read, and the rerun finds what was made and converges."""
    count = 60
    faults = Faults(fail_rate=0.15, drop_rate=0.25, seed=5)
    server = sandbox([seed_customer(i) for i in range(1, count + 1)], faults=faults)
    address = (
        "        name: Ann Lee\n        email: ann@example.test\n        address_1: 1 Main St\n"
        "        city: Leeds\n        country: GB\n"
    )
    workspace.declare(
        "a.yaml",
        "customers:\n"
        + "".join(
            f"  - id: {i}\n    addresses:\n      billing:\n{address}      shipping:\n{address}"
            for i in range(1, count + 1)
        ),
    )
    backend.prepare(workspace.root, recorded_state(server, list(range(1, count + 1))))
    first = run(workspace, "apply", "--auto-approve", "--retries", "4")
    posts = [p for m, p in server.requests if m == "POST" and p.endswith("/address")]
    assert len(posts) >= count  # every customer's creates were tried
    for i in range(1, count + 1):
        _, body = server.store.addresses(str(i), {})
        kinds = sorted(a["type"] for a in body["addresses"])
        assert kinds in ([], ["billing"], ["shipping"], ["billing", "shipping"]), (i, kinds)
    assert "failed" in first.stdout and first.exit_code != 0, first.output[-3000:]
    server.faults = Faults()
    rerun = run(workspace, "apply", "--auto-approve")
    assert rerun.exit_code == 0, rerun.output[-3000:]
    again = run(workspace, "plan", "--refresh", "--detailed-exitcode")
    assert again.exit_code == 0, again.output[-3000:]
    for i in range(1, count + 1):
        _, body = server.store.addresses(str(i), {})
        shown = sorted((a["type"], a["city"], a["is_primary"]) for a in body["addresses"])
        assert shown == [("billing", "Leeds", "1"), ("shipping", "Leeds", "1")], (i, shown)
