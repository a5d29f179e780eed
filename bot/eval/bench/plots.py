"""The scale bench's figure: latency and memory against the store's size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def plot_scale(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Latency and memory against the number of articles in the store, as a PNG."""
    from bot.eval.plots import pyplot, save_png

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for backend, style in (("embedded", "-"), ("server", "--")):
        mine = [r for r in rows if r.get("backend", "embedded") == backend]
        if not mine:
            continue
        sizes = [r["articles"] for r in mine]
        left.plot(
            sizes,
            [r["one_article_p50_ms"] for r in mine],
            "o" + style,
            label=f"{backend}: one article p50",
        )
        left.plot(
            sizes,
            [r["all_articles_p50_ms"] for r in mine],
            "s" + style,
            label=f"{backend}: all articles p50",
        )
        left.plot(
            sizes,
            [r["warm_p50_ms"] for r in mine],
            "^" + style,
            label=f"{backend}: warm answer p50",
        )
        if all("all_ask_p50_ms" in r for r in mine):
            left.plot(
                sizes,
                [r["all_ask_p50_ms"] for r in mine],
                "D" + style,
                label=f"{backend}: answer across all articles p50",
            )
        right.plot(
            sizes, [r["store_mb"] for r in mine], "s" + style, label=f"{backend}: store on disk"
        )
        right.plot(
            sizes,
            [r["peak_rss_mb"] for r in mine],
            "o" + style,
            label=f"{backend}: peak RSS of `ask`",
        )
    left.set(
        xscale="log",
        xlabel="articles in the store",
        ylabel="ms per question",
        title="Per-question latency",
        ylim=(0, None),
    )
    left.legend(fontsize=7)
    right.set(
        xscale="log", xlabel="articles in the store", ylabel="MB", title="Memory", ylim=(0, None)
    )
    right.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path, dpi=100)
