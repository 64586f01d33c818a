"""The ingest driver: sources → feeds → pages → text → claims → DuckDB, once.

:func:`run_ingest` drives the steps of :mod:`~adoptwatch.pipeline.crawl`,
:mod:`~adoptwatch.pipeline.pages` and :mod:`~adoptwatch.pipeline.rows`;
``adoptwatch.flows.ingest`` runs the same driver with each step wrapped as a Prefect task
(:class:`IngestSteps`). A failed feed or article becomes a row (fetch_log,
feed_entries, the summary), never an exception that ends the run.

Write safety: articles, their events, their feed entries and the fetches behind them
are written per batch in one transaction. A feed's validators (ETag, Last-Modified) are
stored only after all of its new entries are, so a crash part-way means the next run
fetches the feed again and finishes the work; entries already stored are skipped.

Several runs at once (a DuckLake on PostgreSQL): each run leases its share of the
sources (``storage.leases``: those no live run holds, divided by the live runs or by
``ingest_concurrency``, whichever is more),
crawls them as one round, gives them back and claims again until none is left, so a
source is fetched by one run at a time. A lease is renewed with every write and lapses
after ``lease_seconds``, or at once for a process gone from this host, so a killed
run's sources come free. Exactly-once does not rest on the leases: the write itself
refuses an article another run stored first (``store.write_batch``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from adoptwatch.fetch import Fetcher
from adoptwatch.pipeline.clock import utcnow
from adoptwatch.pipeline.crawl import (
    FeedOutcome,
    KnownEntries,
    PageOutcome,
    chunks,
    fetch_ahead,
    fetch_feeds,
    fetch_pages,
    group_by_url,
    interleave_hosts,
    keep_new_entries,
    plan_entries,
)
from adoptwatch.pipeline.pages import deduplicate, extract_pages, known_for
from adoptwatch.pipeline.progress import NoProgress, Progress
from adoptwatch.pipeline.rows import ProcessedBatch, build_write_batch, fetch_rows, source_update
from adoptwatch.pipeline.sources import load_sources
from adoptwatch.pipeline.story_clusters import backfill_story_clusters, story_clustering
from adoptwatch.settings import Settings
from adoptwatch.storage import leases, store
from adoptwatch.storage.db import ingest_lock, read_session, write_session
from adoptwatch.storage.lake import locate
from adoptwatch.storage.records import SourceSpec, SourceState

log = logging.getLogger(__name__)

# How long a run that may have company waits after registering before it claims its
# share, so that runs started together see each other and divide the sources evenly.
SETTLE_SECONDS = 1.0


@dataclass
class RunContext:
    run_id: str
    started_at: datetime
    sources: list[SourceState]  # enabled sources this round fetches (leased)
    skipped_sources: list[str]  # disabled ones
    state: store.CrawlState
    holder: str = ""  # host:pid, on the leases
    candidates: list[str] = field(default_factory=list)  # enabled sources of the run
    done: set[str] = field(default_factory=set)  # sources of earlier rounds
    # Runs a killed ingest left open, closed as interrupted by this one.
    closed_runs: list[str] = field(default_factory=list)


@dataclass
class IngestSummary:
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    feeds_total: int = 0
    feeds_fetched: int = 0
    feeds_unchanged: int = 0
    feeds_failed: int = 0
    sources_disabled_skipped: int = 0
    entries_new: int = 0
    entries_backlog: int = 0  # new entries left for later runs by max_entries_per_feed
    articles_new: int = 0
    articles_duplicate: int = 0
    articles_failed: int = 0
    events_new: int = 0
    mentions_new: int = 0
    alerts_queued: int = 0  # watchlist alerts the writes added to the outbox
    failed_sources: list[dict[str, str]] = field(default_factory=list)
    failed_articles: list[dict[str, str]] = field(default_factory=list)
    disabled_sources: list[str] = field(default_factory=list)
    runs_closed: list[str] = field(default_factory=list)  # left open by killed runs
    interrupted: str | None = None  # why the run stopped early (a signal), if it did
    # What became of the watchlist alerts due after the run's writes (IngestSteps.alerts).
    alerts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(self).items()}


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_is_dead(holder: str) -> bool:
    """A lease holder on this host whose process is gone (other hosts: never known dead;
    their leases lapse instead)."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _lease_end(settings: Settings) -> datetime:
    return utcnow() + timedelta(seconds=settings.lease_seconds)


def _write_session(settings: Settings) -> Any:
    return write_session(settings.db, settings.db_lock_timeout, settings.lake_data_path)


