"""Eval outputs: predictions.jsonl, summary.json, items.csv, report.md.

Only the files named here are written in the output directory; other files there are left
alone.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.metrics import HEADLINE, compute

if False:  # pragma: no cover - typing only
    from bot.evaluation import Outcome


def write_outputs(out: Path, outcomes: Sequence[Outcome], meta: dict[str, Any],
                  n_skipped: int, seed: int, baseline: str | None) -> dict[str, Any]:
    """Write every output file; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as fh:
        for o in outcomes:
            fh.write(json.dumps(o.record, ensure_ascii=False) + "\n")
    metrics = compute([o.scored for o in outcomes])
    summary: dict[str, Any] = dict(metrics)
    summary["counts"] = {
        "n_total": len(outcomes) + n_skipped,
        "n_scored": sum(1 for o in outcomes if not o.scored.error),
        "n_error": sum(1 for o in outcomes if o.scored.error),
        "n_skipped": n_skipped,
        "n_answerable": sum(1 for o in outcomes if o.item.answerable),
        "n_unanswerable": sum(1 for o in outcomes if not o.item.answerable),
    }
    summary["meta"] = meta
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n",
                                      encoding="utf-8")
    with (out / "items.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "lang", "answerable", "abstained", "error", "gold_rank",
                    "question", "top_sentence"])
        for o in outcomes:
            s = o.scored
            top = o.record.get("citations", [{}])
            w.writerow([o.item.id, o.item.lang or "", o.item.answerable, s.abstained, s.error,
                        min(s.gold_ranks) if s.gold_ranks else "", o.item.question,
                        top[0].get("text", "") if top else ""])
    lines = ["# articlebot eval", "", "| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {'n/a' if metrics[k] is None else f'{metrics[k]:.3f}'} |"
              for k in HEADLINE]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    del seed, baseline
    return summary
