"""The weekly digest, against a real DuckDB file and a real SMTP server on loopback."""

from __future__ import annotations

import io
import logging
import re
import socket
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from adoptwatch import digest as dg
from adoptwatch.settings import Settings, load_settings
from adoptwatch.storage import digest as digest_sql
from adoptwatch.storage.db import read_session, write_session
from adoptwatch.storage.migrations import MIGRATIONS, current_version
from adoptwatch.storage.store import WriteBatch, write_batch
from tests.digest_seed import WEEK, event, mention, seed
from tests.smtp_helpers import (
    RecordingHandler,
    client_tls_context,
    free_port,
    self_signed_cert,
    server_tls_context,
    smtp_server,
)

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # a Wednesday in W49: last complete week is W48
UTC_ZONE = ZoneInfo("UTC")


def mail_settings(tmp_path: Path, **overrides) -> Settings:
    values = {
        "db": str(tmp_path / "adoptwatch.duckdb"),
        "mail_from": "adoptwatch <digest@adoptwatch.example>",
        "mail_to": ["team@example.com"],
        "smtp_host": "127.0.0.1",
        "smtp_timeout": 5.0,
        **overrides,
    }
    return load_settings(env={}, overrides=values, cwd=tmp_path)


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    db = tmp_path / "adoptwatch.duckdb"
    seed(db)
    return db


@pytest.fixture
def w48(seeded: Path) -> dg.Digest:
    with read_session(seeded) as con:
        return dg.build_digest(con, dg.parse_week(WEEK), UTC_ZONE)


def digest_log(db: Path) -> list[dict]:
    with read_session(db) as con:
        return digest_sql.digest_log(con)


def parts(msg: EmailMessage) -> list[str]:
    return [p.get_content_type() for p in msg.walk()]


# --- weeks -------------------------------------------------------------------------------


def test_iso_weeks_across_year_boundaries():
    assert dg.weeks_in_year(2026) == 53 and dg.weeks_in_year(2027) == 52
    w53 = dg.parse_week("2026-W53")
    assert (w53.monday, w53.sunday) == (date(2026, 12, 28), date(2027, 1, 3))
    assert w53.date_range() == "Mon 28 Dec 2026 – Sun 3 Jan 2027"
    assert w53.shift(1).label == "2027-W01"
    assert dg.parse_week("2027-W01").previous() == w53
    assert dg.parse_week("2026w48").label == "2026-W48"
    assert dg.parse_week("2027-01-02").label == "2026-W53"  # a Saturday of 2026's last week
    assert dg.parse_week("2026-W48").date_range() == "Mon 23 Nov – Sun 29 Nov 2026"
    for bad in ("2027-W53", "2026-W54", "2026-W00", "last week", "2026-13-01", ""):
        with pytest.raises(dg.InvalidWeek):
            dg.parse_week(bad)


@pytest.mark.parametrize(
    ("now", "tz", "expected"),
    [
        (datetime(2026, 12, 2, 9, 0, tzinfo=UTC), "UTC", "2026-W48"),
        (datetime(2027, 1, 5, 12, 0, tzinfo=UTC), "UTC", "2026-W53"),
        (datetime(2027, 1, 2, 12, 0, tzinfo=UTC), "UTC", "2026-W52"),  # W53 not over yet
        (datetime(2027, 1, 11, 0, 0, tzinfo=UTC), "UTC", "2027-W01"),
        # Monday 03:00 UTC is still Sunday evening in Los Angeles: W48 is not complete there.
        (datetime(2026, 11, 30, 3, 0, tzinfo=UTC), "UTC", "2026-W48"),
        (datetime(2026, 11, 30, 3, 0, tzinfo=UTC), "America/Los_Angeles", "2026-W47"),
        # Naive means UTC.
        (datetime(2026, 11, 30, 3, 0), "UTC", "2026-W48"),
    ],
)
def test_default_week_is_last_complete_week(now, tz, expected):
    assert dg.last_complete_week(now, ZoneInfo(tz)).label == expected


