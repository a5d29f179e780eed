from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.ranking.features import FEATURE_NAMES
from bot.ranking.model import ABSTAIN_FEATURES, LANGUAGE_BOUND_FEATURES, hand_model, load_model
from core.errors import ConfigError


def test_shipped_model_is_trained_and_complete() -> None:
    model = load_model()
    assert model.meta["source"] == "articlebot train-ranker"
    assert len(model.meta["train_sha256"]) == 64
    for variant in (model.lexical, model.crosslingual):
        assert variant.ranker.names == FEATURE_NAMES
        assert variant.abstainer.names == ABSTAIN_FEATURES
        assert 0.0 < variant.abstain_below < 1.0
    # the cross-lingual ranker gives no weight to features that compare words
    dropped = [FEATURE_NAMES.index(n) for n in LANGUAGE_BOUND_FEATURES]
    assert np.all(model.crosslingual.ranker.coef[dropped] == 0.0)
    assert np.any(model.lexical.ranker.coef[dropped] != 0.0)


def test_variant_by_language() -> None:
    model = load_model()
    assert model.variant("nb") is model.lexical
    assert model.variant("nn") is model.lexical
    assert model.variant("en") is model.crosslingual
    assert model.variant("de") is model.crosslingual


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(load_model().to_json()))
    again = load_model(path)
    assert np.allclose(again.lexical.ranker.coef, load_model().lexical.ranker.coef)
    assert again.lexical.abstain_below == load_model().lexical.abstain_below


def test_bad_files_are_config_errors(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    with pytest.raises(ConfigError, match="cannot read"):
        load_model(missing)
    broken = tmp_path / "broken.json"
    broken.write_text('{"lexical": 1}')
    with pytest.raises(ConfigError, match="malformed"):
        load_model(broken)
    other = hand_model().to_json()
    other["lexical"]["ranker"]["names"] = ["dense"]
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(other))
    with pytest.raises(ConfigError, match="train-ranker"):
        load_model(stale)
