"""Declared customers: the YAML files in git, loaded, checked and normalized.

`load_declared` is pure apart from reading the files: it never talks to a server. Every
problem in every file is collected, each pinned to file, line, column and field.
"""

import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, cast

import msgspec
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler import addresses, jsonschemas, yamlsource
from reconciler.addresses import Addresses
from reconciler.customer import FieldValue, value_from_json
from reconciler.diagnostics import Diagnostic, Severity, short_repr
from reconciler.fields import BY_NAME, MANAGED_FIELDS, SHARED_FIELDS, TEXT_FIELDS, Kind
from reconciler.rules import check_address, check_field, check_labels
from reconciler.workspace import NameMode
from reconciler.yamlsource import BOOL, FLOAT, INT, TIMESTAMP, Position, YamlDocument

if TYPE_CHECKING:
    from reconciler.cache import ParseCache
    from reconciler.parsing import Part
    from reconciler.state import CustomerRecord

_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)")  # YAML 1.1 reads 010 as octal 8
_SHAPE_HINT = (
    "a declared file holds one customer (a mapping with an 'id') or 'customers:' followed by"
    " a list of customers"
)


# The id of a customer declared without one (a customer to create).
NEW = 0


class _Nothing(Mapping[str, Any]):
    """The empty mapping every customer without `sent` values shares (one object, not an
    empty dict per customer of a million)."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"

    def __hash__(self) -> int:  # immutable: a dataclass default
        return 0

    def __reduce__(self) -> str:
        return "NOTHING"  # a worker's customers arrive sharing this module's object


NOTHING: Mapping[str, Any] = _Nothing()


def shared(name: str, value: Any) -> Any:
    """A value of a field most customers share a few values of (statuses, places): one
    string object each, not one a customer."""
    return sys.intern(value) if name in SHARED_FIELDS and type(value) is str else value


def line_offsets(start: int, lines: Iterable[int]) -> bytes | tuple[int, ...]:
    """Each field's line as kept by a DeclaredCustomer: offsets from its first line in a
    bytes object (a field's line is almost always a few lines below), else the lines."""
    found = tuple(lines)
    if all(0 <= line - start < 256 for line in found):
        offsets = bytes(line - start for line in found)
        # Most customers of a file are written alike: one object for each layout (pickled
        # once a file, and unpickled as one), a bounded number of them.
        kept = _LAYOUTS.get(offsets)
        if kept is None and len(_LAYOUTS) < _MAX_LAYOUTS:
            _LAYOUTS[offsets] = kept = offsets
        return offsets if kept is None else kept
    return found


_LAYOUTS: dict[bytes, bytes] = {}
_MAX_LAYOUTS = 4096


class DeclaredCustomer(msgspec.Struct, frozen=True, gc=False):
    """One customer as declared: `fields` holds each value as the server will store it (what
    plans compare); `sent` the declared text of the fields where that differs, which is what
    apply sends, so that the store makes of it exactly what the server makes of the YAML.

    `lines` is where each field is written, in the order of `fields` (line_offsets):
    compact, because a plan of 1,000,000 customers holds them all and reads a field's line
    only for a diagnostic (`field_lines`). A msgspec Struct: built, compared and pickled
    (from the parsing workers) in C, at half a frozen dataclass's cost or less; not tracked
    by the cyclic collector (gc=False): its values never refer back to it."""

    id: int
    fields: Mapping[str, FieldValue]
    file: str
    line: int
    column: int
    lines: bytes | tuple[int, ...] = b""
    sent: Mapping[str, FieldValue] = NOTHING
    # The email it was declared by, for a customer fluentcart created from a declaration
    # without an id (until the id is written in: `fmt --write-ids`).
    created_from: str | None = None

    @property
    def field_lines(self) -> dict[str, int]:
        """The line each field is written on."""
        base = self.line if isinstance(self.lines, bytes) else 0
        return {name: base + line for name, line in zip(self.fields, self.lines, strict=False)}

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def new(self) -> bool:
        """Declared without an id: created by apply, known by its email until then."""
        return self.id == NEW

    @property
    def email_key(self) -> str:
        """Its email as the store tells emails apart (case ignored)."""
        return str(self.fields.get("email") or "").lower()

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "fields": {
                name: value.to_json(sent=True)
                if isinstance(value, Addresses)
                else list(value)
                if isinstance(value, tuple)
                else value
                for name, value in self.fields.items()
            },
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field_lines": self.field_lines,
            **({"sent": dict(self.sent)} if self.sent else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], file: str | None = None) -> "DeclaredCustomer":
        """A customer from `to_dict`'s form; `file` is the display name it has (one string
        for all of a file's customers)."""
        lines = data["field_lines"]
        return cls(
            data["id"],
            {
                name: shared(name, value) if type(value) is str else value_from_json(name, value)
                for name, value in data["fields"].items()
            },
            data["file"] if file is None else file,
            data["line"],
            data["column"],
            line_offsets(data["line"], (lines[name] for name in data["fields"])),
            data.get("sent") or NOTHING,
        )


