"""data/devset.jsonl, the readers' development set: every item is well-formed and its gold
is where it says, in its own article, as eval will find it (data/README.md)."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import pytest

from bot.eval.outcome import gold_ids
from bot.eval.qafile import QAItem, read_qa_file
from core.records import Sentence
from core.text import fold_spaces as fold
from index.article import read_article
from index.sentence import split_article
from tests.conftest import ARTICLE, DATA, REPO

DEVSET = DATA / "devset.jsonl"
CATEGORIES = (
    "paraphrase",
    "messy",
    "nynorsk",
    "swedish",
    "danish",
    "english",
    "yesno",
    "two_sentences",
    "overview",
    "unanswerable_same_topic",
    "false_premise",
    "followup",
)
LANG_OF = {"nynorsk": "nn", "swedish": "sv", "danish": "da", "english": "en"}


@pytest.fixture(scope="module")
def items() -> list[QAItem]:
    qa = read_qa_file(DEVSET)
    assert qa.warnings == []  # no unknown field, no answerable item without gold
    return qa.items


@pytest.fixture(scope="module")
def sentences(items: list[QAItem]) -> dict[str, list[Sentence]]:
    return {
        ref: split_article(read_article(Path(ref)))
        for ref in {i.article for i in items if i.article is not None}
    }


def test_every_item_names_an_article_file_in_the_repo(items: list[QAItem]) -> None:
    raw = [json.loads(line) for line in DEVSET.read_text(encoding="utf-8").splitlines()]
    for row, item in zip(raw, items, strict=True):
        assert not Path(row["article"]).is_absolute(), row["id"]  # relative to the repo
        assert item.article == str((REPO / row["article"]).resolve()), row["id"]
        assert item.context is None


def test_the_set_spans_the_bundled_article_and_five_written_ones(items: list[QAItem]) -> None:
    by_article = Counter(Path(i.article or "").resolve() for i in items)
    assert len(items) >= 150
    assert by_article[ARTICLE.resolve()] >= 30
    others = [a for a in by_article if a != ARTICLE.resolve()]
    assert len(others) >= 5
    for path in others:
        assert path.parent == (DATA / "articles").resolve()
        words = len(path.read_text(encoding="utf-8").split())
        assert 300 <= words <= 700, path
        assert by_article[path] >= 20, path


def test_categories_are_known_and_evenly_spread(items: list[QAItem]) -> None:
    counts = Counter(i.category for i in items)
    assert set(counts) == set(CATEGORIES)
    assert min(counts.values()) >= 10 and max(counts.values()) <= 20
    for item in items:
        assert item.lang in ("nb", "nn", "sv", "da", "en"), item.id
        if item.category in LANG_OF:
            assert item.lang == LANG_OF[item.category], item.id


def test_answerable_items_have_evidence_and_the_unanswerable_have_none(items: list[QAItem]) -> None:
    for item in items:
        unanswerable = item.category == "unanswerable_same_topic"
        assert item.answerable is not unanswerable, item.id
        assert bool(item.evidence) is not unanswerable, item.id


def test_evidence_is_verbatim_and_inside_one_sentence(
    items: list[QAItem], sentences: dict[str, list[Sentence]]
) -> None:
    """Each evidence string occurs in its article exactly as written, and inside a single
    sentence as eval splits it (else eval would find no gold sentence for it)."""
    for item in items:
        assert item.article is not None
        text = read_article(Path(item.article)).text
        units = sentences[item.article]
        for evidence in item.evidence:
            assert evidence in text, (item.id, evidence)
            assert any(fold(evidence) in fold(s.text) for s in units), (item.id, evidence)


def test_answers_are_verbatim_spans_of_a_gold_sentence(
    items: list[QAItem], sentences: dict[str, list[Sentence]]
) -> None:
    for item in items:
        assert item.article is not None
        units = sentences[item.article]
        gold = gold_ids(item, units)
        gold_texts = [s.text for s in units if s.id in gold]
        for answer in item.answers:
            assert any(answer in t for t in gold_texts), (item.id, answer)


def test_two_sentence_items_need_two_sentences(
    items: list[QAItem], sentences: dict[str, list[Sentence]]
) -> None:
    for item in items:
        if item.category == "two_sentences":
            assert item.article is not None
            assert len(gold_ids(item, sentences[item.article])) >= 2, item.id


def test_follow_ups_carry_the_conversation_before_them(items: list[QAItem]) -> None:
    for item in items:
        if item.category != "followup":
            assert item.history == (), item.id
            continue
        roles = [role for role, _ in item.history]
        assert roles and roles[0] == "user" and roles[-1] == "assistant", item.id
        assert all(a != b for a, b in itertools.pairwise(roles)), item.id
