"""Addresses: declared per type (the first is the primary), validated offline with the
store's country rules, planned field by field per address, applied as whole-address requests
(never one that blanks by omission), only ever to the customer's own address ids."""

from pathlib import Path
from typing import Any

import pytest

from reconciler import addresses
from reconciler.addresses import AddressAction, Addresses
from reconciler.declared import Rules, load_declared
from reconciler.workspace import NameMode
from tests.conftest import Workspace, seed_customer

RULES = Rules(("active", "inactive"), NameMode.FULL_NAME)
DALLAS = {
    "name": "Ann Lee",
    "email": "ann@example.test",
    "address_1": "1 Main St",
    "city": "Dallas",
    "state": "TX",
    "postcode": "75201",
    "country": "US",
}
LONDON = {
    "name": "Ann Lee",
    "email": "ann@example.test",
    "address_1": "10 Downing St",
    "city": "London",
    "country": "GB",
}


def _declare(tmp_path: Path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return load_declared([(path, "c.yaml")], RULES)


def _rows(server: Any, customer_id: int, kind: str | None = None) -> list[dict[str, Any]]:
    params = {"type": kind} if kind else {}
    status, body = server.store.addresses(str(customer_id), params)
    assert status == 200
    return body["addresses"]


def _yaml_address(values: dict[str, str], indent: str) -> str:
    return "".join(f"{indent}{k}: '{v}'\n" for k, v in values.items())


def test_addresses_end_to_end_on_the_sandbox(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1), seed_customer(2)])
    server.store.create_address("2", {**LONDON, "type": "shipping"})
    workspace.declare(
        "a.yaml",
        "customers:\n  - id: 1\n    city: Oslo\n  - id: 2\n    addresses:\n      billing:\n"
        + _yaml_address(DALLAS, "        ")
        + "      shipping:\n        - "
        + _yaml_address({**LONDON, "city": "Leeds"}, "          ").lstrip()
        + "        - "
        + _yaml_address({**LONDON, "address_1": "1 Other Rd"}, "          ").lstrip(),
    )
    assert run(workspace, "validate").exit_code == 0
    assert run(workspace, "import").exit_code == 0
    plan = run(workspace, "plan")
    assert plan.exit_code == 0, plan.output
    assert "+ new billing address (primary)" in plan.stdout, plan.stdout
    assert 'city = "London" -> "Leeds"' in plan.stdout, plan.stdout
    assert "+ new shipping address\n" in plan.stdout, plan.stdout
    applied = run(workspace, "apply", "-auto-approve")
    assert applied.exit_code == 0, applied.output
    billing = _rows(server, 2, "billing")
    shipping = _rows(server, 2, "shipping")
    assert [(a["city"], a["is_primary"]) for a in billing] == [("Dallas", "1")]
    assert [(a["city"], a["address_1"], a["is_primary"]) for a in shipping] == [
        ("Leeds", "10 Downing St", "1"),
        ("London", "1 Other Rd", "0"),
    ]
    assert _rows(server, 1) == []  # customer 1 declares no addresses: none made
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0

    # Removing an address from the YAML removes it on the store; the other type stays.
    workspace.declare(
        "a.yaml",
        "customers:\n  - id: 1\n  - id: 2\n    addresses:\n      shipping:\n"
        + _yaml_address({**LONDON, "address_1": "1 Other Rd"}, "        "),
    )
    plan = run(workspace, "plan")
    assert "- shipping address" in plan.stdout and "becomes the primary" in plan.stdout, plan.stdout
    assert run(workspace, "apply", "-auto-approve").exit_code == 0
    assert [(a["address_1"], a["is_primary"]) for a in _rows(server, 2, "shipping")] == [
        ("1 Other Rd", "1")
    ]
    assert len(_rows(server, 2, "billing")) == 1
    # Leaving addresses out changes nothing.
    workspace.declare("a.yaml", "customers:\n  - id: 1\n  - id: 2\n    city: Bergen\n")
    assert run(workspace, "apply", "-auto-approve").exit_code == 0
    assert len(_rows(server, 2)) == 2
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0


# ---- declaring ------------------------------------------------------------------------------


def _address_text(values: dict[str, str], indent: str = "    ") -> str:
    return _yaml_address(values, indent)


