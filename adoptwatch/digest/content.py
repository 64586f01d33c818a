"""What a week's digest says: the event log rolled up (the SQL is in
:mod:`adoptwatch.storage.digest`) into plain, cleaned values.

Every string that came from an article is flattened to one line (control characters, CR
and LF become spaces) by :func:`clean_text` before any renderer sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import duckdb

from adoptwatch.digest.weeks import IsoWeek
from adoptwatch.plain_text import clean_text
from adoptwatch.storage import alerts as alerts_sql
from adoptwatch.storage import digest as digest_sql

HISTORY_WEEKS = 12
TOP_MODELS = 10
EVIDENCE_CHARS = 400


# --- the digest's content --------------------------------------------------------------


def safe_url(value: Any) -> str | None:
    """The URL when it is a plain http(s) URL, else None (no javascript:, no data:)."""
    text = clean_text(value)
    if not text or " " in text:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


@dataclass(frozen=True)
class Evidence:
    """A sentence from an article and the article it came from (both cleaned)."""

    sentence: str
    url: str | None
    title: str | None = None

    @classmethod
    def of(cls, sentence: Any, url: Any, title: Any = None) -> Evidence:
        return cls(
            clean_text(sentence, EVIDENCE_CHARS), safe_url(url), clean_text(title, 160) or None
        )


@dataclass(frozen=True)
class Model:
    family: str
    vendor: str
    origin_country: str
    open_weights: bool | None = None

    def describe(self) -> str:
        bits = [b for b in (self.vendor, self.origin_country) if b]
        if self.open_weights:
            bits.append("open weights")
        return ", ".join(bits)


def _model(family: Any, vendor: Any, origin: Any, open_weights: Any = None) -> Model:
    return Model(
        clean_text(family, 80),
        clean_text(vendor, 80),
        clean_text(origin, 8).upper(),
        None if open_weights is None else bool(open_weights),
    )


@dataclass(frozen=True)
class NewAdoption:
    adopter: str
    model: Model
    model_as_written: str
    confidence: float
    reports: int
    evidence: Evidence


@dataclass(frozen=True)
class Switch:
    adopter: str
    from_model: Model
    to_model: Model
    linked: bool  # read in one sentence ("replaced X with Y"), not matched by week
    confidence: float
    drop_evidence: Evidence
    adopt_evidence: Evidence


@dataclass(frozen=True)
class RankedModel:
    model: Model
    rank: int | None
    prev_rank: int | None
    companies: int
    prev_companies: int
    change: int
    reports: int
    example_adopter: str | None
    evidence: Evidence | None


@dataclass(frozen=True)
class DiscussedModel:
    model: Model
    articles: int
    sentences: int
    adopting_companies: int
    top_article: Evidence | None  # sentence holds "n sentences"; url/title the article


@dataclass(frozen=True)
class OriginWeek:
    week: str
    cn: int
    us: int
    other: int

    @property
    def total(self) -> int:
        return self.cn + self.us + self.other

    def share(self, part: int) -> float:
        return part / self.total if self.total else 0.0


@dataclass(frozen=True)
class Totals:
    new_adoptions: int
    adoptions: int
    adoption_reports: int
    companies: int
    switches: int
    drops: int
    evaluations: int
    articles: int
    unnamed_adoption_reports: int


@dataclass(frozen=True)
class WatchedFact:
    """A fact matching a watch whose status was reported this week (the columns keep
    adoption_facts' names: :func:`adoptwatch.digest.wording.fact_sentence` reads them)."""

    adopter: str
    model_family: str
    vendor_level: bool
    vendor: str
    origin_country: str
    status: str
    status_since: datetime
    replaced_by: str | None
    articles: int
    outlets: int
    watches: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True)
class Digest:
    week: IsoWeek
    timezone: str
    totals: Totals
    new_adoptions: list[NewAdoption]
    switches: list[Switch]
    ranking: list[RankedModel]  # adopted this week, best first, at most TOP_MODELS
    fell_out: list[RankedModel]  # adopted last week, by nobody this week
    discussed: list[DiscussedModel]
    origin_share: list[OriginWeek]  # oldest first, ending with this week
    # Facts matching the user's watches, changed this week; None: no watches at all.
    watchlist: list[WatchedFact] | None = None

    @property
    def previous_week(self) -> IsoWeek:
        return self.week.previous()

    @property
    def is_empty(self) -> bool:
        """Nothing at all this week: no event of any relation, no mention."""
        t = self.totals
        return not (
            t.adoption_reports
            or t.drops
            or t.evaluations
            or t.unnamed_adoption_reports
            or self.discussed
        )

    @property
    def has_history(self) -> bool:
        return any(w.total for w in self.origin_share)

    @property
    def date_range(self) -> str:
        return self.week.date_range()


