"""The state's JSON file format (schemas/state.schema.json): canonical bytes, and parsing.

Canonical: sorted keys, customers in id order, two-space indentation, one trailing newline,
so the same content always gives the same bytes and git diffs stay small.
"""

import hashlib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Annotated, Any, BinaryIO, ClassVar

import msgspec
from msgspec.structs import force_setattr

from reconciler import jsonschemas, jsontext
from reconciler.errors import StateError
from reconciler.fields import SHARED_FIELDS
from reconciler.labels import Catalog
from reconciler.state import PLAN_FIELDS, CustomerRecord, StateFile
from reconciler.workspace import NameMode

# 2: labels (a catalog beside the customers, titles in records); 3: addresses (in records).
# An older file reads as a state that has not read labels or addresses yet, and is written
# back as version 3.
FORMAT_VERSION = 3


def _slim_customer(obj: dict[str, Any]) -> dict[str, Any]:
    # A recorded customer, not one of its addresses (which have an id and an email too).
    if "id" in obj and "email" in obj and "observed" not in obj and "primary" not in obj:
        return {key: obj[key] for key in PLAN_FIELDS if key in obj}
    return obj


_HEAD_KEYS = ("format_version", "lineage", "serial", "tool_version", "site", "name_mode", "labels")


class SlimObserved(msgspec.Struct, frozen=True, eq=False, gc=False):
    """What a slim read keeps of a recorded customer: its PLAN_FIELDS, read only, as a
    mapping (fields the record does not have are not in it). One compact object instead
    of a dict per customer: a plan of 1,000,000 customers holds a million of them. Not
    tracked by the cyclic collector (gc=False: 16 bytes less each): it holds texts, numbers
    and lists of them, never anything that refers back to it."""

    _keys: ClassVar[frozenset[str]] = frozenset()

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._keys:
            value = getattr(self, key)
            if value is not msgspec.UNSET:
                return value
        return default

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, msgspec.UNSET)
        if value is msgspec.UNSET:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, msgspec.UNSET) is not msgspec.UNSET

    def keys(self) -> list[str]:
        return [k for k in self.__struct_fields__ if getattr(self, k) is not msgspec.UNSET]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.keys()]

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in self.keys()]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


Mapping.register(SlimObserved)


def _slim_record(record: Any) -> CustomerRecord:
    """A decoded slim record, its shared values (the field table's) and its time interned:
    one string object each, not one a record."""
    observed = record.observed
    for name in SHARED_FIELDS:
        value = getattr(observed, name)
        if type(value) is str:
            force_setattr(observed, name, sys.intern(value))
    return CustomerRecord(
        observed, sys.intern(record.observed_at), record.last_applied or _NEVER_APPLIED
    )


# The last_applied of every slim record that has none (an imported customer's): one empty
# mapping, not an empty dict a record. Records are never changed (state.CustomerRecord).
_NEVER_APPLIED: dict[str, Any] = {}


def _annotation(key: str, allowed: frozenset[type]) -> Any:
    """The msgspec type of an observed field the schema types (what surely_valid checks)."""
    if key == "id":
        return Annotated[int, msgspec.Meta(ge=1)]
    if key == "addresses":
        return list[dict[str, Any]]  # checked row by row (_addresses)
    choices: list[Any] = []
    for python_type, typed in ((str, str), (int, int), (list, list[str]), (dict, dict[str, Any])):
        if python_type in allowed:
            choices.append(typed)
    if type(None) in allowed:
        choices.append(None)
    union: Any = choices[0]
    for choice in choices[1:]:
        union = union | choice if choice is not None else union | None
    return union


@cache
def _slim_types() -> tuple[Any, Any]:
    """(the record type, the document type) a slim read decodes into, their types taken from
    schemas/state.schema.json; tests/test_state.py checks the schema types no observed field
    beyond PLAN_FIELDS (which this read skips)."""
    _, observed_types, applied_types = _record_rules()
    fields: list[Any] = []
    for key in sorted(PLAN_FIELDS, key=lambda k: k != "id"):  # id first: it has no default
        typed = observed_types.get(key)
        annotation = _annotation(key, typed) if typed is not None else Any
        fields.append((key, annotation) if key == "id" else (key, annotation, msgspec.UNSET))
    observed = msgspec.defstruct(
        "RecordedForPlan", fields, bases=(SlimObserved,), frozen=True, eq=False, gc=False
    )
    observed._keys = frozenset(PLAN_FIELDS)  # type: ignore[attr-defined]
    value: Any = _annotation("last_applied", applied_types)
    applied: Any = dict[str, value]
    record = msgspec.defstruct(
        "SlimRecord",
        [("observed", observed), ("observed_at", str), ("last_applied", applied)],
        forbid_unknown_fields=True,
    )
    document = msgspec.defstruct(
        "SlimState",
        [
            ("customers", dict[str, record]),  # type: ignore[valid-type]
            *((key, Any, msgspec.UNSET) for key in _HEAD_KEYS),
        ],
        forbid_unknown_fields=True,
    )
    return record, document


