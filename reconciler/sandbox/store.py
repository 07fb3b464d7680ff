"""FluentCart's customer model as the real plugin behaves (API.md sections 7 to 11, API-2.md).

Every operation returns `(status, body)`; the HTTP layer only encodes. The behaviour follows
the recordings, including the traps: full replacement on PUT, the body-`id` email check,
unlinking on an omitted `user_id`, the linked-customer email lock, the last-space name
split, 422 for text that needs cleaning versus silent cleaning, string-typed numbers, and
`updated_at` that moves only when a column really changes. Besides customers the store holds
labels and their relationships, addresses (`tables`) and the checkout-field option, and
compares text as the database does (`collation.py`). Text cleaning and validation are
WordPress's, from `reconciler.wordpress`.
"""

import hashlib
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, cast

from reconciler import collation
from reconciler.geo import country_name, is_country, is_state, state_name, state_required
from reconciler.sandbox import phpjson
from reconciler.sandbox.checkoutfields import (
    FIRST_LAST,
    FULL_NAME,
    SettingsTypeError,
    fields_settings,
    name_mode_of,
    option_for,
    saved_option,
)
from reconciler.wordpress import (
    PHP_TRIM_CHARS,
    is_email,
    php_trim,
    sanitize_text_field,
    split_full_name,
)

Body = Any
Result = tuple[int, Body]


# Request keys picked by CustomerRequest::sanitize (API.md 10.2), in order.
PICKED = (
    "user_id", "email", "full_name", "first_name", "last_name", "status", "aov", "notes",
    "country", "city", "state", "postcode", "username", "user_nicename", "display_name",
    "user_url", "wp_user",
)  # fmt: skip
# Columns a PUT/POST writes (picked and fillable).
WRITTEN = ("email", "user_id", "first_name", "last_name", "status", "aov", "notes",
           "country", "city", "state", "postcode")  # fmt: skip
FILLABLE = (
    "user_id", "contact_id", "email", "first_name", "last_name", "status", "purchase_value",
    "purchase_count", "ltv", "first_purchase_date", "last_purchase_date", "aov", "notes", "uuid",
    "country", "city", "state", "postcode",
)  # fmt: skip
NUMERIC_COLUMNS = ("user_id", "contact_id", "purchase_count", "ltv", "aov")
COLUMN_WIDTH = {"email": 192, "first_name": 192, "last_name": 192, "status": 45,
                "country": 45, "city": 45, "state": 45, "postcode": 45}  # fmt: skip
ROW_ORDER = (
    "id", "user_id", "contact_id", "email", "first_name", "last_name", "status", "purchase_value",
    "purchase_count", "ltv", "first_purchase_date", "last_purchase_date", "aov", "notes", "uuid",
    "country", "city", "state", "postcode", "created_at", "updated_at",
)  # fmt: skip
ROLE_PERMISSIONS = {
    "administrator": {
        "customers/view",
        "customers/manage",
        "customers/delete",
        "store/sensitive",
        "labels/view",
        "labels/manage",
    },
    "manager": {
        "customers/view",
        "customers/manage",
        "customers/delete",
        "labels/view",
        "labels/manage",
    },
    "worker": {"customers/view"},
    "accountant": {"customers/view"},
}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WpUser:
    """A WordPress user the sandbox knows: who can log in and who customers link to."""

    id: int
    login: str
    email: str
    role: str = "subscriber"
    app_password: str | None = None
    login_password: str | None = None
    first_name: str = ""
    last_name: str = ""
    nicename: str = ""
    display_name: str = ""
    nickname: str = ""

    @property
    def permissions(self) -> set[str]:
        return ROLE_PERMISSIONS.get(self.role, set())


@dataclass
class Change:
    """What one request changes in a store, as the store will then hold it.

    A data file records it (`datafile.py`) and replays it; an empty Change changes nothing.
    """

    customer: dict[str, Any] | None = None
    user: WpUser | None = None
    deleted: tuple[int, ...] = ()
    next_id: int | None = None
    # Rows of the other tables (TABLES): (table, id, the row, or None when it is deleted).
    rows: tuple[tuple[str, int, dict[str, Any] | None], ...] = ()
    # Next ids of those tables, which a failed insert moves too (#2.6).
    counters: tuple[tuple[str, int], ...] = ()
    # The saved `_fc_checkout_fields` option; the name mode follows from it.
    checkout_fields: dict[str, Any] | None = None


# The tables besides customers: labels, label relationships, customer addresses.
LABEL, LABEL_LINK, ADDRESS = "label", "label_link", "address"
TABLES = (LABEL, LABEL_LINK, ADDRESS)
CUSTOMER_CLASS = "FluentCart\\App\\Models\\Customer"
# FluentCart's model classes (app/Models): the `bind_to_type` values class_exists accepts.
MODELS = frozenset(
    ["Activity", "AppliedCoupon", "AttributeGroup", "AttributeRelation", "AttributeTerm", "Cart", "Coupon", "Customer", "CustomerAddresses", "CustomerMeta", "DynamicModel", "Label", "LabelRelationship", "Meta", "Model", "Order", "OrderAddress", "OrderDownloadPermission", "OrderItem", "OrderMeta", "OrderOperation", "OrderTaxRate", "OrderTransaction", "Product", "ProductDetail", "ProductDownload", "ProductMeta", "ProductVariation", "ScheduledAction", "ShippingClass", "ShippingMethod", "ShippingZone", "Subscription", "SubscriptionMeta", "TaxClass", "TaxRate", "User"]
)  # fmt: skip


class PluginException(Exception):
    """A PHP TypeError in the plugin: HTTP 500 `plugin_exception`."""


TRIM_ARRAY = "trim(): Argument #1 ($string) must be of type string, array given"


def _plugin_error(message: str) -> Result:
    return 500, {"code": "plugin_exception", "data": [], "message": message}


def _wp_error(code: int, message: str) -> Result:
    """A resource-layer WP_Error: no status data, so WordPress answers 500 (API.md 6)."""
    return 500, {"code": code, "message": message, "data": None}


def _php_array(value: Any) -> list[Any] | None:
    """A JSON list or object as the PHP array's values; None for anything else."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return None


def _mysql_number(value: object) -> float:
    """How MySQL casts a value compared with an integer column: its numeric prefix, else 0."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    match = re.match(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", str(value))
    return float(match.group(0)) if match else 0.0


def _mysql_id(value: object) -> int | None:
    """The integer id `WHERE id = value` selects, or None when it selects none."""
    if isinstance(value, list | dict) or value is None:
        return None
    number = _mysql_number(value)
    return int(number) if number.is_integer() and number > 0 else None


def _php_string(value: object) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, list | dict):
        raise PluginException("Array to string conversion")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _intval(value: object) -> int:
    """PHP intval() for the values JSON can carry."""
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, list | dict):
        return 1 if value else 0
    match = re.match(r"\s*[+-]?\d+", str(value))
    return int(match.group(0)) if match else 0


def _falsy(value: object) -> bool:
    """PHP's empty(): what `nullable` treats as absent."""
    return value in (None, False, 0, "", "0") or value == [] or value == {}


def _numeric(value: object) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(str(value).strip())
    except ValueError:
        return False
    return bool(str(value).strip())


def _decimal_column(value: object) -> str:
    """MySQL DECIMAL(18,2) in non-strict mode: round, unparsable to 0.00, clamp on overflow."""
    text = "" if value is None else _php_string(value).strip()
    match = re.match(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text)
    try:
        number = Decimal(match.group(0)) if match else Decimal(0)
    except InvalidOperation:
        number = Decimal(0)
    number = number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    limit = Decimal("9999999999999999.99")
    number = max(-limit, min(limit, number))
    return f"{number:.2f}"


