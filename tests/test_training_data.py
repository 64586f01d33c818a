"""The sentences we wrote for training (``training/self_written/``) and our label corrections
are well-formed, labelled by the guide's vocabulary, and hold no published text.

The self-written sets are augmentation only, never a measure of quality (see README, "Claims").
"""

from __future__ import annotations

import json
import re

import pytest

from adoptwatch.extractors.pair_model import LABELS
from training.data import (
    CORRECTIONS,
    NEGATIVE_TYPES,
    SELF_WRITTEN,
    read_corrections,
    self_written,
    shared_real_dir,
)

# A run of this many letters and digits shared with a published sentence is a copy (names of
# ministries and stock phrases run to 40).
COPY_RUN = 80


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@pytest.fixture(scope="module")
def records():
    return self_written()


def test_every_self_written_record_is_labelled_by_the_guide(records) -> None:
    assert len(records) >= 4000
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids)), "record ids repeat"
    for r in records:
        assert r.text.strip(), r.id
        for claim in r.claims:
            assert claim["relation"] in LABELS, (r.id, claim)
            assert claim["adopter"].strip() and claim["model"].strip(), (r.id, claim)
        if not r.claims:
            assert r.negative_type, f"{r.id}: a record without claims says why (negative_type)"
            assert set(r.negative_type) <= set(NEGATIVE_TYPES), (r.id, r.negative_type)


def test_every_relation_and_vendor_level_claims_are_represented(records) -> None:
    claims = [c for r in records for c in r.claims]
    for relation in LABELS:
        assert sum(c["relation"] == relation for c in claims) >= 500, relation
    assert sum(bool(c.get("vendor_level")) for c in claims) >= 500
    assert sum(not r.claims for r in records) >= 1000  # hard negatives


def test_label_corrections_name_a_reason() -> None:
    lines = [json.loads(line) for line in CORRECTIONS.read_text().splitlines() if line.strip()]
    assert len(read_corrections()) == len(lines), "a record is corrected twice"
    for fix in lines:
        assert fix["id"] and fix["why"].strip(), fix
        assert all(c["relation"] in LABELS for c in fix["claims"]), fix


def test_no_self_written_record_copies_a_published_sentence(records) -> None:
    """No run of COPY_RUN characters in common, and none of the 60-character cores the
    acceptance scorer looks for (``score_claims.py --exclude-in``): a published sentence
    found in this repository would be dropped from the measurement."""
    real = shared_real_dir()
    if not (real / "train.jsonl").exists():
        pytest.skip(f"no labelled real sentences at {real} (../shared/ is absent)")
    published: set[str] = set()
    cores: list[str] = []
    for split in ("train", "dev", "test"):
        for line in (real / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                text = _squash(json.loads(line)["text"])
                published.update(text[i : i + COPY_RUN] for i in range(len(text) - COPY_RUN + 1))
                middle = len(text) // 2
                cores.append(text[middle - 30 : middle + 30] if len(text) > 60 else text)
    ours = [_squash(r.text) for r in records]
    copied = [
        r.id
        for r, text in zip(records, ours, strict=True)
        if any(text[i : i + COPY_RUN] in published for i in range(len(text) - COPY_RUN + 1))
    ]
    assert copied == [], f"self-written records sharing {COPY_RUN} characters with real ones"
    blob = "\n".join(ours)
    assert [core for core in cores if core and core in blob] == []
    assert SELF_WRITTEN.is_dir()
