"""Per-field rules: what FluentCart would reject, what it would clean, and what it would cut.

Each declared value goes through `check_field`, which returns the value as the server would
store it (so plans converge), the text apply sends (the declared text itself: the server
cleans and the database cuts it as below), and the problems a user must hear about before
any request is sent. The server's order for every field (API.md 10, API-2.md H, from
CustomerRequest.php and CustomerResource.php): its rules check the raw value (422), then
`sanitize_text_field` cleans it, then MySQL cuts it to the column width; nothing trims after
the cut. Where this tool is stricter than the server, the rule says so and why.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.diagnostics import Severity, short_repr
from reconciler.fields import (
    ADDRESS_FIELDS,
    BY_NAME,
    NAME_COLUMN,
    NAME_FIELDS,
    AddressField,
    Rule,
)
from reconciler.geo import is_country, is_state, state_required
from reconciler.geodata import STATES
from reconciler.labels import Labels
from reconciler.labels import key as labels_key
from reconciler.wordpress import (
    is_email,
    joined_full_name,
    php_trim,
    sanitize_text_field,
    sanitize_text_problem,
    split_full_name,
)

# Column widths (API.md 10.5) are the field table's: longer values are cut without an error.
EMAIL_COLUMN = BY_NAME["email"].width
MAX_VALIDATED_BYTES = 255
IGNORED_NAMES = {"full_name": ("first_name", "last_name"), "first_last": ("full_name",)}


@dataclass
class FieldResult:
    """The stored form of a declared value, and what to tell the user about it."""

    value: str
    problems: list[tuple[Severity, str]] = field(default_factory=list)
    sent: str | None = None  # the text a PUT carries (the declared text), when accepted

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
    rule = BY_NAME[name].rule  # the field table says which of the server's rules applies
    if rule is Rule.EMAIL:
        result = _check_email(text)
    elif name in NAME_FIELDS:
        if name in IGNORED_NAMES.get(name_mode or "", ()):
            # The store's mode never reads this field; declaring it is reported as the wrong form.
            result = FieldResult(php_trim(text))
        else:
            result = _check_name(name, text, name_mode)
    elif rule is Rule.TEXT:
        result = _check_text(name, text)
    else:
        result = _check_cleaned(name, text, statuses)
    if not any(severity is Severity.ERROR for severity, _ in result.problems):
        result.sent = text
    return result


@dataclass
class TitlesResult:
    """Declared label titles as the store keeps them, and per title what to tell the user."""

    value: Labels
    problems: list[tuple[int, Severity, str]] = field(default_factory=list)


def check_labels(titles: Sequence[str]) -> TitlesResult:
    """Each title as LabelRequest.php and the label table take it (API-2.md A): required and
    sanitizeText on the value as sent (422), then sanitize_text_field (which trims), then
    the 192-character column cut. The store tells labels apart ignoring case, accents and
    trailing spaces, so a title that names a label already in the list is reported."""
    problems: list[tuple[int, Severity, str]] = []
    kept: list[str] = []
    seen: dict[str, str] = {}
    width = BY_NAME["labels"].width
    for index, raw in enumerate(titles):
        result = FieldResult(php_trim(raw))
        if not result.value:
            result.error("is an empty label title: FluentCart requires one (HTTP 422)")
        elif not _rejected_text(result, result.value):
            result.value = sanitize_text_field(raw)
            if len(result.value) > width:
                original, result.value = result.value, result.value[:width]
                result.warn(
                    f"is {len(original)} characters long; the label table keeps {width}, so"
                    f" the label will be {short_repr(result.value)}"
                )
            earlier = seen.get(labels_key(result.value))
            if earlier is not None:
                result.warn(
                    f"{short_repr(result.value)} is the same label as {short_repr(earlier)}"
                    " (FluentCart tells labels apart ignoring case and accents): list it once"
                )
            else:
                seen[labels_key(result.value)] = result.value
                kept.append(result.value)
        problems.extend((index, severity, message) for severity, message in result.problems)
    return TitlesResult(Labels(kept), problems)


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
    if value != text:
        # The `email` rule checks the value as sent, untrimmed (API-2.md H, #2.177).
        result.error(
            f"{short_repr(text)} has white space around it; FluentCart rejects it as not a"
            " valid email address (HTTP 422): remove the spaces"
        )
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
    value = result.value = php_trim(sanitize_text_field(text))
    if name == "full_name":
        # The server stores the two parts of its split, each trimmed and cut; the full name
        # read back is them joined again.
        first, last = split_full_name(value)
        result.value = joined_full_name(first[:NAME_COLUMN], last[:NAME_COLUMN])
        if len(first) > NAME_COLUMN or len(last) > NAME_COLUMN:
            result.warn(
                f"FluentCart splits it into first name {len(first)} and last name {len(last)}"
                f" characters long; the database keeps {NAME_COLUMN} of each, so it will be"
                f" stored as {short_repr(result.value)}"
            )
    elif len(value) > NAME_COLUMN:
        result.value = value[:NAME_COLUMN]
        result.warn(
            f"is {len(value)} characters long; the database keeps {NAME_COLUMN}, so it will be"
            f" stored as {short_repr(result.value)}"
        )
    return result


def _check_text(name: str, text: str) -> FieldResult:
    """`nullable|sanitizeText` (the city): PHP-falsy values ("" and "0") skip the rule."""
    value = php_trim(text)
    result = FieldResult(sanitize_text_field(text))
    if value not in ("", "0") and _rejected_text(result, value):
        return result
    if BY_NAME[name].width:
        _cut(result, name)
    return result


def _check_cleaned(name: str, text: str, statuses: Sequence[str]) -> FieldResult:
    trimmed = php_trim(text)
    result = FieldResult(sanitize_text_field(text))
    if result.value != trimmed:
        result.warn(
            f"FluentCart cleans {short_repr(trimmed)} silently and will store"
            f" {short_repr(result.value)} (WordPress's sanitize_text_field: tags, line breaks,"
            " repeated spaces and %XX removed, a '<' without a '>' after it escaped)"
        )
    if name == "status":
        if result.value not in statuses:
            allowed = ", ".join(statuses)
            result.error(
                f"{short_repr(result.value)} is not an allowed status (allowed: {allowed});"
                f" if it is one, add {short_repr(result.value)} to 'statuses' in fluentcart.yaml"
            )
        return result
    if BY_NAME[name].width:
        _cut(result, name)
    return result


def _cut(result: FieldResult, name: str) -> None:
    """MySQL's cut of the cleaned value (non-strict mode: no error), counted in characters.
    Nothing trims after it, so a value cut after a space keeps that space; apply sends the
    declared text and the store makes the same cut."""
    width = BY_NAME[name].width
    if len(result.value) > width:
        original = result.value
        result.value = original[:width]
        result.warn(
            f"is {len(original)} characters long; the {name} column keeps {width}, so it"
            f" will be stored as {short_repr(result.value)}"
        )


def _stored_for(name: str, text: str) -> str | None:
    """What the server stores for `text` sent as `name` (None: it refuses it)."""
    trimmed = php_trim(text)
    field = BY_NAME[name]
    refusing = field.rule in (Rule.TEXT, Rule.REQUIRED_TEXT, Rule.EMAIL)
    if refusing and trimmed not in ("", "0") and sanitize_text_problem(trimmed):
        return None
    cleaned = sanitize_text_field(text)
    return cleaned[: field.width] if field.width else cleaned


def _padded(stored: str) -> tuple[str, ...]:
    """Texts that can make the server store `stored`: itself, or with a '>' (' >' after a
    '<') that sanitize_text_field keeps and the column's cut removes again."""
    return (stored, stored + ">", stored + " >")


