"""Follow-up questions: widening the retrieval query with the conversation so far.

"Hvor jobber han?" after a question about Radtsjenko names nobody, so retrieval on the
question alone cannot find the right sentence. When a question leans on a pronoun and names
no one, the previous user question(s) are added to the retrieval query (never to the
question that is answered and shown). The history is the one Gradio passes to the chat
function (a list of openai-style message dicts), so every browser tab keeps its own.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from bot.ranking.lexicon import (
    CAPITALISED_NON_NAMES,
    PERSONAL_PRONOUNS,
    PRONOUNS,
    fold,
    name_key,
)

_WORD = re.compile(r"[^\W\d_][^\W_]*(?:-[^\W_]+)*")
MAX_CONTEXT_QUESTIONS = 3
_MARKERS = re.compile(r"\[\d+\]|\[\(\S+\)\]\(#\S+\)")
_FULL_NAME = re.compile(r"\b[A-ZÆØÅ][\wæøåé-]+(?:\s+(?:[A-ZÆØÅ]\.?\s+)?[A-ZÆØÅ][\wæøåé-]+)+")
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


def _last_answer(history: Sequence[dict[str, Any]]) -> str:
    """The text of the last assistant turn with the sentences it quotes: what the follow-up
    is about (Markdown entities decoded, citation links removed)."""
    for message in reversed(history):
        if isinstance(message, dict) and message.get("role") == "assistant":
            text = html.unescape(message_text(message))[:MAX_EARLIER_CHARS * 4]
            return _MARKERS.sub(" ", text.replace("**", " "))
    return ""


def full_names(text: str) -> list[str]:
    """Runs of two or more capitalised words: a person's full name ("Sergej Sjojgu")."""
    return [m.group(0) for m in _FULL_NAME.finditer(text)]


def retrieval_query(question: str, history: Sequence[dict[str, Any]]) -> str | None:
    """The query to retrieve with, or None to retrieve with the question itself.

    A question with a pronoun and no name is a follow-up. A personal pronoun ("han", "she")
    is taken to mean the person the last answer named first (a full name in its first
    sentence), else someone the earlier questions named; other pro-forms ("det", "there")
    take the names of the latest question that named something, else that question. The
    question that is answered and shown stays as asked.
    """
    if not has_pronoun(question) or names_someone(question):
        return None
    # earlier questions are cut: one may be a huge paste that was refused as too long
    earlier = [q[:MAX_EARLIER_CHARS] for q in user_questions(history)[-MAX_CONTEXT_QUESTIONS:]]
    if not earlier:
        return None
    context: list[str] = []
    if has_personal_pronoun(question):
        answer = _last_answer(history)
        keys = {name_key(w) for w in _WORD.findall(answer)}
        asked = [n for q in reversed(earlier) for n in full_names(q)]
        # someone asked about whom the last answer speaks of (by surname, in any spelling),
        # else the first full name the answer gives, else the latest asked about; only the
        # surname is added, so that another person of the same first name is not pulled in
        both = [n for n in asked if name_key(n.split()[-1]) in keys]
        context = [n.split()[-1] for n in (both or full_names(answer) or asked)[:1]]
    if not context:
        for previous in reversed(earlier):
            found = names(previous)
            if found:
                context = list(dict.fromkeys(found))
                break
    return f"{question} {' '.join(context) if context else earlier[-1]}"


def has_personal_pronoun(question: str) -> bool:
    """True when the question points back at a person (han, hun, he, she ...)."""
    return any(fold(w) in PERSONAL_PRONOUNS for w in _WORD.findall(question))
