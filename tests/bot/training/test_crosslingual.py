from __future__ import annotations

from bot.eval.qafile import QAItem, Span, read_qa_file
from bot.training.crosslingual import CrossItem, cross_pairs, document_of
from bot.training.examples import negative_pairs
from tests.conftest import dataset


def _item(qid: str, lang: str, paragraph: int) -> QAItem:
    answers = " ".join(f"q{3 * paragraph + j}" for j in range(3))
    context = f"{lang} paragraph {paragraph}. The answers are {answers}."
    return QAItem(
        id=qid,
        question=f"{lang} question {qid}?",
        answers=(qid,),
        context=context,
        spans=(
            Span(
                text=qid,
                start=context.index(qid + " ")
                if qid + " " in context
                else context.index(qid + "."),
            ),
        ),
    )


def _languages() -> dict[str, list[QAItem]]:
    return {lang: [_item(f"q{k}", lang, k // 3) for k in range(12)] for lang in ("en", "de", "es")}


def test_pairs_ask_in_one_language_of_the_paragraph_in_another() -> None:
    pairs = cross_pairs(_languages(), per_question=2, seed=0)
    assert len(pairs) == 24
    for p in pairs:
        asked, given = p.direction.split(">")
        assert asked != given
        assert p.question.startswith(asked) and (p.context or "").startswith(given)
        span = p.spans[0]
        assert (p.context or "")[span.start : span.start + len(span.text)] == span.text
    assert pairs == cross_pairs(_languages(), per_question=2, seed=0)
    assert len(cross_pairs(_languages(), per_question=6, seed=0)) == 72


def test_a_negative_is_never_a_translation_of_the_answer_paragraph() -> None:
    pairs = cross_pairs(_languages(), per_question=6, seed=0)
    for seed in range(5):
        for item, other in negative_pairs(pairs, seed, document_of):
            assert isinstance(item, CrossItem)
            paragraph = int((item.context or "").split()[2].rstrip("."))
            assert int(other.split()[2].rstrip(".")) != paragraph


def test_xquad_pairs_keep_their_answer_spans() -> None:
    by_language = {
        lang: read_qa_file(dataset("xquad", f"xquad.{lang}.json")).items for lang in ("en", "de")
    }
    pairs = cross_pairs(by_language, per_question=1, seed=0)
    assert len(pairs) == 1190
    for p in pairs[:200]:
        span = p.spans[0]
        assert (p.context or "")[span.start : span.start + len(span.text)] == span.text
