"""Language identification: accuracy and cost of `bot.language.detect_language` and its parts.

    python scripts/language_id.py --norquad DIR   # DIR holds NorQuAD's validation.jsonl

Questions: every question of the article's dev files (`bot/eval/data/article_dev_qa.jsonl`,
`data/article_dev_more.jsonl`, the turns of `data/article_followups.jsonl`) and the short
questions of `data/language_questions.jsonl`, each with its `lang`; and NorQuAD validation's
472 Norwegian questions (only whether each is taken for Norwegian, nb or nn: a Norwegian
question taken for another language is ranked by the cross-lingual variant). Methods: marker
words alone, lingua alone (low- and high-accuracy mode, the same eight languages), and the
shipped combination. Cost: a fresh interpreter's import, first and later calls, and RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot import language  # noqa: E402

FILES = (
    REPO / "bot" / "eval" / "data" / "article_dev_qa.jsonl",
    REPO / "data" / "article_dev_more.jsonl",
    REPO / "data" / "article_followups.jsonl",
    REPO / "data" / "language_questions.jsonl",
)
NORWEGIAN = ("nb", "nn")

_COST = """
import os, sys, time
sys.path.insert(0, {repo!r})
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
r0, t0 = rss(), time.perf_counter()
import bot.language as L
{setup}
t1, r1 = time.perf_counter(), rss()
L.identifier_scores("Radtchenko Guardian analyse")
t2, r2 = time.perf_counter(), rss()
for _ in range(200):
    L.identifier_scores("Kim Jong-un Putin Wladiwostok")
t3 = time.perf_counter()
print(1000 * (t1 - t0), 1000 * (t2 - t1), 1000 * (t3 - t2) / 200, r1 - r0, r2 - r0)
"""
_HIGH = """
from lingua import Language, LanguageDetectorBuilder
_high = LanguageDetectorBuilder.from_languages(
    Language.BOKMAL, Language.NYNORSK, Language.ENGLISH, Language.SWEDISH, Language.DANISH,
    Language.GERMAN, Language.FRENCH, Language.SPANISH).build()
L._identifier = lambda: _high
"""


def labelled() -> list[tuple[str, str]]:
    """(question, language) of every labelled question."""
    out = []
    for path in FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            for q in item.get("turns", [item.get("question")]):
                if q:
                    out.append((str(q), str(item["lang"])))
    return out


def norquad(folder: Path) -> list[str]:
    """NorQuAD validation's questions (all Norwegian)."""
    path = folder / "validation.jsonl"
    return [json.loads(x)["question"] for x in path.read_text(encoding="utf-8").splitlines()]


def _top(scores: dict[str, float]) -> str:
    if not any(scores.values()):
        return "nb"
    return max(language.LANGUAGES, key=lambda k: (scores[k], -language.LANGUAGES.index(k)))


def _lingua(high: bool) -> Callable[[str], str]:
    from lingua import Language, LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_languages(
        Language.BOKMAL,
        Language.NYNORSK,
        Language.ENGLISH,
        Language.SWEDISH,
        Language.DANISH,
        Language.GERMAN,
        Language.FRENCH,
        Language.SPANISH,
    )
    detector = (builder if high else builder.with_low_accuracy_mode()).build()

    def guess(q: str) -> str:
        found = detector.detect_language_of(q)
        return str(found.iso_code_639_1.name.lower()) if found else "nb"

    return guess


def cost(setup: str) -> str:
    """One fresh interpreter's import of bot.language, lingua's first and later calls (ms)
    and RSS (MB)."""
    code = _COST.format(repo=str(REPO), setup=setup)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    imp, first, later, rss_import, rss_first = map(float, out)
    return (
        f"import {imp:.0f} ms (+{rss_import:.0f} MB), first call {first:.0f} ms "
        f"(+{rss_first:.0f} MB in all), then {later:.2f} ms a question"
    )


def main() -> int:
    """Print the accuracy table, the errors of the shipped detector and the costs."""
    items = labelled()
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--norquad", type=Path, required=True, help="the folder holding NorQuAD's validation.jsonl"
    )
    nq = norquad(parser.parse_args().norquad)
    methods: dict[str, Callable[[str], str]] = {
        "marker words alone": lambda q: _top(language.marker_scores(q)),
        "lingua alone, low-accuracy mode": _lingua(high=False),
        "lingua alone, high-accuracy mode": _lingua(high=True),
        "**shipped: marker words, lingua (low) between tied leaders**": language.detect_language,
    }
    print(
        f"| method | exact language ({len(items)} labelled) | Norwegian or not "
        f"({len(items)}) | NorQuAD validation taken for Norwegian ({len(nq)}) |"
    )
    print("| --- | --- | --- | --- |")
    for name, guess in methods.items():
        got = [guess(q) for q, _ in items]
        exact = sum(g == lang for g, (_, lang) in zip(got, items, strict=True))
        group = sum(
            (g in NORWEGIAN) == (lang in NORWEGIAN) for g, (_, lang) in zip(got, items, strict=True)
        )
        nor = sum(guess(q) in NORWEGIAN for q in nq)
        print(
            f"| {name} | {exact / len(items):.3f} ({exact}) | {group / len(items):.3f} "
            f"({group}) | {nor / len(nq):.3f} ({nor}) |"
        )
    print("\nThe shipped detector's errors (question, labelled, guessed):")
    for q, lang in items:
        g = language.detect_language(q)
        if g != lang:
            print(f"- {q!r}: {lang} -> {g}")
    consulted = sum(language.needs_identifier(q) for q, _ in items)
    print(f"\nLingua decided {consulted} of the {len(items)} labelled questions.")
    print("Cost of the shipped detector:", cost(""))
    print("Cost with lingua's high-accuracy mode:", cost(_HIGH))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
