from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DEV_QA, REPO, dataset, run_cli


def test_ask_json_prints_one_record_with_verbatim_citations(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    store = tmp_path / "store"
    r = run_cli(["ask", "Hvem er Sergej Radtsjenko?", "--json", "--store", str(store)], cli_env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert "building the index" in r.stderr
    assert record["backend"] == "extractive" and record["language"] == "nb"
    assert record["article"] == "article" and not record["abstained"]
    assert record["citations"] and len(record["ranking"]) == 5
    from index.article import read_article
    from tests.conftest import ARTICLE

    text = read_article(ARTICLE).text
    for c in record["citations"]:
        assert text[c["start"] : c["end"]] == c["text"]
    assert any("Radtsjenko" in c["text"] for c in record["citations"])


def test_errors_are_one_line_exit_2(tmp_path: Path, cli_env: dict[str, str]) -> None:
    r = run_cli(["ask", "   ", "--store", str(tmp_path / "s")], cli_env)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    r = run_cli(["ask", "x?", "--article", "no-such", "--store", str(tmp_path / "s")], cli_env)
    assert r.returncode == 2 and "no-such" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(["frobnicate"], cli_env)
    assert r.returncode == 2


def test_commands_that_fail_or_only_read_make_no_store(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """A document that cannot be read is refused before the store is opened, and listing
    a store that was never made says it is empty without making it."""
    (tmp_path / "empty.txt").write_text("")
    store = tmp_path / "s"
    r = run_cli(["index", str(tmp_path / "empty.txt"), "--store", str(store)], cli_env)
    assert r.returncode == 2 and "the article is empty" in r.stderr
    r = run_cli(["ask", "Hva?", "--article", str(tmp_path), "--store", str(store)], cli_env)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0  # no "building ..." first
    assert "directory" in r.stderr
    r = run_cli(["articles", "--store", str(store)], cli_env)
    assert r.returncode == 0 and "no articles indexed" in r.stderr
    assert not store.exists()


def test_reranker_none_keeps_the_first_stage_and_bad_reranker_settings_are_one_line(
    shared_store: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    ask = ["ask", "Hvem er Sergej Radtsjenko?", "--json", "--store", str(shared_store)]
    records = {}
    for choice in ("ce", "none"):
        r = run_cli([*ask, "--reranker", choice], cli_env)
        assert r.returncode == 0, r.stderr
        records[choice] = json.loads(r.stdout)
    assert records["ce"]["timings_ms"]["rerank"] > 0
    assert records["none"]["timings_ms"]["rerank"] == 0
    r = run_cli([*ask, "--reranker", "bogus"], cli_env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    missing = str(tmp_path / "nothing-here")
    for env, flags in (
        ({"ARTICLEBOT_RERANKER": "bogus"}, []),
        ({"ARTICLEBOT_RERANKER_DIR": missing}, []),
        ({}, ["--reranker-dir", missing]),  # the flag reaches the same setting
    ):
        r = run_cli([*ask, *flags], {**cli_env, **env})
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
        assert "reranker" in r.stderr.lower(), r.stderr
    r = run_cli([*ask, "--ranker-file", str(tmp_path / "none.json")], cli_env)
    assert r.returncode == 2 and "none.json" in r.stderr and "Traceback" not in r.stderr


def test_index_articles_remove_and_eval(tmp_path: Path, cli_env: dict[str, str]) -> None:
    store = ["--store", str(tmp_path / "s")]
    assert run_cli(["index", *store], cli_env).returncode == 0
    r = run_cli(["index", *store], cli_env)
    assert "unchanged article" in r.stderr
    r = run_cli(["articles", *store], cli_env)
    assert r.stdout.startswith("article\t22\te5-small-q4\tEkspert: Putins")
    out = tmp_path / "out"
    r = run_cli(["eval", str(DEV_QA), "--out", str(out), *store], cli_env)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["n_total"] == 24
    # a sanity floor far above chance (1 in 22); the measured figures live in docs/quality.md
    assert summary["hit_at_1"] >= 0.6
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in preds][:2] == ["d01", "d02"]
    r = run_cli(["remove", "article", *store], cli_env)
    assert r.returncode == 0
    assert run_cli(["articles", *store], cli_env).stdout == ""


def test_version(cli_env: dict[str, str]) -> None:
    r = run_cli(["--version"], cli_env)
    assert r.returncode == 0 and r.stdout.startswith("articlebot ")


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_an_article_that_is_not_a_regular_file_is_refused_at_once(
    cli_env: dict[str, str], tmp_path: Path, kind: str
) -> None:
    """The size limit counts bytes read: /dev/zero and a FIFO report a size of 0."""
    import os
    import time

    if kind == "device":
        target = "/dev/zero"
    elif kind == "fifo":
        target = str(tmp_path / "pipe.txt")
        os.mkfifo(target)
    else:
        target = str(tmp_path / "folder.txt")
        os.mkdir(target)
    t0 = time.monotonic()
    result = run_cli(["index", target, "--store", str(tmp_path / "store")], cli_env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - t0 < 30
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and ("not a regular file" in lines[0] or "directory" in lines[0])


def test_ask_on_the_default_path_never_imports_torch(
    shared_store: Path, cli_env: dict[str, str]
) -> None:
    """The default install carries no torch: the default path must not need it."""
    import subprocess
    import sys

    from tests.conftest import REPO

    probe = (
        "import sys\nfrom bot.ui.cli import main\n"
        "code = main(['ask', 'Hvem er Sergej Radtsjenko?', '--store', sys.argv[1], '-q'])\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers',"
        " 'sklearn', 'scipy', 'matplotlib') if m in sys.modules)\n"
        "print(code, heavy)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe, str(shared_store)],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "0 []"


def test_serve_on_an_impossible_or_busy_port_is_one_line_exit_2(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    import socket

    r = run_cli(["serve", "--port", "99999", "--store", str(tmp_path / "s")], cli_env, timeout=60)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "setting port (--port) = 99999" in r.stderr and "serving" not in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run_cli(
            ["serve", "--port", str(port), "--store", str(tmp_path / "s")], cli_env, timeout=120
        )
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"articlebot: error: port {port} on 127.0.0.1 is in use; pick another with --port"
    ]


def test_an_article_over_the_cost_limits_is_one_line_before_any_embedding(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """1 MB of one-word sentences would be half an hour of embedding: refused at once."""
    import time

    short = tmp_path / "short.txt"
    short.write_text("Ja. " * 240_000, encoding="utf-8")
    store = ["--store", str(tmp_path / "store")]
    t0 = time.monotonic()
    r = run_cli(["index", str(short), *store], cli_env, timeout=120)
    assert r.returncode == 2, r.stderr
    assert time.monotonic() - t0 < 60
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "240000 sentences" in lines[0]
    assert "max_article_sentences" in lines[0]
    r = run_cli(["index", *store], {**cli_env, "ARTICLEBOT_MAX_ARTICLE_CHARS": "1000"})
    assert r.returncode == 2 and "max_article_chars" in r.stderr, r.stderr
    assert r.stderr.strip().count("\n") == 0
    assert run_cli(["articles", *store], cli_env).stdout == ""
    # the defaults fit the bundled article and 1 MB of news prose
    prose = tmp_path / "prose.txt"
    contexts = dict.fromkeys(
        json.loads(line)["context"]
        for line in dataset("norquad", "train.jsonl").read_text().splitlines()
    )
    prose.write_bytes(
        "\n".join(contexts).encode("utf-8")[:999_000].decode("utf-8", "ignore").encode("utf-8")
    )
    from bot.engine import Engine
    from bot.settings import Settings
    from index.article import read_article
    from index.sentence import split_article

    limits = Engine(Settings(store=tmp_path / "unused")).limits()
    for path in (prose, REPO / "index" / "data" / "article.txt"):
        article = read_article(path)
        limits.check(article, len(split_article(article)))


def _capped_cli(args: list[str], env: dict[str, str], timeout: float) -> Any:
    """`python -m bot ARGS` with its address space capped at 4 GB: a reader that trusts
    /dev/zero fails with MemoryError instead of taking the machine's memory."""
    import resource
    import subprocess
    import sys

    from tests.conftest import REPO

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
        preexec_fn=cap,
    )


@pytest.mark.parametrize("kind", ["device", "fifo"])
@pytest.mark.parametrize(
    "option",
    ["baseline", "ranker_file", "reranker.json", "reranker.onnx", "feedback", "questions_file"],
)
def test_every_file_the_product_reads_is_bounded(
    shared_store: Path, cli_env: dict[str, str], tmp_path: Path, option: str, kind: str
) -> None:
    """/dev/zero (size 0, endless) and a FIFO (blocks) as each file a user can name: exit 2
    with one line, within seconds."""
    import os
    import shutil
    import time

    def hostile(path: Path) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "device":
            path.symlink_to("/dev/zero")
        else:
            os.mkfifo(path)
        return str(path)

    env = dict(cli_env)
    ask = ["ask", "Hvem er Sergej Radtsjenko?", "--store", str(shared_store)]
    if option == "baseline":
        args = [
            "eval",
            str(DEV_QA),
            "--out",
            str(tmp_path / "out"),
            "--store",
            str(shared_store),
            "--baseline",
            hostile(tmp_path / "summary.json"),
        ]
    elif option == "ranker_file":
        args = ask
        env["ARTICLEBOT_RANKER_FILE"] = hostile(tmp_path / "ranker.json")
    elif option.startswith("reranker."):
        folder = tmp_path / "reranker"
        folder.mkdir()
        shipped = REPO / "bot" / "data"
        for name in ("reranker.json", "reranker.onnx"):
            if name == option:
                hostile(folder / name)
            else:
                shutil.copyfile(shipped / name, folder / name)
        args = ask
        env["ARTICLEBOT_RERANKER_DIR"] = str(folder)
        env["ARTICLEBOT_DATA_DIR"] = str(tmp_path / "data")
    elif option == "feedback":
        hostile(Path(env["XDG_DATA_HOME"]) / "articlebot" / "feedback.jsonl")
        args = [
            "feedback",
            "export",
            "--out",
            str(tmp_path / "rated.jsonl"),
            "--store",
            str(shared_store),
        ]
    else:
        args = [
            "bench",
            "--quick",
            "--no-peer",
            "--no-llm",
            "--store",
            str(shared_store),
            "--questions-file",
            hostile(tmp_path / "questions.jsonl"),
        ]
    t0 = time.monotonic()
    result = _capped_cli(args, env, timeout=90)
    assert result.returncode == 2, result.stderr[-2000:]
    assert time.monotonic() - t0 < 60
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert "not a regular file" in lines[0], lines[0]


def test_an_empty_store_setting_is_an_error_not_the_current_directory(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    r = run_cli(["articles"], {**cli_env, "ARTICLEBOT_STORE": ""})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "ARTICLEBOT_STORE" in lines[0] and "empty" in lines[0]


def test_error_lines_escape_newlines_and_terminal_escapes(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    name = str(tmp_path / "evil\n\x1b[2Jnavn\u202e.txt")
    r = run_cli(["index", name, "--store", str(tmp_path / "store")], cli_env)
    assert r.returncode == 2, r.stderr
    assert "\x1b" not in r.stderr and "\u202e" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "evil\\n\\x1b[2Jnavn\\u202e.txt" in lines[0], lines
    r = run_cli(["ask", "x?", "--reranker", "ce\x1b[31m"], cli_env)  # argparse's own errors
    assert r.returncode == 2 and "\x1b" not in r.stderr and "\\x1b" in r.stderr


@pytest.mark.parametrize("jobs", ["0", "33", "100000"])
def test_eval_jobs_is_bounded(cli_env: dict[str, str], tmp_path: Path, jobs: str) -> None:
    r = run_cli(
        [
            "eval",
            str(DEV_QA),
            "--out",
            str(tmp_path / "out"),
            "--store",
            str(tmp_path / "store"),
            "--jobs",
            jobs,
        ],
        cli_env,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--jobs must be from 1 to 32" in lines[0], lines
