"""The only module that talks HTTP: a FluentCart REST client for customers.

One urllib3 connection pool (the transport requests is built on, without requests' per-call
merging of session settings, hooks and cookies: half the client's CPU a request) with
explicit timeouts, TLS verification against requests' CA bundle, a bounded urllib3 `Retry`
for connection errors, 429, 502, 503 and 504 (never for 4xx and never for the HTTP 500 that
means "customer not found"), and every documented answer mapped to an exception whose
message a user can act on (API.md section 14.8). Redirects are never followed, so the
credentials never travel to another host. Credentials never appear in messages.
"""

import base64
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3 import BaseHTTPResponse, PoolManager, Timeout
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.retry import Retry

from reconciler import __version__, addresses, jsontext
from reconciler.breaker import Breaker, RetryNotice, Stop
from reconciler.errors import ANSWER_PREVIEW, FluentCartError
from reconciler.labels import Catalog, Labels
from reconciler.workspace import NameMode

log = logging.getLogger("fluentcart.http")
NAMESPACE = "/fluent-cart/v2"
PAGE_SIZE = 199  # per_page of 200 or more silently becomes 10 on the real server (API.md 8)
MAX_BODY_BYTES = 32 * 1024 * 1024
RETRY_STATUSES = (429, 502, 503, 504)
GET_ONE_ONLY = ("selected_labels",)  # what GET /customers/{id} gives and list pages do not
UNAVAILABLE = (502, 503, 504)  # a gateway or a store in maintenance: no answer from FluentCart
MAX_RETRY_AFTER = 60.0


class ClientError(FluentCartError):
    """An answer from the store, or its absence, that stops one request."""

    status: int | None = None


class AuthFailed(ClientError):
    status = 401


class PermissionDenied(ClientError):
    status = 403


class CustomerNotFound(ClientError):
    def __init__(self, customer_id: int) -> None:
        super().__init__(f"customer {customer_id} does not exist on the store")
        self.customer_id = customer_id


class ValidationFailed(ClientError):
    """HTTP 422: the fields the server refused, with its messages."""

    status = 422

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = dict(fields)
        parts = []
        for name, rules in self.fields.items():
            messages = rules.values() if isinstance(rules, dict) else [rules]
            parts.append(f"{name}: {'; '.join(str(m) for m in messages)}")
        super().__init__("the store refused the values (HTTP 422): " + ", ".join(parts))


class UserSyncFailed(ClientError):
    status = 500


class ServerError(ClientError):
    """A server-side failure that survived the retries."""


class BadResponse(ClientError):
    """An answer that is not the JSON the API documents: an HTML page, a redirect, junk."""


class TransportError(ClientError):
    """No answer: connection refused, reset or timed out, after the retries."""


class StoreUnreachable(TransportError):
    """The run stopped while this request was in flight (the breaker opened, the deadline
    passed, Ctrl-C): it may or may not have reached the store."""


class NotSent(ClientError):
    """The run had stopped before this request: the store never saw it."""

    def __init__(self, what: str, stop: Stop) -> None:
        super().__init__(f"{what}: not sent: {stop.message}")
        self.stop = stop


class ConfigurationError(FluentCartError):
    """The site URL or credentials cannot be used."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<hidden>)"


@dataclass(frozen=True)
class ClientOptions:
    insecure_http: bool = False
    rest_route: bool = False  # plain permalinks: /?rest_route=/fluent-cart/v2/...
    method_override: bool = False  # POST with X-HTTP-Method-Override: PUT, for proxies
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 10
    backoff: float = 0.5
    backoff_max: float = 10.0
    max_retry_after: float = MAX_RETRY_AFTER
    pool_size: int = 16
    parallelism: int = 1  # requests a read of many pages may have in flight at once
    unreachable_after: int = 10  # failed attempts in a row, across workers (breaker.py)
    deadline: float | None = None  # seconds, from the client's creation or start_deadline()


class _Halted(Exception):
    """The reason urllib3 is given when the breaker ends a request's retries."""


