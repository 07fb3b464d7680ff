"""Reading a customer object as the FluentCart store returns it (and the state records it)."""

from collections.abc import Mapping
from typing import Any

from reconciler.fields import BY_NAME, Kind
from reconciler.labels import Labels
from reconciler.wordpress import joined_full_name

FieldValue = str | int | Labels


def observed_value(observed: Mapping[str, Any], name: str) -> FieldValue | None:
    """A managed field of a recorded customer, in the form declared values are compared in.

    None only for labels a record does not carry (recorded from a PUT answer by an older
    fluentcart): not known, rather than none."""
    if BY_NAME[name].kind is Kind.TITLES:
        titles = observed.get(name)
        return Labels(titles) if isinstance(titles, list) else None
    if name == "user_id":
        raw = observed.get("user_id")
        try:
            return int(raw or 0)
        except (TypeError, ValueError):
            return 0
    if name == "full_name" and not observed.get("full_name"):
        return joined_full_name(
            str(observed.get("first_name") or ""), str(observed.get("last_name") or "")
        )
    value = observed.get(name)
    return "" if value is None else str(value)


def value_from_json(name: str, value: Any) -> Any:
    """A field's value as a plan or cache holds it in JSON, in the form plans compare."""
    if isinstance(value, list) and name in BY_NAME and BY_NAME[name].kind is Kind.TITLES:
        return Labels(value)
    return value


def json_value(value: FieldValue) -> str | int | list[str]:
    """A field's value as the state keeps it in JSON."""
    return list(value) if isinstance(value, Labels) else value


def is_linked(observed: Mapping[str, Any]) -> bool:
    """Linked to a WordPress user: FluentCart's loose `user_id != 0` (API.md 10.1 step 7)."""
    return observed_value(observed, "user_id") != 0