def test_declared_addresses_are_checked_with_the_country_rules(tmp_path: Path) -> None:
    declaration = _declare(
        tmp_path,
        "id: 1\naddresses:\n  billing:\n"
        + _address_text({**DALLAS, "state": "Texas", "label": "a label too long"})
        + "  shipping:\n    - "
        + _address_text({**LONDON, "country": "gb"}, "      ").lstrip()
        + "    - name: Only a name\n",
    )
    found = {(d.line, d.message.split(":")[0][:40]) for d in declaration.errors}
    messages = " | ".join(d.message for d in declaration.errors)
    assert '"Texas" is not a state code of country US' in messages
    assert "is 16 bytes long in UTF-8; FluentCart accepts at most 15" in messages
    assert "(write 'GB')" in messages
    assert "an address needs email, address_1, city, country" in messages
    lines = sorted(d.line for d in declaration.errors)
    assert lines == [8, 11, 17, 18], found  # state, label, country, the address itself
    assert 1 not in declaration.customers


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: 1\naddresses:\n  home:\n    name: x\n", "home"),
        ("id: 1\naddresses:\n  billing:\n    nickname: x\n", "nickname"),
        ("id: 1\naddresses:\n  billing: [1, 2]\n", "1 is not a mapping"),
        ("id: 1\naddresses: [a]\n", "a list is not a mapping"),
    ],
)
def test_a_malformed_addresses_block_is_an_error_at_its_line(
    tmp_path: Path, text: str, message: str
) -> None:
    declaration = _declare(tmp_path, text)
    assert declaration.errors and message in declaration.errors[0].message, declaration.errors
    assert declaration.errors[0].line >= 2


def test_declared_values_are_kept_as_written_and_cleaned_as_the_store_cleans(
    tmp_path: Path,
) -> None:
    declaration = _declare(
        tmp_path,
        "id: 1\naddresses:\n  shipping:\n"
        + _address_text(LONDON)
        + "    postcode: 01234\n    phone: '<b>020</b> 7946'\n",
    )
    assert not declaration.errors
    (warning,) = declaration.diagnostics
    assert "cleans" in warning.message and warning.line == 10
    (address,) = declaration.customers[1].fields["addresses"].of("shipping")
    assert address.value("postcode") == "01234" and address.value("phone") == "020 7946"
    assert dict(address.sent) == {"phone": "<b>020</b> 7946"}
    body = addresses.post_body(address, True)
    assert body["phone"] == "<b>020</b> 7946" and body["type"] == "shipping"


# ---- pairing and the requests ---------------------------------------------------------------


def _recorded(*rows: dict[str, Any]) -> Addresses:
    full = [
        {
            "status": "active",
            **{name: "" for name in addresses.FIELD_NAMES},
            **row,
        }
        for row in rows
    ]
    return addresses.from_store(full)


def _wanted(**kinds: list[dict[str, str]]) -> Addresses:
    return addresses.declared({k: [(v, {}) for v in items] for k, items in kinds.items()})


def test_an_address_already_on_the_store_is_found_by_its_fields_not_made_again() -> None:
    """A rerun after an apply that created an address but was killed before recording it."""
    recorded = _recorded(
        {"id": 7, "type": "billing", "primary": True, **DALLAS},
        {"id": 9, "type": "billing", "primary": False, **LONDON},
    )
    assert addresses.diff(recorded, _wanted(billing=[DALLAS, LONDON])) == ()
    # Listed the other way round: the primary flag moves, no address is made or removed.
    ops = addresses.diff(recorded, _wanted(billing=[LONDON, DALLAS]))
    assert [(op.action, op.id, op.primary, op.fields) for op in ops] == [
        (AddressAction.UPDATE, 9, True, ()),
        (AddressAction.UPDATE, 7, False, ()),
    ]


def test_requests_come_in_an_order_that_keeps_a_primary_and_an_address() -> None:
    recorded = _recorded(
        {"id": 7, "type": "billing", "primary": True, **DALLAS},
        {"id": 8, "type": "billing", "primary": False, **LONDON},
        {"id": 9, "type": "shipping", "primary": True, **LONDON},
    )
    steps = addresses.steps(
        recorded, _wanted(billing=[{**LONDON, "city": "Leeds"}], shipping=[DALLAS, LONDON])
    )
    assert [(s.op.action, s.op.kind, s.op.id, s.op.primary) for s in steps] == [
        (AddressAction.CREATE, "shipping", None, True),
        (AddressAction.UPDATE, "billing", 8, True),  # becomes the primary ...
        (AddressAction.UPDATE, "shipping", 9, False),
        (AddressAction.REMOVE, "billing", 7, True),  # ... before the old one goes
    ]
    body = addresses.put_body(steps[1].current, steps[1].wanted, True)  # type: ignore[arg-type]
    assert body["id"] == 8 and body["is_primary"] == 1 and body["type"] == "billing"
    assert body["city"] == "Leeds" and body["status"] == "active"
    assert set(addresses.FIELD_NAMES) <= set(body)  # the whole address: nothing blanked


