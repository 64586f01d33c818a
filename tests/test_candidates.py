"""Candidate generation: model and organisation mentions, pairs, and what the classifier reads.

Every sentence here is written for these tests (self-written, never a quotation).
"""

from __future__ import annotations

import pytest

from adoptwatch.extractors.adopters import default_gazetteer
from adoptwatch.extractors.candidates import windows, within_lines
from adoptwatch.extractors.catalog import default_catalog
from adoptwatch.extractors.claims import build_nlp
from adoptwatch.extractors.mentions import (
    MAX_CONTEXT_CHARS,
    ModelMention,
    OrgMention,
    Pair,
    candidate_pairs,
    group_by_model,
    marked_model,
    model_mentions,
    org_mentions,
)
from adoptwatch.extractors.sentences import split_sentences

CATALOG = default_catalog()
GAZETTEER = default_gazetteer()


@pytest.fixture(scope="module")
def nlp():
    return build_nlp(classifier=False)


def models_in(text: str) -> list[tuple[str, str, bool]]:
    found = model_mentions(text, split_sentences(text), CATALOG)
    return [(m.surface, m.vendor.name, m.vendor_level) for m in found]


def pairs_in(nlp, text: str, title: str = "") -> set[tuple[str, str]]:
    from adoptwatch.extractors.claims import ClaimExtractor

    helper = ClaimExtractor.__new__(ClaimExtractor)
    helper.nlp, helper.catalog, helper.gazetteer = nlp, CATALOG, GAZETTEER
    out = set()
    for doc in nlp.pipe(helper.window_docs([(text, title)])):
        out |= {(p.org.name, p.model.surface) for p in doc._.aw_pairs}
    return out


def test_a_versioned_model_is_one_mention_of_its_family() -> None:
    found = model_mentions(
        "Brightwell moved its agents to Qwen2.5-72B-Instruct.",
        [(0, 51)],
        CATALOG,
    )
    assert [(m.surface, m.family.name if m.family else None) for m in found] == [
        ("Qwen2.5-72B-Instruct", "Qwen")
    ]


def test_a_vendor_alone_is_a_vendor_level_mention() -> None:
    assert models_in("The Lisbon insurer's claims bot is powered by OpenAI.") == [
        ("OpenAI", "OpenAI", True)
    ]


def test_a_vendor_before_its_own_model_is_part_of_that_mention() -> None:
    assert models_in("Tallow Bank deployed OpenAI's GPT-4o for its call centre.") == [
        ("GPT-4o", "OpenAI", False)
    ]


def test_a_big_vendor_counts_only_where_ai_words_surround_it() -> None:
    assert models_in("Harrow Foods moved its email to Google last spring.") == []
    assert models_in("Harrow Foods now uses Google's AI models for demand forecasts.") == [
        ("Google", "Google", True)
    ]


def test_organisations_and_descriptions_resolve_to_names() -> None:
    text = "Quillon Freight said on Monday that the logistics company had adopted Claude."
    models = model_mentions(text, split_sentences(text), CATALOG)
    orgs = org_mentions(text, [(0, 15, "ORG")], models, GAZETTEER, CATALOG)
    assert ("the logistics company", "Quillon Freight") in {(o.surface, o.name) for o in orgs}


def test_an_anaphor_with_nobody_before_it_takes_the_title() -> None:
    text = "The bank has started routing complaints through Gemini."
    models = model_mentions(text, split_sentences(text), CATALOG)
    orgs = org_mentions(
        text, [], models, GAZETTEER, CATALOG, title="Marlow Bank picks Gemini for complaints"
    )
    assert ("The bank", "Marlow Bank") in {(o.surface, o.name) for o in orgs}