@dataclass
class Declaration:
    """Everything declared in a workspace, or in the files given to `validate`."""

    customers: dict[int, DeclaredCustomer] = field(default_factory=dict)
    # Customers declared without an id, to create; by their email, lower-cased.
    creates: dict[str, DeclaredCustomer] = field(default_factory=dict)
    file_hashes: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


@dataclass(frozen=True)
class Rules:
    """The workspace settings that decide what is valid."""

    statuses: Sequence[str]
    name_mode: NameMode | None  # None: not known yet (auto mode before the first apply)

    def cache_key(self) -> str:
        return json.dumps([list(self.statuses), str(self.name_mode) if self.name_mode else None])


def load_declared(
    files: Sequence[tuple[Path, str]],
    rules: Rules,
    cache: "ParseCache | None" = None,
    workers: int | None = None,
) -> Declaration:
    """Load `(path, display name)` pairs; return customers plus every problem found.

    With a cache, a file whose bytes were loaded before under the same rules is not parsed.
    Files that need parsing are parsed by worker processes when there is enough of them
    (`parsing.py`); the result is the same, diagnostics included, either way.
    """
    return start_declared(files, rules, cache, workers).result()


def start_declared(
    files: Sequence[tuple[Path, str]],
    rules: Rules,
    cache: "ParseCache | None" = None,
    workers: int | None = None,
) -> "DeclaredLoad":
    """`load_declared` begun: the files are read and their parses started (on worker
    processes when that pays), so that the caller can read its state meanwhile;
    `result()` waits and merges, in file order."""
    return DeclaredLoad(files, rules, cache, workers)


