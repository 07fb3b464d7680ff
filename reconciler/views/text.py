"""The terminal view of a plan, modelled on Terraform's: symbols, `before -> after`, one summary."""

import json
from collections import defaultdict
from collections.abc import Iterable

from reconciler.addresses import AddressAction, Addresses, AddressOp, compare
from reconciler.customer import json_value
from reconciler.diagnostics import Diagnostic, Severity
from reconciler.fields import ADDRESS_KINDS
from reconciler.plan import (
    Action,
    CustomerChange,
    CustomerDrift,
    FieldChange,
    Origin,
    Plan,
    Summary,
)

SYMBOLS = {  # one per action, in every view
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.NOT_IN_STATE: "?",
    Action.FORGET: "-",
    Action.GONE: "x",
}
_COLORS = {
    Action.CREATE: "32",
    Action.UPDATE: "33",
    Action.NOT_IN_STATE: "36",
    Action.FORGET: "35",
    Action.GONE: "31",
}
_LEGEND = {
    Action.CREATE: "create (POST /customers; nothing is ever deleted)",
    Action.UPDATE: "update in place",
    Action.NOT_IN_STATE: "declared but not in the state: run `fluentcart import` first",
    Action.FORGET: "no longer declared: stop managing it (nothing is deleted)",
    Action.GONE: "recorded, but the store no longer has it",
}


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text


# More customers than this to change: the text view counts them by field and lists this many.
SUMMARY_OVER = 1000


def format_value(value: object) -> str:
    """A value as plans print it: JSON strings and numbers, so whitespace is visible."""
    return json.dumps(json_value(value), ensure_ascii=False)  # type: ignore[arg-type]


def format_change(item: FieldChange) -> str:
    """`before -> after`, and for a set of titles what it adds and removes."""
    before = "(not recorded)" if item.before is None and item.added is not None else None
    text = f"{before or format_value(item.before)} -> {format_value(item.after)}"
    delta = label_delta(item)
    return f"{text}  ({delta})" if delta else text


_ADDRESS_SYMBOLS = {AddressAction.CREATE: "+", AddressAction.UPDATE: "~", AddressAction.REMOVE: "-"}


UNRECORDED_ADDRESSES = (
    "not recorded: apply reads them first and may also update or remove some;"
    " `fluentcart plan --refresh` shows each request"
)


def address_title(op: AddressOp) -> str:
    """`billing address 14 (primary)`, `new shipping address`, with what changes its flag."""
    name = f"{op.kind} address {op.id}" if op.id is not None else f"new {op.kind} address"
    if op.action is AddressAction.UPDATE and op.was_primary != op.primary:
        return f"{name} ({'becomes' if op.primary else 'no longer'} the primary)"
    return f"{name} (primary)" if op.primary else name


def address_lines(ops: Iterable[AddressOp], indent: str) -> list[str]:
    """Address requests (or changes found on the store): one block per address."""
    lines = []
    for op in ops:
        lines.append(f"{indent}{_ADDRESS_SYMBOLS[op.action]} {address_title(op)}")
        width = max((len(name) for name, _, _ in op.fields), default=0)
        for name, before, after in op.fields:
            if op.action is AddressAction.CREATE:
                lines.append(f"{indent}    {name.ljust(width)} = {format_value(after)}")
            elif op.action is AddressAction.REMOVE:
                lines.append(f"{indent}    {name.ljust(width)} = {format_value(before)}")
            else:
                lines.append(
                    f"{indent}    {name.ljust(width)} = {format_value(before)} -> {format_value(after)}"
                )
    return lines


def label_delta(item: FieldChange) -> str:
    """What a change of labels adds and removes: `+ "Wholesale", - "B2B"`."""
    if item.added is None:
        return ""
    parts = [f"+ {format_value(t)}" for t in item.added]
    parts += [f"- {format_value(t)}" for t in item.removed or ()]
    return ", ".join(parts)


def new_labels_lines(plan: Plan) -> list[str]:
    if not plan.new_labels:
        return []
    return [
        "Labels the store does not have, which apply creates:",
        *(f"  + label {format_value(title)}" for title in plan.new_labels),
        "",
    ]


