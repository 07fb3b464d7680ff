"""Customer addresses: as declared, as the store keeps them, and the requests between.

FluentCart keeps a customer's addresses in `fct_customer_addresses`, each with a free-text
`type` (`billing`, `shipping`, anything) and an `is_primary` flag (API-2.md B). A declared
customer may write `addresses:` with `billing` and `shipping`, each one address (the primary)
or a list whose first is the primary. A type it does not write is left as it is; a type it
writes gets exactly those addresses.

`diff` pairs declared addresses with recorded ones (an address whose declared fields all
match first, so that a rerun after an interrupted apply finds what it created; then in
order) and says what apply does: create (POST), update (a PUT of the whole address: the
server blanks what a PUT leaves out, `type` and `is_primary` included) or remove (DELETE,
after a PUT that takes away its primary flag: the server refuses to delete a primary).
A field a declared address leaves out keeps the store's value.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from reconciler import collation
from reconciler.fields import ADDRESS_FIELDS, ADDRESS_KINDS

FIELD_NAMES = tuple(f.name for f in ADDRESS_FIELDS)
Values = tuple[tuple[str, str], ...]
Changes = tuple[tuple[str, str | None, str | None], ...]  # (field, before, after)


def _ordered(values: Mapping[str, str]) -> Values:
    return tuple((name, values[name]) for name in FIELD_NAMES if name in values)


@dataclass(frozen=True, slots=True)
class Address:
    """One address: `values` holds its fields (a declared one: those written, as the store
    will keep them; a recorded one: all of them). `sent` is the declared text where the
    server cleans it into `values` (what apply sends)."""

    kind: str
    values: Values
    id: int | None = None  # the store's, for a recorded address
    primary: bool = False
    type: str = ""  # a recorded address's stored type (`Billing` counts as billing)
    status: str = "active"
    sent: Values = field(default=(), compare=False)

    def value(self, name: str) -> str:
        return dict(self.values).get(name, "")

    def declares(self, name: str) -> bool:
        return any(n == name for n, _ in self.values)

    def matches(self, recorded: "Address") -> bool:
        """Every field this (declared) address writes has the recorded address's value."""
        return all(recorded.value(name) == value for name, value in self.values)

    def summary(self) -> str:
        """A short way to name it: its first line and city."""
        parts = [self.value("address_1"), self.value("city")]
        return ", ".join(p for p in parts if p)

    def to_json(self, sent: bool = False) -> dict[str, Any]:
        """Its fields; a recorded address's id, type, flag and status first; with `sent`
        (the parse cache) the declared text too."""
        head: dict[str, Any] = {}
        if self.id is not None:
            head = {"id": self.id, "type": self.type, "primary": self.primary}
            head["status"] = self.status
        tail = {"sent": dict(self.sent)} if sent and self.sent else {}
        return {**head, **dict(self.values), **tail}


def kind_of(stored_type: str) -> str | None:
    """billing or shipping for a stored type the store's relations count as one (its
    collation ignores case: `Billing` is billing), else None (an address fluentcart leaves)."""
    return next((k for k in ADDRESS_KINDS if collation.equal(stored_type, k)), None)