class DeclaredLoad:
    def __init__(
        self,
        files: Sequence[tuple[Path, str]],
        rules: Rules,
        cache: "ParseCache | None",
        workers: int | None,
    ) -> None:
        from reconciler import parsing

        self.files = files
        self.rules = rules
        self.cache = cache
        self.declaration = Declaration()
        self._parts: list[Callable[[], Part]] = []
        to_parse: list[tuple[bytes, str, str | None, bool]] = []
        slots: list[int] = []
        for path, display in files:
            part = self._read(path, display, to_parse)
            if part is None:
                slots.append(len(self._parts))
                self._parts.append(_NOT_YET)
            else:
                self._parts.append(part)
        self._parsing = parsing.start(to_parse, rules, cache, workers)
        for slot, pending in zip(slots, self._parsing.results, strict=True):
            self._parts[slot] = pending

    def _read(
        self, path: Path, display: str, to_parse: list[tuple[bytes, str, str | None, bool]]
    ) -> "Callable[[], Part] | None":
        """A file's customers and diagnostics at once when it cannot be read; else None, and
        it is queued in `to_parse` (to be read from the cache or parsed)."""
        try:
            data = yamlsource.read_bytes(path)
        except yamlsource.YamlSourceError as exc:
            unreadable = Diagnostic(Severity.ERROR, exc.message, display)
            return lambda: ([], [unreadable])
        digest = hashlib.sha256(data).hexdigest()
        self.declaration.file_hashes[display] = digest
        cache = self.cache
        key = cache.key(digest, display, self.rules.cache_key()) if cache is not None else None
        cached = cache is not None and key is not None and cache.has(key)
        to_parse.append((data, display, key, cached))
        return None

    def cancel(self) -> None:
        """Stop the parses not begun (the caller needs the files loaded under other rules)."""
        self._parsing.close()

    def result(self, recorded: "Mapping[int, CustomerRecord] | None" = None) -> Declaration:
        """The declaration, merged in file order. With the `recorded` customers of a state,
        each declared text equal to its recorded one is replaced by the recorded string as
        it is merged (_share_recorded), so that the two are held once."""
        declaration = self.declaration
        invalid_ids: dict[int, DeclaredCustomer] = {}
        seen_emails: dict[str, DeclaredCustomer] = {}
        try:
            for index, part in enumerate(self._parts):
                loaded, found = part()
                self._parts[index] = _NOT_YET  # let the file's lists go as they are merged
                declaration.diagnostics.extend(found)
                for customer, valid in loaded:
                    if recorded is not None and not customer.new:
                        record = recorded.get(customer.id)
                        if record is not None:
                            _share_recorded(customer.fields, record.observed)
                    _merge(declaration, customer, valid, invalid_ids, seen_emails)
        finally:
            self._parsing.close()
        if self.cache is not None:
            self.cache.writes += self._parsing.cache_writes
        order: dict[str | None, int] = {
            display: index for index, (_, display) in enumerate(self.files)
        }
        declaration.diagnostics.sort(
            key=lambda d: (order.get(d.file, len(order)), d.line or 0, d.column or 0)
        )
        return declaration


def part_of_entry(entry: Mapping[str, Any], display: str) -> "Part":
    """A file's customers and diagnostics from its parse cache entry."""
    return (
        [(DeclaredCustomer.from_dict(c, display), c["valid"]) for c in entry["customers"]],
        [Diagnostic.from_dict(d) for d in entry["diagnostics"]],
    )


def _NOT_YET() -> "Part":
    raise AssertionError("a file's parse was never started")  # pragma: no cover


def _share_recorded(fields: Mapping[str, FieldValue], observed: Mapping[str, Any]) -> None:
    """Each declared text that equals its recorded value made that same string: most of a
    large workspace's customers are declared as recorded, and a million customers' texts
    held twice were a fifth of a plan's memory. Equal strings either way: nothing that
    reads the values can tell (a customer's fields are changed only while it is merged).
    The shared fields' few values are interned instead."""
    if type(fields) is not dict:
        return
    # A slim record's fields are its attributes (every declared field is one of them).
    slim = not isinstance(observed, dict)
    for name, value in fields.items():
        if type(value) is not str:
            continue
        if name in SHARED_FIELDS:
            # One string a file already; interned, as a slim record's are, so that the
            # plan finds the two the same object (plan._as_recorded).
            fields[name] = sys.intern(value)
            continue
        kept = getattr(observed, name, None) if slim else observed.get(name)
        if kept is not value and type(kept) is str and kept == value:
            fields[name] = kept


