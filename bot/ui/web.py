"""The web chat: a Gradio ChatInterface beside the article, with cited sentences highlighted.

`/chat` answers with the message alone (the session's article, a hidden box, is its optional
second parameter) and returns the answer as Markdown. Article and user text is escaped before it is
rendered anywhere (answers, the user's own bubble, the article panel, status lines); the
app binds to loopback unless told otherwise, and then only with auth.

Conversation state lives only in what Gradio passes per browser tab (the history and the
session's article); nothing about a conversation is kept at module level.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import texts
from bot.answer_records import ALL_ARTICLES
from bot.engine import UPLOAD_SUFFIXES, Engine
from bot.events import Delta, Final
from bot.language import detect_language
from bot.ui.conversation import Conversation, message_text
from bot.ui.feedback import CitedSentence, FeedbackRecord, Rating, save
from bot.ui.format import anchor, answer_markdown, cited_in, escape
from bot.ui.suggest import suggestions
from core.errors import (
    ArticlebotError,
    ArticleError,
    ArticleNotFoundError,
    QuestionError,
)
from core.records import Article, Sentence
from core.text import clean_text
from index.article import decode_article, read_bounded
from index.document import TEXT_SUFFIXES

log = logging.getLogger(__name__)


def _lang(message: object) -> str:
    """The language of a (possibly huge or odd) message, from its start only."""
    return detect_language(message[:500]) if isinstance(message, str) else "nb"


def _question_problem(message: object, limit: int, exc: QuestionError) -> str:
    """The reason a question was refused, in the question's language where we can tell."""
    lang = _lang(message)
    if isinstance(message, str) and len(message) > limit:
        return texts.text("too_long", lang, limit=limit)
    if not isinstance(message, str) or not any(ch.isalnum() for ch in message):
        return texts.text("empty_question", lang)
    return str(exc)


def _text_html(text: str) -> str:
    return html.escape(text, quote=False).replace("\n", "<br>\n")


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
) -> str:
    """The article as HTML: every sentence an anchor (`s-<article>-<n>`), the cited ones
    highlighted with their answer number ([n]); all article text escaped."""
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


def _in_upload_cache(path: Path) -> bool:
    """True when `path` (symlinks resolved) lies inside Gradio's upload cache."""
    from gradio.utils import get_upload_folder

    try:
        real = path.resolve(strict=True)
        folder = Path(get_upload_folder()).resolve()
    except (OSError, RuntimeError):
        return False
    return real.is_relative_to(folder) and real != folder


def _last_answer(history: list[dict[str, Any]]) -> tuple[str, str]:
    """The last user question and the last assistant answer in a history."""
    question = answer = ""
    for message in history:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "user":
            question = message_text(message)
        elif message.get("role") == "assistant":
            answer = message_text(message)
    return question, answer


@dataclass(frozen=True)
class AfterAnswer:
    """What changes after an answer: the panel, and the labels when the interface's
    language (`labels`, nb or en) changed; None keeps them."""

    panel: str
    labels: str | None = None


@dataclass(frozen=True)
class NewArticle:
    """The session on another article: its id, its panel, an empty conversation with the
    article's own suggested questions and a new conversation id, and the status lines
    cleared (the upload's set to `upload_status`); `choices` is the article list anew
    (after an upload), None keeps it."""

    article_id: str
    panel: str
    suggestions: tuple[str, ...]
    conversation: str
    choices: tuple[tuple[str, str], ...] | None = None
    upload_status: str = ""


@dataclass(frozen=True)
class Upload:
    """The outcome of an upload: the status line (escaped), and the switch to the new
    article when it was indexed (else nothing else changes). The upload field is cleared
    either way."""

    status: str
    article: NewArticle | None = None


def upload_suffixes() -> tuple[str, ...]:
    """The file types an upload may have, by suffix."""
    return UPLOAD_SUFFIXES


