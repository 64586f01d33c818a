"""Claim extraction throughput: the adoptwatch extractor against the naive spaCy pipeline.

Run: ``.venv/bin/python benchmarks/extract_speed.py`` (``--repeat N`` to time each side N
times and keep the best, ``--limit N`` for fewer articles).

Input: the ``articleBody`` fields of the public article-extraction benchmark
(``/work/shared/benchmarks/article-extraction/ground-truth.json``, 181 real news pages; read in
place, never copied into the repository).

Both sides are timed as whole processes, one after the other (never in parallel: the machine
has two shared cores), from process start to exit, so model loading counts:

* baseline: ``spacy.load(pipeline)`` with every component, ``nlp.pipe`` over every text;
* adoptwatch: ``adoptwatch extract --jsonl`` reading one JSON line per body on stdin: it
  splits sentences by rule, finds catalog models with one Aho-Corasick pass, and runs NER,
  candidate pairing and the int8 pair classifier only on the sentences around a model.

A second corpus appends three self-written passages (``tests/data/claims_dev.jsonl``) to
every body, so that many sentences mention a model (the real bodies seldom name one).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GROUND_TRUTH = Path("/work/shared/benchmarks/article-extraction/ground-truth.json")
DEV_SET = ROOT / "tests" / "data" / "claims_dev.jsonl"


def load_bodies(path: Path, limit: int | None, mix: int = 0) -> list[str]:
    """The article bodies; with ``mix`` > 0, each body gets ``mix`` dev-set passages
    appended as a last paragraph, so that many sentences pass the pre-filter (the real
    bodies of this benchmark seldom name an AI model)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = data.values() if isinstance(data, dict) else data
    bodies = [r.get("articleBody") or "" for r in rows]
    bodies = [b for b in bodies if b.strip()]
    bodies = bodies[:limit] if limit else bodies
    if mix:
        dev = [
            json.loads(line)["text"]
            for line in DEV_SET.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        bodies = [
            b + "\n\n" + " ".join(dev[(i * mix + k) % len(dev)] for k in range(mix))
            for i, b in enumerate(bodies)
        ]
    return bodies


def baseline_child(pipeline: str, path: Path, limit: int | None, mix: int) -> None:
    """Runs inside the timed baseline process and prints its own figures as JSON."""
    import spacy

    from adoptwatch.extractors.claims import default_pipeline

    t0 = time.perf_counter()
    bodies = load_bodies(path, limit, mix)
    nlp = spacy.load(pipeline or default_pipeline())
    t1 = time.perf_counter()
    tokens = sum(len(doc) for doc in nlp.pipe(bodies, batch_size=32))
    t2 = time.perf_counter()
    print(json.dumps({"load_s": t1 - t0, "work_s": t2 - t1, "tokens": tokens}))


def run_baseline(args: argparse.Namespace, mix: int) -> tuple[float, dict]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--data", str(args.data)]
    cmd += ["--mix", str(mix)]
    if args.pipeline:
        cmd += ["--pipeline", args.pipeline]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"baseline process failed:\n{done.stderr[-2000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def run_extract(bodies: list[str]) -> tuple[float, dict]:
    """``adoptwatch extract --jsonl`` over the bodies, timed as a whole process."""
    lines = "".join(json.dumps({"id": i, "text": b}) + "\n" for i, b in enumerate(bodies))
    cmd = [sys.executable, "-m", "adoptwatch.cli", "extract", "--jsonl"]
    start = time.perf_counter()
    done = subprocess.run(cmd, input=lines, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"adoptwatch extract failed:\n{done.stderr[-2000:]}")
    out = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return wall, {"claims": sum(len(o.get("claims") or []) for o in out), "lines": len(out)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=GROUND_TRUTH, help="ground-truth.json")
    parser.add_argument("--pipeline", default="", help="spaCy pipeline name")
    parser.add_argument("--limit", type=int, default=None, help="only the first N articles")
    parser.add_argument("--repeat", type=int, default=1, help="time each side N times")
    parser.add_argument(
        "--mix",
        type=int,
        default=3,
        help="second corpus: append N dev passages to every body (0: skip it)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        baseline_child(args.pipeline, args.data, args.limit, args.mix)
        return 0
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found: the article-extraction benchmark is needed")
    for mix in [0, args.mix] if args.mix else [0]:
        bodies = load_bodies(args.data, args.limit, mix)
        chars = sum(len(b) for b in bodies)
        label = "real bodies" if not mix else f"real bodies + {mix} dev passages each"
        print(f"\n{label}: {len(bodies)} texts, {chars:,} characters, {args.repeat} run(s)/side")
        base = min((run_baseline(args, mix) for _ in range(args.repeat)), key=lambda r: r[0])
        ours = min((run_extract(bodies) for _ in range(args.repeat)), key=lambda r: r[0])
        print(f"{'':34} {'process s':>10} {'texts/s':>8}")
        print(f"{'naive en_core_web_sm nlp.pipe':34} {base[0]:10.2f} {len(bodies) / base[0]:8.1f}")
        print(f"{'adoptwatch extract --jsonl':34} {ours[0]:10.2f} {len(bodies) / ours[0]:8.1f}")
        print(
            f"speed-up as whole processes: {base[0] / ours[0]:.1f}x "
            f"(baseline load {base[1]['load_s']:.2f} s, work {base[1]['work_s']:.2f} s); "
            f"{ours[1]['claims']} claims in {ours[1]['lines']} lines"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
