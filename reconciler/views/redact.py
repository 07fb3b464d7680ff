"""Masking of sensitive values for `--redact`: a plan is redacted once, here, and every
view renders the redacted plan as it renders any other."""

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Protocol, TypeVar, cast

from reconciler.addresses import Addresses
from reconciler.diagnostics import Diagnostic
from reconciler.errors import ANSWER_PREVIEW
from reconciler.plan import CustomerChange, CustomerDrift, FieldChange, FieldDrift, Plan

MASK = "(sensitive)"
_V = TypeVar("_V")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_EMAIL = re.compile(
    r"(?<![\w.+*-])(?!\*\*\*@)[^\s\"'<>(),;:@]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)


# Personal data masked by --redact whatever `sensitive` says: addresses (with their phone
# numbers).
ALWAYS_SENSITIVE = frozenset({"addresses"})


class Redactor:
    """Masks the workspace's `sensitive` fields, addresses, and the local part of every
    email."""

    def __init__(self, sensitive: Collection[str], enabled: bool) -> None:
        self.sensitive = frozenset(sensitive) | ALWAYS_SENSITIVE
        self.enabled = enabled

    def value(self, name: str, value: _V) -> _V | str:
        if not self.enabled or value is None or value == "":
            return value
        if isinstance(value, Addresses):  # the structure stays readable, every value masked
            return cast(_V, value.masked(lambda text: MASK if text else text))
        if name in self.sensitive:
            return MASK
        if name == "email" and isinstance(value, str) and "@" in value:
            return "***@" + value.rsplit("@", 1)[1]
        return value

    def masks(self, name: str) -> bool:
        return self.enabled and (name in self.sensitive or name == "email")

    def masked_values(self, change: CustomerChange) -> list[object]:
        """Every value a change shows of its masked fields (of addresses, their fields')."""
        found: list[object] = []
        for item in change.fields:
            if not self.masks(item.name):
                continue
            for value in (item.before, item.after, item.live, item.recorded):
                if isinstance(value, Addresses):
                    found.extend(v for a in value.items for _, v in a.values)
                else:
                    found.append(value)
        return found

    def message(self, text: str, quoted: Iterable[str] = (), values: Iterable[object] = ()) -> str:
        """A message of the tool or the store with what it may carry of masked values taken
        out: every quoted value when it quotes a masked field, every known value of a
        masked field wherever it appears, and the local part of every email address."""
        if not self.enabled:
            return text
        head, preview, _ = text.partition(ANSWER_PREVIEW)
        if preview:
            text = head + " (the answer's text is not shown with --redact)"
        if any(self.masks(name) for name in quoted):
            text = _QUOTED.sub('"(redacted)"', text)
        for value in sorted({str(v) for v in values if v not in (None, "")}, key=len, reverse=True):
            for form in {value, json.dumps(value, ensure_ascii=False)[1:-1]}:
                text = text.replace(form, MASK)
        return _EMAIL.sub(r"***@\1", text)

    def diagnostic(self, diagnostic: Diagnostic) -> Diagnostic:
        """Quoted values in messages about masked fields are replaced, and email local parts
        in any message; the rest is kept."""
        if not self.enabled:
            return diagnostic
        fields = (diagnostic.field,) if isinstance(diagnostic.field, str) else ()
        message = self.message(diagnostic.message, fields)
        if message == diagnostic.message:
            return diagnostic
        return replace(diagnostic, message=message)


NO_REDACTION = Redactor((), enabled=False)


def redact_plan(plan: Plan, redactor: Redactor) -> Plan:
    """The plan with every value of a masked field masked wherever it appears (before,
    after, live, recorded, drift, a customer's warnings) and the quoted values of
    diagnostics about such fields;
    it keeps the fingerprint of the plan it masks, and is marked redacted."""
    if not redactor.enabled:
        return plan

    def change_field(item: FieldChange) -> FieldChange:
        def mask(value: _V) -> _V | str:
            return redactor.value(item.name, value)

        masked_ops = item.address_ops
        if redactor.masks(item.name):
            masked_ops = tuple(
                op.masked(lambda text: MASK if text else text) for op in item.address_ops
            )
        return replace(
            item,
            before=mask(item.before),
            after=mask(item.after),
            live=mask(item.live),
            recorded=mask(item.recorded),
            address_ops=masked_ops,
        )

    def drift_field(item: FieldDrift) -> FieldDrift:
        return replace(
            item,
            recorded=redactor.value(item.name, item.recorded),
            live=redactor.value(item.name, item.live),
        )

    def change(customer: CustomerChange) -> CustomerChange:
        known = redactor.masked_values(customer)
        return replace(
            customer,
            fields=tuple(map(change_field, customer.fields)),
            warnings=tuple(redactor.message(w, (), known) for w in customer.warnings),
        )

    def drift(customer: CustomerDrift) -> CustomerDrift:
        return replace(customer, fields=tuple(map(drift_field, customer.fields)))

    return replace(
        plan,
        changes=tuple(map(change, plan.changes)),
        drift=tuple(map(drift, plan.drift)),
        diagnostics=tuple(map(redactor.diagnostic, plan.diagnostics)),
        new_labels=tuple(redactor.value("labels", t) for t in plan.new_labels),
        redacted=True,
        fingerprint=plan.sha256,
    )


class _Result(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def message(self) -> str: ...
    @property
    def quoted(self) -> tuple[str, ...]: ...


_R = TypeVar("_R", bound=_Result)


class ResultMask:
    """`apply --redact`: each customer's result redacted before it is printed or sent as an
    event, with the values the plan and the YAML hold for that customer's masked fields."""

    def __init__(
        self,
        redactor: Redactor,
        plan: Plan,
        declared: Mapping[int, Mapping[str, object]],
    ) -> None:
        self.redactor = redactor
        self.values: dict[int, list[object]] = {}
        if not redactor.enabled:
            return
        for change in plan.changes:
            self.values[change.id] = redactor.masked_values(change)
        for customer_id, fields in declared.items():
            masked = [value for name, value in fields.items() if redactor.masks(name)]
            if masked:
                self.values.setdefault(customer_id, []).extend(masked)

    def result(self, result: _R) -> _R:
        if not self.redactor.enabled:
            return result
        message = self.redactor.message(
            result.message, result.quoted, self.values.get(result.id, ())
        )
        return replace(result, message=message)  # type: ignore[type-var]

    def text(self, text: str) -> str:
        return self.redactor.message(text)
