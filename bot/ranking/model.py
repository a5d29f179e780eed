"""The learned ranker and abstention decision: small linear models over `features`.

Both are logistic regressions trained on NorQuAD train by `articlebot train-ranker` and
shipped as JSON (`bot/data/ranker.json`, with the training data's sha256): plain numbers,
no pickle, readable in a diff. Without the file, hand-set weights fuse dense and BM25.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from bot.ranking.features import FEATURE_NAMES
from core.errors import ConfigError
from core.files import MODEL_FILE_LIMIT, read_text_bounded

ABSTAIN_FEATURES: tuple[str, ...] = (
    "top_score",
    "margin",
    "top_dense",
    "top_dense_z",
    "top_bm25",
    "top_bm25_rel",
    "max_term_overlap",
    "max_name_overlap",
    "q_terms_in_article",
    "q_names_in_article",
    "q_has_names",
    "max_dense",
    "dense_spread",
    "asks_type_match",
    "max_idf_overlap",
    "max_cognate_overlap",
    "q_cognates_in_article",
    "top_idf_overlap",
    "top_cognate_overlap",
    "q_numbers_in_article",
)


@dataclass(frozen=True)
class LinearModel:
    """A standardised linear model: sigmoid(((x - mean) / scale) . coef + intercept)."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def decision(self, x: np.ndarray) -> np.ndarray:
        """The linear score (log-odds) of each row."""
        return np.asarray(((x - self.mean) / self.scale) @ self.coef + self.intercept)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """The probability of the positive class for each row."""
        return np.asarray(1.0 / (1.0 + np.exp(-self.decision(x))))

    def to_json(self) -> dict[str, Any]:
        """The model as JSON-ready data."""
        return {
            "names": list(self.names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearModel:
        """Read a model written by `to_json`."""
        return cls(
            names=tuple(data["names"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
        )


# The ranking features that count shared words (BM25, overlaps, cognates, and what is built
# from them): the ones a question in other words loses. Training drops them for a share of
# its lists ("lexical dropout") so the ranker cannot lean on them alone.
WORD_BOUND_FEATURES = frozenset(
    {
        "bm25",
        "bm25_z",
        "bm25_rel",
        "bm25_rank_recip",
        "term_overlap",
        "term_overlap_any",
        "prev_bm25_rel",
        "next_bm25_rel",
        "dense_x_bm25",
        "fused_z",
        "idf_overlap",
        "new_terms",
        "bigram_overlap",
        "cognate_overlap",
        "cognate_z",
    }
)
# The cross-lingual variant ranks questions in other languages than the article's, so it does
# not use what moves when the same question comes in another language: word overlap (it
# means nothing across languages), raw cosines and their differences (they run lower and
# closer together across languages), and absolute cognate overlap (English shares fewer
# cognates than Norwegian shares words). The within-article cognate z-score stays: with
# names, numbers, question type and the dense z-scores and ranks it is comparable.
LANGUAGE_BOUND_FEATURES = (WORD_BOUND_FEATURES - {"cognate_z"}) | {"dense", "dense_margin"}
LANGUAGE_BOUND_ABSTAIN_FEATURES = frozenset(
    {
        "top_dense",
        "max_dense",
        "top_bm25",
        "top_bm25_rel",
        "max_term_overlap",
        "q_terms_in_article",
        "max_idf_overlap",
        "top_idf_overlap",
        "max_cognate_overlap",
        "q_cognates_in_article",
        "top_cognate_overlap",
        "dense_spread",
    }
)
# The abstention features that count shared words: a question in other words loses them
# just as a question about another document does.
WORD_BOUND_ABSTAIN_FEATURES = LANGUAGE_BOUND_ABSTAIN_FEATURES - {
    "top_dense",
    "max_dense",
    "dense_spread",
}
# Languages whose words a Norwegian article shares closely enough for lexical matching.
LEXICAL_LANGUAGES = frozenset({"nb", "nn", "no", "da"})


def _hand_ranker() -> LinearModel:
    coef = np.zeros(len(FEATURE_NAMES))
    coef[FEATURE_NAMES.index("dense_z")] = 1.0
    coef[FEATURE_NAMES.index("bm25_z")] = 0.6
    n = len(FEATURE_NAMES)
    return LinearModel(FEATURE_NAMES, np.zeros(n), np.ones(n), coef, 0.0)


def _hand_abstainer() -> LinearModel:
    coef = np.zeros(len(ABSTAIN_FEATURES))
    coef[ABSTAIN_FEATURES.index("top_dense_z")] = 1.0
    n = len(ABSTAIN_FEATURES)
    return LinearModel(ABSTAIN_FEATURES, np.zeros(n), np.ones(n), coef, -2.0)


@dataclass(frozen=True)
class Variant:
    """A ranker, an abstainer and its threshold, for one kind of question."""

    ranker: LinearModel
    abstainer: LinearModel
    abstain_below: float

    def to_json(self) -> dict[str, Any]:
        """The variant as JSON-ready data."""
        return {
            "ranker": self.ranker.to_json(),
            "abstainer": self.abstainer.to_json(),
            "abstain_below": self.abstain_below,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Variant:
        """Read a variant written by `to_json`."""
        return cls(
            ranker=LinearModel.from_json(data["ranker"]),
            abstainer=LinearModel.from_json(data["abstainer"]),
            abstain_below=float(data["abstain_below"]),
        )


@dataclass(frozen=True)
class RankerModel:
    """The shipped models: one variant for questions in the article's language, one for
    questions in other languages; with provenance."""

    lexical: Variant
    crosslingual: Variant
    second_citation_within: float
    meta: dict[str, Any]

    def variant(self, language: str) -> Variant:
        """The variant for a question in `language`."""
        return self.lexical if language in LEXICAL_LANGUAGES else self.crosslingual

    def to_json(self) -> dict[str, Any]:
        """The whole model file as JSON-ready data."""
        return {
            "lexical": self.lexical.to_json(),
            "crosslingual": self.crosslingual.to_json(),
            "second_citation_within": self.second_citation_within,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RankerModel:
        """Read a model file written by `to_json`."""
        return cls(
            lexical=Variant.from_json(data["lexical"]),
            crosslingual=Variant.from_json(data["crosslingual"]),
            second_citation_within=float(data["second_citation_within"]),
            meta=dict(data.get("meta", {})),
        )


def logit(p: float) -> float:
    """The log-odds of a probability (clipped away from 0 and 1)."""
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def hand_model() -> RankerModel:
    """Fallback weights, used when no trained model file exists."""
    variant = Variant(_hand_ranker(), _hand_abstainer(), 0.5)
    return RankerModel(variant, variant, 0.0, {"source": "hand-set"})


def load_model(path: Path | None = None) -> RankerModel:
    """Load the ranker file (default: the one shipped in the package)."""
    if path is None:
        ref = resources.files("bot") / "data" / "ranker.json"
        if not ref.is_file():
            return hand_model()
        data = json.loads(ref.read_text(encoding="utf-8"))
    else:
        text = read_text_bounded(
            path, MODEL_FILE_LIMIT, ConfigError, f"cannot read the ranker file {path}"
        )
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"cannot read the ranker file {path}: {exc}") from None
    try:
        model = RankerModel.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"the ranker file {path or 'bot/data/ranker.json'} is malformed ({exc})"
        ) from None
    for v in (model.lexical, model.crosslingual):
        if v.ranker.names != FEATURE_NAMES or v.abstainer.names != ABSTAIN_FEATURES:
            # a model from another feature set would mis-rank silently
            raise ConfigError(
                f"the ranker file {path or 'bot/data/ranker.json'} was trained "
                "on other features; retrain it with `articlebot train-ranker`"
            )
    return model
