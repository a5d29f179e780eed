"""The JSON HTTP API against the real server (`python app.py` in a subprocess), over HTTP
with httpx: answers equal to `ask --json`, server-sent events in order, articles, errors as
one-line JSON with 4xx statuses, auth, concurrent streams, and a slowly streaming model whose
first words arrive well before its last."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.eval.fake_llm import Script, scripted_server
from tests.bot.ui.webapp import WebApp, running_app
from tests.conftest import run_cli

QUESTION = "Hvem er Sergej Radtsjenko?"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebApp]:
    with running_app(tmp_path_factory.mktemp("api"), timeout=240) as served:
        yield served


def _api(app: WebApp) -> httpx.Client:
    return httpx.Client(base_url=app.url.rstrip("/"), timeout=120)


def _without_timings(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "timings_ms"}


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any], float]]:
    """(event name, data, seconds since the request) of a server-sent event stream."""
    t0 = time.monotonic()
    name, data = "", ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :]
        elif not line and name:
            yield name, json.loads(data), time.monotonic() - t0
            name, data = "", ""


def test_ask_returns_the_answer_record_of_ask_json(app: WebApp, cli_env: dict[str, str]) -> None:
    with _api(app) as client:
        response = client.post("/api/v1/ask", json={"question": QUESTION})
    assert response.status_code == 200
    record = response.json()
    cli = run_cli(["ask", QUESTION, "--json", "--store", str(app.store)], cli_env)
    assert cli.returncode == 0, cli.stderr
    assert _without_timings(record) == _without_timings(json.loads(cli.stdout))
    assert record["citations"][0]["sentence_id"] == "article:10"


def test_ask_streams_retrieved_deltas_then_one_answer(app: WebApp) -> None:
    with (
        _api(app) as client,
        client.stream(
            "POST",
            "/api/v1/ask",
            json={"question": QUESTION, "article": "article"},
            headers={"Accept": "text/event-stream"},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(response))
    names = [name for name, _, _ in events]
    assert names[0] == "retrieved" and names[-1] == "answer" and names.count("answer") == 1
    assert set(names[1:-1]) == {"delta"}
    text = "".join(data["text"] for name, data, _ in events if name == "delta")
    final = events[-1][1]
    assert text == final["answer"]
    assert [r["sentence_id"] for r in events[0][1]["ranking"]] == [
        r["sentence_id"] for r in final["ranking"]
    ]


def test_articles_list_and_show_sentences_with_offsets(app: WebApp) -> None:
    with _api(app) as client:
        listed = client.get("/api/v1/articles").json()
        assert [a["id"] for a in listed] == ["article"]
        assert listed[0]["embedder"] == "e5-small-q4" and listed[0]["sentences"] == 22
        shown = client.get("/api/v1/articles/article").json()
    text = shown["text"]
    assert shown["title"].startswith("Ekspert:")
    assert len(shown["sentences"]) == 22
    for s in shown["sentences"]:
        assert s["sentence_id"] == f"article:{s['n']}" and text[s["start"] : s["end"]].strip()


def test_an_article_added_over_the_api_can_be_asked_about(app: WebApp) -> None:
    article = (
        "Solfangeren på taket gir nå strøm til hele skolen i Tromsø. Rektor Kari "
        "Nilsen sier at anlegget kostet 2,4 millioner kroner."
    )
    with _api(app) as client:
        added = client.post(
            "/api/v1/articles", json={"text": article, "title": "Solstrøm i Tromsø"}
        )
        assert added.status_code == 201, added.text
        entry = added.json()
        assert entry["title"] == "Solstrøm i Tromsø" and entry["sentences"] >= 2
        assert entry["id"] in {a["id"] for a in client.get("/api/v1/articles").json()}
        answer = client.post(
            "/api/v1/ask", json={"question": "Hva kostet anlegget?", "article": entry["id"]}
        ).json()
    assert answer["article"] == entry["id"]
    assert "2,4 millioner kroner" in answer["citations"][0]["text"]


def test_ask_across_all_articles_names_each_citations_article(app: WebApp) -> None:
    article = (
        "Bybrua i Trondheim stenges for biler fra 1. mars. Kommunen sier at "
        "reparasjonen av brua tar 14 måneder."
    )
    with _api(app) as client:
        added = client.post("/api/v1/articles", json={"text": article, "title": "Bybrua"})
        assert added.status_code == 201, added.text
        record = client.post(
            "/api/v1/ask",
            json={"question": "Hvor lenge tar reparasjonen av brua?", "article": "all"},
        ).json()
        with client.stream(
            "POST",
            "/api/v1/ask",
            json={"question": QUESTION, "article": "all"},
            headers={"Accept": "text/event-stream"},
        ) as response:
            events = [(name, data) for name, data, _ in sse_events(response)]
    assert record["article"] == "all"
    first = record["citations"][0]
    assert first["article"] == added.json()["id"]
    assert first["title"] == added.json()["title"]
    assert "14 måneder" in first["text"]
    assert events[0][0] == "retrieved" and events[-1][0] == "answer"
    assert all("article" in r for r in events[0][1]["ranking"])
    assert events[-1][1]["citations"][0]["article"] == "article"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/api/v1/ask", b"{not json", 400, "malformed"),
        ("POST", "/api/v1/ask", b"\xff\xfe", 400, "malformed"),
        ("POST", "/api/v1/ask", b'{"question": 3}', 422, "invalid"),
        ("POST", "/api/v1/ask", b'{"question": "Hvem?", "extra": 1}', 422, "invalid"),
        ("POST", "/api/v1/ask", b'{"question": "   "}', 422, "invalid"),
        ("POST", "/api/v1/ask", b'{"question": "Hvem \\ud800?"}', 422, "invalid"),
        ("POST", "/api/v1/ask", b'{"question": "Hvem?", "article": "nope"}', 404, "not_found"),
        ("POST", "/api/v1/ask", b'{"question": "' + b"x" * 300_000 + b'"}', 413, "too_large"),
        ("POST", "/api/v1/ask", b"[" * 200_000, 400, "malformed"),
        ("GET", "/api/v1/articles/nope", None, 404, "not_found"),
        ("POST", "/api/v1/articles", b'{"text": "' + b"a " * 600_000 + b'"}', 413, "too_large"),
        ("POST", "/api/v1/articles", b'{"text": "' + b"Ja. " * 240_000 + b'"}', 413, "too_large"),
        ("POST", "/api/v1/articles", b'{"text": "   "}', 422, "invalid"),
        ("POST", "/api/v1/articles", b'{"text": "Tekst \\ud800."}', 422, "invalid"),
    ],
)
def test_bad_requests_get_one_line_json_errors(
    app: WebApp, method: str, path: str, body: bytes | None, status: int, code: str
) -> None:
    with _api(app) as client:
        response = client.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == status, response.text[:300]
    payload = response.json()
    assert payload["error"] == code and "\n" not in payload["detail"]
    assert "Traceback" not in response.text
    assert "Traceback" not in app.log.read_text(errors="replace")


def test_openapi_schema_and_docs_are_served(app: WebApp) -> None:
    with _api(app) as client:
        schema = client.get("/openapi.json").json()
        assert {"/api/v1/ask", "/api/v1/articles", "/api/v1/articles/{article_id}"} <= set(
            schema["paths"]
        )
        assert client.get("/docs").status_code == 200


def test_concurrent_streams_each_get_their_own_answer(app: WebApp) -> None:
    questions = [
        QUESTION,
        "Hvilke land har lagt ned veto mot nye resolusjoner?",
        "Where did Radchenko publish his analysis?",
        "Hvem skal Kim Jong-un møte i Russland?",
    ] * 3
    with _api(app) as client:
        expected = {
            q: client.post("/api/v1/ask", json={"question": q}).json()["answer"]
            for q in set(questions)
        }

    def stream(question: str) -> tuple[str, str]:
        with (
            _api(app) as client,
            client.stream(
                "POST",
                "/api/v1/ask",
                json={"question": question},
                headers={"Accept": "text/event-stream"},
            ) as response,
        ):
            final = [d for name, d, _ in sse_events(response) if name == "answer"]
        return question, final[0]["answer"]

    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        results = list(pool.map(stream, questions))
    assert all(answer == expected[q] for q, answer in results)


def test_the_api_asks_for_the_chats_password(tmp_path: Path) -> None:
    with (
        running_app(tmp_path, "--auth", "ola:hemmelig", timeout=240) as served,
        _api(served) as client,
    ):
        refused = client.get("/api/v1/articles")
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        assert client.post("/api/v1/ask", json={"question": QUESTION}).status_code == 401
        assert client.get("/openapi.json").status_code == 401
        wrong = base64.b64encode(b"ola:feil").decode()
        assert (
            client.get("/api/v1/articles", headers={"Authorization": f"Basic {wrong}"}).status_code
            == 401
        )
        right = base64.b64encode(b"ola:hemmelig").decode()
        ok = client.get("/api/v1/articles", headers={"Authorization": f"Basic {right}"})
        assert ok.status_code == 200 and ok.json()[0]["id"] == "article"


def test_a_slow_model_streams_its_first_words_long_before_its_last(tmp_path: Path) -> None:
    """Real streaming: a model that writes three characters every 0.15 s."""
    reply = "Sergej Radtsjenko er professor ved Henry A Kissinger Center [1]."
    script = Script(reply=reply, piece_delay_s=0.15, piece_chars=3)
    with (
        scripted_server(script) as (url, _),
        running_app(
            tmp_path,
            "--llm",
            "openai",
            "--llm-base-url",
            url,
            "--llm-model",
            "slow",
            timeout=240,
            env_extra={"OPENAI_API_KEY": "none"},
        ) as served,
        _api(served) as client,
        client.stream(
            "POST",
            "/api/v1/ask",
            json={"question": QUESTION},
            headers={"Accept": "text/event-stream"},
        ) as response,
    ):
        events = list(sse_events(response))
    deltas = [(d["text"], t) for name, d, t in events if name == "delta"]
    final, t_final = events[-1][1], events[-1][2]
    assert final["backend"] == "llm:slow" and final["answer"] == reply
    assert len(deltas) >= 5
    first = deltas[0][1]
    print(
        f"\ntime to first text {first * 1000:.0f} ms, to the checked answer {t_final * 1000:.0f} ms"
    )
    # the reply takes ~22 pieces x 0.15 s to write: text must arrive while it is written
    assert t_final - first > 1.5


HOLD_LOCK = """
import sys
from pathlib import Path
from index.lock import lock_path, writer_lock
with writer_lock(lock_path(Path(sys.argv[1])), 5, "here"):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_concurrent_uploads_queue_and_another_writer_gets_a_json_503(tmp_path: Path) -> None:
    """Uploads to one server take turns on the store (none fails, even with a writer-lock
    timeout of 0); only another process holding the store gets `busy`, as JSON."""
    import subprocess
    import sys

    from tests.conftest import REPO

    def article(i: int) -> str:
        return " ".join(
            f"Setning {k} i artikkel {i} handler om bygda Nr{i}vik og fiskebåt nummer {k * 7 + i}."
            for k in range(40)
        )

    with running_app(tmp_path, timeout=240, env_extra={"ARTICLEBOT_LOCK_TIMEOUT_S": "0"}) as served:

        def post(i: int) -> httpx.Response:
            with _api(served) as client:
                return client.post(
                    "/api/v1/articles", json={"text": article(i), "title": f"Artikkel {i}"}
                )

        with ThreadPoolExecutor(max_workers=4) as pool:
            responses = list(pool.map(post, range(12)))
        assert [r.status_code for r in responses] == [201] * 12, [
            r.text[:200] for r in responses if r.status_code != 201
        ]
        with _api(served) as client:
            listed = {a["id"] for a in client.get("/api/v1/articles").json()}
        assert {r.json()["id"] for r in responses} <= listed
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(served.store)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            busy = post(99)
        finally:
            holder.communicate("", timeout=30)
        assert busy.status_code == 503, busy.text[:300]
        payload = busy.json()
        assert payload["error"] == "busy" and "another articlebot process" in payload["detail"]
        assert str(served.store) not in payload["detail"]
        assert post(99).status_code == 201  # free again once the other process is done
        assert "Traceback" not in served.log.read_text(errors="replace")


