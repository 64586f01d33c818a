"""Run every benchmark in benchmarks/, one after the other, each in its own process.

    .venv/bin/python -m benchmarks                 # all of them, full size (make bench)
    .venv/bin/python -m benchmarks --quick         # small sizes, for a quick look
    .venv/bin/python -m benchmarks crawl storage   # some of them
    .venv/bin/python -m benchmarks --list

A benchmark is a module ``benchmarks/NAME.py`` (not starting with ``_``) that runs as
``python -m benchmarks.NAME`` and prints its figures against a baseline measured in
the same run. Its quick mode is the module-level list ``QUICK_ARGS`` when it has one
(read from the source, not imported), else ``--quick`` when its options name it;
``--quick`` skips benchmarks that have neither.

Benchmarks run sequentially, never in parallel: the machine's cores are shared, and two
benchmarks at once would time each other. The load average is printed before each.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass(frozen=True)
class Benchmark:
    name: str
    path: Path
    quick_args: list[str] | None  # None: no quick mode


def quick_args_of(path: Path) -> list[str] | None:
    source = path.read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "QUICK_ARGS" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise SystemExit(f"{path}: QUICK_ARGS must be a list of strings")
            return value
    return ["--quick"] if '"--quick"' in source else None


def discover() -> list[Benchmark]:
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.name.startswith("_"):
            continue
        found.append(Benchmark(path.stem, path, quick_args_of(path)))
    return found


def main(argv: list[str] | None = None) -> int:
    benchmarks = discover()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes (see --list)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    if args.list:
        for b in benchmarks:
            quick = " ".join(b.quick_args) if b.quick_args is not None else "(no quick mode)"
            print(f"{b.name:<22} python -m benchmarks.{b.name}   quick: {quick}")
        return 0
    known = {b.name: b for b in benchmarks}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; known: {', '.join(known)}")
    chosen = [known[n] for n in args.names] if args.names else benchmarks

    print(f"machine: {machine()}")
    results: list[tuple[str, str, float, str]] = []
    for b in chosen:
        if args.quick and b.quick_args is None:
            print(f"\n== {b.name}: skipped, no quick mode (give it QUICK_ARGS = [...])")
            results.append((b.name, "skipped", 0.0, ""))
            continue
        extra = b.quick_args if args.quick and b.quick_args else []
        command = [sys.executable, "-m", f"benchmarks.{b.name}", *extra]
        load = "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        print(f"\n== {b.name}: {' '.join(['python', *command[1:]])}  [{load}]", flush=True)
        began = time.perf_counter()
        code = subprocess.run(command, cwd=ROOT).returncode
        took = time.perf_counter() - began
        results.append((b.name, "ok" if code == 0 else f"exit {code}", took, load))

    print("\n== summary")
    for name, status, took, load in results:
        print(f"  {name:<22} {status:<9} {took:>7.1f}s  {load}")
    return 0 if all(r[1] in ("ok", "skipped") for r in results) else 1


def machine() -> str:
    """Cores, memory and CPU model, for the figures' context."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{len(os.sched_getaffinity(0))} cores{memory}, {model or 'unknown CPU'}"


if __name__ == "__main__":
    sys.exit(main())
