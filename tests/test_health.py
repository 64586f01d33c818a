"""Source health: consecutive failures, automatic disabling, and the `adoptwatch sources`
commands that show and reset it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from adoptwatch.cli import main
from adoptwatch.pipeline.ingest import IngestSummary, run_ingest
from adoptwatch.settings import Settings
from adoptwatch.storage import store
from adoptwatch.storage.db import read_session
from tests import hostile
from tests.conftest import make_settings
from tests.httpserver import RouteServer, respond

EMPTY_FEED = hostile.rss([], title="A quiet feed")


def ingest(settings: Settings) -> IngestSummary:
    return asyncio.run(run_ingest(settings))


def health(settings: Settings) -> dict[str, tuple]:
    with read_session(settings.db) as con:
        return {
            r["name"]: (r["enabled"], r["consecutive_failures"], r["last_error_class"])
            for r in store.list_sources(con)
        }


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "300"})
    return result.exit_code, result.output


class Switch:
    """A feed that answers 503 while ``down`` and a valid empty feed otherwise."""

    def __init__(self) -> None:
        self.down = True

    def __call__(self, req) -> None:  # type: ignore[no-untyped-def]
        if self.down:
            respond(req, 503, b"maintenance", content_type="text/plain")
        else:
            respond(req, 200, EMPTY_FEED, content_type="application/rss+xml")


def test_failures_count_up_disable_the_source_and_enable_resets(tmp_path: Path) -> None:
    flaky = Switch()
    with RouteServer() as srv:
        srv.routes["/flaky.xml"] = flaky
        srv.routes["/good.xml"] = lambda req: respond(req, 200, EMPTY_FEED, None,
                                                      "application/rss+xml")  # fmt: skip
        (tmp_path / "sources.toml").write_text(
            f'[[sources]]\nname = "good"\nurl = "{srv.url("/good.xml")}"\n'
            f'[[sources]]\nname = "flaky"\nurl = "{srv.url("/flaky.xml")}"\n'
        )
        settings = make_settings(tmp_path, max_retries=0, max_consecutive_failures=2)
        db = str(settings.db)

        first = ingest(settings)
        assert first.disabled_sources == []
        assert health(settings)["flaky"] == (True, 1, "http_status")
        code, out = cli("sources", "--db", db)
        assert code == 0
        flaky_line = next(line for line in out.splitlines() if "flaky" in line)
        assert "yes" in flaky_line and "503" in flaky_line and "http_status" in flaky_line

        second = ingest(settings)
        assert second.disabled_sources == ["flaky"]
        assert health(settings)["flaky"] == (False, 2, "http_status")
        assert health(settings)["good"] == (True, 0, None)

        hits = len(srv.hits_for("/flaky.xml"))
        third = ingest(settings)
        assert len(srv.hits_for("/flaky.xml")) == hits  # a disabled source is not fetched
        assert third.sources_disabled_skipped == 1 and third.feeds_total == 1

        code, out = cli("sources", "list", "--db", db)
        assert code == 0
        flaky_line = next(line for line in out.splitlines() if "flaky" in line)
        assert "no" in flaky_line and "disabled after 2 consecutive failures" in flaky_line
        assert "HTTP 503" in flaky_line

        code, out = cli("sources", "enable", "flaky", "--db", db)
        assert (code, out.strip()) == (0, "flaky: enabled")
        assert health(settings)["flaky"] == (True, 0, "http_status")  # last error still shown

        flaky.down = False
        fourth = ingest(settings)
        assert fourth.feeds_failed == 0 and len(srv.hits_for("/flaky.xml")) == hits + 1
        assert health(settings)["flaky"] == (True, 0, None)


def test_a_success_resets_the_counter(tmp_path: Path) -> None:
    flaky = Switch()
    with RouteServer() as srv:
        srv.routes["/flaky.xml"] = flaky
        (tmp_path / "sources.toml").write_text(
            f'[[sources]]\nname = "flaky"\nurl = "{srv.url("/flaky.xml")}"\n'
        )
        settings = make_settings(tmp_path, max_retries=0, max_consecutive_failures=2)
        for down in (True, False, True):
            flaky.down = down
            assert ingest(settings).disabled_sources == []
    assert health(settings)["flaky"] == (True, 1, "http_status")


def test_zero_means_never_disable(tmp_path: Path) -> None:
    with RouteServer() as srv:
        srv.routes["/flaky.xml"] = Switch()
        (tmp_path / "sources.toml").write_text(
            f'[[sources]]\nname = "flaky"\nurl = "{srv.url("/flaky.xml")}"\n'
        )
        settings = make_settings(tmp_path, max_retries=0, max_consecutive_failures=0)
        for _ in range(3):
            ingest(settings)
    assert health(settings)["flaky"] == (True, 3, "http_status")


def test_disable_by_hand_and_unknown_names(tmp_path: Path) -> None:
    with RouteServer() as srv:
        srv.routes["/good.xml"] = lambda req: respond(req, 200, EMPTY_FEED, None,
                                                      "application/rss+xml")  # fmt: skip
        (tmp_path / "sources.toml").write_text(
            f'[[sources]]\nname = "good"\nurl = "{srv.url("/good.xml")}"\n'
        )
        settings = make_settings(tmp_path)
        db = str(settings.db)
        ingest(settings)
        code, out = cli("sources", "--db", db, "disable", "good")
        assert (code, out.strip()) == (0, "good: disabled")
        summary = ingest(settings)
        assert summary.feeds_total == 0 and summary.sources_disabled_skipped == 1
        code, out = cli("sources", "--db", db)
        assert "disabled by user" in out

    code, out = cli("sources", "enable", "no-such-source", "--db", db)
    assert code == 1 and out.startswith("Error: no source named 'no-such-source'")
    assert "adoptwatch sources" in out and "Traceback" not in out
    code, out = cli("sources", "--db", str(tmp_path / "missing.duckdb"))
    assert code == 1 and "adoptwatch ingest" in out
