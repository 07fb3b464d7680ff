"""Renderers of a Plan: text for terminals, JSON for machines, Markdown for pull requests."""

from reconciler.plan import Plan
from reconciler.views.jsonplan import render_json
from reconciler.views.markdown import render_markdown
from reconciler.views.redact import Redactor
from reconciler.views.text import render_text


def render(plan: Plan, fmt: str, redactor: Redactor, color: bool = False) -> str:
    if fmt == "json":
        return render_json(plan, redactor)
    if fmt == "markdown":
        return render_markdown(plan, redactor)
    return render_text(plan, redactor, color)
