"""The weekly digest: what changed in the event log, as one email.

Plain functions, in the order a run uses them:

* :func:`last_complete_week` / :func:`parse_week` pick the ISO week (in the
  digest's time zone);
* :func:`build_digest` rolls the event log up into a :class:`Digest` (the SQL is in
  :mod:`storage.digest`);
* :func:`render_text`, :func:`render_html`, :func:`render_chart` and
  :func:`compose_message` make a ``multipart/alternative`` message (text, and HTML
  with the chart inline by Content-ID);
* :func:`prepare_digest` does all of that for a run and checks ``digest_log``;
  :func:`send_prepared` sends and records the attempt; :func:`write_dry_run` writes
  the ``.eml`` and a standalone ``.html`` instead; :func:`deliver_digest` is the
  whole run.

Every string that came from an article is flattened to one line (control
characters, CR and LF become spaces) and HTML-escaped; addresses are parsed and
refused when they are not exactly one plain mailbox, and the finished message is
checked for CR/LF in any header before it leaves. The SMTP password is never
logged, stored or put in an exception message.

Errors::

    DigestError
     ├── InvalidWeek          "2026-W54", "last week"
     ├── InvalidAddress       not exactly one mailbox, or CR/LF in it
     ├── DigestConfigError    unknown time zone, no recipients, SSL and STARTTLS both on,
     │                        a credentials block that cannot be loaded, a bad --dry-run path
     ├── NotRecorded          the digest WAS sent, but digest_log could not be written
     └── SendFailed           the message was not sent (``transient`` says whether a
          │                   retry may help); the attempt is in digest_log
          ├── SmtpUnavailable     connection refused or lost, timeout, 4xx reply (transient)
          ├── SmtpTlsFailed       TLS handshake or certificate failure
          ├── SmtpAuthFailed      the server refused the user name or password
          └── RecipientsRefused   the server refused the sender, every recipient or the data
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import html
import io
import logging
import re
import smtplib
import ssl
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from adoptwatch.settings import Settings
from adoptwatch.storage import digest as digest_sql
from adoptwatch.storage.db import StorageError, read_session, write_session

log = logging.getLogger(__name__)

HISTORY_WEEKS = 12
TOP_MODELS = 10
EVIDENCE_CHARS = 400
# A busy week lists this many new adoptions and switches; the rest are counted.
MAX_ITEMS = 40


# --- errors ------------------------------------------------------------------------


class DigestError(Exception):
    """Base class for digest errors."""


class InvalidWeek(DigestError):
    """Not an ISO week such as 2026-W48."""


class InvalidAddress(DigestError):
    """An address is not exactly one plain mailbox, or carries CR/LF."""


class DigestConfigError(DigestError):
    """The settings do not allow a digest to be built or sent."""


class NotRecorded(DigestError):
    """The message was sent but the database refused the digest_log row (busy, read-only)."""


class SendFailed(DigestError):
    """The digest was not sent. ``transient``: a later retry may succeed."""

    transient = False

    def __init__(self, message: str, transient: bool | None = None) -> None:
        super().__init__(message)
        if transient is not None:
            self.transient = transient


class SmtpUnavailable(SendFailed):
    """The server could not be reached, dropped the connection, timed out or said 4xx."""

    transient = True


class SmtpTlsFailed(SendFailed):
    """TLS could not be set up (handshake, certificate, or STARTTLS not offered)."""


class SmtpAuthFailed(SendFailed):
    """The server refused the credentials (or offers no authentication)."""


class RecipientsRefused(SendFailed):
    """The server refused the sender, every recipient, or the message."""


def is_transient(exc: BaseException) -> bool:
    """True when retrying the send may help (connection trouble, timeouts, 4xx replies)."""
    return isinstance(exc, SendFailed) and exc.transient


# --- weeks ---------------------------------------------------------------------------

_WEEK_RE = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)
_DATE_RE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def weeks_in_year(year: int) -> int:
    """52 or 53: 28 December always lies in the last ISO week of its year."""
    return date(year, 12, 28).isocalendar().week


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9998:
            raise InvalidWeek(f"year {self.year} is out of range")
        last = weeks_in_year(self.year)
        if not 1 <= self.week <= last:
            raise InvalidWeek(
                f"{self.year}-W{self.week:02d} does not exist: {self.year} has {last} ISO weeks"
            )

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    def shift(self, weeks: int) -> IsoWeek:
        return IsoWeek.of(self.monday + timedelta(weeks=weeks))

    def previous(self) -> IsoWeek:
        return self.shift(-1)

    def bounds_utc(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[Monday 00:00, next Monday 00:00) in ``tz``, as naive UTC (how storage keeps time)."""

        def utc(day: date) -> datetime:
            return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)

        return utc(self.monday), utc(self.monday + timedelta(days=7))

    def date_range(self) -> str:
        """'Mon 23 Nov – Sun 29 Nov 2026' (both years when the week spans two)."""
        start, end = self.monday, self.sunday

        def day(d: date, with_year: bool) -> str:
            text = f"{_DAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]}"
            return f"{text} {d.year}" if with_year else text

        return f"{day(start, start.year != end.year)} – {day(end, True)}"

    def __str__(self) -> str:
        return self.label


def parse_week(text: str) -> IsoWeek:
    """'2026-W48' (or '2026W48', or a date '2026-11-25', meaning the week holding it)."""
    match = _WEEK_RE.match(text or "")
    if match:
        return IsoWeek(int(match.group(1)), int(match.group(2)))
    match = _DATE_RE.match(text or "")
    if match:
        try:
            return IsoWeek.of(date(int(match.group(1)), int(match.group(2)), int(match.group(3))))
        except ValueError:
            pass
    raise InvalidWeek(f"{text!r} is not an ISO week; write it like 2026-W48 (or a date 2026-11-25)")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DigestConfigError(
            f"digest_timezone {name!r} is not a known time zone; use an IANA name such as "
            "UTC or Europe/Berlin"
        ) from None