def test_week_bounds_follow_daylight_saving():
    # 2026-W43 ends on Sunday 25 October, the night Europe/Berlin leaves summer time.
    start, stop = dg.parse_week("2026-W43").bounds_utc(ZoneInfo("Europe/Berlin"))
    assert start == datetime(2026, 10, 18, 22, 0)  # Monday 00:00 CEST
    assert stop == datetime(2026, 10, 25, 23, 0)  # next Monday 00:00 CET


def test_unknown_timezone_is_a_config_error(tmp_path, seeded):
    settings = mail_settings(tmp_path, digest_timezone="Mars/Olympus")
    with pytest.raises(dg.DigestConfigError, match="Mars/Olympus"):
        dg.prepare_digest(settings, WEEK)


# --- rollups -----------------------------------------------------------------------------


def test_totals_count_named_adoptions_and_fall_back_to_extracted_at(w48):
    t = w48.totals
    # Airbnb, Stripe, Canva, Zapier, Shopify and the undated Duolingo report; Lyft is
    # published in W49 although extracted in W48; "many US startups" is not a company.
    assert (t.adoption_reports, t.adoptions, t.companies) == (6, 6, 6)
    assert (t.drops, t.evaluations, t.unnamed_adoption_reports) == (2, 1, 1)
    assert t.articles == 6
    assert t.new_adoptions == 4 and t.switches == 2


def test_new_adopters_are_first_ever_pairs(w48):
    pairs = [(n.adopter, n.model.family) for n in w48.new_adoptions]
    # Stripe/Claude was first seen in W40, Shopify/Qwen in W47.
    assert pairs == [
        ("Airbnb", "Qwen"),
        ("Canva", "DeepSeek"),
        ("Zapier", "Qwen"),
        ("Duolingo", "Mistral"),
    ]
    airbnb = w48.new_adoptions[0]
    assert airbnb.evidence.sentence.startswith("Airbnb replaced ChatGPT with Qwen")
    assert airbnb.evidence.url == "https://news.example.com/a-airbnb"
    assert airbnb.evidence.title == "Airbnb <b>swaps</b> its assistant model"  # escaped later
    assert airbnb.model.origin_country == "CN" and airbnb.model.open_weights is True


def test_the_next_week_sees_no_new_adopter_from_w48(seeded):
    extra = [
        event("b-1", "Airbnb", "Qwen", "adopts", "Airbnb keeps Qwen.", datetime(2026, 12, 1, 9)),
    ]
    with write_session(seeded) as con:
        write_batch(con, WriteBatch(events=extra))
    with read_session(seeded) as con:
        w49 = dg.build_digest(con, dg.parse_week("2026-W49"), UTC_ZONE)
    assert [(n.adopter, n.model.family) for n in w49.new_adoptions] == [("Lyft", "GPT")]


def test_switches_by_switch_id_and_by_week(w48):
    got = [(s.adopter, s.from_model.family, s.to_model.family, s.linked) for s in w48.switches]
    assert got == [("Airbnb", "GPT", "Qwen", True), ("Canva", "Llama", "DeepSeek", False)]
    canva = w48.switches[1]
    assert canva.drop_evidence.sentence == "Canva stopped hosting Llama models."
    assert canva.drop_evidence.url == "https://news.example.com/a-canva2"
    assert canva.adopt_evidence.url == "https://news.example.com/a-canva"


def test_ranking_by_distinct_companies_with_change(w48):
    got = [(m.model.family, m.companies, m.prev_companies, m.change, m.rank) for m in w48.ranking]
    assert got == [
        ("Qwen", 3, 1, 2, 1),
        ("Claude", 1, 0, 1, 2),
        ("DeepSeek", 1, 0, 1, 2),
        ("Mistral", 1, 0, 1, 2),
    ]
    qwen = w48.ranking[0]
    assert qwen.example_adopter == "Zapier"  # the most confident report of the week
    assert qwen.evidence and qwen.evidence.url == "https://news.example.com/a-misc"
    assert [(m.model.family, m.prev_companies, m.change) for m in w48.fell_out] == [("GPT", 1, -1)]


