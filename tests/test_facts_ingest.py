"""Facts through a real ingest of loopback outlets, and the company and model views.

One story syndicated across three outlets and copied once with small edits, plus an
independent report (tests/syndication.py), and a fifth outlet where a company adopts a
model, then evaluates another, then switches to it, across three weeks. The facts'
statuses, dates and outlet counts must be exactly right, and an ingest run again must
change nothing.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from adoptwatch.cli import main
from adoptwatch.pipeline.ingest import run_ingest
from adoptwatch.storage.db import read_session
from adoptwatch.storage.facts import facts_drift
from tests.conftest import make_settings
from tests.httpserver import RouteServer, static
from tests.syndication import STORIES, syndication_sites

# Written for this test: a fictional software maker over three weeks.
ORCHARD = (
    ("adopts", datetime(2026, 10, 5, 9), "A new assistant at Orchard Labs",
     "Orchard Labs has adopted Mistral Large to summarise support tickets, the software "
     "maker said. The company employs forty people in Lyon."),
    ("evaluates", datetime(2026, 10, 13, 9), "Orchard Labs tries DeepSeek",
     "Orchard Labs, a software maker, is testing DeepSeek for its support desk. A decision "
     "is due within weeks, the company said."),
    ("switch", datetime(2026, 10, 21, 9), "Orchard Labs moves its support desk",
     "Orchard Labs switched from Mistral to DeepSeek for customer support this week. The "
     "company said answers now arrive faster."),
)  # fmt: skip
ORCHARD_HOST = "127.0.0.5"


def orchard_site(server: RouteServer) -> None:
    items = []
    for i, (_kind, published, title, body) in enumerate(ORCHARD):
        path = f"/blog/{i}.html"
        server.routes[path] = static(
            f"<!DOCTYPE html><html><head><title>{title}</title>"
            f'<meta property="article:published_time" content="{published.isoformat()}Z">'
            f"</head><body><article><h1>{title}</h1><p>{body}</p>"
            "<p>Orchard Labs makes scheduling software for clinics and small hospitals, and "
            "sells it in nine countries.</p></article></body></html>"
        )
        items.append(
            f"<item><title>{title}</title><link>{server.url(path)}</link><guid>{i}</guid>"
            f"<pubDate>{format_datetime(published)}</pubDate></item>"
        )
    server.routes["/robots.txt"] = static("User-agent: *\nAllow: /\n", content_type="text/plain")
    server.routes["/feed.xml"] = static(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Orchard</title>'
        f"<link>{server.base_url}/</link><description>d</description>{''.join(items)}"
        "</channel></rss>",
        content_type="application/rss+xml",
    )


def facts_of(db: Any) -> dict[tuple[str, str], dict[str, Any]]:
    with read_session(db) as con:
        cursor = con.execute("SELECT * FROM adoption_facts")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        assert facts_drift(con) == []
    return {(r["adopter"], r["model_family"]): r for r in rows}


def test_facts_from_syndicated_stories_and_a_switch_across_weeks(tmp_path: Path) -> None:
    with syndication_sites() as sites, RouteServer(host=ORCHARD_HOST) as orchard:
        orchard_site(orchard)
        sources = tmp_path / "sources.toml"
        sources.write_text(
            sites.sources_toml()
            + f'[[sources]]\nname = "orchard"\nurl = "{orchard.url("/feed.xml")}"\n'
        )
        settings = make_settings(tmp_path, sources=sources)
        asyncio.run(run_ingest(settings))
        facts = facts_of(settings.db)

        qwen = facts[("Quillfeather", "Qwen")]
        first = min(a.published for a in STORIES)
        assert qwen["status"] == "current"
        assert qwen["status_since"] == qwen["first_reported"] == first
        assert qwen["articles"] == len(STORIES)
        # Four copies of one story (first published by 127.0.0.1) and an independent
        # report by 127.0.0.2: two independent outlets.
        assert qwen["outlets"] == 2
        assert qwen["evidence_url"] in {sites.url(a.key) for a in STORIES}

        mistral = facts[("Orchard Labs", "Mistral")]
        deepseek = facts[("Orchard Labs", "DeepSeek")]
        week1, week2, week3 = (published for _k, published, _t, _b in ORCHARD)
        assert (mistral["status"], mistral["first_reported"]) == ("dropped", week1)
        assert mistral["dropped_at"] == mistral["status_since"] == week3
        assert mistral["replaced_by"] == "DeepSeek"
        assert (deepseek["status"], deepseek["status_since"]) == ("current", week3)
        assert deepseek["first_reported"] == week2
        assert mistral["outlets"] == deepseek["outlets"] == 1

        before = {k: {c: v for c, v in f.items() if c != "refreshed_at"} for k, f in facts.items()}
        asyncio.run(run_ingest(settings))  # nothing new: nothing changes
        after = facts_of(settings.db)
        assert {
            k: {c: v for c, v in f.items() if c != "refreshed_at"} for k, f in after.items()
        } == before

        # The views resolve names through the alias tables and show the same facts.
        runner = CliRunner()
        shown = runner.invoke(
            main, ["company", "orchard labs", "--db", str(settings.db), "--format", "json"]
        )
        assert shown.exit_code == 0, shown.output
        view = json.loads(shown.output)
        assert view["company"] == "Orchard Labs"
        assert [(f["model_family"], f["status"]) for f in view["stack"]] == [
            ("DeepSeek", "current"),
            ("Mistral", "dropped"),
        ]
        assert [(s["from_family"], s["to_family"]) for s in view["switches"]] == [
            ("Mistral", "DeepSeek")
        ]
        assert [e["relation"] for e in view["timeline"]][:2] == ["adopts", "evaluates"]
        table = runner.invoke(main, ["company", "Orchard Labs", "--db", str(settings.db)])
        assert table.exit_code == 0, table.output
        assert "DeepSeek" in table.output and "outlets: Independent outlets" in table.output

        model = runner.invoke(
            main,
            ["model", "Qwen3-Max", "--db", str(settings.db), "--format", "json",
             "--since", "2026-11-01"],
        )  # fmt: skip
        assert model.exit_code == 0, model.output
        qwen_view = json.loads(model.output)
        assert qwen_view["name"] == "Qwen"
        assert [f["adopter"] for f in qwen_view["current"]] == ["Quillfeather"]
        week = next(w for w in qwen_view["weeks"] if w["week"] == "2026-11-02")
        assert week["adopters"] == 1 and week["mentioning_articles"] == len(STORIES)

        unknown = runner.invoke(main, ["company", "Orchrd Labs", "--db", str(settings.db)])
        assert unknown.exit_code == 1
        assert "did you mean Orchard Labs" in unknown.output
