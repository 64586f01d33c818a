"""How a predicted claim matches a labelled one: the rules of the acceptance scorer
(``../shared/claims/score_claims.py``), written once here so that pair labels, training-time
evaluation and the quality test agree with what acceptance measures."""

from __future__ import annotations

import re

_STOP = re.compile(r"\b(inc|corp|corporation|ltd|llc|co|plc|the)\b\.?|'s\b|’s\b|[^a-z0-9 ]")


def norm_org(name: str | None) -> str:
    return " ".join(_STOP.sub(" ", (name or "").lower()).split())


def norm_model(name: str | None) -> str:
    return re.sub(r"[^a-z0-9.]", "", (name or "").lower())


def org_match(gold: str, predicted: str | None) -> bool:
    g, p = norm_org(gold), norm_org(predicted)
    return bool(g and p) and (g == p or g in p or p in g)


def model_match(
    gold: str, model: str | None, family: str | None, vendor: str | None = None
) -> bool:
    g = norm_model(gold)
    for p in (norm_model(model), norm_model(family), norm_model(vendor)):
        if p and (p == g or g.startswith(p) or p.startswith(g)):
            return True
    return False


def claim_matches(gold: dict, predicted: dict) -> bool:
    """Whether a predicted claim is the labelled one: same relation, overlapping adopter
    names, and the model (for a vendor-level label, the vendor too) agreeing."""
    return (
        predicted.get("relation") == gold["relation"]
        and org_match(gold["adopter"], predicted.get("adopter"))
        and model_match(
            gold["model"],
            predicted.get("model"),
            predicted.get("model_family"),
            predicted.get("vendor") if gold.get("vendor_level") else None,
        )
    )


def score(gold: dict[str, dict], predicted: dict[str, list[dict]]) -> dict:
    """Precision, recall, F1 and per-relation counts, matching claims one to one."""
    tp = fp = fn = 0
    per: dict[str, list[int]] = {}
    for key, record in gold.items():
        preds = list(predicted.get(key, []))
        used: set[int] = set()
        for c in record["claims"]:
            hit = next(
                (i for i, p in enumerate(preds) if i not in used and claim_matches(c, p)), None
            )
            counts = per.setdefault(c["relation"], [0, 0, 0])
            if hit is None:
                fn += 1
                counts[2] += 1
            else:
                tp += 1
                counts[0] += 1
                used.add(hit)
        for i, p in enumerate(preds):
            if i not in used:
                fp += 1
                per.setdefault(p.get("relation", "?"), [0, 0, 0])[1] += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "by_relation": per,
    }
