"""Claim extraction quality on the labelled development set.

Run: ``.venv/bin/python benchmarks/claims.py`` (``--errors`` lists every error,
``--set FILE`` evaluates another file in the same format, ``--no-prefilter`` parses every
sentence instead of only those that mention a model).

Label format (``tests/data/claims_dev.jsonl``), one JSON object per line:

    {"id": "dev-001",
     "text": "Airbnb replaced ChatGPT with Alibaba's Qwen ...",   # a sentence or short passage
     "claims": [                                              # every claim the text makes
        {"adopter": "Airbnb", "family": "GPT", "relation": "drops", "named": true},
        {"adopter": "Airbnb", "family": "Qwen", "relation": "adopts", "named": true}],
     "tags": ["switch"]}                                      # phrasing / negative kind

``claims`` is empty for hard negatives. ``adopter`` is the normalised organisation name, or
for a generic adopter (``"named": false``) the phrase as written ("many US startups").
``family`` is the catalog family name. A predicted claim matches a gold claim when family and
relation are equal and the adopters agree: equal after normalisation (case, "the", legal
suffixes, gazetteer aliases) or one name is a whole-word prefix or suffix of the other
("Kingsoft Office" / "Kingsoft"); a generic adopter matches a predicted unnamed adopter that
contains its head noun. Scores are over (adopter, model family, relation) triples per text.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from adoptwatch.extractors.adopters import clean_name, default_gazetteer  # noqa: E402
from adoptwatch.extractors.claims import MIN_CONFIDENCE, ClaimExtractor  # noqa: E402
from adoptwatch.extractors.patterns import RELATIONS  # noqa: E402

DEV_SET = ROOT / "tests" / "data" / "claims_dev.jsonl"


@dataclass(frozen=True)
class Triple:
    adopter: str
    family: str
    relation: str
    named: bool = True
    confidence: float = 1.0


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    overall: Scores
    by_relation: dict[str, Scores]
    errors: list[tuple[str, str, str, Triple]]  # (kind, id, text, triple)
    high: Scores  # output claims with confidence >= 0.8
    low: Scores  # output claims below 0.8 (down to the extractor's minimum)
    buckets: dict[str, Scores]  # every candidate claim, by confidence band
    items: int
    negatives: int
    seconds: float


def load_set(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{path}:{n}: not JSON: {exc}") from exc
        for key in ("id", "text", "claims"):
            if key not in row:
                raise SystemExit(f"{path}:{n}: missing {key!r}")
        for c in row["claims"]:
            if c.get("relation") not in RELATIONS or not c.get("adopter") or not c.get("family"):
                raise SystemExit(f"{path}:{n}: bad claim {c!r}")
        rows.append(row)
    return rows


def _norm(name: str) -> str:
    return default_gazetteer().normalise(clean_name(name)).casefold()


def adopters_match(gold: Triple, pred: Triple) -> bool:
    if not gold.named:
        head = gold.adopter.split()[-1].casefold()
        return not pred.named and head in pred.adopter.casefold().split()
    if not pred.named:
        return False
    g, p = _norm(gold.adopter), _norm(pred.adopter)
    if g == p:
        return True
    gw, pw = g.split(), p.split()
    short, long_ = (gw, pw) if len(gw) <= len(pw) else (pw, gw)
    return long_[: len(short)] == short or long_[-len(short) :] == short


def match(gold: list[Triple], pred: list[Triple]) -> tuple[list, list, list]:
    """(true positives as (gold, pred), false positives, false negatives)."""
    unused = list(pred)
    tps, fns = [], []
    for g in gold:
        hit = next(
            (
                p
                for p in unused
                if p.family == g.family and p.relation == g.relation and adopters_match(g, p)
            ),
            None,
        )
        if hit is None:
            fns.append(g)
        else:
            unused.remove(hit)
            tps.append((g, hit))
    return tps, unused, fns


BANDS = (("0.8-1.0", 0.8, 1.01), ("0.5-0.8", 0.5, 0.8), ("0.0-0.5", 0.0, 0.5))


def _band(confidence: float) -> str:
    return next(name for name, lo, hi in BANDS if lo <= confidence < hi)


def evaluate(extractor: ClaimExtractor, rows: list[dict], threshold: float) -> Report:
    """Score the claims at or above ``threshold`` (what the extractor outputs by default);
    the extractor itself should keep every candidate (min_confidence=0) so that the
    calibration bands below the threshold can be shown too."""
    overall = Scores()
    by_relation = {r: Scores() for r in RELATIONS}
    high, low = Scores(), Scores()
    buckets = {name: Scores() for name, _, _ in BANDS}
    errors = []
    start = time.perf_counter()
    extractions = list(extractor.extract_many(row["text"] for row in rows))
    seconds = time.perf_counter() - start
    for row, extraction in zip(rows, extractions, strict=True):
        gold = list(
            dict.fromkeys(
                Triple(c["adopter"], c["family"], c["relation"], c.get("named", True))
                for c in row["claims"]
            )
        )
        seen: dict[tuple, Triple] = {}
        for c in extraction.claims:
            key = (c.adopter.casefold(), c.model_family, c.relation)
            if key not in seen or seen[key].confidence < c.confidence:
                seen[key] = Triple(
                    c.adopter, c.model_family, c.relation, c.adopter_named, c.confidence
                )
        candidates = list(seen.values())
        all_tps, all_fps, _ = match(gold, candidates)
        for _, p in all_tps:
            buckets[_band(p.confidence)].tp += 1
        for p in all_fps:
            buckets[_band(p.confidence)].fp += 1
        pred = [p for p in candidates if p.confidence >= threshold]
        tps, fps, fns = match(gold, pred)
        for scores in (overall,):
            scores.tp += len(tps)
            scores.fp += len(fps)
            scores.fn += len(fns)
        for g, p in tps:
            by_relation[g.relation].tp += 1
            (high if p.confidence >= 0.8 else low).tp += 1
        for p in fps:
            by_relation[p.relation].fp += 1
            (high if p.confidence >= 0.8 else low).fp += 1
            errors.append(("FP", row["id"], row["text"], p))
        for g in fns:
            by_relation[g.relation].fn += 1
            errors.append(("FN", row["id"], row["text"], g))
    negatives = sum(1 for row in rows if not row["claims"])
    return Report(overall, by_relation, errors, high, low, buckets, len(rows), negatives, seconds)


def print_report(report: Report, show_errors: bool) -> None:
    print(
        f"items: {report.items} ({report.negatives} with no claim), "
        f"extraction time {report.seconds:.1f}s"
    )
    print(f"{'':10} {'P':>6} {'R':>6} {'F1':>6} {'TP':>5} {'FP':>5} {'FN':>5}")

    def line(name: str, s: Scores) -> None:
        print(
            f"{name:10} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {s.tp:5} {s.fp:5} {s.fn:5}"
        )

    line("overall", report.overall)
    for relation, scores in report.by_relation.items():
        line(relation, scores)
    h, lo = report.high, report.low
    print(
        f"output claims: confidence >= 0.8: {h.tp + h.fp}, precision {h.precision:.3f}; "
        f"< 0.8: {lo.tp + lo.fp}, precision {lo.precision:.3f}"
    )
    print("every candidate by confidence (claims under the output minimum are not emitted):")
    for name, scores in report.buckets.items():
        n = scores.tp + scores.fp
        print(f"  {name}: {n:4} candidates, precision {scores.precision:.3f}")
    if show_errors:
        print(f"\nerrors ({len(report.errors)}):")
        for kind, item_id, text, t in report.errors:
            named = "" if t.named else " (unnamed)"
            conf = f" conf={t.confidence:.2f}" if kind == "FP" else ""
            print(f"  {kind} {item_id}: ({t.adopter}{named}, {t.family}, {t.relation}){conf}")
            print(f"       {text[:220]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=DEV_SET, help="labelled JSONL file")
    parser.add_argument("--errors", action="store_true", help="list every error")
    parser.add_argument("--no-prefilter", action="store_true", help="parse every sentence")
    parser.add_argument("--pipeline", default="", help="spaCy pipeline name")
    args = parser.parse_args(argv)
    rows = load_set(args.set)
    extractor = ClaimExtractor(args.pipeline, prefilter=not args.no_prefilter, min_confidence=0.0)
    print(f"extractor {extractor.version}, pipeline {extractor.pipeline}, set {args.set}")
    report = evaluate(extractor, rows, MIN_CONFIDENCE)
    print_report(report, show_errors=args.errors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