_EMAIL_LOCAL_DROPPED = re.compile(r"[^a-zA-Z0-9!#$%&'*+/=?^_`{|}~.-]")
_EMAIL_LABEL_DROPPED = re.compile(r"[^a-z0-9-]+", re.IGNORECASE)


def _sanitize_email(email: str) -> str:
    """WordPress sanitize_email (wp-includes/formatting.php, without its filters)."""
    if len(email.encode("utf-8")) < 6 or email.find("@", 1) == -1:
        return ""
    local, domain = email.split("@", 1)
    local = _EMAIL_LOCAL_DROPPED.sub("", local)
    if local == "":
        return ""
    domain = php_trim(re.sub(r"\.{2,}", "", domain), PHP_TRIM_CHARS + ".")
    if domain == "":
        return ""
    subs = [
        _EMAIL_LABEL_DROPPED.sub("", php_trim(sub, PHP_TRIM_CHARS + "-"))
        for sub in domain.split(".")
    ]
    subs = [sub for sub in subs if sub != ""]
    if len(domain.split(".")) < 2 or len(subs) < 2:
        return ""
    return f"{local}@{'.'.join(subs)}"


def _get_safe(params: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A request's getSafe with its sanitize map: every key, None when absent; ids intval'd,
    the email through sanitize_email, the rest through sanitize_text_field."""
    data: dict[str, Any] = {}
    for key in keys:
        value = params.get(key)
        if value is None:
            data[key] = None
        elif key in ("user_id", "is_primary"):
            data[key] = _intval(value)
        elif key == "email":
            data[key] = "" if _falsy(value) else _sanitize_email(_php_string(value))
        elif key == "user_url":
            data[key] = _php_string(value).strip()
        elif isinstance(value, list | dict):
            data[key] = ""  # sanitize_text_field gives "" for an array
        else:
            data[key] = sanitize_text_field(_php_string(value))
    return data


# CustomerAddressRequest: the rules after country and state, in order: (field, required
# message's subject, required, maximum bytes).
ADDRESS_RULES: tuple[tuple[str, str, bool, int | None], ...] = (
    ("label", "Label", False, 15),
    ("name", "Name field", True, 255),
    ("email", "Email field", True, 255),
    ("address_1", "Street Address field", True, None),
    ("address_2", "Address 2", False, None),
    ("city", "City field", True, 255),
    ("is_primary", "", False, None),
    ("company_name", "Company", False, 255),
)
# CustomerAddressRequest::sanitize, in order: the keys of the data written.
ADDRESS_SANITIZED = (
    "label", "type", "status", "name", "address_1", "address_2", "city", "state", "phone",
    "postcode", "country", "email", "is_primary", "company_name",
)  # fmt: skip
ADDRESS_ORDER = (
    "id", "customer_id", "is_primary", "type", "status", "label", "name", "address_1",
    "address_2", "city", "state", "phone", "email", "postcode", "country", "meta", "created_at",
    "updated_at",
)  # fmt: skip
# Column widths in characters (CustomerAddressesMigrator); the rest are 192.
ADDRESS_WIDTH = {"type": 20, "status": 20, "label": 50, "postcode": 32, "country": 100}


class _NoBody:
    """An answer with an empty body (a controller that returned nothing, #2.33)."""


NO_BODY = _NoBody()


def _company(meta: object) -> str:
    if isinstance(meta, dict):
        other = meta.get("other_data")
        if isinstance(other, dict):
            return cast(str, other.get("company_name", ""))
    return ""


def _formatted_address(address: Mapping[str, Any]) -> dict[str, Any]:
    """CustomerAddresses::getFormattedAddressAttribute: 15 keys, `full_address` last."""
    country = address.get("country")
    formatted: dict[str, Any] = {
        "country": country_name(country),
        "state": state_name(country, address.get("state")),
        **{key: address.get(key) for key in ("city", "postcode", "address_1", "address_2")},
        "type": address.get("type"),
        "name": address.get("name"),
        "first_name": None,
        "last_name": None,
        "full_name": None,
        "company_name": _company(address.get("meta")),
        "label": address.get("label"),
        "phone": address.get("phone"),
    }
    parts = ("company_name", "address_1", "address_2", "city", "state", "country")
    texts = (php_trim(str(formatted[key] or "")) for key in parts)
    formatted["full_address"] = ", ".join(text for text in texts if text != "")
    return formatted


RELATIONS = (
    "labels",
    "billing_address",
    "shipping_address",
    "primary_billing_address",
    "primary_shipping_address",
)


class Store:
    """The customers, the WordPress users and the checkout-field setting of one site."""

    def __init__(
        self,
        site_url: str,
        name_mode: str = FULL_NAME,
        users: Iterable[WpUser] = (),
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.site_url = site_url.rstrip("/")
        self.name_mode = name_mode
        self.users: dict[int, WpUser] = {user.id: user for user in users}
        # Customer ids by email in the table's collation: the uniqueness check is one look-up.
        self._by_email: dict[str, set[int]] = {}
        self._customers: dict[int, dict[str, Any]] = {}
        self._id_changes = 0  # customers added or deleted (_sorted_ids)
        self._ids_sorted: tuple[tuple[int, int, int], list[int]] | None = None
        self.next_id = 1
        self.tables: dict[str, dict[int, dict[str, Any]]] = {table: {} for table in TABLES}
        self.counters: dict[str, int] = dict.fromkeys(TABLES, 1)
        self.checkout_fields: dict[str, Any] | None = None
        # Indexes: (labelable_type, labelable_id) -> link ids; customer_id -> address ids.
        self._links_of: dict[tuple[str, str], list[int]] = {}
        self._addresses_of: dict[str, list[int]] = {}
        self.clock = clock
        self.lock = threading.RLock()
        # Called under the lock with each change before the store makes it; when it raises,
        # the store stays as it was (the data file must hold a change before it is answered).
        self.on_change: Callable[[Change], None] | None = None

    @property
    def customers(self) -> dict[int, dict[str, Any]]:
        """The customer rows by id (change them through `apply`, which keeps the indexes)."""
        return self._customers

    @customers.setter
    def customers(self, rows: dict[int, dict[str, Any]]) -> None:
        self._id_changes += 1
        self._customers = {}
        self._by_email = {}
        for customer_id, row in rows.items():
            self._put_customer(customer_id, row)

    # ---- users and auth -------------------------------------------------------------------

    def authenticate(self, login: str, password: str) -> WpUser | None:
        """Application passwords only; a login password never works over Basic auth (#59)."""
        given = password.replace(" ", "")
        for user in self.users.values():
            if user.login != login or user.app_password is None:
                continue
            if given == user.app_password.replace(" ", ""):
                return user
        return None

    def user_by_email(self, email: str) -> WpUser | None:
        lowered = email.lower()
        return next((u for u in self.users.values() if u.email.lower() == lowered), None)

    # ---- serialization --------------------------------------------------------------------

    def _stamp(self) -> str:
        return self.clock().strftime("%Y-%m-%dT%H:%M:%S+00:00")

    def _photo(self, email: str | None) -> str:
        digest = hashlib.sha256((email or "").lower().encode("utf-8")).hexdigest()
        return f"https://secure.gravatar.com/avatar/{digest}?s=100&#038;d=mm&#038;r=g"

    def _user_link(self, user_id: object) -> str:
        if _intval(user_id):
            return f"{self.site_url}/wp-admin/user-edit.php?user_id={_intval(user_id)}"
        return ""

    def _computed(self, row: Mapping[str, Any]) -> dict[str, Any]:
        first = row.get("first_name") or ""
        last = row.get("last_name") or ""
        full_name = php_trim(f"{first} {last}")
        country = row.get("country")
        return {
            "full_name": full_name,
            "photo": self._photo(row.get("email")),
            "country_name": country_name(country),
            "formatted_address": {
                "country": country_name(country),
                "state": state_name(country, row.get("state")),
                "city": row.get("city"),
                "postcode": row.get("postcode"),
                "first_name": row.get("first_name"),
                "last_name": row.get("last_name"),
                "full_name": full_name,
            },
            "user_link": self._user_link(row.get("user_id")),
        }

    def serialize(
        self, row: Mapping[str, Any], selected: bool = False, relations: Iterable[str] = ()
    ) -> dict[str, Any]:
        """A stored customer as GET, PUT and the list return it: `selected_labels` after the
        columns when `selected`, then the computed keys, then the loaded `relations`."""
        out: dict[str, Any] = {}
        for key in ROW_ORDER:
            out[key] = row[key]
            if key == "updated_at" and selected:
                out["selected_labels"] = [link["label_id"] for link in self._links(row["id"])]
        out.update(self._computed(row))
        for name in relations:
            out[name] = self._relation(row["id"], name)
        return out

    def _relation(self, customer_id: int, name: str) -> Any:
        """Customer::labels, billing_address, shipping_address, primary_*_address."""
        if name == "labels":
            return [dict(link) for link in self._links(customer_id)]
        kind = name.removeprefix("primary_").removesuffix("_address")
        rows = [a for a in self._addresses(str(customer_id)) if collation.equal(a["type"], kind)]
        if name.startswith("primary_"):
            primary = next((a for a in rows if a["is_primary"] == "1"), None)
            return self._address_item(primary) if primary is not None else None
        return [self._address_item(a) for a in rows]

    def _links(self, customer_id: int) -> list[dict[str, Any]]:
        ids = self._links_of.get((CUSTOMER_CLASS, str(customer_id)), [])
        return [self.tables[LABEL_LINK][i] for i in ids]

    def _addresses(self, customer_id: str) -> list[dict[str, Any]]:
        return [self.tables[ADDRESS][i] for i in self._addresses_of.get(customer_id, [])]

    # ---- seeding ----------------------------------------------------------------------------

    def seed(self, customer: Mapping[str, Any]) -> dict[str, Any]:
        """Add a customer shaped as GET /customers/{id} returns it; missing fields defaulted."""
        with self.lock:
            customer_id = int(customer.get("id") or self.next_id)
            stamp = self._stamp()
            row: dict[str, Any] = {
                "id": customer_id,
                "user_id": str(_intval(customer.get("user_id"))),
                "contact_id": str(_intval(customer.get("contact_id"))),
                "email": _php_string(customer.get("email")),
                "first_name": _php_string(customer.get("first_name")),
                "last_name": _php_string(customer.get("last_name")),
                "status": _php_string(customer.get("status", "active")),
                "purchase_value": customer.get("purchase_value", []),
                "purchase_count": str(_intval(customer.get("purchase_count"))),
                "ltv": str(_intval(customer.get("ltv"))),
                "first_purchase_date": customer.get("first_purchase_date"),
                "last_purchase_date": customer.get("last_purchase_date"),
                "aov": _decimal_column(customer.get("aov", "0.00")),
                "notes": _php_string(customer.get("notes")),
                "uuid": customer.get("uuid") or uuid.uuid4().hex,
                "country": _php_string(customer.get("country")),
                "city": _php_string(customer.get("city")),
                "state": _php_string(customer.get("state")),
                "postcode": _php_string(customer.get("postcode")),
                "created_at": customer.get("created_at") or stamp,
                "updated_at": customer.get("updated_at") or stamp,
            }
            if "full_name" in customer and "first_name" not in customer:
                row["first_name"], row["last_name"] = split_full_name(
                    _php_string(customer["full_name"])
                )
            self._put_customer(customer_id, row)
            self.next_id = max(self.next_id, customer_id + 1)
            return row

    # ---- changes ----------------------------------------------------------------------------

    def apply(self, change: Change) -> None:
        """Make `change`: one a request decided, or one a data file recorded."""
        with self.lock:
            if change.customer is not None:
                customer_id = change.customer["id"]
                self._put_customer(customer_id, change.customer)
                self.next_id = max(self.next_id, customer_id + 1)
            if change.user is not None:
                self.users[change.user.id] = change.user
            for customer_id in change.deleted:
                self._put_customer(customer_id, None)
            if change.next_id is not None:
                self.next_id = change.next_id
            for table, row_id, row in change.rows:
                self._put_row(table, row_id, row)
            for table, value in change.counters:
                self.counters[table] = max(self.counters[table], value)  # ids are never reused
            if change.checkout_fields is not None:
                self.checkout_fields = change.checkout_fields
                self.name_mode = name_mode_of(fields_settings(change.checkout_fields))

    def _sorted_ids(self) -> list[int]:
        """The customers' ids in ascending order, sorted again only after one was added or
        deleted (or the table's size changed behind `_put_customer`'s back)."""
        signature = (id(self._customers), len(self._customers), self._id_changes)
        if self._ids_sorted is None or self._ids_sorted[0] != signature:
            self._ids_sorted = (signature, sorted(self._customers))
        return self._ids_sorted[1]

    def _put_customer(self, customer_id: int, row: dict[str, Any] | None) -> None:
        """Store (or with None delete) a customer, keeping the email index in step."""
        if (row is None) == (customer_id in self._customers):
            self._id_changes += 1
        old = self._customers.get(customer_id)
        if old is not None:
            self._by_email.get(collation.sort_key(old["email"]), set()).discard(customer_id)
        if row is None:
            self._customers.pop(customer_id, None)
        else:
            self._customers[customer_id] = row  # an update keeps the customer's place
            self._by_email.setdefault(collation.sort_key(row["email"]), set()).add(customer_id)

    def _put_row(self, table: str, row_id: int, row: dict[str, Any] | None) -> None:
        rows = self.tables[table]
        old = rows.get(row_id)
        index: dict[Any, list[int]] | None = None
        if table == LABEL_LINK:
            index, key = self._links_of, lambda r: (r["labelable_type"], r["labelable_id"])
        elif table == ADDRESS:
            index, key = self._addresses_of, lambda r: r["customer_id"]
        if index is not None and old is not None:
            index[key(old)].remove(row_id)
        if row is None:
            rows.pop(row_id, None)
        else:
            rows[row_id] = row
            if index is not None:
                ids = index.setdefault(key(row), [])
                ids.append(row_id)
                ids.sort()
        self.counters[table] = max(self.counters[table], row_id + 1)

    def _commit(self, change: Change) -> None:
        if change == Change():
            return
        if self.on_change is not None:
            self.on_change(change)
        self.apply(change)

    # ---- validation (CustomerRequest::rules, API.md 10.3) -------------------------------------

    def _validate(self, params: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        errors: dict[str, dict[str, str]] = {}
        if self.name_mode == FULL_NAME:
            self._text_rules(errors, params, "full_name", "Full Name", required=True)
        else:
            self._text_rules(errors, params, "first_name", "First Name", required=True)
            self._text_rules(errors, params, "last_name", "Last Name", nullable=True)
        self._text_rules(errors, params, "city", "City", nullable=True, max_length=None)
        self._text_rules(errors, params, "email", "Email", required=True, email=True, unique=True)
        return errors

    def _text_rules(
        self,
        errors: dict[str, dict[str, str]],
        params: Mapping[str, Any],
        field: str,
        label: str,
        *,
        required: bool = False,
        nullable: bool = False,
        email: bool = False,
        max_length: int | None = 255,
        unique: bool = False,
    ) -> None:
        """The text rules of a request: required or nullable, sanitizeText, email, maxLength
        (in bytes), and for the customer's email the uniqueness check; `label` names the
        field in the required message."""
        # The validator runs a field's other rules whenever its key is in the body, even
        # after `required` failed (`"email": null` fails required and email, #2.194).
        present = field in params
        value = params.get(field)
        failed: dict[str, str] = {}
        blank = value is None or value == [] or value == {}
        if isinstance(value, str):
            blank = php_trim(value) == ""
        if required and blank:
            failed["required"] = f"{label} is required."
            if not present:
                errors[field] = failed
                return
        elif (nullable and _falsy(value)) or not present:
            return
        if isinstance(value, list | dict):
            raise PluginException(TRIM_ARRAY)  # the sanitizeText rule trims it
        raw = "" if value is None else _php_string(value)
        text = php_trim(raw)
        if sanitize_text_field(text) != text:
            failed["sanitizeText"] = f"The {field} must be a valid text"
        if email and not is_email(raw):
            failed["email"] = "Email must be a valid email address."
        if max_length is not None and len(text.encode("utf-8")) > max_length:
            failed["maxLength"] = f"The {field} must not be greater than {max_length} characters."
        # The uniqueness closure checks the sanitized email, whatever failed before it (#2.177).
        taken = unique and not _falsy(value)
        if taken and self._email_taken(_sanitize_email(raw), _intval(params.get("id"))):
            failed["exist"] = "Email already exists."
        if failed:
            errors[field] = failed

    def _email_taken(self, email: str, except_id: int) -> bool:
        """Whether another customer has `email`, compared in the table's collation."""
        if not email:
            return False
        return any(cid != except_id for cid in self._by_email.get(collation.sort_key(email), ()))

    # ---- sanitizing (CustomerRequest::sanitize, API.md 10.2) ----------------------------------

    def _pick(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return _get_safe(params, PICKED)

    def _resolve_names(self, data: dict[str, Any]) -> None:
        if self.name_mode == FULL_NAME:
            data["first_name"], data["last_name"] = split_full_name(data.get("full_name") or "")
        else:
            for key in ("first_name", "last_name"):
                if data.get(key) is not None:
                    data[key] = php_trim(data[key])

    @staticmethod
    def _column(key: str, value: Any) -> Any:
        """What MySQL (non-strict, through wpdb) stores for a written value."""
        if key == "user_id":
            return str(_intval(value))
        if key == "aov":
            return _decimal_column(value)
        text = "" if value is None else str(value)
        width = COLUMN_WIDTH.get(key)
        return text[:width] if width else text

    @staticmethod
    def _dirty(new: Any, old: Any) -> bool:
        """The ORM's change test: identical, or both numeric with the same string form."""
        if new == old and type(new) is type(old):
            return False
        return not (_numeric(new) and _numeric(old) and str(new) == str(old))

    # ---- operations -------------------------------------------------------------------------

    def find(
        self,
        customer_id: int,
        debug_info: dict[str, Any],
        relations: Iterable[str] = (),
        customer_only: bool = False,
    ) -> Result:
        """GET /customers/{id}: `with[]` relations, then the label rows the controller loads."""
        with self.lock:
            row = self.customers.get(customer_id)
            if row is None:
                return 404, {
                    "data": {
                        "message": "Customer not found",
                        "buttonText": "Back to Customer List",
                        "route": "/customers",
                        "wpfluent": debug_info,
                    },
                    "code": "fluent_cart_entity_not_found",
                }
            loaded = [name for name in relations if name in RELATIONS]
            if "labels" not in loaded:
                loaded.append("labels")
            return 200, {"customer": self.serialize(row, not customer_only, loaded)}

    def _request_data(
        self, params: Mapping[str, Any]
    ) -> tuple[dict[str, Any] | None, Result | None]:
        """CustomerRequest for PUT and POST: defaults, validation, then the 17-key pick.

        Returns (data, None), or (None, the error answer).
        """
        params = {**params}
        params.setdefault("notes", "")  # beforeValidation
        try:
            errors = self._validate(params)
            if errors:
                return None, (422, errors)
            return self._pick(params), None
        except PluginException as exc:
            return None, (500, {"code": "plugin_exception", "data": [], "message": str(exc)})

    def update(self, route_id: str, params: Mapping[str, Any]) -> Result:
        with self.lock:
            data, refused = self._request_data(params)
            if data is None:
                # _request_data gives the error answer whenever it gives no data.
                return cast(Result, refused)
            # Customer::find($id) with the path segment: MySQL casts it (`7x`, `+7`, `07` are 7).
            stored = self.customers.get(_mysql_id(route_id) or 0)
            if stored is None:
                return 500, {
                    "code": 400,
                    "message": "Customer not found, please reload the page and try again!",
                    "data": None,
                }
            self._resolve_names(data)
            # The change is made on copies, committed once the data file (if any) holds it.
            row, linked, user = dict(stored), None, None
            if _intval(row["user_id"]):
                data["email"] = row["email"]
                linked = self.users.get(_intval(row["user_id"]))
                if linked is None:
                    return 500, {"code": 423, "message": "Failed to update user.", "data": None}
                user = replace(linked)
                self._sync_user(user, data, row["email"])
                if user.email != linked.email:
                    # wp_update_user has saved the user when its profile_update hook runs.
                    self._commit(Change(user=user))
                    crashed = self._profile_updated(user.id, linked.email, user.email)
                    if crashed is not None:
                        return crashed
                    linked = user
                    stored = self.customers[stored["id"]]
                    row = dict(stored)
            changed = False
            for key in WRITTEN:
                if self._dirty(data.get(key), row[key]):
                    changed = True
                row[key] = self._column(key, data.get(key))
            if changed:
                row["updated_at"] = self._stamp()
            self._commit(
                Change(
                    customer=row if row != stored else None,
                    user=user if user != linked else None,
                )
            )
            return 200, {"message": "Customer updated successfully!", "data": self.serialize(row)}

    def _profile_updated(self, user_id: int, old_email: str, new_email: str) -> Result | None:
        """FluentCart's profile_update handler (UserHandler::handleWpUserProfileUpdated) after
        a user's email changed; the 500 it ends in when it moves a customer's resources."""
        same = collation.equal
        rows = sorted(self.customers.values(), key=lambda r: r["id"])
        attach = next((r for r in rows if same(r["email"], new_email)), None)  # first by id
        old = [r for r in rows if same(r["email"], old_email)]
        stamp = self._stamp()
        if attach is None:
            for r in old:
                self._commit(Change(customer={**r, "email": new_email, "updated_at": stamp}))
            return None
        if not old:
            if attach["user_id"] != str(user_id):
                self._commit(
                    Change(customer={**attach, "user_id": str(user_id), "updated_at": stamp})
                )
            return None
        # moveCustomerResources: download permissions and orders move (none here), then the
        # applied-coupons table, which has no customer_id column, fails (#2.104).
        sql_time = self.clock().strftime("%Y-%m-%d %H:%M:%S")
        return _plugin_error(
            "Unknown column 'customer_id' in 'WHERE' (SQL: update `wp_fct_applied_coupons` set"
            f" `customer_id` = '{attach['id']}', `wp_fct_applied_coupons`.`updated_at` ="
            f" '{sql_time}' where `customer_id` = '{old[0]['id']}')"
        )

    def _sync_user(self, user: WpUser, data: Mapping[str, Any], stored_email: str) -> None:
        """CustomerResource::updateUser for a linked customer: nothing without a name; else
        the names that are not empty, and the login email (callers here are admins)."""
        first, last = data.get("first_name") or "", data.get("last_name") or ""
        display = php_trim(f"{first} {last}")
        if not display:
            return
        if first:
            user.first_name = first
        if last:
            user.last_name = last
        if display:
            user.display_name = display
            user.nickname = display
            slug = re.sub(r"[^a-z0-9]+", "-", display.lower()).strip("-") or user.login
            taken = {u.nicename for u in self.users.values() if u.id != user.id}
            candidate, suffix = slug, 2
            while candidate in taken:
                candidate, suffix = f"{slug}-{suffix}", suffix + 1
            user.nicename = candidate
        user.email = stored_email

    def create(self, params: Mapping[str, Any]) -> Result:
        with self.lock:
            data, refused = self._request_data(params)
            if data is None:
                # _request_data gives the error answer whenever it gives no data.
                return cast(Result, refused)
            self._resolve_names(data)
            if self._email_taken(data["email"], 0):
                return 500, {"code": 400, "message": "Customer already exists.", "data": None}
            linked = self.user_by_email(data["email"])
            stamp = self._stamp()
            customer_id = self.next_id
            memory: dict[str, Any] = {
                "email": data["email"],
                # Not checked: a missing user is stored (#2.84), a linked one shared (#2.91).
                "user_id": linked.id if linked else data.get("user_id"),
                "first_name": data.get("first_name"),
                "last_name": data.get("last_name"),
                "status": data.get("status"),
                "aov": data.get("aov"),
                "notes": data.get("notes"),
                "country": data.get("country"),
                "city": data.get("city"),
                "state": data.get("state"),
                "postcode": data.get("postcode"),
                "purchase_value": [],
                "uuid": uuid.uuid4().hex,
                "updated_at": stamp,
                "created_at": stamp,
                "id": customer_id,
            }
            memory.update(self._computed(memory))
            row: dict[str, Any] = {key: None for key in ROW_ORDER}
            row.update(
                id=customer_id,
                contact_id="0",
                purchase_value=[],
                purchase_count="0",
                ltv="0",
                uuid=memory["uuid"],
                created_at=stamp,
                updated_at=stamp,
            )
            for key in WRITTEN:
                row[key] = self._column(key, memory[key])
            user = None
            if data.get("wp_user") == "yes" and linked is None:
                # AuthService::createUserFromCustomer; the user_register hook links it, after
                # the answer's model was made (#2.89, #2.90).
                user = self._new_user(row)
                row["user_id"] = str(user.id)
            self._commit(Change(customer=row, user=user, next_id=customer_id + 1))
            return 200, {"message": "Customer created successfully!", "data": memory}

    def _new_user(self, row: Mapping[str, Any]) -> WpUser:
        """wp_insert_user for a customer: login from the email's local part, a subscriber."""
        base = re.sub(r"[^a-z0-9_.@-]", "", row["email"].split("@")[0].lower()) or "user"
        logins = {u.login for u in self.users.values()}
        login, suffix = base, 1
        while login in logins:
            login, suffix = f"{base}{suffix}", suffix + 1
        first, last = row["first_name"] or "", row["last_name"] or ""
        display = " ".join(part for part in (first, last) if part) or login
        return WpUser(
            max(self.users, default=0) + 1,
            login,
            row["email"],
            first_name=first,
            last_name=last,
            nicename=login,
            display_name=display,
        )

    def bulk_action(self, params: Mapping[str, Any]) -> Result:
        """POST /customers/do-bulk-action (CustomerResource::manageCustomer). Deleting keeps
        the customers' addresses and label rows (no cascade, #2.127); on a real store it
        deletes their orders."""
        with self.lock:
            ids = _php_array(params.get("customer_ids", [])) or []
            customer_ids = [i for i in (_intval(value) for value in ids) if i]
            if not customer_ids:
                return _wp_error(403, "Customers selection is required")
            action = params.get("action", "")
            if action == "delete_customers":
                deleted = tuple(i for i in dict.fromkeys(customer_ids) if i in self.customers)
                if not deleted:
                    return _wp_error(400, "Customer update failed.")
                self._commit(Change(deleted=deleted))
                return 200, {
                    "message": "Selected Customers has been deleted permanently",
                    "data": "",
                }
            if action == "change_customer_status":
                return self._change_status(customer_ids, params.get("new_status", ""))
            return _wp_error(400, "Selected action is invalid")

    # ---- labels (API-2.md A) ------------------------------------------------------------------

    def labels(self) -> Result:
        with self.lock:
            labels = sorted(self.tables[LABEL].values(), key=lambda row: row["id"])
            return 200, {"labels": [dict(row) for row in labels]}

    def create_label(self, params: Mapping[str, Any]) -> Result:
        """POST /labels: LabelRequest, then the insert (which the UNIQUE key may refuse)."""
        with self.lock:
            value = params.get("value")
            if isinstance(value, list | dict):
                if value:
                    return _plugin_error(TRIM_ARRAY)
                value = None
            text = "" if value is None else _php_string(value)
            if php_trim(text) == "":
                return 422, {"value": {"required": "Label field is required."}}
            trimmed = php_trim(text)
            if sanitize_text_field(trimmed) != trimmed:
                return 422, {"value": {"sanitizeText": "The value must be a valid text"}}
            # The unique rule compares the value as sent; the sanitizer trims it afterwards.
            if any(collation.equal(row["value"], text) for row in self.tables[LABEL].values()):
                return 422, {"value": {"unique": "Label must be unique."}}
            stored = sanitize_text_field(text)
            label_id = self.counters[LABEL]
            stamp = self._stamp()
            if any(collation.equal(row["value"], stored) for row in self.tables[LABEL].values()):
                sql_time = self.clock().strftime("%Y-%m-%d %H:%M:%S")
                quoted = stored.replace("'", "\\'")
                self._commit(Change(counters=((LABEL, label_id + 1),)))  # the id is used up
                return _plugin_error(
                    f"Duplicate entry '{stored}' for key 'value' (SQL: insert into `wp_fct_label`"
                    f" (`value`, `updated_at`, `created_at`) values ('{quoted}', '{sql_time}',"
                    f" '{sql_time}'))"
                )
            row = {"id": label_id, "value": stored, "created_at": stamp, "updated_at": stamp}
            rows: list[tuple[str, int, dict[str, Any] | None]] = [(LABEL, label_id, row)]
            bind_type = self._sanitized(params.get("bind_to_type"))
            bind_id = self._sanitized(params.get("bind_to_id"))
            if bind_type and bind_id and bind_type in MODELS:
                link_id = self.counters[LABEL_LINK]
                link = self._link_row(
                    link_id, label_id, bind_id, f"FluentCart\\App\\Models\\{bind_type}"
                )
                rows.append((LABEL_LINK, link_id, link))
            self._commit(Change(rows=tuple(rows)))
            data = {"value": stored, "updated_at": stamp, "created_at": stamp, "id": label_id}
            return 200, {"message": "Label created successfully!", "data": data}

    @staticmethod
    def _sanitized(value: object) -> str:
        if value is None or isinstance(value, list | dict):
            return ""
        return sanitize_text_field(_php_string(value))

    def _link_row(
        self, link_id: int, label_id: object, owner_id: object, owner_type: str
    ) -> dict[str, Any]:
        stamp = self._stamp()
        return {
            "id": link_id,
            "label_id": int(_mysql_number(label_id)),
            "labelable_id": str(int(_mysql_number(owner_id))),
            "labelable_type": owner_type,
            "created_at": stamp,
            "updated_at": stamp,
        }

    def _replace_labels(
        self, owner_type: str, owner_id: int, new_ids: list[Any]
    ) -> tuple[tuple[str, int, dict[str, Any] | None], ...]:
        """LabelResource::addLabelToLabelRelationships: the owner's labels become `new_ids`.

        Kept labels keep their rows; each id is compared as MySQL compares it with the
        integer column, so `"1"`, `1` and `1.0` are one label. Unknown label ids are stored.
        """
        owner = str(owner_id)
        links = [self.tables[LABEL_LINK][i] for i in self._links_of.get((owner_type, owner), [])]
        wanted = {str(_mysql_number(value)) for value in new_ids}
        rows: list[tuple[str, int, dict[str, Any] | None]] = []
        kept: set[float] = set()
        for link in links:
            if new_ids and str(float(link["label_id"])) in wanted:
                kept.add(float(link["label_id"]))
            else:
                rows.append((LABEL_LINK, link["id"], None))
        link_id = self.counters[LABEL_LINK]
        for value in new_ids:
            number = _mysql_number(value)
            if number in kept:
                continue
            kept.add(number)
            rows.append((LABEL_LINK, link_id, self._link_row(link_id, value, owner, owner_type)))
            link_id += 1
        return tuple(rows)

    def update_additional_info(self, route_id: str, params: Mapping[str, Any]) -> Result:
        """PUT /customers/{id}/additional-info: the customer's labels become `labels`."""
        with self.lock:
            customer_id = _mysql_id(route_id)
            if customer_id not in self.customers:
                return _wp_error(404, "Customer not found, please reload the page and try again!")
            labels = params.get("labels", [])
            new_ids = _php_array(labels)
            if new_ids is None:
                return _plugin_error(
                    "count(): Argument #1 ($value) must be of type Countable|array,"
                    f" {phpjson.type_name(labels)} given"
                )
            if not new_ids and not self._links(customer_id):
                return _wp_error(400, "Customer does not have any changes to update.")
            self._commit(Change(rows=self._replace_labels(CUSTOMER_CLASS, customer_id, new_ids)))
            return 200, {"message": "Customer updated successfully!", "data": True}

    def update_label_selections(self, params: Mapping[str, Any]) -> Result:
        """POST /labels/update-label-selections; without a type or id, 200 and no body."""
        with self.lock:
            bind_type = self._sanitized(params.get("bind_to_type"))
            bind_id = self._sanitized(params.get("bind_to_id"))
            if not bind_type or not bind_id:
                return 200, NO_BODY
            short = bind_type.removeprefix("FluentCart\\App\\Models\\")
            if short not in MODELS:
                return 200, NO_BODY
            selected = _php_array(params.get("selectedLabels")) or []
            new_ids = [self._sanitized(value) for value in selected]
            owner_id = _mysql_id(bind_id) if short == "Customer" else None
            if owner_id not in self.customers:
                if new_ids:
                    return _plugin_error("Call to a member function labels() on null")
                return 200, {"message": "Labels Updated Successfully"}
            owner_type = f"FluentCart\\App\\Models\\{short}"
            self._commit(Change(rows=self._replace_labels(owner_type, int(owner_id), new_ids)))
            return 200, {"message": "Labels Updated Successfully"}

    # ---- addresses (API-2.md B) ---------------------------------------------------------------

    def _address_item(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A stored address as GET returns it."""
        item = {key: row[key] for key in ADDRESS_ORDER}
        item["formatted_address"] = _formatted_address(row)
        item["company_name"] = _company(row["meta"])
        return item

    def addresses(self, route_id: str, params: Mapping[str, Any]) -> Result:
        """GET /customers/{id}/address: primaries first, else insertion order; `type` filters."""
        with self.lock:
            kind = params.get("type")
            rows = self._addresses(str(_mysql_id(route_id)))
            if kind:
                rows = [a for a in rows if collation.equal(a["type"], _php_string(kind))]
            # ORDER BY is_primary DESC: the tie order is MySQL's plan. When the rows differ in
            # is_primary it sorts them (ties by id, #2.42, #2.61); when they all agree and no
            # type is asked, it reads the (customer_id, is_primary) index backwards (ties by
            # descending id, #2.56, #2.127). A reduction of the recorded plans, not the optimizer.
            if not kind and len({a["is_primary"] for a in rows}) == 1:
                rows = rows[::-1]
            rows = sorted(rows, key=lambda a: a["is_primary"] != "1")
            return 200, {"addresses": [self._address_item(a) for a in rows]}

    def _caller_customer(self, caller: WpUser | None) -> dict[str, Any] | None:
        """CustomerResource::getCurrentCustomer: the caller's customer, by user id or email."""
        if caller is None:
            return None
        mine = [
            row
            for row in self.customers.values()
            if row["user_id"] == str(caller.id) or collation.equal(row["email"], caller.email)
        ]
        return min(mine, key=lambda row: row["id"], default=None)

    def _address_request(
        self, params: Mapping[str, Any], caller: WpUser | None
    ) -> tuple[dict[str, Any] | None, Result | None, Change]:
        """CustomerAddressRequest: defaults, validation, the sanitized data; and the re-link
        of the caller's customer that building the rules makes."""
        params = {**params}
        params.setdefault("status", "active")
        params.setdefault("is_primary", 0)
        relink = Change()
        mine = self._caller_customer(caller)
        if mine is not None and caller is not None and mine["user_id"] != str(caller.id):
            relink = Change(customer={**mine, "user_id": str(caller.id)})
        # The country and state rules come from the caller's checkout schema, which has no
        # address section once the caller's customer has a billing address (#2.114).
        located = mine is None or not any(
            collation.equal(a["type"], "billing") for a in self._addresses(str(mine["id"]))
        )
        errors: dict[str, dict[str, str]] = {}
        try:
            if located:
                self._location_rules(errors, params)
            for field, label, required, max_length in ADDRESS_RULES:
                if field == "is_primary":
                    primary = params.get(field)
                    if not _falsy(primary) and not _numeric(primary):
                        errors[field] = {"numeric": "The is_primary must be a number."}
                    continue
                self._text_rules(
                    errors,
                    params,
                    field,
                    label,
                    required=required,
                    nullable=not required,
                    email=field == "email",
                    max_length=max_length,
                )
        except PluginException as exc:
            return None, _plugin_error(str(exc)), relink
        if errors:
            return None, (422, errors), relink
        data = _get_safe(params, ADDRESS_SANITIZED)
        return data, None, relink

    def _location_rules(self, errors: dict[str, dict[str, str]], params: Mapping[str, Any]) -> None:
        """LocalizationManager::getValidationRule: country, then state."""
        country = params.get("country")
        failed: dict[str, str] = {}
        if country is None or country == [] or php_trim(_php_string(country or "")) == "":
            failed["required"] = "Country field is required."
        valid = all(is_country(c) for c in country) if isinstance(country, list) else False
        if not (valid and country) and not is_country(country):
            failed["1"] = "Invalid country code."
        if failed:
            errors["country"] = failed
        code = country if isinstance(country, str) else None
        state = params.get("state")
        failed = {}
        if state_required(code) and _falsy(state):
            failed["required"] = "State is required."
        if code and not _falsy(state) and not is_state(code, _php_string(state)):
            failed["invalid"] = "Invalid state code."
        if failed:
            errors["state"] = failed

    def _address_row(self, data: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
        """The stored address after writing `data` over `old` (columns cut as MySQL cuts them)."""
        row = dict(old)
        for key in ADDRESS_SANITIZED:
            if key == "company_name":
                if not _falsy(data[key]):
                    meta = row["meta"] if isinstance(row["meta"], dict) else {}
                    row["meta"] = {**meta, "other_data": {**meta.get("other_data", {}),
                                                        "company_name": data[key]}}  # fmt: skip
                continue
            value = data[key]
            text = "" if value is None else str(value)
            row[key] = text[: ADDRESS_WIDTH.get(key, 192)]
        return row

    def create_address(
        self, route_id: str, params: Mapping[str, Any], caller: WpUser | None = None
    ) -> Result:
        """POST /customers/{id}/address: the customer is not checked (#2.57)."""
        with self.lock:
            data, refused, relink = self._address_request(params, caller)
            self._commit(relink)
            if data is None:
                return cast(Result, refused)
            owner = str(_mysql_id(route_id) or 0)
            kind = data["type"]
            has_primary = kind is not None and any(
                collation.equal(a["type"], kind) and a["is_primary"] == "1"
                for a in self._addresses(owner)
            )
            if not has_primary:
                data["is_primary"] = "1"
            address_id = self.counters[ADDRESS]
            stamp = self._stamp()
            memory: dict[str, Any] = {k: data[k] for k in ADDRESS_SANITIZED if k != "company_name"}
            if not _falsy(data["company_name"]):
                memory["meta"] = {"other_data": {"company_name": data["company_name"]}}
            memory.update(customer_id=route_id, updated_at=stamp, created_at=stamp, id=address_id)
            memory["formatted_address"] = _formatted_address({"meta": [], **memory})
            memory["company_name"] = _company(memory.get("meta", []))
            blank: dict[str, Any] = dict.fromkeys(ADDRESS_ORDER, "")
            blank.update(id=address_id, customer_id=owner, meta=[], created_at=stamp)
            row = self._address_row(data, blank)
            row.update(is_primary=str(_intval(data["is_primary"])), updated_at=stamp)
            self._commit(Change(rows=((ADDRESS, address_id, row),)))
            kind_name = "Billing" if kind == "billing" else "Shipping"
            return 200, {"message": f"{kind_name} address created successfully!", "data": memory}

    def update_address(self, params: Mapping[str, Any], caller: WpUser | None = None) -> Result:
        """PUT /customers/{id}/address: the body's `id` names the address, whatever the path."""
        with self.lock:
            data, refused, relink = self._address_request(params, caller)
            self._commit(relink)
            if data is None:
                return cast(Result, refused)
            if _falsy(params.get("id")):
                return _wp_error(403, "Please edit a valid address!")
            address_id = _mysql_id(params.get("id"))
            old = self.tables[ADDRESS].get(address_id) if address_id is not None else None
            if old is None or address_id is None:
                return _wp_error(404, "Address not found, please reload the page and try again!")
            row = self._address_row(data, old)
            row["is_primary"] = str(_intval(data["is_primary"]))
            if row != old:
                row["updated_at"] = self._stamp()
                self._commit(Change(rows=((ADDRESS, address_id, row),)))
            kind_name = "Billing" if old["type"] == "billing" else "Shipping"
            return 200, {
                "message": f"{kind_name} address updated successfully!",
                "data": self._address_item(row),
            }

    def delete_address(self, params: Mapping[str, Any]) -> Result:
        """DELETE /customers/{id}/address {"address": {"id": N}}."""
        with self.lock:
            address = params.get("address")
            raw = address.get("id", False) if isinstance(address, dict) else False
            if _falsy(raw):
                return _wp_error(403, "Please use a valid address ID!")
            address_id = _mysql_id(raw)
            row = self.tables[ADDRESS].get(address_id) if address_id is not None else None
            if row is None or address_id is None:
                return _wp_error(404, "Address not found in database, failed to remove.")
            if row["is_primary"] != "0":
                return _wp_error(403, "Primary address cannot be deleted!")
            if len(self._addresses_of.get(row["customer_id"], [])) <= 1:
                return _wp_error(403, "At least one address must remain. Address deletion failed!")
            self._commit(Change(rows=((ADDRESS, address_id, None),)))
            return 200, {"message": "Address successfully deleted.", "data": ""}

    def make_primary(self, route_id: str, params: Mapping[str, Any]) -> Result:
        """POST /customers/{id}/address/make-primary: clears every primary of the type first,
        so a call that then fails leaves the customer without one (#2.68, #2.69)."""
        with self.lock:
            address_id = _intval(params.get("addressId"))
            kind = params.get("type")
            kind = None if kind is None else self._sanitized(kind)
            stamp = self._stamp()
            rows: list[tuple[str, int, dict[str, Any] | None]] = []
            found = False
            for address in self._addresses(str(_mysql_id(route_id))):
                if kind is None or not collation.equal(address["type"], kind):
                    continue
                mine = address["id"] == address_id
                found = found or mine
                flag = "1" if mine else "0"
                rows.append((ADDRESS, address["id"], {**address, "is_primary": flag,
                                                      "updated_at": stamp}))  # fmt: skip
            self._commit(Change(rows=tuple(rows)))
            if not found:
                return _wp_error(400, "Address set as primary failed.")
            return 200, {"message": "Address successfully set as the primary", "data": ""}

    # ---- WordPress user links (API-2.md D) ----------------------------------------------------

    def _linked_user(self, user_id: int) -> dict[str, Any] | None:
        return next((r for r in self.customers.values() if r["user_id"] == str(user_id)), None)

    def attachable_users(self) -> Result:
        with self.lock:
            linked = {row["user_id"] for row in self.customers.values()}
            users = [
                {"ID": u.id, "display_name": u.display_name or u.login, "user_email": u.email}
                for u in sorted(self.users.values(), key=lambda u: u.id)
                if str(u.id) not in linked
            ]
            return 200, {"users": users}

    def attach_user(self, route_id: str, params: Mapping[str, Any]) -> Result:
        """POST /customers/{id}/attachable-user: AttachUserRequest, then the customer."""
        with self.lock:
            raw = params.get("user_id")
            user = self.users.get(abs(_intval(raw)))
            failed: dict[str, str] = {}
            if raw is None or raw == [] or (isinstance(raw, str) and php_trim(raw) == ""):
                failed["required"] = "User is required."
            elif not isinstance(raw, str):
                failed["string"] = "The user_id must be a string."
            elif len(raw) > 50:
                failed["maxLength"] = "The user_id must not be greater than 50 characters."
            # The closure sits at index 3 of the rule list, and runs whatever came before.
            if user is None:
                failed["3"] = "User not found."
            elif self._linked_user(user.id) is not None:
                failed["3"] = "User already linked to a customer."
            if failed:
                return 422, {"user_id": failed}
            row = self.customers.get(_mysql_id(route_id) or 0)
            if row is None:
                return 422, {"message": "Customer not found."}
            if _intval(row["user_id"]) in self.users:
                return 422, {"message": "Can not attach user"}
            self._set_user_id(row, str(abs(_intval(raw))))
            return 200, {"message": "User attached successfully"}

    def detach_user(self, route_id: str) -> Result:
        with self.lock:
            row = self.customers.get(_mysql_id(route_id) or 0)
            if row is None:
                return 422, {"message": "Customer not found."}
            self._set_user_id(row, "0")
            return 200, {"message": "User detached successfully"}

    def _set_user_id(self, row: dict[str, Any], user_id: str) -> None:
        if row["user_id"] != user_id:
            self._commit(Change(customer={**row, "user_id": user_id, "updated_at": self._stamp()}))

    # ---- checkout fields (API-2.md F) ---------------------------------------------------------

    def checkout_fields_settings(self) -> dict[str, Any]:
        with self.lock:
            option = self.checkout_fields
            if name_mode_of(fields_settings(option)) != self.name_mode:
                option = option_for(self.name_mode)  # a store started in a mode, not saved
            return fields_settings(option)

    def save_checkout_fields(self, params: Mapping[str, Any]) -> Result:
        with self.lock:
            try:
                option = saved_option(params.get("settings", []))
            except SettingsTypeError as exc:
                return _plugin_error(str(exc))
            self._commit(Change(checkout_fields=option))
            return 200, {"message": "Checkout fields has been updated successfully."}

    def _change_status(self, customer_ids: list[int], new_status: object) -> Result:
        """CustomerResource::updateStatus: `active` or `inactive` (Status.php)."""
        if not new_status:
            return _wp_error(403, "Please select status")
        if new_status not in ("active", "inactive"):
            return _wp_error(403, "Provided customer status is not valid")
        stamp = self._stamp()
        for customer_id in dict.fromkeys(customer_ids):
            row = self.customers.get(customer_id)
            if row is not None and row["status"] != new_status:
                self._commit(Change(customer={**row, "status": new_status, "updated_at": stamp}))
        return 200, {"message": "Customer Status has been changed", "data": ""}

    def list_customers(self, params: Mapping[str, Any], path: str) -> Result:
        with self.lock:
            per_page = self._per_page(params.get("per_page"))
            page = self._page(params.get("page"))
            search = params.get("search")
            sort_by = params.get("sort_by") if params.get("sort_by") in FILLABLE else "id"
            descending = str(params.get("sort_type") or "desc").lower() != "asc"
            begin, end = (page - 1) * per_page, page * per_page
            if sort_by == "id" and (search is None or str(search).strip() == ""):
                # Every customer by id (how fluentcart pages): the ids kept sorted between
                # requests, not a sort of the whole table per page (a store of 1,000,000).
                ids = self._sorted_ids()
                total = len(ids)
                if descending:
                    ids = ids[max(total - end, 0) : max(total - begin, 0)][::-1]
                else:
                    ids = ids[begin:end]
                chunk = [self._customers[i] for i in ids]
            else:
                rows = self._search(list(self.customers.values()), search)
                rows.sort(key=lambda r: r["id"])
                rows.sort(key=lambda r: self._sort_key(r, str(sort_by)), reverse=descending)
                total = len(rows)
                chunk = rows[begin:end]
            last_page = max(math.ceil(total / per_page), 1)
            wanted = params.get("with")
            relations = [r for r in wanted if r in RELATIONS] if isinstance(wanted, list) else []
            data = [self.serialize(row, relations=relations) for row in chunk]
            start = (page - 1) * per_page + 1 if data else None

            def url(n: int) -> str:
                return f"{path}/?page={n}"

            return 200, {
                "customers": {
                    "current_page": page,
                    "data": data,
                    "first_page_url": url(1),
                    "from": start,
                    "last_page": last_page,
                    "last_page_url": url(last_page),
                    "links": _links(page, last_page, url),
                    "next_page_url": url(page + 1) if page < last_page else None,
                    "path": path,
                    "per_page": per_page,
                    "prev_page_url": url(page - 1) if page > 1 else None,
                    "to": start + len(data) - 1 if start is not None else None,
                    "total": total,
                }
            }

    @staticmethod
    def _per_page(value: object) -> int:
        try:
            number = float(str(value))
        except ValueError:
            return 10
        return int(number) if 0 < number < 200 else 10

    @staticmethod
    def _page(value: object) -> int:
        try:
            number = int(str(value))
        except ValueError:
            return 1
        return number if number >= 1 else 1

    @staticmethod
    def _sort_key(row: Mapping[str, Any], column: str) -> Any:
        """ORDER BY the column: numbers as numbers, text in the table's collation."""
        value = row.get(column)
        if column == "id":
            return value
        if column in NUMERIC_COLUMNS:
            return Decimal(str(value or 0))
        return collation.sort_key(str(value or ""))

    def _search(self, rows: list[dict[str, Any]], raw: object) -> list[dict[str, Any]]:
        if raw is None or str(raw).strip() == "":
            return rows
        term = str(raw).strip()
        operator = re.match(r"^id\s*(=|!=|>|<|>=|<=|::)\s*(.*)$", term)
        if operator:
            op, value = operator.group(1), operator.group(2)
            return [row for row in rows if _id_matches(row["id"], op, value)]
        # CustomerFilter: the name LIKE with %, _ and \\ escaped; the email LIKE unescaped and
        # only for a term without a space; both in the table's collation.
        like_name = collation.like_pattern(term, escape=True)
        like_email = collation.like_pattern(term, escape=False) if " " not in term else None
        numeric = _numeric(term)
        fold = collation.fold
        matched = []
        for row in rows:
            if (
                like_name.search(fold(f"{row['first_name']} {row['last_name']}"))
                or (numeric and term in str(row["id"]))
                or (like_email is not None and like_email.search(fold(row["email"])))
            ):
                matched.append(row)
        return matched


def _id_matches(customer_id: int, op: str, value: str) -> bool:
    # The plugin lists '>' and '<' before '>=' and '<=', so `id>=250` reads as id > "=250",
    # which MySQL compares as id > 0 (API.md 8).
    if op in (">=", "<="):
        return op == ">="
    if op == "::":
        low, _, high = value.partition("-")
        return _intval(low) <= customer_id <= _intval(high)
    if "*" in value:
        pattern = re.escape(value).replace(r"\*", ".*")
        found = re.fullmatch(pattern, str(customer_id)) is not None
        return found if op == "=" else not found
    number = _intval(value) if _numeric(value) else 0
    return {
        "=": customer_id == number,
        "!=": customer_id != number,
        ">": customer_id > number,
        "<": customer_id < number,
    }[op]


def _links(current: int, last: int, url: Callable[[int], str]) -> list[dict[str, Any]]:
    """The paginator's `links`: previous, the UrlWindow of pages, next (API.md 8)."""
    on_each_side = 3
    window = on_each_side + 4
    pages: list[int | str]
    if last < on_each_side * 2 + 8:
        pages = list(range(1, last + 1))
    elif current <= window:
        pages = [*range(1, window + on_each_side + 1), "...", last - 1, last]
    elif current > last - window:
        pages = [1, 2, "...", *range(last - (window + on_each_side - 1), last + 1)]
    else:
        pages = [
            1,
            2,
            "...",
            *range(current - on_each_side, current + on_each_side + 1),
            "...",
            last - 1,
            last,
        ]
    links: list[dict[str, Any]] = [
        {
            "url": url(current - 1) if current > 1 else None,
            "label": "pagination.previous",
            "active": False,
        }
    ]
    for page in pages:
        if page == "...":
            links.append({"url": None, "label": "...", "active": False})
        else:
            links.append({"url": url(int(page)), "label": str(page), "active": page == current})
    links.append(
        {
            "url": url(current + 1) if current < last else None,
            "label": "pagination.next",
            "active": False,
        }
    )
    return links


__all__ = ["FIRST_LAST", "FULL_NAME", "ROW_ORDER", "Change", "Store", "WpUser"]
