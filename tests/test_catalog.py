"""The knowledge files behind claims: the model catalog and the organisation gazetteer."""

from __future__ import annotations

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


def test_gazetteer_validation_names_the_bad_entry() -> None:
    data = tomllib.loads(DEFAULT_GAZETTEER.read_text(encoding="utf-8"))
    data["company"][0]["hosting"] = "sometimes"
    with pytest.raises(GazetteerError, match=r"\(Airbnb\): 'hosting' must be true or false"):
        parse_gazetteer(data, "companies.toml")
    data = tomllib.loads(DEFAULT_GAZETTEER.read_text(encoding="utf-8"))
    data["company"][0]["products"] = ["Fine", ""]
    with pytest.raises(GazetteerError, match=r"\(Airbnb\): 'products'"):
        parse_gazetteer(data, "companies.toml")


def test_products_name_their_owner_and_are_told_apart_from_aliases() -> None:
    gazetteer = default_gazetteer()
    assert gazetteer.normalise("Siri") == "Apple" and gazetteer.is_product("Siri")
    assert gazetteer.as_written("Siri") == "Apple"
    assert not gazetteer.is_product("Apple Inc.")
    # another name of the same organisation stays as the text writes it
    assert gazetteer.as_written("the Airbnb Inc.") == "Airbnb"
    assert gazetteer.as_written("HHS") == "HHS"
