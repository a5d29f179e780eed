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

from tests.bot.ui.webapp import WebApp, running_app
from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RADTSJENKO = (
    "Radtsjenko, som er professor ved Henry A Kissinger Center, Johns Hopkins "
    "School of Advanced International Studies, peker på at Russland, som fast "
    "medlem av FNs sikkerhetsråd har, sammen med Kina, lagt ned veto mot nye "
    "resolusjoner mot Kim Jong-uns regime etter nye missiltester."
)
PROFESSOR = "Radtsjenko, som er professor ved Henry A Kissinger Center"
PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "<style>body{display:none}</style>",
    "[x](javascript:alert(3))",
    "![](https://external.example/p.png)",
    "<svg onload=alert(4)>",
]
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
        pytest.fail(
            "/usr/bin/chromium is missing: install it with `make browser` (as root) or "
            "`apt-get install chromium`, or deselect these tests with "
            '`pytest -m "not browser"`'
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
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
        page.on(
            "console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None
        )


@pytest.fixture()
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies and storage) per test."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    # nothing leaves this machine: block any request that is not to loopback
    ctx.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost")
            else route.abort()
        ),
    )
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
        "() => { const t = document.querySelector('#question textarea'); return t && !t.disabled; }"
    )
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


def test_ask_gives_a_cited_answer_and_highlights_the_sentence(context: Any, app: WebApp) -> None:
    watch = Watch()
    page = open_chat(context, app, watch)
    record_bot_text(page)
    answer = ask(page, "Hvem er Sergej Radtsjenko?")
    page.wait_for_selector("#article-panel mark.cited")
    text = answer.inner_text()
    assert "Kilder / Sources" in text and RADTSJENKO in text
    # without a model the answer arrives whole (streaming: the slow-model test below)
    assert text.count(RADTSJENKO) == 1  # quoted once, in the sources
    mark = page.locator("#article-panel mark.cited[data-n='1']")
    assert mark.inner_text() == "[1]" + RADTSJENKO
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-answer.png"), full_page=True)
    # clicking [1] in the answer scrolls to the sentence and flashes it
    answer.locator("a[href='#s-article-10']").first.click()
    page.wait_for_function(
        "() => document.getElementById('s-article-10').classList.contains('flash')"
    )
    assert_clean(page, watch)


def test_xss_in_a_question_is_shown_literally_and_never_runs(context: Any, app: WebApp) -> None:
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
    context: Any, app: WebApp, tmp_path: Path
) -> None:
    watch = Watch()
    page = open_chat(context, app, watch)
    path = tmp_path / "farlige-tegn.txt"
    path.write_text(XSS_ARTICLE, encoding="utf-8")
    page.locator("#article-upload input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('farlige tegn')"
    )
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
    assert (
        page.locator(
            "#article-panel img, #article-panel svg, #article-panel script, "
            "#article-panel style, #chatbot img[src='x']"
        ).count()
        == 0
    )
    status = page.locator("#upload-status").inner_text()
    assert "farlige tegn <img src=x onerror=alert(5)> i en nyhetssak" in status
    # switching back to the bundled article shows it and starts a new conversation
    page.locator("#article-choice input").click()
    page.get_by_role(
        "option", name="Ekspert: Putins desperate trekk kan få Kim til å glise (article)"
    ).click()
    page.wait_for_function(
        "() => document.querySelector('#article-panel').innerText.includes('Radtsjenko')"
    )
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
    page.get_by_text("Hva sier artikkelen om Sergej Radtsjenko?", exact=True).first.click()
    answer = page.locator("#chatbot [data-testid='bot']").first
    page.wait_for_function(
        "() => document.querySelector(\"#chatbot [data-testid='bot']\")"
        " && document.querySelector(\"#chatbot [data-testid='bot']\").innerText"
        ".includes('Kilder / Sources')"
    )
    assert "Radtsjenko" in answer.inner_text().split("Kilder / Sources", 1)[1]
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
    follow_second = ask(second, "Hvor underviser han?").inner_text()
    follow_first = ask(first, "Hvor underviser han?").inner_text()
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
        "() => document.querySelector('#feedback-status').innerText.includes('lagret')"
    )
    lines = (app.data_dir / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[-1])
    assert record["rating"] == "up" and record["question"] == "Hvem er Sergej Radtsjenko?"
    assert record["citations"][0]["text"] == RADTSJENKO
    # a dislike carries the right sentence when the user pasted one (used once)
    page.locator("#right-sentence textarea").fill(PROFESSOR)
    page.get_by_label("Dislike", exact=True).last.click()
    page.wait_for_function("() => document.querySelector('#right-sentence textarea').value === ''")
    record = json.loads(
        (app.data_dir / "feedback.jsonl").read_text(encoding="utf-8").splitlines()[-1]
    )
    assert record["rating"] == "down" and record["right_sentence"] == PROFESSOR
    assert_clean(page, watch)


