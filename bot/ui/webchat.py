"""One browser tab's chat, without Gradio's types: answering and rating, switching articles,
uploads and links, each handler returning a typed result that `bot.ui.web` turns into the
page's updates.

Conversation state lives only in what Gradio passes per browser tab (the history and the
session's article); the answers kept for ratings are the only state here, bounded.
"""

from __future__ import annotations

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
from bot.ui.format import answer_markdown, cited_in, escape, short_in
from bot.ui.panel import article_meta_html, article_panel_html
from bot.ui.suggest import suggestions
from core.errors import (
    ArticlebotError,
    ArticleError,
    ArticleNotFoundError,
    QuestionError,
)
from core.records import Sentence
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
            short=short_in(answer),
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
