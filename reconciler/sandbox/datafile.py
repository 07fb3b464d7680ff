"""The sandbox's data file (`fluentcart sandbox --data FILE`): its store on disk.

Only this module reads and writes it. The format is JSON lines, each line ending in "\\n":

    {"format": "fluentcart-sandbox", "version": 2, "name_mode": "full_name", "next_id": 4}
    {"user": {"id": 1, "login": "admin", ...}}
    {"customer": {"id": 3, "user_id": "0", "email": ..., "updated_at": ...}}
    {"customer": {...}, "user": {...}}
    {"deleted": [2]}
    {"rows": [["label", 1, {"id": 1, "value": "VIP", ...}], ["address", 4, null]]}
    {"counters": {"label": 5, "label_link": 9, "address": 11}}
    {"checkout_fields": {"basic_info": {...}}}

The first line is the header; every other line is one Change (store.py), a later one replacing
what an earlier one said. `rows` hold the other tables (labels, label relationships,
addresses; null deletes a row), `counters` their next ids. A version 1 file (customers and
users only) is read and rewritten as version 2. Each request's change is appended as one line and fsynced before the
request is answered, so a change that was answered is on disk. At start-up the file is read,
and rewritten atomically (`atomicfile.py`) with one line per user and customer when it holds
more. A sandbox killed while appending leaves a last line without its newline, a change it
never answered: that line is dropped. Any other damage is an error naming the file and line.

One sandbox at a time: the file is held with an exclusive `flock` while it is open.
"""

import fcntl
import json
import os
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.atomicfile import write_atomic
from reconciler.errors import FluentCartError
from reconciler.sandbox.store import (
    FIRST_LAST,
    FULL_NAME,
    ROW_ORDER,
    TABLES,
    Change,
    Store,
    WpUser,
)

FORMAT = "fluentcart-sandbox"
VERSION = 2
HEADER_KEYS = {"format", "version", "name_mode", "next_id"}
RECORD_KEYS = {"customer", "user", "deleted", "next_id", "rows", "counters", "checkout_fields"}
COLUMNS = set(ROW_ORDER)
USER_FIELDS = {f.name for f in fields(WpUser)}
OPTIONAL_USER_FIELDS = {"app_password", "login_password"}
# Fields a file written before they existed lacks (the WpUser default applies).
LATER_USER_FIELDS = {"nickname"}


class DataFileError(FluentCartError):
    """The data file cannot be read, used or written."""


class DataFile:
    """An open data file: the store it holds, and the changes appended as they are made.

    Open it with `DataFile.open`; it records the store's changes until it is closed.
    """

    def __init__(self, path: Path, store: Store, fd: int, created: bool) -> None:
        self.path = path
        self.store = store
        self.created = created
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._unusable: DataFileError | None = None
        store.on_change = self.record

    @classmethod
    def open(cls, path: Path, site_url: str, new_store: Callable[[], Store]) -> "DataFile":
        """The store in `path` (answering as `site_url`), or, when `path` is missing, the one
        `new_store` builds, written there first."""
        if not path.exists():
            store = new_store()
            _write(path, store)
            return cls(path, store, _hold(path), created=True)
        fd = _hold(path)
        try:
            store, records, torn, version = _read(path, site_url)
            if torn or version < VERSION or records > len(_records(store)):
                _write(path, store)
                replaced, fd = fd, _hold(path)
                os.close(replaced)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, store, fd, created=False)

    def record(self, change: Change) -> None:
        """Append `change` and fsync it (the store calls this under its lock, so one at a time).

        On failure the file is cut back to what it held, so it stays whole.
        """
        if self._unusable is not None:
            raise self._unusable
        data = _line(_record(change))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:
            error = DataFileError(f"{self.path}: cannot write the sandbox store: {_reason(exc)}")
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                self._unusable = error  # a partial line stays: nothing may be appended to it
            raise error from None
        self._size += len(data)

    def close(self) -> None:
        self.store.on_change = None
        os.close(self._fd)

    def __enter__(self) -> "DataFile":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _hold(path: Path) -> int:
    """Open `path` for appending and take its flock; refused while another sandbox holds it."""
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise DataFileError(f"{path}: cannot open the sandbox store: {_reason(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataFileError(
                f"{path}: another sandbox is using this store; stop it first"
            ) from None
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            return fd
        os.close(fd)  # another sandbox rewrote it while we opened it: hold the new file


# ---- writing ------------------------------------------------------------------------------


def _line(value: dict[str, Any]) -> bytes:
    # ASCII escapes keep every line free of raw line breaks, and encodable whatever the text.
    return json.dumps(value, separators=(",", ":")).encode("ascii") + b"\n"


def _record(change: Change) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if change.customer is not None:
        record["customer"] = change.customer
    if change.user is not None:
        record["user"] = asdict(change.user)
    if change.deleted:
        record["deleted"] = list(change.deleted)
    if change.next_id is not None:
        record["next_id"] = change.next_id
    if change.rows:
        record["rows"] = [list(row) for row in change.rows]
    if change.counters:
        record["counters"] = dict(change.counters)
    if change.checkout_fields is not None:
        record["checkout_fields"] = change.checkout_fields
    return record