def last_complete_week(now: datetime, tz: ZoneInfo) -> IsoWeek:
    """The ISO week before the one ``now`` falls in, in ``tz`` (naive ``now`` means UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return IsoWeek.of(now.astimezone(tz).date()).previous()


# --- the digest's content --------------------------------------------------------------


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
_SPACES = re.compile(r"\s+")


def clean_text(value: Any, limit: int | None = None) -> str:
    """One line of article text: control characters (CR, LF, bidi overrides) become spaces."""
    text = _SPACES.sub(" ", _CONTROL.sub(" ", "" if value is None else str(value))).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


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
    weeks = [week.shift(-i) for i in range(history_weeks - 1, -1, -1)]
    share = [
        OriginWeek(r["week"], int(r["cn"]), int(r["us"]), int(r["other"]))
        for r in digest_sql.origin_share(con, [(w.label, *w.bounds_utc(tz)) for w in weeks])
    ]
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
    )


# --- rendering -----------------------------------------------------------------------


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def subject_for(digest: Digest) -> str:
    n = digest.totals.new_adoptions
    count = "no new adoptions" if n == 0 else _plural(n, "new adoption")
    return f"adoptwatch weekly — {digest.week.label}: {count}"


def _change(n: int) -> str:
    return f"+{n}" if n > 0 else ("±0" if n == 0 else f"−{-n}")


def _totals_line(t: Totals) -> str:
    return " · ".join(
        [
            _plural(t.new_adoptions, "new adoption"),
            _plural(t.companies, "company", "companies") + " adopting",
            _plural(t.switches, "switch", "switches"),
            _plural(t.adoption_reports, "adoption report"),
            _plural(t.articles, "article"),
        ]
    )


def _empty_sentence(digest: Digest) -> str:
    return (
        f"Nothing was reported in {digest.week.label} ({digest.date_range}): no article in the "
        "event log from that week names a company adopting, dropping or evaluating a model, "
        "or mentions a model at all."
    )


def render_text(digest: Digest) -> str:
    """The text/plain part: readable as is, every article string on its own line."""
    w = digest.week
    out: list[str] = [
        f"adoptwatch weekly — {w.label}",
        f"{digest.date_range} ({digest.timezone})",
        "",
    ]
    if digest.is_empty:
        out += [_empty_sentence(digest), ""]
    else:
        out += [_totals_line(digest.totals), ""]

    def evidence(ev: Evidence, indent: str = "   ") -> list[str]:
        lines = [f'{indent}"{ev.sentence}"'] if ev.sentence else []
        if ev.url:
            lines.append(f"{indent}{ev.url}")
        return lines

    if not digest.is_empty:
        out.append("NEW ADOPTERS (first time a company is reported adopting the model)")
        if not digest.new_adoptions:
            out.append(" None this week.")
        for n in digest.new_adoptions[:MAX_ITEMS]:
            out.append(f" - {n.adopter} adopts {n.model.family} ({n.model.describe()})")
            out += evidence(n.evidence)
        out += _more_text(len(digest.new_adoptions), "new adoption")
        out.append("")

        out.append("SWITCHES (drops one model, adopts another)")
        if not digest.switches:
            out.append(" None this week.")
        for s in digest.switches[:MAX_ITEMS]:
            out.append(
                f" - {s.adopter}: {s.from_model.family} ({s.from_model.describe()}) → "
                f"{s.to_model.family} ({s.to_model.describe()})"
            )
            out += evidence(s.adopt_evidence)
            if s.drop_evidence != s.adopt_evidence:
                out += evidence(s.drop_evidence)
        out += _more_text(len(digest.switches), "switch", "switches")
        out.append("")

        out.append(
            f"MOST ADOPTED (distinct companies; change against {digest.previous_week.label})"
        )
        if not digest.ranking:
            out.append(" No company was reported adopting a model this week.")
        for m in digest.ranking:
            out.append(
                f" {m.rank:>2}. {m.model.family} ({m.model.describe()}): "
                f"{_plural(m.companies, 'company', 'companies')} ({_change(m.change)})"
            )
            if m.evidence:
                out += evidence(m.evidence, "     ")
        if digest.fell_out:
            names = ", ".join(
                f"{m.model.family} ({m.prev_companies} last week)" for m in digest.fell_out
            )
            out.append(f" No adopter this week: {names}")
        out.append("")

        out.append("MOST DISCUSSED (articles mentioning the model)")
        if not digest.discussed:
            out.append(" No model mentions this week.")
        for i, d in enumerate(digest.discussed, 1):
            out.append(
                f" {i:>2}. {d.model.family} ({d.model.describe()}): "
                f"{_plural(d.articles, 'article')}, {_plural(d.sentences, 'sentence')}; "
                + (
                    f"adopted by {_plural(d.adopting_companies, 'company', 'companies')}"
                    if d.adopting_companies
                    else "no adopter this week"
                )
            )
            if d.top_article and d.top_article.url:
                out.append(f"     {d.top_article.url}")
        out.append("")

    out.append(f"ADOPTIONS BY MODEL ORIGIN, LAST {len(digest.origin_share)} WEEKS")
    if not digest.has_history:
        out.append(" No adoptions in these weeks.")
    else:
        out.append(f" {'week':<9} {'CN':>4} {'US':>4} {'other':>6} {'total':>6}  CN share")
        for o in digest.origin_share:
            share = f"{o.share(o.cn):>7.0%}" if o.total else "      –"
            out.append(f" {o.week:<9} {o.cn:>4} {o.us:>4} {o.other:>6} {o.total:>6}  {share}")
    out.append("")
    out += _footnotes(digest)
    return "\n".join(out) + "\n"


def _more_text(count: int, one: str, many: str | None = None) -> list[str]:
    if count <= MAX_ITEMS:
        return []
    rest = count - MAX_ITEMS
    word = one if rest == 1 else (many or one + "s")
    return [f" … and {rest} more {word}; `adoptwatch query` over adoption_events lists them all."]


def _footnotes(digest: Digest) -> list[str]:
    notes = [
        "Counts are of named companies; an adoption is a (company, model family) pair, "
        "however many articles report it."
    ]
    unnamed = digest.totals.unnamed_adoption_reports
    if unnamed:
        notes.append(
            f"{_plural(unnamed, 'report')} of adoption by unnamed adopters (such as "
            f'"many startups") {"is" if unnamed == 1 else "are"} not counted.'
        )
    notes.append("Sent by adoptwatch. Evidence sentences are quoted from the linked articles.")
    return notes


# HTML: tables and inline styles only (what Outlook, Gmail and Apple Mail all render).
_FONT = "font-family:Helvetica,Arial,sans-serif;"
_COLORS = {"CN": "#c0392b", "US": "#2e6da4", "other": "#8c8c8c"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _link(ev: Evidence | None, text: str | None = None) -> str:
    if ev is None or not ev.url:
        return ""
    label = text or ev.title or urlsplit(ev.url).netloc
    return (
        f'<a href="{_e(ev.url)}" style="color:#2e6da4;text-decoration:underline;">{_e(label)}</a>'
    )


def _quote(ev: Evidence | None) -> str:
    if ev is None:
        return ""
    parts = []
    if ev.sentence:
        parts.append(
            '<div style="margin:4px 0 0 0;padding:4px 0 4px 10px;border-left:3px solid #d0d7de;'
            f'color:#444444;font-size:14px;line-height:20px;font-style:italic;">'
            f"&ldquo;{_e(ev.sentence)}&rdquo;</div>"
        )
    if ev.url:
        parts.append(f'<div style="font-size:13px;line-height:18px;">{_link(ev)}</div>')
    return "".join(parts)


def _origin_badge(code: str) -> str:
    key = code if code in ("CN", "US") else "other"
    return (
        f'<span style="display:inline-block;padding:0 5px;border-radius:3px;'
        f"background:{_COLORS[key]};color:#ffffff;font-size:11px;line-height:16px;"
        f'font-weight:bold;">{_e(code or "?")}</span>'
    )


def _model_html(m: Model) -> str:
    extra = _e(m.vendor)
    if m.open_weights:
        extra += " · open weights"
    return (
        f"<strong>{_e(m.family)}</strong> {_origin_badge(m.origin_country)} "
        f'<span style="color:#666666;font-size:13px;">{extra}</span>'
    )


def _h2(text: str) -> str:
    return (
        f'<h2 style="{_FONT}margin:28px 0 8px 0;font-size:17px;line-height:22px;color:#111111;'
        f'border-bottom:1px solid #e1e4e8;padding-bottom:4px;">{_e(text)}</h2>'
    )


def _p(text_html: str, style: str = "") -> str:
    return (
        f'<p style="{_FONT}margin:6px 0;font-size:14px;line-height:20px;color:#333333;{style}">'
        f"{text_html}</p>"
    )


def _item(body_html: str) -> str:
    return (
        f'<tr><td style="{_FONT}padding:8px 0;border-bottom:1px solid #f0f0f0;font-size:14px;'
        f'line-height:20px;color:#222222;">{body_html}</td></tr>'
    )


def _list(rows: list[str]) -> str:
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        + "".join(rows)
        + "</table>"
    )


def _stat(value: int, label: str) -> str:
    return (
        f'<td align="center" width="20%" style="{_FONT}padding:10px 4px;background:#f6f8fa;'
        f'border:1px solid #e1e4e8;">'
        f'<div style="font-size:22px;line-height:26px;font-weight:bold;color:#111111;">'
        f'{value}</div><div style="font-size:12px;line-height:16px;color:#555555;">'
        f"{_e(label)}</div></td>"
    )


def _rank_table(title: str, head: list[str], rows: list[list[str]], empty: str) -> str:
    th = "".join(
        f'<th align="{"left" if i == 1 else "right"}" style="{_FONT}font-size:12px;'
        f'color:#555555;padding:4px;border-bottom:1px solid #d0d7de;">{_e(h)}</th>'
        for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td align="{"left" if i == 1 else "right"}" style="{_FONT}font-size:13px;'
            f'padding:4px;border-bottom:1px solid #f0f0f0;color:#222222;">{cell}</td>'
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    if not rows:
        body = (
            f'<tr><td colspan="{len(head)}" style="{_FONT}font-size:13px;padding:6px 4px;'
            f'color:#666666;">{_e(empty)}</td></tr>'
        )
    return (
        f'<div style="{_FONT}font-size:14px;font-weight:bold;margin:0 0 4px 0;color:#111111;">'
        f"{_e(title)}</div>"
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        f"<tr>{th}</tr>{body}</table>"
    )


def render_html(digest: Digest, chart_src: str | None) -> str:
    """The text/html part. ``chart_src`` is ``cid:...`` in the email, a data: URI in a file."""
    w = digest.week
    t = digest.totals
    parts: list[str] = []
    parts.append(
        f'<div style="{_FONT}font-size:12px;letter-spacing:1px;text-transform:uppercase;'
        f'color:#2e6da4;font-weight:bold;">adoptwatch weekly</div>'
        f'<h1 style="{_FONT}margin:2px 0 0 0;font-size:26px;line-height:32px;color:#111111;">'
        f"{_e(w.label)}</h1>"
        f'<div style="{_FONT}font-size:14px;color:#555555;margin:2px 0 14px 0;">'
        f"{_e(digest.date_range)} ({_e(digest.timezone)})</div>"
    )
    if digest.is_empty:
        parts.append(
            _p(
                _e(_empty_sentence(digest)),
                "padding:12px;background:#fff8e1;border:1px solid #f0d68a;",
            )
        )
    else:
        parts.append(
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="4" border="0">'
            "<tr>"
            + _stat(t.new_adoptions, "new adoptions")
            + _stat(t.companies, "companies")
            + _stat(t.switches, "switches")
            + _stat(t.adoption_reports, "adoption reports")
            + _stat(t.articles, "articles")
            + "</tr></table>"
        )

        parts.append(_h2("New adopters"))
        if digest.new_adoptions:
            parts.append(
                _list(
                    [
                        _item(
                            f"<strong>{_e(n.adopter)}</strong> adopts {_model_html(n.model)}"
                            + _quote(n.evidence)
                        )
                        for n in digest.new_adoptions[:MAX_ITEMS]
                    ]
                )
            )
            parts += [_p(_e(m)) for m in _more_text(len(digest.new_adoptions), "new adoption")]
        else:
            parts.append(_p("No company was reported adopting a model for the first time."))

        parts.append(_h2("Switches"))
        if digest.switches:
            rows = []
            for s in digest.switches[:MAX_ITEMS]:
                body = (
                    f"<strong>{_e(s.adopter)}</strong>: {_model_html(s.from_model)} "
                    f"&rarr; {_model_html(s.to_model)}" + _quote(s.adopt_evidence)
                )
                if s.drop_evidence != s.adopt_evidence:
                    body += _quote(s.drop_evidence)
                rows.append(_item(body))
            parts.append(_list(rows))
            parts += [_p(_e(m)) for m in _more_text(len(digest.switches), "switch", "switches")]
        else:
            parts.append(_p("No company was reported dropping one model for another."))

        parts.append(_h2("Models this week"))
        adopted = [
            [
                str(m.rank),
                f"{_e(m.model.family)} {_origin_badge(m.model.origin_country)}",
                str(m.companies),
                _e(_change(m.change)),
            ]
            for m in digest.ranking
        ]
        discussed = [
            [
                str(i),
                f"{_e(d.model.family)} {_origin_badge(d.model.origin_country)}",
                str(d.articles),
                str(d.sentences),
            ]
            for i, d in enumerate(digest.discussed, 1)
        ]
        parts.append(
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
            '<tr><td valign="top" width="50%" style="padding-right:10px;">'
            + _rank_table(
                "Most adopted",
                ["#", "model", "companies", f"vs {w.previous().label[-3:]}"],
                adopted,
                "No adoptions this week.",
            )
            + '</td><td valign="top" width="50%" style="padding-left:10px;">'
            + _rank_table(
                "Most discussed",
                ["#", "model", "articles", "sentences"],
                discussed,
                "No model mentions this week.",
            )
            + "</td></tr></table>"
        )
        if digest.fell_out:
            names = ", ".join(
                f"{_e(m.model.family)} ({m.prev_companies} last week)" for m in digest.fell_out
            )
            parts.append(_p(f"No adopter this week: {names}.", "color:#666666;font-size:13px;"))
        # Each adopted model with its most confident report; a sentence quoted above
        # (as a new adoption or a switch) is only linked, not quoted again.
        quoted = {n.evidence.sentence for n in digest.new_adoptions} | {
            ev.sentence for s in digest.switches for ev in (s.adopt_evidence, s.drop_evidence)
        }
        evidence_rows = []
        for m in digest.ranking:
            if not m.evidence:
                continue
            head = f"<strong>{_e(m.model.family)}</strong>" + (
                f" — e.g. {_e(m.example_adopter)}" if m.example_adopter else ""
            )
            if m.evidence.sentence in quoted:
                link = _link(m.evidence)
                evidence_rows.append(_item(head + (f" (quoted above): {link}" if link else "")))
            else:
                evidence_rows.append(_item(head + _quote(m.evidence)))
        if evidence_rows:
            parts.append(
                f'<div style="{_FONT}font-size:14px;font-weight:bold;margin:14px 0 0 0;'
                f'color:#111111;">Evidence for the most adopted</div>' + _list(evidence_rows)
            )

    parts.append(_h2(f"Adoptions by model origin, last {len(digest.origin_share)} weeks"))
    if digest.has_history and chart_src:
        last = digest.origin_share[-1]
        alt = (
            f"Bar chart: share of adoptions going to Chinese, US and other models per week; "
            f"{w.label}: {last.cn} CN, {last.us} US, {last.other} other"
        )
        parts.append(
            f'<img src="{_e(chart_src)}" width="600" alt="{_e(alt)}" '
            'style="display:block;width:100%;max-width:600px;height:auto;border:0;">'
        )
        parts.append(_p(_e(_share_caption(digest)), "font-size:13px;color:#444444;"))
    else:
        parts.append(_p("No adoptions in these weeks."))

    parts.append(
        f'<div style="{_FONT}margin-top:28px;font-size:12px;line-height:17px;color:#777777;">'
        + "<br>".join(_e(n) for n in _footnotes(digest))
        + "</div>"
    )
    body = "".join(parts)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(subject_for(digest))}</title></head>"
        '<body style="margin:0;padding:0;background:#eef1f4;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="background:#eef1f4;"><tr><td align="center" style="padding:20px 8px;">'
        '<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;max-width:640px;background:#ffffff;border:1px solid #dde2e7;">'
        f'<tr><td style="padding:24px 28px;">{body}</td></tr>'
        "</table></td></tr></table></body></html>\n"
    )


def _share_caption(digest: Digest) -> str:
    """The chart in words, for mail clients that block images."""

    def week_words(o: OriginWeek) -> str:
        if not o.total:
            return f"{o.week}: no adoptions"
        return (
            f"{o.week}: {o.share(o.cn):.0%} Chinese, {o.share(o.us):.0%} US, "
            f"{o.share(o.other):.0%} other ({_plural(o.total, 'adoption')})"
        )

    this_week = digest.origin_share[-1]
    text = week_words(this_week)
    if len(digest.origin_share) > 1:
        text += "; " + week_words(digest.origin_share[-2])
    totals = OriginWeek(
        "all",
        sum(o.cn for o in digest.origin_share),
        sum(o.us for o in digest.origin_share),
        sum(o.other for o in digest.origin_share),
    )
    return (
        f"{text}. Over the {len(digest.origin_share)} weeks: {totals.share(totals.cn):.0%} "
        f"Chinese, {totals.share(totals.us):.0%} US, {totals.share(totals.other):.0%} other."
    )


def render_chart(digest: Digest) -> bytes | None:
    """A PNG: share of adoptions by model origin per week (None when there is no data)."""
    if not digest.has_history:
        return None
    # The object API with the Agg canvas: no pyplot global state, safe in worker threads.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weeks = digest.origin_share
    labels = [
        o.week[-3:] if i and o.week[:4] == weeks[i - 1].week[:4] else f"{o.week[-3:]}\n{o.week[:4]}"
        for i, o in enumerate(weeks)
    ]
    xs = list(range(len(weeks)))
    fig = Figure(figsize=(6.0, 2.9), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.075, 0.2, 0.78, 0.64))
    bottom = [0.0] * len(weeks)
    for key, name in (("cn", "CN"), ("us", "US"), ("other", "other")):
        values = [o.share(getattr(o, key)) * 100 for o in weeks]
        ax.bar(xs, values, bottom=bottom, width=0.72, color=_COLORS[name], label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for x, o in zip(xs, weeks, strict=True):
        # Empty weeks get a faint baseline so they read as "none", not as missing data.
        if not o.total:
            ax.plot([x - 0.36, x + 0.36], [0.6, 0.6], color="#c8c8c8", linewidth=1.2)
        ax.text(
            x,
            102,
            str(o.total) if o.total else "0",
            ha="center",
            va="bottom",
            fontsize=8,
            color="#444444" if o.total else "#aaaaaa",
        )
    ax.set_ylim(0, 112)
    ax.set_yticks([0, 50, 100], labels=["0%", "50%", "100%"], fontsize=8)
    ax.set_xticks(xs, labels=labels, fontsize=8)
    ax.get_xticklabels()[-1].set_fontweight("bold")  # the digest's own week
    ax.set_xlim(-0.6, len(weeks) - 0.4)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color("#888888")
    ax.tick_params(length=0)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.text(
        0.075,
        0.93,
        "Share of adoptions by model origin, per ISO week",
        fontsize=10,
        color="#222222",
        weight="bold",
    )
    fig.text(
        0.075, 0.87, "Numbers above the bars: adoptions that week", fontsize=8, color="#666666"
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 0.95), frameon=False, fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=200, metadata={"Software": None})
    return buffer.getvalue()


# --- addresses and the message ---------------------------------------------------------


def parse_address(text: str) -> Address:
    """One mailbox, 'a@example.com' or 'Name <a@example.com>'; anything else is refused."""
    raw = "" if text is None else str(text)
    shown = raw.encode("unicode_escape").decode("ascii")
    if _CONTROL.search(raw):
        raise InvalidAddress(f"{shown!r}: addresses may not contain CR, LF or control characters")
    try:
        header = email.policy.default.header_factory("To", raw)
        addresses = header.addresses
        defects = header.defects
        groups = header.groups
    except Exception:  # the parser raises IndexError, HeaderParseError, ... on junk
        raise InvalidAddress(f"{shown!r} is not an email address") from None
    if len(addresses) != 1 or defects or any(g.display_name is not None for g in groups):
        raise InvalidAddress(
            f"{shown!r} is not exactly one email address (write it like a@example.com or "
            "'Name <a@example.com>'; pass --to once per address)"
        )
    address = addresses[0]
    if not address.username or not address.domain:
        raise InvalidAddress(f"{shown!r} is not an email address")
    return Address(display_name=address.display_name, addr_spec=address.addr_spec)


def parse_addresses(texts: Sequence[str]) -> list[Address]:
    seen: dict[str, Address] = {}
    for text in texts:
        address = parse_address(text)
        seen.setdefault(address.addr_spec.lower(), address)
    return list(seen.values())


def _message_domain(sender: Address) -> str:
    domain = sender.domain or "adoptwatch.invalid"
    return domain if re.fullmatch(r"[A-Za-z0-9.-]+", domain) else "adoptwatch.invalid"


def compose_message(
    digest: Digest,
    sender: Address,
    recipients: Sequence[Address],
    now: datetime | None = None,
) -> EmailMessage:
    """multipart/alternative: text/plain, then multipart/related (text/html + the PNG)."""
    now = now or datetime.now(UTC)
    domain = _message_domain(sender)
    chart = render_chart(digest)
    cid = f"<chart.{uuid.uuid4().hex[:16]}@{domain}>"
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = clean_text(subject_for(digest))
    msg["From"] = sender
    if recipients:
        msg["To"] = tuple(recipients)
    msg["Date"] = email.utils.format_datetime(now if now.tzinfo else now.replace(tzinfo=UTC))
    # Short enough never to be folded onto a second header line.
    msg["Message-ID"] = f"<digest.{digest.week.label}.{uuid.uuid4().hex[:16]}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Adoptwatch-Week"] = digest.week.label
    msg.set_content(render_text(digest), subtype="plain", cte="quoted-printable")
    msg.add_alternative(
        render_html(digest, f"cid:{cid[1:-1]}" if chart else None),
        subtype="html",
        cte="quoted-printable",
    )
    if chart:
        html_alternative = msg.get_payload()[1]
        html_alternative.add_related(
            chart,
            maintype="image",
            subtype="png",
            cid=cid,
            disposition="inline",
            filename="adoption-share.png",
        )
    _check_headers(msg)
    return msg


def _check_headers(msg: EmailMessage) -> None:
    # Belt and braces: the values above are built from cleaned parts, so this never
    # fires unless a future change lets article text into a header.
    for part in msg.walk():
        for name, value in part.items():
            if "\r" in str(value) or "\n" in str(value):
                raise DigestError(f"refusing to send: header {name} contains a line break")


def html_part(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    return part.get_content() if part is not None else ""


def standalone_html(msg: EmailMessage) -> str:
    """The HTML part with each cid: image inlined as a data: URI (opens in a browser)."""
    text = html_part(msg)
    for part in msg.walk():
        content_id = part.get("Content-ID")
        if content_id and part.get_content_maintype() == "image":
            data = base64.b64encode(part.get_content()).decode("ascii")
            uri = f"data:{part.get_content_type()};base64,{data}"
            text = text.replace(f"cid:{_e(content_id.strip('<>'))}", uri)
    return text


def write_dry_run(msg: EmailMessage, path: Path | str) -> tuple[Path, Path]:
    """Write the message as ``path`` (.eml) and its HTML beside it; returns both paths."""
    eml = Path(path)
    if eml.suffix.lower() in (".html", ".htm"):
        raise DigestConfigError(
            f"--dry-run {eml}: give the .eml path; the .html is written beside it"
        )
    html_path = eml.with_suffix(".html")
    try:
        eml.parent.mkdir(parents=True, exist_ok=True)
        eml.write_bytes(msg.as_bytes(policy=email.policy.SMTP))
        html_path.write_text(standalone_html(msg), encoding="utf-8")
    except OSError as exc:
        raise DigestConfigError(f"cannot write {eml}: {exc.strerror or exc}") from None
    return eml, html_path


# --- SMTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send. ``security`` is 'plain', 'starttls' or 'ssl'."""

    host: str
    port: int
    security: str = "plain"
    user: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    verify: bool = True
    source: str = "settings"

    def describe(self) -> str:
        """Safe to log and store: never the password."""
        who = f", user {self.user}" if self.user else ""
        via = "" if self.source == "settings" else f" from {self.source}"
        return f"smtp {self.host}:{self.port} ({self.security}{who}){via}"


