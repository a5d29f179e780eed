"""Generative answers from a model the user configured (OpenAI-compatible server or Ollama).

The model sees the whole article, its sentences numbered [1]..[n] in their own order, when it
fits the configured budget (most news articles do), so a sentence the ranking missed can
still answer; a longer article gives it the top retrieved sentences, numbered [1]..[k]. It
must cite them. Its reply is
cleaned (invisible characters, links, images), its markers are checked against those
numbered sentences and renumbered, and the answer's citations are those sentences verbatim. A reply
with no valid citation, a timeout or an unreachable server gives the extractive answer
instead, with the reason in `fallback_reason`. LangChain's chat-model types stay here;
langchain-openai and langchain-ollama (the `llm` extra) are imported only when a model is
actually configured.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from bot import texts
from bot.answer_records import Answer, Citation, Ranked
from bot.citation import check_reply, stream_view
from bot.retriever import Retrieval
from bot.settings import Settings
from core.errors import ConfigError, LLMError
from core.text import clean_text, fold_words

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

log = logging.getLogger(__name__)

PROMPT_SENTENCES = 5  # how many top-ranked sentences the model sees, as [1]..[k]
# A conservative estimate of tokens from characters: BPE tokenizers give about four
# characters a token on Norwegian and English news text, and fewer on names and numbers.
CHARS_PER_TOKEN = 3
MARKER_TOKENS = 3  # "[12] " and the line break
MAX_ANSWER_TOKENS = 512
LEAK_WORDS = 8  # a reply sharing this many consecutive words with the rules leaks them
OPENAI_URL = "https://api.openai.com/v1"
OLLAMA_URL = "http://localhost:11434"

# Delimiter tags inside an article sentence would let it close the data block early.
_DELIMITER = re.compile(r"</?\s*(?:article|artikkel)\s*>", re.IGNORECASE)
_MARKERS = re.compile(r"\[[^\]]*\]")


@dataclass(frozen=True)
class LLMConfig:
    """A configured model: which client, where, which model, how long to wait."""

    provider: str  # "openai" or "ollama"
    model: str
    base_url: str
    timeout_s: float
    api_key: str | None = None


def llm_config(settings: Settings) -> LLMConfig | None:
    """The model configuration from settings, None when no model is configured.

    Raises ConfigError when a model is asked for but cannot be addressed. Does no I/O.
    """
    if settings.llm is None:
        return None
    if not settings.llm_model:
        raise ConfigError(f"--llm {settings.llm} needs --llm-model NAME (env ARTICLEBOT_LLM_MODEL)")
    if settings.llm_timeout_s <= 0:
        raise ConfigError("setting llm_timeout_s: must be greater than 0")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if settings.llm == "openai":
        if not settings.llm_base_url and not key:
            raise ConfigError(
                "--llm openai needs --llm-base-url URL of an OpenAI-compatible "
                "server (env ARTICLEBOT_LLM_BASE_URL), or OPENAI_API_KEY to "
                "use api.openai.com"
            )
        base_url = settings.llm_base_url or OPENAI_URL
    else:
        base_url = settings.llm_base_url or OLLAMA_URL
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
        raise ConfigError(f"--llm-base-url must be an http(s) URL, not {base_url!r}")
    return LLMConfig(
        provider=settings.llm,
        model=settings.llm_model,
        base_url=base_url,
        timeout_s=settings.llm_timeout_s,
        api_key=key,
    )


def make_chat_model(config: LLMConfig) -> Any:
    """A LangChain chat model for the configuration (no request is made here).

    Raises LLMError when the client package (the `llm` extra) is not installed.
    """
    try:
        if config.provider == "openai":
            from langchain_openai import ChatOpenAI

            # Every value is passed explicitly so that the client reads nothing from the
            # environment (OPENAI_BASE_URL and the like); no retries, so a dead server
            # falls back at once. No token cap: servers disagree on its parameter's name.
            return ChatOpenAI(
                model=config.model,
                base_url=config.base_url,
                api_key=config.api_key or "none",  # type: ignore[arg-type]
                timeout=config.timeout_s,
                max_retries=0,
                temperature=0,
            )
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=config.model,
            base_url=config.base_url,
            temperature=0,
            num_predict=MAX_ANSWER_TOKENS,
            client_kwargs={"timeout": config.timeout_s},
        )
    except ImportError as exc:
        raise LLMError(
            f"--llm {config.provider} needs the optional packages: "
            f"pip install 'articlebot[llm]' ({exc.name} is missing)"
        ) from None


def public_url(url: str) -> str:
    """A URL fit for a message: no user name, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def failure_reason(exc: BaseException, url: str, timeout_s: float) -> str:
    """Why a model call failed, in words for `fallback_reason` (no secrets, no prompt)."""
    timeouts: tuple[type[BaseException], ...] = (TimeoutError,)
    transport: tuple[type[BaseException], ...] = (ConnectionError,)
    try:
        import httpx

        timeouts += (httpx.TimeoutException,)
        transport += (httpx.TransportError,)
    except ImportError:
        pass
    try:
        import openai

        timeouts += (openai.APITimeoutError,)
        transport += (openai.APIConnectionError,)
    except ImportError:
        pass
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    reasons = texts.LLM_FALLBACK_REASONS
    if any(isinstance(e, timeouts) for e in chain):
        return reasons["timeout"].format(seconds=timeout_s)
    if any(isinstance(e, transport) for e in chain):
        return reasons["unreachable"].format(url=public_url(url))
    status = next(
        (
            getattr(e, "status_code", None)
            for e in chain
            if isinstance(getattr(e, "status_code", None), int)
        ),
        None,
    )
    if status is not None:
        return reasons["status"].format(url=public_url(url), status=status)
    return reasons["failed"].format(error=type(exc).__name__)


