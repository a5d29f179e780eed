from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.eval.qafile import QAItem, Span
from bot.training.paraphrase import PARAPHRASE, paraphrased, read_paraphrases
from core.errors import QAFileError

CONTEXT = "Tittel\nKim Jong-un reiste til Russland i september. The New York Times meldte først."
ITEMS = [
    QAItem(
        id="q1",
        question="Hvilken avis meldte først om reisen?",
        answers=("The New York Times",),
        context=CONTEXT,
        spans=(Span("The New York Times", CONTEXT.index("The New")),),
    ),
    QAItem(id="q2", question="Hvem reiste?", answers=("Kim Jong-un",), context=CONTEXT),
]


def _file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "para.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_a_paraphrase_keeps_its_originals_passage_and_answer(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        json.dumps({"id": "q1", "question": " Hvilken storby-avis hadde nyheten før alle? "}),
        "",
    )
    reworded = read_paraphrases(path)
    assert reworded == {"q1": "Hvilken storby-avis hadde nyheten før alle?"}
    (item,) = paraphrased(ITEMS, reworded, "train.jsonl")
    assert item.question == "Hvilken storby-avis hadde nyheten før alle?"
    assert item.context == CONTEXT and item.spans == ITEMS[0].spans and item.answerable
    assert item.noise == PARAPHRASE


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("{not json", "para.jsonl:2: not a JSON object"),
        ("[1, 2]", "para.jsonl:2: not a JSON object"),
        ('{"id": "q2"}', 'para.jsonl:2: needs a string "id" and "question"'),
        ('{"id": true, "question": "Hvem?"}', 'para.jsonl:2: needs a string "id" and "question"'),
        ('{"id": "q2", "question": "  "}', "para.jsonl:2: the question is empty"),
        ('{"id": "q1", "question": "Hvem?"}', "para.jsonl:2: id 'q1' is given twice"),
    ],
)
def test_a_bad_line_is_refused_with_its_number(tmp_path: Path, line: str, said: str) -> None:
    path = _file(tmp_path, json.dumps({"id": "q1", "question": "Hvilken avis?"}), line)
    with pytest.raises(QAFileError) as err:
        read_paraphrases(path)
    assert said in str(err.value)


def test_an_id_the_training_file_lacks_is_refused() -> None:
    with pytest.raises(QAFileError, match=r"1 paraphrased question ids are not in train\.jsonl"):
        paraphrased(ITEMS, {"q1": "Hvilken avis?", "q9": "Hva?"}, "train.jsonl")


def test_a_missing_or_empty_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(QAFileError, match="no such file"):
        read_paraphrases(tmp_path / "none.jsonl")
    with pytest.raises(QAFileError, match="no paraphrases in the file"):
        read_paraphrases(_file(tmp_path, "", " "))


def test_numeric_ids_and_line_separators_inside_a_question(tmp_path: Path) -> None:
    line = json.dumps({"id": 7, "question": "Hvem\u2028skrev først?"}, ensure_ascii=False)
    assert read_paraphrases(_file(tmp_path, line)) == {"7": "Hvem\u2028skrev først?"}
