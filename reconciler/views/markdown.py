"""The Markdown view of a plan, for a pull-request comment.

GitHub refuses comments over 65,536 characters; the view stays under `limit` (60,000, which
leaves a workflow room for its marker and a line of its own) by leaving out whole customers
and saying how many were left out. A plan that changes more than `summary_over` customers
gets a count of customers per field ahead of the list, and lists only that many: a reviewer
reads the shape of a bulk change, and the full plan is one `fluentcart show` away.
"""

import html

from reconciler.addresses import Addresses
from reconciler.diagnostics import Diagnostic, Severity
from reconciler.plan import Action, CustomerChange, CustomerDrift, FieldChange, Plan
from reconciler.views.text import (
    SYMBOLS,
    UNRECORDED_ADDRESSES,
    address_lines,
    format_value,
    label_delta,
    summary_line,
)

LIMIT = 60_000
SUMMARY_OVER = 50
_TITLES = {
    Action.CREATE: "create",
    Action.UPDATE: "update",
    Action.NOT_IN_STATE: "not in state: run `fluentcart import` first",
    Action.FORGET: "forget: stop managing (nothing is deleted)",
    Action.GONE: "gone: the store no longer has it",
}


def cell(value: object) -> str:
    """A value inside a table cell: escaped so no value can break the table or inject HTML."""
    if value == "":
        return "<em>(empty)</em>"
    text = html.escape(format_value(value), quote=False).replace("|", "&#124;")
    return f"<code>{text}</code>"


