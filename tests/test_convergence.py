"""Convergence as a property: what validate accepts converges; what it rejects, FluentCart rejects.

Hypothesis writes declared customers (arbitrary unicode, whitespace, case, empty and long
values, both name modes, linked and unlinked customers), loads them as `validate` does, and:

- when validation passes: the real apply path (plan, GET, full-record PUT against the HTTP
  sandbox, each answer recorded by the state backend) succeeds, and a plan made from what
  the backend then holds shows no changes. Run once with each backend: the JSON file, and
  PostgreSQL (its jsonb must give back every value exactly as the store returned it);
- when it fails: the sandbox answers 422 to the same value, except where fluentcart is
  stricter on purpose (STRICTER, each with its reason).
"""

import bisect
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.apply import Outcome
from reconciler.client import ClientOptions, Credentials, FluentCartClient
from reconciler.declared import Rules, load_declared
from reconciler.diagnostics import Severity
from reconciler.generate import scalar
from reconciler.labels import Catalog
from reconciler.plan import build_plan
from reconciler.sandbox import Sandbox, Store
from reconciler.sandbox.server import default_users
from reconciler.sandbox.store import ADDRESS
from reconciler.workspace import NameMode
from tests.backends import Backend, apply_changes
from tests.conftest import PASSWORD, as_recorded, make_state, seed_customer

STATUSES = ("active", "inactive")
# Rules fluentcart enforces although FluentCart itself would answer 200.
STRICTER = {
    "is not an allowed status": "FluentCart stores any status text (API.md 10.2); the workspace lists the valid ones",
    "would store a broken address": "FluentCart stores an email over 192 characters cut (API.md 17)",
    "declare either full_name or first_name/last_name": "ambiguous: the server would silently use one of them",
    "full-name mode": "the server ignores first_name/last_name in full-name mode (API.md 10.7)",
    "first/last-name mode": "the server ignores full_name in first/last-name mode (API.md 10.7)",
    "is written twice": "YAML duplicate keys: the server never sees them",
}

awkward = st.sampled_from(
    [
        "",
        " ",
        "  padded  ",
        "UPPER lower",
        "a  b",
        "tab\there",
        "line\nbreak",
        "Jean Luc Picard",
        "Madonna",
        "O'Brien-Smith",
        "Ünïcödé Ñame",
        "山田 太郎",
        "x" * 300,
        "山" * 90,
        "%41%42",
        "100% sure",
        "<b>bold</b>",
        "a < b",
        "&amp; co",
        "\u00a0nbsp",
        "emoji 😀 here",
    ]
)
text = st.one_of(
    awkward, st.text(max_size=40), st.text(alphabet=" \tabcXYZ<>%41&é漢😀-'.", max_size=25)
)
emails = st.one_of(
    st.emails(),
    st.sampled_from(
        [
            "jane@example.org",
            "JANE@Example.ORG",
            " spaced@example.org ",
            "a@b.co",
            "jane@@x",
            "no-at-sign",
        ]
    ),
    text,
)


titles = st.one_of(
    st.sampled_from(
        ["VIP", "vip", "Vïp", "  VIP  ", "Wholesale", "B2B", "<b>x</b>", "", " ", "x" * 200]
    ),
    st.sampled_from(["%41", "a < b", "山田", "tab\there", "line\nbreak", "&amp; co"]),
    text,
)


@st.composite
def address_values(draw):
    """An address: usually valid enough to get through, sometimes not (a field missing, a
    country or state the store refuses, a label too long, HTML)."""
    country = draw(st.sampled_from(["US", "GB", "DE", "FR", "us", "ZZ", ""]))
    values = {
        "name": draw(st.one_of(st.sampled_from(["Ann Lee", "山田 太郎"]), text)),
        "email": draw(emails),
        "address_1": draw(st.one_of(st.sampled_from(["1 Main St", "12"]), text)),
        "city": draw(st.one_of(st.sampled_from(["Dallas", "London"]), text)),
        "country": country,
    }
    if country == "US" or draw(st.booleans()):
        values["state"] = draw(st.sampled_from(["TX", "CA", "Texas", "", "Kent"]))
    for name in ("address_2", "postcode", "phone", "label", "company_name"):
        if draw(st.integers(0, 3)) == 0:
            values[name] = draw(text)
    if draw(st.integers(0, 9)) == 0:
        del values[draw(st.sampled_from(sorted(values)))]
    return values