def upload_refusal(name: str, size: int, limit: int, lang: str) -> str | None:
    """Why a file named `name` of `size` bytes may not be uploaded (its type, or more than
    `limit` bytes), in `lang`; None when it may. The one check of an upload's type and
    size: the server runs it on every upload (the size again on the bytes it reads), and
    the page's script applies the same rules, sent to it by `chat_bar_html`, before it
    sends a file."""
    suffixes = upload_suffixes()
    if Path(name).suffix.lower() not in suffixes:
        *rest, last = suffixes
        listed = f"{', '.join(rest)} {texts.text('and', lang)} {last}" if rest else last
        return texts.text("upload_type", lang, name=name, types=listed)
    if size > limit:
        return texts.text("upload_size", lang, name=name, limit=limit)
    return None


RECENT_ANSWERS = 2048  # answer records kept for ratings, the least recently given dropped


def _answer_key(question: str, markdown: str) -> str:
    return hashlib.sha256(json.dumps([question, markdown]).encode("utf-8")).hexdigest()


class WebChat:
    """The handlers of the web chat over one engine; they keep no conversation state.

    The one thing kept between events is the record of each recent answer (the last
    `RECENT_ANSWERS`), found by its question and its Markdown, so that a rating saves the
    answer record rather than what the page shows.
    """

    def __init__(self, engine: Engine, default_article: str) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.default_article = default_article
        self._answers: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._answers_lock = threading.Lock()

    def remember(self, question: str, markdown: str, record: dict[str, Any]) -> None:
        """Keep the record of an answer the chat showed as `markdown`."""
        key = _answer_key(question, markdown)
        with self._answers_lock:
            self._answers[key] = record
            self._answers.move_to_end(key)
            while len(self._answers) > RECENT_ANSWERS:
                self._answers.popitem(last=False)

    def recorded(self, question: str, markdown: str) -> dict[str, Any] | None:
        """The record of an answer shown as `markdown` to `question` (as typed), if kept."""
        from bot.question import clean_question

        try:
            cleaned = clean_question(question, self.settings.max_question_chars)
        except QuestionError:
            return None
        with self._answers_lock:
            return self._answers.get(_answer_key(cleaned, markdown))

    # -- what the page shows ----------------------------------------------------------------

    def sentences(self, article_id: str) -> list[Sentence]:
        """The sentences of an indexed article, in order."""
        return self.engine.sentences(article_id)

    def choices(self) -> list[tuple[str, str]]:
        """(label, id) of every article indexed with this engine's embedder, then "All
        articles" when there are several."""
        rows = [(f"{a.title} ({a.id})", a.id) for a in self.engine.answerable_articles()]
        if len(rows) > 1:
            rows.append(
                (
                    f"{texts.text('all_articles', 'nb')} / {texts.text('all_articles', 'en')}",
                    ALL_ARTICLES,
                )
            )
        return rows

    def panel(self, article_id: str, history: list[dict[str, Any]] | None = None) -> str:
        """The article panel for an article, highlighting what the last answer cited; for
        all articles, the article the last answer cites first."""
        question, answer = _last_answer(history or [])
        lang = _lang(question) if question else "nb"
        if article_id == ALL_ARTICLES:
            cited_ids = [sid.rpartition(":")[0] for _, sid, _ in cited_in(answer)]
            if not cited_ids:
                return (
                    f'<div class="article-panel"><p class="legend">'
                    f"{html.escape(texts.text('all_panel', lang))}</p></div>"
                )
            article_id = cited_ids[0]
        try:
            article = self.engine.article(article_id)
            sentences = self.sentences(article_id)
        except ArticlebotError:
            return f"<p>{html.escape(texts.text('error', 'en'))}</p>"
        cited: dict[int, tuple[int, bool]] = {}
        for n, sentence_id, support in cited_in(answer):
            aid, _, number = sentence_id.rpartition(":")
            if aid == article_id:
                cited.setdefault(int(number), (n, support))
        return article_panel_html(
            article.title,
            article.text,
            sentences,
            cited,
            lang,
            meta=article_meta_html(article, lang),
        )

    def suggestions(self, article_id: str) -> list[dict[str, str]]:
        """Suggested questions about an article, from its own sentences, as chatbot
        examples; the generic ones for all articles or an article that cannot be read."""
        try:
            sentences = [] if article_id == ALL_ARTICLES else self.sentences(article_id)
        except ArticlebotError:
            sentences = []
        return [{"text": q} for q in suggestions(sentences)]

    # -- events ---------------------------------------------------------------------------

    def respond(
        self, message: str, history: list[dict[str, Any]], article_id: str | None = None
    ) -> Iterator[str]:
        """The chat function (`/chat`): the answer as it is written (escaped text), then the
        checked answer as Markdown with its sources, which replaces it. `article_id` is
        optional: the session's article, else the default one."""
        article_id = article_id or self.default_article
        try:
            from bot.question import clean_question

            question = clean_question(message, self.settings.max_question_chars)
            query = Conversation.from_messages(history or []).query_for(question)
            shown = ""
            # without a model the text arrives whole, right before the final answer: show
            # the final answer alone, rather than the text and then its replacement
            streams = self.engine.generator() is not None
            for event in self.engine.events(question, article_id, query=query):
                if isinstance(event, Delta) and streams:
                    shown += event.text
                    yield escape(shown)
                elif isinstance(event, Final):
                    markdown = answer_markdown(event.answer)
                    self.remember(question, markdown, event.answer.to_record())
                    yield markdown
        except QuestionError as exc:
            yield escape(_question_problem(message, self.settings.max_question_chars, exc))
        except ArticleNotFoundError:
            yield escape(texts.text("no_article", _lang(message)))
        except ArticlebotError as exc:
            log.warning("could not answer: %s", exc)
            yield escape(texts.text("error", _lang(message)))
        except Exception:  # the page shows a generic message; details go to the log
            log.exception("answering failed")
            yield escape(texts.text("error", _lang(message)))

    def after_answer(
        self, history: list[dict[str, Any]], article_id: str, shown_lang: str = "nb"
    ) -> AfterAnswer:
        """After each answer: the panel, and interface labels in the question's language
        (also the page's `lang` and the controls' names, through `chat_bar_html`).
        `shown_lang` is the language the labels are in now: they are only sent again when
        it changes, because a button that is drawn again loses the keyboard focus."""
        question, _ = _last_answer(history or [])
        lang = _lang(question) if question else None
        panel = self.panel(article_id, history)
        return AfterAnswer(panel=panel, labels=None if lang in (None, shown_lang) else lang)

    def new_article(
        self, article_id: str, choices: bool = False, upload_status: str = ""
    ) -> NewArticle:
        """The session on `article_id`: its panel, an empty conversation (a new id) with
        the article's own suggested questions, and the article list anew when `choices`."""
        return NewArticle(
            article_id=article_id,
            panel=self.panel(article_id),
            suggestions=tuple(e["text"] for e in self.suggestions(article_id)),
            conversation=new_conversation(),
            choices=tuple(self.choices()) if choices else None,
            upload_status=upload_status,
        )

    def switch(self, article_id: str | None, current: str | None = None) -> NewArticle | None:
        """Switch the session to another indexed article (see `new_article`); status lines
        are cleared. When `article_id` is the session's article (`current`) nothing
        changes (None): the choice reports an input each time it loses focus, not only on
        a change."""
        article_id = article_id or self.default_article
        if article_id == (current or self.default_article):
            return None
        return self.new_article(article_id)

    def upload(self, path: str | None, lang_hint: str) -> Upload:
        """Index an uploaded article (validated here, on the server) and switch to it, as
        `switch` does. Whatever happens, the status line says it, in the interface's
        language and naming the file by its own name only."""
        lang = "en" if lang_hint == "en" else "nb"
        if not path:
            return Upload(status="")
        source = Path(path)
        name = source.name
        if not _in_upload_cache(source):
            # Only a file that Gradio's own upload route put in its cache is ever opened: a
            # path sent by the client is refused unread.
            log.warning("refused an upload event naming a path outside the upload cache")
            return Upload(status=escape(texts.text("upload_refused", lang)))
        limit = self.settings.max_upload_bytes
        refusal = upload_refusal(name, 0, limit, lang)
        if refusal is not None:
            return Upload(status=escape(refusal))
        try:
            data = read_bounded(source, limit)
        except ArticleError:
            return Upload(status=escape(texts.text("upload_size", lang, name=name, limit=limit)))
        if Path(name).suffix.lower() in TEXT_SUFFIXES:
            try:
                text = decode_article(data, name)
            except ArticleError:
                return Upload(status=escape(texts.text("upload_encoding", lang, name=name)))
            if not clean_text(text).strip():
                return Upload(status=escape(texts.text("upload_empty", lang, name=name)))
        try:
            result = self.engine.add_upload(data, name)
        except ArticleError as exc:
            # what is wrong with the document itself (a page with no article, a PDF
            # without a text layer, over a size limit), naming the file by its own name
            message = str(exc).replace(str(source), name)
            return Upload(status=escape(message.replace(str(self.settings.uploads_dir), "uploads")))
        except ArticlebotError as exc:
            log.warning("upload %r not indexed: %s", name, exc)
            return Upload(status=escape(texts.text("upload_failed", lang, name=name)))
        except OSError:
            log.exception("upload failed")
            return Upload(status=escape(texts.text("upload_failed", lang, name=name)))
        article = result.article
        status = texts.text(
            "upload_ok", lang, title=article.title, sentences=result.manifest.sentence_count
        )
        return Upload(
            status=escape(status),
            article=self.new_article(article.id, choices=True, upload_status=escape(status)),
        )

    def refused_upload(self, report: str, lang_hint: str) -> Upload:
        """The status line for a file that the page's script kept from uploading (too large
        or of the wrong type, by `upload_refusal`'s rules); `report` is the JSON
        `{"name", "size"}` the script sends."""
        lang = "en" if lang_hint == "en" else "nb"
        try:
            found = json.loads(report)
            name = Path(str(found["name"])).name[:200]
            size = int(found["size"])
        except (ValueError, TypeError, KeyError):
            return Upload(status="")
        refusal = upload_refusal(name, size, self.settings.max_upload_bytes, lang)
        return Upload(status=escape(refusal or ""))

    def add_link(self, url: str | None, lang_hint: str) -> Upload:
        """Fetch and index the article a pasted link names, and switch to it as `upload`
        does; the status line says what happened."""
        from index.fetch import is_url

        lang = "en" if lang_hint == "en" else "nb"
        url = (url or "").strip()
        if not url:
            return Upload(status="")
        if not is_url(url) or len(url) > 2000:
            return Upload(status=escape(texts.text("link_refused", lang, url=url[:200])))
        try:
            result = self.engine.index_link(url)
        except ArticlebotError as exc:
            return Upload(status=escape(str(exc)))
        except OSError:
            log.exception("indexing a link failed")
            return Upload(status=escape(texts.text("error", lang)))
        article = result.article
        status = escape(
            texts.text(
                "upload_ok", lang, title=article.title, sentences=result.manifest.sentence_count
            )
        )
        return Upload(
            status=status, article=self.new_article(article.id, choices=True, upload_status=status)
        )

    def rate(
        self,
        history: list[dict[str, Any]],
        article_id: str,
        right_sentence: str | None,
        data: Any,
        conversation: str = "",
    ) -> str:
        """Save a like or dislike on an answer to the feedback file (this machine only): the
        answer record as this server gave it, found by the answer it issued. An answer the
        server does not know (given before a restart, or not by this server) is not saved:
        the page's copy is never taken for the answer. A later rating of the same message
        of the same conversation replaces it."""
        liked = getattr(data, "liked", None)
        rating: Rating | None = (
            "up" if liked in (True, "Like") else "down" if liked in (False, "Dislike") else None
        )
        index = getattr(data, "index", None)
        if isinstance(index, (tuple, list)):
            index = index[0]
        if rating is None or not isinstance(index, int) or not 0 <= index < len(history):
            return ""
        answer = message_text(history[index])
        question = ""
        for message in reversed(history[:index]):
            if message.get("role") == "user":
                question = message_text(message)
                break
        answer_record = self.recorded(question, answer)
        if answer_record is None:
            return escape(texts.text("feedback_unknown", _lang(question)))
        message_key = hashlib.sha256(
            json.dumps([conversation, index, question, answer]).encode("utf-8")
        ).hexdigest()[:24]
        right = (right_sentence or "").strip()[: self.settings.max_question_chars * 4] or None
        cited = tuple(
            CitedSentence(
                n=c["n"], sentence_id=c["sentence_id"], text=c["text"], support=c["support"]
            )
            for c in answer_record["citations"]
        )
        language = str(answer_record["language"])
        try:
            save(
                self.settings.feedback_path,
                FeedbackRecord(
                    article=cited[0].sentence_id.rpartition(":")[0]
                    if cited
                    else str(answer_record["article"]),
                    question=str(answer_record["question"]),
                    answer=str(answer_record["answer"]),
                    rating=rating,
                    citations=cited,
                    right_sentence=right,
                    language=language,
                    record=answer_record,
                    message=message_key,
                ),
            )
        except ArticlebotError as exc:
            log.warning("could not save a rating: %s", exc)
            return escape(texts.text("feedback_failed", language))
        return escape(texts.text("feedback_saved", language))


