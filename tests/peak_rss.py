"""Run a command and measure its own peak RSS, not the test process's.

``ru_maxrss`` survives exec: a command started straight from pytest (vfork, then exec)
reports at least pytest's own peak, which grows with the tests run before it. So the
command is started by a small Python launcher that forks it: the fork gets fresh
accounting (a copy of the launcher's few megabytes), and the launcher writes the
command's ``ru_maxrss`` (KiB) to a file and ends as the command did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LAUNCHER = """
import os, signal, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
if os.WIFSIGNALED(status):
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(args: list[str], report: Path, timeout: float, **popen: Any) -> tuple[int, float]:
    """Run ``args`` (``popen``: stdin, stdout, stderr, env ...) for at most ``timeout``
    seconds; returns (exit status, the command's peak RSS in MiB)."""
    report.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(report), *args], start_new_session=True, **popen
    )
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.05)
    peak_kib = float(report.read_text()) if report.exists() else float("nan")
    return proc.returncode, peak_kib / 1024
