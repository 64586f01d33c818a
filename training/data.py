"""Labelled records, label corrections, and the labelled candidate pairs built from them.

A record is one line of the labelling guide's format (``id``, ``text``, ``title``, ``claims``,
``negative_type``). Real published records are read from ``../shared/claims/real/`` and never
copied here; ``training/label_corrections.jsonl`` holds our corrections to their labels by
record id; ``training/self_written/*.jsonl`` holds sentences we wrote ourselves, used for
augmentation only, never to report quality.

A pair's label is what the acceptance scorer would accept: the pair is positive for a
relation when some gold claim of the record has that relation, an adopter name that matches
the pair's organisation, and a model that matches the pair's model (see :mod:`training.match`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adoptwatch.extractors.pair_model import LABELS
from training.match import model_match, org_match

HERE = Path(__file__).resolve().parent
CORRECTIONS = HERE / "label_corrections.jsonl"
SELF_WRITTEN = HERE / "self_written"
REAL_NAME = Path("shared") / "claims" / "real"
# Why a record makes no claim (``negative_type``), as ``../shared/claims/LABELLING.md`` lists them.
NEGATIVE_TYPES = (
    "vendor_own_model",
    "comparison_or_ranking",
    "investment",
    "hosting",
    "negation",
    "hypothetical_or_plan",
    "personal_use",
    "unnamed_adopter_or_approval",
    "ban_or_block",
    "opinion",
)


def shared_real_dir() -> Path:
    """``shared/claims/real`` in the nearest folder above the repository that has one (a
    worktree's and CI's clone sit beside or below ``shared/``)."""
    for parent in HERE.parents:
        if (parent / REAL_NAME).is_dir():
            return parent / REAL_NAME
    return HERE.parent.parent / REAL_NAME


@dataclass
class Record:
    id: str
    text: str
    title: str
    claims: list[dict]
    source: str  # "real" or "self-written"
    negative_type: list[str] = field(default_factory=list)


def read_records(path: Path, source: str) -> list[Record]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            d = json.loads(line)
            if not isinstance(d.get("text"), str) or not isinstance(d.get("claims"), list):
                raise ValueError(f"{path}:{number}: a record needs 'text' and 'claims'")
            out.append(
                Record(
                    str(d["id"]),
                    d["text"],
                    d.get("title") or "",
                    d["claims"],
                    source,
                    d.get("negative_type") or [],
                )
            )
    return out


def read_corrections(path: Path = CORRECTIONS) -> dict[str, dict]:
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out[d["id"]] = d
    return out


def apply_corrections(records: list[Record], corrections: dict[str, dict]) -> int:
    """Replace the labels of corrected records in place; returns how many changed."""
    changed = 0
    for r in records:
        fix = corrections.get(r.id)
        if fix is not None:
            r.claims = fix["claims"]
            r.negative_type = fix.get("negative_type") or []
            changed += 1
    return changed


def real_split(name: str, shared: Path | None = None, corrected: bool = True) -> list[Record]:
    path = (shared or shared_real_dir()) / f"{name}.jsonl"
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: the labelled real sentences are not here; they live in ../shared/ "
            "beside the project root"
        )
    records = read_records(path, "real")
    if corrected:
        apply_corrections(records, read_corrections())
    return records


def self_written(folder: Path = SELF_WRITTEN) -> list[Record]:
    out: list[Record] = []
    for path in sorted(folder.glob("*.jsonl")):
        out.extend(read_records(path, "self-written"))
    return out


def labels_for(
    claims: Iterable[dict],
    org_names: Sequence[str],
    surface: str,
    family: str | None,
    vendor: str,
) -> list[float]:
    """The multi-hot label of one candidate pair under the scorer's matching rules: a gold
    claim counts when its adopter matches any of ``org_names`` (the name the organisation
    resolves to, and the words as written) and its model matches the pair's model."""
    hot = [0.0] * len(LABELS)
    for c in claims:
        if c.get("relation") not in LABELS:
            continue
        if not any(org_match(c["adopter"], name) for name in org_names):
            continue
        if not model_match(c["model"], surface, family, vendor if c.get("vendor_level") else None):
            continue
        hot[LABELS.index(c["relation"])] = 1.0
    return hot


def batched(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
