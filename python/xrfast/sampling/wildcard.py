"""X-Ray's wildcard patterns, as sampling rules use them (spec §7.1).

``*`` matches any run of characters (the empty one too), ``?`` exactly one character, every other
character itself without regard to case, and the pattern must match the whole text. Case is
compared as the AWS X-Ray SDK for Python compares it: one character at a time, by
``str.lower()`` of each character (so ``K`` (Kelvin) matches ``k``, but ``ſ`` does not match ``s``,
and ``Σ`` matches ``σ`` wherever it stands).

A pattern is compiled once into a matcher that never backtracks: the pattern is split at its
stars, the first and last pieces anchor the ends, and each middle piece is found leftmost after the
previous one (greedy leftmost is exact for these patterns). Worst case is O(len(text) ×
len(pattern)), so a hostile rule such as ``*a*a*a*a*b`` cannot stall a sampling decision, as it
would with a backtracking regular expression.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable

__all__ = ["compile_wildcard", "wildcard_match"]


@functools.cache
def _fold_table() -> dict[int, str]:
    """Per-character lower case of every character whose lower case is one other character.

    (``str.lower()`` of a whole string differs: it lowers a final ``Σ`` to ``ς``, and turns
    ``İ`` into two characters.) Built on the first non-ASCII text (~0.2 s), not at import.
    """
    return {
        code: chr(code).lower()
        for code in range(sys.maxunicode + 1)
        if len(chr(code).lower()) == 1 and chr(code).lower() != chr(code)
    }


def fold(text: str) -> str:
    """`text` with each character lowered on its own, as the SDK compares them."""
    return text.lower() if text.isascii() else text.translate(_fold_table())


def _always(text: str) -> bool:
    return True


def _piece(piece: str) -> Callable[[str, int], bool]:
    """A test of whether the (folded, star-free) `piece` matches the text at a position."""
    if "?" not in piece:
        return lambda text, at: text.startswith(piece, at)
    match = re.compile("".join("." if c == "?" else re.escape(c) for c in piece), re.DOTALL).match
    return lambda text, at: match(text, at) is not None


def _finder(piece: str) -> Callable[[str, int, int], int]:
    """Where the (folded, star-free) `piece` first occurs in ``text[start:end]`` (-1 if not):
    returns the index just past it."""
    if "?" not in piece:
        width = len(piece)

        def find(text: str, start: int, end: int) -> int:
            found = text.find(piece, start, end)
            return -1 if found < 0 else found + width

        return find
    search = re.compile("".join("." if c == "?" else re.escape(c) for c in piece), re.DOTALL).search

    def find_pattern(text: str, start: int, end: int) -> int:
        found = search(text, start, end)
        return -1 if found is None else found.end()

    return find_pattern


@functools.lru_cache(maxsize=4096)
def compile_wildcard(pattern: str) -> Callable[[str], bool]:
    """Compiles a wildcard pattern.

    Arguments:
        pattern: the pattern (``*``, ``?``, other characters literal and caseless).

    Returns:
        A function of a text that says whether the whole text matches `pattern`.
    """
    if pattern == "*":
        return _always
    folded = fold(pattern)
    if "*" not in folded and "?" not in folded:
        return lambda text: fold(text) == folded
    pieces = folded.split("*")
    if len(pieces) == 1:
        # Only "?": the length is fixed.
        size = len(folded)
        whole = _piece(folded)
        return lambda text: len(text) == size and whole(fold(text), 0)
    head, *middle, tail = pieces
    fixed = len(head) + len(tail)
    head_at = _piece(head)
    tail_at = _piece(tail)
    finders = tuple(_finder(piece) for piece in middle if piece)

    def matches(text: str) -> bool:
        if len(text) < fixed:
            return False
        text = fold(text)
        end = len(text) - len(tail)
        if not (head_at(text, 0) and tail_at(text, end)):
            return False
        at = len(head)
        for find in finders:
            at = find(text, at, end)
            if at < 0:
                return False
        return True

    return matches


def wildcard_match(pattern: str, text: str) -> bool:
    """Whether the whole of `text` matches the wildcard `pattern`.

    Arguments:
        pattern: the pattern (``*``, ``?``, other characters literal and caseless).
        text: the text to test.

    Returns:
        ``True`` if it matches.
    """
    return compile_wildcard(pattern)(text)
