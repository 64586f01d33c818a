"""Names a user types, resolved to the names extraction stores, through the same alias
tables: companies through the gazetteer (``data/companies.toml``: "Airbnb Inc." is
Airbnb), model families and vendors through the catalog (``data/catalog.toml``: "GPT-4o"
is the GPT family, "Alibaba Cloud" the vendor Alibaba), origins as the ISO country codes
the catalog's vendors carry.

An unknown name raises :class:`UnknownName`, whose message lists the closest known
names (difflib's ratio over the canonical names and their aliases).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from adoptwatch.errors import AdoptwatchError
from adoptwatch.extractors.adopters import Gazetteer, default_gazetteer
from adoptwatch.extractors.catalog import Catalog, default_catalog, model_key

CLOSE_MATCHES = 5


class UnknownName(AdoptwatchError):
    """A company, model, vendor or origin the alias tables and the stored facts lack."""


def _close(name: str, known: Iterable[str]) -> list[str]:
    """The known names nearest ``name`` (case-insensitive), each once, nearest first."""
    by_lower: dict[str, str] = {}
    for k in known:
        by_lower.setdefault(k.lower(), k)
    hits = difflib.get_close_matches(name.lower(), list(by_lower), n=CLOSE_MATCHES, cutoff=0.6)
    return list(dict.fromkeys(by_lower[h] for h in hits))


def _unknown(kind: str, name: str, close: Sequence[str], hint: str) -> UnknownName:
    shown = name.strip()[:80]
    maybe = f"; did you mean {', '.join(close)}?" if close else ""
    return UnknownName(f"unknown {kind} {shown!r}{maybe} ({hint})")


def resolve_company(
    name: str, stored_adopters: Sequence[str] = (), gazetteer: Gazetteer | None = None
) -> str:
    """The adopter name extraction stores for ``name``: a gazetteer company or alias
    ("Airbnb Inc." -> "Airbnb"), or an adopter already in the facts (any case)."""
    gazetteer = gazetteer or default_gazetteer()
    company = gazetteer.lookup(name)
    if company is not None:
        return company.name
    normalised = gazetteer.normalise(name)
    stored = {a.lower(): a for a in stored_adopters}
    for candidate in (name.strip(), normalised):
        if candidate.lower() in stored:
            return stored[candidate.lower()]
    known = [*stored.values(), *(c.name for c in gazetteer.companies.values())]
    raise _unknown(
        "company",
        name,
        _close(normalised, known),
        "companies come from extractors/data/companies.toml and the adopters already "
        'reported; `adoptwatch query "SELECT DISTINCT adopter FROM adoption_facts"` lists '
        "the latter",
    )


def resolve_model_family(name: str, catalog: Catalog | None = None) -> str:
    """The model family of a family or model name ("GPT-4o" -> "GPT", "qwen" -> "Qwen")."""
    catalog = catalog or default_catalog()
    wanted = name.strip()
    by_lower = {f.lower(): f for f in catalog.families}
    if wanted.lower() in by_lower:
        return by_lower[wanted.lower()]
    key = model_key(wanted)
    for family in catalog.families.values():
        if key in family.models:
            return family.name
    # A name the extractor would read as a mention of one family, the whole name long.
    hits = [h for h in catalog.scan(wanted) if not h.standin]
    if len(hits) == 1 and hits[0].end - hits[0].start >= len(wanted) - 1:
        return hits[0].family.name
    known = [
        *catalog.families,
        *(model for f in catalog.families.values() for model, _open in f.models.values()),
    ]
    raise _unknown(
        "model",
        name,
        _close(wanted, known),
        "families and models come from extractors/data/catalog.toml",
    )


def resolve_vendor(name: str, catalog: Catalog | None = None) -> str:
    """The vendor a name or alias refers to ("Alibaba Cloud" -> "Alibaba")."""
    catalog = catalog or default_catalog()
    vendor = catalog.vendor_named(name.strip())
    if vendor is not None:
        return vendor.name
    known = [a for v in catalog.vendors.values() for a in (v.name, *v.aliases)]
    raise _unknown(
        "vendor",
        name,
        _close(name.strip(), known),
        "vendors come from extractors/data/catalog.toml",
    )


def resolve_origin(code: str, catalog: Catalog | None = None) -> str:
    """An origin country: the ISO 3166 code of some catalog vendor's country ("cn" -> "CN")."""
    catalog = catalog or default_catalog()
    countries = sorted({v.country for v in catalog.vendors.values()})
    wanted = code.strip().upper()
    if wanted in countries:
        return wanted
    raise UnknownName(
        f"unknown origin {code.strip()[:20]!r}: give the two-letter ISO country code of a "
        f"model vendor, one of {', '.join(countries)}"
    )
