from __future__ import annotations

import random

from bot.eval.qafile import QAItem, Span
from bot.training.noise import (
    fold_letters,
    keywords,
    lowercase,
    messy,
    no_mark,
    noisy_copies,
    typos,
)

QUESTION = "Hvilken avis meldte først om reisen til Kim Jong-un?"


def test_each_noise_rewrites_the_way_readers_type() -> None:
    rng = random.Random(0)
    assert lowercase(QUESTION, rng) == QUESTION.lower()
    assert fold_letters("Hvem går på skøyter i Tromsø?", rng) == "Hvem gar pa skoyter i Tromso?"
    assert no_mark(QUESTION, rng) == "hvilken avis meldte først om reisen til Kim Jong-un"
    for seed in range(10):
        words = keywords(QUESTION, random.Random(seed)).split()
        assert 1 <= len(words) <= 4
        assert set(words) <= {"avis", "meldte", "først", "reisen", "kim", "jong-un"}


def test_typos_change_one_or_two_long_words_only() -> None:
    for seed in range(30):
        out = typos(QUESTION, random.Random(seed)).split(" ")
        changed = [(a, b) for a, b in zip(QUESTION.split(" "), out, strict=True) if a != b]
        assert 0 <= len(changed) <= 2
        assert all(sum(c.isalpha() for c in a) >= 5 for a, _ in changed)
        assert all(abs(len(a) - len(b)) <= 1 for a, b in changed)


def test_messy_is_seeded_and_names_what_it_did() -> None:
    a = [messy(QUESTION, random.Random(7)) for _ in range(2)]
    assert a[0] == a[1]
    seen = {names for _, names in (messy(QUESTION, random.Random(s)) for s in range(60))}
    assert {"lowercase", "fold", "no_mark", "typos", "keywords"} <= {
        part for names in seen for part in names.split("+")
    }


def test_noisy_copies_keep_context_and_spans() -> None:
    items = [
        QAItem(
            id=str(k),
            question=f"Når skjedde hendelse nummer {k} i Tromsø?",
            answers=("i går",),
            context="Det skjedde i går i Tromsø.",
            spans=(Span(text="i går", start=12),),
        )
        for k in range(200)
    ]
    copies = noisy_copies(items, 0.5, seed=1)
    assert 60 < len(copies) < 140  # about half
    assert copies == noisy_copies(items, 0.5, seed=1)
    for c in copies:
        assert c.context == items[0].context and c.spans == items[0].spans and c.answerable
        assert c.question not in {i.question for i in items}
    assert noisy_copies(items, 0.0, seed=1) == []
