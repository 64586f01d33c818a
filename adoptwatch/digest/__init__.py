"""The weekly digest: what changed in the event log, as one email.

Modules, in the order a run uses them:

* :mod:`~adoptwatch.digest.weeks` picks the ISO week (in the digest's time zone);
* :mod:`~adoptwatch.digest.content` rolls the event log up into a :class:`Digest` (the SQL
  is in :mod:`adoptwatch.storage.digest`), every article string cleaned to one line;
* :mod:`~adoptwatch.digest.render_text`, :mod:`~adoptwatch.digest.render_html` (a Jinja2
  template) and :mod:`~adoptwatch.digest.chart` render it, with the sentences of
  :mod:`~adoptwatch.digest.wording`;
* :mod:`~adoptwatch.digest.message` makes the ``multipart/alternative`` message (text,
  and HTML with the chart inline by Content-ID) or writes a dry run;
* :mod:`~adoptwatch.digest.smtp` sends it; :mod:`~adoptwatch.digest.delivery` is the run
  (prepare, send at most once per week or write the dry run, record in digest_log).

The names below are the package's public face; the errors are drawn in
:mod:`adoptwatch.errors`.
"""

from adoptwatch.digest.chart import render_chart
from adoptwatch.digest.content import (
    Digest,
    DiscussedModel,
    Evidence,
    Model,
    NewAdoption,
    OriginWeek,
    RankedModel,
    Switch,
    Totals,
    build_digest,
    clean_text,
    safe_url,
)
from adoptwatch.digest.delivery import (
    DeliveryResult,
    PreparedDigest,
    deliver_digest,
    demo_digest,
    dry_run,
    latest_week,
    prepare_digest,
    send_prepared,
    skip_if_sent,
)
from adoptwatch.digest.errors import (
    DigestConfigError,
    DigestError,
    InvalidAddress,
    InvalidWeek,
    NotRecorded,
    RecipientsRefused,
    SendFailed,
    SmtpAuthFailed,
    SmtpTlsFailed,
    SmtpUnavailable,
    is_transient,
)
from adoptwatch.digest.message import (
    compose_message,
    html_part,
    parse_address,
    parse_addresses,
    standalone_html,
    write_dry_run,
)
from adoptwatch.digest.render_html import render_html
from adoptwatch.digest.render_text import render_text
from adoptwatch.digest.smtp import (
    SendReceipt,
    SmtpConfig,
    load_credentials_block,
    resolve_smtp_config,
    send_message,
    smtp_config_from_block,
    smtp_config_from_settings,
)
from adoptwatch.digest.weeks import IsoWeek, last_complete_week, parse_week, weeks_in_year, zone
from adoptwatch.digest.wording import MAX_ITEMS, subject_for

__all__ = [
    "MAX_ITEMS",
    "DeliveryResult",
    "Digest",
    "DigestConfigError",
    "DigestError",
    "DiscussedModel",
    "Evidence",
    "InvalidAddress",
    "InvalidWeek",
    "IsoWeek",
    "Model",
    "NewAdoption",
    "NotRecorded",
    "OriginWeek",
    "PreparedDigest",
    "RankedModel",
    "RecipientsRefused",
    "SendFailed",
    "SendReceipt",
    "SmtpAuthFailed",
    "SmtpConfig",
    "SmtpTlsFailed",
    "SmtpUnavailable",
    "Switch",
    "Totals",
    "build_digest",
    "clean_text",
    "compose_message",
    "deliver_digest",
    "demo_digest",
    "dry_run",
    "html_part",
    "is_transient",
    "last_complete_week",
    "latest_week",
    "load_credentials_block",
    "parse_address",
    "parse_addresses",
    "parse_week",
    "prepare_digest",
    "render_chart",
    "render_html",
    "render_text",
    "resolve_smtp_config",
    "safe_url",
    "send_message",
    "send_prepared",
    "skip_if_sent",
    "smtp_config_from_block",
    "smtp_config_from_settings",
    "standalone_html",
    "subject_for",
    "weeks_in_year",
    "write_dry_run",
    "zone",
]
