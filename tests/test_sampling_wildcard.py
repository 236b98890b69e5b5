"""X-Ray's wildcard patterns: against a regular-expression reference, the SDK's matcher, and
re.IGNORECASE on ASCII."""

from __future__ import annotations

import re

import pytest
from aws_xray_sdk.core.utils.search_pattern import wildcard_match as sdk_wildcard_match
from hypothesis import given
from hypothesis import strategies as st

from xrfast.sampling import compile_wildcard, wildcard_match


def fold_each(text: str) -> str:
    """The SDK's caseless comparison, one character at a time."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def reference(pattern: str, text: str) -> bool:
    folded = fold_each(pattern)
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in folded)
    return re.fullmatch(regex, fold_each(text), re.DOTALL) is not None


# Letters in both cases, the troublesome Unicode ones (final sigma, long s, Kelvin, dotted I),
# regular-expression metacharacters, and the wildcards themselves.
ALPHABET = "aAbB/.-+()[]\\^$|ΣσςſsSKkİi\n*?"
patterns = st.text(alphabet=ALPHABET, max_size=8)
texts = st.text(alphabet=ALPHABET.replace("*", "").replace("?", ""), max_size=12)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("*", "", True),
        ("*", "anything at all", True),
        ("", "", True),
        ("", "a", False),
        ("a", "", False),
        ("?", "", False),
        ("?", "x", True),
        ("??", "x", False),
        ("/api/*", "/API/Move/1", True),
        ("/api/*", "/api", False),
        ("*.example.com", "shop.EXAMPLE.com", True),
        ("GET", "get", True),
        ("G?T", "GOT", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "acb", False),
        ("ab*ab", "ab", False),
        ("ab*ab", "abab", True),
        ("*a?", "xxab", True),
        ("*a?", "xxba", False),
        ("a.c", "abc", False),
        ("(x)", "(X)", True),
        ("σ", "Σ", True),
        ("s", "ſ", False),
        ("k", "\u212a", True),
        ("İ", "i", False),
        ("İ", "İ", True),
    ],
)
def test_table(pattern: str, text: str, expected: bool) -> None:
    assert wildcard_match(pattern, text) is expected
    assert reference(pattern, text) is expected


def test_a_hostile_pattern_does_not_backtrack() -> None:
    # A backtracking regular expression (the reference) takes exponential time here.
    assert wildcard_match("*a*a*a*a*a*a*a*a*b", "a" * 3000) is False
    assert wildcard_match("*a*a*a*a*a*a*a*a*b", "a" * 3000 + "b") is True


@given(patterns, texts)
def test_matches_the_regular_expression_reference(pattern: str, text: str) -> None:
    assert wildcard_match(pattern, text) == reference(pattern, text)


@given(patterns, st.data())
def test_a_text_made_from_the_pattern_matches(pattern: str, data: st.DataObject) -> None:
    # Texts that match are rare at random: build them by filling in the wildcards.
    pieces = []
    for c in pattern:
        if c == "*":
            pieces.append(data.draw(texts))
        elif c == "?":
            pieces.append(data.draw(st.sampled_from("xΣ/?*")))
        else:
            # Another case of the same letter, where it compares equal (not "ſ" and "S").
            same = [x for x in (c, c.upper(), c.lower()) if fold_each(x) == fold_each(c)]
            pieces.append(data.draw(st.sampled_from(same)))
    text = "".join(pieces)
    assert wildcard_match(pattern, text)
    assert reference(pattern, text)


@given(patterns, texts)
def test_matches_the_sdk_on_texts_without_a_star(pattern: str, text: str) -> None:
    assert wildcard_match(pattern, text) == sdk_wildcard_match(pattern, text)


@given(st.text(alphabet="aAbZz09/.-*?", max_size=10), st.text(alphabet="aAbZz09/.-", max_size=14))
def test_on_ascii_case_is_what_re_ignorecase_says(pattern: str, text: str) -> None:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    assert wildcard_match(pattern, text) == bool(re.fullmatch(regex, text, re.IGNORECASE))


def test_a_star_in_the_text_is_where_the_sdk_differs() -> None:
    # The SDK compares a "*" in the text to a "*" in the pattern as a literal first and never
    # backtracks over it; xrfast treats the pattern's "*" as a wildcard, as documented.
    assert wildcard_match("*a", "*ba") is True
    assert sdk_wildcard_match("*a", "*ba") is False


def test_compiled_matchers_are_cached_and_reusable() -> None:
    matcher = compile_wildcard("/orders/*")
    assert matcher is compile_wildcard("/orders/*")
    assert [matcher(p) for p in ("/orders/1", "/Orders/", "/order")] == [True, True, False]