def _merge(
    declaration: Declaration,
    customer: DeclaredCustomer,
    valid: bool,
    invalid_ids: dict[int, DeclaredCustomer],
    seen_emails: dict[str, DeclaredCustomer],
) -> None:
    """One loaded customer into the declaration: ids and emails must be unique across files.
    The ids seen are those of `declaration.customers` and of `invalid_ids` (not a third
    mapping of a million ids)."""
    earlier = (
        None
        if customer.new
        else declaration.customers.get(customer.id) or invalid_ids.get(customer.id)
    )
    if earlier is not None:
        declaration.diagnostics.append(
            _at(
                customer, None, f"declared twice: also at {earlier.source}", severity=Severity.ERROR
            )
        )
        return
    if not valid and not customer.new:
        invalid_ids[customer.id] = customer
    email = customer.fields.get("email")
    if isinstance(email, str) and email:
        key = email.lower()
        if key == email:
            key = email  # one string, not a lower-cased copy of each address
        other = seen_emails.get(key)
        if other is not None:
            declaration.diagnostics.append(
                _at(
                    customer,
                    "email",
                    f"{short_repr(email)} is also declared for customer {other.id} at"
                    f" {other.source} (FluentCart emails are unique, ignoring case)",
                    severity=Severity.ERROR,
                )
            )
        else:
            seen_emails[key] = customer
    if valid and customer.new:
        declaration.creates.setdefault(customer.email_key, customer)
    elif valid:
        declaration.customers[customer.id] = customer


def check_file(
    data: bytes, display: str, rules: Rules
) -> tuple[list[Diagnostic], YamlDocument | None]:
    """The problems `validate` finds in one file's bytes on their own, and the parsed
    document (None when the file is not YAML)."""
    problems: list[Diagnostic] = []
    document = _read_document(data, display, problems)
    if document is not None:
        _document_customers(document, display, rules, problems)
    return problems, document


def _at(
    customer: DeclaredCustomer, name: str | None, message: str, severity: Severity
) -> Diagnostic:
    line = customer.field_lines.get(name, customer.line) if name else customer.line
    column = None if name and name in customer.field_lines else customer.column
    return Diagnostic(severity, message, customer.file, line, column, customer.id, name)


def parse_file(
    data: bytes, display: str, rules: Rules, problems: list[Diagnostic]
) -> list[tuple[DeclaredCustomer, bool]]:
    document = _read_document(data, display, problems)
    return _document_customers(document, display, rules, problems) if document else []


def _read_document(data: bytes, display: str, problems: list[Diagnostic]) -> YamlDocument | None:
    """The parsed file, or None with the reason in `problems`."""
    try:
        return yamlsource.parse(yamlsource.decode(data))
    except yamlsource.YamlSourceError as exc:
        problems.append(
            Diagnostic(
                Severity.ERROR,
                exc.message,
                display,
                exc.line,
                (exc.column or 1) if exc.line else None,
            )
        )
        return None


def _document_customers(
    document: YamlDocument, display: str, rules: Rules, problems: list[Diagnostic]
) -> list[tuple[DeclaredCustomer, bool]]:
    """One parsed file's customers, each with whether it is free of errors."""

    def error(message: str, where: Position | None = None) -> None:
        problems.append(
            Diagnostic(
                Severity.ERROR,
                message,
                display,
                where.line if where else None,
                where.column if where else None,
            )
        )

    if document.root is None:
        error(f"the file is empty: {_SHAPE_HINT}", Position(1, 1))
        return []
    for key, first, again in document.duplicate_keys:
        error(f"{key!r} is written twice in one mapping (first on line {first.line})", again)

    value = document.value
    paths: list[tuple[object, ...]]
    if isinstance(value, dict) and "customers" in value:
        entries = value["customers"]
        if not isinstance(entries, list):
            error(
                f"'customers' must be a list: {_SHAPE_HINT}", document.position_at(("customers",))
            )
            return []
        paths = [("customers", index) for index in range(len(entries))]
        if not entries:
            where = document.position_at(("customers",))
            problems.append(
                Diagnostic(
                    Severity.WARNING,
                    "'customers' is an empty list",
                    display,
                    where.line if where else None,
                )
            )
    elif isinstance(value, dict):
        paths = [()]
    else:
        error(f"found {short_repr(value)} at the top: {_SHAPE_HINT}", document.position_at(()))
        return []

    customers = []
    for path_prefix in paths:
        customer, valid = _load_customer(document, path_prefix, display, rules, problems)
        if customer is not None:
            customers.append((customer, valid))

    # Keys outside the customers (for example a typo beside 'customers:') are schema errors too.
    if paths and paths[0]:
        extras = [k for k in value if k != "customers"]
        for key in extras:
            node = document.key_node((), key)
            error(
                f"unknown top-level key {short_repr(key)}: {_SHAPE_HINT}",
                yamlsource.position(node) if node else None,
            )
    return customers


