"""Claim extraction quality on real published sentences (``shared/claims/real``).

Run: ``.venv/bin/python benchmarks/claims.py`` (the dev and test splits), ``--split test``,
``--set FILE`` for any file in the labelling format, ``--errors`` to list every miss and
every false claim.

Each record is run through the shipped extractor with its title, as ``adoptwatch extract
--jsonl`` does, its claims written as that command writes them, and scored with the
acceptance scorer's matching rules (:mod:`training.match`): a predicted claim matches a
labelled one when the relation is equal, the adopter names overlap and the model (or, for a
vendor-level claim, the vendor) agrees.
Only real text measures quality; the self-written sets in ``training/self_written`` are
training material and unit-test fodder, never a score.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from adoptwatch.extractors.claims import ClaimExtractor  # noqa: E402
from adoptwatch.pipeline.extract_lines import claim_dict  # noqa: E402
from training.data import shared_real_dir  # noqa: E402
from training.match import claim_matches, score  # noqa: E402


def load(path: Path) -> dict[str, dict]:
    with path.open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    return {r["id"]: r for r in records}


def predict(extractor: ClaimExtractor, gold: dict[str, dict]) -> dict[str, list[dict]]:
    ids = list(gold)
    extractions = extractor.extract_many(
        (gold[i]["text"] for i in ids), (gold[i].get("title") or "" for i in ids)
    )
    return {
        i: [claim_dict(c) for c in extraction.claims]
        for i, extraction in zip(ids, extractions, strict=True)
    }


def vendor_level_recall(gold: dict[str, dict], predicted: dict[str, list[dict]]) -> tuple[int, int]:
    """(found, labelled) for the claims that name only the vendor."""
    found = total = 0
    for key, record in gold.items():
        for c in record["claims"]:
            if not c.get("vendor_level"):
                continue
            total += 1
            found += any(claim_matches(c, p) for p in predicted.get(key, []))
    return found, total


def reliability(gold: dict[str, dict], predicted: dict[str, list[dict]]) -> list[tuple]:
    """(band, claims, mean confidence, share correct) per confidence band: a calibrated
    extractor's claims at 0.7 are right about 70% of the time. A claim counts as correct
    when it matches any labelled claim of its record."""
    bands = [(0.0, 0.4), (0.4, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)]
    rows = []
    for lo, hi in bands:
        inside = [
            (p["confidence"], any(claim_matches(c, p) for c in gold[k]["claims"]))
            for k, preds in predicted.items()
            for p in preds
            if lo <= p["confidence"] < hi
        ]
        if inside:
            mean = sum(c for c, _ in inside) / len(inside)
            right = sum(ok for _, ok in inside) / len(inside)
            rows.append((f"{lo:.1f}-{min(hi, 1.0):.1f}", len(inside), mean, right))
    return rows


def report(name: str, gold: dict[str, dict], predicted: dict[str, list[dict]], secs: float) -> None:
    s = score(gold, predicted)
    negatives = [k for k, r in gold.items() if not r["claims"]]
    fired = sum(1 for k in negatives if predicted.get(k))
    vl_found, vl_total = vendor_level_recall(gold, predicted)
    print(
        f"{name}: {len(gold)} records, {s['tp'] + s['fn']} labelled claims — "
        f"P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}  "
        f"(tp {s['tp']}, fp {s['fp']}, fn {s['fn']}; {secs:.1f} s)"
    )
    for relation, (tp, fp, fn) in sorted(s["by_relation"].items()):
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        print(f"  {relation:<10} P {p:.3f}  R {r:.3f}  (tp {tp}, fp {fp}, fn {fn})")
    print(f"  vendor-level claims found: {vl_found}/{vl_total}")
    print(f"  records without claims that got one: {fired}/{len(negatives)}")
    print("  reliability: band, claims, mean confidence, share correct")
    for band, n, mean, right in reliability(gold, predicted):
        print(f"    {band}  {n:>4}  {mean:.2f}  {right:.2f}")


def show_errors(gold: dict[str, dict], predicted: dict[str, list[dict]]) -> None:
    for key, record in gold.items():
        got = {(p["adopter"], p["model"], p["relation"]) for p in predicted.get(key, [])}
        want = {(c["adopter"], c["model"], c["relation"]) for c in record["claims"]}
        if got == want:
            continue
        print(f"\n{key}: {record['text'][:300]}")
        for c in sorted(want - got):
            print(f"  labelled  {c}")
        for c in sorted(got - want):
            print(f"  predicted {c}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--split",
        choices=["dev", "test", "both"],
        default="both",
        help="which real split of shared/claims/real to score (default: both)",
    )
    parser.add_argument("--set", type=Path, help="score this labelled JSONL file instead")
    parser.add_argument("--errors", action="store_true", help="list every miss and false claim")
    parser.add_argument("--pipeline", default="", help="spaCy pipeline name")
    args = parser.parse_args(argv)

    if args.set:
        sets = [(args.set.name, args.set)]
    else:
        real = shared_real_dir()
        if not real.is_dir():
            parser.error(f"no labelled real sentences at {real}; give --set FILE")
        splits = ["dev", "test"] if args.split == "both" else [args.split]
        sets = [(s, real / f"{s}.jsonl") for s in splits]
    started = time.perf_counter()
    extractor = ClaimExtractor(args.pipeline)
    print(f"extractor {extractor.version} loaded in {time.perf_counter() - started:.1f} s")
    for name, path in sets:
        gold = load(path)
        started = time.perf_counter()
        predicted = predict(extractor, gold)
        report(name, gold, predicted, time.perf_counter() - started)
        if args.errors:
            show_errors(gold, predicted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