def prepare_run(settings: Settings, specs: Sequence[SourceSpec]) -> RunContext:
    """Close the runs a killed ingest left open, register sources, open a run, lease the
    first share of the sources, and read what this round needs from earlier runs. The
    caller holds the ingest lock (a file, a SQLite-catalog lake)."""
    now = utcnow()
    run_id = uuid.uuid4().hex
    holder = _holder()
    multi_writer = locate(settings.db).multi_writer
    with _write_session(settings) as con:
        closed = leases.close_abandoned_runs(
            con, run_id, now, _holder_is_dead, sole_writer=not multi_writer
        )
        store.sync_sources(con, specs, now)
        backfill_story_clusters(con, story_clustering(settings))
        leases.register_run(con, run_id, holder, now, _lease_end(settings))
        states = store.source_states(con)
    names = {s.name for s in specs}
    listed = [states[n] for n in (s.name for s in specs) if n in states]
    ctx = RunContext(
        run_id=run_id,
        started_at=now,
        sources=[],
        skipped_sources=sorted(s.name for s in listed if not s.enabled and s.name in names),
        state=store.CrawlState(states),
        holder=holder,
        candidates=[s.name for s in listed if s.enabled],
        closed_runs=[run for run, _started in closed],
    )
    if multi_writer:
        time.sleep(SETTLE_SECONDS)
    return claim_round(settings, ctx)


def claim_round(settings: Settings, ctx: RunContext) -> RunContext:
    """Give back this round's sources and lease the next share (none left: an empty
    round), with the crawl state the round needs."""
    ctx.done.update(s.name for s in ctx.sources)
    with _write_session(settings) as con:
        if ctx.sources:
            leases.release_sources(con, ctx.run_id)
        # Start the walk at a place of the run's own, so that runs claiming at the same
        # moment reach for different sources first.
        todo = [c for c in ctx.candidates if c not in ctx.done]
        offset = int(ctx.run_id, 16) % len(todo) if todo else 0
        claimed = leases.claim_sources(
            con,
            ctx.run_id,
            ctx.holder,
            todo[offset:] + todo[:offset],
            now=utcnow(),
            expires_at=_lease_end(settings),
            is_dead=_holder_is_dead,
            expected_runs=settings.ingest_concurrency,
        )
        state = store.load_crawl_state(con, settings.max_article_attempts, claimed)
    order = {name: i for i, name in enumerate(ctx.candidates)}
    ctx.sources = sorted(
        (state.sources[n] for n in claimed if n in state.sources), key=lambda s: order[s.name]
    )
    ctx.state = state
    return ctx


def stored_entry_keys(settings: Settings, source: str, keys: list[str]) -> set[str]:
    with read_session(
        settings.db, settings.db_lock_timeout, data_path=settings.lake_data_path
    ) as con:
        return store.stored_entry_keys(con, source, keys)


def article_ids_for_urls(settings: Settings, urls: list[str]) -> dict[str, str]:
    with read_session(
        settings.db, settings.db_lock_timeout, data_path=settings.lake_data_path
    ) as con:
        return store.article_ids_for_urls(con, urls)


def write(settings: Settings, batch: store.WriteBatch) -> store.WriteResult:
    with _write_session(settings) as con:
        return store.write_batch(con, batch, settings.max_consecutive_failures)


def finish_run(settings: Settings, summary: IngestSummary, status: str = "completed") -> None:
    with _write_session(settings) as con:
        store.finish_run(
            con, summary.run_id, summary.finished_at or utcnow(), summary.as_dict(), status
        )


@dataclass
class IngestSteps:
    """The steps ``run_ingest`` calls; the Prefect flow swaps in task-wrapped versions."""

    prepare: Callable[[Settings, Sequence[SourceSpec]], RunContext] = prepare_run
    claim: Callable[[Settings, RunContext], RunContext] = claim_round
    fetch_feeds: Callable[..., Awaitable[list[FeedOutcome]]] = fetch_feeds
    fetch_pages: Callable[..., Awaitable[list[PageOutcome]]] = fetch_pages
    extract: Callable[..., Any] = extract_pages
    write: Callable[[Settings, store.WriteBatch], store.WriteResult] = write
    finish: Callable[[Settings, IngestSummary], None] = finish_run
    # Where ``extract`` runs. None: in a thread of this process, given the live dedup
    # maps. Otherwise an awaitable call ``(pages, known_urls, known_hashes, pipeline)``
    # that runs it elsewhere (a Dask cluster), given only :func:`known_for`'s excerpt.
    dispatch_extract: Callable[..., Awaitable[ProcessedBatch]] | None = None
    # Batches extracted at once; more than one only makes sense with a dispatcher.
    extract_in_flight: int = 1
    # Delivers the watchlist alerts the writes queued, after they committed (the digest
    # layer's adoptwatch.digest.alerts.deliver_alerts, handed in by the flow: this layer
    # cannot import it). None: alerts wait in the outbox for the next delivery.
    alerts: Callable[[Settings], Awaitable[Any]] | None = None


