"""The JSON HTTP API against the real server (`python app.py` in a subprocess), over HTTP
with httpx: answers equal to `ask --json`, server-sent events in order, articles, errors as
one-line JSON with 4xx statuses, auth, concurrent streams, and a slowly streaming model whose
first words arrive well before its last."""

from __future__ import annotations

import base64
import json
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
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data = line[len("data: "):]
        elif not line and name:
            yield name, json.loads(data), time.monotonic() - t0
            name, data = "", ""


def test_ask_returns_the_answer_record_of_ask_json(app: WebApp, cli_env: dict[str, str]
                                                   ) -> None:
    with _api(app) as client:
        response = client.post("/api/v1/ask", json={"question": QUESTION})
    assert response.status_code == 200
    record = response.json()
    cli = run_cli(["ask", QUESTION, "--json", "--store", str(app.store)], cli_env)
    assert cli.returncode == 0, cli.stderr
    assert _without_timings(record) == _without_timings(json.loads(cli.stdout))
    assert record["citations"][0]["sentence_id"] == "article:10"


def test_ask_streams_retrieved_deltas_then_one_answer(app: WebApp) -> None:
    with _api(app) as client, client.stream(
            "POST", "/api/v1/ask", json={"question": QUESTION, "article": "article"},
            headers={"Accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(response))
    names = [name for name, _, _ in events]
    assert names[0] == "retrieved" and names[-1] == "answer" and names.count("answer") == 1
    assert set(names[1:-1]) == {"delta"}
    text = "".join(data["text"] for name, data, _ in events if name == "delta")
    final = events[-1][1]
    assert text == final["answer"]
    assert [r["sentence_id"] for r in events[0][1]["ranking"]] == \
        [r["sentence_id"] for r in final["ranking"]]


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
        assert s["sentence_id"] == f"article:{s['n']}" and text[s["start"]:s["end"]].strip()


def test_an_article_added_over_the_api_can_be_asked_about(app: WebApp) -> None:
    article = ("Solfangeren på taket gir nå strøm til hele skolen i Tromsø. Rektor Kari "
               "Nilsen sier at anlegget kostet 2,4 millioner kroner.")
    with _api(app) as client:
        added = client.post("/api/v1/articles",
                            json={"text": article, "title": "Solstrøm i Tromsø"})
        assert added.status_code == 201, added.text
        entry = added.json()
        assert entry["title"] == "Solstrøm i Tromsø" and entry["sentences"] >= 2
        assert entry["id"] in {a["id"] for a in client.get("/api/v1/articles").json()}
        answer = client.post("/api/v1/ask", json={"question": "Hva kostet anlegget?",
                                                  "article": entry["id"]}).json()
    assert answer["article"] == entry["id"]
    assert "2,4 millioner kroner" in answer["citations"][0]["text"]


def test_ask_across_all_articles_names_each_citations_article(app: WebApp) -> None:
    article = ("Bybrua i Trondheim stenges for biler fra 1. mars. Kommunen sier at "
               "reparasjonen av brua tar 14 måneder.")
    with _api(app) as client:
        added = client.post("/api/v1/articles", json={"text": article, "title": "Bybrua"})
        assert added.status_code == 201, added.text
        record = client.post("/api/v1/ask", json={
            "question": "Hvor lenge tar reparasjonen av brua?", "article": "all"}).json()
        with client.stream("POST", "/api/v1/ask", json={"question": QUESTION,
                                                        "article": "all"},
                           headers={"Accept": "text/event-stream"}) as response:
            events = [(name, data) for name, data, _ in sse_events(response)]
    assert record["article"] == "all"
    first = record["citations"][0]
    assert first["article"] == added.json()["id"]
    assert first["title"] == added.json()["title"]
    assert "14 måneder" in first["text"]
    assert events[0][0] == "retrieved" and events[-1][0] == "answer"
    assert all("article" in r for r in events[0][1]["ranking"])
    assert events[-1][1]["citations"][0]["article"] == "article"


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
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
    ("POST", "/api/v1/articles", b'{"text": "   "}', 422, "invalid"),
    ("POST", "/api/v1/articles", b'{"text": "Tekst \\ud800."}', 422, "invalid"),
])
def test_bad_requests_get_one_line_json_errors(app: WebApp, method: str, path: str,
                                               body: bytes | None, status: int,
                                               code: str) -> None:
    with _api(app) as client:
        response = client.request(method, path, content=body,
                                  headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text[:300]
    payload = response.json()
    assert payload["error"] == code and "\n" not in payload["detail"]
    assert "Traceback" not in response.text
    assert "Traceback" not in app.log.read_text(errors="replace")


def test_openapi_schema_and_docs_are_served(app: WebApp) -> None:
    with _api(app) as client:
        schema = client.get("/openapi.json").json()
        assert {"/api/v1/ask", "/api/v1/articles", "/api/v1/articles/{article_id}"} <= \
            set(schema["paths"])
        assert client.get("/docs").status_code == 200


def test_concurrent_streams_each_get_their_own_answer(app: WebApp) -> None:
    questions = [QUESTION, "Hvilke land har lagt ned veto mot nye resolusjoner?",
                 "Where did Radchenko publish his analysis?",
                 "Hvem skal Kim Jong-un møte i Russland?"] * 3
    with _api(app) as client:
        expected = {q: client.post("/api/v1/ask", json={"question": q}).json()["answer"]
                    for q in set(questions)}

    def stream(question: str) -> tuple[str, str]:
        with _api(app) as client, client.stream(
                "POST", "/api/v1/ask", json={"question": question},
                headers={"Accept": "text/event-stream"}) as response:
            final = [d for name, d, _ in sse_events(response) if name == "answer"]
        return question, final[0]["answer"]

    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        results = list(pool.map(stream, questions))
    assert all(answer == expected[q] for q, answer in results)


def test_the_api_asks_for_the_chats_password(tmp_path: Path) -> None:
    with running_app(tmp_path, "--auth", "ola:hemmelig", timeout=240) as served, \
            _api(served) as client:
        refused = client.get("/api/v1/articles")
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        assert client.post("/api/v1/ask", json={"question": QUESTION}).status_code == 401
        assert client.get("/openapi.json").status_code == 401
        wrong = base64.b64encode(b"ola:feil").decode()
        assert client.get("/api/v1/articles",
                          headers={"Authorization": f"Basic {wrong}"}).status_code == 401
        right = base64.b64encode(b"ola:hemmelig").decode()
        ok = client.get("/api/v1/articles", headers={"Authorization": f"Basic {right}"})
        assert ok.status_code == 200 and ok.json()[0]["id"] == "article"


def test_a_slow_model_streams_its_first_words_long_before_its_last(tmp_path: Path) -> None:
    """Real streaming: a model that writes three characters every 0.15 s."""
    reply = "Sergej Radtsjenko er professor ved Henry A Kissinger Center [1]."
    script = Script(reply=reply, piece_delay_s=0.15, piece_chars=3)
    with scripted_server(script) as (url, _), running_app(
            tmp_path, "--llm", "openai", "--llm-base-url", url, "--llm-model", "slow",
            timeout=240, env_extra={"OPENAI_API_KEY": "none"}) as served, \
            _api(served) as client, client.stream(
                "POST", "/api/v1/ask", json={"question": QUESTION},
                headers={"Accept": "text/event-stream"}) as response:
        events = list(sse_events(response))
    deltas = [(d["text"], t) for name, d, t in events if name == "delta"]
    final, t_final = events[-1][1], events[-1][2]
    assert final["backend"] == "llm:slow" and final["answer"] == reply
    assert len(deltas) >= 5
    first = deltas[0][1]
    print(f"\ntime to first text {first * 1000:.0f} ms, to the checked answer "
          f"{t_final * 1000:.0f} ms")
    # the reply takes ~22 pieces x 0.15 s to write: text must arrive while it is written
    assert t_final - first > 1.5
