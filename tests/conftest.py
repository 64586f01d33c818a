"""Shared fixtures. Prefect never phones home and keeps its state in a temporary home."""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="adoptwatch-prefect-"))


@pytest.fixture(scope="session")
def prefect_harness():
    """Prefect's own test harness: a temporary API server and database, once per session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
