"""Suggested questions for the web chat, built from the current article's own sentences.

The templates are data in `bot.texts` (nb and en); this module only fills them with the
article's headline, its sub-headings and the names it mentions most, so the suggestions
change with the article.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from bot import texts
from core.records import Sentence

# A capitalised word (letters, digits inside, hyphens: "Jong-un", "Nord-Korea"), or a
# single capital initial ("Henry A Kissinger").
_WORD = re.compile(r"[A-ZÆØÅÄÖÜÉ][\wæøåäöüé]*(?:-[\wæøåäöüé]+)*")
_TOKEN = re.compile(r"[\wæøåäöüéÆØÅÄÖÜÉ]+(?:-[\wæøåäöüéÆØÅÄÖÜÉ]+)*|[^\w\s]")
MAX_HEADLINE_CHARS = 70
MAX_SUGGESTIONS = 4


def names(sentences: list[Sentence]) -> list[str]:
    """Names of two or more capitalised words in the body (not a sentence's first word),
    most mentioned first: a name counts each sentence that holds its last word."""
    found: dict[str, int] = {}
    for s in sentences:
        if s.kind != "body":
            continue
        tokens = _TOKEN.findall(s.text)
        run: list[str] = []
        for i, token in enumerate([*tokens, "."]):
            if _WORD.fullmatch(token) and i > 0 and tokens[i - 1] not in '.!?«"':
                run.append(token)
                continue
            if len(run) >= 2 and len(run[-1]) > 1:
                found.setdefault(" ".join(run), len(found))
            run = []
    bodies = [s.text for s in sentences if s.kind == "body"]
    mentions = Counter({name: sum(name.split()[-1] in text for text in bodies) for name in found})
    return sorted(found, key=lambda name: (-mentions[name], found[name]))


def _headline(sentences: list[Sentence]) -> str | None:
    for s in sentences:
        if s.kind == "headline":
            text = s.text.strip().strip("#").strip()
            return text if 0 < len(text) <= MAX_HEADLINE_CHARS else None
    return None


def suggestions(sentences: list[Sentence]) -> list[str]:
    """Up to four questions about these sentences (an article's, in order), Norwegian first.

    Each template of `texts.SUGGESTION_TEMPLATES` is filled from the article, a field used
    once (the second name template gets the second name); templates whose field the article
    lacks are skipped, and the fallbacks fill up when fewer than two are left.
    """
    fields: dict[str, list[str]] = {
        "headline": [h] if (h := _headline(sentences)) else [],
        "name": names(sentences),
        "subheading": [
            s.text.strip().strip("#").strip() for s in sentences if s.kind == "subheading"
        ],
    }
    used: Counter[str] = Counter()
    out: list[str] = []
    for _, template in texts.SUGGESTION_TEMPLATES:
        keys = [key for _, key, _, _ in string.Formatter().parse(template) if key]
        values = {}
        for key in keys:
            pool = fields.get(key, [])
            if used[key] >= len(pool):
                break
            values[key] = pool[used[key]]
            used[key] += 1
        else:
            question = template.format(**values)
            if question not in out:
                out.append(question)
    for fallback in texts.SUGGESTION_FALLBACKS:
        if len(out) >= 2:
            break
        if fallback not in out:
            out.append(fallback)
    return out[:MAX_SUGGESTIONS]