def test_a_type_not_declared_is_left_as_it_is() -> None:
    recorded = _recorded({"id": 9, "type": "shipping", "primary": True, **LONDON})
    assert [op.kind for op in addresses.diff(recorded, _wanted(billing=[DALLAS]))] == ["billing"]


def test_a_field_left_out_keeps_the_stores_value() -> None:
    recorded = _recorded({"id": 9, "type": "shipping", "primary": True, **LONDON, "phone": "1"})
    partial = {k: v for k, v in LONDON.items()}
    steps = addresses.steps(recorded, _wanted(shipping=[{**partial, "city": "Leeds"}]))
    (step,) = steps
    body = addresses.put_body(step.current, step.wanted, True)  # type: ignore[arg-type]
    assert body["phone"] == "1" and body["city"] == "Leeds"


def test_the_client_keeps_only_the_customers_own_addresses() -> None:
    from reconciler.client import _addresses

    record = {
        "id": 2,
        "billing_address": [
            {"id": 5, "customer_id": "2", "type": "billing", "is_primary": "1", **DALLAS},
            {"id": 6, "customer_id": "3", "type": "billing", "is_primary": "0", **LONDON},
        ],
        "shipping_address": [],
    }
    _addresses(record)
    assert [row["id"] for row in record["addresses"]] == [5]
    assert "billing_address" not in record and "shipping_address" not in record


# ---- what the store refuses -----------------------------------------------------------------


def _plan_for(tmp_path: Path, text: str, rows: list[dict[str, Any]]):
    from reconciler.plan import build_plan
    from tests.conftest import make_state, observed

    declaration = _declare(tmp_path, text)
    recorded = _recorded(*rows).to_json()
    state = make_state([observed(1, addresses=recorded)])
    return build_plan(declaration, state, NameMode.FULL_NAME)


def test_removing_every_address_is_an_error_at_plan_time(tmp_path: Path) -> None:
    plan = _plan_for(
        tmp_path,
        "id: 1\naddresses:\n  billing: []\n",
        [{"id": 7, "type": "billing", "primary": True, **DALLAS}],
    )
    (error,) = plan.diagnostics
    assert "At least one address must remain" in error.message and error.line == 3


def test_clearing_a_company_is_an_error_the_store_would_ignore(tmp_path: Path) -> None:
    plan = _plan_for(
        tmp_path,
        "id: 1\naddresses:\n  billing:\n" + _address_text(DALLAS) + "    company_name: ''\n",
        [{"id": 7, "type": "billing", "primary": True, **DALLAS, "company_name": "Acme"}],
    )
    (error,) = plan.diagnostics
    assert 'company_name "Acme", which FluentCart cannot clear' in error.message


def test_the_plan_round_trips_through_json_and_redacts_every_address_value(
    tmp_path: Path,
) -> None:
    from reconciler.plan import Plan
    from reconciler.views.jsonplan import render_json
    from reconciler.views.markdown import render_markdown
    from reconciler.views.redact import MASK, Redactor, redact_plan
    from reconciler.views.text import render_text

    plan = _plan_for(
        tmp_path,
        "id: 1\naddresses:\n  billing:\n" + _address_text({**DALLAS, "phone": "555 0100"}),
        [{"id": 7, "type": "billing", "primary": True, **DALLAS, "city": "Austin"}],
    )
    again = Plan.from_dict(plan.to_dict())
    assert again.to_dict() == plan.to_dict() and render_text(again) == render_text(plan)
    assert '"Austin" -> "Dallas"' in render_text(plan)
    shown = redact_plan(plan, Redactor([], enabled=True))
    for view in (render_text(shown), render_json(shown), render_markdown(shown)):
        for secret in ("Austin", "Dallas", "555 0100", "1 Main St", "Ann Lee", "ann@"):
            assert secret not in view, (secret, view)
        assert MASK in view


