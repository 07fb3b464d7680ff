"""The plan: what apply would change, computed from declared customers and the state.

A plan is a plain value. The text, JSON and Markdown views render it and compute nothing;
`to_dict`/`from_dict` make it round-trip through JSON so a saved plan renders identically.
"""

import hashlib
import json
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import msgspec.structs

from reconciler import __version__, addresses
from reconciler.addresses import Addresses, AddressOp
from reconciler.customer import (
    FieldValue,
    is_linked,
    json_value,
    observed_value,
    same,
    satisfies,
    value_from_json,
)
from reconciler.declared import NEW, Declaration, DeclaredCustomer, missing_name
from reconciler.diagnostics import Diagnostic, Severity, short_repr
from reconciler.fields import MANAGED_FIELDS
from reconciler.labels import Catalog, Labels
from reconciler.labels import key as labels_key
from reconciler.state import CustomerRecord, StateFile
from reconciler.workspace import NameMode

if TYPE_CHECKING:
    from reconciler.live import LiveRead

FORMAT_VERSION = 1


class Action(StrEnum):
    CREATE = "create"  # declared without an id: POST /customers
    UPDATE = "update"
    NO_OP = "no-op"
    NOT_IN_STATE = "not-in-state"
    FORGET = "forget"
    GONE = "gone"


class Origin(StrEnum):
    """Where a difference comes from (with --refresh; without it, always `config`)."""

    CONFIG = "config"  # the YAML changed since the value was recorded
    DRIFT = "drift"  # the store changed outside fluentcart since it was recorded
    BOTH = "both"  # both changed: the declared value wins on apply


@dataclass(frozen=True, slots=True)
class FieldChange:
    """`before` is the value apply overwrites: the live one after a refresh, else the recorded one."""

    name: str
    before: FieldValue | None
    after: FieldValue | None
    origin: Origin = Origin.CONFIG
    live: FieldValue | None = None
    recorded: FieldValue | None = None
    # The date a refresh accepted the store's change into the state, when applying reverts it.
    accepted_on: str | None = None
    # For addresses: the requests apply sends, each with the fields it changes.
    address_ops: tuple[AddressOp, ...] = ()

    @property
    def added(self) -> Labels | None:
        """For a set of titles: the ones apply adds (None for other fields)."""
        if isinstance(self.after, Labels):
            return self.after.without(self.before if isinstance(self.before, Labels) else None)
        return None

    @property
    def removed(self) -> Labels | None:
        """For a set of titles: the ones apply takes away (None for other fields)."""
        if isinstance(self.after, Labels):
            return self.before.without(self.after) if isinstance(self.before, Labels) else Labels()
        return None


@dataclass(frozen=True, slots=True)
class FieldDrift:
    name: str
    recorded: FieldValue | None
    live: FieldValue | None


@dataclass(frozen=True, slots=True)
class CustomerDrift:
    """Managed fields of one customer that changed on the store since they were recorded."""

    id: int
    source: str | None
    fields: tuple[FieldDrift, ...]


@dataclass(frozen=True, slots=True)
class CustomerChange:
    id: int
    action: Action
    source: str | None = None
    fields: tuple[FieldChange, ...] = ()
    unchanged_fields: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def email(self) -> str:
        """The declared email: what names a customer to create."""
        return next((str(f.after) for f in self.fields if f.name == "email"), "")


@dataclass(frozen=True)
class Summary:
    update: int
    no_op: int
    not_in_state: int
    forget: int
    errors: int
    warnings: int
    gone: int = 0
    drifted: int = 0
    refresh_only: bool = False
    refreshed: bool = False  # the store was read (plan --refresh)
    create: int = 0

    @property
    def has_changes(self) -> bool:
        if self.refresh_only:
            return bool(self.drifted or self.gone)
        return bool(self.create or self.update or self.not_in_state or self.forget or self.gone)


