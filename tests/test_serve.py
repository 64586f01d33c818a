"""`adoptwatch serve`'s failures that need no Prefect server: they are clear errors, at once.

Starting, serving and stopping for real is in tests/test_schedules.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from adoptwatch.cli import main
from adoptwatch.serve import PrefectServer, ServeError, free_port


def test_a_taken_port_is_refused_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = PrefectServer(port=port, log_file=tmp_path / "server.log")
        with pytest.raises(ServeError, match=f"port {port} .* already in use.*PREFECT_API_URL"):
            server.start()
    assert server.process is None and not (tmp_path / "server.log").exists()


def test_serve_says_when_prefect_api_url_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.chdir(tmp_path)
    dead = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings({PREFECT_API_URL: dead}):
        result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: the Prefect API at {dead} does not answer")
    assert "PREFECT_API_URL" in result.output and "Traceback" not in result.output