def smtp_config_from_settings(settings: Settings) -> SmtpConfig:
    if settings.smtp_ssl and settings.smtp_starttls:
        raise DigestConfigError(
            "smtp_ssl and smtp_starttls are both on; use smtp_ssl for implicit TLS (port 465) "
            "or smtp_starttls for STARTTLS (port 587), not both"
        )
    if not settings.smtp_host:
        raise DigestConfigError("smtp_host is empty; set ADOPTWATCH_SMTP_HOST")
    security = "ssl" if settings.smtp_ssl else ("starttls" if settings.smtp_starttls else "plain")
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=security,
        user=settings.smtp_user,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout,
    )


def smtp_config_from_block(block: Any, timeout: float, name: str) -> SmtpConfig:
    """From a prefect-email ``EmailServerCredentials`` block (already loaded)."""
    from prefect_email.credentials import SMTPServer, SMTPType

    server = block.smtp_server
    host = server.value if isinstance(server, SMTPServer) else str(server)
    smtp_type = block.smtp_type
    security = {SMTPType.SSL: "ssl", SMTPType.STARTTLS: "starttls"}.get(smtp_type, "plain")
    return SmtpConfig(
        host=host,
        port=int(block.smtp_port or smtp_type.value),
        security=security,
        user=block.username or "",
        password=block.password.get_secret_value() if block.password else "",
        timeout=timeout,
        verify=block.verify is not False,
        source=f"block {name}",
    )