def test_the_chat_grows_while_a_slow_model_writes(browser: Any, tmp_path: Path) -> None:
    """Real streaming in the page: with a model that writes three characters every 0.15 s,
    the message grows piece by piece, then shows the checked answer with its sources."""
    import time

    from bot.eval.fake_llm import Script, scripted_server

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
            env_extra={"OPENAI_API_KEY": "none"},
        ) as served,
    ):
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
            page.wait_for_function(
                "() => document.querySelector('#chatbot').innerText.includes('Kilder / Sources')"
            )
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
    print(
        f"\nfirst text {partial[0][0] - grow[0][0]:.0f} ms after the first change, "
        f"checked answer {final_at - partial[0][0]:.0f} ms after the first text; "
        f"wall {wall:.1f} s"
    )
    assert final_at - partial[0][0] > 1500  # text arrived while the model was still writing


# -- the layout at desktop and phone sizes, copy, ratings, suggestions, accessibility -------

SCREENSHOTS = ARTIFACTS / "screenshots"
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}


def sized(
    browser: Any, viewport: dict[str, int], scheme: str = "light", clipboard: bool = False
) -> Any:
    """A fresh context at a viewport size and colour scheme, reaching only loopback."""
    ctx = browser.new_context(viewport=viewport, color_scheme=scheme)
    if clipboard:
        ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    ctx.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost")
            else route.abort()
        ),
    )
    return ctx


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"\nscreenshot: {path}")


def open_sized(ctx: Any, app: WebApp, watch: Watch) -> Any:
    page = ctx.new_page()
    watch.attach(page)
    page.goto(app.url)
    page.wait_for_selector("#article-panel .sent", state="attached")
    return page


def ask_and_wait(page: Any, question: str) -> Any:
    """Ask, and wait until the panel shows what the answer cites."""
    answer = ask(page, question)
    page.wait_for_selector("#article-panel mark.sent", state="attached")
    return answer


def in_view(page: Any, element_id: str) -> bool:
    """True when the element's top line is inside its scrolling box and the viewport."""
    return bool(
        page.evaluate(
            """(id) => {
      const el = document.getElementById(id);
      const r = el.getBoundingClientRect();
      let box = el.parentElement;
      while (box && !/(auto|scroll)/.test(getComputedStyle(box).overflowY)) {
        box = box.parentElement;
      }
      const b = box ? box.getBoundingClientRect() : {top: 0, bottom: innerHeight};
      return r.top >= Math.max(b.top, 0) - 1 && r.top + 20 <= Math.min(b.bottom, innerHeight);
    }""",
            element_id,
        )
    )


def sheet_settled(page: Any, element_id: str) -> None:
    """Wait until the phone's sheet has slid in and shows the element."""
    page.wait_for_function(
        "(id) => getComputedStyle(document.getElementById('article-column')).transform === 'none'",
        arg=element_id,
    )
    page.wait_for_function(
        "(id) => { const el = document.getElementById(id);"
        " const r = el.getBoundingClientRect();"
        " const b = document.getElementById('article-column')"
        ".getBoundingClientRect();"
        " return r.top >= Math.max(b.top, 0) - 1"
        " && r.top + 20 <= Math.min(b.bottom, innerHeight); }",
        arg=element_id,
        timeout=5000,
    )
    assert in_view(page, element_id)


