"""The explorer (``adoptwatch web``): a real server process over the demo database, driven
by a real headless Chromium (tests/webdriver.py), and plain HTTP for what a browser does not
show (headers, methods, the CSV). Hostile article text must come out as text and never run."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from adoptwatch.demo import run_demo
from adoptwatch.digest import IsoWeek
from adoptwatch.pipeline.ingest import run_ingest
from adoptwatch.settings import Settings
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session, write_session
from adoptwatch.storage.digest import latest_event_at
from adoptwatch.storage.synthetic import new_adopter_pairs_naive
from tests.conftest import make_settings
from tests.test_demo import free_port
from tests.webdriver import ADOPTWATCH, browser_missing, chromium, console_errors, explorer

HOSTILE_SCRIPT = "<script>window.__pwned = 1; alert(1)</script>"
HOSTILE_IMG = '<img src=x onerror="window.__pwned = 2; alert(2)">'
HOSTILE_URL = "javascript:window.__pwned=3;alert(3)"
HOSTILE_ADOPTER = 'Evil"><svg onload=alert(4)> Corp'


def plain_ingest(settings: Settings) -> dict:
    return asyncio.run(run_ingest(settings)).as_dict()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("web-demo")
    db = tmp / "demo.duckdb"
    run_demo(make_settings(tmp), db=db, run_ingest=plain_ingest, port=free_port())
    return db


@pytest.fixture(scope="module")
def site(demo_db: Path) -> Iterator[str]:
    with explorer(demo_db) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = browser_missing()
    if missing:
        pytest.skip(f"no headless browser for the explorer's tests: {missing}")
    with chromium() as driver:
        yield driver


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with read_session(db) as con:
        return store.run_query(con, sql).rows


def latest_week(db: Path) -> IsoWeek:
    with read_session(db) as con:
        at = latest_event_at(con)
    assert at is not None
    return IsoWeek.of(at.replace(tzinfo=UTC).date())


def visit(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "main"))


def texts(driver: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


# --- in the browser --------------------------------------------------------------------


def test_the_landing_page_shows_the_weeks_new_adopters(
    demo_db: Path, site: str, browser: Any
) -> None:
    week = latest_week(demo_db)
    start, stop = week.bounds_utc(ZoneInfo("UTC"))
    with read_session(demo_db) as con:
        want = set(new_adopter_pairs_naive(con, start, stop))  # spelled apart from the digest
    assert want, "the demo's newest week has new adopters"
    console_errors(browser)
    visit(browser, site)
    assert week.label in browser.find_element("css selector", "h1").text
    shown = {
        (item.find_element("css selector", "a.company").text,
         item.find_element("css selector", "a.model").text)
        for item in browser.find_elements("css selector", "#new-adopters li")
    }  # fmt: skip
    assert shown == want
    assert console_errors(browser) == []


def test_clicking_a_company_opens_its_stack(demo_db: Path, site: str, browser: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    visit(browser, site)
    link = browser.find_element("css selector", "#new-adopters li a.company")
    name = link.text
    link.click()
    WebDriverWait(browser, 30).until(lambda d: "/company?" in d.current_url)
    assert browser.find_element("css selector", "h1").text == name
    want = {
        (family, status)
        for family, status in rows(
            demo_db,
            "SELECT model_family, status FROM adoption_facts WHERE adopter = "
            + "'" + name.replace("'", "''") + "'",
        )
    }  # fmt: skip
    assert want, f"the demo keeps facts about {name}"
    shown = {
        (row.find_element("css selector", "td a.model").text,
         row.find_element("css selector", "td.status").text.split(" ")[0])
        for row in browser.find_elements("css selector", "#stack tbody tr")
    }  # fmt: skip
    assert shown == want
    # The week's new adoption is part of the company's current stack.
    adopted = {f for f, s in want if s == "current"}
    assert adopted
    assert console_errors(browser) == []


def test_an_events_filter_returns_the_right_rows(demo_db: Path, site: str, browser: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    adopter, count = rows(
        demo_db,
        "SELECT adopter, count(*) FROM adoption_events WHERE relation = 'adopts' "
        "GROUP BY adopter ORDER BY count(*) DESC, adopter LIMIT 1",
    )[0]
    visit(browser, site + "events")
    form = browser.find_element("css selector", "form.filters")
    form.find_element("name", "adopter").send_keys(adopter)
    form.find_element("css selector", "select[name=relation] option[value='']")
    for option in form.find_elements("css selector", "select[name=relation] option"):
        if option.text == "adopts":
            option.click()
    form.find_element("css selector", "button[type=submit]").click()
    WebDriverWait(browser, 30).until(lambda d: "adopter=" in d.current_url)
    shown = browser.find_elements("css selector", "#events tbody tr")
    assert browser.find_element("id", "total").text == str(count)
    assert len(shown) == count
    for row in shown:
        cells = row.find_elements("css selector", "td")
        assert cells[1].text == adopter and cells[2].text == "adopts"
    assert console_errors(browser) == []


def test_the_csv_download_matches_adoptwatch_query(demo_db: Path, site: str, browser: Any) -> None:
    visit(browser, site + "events?relation=adopts&min_confidence=0.5")
    href = browser.find_element("id", "csv").get_attribute("href")
    sql = browser.find_element("id", "sql").text
    downloaded = httpx.get(href, timeout=30).text
    queried = subprocess.run(
        [str(ADOPTWATCH), "query", "--db", str(demo_db), "--format", "csv", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert downloaded == queried
    assert downloaded.count("\n") > 1  # a header and rows
    assert all(",adopts," in line for line in downloaded.splitlines()[1:])


@pytest.mark.parametrize("path", ["", "model?name={family}", "vendor?name={vendor}"])
def test_charts_draw_with_their_numbers(demo_db: Path, site: str, browser: Any, path: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    family, vendor = rows(
        demo_db,
        "SELECT model_family, vendor FROM adoption_facts WHERE status = 'current' "
        "GROUP BY ALL ORDER BY count(*) DESC, model_family LIMIT 1",
    )[0]
    console_errors(browser)
    visit(browser, site + path.format(family=family, vendor=vendor))
    figures = browser.find_elements("css selector", "figure.chart")
    assert figures
    WebDriverWait(browser, 30).until(
        lambda d: len(d.find_elements("css selector", "figure.chart.drawn")) == len(figures)
    )
    for figure in figures:
        canvas = figure.find_element("css selector", "canvas")
        assert int(canvas.get_attribute("width")) > 0
        # Something was drawn: the canvas is not blank.
        assert browser.execute_script(
            "const c = arguments[0], d = c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data;"
            "for (let i = 3; i < d.length; i += 4) { if (d[i]) return true; } return false;",
            canvas,
        )
        assert figure.find_elements("css selector", "details.numbers tbody tr")
    assert console_errors(browser) == []


# --- hostile text ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_db(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's log with one company's strings replaced by markup, scripts and a
    ``javascript:`` URL, as a hostile page could make an extractor store them."""
    db = tmp_path_factory.mktemp("web-hostile") / "hostile.duckdb"
    shutil.copy(demo_db, db)
    with write_session(db) as con:
        adopter = con.execute(
            "SELECT adopter FROM adoption_facts WHERE status = 'current' ORDER BY adopter LIMIT 1"
        ).fetchall()[0][0]
        evidence = f"{HOSTILE_SCRIPT} said {HOSTILE_IMG} it adopted"
        for table in ("adoption_events", "adoption_facts", "first_adoptions", "fact_outlets"):
            con.execute(
                f"UPDATE {table} SET adopter = $new WHERE adopter = $old",
                {"new": HOSTILE_ADOPTER, "old": adopter},
            )
        con.execute(
            "UPDATE adoption_events SET evidence = $e, article_url = $u, model = $m "
            "WHERE adopter = $a",
            {"e": evidence, "u": HOSTILE_URL, "m": HOSTILE_IMG, "a": HOSTILE_ADOPTER},
        )
        con.execute(
            "UPDATE adoption_facts SET evidence = $e, evidence_url = $u WHERE adopter = $a",
            {"e": evidence, "u": HOSTILE_URL, "a": HOSTILE_ADOPTER},
        )
        con.execute("UPDATE articles SET title = $t, outlet = $t", {"t": HOSTILE_IMG})
        con.execute("UPDATE fact_outlets SET outlet = $t", {"t": HOSTILE_SCRIPT})
        con.execute("UPDATE sources SET last_error = $e", {"e": HOSTILE_SCRIPT})
    return db


