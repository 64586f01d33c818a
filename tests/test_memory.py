"""Memory stays bounded whatever a source sends: a real `adoptwatch ingest` (the CLI, with
Prefect) against the worst servers of tests/hostile.py, at the *default* caps, with its peak
resident set size measured by the kernel (``getrusage(RUSAGE_CHILDREN)`` in a wrapper whose
only child is the ingest).

Run it alone to see the figure: ``.venv/bin/pytest tests/test_memory.py -s``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import hostile, sites
from tests.httpserver import RouteServer, static

MB = hostile.MB
LIMIT_MB = 1500

# Runs the command in argv, then prints the peak RSS (KiB) of its process tree's largest
# member: the wrapper waits for exactly one child, the ingest.
WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)\n"
    "sys.exit(code)\n"
)


def page_links(srv: RouteServer) -> list[str]:
    """Article pages, each as bad as a page can be within the default caps."""
    noise_page = (b"<html><body><article><p>" + hostile.text_noise(3_900_000)
                  + b"</p></article></body></html>")  # fmt: skip
    crowded = b"<html><body><article>" + b"<p>word</p>" * 95_000 + b"</article></body></html>"
    kinds = {
        # 4 MB of incompressible text: extracted, then refused as longer than any article.
        "noise": (static(noise_page), 6),
        # Just under max_page_elements: the most expensive page extraction still accepts.
        "crowded": (static(crowded), 2),
        # Endless and bomb pages: stopped at max_page_bytes.
        "endless": (hostile.endless("text/html"), 30),
        "bomb": (hostile.encoded(hostile.gzip_bomb(1000 * MB), "gzip", "text/html"), 30),
        # 4 MB of binary noise each: held (compressed, which does not help) until rejected.
        "binary": (static(hostile.garbage(3_900_000)), 32),
    }
    links = []
    for kind, (handler, count) in kinds.items():
        srv.routes[f"/pages/{kind}/*"] = handler
        links += [srv.url(f"/pages/{kind}/{i}") for i in range(count)]
    return links


def huge_feed(links: list[str]) -> bytes:
    """Just under 10 MB of RSS: ~200 000 entries, the first ones linking to ``links``."""
    head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>huge</title>'
    items = [
        f"<item><guid>p{i}</guid><link>{u}</link></item>".encode() for i, u in enumerate(links)
    ]
    filler = b"".join(b"<item><link>http://f.example/%d</link></item>" % i for i in range(200_000))
    body = head + b"".join(items) + filler
    return body[: 9_900_000 - 20] + b"</channel></rss>"


@pytest.fixture
def worst() -> Iterator[tuple[RouteServer, dict[str, str]]]:
    with RouteServer() as srv:
        feeds = {
            "endless": hostile.endless(),
            "gzip-bomb": hostile.encoded(hostile.gzip_bomb(1000 * MB), "gzip"),
            "deflate-bomb": hostile.encoded(hostile.deflate_bomb(1000 * MB), "deflate"),
            "stacked-bomb": hostile.encoded(hostile.gzip_bomb(1000 * MB, 2), "gzip, gzip"),
            "laughs": static(hostile.billion_laughs(), content_type="application/rss+xml"),
            "laughs-utf16": static(
                hostile.billion_laughs("utf-16"), content_type="application/rss+xml"
            ),
            "huge": static(huge_feed(page_links(srv)), content_type="application/rss+xml"),
        }
        for name, handler in feeds.items():
            srv.routes[f"/feeds/{name}"] = handler
        yield srv, {name: srv.url(f"/feeds/{name}") for name in feeds}


def test_peak_rss_stays_under_the_limit_against_the_worst_sources(
    tmp_path: Path, worst: tuple[RouteServer, dict[str, str]], prefect_harness: str
) -> None:
    srv, feeds = worst
    sources = tmp_path / "sources.toml"
    sources.write_text(
        "".join(f'[[sources]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds.items())
    )
    # Default caps (body, page, elements, text, batch size, concurrency); only politeness
    # towards our single loopback host and the network allowance differ.
    config = sites.write_config(
        tmp_path / "adoptwatch.toml", tmp_path / "events.duckdb", sources,
        per_host_concurrency=16,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, sites.ADOPTWATCH, "--config", str(config),
         "ingest", "--json"],
        capture_output=True, text=True, env=sites.cli_env(prefect_harness), timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    *summary_lines, peak_line = done.stdout.strip().splitlines()
    summary = json.loads("\n".join(summary_lines))
    peak_mb = int(peak_line) / 1024
    print(f"\npeak RSS of `adoptwatch ingest` against the worst sources: {peak_mb:.0f} MB")

    # The run did meet every hostile source (no shortcut made it cheap).
    failed = {f["source"]: f["error_class"] for f in summary["failed_sources"]}
    assert failed == {
        "endless": "too_large", "gzip-bomb": "too_large", "deflate-bomb": "too_large",
        "stacked-bomb": "too_large", "laughs": "unsafe_xml", "laughs-utf16": "unsafe_xml",
    }  # fmt: skip
    assert summary["feeds_fetched"] == 1 and summary["entries_new"] == 100
    assert summary["articles_failed"] >= 98
    kinds = {p.split("/")[2] for h in srv.hits if (p := h.path).startswith("/pages/")}
    assert kinds == {"noise", "crowded", "endless", "bomb", "binary"}
    assert peak_mb < LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"
