"""Sandbox behaviour that the recordings do not show, from API.md (the `(code)` statements)."""

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.sandbox import Sandbox, Store
from reconciler.sandbox.server import default_users
from reconciler.sandbox.store import FIRST_LAST, _links
from tests.conftest import PASSWORD, seed_customer

AUTH = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> None:
        self.now += timedelta(seconds=5)


@pytest.fixture
def store() -> Store:
    return Store("http://127.0.0.1:8088", users=default_users("admin", PASSWORD), clock=Clock())


def full_body(store: Store, customer_id: int, **changes) -> dict:
    row = store.customers[customer_id]
    body = {
        "id": customer_id,
        "email": row["email"],
        "full_name": f"{row['first_name']} {row['last_name']}".strip(),
        **{k: row[k] for k in ("status", "notes", "city", "state", "postcode", "country", "aov")},
        "user_id": int(row["user_id"]),
    }
    body.update(changes)
    return body


def test_updated_at_moves_only_on_a_real_change(store: Store) -> None:
    store.seed(seed_customer(1))
    stamp = store.customers[1]["updated_at"]
    store.clock.tick()
    status, answer = store.update("1", full_body(store, 1))
    assert status == 200 and answer["data"]["updated_at"] == stamp  # every column repeated exactly
    store.clock.tick()
    body = full_body(store, 1)
    del body["user_id"], body["aov"]  # null vs "0" counts as a change (API.md 10.10)
    store.update("1", body)
    assert store.customers[1]["updated_at"] != stamp
    moved = store.customers[1]["updated_at"]
    store.clock.tick()
    store.update("1", full_body(store, 1, city="Paris"))
    assert store.customers[1]["updated_at"] != moved
    assert store.customers[1]["created_at"] == stamp


def test_first_last_mode(store: Store) -> None:
    store.name_mode = FIRST_LAST
    store.seed(seed_customer(1))
    body = full_body(store, 1)
    status, errors = store.update("1", body)
    assert (status, errors) == (422, {"first_name": {"required": "First Name is required."}})
    status, answer = store.update("1", {**body, "first_name": " Jean ", "last_name": "Luc Picard"})
    assert status == 200
    assert (answer["data"]["first_name"], answer["data"]["last_name"]) == ("Jean", "Luc Picard")
    assert answer["data"]["full_name"] == "Jean Luc Picard"


def test_columns_cut_and_decimal_coercion(store: Store) -> None:
    store.seed(seed_customer(1))
    long_city = "C" * 50
    status, answer = store.update(
        "1", full_body(store, 1, city=long_city, aov="123.456", postcode=12345)
    )
    assert status == 200
    assert answer["data"]["city"] == "C" * 45
    assert answer["data"]["aov"] == "123.46"
    assert answer["data"]["postcode"] == "12345"
    store.update("1", full_body(store, 1, aov="abc", email="a" * 185 + "@example.org"))
    row = store.customers[1]
    assert row["aov"] == "0.00"
    assert len(row["email"]) == 192  # validated (under 255 bytes), stored cut: API.md 17


def test_silent_cleaning_versus_rejection(store: Store) -> None:
    store.seed(seed_customer(1))
    status, answer = store.update(
        "1", full_body(store, 1, state="<b>ON</b>", notes="a\n\nb", status="  active  ")
    )
    assert status == 200
    assert (answer["data"]["state"], answer["data"]["notes"], answer["data"]["status"]) == (
        "ON",
        "a b",
        "active",
    )
    status, errors = store.update(
        "1", full_body(store, 1, full_name="Jane\tDoe", city="A%41B", email="x y@z.com")
    )
    assert status == 422
    assert list(errors) == ["full_name", "city", "email"]  # rule order (API.md 10.3)
    assert errors["email"] == {"email": "Email must be a valid email address."}


def test_multibyte_names_are_measured_in_bytes(store: Store) -> None:
    store.seed(seed_customer(1))
    status, errors = store.update("1", full_body(store, 1, full_name="山" * 100))
    assert status == 422
    assert errors == {
        "full_name": {"maxLength": "The full_name must not be greater than 255 characters."}
    }


