"""The eval runner and its outputs: scoring real answer records, gold sentences, the report
files, and the real CLI end to end (the dev file; a small NorQuAD file with negatives)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from pathlib import Path

import pytest

from bot.answer_records import Answer, Citation, Ranked, ShortAnswer
from bot.eval.metrics import HEADLINE
from bot.eval.outcome import Outcome, gold_ids, score, stored_span
from bot.eval.qafile import QAItem, Span
from bot.eval.report import (
    FORMULA_START,
    OUTPUT_FILES,
    build_summary,
    comparison_table,
    csv_cell,
    items_csv,
    md,
    write_outputs,
)
from bot.eval.run import check_outputs, gate_failure, load_baseline, parse_gates
from core.errors import ArticlebotError, ConfigError
from core.records import Sentence
from tests.conftest import DEV_QA, dataset, run_cli

TOP_KEYS = {*HEADLINE, "ci", "counts", "by_lang", "by_source", "by_category", "meta"}
COUNT_KEYS = {"n_total", "n_scored", "n_error", "n_skipped", "n_answerable", "n_unanswerable"}
FILES = (
    "predictions.jsonl",
    "summary.json",
    "items.csv",
    "report.md",
    "hit_at_k.png",
    "risk_coverage.png",
    "threshold_sweep.png",
    "short_answers.png",
)
RECORD_KEYS = {
    "id",
    "question",
    "answer",
    "short_answer",
    "abstained",
    "language",
    "article",
    "backend",
    "fallback_reason",
    "citations",
    "ranking",
    "timings_ms",
}

TEXT = "Tittel\nPutin kom til Moskva. Kim ble hjemme.\nDet regnet."
SENTENCES = (
    Sentence("a", 1, "headline", "Tittel", 0, 6),
    Sentence("a", 2, "body", "Putin kom til Moskva.", 7, 28),
    Sentence("a", 3, "body", "Kim ble hjemme.", 29, 44),
    Sentence("a", 4, "body", "Det regnet.", 45, 56),
)


def test_sentences_fixture_matches_text() -> None:
    assert all(TEXT[s.start : s.end] == s.text for s in SENTENCES)


def test_gold_ids_from_evidence_and_spans() -> None:
    by_evidence = QAItem(id="q", question="Hvem?", evidence=("PUTIN  kom",))
    assert gold_ids(by_evidence, SENTENCES) == {"a:2"}
    start = TEXT.index("Moskva. Kim")
    crossing = QAItem(id="q", question="Hvor?", context=TEXT, spans=(Span("Moskva. Kim", start),))
    assert gold_ids(crossing, SENTENCES) == {"a:2", "a:3"}  # a span over a boundary
    assert gold_ids(QAItem(id="q", question="Hva?"), SENTENCES) == set()


def test_spans_map_from_raw_context_to_stored_text() -> None:
    raw = "Tittel\r\nPutin\u200b kom til Moskva."
    span = Span("Moskva", raw.index("Moskva"))
    start, end = stored_span(raw, span)
    stored = "Tittel\nPutin kom til Moskva."
    assert stored[start:end] == "Moskva"


def answer(
    ranking: tuple[int, ...],
    cited: tuple[int, ...],
    text: str = "Putin kom.",
    short: str | None = None,
    abstained: bool = False,
    unsupported: tuple[int, ...] = (),
) -> Answer:
    s = {x.n: x for x in SENTENCES}
    citations = tuple(Citation(i + 1, s[n], 0.5) for i, n in enumerate(cited)) + tuple(
        Citation(len(cited) + i + 1, s[n], 0.1, support=False) for i, n in enumerate(unsupported)
    )
    return Answer(
        question="Hvem?",
        answer=text,
        language="nb",
        article="a",
        citations=citations,
        abstained=abstained,
        short_answer=None if short is None else ShortAnswer.inside(s[2], short, 0, 0.9),
        ranking=tuple(Ranked(s[n], 1.0 - 0.1 * i) for i, n in enumerate(ranking)),
    )


ITEM = QAItem(
    id="q1",
    question="Hvem kom?",
    answers=("Putin",),
    evidence=("Putin kom",),
    lang="nb",
    source="news",
)


def test_score_answered() -> None:
    o = score(
        ITEM,
        answer((3, 2, 1), (2, 3), text="Putin kom til Moskva.", short="Putin"),
        {"a:2"},
        None,
        12.5,
        ["Putin kom til Moskva."],
        "a",
    )
    s = o.scored
    assert (s.gold_rank, s.cited, s.exact_match, s.f1) == (2, ("a:2", "a:3"), 1.0, 1.0)
    assert s.confidence == 1.0 and s.latency_ms == 12.5 and not s.error
    assert set(o.record) == RECORD_KEYS and o.record["id"] is None  # the bot's own record
    assert s.short_shown and s.short_scores == (1.0, 1.0, 1.0)
    short = o.record["short_answer"]
    assert TEXT[short["start"] : short["end"]] == short["text"] == "Putin"
    assert short["sentence_id"] == "a:2" and short["confidence"] == 0.9


def test_short_answers_are_scored_when_shown() -> None:
    from bot.eval.metrics import compute, normalize_answer, short_right

    assert normalize_answer("En «Putin», the man.") == "putin man"
    assert short_right("Erna Solberg", ["Solberg"]) == 1.0  # holds it, at most twice as long
    assert short_right("Vladimir Putin", ["Putin"]) == 0.0  # more than twice as long
    assert short_right("president Vladimir Putin i Moskva", ["Putin"]) == 0.0
    assert short_right("Kim", ["Putin"]) == 0.0
    shown = score(ITEM, answer((2,), (2,), short="Putin"), {"a:2"}, None, 1.0).scored
    wrong = score(ITEM, answer((2,), (2,), short="Putin kom"), {"a:2"}, None, 1.0).scored
    none = score(ITEM, answer((2,), (2,)), {"a:2"}, None, 1.0).scored
    m = compute([shown, wrong, none])
    assert m["short_answer_coverage"] == pytest.approx(2 / 3)
    assert m["short_answer_precision"] == 1.0  # "Putin kom" holds "Putin" and is short enough
    assert m["exact_match_shown"] == 0.5 and m["f1_shown"] == pytest.approx((1 + 2 / 3) / 2)


def test_score_without_short_answer_uses_the_answer_text() -> None:
    s = score(
        ITEM, answer((2,), (2,), text="Putin kom til Moskva. [1]"), {"a:2"}, None, 1.0
    ).scored  # the marker is not a word of the answer
    assert s.exact_match == 0.0 and s.f1 == pytest.approx(2 * (1 / 4) / (1 / 4 + 1))
    s = score(ITEM, answer((2,), (2,), text="Putin [1][2]"), {"a:2"}, None, 1.0).scored
    assert s.exact_match == 1.0


def test_score_abstained_and_unsupported_citations() -> None:
    s = score(
        ITEM,
        answer((2,), (), text="Det står ikke.", abstained=True, unsupported=(2,)),
        {"a:2"},
        None,
        1.0,
    ).scored
    assert s.abstained and s.cited == () and s.exact_match == 0.0 and s.f1 == 0.0


def test_score_error_and_empty_answer() -> None:
    o = score(ITEM, None, {"a:2"}, "the question is empty", None, ["x"], "a")
    assert o.scored.error and o.scored.exact_match == 0.0 and o.scored.gold == {"a:2"}
    assert set(o.record) == RECORD_KEYS | {"error"} and o.record["id"] == "q1"
    assert o.record["error"] == "the question is empty"
    empty = score(ITEM, answer((2,), (2,), text="  "), {"a:2"}, None, 3.0)
    assert empty.scored.error and empty.error == "the bot returned an empty answer"
    assert empty.scored.latency_ms == 3.0


def test_parse_gates_and_baseline(tmp_path: Path) -> None:
    assert parse_gates(["hit_at_1=0.9", "mrr=0.5"]) == [("hit_at_1", 0.9), ("mrr", 0.5)]
    for bad in ("hit_at_1", "hit_at_7=0.5", "mrr=high", "mrr=nan"):
        with pytest.raises(ConfigError):
            parse_gates([bad])
    (tmp_path / "b.json").write_text("{\n  oops")
    with pytest.raises(ConfigError, match=r"b.json:2:3: bad JSON"):
        load_baseline(str(tmp_path / "b.json"))
    (tmp_path / "c.json").write_text("[]")
    with pytest.raises(ConfigError, match="not an articlebot summary"):
        load_baseline(str(tmp_path / "c.json"))


def test_gates_fall_short_in_each_metric_direction() -> None:
    assert gate_failure("hit_at_1", 0.9, 0.8) == "hit_at_1 = 0.8000 < 0.9"
    assert gate_failure("hit_at_1", 0.9, 0.9) is None
    assert gate_failure("latency_ms_p95", 500.0, 650.0) == "latency_ms_p95 = 650.0000 > 500.0"
    assert gate_failure("false_abstention_rate", 0.2, 0.1) is None
    assert gate_failure("abstention_f1", 0.1, None) is not None  # n/a never passes


def _outcomes() -> list[Outcome]:
    rows = [
        (
            QAItem(id="g1", question="Hvem kom?", answers=("Putin",), lang="nb"),
            answer((2, 3), (2,), short="Putin"),
            {"a:2"},
        ),
        (
            QAItem(
                id="g2",
                question="Hvem | *bleef* [x](http://e.example)?",
                answers=("Kim",),
                lang="en",
                source="wiki",
            ),
            answer((2, 3), (2,)),
            {"a:3"},
        ),
        (
            QAItem(id="u1", question="Hva spiste de?", answerable=False, lang="nb"),
            answer((4,), (4,)),
            set(),
        ),
    ]
    out = [
        score(item, a, gold, None, 10.0 * (i + 1), [s.text for s in SENTENCES if s.id in gold], "a")
        for i, (item, a, gold) in enumerate(rows)
    ]
    out.append(
        score(
            QAItem(id="e1", question="Hvorfor?", answers=("x",), lang="nb"),
            None,
            set(),
            "context too large",
            None,
        )
    )
    return out


def test_outputs_in_process(tmp_path: Path) -> None:
    outcomes = _outcomes()
    (tmp_path / "keep.txt").write_text("mine")
    summary = write_outputs(
        tmp_path,
        outcomes,
        {"version": "t", "input": "x.jsonl"},
        skipped=["x.jsonl:9: bad"],
        warnings=[],
        seed=0,
    )
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "keep.txt").read_text() == "mine"
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved == summary and set(saved) == TOP_KEYS
    assert set(saved["counts"]) == COUNT_KEYS
    assert saved["counts"] == {
        "n_total": 5,
        "n_scored": 3,
        "n_error": 1,
        "n_skipped": 1,
        "n_answerable": 3,
        "n_unanswerable": 1,
    }
    assert saved["hit_at_1"] == pytest.approx(1 / 3)  # g1 hit, g2 miss, e1 error
    assert set(saved["ci"]) == set(HEADLINE)
    assert set(saved["by_lang"]) == {"en", "nb"} and saved["by_lang"]["nb"]["n"] == 3
    assert set(saved["by_source"]) == {"(none)", "wiki"}
    assert set(HEADLINE) <= set(saved["by_lang"]["nb"])
    assert "NaN" not in (tmp_path / "summary.json").read_text()
    rows = list(csv.DictReader((tmp_path / "items.csv").open(encoding="utf-8")))
    assert [r["id"] for r in rows] == ["g1", "g2", "u1", "e1"]
    assert [r["hit_at_1"] for r in rows] == ["1", "0", "", "0"]
    assert rows[3]["error_message"] == "context too large"
    preds = [json.loads(line) for line in (tmp_path / "predictions.jsonl").open()]
    assert len(preds) == 4 and preds[3]["error"] == "context too large"
    report = (tmp_path / "report.md").read_text()
    assert "| hit_at_1 | 0.333 | [" in report and "![hit@k for k = 1..5](hit_at_k.png)" in report
    assert "ranking[0].score" in report
    assert "Hvem \\| \\*bleef\\* \\[x\\](`http://e.example`)?" in report  # escaped
    assert "x.jsonl:9: bad" in report and "context too large" in report
    base = {**summary, "hit_at_1": 0.9}
    table = comparison_table(summary, base)
    assert "| hit_at_1 | 0.900 | 0.333 | -0.567 |" in table


@pytest.mark.parametrize(
    "text",
    [
        "Se https://evil.example/x?a=1 nå",
        "Les www.vg.no/nyheter i dag",
        "Skriv til ola@nrk.no",
        "mailto:ola@nrk.no eller xmpp:ola@jabber.no",
        "HTTPS://EVIL.EXAMPLE|x",
        "(ftp://a.b/c)",
    ],
)
def test_md_shows_bare_links_as_text(text: str) -> None:
    """A question's URL or e-mail address is no link in report.md: in a code span, where
    GFM links nothing, with its characters as they were."""
    import re

    out = md(text)
    outside = re.sub(r"`[^`]*`", "", out)
    assert not re.search(
        r"(?i)(?:https?|ftp)://|www\.|(?:mailto|xmpp):|[a-z0-9]@[a-z0-9]", outside
    ), out
    assert re.sub(r"\\(.)", r"\1", out.replace("`", "")) == text


def test_md_escapes_and_folds() -> None:
    assert md("a\n|b|  ![i](u) <x>") == "a \\|b\\| \\!\\[i\\](u) \\<x\\>"
    assert md("x" * 10, limit=5) == "xxxx…"


def test_empty_run_summary_is_all_null() -> None:
    summary = build_summary([], {}, n_skipped=0, seed=0)
    assert all(summary[name] is None for name in HEADLINE)
    assert summary["by_lang"] == {} and summary["by_source"] == {}
    assert summary["by_category"] == {}


def test_figures_per_category_in_the_summary_and_the_report(tmp_path: Path) -> None:
    """by_category holds every headline figure of each category's items alone, and report.md
    a table of them with the refused shares of answerable and unanswerable items."""
    kinds = {"g1": "paraphrase", "g2": "paraphrase", "u1": "unanswerable_same_topic", "e1": None}
    outcomes = [
        dataclasses.replace(o, item=dataclasses.replace(o.item, category=kinds[o.item.id]))
        for o in _outcomes()
    ]
    summary = write_outputs(tmp_path, outcomes, {"version": "t", "input": "x.jsonl"})
    groups = summary["by_category"]
    assert set(groups) == {"paraphrase", "unanswerable_same_topic", "(none)"}
    para = build_summary(outcomes[:2], {}, n_skipped=0, seed=0)
    assert groups["paraphrase"]["n"] == 2
    for name in HEADLINE:
        if not name.startswith("latency"):
            assert groups["paraphrase"][name] == para[name], name
    assert groups["paraphrase"]["hit_at_1"] == pytest.approx(0.5)
    assert groups["unanswerable_same_topic"]["abstention_recall"] == 0.0  # it answered
    assert groups["unanswerable_same_topic"]["hit_at_1"] is None
    report = (tmp_path / "report.md").read_text()
    table = report.split("## By category", 1)[1].split("\n\n")[1].splitlines()
    assert table[0].startswith("| group | n | hit_at_1 | hit_at_3 |")
    assert "abstention_recall" in table[0] and "false_abstention_rate" in table[0]
    assert [row.split(" | ")[0] for row in table[2:]] == [
        "| (none)",
        "| paraphrase",
        "| unanswerable\\_same\\_topic",
    ]
    assert "(en, wiki, paraphrase)" in report  # the worst cases name their category


def test_error_item_keeps_its_place_in_every_mean() -> None:
    good = _outcomes()[:3]
    failed = [*good[:1], score(good[1].item, None, set(good[1].gold), "boom", None), good[2]]
    before, after = build_summary(good, {}, 0, 0), build_summary(failed, {}, 0, 0)
    for name in (
        "hit_at_1",
        "hit_at_3",
        "mrr",
        "citation_f1",
        "exact_match",
        "f1",
        "abstention_recall",
        "false_abstention_rate",
        "coverage",
    ):
        assert after["meta"]["denominators"][name] == before["meta"]["denominators"][name]
        assert after[name] <= before[name] or name == "false_abstention_rate"
    # an error counts as a wrong abstention: it joins that denominator
    assert after["meta"]["denominators"]["abstention_precision"] == 1


# -- outputs: checked before the run, written as far as possible after it -------------------


def test_output_files_are_the_ones_written(tmp_path: Path) -> None:
    assert set(OUTPUT_FILES) == set(FILES)
    write_outputs(tmp_path, _outcomes(), {"version": "t", "input": "x.jsonl"})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)


@pytest.mark.parametrize(
    "name",
    [
        "items.csv",
        "summary.json",
        "predictions.jsonl",
        "report.md",
        "hit_at_k.png",
        "report.md.tmp",
    ],
)
def test_check_outputs_refuses_a_directory_named_like_an_output(tmp_path: Path, name: str) -> None:
    (tmp_path / name).mkdir()
    with pytest.raises(
        ConfigError,
        match=rf"--out {tmp_path}: {re.escape(name)} is a "
        "directory",
    ):
        check_outputs(tmp_path)


def test_check_outputs_refuses_files_and_impossible_paths(tmp_path: Path) -> None:
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    cases = {
        a_file: "exists and is not a directory",
        a_file / "out": "cannot write there (Not a directory)",
        tmp_path / ("x" * 300): "cannot write there (File name too long)",
        Path("/proc/self/articlebot-out"): "cannot write there",
    }
    for out, expected in cases.items():
        with pytest.raises(ConfigError) as err:
            check_outputs(out)
        assert str(err.value).startswith(f"--out {out}: {expected}"), str(err.value)
    fresh = tmp_path / "new" / "deeper"
    check_outputs(fresh)
    assert not (tmp_path / "new").exists()  # the check leaves nothing behind
    check_outputs(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_a_late_write_failure_keeps_the_other_outputs(tmp_path: Path) -> None:
    (tmp_path / "items.csv").mkdir()  # appeared after the up-front check
    problems: list[str] = []
    write_outputs(tmp_path, _outcomes(), {"version": "t", "input": "x.jsonl"}, problems=problems)
    assert len(problems) == 1 and problems[0].startswith("items.csv (")
    for name in FILES:
        if name != "items.csv":
            assert (tmp_path / name).stat().st_size > 0, name
    assert not (tmp_path / "items.csv.tmp").exists()
    with pytest.raises(
        ArticlebotError,
        match=r"could not write items.csv \(.*the other "
        "outputs were written",
    ):
        write_outputs(tmp_path, _outcomes(), {"version": "t", "input": "x.jsonl"})


def test_a_lone_surrogate_in_a_record_cannot_fail_the_write(tmp_path: Path) -> None:
    item = QAItem(id="s\ud800", question="Hvem \udfff kom?", answers=("Putin",))
    outcomes = [score(item, None, set(), "boom \ud800", None)]
    write_outputs(tmp_path, outcomes, {"version": "t", "input": "x.jsonl"})
    (pred,) = [json.loads(line) for line in (tmp_path / "predictions.jsonl").open(encoding="utf-8")]
    assert pred["question"] == "Hvem \udfff kom?"  # the same string, as a JSON escape
    assert "\\ud800" in (tmp_path / "items.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "value",
    [
        " =1+1",
        "\xa0=HYPERLINK(1)",
        "\u3000+1",
        "  @SUM(A1)",
        "＝1+1",
        "＋cmd",
        "－1",
        "＠SUM(A1)",
        " ＝1",
        "\ufeff=1",
    ],
)
def test_csv_cells_after_spaces_or_full_width_are_neutralised(value: str) -> None:
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("lead", FORMULA_START)
def test_csv_cells_never_start_a_formula(lead: str) -> None:
    payload = lead + 'HYPERLINK("https://evil.example")'
    assert csv_cell(payload) == "'" + payload
    item = QAItem(
        id=lead + "id", question=payload, answers=(lead + "x",), source=lead + "s", lang=lead + "nb"
    )
    outcome = score(item, answer((2,), (2,), text=payload), {"a:2"}, None, 1.0)
    error = score(QAItem(id="e", question="q?"), None, set(), lead + "cmd|' /C calc'!A0", None)
    rows = list(csv.DictReader(io.StringIO(items_csv([outcome, error]))))
    cells = [cell for row in rows for cell in row.values()]
    assert not any(
        cell.startswith(FORMULA_START) and not re.fullmatch(r"-?[0-9.]+", cell) for cell in cells
    )
    assert rows[0]["question"] == rows[0]["answer"] == "'" + payload
    assert rows[0]["id"] == "'" + lead + "id" and rows[0]["source"] == "'" + lead + "s"
    assert rows[1]["error_message"] == "'" + lead + "cmd|' /C calc'!A0"


def test_csv_cell_leaves_text_and_plain_numbers_alone() -> None:
    assert csv_cell("Putin") == "Putin" and csv_cell("") == ""
    assert csv_cell("a=b") == "a=b" and csv_cell("a =1") == "a =1"
    # a negative score is a number, not a formula, and must stay numeric
    assert csv_cell("-0.4321") == "-0.4321" and csv_cell("-3") == "-3"
    assert csv_cell("-1+2") == "'-1+2" and csv_cell("-0.5e3") == "'-0.5e3"
    assert csv_cell("+1") == "'+1"


# -- the real CLI ---------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_eval_dev_file(tmp_path: Path, cli_env: dict[str, str], shared_store: Path) -> None:
    out = tmp_path / "out"
    r = run_cli(
        [
            "eval",
            str(DEV_QA),
            "--out",
            str(out),
            "--store",
            str(shared_store),
            "--fail-under",
            "hit_at_1=0.2",
            "--fail-under",
            "coverage=1.01",
        ],
        cli_env,
    )
    assert r.returncode == 1, r.stderr  # coverage can never reach 1.01
    assert (
        "gate failed: coverage" in r.stderr and "hit_at_1" not in r.stderr.split("gate failed")[1]
    )
    assert r.stdout == "" and "Traceback" not in r.stderr
    records = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    # the short-answer figure is drawn when a short answer was shown, and only then
    shown = any(x["short_answer"] for x in records)
    for name in FILES:
        if name != "short_answers.png" or shown:
            assert (out / name).stat().st_size > 0, name
    assert (out / "short_answers.png").exists() is shown
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == TOP_KEYS and set(summary["counts"]) == COUNT_KEYS
    assert summary["counts"] == {
        "n_total": 24,
        "n_scored": 24,
        "n_error": 0,
        "n_skipped": 0,
        "n_answerable": 18,
        "n_unanswerable": 6,
    }
    for name in HEADLINE:
        value = summary[name]
        assert value is None or isinstance(value, float), name
        if value is not None:
            low, high = summary["ci"][name]
            assert low <= high, name
            assert name.startswith("latency") or 0.0 <= value <= 1.0, name
    assert summary["hit_at_1"] is not None and summary["coverage"] is not None
    assert summary["meta"]["denominators"]["hit_at_1"] == 18
    assert set(summary["by_lang"]) == {"nb", "en"} and summary["by_source"] == {}
    meta = summary["meta"]
    assert meta["embedder"] == "e5-small-q4" and len(meta["input_sha256"]) == 64
    assert meta["settings"]["ranking_size"] == 5 and meta["seed"] == 0
    preds = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    assert [p["id"] for p in preds] == [f"d{i:02d}" for i in range(1, 19)] + [
        f"x{i:02d}" for i in range(1, 7)
    ]
    assert all(set(p) == RECORD_KEYS for p in preds)
    rows = list(csv.DictReader((out / "items.csv").open(encoding="utf-8")))
    hits = [float(r["hit_at_1"]) for r in rows if r["hit_at_1"]]
    assert len(hits) == 18 and sum(hits) / 18 == pytest.approx(summary["hit_at_1"], abs=1e-6)
    report = (out / "report.md").read_text()
    for name in FILES[4:]:
        assert (f"]({name})" in report) is (name != "short_answers.png" or shown)
    assert "## By language" in report and "## Worst cases" in report


@pytest.mark.slow
def test_cli_eval_norquad_contexts_negatives_baseline(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    rows = [
        json.loads(line) for line in dataset("norquad", "validation.jsonl").open(encoding="utf-8")
    ][:40]
    firsts: dict[str, dict[str, object]] = {}
    for row in rows:  # three items on three different documents
        firsts.setdefault(str(row["context"]).split("\n")[0], row)
    picked = list(firsts.values())[:3]
    path = tmp_path / "nq.jsonl"
    path.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in picked) + "\n{broken\n",
        encoding="utf-8",
    )
    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps({**dict.fromkeys(HEADLINE, 0.5), "ci": {}}))
    out = tmp_path / "out"
    r = run_cli(
        [
            "eval",
            str(path),
            "--out",
            str(out),
            "--add-negatives",
            "--skip-invalid",
            "--seed",
            "3",
            "--baseline",
            str(baseline),
        ],
        cli_env,
    )
    assert r.returncode == 0, r.stderr
    assert f"skipped: {path}:4:2: bad JSON" in r.stderr
    assert r.stdout.startswith("| metric | baseline | now | difference | outside 95% CI |")
    assert r.stdout.count("\n") == 2 + len(HEADLINE)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {
        "n_total": 7,
        "n_scored": 6,
        "n_error": 0,
        "n_skipped": 1,
        "n_answerable": 3,
        "n_unanswerable": 3,
    }
    assert summary["abstention_recall"] is not None
    assert set(summary["by_source"]) <= {"news", "wiki"} and summary["by_lang"] == {}
    preds = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    ids = [p["id"] for p in preds]
    assert ids[3:] == [f"{p['id']}#neg" for p in picked]
    own = {p["id"]: p["article"] for p in preds}
    for p in picked:  # each negative is asked against another document's context
        assert own[f"{p['id']}#neg"] != own[p["id"]]
        assert own[p["id"]].startswith("ctx-")
    report = (out / "report.md").read_text()
    assert "| baseline | difference | outside CI |" in report
    assert "with `--add-negatives`" in report and "skipped rows" in report
    # the contexts went into a temporary store, not the user's default one
    assert not (Path(cli_env["XDG_DATA_HOME"]) / "articlebot" / "store").exists()


def test_cli_eval_checks_every_output_before_the_first_question(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"id": "a", "question": "Hvem kom?"}\n', encoding="utf-8")
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    cases: list[tuple[Path, str]] = [
        (a_file, "exists and is not a directory"),
        (a_file / "out", "cannot write there"),
        (tmp_path / ("x" * 300), "cannot write there"),
    ]
    for name in ("items.csv", "summary.json", "predictions.jsonl", "report.md"):
        out = tmp_path / f"out-{name}"
        (out / name).mkdir(parents=True)
        cases.append((out, f"{name} is a directory"))
    store = tmp_path / "store"
    for out, expected in cases:
        r = run_cli(
            ["eval", str(qa), "--out", str(out), "--store", str(store)], cli_env, timeout=120
        )
        assert (r.returncode, r.stdout) == (2, ""), r.stderr
        assert r.stderr.startswith(f"articlebot: error: --out {out}: {expected}"), r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert not store.exists()  # no engine was opened: not one question was asked


def test_gold_ids_follow_document_order_so_they_pair_with_their_sentences() -> None:
    from bot.eval.outcome import document_order

    ids = ["article:10", "article:2", "article:1"]
    assert sorted(ids, key=document_order) == ["article:1", "article:2", "article:10"]
    item = QAItem(id="q", question="Hvem?", answers=("x",), evidence=(), answerable=True)
    outcome = score(
        item, None, {"article:10", "article:2"}, "boom", None, ["second sentence", "tenth sentence"]
    )
    assert list(zip(outcome.gold, outcome.gold_texts, strict=True)) == [
        ("article:2", "second sentence"),
        ("article:10", "tenth sentence"),
    ]


def test_the_summary_line_names_abstention_even_when_nothing_could_be_refused(
    shared_store: Path, tmp_path: Path
) -> None:
    from tests.conftest import run_cli

    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("ARTICLEBOT_")}
    r = run_cli(
        [
            "eval",
            str(DEV_QA),
            "--limit",
            "2",
            "--out",
            str(tmp_path / "out"),
            "--store",
            str(shared_store),
        ],
        env,
    )
    assert r.returncode == 0, r.stderr
    assert "abstention_f1=n/a" in r.stderr and "false_abstention_rate=" in r.stderr