@cache
def _slim_decoder() -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(_slim_types()[1])


def _slim_state(data: bytes) -> StateFile | None:
    """The state a slim parse gives, decoded fast and typed by msgspec as it decodes: only
    what a plan reads of each record is built (the other observed fields are skipped by the
    parser, about half the file). None when anything is out of place (an unknown key, a
    type the schema refuses, a bad id): the standard decoder then reads the bytes and says
    what is wrong. The checks are those of surely_valid, never fewer.

    One difference from the standard decoder, for hand-edited files only: a number out of a
    float's range in an observed field that plans do not read is skipped, not refused (the
    commands that read the whole state refuse it)."""
    try:
        decoded = _slim_decoder().decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    head = {key: getattr(decoded, key) for key in _HEAD_KEYS}
    head = {key: value for key, value in head.items() if value is not msgspec.UNSET}
    if not jsonschemas.is_valid("state", {**head, "customers": {}}):
        return None
    customers: dict[int, CustomerRecord] = {}
    if not _take_slim(decoded.customers, customers):
        return None
    return _state_of(head, customers, hashlib.sha256(data).hexdigest())


def _take_slim(decoded: dict[str, Any], customers: dict[int, CustomerRecord]) -> bool:
    """Slim records decoded by id into `customers`; False at the first the schema refuses
    (an id that is not one, an address row out of shape): what msgspec's types leave."""
    address_rules = _address_rules()
    for cid, record in decoded.items():
        if not (cid.isascii() and cid.isdigit() and cid[0] != "0"):
            return False
        rows = record.observed.addresses
        if rows is not msgspec.UNSET and not _addresses(rows, address_rules):
            return False
        customers[int(cid)] = _slim_record(record)
    return True


_CUSTOMERS_OPEN = b',\n  "customers": {\n    "'
_BETWEEN = b'\n    },\n    "'  # one record's end and the next one's id: only at depth 2
_END = b"\n    }\n  }\n}\n"
_STREAM_CHUNK = 8 * 1024 * 1024
_MAX_HEAD = 64 * 1024 * 1024  # the metadata (with the label catalogue) before the customers


@cache
def _records_decoder() -> msgspec.json.Decoder[Any]:
    record: Any = _slim_types()[0]
    return msgspec.json.Decoder(dict[str, record])


@jsontext.many_objects()
def parse_streamed(handle: BinaryIO) -> StateFile | None:
    """A slim state read from an open canonical state file a chunk at a time, so that the
    file's bytes are never all in memory (1.3 GB for 1,000,000 customers); what `parse` with
    `slim` gives, or None for anything else (another layout, an error: the caller then
    reads the whole file as before, which says what is wrong).

    The canonical layout (serialize) puts the metadata first and then one record after
    another, each opened by `\n    "<id>": {` and closed by `\n    }`, four spaces in; JSON
    text holds no raw newline, so `\n    },\n    "` only ever separates two records."""
    digest = hashlib.sha256()
    buffer = b""
    head_end = -1
    while head_end < 0:
        chunk = handle.read(_STREAM_CHUNK)
        if not chunk:
            return None
        digest.update(chunk)
        buffer += chunk
        head_end = buffer.find(_CUSTOMERS_OPEN)
        if head_end < 0 and len(buffer) > _MAX_HEAD:
            return None  # no customers where a canonical file has them
    try:
        head = msgspec.json.decode(buffer[:head_end] + b"\n}")
    except msgspec.DecodeError:
        return None
    if type(head) is not dict or "customers" in head:
        return None
    if not jsonschemas.is_valid("state", {**head, "customers": {}}):
        return None
    buffer = buffer[head_end + len(_CUSTOMERS_OPEN) - 1 :]  # from the first id's quote
    decode = _records_decoder().decode
    customers: dict[int, CustomerRecord] = {}

    def take(records: bytes) -> bool:
        try:
            decoded = decode(b"{" + records + b"}")
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False
        return _take_slim(decoded, customers)

    while True:
        chunk = handle.read(_STREAM_CHUNK)
        digest.update(chunk)
        buffer += chunk
        if not chunk:
            if not buffer.endswith(_END) or not take(buffer[: -len(_END) + 6]):
                return None
            break
        cut = buffer.rfind(_BETWEEN)
        if cut >= 0:
            if not take(buffer[: cut + 6]):
                return None
            buffer = buffer[cut + len(_BETWEEN) - 1 :]
    return _state_of(head, customers, digest.hexdigest())