# ---- the state -----------------------------------------------------------------------------


def test_an_older_state_reads_without_addresses_and_is_written_as_version_3(
    tmp_path: Path,
) -> None:
    import json

    from reconciler.statefile import FORMAT_VERSION, parse, serialize
    from tests.conftest import make_state, observed

    old = json.loads(serialize(make_state([observed(1)])))
    old["format_version"] = 2
    state = parse(json.dumps(old).encode(), "old.json")
    assert "addresses" not in state.customers[1].observed
    rows = _recorded({"id": 7, "type": "Billing", "primary": True, **DALLAS}).to_json()
    state.customers[1].observed["addresses"] = rows
    data = serialize(state)
    assert FORMAT_VERSION == 3 and json.loads(data)["format_version"] == 3
    for slim in (False, True):  # a slim load keeps every field of an address
        again = parse(data, "new.json", slim=slim)
        assert again.customers[1].observed["addresses"] == rows


# ---- import, fmt ---------------------------------------------------------------------------


def test_import_generate_yaml_writes_addresses_and_plans_no_change(
    workspace: Workspace, run, sandbox
) -> None:
    server = sandbox([seed_customer(1), seed_customer(2)])
    server.store.create_address("1", {**DALLAS, "type": "billing"})
    server.store.create_address("1", {**LONDON, "type": "shipping", "phone": "020"})
    server.store.create_address("1", {**LONDON, "type": "shipping", "city": "Leeds"})
    result = run(
        workspace, "import", "--init", "--all", "--generate-yaml", "customers", "--per-file", "1"
    )
    assert result.exit_code == 0, result.output
    first = (workspace.root / "customers" / "customer-000001.yaml").read_text()
    assert "addresses:\n  billing:\n    name: Ann Lee\n" in first, first
    assert "  shipping:\n    - name: Ann Lee\n" in first and "      phone: '020'\n" in first, first
    assert "addresses" not in (workspace.root / "customers" / "customer-000002.yaml").read_text()
    assert run(workspace, "validate").exit_code == 0
    assert run(workspace, "fmt", "--check").exit_code == 0
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0


def test_fmt_puts_addresses_in_canonical_order_and_keeps_comments() -> None:
    from reconciler.fmt import format_text

    text = (
        "addresses:  # where we ship\n"
        "  shipping:\n"
        "    city: London\n"
        "    name: Ann\n"
        "  billing:\n"
        "    - country: US\n"
        "      postcode: 01234\n"
        "id: 1\n"
    )
    assert format_text(text) == (
        "id: 1\n"
        "addresses:  # where we ship\n"
        "  billing:\n"
        "    - postcode: '01234'\n"
        "      country: US\n"
        "  shipping:\n"
        "    name: Ann\n"
        "    city: London\n"
    )


# ---- a request that fails part of the way ----------------------------------------------------


def test_an_address_request_that_fails_loses_nothing(tmp_path: Path, sandbox, backend) -> None:
    """The customer PUT's answer is recorded; the addresses, whose fate after a failed request
    is not known, are recorded as not read; the next apply reads them and finishes. In both
    state backends."""
    from reconciler.apply import Outcome
    from reconciler.client import ClientOptions, Credentials, FluentCartClient, TransportError
    from reconciler.plan import build_plan
    from tests.backends import apply_changes
    from tests.conftest import PASSWORD, as_recorded, make_state

    class DeleteFails(FluentCartClient):
        def delete_address(self, customer_id: int, address_id: int) -> None:
            raise TransportError("DELETE /customers/1/address: cannot reach the store: reset")

    server = sandbox([seed_customer(1, city="Lyon")])
    server.store.create_address("1", {**DALLAS, "type": "billing"})
    server.store.create_address("1", {**LONDON, "type": "billing"})
    state = make_state([as_recorded(server, 1)])
    state.site = server.url
    declaration = _declare(
        tmp_path,
        "id: 1\ncity: Paris\naddresses:\n  billing:\n" + _address_text({**LONDON, "city": "Leeds"}),
    )
    root = tmp_path / "ws"
    backend.prepare(root, state)

    def apply(client_class: type[FluentCartClient]):
        stored = backend.stored(root)
        plan = build_plan(declaration, stored, NameMode.FULL_NAME)
        client = client_class(server.url, Credentials("admin", PASSWORD), ClientOptions(retries=0))
        try:
            return apply_changes(
                backend.storage(root),
                stored,
                client,
                NameMode.FULL_NAME,
                plan,
                declaration.customers,
            )
        finally:
            client.close()

    (outcome,) = apply(DeleteFails).results
    assert outcome.outcome is Outcome.FAILED
    assert outcome.message.startswith("updated city; addresses not all set:"), outcome.message
    after = backend.stored(root)
    assert after is not None and after.customers[1].observed["city"] == "Paris"
    assert "addresses" not in after.customers[1].observed  # not known: not recorded
    assert [r.outcome for r in apply(FluentCartClient).results] == [Outcome.CHANGED]
    assert [(a["city"], a["is_primary"]) for a in _rows(server, 1)] == [("Leeds", "1")]
    final = backend.stored(root)
    assert build_plan(declaration, final, NameMode.FULL_NAME).changes == ()


