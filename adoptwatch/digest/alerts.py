"""Delivering watchlist alerts: what the ingest's write queued (``storage.alerts``, the
outbox), sent after the write committed, by email and/or to a webhook.

Channels (settings): email to ``mail_to`` through the digest's SMTP settings (or its
credentials block) when ``alert_email`` is on and ``mail_to`` is set; a JSON POST to
``alert_webhook_url`` when set (``adoptwatch.fetch.webhook``: total timeout, retries).
One run sends one email listing every alert due, and one POST per alert (a Slack
message per fact; ``text`` for Slack, ``alert`` for any other receiver).

Once: a run first claims the alerts due (pending, or failed on fewer than
``alert_max_attempts`` earlier runs) in one transaction, so two runs never send the same
alert; a channel that succeeded is remembered per alert (``delivered_via``), so a retry
after a failed webhook never sends the email again. Nothing here raises for a failed
channel: the alert is recorded as failed with the reason, and the ingest carries on.
"""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from adoptwatch.digest.content import clean_text, safe_url
from adoptwatch.digest.errors import DigestError
from adoptwatch.digest.message import message_domain, parse_address, parse_addresses
from adoptwatch.digest.smtp import load_credentials_block, resolve_smtp_config, send_message
from adoptwatch.digest.wording import change_label, fact_family, fact_sentence
from adoptwatch.fetch.webhook import WebhookFailed, post_json
from adoptwatch.settings import Settings
from adoptwatch.storage import alerts as alerts_sql
from adoptwatch.storage.db import write_session

log = logging.getLogger(__name__)

# A claim older than this is of a run that died mid-delivery; its alerts are due again.
CLAIM_LASTS_AT_MOST = timedelta(minutes=15)
EVIDENCE_CHARS = 300


# --- wording (the sentence of a fact is wording.fact_sentence, shared with the digest) ----


def alert_text(alert: Mapping[str, Any]) -> str:
    """The alert as one plain line, with its watch, its change and its evidence."""
    watch = f"{alert.get('watch_kind') or 'watch'} {clean_text(alert.get('watch_value'), 80)}"
    evidence = clean_text(alert.get("evidence"), EVIDENCE_CHARS)
    url = safe_url(alert.get("evidence_url"))
    line = (
        f"[{watch}] {fact_sentence(alert)} "
        f"({change_label(alert.get('previous_status'), alert['status'])})."
    )
    if evidence:
        line += f' Evidence: "{evidence}"'
    if url:
        line += f" {url}"
    return line


def webhook_payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Slack reads ``text``; other receivers the structured ``alert``."""
    fields = (
        "alert_id", "watch_id", "watch_kind", "watch_value", "adopter", "model_family",
        "vendor_level", "vendor", "origin_country", "status", "previous_status",
        "status_since", "replaced_by", "articles", "outlets", "evidence", "evidence_url",
    )  # fmt: skip
    structured = {k: alert.get(k) for k in fields}
    structured["status_since"] = alert["status_since"].isoformat()
    return {"text": "adoptwatch: " + alert_text(alert), "alert": structured}


def compose_alert_message(
    alerts: Sequence[Mapping[str, Any]], sender: str, recipients: Sequence[str], now: datetime
) -> tuple[EmailMessage, Any, list[Any]]:
    """The email of one run's alerts: (message, sender Address, recipient Addresses)."""
    from_address = parse_address(sender)
    to = parse_addresses(list(recipients))
    msg = EmailMessage(policy=email.policy.SMTP)
    first = alerts[0]
    msg["Subject"] = (
        f"adoptwatch alert: {clean_text(first['adopter'], 60)} / {fact_family(first)} "
        f"({first['status']})"
        if len(alerts) == 1
        else f"adoptwatch: {len(alerts)} watchlist alerts"
    )
    msg["From"] = from_address
    msg["To"] = tuple(to)
    msg["Date"] = email.utils.format_datetime(now if now.tzinfo else now.replace(tzinfo=UTC))
    msg["Message-ID"] = f"<alerts.{uuid.uuid4().hex[:16]}@{message_domain(from_address)}>"
    msg["Auto-Submitted"] = "auto-generated"
    body = "\n\n".join(alert_text(a) for a in alerts)
    msg.set_content(
        body + "\n\n-- \nadoptwatch: `adoptwatch watch list` shows your watches, "
        "`adoptwatch watch remove ID` stops one.\n",
        subtype="plain",
        cte="quoted-printable",
    )
    return msg, from_address, to


