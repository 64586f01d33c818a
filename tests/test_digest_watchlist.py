"""The weekly digest opens with "Your watchlist" when there are watches, in both the
text and the HTML rendering (seed: tests/digest_seed.py, week 2026-W48)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adoptwatch import digest as dg
from adoptwatch.storage import alerts
from adoptwatch.storage.db import read_session, write_session
from tests.digest_seed import WEEK, seed

UTC_ZONE = ZoneInfo("UTC")
SENDER = dg.parse_address("adoptwatch <digest@example.org>")
TO = [dg.parse_address("analyst@example.org")]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "digest.duckdb"
    seed(path)
    return path


def digest_of(db: Path, week: str = WEEK) -> dg.Digest:
    with read_session(db) as con:
        return dg.build_digest(con, dg.parse_week(week), UTC_ZONE)


def add(db: Path, kind: str, value: str, min_outlets: int = 1) -> None:
    with write_session(db) as con:
        alerts.add_watch(con, kind, value, min_outlets, datetime(2026, 11, 20))


def test_no_watches_no_section(db: Path) -> None:
    digest = digest_of(db)
    assert digest.watchlist is None
    assert "WATCHLIST" not in dg.render_text(digest)
    assert "Your watchlist" not in dg.render_html(digest, None)


def test_the_digest_opens_with_the_weeks_watched_facts(db: Path) -> None:
    add(db, "company", "Airbnb")
    add(db, "origin", "CN")
    add(db, "model", "Claude", min_outlets=2)  # Stripe's Claude has one outlet: left out

    digest = digest_of(db)
    assert digest.watchlist is not None
    seen = [(f.adopter, f.model_family, f.status, f.watches) for f in digest.watchlist]
    # Facts whose status was reported in W48 and match a watch: Airbnb's switch (both
    # sides), and the week's Chinese-model facts (Shopify's Qwen dates from W47).
    assert ("Airbnb", "Qwen", "current", ("company Airbnb", "origin CN")) in seen
    assert ("Airbnb", "GPT", "dropped", ("company Airbnb",)) in seen
    assert ("Canva", "DeepSeek", "current", ("origin CN",)) in seen
    assert ("Zapier", "Qwen", "current", ("origin CN",)) in seen
    assert not [s for s in seen if s[0] in ("Shopify", "Stripe", "Notion", "Lyft")]

    text = dg.render_text(digest)
    lines = text.splitlines()
    opening = lines.index(next(line for line in lines if line.startswith("YOUR WATCHLIST")))
    assert opening < lines.index(next(line for line in lines if line.startswith("NEW ADOPTERS")))
    assert (
        " - Airbnb dropped GPT (OpenAI, US) on 2026-11-24, replaced by Qwen, reported by 1 "
        "independent outlet [company Airbnb]" in lines
    )

    html = dg.render_html(digest, None)
    assert html.index("Your watchlist") < html.index("New adopters")
    assert "Airbnb uses Qwen (Alibaba, CN) since 2026-11-24" in html
    # Article text stays escaped in the section too.
    assert "<script>" not in html and "&lt;script&gt;" in html

    message = dg.compose_message(digest, SENDER, TO)
    assert "YOUR WATCHLIST" in message.get_body(("plain",)).get_content()


def test_a_quiet_week_says_so(db: Path) -> None:
    add(db, "company", "Airbnb")
    digest = digest_of(db, "2026-W44")
    assert digest.watchlist == []
    assert "Nothing on your watchlist changed this week." in dg.render_text(digest)