def render_text(plan: Plan, color: bool = False, summary_over: int = SUMMARY_OVER) -> str:
    """The plan for a terminal. More than `summary_over` customers to change: a count of
    customers per field first, and only the first `summary_over` listed (the JSON plan
    lists them all); the same for customers changed outside fluentcart."""
    style = _Style(color)
    by_customer: dict[int | None, list[Diagnostic]] = defaultdict(list)
    listed = plan.changes[:summary_over]
    shown_customers = {change.id for change in listed}
    for diagnostic in plan.diagnostics:
        key = diagnostic.customer if diagnostic.customer in shown_customers else None
        by_customer[key].append(diagnostic)

    lines: list[str] = []
    if plan.drift:
        lines.extend(_drift_section(plan.drift, style, bool(plan.changes), summary_over))
    used = [action for action in SYMBOLS if any(c.action is action for c in plan.changes)]
    if used:
        lines.append("fluentcart will make these changes. Symbols:")
        for action in used:
            lines.append(f"  {style(SYMBOLS[action], _COLORS[action])} {_LEGEND[action]}")
        lines.append("")
    lines.extend(new_labels_lines(plan))
    if len(plan.changes) > summary_over:
        lines.extend(_field_count_lines(plan, summary_over))
    for change in listed:
        lines.extend(_block(change, by_customer.get(change.id, []), style))
        lines.append("")
    hidden = len(plan.changes) - len(listed)
    if hidden:
        lines.append(
            f"... and {hidden:,} more customer(s), not listed: `--format json` lists every"
            " one (`summary_over` in fluentcart.yaml sets how many are listed)."
        )
        lines.append("")

    loose = by_customer.get(None, [])
    for severity, title in ((Severity.WARNING, "Warnings:"), (Severity.ERROR, "Errors:")):
        found = [d for d in loose if d.severity is severity]
        if found:
            lines.append(title)
            lines.extend(f"  {d.format()}" for d in found)
            lines.append("")
    lines.append(summary_line(plan.summary))
    if plan.changed_since is not None:
        lines.append(
            f"{plan.not_planned} declared customer(s) in files unchanged since"
            f" {plan.changed_since} were not planned."
        )
    if plan.summary.errors:
        count = plan.summary.errors
        noun = "error" if count == 1 else "errors"
        lines.append(
            style(f"Error: the plan has {count} {noun}; apply refuses a plan with errors.", "31")
        )
    return "\n".join(lines) + "\n"


def summary_line(summary: Summary) -> str:
    gone = f" {summary.gone} gone from the store." if summary.gone else ""
    if summary.refresh_only:
        if not summary.has_changes:
            return "No changes. The state matches the store."
        return (
            f"Refresh: {summary.drifted} customer(s) changed outside fluentcart; `fluentcart"
            f" refresh` records their live values in the state.{gone}"
        )
    if not summary.has_changes and not summary.refreshed:
        return (
            "No changes against the recorded state. The store was not read:"
            " `fluentcart plan --refresh` compares with it."
        )
    if not summary.has_changes:
        return "No changes. Customers match the declared state."
    return (
        f"Plan: {f'{summary.create} to create, ' if summary.create else ''}"
        f"{summary.update} to change, {summary.no_op} unchanged,"
        f" {summary.not_in_state} not in state, {summary.forget} to forget.{gone}"
    )


def _field_count_lines(plan: Plan, listed: int) -> list[str]:
    counts = plan.field_counts()
    lines = [
        f"Changes by field ({len(plan.changes):,} customers change; the first {listed:,} are"
        " listed below):"
    ]
    if counts:
        width = max(len(name) for name, _ in counts)
        digits = max(len(f"{count:,}") for _, count in counts)
        lines += [
            f"  {name.ljust(width)}  {f'{count:,}'.rjust(digits)} customer(s)"
            for name, count in counts
        ]
    return [*lines, ""]


