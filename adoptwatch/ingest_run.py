"""One ``adoptwatch ingest`` from the command line, started and stopped cleanly.

In order: the sources file is checked (before anything slow starts); the database's
ingest lock is taken; whatever a killed ingest of this database left behind is reaped
(its temporary Prefect server, still running; its run row is closed by
``pipeline.ingest.prepare_run``); a temporary Prefect server is started (unless
``PREFECT_API_URL`` names one) and recorded beside the database; the flow runs in a
thread of its own while this thread waits for signals.

SIGTERM or Ctrl-C cancel the flow: the batch being written commits, the run row is
closed as ``interrupted``, the server stops, and :class:`IngestInterrupted` says so. A
second signal stops waiting for the batch. After SIGKILL nothing here runs: the next
ingest of the same database reaps what is left, and says so.

Prefect's own temporary server is stopped by an ``atexit`` hook only, which neither
SIGTERM nor SIGKILL runs: each killed ingest left a server (about 225 MB) behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from adoptwatch.errors import AdoptwatchError
from adoptwatch.pipeline.progress import Progress
from adoptwatch.pipeline.sources import load_sources
from adoptwatch.settings import Settings
from adoptwatch.signals import handling
from adoptwatch.storage.db import ingest_lock, ingest_lock_path
from adoptwatch.storage.lake import locate

Say = Callable[[str], None]


class IngestInterrupted(AdoptwatchError):
    """SIGTERM or Ctrl-C stopped the ingest; ``signum`` is the signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


