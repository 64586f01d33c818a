"""The claims extractor: its assembly rules, the shipped model, and its quality gate.

Sentences in this file are written for these tests. Quality is measured on real published
sentences only (``../shared/claims/real/``, never copied here): the gate at the end.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from adoptwatch.errors import AdoptwatchError
from adoptwatch.extractors.claims import (
    ClaimExtractor,
    Extraction,
    assemble,
    build_nlp,
    get_extractor,
)
from adoptwatch.extractors.pair_model import DEFAULT_MODEL_DIR, LABELS, PairModel, PairModelError
from adoptwatch.pipeline.extract_lines import claim_dict
from training.data import real_split, shared_real_dir
from training.match import score

# The floors under the shipped model's figures on the real dev split (see README, "Claims").
DEV_FLOOR_PRECISION = 0.45
DEV_FLOOR_RECALL = 0.50
MAX_MODEL_MB = 30


@pytest.fixture(scope="session")
def extractor() -> ClaimExtractor:
    return get_extractor("")


def triples(extraction: Extraction) -> set[tuple[str, str, str]]:
    return {(c.adopter, c.model_family or c.vendor, c.relation) for c in extraction.claims}


# --- assembly: from scored pairs to claims --------------------------------------------------


@pytest.fixture(scope="module")
def candidates():
    """Window docs with candidate pairs, as the pipeline makes them before the classifier."""
    nlp = build_nlp(classifier=False)
    helper = ClaimExtractor.__new__(ClaimExtractor)
    helper.nlp = nlp
    from adoptwatch.extractors.adopters import default_gazetteer
    from adoptwatch.extractors.catalog import default_catalog

    helper.catalog, helper.gazetteer = default_catalog(), default_gazetteer()

    def docs_for(text: str) -> list:
        return list(nlp.pipe(helper.window_docs([(text, "")])))

    return docs_for


def scored(docs: list, decide) -> list:
    """Give each pair the probabilities ``decide(org, model)`` returns."""
    for doc in docs:
        doc._.aw_scores = np.array(
            [decide(p.org.surface, p.model.surface) for p in doc._.aw_pairs], dtype=np.float32
        ).reshape(-1, len(LABELS))
    return docs


def test_pairs_over_the_threshold_become_claims_with_their_evidence(candidates) -> None:
    text = "Weather was fine. Quillon Freight replaced ChatGPT with Qwen3 in its depots."
    docs = scored(
        candidates(text),
        lambda org, model: (0.9, 0.1, 0.1) if model == "Qwen3" else (0.1, 0.8, 0.1),
    )
    claims = assemble(text, docs, np.full(3, 0.5))
    got = {(c.adopter, c.model, c.relation) for c in claims}
    assert got == {("Quillon Freight", "Qwen3", "adopts"), ("Quillon Freight", "ChatGPT", "drops")}
    assert {c.evidence for c in claims} == {
        "Quillon Freight replaced ChatGPT with Qwen3 in its depots."
    }
    assert all(c.sentence_index == 1 for c in claims)
    # the drop and the adoption by one adopter in one sentence are one switch
    assert len({c.switch for c in claims}) == 1 and claims[0].switch is not None


def test_a_second_relation_for_one_pair_needs_to_be_likely_too(candidates) -> None:
    text = "Marlow Bank tested Gemini."
    few = assemble(text, scored(candidates(text), lambda o, m: (0.45, 0.0, 0.9)), np.full(3, 0.4))
    assert [c.relation for c in few] == ["evaluates"]
    both = assemble(text, scored(candidates(text), lambda o, m: (0.85, 0.0, 0.9)), np.full(3, 0.4))
    assert sorted(c.relation for c in both) == ["adopts", "evaluates"]


def test_names_of_one_organisation_make_one_claim(candidates) -> None:
    text = (
        "The Dubai Electricity and Water Authority (DEWA) will use ChatGPT for customer "
        "service, DEWA said."
    )
    claims = assemble(text, scored(candidates(text), lambda o, m: (0.9, 0.0, 0.0)), np.full(3, 0.5))
    assert len(claims) == 1
    assert claims[0].adopter in ("Dubai Electricity and Water Authority", "DEWA")


def test_a_vendor_level_claim_gives_way_to_a_model_of_that_vendor(candidates) -> None:
    text = "Harbour Insurance uses OpenAI, and GPT-4o now drafts its letters."
    claims = assemble(text, scored(candidates(text), lambda o, m: (0.9, 0.0, 0.0)), np.full(3, 0.5))
    mine = [c for c in claims if c.adopter == "Harbour Insurance"]
    assert [(c.model, c.vendor_level) for c in mine] == [("GPT-4o", False)]


# --- the shipped model -----------------------------------------------------------------------


def test_the_shipped_model_is_small_and_says_what_it_is() -> None:
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir()) / 2**20
    assert size <= MAX_MODEL_MB, f"{size:.1f} MB"
    model = PairModel()
    assert model.version and model.temperature > 0
    assert all(0 < t < 1 for t in model.thresholds)


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PairModelError, match="make train") as caught:
        PairModel(tmp_path)
    assert isinstance(caught.value, AdoptwatchError)


def test_the_airbnb_switch(extractor: ClaimExtractor) -> None:
    claims = extractor.extract(
        "Airbnb replaced ChatGPT with Alibaba's Qwen for its customer service agent, chief "
        "executive Brian Chesky told analysts."
    ).claims
    assert {("Airbnb", "Qwen", "adopts"), ("Airbnb", "GPT", "drops")} <= {
        (c.adopter, c.model_family, c.relation) for c in claims
    }
    qwen = next(c for c in claims if c.model_family == "Qwen")
    assert qwen.vendor == "Alibaba" and qwen.origin_country == "CN" and qwen.open_weights
    assert 0.0 < qwen.confidence <= 1.0


def test_a_vendor_named_alone_is_a_vendor_level_claim(extractor: ClaimExtractor) -> None:
    claims = extractor.extract(
        "Ferrovia Logistics said its new dispatch assistant is powered by Anthropic."
    ).claims
    [claim] = [c for c in claims if c.vendor == "Anthropic"]
    assert claim.vendor_level and claim.model == "Anthropic" and claim.model_family == ""
    assert claim.adopter == "Ferrovia Logistics" and claim.relation == "adopts"


def test_the_title_names_the_company_of_the_text(extractor: ClaimExtractor) -> None:
    claims = extractor.extract(
        "The company said it has moved its support agents to Claude.",
        title="Pellucid Labs moves support agents to Claude",
    ).claims
    assert ("Pellucid Labs", "Claude", "adopts") in triples(Extraction(claims))


def test_a_vendor_using_its_own_model_is_no_claim(extractor: ClaimExtractor) -> None:
    text = "Alibaba said Qwen3 now answers questions in its Taobao shopping app."
    assert not [c for c in extractor.extract(text).claims if c.vendor == "Alibaba"]


def test_extract_many_keeps_order_and_handles_texts_without_models(extractor) -> None:
    texts = [
        "Orrin Health has deployed Llama 3.1 70B in its clinics.",
        "",
        "Nothing here is about artificial intelligence at all.",
        "Kestrel Motors is testing Gemini 2.5 Pro in its cars.",
    ]
    out = list(extractor.extract_many(texts))
    assert len(out) == 4
    assert out[1].claims == [] and out[2].claims == [] and out[2].mentions == []
    assert {c.model_family for c in out[0].claims} == {"Llama"}
    assert [m.model_family for m in out[3].mentions] == ["Gemini"]
    with pytest.raises(TypeError):
        list(extractor.extract_many([b"bytes"]))  # type: ignore[list-item]


def test_an_articles_claims_do_not_depend_on_the_articles_beside_it(
    extractor: ClaimExtractor,
) -> None:
    """Extracting in batches (the ingest) and one text at a time give the same claims."""
    texts = [
        "Orchard Labs has adopted Mistral Large to summarise support tickets, the software "
        "maker said. The company employs forty people in Lyon.",
        "Tern Analytics, a data firm, is testing DeepSeek for its reports and many other "
        "internal tools that its engineers wrote over the last decade, the firm said.",
        "Pellucid Bank switched from Mistral to DeepSeek for customer support this week.",
    ]
    alone = [triples(extractor.extract(t)) for t in texts]
    together = [triples(e) for e in extractor.extract_many(texts, [""] * len(texts))]
    assert together == alone
    assert ("Orchard Labs", "Mistral", "adopts") in alone[0]


def test_get_extractor_is_cached_and_versioned() -> None:
    assert get_extractor("") is get_extractor("")
    assert get_extractor("").version == f"claims-{PairModel().version}"


def _claims_in_worker(text: str) -> list[tuple[str, str, str]]:
    return sorted(triples(get_extractor("").extract(text)))


@pytest.mark.slow
def test_constructible_in_a_worker_process() -> None:
    text = "Orrin Health has deployed Llama 3.1 70B in its clinics."
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        assert pool.submit(_claims_in_worker, text).result() == _claims_in_worker(text)


# --- quality on real published text ------------------------------------------------------------


def test_quality_floor_on_the_real_dev_split(extractor: ClaimExtractor) -> None:
    """The shipped model on the real dev split (never trained on; used to pick the epoch,
    the temperature and the threshold) stays over the floors in DEV_FLOOR_*."""
    if not (shared_real_dir() / "dev.jsonl").exists():
        pytest.skip(f"no labelled real sentences at {shared_real_dir()} (../shared/ is absent)")
    records = real_split("dev")
    outs = extractor.extract_many([r.text for r in records], [r.title for r in records])
    predicted = {
        r.id: [claim_dict(c) for c in out.claims] for r, out in zip(records, outs, strict=True)
    }
    figures = score({r.id: {"claims": r.claims} for r in records}, predicted)
    assert figures["precision"] >= DEV_FLOOR_PRECISION, figures
    assert figures["recall"] >= DEV_FLOOR_RECALL, figures