@dataclass(frozen=True)
class Plan:
    """Changes for every customer that is not a no-op, in id order."""

    changes: tuple[CustomerChange, ...]
    unchanged: int
    diagnostics: tuple[Diagnostic, ...] = ()
    name_mode: NameMode | None = None
    state_serial: int | None = None
    tool_version: str = __version__
    drift: tuple[CustomerDrift, ...] = ()
    refreshed: bool = False
    refresh_only: bool = False
    git_commit: str | None = None  # of the workspace, when it is a git checkout
    git_dirty: bool | None = None
    changed_since: str | None = None  # plan --changed-since REF
    not_planned: int = 0  # declared customers left out because their files did not change
    redacted: bool = False  # values masked for --redact (views/redact.py); never applied
    # Labels the store does not have that apply creates (`+ label "Wholesale"`); apply
    # creates no other.
    new_labels: tuple[str, ...] = ()
    fingerprint: str | None = None  # a redacted plan's: the sha256 of the plan it masks

    @property
    def sha256(self) -> str:
        """A fingerprint of the plan, for a reviewer to match what they approved."""
        if self.fingerprint is not None:
            return self.fingerprint
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def field_counts(self) -> list[tuple[str, int]]:
        """How many customers each field changes for, most first (then by name): the shape
        of a bulk change."""
        counts: dict[str, int] = {}
        for change in self.changes:
            for item in change.fields:
                counts[item.name] = counts.get(item.name, 0) + 1
        return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))

    @property
    def summary(self) -> Summary:
        counts = {action: 0 for action in Action}
        for change in self.changes:
            counts[change.action] += 1
        return Summary(
            update=counts[Action.UPDATE],
            no_op=self.unchanged,
            not_in_state=counts[Action.NOT_IN_STATE],
            forget=counts[Action.FORGET],
            errors=sum(d.severity is Severity.ERROR for d in self.diagnostics),
            warnings=sum(d.severity is Severity.WARNING for d in self.diagnostics),
            gone=counts[Action.GONE],
            drifted=len(self.drift),
            refresh_only=self.refresh_only,
            refreshed=self.refreshed,
            create=counts[Action.CREATE],
        )

    def to_dict(self, lists: Callable[[Iterator[Any]], Any] = list) -> dict[str, Any]:
        """The documented JSON form (schemas/plan.schema.json). `lists` makes the long lists
        (drift, changes, diagnostics) of their items: lists, or iterators for a view that
        writes them one at a time (views/jsonplan.py)."""
        summary = self.summary
        return {
            "format_version": FORMAT_VERSION,
            "tool_version": self.tool_version,
            "name_mode": str(self.name_mode) if self.name_mode else None,
            "state_serial": self.state_serial,
            "refreshed": self.refreshed,
            "refresh_only": self.refresh_only,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "changed_since": self.changed_since,
            "not_planned": self.not_planned,
            **({"new_labels": list(self.new_labels)} if self.new_labels else {}),
            "summary": {
                "create": summary.create,
                "update": summary.update,
                "no_op": summary.no_op,
                "not_in_state": summary.not_in_state,
                "forget": summary.forget,
                "gone": summary.gone,
                "drifted": summary.drifted,
                "errors": summary.errors,
                "warnings": summary.warnings,
            },
            "drift": lists(
                {
                    "id": d.id,
                    "source": d.source,
                    "fields": [
                        {
                            "name": f.name,
                            "recorded": json_value(f.recorded),
                            "live": json_value(f.live),
                        }
                        for f in d.fields
                    ],
                }
                for d in self.drift
            ),
            "changes": lists(
                {
                    "id": c.id if c.action is not Action.CREATE else None,
                    "action": str(c.action),
                    "source": c.source,
                    "fields": [
                        {
                            "name": f.name,
                            "before": json_value(f.before),
                            "after": json_value(f.after),
                            "origin": str(f.origin),
                            "live": json_value(f.live),
                            "recorded": json_value(f.recorded),
                            **({"accepted_on": f.accepted_on} if f.accepted_on else {}),
                            **(
                                {"added": list(f.added), "removed": list(f.removed or ())}
                                if f.added is not None
                                else {}
                            ),
                            **(
                                {"addresses": [op.to_json() for op in f.address_ops]}
                                if f.address_ops
                                else {}
                            ),
                        }
                        for f in c.fields
                    ],
                    "unchanged_fields": c.unchanged_fields,
                    "warnings": list(c.warnings),
                }
                for c in self.changes
            ),
            "diagnostics": lists(d.to_dict() for d in self.diagnostics),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Plan":
        mode = data.get("name_mode")
        return cls(
            changes=tuple(
                CustomerChange(
                    id=c["id"] or NEW,
                    action=Action(c["action"]),
                    source=c.get("source"),
                    fields=tuple(
                        FieldChange(
                            f["name"],
                            value_from_json(f["name"], f["before"]),
                            value_from_json(f["name"], f["after"]),
                            Origin(f.get("origin", "config")),
                            value_from_json(f["name"], f.get("live")),
                            value_from_json(f["name"], f.get("recorded", f["before"])),
                            f.get("accepted_on"),
                            tuple(map(AddressOp.from_json, f.get("addresses", ()))),
                        )
                        for f in c["fields"]
                    ),
                    unchanged_fields=c.get("unchanged_fields", 0),
                    warnings=tuple(c.get("warnings", ())),
                )
                for c in data["changes"]
            ),
            unchanged=data["summary"]["no_op"],
            diagnostics=tuple(Diagnostic.from_dict(d) for d in data["diagnostics"]),
            name_mode=NameMode(mode) if mode else None,
            state_serial=data.get("state_serial"),
            tool_version=data.get("tool_version", __version__),
            drift=tuple(
                CustomerDrift(
                    d["id"],
                    d.get("source"),
                    tuple(
                        FieldDrift(
                            f["name"],
                            value_from_json(f["name"], f["recorded"]),
                            value_from_json(f["name"], f["live"]),
                        )
                        for f in d["fields"]
                    ),
                )
                for d in data.get("drift", ())
            ),
            refreshed=data.get("refreshed", False),
            refresh_only=data.get("refresh_only", False),
            git_commit=data.get("git_commit"),
            git_dirty=data.get("git_dirty"),
            changed_since=data.get("changed_since"),
            not_planned=data.get("not_planned", 0),
            new_labels=tuple(data.get("new_labels", ())),
        )


def build_plan(
    declaration: Declaration,
    state: StateFile | None,
    name_mode: NameMode | None,
    targets: Collection[int] = (),
    live: "LiveRead | None" = None,
    refresh_only: bool = False,
    create_labels: bool = True,
) -> Plan:
    """Diff declared customers against the state, and against the store when `live` is given.

    Pure: the caller reads the live customers. Without `live` the recorded values stand for
    the store's (an offline plan). `create_labels` False (the workspace's `create_labels:
    false`) makes a declared label the store does not have an error.
    """
    declaration = resolve_created(declaration, state)
    recorded = state.customers if state is not None else {}
    wanted = set(targets)

    def in_scope(customer_id: int) -> bool:
        return not wanted or customer_id in wanted

    changes: list[CustomerChange] = []
    drift: list[CustomerDrift] = []
    diagnostics = [d for d in declaration.diagnostics if d.customer is None or in_scope(d.customer)]
    unchanged = 0
    for customer_id in sorted(set(declaration.customers) | set(recorded)):
        if not in_scope(customer_id):
            continue
        declared = declaration.customers.get(customer_id)
        record = recorded.get(customer_id)
        if record is not None and live is not None and customer_id in live.gone:
            changes.append(
                CustomerChange(customer_id, Action.GONE, declared.source if declared else None)
            )
            continue
        if declared is None:
            if not refresh_only:
                changes.append(CustomerChange(customer_id, Action.FORGET))
            continue
        if record is None:
            if not refresh_only:
                changes.append(CustomerChange(customer_id, Action.NOT_IN_STATE, declared.source))
            continue
        current = live.found.get(customer_id) if live is not None else None
        if current is not None:
            moved = _drift(declared, record.observed, current)
            if moved is not None:
                drift.append(moved)
        if refresh_only:
            unchanged += 1
            continue
        change = _diff_customer(declared, record, current, diagnostics)
        if change.action is Action.NO_OP:
            unchanged += 1
        else:
            changes.append(change)
    if not refresh_only:  # (the caller leaves out creates a --target does not name)
        creates = [_create_change(c) for c in declaration.creates.values()]
        holders = _recorded_emails(recorded) if declaration.creates else {}
        for new in declaration.creates.values():
            diagnostics.extend(_create_problems(new, holders, live, name_mode))
        changes[:0] = creates
    new_labels: tuple[str, ...] = ()
    if not refresh_only:
        diagnostics.extend(_email_collisions(declaration, recorded, changes))
        catalog = live.labels if live is not None and live.labels is not None else None
        if catalog is None and state is not None:
            catalog = state.labels
        new_labels, problems = _new_labels(declaration, changes, recorded, catalog, create_labels)
        diagnostics.extend(problems)
    return Plan(
        changes=tuple(changes),
        unchanged=unchanged,
        diagnostics=tuple(diagnostics),
        name_mode=name_mode,
        state_serial=state.serial if state is not None else None,
        drift=tuple(drift),
        refreshed=live is not None,
        refresh_only=refresh_only,
        new_labels=new_labels,
    )


def _new_labels(
    declaration: Declaration,
    changes: list[CustomerChange],
    recorded: Mapping[int, CustomerRecord],
    catalog: Catalog | None,
    create_labels: bool,
) -> tuple[tuple[str, ...], list[Diagnostic]]:
    """The labels that changes add and the store does not have (by the catalog read with
    --refresh or recorded in the state; a state without one knows the labels its customers
    carry), and, when the workspace forbids creating labels, an error for each customer
    that needs one."""
    known: set[str] = set()
    if catalog is None and not create_labels:
        # Which labels exist is not known: nothing is announced, so apply creates none (it
        # refuses a customer whose label turns out to be missing).
        return (), []
    if catalog is None:
        for record in recorded.values():
            titles = observed_value(record.observed, "labels")
            if isinstance(titles, Labels):
                known |= titles.keys()
    new: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for change in changes:
        for item in change.fields:
            if item.added is None:
                continue
            wanted = [
                title
                for title in item.added
                if (catalog is None or catalog.id_of(title) is None)
                and labels_key(title) not in known
            ]
            for title in wanted:
                new.setdefault(labels_key(title), title)
            if wanted and not create_labels:
                declared = (
                    declaration.customers.get(change.id)
                    or declaration.creates[change.email.lower()]
                )
                problems.append(
                    Diagnostic(
                        Severity.ERROR,
                        f"the store has no label {', '.join(map(json.dumps, wanted))}, and this"
                        " workspace does not create labels (create_labels: false in"
                        " fluentcart.yaml): create it in FluentCart first, or remove it here",
                        declared.file,
                        declared.field_lines.get(item.name, declared.line),
                        None,
                        change.id,
                        item.name,
                    )
                )
    return tuple(Labels(new.values())), problems


def resolve_created(declaration: Declaration, state: StateFile | None) -> Declaration:
    """The declaration with each customer declared without an id that apply has created (the
    state says which, by its email) declared under its new id."""
    created = state.created() if state is not None and declaration.creates else {}
    if not created:
        return declaration
    customers = dict(declaration.customers)
    creates: dict[str, DeclaredCustomer] = {}
    problems: list[Diagnostic] = []
    for key, new in declaration.creates.items():
        customer_id = created.get(key)
        if customer_id is None:
            creates[key] = new
            continue
        other = customers.get(customer_id)
        if other is not None:
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    f"apply created customer {customer_id} from this declaration, and"
                    f" {other.source} declares customer {customer_id} too: keep one",
                    new.file,
                    new.line,
                    new.column,
                )
            )
            continue
        customers[customer_id] = msgspec.structs.replace(
            new, id=customer_id, created_from=str(new.fields["email"])
        )
        problems.append(
            Diagnostic(
                Severity.WARNING,
                f"created as customer {customer_id}: `fluentcart fmt --write-ids` writes its id"
                " into this file",
                new.file,
                new.line,
                new.column,
                customer_id,
            )
        )
    return replace(
        declaration,
        customers=customers,
        creates=creates,
        diagnostics=[*declaration.diagnostics, *problems],
    )