def _fold(text: str) -> str:
    return fold_words(_MARKERS.sub(" ", text))


def is_abstention(reply: str, language: str) -> bool:
    """Whether a reply is the abstention sentence the prompt asked for (any of our
    languages; the model may answer in another than we guessed)."""
    folded = _fold(reply)
    return bool(folded) and any(
        folded.startswith(_fold(texts.text("abstain", lang))) for lang in {language, "nb", "en"}
    )


def leaks_prompt(reply: str, system_prompt: str, words: int = LEAK_WORDS) -> bool:
    """Whether a reply repeats a run of `words` consecutive words of the system prompt
    (it must never show: OWASP LLM07); an honest answer shares no such run with it."""

    def runs(text: str) -> set[tuple[str, ...]]:
        w = _fold(text).split()
        return {tuple(w[i : i + words]) for i in range(len(w) - words + 1)}

    return not runs(reply).isdisjoint(runs(system_prompt))


def prompt_sentence(text: str) -> str:
    """A sentence as the model sees it: clean, on one line, without delimiter tags."""
    return " ".join(_DELIMITER.sub(" ", clean_text(text)).split())


class Generator:
    """The generative step: retrieved sentences -> model -> checked, cited answer."""

    def __init__(
        self,
        chat_model: Any,
        model_name: str,
        timeout_s: float,
        url: str = "",
        k: int = PROMPT_SENTENCES,
        article_tokens: int = 0,
    ) -> None:
        self.chat_model = chat_model
        self.model_name = model_name
        self.timeout_s = timeout_s
        self.url = url
        self.k = k
        self.article_tokens = article_tokens

    def shown(self, ranked: tuple[Ranked, ...]) -> tuple[Ranked, ...]:
        """The sentences the model sees, numbered [1]..[n] in this order: every sentence of
        the article in document order when their estimated tokens fit `article_tokens`,
        else the best `k` by rank."""
        if self.article_tokens > 0 and len(ranked) > self.k:
            estimate = sum(
                len(prompt_sentence(r.sentence.text)) // CHARS_PER_TOKEN + MARKER_TOKENS
                for r in ranked
            )
            if estimate <= self.article_tokens:
                return tuple(sorted(ranked, key=lambda r: r.sentence.n))
        return ranked[: self.k]

    @property
    def backend(self) -> str:
        """The answer record's `backend` for this model's answers."""
        return f"llm:{self.model_name}"

    def system_prompt(self, language: str) -> str:
        """The system message for a question in `language`."""
        return texts.prompt(texts.LLM_SYSTEM_PROMPT, language).format(
            language=texts.language_name(language), abstain=texts.text("abstain", language)
        )

    def messages(
        self, question: str, language: str, ranked: tuple[Ranked, ...]
    ) -> list[tuple[str, str]]:
        """The chat messages: rules, then the numbered sentences and the question."""
        numbered = "\n".join(
            f"[{i}] {prompt_sentence(r.sentence.text)}"
            for i, r in enumerate(self.shown(ranked), start=1)
        )
        user = texts.prompt(texts.LLM_USER_PROMPT, language).format(
            sentences=numbered, question=" ".join(clean_text(question).split())
        )
        return [("system", self.system_prompt(language)), ("human", user)]

    def stream(
        self,
        question: str,
        language: str,
        retrieval: Retrieval,
        extractive: Answer,
        article_text: str,
        config: RunnableConfig | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer text so far (checked like the final one: only valid markers,
        no links) as the model writes it, then the final `Answer`."""
        reading = _Reading(self, language, retrieval, article_text)
        try:
            for chunk in self.chat_model.stream(reading.messages(question), config=config):
                view = reading.feed(str(chunk.text))
                if view is not None:
                    yield view
        except Exception as exc:  # any failure of the model: fall back, never fail
            yield self._fallback(extractive, exc)
            return
        yield self.finish(reading.reply, language, retrieval.ranked, extractive, article_text)

    def finish(
        self,
        reply: str,
        language: str,
        ranked: tuple[Ranked, ...],
        extractive: Answer,
        article_text: str,
    ) -> Answer:
        """Turn a whole reply into the answer: checked citations, or a fallback."""
        reasons = texts.LLM_FALLBACK_REASONS
        reply = clean_text(reply)
        if not reply.strip():
            return dataclasses.replace(extractive, fallback_reason=reasons["empty"])
        shown = self.shown(ranked)
        checked = check_reply(reply, len(shown), article_text)
        if leaks_prompt(checked.text, self.system_prompt(language)):
            return dataclasses.replace(extractive, fallback_reason=reasons["leak"])
        if not checked.cited:
            if is_abstention(checked.text, language):
                closest = tuple(
                    Citation(n=i, sentence=r.sentence, score=r.score, support=False)
                    for i, r in enumerate(ranked[:2], start=1)
                )
                return dataclasses.replace(
                    extractive,
                    answer=texts.text("abstain", language),
                    citations=closest,
                    abstained=True,
                    short_answer=None,
                    backend=self.backend,
                    fallback_reason=None,
                )
            return dataclasses.replace(extractive, fallback_reason=reasons["uncited"])
        citations = tuple(
            Citation(n=new, sentence=shown[old - 1].sentence, score=shown[old - 1].score)
            for new, old in enumerate(checked.cited, start=1)
        )
        return dataclasses.replace(
            extractive,
            answer=checked.text,
            citations=citations,
            abstained=False,
            short_answer=None,
            backend=self.backend,
            fallback_reason=None,
        )

    def _fallback(self, extractive: Answer, exc: BaseException) -> Answer:
        reason = failure_reason(exc, self.url, self.timeout_s)
        # the reason reaches the user in the answer; the exception type is for the log only
        log.info("LLM %s not used: %s (%s)", self.model_name, reason, type(exc).__name__)
        return dataclasses.replace(extractive, fallback_reason=reason)


class _Reading:
    """A reply being read as it streams: the text so far, and what may be shown of it."""

    def __init__(
        self, generator: Generator, language: str, retrieval: Retrieval, article_text: str
    ) -> None:
        self._generator = generator
        self._language = language
        self._retrieval = retrieval
        self._article_text = article_text
        self._deadline = time.monotonic() + generator.timeout_s
        self._k = len(generator.shown(retrieval.ranked))
        self._rules = generator.system_prompt(language)
        self.reply, self._shown, self._withheld = "", "", False

    def messages(self, question: str) -> list[tuple[str, str]]:
        """The chat messages for the question."""
        return self._generator.messages(question, self._language, self._retrieval.ranked)

    def feed(self, piece: str) -> str | None:
        """Take the next piece of the reply; the checked view to show now, or None."""
        self.reply += piece
        if time.monotonic() > self._deadline:
            raise TimeoutError("the model kept writing past the deadline")
        view = stream_view(clean_text(self.reply), self._k, self._article_text)
        if self._withheld or view == self._shown:
            return None
        if leaks_prompt(view, self._rules):
            self._withheld = True  # stop showing it; the final answer falls back
            view = ""
        self._shown = view
        return view
