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
            file=_optional_str(data.get("file")),
            line=_optional_int(data.get("line")),
            column=_optional_int(data.get("column")),
            customer=_optional_int(data.get("customer")),
            field=_optional_str(data.get("field")),
        )


# `from_dict` reads what `to_dict` wrote: each value is of its field's type, or None.
def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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
    if isinstance(value, tuple) and all(isinstance(item, str) for item in value):
        return "[" + ", ".join(short_repr(item, limit) for item in value) + "]"  # labels
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