@st.composite
def declarations(draw):
    mode = draw(st.sampled_from([NameMode.FULL_NAME, NameMode.FIRST_LAST]))
    fields: dict[str, object] = {}
    if draw(st.booleans()):
        fields["email"] = draw(emails)
    name_fields = ["full_name"] if mode is NameMode.FULL_NAME else ["first_name", "last_name"]
    if draw(st.integers(0, 9)) == 0:  # sometimes the other mode's form
        name_fields = ["first_name", "last_name"] if mode is NameMode.FULL_NAME else ["full_name"]
    for name in name_fields:
        if draw(st.booleans()):
            fields[name] = draw(text)
    for name in ("status", "notes", "city", "state", "postcode", "country"):
        if draw(st.integers(0, 2)) == 0:
            fields[name] = draw(
                st.one_of(st.sampled_from(STATUSES), text) if name == "status" else text
            )
    if draw(st.booleans()):
        fields["user_id"] = draw(st.sampled_from([0, 2]))
    if draw(st.integers(0, 2)) == 0:
        fields["labels"] = draw(st.lists(titles, max_size=4))
    if draw(st.integers(0, 2)) == 0:
        kinds = draw(st.lists(st.sampled_from(["billing", "shipping"]), unique=True, max_size=2))
        fields["addresses"] = {kind: draw(st.lists(address_values(), max_size=2)) for kind in kinds}
    linked = draw(st.booleans())
    return mode, fields, linked


@pytest.fixture(scope="module")
def server():
    with Sandbox(Store("http://127.0.0.1", users=default_users("admin", PASSWORD))) as sandbox:
        yield sandbox


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(declarations())
def test_validate_and_the_server_agree(server: Sandbox, backend: Backend, case) -> None:
    mode, fields, linked = case
    store = server.store
    store.name_mode = "full_name" if mode is NameMode.FULL_NAME else "first_last"
    store.customers.clear()
    store.tables[ADDRESS].clear()
    store._addresses_of.clear()
    store.seed(seed_customer(1, user_id="2" if linked else "0", email="start@example.org"))
    store.create_address("1", {**START_ADDRESS, "type": "billing"})
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "c.yaml"
        path.write_text(_yaml(fields), encoding="utf-8")
        declaration = load_declared([(path, "c.yaml")], Rules(STATUSES, mode))
        errors = [d for d in declaration.diagnostics if d.severity is Severity.ERROR]
        if errors:
            _server_rejects_too(store, mode, fields, errors)
        else:
            _converges(server, backend, declaration, mode, Path(directory))


START_ADDRESS = {
    "name": "Start",
    "email": "start@example.org",
    "address_1": "1 Start St",
    "city": "Dallas",
    "state": "TX",
    "country": "US",
}


def _yaml(fields: dict) -> str:
    """The declared file: scalars one per line; then addresses, one field per line; labels,
    if any, last, one item per line."""
    return "\n".join(_lines(fields)[0]) + "\n"


