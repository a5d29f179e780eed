"""Training batches: (question, sentence) pairs as token ids, one list per question,
batches of similar length, and the frozen lower layers' output cached per pair."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bot.ranking.e5tokenizer import E5Tokenizer
from bot.training.reranker.candidates import QuestionLists
from bot.training.reranker.model import CrossEncoder
from bot.training.reranker.recipe import TrainSettings


class PairEncoder:
    """Token ids of (question, sentence) pairs, with the pieces cached by text."""

    def __init__(self, tokenizer: E5Tokenizer, max_len: int, max_question: int) -> None:
        self.tok = tokenizer
        self.max_len = max_len
        self.max_question = max_question
        self._cache: dict[str, list[int]] = {}

    def _ids(self, text: str) -> list[int]:
        got = self._cache.get(text)
        if got is None:
            got = self._cache[text] = self.tok.content_ids(text)
        return got

    def pair(self, question: str, sentence: str) -> list[int]:
        """<s> query: question </s> passage: sentence </s>, cut to the length limit."""
        from bot.ranking.e5tokenizer import PASSAGE_PREFIX, QUERY_PREFIX

        q = self._ids(QUERY_PREFIX + question)[: self.max_question]
        s = self._ids(PASSAGE_PREFIX + sentence)[: max(1, self.max_len - len(q) - 3)]
        return [self.tok.bos, *q, self.tok.eos, *s, self.tok.eos]


def padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids and mask of a batch, padded to its longest row."""
    n = max(len(r) for r in rows)
    ids = torch.full((len(rows), n), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.float32)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1.0
    return ids, mask


@dataclass(frozen=True)
class TrainList:
    """One training question: its own list (gold inside) and another passage's list, with
    the first stage's score of each pair."""

    own: tuple[tuple[int, ...], ...]
    gold: tuple[bool, ...]
    other: tuple[tuple[int, ...], ...]
    own_first: tuple[float, ...]
    other_first: tuple[float, ...]

    @property
    def tokens(self) -> int:
        """Tokens in all its pairs (for bucketing by length)."""
        return sum(map(len, self.own)) + sum(map(len, self.other))


def make_train_lists(
    lists: Sequence[QuestionLists], pairs: PairEncoder, settings: TrainSettings
) -> list[TrainList]:
    """Token ids of each question's lists; questions whose own list holds no gold are left
    out (there is nothing to learn the ranking from)."""
    out = []
    for q in lists:
        own = q.own.top(settings.k)
        if not own.gold.any():
            continue
        other: tuple[tuple[int, ...], ...] = ()
        other_first: tuple[float, ...] = ()
        if q.other is not None:
            other = tuple(
                tuple(pairs.pair(own.question, s)) for s in q.other.sentences[: settings.other_k]
            )
            other_first = tuple(float(x) for x in q.other.first_stage[: settings.other_k])
        out.append(
            TrainList(
                own=tuple(tuple(pairs.pair(own.question, s)) for s in own.sentences),
                gold=tuple(bool(g) for g in own.gold),
                other=other,
                own_first=tuple(float(x) for x in own.first_stage),
                other_first=other_first,
            )
        )
    return out


def batches(items: Sequence[TrainList], per_step: int, seed: int) -> list[list[int]]:
    """One epoch's batches of item indices: shuffled, then sorted by length within pools of
    a few dozen steps so that padding stays small, then the batches shuffled again."""
    rng = random.Random(seed)
    order = list(range(len(items)))
    rng.shuffle(order)
    pool = per_step * 32
    out: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: items[i].tokens)
        out += [chunk[j : j + per_step] for j in range(0, len(chunk), per_step)]
    rng.shuffle(out)
    return out


class FrozenCache:
    """The frozen lower layers' output of each training pair, computed once: they do not
    change, so from the second epoch on only the trained layers run (a third less time a
    step). Each row is kept without padding (padding is masked out of attention, so a row's
    states do not depend on the batch it was computed in), in bfloat16 to halve the memory."""

    def __init__(self, model: CrossEncoder, pad: int, frozen: int) -> None:
        self.model, self.pad, self.frozen = model, pad, frozen
        self.rows: dict[tuple[int, ...], torch.Tensor] = {}

    def batch(self, rows: Sequence[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded hidden states and mask of `rows`, computing those not yet cached."""
        todo = list(dict.fromkeys(r for r in rows if r not in self.rows))
        if todo:
            ids, mask = padded(todo, self.pad)
            hidden = self.model.frozen_rows(ids, mask, self.frozen)
            for i, r in enumerate(todo):
                self.rows[r] = hidden[i, : len(r)].to(torch.bfloat16).clone()
        n = max(len(r) for r in rows)
        out = torch.zeros((len(rows), n, self.model.head.in_features))
        mask = torch.zeros((len(rows), n))
        for i, r in enumerate(rows):
            out[i, : len(r)] = self.rows[r].float()
            mask[i, : len(r)] = 1.0
        return out, mask