def test_link_to_a_missing_user_makes_the_customer_uneditable(store: Store) -> None:
    store.seed(seed_customer(1))
    status, _ = store.update("1", full_body(store, 1, user_id=99999))
    assert status == 200  # the server does not check
    before = dict(store.customers[1])
    for user_id in (99999, 0):
        status, answer = store.update("1", full_body(store, 1, user_id=user_id, city="Oslo"))
        assert (status, answer) == (
            500,
            {"code": 423, "message": "Failed to update user.", "data": None},
        )
    assert store.customers[1] == before


def test_array_values_are_a_php_type_error(store: Store) -> None:
    store.seed(seed_customer(1))
    status, answer = store.update("1", full_body(store, 1, full_name=["a"]))
    assert status == 500 and answer["code"] == "plugin_exception"


def test_page_links_window() -> None:
    def labels(current: int, last: int) -> list[str]:
        return [link["label"] for link in _links(current, last, lambda n: f"?page={n}")][1:-1]

    assert labels(1, 13) == [str(n) for n in range(1, 14)]
    assert labels(1, 20) == [*map(str, range(1, 11)), "...", "19", "20"]
    assert labels(10, 30) == ["1", "2", "...", *map(str, range(7, 14)), "...", "29", "30"]
    assert labels(28, 30) == ["1", "2", "...", *map(str, range(21, 31))]


def test_search(store: Store) -> None:
    store.seed(seed_customer(1, email="ab_c@example.org", first_name="Ann", last_name="Lee"))
    store.seed(seed_customer(2, email="abxc@example.org", first_name="Bo", last_name="Ray"))
    store.seed(seed_customer(12, email="z@example.org", first_name="Cy", last_name="100%"))

    def ids(term: str) -> list[int]:
        _, page = store.list_customers({"search": term, "sort_type": "asc"}, "http://x")
        return [c["id"] for c in page["customers"]["data"]]

    assert ids("ab_c") == [1, 2]  # '_' is a wildcard in the email match
    assert ids("ann lee") == [1]
    assert ids("100%") == [12]  # escaped in the name match
    assert ids("id>1") == [2, 12]
    assert ids("id::2-12") == [2, 12]
    assert ids("id>=100") == [1, 2, 12]  # the recorded mis-parse: everything
    assert ids("id<=100") == []
    assert ids("1") == [1, 12]


def test_listing_parameters(store: Store) -> None:
    for i in range(1, 26):
        store.seed(seed_customer(i, city=f"C{i:02d}"))

    def page(**params) -> dict:
        return store.list_customers(params, "http://x/wp-json/fluent-cart/v2/customers")[1][
            "customers"
        ]

    assert page()["per_page"] == 10 and page()["data"][0]["id"] == 25  # newest first
    assert page(per_page="0")["per_page"] == 10
    assert page(per_page="abc")["per_page"] == 10
    assert page(per_page="199")["per_page"] == 199
    assert page(page="-3")["current_page"] == 1
    assert page(sort_by="city", sort_type="ASC")["data"][0]["city"] == "C01"
    assert page(sort_by="created_at")["data"][0]["id"] == 25  # not fillable: id
    past = page(page="9")
    assert past["data"] == [] and past["from"] is None and past["current_page"] == 9
    assert past["next_page_url"] is None and past["prev_page_url"].endswith("/?page=8")


def http(
    sandbox: Sandbox,
    method: str,
    path: str,
    body: str | None = None,
    auth: str | None = AUTH,
    **headers,
):
    if auth:
        headers["Authorization"] = auth
    if body is not None:
        headers["Content-Type"] = "application/json"
    return requests.request(method, sandbox.url + path, data=body, headers=headers, timeout=5)


