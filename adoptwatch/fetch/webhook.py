"""The alert webhook: one JSON POST to a URL the user configured, with a total deadline
and a few retries.

Not through :class:`~adoptwatch.fetch.Fetcher`: its network policy guards URLs that come
from feeds and pages (which must not reach into private networks), while a webhook is
a destination the operator chose, often a relay on their own network; robots.txt and
per-host politeness mean nothing for it either. What is kept from the fetcher: a
total deadline over the whole exchange (httpx's own timeouts are per read), retries
with doubling backoff on timeouts, connection errors, 5xx and 429 only, and no
redirects (a 3xx is a failure: the URL is wrong). The URL's path is a secret for Slack
(whoever has it can post), so messages name the host only.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from adoptwatch.errors import AdoptwatchError

# Bytes of a refusal's body kept for the message (Slack explains itself there).
REPLY_CHARS = 200


class WebhookFailed(AdoptwatchError):
    """Every try failed, or the receiver refused the POST for good (4xx but 429)."""

    def __init__(self, message: str, attempts: int, status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status


@dataclass(frozen=True)
class WebhookReceipt:
    status: int
    attempts: int


def webhook_host(url: str) -> str:
    """Where a webhook goes, safe to log: scheme and host, never the path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _transient(status: int) -> bool:
    return status >= 500 or status == 429


async def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    timeout: float,
    retries: int,
    backoff: float,
    user_agent: str,
) -> WebhookReceipt:
    """POST ``payload`` as JSON to ``url``; a 2xx answer is success.

    Each try has ``timeout`` seconds in all; a timeout, a connection error, a 5xx or a
    429 is tried again up to ``retries`` more times, ``backoff`` seconds apart, doubling.
    Raises :class:`WebhookFailed` naming the host and the last answer."""
    where = webhook_host(url)
    body = json.dumps(payload, default=str, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": user_agent}
    last = ""
    status: int | None = None
    async with httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=False) as c:
        for attempt in range(1, retries + 2):
            if attempt > 1:
                await asyncio.sleep(backoff * 2 ** (attempt - 2))
            try:
                async with asyncio.timeout(timeout):
                    response = await c.post(url, content=body, headers=headers)
            except TimeoutError:
                status, last = None, f"no answer within {timeout:g}s"
                continue
            except httpx.HTTPError as exc:
                status, last = None, f"{type(exc).__name__}: {str(exc)[:REPLY_CHARS]}"
                continue
            status = response.status_code
            if 200 <= status < 300:
                return WebhookReceipt(status, attempt)
            reply = response.text[:REPLY_CHARS].strip()
            last = f"HTTP {status}" + (f" ({reply})" if reply else "")
            if not _transient(status):
                raise WebhookFailed(
                    f"the alert webhook at {where} refused the POST: {last}", attempt, status
                )
    raise WebhookFailed(
        f"the alert webhook at {where} failed {retries + 1} time(s); last: {last}",
        retries + 1,
        status,
    )
