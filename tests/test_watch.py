"""`adoptwatch watch add/list/remove`, and names resolved through extraction's alias tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from adoptwatch.cli import main
from adoptwatch.extractors.names import (
    UnknownName,
    resolve_company,
    resolve_model_family,
    resolve_origin,
    resolve_vendor,
)


@pytest.mark.parametrize(
    ("typed", "family"),
    [("GPT-4o", "GPT"), ("qwen", "Qwen"), ("Qwen2.5-72B-Instruct", "Qwen"), ("Llama 3", "Llama")],
)
def test_a_model_name_resolves_to_its_family(typed: str, family: str) -> None:
    assert resolve_model_family(typed) == family


def test_companies_vendors_and_origins_resolve_through_the_alias_tables() -> None:
    assert resolve_company("Airbnb Inc.") == "Airbnb"
    assert resolve_company("AirBnB") == "Airbnb"
    # An adopter the gazetteer lacks but the facts name is found in any case.
    assert resolve_company("brightforge robotics", ["Brightforge Robotics"]) == (
        "Brightforge Robotics"
    )
    assert resolve_vendor("Alibaba Cloud") == "Alibaba"
    assert resolve_origin("cn") == "CN"


@pytest.mark.parametrize(
    ("resolve", "typed", "suggested"),
    [
        (resolve_model_family, "Quen", "Qwen"),
        (resolve_company, "Airbnbb", "Airbnb"),
        (resolve_vendor, "Anthropik", "Anthropic"),
    ],
)
def test_an_unknown_name_lists_close_matches(resolve, typed: str, suggested: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownName) as caught:
        resolve(typed)
    message = str(caught.value)
    assert "unknown" in message and repr(typed) in message
    assert "did you mean" in message and suggested in message


def test_an_unknown_origin_lists_the_known_codes() -> None:
    with pytest.raises(UnknownName, match="CN, DE, FR"):
        resolve_origin("XX")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["watch", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("backend", ["file", "sqlite"])
def test_watch_add_list_remove(tmp_path: Path, backend: str) -> None:
    db = (
        str(tmp_path / "watch.duckdb")
        if backend == "file"
        else f"ducklake:sqlite:{tmp_path / 'watch.sqlite'}"
    )
    code, out = run("add", "--company", "Airbnb Inc.", "--db", db)
    assert code == 0 and "watching company Airbnb (at least 1 outlet)" in out
    code, out = run("add", "--model", "GPT-4o", "--min-outlets", "2", "--db", db)
    assert code == 0 and "watching model GPT (at least 2 outlets)" in out
    assert run("add", "--vendor", "Alibaba Cloud", "--db", db)[0] == 0
    assert run("add", "--origin", "cn", "--db", db)[0] == 0
    # The same target again: one watch, its threshold changed.
    code, out = run("add", "--company", "airbnb", "--min-outlets", "3", "--db", db)
    assert code == 0 and "already watching" in out

    code, out = run("list", "--format", "json", "--db", db)
    assert code == 0
    listed = json.loads(out)
    assert [(w["kind"], w["value"], w["min_outlets"]) for w in listed] == [
        ("company", "Airbnb", 3),
        ("model", "GPT", 2),
        ("vendor", "Alibaba", 1),
        ("origin", "CN", 1),
    ]
    code, table = run("list", "--db", db)
    assert code == 0 and "4 watch(es)" in table and listed[1]["id"] in table

    code, out = run("remove", listed[1]["id"][:6], "--db", db)
    assert code == 0 and "removed model GPT" in out
    assert [w["value"] for w in json.loads(run("list", "--format", "json", "--db", db)[1])] == [
        "Airbnb",
        "Alibaba",
        "CN",
    ]
    code, out = run("remove", listed[1]["id"], "--db", db)
    assert code == 1 and "no single watch" in out


def test_watch_add_refuses_unknown_names_and_ambiguous_flags(tmp_path: Path) -> None:
    db = str(tmp_path / "watch.duckdb")
    code, out = run("add", "--model", "Quen", "--db", db)
    assert code == 1 and "unknown model 'Quen'; did you mean Qwen" in out
    code, out = run("add", "--model", "Qwen", "--vendor", "Alibaba", "--db", db)
    assert code == 2 and "exactly one of" in out
    code, out = run("add", "--model", "Qwen", "--min-outlets", "0", "--db", db)
    assert code == 2
    assert json.loads(run("list", "--format", "json", "--db", db)[1]) == []
