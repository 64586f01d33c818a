"""Claim extraction throughput: the adoptwatch extractor against the naive spaCy pipeline.

Run: ``.venv/bin/python benchmarks/extract_speed.py`` (``--repeat N`` to time each side N
times and keep the best, ``--limit N`` for fewer articles).

Input: the ``articleBody`` fields of the public article-extraction benchmark
(``/work/shared/benchmarks/article-extraction/ground-truth.json``, 181 real news pages; read in
place, never copied into the repository).

Both sides are timed as whole processes, one after the other (never in parallel: the machine
has two shared cores), from process start to exit, so model loading counts:

* baseline: ``spacy.load(pipeline)`` with every component, ``nlp.pipe`` over every text;
* adoptwatch: ``get_extractor(pipeline).extract_many(texts)``, which splits sentences by
  rule, finds catalog models with one Aho-Corasick pass and runs the tagger, parser and NER
  only on the sentences that mention a model.

A second corpus appends three dev-set passages to every body, so that many sentences pass
the pre-filter (the real bodies seldom name an AI model). Finally it checks on the labelled
dev set that the pre-filter changes nothing: the claims with the pre-filter equal the claims
from parsing every sentence.
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


def child(mode: str, pipeline: str, path: Path, limit: int | None, mix: int) -> None:
    """Runs inside the timed process: does the work and prints its own figures as JSON."""
    t0 = time.perf_counter()
    bodies = load_bodies(path, limit, mix)
    if mode == "baseline":
        import spacy

        name = pipeline or _default_pipeline()
        nlp = spacy.load(name)
        t1 = time.perf_counter()
        tokens = sum(len(doc) for doc in nlp.pipe(bodies, batch_size=32))
        t2 = time.perf_counter()
        out = {"load_s": t1 - t0, "work_s": t2 - t1, "tokens": tokens}
    else:
        from adoptwatch.extractors.claims import get_extractor

        extractor = get_extractor(pipeline)
        t1 = time.perf_counter()
        extractions = list(extractor.extract_many(bodies))
        t2 = time.perf_counter()
        out = {
            "load_s": t1 - t0,
            "work_s": t2 - t1,
            "claims": sum(len(e.claims) for e in extractions),
            "mentions": sum(len(e.mentions) for e in extractions),
            "texts_with_mentions": sum(1 for e in extractions if e.mentions),
        }
    print(json.dumps(out))


def _default_pipeline() -> str:
    from adoptwatch.extractors.claims import _default_pipeline as default

    return default()


def run_child(mode: str, args: argparse.Namespace, mix: int) -> tuple[float, dict]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--data", str(args.data)]
    cmd += ["--mix", str(mix)]
    if args.pipeline:
        cmd += ["--pipeline", args.pipeline]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{mode} process failed:\n{done.stderr[-2000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def same_claims_on_dev() -> tuple[int, int, list[str]]:
    """(texts, claims, differing ids) between pre-filtered and every-sentence extraction."""
    from adoptwatch.extractors.claims import ClaimExtractor

    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    texts = [r["text"] for r in rows]
    fast = list(ClaimExtractor(prefilter=True).extract_many(texts))
    full = list(ClaimExtractor(prefilter=False).extract_many(texts))
    differing = [r["id"] for r, a, b in zip(rows, fast, full, strict=True) if a != b]
    return len(rows), sum(len(e.claims) for e in fast), differing


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
    parser.add_argument("--child", choices=["baseline", "extractor"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.pipeline, args.data, args.limit, args.mix)
        return 0
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found: the article-extraction benchmark is needed")
    for mix in [0, args.mix] if args.mix else [0]:
        bodies = load_bodies(args.data, args.limit, mix)
        chars = sum(len(b) for b in bodies)
        label = "real bodies" if not mix else f"real bodies + {mix} dev passages each"
        print(f"\n{label}: {len(bodies)} texts, {chars:,} characters, {args.repeat} run(s)/side")
        results = {}
        for mode in ("baseline", "extractor"):
            runs = [run_child(mode, args, mix) for _ in range(args.repeat)]
            results[mode] = min(runs, key=lambda r: r[0])
        base_wall, base = results["baseline"]
        ours_wall, ours = results["extractor"]
        print(f"{'':34} {'process s':>10} {'load s':>8} {'work s':>8} {'texts/s':>8}")
        print(
            f"{'naive en_core_web_sm nlp.pipe':34} {base_wall:10.2f} {base['load_s']:8.2f} "
            f"{base['work_s']:8.2f} {len(bodies) / base_wall:8.1f}"
        )
        print(
            f"{'adoptwatch extractor':34} {ours_wall:10.2f} {ours['load_s']:8.2f} "
            f"{ours['work_s']:8.2f} {len(bodies) / ours_wall:8.1f}"
        )
        print(
            f"speed-up as whole processes: {base_wall / ours_wall:.1f}x "
            f"(work only: {base['work_s'] / max(ours['work_s'], 1e-9):.1f}x); "
            f"{ours['claims']} claims, {ours['mentions']} family mentions in "
            f"{ours['texts_with_mentions']} texts"
        )
    texts, claims, differing = same_claims_on_dev()
    verdict = "identical" if not differing else f"DIFFERENT on {differing}"
    print(f"\ndev set ({texts} texts, {claims} claims), pre-filtered vs every sentence: {verdict}")
    return 0 if not differing else 1


if __name__ == "__main__":
    raise SystemExit(main())
