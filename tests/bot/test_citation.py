"""The citation checker: examples, then properties over any reply and any markers."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.citation import (
    Validated,
    check_reply,
    marker_numbers,
    settled_prefix,
    stream_view,
    strip_links,
    strip_markers,
    validate_markers,
)

MARKER = re.compile(r"\[(\d+)\]")


def markers(text: str) -> list[int]:
    """The marker numbers of a checked text, in order."""
    return [int(m) for m in MARKER.findall(text)]


def first_appearances(numbers: list[int]) -> list[int]:
    """The distinct numbers in order of first appearance."""
    return list(dict.fromkeys(numbers))


# -- examples --------------------------------------------------------------------------------

def test_valid_markers_are_kept_invalid_dropped_and_renumbered() -> None:
    assert validate_markers("Putin [1] og Kim [99].", 5) == Validated("Putin [1] og Kim.", (1,))
    assert validate_markers("A [3]. B [1] [3]. C [0].", 5) == Validated(
        "A [1]. B [2] [1]. C.", (3, 1))
    assert validate_markers("[4] først.", 5) == Validated("[1] først.", (4,))
    assert validate_markers("Ingen kilder her.", 5) == Validated("Ingen kilder her.", ())
    assert validate_markers("Bare [6] og [99].", 5) == Validated("Bare og.", ())


def test_marker_forms() -> None:
    assert validate_markers("a [1, 2] b [2;3]", 5).text == "a [1][2] b [2][3]"
    assert validate_markers("a [2-4] b", 5) == Validated("a [1][2][3] b", (2, 3, 4))
    assert validate_markers("a [^2] b [ 1 ]", 5) == Validated("a [1] b [2]", (2, 1))
    assert validate_markers("a [1, 9] b", 5) == Validated("a [1] b", (1,))
    assert validate_markers("a [1][1] [1]", 5).text == "a [1][1] [1]"
    assert validate_markers("[sic] [x1] [1a] stay", 5).text == "[sic] [x1] [1a] stay"
    assert strip_markers("Han møter Putin [1][2] i Russland [3, 4].") == \
        "Han møter Putin i Russland."
    assert marker_numbers("1-100") == [1, 100] and marker_numbers("3-1") == [3, 1]
    assert marker_numbers("007") == [7] and marker_numbers("-1, 2") == [-1, 2]
    assert validate_markers("a [-1] b [-2, 1]", 5) == Validated("a b [1]", (1,))


def test_links_images_tags_and_foreign_urls_are_removed() -> None:
    article = "Les mer på https://www.nrk.no/nyheter i dag."
    reply = ("Svar [1]. ![logo](https://evil.example/p.png?q=prompt) "
             "[les her](https://evil.example/x \"tittel\") <img src=x onerror=alert(1)> "
             "<script>alert(1)</script> <https://evil.example> javascript:alert(1) "
             "www.evil.example/x og https://www.nrk.no/nyheter")
    out = check_reply(reply, 3, article)
    assert "evil" not in out.text and "<" not in out.text and "javascript" not in out.text
    assert "les her" in out.text and "https://www.nrk.no/nyheter" in out.text
    assert out.cited == (1,) and out.text.startswith("Svar [1].")
    assert strip_links("uten lenker", "") == "uten lenker"
    thinking = "<think>Kanskje [2]? Se https://evil.example</think>\nHan er forsker [3]."
    assert check_reply(thinking, 3) == Validated("Han er forsker [1].", (3,))
    assert check_reply("<think>Jeg tenker [1] fortsatt", 3) == Validated("", ())


def test_streamed_prefix_holds_back_what_may_still_change() -> None:
    assert settled_prefix("Han er [1") == "Han er "
    assert settled_prefix("Han er [1] for") == "Han er [1] "
    assert settled_prefix("Se [her](https://e") == "Se "
    assert settled_prefix("Se <im") == "Se "
    assert settled_prefix("ferdig. ") == "ferdig. "
    assert stream_view("A [9] b [2] c", 3) == "A b [1]"


# -- properties -------------------------------------------------------------------------------

_WORD = st.text(alphabet=st.characters(exclude_categories=["Cs"],
                                       exclude_characters="[]()<>!"),
                min_size=1, max_size=8)
_MARKER_TEXT = st.one_of(
    st.integers(-3, 120).map(lambda n: f"[{n}]"),
    st.lists(st.integers(0, 12), min_size=1, max_size=4).map(
        lambda ns: "[" + ", ".join(map(str, ns)) + "]"),
    st.tuples(st.integers(0, 9), st.integers(0, 9)).map(lambda t: f"[{t[0]}-{t[1]}]"),
    st.sampled_from(["[", "]", "[]", "[^1]", "[ 2 ]", "![x](http://e.x/y)", "(", ")", "<b>",
                     "https://e.x/", " "]),
)
# any text at all, and text built from words and marker-like pieces
REPLIES = st.one_of(st.text(max_size=200),
                    st.lists(st.one_of(_WORD, _MARKER_TEXT), max_size=30).map(" ".join))


@settings(max_examples=300, deadline=None)
@given(reply=REPLIES, k=st.integers(0, 8))
@example(reply="x [1] y [99]", k=5)
def test_any_reply_gives_only_valid_renumbered_markers(reply: str, k: int) -> None:
    out = check_reply(reply, k)
    shown = markers(out.text)
    # every shown marker points at a citation, and every citation is a sentence 1..k
    assert all(1 <= n <= len(out.cited) for n in shown)
    assert len(set(out.cited)) == len(out.cited) and all(1 <= n <= k for n in out.cited)
    # numbered by first appearance, every citation shown at least once
    assert first_appearances(shown) == list(range(1, len(out.cited) + 1))
    # checking again changes nothing
    again = check_reply(out.text, len(out.cited))
    assert again == Validated(out.text, tuple(range(1, len(out.cited) + 1)))


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.one_of(st.text(alphabet="abcæøå ", min_size=1, max_size=6),
                                st.integers(-2, 12)), max_size=20), k=st.integers(1, 6))
def test_words_survive_and_each_valid_marker_maps_to_its_sentence(
        parts: list[str | int], k: int) -> None:
    reply = " ".join(f"[{p}]" if isinstance(p, int) else p for p in parts)
    out = validate_markers(reply, k)
    words = [w for p in parts if isinstance(p, str) for w in p.split()]
    assert MARKER.sub(" ", out.text).split() == words
    valid = [p for p in parts if isinstance(p, int) and 1 <= p <= k]
    # the i-th valid marker of the reply is shown as the number of its sentence
    assert [out.cited[n - 1] for n in markers(out.text)] == valid


@settings(max_examples=200, deadline=None)
@given(reply=REPLIES, cut=st.integers(0, 400), k=st.integers(1, 6))
def test_streamed_views_never_show_an_invalid_marker(reply: str, cut: int, k: int) -> None:
    view = stream_view(reply[:cut], k)
    final = check_reply(reply, k)
    shown = markers(view)
    assert all(1 <= n <= k for n in shown)
    assert first_appearances(shown) == list(range(1, len(set(shown)) + 1))
    # what was shown keeps its numbers in the final answer
    assert set(shown) <= set(range(1, len(final.cited) + 1))
