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

from extractors.adopters import Gazetteer, clean_name
from extractors.catalog import Catalog, Family, Vendor

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
    rf"\b(?:[Tt]he|[Tt]his|[Tt]hat|[Tt]hese|[Bb]oth)\s+(?:[\w’'.&-]+\s+){{0,3}}?"
    rf"(?:{_DESCRIPTIVE_NOUNS})(?:s|es)?\b"
)
_PRONOUN = re.compile(r"\b(?:[Ii]t|[Ii]ts|[Tt]hey|[Tt]heir|[Ww]e|[Oo]ur|[Uu]s)\b")
_FIRST_PERSON = frozenset({"we", "our", "us"})

# Capitalised runs the tagger may have missed: "Cerence", "Volkwagen", "K2 Think".
_CAPS_RUN = re.compile(
    r"(?<![\w@#])(?:[A-Z][\w&.’'-]*[\w&]|[A-Z])(?:\s+(?:of\s+|&\s+|de\s+|for\s+)?"
    r"(?:[A-Z][\w&.’'-]*[\w&]|[A-Z]|\d+))*"
)
_NOT_NAMES = frozenset(
    """a an the this that these those it its they their we our us he she his her i my you your
    in on at by for from with to of and or but as if when while after before since during
    according however meanwhile also still now then there here last next first new other
    monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december mr ms mrs dr ceo cto cfo coo chief
    president director chairman founder ai llm llms api apis gpu gpus ar vr ios android
    north south east west one two three four five six seven eight nine ten today yesterday
    tomorrow earlier later under over about why how what who where which while despite""".split()
)

# Capitalised words that start sentences without naming anything.
_SENTENCE_STARTERS = frozenset(
    """instead meanwhile therefore thus hence moreover furthermore additionally also yet still
    now today recently earlier later separately similarly likewise overall ultimately indeed
    notably specifically currently previously initially finally together dubbed according
    following after before despite although though while with without under as since because
    unlike like other others many some most several both each every all such what which who
    whom how why when where here there nearly about around more less only just even early late
    new big major top key last next first second third once soon so then thanks given amid
    among beyond inside outside across against between during through within upon via per
    detect build use using used create make made launch launched power powered run running
    see read learn get find note please today's its it's that's there's here's we're they're
    i'm you're let's don't can't won't isn't aren't wasn't weren't hasn't haven't hadn't
    doesn't didn't shouldn't couldn't wouldn't""".split()
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

    @property
    def anaphor(self) -> bool:
        return self.source in ("anaphor", "pronoun")


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
    gap = re.match(r"(?:['’]s)?\s+(?:(?:new|latest|own|open[- ]source|flagship|[\w-]+-based)\s+)?", text[end : end + 40])
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
        while end > start and text[end - 1] in " ,.;:’'\"”)":
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
        if len(words) == 1 and _starts_sentence(text, m.start()) and (
            first in _SENTENCE_STARTERS or first.endswith("ly")
        ):
            continue  # "Therefore, ...", "Internally, ..."
        add(m.start(), m.end(), "caps")
    named = _drop_nested(
        [OrgMention(s, e, text[s:e], name, src) for (s, e), (name, src) in spans.items()]
    )
    out = list(named)
    title_orgs = list(earlier[-1:]) + _title_orgs(title, title_ents, gazetteer, catalog)
    for m in _DESCRIPTIVE.finditer(text):
        if any(occupied[m.start() : m.end()]):
            continue
        name = _antecedent(m.start(), m.end(), named, title_orgs, text)
        out.append(OrgMention(m.start(), m.end(), m.group(0), name, "anaphor"))
    for m in _PRONOUN.finditer(text):
        if m.group(0).lower() in _FIRST_PERSON:
            name = _first_person_org(text, m.start(), named, title_orgs)
        else:
            name = _antecedent(m.start(), m.end(), named, title_orgs, text)
        out.append(OrgMention(m.start(), m.end(), m.group(0), name, "pronoun"))
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
    names: list[tuple[int, str]] = []
    for start, end, label in ents:
        if label in ANTECEDENT_LABELS:
            name = _name_of(title[start:end], gazetteer, catalog)
            if name:
                names.append((start, name))
    for start, _end, name in gazetteer.find(title):
        names.append((start, name))
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
        if o.end <= start and (o.source.removeprefix("ner:") in ANTECEDENT_LABELS or not o.source.startswith("ner:"))
    ]
    if before:
        return before[-1].name
    # forward: "The ride-hailing company has ..., Lyft said"
    sentence_end = text.find(". ", end)
    sentence_end = len(text) if sentence_end < 0 else sentence_end
    after = [o for o in named if o.start >= end and o.start < sentence_end and not o.source == "ner:PERSON"]
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
            if sentences:
                context = (sentences[first][0], sentences[last][1])
            else:
                context = (0, len(text))
            out.append(Pair(org, model, context))
    return out


ORG_MARK = "@"
MODEL_MARK = "#"
# Contexts longer than this are cut around the two mentions (the encoder reads 192 tokens).
MAX_CONTEXT_CHARS = 700


@dataclass(frozen=True)
class MarkedPair:
    """What the classifier reads: the context with ``@ org @`` and ``# model #`` marked, and
    the character offsets of the two opening marks (the encoder pools the tokens there)."""

    text: str
    org_at: int
    model_at: int


def marked_text(text: str, pair: Pair) -> MarkedPair:
    """The pair's context with the organisation between ``@ @`` and the model between
    ``# #``: typed punctuation marks, which a small encoder learns from few examples."""
    start, end = pair.context
    start = min(start, pair.org.start, pair.model.start)
    end = max(end, pair.org.end, pair.model.end)
    if end - start > MAX_CONTEXT_CHARS:
        lo = min(pair.org.start, pair.model.start)
        hi = max(pair.org.end, pair.model.end)
        spare = max(0, MAX_CONTEXT_CHARS - (hi - lo)) // 2
        start, end = max(start, lo - spare), min(end, hi + spare)
    marks = sorted(
        [
            (pair.org.start, 1, "org"),
            (pair.org.end, 0, f" {ORG_MARK}"),
            (pair.model.start, 1, "model"),
            (pair.model.end, 0, f" {MODEL_MARK}"),
        ]
    )
    out: list[str] = []
    length = 0
    at = {"org": 0, "model": 0}
    pos = start
    for offset, opening, mark in marks:
        out.append(text[pos:offset])
        length += offset - pos
        if opening:
            at[mark] = length
            mark = f"{ORG_MARK if mark == 'org' else MODEL_MARK} "
        out.append(mark)
        length += len(mark)
        pos = offset
    out.append(text[pos:end])
    return MarkedPair("".join(out), at["org"], at["model"])
