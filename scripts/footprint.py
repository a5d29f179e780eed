"""What one `articlebot ask` costs before it answers: the project modules it loads, the
import time, whether torch comes in, and (given a venv) the install size.

    python scripts/footprint.py [--store DIR] [--venv DIR] [--runs 5]

Each run is a fresh interpreter (`python -c`), so the import time is a cold start's; the
median of `--runs` is printed, since timings on a shared machine move by several ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
try:
    from bot.ui.cli import main
except ImportError:  # a checkout from before bot/ was split by lifecycle
    from bot.cli import main
imported = time.perf_counter() - t0
code = main(["ask", "Hvem er Sergej Radtsjenko?", "--store", sys.argv[1], "-q"])
ours = sorted(m for m in sys.modules if m.split(".")[0] in ("bot", "index"))
print(json.dumps({"code": code, "import_s": imported, "total_s": time.perf_counter() - t0,
                  "modules": ours, "torch": "torch" in sys.modules,
                  "sentence_transformers": "sentence_transformers" in sys.modules}))
"""


def measure(store: Path, runs: int, repo: Path = REPO) -> dict[str, object]:
    """Median import and answer time of `ask` over fresh interpreters, and what it loaded."""
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, str(store)],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(repo)},
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    last = results[-1]
    return {
        "runs": runs,
        "import_s_median": statistics.median(r["import_s"] for r in results),
        "ask_s_median": statistics.median(r["total_s"] for r in results),
        "project_modules": len(last["modules"]),
        "modules": last["modules"],
        "torch_imported": last["torch"],
        "sentence_transformers_imported": last["sentence_transformers"],
    }


def venv_size_mb(venv: Path) -> float:
    """The size of a virtualenv's files in MB."""
    return sum(f.stat().st_size for f in venv.rglob("*") if f.is_file()) / 1e6


def main() -> int:
    """Print the footprint as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="an indexed store (default: a new one, built once)")
    parser.add_argument("--venv", help="a virtualenv whose install size to report")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--repo",
        default=str(REPO),
        help="measure another checkout of articlebot (e.g. an older commit)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.store) if args.store else Path(tmp) / "store"
        repo = Path(args.repo)
        if not args.store:  # the first run builds the index; it is not counted
            measure(store, 1, repo)
        report = measure(store, args.runs, repo)
    if args.venv:
        report["venv_mb"] = round(venv_size_mb(Path(args.venv)), 1)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
