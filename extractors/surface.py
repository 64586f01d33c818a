"""Surface rules: a claim read from word order when the dependency tree is no help.

The small parser garbles many real sentences (headlines, names it tags as adverbs, verbs it
tags as nouns: "Samsung's Galaxy S25 phones ship/NN with Google's Gemini"). When the
dependency rules find no trigger or no adopter for a model mention, these rules look at the
words around it instead:

    ADOPTER  [auxiliaries, adverbs, an apposition]  TRIGGER  [an object, one preposition]  MODEL

* the trigger is a verb form of a trigger word from ``adoption.toml`` (whatever the tagger
  called it), at most ten words before the model, with no other verb, clause boundary or
  second preposition in between (prepositions that only wrap the model, "a version of X",
  "models from OpenAI", are transparent); the preposition before the model, or none, is the
  slot, which the trigger's frame must have;
* the adopter is the noun phrase right before the trigger: a known organisation, a name, a
  possessive owner ("Samsung's phones"), "it", "we" or "the company";
* or the passive: ``MODEL ... is/was/has been TRIGGERED by ADOPTER``.

Negations, modals, conditionals and alternatives ("over", "instead of") anywhere between the
adopter and the model veto the claim. Claims found this way start at a lower confidence than
the dependency rules' (``SURFACE_CONFIDENCE``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spacy.tokens import Doc, Token

from adoptwatch.extractors.patterns import Frame

if TYPE_CHECKING:
    from adoptwatch.extractors.rules import Adopter, ClaimRules

SURFACE_CONFIDENCE = 0.65
MAX_OBJECT_GAP = 10
MAX_SUBJECT_GAP = 6

# words that end a clause when read leftwards or rightwards
_BOUNDARIES = frozenset(
    {
        ";",
        ":",
        "?",
        "because",
        "while",
        "whereas",
        "although",
        "though",
        "but",
        "after",
        "before",
        "when",
        "since",
        "until",
        "unless",
        "if",
        "whether",
        "than",
        "which",
        "who",
        "whom",
        "where",
        "that",
        "so",
        "said",
        "says",
        "say",
        "told",
        "tells",
        "according",
    }
)
# words that veto a claim anywhere between the adopter and the model
_VETO = frozenset(
    {
        "not",
        "n't",
        "never",
        "no",
        "nor",
        "neither",
        "without",
        "instead",
        "rather",
        "unlike",
        "versus",
        "vs",
        "vs.",
        "against",
        "could",
        "might",
        "may",
        "should",
        "must",
        "can",
        "cannot",
        "ought",
        "if",
        "unless",
        "whether",
        "than",
        "hardly",
        "barely",
    }
)
# allowed between the adopter and the trigger
_SUBJECT_GAP_POS = frozenset({"AUX", "ADV", "PART"})
_SUBJECT_GAP_WORDS = frozenset(
    {
        "has",
        "have",
        "had",
        "is",
        "are",
        "was",
        "were",
        "been",
        "being",
        "will",
        "would",
        "now",
        "also",
        "already",
        "recently",
        "quietly",
        "reportedly",
        "officially",
        "finally",
        "just",
        "still",
        "then",
        "since",
        "today",
        "all",
        "both",
        "each",
        "begun",
        "began",
        "begins",
        "started",
        "starts",
        "start",
        "to",
        "and",
    }
)
# words in the object before the model: determiners, adjectives, nouns, numbers, possessives
_OBJECT_POS = frozenset({"DET", "ADJ", "NOUN", "PROPN", "NUM", "PRON", "PART", "ADV", "X", "SYM"})
_CONDITIONAL = frozenset({"if", "whether", "unless", "should", "suppose", "supposing"})
_TRANSPARENT_AFTER_NOUN = frozenset({"of", "from", "by", "such", "as", "including", "like"})
_COORDINATION = frozenset({"and", "or", ",", "&", "plus", "alongside", "besides", "along"})
_PARTICLES = frozenset({"out", "in", "over", "up", "off", "away", "down", "on", "into"})
_BE = frozenset({"is", "are", "was", "were", "been", "being", "be", "'s", "’s"})


class SurfaceRules:
    """Word-order rules over one parsed sentence (see the module docstring)."""

    def __init__(self, rules: ClaimRules) -> None:
        self.rules = rules
        self.patterns = rules.patterns
        self.w = rules.w
        self.n = rules.n
        self.g = rules.g
        self.verb_forms = rules._verb_forms
        self.report_verbs = rules.g["report_verbs"]

    # --- public ----------------------------------------------------------------------------

    def claims(self, model: Token) -> list[tuple[Adopter, str, float, Token, Frame]]:
        """(adopter, relation, confidence, trigger, frame) read from word order."""
        hit = model._.aw_model
        if hit is None or hit.bare:
            return []
        found = self._active(model)
        if found is None:
            found = self._passive(model)
        return found or []

    # --- active: ADOPTER ... TRIGGER ... MODEL -----------------------------------------------

    def _active(self, model: Token) -> list[tuple[Adopter, str, float, Token, Frame]] | None:
        doc = model.doc
        trigger = None
        prep: str | None = None
        prep_pending: Token | None = None  # the last preposition seen, leftwards
        seen_model = False
        j = model.i - 1
        while j >= max(0, model.i - MAX_OBJECT_GAP - 1):
            t = doc[j]
            low = t.lower_
            if low in _BOUNDARIES or low in _VETO:
                return None
            if t._.aw_model is not None:
                seen_model = True  # "uses GPT-4o and Claude": a coordinated model list
                j -= 1
                continue
            frame_lemma = self._trigger_lemmas(t)
            slot_here = prep_pending.lower_ if prep_pending is not None else "obj"
            fits = frame_lemma and self._frame_for(t, slot_here) is not None
            if fits and not _modified_noun(t):
                trigger = t
                break
            if frame_lemma and (t.pos_ in ("NOUN", "PROPN") or _modified_noun(t)):
                # "routes most classification calls to X", "answers queries with X": the
                # word is the object, the trigger is further left
                j -= 1
                continue
            if t.pos_ in ("VERB", "AUX") and t.dep_ not in ("amod", "compound"):
                return None  # another clause's verb between the trigger and the model
            if low == "of" and j > 0:
                j -= 1  # "much of their code", "a share of its workloads": part of the object
                continue
            if t.pos_ == "ADP" or (low == "to" and t.pos_ == "PART"):
                prev = doc[j - 1] if j > 0 else None
                if (
                    low in _TRANSPARENT_AFTER_NOUN
                    and prev is not None
                    and (
                        prev.pos_ in ("NOUN", "PROPN", "ADJ")
                        or prev._.aw_model is not None
                        or prev.lower_ in ("such",)
                    )
                    and prep_pending is None
                    and (
                        _lemma(prev) in self.w["model_nouns"]
                        or _lemma(prev) in self.w["wrappers"]
                        or prev.lower_ == "such"
                        or prev._.aw_model is not None
                        or (low in ("of",) and prev.pos_ == "PROPN")
                    )
                ):
                    j -= 1
                    continue
                if low in _COORDINATION and seen_model:
                    j -= 1
                    continue
                if prep_pending is not None:
                    return None  # two prepositions that both matter: too far to guess
                prep_pending = t
                j -= 1
                continue
            if low == "," and not (seen_model or _next_is_model(doc, j)):
                return None
            if t.pos_ not in _OBJECT_POS and low not in _COORDINATION and t.pos_ != "PUNCT":
                return None
            j -= 1
        if trigger is None:
            return None
        if prep_pending is not None:
            prep = prep_pending.lower_
            if prep in self.w["prep_alternatives"]:
                return None
            before = doc[prep_pending.i - 1] if prep_pending.i > 0 else None
            if before is not None and before.lower_ in ("instead", "place", "favor", "favour"):
                phrase = f"in {before.lower_} of" if before.lower_ != "instead" else "instead of"
                if phrase in self.w["prep_alternatives"]:
                    return None
                prep = phrase
        slot = prep or "obj"
        lemma_frame = self._frame_for(trigger, slot)
        if lemma_frame is None:
            return None
        frame = lemma_frame
        relation = frame.slots[slot]
        found = self._adopter_before(trigger)
        if found is None:
            return None
        adopter, left = found
        adopters = [adopter, *self._coordinated(doc, adopter)]
        if any(t.lower_ in _CONDITIONAL for t in doc[:left]):
            return None  # "Whether Uber will adopt DeepSeek remains an open question"
        relation_conf = self._mood(doc, left, trigger, model, relation)
        if relation_conf is None:
            return None
        relation, penalty = relation_conf
        confidence = min(SURFACE_CONFIDENCE, frame.confidence - 0.1) - penalty
        return [(a, relation, confidence, trigger, frame) for a in adopters]

    # --- passive: MODEL ... was TRIGGERED by ADOPTER -------------------------------------------

    def _passive(self, model: Token) -> list[tuple[Adopter, str, float, Token, Frame]] | None:
        doc = model.doc
        k = model.i + 1
        # the model's own noun phrase: "Qwen models", "its Spark model"
        while k < len(doc) and (
            _lemma(doc[k]) in self.w["model_nouns"] or doc[k].lower_ in self.n["model_heads"]
        ):
            k += 1
        be = False
        while k < len(doc) and k <= model.i + 6:
            low = doc[k].lower_
            if low in _BE or low in ("has", "have", "had"):
                be = be or low in _BE
                k += 1
                continue
            if doc[k].pos_ == "ADV" and low not in _VETO:
                k += 1
                continue
            break
        if not be or k >= len(doc) - 2:
            return None
        trigger = doc[k]
        if doc[k + 1].lower_ != "by" or not trigger.lower_.endswith(("ed", "en", "t", "wn")):
            return None
        frame = self._frame_for(trigger, "obj") or self._frame_for(trigger, "by")
        if frame is None:
            return None
        slot = "obj" if "obj" in frame.slots else "by"
        relation = frame.slots[slot]
        adopter = self._adopter_after(doc, k + 2)
        if adopter is None:
            return None
        for t in doc[: model.i]:
            if t.lower_ in _VETO:
                return None
        for t in doc[model.i : k + 1]:
            if t.lower_ in _VETO:
                return None
        return [(adopter, relation, SURFACE_CONFIDENCE - 0.05, trigger, frame)]

    # --- pieces ------------------------------------------------------------------------------

    def _trigger_lemmas(self, tok: Token) -> list[str]:
        """The trigger lemmas a word can be, whatever its tag ("ships", "bets", "tapped")."""
        low = tok.lower_
        if not tok.is_alpha and "-" not in low:
            return []
        lemmas = []
        nxt = tok.doc[tok.i + 1] if tok.i + 1 < len(tok.doc) else None
        bases = {tok.lemma_.lower(), low}
        if low in self.verb_forms:
            bases.add(self.verb_forms[low])
        if low.endswith("ing") and len(low) > 5:
            bases |= {low[:-3], low[:-3] + "e"}
            if len(low) > 6 and low[-4] == low[-5]:
                bases.add(low[:-4])  # "shipping" -> "ship"
        for base in bases:
            if nxt is not None and nxt.lower_ in _PARTICLES:
                lemmas.append(f"{base} {nxt.lower_}")
            lemmas.append(base)
        out = [lemma for lemma in lemmas if self.patterns.frame(lemma, "verb") is not None]
        if tok.pos_ in ("NOUN", "PROPN") and not out:
            return []
        if tok.pos_ in ("NOUN", "PROPN") and any(c.dep_ == "det" for c in tok.children):
            return []  # "the switch to", "a move": a real noun (the noun rules read those)
        return out

    def _frame_for(self, tok: Token, slot: str) -> Frame | None:
        for lemma in self._trigger_lemmas(tok):
            frame = self.patterns.frame(lemma, "verb")
            if frame is not None and slot in frame.slots:
                return frame
        return None

    def _adopter_before(self, trigger: Token) -> tuple[Adopter, int] | None:
        """The adopter in the noun phrase right before the trigger (skipping auxiliaries,
        adverbs and one comma-delimited apposition), and where that phrase starts."""
        doc = trigger.doc
        j = trigger.i - 1
        gap = 0
        while j >= 0 and gap <= MAX_SUBJECT_GAP:
            t = doc[j]
            low = t.lower_
            if low in _VETO:
                return None
            if t.text in (",", "—", "–") and j > 0:
                opening = _opening_comma(doc, j)
                if opening is None:
                    return None
                j = opening - 1
                gap += 1
                continue
            if low in _SUBJECT_GAP_WORDS or (
                t.pos_ in _SUBJECT_GAP_POS and t.dep_ != "neg" and not t.text[:1].isupper()
            ):
                j -= 1
                gap += 1
                continue
            break
        if j < 0 or gap > MAX_SUBJECT_GAP:
            return None
        return self._adopter_in_phrase(doc, j)

    def _adopter_in_phrase(self, doc: Doc, end: int) -> tuple[Adopter, int] | None:
        """The adopter named by the noun phrase ending at token ``end``."""
        from adoptwatch.extractors.rules import TITLES, Adopter

        rules = self.rules
        start = end
        while start > 0:
            prev = doc[start - 1]
            if prev._.aw_model is not None:
                break
            if prev.pos_ in ("NOUN", "PROPN", "ADJ", "NUM", "DET", "PART") or prev.tag_ == "PRP$":
                start -= 1
                continue
            if prev.text[:1].isupper() and prev.pos_ in ("ADV", "VERB", "X", "INTJ"):
                start -= 1
                continue
            if prev.tag_ in ("VBG", "VBN") and start - 1 > 0 and doc[start - 2].tag_ == "POS":
                start -= 1  # "LinkedIn's hiring assistant": a participle inside the phrase
                continue
            if prev.text in ("-", "&", ".") and start > 1:
                start -= 1
                continue
            break
        phrase = doc[start : end + 1]
        if not len(phrase) or any(t._.aw_model is not None for t in phrase):
            return None
        # possessive owner: "Samsung's Galaxy S25 phones", "its driver app"
        head_lemma = _lemma(phrase[-1])
        owned_kind = (
            head_lemma in self.n["products"]
            or head_lemma in self.n["people"]
            or head_lemma in self.n["organisations"]
            or phrase[-1].text[:1].isupper()
        )
        for t in phrase:
            if (t.i + 1 <= end and doc[t.i + 1].tag_ == "POS") or t.tag_ == "PRP$":
                if not owned_kind:
                    return None  # "Y Combinator's latest batch": not the owner's product
                owner = [a for a in rules.classify(t) if a.kind in ("named", "anaphor", "we")]
                if t.tag_ == "PRP$":
                    low = t.lower_
                    if low in ("its",):
                        owner = [Adopter("anaphor", "it", t.i, penalty=0.05)]
                    elif low in ("their",):
                        owner = [Adopter("anaphor", "they", t.i, penalty=0.1)]
                    elif low in ("our",):
                        owner = [Adopter("we", "we", t.i, penalty=0.1)]
                    else:
                        owner = []
                if owner:
                    return owner[0], start
                return None
        last = phrase[-1]
        low = last.lower_
        if last.pos_ == "PRON" or low in ("it", "they", "we"):
            found = rules.classify(last)
            return (found[0], start) if found else None
        lead = rules.lead_apposition(doc)
        if lead is not None and lead[1] <= start and end <= lead[2]:
            # "Cursor: the AI code editor defaults to ...", "Ledgerly, a payments startup, ..."
            named = rules.classify(doc[lead[0]])
            return (named[0], start) if named else None
        people = _lemma(last) in self.n["people"]
        if (people or _lemma(last) in self.n["products"]) and len(phrase) >= 2:
            # "Spotify engineers now write ...", "Starlink customer support answers ...": the
            # organisation of the people or the product
            names = [t for t in phrase[:-1] if t.text[:1].isupper() and t.lower_ not in TITLES]
            if names and not rules.looks_like_person(names[-1]):
                named = [a for a in rules._named(names[-1]) if a.kind == "named"]
                return (named[0], start) if named else None
            return None
        anaphoric = _lemma(last) in self.n["organisations"] or (
            _lemma(last) in self.w["product_anaphors"]
        )
        if anaphoric and len(phrase) >= 2:
            det = phrase[0].lower_
            if det in ("the", "this", "that") and last.tag_ not in ("NNS", "NNPS"):
                return Adopter("anaphor", f"the {_lemma(last)}", last.i, penalty=0.05), start
            # "Chinese automaker BYD" ends in the name, not here
            return None
        # the name run at the end of the phrase
        if not last.text[:1].isupper() and not last.text[:1].isdigit():
            return None
        person = last.ent_type_ == "PERSON" and not rules.gazetteer.known(last.text)
        if person or rules.looks_like_person(last):
            return None
        if rules.is_place(last):
            return None
        named = rules._named(last)
        named = [a for a in named if a.kind == "named"]
        if not named:
            return None
        return named[0], start

    def _coordinated(self, doc: Doc, adopter: Adopter) -> list[Adopter]:
        """The other names of a coordination ending in the adopter ("Rippling and Gusto")."""
        if adopter.kind != "named":
            return []
        tok = doc[adopter.token]
        out = []
        for c in tok.conjuncts:
            if c.i >= tok.i or c._.aw_model is not None or not c.text[:1].isupper():
                continue
            if self.rules.looks_like_person(c) or self.rules.is_place(c):
                continue
            out += [a for a in self.rules._named(c) if a.kind == "named"]
        return out

    def _adopter_after(self, doc: Doc, k: int) -> Adopter | None:
        """The agent after "by": a name, or a generic ("more than 500 Chinese hospitals")."""
        from adoptwatch.extractors.rules import Adopter

        rules = self.rules
        end = k
        while end < len(doc) and (
            doc[end].pos_ in ("DET", "ADJ", "NUM", "NOUN", "PROPN", "ADV", "ADP")
            and doc[end]._.aw_model is None
        ):
            if doc[end].pos_ == "ADP" and doc[end].lower_ not in ("than", "of"):
                break
            end += 1
        if end == k:
            return None
        last = doc[end - 1]
        if last.text[:1].isupper():
            if rules.looks_like_person(last) or rules.is_place(last):
                return None
            named = [a for a in rules._named(last) if a.kind == "named"]
            return named[0] if named else None
        quantity = any(t.pos_ == "NUM" or t.lower_ in self.w["quantity_heads"] for t in doc[k:end])
        if _lemma(last) in self.n["organisations"] and last.tag_ in ("NNS", "NNPS") and quantity:
            return Adopter("generic", _phrase_text(doc, k, end - 1), last.i, penalty=0.05)
        return None

    def _mood(
        self, doc: Doc, left: int, trigger: Token, model: Token, relation: str
    ) -> tuple[str, float] | None:
        """The relation after the words between the adopter and the model, and a penalty;
        None when they veto the claim."""
        penalty = 0.0
        reported = any(t.lower_ in self.report_verbs or t.lemma_ in self.report_verbs for t in doc)
        for t in doc[left : model.i]:
            low = t.lower_
            if low in _VETO:
                return None
            lemma = t.lemma_.lower()
            if t.i < trigger.i:
                if lemma in self.g["negates"]:
                    return None
                if low in ("would", "'d") and not reported:
                    return None
                if low in ("will", "would", "'ll", "'d"):
                    penalty += 0.05
                if lemma in self.g["evaluates"] and relation == "adopts":
                    relation = "evaluates"
                elif lemma in self.g["drops"] and relation == "adopts":
                    relation = "drops"
                elif lemma in self.g["intends"]:
                    penalty += 0.1
        if any(h in doc.text.lower() for h in self.g["hedges"]):
            penalty += 0.1
        hit = model._.aw_model
        if hit is not None and hit.standin:
            penalty += 0.1
        return relation, penalty


def _lemma(tok: Token) -> str:
    return tok.lemma_.lower()


def _modified_noun(tok: Token) -> bool:
    """A trigger word that is really a noun: "routes most classification calls to X" (a
    quantifier, adjective or possessive in front of it)."""
    return any(
        c.i < tok.i
        and (
            c.dep_ in ("det", "nummod", "quantmod")
            or (c.dep_ == "amod" and c.pos_ == "ADJ" and not c.text[:1].isupper())
            or (c.dep_ == "poss" and c.tag_ == "PRP$")  # "their code"
        )
        for c in tok.children
    ) and tok.tag_ not in ("VBD", "VBN", "VBG", "VB")


def _next_is_model(doc: Doc, j: int) -> bool:
    return j + 1 < len(doc) and doc[j + 1]._.aw_model is not None


def _opening_comma(doc: Doc, closing: int) -> int | None:
    """The comma (or dash) that opens the apposition or relative clause closed at
    ``closing``: "Ledgerly, a payments startup based in Austin, is ..."."""
    for k in range(closing - 1, max(-1, closing - 25), -1):
        if doc[k].text in (",", "—", "–"):
            inner = doc[k + 1 : closing]
            if len(inner) and (
                inner[0].lower_ in ("a", "an", "the", "which", "who", "its", "one", "whose")
                or inner[0].tag_ in ("VBN", "VBG")
                or inner[0].pos_ == "ADP"
            ):
                return k
            return None
        if doc[k].lower_ in (";", ":") or doc[k]._.aw_model is not None:
            return None
    return None


def _phrase_text(doc: Doc, start: int, end: int) -> str:
    text = doc[start : end + 1].text
    return text[:1].lower() + text[1:] if doc[start].pos_ != "PROPN" else text
