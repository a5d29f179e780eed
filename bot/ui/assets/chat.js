// Our own script, with no article or user text in it. Clicking a citation link ([n] in the
// answer) scrolls the article panel to the sentence and flashes it (on a phone it opens the
// sheet first); after each answer the panel scrolls to its first cited sentence and focus
// returns to the question box; the copy buttons copy clean text (`plain_text`), and the
// page's language and the question box's controls follow the interface's language.
(function () {
  "use strict";
  document.documentElement.lang = "nb";
  var lastPanel = null, returnTo = null, copyFromChat = 0, pending = false;

  function phone() { return window.matchMedia("(max-width: 700px)").matches; }
  function sheet() { return document.getElementById("article-column"); }
  function sheetOpen() { var s = sheet(); return !!s && s.classList.contains("ab-open"); }
  function scroller() {
    return phone() ? document.getElementById("article-column")
                   : document.querySelector("#article-panel .article-body");
  }
  function reveal(target, smooth) {
    var box = scroller();
    if (!box || !box.contains(target)) { return; }
    var behavior = smooth ? "smooth" : "auto";
    var top = target.getBoundingClientRect().top - box.getBoundingClientRect().top
              + box.scrollTop;
    box.scrollTo({top: Math.max(0, top - box.clientHeight / 3), behavior: behavior});
    if (!phone()) {
      // the panel's box may reach below the window (the column sticks only once the page
      // is scrolled): scroll the page until the whole box, and so the sentence, is in it
      var below = box.getBoundingClientRect().bottom - window.innerHeight + 8;
      if (below > 0) { window.scrollBy({top: below, behavior: behavior}); }
    }
  }
  // On a desktop the article scrolls in its own box: as tall as the window leaves it
  // below the controls of the (sticky) column, so the whole box fits in the window.
  function fitPanel() {
    var body = document.querySelector("#article-panel .article-body"), column = sheet();
    if (!body || !column) { return; }
    var height = "";
    if (!phone()) {
      var offset = body.getBoundingClientRect().top - column.getBoundingClientRect().top;
      height = Math.max(240, Math.floor(window.innerHeight - offset - 24)) + "px";
    }
    if (body.style.maxHeight !== height) { body.style.maxHeight = height; }
  }
  window.addEventListener("resize", fitPanel);
  function flash(target) {
    target.classList.remove("flash");
    void target.offsetWidth;
    target.classList.add("flash");
  }
  function lastBotMessage() {
    var all = document.querySelectorAll("#chatbot [data-testid='bot']");
    return all.length ? all[all.length - 1] : null;
  }
  // While the sheet is open, what lies behind it is inert: no Tab, click or screen reader
  // reaches the hidden chat. Everything beside the sheet's ancestors is marked, once.
  var inerted = [];
  function setBehind(on) {
    inerted.forEach(function (el) { el.inert = false; });
    inerted = [];
    var s = sheet();
    if (!on || !s) { return; }
    for (var el = s; el && el.parentElement && el !== document.body; el = el.parentElement) {
      var kids = el.parentElement.children;
      for (var i = 0; i < kids.length; i++) {
        if (kids[i] !== el && !kids[i].inert && kids[i].tagName !== "SCRIPT") {
          kids[i].inert = true;
          inerted.push(kids[i]);
        }
      }
    }
  }
  function focusables(root) {
    return Array.prototype.filter.call(root.querySelectorAll(
      "a[href], button, input, textarea, select, [tabindex]"), function (el) {
      return !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0
        && getComputedStyle(el).visibility !== "hidden";
    });
  }
  // Tab and Shift+Tab go round inside the open sheet
  function trapTab(event) {
    var s = sheet(), all = s ? focusables(s) : [];
    if (!all.length) { return; }
    var first = all[0], last = all[all.length - 1], a = document.activeElement;
    var outside = !s.contains(a);
    if (event.shiftKey && (a === first || outside)) {
      event.preventDefault(); last.focus();
    } else if (!event.shiftKey && (a === last || outside)) {
      event.preventDefault(); first.focus();
    }
  }
  function openSheet() {
    var s = sheet();
    if (s) { s.classList.add("ab-open"); }
    setBehind(true);
    // focus moves into the sheet once it is shown; the click that opened it, or a page that
    // is slow to lay out, may move it on, so it is tried again for a second
    var tries = 0;
    (function into() {
      var back = document.getElementById("back-to-chat");
      if (!sheetOpen() || !back) { return; }
      if (!(s && s.contains(document.activeElement))) { back.focus({preventScroll: true}); }
      if (++tries < 20) { setTimeout(into, 50); }
    })();
  }
  function closeSheet() {
    var s = sheet();
    if (s) { s.classList.remove("ab-open"); }
    setBehind(false);
    var target = returnTo && document.contains(returnTo) ? returnTo : lastBotMessage();
    returnTo = null;
    if (target) {
      if (!target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
      target.focus();
    } else {
      var box = document.querySelector("#question textarea");
      if (box) { box.focus(); }
    }
  }

  // An answer's Markdown (or the chat's copy-all text) as plain text: links to the panel
  // become their text, emphasis marks go (the article's own are entities), a source is a
  // line "[n] sentence (id)", entities are decoded (a textarea decodes, it never renders).
  function plain(text) {
    var t = text.replace(/\[([^\[\]]*)\]\(#s-[A-Za-z0-9-]+\)/g, "$1")
      .replace(/[*_]/g, "")
      .split("\n").map(function (line) {
        return line.replace(/^- /, "").replace(/\s+$/, "");
      }).join("\n");
    var decoder = document.createElement("textarea");
    decoder.innerHTML = t;
    return decoder.value.trim();
  }
  function fromChat() { return Date.now() - copyFromChat < 2000; }
  if (navigator.clipboard && navigator.clipboard.writeText) {
    var write = navigator.clipboard.writeText.bind(navigator.clipboard);
    navigator.clipboard.writeText = function (text) {
      return write(fromChat() && typeof text === "string" ? plain(text) : text);
    };
  }
  document.addEventListener("copy", function (event) {
    var a = document.activeElement;
    if (a && a.tagName === "TEXTAREA" && a.parentNode === document.body && fromChat()
        && event.clipboardData) {
      event.clipboardData.setData("text/plain", plain(a.value));
      event.preventDefault();
    }
  }, true);

  document.addEventListener("click", function (event) {
    var el = event.target && event.target.closest ? event.target : null;
    if (!el) { return; }
    if (el.closest("#chatbot")) { copyFromChat = Date.now(); }
    if (el.closest("#show-article")) {
      var panel = document.getElementById("article-panel"), cited = panel && firstCited(panel);
      returnTo = lastBotMessage();
      openSheet();
      if (cited) { reveal(cited, false); }
      return;
    }
    if (el.closest("#back-to-chat")) { closeSheet(); return; }
    var link = el.closest('a[href^="#s-"]');
    if (!link) { return; }
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) { return; }
    event.preventDefault();
    event.stopPropagation();
    if (phone()) {
      returnTo = link.closest("[data-testid='bot']") || lastBotMessage();
      openSheet();
    }
    reveal(target, true);
    flash(target);
  }, true);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && sheetOpen()) { event.preventDefault(); closeSheet(); }
    if (event.key === "Tab" && sheetOpen() && phone()) { trapTab(event); }
  });
  // a phone turned or a window widened past the phone layout: the sheet is a column again
  window.matchMedia("(max-width: 700px)").addEventListener("change", function (event) {
    if (!event.matches && sheetOpen()) { sheet().classList.remove("ab-open"); setBehind(false); }
  });

  // A file the upload would refuse (wrong type, too large: the rules `upload_refusal`
  // sends in #ui-strings) is not sent at all; the server is told its name and size, and
  // the status line says why, in the interface's language, in place of Gradio's toast.
  var refusals = 0;
  function refusedFile(files) {
    var strings = document.getElementById("ui-strings");
    if (!strings || !files || files.length !== 1) { return null; }
    var file = files[0], name = file.name.toLowerCase();
    var types = (strings.getAttribute("data-upload-types") || "").split(" ");
    var limit = parseInt(strings.getAttribute("data-upload-limit"), 10);
    var typed = types.some(function (t) { return t && name.slice(-t.length) === t; });
    return !typed || (limit > 0 && file.size > limit) ? file : null;
  }
  function reportRefused(file) {
    var box = document.querySelector("#upload-refused textarea, #upload-refused input");
    if (!box) { return; }
    box.value = JSON.stringify({name: file.name, size: file.size, n: ++refusals});
    box.dispatchEvent(new Event("input", {bubbles: true}));
  }
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input || !input.matches || !input.matches("#article-upload input[type=file]")) {
      return;
    }
    var file = refusedFile(input.files);
    if (file) {
      event.stopImmediatePropagation();
      input.value = "";
      reportRefused(file);
    }
  }, true);
  document.addEventListener("drop", function (event) {
    var el = event.target && event.target.closest ? event.target : null;
    if (!el || !el.closest("#article-upload")) { return; }
    var file = refusedFile(event.dataTransfer && event.dataTransfer.files);
    if (file) {
      event.preventDefault();
      event.stopImmediatePropagation();
      reportRefused(file);
    }
  }, true);

  // The question box takes focus when the page opens, and the browser scrolls it into
  // view; on a phone that hides the title: until the user does anything, the page stays
  // at its top.
  var touched = false;
  ["pointerdown", "keydown", "wheel", "touchstart"].forEach(function (name) {
    document.addEventListener(name, function () { touched = true; }, true);
  });
  document.addEventListener("focusin", function (event) {
    if (touched || !phone() || !event.target.matches
        || !event.target.matches("#question textarea")) { return; }
    requestAnimationFrame(function () { if (!touched) { window.scrollTo(0, 0); } });
  }, true);
  window.addEventListener("load", function () {
    if (!touched && phone()) { window.scrollTo(0, 0); }
  });

  function firstCited(panel) {
    var best = null, marks = panel.querySelectorAll("mark.sent[data-n]");
    for (var i = 0; i < marks.length; i++) {
      var n = parseInt(marks[i].getAttribute("data-n"), 10);
      if (best === null || n < parseInt(best.getAttribute("data-n"), 10)) { best = marks[i]; }
    }
    return best;
  }
  function panelChanged() {
    var panel = document.getElementById("article-panel");
    var body = panel && panel.querySelector(".article-body");
    if (!body) { return; }
    var first = body.querySelector(".sent"), marks = panel.querySelectorAll("mark.sent");
    var key = (first ? first.id : "") + "|";
    for (var i = 0; i < marks.length; i++) {
      key += marks[i].id + "=" + marks[i].getAttribute("data-n") + ",";
    }
    if (key === lastPanel) { return; }
    var switched = lastPanel === null || lastPanel.split("|")[0] !== key.split("|")[0];
    lastPanel = key;
    var cited = firstCited(panel), box = scroller();
    if (cited) { reveal(cited, false); } else if (box && switched) { box.scrollTop = 0; }
  }
  function applyStrings() {
    var strings = document.getElementById("ui-strings");
    if (!strings) { return; }
    var lang = strings.getAttribute("data-lang") || "nb";
    if (document.documentElement.lang !== lang) { document.documentElement.lang = lang; }
    // Gradio empties the question box's placeholder for good once it has sent a question
    var question = document.querySelector("#question textarea");
    var placeholder = strings.getAttribute("data-placeholder");
    if (question && placeholder && question.getAttribute("placeholder") !== placeholder) {
      question.setAttribute("placeholder", placeholder);
    }
    var named = [["#question textarea", "data-question"],
                 ["#question button.submit-button", "data-send"],
                 ["#question button.stop-button", "data-stop"],
                 ["#article-column", "data-sheet"]];
    named.forEach(function (pair) {
      var el = document.querySelector(pair[0]), name = strings.getAttribute(pair[1]);
      if (el && name && el.getAttribute("aria-label") !== name) {
        el.setAttribute("aria-label", name);
      }
    });
    // Gradio lists the suggested questions as role=list with buttons for children, which
    // a list may not have: a named group of buttons instead
    var examples = document.querySelector("#chatbot .examples[role='list']");
    if (examples) {
      examples.setAttribute("role", "group");
      examples.setAttribute("aria-label", strings.getAttribute("data-suggestions") || "");
    }
    var column = document.getElementById("article-column");
    if (column && column.getAttribute("role") !== "region") {
      column.setAttribute("role", "region");
    }
    // Gradio names each message by its raw text; for an answer that is Markdown
    var messages = document.querySelectorAll("#chatbot [data-testid='bot'][aria-label]");
    for (var i = 0; i < messages.length; i++) {
      var label = messages[i].getAttribute("aria-label"), cut = label.indexOf(": ");
      if (cut > 0 && /&#|\]\(#s-/.test(label)) {
        messages[i].setAttribute("aria-label", label.slice(0, cut + 2)
                                 + plain(label.slice(cut + 2)));
      }
    }
  }
  function answerDone(record) {
    var box = record.target;
    if (!box.matches || !box.matches("#question textarea") || record.oldValue === null
        || box.disabled || sheetOpen()) { return; }
    var a = document.activeElement;
    if (!a || a === document.body || a === box || (a.closest && a.closest("#chatbot"))) {
      box.focus();
    }
  }
  new MutationObserver(function (records) {
    records.forEach(function (record) {
      if (record.type === "attributes" && record.attributeName === "disabled") {
        answerDone(record);
      }
    });
    if (!pending) {
      pending = true;
      setTimeout(function () {
        pending = false; fitPanel(); panelChanged(); applyStrings();
      }, 60);
    }
  }).observe(document.documentElement, {subtree: true, childList: true, attributes: true,
                                         attributeFilter: ["disabled", "lang", "data-lang",
                                                           "placeholder"],
                                         attributeOldValue: true});
})();