class NotResendable(ValueError):
    """A stored value no text sent back would keep: the PUT would change it or be refused."""

    def __init__(self, name: str, stored: str) -> None:
        super().__init__(
            f"the store holds {name} {short_repr(stored)}, which no PUT can send back unchanged"
            f" (the server would clean it or refuse it); declare {name}, or edit it in wp-admin"
        )
        self.field = name


def resendable(name: str, stored: str) -> str:
    """The text to send back for an undeclared field so that the store keeps `stored`.

    A value the database cut can end in a space, or keep a '<' whose '>' it cut off: sent
    back as it is, the server would trim it, escape the '<', or refuse it (city). With '>'
    (or ' >' after a '<') appended it comes out of sanitize_text_field unchanged and the
    database cuts it back to exactly `stored`. NotResendable when nothing does.
    """
    for text in _padded(stored):
        if _stored_for(name, text) == stored:
            return text
    raise NotResendable(name, stored)


def resendable_full_name(first_name: str, last_name: str) -> str:
    """The full_name to send so that the store keeps both name columns as they are: a first
    name cut at 192 characters after a space would make a double space, which the
    sanitizeText rule refuses."""
    candidates = [joined_full_name(first_name, last_name)]
    if last_name and " " not in last_name:
        candidates += [f"{first_name}> {last_name}", f"{first_name} > {last_name}"]
    for text in candidates:
        if _split_stored(text) == (first_name, last_name):
            return text
    raise NotResendable("full_name", joined_full_name(first_name, last_name))


def declarable(
    name: str, stored: str, statuses: Sequence[str], name_mode: str | None
) -> str | None:
    """A text to declare so that `validate` promises exactly `stored` (refresh --update-yaml),
    or None when there is none: a value the database cut after a space or after a '<' needs
    the same '>' that makes it resendable."""
    for text in _padded(stored):
        result = check_field(name, text, statuses, name_mode)
        if result.value == stored and not any(s is Severity.ERROR for s, _ in result.problems):
            return text
    return None


