"""The article beside the chat, as HTML: its metadata line and its numbered sentences, with
the cited ones highlighted. Every piece of the article's text is escaped here."""

from __future__ import annotations

import html
import logging
from pathlib import Path

from bot import texts
from bot.ui.format import anchor
from core.records import Article, Sentence

log = logging.getLogger(__name__)


def _text_html(text: str) -> str:
    return html.escape(text, quote=False).replace("\n", "<br>\n")


def _marked(sentence: str, short: str) -> str:
    """The sentence as HTML with the first occurrence of the short answer in bold."""
    at = sentence.find(short)
    if at < 0:
        return _text_html(sentence)
    end = at + len(short)
    return (
        f'{_text_html(sentence[:at])}<strong class="short-answer">'
        f"{_text_html(short)}</strong>{_text_html(sentence[end:])}"
    )


def article_meta_html(article: Article, lang: str) -> str:
    """The line above the article: its byline, date, site and source (a link, or the
    file's name), each escaped; empty for an article that gives none of them."""
    from index.fetch import is_url

    parts = []
    if article.byline:
        parts.append(html.escape(texts.text("byline", lang, byline=article.byline)))
    for value in (article.published, article.site):
        if value:
            parts.append(html.escape(value))
    if is_url(article.source):
        href = html.escape(article.source, quote=True)
        parts.append(
            f'<a href="{href}" rel="noopener noreferrer nofollow" '
            f'target="_blank">{html.escape(article.source)}</a>'
        )
    elif (
        article.source
        and article.source != "inline"
        and (article.byline or article.published or article.site)
    ):
        parts.append(html.escape(Path(article.source).name))
    return f'<p class="article-meta">{" · ".join(parts)}</p>' if parts else ""


def article_panel_html(
    title: str,
    text: str,
    sentences: list[Sentence],
    cited: dict[int, tuple[int, bool]],
    lang: str,
    meta: str = "",
    short: str | None = None,
) -> str:
    """The article as HTML: every sentence an anchor (`s-<article>-<n>`), the cited ones
    highlighted with their answer number ([n]), the short answer marked inside the sentence
    cited first; all article text escaped."""
    parts = []
    pos = 0
    for s in sorted(sentences, key=lambda s: s.start):
        if s.start < pos:
            continue
        parts.append(_text_html(text[pos : s.start]))
        sid = html.escape(anchor(s.id), quote=True)
        body = _text_html(text[s.start : s.end])
        if s.n in cited:
            n, support = cited[s.n]
            if short and n == 1 and support:
                body = _marked(text[s.start : s.end], short)
            kind = "cited" if support else "closest"
            badge = "" if support else f' title="{texts.text("closest_badge", lang)}"'
            parts.append(
                f'<mark class="sent {kind}" id="{sid}" data-n="{n}"{badge}>'
                f'<sup class="cite-n">[{n}]</sup>{body}</mark>'
            )
        else:
            parts.append(f'<span class="sent" id="{sid}">{body}</span>')
        pos = s.end
    parts.append(_text_html(text[pos:]))
    heading = html.escape(texts.text("panel_heading", lang))
    # the body scrolls on its own, so it takes keyboard focus (arrow keys scroll it)
    return (
        f'<div class="article-panel"><h2>{heading}: {html.escape(title)}</h2>{meta}'
        f'<p class="legend">{html.escape(texts.text("panel_legend", lang))}</p>'
        f'<div class="article-body" tabindex="0" role="region" aria-label="{heading}">'
        f"{''.join(parts)}</div></div>"
    )
