"""The fetcher: polite, guarded async HTTP GETs, each recorded for fetch_log.

What it does per request: scheme check, robots.txt (cached per origin), a per-host
concurrency cap and a pause between request starts to one host, conditional GET
(ETag / Last-Modified), manual redirects (each hop checked), a streamed body with a
size cap on the *decompressed* bytes (:mod:`adoptwatch.fetch.decode`), a total deadline
over the whole exchange (httpx's own timeouts are per read, so a server dripping bytes
would never time out), and retries with exponential backoff on timeouts, connection
errors, 5xx and 429 (honouring Retry-After). Connections go through the network policy
(:mod:`adoptwatch.fetch.network`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from adoptwatch.fetch.decode import BodyDecoder
from adoptwatch.fetch.errors import (
    BlockedURL,
    ConnectionFailed,
    DNSFailure,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    ResponseTooLarge,
    RobotsDisallowed,
    TLSFailure,
    TooManyRedirects,
    is_transient,
)
from adoptwatch.fetch.network import (
    AddressBlocked,
    DNSLookupFailed,
    GuardedTransport,
    NetworkPolicy,
)
from adoptwatch.settings import Settings

# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    url: str  # as requested
    final_url: str  # after redirects
    status: int  # 200-class, or 304
    body: bytes
    headers: dict[str, str]
    duration_ms: float
    attempts: int = 1

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def charset(self) -> str | None:
        for part in self.content_type.split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


@dataclass(frozen=True)
class FetchRecord:
    """One fetch as fetch_log stores it."""

    url: str
    source: str | None
    kind: str
    started_at: float  # time.time()
    duration_ms: float
    status: int | None
    bytes: int
    final_url: str | None
    error_class: str | None
    error: str | None


# --- politeness ---------------------------------------------------------------------------


class _HostGate:
    """At most ``concurrency`` requests in flight to one host, starts ``delay`` apart."""

    def __init__(self, concurrency: int, delay: float) -> None:
        self._sem = asyncio.Semaphore(concurrency)
        self._delay = delay
        self._next_start = 0.0
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._sem:
            async with self._lock:
                now = time.monotonic()
                wait = self._next_start - now
                self._next_start = max(now, self._next_start) + self._delay
            if wait > 0:
                await asyncio.sleep(wait)
            yield


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    return (parts.hostname or "").lower()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _check_url(url: str) -> None:
    """Refuse anything but a well-formed absolute http(s) URL, before any connection.

    Checking parseability here also means the later ``urlsplit`` calls (robots origin,
    host gate) cannot raise on this URL.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise BlockedURL(f"refusing invalid URL {url[:300]!r}: {exc}", url) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedURL(f"refusing {scheme or 'scheme-less'} URL {url!r}: only http(s)", url)
    if not parts.hostname:
        raise BlockedURL(f"refusing URL without a host {url[:300]!r}", url)


