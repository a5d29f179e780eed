"""Answering eval items: one engine in this process, or `--jobs N` worker processes that
each build their own engine from the same settings.

Either way every item yields its journal line (`bot.eval.journal.entry`) with its place in
the run; the caller writes the lines as they come and puts the items back in file order.
With workers, the items of one context go to one worker (its context is indexed once), the
items on the default article in small batches; a worker that uses a temporary store gets a
store of its own, so no two processes write one embedded store.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.answer_records import ALL_ARTICLES, Answer
from bot.eval.journal import entry
from bot.eval.outcome import Outcome, gold_ids, score
from bot.eval.qafile import QAItem
from bot.settings import Settings
from core.errors import ArticlebotError
from core.records import Sentence

if TYPE_CHECKING:
    from bot.engine import Engine

Notice = Callable[[str], None]
# The retrieval query of a follow-up, given the earlier turns as openai-style messages and
# the question (None: retrieve with the question). The adapters' conversation logic, passed
# in by the command line (eval sits below the adapters).
FollowUp = Callable[[list[dict[str, str]], str], str | None]
Line = tuple[int, dict[str, Any]]  # (place in the run, journal line)
BATCH = 8  # items on the default article sent to a worker at once


class ItemAnswerer:
    """Answers and scores items one at a time on one engine.

    A domain error on one item (an unusable question or context) makes that item an error
    that scores 0. Latency is the answer call alone (indexing a context is not part of it);
    one untimed warm-up question loads the models first, so the first item does not pay
    for them.
    """

    def __init__(self, engine: Engine, notice: Notice, follow_up: FollowUp | None = None) -> None:
        self.engine = engine
        self._notice = notice
        self._follow_up = follow_up
        self._articles: dict[str, str] = {}  # an item's `article` -> its id
        # `--article all`: each item is asked across every article in the store, and
        # scored against its own (its context, else the bundled article)
        self._across = engine.settings.article == ALL_ARTICLES
        self._default_article: str | None = None
        self._sentences: dict[str, Sequence[Sentence]] = {}
        self._warmed = False

    def __call__(self, item: QAItem) -> Outcome:
        engine = self.engine
        error: str | None = None
        answer: Answer | None = None
        gold: set[str] = set()
        gold_texts: list[str] = []
        article_id: str | None = None
        latency: float | None = None
        try:
            if item.context is not None:
                article_id = engine.index_text(item.context)
            elif item.article is not None:
                if item.article not in self._articles:
                    self._articles[item.article] = engine.resolve_article(
                        item.article, notice=self._notice
                    )
                article_id = self._articles[item.article]
            else:
                if self._default_article is None:
                    from bot.engine import bundled_article_path

                    own = str(bundled_article_path()) if self._across else None
                    self._default_article = engine.resolve_article(own, notice=self._notice)
                article_id = self._default_article
            if article_id not in self._sentences:
                self._sentences[article_id] = engine.sentences(article_id)
            sentences = self._sentences[article_id]
            gold = gold_ids(item, sentences)
            gold_texts = [s.text for s in sentences if s.id in gold]
            asked = ALL_ARTICLES if self._across else article_id
            if not self._warmed:
                self._warmed = True
                with contextlib.suppress(ArticlebotError):
                    engine.ask(item.question, asked)
            query = None
            if item.history and self._follow_up is not None:
                query = self._follow_up(
                    [{"role": r, "content": c} for r, c in item.history], item.question
                )
            t0 = time.perf_counter()
            try:
                answer = engine.ask(item.question, asked, item_id=item.id, query=query)
            finally:
                latency = (time.perf_counter() - t0) * 1000
        except ArticlebotError as exc:
            error = str(exc)
        return score(item, answer, gold, error, latency, gold_texts, article_id)


def index_collection(items: Sequence[QAItem], settings: Settings, notice: Notice) -> None:
    """For `--article all`: index every item's context or article (and the bundled article,
    for items without either) before any question, so that each is asked across all of
    them."""
    from bot.engine import Engine, bundled_article_path

    engine = Engine(settings)
    contexts = list(dict.fromkeys(i.context for i in items if i.context is not None))
    notice(f"--article all: indexing {len(contexts)} contexts first ...")
    engine.index_texts(contexts)
    for ref in dict.fromkeys(i.article for i in items if i.article is not None):
        engine.resolve_article(ref, notice=notice)
    if any(i.context is None and i.article is None for i in items):
        engine.resolve_article(str(bundled_article_path()), notice=notice)


def answer_here(
    todo: Sequence[tuple[int, QAItem]],
    settings: Settings,
    notice: Notice,
    follow_up: FollowUp | None = None,
) -> Iterator[Line]:
    """The items answered in this process, in the order given."""
    from bot.engine import Engine  # it loads Chroma

    answerer = ItemAnswerer(Engine(settings), notice, follow_up)
    for n, item in todo:
        yield n, entry(n, answerer(item))


def units(todo: Sequence[tuple[int, QAItem]]) -> list[list[tuple[int, QAItem]]]:
    """The work for the workers: the items of each context or article together (in the
    order they first appear), the items on the default article in batches of BATCH."""
    by_context: dict[tuple[str, str], list[tuple[int, QAItem]]] = {}
    plain: list[list[tuple[int, QAItem]]] = []
    order: list[list[tuple[int, QAItem]]] = []
    for n, item in todo:
        key = (
            ("context", item.context)
            if item.context is not None
            else ("article", item.article)
            if item.article is not None
            else None
        )
        if key is not None:
            unit = by_context.get(key)
            if unit is None:
                unit = by_context[key] = []
                order.append(unit)
            unit.append((n, item))
        else:
            if not plain or len(plain[-1]) >= BATCH:
                plain.append([])
                order.append(plain[-1])
            plain[-1].append((n, item))
    return order


def answer_in_workers(
    todo: Sequence[tuple[int, QAItem]],
    settings: Settings,
    jobs: int,
    private_stores: Path | None,
    quiet: bool,
    follow_up: FollowUp | None = None,
) -> Iterator[Line]:
    """The items answered by `jobs` worker processes, as each batch completes. With
    `private_stores`, each worker keeps its store in a folder of its own under it.

    A worker that dies (killed, out of memory) stops the run with an ArticlebotError; the
    lines already yielded stay valid."""
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // jobs)
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(settings, private_stores, quiet, threads, follow_up),
    )
    try:
        futures: list[Future[list[Line]]] = [
            pool.submit(_answer_unit, unit) for unit in units(todo)
        ]
        for future in as_completed(futures):
            yield from future.result()
    except BrokenProcessPool:
        raise ArticlebotError(
            "a worker process died before the run was done; the items "
            "answered so far are kept: rerun with --resume"
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- inside a worker process ------------------------------------------------------------------

_ANSWERER: list[ItemAnswerer] = []  # this worker's one answerer
_FAILED: list[ArticlebotError] = []  # or why it could not be built


def _start_worker(
    settings: Settings,
    private_stores: Path | None,
    quiet: bool,
    threads: int,
    follow_up: FollowUp | None = None,
) -> None:
    """Build this worker's engine. Ctrl-C is the parent's to handle: it stops the run
    and the workers with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the embedder's OpenMP threads: the cores shared out between the workers (set before
    # the engine loads it; a user's own setting wins)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if private_stores is not None:
        settings = settings.model_copy(update={"store": private_stores / f"worker-{os.getpid()}"})
    from bot.engine import Engine

    def notice(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    try:
        _ANSWERER.append(ItemAnswerer(Engine(settings), notice, follow_up))
    except ArticlebotError as exc:
        # raised again with the first batch: an initializer's own error would only say
        # that the pool broke
        _FAILED.append(exc)


def _answer_unit(unit: list[tuple[int, QAItem]]) -> list[Line]:
    if _FAILED:
        raise _FAILED[0]
    answerer = _ANSWERER[0]
    return [(n, entry(n, answerer(item))) for n, item in unit]
