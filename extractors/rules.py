"""Dependency rules: one parsed sentence in, raw adoption claims out.

The rules are driven by ``extractors/data/adoption.toml`` (trigger words and their frames,
governors, noun classes). For each model mention the rules find

1. the *trigger* the model depends on and the model's *slot* in it ("replaced X with Y": X is
   the object of "replace", Y its "with"), climbing through noun-phrase wrappers ("Qwen
   models", "a fine-tuned version of Llama", "models such as Llama", "OpenAI and Anthropic
   models");
2. the relation the frame gives that slot, changed by governors above the trigger ("stopped
   using" drops, "is considering switching to" evaluates, "declined to use" is no claim) and by
   negation, modal and conditional words;
3. the *adopter*: the trigger's subject or agent, inherited through xcomp/conj/relative clauses,
   the owner of a product ("Airbnb's agent runs on Qwen"), the organisation of people ("Ramp
   engineers", "engineers at Ramp"), the members of a generic ("startups such as Airbnb"), or
   an anaphor ("the company", "it") that the extractor resolves across sentences.

Confidence starts from the frame and loses points for every guess made on the way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from spacy.tokens import Doc, Span, Token

from adoptwatch.extractors.adopters import Gazetteer
from adoptwatch.extractors.catalog import Catalog, ModelHit
from adoptwatch.extractors.patterns import Frame, Patterns
from adoptwatch.extractors.surface import SurfaceRules

TEXT_KEY = "adoptwatch_text"
LEAD_KEY = "adoptwatch_lead"

_WH = frozenset({"which", "that", "who", "whom", "whose"})
_NOUNISH = frozenset({"NOUN", "PROPN", "NUM", "X", "ADJ"})
# nouns that wrap a model without changing who uses it: "a mix of X", "a version of X"
# nouns that are the model itself: "Qwen models", "the GPT-4 API", "DeepSeek's R1 model"
TITLES = frozenset(
    [
        "ceo",
        "cto",
        "cfo",
        "coo",
        "cio",
        "cmo",
        "cso",
        "founder",
        "co-founder",
        "cofounder",
        "chief",
        "president",
        "chairman",
        "chairwoman",
        "chair",
        "head",
        "director",
        "vp",
        "svp",
        "evp",
        "executive",
        "manager",
        "lead",
        "engineer",
        "analyst",
        "spokesperson",
        "spokesman",
        "spokeswoman",
        "minister",
        "secretary",
        "governor",
        "senator",
        "professor",
        "dr",
        "mr",
        "mrs",
        "ms",
        "sir",
    ]
)
# words of job titles that are not titles alone ("Chief Financial Officer")
TITLE_WORDS = frozenset(
    [
        "financial",
        "operating",
        "technology",
        "technical",
        "information",
        "marketing",
        "product",
        "revenue",
        "officer",
        "vice",
        "senior",
        "general",
        "managing",
        "principal",
        "engineering",
        "digital",
        "data",
        "security",
        "strategy",
        "commercial",
        "research",
        "scientist",
        "global",
        "regional",
        "group",
    ]
)
_PERSON_PRONOUNS = frozenset({"i", "me", "my", "you", "your", "he", "him", "his", "she", "her"})
_PRONOUN_ADOPTERS = frozenset({"it", "its", "they", "their", "we", "our", "us", "them"})
_NON_ORG_LABELS = frozenset(
    {"DATE", "TIME", "MONEY", "PERCENT", "CARDINAL", "ORDINAL", "QUANTITY", "LANGUAGE", "LAW"}
)
_PLACE_LABELS = frozenset({"GPE", "LOC", "NORP", "FAC", "EVENT"})
_NAME_DEPS = ("compound", "flat", "amod", "nmod")
_GLUE = ("compound", "amod", "nmod", "punct")
_NP_POS = ("DET", "ADJ", "NOUN", "PROPN", "NUM")
_ARTICLES = frozenset({"a", "an", "the", "this", "that", "these", "those", "another", "some"})
_COPULA_FRAME = Frame("be", "verb", {"copula": "adopts"}, 0.8, False)
_DEFAULT_FRAME = Frame("make default", "verb", {"obj": "adopts"}, 0.8, False)


# nouns that, with "of" and a place, name a public body: "the City of Boston"
# people who work for the organisation: "does not allow staff to use X" is a ban
_STAFF = frozenset(
    {
        "staff",
        "employee",
        "worker",
        "personnel",
        "staffer",
        "official",
        "civil servant",
        "workforce",
    }
)
# capitalised words the parser takes for names that are common nouns: "in-house AI"
_GENERIC_PROPER = frozenset({"AI", "GenAI", "LLM", "LLMs", "API", "APIs", "SDK", "Gen AI"})
# "powered by OpenAI": a lab's name after these is its models
_POWER_VERBS = frozenset({"power", "drive", "fuel", "underpin"})
# nouns for a kind of thing a model is an example of: "AI tools such as ChatGPT"
_CATEGORY_NOUNS = frozenset({"tool", "chatbot", "assistant", "service", "product", "app"})
# officials whose orders are their state's or city's: "Texas Governor Greg Abbott banned X"
_EXECUTIVES = frozenset({"governor", "mayor"})
_COPULAS = frozenset({"be", "become", "remain"})
_PLACE_BODIES = frozenset(
    {"city", "county", "province", "republic", "kingdom", "commonwealth", "town", "prefecture"}
)


@dataclass
class Adopter:
    kind: str  # "named", "generic", "anaphor", "we"
    name: str
    token: int
    known: bool = False  # in the gazetteer, a vendor, or an ORG entity
    penalty: float = 0.0
    # found as the owner of a product ("Baidu's search engine integrates X"): a cloud's own
    # product using a model is an adoption, not hosting
    via_product: bool = False


@dataclass
class RawClaim:
    """A claim found in one sentence, before cross-sentence anaphora resolution."""

    adopter: Adopter
    hit: ModelHit
    relation: str
    confidence: float
    trigger: int  # token index of the trigger (the claims of one switch share it)
    hosting_trigger: bool  # the words are what a cloud says about hosting a model


@dataclass
class Mood:
    kind: str = "plain"  # plain, neg, hyp, alt, drops, evaluates, no_longer
    intends: bool = False
    future: bool = False
    hearsay: bool = False


def original_text(doc: Doc) -> str:
    return doc.user_data.get(TEXT_KEY, doc.text)


class ClaimRules:
    """Dependency rules over one parsed sentence (see the module docstring)."""

    def __init__(self, catalog: Catalog, patterns: Patterns, gazetteer: Gazetteer) -> None:
        self.catalog = catalog
        self.patterns = patterns
        self.gazetteer = gazetteer
        self.g = patterns.governors
        self.n = patterns.nouns
        self.w = patterns.words
        self._hosting_places = tuple(p.lower() for p in patterns.nouns["hosting_places"])
        self._audiences = tuple(patterns.nouns["hosting_audiences"])
        self._via_let = False
        self._guesses = 0  # syntactic repairs made while finding the current claim
        self._verb_forms = _verb_forms(lemma for lemma, pos in patterns.frames if pos == "verb")
        self.surface = SurfaceRules(self)

    def __call__(self, doc: Doc) -> Doc:
        doc._.aw_claims = self.find(doc)
        return doc

    # --- the rules -----------------------------------------------------------------------

    def find(self, doc: Doc) -> list[RawClaim]:
        text = original_text(doc).strip()
        if not text or text.rstrip("\"'”’) ").endswith("?"):
            return []
        lowered = {t.lower_ for t in doc}
        if "neither" in lowered and "nor" in lowered:
            return []
        hedged = any(h in text.lower() for h in self.g["hedges"])
        claims: list[RawClaim] = []
        for token in doc:
            hit = token._.aw_model
            if hit is None:
                continue
            self._guesses = 0
            found = self._governor(token)
            if found is None:
                claims.extend(self._surface_claims(token))
                continue
            trigger, slot, frame = found
            relation = frame.slots[slot]
            if _parents_model(token):
                continue  # "its parent's Exaone model": the group's own model
            if self._negated_between(trigger, token):
                continue  # "built it on LongCat and not on DeepSeek"
            built_on = slot in ("on", "upon", "atop", "on top of") or (
                slot == "by" and (frame.pos == "adj" or frame.lemma in _POWER_VERBS)
            )
            if hit.bare and (
                not ("from" in frame.slots or "drops" in frame.slots.values() or built_on)
                or any(_lemma(t) in self.w["partnership"] for t in trigger.subtree)
            ):
                continue  # "partnered with OpenAI", "dropped OpenAI as a partner": no model
            mood = self._modality(trigger)
            if mood.kind in ("neg", "hyp", "alt"):
                continue
            if mood.kind in ("drops", "no_longer", "formerly"):
                if relation != "adopts" and not (mood.kind == "formerly" and relation == "drops"):
                    continue  # ("previously banned X" is still a ban)
                if any(
                    c.dep_ == "amod" and c.lower_ in ("exclusive", "sole", "total", "complete")
                    for c in trigger.children
                ):
                    continue  # "ending its exclusive reliance on OpenAI": it still uses it
                relation = "drops"
            elif mood.kind == "evaluates" and relation == "adopts":
                relation = "evaluates"
            elif mood.kind == "evaluates" and relation == "drops":
                continue  # "weighs replacing Gemini": nothing is dropped yet
            if slot == "mod" or frame.pos == "adj" or trigger.dep_ in ("acl", "amod"):
                relation = self._product_fate(trigger, relation)
                if relation is None:
                    continue
            confidence = frame.confidence
            if mood.kind == "formerly":
                confidence -= 0.15
            if mood.intends:
                confidence -= 0.15
            if mood.future:
                confidence -= 0.05
            if hedged or mood.hearsay:
                confidence -= 0.1
            if hit.standin:
                confidence -= 0.2 if hit.bare else 0.1
            elif not hit.versioned and hit.surface in hit.family.context_terms:
                confidence -= 0.05 if hit.context else 0.1
            self._via_let = False
            adopters = self._adopters(trigger, slot, frame)
            # every repair of the small parser's output is a guess: "the confidence field
            # means something"
            confidence -= min(0.15, 0.05 * self._guesses)
            hosting = frame.hosting or self._via_let
            if not adopters:
                claims.extend(self._surface_claims(token))
            for adopter in adopters:
                claims.append(
                    RawClaim(
                        adopter,
                        hit,
                        relation,
                        round(confidence - adopter.penalty, 3),
                        trigger.i,
                        hosting,
                    )
                )
        return [
            replace(c, hosting_trigger=False) if self._own_product_claim(doc, c) else c
            for c in claims
            if not self._hosting_context(doc, c)
        ]

    def _own_product_claim(self, doc: Doc, claim: RawClaim) -> bool:
        """A hosting word that puts the model into the adopter's own product: "Baidu has
        integrated R1 into its search engine" is Baidu using R1, not hosting it."""
        return claim.hosting_trigger and self._into_own_product(doc[claim.trigger])

    def _into_own_product(self, trigger: Token) -> bool:
        for c in trigger.children:
            if c.dep_ != "prep" or c.lower_ not in ("into", "in", "inside", "to"):
                continue
            pobj = _child(c, "pobj")
            if pobj is None:
                continue
            if c.lower_ != "to" and (
                pobj.pos_ == "PROPN"
                or any(x.pos_ == "PROPN" for x in pobj.children if x.dep_ in ("compound", "poss"))
            ):
                return True  # "into Microsoft 365 Copilot" (but "to OCI" can be a cloud)
            # "into its search engine": an own product that is not a way of serving models
            if (
                _child(pobj, "poss") is not None
                and _lemma(pobj) in self.n["products"]
                and _lemma(pobj) not in self.w["hosting_products"]
                and not any(
                    _lemma(x) in self.w["hosting_products"]
                    for x in pobj.children
                    if x.dep_ == "compound"
                )
            ):
                return True
        return False

    @staticmethod
    def _negated_between(trigger: Token, model: Token) -> bool:
        if trigger.i >= model.i:
            return False
        for t in trigger.doc[trigger.i + 1 : model.i]:
            nxt = t.nbor(1).lower_ if t.i + 1 < len(t.doc) else ""
            if t.lower_ in ("not", "n't", "never") and nxt not in ("only", "just", "merely"):
                return True
        return False

    def _surface_claims(self, model: Token) -> list[RawClaim]:
        """Claims from word order, when the tree gave no trigger or no adopter."""
        hit = model._.aw_model
        out = []
        for adopter, relation, confidence, trigger, frame in self.surface.claims(model):
            if not hit.standin and not hit.versioned and hit.surface in hit.family.context_terms:
                confidence -= 0.05 if hit.context else 0.1
            out.append(
                RawClaim(
                    adopter,
                    hit,
                    relation,
                    round(confidence - adopter.penalty, 3),
                    trigger.i,
                    frame.hosting,
                )
            )
        return out

    def _frame(self, tok: Token, slot: str) -> Frame | None:
        if slot == "copula":
            return _COPULA_FRAME
        pos = tok.pos_
        if pos in ("VERB", "AUX"):
            kinds = ["verb", "adj"] if tok.dep_ in ("amod", "acl", "compound") else ["verb"]
        elif pos in ("NOUN", "PROPN"):
            kinds = ["noun", "verb"] if tok.tag_.startswith("VB") else ["noun"]
            if self._verb_as_noun(tok):
                kinds.append("verb")  # "Brave's Leo assistant defaults/NNS to Mixtral"
        elif pos == "ADJ":
            kinds = ["adj", "verb"]
        elif pos in ("X", "ADV"):
            kinds = ["verb", "noun", "adj"]
        else:
            return None
        base = tok.lemma_.lower()
        if pos in ("NOUN", "PROPN") and "verb" in kinds and tok.lower_ in self._verb_forms:
            base = self._verb_forms[tok.lower_]
        lemmas = [f"{base} {c.lower_}" for c in tok.children if c.dep_ == "prt"]
        if slot == "obj":
            # "built DeepSeek into its assistant": the object goes into a product
            lemmas += [f"{base} {c.lower_}" for c in tok.children if c.lower_ == "into"]
        lemmas += [base, tok.lower_]
        form = self._verb_forms.get(tok.lower_)
        if form and form != base and "verb" in kinds:
            lemmas.append(form)  # the lemmatiser's slips: "routes" -> "rout", "distil"
        if "-" in tok.lower_:
            lemmas.append(tok.lower_.rsplit("-", 1)[1])
        doc = tok.doc
        if tok.i >= 2 and doc[tok.i - 1].text == "-" and doc[tok.i - 2].is_alpha:
            prefix = doc[tok.i - 2].lower_
            lemmas[:0] = [f"{prefix}-{base}", f"{prefix}-{tok.lower_}"]
        for kind in kinds:
            for lemma in lemmas:
                frame = self.patterns.frame(lemma, kind)
                if frame and slot in frame.slots:
                    return frame
        return None

    def _verb_as_noun(self, tok: Token) -> bool:
        """A verb the tagger read as a noun: the root ("Why Airbnb bet/NN on Qwen"), or a
        clause head whose subject it swallowed as a possessive or compound ("Brightline's
        summariser runs/NNS on Claude, the company said")."""
        if tok.dep_ == "ROOT":
            return tok.lower_ in self._verb_forms or self._named_modifier(tok)
        if tok.dep_ in ("ccomp", "conj", "advcl") and tok.lower_ in self._verb_forms:
            kids = list(tok.children)
            return any(c.dep_ in ("poss", "compound") and c.i < tok.i for c in kids) and any(
                c.dep_ in ("prep", "dobj") and c.i > tok.i for c in kids
            )
        return False

    @staticmethod
    def _named_modifier(tok: Token) -> bool:
        """A noun the tagger made the root although a name modifies it from the left: a verb
        ("Why Airbnb/amod bet/NN on Qwen")."""
        return any(
            c.dep_ in ("amod", "compound", "nmod") and c.text[:1].isupper() and c.i < tok.i
            for c in tok.children
        ) and not any(c.dep_ == "det" for c in tok.children)

    def _check(self, tok: Token, slot: str) -> tuple[Token, str, Frame] | None:
        frame = self._frame(tok, slot)
        return (tok, slot, frame) if frame is not None else None

    def _governor(self, model: Token) -> tuple[Token, str, Frame] | None:
        """The trigger the model depends on, the model's slot in it, and the frame."""
        first = model
        while first.dep_ == "conj" and first.head is not first and first.head._.aw_model:
            first = first.head
        if first is not model:
            # "deploys GPT-4o, Claude and Gemini": the list shares its first member's trigger
            found = self._governor(first)
            if found is not None:
                return found
        # A present-tense verb the tagger took for a modifier of the model:
        # "Brightline Bank deploys GPT-4o, ..." -> deploys/compound -> GPT-4o.
        near = [model.doc[i] for i in range(max(0, model.i - 4), model.i)]
        # (only modifiers of the model's own name: "a post-trained version of X" is no verb)
        glued = [
            t
            for t in near
            if t.head.i in range(t.i, model.i + 1)
            and all(x.dep_ in _GLUE for x in model.doc[t.head.i : model.i])
        ]
        determined = [
            x.i
            for x in model.children
            if x.dep_ == "poss" or (x.dep_ == "det" and x.lower_ in _ARTICLES)
        ]
        for c in [*model.lefts, *glued]:
            if c.dep_ not in ("compound", "amod", "nmod"):
                continue
            if any(d < c.i for d in determined):
                continue  # "a fine-tuned Llama": an adjective after a determiner, not a verb
            if c.tag_ in ("VBZ", "VBD", "VBP", "VBN"):
                found = self._check(c, "obj")
                if found:
                    self._guesses += 1
                    return found
            lemma = self._verb_forms.get(c.lower_)
            if lemma and c.i == model.i - 1:
                frame = self.patterns.frame(lemma, "verb")
                doc = c.doc
                if frame is None and c.i >= 2 and doc[c.i - 1].text == "-":
                    frame = self.patterns.frame(f"{doc[c.i - 2].lower_}-{lemma}", "verb")
                if frame is not None and "obj" in frame.slots:
                    self._guesses += 1
                    return c, "obj", frame
        found = self._climb(model)
        if found is not None:
            return found
        for c in model.children:
            # "Qwen, which Airbnb uses for support, ...": the model is the relative clause's
            # object (only when the model has no trigger of its own)
            if c.dep_ == "relcl":
                wh = next((x for x in c.children if x.lower_ in ("which", "that")), None)
                if wh is not None and wh.dep_ in ("dobj", "obj"):
                    found = self._check(c, "obj")
                    if found is not None:
                        return found
        return None

    def _climb(self, model: Token) -> tuple[Token, str, Frame] | None:
        t = model
        path = [model]
        for _ in range(10):
            if t is not path[-1]:
                path.append(t)
            dep, head = t.dep_, t.head
            if head is t:
                break
            if dep == "conj" and head.pos_ in _NOUNISH:
                t = head
                continue
            if dep == "appos" and (
                head._.aw_model is not None or _lemma(head) in self.w["model_nouns"]
            ):
                t = head
                continue
            if dep in ("compound", "nmod", "amod", "npadvmod", "nummod", "dep", "poss"):
                if dep != "poss":
                    found = self._modifier_trigger(t, head)
                    if found == "climb":
                        t = head.head if head.head is not head else head
                        continue
                    if found is not None:
                        return found
                if _lemma(head) in self.w["model_nouns"] or head.lower_ in self.w["model_nouns"]:
                    t = head
                    continue
                if dep != "poss" and _lemma(head) in self.n["model_heads"]:
                    t = head
                    continue
                hit = model._.aw_model
                if (
                    dep == "poss"
                    and t is model
                    and hit.surface.lower()
                    == hit.family.name.lower()
                    == hit.family.vendor.name.lower()
                    and _lemma(head) in self.n["model_heads"]
                ):
                    t = head  # "using DeepSeek's AI service": the lab's app is its model
                    continue
                frame = self._frame(head, "mod") if dep != "poss" else None
                return (head, "mod", frame) if frame else None
            if dep == "pobj":
                prep, ph = head, head.head
                if ph.lower_ == "such" and ph.head is not ph:
                    ph = ph.head
                if prep.lower_ == "of" and _lemma(ph) in self.w["wrappers"]:
                    t = ph
                    continue
                if prep.lower_ in ("as", "including", "like") and (
                    _lemma(ph) in self.w["model_nouns"]
                    or _lemma(ph) in self.w["wrappers"]
                    or _lemma(ph) in _CATEGORY_NOUNS
                    or ph._.aw_model is not None
                ):
                    t = ph
                    continue
                if (
                    prep.lower_ in ("from", "by", "of")
                    and _lemma(ph) in self.w["model_nouns"]
                    and _child(ph, "poss") is None
                ):
                    t = ph  # "models from OpenAI", but not "our model from GPT-4o"
                    continue
                if prep.lower_ in ("from", "by") and ph.pos_ == "VERB":
                    # "testing models from xAI and Meta": the PP belongs to the object
                    obj = _child(ph, "dobj")
                    if obj is not None and _lemma(obj) in self.w["model_nouns"] and obj.i < prep.i:
                        self._guesses += 1
                        t = obj
                        continue
                if prep.lower_ in ("alongside", "plus", "besides") and (
                    ph._.aw_model is not None or _lemma(ph) in self.w["model_nouns"]
                ):
                    t = ph  # "relies on Claude alongside Qwen": both are used
                    continue
                if prep.lower_ in ("alongside", "plus", "besides") and ph.pos_ == "VERB":
                    obj = _child(ph, "dobj")
                    if obj is not None and obj.i < prep.i and obj._.aw_model is not None:
                        # "to use Gemini alongside ChatGPT": the PP belongs to the object
                        t = obj
                        continue
            break
        if t is not path[-1]:
            path.append(t)
        for step in reversed(path):
            # the widest phrase first; a narrower one when the climb went too far
            found = self._slot_of(step)
            if found is not None:
                return found
        return None

    def _modifier_trigger(self, t: Token, head: Token) -> tuple[Token, str, Frame] | str | None:
        """ "Qwen-powered", "Qwen adoption", "a Qwen customer": the modifier's trigger, or
        "climb" when the trigger only says the model is derived ("Llama-based models")."""
        frame = self._frame(head, "mod")
        candidates = [(head, frame)] if frame else []
        for sib in head.children:
            if sib is not t and sib.i in (t.i + 1, t.i + 2):
                f = self._frame(sib, "mod")
                if f:
                    candidates.append((sib, f))
        for trigger, f in candidates:
            modified = trigger.head if trigger is not head else head
            if trigger is not head and trigger.dep_ not in ("amod", "compound", "acl", "npadvmod"):
                modified = head
            if f.pos == "adj" and (
                _lemma(modified) in self.w["model_nouns"] and modified._.aw_model is None
            ):
                return "climb" if trigger is head else None
            return trigger, "mod", f
        return None

    def _slot_of(self, t: Token) -> tuple[Token, str, Frame] | None:
        dep, head = t.dep_, t.head
        if (
            dep in ("dobj", "obj", "dative", "oprd")
            and _lemma(head) in ("make", "name", "set")
            and any(
                c is not t and c.lemma_.lower() in self.w["default_nouns"] for c in head.subtree
            )
        ):
            return head, "obj", _DEFAULT_FRAME  # "GitHub made Claude the default model"
        if (
            dep == "nsubj"
            and head.pos_ == "NOUN"
            and head.dep_ in ("ccomp", "xcomp", "oprd", "dobj")
            and _lemma(head.head) in ("make", "name", "set")
            and any(c.lemma_.lower() in self.w["default_nouns"] for c in head.subtree)
        ):
            # "made Claude its default model": the parser reads a small clause
            return head.head, "obj", _DEFAULT_FRAME
        if dep in ("dobj", "obj", "dative", "oprd"):
            return self._check(head, "obj")
        if dep == "nsubjpass":
            return self._check(head, "obj")
        if dep in ("nsubj", "csubj"):
            if head.lemma_ in _COPULAS:
                attr = _child(head, "attr")
                if attr is not None and self._copula_head(attr):
                    return head, "copula", _COPULA_FRAME
            return self._check(head, "subj")
        if dep == "attr" and head.lemma_ in _COPULAS:
            subj = _child(head, "nsubj")
            if subj is not None and self._copula_head(subj):
                return head, "copula", _COPULA_FRAME
            if (
                subj is not None
                and _lemma(t) in self.w["wrappers"]
                and _lemma(subj) in self.n["products"]
                and _child(subj, "poss") is not None
            ):
                # "Yelp's new assistant is a fine-tuned version of GPT-4o mini"
                return head, "copula", _COPULA_FRAME
            return None
        if dep == "pobj":
            prep = head
            if prep.dep_ == "agent":
                return self._check(prep.head, "by")
            phrase = prep.lower_
            head = prep.head
            if head.dep_ == "pobj" and head.lower_ in ("top", "favor", "favour", "place", "lieu"):
                outer = head.head
                phrase = f"{outer.lower_} {head.lower_} {phrase}"
                head = outer.head
            elif (
                head.lower_ in ("away", "instead", "off", "rather")
                and head.pos_ in ("ADV", "ADP", "PART", "ADJ")
                and prep.dep_ == "prep"
                and _child(head, "pobj") is None
            ):
                phrase = f"{head.lower_} {phrase}"
                head = head.head
            if phrase in self.w["prep_alternatives"]:
                return None
            return self._attach(head, phrase)
        if dep == "acomp":
            return self._check(head, "obj")
        return None

    def _attach(self, head: Token, phrase: str) -> tuple[Token, str, Frame] | None:
        """The trigger a prepositional phrase belongs to, repairing the small parser's
        attachments: "moved its features off GPT-4 and onto Claude" (PP on the object, or
        on the first PP), "weighing a switch to Claude" (PP on the verb, not the noun)."""
        found = self._check(head, phrase)
        if found is not None:
            return found
        self._guesses += 1
        if head.pos_ in ("VERB", "AUX"):
            for c in head.children:
                if c.dep_ in ("dobj", "attr") and c.pos_ in ("NOUN", "PROPN"):
                    found = self._check(c, phrase)
                    if found is not None:
                        return found
        walk = head
        for _ in range(4):
            if walk.head is walk:
                return None
            if (
                walk.pos_ == "ADP"
                or walk.dep_ in ("dobj", "compound", "nsubjpass", "conj", "pobj")
                or (walk.dep_ == "advcl" and walk.tag_ == "VBG" and 0 < walk.i - walk.head.i <= 3)
            ):
                walk = walk.head
                found = self._check(walk, phrase)
                if found is not None:
                    return found
                continue
            return None
        return None

    def _copula_head(self, noun: Token) -> bool:
        """ "the default model in Cline", "Airbnb's model of choice": not "the best model"."""
        lemma = _lemma(noun)
        if lemma not in self.w["copula_heads"]:
            return False
        mods = {c.lower_ for c in noun.children if c.dep_ in ("amod", "advmod", "compound")}
        if mods & self.w["superlatives"]:
            return False
        owned = _child(noun, "poss") is not None
        if lemma in self.w["copula_owned_only"]:
            return owned or "default" in mods
        return True

    def _product_fate(self, trigger: Token, relation: str) -> str | None:
        """A Qwen-powered product that is itself retired or tested: "retired its Claude-based
        feature" drops Claude, "is testing a Gemini-based assistant" evaluates Gemini."""
        noun = trigger.head if trigger.dep_ in ("amod", "acl", "compound", "npadvmod") else trigger
        if noun.dep_ == "appos" and noun.head is not noun:
            noun = noun.head
        if noun.dep_ == "pobj" and relation == "adopts":
            # "moved its ranking from a GPT-4-based system to Llama": the product is left
            saved = self._guesses
            found = self._slot_of(noun)
            self._guesses = saved
            if found is not None and found[2].slots[found[1]] == "drops":
                mood = self._modality(found[0])
                if mood.kind in ("neg", "hyp", "alt"):
                    return None
                return "drops"
            return relation
        if noun.dep_ not in ("dobj", "nsubjpass") or noun.head is noun:
            return relation
        frame = self._frame(noun.head, "obj")
        if frame is None:
            return relation
        fate = frame.slots["obj"]
        if fate == "adopts":
            return relation
        for c in noun.head.children:
            pobj = _child(c, "pobj") if c.dep_ == "prep" and c.lower_ in ("from", "in") else None
            if pobj is not None and (self.is_place(pobj) or pobj.ent_type_ in _PLACE_LABELS):
                return relation  # "was pulled from Italy": a market, not the model, is left
        mood = self._modality(noun.head)
        if mood.kind in ("neg", "hyp", "alt"):
            return None
        return fate

    # --- modality --------------------------------------------------------------------------

    def _modality(self, trigger: Token) -> Mood:
        mood = Mood()
        walk = trigger
        came_from: Token | None = None
        for depth in range(8):
            lemma = walk.lemma_.lower()
            if walk is not trigger:
                particles = [c.lower_ for c in walk.children if c.dep_ == "prt"]
                if lemma in self.g["negates"] or any(
                    f"{lemma} {p}" in self.g["negates"] for p in particles
                ):
                    if walk.dep_ == "xcomp" and _lemma(walk.head) in self.w["instruct_verbs"]:
                        return Mood("drops")  # "asked ministries to refrain from using X"
                    return Mood("neg")
                phrasal_drop = any(f"{lemma} {p}" in self.g["drops"] for p in particles)
                if (
                    (lemma in self.g["drops"] or phrasal_drop)
                    and came_from is not None
                    and came_from.dep_
                    in (
                        "xcomp",
                        "dobj",
                        "pcomp",
                        "pobj",
                        "prep",
                    )
                ):
                    mood.kind = "drops"
                elif lemma in self.g["evaluates"] and mood.kind == "plain":
                    mood.kind = "evaluates"
                elif (
                    lemma in self.w["predict"]
                    and came_from is not None
                    and (came_from.dep_ == "ccomp" or _child(walk, "dobj") is not None)
                ):
                    return Mood("hyp")  # "analysts expect more companies to adopt Qwen"
                elif lemma in self.g["intends"]:
                    mood.intends = True
            neg = False
            pending_no_longer = False
            for child in walk.children:
                low = child.lower_
                if child.dep_ == "neg" or (child.dep_ == "det" and low == "no"):
                    neg = True
                elif child.dep_ == "advmod" and low == "longer":
                    if any(c.lower_ == "no" for c in child.children) or any(
                        c.lower_ == "no" and c.i == child.i - 1 for c in walk.children
                    ):
                        mood.kind = "no_longer"
                    else:
                        pending_no_longer = True
                elif child.dep_ == "advmod" and low in ("anymore",):
                    pending_no_longer = True
                elif child.dep_ in ("advmod", "npadvmod") and low in ("never", "hardly", "barely"):
                    neg = True
                elif (
                    child.dep_ == "advmod"
                    and low in ("previously", "formerly", "originally", "once")
                    and walk is trigger
                ):
                    if walk.tag_ in ("VBD", "VBN") and mood.kind == "plain":
                        mood.kind = "formerly"
                elif child.dep_ == "aux" and low in self.g["hypothetical_aux"]:
                    negated = any(c.dep_ == "neg" for c in walk.children)
                    if negated and low in ("must", "should") and self._instructed(walk):
                        return Mood("drops")  # "told employees they must not use DeepSeek"
                    return Mood("hyp")
                elif child.dep_ == "aux" and low in ("would", "'d"):
                    if not self._under_report(walk):
                        return Mood("hyp")
                    mood.future = True
                elif child.dep_ == "aux" and low in ("will", "'ll", "wo", "shall"):
                    mood.future = True
                elif child.dep_ == "mark" and low in ("if", "unless", "whether", "lest", "for"):
                    if low == "whether" and self._under_evaluation(walk):
                        mood.kind = "evaluates"
                    else:
                        return Mood("hyp")
                elif child.dep_ == "advmod" and low == "yet" and walk.lemma_ == "have":
                    return Mood("neg")
                elif child.dep_ == "prep" and low == "in":
                    pobj = _child(child, "pobj")
                    if (
                        pobj is not None
                        and _lemma(pobj)
                        in (
                            "talk",
                            "talks",
                            "discussion",
                            "negotiation",
                            "negotiations",
                        )
                        and mood.kind == "plain"
                    ):
                        mood.kind = "evaluates"
            if neg:
                if pending_no_longer or mood.kind == "no_longer":
                    return Mood("no_longer", mood.intends, mood.future)
                if walk.dep_ == "xcomp" and _lemma(walk.head) in self.w["instruct_verbs"]:
                    return Mood("drops")  # "staff were told not to use DeepSeek": a ban
                if (
                    walk is not trigger
                    and lemma in self.w["let_verbs"]
                    and came_from is not None
                    and came_from.dep_ in ("ccomp", "xcomp")
                    and self._own_staff(_child(came_from, "nsubj", "dobj") or _child(walk, "dobj"))
                ):
                    return Mood("drops")  # "does not allow staff to use DeepSeek": a ban
                return Mood("neg")
            if mood.kind == "no_longer":
                return mood
            dep, head = walk.dep_, walk.head
            if head is walk:
                break
            if (
                dep == "pcomp"
                and head.lower_ in ("without", "instead", "of")
                and (head.lower_ != "of" or head.head.lower_ in ("instead", "place"))
            ):
                return Mood("neg" if head.lower_ == "without" else "alt")
            if dep in ("xcomp", "ccomp", "aux", "pcomp", "prep", "pobj", "dobj", "attr"):
                came_from, walk = walk, head
                continue
            if (
                dep in ("acl", "relcl", "ccomp")
                and head.pos_ == "NOUN"
                and (
                    _lemma(head) in self.g["intends"]
                    or _lemma(head) in self.g["evaluates"]
                    or _lemma(head) in self.w["light_nouns"]
                    or _lemma(head) in self.w["report_nouns"]
                )
            ):
                if _lemma(head) in self.w["report_nouns"]:
                    mood.hearsay = True  # "reports that Samsung is replacing Gemini"
                came_from, walk = walk, head
                continue
            if dep == "advcl" and walk.tag_ == "VBG" and 0 < walk.i - head.i <= 2:
                # "ruled out using DeepSeek": a gerund complement the parser made an advcl
                came_from, walk = walk, head
                continue
            if dep == "advcl" and mood.kind == "plain":
                for c in head.children:
                    if c.dep_ == "prep" and c.lower_ == "in":
                        pobj = _child(c, "pobj")
                        if pobj is not None and _lemma(pobj) in (
                            "talk",
                            "talks",
                            "negotiation",
                            "negotiations",
                            "discussion",
                        ):
                            mood.kind = "evaluates"
            if (
                dep == "conj"
                and depth == 0
                and head.pos_ == "VERB"
                and _child(walk, "nsubj", "nsubjpass") is None
            ):
                # "tested and then deployed": hedges of the first verb's clause carry over,
                # its negation does not.
                aux = [c.lower_ for c in head.children if c.dep_ == "aux"]
                if any(a in self.g["hypothetical_aux"] for a in aux):
                    return Mood("hyp")
            break
        return mood

    @staticmethod
    def _own_staff(tok: Token | None) -> bool:
        """The organisation's own people: "staff", "employees", "its engineers"."""
        if tok is None:
            return False
        return _lemma(tok) in _STAFF or (
            _child(tok, "poss") is not None and _child(tok, "poss").tag_ == "PRP$"
        )

    def _instructed(self, tok: Token) -> bool:
        """Is the clause an instruction given to someone ("told staff they must not ...")?"""
        return tok.dep_ in ("ccomp", "xcomp") and _lemma(tok.head) in self.w["instruct_verbs"]

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

    def _hosting_context(self, doc: Doc, claim: RawClaim) -> bool:
        if not claim.hosting_trigger:
            return False
        adopter = claim.adopter
        trigger = doc[claim.trigger]
        words = f" {' '.join(t.lower_ for t in trigger.subtree)} "
        for c in trigger.children:
            # "added R1 to Bedrock", "connected its cloud services to R1" host it;
            # "supports Claude through Bedrock" uses it
            if (c.dep_ == "prep" and c.lower_ in ("to", "on", "in", "into", "onto", "inside")) or (
                c.dep_ == "dobj" and c._.aw_model is None
            ):
                place = f" {' '.join(t.lower_ for t in c.subtree)} "
                if any(f" {p} " in place for p in self._hosting_places):
                    return True
        if _lemma(trigger) in self.w["pure_hosting"] and any(
            f" {p} " in words for p in self._audiences
        ):
            return True
        for let in trigger.ancestors:
            if _lemma(let) in self.w["let_verbs"]:
                # "Baidu's cloud unit lets enterprise customers call R1": hosting
                subj = _child(let, "nsubj")
                if subj is not None:
                    who = f" {' '.join(t.lower_ for t in subj.subtree)} "
                    if any(f" {p.lower()} " in who for p in self._hosting_places):
                        return True
                break
        sentence = f" {' '.join(t.lower_ for t in doc)} "
        for cue in (" available to ", " available for ", " accessible to "):
            at = sentence.find(cue)
            if at >= 0:
                after = sentence[at + len(cue) :].split()[:3]
                if any(w in self._audiences for w in after):
                    return True  # "..., making it available to enterprise customers"
        if adopter.kind == "named" and not adopter.via_product:
            vendor = self.catalog.vendor_named(adopter.name)
            if self.gazetteer.is_hosting(adopter.name) or (vendor is not None and vendor.hosting):
                # a cloud adding a model to one of its own named products is using it
                # ("bringing Claude into Microsoft 365 Copilot"); anything else is hosting
                return not self._into_own_product(trigger)
        return False

    # --- adopters --------------------------------------------------------------------------

    def _adopters(self, trigger: Token, slot: str, frame: Frame) -> list[Adopter]:
        agent = self._agent(trigger, slot, frame)
        if agent is None or agent._.aw_model is not None:
            return []
        tokens = [agent, *[c for c in agent.conjuncts if c.i > agent.i]]
        if len(tokens) > 1:
            # "Meta, Microsoft and Amazon have ...": the parser often hangs the first names
            # of a list off the verb
            doc, k = agent.doc, agent.i
            while (
                k >= 2
                and doc[k - 1].text == ","
                and doc[k - 2].pos_ == "PROPN"
                and doc[k - 2].dep_ in ("npadvmod", "appos", "nmod", "dep", "nsubj")
                and doc[k - 2]._.aw_model is None
            ):
                tokens.insert(0, doc[k - 2])
                k -= 2
                while k >= 1 and doc[k - 1].dep_ == "compound" and doc[k - 1].head.i == k:
                    k -= 1
            if k > 0 and doc[k - 1].pos_ not in ("PUNCT", "CCONJ") and tokens[0] is not agent:
                tokens = [agent, *[c for c in agent.conjuncts if c.i > agent.i]]
        out: list[Adopter] = []
        for tok in tokens:
            out.extend(self.classify(tok))
        seen: set[str] = set()
        unique = []
        for a in out:
            key = f"{a.kind}:{a.name.lower()}"
            if key not in seen:
                seen.add(key)
                unique.append(a)
        return unique

    def _agent(self, trigger: Token, slot: str, frame: Frame) -> Token | None:
        if slot == "copula":
            return self._copula_owner(trigger)
        if trigger.pos_ in ("NOUN", "PROPN") and not trigger.tag_.startswith("VB"):
            return self._noun_owner(trigger)
        passive = any(c.dep_ in ("auxpass", "nsubjpass") for c in trigger.children) or (
            trigger.tag_ == "VBN" and trigger.dep_ in ("acl", "amod", "advcl", "relcl")
        )
        if slot == "mod" or (frame.pos == "adj" and trigger.dep_ in ("amod", "acl", "compound")):
            if (
                trigger.dep_ in ("amod", "acl", "compound", "npadvmod")
                and trigger.head is not trigger
            ):
                owner = self._product_owner(trigger.head)
                if owner is None and trigger.head.dep_ == "pobj":
                    # "moved its ranking from a GPT-4-based system to ...": who moves
                    found = self._slot_of(trigger.head)
                    if found is not None and found[0].pos_ in ("VERB", "AUX"):
                        return self._subject(found[0])
                return owner
            subj = _child(trigger, "nsubj", "nsubjpass")
            if subj is None and trigger.head is not trigger:
                subj = _child(trigger.head, "nsubj", "nsubjpass")
            return self._product_owner(subj) if subj is not None else None
        if slot == "subj":
            at = self._pobj(trigger, ("at", "inside", "within", "across", "for"))
            if at is not None:
                return at
            obj = _child(trigger, "dobj", "obj")
            return self._product_owner(obj) if obj is not None else None
        if passive and slot == "obj":
            agent = _child(trigger, "agent")
            if agent is not None:
                pobj = _child(agent, "pobj")
                return self._product_owner(pobj) if pobj is not None else None
            return self._pobj(
                trigger, ("at", "inside", "within", "across", "throughout", "into", "in")
            )
        if passive:
            subj = _child(trigger, "nsubjpass")
            if subj is not None and subj._.aw_model is None:
                return self._product_owner(subj)
            if trigger.dep_ in ("acl", "amod", "relcl") and trigger.head is not trigger:
                return self._product_owner(trigger.head)
            if trigger.dep_ == "advcl" and trigger.i < trigger.head.i:
                # "Powered by Claude, Asana's new teammates ...": the main clause's subject
                subj = _child(trigger.head, "nsubj", "nsubjpass")
                if subj is not None and subj._.aw_model is None:
                    return self._product_owner(subj)
            return self._pobj(trigger, ("at", "inside", "within", "across"))
        return self._subject(trigger)

    def _subject(self, verb: Token) -> Token | None:
        subj = self._subject_in_tree(verb)
        lead = self.lead_apposition(verb.doc)
        if lead is not None and verb.i > lead[2]:
            name_end, appos_start, appos_end = lead
            if subj is None or appos_start <= subj.i <= appos_end:
                # "Ledgerly, a payments startup based in Austin, is piloting X": the parser
                # lost the name in front of the apposition
                self._guesses += 1
                return verb.doc[name_end]
        return subj

    def lead_apposition(self, doc: Doc) -> tuple[int, int, int] | None:
        """A sentence that opens with a name and an apposition describing an organisation
        ("Ledgerly, a payments startup based in Austin, ..."): (last token of the name,
        first and last token of the apposition)."""
        if LEAD_KEY in doc.user_data:
            return doc.user_data[LEAD_KEY]  # type: ignore[no-any-return]
        found = None
        i = 0
        while (
            i < min(len(doc), 5)
            and doc[i].text[:1].isupper()
            and doc[i]._.aw_model is None
            and doc[i].pos_ not in ("DET", "PRON", "ADP", "SCONJ", "CCONJ", "AUX")
            and not doc[i].is_stop
            and doc[i].ent_type_ not in _NON_ORG_LABELS
            and doc[i].lower_ not in TITLES
        ):
            i += 1
        opens = 0 < i < len(doc) - 2 and (
            doc[i + 1].lower_ in ("a", "an", "the") or doc[i + 1].tag_ == "PRP$"
        )
        if opens and doc[i].text == ",":
            end = next(
                (k for k in range(i + 2, min(len(doc), i + 25)) if doc[k].text in (",", "—", "–")),
                None,
            )
            if end is not None and any(
                self._noun_lemma(t) in self.n["organisations"] for t in doc[i + 1 : end]
            ):
                found = (i - 1, i + 1, end)
        elif opens and doc[i].text in (":", "—", "–"):
            # "Cursor: the AI code editor defaults to Claude" (listicles, captions)
            end = i + 1
            while end + 1 < len(doc) and doc[end + 1].pos_ in _NP_POS:
                end += 1
            head = doc[end]
            if self._noun_lemma(head) in self.n["organisations"] or (
                _lemma(head) in self.w["product_anaphors"]
            ):
                found = (i - 1, i + 1, end)
        doc.user_data[LEAD_KEY] = found
        return found

    def _lead_name(self, tok: Token) -> Adopter | None:
        lead = self.lead_apposition(tok.doc)
        if lead is None or tok.i != lead[0]:
            return None
        raw = tok.doc[: tok.i + 1].text
        name = self.gazetteer.normalise(raw)
        return Adopter("named", name, tok.i, known=self.gazetteer.known(name), penalty=0.05)

    def _subject_in_tree(self, verb: Token) -> Token | None:
        walk = verb
        for _ in range(6):
            subj = _child(walk, "nsubj", "csubj", "nsubjpass")
            if subj is not None:
                low = subj.lower_
                if low in _WH and walk.dep_ == "relcl":
                    return walk.head
                if low in ("both", "each", "all", "either"):
                    inner = next(
                        (
                            c
                            for c in subj.children
                            if c.dep_ in ("nmod", "compound", "poss", "appos")
                        ),
                        None,
                    )
                    return inner
                if _lemma(subj) in self.n["people"] and not _owned(subj):
                    at = self._pobj(walk, ("at", "inside", "within"))
                    if at is None and walk.doc[0].lower_ in ("at", "inside", "within"):
                        # "At Coupang, the Korean e-commerce company, engineers have built"
                        first = _child(walk.doc[0], "pobj")
                        if first is not None and first._.aw_model is None:
                            self._guesses += 1
                            at = first
                    if at is not None:
                        return at
                    if walk.dep_ in ("ccomp", "xcomp") and _lemma(walk.head) in self.w["let_verbs"]:
                        self._via_let = True
                        walk = walk.head
                        continue
                return subj
            dep, head = walk.dep_, walk.head
            if dep in ("relcl", "acl") and head is not walk:
                if head.pos_ == "NOUN" and (
                    _lemma(head) in self.g["intends"]
                    or _lemma(head) in self.g["evaluates"]
                    or _lemma(head) in self.w["light_nouns"]
                ):
                    return self._noun_owner(head)
                if head.pos_ == "NOUN" and _lemma(head) in self.n["products"]:
                    return self._product_owner(head)  # "an agent running on Claude"
                return head
            if dep == "xcomp" and _lemma(head) in self.w["instruct_verbs"]:
                obj = _child(head, "dobj")
                if obj is not None and not (
                    _lemma(obj) in self.n["people"] and _child(obj, "poss") is None
                ):
                    return obj  # "asked ministries to ...": the ministries act
                if obj is not None:
                    # "Coinbase requires every engineer to use X": the organisation mandates
                    walk = head
                    continue
            if (
                dep in ("xcomp", "conj", "advcl", "pcomp", "prep", "ccomp")
                or (dep == "pobj" and walk.pos_ == "VERB")  # a verb the parser made a pobj
            ) and head is not walk:
                walk = head
                if walk.pos_ == "ADP" and walk.head is not walk:
                    walk = walk.head
                if walk.pos_ in ("NOUN", "PROPN") and not walk.tag_.startswith("VB"):
                    subj = _child(walk, "nsubj") if walk.dep_ == "ROOT" else None
                    if subj is not None:
                        self._guesses += 1
                        return subj  # "Pinterest cut/NN costs after moving ...": a verb
                    return self._noun_owner(walk)
                continue
            # no subject anywhere: a capitalised word glued to the verb's left is one
            # ("Writesonic/amod deploys ...", "Vercel/compound taps ...").
            lefts = [
                c
                for c in walk.lefts
                if c.dep_ in ("amod", "compound", "nmod", "npadvmod", "dep")
                and c.text[:1].isupper()
                and c._.aw_model is None
            ]
            if lefts:
                self._guesses += 1
                return lefts[-1]
            if walk.pos_ == "NOUN" and walk.dep_ == "ROOT":
                compound = [c for c in walk.lefts if c.dep_ == "compound"]
                if compound:
                    return self._product_owner(compound[-1])
            return self._left_subject(walk)
        return None

    def _left_subject(self, verb: Token) -> Token | None:
        """A sentence-initial name right before a verb the parser left subjectless
        ("Harvey fine-tuned GPT-4 ...")."""
        doc = verb.doc
        i = verb.i - 1
        while i >= 0 and (
            doc[i].pos_ in ("ADV", "AUX", "PART") or doc[i].text in ("-", "fine", "has", "have")
        ):
            i -= 1
        end = i
        while (
            i >= 0
            and doc[i].text[:1].isupper()
            and doc[i]._.aw_model is None
            and (doc[i].pos_ in ("PROPN", "NOUN", "ADJ", "NUM"))
        ):
            i -= 1
        if end < 0 or i == end or i >= 0:
            return None  # the run must start the sentence
        self._guesses += 1
        return doc[end]

    def _copula_owner(self, be: Token) -> Token | None:
        attr = _child(be, "attr")
        subj = _child(be, "nsubj")
        for noun in (attr, subj):
            if noun is None or noun._.aw_model is not None:
                continue
            owner = _child(noun, "poss")
            if owner is not None:
                return owner
            at = self._pobj(noun, ("in", "at", "behind", "inside", "powering", "of"))
            if at is not None:
                return at
            owned = self._pobj_token(noun, ("for",))
            if owned is not None and _child(owned, "poss") is not None:
                return self._product_owner(owned)  # "the default model for Genspark's agents"
        return self._pobj(be, ("in", "at", "behind", "inside"))

    def _noun_owner(self, noun: Token) -> Token | None:
        if _lemma(noun) == "access":
            # "gave its advisers access to X", "blocked staff access to X": the one who gives or
            # blocks, not the one who has the access ("cut off Windsurf's access")
            head = noun.head
            verb = _lemma(head)
            if (
                noun.dep_ in ("dobj", "nsubjpass")
                and head.pos_ in ("VERB", "AUX")
                and (verb in self.w["access_givers"] or verb in self.w["access_takers"])
            ):
                return self._subject(head)
            return None
        if (
            noun.dep_ == "pobj"
            and noun.head.lower_ == "among"
            and _lemma(noun.head.head)
            in (
                "count",
                "include",
                "list",
                "number",
                "name",
            )
        ):
            return _child(noun.head.head, "dobj")  # "Anthropic counts Pfizer among its customers"
        if (
            noun.dep_ == "nsubj"
            and _lemma(noun) in ("customer", "client", "user", "adopter", "licensee")
            and _lemma(noun.head) in ("include", "count", "number", "span", "feature", "range")
        ):
            # "Claude Enterprise customers now include Novo Nordisk, Bridgewater and ...":
            # the included organisations (their conjuncts follow in _adopters)
            obj = _child(noun.head, "dobj", "attr")
            if obj is not None:
                return obj
        owner = _child(noun, "poss")
        if (
            owner is not None
            and _lemma(owner) in self.n["people"]
            and not _owned(owner)
            and noun.dep_ in ("dobj", "nsubjpass")
            and noun.head.pos_ in ("VERB", "AUX")
            and (
                _lemma(noun.head) in self.g["drops"] or _lemma(noun.head) in self.w["access_takers"]
            )
        ):
            # "Samsung restricted employees' use of ChatGPT": the one who restricts
            return self._subject(noun.head)
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
        dep, head = noun.dep_, noun.head
        if (
            dep == "pobj"
            and head.lower_ == "among"
            and _lemma(head.head)
            in (
                "count",
                "include",
                "list",
                "number",
                "name",
            )
        ):
            return _child(head.head, "dobj")  # "Anthropic counts Pfizer among its customers"
        if dep == "appos":
            return head
        if dep == "attr" and head.lemma_ == "be":
            return _child(head, "nsubj")
        if dep == "pobj" and head.lower_ == "among" and head.head.lemma_ == "be":
            return _child(head.head, "nsubj")
        if dep in ("dobj", "nsubjpass") and (
            head.lemma_.lower() in self.w["light_verbs"]
            or head.lemma_.lower() in self.g["intends"] | self.g["evaluates"] | self.g["drops"]
        ):
            return self._subject(head)
        if (
            dep == "pobj"
            and head.pos_ == "ADP"
            and head.head.pos_ in ("VERB", "AUX")
            and (
                _lemma(noun) in self.g["intends"]
                or _lemma(noun) in self.g["evaluates"]
                or _lemma(noun) in self.w["light_nouns"]
            )
        ):
            return self._subject(head.head)
        return None

    def _product_owner(self, noun: Token | None, depth: int = 0) -> Token | None:
        """Who owns a product noun ("Airbnb's agent"), or the noun if it names an org."""
        if noun is None or depth > 4 or noun._.aw_model is not None:
            return None
        if depth:
            self._guesses += 1
        low = noun.lower_
        if low in _WH:
            return (
                self._product_owner(noun.head.head, depth + 1)
                if noun.head.dep_ == "relcl"
                else None
            )
        if (
            (noun.pos_ == "PROPN" and noun.text not in _GENERIC_PROPER)
            or noun.text in _PRONOUN_ADOPTERS
            or noun.pos_ == "PRON"
        ):
            return noun
        if (
            noun.tag_ in ("NNS", "NNPS")
            and _lemma(noun) in self.n["products"]
            and self._members(noun)
        ):
            return noun  # "adopted by coding tools such as Cline and Roo Code": the members
        maker = self._maker(noun)
        if maker is not None:
            return maker
        owner = _child(noun, "poss")
        if owner is not None:
            return owner
        for c in noun.children:
            if c.dep_ == "compound" and c.pos_ == "PROPN" and c._.aw_model is None:
                return c
        lemma = _lemma(noun)
        if lemma in self.n["organisations"] or lemma in self.n["people"]:
            return noun
        for c in noun.children:
            if c.dep_ == "prep" and c.lower_ in ("in", "of", "inside", "within", "at", "from"):
                pobj = _child(c, "pobj")
                if pobj is not None and pobj._.aw_model is None:
                    found = self._product_owner(pobj, depth + 1)
                    if found is not None:
                        return found
        dep, head = noun.dep_, noun.head
        if (
            dep == "appos"
            and head is not noun
            and head.pos_ == "PROPN"
            and lemma in self.n["products"]
        ):
            # "The Post has launched Ask The Post AI, a chatbot built on ...": the launcher
            maker = self._maker(head)
            if maker is not None:
                return maker
        if dep in ("appos", "compound") and head is not noun:
            return self._product_owner(head, depth + 1)
        if dep in ("dobj", "attr") and head.pos_ in ("VERB", "AUX"):
            if head.lemma_.lower() in self.g["report_verbs"]:
                return None
            subj = self._subject(head)
            if subj is not None and subj.pos_ == "NOUN" and _lemma(subj) in self.n["products"]:
                return self._product_owner(subj, depth + 1)
            return subj
        if dep == "pobj" and head.head is not head:
            h = head.head
            if h.pos_ in ("VERB", "AUX"):
                subj = self._subject(h)
                if subj is not None and subj.pos_ == "NOUN" and _lemma(subj) in self.n["products"]:
                    return self._product_owner(subj, depth + 1)
                return subj
            if h.pos_ in ("NOUN", "PROPN"):
                return self._product_owner(h, depth + 1)
        return None

    def _maker(self, noun: Token) -> Token | None:
        """The subject of the verb that launched, built or deployed a product: "RBC has
        deployed Cohere's North platform, built on Command A" -> RBC."""
        walk = noun
        if walk.dep_ == "appos" and walk.head is not walk:
            walk = walk.head
        if walk.dep_ in ("dobj", "nsubjpass") and _lemma(walk.head) in self.w["maker_verbs"]:
            subj = self._subject(walk.head)
            if subj is not None and subj._.aw_model is None and subj.lower_ not in _WH:
                if subj.pos_ == "NOUN" and _lemma(subj) in self.n["products"]:
                    return None
                self._guesses += 1
                return subj
        return None

    def _name_owner(self, tok: Token) -> Token | None:
        """The organisation behind a product name: "Intercom's Fin", "Block's open-source
        agent Goose", "Foxconn unveiled FoxBrain, a model ..."; None for organisations."""
        if self.gazetteer.known(tok.text) or self.catalog.vendor_named(tok.text):
            return None
        if tok.text in self.gazetteer.org_words and not (
            tok.text in ("AI", "Intelligence") and _child(tok, "poss") is not None
        ):
            # "the Pentagon's Defense Information Systems Agency" is itself an org (but
            # "Snowflake's Cortex AI" is a product)
            return None
        owner = _child(tok, "poss")
        if owner is None:
            for c in tok.children:
                if c.dep_ in ("compound", "nmod", "appos") and c.pos_ == "NOUN":
                    owner = _child(c, "poss")
                    if owner is not None:
                        break
        if owner is not None and owner.lower_ not in _WH:
            return owner
        if tok.ent_type_ == "ORG":
            return None
        return self._maker(tok)

    @staticmethod
    def _pobj_token(tok: Token, preps: Sequence[str]) -> Token | None:
        for c in tok.children:
            if c.dep_ == "prep" and c.lower_ in preps:
                pobj = _child(c, "pobj")
                if pobj is not None and pobj._.aw_model is None:
                    return pobj
        return None

    def _pobj(self, tok: Token, preps: Sequence[str]) -> Token | None:
        for c in tok.children:
            if c.dep_ == "prep" and c.lower_ in preps:
                pobj = _child(c, "pobj")
                if pobj is not None and pobj._.aw_model is None:
                    return self._product_owner(pobj) or pobj
        return None

    # --- who is this token? ----------------------------------------------------------------

    def classify(self, tok: Token) -> list[Adopter]:
        """The adopter(s) a token names: named, generic, anaphor, "we", or none."""
        if tok._.aw_model is not None:
            return []
        lead = self._lead_name(tok)
        if lead is not None:
            return [lead]
        low = tok.lower_
        if low in _WH:
            walk = tok
            for _ in range(3):
                if walk.dep_ == "relcl" and walk.head is not walk:
                    return self.classify(walk.head)
                walk = walk.head
            return []
        if tok.pos_ == "PRON" or tok.text in _PRONOUN_ADOPTERS:
            if low in ("it", "its", "itself"):
                return [Adopter("anaphor", "it", tok.i, penalty=0.05)]
            if low in ("they", "their", "them", "themselves"):
                return [Adopter("anaphor", "they", tok.i, penalty=0.1)]
            if low in ("we", "our", "us", "ourselves"):
                return [Adopter("we", "we", tok.i, penalty=0.1)]
            if low in ("both", "each", "all"):
                inner = [c for c in tok.children if c.dep_ in ("nmod", "compound", "appos")]
                return [a for c in inner for a in self.classify(c)] if inner else []
            return []
        lemma = self._noun_lemma(tok)
        if lemma in self.w["public_bodies"] or lemma in _PLACE_BODIES:
            of = next((c for c in tok.children if c.dep_ == "prep" and c.lower_ == "of"), None)
            place = _child(of, "pobj") if of is not None else None
            if (
                place is not None
                and place._.aw_model is None
                and place.text[:1].isupper()
                and self.is_place(place)
                and tok.tag_ not in ("NNS", "NNPS")
            ):
                # "the state of Pennsylvania", "the City of Boston", "the government of India"
                name = f"{tok.text} of {' '.join(t.text for t in _name_tokens(place))}"
                return [Adopter("named", name, tok.i, penalty=0.1)]
        if tok.pos_ == "PROPN" and tok.dep_ in ("nsubj", "nsubjpass"):
            left = [t for t in tok.subtree if t.i < tok.i]
            titles = [t for t in left if t.lower_ in _EXECUTIVES]
            if titles:
                place = [t for t in left if t.i < titles[0].i and self.is_place(t)]
                if place:
                    # "Texas Governor Greg Abbott banned DeepSeek": the state acts
                    name = " ".join(t.text for t in left if t.i < titles[0].i)
                    return [Adopter("named", name, place[-1].i, penalty=0.1)]
        common = lemma in self.n["people"] or lemma in self.n["organisations"]
        known_word = tok.text[:1].isupper() and self.gazetteer.known(tok.text)
        bare_name = (
            tok.pos_ in ("NOUN", "ADJ")
            and tok.tag_ in ("NN", "JJ")
            and tok.text[:1].isupper()
            and not common
            and lemma not in self.n["products"]
            and not any(c.dep_ in ("det", "poss") for c in tok.children)
            and tok.dep_ in ("nsubj", "nsubjpass", "compound", "nmod", "amod", "conj", "appos")
        )
        if (
            (tok.pos_ == "PROPN" and not (common and not known_word))
            or known_word
            or (
                tok.ent_type_ in ("ORG", "PRODUCT")
                and tok.pos_ != "NOUN"
                and tok.text[:1].isupper()
            )
        ):
            owner = self._name_owner(tok)
            if owner is not None and owner.i != tok.i:
                found = self.classify(owner)
                if found:
                    return found
            return self._named(tok)
        if bare_name:
            # a capitalised singular noun with no determiner is a name ("Evernote replaced")
            return [replace(a, penalty=a.penalty + 0.05) for a in self._named(tok)]
        if (
            tok.dep_ == "attr"
            and tok.pos_ in ("NOUN", "NUM", "PRON")
            and tok.head.lemma_
            in (
                "be",
                "become",
                "remain",
            )
        ):
            # "Morgan Stanley became the first Wall Street firm to deploy GPT-4",
            # "Mercari is one of the first companies to sign up for ChatGPT Enterprise"
            subj = _child(tok.head, "nsubj", "nsubjpass")
            if subj is not None and subj.i != tok.i:
                return [a for c in [subj, *subj.conjuncts] for a in self.classify(c)]
        if tok.pos_ not in ("NOUN", "PROPN") and not (
            tok.pos_ == "ADJ"
            and tok.dep_ in ("nsubj", "nsubjpass")
            and lemma in self.n["organisations"]
        ):
            return []
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
        if owner is None:
            # "Its new agent features": the possessive hangs off the compound modifier
            for c in tok.children:
                if c.dep_ == "compound" and c.i < tok.i:
                    owner = _child(c, "poss")
                    if owner is not None:
                        break
        place_owner = owner is not None and self.is_place(owner)
        if owner is not None and owner.tag_ == "PRP$" and lemma in self.n["products"]:
            # "Our team at Ramp", "their engineers at Vanta": the named place wins over "our"
            at = self._pobj(tok, ("at", "inside", "within"))
            if at is not None:
                found = [a for a in self.classify(at) if a.kind == "named"]
                if found:
                    return found
        if (
            owner is not None
            and owner.dep_ == "poss"
            and owner.tag_ != "PRP$"
            and not place_owner
            and (tok.pos_ == "PROPN" or lemma in self.n["organisations"])
        ):
            brand = self._known_brand(tok, owner)
            if brand is not None:
                return [brand]
        if owner is not None and owner.i != tok.i and not place_owner:
            found = self.classify(owner)
            if found:
                if lemma in self.n["products"] and lemma not in self.w["hosting_products"]:
                    return [replace(a, via_product=True) for a in found]
                return found
            if owner.lower_ in ("his", "her") and (
                lemma in self.n["organisations"] or lemma in self.n["products"]
            ):
                named = [
                    a
                    for c in tok.children
                    if c.dep_ in ("appos", "compound") and c.i > tok.i
                    for a in self.classify(c)
                    if a.kind == "named"
                ]
                return named[:1] or [Adopter("anaphor", "his", owner.i, penalty=0.1)]
        if lemma in self.w["public_bodies"] and (owner is None or owner.dep_ == "compound"):
            place = next(
                (
                    c
                    for c in tok.children
                    if (c.dep_ == "compound" and self.is_place(c))
                    or (  # "the Australian government", "the Estonian education ministry"
                        # (a watchdog blocking an app for a country is regulation, not use)
                        c.dep_ == "amod"
                        and c.ent_type_ == "NORP"
                        and c.text[:1].isupper()
                        and lemma not in _WATCHDOGS
                    )
                ),
                None,
            )
            if place is not None and tok.tag_ not in ("NNS", "NNPS"):
                # "the Hong Kong government", "the Texas education department"
                return [Adopter("named", _phrase(tok, tok), tok.i, penalty=0.1)]
        if (
            owner is not None
            and place_owner
            and owner.dep_ == "poss"
            and lemma in self.n["organisations"]
            and tok.tag_ not in ("NNS", "NNPS")
        ):
            # "South Korea's industry ministry": a specific public body
            return [Adopter("named", _phrase(tok, tok), tok.i, penalty=0.1)]
        for c in tok.children:
            if c.dep_ == "prep" and c.lower_ in ("at", "from", "inside", "within", "with"):
                pobj = _child(c, "pobj")
                if (
                    pobj is not None
                    and pobj._.aw_model is None
                    and (lemma in self.n["people"] or lemma in self.n["products"])
                ):
                    found = self.classify(pobj)
                    if found:
                        return found
        if (
            lemma in self.n["organisations"]
            and tok.dep_ == "pobj"
            and tok.head.lower_ == "among"
            and tok.head.head.lemma_ == "be"
        ):
            # "Honor and Oppo are among the phone makers that have embedded DeepSeek"
            subj = _child(tok.head.head, "nsubj")
            if subj is not None:
                found = [a for c in [subj, *subj.conjuncts] for a in self.classify(c)]
                if any(c.dep_ in ("nummod", "quantmod", "amod") for c in tok.children):
                    found.append(Adopter("generic", _phrase(tok, tok), tok.i, penalty=0.05))
                return found
        if lemma in self.n["organisations"]:
            named = [
                a
                for c in tok.children
                if (c.dep_ in ("appos", "compound", "nmod") and c.i > tok.i) or c.dep_ == "appos"
                for a in self.classify(c)
                if a.kind == "named"
            ]
            if named:
                return named[:1]
            if tok.dep_ == "appos":
                head_named = [a for a in self.classify(tok.head) if a.kind == "named"]
                if head_named:
                    return head_named
        if lemma in self.w["quantity_heads"]:
            of = next((c for c in tok.children if c.dep_ == "prep" and c.lower_ == "of"), None)
            pobj = _child(of, "pobj") if of is not None else None
            if pobj is not None and _lemma(pobj) in self.n["organisations"]:
                generic = Adopter("generic", _phrase(tok, pobj), tok.i, penalty=0.05)
                members = self._members(pobj) or self._members(tok)
                return [*members, generic]
            return []
        if lemma in self.n["organisations"] and lemma not in self.n["people"]:
            members = self._members(tok)
            plural = tok.tag_ in ("NNS", "NNPS")
            if members:
                if plural and any(
                    c.dep_ in ("amod", "nummod", "quantmod", "det") for c in tok.children
                ):
                    return [*members, Adopter("generic", _phrase(tok, tok), tok.i, penalty=0.05)]
                return members
            dets = [c.lower_ for c in tok.children if c.dep_ in ("det", "poss")]
            plural = tok.tag_ in ("NNS", "NNPS")
            if not plural and any(d in ("the", "this", "that", "its") for d in dets):
                return [Adopter("anaphor", f"the {lemma}", tok.i, penalty=0.05)]
            if not plural and not dets:
                return []
            return [Adopter("generic", _phrase(tok, tok), tok.i, penalty=0.05)]
        members = self._product_members(tok)
        if members:
            return members
        if (
            lemma in self.w["product_anaphors"]
            and tok.dep_ in ("nsubj", "nsubjpass")
            and tok.tag_ not in ("NNS", "NNPS")
            and any(c.dep_ == "det" and c.lower_ in ("the", "this") for c in tok.children)
        ):
            # "the travel site had moved ...", "the app now uses ...": the organisation
            # the text is about, through its product
            return [Adopter("anaphor", f"the {lemma}", tok.i, penalty=0.1)]
        return []

    def is_place(self, tok: Token) -> bool:
        """A place name (not a company the tagger mislabelled as one): a nationality, or a
        GPE/LOC entity found in the gazetteer's list of places."""
        label = tok.ent_type_
        if label not in _PLACE_LABELS or self.gazetteer.known(tok.text):
            return False
        if label in ("NORP", "EVENT", "FAC"):
            return True
        ent = _entity(tok)
        text = ent.text if ent is not None else tok.text
        return self.gazetteer.is_place(text) or self.gazetteer.is_place(tok.text)

    def looks_like_person(self, tok: Token) -> bool:
        """A title before the name ("Replit CEO Amjad Masad") or a given name first
        ("Maya Chen")."""
        if any(t.lower_ in TITLES for t in tok.subtree if t.i < tok.i):
            # "the Pentagon's Chief Digital and AI Office" is a known body, not a chief
            return not any(
                start <= tok.idx < end for start, end, _ in self.gazetteer.find(tok.doc.text)
            )
        tokens = _name_tokens(tok)
        return len(tokens) > 1 and tokens[0].text in self.gazetteer.first_names

    def _noun_lemma(self, tok: Token) -> str:
        lemma = _lemma(tok)
        if tok.pos_ == "PROPN" and lemma.endswith("s"):
            singular = lemma[:-1]
            if singular in self.n["people"] or singular in self.n["organisations"]:
                return singular
        return lemma

    def _named(self, tok: Token) -> list[Adopter]:
        doc = tok.doc
        tokens = _name_tokens(tok)
        whole = doc[tokens[0].i : tokens[-1].i + 1].text
        if (
            len(tokens) > 1
            and tokens[0].text in self.gazetteer.first_names
            and not self.gazetteer.known(whole)
        ):
            return []  # "Greg Abbott" is a person, whatever company "Abbott" also names
        run_start, run_end = tokens[0].idx, tok.idx + len(tok)
        inside = None
        for start, end, name in self.gazetteer.find(doc.text):
            if start <= tok.idx < end:
                return [Adopter("named", name, tok.i, known=True)]
            if run_start <= start and end <= run_end:
                inside = name  # "Geely Auto", "Goldman Sachs Asset Management"
        if inside is not None:
            return [Adopter("named", inside, tok.i, known=True)]
        if all(
            t.lower_ in self.n["products"] or t.lower_ in self.w["generic_name_words"]
            for t in tokens
        ):
            # "its AI Assistant", "Cloudflare's AI Gateway": a generic product title; the
            # owner is the adopter
            owner = _child(tok, "poss")
            if owner is None:
                return []
            return self.classify(owner)
        raw = tok.doc[tokens[0].i : tokens[-1].i + 1].text
        name = self.gazetteer.normalise(raw)
        if tok.pos_ == "PROPN" and name and self.gazetteer.known(name):
            # a known name that is also a word ("Writer", "Target"), read as a proper noun
            return [Adopter("named", self.gazetteer.normalise(name), tok.i, known=True)]
        if (
            not name
            or name.lower() in _PERSON_PRONOUNS
            or self._noun_lemma(tok) in self.n["people"]
        ):
            return []
        if name.lower() in ("ceo", "cto", "cfo", "ai", "ceos"):
            return []
        known = self.gazetteer.known(name) or self.catalog.vendor_named(name) is not None
        label = tok.ent_type_
        if known:
            return [Adopter("named", name, tok.i, known=True)]
        org_word = tokens[-1].text in self.gazetteer.org_words
        if not org_word and self.looks_like_person(tok):
            return []  # "Maya Chen", "CEO Amjad Masad": a person's use is not an organisation's
        if label == "PERSON" and not org_word:
            return [Adopter("named", name, tok.i, penalty=0.15 if len(tokens) > 1 else 0.1)]
        if label in _PLACE_LABELS and not org_word:
            if not self.is_place(tok):
                # the small tagger calls many unknown company names places
                return [Adopter("named", name, tok.i, penalty=0.1)]
            member = (  # "several US states, including Texas and Virginia"
                tok.dep_ == "pobj"
                and tok.head.lower_ in ("including", "like", "as")
                and (
                    _lemma(tok.head.head) in self.w["public_bodies"]
                    or _lemma(tok.head.head) in _PLACE_BODIES
                )
            )
            if len(tokens) > 1 or (
                tok.dep_ not in ("nsubj", "nsubjpass", "conj", "appos") and not member
            ):
                return []
            return [Adopter("named", name, tok.i, penalty=0.15)]
        if label in _NON_ORG_LABELS:
            return []
        penalty = 0.0 if label == "ORG" or org_word else 0.1
        return [Adopter("named", name, tok.i, known=label == "ORG", penalty=penalty)]

    def _product_members(self, tok: Token) -> list[Adopter]:
        if tok.tag_ in ("NNS", "NNPS") and _lemma(tok) in self.n["products"]:
            return self._members(tok)  # "coding tools such as Cline and Roo Code"
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
                    out.extend(a for a in self.classify(m) if a.kind == "named")
                if out:
                    return out
        return self._listed_after(tok)

    def _listed_after(self, tok: Token) -> list[Adopter]:
        """The names listed right after a plural noun, read from word order when the parse
        of the list is garbled: "Chinese automakers including Geely, Great Wall and
        Leapmotor", "coding tools such as Cline and Roo Code"."""
        doc = tok.doc
        if tok.tag_ not in ("NNS", "NNPS"):
            return []
        k = tok.i + 1
        if k + 1 < len(doc) and doc[k].lower_ == "such" and doc[k + 1].lower_ == "as":
            k += 2
        elif k < len(doc) and doc[k].lower_ in ("including", "like"):
            k += 1
        else:
            return []
        out: list[Adopter] = []
        run: list[Token] = []
        for t in [*doc[k : min(len(doc), k + 24)], None]:
            if (
                t is not None
                and t._.aw_model is None
                and (t.text[:1].isupper() or (run and t.text in ("&", ".", "-")))
            ):
                run.append(t)
                continue
            if run:
                last = run[-1]
                if not self.looks_like_person(last) and not self.is_place(last):
                    name = self.gazetteer.normalise(doc[run[0].i : last.i + 1].text)
                    known = self.gazetteer.known(name)
                    out.append(Adopter("named", name, last.i, known=known, penalty=0.05))
                run = []
            if t is None or t.lower_ not in (",", "and", "or", "the"):
                break
        return out

    def _known_brand(self, tok: Token, owner: Token) -> Adopter | None:
        """ "Geely's Zeekr brand", "the Pentagon's Chief Digital and AI Office": a name the
        gazetteer knows, owned by another, is the organisation that acts."""
        doc = tok.doc
        words = [
            t
            for t in tok.subtree
            if (t.i > owner.i and t.dep_ in ("compound", "flat", "conj", "cc")) or t is tok
        ]
        if not words:
            return None
        start, end = min(t.i for t in words), max(t.i for t in words)
        if any(doc[k]._.aw_model is not None for k in range(start, end + 1)):
            return None
        lo, hi = doc[start].idx, doc[end].idx + len(doc[end])
        for s_char, e_char, name in self.gazetteer.find(doc.text):
            if lo <= s_char and e_char <= hi and (tok.idx >= s_char or e_char <= tok.idx):
                if self.catalog.vendor_named(name) is not None:
                    return None
                return Adopter("named", name, tok.i, known=True)
        return None

    def org_mentions(self, doc: Doc) -> list[tuple[int, str, bool]]:
        """(token index, normalised name, is a subject) of organisations named in a doc."""
        out: dict[int, tuple[int, str, bool]] = {}
        covered: set[int] = set()
        for start, end, name in self.gazetteer.find(doc.text):
            span = doc.char_span(start, end, alignment_mode="expand")
            if span is None or any(t._.aw_model is not None for t in span):
                continue
            subject = any(_compound_head(t).dep_ in ("nsubj", "nsubjpass") for t in span)
            out[span[-1].i] = (span[-1].i, name, subject)
            covered.update(t.i for t in span)
        for t in doc:
            if t.i in covered:
                continue
            if t._.aw_model is not None or not t.text[:1].isupper() or t.pos_ == "PRON":
                continue
            known = self.gazetteer.known(t.text)
            if (
                t.dep_ in ("compound", "flat")
                and t.head.i > t.i
                and t.head.pos_ == "PROPN"
                and t.ent_type_ == t.head.ent_type_
                and not (known and t.head.ent_type_ == "PERSON")
            ):
                continue  # the head of the name speaks for it
            if not (t.pos_ == "PROPN" or t.ent_type_ == "ORG" or known):
                continue
            found = self._named(t)
            if not found:
                continue
            a = found[0]
            subject = t.dep_ in ("nsubj", "nsubjpass")
            if t.ent_type_ == "PERSON" and not a.known:
                continue
            if a.known or t.ent_type_ == "ORG" or subject:
                out[t.i] = (t.i, a.name, subject)
        return [out[k] for k in sorted(out)]


