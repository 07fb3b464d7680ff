"""Accepting changes made on the store into the YAML: `refresh --update-yaml`.

Pure apart from reading the declared files: which declared values the store's values
replace, and the declared files' new text (through `fmt`, so comments and the canonical form
are kept). The caller writes the files and records the live customers.
"""

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import yamlsource
from reconciler.addresses import Addresses, as_declared
from reconciler.customer import FieldValue, observed_value, same, satisfies, value_from_json
from reconciler.declared import Declaration
from reconciler.diagnostics import short_repr
from reconciler.errors import FluentCartError
from reconciler.fields import MANAGED_FIELDS
from reconciler.fmt import FormatBug, FormatError, with_values
from reconciler.labels import Labels, existing
from reconciler.rules import declarable
from reconciler.state import StateFile


@dataclass
class Acceptance:
    """The store's values to write into the YAML, and the conflicts left as declared."""

    values: dict[int, dict[str, FieldValue]] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(fields) for fields in self.values.values())


@dataclass(frozen=True)
class YamlEdit:
    file: str  # as the workspace shows it
    path: Path
    before: str
    after: str

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                f"a/{self.file}",
                f"b/{self.file}",
            )
        )


def to_accept(
    declaration: Declaration,
    state: StateFile,
    found: Mapping[int, Mapping[str, Any]],
    statuses: Sequence[str],
    name_mode: str | None,
) -> Acceptance:
    """For each live customer, the declared fields whose store value should become the
    declared one: changed on the store while the YAML kept the recorded value (drift), or
    accepted into the state by an earlier refresh while the YAML kept the value last applied.
    A field changed both in the YAML and on the store keeps the YAML's value (reported)."""
    acceptance = Acceptance()
    for customer_id in sorted(found):
        declared = declaration.customers.get(customer_id)
        record = state.customers.get(customer_id)
        if declared is None or record is None:
            continue
        current = found[customer_id]
        for name in MANAGED_FIELDS:
            if name not in declared.fields:
                continue
            wanted = declared.fields[name]
            was = observed_value(record.observed, name)
            now = observed_value(current, name)
            if now is None or satisfies(now, wanted):
                continue  # (labels or addresses the answer did not carry: nothing to accept)
            last = record.last_applied.get(name)
            accepted_before = (
                same(now, was, wanted)
                and last is not None
                and satisfies(value_from_json(name, last), wanted)
            )
            if not (satisfies(was, wanted) or accepted_before):
                if not same(now, was, wanted):
                    acceptance.kept.append(
                        f"customer {customer_id} {name}: changed in the YAML ({declared.source})"
                        " and on the store; the YAML's value is kept (edit it to take the store's)"
                    )
                continue
            # The text that validate maps to the store's value: a value the database cut
            # after a space needs a '>' the cut removes again.
            text = (
                declarable(name, now, statuses, name_mode)
                if isinstance(now, str)
                else existing(now)
                if isinstance(now, Labels)
                else as_declared(now, wanted.kinds)
                if isinstance(now, Addresses) and isinstance(wanted, Addresses)
                else now
            )
            if text is None:
                acceptance.kept.append(
                    f"customer {customer_id} {name}: the store holds {short_repr(now)}, which no"
                    f" declared value makes ({declared.source} keeps its value)"
                )
            else:
                acceptance.values.setdefault(customer_id, {})[name] = text
    return acceptance


def yaml_edits(root: Path, declaration: Declaration, acceptance: Acceptance) -> list[YamlEdit]:
    """The declared files with the accepted values written in; FluentCartError naming the
    file when one cannot be rewritten (nothing is written then)."""
    by_file: dict[str, dict[int, dict[str, FieldValue]]] = {}
    for customer_id, values in acceptance.values.items():
        by_file.setdefault(declaration.customers[customer_id].file, {})[customer_id] = values
    edits = []
    for file, updates in sorted(by_file.items()):
        path = root / file
        try:
            text = yamlsource.decode(yamlsource.read_bytes(path))
            after = with_values(text, updates)
        except yamlsource.YamlSourceError as exc:
            raise FluentCartError(f"{file}: cannot read it: {exc.message}") from None
        except FormatError as exc:
            where = f":{exc.line}" if exc.line else ""
            raise FluentCartError(
                f"{file}{where}: cannot write the store's values into it: {exc.message};"
                " nothing was written or recorded"
            ) from None
        except FormatBug as exc:
            raise FluentCartError(
                f"{file}: not rewritten, because the result would not mean the same ({exc});"
                " this is a bug in fluentcart: please report it with the file"
            ) from None
        edits.append(YamlEdit(file, path, text, after))
    return edits
