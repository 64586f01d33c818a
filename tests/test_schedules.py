"""Scheduling against a real Prefect server on loopback (one per module: it starts slowly).

* ``prefect deploy --all`` reads the committed prefect.yaml; a process worker picks up an
  ingest of the fixture site and the events land in DuckDB.
* ``adoptwatch serve`` registers the same deployments with active schedules, and leaves
  them active when it stops; started without PREFECT_API_URL it runs (and stops) a
  server of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from adoptwatch.serve import PrefectServer, free_port
from adoptwatch.site_server import SiteServer
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session
from tests.conftest import REPO, TEST_OVERRIDES

pytestmark = pytest.mark.slow

SITE = Path(__file__).parent / "fixtures" / "site"
BIN = Path(sys.executable).parent
SERVER_STARTUP = 240.0  # seconds; a cold server takes 20-60 s on two busy cores
EXPECTED_SCHEDULES = {
    "adoptwatch-ingest/ingest": ("0 * * * *", "UTC"),
    "adoptwatch-digest/digest": ("0 8 * * 1", "UTC"),
    "adoptwatch-maintain/maintain": ("30 3 * * *", "UTC"),
}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ADOPTWATCH_"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    env.update(extra)
    return env


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Serve:
    """``adoptwatch serve`` as a subprocess, its output collected line by line."""

    def __init__(self, env: dict[str, str], cwd: Path, sigint_ignored: bool = False) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [str(BIN / "adoptwatch"), "serve"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # as a script's `adoptwatch serve &` starts: a shell without job control
            # starts background commands with SIGINT ignored
            preexec_fn=ignore_sigint if sigint_ignored else None,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"no {prefix!r} line; output:\n" + "\n".join(self.lines[-40:]))

    def printed(self, line: str, timeout: float = 30) -> bool:
        """Whether ``line`` was printed; waits for the reader to drain the pipe (a loaded
        machine can leave output in it for a while after the process has exited)."""
        deadline = time.monotonic() + timeout
        while line not in self.lines and time.monotonic() < deadline:
            time.sleep(0.1)
        return line in self.lines

    def terminate(self, timeout: float = 60, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` and wait for the exit code; a failure that quotes serve's output
        when it does not stop (a bare ``wait`` timing out shows none of it)."""
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running {timeout:.0f} s after {sig.name}; output:\n"
                + "\n".join(self.lines[-60:])
            ) from None
        self._reader.join(5)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-server-home")
    env = clean_env(PREFECT_HOME=str(home))
    with PrefectServer(
        env=env, log_file=home / "server.log", startup_timeout=SERVER_STARTUP
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def client_env(server: PrefectServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the CLI, deploy and worker processes: the server's API."""
    home = tmp_path_factory.mktemp("prefect-client-home")
    return clean_env(PREFECT_HOME=str(home), PREFECT_API_URL=server.api_url)


def run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def deployments(api_url: str) -> dict[str, Any]:
    """Deployments by full name, read with the Prefect client."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> dict[str, Any]:
        async with get_client() as client:
            flows = {f.id: f.name for f in await client.read_flows()}
            return {f"{flows[d.flow_id]}/{d.name}": d for d in await client.read_deployments()}

    with temporary_settings({PREFECT_API_URL: api_url}):
        return asyncio.run(read())


def flow_run(api_url: str, flow_run_id: str) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> Any:
        async with get_client() as client:
            return await client.read_flow_run(flow_run_id)

    with temporary_settings({PREFECT_API_URL: api_url}):
        return asyncio.run(read())


def fast_overrides() -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in TEST_OVERRIDES.items()}


def run_and_wait(api_url: str, name: str, parameters: dict[str, Any], timeout: float = 240) -> Any:
    """Create a run of a deployment and wait for its final state."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def go() -> Any:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(name)
            run = await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                run = await client.read_flow_run(run.id)
                if run.state is not None and run.state.is_final():
                    return run.state
                await asyncio.sleep(1)
            return run.state

    with temporary_settings({PREFECT_API_URL: api_url}):
        return asyncio.run(go())


def active_crons(deployment: Any) -> list[tuple[str, str]]:
    return [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules if s.active]


def test_deploy_all_then_a_process_worker_runs_an_ingest(
    server: PrefectServer, client_env: dict[str, str], tmp_path: Path
) -> None:
    prefect = str(BIN / "prefect")
    run([prefect, "work-pool", "create", "adoptwatch", "--type", "process"], client_env)
    run([prefect, "--no-prompt", "deploy", "--all"], client_env)

    found = deployments(server.api_url)
    assert set(found) == {*EXPECTED_SCHEDULES, "adoptwatch-reextract/reextract"}
    for name, cron in EXPECTED_SCHEDULES.items():
        assert active_crons(found[name]) == [cron], name
        assert found[name].work_pool_name == "adoptwatch"
        assert not found[name].paused
    assert found["adoptwatch-reextract/reextract"].schedules == []
    ingest = found["adoptwatch-ingest/ingest"]
    assert ingest.global_concurrency_limit is not None
    assert ingest.global_concurrency_limit.limit == 1
    assert str(ingest.concurrency_options.collision_strategy.value) == "ENQUEUE"
    # Stored unresolved: each worker resolves it from its own environment.
    assert ingest.pull_steps == [
        {
            "prefect.deployments.steps.set_working_directory": {
                "directory": "{{ $ADOPTWATCH_CHECKOUT }}"
            }
        }
    ]

    db = tmp_path / "worker.duckdb"
    with SiteServer(SITE) as site:
        sources = tmp_path / "sources.toml"
        sources.write_bytes(site.render("sources.toml") or b"")
        params = {
            "sources": str(sources),
            "db": str(db),
            "allow_networks": ["127.0.0.0/8"],
            "overrides": fast_overrides(),
        }
        started = run(
            [
                prefect,
                "deployment",
                "run",
                "adoptwatch-ingest/ingest",
                "--params",
                json.dumps(params),
            ],
            client_env,
        )
        lines = started.stdout.splitlines()
        [flow_run_id] = [line.split("UUID:")[1].strip() for line in lines if "UUID:" in line]
        # A scheduled run that happens to fall due now must not touch the checkout's data.
        worker_env = {
            **client_env,
            "ADOPTWATCH_CHECKOUT": str(REPO),
            "ADOPTWATCH_DB": str(tmp_path / "stray.duckdb"),
            "ADOPTWATCH_SOURCES": str(tmp_path / "stray-sources.toml"),
        }
        (tmp_path / "stray-sources.toml").write_text("")
        worker = [prefect, "worker", "start", "--pool", "adoptwatch"]
        run([*worker, "--run-once", "--limit", "1"], worker_env, timeout=300)

    state = flow_run(server.api_url, flow_run_id).state
    assert state.is_completed(), state
    with read_session(db) as con:
        events = set(
            store.run_query(con, "SELECT adopter, relation, model_family FROM adoption_events").rows
        )
        articles = store.run_query(con, "SELECT count(*) FROM articles").rows
    assert articles == [(3,)]
    assert ("Airbnb", "adopts", "Qwen") in events
    assert ("Notion", "adopts", "Claude") in events


def test_serve_with_a_shared_server_runs_a_deployment_and_leaves_schedules_active(
    server: PrefectServer, client_env: dict[str, str], tmp_path: Path
) -> None:
    before = {name: d.updated for name, d in deployments(server.api_url).items()}
    # Started with SIGINT ignored, as a script's `adoptwatch serve &` is, yet `kill -INT`
    # (or Ctrl-C) must still stop it.
    serve = Serve(client_env, cwd=tmp_path, sigint_ignored=True)
    db = tmp_path / "served.duckdb"
    try:
        ui = serve.wait_for("Prefect UI: ", timeout=120)
        assert ui == f"Prefect UI: {server.ui_url}"
        running = deployments(server.api_url)
        for name, cron in EXPECTED_SCHEDULES.items():
            assert active_crons(running[name]) == [cron], name
            assert running[name].updated != before.get(name), f"{name} was not registered"

        # A run of the served deployment executes in serve's children.
        with SiteServer(SITE) as site:
            sources = tmp_path / "sources.toml"
            sources.write_bytes(site.render("sources.toml") or b"")
            state = run_and_wait(
                server.api_url,
                "adoptwatch-ingest/ingest",
                {
                    "sources": str(sources),
                    "db": str(db),
                    "allow_networks": ["127.0.0.0/8"],
                    "overrides": fast_overrides(),
                },
            )
        assert state.is_completed(), state
        assert len(site.requests_for("/articles/airbnb-qwen.html")) == 1

        # Ctrl-C
        assert serve.terminate(timeout=90, sig=signal.SIGINT) == 0, "\n".join(serve.lines)
    finally:
        serve.stop()
    assert serve.printed("adoptwatch serve: stopped"), "\n".join(serve.lines)
    with read_session(db) as con:
        assert store.run_query(con, "SELECT count(*) FROM articles").rows == [(3,)]
    after = deployments(server.api_url)
    for name, cron in EXPECTED_SCHEDULES.items():
        assert active_crons(after[name]) == [cron], f"{name} was paused on shutdown"
        assert not after[name].paused


# Schedules that never fall due while a test runs: with the default hourly ingest, a
# test started just before the hour would see a real ingest start inside serve (and
# stopping serve would wait for that run to be cancelled).
FAR_SCHEDULES = {
    "adoptwatch-ingest/ingest": ("0 0 29 2 *", "UTC"),
    "adoptwatch-digest/digest": ("0 8 29 2 *", "UTC"),
    "adoptwatch-maintain/maintain": ("30 3 29 2 *", "UTC"),
}


def test_serve_starts_and_stops_its_own_server(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        PREFECT_HOME=str(tmp_path / "home"),
        ADOPTWATCH_SERVE_PORT=str(port),
        ADOPTWATCH_INGEST_CRON=FAR_SCHEDULES["adoptwatch-ingest/ingest"][0],
        ADOPTWATCH_DIGEST_CRON=FAR_SCHEDULES["adoptwatch-digest/digest"][0],
        ADOPTWATCH_MAINTAIN_CRON=FAR_SCHEDULES["adoptwatch-maintain/maintain"][0],
    )
    serve = Serve(env, cwd=tmp_path)
    try:
        ui = serve.wait_for("Prefect UI: ", timeout=SERVER_STARTUP + 60)
        assert ui == f"Prefect UI: http://127.0.0.1:{port}"
        running = deployments(f"http://127.0.0.1:{port}/api")
        for name, cron in FAR_SCHEDULES.items():
            assert active_crons(running[name]) == [cron], name
        servers = [
            p
            for p in psutil.Process(serve.proc.pid).children(recursive=True)
            if "server" in p.cmdline() and "start" in p.cmdline()
        ]
        assert len(servers) == 1
        assert serve.terminate(timeout=90) == 0, "\n".join(serve.lines)
    finally:
        serve.stop()
    assert serve.printed("adoptwatch serve: stopped"), "\n".join(serve.lines)
    assert not servers[0].is_running()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