def load_credentials_block(name: str) -> Any:
    """Load an ``EmailServerCredentials`` block by name from the Prefect API."""
    from prefect_email import EmailServerCredentials

    try:
        return EmailServerCredentials.load(name)
    except Exception as exc:  # ValueError when missing, httpx errors when no API
        raise DigestConfigError(
            f"cannot load the EmailServerCredentials block {name!r} ({type(exc).__name__}); "
            "create it (prefect block register -m prefect_email, then in the UI) or clear "
            "email_credentials_block to use the smtp_* settings"
        ) from None


def resolve_smtp_config(
    settings: Settings, block_loader: Callable[[str], Any] = load_credentials_block
) -> SmtpConfig:
    """The block named by ``email_credentials_block`` when set, else the smtp_* settings."""
    name = settings.email_credentials_block
    if name:
        return smtp_config_from_block(block_loader(name), settings.smtp_timeout, name)
    return smtp_config_from_settings(settings)


def _scrub(text: str, config: SmtpConfig) -> str:
    """Remove the password (and the base64 an AUTH exchange carries) from ``text``."""
    secrets = set()
    if config.password:
        pw = config.password
        secrets.add(pw)
        for raw in (pw, f"\0{config.user}\0{pw}", f"{config.user}\0{pw}"):
            secrets.add(base64.b64encode(raw.encode()).decode())
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "********")
    return text