def test_hostile_text_is_shown_as_text_and_never_runs(hostile_db: Path, browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    week = rows(
        hostile_db,
        "SELECT strftime(min(coalesce(published_at, extracted_at)), '%G-W%V') "
        "FROM adoption_events WHERE adopter = '" + HOSTILE_ADOPTER.replace("'", "''") + "'",
    )[0][0]
    with explorer(hostile_db) as url:
        console_errors(browser)
        pages = [
            f"?week={week}",
            "companies?q=evil",
            "company?" + httpx.QueryParams(name=HOSTILE_ADOPTER).__str__(),
            "events?" + httpx.QueryParams(adopter=HOSTILE_ADOPTER).__str__(),
            "events?q=script",
            "sources",
        ]
        for page in pages:
            visit(browser, url + page)
            time.sleep(0.3)  # an onerror handler would have fired by now
            with pytest.raises(NoAlertPresentException):
                browser.switch_to.alert.text  # noqa: B018
            assert browser.execute_script("return window.__pwned === undefined")
            assert console_errors(browser) == [], page
            # Nothing was read as markup: the strings are there, as text.
            body = browser.find_element("css selector", "main").text
            assert "<script>" in body or HOSTILE_ADOPTER in body or "<img" in body, page
            assert not browser.find_elements("css selector", "main script, main img, main svg")
            assert not browser.find_elements("css selector", "a[href^='javascript:' i]")


# --- plain HTTP ----------------------------------------------------------------------------


def test_every_answer_is_read_only_and_locked_down(site: str) -> None:
    with httpx.Client(base_url=site, timeout=30) as client:
        for path in ("/", "/companies", "/events", "/sources", "/models", "/api/origin-share"):
            got = client.get(path)
            assert got.status_code == 200, path
            csp = got.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "style-src 'self'" in csp
            assert "unsafe" not in csp
            assert got.headers["x-content-type-options"] == "nosniff"
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                assert client.request(method, path).status_code == 405, (method, path)
        # A page asked for by another host name (DNS rebinding) is refused.
        assert client.get("/", headers={"host": "attacker.example"}).status_code == 400
        # A bad parameter is a 400 that says what to write.
        bad = client.get("/events", params={"since": "yesterday"})
        assert bad.status_code == 400 and "2026-11-25" in bad.text
        assert client.get("/api/events", params={"min_confidence": "nan"}).status_code == 400


def test_companies_are_found_by_name_or_alias(demo_db: Path, site: str) -> None:
    from adoptwatch.extractors.adopters import default_gazetteer

    named = {r[0] for r in rows(demo_db, "SELECT DISTINCT adopter FROM adoption_facts")}
    gazetteer = default_gazetteer()
    alias, company = next(
        (key, c.name)
        for key, c in sorted(gazetteer.companies.items())
        if c.name in named and key != c.name.lower() and c.name.lower() not in key
    )
    with httpx.Client(base_url=site, timeout=30) as client:
        by_alias = client.get("/companies", params={"q": alias}).text
        by_part = client.get("/companies", params={"q": company[1:4].lower()}).text
        nothing = client.get("/companies", params={"q": "no company is called this"}).text
    assert f">{company}</a>" in by_alias
    assert f">{company}</a>" in by_part
    assert "0 companies" in nothing


def test_the_served_chart_library_is_the_pinned_build() -> None:
    import hashlib

    from adoptwatch.web.app import CHART_JS, HERE

    served = (HERE / "static" / "chart.umd.min.js").read_bytes()
    assert hashlib.sha256(served).hexdigest() == CHART_JS[2]
    assert f"Chart.js v{CHART_JS[1]}".encode() in served[:200]
    # What a strict CSP refuses: evaluated strings.
    assert b"eval(" not in served and b"new Function" not in served


def test_it_listens_on_loopback_unless_told(demo_db: Path) -> None:
    with explorer(demo_db) as url:
        assert url.startswith("http://127.0.0.1:")


def test_the_api_documents_what_the_pages_show(demo_db: Path, site: str) -> None:
    adopter = rows(demo_db, "SELECT adopter FROM adoption_facts ORDER BY adopter LIMIT 1")[0][0]
    with httpx.Client(base_url=site, timeout=30) as client:
        share = client.get("/api/origin-share").json()
        assert len(share["labels"]) == 12 and [s["label"] for s in share["series"]] == [
            "CN",
            "US",
            "other",
        ]
        stack = client.get("/api/company", params={"name": adopter}).json()
        want = rows(
            demo_db,
            "SELECT count(*) FROM adoption_facts WHERE adopter = '"
            + adopter.replace("'", "''")
            + "'",
        )[0][0]
        assert len(stack["stack"]) == want
        events = client.get("/api/events", params={"relation": "drops"}).json()
        assert (
            events["total"]
            == rows(demo_db, "SELECT count(*) FROM adoption_events WHERE relation = 'drops'")[0][0]
        )
        assert {r["relation"] for r in events["rows"]} == {"drops"}


def test_pages_wait_for_an_ingest_write_then_answer(demo_db: Path, site: str) -> None:
    """A DuckDB file is locked while an ingest writes: a page waits for the write, then
    answers (the explorer holds the file only while it answers)."""
    got: list[int] = []
    with write_session(demo_db):
        thread = threading.Thread(
            target=lambda: got.append(httpx.get(site + "companies", timeout=60).status_code)
        )
        thread.start()
        time.sleep(1.0)
        assert got == []  # still waiting for the writer
    thread.join(60)
    assert got == [200]


def test_the_explorer_reads_a_ducklake(demo_db: Path, tmp_path: Path) -> None:
    from adoptwatch.pipeline.maintain import migrate_log
    from adoptwatch.storage.lake import close_lakes

    lake = f"ducklake:sqlite:{tmp_path / 'lake.sqlite'}"
    migrate_log(str(demo_db), lake, str(tmp_path / "lake-data"))
    close_lakes()
    adopter = rows(demo_db, "SELECT adopter FROM adoption_facts ORDER BY adopter LIMIT 1")[0][0]
    with explorer(lake) as url, httpx.Client(base_url=url, timeout=60) as client:
        for path in ("/", "/companies", "/events", "/sources", "/models"):
            assert client.get(path).status_code == 200, path
        page = client.get("/company", params={"name": adopter})
        assert page.status_code == 200 and 'id="stack"' in page.text
        assert (
            client.get("/events.csv").text.count("\n")
            == 1 + rows(demo_db, "SELECT count(*) FROM adoption_events")[0][0]
        )


def test_a_log_older_than_the_explorer_says_how_to_bring_it_up_to_date(
    demo_db: Path, tmp_path: Path
) -> None:
    import duckdb

    db = tmp_path / "old.duckdb"
    shutil.copy(demo_db, db)
    with duckdb.connect(str(db)) as con:  # as a log written before migration 8 looks
        con.execute("DROP TABLE adoption_facts")
    with explorer(db) as url:
        page = httpx.get(url + "companies", timeout=60)
        assert httpx.get(url + "events", timeout=60).status_code == 200  # the rest works
    assert page.status_code == 503
    assert "adoptwatch maintain" in page.text and "adoption_facts" in page.text


def test_a_taken_port_is_one_line_and_status_1(demo_db: Path, site: str) -> None:
    port = httpx.URL(site).port
    result = subprocess.run(
        [str(ADOPTWATCH), "web", "--db", str(demo_db), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "pass --port with a free port" in result.stderr
    assert "Traceback" not in result.stderr


def can_write_now(db: Path) -> bool:
    """Whether another process can open ``db`` for writing at once (no waiting)."""
    code = (
        "import sys\n"
        "from adoptwatch.storage.db import DatabaseBusy, write_session\n"
        "try:\n"
        "    with write_session(sys.argv[1], lock_timeout=0.0):\n"
        "        pass\n"
        "except DatabaseBusy:\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode == 0


def test_the_warm_connection_never_keeps_an_ingest_out(demo_db: Path, tmp_path: Path) -> None:
    from adoptwatch.storage.db import ingest_lock
    from adoptwatch.web.reader import EventLogReader

    db = tmp_path / "log.duckdb"
    shutil.copy(demo_db, db)
    reader = EventLogReader(db, lock_timeout=10, keep_open=3600)
    with reader.session() as (con, generation):
        assert con.execute("SELECT count(*) FROM adoption_events").fetchall()[0][0] > 0
    assert reader.warm and generation is not None
    reader.cache.put("/", generation, (200, b"kept", "text/html"))
    assert reader.cache.get("/", generation) == (200, b"kept", "text/html")
    assert not can_write_now(db)  # held between requests: a writer would wait
    with ingest_lock(db):  # an ingest starts (this process holds its lock, and lives)
        with reader.session() as (_, generation):
            assert generation is None  # nothing read now is kept
        assert not reader.warm
        assert reader.cache.get("/", reader.cache.generation) is None
        assert can_write_now(db)  # nothing holds the file between requests
    with reader.session() as (_, generation):
        assert generation is not None
    reader.close()
    assert not reader.warm and can_write_now(db)
