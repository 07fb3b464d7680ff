"""The field table (reconciler/fields.py) is the one home of the customer's fields: the
JSON Schemas, the PUT body and the server's written columns agree with it."""

import pytest

from reconciler.apply import build_body
from reconciler.fields import BY_NAME, CUSTOMER_FIELDS, MANAGED_FIELDS, TEXT_FIELDS, Kind
from reconciler.fmt import FIELD_ORDER
from reconciler.jsonschemas import load_schema
from reconciler.sandbox.store import COLUMN_WIDTH, WRITTEN
from reconciler.state import PLAN_FIELDS
from reconciler.workspace import NameMode
from tests.conftest import observed


def test_the_schemas_name_exactly_the_managed_fields() -> None:
    customer = load_schema("customer")["$defs"]["customer"]["properties"]
    assert list(customer) == ["id", *MANAGED_FIELDS]  # in canonical order, for editors too
    plan = load_schema("plan")
    change = plan.get("$defs", plan)
    names = _find_enum(change, "name")
    assert set(names) == set(MANAGED_FIELDS)
    sensitive = load_schema("workspace")["properties"]["sensitive"]["items"]["enum"]
    assert set(sensitive) == set(MANAGED_FIELDS)
    state = load_schema("state")
    recorded = _find_properties(state, "observed")
    assert set(recorded) == PLAN_FIELDS
    for name in TEXT_FIELDS:
        assert customer[name] == {**customer[name], "$ref": "#/$defs/text"}
    assert customer["user_id"]["type"] == "integer"


def test_derived_lists_follow_the_table() -> None:
    assert ("id", *MANAGED_FIELDS) == FIELD_ORDER
    assert {"id", *MANAGED_FIELDS} == PLAN_FIELDS
    assert all(BY_NAME[name].kind is Kind.TEXT for name in TEXT_FIELDS)


@pytest.mark.parametrize("mode", [NameMode.FULL_NAME, NameMode.FIRST_LAST])
def test_every_put_carries_every_column_the_server_writes(mode: NameMode) -> None:
    """A field the server's PUT writes and the body leaves out would be blanked (API.md 2):
    the body holds exactly the server's written columns (the names as the mode takes them)."""
    body = build_body(observed(1), {}, mode)
    names = {"first_name", "last_name"} if mode is NameMode.FIRST_LAST else {"full_name"}
    server = (set(WRITTEN) - {"first_name", "last_name"}) | names
    assert set(body) == {"id"} | server
    widths = {f.name: f.width for f in CUSTOMER_FIELDS if f.width and f.name != "full_name"}
    assert widths == COLUMN_WIDTH


def _find_enum(node: object, key: str) -> list[str]:
    if isinstance(node, dict):
        if key in node.get("properties", {}) and "enum" in node["properties"][key]:
            return node["properties"][key]["enum"]
        for value in node.values():
            found = _find_enum(value, key)
            if found:
                return found
    if isinstance(node, list):
        for value in node:
            found = _find_enum(value, key)
            if found:
                return found
    return []


def _find_properties(node: object, key: str) -> dict:
    if isinstance(node, dict):
        if key in node.get("properties", {}) and "properties" in node["properties"][key]:
            return {k: v for k, v in node["properties"][key]["properties"].items()}
        for value in node.values():
            found = _find_properties(value, key)
            if found:
                return found
    return {}


@pytest.mark.parametrize("name", ["customer", "plan", "workspace", "state"])
def test_the_shipped_schemas_spell_out_every_field(name: str) -> None:
    """load_schema adds a field the table has and a file lacks; the files lack none."""
    import json
    from importlib import resources

    from reconciler.jsonschemas import with_fields

    text = resources.files("reconciler").joinpath("schemas", f"{name}.schema.json").read_text()
    assert with_fields(name, json.loads(text)) == json.loads(text)