def focused(page: Any, selector: str) -> bool:
    return bool(
        page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector)
    )


def test_on_a_desktop_the_panel_scrolls_to_the_first_cited_sentence(
    browser: Any, app: WebApp
) -> None:
    ctx = sized(browser, DESKTOP)
    try:
        watch = Watch()
        page = open_sized(ctx, app, watch)
        assert (
            page.evaluate("document.querySelector('#article-panel .article-body').scrollTop") == 0
        )
        ask_and_wait(page, "Hvem er Sergej Radtsjenko?")
        page.wait_for_function(
            "() => document.querySelector('#article-panel .article-body').scrollTop > 0"
        )
        assert in_view(page, "s-article-10")  # [1] of this answer
        page.wait_for_function(
            "() => document.activeElement === document.querySelector('#question textarea')"
        )
        shot(page, "desktop-answer")
        # a second answer citing another sentence first scrolls there
        ask_and_wait(page, "Hva viste Sjojgu frem i Nord-Korea?")
        first = page.evaluate("""() => [...document.querySelectorAll('#article-panel mark')]
            .sort((a, b) => a.dataset.n - b.dataset.n)[0].id""")
        page.wait_for_function(
            "(id) => { const m = document.getElementById(id);"
            " const b = m.closest('.article-body').getBoundingClientRect();"
            " const r = m.getBoundingClientRect();"
            " return r.top >= b.top && r.top < b.bottom; }",
            arg=first,
        )
        assert focused(page, "#question textarea")
        assert_clean(page, watch)
    finally:
        ctx.close()


def test_on_a_phone_the_sources_open_in_a_sheet_with_a_way_back(browser: Any, app: WebApp) -> None:
    ctx = sized(browser, PHONE)
    try:
        watch = Watch()
        page = open_sized(ctx, app, watch)
        column = page.locator("#article-column")
        assert not column.is_visible()  # the article is not 2,000 px below the chat
        answer = ask_and_wait(page, "Hvem er Sergej Radtsjenko?")
        page.wait_for_function(
            "() => document.activeElement === document.querySelector('#question textarea')"
        )
        shot(page, "phone-answer")
        answer.locator("a[href='#s-article-10']").first.click()
        page.wait_for_function(
            "() => document.activeElement && document.activeElement.id === 'back-to-chat'"
        )
        assert column.is_visible() and page.locator("#back-to-chat").is_visible()
        page.wait_for_function(
            "() => document.getElementById('s-article-10').classList.contains('flash')"
        )
        sheet_settled(page, "s-article-10")  # the sheet slides in and scrolls
        shot(page, "phone-sheet")
        page.locator("#back-to-chat").click()
        page.wait_for_function(
            "() => !document.getElementById('article-column').classList.contains('ab-open')"
        )
        column.wait_for(state="hidden")  # after the slide out
        assert page.evaluate(
            "() => document.activeElement.closest(\"[data-testid='bot']\") !== null"
        )  # focus is back on the answer
        # the visible "show the sources" button opens it too, and Escape closes it
        page.locator("#show-article").click()
        page.wait_for_function(
            "() => document.getElementById('article-column').classList.contains('ab-open')"
        )
        page.wait_for_function("() => document.activeElement.id === 'back-to-chat'")
        sheet_settled(page, "s-article-10")
        page.keyboard.press("Escape")
        page.wait_for_function(
            "() => !document.getElementById('article-column').classList.contains('ab-open')"
        )
        assert_clean(page, watch)
    finally:
        ctx.close()


def test_copy_gives_clean_text(browser: Any, app: WebApp) -> None:
    from gradio_client import Client

    from bot.ui.format import plain_text

    ctx = sized(browser, DESKTOP, clipboard=True)
    try:
        watch = Watch()
        page = open_sized(ctx, app, watch)
        question = "Hvem er Sergej Radtsjenko? <b>&amp;</b> *"
        answer = ask_and_wait(page, question)
        markdown = Client(app.url, verbose=False).predict(question, api_name="/chat")
        answer.hover()
        page.locator("#chatbot button[aria-label='Copy message']").last.click()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == plain_text(markdown)
        assert "&#" not in copied and "](#" not in copied and "**" not in copied
        assert f"\n[1] {RADTSJENKO} (article:10)" in copied  # a source is a plain line
        page.locator("#chatbot button[aria-label='Copy conversation']").click()
        everything = page.evaluate("navigator.clipboard.readText()")
        assert question in everything and f"[1] {RADTSJENKO}" in everything
        assert "&#" not in everything and "&lt;" not in everything
        assert_clean(page, watch)
    finally:
        ctx.close()


