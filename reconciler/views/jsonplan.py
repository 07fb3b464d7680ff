"""The JSON view of a plan (schemas/plan.schema.json)."""

import json
from typing import Any

from reconciler.plan import Plan


def plan_document(plan: Plan) -> dict[str, Any]:
    return {**plan.to_dict(), "redacted": plan.redacted}


def render_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), indent=2, ensure_ascii=False) + "\n"