async def run_ingest(
    settings: Settings,
    steps: IngestSteps | None = None,
    progress: Progress | None = None,
    fetcher: Fetcher | None = None,
    lock_held: bool = False,
) -> IngestSummary:
    """One ingest run over every enabled source. Returns the summary; never raises for a
    failed feed or article (those are in the summary and in fetch_log).

    Takes the database's ingest lock (:func:`adoptwatch.storage.db.ingest_lock`) unless the caller
    says it holds it already (``lock_held``; the CLI takes it before starting Prefect).
    """
    steps = steps or IngestSteps()
    progress = progress or NoProgress()
    specs = load_sources(settings.sources)
    if lock_held:
        return await _run_locked(settings, steps, progress, specs, fetcher)
    with ingest_lock(locate(settings.db), wait=settings.ingest_wait):
        return await _run_locked(settings, steps, progress, specs, fetcher)


async def _run_locked(
    settings: Settings,
    steps: IngestSteps,
    progress: Progress,
    specs: Sequence[SourceSpec],
    fetcher: Fetcher | None,
) -> IngestSummary:
    ctx = steps.prepare(settings, specs)
    summary = IngestSummary(run_id=ctx.run_id, started_at=ctx.started_at)
    summary.sources_disabled_skipped = len(ctx.skipped_sources)
    summary.runs_closed = ctx.closed_runs
    try:
        async with fetcher or Fetcher(settings) as f:
            while ctx.sources:
                await _crawl_round(settings, steps, progress, f, ctx, summary)
                ctx = steps.claim(settings, ctx)
    except Exception as exc:
        _close_early(settings, summary, "failed", f"{type(exc).__name__}: {exc}"[:500])
        raise
    except BaseException:
        # Stopped: cancelled (the CLI on SIGTERM or Ctrl-C), KeyboardInterrupt, or
        # Prefect's TerminationSignal in a worker's run. The batch being written has
        # committed; the run row says how far it got.
        _close_early(settings, summary, "interrupted", "stopped by a signal (SIGTERM, Ctrl-C)")
        raise
    summary.alerts = await deliver_queued_alerts(settings, steps)
    summary.finished_at = utcnow()
    steps.finish(settings, summary)
    return summary


async def deliver_queued_alerts(settings: Settings, steps: IngestSteps) -> dict[str, Any]:
    """Send the alerts the run's writes queued; a failure is reported, never raised: the
    run completes and the alerts stay due for the next one."""
    if steps.alerts is None:
        return {}
    try:
        delivery = await steps.alerts(settings)
    except Exception as exc:
        log.warning("alerts not delivered: %s", exc)
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return dict(delivery.as_dict())


def _close_early(settings: Settings, summary: IngestSummary, status: str, why: str) -> None:
    # The plain function, not the task: Prefect is tearing the flow down. Should the
    # write fail too, the next run closes the row (storage.leases.close_abandoned_runs).
    summary.finished_at = utcnow()
    summary.interrupted = why
    with contextlib.suppress(Exception):
        finish_run(settings, summary, status)


