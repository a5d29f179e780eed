"""Saved pages, PDFs and bad documents through the real CLI: the bundled article saved as a
web page answers the dev questions exactly as well as the .txt (hit@1 from `eval`'s
summary.json, with the page named by `--article` and by each item's `article`), its
metadata is listed by `articles --json`, and a document that cannot be read is one line,
exit 2, with the store unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ARTICLE, DEV_QA, REPO, run_cli

PAGE = REPO / "tests" / "index" / "fixtures" / "article.html"
DEV = DEV_QA


def _hit_at_1(out: Path) -> float:
    return float(json.loads((out / "summary.json").read_text("utf-8"))["hit_at_1"])


@pytest.mark.slow
def test_the_saved_page_answers_the_dev_file_as_well_as_the_text(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    store = ["--store", str(tmp_path / "store")]
    for name, article in (("txt", ARTICLE), ("page", PAGE)):
        r = run_cli(
            [
                "eval",
                str(DEV),
                "--article",
                str(article),
                "--out",
                str(tmp_path / name),
                "-q",
                *store,
            ],
            cli_env,
        )
        assert r.returncode == 0, r.stderr
    # the same page named by each item of a Q&A file saved beside it
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "putin-kim.html").write_bytes(PAGE.read_bytes())
    rows = [json.loads(line) for line in DEV.read_text("utf-8").splitlines() if line.strip()]
    (folder / "qa.jsonl").write_text(
        "".join(
            json.dumps({**row, "article": "putin-kim.html"}, ensure_ascii=False) + "\n"
            for row in rows
        ),
        encoding="utf-8",
    )
    r = run_cli(
        ["eval", str(folder / "qa.jsonl"), "--out", str(tmp_path / "items"), "-q", *store], cli_env
    )
    assert r.returncode == 0, r.stderr
    assert _hit_at_1(tmp_path / "page") == _hit_at_1(tmp_path / "txt") >= 0.8
    assert _hit_at_1(tmp_path / "items") == _hit_at_1(tmp_path / "txt")
    listed = json.loads(run_cli(["articles", "--json", *store], cli_env).stdout)
    page = next(a for a in listed if a["source"].endswith("putin-kim.html"))
    assert (page["title"], page["byline"], page["published"], page["site"]) == (
        "Ekspert: Putins desperate trekk kan få Kim til å glise",
        "Kari Nordmann",
        "2023-09-06",
        "Dagsavisen Øst",
    )
    page_text = PAGE.read_text("utf-8")
    for line in (tmp_path / "page" / "predictions.jsonl").read_text("utf-8").splitlines():
        for citation in json.loads(line)["citations"]:
            assert citation["text"] in page_text  # verbatim from the page


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "front.html",
            b"<!doctype html><html><body><nav><a href='/'>Hjem</a></nav>"
            b"<script>x()</script></body></html>",
            "front.html: no article text found",
        ),
        ("scan.pdf", b"<html><body><p>not a pdf</p></body></html>", "scan.pdf: not a PDF"),
        (
            "latin.html",
            b'<html><head><meta charset="x-martian"></head><body>x</body></html>',
            "unknown character set 'x-martian'",
        ),
        # the document libraries' own log lines about what they could not parse stay hidden
        ("cut.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "cut.pdf: "),
        ("image.html", b"\x89PNG\r\n\x1a\n<\x00\x00\rIHDR" + bytes(range(256)), "image.html: "),
        ("saved.txt", b"<!doctype html><html><body><p>x</p></body></html>", "not .txt"),
    ],
)
def test_a_document_that_cannot_be_read_is_one_line_and_changes_nothing(
    tmp_path: Path, cli_env: dict[str, str], name: str, data: bytes, message: str
) -> None:
    store = ["--store", str(tmp_path / "store")]
    assert run_cli(["index", "-q", *store], cli_env).returncode == 0
    before = run_cli(["articles", "--json", *store], cli_env).stdout
    bad = tmp_path / name
    bad.write_bytes(data)
    r = run_cli(["index", str(ARTICLE.parent / "article.txt"), str(bad), *store], cli_env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.stderr
    assert run_cli(["articles", "--json", *store], cli_env).stdout == before


def test_a_link_to_loopback_is_refused_by_default(tmp_path: Path, cli_env: dict[str, str]) -> None:
    r = run_cli(
        ["index", "http://127.0.0.1:9/nyheter/artikkel", "--store", str(tmp_path / "store")],
        cli_env,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "a loopback address; refused" in r.stderr


def test_a_link_of_another_scheme_is_refused_as_a_link(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    store = ["--store", str(tmp_path / "store")]
    r = run_cli(["index", "ftp://example.com/news/article.txt", *store], cli_env)
    assert r.returncode == 2
    assert r.stderr == (
        "articlebot: error: ftp://example.com/news/article.txt: only http and https links "
        "can be read\n"
    )