def _drift_section(
    drift: tuple[CustomerDrift, ...], style: _Style, changes_follow: bool, listed: int
) -> list[str]:
    lines = [
        "Customers have changed outside fluentcart since they were recorded (recorded -> live):",
        "",
    ]
    if len(drift) > listed:
        fields: dict[str, int] = {}
        for customer in drift:
            for item in customer.fields:
                fields[item.name] = fields.get(item.name, 0) + 1
        lines.append(f"  {len(drift):,} customers, by field (the first {listed:,} listed below):")
        for name, count in sorted(fields.items(), key=lambda pair: (-pair[1], pair[0])):
            lines.append(f"    {name}: {count:,} customer(s)")
        lines.append("")
    for customer in drift[:listed]:
        source = f" ({customer.source})" if customer.source else ""
        lines.append(f"  # customer {customer.id}{source}")
        width = max(len(f.name) for f in customer.fields)
        for item in customer.fields:
            if isinstance(item.recorded, Addresses) and isinstance(item.live, Addresses):
                lines.append(f"  {style('~', '33')} {item.name}:")
                changed = compare(item.recorded, item.live, ADDRESS_KINDS)
                lines.extend(address_lines(changed, "      "))
                continue
            recorded = format_value(item.recorded)
            live = format_value(item.live)
            lines.append(f"  {style('~', '33')} {item.name.ljust(width)} = {recorded} -> {live}")
        lines.append("")
    if len(drift) > listed:
        lines.append(f"  ... and {len(drift) - listed:,} more customer(s), not listed.")
        lines.append("")
    if changes_follow:
        lines.append("The changes below start from these live values.")
        lines.append("")
    return lines


def _origin_note(item: FieldChange) -> str:
    if item.accepted_on:
        return (
            f"  # reverts a change made on the store (accepted by refresh on {item.accepted_on});"
            " `fluentcart refresh --update-yaml` keeps the store's value instead"
        )
    if isinstance(item.after, Addresses) and item.origin is not Origin.CONFIG:
        return "  # changed on the store since recorded; the declared addresses win"
    if item.origin is Origin.DRIFT:
        recorded = format_value(item.recorded)
        return f"  # drift: changed on the store (recorded {recorded}); the declared value wins"
    if item.origin is Origin.BOTH:
        recorded = format_value(item.recorded)
        return (
            f"  # both: changed in the YAML (recorded {recorded}) and on the store;"
            " the store's value is overwritten"
        )
    return ""


def _block(change: CustomerChange, diagnostics: list[Diagnostic], style: _Style) -> list[str]:
    symbol = style(SYMBOLS[change.action], _COLORS[change.action])
    source = f" ({change.source})" if change.source else ""
    if change.action is Action.NOT_IN_STATE:
        lines = [
            f"  # customer {change.id} is declared but not in the state{source}",
            f"  {symbol} customer {change.id}: run `fluentcart import {change.id}` to read it from the store",
        ]
    elif change.action is Action.FORGET:
        lines = [
            f"  # customer {change.id} is no longer declared",
            f"  {symbol} customer {change.id}: fluentcart stops managing it; the store is not changed",
        ]
    elif change.action is Action.GONE:
        where = f"; remove it from {change.source.rsplit(':', 1)[0]}" if change.source else ""
        lines = [
            f"  # customer {change.id} no longer exists on the store{source}",
            f"  {symbol} customer {change.id}: deleted outside fluentcart{where}, or restore it in"
            " wp-admin; `fluentcart refresh` drops it from the state",
        ]
    elif change.action is Action.CREATE:
        lines = [
            f"  # a new customer will be created{source}",
            f"  {symbol} customer {format_value(change.email)} {{",
        ]
        lines.extend(_field_lines(change, symbol))
    else:
        lines = [
            f"  # customer {change.id} will be updated{source}",
            f"  {symbol} customer {change.id} {{",
        ]
        lines.extend(_field_lines(change, symbol))

    lines.extend(f"    # note: {warning}" for warning in change.warnings)
    for diagnostic in diagnostics:
        text = diagnostic.format()
        if diagnostic.severity is Severity.ERROR:
            lines.append("    " + style(f"! error: {text}", "31"))
        else:
            lines.append(f"    # {text}")
    return lines


def _field_lines(change: CustomerChange, symbol: str) -> list[str]:
    """A create's or an update's fields, between its braces."""
    out: list[str] = []
    width = max(len(f.name) for f in change.fields)
    for item in change.fields:
        note = _origin_note(item)
        new = change.action is Action.CREATE
        if isinstance(item.after, Addresses):
            known = "" if item.before is not None or new else f"  # {UNRECORDED_ADDRESSES}"
            out.append(f"      {symbol} {item.name}:{known}{note}")
            out.extend(address_lines(item.address_ops, "          "))
            continue
        shown = format_value(item.after) if new else format_change(item)
        out.append(f"      {symbol} {item.name.ljust(width)} = {shown}{note}")
    if change.unchanged_fields:
        noun = "field" if change.unchanged_fields == 1 else "fields"
        out.append(f"        # ({change.unchanged_fields} unchanged {noun} hidden)")
    out.append("    }")
    return out
