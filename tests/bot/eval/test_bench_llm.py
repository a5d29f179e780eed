"""The LLM path's bench against the scripted model server: the first text comes while the
model is still writing, the checked answer after its last piece."""

from __future__ import annotations

from pathlib import Path

from bot.eval.bench.llm_path import measure_llm_path, render_llm
from bot.settings import Settings


def test_first_text_arrives_long_before_the_checked_answer(shared_store: Path) -> None:
    report = measure_llm_path(
        Settings(),
        shared_store,
        ["Hvem er Sergej Radtsjenko?"] * 2,
        piece_delay_s=0.04,
        piece_chars=4,
    )
    assert report["backends"] == ["llm:scripted"]
    assert report["final_p50_ms"] >= report["model_writing_ms"]
    assert report["final_p50_ms"] - report["first_text_p50_ms"] > report["model_writing_ms"] / 2
    assert "first text p50" in render_llm(report)
