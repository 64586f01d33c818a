"""Screenshots of the explorer's main pages for docs/, taken by the headless Chromium the
tests drive (tests/webdriver.py), over a fresh demo database.

    .venv/bin/python -m tests.web_screenshots            # writes docs/explorer-*.png
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from adoptwatch.demo import run_demo
from adoptwatch.pipeline.ingest import run_ingest
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session
from tests.conftest import make_settings
from tests.test_demo import free_port
from tests.webdriver import browser_missing, chromium, explorer

DOCS = Path(__file__).resolve().parent.parent / "docs"


def busiest(db: Path, sql: str) -> str:
    with read_session(db) as con:
        return str(store.run_query(con, sql).rows[0][0])


def main() -> int:
    missing = browser_missing()
    if missing:
        print(f"no screenshots: {missing}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.duckdb"
        run_demo(
            make_settings(Path(tmp)),
            db=db,
            run_ingest=lambda s: asyncio.run(run_ingest(s)).as_dict(),
            port=free_port(),
        )
        week = busiest(
            db,
            "SELECT strftime(first_named_at, '%G-W%V') AS w FROM first_adoptions "
            "WHERE first_named_at IS NOT NULL GROUP BY w ORDER BY count(*) DESC, w DESC LIMIT 1",
        )
        company = busiest(
            db,
            "SELECT adopter FROM adoption_facts WHERE adopter_named GROUP BY adopter "
            "ORDER BY count(*) DESC, sum(articles) DESC, adopter LIMIT 1",
        )
        family = busiest(
            db,
            "SELECT model_family FROM adoption_facts GROUP BY model_family "
            "ORDER BY count(*) DESC, model_family LIMIT 1",
        )
        pages = {
            "week": f"?week={week}",
            "companies": "companies",
            "company": f"company?name={company}",
            "model": f"model?name={family}",
            "events": "events?relation=adopts",
            "sources": "sources",
        }
        with explorer(db) as url, chromium(width=1280, height=900) as driver:
            for name, path in pages.items():
                driver.get(url + path)
                charts = driver.find_elements("css selector", "figure.chart")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and len(
                    driver.find_elements("css selector", "figure.chart.drawn")
                ) < len(charts):
                    time.sleep(0.1)
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(1280, min(max(900, height + 160), 4000))
                time.sleep(0.3)  # let a resized chart redraw
                target = DOCS / f"explorer-{name}.png"
                driver.save_screenshot(str(target))
                driver.set_window_size(1280, 900)
                print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