FORGED = [  # what a page on another site can make a browser send without asking first
    ({"Content-Type": "text/plain"}, 415),
    ({"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://evil.example"}, 403),
    ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ({"Content-Type": "multipart/form-data; boundary=x"}, 415),
    ({}, 415),
    ({"Content-Type": "application/json", "Origin": "https://evil.example"}, 403),
    ({"Content-Type": "application/json", "Origin": "null"}, 403),
    ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
]


@pytest.mark.parametrize(("headers", "status"), FORGED)
def test_writes_from_another_site_or_not_as_json_are_refused(
    app: WebApp, headers: dict[str, str], status: int
) -> None:
    """Cross-site request forgery: a foreign page cannot add an article or ask."""
    body = json.dumps(
        {"text": "Forfalsket artikkel om Bergen. Den skal aldri lagres.", "title": "Forfalsket"}
    ).encode()
    with _api(app) as client:
        before = client.get("/api/v1/articles").json()
        added = client.post("/api/v1/articles", content=body, headers=headers)
        asked = client.post(
            "/api/v1/ask", content=json.dumps({"question": QUESTION}).encode(), headers=headers
        )
        after = client.get("/api/v1/articles").json()
    for response in (added, asked):
        assert response.status_code == status, response.text[:300]
        payload = response.json()
        assert set(payload) == {"error", "detail"} and "\n" not in payload["detail"]
        assert "access-control-allow-origin" not in response.headers
    assert after == before


