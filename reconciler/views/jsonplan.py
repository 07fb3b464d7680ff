"""The JSON view of a plan (schemas/plan.schema.json).

A plan of a million customers is written as it is encoded, a customer at a time
(`json_chunks`): never the whole document as dicts, nor its whole text, in memory. The bytes
are exactly those of `json.dumps(document, indent=2, ensure_ascii=False)`
(tests/test_views.py)."""

import json
from collections.abc import Iterator
from typing import Any

from reconciler.plan import Plan

_FLUSH_AT = 1 << 20


def plan_document(plan: Plan) -> dict[str, Any]:
    return {**plan.to_dict(), "redacted": plan.redacted}


def render_json(plan: Plan) -> str:
    return "".join(json_chunks(plan))


def json_chunks(plan: Plan) -> Iterator[str]:
    """The JSON text of the plan in pieces of about a megabyte, one customer after another."""
    document = {**plan.to_dict(lists=iter), "redacted": plan.redacted}
    pending: list[str] = []
    size = 0
    for piece in _pieces(document):
        pending.append(piece)
        size += len(piece)
        if size >= _FLUSH_AT:
            yield "".join(pending)
            pending, size = [], 0
    pending.append("\n")
    yield "".join(pending)


def _value(value: Any, indent: str) -> str:
    """A value as json.dumps(indent=2) writes it `indent` deep."""
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)


def _pieces(document: dict[str, Any]) -> Iterator[str]:
    yield "{"
    for position, (key, value) in enumerate(document.items()):
        yield ("," if position else "") + "\n  " + json.dumps(key, ensure_ascii=False) + ": "
        if not isinstance(value, Iterator):
            yield _value(value, "  ")
            continue
        first = next(value, _END)
        if first is _END:
            yield "[]"
            continue
        yield "[\n    " + _value(first, "    ")
        for item in value:
            yield ",\n    " + _value(item, "    ")
        yield "\n  ]"
    yield "\n}"


_END = object()