_WATCHDOGS = frozenset({"authority", "regulator", "court", "watchdog"})


def _parents_model(model: Token) -> bool:
    doc = model.doc
    before = [t.lower_ for t in doc[max(0, model.i - 3) : model.i]]
    return "parent" in before and any(b in ("'s", "’s") for b in before)


def _verb_forms(lemmas: object) -> dict[str, str]:
    """Third-person and past forms of single-word verbs: "deploys", "tunes", "tapped"."""
    forms: dict[str, str] = {}
    for lemma in lemmas:  # type: ignore[attr-defined]
        if " " in lemma:
            continue
        base = lemma.rsplit("-", 1)[-1]
        cands = {base + "s", base + "es", base + "d", base + "ed", base + base[-1] + "ed"}
        if base.endswith("y"):
            cands |= {base[:-1] + "ies", base[:-1] + "ied"}
        for form in cands:
            forms.setdefault(form, base)
    return forms


def _compound_head(tok: Token) -> Token:
    """The head of the compound chain a token sits in ("Airbnb" in "Airbnb CEO Brian
    Chesky" -> "Chesky")."""
    for _ in range(6):
        if tok.dep_ not in ("compound", "flat") or tok.head is tok:
            return tok
        tok = tok.head
    return tok


def _lemma(tok: Token) -> str:
    return tok.lemma_.lower()


