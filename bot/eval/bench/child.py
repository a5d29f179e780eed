"""Child processes the bench measures: wall time from spawn to exit and the process's own
peak RSS, with the caller's environment minus the ARTICLEBOT_* settings (the bench
measures the defaults).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

CHILD_TIMEOUT_S = 900.0
# The folder the `bot` package is imported from (the checkout, or site-packages when
# installed): children run there, so that `python -m bot` is this same code.
IMPORT_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class ChildRun:
    """One child process: its wall time, peak RSS and output."""

    wall_s: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


# Runs `python -m MODULE ARGS` and reports the process's own peak RSS (VmHWM) on stderr at
# exit. wait4's ru_maxrss is no good here: Linux carries the forking parent's peak into the
# child at exec, so a child of a big bench process would report the bench's memory.
_HWM_MARK = "articlebot-bench-vmhwm-kb"
_WRAPPER = f"""
import atexit, runpy, sys
def _hwm():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    sys.stderr.write("{_HWM_MARK} " + line.split()[1] + "\\n")
    except OSError:
        pass
atexit.register(_hwm)
module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def python_module(module: str, *args: str) -> list[str]:
    """The command that runs `python -m MODULE ARGS` and reports its peak RSS at exit."""
    return [sys.executable, "-c", _WRAPPER, module, *args]


def run_child(
    cmd: Sequence[str], env: dict[str, str] | None = None, timeout: float = CHILD_TIMEOUT_S
) -> ChildRun:
    """Run a command to its end: wall time from spawn to exit, and peak RSS (the child's own
    report from `python_module`, else wait4's ru_maxrss)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(IMPORT_ROOT),
        )
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        rss_kib = float(usage.ru_maxrss)  # KiB on Linux
        kept = []
        for line in stderr.splitlines():
            if line.startswith(_HWM_MARK):
                rss_kib = float(line.split()[1])
            else:
                kept.append(line)
        return ChildRun(
            wall_s=wall,
            max_rss_mb=rss_kib / 1024.0,
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr="\n".join(kept),
        )


def checked(run: ChildRun, what: str) -> ChildRun:
    if run.returncode != 0:
        tail = run.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(f"bench: {what} failed (exit {run.returncode}): {tail[0][:300]}")
    return run


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a measured child: the caller's, minus ARTICLEBOT_* settings (the
    bench measures the defaults), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLEBOT_")}
    env.update(extra or {})
    return env


def rss_mb(pid: int | None = None) -> float:
    """A process's resident set now, from /proc (0.0 where there is none)."""
    try:
        with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