@jsontext.many_objects()
def parse(data: bytes, shown: str, hint: str = "", slim: bool = False) -> StateFile:
    """A state from the bytes of a state file; StateError, naming `shown`, when unusable.

    `slim` keeps only the fields a plan reads of each recorded customer, for read-only
    commands on large states (a state is never written from a slim load). `hint` ends the
    message of a file that does not parse (where an older copy is).
    """
    if slim:
        fast = _slim_state(data)
        if fast is not None:
            return fast
    try:
        document = (
            json.loads(
                data.decode("utf-8"),  # no name keeps the text alive past the decoding
                object_hook=_slim_customer,
                parse_constant=jsontext.refuse_constant,
                parse_float=jsontext.finite_float,
            )
            if slim
            else jsontext.loads(data.decode("utf-8"))
        )
    except UnicodeDecodeError:
        raise StateError(f"{shown}: the state file is not UTF-8 text{hint}") from None
    except json.JSONDecodeError as exc:
        raise StateError(
            f"{shown}:{exc.lineno}:{exc.colno}: the state file is not valid JSON ({exc.msg}){hint}"
        ) from None
    except ValueError as exc:
        raise StateError(f"{shown}: the state file is not valid JSON ({exc}){hint}") from None
    errors = (
        []
        if surely_valid(document) or jsonschemas.is_valid("state", document)
        else jsonschemas.iter_errors("state", document)
    )
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise StateError(
            f"{shown}: the state file does not match schemas/state.schema.json at {where}:"
            f" {first.message[:200]}"
        )
    customers = {
        int(cid): CustomerRecord(r["observed"], r["observed_at"], r["last_applied"])
        for cid, r in document["customers"].items()
    }
    return _state_of(document, customers, hashlib.sha256(data).hexdigest())


def _state_of(
    head: Mapping[str, Any], customers: dict[int, CustomerRecord], sha256: str
) -> StateFile:
    """A state from its checked metadata and records (every read of a state file)."""
    mode = head["name_mode"]
    return StateFile(
        lineage=head["lineage"],
        serial=head["serial"],
        site=head["site"],
        name_mode=NameMode(mode) if mode else None,
        tool_version=head["tool_version"],
        labels=Catalog.from_json(head.get("labels")),
        customers=customers,
        sha256=sha256,
    )


_JSON_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "integer": frozenset({int}),  # `type(x) is int` leaves out True and False, as the schema does
    "null": frozenset({type(None)}),
    "array": frozenset({list}),  # of strings, checked apart
    "object": frozenset({dict}),  # last_applied addresses (type -> list), any content
}


@cache
def _record_rules() -> tuple[frozenset[str], dict[str, frozenset[type]], frozenset[type]]:
    """From schemas/state.schema.json: a record's keys, the types of the observed fields it
    types, and the types of last_applied's values."""
    record = jsonschemas.load_schema("state")["$defs"]["record"]
    properties = record["properties"]

    def types(rule: dict[str, Any]) -> frozenset[type]:
        names = rule["type"] if isinstance(rule["type"], list) else [rule["type"]]
        return frozenset().union(*(_JSON_TYPES[name] for name in names))

    observed = {key: types(rule) for key, rule in properties["observed"]["properties"].items()}
    return (
        frozenset(properties),
        observed,
        types(properties["last_applied"]["additionalProperties"]),
    )