@dataclass(frozen=True, repr=False)
class Addresses:
    """A customer's billing and shipping addresses. `kinds` are the types it speaks for: a
    declaration, the ones it writes; a record, both."""

    items: tuple[Address, ...] = ()
    kinds: tuple[str, ...] = ADDRESS_KINDS
    recorded: bool = True

    def of(self, kind: str) -> tuple[Address, ...]:
        """A type's addresses: a declaration's in its order (the first is the primary), a
        record's primaries first, then by id (the order of GET /customers/{id}/address)."""
        mine = tuple(a for a in self.items if a.kind == kind)
        if self.recorded:
            return tuple(sorted(mine, key=lambda a: (not a.primary, a.id or 0)))
        return mine

    def only(self, kinds: Iterable[str]) -> "Addresses":
        wanted = tuple(k for k in ADDRESS_KINDS if k in set(kinds))
        return Addresses(tuple(a for a in self.items if a.kind in wanted), wanted, self.recorded)

    def count(self) -> int:
        return len(self.items)

    def masked(self, mask: Callable[[str], str]) -> "Addresses":
        """The same addresses with every field's value passed through `mask` (--redact)."""
        items = tuple(
            replace(a, values=tuple((n, mask(v)) for n, v in a.values), sent=()) for a in self.items
        )
        return replace(self, items=items)

    def __repr__(self) -> str:
        """How messages name it: `billing 14, shipping 20 and 21` (a declaration: counts)."""
        parts = []
        for kind in self.kinds:
            mine = self.of(kind)
            if self.recorded:
                ids = ", ".join(str(a.id) for a in mine) or "none"
                parts.append(f"{kind} {ids}")
            else:
                parts.append(f"{len(mine)} {kind}")
        return "addresses: " + ("; ".join(parts) or "none")

    def to_json(self, sent: bool = False) -> list[dict[str, Any]] | dict[str, list[dict[str, Any]]]:
        """A record: a list of addresses with their ids; a declaration: type -> list."""
        if self.recorded:
            return [a.to_json() for kind in self.kinds for a in self.of(kind)]
        return {kind: [a.to_json(sent) for a in self.of(kind)] for kind in self.kinds}

    @classmethod
    def from_json(cls, data: object) -> "Addresses | None":
        if isinstance(data, list):
            return from_store(data)
        if isinstance(data, dict):
            items = []
            for kind in ADDRESS_KINDS:
                for index, entry in enumerate(data.get(kind) or ()):
                    values = {k: str(v) for k, v in entry.items() if k in FIELD_NAMES}
                    sent = _ordered(entry.get("sent") or {})
                    items.append(Address(kind, _ordered(values), primary=index == 0, sent=sent))
            kinds = tuple(k for k in ADDRESS_KINDS if k in data)
            return cls(tuple(items), kinds, recorded=False)
        return None


def as_declared(recorded: Addresses, kinds: Iterable[str] | None = None) -> Addresses:
    """The declaration that keeps recorded addresses as they are: each type's addresses in
    the store's order, the primary first, with their non-empty fields. Of `kinds` (every
    one, an empty list for a type without addresses); else of the types that have some
    (import)."""
    wanted = (
        tuple(kinds) if kinds is not None else tuple(k for k in ADDRESS_KINDS if recorded.of(k))
    )
    items = [
        Address(kind, tuple((n, v) for n, v in address.values if v), primary=index == 0)
        for kind in ADDRESS_KINDS
        if kind in wanted
        for index, address in enumerate(recorded.of(kind))
    ]
    return Addresses(tuple(items), tuple(k for k in ADDRESS_KINDS if k in wanted), recorded=False)


def yaml_form(wanted: Addresses) -> dict[str, Any]:
    """A declaration's addresses as a file writes them: one address as a mapping, more as a
    list."""
    out: dict[str, Any] = {}
    for kind in wanted.kinds:
        entries = [dict(a.values) for a in wanted.of(kind)]
        out[kind] = entries[0] if len(entries) == 1 else entries
    return out


def declared(
    per_kind: Mapping[str, Sequence[tuple[Mapping[str, str], Mapping[str, str]]]],
) -> Addresses:
    """A declaration's addresses from (stored values, sent text) per address, per type."""
    items = [
        Address(kind, _ordered(values), primary=index == 0, sent=_ordered(sent))
        for kind in ADDRESS_KINDS
        for index, (values, sent) in enumerate(per_kind.get(kind, ()))
    ]
    return Addresses(tuple(items), tuple(k for k in ADDRESS_KINDS if k in per_kind), False)


def from_store(rows: Iterable[object]) -> Addresses:
    """A customer's billing and shipping addresses from the store's rows (GET
    /customers/{id}/address, the `billing_address`/`shipping_address` relations, or a state's
    record of them); rows of other types are left out."""
    items = []
    seen: set[int] = set()
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("id"), int) or row["id"] in seen:
            continue
        stored_type = str(row.get("type") or "")
        kind = kind_of(stored_type)
        if kind is None:
            continue
        seen.add(row["id"])
        primary = row.get("primary", row.get("is_primary"))
        values = {name: "" if row.get(name) is None else str(row[name]) for name in FIELD_NAMES}
        items.append(
            Address(
                kind,
                _ordered(values),
                row["id"],
                primary in (True, 1, "1"),
                stored_type,
                str(row.get("status") or ""),
            )
        )
    return Addresses(tuple(items))


class AddressAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class AddressOp:
    """One address request of a plan: `fields` are (name, before, after) of what it changes
    (a create: every field it writes; a remove: every field the address has)."""

    action: AddressAction
    kind: str
    id: int | None
    primary: bool  # after a create or update; a removed address's flag before
    fields: tuple[tuple[str, str | None, str | None], ...] = ()
    was_primary: bool | None = None  # an update's flag before

    def to_json(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "type": self.kind,
            "id": self.id,
            "primary": self.primary,
            **({"was_primary": self.was_primary} if self.was_primary is not None else {}),
            "fields": [{"name": n, "before": b, "after": a} for n, b, a in self.fields],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "AddressOp":
        return cls(
            AddressAction(data["action"]),
            data["type"],
            data.get("id"),
            bool(data.get("primary")),
            tuple((f["name"], f.get("before"), f.get("after")) for f in data.get("fields", ())),
            data.get("was_primary"),
        )

    def masked(self, mask: Any) -> "AddressOp":
        return replace(self, fields=tuple((n, mask(b), mask(a)) for n, b, a in self.fields))


@dataclass(frozen=True, slots=True)
class Step:
    """One request of apply for one address: the declared address (create, update) and the
    recorded one it replaces (update, remove)."""

    op: AddressOp
    wanted: Address | None
    current: Address | None


def pair(wanted: Sequence[Address], have: Sequence[Address]) -> list[Address | None]:
    """For each declared address, the recorded one it becomes: one whose every declared field
    matches first, then the most alike (None: created)."""
    free = list(have)
    paired: list[Address | None] = [None] * len(wanted)
    for index, address in enumerate(wanted):
        match = next((h for h in free if address.matches(h)), None)
        if match is not None:
            paired[index] = match
            free.remove(match)
    for index, address in enumerate(wanted):
        if paired[index] is None and free:
            # The one most like it (most fields equal; the first of equals): the plan shows
            # the fewest field changes.
            best = max(free, key=lambda h: (_alike(address, h), -free.index(h)))
            paired[index] = best
            free.remove(best)
    return paired


def _alike(declared_address: Address, recorded: Address) -> int:
    return sum(recorded.value(name) == value for name, value in declared_address.values)


def steps(recorded: Addresses, wanted: Addresses) -> list[Step]:
    """What makes the store's addresses of the declared types `wanted`, in the order apply
    sends it: creates of a primary, updates that make a primary, the other creates (the
    store makes a type's first address primary whatever the request says), the other
    updates, then removes (so a type never lacks a primary it should have, and a customer
    keeps at least one address)."""
    firsts: list[Step] = []
    creates: list[Step] = []
    promotions: list[Step] = []
    updates: list[Step] = []
    removes: list[Step] = []
    for kind in wanted.kinds:
        declared_list = wanted.of(kind)
        have = recorded.of(kind)
        paired = pair(declared_list, have)
        for index, (address, current) in enumerate(zip(declared_list, paired, strict=True)):
            primary = index == 0
            if current is None:
                fields: tuple[tuple[str, str | None, str | None], ...] = tuple(
                    (n, None, v) for n, v in address.values
                )
                op = AddressOp(AddressAction.CREATE, kind, None, primary, fields)
                (firsts if primary else creates).append(Step(op, address, None))
                continue
            changed = tuple(
                (n, current.value(n), v) for n, v in address.values if current.value(n) != v
            )
            if not changed and current.primary == primary:
                continue
            op = AddressOp(
                AddressAction.UPDATE, kind, current.id, primary, changed, current.primary
            )
            (promotions if primary and not current.primary else updates).append(
                Step(op, address, current)
            )
        kept = {id(a) for a in paired if a is not None}
        for current in have:
            if id(current) not in kept:
                gone: tuple[tuple[str, str | None, str | None], ...] = tuple(
                    (n, v, None) for n, v in current.values if v
                )
                op = AddressOp(AddressAction.REMOVE, kind, current.id, current.primary, gone)
                removes.append(Step(op, None, current))
    # A type's primary goes last: when a DELETE is refused part of the way, the type still
    # has its primary.
    removes.sort(key=lambda s: s.op.primary)
    return firsts + promotions + creates + updates + removes


def diff(recorded: Addresses, wanted: Addresses) -> tuple[AddressOp, ...]:
    return tuple(step.op for step in steps(recorded, wanted))


def compare(recorded: Addresses, live: Addresses, kinds: Iterable[str]) -> tuple[AddressOp, ...]:
    """How the store's addresses of `kinds` changed since they were recorded, address by
    address (by id): added on the store (create), changed (update), gone (remove)."""
    ops: list[AddressOp] = []
    for kind in ADDRESS_KINDS:
        if kind not in set(kinds):
            continue
        before = {a.id: a for a in recorded.of(kind)}
        after = {a.id: a for a in live.of(kind)}
        for address_id, now in after.items():
            was = before.get(address_id)
            if was is None:
                added: Changes = tuple((n, None, v) for n, v in now.values if v)
                ops.append(AddressOp(AddressAction.CREATE, kind, address_id, now.primary, added))
                continue
            changed = tuple((n, was.value(n), v) for n, v in now.values if was.value(n) != v)
            if changed or was.primary != now.primary:
                ops.append(
                    AddressOp(
                        AddressAction.UPDATE, kind, address_id, now.primary, changed, was.primary
                    )
                )
        for address_id, was in before.items():
            if address_id not in after:
                gone: Changes = tuple((n, v, None) for n, v in was.values if v)
                ops.append(AddressOp(AddressAction.REMOVE, kind, address_id, was.primary, gone))
    return tuple(ops)


def progressed(before: Addresses, live: Addresses, wanted: Addresses) -> bool:
    """Whether the store's addresses are `before` with some of the requests that lead to
    `wanted` made (an apply that was interrupted): every address of the declared types is
    either one recorded, unchanged, or one declared; every recorded one missing is one those
    requests remove; a recorded one whose primary flag moved got the flag those requests
    give it (an outside make-primary is a change, not progress)."""
    planned = steps(before, wanted)
    removable = {s.current.id for s in planned if s.current and s.op.action is AddressAction.REMOVE}
    flags = {s.current.id: s.op.primary for s in planned if s.current and s.wanted}
    was_primary = {a.id: a.primary for a in before.items}
    known = {a.id: a.values for a in before.only(wanted.kinds).items}
    declared_list = [a for k in wanted.kinds for a in wanted.of(k)]
    for address in live.only(wanted.kinds).items:
        flag = was_primary.get(address.id)
        if flag is not None and address.primary != flag:
            demoted = address.id in removable and not address.primary
            if flags.get(address.id) != address.primary and not demoted:
                return False
        if known.get(address.id) == address.values:
            continue
        if not any(d.kind == address.kind and d.matches(address) for d in declared_list):
            return False
    present = {a.id for a in live.items}
    return all(a.id in present or a.id in removable for a in before.only(wanted.kinds).items)


def satisfied(current: Addresses, wanted: Addresses) -> bool:
    """Whether the store's addresses already are the declared ones."""
    return not steps(current, wanted)


def put_body(current: Address, wanted: Address | None, primary: bool) -> dict[str, Any]:
    """A PUT of the whole address: the recorded values, the declared ones laid over (as
    written), its stored type and status, and the primary flag it is to have."""
    body: dict[str, Any] = {"id": current.id, "type": current.type or current.kind}
    body["status"] = current.status or "active"
    body.update(dict(current.values))
    if wanted is not None:
        body.update(dict(wanted.values))
        body.update(dict(wanted.sent))
    body["is_primary"] = 1 if primary else 0
    return body


def post_body(wanted: Address, primary: bool) -> dict[str, Any]:
    return {
        "type": wanted.kind,
        **dict(wanted.values),
        **dict(wanted.sent),
        "is_primary": 1 if primary else 0,
    }