def test_a_rating_saves_the_answer_record_and_a_second_replaces_it(
    browser: Any, app: WebApp
) -> None:
    import urllib.request

    ctx = sized(browser, DESKTOP)
    path = app.data_dir / "feedback.jsonl"
    try:
        watch = Watch()
        page = open_sized(ctx, app, watch)
        before = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        ask_and_wait(page, "Hvem er Sergej Radtsjenko?")
        page.get_by_label("Like", exact=True).last.click()
        page.wait_for_function(
            "() => document.querySelector('#feedback-status').innerText.includes('lagret')"
        )
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[: len(before)] == before and len(lines) == len(before) + 1
        saved = json.loads(lines[-1])
        request = urllib.request.Request(
            f"{app.url}api/v1/ask",
            data=json.dumps({"question": "Hvem er Sergej Radtsjenko?"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            expected = json.loads(response.read())
        record = saved["record"]
        assert set(record) == set(expected)
        assert {k: v for k, v in record.items() if k != "timings_ms"} == {
            k: v for k, v in expected.items() if k != "timings_ms"
        }
        assert saved["answer"] == expected["answer"] and "&#" not in saved["answer"]
        with answered(page):  # the server saves the rating before it answers the event
            page.get_by_label("Dislike", exact=True).last.click()
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[: len(before)] == before and len(lines) == len(before) + 1
        again = json.loads(lines[-1])
        assert again["rating"] == "down" and again["message"] == saved["message"]
        assert_clean(page, watch)
    finally:
        ctx.close()


def suggestion_texts(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#chatbot .example-text").all_inner_texts()]


def test_suggestions_follow_the_article_and_stale_status_is_cleared(
    browser: Any, app: WebApp, tmp_path: Path
) -> None:
    from bot.ui.suggest import suggestions
    from index.article import read_article
    from index.sentence import split_article
    from tests.conftest import ARTICLE

    bundled = suggestions(split_article(read_article(ARTICLE)))
    ctx = sized(browser, DESKTOP)
    try:
        watch = Watch()
        page = open_sized(ctx, app, watch)
        page.wait_for_selector("#chatbot .example-text")
        assert suggestion_texts(page) == bundled
        path = tmp_path / "brua.txt"
        path.write_text(
            "Brua over fjorden er åpnet\nOrdføreren i Bergen, Kari Hansen, åpnet "
            "den nye brua over fjorden i går.\nBrua har kostet to milliarder "
            "kroner, sier Kari Hansen.\n",
            encoding="utf-8",
        )
        page.locator("#article-upload input[type=file]").set_input_files(str(path))
        page.wait_for_function(
            "() => document.querySelector('#upload-status').innerText.includes('Brua over fjorden')"
        )
        page.wait_for_function(
            "(old) => { const t = [...document.querySelectorAll("
            "'#chatbot .example-text')].map(e => e.innerText.trim());"
            " return t.length > 0 && t[0] !== old; }",
            arg=bundled[0],
        )
        uploaded = suggestion_texts(page)
        assert uploaded[0] == "Hva handler artikkelen «Brua over fjorden er åpnet» om?"
        assert "Hva sier artikkelen om Kari Hansen?" in uploaded
        assert not set(uploaded) & set(bundled)
        shot(page, "desktop-uploaded-suggestions")
        # a suggestion is answered from this article
        page.get_by_text("Hva sier artikkelen om Kari Hansen?", exact=True).click()
        page.wait_for_function(
            "() => { const b = document.querySelector("
            "\"#chatbot [data-testid='bot']\");"
            " return b && b.innerText.includes('Kari Hansen, åpnet'); }"
        )
        # switching back: the bundled article's suggestions, and no stale status line
        page.locator("#article-choice input").click()
        page.get_by_role(
            "option", name="Ekspert: Putins desperate trekk kan få Kim til å glise (article)"
        ).click()
        page.wait_for_function(
            "(first) => [...document.querySelectorAll("
            "'#chatbot .example-text')].some(e => e.innerText.trim()"
            " === first)",
            arg=bundled[0],
        )
        assert suggestion_texts(page) == bundled
        assert page.locator("#upload-status").inner_text().strip() == ""
        for where in ("#upload-status", "#feedback-status", "#chatbot", "#article-panel"):
            assert "Brua" not in page.locator(where).inner_text(), where
        assert_clean(page, watch)
    finally:
        ctx.close()


# Rules axe reports on Gradio's own markup that our CSS, attributes and script cannot reach.
# Each is one rule on one selector; everything else counts.
AXE_GRADIO_OWN: set[tuple[str, str]] = set()


def settled(page: Any) -> None:
    """Wait until no event is pending: Gradio fades the outputs of a running event."""
    page.wait_for_function("() => !document.querySelector('.pending')")
    # and no fade or slide still running (endless loaders do not count)
    page.wait_for_function(
        "() => document.getAnimations().every((a) =>"
        " a.playState !== 'running'"
        " || a.effect.getComputedTiming().iterations === Infinity)"
    )


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    settled(page)
    results = Axe().run(page)
    found = []
    for v in results.response["violations"]:
        if v["impact"] not in ("serious", "critical"):
            continue
        for node in v["nodes"]:
            target = " ".join(map(str, node["target"]))
            if (v["id"], target) not in AXE_GRADIO_OWN:
                found.append(f"{v['id']} ({v['impact']}) {target}: {node['failureSummary'][:200]}")
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_no_serious_accessibility_violations(
    browser: Any, app: WebApp, size: str, scheme: str
) -> None:
    """axe-core (WCAG 2.2 AA rules among them) before and after an answer, and with the
    phone's sheet open; the page's language and the controls' names checked directly."""
    viewport = DESKTOP if size == "desktop" else PHONE
    ctx = sized(browser, viewport, scheme)
    try:
        watch = Watch()
        page = open_sized(ctx, app, watch)
        page.wait_for_selector("#ui-strings", state="attached")
        assert page.evaluate("document.documentElement.lang") == "nb"
        assert page.get_attribute("#question textarea", "aria-label") == "Spørsmål om artikkelen"
        assert (
            page.get_attribute("#question button.submit-button", "aria-label") == "Send spørsmålet"
        )
        assert serious_violations(page) == []
        ask_and_wait(page, "Who did Kim Jong-un plan to meet in Russia?")
        page.wait_for_function("() => document.documentElement.lang === 'en'")
        page.wait_for_function(
            "() => document.querySelector('#question textarea')"
            ".getAttribute('aria-label') === 'Question about the article'"
        )
        assert serious_violations(page) == []
        if size == "phone":
            page.locator("#show-article").click()
            page.wait_for_function("() => document.activeElement.id === 'back-to-chat'")
            assert serious_violations(page) == []
        shot(page, f"axe-{size}-{scheme}")
        assert_clean(page, watch)
    finally:
        ctx.close()


# -- findings of a keyboard and phone probe of the page ------------------------------------

BUNDLED_OPTION = "Ekspert: Putins desperate trekk kan få Kim til å glise (article)"
BRUA = (
    "Brua over fjorden er åpnet\nOrdføreren i Bergen, Kari Hansen, åpnet den nye brua "
    "over fjorden i går.\nBrua har kostet to milliarder kroner, sier Kari Hansen.\n"
)


def upload_file(page: Any, path: Path, expect: str) -> None:
    """Upload a file through the upload field and wait for the status line to say `expect`."""
    page.locator("#article-upload input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "(s) => document.querySelector('#upload-status').textContent.includes(s)", arg=expect
    )


def user_messages(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#chatbot [data-testid='user']").all_inner_texts()]


def answered(page: Any) -> Any:
    """A context that waits for the server's answer to the page event it wraps."""
    return page.expect_response(
        lambda r: "/gradio_api/" in r.url and r.request.method == "POST" and "upload" not in r.url
    )


def test_leaving_the_article_choice_keeps_the_conversation(
    context: Any, app: WebApp, tmp_path: Path
) -> None:
    """Only a real change of article starts a new conversation: tabbing past the choice,
    opening it and clicking elsewhere, or picking the article already chosen keep it."""
    watch = Watch()
    page = open_chat(context, app, watch)
    path = tmp_path / "brua.txt"
    path.write_text(BRUA, encoding="utf-8")
    upload_file(page, path, "Brua over fjorden")
    page.locator("#article-choice input").click()
    with answered(page):
        page.get_by_role("option", name=BUNDLED_OPTION).click()
    page.wait_for_function(
        "() => document.querySelector('#article-panel').innerText.includes('Radtsjenko')"
    )
    ask(page, "Hvem er Sergej Radtsjenko?")
    # the keyboard: from the question box on to the article choice, then past it
    page.locator("#question textarea").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => !!document.activeElement.closest('#article-choice')"):
            break
    else:
        pytest.fail("Tab never reaches the article choice")
    with answered(page):
        page.keyboard.press("Tab")
    assert user_messages(page) == ["Hvem er Sergej Radtsjenko?"]
    # open it, then click elsewhere
    page.locator("#article-choice input").click()
    page.get_by_role("option", name=BUNDLED_OPTION).wait_for()
    with answered(page):
        page.locator("#article-panel h2").click()
    assert user_messages(page) == ["Hvem er Sergej Radtsjenko?"]
    # pick the article already chosen
    page.locator("#article-choice input").click()
    with answered(page):
        page.get_by_role("option", name=BUNDLED_OPTION).click()
    assert user_messages(page) == ["Hvem er Sergej Radtsjenko?"]
    # the conversation goes on: the follow-up is read against it
    follow = ask(page, "Hvor jobber han?").inner_text()
    assert user_messages(page) == ["Hvem er Sergej Radtsjenko?", "Hvor jobber han?"]
    assert "Radtsjenko" in follow.split("Kilder / Sources", 1)[1]
    # a real change of article still starts a new conversation
    page.locator("#article-choice input").click()
    page.get_by_role("option", name="Brua over fjorden er åpnet", exact=False).first.click()
    page.wait_for_function(
        "() => document.querySelector('#article-panel').innerText.includes('Kari Hansen')"
    )
    page.wait_for_function("() => !document.querySelector(\"#chatbot [data-testid='user']\")")
    assert_clean(page, watch)


def sheet_shown(page: Any) -> None:
    """Open the phone's sheet with its button and wait until it has slid in."""
    page.locator("#show-article").click()
    page.wait_for_function("() => document.activeElement.id === 'back-to-chat'")
    page.wait_for_function(
        "() => { const r = document.getElementById('article-column')"
        ".getBoundingClientRect(); return r.bottom <= innerHeight + 1"
        " && getComputedStyle(document.getElementById('article-column'))"
        ".transform === 'none'; }"
    )


def test_on_a_phone_the_sheet_offers_a_usable_article_choice_and_upload(
    browser: Any, app: WebApp, tmp_path: Path
) -> None:
    """In the sheet the article choice and the upload keep their height beside a long
    article: a phone user can switch articles and upload."""
    ctx = sized(browser, PHONE)
    try:
        watch = Watch()
        page = open_sized(ctx, app, watch)
        path = tmp_path / "brua.txt"
        path.write_text(BRUA, encoding="utf-8")
        upload_file(page, path, "Brua over fjorden")
        sheet_shown(page)
        page.locator("#article-choice input").click()
        page.get_by_role("option", name=BUNDLED_OPTION).click()
        page.wait_for_function(
            "() => document.querySelector('#article-panel').innerText.includes('Radtsjenko')"
        )
        # beside the long article: each control's box, its slot in the sheet, the input
        heights = page.evaluate("""() => Object.fromEntries(
            ['#article-choice', '#article-choice input', '#article-upload'].map((s) => {
              const el = document.querySelector(s);
              const slot = el.closest('#article-column > *');
              return [s, [el.getBoundingClientRect().height,
                          slot.getBoundingClientRect().height]]; }))""")
        assert min(heights["#article-choice"]) >= 40, heights
        assert heights["#article-choice input"][0] >= 20, heights
        assert min(heights["#article-upload"]) >= 40, heights
        # the choice's input lies inside its box and the box inside its slot of the sheet
        assert page.evaluate("""() => {
            const input = document.querySelector('#article-choice input');
            const inside = (a, b) => a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
            const box = input.closest('#article-choice');
            return inside(input.getBoundingClientRect(), box.getBoundingClientRect())
              && inside(box.getBoundingClientRect(),
                        box.closest('#article-column > *').getBoundingClientRect()); }""")
        shot(page, "phone-sheet-controls")
        # and it still switches, to the uploaded article and to all articles
        page.locator("#article-choice input").click()
        page.get_by_role("option", name="Brua over fjorden er åpnet", exact=False).first.click()
        page.wait_for_function(
            "() => document.querySelector('#article-panel').innerText.includes('Kari Hansen')"
        )
        page.locator("#article-choice input").click()
        page.get_by_role("option", name="Alle artikler / All articles").click()
        page.wait_for_function(
            "() => document.querySelector('#article-panel').innerText.includes('alle artiklene')"
        )
        assert_clean(page, watch)
    finally:
        ctx.close()


def test_typed_markup_stays_text_after_a_switch_of_article(
    context: Any, app: WebApp, tmp_path: Path
) -> None:
    """The user's own bubble shows typed markup as text on a fresh page, after an upload
    and after a switch of article (each redraws the chat with new suggestions)."""
    watch = Watch()
    page = open_chat(context, app, watch)
    question = 'Hva sier artikkelen om Kari Hansen? <img src="x"> <b>fet</b>'

    def shown_literally() -> None:
        assert user_messages(page)[-1] == question
        assert page.locator("#chatbot img[src='x'], #chatbot b").count() == 0

    # a tag inside a question is shown as typed and does not keep the answer away
    tagged = ask(page, "Hvem er <b>Sergej Radtsjenko</b>?").inner_text()
    assert user_messages(page) == ["Hvem er <b>Sergej Radtsjenko</b>?"]
    assert "Kilder / Sources" in tagged and RADTSJENKO in tagged
    ask(page, question)
    shown_literally()
    path = tmp_path / "brua.txt"
    path.write_text(BRUA, encoding="utf-8")
    upload_file(page, path, "Brua over fjorden")
    page.wait_for_function("() => !document.querySelector(\"#chatbot [data-testid='user']\")")
    ask(page, question)
    shown_literally()
    page.locator("#article-choice input").click()
    page.get_by_role("option", name=BUNDLED_OPTION).click()
    page.wait_for_function("() => !document.querySelector(\"#chatbot [data-testid='user']\")")
    ask(page, question)
    shown_literally()
    assert_clean(page, watch)


def test_on_a_desktop_a_cited_sentence_at_the_end_is_shown_in_the_window(
    browser: Any, app: WebApp
) -> None:
    """After [n], the cited sentence is inside the panel's box and inside the window, also
    for the article's last sentence."""
    ctx = sized(browser, DESKTOP)
    try:
        watch = Watch()
        page = open_sized(ctx, app, watch)
        answer = ask_and_wait(page, "Hva kan Russland gjøre med nordkoreanske våpen i Ukraina?")
        link = answer.locator("a[href='#s-article-22']").first
        link.wait_for()
        link.click()
        page.wait_for_function(
            "() => document.getElementById('s-article-22').classList.contains('flash')"
        )
        page.wait_for_function(
            """() => {
            const r = document.getElementById('s-article-22').getBoundingClientRect();
            const b = document.querySelector('#article-panel .article-body')
              .getBoundingClientRect();
            return r.top >= Math.max(b.top, 0) - 1 && r.bottom <= Math.min(b.bottom,
              innerHeight) + 1; }""",
            timeout=5000,
        )
        shot(page, "desktop-last-sentence")
        assert_clean(page, watch)
    finally:
        ctx.close()


def test_on_a_phone_tab_stays_in_the_open_sheet(browser: Any, app: WebApp) -> None:
    """The open sheet keeps the keyboard: Tab and Shift+Tab go round inside it and never
    reach the controls hidden behind it; closing it frees them again."""
    ctx = sized(browser, PHONE)
    try:
        watch = Watch()
        page = open_sized(ctx, app, watch)
        sheet_shown(page)
        inside = "() => !!document.activeElement.closest('#article-column')"
        seen = set()
        for _ in range(25):
            page.keyboard.press("Tab")
            assert page.evaluate(inside), page.evaluate(
                "document.activeElement.outerHTML.slice(0, 200)"
            )
            seen.add(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
        assert "back-to-chat" in seen  # it went round
        page.locator("#back-to-chat").focus()
        for _ in range(3):
            page.keyboard.press("Shift+Tab")
            assert page.evaluate(inside)
        page.keyboard.press("Escape")
        page.wait_for_function(
            "() => !document.getElementById('article-column').classList.contains('ab-open')"
        )
        page.locator("#question textarea").focus()
        page.keyboard.type("Hvem er Sergej Radtsjenko?")
        assert page.locator("#question textarea").input_value() == "Hvem er Sergej Radtsjenko?"
        assert_clean(page, watch)
    finally:
        ctx.close()


def status_text(page: Any) -> str:
    return str(page.evaluate("document.querySelector('#upload-status').textContent")).strip()


def test_upload_messages_are_current_in_the_interface_language_and_name_only_the_file(
    context: Any, app: WebApp, tmp_path: Path
) -> None:
    """Every upload, refused or not, replaces the status line with its own message, in the
    interface's language, naming the file by its own name; a file too large or of the
    wrong type gets our message rather than Gradio's English toast."""
    watch = Watch()
    page = open_chat(context, app, watch)
    files = {
        "brua.txt": BRUA.encode(),
        "empty.txt": b"",
        "notes.docx": b"PK\x03\x04",
        "stor.txt": b"x" * 1_100_000,
        "tom.md": b" \n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    upload_file(page, tmp_path / "brua.txt", "Brua over fjorden")
    for name, expected in [
        ("empty.txt", "«empty.txt» har ingen tekst"),
        ("notes.docx", "«notes.docx» ble ikke lastet opp: bare .txt, .md"),
        ("stor.txt", "«stor.txt» er for stor"),
    ]:
        upload_file(page, tmp_path / name, expected)
        status = status_text(page)
        assert "Brua" not in status and "uploads" not in status and "/" not in status
    # in English once the interface is
    ask(page, "Who did Kim Jong-un plan to meet in Russia?")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    upload_file(page, tmp_path / "tom.md", "“tom.md” has no text")
    upload_file(page, tmp_path / "stor.txt", "“stor.txt” is too large")
    upload_file(page, tmp_path / "notes.docx", "“notes.docx” was not uploaded")
    assert page.locator(".toast-body, [data-testid='toast-body']").count() == 0
    assert page.locator("#upload-refused").is_hidden()
    assert_clean(page, watch)


def test_the_placeholder_stays_and_the_phone_page_opens_at_the_top(
    browser: Any, app: WebApp
) -> None:
    """The question box keeps its placeholder after an answer; on a phone the page opens
    at its title, not scrolled to the question box."""
    from bot import texts

    ctx = sized(browser, PHONE)
    try:
        watch = Watch()
        page = open_sized(ctx, app, watch)
        page.wait_for_selector("#ui-strings", state="attached")
        page.wait_for_function(
            "() => document.activeElement === document.querySelector('#question textarea')"
        )
        page.wait_for_function("() => scrollY === 0", timeout=3000)
        assert page.locator("h1").first.bounding_box()["y"] >= 0
        ask(page, "Hvem er Sergej Radtsjenko?")
        page.wait_for_function(
            "(p) => document.querySelector('#question textarea').getAttribute('placeholder') === p",
            arg=texts.QUESTION_PLACEHOLDER,
        )
        assert_clean(page, watch)
    finally:
        ctx.close()
