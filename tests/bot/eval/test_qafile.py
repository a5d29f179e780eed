"""Reading Q&A files: every format, and every malformed case stops with FILE:LINE (strict) or
is counted as skipped (--skip-invalid)."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path

import pytest

from bot.eval.qafile import QAItem, Span, add_negatives, read_qa_file
from bot.eval.qarows import MAX_LINE_BYTES
from core.errors import QAFileError
from tests.conftest import DEV_QA, dataset, run_cli

GOOD = {
    "id": "a",
    "question": "Hvem?",
    "answers": ["Putin"],
    "evidence": ["Putin"],
    "answerable": True,
    "lang": "nb",
}


def jl(*rows: object) -> str:
    return (
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows)
        + "\n"
    )


def write(tmp_path: Path, text: str | bytes, name: str = "qa.jsonl") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


def test_reads_the_dev_file_and_norquad() -> None:
    dev = read_qa_file(DEV_QA)
    assert len(dev.items) == 24 and not dev.warnings and not dev.skipped
    d01 = dev.items[0]
    assert d01 == QAItem(
        id="d01",
        question="Hvem skal Kim Jong-un møte i Russland?",
        answers=("Vladimir Putin", "Putin"),
        evidence=("president Vladimir Putin",),
        lang="nb",
        line=1,
    )
    assert sum(not i.answerable for i in dev.items) == 6
    assert len(dev.sha256) == 64
    nq = read_qa_file(dataset("norquad", "validation.jsonl"))
    assert len(nq.items) == 472 and len({i.context for i in nq.items}) == 353
    item = nq.items[0]
    assert item.context is not None and item.source in ("news", "wiki")
    span = item.spans[0]
    assert item.context[span.start : span.start + len(span.text)] == span.text


def test_bom_crlf_blank_lines_and_no_trailing_newline(tmp_path: Path) -> None:
    text = "\ufeff" + json.dumps(GOOD) + "\r\n\r\n  \n" + json.dumps({**GOOD, "id": "b"})
    qa = read_qa_file(write(tmp_path, text))
    assert [(i.id, i.line) for i in qa.items] == [("a", 1), ("b", 4)]


# (rows, expected message after "FILE:") -- every malformed case of docs/reliability-plan.md
BAD = {
    "bad JSON": (
        jl(GOOD, '{"id": "b" "question": "q"}'),
        "2:12: bad JSON: Expecting ',' delimiter",
    ),
    "truncated JSON": (jl(GOOD, '{"id": "b", "question": '), "2:25: bad JSON: Expecting value"),
    "concatenated": (
        jl('{"id":"a","question":"q?"}{"id":"b","question":"r?"}'),
        "1:27: bad JSON: more than one JSON value on the line",
    ),
    "non-object": (jl(GOOD, [1, 2]), "2: expected a JSON object, got a list"),
    "string row": (jl('"just text"'), "1: expected a JSON object, got a string"),
    "missing question": (jl({"id": "a"}), "1: field 'question' is missing"),
    "missing id": (jl({"question": "Hvem?"}), "1: field 'id' is missing"),
    "empty question": (jl({"id": "a", "question": "  \u200b "}), "1: field 'question' is empty"),
    "empty id": (jl({"id": " ", "question": "q?"}), "1: field 'id' must be a non-empty string"),
    "empty answer": (
        jl({**GOOD, "answers": ["", "x"]}),
        "1: field 'answers' holds an empty string",
    ),
    "empty evidence": (
        jl({**GOOD, "evidence": [" "]}),
        "1: field 'evidence' holds an empty string",
    ),
    "answers not a list": (
        jl({**GOOD, "answers": 3}),
        "1: field 'answers' must be a list of strings",
    ),
    "answerable not bool": (
        jl({**GOOD, "answerable": "yes"}),
        "1: field 'answerable' must be true or false",
    ),
    "unanswerable with answers": (
        jl({**GOOD, "answerable": False}),
        "1: an unanswerable item has answers or evidence",
    ),
    "duplicate same": (
        jl(GOOD, {"x": 1} | GOOD),
        "2: duplicate id 'a' (first at line 1, same content)",
    ),
    "duplicate different": (
        jl(GOOD, {**GOOD, "question": "Hva?"}),
        "2: duplicate id 'a' (first at line 1, different content)",
    ),
    "span off": (
        jl(
            {
                "id": "a",
                "question": "q?",
                "context": "Ett. To.",
                "answers": [{"text": "To", "answer_start": 2}],
            }
        ),
        "1: answer 'To' is not at offset 2 of the context",
    ),
    "empty context": (
        jl({"id": "a", "question": "q?", "context": " "}),
        "1: field 'context' must be a non-empty string",
    ),
    "category not a string": (
        jl({**GOOD, "category": 3}),
        "1: field 'category' must be a non-empty string",
    ),
    "empty article": (jl({**GOOD, "article": ""}), "1: field 'article' must be a non-empty string"),
    "context and article": (
        jl({**GOOD, "context": "Putin.", "article": "a.txt"}),
        "1: an item has both 'context' and 'article'; give one",
    ),
    "history not a list": (
        jl({**GOOD, "history": "Hvem er han?"}),
        "1: field 'history' must be a list of",
    ),
    "history bad role": (
        jl({**GOOD, "history": [{"role": "system", "content": "x"}]}),
        '1: history turn 1: \'role\' must be "user" or "assistant"',
    ),
    "history empty content": (
        jl(
            {
                **GOOD,
                "history": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}],
            }
        ),
        "1: history turn 2: 'content' must be a non-empty string",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_rows_are_errors_with_file_and_line(tmp_path: Path, case: str) -> None:
    text, expected = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(QAFileError) as err:
        read_qa_file(path)
    assert str(err.value) == f"{path}:{expected}" or str(err.value).startswith(
        f"{path}:{expected}"
    ), str(err.value)
    # with skip_invalid the row is counted and the good rows are kept
    if text.count("\n") > 1:
        qa = read_qa_file(path, skip_invalid=True)
        assert len(qa.skipped) == 1 and qa.skipped[0].startswith(f"{path}:")
        assert [i.id for i in qa.items] == ["a"]


def test_file_level_problems(tmp_path: Path) -> None:
    cases = {
        "missing": (tmp_path / "nope.jsonl", "no such file"),
        "directory": (tmp_path, "is a directory"),
        "empty": (write(tmp_path, "", "empty.jsonl"), ":1: the file is empty"),
        "blank": (write(tmp_path, "\n \n", "blank.jsonl"), ":1: no items"),
        "utf16": (
            write(tmp_path, json.dumps(GOOD).encode("utf-16"), "u16.jsonl"),
            ":1: the file is UTF-16",
        ),
        "latin1": (
            write(
                tmp_path,
                (jl(GOOD) + '{"id": "b", "question": "Blå?"}\n').encode("latin-1"),
                "l1.jsonl",
            ),
            ":2:28: not valid UTF-8",
        ),
    }
    for name, (path, expected) in cases.items():
        with pytest.raises(QAFileError) as err:
            read_qa_file(path)
        assert expected in str(err.value) and str(err.value).startswith(str(path)), name
    everything_bad = write(tmp_path, jl([1], [2]), "bad.jsonl")
    with pytest.raises(QAFileError, match="no valid items"):
        read_qa_file(everything_bad, skip_invalid=True)


def test_unknown_fields_warn_once_per_name(tmp_path: Path) -> None:
    qa = read_qa_file(
        write(
            tmp_path,
            jl(
                {**GOOD, "note": 1},
                {**GOOD, "id": "b", "note": 2},
                {**GOOD, "id": "c", "Answer": "x"},
            ),
        )
    )
    assert len(qa.items) == 3
    assert qa.warnings == [
        f"{tmp_path / 'qa.jsonl'}:1: unknown field 'note' ignored (in 2 rows)",
        f"{tmp_path / 'qa.jsonl'}:3: unknown field 'Answer' ignored",
    ]


def test_category_history_and_an_article_path_per_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`article` names a file relative to the working folder, or to the Q&A file's folder or
    one above it (a repo's "data/articles/x.txt" from a file under data/), made absolute;
    anything else is kept as an article id."""
    (tmp_path / "data" / "articles").mkdir(parents=True)
    article = tmp_path / "data" / "articles" / "x.txt"
    article.write_text("Nyheter\nOverskrift\nEn setning.\n", encoding="utf-8")
    history = [
        {"role": "user", "content": "Hvem er Ola?"},
        {"role": "assistant", "content": "Ola er bonde. [1]"},
    ]
    path = write(
        tmp_path / "data",
        jl(
            {
                **GOOD,
                "category": " followup ",
                "article": "data/articles/x.txt",
                "history": history,
            },
            {**GOOD, "id": "b", "article": "articles/x.txt"},
            {**GOOD, "id": "c", "article": "putin-kim"},
        ),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    qa = read_qa_file(path)
    assert not qa.warnings
    a, b, c = qa.items
    assert a.category == "followup" and b.category is None
    assert a.article == b.article == str(article.resolve())
    assert c.article == "putin-kim"
    assert a.history == (("user", "Hvem er Ola?"), ("assistant", "Ola er bonde. [1]"))
    assert b.history == ()
    csv_path = write(
        tmp_path,
        "id,question,answers,evidence,answerable,category,article\n"
        "a,Hvem?,Putin,Putin,true,messy,data/articles/x.txt\n",
        "qa.csv",
    )
    monkeypatch.chdir(tmp_path)
    item = read_qa_file(csv_path).items[0]
    assert item.category == "messy" and item.article == str(article.resolve())


def test_no_gold_is_a_warning(tmp_path: Path) -> None:
    qa = read_qa_file(write(tmp_path, jl({"id": "a", "question": "q?"})))
    assert qa.items[0].answerable and "neither answers nor evidence" in qa.warnings[0]


def test_long_lines_are_bounded(tmp_path: Path) -> None:
    """A line over the limit is an error at its line; reading it does not hold the file."""
    path = tmp_path / "big.jsonl"
    with path.open("wb") as fh:
        fh.write(b'{"id": "x", "question": "' + b"a" * (4 * MAX_LINE_BYTES) + b'"}\n')
        fh.write(json.dumps(GOOD).encode() + b"\n")
    with pytest.raises(QAFileError, match=re.escape(f"{path}:1: line longer than")):
        read_qa_file(path)
    tracemalloc.start()
    try:
        qa = read_qa_file(path, skip_invalid=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [i.id for i in qa.items] == ["a"] and len(qa.skipped) == 1
    assert peak < 3 * MAX_LINE_BYTES  # the file is 4x the line limit


def test_csv(tmp_path: Path) -> None:
    text = (
        "\ufeffid,question,answers,evidence,answerable,lang,extra\n"
        'c1,"Hvem, egentlig?",Vladimir Putin|Putin,president Vladimir Putin,true,nb,z\n'
        'c2,"To\nlinjer?",,,false,en,\n'
        "c3,Hva?,x,,,,\n"
    )
    qa = read_qa_file(write(tmp_path, text, "qa.csv"))
    assert [(i.id, i.line, i.answerable, i.lang) for i in qa.items] == [
        ("c1", 2, True, "nb"),
        ("c2", 3, False, "en"),
        ("c3", 5, True, None),
    ]
    assert qa.items[0].answers == ("Vladimir Putin", "Putin")
    assert qa.items[0].question == "Hvem, egentlig?"
    assert "unknown column 'extra'" in qa.warnings[0]
    for body, expected in (
        ("id,question\nc1,Hva?,extra\n", ":2: 3 fields where the header has 2"),
        (
            "id,question,answerable\nc1,Hva?,kanskje\n",
            ":2: field 'answerable' must be true or false, not 'kanskje'",
        ),
        ("id,text\nc1,Hva?\n", ":1: a CSV needs the columns"),
        ("id,question\nc1,Hva?\nc1,Hva?\n", ":3: duplicate id 'c1'"),
        ('id,question\nc1,"Hva?\n', ": bad CSV"),
    ):
        path = write(tmp_path, body, "bad.csv")
        with pytest.raises(QAFileError) as err:
            read_qa_file(path)
        assert str(err.value).startswith(str(path)) and expected in str(err.value), body


def squad(qas: list[object], context: str = "Ett. Putin kom. Tre.") -> dict[str, object]:
    return {
        "version": "v2.0",
        "data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}],
    }


def test_squad_v2(tmp_path: Path) -> None:
    doc = squad(
        [
            {
                "id": "q1",
                "question": "Hvem kom?",
                "is_impossible": False,
                "answers": [{"text": "Putin", "answer_start": 5}],
            },
            {
                "id": "q2",
                "question": "Når?",
                "is_impossible": True,
                "answers": [],
                "plausible_answers": [{"text": "Tre", "answer_start": 16}],
            },
        ]
    )
    path = write(tmp_path, json.dumps(doc, indent=2), "squad.json")
    qa = read_qa_file(path)
    assert qa.format == "squad"
    q1, q2 = qa.items
    assert q1.spans == (Span("Putin", 5),) and q1.answerable and q1.context is not None
    assert not q2.answerable and q2.answers == ()
    text = path.read_text()
    assert q2.line == text[: text.index('"q2"')].count("\n") + 1  # where its id is
    bad = squad(
        [{"id": "q1", "question": "Hvem?", "answers": [{"text": "Putin", "answer_start": 0}]}]
    )
    path = write(tmp_path, json.dumps(bad, indent=2), "bad.json")
    with pytest.raises(QAFileError, match=re.escape(f"{path}:11: answer 'Putin' is not at")):
        read_qa_file(path)
    for doc_text, expected in (
        ('{"data": 3}', ":1: expected SQuAD JSON"),
        ('{"data": [{"paragraphs": [3]}]}', ":1: data[0].paragraphs[0]: expected an object"),
        ('{"data": [\n  {"title": }]}', ":2:13: bad JSON"),
    ):
        path = write(tmp_path, doc_text, "bad.json")
        with pytest.raises(QAFileError) as err:
            read_qa_file(path)
        assert str(err.value).startswith(f"{path}{expected}"), str(err.value)


def test_json_named_file_holding_jsonl(tmp_path: Path) -> None:
    qa = read_qa_file(write(tmp_path, jl(GOOD, {**GOOD, "id": "b"}), "qa.json"))
    assert [i.id for i in qa.items] == ["a", "b"]


def _ctx_items() -> list[QAItem]:
    contexts = ["Tittel A\nEtt. To.", "Tittel A\nTre.", "Tittel B\nFire.", "Tittel C\nFem."]
    return [
        QAItem(id=f"q{i}", question="Hva?", answers=("x",), context=c, line=i)
        for i, c in enumerate(contexts)
    ]


def test_add_negatives() -> None:
    items = [*_ctx_items(), QAItem(id="plain", question="Hva?")]
    out = add_negatives(items, seed=0)
    assert out[:5] == items
    negs = out[5:]
    assert [n.id for n in negs] == ["q0#neg", "q1#neg", "q2#neg", "q3#neg"]
    for item, neg in zip(items, negs, strict=False):
        assert neg.question == item.question and not neg.answerable
        assert neg.answers == () and neg.spans == () and neg.context is not None
        assert neg.context.split("\n")[0] != item.context.split("\n")[0]  # type: ignore[union-attr]
    assert add_negatives(items, seed=0) == out  # seeded
    assert any(add_negatives(items, seed=s) != out for s in range(1, 6))
    clash = [*_ctx_items(), QAItem(id="q0#neg", question="Hva?")]
    with pytest.raises(QAFileError, match="q0#neg"):
        add_negatives(clash, seed=0)


def test_cli_strict_errors_exit_2_with_file_and_line(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    cases = [
        (jl(GOOD, '{"id": "b" "question": "q"}'), ":2:12: bad JSON"),
        (jl(GOOD, GOOD), ":2: duplicate id 'a'"),
    ]
    for i, (text, expected) in enumerate(cases):
        path = write(tmp_path, text, f"bad{i}.jsonl")
        r = run_cli(
            ["eval", str(path), "--out", str(tmp_path / "out"), "--store", str(tmp_path / "s")],
            cli_env,
            timeout=120,
        )
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith(f"articlebot: error: {path}{expected}"), r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert r.stdout == ""
    assert not (tmp_path / "out").exists()  # nothing written on bad input
    r = run_cli(
        ["eval", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "out")],
        cli_env,
        timeout=120,
    )
    assert r.returncode == 2 and "missing.jsonl: no such file" in r.stderr
    r = run_cli(
        ["eval", str(DEV_QA), "--out", str(tmp_path / "o"), "--fail-under", "hit_at_9=0.5"],
        cli_env,
        timeout=120,
    )
    assert r.returncode == 2 and "hit_at_9" in r.stderr and "Traceback" not in r.stderr


# -- hostile files: every one is a one-line QAFileError naming its line --------------------

# (second line of the file, expected message after "FILE:2")
HOSTILE = {
    "deep nesting": ("[" * 200_000, ": bad JSON: nested too deeply"),
    "deep nesting in a field": (
        '{"id": "b", "question": "q?", "x": ' + "[" * 5_000 + "]" * 5_000 + "}",
        ": bad JSON: nested too deeply",
    ),
    "5000-digit id": (
        '{"id": ' + "7" * 5_000 + ', "question": "Hvem?"}',
        ": field 'id' is a number of 5000 digits",
    ),
    "5000-digit offset": (
        '{"id": "b", "question": "q?", "context": "Ett. To.", "answers": '
        '[{"text": "To", "answer_start": ' + "1" * 5_000 + "}]}",
        ": each answer object needs 'answer_start'",
    ),
    "lone surrogate in question": (
        '{"id": "b", "question": "Hvem \\ud800?"}',
        ": field 'question' is not valid text (a lone surrogate U+D800 at character 6)",
    ),
    "lone surrogate in id": (
        '{"id": "b\\udfff", "question": "Hvem?"}',
        ": field 'id' is not valid text",
    ),
    "lone surrogate in answers": (
        '{"id": "b", "question": "Hvem?", "answers": ["\\udc80"]}',
        ": field 'answers' is not valid text",
    ),
    "lone surrogate in context": (
        '{"id": "b", "question": "Hvem?", "context": "A \\ud83d."}',
        ": field 'context' is not valid text",
    ),
    "lone surrogate in lang": (
        '{"id": "b", "question": "Hvem?", "lang": "\\ud800"}',
        ": field 'lang' is not valid text",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_rows_are_errors_with_file_and_line(tmp_path: Path, case: str) -> None:
    row, expected = HOSTILE[case]
    path = write(tmp_path, jl(GOOD, row))
    with pytest.raises(QAFileError) as err:
        read_qa_file(path)
    assert str(err.value).startswith(f"{path}:2{expected}"), str(err.value)
    assert "\n" not in str(err.value)
    qa = read_qa_file(path, skip_invalid=True)
    assert [i.id for i in qa.items] == ["a"] and len(qa.skipped) == 1


def test_hostile_json_documents(tmp_path: Path) -> None:
    deep = write(tmp_path, "[" * 200_000, "deep.json")
    with pytest.raises(QAFileError, match=r"deep.json:1: bad JSON: nested too deeply"):
        read_qa_file(deep)
    squad = {
        "data": [
            {
                "paragraphs": [
                    {
                        "context": "Ett. To.",
                        "qas": [
                            {"id": "q1", "question": "Hva?"},
                            {"id": "q2", "question": "Hvem \ud800?"},
                        ],
                    }
                ]
            }
        ]
    }
    path = write(tmp_path, json.dumps(squad, indent=1), "squad.json")  # ASCII: \ud800 escape
    with pytest.raises(QAFileError, match=r"squad.json:\d+: field 'question' is not valid"):
        read_qa_file(path)
    big = write(
        tmp_path,
        json.dumps([GOOD])[:-1] + ', {"id": ' + "9" * 5_000 + ', "question": "q?"}]',
        "big.json",
    )
    with pytest.raises(QAFileError, match=r"big.json:1: field 'id' is a number of 5000"):
        read_qa_file(big)
    assert read_qa_file(write(tmp_path, jl({**GOOD, "id": 10**99}))).items[0].id == str(
        10**99
    )  # a long but sane integer id still reads


def test_non_regular_files_are_refused(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "qa.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(QAFileError, match="not a regular file"):
        read_qa_file(fifo)  # would block forever if opened


@pytest.mark.parametrize("case", ["deep nesting", "5000-digit id", "lone surrogate in question"])
def test_cli_hostile_files_exit_2_before_any_question(
    tmp_path: Path, cli_env: dict[str, str], case: str
) -> None:
    row, expected = HOSTILE[case]
    path = write(tmp_path, jl(GOOD, row))
    out, store = tmp_path / "out", tmp_path / "store"
    r = run_cli(["eval", str(path), "--out", str(out), "--store", str(store)], cli_env, timeout=120)
    assert (r.returncode, r.stdout) == (2, ""), r.stderr
    assert r.stderr.startswith(f"articlebot: error: {path}:2{expected}"), r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    # nothing was answered: no engine opened its store, no output was written
    assert not store.exists() and not out.exists()
    r = run_cli(
        ["train-ranker", str(path), "--out", str(tmp_path / "ranker.json")], cli_env, timeout=120
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"articlebot: error: {path}:2{expected}"), r.stderr
    assert r.stderr.count("\n") == 1 and not (tmp_path / "ranker.json").exists()
