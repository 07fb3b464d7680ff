"""The fast JSON paths give exactly what the standard library gives."""

import gc
import json
import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import jsontext

# Text as a store or a state file can hold it; lone surrogates cannot be written as UTF-8.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.none() | st.booleans() | st.integers() | st.integers(-(2**80), 2**80) | FLOATS | TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=40,
)


def _same(a: object, b: object) -> bool:
    """Equal with the same types throughout (1 is not 1.0, -0.0 is not 0.0)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))  # type: ignore[arg-type]
    return a == b


@settings(max_examples=400, deadline=None)
@given(VALUES, st.booleans())
def test_loads_is_json_loads(value: object, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert _same(jsontext.loads(text), json.loads(text))
    assert _same(jsontext.loads(text.encode()), json.loads(text))


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_indented_compact_is_json_dumps_indent_2(value: object) -> None:
    expected = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    assert jsontext.indented(jsontext.compact(value).encode()) == expected.encode()


@pytest.mark.parametrize(
    "text",
    [
        '"\\ud800"',
        '{"a": "\\udfff x"}',
        "1e308",
        "[1.5e-07, 1e+16, -0.0]",
        "12345678901234567890123",
    ],
)
def test_what_msgspec_refuses_still_reads_as_json_does(text: str) -> None:
    assert _same(jsontext.loads(text), json.loads(text))


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e400", "[-1e999]"])
def test_not_json_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a JSON number|out of range"):
        jsontext.loads(text)


@pytest.mark.parametrize("value", [math.nan, [math.inf], {"a": -math.inf}])
def test_not_json_numbers_are_never_written(value: object) -> None:
    with pytest.raises(ValueError):
        jsontext.compact(value)


@given(VALUES)
def test_digest_form_is_the_same_for_equal_values_in_any_key_order(value: object) -> None:
    def reverse(v: object) -> object:
        if isinstance(v, dict):
            return {k: reverse(v[k]) for k in reversed(list(v))}
        if isinstance(v, list):
            return [reverse(x) for x in v]
        return v

    assert jsontext.digest_form(value) == jsontext.digest_form(reverse(value))


def test_the_collector_pauses_and_comes_back_once_the_last_user_ends() -> None:
    assert gc.isenabled()
    with jsontext.many_objects():
        assert not gc.isenabled()
        with jsontext.many_objects():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with jsontext.many_objects():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    with jsontext.many_objects():
        pass
    assert not gc.isenabled()  # the other thread is still inside
    release.set()
    thread.join()
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with jsontext.many_objects():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_is_kept_for_the_run_is_not_rescanned_and_later_garbage_is_collected() -> None:
    import weakref

    class Node:
        pass

    kept = [{"id": i} for i in range(1000)]
    before = gc.get_freeze_count()
    jsontext.keep_for_the_run()
    try:
        assert gc.get_freeze_count() >= before + len(kept)
        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        gone = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert gone() is None  # made after the freeze: the collector still frees it
    finally:
        gc.unfreeze()
