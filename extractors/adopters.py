"""The company gazetteer: known adopters, their aliases and products, and name normalisation.

Data lives in ``extractors/data/companies.toml``, validated on load (:class:`GazetteerError`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import ahocorasick

from adoptwatch.errors import AdoptwatchError

DEFAULT_GAZETTEER = Path(__file__).with_name("data") / "companies.toml"


class GazetteerError(AdoptwatchError):
    """The company gazetteer file is missing, not TOML, or has an invalid entry."""


@dataclass(frozen=True)
class Company:
    name: str
    hosting: bool = False


@dataclass
class Gazetteer:
    companies: dict[str, Company]  # lower-cased name or alias -> company
    legal_suffixes: tuple[str, ...]
    org_words: frozenset[str] = frozenset()
    first_names: frozenset[str] = frozenset()
    places: frozenset[str] = frozenset()  # lower-cased
    ambiguous: frozenset[str] = frozenset()  # names that are also words: not sentence-initial
    products: frozenset[str] = frozenset()  # lower-cased spellings of products ("siri", "alexa")
    _suffix_re: re.Pattern[str] | None = field(default=None, repr=False)

    _automaton: object = field(default=None, repr=False)
    _spellings: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        alt = "|".join(re.escape(s) for s in sorted(self.legal_suffixes, key=len, reverse=True))
        self._suffix_re = re.compile(rf"(?:,?\s+(?:{alt}))+$")
        automaton = ahocorasick.Automaton()
        for spelling in self._spellings:
            if (len(spelling) > 1 and spelling[0].isupper()) or spelling[:1].isdigit():
                automaton.add_word(spelling, spelling)
        if len(automaton):
            automaton.make_automaton()
            self._automaton = automaton

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Known organisation names in ``text`` as written (case-sensitive, whole words,
        longest first): (start, end, normalised name)."""
        if self._automaton is None:
            return []
        found: list[tuple[int, int, str]] = []
        for end_index, spelling in self._automaton.iter(text):  # type: ignore[attr-defined]
            start, end = end_index - len(spelling) + 1, end_index + 1
            if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "-_"):
                continue
            if end < len(text) and (text[end].isalnum() or text[end] in "_"):
                continue
            if spelling in self.ambiguous and not text[:start].strip(" \"'“‘([-—"):
                continue  # "Indeed, ...", "Target customers ..." at the start of a sentence
            found.append((start, end, self.companies[spelling.lower()].name))
        found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
        out: list[tuple[int, int, str]] = []
        last = -1
        for start, end, name in found:
            if start >= last:
                out.append((start, end, name))
                last = end
        return out

    def normalise(self, name: str) -> str:
        """The canonical form of an organisation name ("Airbnb Inc." -> "Airbnb")."""
        clean = clean_name(name)
        hit = self.companies.get(clean.lower())
        if hit:
            return hit.name
        assert self._suffix_re is not None
        stripped = self._suffix_re.sub("", clean).strip() or clean
        hit = self.companies.get(stripped.lower())
        if hit:
            return hit.name
        # "Uber Technologies", "Geely Auto", "Zoom Communications": a known company followed
        # by words that only say what kind of organisation it is
        words = stripped.split()
        while len(words) > 1 and words[-1] in self.org_words:
            words.pop()
            hit = self.companies.get(" ".join(words).lower())
            if hit:
                return hit.name
        return stripped

    def lookup(self, name: str) -> Company | None:
        return self.companies.get(self.normalise(name).lower())

    def is_hosting(self, name: str) -> bool:
        company = self.lookup(name)
        return bool(company and company.hosting)

    def known(self, name: str) -> bool:
        return self.lookup(name) is not None

    def as_written(self, name: str) -> str:
        """The name as the text writes it, tidied: no "the", possessive or legal suffix
        ("the Airbnb Inc.'s" -> "Airbnb"); a product's name gives its owner's."""
        clean = clean_name(name)
        if self.is_product(clean):
            return self.normalise(clean)
        assert self._suffix_re is not None
        return self._suffix_re.sub("", clean).strip() or clean

    def is_product(self, spelling: str) -> bool:
        """A product's spelling ("Siri", "Alexa"), not one of its owner's names: it normalises
        to its owner all the same."""
        return clean_name(spelling).lower() in self.products

    def is_place(self, name: str) -> bool:
        """A country, region, state or city: the small tagger calls many unknown company
        names GPE, so its label alone does not make a name a place."""
        clean = clean_name(name).lower()
        return clean in self.places or clean.removeprefix("the ") in self.places