def _records(store: Store) -> list[dict[str, Any]]:
    """The records of a rewritten file: one per user, customer and row, then the counters and
    the checkout-field option."""
    records: list[dict[str, Any]] = [{"user": asdict(user)} for user in store.users.values()]
    records += [{"customer": row} for row in store.customers.values()]
    records += [
        {"rows": [[table, row_id, row]]}
        for table in TABLES
        for row_id, row in store.tables[table].items()
    ]
    records.append({"counters": dict(store.counters)})
    if store.checkout_fields is not None:
        records.append({"checkout_fields": store.checkout_fields})
    return records


def _write(path: Path, store: Store) -> None:
    header = {
        "format": FORMAT,
        "version": VERSION,
        "name_mode": store.name_mode,
        "next_id": store.next_id,
    }
    lines = [_line(header)] + [_line(record) for record in _records(store)]
    try:
        write_atomic(path, b"".join(lines))
    except OSError as exc:
        raise DataFileError(f"{path}: cannot write the sandbox store: {_reason(exc)}") from None


# ---- reading ------------------------------------------------------------------------------


def _read(path: Path, site_url: str) -> tuple[Store, int, bool, int]:
    """The store in `path`, how many records built it, whether a torn last line was dropped,
    and the file's version."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read the sandbox store: {_reason(exc)}") from None
    lines = data.split(b"\n")
    # A last line without its newline was being appended when the sandbox died: unanswered.
    tail = lines.pop() if len(lines) > 1 else b""
    torn = tail != b""
    if not lines[0].strip():
        raise DataFileError(f"{path}: empty; not a sandbox store (remove it to start a new one)")
    header = _parse(path, 1, lines[0])
    store = _header(path, header, site_url)
    for number, line in enumerate(lines[1:], start=2):
        store.apply(_change(path, number, _parse(path, number, line)))
    return store, len(lines) - 1, torn, header["version"]


def _parse(path: Path, number: int, line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise DataFileError(
            f"{path}:{number}: damaged sandbox store: not JSON ({detail})"
        ) from None


def _header(path: Path, value: Any, site_url: str) -> Store:
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise DataFileError(
            f'{path}:1: not a sandbox store (its first line is {{"format": "{FORMAT}", ...}})'
        )
    version = value.get("version")
    if type(version) is int and version > VERSION:
        raise DataFileError(
            f"{path}: sandbox store version {version} is newer than this fluentcart reads"
            f" ({VERSION})"
        )
    if (
        set(value) != HEADER_KEYS
        or type(version) is not int
        or version not in (1, VERSION)
        or value["name_mode"] not in (FULL_NAME, FIRST_LAST)
        or not _positive(value["next_id"])
    ):
        raise DataFileError(
            f'{path}:1: damaged sandbox store: expected {{"format": "{FORMAT}", "version":'
            f' {VERSION}, "name_mode": "{FULL_NAME}" or "{FIRST_LAST}", "next_id": N}}'
        )
    store = Store(site_url, value["name_mode"])
    store.next_id = value["next_id"]
    return store


def _change(path: Path, number: int, value: Any) -> Change:
    def damaged(problem: str) -> DataFileError:
        return DataFileError(f"{path}:{number}: damaged sandbox store: {problem}")

    if not isinstance(value, dict) or not value or not set(value) <= RECORD_KEYS:
        raise damaged(f"expected a record with any of {', '.join(sorted(RECORD_KEYS))}")
    customer, user = value.get("customer"), value.get("user")
    deleted, next_id = value.get("deleted", []), value.get("next_id")
    if customer is not None and (
        not isinstance(customer, dict) or set(customer) != COLUMNS or not _positive(customer["id"])
    ):
        raise damaged("expected a customer with exactly the stored columns and a positive id")
    if user is not None and not _user_shape(user):
        raise damaged(f"expected a user with exactly {', '.join(sorted(USER_FIELDS))}")
    if not isinstance(deleted, list) or not all(_positive(i) for i in deleted):
        raise damaged("expected deleted to be a list of customer ids")
    if next_id is not None and not _positive(next_id):
        raise damaged("expected next_id to be a positive whole number")
    rows, counters = value.get("rows", []), value.get("counters", {})
    checkout_fields = value.get("checkout_fields")
    if not isinstance(rows, list) or not all(_row_shape(row) for row in rows):
        raise damaged(f"expected rows to be [table, id, row or null] with a table of {TABLES}")
    if not isinstance(counters, dict) or not all(
        table in TABLES and _positive(n) for table, n in counters.items()
    ):
        raise damaged("expected counters to map tables to positive whole numbers")
    if checkout_fields is not None and not isinstance(checkout_fields, dict):
        raise damaged("expected checkout_fields to be an object")
    return Change(
        customer=customer,
        user=WpUser(**user) if user is not None else None,
        deleted=tuple(deleted),
        next_id=next_id,
        rows=tuple((table, row_id, row) for table, row_id, row in rows),
        counters=tuple(counters.items()),
        checkout_fields=checkout_fields,
    )


def _row_shape(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and value[0] in TABLES
        and _positive(value[1])
        and (value[2] is None or (isinstance(value[2], dict) and value[2].get("id") == value[1]))
    )


def _user_shape(value: Any) -> bool:
    if (
        not isinstance(value, dict)
        or not USER_FIELDS - LATER_USER_FIELDS <= set(value) <= USER_FIELDS
        or not _positive(value["id"])
    ):
        return False
    return all(
        isinstance(value[name], str) or (name in OPTIONAL_USER_FIELDS and value[name] is None)
        for name in set(value) - {"id"}
    )


def _positive(value: Any) -> bool:
    return type(value) is int and value > 0  # not a bool, which JSON's true would give
