"""FluentCart's customer model as the real plugin behaves (API.md sections 7 to 11).

Every operation returns `(status, body)`; the HTTP layer only encodes. The behaviour follows
the recordings, including the traps: full replacement on PUT, the body-`id` email check,
unlinking on an omitted `user_id`, the linked-customer email lock, the last-space name
split, 422 for text that needs cleaning versus silent cleaning, string-typed numbers, and
`updated_at` that moves only when a column really changes.
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

from reconciler.sandbox.geo import country_name, state_name
from reconciler.wordpress import is_email, php_trim, sanitize_text_field, split_full_name

Body = Any
Result = tuple[int, Body]

FULL_NAME = "full_name"
FIRST_LAST = "first_last"

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
    "administrator": {"customers/view", "customers/manage", "customers/delete", "store/sensitive"},
    "manager": {"customers/view", "customers/manage", "customers/delete"},
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


class PluginException(Exception):
    """A PHP TypeError in the plugin: HTTP 500 `plugin_exception`."""


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


def _sanitize_email(value: str) -> str:
    """WordPress sanitize_email for values that already passed is_email: trimmed as is."""
    return php_trim(value)


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
        self.customers: dict[int, dict[str, Any]] = {}
        self.next_id = 1
        self.clock = clock
        self.lock = threading.RLock()
        # Called under the lock with each change before the store makes it; when it raises,
        # the store stays as it was (the data file must hold a change before it is answered).
        self.on_change: Callable[[Change], None] | None = None

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

    def serialize(self, row: Mapping[str, Any], labels: bool = False) -> dict[str, Any]:
        """A stored customer as GET (labels=True), PUT and the list return it."""
        out: dict[str, Any] = {}
        for key in ROW_ORDER:
            out[key] = row[key]
            if key == "updated_at" and labels:
                out["selected_labels"] = []
        out.update(self._computed(row))
        if labels:
            out["labels"] = []
        return out

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
            self.customers[customer_id] = row
            self.next_id = max(self.next_id, customer_id + 1)
            return row

    # ---- changes ----------------------------------------------------------------------------

    def apply(self, change: Change) -> None:
        """Make `change`: one a request decided, or one a data file recorded."""
        with self.lock:
            if change.customer is not None:
                customer_id = change.customer["id"]
                self.customers[customer_id] = change.customer
                self.next_id = max(self.next_id, customer_id + 1)
            if change.user is not None:
                self.users[change.user.id] = change.user
            for customer_id in change.deleted:
                self.customers.pop(customer_id, None)
            if change.next_id is not None:
                self.next_id = change.next_id

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
        self._text_rules(errors, params, "city", "City", nullable=True, max_length=False)
        self._text_rules(errors, params, "email", "Email", required=True, email=True)
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
        max_length: bool = True,
    ) -> None:
        value = params.get(field)
        failed: dict[str, str] = {}
        if required and (value is None or php_trim(_php_string(value)) == ""):
            errors[field] = {"required": f"{label} is required."}
            return
        if nullable and _falsy(value):
            return
        if value is None:
            return
        text = php_trim(_php_string(value))
        if sanitize_text_field(text) != text:
            failed["sanitizeText"] = f"The {field} must be a valid text"
        if email and not is_email(text):
            failed["email"] = "Email must be a valid email address."
        if max_length and len(text.encode("utf-8")) > 255:
            failed["maxLength"] = f"The {field} must not be greater than 255 characters."
        if (
            email
            and not failed
            and self._email_taken(_sanitize_email(text), _intval(params.get("id")))
        ):
            failed["exist"] = "Email already exists."
        if failed:
            errors[field] = failed

    def _email_taken(self, email: str, except_id: int) -> bool:
        lowered = email.lower()
        return any(
            row["email"].lower() == lowered and cid != except_id
            for cid, row in self.customers.items()
        )

    # ---- sanitizing (CustomerRequest::sanitize, API.md 10.2) ----------------------------------

    def _pick(self, params: Mapping[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key in PICKED:
            value = params.get(key)
            if value is None:
                data[key] = None
            elif key == "user_id":
                data[key] = _intval(value)
            elif key == "email":
                data[key] = _sanitize_email(_php_string(value))
            elif key == "user_url":
                data[key] = _php_string(value).strip()
            else:
                data[key] = sanitize_text_field(_php_string(value))
        return data

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

    def find(self, customer_id: int, debug_info: dict[str, Any]) -> Result:
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
            return 200, {"customer": self.serialize(row, labels=True)}

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
            stored = self.customers.get(int(route_id)) if route_id.isdigit() else None
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

    def _sync_user(self, user: WpUser, data: Mapping[str, Any], stored_email: str) -> None:
        """wp_update_user for a linked customer: names always, the login email for admins."""
        first, last = data.get("first_name") or "", data.get("last_name") or ""
        if first:
            user.first_name = first
        if last:
            user.last_name = last
        display = php_trim(f"{first} {last}")
        if display:
            user.display_name = display
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
                "user_id": linked.id if linked else None,
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
            self._commit(Change(customer=row, next_id=customer_id + 1))
            return 200, {"message": "Customer created successfully!", "data": memory}

    def bulk_action(self, params: Mapping[str, Any]) -> Result:
        """POST /customers/do-bulk-action: only `delete_customers` (API.md 4; it also deletes
        the customers' orders on a real store). No recording shows its answer: the message
        wording here is the sandbox's own."""
        with self.lock:
            if params.get("action") != "delete_customers":
                return 422, {"message": "Invalid action"}
            ids = params.get("customer_ids")
            if not isinstance(ids, list) or not ids:
                return 422, {"message": "Please select customers"}
            deleted = tuple(_intval(value) for value in ids if _intval(value) in self.customers)
            self._commit(Change(deleted=deleted))
            return 200, {"message": "Selected customers have been deleted"}

    def list_customers(self, params: Mapping[str, Any], path: str) -> Result:
        with self.lock:
            per_page = self._per_page(params.get("per_page"))
            page = self._page(params.get("page"))
            rows = self._search(list(self.customers.values()), params.get("search"))
            sort_by = params.get("sort_by") if params.get("sort_by") in FILLABLE else "id"
            descending = str(params.get("sort_type") or "desc").lower() != "asc"
            rows.sort(key=lambda r: r["id"])
            rows.sort(key=lambda r: self._sort_key(r, str(sort_by)), reverse=descending)
            total = len(rows)
            last_page = max(math.ceil(total / per_page), 1)
            chunk = rows[(page - 1) * per_page : page * per_page]
            data = [self.serialize(row) for row in chunk]
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
        value = row.get(column)
        if column == "id":
            return value
        if column in NUMERIC_COLUMNS:
            return Decimal(str(value or 0))
        return str(value or "").lower()

    def _search(self, rows: list[dict[str, Any]], raw: object) -> list[dict[str, Any]]:
        if raw is None or str(raw).strip() == "":
            return rows
        term = str(raw).strip()
        operator = re.match(r"^id\s*(=|!=|>|<|>=|<=|::)\s*(.*)$", term)
        if operator:
            op, value = operator.group(1), operator.group(2)
            return [row for row in rows if _id_matches(row["id"], op, value)]
        escaped = re.escape(term.lower())
        like_name = re.compile(escaped)
        like_email = re.compile(_like_to_regex(term.lower())) if " " not in term else None
        numeric = _numeric(term)
        matched = []
        for row in rows:
            name = f"{row['first_name']} {row['last_name']}".lower()
            if (
                like_name.search(name)
                or (numeric and term in str(row["id"]))
                or (like_email is not None and like_email.search(row["email"].lower()))
            ):
                matched.append(row)
        return matched


def _like_to_regex(term: str) -> str:
    """An unescaped SQL LIKE %term%: `_` and `%` are wildcards."""
    out = []
    for char in term:
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return "".join(out)


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
