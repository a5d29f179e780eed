"""Eval outputs: predictions.jsonl, summary.json, items.csv, report.md and the figures.

Only the files named in OUTPUT_FILES are written in the output directory (each replaced
whole, through a temporary file); other files there are left alone. A file that cannot be
written does not stop the others: `write_outputs` writes what it can and names what it
could not. Every CSV cell goes through `csv_cell`, so no cell runs as a spreadsheet formula.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.eval.metrics import (
    DENOMINATOR_TEXT,
    HEADLINE,
    citation_pr,
    compute,
    confidence_intervals,
    denominators,
    hit_at,
    in_retrieval,
    reciprocal_rank,
)
from core.errors import ArticlebotError

if TYPE_CHECKING:
    from bot.eval.outcome import Outcome

DIGITS = 6  # rounding in summary.json: stable diffs, far below any CI's width
WORST = 10
# Every file eval writes in --out; the figures are the names `plots.write_plots` draws.
FIGURES = (
    "hit_at_k.png",
    "risk_coverage.png",
    "threshold_sweep.png",
    "short_answers.png",
)
OUTPUT_FILES = ("predictions.jsonl", "summary.json", "items.csv", "report.md", *FIGURES)
TMP_SUFFIX = ".tmp"  # each file is written beside itself under this suffix, then renamed


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def _round_pair(pair: list[float] | None) -> list[float | None] | None:
    return None if pair is None else [_round(x) for x in pair]


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + TMP_SUFFIX)
    # backslashreplace: a lone surrogate that got this far becomes the six characters
    # `\udXXX`, which is the same JSON escape it came in as, instead of failing the write
    # after the whole run
    try:
        tmp.write_bytes(text.encode("utf-8", "backslashreplace"))
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):  # the write's own error is the one to report
            tmp.unlink(missing_ok=True)
        raise


def metric_block(outcomes: Sequence[Outcome], seed: int) -> dict[str, Any]:
    """Headline metrics (rounded), their intervals and denominators for some items."""
    scored = [o.scored for o in outcomes]
    point = compute(scored)
    ci = confidence_intervals(scored, seed=seed)
    block: dict[str, Any] = {name: _round(point[name]) for name in HEADLINE}
    block["ci"] = {name: _round_pair(ci[name]) for name in HEADLINE}
    block["denominators"] = denominators(scored)
    return block


def _groups(
    outcomes: Sequence[Outcome], key: Callable[[Outcome], str | None], seed: int
) -> dict[str, Any]:
    """The same metrics per group; {} when no item has the key."""
    if not any(key(o) for o in outcomes):
        return {}
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(key(o) or "(none)", []).append(o)
    out = {}
    for name in sorted(groups):
        block = metric_block(groups[name], seed)
        block.pop("denominators")
        out[name] = {"n": len(groups[name]), **block}
    return out


def build_summary(
    outcomes: Sequence[Outcome], meta: dict[str, Any], n_skipped: int, seed: int
) -> dict[str, Any]:
    """summary.json: flat headline floats, ci, counts, by_lang, by_source, by_category, meta
    (with the denominators of every metric)."""
    block = metric_block(outcomes, seed)
    summary: dict[str, Any] = {name: block[name] for name in HEADLINE}
    summary["ci"] = block["ci"]
    summary["counts"] = {
        "n_total": len(outcomes) + n_skipped,
        "n_scored": sum(1 for o in outcomes if not o.scored.error),
        "n_error": sum(1 for o in outcomes if o.scored.error),
        "n_skipped": n_skipped,
        "n_answerable": sum(1 for o in outcomes if o.item.answerable),
        "n_unanswerable": sum(1 for o in outcomes if not o.item.answerable),
    }
    summary["by_lang"] = _groups(outcomes, lambda o: o.item.lang, seed)
    summary["by_source"] = _groups(outcomes, lambda o: o.item.source, seed)
    summary["by_category"] = _groups(outcomes, lambda o: o.item.category, seed)
    summary["meta"] = {**meta, "denominators": block["denominators"]}
    return summary


# -- items.csv ------------------------------------------------------------------------------

ITEM_COLUMNS = (
    "id",
    "lang",
    "source",
    "answerable",
    "abstained",
    "error",
    "gold_rank",
    "hit_at_1",
    "hit_at_3",
    "reciprocal_rank",
    "citation_precision",
    "citation_recall",
    "exact_match",
    "f1",
    "latency_ms",
    "confidence",
    "question",
    "answer",
    "cited_ids",
    "gold_ids",
    "cited_text",
    "gold_text",
    "error_message",
)


def _num(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def item_row(o: Outcome) -> dict[str, str]:
    """One items.csv row; a metric cell is blank when the item is not in its denominator."""
    s = o.scored
    retr = in_retrieval(s)
    cp, cr = citation_pr(s)
    em = None if s.exact_match is None else (s.exact_match if s.answered else 0.0)
    f1 = None if s.f1 is None else (s.f1 if s.answered else 0.0)
    record = o.record
    cited_text = next((c["text"] for c in record.get("citations", []) if c.get("support")), "")
    return {
        "id": o.item.id,
        "lang": o.item.lang or "",
        "source": o.item.source or "",
        "answerable": str(s.answerable).lower(),
        "abstained": str(s.abstained).lower(),
        "error": str(s.error).lower(),
        "gold_rank": "" if s.gold_rank is None else str(s.gold_rank),
        "hit_at_1": _num(hit_at(s, 1), 0) if retr else "",
        "hit_at_3": _num(hit_at(s, 3), 0) if retr else "",
        "reciprocal_rank": _num(reciprocal_rank(s)) if retr else "",
        "citation_precision": _num(cp) if retr else "",
        "citation_recall": _num(cr) if retr else "",
        "exact_match": _num(em, 0),
        "f1": _num(f1),
        "latency_ms": _num(s.latency_ms, 1),
        "confidence": _num(s.confidence),
        "question": o.item.question,
        "answer": _short_text(record) or record.get("answer") or "",
        "cited_ids": " ".join(s.cited),
        "gold_ids": " ".join(o.gold),
        "cited_text": cited_text,
        "gold_text": " | ".join(o.gold_texts),
        "error_message": o.error or "",
    }


# CSV injection: a cell starting with one of these is read as a formula by spreadsheet
# programs, which can run commands or send data away; a leading apostrophe makes it text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheets also read a formula after leading spaces (NBSP and other Unicode spaces too)
# and take the full-width signs for the ASCII ones.
_WIDE_FORMULA_START = ("＝", "＋", "－", "＠")
# A plain decimal number ("-0.4321", a negative score) starts with "-" but cannot run as a
# formula; prefixing it would turn the column into text for every reader of the CSV.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def csv_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula: a cell that starts
    with `=`, `+`, `-`, `@`, a tab or a carriage return, also after spaces (any Unicode
    space) or as a full-width sign, gets a leading `'` (a plain decimal number such as
    `-0.5` is left as it is). Use it for every cell written."""
    lead = value.lstrip(
        " \xa0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
        "\u200a\u202f\u205f\u3000\ufeff\u200b"
    )
    if (
        value.startswith(FORMULA_START) or lead.startswith(FORMULA_START + _WIDE_FORMULA_START)
    ) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Sequence[dict[str, str]]) -> str:
    """A whole CSV file (header first), every cell through `csv_cell`."""
    buf = io.StringIO()
    # CSV's standard "\r\n": the writer quotes a cell holding any character of the line
    # terminator, so with "\n" alone a cell holding a lone "\r" went out unquoted and broke
    # the row for every reader
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([csv_cell(h) for h in header])
    for row in rows:
        w.writerow([csv_cell(row.get(name, "")) for name in header])
    return buf.getvalue()


