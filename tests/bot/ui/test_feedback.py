"""Ratings saved by the web chat, and `articlebot feedback export` turning them into a Q&A
file that eval reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.ui.feedback import CitedSentence, FeedbackRecord, export, load, qa_item, save
from core.errors import ArticlebotError
from tests.conftest import ARTICLE, run_cli

RADTSJENKO = (
    "For den russiskfødte analytikeren Sergej Radtsjenko tyder meldingene om møtet "
    "på et skifte i maktbalansen og en trussel mot den gamle kald-krig politikken."
)
PROFESSOR = "Radtsjenko, som er professor ved Henry A Kissinger Center"


def _liked() -> FeedbackRecord:
    return FeedbackRecord(
        article="article",
        question="Hvem er Sergej Radtsjenko?",
        answer="...",
        rating="up",
        language="nb",
        citations=(CitedSentence(1, "article:6", RADTSJENKO),),
    )


def _abstained(rating: str = "up") -> FeedbackRecord:
    return FeedbackRecord(
        article="article",
        question="Hva er hovedstaden i Frankrike?",
        answer="Artikkelen sier ikke noe om dette.",
        rating=rating,  # type: ignore[arg-type]
        citations=(CitedSentence(1, "article:8", "x", support=False),),
    )


def test_ratings_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "feedback.jsonl"
    save(path, _liked())
    save(path, _abstained("down"))
    first, second = load(path)
    assert first == _liked().__class__(**{**_liked().__dict__, "time": first.time})
    assert second.rating == "down" and second.abstained
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["abstained"] is False


def test_a_broken_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    save(path, _liked())
    with path.open("a", encoding="utf-8") as f:
        f.write('{"rating": "meh"}\n')
    with pytest.raises(ArticlebotError, match=r"feedback.jsonl:2: rating must be"):
        load(path)


def test_what_each_rating_says_about_the_gold() -> None:
    liked = qa_item(_liked(), "ctx")
    assert liked is not None
    assert (liked["evidence"], liked["answerable"], liked["lang"]) == ([RADTSJENKO], True, "nb")
    abstained = qa_item(_abstained(), "ctx")
    assert abstained is not None and abstained["answerable"] is False
    assert qa_item(_abstained("down"), "ctx") is None  # a dislike with no right sentence
    corrected = FeedbackRecord(
        **{**_liked().__dict__, "rating": "down", "right_sentence": PROFESSOR}
    )
    item = qa_item(corrected, "ctx")
    assert item is not None and item["evidence"] == [PROFESSOR] and item["answerable"] is True


def test_export_keeps_the_latest_rating_per_question(tmp_path: Path) -> None:
    corrected = FeedbackRecord(
        **{**_liked().__dict__, "rating": "down", "right_sentence": PROFESSOR}
    )
    gone = FeedbackRecord(**{**_liked().__dict__, "article": "removed"})
    out = tmp_path / "qa.jsonl"
    written, skipped = export(
        [_liked(), corrected, gone], lambda a: "text" if a == "article" else None, out
    )
    assert (written, skipped) == (1, 1)
    (item,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert item["evidence"] == [PROFESSOR] and item["context"] == "text"


def test_cli_exports_a_file_that_eval_reads(
    tmp_path: Path, shared_store: Path, cli_env: dict[str, str]
) -> None:
    from bot.eval.qafile import read_qa_file

    feedback = Path(cli_env["XDG_DATA_HOME"]) / "articlebot" / "feedback.jsonl"
    save(feedback, _liked())
    save(feedback, _abstained())
    save(feedback, _abstained("down"))
    out = tmp_path / "fb.jsonl"
    result = run_cli(
        ["feedback", "export", "--out", str(out), "--store", str(shared_store)], cli_env
    )
    assert result.returncode == 0, result.stderr
    # the later dislike (with no right sentence) replaced the like of the abstention
    assert "wrote 1 Q&A items" in result.stderr and "skipped 1" in result.stderr
    qa = read_qa_file(out)
    assert [(i.answerable, i.evidence) for i in qa.items] == [(True, (RADTSJENKO,))]
    assert not qa.warnings
    assert qa.items[0].context == ARTICLE.read_text(encoding="utf-8")

    save(feedback, _abstained())
    assert (
        run_cli(
            ["feedback", "export", "--out", str(out), "--store", str(shared_store)], cli_env
        ).returncode
        == 0
    )
    result = run_cli(
        ["eval", str(out), "--out", str(tmp_path / "eval"), "--store", str(tmp_path / "evalstore")],
        cli_env,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    counts = summary["counts"]
    assert (counts["n_total"], counts["n_error"]) == (2, 0)
    assert (counts["n_answerable"], counts["n_unanswerable"]) == (1, 1)
    assert summary["hit_at_1"] is not None  # scored against the feedback's evidence


def test_cli_export_without_ratings_leaves_the_file_as_it_was(
    tmp_path: Path, shared_store: Path, cli_env: dict[str, str]
) -> None:
    out = tmp_path / "kept.jsonl"
    out.write_text("an earlier export\n")
    result = run_cli(
        ["feedback", "export", "--out", str(out), "--store", str(shared_store)], cli_env
    )
    assert result.returncode == 0, result.stderr
    assert "no Q&A item to write" in result.stderr and "from 0 ratings" in result.stderr
    assert out.read_text() == "an earlier export\n"


# -- hostile logs and outputs: one line naming the place, never a traceback -----------------

BAD_LINES = {
    "invalid UTF-8": (
        b'{"rating": "up", "question": "Bl\xe5?"}',
        "not valid UTF-8 (byte 0xe5 at column 33)",
    ),
    "torn write": (b'{"article": "article", "rating": "up", "quest', "bad JSON at column"),
    "deep nesting": (b"[" * 200_000, "bad JSON: nested too deeply"),
    "5000-digit number": (
        b'{"rating": "up", "n": ' + b"1" * 5_000 + b"}",
        "bad JSON: Exceeds the limit (4300 digits)",
    ),
    "lone surrogate": (
        json.dumps({**json.loads(_liked().to_json()), "question": "Hvem \ud800?"}).encode(),
        "not valid text (a lone surrogate escape)",
    ),
    "citations not a list": (
        json.dumps({**json.loads(_liked().to_json()), "citations": 3}).encode(),
        "field 'citations' must be a list",
    ),
    "citation without text": (
        json.dumps({**json.loads(_liked().to_json()), "citations": [{"n": 1}]}).encode(),
        "each citation needs 'sentence_id' and 'text'",
    ),
    "language not a string": (
        json.dumps({**json.loads(_liked().to_json()), "language": ["nb"]}).encode(),
        "field 'language' must be a string",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_malformed_line_is_one_error_naming_file_and_line(tmp_path: Path, case: str) -> None:
    raw, expected = BAD_LINES[case]
    path = tmp_path / "feedback.jsonl"
    save(path, _liked())
    with path.open("ab") as f:
        f.write(raw + b"\n")
    with pytest.raises(ArticlebotError) as err:
        load(path)
    assert str(err.value).startswith(f"{path}:2: {expected}"), str(err.value)
    assert "\n" not in str(err.value)


def test_an_unreadable_log_is_one_error(tmp_path: Path) -> None:
    assert load(tmp_path / "missing.jsonl") == []
    with pytest.raises(ArticlebotError, match=rf"{tmp_path}: is a directory"):
        load(tmp_path)


def test_export_refuses_outputs_it_cannot_write(tmp_path: Path) -> None:
    from core.errors import ConfigError

    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    cases = {
        tmp_path: "is a directory",
        a_file / "qa.jsonl": "cannot write there",
        tmp_path / ("x" * 300) / "qa.jsonl": "cannot write there",
        Path("/dev/null"): "not a regular file",
    }
    for out, expected in cases.items():
        with pytest.raises(ConfigError) as err:
            export([_liked()], lambda a: "text", out)
        assert str(err.value).startswith(f"--out {out}: {expected}"), str(err.value)
    assert Path("/dev/null").is_char_device()


def test_export_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    out = tmp_path / "qa.jsonl"
    out.write_text("old\n")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(ArticlebotError, match="No space left on device"):
        export([_liked()], lambda a: "text", out)
    assert out.read_text() == "old\n"  # the previous export is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qa.jsonl"]  # no temporary left
    monkeypatch.undo()
    assert export([_liked()], lambda a: "text", out) == (1, 0)
    assert json.loads(out.read_text())["context"] == "text"


def test_cli_export_errors_are_one_line(tmp_path: Path, cli_env: dict[str, str]) -> None:
    store = tmp_path / "store"
    feedback = Path(cli_env["XDG_DATA_HOME"]) / "articlebot" / "feedback.jsonl"
    save(feedback, _liked())
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    r = run_cli(
        ["feedback", "export", "--out", str(outdir), "--store", str(store)], cli_env, timeout=120
    )
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert r.stderr == f"articlebot: error: --out {outdir}: is a directory\n"
    with feedback.open("ab") as f:
        f.write(b'{"rating": "up", "question": "Bl\xe5?"}\n')
    r = run_cli(
        ["feedback", "export", "--out", str(tmp_path / "fb.jsonl"), "--store", str(store)],
        cli_env,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == (
        f"articlebot: error: {feedback}:2: not valid UTF-8 (byte 0xe5 at column 33)\n"
    )
    assert not (tmp_path / "fb.jsonl").exists()


def test_a_second_rating_of_a_message_replaces_the_first_and_keeps_every_other_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feedback.jsonl"
    save(path, _liked())
    # a hand-edited line with no final newline: kept byte for byte
    with path.open("ab") as f:
        f.write(b'{"note": "kept as it is \\u00e6"}')
    rated = FeedbackRecord(
        article="article",
        question="Hvem?",
        answer="Han.",
        rating="up",
        message="m1",
        record={"answer": "Han.", "citations": []},
    )
    save(path, rated)
    save(path, FeedbackRecord(**{**rated.__dict__, "rating": "down"}))  # the last line: cut
    save(
        path,
        FeedbackRecord(
            article="article", question="Hvem?", answer="Han.", rating="down", message="m2"
        ),
    )
    save(path, FeedbackRecord(**{**rated.__dict__, "right_sentence": "Han er professor."}))
    lines = path.read_bytes().splitlines()
    assert lines[1] == b'{"note": "kept as it is \\u00e6"}'
    kept = [json.loads(line) for line in lines]
    assert [(r.get("message"), r.get("rating")) for r in kept] == [
        (None, "up"),
        (None, None),
        ("m1", "down"),
        ("m2", "down"),
        ("m1", "up"),
    ]
    del lines[1]
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert [(r.message, r.rating) for r in load(path)] == [
        (None, "up"),
        ("m2", "down"),
        ("m1", "up"),
    ]  # the last rating of m1, in its place
    assert load(path)[-1].right_sentence == "Han er professor."


def test_ratings_are_appended_and_bounded(tmp_path: Path) -> None:
    """Saving never rewrites what is there (a rating is an append), a rating is one bounded
    line (a huge ranking is left out), and a full log refuses more with a message."""

    from bot.ui import feedback

    path = tmp_path / "feedback.jsonl"
    save(path, _liked())
    before, inode = path.read_bytes(), path.stat().st_ino
    ranking = [{"sentence_id": f"a:{i}", "text": "x" * 10_000} for i in range(400)]
    huge = FeedbackRecord(
        **{**_liked().__dict__, "message": "m", "record": {"answer": "...", "ranking": ranking}}
    )
    save(path, huge)
    assert path.stat().st_ino == inode and path.read_bytes().startswith(before)
    assert path.stat().st_size < feedback.MAX_LINE_BYTES + len(before)
    assert load(path)[-1].record == {"answer": "..."}
    too_big = FeedbackRecord(**{**_liked().__dict__, "question": "q" * 300_000})
    with pytest.raises(ArticlebotError, match="larger than"):
        save(path, too_big)
    with path.open("ab") as f:  # a log at its bound
        f.write(b" " * (feedback.MAX_FILE_BYTES - path.stat().st_size - 10) + b"\n")
    size = path.stat().st_size
    with pytest.raises(ArticlebotError, match="full"):
        save(path, _liked())
    assert path.stat().st_size == size


def test_ratings_saved_at_once_from_threads_are_all_kept(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "feedback.jsonl"

    def rate(i: int) -> None:
        save(
            path,
            FeedbackRecord(
                article="article", question=f"q{i}", answer="a", rating="up", message=f"m{i % 10}"
            ),
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(rate, range(40)))
    messages = sorted(r.message or "" for r in load(path))
    assert messages == sorted(f"m{i}" for i in range(10))  # one per message, none lost