def new_conversation() -> str:
    """A fresh id for a conversation (a page load, a switch of article), naming its
    messages in the feedback log."""
    return uuid.uuid4().hex


def chat_bar_html(lang: str, upload_limit: int) -> str:
    """Below the chat: the page's strings in `lang` for our script (the page's language, the
    names of the question box and its buttons, its placeholder), the upload's rules (the
    suffixes and the byte limit of `upload_refusal`) and, on narrow screens, the button
    that opens the article with its sources."""

    def attr(key: str) -> str:
        return html.escape(texts.text(key, lang), quote=True)

    types = html.escape(" ".join(upload_suffixes()), quote=True)
    placeholder = html.escape(texts.QUESTION_PLACEHOLDER, quote=True)
    return (
        f'<div id="ui-strings" hidden data-lang="{html.escape(lang, quote=True)}" '
        f'data-question="{attr("question_label")}" data-send="{attr("send_label")}" '
        f'data-stop="{attr("stop_label")}" data-sheet="{attr("sheet_label")}" '
        f'data-suggestions="{attr("suggestions_label")}" '
        f'data-placeholder="{placeholder}" data-upload-types="{types}" '
        f'data-upload-limit="{int(upload_limit)}"></div>'
        f'<div class="phone-only"><button type="button" id="show-article" '
        f'class="ab-button" aria-controls="article-column">{attr("show_article")}'
        f"</button></div>"
    )


