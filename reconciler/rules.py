"""Per-field rules: what FluentCart would reject, what it would clean, and what it would cut.

Each declared value goes through `check_field`, which returns the value as the server would
store it (so plans converge) and the problems a user must hear about before any request is
sent. References are to `../shared/fluentcart/API.md`.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler.diagnostics import Severity, short_repr
from reconciler.wordpress import (
    is_email,
    joined_full_name,
    php_trim,
    sanitize_text_field,
    sanitize_text_problem,
    split_full_name,
)

TEXT_FIELDS = (
    "email",
    "full_name",
    "first_name",
    "last_name",
    "status",
    "notes",
    "city",
    "state",
    "postcode",
    "country",
)
MANAGED_FIELDS = (*TEXT_FIELDS, "user_id")

# Column widths (API.md 10.5): longer values are cut without an error.
NAME_COLUMN = 192
EMAIL_COLUMN = 192
SHORT_COLUMN = 45
MAX_VALIDATED_BYTES = 255
ADDRESS_FIELDS = ("city", "state", "postcode", "country")
NAME_FIELDS = ("full_name", "first_name", "last_name")
IGNORED_NAMES = {"full_name": ("first_name", "last_name"), "first_last": ("full_name",)}


@dataclass
class FieldResult:
    """The stored form of a declared value, and what to tell the user about it."""

    value: str
    problems: list[tuple[Severity, str]] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.problems.append((Severity.ERROR, message))

    def warn(self, message: str) -> None:
        self.problems.append((Severity.WARNING, message))


def check_field(
    name: str, raw: str | None, statuses: Sequence[str], name_mode: str | None = None
) -> FieldResult:
    """Normalize one declared text field and collect what the server would do with it.

    `name_mode` (full_name, first_last or None when unknown) decides which name is required.
    """
    text = "" if raw is None else raw
    if name == "email":
        return _check_email(text)
    if name in NAME_FIELDS:
        if name in IGNORED_NAMES.get(name_mode or "", ()):
            # The store's mode never reads this field; declaring it is reported as the wrong form.
            return FieldResult(php_trim(text))
        return _check_name(name, text, name_mode)
    if name == "city":
        return _check_city(text)
    return _check_cleaned(name, text, statuses)


def _rejected_text(result: FieldResult, value: str) -> bool:
    """FluentCart's `sanitizeText` rule, as an error; True when the value fails it."""
    problem = sanitize_text_problem(value)
    if problem is not None:
        result.error(f"{short_repr(value)} {problem}; FluentCart rejects it (HTTP 422)")
        return True
    return False


def _too_many_bytes(result: FieldResult, value: str) -> bool:
    size = len(value.encode("utf-8"))
    if size > MAX_VALIDATED_BYTES:
        result.error(
            f"is {size} bytes long in UTF-8; FluentCart accepts at most {MAX_VALIDATED_BYTES}"
            " bytes (HTTP 422)"
        )
        return True
    return False


def _check_email(text: str) -> FieldResult:
    value = php_trim(text)
    result = FieldResult(value)
    if not value:
        result.error("cannot be empty: FluentCart requires an email address")
        return result
    if _rejected_text(result, value) or _too_many_bytes(result, value):
        return result
    if len(value) > EMAIL_COLUMN:
        result.error(
            f"is {len(value)} characters long; the database keeps only {EMAIL_COLUMN} and would"
            " store a broken address"
        )
        return result
    if not is_email(value):
        result.error(f"{short_repr(value)} is not a valid email address")
    return result


def _check_name(name: str, text: str, name_mode: str | None) -> FieldResult:
    value = php_trim(text)
    result = FieldResult(value)
    required = {"full_name": "first_last", "first_name": "full_name"}
    # full_name is required in full-name mode, first_name in first/last mode; the other mode
    # ignores it (and the declaration is reported as the wrong form for the mode).
    if not value and name in required and name_mode != required[name]:
        label = "a full name" if name == "full_name" else "a first name"
        result.error(f"cannot be empty: FluentCart requires {label}")
        return result
    if _rejected_text(result, value) or _too_many_bytes(result, value):
        return result
    if name == "full_name":
        first, last = split_full_name(value)
        if len(first) > NAME_COLUMN or len(last) > NAME_COLUMN:
            stored = joined_full_name(first[:NAME_COLUMN], last[:NAME_COLUMN])
            result.warn(
                f"FluentCart splits it into first name {len(first)} and last name {len(last)}"
                f" characters long; the database keeps {NAME_COLUMN} of each, so it will be"
                f" stored as {short_repr(stored)}"
            )
            result.value = stored
    elif len(value) > NAME_COLUMN:
        result.value = value[:NAME_COLUMN]
        result.warn(
            f"is {len(value)} characters long; the database keeps {NAME_COLUMN}, so it will be"
            f" stored as {short_repr(result.value)}"
        )
    return result


def _check_city(text: str) -> FieldResult:
    value = php_trim(text)
    result = FieldResult(value)
    if value and _rejected_text(result, value):
        return result
    _cut(result, "city")
    return result


def _check_cleaned(name: str, text: str, statuses: Sequence[str]) -> FieldResult:
    trimmed = php_trim(text)
    result = FieldResult(sanitize_text_field(trimmed))
    if result.value != trimmed:
        result.warn(
            f"FluentCart cleans {short_repr(trimmed)} silently and will store"
            f" {short_repr(result.value)} (tags, line breaks, repeated spaces and %XX removed)"
        )
    if name == "status":
        if result.value not in statuses:
            allowed = ", ".join(statuses)
            result.error(
                f"{short_repr(result.value)} is not an allowed status (allowed: {allowed});"
                f" if it is one, add {short_repr(result.value)} to 'statuses' in fluentcart.yaml"
            )
        return result
    if name in ADDRESS_FIELDS:
        _cut(result, name)
    return result


def _cut(result: FieldResult, name: str) -> None:
    if len(result.value) > SHORT_COLUMN:
        original = result.value
        result.value = original[:SHORT_COLUMN]
        result.warn(
            f"is {len(original)} characters long; the {name} column keeps {SHORT_COLUMN}, so it"
            f" will be stored as {short_repr(result.value)}"
        )