def test_most_discussed_beside_most_adopted(w48):
    got = [(d.model.family, d.articles, d.sentences, d.adopting_companies) for d in w48.discussed]
    assert got == [
        ("GPT", 3, 9, 0),
        ("Qwen", 2, 5, 3),
        ("DeepSeek", 1, 3, 1),
        ("Kimi", 1, 2, 0),
        ("Mistral", 1, 2, 1),  # undated mention, dated by the article's fetch time
    ]
    gpt = w48.discussed[0]
    assert gpt.top_article and gpt.top_article.url == "https://news.example.com/a-misc"


def test_origin_share_over_twelve_weeks(w48):
    weeks = w48.origin_share
    assert [w.week for w in weeks] == [f"2026-W{n}" for n in range(37, 49)]
    by_week = {w.week: (w.cn, w.us, w.other) for w in weeks}
    assert by_week["2026-W48"] == (4, 1, 1)
    assert by_week["2026-W47"] == (1, 1, 0)
    assert by_week["2026-W40"] == (0, 1, 0)
    assert sum(w.total for w in weeks) == 6 + 2 + 1
    assert weeks[-1].share(weeks[-1].cn) == pytest.approx(4 / 6)


def test_week_is_taken_in_the_digest_timezone(tmp_path):
    db = tmp_path / "tz.duckdb"
    # Monday 30 Nov 03:00 UTC: W49 in UTC, but Sunday evening (W48) in Los Angeles.
    late = datetime(2026, 11, 30, 3, 0)
    with write_session(db) as con:
        write_batch(
            con,
            WriteBatch(events=[event("t-1", "Etsy", "Qwen", "adopts", "Etsy uses Qwen.", late)]),
        )
    with read_session(db) as con:
        utc48 = dg.build_digest(con, dg.parse_week(WEEK), UTC_ZONE)
        la48 = dg.build_digest(con, dg.parse_week(WEEK), ZoneInfo("America/Los_Angeles"))
        utc49 = dg.build_digest(con, dg.parse_week("2026-W49"), UTC_ZONE)
    assert utc48.totals.adoption_reports == 0
    assert la48.totals.adoption_reports == 1 and la48.timezone == "America/Los_Angeles"
    assert utc49.totals.adoption_reports == 1


# --- the message -------------------------------------------------------------------------