def sheet_bar_html(lang: str) -> str:
    """The top of the article column on narrow screens: back to the chat."""
    label = html.escape(texts.text("back_to_chat", lang))
    return (
        f'<div id="back-to-chat-bar" class="phone-only"><button type="button" '
        f'id="back-to-chat" class="ab-button"><span aria-hidden="true">←</span> {label}'
        f"</button></div>"
    )


def _safe_chatbot(display_limit: int, **kwargs: Any) -> Any:
    """A gr.Chatbot that shows the user's own text literally.

    Gradio renders user messages as Markdown and sanitises the HTML, which silently deletes
    a typed `<script>` and leaves `<img src=x>` fetching. The frontend is sent the user's
    text escaped instead (and cut to `display_limit` characters); what comes back is
    unescaped, so handlers see what was typed.
    """
    return _escaping_chatbot_class(display_limit)(**kwargs)


@functools.cache
def _escaping_chatbot_class(display_limit: int) -> Any:
    """The class of `_safe_chatbot`'s chat for one display limit.

    A class rather than methods wrapped on one instance: an event that changes a
    component's settings (new suggested questions after a switch of article or an upload)
    makes Gradio build the session's copy of it from its class, which would drop wrapped
    methods and render the user's markup from then on. It is built with `ABCMeta.__new__`
    rather than a `class` statement, because Gradio's component metaclass writes a .pyi
    stub beside the module of every component class it builds; `is_template` keeps the
    frontend's chatbot.
    """
    from abc import ABCMeta

    import gradio as gr
    from gradio.components.chatbot import TextMessage

    def user_parts(data: Any) -> Iterator[Any]:
        for message in data.root:
            if message.role == "user":
                for part in message.content:
                    if isinstance(part, TextMessage):
                        yield part

    def postprocess(self: Any, value: Any) -> Any:
        data = gr.Chatbot.postprocess(self, value)
        for part in user_parts(data):
            text = part.text
            if len(text) > display_limit:
                text = text[:display_limit] + " …"
            part.text = escape(text)
        return data

    def preprocess(self: Any, payload: Any) -> Any:
        if payload is not None:
            for part in user_parts(payload):
                part.text = html.unescape(part.text)
        return gr.Chatbot.preprocess(self, payload)

    namespace = {
        "__module__": __name__,
        "__qualname__": "EscapingChatbot",
        "__doc__": _safe_chatbot.__doc__,
        "is_template": True,
        "postprocess": postprocess,
        "preprocess": preprocess,
    }
    return ABCMeta.__new__(type(gr.Chatbot), "EscapingChatbot", (gr.Chatbot,), namespace)


