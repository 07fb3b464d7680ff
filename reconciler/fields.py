"""The customer's fields, in one table: every list of fields elsewhere is derived from it.

A row says what the field is (text or a whole number), how wide its database column is
(MySQL cuts longer values), which rule of the server can refuse it (CustomerRequest.php),
whether a declared file may hold it, whether `PUT /customers/{id}` writes it (then every
PUT body must carry it, or the server blanks it), and whether `import --generate-yaml`
writes it. The order of the table is the canonical order of a declared customer (`fmt`,
`import --generate-yaml`). The JSON Schemas spell the names out for editors; a test checks
they agree with this table. Adding a field is one row here plus its tests.
"""

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"  # aov: the server's, sent back as it is


class Rule(StrEnum):
    """What the server validates before it cleans (API.md 10.4, API-2.md H)."""

    NONE = "none"  # cleaned silently, never refused
    TEXT = "text"  # sanitizeText, skipped for PHP-falsy values ("", "0")
    REQUIRED_TEXT = "required-text"  # required (in its name mode), sanitizeText, 255 bytes
    EMAIL = "email"  # required, sanitizeText, is_email on the raw value, 255 bytes, unique


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    width: int = 0  # column width in characters; 0: not cut
    rule: Rule = Rule.NONE
    declared: bool = True  # a declared file may manage it
    imported: bool = True  # import --generate-yaml writes it when it is not empty
    name_part: bool = False  # full_name, first_name, last_name: which one depends on the mode


NAME_COLUMN = 192
SHORT_COLUMN = 45

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
    Field("aov", Kind.DECIMAL, declared=False, imported=False),
)
BY_NAME = {field.name: field for field in FIELDS}

# What a declared customer may hold, in canonical order; the text ones among them.
MANAGED_FIELDS = tuple(f.name for f in FIELDS if f.declared)
TEXT_FIELDS = tuple(f.name for f in FIELDS if f.declared and f.kind is Kind.TEXT)
NAME_FIELDS = tuple(f.name for f in FIELDS if f.name_part)
