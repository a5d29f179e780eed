"""Rendering answers as text: plain for the terminal, escaped Markdown for the web chat."""

from __future__ import annotations

import html

from bot import texts
from bot.records import Answer


def answer_text(answer: Answer) -> str:
    """An answer for the terminal: the answer, then its numbered sources with positions."""
    lines = [answer.answer]
    if answer.fallback_reason:
        lines.append(texts.text("fallback", answer.language, reason=answer.fallback_reason))
    if answer.citations:
        heading = texts.text("closest" if answer.abstained else "sources", answer.language)
        lines.append(f"\n{heading}:")
        for c in answer.citations:
            s = c.sentence
            lines.append(f"[{c.n}] {s.text}  ({s.id}, chars {s.start}-{s.end})")
    return "\n".join(lines)


def escape(text: str) -> str:
    """HTML-escape text for Markdown output, also neutralising Markdown link/image syntax."""
    out = html.escape(text, quote=False)
    for ch, entity in (("[", "&#91;"), ("]", "&#93;"), ("`", "&#96;"), ("*", "&#42;"),
                       ("_", "&#95;"), ("!", "&#33;"), ("\\", "&#92;")):
        out = out.replace(ch, entity)
    return out


def answer_markdown(answer: Answer) -> str:
    """An answer for the web chat: the answer, then "Kilder / Sources" with each sentence."""
    parts = []
    if answer.abstained:
        parts.append(escape(answer.answer))
    else:
        parts.append(escape(answer.answer))
    if answer.fallback_reason:
        parts.append("_" + escape(texts.text("fallback", answer.language,
                                             reason=answer.fallback_reason)) + "_")
    if answer.citations:
        heading = (texts.text("closest", answer.language) if answer.abstained
                   else texts.SOURCES_HEADING)
        lines = [f"**{heading}**", ""]
        for c in answer.citations:
            lines.append(f"{c.n}. {escape(c.sentence.text)} "
                         f"<small>({escape(c.sentence.id)})</small>")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