@dataclass(frozen=True)
class _Page:
    """The page's components that handlers change, and the one place where a handler's
    result becomes Gradio's updates: a dict by component, so nothing is matched by
    position."""

    panel: Any
    intro: Any
    dropdown: Any
    upload: Any
    link_box: Any
    upload_status: Any
    right_box: Any
    lang_state: Any
    chat_bar: Any
    sheet_bar: Any
    article_state: Any
    chatbot: Any
    chatbot_state: Any
    feedback_status: Any
    conversation: Any
    upload_limit: int

    def after_answer_outputs(self) -> list[Any]:
        return [
            self.panel,
            self.intro,
            self.dropdown,
            self.upload,
            self.link_box,
            self.right_box,
            self.lang_state,
            self.chat_bar,
            self.sheet_bar,
        ]

    def after_answer(self, result: AfterAnswer) -> dict[Any, Any]:
        import gradio as gr

        updates: dict[Any, Any] = {self.panel: result.panel}
        lang = result.labels
        if lang is not None:
            updates.update(
                {
                    self.intro: gr.update(value=texts.text("web_intro", lang)),
                    self.dropdown: gr.update(label=texts.text("article_label", lang)),
                    self.upload: gr.update(label=texts.text("upload_label", lang)),
                    self.link_box: gr.update(label=texts.text("link_label", lang)),
                    self.right_box: gr.update(label=texts.text("right_sentence_label", lang)),
                    self.lang_state: lang,
                    self.chat_bar: chat_bar_html(lang, self.upload_limit),
                    self.sheet_bar: sheet_bar_html(lang),
                }
            )
        return updates

    def article_outputs(self) -> list[Any]:
        return [
            self.dropdown,
            self.article_state,
            self.panel,
            self.chatbot,
            self.chatbot_state,
            self.feedback_status,
            self.conversation,
            self.upload_status,
            self.upload,
        ]

    def new_article(self, result: NewArticle | None) -> dict[Any, Any]:
        import gradio as gr

        if result is None:  # Gradio reads an empty dict as one value: name one, unchanged
            return {self.article_state: gr.update()}
        updates: dict[Any, Any] = {
            self.article_state: result.article_id,
            self.panel: result.panel,
            self.chatbot: gr.update(value=[], examples=[{"text": q} for q in result.suggestions]),
            self.chatbot_state: [],
            self.feedback_status: "",
            self.conversation: result.conversation,
            self.upload_status: result.upload_status,
        }
        if result.choices is not None:
            updates[self.dropdown] = gr.update(
                choices=list(result.choices), value=result.article_id
            )
        return updates

    def uploaded(self, result: Upload) -> dict[Any, Any]:
        return {
            **self.new_article(result.article),
            self.upload_status: result.status,
            self.upload: None,
        }

    def linked(self, result: Upload) -> dict[Any, Any]:
        import gradio as gr

        # the box is emptied once its link was read; a refused link stays to be mended
        box = "" if result.article is not None else gr.update()
        return {
            **self.new_article(result.article),
            self.upload_status: result.status,
            self.link_box: box,
        }

    def link_outputs(self) -> list[Any]:
        return [*self.article_outputs()[:-1], self.link_box]

    def refused(self, result: Upload) -> dict[Any, Any]:
        return {self.upload_status: result.status}