def render_markdown(plan: Plan, limit: int = LIMIT, summary_over: int = SUMMARY_OVER) -> str:
    summary = plan.summary
    head = ["### FluentCart plan", "", f"**{html.escape(summary_line(summary))}**", ""]
    serial = plan.state_serial if plan.state_serial is not None else "none (no state yet)"
    commit = f"`{plan.git_commit[:12]}`" if plan.git_commit else "not a git checkout"
    if plan.git_dirty:
        commit += " with uncommitted changes"
    head += [f"Plan `{plan.sha256[:16]}` · base state serial {serial} · commit {commit}", ""]
    if plan.name_mode:
        head += [f"Name mode `{plan.name_mode}`.", ""]
    if plan.changed_since is not None:
        head += [
            f"Only files changed since `{html.escape(plan.changed_since)}`:"
            f" {plan.not_planned} declared customer(s) elsewhere were not planned.",
            "",
        ]
    head += [
        "| Change | Customers |",
        "|---|---:|",
        *([f"| `+` create | {summary.create} |"] if summary.create else []),
        f"| `~` update | {summary.update} |",
        f"| unchanged | {summary.no_op} |",
        f"| `?` not in state | {summary.not_in_state} |",
        f"| `-` forget | {summary.forget} |",
        f"| `x` gone from the store | {summary.gone} |",
        f"| changed outside fluentcart | {summary.drifted} |",
        f"| errors | {summary.errors} |",
        f"| warnings | {summary.warnings} |",
        "",
    ]
    if plan.new_labels:
        titles = ", ".join(cell(title) for title in plan.new_labels)
        head += [f"Labels the store does not have, which apply creates: {titles}", ""]
    if len(plan.changes) > summary_over:
        head += _field_counts(plan, summary_over)
    head.append("")
    problems = _problems(list(plan.diagnostics), limit // 3)
    text = "\n".join(head)
    budget = limit - len(text) - len(problems) - 200
    body: list[str] = []
    if plan.drift:
        drift = _drift_section(plan.drift, summary_over)
        if len(drift) + 1 > budget:
            drift = "The changes outside fluentcart are too long to show here: `fluentcart plan --refresh` lists them.\n"
        body.append(drift)
        budget -= len(drift) + 1
    shown = 0
    for change in plan.changes[:summary_over]:
        section = _section(change, plan.refreshed)
        if len(section) + 1 > budget:
            break
        body.append(section)
        budget -= len(section) + 1
        shown += 1
    text += "\n".join(body)
    hidden = len(plan.changes) - shown
    if hidden:
        noun = "customer" if hidden == 1 else "customers"
        text += (
            f"\n\n**{hidden} more {noun} not shown** (the comment would be too long;"
            " `fluentcart plan`, or `fluentcart show` of the saved plan, lists them all).\n"
        )
    return text + problems


def _field_counts(plan: Plan, listed: int) -> list[str]:
    counts = plan.field_counts()
    lines = [
        f"**Changes by field** ({len(plan.changes)} customers change; the list below stops after"
        f" {listed}):",
        "",
    ]
    if counts:
        lines += ["| Field | Customers |", "|---|---:|"]
        lines += [f"| `{name}` | {count} |" for name, count in counts]
        lines.append("")
    return lines


def _drift_section(drift: tuple[CustomerDrift, ...], listed: int) -> str:
    rows = [
        f"| {d.id} | `{item.name}` | {cell(item.recorded)} | {cell(item.live)} |"
        for d in drift[:listed]
        for item in d.fields
    ]
    more = (
        f"\n{len(drift) - listed} more customer(s) changed outside fluentcart not shown.\n"
        if len(drift) > listed
        else ""
    )
    return (
        "<details open><summary>Changed outside fluentcart since recorded"
        f" ({len(drift)} customer(s))</summary>\n\n"
        "| Customer | Field | Recorded | Live |\n|---:|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
        + more
        + "\n</details>\n"
    )


def _address_cell(item: FieldChange) -> str:
    count = len(item.address_ops)
    if count:
        return f"{count} address request{'s' if count > 1 else ''}, below"
    return "not recorded, see below" if item.before is None else "no address request"


def _before(item: FieldChange) -> str:
    if item.before is None and item.added is not None:
        return "<em>(not recorded)</em>"  # labels a record never read
    return cell(item.before)


def _section(change: CustomerChange, refreshed: bool = False) -> str:
    where = f" ({html.escape(change.source)})" if change.source else ""
    who = f"customer {change.id}" if change.action is not Action.CREATE else "new customer"
    title = f"<code>{SYMBOLS[change.action]} {who}</code> {_TITLES[change.action]}{where}"
    if change.action not in (Action.UPDATE, Action.CREATE):
        return f"- {title}\n"
    rows = [
        (
            f"| `{item.name}` | {_address_cell(item)} | |"
            if isinstance(item.after, Addresses)
            else f"| `{item.name}` | {_before(item)} | {cell(item.after)} |"
        )
        + (f" {item.origin} |" if refreshed else "")
        for item in change.fields
    ]
    reverts = [item for item in change.fields if item.accepted_on]
    notes = "".join(
        f"\n> `{item.name}` reverts a change made on the store (accepted by refresh on"
        f" {item.accepted_on}); `fluentcart refresh --update-yaml` keeps the store's value\n"
        for item in reverts
    )
    notes += "".join(
        f"\n> `{item.name}`: {html.escape(label_delta(item), quote=False)}\n"
        for item in change.fields
        if label_delta(item)
    )
    notes += "".join(
        "\n<pre>" + html.escape("\n".join(address_lines(item.address_ops, ""))) + "</pre>\n"
        for item in change.fields
        if item.address_ops
    )
    notes += "".join(
        f"\n> `{item.name}`: {html.escape(UNRECORDED_ADDRESSES, quote=False)}\n"
        for item in change.fields
        if isinstance(item.after, Addresses)
        and item.before is None
        and change.action is not Action.CREATE
    )
    notes += "".join(f"\n> {html.escape(w)}\n" for w in change.warnings)
    hidden = (
        f"\n{change.unchanged_fields} unchanged field(s) hidden.\n"
        if change.unchanged_fields
        else ""
    )
    return (
        f"<details><summary>{title}: {', '.join(f.name for f in change.fields)}"
        + (" (reverts changes made on the store)" if reverts else "")
        + "</summary>\n\n"
        + (
            "| Field | Live | After | Origin |\n|---|---|---|---|\n"
            if refreshed
            else "| Field | Before | After |\n|---|---|---|\n"
        )
        + "\n".join(rows)
        + "\n"
        + hidden
        + notes
        + "\n</details>\n"
    )


def _problems(diagnostics: list[Diagnostic], budget: int) -> str:
    if not diagnostics:
        return ""
    lines = ["", "#### Problems", ""]
    used = 0
    # Errors first: if the list must be cut, warnings are what goes.
    ordered = sorted(diagnostics, key=lambda d: d.severity is not Severity.ERROR)
    for index, diagnostic in enumerate(ordered):
        marker = "**error**" if diagnostic.severity is Severity.ERROR else "warning"
        text = diagnostic.format().replace("`", "'")
        line = f"- {marker}: `{text}`"
        if used + len(line) > budget:
            lines.append(f"- {len(ordered) - index} more problems not shown")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines) + "\n"
