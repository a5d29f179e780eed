"""The language-model path's latency: time to the first text and to the checked answer.

No model can run here, so the bench starts the scripted OpenAI-compatible server
(`bot.eval.fake_llm`) on loopback, writing a fixed reply a few characters at a time at a set
pace, and asks through the whole answer path (`Engine.events`, exactly as the terminal, the
web chat and the HTTP API do). What is measured is articlebot's share: how soon the first
checked text reaches the caller, and how long after the model's last piece the checked answer
comes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.eval.fake_llm import Script, scripted_server
from bot.events import Delta, Final

if TYPE_CHECKING:
    from bot.settings import Settings

REPLY = (
    "Sergej Radtsjenko er professor ved Henry A Kissinger Center [1], og han mener at "
    "Russlands jakt på våpen tyder på desperasjon i Kreml [2]."
)


def measure_llm_path(
    settings: Settings,
    store: Path,
    questions: Sequence[str],
    piece_delay_s: float = 0.05,
    piece_chars: int = 4,
) -> dict[str, Any]:
    """Median time to the first text and to the final answer over `questions`, with the
    scripted model writing `piece_chars` characters every `piece_delay_s` seconds."""
    from bot.engine import Engine

    script = Script(reply=REPLY, piece_delay_s=piece_delay_s, piece_chars=piece_chars)
    pieces = -(-len(REPLY) // piece_chars)
    first_ms, final_ms, backends = [], [], set()
    with scripted_server(script) as (url, _):
        engine = Engine(
            settings.model_copy(
                update={
                    "store": store,
                    "llm": "openai",
                    "llm_base_url": url,
                    "llm_model": "scripted",
                }
            )
        )
        article = engine.resolve_article()
        engine.ask(questions[0], article)  # warm: the index and the client are loaded
        for question in questions:
            t0 = time.perf_counter()
            first = None
            for event in engine.events(question, article):
                if isinstance(event, Delta) and first is None:
                    first = time.perf_counter() - t0
                elif isinstance(event, Final):
                    final_ms.append((time.perf_counter() - t0) * 1000)
                    backends.add(event.answer.backend)
            first_ms.append((first if first is not None else float("nan")) * 1000)
    writing_ms = pieces * piece_delay_s * 1000
    return {
        "questions": len(questions),
        "reply_pieces": pieces,
        "model_writing_ms": round(writing_ms, 1),
        "first_text_p50_ms": round(statistics.median(first_ms), 1),
        "final_p50_ms": round(statistics.median(final_ms), 1),
        "after_last_piece_p50_ms": round(statistics.median(final_ms) - writing_ms, 1),
        "backends": sorted(backends),
    }


def render_llm(report: dict[str, Any]) -> str:
    """The LLM path's figures as two lines of text."""
    return (
        f"LLM path (scripted model, {report['reply_pieces']} pieces over "
        f"{report['model_writing_ms']:.0f} ms): first text p50 "
        f"{report['first_text_p50_ms']:.1f} ms, checked answer p50 "
        f"{report['final_p50_ms']:.1f} ms ({report['after_last_piece_p50_ms']:+.1f} ms "
        f"after the model's last piece); {report['questions']} questions"
    )
