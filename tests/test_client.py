"""The HTTP client: documented answers mapped to errors, URL forms, paging, refusals."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reconciler.client import (
    AuthFailed,
    BadResponse,
    ClientOptions,
    ConfigurationError,
    Credentials,
    CustomerNotFound,
    FluentCartClient,
    PermissionDenied,
    ServerError,
    TransportError,
    UserSyncFailed,
    ValidationFailed,
    check_site,
    credentials_from_env,
)
from reconciler.workspace import NameMode
from tests.conftest import PASSWORD, seed_customer

ADMIN = Credentials("admin", PASSWORD)
FAST = ClientOptions(retries=2, backoff=0.01, read_timeout=2, connect_timeout=2)


def client_for(server, credentials=ADMIN, **options) -> FluentCartClient:
    return FluentCartClient(server.url, credentials, ClientOptions(**{**FAST.__dict__, **options}))


def body_for(customer: dict, full_name: str) -> dict:
    return {
        "id": customer["id"], "email": customer["email"], "full_name": full_name, "status": "active",
        "notes": "", "city": "", "state": "", "postcode": "", "country": "", "user_id": 0, "aov": "0.00",
    }  # fmt: skip


def test_get_update_and_name_mode(sandbox) -> None:
    server = sandbox([seed_customer(1)])
    with client_for(server) as client:
        customer = client.get_customer(1)
        assert customer["email"] == "customer1@example.org"
        updated = client.update_customer(1, body_for(customer, "Jean Luc Picard"))
        assert (updated["first_name"], updated["last_name"]) == ("Jean Luc", "Picard")
        assert client.detect_name_mode() is NameMode.FULL_NAME
        assert client.wp_user_exists(2) and not client.wp_user_exists(99)
    from reconciler import __version__

    assert server.user_agents == {f"fluentcart-reconciler/{__version__}"}


def test_first_last_mode_is_detected(sandbox) -> None:
    server = sandbox(name_mode="first_last")
    with client_for(server) as client:
        assert client.detect_name_mode() is NameMode.FIRST_LAST


@pytest.mark.parametrize("option", [{"rest_route": True}, {"method_override": True}])
def test_plain_permalinks_and_method_override(sandbox, option) -> None:
    server = sandbox([seed_customer(1)])
    with client_for(server, **option) as client:
        customer = client.get_customer(1)
        client.update_customer(1, body_for(customer, "Ada King"))
    assert server.store.customers[1]["last_name"] == "King"
    if "rest_route" in option:
        assert all(path.startswith("/?rest_route=") for _, path in server.requests)
    else:
        assert server.methods()["PUT"] == 0 and server.methods()["POST"] == 1


def test_listing_pages_of_199_in_ascending_order(sandbox) -> None:
    server = sandbox([seed_customer(i) for i in range(1, 421)])
    with client_for(server) as client:
        ids = [c["id"] for c in client.iter_customers()]
    assert ids == list(range(1, 421))
    assert server.count("GET") == 3
    assert all("per_page=199" in p and "sort_type=asc" in p for _, p in server.requests)


def test_documented_errors(sandbox) -> None:
    server = sandbox(
        [
            seed_customer(1),
            seed_customer(2, email="taken@example.org"),
            seed_customer(3, user_id="77"),
        ]
    )
    with client_for(server) as client:
        with pytest.raises(CustomerNotFound, match="customer 999 does not exist"):
            client.get_customer(999)
        customer = client.get_customer(1)
        with pytest.raises(CustomerNotFound):
            client.update_customer(
                999, {**body_for(customer, "A B"), "id": 999, "email": "x@example.org"}
            )
        with pytest.raises(ValidationFailed) as info:
            client.update_customer(1, {**body_for(customer, "A  B"), "email": "taken@example.org"})
        assert info.value.fields == {
            "full_name": {"sanitizeText": "The full_name must be a valid text"},
            "email": {"exist": "Email already exists."},
        }
        assert "full_name: The full_name must be a valid text" in str(info.value)
        with pytest.raises(UserSyncFailed, match="WordPress user sync failed"):
            client.update_customer(3, body_for(client.get_customer(3), "A B"))
    assert server.count("PUT") == 3  # nothing retried
    with (
        client_for(server, credentials=Credentials("admin", "nope")) as client,
        pytest.raises(AuthFailed, match="Application Password"),
    ):
        client.get_customer(1)
    shopper = Credentials("shopper", "shopper-app-password")
    with (
        client_for(server, credentials=shopper) as client,
        pytest.raises(PermissionDenied, match="lacks the customers/manage permission"),
    ):
        client.get_customer(1)


def test_http_refused_for_other_hosts() -> None:
    with pytest.raises(ConfigurationError, match="refusing plain http://"):
        check_site("http://shop.example.com", insecure_http=False)
    assert check_site("http://shop.example.com/", insecure_http=True) == "http://shop.example.com"
    for loopback in (
        "http://127.0.0.1:8080",
        "http://localhost",
        "http://[::1]:80",
        "https://shop.example.com",
    ):
        check_site(loopback, insecure_http=False)
    with pytest.raises(ConfigurationError, match="must not carry credentials"):
        check_site("https://admin:secret@shop.example.com", insecure_http=False)
    with pytest.raises(ConfigurationError, match="not an http"):
        check_site("ftp://shop.example.com", insecure_http=False)


def test_credentials_come_from_the_environment() -> None:
    with pytest.raises(ConfigurationError, match="FLUENTCART_USERNAME"):
        credentials_from_env({})
    credentials = credentials_from_env(
        {"FLUENTCART_USERNAME": "admin", "FLUENTCART_APP_PASSWORD": "s3cret"}
    )
    assert "s3cret" not in repr(credentials)


class Stub:
    """A tiny HTTP server answering every request with one canned response."""

    def __init__(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, hang: bool = False
    ):
        self.hits = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                stub.hits += 1
                if hang:
                    threading.Event().wait(5)
                    return
                self.send_response(status)
                for name, value in (headers or {"Content-Type": "application/json"}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_PUT = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "message"),
    [
        (
            200,
            b"<html><body><p>There has been a critical error on this website.</p></body></html>",
            {"Content-Type": "text/html"},
            BadResponse,
            "HTML page",
        ),
        (
            500,
            b"<!DOCTYPE html><html>Fatal error</html>",
            {"Content-Type": "text/html"},
            BadResponse,
            "not JSON",
        ),
        (200, b'{"customer": {"id": 1, "email"', None, BadResponse, "not JSON"),
        (200, b'{"customer": {"id": 1, "ltv": NaN}}', None, BadResponse, "not JSON"),
        (200, b'{"customer": {"id": 1, "ltv": 1e999}}', None, BadResponse, "not JSON"),
        (200, '{"customer": {"id": 1}}'.encode("utf-16"), None, BadResponse, "not JSON"),
        (200, b"", None, BadResponse, "empty body"),
        (200, b'{"customers": []}', None, BadResponse, "unexpected shape"),
        (200, b'{"customer": {"id": 2}}', None, BadResponse, "asked for customer 1"),
        (301, b"", {"Location": "https://elsewhere.example/wp-json/"}, BadResponse, "redirected"),
        (
            400,
            b'{"code":"rest_invalid_json","message":"Invalid JSON body passed.","data":{"status":400}}',
            None,
            ServerError,
            "rest_invalid_json",
        ),
        (
            404,
            b'{"code":"rest_no_route","message":"No route","data":{"status":404}}',
            None,
            BadResponse,
            "--rest-route",
        ),
        (
            500,
            b'{"code":"plugin_exception","data":[],"message":"Array to string conversion"}',
            None,
            ServerError,
            "PHP error",
        ),
    ],
)
def test_hostile_answers_are_clear_errors(status, body, headers, error, message) -> None:
    stub = Stub(status, body, headers)
    try:
        with FluentCartClient(stub.url, ADMIN, FAST) as client, pytest.raises(error, match=message):
            client.get_customer(1)
        assert stub.hits == 1
    finally:
        stub.close()


def test_an_answer_the_fast_decoder_refuses_is_read_as_the_standard_one_reads_it() -> None:
    """Answers are decoded by msgspec; what it refuses but JSON allows (a lone surrogate
    escape, which PHP's json_encode can write) goes through the standard decoder."""
    stub = Stub(200, b'{"customer": {"id": 1, "notes": "a\\ud800b", "ltv": 0.1}}')
    try:
        with FluentCartClient(stub.url, ADMIN, FAST) as client:
            customer = client.get_customer(1)
        assert customer["notes"] == "a\ud800b" and customer["ltv"] == 0.1
    finally:
        stub.close()


def test_retryable_statuses_are_retried_then_reported() -> None:
    stub = Stub(
        503,
        b'{"code":"x","message":"busy"}',
        {"Content-Type": "application/json", "Retry-After": "0"},
    )
    try:
        with (
            FluentCartClient(stub.url, ADMIN, FAST) as client,
            pytest.raises(ServerError, match="HTTP 503"),
        ):
            client.get_customer(1)
        assert stub.hits == 3
        assert client.retries == 2
    finally:
        stub.close()


def test_a_server_that_never_answers_times_out() -> None:
    stub = Stub(200, b"", hang=True)
    try:
        options = ClientOptions(retries=0, read_timeout=0.3, connect_timeout=1)
        with (
            FluentCartClient(stub.url, ADMIN, options) as client,
            pytest.raises(TransportError, match="did not answer in time"),
        ):
            client.get_customer(1)
    finally:
        stub.close()


def test_nothing_listening() -> None:
    stub = Stub(200, b"")
    url = stub.url
    stub.close()
    with (
        FluentCartClient(url, ADMIN, FAST) as client,
        pytest.raises(TransportError, match="cannot reach the store"),
    ):
        client.get_customer(1)
