"""Reading a customer object as the FluentCart store returns it (and the state records it)."""

from collections.abc import Mapping
from typing import Any

from reconciler.wordpress import joined_full_name


def observed_value(observed: Mapping[str, Any], name: str) -> str | int:
    """A managed field of a recorded customer, in the form declared values are compared in."""
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


def is_linked(observed: Mapping[str, Any]) -> bool:
    """Linked to a WordPress user: FluentCart's loose `user_id != 0` (API.md 10.1 step 7)."""
    return observed_value(observed, "user_id") != 0
