"""The web chat in a real browser: Playwright driving Debian's chromium against `app.py`.

Without /usr/bin/chromium these tests fail: install it with `make browser` (as root) or
`apt-get install chromium`, or leave them out on purpose with `pytest -m "not browser"`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.bot.webapp import WebApp, running_app
from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]
RADTSJENKO = ("Radtsjenko, som er professor ved Henry A Kissinger Center, Johns Hopkins "
              "School of Advanced International Studies, peker på at Russland, som fast "
              "medlem av FNs sikkerhetsråd har, sammen med Kina, lagt ned veto mot nye "
              "resolusjoner mot Kim Jong-uns regime etter nye missiltester.")
PROFESSOR = "Radtsjenko, som er professor ved Henry A Kissinger Center"
PAYLOADS = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>",
            "<style>body{display:none}</style>", "[x](javascript:alert(3))",
            "![](https://external.example/p.png)", "<svg onload=alert(4)>"]
XSS_ARTICLE = """Sikkerhet
Testartikkel om farlige tegn <img src=x onerror=alert(5)> i en nyhetssak
Brannmannen Ola Nordmann skrev <img src=x onerror=alert(1)> i rapporten sin om brannen.
Politimesteren Kari Hansen sa at <script>alert(2)</script> aldri skal kjøre i nettleseren.
Lenken [klikk](javascript:alert(3)) og bildet ![](https://external.example/p.png) stod der.
Loggen fra tirsdag viste <svg onload=alert(4)> og <style>body{display:none}</style> i feltet.
Ordføreren i Bergen åpnet den nye brua over fjorden i fjor høst.
"""

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebApp]:
    """The real web chat, started once for this module."""
    with running_app(tmp_path_factory.mktemp("browser")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium with a fresh profile."""
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: install it with `make browser` (as root) or "
                    "`apt-get install chromium`, or deselect these tests with "
                    "`pytest -m \"not browser\"`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


class Watch:
    """What a page did that it must not: dialogs, requests off this machine, page errors."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        self.errors: list[str] = []

    def attach(self, page: Any) -> None:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        def on_request(request: Any) -> None:
            host = urlparse(request.url).hostname
            if host not in ("127.0.0.1", "localhost", None):
                self.foreign.append(request.url)

        page.on("dialog", on_dialog)
        page.on("request", on_request)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: self.errors.append(msg.text)
                if msg.type == "error" else None)


@pytest.fixture()
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies and storage) per test."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    # nothing leaves this machine: block any request that is not to loopback
    ctx.route("**/*", lambda route: route.continue_()
              if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost")
              else route.abort())
    yield ctx
    ctx.close()


def open_chat(context: Any, app: WebApp, watch: Watch) -> Any:
    page = context.new_page()
    watch.attach(page)
    page.goto(app.url)
    page.wait_for_selector("#article-panel .sent")
    return page


def ask(page: Any, question: str) -> Any:
    """Type a question, send it, and return the locator of the finished answer."""
    before = page.locator("#chatbot [data-testid='bot']").count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    answer = page.locator("#chatbot [data-testid='bot']").nth(before)
    answer.wait_for()
    # finished when the input is usable again
    page.wait_for_function(
        "() => { const t = document.querySelector('#question textarea');"
        " return t && !t.disabled; }")
    return answer


def record_bot_text(page: Any) -> None:
    """Keep every text the bot's last message shows, to see the answer stream in."""
    page.evaluate("""() => {
      window.__seen = [];
      new MutationObserver(() => {
        const bots = document.querySelectorAll("#chatbot [data-testid='bot']");
        if (bots.length) { window.__seen.push(bots[bots.length - 1].innerText); }
      }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")


def assert_clean(page: Any, watch: Watch) -> None:
    assert watch.dialogs == [], f"a dialog fired: {watch.dialogs}"
    assert watch.foreign == [], f"the page reached beyond this machine: {watch.foreign}"
    assert watch.errors == [], f"page errors: {watch.errors}"
    assert page.evaluate("getComputedStyle(document.body).display") != "none"


def test_ask_gives_a_cited_answer_and_highlights_the_sentence(context: Any,
                                                                app: WebApp) -> None:
    watch = Watch()
    page = open_chat(context, app, watch)
    record_bot_text(page)
    answer = ask(page, "Hvem er Sergej Radtsjenko?")
    page.wait_for_selector("#article-panel mark.cited")
    text = answer.inner_text()
    assert "Kilder / Sources" in text and RADTSJENKO in text
    # without a model the answer arrives whole (streaming: the slow-model test below)
    assert text.count(RADTSJENKO) == 1  # quoted once, in the sources
    mark = page.locator("#article-panel mark.cited").first
    assert mark.inner_text() == "[1]" + RADTSJENKO
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-answer.png"), full_page=True)
    # clicking [1] in the answer scrolls to the sentence and flashes it
    answer.locator("a[href='#s-article-10']").first.click()
    page.wait_for_function(
        "() => document.getElementById('s-article-10').classList.contains('flash')")
    assert_clean(page, watch)


def test_xss_in_a_question_is_shown_literally_and_never_runs(context: Any,
                                                             app: WebApp) -> None:
    watch = Watch()
    page = open_chat(context, app, watch)
    question = "Hvem er Sergej Radtsjenko? " + " ".join(PAYLOADS)
    answer = ask(page, question)
    user = page.locator("#chatbot [data-testid='user']").last
    assert user.inner_text().strip() == question  # shown as typed, not deleted
    assert page.locator("#chatbot img[src='x'], #chatbot svg[onload]").count() == 0
    # answered or not (the payload dilutes the question), the sentences shown are the
    # article's, rendered as text
    assert "Radtsjenko" in answer.inner_text()
    assert_clean(page, watch)


def test_xss_in_an_uploaded_article_is_shown_literally_and_never_runs(
        context: Any, app: WebApp, tmp_path: Path) -> None:
    watch = Watch()
    page = open_chat(context, app, watch)
    path = tmp_path / "farlige-tegn.txt"
    path.write_text(XSS_ARTICLE, encoding="utf-8")
    page.locator("#article-upload input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('farlige tegn')")
    page.wait_for_selector("#article-panel .sent")
    assert "Brannmannen Ola Nordmann skrev <img" in page.locator("#article-panel").inner_text()
    answer = ask(page, "Hva skrev brannmannen Ola Nordmann i rapporten sin?")
    sentence = XSS_ARTICLE.split("\n")[2]
    assert sentence in answer.inner_text()
    page.wait_for_selector("#article-panel mark.cited")
    assert page.locator("#article-panel mark.cited").first.inner_text() == "[1]" + sentence
    # every payload sentence of the article shows as text in the panel
    panel = page.locator("#article-panel").inner_text()
    for line in XSS_ARTICLE.split("\n")[2:6]:
        assert line in panel
    assert page.locator("#article-panel img, #article-panel svg, #article-panel script, "
                        "#article-panel style, #chatbot img[src='x']").count() == 0
    status = page.locator("#upload-status").inner_text()
    assert "farlige tegn <img src=x onerror=alert(5)> i en nyhetssak" in status
    # switching back to the bundled article shows it and starts a new conversation
    page.locator("#article-choice input").click()
    page.get_by_role("option", name="Ekspert: Putins desperate trekk kan få Kim til å glise "
                     "(article)").click()
    page.wait_for_function(
        "() => document.querySelector('#article-panel').innerText.includes('Radtsjenko')")
    assert page.locator("#chatbot [data-testid='user']").count() == 0
    assert "Kilder / Sources" in ask(page, "Hvem er Sergej Radtsjenko?").inner_text()
    # a page opened later offers the uploaded article too, its title shown as text
    later = open_chat(context, app, watch)
    later.locator("#article-choice input").click()
    option = later.get_by_role("option", name="Testartikkel om farlige tegn", exact=False)
    assert "<img src=x onerror=alert(5)>" in option.first.inner_text()
    assert_clean(page, watch)
    assert_clean(later, watch)


def test_abstention_is_plain_and_offers_closest_sentences(context: Any, app: WebApp) -> None:
    watch = Watch()
    page = open_chat(context, app, watch)
    text = ask(page, "Hva er hovedstaden i Frankrike?").inner_text()
    assert text.startswith("Artikkelen sier ikke noe om dette.")
    assert "Nærmeste setninger (ikke belegg)" in text and "Kilder / Sources" not in text
    page.wait_for_selector("#article-panel mark.closest")
    assert page.locator("#article-panel mark.cited").count() == 0
    english = ask(page, "How many moons does Jupiter have?").inner_text()
    assert english.startswith("The article doesn't say.")
    # the interface follows the question's language
    page.wait_for_function("() => document.body.innerText.includes('Upload an article')")
    assert_clean(page, watch)


def test_an_example_click_answers_it(context: Any, app: WebApp) -> None:
    watch = Watch()
    page = open_chat(context, app, watch)
    page.get_by_text("Hvem er Sergej Radtsjenko?", exact=True).first.click()
    answer = page.locator("#chatbot [data-testid='bot']").first
    page.wait_for_function(
        "() => document.querySelector(\"#chatbot [data-testid='bot']\")"
        " && document.querySelector(\"#chatbot [data-testid='bot']\").innerText"
        ".includes('Kilder / Sources')")
    assert RADTSJENKO in answer.inner_text()
    assert_clean(page, watch)


def test_two_tabs_keep_separate_histories(context: Any, app: WebApp) -> None:
    watch = Watch()
    first, second = open_chat(context, app, watch), open_chat(context, app, watch)
    ask(first, "Hvem er Sergej Radtsjenko?")
    ask(second, "Hvem vant fotball-VM i 2018?")
    users_first = first.locator("#chatbot [data-testid='user']").all_inner_texts()
    users_second = second.locator("#chatbot [data-testid='user']").all_inner_texts()
    assert [u.strip() for u in users_first] == ["Hvem er Sergej Radtsjenko?"]
    assert [u.strip() for u in users_second] == ["Hvem vant fotball-VM i 2018?"]
    # the same follow-up is read against each tab's own history
    follow_second = ask(second, "Hvor jobber han?").inner_text()
    follow_first = ask(first, "Hvor jobber han?").inner_text()
    assert follow_first != follow_second
    assert "Radtsjenko" in follow_first.split("Kilder / Sources", 1)[1]
    second.reload()
    second.wait_for_selector("#article-panel .sent")
    assert second.locator("#chatbot [data-testid='user']").count() == 0
    assert len(first.locator("#chatbot [data-testid='user']").all_inner_texts()) == 2
    assert_clean(first, watch)


def test_a_reload_mid_answer_does_not_wedge_the_chat(context: Any, app: WebApp) -> None:
    watch = Watch()
    page = open_chat(context, app, watch)
    box = page.locator("#question textarea")
    box.fill("Hvilke land har lagt ned veto mot nye resolusjoner?")
    box.press("Enter")
    page.reload()
    page.wait_for_selector("#article-panel .sent")
    assert page.locator("#chatbot [data-testid='user']").count() == 0
    assert "Kilder / Sources" in ask(page, "Hvem er Sergej Radtsjenko?").inner_text()
    assert_clean(page, watch)


def test_a_like_is_saved_on_this_machine(context: Any, app: WebApp) -> None:
    watch = Watch()
    page = open_chat(context, app, watch)
    ask(page, "Hvem er Sergej Radtsjenko?")
    page.get_by_label("Like", exact=True).last.click()
    page.wait_for_function(
        "() => document.querySelector('#feedback-status').innerText.includes('lagret')")
    lines = (app.data_dir / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[-1])
    assert record["rating"] == "up" and record["question"] == "Hvem er Sergej Radtsjenko?"
    assert record["citations"][0]["text"] == RADTSJENKO
    # a dislike carries the right sentence when the user pasted one (used once)
    page.locator("#right-sentence textarea").fill(PROFESSOR)
    page.get_by_label("Dislike", exact=True).last.click()
    page.wait_for_function("() => document.querySelector('#right-sentence textarea').value === ''")
    record = json.loads((app.data_dir / "feedback.jsonl").read_text(encoding="utf-8")
                        .splitlines()[-1])
    assert record["rating"] == "down" and record["right_sentence"] == PROFESSOR
    assert_clean(page, watch)


def test_the_chat_grows_while_a_slow_model_writes(browser: Any, tmp_path: Path) -> None:
    """Real streaming in the page: with a model that writes three characters every 0.15 s,
    the message grows piece by piece, then shows the checked answer with its sources."""
    import time

    from bot.eval.fake_llm import Script, scripted_server

    reply = "Sergej Radtsjenko er professor ved Henry A Kissinger Center [1]."
    script = Script(reply=reply, piece_delay_s=0.15, piece_chars=3)
    with scripted_server(script) as (url, _), running_app(
            tmp_path, "--llm", "openai", "--llm-base-url", url, "--llm-model", "slow",
            env_extra={"OPENAI_API_KEY": "none"}) as served:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            watch = Watch()
            page = open_chat(ctx, served, watch)
            page.evaluate("""() => {
              window.__grow = [];
              new MutationObserver(() => {
                const bots = document.querySelectorAll("#chatbot [data-testid='bot']");
                if (bots.length) {
                  window.__grow.push([performance.now(), bots[bots.length - 1].innerText]);
                }
              }).observe(document.body, {subtree: true, childList: true,
                                         characterData: true});
            }""")
            t0 = time.monotonic()
            answer = ask(page, "Hvem er Sergej Radtsjenko?")
            page.wait_for_function("() => document.querySelector('#chatbot').innerText"
                                   ".includes('Kilder / Sources')")
            wall = time.monotonic() - t0
            text = answer.inner_text()
            grow = page.evaluate("window.__grow")
            assert_clean(page, watch)
        finally:
            ctx.close()
    assert "Sergej Radtsjenko er professor" in text and "Kilder / Sources" in text
    partial = [(t, s) for t, s in grow if s.strip() and "Kilder / Sources" not in s]
    distinct = list(dict.fromkeys(s for _, s in partial))
    assert len(distinct) >= 5, distinct[:8]
    for shorter, longer in itertools.pairwise(distinct):
        assert len(longer) >= len(shorter) - 3  # it grows (a marker may be held back)
    final_at = next(t for t, s in grow if "Kilder / Sources" in s)
    print(f"\nfirst text {partial[0][0] - grow[0][0]:.0f} ms after the first change, "
          f"checked answer {final_at - partial[0][0]:.0f} ms after the first text; "
          f"wall {wall:.1f} s")
    assert final_at - partial[0][0] > 1500  # text arrived while the model was still writing