def _create_change(new: DeclaredCustomer) -> CustomerChange:
    fields = tuple(
        FieldChange(
            name,
            None,
            value,
            address_ops=addresses.diff(Addresses(), value) if isinstance(value, Addresses) else (),
        )
        for name in MANAGED_FIELDS
        if name in new.fields
        for value in (new.fields[name],)
    )
    return CustomerChange(NEW, Action.CREATE, new.source, fields)


def _recorded_emails(recorded: Mapping[int, CustomerRecord]) -> dict[str, int]:
    """Each email the state records (lower-cased, as the store's unique check compares) ->
    the lowest id that has it: read once per plan, whatever the number of creates."""
    holders: dict[str, int] = {}
    for customer_id, record in recorded.items():
        email = str(observed_value(record.observed, "email")).lower()
        if email and customer_id < holders.get(email, customer_id + 1):
            holders[email] = customer_id
    return holders


def _create_problems(
    new: DeclaredCustomer,
    holders: Mapping[str, int],
    live: "LiveRead | None",
    name_mode: NameMode | None,
) -> list[Diagnostic]:
    """What would make FluentCart refuse to create the customer: the name its mode requires,
    or an email a customer already has (422 `exist`, ignoring case; `holders`: the state's
    emails, _recorded_emails)."""
    problems: list[str] = []
    missing = missing_name(new.fields, name_mode)
    if missing:
        problems.append(missing)
    holder = holders.get(new.email_key)
    where = new.file
    if holder is not None:
        problems.append(
            f"customer {holder} has this email (it is in the state): FluentCart refuses a second"
            f" customer with it. To manage customer {holder} here, write `id: {holder}` in {where}"
        )
    elif live is not None and new.email_key in live.emails:
        found = live.emails[new.email_key]
        problems.append(
            f"customer {found} on the store has this email: FluentCart refuses a second customer"
            f" with it. To manage it here, `fluentcart import {found}` and write `id: {found}`"
            f" in {where}"
        )
    return [
        Diagnostic(
            Severity.ERROR,
            message,
            new.file,
            new.field_lines.get("email", new.line) if "email" in message else new.line,
            None,
            None,
            "email" if "email" in message else None,
        )
        for message in problems
    ]


