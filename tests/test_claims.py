"""Behaviour of the adoption-claim extractor, its data files and its quality gate."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import tomllib
from pathlib import Path

import pytest

from adoptwatch.extractors.adopters import (
    DEFAULT_GAZETTEER,
    GazetteerError,
    default_gazetteer,
    parse_gazetteer,
)
from adoptwatch.extractors.catalog import (
    DEFAULT_CATALOG,
    CatalogError,
    count_models,
    default_catalog,
    load_catalog,
    parse_catalog,
)
from adoptwatch.extractors.claims import ClaimExtractor, Extraction, get_extractor
from adoptwatch.extractors.patterns import DEFAULT_PATTERNS, PatternError, parse_patterns
from benchmarks.claims import DEV_SET, MIN_CONFIDENCE, evaluate, load_set

BLIND_SET = Path(__file__).with_name("data") / "claims_blind.jsonl"


@pytest.fixture(scope="session")
def extractor() -> ClaimExtractor:
    return get_extractor("")


def triples(extraction: Extraction) -> set[tuple[str, str, str]]:
    return {(c.adopter, c.model_family, c.relation) for c in extraction.claims}


# --- the catalog ---------------------------------------------------------------------------


def test_catalog_covers_western_and_chinese_vendors() -> None:
    catalog = default_catalog()
    assert count_models(catalog) >= 150
    vendors = {f.vendor.name for f in catalog.families.values()}
    for name in [
        "OpenAI",
        "Anthropic",
        "Google",
        "Meta",
        "Mistral AI",
        "xAI",
        "Microsoft",
        "Amazon",
        "Cohere",
        "Alibaba",
        "DeepSeek",
        "Zhipu AI",
        "Moonshot AI",
        "MiniMax",
        "Baidu",
        "ByteDance",
        "Tencent",
        "01.AI",
        "StepFun",
    ]:
        assert name in vendors, name
    assert catalog.families["Qwen"].vendor.country == "CN"
    assert catalog.families["Mistral"].vendor.country == "FR"
    assert catalog.families["Llama"].open_weights is True
    assert catalog.families["GPT"].open_weights is False


@pytest.mark.parametrize(
    ("text", "surface", "family", "model"),
    [
        (
            "We deployed Qwen2.5-72B-Instruct.",
            "Qwen2.5-72B-Instruct",
            "Qwen",
            "Qwen2.5-72B-Instruct",
        ),
        ("It runs GPT-4o mini today.", "GPT-4o mini", "GPT", "GPT-4o mini"),
        ("They chose DeepSeek-R1 for reasoning.", "DeepSeek-R1", "DeepSeek", "DeepSeek-R1"),
        ("Moonshot's Kimi K2 is fast.", "Kimi K2", "Kimi", "Kimi K2"),
        ("Zhipu released GLM-4.6 as open weights.", "GLM-4.6", "GLM", "GLM-4.6"),
        ("Claude 3.5 Sonnet writes code.", "Claude 3.5 Sonnet", "Claude", "Claude 3.5 Sonnet"),
        ("Llama 3.1 405B is large.", "Llama 3.1 405B", "Llama", "Llama 3.1 405B"),
        ("Staff use ChatGPT Enterprise.", "ChatGPT Enterprise", "GPT", ""),
        ("Mixtral 8x7B is a mixture of experts.", "Mixtral 8x7B", "Mistral", "Mixtral 8x7B"),
    ],
)
def test_version_patterns_resolve_to_families(text, surface, family, model) -> None:
    hits = [h for h in default_catalog().scan(text) if not h.standin]
    assert [(h.surface, h.family.name) for h in hits] == [(surface, family)]
    assert hits[0].model == model


def test_open_weights_can_differ_per_model() -> None:
    catalog = default_catalog()
    (qwen_max,) = catalog.scan("Alibaba's Qwen-Max model is closed.")[:1]
    assert qwen_max.family.name == "Qwen" and qwen_max.open_weights is False
    (qwen3,) = [h for h in catalog.scan("Qwen3 is open.") if not h.standin]
    assert qwen3.open_weights is True


@pytest.mark.parametrize(
    "text",
    [
        "Claude Monet's water lilies sold for $65 million.",
        "Llama farms in Peru have struggled with drought.",
        "A grokking moment for the team.",
        "Jean-Claude Juncker spoke in Brussels.",
    ],
)
def test_ordinary_words_and_names_are_not_models(text) -> None:
    assert [h for h in default_catalog().scan(text) if h.context] == []


def test_vendor_names_stand_for_their_flagship_family() -> None:
    hits = default_catalog().scan("It uses a mix of OpenAI and Anthropic models.")
    assert [(h.surface, h.family.name, h.standin) for h in hits] == [
        ("OpenAI", "GPT", True),
        ("Anthropic", "Claude", True),
    ]


def test_long_vendor_lists_are_scanned_whole() -> None:
    # a list of thousands of vendor names is matched name by name, not by one regex that
    # backtracks over every possible sublist
    text = "It routes requests to " + "OpenAI, Anthropic and " * 2000 + "Mistral models."
    hits = default_catalog().scan(text)
    assert len(hits) == 4001
    assert {h.family.name for h in hits} == {"GPT", "Claude", "Mistral"}


def _catalog_data() -> dict:
    return tomllib.loads(DEFAULT_CATALOG.read_text(encoding="utf-8"))


def test_catalog_validation_names_the_bad_entry(tmp_path: Path) -> None:
    data = _catalog_data()
    data["family"][0]["vendor"] = "Nobody Inc."
    with pytest.raises(CatalogError, match=r"family 'GPT': vendor 'Nobody Inc.' is not"):
        parse_catalog(data, "catalog.toml")
    data = _catalog_data()
    data["vendor"][0]["country"] = "USA"
    with pytest.raises(CatalogError, match=r"vendor 'OpenAI': country 'USA' is not an ISO"):
        parse_catalog(data, "catalog.toml")
    data = _catalog_data()
    data["family"][1]["colour"] = "blue"
    with pytest.raises(CatalogError, match=r"unknown keys \['colour'\]"):
        parse_catalog(data, "catalog.toml")
    data = _catalog_data()
    data["family"][2]["open_weights"] = "yes"
    with pytest.raises(CatalogError, match="'open_weights' must be a non-empty bool"):
        parse_catalog(data, "catalog.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("schema = 1\n[[family]\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="catalog file not found"):
        load_catalog(tmp_path / "missing.toml")


def test_gazetteer_normalises_names() -> None:
    gazetteer = default_gazetteer()
    assert gazetteer.normalise("Airbnb Inc.") == "Airbnb"
    assert gazetteer.normalise("AirBnB") == "Airbnb"
    assert gazetteer.normalise("JP Morgan") == "JPMorgan Chase"
    assert gazetteer.normalise("Acme Robotics Corp.") == "Acme Robotics"
    assert gazetteer.is_hosting("AWS") and not gazetteer.is_hosting("Airbnb")


def test_gazetteer_and_pattern_validation() -> None:
    data = tomllib.loads(DEFAULT_GAZETTEER.read_text(encoding="utf-8"))
    data["company"][0]["hosting"] = "sometimes"
    with pytest.raises(GazetteerError, match=r"\(Airbnb\): 'hosting' must be true or false"):
        parse_gazetteer(data, "companies.toml")
    data = tomllib.loads(DEFAULT_PATTERNS.read_text(encoding="utf-8"))
    data["trigger"][0]["slots"]["obj"] = "likes"
    with pytest.raises(PatternError, match=r"slot 'obj' maps to 'likes'"):
        parse_patterns(data, "adoption.toml")


# --- claims --------------------------------------------------------------------------------


def test_the_airbnb_switch(extractor: ClaimExtractor) -> None:
    text = (
        "Airbnb replaced ChatGPT with Alibaba's Qwen for its customer service agent, "
        "chief executive Brian Chesky said."
    )
    claims = extractor.extract(text).claims
    by_relation = {c.relation: c for c in claims}
    assert set(by_relation) == {"adopts", "drops"}
    adopt, drop = by_relation["adopts"], by_relation["drops"]
    assert (adopt.adopter, adopt.model, adopt.model_family) == ("Airbnb", "Qwen", "Qwen")
    assert (adopt.vendor, adopt.origin_country, adopt.open_weights) == ("Alibaba", "CN", True)
    assert (drop.adopter, drop.model, drop.model_family, drop.vendor) == (
        "Airbnb",
        "ChatGPT",
        "GPT",
        "OpenAI",
    )
    assert adopt.switch is not None and adopt.switch == drop.switch
    assert adopt.evidence == text and adopt.sentence_index == 0
    assert adopt.adopter_named and 0 < adopt.confidence <= 1


def test_migrated_from_to_is_a_switch(extractor: ClaimExtractor) -> None:
    claims = extractor.extract("Airbnb migrated from GPT-4o to Qwen2.5-72B-Instruct.").claims
    assert {(c.model, c.relation) for c in claims} == {
        ("GPT-4o", "drops"),
        ("Qwen2.5-72B-Instruct", "adopts"),
    }
    assert len({c.switch for c in claims}) == 1 and claims[0].switch is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Qwen is used by Airbnb to answer guest questions.", {("Airbnb", "Qwen", "adopts")}),
        (
            "Airbnb, which recently replaced ChatGPT with Qwen, reported strong earnings.",
            {("Airbnb", "GPT", "drops"), ("Airbnb", "Qwen", "adopts")},
        ),
        ("Airbnb's use of Qwen has drawn scrutiny.", {("Airbnb", "Qwen", "adopts")}),
        (
            "Zoom's assistant combines Zoom's own models with Anthropic's Claude.",
            {("Zoom", "Claude", "adopts")},
        ),
        ("DoorDash launched a Claude-powered voice assistant.", {("DoorDash", "Claude", "adopts")}),
        ("Brex built its expense assistant on top of GPT-4.", {("Brex", "GPT", "adopts")}),
        ("Samsung banned ChatGPT after a leak.", {("Samsung", "GPT", "drops")}),
        ("Chegg stopped using GPT-4 in the fall.", {("Chegg", "GPT", "drops")}),
        ("Kavak no longer relies on Gemini for descriptions.", {("Kavak", "Gemini", "drops")}),
        ("BMW is evaluating DeepSeek for cars sold in China.", {("BMW", "DeepSeek", "evaluates")}),
        (
            "Apple is in talks with Google to use Gemini for Siri.",
            {("Apple", "Gemini", "evaluates")},
        ),
        (
            "Salesforce uses Anthropic's models in Agentforce.",
            {("Salesforce", "Claude", "adopts")},
        ),
        (
            "Lyft and DoorDash both use Claude for support triage.",
            {("Lyft", "Claude", "adopts"), ("DoorDash", "Claude", "adopts")},
        ),
    ],
)
def test_phrasings(extractor: ClaimExtractor, text: str, expected: set) -> None:
    assert triples(extractor.extract(text)) == expected


def test_coordinated_models_give_one_claim_each(extractor: ClaimExtractor) -> None:
    claims = extractor.extract(
        "Many US startups are now training on GLM, Kimi or DeepSeek instead of closed models."
    ).claims
    assert {c.model_family for c in claims} == {"GLM", "Kimi", "DeepSeek"}
    assert {c.relation for c in claims} == {"adopts"}
    assert {c.adopter for c in claims} == {"many US startups"}
    assert not any(c.adopter_named for c in claims)


@pytest.mark.parametrize(
    "text",
    [
        "Airbnb does not use DeepSeek, a spokesperson said.",
        "Stripe has no plans to adopt Qwen.",
        "Netflix declined to use Gemini for subtitles.",
        "Pinterest has ruled out using DeepSeek for now.",
        "Etsy has yet to integrate Gemini into its seller tools.",
        "Neither Walmart nor Target has deployed Grok.",
    ],
)
def test_negations_are_not_claims(extractor: ClaimExtractor, text: str) -> None:
    assert extractor.extract(text).claims == []


@pytest.mark.parametrize(
    "text",
    [
        "Alibaba released Qwen3 on Tuesday.",
        "Google uses Gemini in Search to generate AI Overviews.",
        "Instagram now uses Llama to suggest captions, Meta said.",
        "Qwen beats GPT-4o on several math benchmarks.",
        "Microsoft has invested more than $13 billion in OpenAI, the maker of ChatGPT.",
        "AWS added DeepSeek-R1 to Amazon Bedrock for its customers.",
        "Google Cloud now offers Claude Opus 4 through Vertex AI.",
        "Should Airbnb switch to Qwen?",
        "Analysts say Airbnb should switch to Qwen if it wants to cut costs.",
        "I use Claude every day to clean up my notes.",
        "Andrej Karpathy said he now writes most of his code with Claude Code.",
        "Apple and OpenAI announced a partnership at WWDC.",
        "Analysts at Jefferies expect more companies to adopt Qwen next year.",
        "Samsung denied reports that it was replacing Gemini with Perplexity on its phones.",
        "Figure AI dropped OpenAI as a partner to develop its own models.",
    ],
)
def test_hard_negatives(extractor: ClaimExtractor, text: str) -> None:
    assert extractor.extract(text).claims == []


def test_the_company_in_the_next_sentence(extractor: ClaimExtractor) -> None:
    extraction = extractor.extract(
        "Airbnb Inc. has been unusually open about its AI plans. "
        "The company now relies heavily on Qwen, which executives call fast and cheap."
    )
    (claim,) = extraction.claims
    assert (claim.adopter, claim.model_family, claim.relation) == ("Airbnb", "Qwen", "adopts")
    assert claim.sentence_index == 1 and claim.evidence.startswith("The company")
    direct = extractor.extract("Airbnb now relies heavily on Qwen.").claims[0]
    assert claim.confidence < direct.confidence  # resolving "the company" is a guess


def test_an_unresolvable_anaphor_is_dropped(extractor: ClaimExtractor) -> None:
    assert extractor.extract("The company now relies heavily on Qwen.").claims == []


def test_the_company_named_after_the_clause(extractor: ClaimExtractor) -> None:
    text = "The ride-hailing company has swapped out GPT-4 for Claude in its chatbot, Lyft said."
    got = {(c.adopter, c.model_family, c.relation) for c in extractor.extract(text).claims}
    assert got == {("Lyft", "GPT", "drops"), ("Lyft", "Claude", "adopts")}


def test_who_a_filing_is_made_to_is_not_the_adopter(extractor: ClaimExtractor) -> None:
    text = (
        "The Hangzhou-based firm, which operates the Hikvision brand, said in a filing with the "
        "Shenzhen Stock Exchange that it had integrated DeepSeek-R1 into its platform."
    )
    got = {(c.adopter, c.model_family) for c in extractor.extract(text).claims}
    assert got == {("Hikvision", "DeepSeek")}


def test_a_nationality_and_a_public_body_name_it(extractor: ClaimExtractor) -> None:
    text = "The Australian government has banned DeepSeek from all federal systems."
    got = {(c.adopter, c.model_family, c.relation) for c in extractor.extract(text).claims}
    assert got == {("the Australian government", "DeepSeek", "drops")}
    assert extractor.extract("The Italian data protection authority blocked DeepSeek.").claims == []


@pytest.mark.parametrize(
    "text, adopter",
    [
        ("Geely's Zeekr brand has connected its in-car system to DeepSeek-R1.", "Zeekr"),
        (
            "The Pentagon's Chief Digital and AI Office said it would test Claude.",
            "Chief Digital and AI Office",
        ),
        ("Canva says its Magic Studio tools rely on models from OpenAI.", "Canva"),
    ],
)
def test_a_known_brand_acts_for_itself(extractor: ClaimExtractor, text: str, adopter) -> None:
    assert {c.adopter for c in extractor.extract(text).claims} == {adopter}


def test_places_listed_under_public_bodies_are_adopters(extractor: ClaimExtractor) -> None:
    text = "Several US states, including Texas and Virginia, have barred DeepSeek."
    got = {c.adopter for c in extractor.extract(text).claims if c.adopter_named}
    assert got == {"Texas", "Virginia"}


def test_we_at_a_known_organisation_later_in_the_clause(extractor: ClaimExtractor) -> None:
    text = "We've been running Mistral 7B in production at Hugging Face since January."
    got = {(c.adopter, c.model_family) for c in extractor.extract(text).claims}
    assert got == {("Hugging Face", "Mistral")}


def test_a_vendor_named_later_is_its_own_use(extractor: ClaimExtractor) -> None:
    text = "OpenAI introduced GPT-5 on Thursday. The company said ChatGPT would switch to it."
    assert extractor.extract(text).claims == []


def test_mentions_count_sentences_per_family(extractor: ClaimExtractor) -> None:
    extraction = extractor.extract(
        "Qwen3 is everywhere. Startups love Qwen3 and Qwen. DeepSeek-R1 is also popular. "
        "Claude Monet would not have cared."
    )
    mentions = {m.model_family: m for m in extraction.mentions}
    assert set(mentions) == {"Qwen", "DeepSeek"}
    assert mentions["Qwen"].model == "Qwen3" and mentions["Qwen"].sentences == 2
    assert (mentions["Qwen"].vendor, mentions["Qwen"].origin_country) == ("Alibaba", "CN")
    assert mentions["DeepSeek"].sentences == 1 and mentions["DeepSeek"].open_weights is True


def test_extract_many_keeps_order_and_handles_empty_text(extractor: ClaimExtractor) -> None:
    texts = ["Notion chose Claude.", "", "Nothing here.", "Klarna uses GPT-4o."]
    results = list(extractor.extract_many(texts))
    assert [sorted(triples(r)) for r in results] == [
        [("Notion", "Claude", "adopts")],
        [],
        [],
        [("Klarna", "GPT", "adopts")],
    ]
    with pytest.raises(TypeError, match="wants str texts"):
        list(extractor.extract_many([None]))  # type: ignore[list-item]


def test_get_extractor_is_cached_and_versioned() -> None:
    assert get_extractor("") is get_extractor("")
    assert get_extractor("").version.startswith("claims-")


def _extract_in_worker(text: str) -> list[tuple[str, str, str]]:
    return sorted(triples(get_extractor("").extract(text)))


@pytest.mark.slow
def test_constructible_in_a_worker_process() -> None:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        result = pool.submit(_extract_in_worker, "Klarna uses GPT-4o.").result(timeout=300)
    assert result == [("Klarna", "GPT", "adopts")]


def test_prefilter_changes_no_claims(extractor: ClaimExtractor) -> None:
    rows = load_set(DEV_SET)[::4]
    texts = [r["text"] for r in rows]
    full = ClaimExtractor(prefilter=False)
    assert list(extractor.extract_many(texts)) == list(full.extract_many(texts))


# --- the quality gate ----------------------------------------------------------------------
# Floors a little under what the rules reach (see the README); a regression fails here.


@pytest.fixture(scope="module")
def dev_report():
    return evaluate(ClaimExtractor(min_confidence=0.0), load_set(DEV_SET), MIN_CONFIDENCE)


def test_dev_set_is_big_and_hard() -> None:
    rows = load_set(DEV_SET)
    assert len(rows) >= 300
    assert sum(1 for r in rows if not r["claims"]) >= len(rows) / 3
    assert sum(1 for r in rows if len(r["text"].split(". ")) > 1) >= 15  # passages


def test_dev_set_quality_floors(dev_report) -> None:
    assert dev_report.overall.precision >= 0.96
    assert dev_report.overall.recall >= 0.83
    for relation in ("adopts", "drops", "evaluates"):
        assert dev_report.by_relation[relation].precision >= 0.9, relation
        assert dev_report.by_relation[relation].recall >= 0.75, relation


def test_confidence_means_something(dev_report) -> None:
    high, low = dev_report.high, dev_report.low
    assert high.tp + high.fp >= 50 and low.tp + low.fp >= 20
    assert high.precision > low.precision


def test_blind_set_quality_floors() -> None:
    report = evaluate(ClaimExtractor(min_confidence=0.0), load_set(BLIND_SET), MIN_CONFIDENCE)
    assert report.overall.precision >= 0.94
    assert report.overall.recall >= 0.79