def test_a_saved_plan_applies_addresses_as_planned(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1)])
    server.store.create_address("1", {**DALLAS, "type": "billing"})
    workspace.declare(
        "a.yaml", "id: 1\naddresses:\n  billing:\n" + _address_text({**DALLAS, "city": "Austin"})
    )
    assert run(workspace, "import").exit_code == 0
    assert run(workspace, "plan", "-out", "p.plan").exit_code == 0
    shown = run(workspace, "show", "p.plan")
    assert 'city = "Dallas" -> "Austin"' in shown.stdout, shown.stdout
    applied = run(workspace, "apply", "p.plan", "-auto-approve")
    assert applied.exit_code == 0, applied.output
    assert [a["city"] for a in _rows(server, 1)] == ["Austin"]
    # Every request named this customer's own address: PUT once, with its id.
    assert server.count("PUT", "/fluent-cart/v2/customers/1/address") == 1
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0


def test_refresh_update_yaml_takes_the_stores_addresses(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1)])
    server.store.create_address("1", {**DALLAS, "type": "billing"})
    server.store.create_address("1", {**LONDON, "type": "shipping"})
    workspace.declare(
        "a.yaml",
        "id: 1\naddresses:\n  billing:\n"
        + _address_text(DALLAS)
        + "  shipping:\n"
        + _address_text(LONDON),
    )
    assert run(workspace, "import").exit_code == 0
    (billing,) = _rows(server, 1, "billing")
    server.store.update_address({**billing, "city": "Austin", "is_primary": 1})
    (shipping,) = _rows(server, 1, "shipping")
    server.store.create_address("1", {**LONDON, "type": "billing", "city": "York"})
    drift = run(workspace, "plan", "--refresh")
    assert 'city = "Dallas" -> "Austin"' in drift.stdout, drift.stdout
    assert "+ billing address" in drift.stdout, drift.stdout
    result = run(workspace, "refresh", "--update-yaml")
    assert result.exit_code == 0, result.output
    text = (workspace.root / "customers" / "a.yaml").read_text()
    assert "city: Austin" in text and "city: York" in text and "city: London" in text, text
    assert run(workspace, "validate").exit_code == 0
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0
    assert shipping["city"] == "London"


def _apply_addresses(server: Any, root: Path, backend: Any, declaration: Any, client_class: Any):
    """One apply of `declaration` as the apply command makes it (with --force: the store's
    addresses may have moved since they were recorded), through `client_class`."""
    from reconciler.apply import Applier
    from reconciler.client import ClientOptions, Credentials
    from reconciler.plan import build_plan
    from tests.conftest import PASSWORD

    storage = backend.storage(root)
    stored = backend.stored(root)
    plan = build_plan(declaration, stored, NameMode.FULL_NAME)
    client = client_class(server.url, Credentials("admin", PASSWORD), ClientOptions(retries=0))
    try:
        with storage.lock("apply"):
            on_disk, working, _ = storage.recover(stored)
            recorder = storage.recorder()
            try:
                applier = Applier(
                    client, recorder, NameMode.FULL_NAME, declaration.customers, force=True
                )
                result = applier.run(list(plan.changes))
            finally:
                recorder.close()
            storage.persist(working, on_disk)
        return result
    finally:
        client.close()