def _drift(
    declared: DeclaredCustomer, recorded: Mapping[str, Any], current: Mapping[str, Any]
) -> CustomerDrift | None:
    fields = tuple(
        FieldDrift(name, observed_value(recorded, name), observed_value(current, name))
        for name in MANAGED_FIELDS
        if name in declared.fields
        and observed_value(recorded, name) is not None  # labels never read: not drift
        and not same(
            observed_value(recorded, name),
            observed_value(current, name),
            declared.fields[name],
        )
    )
    return CustomerDrift(declared.id, declared.source, fields) if fields else None


def _diff_customer(
    declared: DeclaredCustomer,
    record: CustomerRecord,
    current: Mapping[str, Any] | None,
    diagnostics: list[Diagnostic],
) -> CustomerChange:
    recorded = record.observed
    store = current if current is not None else recorded
    fields: list[FieldChange] = []
    wanted = declared.fields
    if current is None and _as_recorded(wanted, recorded):
        # Most customers of a large plan: every declared text as recorded (what the loop
        # below finds too, at half the cost).
        return CustomerChange(
            declared.id, Action.NO_OP, declared.source, unchanged_fields=len(wanted)
        )
    for name in MANAGED_FIELDS:
        if name not in wanted:
            continue
        after = wanted[name]
        was = observed_value(recorded, name)
        now = was if current is None else observed_value(store, name)
        if satisfies(now, after):
            continue
        if current is None or same(now, was, after):
            origin = Origin.CONFIG
        else:
            origin = Origin.BOTH if not satisfies(was, after) else Origin.DRIFT
        ops: tuple[AddressOp, ...] = ()
        if isinstance(after, Addresses):
            ops = addresses.diff(now if isinstance(now, Addresses) else Addresses(), after)
            diagnostics.extend(_address_problems(declared, now, after))
        fields.append(
            FieldChange(
                name,
                now,
                after,
                origin,
                now if current is not None else None,
                was,
                _accepted_on(record, name, after) if same(now, was, after) else None,
                ops,
            )
        )
    if not fields:
        return CustomerChange(
            declared.id, Action.NO_OP, declared.source, unchanged_fields=len(declared.fields)
        )
    warnings: list[str] = []
    linked_user = observed_value(store, "user_id")
    if is_linked(store):
        warnings.append(
            f"linked to WordPress user {linked_user}: applying also rewrites that user's first"
            " name, last name, nickname and display name"
        )
        if any(f.name == "email" for f in fields):
            diagnostics.append(
                Diagnostic(
                    Severity.ERROR,
                    f"cannot change the email of a customer linked to WordPress user {linked_user}:"
                    " FluentCart answers 200 and keeps the old address. Change it in wp-admin"
                    " (Users), or unlink first (declare user_id: 0, apply) and then change it",
                    declared.file,
                    declared.field_lines.get("email", declared.line),
                    None,
                    declared.id,
                    "email",
                )
            )
    return CustomerChange(
        declared.id,
        Action.UPDATE,
        declared.source,
        tuple(fields),
        unchanged_fields=len(declared.fields) - len(fields),
        warnings=tuple(warnings),
    )


