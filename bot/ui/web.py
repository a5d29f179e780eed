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
import html
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot import texts
from bot.engine import Engine
from bot.ui.format import escape
from bot.ui.webchat import (
    AfterAnswer,
    NewArticle,
    Upload,
    WebChat,
    new_conversation,
    upload_suffixes,
)

log = logging.getLogger(__name__)


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
