"""``adoptwatch extract --jsonl``: claims for each JSON line, every line on its own.

A line is ``{"id": ..., "text": "...", "title": "..."}`` (``title`` optional). Whatever a
line holds, it costs that line only: a line that is not UTF-8, not JSON, nested too deep,
without a ``text`` string, with a lone surrogate, or longer than ``max_article_chars``
gives ``{"id": ..., "error": "line N: ..."}`` in its place, and the run goes on. Memory
and time stay bounded by the cap: a line longer than :func:`max_line_bytes` is skipped
unread, a piece at a time, and a batch holds at most ``max_article_chars`` characters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:  # importing the extractor loads spaCy: the caller has it already
    from adoptwatch.extractors.claims import Claim, ClaimExtractor, Extraction

BATCH_LINES = 64
_SKIP_CHUNK = 1 << 20


def max_line_bytes(max_chars: int) -> int:
    """The longest line read: a text of ``max_chars`` characters written as JSON escapes
    (six bytes each), and room for the id and the title."""
    return 6 * max_chars + 65_536


@dataclass
class Item:
    number: int
    id: Any = None
    text: str = ""
    title: str | None = None
    error: str | None = None


@dataclass
class Tally:
    lines: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)  # the first few


def read_lines(stream: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each non-blank line; ``None`` for a line over ``limit``
    bytes, whose rest is read and dropped a piece at a time."""
    number = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit:
            while line and not line.endswith(b"\n"):
                line = stream.readline(_SKIP_CHUNK)
            yield number, None
        elif line.strip():
            yield number, line


def _encodable(value: Any) -> bool:
    """Whether ``value`` can be written back as UTF-8 JSON (no lone surrogates)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError, ValueError):
        return False
    return True


def parse_line(number: int, raw: bytes | None, max_chars: int) -> Item:
    """One line checked: an :class:`Item` to extract, or one with ``error`` set."""
    if raw is None:
        return Item(number, error=f"over {max_line_bytes(max_chars):,} bytes; skipped unread")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Item(number, error=f"not UTF-8 (byte {exc.start})")
    try:
        value = json.loads(line)
    except RecursionError:
        return Item(number, error="nested too deeply to read")
    except ValueError as exc:
        return Item(number, error=f"not JSON ({exc})")
    if not isinstance(value, dict):
        return Item(number, error='expected an object with a "text" string')
    item_id = value.get("id")
    if not _encodable(item_id):
        return Item(number, error='"id" holds a lone surrogate or is nested too deeply')
    text, title = value.get("text"), value.get("title")
    if not isinstance(text, str):
        return Item(number, item_id, error='expected an object with a "text" string')
    if title is not None and not isinstance(title, str):
        return Item(number, item_id, error='"title" must be a string')
    if len(text) + len(title or "") > max_chars:
        return Item(
            number,
            item_id,
            error=f"text of {len(text) + len(title or ''):,} characters, over "
            f"max_article_chars ({max_chars:,})",
        )
    if not _encodable(text) or not _encodable(title):
        return Item(number, item_id, error="text or title holds a lone surrogate (not Unicode)")
    return Item(number, item_id, text, title)


def claim_dict(claim: Claim) -> dict[str, Any]:
    return {
        "adopter": claim.adopter,
        "adopter_as_written": claim.adopter_as_written,
        "model": claim.model,
        "model_family": claim.model_family,
        "vendor": claim.vendor,
        "origin_country": claim.origin_country,
        "relation": claim.relation,
        "confidence": round(float(claim.confidence), 4),
        "vendor_level": claim.vendor_level,
        "switch": claim.switch,
        "evidence": claim.evidence,
    }


def _extract(extractor: ClaimExtractor, items: Sequence[Item]) -> list[Extraction]:
    return list(extractor.extract_many([i.text for i in items], [i.title or "" for i in items]))


def _records(extractor: ClaimExtractor, batch: list[Item]) -> Iterator[dict[str, Any]]:
    good = [i for i in batch if i.error is None]
    results: dict[int, Any] = {}
    try:
        results = dict(zip((i.number for i in good), _extract(extractor, good), strict=True))
    except Exception:  # one text broke the batch: find which, one text at a time
        for item in good:
            try:
                results[item.number] = _extract(extractor, [item])[0]
            except Exception as exc:  # an extractor bug costs this line, not the run
                item.error = f"extraction failed: {type(exc).__name__}: {exc}"[:500]
    for item in batch:
        if item.error is not None:
            yield {"id": item.id, "error": f"line {item.number}: {item.error}"}
        else:
            claims = results[item.number].claims
            yield {"id": item.id, "claims": [claim_dict(c) for c in claims]}


def extract_lines(
    extractor: ClaimExtractor, stream: BinaryIO, out: BinaryIO, max_chars: int
) -> Tally:
    """Read JSON lines from ``stream``, write one result line per input line to ``out``
    (UTF-8, in order, flushed per batch); returns how many lines there were and failed."""
    tally = Tally()
    batch: list[Item] = []
    chars = 0

    def flush() -> None:
        for record in _records(extractor, batch):
            if "error" in record:
                tally.failed += 1
                if len(tally.failures) < 3:
                    tally.failures.append(record["error"])
            out.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        out.flush()
        batch.clear()

    for number, raw in read_lines(stream, max_line_bytes(max_chars)):
        item = parse_line(number, raw, max_chars)
        tally.lines += 1
        batch.append(item)
        chars += len(item.text) + len(item.title or "")
        if len(batch) >= BATCH_LINES or chars >= max_chars:
            flush()
            chars = 0
    if batch:
        flush()
    return tally
