"""The JSON view of a plan (schemas/plan.schema.json)."""

import json
from typing import Any

from reconciler.plan import Plan
from reconciler.views.redact import NO_REDACTION, Redactor


def plan_document(plan: Plan, redactor: Redactor = NO_REDACTION) -> dict[str, Any]:
    document = plan.to_dict()
    if redactor.enabled:
        for change in document["changes"]:
            for item in change["fields"]:
                item["before"] = redactor.value(item["name"], item["before"])
                item["after"] = redactor.value(item["name"], item["after"])
        document["diagnostics"] = [redactor.diagnostic(d).to_dict() for d in plan.diagnostics]
    document["redacted"] = redactor.enabled
    return document


def render_json(plan: Plan, redactor: Redactor = NO_REDACTION) -> str:
    return json.dumps(plan_document(plan, redactor), indent=2, ensure_ascii=False) + "\n"
