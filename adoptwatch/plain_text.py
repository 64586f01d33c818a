"""Text from outside (feeds, pages, files, query results) made safe to store and to show.

A title holding ``&#27;[5m`` becomes a real ESC once its HTML is decoded; printed to a
terminal it blinks the screen, and worse escapes rewrite it. So stored titles and source
names go through :func:`clean_text` (one line, no control characters), and the table
view of ``adoptwatch query`` shows what is left in old rows through
:func:`escape_controls`.
"""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls (CR, LF among them), line separators and bidi overrides.
CONTROL_CHARACTERS = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+"
)
# The same, less newline and tab: what a multi-line table cell may keep.
_ESCAPED = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_SPACES = re.compile(r"\s+")


def clean_text(value: Any, limit: int | None = None) -> str:
    """One line of text: control characters (CR, LF, bidi overrides) become spaces, runs
    of spaces one space, no space at either end; cut to ``limit`` characters with "…"."""
    text = "" if value is None else str(value)
    text = _SPACES.sub(" ", CONTROL_CHARACTERS.sub(" ", text)).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def escape_controls(text: str) -> str:
    """``text`` with every control character but newline and tab written as an escape
    (``\\x1b``, ``\\u202e``), so that printing it cannot drive the terminal."""
    return _ESCAPED.sub(lambda m: _escape(m.group()), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