def _as_recorded(wanted: Mapping[str, FieldValue], recorded: Mapping[str, Any]) -> bool:
    """Whether every declared value is a text its recorded one equals. A declared text that
    is the recorded string itself (the load shares them: DeclaredLoad.result) is taken as
    equal without observed_value's reading, which gives that same string for any text but
    an empty full name; a slim record's fields are its attributes."""
    slim = not isinstance(recorded, dict)
    for name, after in wanted.items():
        if type(after) is not str:
            return False
        if after and (getattr(recorded, name, None) if slim else recorded.get(name)) is after:
            continue
        if observed_value(recorded, name) != after:
            return False
    return True


def _address_problems(
    declared: DeclaredCustomer, store: FieldValue | None, wanted: Addresses
) -> list[Diagnostic]:
    """What the store refuses of an address change: clearing an address's company (its
    setter ignores an empty value, so the plan would never converge), or removing a
    customer's last address ("At least one address must remain")."""
    problems = []

    def error(message: str) -> None:
        line = declared.field_lines.get("addresses", declared.line)
        problems.append(
            Diagnostic(Severity.ERROR, message, declared.file, line, None, declared.id, "addresses")
        )

    current = store if isinstance(store, Addresses) else Addresses()
    for step in addresses.steps(current, wanted):
        op, before, after = step.op, step.current, step.wanted
        if (
            before is not None
            and after is not None
            and after.declares("company_name")
            and not after.value("company_name")
            and before.value("company_name")
        ):
            error(
                f"{op.kind} address {op.id} has company_name"
                f" {short_repr(before.value('company_name'))}, which FluentCart cannot clear"
                " (it ignores an empty company): declare it, or leave company_name out"
            )
    kept = current.only(k for k in current.kinds if k not in wanted.kinds).count()
    if isinstance(store, Addresses) and store.count() and not kept + wanted.count():
        error(
            'removes every address of this customer; FluentCart keeps at least one ("At least'
            ' one address must remain"): declare one, or leave `addresses` out'
        )
    return problems


