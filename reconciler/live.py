"""Reading customers from the store in as few requests as the API allows.

A handful of customers: one GET each. More: the first list page (199 per page, ascending)
tells how many pages the store has, and paging wins when it needs fewer requests than one
GET per customer. So reading N customers never costs much more than N / 199 + 1 requests
on a store of about that size, and never more than N + 1 on a large store; one more reads
the store's labels (GET /labels), which customers' label ids are joined with (and which a
customer with labels has read already).
"""

from collections.abc import Collection
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
    `gone`."""
    result = _read(client, ids)
    if ids:
        result.labels = client.known_labels()  # one request, unless a customer's labels read it
    return result


def _read(client: FluentCartClient, ids: Collection[int]) -> LiveRead:
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
            for page in range(2, pages + 1):
                if not remaining:
                    break
                items = client.list_page(page)["data"]
                if not items:
                    break
                _take(items, remaining, result)
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


def _take(items: list[dict[str, Any]], remaining: set[int], result: LiveRead) -> None:
    for item in items:
        if item["id"] in remaining:
            result.found[item["id"]] = item
            remaining.discard(item["id"])