def server_record_path(db: Path | str, pid: int | None = None) -> Path:
    """Where the running ingest notes its temporary Prefect server: beside the ingest
    lock (a file, a SQLite-catalog lake: one ingest at a time). A PostgreSQL-catalog lake
    takes several ingests at once and has no local file: each ingest (``pid``, this
    process by default) notes its own in the temporary folder."""
    location = locate(db)
    if not location.multi_writer:
        return ingest_lock_path(location.path).with_suffix(".server")
    key = hashlib.sha256(location.url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"adoptwatch-{key}.{pid or os.getpid()}.server"


def _leftover_records(db: Path | str) -> list[Path]:
    """The records an earlier ingest of ``db`` may have left behind."""
    own = server_record_path(db)
    if not locate(db).multi_writer:
        return [own]
    prefix = own.name.rsplit(".", 2)[0]
    return sorted(p for p in own.parent.glob(f"{prefix}.*.server") if p != own)


def _same_process(record: dict[str, Any]) -> psutil.Process | None:
    """The recorded process if it still runs (the same one: a pid can be reused)."""
    try:
        process = psutil.Process(int(record["pid"]))
        if abs(process.create_time() - float(record["create_time"])) > 0.01:
            return None
        return process
    except (psutil.Error, KeyError, TypeError, ValueError):
        return None


def _ingest_alive(record: dict[str, Any]) -> bool:
    try:
        return psutil.pid_exists(int(record["ingest_pid"]))
    except (KeyError, TypeError, ValueError):
        return False


def reap_leftovers(db: Path | str, timeout: float = 10.0) -> str | None:
    """Stop the temporary Prefect servers killed ingests of ``db`` left running. Call it
    holding the ingest lock. Returns what was done, or None when nothing was left."""
    notes = [note for path in _leftover_records(db) if (note := _reap(path, timeout))]
    return "; ".join(notes) or None


def _reap(path: Path, timeout: float) -> str | None:
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        record = {}
    if isinstance(record, dict) and _ingest_alive(record):
        return None  # a PostgreSQL-catalog lake: another ingest, still running
    process = _same_process(record) if isinstance(record, dict) else None
    path.unlink(missing_ok=True)
    if process is None:
        return None
    with contextlib.suppress(psutil.Error):
        process.terminate()
        try:
            process.wait(timeout)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return (
        f"stopped the temporary Prefect server (process {record['pid']}) that a killed "
        f"ingest (process {record.get('ingest_pid', '?')}) left running"
    )


@contextlib.contextmanager
def temporary_server(db: Path | str) -> Iterator[str | None]:
    """Prefect's temporary API server, started here (unless ``PREFECT_API_URL`` names a
    server) and noted beside ``db`` until it stops; yields its API URL, or None."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    prefect = get_current_settings()
    if prefect.api.url or not prefect.server.ephemeral.enabled:
        yield None
        return
    # The flow's client finds this same instance (one per port, and None is ours).
    server = SubprocessASGIServer()
    record = server_record_path(db)
    starting = threading.Event()

    def note(process: Any) -> None:
        with contextlib.suppress(psutil.Error, OSError):
            created = psutil.Process(process.pid).create_time()
            record.write_text(
                json.dumps({"pid": process.pid, "create_time": created, "ingest_pid": os.getpid()})
            )

    def note_at_once() -> None:
        # The server takes 20 s or more to answer; a SIGKILL meanwhile must not leave
        # it unrecorded, so it is noted as soon as its process exists.
        while not starting.wait(0.05):
            if server.server_process is not None:
                note(server.server_process)
                return

    watcher = threading.Thread(target=note_at_once, daemon=True)
    watcher.start()
    try:
        server.start()
        starting.set()
        watcher.join()
        note(server.server_process)  # again: a start retried on another port has a new pid
        yield server.api_url
    finally:
        starting.set()
        _drain_prefect_workers()
        server.stop()
        record.unlink(missing_ok=True)


def _drain_prefect_workers() -> None:
    # Logs and events still queued for the API go now, while the server answers
    # (Prefect drains them at exit, when it would be gone: "Error logging to API").
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=5)


def _quiet_prefect_console() -> None:
    # Stopping on purpose: Prefect's "Crash detected!" lines on the console would only
    # repeat it (the flow run's state in the API still says Crashed).
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            handler.setLevel(logging.CRITICAL)


def run_stoppably(make: Callable[[], Coroutine[Any, Any, Any]], say: Say) -> Any:
    """Run the coroutine ``make()`` in a thread with its own event loop, while this (the
    main) thread turns SIGTERM and SIGINT into a cancellation of it.

    Prefect's flow engine swaps SIGTERM for an exception raised at a random point, but
    only in the main thread; in this one it leaves signals alone.
    """
    state: dict[str, Any] = {}
    started = threading.Event()

    async def main() -> Any:
        state["loop"], state["task"] = asyncio.get_running_loop(), asyncio.current_task()
        started.set()
        return await make()

    def target() -> None:
        try:
            state["result"] = asyncio.run(main())
        except BaseException as exc:  # handed over to the main thread
            state["error"] = exc
        finally:
            started.set()

    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if received:  # a second signal: stop waiting for the batch
            raise IngestInterrupted(
                f"ingest stopped at once by a second {signal.Signals(signum).name}: the "
                "batch being written is rolled back, the next run closes this one",
                signum,
            )
        received.append(signum)
        _quiet_prefect_console()
        say(
            f"{signal.Signals(signum).name}: stopping after the batch being written "
            "(again to stop at once) …"
        )
        started.wait()
        if "task" in state:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                state["loop"].call_soon_threadsafe(state["task"].cancel)

    thread = threading.Thread(target=target, name="adoptwatch-ingest", daemon=True)
    with handling(handler):
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
    if "result" in state:
        return state["result"]  # it finished before the signal could stop it
    if received:
        name = signal.Signals(received[0]).name
        raise IngestInterrupted(
            f"ingest stopped by {name}: the batch being written was stored and the run "
            "is closed as interrupted; `adoptwatch ingest` goes on from there",
            received[0],
        )
    raise state["error"]


def _stop_before_the_run(signum: int, frame: FrameType | None) -> None:
    raise IngestInterrupted(
        f"ingest stopped by {signal.Signals(signum).name} before the run started; nothing "
        "was written",
        signum,
    )


def run_flow_ingest(settings: Settings, progress: Progress | None, say: Say) -> dict[str, Any]:
    """The Prefect ingest flow over ``settings``, run as described in the module's
    docstring; returns the run summary."""
    load_sources(settings.sources)  # a bad sources file fails now, not after Prefect starts
    # Before Prefect is even imported: a second ingest of the same database gets a clean
    # message at once (or waits, with --wait) instead of a failed flow run. Until the
    # flow runs, SIGTERM and Ctrl-C raise here, so the server started meanwhile stops.
    with handling(_stop_before_the_run), ingest_lock(settings.db, wait=settings.ingest_wait):
        note = reap_leftovers(settings.db)
        if note:
            say(note)
        with temporary_server(settings.db):
            from adoptwatch.flows.ingest import ingest_flow

            return run_stoppably(  # type: ignore[no-any-return]
                lambda: ingest_flow(settings=settings, progress=progress, lock_held=True),  # type: ignore[arg-type]
                say,
            )
