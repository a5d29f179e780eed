"""The engine: one object that the CLI, the web chat and eval share.

It owns the store, the embedder and the loaded article indexes, builds the index of an
article on first use, and answers questions. Built from `Settings`; nothing happens until a
method is called.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from bot.answer import Answerer
from bot.question import clean_question
from bot.ranker import RankerModel, load_model
from bot.records import Answer
from bot.retriever import SentenceRetriever, load_index
from bot.settings import Settings
from index.article import article_from_text, inline_id
from index.chunk import CHUNKER_VERSION
from index.embedder import SentenceEmbedder, make_embedder, normalise_spec
from index.errors import ArticleNotFoundError
from index.indexer import Indexer, IndexResult
from index.store import Store

Notice = Callable[[str], None]


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
        self.store = Store(settings.store, chroma_url=settings.chroma_url,
                           chroma_token=(settings.chroma_token.get_secret_value()
                                         if settings.chroma_token else None),
                           lock_timeout=settings.lock_timeout_s)
        self._ranker = ranker
        self._answerers: dict[str, Answerer] = {}
        self._lock = threading.RLock()

    # -- building -------------------------------------------------------------------------

    def embedder(self) -> SentenceEmbedder:
        """The configured embedder (loaded on first use)."""
        return make_embedder(self.embedder_spec)

    def ranker(self) -> RankerModel:
        """The ranker model (loaded on first use)."""
        if self._ranker is None:
            self._ranker = load_model()
        return self._ranker

    def indexer(self) -> Indexer:
        """An indexer over this engine's store and embedder."""
        return Indexer(self.store, self.embedder, self.embedder_spec)

    def index_files(self, paths: list[Path], rebuild: bool = False,
                    notice: Notice = _quiet) -> list[IndexResult]:
        """Index article files under the writer lock."""
        results = []
        with self.store.writer():
            indexer = self.indexer()
            for path in paths:
                result = indexer.index_file(path, rebuild=rebuild)
                self._forget(result.article.id)
                notice(f"{'unchanged' if result.skipped else 'indexed'} {result.article.id}: "
                       f"{result.manifest.sentence_count} sentences ({path})")
                results.append(result)
        return results

    def index_text(self, text: str, article_id: str | None = None) -> str:
        """Index an article given as text (an eval `context`); returns its id."""
        article = article_from_text(text, article_id or inline_id(text))
        current = self.store.manifest(article.id, self.embedder_spec)
        if current is not None and current.article_sha256 == article.sha256 and \
                current.chunker_version == CHUNKER_VERSION:
            return article.id
        with self.store.writer():
            self.indexer().index_article(article)
        self._forget(article.id)
        return article.id

    def _forget(self, article_id: str) -> None:
        with self._lock:
            self._answerers.pop(article_id, None)

    def resolve_article(self, ref: str | None = None, notice: Notice = _quiet) -> str:
        """The id of the article to answer from: `ref` (an id or a file path), else the
        configured one, else the bundled article; a path is indexed first when needed."""
        ref = ref or self.settings.article
        if ref is None:
            path = bundled_article_path()
        else:
            known = {m.article_id for m in self.store.manifests()
                     if m.embedder == self.embedder_spec}
            if ref in known:
                return ref
            path = Path(ref).expanduser()
            if not path.exists():
                if ref in self.store.sources():
                    return self._build_missing(ref, notice)
                raise ArticleNotFoundError(
                    f"{ref!r} is neither an indexed article id nor a file; "
                    "see `articlebot articles`")
        article_id = self.indexer().article_id_for(path)
        manifest = self.store.manifest(article_id, self.embedder_spec)
        if manifest is None:
            notice(f"building the index for {path.name} first ...")
            self.index_files([path], notice=notice)
            return article_id
        from index.article import read_article

        if read_article(path).sha256 != manifest.article_sha256:
            notice(f"{path.name} changed; rebuilding its index ...")
            self.index_files([path], notice=notice)
        return article_id

    def _build_missing(self, article_id: str, notice: Notice) -> str:
        """An article stored for another embedder: index it for this one."""
        article = self.store.article(article_id)
        notice(f"building the {self.embedder_spec} index for {article_id} first ...")
        with self.store.writer():
            self.indexer().index_article(article)
        self._forget(article_id)
        return article_id

    # -- answering ------------------------------------------------------------------------

    def answerer(self, article_id: str) -> Answerer:
        """The answer chain for an article, loaded once and cached."""
        with self._lock:
            if article_id in self._answerers:
                return self._answerers[article_id]
        manifest = self.store.manifest(article_id, self.embedder_spec)
        if manifest is None:
            raise ArticleNotFoundError(
                f"article {article_id!r} has no {self.embedder_spec} index in "
                f"{self.store.describe()}; run `articlebot index`")
        embedder = self.embedder()
        self.store.check(manifest, embedder.dimension, CHUNKER_VERSION)
        article = self.store.article(article_id)
        sentences, _ = self.store.sentences(manifest)
        index = load_index(article, manifest, sentences,
                           self.store.vectorstore(manifest, embedder))
        retriever = SentenceRetriever(index=index, embedder=embedder, model=self.ranker(),
                                      k=self.settings.ranking_size)
        answerer = Answerer(retriever, max_citations=self.settings.max_citations,
                            ranking_size=self.settings.ranking_size)
        with self._lock:
            self._answerers[article_id] = answerer
        return answerer

    def ask(self, question: str, article_id: str, item_id: str | None = None,
            query: str | None = None) -> Answer:
        """Answer one question about an indexed article."""
        cleaned = clean_question(question, self.settings.max_question_chars)
        answer = self.answerer(article_id).answer(cleaned, query=query)
        if item_id is not None:
            import dataclasses

            answer = dataclasses.replace(answer, id=item_id)
        return answer
