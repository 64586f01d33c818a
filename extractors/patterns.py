"""Adoption patterns: trigger words and their frames, governors, and noun classes.

Data lives in ``extractors/data/adoption.toml``, validated on load (:class:`PatternError`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from adoptwatch.errors import AdoptwatchError

DEFAULT_PATTERNS = Path(__file__).with_name("data") / "adoption.toml"
RELATIONS = ("adopts", "drops", "evaluates")
POS = ("verb", "noun", "adj")


class PatternError(AdoptwatchError):
    """The adoption pattern file is missing, not TOML, or has an invalid entry."""


@dataclass(frozen=True)
class Frame:
    lemma: str
    pos: str
    slots: dict[str, str]  # slot -> relation
    confidence: float
    hosting: bool


@dataclass(frozen=True)
class Patterns:
    frames: dict[tuple[str, str], Frame]  # (lemma, pos) -> frame
    governors: dict[str, frozenset[str]]
    nouns: dict[str, frozenset[str]]
    words: dict[str, frozenset[str]]

    def frame(self, lemma: str, pos: str) -> Frame | None:
        return self.frames.get((lemma, pos))


_GOVERNOR_KEYS = (
    "drops",
    "evaluates",
    "negates",
    "intends",
    "hypothetical_aux",
    "report_verbs",
    "hedges",
)
_WORD_KEYS = (
    "light_verbs",
    "light_nouns",
    "quantity_heads",
    "wrappers",
    "model_nouns",
    "copula_heads",
    "copula_owned_only",
    "superlatives",
    "generic_name_words",
    "access_givers",
    "access_takers",
    "pure_hosting",
    "maker_verbs",
    "instruct_verbs",
    "report_nouns",
    "predict",
    "partnership",
    "let_verbs",
    "prep_alternatives",
    "hosting_products",
    "product_anaphors",
    "default_nouns",
    "public_bodies",
)
_NOUN_KEYS = (
    "organisations",
    "people",
    "products",
    "model_heads",
    "hosting_places",
    "hosting_audiences",
)


def _string_list(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PatternError(f"{where}: must be a list of non-empty strings")
    return frozenset(value)


def parse_patterns(data: dict[str, Any], source: str = "<patterns>") -> Patterns:
    if data.get("schema") != 1:
        raise PatternError(f"{source}: expected schema = 1")
    frames: dict[tuple[str, str], Frame] = {}
    for i, row in enumerate(data.get("trigger", [])):
        where = f"{source} [[trigger]] #{i + 1}"
        if not isinstance(row, dict):
            raise PatternError(f"{where}: must be a table")
        unknown = set(row) - {"lemmas", "pos", "slots", "confidence", "hosting"}
        if unknown:
            raise PatternError(f"{where}: unknown keys {sorted(unknown)}")
        lemmas = _string_list(row.get("lemmas"), f"{where} lemmas")
        pos = row.get("pos")
        if pos not in POS:
            raise PatternError(f"{where}: pos must be one of {POS}, not {pos!r}")
        slots = row.get("slots")
        if not isinstance(slots, dict) or not slots:
            raise PatternError(f"{where}: slots must be a non-empty table")
        for slot, relation in slots.items():
            if relation not in RELATIONS:
                raise PatternError(
                    f"{where}: slot {slot!r} maps to {relation!r}, not one of {RELATIONS}"
                )
        confidence = row.get("confidence")
        if not isinstance(confidence, (int, float)) or not 0 < confidence <= 1:
            raise PatternError(f"{where}: confidence must be a number in (0, 1]")
        hosting = row.get("hosting", False)
        if not isinstance(hosting, bool):
            raise PatternError(f"{where}: hosting must be true or false")
        for lemma in lemmas:
            key = (lemma.lower(), pos)
            old = frames.get(key)
            merged = {**old.slots, **slots} if old else dict(slots)
            frames[key] = Frame(
                lemma.lower(),
                pos,
                merged,
                max(float(confidence), old.confidence if old else 0.0),
                hosting or (old.hosting if old else False),
            )
    if not frames:
        raise PatternError(f"{source}: no [[trigger]] entries")
    governors_table = data.get("governors")
    nouns_table = data.get("nouns")
    if not isinstance(governors_table, dict) or not isinstance(nouns_table, dict):
        raise PatternError(f"{source}: needs [governors] and [nouns] tables")
    governors = {}
    for key in _GOVERNOR_KEYS:
        if key not in governors_table:
            raise PatternError(f"{source} [governors]: missing {key!r}")
        governors[key] = frozenset(
            s.lower() for s in _string_list(governors_table[key], f"{source} governors.{key}")
        )
    nouns = {}
    for key in _NOUN_KEYS:
        if key not in nouns_table:
            raise PatternError(f"{source} [nouns]: missing {key!r}")
        values = _string_list(nouns_table[key], f"{source} nouns.{key}")
        nouns[key] = frozenset(s.lower() for s in values)
    words_table = data.get("words")
    if not isinstance(words_table, dict):
        raise PatternError(f"{source}: needs a [words] table")
    words = {}
    for key in _WORD_KEYS:
        if key not in words_table:
            raise PatternError(f"{source} [words]: missing {key!r}")
        words[key] = frozenset(
            s.lower() for s in _string_list(words_table[key], f"{source} words.{key}")
        )
    return Patterns(frames, governors, nouns, words)


def load_patterns(path: str | Path = DEFAULT_PATTERNS) -> Patterns:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PatternError(f"{path}: pattern file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PatternError(f"{path}: not valid TOML: {exc}") from exc
    return parse_patterns(data, str(path))


@lru_cache(maxsize=4)
def default_patterns() -> Patterns:
    return load_patterns(DEFAULT_PATTERNS)
