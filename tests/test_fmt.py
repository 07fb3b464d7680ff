"""`fluentcart fmt`: canonical declared files, with every value and comment kept."""

import re
import stat
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reconciler import fmt as fmt_module
from reconciler import generate as fmt_generate
from reconciler import yamlsource
from reconciler.declared import Rules, load_declared
from reconciler.fmt import FIELD_ORDER, FormatError, format_text
from reconciler.generate import render_file, scalar
from reconciler.workspace import NameMode
from tests.conftest import Workspace

MESSY = """\
# Retail customers
# owned by the shop team

customers:   # all of them
# first one
- email: a@example.com   # primary address
  id: 3
  # postcode is text
  postcode: 01234
  country: NO
  notes: |   # kept as lines
    line one
    line two
  # commented-out: status: inactive

  # the next customer
- {id: 4, # flow
   full_name: "Bo"}
# end of file
"""

CANONICAL = """\
# Retail customers
# owned by the shop team

customers:  # all of them
  # first one
  - id: 3
    email: a@example.com  # primary address
    # postcode is text
    postcode: '01234'
    country: 'NO'
    notes: |  # kept as lines
      line one
      line two
    # commented-out: status: inactive

  # the next customer
  - id: 4  # flow
    full_name: Bo
# end of file
"""


def declared_values(text: str, tmp_path: Path, name: str = "x.yaml") -> dict[int, dict]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    declaration = load_declared([(path, name)], Rules(("active", "inactive"), None))
    assert not declaration.errors, [d.format() for d in declaration.errors]
    return {c.id: dict(c.fields) for c in declaration.customers.values()}


def comments_of(text: str) -> list[str]:
    return sorted(c.text for c in fmt_module._read_layout(text).comments)


def test_a_messy_file_in_canonical_form(tmp_path: Path) -> None:
    assert format_text(MESSY) == CANONICAL
    assert format_text(CANONICAL) == CANONICAL
    assert declared_values(CANONICAL, tmp_path) == declared_values(MESSY, tmp_path)
    assert declared_values(CANONICAL, tmp_path)[3]["country"] == "NO"  # not false


def test_a_single_customer_file() -> None:
    text = textwrap.dedent("""\
        # yaml-language-server: $schema=../schemas/customer.schema.json

        # Ada
        notes:    "Key account"   # since 2019
        id: 1

        # first/last mode is not used here
        full_name: 'Ada Lovelace'
        state:
        user_id: 7


        # trailing words

        # and more
        """)
    assert format_text(text) == textwrap.dedent("""\
        # yaml-language-server: $schema=../schemas/customer.schema.json

        # Ada
        id: 1
        # first/last mode is not used here
        full_name: Ada Lovelace
        user_id: 7
        state: null
        notes: Key account  # since 2019

        # trailing words

        # and more
        """)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("--- # doc\nid: 1\n...\n", "# doc\nid: 1\n"),
        ("{id: 1, email: a@example.com}  # flow\n", "id: 1\nemail: a@example.com  # flow\n"),
        (
            "customers: [ # c\n  {id: 1}, # d\n  {id: 2} # e\n] # f\n",
            "customers:  # c\n  - id: 1  # d\n\n  - id: 2  # e\n# f\n",
        ),
        ("customers: []  # none yet\n# later\n", "customers: []  # none yet\n# later\n"),
        ("customers:\n  - # on the dash\n    id: 1\n", "customers:\n  # on the dash\n  - id: 1\n"),
        ("id: 1\r\nnotes: x # c\r\n", "id: 1\nnotes: x  # c\n"),
        ("id: 1\nnotes: plain\n  continued # c\n", "id: 1\nnotes: plain continued  # c\n"),
        ("id: 1\nnotes: |+\n  keep\n\n", 'id: 1\nnotes: "keep\\n\\n"\n'),
        ("? id\n: 1\n'email': a@example.com\n", "id: 1\nemail: a@example.com\n"),
    ],
)
def test_unusual_writings(source: str, expected: str) -> None:
    assert format_text(source) == expected
    assert format_text(expected) == expected


# --- property: any way of writing the same customers formats to one text with the same meaning

TRICKY = [
    "01234",
    "NO",
    "yes",
    "ON",
    "1.5",
    "2024-01-01",
    "12345",
    "null",
    "~",
    "",
    "a: b",
    "#hash",
    "x # not a comment",
    "it's",
    '"quoted"',
    "- dash",
    "é ü 中文 😀",
    "line one\nline two\n",
    "line one\nline two",
    "a\n\nb",
    "tab\there",
    " leading",
    "trailing ",
]
PLAIN_AS_WRITTEN = ["01234", "NO", "yes", "ON", "1.5", "2024-01-01", "12345", "null", "~"]
text_values = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.lists(st.sampled_from(["ab", "c d", "", "é"]), min_size=2, max_size=4).map("\n".join),
)
comment_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85"),
    max_size=15,
).map(lambda t: ("# " + t).rstrip())
maybe_comments = st.lists(comment_text, max_size=2)


