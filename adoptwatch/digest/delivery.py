"""A digest run: prepare (pick the week, read the log, compose), then write a dry run or
send at most once per week, each attempt recorded in digest_log."""

from __future__ import annotations

import dataclasses
import logging
import ssl
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from adoptwatch.digest.content import Digest, Totals, build_digest
from adoptwatch.digest.errors import DigestConfigError, NotRecorded, SendFailed
from adoptwatch.digest.message import compose_message, parse_address, parse_addresses, write_dry_run
from adoptwatch.digest.smtp import (
    SmtpConfig,
    load_credentials_block,
    resolve_smtp_config,
    scrub,
    send_message,
)
from adoptwatch.digest.weeks import IsoWeek, last_complete_week, parse_week, zone
from adoptwatch.settings import Settings
from adoptwatch.storage import digest as digest_sql
from adoptwatch.storage.db import StorageError, read_session, write_session

log = logging.getLogger(__name__)

# A 'sending' claim older than this is of a run that died mid-send: it no longer holds
# the week (a send gives up long before: smtp_timeout per server reply).
SENDING_LASTS_AT_MOST = timedelta(minutes=15)


# --- a run -------------------------------------------------------------------------------


@dataclass
class PreparedDigest:
    """Everything decided before sending: the digest, the message, and the log so far."""

    digest: Digest
    message: EmailMessage
    sender: Address
    recipients: list[Address]
    already_sent: list[dict[str, Any]]  # earlier 'sent' rows of this week in digest_log
    db: str  # a file path or a DuckLake URL
    lock_timeout: float = 30.0
    data_path: str = ""  # the lake's, where db is one

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
        digest,
        message,
        sender,
        to,
        already,
        settings.db,
        settings.db_lock_timeout,
        settings.lake_data_path,
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
    # Claim the week before sending: another run, here or on another machine, that
    # sent it meanwhile or is sending it now wins, and this one sends nothing.
    claim = _log_row(prepared, config, digest_id, "sending", attempted_at, None, force)
    with write_session(prepared.db, prepared.lock_timeout, prepared.data_path) as con:
        sent_meanwhile = digest_sql.claim_week(
            con, claim, force, busy_after=attempted_at - SENDING_LASTS_AT_MOST
        )
    skipped = skip_if_sent(dataclasses.replace(prepared, already_sent=sent_meanwhile), force)
    if skipped is not None:
        return skipped
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
                error=scrub(str(exc), config),
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
            error=scrub(refused_note, config) or None,
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
    row = _log_row(
        prepared, config, digest_id, status, attempted_at, sent_at, forced, refused,
        error_class, error,
    )  # fmt: skip
    with write_session(prepared.db, prepared.lock_timeout, prepared.data_path) as con:
        digest_sql.record_digest(con, row)


def _log_row(
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
) -> digest_sql.DigestLogRow:
    digest = prepared.digest
    return digest_sql.DigestLogRow(
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
