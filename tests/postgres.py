"""A real PostgreSQL server for the tests, started and stopped by the test session.

Debian's ``postgresql`` package provides the binaries (``.ci/run`` installs it when it is
missing); ``initdb`` puts a cluster into a temporary directory and ``pg_ctl`` runs it on
a free loopback port, with no Unix socket outside that directory. ``initdb`` refuses to
run as root, so as root the server runs as the ``postgres`` user (or ``nobody``).
Nothing is installed or downloaded here: without the binaries the tests that need the
server are skipped, and say why.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: $PG_BINDIR, Debian's versioned
    directories (newest first), then PATH."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for directory in candidates:
        if (
            directory
            and (Path(directory) / "initdb").is_file()
            and (Path(directory) / "pg_ctl").is_file()
        ):
            return Path(directory)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """Who runs the server: None for the current user, a name when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return None


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    user: str | None  # the OS user running the server (None: us)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False
        )

    def start(self) -> PostgresServer:
        init = self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        if init.returncode:
            raise RuntimeError(f"initdb failed: {init.stderr[-2000:]}")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        started = self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip
        if started.returncode:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl start failed: {started.stderr[-1000:]} {log}")
        return self

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def conninfo(self, dbname: str) -> str:
        return f"dbname={dbname} host=127.0.0.1 port={self.port} user=postgres"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its conninfo."""
        made = self._run(
            str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
            "-U", "postgres", name,
        )  # fmt: skip
        if made.returncode:
            raise RuntimeError(f"createdb {name} failed: {made.stderr}")
        return self.conninfo(name)


def start_server() -> PostgresServer:
    """Start a throwaway server; raises RuntimeError with the reason when it cannot."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(
            "no PostgreSQL binaries (initdb, pg_ctl): install Debian's postgresql package "
            "(.ci/run does), or set PG_BINDIR"
        )
    user = _server_user()
    if os.geteuid() == 0 and user is None:
        raise RuntimeError("running as root and no postgres or nobody user to run initdb as")
    root = Path(tempfile.mkdtemp(prefix="adoptwatch-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    root.chmod(0o700)
    return PostgresServer(bindir, root, _free_port(), user).start()
