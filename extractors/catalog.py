"""The model catalog: families, models and vendors, and finding them in text.

The catalog is a data file (``extractors/data/catalog.toml``), validated on load: a bad entry
raises :class:`CatalogError` naming the file, the table and the key. :meth:`Catalog.scan`
finds model mentions in plain text with one Aho-Corasick pass over every catalog term plus a
version grammar ("Qwen" + "2.5-72B-Instruct"), so it is cheap enough to run over every article
and decides which sentences the spaCy pipeline has to look at.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import ahocorasick

from adoptwatch.errors import AdoptwatchError

DATA_DIR = Path(__file__).with_name("data")
DEFAULT_CATALOG = DATA_DIR / "catalog.toml"

_ISO_COUNTRY = re.compile(r"^[A-Z]{2}$")
_WORD_CHAR = re.compile(r"[\w]")
_YEAR = re.compile(r"(?:19|20)\d\d$")


class CatalogError(AdoptwatchError):
    """The catalog file is missing, not TOML, or has an invalid entry."""


@dataclass(frozen=True)
class Vendor:
    name: str
    country: str
    aliases: tuple[str, ...]
    owns: tuple[str, ...] = ()
    flagship: str | None = None
    hosting: bool = False
    stands_alone: bool = False  # the name alone can mean its models ("switched from OpenAI")


@dataclass(frozen=True)
class Family:
    name: str
    vendor: Vendor
    open_weights: bool
    terms: tuple[str, ...]
    context_terms: tuple[str, ...]
    words: tuple[str, ...]
    models: dict[str, tuple[str, bool]]  # lookup key -> (model name, open weights)
    products: tuple[str, ...]
    exact_case: frozenset[str]

    def model_for(self, surface: str) -> tuple[str, bool]:
        """(catalog model name or "", open weights) for a surface form of this family."""
        hit = self.models.get(model_key(surface))
        if hit:
            return hit
        return "", self.open_weights


@dataclass(frozen=True)
class ModelHit:
    """One model mention in a text (character offsets into that text)."""

    start: int
    end: int
    surface: str
    family: Family
    model: str  # catalog model name when the surface names a known model, else ""
    open_weights: bool
    versioned: bool  # a version suffix or a full model name was matched
    standin: bool = False  # "Anthropic's models": the vendor stands for its flagship family
    context: bool = True  # False: an ambiguous name with no AI context; claims only, no mention
    bare: bool = False  # a lab's name alone ("moved from OpenAI to Anthropic"): switches only


@dataclass(frozen=True)
class _Term:
    text: str
    family: Family
    needs_context: bool
    exact: bool


def model_key(surface: str) -> str:
    return re.sub(r"[\s\-_‑·]+", "", surface.lower())


@dataclass
class Catalog:
    families: dict[str, Family]
    vendors: dict[str, Vendor]
    version_re: re.Pattern[str]
    words: frozenset[str]
    lower_words: frozenset[str]
    ai_context: tuple[str, ...]
    vendor_model_nouns: tuple[str, ...]
    source: str = ""
    _automaton: Any = field(default=None, repr=False)
    _vendor_alias: dict[str, Vendor] = field(default_factory=dict, repr=False)
    _ai_context_re: re.Pattern[str] | None = field(default=None, repr=False)
    _alias_re: re.Pattern[str] | None = field(default=None, repr=False)
    _any_alias_re: re.Pattern[str] | None = field(default=None, repr=False)
    _list_sep_re: re.Pattern[str] | None = field(default=None, repr=False)
    _after_list_re: re.Pattern[str] | None = field(default=None, repr=False)
    _noun_from_re: re.Pattern[str] | None = field(default=None, repr=False)
    _hyphen_re: re.Pattern[str] | None = field(default=None, repr=False)
    _vendor_context_re: dict[str, re.Pattern[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        automaton = ahocorasick.Automaton()
        by_key: dict[str, list[_Term]] = {}
        for family in self.families.values():
            for text, needs_context in [(t, False) for t in family.terms] + [
                (t, True) for t in family.context_terms
            ]:
                term = _Term(text, family, needs_context, text in family.exact_case)
                by_key.setdefault(text.lower(), []).append(term)
        for key, terms in by_key.items():
            automaton.add_word(key, (len(key), tuple(terms)))
        automaton.make_automaton()
        self._automaton = automaton
        for vendor in self.vendors.values():
            for alias in (vendor.name, *vendor.aliases):
                self._vendor_alias.setdefault(alias.lower(), vendor)
        self._ai_context_re = re.compile(
            r"(?<![\w-])(?:" + "|".join(re.escape(w) for w in self.ai_context) + r")(?![\w-])"
        )
        standin_vendors = [
            a
            for v in self.vendors.values()
            if v.flagship
            for a in (v.name, *v.aliases)
            if len(a) > 2 and any(ch.isupper() for ch in a)
        ]
        alias_alt = "|".join(re.escape(a) for a in sorted(standin_vendors, key=len, reverse=True))
        noun_alt = "|".join(
            re.escape(n) for n in sorted(self.vendor_model_nouns, key=len, reverse=True)
        )
        adjectives = (
            r"(?:(?:own|latest|new|newest|flagship|open|open-source|open-weight|cheaper|"
            r"cheap|powerful|Chinese|American|French|generative|AI|frontier|homegrown|"
            r"proprietary|in-house|advanced|top|best)\s+)*"
        )
        # Stand-in phrases are found in linear time: each vendor name is extended over a
        # short list of further vendor names ("OpenAI, Anthropic and Mistral") by anchored
        # matches, never by one regex with nested repetition (which backtracks
        # catastrophically on long lists).
        self._alias_re = re.compile(rf"(?<![\w-])(?:{alias_alt})(?![\w-])")
        self._list_sep_re = re.compile(
            r"(?:'s|’s)?(?:\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|&|as well as|along with|plus)\s+)"
        )
        self._after_list_re = re.compile(
            rf"(?:'s|’s)?(?:\s+{adjectives}(?:{noun_alt})(?![\w-])|-(?:powered|based|built|driven)\b)"
        )
        self._hyphen_re = re.compile(
            rf"(?<![\w-])(?:{alias_alt})(?=-(?:powered|based|built|driven)\b)"
        )
        self._noun_from_re = re.compile(
            rf"(?<![\w-])(?:{noun_alt})\s+(?:from|by|developed by|made by|built by|of)\s+"
        )
        for family in self.families.values():
            aliases = {family.vendor.name, *family.vendor.aliases}
            self._vendor_context_re[family.name] = re.compile(
                r"(?<![\w-])(?:"
                + "|".join(re.escape(a) for a in sorted(aliases, key=len, reverse=True))
                + r")(?![\w-])"
            )

    # --- lookups ---------------------------------------------------------------------------

    def vendor_alias_re(self) -> re.Pattern[str]:
        """Every vendor's name and aliases, case-sensitive, as whole words (a hyphen may
        follow: "an OpenAI-powered bot")."""
        if self._any_alias_re is None:
            aliases = [
                a
                for v in self.vendors.values()
                for a in (v.name, *v.aliases)
                if len(a) > 1 and any(ch.isupper() for ch in a)
            ]
            alt = "|".join(re.escape(a) for a in sorted(set(aliases), key=len, reverse=True))
            self._any_alias_re = re.compile(rf"(?<![\w-])(?:{alt})(?!\w)")
        return self._any_alias_re

    def vendor_named(self, name: str) -> Vendor | None:
        """The vendor an organisation name refers to, if any ("Alibaba Cloud" -> Alibaba)."""
        return self._vendor_alias.get(name.lower())

    def owned_by(self, name: str) -> Vendor | None:
        """The vendor that is or owns ``name`` ("Instagram" -> Meta), if any."""
        low = name.lower()
        vendor = self._vendor_alias.get(low)
        if vendor:
            return vendor
        for vendor in self.vendors.values():
            if any(low == o.lower() for o in vendor.owns):
                return vendor
        return None

    def family_named(self, name: str) -> Family | None:
        return self.families.get(name)

    # --- scanning --------------------------------------------------------------------------

    def has_candidates(self, text: str) -> bool:
        """Cheap test: does the text contain any catalog term or vendor at all?"""
        low = text.lower()
        for _ in self._automaton.iter(low):
            return True
        return any(alias in low for alias in self._vendor_alias if len(alias) > 3)

    def scan(
        self,
        text: str,
        sentences: Sequence[tuple[int, int]] | None = None,
        *,
        standins: bool = True,
    ) -> list[ModelHit]:
        """Model mentions in ``text``, in order, without overlaps.

        ``sentences`` are (start, end) offsets; ambiguous terms ("Claude", "Gemini", "R1")
        count only with a version suffix, the vendor or AI vocabulary in their sentence, or an
        unambiguous mention of the same family elsewhere in the text.
        """
        if sentences is None:
            sentences = [(0, len(text))]
        low = text.lower()
        raw: dict[int, tuple[int, tuple[_Term, ...]]] = {}
        for end_index, (length, terms) in self._automaton.iter(low):
            start = end_index - length + 1
            best = raw.get(start)
            if best is None or best[0] < length:
                raw[start] = (length, terms)
        candidates: list[tuple[int, int, _Term, bool]] = []
        for start in sorted(raw):
            length, terms = raw[start]
            if start > 0 and (
                _WORD_CHAR.match(text[start - 1])
                or (text[start - 1] in "-'’" and start > 1 and text[start - 2].isalpha())
            ):
                continue
            surface = text[start : start + length]
            for term in terms:
                if not self._case_ok(surface, term):
                    continue
                end, pieces = self._extend(text, start + length, term)
                if end < len(text) and (
                    _WORD_CHAR.match(text[end]) or (text[end] == "." and _next_is_word(text, end))
                ):
                    continue
                candidates.append((start, end, term, pieces > 0))
                break
        hits: list[ModelHit] = []
        last_end = -1
        strong_families = {c[2].family.name for c in candidates if not c[2].needs_context or c[3]}
        sentence_of = _SentenceIndex(sentences)
        ai_text = len(self._ai_context_re.findall(text)) >= 3 if candidates else False
        for start, end, term, versioned in sorted(candidates, key=lambda c: (c[0], -c[1])):
            if start < last_end:
                continue
            family = term.family
            context = True
            if term.needs_context and not versioned:
                s_start, s_end = sentence_of.span(start)
                verdict = self._context(text, start, end, s_start, s_end, family, strong_families)
                if verdict == "reject":
                    continue
                context = verdict == "ok" or ai_text
            surface = text[start:end]
            model, open_weights = family.model_for(surface)
            hits.append(
                ModelHit(
                    start,
                    end,
                    surface,
                    family,
                    model,
                    open_weights,
                    versioned or bool(model and model_key(model) != model_key(term.text)),
                    context=context,
                )
            )
            last_end = end
        if standins:
            hits = self._add_standins(text, hits)
        return hits

    def _case_ok(self, surface: str, term: _Term) -> bool:
        if surface == term.text:
            return True
        if term.exact:
            return False
        if term.text.islower():
            return surface.isupper() or surface == term.text
        return surface[0].isupper()

    def _extend(self, text: str, pos: int, term: _Term) -> tuple[int, int]:
        """Extend a term over version pieces and variant words; (end, pieces matched)."""
        pieces = 0
        words = self.words | set(term.family.words)
        while pieces < 6 and pos < len(text):
            ch = text[pos]
            if ch == "+" and pieces:
                pos += 1
                continue
            if ch.isdigit() and (text[pos - 1].isalpha() or text[pos - 1] == "."):
                m = self.version_re.match(text, pos)
                if m and m.end() > pos:
                    pos = m.end()
                    pieces += 1
                    continue
                break
            if ch not in "- _‑":
                break
            if ch == " " and text[pos + 1 : pos + 2] in ("", " "):
                break
            nxt = pos + 1
            m = self.version_re.match(text, nxt)
            if m and m.end() > nxt and not _WORD_CHAR.match(text[m.end() : m.end() + 1] or " "):
                piece = m.group(0)
                if ch == " " and _YEAR.match(piece):
                    break
                pos = m.end()
                pieces += 1
                continue
            wm = re.match(r"[A-Za-z][A-Za-z0-9]*(?:-[Ll]ite)?", text[nxt:])
            if not wm:
                break
            word = wm.group(0)
            if word.lower() not in words:
                break
            if ch == " " and not (word[0].isupper() or word.lower() in self.lower_words):
                break
            pos = nxt + len(word)
            pieces += 1
        return pos, pieces

    def _context(
        self,
        text: str,
        start: int,
        end: int,
        s_start: int,
        s_end: int,
        family: Family,
        strong_families: set[str],
    ) -> str:
        """ "ok", "weak" (no AI context: a claim may still use it) or "reject" (a person)."""
        # "Claude Monet", "Kimi Raikkonen": a capitalised word glued after the name is a person.
        after = re.match(r"\s+([A-Z][\w’'-]*)", text[end:s_end])
        if after and after.group(1).lower() not in self.words | set(family.words):
            word = after.group(1)
            if not word.endswith(("'s", "’s")) and word not in ("AI", "API", "LLM"):
                return "reject"
        before = re.search(r"([A-Z][\w.]*)\s+$", text[s_start:start])
        if before and not self.vendor_named(before.group(1).rstrip(".")):
            head = text[s_start:start].rstrip()
            prev_is_first_word = head == before.group(1)
            if not prev_is_first_word and not before.group(1).endswith(("'s", "’s")):
                return "reject"
        sentence = text[s_start:s_end]
        if family.name in strong_families:
            return "ok"
        if self._vendor_context_re[family.name].search(sentence):
            return "ok"
        return "ok" if self._ai_context_re.search(sentence) else "weak"

    def _vendor_run(self, text: str, first: re.Match[str]) -> list[re.Match[str]]:
        """``first`` and the vendor names listed right after it (at most eight)."""
        assert self._alias_re is not None and self._list_sep_re is not None
        run = [first]
        while len(run) < 8:
            sep = self._list_sep_re.match(text, run[-1].end())
            nxt = self._alias_re.match(text, sep.end()) if sep else None
            if nxt is None:
                break
            run.append(nxt)
        return run

    def _add_standins(self, text: str, hits: list[ModelHit]) -> list[ModelHit]:
        """Vendor names standing for their flagship family: "Anthropic's models", "a mix of
        OpenAI and Anthropic models", "models from DeepSeek and Zhipu". Each vendor name in
        such a phrase becomes a hit of its flagship family."""
        assert self._alias_re is not None
        extra: list[ModelHit] = []
        occupied = bytearray(len(text) + 1)
        for h in hits:
            occupied[h.start : h.end] = b"\x01" * (h.end - h.start)
        groups: list[list[re.Match[str]]] = []
        assert self._hyphen_re is not None
        groups.extend([m] for m in self._hyphen_re.finditer(text))  # "an OpenAI-based bot"
        starts: set[int] = set()
        for m in self._noun_from_re.finditer(text):  # "models from DeepSeek and Zhipu"
            first = self._alias_re.match(text, m.end())
            if first is not None:
                groups.append(self._vendor_run(text, first))
                starts.add(first.start())
        for a in self._alias_re.finditer(text):  # "OpenAI and Anthropic models"
            if a.start() in starts:
                continue
            run = self._vendor_run(text, a)
            assert self._after_list_re is not None
            if self._after_list_re.match(text, run[-1].end()):
                groups.append(run)
        for run in groups:
            for a in run:
                start, end = a.start(), a.end()
                if any(occupied[start:end]):
                    continue
                vendor = self.vendor_named(a.group(0))
                if vendor is None or vendor.flagship is None:
                    continue
                family = self.families.get(vendor.flagship)
                if family is None:
                    continue
                occupied[start:end] = b"\x01" * (end - start)
                extra.append(
                    ModelHit(
                        start, end, text[start:end], family, "", family.open_weights, False, True
                    )
                )
        for a in self._alias_re.finditer(text):
            start, end = a.start(), a.end()
            if any(occupied[start:end]):
                continue
            vendor = self.vendor_named(a.group(0))
            if vendor is None or not vendor.stands_alone or vendor.flagship is None:
                continue
            family = self.families[vendor.flagship]
            occupied[start:end] = b"\x01" * (end - start)
            extra.append(
                ModelHit(
                    start,
                    end,
                    text[start:end],
                    family,
                    "",
                    family.open_weights,
                    False,
                    True,
                    bare=True,
                )
            )
        if not extra:
            return hits
        return sorted(hits + extra, key=lambda h: h.start)


class _SentenceIndex:
    def __init__(self, sentences: Sequence[tuple[int, int]]) -> None:
        self.sentences = list(sentences)
        self.starts = [s for s, _ in self.sentences]

    def span(self, offset: int) -> tuple[int, int]:
        import bisect

        i = bisect.bisect_right(self.starts, offset) - 1
        if i < 0:
            return self.sentences[0] if self.sentences else (0, 0)
        return self.sentences[i]


def _next_is_word(text: str, dot: int) -> bool:
    return dot + 1 < len(text) and text[dot + 1].isalnum()


# --- loading and validation ----------------------------------------------------------------


def _require(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise CatalogError(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        raise CatalogError(f"{where}: {key!r} must be a non-empty {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def _strings(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CatalogError(f"{where}: {key!r} must be a list of non-empty strings")
    return tuple(value)


_VENDOR_KEYS = {"name", "country", "aliases", "owns", "flagship", "hosting", "stands_alone"}
_FAMILY_KEYS = {
    "name",
    "vendor",
    "open_weights",
    "terms",
    "context_terms",
    "words",
    "models",
    "products",
    "exact_case",
}


def parse_catalog(data: dict[str, Any], source: str = "<catalog>") -> Catalog:
    """Build a :class:`Catalog` from parsed TOML, validating every entry."""
    if data.get("schema") != 1:
        raise CatalogError(f"{source}: expected schema = 1")
    matching = data.get("matching")
    if not isinstance(matching, dict):
        raise CatalogError(f"{source}: missing [matching] table")
    try:
        version_re = re.compile(_require(matching, "version", str, f"{source} [matching]"))
    except re.error as exc:
        raise CatalogError(f"{source} [matching]: 'version' is not a valid regex: {exc}") from exc
    vendors: dict[str, Vendor] = {}
    for i, row in enumerate(data.get("vendor", [])):
        where = f"{source} [[vendor]] #{i + 1}"
        if not isinstance(row, dict):
            raise CatalogError(f"{where}: must be a table")
        unknown = set(row) - _VENDOR_KEYS
        if unknown:
            raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")
        name = _require(row, "name", str, where)
        where = f"{source} vendor {name!r}"
        country = _require(row, "country", str, where)
        if not _ISO_COUNTRY.match(country):
            raise CatalogError(f"{where}: country {country!r} is not an ISO 3166-1 alpha-2 code")
        if name in vendors:
            raise CatalogError(f"{where}: duplicate vendor")
        hosting = row.get("hosting", False)
        if not isinstance(hosting, bool):
            raise CatalogError(f"{where}: 'hosting' must be true or false")
        flagship = row.get("flagship")
        if flagship is not None and not isinstance(flagship, str):
            raise CatalogError(f"{where}: 'flagship' must be a string")
        stands_alone = row.get("stands_alone", False)
        if not isinstance(stands_alone, bool):
            raise CatalogError(f"{where}: 'stands_alone' must be true or false")
        if stands_alone and not flagship:
            raise CatalogError(f"{where}: 'stands_alone' needs a 'flagship' family")
        vendors[name] = Vendor(
            name,
            country,
            _strings(row, "aliases", where),
            _strings(row, "owns", where),
            flagship,
            hosting,
            stands_alone,
        )
    if not vendors:
        raise CatalogError(f"{source}: no [[vendor]] entries")
    families: dict[str, Family] = {}
    for i, row in enumerate(data.get("family", [])):
        where = f"{source} [[family]] #{i + 1}"
        if not isinstance(row, dict):
            raise CatalogError(f"{where}: must be a table")
        unknown = set(row) - _FAMILY_KEYS
        if unknown:
            raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")
        name = _require(row, "name", str, where)
        where = f"{source} family {name!r}"
        if name in families:
            raise CatalogError(f"{where}: duplicate family")
        vendor_name = _require(row, "vendor", str, where)
        if vendor_name not in vendors:
            raise CatalogError(f"{where}: vendor {vendor_name!r} is not a [[vendor]] name")
        open_weights = _require(row, "open_weights", bool, where)
        terms = _strings(row, "terms", where)
        context_terms = _strings(row, "context_terms", where)
        if not terms and not context_terms:
            raise CatalogError(f"{where}: needs at least one of 'terms' or 'context_terms'")
        exact = frozenset(_strings(row, "exact_case", where))
        stray = exact - set(terms) - set(context_terms)
        if stray:
            raise CatalogError(f"{where}: exact_case names unknown terms {sorted(stray)}")
        models: dict[str, tuple[str, bool]] = {}
        raw_models = row.get("models", [])
        if not isinstance(raw_models, list) or not raw_models:
            raise CatalogError(f"{where}: 'models' must be a non-empty list")
        for j, entry in enumerate(raw_models):
            if isinstance(entry, str):
                model_name, model_open = entry, open_weights
            elif isinstance(entry, dict):
                model_name = _require(entry, "name", str, f"{where} model #{j + 1}")
                model_open = entry.get("open_weights", open_weights)
                if not isinstance(model_open, bool) or set(entry) - {"name", "open_weights"}:
                    raise CatalogError(
                        f"{where} model {model_name!r}: only name and open_weights (bool) allowed"
                    )
            else:
                raise CatalogError(f"{where} model #{j + 1}: must be a string or a table")
            models[model_key(model_name)] = (model_name, model_open)
        families[name] = Family(
            name=name,
            vendor=vendors[vendor_name],
            open_weights=open_weights,
            terms=terms,
            context_terms=context_terms,
            words=tuple(w.lower() for w in _strings(row, "words", where)),
            models=models,
            products=_strings(row, "products", where),
            exact_case=exact,
        )
    if not families:
        raise CatalogError(f"{source}: no [[family]] entries")
    for vendor in vendors.values():
        if vendor.flagship and vendor.flagship not in families:
            raise CatalogError(
                f"{source} vendor {vendor.name!r}: flagship {vendor.flagship!r} is not a family"
            )
    words = _strings(matching, "words", f"{source} [matching]")
    return Catalog(
        families=families,
        vendors=vendors,
        version_re=version_re,
        words=frozenset(w.lower() for w in words),
        lower_words=frozenset(_strings(matching, "lower_words", f"{source} [matching]")),
        ai_context=_strings(matching, "ai_context", f"{source} [matching]"),
        vendor_model_nouns=_strings(matching, "vendor_model_nouns", f"{source} [matching]"),
        source=source,
    )


def load_catalog(path: str | Path = DEFAULT_CATALOG) -> Catalog:
    """Read and validate a catalog TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"{path}: catalog file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from exc
    return parse_catalog(data, str(path))


@lru_cache(maxsize=4)
def default_catalog() -> Catalog:
    return load_catalog(DEFAULT_CATALOG)


def count_models(catalog: Catalog) -> int:
    """Models and families in the catalog (each family counted once, plus its models)."""
    return sum(1 + len(f.models) for f in catalog.families.values())


def iter_terms(catalog: Catalog) -> Iterable[str]:
    for family in catalog.families.values():
        yield from family.terms
        yield from family.context_terms
