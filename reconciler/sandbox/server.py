"""The sandbox's HTTP layer: WordPress REST routing, auth, headers and fault injection.

Only the standard library: `ThreadingHTTPServer` answers on 127.0.0.1. `Sandbox` runs it in
a background thread for tests (`with Sandbox(...) as sandbox:`) or in the foreground for
`fluentcart sandbox`.
"""

import base64
import binascii
import json
import random
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from reconciler.sandbox import phpjson
from reconciler.sandbox.checkoutfields import SCHEMA
from reconciler.sandbox.datafile import DataFileError
from reconciler.sandbox.store import NO_BODY, Store, WpUser

NAMESPACE = "/fluent-cart/v2"
REST_PREFIX = "/wp-json"
FORBIDDEN = {"code": "rest_forbidden", "message": "Sorry, you are not allowed to do that."}
COMMON_HEADERS = (
    ("X-Robots-Tag", "noindex"),
    ("X-Content-Type-Options", "nosniff"),
    ("Access-Control-Expose-Headers", "X-WP-Total, X-WP-TotalPages, Link"),
    (
        "Access-Control-Allow-Headers",
        "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type",
    ),
)
NO_CACHE_HEADERS = (
    ("Expires", "Wed, 11 Jan 1984 05:00:00 GMT"),
    ("Cache-Control", "no-cache, must-revalidate, max-age=0, no-store, private"),
)


@dataclass
class Faults:
    """Injected trouble, applied to each request before it is handled.

    `latency_ms` is the store's response time: an answer is sent about that long after its
    request arrived, the sandbox's own handling included (it sleeps what its handling will
    not take, before handling, so that a request in flight has not changed the store yet).
    """

    latency_ms: float = 0.0
    fail_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_rate: float = 0.0
    retry_after: int = 1
    seed: int | None = None
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


