"""The bundled demo site agrees with itself: feeds, pages, robots.txt, expected.json, sources.

No network: feeds are parsed from bytes, pages are read from disk.
"""

from __future__ import annotations

import io
import json
import re
import tomllib
import urllib.robotparser
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import feedparser
import pytest
from bs4 import BeautifulSoup

import adoptwatch

REPO = Path(__file__).resolve().parents[1]
SITE = Path(adoptwatch.__file__).resolve().parent / "demo_site"
BASE = "http://127.0.0.1:1"
PLACEHOLDER = "{{BASE}}"
USER_AGENT = "adoptwatch"

RELATIONS = {"adopts", "drops", "evaluates"}
# Catalog families the demo may use, with their origin country.
FAMILY_ORIGIN = {
    "GPT": "US",
    "Claude": "US",
    "Gemini": "US",
    "Llama": "US",
    "Grok": "US",
    "Phi": "US",
    "Nova": "US",
    "Command": "CA",
    "Mistral": "FR",
    "Qwen": "CN",
    "DeepSeek": "CN",
    "GLM": "CN",
    "Kimi": "CN",
    "MiniMax": "CN",
    "ERNIE": "CN",
    "Doubao": "CN",
    "Hunyuan": "CN",
    "Yi": "CN",
    "Step": "CN",
}
AIRBNB = "articles/circuit-ledger/2026/10/airbnb-replaces-chatgpt-with-qwen.html"
FIRST_DAY = datetime(2026, 10, 1, tzinfo=UTC)
LAST_DAY = datetime(2026, 11, 30, tzinfo=UTC)


def served(path: Path) -> str:
    """The text the demo server sends for a file: {{BASE}} replaced."""
    return path.read_text(encoding="utf-8").replace(PLACEHOLDER, BASE)


