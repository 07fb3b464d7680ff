"""Renderers of a Plan: text for terminals, JSON for machines, Markdown for pull requests.

None of them knows of `--redact`: a plan is redacted once, before any of them sees it
(views/redact.py).
"""

from reconciler.plan import Plan
from reconciler.views.jsonplan import render_json
from reconciler.views.markdown import SUMMARY_OVER as MARKDOWN_SUMMARY_OVER
from reconciler.views.markdown import render_markdown
from reconciler.views.text import SUMMARY_OVER as TEXT_SUMMARY_OVER
from reconciler.views.text import render_text


def render(plan: Plan, fmt: str, color: bool = False, summary_over: int | None = None) -> str:
    """`summary_over` (fluentcart.yaml): above that many customers to change, text and
    Markdown count them by field and list that many (defaults: 1,000 and 50)."""
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan, summary_over=summary_over or MARKDOWN_SUMMARY_OVER)
    return render_text(plan, color, summary_over or TEXT_SUMMARY_OVER)
