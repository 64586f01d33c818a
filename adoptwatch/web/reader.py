"""How the explorer holds the event log: warm while people browse, never in an ingest's way.

A DuckDB file opened read-only afresh for every request starts with a cold buffer pool:
every page decompresses the columns it reads again (measured on 10 M events: the newest
50 events in 470 ms cold, 150 ms warm). So between requests the explorer keeps one
read-only connection open, and while it is open nobody can write the file, so the
answers it gave cannot go stale: they are kept too (:class:`AnswerCache`) and dropped
with the connection.

An open connection keeps writers out, so it is closed

* after ``keep_open`` seconds without a request (setting ``web_keep_open``), so an ingest
  that starts meanwhile waits at most that long for its first write (it waits up to
  ``db_lock_timeout``);
* at once while an ingest runs on the file (it holds the file's ingest lock): each
  request then opens the file for itself and closes it, as ``adoptwatch query`` does,
  and nothing is kept.

A DuckLake needs none of this: readers never block writers, and every request reads the
newest snapshot on the process's shared instance (already warm).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import duckdb

from adoptwatch.storage.db import ingest_lock_path, read_session
from adoptwatch.storage.lake import Location, locate

_FLOCK = re.compile(r"\bFLOCK\s+\S+\s+WRITE\s+\d+\s+([0-9a-f]+):([0-9a-f]+):(\d+)\b")


def ingest_running(db: Path) -> bool:
    """Whether an ingest holds this file's ingest lock now. Asked of the kernel's table of
    locks (Linux: /proc/locks), never by taking the lock: an ingest starting at that
    moment would find it taken and refuse to run. Elsewhere: whether the process the
    lock file names is alive (a process that ran an ingest and lives on reads as
    running: the safe side)."""
    path = ingest_lock_path(db)
    try:
        held = os.stat(path)
    except OSError:
        return False
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return _holder_alive(path)
    wanted = (os.major(held.st_dev), os.minor(held.st_dev), held.st_ino)
    return any(
        (int(m.group(1), 16), int(m.group(2), 16), int(m.group(3))) == wanted
        for m in _FLOCK.finditer(table)
    )


def _holder_alive(path: Path) -> bool:
    try:
        text = path.read_text().strip()
    except OSError:
        return False
    if not text.isdigit():
        return False
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AnswerCache:
    """Rendered answers by request, for as long as the data under them cannot change."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[int, bytes, str]] = OrderedDict()
        self._lock = threading.Lock()
        self.generation = 0

    def get(self, key: str, generation: int) -> tuple[int, bytes, str] | None:
        with self._lock:
            if generation != self.generation:
                return None
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, generation: int, value: tuple[int, bytes, str]) -> None:
        with self._lock:
            if generation != self.generation:  # the connection it came from is gone
                return
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.generation += 1


class EventLogReader:
    """Read sessions for the explorer's requests (see the module's docstring)."""

    def __init__(self, db: Path | str | Location, lock_timeout: float, keep_open: float) -> None:
        self.location = db if isinstance(db, Location) else locate(db)
        self.lock_timeout = lock_timeout
        self.keep_open = keep_open
        self.cache = AnswerCache()
        self._lock = threading.Lock()
        self._held: contextlib.ExitStack | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._users = 0
        self._last_used = 0.0
        self._closing = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def warm(self) -> bool:
        """Whether requests share one connection now (and so answers may be kept)."""
        return self._con is not None

    @contextlib.contextmanager
    def session(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, int | None]]:
        """A read-only connection, and the cache generation its answers belong to (None:
        keep nothing, the data may change under them)."""
        if self.location.is_lake or self.keep_open <= 0 or ingest_running(self.location.path):
            self.close()
            with read_session(self.location, self.lock_timeout) as con:
                yield con, None
            return
        with self._lock:
            if self._con is None:
                stack = contextlib.ExitStack()
                self._con = stack.enter_context(read_session(self.location, self.lock_timeout))
                self._held = stack
                self._start_watcher()
            self._users += 1
            cursor = self._con.cursor()
            generation = self.cache.generation
        try:
            yield cursor, generation
        finally:
            cursor.close()
            with self._lock:
                self._users -= 1
                self._last_used = time.monotonic()

    def _start_watcher(self) -> None:
        if self._watcher is None or not self._watcher.is_alive():
            self._watcher = threading.Thread(target=self._watch, name="close-idle", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        step = min(0.5, self.keep_open / 4)
        while not self._closing.wait(step):
            with self._lock:
                if self._con is None:
                    return
                idle = time.monotonic() - self._last_used
                busy = self._users > 0
            if not busy and (idle >= self.keep_open or ingest_running(self.location.path)):
                self.close()

    def close(self) -> None:
        """Close the shared connection (when no request uses it) and forget its answers."""
        with self._lock:
            if self._con is None or self._users:
                return
            held, self._held, self._con = self._held, None, None
            self.cache.clear()
        if held is not None:
            held.close()