async def _crawl_round(
    settings: Settings,
    steps: IngestSteps,
    progress: Progress,
    f: Fetcher,
    ctx: RunContext,
    summary: IngestSummary,
) -> None:
    """Crawl the sources this round leased: feeds, then pages in batches, each batch
    written in one transaction."""
    summary.feeds_total += len(ctx.sources)
    known = KnownEntries(lambda source, keys: stored_entry_keys(settings, source, keys))
    select = keep_new_entries(known, settings.max_entries_per_feed)
    outcomes = await steps.fetch_feeds(f, ctx.sources, progress, select)
    for o in outcomes:
        if o.failed:
            summary.feeds_failed += 1
            summary.failed_sources.append(
                {
                    "source": o.source.name,
                    "error_class": o.error_class or "",
                    "error": o.error or "",
                }
            )
        elif o.unchanged:
            summary.feeds_unchanged += 1
        else:
            summary.feeds_fetched += 1
    summary.entries_backlog += sum(o.backlog for o in outcomes)
    planned = plan_entries(outcomes, known, ctx.state.retry_entries, settings.max_entries_per_feed)
    summary.entries_new += sum(1 for p in planned if p.attempts == 0)
    progress.stage("articles", len(planned))

    def batch_of(**rows: Any) -> store.WriteBatch:
        return store.WriteBatch(run_id=ctx.run_id, leases_until=_lease_end(settings), **rows)

    # Failed feeds are final now; successful ones wait until their entries are stored.
    first = batch_of(source_updates=[source_update(o) for o in outcomes if o.failed])
    first.fetches = fetch_rows(f.take_records(), ctx.run_id)
    _tally(summary, steps.write(settings, first))

    # Articles stored earlier, looked up for this round's links only; texts stored
    # earlier under another URL are found by the write (store.write_batch).
    known_urls = await asyncio.to_thread(
        article_ids_for_urls, settings, [p.canonical_url for p in planned]
    )
    known_hashes: dict[str, str] = {}

    # Limits on what extraction accepts (see extract_pages), passed wherever it runs.
    limits = {
        "max_elements": settings.max_page_elements,
        "max_chars": settings.max_article_chars,
    }

    def start_extract(pages: list[PageOutcome]) -> asyncio.Future[ProcessedBatch]:
        if steps.dispatch_extract is None:
            coro = asyncio.to_thread(
                steps.extract,
                pages,
                known_urls,
                known_hashes,
                settings.spacy_pipeline,
                **limits,
            )
        else:
            coro = steps.dispatch_extract(
                pages, known_for(pages, known_urls), {}, settings.spacy_pipeline, **limits
            )
        return asyncio.ensure_future(coro)

    async def store_batch(extracting: asyncio.Future[ProcessedBatch], urls: set[str]) -> None:
        # In batch order: the first page of a story wins, as in a sequential run.
        processed = deduplicate(await extracting, known_urls, known_hashes)
        batch = build_write_batch(processed)
        batch.run_id, batch.leases_until = ctx.run_id, _lease_end(settings)
        batch.story_clustering = story_clustering(settings)
        for url, source, error_class, error in processed.page_errors:
            f.annotate(url, source, "article", error_class, error)
        # This batch's page fetches (and robots.txt); later batches' pages stay until
        # their content has been judged (annotate), so each row is written complete.
        batch.fetches = fetch_rows(
            f.take_records(lambda r: r.kind != "article" or r.url in urls), ctx.run_id
        )
        summary.articles_duplicate += len(processed.duplicates)
        failures = processed.failed + processed.rejected
        summary.articles_failed += len(failures)
        summary.failed_articles.extend(
            {"source": e.source, "url": e.url, "error": err} for e, err in failures[:50]
        )
        # Shielded: when the run is stopped, the batch being written commits (or rolls
        # back) before the run row is closed, never half-way.
        writing = asyncio.ensure_future(asyncio.to_thread(steps.write, settings, batch))
        try:
            result = await asyncio.shield(writing)
        except asyncio.CancelledError:
            _tally(summary, await writing)
            raise
        _tally(summary, result)
        # Stored first by another run: later batches of this one must point there too.
        for art in batch.articles:
            stored = result.duplicates.get(art.article_id)
            if stored is not None:
                known_urls[art.canonical_url] = stored
                known_hashes[art.content_hash] = stored

    groups = interleave_hosts(group_by_url(planned).values())
    batches = [
        [e for group in part for e in group] for part in chunks(groups, settings.write_batch_size)
    ]
    # Fetching stays in this event loop and runs a few batches ahead of extraction
    # (CPU: a thread, or Dask workers); writes happen here, one batch at a time.
    in_flight: collections.deque[tuple[asyncio.Future[ProcessedBatch], set[str]]] = (
        collections.deque()
    )
    fetched = fetch_ahead(steps.fetch_pages, f, batches, progress)
    try:
        async with contextlib.aclosing(fetched):
            async for pages in fetched:
                urls = {p.entries[0].url for p in pages}
                in_flight.append((start_extract(pages), urls))
                while len(in_flight) >= max(1, steps.extract_in_flight):
                    await store_batch(*in_flight.popleft())
        while in_flight:
            await store_batch(*in_flight.popleft())
    finally:
        for pending, _urls in in_flight:
            pending.cancel()

    last = batch_of(source_updates=[source_update(o) for o in outcomes if not o.failed])
    last.fetches = fetch_rows(f.take_records(), ctx.run_id)
    _tally(summary, steps.write(settings, last))


def _tally(summary: IngestSummary, result: store.WriteResult) -> None:
    summary.articles_new += result.articles
    summary.articles_duplicate += len(result.duplicates)
    summary.events_new += result.events
    summary.mentions_new += result.mentions
    summary.alerts_queued += result.alerts
    summary.disabled_sources.extend(result.disabled_sources)
