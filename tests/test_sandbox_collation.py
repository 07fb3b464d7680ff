"""The sandbox's utf8mb4_unicode_520_ci (collation.py) and its country tables (geo.py)."""

import pytest

from reconciler import collation, geo


def test_ascii_is_mapped_as_pyuca_maps_it() -> None:
    for code in range(0x20, 0x7F):
        char = chr(code)
        if char != " ":
            assert collation.sort_key(char) == collation._weights(char), char
        assert collation.fold(char) == collation._fold(char), char
    for text in ("Agent 007", "deal_50@sort.test", "a\tb", "x\x01y"):
        assert collation.sort_key(text) == collation._weights(text.rstrip(" "))


def test_equality_ignores_case_accents_and_trailing_spaces_only() -> None:
    assert collation.equal("Vïp", "VIP")
    assert collation.equal("VIP  ", "VIP")  # PAD SPACE
    assert not collation.equal("  VIP", "VIP")
    assert collation.equal("Ångström", "angstrom")
    assert not collation.equal("zoe", "zoe9")


def test_order_is_the_uca_order_at_the_primary_level() -> None:
    words = ["zoe9", "Émile", "_x", "zoe10", "emile", "007", "@a", ".a", "Zoë"]
    # Ties (Émile, emile) keep their order: the sort is stable, as the listing needs.
    assert sorted(words, key=collation.sort_key) == [
        "_x", ".a", "@a", "007", "Émile", "emile", "Zoë", "zoe10", "zoe9",
    ]  # fmt: skip
    assert collation.sort_key("zoe10") < collation.sort_key("zoe9")  # no numeric ordering
    assert collation.sort_key("Émile") == collation.sort_key("emile")


@pytest.mark.parametrize(
    ("term", "escape", "text", "found"),
    [
        ("under_score", False, "underXscore@sort.test", True),
        ("under_score", True, "underXscore@sort.test", False),
        ("%", False, "anything", True),
        ("50%", True, "Deal 50% Off", True),
        ("50%", True, "Deal 50 Off", False),
        ("ZOË", True, "zoe aaron", True),
        ("mil", True, "Émile Zola", True),
        ("a\\_b", False, "a_b", True),
        ("a\\_b", False, "axb", False),
    ],
)
def test_like(term: str, escape: bool, text: str, found: bool) -> None:
    pattern = collation.like_pattern(term, escape=escape)
    assert (pattern.search(collation.fold(text)) is not None) is found


def test_country_and_state_rules_come_from_the_plugin_tables() -> None:
    assert geo.is_country("US") and not geo.is_country("us") and not geo.is_country("ZZ")
    assert geo.state_required("US") and not geo.state_required("GB")
    assert not geo.state_required("DE") and not geo.is_state("DE", "XX")
    assert geo.is_state("DE", "DE-BY") and geo.is_state("GB", "Kent")  # GB has no list
    assert geo.state_name("CA", "ON") == "Ontario"
    assert geo.state_name("", "TX") == "Texas"  # without a country, every list is searched
