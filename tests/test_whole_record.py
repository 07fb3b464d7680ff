"""Issue 15's end-to-end case on the sandbox, over HTTP: labels for one customer, billing and
shipping addresses for another, a new customer without an id; plan shows each, apply makes
them, the store's own routes show them, a refreshed plan is empty; taking a label and an
address out of the YAML removes them; leaving `labels`/`addresses` out changes nothing."""

from typing import Any

import requests

from tests.conftest import PASSWORD, Workspace, seed_customer

ANN = (
    "        name: Ann Lee\n        email: ann@example.test\n        address_1: 1 Main St\n"
    "        city: Dallas\n        state: TX\n        postcode: '75201'\n        country: US\n"
)
LEEDS = (
    "        name: Ann Lee\n        email: ann@example.test\n        address_1: 2 Park Row\n"
    "        city: Leeds\n        country: GB\n"
)


def _declared(labels: str, shipping: bool) -> str:
    return (
        "customers:\n"
        f"  - id: 1\n    labels: [{labels}]\n"
        "  - id: 2\n    addresses:\n      billing:\n"
        + ANN
        + ("      shipping:\n" + LEEDS if shipping else "      shipping: []\n")
        + "  - email: new@example.test\n    full_name: New Person\n    labels: [VIP]\n"
    )


def test_labels_addresses_and_a_new_customer_end_to_end(workspace: Workspace, run, sandbox) -> None:
    server = sandbox([seed_customer(1), seed_customer(2, email="ann@example.test")])

    def get(route: str) -> Any:
        answer = requests.get(
            f"{server.url}/wp-json/fluent-cart/v2{route}", auth=("admin", PASSWORD), timeout=10
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def titles(customer_id: int) -> list[str]:
        by_id = {row["id"]: row["value"] for row in get("/labels")["labels"]}
        links = get(f"/customers/{customer_id}")["customer"]["labels"]
        return sorted(by_id[int(link["label_id"])] for link in links)

    def cities(customer_id: int) -> list[tuple[str, str, str]]:
        rows = get(f"/customers/{customer_id}/address")["addresses"]
        return sorted((a["type"], a["city"], a["is_primary"]) for a in rows)

    workspace.declare("a.yaml", _declared("VIP, Wholesale", shipping=True))
    assert run(workspace, "import").exit_code == 0
    assert run(workspace, "validate").exit_code == 0
    plan = run(workspace, "plan", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    for shown in (
        '+ label "VIP"',
        '+ label "Wholesale"',
        "+ new billing address (primary)",
        "+ new shipping address (primary)",
        '+ customer "new@example.test" {',
        "Plan: 1 to create, 2 to change",
    ):
        assert shown in plan.stdout, (shown, plan.stdout)
    applied = run(workspace, "apply", "-auto-approve")
    assert applied.exit_code == 0, applied.output
    assert titles(1) == ["VIP", "Wholesale"]
    assert cities(2) == [("billing", "Dallas", "1"), ("shipping", "Leeds", "1")]
    (new,) = [c for c in get("/customers?per_page=50")["customers"]["data"] if c["id"] > 2]
    assert new["email"] == "new@example.test" and titles(new["id"]) == ["VIP"]
    again = run(workspace, "plan", "--refresh", "--detailed-exitcode")
    assert again.exit_code == 0, again.output

    # A label and an address taken out: removed from the store, and nothing else.
    workspace.declare("a.yaml", _declared("VIP", shipping=False))
    removed = run(workspace, "apply", "-auto-approve")
    assert removed.exit_code == 0, removed.output
    assert titles(1) == ["VIP"]
    assert cities(2) == [("billing", "Dallas", "1")]
    assert titles(new["id"]) == ["VIP"]
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0

    # `labels` and `addresses` left out: nothing is sent, the store keeps them.
    workspace.declare("a.yaml", "customers:\n  - id: 1\n  - id: 2\n  - email: new@example.test\n")
    before = len(server.requests)
    kept = run(workspace, "apply", "-auto-approve")
    assert kept.exit_code == 0, kept.output
    assert [m for m, _ in server.requests[before:] if m != "GET"] == []
    assert titles(1) == ["VIP"] and cities(2) == [("billing", "Dallas", "1")]
    assert run(workspace, "plan", "--refresh", "--detailed-exitcode").exit_code == 0
