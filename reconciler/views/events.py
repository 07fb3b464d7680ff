"""`apply --json`: one JSON event per line on stdout (schemas/apply-events.schema.json)."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from reconciler import __version__
from reconciler.breaker import RetryNotice


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ApplyEvents:
    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def emit(self, event: dict[str, Any]) -> None:
        self.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))

    def start(
        self, site: str, to_update: int, plan_sha256: str, plan_summary: dict[str, Any]
    ) -> None:
        self.emit(
            {
                "type": "apply_start",
                "timestamp": _now(),
                "tool_version": __version__,
                "site": site,
                "to_update": to_update,
                "plan_sha256": plan_sha256,
                "plan_summary": plan_summary,
            }
        )

    def customer(
        self,
        customer_id: int | None,
        outcome: str,
        message: str,
        not_applied: tuple[str, ...],
        done: int,
        total: int,
    ) -> None:
        event: dict[str, Any] = {
            "type": "apply_complete" if outcome in ("changed", "unchanged") else "apply_errored",
            "timestamp": _now(),
            "customer": customer_id,
            "outcome": outcome,
            "message": message,
        }
        if event["type"] == "apply_errored":
            event["not_applied"] = list(not_applied)
        self.emit(event)
        self.emit({"type": "apply_progress", "done": done, "total": total})

    def retry(self, notice: RetryNotice) -> None:
        self.emit(
            {
                "type": "retry",
                "timestamp": _now(),
                "request": notice.request,
                "attempt": notice.attempt,
                "retries": notice.retries,
                "wait_seconds": round(notice.wait, 3),
                "reason": notice.reason,
            }
        )

    def summary(
        self,
        status: str,
        exit_code: int,
        counts: dict[str, int],
        retries: int,
        message: str,
        stopped: dict[str, str] | None = None,
    ) -> None:
        event: dict[str, Any] = {
            "type": "summary",
            "timestamp": _now(),
            "status": status,
            "exit_code": exit_code,
            "changed": counts.get("changed", 0),
            "unchanged": counts.get("unchanged", 0),
            "failed": counts.get("failed", 0),
            "skipped": counts.get("skipped", 0),
            "not_started": counts.get("not_started", 0),
            "retries": retries,
            "message": message,
        }
        if stopped:
            event["stopped"] = stopped
        self.emit(event)