def build_app(engine: Engine, article_id: str) -> Any:
    """The Gradio app: the chat beside the article, answering about `article_id` first."""
    import gradio as gr

    chat = WebChat(engine, article_id)
    settings = engine.settings
    with gr.Blocks(
        title=texts.text("chat_title", "nb"), analytics_enabled=False, fill_height=True
    ) as app:
        lang_state = gr.State("nb")
        conversation = gr.State("")  # set on page load, renewed by a switch of article
        gr.Markdown(f"# {texts.text('chat_title', 'nb')} / {texts.text('chat_title', 'en')}")
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                # The session's article: a hidden box rather than a gr.State, so that the
                # `/chat` API takes it as an optional second parameter.
                article_state = gr.Textbox(
                    value=article_id, visible=False, label="article", elem_id="article-id"
                )
                intro = gr.Markdown(
                    texts.text("web_intro", "nb") + "  \n" + texts.text("web_intro", "en")
                )
                chatbot = _safe_chatbot(
                    display_limit=settings.max_question_chars,
                    height=560,
                    latex_delimiters=[],
                    sanitize_html=True,
                    allow_tags=False,
                    feedback_options=("Like", "Dislike"),
                    elem_id="chatbot",
                    buttons=["copy", "copy_all"],  # no "share": it posts to Hugging Face
                    show_label=False,
                )
                question_box = gr.Textbox(
                    placeholder=texts.QUESTION_PLACEHOLDER,
                    elem_id="question",
                    label=texts.text("question_label", "nb"),
                    submit_btn=True,
                    stop_btn=True,
                    show_label=False,
                    lines=1,
                    max_lines=6,
                    scale=7,
                    autofocus=True,
                )
                # the suggested questions are the article's own and change with it (switch,
                # upload): Gradio answers a clicked example from the value the page sends
                ci = gr.ChatInterface(
                    fn=chat.respond,
                    chatbot=chatbot,
                    textbox=question_box,
                    additional_inputs=[article_state],
                    examples=[[e["text"], None] for e in chat.suggestions(article_id)],
                    cache_examples=False,
                    flagging_mode="never",
                    concurrency_limit=settings.concurrency_limit,
                    api_name="chat",
                    analytics_enabled=False,
                    fill_height=False,
                )
                chat_bar = gr.HTML(
                    chat_bar_html("nb", settings.max_upload_bytes), elem_id="chat-bar"
                )
                right_box = gr.Textbox(
                    label=texts.text("right_sentence_label", "nb")
                    + " / "
                    + texts.text("right_sentence_label", "en"),
                    lines=1,
                    max_lines=3,
                    max_length=settings.max_question_chars * 4,
                    elem_id="right-sentence",
                )
                feedback_status = gr.Markdown(elem_id="feedback-status")
            with gr.Column(scale=4, elem_id="article-column"):
                sheet_bar = gr.HTML(sheet_bar_html("nb"), elem_id="sheet-bar")
                dropdown = gr.Dropdown(
                    choices=chat.choices(),
                    value=article_id,
                    elem_id="article-choice",
                    label=texts.text("article_label", "nb")
                    + " / "
                    + texts.text("article_label", "en"),
                    interactive=True,
                )
                upload = gr.File(
                    label=texts.text("upload_label", "nb")
                    + " / "
                    + texts.text("upload_label", "en"),
                    file_types=list(upload_suffixes()),
                    file_count="single",
                    type="filepath",
                    elem_id="article-upload",
                )
                # the page's script reports here a file it kept from uploading (too large,
                # wrong type), for the status line to say why in the interface's language
                refused_box = gr.Textbox(
                    visible="hidden", elem_id="upload-refused", label="refused upload"
                )
                link_box = gr.Textbox(
                    label=texts.text("link_label", "nb") + " / " + texts.text("link_label", "en"),
                    lines=1,
                    max_lines=1,
                    max_length=2000,
                    elem_id="article-link",
                    submit_btn=True,
                )
                upload_status = gr.Markdown(elem_id="upload-status")
                panel = gr.HTML(chat.panel(article_id), elem_id="article-panel")

        # articles indexed since start-up (uploads from any tab) are offered on each page load
        app.load(
            lambda: (gr.update(choices=chat.choices()), new_conversation()),
            None,
            [dropdown, conversation],
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )
        page = _Page(
            panel=panel,
            intro=intro,
            dropdown=dropdown,
            upload=upload,
            link_box=link_box,
            upload_status=upload_status,
            right_box=right_box,
            lang_state=lang_state,
            chat_bar=chat_bar,
            sheet_bar=sheet_bar,
            article_state=article_state,
            chatbot=ci.chatbot,
            chatbot_state=ci.chatbot_state,
            feedback_status=feedback_status,
            conversation=conversation,
            upload_limit=settings.max_upload_bytes,
        )
        # The chatbot changes with every streamed piece; always_last skips stale updates.
        ci.chatbot.change(
            lambda history, aid, shown: page.after_answer(chat.after_answer(history, aid, shown)),
            [ci.chatbot, article_state, lang_state],
            page.after_answer_outputs(),
            api_visibility="private",
            trigger_mode="always_last",
            queue=False,
            show_progress="hidden",
        )  # no fading of the panel while an answer streams
        dropdown.input(
            lambda chosen, current: page.new_article(chat.switch(chosen, current)),
            [dropdown, article_state],
            page.article_outputs(),
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )
        upload.upload(
            lambda path, lang: page.uploaded(chat.upload(path, lang)),
            [upload, lang_state],
            page.article_outputs(),
            api_visibility="private",
            concurrency_limit=1,
        )
        # `change`, not `input`: the script sets the box's value, which Gradio reports as a
        # change only (each report differs: it carries a count)
        refused_box.change(
            lambda report, lang: page.refused(chat.refused_upload(report, lang)),
            [refused_box, lang_state],
            [upload_status],
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )
        link_box.submit(
            lambda url, lang: page.linked(chat.add_link(url, lang)),
            [link_box, lang_state],
            page.link_outputs(),
            api_visibility="private",
            concurrency_limit=1,
        )

        def on_like(
            history: list[dict[str, Any]], aid: str, right: str | None, conv: str, data: Any
        ) -> tuple[str, str]:
            status = chat.rate(history, aid, right, data, conv)
            return status, "" if status else (right or "")  # a correction is used once

        # set at run time: this module's annotations are strings and gr is a local name here
        on_like.__annotations__["data"] = gr.LikeData
        ci.chatbot.like(
            on_like,
            [ci.chatbot, article_state, right_box, conversation],
            [feedback_status, right_box],
            api_visibility="private",
            queue=False,
        )
    return app
