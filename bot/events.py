"""What the one answer path yields, in order: `Retrieved`, any number of `Delta`, then one
`Final`. Every adapter consumes these: the terminal prints deltas as they come, the web chat
grows its message and then replaces it with the checked answer, the HTTP API sends them as
server-sent events, and `ask` (and eval) keep only the `Final`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.answer_records import Answer, Ranked


@dataclass(frozen=True)
class Retrieved:
    """The article's sentences ranked for the question, best first (before any answer)."""

    ranking: tuple[Ranked, ...]
    across: bool = False  # ranked across every article: each entry names its article

    def to_record(self) -> dict[str, Any]:
        """The event's data as the HTTP API sends it."""
        return {"ranking": [r.to_record(self.across) for r in self.ranking]}


@dataclass(frozen=True)
class Delta:
    """The next piece of the answer text (plain text: escape it before showing it)."""

    text: str

    def to_record(self) -> dict[str, Any]:
        """The event's data as the HTTP API sends it."""
        return {"text": self.text}


@dataclass(frozen=True)
class Final:
    """The finished answer, its citations checked; it replaces whatever deltas showed."""

    answer: Answer

    def to_record(self) -> dict[str, Any]:
        """The event's data as the HTTP API sends it: the answer record."""
        return self.answer.to_record()


Event = Retrieved | Delta | Final


def final_answer(events: Any) -> Answer:
    """Drain an event stream and return its final answer."""
    answer: Answer | None = None
    for event in events:
        if isinstance(event, Final):
            answer = event.answer
    if answer is None:
        raise RuntimeError("the answer stream ended without a final answer")
    return answer
