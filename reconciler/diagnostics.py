"""Problems found in the user's files, each pinned to a file, line and field."""

import json
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    customer: int | None = None
    field: str | None = None

    def format(self) -> str:
        """`customers/vip.yaml:12:5: customer 42: email: "a@@b" is not a valid email address`."""
        parts: list[str] = []
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            parts.append(where)
        if self.severity is Severity.WARNING:
            parts.append("warning")
        if self.customer is not None:
            parts.append(f"customer {self.customer}")
        if self.field is not None:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)

    def to_dict(self) -> dict[str, object]:
        return {
            "severity": str(self.severity),
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "customer": self.customer,
            "field": self.field,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "Diagnostic":
        return cls(
            severity=Severity(str(data["severity"])),
            message=str(data["message"]),
            file=data.get("file"),  # type: ignore[arg-type]
            line=data.get("line"),  # type: ignore[arg-type]
            column=data.get("column"),  # type: ignore[arg-type]
            customer=data.get("customer"),  # type: ignore[arg-type]
            field=data.get("field"),  # type: ignore[arg-type]
        )


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def short_repr(value: object, limit: int = 60) -> str:
    """A value as it appears in a message: quoted, escaped, and cut so no message is unbounded."""
    if isinstance(value, str):
        clipped = value[: limit * 2]
        text = json.dumps(clipped, ensure_ascii=False)
        if not text.isprintable():
            text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
        if len(text) > limit or len(clipped) < len(value):
            text = text[: limit - 4] + '..."'
        return text
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
