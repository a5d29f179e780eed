"""The bench's report: both systems' figures, the ratios, the speed targets and the scale
rows, as JSON and as a plain-text table.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.eval.bench.figures import SystemFigures
from bot.eval.bench.peer import PEER_CHUNK_SIZE

# The speed targets (2-core CPU, default settings): (key, bound, unit, description).
TARGETS: tuple[tuple[str, float, str, str], ...] = (
    (
        "warm_p50_ms",
        100.0,
        "ms",
        "per question, warm (p50), retrieval with the cross-encoder and answer",
    ),
    ("cold_start_s", 2.5, "s", "cold `articlebot ask`, interpreter start included"),
    ("index_build_s", 1.0, "s", "index build of the article after the model is loaded"),
    ("reindex_unchanged_s", 0.1, "s", "re-index of an unchanged article (hash check)"),
    ("peak_rss_mb", 700.0, "MB", "peak RSS of `ask`"),
)


_ROWS: tuple[tuple[str, str, str], ...] = (
    ("index_build_s", "index build of the article (model loaded)", "{:.3f} s"),
    ("reindex_unchanged_s", "re-index, article unchanged", "{:.4f} s"),
    ("cold_start_s", "cold start to the first answer", "{:.2f} s"),
    ("warm_p50_ms", "per question, warm, p50", "{:.1f} ms"),
    ("warm_p95_ms", "per question, warm, p95", "{:.1f} ms"),
    ("warm_cpu_ms", "per question, warm, CPU time (mean)", "{:.1f} ms"),
    ("peak_rss_mb", "peak RSS of a cold ask", "{:.0f} MB"),
    ("cited_chars", "characters cited per answer", "{:.0f}"),
    ("model_load_s", "model load", "{:.2f} s"),
)


def _ratio(peer: float | None, ours: float | None) -> float | None:
    if peer is None or ours is None or ours <= 0:
        return None
    return peer / ours


def build_report(
    ours: SystemFigures | None,
    peer: SystemFigures | None,
    split: dict[str, float],
    scale: list[dict[str, Any]] | None,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """The JSON report: both systems' figures, ratios (tutorial / articlebot: above 1 means
    articlebot is faster or lighter, or cites less), the targets, the scale rows."""
    report: dict[str, Any] = {
        "articlebot": asdict(ours) if ours else None,
        "tutorial": asdict(peer) if peer else None,
        "ratios": None,
        "targets": None,
        "split_ms": split or None,
        "scale": scale,
        "meta": meta,
    }
    if ours and peer:
        report["ratios"] = {
            key: _ratio(getattr(peer, key), getattr(ours, key))
            for key, _, _ in _ROWS
            if key != "reindex_unchanged_s"
        }
    if ours:
        report["targets"] = [
            {
                "name": key,
                "target": bound,
                "unit": unit,
                "description": what,
                "measured": getattr(ours, key),
                "met": getattr(ours, key) <= bound,
            }
            for key, bound, unit, what in TARGETS
        ]
    return report


def render_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    ours, peer, ratios = report["articlebot"], report["tutorial"], report["ratios"] or {}
    bounds = {key: (bound, unit) for key, bound, unit, _ in TARGETS}
    lines = []
    if ours:
        lines.append(f"{'':44} {'articlebot':>12} {'tutorial':>12} {'ratio':>8}  target")
        for key, label, fmt in _ROWS:
            mine = ours.get(key)
            theirs = peer.get(key) if peer else None
            ratio = ratios.get(key)
            target = f"<= {bounds[key][0]:g} {bounds[key][1]}" if key in bounds else ""
            lines.append(
                f"{label:44} {fmt.format(mine) if mine is not None else '-':>12} "
                f"{fmt.format(theirs) if theirs is not None else '-':>12} "
                f"{f'{ratio:.1f}x' if ratio is not None else '-':>8}  {target}"
            )
        lines.append(
            f"(ratio = tutorial / articlebot; {ours['questions_timed']} warm questions,"
            f" {ours['units']} sentences vs "
            f"{peer['units'] if peer else '-'} chunks of {PEER_CHUNK_SIZE} chars)"
        )
        split = report.get("split_ms") or {}
        if split:
            lines.append(
                "articlebot split, p50: "
                + ", ".join(f"{k.removesuffix('_p50_ms')} {v:.1f} ms" for k, v in split.items())
            )
        tokens = report["meta"].get("question_tokens_mean")
        if tokens:
            lines.append(
                f"the questions average {tokens:.1f} tokens for the embedder (a "
                "query embedding's time is linear in them)"
            )
    if report.get("llm_path"):
        from bot.eval.bench.llm_path import render_llm

        lines.append(render_llm(report["llm_path"]))
    if report.get("scale"):
        lines.append(
            f"{'backend':>8} {'articles':>8} {'sent/s':>8} {'one p50':>8} "
            f"{'one p95':>8} {'all p50':>8} {'all p95':>8} {'ask p50':>8} "
            f"{'vs 1':>6} {'cpu vs 1':>8} {'askall50':>8} {'askall95':>8} "
            f"{'own':>5} {'RSS MB':>7} {'RSS all':>7} {'srv MB':>7} {'store MB':>9}"
        )
        for r in report["scale"]:
            server = r.get("server_rss_mb")
            lines.append(
                f"{r.get('backend', 'embedded'):>8} {r['articles']:>8} "
                f"{r['sentences_per_s']:>8.0f} {r['one_article_p50_ms']:>8.1f} "
                f"{r['one_article_p95_ms']:>8.1f} {r['all_articles_p50_ms']:>8.1f} "
                f"{r['all_articles_p95_ms']:>8.1f} {r['warm_p50_ms']:>8.1f} "
                f"{r['warm_vs_one_article']:>5.2f}x {r['warm_cpu_vs_one_article']:>7.2f}x "
                f"{r.get('all_ask_p50_ms', 0.0):>8.1f} {r.get('all_ask_p95_ms', 0.0):>8.1f} "
                f"{r.get('all_own_article', 0.0):>5.2f} "
                f"{r['peak_rss_mb']:>7.0f} {r.get('peak_rss_all_mb', 0.0):>7.0f} "
                f"{f'{server:.0f}' if server is not None else '-':>7} {r['store_mb']:>9.1f}"
            )
        lines.append(
            "(one/all: `search` with a `where` on one article / over every article; "
            "ask: the engine's whole warm answer; vs 1: ask p50 on the probe article "
            "against a store holding only it, in wall and in CPU time; askall: the "
            "whole answer across every article, own: how often the question's own "
            "article answered it; RSS/RSS all: a cold `ask` of one article / of all)"
        )
    meta = report["meta"]
    lines.append(
        f"{meta['cpus']} CPUs, load average {meta['load_avg_before'][0]:.1f} before, "
        f"{meta['load_avg_after'][0]:.1f} after; embedder {meta['embedder']}"
    )
    return "\n".join(lines)
