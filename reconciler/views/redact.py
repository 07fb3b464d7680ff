"""Masking of sensitive values for `--redact`: a plan is redacted once, here, and every
view renders the redacted plan as it renders any other."""

import re
from collections.abc import Collection
from dataclasses import replace
from typing import TypeVar

from reconciler.diagnostics import Diagnostic
from reconciler.plan import CustomerChange, CustomerDrift, FieldChange, FieldDrift, Plan

MASK = "(sensitive)"
_V = TypeVar("_V")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


class Redactor:
    """Masks the workspace's `sensitive` fields, and the local part of every email."""

    def __init__(self, sensitive: Collection[str], enabled: bool) -> None:
        self.sensitive = frozenset(sensitive)
        self.enabled = enabled

    def value(self, name: str, value: _V) -> _V | str:
        if not self.enabled or value is None or value == "":
            return value
        if name in self.sensitive:
            return MASK
        if name == "email" and isinstance(value, str) and "@" in value:
            return "***@" + value.rsplit("@", 1)[1]
        return value

    def diagnostic(self, diagnostic: Diagnostic) -> Diagnostic:
        """Quoted values in messages about masked fields are replaced, the rest kept."""
        if not self.enabled or not (
            diagnostic.field in self.sensitive or diagnostic.field == "email"
        ):
            return diagnostic
        message = _QUOTED.sub('"(redacted)"', diagnostic.message)
        return Diagnostic(
            diagnostic.severity,
            message,
            diagnostic.file,
            diagnostic.line,
            diagnostic.column,
            diagnostic.customer,
            diagnostic.field,
        )


NO_REDACTION = Redactor((), enabled=False)


def redact_plan(plan: Plan, redactor: Redactor) -> Plan:
    """The plan with every value of a masked field masked wherever it appears (before,
    after, live, recorded, drift) and the quoted values of diagnostics about such fields;
    it keeps the fingerprint of the plan it masks, and is marked redacted."""
    if not redactor.enabled:
        return plan

    def change_field(item: FieldChange) -> FieldChange:
        def mask(value: _V) -> _V | str:
            return redactor.value(item.name, value)

        return replace(
            item,
            before=mask(item.before),
            after=mask(item.after),
            live=mask(item.live),
            recorded=mask(item.recorded),
        )

    def drift_field(item: FieldDrift) -> FieldDrift:
        return replace(
            item,
            recorded=redactor.value(item.name, item.recorded),
            live=redactor.value(item.name, item.live),
        )

    def change(customer: CustomerChange) -> CustomerChange:
        return replace(customer, fields=tuple(map(change_field, customer.fields)))

    def drift(customer: CustomerDrift) -> CustomerDrift:
        return replace(customer, fields=tuple(map(drift_field, customer.fields)))

    return replace(
        plan,
        changes=tuple(map(change, plan.changes)),
        drift=tuple(map(drift, plan.drift)),
        diagnostics=tuple(map(redactor.diagnostic, plan.diagnostics)),
        redacted=True,
        fingerprint=plan.sha256,
    )
