"""From a text to the windows the pipeline reads, and from a window doc to candidate pairs.

A text is split into sentences; a sentence that mentions a model or a vendor is a *focus*
sentence, and each focus sentence with one sentence either side is read (overlapping ranges
merge into one window). Only windows go through spaCy, so an article with one model
mention costs one small doc, not a whole-article parse.

``adoptwatch_candidates`` is the spaCy component that turns a window doc (after ``ner``)
into :class:`~extractors.mentions.Pair` objects in ``doc._.aw_pairs``. The window's text, its
offset in the article, the article's title and the organisations the article names before the
window travel in ``doc.user_data`` (see :func:`window_doc`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spacy.language import Language
from spacy.tokens import Doc

from adoptwatch.extractors.adopters import Gazetteer, default_gazetteer, load_gazetteer
from adoptwatch.extractors.catalog import Catalog, default_catalog, load_catalog
from adoptwatch.extractors.mentions import (
    ModelMention,
    OrgMention,
    Pair,
    candidate_pairs,
    model_mentions,
    org_mentions,
)
from adoptwatch.extractors.sentences import split_sentences

WINDOW_KEY = "adoptwatch_window"
# A window longer than this many sentences is cut (a list of 40 bullet points that each name
# a model is read as several windows).
MAX_WINDOW_SENTENCES = 6

if not Doc.has_extension("aw_pairs"):
    Doc.set_extension("aw_pairs", default=None)


@dataclass
class Window:
    """One window of an article: ``text[start:end]``, its sentences (relative offsets), the
    article's title and the organisations named earlier in the article."""

    index: int  # which text of the batch
    start: int
    end: int
    sentences: list[tuple[int, int]]
    title: str = ""
    title_ents: tuple[tuple[int, int, str], ...] = ()
    earlier_orgs: tuple[str, ...] = ()


def windows(
    text: str, catalog: Catalog, index: int = 0, title: str = "", gazetteer: Gazetteer | None = None
) -> list[Window]:
    """The windows of ``text`` (see the module docstring); none when it mentions no model."""
    if not text or not catalog.has_candidates(text):
        return []
    sentences = split_sentences(text)
    if not sentences:
        return []
    mentions = model_mentions(text, sentences, catalog)
    if not mentions:
        return []
    from adoptwatch.extractors.mentions import SentenceIndex

    where = SentenceIndex(sentences)
    focus = sorted({where.of(m.start) for m in mentions})
    ranges: list[list[int]] = []
    for i in focus:
        lo, hi = max(0, i - 1), min(len(sentences) - 1, i + 1)
        if ranges and lo <= ranges[-1][1] + 1 and hi - ranges[-1][0] < MAX_WINDOW_SENTENCES:
            ranges[-1][1] = max(ranges[-1][1], hi)
        else:
            ranges.append([lo, hi])
    known = gazetteer.find(text) if gazetteer is not None else []
    out = []
    for lo, hi in ranges:
        start, end = sentences[lo][0], sentences[hi][1]
        earlier = tuple(dict.fromkeys(name for s, _e, name in known if s < start))
        out.append(
            Window(
                index,
                start,
                end,
                [(s - start, e - start) for s, e in sentences[lo : hi + 1]],
                title,
                (),
                earlier[-3:],
            )
        )
    return out


def window_doc(nlp: Language, text: str, window: Window) -> Doc:
    """A doc for ``window`` ready for the pipeline's components."""
    doc = nlp.make_doc(text[window.start : window.end])
    doc.user_data[WINDOW_KEY] = window
    return doc


@Language.factory(
    "adoptwatch_candidates",
    requires=["doc.ents"],
    assigns=["doc._.aw_pairs"],
    default_config={"catalog_path": "", "gazetteer_path": ""},
)
def make_candidate_finder(
    nlp: Language, name: str, catalog_path: str, gazetteer_path: str
) -> CandidateFinder:
    return CandidateFinder(
        load_catalog(catalog_path) if catalog_path else default_catalog(),
        load_gazetteer(gazetteer_path) if gazetteer_path else default_gazetteer(),
    )


class CandidateFinder:
    """spaCy component: candidate (organisation, model) pairs of a window doc."""

    def __init__(self, catalog: Catalog, gazetteer: Gazetteer) -> None:
        self.catalog = catalog
        self.gazetteer = gazetteer

    def __call__(self, doc: Doc) -> Doc:
        window: Window | None = doc.user_data.get(WINDOW_KEY)
        text = doc.text
        sentences = window.sentences if window is not None else split_sentences(text)
        title = window.title if window is not None else ""
        models = model_mentions(text, sentences, self.catalog)
        orgs = org_mentions(
            text,
            within_lines(text, [(e.start_char, e.end_char, e.label_) for e in doc.ents]),
            models,
            self.gazetteer,
            self.catalog,
            title,
            window.title_ents if window is not None else (),
            earlier=window.earlier_orgs if window is not None else (),
        )
        doc._.aw_pairs = candidate_pairs(text, sentences, orgs, models, self.catalog)
        return doc


def within_lines(
    text: str, ents: Sequence[tuple[int, int, str]]
) -> list[tuple[int, int, str]]:
    """Entities cut at line breaks: a name never runs from a headline into the paragraph
    under it (the small NER model reads "...at Orchard Labs\nOrchard Labs has..." as one
    name)."""
    out = []
    for start, end, label in ents:
        at = start
        for piece in text[start:end].split("\n"):
            stripped = piece.strip()
            if stripped:
                first = at + piece.index(stripped)
                out.append((first, first + len(stripped), label))
            at += len(piece) + 1
    return out


def mentions_of(doc: Doc) -> tuple[list[OrgMention], list[ModelMention]]:
    pairs: Sequence[Pair] = doc._.aw_pairs or []
    orgs = list({id(p.org): p.org for p in pairs}.values())
    models = list({id(p.model): p.model for p in pairs}.values())
    return orgs, models
