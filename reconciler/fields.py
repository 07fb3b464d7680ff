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
    ADDRESSES = "addresses"  # billing and shipping addresses: a mapping of lists of mappings


class Endpoint(StrEnum):
    """The request that writes a field; every body of it carries all of its fields."""

    CUSTOMER = "PUT /customers/{id}"
    LABELS = "PUT /customers/{id}/additional-info"
    ADDRESSES = "POST|PUT|DELETE /customers/{id}/address"


class Rule(StrEnum):
    """What the server validates before it cleans (API.md 10.4, API-2.md H)."""

    NONE = "none"  # cleaned silently, never refused
    TEXT = "text"  # sanitizeText, skipped for PHP-falsy values ("", "0")
    REQUIRED_TEXT = "required-text"  # required (in its name mode), sanitizeText, 255 bytes
    EMAIL = "email"  # required, sanitizeText, is_email on the raw value, 255 bytes, unique
    LABEL = "label"  # each title: required, sanitizeText, unique ignoring case and accents
    ADDRESS = "address"  # each address: its fields' rules (ADDRESS_FIELDS)
    COUNTRY = "country"  # an upper-case code of the plugin's country list
    STATE = "state"  # required unless the country's locale says not; a code of its list


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
    # Few values shared by many customers (statuses, places): loads keep one string each.
    shared: bool = False


NAME_COLUMN = 192
SHORT_COLUMN = 45
LABEL_COLUMN = 192  # fct_label.value VARCHAR(192)

FIELDS = (
    Field("email", Kind.TEXT, NAME_COLUMN, Rule.EMAIL),
    Field("full_name", Kind.TEXT, NAME_COLUMN, Rule.REQUIRED_TEXT, name_part=True),
    Field("first_name", Kind.TEXT, NAME_COLUMN, Rule.REQUIRED_TEXT, name_part=True),
    Field("last_name", Kind.TEXT, NAME_COLUMN, Rule.REQUIRED_TEXT, name_part=True),
    Field("status", Kind.TEXT, SHORT_COLUMN, shared=True),
    Field("user_id", Kind.INTEGER, shared=True),  # recorded as text: "0"
    Field("city", Kind.TEXT, SHORT_COLUMN, Rule.TEXT, shared=True),
    Field("state", Kind.TEXT, SHORT_COLUMN, shared=True),
    Field("postcode", Kind.TEXT, SHORT_COLUMN),
    Field("country", Kind.TEXT, SHORT_COLUMN, shared=True),
    Field("notes", Kind.TEXT),
    Field("labels", Kind.TITLES, LABEL_COLUMN, Rule.LABEL, endpoint=Endpoint.LABELS),
    Field("addresses", Kind.ADDRESSES, rule=Rule.ADDRESS, endpoint=Endpoint.ADDRESSES),
    Field("aov", Kind.DECIMAL, declared=False, imported=False),
)
BY_NAME = {field.name: field for field in FIELDS}

# What a declared customer may hold, in canonical order; the text ones among them.
MANAGED_FIELDS = tuple(f.name for f in FIELDS if f.declared)
TEXT_FIELDS = tuple(f.name for f in FIELDS if f.declared and f.kind is Kind.TEXT)
NAME_FIELDS = tuple(f.name for f in FIELDS if f.name_part)
SHARED_FIELDS = frozenset(f.name for f in FIELDS if f.shared)
# What `PUT /customers/{id}` writes: every one of its bodies carries all of these.
CUSTOMER_FIELDS = tuple(f for f in FIELDS if f.endpoint is Endpoint.CUSTOMER)


@dataclass(frozen=True)
class AddressField:
    """One field of a customer address (CustomerAddressRequest.php, fct_customer_addresses)."""

    name: str
    width: int  # column width in characters (MySQL cuts longer values); 0: not cut
    rule: Rule = Rule.NONE  # TEXT: nullable sanitizeText; REQUIRED_TEXT: required; NONE: cleaned
    max_bytes: int | None = None  # the request's maxLength, in bytes (HTTP 422 beyond)
    required: bool = False


# The address fields in canonical order (API-2.md B, "Validation"). Every address PUT carries
# all of them: the server replaces the whole address.
ADDRESS_FIELDS = (
    AddressField("name", NAME_COLUMN, Rule.REQUIRED_TEXT, 255, required=True),
    AddressField("company_name", 0, Rule.TEXT, 255),  # kept in meta.other_data
    AddressField("email", NAME_COLUMN, Rule.EMAIL, 255, required=True),
    AddressField("phone", NAME_COLUMN),
    AddressField("address_1", NAME_COLUMN, Rule.REQUIRED_TEXT, required=True),
    AddressField("address_2", NAME_COLUMN, Rule.TEXT),
    AddressField("city", NAME_COLUMN, Rule.REQUIRED_TEXT, 255, required=True),
    AddressField("state", NAME_COLUMN, Rule.STATE),
    AddressField("postcode", 32),
    AddressField("country", 100, Rule.COUNTRY, required=True),
    AddressField("label", 50, Rule.TEXT, 15),
)
ADDRESS_BY_NAME = {f.name: f for f in ADDRESS_FIELDS}
# The address types a declared file manages, each a list whose first address is the primary.
ADDRESS_KINDS = ("billing", "shipping")
