"""The citation checker: examples, then properties over any reply and any markers."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.citation import (
    Validated,
    check_reply,
    marker_numbers,
    sentence_support,
    settled_prefix,
    stream_view,
    strip_markers,
    validate_markers,
)
from bot.links import strip_links

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
        "A [1]. B [2] [1]. C.", (3, 1)
    )
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
    assert (
        strip_markers("Han møter Putin [1][2] i Russland [3, 4].") == "Han møter Putin i Russland."
    )
    assert marker_numbers("1-100") == [1, 100] and marker_numbers("3-1") == [3, 1]
    assert marker_numbers("007") == [7] and marker_numbers("-1, 2") == [-1, 2]
    assert validate_markers("a [-1] b [-2, 1]", 5) == Validated("a b [1]", (1,))


def test_links_images_tags_and_foreign_urls_are_removed() -> None:
    article = "Les mer på https://www.nrk.no/nyheter i dag."
    reply = (
        "Svar [1]. ![logo](https://evil.example/p.png?q=prompt) "
        '[les her](https://evil.example/x "tittel") <img src=x onerror=alert(1)> '
        "<script>alert(1)</script> <https://evil.example> javascript:alert(1) "
        "www.evil.example/x og https://www.nrk.no/nyheter"
    )
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

_WORD = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="[]()<>!"),
    min_size=1,
    max_size=8,
)
_MARKER_TEXT = st.one_of(
    st.integers(-3, 120).map(lambda n: f"[{n}]"),
    st.lists(st.integers(0, 12), min_size=1, max_size=4).map(
        lambda ns: "[" + ", ".join(map(str, ns)) + "]"
    ),
    st.tuples(st.integers(0, 9), st.integers(0, 9)).map(lambda t: f"[{t[0]}-{t[1]}]"),
    st.sampled_from(
        [
            "[",
            "]",
            "[]",
            "[^1]",
            "[ 2 ]",
            "![x](http://e.x/y)",
            "(",
            ")",
            "<b>",
            "https://e.x/",
            " ",
        ]
    ),
)
# any text at all, and text built from words and marker-like pieces
REPLIES = st.one_of(
    st.text(max_size=200), st.lists(st.one_of(_WORD, _MARKER_TEXT), max_size=30).map(" ".join)
)


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
@given(
    parts=st.lists(
        st.one_of(st.text(alphabet="abcæøå ", min_size=1, max_size=6), st.integers(-2, 12)),
        max_size=20,
    ),
    k=st.integers(1, 6),
)
def test_words_survive_and_each_valid_marker_maps_to_its_sentence(
    parts: list[str | int], k: int
) -> None:
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


# -- links: every form removed unless the article holds it ----------------------------------

# (form as the model writes it, what the article holds for it to be kept, what must survive
# of it when it is kept)
LINK_FORMS = {
    "https": ("https://evil.example/x", "https://evil.example/x", "https://evil.example/x"),
    "http with query": (
        "http://evil.example/?q=a&b=c",
        "http://evil.example/?q=a&b=c",
        "http://evil.example/?q=a&b=c",
    ),
    "ftp": ("ftp://evil.example/f", "ftp://evil.example/f", "ftp://evil.example/f"),
    "other scheme": ("ms-msdt://evil/id", "ms-msdt://evil/id", "ms-msdt://evil/id"),
    "mailto": ("mailto:bob@evil.example", "mailto:bob@evil.example", "mailto:bob@evil.example"),
    "e-mail": ("bob@evil.example", "bob@evil.example", "bob@evil.example"),
    "protocol-relative": ("//evil.example/p", "//evil.example/p", "//evil.example/p"),
    "host/path": ("evil.example/p?x=1", "evil.example/p?x=1", "evil.example/p?x=1"),
    "host": ("evil.com", "evil.com", "evil.com"),
    "host with port": ("evil.com:8080", "evil.com:8080", "evil.com:8080"),
    "www": ("www.evil.example", "www.evil.example", "www.evil.example"),
    "ip and port": ("10.0.0.1:8080/admin", "10.0.0.1:8080/admin", "10.0.0.1:8080/admin"),
    "full-width": (
        "ｈｔｔｐｓ://evil.example/x",
        "https://evil.example/x",
        "ｈｔｔｐｓ://evil.example/x",
    ),
    "full-width everything": (
        "ＨＴＴＰＳ：／／ｅｖｉｌ．ｅｘａｍｐｌｅ",
        "https://evil.example",
        "ＨＴＴＰＳ：／／ｅｖｉｌ．ｅｘａｍｐｌｅ",
    ),
    "javascript": ("javascript:alert(1)", "javascript:alert(1)", "javascript:alert(1)"),
    "vbscript": ("VBScript:msgbox(1)", "VBScript:msgbox(1)", "VBScript:msgbox(1)"),
    "data": (
        "data:text/html;base64,PHNjcmlwdD4=",
        "data:text/html;base64,PHNjcmlwdD4=",
        "data:text/html;base64,PHNjcmlwdD4=",
    ),
    "file": ("file:///etc/passwd", "file:///etc/passwd", "file:///etc/passwd"),
    "markdown link": (
        '[les her](https://evil.example/x "t")',
        "https://evil.example/x",
        '[les her](https://evil.example/x "t")',
    ),
    "markdown image": (
        "![logo](https://evil.example/p.png)",
        "https://evil.example/p.png",
        "![logo](https://evil.example/p.png)",
    ),
    "autolink": ("<https://evil.example/x>", "https://evil.example/x", "https://evil.example/x"),
    "e-mail autolink": ("<bob@evil.example>", "bob@evil.example", "bob@evil.example"),
    "upper case": ("HTTPS://EVIL.EXAMPLE/X", "https://evil.example/x", "HTTPS://EVIL.EXAMPLE/X"),
}


@pytest.mark.parametrize("case", sorted(LINK_FORMS))
def test_each_link_form_is_removed_unless_the_article_holds_it(case: str) -> None:
    form, held, kept = LINK_FORMS[case]
    reply = f"Han er forsker [1], se {form} for mer."
    out = check_reply(reply, 3, "Han er forsker ved Wilson Center.")
    words = "les her " if case == "markdown link" else ""  # a link keeps its words
    assert out == Validated(f"Han er forsker [1], se {words}for mer.", (1,)), out.text
    for article in (f"Les mer på {held} i dag.", f"({held})", held):
        out = check_reply(reply, 3, article)
        assert kept in out.text and out.cited == (1,), (article, out.text)
    # held only as part of a longer address is not held
    assert (
        check_reply(reply, 3, f"Se {held}evil i dag.").text
        == f"Han er forsker [1], se {words}for mer."
    )


def test_a_held_link_keeps_its_words_but_an_active_target_never_stays_clickable() -> None:
    article = "Se https://www.nrk.no/x og javascript:alert(1) her."
    assert (
        check_reply("Se [NRK](https://www.nrk.no/x) [1]", 2, article).text
        == "Se [NRK](https://www.nrk.no/x) [1]"
    )
    assert check_reply("Se [klikk](javascript:alert(1)) [1]", 2, article).text == "Se klikk [1]"
    assert check_reply("Se [NRK](https://evil.example/x) [1]", 2, article).text == "Se NRK [1]"


@pytest.mark.parametrize(
    "tag",
    [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        '<a href="https://www.nrk.no/x">NRK</a>',
        "<b\nonclick=x>",
        "<!-- skjult -->",
        "<iframe src=//evil.example>",
        "<svg/onload=alert(1)>",
        "<!DOCTYPE html>",
    ],
)
def test_html_tags_are_always_removed(tag: str) -> None:
    article = f"Artikkelen har {tag} og https://www.nrk.no/x i seg."
    out = check_reply(f"Svar [1] {tag} slutt.", 2, article)
    assert "<" not in out.text and ">" not in out.text, out.text
    assert out.text.startswith("Svar [1]") and out.text.endswith("slutt.")


def test_removals_cannot_join_a_new_link() -> None:
    cases = {
        "evil[99].example/x [1]": "[1]",
        "evil <b>.example [1]": "[1]",
        "ev<i></i>il.com [1]": "[1]",
        "https:<b>//</b>evil.example [1]": "[1]",
        "[x](https://e.x)[y](https://f.x) [1]": "xy [1]",
        "<<b>img src=x onerror=alert(1)> [1]": "[1]",
        "bob@evil [9] .example [1]": "[1]",
    }
    for reply, expected in cases.items():
        out = check_reply(reply, 2)
        assert out == Validated(expected, (1,)), (reply, out.text)
        assert check_reply(out.text, 1) == Validated(out.text, (1,))  # nothing left to remove


def test_prose_that_only_looks_like_a_host_is_kept() -> None:
    for text in (
        "Han kom f.eks. i går [1].",
        "Det skjedde 300 f.Kr. [1]",
        "Prisen var 5 mill.kr. [1]",
        "Kl.10:30 startet møtet [1].",
        "Han kom.De dro [1].",
        "Versjon 1.2.3 kom [1].",
        "Svar: ja [1].",
        "Metadata:ingen [1].",
        "Radtsjenko m.fl. mener det [1].",
        "1.5/2 av dem [1].",
        "og/eller [1].",
    ):
        assert check_reply(text, 2).text == text, text


def test_markers_of_ten_or_more_digits_are_dropped() -> None:
    assert validate_markers("A [1234567890] B [1].", 3) == Validated("A B [1].", (1,))
    long = "9" * 5_000  # beyond Python's int-conversion limit: never converted
    assert validate_markers(f"A [{long}] B [2, {long}] C [1-{long}]", 3) == Validated(
        "A B [1] C [2]", (2, 1)
    )
    assert marker_numbers("1234567890") == [0] and marker_numbers("123456789") == [123456789]
    assert validate_markers("[000000001]", 3) == Validated("[1]", (1,))


# -- sentence_support -----------------------------------------------------------------------


def test_sentence_support_marks_each_sentence() -> None:
    text = (
        "Radtsjenko er professor [1]. Han bor i USA. [2] Han liker f.eks. kaffe. "
        "«Dette» sa han! Er det sant? [3]\n- et punkt uten kilde\n- et med [1]"
    )
    pieces = sentence_support(text)
    assert "".join(p for p, _ in pieces) == text
    assert [(p.strip(), s) for p, s in pieces] == [
        ("Radtsjenko er professor [1].", True),
        ("Han bor i USA. [2]", True),
        ("Han liker f.eks. kaffe.", False),
        ("«Dette» sa han!", False),
        ("Er det sant? [3]", True),
        ("- et punkt uten kilde", False),
        ("- et med [1]", True),
    ]
    assert sentence_support("") == []
    assert sentence_support("Ingen kilder her.") == [("Ingen kilder her.", False)]
    assert sentence_support("[sic] og [0] og [1234567890].") == [
        ("[sic] og [0] og [1234567890].", False)
    ]
    assert sentence_support("\n\nA [1].\n\n") == [("\n\nA [1].\n\n", True)]


@settings(max_examples=200, deadline=None)
@given(reply=REPLIES, k=st.integers(0, 8))
def test_sentence_support_covers_the_text(reply: str, k: int) -> None:
    text = check_reply(reply, k).text
    pieces = sentence_support(text)
    assert "".join(p for p, _ in pieces) == text
    for piece, supported in pieces:
        assert supported == bool(MARKER.search(piece))
        assert any(ch.isalnum() for ch in piece) or len(pieces) == 1
