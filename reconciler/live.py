"""Reading customers from the store in as few requests as the API allows.

A handful of customers: one GET each. More: the first list page (199 per page, ascending)
tells how many pages the store has, and paging wins when it needs fewer requests than one
GET per customer. So reading N customers never costs much more than N / 199 + 1 requests
on a store of about that size, and never more than N + 1 on a large store; one more reads
the store's labels (GET /labels), which customers' label ids are joined with (and which a
customer with labels has read already). The pages after the first are read `parallelism`
at a time, and taken in page order.
"""

from collections import deque
from collections.abc import Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from reconciler.client import CustomerNotFound, FluentCartClient
from reconciler.labels import Catalog

FEW = 3
CONFIRM_LIMIT = 50


@dataclass
class LiveRead:
    found: dict[int, dict[str, Any]] = field(default_factory=dict)
    gone: set[int] = field(default_factory=set)
    labels: Catalog | None = None  # the store's labels (GET /labels), read after the customers
    # Customers to create whose email a store customer has: email (lower-cased) -> its id.
    emails: dict[str, int] = field(default_factory=dict)


def read_customers(client: FluentCartClient, ids: Collection[int]) -> LiveRead:
    """The live record of each id, and the store's labels; ids the store does not have are
    `gone`. Pages are read `client.options.parallelism` at a time."""
    result = _read(client, ids, client.options.parallelism)
    if ids:
        result.labels = client.known_labels()  # one request, unless a customer's labels read it
    return result


def _read(client: FluentCartClient, ids: Collection[int], parallelism: int) -> LiveRead:
    wanted = sorted(set(ids))
    result = LiveRead()
    if not wanted:
        return result
    remaining = set(wanted)
    if len(wanted) > FEW:
        first = client.list_page(1)
        pages = int(first.get("last_page") or 1)
        _take(first["data"], remaining, result)
        if pages - 1 < len(remaining):
            for items in _pages(client, 2, pages, parallelism) if remaining else ():
                if not items:
                    break
                _take(items, remaining, result)
                if not remaining:
                    break
            # Paging can miss a customer when another is deleted meanwhile (the pages shift):
            # a missing id is confirmed with its own GET, up to a bound.
            if len(remaining) > CONFIRM_LIMIT:
                result.gone.update(remaining)
                return result
    for customer_id in sorted(remaining):
        try:
            result.found[customer_id] = client.get_customer(customer_id)
        except CustomerNotFound:
            result.gone.add(customer_id)
    return result


def _pages(
    client: FluentCartClient, first: int, last: int, parallelism: int
) -> Iterator[list[dict[str, Any]]]:
    """The customers of pages first..last, in page order, with up to `parallelism` pages
    in flight. A caller that stops early waits only for the pages already asked for."""
    if parallelism <= 1:
        for page in range(first, last + 1):
            yield client.list_page(page)["data"]
        return
    pool = ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="page")
    in_flight: deque[Future[dict[str, Any]]] = deque()
    following = first
    try:
        while following <= last and len(in_flight) < parallelism:
            in_flight.append(pool.submit(client.list_page, following))
            following += 1
        while in_flight:
            items = in_flight.popleft().result()["data"]
            if following <= last:
                in_flight.append(pool.submit(client.list_page, following))
                following += 1
            yield items
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _take(items: list[dict[str, Any]], remaining: set[int], result: LiveRead) -> None:
    for item in items:
        if item["id"] in remaining:
            result.found[item["id"]] = item
            remaining.discard(item["id"])
