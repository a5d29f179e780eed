"""What the cross-encoder is trained, calibrated and measured on: the first stage's candidate
lists for NorQuAD questions.

Each question gives three lists: its own passage's top sentences by the first-stage ranker
(answerable), the same passage without the answer sentence (the same-topic unanswerable case)
and another document's passage (unanswerable). A seeded share of the training passages is held
out from fine-tuning to calibrate the answer rule. Torch-free: the calibration runs on scores
from the exported model.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.ranking.model import RankerModel, logit
from bot.training.examples import (
    Example,
    QAItem,
    first_line,
    make_example,
    negative_pairs,
    prepare_passages,
    without,
)
from index.embedder import SentenceEmbedder
from index.vectorcache import embed_questions

HELDOUT_SHARE = 0.15


@dataclass(frozen=True)
class CandidateList:
    """A question against some of a passage's sentences, best first by the first stage."""

    question: str
    sentences: tuple[str, ...]
    first_stage: np.ndarray  # the first-stage ranker's scores of `sentences`
    gold: np.ndarray  # which of `sentences` hold the answer (all False if none does)
    answerable: bool  # whether the passage holds the answer at all
    abstain_logit: float  # the first stage's answerability log-odds for the whole passage

    def top(self, k: int) -> CandidateList:
        """The first k candidates only."""
        return CandidateList(
            self.question,
            self.sentences[:k],
            self.first_stage[:k],
            self.gold[:k],
            self.answerable,
            self.abstain_logit,
        )


@dataclass(frozen=True)
class QuestionLists:
    """The three lists of one question."""

    item: QAItem
    own: CandidateList
    same_topic: CandidateList | None  # None when too little is left without the answer
    other: CandidateList | None  # None when there is no other document


def heldout_contexts(
    items: Sequence[QAItem], seed: int, share: float = HELDOUT_SHARE
) -> frozenset[str]:
    """A seeded share of the items' distinct contexts, held out from fine-tuning."""
    contexts = sorted({i.context for i in items if i.context is not None})
    random.Random(seed).shuffle(contexts)
    return frozenset(contexts[: round(len(contexts) * share)])


def heldout_items(items: Sequence[QAItem], seed: int) -> list[QAItem]:
    """The items whose passages fine-tuning holds out (`heldout_contexts`), where the answer
    rule and the span reader's confidence are fitted."""
    held = heldout_contexts(items, seed)
    return [i for i in items if i.context in held]


def heldout_extra(
    extra: Sequence[QAItem],
    primary: frozenset[str],
    held: frozenset[str],
    seed: int,
    document: Callable[[QAItem], str],
    share: float = HELDOUT_SHARE,
) -> frozenset[str]:
    """The contexts of the added items (messy copies, cross-lingual pairs, paraphrases) held
    out from fine-tuning: an added question over one of the training file's passages
    (`primary`) is held out when that passage is (`held`); of the other passages, a seeded
    share of the documents, all translations of one paragraph together, so that none of them
    is fine-tuned on."""
    docs = sorted(
        {document(i) for i in extra if i.context is not None and i.context not in primary}
    )
    random.Random(seed).shuffle(docs)
    chosen = set(docs[: round(len(docs) * share)])
    return frozenset(
        i.context
        for i in extra
        if i.context is not None
        and (i.context in held if i.context in primary else document(i) in chosen)
    )


def candidate_list(
    example: Example,
    ranker: RankerModel,
    k: int,
    language: str,
    answerable: bool,
    force_gold: bool = False,
) -> CandidateList:
    """The example's top k sentences by the first stage; with `force_gold`, the best gold
    sentence takes the last place when none made the top k (training lists need one)."""
    from bot.ranking.features import abstain_row

    variant = ranker.variant(language)
    scores = variant.ranker.decision(example.matrix)
    full = np.argsort(-scores, kind="stable")
    order = full[:k]
    if force_gold and example.gold.any() and not example.gold[order].any():
        order = np.concatenate([order[:-1], [next(i for i in full if example.gold[i])]])
    row = abstain_row(example.question, example.matrix, scores, example.passage.prepared.vocabulary)
    margin = float(variant.abstainer.decision(row[None, :])[0] - logit(variant.abstain_below))
    sentences = example.passage.prepared.sentences
    return CandidateList(
        question=example.item.question,
        sentences=tuple(sentences[i].text for i in order),
        first_stage=np.asarray(scores[order], dtype=np.float64),
        gold=np.asarray(example.gold[order], dtype=bool),
        answerable=answerable,
        abstain_logit=margin,
    )


def build_lists(
    items: Sequence[QAItem],
    embedder: SentenceEmbedder,
    cache: Path | None,
    ranker: RankerModel,
    k: int,
    seed: int,
    language_of: Callable[[str], str],
    force_gold: bool = False,
    document: Callable[[QAItem], str] = first_line,
) -> list[QuestionLists]:
    """The three candidate lists of every answerable, context-carrying item, each ranked by
    the first-stage variant for the question's language (`language_of`, the detector the
    answer path uses), as when answering (`force_gold`: see `candidate_list`). The other
    document's passage is drawn by `document` (translations of one paragraph are one)."""
    usable = [i for i in items if i.context is not None and i.spans and i.answerable]
    passages = prepare_passages([i.context or "" for i in usable], embedder, cache)
    qvecs = embed_questions([i.question for i in usable], embedder, cache)
    others = {id(it): ctx for it, ctx in negative_pairs(usable, seed, document)}
    out = []
    for n, item in enumerate(usable):
        language = language_of(item.question)
        ex = make_example(item, passages[item.context or ""], qvecs[n])
        own = candidate_list(ex, ranker, k, language, bool(ex.gold.any()), force_gold)
        same = None
        if ex.gold.any() and (~ex.gold).sum() >= 3:
            hard = make_example(item, without(ex.passage, ex.gold), qvecs[n])
            same = candidate_list(hard, ranker, k, language, False)
        other = None
        if id(item) in others:
            neg = make_example(item, passages[others[id(item)]], qvecs[n])
            other = candidate_list(neg, ranker, k, language, False)
        out.append(QuestionLists(item=item, own=own, same_topic=same, other=other))
    return out
