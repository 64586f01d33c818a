"""A generated news site for the crash and concurrency tests: one RSS feed of N articles,
each reporting that an (invented) company adopts or tests a model. Written for the project.

Served by :class:`adoptwatch.site_server.SiteServer` (``{{BASE}}`` is its base URL), with a
per-request latency so that a kill or a concurrent reader lands in the middle of a run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COMPANIES = [
    "Vintry Analytics", "Tandem Parcel", "Orchard Ledger", "Copperfield Health",
    "Bramble Robotics", "Lanternfish Media", "Quarry Mutual", "Saltmarsh Energy",
    "Kestrel Payroll", "Fernhill Schools", "Tidewater Freight", "Juniper Clinics",
    "Marrow Insurance", "Gannet Travel", "Pinecrest Legal", "Ashgrove Retail",
    "Harrier Logistics", "Willowmere Bank", "Cobalt Kitchens", "Larkspur Games",
]  # fmt: skip
MODELS = ["Mistral Large", "Kimi K2", "DeepSeek V3", "Qwen3", "Llama 4", "Claude", "Gemini"]
USES = ["document search", "route planning", "customer support", "claims triage", "coding"]

# The console script next to this interpreter.
ADOPTWATCH = str(Path(sys.executable).with_name("adoptwatch"))


def slug(i: int) -> str:
    return f"story-{i:03d}"


def article(i: int) -> str:
    company = COMPANIES[i % len(COMPANIES)]
    model = MODELS[i % len(MODELS)]
    use = USES[i % len(USES)]
    verb = "adopted" if i % 3 else "is testing"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{company} and {model}</title>
<link rel="canonical" href="{{{{BASE}}}}/articles/{slug(i)}.html"></head>
<body><nav><a href="/">Front page</a> | <a href="/tags/ai">AI</a></nav>
<article><h1>{company} and {model}</h1>
<p>{company} {verb} {model} for {use}, its chief executive said on Thursday.</p>
<p>The company, which has about {200 + i * 17} employees, said the work began in the spring
and that staff had been asked for feedback every week since. Story number {i}.</p>
<p>Analysts said more mid-sized firms were reviewing which models they use this year.</p>
</article><footer>Generated test site. Nothing here is real.</footer></body></html>
"""


def build(root: Path, n: int, feeds: tuple[str, ...] = ("news",)) -> Path:
    """Write a site of ``n`` articles per feed under ``root``; returns ``root``.

    Feed ``feeds[k]`` (at ``/feeds/NAME.xml``) links articles ``k*n`` to ``k*n + n - 1``.
    """
    (root / "articles").mkdir(parents=True, exist_ok=True)
    (root / "feeds").mkdir(exist_ok=True)
    for k, name in enumerate(feeds):
        items = []
        for i in range(k * n, k * n + n):
            (root / "articles" / f"{slug(i)}.html").write_text(article(i))
            day = 1 + (k * n + n - i) % 28
            items.append(
                f"<item><title>Story {i}</title><link>{{{{BASE}}}}/articles/{slug(i)}.html</link>"
                f"<guid>{slug(i)}</guid><pubDate>Tue, {day:02d} Sep 2026 10:{i % 60:02d}:00 GMT"
                "</pubDate></item>"
            )
        (root / "feeds" / f"{name}.xml").write_text(
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Generated {name}</title><link>{{{{BASE}}}}/</link><description>d"
            "</description>" + "".join(items) + "</channel></rss>"
        )
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    return root


def write_config(path: Path, db: Path, sources: Path, **extra: object) -> Path:
    """An adoptwatch settings file for a loopback site."""
    values: dict[str, object] = {
        "db": str(db),
        "sources": str(sources),
        "allow_networks": ["127.0.0.1/32"],
        "per_host_delay": 0.0,
        "retry_backoff": 0.05,
        "db_lock_timeout": 60.0,
        **extra,
    }
    lines = []
    for key, value in values.items():
        if isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
        else:
            lines.append(f"{key} = {value}")
    path.write_text("\n".join(lines) + "\n")
    return path


def cli_env(api_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADOPTWATCH_")}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def start_ingest(
    config: Path, api_url: str | None, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    """``adoptwatch --config CONFIG ingest --json`` in the background; stdout goes to
    ``log``, stderr to ``log`` with the suffix ``.err``."""
    with log.open("wb") as out, log.with_suffix(".err").open("wb") as err:
        return subprocess.Popen(
            [ADOPTWATCH, "--config", str(config), "ingest", "--json", *extra],
            stdout=out,
            stderr=err,
            env=cli_env(api_url),
        )


# A line on stderr after each committed write batch that stores articles, so a test can
# kill the run between batches it knows were written.
BATCH_WRITTEN = "test: batch written"

PLAIN_INGEST = (
    "import asyncio, json, sys\n"
    "from adoptwatch.pipeline.ingest import run_ingest\n"
    "from adoptwatch.settings import load_settings\n"
    "from adoptwatch.storage import store\n"
    "_write_batch = store.write_batch\n"
    "def write_batch(con, batch, *args, **kwargs):\n"
    "    result = _write_batch(con, batch, *args, **kwargs)\n"
    "    if batch.articles:\n"
    f"        print({BATCH_WRITTEN!r}, file=sys.stderr, flush=True)\n"
    "    return result\n"
    "store.write_batch = write_batch\n"
    "summary = asyncio.run(run_ingest(load_settings(sys.argv[1])))\n"
    "print(json.dumps(summary.as_dict(), default=str))\n"
)


def start_plain_ingest(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """The same pipeline without Prefect or the CLI (``run_ingest`` in a fresh process)."""
    with log.open("wb") as out, log.with_suffix(".err").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-c", PLAIN_INGEST, str(config)],
            stdout=out,
            stderr=err,
            env=cli_env(None),
            cwd=Path(__file__).resolve().parent.parent,
        )
