"""A fast rule-based sentence splitter for news text.

The claim extractor splits every article with this (not with the parser) so that only the
sentences that mention a model go through spaCy, and so that the result does not depend on
which other sentences were parsed.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "inc",
        "corp",
        "co",
        "ltd",
        "llc",
        "plc",
        "bros",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "u.n",
        "e.u",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "no",
        "nos",
        "fig",
        "gov",
        "sen",
        "rep",
        "gen",
        "lt",
        "col",
        "sgt",
        "capt",
        "cmdr",
        "adm",
        "maj",
        "rev",
        "hon",
        "est",
        "approx",
        "dept",
        "univ",
        "assn",
        "ave",
        "blvd",
        "ft",
        "p.m",
        "a.m",
        "d.c",
        "n.y",
        "l.a",
        "s.f",
        "al",
        "ph.d",
    ]
)

# A sentence ends at . ! ? (plus closing quotes/brackets) followed by space and a capital,
# a digit or an opening quote; or at a line break.
_BOUNDARY = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s+["“‘'(\[]?[A-Z0-9])|[。！？]+|\n\s*""")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of ``text``, stripped of spaces."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        if m.group(0)[0] == ".":
            before = re.search(r"([\w.]+)\.*$", text[start : m.start() + 1])
            word = before.group(1).lower().rstrip(".") if before else ""
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
        _add(text, start, end, spans)
        start = end
    _add(text, start, len(text), spans)
    return spans


def _add(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))
