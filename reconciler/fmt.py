"""Declared files in one canonical form, comments kept: what `fluentcart fmt` writes.

Pure: text in, text out. The canonical form is the one `import --generate-yaml` writes:

- the fields of a customer in a fixed order (`id`, `email`, the name fields, `status`,
  `user_id`, `city`, `state`, `postcode`, `country`, `notes`);
- values quoted only where YAML would otherwise read something else (`postcode: '01234'`,
  `country: 'NO'`), several lines as a literal block, an empty value as `null`;
- two spaces of indentation, list items as `  - `, one blank line between customers;
- every comment kept: a comment line moves with the field or customer below it (or stays
  at the end of the customer above when indented like its fields), a comment at the end of
  a line stays on that field's line, two spaces after the value. Inside `labels:` and
  `addresses:`, whose entries are reordered, a comment has no field of its own to go with:
  fmt refuses the file (FormatError at the comment) rather than move it.

Comments are found between the values: what stands between two scalars the parser saw is
structure (indentation, `-`, `:`, brackets) or a comment, and a block scalar's header line
may end in one. When anything else stands there (an anchor, a tag, an alias), PyYAML's
tokenizer is asked instead. (ruamel.yaml keeps comments too,
but ties a comment line to the field above it, so sorting fields would move comments to
the wrong field, and it reads YAML 1.2 where `validate` reads YAML 1.1.)

The result is checked before it is returned: it must read back as exactly the same values,
field by field, and hold exactly the same comments, or FormatBug is raised and nothing is
written.
"""

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.tokens import AliasToken, AnchorToken, DirectiveToken, TagToken

from reconciler import yamlsource
from reconciler.addresses import Addresses, yaml_form
from reconciler.customer import FieldValue
from reconciler.declared import written_scalar, written_value
from reconciler.fields import ADDRESS_FIELDS, ADDRESS_KINDS, BY_NAME, MANAGED_FIELDS, Kind
from reconciler.generate import address_lines, scalar
from reconciler.yamlsource import MERGE

FIELD_ORDER = ("id", *MANAGED_FIELDS)
TITLE_FIELDS = frozenset(f.name for f in BY_NAME.values() if f.kind is Kind.TITLES)
ADDRESS_FIELDS_NAMES = frozenset(f.name for f in BY_NAME.values() if f.kind is Kind.ADDRESSES)
ADDRESS_ORDER = tuple(f.name for f in ADDRESS_FIELDS)
_RANK = {name: rank for rank, name in enumerate(FIELD_ORDER)}
_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
_LIST_INDENT = "  "
_FIELD_INDENT = "    "

try:
    _ScanLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _ScanLoader = yaml.SafeLoader


