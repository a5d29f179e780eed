"""A conversation: the turns so far, and the retrieval query a follow-up needs.

"Hvor jobber han?" after a question about Radtsjenko names nobody, so retrieval on the
question alone cannot find the right sentence. When a question leans on a pronoun and names
no one, the conversation widens the retrieval query with whom or what the last turns were
about (never the question that is answered and shown). One `Conversation` serves every
adapter: the terminal chat keeps one and adds each answered turn; the web chat and the HTTP
API build one from the openai-style messages they are given (Gradio's per-tab history, the
API's optional `history`), so nothing about a conversation is kept on the server.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.ranking.lexicon import (
    CAPITALISED_NON_NAMES,
    EVENT_PRO_FORMS,
    PERSONAL_PRONOUNS,
    PRONOUNS,
    name_key,
)
from core.text import fold

if TYPE_CHECKING:
    from bot.answer_records import Answer

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


def has_pronoun(question: str) -> bool:
    """True when the question uses a pronoun that points back (han, hun, he, it ...)."""
    return any(fold(w) in PRONOUNS for w in _WORD.findall(question))


def names(question: str) -> list[str]:
    """The capitalised words of a question other than its first word and question words:
    names such as "Putin" or "Nord-Korea"."""
    words = _WORD.findall(question)
    return [
        w
        for i, w in enumerate(words)
        if w[0].isupper() and i > 0 and fold(w) not in CAPITALISED_NON_NAMES
    ]


def names_someone(question: str) -> bool:
    """True when the question names someone or something (see `names`)."""
    return bool(names(question))


def full_names(text: str) -> list[str]:
    """Runs of two or more capitalised words: a person's full name ("Sergej Sjojgu")."""
    return [m.group(0) for m in _FULL_NAME.finditer(text)]


@dataclass(frozen=True)
class Turn:
    """One question and the answer it got, as text (the sentences it quotes included)."""

    question: str
    answer: str = ""


@dataclass(frozen=True)
class Conversation:
    """The turns of one conversation, oldest first; immutable, so each adapter keeps or
    rebuilds its own and no two users share one."""

    turns: tuple[Turn, ...] = ()

    @classmethod
    def from_messages(cls, messages: Sequence[dict[str, Any]]) -> Conversation:
        """A conversation from openai-style messages (`role`, `content`): each user message
        opens a turn, the assistant message after it is that turn's answer (its Markdown
        entities decoded, citation links removed)."""
        turns: list[Turn] = []
        for message in messages:
            if not isinstance(message, dict):
                continue
            text = message_text(message)
            if message.get("role") == "user" and text.strip():
                turns.append(Turn(text))
            elif message.get("role") == "assistant" and turns and not turns[-1].answer:
                turns[-1] = Turn(turns[-1].question, _plain(text))
        return cls(tuple(turns))

    def then(self, question: str, answer: Answer | None) -> Conversation:
        """This conversation with one more turn: `question` and what `answer` said (an
        abstention says nothing about anyone, so only its text is kept)."""
        text = ""
        if answer is not None:
            quoted = (
                []
                if answer.abstained
                else [
                    c.sentence.text
                    for c in answer.citations
                    if c.sentence.text not in answer.answer
                ]
            )
            text = " ".join([answer.answer, *quoted])
        return Conversation((*self.turns, Turn(question, _plain(text))))

    def messages(self) -> list[dict[str, str]]:
        """The conversation as openai-style messages (what the HTTP API takes as history)."""
        out: list[dict[str, str]] = []
        for turn in self.turns:
            out.append({"role": "user", "content": turn.question})
            if turn.answer:
                out.append({"role": "assistant", "content": turn.answer})
        return out

    def query_for(self, question: str) -> str | None:
        """The query to retrieve `question` with, or None to retrieve with the question.

        A question with a pronoun and no name is a follow-up. A personal pronoun ("han",
        "she") is taken to mean the person the last answer is about: someone an earlier
        question asked about whom it speaks (by surname, in any spelling), else the first
        full name it gives, else the latest person asked about. Only the surname is added,
        so another person of the same first name is not pulled in. A pro-form for what was
        asked ("did that", "gjorde det") takes the last question whole; a place ("der",
        "there") takes the names of the latest question that named something, else that
        question.
        """
        if not has_pronoun(question) or names_someone(question):
            return None
        # earlier questions are cut: one may be a huge paste that was refused as too long
        recent = self.turns[-MAX_CONTEXT_QUESTIONS:]
        earlier = [t.question[:MAX_EARLIER_CHARS] for t in recent]
        if not earlier:
            return None
        context: list[str] = []
        if has_personal_pronoun(question):
            answer = recent[-1].answer[: MAX_EARLIER_CHARS * 4]
            keys = {name_key(w) for w in _WORD.findall(answer)}
            asked = [n for q in reversed(earlier) for n in full_names(q)]
            both = [n for n in asked if name_key(n.split()[-1]) in keys]
            context = [n.split()[-1] for n in (both or full_names(answer) or asked)[:1]]
        if not context and _has_event_pro_form(question):
            return f"{question} {earlier[-1]}"
        if not context:
            for previous in reversed(earlier):
                found = names(previous)
                if found:
                    context = list(dict.fromkeys(found))
                    break
        return f"{question} {' '.join(context) if context else earlier[-1]}"


def query_for_messages(messages: list[dict[str, str]], question: str) -> str | None:
    """The retrieval query of `question` after these openai-style messages (see
    `Conversation.query_for`): what the HTTP API does with a request's history, as one
    function that eval can be given (and a worker process can receive)."""
    return Conversation.from_messages(messages).query_for(question)


def _plain(text: str) -> str:
    """An answer's text without Markdown: entities decoded, emphasis and citation links
    removed."""
    return _MARKERS.sub(" ", html.unescape(text).replace("**", " "))


def _has_event_pro_form(question: str) -> bool:
    """True when the question points back at what was asked ("did that", "gjorde det")."""
    return any(fold(w) in EVENT_PRO_FORMS for w in _WORD.findall(question))


def has_personal_pronoun(question: str) -> bool:
    """True when the question points back at a person (han, hun, he, she ...)."""
    return any(fold(w) in PERSONAL_PRONOUNS for w in _WORD.findall(question))