def _accepted_on(record: CustomerRecord, name: str, declared: FieldValue) -> str | None:
    """The date a refresh recorded a store's change of `name`, when the YAML still declares
    what fluentcart last applied (or found in effect at import): the recorded value can then
    only have come from the store, and applying the declared one reverts it."""
    if name in record.last_applied and satisfies(
        value_from_json(name, record.last_applied[name]), declared
    ):
        return record.observed_at[:10]
    return None


def _email_collisions(
    declaration: Declaration,
    recorded: Mapping[int, Any],
    changes: list[CustomerChange],
) -> list[Diagnostic]:
    """An email change to an address another recorded customer keeps is a 422 `exist`."""
    changing = {
        c.id: str(f.after)
        for c in changes
        if c.action is Action.UPDATE  # a create's email: _create_problems
        for f in c.fields
        if f.name == "email" and f.after
    }
    if not changing:
        return []
    holders: dict[str, set[int]] = {}
    for customer_id, record in recorded.items():
        declared = declaration.customers.get(customer_id)
        email = declared.fields.get("email") if declared else None
        address = str(email) if email is not None else str(observed_value(record.observed, "email"))
        if address:
            holders.setdefault(address.lower(), set()).add(customer_id)
    problems = []
    for customer_id, email in sorted(changing.items()):
        others = holders.get(email.lower(), set()) - {customer_id}
        if others:
            holder = min(others)
            declared = declaration.customers[customer_id]
            problems.append(
                Diagnostic(
                    Severity.ERROR,
                    f"customer {holder} keeps this address in the state and is not declared with"
                    " another one; FluentCart would refuse the change (email already exists)",
                    declared.file,
                    declared.field_lines.get("email", declared.line),
                    None,
                    customer_id,
                    "email",
                )
            )
    return problems
