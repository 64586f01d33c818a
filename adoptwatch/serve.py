"""Scheduled runs on one machine: a Prefect server on loopback, and the deployments served.

Prefect's temporary server runs flows but fires no schedules, so ``adoptwatch serve``
needs a real Prefect API: :class:`PrefectServer` starts ``prefect server start`` on
127.0.0.1 (unless the caller already has an API to use), and :func:`serve_deployments`
registers the deployments and runs their scheduled runs in this process's children.

Errors::

    ServeError           the server could not start (port taken, crashed, too slow), or
                         the configured PREFECT_API_URL does not answer
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any
from uuid import UUID

import httpx

from adoptwatch.errors import AdoptwatchError
from adoptwatch.signals import handling, raise_keyboard_interrupt

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

LOOPBACK = "127.0.0.1"


class ServeError(AdoptwatchError):
    """The Prefect server could not be started."""


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux: if this process is killed outright, the server must not outlive it.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class PrefectServer:
    """``prefect server start`` in a subprocess on loopback; ``with`` starts and stops it.

    ``port=0`` picks a free port. Output goes to ``log_file`` (else is discarded).
    ``env`` replaces the child's environment (default: this process's).
    """

    def __init__(
        self,
        port: int = 0,
        host: str = LOOPBACK,
        log_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 180.0,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_file = log_file
        self.env = dict(os.environ if env is None else env)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api"

    @property
    def ui_url(self) -> str:
        return self.base_url

    def start(self) -> PrefectServer:
        if not port_is_free(self.port, self.host):
            raise ServeError(
                f"port {self.port} on {self.host} is already in use (another Prefect "
                "server?): pick another with --port or serve_port, or use that server by "
                f"setting PREFECT_API_URL={self.base_url}/api"
            )
        env = {**self.env, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("PREFECT_API_URL", None)  # the server must not try to talk to another one
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("ab")
        command = [sys.executable, "-m", "prefect", "server", "start"]
        command += ["--host", self.host, "--port", str(self.port)]
        self.process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our shutdown, not the terminal's Ctrl-C, stops it
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=httpx.Timeout(5.0)) as client:
            while True:
                if self.process.poll() is not None:
                    raise ServeError(
                        f"the Prefect server exited with status {self.process.returncode} "
                        f"while starting{self._log_hint()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.api_url + "/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise ServeError(
                        f"the Prefect server did not answer on {self.api_url} within "
                        f"{self.startup_timeout:.0f}s{self._log_hint()}"
                    )
                time.sleep(0.5)

    def _log_hint(self) -> str:
        if self.log_file is None or not self.log_file.exists():
            return ""
        tail = self.log_file.read_text(errors="replace").strip().splitlines()[-5:]
        return f"; its log {self.log_file} ends:\n" + "\n".join(tail)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; idempotent."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> PrefectServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_api() -> None:
    """Fail with a clear message when the configured Prefect API does not answer."""
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    async def probe() -> Exception | None:
        async with get_client() as client:
            return await client.api_healthcheck()

    problem = asyncio.run(probe())
    if problem is not None:
        url = get_current_settings().api.url
        raise ServeError(
            f"the Prefect API at {url} does not answer ({type(problem).__name__}: {problem}); "
            "check PREFECT_API_URL (and PREFECT_API_KEY for Prefect Cloud), or unset "
            "PREFECT_API_URL to let `adoptwatch serve` start a server on 127.0.0.1"
        )


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt() -> Iterator[None]:
    """Until Prefect's runner installs its own handler, SIGTERM stops us like Ctrl-C
    does, so that ``finally`` blocks (stopping the server) run."""

    with handling(raise_keyboard_interrupt, [signal.SIGTERM]):
        yield


def serve_deployments(
    deployments: Sequence[RunnerDeployment],
    on_ready: Callable[[list[UUID]], Any] | None = None,
    name: str = "adoptwatch-serve",
) -> None:
    """Register ``deployments`` with the current Prefect API and run their scheduled
    runs until SIGTERM or Ctrl-C.

    ``on_ready`` is called once the runner has started its services and loops, not
    before: a Ctrl-C that arrives while the runner is still starting can land inside an
    import or a half-entered service and escape as some other error.

    From then on Ctrl-C (SIGINT) stops the runner the way Prefect's own SIGTERM handler
    does (``Runner.astop``: runs in flight are cancelled, then the loops end); a second
    Ctrl-C cancels outright. The handler is ours because asyncio installs one only where
    SIGINT has Python's default handler: a serve started in the background of a script
    inherits SIGINT ignored, and ``kill -INT`` would never stop it.

    Schedules stay active when this stops (``pause_on_shutdown=False``): runs that fall
    due meanwhile wait, as Late, for the next ``serve``.
    """
    # prefect.runner.server is imported here rather than inside Runner.start, so that
    # its slow first import is done before anyone is told serve is ready.
    import prefect.runner.server  # noqa: F401
    from prefect.runner import Runner

    runner = Runner(name=name, pause_on_shutdown=False)

    async def main() -> None:
        ids = [await runner.aadd_deployment(d) for d in deployments]
        started = asyncio.create_task(runner.start())
        while not runner.started:
            if started.done():
                await started  # it failed (or stopped) while starting: say why
                return
            await asyncio.sleep(0.05)

        loop = asyncio.get_running_loop()
        stopping: list[asyncio.Task[None]] = []  # a reference, so the task is not collected

        def stop_or_cancel() -> None:
            if runner.stopping:
                started.cancel()
            else:
                runner.stopping = True
                stopping.append(asyncio.create_task(runner.astop()))

        def ctrl_c(signum: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(stop_or_cancel)

        with handling(ctrl_c, [signal.SIGINT]), contextlib.suppress(asyncio.CancelledError):
            if on_ready is not None:
                on_ready(ids)
            await started

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
