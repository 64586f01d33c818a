"""Run every benchmark module's ``main()`` with its defaults (``make bench``)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    if len(sys.argv) > 1:
        print("usage: python -m benchmarks  (runs each benchmarks/*.py with its defaults;")
        print("       run one module directly for its options, e.g. --help)")
        return 0 if sys.argv[1] in ("-h", "--help") else 2
    status = 0
    for module in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        run = getattr(importlib.import_module(f"benchmarks.{module.name}"), "main", None)
        if callable(run):
            print(f"== benchmarks/{module.name}.py")
            status = max(status, run([]) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