def _reply(code: Any, message: Any) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {clean_text(text, 300)}"


def _tls_context(config: SmtpConfig, ssl_context: ssl.SSLContext | None) -> ssl.SSLContext:
    if ssl_context is not None:
        return ssl_context
    context = ssl.create_default_context()
    if not config.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True)
class SendReceipt:
    accepted: list[str]
    refused: dict[str, str]  # address -> server reply


def send_message(
    msg: EmailMessage,
    config: SmtpConfig,
    sender: Address,
    recipients: Sequence[Address],
    ssl_context: ssl.SSLContext | None = None,
) -> SendReceipt:
    """Send ``msg`` to ``recipients`` (the envelope; headers never add recipients).

    Raises a :class:`SendFailed` subclass with a message that names the server and
    its reply but never the password.
    """
    where = config.describe()
    to_addrs = [r.addr_spec for r in recipients]
    if not to_addrs:
        raise DigestConfigError("no recipients")
    if config.user and config.security == "plain":
        log.warning(
            "logging in to %s without TLS: the password crosses the network in clear; "
            "set smtp_starttls or smtp_ssl",
            where,
        )
    context = _tls_context(config, ssl_context)
    try:
        if config.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with smtp:
            smtp.ehlo()
            if config.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.user:
                smtp.login(config.user, config.password)
            refused_raw = smtp.send_message(msg, from_addr=sender.addr_spec, to_addrs=to_addrs)
    except smtplib.SMTPAuthenticationError as exc:
        raise SmtpAuthFailed(
            _scrub(f"{where} refused the login: {_reply(exc.smtp_code, exc.smtp_error)}", config)
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        replies = {a: _reply(*r) for a, r in exc.recipients.items()}
        transient = all(400 <= r[0] < 500 for r in exc.recipients.values())
        detail = "; ".join(f"{a}: {r}" for a, r in replies.items())
        raise RecipientsRefused(
            _scrub(f"{where} refused every recipient: {detail}", config), transient=transient
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise RecipientsRefused(
            _scrub(
                f"{where} refused the sender {sender.addr_spec}: "
                f"{_reply(exc.smtp_code, exc.smtp_error)}",
                config,
            ),
            transient=400 <= exc.smtp_code < 500,
        ) from None
    except smtplib.SMTPDataError as exc:
        cls = SmtpUnavailable if 400 <= exc.smtp_code < 500 else RecipientsRefused
        raise cls(
            _scrub(f"{where} refused the message: {_reply(exc.smtp_code, exc.smtp_error)}", config),
            transient=400 <= exc.smtp_code < 500,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        cls = SmtpTlsFailed if config.security == "starttls" else SmtpAuthFailed
        raise cls(_scrub(f"{where}: {clean_text(exc, 300)}", config)) from None
    except smtplib.SMTPConnectError as exc:
        raise SmtpUnavailable(
            _scrub(
                f"{where} refused the connection: {_reply(exc.smtp_code, exc.smtp_error)}", config
            )
        ) from None
    except smtplib.SMTPResponseException as exc:
        transient = 400 <= exc.smtp_code < 500
        cls = SmtpUnavailable if transient else SendFailed
        raise cls(
            _scrub(f"{where} said {_reply(exc.smtp_code, exc.smtp_error)}", config),
            transient=transient,
        ) from None
    except smtplib.SMTPServerDisconnected as exc:
        raise SmtpUnavailable(
            _scrub(f"{where} closed the connection: {clean_text(exc, 300)}", config)
        ) from None
    except ssl.SSLError as exc:  # before OSError: it is one
        raise SmtpTlsFailed(
            _scrub(f"{where}: TLS failed: {clean_text(exc.reason or exc, 300)}", config)
        ) from None
    except TimeoutError as exc:
        raise SmtpUnavailable(
            f"{where} timed out after {config.timeout:g}s ({type(exc).__name__})"
        ) from None
    except OSError as exc:
        raise SmtpUnavailable(
            _scrub(f"{where} is unreachable: {clean_text(exc.strerror or exc, 300)}", config)
        ) from None
    except smtplib.SMTPException as exc:
        raise SendFailed(
            _scrub(f"{where}: {type(exc).__name__}: {clean_text(exc, 300)}", config)
        ) from None
    refused = {a: _reply(*r) for a, r in (refused_raw or {}).items()}
    accepted = [a for a in to_addrs if a not in refused]
    return SendReceipt(accepted=accepted, refused=refused)


# --- a run -------------------------------------------------------------------------------


@dataclass
class PreparedDigest:
    """Everything decided before sending: the digest, the message, and the log so far."""

    digest: Digest
    message: EmailMessage
    sender: Address
    recipients: list[Address]
    already_sent: list[dict[str, Any]]  # earlier 'sent' rows of this week in digest_log
    db: Path
    lock_timeout: float = 30.0

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class DeliveryResult:
    week: str
    status: str  # sent | skipped | dry-run  (failures raise SendFailed)
    subject: str
    recipients: list[str]
    detail: str
    refused: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None
    digest_id: str | None = None
    eml_path: Path | None = None
    html_path: Path | None = None
    totals: Totals | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "week": self.week,
            "status": self.status,
            "subject": self.subject,
            "recipients": list(self.recipients),
            "refused": dict(self.refused),
            "message_id": self.message_id,
            "detail": self.detail,
        }
        if self.eml_path:
            out["eml"] = str(self.eml_path)
            out["html"] = str(self.html_path)
        if self.totals:
            out["new_adoptions"] = self.totals.new_adoptions
            out["adoption_reports"] = self.totals.adoption_reports
        return out


def prepare_digest(
    settings: Settings,
    week: IsoWeek | str | None = None,
    recipients: Sequence[str] | None = None,
    now: datetime | None = None,
    require_recipients: bool = True,
) -> PreparedDigest:
    """Pick the week, read the event log (briefly, read-only), compose the message."""
    tz = zone(settings.digest_timezone)
    now = now or datetime.now(UTC)
    if isinstance(week, str):
        week = parse_week(week)
    week = week or last_complete_week(now, tz)
    sender = parse_address(settings.mail_from)
    to = parse_addresses(list(recipients) if recipients else list(settings.mail_to))
    if require_recipients and not to:
        raise DigestConfigError(
            "no recipients: pass --to ADDR (repeatable) or set mail_to / ADOPTWATCH_MAIL_TO"
        )
    with read_session(settings.db, settings.db_lock_timeout) as con:
        digest = build_digest(con, week, tz)
        already = digest_sql.digest_log(con, week=week.label, status="sent")
    message = compose_message(digest, sender, to, now=now)
    return PreparedDigest(
        digest, message, sender, to, already, Path(settings.db), settings.db_lock_timeout
    )


def _already_sent_detail(week: str, rows: list[dict[str, Any]]) -> str:
    last = rows[-1]
    when = last["sent_at"] or last["attempted_at"]
    to = ", ".join(last["recipients"])
    return (
        f"the digest for {week} was already sent on {when:%Y-%m-%d %H:%M} UTC to {to}; "
        "nothing sent (use --force to send it again)"
    )


def skip_if_sent(prepared: PreparedDigest, force: bool = False) -> DeliveryResult | None:
    """The 'already sent' result when the week has a 'sent' row and not ``force``."""
    if force or not prepared.already_sent:
        return None
    week = prepared.digest.week.label
    detail = _already_sent_detail(week, prepared.already_sent)
    log.info("digest %s: %s", week, detail)
    return DeliveryResult(
        week,
        "skipped",
        prepared.subject,
        list(prepared.already_sent[-1]["recipients"]),
        detail,
        message_id=str(prepared.already_sent[-1]["message_id"]),
        totals=prepared.digest.totals,
    )


def send_prepared(
    prepared: PreparedDigest,
    config: SmtpConfig,
    force: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DeliveryResult:
    """Send unless the week was sent already (or ``force``); record the attempt either way.

    A failed send is recorded as 'failed' and re-raised; since the week then has no
    'sent' row, running again retries it.
    """
    skipped = skip_if_sent(prepared, force)
    if skipped is not None:
        return skipped
    digest = prepared.digest
    week = digest.week.label
    recipients = [r.addr_spec for r in prepared.recipients]
    log.info(
        "sending digest %s to %d recipient(s) via %s", week, len(recipients), config.describe()
    )
    attempted_at = now().astimezone(UTC).replace(tzinfo=None)
    digest_id = uuid.uuid4().hex
    try:
        receipt = send_message(
            prepared.message, config, prepared.sender, prepared.recipients, ssl_context
        )
    except SendFailed as exc:
        log.warning("digest %s not sent: %s", week, exc)
        try:
            _record(
                prepared,
                config,
                digest_id,
                "failed",
                attempted_at,
                None,
                force,
                error_class=type(exc).__name__,
                error=_scrub(str(exc), config),
            )
        except StorageError as storage_exc:  # the send failure is the news; keep it
            log.warning("digest %s: the failed attempt is not in digest_log: %s", week, storage_exc)
        raise
    sent_at = now().astimezone(UTC).replace(tzinfo=None)
    refused_note = (
        "; refused: " + "; ".join(f"{a} ({r})" for a, r in receipt.refused.items())
        if receipt.refused
        else ""
    )
    try:
        _record(
            prepared,
            config,
            digest_id,
            "sent",
            attempted_at,
            sent_at,
            force,
            refused=tuple(receipt.refused),
            error=_scrub(refused_note, config) or None,
        )
    except StorageError as exc:
        raise NotRecorded(
            f"the digest for {week} WAS sent (Message-ID {prepared.message_id}) to "
            f"{', '.join(receipt.accepted)}, but digest_log could not be written ({exc}); "
            "running again would send it twice"
        ) from None
    detail = f"sent {week} to {', '.join(receipt.accepted)}{refused_note}"
    log.info("digest %s: %s", week, detail)
    return DeliveryResult(
        week,
        "sent",
        prepared.subject,
        receipt.accepted,
        detail,
        refused=receipt.refused,
        message_id=prepared.message_id,
        digest_id=digest_id,
        totals=digest.totals,
    )


def _record(
    prepared: PreparedDigest,
    config: SmtpConfig,
    digest_id: str,
    status: str,
    attempted_at: datetime,
    sent_at: datetime | None,
    forced: bool,
    refused: tuple[str, ...] = (),
    error_class: str | None = None,
    error: str | None = None,
) -> None:
    digest = prepared.digest
    row = digest_sql.DigestLogRow(
        digest_id=digest_id,
        week=digest.week.label,
        week_start=digest.week.monday,
        week_end=digest.week.sunday,
        timezone=digest.timezone,
        recipients=tuple(r.addr_spec for r in prepared.recipients),
        refused=refused,
        sender=prepared.sender.addr_spec,
        subject=prepared.subject,
        message_id=prepared.message_id,
        transport=config.describe(),
        status=status,
        error_class=error_class,
        error=error,
        forced=forced,
        new_adoptions=digest.totals.new_adoptions,
        adoption_events=digest.totals.adoption_reports,
        attempted_at=attempted_at,
        sent_at=sent_at,
    )
    with write_session(prepared.db, prepared.lock_timeout) as con:
        digest_sql.record_digest(con, row)


def dry_run(prepared: PreparedDigest, path: Path | str) -> DeliveryResult:
    eml, html_path = write_dry_run(prepared.message, path)
    return DeliveryResult(
        prepared.digest.week.label,
        "dry-run",
        prepared.subject,
        [r.addr_spec for r in prepared.recipients],
        f"wrote {eml} and {html_path} (nothing sent)",
        message_id=prepared.message_id,
        eml_path=eml,
        html_path=html_path,
        totals=prepared.digest.totals,
    )


def deliver_digest(
    settings: Settings,
    week: IsoWeek | str | None = None,
    recipients: Sequence[str] | None = None,
    force: bool = False,
    dry_run_path: Path | str | None = None,
    now: datetime | None = None,
    ssl_context: ssl.SSLContext | None = None,
    block_loader: Callable[[str], Any] = load_credentials_block,
) -> DeliveryResult:
    """The whole run: prepare, then write the dry run or send (at most once per week)."""
    prepared = prepare_digest(
        settings, week, recipients, now=now, require_recipients=dry_run_path is None
    )
    if dry_run_path is not None:
        return dry_run(prepared, dry_run_path)
    skipped = skip_if_sent(prepared, force)
    if skipped is not None:
        return skipped
    config = resolve_smtp_config(settings, block_loader)
    return send_prepared(prepared, config, force, ssl_context)


def latest_week(settings: Settings) -> IsoWeek | None:
    """The ISO week (in digest_timezone) of the newest event, None for an empty log."""
    tz = zone(settings.digest_timezone)
    with read_session(settings.db, settings.db_lock_timeout) as con:
        at = digest_sql.latest_event_at(con)
    if at is None:
        return None
    return IsoWeek.of(at.replace(tzinfo=UTC).astimezone(tz).date())


def demo_digest(settings: Settings, path: Path | str) -> DeliveryResult:
    """Dry-run the digest of the newest week in the log (what ``make demo`` ends with)."""
    week = latest_week(settings) or last_complete_week(
        datetime.now(UTC), zone(settings.digest_timezone)
    )
    return deliver_digest(settings, week, dry_run_path=path)