def origin_share(
    con: duckdb.DuckDBPyConnection, week: IsoWeek, tz: ZoneInfo, history_weeks: int = HISTORY_WEEKS
) -> list[OriginWeek]:
    """Adoptions by model origin in the ``history_weeks`` weeks ending with ``week``, oldest
    first (none when ``history_weeks`` is 0)."""
    weeks = [week.shift(-i) for i in range(history_weeks - 1, -1, -1)]
    return [
        OriginWeek(r["week"], int(r["cn"]), int(r["us"]), int(r["other"]))
        for r in digest_sql.origin_share(con, [(w.label, *w.bounds_utc(tz)) for w in weeks])
    ]


def build_digest(
    con: duckdb.DuckDBPyConnection,
    week: IsoWeek,
    tz: ZoneInfo,
    top_n: int = TOP_MODELS,
    history_weeks: int = HISTORY_WEEKS,
) -> Digest:
    """Roll the event log up into the digest of ``week`` (``con`` may be read-only)."""
    start, stop = week.bounds_utc(tz)
    prev_start, _ = week.previous().bounds_utc(tz)

    new = [
        NewAdoption(
            adopter=clean_text(r["adopter"], 120),
            model=_model(r["model_family"], r["vendor"], r["origin_country"], r["open_weights"]),
            model_as_written=clean_text(r["model"], 120),
            confidence=float(r["confidence"]),
            reports=int(r["reports"]),
            evidence=Evidence.of(r["evidence"], r["article_url"], r["article_title"]),
        )
        for r in digest_sql.new_adopters(con, start, stop)
    ]
    switches = [
        Switch(
            adopter=clean_text(r["adopter"], 120),
            from_model=_model(
                r["from_family"], r["from_vendor"], r["from_origin"], r["from_open_weights"]
            ),
            to_model=_model(r["to_family"], r["to_vendor"], r["to_origin"], r["to_open_weights"]),
            linked=bool(r["linked"]),
            confidence=float(r["confidence"]),
            drop_evidence=Evidence.of(r["drop_evidence"], r["drop_url"], r["drop_title"]),
            adopt_evidence=Evidence.of(r["adopt_evidence"], r["adopt_url"], r["adopt_title"]),
        )
        for r in digest_sql.switches(con, start, stop)
    ]
    ranked = [
        RankedModel(
            model=_model(r["model_family"], r["vendor"], r["origin_country"], r["open_weights"]),
            rank=r["rank"],
            prev_rank=r["prev_rank"],
            companies=int(r["companies"]),
            prev_companies=int(r["prev_companies"]),
            change=int(r["change"]),
            reports=int(r["reports"]),
            example_adopter=clean_text(r["example_adopter"], 120) or None,
            evidence=(
                Evidence.of(r["evidence"], r["article_url"], r["article_title"])
                if r["evidence"] is not None
                else None
            ),
        )
        for r in digest_sql.model_ranking(con, start, stop, prev_start)
    ]
    companies_by_family = {m.model.family: m.companies for m in ranked}
    discussed = [
        DiscussedModel(
            model=_model(r["model_family"], r["vendor"], r["origin_country"], r["open_weights"]),
            articles=int(r["articles"]),
            sentences=int(r["sentences"]),
            adopting_companies=companies_by_family.get(clean_text(r["model_family"], 80), 0),
            top_article=(
                Evidence.of(
                    f"{r['top_article_sentences']} sentences", r["article_url"], r["article_title"]
                )
                if r["article_url"]
                else None
            ),
        )
        for r in digest_sql.most_discussed(con, start, stop, limit=top_n)
    ]
    share = origin_share(con, week, tz, history_weeks)
    watchlist = (
        [
            WatchedFact(
                adopter=clean_text(r["adopter"], 120),
                model_family=clean_text(r["model_family"], 80),
                vendor_level=bool(r["vendor_level"]),
                vendor=clean_text(r["vendor"], 80),
                origin_country=clean_text(r["origin_country"], 8).upper(),
                status=clean_text(r["status"], 20),
                status_since=r["status_since"],
                replaced_by=clean_text(r["replaced_by"], 80) or None,
                articles=int(r["articles"]),
                outlets=int(r["outlets"]),
                watches=tuple(clean_text(w, 120) for w in r["watches"]),
                evidence=Evidence.of(r["evidence"], r["evidence_url"]),
            )
            for r in alerts_sql.watchlist_facts(con, start, stop)
        ]
        if alerts_sql.has_watches(con)
        else None
    )
    raw = digest_sql.week_totals(con, start, stop)
    totals = Totals(
        new_adoptions=len(new),
        adoptions=raw["adoptions"],
        adoption_reports=raw["adoption_reports"],
        companies=raw["companies"],
        switches=len(switches),
        drops=raw["drops"],
        evaluations=raw["evaluations"],
        articles=raw["articles"],
        unnamed_adoption_reports=raw["unnamed_adoption_reports"],
    )
    return Digest(
        week=week,
        timezone=tz.key,
        totals=totals,
        new_adoptions=new,
        switches=switches,
        ranking=[m for m in ranked if m.companies > 0][:top_n],
        fell_out=[m for m in ranked if m.companies == 0 and m.prev_companies > 0],
        discussed=discussed,
        origin_share=share,
        watchlist=watchlist,
    )