def surely_valid(document: Any) -> bool:
    """True only for a document that schemas/state.schema.json accepts, checked in a few
    microseconds per customer where the compiled schema takes 16 (two thirds of reading a
    state of 100,000 customers). False means "ask the schema", which also gives the message;
    tests/test_state.py checks that it never accepts what the schema refuses."""
    if type(document) is not dict or type(document.get("customers")) is not dict:
        return False
    head = {key: value for key, value in document.items() if key != "customers"}
    if not jsonschemas.is_valid("state", {**head, "customers": {}}):
        return False
    keys, observed_types, applied_types = _record_rules()
    address_rules = _address_rules()
    for cid, record in document["customers"].items():
        if not (cid.isascii() and cid.isdigit() and cid[0] != "0"):
            return False
        if type(record) is not dict or record.keys() != keys:
            return False
        observed, applied = record["observed"], record["last_applied"]
        if type(observed) is not dict or type(applied) is not dict:
            return False
        if type(record["observed_at"]) is not str:
            return False
        customer_id = observed.get("id")
        if type(customer_id) is not int or customer_id < 1:
            return False
        for key, allowed in observed_types.items():
            if key == "addresses":
                if key in observed and not _addresses(observed[key], address_rules):
                    return False
                continue
            if key in observed and (
                type(observed[key]) not in allowed or not _strings(observed[key])
            ):
                return False
        if any(
            type(value) not in applied_types or not _strings(value) for value in applied.values()
        ):
            return False
    return True


@cache
def _address_rules() -> tuple[frozenset[str], frozenset[str]]:
    """A recorded address's required keys and its allowed keys (the schema's)."""
    address = jsonschemas.load_schema("state")["$defs"]["address"]
    return frozenset(address["required"]), frozenset(address["properties"])


def _addresses(rows: object, rules: tuple[frozenset[str], frozenset[str]]) -> bool:
    """A record's addresses as the schema takes them: id, type, primary, status, and text."""
    required, allowed = rules
    if type(rows) is not list:
        return False
    for row in rows:
        if type(row) is not dict or not required <= row.keys() or not row.keys() <= allowed:
            return False
        if type(row["id"]) is not int or row["id"] < 1 or type(row["primary"]) is not bool:
            return False
        if any(type(v) is not str for k, v in row.items() if k not in ("id", "primary")):
            return False
    return True


def _strings(value: object) -> bool:
    """A list holds only strings (and anything else is not a list)."""
    return type(value) is not list or all(type(item) is str for item in value)


_HEAD_NAME_MODE = re.compile(r'^  "name_mode": (null|"full_name"|"first_last"),?$', re.MULTILINE)


def name_mode_in_head(head: str) -> tuple[bool, NameMode | None]:
    """(found, the name mode) from the first bytes of a canonical state file, whose sorted
    metadata keys come before `customers`; not found for anything else."""
    match = _HEAD_NAME_MODE.search(head.split('"customers"', 1)[0])
    if match is None:
        return False, None
    value = json.loads(match.group(1))
    return True, NameMode(value) if value else None


@jsontext.many_objects()
def serialize(state: StateFile) -> bytes:
    """The canonical bytes of a state file: what json.dumps(indent=2, sort_keys=True,
    ensure_ascii=False) writes, but with the customers in id order (sort_keys would order
    ids as text, "10" before "9"). Each record is encoded compactly by the C encoder and the
    whole laid out at once (jsontext.indented), several times faster than the pure-Python
    indenting encoder, with the same bytes (tests/test_statefile.py)."""
    document = {
        "format_version": FORMAT_VERSION,
        "serial": state.serial,
        "tool_version": state.tool_version,
        "lineage": state.lineage,
        "site": state.site,
        "name_mode": str(state.name_mode) if state.name_mode else None,
    }
    if state.labels is not None:
        document["labels"] = state.labels.to_json()
    head = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    records = ",".join(
        f'"{cid}":'
        + jsontext.compact(
            {
                "last_applied": record.last_applied,
                "observed": record.observed,
                "observed_at": record.observed_at,
            }
        )
        for cid, record in sorted(state.customers.items())
    )
    customers = jsontext.indented(("{" + records + "}").encode("utf-8"))
    return (
        head[:-2].encode("utf-8")
        + b',\n  "customers": '
        + customers.replace(b"\n", b"\n  ")
        + b"\n}\n"
    )


@jsontext.many_objects()
def canonical_sha256(state: StateFile) -> str:
    """A digest of everything a state holds but its tool version, the same from every
    backend and far cheaper than hashing `serialize`: what `state migrate` compares to
    verify a copy."""
    document = {**state.content(), "serial": state.serial}
    return hashlib.sha256(jsontext.digest_form(document)).hexdigest()
