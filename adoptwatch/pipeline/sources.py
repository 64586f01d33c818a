"""The sources file: ``[[sources]]`` tables with ``name``, ``url`` and optional ``tags``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from adoptwatch.errors import AdoptwatchError
from adoptwatch.storage.records import SourceSpec


class SourcesError(AdoptwatchError):
    """The sources file is missing or malformed."""


def parse_sources(text: str, origin: str = "sources") -> list[SourceSpec]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourcesError(f"{origin} is not valid TOML: {exc}") from None
    tables = data.get("sources")
    if not isinstance(tables, list) or not tables:
        raise SourcesError(f"{origin} has no [[sources]] tables")
    specs: list[SourceSpec] = []
    seen: set[str] = set()
    for i, table in enumerate(tables, start=1):
        where = f"{origin}: source #{i}"
        if not isinstance(table, dict):
            raise SourcesError(f"{where} is not a table")
        unknown = sorted(set(table) - {"name", "url", "tags"})
        if unknown:
            raise SourcesError(f"{where} has unknown key(s) {', '.join(unknown)}")
        name, url, tags = table.get("name"), table.get("url"), table.get("tags", [])
        if not isinstance(name, str) or not name.strip():
            raise SourcesError(f"{where} needs a name")
        where = f"{origin}: source {name!r}"
        if name in seen:
            raise SourcesError(f"{where} is listed twice")
        seen.add(name)
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise SourcesError(f"{where} needs an http(s) url, got {url!r}")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise SourcesError(f"{where}: tags must be a list of strings")
        specs.append(SourceSpec(name=name.strip(), url=url.strip(), tags=tuple(tags)))
    return specs


def load_sources(path: Path | str) -> list[SourceSpec]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourcesError(
            f"sources file {path} does not exist; pass --sources FILE or create it "
            "([[sources]] tables with name and url)"
        ) from None
    return parse_sources(text, origin=str(path))