def _split_stored(full_name: str) -> tuple[str, str] | None:
    if sanitize_text_problem(php_trim(full_name)):
        return None
    first, last = split_full_name(php_trim(sanitize_text_field(full_name)))
    return first[:NAME_COLUMN], last[:NAME_COLUMN]


@dataclass
class AddressResult:
    """A declared address as the store will keep it: its fields' stored values, the text apply
    sends where the server cleans it, and per field (None: the address) what to report."""

    values: dict[str, str] = field(default_factory=dict)
    sent: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[str | None, Severity, str]] = field(default_factory=list)


def check_address(declared: Mapping[str, str | None]) -> AddressResult:
    """An address as CustomerAddressRequest.php and LocalizationManager take it (API-2.md B):
    every rule on the value as sent (all failing fields answer one 422), then
    sanitize_text_field, then the column's cut. The country and state rules are applied
    always: the store skips them for some callers (#2.114), which would store an address the
    checkout cannot use."""
    result = AddressResult()
    missing = [f.name for f in ADDRESS_FIELDS if f.required and f.name not in declared]
    country = declared.get("country")
    country = php_trim(country) if isinstance(country, str) else None
    if "state" not in declared and country and is_country(country) and state_required(country):
        missing.append("state")
    if missing:
        result.problems.append(
            (
                None,
                Severity.ERROR,
                f"an address needs {', '.join(missing)}: FluentCart refuses an address without"
                " (HTTP 422), and every address request carries the whole address",
            )
        )
    if "state" not in declared and country and is_country(country):
        # A state belongs to its country: one left out is empty, not the store's (which may
        # be a state of another country, refused for this one: HTTP 422 "Invalid state").
        result.values["state"] = ""
    for spec in ADDRESS_FIELDS:
        if spec.name not in declared:
            continue
        text = declared[spec.name] or ""
        one = _address_field(spec, text, country)
        result.problems.extend((spec.name, severity, message) for severity, message in one.problems)
        result.values[spec.name] = one.value
        if one.value != text:
            result.sent[spec.name] = text
    if result.values.get("company_name") == "0":
        result.problems.append(
            (
                "company_name",
                Severity.ERROR,
                '"0" is a company FluentCart never stores (PHP counts "0" as empty, and the'
                " address keeps its company): write it another way, or leave company_name out",
            )
        )
    return result


def _address_field(spec: AddressField, text: str, country: str | None) -> FieldResult:
    trimmed = php_trim(text)
    if spec.rule is Rule.EMAIL:
        return _check_email(text)
    if spec.rule is Rule.COUNTRY:
        result = FieldResult(trimmed)
        if not trimmed:
            result.error("cannot be empty: FluentCart requires an address's country")
        elif not is_country(text):
            hint = f" (write {text.upper()!r})" if is_country(text.upper()) else ""
            result.error(
                f"{short_repr(text)} is not a country code FluentCart knows{hint}: an"
                " upper-case ISO 3166-1 code such as US or GB (HTTP 422)"
            )
        return result
    result = FieldResult(sanitize_text_field(text))
    if spec.rule is Rule.REQUIRED_TEXT and not trimmed:
        result.error(f"cannot be empty: FluentCart requires an address's {spec.name}")
        return result
    if spec.rule is Rule.STATE and country and is_country(country):
        if trimmed in ("", "0") and state_required(country):
            result.error(f"cannot be empty: FluentCart requires a state for country {country}")
            return result
        # The list check runs on the value as sent: only PHP's empty ("" and "0") skips it.
        if text not in ("", "0") and not is_state(country, text):
            result.error(
                f"{short_repr(text)} is not a state code of country {country} (for example"
                f" {next(iter(STATES[country]))!r}); FluentCart rejects it (HTTP 422)"
            )
            return result
    if spec.rule in (Rule.TEXT, Rule.REQUIRED_TEXT) and trimmed not in ("", "0"):
        if _rejected_text(result, trimmed):
            return result
        size = len(trimmed.encode("utf-8"))
        if spec.max_bytes is not None and size > spec.max_bytes:
            result.error(
                f"is {size} bytes long in UTF-8; FluentCart accepts at most {spec.max_bytes}"
                " bytes (HTTP 422)"
            )
            return result
    elif result.value != trimmed:
        result.warn(
            f"FluentCart cleans {short_repr(trimmed)} silently and will store"
            f" {short_repr(result.value)} (WordPress's sanitize_text_field)"
        )
    if spec.width and len(result.value) > spec.width:
        original, result.value = result.value, result.value[: spec.width]
        result.warn(
            f"is {len(original)} characters long; the address's {spec.name} column keeps"
            f" {spec.width}, so it will be stored as {short_repr(result.value)}"
        )
    return result
