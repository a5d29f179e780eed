"""The web chat through its API (gradio_client against `python app.py`) and its pure parts."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.bot.ui.webapp import WebApp, running_app
from tests.conftest import DEV_QA

RADTSJENKO = (
    "Radtsjenko, som er professor ved Henry A Kissinger Center, Johns Hopkins "
    "School of Advanced International Studies, peker på at Russland, som fast "
    "medlem av FNs sikkerhetsråd har, sammen med Kina, lagt ned veto mot nye "
    "resolusjoner mot Kim Jong-uns regime etter nye missiltester."
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebApp]:
    """The real web chat, started once for this module."""
    with running_app(tmp_path_factory.mktemp("web")) as running:
        yield running


def _client(app: WebApp) -> Any:
    from gradio_client import Client

    return Client(app.url, verbose=False)


def test_chat_endpoint_answers_with_sources(app: WebApp) -> None:
    reply = _client(app).predict("Hvem er Sergej Radtsjenko?", api_name="/chat")
    assert "Kilder / Sources" in reply
    answer, sources = reply.split("Kilder / Sources", 1)
    assert html.escape(RADTSJENKO, quote=False) in sources  # verbatim, words intact
    assert reply.count(html.escape(RADTSJENKO, quote=False)) == 1  # quoted once, not twice
    assert "[1](#s-article-10)" in answer  # the marker links to the sentence in the panel


def test_abstention_offers_closest_sentences_as_not_support(app: WebApp) -> None:
    reply = _client(app).predict("Hva er hovedstaden i Frankrike?", api_name="/chat")
    assert reply.startswith("Artikkelen sier ikke noe om dette.")
    assert "ikke belegg" in reply and "Kilder / Sources" not in reply
    reply = _client(app).predict("How many moons does Jupiter have?", api_name="/chat")
    assert reply.startswith("The article doesn't say.")
    assert "not support" in reply


def test_follow_up_uses_this_sessions_history(app: WebApp) -> None:
    alone = _client(app).predict("Hvor underviser han?", api_name="/chat")
    client = _client(app)  # one client is one session: /chat keeps its history
    client.predict("Hvem er Sergej Radtsjenko?", api_name="/chat")
    follow_up = client.predict("Hvor underviser han?", api_name="/chat")
    assert follow_up != alone
    assert "Radtsjenko" in follow_up.split("Kilder / Sources", 1)[1]
    # another session asking the same follow-up still knows nothing of this conversation
    assert _client(app).predict("Hvor underviser han?", api_name="/chat") == alone


def test_twelve_concurrent_users_each_get_their_own_answer(app: WebApp) -> None:
    rows = [json.loads(line) for line in (DEV_QA).read_text(encoding="utf-8").splitlines()]
    questions = [r["question"] for r in rows][:12]
    assert len(set(questions)) == 12
    expected = {q: _client(app).predict(q, api_name="/chat") for q in questions}
    assert len(set(expected.values())) > 6  # the questions have different answers

    def ask(question: str) -> tuple[str, str]:
        return question, _client(app).predict(question, api_name="/chat")

    with ThreadPoolExecutor(max_workers=12) as pool:
        got = dict(pool.map(ask, questions))
    assert got == expected


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "\u200b\u200b", "\u00ad"])
def test_empty_questions_get_a_friendly_reply(app: WebApp, question: str) -> None:
    client = _client(app)
    reply = client.predict(question, api_name="/chat")
    assert reply in (
        "Skriv et spørsmål om artikkelen.",
        "Please type a question about the article.",
    )
    assert "Kilder / Sources" in client.predict("Hvem er Sergej Radtsjenko?", api_name="/chat")


def test_oversized_question_is_refused_server_side(app: WebApp) -> None:
    client = _client(app)
    for size in (10_000, 100_000, 1_000_000):
        reply = client.predict("Hvem " + "x" * size, api_name="/chat")
        assert "for langt" in reply or "too long" in reply
    assert "Kilder / Sources" in client.predict("Hvem er Sergej Radtsjenko?", api_name="/chat")


@pytest.mark.parametrize(
    "question",
    [
        "Hvem er\x00 Sergej Radtsjenko?",
        "Hvem er \x1b[2JSergej Radtsjenko?",
        "Hvem er\r Sergej \u202eRadtsjenko?",
        "Hvem er \U000e0041Sergej Radtsjenko?",
    ],
)
def test_control_characters_are_stripped(app: WebApp, question: str) -> None:
    reply = _client(app).predict(question, api_name="/chat")
    assert html.escape(RADTSJENKO, quote=False) in reply


def test_lone_surrogate_is_refused_with_a_message(app: WebApp) -> None:
    # gradio_client cannot send a lone surrogate; raw JSON over REST can
    body = b'{"data": ["Hvem er \\ud800?"]}'
    request = urllib.request.Request(
        f"{app.url}gradio_api/call/chat", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(
        f"{app.url}gradio_api/call/chat/{event_id}", timeout=60
    ) as response:
        stream = response.read().decode("utf-8")
    assert "event: complete" in stream, stream
    assert "surrogate" in stream


@pytest.mark.parametrize(
    "payload",
    [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        "<style>body{display:none}</style>",
        "[x](javascript:alert(1))",
        "![](https://external.example/p.png)",
        "<svg onload=alert(1)>",
    ],
)
def test_api_answers_never_carry_markup_from_the_question(app: WebApp, payload: str) -> None:
    reply = _client(app).predict(f"Hvem er Sergej Radtsjenko? {payload}", api_name="/chat")
    for raw in ("<img", "<script", "<style", "<svg", "](javascript:", "![]("):
        assert raw not in reply


def test_gradio_version_gate() -> None:
    import gradio
    from packaging.version import Version

    assert Version(gradio.__version__) >= Version("6.16")


def test_non_loopback_needs_auth(tmp_path: Path) -> None:
    from bot.settings import Settings
    from bot.ui.server import serve
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="--auth"):
        serve(Settings(store=tmp_path, host="0.0.0.0"), lambda _: None)
    with pytest.raises(ConfigError, match="USER:PASSWORD"):
        serve(Settings(store=tmp_path, host="0.0.0.0", auth="nocolon"), lambda _: None)


# -- the pure parts: escaping, citations read back, the article panel ------------------------


@given(st.text())
def test_escape_is_undone_by_unescape_and_leaves_no_markup(text: str) -> None:
    from bot.ui.format import escape

    out = escape(text)
    assert html.unescape(out) == text
    bare = re.sub(r"&(#\d+|lt|gt|amp);", "", out)
    for ch in "<>[]`*_\\~#$&":
        assert ch not in bare


# What GFM (the chat's Markdown) turns into a link without link syntax.
GFM_AUTOLINK = re.compile(
    r"(?i)(?:https?|ftp)://|www\.|(?:mailto|xmpp):|"
    r"[a-z0-9._+-]@[a-z0-9-]"
)


@given(
    st.text(alphabet=st.sampled_from(list("hwtps:/.@mailoxAWW w.e-1")), max_size=40)
    | st.sampled_from(
        [
            "https://evil.example/x",
            "www.vg.no",
            "ola@nrk.no",
            "mailto:ola@nrk.no",
            "Se WWW.Example.com.",
            "ftp://x.y/z",
            "xmpp:ola@jabber.no",
            "(https://a.b)",
        ]
    )
)
def test_escape_leaves_nothing_gfm_autolinks(text: str) -> None:
    from bot.ui.format import escape

    out = escape(text)
    assert html.unescape(out) == text
    assert not GFM_AUTOLINK.search(out), out


def _answer(text: str, abstained: bool = False) -> Any:
    from bot.answer_records import Answer, Citation
    from core.records import Sentence

    sentence = Sentence(article_id="xss", n=3, kind="body", text=text, start=10, end=10 + len(text))
    citation = Citation(n=1, sentence=sentence, score=1.0, support=not abstained)
    return Answer(
        question="q",
        answer="Artikkelen sier ikke noe om dette." if abstained else f"{text} [1]",
        language="nb",
        article="xss",
        citations=(citation,),
        ranking=(),
        abstained=abstained,
    )


@pytest.mark.parametrize("abstained", [False, True])
def test_citations_are_read_back_from_the_markdown(abstained: bool) -> None:
    from bot.ui.format import answer_markdown, cited_in

    payload = "Ola skrev <img src=x onerror=alert(1)> og [x](javascript:alert(1)) 1. **"
    markdown = answer_markdown(_answer(payload, abstained))
    assert cited_in(markdown) == [(1, "xss:3", not abstained)]
    assert "<img" not in markdown and "](javascript" not in markdown
    assert (
        html.escape(payload, quote=False)
        .replace("[", "&#91;")
        .replace("]", "&#93;")
        .replace("*", "&#42;")
        in markdown
    )


def test_article_panel_escapes_and_numbers_cited_sentences() -> None:
    from bot.ui.panel import article_panel_html
    from core.records import Sentence

    text = "Tittel <b>\nOla skrev <script>alert(1)</script>.\nSlutt & farvel."
    sentences = []
    for n, part in enumerate(text.split("\n"), start=1):
        start = text.index(part)
        sentences.append(Sentence("a", n, "body", part, start, start + len(part)))
    out = article_panel_html("Tittel <b>", text, sentences, {2: (1, True), 3: (2, False)}, "en")
    assert "<script>" not in out and "<b>" not in out
    assert "Ola skrev &lt;script&gt;alert(1)&lt;/script&gt;." in out
    assert '<mark class="sent cited" id="s-a-2" data-n="1"><sup class="cite-n">[1]</sup>' in out
    assert '<mark class="sent closest" id="s-a-3" data-n="2"' in out
    assert '<span class="sent" id="s-a-1">' in out


def test_the_panel_marks_the_short_answer_inside_the_sentence_cited_first() -> None:
    from bot.answer_records import Answer, Citation, Ranked, ShortAnswer
    from bot.ui.format import answer_markdown, short_in
    from bot.ui.panel import article_panel_html
    from core.records import Sentence

    text = "Tittel\nBrua ble åpnet av <Erna> Solberg & co.\nSlutt."
    sentences = []
    for n, part in enumerate(text.split("\n"), start=1):
        start = text.index(part)
        sentences.append(Sentence("a", n, "body", part, start, start + len(part)))
    cited = sentences[1]
    short = ShortAnswer.inside(cited, "<Erna> Solberg", cited.text.index("<Erna>"), 0.95)
    answer = Answer(
        question="Hvem åpnet brua?",
        answer=f"{cited.text} [1]",
        language="nb",
        article="a",
        citations=(Citation(1, cited, 2.0),),
        ranking=(Ranked(cited, 2.0),),
        short_answer=short,
    )
    markdown = answer_markdown(answer)
    assert short_in(markdown) == "<Erna> Solberg" and text[short.start : short.end] == short.text
    out = article_panel_html(
        "Tittel", text, sentences, {2: (1, True)}, "nb", short=short_in(markdown)
    )
    assert (
        'Brua ble åpnet av <strong class="short-answer">&lt;Erna&gt; Solberg</strong> &amp; co.'
        in out
    )
    assert short_in(answer_markdown(dataclasses.replace(answer, short_answer=None))) is None


def test_an_extractive_answer_arrives_whole_then_as_checked_markdown(
    tmp_path: Path, shared_store: Path
) -> None:
    """No replayed slices and no sleeps: without a model, the final Markdown at once."""
    from bot.engine import Engine
    from bot.settings import Settings
    from bot.ui.format import answer_markdown
    from bot.ui.webchat import WebChat

    engine = Engine(Settings(store=shared_store, data_dir=tmp_path / "data"))
    chat = WebChat(engine, "article")
    items = list(chat.respond("Hvem er Sergej Radtsjenko?", [], "article"))
    answer = engine.ask("Hvem er Sergej Radtsjenko?", "article")
    assert items == [answer_markdown(answer)]
    assert list(chat.respond("Hvem er han?", [], "no-such-article")) == [
        "Den artikkelen finnes ikke her; velg en artikkel i listen."
    ]


# -- uploads and ratings, in process over a temporary store ---------------------------------


@pytest.fixture()
def webchat(tmp_path: Path) -> Any:
    from bot.engine import Engine
    from bot.settings import Settings
    from bot.ui.webchat import WebChat

    settings = Settings(store=tmp_path / "store", data_dir=tmp_path / "data", max_upload_bytes=1000)
    return WebChat(Engine(settings), "article")


@pytest.mark.parametrize(
    ("name", "data", "lang", "message"),
    [
        ("notes.docx", b"PK\x03\x04", "nb", "«notes.docx» ble ikke lastet opp: bare .txt, .md, "),
        ("notes.docx", b"PK\x03\x04", "en", "“notes.docx” was not uploaded: only .txt, .md, "),
        ("notes.pdf", b"<!doctype html><html><body>x</body></html>", "nb", "notes.pdf: not a PDF"),
        (
            "front.html",
            b"<html><body><nav><a href='/'>Hjem</a></nav></body></html>",
            "en",
            "front.html: no article text found",
        ),
        ("big.txt", b"x" * 1001, "nb", "«big.txt» er for stor (høyst 1000 byte)"),
        ("big.txt", b"x" * 1001, "en", "“big.txt” is too large (at most 1000 bytes)"),
        (
            "bad.txt",
            "Blåbær\n".encode() + b"\xff\xfe tekst",
            "nb",
            "«bad.txt» er ikke gyldig UTF-8",
        ),
        ("bad.txt", "Blåbær\n".encode() + b"\xff\xfe tekst", "en", "“bad.txt” is not valid UTF-8"),
        ("empty.txt", b"", "nb", "«empty.txt» har ingen tekst"),
        ("blank.md", b" \n\t\n", "en", "“blank.md” has no text"),
    ],
)
def test_bad_uploads_are_refused_on_the_server(
    webchat: Any,
    tmp_path: Path,
    name: str,
    data: bytes,
    lang: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In the interface's language, naming the file by its own name only."""
    # where Gradio's upload route puts a file before the upload event sees it
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    path = tmp_path / "gradio" / "0123abcd" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    result = webchat.upload(str(path), lang)
    assert message in result.status and result.article is None
    assert str(tmp_path) not in result.status and "/" not in result.status  # no path
    assert not (webchat.settings.uploads_dir / name).exists()