class _Retry(Retry):
    """urllib3 Retry that honours Retry-After but never sleeps longer than a bound, tells the
    breaker about every attempt without an answer, announces each retry and wakes from its
    backoff when the run stops."""

    max_retry_after: float = MAX_RETRY_AFTER
    breaker: Breaker | None = None

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        # 429 refuses a request before it is handled: even one that creates is sent again.
        if status_code == 429 and self.total and not self._is_method_retryable(method):
            return True
        return bool(super().is_retry(method, status_code, has_retry_after))

    def get_retry_after(self, response: Any) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, self.max_retry_after)

    def new(self, **kw: Any) -> "_Retry":
        created = super().new(**kw)
        created.max_retry_after = self.max_retry_after
        created.breaker = self.breaker
        return created

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> "_Retry":
        breaker = self.breaker
        unanswered = error is not None or (response is not None and response.status in UNAVAILABLE)
        reason = _attempt_reason(error, response)
        if breaker is not None and unanswered:
            breaker.failed(reason, connecting=_not_connected(error))
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        if breaker is not None and breaker.stopped is None:
            retry_after = new.get_retry_after(response) if response is not None else None
            breaker.retrying(
                RetryNotice(
                    request=f"{method} {_short_route(url or '')}",
                    attempt=len(new.history),
                    retries=len(new.history) + (new.total if isinstance(new.total, int) else 0),
                    wait=retry_after if retry_after is not None else new.get_backoff_time(),
                    reason=reason,
                )
            )
        return new

    def sleep(self, response: Any = None) -> None:
        if self.breaker is None:
            super().sleep(response)
            return
        retry_after = self.get_retry_after(response) if response is not None else None
        wait = retry_after if retry_after is not None else self.get_backoff_time()
        stop = self.breaker.wait(wait)
        if stop is not None:
            raise MaxRetryError(None, "", _Halted(stop.message))  # type: ignore[arg-type]


def credentials_from_env(env: Mapping[str, str]) -> Credentials:
    username = env.get("FLUENTCART_USERNAME", "").strip()
    password = env.get("FLUENTCART_APP_PASSWORD", "")
    if not username or not password:
        raise ConfigurationError(
            "set FLUENTCART_USERNAME (a WordPress user name) and FLUENTCART_APP_PASSWORD (one of"
            " its Application Passwords, from Users > Profile in wp-admin) in the environment"
        )
    return Credentials(username, password)


def check_site(site: str | None, insecure_http: bool) -> str:
    """The site URL without a trailing slash; refuse what would leak or cannot work."""
    if not site:
        raise ConfigurationError("no site: set FLUENTCART_URL or 'site' in fluentcart.yaml")
    parts = urlsplit(site)
    if "@" in parts.netloc:  # checked first: the messages below show the URL
        raise ConfigurationError(
            "the site URL must not carry credentials; use FLUENTCART_USERNAME and FLUENTCART_APP_PASSWORD"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"the site URL {site!r} is not an http(s) URL")
    if parts.scheme == "http" and not insecure_http and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"refusing plain http:// for {parts.hostname}: the application password would travel"
            " in clear text. Use https://, or pass --insecure-http if you accept that"
        )
    return site.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


DEFAULT_OPTIONS = ClientOptions()


