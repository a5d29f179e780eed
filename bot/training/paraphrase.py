"""Paraphrased training questions: a training file's questions asked again in a reader's own
words, written by hand.

NorQuAD's annotators wrote their questions looking at the passage, so a question shares most
of its content words with its answer sentence. Messy copies (`bot.training.noise`) change how
a question is typed, not which words it uses, and cross-lingual pairs change the language. A
paraphrase file holds the same questions reworded the way a reader who no longer has the text
in front of them asks: other words for the sentence's nouns and verbs, a description instead
of a name, another construction. Each line names a question of the training file by its id
and gives the new wording; the paraphrase keeps that question's context and answer spans, so
it trains like the original, as an item whose answer shares few words with the question.

The file format, one JSON object a line:

    {"id": "<the training file's question id>", "question": "<the question reworded>"}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bot.training.examples import QAItem
from bot.training.noise import NoisyItem
from core.errors import QAFileError
from core.files import QUESTIONS_LIMIT, read_text_bounded

# the name a paraphrase carries where messy copies name their noises
PARAPHRASE = "paraphrase"


class IdentifiedItem(QAItem, Protocol):
    """A training item with the id a paraphrase file refers to."""

    @property
    def id(self) -> str: ...


def read_paraphrases(path: Path) -> dict[str, str]:
    """The reworded question of each id in a paraphrase file. A line that is not an object
    with a non-empty "id" (a string or an integer) and "question", a repeated id, or a file
    without a line, is refused with its line."""
    text = read_text_bounded(path, QUESTIONS_LIMIT, QAFileError)
    out: dict[str, str] = {}
    # lines end at "\n" alone: JSON allows U+2028 and the like inside a string
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            raise QAFileError(f"{path}:{n}: not a JSON object") from None
        if not isinstance(row, dict):
            raise QAFileError(f"{path}:{n}: not a JSON object")
        qid, question = row.get("id"), row.get("question")
        if isinstance(qid, int) and not isinstance(qid, bool):
            qid = str(qid)  # as the Q&A reader takes a numeric id
        if not isinstance(qid, str) or not qid or not isinstance(question, str):
            raise QAFileError(f'{path}:{n}: needs a string "id" and "question"')
        if not question.strip():
            raise QAFileError(f"{path}:{n}: the question is empty")
        if qid in out:
            raise QAFileError(f"{path}:{n}: id {qid!r} is given twice")
        out[qid] = question.strip()
    if not out:
        raise QAFileError(f"{path}: no paraphrases in the file")
    return out


def paraphrased(
    items: Sequence[IdentifiedItem], paraphrases: dict[str, str], source: str
) -> list[NoisyItem]:
    """Each paraphrase as a training item with its original's context and answer spans.
    Every id must name one of `items` (`source` names them in the error)."""
    by_id = {i.id: i for i in items}
    missing = [qid for qid in paraphrases if qid not in by_id]
    if missing:
        raise QAFileError(
            f"{len(missing)} paraphrased question ids are not in {source} (first: {missing[0]!r})"
        )
    out = []
    for qid, question in paraphrases.items():
        item = by_id[qid]
        out.append(NoisyItem(question, item.context, item.spans, item.answerable, PARAPHRASE))
    return out