def test_writes_from_this_site_are_answered(app: WebApp) -> None:
    """The chat's own page (same Origin, `Sec-Fetch-Site: same-origin`) and clients that
    send no Origin (curl, scripts) may write."""
    origin = app.url.rstrip("/")
    with _api(app) as client:
        for headers in (
            {"Origin": origin, "Sec-Fetch-Site": "same-origin"},
            {"Origin": origin.replace("127.0.0.1", "localhost"), "Host": f"localhost:{app.port}"},
            {"Content-Type": "application/json; charset=utf-8"},
        ):
            response = client.post("/api/v1/ask", json={"question": QUESTION}, headers=headers)
            assert response.status_code == 200, (headers, response.text[:300])


def test_docs_work_offline(app: WebApp) -> None:
    """/docs references nothing outside this server: Swagger UI's files are served here."""
    import re

    with _api(app) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        refs = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
        assert refs and all(r.startswith("/") for r in refs), refs
        assert "http://" not in page.text and "https://" not in page.text
        for ref in refs:
            assert client.get(ref).status_code == 200, ref
        assert client.get("/docs-assets/index.html").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nope", 404),
        ("POST", "/api/v1/nope/deeper", 404),
        ("DELETE", "/api/v1/articles", 405),
        ("GET", "/api/v1/ask", 405),
    ],
)
def test_unmatched_api_paths_get_the_api_error_shape(
    app: WebApp, method: str, path: str, status: int
) -> None:
    with _api(app) as client:
        response = client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status
    payload = response.json()
    assert set(payload) == {"error", "detail"} and isinstance(payload["detail"], str)