def _load_customer(
    document: YamlDocument,
    prefix: tuple[object, ...],
    display: str,
    rules: Rules,
    problems: list[Diagnostic],
) -> tuple[DeclaredCustomer | None, bool]:
    """One customer entry: (the customer if its id is usable, whether it is free of errors)."""
    node = document.node_at(prefix)
    entry = document.value
    for step in prefix:
        # `prefix` was built from this value: () or ("customers", index), a mapping then a list.
        if isinstance(entry, dict):
            entry = entry[step]
        elif isinstance(entry, list):
            entry = entry[cast(int, step)]
    start = yamlsource.position(node) if node is not None else Position(1, 1)
    customer_id = entry.get("id") if isinstance(entry, dict) else None
    known_id = customer_id if _is_integer(customer_id) and customer_id > 0 else None
    found: list[Diagnostic] = []

    def report(
        severity: Severity, message: str, path: tuple[object, ...], name: str | None
    ) -> None:
        where = document.position_at(prefix + path) if path else start
        where = where or start
        found.append(
            Diagnostic(severity, message, display, where.line, where.column, known_id, name)
        )

    if not isinstance(entry, dict):
        report(
            Severity.ERROR,
            f"a customer must be a mapping of fields, found {short_repr(entry)}",
            (),
            None,
        )
        problems.extend(found)
        return None, False

    # A copy (aliases may share the mapping), with nested values emptied: jsonschema would
    # repr() an alias bomb in its messages. A list of titles keeps its scalars, as written.
    index = document.mapping_index(prefix)
    entry = {key: _hollow(key, value, index.get(key)) for key, value in entry.items()}
    _read_scalars_as_written(index, entry, report)
    broken: set[object] = {d.field for d in found}
    for path, message, where in jsonschemas.located_problems(
        document, entry, "customer", "customer", prefix
    ):
        name = str(path[0]) if path else None
        broken.add(path[0] if path else None)
        where = where or start
        found.append(
            Diagnostic(Severity.ERROR, message, display, where.line, where.column, known_id, name)
        )

    fields: dict[str, FieldValue] = {}
    sent: dict[str, FieldValue] = {}
    field_lines: dict[str, int] = {}
    mode = str(rules.name_mode) if rules.name_mode else None
    for written, raw in entry.items():
        if written == "id" or written in broken or written not in MANAGED_FIELDS:
            continue
        nodes = index.get(written)
        # The field's own name object, not the parsed key: one string for every customer's
        # key, pickled once a file (a key of its own per customer was a third of the
        # memory a million declared customers take).
        name = BY_NAME[cast(str, written)].name
        field_lines[name] = nodes[1].start_mark.line + 1 if nodes else start.line
        if name == "user_id":
            # Not in `broken`, so it passed the schema: an integer (never a bool or a float).
            fields[name] = cast(int, raw)
            continue
        if BY_NAME[name].kind is Kind.ADDRESSES:
            # Not in `broken`: type -> an address or a list of them, scalars as written.
            fields[name] = _declared_addresses(cast(dict[str, object], raw), name, report)
            continue
        if BY_NAME[name].kind is Kind.TITLES:
            # Not in `broken`: a list of scalars, each its written text (_hollow).
            titles = check_labels([str(title) for title in cast(list[object], raw)])
            for item, severity, message in titles.problems:
                report(severity, message, (name, item), name)
            fields[name] = titles.value
            continue
        # written_value gave every scalar of a text field its written characters.
        text = raw if raw is None or isinstance(raw, str) else str(raw)
        result = check_field(name, text, rules.statuses, mode)
        for severity, message in result.problems:
            report(severity, message, (name,), name)
        fields[name] = shared(name, result.value)
        if result.sent is not None and result.sent != result.value:
            sent[name] = result.sent
    _check_names(fields, rules.name_mode, lambda m: report(Severity.ERROR, m, (), None))
    new = "id" not in entry
    if new:
        _check_new(fields, rules.name_mode, lambda m: report(Severity.ERROR, m, (), None))
    problems.extend(found)
    valid = not any(d.severity is Severity.ERROR for d in found)
    if new:
        known_id = NEW  # a customer to create: found by its email
    if known_id is None:
        return None, False
    lines = line_offsets(start.line, (field_lines[name] for name in fields))
    customer = DeclaredCustomer(
        known_id, fields, display, start.line, start.column, lines, sent or NOTHING
    )
    return customer, valid