def test_a_name_never_runs_from_a_headline_into_the_paragraph_under_it(nlp) -> None:
    text = "A new assistant at Orchard Labs\nOrchard Labs has adopted Mistral Large for tickets."
    names = {org for org, _ in pairs_in(nlp, text)}
    assert "Orchard Labs" in names
    assert not any("\n" in name or name.count("Orchard") > 1 for name in names)
    # The same holds for a name the tagger gives: it is cut at the line break.
    assert within_lines("Pine Co\nPine Co acts", [(0, 15, "ORG")]) == [
        (0, 7, "ORG"),
        (8, 15, "ORG"),
    ]


def test_first_words_that_name_nothing_are_not_organisations(nlp) -> None:
    names = {org for org, _ in pairs_in(nlp, "Therefore, Kestrel Labs adopted DeepSeek-V3.")}
    assert "Therefore" not in names
    assert "Kestrel Labs" in names


def test_a_vendor_is_never_paired_with_its_own_model(nlp) -> None:
    pairs = pairs_in(nlp, "Alibaba said Qwen3 now powers its shopping assistant.")
    assert ("Alibaba", "Qwen3") not in pairs


def test_pairs_more_than_one_sentence_apart_are_not_proposed() -> None:
    text = "Orrin Health runs Llama 3. It has clinics in Ohio. The board met on Tuesday."
    sentences = split_sentences(text)
    models = model_mentions(text, sentences, CATALOG)
    far = OrgMention(text.index("The board"), text.index("The board") + 9, "The board", "X", "caps")
    near = OrgMention(0, 12, "Orrin Health", "Orrin Health", "ner:ORG")
    pairs = candidate_pairs(text, sentences, [near, far], models, CATALOG)
    assert {p.org.surface for p in pairs} == {"Orrin Health"}


def test_windows_cover_only_sentences_near_a_model() -> None:
    text = " ".join(
        [
            "Rain fell all week.",
            "Nobody minded.",
            "Then Pell & Co said it would use Mistral Large.",
            "Shares rose.",
            "The harvest was late.",
        ]
    )
    [window] = windows(text, CATALOG)
    assert text[window.start : window.end] == (
        "Nobody minded. Then Pell & Co said it would use Mistral Large. Shares rose."
    )
    assert windows("A text about the weather, and nothing else.", CATALOG) == []


def _pair(text: str, org: str, model: str) -> Pair:
    o = OrgMention(
        text.index(org), text.index(org) + len(org), org, org, "ner:ORG", org, "organisation"
    )
    m = ModelMention(
        text.index(model), text.index(model) + len(model), model, CATALOG.vendors["OpenAI"], None
    )
    return Pair(o, m, (0, len(text)))


def test_one_marked_text_per_model_with_every_organisation_marked() -> None:
    text = "Fennick and Roe both replaced ChatGPT with Qwen, the firms said."
    pairs = [_pair(text, "Fennick", "ChatGPT"), _pair(text, "Roe", "ChatGPT")]
    [group] = group_by_model(pairs)
    marked = marked_model(text, group)
    assert marked.text == (
        "@ * organisation * Fennick @ and @ * organisation * Roe @ both replaced "
        "# * vendor * ChatGPT # with Qwen, the firms said."
    )
    assert marked.text[marked.model_at :].startswith("# * vendor * ChatGPT")
    assert [marked.text[a:].split(" @")[0] for a in marked.org_at] == [
        "@ * organisation * Fennick",
        "@ * organisation * Roe",
    ]


def test_a_long_context_is_cut_around_the_model_and_keeps_the_marks() -> None:
    filler = "The weather was mild and the roads were quiet that week. " * 30
    text = filler + "Grantley Mills adopted GPT-4o for quality checks. " + filler
    marked = marked_model(text, [_pair(text, "Grantley Mills", "GPT-4o")])
    marks = len("@ * organisation *  @# * vendor *  #") + 2
    assert len(marked.text) <= MAX_CONTEXT_CHARS + marks
    assert "@ * organisation * Grantley Mills @" in marked.text
    assert "# * vendor * GPT-4o #" in marked.text
