"""Declared YAML written from store customers, for adopting an existing store.

Pure: customers in, file text out. Only the editable fields, in a canonical order, quoted
only where YAML would otherwise read something else, so that `validate` passes and `plan`
reports no changes right after an import. A value the validator would reject (written by
another plugin, say) is kept, with a `# fluentcart:` comment saying what to fix.
"""

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from reconciler import yamlsource
from reconciler.addresses import Addresses, as_declared, yaml_form
from reconciler.customer import FieldValue, observed_value
from reconciler.diagnostics import Severity
from reconciler.fields import FIELDS
from reconciler.labels import Labels, existing
from reconciler.rules import check_address, check_field, declarable
from reconciler.workspace import NameMode


def name_fields(mode: NameMode | None) -> tuple[str, ...]:
    return ("first_name", "last_name") if mode is NameMode.FIRST_LAST else ("full_name",)


def declared_fields(
    customer: Mapping[str, Any], mode: NameMode | None
) -> list[tuple[str, FieldValue]]:
    """The editable fields worth declaring, in canonical order; empty ones are left out (and
    a customer's relationship to a label id that has no label)."""
    fields: list[tuple[str, FieldValue]] = []
    names = name_fields(mode)
    for field in FIELDS:
        if not field.imported or (field.name_part and field.name not in names):
            continue
        name = field.name
        value = observed_value(customer, name)
        if isinstance(value, Labels):
            value = existing(value)
        if isinstance(value, Addresses):
            value = as_declared(value)
            if not value.kinds:
                continue  # no addresses: nothing to declare
        if value:  # not "", 0, no labels, nor labels or addresses not read
            fields.append((name, value))
    return fields


def written_fields(
    customer: Mapping[str, Any], mode: NameMode | None, statuses: Sequence[str]
) -> list[tuple[str, FieldValue]]:
    """The fields as the file declares them: the text that `validate` maps to each stored
    value (a value the database cut after a space gets the '>' the cut removes again)."""
    written: list[tuple[str, FieldValue]] = []
    for name, value in declared_fields(customer, mode):
        if isinstance(value, str):
            value = declarable(name, value, statuses, str(mode) if mode else None) or value
        written.append((name, value))
    return written


def scalar(value: str | int, indent: str = "  ") -> str:
    """A value as YAML text: plain when YAML reads it back unchanged, quoted otherwise.

    Text of several lines is a literal block (`|` or `|-`) with its lines at `indent`, when
    a literal block holds it exactly; anything else unprintable is double-quoted and escaped.
    """
    if isinstance(value, int):
        return str(value)
    if not value.isprintable():
        # PyYAML would write line breaks such as \x85 raw inside quotes, where YAML folds them.
        return _literal(value, indent) or _double_quoted(value)
    return _plain_or_single_quoted(value) or _dumped(value)


def _dumped(value: str) -> str:
    text = yaml.safe_dump(value, allow_unicode=True, width=1_000_000, default_flow_style=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


_ANALYZER = yaml.emitter.Emitter(io.StringIO(), allow_unicode=True)
_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"
_SIMPLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@/+-]*(?: [A-Za-z0-9._@/+-]+)*")


def _plain_or_single_quoted(value: str) -> str | None:
    """What `yaml.safe_dump` writes for one line of printable text, in a tenth of the time
    (the same emitter analysis and resolver, without the event pipeline); None when PyYAML
    would choose another style."""
    if _SIMPLE.fullmatch(value):  # words of letters, digits and ._@/+- (most values)
        plain_is_text = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR
        return value if plain_is_text else "'" + value + "'"
    analysis = _ANALYZER.analyze_scalar(value)
    if analysis.multiline or analysis.empty:
        return None
    plain_is_text = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR
    if plain_is_text and analysis.allow_block_plain:
        return value
    if analysis.allow_single_quoted:
        return "'" + value.replace("'", "''") + "'"
    return None


def _literal(value: str, indent: str) -> str | None:
    """`value` as a literal block scalar, or None when one would not read back as `value`.

    Only the plain cases: lines of printable text without trailing spaces, the first one not
    indented, ending in at most one line break (`|` keeps it, `|-` strips it).
    """
    body, chomp = (value[:-1], "") if value.endswith("\n") else (value, "-")
    if "\n" not in body or body.endswith("\n"):
        return None
    lines = body.split("\n")
    if not lines[0] or lines[0][0] == " ":
        return None
    for line in lines:
        if not line.isprintable() or line != line.rstrip(" "):
            return None
    return f"|{chomp}\n" + "\n".join(indent + line if line else "" for line in lines)


