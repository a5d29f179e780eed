"""Which sentences an answer cites: overview sentences and dependent neighbours, on the
bundled article's real sentences and vectors."""

from __future__ import annotations

from pathlib import Path

from bot.engine import Engine
from bot.intent import Intent
from bot.settings import Settings
from bot.supporting import dependent_neighbour, overview_sentences


def test_overview_is_headline_lead_and_a_body_sentence(shared_store: Path) -> None:
    answerer = Engine(Settings(store=shared_store)).answerer("article")
    sentences = answerer.sentences
    chosen = overview_sentences(sentences, answerer.retriever.index.prepared.vectors)
    assert [sentences[i].n for i in chosen[:2]] == [2, 3]  # headline, lead
    assert sentences[chosen[0]].kind == "headline" and sentences[chosen[-1]].kind == "body"
    assert len(chosen) == 3 and chosen == sorted(chosen)


def test_reasons_follow_why_claims_and_anaphors_take_their_antecedent(shared_store: Path) -> None:
    sentences = Engine(Settings(store=shared_store)).answerer("article").sentences
    n = {s.n: i for i, s in enumerate(sentences)}
    why, fact = Intent("why"), Intent("fact")
    # 14: the claim about desperation; 15: "Dette begrunner han med ..."
    assert dependent_neighbour(sentences, n[14], why) == n[15]
    assert dependent_neighbour(sentences, n[14], fact) is None
    # 15 leans on 14 ("Dette ..."); 12 ends "... har gjort dette" and leans on 11
    assert dependent_neighbour(sentences, n[15], fact) == n[14]
    assert dependent_neighbour(sentences, n[12], fact) == n[11]
    # an ordinary sentence depends on nothing
    assert dependent_neighbour(sentences, n[10], why) is None
