"""The state model: what fluentcart last saw of each managed customer.

Plain data. The JSON file format is `statefile.py`; where a state is kept (a file, a
database) is `storage/`.
"""

import hashlib
import json
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler import __version__
from reconciler.fields import MANAGED_FIELDS
from reconciler.labels import Catalog
from reconciler.workspace import NameMode

# In a record's last_applied: the email of the declaration without an id that apply created
# the customer from (`fluentcart fmt --write-ids` writes the id into it).
CREATED_FROM = "fluentcart:created"


@dataclass(slots=True, frozen=True)
class CustomerRecord:
    """One recorded customer. Never changed once made (a new record replaces it), so a
    working copy of a state shares its records with the state it was copied from."""

    observed: dict[str, Any]
    observed_at: str
    last_applied: Mapping[str, Any] = field(default_factory=dict)

    @property
    def created_from(self) -> str | None:
        value = self.last_applied.get(CREATED_FROM)
        return value if isinstance(value, str) else None


@dataclass
class StateFile:
    lineage: str
    serial: int
    site: str | None
    name_mode: NameMode | None
    customers: dict[int, CustomerRecord] = field(default_factory=dict)
    tool_version: str = __version__
    sha256: str | None = field(default=None, compare=False)  # of the bytes it was read from
    labels: Catalog | None = None  # the store's labels when last read; None: never read

    def working_copy(self) -> "StateFile":
        """A copy to change and persist: its own customers mapping and label catalogue (a
        Catalog can be added to), the same (immutable) records. What a deep copy gives,
        without copying 100,000 records."""
        labels = replace(self.labels, titles=dict(self.labels.titles)) if self.labels else None
        return replace(self, customers=dict(self.customers), labels=labels)

    def created(self) -> dict[str, int]:
        """Customers apply created from declarations without an id: their email
        (lower-cased) -> id."""
        return {
            email.lower(): customer_id
            for customer_id, record in self.customers.items()
            if (email := record.created_from)
        }

    def same_content(self, other: "StateFile") -> bool:
        """Whether `content()` of the two is equal, without building either: the records a
        working copy shares with the state it came from compare by identity, and the first
        difference ends it (at 100,000 customers, 0.85 s for the two trees)."""
        if (self.lineage, self.site, self.name_mode) != (
            other.lineage,
            other.site,
            other.name_mode,
        ):
            return False
        mine = self.labels.to_json() if self.labels is not None else None
        theirs = other.labels.to_json() if other.labels is not None else None
        if mine != theirs or len(self.customers) != len(other.customers):
            return False
        others = other.customers
        for customer_id, record in self.customers.items():
            kept = others.get(customer_id)
            if kept is record:
                continue
            if kept is None or (
                record.observed != kept.observed
                or record.observed_at != kept.observed_at
                or record.last_applied != kept.last_applied
            ):
                return False
        return True

    def content(self) -> dict[str, Any]:
        """The state as written, serial and tool version aside (they do not make a change)."""
        return {
            "lineage": self.lineage,
            "site": self.site,
            "name_mode": str(self.name_mode) if self.name_mode else None,
            **({"labels": self.labels.to_json()} if self.labels is not None else {}),
            "customers": {
                str(cid): {
                    "observed": record.observed,
                    "observed_at": record.observed_at,
                    "last_applied": record.last_applied,
                }
                for cid, record in sorted(self.customers.items())
            },
        }


def sharing_values(record: CustomerRecord, earlier: CustomerRecord | None) -> CustomerRecord:
    """`record` as a new record that holds, for each observed value equal to `earlier`'s
    (same type, equal), the earlier record's object, and interned keys: a store's answer
    after a PUT repeats all but the fields that changed, and an apply of 100,000 changes
    would otherwise hold each customer's texts twice (the old record beside the new) and,
    decoded an answer at a time, its own copy of every key. A mapping that changed (the
    formatted address of a new city) shares its unchanged values the same way, and the
    time it was observed is interned (an apply records hundreds a second). Equal values of
    one type: nothing that reads the record can tell. Records are never changed once made,
    so they share."""
    observed = record.observed
    if type(observed) is not dict:
        return record
    at = record.observed_at
    return replace(
        record,
        observed=_shared(observed, earlier.observed if earlier else {}),
        observed_at=sys.intern(at) if type(at) is str else at,
    )


def _shared(fresh: dict[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    intern = sys.intern
    shared: dict[str, Any] = {}
    for key, value in fresh.items():
        kept = before.get(key, _ABSENT)
        if kept is not value and type(kept) is type(value):
            if kept == value:
                value = kept
            elif type(value) is dict:
                value = _shared(value, kept)
        shared[intern(key) if type(key) is str else key] = value
    return shared


_ABSENT = object()


@dataclass(frozen=True)
class RecordVersion:
    """One recorded version of a customer, as a backend with history keeps it."""

    version: int
    record: CustomerRecord | None  # None: removed from the state
    recorded_at: str
    op: str  # record, apply, re-read, push, forget
    run: str  # which run wrote it: the operation, who, where, the git commit when known


def new_state(site: str | None, name_mode: NameMode | None) -> StateFile:
    return StateFile(lineage=str(uuid.uuid4()), serial=0, site=site, name_mode=name_mode)


# What a plan reads of a recorded customer; `slim` loading keeps only these.
PLAN_FIELDS = frozenset({"id", *MANAGED_FIELDS})


def record_version(record: CustomerRecord) -> str:
    """A recorded customer's version: the sha256 of what a plan reads of it (its managed
    fields as observed, and the values last applied), the same from a full or a slim load.

    It moves whenever an apply, import or refresh records something a plan depends on, and
    not when another customer changes: saved plans are checked customer by customer.
    """
    observed = {key: record.observed[key] for key in sorted(PLAN_FIELDS) if key in record.observed}
    material = {"last_applied": record.last_applied, "observed": observed}
    text = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