def large_article(sentences: int) -> str:
    """The body of an article: `sentences` distinct sentences about one made-up town."""
    return " ".join(
        f"Sak nummer {n} i Ølvik kommune gjaldt vedlikehold av vei {n % 97} og "
        f"kostet {n * 7} kroner."
        for n in range(1, sentences + 1)
    )


def test_questions_answer_while_a_large_article_is_indexed(tmp_path: Path) -> None:
    """An upload of 2,500 sentences indexes in one request while questions keep being
    answered by the same server, each within seconds (not after the upload's minute)."""
    with running_app(tmp_path, timeout=240) as served, _api(served) as client:
        assert client.post("/api/v1/ask", json={"question": QUESTION}).status_code == 200
        upload_done = threading.Event()
        added: list[httpx.Response] = []

        def upload() -> None:
            with httpx.Client(base_url=served.url.rstrip("/"), timeout=900) as uploader:
                added.append(
                    uploader.post(
                        "/api/v1/articles",
                        json={"text": large_article(2500), "title": "Budsjettet i Ølvik"},
                    )
                )
            upload_done.set()

        started = time.monotonic()
        thread = threading.Thread(target=upload)
        thread.start()
        latencies = []
        while not upload_done.is_set():
            t0 = time.monotonic()
            response = client.post("/api/v1/ask", json={"question": QUESTION})
            latencies.append(time.monotonic() - t0)
            assert response.status_code == 200
            assert response.json()["citations"][0]["sentence_id"] == "article:10"
        thread.join()
        upload_s = time.monotonic() - started
    assert added[0].status_code == 201, added[0].text
    assert added[0].json()["sentences"] == 2501
    print(
        f"\nupload of 2,500 sentences {upload_s:.1f} s; {len(latencies)} questions meanwhile: "
        f"median {sorted(latencies)[len(latencies) // 2]:.2f} s, max {max(latencies):.2f} s"
    )
    # the upload embeds for tens of seconds: many questions must have been answered meanwhile
    assert len(latencies) >= 5
    assert max(latencies) < 5.0


