"""Masking of sensitive values for `--redact`, applied by every view the same way."""

import re
from collections.abc import Collection

from reconciler.diagnostics import Diagnostic

MASK = "(sensitive)"
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


class Redactor:
    """Masks the workspace's `sensitive` fields, and the local part of every email."""

    def __init__(self, sensitive: Collection[str], enabled: bool) -> None:
        self.sensitive = frozenset(sensitive)
        self.enabled = enabled

    def value(self, name: str, value: object) -> object:
        if not self.enabled or value is None or value == "":
            return value
        if name in self.sensitive:
            return MASK
        if name == "email" and isinstance(value, str) and "@" in value:
            return "***@" + value.rsplit("@", 1)[1]
        return value

    def diagnostic(self, diagnostic: Diagnostic) -> Diagnostic:
        """Quoted values in messages about masked fields are replaced, the rest kept."""
        if not self.enabled or not (
            diagnostic.field in self.sensitive or diagnostic.field == "email"
        ):
            return diagnostic
        message = _QUOTED.sub('"(redacted)"', diagnostic.message)
        return Diagnostic(
            diagnostic.severity,
            message,
            diagnostic.file,
            diagnostic.line,
            diagnostic.column,
            diagnostic.customer,
            diagnostic.field,
        )


NO_REDACTION = Redactor((), enabled=False)