def _declared_addresses(
    raw: Mapping[str, object],
    name: str,
    report: Callable[[Severity, str, tuple[object, ...], str | None], None],
) -> FieldValue:
    """`addresses:` checked address by address; problems pinned to the field written."""
    per_kind: dict[str, list[tuple[dict[str, str], dict[str, str]]]] = {}
    for kind, entries in raw.items():
        many = isinstance(entries, list)
        items = cast(list[object], entries) if many else [entries]
        per_kind[kind] = []
        for index, entry in enumerate(items):
            where: tuple[object, ...] = (name, kind, index) if many else (name, kind)
            values = {
                str(k): "" if v is None else str(v)
                for k, v in cast(dict[object, object], entry or {}).items()
            }
            result = check_address(values)
            for field_name, severity, message in result.problems:
                path = (*where, field_name) if field_name else where
                report(severity, message, path, name)
            per_kind[kind].append((result.values, result.sent))
    return addresses.declared(per_kind)


def _written_mapping(node: Node | None, value: object) -> object:
    """A mapping of scalars as written (`postcode: 01234` stays "01234"); nested values
    emptied."""
    if not isinstance(value, dict):
        return [] if isinstance(value, list) else value
    nodes: dict[object, Node] = {}
    if isinstance(node, MappingNode):
        nodes = {k.value: v for k, v in node.value if isinstance(k, ScalarNode)}
    out: dict[object, object] = {}
    for key, item in value.items():
        child = nodes.get(key)
        if isinstance(item, list | dict):
            out[key] = [] if isinstance(item, list) else {}
        elif isinstance(child, ScalarNode):
            out[key] = written_scalar(child, item)
        else:
            out[key] = item
    return out


def _hollow_addresses(value: dict[object, object], node: Node) -> dict[object, object]:
    """`addresses:` kept to the depth it has (type -> an address or a list of them), each
    address's scalars as written; anything deeper emptied."""
    nodes: dict[object, Node] = {}
    if isinstance(node, MappingNode):
        nodes = {k.value: v for k, v in node.value if isinstance(k, ScalarNode)}
    out: dict[object, object] = {}
    for kind, entries in value.items():
        child = nodes.get(kind)
        if isinstance(entries, list):
            items = getattr(child, "value", []) if isinstance(child, SequenceNode) else []
            out[kind] = [
                _written_mapping(item_node, item)
                for item_node, item in zip(items, entries, strict=False)
            ]
        else:
            out[kind] = _written_mapping(child, entries)
    return out


def _hollow(name: object, value: object, nodes: tuple[Node, Node] | None) -> object:
    """A nested value emptied, but for a list of titles: its scalars as written (`- 010`
    stays "010", `- yes` stays "yes"), anything nested in it emptied; and addresses, to
    the depth they have."""
    field = BY_NAME.get(name) if isinstance(name, str) else None
    if isinstance(value, dict) and field is not None and field.kind is Kind.ADDRESSES:
        return _hollow_addresses(value, nodes[1]) if nodes is not None else {}
    if isinstance(value, list):
        if field is None or field.kind is not Kind.TITLES or nodes is None:
            return []
        items = getattr(nodes[1], "value", [])
        return [
            written_scalar(node, item)
            if isinstance(node, ScalarNode)
            else _hollow(None, item, None)
            for node, item in zip(items, value, strict=False)
        ]
    if isinstance(value, dict):
        return {}
    return value


