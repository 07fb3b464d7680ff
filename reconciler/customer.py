"""Reading a customer object as the FluentCart store returns it (and the state records it)."""

from collections.abc import Mapping
from typing import Any

from reconciler import addresses
from reconciler.addresses import Addresses
from reconciler.fields import BY_NAME, Kind
from reconciler.labels import Labels
from reconciler.wordpress import joined_full_name

FieldValue = str | int | Labels | Addresses


# The fields whose recorded value is compared as its text (most of them: one test, no
# branches, for the million comparisons of a large plan).
_AS_TEXT = frozenset(
    name
    for name, spec in BY_NAME.items()
    if spec.kind not in (Kind.ADDRESSES, Kind.TITLES) and name not in ("user_id", "full_name")
)


def observed_value(observed: Mapping[str, Any], name: str) -> FieldValue | None:
    """A managed field of a recorded customer, in the form declared values are compared in.

    None only for labels a record does not carry (recorded from a PUT answer by an older
    fluentcart): not known, rather than none; the same for addresses."""
    if name in _AS_TEXT:
        text = observed.get(name)
        return "" if text is None else text if type(text) is str else str(text)
    kind = BY_NAME[name].kind
    if kind is Kind.ADDRESSES:
        rows = observed.get(name)
        return addresses.from_store(rows) if isinstance(rows, list) else None
    if kind is Kind.TITLES:
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
    kind = BY_NAME[name].kind if name in BY_NAME else None
    if isinstance(value, list) and kind is Kind.TITLES:
        return Labels(value)
    if isinstance(value, list | dict) and kind is Kind.ADDRESSES:
        return Addresses.from_json(value)
    return value


def json_value(value: FieldValue | None) -> Any:
    """A field's value as the state keeps it in JSON."""
    if isinstance(value, Addresses):
        return value.to_json()
    return list(value) if isinstance(value, Labels) else value


def satisfies(current: FieldValue | None, declared: FieldValue) -> bool:
    """Whether the store's value is the declared one (addresses: nothing left to send)."""
    if isinstance(declared, Addresses):
        return isinstance(current, Addresses) and addresses.satisfied(current, declared)
    return current == declared


def same(a: FieldValue | None, b: FieldValue | None, declared: FieldValue) -> bool:
    """Whether two values of the store are one as far as a declaration looks at them (of
    addresses, the types it writes)."""
    if isinstance(declared, Addresses) and isinstance(a, Addresses) and isinstance(b, Addresses):
        return a.only(declared.kinds) == b.only(declared.kinds)
    return a == b


def is_linked(observed: Mapping[str, Any]) -> bool:
    """Linked to a WordPress user: FluentCart's loose `user_id != 0` (API.md 10.1 step 7)."""
    return observed_value(observed, "user_id") != 0
