"""The sources file: ``[[sources]]`` tables with ``name``, ``url`` and optional ``tags``."""

from __future__ import annotations

import tomllib
import unicodedata
from pathlib import Path

from adoptwatch.errors import AdoptwatchError
from adoptwatch.extractors.urls import InvalidURL, canonicalize_url
from adoptwatch.plain_text import CONTROL_CHARACTERS, clean_text
from adoptwatch.storage.records import SourceSpec


class SourcesError(AdoptwatchError):
    """The sources file is missing or malformed."""


# Longer names and URLs are mistakes (or attacks), and would be echoed in every message.
MAX_NAME_CHARS = 200
MAX_URL_CHARS = 2000


def source_name(name: str) -> str:
    """A source's name as stored: one line, no control characters, single spaces."""
    return clean_text(name)


def _name_key(name: str) -> str:
    # Names that differ only by spaces, case or Unicode form are the same source.
    return unicodedata.normalize("NFKC", source_name(name)).casefold()


def _check_url(url: object, where: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise SourcesError(f"{where} needs an http(s) url")
    url = url.strip()
    shown = clean_text(url, 120)
    if len(url) > MAX_URL_CHARS:
        raise SourcesError(f"{where}: url is over {MAX_URL_CHARS:,} characters ({shown!r})")
    if CONTROL_CHARACTERS.search(url) or " " in url:
        raise SourcesError(f"{where}: url {shown!r} holds spaces or control characters")
    try:
        canonicalize_url(url)
    except InvalidURL as exc:
        reason = str(exc).replace(f": {url!r}", "")  # the URL is shown once, cut short
        raise SourcesError(f"{where}: url {shown!r}: {reason}") from None
    return url


def parse_sources(text: str, origin: str = "sources") -> list[SourceSpec]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourcesError(f"{origin} is not valid TOML: {exc}") from None
    tables = data.get("sources")
    if not isinstance(tables, list) or not tables:
        raise SourcesError(f"{origin} has no [[sources]] tables")
    specs: list[SourceSpec] = []
    seen: dict[str, str] = {}
    for i, table in enumerate(tables, start=1):
        where = f"{origin}: source #{i}"
        if not isinstance(table, dict):
            raise SourcesError(f"{where} is not a table")
        unknown = sorted(set(table) - {"name", "url", "tags"})
        if unknown:
            shown = ", ".join(clean_text(k, 40) for k in unknown[:5])
            raise SourcesError(f"{where} has unknown key(s) {shown}")
        raw_name, url, tags = table.get("name"), table.get("url"), table.get("tags", [])
        if not isinstance(raw_name, str) or not source_name(raw_name):
            raise SourcesError(f"{where} needs a name")
        name = source_name(raw_name)
        if len(name) > MAX_NAME_CHARS:
            raise SourcesError(
                f"{where}: name {clean_text(name, 60)!r} is over {MAX_NAME_CHARS} characters"
            )
        where = f"{origin}: source {name!r}"
        key = _name_key(name)
        if key in seen:
            also = "" if seen[key] == name else f" (as {seen[key]!r})"
            raise SourcesError(f"{where} is listed twice{also}; names must differ")
        seen[key] = name
        url = _check_url(url, where)
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise SourcesError(f"{where}: tags must be a list of strings")
        specs.append(SourceSpec(name=name, url=url, tags=tuple(tags)))
    return specs


def load_sources(path: Path | str) -> list[SourceSpec]:
    """The sources file, checked whole: every problem is a :class:`SourcesError` naming
    the file and the source."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise SourcesError(
            f"sources file {path} does not exist; pass --sources FILE or create it "
            "([[sources]] tables with name and url)"
        ) from None
    except UnicodeDecodeError as exc:
        raise SourcesError(
            f"sources file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise SourcesError(f"cannot read sources file {path}: {exc.strerror}") from None
    return parse_sources(text, origin=str(path))
