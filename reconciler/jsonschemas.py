"""The JSON Schemas in `schemas/`, and their errors turned into sentences for users."""

import difflib
import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from reconciler.diagnostics import short_repr

if TYPE_CHECKING:
    from jsonschema import ValidationError

    # The stubs' name for the classes `validators.create` and `extend` build: unlike the
    # `Validator` protocol (JSON values only), their iter_errors takes any object, as at runtime.
    from jsonschema.validators import _Validator

    from reconciler.yamlsource import Position, YamlDocument

_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "array": "a list",
    "object": "a mapping",
    "null": "empty",
    "boolean": "true or false",
}


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A schema shipped in `schemas/`, by file stem (`customer`, `state`, ...), with every
    field of the field table in it (`with_fields`)."""
    text = (
        resources.files("reconciler").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    )
    return with_fields(name, json.loads(text))


def with_fields(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with each field of the field table (reconciler/fields.py) that it does not
    spell out yet added where the schema lists fields: a declared customer's properties, a
    plan's field names, the workspace's `sensitive` names, a recorded customer's properties.

    The shipped files spell every field out (editors read them; tests/test_fields.py checks
    that this adds nothing to them), so a field added to the table is validated, planned and
    recorded before its descriptions are written."""
    from reconciler.fields import FIELDS, Kind

    declared = [f for f in FIELDS if f.declared]
    if name == "customer":
        properties = schema["$defs"]["customer"]["properties"]
        for f in declared:
            if f.name not in properties:
                properties[f.name] = {
                    Kind.TEXT: {"$ref": "#/$defs/text"},
                    Kind.INTEGER: {"type": "integer", "minimum": 0},
                    Kind.TITLES: {"type": "array", "items": {"type": ["string", "number"]}},
                }.get(f.kind, {})
        order = {f.name: rank for rank, f in enumerate(declared, 1)}
        schema["$defs"]["customer"]["properties"] = dict(
            sorted(properties.items(), key=lambda item: order.get(item[0], 0))
        )
    elif name == "plan":
        fields = schema["properties"]["changes"]["items"]["properties"]["fields"]
        names = fields["items"]["properties"]["name"]["enum"]
        names.extend(f.name for f in declared if f.name not in names)
    elif name == "workspace":
        names = schema["properties"]["sensitive"]["items"]["enum"]
        names.extend(f.name for f in declared if f.name not in names)
    elif name == "state":
        observed = schema["$defs"]["record"]["properties"]["observed"]["properties"]
        for f in declared:
            if f.name not in observed:
                observed[f.name] = (
                    {"type": "array", "items": {"type": "string"}}
                    if f.kind is Kind.TITLES
                    else {"type": ["string", "integer", "null"]}
                )
    return schema


@cache
def validator(name: str, definition: str | None = None) -> "_Validator":
    """A validator for schema `name`, or for one of its `$defs` entries."""
    # jsonschema is imported here, not at module level: `fluentcart --version` must stay fast.
    from jsonschema import Draft202012Validator, validators

    # In JSON Schema 1.0 is an integer; an id written as 42.0 in YAML is a mistake, not 42.
    type_checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    strict = validators.extend(Draft202012Validator, type_checker=type_checker)
    schema = load_schema(name)
    if definition is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    return strict(schema)


@cache
def _fast(name: str, definition: str | None) -> "tuple[Callable[[object], object], frozenset[str]]":
    """fastjsonschema's compiled validator for the same schema, and its integer properties."""
    import fastjsonschema

    schema = load_schema(name)
    if definition is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
        properties = load_schema(name)["$defs"][definition].get("properties", {})
    else:
        properties = schema.get("properties", {})
    integers = frozenset(k for k, v in properties.items() if v.get("type") == "integer")
    return fastjsonschema.compile(schema), integers


def is_valid(name: str, instance: object, definition: str | None = None) -> bool:
    """Whether `instance` passes the schema, quickly (compiled code).

    Only a negative answer needs jsonschema, for messages. fastjsonschema counts 1.0 as an
    integer, which this tool does not: integer properties are checked for floats as well.
    """
    import fastjsonschema

    validate, integers = _fast(name, definition)
    try:
        validate(instance)
    except fastjsonschema.JsonSchemaException:
        return False
    if isinstance(instance, dict):
        return not any(isinstance(instance.get(key), float) for key in integers)
    return True


def iter_errors(
    name: str, instance: object, definition: str | None = None
) -> "list[ValidationError]":
    errors = validator(name, definition).iter_errors(instance)
    return sorted(errors, key=lambda e: list(map(str, e.path)))


def describe(error: "ValidationError") -> list[tuple[tuple[object, ...], str]]:
    """(path, message) pairs for one schema error; unknown keys give one pair each."""
    path = tuple(error.absolute_path)
    keyword = error.validator
    instance = error.instance
    value = error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = sorted(schema.get("properties", {}))
        extras = [key for key in instance if key not in known]
        return [((*path, key), _unknown_field(key, known)) for key in extras]
    # In a valid schema `required` and `enum` hold lists, and `required` only checks mappings.
    if keyword == "required" and isinstance(value, list) and isinstance(instance, dict):
        missing = [name for name in value if name not in instance]
        return [(path, f"missing required field {name!r}") for name in missing]
    if keyword == "type":
        wanted = value if isinstance(value, list) else [value]
        words = " or ".join(_TYPE_WORDS.get(str(w), str(w)) for w in wanted if w != "null")
        return [(path, f"{short_repr(instance)} is not {words}")]
    if keyword == "minimum":
        return [(path, f"{short_repr(instance)} is less than {value}")]
    if keyword == "maximum":
        return [(path, f"{short_repr(instance)} is greater than {value}")]
    if keyword == "enum" and isinstance(value, list):
        choices = ", ".join(str(c) for c in value)
        return [(path, f"{short_repr(instance)} is not one of: {choices}")]
    return [(path, error.message)]


def _unknown_field(key: object, known: list[str]) -> str:
    message = f"unknown field {short_repr(key)}"
    close = difflib.get_close_matches(str(key), known, n=1)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message} (known fields: {', '.join(known)})"


def located_problems(
    document: "YamlDocument",
    instance: object,
    name: str,
    definition: str | None = None,
    prefix: tuple[object, ...] = (),
) -> "list[tuple[tuple[object, ...], str, Position | None]]":
    """Schema problems of `instance` (found at `prefix` in `document`), each with its position.

    An unknown key points at the key itself; any other problem at the value it is about.
    """
    from reconciler.yamlsource import position

    found: list[tuple[tuple[object, ...], str, Position | None]] = []
    if is_valid(name, instance, definition):
        return found
    for error in iter_errors(name, instance, definition):
        for path, message in describe(error):
            where = None
            if error.validator == "additionalProperties" and path:
                key_node = document.key_node((*prefix, *path[:-1]), path[-1])
                where = position(key_node) if key_node is not None else None
            found.append((path, message, where or document.position_at((*prefix, *path))))
    return found
