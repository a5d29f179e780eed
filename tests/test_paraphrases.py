"""data/norquad_paraphrases.jsonl, NorQuAD train questions reworded in readers' own words:
every line names a train question, keeps its answer out, and shares far fewer words with the
answer sentence than the annotator's question did (data/README.md)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from bot.eval.qafile import QAItem, read_qa_file
from bot.training.paraphrase import paraphrased, read_paraphrases
from index.sentence import split_sentences
from tests.conftest import DATA, dataset

PARAPHRASES = DATA / "norquad_paraphrases.jsonl"


def _words(text: str) -> set[str]:
    # content words, roughly: the function words of a question are mostly three letters or
    # fewer ("hva", "når", "den", "som")
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 3}


def _shared(question: str, item: QAItem) -> float:
    """The share of the question's content words found in its answer sentence."""
    assert item.context is not None and item.spans
    start = item.spans[0].start
    a, b = next(
        (a, b) for a, b in split_sentences(item.context, 0, len(item.context)) if a <= start < b
    )
    words = _words(question)
    return len(words & _words(item.context[a:b])) / max(1, len(words))


def _train() -> Sequence[QAItem]:
    return read_qa_file(dataset("norquad", "train.jsonl")).items


def test_every_paraphrase_rewords_an_answerable_train_question() -> None:
    reworded = read_paraphrases(PARAPHRASES)
    by_id = {i.id: i for i in _train()}
    assert len(reworded) == 2480
    added = paraphrased(list(by_id.values()), reworded, "train.jsonl")
    assert all(item.answerable and item.spans for item in added)
    for qid, question in reworded.items():
        item = by_id[qid]
        assert question != item.question
        assert all(a.lower() not in question.lower() for a in item.answers), qid


def test_paraphrases_share_few_words_with_the_answer_sentence() -> None:
    reworded = read_paraphrases(PARAPHRASES)
    by_id = {i.id: i for i in _train()}
    original = np.mean([_shared(by_id[q].question, by_id[q]) for q in reworded])
    ours = np.mean([_shared(text, by_id[q]) for q, text in reworded.items()])
    # measured when the file was written: 0.42 for the annotators' questions, 0.10 for these
    assert original > 0.38 and ours < 0.13
