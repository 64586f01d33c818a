"""The offline demo: a bundled fixture site on loopback, crawled by the real ingest flow."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adoptwatch.errors import AdoptwatchError
from adoptwatch.settings import Settings
from adoptwatch.site_server import SiteServer
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session
from adoptwatch.storage.examples import EXAMPLE_QUERIES, ExampleQuery

DEMO_SITE = Path(__file__).with_name("demo_site")
LOOPBACK = "127.0.0.0/8"
# The fixture site is local: politeness delays would only make the demo slow.
DEMO_OVERRIDES: dict[str, Any] = {"per_host_delay": 0.02, "per_host_concurrency": 4}
# A fixed port keeps the demo's article URLs, and so its article IDs, the same from one
# run to the next: running the demo twice changes nothing.
DEMO_PORT = 8931


class DemoError(AdoptwatchError):
    """The demo could not start."""


@dataclass
class DemoResult:
    summary: dict[str, Any]
    counts: dict[str, int]
    examples: list[tuple[ExampleQuery, store.QueryResult]]
    base_url: str


def explorer_hint(db: Path | str, port: int) -> str:
    """The line that ends the demo: how to browse its event log in the explorer
    (``port``: the explorer's, web_port; 0 picks a free one, which it prints)."""
    import shlex

    where = f"http://127.0.0.1:{port}/" if port else "the address it prints"
    return (
        f"Browse it in the explorer: adoptwatch web --db {shlex.quote(str(db))}, then open "
        f"{where} (read-only; Ctrl-C stops it)."
    )


def demo_settings(settings: Settings, db: Path | str, sources: Path) -> Settings:
    return settings.replace(db=db, sources=sources, **DEMO_OVERRIDES).allowing([LOOPBACK])


def run_demo(
    settings: Settings,
    db: Path | str,
    run_ingest: Callable[[Settings], dict[str, Any]],
    site: Path = DEMO_SITE,
    port: int = DEMO_PORT,
) -> DemoResult:
    """Serve ``site`` on loopback, ingest it with ``run_ingest``, and read the results back.

    ``run_ingest`` takes the demo's settings and returns the run summary (the CLI passes
    the Prefect flow).
    """
    try:
        server = SiteServer(site, port=port)
    except OSError as exc:
        raise DemoError(
            f"cannot serve the demo site on 127.0.0.1:{port} ({exc.strerror}); "
            "pass --port with a free port"
        ) from None
    with server, tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "sources.toml"
        rendered = server.render("sources.toml")
        if rendered is None:
            raise FileNotFoundError(f"{site}/sources.toml is missing")
        sources.write_bytes(rendered)
        summary = run_ingest(demo_settings(settings, db, sources))
        base_url = server.base_url
    with read_session(db, settings.db_lock_timeout) as con:
        counts = store.counts(con)
        examples = [(q, store.run_query(con, q.sql)) for q in EXAMPLE_QUERIES]
    return DemoResult(summary=summary, counts=counts, examples=examples, base_url=base_url)