@st.composite
def written_customer(
    draw: st.DrawFn, customer_id: int
) -> list[tuple[str, str, str | None, list[str]]]:
    """(field, written value, end-of-line comment, comment lines above) in a random order."""
    names = ["email", "status", "city", "state", "postcode", "country", "notes", "user_id"]
    names += draw(st.sampled_from([[], ["full_name"], ["first_name", "last_name"]]))
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    fields = [("id", str(customer_id))]
    for name in chosen:
        if name == "user_id":
            fields.append((name, str(draw(st.integers(0, 10**6)))))
            continue
        value = draw(text_values)
        style = draw(st.sampled_from(["auto", "double", "single", "plain"]))
        if style == "double":
            written = fmt_generate._double_quoted(value)
        elif style == "single" and value.isprintable():
            written = "'" + value.replace("'", "''") + "'"
        elif style == "plain" and value in PLAIN_AS_WRITTEN:
            written = value
        else:
            written = scalar(value, "{indent}")
        fields.append((name, written))
    order = draw(st.permutations(fields))
    return order


@st.composite
def written_file(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(a declared file written in one of many ways, the comments it holds)."""
    comments: list[str] = []

    def some_comments() -> list[str]:
        drawn = draw(maybe_comments)
        comments.extend(drawn)
        return drawn

    def eol_comment() -> str:
        drawn = draw(st.one_of(st.none(), comment_text))
        if drawn is None:
            return ""
        comments.append(drawn)
        return draw(st.sampled_from([" ", "  ", "\t"])) + drawn

    ids = draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=4, unique=True))
    as_list = draw(st.booleans())
    if not as_list:
        ids = ids[:1]
    dash_indent, key_indent = draw(
        st.sampled_from([("  ", "    "), ("", "  "), ("    ", "      ")])
    )
    if not as_list:
        key_indent = ""
    lines = some_comments()
    if draw(st.booleans()):
        lines.append("")
    if as_list:
        lines.append("customers:" + eol_comment())
    for customer_id in ids:
        if as_list and draw(st.booleans()):
            lines.append("")
        if as_list:
            lines.extend(dash_indent + c for c in some_comments())
        for index, (name, written) in enumerate(draw(written_customer(customer_id))):
            lines.extend(key_indent + c for c in some_comments())
            first = as_list and index == 0
            prefix = dash_indent + "- " if first else key_indent
            head, _, rest = written.replace("{indent}", key_indent + "  ").partition("\n")
            lines.append(f"{prefix}{name}: {head}" + eol_comment())
            if rest:
                lines.append(rest)
        lines.extend(key_indent + c for c in some_comments())
    if draw(st.booleans()):
        lines.append("")
    lines.extend(some_comments())
    return "\n".join(lines) + "\n", comments


def check_diagnostics(text: str, tmp_path: Path) -> tuple[dict, list]:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    declaration = load_declared([(path, "x.yaml")], Rules(("active", "inactive"), None))
    customers = {c.id: dict(c.fields) for c in declaration.customers.values()}
    problems = sorted(
        (d.severity.value, d.customer, d.field, re.sub(r"(x\.yaml:|line )\d+", "", d.message))
        for d in declaration.diagnostics
    )
    return customers, problems


@settings(max_examples=300, deadline=None)
@given(written_file())
def test_any_writing_formats_to_one_canonical_text(
    tmp_path_factory: pytest.TempPathFactory, written: tuple[str, list[str]]
) -> None:
    source, comments = written
    tmp_path = tmp_path_factory.mktemp("fmt")
    result = format_text(source)
    assert format_text(result) == result
    assert comments_of(source) == sorted(comments)
    assert comments_of(result) == sorted(comments)
    lines = [line.rstrip() for line in result.splitlines()]
    for comment in set(comments):  # each one kept whole, at the end of a line
        assert sum(line.endswith(comment) for line in lines) >= comments.count(comment)
    assert check_diagnostics(result, tmp_path) == check_diagnostics(source, tmp_path)
    layout = fmt_module._read_layout(result)
    for customer in layout.customers:
        names = [f.name for f in customer.fields]
        assert names == sorted(names, key=FIELD_ORDER.index)
    for line in result.splitlines():
        assert line == line.rstrip(), repr(line)
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 2 == 0, repr(line)


# --- files fmt will not rewrite


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("id: 1\nemail: &e a@example.com\n", 2, "use an anchor"),
        (
            "customers:\n  - id: 1\n    email: &e a@example.com\n  - id: 2\n    email: *e\n",
            3,
            "anchor",
        ),
        ("id: 1\nemail: !!str a@example.com\n", 2, "use a tag"),
        ("%YAML 1.1\n---\nid: 1\n", 1, "use a directive"),
        ("customers:\n  - id: 1\n    <<: {city: Paris}\n", 3, "'<<' merge keys"),
        ("id: 1\nnotes: [a, b]\n", 2, "a field holds one value"),
        ("id: 1\nemail: a\nemail: b\n", 3, "'email' is written twice"),
        ("id: 1\nemail: 'a\n", 3, "invalid YAML"),
        ("- id: 1\n", None, "one customer, or 'customers:' and a list"),
        ("id: 1\nuser_id: true\n", 2, "is not text or a whole number"),
    ],
)
def test_what_fmt_refuses(text: str, line: int | None, message: str) -> None:
    with pytest.raises(FormatError) as caught:
        format_text(text)
    assert message in caught.value.message
    assert caught.value.line == line


# --- import --generate-yaml writes canonical files

stored_values = st.one_of(
    st.sampled_from(TRICKY), st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"email": stored_values, "full_name": stored_values, "city": stored_values},
            optional={
                "notes": stored_values,
                "postcode": stored_values,
                "user_id": st.integers(0, 9),
            },
        ),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
def test_generated_files_are_canonical(customers: list[dict], as_list: bool) -> None:
    records = [{"id": index + 1, **fields} for index, fields in enumerate(customers)]
    if not as_list:
        records = records[:1]
    text = render_file(
        records,
        NameMode.FULL_NAME,
        ("active",),
        "# yaml-language-server: $schema=../customer.schema.json",
        "imported",
        as_list,
    )
    assert format_text(text) == text


# --- the command


def test_fmt_check_diff_and_rewrite(workspace: Workspace, run) -> None:
    messy = workspace.declare("a.yaml", MESSY)
    messy.chmod(0o644)
    tidy = workspace.declare("b.yaml", "id: 9\nemail: b@example.com\n")
    result = run(workspace, "fmt", "--check")
    assert result.exit_code == 1
    assert result.stdout == "customers/a.yaml\n"
    assert "1 file(s) would be reformatted, 1 already canonical." in result.stderr
    assert messy.read_text() == MESSY
    result = run(workspace, "fmt", "--check", "--diff")
    assert result.exit_code == 1
    assert "--- a/customers/a.yaml\n+++ b/customers/a.yaml\n" in result.stdout
    assert "-  postcode: 01234\n" in result.stdout and "+    postcode: '01234'\n" in result.stdout
    assert messy.read_text() == MESSY

    result = run(workspace, "fmt")
    assert result.exit_code == 0, result.output
    assert result.stdout == "customers/a.yaml\n"
    assert "1 file(s) reformatted, 1 already canonical." in result.stderr
    assert messy.read_text() == CANONICAL
    assert tidy.read_text() == "id: 9\nemail: b@example.com\n"
    assert stat.S_IMODE(messy.stat().st_mode) == 0o644  # a file in git keeps its mode
    assert not list(workspace.root.glob("customers/.*"))  # no temporary file left
    assert run(workspace, "fmt", "--check").exit_code == 0
    assert run(workspace, "validate").exit_code == 0


def test_fmt_leaves_files_with_errors_alone(workspace: Workspace, run) -> None:
    invalid = workspace.declare("bad.yaml", "email: nobody@@example.com\nid: 1\n")
    aliased = workspace.declare("alias.yaml", "id: 2\nemail: &e b@example.com\ncity: *e\n")
    messy = workspace.declare("messy.yaml", "email: c@example.com\nid: 3\n")
    result = run(workspace, "fmt")
    assert result.exit_code == 1
    assert "customers/bad.yaml:1:8: customer 1: email:" in result.stderr
    assert "customers/bad.yaml: not formatted: fix the error(s) above first" in result.stderr
    assert (
        "customers/alias.yaml:2:8: fmt does not rewrite files that use an anchor" in result.stderr
    )
    assert "1 file(s) reformatted, 0 already canonical, 2 not formatted because of errors." in (
        result.stderr
    )
    assert invalid.read_text() == "email: nobody@@example.com\nid: 1\n"
    assert aliased.read_text() == "id: 2\nemail: &e b@example.com\ncity: *e\n"
    assert messy.read_text() == "id: 3\nemail: c@example.com\n"
    assert run(workspace, "fmt", "--check").exit_code == 1


def test_fmt_never_writes_what_would_change_the_meaning(
    workspace: Workspace, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workspace.declare("a.yaml", "notes: 'call # 3'\nid: 1\n")
    # A broken quoting rule: `call # 3` written plain reads back as "call" and a comment.
    monkeypatch.setattr(fmt_module, "scalar", lambda value, indent="  ": str(value))
    result = run(workspace, "fmt")
    assert result.exit_code == 1
    assert "customers/a.yaml: not formatted, because the result would not mean the same" in (
        result.stderr
    )
    assert "this is a bug in fluentcart fmt" in result.stderr
    assert path.read_text() == "notes: 'call # 3'\nid: 1\n"


def test_fmt_paths_encoding_and_line_endings(workspace: Workspace, run, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    crlf = other / "crlf.yaml"
    crlf.write_bytes(b"\xef\xbb\xbfemail: a@example.com\r\nid: 1\r\n")
    nested = other / "deep" / "n.yml"
    nested.parent.mkdir()
    nested.write_text("customers:\n- id: 2\n")
    untouched = workspace.declare("w.yaml", "email: w@example.com\nid: 5\n")
    result = run(workspace, "fmt", str(other), str(tmp_path / "missing.yaml"))
    assert result.exit_code == 1  # the missing path
    assert f"{tmp_path / 'missing.yaml'}: no such file or directory" in result.stderr
    assert crlf.read_bytes() == b"id: 1\nemail: a@example.com\n"
    assert nested.read_text() == "customers:\n  - id: 2\n"
    assert untouched.read_text() == "email: w@example.com\nid: 5\n"  # not named
    assert run(workspace, "fmt", str(crlf), str(nested)).exit_code == 0


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.sampled_from(TRICKY),
        st.text(st.sampled_from("aZ0 :#-?'\"[]{},&*!|>%@`~.=<+_\\"), max_size=8),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    )
)
def test_the_quick_quoting_rule_is_pyyamls(value: str) -> None:
    assume(value.isprintable())  # scalar() sends the rest to a literal block or double quotes
    quick = fmt_generate._plain_or_single_quoted(value)
    if quick is not None:
        assert quick == fmt_generate._dumped(value)


def comments_both_ways(source: str) -> tuple[list, list]:
    """(comments found between the parsed scalars, comments found between all tokens)."""
    document = yamlsource.parse(source)
    quick = fmt_module.find_comments(source, fmt_module.scalar_spans(document.root), strict=True)
    tokens = list(yaml.scan(source, Loader=fmt_module._ScanLoader))
    return quick, fmt_module.find_comments(source, fmt_module.token_spans(tokens), strict=False)


@settings(max_examples=200, deadline=None)
@given(written_file())
def test_comments_found_between_values_are_the_tokenizers(written: tuple[str, list[str]]) -> None:
    """The quick way to find comments (between the scalars the parser saw) finds exactly what
    PyYAML's tokenizer finds, which is the fallback for anything unusual."""
    quick, tokenized = comments_both_ways(written[0])
    assert quick == tokenized


@pytest.mark.parametrize(
    "source",
    [
        "customers: [ # c\n  {id: 1}, # d\n  {id: 2} # e\n] # f\n",
        "--- # doc\nid: 1\nnotes: |  # head\n  a # not a comment\n...\n",
        "? id # key\n: 1 # value\n",
    ],
)
def test_both_ways_of_finding_comments_agree_on_unusual_writings(source: str) -> None:
    quick, tokenized = comments_both_ways(source)
    assert quick is not None and quick == tokenized


def test_canonical_files_are_remembered(
    workspace: Workspace, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    tidy = workspace.declare("a.yaml", "id: 1\nemail: a@example.com\n")
    assert run(workspace, "fmt", "--check").exit_code == 0

    def fail(*args: object) -> str:
        raise AssertionError("parsed again")

    monkeypatch.setattr("reconciler.commands.fmt.format_text", fail)
    assert run(workspace, "fmt", "--check").exit_code == 0  # from the cache: not parsed
    tidy.write_text("email: a@example.com\nid: 1\n")  # new bytes: checked again
    with pytest.raises(AssertionError, match="parsed again"):
        run(workspace, "fmt", "--check")
    monkeypatch.setenv("FLUENTCART_NO_CACHE", "1")
    tidy.write_text("id: 1\nemail: a@example.com\n")
    with pytest.raises(AssertionError, match="parsed again"):
        run(workspace, "fmt", "--check")  # no cache: always checked