def items_csv(outcomes: Sequence[Outcome]) -> str:
    """items.csv: one row an item."""
    return csv_text(ITEM_COLUMNS, [item_row(o) for o in outcomes])


# -- report.md ------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|!#~])")
# What GFM links without link syntax (a URL, a `www.` name, an e-mail address), up to the
# characters a code span in a table cell cannot hold.
_BARE_LINK = re.compile(
    r"(?i)(?:\b(?:https?|ftp)://|\bwww\.|\b(?:mailto|xmpp):)[^\s`|]*"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
)


def md(text: str, limit: int = 300) -> str:
    """Text for one Markdown line or table cell: whitespace folded, cut at `limit`,
    Markdown/HTML characters backslash-escaped so a sentence cannot inject links or
    images, and bare URLs and e-mail addresses in code spans, where no renderer links them
    (their text stays as it was)."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    out, pos = [], 0
    for match in _BARE_LINK.finditer(text):
        link = match.group(0)
        # the sentence's punctuation after the address is not part of it (as GFM reads it)
        while link and (
            link[-1] in ".,:;!?'\"" or (link[-1] == ")" and link.count("(") < link.count(")"))
        ):
            link = link[:-1]
        if not link:
            continue
        out += [_MD_SPECIAL.sub(r"\\\1", text[pos : match.start()]), f"`{link}`"]
        pos = match.start() + len(link)
    out.append(_MD_SPECIAL.sub(r"\\\1", text[pos:]))
    return "".join(out)


def fmt(name: str, value: float | None) -> str:
    """A metric value for the report."""
    if value is None:
        return "n/a"
    return f"{value:.1f}" if name.startswith("latency") else f"{value:.3f}"


def _ci_text(name: str, ci: list[float] | None) -> str:
    return "n/a" if ci is None else f"[{fmt(name, ci[0])}, {fmt(name, ci[1])}]"


def compare(
    summary: dict[str, Any], baseline: dict[str, Any]
) -> list[tuple[str, float | None, float | None, float | None, str]]:
    """(metric, baseline, now, difference, outside) for every headline metric; `outside`
    says whether the baseline value lies outside this run's 95% interval."""
    rows = []
    for name in HEADLINE:
        now, old = summary.get(name), baseline.get(name)
        old = float(old) if isinstance(old, (int, float)) and not isinstance(old, bool) else None
        ci = summary["ci"].get(name)
        diff = None if now is None or old is None else now - old
        if diff is None or ci is None:
            outside = "n/a"
        else:
            outside = "yes" if old < ci[0] or old > ci[1] else "no"
        rows.append((name, old, now, diff, outside))
    return rows


