"""The eval's short-answer figure: drawn from the short answers shown, most confident first."""

from __future__ import annotations

from pathlib import Path

from bot.eval.metrics import Scored
from bot.eval.plots import plot_short_answers


def _item(right: float | None, confidence: float | None) -> Scored:
    shown = right is not None
    return Scored(
        answerable=True,
        exact_match=0.0,
        f1=0.0,
        short_shown=shown,
        short_scores=(right, right, right) if right is not None else None,
        short_confidence=confidence,
    )


def test_the_short_answer_figure_is_drawn_when_one_was_shown(tmp_path: Path) -> None:
    items = [_item(1.0, 0.99), _item(0.0, 0.95), _item(1.0, 0.97), _item(None, None)]
    assert plot_short_answers(items, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_short_answer_no_figure(tmp_path: Path) -> None:
    assert not plot_short_answers([_item(None, None)], tmp_path / "s.png")
    assert not (tmp_path / "s.png").exists()