@pytest.mark.parametrize(
    ("report", "lang", "message"),
    [
        ('{"name": "notes.docx", "size": 10}', "nb", "og .pdf-filer"),
        ('{"name": "stor.txt", "size": 5000}', "en", "“stor.txt” is too large"),
        ('{"name": "../../etc/ok.txt", "size": 5000}', "nb", "«ok.txt» er for stor"),
        ('{"name": "ok.md", "size": 10}', "nb", ""),
        ("not json", "nb", ""),
    ],
)
def test_a_file_the_page_kept_back_gets_the_servers_message(
    webchat: Any, report: str, lang: str, message: str
) -> None:
    status = webchat.refused_upload(report, lang).status
    assert message in status and (message or status == "")
    assert "etc" not in status


@pytest.mark.parametrize("where", ["outside", "symlink", "cache-root"])
def test_an_upload_event_opens_only_files_in_gradios_upload_cache(
    webchat: Any, tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    secret = tmp_path / "secret" / "notes.txt"
    secret.parent.mkdir()
    secret.write_text("Hemmelig overskrift\n\nEn hemmelig setning.\n", encoding="utf-8")
    path = secret
    if where == "symlink":  # a link inside the cache pointing out of it
        path = cache / "abc" / "notes.txt"
        path.parent.mkdir(parents=True)
        path.symlink_to(secret)
    elif where == "cache-root":
        path = cache
        cache.mkdir()
    result = webchat.upload(str(path), "nb")
    assert "ble ikke lastet opp her" in result.status and result.article is None
    assert "Hemmelig" not in result.status and not webchat.settings.uploads_dir.exists()


def test_a_rating_is_saved_with_question_answer_and_citations(
    tmp_path: Path, shared_store: Path
) -> None:
    from bot.engine import Engine
    from bot.settings import Settings
    from bot.ui.feedback import load
    from bot.ui.webchat import WebChat

    settings = Settings(store=shared_store, data_dir=tmp_path / "data")
    chat = WebChat(Engine(settings), "article")
    answer = list(chat.respond("Hvem er Sergej Radtsjenko?", [], "article"))[-1]
    history = [
        {"role": "user", "content": "Hvem er Sergej Radtsjenko?"},
        {"role": "assistant", "content": [{"type": "text", "text": answer}]},
    ]
    status = chat.rate(history, "article", "", SimpleNamespace(index=1, liked=True), "c1")
    assert "lagret" in status
    [up] = load(settings.feedback_path)
    assert (up.rating, up.question, up.article) == ("up", "Hvem er Sergej Radtsjenko?", "article")
    assert up.citations[0].text == RADTSJENKO and up.right_sentence is None
    assert [c.n for c in up.citations] == list(range(1, len(up.citations) + 1))
    # the answer record as `ask --json` gives it, not the Markdown the page shows
    expected = chat.engine.ask("Hvem er Sergej Radtsjenko?", "article").to_record()
    assert up.record is not None and set(up.record) == set(expected)
    assert {k: v for k, v in up.record.items() if k != "timings_ms"} == {
        k: v for k, v in expected.items() if k != "timings_ms"
    }
    assert up.answer == expected["answer"] and "](#" not in up.answer
    # a second rating of the same message replaces the first; another conversation's is kept
    chat.rate(history, "article", "", SimpleNamespace(index=1, liked=True), "c2")
    chat.rate(
        history,
        "article",
        "Radtsjenko, som er professor ved Henry A Kissinger Center",
        SimpleNamespace(index=1, liked=False),
        "c1",
    )
    other, down = load(settings.feedback_path)
    assert other.rating == "up" and other.message != down.message
    assert down.rating == "down" and down.right_sentence.startswith("Radtsjenko, som er")
    assert down.record == up.record


def test_a_rating_of_an_answer_the_server_did_not_give_saves_nothing(
    tmp_path: Path, shared_store: Path
) -> None:
    """After a restart, or for an answer the page made up (a megabyte of it), nothing of the
    page's copy is saved: the rating is refused with a line saying to ask again."""
    from bot.engine import Engine
    from bot.settings import Settings
    from bot.ui.feedback import load
    from bot.ui.webchat import WebChat

    settings = Settings(store=shared_store, data_dir=tmp_path / "data")
    engine = Engine(settings)
    answer = list(WebChat(engine, "article").respond("Hvem er Sergej Radtsjenko?", []))[-1]
    forged = answer.replace("Radtsjenko", "R" * 1_000_000, 1)
    chat = WebChat(engine, "article")
    list(chat.respond("Hvem er Sergej Radtsjenko?", []))  # this server's own answer
    for shown in (answer, forged):
        history = [
            {"role": "user", "content": "Hvem er Sergej Radtsjenko?"},
            {"role": "assistant", "content": shown},
        ]
        fresh = WebChat(engine, "article") if shown is answer else chat
        status = fresh.rate(
            history, "article", "x" * 2_000_000, SimpleNamespace(index=1, liked=True), "c"
        )
        assert "ask again" in status or "på nytt" in status
    assert load(settings.feedback_path) == []
    history = [
        {"role": "user", "content": "Hvem er Sergej Radtsjenko?"},
        {"role": "assistant", "content": answer},
    ]
    chat.rate(history, "article", "x" * 2_000_000, SimpleNamespace(index=1, liked=False), "c")
    [saved] = load(settings.feedback_path)
    assert saved.right_sentence is not None
    assert len(saved.right_sentence) == settings.max_question_chars * 4
    assert settings.feedback_path.stat().st_size < 64_000


def test_plain_text_is_the_answer_without_markup() -> None:
    from bot.ui.format import answer_markdown, plain_text

    answer = _answer("Ola skrev <b>*fett*</b> & [lenke](https://x.example) _her_.", False)
    text = plain_text(answer_markdown(answer))
    assert "Ola skrev <b>*fett*</b> & [lenke](https://x.example) _her_. (xss:3)" in text
    assert "&#" not in text and "](#" not in text and "**" not in text
    assert "\n[1] Ola skrev" in text


def test_suggestions_come_from_the_article() -> None:
    from bot.ui.suggest import suggestions
    from index.article import read_article
    from index.sentence import split_article
    from tests.conftest import ARTICLE

    bundled = suggestions(split_article(read_article(ARTICLE)))
    assert bundled[0] == (
        "Hva handler artikkelen «Ekspert: Putins desperate trekk kan få Kim til å glise» om?"
    )
    assert "Hva sier artikkelen om Sergej Radtsjenko?" in bundled
    assert any(q.startswith("What does the article say about") for q in bundled)
    assert len(bundled) == 4
    from core.records import Sentence

    other = [
        Sentence("o", 1, "headline", "Brua er åpnet", 0, 13),
        Sentence("o", 2, "body", "I går åpnet ordfører Kari Hansen brua i Bergen.", 14, 61),
    ]
    theirs = suggestions(other)
    assert theirs[:2] == [
        "Hva handler artikkelen «Brua er åpnet» om?",
        "Hva sier artikkelen om Kari Hansen?",
    ]
    assert not set(theirs) & set(bundled)
    assert suggestions([]) == ["Hva handler artikkelen om?", "What is the article about?"]


@contextmanager
def serving(settings: Any) -> Iterator[str]:
    """The ASGI app `serve` runs, on a uvicorn server in a thread of this process."""
    import threading

    import uvicorn

    from bot.engine import Engine
    from bot.ui.server import asgi_app
    from bot.ui.web import build_app

    engine = Engine(settings)
    app = asgi_app(build_app(engine, "article"), settings, engine, "article")
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.1)
            assert thread.is_alive(), "the server did not start"
        yield f"http://127.0.0.1:{settings.port}/"
    finally:
        server.should_exit = True
        thread.join(30)


