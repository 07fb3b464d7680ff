import pytest

from reconciler.yamlsource import MAX_DEPTH, YamlSourceError, decode, parse


def error_of(text: str) -> YamlSourceError:
    with pytest.raises(YamlSourceError) as info:
        parse(text)
    return info.value


def test_values_and_positions() -> None:
    document = parse("customers:\n  - id: 1\n    email: a@b.co\n")
    assert document.value == {"customers": [{"id": 1, "email": "a@b.co"}]}
    where = document.position_at(("customers", 0, "email"))
    assert (where.line, where.column) == (3, 12)


def test_merge_keys_are_supported() -> None:
    document = parse("base: &b {city: Paris}\nc:\n  <<: *b\n  id: 2\n")
    assert document.value["c"] == {"id": 2, "city": "Paris"}
    assert document.position_at(("c", "city")).line == 1


def test_alias_bomb_is_built_once_not_expanded() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 10):
        prev = chr(ord("a") + n - 1)
        name = chr(ord("a") + n)
        levels.append(f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]")
    document = parse("\n".join(levels) + "\n")
    # Ten billion leaves if expanded; shared lists here.
    assert document.value["j"][0] is document.value["j"][1]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 5, 100_000])
def test_deep_nesting_is_an_error_not_a_crash(depth: int) -> None:
    assert "nested deeper" in error_of("[" * depth + "]" * depth).message


def test_block_nesting_on_one_line() -> None:
    assert "nested deeper" in error_of("- " * 200 + "x\n").message


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object:os.system x\n",
        "a: !!python/object/apply:os.system [echo]\n",
        "a: !!python/name:os.system\n",
        "a: !custom value\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!set {x}\n",
    ],
)
def test_application_tags_never_construct(text: str) -> None:
    assert "unsupported YAML tag" in error_of(text).message


def test_duplicate_keys_are_reported() -> None:
    document = parse("a: 1\nb: 2\na: 3\n")
    ((key, first, again),) = document.duplicate_keys
    assert (key, first.line, again.line) == ("a", 1, 3)


def test_second_document_is_an_error() -> None:
    error = error_of("a: 1\n---\nb: 2\n")
    assert "one YAML document" in error.message
    assert error.line == 2


def test_syntax_error_position() -> None:
    error = error_of("a: 1\nb: [1, 2\n")
    assert error.line is not None and error.line >= 2


def test_control_character_position() -> None:
    error = error_of("a: 1\nb: x\x07\n")
    assert (error.line, error.column) == (2, 5)


def test_decode_invalid_utf8_names_the_line() -> None:
    with pytest.raises(YamlSourceError) as info:
        decode(b"a: 1\nb: caf\xe9\n")
    assert info.value.line == 2
    assert "UTF-8" in info.value.message


def test_decode_binary() -> None:
    with pytest.raises(YamlSourceError) as info:
        decode(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert "binary" in info.value.message


def test_decode_strips_bom() -> None:
    assert decode(b"\xef\xbb\xbfa: 1\n") == "a: 1\n"


def test_empty_document() -> None:
    assert parse("# only a comment\n").root is None


@pytest.mark.parametrize("depth", [MAX_DEPTH + 5, 1_100])
def test_deep_block_nesting_is_reported_in_this_tools_words(depth: int) -> None:
    """libyaml stops deep block nesting in its scanner, with its own words, past 1000
    levels: the message and position are still this module's."""
    text = "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "v\n"
    error = error_of(text)
    assert "nested deeper" in error.message
    assert error.line in (MAX_DEPTH + 1, MAX_DEPTH + 2)  # the key or the mapping that passes it