def test_apply_never_leaves_a_type_without_its_primary(tmp_path: Path, sandbox, backend) -> None:
    """Promotions go before the creates that are not primaries (the store makes a type's
    first address primary whatever the request says); removing the last address of every
    type is refused before anything is sent; a type's primary is removed after its other
    addresses, and when its DELETE fails, gets its flag back if no declared address took it
    over."""
    from reconciler.apply import Outcome
    from reconciler.client import BadResponse, FluentCartClient, ServerError
    from tests.conftest import as_recorded, make_state

    server = sandbox([seed_customer(i) for i in (1, 2, 3, 4)])
    store = server.store
    # 1: a billing address without the primary flag (an outside make-primary that failed).
    _, made = store.create_address("1", {**DALLAS, "type": "billing"})
    store.update_address({**DALLAS, "id": made["data"]["id"], "type": "billing", "is_primary": 0})
    # 2: billing and shipping; the billing one goes outside fluentcart after the record.
    _, billing = store.create_address("2", {**DALLAS, "type": "billing"})
    store.create_address("2", {**LONDON, "type": "shipping"})
    # 3: billing and shipping.
    store.create_address("3", {**DALLAS, "type": "billing"})
    store.create_address("3", {**LONDON, "type": "shipping"})
    store.create_address("4", {**DALLAS, "type": "billing"})
    store.create_address("4", {**LONDON, "type": "billing"})
    store.create_address("4", {**LONDON, "type": "shipping"})
    state = make_state([as_recorded(server, i) for i in (1, 2, 3, 4)])
    state.site = server.url
    root = tmp_path / "ws"
    backend.prepare(root, state)
    store.update_address(
        {**DALLAS, "id": billing["data"]["id"], "type": "billing"} | {"is_primary": 0}
    )
    store.delete_address({"address": {"id": billing["data"]["id"]}})
    declaration = _declare(
        tmp_path,
        "customers:\n  - id: 1\n    addresses:\n      billing:\n        - "
        + _address_text(DALLAS, "          ").lstrip()
        + "        - "
        + _address_text(LONDON, "          ").lstrip()
        + "  - id: 2\n    addresses:\n      shipping: []\n"
        + "  - id: 3\n    addresses:\n      billing: []\n"
        + "  - id: 4\n    addresses:\n      billing: []\n",
    )

    deletes: list[int] = []

    class RefusedOnce(FluentCartClient):
        def delete_address(self, customer_id: int, address_id: int) -> None:
            if customer_id == 3:
                raise BadResponse("DELETE /customers/3/address: an HTML page (a gateway)")
            if customer_id == 4 and deletes.count(4):
                raise ServerError("DELETE /customers/4/address: HTTP 500: refused (a race)")
            deletes.append(customer_id)
            super().delete_address(customer_id, address_id)

    sent_before = len(server.requests)
    results = {
        r.id: r for r in _apply_addresses(server, root, backend, declaration, RefusedOnce).results
    }
    assert [(a["city"], a["is_primary"]) for a in _rows(server, 1, "billing")] == [
        ("Dallas", "1"),
        ("London", "0"),
    ]
    assert results[1].outcome is Outcome.CHANGED, results[1].message
    assert results[2].outcome is Outcome.FAILED
    assert "would remove every address of customer 2" in results[2].message
    assert [(a["city"], a["is_primary"]) for a in _rows(server, 2)] == [("London", "1")]
    sent_for_2 = [
        (m, p) for m, p in server.requests[sent_before:] if "/customers/2/" in p and m != "GET"
    ]
    assert sent_for_2 == []
    assert results[3].outcome is Outcome.FAILED
    assert [(a["city"], a["is_primary"]) for a in _rows(server, 3, "billing")] == [("Dallas", "1")]
    # The primary goes last (the other went first); its DELETE refused, it keeps its flag.
    assert results[4].outcome is Outcome.FAILED
    assert [(a["city"], a["is_primary"]) for a in _rows(server, 4, "billing")] == [("Dallas", "1")]
    # Refused before any request: the addresses stay recorded as just read.
    stored = backend.stored(root)
    assert [a["city"] for a in stored.customers[2].observed["addresses"]] == ["London"]