def local_path(url: str) -> str:
    """Path of a demo URL relative to the site folder (query and fragment dropped)."""
    assert url.startswith(BASE + "/"), url
    return urlsplit(url).path.lstrip("/")


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((SITE / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def feeds() -> dict[str, feedparser.FeedParserDict]:
    parsed = {}
    for path in sorted((SITE / "feeds").iterdir()):
        raw = path.read_bytes()
        assert b"<!ENTITY" not in raw, f"{path.name} declares entities"
        data = raw.replace(PLACEHOLDER.encode(), BASE.encode())
        parsed[f"feeds/{path.name}"] = feedparser.parse(io.BytesIO(data))
    return parsed


@pytest.fixture(scope="module")
def robots() -> urllib.robotparser.RobotFileParser:
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(served(SITE / "robots.txt").splitlines())
    return parser


@pytest.fixture(scope="module")
def pages(expected) -> dict[str, BeautifulSoup]:
    return {path: BeautifulSoup(served(SITE / path), "lxml") for path in expected["articles"]}


def all_claims(expected) -> list[dict]:
    return [c for article in expected["articles"].values() for c in article["claims"]]


def entry_date(entry) -> datetime:
    struct = entry.get("published_parsed") or entry.get("updated_parsed")
    assert struct is not None, f"entry without a date: {entry.get('link')}"
    return datetime(*struct[:6], tzinfo=UTC)


# --------------------------------------------------------------------------- feeds


def test_every_feed_parses_cleanly_with_complete_entries(feeds):
    assert len(feeds) >= 3
    for name, feed in feeds.items():
        assert not feed.bozo, f"{name}: {feed.get('bozo_exception')}"
        assert feed.version in {"rss20", "atom10"}, f"{name}: {feed.version}"
        assert feed.feed.get("title"), name
        assert feed.entries, f"{name} has no entries"
        for entry in feed.entries:
            assert entry.get("title"), name
            assert entry.get("id"), f"{name}: entry without guid/id: {entry.get('title')}"
            assert entry.get("summary"), f"{name}: entry without summary: {entry.title}"
            assert entry.get("link", "").startswith(BASE + "/"), f"{name}: {entry.get('link')}"
            assert FIRST_DAY <= entry_date(entry) < LAST_DAY, f"{name}: {entry.title}"
        ids = [entry.id for entry in feed.entries]
        assert len(ids) == len(set(ids)), f"{name} repeats an entry id"


def test_rss_and_atom_are_both_represented(feeds):
    versions = {feed.version for feed in feeds.values()}
    assert versions == {"rss20", "atom10"}


def test_feed_list_in_expected_matches_the_feed_files(feeds, expected):
    listed = {f["path"]: f for f in expected["feeds"]}
    assert set(listed) == set(feeds)
    for name, feed in feeds.items():
        assert len(feed.entries) == listed[name]["entries"], name
        assert feed.version == listed[name]["format"], name


def test_entries_span_several_iso_weeks(feeds):
    weeks = {entry_date(e).isocalendar()[:2] for f in feeds.values() for e in f.entries}
    assert len(weeks) >= 6, sorted(weeks)


def test_every_feed_link_is_an_article_or_the_robots_disallowed_entry(feeds, expected, robots):
    disallowed = {d["link"].replace(PLACEHOLDER, BASE) for d in expected["robots_disallowed"]}
    seen_disallowed = set()
    for name, feed in feeds.items():
        for entry in feed.entries:
            path = local_path(entry.link)
            if not robots.can_fetch(USER_AGENT, entry.link):
                assert entry.link in disallowed, f"{name}: unexpected disallowed link {entry.link}"
                seen_disallowed.add(entry.link)
                continue
            assert path in expected["articles"], f"{name}: {path} is not in expected.json"
            assert (SITE / path).is_file(), f"{name}: {path} does not exist"
    assert seen_disallowed == disallowed


def test_every_article_is_reachable_from_a_feed(feeds, expected):
    linked = {local_path(e.link) for f in feeds.values() for e in f.entries}
    assert set(expected["articles"]) <= linked


# --------------------------------------------------------------------------- robots.txt


def test_robots_txt_opens_feeds_and_articles_and_closes_private(robots, expected):
    assert robots.can_fetch(USER_AGENT, f"{BASE}/feeds/circuit-ledger.xml")
    for path in expected["articles"]:
        assert robots.can_fetch(USER_AGENT, f"{BASE}/{path}"), path
    assert not robots.can_fetch(USER_AGENT, f"{BASE}/private/drafts/anything.html")
    for item in expected["robots_disallowed"]:
        assert item["file"].startswith("private/")
        # The file exists, so a crawler that ignores robots.txt would get a page (and a claim).
        assert (SITE / item["file"]).is_file()
        assert item["claims_if_fetched"]


# --------------------------------------------------------------------------- articles


def test_expected_json_lists_exactly_the_article_files(expected):
    on_disk = {p.relative_to(SITE).as_posix() for p in (SITE / "articles").rglob("*.html")}
    assert on_disk == set(expected["articles"])
    assert len(on_disk) >= 20


def test_article_pages_carry_title_date_and_canonical(pages, expected):
    for path, soup in pages.items():
        article = expected["articles"][path]
        assert soup.title and soup.title.get_text(strip=True), path
        og_title = soup.find("meta", property="og:title")
        assert og_title and og_title["content"] == article["title"], path
        canonical = soup.find("link", rel="canonical")
        original = article.get("duplicate_of", path)
        assert canonical and canonical["href"] == f"{BASE}/{original}", path
        assert page_dates(soup), f"{path}: no machine-readable publication date"
        assert datetime.fromisoformat(article["published"]) in page_dates(soup), path
        assert soup.find("time") or soup.select_one(".date"), f"{path}: no visible date"


def page_dates(soup: BeautifulSoup) -> set[datetime]:
    dates = set()
    meta = soup.find("meta", property="article:published_time")
    if meta:
        dates.add(datetime.fromisoformat(meta["content"]))
    for script in soup.find_all("script", type="application/ld+json"):
        published = json.loads(script.string).get("datePublished")
        if published:
            dates.add(datetime.fromisoformat(published))
    return dates


def article_body_text(soup: BeautifulSoup) -> str:
    body = soup.select_one(".article-body")
    assert body is not None
    body = BeautifulSoup(str(body), "lxml")
    for promo in body.find_all(["aside", "pre"]):
        promo.decompose()
    return body.get_text(" ", strip=True)


def test_article_bodies_are_between_250_and_700_words(pages):
    for path, soup in pages.items():
        words = len(article_body_text(soup).split())
        assert 250 <= words <= 700, f"{path}: {words} words"


def test_pages_have_boilerplate_around_the_body(pages):
    for path, soup in pages.items():
        assert soup.find("nav"), path
        assert soup.find("footer"), path
        assert soup.select_one(".comments, .discussion"), path
        assert soup.select_one('[class*="cookie"], [class*="gdpr"]'), path
        assert len(soup.find_all("aside")) >= 2, path


def test_boilerplate_adopters_appear_only_outside_article_bodies(pages, expected):
    traps = expected["boilerplate_only_adopters"]
    assert traps
    claimed = {c["adopter"] for c in all_claims(expected)}
    assert not claimed & set(traps)
    found = set()
    for path, soup in pages.items():
        body = article_body_text(soup)
        page = soup.get_text(" ")
        for name in traps:
            assert not re.search(rf"\b{re.escape(name)}\b", body), f"{name} in the body of {path}"
            if re.search(rf"\b{re.escape(name)}\b", page):
                found.add(name)
    assert found == set(traps), f"never used in boilerplate: {set(traps) - found}"


# --------------------------------------------------------------------------- claims


def test_claims_are_well_formed(expected):
    for path, article in expected["articles"].items():
        assert article["notes"], path
        switches: dict[int, list[str]] = {}
        for claim in article["claims"]:
            assert claim["adopter"].strip(), path
            assert isinstance(claim["adopter_named"], bool), path
            assert claim["relation"] in RELATIONS, f"{path}: {claim}"
            assert claim["model_family"] in FAMILY_ORIGIN, f"{path}: {claim}"
            assert claim["model"].strip(), path
            if "switch" in claim:
                switches.setdefault(claim["switch"], []).append(claim["relation"])
        for relations in switches.values():
            assert sorted(relations) == ["adopts", "drops"], f"{path}: {relations}"


def test_claimed_models_and_adopters_are_in_the_article_text(pages, expected):
    for path, article in expected["articles"].items():
        body = article_body_text(pages[path])
        for claim in article["claims"]:
            assert claim["model"] in body, f"{path}: model {claim['model']!r} not in the text"
            adopter = claim["adopter"]
            assert adopter.lower() in body.lower(), f"{path}: adopter {adopter!r} not in the text"


def test_corpus_covers_every_relation_both_origins_and_the_hard_cases(expected):
    claims = all_claims(expected)
    assert {c["relation"] for c in claims} == RELATIONS
    origins = {FAMILY_ORIGIN[c["model_family"]] for c in claims}
    assert {"CN", "US"} <= origins
    cn = {c["model_family"] for c in claims if FAMILY_ORIGIN[c["model_family"]] == "CN"}
    us = {c["model_family"] for c in claims if FAMILY_ORIGIN[c["model_family"]] == "US"}
    assert len(cn) >= 5 and len(us) >= 4, (cn, us)
    # "many US startups" is not a claim (../shared/claims/LABELLING.md): every adopter is named.
    assert all(c["adopter_named"] for c in claims)
    assert any("switch" in c for c in claims), "no switch"
    assert len({c["adopter"] for c in claims if c["adopter_named"]}) >= 10
    empty = [p for p, a in expected["articles"].items() if not a["claims"]]
    assert len(empty) >= 6, "too few articles without claims (vendor, negation, benchmark, ...)"
    airbnb = expected["articles"][AIRBNB]
    assert {(c["adopter"], c["model_family"], c["relation"]) for c in airbnb["claims"]} == {
        ("Airbnb", "Qwen", "adopts"),
        ("Airbnb", "GPT", "drops"),
    }


# --------------------------------------------------------------------------- duplicates


def test_tracking_parameter_duplicate_is_one_url_in_two_feeds(feeds, expected):
    dup = next(d for d in expected["duplicates"] if d["kind"] == "tracking-parameters")
    links = {e["feed"]: e["link"].replace(PLACEHOLDER, BASE) for e in dup["entries"]}
    assert len(links) == 2
    for feed_name, link in links.items():
        assert link in {e.link for e in feeds[feed_name].entries}, (feed_name, link)
        assert local_path(link) == dup["article"]
    queries = [dict(parse_qsl(urlsplit(link).query)) for link in links.values()]
    assert {} in queries
    tracked = next(q for q in queries if q)
    assert tracked.get("utm_medium") == "rss" and "utm_source" in tracked
    assert all(key.startswith("utm_") for key in tracked)


def test_syndicated_copy_points_its_canonical_at_the_original(pages, expected):
    dup = next(d for d in expected["duplicates"] if d["kind"] == "rel-canonical")
    copies = [local_path(e["link"].replace(PLACEHOLDER, BASE)) for e in dup["entries"]]
    copies = [p for p in copies if p != dup["article"]]
    assert len(copies) == 1
    copy = copies[0]
    assert expected["articles"][copy]["duplicate_of"] == dup["article"]
    canonical = pages[copy].find("link", rel="canonical")["href"]
    assert canonical == f"{BASE}/{dup['article']}"
    # Same story: the original's body is contained in the copy's body.
    assert article_body_text(pages[dup["article"]]) in article_body_text(pages[copy])
    assert expected["articles"][copy]["claims"] == expected["articles"][dup["article"]]["claims"]


# --------------------------------------------------------------------------- sources


def test_demo_sources_name_every_demo_feed(feeds):
    sources = tomllib.loads((SITE / "sources.toml").read_text(encoding="utf-8"))["sources"]
    names = [s["name"] for s in sources]
    assert len(names) == len(set(names))
    urls = {s["url"] for s in sources}
    assert all(u.startswith(PLACEHOLDER + "/feeds/") for u in urls)
    assert {u.removeprefix(PLACEHOLDER + "/") for u in urls} == set(feeds)


def test_repository_sources_are_real_feed_urls_with_unique_names():
    sources = tomllib.loads((REPO / "sources.toml").read_text(encoding="utf-8"))["sources"]
    assert len(sources) >= 25
    names = [s["name"] for s in sources]
    assert len(names) == len(set(names)), "duplicate source names"
    urls = [s["url"] for s in sources]
    assert len(urls) == len(set(urls)), "duplicate source URLs"
    for source in sources:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", source["name"]), source["name"]
        parts = urlsplit(source["url"])
        assert parts.scheme in {"http", "https"} and parts.hostname, source["url"]
        tags = source.get("tags", [])
        assert isinstance(tags, list) and all(isinstance(t, str) and t for t in tags), source
    tags = {t for s in sources for t in s.get("tags", [])}
    assert {"tech-press", "ai-press", "china-tech", "company-blog", "aggregator"} <= tags
