"""Mentions of models, vendors and organisations in a text, and the candidate pairs built
from them.

A *candidate pair* is one organisation mention and one model (or vendor) mention close enough
in the text that one might adopt the other. The pair classifier (:mod:`extractors.pair_model`)
decides each pair; this module only proposes them, so it aims for recall. Both the extractor
and the training code (``training/``) build pairs here, so what the model was trained on is
exactly what it sees at run time.

Offsets are character offsets into the text given. Sentences come from
:func:`extractors.sentences.split_sentences`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from adoptwatch.extractors.adopters import Gazetteer, clean_name
from adoptwatch.extractors.catalog import Catalog, Family, Vendor

# NER labels whose spans may be adopters: the small pipeline calls many company names
# PRODUCT, GPE, PERSON or WORK_OF_ART, and public bodies are GPE or ORG.
ADOPTER_LABELS = frozenset(
    {"ORG", "PRODUCT", "GPE", "NORP", "PERSON", "FAC", "WORK_OF_ART", "LOC", "EVENT", "LAW"}
)
# Labels good enough to be an antecedent of "the company" / "it".
ANTECEDENT_LABELS = frozenset({"ORG", "PRODUCT", "GPE", "FAC", "WORK_OF_ART"})

# Pairs further apart than this many sentences are not proposed.
MAX_SENTENCE_GAP = 1
# Sentences longer than this are tables or scrapes, not prose.
MAX_SENTENCE_CHARS = 1500

_AI_WORDS = re.compile(
    r"\b(?:AI|A\.I\.|artificial intelligence|models?|LLMs?|chatbots?|assistants?|copilots?|"
    r"generative|GenAI|gen AI|machine learning|agents?|agentic|API|APIs|language models?|"
    r"neural|inference|open[- ]source|open[- ]weights?|reasoning|tokens|fine[- ]?tun\w*|"
    r"Gemini|GPT|Claude|Llama|Qwen|DeepSeek)\b"
)

_DESCRIPTIVE_NOUNS = (
    "company|companies|firm|firms|startup|start-up|group|giant|maker|automaker|carmaker|"
    "retailer|bank|lender|insurer|operator|carrier|telco|platform|app|service|provider|agency|"
    "department|ministry|government|administration|city|state|council|university|school|"
    "college|hospital|clinic|organisation|organization|business|conglomerate|chain|brand|"
    "developer|publisher|network|airline|manufacturer|chipmaker|unicorn|outfit|player|"
    "insurance company|fintech|e-commerce company|marketplace|exchange|broker|"
    "brokerage|utility|foundation|institute|lab|laboratory|team|military|army|navy|force|"
    "police|department|regulator|authority|office|bureau|agency|court|parliament|house|senate"
)
# "the company", "the Seattle retailer", "this tech giant", "the Hangzhou-based firm"
_DESCRIPTIVE = re.compile(
    rf"\b(?:[Tt]he|[Tt]his|[Tt]hese|[Bb]oth)\s+(?:[\w’'.&-]+\s+){{0,3}}?"
    rf"(?:{_DESCRIPTIVE_NOUNS})(?:s|es)?\b"
)
_PRONOUN = re.compile(r"\b(?:[Ii]t|[Ii]ts|[Tt]hey|[Tt]heir|[Ww]e|[Oo]ur|[Uu]s)\b")
_FIRST_PERSON = frozenset({"we", "our", "us"})

# Capitalised runs the tagger may have missed: "Cerence", "Volkwagen", "K2 Think". A run
# never crosses a line break: a headline's last words and the paragraph's first are two
# names ("...at Orchard Labs\nOrchard Labs has...").
_CAPS_WORD = r"(?:[A-Z](?:[\w&.-]|['’](?![sS]\b))*[\w&]|[A-Z])"
_GAP = r"[^\S\n]+"
_CAPS_RUN = re.compile(
    rf"(?<![\w@#]){_CAPS_WORD}(?:{_GAP}(?:of{_GAP}|&{_GAP}|de{_GAP}|for{_GAP})?"
    rf"(?:{_CAPS_WORD}|\d+(?![\d,]*\s+[a-z])))*"
)
# Words that open a span without belonging to the name: "Both China Telecom", "Some Alibaba"
_LEADING_WORDS = re.compile(
    r"^(?:(?:[Bb]oth|[Ss]ome|[Mm]any|[Mm]ost|[Aa]ll|[Ee]ach|[Ee]very|[Oo]ther|[Aa]n?|[Tt]he|"
    r"[Tt]his|[Tt]hat|[Tt]hese|[Tt]hose|[Ss]everal|[Oo]nly|[Ee]ven|[Aa]lso)\s+)+"
)
_POSSESSIVE_TAIL = re.compile(r"['’]s\b.*$", re.S)
_NOT_NAMES = frozenset(
    [
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "they",
        "their",
        "we",
        "our",
        "us",
        "he",
        "she",
        "his",
        "her",
        "i",
        "my",
        "you",
        "your",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "to",
        "of",
        "and",
        "or",
        "but",
        "as",
        "if",
        "when",
        "while",
        "after",
        "before",
        "since",
        "during",
        "according",
        "however",
        "meanwhile",
        "also",
        "still",
        "now",
        "then",
        "there",
        "here",
        "last",
        "next",
        "first",
        "new",
        "other",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "mr",
        "ms",
        "mrs",
        "dr",
        "ceo",
        "cto",
        "cfo",
        "coo",
        "chief",
        "president",
        "director",
        "chairman",
        "founder",
        "ai",
        "llm",
        "llms",
        "api",
        "apis",
        "gpu",
        "gpus",
        "ar",
        "vr",
        "ios",
        "android",
        "north",
        "south",
        "east",
        "west",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "today",
        "yesterday",
        "tomorrow",
        "earlier",
        "later",
        "under",
        "over",
        "about",
        "why",
        "how",
        "what",
        "who",
        "where",
        "which",
        "while",
        "despite",
    ]
)


@dataclass(frozen=True)
class ModelMention:
    """A model, or a vendor standing for its models ("powered by OpenAI")."""

    start: int
    end: int
    surface: str  # as written
    vendor: Vendor
    family: Family | None  # None for a vendor-level mention
    catalog_model: str = ""  # the catalog's name when the surface names a known model
    open_weights: bool | None = None

    @property
    def vendor_level(self) -> bool:
        return self.family is None


@dataclass(frozen=True)
class OrgMention:
    """An organisation, or a phrase that refers to one ("the company", "it")."""

    start: int
    end: int
    surface: str  # as written
    name: str  # the organisation it names ("" for an anaphor nobody resolves)
    source: str  # "ner:ORG", "gazetteer", "vendor", "caps", "anaphor", "pronoun"
    written: str = ""  # the name as written, tidied ("HHS"); a product gives its owner
    kind: str = "name"  # what the classifier is told it is: see KINDS

    @property
    def anaphor(self) -> bool:
        return self.source in ("anaphor", "pronoun")


# What an organisation mention is, in the words the classifier reads inside its mark.
KINDS = {
    "ner:ORG": "organisation",
    "gazetteer": "organisation",
    "vendor": "organisation",
    "ner:PERSON": "person",
    "ner:GPE": "place",
    "ner:LOC": "place",
    "ner:FAC": "place",
    "ner:NORP": "group",
    "ner:PRODUCT": "product",
    "ner:WORK_OF_ART": "product",
    "ner:EVENT": "event",
    "ner:LAW": "law",
    "caps": "name",
    "anaphor": "reference",
    "pronoun": "pronoun",
}


def kind_of(source: str, surface: str, gazetteer: Gazetteer) -> str:
    if source not in ("anaphor", "pronoun"):
        if gazetteer.is_product(surface):
            return "product"
        if gazetteer.known(surface):
            return "organisation"
    return KINDS.get(source, "name")


@dataclass(frozen=True)
class Pair:
    """One candidate: ``org`` might adopt, drop or evaluate ``model``; ``context`` is the
    (start, end) of the text the classifier reads."""

    org: OrgMention
    model: ModelMention
    context: tuple[int, int]


class SentenceIndex:
    """Which sentence an offset falls in."""

    def __init__(self, sentences: Sequence[tuple[int, int]]) -> None:
        self.sentences = list(sentences)
        self.starts = [s for s, _ in self.sentences]

    def of(self, offset: int) -> int:
        return max(0, bisect.bisect_right(self.starts, offset) - 1)


# --- models and vendors ------------------------------------------------------------------


def model_mentions(
    text: str, sentences: Sequence[tuple[int, int]], catalog: Catalog
) -> list[ModelMention]:
    """Catalog models, and vendors named where AI words surround them, in text order.

    A vendor named right before one of its own models ("OpenAI's GPT-4o", "Meta Llama 3") is
    part of that mention, not a second one. A vendor that is no model lab ("Google",
    "Amazon") counts only in a sentence with AI words.
    """
    hits = catalog.scan(text, sentences, standins=False)
    out: list[ModelMention] = []
    occupied = bytearray(len(text) + 1)
    for h in hits:
        out.append(
            ModelMention(
                h.start, h.end, h.surface, h.family.vendor, h.family, h.model, h.open_weights
            )
        )
        occupied[h.start : h.end] = b"\x01" * (h.end - h.start)
    index = SentenceIndex(sentences)
    for start, end, vendor in vendor_spans(text, catalog):
        if any(occupied[start:end]):
            continue
        if _owns_next_model(text, end, vendor, out):
            continue
        s, e = sentences[index.of(start)] if sentences else (0, len(text))
        if not vendor.stands_alone and not _AI_WORDS.search(text, s, e):
            continue
        out.append(ModelMention(start, end, text[start:end], vendor, None))
    out.sort(key=lambda m: m.start)
    return out


def vendor_spans(text: str, catalog: Catalog) -> list[tuple[int, int, Vendor]]:
    """Every vendor alias in ``text`` (case-sensitive, whole words, longest first)."""
    found: list[tuple[int, int, Vendor]] = []
    last = -1
    for m in catalog.vendor_alias_re().finditer(text):
        if m.start() < last:
            continue
        vendor = catalog.vendor_named(m.group(0))
        if vendor is None:
            continue
        found.append((m.start(), m.end(), vendor))
        last = m.end()
    return found


def _owns_next_model(text: str, end: int, vendor: Vendor, mentions: list[ModelMention]) -> bool:
    """Is the vendor at ``end`` the possessor or prefix of its own model just after it?"""
    gap = re.match(
        r"(?:['’]s)?\s+(?:(?:new|latest|own|open[- ]source|flagship|[\w-]+-based)\s+)?",
        text[end : end + 40],
    )
    if gap is None:
        return False
    after = end + gap.end()
    return any(m.start == after and m.vendor.name == vendor.name for m in mentions)


# --- organisations ------------------------------------------------------------------------


def org_mentions(
    text: str,
    ents: Iterable[tuple[int, int, str]],
    models: Sequence[ModelMention],
    gazetteer: Gazetteer,
    catalog: Catalog,
    title: str = "",
    title_ents: Iterable[tuple[int, int, str]] = (),
    earlier: Sequence[str] = (),
) -> list[OrgMention]:
    """Organisation mentions in ``text``: NER entities (``(start, end, label)``), names the
    gazetteer knows, vendor names, capitalised runs the tagger missed, and phrases that refer
    to an organisation ("the company", "the Seattle retailer", "it", "we"), resolved to the
    nearest organisation named before them (else after them in the same sentence, else the
    last of ``earlier``, names found before this text in the same article, else the first
    in ``title``)."""
    occupied = bytearray(len(text) + 1)
    for m in models:
        if not m.vendor_level:
            occupied[m.start : m.end] = b"\x01" * (m.end - m.start)
    spans: dict[tuple[int, int], tuple[str, str]] = {}

    def add(start: int, end: int, source: str) -> None:
        # "OCBC’s 30" -> "OCBC"; "Both China Telecom" -> "China Telecom"
        tail = _POSSESSIVE_TAIL.search(text, start, end)
        if tail is not None:
            end = tail.start()
        lead = _LEADING_WORDS.match(text[start:end])
        if lead is not None and source != "gazetteer":
            start += lead.end()
        while end > start and text[end - 1] in " ,.;:’'\"”)(":
            end -= 1
        while start < end and text[start] in " \"“‘'(":
            start += 1
        if end <= start or any(occupied[start:end]):
            return
        surface = text[start:end]
        name = _name_of(surface, gazetteer, catalog)
        if not name:
            return
        spans.setdefault((start, end), (name, source))

    for start, end, label in ents:
        if label in ADOPTER_LABELS:
            add(start, end, f"ner:{label}")
    for start, end, _name in gazetteer.find(text):
        add(start, end, "gazetteer")
    for start, end, _vendor in vendor_spans(text, catalog):
        add(start, end, "vendor")
    for m in models:
        # "DeepSeek" is a lab and its models: as an organisation it may adopt other models
        if not m.vendor_level and catalog.vendor_named(m.surface) is not None:
            spans.setdefault((m.start, m.end), (m.vendor.name, "vendor"))
    for m in _CAPS_RUN.finditer(text):
        words = m.group(0).split()
        first = words[0].lower().replace("’", "'").split("'")[0]
        if first in _NOT_NAMES:
            continue
        if len(words) == 1 and _starts_sentence(text, m.start()):
            continue  # "Therefore, ...", "Companies like ...": a name there is one NER knows
        add(m.start(), m.end(), "caps")
    named = _drop_nested(
        [
            OrgMention(
                s,
                e,
                text[s:e],
                name,
                src,
                gazetteer.as_written(text[s:e]),
                kind_of(src, text[s:e], gazetteer),
            )
            for (s, e), (name, src) in spans.items()
        ]
    )
    out = list(named)
    title_orgs = list(earlier[-1:]) + _title_orgs(title, title_ents, gazetteer, catalog)
    for m in _DESCRIPTIVE.finditer(text):
        if any(occupied[m.start() : m.end()]):
            continue
        name = _antecedent(m.start(), m.end(), named, title_orgs, text)
        out.append(OrgMention(m.start(), m.end(), m.group(0), name, "anaphor", name, "reference"))
    for m in _PRONOUN.finditer(text):
        if m.group(0).lower() in _FIRST_PERSON:
            name = _first_person_org(text, m.start(), named, title_orgs)
        else:
            name = _antecedent(m.start(), m.end(), named, title_orgs, text)
        out.append(OrgMention(m.start(), m.end(), m.group(0), name, "pronoun", name, "pronoun"))
    out = [o for o in out if o.name]
    out.sort(key=lambda o: (o.start, -o.end))
    return out


def _starts_sentence(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \"“‘'([")
    return not before or before[-1] in ".!?:\n—–-"


def _name_of(surface: str, gazetteer: Gazetteer, catalog: Catalog) -> str:
    """The organisation name a span stands for ("Airbnb Inc." -> "Airbnb")."""
    clean = clean_name(surface)
    if not clean or clean.lower() in _NOT_NAMES or not any(ch.isalpha() for ch in clean):
        return ""
    vendor = catalog.vendor_named(clean)
    if vendor is not None:
        return vendor.name
    return gazetteer.normalise(clean)


def _drop_nested(mentions: list[OrgMention]) -> list[OrgMention]:
    """Of overlapping spans keep the longest; a known name inside a longer span that the
    gazetteer does not know is kept too ("Alibaba" in "Alibaba Group's Qwen team")."""
    mentions.sort(key=lambda o: (o.start, -(o.end - o.start)))
    out: list[OrgMention] = []
    for m in mentions:
        if out and m.start < out[-1].end:
            outer = out[-1]
            if m.name.lower() != outer.name.lower() and m.source in ("gazetteer", "vendor"):
                out.append(m)
            continue
        out.append(m)
    return out


def _title_orgs(
    title: str,
    ents: Iterable[tuple[int, int, str]],
    gazetteer: Gazetteer,
    catalog: Catalog,
) -> list[str]:
    """Organisations a title names, in order: NER's, the gazetteer's, and capitalised runs
    that are not a model ("Pellucid Labs moves support agents to Claude": Pellucid Labs)."""
    if not title:
        return []
    models = model_mentions(title, [(0, len(title))], catalog)
    taken = bytearray(len(title) + 1)
    for m in models:
        if not m.vendor_level:
            taken[m.start : m.end] = b"\x01" * (m.end - m.start)
    names: list[tuple[int, str]] = []

    def add(start: int, end: int) -> None:
        if any(taken[start:end]):
            return
        name = _name_of(title[start:end], gazetteer, catalog)
        if name:
            names.append((start, name))

    for start, end, label in ents:
        if label in ANTECEDENT_LABELS:
            add(start, end)
    for start, end, _name in gazetteer.find(title):
        add(start, end)
    for m in _CAPS_RUN.finditer(title):
        words = m.group(0).split()
        if len(words) > 1 or m.start() > 0:
            add(m.start(), m.end())
    names.sort()
    return list(dict.fromkeys(n for _, n in names))


def _antecedent(
    start: int,
    end: int,
    named: Sequence[OrgMention],
    title_orgs: Sequence[str],
    text: str,
) -> str:
    before = [
        o
        for o in named
        if o.end <= start
        and (o.source.removeprefix("ner:") in ANTECEDENT_LABELS or not o.source.startswith("ner:"))
    ]
    if before:
        return before[-1].name
    # forward: "The ride-hailing company has ..., Lyft said"
    sentence_end = text.find(". ", end)
    sentence_end = len(text) if sentence_end < 0 else sentence_end
    after = [
        o for o in named if o.start >= end and o.start < sentence_end and o.source != "ner:PERSON"
    ]
    if after:
        return after[0].name
    return title_orgs[0] if title_orgs else ""


_AT_ORG = re.compile(r"\b(?:[Aa]t|[Hh]ere at)\s+$")


def _first_person_org(
    text: str, start: int, named: Sequence[OrgMention], title_orgs: Sequence[str]
) -> str:
    """Who "we" is: "At Figma, we ...", the organisation named before (the speaker's), or
    the title's."""
    for o in reversed(named):
        if o.end <= start and _AT_ORG.search(text[: o.start]):
            return o.name
    before = [o for o in named if o.end <= start and o.source != "ner:PERSON"]
    if before:
        return before[-1].name
    after = [o for o in named if o.start > start and o.source != "ner:PERSON"]
    if after:
        return after[0].name
    return title_orgs[0] if title_orgs else ""


# --- pairs --------------------------------------------------------------------------------


def candidate_pairs(
    text: str,
    sentences: Sequence[tuple[int, int]],
    orgs: Sequence[OrgMention],
    models: Sequence[ModelMention],
    catalog: Catalog,
) -> list[Pair]:
    """Every (organisation, model) pair at most ``MAX_SENTENCE_GAP`` sentences apart, except
    a vendor paired with its own model and a mention paired with itself. The context is the
    sentences that hold the two, plus the sentence before them."""
    index = SentenceIndex(sentences)
    out: list[Pair] = []
    for model in models:
        ms = index.of(model.start)
        if sentences and sentences[ms][1] - sentences[ms][0] > MAX_SENTENCE_CHARS:
            continue
        for org in orgs:
            if org.start < model.end and model.start < org.end:
                continue  # the same words
            os_ = index.of(org.start)
            if abs(os_ - ms) > MAX_SENTENCE_GAP:
                continue
            owner = catalog.owned_by(org.name)
            if owner is not None and owner.name == model.vendor.name:
                continue  # a vendor using its own model is not an adoption
            first = max(0, min(os_, ms) - 1)
            last = max(os_, ms)
            context = (sentences[first][0], sentences[last][1]) if sentences else (0, len(text))
            out.append(Pair(org, model, context))
    return out


ORG_MARK = "@"
MODEL_MARK = "#"
# Contexts longer than this are cut around the model (the encoder reads 192 tokens).
MAX_CONTEXT_CHARS = 800


@dataclass(frozen=True)
class MarkedModel:
    """What the classifier reads for one model mention: the context with the model between
    ``# #`` and every organisation paired with it between ``@ @``; ``model_at`` and
    ``org_at`` are the character offsets of the opening marks (the encoder pools the tokens
    there), ``org_at[k]`` for ``pairs[k]`` (-1 when the cut left that organisation out)."""

    text: str
    model_at: int
    org_at: tuple[int, ...]
    pairs: tuple[Pair, ...]


def group_by_model(pairs: Sequence[Pair]) -> list[list[Pair]]:
    """The pairs of each model mention, in text order."""
    groups: dict[tuple[int, int], list[Pair]] = {}
    for p in pairs:
        groups.setdefault((p.model.start, p.model.end), []).append(p)
    return [groups[k] for k in sorted(groups)]


def marked_model(text: str, pairs: Sequence[Pair]) -> MarkedModel:
    """Mark one model mention and the organisations of its ``pairs`` (all share the model):
    ``# * model * GPT-4o #``, ``@ * organisation * Airbnb @`` (typed marks: the kind of
    mention is a word the encoder reads).

    One encoder pass then decides every pair of the model: the organisations' marks give
    the pair representations. Nested organisation spans share the outer span's mark."""
    model = pairs[0].model
    start = min(p.context[0] for p in pairs)
    end = max(p.context[1] for p in pairs)
    if end - start > MAX_CONTEXT_CHARS:
        spare = max(0, MAX_CONTEXT_CHARS - (model.end - model.start)) // 2
        start, end = max(start, model.start - spare), min(end, model.end + spare)
    # organisation spans to mark: outermost, not overlapping the model, inside the cut
    spans: list[tuple[int, int]] = []
    for s, e in sorted({(p.org.start, p.org.end) for p in pairs}, key=lambda x: (x[0], -x[1])):
        if s < start or e > end or (s < model.end and model.start < e):
            continue
        if spans and s < spans[-1][1]:
            continue
        spans.append((s, e))
    kinds = {(p.org.start, p.org.end): p.org.kind for p in pairs}
    model_kind = "vendor" if model.vendor_level else "model"
    marks = [(model.start, 1, f"{MODEL_MARK} * {model_kind} *"), (model.end, 0, MODEL_MARK)]
    for s, e in spans:
        marks += [(s, 1, f"{ORG_MARK} * {kinds[(s, e)]} *"), (e, 0, ORG_MARK)]
    marks.sort(key=lambda m: (m[0], m[1]))  # a closing mark before an opening one at one offset
    out: list[str] = []
    length = 0
    opened: dict[int, int] = {}
    pos = start
    for offset, opening, mark in marks:
        out.append(text[pos:offset])
        length += offset - pos
        piece = f"{mark} " if opening else f" {mark}"
        if opening:
            opened[offset] = length
        out.append(piece)
        length += len(piece)
        pos = offset
    out.append(text[pos:end])
    model_at = opened[model.start]
    org_at = []
    for p in pairs:
        outer = next((s for s, e in spans if s <= p.org.start and p.org.end <= e), None)
        org_at.append(opened[outer] if outer is not None else -1)
    return MarkedModel("".join(out), model_at, tuple(org_at), tuple(pairs))
