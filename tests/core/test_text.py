"""The shared text rules: cleaning (what is stored) and the three folds (how text is compared)."""

from __future__ import annotations

from core.text import clean_text, fold, fold_spaces, fold_words


def test_the_folds_differ_only_in_what_they_say() -> None:
    text = "FIre  I\u0307STANBUL,\nsa «Han»."
    assert fold(text) == "fire  i̇stanbul,\nsa «han»."  # NFC, case folding
    assert fold_spaces(text) == "fire i̇stanbul, sa «han»."
    assert fold_words(text) == "fire i stanbul sa han"


def test_clean_text_drops_invisible_characters_and_keeps_lines() -> None:
    assert clean_text("a\u200bb\r\nc\td\u2028e") == "ab\nc d\ne"