def _owned(tok: Token) -> bool:
    return any(
        c.dep_ == "poss" or (c.dep_ == "compound" and c.pos_ == "PROPN") for c in tok.children
    )


def _child(tok: Token | None, *deps: str) -> Token | None:
    if tok is None:
        return None
    for c in tok.children:
        if c.dep_ in deps:
            return c
    return None


def _name_tokens(tok: Token) -> list[Token]:
    """The tokens of the name ending at ``tok``: its capitalised compound run, or its ORG
    entity ("Bank of America"), without determiners, possessive marks and model tokens."""
    doc = tok.doc
    ent = _entity(tok)
    if ent is not None and ent.label_ in ("ORG", "PRODUCT") and len(ent) <= 6:
        toks = [t for t in ent if t._.aw_model is None]
        while toks and (
            toks[0].pos_ in ("DET", "CCONJ", "PUNCT", "ADP") or not toks[0].text[:1].isalnum()
        ):
            toks.pop(0)
        while toks and (
            toks[-1].pos_ in ("CCONJ", "PUNCT", "ADP", "PART") or toks[-1].lower_ in ("'s", "’s")
        ):
            toks.pop()
        if tok in toks and all(t.pos_ != "VERB" for t in toks):
            return toks
    left = tok.i
    while left > 0:
        prev = doc[left - 1]
        if prev.lower_ in TITLES:
            break  # "Hugging Face CEO Clem Delangue": the name is the person's, after the title
        if (
            prev._.aw_model is None
            and prev.text[:1].isupper()
            and (
                (prev.pos_ in ("PROPN", "NOUN", "ADJ", "NUM") and prev.dep_ in _NAME_DEPS)
                or (  # a name the tagger read as an adverb or a verb ("Geely/RB Auto")
                    prev.pos_ in ("ADV", "VERB", "X")
                    and prev.dep_ in (*_NAME_DEPS, "advmod", "npadvmod")
                    and not prev.is_stop
                    and prev.ent_type_ not in _NON_ORG_LABELS
                )
            )
            and tok.i >= prev.head.i >= left
        ):
            left -= 1
            continue
        break
    return list(doc[left : tok.i + 1])


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
        "case",
    }
    doc = head.doc
    left = min([head.i] + [t.i for c in head.lefts if c.dep_ in keep for t in c.subtree])
    right = noun.i
    words = []
    for t in doc[left : right + 1]:
        hit = t._.aw_model
        words.append((hit.surface if hit is not None else t.text) + t.whitespace_)
    text = "".join(words).strip()
    first = doc[left]
    named_first = first.ent_type_ in ("NORP", "GPE", "ORG", "PERSON", "LOC", "PRODUCT", "FAC")
    if first.pos_ == "DET" or (left == 0 and first.pos_ != "PROPN" and not named_first):
        text = text[:1].lower() + text[1:]
    return text
