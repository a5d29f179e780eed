"""The engine: one object that the CLI, the web chat and eval share.

It owns the store, the embedder and the loaded article indexes, builds the index of an
article on first use, and answers questions. Built from `Settings`; nothing happens until a
method is called.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.answer_records import ALL_ARTICLES, Answer
from bot.chain import Answerer
from bot.events import Event, final_answer
from bot.llm import Generator, llm_config, make_chat_model
from bot.question import clean_question
from bot.ranking.crossencoder import CrossEncoderScorer, load_scorer
from bot.ranking.model import RankerModel, load_model
from bot.retriever import SentenceRetriever, load_index
from bot.routing import RoutingAnswerer
from bot.settings import Settings
from core.errors import ArticleError, ArticleNotFoundError
from core.records import Article, Sentence
from index.article import article_from_text, inline_id, slugify
from index.chunk import CHUNKER_VERSION
from index.document import SUFFIXES, Limits, article_from_bytes, load_article
from index.embedder import SentenceEmbedder, make_embedder, normalise_spec
from index.fetch import FetchPolicy, is_url
from index.indexer import Indexer, IndexResult
from index.sentence import split_article
from index.store import ArticleInfo, Store

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

Notice = Callable[[str], None]
UPLOAD_SUFFIXES = SUFFIXES  # text, Markdown, saved web pages and PDFs


def bundled_article_path() -> Path:
    """The path of the article that ships with the package."""
    from importlib import resources

    return Path(str(resources.files("index") / "data" / "article.txt"))


def _quiet(_: str) -> None:
    return None


class Engine:
    """Indexes articles and answers questions about them."""

    def __init__(self, settings: Settings, ranker: RankerModel | None = None) -> None:
        self.settings = settings
        self.embedder_spec = normalise_spec(settings.embedder)
        self.store = Store(
            settings.store,
            chroma_url=settings.chroma_url,
            chroma_token=(
                settings.chroma_token.get_secret_value() if settings.chroma_token else None
            ),
            lock_timeout=settings.lock_timeout_s,
        )
        self._ranker = ranker
        self._reranker: CrossEncoderScorer | None = None
        # least recently used first; at most `cached_articles` of them
        self._answerers: OrderedDict[str, Answerer] = OrderedDict()
        self._loaded: dict[str, str] = {}  # article id -> the collection its answerer reads
        self._checked: dict[str, float] = {}  # article id -> when its pointer was last read
        self._sentences: dict[tuple[str, str], list[Sentence]] = {}  # (id, text sha256)
        self._lock = threading.RLock()
        # checked now (no I/O) so that a half-configured model fails before any indexing
        self._llm = llm_config(settings)
        self._generator: Generator | None = None

    # -- building -------------------------------------------------------------------------

    def embedder(self) -> SentenceEmbedder:
        """The configured embedder (loaded on first use)."""
        return make_embedder(self.embedder_spec)

    def ranker(self) -> RankerModel:
        """The ranker model (loaded on first use)."""
        if self._ranker is None:
            self._ranker = load_model(self.settings.ranker_file)
        return self._ranker

    def reranker(self) -> CrossEncoderScorer | None:
        """The cross-encoder reranker (loaded on first use), or None with `--reranker none`."""
        if self.settings.reranker == "none":
            return None
        with self._lock:
            if self._reranker is None:
                self._reranker = load_scorer(
                    self.settings.reranker_dir, self.settings.data_dir / "reranker"
                )
            return self._reranker

    def generator(self) -> Generator | None:
        """The configured model's generative step (client built on first use), or None:
        without `--llm` nothing is ever called."""
        if self._llm is None:
            return None
        with self._lock:
            if self._generator is None:
                self._generator = Generator(
                    make_chat_model(self._llm),
                    model_name=self._llm.model,
                    timeout_s=self._llm.timeout_s,
                    url=self._llm.base_url,
                    article_tokens=self.settings.llm_article_tokens,
                )
            return self._generator

    def limits(self) -> Limits:
        """How much of a document is read, and how links are fetched (from the settings)."""
        s = self.settings
        return Limits(
            sentences=s.max_article_sentences,
            chars=s.max_article_chars,
            fetch=FetchPolicy(
                allow_private=s.allow_private_urls,
                read_timeout_s=s.fetch_timeout_s,
                total_timeout_s=s.fetch_timeout_s * 3,
                max_bytes=s.max_fetch_bytes,
            ),
        )

    def indexer(self) -> Indexer:
        """An indexer over this engine's store and embedder."""
        return Indexer(self.store, self.embedder, self.embedder_spec, self.limits())

    def index_files(
        self, paths: Sequence[Path | str], rebuild: bool = False, notice: Notice = _quiet
    ) -> list[IndexResult]:
        """Index article files and links under the writer lock. Every document is read
        (fetched, extracted) whole before the store is opened: one that cannot be read
        leaves the store as it was, and makes none where there was none."""
        limits = self.limits()
        return self._index_loaded(
            [(path, load_article(path, "pending", limits)) for path in paths], rebuild, notice
        )

    def _index_loaded(
        self, loaded: Sequence[tuple[Path | str, Article]], rebuild: bool, notice: Notice
    ) -> list[IndexResult]:
        """Index documents already read, each under the id its source has in this store."""
        results = []
        with self.store.writer():
            indexer = self.indexer()
            articles: list[tuple[Path | str, Article]] = []
            for path, article in loaded:
                taken = [a.id for _, a in articles]
                article_id = indexer.article_id_for(path, taken)
                articles.append((path, dataclasses.replace(article, id=article_id)))
            for path, article in articles:
                result = indexer.index_article(article, rebuild=rebuild)
                self._forget(result.article.id)
                notice(
                    f"{'unchanged' if result.skipped else 'indexed'} {result.article.id}: "
                    f"{result.manifest.sentence_count} sentences ({path})"
                )
                results.append(result)
        return results

    def index_link(self, url: str) -> IndexResult:
        """Fetch the web page at `url` (under the settings' fetch policy) and index its
        article (the chat's link box, the HTTP API)."""
        return self.index_files([url])[0]

    def index_text(self, text: str, article_id: str | None = None) -> str:
        """Index an article given as text (an eval `context`); returns its id."""
        article = article_from_text(text, "inline")  # checks the text before it is hashed
        article = dataclasses.replace(article, id=article_id or inline_id(text))
        current = self.store.manifest(article.id, self.embedder_spec)
        if (
            current is not None
            and current.article_sha256 == article.sha256
            and current.chunker_version == CHUNKER_VERSION
        ):
            return article.id
        with self.store.writer():
            self.indexer().index_article(article)
        self._forget(article.id)
        return article.id

    def index_texts(self, texts: Sequence[str], notice: Notice = _quiet) -> list[IndexResult]:
        """Index many inline articles under one writer lock (eval contexts, `bench --scale`):
        one lock and one sweep for the lot instead of one per article; unchanged ones are
        skipped by hash."""
        results = []
        with self.store.writer():
            indexer = self.indexer()
            for text in texts:
                result = indexer.index_article(article_from_text(text, inline_id(text)))
                self._forget(result.article.id)
                results.append(result)
                notice(
                    f"{'unchanged' if result.skipped else 'indexed'} {result.article.id}: "
                    f"{result.manifest.sentence_count} sentences"
                )
        return results

    def add_upload(self, data: bytes, name: str) -> IndexResult:
        """Keep an uploaded article (web upload, HTTP API) in the data dir and index it.

        The bytes are checked here, whoever sent them: at most `max_upload_bytes`, a name
        ending in .txt, .md, .html, .htm or .pdf, and content that is what its name says
        (strict UTF-8 text, a page with an article in it, a PDF with a text layer). Nothing
        is written before the article has been read whole. The file gets a safe name and
        never replaces another upload with other content."""
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise ArticleError(
                f"{Path(name).name}: only {', '.join(UPLOAD_SUFFIXES)} articles can be uploaded"
            )
        if len(data) > self.settings.max_upload_bytes:
            raise ArticleError(
                f"{Path(name).name}: larger than the {self.settings.max_upload_bytes} byte limit"
            )
        limits = self.limits()
        article = article_from_bytes(data, Path(name).name, "pending", source=name, limits=limits)
        # over the cost limits: refused before anything is kept
        limits.check(article)
        limits.check(article, len(split_article(article)))
        folder = self.settings.uploads_dir
        folder.mkdir(parents=True, exist_ok=True)
        stem = slugify(Path(name).stem)
        n = 1
        while True:
            dest = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
            if not dest.exists() or dest.read_bytes() == data:
                break
            n += 1
        tmp = dest.with_name(dest.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(dest)
        with self.store.writer():
            indexer = self.indexer()
            article = dataclasses.replace(
                article, id=indexer.article_id_for(dest), source=str(dest.resolve())
            )
            result = indexer.index_article(article)
        self._forget(result.article.id)
        return result

    def _forget(self, article_id: str) -> None:
        with self._lock:
            self._answerers.pop(article_id, None)
            self._loaded.pop(article_id, None)
            self._checked.pop(article_id, None)

    def resolve_article(self, ref: str | None = None, notice: Notice = _quiet) -> str:
        """The id of the article to answer from: `ref` (an id, a file path, a link, or "all"
        for every indexed article), else the configured one, else the bundled article; a
        path or link is indexed first when needed (a link once: it is not fetched again
        while its article is indexed)."""
        ref = ref or self.settings.article
        if ref == ALL_ARTICLES:
            if not self.answerable_articles():
                raise ArticleNotFoundError(
                    f"no article is indexed with {self.embedder_spec} in {self.store.describe()}; "
                    "run `articlebot index`"
                )
            return ALL_ARTICLES
        if ref is None:
            path = bundled_article_path()
        else:
            known = {
                m.article_id for m in self.store.manifests() if m.embedder == self.embedder_spec
            }
            if ref in known:
                return ref
            if is_url(ref):
                return self._resolve_link(ref, notice)
            path = Path(ref).expanduser()
            if not path.exists():
                if ref in self.store.sources():
                    return self._build_missing(ref, notice)
                raise ArticleNotFoundError(
                    f"{ref!r} is neither an indexed article id nor a file; "
                    "see `articlebot articles`"
                )
        article = load_article(path, "pending", self.limits())  # a bad file fails here
        article_id = self.indexer().article_id_for(path)
        manifest = self.store.manifest(article_id, self.embedder_spec)
        if manifest is None:
            notice(f"building the index for {path.name} first ...")
        elif article.sha256 != manifest.article_sha256:
            notice(f"{path.name} changed; rebuilding its index ...")
        else:
            return article_id
        return self._index_loaded([(path, article)], False, notice)[0].article.id

    def _resolve_link(self, url: str, notice: Notice) -> str:
        """The article of a link: fetched and indexed unless it already is."""
        article_id = self.indexer().article_id_for(url)
        if self.store.manifest(article_id, self.embedder_spec) is not None:
            return article_id
        if article_id in self.store.sources():
            return self._build_missing(article_id, notice)
        notice(f"fetching and indexing {url} first ...")
        return self.index_files([url], notice=notice)[0].article.id

    def _build_missing(self, article_id: str, notice: Notice) -> str:
        """An article stored for another embedder: index it for this one."""
        article = self.store.article(article_id)
        notice(f"building the {self.embedder_spec} index for {article_id} first ...")
        with self.store.writer():
            self.indexer().index_article(article)
        self._forget(article_id)
        return article_id

    # -- reading the store: the one door the adapters use ----------------------------------

    def describe_store(self) -> str:
        """Where the store is, for messages."""
        return self.store.describe()

    def articles(self) -> list[ArticleInfo]:
        """Every stored article with its sentence count and embedders."""
        return self.store.articles()

    def answerable_articles(self) -> list[ArticleInfo]:
        """The stored articles indexed with this engine's embedder."""
        return [a for a in self.store.articles() if self.embedder_spec in a.embedders]

    def article(self, article_id: str) -> Article:
        """A stored article (ArticleNotFoundError when there is none)."""
        return self.store.article(article_id)

    def sentences(self, article_id: str) -> list[Sentence]:
        """The sentences of an article indexed with this engine's embedder, in order (empty
        when it has no such index); cached while the article's text is unchanged."""
        manifest = self.store.manifest(article_id, self.embedder_spec)
        if manifest is None:
            return []
        key = (article_id, manifest.article_sha256)
        with self._lock:
            cached = self._sentences.get(key)
        if cached is None:
            cached = self.store.sentences(manifest)[0]
            with self._lock:
                self._sentences[key] = cached
        return cached

    def remove(self, article_id: str) -> None:
        """Remove an article and all its indexes, under the writer lock."""
        with self.store.writer():
            self.store.remove(article_id)
        self._forget(article_id)

    # -- answering ------------------------------------------------------------------------

    def load(self, article_id: str) -> None:
        """Load an article's answer chain now (a server does this before its first visitor)."""
        self.answerer(article_id)

    def answerer(self, article_id: str) -> Answerer:
        """The answer chain for an article, loaded once and cached while its index is live.

        The pointer is read on every call: another process (`articlebot index --rebuild`)
        may have switched the article to a new collection and dropped the one cached here.
        """
        now = time.monotonic()
        with self._lock:
            # Within a second of the last check the cached chain is used as is: a switch by
            # another process is seen a moment later, and `ask` retries on a dropped one.
            if article_id in self._answerers and now - self._checked.get(article_id, 0) < 1.0:
                self._answerers.move_to_end(article_id)
                return self._answerers[article_id]
        manifest = self.store.manifest(article_id, self.embedder_spec)
        with self._lock:
            if (
                article_id in self._answerers
                and manifest is not None
                and self._loaded.get(article_id) == manifest.collection
            ):
                self._checked[article_id] = now
                self._answerers.move_to_end(article_id)
                return self._answerers[article_id]
        if manifest is None:
            raise ArticleNotFoundError(
                f"article {article_id!r} has no {self.embedder_spec} index in "
                f"{self.store.describe()}; run `articlebot index`"
            )
        embedder = self.embedder()
        self.store.check(manifest, embedder.dimension, CHUNKER_VERSION)
        article = self.store.article(article_id)
        sentences, vectors = self.store.sentences(manifest)
        # No probe of the vector index here: a one-article answer reads its sentences by id
        # (their count must match the manifest) and scores them in memory, and a query of
        # the index would make an embedded reader load every article's vectors (739 MB at
        # 10,000 articles, against 172 MB at 10).
        index = load_index(article, manifest, sentences, vectors)
        retriever = SentenceRetriever(
            index=index, embedder=embedder, model=self.ranker(), reranker=self.reranker()
        )
        answerer = Answerer(
            retriever,
            max_citations=self.settings.max_citations,
            ranking_size=self.settings.ranking_size,
            generator=self.generator(),
        )
        with self._lock:
            self._answerers[article_id] = answerer
            self._answerers.move_to_end(article_id)
            self._loaded[article_id] = manifest.collection
            self._checked[article_id] = now
            while len(self._answerers) > self.settings.cached_articles:
                self._forget(next(iter(self._answerers)))
        return answerer

    def collection(self) -> RoutingAnswerer:
        """The answer chain across every article indexed with this engine's embedder."""

        def search(vector: np.ndarray, k: int) -> list[tuple[Sentence, float]]:
            return self.store.search(vector, k, embedder=self.embedder_spec)

        return RoutingAnswerer(
            self.answerer,
            search,
            self.embedder(),
            candidates=self.settings.across_sentences,
            articles=self.settings.across_articles,
            ranking_size=self.settings.ranking_size,
            article_ids=lambda: [a.id for a in self.answerable_articles()],
            loaded_limit=self.settings.cached_articles,
        )

    def events(
        self,
        question: str,
        article_id: str,
        query: str | None = None,
        config: RunnableConfig | None = None,
    ) -> Iterator[Event]:
        """Answer one question about an indexed article as events (`bot.events`): the
        ranking, the answer text as it is written, then the final checked answer.

        The question is cleaned and checked now, so a QuestionError comes from this call,
        not from the iteration. If another process switched the article's index and
        dropped the collection this engine had loaded, the new one is loaded, once."""
        cleaned = clean_question(question, self.settings.max_question_chars)
        return self._events(cleaned, article_id, query, config)

    def _events(
        self, cleaned: str, article_id: str, query: str | None, config: RunnableConfig | None
    ) -> Iterator[Event]:
        if article_id == ALL_ARTICLES:
            yield from self.collection().events(cleaned, query=query, config=config)
            return
        started = False
        try:
            for event in self.answerer(article_id).events(cleaned, query=query, config=config):
                started = True
                yield event
        except Exception:
            # A writer in another process may have switched the index and dropped the
            # collection between our pointer check and the query: load the new one, once.
            with self._lock:
                loaded = self._loaded.get(article_id)
            current = self.store.manifest(article_id, self.embedder_spec)
            if started or current is None or current.collection == loaded:
                raise  # not a switch: a real failure
            self._forget(article_id)
            yield from self.answerer(article_id).events(cleaned, query=query, config=config)

    def ask(
        self, question: str, article_id: str, item_id: str | None = None, query: str | None = None
    ) -> Answer:
        """Answer one question about an indexed article: `events` drained."""
        answer = final_answer(self.events(question, article_id, query=query))
        if item_id is not None:
            answer = dataclasses.replace(answer, id=item_id)
        return answer