def _signed(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return ("+" if value >= 0 else "") + fmt(name, value)


def comparison_table(summary: dict[str, Any], baseline: dict[str, Any]) -> str:
    """The Markdown table of differences against a baseline (also printed on stdout)."""
    lines = [
        "| metric | baseline | now | difference | outside 95% CI |",
        "| --- | ---: | ---: | ---: | :---: |",
    ]
    for name, old, now, diff, outside in compare(summary, baseline):
        lines.append(
            f"| {name} | {fmt(name, old)} | {fmt(name, now)} | {_signed(name, diff)} | {outside} |"
        )
    return "\n".join(lines)


def _headline_table(summary: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    dens = summary["meta"]["denominators"]
    head = "| metric | value | 95% CI | n |"
    rule = "| --- | ---: | :---: | ---: |"
    diffs = {}
    if baseline is not None:
        head += " baseline | difference | outside CI |"
        rule += " ---: | ---: | :---: |"
        diffs = {row[0]: row for row in compare(summary, baseline)}
    lines = [head, rule]
    for name in HEADLINE:
        line = (
            f"| {name} | {fmt(name, summary[name])} | {_ci_text(name, summary['ci'][name])}"
            f" | {dens[name]} |"
        )
        if baseline is not None:
            _, old, _, diff, outside = diffs[name]
            line += f" {fmt(name, old)} | {_signed(name, diff)} | {outside} |"
        lines.append(line)
    return lines


_GROUP_COLUMNS = (
    "hit_at_1",
    "hit_at_3",
    "mrr",
    "citation_f1",
    "exact_match",
    "f1",
    "abstention_f1",
    "false_abstention_rate",
    "coverage",
)
# A category is often all answerable or all unanswerable: its abstention F1 says little, the
# share of its unanswerable items refused (abstention recall) says what it means.
_CATEGORY_COLUMNS = (
    "hit_at_1",
    "hit_at_3",
    "mrr",
    "citation_f1",
    "exact_match",
    "f1",
    "false_abstention_rate",
    "abstention_recall",
    "coverage",
)


def _group_table(groups: dict[str, Any], columns: Sequence[str] = _GROUP_COLUMNS) -> list[str]:
    lines = [
        "| group | n | " + " | ".join(columns) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for name, block in groups.items():
        cells = []
        for m in columns:
            ci = block["ci"].get(m)
            cell = fmt(m, block[m])
            if ci is not None:
                cell += f" [{fmt(m, ci[0])}, {fmt(m, ci[1])}]"
            cells.append(cell)
        lines.append(f"| {md(name, 40)} | {block['n']} | " + " | ".join(cells) + " |")
    return lines


def _case(o: Outcome) -> list[str]:
    s = o.scored
    tags = [t for t in (o.item.lang, o.item.source, o.item.category) if t]
    rank = "not in the ranking" if s.gold_rank is None else f"gold at rank {s.gold_rank}"
    conf = "" if s.confidence is None else f", score {s.confidence:.3f}"
    head = f"- **{md(o.item.id, 80)}**" + (
        f" ({', '.join(md(t, 20) for t in tags)})" if tags else ""
    )
    lines = [f"{head}: {md(o.item.question)}"]
    if o.error:
        lines.append(f"  - error: {md(o.error)}")
        return lines
    short = _short_text(o.record)
    answer = o.record.get("answer") or ""
    state = "abstained" if s.abstained else "answered"
    lines.append(f"  - {state}{conf}; {rank if o.item.answerable else 'unanswerable'}")
    lines.append(f"  - answer: {md(answer, 200)}")
    if short or o.item.answers:
        gold = " / ".join(o.item.answers) or "-"
        lines.append(f"  - short answer: {md(short or '-', 100)} (gold: {md(gold, 100)})")
    citations = o.record.get("citations", [])
    cited = next((c for c in citations if c.get("support")), citations[0] if citations else None)
    if cited is not None:
        lines.append(f"  - cited ({md(cited['sentence_id'], 40)}): {md(cited['text'])}")
    else:
        lines.append("  - cited: nothing")
    for sid, text in list(zip(o.gold, o.gold_texts, strict=False))[:2]:
        lines.append(f"  - gold ({md(sid, 40)}): {md(text)}")
    if o.item.answerable and not o.gold:
        lines.append("  - gold: no sentence matches the item's evidence or span")
    return lines


def worst_cases(outcomes: Sequence[Outcome]) -> list[tuple[str, list[Outcome]]]:
    """The cases most worth reading, by kind, worst first."""

    def conf(o: Outcome) -> float:
        return o.scored.confidence if o.scored.confidence is not None else float("-inf")

    missed = [
        o
        for o in outcomes
        if in_retrieval(o.scored)
        and not o.scored.error
        and not o.scored.abstained
        and hit_at(o.scored, 1) == 0.0
    ]
    missed.sort(key=lambda o: (-(o.scored.gold_rank or 10**6), -conf(o)))
    answered_wrongly = sorted(
        (o for o in outcomes if not o.item.answerable and o.scored.answered), key=lambda o: -conf(o)
    )
    false_abst = [
        o for o in outcomes if o.item.answerable and o.scored.abstained and not o.scored.error
    ]
    false_abst.sort(key=lambda o: conf(o))
    errors = [o for o in outcomes if o.scored.error]
    return [
        ("Answered, but the gold sentence is not ranked first", missed),
        ("Unanswerable, but answered (most confident first)", answered_wrongly),
        ("Answerable, but abstained", false_abst),
        ("Errors (each scores 0)", errors),
    ]


def report_markdown(
    summary: dict[str, Any],
    outcomes: Sequence[Outcome],
    figures: list[str],
    skipped: Sequence[str],
    warnings: Sequence[str],
    baseline: dict[str, Any] | None,
    baseline_path: str | None,
) -> str:
    """report.md: headline table with intervals, breakdowns, figures, worst cases."""
    meta, counts = summary["meta"], summary["counts"]
    commit = meta.get("git_commit")
    lines = [
        f"# articlebot eval: {md(Path(str(meta.get('input', ''))).name, 120)}",
        "",
        f"{counts['n_total']} items: {counts['n_answerable']} answerable, "
        f"{counts['n_unanswerable']} unanswerable; {counts['n_scored']} scored, "
        f"{counts['n_error']} failed (each scores 0), {counts['n_skipped']} skipped rows.",
        "",
        f"articlebot {meta.get('version')}"
        + (
            f" (commit {str(commit)[:12]}{', with local changes' if meta.get('git_dirty') else ''})"
            if commit
            else ""
        )
        + f", embedder `{meta.get('embedder')}`, ranker `{meta.get('ranker')}`; input sha256 "
        f"`{str(meta.get('input_sha256'))[:16]}…`; seed {meta.get('seed')}, "
        f"{meta.get('n_bootstrap')} bootstrap resamples"
        + ("; with `--add-negatives`" if meta.get("add_negatives") else "")
        + (f"; first {meta.get('limit')} items only" if meta.get("limit") else "")
        + ".",
        "",
        "## Headline",
        "",
    ]
    if baseline is not None:
        lines += [
            f"Compared with `{md(str(baseline_path), 200)}`. *Outside CI*: the "
            "baseline's value lies outside this run's 95% interval.",
            "",
        ]
    lines += _headline_table(summary, baseline)
    lines += ["", "n is each metric's denominator:", ""]
    lines += [f"- {names}: {text}" for names, text in _denominator_groups()]
    lines += [
        "",
        "An abstention or an error counts as a miss in hit@k, MRR, the citation "
        "metrics, exact match and F1; an error also counts as a wrong abstention and "
        "as a false abstention, so failures never raise a score. A citation is correct "
        "when its sentence holds one of the item's evidence strings or overlaps its "
        "answer span. Exact match and F1 compare the short answer when the bot marks "
        "one, else the answer text, with the best-matching gold answer (lower-case, "
        "NFC, punctuation removed, whitespace folded).",
        "",
    ]
    for title, key in (("language", "by_lang"), ("source", "by_source")):
        if summary[key]:
            lines += [f"## By {title}", "", *_group_table(summary[key]), ""]
    if summary.get("by_category"):
        lines += [
            "## By category",
            "",
            *_group_table(summary["by_category"], _CATEGORY_COLUMNS),
            "",
            "false_abstention_rate is the share of the category's answerable items "
            "refused, abstention_recall the share of its unanswerable items refused.",
            "",
        ]
    if figures:
        lines += ["## Figures", ""]
        captions = {
            "hit_at_k.png": "hit@k for k = 1..5",
            "risk_coverage.png": "risk-coverage of abstaining below a score",
            "threshold_sweep.png": "abstention threshold sweep",
            "short_answers.png": "short answers: precision against coverage",
        }
        lines += [f"![{captions.get(f, f)}]({f})" for f in figures]
        lines += [
            "",
            "The abstention curves use the top ranking score (`ranking[0].score`) "
            "as the per-item confidence: the answer record carries no other. The bot's "
            "own abstention rule is more than a score threshold, so the curves show "
            "what a threshold alone would do; risk counts an answered item as wrong "
            "when it is unanswerable or its top-ranked sentence is not gold. The "
            "short-answer curve orders the short answers shown by their confidence: "
            "coverage is over answered items with gold answers.",
            "",
        ]
    lines += ["## Worst cases", ""]
    for title, cases in worst_cases(outcomes):
        if not cases:
            continue
        shown = cases[:WORST]
        lines += [f"### {title} ({len(cases)})", ""]
        for o in shown:
            lines += _case(o)
        if len(cases) > len(shown):
            lines.append(f"- ... {len(cases) - len(shown)} more in items.csv")
        lines.append("")
    if skipped or warnings:
        lines += ["## Input problems", ""]
        lines += [f"- skipped: {md(p, 400)}" for p in skipped[:50]]
        if len(skipped) > 50:
            lines.append(f"- ... {len(skipped) - 50} more skipped rows")
        lines += [f"- warning: {md(w, 400)}" for w in warnings]
        lines.append("")
    return "\n".join(lines)


def _denominator_groups() -> list[tuple[str, str]]:
    seen: dict[str, list[str]] = {}
    for name in HEADLINE:
        seen.setdefault(DENOMINATOR_TEXT[name], []).append(name)
    return [(", ".join(names), text) for text, names in seen.items()]


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def write_outputs(
    out: Path,
    outcomes: Sequence[Outcome],
    meta: dict[str, Any],
    skipped: Sequence[str] = (),
    warnings: Sequence[str] = (),
    seed: int = 0,
    baseline: dict[str, Any] | None = None,
    baseline_path: str | None = None,
    problems: list[str] | None = None,
) -> dict[str, Any]:
    """Write every output file; returns the summary.

    A file that cannot be written is skipped and the rest are still written (a run's
    answers are worth keeping even when one file fails). Each failure is appended to
    `problems` as "NAME (reason)"; without that list, an ArticlebotError naming them is
    raised once everything else is written. Without matplotlib there are no figures and
    the report says nothing of them.
    """
    from bot.eval.plots import write_plots

    failed: list[str] = []

    def attempt(name: str, text: Callable[[], str]) -> None:
        try:
            _write(out / name, text())
        except OSError as exc:
            failed.append(f"{name} ({_reason(exc)})")

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        failed.append(f"{out} ({_reason(exc)})")
    attempt(
        "predictions.jsonl",
        lambda: "".join(json.dumps(o.record, ensure_ascii=False) + "\n" for o in outcomes),
    )
    summary = build_summary(outcomes, meta, len(skipped), seed)
    attempt("summary.json", lambda: json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    attempt("items.csv", lambda: items_csv(outcomes))
    figures: list[str] = []
    try:
        figures = write_plots([o.scored for o in outcomes], out, seed)
    except ImportError:
        pass  # the `eval` extra is not installed: the run says so before it starts
    except OSError as exc:
        failed.append(f"figures ({_reason(exc)})")
    attempt(
        "report.md",
        lambda: report_markdown(
            summary, outcomes, figures, skipped, warnings, baseline, baseline_path
        ),
    )
    if problems is not None:
        problems.extend(failed)
    elif failed:
        raise ArticlebotError(
            f"{out}: could not write {', '.join(failed)}; the other outputs were written"
        )
    return summary


def _short_text(record: dict[str, Any]) -> str:
    """The text of a record's short answer ("" without one)."""
    short = record.get("short_answer")
    return str(short.get("text", "")) if isinstance(short, dict) else ""
