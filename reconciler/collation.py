"""MySQL's `utf8mb4_unicode_520_ci`, the collation of FluentCart's tables: order and equality.

MySQL's UCA collations before 9.0 compare at the primary level only (case and accents
ignored) and pad with spaces (trailing spaces ignored in `=` and ORDER BY, not in LIKE). The
weights are those of UCA 5.2.0, from pyuca's copy of its table `allkeys-5.2.0.txt`.

- `sort_key(text)`: the primary weights of the text (contractions and expansions as pyuca
  finds them), for ORDER BY and `=`; cached per value, so re-sorting a large listing costs
  a dictionary look-up per row, and ASCII text is mapped a character at a time.
- `like(pattern, text)`: SQL LIKE, which MySQL compares character by character: each
  character stands for the primary weights of that character alone.
"""

import re
import unicodedata
from functools import lru_cache
from typing import Any

from pyuca.collator import Collator_5_2_0

_collator: Any = None


def _table() -> Any:
    global _collator  # loaded on first use: most sandbox runs never sort by text
    if _collator is None:
        _collator = Collator_5_2_0()
    return _collator


def _primary(text: str) -> tuple[int, ...]:
    elements = _table().collation_elements(unicodedata.normalize("NFD", text))
    return tuple(element[0] for element in elements if element[0])


def _weights(text: str) -> str:
    """The primary weights as a string of code points (compared as tuples would be)."""
    return "".join(map(chr, _primary(text)))


@lru_cache(maxsize=1)
def _ascii_weights() -> dict[int, str]:
    # DUCET has no contraction made of ASCII characters, so ASCII text maps one character
    # at a time: a C-speed str.translate instead of pyuca's walk through its trie.
    return {code: _weights(chr(code)) for code in range(128)}


@lru_cache(maxsize=1 << 18)
def sort_key(text: str) -> str:
    """The primary-level key of `text` (trailing spaces ignored, as PAD SPACE does)."""
    text = text.rstrip(" ")
    if text.isascii():
        return text.translate(_ascii_weights())
    return _weights(text)


def equal(a: str, b: str) -> bool:
    return sort_key(a) == sort_key(b)


class _Folding(dict[int, str]):
    """Code point -> one character standing for its primary weights (same weights, same one).

    A class that holds a printable ASCII character stands as that character in lower case,
    so printable ASCII text folds to its `lower()`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[tuple[int, ...], str] = {}

    def __missing__(self, code: int) -> str:
        if not self._classes:
            for ascii_code in range(0x20, 0x7F):
                char = chr(ascii_code).lower()
                self._classes.setdefault(_primary(char), char)
        weights = _primary(chr(code))
        folded = self._classes.setdefault(weights, chr(0xF0000 + len(self._classes)))
        self[code] = folded
        return folded


_FOLDING = _Folding()


def fold(text: str) -> str:
    """`text` with each character replaced by its weight class: LIKE compares these."""
    if text.isascii() and text.isprintable():
        return text.lower()
    return _fold(text)


@lru_cache(maxsize=1 << 16)
def _fold(text: str) -> str:
    return text.translate(_FOLDING)


def like_pattern(pattern: str, escape: bool) -> re.Pattern[str]:
    """The LIKE `%pattern%` as a regex over folded text; `escape` makes `%`, `_`, `\\` literal."""
    out = []
    chars = iter(pattern)
    for char in chars:
        if not escape and char == "\\":
            out.append(re.escape(fold(next(chars, "\\"))))  # LIKE's own escape character
        elif not escape and char == "%":
            out.append(".*")
        elif not escape and char == "_":
            out.append(".")
        else:
            out.append(re.escape(fold(char)))
    return re.compile("".join(out), re.DOTALL)