def test_message_parts_subject_and_links(w48):
    sender = dg.parse_address("adoptwatch <digest@adoptwatch.example>")
    msg = dg.compose_message(w48, sender, [dg.parse_address("team@example.com")], now=NOW)
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == "adoptwatch weekly — 2026-W48: 4 new adoptions"
    assert parts(parsed) == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]
    text = parsed.get_body(preferencelist=("plain",)).get_content()
    html_text = parsed.get_body(preferencelist=("html",)).get_content()
    assert "Mon 23 Nov – Sun 29 Nov 2026 (UTC)" in text
    assert "4 new adoptions · 6 companies adopting · 2 switches · 6 adoption reports" in text
    assert "https://news.example.com/a-airbnb" in text
    assert 'href="https://news.example.com/a-airbnb"' in html_text
    assert "Airbnb &lt;b&gt;swaps&lt;/b&gt; its assistant model" in html_text  # escaped title
    png = next(p for p in parsed.walk() if p.get_content_type() == "image/png")
    cid = png["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_text
    assert png.get_content_disposition() == "inline"
    image = Image.open(io.BytesIO(png.get_content()))
    assert image.format == "PNG" and image.size == (1200, 580)
    assert "<script" not in html_text.lower()


def test_article_text_is_escaped_and_cannot_inject_headers(w48):
    sender = dg.parse_address("digest@adoptwatch.example")
    msg = dg.compose_message(w48, sender, [dg.parse_address("team@example.com")], now=NOW)
    raw = msg.as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    html_text = parsed.get_body(preferencelist=("html",)).get_content()
    text = parsed.get_body(preferencelist=("plain",)).get_content()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html_text  # Jinja2 autoescape
    assert "<script" not in html_text.lower()
    assert parsed["Bcc"] is None
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert b"evil@example.com" not in header_block
    # The CR/LF inside the sentence became a space: the text part shows one line.
    line = next(x for x in text.splitlines() if "DeepSeek for design drafts" in x)
    assert line.strip().endswith('Bcc: evil@example.com"')
    assert not any(x.startswith("Bcc:") for x in text.splitlines())


def test_unsafe_urls_are_not_linked(tmp_path):
    db = tmp_path / "urls.duckdb"
    at = datetime(2026, 11, 24, 10, 0)
    rows = [
        event("u-1", "Etsy", "Qwen", "adopts", "Etsy uses Qwen.", at, url="javascript:alert(1)"),
    ]
    with write_session(db) as con:
        write_batch(con, WriteBatch(events=rows))
    with read_session(db) as con:
        d = dg.build_digest(con, dg.parse_week(WEEK), UTC_ZONE)
    assert d.new_adoptions[0].evidence.url is None
    html_text = dg.render_html(d, None)
    assert "javascript:" not in html_text


@pytest.mark.parametrize(
    "bad",
    [
        "team@example.com\r\nBcc: evil@example.com",
        "team@example.com\nBcc: evil@example.com",
        "team@example.com Bcc: evil@example.com",
        "team@example.com, evil@example.com",
        "undisclosed: team@example.com;",
        "not-an-address",
        "team@",
        "",
    ],
)
def test_bad_addresses_are_refused(bad):
    with pytest.raises(dg.InvalidAddress):
        dg.parse_address(bad)


def test_good_addresses_are_kept():
    assert dg.parse_address("Team <team@example.com>").addr_spec == "team@example.com"
    assert dg.parse_address("digest@localhost").domain == "localhost"
    got = dg.parse_addresses(["a@example.com", "A@example.com", "b@example.com"])
    assert [a.addr_spec for a in got] == ["a@example.com", "b@example.com"]


def test_empty_week_says_so(tmp_path, seeded):
    with read_session(seeded) as con:
        empty = dg.build_digest(con, dg.parse_week("2025-W10"), UTC_ZONE)
    assert empty.is_empty and not empty.has_history
    sender = dg.parse_address("digest@adoptwatch.example")
    msg = dg.compose_message(empty, sender, [dg.parse_address("team@example.com")], now=NOW)
    assert msg["Subject"] == "adoptwatch weekly — 2025-W10: no new adoptions"
    assert parts(msg) == ["multipart/alternative", "text/plain", "text/html"]  # no chart
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html_text = msg.get_body(preferencelist=("html",)).get_content()
    for body in (text, html_text):
        assert "Nothing was reported in 2025-W10" in body
        assert "No adoptions in these weeks." in body
    assert "Mon 3 Mar – Sun 9 Mar 2025" in text


def test_quiet_week_with_history_still_charts(seeded):
    with read_session(seeded) as con:
        quiet = dg.build_digest(con, dg.parse_week("2026-W45"), UTC_ZONE)
    assert quiet.is_empty and quiet.has_history
    msg = dg.compose_message(quiet, dg.parse_address("d@adoptwatch.example"), [], now=NOW)
    assert "image/png" in parts(msg)


# --- sending -----------------------------------------------------------------------------


def test_digest_arrives_over_smtp(tmp_path, seeded):
    with smtp_server() as (controller, handler):
        settings = mail_settings(tmp_path, smtp_port=controller.port)
        result = dg.deliver_digest(settings, now=NOW)  # default week: W48
    assert result.status == "sent" and result.week == WEEK
    assert len(handler.received) == 1
    got = handler.received[0]
    assert got.mail_from == "digest@adoptwatch.example"
    assert got.rcpt_tos == ["team@example.com"]
    msg = got.message
    assert msg["Subject"] == "adoptwatch weekly — 2026-W48: 4 new adoptions"
    assert msg["To"] == "team@example.com"
    assert msg["Message-ID"] == result.message_id
    assert "image/png" in parts(msg)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Airbnb: GPT (OpenAI, US) → Qwen (Alibaba, CN, open weights)" in text
    log_rows = digest_log(seeded)
    assert [(r["week"], r["status"], r["recipients"]) for r in log_rows] == [
        (WEEK, "sent", ["team@example.com"])
    ]
    assert log_rows[0]["message_id"] == result.message_id
    assert log_rows[0]["new_adoptions"] == 4


def test_to_overrides_mail_to_and_injection_in_to_is_refused(tmp_path, seeded):
    with smtp_server() as (controller, handler):
        settings = mail_settings(tmp_path, smtp_port=controller.port)
        with pytest.raises(dg.InvalidAddress):
            dg.deliver_digest(settings, WEEK, ["ops@example.com\r\nBcc: evil@example.com"], now=NOW)
        assert handler.received == []
        result = dg.deliver_digest(settings, WEEK, ["ops@example.com", "cto@example.com"], now=NOW)
    assert result.recipients == ["ops@example.com", "cto@example.com"]
    assert handler.received[0].rcpt_tos == ["ops@example.com", "cto@example.com"]
    assert [r["status"] for r in digest_log(seeded)] == ["sent"]


def test_once_per_week_unless_forced(tmp_path, seeded):
    with smtp_server() as (controller, handler):
        settings = mail_settings(tmp_path, smtp_port=controller.port)
        first = dg.deliver_digest(settings, WEEK, now=NOW)
        again = dg.deliver_digest(settings, WEEK, now=NOW)
        assert len(handler.received) == 1
        assert again.status == "skipped"
        assert "already sent" in again.detail and "--force" in again.detail
        assert "team@example.com" in again.detail
        assert again.message_id == first.message_id
        forced = dg.deliver_digest(settings, WEEK, force=True, now=NOW)
        assert forced.status == "sent" and len(handler.received) == 2
        other_week = dg.deliver_digest(settings, "2026-W47", now=NOW)
        assert other_week.status == "sent" and len(handler.received) == 3
    rows = digest_log(seeded)
    assert [(r["week"], r["status"], r["forced"]) for r in rows] == [
        (WEEK, "sent", False),
        (WEEK, "sent", True),
        ("2026-W47", "sent", False),
    ]


def test_refused_send_is_recorded_and_can_be_retried(tmp_path, seeded):
    handler = RecordingHandler(data_replies=["554 5.7.1 message rejected by policy"])
    with smtp_server(handler) as (controller, _):
        settings = mail_settings(tmp_path, smtp_port=controller.port)
        with pytest.raises(dg.RecipientsRefused) as caught:
            dg.deliver_digest(settings, WEEK, now=NOW)
        assert not dg.is_transient(caught.value)
        assert "554" in str(caught.value) and "rejected by policy" in str(caught.value)
        rows = digest_log(seeded)
        assert [(r["status"], r["error_class"]) for r in rows] == [("failed", "RecipientsRefused")]
        assert "554" in rows[0]["error"] and rows[0]["sent_at"] is None
        # The server accepts now: running again sends, because nothing was sent yet.
        retried = dg.deliver_digest(settings, WEEK, now=NOW)
    assert retried.status == "sent" and len(handler.received) == 1
    assert [r["status"] for r in digest_log(seeded)] == ["failed", "sent"]


def test_unreachable_server_is_transient_and_recorded(tmp_path, seeded):
    settings = mail_settings(tmp_path, smtp_port=free_port())  # nothing listens there
    with pytest.raises(dg.SmtpUnavailable) as caught:
        dg.deliver_digest(settings, WEEK, now=NOW)
    assert dg.is_transient(caught.value)
    assert "unreachable" in str(caught.value)
    assert [r["error_class"] for r in digest_log(seeded)] == ["SmtpUnavailable"]


def test_temporary_refusal_is_transient(tmp_path, seeded):
    handler = RecordingHandler(data_replies=["451 4.3.0 try again later"])
    with smtp_server(handler) as (controller, _):
        settings = mail_settings(tmp_path, smtp_port=controller.port)
        with pytest.raises(dg.SmtpUnavailable) as caught:
            dg.deliver_digest(settings, WEEK, now=NOW)
    assert dg.is_transient(caught.value)


def test_partly_refused_recipients_are_reported(tmp_path, seeded):
    handler = RecordingHandler(rcpt_refuse={"gone@example.com"})
    with smtp_server(handler) as (controller, _):
        settings = mail_settings(tmp_path, smtp_port=controller.port)
        result = dg.deliver_digest(
            settings, WEEK, ["team@example.com", "gone@example.com"], now=NOW
        )
        assert result.status == "sent" and result.recipients == ["team@example.com"]
        assert "gone@example.com" in result.refused and "550" in result.refused["gone@example.com"]
        handler.rcpt_refuse = {"team@example.com"}
        with pytest.raises(dg.RecipientsRefused):
            dg.deliver_digest(settings, "2026-W47", ["team@example.com"], now=NOW)
    rows = digest_log(seeded)
    assert rows[0]["refused"] == ["gone@example.com"]


def test_no_recipients_is_a_clear_error(tmp_path, seeded):
    settings = mail_settings(tmp_path, mail_to=[])
    with pytest.raises(dg.DigestConfigError, match="--to"):
        dg.deliver_digest(settings, WEEK, now=NOW)


def test_dry_run_writes_eml_and_html_and_sends_nothing(tmp_path, seeded):
    settings = mail_settings(tmp_path, mail_to=[], smtp_port=free_port())
    result = dg.deliver_digest(settings, WEEK, dry_run_path=tmp_path / "out" / "w48.eml", now=NOW)
    assert result.status == "dry-run"
    assert result.eml_path == tmp_path / "out" / "w48.eml"
    assert result.html_path == tmp_path / "out" / "w48.html"
    msg = message_from_bytes(result.eml_path.read_bytes(), policy=policy.default)
    assert msg["Subject"] == "adoptwatch weekly — 2026-W48: 4 new adoptions"
    page = result.html_path.read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in page and "cid:" not in page
    assert digest_log(seeded) == []
    with pytest.raises(dg.DigestConfigError, match=r"\.eml"):
        dg.deliver_digest(settings, WEEK, dry_run_path=tmp_path / "w48.html", now=NOW)


def test_missing_database_is_a_clear_error(tmp_path):
    from adoptwatch.storage.db import DatabaseMissing

    settings = mail_settings(tmp_path)
    with pytest.raises(DatabaseMissing, match="adoptwatch ingest"):
        dg.deliver_digest(settings, WEEK, now=NOW)


# --- TLS, authentication and the password ------------------------------------------------

PASSWORD = "s3cret-Pa55word!"


def _all_text(db: Path) -> str:
    with read_session(db) as con:
        rows = con.execute("SELECT * FROM digest_log").fetchall()
    return repr(rows)


def test_starttls_login_and_password_never_logged(tmp_path, seeded, caplog):
    cert, key = self_signed_cert(tmp_path)
    caplog.set_level(logging.DEBUG)
    with smtp_server(
        tls_context=server_tls_context(cert, key),
        require_starttls=True,
        user="digest-bot",
        password=PASSWORD,
    ) as (controller, handler):
        settings = mail_settings(
            tmp_path,
            smtp_port=controller.port,
            smtp_starttls=True,
            smtp_user="digest-bot",
            smtp_password=PASSWORD,
        )
        result = dg.deliver_digest(settings, WEEK, now=NOW, ssl_context=client_tls_context(cert))
        assert result.status == "sent"
        assert handler.logins == [("digest-bot", PASSWORD)]
        # A wrong password: refused, not retryable, and the password is nowhere.
        wrong = settings.replace(smtp_password="wrong-" + PASSWORD)
        with pytest.raises(dg.SmtpAuthFailed) as caught:
            dg.deliver_digest(wrong, "2026-W47", now=NOW, ssl_context=client_tls_context(cert))
    assert not dg.is_transient(caught.value)
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(settings)
    assert PASSWORD not in caplog.text
    assert "digest-bot" in caplog.text  # the log does say who logged in
    assert PASSWORD not in _all_text(seeded)
    assert [r["status"] for r in digest_log(seeded)] == ["sent", "failed"]
    assert "starttls" in digest_log(seeded)[0]["transport"]


def test_starttls_with_an_untrusted_certificate_fails_cleanly(tmp_path, seeded):
    cert, key = self_signed_cert(tmp_path)
    with smtp_server(tls_context=server_tls_context(cert, key), require_starttls=True) as (
        controller,
        handler,
    ):
        settings = mail_settings(tmp_path, smtp_port=controller.port, smtp_starttls=True)
        with pytest.raises(dg.SmtpTlsFailed, match="TLS failed"):
            dg.deliver_digest(settings, WEEK, now=NOW)  # system CAs do not know this cert
    assert handler.received == []


def test_implicit_ssl(tmp_path, seeded):
    cert, key = self_signed_cert(tmp_path)
    with smtp_server(ssl_context=server_tls_context(cert, key)) as (controller, handler):
        settings = mail_settings(tmp_path, smtp_port=controller.port, smtp_ssl=True)
        result = dg.deliver_digest(settings, WEEK, now=NOW, ssl_context=client_tls_context(cert))
    assert result.status == "sent" and len(handler.received) == 1
    assert "(ssl)" in digest_log(seeded)[0]["transport"]


def test_ssl_and_starttls_together_are_refused(tmp_path):
    settings = mail_settings(tmp_path, smtp_ssl=True, smtp_starttls=True)
    with pytest.raises(dg.DigestConfigError, match="both"):
        dg.smtp_config_from_settings(settings)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_plain_login_warns_without_the_password(tmp_path, seeded, caplog):
    caplog.set_level(logging.INFO)
    with smtp_server(user="bot", password=PASSWORD) as (controller, handler):
        settings = mail_settings(
            tmp_path, smtp_port=controller.port, smtp_user="bot", smtp_password=PASSWORD
        )
        dg.deliver_digest(settings, WEEK, now=NOW)
    assert handler.logins == [("bot", PASSWORD)]
    assert "without TLS" in caplog.text and PASSWORD not in caplog.text


def test_settings_from_environment_reach_the_smtp_config(tmp_path):
    env = {
        "ADOPTWATCH_SMTP_HOST": "mail.example.com",
        "ADOPTWATCH_SMTP_PORT": "587",
        "ADOPTWATCH_SMTP_STARTTLS": "true",
        "ADOPTWATCH_SMTP_USER": "bot",
        "ADOPTWATCH_SMTP_PASSWORD": PASSWORD,
        "ADOPTWATCH_MAIL_FROM": "Digest <digest@example.com>",
        "ADOPTWATCH_MAIL_TO": "a@example.com, b@example.com",
    }
    settings = load_settings(env=env, cwd=tmp_path)
    config = dg.smtp_config_from_settings(settings)
    assert (config.host, config.port, config.security, config.user) == (
        "mail.example.com",
        587,
        "starttls",
        "bot",
    )
    assert config.password == PASSWORD
    assert PASSWORD not in repr(config) and PASSWORD not in config.describe()
    assert settings.mail_to == ("a@example.com", "b@example.com")


def test_credentials_block_is_preferred_when_named(tmp_path):
    from prefect_email import EmailServerCredentials

    block = EmailServerCredentials(
        username="bot@example.com",
        password=PASSWORD,
        smtp_server="smtp.example.com",
        smtp_type="STARTTLS",
    )
    settings = mail_settings(tmp_path, email_credentials_block="digest-mail")
    loaded: list[str] = []

    def loader(name: str):
        loaded.append(name)
        return block

    config = dg.resolve_smtp_config(settings, loader)
    assert loaded == ["digest-mail"]
    assert (config.host, config.port, config.security, config.user) == (
        "smtp.example.com",
        587,
        "starttls",
        "bot@example.com",
    )
    assert config.password == PASSWORD and config.source == "block digest-mail"
    assert PASSWORD not in config.describe()
    # Without a block name the smtp_* settings are used.
    plain = dg.resolve_smtp_config(mail_settings(tmp_path, smtp_port=2525), loader)
    assert (plain.port, plain.security, loaded) == (2525, "plain", ["digest-mail"])


def test_timeouts_are_transient(tmp_path, seeded):
    # A server that accepts the connection and never says hello.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        settings = mail_settings(tmp_path, smtp_port=listener.getsockname()[1], smtp_timeout=0.5)
        with pytest.raises(dg.SmtpUnavailable, match="timed out") as caught:
            dg.deliver_digest(settings, WEEK, now=NOW)
    assert dg.is_transient(caught.value)


# --- schema ------------------------------------------------------------------------------


def test_digest_log_is_migration_two(tmp_path):
    assert [m.version for m in MIGRATIONS][:2] == [1, 2] and MIGRATIONS[1].name == "digest_log"
    with write_session(tmp_path / "m.duckdb") as con:
        assert current_version(con) >= 2
        cols = {r[0] for r in con.execute("DESCRIBE digest_log").fetchall()}
    assert {"week", "recipients", "subject", "message_id", "status", "error", "sent_at"} <= cols


def test_log_read_tolerates_a_database_from_before_migration_two(tmp_path):
    import duckdb

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(MIGRATIONS[0].sql)
    con.close()
    with read_session(path) as ro:
        assert digest_sql.digest_log(ro, week=WEEK) == []


def test_mentions_only_week_is_not_empty(tmp_path):
    db = tmp_path / "m.duckdb"
    with write_session(db) as con:
        write_batch(con, WriteBatch(mentions=[mention("m-1", "Qwen", 2, datetime(2026, 11, 25))]))
    with read_session(db) as con:
        d = dg.build_digest(con, dg.parse_week(WEEK), UTC_ZONE)
    assert not d.is_empty and d.totals.adoption_reports == 0
    text = dg.render_text(d)
    assert "No company was reported adopting a model this week." in text
    assert re.search(r"1\. Qwen .*1 article, 2 sentences", text)


def test_sent_but_not_recorded_says_so(tmp_path, seeded):
    """The database is locked by another process between sending and recording."""
    import subprocess
    import sys

    holder: list[subprocess.Popen] = []

    class LockingHandler(RecordingHandler):
        async def handle_DATA(self, server, session, envelope):
            script = (
                "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                "print('locked', flush=True); time.sleep(60)"
            )
            proc = subprocess.Popen(
                [sys.executable, "-c", script, str(seeded)], stdout=subprocess.PIPE, text=True
            )
            holder.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
            return await super().handle_DATA(server, session, envelope)

    try:
        with smtp_server(LockingHandler()) as (controller, handler):
            settings = mail_settings(tmp_path, smtp_port=controller.port, db_lock_timeout=0.5)
            with pytest.raises(dg.NotRecorded, match="WAS sent") as caught:
                dg.deliver_digest(settings, WEEK, now=NOW)
        assert len(handler.received) == 1
        assert "running again would send it twice" in str(caught.value)
    finally:
        for proc in holder:
            proc.kill()
            proc.wait()
    # Only the claim taken before sending: it keeps other runs off the week meanwhile.
    assert [r["status"] for r in digest_log(seeded)] == ["sending"]


def test_demo_digest_reports_the_newest_week(tmp_path, seeded):
    settings = mail_settings(tmp_path, mail_to=[])
    assert dg.latest_week(settings).label == "2026-W49"  # Lyft, published in W49
    result = dg.demo_digest(settings, tmp_path / "demo-digest.eml")
    assert result.status == "dry-run" and result.week == "2026-W49"
    assert "Lyft" in result.html_path.read_text(encoding="utf-8")


def test_a_busy_week_lists_the_first_items_and_counts_the_rest(tmp_path):
    db = tmp_path / "busy.duckdb"
    at = datetime(2026, 11, 25, 10, 0)
    rows = [
        event(f"busy-{i}", f"Company {i:03d}", "Qwen", "adopts", f"Company {i:03d} uses Qwen.", at)
        for i in range(dg.MAX_ITEMS + 5)
    ]
    with write_session(db) as con:
        write_batch(con, WriteBatch(events=rows))
    with read_session(db) as con:
        busy = dg.build_digest(con, dg.parse_week(WEEK), UTC_ZONE)
    assert busy.totals.new_adoptions == dg.MAX_ITEMS + 5
    text = dg.render_text(busy)
    assert "… and 5 more new adoptions;" in text
    assert "… and 5 more new adoptions;" in dg.render_html(busy, None)
    assert " - Company 000 adopts Qwen" in text
    assert f" - Company {dg.MAX_ITEMS + 4:03d} adopts" not in text
    assert dg.subject_for(busy).endswith(f"{dg.MAX_ITEMS + 5} new adoptions")
