"""The customer's fields, in one table: every list of fields elsewhere is derived from it.

A row says what the field is (text, a whole number, a set of label titles), how wide its
database column is (MySQL cuts longer values), which rule of the server can refuse it
(CustomerRequest.php, LabelRequest.php), whether a declared file may hold it, which request
writes it (`PUT /customers/{id}`, whose every body must carry all of its fields or the server
blanks them, or `PUT /customers/{id}/additional-info` for labels), and whether `import
--generate-yaml` writes it. The order of the table is the canonical order of a declared
customer (`fmt`, `import --generate-yaml`). The JSON Schemas spell the names out for editors;
a test checks they agree with this table. Adding a field is one row here plus its tests.
"""

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"  # aov: the server's, sent back as it is
    TITLES = "titles"  # labels: a set of titles, compared as the store's collation does


class Endpoint(StrEnum):
    """The request that writes a field; every body of it carries all of its fields."""

    CUSTOMER = "PUT /customers/{id}"
    LABELS = "PUT /customers/{id}/additional-info"


class Rule(StrEnum):
    """What the server validates before it cleans (API.md 10.4, API-2.md H)."""

    NONE = "none"  # cleaned silently, never refused
    TEXT = "text"  # sanitizeText, skipped for PHP-falsy values ("", "0")
    REQUIRED_TEXT = "required-text"  # required (in its name mode), sanitizeText, 255 bytes
    EMAIL = "email"  # required, sanitizeText, is_email on the raw value, 255 bytes, unique
    LABEL = "label"  # each title: required, sanitizeText, unique ignoring case and accents


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    width: int = 0  # column width in characters; 0: not cut
    rule: Rule = Rule.NONE
    declared: bool = True  # a declared file may manage it
    imported: bool = True  # import --generate-yaml writes it when it is not empty
    name_part: bool = False  # full_name, first_name, last_name: which one depends on the mode
    endpoint: Endpoint = Endpoint.CUSTOMER


NAME_COLUMN = 192
SHORT_COLUMN = 45
LABEL_COLUMN = 192  # fct_label.value VARCHAR(192)

FIELDS = (
    Field("email", Kind.TEXT, NAME_COLUMN, Rule.EMAIL),
    Field("full_name", Kind.TEXT, NAME_COLUMN, Rule.REQUIRED_TEXT, name_part=True),
    Field("first_name", Kind.TEXT, NAME_COLUMN, Rule.REQUIRED_TEXT, name_part=True),
    Field("last_name", Kind.TEXT, NAME_COLUMN, Rule.REQUIRED_TEXT, name_part=True),
    Field("status", Kind.TEXT, SHORT_COLUMN),
    Field("user_id", Kind.INTEGER),
    Field("city", Kind.TEXT, SHORT_COLUMN, Rule.TEXT),
    Field("state", Kind.TEXT, SHORT_COLUMN),
    Field("postcode", Kind.TEXT, SHORT_COLUMN),
    Field("country", Kind.TEXT, SHORT_COLUMN),
    Field("notes", Kind.TEXT),
    Field("labels", Kind.TITLES, LABEL_COLUMN, Rule.LABEL, endpoint=Endpoint.LABELS),
    Field("aov", Kind.DECIMAL, declared=False, imported=False),
)
BY_NAME = {field.name: field for field in FIELDS}

# What a declared customer may hold, in canonical order; the text ones among them.
MANAGED_FIELDS = tuple(f.name for f in FIELDS if f.declared)
TEXT_FIELDS = tuple(f.name for f in FIELDS if f.declared and f.kind is Kind.TEXT)
NAME_FIELDS = tuple(f.name for f in FIELDS if f.name_part)
# What `PUT /customers/{id}` writes: every one of its bodies carries all of these.
CUSTOMER_FIELDS = tuple(f for f in FIELDS if f.endpoint is Endpoint.CUSTOMER)