def _lines(fields: dict) -> tuple[list[str], list[tuple[int, dict]]]:
    """The file's lines, and the first line (1-based) of each address with its values."""
    plain = [k for k in fields if k not in ("labels", "addresses")]
    lines = ["id: 1"] + [f"{k}: {scalar(fields[k])}" for k in plain]
    starts: list[tuple[int, dict]] = []
    if "addresses" in fields:
        lines.append("addresses:" + ("" if fields["addresses"] else " {}"))
        for kind, entries in fields["addresses"].items():
            lines.append(f"  {kind}:" + ("" if entries else " []"))
            for entry in entries:
                # A value of several lines is one item of `lines`: count the real lines.
                starts.append((sum(line.count("\n") + 1 for line in lines) + 1, entry))
                items = list(entry.items()) or [("", "")]
                if not entry:
                    lines.append("    - {}")
                    continue
                for position, (name, value) in enumerate(items):
                    lead = "    - " if position == 0 else "      "
                    lines.append(f"{lead}{name}: {scalar(value, '        ')}")
    if "labels" in fields:
        lines.append("labels:" + ("" if fields["labels"] else " []"))
        lines += [f"  - {scalar(title, '    ')}" for title in fields["labels"]]
    return lines, starts


def _converges(
    server: Sandbox, backend: Backend, declaration, mode: NameMode, directory: Path
) -> None:
    live = as_recorded(server, 1)
    state = make_state([live], mode)
    state.site = server.url
    state.labels = Catalog({row["id"]: row["value"] for row in server.store.labels()[1]["labels"]})
    plan = build_plan(declaration, state, mode)
    if plan.summary.errors:
        # The plan-time refusals: an email change on a linked customer (API.md 10.8), and
        # removing a customer's every address (the store keeps one, API-2.md B).
        assert all(
            "linked to WordPress user" in d.message
            or "At least one address must remain" in d.message
            for d in plan.diagnostics
            if d.severity is Severity.ERROR
        ), plan.diagnostics
        return
    backend.prepare(directory, state)
    storage = backend.storage(directory)
    client = FluentCartClient(server.url, Credentials("admin", PASSWORD), ClientOptions(retries=0))
    try:
        result = apply_changes(storage, state, client, mode, plan, declaration.customers)
    finally:
        client.close()
    assert [
        r.outcome for r in result.results if r.outcome not in (Outcome.CHANGED, Outcome.UNCHANGED)
    ] == [], result
    after = backend.stored(directory)
    assert after is not None
    assert after.customers[1].observed == as_recorded(server, 1)
    again = build_plan(declaration, after, mode)
    assert again.changes == (), again.changes


def _server_rejects_too(store: Store, mode: NameMode, fields: dict, errors: list) -> None:
    for error in errors:
        if any(marker in error.message for marker in STRICTER):
            continue
        assert error.field in fields, error.format()
        if error.field == "addresses":  # one address: the address endpoint refuses it
            starts = _lines(fields)[1]
            index = bisect.bisect_right([line for line, _ in starts], error.line or 0) - 1
            assert index >= 0, error.format()
            status, answer = store.create_address("999", dict(starts[index][1]))
            assert status == 422, (
                f"validate rejects it ({error.format()}) but POST /customers/999/address"
                f" answers {status}: {answer}"
            )
            continue
        if error.field == "labels":  # a title: the label endpoint refuses it (LabelRequest)
            lines = _yaml(fields).split("\n")
            start = lines.index("labels:")  # the labels come last, each item from a "  - "
            items = [n + 1 for n, line in enumerate(lines) if n > start and line.startswith("  - ")]
            title = fields["labels"][bisect.bisect_right(items, error.line or 0) - 1]
            status, answer = store.create_label({"value": title})
            assert status == 422, (
                f"validate rejects it ({error.format()}) but POST /labels answers {status}"
            )
            assert "value" in answer, answer
            continue
        row = store.customers[1]
        body = {
            "id": 1,
            "email": row["email"],
            "status": row["status"],
            "user_id": int(row["user_id"]),
            "aov": row["aov"],
        }
        if mode is NameMode.FULL_NAME:
            body["full_name"] = f"{row['first_name']} {row['last_name']}".strip()
        else:
            body["first_name"], body["last_name"] = row["first_name"], row["last_name"]
        body[error.field] = fields[error.field]
        status, answer = store.update("1", body)
        assert status == 422, (
            f"validate rejects it ({error.format()}) but FluentCart answers {status}"
        )
        assert error.field in answer, answer