def test_a_page_posted_as_html_keeps_its_metadata_and_a_private_link_is_refused(
    app: WebApp,
) -> None:
    page = (Path(__file__).parents[2] / "index" / "fixtures" / "en_news.html").read_text("utf-8")
    with _api(app) as client:
        added = client.post("/api/v1/articles", json={"html": page, "title": "tram"})
        assert added.status_code == 201, added.text
        entry = added.json()
        assert (entry["byline"], entry["published"], entry["site"], entry["source"]) == (
            "Jane Whitfield",
            "2024-03-14",
            "The Harbour Courier",
            "tram.html",
        )
        shown = client.get(f"/api/v1/articles/{entry['id']}").json()
        assert shown["text"].startswith("# Council approves new tram line")
        assert "TramFan99" not in shown["text"]
        for s in shown["sentences"]:
            assert shown["text"][s["start"] : s["end"]]
        refused = client.post("/api/v1/articles", json={"url": f"{app.url}api/v1/health"})
        assert refused.status_code == 422
        assert refused.json()["error"] == "url_refused"
        assert "loopback" in refused.json()["detail"]
        empty = client.post("/api/v1/articles", json={"html": "<html><body></body></html>"})
        assert empty.status_code == 422 and "no article text" in empty.json()["detail"]
        both = client.post("/api/v1/articles", json={"text": "a", "url": "https://x.org"})
        assert both.status_code == 422 and "exactly one" in both.json()["detail"]


def crowding_article(number: int, sentences: int) -> str:
    """A long article on the bundled article's topic (Russia, North Korea, sanctions, the
    war) that answers none of its questions: hundreds of sentences near any such question."""
    import random

    pick = random.Random(number).choice
    who = ["Forsvarsministeren", "Utenriksministeren", "Presidenten", "Ambassadøren"]
    where = ["Moskva", "Pyongyang", "Beijing", "Seoul", "Vladivostok", "Tokyo", "Washington"]
    did = ["møtte", "kritiserte", "besøkte", "ringte til", "advarte", "roste"]
    about = [
        "våpenhandel",
        "sanksjoner",
        "atomprogrammet",
        "grensen",
        "militærøvelser",
        "krigen i Ukraina",
        "handelsavtalen",
    ]
    lines = [f"Nyheter {number}: Uro i Øst-Asia"]
    lines += [
        f"{pick(who)} i {pick(where)} {pick(did)} delegasjonen fra {pick(where)} om "
        f"{pick(about)} for {k + 2} dager siden, melder nyhetsbyrået."
        for k in range(sentences)
    ]
    return "\n\n".join(lines)


def test_long_articles_on_the_same_topic_do_not_crowd_out_the_one_that_answers(
    tmp_path: Path,
) -> None:
    """Across all articles, each article competes with its own nearest sentence: five long
    articles on the same topic leave questions only the bundled article answers to it."""
    with running_app(tmp_path, timeout=240) as served, _api(served) as client:
        for number in range(5):
            added = client.post(
                "/api/v1/articles",
                json={"text": crowding_article(number, 300), "title": f"Uro {number}"},
            )
            assert added.status_code == 201, added.text
        for question in (
            "Hvem har innført sanksjoner mot Nord-Korea?",
            "Hvilke land har lagt ned veto mot nye resolusjoner?",
            "Hva kan havne ved fronten i Ukraina?",
        ):
            record = client.post(
                "/api/v1/ask", json={"question": question, "article": "all"}
            ).json()
            assert not record["abstained"], question
            assert record["citations"][0]["article"] == "article", (question, record)