class FluentCartClient:
    """Customers of one FluentCart store, through its REST API."""

    def __init__(
        self, site: str, credentials: Credentials, options: ClientOptions = DEFAULT_OPTIONS
    ):
        self.site = check_site(site, options.insecure_http)
        self.options = options
        self.credentials = credentials
        self.breaker = Breaker(options.unreachable_after, options.deadline)
        # A request that creates something (an address, a customer) is sent again only when it
        # could not connect: after a lost answer or a 5xx it may have been made, and sending it
        # again would make it twice (FluentCart has no idempotency keys).
        self._retry = self._retries(frozenset({"GET", "PUT", "POST"}))
        self._retry_once = self._retries(frozenset({"GET", "PUT"}))
        self._pool = PoolManager(
            num_pools=4,
            maxsize=options.pool_size,
            block=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=DEFAULT_CA_BUNDLE_PATH,
        )
        # The Basic credentials, sent with every request and removed from any text it echoes.
        self._token = base64.b64encode(
            f"{credentials.username}:{credentials.password}".encode()
        ).decode()
        self._headers = {
            "User-Agent": f"fluentcart-reconciler/{__version__}",
            "Accept-Encoding": "gzip, deflate",
            "Accept": "application/json",
            "Connection": "keep-alive",
            "Authorization": f"Basic {self._token}",
        }
        self._timeout = Timeout(connect=options.connect_timeout, read=options.read_timeout)
        self._lock = threading.Lock()
        self.requests_sent = 0
        self.retries = 0
        self._catalog: Catalog | None = None
        self._catalog_read = threading.Lock()  # one GET /labels when pages are read at once
        self._unknown_labels: set[int] = set()
        self._created: dict[int, str] = {}
        self._caller: tuple[int, str] | None = None

    def _retries(self, retried: frozenset[str]) -> "_Retry":
        """Retries of `retried` methods on read errors and retryable statuses (any method
        when it cannot connect)."""
        options = self.options
        retry = _Retry(
            total=options.retries,
            connect=options.retries,
            read=options.retries,
            status=options.retries,
            other=0,
            redirect=0,
            allowed_methods=retried,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=options.backoff,
            backoff_max=options.backoff_max,
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        retry.max_retry_after = options.max_retry_after
        retry.breaker = self.breaker
        return retry

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> "FluentCartClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- URLs ---------------------------------------------------------------------------------

    def url(self, route: str, query: Mapping[str, Any] | None = None) -> str:
        """The URL of a REST route such as `/fluent-cart/v2/customers/5`."""
        if self.options.rest_route:
            params = {"rest_route": route, **(query or {})}
            return f"{self.site}/?{urlencode(params, doseq=True)}"
        suffix = f"?{urlencode(query, doseq=True)}" if query else ""
        return f"{self.site}/wp-json{route}{suffix}"

    # ---- the API ------------------------------------------------------------------------------

    def get_customer(self, customer_id: int) -> dict[str, Any]:
        """The customer in the shape list pages give (API.md 7), its `labels` as titles.

        GET one adds `selected_labels` (label ids), left out here so that a record read one
        way and then the other does not look changed; `labels`, the relationship rows, become
        the titles of those labels (joined with GET /labels)."""
        data = self._request(
            "GET",
            f"{NAMESPACE}/customers/{customer_id}",
            query={"with[]": list(ADDRESS_RELATIONS)},
            customer_id=customer_id,
        )
        customer = data.get("customer") if isinstance(data, dict) else None
        record = _customer(customer, "GET /customers/{id}", customer_id)
        for key in GET_ONE_ONLY:
            record.pop(key, None)
        self._label_titles(record)
        _addresses(record)
        return record

    # ---- labels ---------------------------------------------------------------------------

    def labels(self) -> Catalog:
        """The store's labels (GET /labels), read again on every call."""
        data = self._request("GET", f"{NAMESPACE}/labels")
        rows = data.get("labels") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not all(
            isinstance(r, dict) and isinstance(r.get("id"), int) for r in rows
        ):
            raise BadResponse("GET /labels answered JSON of an unexpected shape (no labels list)")
        catalog = Catalog({row["id"]: str(row.get("value") or "") for row in rows})
        with self._lock:
            # A read that started before this client created a label may not show it.
            for label_id, title in self._created.items():
                if label_id not in catalog.titles:
                    catalog.add(label_id, title)
            self._catalog = catalog
        return catalog

    @property
    def catalog(self) -> Catalog | None:
        """The labels as this client last read them (with those it created); None: not read."""
        return self._catalog

    def known_labels(self) -> Catalog:
        """The labels as last read in this run (read now if never, by one thread of many)."""
        if self._catalog is not None:
            return self._catalog
        with self._catalog_read:
            return self._catalog if self._catalog is not None else self.labels()

    def create_label(self, title: str) -> tuple[int, str]:
        """POST /labels: a new label; (its id, its title as stored)."""
        data = self._request("POST", f"{NAMESPACE}/labels", json_body={"value": title})
        row = data.get("data") if isinstance(data, dict) else None
        if not isinstance(row, dict) or not isinstance(row.get("id"), int):
            raise BadResponse("POST /labels answered JSON of an unexpected shape (no label)")
        stored = str(row.get("value") or title)
        with self._lock:
            self._created[row["id"]] = stored
            if self._catalog is not None:
                self._catalog.add(row["id"], stored)
        return row["id"], stored

    def set_labels(self, customer_id: int, label_ids: list[int]) -> None:
        """PUT /customers/{id}/additional-info: the customer's labels become exactly these.

        A body without `labels` would remove them all, and `[]` for a customer that has none
        is a 500 (API-2.md A): the caller sends only a change, always with the full list."""
        self._request(
            "PUT",
            f"{NAMESPACE}/customers/{customer_id}/additional-info",
            json_body={"labels": label_ids},
            customer_id=customer_id,
        )

    def _label_titles(self, record: dict[str, Any]) -> None:
        """A customer's `labels` relationship rows as the titles of their labels, in place.

        A label id the catalog read so far does not know makes it read again, once per id;
        one the store has no label for (it keeps such rows) reads as `missing_label`."""
        rows = record.get("labels")
        if not isinstance(rows, list):
            record.pop("labels", None)
            return
        ids = [r.get("label_id") for r in rows if isinstance(r, dict)]
        wanted = {int(i) for i in ids if isinstance(i, int | str) and str(i).isdigit()}
        if not wanted:
            record["labels"] = []  # most customers of a page: no catalogue to look up
            return
        catalog = self.known_labels()
        if any(i not in catalog.titles for i in wanted):
            with self._catalog_read:  # pages read at once: one re-read, and every page sees it
                catalog = self._catalog or catalog
                unknown = {i for i in wanted if i not in catalog.titles} - self._unknown_labels
                if unknown:
                    self._unknown_labels |= unknown
                    catalog = self.labels()
        record["labels"] = list(Labels(catalog.title_of(i) for i in sorted(wanted)))

    # ---- addresses ------------------------------------------------------------------------

    def addresses(self, customer_id: int) -> list[dict[str, Any]]:
        """GET /customers/{id}/address: the customer's billing and shipping addresses, in the
        state's form (addresses.Address.to_json); those of other customers left out."""
        return _own_addresses(self._address_rows(customer_id), customer_id)

    def address_count(self, customer_id: int) -> int:
        """How many addresses the customer has, of every type (FluentCart refuses to delete
        the last one, whatever its type)."""
        rows = [r for r in self._address_rows(customer_id) if isinstance(r, dict)]
        return sum(str(r.get("customer_id")) == str(customer_id) for r in rows)

    def _address_rows(self, customer_id: int) -> list[Any]:
        """GET /customers/{id}/address: every address row it answers, of every type."""
        data = self._request(
            "GET", f"{NAMESPACE}/customers/{customer_id}/address", customer_id=customer_id
        )
        rows = data.get("addresses") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise BadResponse(
                "GET /customers/{id}/address answered JSON of an unexpected shape (no addresses)"
            )
        return rows

    def create_address(self, customer_id: int, body: Mapping[str, Any]) -> int:
        """POST /customers/{id}/address: a new address of the customer; its id."""
        data = self._request(
            "POST",
            f"{NAMESPACE}/customers/{customer_id}/address",
            json_body=body,
            customer_id=customer_id,
            once=True,
        )
        row = data.get("data") if isinstance(data, dict) else None
        if not isinstance(row, dict) or not isinstance(row.get("id"), int):
            raise BadResponse("POST /customers/{id}/address answered JSON of an unexpected shape")
        return int(row["id"])

    def update_address(self, customer_id: int, body: Mapping[str, Any]) -> None:
        """PUT /customers/{id}/address: the whole address named by the body's `id` (the server
        acts on that id whatever customer the route names: the caller checks ownership)."""
        self._request(
            "PUT",
            f"{NAMESPACE}/customers/{customer_id}/address",
            json_body=body,
            customer_id=customer_id,
        )

    def delete_address(self, customer_id: int, address_id: int) -> None:
        """DELETE /customers/{id}/address: a non-primary address (by the body's id)."""
        self._request(
            "DELETE",
            f"{NAMESPACE}/customers/{customer_id}/address",
            json_body={"address": {"id": address_id}},
            customer_id=customer_id,
        )

    def create_customer(self, body: Mapping[str, Any]) -> int:
        """POST /customers: a new customer; its id. The answer is the server's in-memory
        model, not what GET reads (API-2.md C): the caller reads the customer again."""
        data = self._request("POST", f"{NAMESPACE}/customers", json_body=body, once=True)
        row = data.get("data") if isinstance(data, dict) else None
        if not isinstance(row, dict) or not isinstance(row.get("id"), int):
            raise BadResponse("POST /customers answered JSON of an unexpected shape (no customer)")
        return int(row["id"])

    def customer_with_email(self, email: str) -> int | None:
        """The id of the store's customer with this email (compared ignoring case, as the
        store's unique check does), or None."""
        for item in self.iter_customers(search=email):
            if str(item.get("email") or "").lower() == email.lower():
                return int(item["id"])
        return None

    def update_customer(self, customer_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT a full record; `body` must carry every writable field and `id`."""
        if body.get("id") != customer_id:
            raise ValueError("the body id must equal the route id")  # a bug, never user input
        data = self._request(
            "PUT", f"{NAMESPACE}/customers/{customer_id}", json_body=body, customer_id=customer_id
        )
        customer = data.get("data") if isinstance(data, dict) else None
        return _customer(customer, "PUT /customers/{id}", customer_id)

    def list_page(
        self, page: int, per_page: int = PAGE_SIZE, search: str | None = None
    ) -> dict[str, Any]:
        """One page of customers in ascending id order (the paginator object)."""
        query: dict[str, Any] = {
            "per_page": per_page,
            "page": page,
            "sort_by": "id",
            "sort_type": "asc",
            "with[]": ["labels", *ADDRESS_RELATIONS],
        }
        if search:
            query["search"] = search
        data = self._request("GET", f"{NAMESPACE}/customers", query=query)
        paginator = data.get("customers") if isinstance(data, dict) else None
        if not isinstance(paginator, dict) or not isinstance(paginator.get("data"), list):
            raise BadResponse(
                "GET /customers answered JSON of an unexpected shape (no customers.data list)"
            )
        for item in paginator["data"]:
            _customer(item, "GET /customers", None)
            self._label_titles(item)
            _addresses(item)
        return paginator

    def iter_customers(
        self, per_page: int = PAGE_SIZE, search: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every customer (or every match of `search`), page by page.

        Page URLs are built here, never taken from answers (they drop the query parameters).
        """
        page = 1
        while True:
            paginator = self.list_page(page, per_page, search)
            items = paginator["data"]
            yield from items
            last_page = paginator.get("last_page")
            if not items or not isinstance(last_page, int) or page >= last_page:
                return
            page += 1

    def detect_name_mode(self) -> NameMode | None:
        """The store's name mode from its checkout-field settings; None when unreadable."""
        try:
            data = self._request("GET", f"{NAMESPACE}/checkout-fields/get-fields")
        except (PermissionDenied, BadResponse, ServerError, CustomerNotFound):
            return None
        try:
            basic = data["settings"]["basic_info"]
            enabled = {basic.get(k, {}).get("enabled") for k in ("first_name", "last_name")}
        except (KeyError, TypeError, AttributeError):
            return None
        return NameMode.FIRST_LAST if "yes" in enabled else NameMode.FULL_NAME

    def caller(self) -> tuple[int, str]:
        """The WordPress user fluentcart signs in as: (its id, its email), read once."""
        if self._caller is None:
            data = self._request("GET", "/wp/v2/users/me", query={"context": "edit"})
            if not isinstance(data, dict) or not isinstance(data.get("id"), int):
                raise BadResponse("GET /wp/v2/users/me answered JSON of an unexpected shape")
            self._caller = (data["id"], str(data.get("email") or ""))
        return self._caller

    def wp_user_exists(self, user_id: int) -> bool:
        """Whether WordPress user `user_id` exists (WordPress core's users endpoint)."""
        try:
            self._request(
                "GET", f"/wp/v2/users/{user_id}", query={"context": "edit"}, wp_user=user_id
            )
        except CustomerNotFound:
            return False
        return True

    # ---- transport ----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        route: str,
        *,
        query: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
        customer_id: int | None = None,
        wp_user: int | None = None,
        once: bool = False,
    ) -> Any:
        """`once`: a request that creates something, not sent again after it may have been
        received (see __init__)."""
        url = self.url(route, query)
        headers = dict(self._headers)
        data = None
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if method == "PUT" and self.options.method_override:
            method, headers["X-HTTP-Method-Override"] = "POST", "PUT"
        what = f"{method} {route}"
        stop = self.breaker.stopped
        if stop is not None:
            raise NotSent(what, stop)
        started = time.monotonic()
        try:
            response = self._pool.urlopen(
                method,
                url,
                body=data,
                headers=headers,
                retries=self._retry_once if once else self._retry,
                redirect=False,
                timeout=self._timeout,
                preload_content=False,
                decode_content=True,
            )
        except HTTPError as exc:
            self._count(None)
            cause = _innermost(exc)
            if isinstance(cause, SSLError):
                raise TransportError(f"{what}: TLS verification failed: {_reason(exc)}") from None
            if isinstance(cause, _Halted):
                raise StoreUnreachable(f"{what}: {_reason(exc)}") from None
            if _timed_out(exc):
                raise TransportError(
                    f"{what}: the store did not answer in time ({self.options.read_timeout:g} s"
                    f" read timeout, {self.options.retries} retries)"
                ) from None
            raise TransportError(f"{what}: cannot reach the store: {_reason(exc)}") from None
        try:
            self._count(response)
            body = _read_bounded(response, what)
        except BaseException:
            response.close()  # not read to its end: the connection is not reused
            raise
        finally:
            response.release_conn()
        log.debug(
            "%s %s -> HTTP %s, %d bytes, %.0f ms",
            method,
            url,
            response.status,
            len(body),
            (time.monotonic() - started) * 1000,
        )
        try:
            return self._parse(response, body, what, customer_id, wp_user)
        except ClientError as exc:
            exc.args = tuple(self._scrub(str(a)) if isinstance(a, str) else a for a in exc.args)
            raise

    def _count(self, response: BaseHTTPResponse | None) -> None:
        retries = response.retries if response is not None else None
        history = len(retries.history) if retries is not None and retries.history else 0
        if response is not None and response.status not in UNAVAILABLE:
            self.breaker.answered()
        with self._lock:
            self.requests_sent += 1 + history
            self.retries += history

    def _scrub(self, text: str) -> str:
        """Remove the credentials from text a server sent (an error page may echo headers)."""
        password = self.credentials.password
        for secret in {password, password.replace(" ", ""), self._token}:
            if secret:
                text = text.replace(secret, "<redacted>")
        return text

    def _parse(
        self,
        response: BaseHTTPResponse,
        body: bytes,
        what: str,
        customer_id: int | None,
        wp_user: int | None,
    ) -> Any:
        status = response.status
        if 300 <= status < 400:
            target = response.headers.get("Location", "(no Location header)")
            raise BadResponse(
                f"{what}: the store redirected (HTTP {status}) to {target}; fluentcart does not follow"
                " redirects, so credentials never go to another address. Set the site URL to the final address"
            )
        try:
            data = jsontext.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            data = None
        if data is None:
            raise BadResponse(
                f"{what}: HTTP {status} with a body that is not JSON{_preview(body, response)}"
            )
        code = data.get("code") if isinstance(data, dict) else None
        message = data.get("message") if isinstance(data, dict) else None
        if status == 200:
            return data
        if status == 401:
            raise AuthFailed(
                f"{what}: the store refused the credentials (HTTP 401). FLUENTCART_USERNAME must be a"
                " WordPress user name and FLUENTCART_APP_PASSWORD one of its Application Passwords"
                " (wp-admin > Users > Profile > Application Passwords), not the login password"
            )
        if status == 403:
            raise PermissionDenied(
                f"{what}: user {self.credentials.username!r} lacks the customers/manage permission"
                " (HTTP 403): use an administrator, or a FluentCart Pro store manager"
            )
        if status == 404 and code == "rest_no_route":
            raise BadResponse(
                f"{what}: no such REST route on {self.site} (HTTP 404 rest_no_route): is FluentCart"
                " active and the site URL right? Sites without pretty permalinks need --rest-route"
            )
        if status == 404 and wp_user is not None:
            raise CustomerNotFound(wp_user)
        if status == 404 or (status == 500 and code == 400 and "not found" in str(message).lower()):
            if customer_id is not None:
                raise CustomerNotFound(customer_id)
            raise BadResponse(f"{what}: HTTP {status}: {message}")
        if status == 422 and isinstance(data, dict):
            if "message" in data and len(data) == 1:
                raise BadResponse(f"{what}: HTTP 422: {message}")
            raise ValidationFailed(data)
        if status == 500 and code == 423:
            raise UserSyncFailed(
                f"{what}: WordPress user sync failed (HTTP 500, code 423): customer {customer_id} is"
                " linked to a WordPress user that FluentCart cannot update (deleted?). Repair the"
                " link in wp-admin (FluentCart > Customers); fluentcart does not retry this"
            )
        if status == 400 and code == "rest_invalid_json":
            raise ServerError(
                f"{what}: the store could not parse the request body (HTTP 400 rest_invalid_json)"
            )
        if code == "plugin_exception":
            raise ServerError(f"{what}: FluentCart raised a PHP error (HTTP {status}): {message}")
        raise ServerError(f"{what}: HTTP {status}: {message or code or 'no message'}")


# The relations that carry a customer's billing and shipping addresses (API-2.md B).
ADDRESS_RELATIONS = ("billing_address", "shipping_address")


def _own_addresses(rows: list[Any], customer_id: int) -> list[dict[str, Any]]:
    """Rows of this customer's billing and shipping addresses, in the state's form."""
    mine = [
        r for r in rows if isinstance(r, dict) and str(r.get("customer_id")) == str(customer_id)
    ]
    recorded = addresses.from_store(mine)
    return cast(list[dict[str, Any]], recorded.to_json())


def _addresses(record: dict[str, Any]) -> None:
    """A customer's `billing_address` and `shipping_address` relations as one `addresses`
    list (the state's form), in place; absent when the answer did not carry them."""
    rows: list[Any] = []
    carried = False
    for name in ADDRESS_RELATIONS:
        value = record.pop(name, None)
        if isinstance(value, list):
            rows.extend(value)
            carried = True
    if carried:
        record["addresses"] = _own_addresses(rows, record["id"]) if rows else []


def _customer(value: Any, what: str, customer_id: int | None) -> dict[str, Any]:
    """A customer object, or BadResponse when the answer has the wrong shape."""
    if not isinstance(value, dict) or not isinstance(value.get("id"), int):
        raise BadResponse(f"{what}: the answer is JSON of an unexpected shape (no customer object)")
    if customer_id is not None and value["id"] != customer_id:
        raise BadResponse(
            f"{what}: asked for customer {customer_id}, the answer is customer {value['id']}"
        )
    return value


def _read_bounded(response: BaseHTTPResponse, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.stream(65536):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BadResponse(
                    f"{what}: the answer is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB; stopped reading"
                )
            chunks.append(chunk)
    except HTTPError as exc:
        raise TransportError(f"{what}: the answer was cut off: {_reason(exc)}") from None
    return b"".join(chunks)


def _preview(body: bytes, response: BaseHTTPResponse) -> str:
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return " (empty body)"
    kind = " (an HTML page: a WordPress critical error?)" if "<html" in text[:500].lower() else ""
    lines = [line.strip() for line in text.splitlines() if line.strip()][:5]
    shown = "\n    ".join(line[:160] for line in lines)
    return f"{kind}{ANSWER_PREVIEW}\n    {shown}"


def _innermost(exc: BaseException) -> BaseException:
    """The cause behind a urllib3 error (through MaxRetryError when retries ran out)."""
    reason: BaseException = exc
    if reason.args and isinstance(reason.args[0], BaseException):
        reason = reason.args[0]
    if isinstance(reason, MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    return reason


def _timed_out(exc: BaseException) -> bool:
    reason = _innermost(exc)
    if isinstance(reason, NewConnectionError):  # a subclass of ConnectTimeoutError, but refused
        return False
    return isinstance(reason, TimeoutError | ReadTimeoutError | ConnectTimeoutError)


def _attempt_reason(error: BaseException | None, response: Any) -> str:
    """One attempt's failure in a few words: `connection refused`, `HTTP 503`."""
    if error is None:
        return f"HTTP {getattr(response, 'status', '?')}"
    if isinstance(error, ReadTimeoutError):
        return "no answer in time (read timeout)"
    if isinstance(error, NewConnectionError):
        text = re.sub(r"^.*?[)>]: ", "", str(error), count=1)
        return text.removeprefix("Failed to establish a new connection: ")[:200]
    if isinstance(error, ConnectTimeoutError):
        return "the connection timed out"
    return str(error)[:200]


def _not_connected(error: BaseException | None) -> bool:
    """No connection was made (refused, unresolvable, connect timeout, TLS)."""
    return isinstance(error, ConnectTimeoutError | SSLError | ProxyError)


def _short_route(url: str) -> str:
    """`/wp-json/fluent-cart/v2/customers/5?x=1` as `/customers/5`."""
    path = url.split("?", 1)[0]
    for prefix in ("/wp-json" + NAMESPACE, "/wp-json"):
        if path.startswith(prefix):
            return path[len(prefix) :] or "/"
    return url


def _reason(exc: BaseException) -> str:
    """What went wrong, without the connection pool's prefix; never headers or credentials."""
    text = str(_innermost(exc))
    if text.startswith("HTTP") and "): " in text:
        text = text.split("): ", 1)[1]
    return text[:300]
