"""Rendering answers as text: plain for the terminal, escaped Markdown for the web chat."""

from __future__ import annotations

import html
import re

from bot import texts
from bot.answer_records import Answer
from bot.citation import sentence_support


def answer_text(answer: Answer) -> str:
    """An answer for the terminal: the answer (a model's sentence without a valid marker
    flagged as unsupported), then its numbered sources with positions."""
    if answer.backend == "extractive" or answer.abstained:
        return answer.answer + tail_text(answer)
    label = texts.text("unsupported", answer.language)
    text = "".join(
        piece if ok or not piece.strip() else f"{piece.rstrip()} ({label}) "
        for piece, ok in sentence_support(answer.answer)
    ).rstrip()
    return text + tail_text(answer)


def tail_text(answer: Answer) -> str:
    """What the terminal prints after the answer's own text: the fallback notice, the short
    answer when there is one, then the numbered sources with their positions."""
    lines = [""]
    if answer.fallback_reason:
        lines.append(texts.text("fallback", answer.language, reason=answer.fallback_reason))
    if answer.short_answer and not answer.abstained:
        label = texts.text("short_answer", answer.language)
        lines.append(f"\n{label}: {answer.short_answer.text}")
    if answer.citations:
        heading = texts.text("closest" if answer.abstained else "sources", answer.language)
        lines.append(f"\n{heading}:")
        for c in answer.citations:
            s = c.sentence
            where = f"«{c.title}», " if c.title is not None else ""  # across articles
            lines.append(f"[{c.n}] {s.text}  ({where}{s.id}, chars {s.start}-{s.end})")
    return "\n".join(lines) if len(lines) > 1 else ""


# Markdown syntax characters as numeric entities, mapped in one pass (entities hold "#").
_MARKDOWN_ENTITIES = str.maketrans({ch: f"&#{ord(ch)};" for ch in "[]`*_\\~#$@"})
# What GFM turns into a link without any link syntax: the colon of `scheme://` and of
# `mailto:`/`xmpp:`, the dot after `www`, and an e-mail's `@` (always an entity, above).
_AUTOLINK = re.compile(r"(?i)(?<=[a-z]):(?=//)|(?<=mailto):|(?<=xmpp):|(?<=\bwww)\.")


def escape(text: str) -> str:
    """HTML-escape text for Markdown output (`<`, `>`, `&` as entities), also neutralising
    Markdown link, image, emphasis, code, heading and math syntax with numeric entities, and
    GFM's autolinks (URLs, `www.` names and e-mail addresses are shown as text, not links).

    A browser shows the result as the original characters, and `html.unescape` gives the
    original text back, so quoted sentences stay verbatim.
    """
    escaped = html.escape(text, quote=False).translate(_MARKDOWN_ENTITIES)
    return _AUTOLINK.sub(lambda m: f"&#{ord(m.group(0))};", escaped)


def anchor(sentence_id: str) -> str:
    """The HTML id of a sentence in the article panel (`article:6` -> `s-article-6`)."""
    article_id, _, n = sentence_id.rpartition(":")
    return f"s-{_ANCHOR_SAFE.sub('-', article_id)}-{n}"


_ANCHOR_SAFE = re.compile(r"[^A-Za-z0-9-]")
_MARKER = re.compile(r"&#91;(\d+)&#93;")
# A line of the sources list as answer_markdown writes it: "- [N](#s-...) text (article:6)",
# the brackets around N as entities.
_SOURCE_LINE = re.compile(r"^- &#91;\[(\d+)\]\(#s-[A-Za-z0-9-]+\)&#93; .* \(([A-Za-z0-9-]+:\d+)\)$")


def _link_markers(escaped_answer: str, answer: Answer) -> str:
    """Turn the answer's `[n]` markers into links to the cited sentences in the panel."""
    by_n = {c.n: c.sentence.id for c in answer.citations}

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in by_n:
            return match.group(0)
        return f"&#91;[{n}](#{anchor(by_n[n])})&#93;"

    return _MARKER.sub(link, escaped_answer)


def _lead(answer: Answer) -> str:
    """What the chat shows above the sources: for a quoted (extractive) answer the short
    answer, or a line saying the article answers, with the markers, so that each cited
    sentence appears once, in the sources; for a model's answer or an abstention, its text."""
    if answer.backend != "extractive" and not answer.abstained:
        # a model's sentence that no valid marker backs is shown as unsupported
        label = texts.text("unsupported", answer.language)
        return "".join(
            _link_markers(escape(piece), answer)
            if supported or not piece.strip()
            else f"_{escape(piece.strip())}_ ({escape(label)}) "
            for piece, supported in sentence_support(answer.answer)
        ).strip()
    if answer.abstained or not answer.citations:
        return _link_markers(escape(answer.answer), answer)
    markers = " ".join(f"[{c.n}]" for c in answer.citations)
    if answer.short_answer:
        return f"**{escape(answer.short_answer.text)}** " + _link_markers(escape(markers), answer)
    intro = texts.text("quoted_answer", answer.language)
    return _link_markers(escape(f"{intro} {markers}"), answer)


def answer_markdown(answer: Answer) -> str:
    """An answer for the web chat: the direct answer (its `[n]` markers link to the article
    panel), then "Kilder / Sources" (or the closest sentences, when it abstained): each cited
    sentence once, verbatim and escaped, after its number, which links to it in the panel,
    and followed by its id."""
    parts = [_lead(answer)]
    if answer.fallback_reason:
        parts.append(
            "_"
            + escape(texts.text("fallback", answer.language, reason=answer.fallback_reason))
            + "_"
        )
    if answer.citations:
        heading = (
            texts.text("closest", answer.language) if answer.abstained else texts.SOURCES_HEADING
        )
        lines = [f"**{heading}**", ""]
        for c in answer.citations:
            sid = c.sentence.id
            lines.append(f"- &#91;[{c.n}](#{anchor(sid)})&#93; {escape(c.sentence.text)} ({sid})")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


_PANEL_LINK = re.compile(r"\[([^\[\]]*)\]\(#s-[A-Za-z0-9-]+\)")


def plain_text(markdown: str) -> str:
    """An answer written by `answer_markdown` as plain text, as the web chat's copy button
    gives it (its script does the same): links to the panel become their text, emphasis
    marks go (the article's own `*` and `_` are entities), a source is a line
    "[n] sentence (id)", and entities are decoded."""
    text = _PANEL_LINK.sub(r"\1", markdown).replace("*", "").replace("_", "")
    lines = [line.removeprefix("- ").rstrip() for line in text.split("\n")]
    return html.unescape("\n".join(lines)).strip()


_SHORT_LEAD = re.compile(r"^\*\*(.+?)\*\* ")


def short_in(markdown: str) -> str | None:
    """The short answer of an answer written by `answer_markdown` (its bold lead), or None.

    Only an extractive answer's lead is bold: every other text is escaped, so a `**` there
    is an entity, never markup."""
    match = _SHORT_LEAD.match(markdown.split("\n", 1)[0])
    return html.unescape(match.group(1)) if match else None


def cited_in(markdown: str) -> list[tuple[int, str, bool]]:
    """The citations of an answer written by `answer_markdown`: (n, sentence id, support).

    Read back from the Markdown, so the article panel and the feedback log need nothing but
    the chat history Gradio keeps per browser tab.
    """
    support = True
    found = []
    for line in markdown.split("\n"):
        if line.startswith("**") and line.endswith("**"):
            support = line.strip("*") == texts.SOURCES_HEADING
            continue
        match = _SOURCE_LINE.match(line)
        if match:
            found.append((int(match.group(1)), match.group(2), support))
    return found
