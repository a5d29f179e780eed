"""Follow-up questions: widening the retrieval query with the conversation so far.

"Hvor jobber han?" after a question about Radtsjenko names nobody, so retrieval on the
question alone cannot find the right sentence. When a question leans on a pronoun and names
no one, the previous user question(s) are added to the retrieval query (never to the
question that is answered and shown). The history is the one Gradio passes to the chat
function (a list of openai-style message dicts), so every browser tab keeps its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.ranking.lexicon import CAPITALISED_NON_NAMES, PRONOUNS, fold

_WORD = re.compile(r"[^\W\d_][^\W_]*(?:-[^\W_]+)*")
MAX_CONTEXT_QUESTIONS = 3
MAX_EARLIER_CHARS = 500


def message_text(message: dict[str, Any]) -> str:
    """The text of one history message (content as a string or a list of parts)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return " ".join(parts)
    return ""


def user_questions(history: Sequence[dict[str, Any]]) -> list[str]:
    """The user's earlier questions in order, oldest first."""
    return [message_text(m) for m in history
            if isinstance(m, dict) and m.get("role") == "user" and message_text(m).strip()]


def has_pronoun(question: str) -> bool:
    """True when the question uses a pronoun that points back (han, hun, he, it ...)."""
    return any(fold(w) in PRONOUNS for w in _WORD.findall(question))


def names(question: str) -> list[str]:
    """The capitalised words of a question other than its first word and question words:
    names such as "Putin" or "Nord-Korea"."""
    words = _WORD.findall(question)
    return [w for i, w in enumerate(words)
            if w[0].isupper() and i > 0 and fold(w) not in CAPITALISED_NON_NAMES]


def names_someone(question: str) -> bool:
    """True when the question names someone or something (see `names`)."""
    return bool(names(question))


def retrieval_query(question: str, history: Sequence[dict[str, Any]]) -> str | None:
    """The query to retrieve with, or None to retrieve with the question itself.

    A question with a pronoun and no name is a follow-up: the names of the latest of the
    last few user questions that named someone are appended (else the last question),
    so retrieval sees who "han" is. The question that is answered and shown stays as asked.
    """
    if not has_pronoun(question) or names_someone(question):
        return None
    # earlier questions are cut: one may be a huge paste that was refused as too long
    earlier = [q[:MAX_EARLIER_CHARS] for q in user_questions(history)[-MAX_CONTEXT_QUESTIONS:]]
    if not earlier:
        return None
    for previous in reversed(earlier):
        found = names(previous)
        if found:
            return f"{question} {' '.join(dict.fromkeys(found))}"
    return f"{question} {earlier[-1]}"