def clean_name(name: str) -> str:
    name = re.sub(r"\s+", " ", name).strip(" ,;:\"'“”‘’")
    name = re.sub(r"(?:'s|’s|'|’)$", "", name)
    name = re.sub(r"^(?:the|The)\s+", "", name)
    return name.strip()


def parse_gazetteer(data: dict[str, Any], source: str = "<gazetteer>") -> Gazetteer:
    if data.get("schema") != 1:
        raise GazetteerError(f"{source}: expected schema = 1")
    suffixes = data.get("legal_suffixes", [])
    if not isinstance(suffixes, list) or not all(isinstance(s, str) and s for s in suffixes):
        raise GazetteerError(f"{source}: 'legal_suffixes' must be a list of strings")
    names = data.get("names", [])
    if not isinstance(names, list) or not all(isinstance(s, str) and s.strip() for s in names):
        raise GazetteerError(f"{source}: 'names' must be a list of non-empty strings")
    companies: dict[str, Company] = {}
    spellings: list[str] = []
    products: set[str] = set()
    for name in names:
        companies.setdefault(name.lower(), Company(name))
        spellings.append(name)
    seen_rows: set[str] = set()
    for i, row in enumerate(data.get("company", [])):
        where = f"{source} [[company]] #{i + 1}"
        if not isinstance(row, dict):
            raise GazetteerError(f"{where}: must be a table")
        unknown = set(row) - {"name", "aliases", "products", "hosting"}
        if unknown:
            raise GazetteerError(f"{where}: unknown keys {sorted(unknown)}")
        name = row.get("name")
        if not isinstance(name, str) or not name.strip():
            raise GazetteerError(f"{where}: 'name' must be a non-empty string")
        aliases = row.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
            raise GazetteerError(f"{where} ({name}): 'aliases' must be a list of strings")
        owned = row.get("products", [])
        if not isinstance(owned, list) or not all(isinstance(p, str) and p for p in owned):
            raise GazetteerError(f"{where} ({name}): 'products' must be a list of strings")
        hosting = row.get("hosting", False)
        if not isinstance(hosting, bool):
            raise GazetteerError(f"{where} ({name}): 'hosting' must be true or false")
        company = Company(name, hosting)
        if name in seen_rows:
            raise GazetteerError(f"{where} ({name}): a second [[company]] with this name")
        seen_rows.add(name)
        for key in (name, *aliases, *owned):
            companies[key.lower()] = company
            spellings.append(key)
        products.update(p.lower() for p in owned)
    org_words = data.get("org_words", [])
    if not isinstance(org_words, list) or not all(isinstance(w, str) and w for w in org_words):
        raise GazetteerError(f"{source}: 'org_words' must be a list of strings")
    first_names = data.get("first_names", [])
    if not isinstance(first_names, list) or not all(isinstance(w, str) and w for w in first_names):
        raise GazetteerError(f"{source}: 'first_names' must be a list of strings")
    places = data.get("places", [])
    if not isinstance(places, list) or not all(isinstance(w, str) and w for w in places):
        raise GazetteerError(f"{source}: 'places' must be a list of strings")
    ambiguous = data.get("ambiguous", [])
    if not isinstance(ambiguous, list) or not all(isinstance(w, str) and w for w in ambiguous):
        raise GazetteerError(f"{source}: 'ambiguous' must be a list of strings")
    return Gazetteer(
        companies,
        tuple(suffixes),
        frozenset(org_words),
        frozenset(first_names),
        frozenset(p.lower() for p in places),
        frozenset(ambiguous),
        frozenset(products),
        _spellings=tuple(dict.fromkeys(spellings)),
    )


def load_gazetteer(path: str | Path = DEFAULT_GAZETTEER) -> Gazetteer:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise GazetteerError(f"{path}: gazetteer file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise GazetteerError(f"{path}: not valid TOML: {exc}") from exc
    return parse_gazetteer(data, str(path))


@lru_cache(maxsize=4)
def default_gazetteer() -> Gazetteer:
    return load_gazetteer(DEFAULT_GAZETTEER)