_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def _double_quoted(value: str) -> str:
    """A YAML double-quoted scalar with every non-printable character escaped."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
    return '"' + "".join(out) + '"'


def field_comments(
    name: str, value: FieldValue, statuses: Sequence[str], mode: NameMode | None = None
) -> list[str]:
    """What `validate` will say about a stored value, as `# fluentcart:` comments."""
    if isinstance(value, Addresses):
        problems = [
            (severity, f"{kind} address {index + 1}{f' {field}' if field else ''}: {message}")
            for kind in value.kinds
            for index, address in enumerate(value.of(kind))
            for field, severity, message in check_address(dict(address.values)).problems
        ]
    elif isinstance(value, str):
        problems = check_field(name, value, statuses, str(mode) if mode else None).problems
    else:
        return []
    comments = []
    for severity, message in problems:
        if severity is Severity.ERROR:
            comments.append(f"# fluentcart: fix this value before the next apply: {message}")
        else:
            comments.append(f"# fluentcart: {message}")
    return [c.replace("\n", " ") for c in comments]


def render_file(
    customers: Sequence[Mapping[str, Any]],
    mode: NameMode | None,
    statuses: Sequence[str],
    schema_comment: str,
    header: str,
    as_list: bool,
) -> str:
    """One declared file: a single customer mapping, or `customers:` and a list."""
    lines = [schema_comment, f"# {header}"]
    if as_list:
        lines.append("customers:")
    for index, customer in enumerate(customers):
        indent, first_prefix = ("    ", "  - ") if as_list else ("", "")
        if as_list and index:
            lines.append("")
        lines.append(f"{first_prefix}id: {customer['id']}")
        for name, value in written_fields(customer, mode, statuses):
            for comment in field_comments(name, value, statuses, mode):
                lines.append(f"{indent}{comment}")
            if isinstance(value, Labels):
                lines.append(f"{indent}{name}:")
                lines.extend(f"{indent}  - {scalar(title, indent + '    ')}" for title in value)
            elif isinstance(value, Addresses):
                lines.append(f"{indent}{name}:")
                lines.extend(address_lines(yaml_form(value), indent + "  "))
            else:
                lines.append(f"{indent}{name}: {scalar(value, indent + '  ')}")
    text = "\n".join(lines) + "\n"
    _check_round_trip(text, customers, mode, statuses, as_list)
    return text


def _check_round_trip(
    text: str,
    customers: Sequence[Mapping[str, Any]],
    mode: NameMode | None,
    statuses: Sequence[str],
    as_list: bool,
) -> None:
    """The file must read back as exactly the values written; anything else is a bug here."""
    value = yamlsource.parse(text).value
    entries = value.get("customers") if as_list and isinstance(value, dict) else [value]
    if not isinstance(entries, list):
        raise AssertionError("generated YAML has no list of customers")
    for entry, customer in zip(entries, customers, strict=True):
        expected = {
            "id": customer["id"],
            **{
                name: yaml_form(value) if isinstance(value, Addresses) else value
                for name, value in written_fields(customer, mode, statuses)
            },
        }
        if entry != expected:
            raise AssertionError(f"generated YAML does not read back for customer {customer['id']}")


def address_lines(value: Mapping[str, Any], indent: str) -> list[str]:
    """`billing:` and `shipping:` under `addresses:`, at `indent`, from their YAML form
    (addresses.yaml_form): one address as a mapping, more as a list of mappings; an empty
    value as `null`."""
    lines = []
    for kind, entries in value.items():
        many = isinstance(entries, list)
        lines.append(f"{indent}{kind}:{' []' if many and not entries else ''}")
        for entry in entries if many else [entries]:
            inner = indent + ("    " if many else "  ")
            if not entry:
                lines.append(f"{indent}  - {{}}" if many else f"{inner}{{}}")
                continue
            for position, (field, text) in enumerate(entry.items()):
                lead = f"{indent}  - " if many and position == 0 else inner
                shown = "null" if text is None else scalar(text, inner + "  ")
                lines.append(f"{lead}{field}: {shown}")
    return lines


def file_name(ids: Sequence[int], per_file: int) -> str:
    if per_file == 1:
        return f"customer-{ids[0]:06d}.yaml"
    return f"customers-{ids[0]:06d}-{ids[-1]:06d}.yaml"