def written_scalar(node: ScalarNode, value: object) -> object:
    """A scalar as written, where YAML 1.1 would read a number, a boolean or a date."""
    if node.tag in (INT, FLOAT, BOOL, TIMESTAMP):
        return node.value
    return value


def _is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_scalars_as_written(
    index: dict[object, tuple[Node, Node]],
    entry: dict[object, object],
    report: Callable[[Severity, str, tuple[object, ...], str | None], None],
) -> None:
    """Undo YAML 1.1 typing where it would change the meaning of what the user wrote.

    Text fields keep the characters written: `postcode: 01234` stays "01234" (YAML would read
    the octal number 668) and `country: NO` stays "NO" (YAML would read false). Integer fields
    must be plain decimal digits, so `id: 0x1F` or `id: 1:30` is an error, not 31 or 90.
    """
    for name in list(entry):
        if not isinstance(name, str) or name not in index:
            continue
        node = index[name][1]
        entry[name] = written_value(name, node, entry[name])
        if not isinstance(node, ScalarNode) or node.style not in (None, ""):
            continue
        if name in ("id", "user_id") and node.tag == INT and not _DECIMAL.fullmatch(node.value):
            report(
                Severity.ERROR,
                f"{node.value!r} must be written as plain decimal digits (YAML reads it as"
                f" {entry[name]})",
                (name,),
                name,
            )


def written_value(name: object, node: Node, value: object) -> object:
    """A field's value as declared: a text field keeps the characters of a scalar that YAML
    1.1 would read as a number, a boolean or a date, plain (`postcode: 01234`) or tagged
    (`city: !!float "1.5"`)."""
    if (
        name in TEXT_FIELDS
        and isinstance(node, ScalarNode)
        and node.tag in (INT, FLOAT, BOOL, TIMESTAMP)
    ):
        return node.value
    return value


def _check_new(
    fields: dict[str, FieldValue], mode: NameMode | None, error: Callable[[str], None]
) -> None:
    """A customer declared without an id is one to create (`POST /customers`), known by its
    email until the id is written in. The name the store requires of a new customer is the
    plan's to check: once apply has created it (the state says so), it is an update."""
    if not fields.get("email"):
        error(
            "a customer without an id is one to create, known by its email: declare email"
            " (or the id of an existing customer)"
        )


def missing_name(fields: Mapping[str, FieldValue], mode: NameMode | None) -> str | None:
    """What a customer to create lacks of the name its store's mode requires (None: the
    mode is not known yet: the plan checks it)."""
    if mode is NameMode.FIRST_LAST and not fields.get("first_name"):
        return "creating a customer in first/last-name mode needs first_name (HTTP 422)"
    if mode is NameMode.FULL_NAME and not fields.get("full_name"):
        return "creating a customer in full-name mode needs full_name (HTTP 422)"
    return None


def _check_names(
    fields: dict[str, FieldValue], mode: NameMode | None, error: Callable[[str], None]
) -> None:
    has_full = "full_name" in fields
    has_parts = "first_name" in fields or "last_name" in fields
    if has_full and has_parts:
        error("declare either full_name or first_name/last_name, not both")
    elif mode is NameMode.FULL_NAME and has_parts:
        suggestion = " ".join(str(fields.get(n, "")) for n in ("first_name", "last_name")).strip()
        error(
            "this store uses full-name mode, where FluentCart splits full_name at the last space;"
            f" declare full_name instead (for example full_name: {short_repr(suggestion)})"
        )
    elif mode is NameMode.FIRST_LAST and has_full:
        error(
            "this store uses first/last-name mode; declare first_name and last_name instead of full_name"
        )
