"""Eval figures (PNG, matplotlib's Agg backend, imported only when a figure is drawn).

- `hit_at_k.png`: hit@k for k = 1..5 with bootstrap 95% intervals.
- `risk_coverage.png`: the risk-coverage curve of abstaining below a confidence threshold,
  with the bot's own operating point.
- `threshold_sweep.png`: abstention precision/recall/F1 and the false abstention rate as
  the threshold moves.
- `short_answers.png`: the precision of the short answers shown against their coverage, as
  a threshold on their confidence rises above the one the bot uses.

The confidence is the top ranking score (`ranking[0].score`): the answer record carries no
other per-item confidence, and the bot's own abstention rule uses more than that score, so
the curves show what a score threshold alone would do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.eval.metrics import Scored, answered_correctly, hit_curve, threshold_sweep


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path, dpi: int = 110) -> None:
    """Write a figure as PNG (whole, or not at all) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # no timestamp or version in the file, so that reruns give the same bytes
    fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    tmp.replace(path)
    pyplot().close(fig)


def plot_hit_at_k(items: Sequence[Scored], path: Path, seed: int) -> bool:
    """hit@k, k = 1..5; False when no item has gold sentences."""
    curve = hit_curve(items, seed=seed)
    if not curve:
        return False
    plt = pyplot()
    ks = [k for k, _, _ in curve]
    values = [v for _, v, _ in curve]
    lows = [v - (ci[0] if ci else v) for _, v, ci in curve]
    highs = [(ci[1] if ci else v) - v for _, v, ci in curve]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.errorbar(ks, values, yerr=[lows, highs], marker="o", capsize=4)
    for k, v in zip(ks, values, strict=True):
        ax.annotate(f"{v:.2f}", (k, v), textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.set_xticks(ks)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("k (top-k ranked sentences)")
    ax.set_ylabel("hit@k")
    n = sum(1 for s in items if s.answerable and (s.gold or s.error))
    ax.set_title(
        f"hit@k over {n} answerable items (95% bootstrap CI)\n"
        "an abstention or an error is a miss at every k",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    save_png(fig, path)
    return True


def plot_risk_coverage(items: Sequence[Scored], path: Path) -> bool:
    """Risk (wrong answers among answered) against coverage as the threshold moves."""
    sweep = threshold_sweep(items)
    points = [(p.coverage, p.risk) for p in sweep if p.risk is not None]
    if not points:
        return False
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    points.sort()
    ax.plot([c for c, _ in points], [r for _, r in points], label="abstain if score < t")
    answered = [s for s in items if s.answered]
    if answered:
        risk = sum(1 for s in answered if not answered_correctly(s)) / len(answered)
        ax.scatter(
            [len(answered) / len(items)],
            [risk],
            color="C3",
            zorder=3,
            label="the bot's own abstentions",
        )
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("coverage (share of items answered)")
    ax.set_ylabel("risk (answered items wrong)")
    ax.set_title("Risk-coverage; confidence = ranking[0].score")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_png(fig, path)
    return True


def plot_threshold_sweep(items: Sequence[Scored], path: Path) -> bool:
    """Abstention metrics against the confidence threshold."""
    sweep = threshold_sweep(items)
    if not sweep:
        return False
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ts = [p.threshold for p in sweep]
    for name, label in (
        ("abstention_precision", "abstention precision"),
        ("abstention_recall", "abstention recall"),
        ("abstention_f1", "abstention F1"),
        ("false_abstention_rate", "false abstention rate"),
        ("coverage", "coverage"),
    ):
        ys = [getattr(p, name) for p in sweep]
        ax.plot(ts, [float("nan") if y is None else y for y in ys], label=label)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("threshold t on ranking[0].score (abstain below t)")
    ax.set_ylabel("value")
    ax.set_title("Abstention threshold sweep")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    save_png(fig, path)
    return True


def plot_short_answers(items: Sequence[Scored], path: Path) -> bool:
    """Precision (right among shown) against coverage (shown among answered items with gold
    answers) of the short answers, most confident first."""
    answered = [s for s in items if s.answered and s.exact_match is not None]
    shown = sorted(
        (s for s in answered if s.short_scores is not None),
        key=lambda s: -(s.short_confidence or 0.0),
    )
    if not shown:
        return False
    right = 0.0
    coverage, precision = [], []
    for n, s in enumerate(shown, start=1):
        assert s.short_scores is not None
        right += s.short_scores[2]
        coverage.append(n / len(answered))
        precision.append(right / n)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(coverage, precision, label="shown if confidence >= t")
    ax.scatter([coverage[-1]], [precision[-1]], color="C3", zorder=3, label="the bot's threshold")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("coverage (answered items with a short answer)")
    ax.set_ylabel("precision (short answers right)")
    ax.set_title("Short answers: precision against coverage")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_png(fig, path)
    return True


def write_plots(items: Sequence[Scored], out: Path, seed: int) -> list[str]:
    """Draw every figure into `out`; returns the file names written."""
    written = []
    drawn = {
        "hit_at_k.png": lambda p: plot_hit_at_k(items, p, seed),
        "risk_coverage.png": lambda p: plot_risk_coverage(items, p),
        "threshold_sweep.png": lambda p: plot_threshold_sweep(items, p),
        "short_answers.png": lambda p: plot_short_answers(items, p),
    }
    draw: Callable[[Path], bool]
    for name, draw in drawn.items():
        if draw(out / name):
            written.append(name)
        else:  # nothing to draw: never leave an earlier run's figure beside this report
            (out / name).unlink(missing_ok=True)
    return written
