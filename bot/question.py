"""Questions: cleaned and checked before any model sees them."""

from __future__ import annotations

import re

from bot import texts
from core.errors import QuestionError
from core.text import clean_text

# Terminal escape sequences (colours, cursor moves, window titles) pasted with a question:
# removing only their ESC would leave "[2J" or "[31m" in the words
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")

# HTML tags and comments typed or pasted into a question (`<b>`, `</span>`, `<img src=x>`,
# `<!-- -->`): words to a retriever, which then misses the question. A tag starts with a
# letter right after `<`, so comparisons ("3 < 4 og 5 > 2", "a<b") stay.
_TAGS = re.compile(r"<!--.*?-->|</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>", re.DOTALL)


def clean_question(raw: object, max_chars: int) -> str:
    """A question with terminal escape sequences, HTML tags, invisible and control
    characters removed, NFC, whitespace folded. (The web chat still shows what was typed.)

    Raises QuestionError (with a message in the question's language where it can tell)
    when nothing is left or the question is longer than `max_chars`.
    """
    if not isinstance(raw, str):
        raise QuestionError(texts.text("empty_question", "en"))
    if len(raw) > max_chars * 4:
        # checked before any work on the text, so a huge paste costs nothing
        raise QuestionError(texts.text("too_long", "en", limit=max_chars))
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise QuestionError(
            "The question holds characters that are not valid text (a lone surrogate)."
        ) from None
    question = " ".join(clean_text(_TAGS.sub("", _ESCAPES.sub("", raw))).split())
    if not question or not any(ch.isalnum() for ch in question):
        raise QuestionError(texts.text("empty_question", "en"))
    if len(question) > max_chars:
        raise QuestionError(texts.text("too_long", "en", limit=max_chars))
    return question
