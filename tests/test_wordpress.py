import json
from pathlib import Path

import pytest

from reconciler.wordpress import (
    is_email,
    joined_full_name,
    sanitize_text_field,
    sanitize_text_problem,
    split_full_name,
)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Ontario", "Ontario"),
        ("  padded  ", "padded"),
        ("line one\nline two", "line one line two"),
        ("tabs\t\there", "tabs here"),
        ("two  spaces", "two spaces"),
        ("<b>ON</b>", "ON"),  # tags stripped (API.md #34 style)
        ("<script>alert(1)</script>Texas", "Texas"),  # script contents go too
        ("a < b", "a &lt; b"),  # a lone '<' is escaped, not stripped
        ("100%41off", "100off"),  # percent-encoded octets removed
        ("%41%42", ""),
        ("50 %zz", "50 %zz"),  # not an octet: kept
        ("a %41 b", "a b"),  # spaces collapsed again after removal
        ("", ""),
    ],
)
def test_sanitize_text_field(raw: str, stored: str) -> None:
    assert sanitize_text_field(raw) == stored


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("<b>Tor</b>onto", "HTML"),
        ("Tor<onto", "HTML"),
        ("Jane  Doe", "two or more spaces"),
        ("Jane\tDoe", "tab"),
        ("Jane\nDoe", "line break"),
        ("Jane%41Doe", "percent-encoded"),
    ],
)
def test_sanitize_text_problem_names_the_reason(value: str, reason: str) -> None:
    problem = sanitize_text_problem(value)
    assert problem is not None
    assert reason in problem


def test_sanitize_text_rule_allows_surrounding_spaces() -> None:
    # The rule trims first; the sanitizer removes the spaces afterwards (API.md 10.4).
    assert sanitize_text_problem("  Toronto ") is None


@pytest.mark.parametrize(
    "email",
    [
        "a@b.co",
        "jane.doe+tag@example.org",
        "o'neil@example.ie",
        "x@sub.example-domain.com",
        "UPPER@EXAMPLE.TEST",
    ],
)
def test_valid_emails(email: str) -> None:
    assert is_email(email)


@pytest.mark.parametrize(
    "email",
    [
        "a@b.c",  # shorter than 6
        "@example.com",
        "jane@@x",
        "jane@example",  # one label
        "jane@exa..mple.com",
        "jane@.example.com",
        "jane@-example.com",
        "jane@example-.com",
        "jane doe@example.com",
        "jäne@example.com",
        "jane@exämple.com",
        "jane@example_under.com",
        "jane@\u212aexample.com",  # Kelvin sign: not ASCII 'k' even though it case-folds to it
    ],
)
def test_invalid_emails(email: str) -> None:
    assert not is_email(email)


@pytest.mark.parametrize(
    ("full", "parts"),
    [
        ("Alice Anderson-Smith", ("Alice", "Anderson-Smith")),
        ("Jean Luc Picard", ("Jean Luc", "Picard")),
        ("Madonna", ("Madonna", "")),
    ],
)
def test_full_name_split_at_last_space(full: str, parts: tuple[str, str]) -> None:
    assert split_full_name(full) == parts
    assert joined_full_name(*parts) == full


VECTORS = Path(__file__).parent / "data" / "wordpress" / "sanitize-vectors.jsonl"


def test_sanitize_text_field_and_the_rule_agree_with_real_php_on_4000_strings() -> None:
    """Answers of PHP 8.2 running WordPress's sanitize_text_field and FluentCart 1.3.25's
    SanitizeText rule (tests/data/wordpress/make_vectors.py) for adversarial strings: tags,
    `<` with and without spaces, quotes, `<?`, `<!--`, `<!DOCTYPE`, entities, %XX, NUL,
    white space of every kind, emoji."""
    rows = [json.loads(line) for line in VECTORS.read_text("utf-8").splitlines()]
    assert len(rows) == 4000
    wrong = [
        (row["in"], row["sanitized"], sanitize_text_field(row["in"]))
        for row in rows
        if sanitize_text_field(row["in"]) != row["sanitized"]
        or (sanitize_text_problem(row["in"]) is not None) != row["rejected"]
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("a < b > c", "a < b > c"),  # #2.195: a '<' followed by a space is text
        ("Brighton a < b > c & Hove", "Brighton a < b > c & Hove"),
        ("Île-de-France \t < > ", "Île-de-France < >"),
        ("-1234< b >5-6789", "-1234< b >5-6789"),
        ('Prefers a<a title=">">temail', "Prefers atemail"),  # a quoted '>' is inside the tag
        ("<b>NV</b>", "NV"),  # #2.195
        ("1 < 2", "1 &lt; 2"),  # #2.195: no '>' after the '<': escaped
        ("x<!-- note -->y", "xy"),
        ("keep <!-- never closed", "keep &lt;!-- never closed"),  # no '>': escaped first
        ("keep <!-- a > b", "keep"),  # an unclosed comment removes the rest
        ("a&apos;b<", "a&apos;b&lt;"),
    ],
)
def test_the_cleanings_the_real_server_made(raw: str, stored: str) -> None:
    assert sanitize_text_field(raw) == stored


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("a < b > c", True),  # #2.195
        ("Tom < Jerry > Spike", True),  # #2.198
        ("Oluwaseun< b >Picard", True),
        ("<b>", False),  # #2.196
        ("a < b", False),  # #2.197: no '>' after it
        ("a <b> c", False),
    ],
)
def test_the_sanitize_text_rule(value: str, accepted: bool) -> None:
    assert (sanitize_text_problem(value) is None) is accepted


def test_full_name_split_trims_each_part() -> None:
    assert split_full_name("Oluwaseun< b >Picard") == ("Oluwaseun< b", ">Picard")
    assert split_full_name("Ann \x0bLee") == ("Ann", "Lee")
