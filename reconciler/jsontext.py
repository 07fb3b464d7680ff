"""JSON text for whole states: the fast paths, each proven equal to the standard library's.

A state of 100,000 customers is about 126 MB of JSON. The standard `json` module writes
indented JSON with its pure-Python encoder, and decoding many small documents pays its
Python wrapper per call; msgspec does both in C. Each function here gives exactly what the
standard library gives (tests/test_jsontext.py checks it with generated values), and NaN and
Infinity, which are not JSON (RFC 8259), are refused everywhere rather than written.
"""

import gc
import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

_COMPACT = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
)


def refuse_constant(name: str) -> Any:
    """For json.loads(parse_constant=...): NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not a JSON number")


def finite_float(text: str) -> float:
    """For json.loads(parse_float=...): a number beyond a float's range is refused, not made
    infinite (which no JSON encoder here would write back)."""
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def loads(text: str | bytes) -> Any:
    """json.loads(text) with NaN, Infinity and out-of-range numbers refused: msgspec's
    decoder, and the standard one for what msgspec refuses (lone surrogates, errors)."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)


def compact(value: Any) -> str:
    """`value` as JSON with sorted keys and no spaces (the C encoder); ValueError for NaN."""
    return _COMPACT.encode(value)


def indented(compact_text: bytes) -> bytes:
    """JSON text laid out as json.dumps(indent=2) lays it out: every value on its own line,
    two spaces per level, `": "` after keys; strings and numbers are copied unchanged."""
    return msgspec.json.format(compact_text, indent=2)


def for_database(value: Any) -> str:
    """`value` as compact JSON for PostgreSQL's jsonb, which parses it (msgspec, 3x the
    standard encoder). Floats come out in msgspec's shortest form, a different text of the
    same number, so this is never for bytes that must stay the same. msgspec would write NaN
    as null, but none gets this far: the state's readers and the client refuse it."""
    return msgspec.json.encode(value).decode("utf-8")


def digest_form(value: Any) -> bytes:
    """A deterministic encoding of `value` (keys sorted at every level) to hash, the same for
    equal values whichever backend they were read from. Not for storing: msgspec writes
    floats in its own shortest form, which is why it is only ever hashed."""
    return msgspec.json.encode(value, order="deterministic")


def keep_for_the_run() -> None:
    """Everything made so far lives until the command ends (the declared customers, the
    state, the plan): the cyclic collector stops scanning it (gc.freeze). Without this,
    every later collection of the oldest generation walks millions of objects again: at
    100,000 customers the collector was 1.5 s of a 3.6 s plan, more with pages or PUTs
    allocating meanwhile. Reference counting still frees what a command drops."""
    gc.freeze()


_paused = 0
_was_enabled = False
_pause_guard = threading.Lock()


@contextmanager
def many_objects() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a whole state is decoded, encoded or
    copied. Those records hold no reference cycles, yet each collection would rescan the
    growing heap: at 100,000 customers that was half the time of parsing a state file
    (json.loads 1.32 s with the collector, 0.60 s without). Reference counting still frees
    everything; nested and concurrent uses restore the collector once, when the last ends."""
    global _paused, _was_enabled
    with _pause_guard:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _pause_guard:
            _paused -= 1
            if _paused == 0 and _was_enabled:
                gc.enable()
