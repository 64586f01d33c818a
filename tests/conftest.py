from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Prefect reads its settings at import: keep it offline and inside a throwaway home.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="adoptwatch-prefect-"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# The user's own adoptwatch settings must not leak into tests.
for _name in [n for n in os.environ if n.startswith("ADOPTWATCH_")]:
    del os.environ[_name]

import pytest  # noqa: E402

from adoptwatch.settings import Settings, load_settings  # noqa: E402
from tests.httpserver import RouteServer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# Fast, loopback-friendly settings for tests; each test gets its own database file.
TEST_OVERRIDES: dict[str, Any] = {
    "allow_networks": ("127.0.0.0/8",),
    "per_host_delay": 0.0,
    "per_host_concurrency": 4,
    "retry_backoff": 0.01,
    "max_retries": 2,
    "request_deadline": 5.0,
    "connect_timeout": 2.0,
    "read_timeout": 2.0,
    "db_lock_timeout": 10.0,
}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base = {"db": tmp_path / "test.duckdb", "sources": tmp_path / "sources.toml"}
    return load_settings(env={}, cwd=tmp_path, overrides={**base, **TEST_OVERRIDES, **overrides})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def server() -> Iterator[RouteServer]:
    with RouteServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[str]:
    """One temporary Prefect API for the whole session (it takes ~12 s or more to start).

    Yields its URL, so that subprocesses (the real CLI) can use it too instead of each
    starting a temporary server of their own.
    """
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A PostgreSQL server of the session's own (tests/postgres.py), or a skip saying why."""
    from tests.postgres import start_server

    try:
        server = start_server()
    except RuntimeError as exc:
        pytest.skip(f"no PostgreSQL server for the DuckLake tests: {exc}")
    try:
        yield server
    finally:
        server.stop()


_lake_databases = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_lake(postgres: Any, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A new DuckLake on the session's PostgreSQL: (db URL, data path)."""
    from adoptwatch.storage.lake import close_lakes

    conninfo = postgres.create_database(f"lake{next(_lake_databases)}")
    data = tmp_path / "lake-data"
    yield f"ducklake:postgres:{conninfo}", data
    close_lakes()


@pytest.fixture
def sqlite_lake(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A new DuckLake on a SQLite catalog: (db URL, data path)."""
    from adoptwatch.storage.lake import close_lakes

    yield f"ducklake:sqlite:{tmp_path / 'lake.sqlite'}", tmp_path / "lake-data"
    close_lakes()
