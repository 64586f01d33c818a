"""Bounded work on hostile input (issue 17): time and peak RSS of the real commands.

    .venv/bin/python -m benchmarks.limits            # 1,000,000,000 rows; a 50 MB line
    .venv/bin/python -m benchmarks.limits --quick    # 1,000,000 rows; a 5 MB line

* ``adoptwatch query "SELECT * FROM range(N)" --format csv > /dev/null`` with the default
  settings: rows are streamed, and the query stops at ``query_timeout`` (exit status 2)
  when it runs longer. Baseline, same run: ``adoptwatch query "SELECT 1"``, the process
  at rest.
* ``adoptwatch extract --jsonl`` over 100 good lines with a line of ``--line-mb`` MB in the
  middle: the line is skipped unread (one error line, exit status 1). Baseline, same run:
  the same 100 good lines alone.

Each command runs in its own process; its peak RSS is what the kernel counted for it
(``wait4``). The load average is printed beside each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ADOPTWATCH = str(Path(sys.executable).with_name("adoptwatch"))
GOOD = "Airbnb replaced ChatGPT with Qwen in its support agent."


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def measure(args: list[str], stdin: Path | None = None) -> dict[str, Any]:
    """Run ``adoptwatch ARGS`` (stdout to /dev/null): exit status, seconds, peak RSS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADOPTWATCH_")}
    with (
        open(os.devnull, "wb") as out,
        stdin.open("rb") if stdin else open(os.devnull, "rb") as inp,
    ):
        started = time.monotonic()
        proc = subprocess.Popen([ADOPTWATCH, *args], stdin=inp, stdout=out,
                                stderr=subprocess.DEVNULL, env=env)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
    return {
        "exit": os.waitstatus_to_exitcode(status),
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "load": load(),
    }


def jsonl(path: Path, line_mb: int) -> Path:
    """100 good lines, with a ``line_mb`` MB line after the 50th (none when 0)."""
    with path.open("wb") as f:
        for n in range(100):
            if n == 50 and line_mb:
                f.write(b'{"id": "huge", "text": "')
                for _ in range(line_mb):
                    f.write(b"Airbnb adopted Qwen. " * 50_000)  # 1 MB
                f.write(b'"}\n')
            f.write(json.dumps({"id": n, "text": GOOD}).encode() + b"\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.limits", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000_000)
    parser.add_argument("--line-mb", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="1,000,000 rows, a 5 MB line")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.line_mb = 1_000_000, 5

    figures: dict[str, Any] = {"rows": args.rows, "line_mb": args.line_mb}
    with tempfile.TemporaryDirectory(prefix="adoptwatch-limits-") as tmp:
        db = Path(tmp) / "empty.duckdb"
        subprocess.run(
            [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()",
             str(db)],
            check=True,
        )  # fmt: skip
        query = ["query", "--db", str(db), "--format", "csv"]
        figures["query_baseline"] = measure([*query, "SELECT 1"])
        figures["query"] = measure([*query, f"SELECT * FROM range({args.rows})"])
        good = jsonl(Path(tmp) / "good.jsonl", 0)
        hostile = jsonl(Path(tmp) / "hostile.jsonl", args.line_mb)
        figures["extract_baseline"] = measure(["extract", "--jsonl"], good)
        figures["extract"] = measure(["extract", "--jsonl"], hostile)

    def line(label: str, f: dict[str, Any]) -> str:
        return (
            f"{label}: exit {f['exit']}, {f['seconds']} s, peak RSS {f['peak_rss_mib']} MiB "
            f"({f['load']})"
        )

    print(
        line(f'query "SELECT * FROM range({args.rows})" --format csv > /dev/null', figures["query"])
    )
    print(line('  baseline, query "SELECT 1"', figures["query_baseline"]))
    print(line(f"extract --jsonl, 100 good lines and a {args.line_mb} MB line", figures["extract"]))
    print(line("  baseline, the 100 good lines alone", figures["extract_baseline"]))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