def test_with_auth_nothing_is_served_to_strangers(tmp_path: Path, shared_store: Path) -> None:
    import urllib.error

    from gradio_client import Client

    from bot.settings import Settings
    from tests.bot.ui.webapp import free_port

    settings = Settings(
        store=shared_store, data_dir=tmp_path, port=free_port(), auth="ola:hemmelig-passord"
    )
    with serving(settings) as url:
        join = urllib.request.Request(
            url + "gradio_api/queue/join",
            method="POST",
            data=b'{"data": ["x"], "fn_index": 0}',
            headers={"Content-Type": "application/json"},
        )
        for request in (url + "config", url + "gradio_api/info", join):
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=10)
            assert caught.value.code == 401, request
        with pytest.raises(ValueError):
            Client(url, auth=("ola", "feil"), verbose=False)
        reply = Client(url, auth=("ola", "hemmelig-passord"), verbose=False).predict(
            "Hvem er Sergej Radtsjenko?", api_name="/chat"
        )
        assert "Kilder / Sources" in reply


# -- exposure: where it listens, what files it serves, whom it answers ------------------------


def test_listens_on_loopback_only_and_never_shares(app: WebApp) -> None:
    port = int(app.url.rstrip("/").rsplit(":", 1)[1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, nothing else
    assert "gradio.live" not in app.log.read_text(errors="replace")


@pytest.mark.parametrize(
    "path",
    [
        "gradio_api/file=../../../../etc/passwd",
        "gradio_api/file=/etc/passwd",
        "gradio_api/file=%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "file=/etc/passwd",
        "gradio_api/file=app.py",
        "gradio_api/file=.env",
        "gradio_api/file=index/data/article.txt",
        "gradio_api/file={store}/chroma.sqlite3",
        "gradio_api/file={data}/feedback.jsonl",
        "gradio_api/FILE=/etc/passwd",
    ],
)
def test_no_file_outside_gradios_cache_is_served(app: WebApp, path: str) -> None:
    import urllib.error

    url = app.url + path.format(store=app.store, data=app.data_dir)
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status, body = exc.code, b""
    assert status in (400, 403, 404, 405), (url, status)
    assert b"root:" not in body


def test_a_foreign_origin_gets_no_credentialed_cors(app: WebApp) -> None:
    import urllib.error

    for host in ("localhost", "127.0.0.1", "evil.example"):
        request = urllib.request.Request(
            app.url + "gradio_api/queue/join",
            method="POST",
            data=b'{"data": ["x"], "fn_index": 0, "session_hash": "abc"}',
            headers={
                "Content-Type": "application/json",
                "Origin": "https://evil.example",
                "Host": host,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                headers, status = response.headers, response.status
        except urllib.error.HTTPError as exc:
            headers, status = exc.headers, exc.code
        if host == "evil.example":
            assert status == 400  # a Host that is not loopback: refused (DNS rebinding)
        allowed = headers.get("Access-Control-Allow-Origin")
        credentials = headers.get("Access-Control-Allow-Credentials")
        assert not (allowed == "https://evil.example" and credentials == "true"), host


def test_cli_refuses_a_public_bind_without_auth(cli_env: dict[str, str], tmp_path: Path) -> None:
    from tests.conftest import run_cli

    result = run_cli(["serve", "--host", "0.0.0.0", "--store", str(tmp_path / "s")], cli_env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--auth USER:PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_oversized_upload_is_refused_by_the_server(app: WebApp) -> None:
    import urllib.error

    boundary = "articlebot-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        + b"x" * 1_100_000
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        app.url + "gradio_api/upload",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code in (400, 413)
    assert not list(app.data_dir.glob("uploads/*"))


def test_all_articles_is_offered_and_answers_with_the_cited_articles_panel(webchat: Any) -> None:
    webchat.engine.resolve_article(None)  # the bundled article, indexed
    assert [value for _, value in webchat.choices()] == ["article"]  # one: no "all" choice
    webchat.engine.index_text(
        "Bybrua i Trondheim stenges\n\nReparasjonen av Bybrua i "
        "Trondheim tar 14 måneder, sier kommunen.",
        "bybrua",
    )
    assert [value for _, value in webchat.choices()][-1] == "all"
    question = "Hvor lenge tar reparasjonen av Bybrua?"
    reply = list(webchat.respond(question, [], "all"))[-1]
    assert "14 måneder" in reply and "(bybrua:2)" in reply
    history = [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    panel = webchat.panel("all", history)
    assert "Bybrua i Trondheim" in panel and 'data-n="1"' in panel  # highlighted
    assert "Nord-Korea" not in panel  # the bundled article is not the one shown
    assert "alle artiklene" in webchat.panel("all", [])  # before any answer: what it does


def test_serving_on_ipv6_loopback_answers_a_browsers_host_header(
    tmp_path: Path, shared_store: Path
) -> None:
    """`serve --host ::1`: a browser at http://[::1]:PORT/ sends `Host: [::1]:PORT`."""
    import http.client

    from bot.settings import Settings
    from tests.bot.ui.webapp import free_port

    settings = Settings(store=shared_store, data_dir=tmp_path, host="::1", port=free_port())
    with serving(settings):
        for host, status in (
            (f"[::1]:{settings.port}", 200),
            ("[::1]", 200),
            (f"evil.example:{settings.port}", 400),
            ("[::2]", 400),
        ):
            conn = http.client.HTTPConnection("::1", settings.port, timeout=30)
            conn.request("GET", "/api/v1/articles", headers={"Host": host})
            response = conn.getresponse()
            response.read()
            conn.close()
            assert response.status == status, host


def test_handlers_give_typed_results(webchat: Any) -> None:
    """A switch to the session's own article changes nothing; a real one gives the new
    article's panel, suggestions and a new conversation; labels follow a new language."""
    from bot.ui.webchat import AfterAnswer, NewArticle

    webchat.engine.resolve_article(None)
    webchat.engine.index_text(
        "Bybrua i Trondheim stenges\n\nReparasjonen av Bybrua i "
        "Trondheim tar 14 måneder, sier kommunen.",
        "bybrua",
    )
    assert webchat.switch("article", "article") is None
    assert webchat.switch(None, None) is None  # both mean the default article
    moved = webchat.switch("bybrua", "article")
    assert isinstance(moved, NewArticle) and moved.article_id == "bybrua"
    assert "Bybrua i Trondheim" in moved.panel and moved.suggestions
    assert moved.choices is None and moved.upload_status == ""
    assert webchat.switch("bybrua", "article").conversation != moved.conversation
    history = [
        {"role": "user", "content": "How long will the repair take?"},
        {"role": "assistant", "content": "The article doesn't say."},
    ]
    assert webchat.after_answer(history, "bybrua", "nb").labels == "en"
    assert webchat.after_answer(history, "bybrua", "en") == AfterAnswer(
        panel=webchat.panel("bybrua", history), labels=None
    )


def test_an_uploaded_page_shows_its_byline_date_and_site_above_the_article(
    webchat: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    webchat.settings.__dict__["max_upload_bytes"] = 100_000  # a saved page is larger
    page = Path(__file__).parents[2] / "index" / "fixtures" / "article.html"
    path = tmp_path / "gradio" / "0123abcd" / "putin-kim.html"
    path.parent.mkdir(parents=True)
    path.write_bytes(page.read_bytes())
    moved = webchat.upload(str(path), "nb").article
    assert moved is not None and moved.article_id == "putin-kim"
    panel = moved.panel
    assert (
        '<p class="article-meta">Av Kari Nordmann · 2023-09-06 · Dagsavisen Øst · '
        "putin-kim.html</p>"
    ) in panel
    assert "Godta alle" not in panel and "Kommentarer" not in panel


def test_a_pasted_link_to_a_private_address_is_refused_in_one_line(webchat: Any) -> None:
    import html

    result = webchat.add_link("http://127.0.0.1:9/artikkel", "nb")
    assert result.article is None
    status = html.unescape(result.status)  # Markdown's marks are escaped for the page
    assert "a loopback address; refused" in status and "ARTICLEBOT_ALLOW_PRIVATE_URLS" in status
    assert webchat.engine.articles() == []
    status = html.unescape(webchat.add_link("file:///etc/passwd", "nb").status)
    assert "bare http://- og https://-lenker" in status