@dataclass
class Answer:
    status: int
    body: Any
    allow: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: "Sandbox"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up mid-request (killed, timed out) is not the sandbox's error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # http.server sends headers and body separately: without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK add about 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def parse_request(self) -> bool:
        self.arrived = time.monotonic()  # the request line is in; the headers follow
        return super().parse_request()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sandbox.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        faults = sandbox.faults
        with sandbox.counter_lock:
            sandbox.requests.append((self.command, self.path))
            sandbox.user_agents.add(self.headers.get("User-Agent", ""))
            roll = faults.rng.random()
            drop_after = faults.rng.random() < 0.5
            sandbox.in_flight += 1
            sandbox.most_in_flight = max(sandbox.most_in_flight, sandbox.in_flight)
        try:
            self._answer(sandbox, faults, raw, roll, drop_after)
        finally:
            with sandbox.counter_lock:
                sandbox.in_flight -= 1

    def _answer(
        self, sandbox: "Sandbox", faults: "Faults", raw: bytes, roll: float, drop_after: bool
    ) -> None:
        # What waking late and then handling and answering take is measured from when the
        # sleep should have ended (an average over recent answers) and slept less, so that
        # the answer takes the latency, not the latency and more.
        wake = time.monotonic()
        if faults.latency_ms:
            rest = faults.latency_ms / 1000 - (wake - self.arrived) - sandbox.handling_seconds
            if rest > 0:
                time.sleep(rest)
                wake += rest
        answer = self._handled(sandbox, faults, raw, roll, drop_after)
        took = time.monotonic() - wake
        sandbox.handling_seconds += (took - sandbox.handling_seconds) / 16
        if answer is not None and sandbox.on_answer is not None:
            self.wfile.flush()
            sandbox.on_answer(self.command, self.path, answer.status)

    def _handled(
        self, sandbox: "Sandbox", faults: "Faults", raw: bytes, roll: float, drop_after: bool
    ) -> Answer | None:
        """The answer sent for a handled request; None for injected faults and drops."""
        dropped = roll < faults.drop_rate
        if dropped and not drop_after:
            self._drop()  # reset before the request is handled
            return None
        if faults.drop_rate <= roll < faults.drop_rate + faults.fail_rate:
            self._send(Answer(503, {"code": "service_unavailable", "message": "Injected fault."}))
            return None
        throttled = faults.drop_rate + faults.fail_rate
        if throttled <= roll < throttled + faults.throttle_rate:
            self._send(
                Answer(
                    429,
                    {"code": "too_many_requests", "message": "Injected throttle."},
                    extra_headers=(("Retry-After", str(faults.retry_after)),),
                )
            )
            return None
        try:
            answer = sandbox.dispatch(self.command, self.path, self.headers, raw)
        except DataFileError as exc:
            # The change was not made (the store changes only once its data file holds it);
            # whoever runs the sandbox sees why, not only the client.
            sys.stderr.write(f"{exc}\n")
            answer = Answer(500, {"code": "sandbox_data_file", "message": str(exc), "data": None})
        if dropped or (
            sandbox.lose_answer is not None and sandbox.lose_answer(self.command, self.path)
        ):
            self._drop()  # handled, but the answer never arrives
            return None
        self._send(answer)
        return answer

    def _drop(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _send(self, answer: Answer) -> None:
        # HEAD runs the GET handler and sends its headers only (#2.116).
        if answer.body is NO_BODY or self.command == "HEAD":
            body = b""
        else:
            body = phpjson.encode(answer.body)
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        if answer.allow:
            self.send_header("Allow", answer.allow)
        for name, value in COMMON_HEADERS:
            self.send_header(name, value)
        self.send_header(
            "Link", f'<{self.server.sandbox.site_url}/wp-json/>; rel="https://api.w.org/"'
        )
        if answer.status != 401:
            for name, value in NO_CACHE_HEADERS:
                self.send_header(name, value)
        for name, value in answer.extra_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Sandbox:
    """A FluentCart-compatible server on 127.0.0.1.

    `site_url` is the public address written into answers (page URLs, user links); it
    defaults to the server's own address.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        port: int = 0,
        site_url: str | None = None,
        faults: Faults | None = None,
        wp_debug: bool = False,
        verbose: bool = False,
    ) -> None:
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.sandbox = self
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.site_url = (site_url or self.url).rstrip("/")
        self.store = store or Store(self.site_url, users=default_users())
        self.store.site_url = self.site_url
        self.faults = faults or Faults()
        self.wp_debug = wp_debug
        self.verbose = verbose
        self.requests: list[tuple[str, str]] = []
        self.user_agents: set[str] = set()
        self.handling_seconds = 0.0  # waking late and handling an answer, on average (Faults)
        self.in_flight = 0  # requests being handled now, and the most there ever were
        self.most_in_flight = 0
        # Called after each answer is sent (tests use it to kill a client at a precise point).
        self.on_answer: Callable[[str, str, int], None] | None = None
        # Whether to handle a request and then lose its answer (tests of lost answers).
        self.lose_answer: Callable[[str, str], bool] | None = None
        self.counter_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._route_table = self._routes()

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> "Sandbox":
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self, method: str | None = None, prefix: str = "") -> int:
        """Requests received, optionally by method and path prefix (under the REST root)."""
        with self.counter_lock:
            return sum(
                1
                for m, path in self.requests
                if (method is None or m == method) and _rest_path(path).startswith(prefix)
            )

    def methods(self) -> Counter[str]:
        with self.counter_lock:
            return Counter(m for m, _ in self.requests)

    # ---- dispatch -----------------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: Any, raw: bytes) -> Answer:
        parts = urlsplit(target)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = dict(pairs)
        rest_route = query.pop("rest_route", None)
        path = unquote(parts.path)
        if rest_route is not None:
            route, path_base = rest_route, self.site_url
        elif path.startswith(REST_PREFIX + "/") or path == REST_PREFIX:
            route, path_base = path[len(REST_PREFIX) :], None
        else:
            return Answer(404, {"code": "not_found", "message": "Not a REST request."})
        route = "/" + route.strip("/") if route.strip("/") else "/"
        if method == "POST":
            override = headers.get("X-HTTP-Method-Override") or query.pop("_method", None)
            if override:
                method = override.upper()

        # 1. Authentication: a bad credential is refused before anything else.
        user, auth_failed = self._authenticate(headers.get("Authorization"))
        if auth_failed:
            return Answer(401, {**FORBIDDEN, "data": {"status": 401}})

        # 2. Route and method.
        if method == "OPTIONS":
            options = self._options(route, user)
            if options is not None:
                return options
        matched = self._route(method, route)
        if matched is None:
            return self._no_route(method, route, query)
        handler, allow, permission, args = matched

        # 3. JSON body, parsed before the permission check.
        params = _php_query([(k, v) for k, v in pairs if k not in ("rest_route", "_method")])
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if raw and content_type == "application/json":
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return Answer(
                    400,
                    {
                        "code": "rest_invalid_json",
                        "message": "Invalid JSON body passed.",
                        "data": {
                            "status": 400,
                            "json_error_code": 4,
                            "json_error_message": "Syntax error",
                        },
                    },
                    allow,
                )
            if isinstance(body, dict):
                params.update(body)
        elif raw and content_type == "application/x-www-form-urlencoded":
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))

        # 4. Permission.
        if user is None:
            return Answer(401, {**FORBIDDEN, "data": {"status": 401}})
        if permission and permission not in user.permissions:
            # WordPress lists in Allow only the methods the caller may use; for the customer
            # routes the plugin's permission callback lets any user through to its policy.
            shown = allow if permission.startswith("customers/") else None
            return Answer(403, {**FORBIDDEN, "data": {"status": 403}}, shown)

        status, payload = handler(params, route=route, path_base=path_base, user=user, **args)
        return Answer(status, payload, allow)

    def _authenticate(self, header: str | None) -> tuple[WpUser | None, bool]:
        if not header:
            return None, False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return None, False
        try:
            login, _, password = (
                base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return None, True
        user = self.store.authenticate(login, password)
        return user, user is None

    def _routes(self) -> list[tuple[re.Pattern[str], dict[str, tuple[Any, str | None]]]]:
        """FluentCart's routes (app/Http/Routes/api.php) in registration order: the path
        pattern, then method -> (handler, permission). WordPress takes the first route whose
        pattern matches and that has the method; Allow lists that route's methods."""
        view, manage = "customers/view", "customers/manage"
        item = r"(?P<customer>\d+)"
        table: list[tuple[str, dict[str, tuple[Any, str | None]]]] = [
            ("/customers", {"GET": (self._list, view), "POST": (self._create, manage)}),
            ("/customers/do-bulk-action", {"POST": (self._bulk_action, manage)}),
            ("/customers/attachable-user", {"GET": (self._attachable_users, view)}),
            (f"/customers/{item}", {"GET": (self._find, view)}),
            (f"/customers/{item}/attachable-user", {"POST": (self._attach_user, manage)}),
            (f"/customers/{item}/detach-user", {"POST": (self._detach_user, manage)}),
            (f"/customers/{item}/additional-info", {"PUT": (self._additional_info, manage)}),
            (
                f"/customers/{item}/address",
                {
                    "GET": (self._addresses, view),
                    "PUT": (self._update_address, manage),
                    "POST": (self._create_address, manage),
                    "DELETE": (self._delete_address, "customers/delete"),
                },
            ),
            (f"/customers/{item}/address/make-primary", {"POST": (self._make_primary, manage)}),
            # The framework's default parameter pattern: no whitespace, (, ), ? or ! (#2.172).
            (
                r"/customers/(?P<customer>[^\s()?!/]+)",
                {"PUT": (self._update, manage), "GET": (self._portal, None)},
            ),
            (
                "/labels",
                {"GET": (self._labels, "labels/view"), "POST": (self._label, "labels/manage")},
            ),
            (
                "/labels/update-label-selections",
                {"POST": (self._label_selections, "labels/manage")},
            ),
            ("/checkout-fields/get-fields", {"GET": (self._checkout_fields, "store/sensitive")}),
            ("/checkout-fields/save-fields", {"POST": (self._save_fields, "store/sensitive")}),
        ]
        return [(re.compile(NAMESPACE + path), methods) for path, methods in table]

    def _route(self, method: str, route: str) -> tuple[Any, str, str | None, dict[str, Any]] | None:
        """(handler, Allow, permission, route arguments) for a request, or None (no route)."""
        lookup = "GET" if method == "HEAD" else method
        for pattern, methods in self._route_table:
            match = pattern.fullmatch(route)
            if match and lookup in methods:
                handler, permission = methods[lookup]
                return handler, ", ".join(methods), permission, match.groupdict()
        if route.startswith("/wp/v2/users/") and lookup == "GET":
            tail = route[len("/wp/v2/users/") :]
            if tail == "me":  # the signed-in user (WP_REST_Users_Controller::get_current_item)
                return self._wp_user, "GET, POST, PUT, PATCH, DELETE", None, {"user_id": 0}
            if tail.isdigit():
                return self._wp_user, "GET, POST, PUT, PATCH, DELETE", None, {"user_id": int(tail)}
        return None

    def _options(self, route: str, user: WpUser | None) -> Answer | None:
        """OPTIONS, answered by WordPress core without a permission check: the first route
        whose pattern matches, its methods and arguments (#2.120-#2.122)."""
        for pattern, methods in self._route_table:
            match = pattern.fullmatch(route)
            if not match:
                continue
            names = {"customer": "customerId"}
            args: Any = {names[k]: {"required": True} for k in match.groupdict()} or []
            body: dict[str, Any] = {
                "namespace": NAMESPACE.strip("/"),
                "methods": list(methods),
                "endpoints": [{"methods": [m], "args": args} for m in methods],
            }
            if not match.groupdict():
                body["_links"] = {"self": [{"href": f"{self.site_url}/wp-json{route}"}]}
            allowed = [
                m
                for m, (_, permission) in methods.items()
                if user is not None and (permission is None or permission in user.permissions)
            ]
            return Answer(200, body, ", ".join(allowed) or None)
        return None

    def _wpfluent(
        self, method: str, route: str, query: dict[str, str], route_params: dict[str, str]
    ) -> dict[str, Any]:
        if not self.wp_debug:
            return {"env": "production"}
        return {
            "env": "dev",
            "method": method,
            "request_url": f"{self.site_url}/wp-json{route}",
            "route_params": route_params or [],
            "query_params": query or [],
            "body_params": [],
        }

    def _no_route(self, method: str, route: str, query: dict[str, str]) -> Answer:
        data: dict[str, Any] = {"status": 404}
        if route.startswith(NAMESPACE):
            data["wpfluent"] = self._wpfluent(method, route, query, {})
        return Answer(
            404,
            {
                "code": "rest_no_route",
                "message": "No route was found matching the URL and request method.",
                "data": data,
            },
        )

    # ---- handlers -----------------------------------------------------------------------------

    def _list(self, params: dict[str, Any], *, path_base: str | None, **_: Any) -> tuple[int, Any]:
        path = path_base or f"{self.site_url}/wp-json{NAMESPACE}/customers"
        return self.store.list_customers(params, path)

    def _create(self, params: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return self.store.create(params)

    def _update(self, params: dict[str, Any], *, customer: str, **_: Any) -> tuple[int, Any]:
        return self.store.update(customer, params)

    def _find(
        self, params: dict[str, Any], *, customer: str, route: str, **_: Any
    ) -> tuple[int, Any]:
        query = {k: v for k, v in params.items()}
        debug = self._wpfluent("GET", route, query, {"customerId": customer})
        relations = params.get("with", [])
        options = params.get("params")
        only = isinstance(options, dict) and options.get("customer_only") == "yes"
        return self.store.find(
            int(customer), debug, relations if isinstance(relations, list) else [], only
        )

    def _bulk_action(self, params: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return self.store.bulk_action(params)

    def _portal(self, params: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return 422, {"message": "You are not authorized to view this customer"}

    def _attachable_users(self, params: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return self.store.attachable_users()

    def _attach_user(self, params: dict[str, Any], *, customer: str, **_: Any) -> tuple[int, Any]:
        return self.store.attach_user(customer, params)

    def _detach_user(self, params: dict[str, Any], *, customer: str, **_: Any) -> tuple[int, Any]:
        return self.store.detach_user(customer)

    def _additional_info(
        self, params: dict[str, Any], *, customer: str, **_: Any
    ) -> tuple[int, Any]:
        return self.store.update_additional_info(customer, params)

    def _addresses(self, params: dict[str, Any], *, customer: str, **_: Any) -> tuple[int, Any]:
        return self.store.addresses(customer, params)

    def _create_address(
        self, params: dict[str, Any], *, customer: str, user: WpUser, **_: Any
    ) -> tuple[int, Any]:
        return self.store.create_address(customer, params, user)

    def _update_address(self, params: dict[str, Any], *, user: WpUser, **_: Any) -> tuple[int, Any]:
        return self.store.update_address(params, user)

    def _delete_address(self, params: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return self.store.delete_address(params)

    def _make_primary(self, params: dict[str, Any], *, customer: str, **_: Any) -> tuple[int, Any]:
        return self.store.make_primary(customer, params)

    def _labels(self, params: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return self.store.labels()

    def _label(self, params: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return self.store.create_label(params)

    def _label_selections(self, params: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return self.store.update_label_selections(params)

    def _checkout_fields(self, params: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return 200, {"fields": SCHEMA, "settings": self.store.checkout_fields_settings()}

    def _save_fields(self, params: dict[str, Any], **_: Any) -> tuple[int, Any]:
        return self.store.save_checkout_fields(params)

    def _wp_user(
        self, params: dict[str, Any], *, user_id: int, user: WpUser, **_: Any
    ) -> tuple[int, Any]:
        user_id = user_id or user.id  # /users/me
        if params.get("context") == "edit" and user.role != "administrator" and user.id != user_id:
            return 403, {
                "code": "rest_forbidden_context",
                "message": "Sorry, you are not allowed to edit this user.",
                "data": {"status": 403},
            }
        found = self.store.users.get(user_id)
        if found is None:
            return 404, {
                "code": "rest_user_invalid_id",
                "message": "Invalid user ID.",
                "data": {"status": 404},
            }
        body = {
            "id": found.id,
            "username": found.login,
            "name": found.display_name or found.login,
            "first_name": found.first_name,
            "last_name": found.last_name,
            "email": found.email,
            "nickname": found.nickname or found.login,
            "slug": found.nicename or found.login,
            "roles": [found.role],
        }
        wanted = params.get("_fields")
        if isinstance(wanted, str):
            body = {k: v for k, v in body.items() if k in wanted.split(",")}
        return 200, body


def _php_query(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """A query string as PHP reads it: `with[]=a&with[]=b` a list, `params[x]=y` a map."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        name, bracket, rest = key.partition("[")
        if not bracket or not name or not rest.endswith("]"):
            out[key] = value
            continue
        sub = rest[:-1]
        if sub == "":
            if not isinstance(out.get(name), list):
                out[name] = []
            out[name].append(value)
        else:
            if not isinstance(out.get(name), dict):
                out[name] = {}
            out[name][sub] = value
    return out


def _rest_path(target: str) -> str:
    """The REST route of a request target, with its other query parameters after a `?`."""
    parts = urlsplit(target)
    query = parse_qsl(parts.query, keep_blank_values=True)
    route = next((value for key, value in query if key == "rest_route"), None)
    if route is None:
        route = parts.path[len(REST_PREFIX) :] if parts.path.startswith(REST_PREFIX) else parts.path
    rest = urlencode([(k, v) for k, v in query if k != "rest_route"])
    return f"{route}?{rest}" if rest else route


DEFAULT_USER = "admin"
DEFAULT_APP_PASSWORD = "sandbox-app-password"


def default_users(
    login: str = DEFAULT_USER, app_password: str = DEFAULT_APP_PASSWORD
) -> list[WpUser]:
    """The recordings' starting point: an administrator and two subscribers (README of shared/)."""
    return [
        WpUser(
            1,
            login,
            f"{login}@example.test",
            "administrator",
            app_password,
            "login-password",
            nicename=login,
        ),
        WpUser(2, "jane", "jane.linked@example.test", "subscriber", nicename="jane"),
        WpUser(
            3,
            "shopper",
            "shopper@example.test",
            "subscriber",
            "shopper-app-password",
            nicename="shopper",
        ),
    ]
