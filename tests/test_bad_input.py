"""Bad input, careless or hostile, gets one clean line and loses nothing (issue 17, cases 6-9).

Terminal escapes in titles, source names that differ only by spaces, settings out of
range, malformed URLs and files that are not UTF-8, an unwritable --db, a 10 MB name:
each is refused before anything starts (no database, no lock, no Prefect server), with a
message naming the file, the source or the key, and a non-zero exit. Every command is run
with every bad input.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from adoptwatch.cli import main
from adoptwatch.pipeline.ingest import run_ingest
from adoptwatch.serve import free_port
from adoptwatch.storage import store
from adoptwatch.storage.db import ingest_lock_path, read_session, write_session
from tests.conftest import REPO, make_settings
from tests.httpserver import RouteServer, static
from tests.test_cli import seed

ADOPTWATCH = str(Path(sys.executable).with_name("adoptwatch"))


def run(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ADOPTWATCH_")}
    base.pop("PREFECT_API_URL", None)  # a bad input must fail before any server is needed
    return subprocess.run(
        [ADOPTWATCH, *args], capture_output=True, text=True, cwd=cwd, env=base | env,
        timeout=300,
    )  # fmt: skip


def one_clean_line(done: subprocess.CompletedProcess[str] | click.testing.Result) -> str:
    text = done.stderr  # the error, on stderr; stdout may have said what was starting
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), text
    assert len(lines[0]) < 600, f"{len(lines[0])} characters"
    return lines[0]


# --- case 6: terminal escapes --------------------------------------------------------------


def test_escapes_in_titles_are_not_stored_and_never_printed(tmp_path: Path) -> None:
    esc_title = "Airbnb &#27;[5mreplaces&#27;[0m ChatGPT &#x202e;with Qwen&#7;"
    page = (
        f"<html><head><title>{esc_title}</title></head><body><article><h1>{esc_title}</h1>"
        "<p>Airbnb replaced ChatGPT with Qwen in its customer support agent, the company "
        "said on Tuesday. The switch took three months and covers every market.</p>"
        "<p>Engineers said the new model answers faster and costs less to run.</p>"
        "</article></body></html>"
    ).encode()
    with RouteServer() as srv:
        feed = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            f"<item><title>{esc_title}</title><link>{srv.url('/a')}</link><guid>a</guid>"
            "</item></channel></rss>"
        ).encode()
        srv.routes["/feed.xml"] = static(feed, content_type="application/rss+xml")
        srv.routes["/a"] = static(page, content_type="text/html")
        srv.routes["/robots.txt"] = static(b"", content_type="text/plain")
        sources = tmp_path / "sources.toml"
        sources.write_text(f'[[sources]]\nname = "esc"\nurl = "{srv.url("/feed.xml")}"\n')
        settings = make_settings(tmp_path, sources=sources)
        summary = asyncio.run(run_ingest(settings))
    assert summary.articles_new == 1
    with read_session(settings.db) as con:
        titles = store.run_query(
            con, "SELECT title FROM articles UNION ALL SELECT title FROM feed_entries"
        ).rows
    for (title,) in titles:
        assert title == "Airbnb [5mreplaces [0m ChatGPT with Qwen", repr(title)

    # Rows stored before this fix still hold escapes: the table view defuses them.
    with write_session(settings.db) as con:
        con.execute("UPDATE articles SET title = 'a' || chr(27) || ']0;pwned' || chr(7) || 'b'")
    done = run("query", 'SELECT title AS "t\x1b" FROM articles', "--db", str(settings.db))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "a\\x1b]0;pwned\\x07b" in done.stdout and "t\\x1b" in done.stdout


# --- case 7: source names ----------------------------------------------------------------------


def write_sources(path: Path, *tables: tuple[str, str]) -> Path:
    path.write_text(
        "".join(f"[[sources]]\nname = {n}\nurl = {u}\n" for n, u in tables), encoding="utf-8"
    )
    return path


@pytest.mark.parametrize(
    ("names", "shown"),
    [(('"a"', '" a "'), "'a'"), (('"Tech  News"', '"tech news"'), "'tech news'")],
)
def test_source_names_that_differ_only_by_spaces_or_case_are_one_name_listed_twice(
    tmp_path: Path, names: tuple[str, str], shown: str
) -> None:
    sources = write_sources(
        tmp_path / "sources.toml",
        (names[0], '"https://one.example/feed"'),
        (names[1], '"https://two.example/feed"'),
    )
    db = tmp_path / "x.duckdb"
    done = run("ingest", "--sources", str(sources), "--db", str(db))
    assert done.returncode == 1
    line = one_clean_line(done)
    assert str(sources) in line and shown in line and "listed twice" in line
    assert not db.exists()


def test_names_are_stored_as_one_line_without_control_characters(tmp_path: Path) -> None:
    from adoptwatch.pipeline.sources import load_sources

    sources = write_sources(
        tmp_path / "s.toml", ('"  Tech\\u001b[5m\\tNews \\u202e "', '"https://a.example/f"')
    )
    assert [s.name for s in load_sources(sources)] == ["Tech [5m News"]


# --- case 8: settings out of range ---------------------------------------------------------------

BAD_SETTINGS = {
    "max_entries_per_feed": "-1",
    "max_body_bytes": "-1",
    "max_redirects": "-1",
    "request_deadline": "nan",
    "per_host_delay": "1e300",
    "query_memory_limit": "80%",
    "serve_port": "0",
}


@pytest.mark.parametrize(("key", "value"), BAD_SETTINGS.items())
def test_a_setting_out_of_range_stops_the_ingest_before_anything(
    tmp_path: Path, key: str, value: str
) -> None:
    sources = write_sources(tmp_path / "sources.toml", ('"a"', '"https://a.example/feed"'))
    db = tmp_path / "x.duckdb"
    done = run("ingest", "--sources", str(sources), "--db", str(db),
               **{f"ADOPTWATCH_{key.upper()}": value})  # fmt: skip
    assert done.returncode == 1
    line = one_clean_line(done)
    assert f"ADOPTWATCH_{key.upper()}" in line and key in line
    assert not db.exists(), "nothing may start (no fetch, no failure counted)"


def test_a_settings_file_out_of_range_is_named(tmp_path: Path) -> None:
    config = tmp_path / "adoptwatch.toml"
    config.write_text("request_deadline = nan\nmax_redirects = -1\n")
    done = run("--config", str(config), "query", "SELECT 1")
    assert done.returncode == 1
    line = one_clean_line(done)
    assert str(config) in line and ("request_deadline" in line or "max_redirects" in line)


# --- case 9: tracebacks and slow errors --------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('name = "v6"\nurl = "http://[::1"\n', "source 'v6': url 'http://[::1': not a valid URL"),
        ('name = "p"\nurl = "http://a.example:99999/"\n', "source 'p'"),
        ('name = "f"\nurl = "file:///etc/passwd"\n', "not an http(s) URL"),
        ('name = "s"\nurl = "http://a.example/x y"\n', "spaces or control characters"),
    ],
)
def test_a_bad_source_url_is_named_before_prefect_starts(
    tmp_path: Path, table: str, expected: str
) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text("[[sources]]\n" + table)
    db = tmp_path / "x.duckdb"
    done = run("ingest", "--sources", str(sources), "--db", str(db))
    assert done.returncode == 1
    line = one_clean_line(done)
    assert str(sources) in line and expected in line
    # Refused before the lock is taken, so before Prefect and its server.
    assert not ingest_lock_path(db).exists() and not db.exists()


def test_files_that_are_not_utf8_are_named(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_bytes(b'[[sources]]\nname = "caf\xe9"\nurl = "https://a.example/"\n')
    done = run("ingest", "--sources", str(sources), "--db", str(tmp_path / "x.duckdb"))
    assert done.returncode == 1 and "not UTF-8" in one_clean_line(done)
    config = tmp_path / "cfg.toml"
    config.write_bytes(b'user_agent = "caf\xe9"\n')
    done = run("--config", str(config), "query", "SELECT 1")
    assert done.returncode == 1
    line = one_clean_line(done)
    assert str(config) in line and "not UTF-8" in line


def test_a_10_mb_source_name_is_not_echoed(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    name = "n" * 10_000_000
    sources.write_text(f'[[sources]]\nname = "{name}"\nurl = "http://[::1"\n')
    done = run("ingest", "--sources", str(sources), "--db", str(tmp_path / "x.duckdb"))
    assert done.returncode == 1
    assert "over 200 characters" in one_clean_line(done)
    assert len(done.stderr) < 600


def test_an_unwritable_db_path_is_a_clean_error(tmp_path: Path) -> None:
    done = run("ingest", "--db", "/proc/x.duckdb")
    assert done.returncode == 1
    line = one_clean_line(done)
    assert "/proc/x.duckdb" in line and "writable folder" in line


# --- every command, every bad input -----------------------------------------------------------


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


COMMANDS = _commands(main)
# What each command needs besides the bad input, to get as far as it can.
ARGS = {
    ("query",): ["SELECT 1"],
    ("extract",): ["Airbnb adopted Qwen."],
    ("digest",): ["--to", "team@example.com"],
    ("sources", "enable"): ["a"],
    ("sources", "disable"): ["a"],
    ("company",): ["Airbnb"],
    ("model",): ["Qwen"],
    ("export",): ["--format", "csv", "--out", "never-written"],
    ("watch",): ["list"],
    ("watch", "add"): ["--company", "Airbnb"],
    ("watch", "remove"): ["0123456789ab"],
    # Never reached: the settings are checked first (nothing is created).
    ("migrate",): ["--from", "never-read.duckdb", "--to", "never-written.duckdb"],
}


def _takes(command: tuple[str, ...], option: str) -> bool:
    target: click.Command = main
    for name in command:
        assert isinstance(target, click.Group)
        target = target.commands[name]
    return any(option in p.opts for p in target.params)


def _invoke(args: list[str], env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=True)


def _args(command: tuple[str, ...], tmp_path: Path, db: str | None = None) -> list[str]:
    args = [*command, *ARGS.get(command, [])]
    if _takes(command, "--db"):
        args += ["--db", db or str(tmp_path / "x.duckdb")]
    if command == ("demo",):
        args += ["--port", str(free_port())]
    return args


def test_every_command_is_covered() -> None:
    assert {" ".join(c) for c in COMMANDS} >= {
        "ingest", "query", "extract", "reextract", "digest", "sources", "sources list",
        "sources enable", "sources disable", "serve", "deployments", "demo",
    }  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_refuses_each_bad_setting_with_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    for key, value in BAD_SETTINGS.items():
        result = _invoke(_args(command, tmp_path), env={f"ADOPTWATCH_{key.upper()}": value})
        assert result.exit_code == 1, (key, result.output, result.exc_info)
        assert key in one_clean_line(result), key
    config = tmp_path / "latin1.toml"
    config.write_bytes(b'user_agent = "caf\xe9"\n')
    result = _invoke(["--config", str(config), *_args(command, tmp_path)])
    assert result.exit_code == 1 and "not UTF-8" in one_clean_line(result)
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.parametrize("command", [c for c in COMMANDS if _takes(c, "--db")], ids=" ".join)
def test_every_command_with_a_db_refuses_an_unusable_path_with_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = _invoke(_args(command, tmp_path, db="/proc/x.duckdb"))  # cannot be created
    assert result.exit_code == 1, (result.output, result.exc_info)
    assert "/proc/x.duckdb" in one_clean_line(result)


def test_ingest_and_demo_refuse_a_bad_sources_file_with_one_line(tmp_path: Path) -> None:
    bad = {
        "ipv6": '[[sources]]\nname = "v6"\nurl = "http://[::1"\n',
        "twice": '[[sources]]\nname = "a"\nurl = "https://a.example/"\n' * 2,
        "huge name": f'[[sources]]\nname = "{"n" * 1_000_000}"\nurl = "https://a.example/"\n',
    }
    for label, text in bad.items():
        sources = tmp_path / f"{label}.toml"
        sources.write_text(text)
        result = _invoke(["ingest", "--sources", str(sources), "--db", str(tmp_path / "x.duckdb")])
        assert result.exit_code == 1, (label, result.output, result.exc_info)
        assert str(sources) in one_clean_line(result), label
    seed(tmp_path / "seeded.duckdb")
    result = _invoke(["sources", "enable", "\x1b[5m" + "n" * 100_000, "--db",
                      str(tmp_path / "seeded.duckdb")])  # fmt: skip
    assert result.exit_code == 1 and "no source named" in one_clean_line(result)
    assert "\x1b" not in result.output
