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