ADDRESS_CASES = [
    ("state", "TX", "US"),
    ("state", " TX", "US"),
    ("state", " ", "US"),
    ("state", "\n", "US"),
    ("state", "0", "US"),
    ("state", "0 ", "DE"),
    ("state", " ", "DE"),
    ("state", "", "DE"),
    ("state", "0", "DE"),
    ("state", "BE", "DE"),
    ("state", "<b>BE</b>", "DE"),
    ("state", "Kent", "GB"),
    ("state", " ", "GB"),
    ("state", "<em>Kent</em>", "GB"),
    ("company_name", "0", "GB"),
    ("company_name", " 0 ", "GB"),
    ("company_name", "00", "GB"),
    ("company_name", "ACME <b>Ltd</b>", "GB"),
    ("postcode", "<i>SW1A</i> 1AA", "GB"),
    ("label", "0123456789abcdef", "GB"),
    ("address_2", "a  b", "GB"),
    ("city", "0", "GB"),
    ("name", " ", "GB"),
]


@pytest.mark.parametrize(("name", "value", "country"), ADDRESS_CASES)
def test_validate_agrees_with_the_store_on_address_values(
    sandbox, name: str, value: str, country: str
) -> None:
    """What validate refuses, the store refuses (422); what it takes, the store keeps as the
    plan predicts (company_name "0": the store answers 200 and keeps none, so it is refused)."""
    from reconciler.rules import check_address

    server = sandbox([seed_customer(1)])
    address = {**LONDON, "country": country, "state": "TX" if country == "US" else "", name: value}
    checked = check_address(address)
    errors = [m for field, severity, m in checked.problems if severity.name == "ERROR"]
    status, body = server.store.create_address("1", {**address, "type": "billing"})
    if name == "company_name" and checked.values.get(name) == "0":
        assert errors and status == 200 and body["data"]["company_name"] == "", (errors, body)
        return
    assert bool(errors) == (status == 422), (errors, status, body)
    if status == 200:
        (row,) = _rows(server, 1)
        assert row[name] == checked.values[name], (row[name], checked.values)


def test_an_outside_make_primary_is_a_change_not_progress() -> None:
    """apply goes on over a state that its own interrupted requests made, and skips one that
    somebody else made: a primary flag moved outside fluentcart is not reverted unasked."""
    before = _recorded(
        {"id": 7, "type": "billing", "primary": True, **DALLAS},
        {"id": 8, "type": "billing", "primary": False, **LONDON},
    )
    swapped = _recorded(
        {"id": 7, "type": "billing", "primary": False, **DALLAS},
        {"id": 8, "type": "billing", "primary": True, **LONDON},
    )
    keep_dallas = _wanted(billing=[{**DALLAS, "city": "Austin"}, LONDON])
    assert not addresses.progressed(before, swapped, keep_dallas)
    # The plan's own first request (London becomes the primary) half made: progress.
    london_first = _wanted(billing=[LONDON, DALLAS])
    both = _recorded(
        {"id": 7, "type": "billing", "primary": True, **DALLAS},
        {"id": 8, "type": "billing", "primary": True, **LONDON},
    )
    assert addresses.progressed(before, both, london_first)
    assert addresses.progressed(before, swapped, london_first)
    # A primary demoted before its DELETE: progress of a plan that removes it.
    only_london = _wanted(billing=[LONDON])
    demoted = _recorded(
        {"id": 7, "type": "billing", "primary": False, **DALLAS},
        {"id": 8, "type": "billing", "primary": True, **LONDON},
    )
    assert addresses.progressed(before, demoted, only_london)


def test_a_plan_over_addresses_not_recorded_says_what_apply_may_do(tmp_path: Path) -> None:
    """Not recorded (an older state, a failed request): the plan cannot list the requests and
    says so in every view, also when the declaration alone makes none (`billing: []`)."""
    from reconciler.plan import build_plan
    from reconciler.views.markdown import render_markdown
    from reconciler.views.text import render_text
    from tests.conftest import make_state, observed

    state = make_state([observed(1), observed(2)])
    declaration = _declare(
        tmp_path,
        "customers:\n  - id: 1\n    addresses:\n      billing: []\n"
        "  - id: 2\n    addresses:\n      billing:\n" + _address_text(DALLAS, "        "),
    )
    plan = build_plan(declaration, state, NameMode.FULL_NAME)
    text = render_text(plan)
    assert "null ->" not in text, text
    assert text.count("~ addresses:  # not recorded: apply reads them first and may also") == 2
    assert "+ new billing address (primary)" in text
    markdown = render_markdown(plan)
    assert "| `addresses` | not recorded, see below | |" in markdown, markdown
    assert markdown.count("may also update or remove some") == 2