def test_routing_and_check_order() -> None:
    store = Store("http://127.0.0.1", users=default_users("admin", PASSWORD))
    store.seed(seed_customer(1))
    with Sandbox(store) as sandbox:
        answer = http(sandbox, "PATCH", "/wp-json/fluent-cart/v2/customers/1", "{}")
        assert answer.status_code == 404 and answer.json()["code"] == "rest_no_route"
        assert answer.json()["data"]["wpfluent"] == {"env": "production"}
        assert http(sandbox, "DELETE", "/wp-json/fluent-cart/v2/customers/1").status_code == 404
        # JSON is parsed before the permission check: anonymous + malformed JSON is a 400.
        assert (
            http(sandbox, "PUT", "/wp-json/fluent-cart/v2/customers/1", "{", auth=None).status_code
            == 400
        )
        # A bad credential is refused before anything else, even on an unknown route.
        bad = "Basic " + base64.b64encode(b"admin:nope").decode()
        assert http(sandbox, "PATCH", "/wp-json/nothing", auth=bad).status_code == 401
        answer = http(
            sandbox,
            "POST",
            "/wp-json/fluent-cart/v2/customers/1?_method=PUT",
            json.dumps(full_body(store, 1, city="Oslo")),
        )
        assert answer.status_code == 200 and store.customers[1]["city"] == "Oslo"
        answer = http(sandbox, "GET", "/wp-json/wp/v2/users/2?context=edit")
        assert answer.json()["username"] == "jane"
        assert (
            http(sandbox, "GET", "/wp-json/wp/v2/users/404").json()["code"]
            == "rest_user_invalid_id"
        )
        headers = http(sandbox, "GET", "/wp-json/fluent-cart/v2/customers/1").headers
        assert headers["Cache-Control"].startswith("no-cache") and "X-WP-Total" not in headers
        assert headers["Link"] == f'<{sandbox.url}/wp-json/>; rel="https://api.w.org/"'


def test_seed_defaults(store: Store) -> None:
    row = store.seed({"id": 7, "email": "s@example.org", "full_name": "Sam Lee Smith"})
    assert (row["first_name"], row["last_name"]) == ("Sam Lee", "Smith")
    assert (row["status"], row["user_id"], row["aov"], row["notes"], row["purchase_count"]) == (
        "active",
        "0",
        "0.00",
        "",
        "0",
    )
    assert store.next_id == 8


