"""Renderers of a Plan: text for terminals, JSON for machines, Markdown for pull requests.

None of them knows of `--redact`: a plan is redacted once, before any of them sees it
(views/redact.py).
"""

from reconciler.plan import Plan
from reconciler.views.jsonplan import render_json
from reconciler.views.markdown import render_markdown
from reconciler.views.text import render_text


def render(plan: Plan, fmt: str, color: bool = False) -> str:
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color)