def test_no_address_request_while_one_would_link_the_signed_in_users_customer(
    workspace: Workspace, run, sandbox
) -> None:
    """The store links the customer whose email is the signed-in user's to that user on
    every address POST and PUT, for whichever customer (API-2.md B): apply sends none and
    says how to fix it; once that customer is linked, addresses go through."""
    server = sandbox([seed_customer(1, email="admin@example.test"), seed_customer(2)])
    workspace.declare(
        "a.yaml",
        "customers:\n  - id: 2\n    addresses:\n      billing:\n"
        + _address_text(DALLAS, "        "),
    )
    assert run(workspace, "import").exit_code == 0
    refused = run(workspace, "apply", "-auto-approve")
    assert refused.exit_code == 1, refused.output
    assert "customer 1 has the email of WordPress user 1, whom fluentcart signs in as" in (
        refused.output
    ), refused.output
    assert [m for m, p in server.requests if p.endswith("/address") and m != "GET"] == []
    assert server.store.customers[1]["user_id"] in ("0", "", None, 0)
    assert _rows(server, 2) == []
    # Linked to the signed-in user (as FluentCart would), nothing changes another record.
    server.store.customers[1]["user_id"] = "1"
    applied = run(workspace, "apply", "-auto-approve")
    assert applied.exit_code == 0, applied.output
    assert [a["city"] for a in _rows(server, 2)] == ["Dallas"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("id: 1\naddresses:\n  # ours\n  shipping:\n    city: London\n", 3),
        ("id: 1\naddresses:\n  shipping:\n    city: London  # moved\n    name: Ann\n", 4),
        ("id: 1\naddresses:\n  shipping:\n    city: London\n    # last\n    name: Ann\n", 5),
        ("id: 1\nlabels:\n  - VIP  # since May\n  - B2B\n", 3),
    ],
)
def test_fmt_refuses_comments_it_would_move_inside_addresses_and_labels(
    text: str, line: int
) -> None:
    """Entries of `addresses:` and `labels:` are reordered; a comment among them is refused
    at its line rather than moved away from what it says (it may stay above the key, or at
    the end of the key's line)."""
    from reconciler.fmt import FormatError, format_text

    with pytest.raises(FormatError) as caught:
        format_text(text)
    assert caught.value.line == line
    assert "fmt does not keep comments inside" in caught.value.message
    kept = (
        "id: 1\n# ours\naddresses:  # shipping only\n  shipping:\n    city: London\nemail: a@b.co\n"
    )
    assert "# ours\n" in format_text(kept) and "addresses:  # shipping only\n" in format_text(kept)


def test_fmt_keeps_a_comment_after_a_block_that_ends_in_a_block_scalar() -> None:
    from reconciler.fmt import format_text

    text = (
        "id: 1\naddresses:\n  shipping:\n    address_1: |\n      1 Main St\n"
        "# about email\nemail: a@b.co\n"
    )
    assert "# about email\nemail: a@b.co\n" in format_text(text)


def test_no_address_request_when_the_signed_in_user_cannot_be_read(
    tmp_path: Path, sandbox, backend
) -> None:
    """Fails closed: while the signed-in user cannot be read, the customers that declare
    addresses fail with nothing sent for them, and the run goes on to the next."""
    from reconciler.apply import Outcome
    from reconciler.client import FluentCartClient, ServerError
    from tests.conftest import as_recorded, make_state

    class NoUsersRoute(FluentCartClient):
        def caller(self) -> tuple[int, str]:
            raise ServerError("GET /wp/v2/users/me: HTTP 500: no")

    server = sandbox([seed_customer(1), seed_customer(2)])
    state = make_state([as_recorded(server, 1), as_recorded(server, 2)])
    state.site = server.url
    root = tmp_path / "ws"
    backend.prepare(root, state)
    text = "  - id: {}\n    city: Oslo\n    addresses:\n      billing:\n" + _address_text(
        DALLAS, "        "
    )
    declaration = _declare(tmp_path, "customers:\n" + text.format(1) + text.format(2))
    results = _apply_addresses(server, root, backend, declaration, NoUsersRoute).results
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert all("no address request was sent" in r.message for r in results), results
    assert _rows(server, 1) == [] and _rows(server, 2) == []