def test_sandbox_command_prints_its_address(tmp_path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("- id: 3\n  email: a@example.org\n  full_name: A B\n  user_id: 9\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "sandbox",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--customers",
            "2",
            "--app-password",
            "pw",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("FluentCart sandbox listening on http://127.0.0.1:")
        url = first.split()[4]
        auth = ("admin", "pw")
        customer = requests.get(
            f"{url}/wp-json/fluent-cart/v2/customers/3", auth=auth, timeout=5
        ).json()["customer"]
        assert customer["user_id"] == "9"
        assert requests.get(f"{url}/wp-json/wp/v2/users/9", auth=auth, timeout=5).status_code == 200
        listing = requests.get(
            f"{url}/wp-json/fluent-cart/v2/customers", auth=auth, timeout=5
        ).json()
        assert listing["customers"]["total"] == 3
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_bulk_delete(store: Store) -> None:
    for i in (1, 2, 3):
        store.seed(seed_customer(i))
    assert store.bulk_action({"action": "delete_customers", "customer_ids": [1, "3"]})[0] == 200
    assert sorted(store.customers) == [2]
    # CustomerResource::manageCustomer: the selection first, then the action (API-2.md E).
    assert store.bulk_action({"action": "other"}) == (
        500,
        {"code": 403, "message": "Customers selection is required", "data": None},
    )
    assert store.bulk_action({"action": "other", "customer_ids": [2]}) == (
        500,
        {"code": 400, "message": "Selected action is invalid", "data": None},
    )
    status_change = {"action": "change_customer_status", "customer_ids": ["2"]}
    assert store.bulk_action({**status_change, "new_status": "archived"})[0] == 500
    assert store.bulk_action({**status_change, "new_status": "inactive"})[0] == 200
    assert store.customers[2]["status"] == "inactive"


def test_injected_fault_rates_match_the_settings() -> None:
    from reconciler.sandbox.server import Faults

    store = Store("http://127.0.0.1", users=default_users("admin", PASSWORD))
    store.seed(seed_customer(1))
    faults = Faults(fail_rate=0.2, throttle_rate=0.1, drop_rate=0.05, retry_after=0, seed=1)
    outcomes = {"503": 0, "429": 0, "drop": 0, "200": 0}
    with Sandbox(store, faults=faults) as sandbox:
        for _ in range(1000):
            try:
                status = requests.get(
                    sandbox.url + "/wp-json/fluent-cart/v2/customers/1",
                    headers={"Authorization": AUTH},
                    timeout=5,
                ).status_code
                outcomes[str(status)] += 1
            except requests.ConnectionError:
                outcomes["drop"] += 1
    assert 170 <= outcomes["503"] <= 230, outcomes
    assert 75 <= outcomes["429"] <= 125, outcomes
    assert 30 <= outcomes["drop"] <= 70, outcomes
    assert outcomes["200"] == 1000 - outcomes["503"] - outcomes["429"] - outcomes["drop"]


def test_what_api_2_says_from_the_code_alone(store: Store) -> None:
    """API-2.md's "(code)" statements, which no recording shows."""
    from reconciler.sandbox.store import NO_BODY

    store.seed(seed_customer(1))
    store.seed(seed_customer(2, email="admin@example.test"))
    # Without bind_to_id, as without bind_to_type: 200 with an empty body, nothing changed.
    assert store.update_label_selections({"bind_to_type": "Customer"}) == (200, NO_BODY)
    assert store.update_additional_info("1", {"labels": [3]})[0] == 200
    address = {"name": "A", "email": "a@example.org", "address_1": "1 St", "city": "Oslo"}
    # The caller (admin) has a customer by email: it is linked to the caller's user id, and
    # without a billing address of its own the country is still checked.
    admin = store.users[1]
    status, errors = store.create_address("1", address, admin)
    assert status == 422 and errors["country"] == {
        "required": "Country field is required.",
        "1": "Invalid country code.",
    }
    assert store.customers[2]["user_id"] == "1"
    assert store.create_address("1", {**address, "country": "NO"}, admin)[0] == 200
    # Deleting a customer keeps its addresses and label rows (no cascade).
    assert store.bulk_action({"action": "delete_customers", "customer_ids": [1]})[0] == 200
    assert store.addresses("1", {})[1]["addresses"][0]["customer_id"] == "1"
    assert [link["label_id"] for link in store.tables["label_link"].values()] == [3]
    # An HTML-wrapped state code fails the state list check (it runs on the raw value).
    status, errors = store.create_address(
        "2", {**address, "country": "US", "state": "<b>TX</b>"}, None
    )
    assert (status, errors) == (422, {"state": {"invalid": "Invalid state code."}})


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 400), min_size=0, max_size=60, unique=True),
    st.lists(st.integers(1, 400), max_size=20),
    st.sampled_from(["asc", "desc"]),
    st.sampled_from(["7", "10", "199"]),
)
def test_pages_by_id_follow_every_added_and_deleted_customer(seeded, deleted, order, per_page):
    """Listing by id keeps its sorted ids between requests: pages stay right after adds and
    deletes made in any order (and after the table is emptied directly)."""
    from reconciler.sandbox.store import Change

    store = Store("http://x", users=default_users("admin", PASSWORD))

    def pages() -> list[int]:
        found, page = [], 1
        while True:
            answer = store.list_customers(
                {"page": str(page), "per_page": per_page, "sort_type": order}, "http://x"
            )[1]["customers"]
            found += [c["id"] for c in answer["data"]]
            if page >= answer["last_page"]:
                return found
            page += 1

    def expected() -> list[int]:
        return sorted(store.customers, reverse=order == "desc")

    for customer_id in seeded:
        store.seed(seed_customer(customer_id))
        assert pages() == expected()
    for customer_id in deleted:
        store.apply(Change(deleted=(customer_id,)))
        assert pages() == expected()
    store.seed(seed_customer(999))
    assert pages() == expected()
    store.customers.clear()  # behind the store's back, as tests do
    assert pages() == []
