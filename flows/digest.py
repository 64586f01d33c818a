"""The weekly digest flow: build, then write a dry run or send (at most once per week).

Thin on purpose: each task is one plain function of :mod:`adoptwatch.digest`.
A deployment's run loads the settings on the worker (its environment and a config file);
a caller with a Settings object passes it (serialised without the SMTP password, since
Prefect stores flow parameters). For the same reason no task caches or persists its
result.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from adoptwatch import digest as dg
from adoptwatch.flows import run_settings
from adoptwatch.settings import Settings

SEND_RETRIES = 3


def retry_when_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: connection trouble, timeouts and 4xx replies yes; refusals no."""
    try:
        state.result()
    except Exception as exc:
        return dg.is_transient(exc)
    return False


@task(name="prepare-digest", cache_policy=NO_CACHE, persist_result=False)
def prepare_digest_task(
    settings: Settings,
    week: str | None,
    recipients: list[str] | None,
    require_recipients: bool,
) -> dg.PreparedDigest:
    return dg.prepare_digest(settings, week, recipients, require_recipients=require_recipients)


@task(name="write-dry-run", cache_policy=NO_CACHE, persist_result=False)
def dry_run_task(prepared: dg.PreparedDigest, path: str) -> dg.DeliveryResult:
    return dg.dry_run(prepared, path)


@task(name="resolve-smtp", cache_policy=NO_CACHE, persist_result=False)
def smtp_config_task(settings: Settings) -> dg.SmtpConfig:
    return dg.resolve_smtp_config(settings)


@task(
    name="send-digest",
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=SEND_RETRIES,
    retry_delay_seconds=60,
    retry_condition_fn=retry_when_transient,
)
def send_digest_task(
    prepared: dg.PreparedDigest, config: dg.SmtpConfig, force: bool
) -> dg.DeliveryResult:
    # Each attempt is its own digest_log row; a later success makes the week 'sent'.
    return dg.send_prepared(prepared, config, force=force)


@flow(name="adoptwatch-digest", log_prints=False)
def digest_flow(
    week: str | None = None,
    db: str | None = None,
    to: list[str] | None = None,
    dry_run: str | None = None,
    force: bool = False,
    config: str | None = None,
    overrides: dict[str, Any] | None = None,
    retry_delay_seconds: float = 60.0,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Build the weekly digest and send it (or write ``dry_run`` .eml and .html).

    ``week`` like 2026-W48 (default: the last complete ISO week in digest_timezone);
    ``to`` replaces mail_to; a week is sent once unless ``force``. Settings come from
    the worker's environment and ``config`` file (or ``settings``, when the caller has
    them), then ``overrides``, which may not hold the SMTP password (flow parameters are
    stored by Prefect).
    Returns a summary dict: week, status (sent, skipped or dry-run), subject,
    recipients, refused, message_id, detail.
    """
    if overrides and "smtp_password" in overrides:
        raise dg.DigestConfigError(
            "smtp_password may not be a flow parameter (Prefect stores parameters); set "
            "ADOPTWATCH_SMTP_PASSWORD on the worker, put it in the config file, or use an "
            "EmailServerCredentials block"
        )
    logger = get_run_logger()
    settings = run_settings(settings, config, overrides, db=db or None)
    prepared = prepare_digest_task(settings, week, to, dry_run is None)
    if dry_run is not None:
        result = dry_run_task(prepared, dry_run)
    else:
        skipped = dg.skip_if_sent(prepared, force)
        if skipped is not None:
            result = skipped
        else:
            smtp = smtp_config_task(settings)
            send = send_digest_task.with_options(retry_delay_seconds=retry_delay_seconds)
            result = send(prepared, smtp, force)
    logger.info("digest %s: %s", result.week, result.detail)
    return result.summary()