class Fetcher:
    """Polite, guarded async HTTP fetching. Use as ``async with Fetcher(settings) as f:``.

    Every request is recorded in :attr:`records` (drain with :meth:`take_records`).
    ``transport`` replaces the guarded network layer (tests of error paths, or a proxy).
    """

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.policy = NetworkPolicy.from_cidrs(settings.allow_networks)
        self._transport = transport or GuardedTransport(
            self.policy, max_connections=max(settings.max_concurrency, 1)
        )
        self._client: httpx.AsyncClient | None = None
        self._gates: dict[str, _HostGate] = {}
        self._global = asyncio.Semaphore(settings.max_concurrency)
        self._robots: dict[str, Protego | FetchError] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._sleep = sleep
        self.records: list[FetchRecord] = []

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        self._client = httpx.AsyncClient(
            transport=self._transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(
                connect=s.connect_timeout, read=s.read_timeout, write=s.read_timeout, pool=None
            ),
            headers={
                "User-Agent": s.user_agent,
                # Only encodings whose decompressed size we can cap while streaming.
                "Accept-Encoding": "gzip, deflate",
            },
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def take_records(self, which: Callable[[FetchRecord], bool] | None = None) -> list[FetchRecord]:
        """Remove and return the records so far (``which``: only those it accepts)."""
        if which is None:
            records, self.records = self.records, []
            return records
        taken = [r for r in self.records if which(r)]
        self.records = [r for r in self.records if not which(r)]
        return taken

    def annotate(
        self, url: str, source: str | None, kind: str, error_class: str, error: str | None
    ) -> bool:
        """Mark the latest untaken record of a fetch as failed after the fact: the body
        arrived but was refused (unsafe XML, not a feed, no article text). False when
        there is no such record."""
        for index in range(len(self.records) - 1, -1, -1):
            record = self.records[index]
            if record.url == url and record.source == source and record.kind == kind:
                self.records[index] = dataclasses.replace(
                    record, error_class=error_class, error=(error or "")[:2000] or None
                )
                return True
        return False

    def _gate(self, url: str) -> _HostGate:
        host = _host_key(url)
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = _HostGate(
                self.settings.per_host_concurrency, self.settings.per_host_delay
            )
        return gate

    # -- public -----------------------------------------------------------------------

    async def fetch(
        self,
        url: str,
        *,
        source: str | None = None,
        kind: str = "article",
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        max_bytes: int | None = None,
    ) -> FetchResult:
        """GET ``url`` politely; raises a :class:`FetchError` subclass on failure.

        ``max_bytes`` lowers the body cap for this request (default ``max_body_bytes``).
        """
        started = time.time()
        t0 = time.monotonic()
        cap = min(max_bytes or self.settings.max_body_bytes, self.settings.max_body_bytes)
        try:
            _check_url(url)
            if self.settings.respect_robots:
                await self._check_robots(url, source)
            result = await self._fetch_with_retries(url, etag, last_modified, accept, cap)
        except FetchError as exc:
            self._record(url, source, kind, started, t0, exc.status, 0, None, exc)
            raise
        self._record(
            url, source, kind, started, t0, result.status, len(result.body), result.final_url, None
        )
        return result

    # -- internals --------------------------------------------------------------------

    def _record(
        self,
        url: str,
        source: str | None,
        kind: str,
        started: float,
        t0: float,
        status: int | None,
        size: int,
        final_url: str | None,
        exc: FetchError | None,
    ) -> None:
        self.records.append(
            FetchRecord(
                url=url,
                source=source,
                kind=kind,
                started_at=started,
                duration_ms=(time.monotonic() - t0) * 1000.0,
                status=status,
                bytes=size,
                final_url=final_url,
                error_class=exc.error_class if exc else None,
                error=str(exc)[:2000] if exc else None,
            )
        )

    async def _check_robots(self, url: str, source: str | None) -> None:
        origin = _origin(url)
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            if origin not in self._robots:
                self._robots[origin] = await self._load_robots(origin, source)
        rules = self._robots[origin]
        if isinstance(rules, HTTPStatusError):
            raise RobotsDisallowed(
                f"robots.txt of {origin} answered {rules.status}; not fetching {url} for now", url
            )
        if isinstance(rules, FetchError):
            # The site could not be reached at all: report that, not a robots verdict.
            raise type(rules)(f"{rules} (while reading robots.txt)", url, rules.status)
        if not rules.can_fetch(url, self.settings.user_agent):
            raise RobotsDisallowed(f"robots.txt of {origin} disallows {url}", url)

    async def _load_robots(self, origin: str, source: str | None) -> Protego | FetchError:
        robots_url = origin + "/robots.txt"
        started, t0 = time.time(), time.monotonic()
        try:
            result = await self._fetch_with_retries(
                robots_url, None, None, "text/plain", self.settings.max_body_bytes
            )
        except HTTPStatusError as exc:
            self._record(robots_url, source, "robots", started, t0, exc.status, 0, None, exc)
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                return Protego.parse("")  # RFC 9309: an unavailable (4xx) robots.txt allows all
            return exc  # 5xx, 429: treat as "disallow for now"
        except FetchError as exc:
            self._record(robots_url, source, "robots", started, t0, exc.status, 0, None, exc)
            return exc
        self._record(
            robots_url,
            source,
            "robots",
            started,
            t0,
            result.status,
            len(result.body),
            result.final_url,
            None,
        )
        # Protego reads RFC 9309 as sites write it: "*" wildcards and "$" anchors, and the
        # longest matching rule wins (urllib.robotparser takes the first and reads neither).
        return Protego.parse(result.body[:500_000].decode("utf-8", errors="replace"))

    async def _fetch_with_retries(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        accept: str | None,
        cap: int,
    ) -> FetchResult:
        s = self.settings
        attempt = 0
        t0 = time.monotonic()
        while True:
            attempt += 1
            try:
                result = await self._follow(url, etag, last_modified, accept, cap)
                return FetchResult(
                    url=result.url,
                    final_url=result.final_url,
                    status=result.status,
                    body=result.body,
                    headers=result.headers,
                    duration_ms=(time.monotonic() - t0) * 1000.0,
                    attempts=attempt,
                )
            except FetchError as exc:
                if attempt > s.max_retries or not is_transient(exc):
                    raise
                delay = s.retry_backoff * (2 ** (attempt - 1)) * (0.75 + random.random() / 2)
                retry_after = getattr(exc, "retry_after", None)
                if retry_after is not None:
                    if retry_after > s.max_retry_after:
                        raise
                    delay = max(delay, retry_after)
                await self._sleep(delay)

    async def _follow(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        accept: str | None,
        cap: int,
    ) -> FetchResult:
        assert self._client is not None, "use `async with Fetcher(...)`"
        seen = {url}
        current = url
        started = time.monotonic()
        spent = 0.0
        for _hop in range(self.settings.max_redirects + 1):
            _check_url(current)
            headers: dict[str, str] = {}
            if accept:
                headers["Accept"] = accept
            if current == url:
                if etag:
                    headers["If-None-Match"] = etag
                if last_modified:
                    headers["If-Modified-Since"] = last_modified
            # Queueing for a host slot is politeness, not slowness: only time on the wire
            # counts against the deadline.
            async with self._gate(current).slot(), self._global:
                remaining = self.settings.request_deadline - spent
                hop_start = time.monotonic()
                try:
                    async with asyncio.timeout(max(remaining, 0.001)):
                        status, resp_headers, body = await self._get(current, headers, cap)
                except TimeoutError:
                    raise FetchTimeout(
                        f"no complete answer within {self.settings.request_deadline:g}s "
                        f"(total deadline) from {current}",
                        url,
                    ) from None
                finally:
                    spent += time.monotonic() - hop_start
            if status in REDIRECT_STATUSES and resp_headers.get("location"):
                location = resp_headers["location"].strip()
                try:
                    target = urljoin(current, location)
                except ValueError as exc:
                    raise BlockedURL(
                        f"{current} redirects to an invalid URL {location[:300]!r}: {exc}", url
                    ) from None
                if target in seen:
                    raise TooManyRedirects(f"redirect loop at {target}", url, status)
                seen.add(target)
                current = target
                continue
            if status == 304:
                return FetchResult(url, current, status, b"", resp_headers, 0.0)
            if status >= 400:
                raise HTTPStatusError(
                    f"HTTP {status} from {current}",
                    url,
                    status,
                    retry_after=_retry_after_seconds(resp_headers.get("retry-after")),
                )
            if status >= 300:
                raise HTTPStatusError(
                    f"HTTP {status} without a Location from {current}", url, status
                )
            duration = (time.monotonic() - started) * 1000.0
            return FetchResult(url, current, status, body, resp_headers, duration)
        raise TooManyRedirects(
            f"more than {self.settings.max_redirects} redirects starting at {url}", url
        )

    async def _get(
        self, url: str, headers: dict[str, str], cap: int
    ) -> tuple[int, dict[str, str], bytes]:
        assert self._client is not None
        try:
            async with self._client.stream("GET", url, headers=headers) as resp:
                resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                if resp.status_code >= 300:
                    return resp.status_code, resp_headers, b""
                declared = resp_headers.get("content-length", "").strip()
                if declared.isdigit() and int(declared) > cap:
                    raise ResponseTooLarge(
                        f"{url} declares {int(declared):,} bytes, over the {cap:,}-byte cap",
                        url,
                        resp.status_code,
                    )
                decoder = BodyDecoder(resp_headers.get("content-encoding", ""), cap, url)
                chunks: list[bytes] = []
                size = wire = 0
                async for raw in resp.aiter_raw():
                    wire += len(raw)
                    if wire > cap:
                        raise ResponseTooLarge(
                            f"{url} sent more than {cap:,} bytes", url, resp.status_code
                        )
                    for piece in decoder.feed(raw):
                        size += len(piece)
                        if size > cap:
                            raise ResponseTooLarge(
                                f"{url} sent more than {cap:,} bytes (after decompression)",
                                url,
                                resp.status_code,
                            )
                        chunks.append(piece)
                for piece in decoder.finish():
                    size += len(piece)
                    if size > cap:
                        raise ResponseTooLarge(
                            f"{url} sent more than {cap:,} bytes (after decompression)",
                            url,
                            resp.status_code,
                        )
                    chunks.append(piece)
                return resp.status_code, resp_headers, b"".join(chunks)
        except AddressBlocked as exc:
            raise BlockedURL(f"refusing {url}: {exc}", url) from None
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"timed out talking to {url}: {type(exc).__name__}", url) from None
        except httpx.RemoteProtocolError as exc:
            if "location header" in str(exc):  # httpx parses Location even when not following
                raise BlockedURL(f"{url} redirects to an invalid URL: {exc}", url) from None
            raise ConnectionFailed(f"broken HTTP answer from {url}: {exc}", url) from None
        except (httpx.TransportError, ssl.SSLError, OSError) as exc:
            tls = _cause(exc, ssl.SSLError)
            if tls is not None:
                raise TLSFailure(f"TLS failed with {url}: {_describe(tls)}", url) from None
            dns = _cause(exc, DNSLookupFailed)
            if dns is not None:
                raise DNSFailure(str(dns), url) from None
            raise ConnectionFailed(
                f"{type(exc).__name__} talking to {url}: {_describe(exc)}", url
            ) from None
        except httpx.InvalidURL as exc:
            raise BlockedURL(f"invalid URL {url!r}: {exc}", url) from None


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of type ``kind`` in ``exc``'s cause/context chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and getattr(exc, "reason", None):
        verify = getattr(exc, "verify_message", None)
        return f"{exc.reason}{f' ({verify})' if verify else ''}"
    return str(exc) or type(exc).__name__
