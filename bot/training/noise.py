"""Question noise: training questions rewritten the way readers type them.

NorQuAD's questions were written by annotators looking at the passage: well spelt, with the
passage's own words. Readers type lowercase, without æøå, with typos, without the question
mark, or as two or three key words. Each noisy copy keeps its item's context and answer
spans, so it trains the ranker and the abstainer on questions whose words match the answer
sentence less well than the annotators' did. Every rewrite is seeded, so a training run is
reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.ranking.lexicon import FUNCTION_WORDS, STOP_WORDS
from bot.training.examples import AnswerSpan, QAItem

_ASCII_FOLD = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "Æ": "Ae", "Ø": "O", "Å": "A"})
_KEYBOARD_NEIGHBOURS = {
    "a": "sq",
    "e": "wr",
    "i": "uo",
    "o": "ip",
    "n": "bm",
    "r": "et",
    "s": "ad",
    "t": "ry",
    "l": "k",
    "k": "jl",
}


@dataclass(frozen=True)
class NoisyItem:
    """A training item whose question was rewritten; context and spans are the original's."""

    question: str
    context: str | None
    spans: Sequence[AnswerSpan]
    answerable: bool
    noise: str


def lowercase(question: str, rng: random.Random) -> str:
    """All lowercase, as on a phone with the shift key ignored."""
    return question.lower()


def fold_letters(question: str, rng: random.Random) -> str:
    """æ, ø and å typed as ae, o and a (a keyboard without them)."""
    return question.translate(_ASCII_FOLD)


def no_mark(question: str, rng: random.Random) -> str:
    """The question mark and the capital letter left out."""
    q = question.rstrip(" ?.!")
    return q[:1].lower() + q[1:]


def typos(question: str, rng: random.Random) -> str:
    """One or two words of five letters or more misspelt: a letter dropped, doubled, swapped
    with its neighbour or replaced by one next to it on the keyboard."""
    words = question.split(" ")
    long_words = [k for k, w in enumerate(words) if sum(c.isalpha() for c in w) >= 5]
    for k in rng.sample(long_words, min(len(long_words), rng.choice((1, 2)))):
        w = words[k]
        i = rng.randrange(1, len(w) - 1)
        kind = rng.randrange(4)
        if kind == 0:
            w = w[:i] + w[i + 1 :]
        elif kind == 1:
            w = w[:i] + w[i] + w[i:]
        elif kind == 2:
            w = w[: i - 1] + w[i] + w[i - 1] + w[i + 1 :]
        else:
            near = _KEYBOARD_NEIGHBOURS.get(w[i].lower())
            if near:
                w = w[:i] + rng.choice(near) + w[i + 1 :]
        words[k] = w
    return " ".join(words)


def keywords(question: str, rng: random.Random) -> str:
    """Only the content words, as typed into a search box ("kim russland reise")."""
    words = [w.strip("?.,!:;\"'()") for w in question.split()]
    kept = [
        w
        for w in words
        if w and w.lower() not in STOP_WORDS and w.lower() not in FUNCTION_WORDS and len(w) > 2
    ]
    if len(kept) > 4:
        kept = rng.sample(kept, 4)
    return " ".join(kept).lower() if kept else question


NOISES: dict[str, Callable[[str, random.Random], str]] = {
    "lowercase": lowercase,
    "fold": fold_letters,
    "no_mark": no_mark,
    "typos": typos,
    "keywords": keywords,
}


def messy(question: str, rng: random.Random) -> tuple[str, str]:
    """One reader's rewrite: one to three of the noises, in a fixed order so that keyword
    forms are misspelt after they are cut, never the reverse. Returns (question, names)."""
    chosen = sorted(rng.sample(list(NOISES), rng.choice((1, 2, 3))), key=list(NOISES).index)
    if "keywords" in chosen:
        chosen.remove("keywords")
        chosen.insert(0, "keywords")
    out = question
    for name in chosen:
        out = NOISES[name](out, rng)
    return out, "+".join(chosen)


def noisy_copies(items: Sequence[QAItem], share: float, seed: int) -> list[NoisyItem]:
    """A messy copy of a `share` of the items (drawn with `seed`), each with its context and
    answer spans, for training beside the originals."""
    rng = random.Random(seed)
    chosen = [i for i in items if rng.random() < share]
    out = []
    for item in chosen:
        question, names = messy(item.question, rng)
        if question != item.question:
            out.append(NoisyItem(question, item.context, item.spans, item.answerable, names))
    return out