# --- a delivery run ---------------------------------------------------------------------


@dataclass
class AlertDelivery:
    """What one delivery run did (``as_dict`` goes into the ingest's summary)."""

    due: int = 0
    sent: int = 0
    failed: int = 0
    no_channel: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "due": self.due,
            "sent": self.sent,
            "failed": self.failed,
            "no_channel": self.no_channel,
            "errors": self.errors[:5],
        }


def channels(settings: Settings) -> tuple[str, ...]:
    """The channels alerts go out on with these settings."""
    wanted = []
    if settings.alert_email and settings.mail_to:
        wanted.append("email")
    if settings.alert_webhook_url:
        wanted.append("webhook")
    return tuple(wanted)


def _utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


async def deliver_alerts(
    settings: Settings,
    now: datetime | None = None,
    block_loader: Callable[[str], Any] = load_credentials_block,
) -> AlertDelivery:
    """Claim the alerts due, send them on every configured channel that has not had
    them yet, and record the outcome. Never raises for a failed channel."""
    at = _utc_naive(now or datetime.now(UTC))
    claimant = uuid.uuid4().hex
    with write_session(settings.db, settings.db_lock_timeout, settings.lake_data_path) as con:
        due = alerts_sql.claim_alerts(
            con, claimant, settings.alert_max_attempts, at, at - CLAIM_LASTS_AT_MOST
        )
    report = AlertDelivery(due=len(due))
    if not due:
        return report
    wanted = channels(settings)
    done: dict[str, set[str]] = {
        a["alert_id"]: set(filter(None, (a.get("delivered_via") or "").split(","))) for a in due
    }
    errors: dict[str, list[str]] = {a["alert_id"]: [] for a in due}

    if "email" in wanted:
        todo = [a for a in due if "email" not in done[a["alert_id"]]]
        if todo:
            error = await _send_email(settings, todo, at, block_loader)
            for a in todo:
                if error is None:
                    done[a["alert_id"]].add("email")
                else:
                    errors[a["alert_id"]].append(error)
    if "webhook" in wanted:
        for a in due:
            if "webhook" in done[a["alert_id"]]:
                continue
            try:
                await post_json(
                    settings.alert_webhook_url,
                    webhook_payload(a),
                    timeout=settings.alert_webhook_timeout,
                    retries=settings.alert_webhook_retries,
                    backoff=settings.alert_webhook_backoff,
                    user_agent=settings.user_agent,
                )
                done[a["alert_id"]].add("webhook")
            except WebhookFailed as exc:
                errors[a["alert_id"]].append(str(exc))

    outcomes = []
    for a in due:
        via = tuple(c for c in ("email", "webhook") if c in done[a["alert_id"]])
        if not wanted:
            state = "no-channel"
        elif all(c in via for c in wanted):
            state = "sent"
        else:
            state = "failed"
        problem = "; ".join(dict.fromkeys(errors[a["alert_id"]])) or None
        outcomes.append(alerts_sql.DeliveryOutcome(a["alert_id"], state, via, problem))
    with write_session(settings.db, settings.db_lock_timeout, settings.lake_data_path) as con:
        alerts_sql.record_deliveries(con, outcomes, _utc_naive(datetime.now(UTC)))
    report.sent = sum(o.delivery == "sent" for o in outcomes)
    report.failed = sum(o.delivery == "failed" for o in outcomes)
    report.no_channel = sum(o.delivery == "no-channel" for o in outcomes)
    report.errors = list(dict.fromkeys(o.error for o in outcomes if o.error))
    if report.failed:
        log.warning(
            "%d alert(s) not delivered (retried by later runs, up to %d in all): %s",
            report.failed,
            settings.alert_max_attempts,
            "; ".join(report.errors[:3]),
        )
    return report


async def _send_email(
    settings: Settings,
    alerts: Sequence[Mapping[str, Any]],
    at: datetime,
    block_loader: Callable[[str], Any],
) -> str | None:
    """Send one email of ``alerts``; the reason it failed, or None."""
    try:
        msg, sender, to = compose_alert_message(alerts, settings.mail_from, settings.mail_to, at)
        config = resolve_smtp_config(settings, block_loader)
        await asyncio.to_thread(send_message, msg, config, sender, to)
    except DigestError as exc:
        return f"email: {exc}"
    return None


def deliver_alerts_now(settings: Settings) -> AlertDelivery:
    """:func:`deliver_alerts` from code that runs no event loop (the CLI's reextract)."""
    return asyncio.run(deliver_alerts(settings))
