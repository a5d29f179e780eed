"""The web chat: a Gradio ChatInterface over the engine.

`/chat` answers with the message alone. All article and user text is escaped before it is
rendered; the app binds to loopback unless told otherwise, and then only with auth.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from typing import Any

from bot import texts
from bot.engine import Engine
from bot.format import answer_markdown
from bot.settings import Settings
from index.errors import ArticlebotError, ConfigError, QuestionError


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(engine: Engine, article_id: str) -> Any:
    """The Gradio app answering about `article_id`."""
    import gradio as gr

    def respond(message: str, history: list[dict[str, Any]]) -> str:
        try:
            return answer_markdown(engine.ask(message, article_id))
        except QuestionError as exc:
            return str(exc)
        except ArticlebotError:
            return texts.text("error", "en")

    return gr.ChatInterface(
        fn=respond, title=texts.text("chat_title", "nb"),
        examples=list(texts.EXAMPLES), cache_examples=False, flagging_mode="never",
        concurrency_limit=engine.settings.concurrency_limit, api_name="chat",
        analytics_enabled=False)


def _auth(settings: Settings) -> tuple[str, str] | None:
    if settings.auth is None:
        return None
    user, sep, password = settings.auth.get_secret_value().partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth must be USER:PASSWORD")
    return user, password


def serve(settings: Settings, notice: Callable[[str], None]) -> int:
    """Build the index if needed and serve the web chat until interrupted."""
    auth = _auth(settings)
    if not is_loopback(settings.host) and auth is None:
        raise ConfigError(f"binding {settings.host} exposes the chat beyond this machine; "
                          "give --auth USER:PASSWORD (or ARTICLEBOT_AUTH)")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    engine = Engine(settings)
    article_id = engine.resolve_article(settings.article, notice=notice)
    engine.answerer(article_id)  # load before the first visitor waits for it
    app = build_app(engine, article_id)
    app.queue(default_concurrency_limit=settings.concurrency_limit,
              max_size=settings.queue_max_size)
    notice(f"serving {article_id!r} at http://{settings.host}:{settings.port}")
    app.launch(server_name=settings.host, server_port=settings.port, share=False, auth=auth,
               max_file_size=settings.max_upload_bytes, show_error=False, quiet=True)
    return 0