class FormatError(Exception):
    """The file cannot be put in canonical form as it is; line and column are 1-based."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class FormatBug(Exception):
    """The formatted text would not mean what the file means: a bug here, never written."""


@dataclass
class _Comment:
    index: int
    line: int  # 0-based
    column: int
    text: str  # from '#' to the end of the line, trailing white space removed
    inline: bool  # something else comes before it on its line
    blank_before: bool


@dataclass
class _Field:
    name: str
    # a list: titles (labels); a mapping: addresses, in their YAML form, canonically ordered
    value: str | int | list[str] | dict[str, object] | None
    index: int
    end_line: int  # 0-based line where the value ends
    leading: list[_Comment] = field(default_factory=list)
    eol: list[_Comment] = field(default_factory=list)
    # A block value (labels, addresses) on lines below its key: the key's line and the last
    # line the value holds.
    inner_lines: tuple[int, int] | None = None


@dataclass
class _Customer:
    index: int
    line: int  # 0-based line of its first field
    key_column: int
    fields: list[_Field]
    leading: list[_Comment] = field(default_factory=list)
    trailing: list[_Comment] = field(default_factory=list)


@dataclass
class _Layout:
    """A declared file as fmt sees it: its customers, and where every comment belongs."""

    as_list: bool
    customers: list[_Customer]
    customers_line: int = 0
    customers_eol: list[_Comment] = field(default_factory=list)
    header: list[_Comment] = field(default_factory=list)
    blank_after_header: bool = False
    footer: list[_Comment] = field(default_factory=list)
    comments: list[_Comment] = field(default_factory=list)

    def values(self) -> list[dict[str, object]]:
        return [{f.name: f.value for f in c.fields} for c in self.customers]


def format_text(
    text: str,
    document: yamlsource.YamlDocument | None = None,
    ids: Mapping[str, int] | None = None,
) -> str:
    """`text` in canonical form; FormatError when it cannot be, FormatBug on a bug here.

    `document` is `text` already parsed, when the caller has it. `ids` (email, lower-cased
    -> id: the customers apply created) gives each customer declared without an id whose
    email is among them its id (`fmt --write-ids`).
    """
    layout = _read_layout(text, document)
    if ids:
        _write_ids(layout, ids)
    result = _render(layout)
    if result != text:
        _check_same_meaning(layout, result)
    return result


def with_values(
    text: str,
    updates: Mapping[int, Mapping[str, FieldValue]],
    document: yamlsource.YamlDocument | None = None,
) -> str:
    """`text` in canonical form with fields of the customers it declares set to new values
    (`updates`: id -> field -> value), every comment kept; FormatError when a customer or a
    field is not written in this file, FormatBug on a bug here."""
    layout = _read_layout(text, document)
    by_id = {
        item.value: customer
        for customer in layout.customers
        for item in customer.fields
        if item.name == "id" and isinstance(item.value, int)
    }
    for customer_id, values in updates.items():
        customer = by_id.get(customer_id)
        if customer is None:
            raise FormatError(f"customer {customer_id} is not declared in this file")
        for name, value in values.items():
            found = [item for item in customer.fields if item.name == name]
            if not found:
                raise FormatError(f"customer {customer_id} does not declare {name} here")
            if isinstance(value, Addresses):
                found[0].value = yaml_form(value)
            elif isinstance(value, tuple):
                found[0].value = list(value)
            else:
                found[0].value = None if value == "" else value  # canonical: empty is null
    result = _render(layout)
    _check_same_meaning(layout, result)
    return result


def _write_ids(layout: _Layout, ids: Mapping[str, int]) -> None:
    for customer in layout.customers:
        if any(f.name == "id" for f in customer.fields):
            continue
        email = next((f.value for f in customer.fields if f.name == "email"), None)
        customer_id = ids.get(str(email).lower()) if isinstance(email, str) else None
        if customer_id is not None:
            customer.fields.insert(0, _Field("id", customer_id, customer.index, customer.line))


def _check_same_meaning(layout: _Layout, result: str) -> None:
    try:
        again = _read_layout(result)
    except FormatError as exc:
        raise FormatBug(f"the formatted text does not read back: {exc.message}") from None
    if again.as_list != layout.as_list or again.values() != layout.values():
        raise FormatBug("the formatted text reads back as different values")
    if sorted(c.text for c in again.comments) != sorted(c.text for c in layout.comments):
        raise FormatBug("the formatted text does not hold the same comments")


def _read_layout(text: str, document: yamlsource.YamlDocument | None = None) -> _Layout:
    if document is None:
        try:
            document = yamlsource.parse(text)
        except yamlsource.YamlSourceError as exc:
            raise FormatError(exc.message, exc.line, exc.column) from None
    if document.duplicate_keys:
        key, _, again = document.duplicate_keys[0]
        raise FormatError(f"{key!r} is written twice in one mapping", again.line, again.column)
    spans = scalar_spans(document.root)
    comments = find_comments(text, spans, strict=True)
    if comments is None:  # something other than plain structure between the values
        tokens = list(yaml.scan(text, Loader=_ScanLoader))
        _refuse_decorations(tokens)
        comments = find_comments(text, token_spans(tokens), strict=False)
        assert comments is not None
    layout = _structure(document.root, document.value)
    layout.comments = comments
    _attach(layout, text)
    return layout


def _structure(root: Node | None, value: object) -> _Layout:
    if not isinstance(root, MappingNode) or not isinstance(value, dict):
        raise FormatError("fmt formats declared files: one customer, or 'customers:' and a list")
    if "customers" not in value:
        return _Layout(False, [_customer(root, value)])
    if len(root.value) != 1:
        raise FormatError("'customers' must be the only key at the top of the file")
    key_node, items = root.value[0]
    if not isinstance(items, SequenceNode) or not isinstance(value["customers"], list):
        raise FormatError("'customers' must be a list", *_where(items))
    customers = [
        _customer(node, entry) for node, entry in zip(items.value, value["customers"], strict=True)
    ]
    return _Layout(True, customers, customers_line=key_node.start_mark.line)


def _customer(node: Node, entry: object) -> _Customer:
    if not isinstance(node, MappingNode) or not isinstance(entry, dict):
        raise FormatError("a customer must be a mapping of fields", *_where(node))
    fields = []
    for key_node, value_node in node.value:
        if key_node.tag == MERGE:
            raise FormatError(
                "fmt does not rewrite files that use '<<' merge keys: write the fields out",
                *_where(key_node),
            )
        if not isinstance(key_node, ScalarNode) or not isinstance(key_node.value, str):
            raise FormatError("a field name must be plain text", *_where(key_node))
        name = key_node.value
        if isinstance(value_node, SequenceNode) and name in TITLE_FIELDS:
            fields.append(
                _Field(
                    name,
                    _titles(name, value_node, entry[name]),
                    key_node.start_mark.index,
                    value_node.end_mark.line,
                    inner_lines=(key_node.start_mark.line, _last_line(value_node)),
                )
            )
            continue
        if isinstance(value_node, MappingNode) and name in ADDRESS_FIELDS_NAMES:
            fields.append(
                _Field(
                    name,
                    _addresses(name, value_node, entry[name]),
                    key_node.start_mark.index,
                    value_node.end_mark.line,
                    inner_lines=(key_node.start_mark.line, _last_line(value_node)),
                )
            )
            continue
        if not isinstance(value_node, ScalarNode):
            raise FormatError(f"{key_node.value}: a field holds one value", *_where(value_node))
        value = written_value(name, value_node, entry[name])
        if isinstance(value, bool) or not isinstance(value, str | int | None):
            raise FormatError(
                f"{name}: {value_node.value!r} is not text or a whole number (run fluentcart"
                " validate)",
                *_where(value_node),
            )
        fields.append(
            _Field(
                name,
                value,
                key_node.start_mark.index,
                value_node.end_mark.line,
            )
        )
    if not fields:
        raise FormatError("a customer must have fields", *_where(node))
    first_key = node.value[0][0]
    return _Customer(
        node.start_mark.index, first_key.start_mark.line, first_key.start_mark.column, fields
    )


def _last_line(node: Node) -> int:
    """The last line (0-based) that holds part of a value."""
    if isinstance(node, MappingNode):
        return max((_last_line(v) for _, v in node.value), default=node.start_mark.line)
    if isinstance(node, SequenceNode):
        return max((_last_line(v) for v in node.value), default=node.start_mark.line)
    line = int(node.end_mark.line)
    # A block scalar (`|`, `>`) ends at the start of the line after its text.
    block = isinstance(node, ScalarNode) and node.style in ("|", ">")
    return line - 1 if block and node.end_mark.column == 0 else line


def _titles(name: str, node: SequenceNode, values: object) -> list[str]:
    """A list of titles as written (`- 010` stays "010")."""
    titles = []
    for item, value in zip(node.value, cast(list[object], values), strict=True):
        if not isinstance(item, ScalarNode):
            raise FormatError(f"{name}: each item is one title", *_where(item))
        written = written_scalar(item, value)
        if isinstance(written, bool) or not isinstance(written, str | int | float):
            raise FormatError(f"{name}: {item.value!r} is not a title", *_where(item))
        titles.append(str(written))
    return titles


def _addresses(name: str, node: MappingNode, values: object) -> dict[str, object]:
    """`addresses:` in canonical order (billing, shipping; each address's fields in the
    table's order), scalars as written; a list stays a list."""
    by_kind: dict[str, object] = {}
    for key, value_node in node.value:
        kind = key.value if isinstance(key, ScalarNode) else None
        if kind not in ADDRESS_KINDS:
            raise FormatError(
                f"{name}: only billing and shipping (run fluentcart validate)", *_where(key)
            )
        entry = cast(dict[str, object], values)[kind]
        if isinstance(value_node, SequenceNode):
            by_kind[kind] = [
                _address(name, item, value)
                for item, value in zip(value_node.value, cast(list[object], entry), strict=True)
            ]
        else:
            by_kind[kind] = _address(name, value_node, entry)
    return {kind: by_kind[kind] for kind in ADDRESS_KINDS if kind in by_kind}


def _address(name: str, node: Node, value: object) -> dict[str, object]:
    if isinstance(node, ScalarNode) and value is None:
        return {}
    if not isinstance(node, MappingNode) or not isinstance(value, dict):
        raise FormatError(f"{name}: an address is a mapping of fields", *_where(node))
    fields: dict[str, object] = {}
    for key, item in node.value:
        field_name = key.value if isinstance(key, ScalarNode) else None
        if field_name not in ADDRESS_ORDER or not isinstance(item, ScalarNode):
            raise FormatError(
                f"{name}: not an address field (run fluentcart validate)", *_where(key)
            )
        written = written_scalar(item, value[field_name])
        if isinstance(written, bool) or not isinstance(written, str | int | float | None):
            raise FormatError(f"{name}: {item.value!r} is not text", *_where(item))
        fields[field_name] = (
            written if written is None or isinstance(written, str) else str(written)
        )
    return {k: fields[k] for k in ADDRESS_ORDER if k in fields}


def _refuse_decorations(tokens: Sequence[yaml.Token]) -> None:
    for token in tokens:
        if isinstance(token, AnchorToken | AliasToken | TagToken | DirectiveToken):
            what = {
                AnchorToken: "an anchor",
                AliasToken: "an alias",
                TagToken: "a tag",
                DirectiveToken: "a directive",
            }[type(token)]
            raise FormatError(
                f"fmt does not rewrite files that use {what}: write the value out in full",
                token.start_mark.line + 1,
                token.start_mark.column + 1,
            )


Span = tuple[int, int, str | None]  # start, end, scalar style


def token_spans(tokens: Sequence[yaml.Token]) -> list[Span]:
    """Where every token is written."""
    return [(t.start_mark.index, t.end_mark.index, getattr(t, "style", None)) for t in tokens]


def scalar_spans(root: Node | None) -> list[Span]:
    """Where every scalar (keys included) is written, in order."""
    spans: list[Span] = []
    pending = [root] if root is not None else []
    while pending:
        node = pending.pop()
        if isinstance(node, ScalarNode):
            spans.append((node.start_mark.index, node.end_mark.index, node.style))
        elif isinstance(node, MappingNode):
            for key, value in reversed(node.value):
                pending += [value, key]
        elif isinstance(node, SequenceNode):
            pending += reversed(node.value)
    spans.sort()
    return spans


def _where(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


# What may stand between two scalars besides comments, when nothing but plain structure is
# written: white space, line breaks, indicators of collections, document markers.
_STRUCTURE = re.compile("[ \t\r\n\x85\u2028\u2029?:,\\[\\]{}.-]*")


def find_comments(text: str, spans: Sequence[Span], strict: bool) -> list[_Comment] | None:
    """Every comment: what starts with '#' between the spans of text that are tokens (or,
    `strict`, scalars), and the header line of block scalars.

    With `strict`, the spans are the scalars only, and None is returned when anything but
    structure or a comment stands between two of them (an anchor, a tag, an alias): the
    caller then asks the tokenizer.
    """
    starts = [0] + [m.end() for m in _BREAK.finditer(text)]
    found: list[_Comment] = []

    def add(index: int) -> int:
        """The comment starting at `index`; returns where it ends."""
        end = _BREAK.search(text, index)
        stop = end.start() if end else len(text)
        line = bisect.bisect_right(starts, index) - 1
        before = text[starts[line] : index]
        blank = line > 0 and not text[starts[line - 1] : starts[line]].strip()
        found.append(
            _Comment(
                index,
                line,
                index - starts[line],
                text[index:stop].rstrip(),
                bool(before.strip(" \t")),
                blank,
            )
        )
        return stop

    position = 0
    for start, end, style in [*spans, (len(text), len(text), None)]:
        while position < start:
            if strict:
                # _STRUCTURE ends in `*`: it matches, perhaps nothing, at any position.
                position = cast(re.Match[str], _STRUCTURE.match(text, position, start)).end()
                if position >= start:
                    break
                if text[position] != "#":
                    return None
                hash_at = position
            else:
                hash_at = text.find("#", position, start)
                if hash_at < 0:
                    break
            position = add(hash_at)
        if strict and text[start : start + 1] in ("&", "!"):
            return None  # a scalar's span starts at its anchor or tag
        if style in ("|", ">"):
            header_end = _BREAK.search(text, start)
            header = text[start : header_end.start() if header_end else end]
            hash_at = header.find("#")
            if hash_at >= 0:
                add(start + hash_at)
        position = max(position, end)
    return found


def _attach(layout: _Layout, text: str) -> None:
    """Give every comment a place: before a field or customer, after a value, or at the
    top or the end of the file."""
    anchors: list[tuple[int, object]] = []
    for customer in layout.customers:
        anchors.append((customer.index, customer))
        anchors.extend((f.index, f) for f in customer.fields)
    anchors.sort(key=lambda pair: pair[0])  # stable: a customer before its first field
    positions = [index for index, _ in anchors]
    owner = {id(f): c for c in layout.customers for f in c.fields}
    blocks = [f for c in layout.customers for f in c.fields if f.inner_lines]
    for comment in layout.comments:
        inside = next(
            (
                f
                for f in blocks
                if f.inner_lines and f.inner_lines[0] < comment.line <= f.inner_lines[1]
            ),
            None,
        )
        if inside is not None:
            # Its fields are put in canonical order, and a comment among them has no field
            # of its own to go with: refused rather than moved where it no longer means it.
            raise FormatError(
                f"fmt does not keep comments inside `{inside.name}:` (its entries are reordered):"
                f" move the comment above `{inside.name}:` or to the end of its line",
                comment.line + 1,
                comment.column + 1,
            )
        at = bisect.bisect_left(positions, comment.index)
        previous = anchors[at - 1][1] if at else None
        following = anchors[at][1] if at < len(anchors) else None
        if comment.inline:
            if isinstance(previous, _Field) and comment.line <= previous.end_line:
                previous.eol.append(comment)
                continue
            if (
                layout.as_list
                and comment.line == layout.customers_line
                and (previous is None or isinstance(previous, _Customer))
            ):
                layout.customers_eol.append(comment)
                continue
            if isinstance(previous, _Customer):
                previous.leading.append(comment)
                continue
        if isinstance(previous, _Field):
            customer = owner[id(previous)]
            # Below the last field: the comment lines indented like the fields and not set
            # apart by a blank line end this customer; the rest lead the next one.
            next_leading = following.leading if isinstance(following, _Customer) else layout.footer
            if isinstance(following, _Field) and owner[id(following)] is customer:
                following.leading.append(comment)
            elif (
                layout.as_list
                and comment.column >= customer.key_column
                and not comment.blank_before
                and not next_leading
            ):
                customer.trailing.append(comment)
            else:
                next_leading.append(comment)
        elif previous is None and (not layout.as_list or comment.line < layout.customers_line):
            layout.header.append(comment)
        elif isinstance(following, _Customer | _Field):
            following.leading.append(comment)
        else:
            layout.footer.append(comment)
    if layout.header:
        first_line = layout.customers_line if layout.as_list else layout.customers[0].line
        last = layout.header[-1].line
        lines = _BREAK.split(text)
        layout.blank_after_header = any(not lines[n].strip() for n in range(last + 1, first_line))


def _render(layout: _Layout) -> str:
    out: list[str] = []
    for number, comment in enumerate(layout.header):
        if number and comment.blank_before:
            out.append("")
        out.append(comment.text)
    if layout.header and layout.blank_after_header:
        out.append("")
    if layout.as_list:
        empty = " []" if not layout.customers else ""
        out.append(_with_eol(f"customers:{empty}", layout.customers_eol))
        _eol_rest(out, layout.customers_eol, _LIST_INDENT)
        for number, customer in enumerate(layout.customers):
            if number:
                out.append("")
            _render_customer(out, customer, _LIST_INDENT, _FIELD_INDENT)
    else:
        for customer in layout.customers:
            _render_customer(out, customer, "", "")
    for comment in layout.footer:
        if comment.blank_before:
            out.append("")
        out.append(comment.text)
    return "\n".join(out) + "\n"


def _render_customer(out: list[str], customer: _Customer, outer: str, inner: str) -> None:
    fields = sorted(customer.fields, key=lambda f: _RANK.get(f.name, len(_RANK)))
    for comment in customer.leading:
        out.append(outer + comment.text)
    for number, item in enumerate(fields):
        first = number == 0
        for comment in item.leading:
            out.append((outer if first else inner) + comment.text)
        prefix = (outer + "- " if outer else "") if first else inner
        if isinstance(item.value, dict):
            out.append(
                _with_eol(f"{prefix}{item.name}:{' {}' if not item.value else ''}", item.eol)
            )
            out.extend(address_lines(item.value, inner + "  "))
            _eol_rest(out, item.eol, inner)
            continue
        if isinstance(item.value, list):
            out.append(
                _with_eol(f"{prefix}{item.name}:{' []' if not item.value else ''}", item.eol)
            )
            out.extend(f"{inner}  - {scalar(title, inner + '    ')}" for title in item.value)
            _eol_rest(out, item.eol, inner)
            continue
        value = "null" if item.value is None else scalar(item.value, inner + "  ")
        head, _, rest = value.partition("\n")
        out.append(_with_eol(f"{prefix}{item.name}: {head}", item.eol))
        if rest:
            out.append(rest)
        _eol_rest(out, item.eol, inner)
    for comment in customer.trailing:
        out.append(inner + comment.text)


def _with_eol(line: str, comments: list[_Comment]) -> str:
    return f"{line}  {comments[0].text}" if comments else line


def _eol_rest(out: list[str], comments: list[_Comment], indent: str) -> None:
    """A second comment at the end of lines of one value goes on a line of its own."""
    for comment in comments[1:]:
        out.append(indent + comment.text)
