"""The ``adoptwatch`` command group and most of its commands: a thin shell over plain
functions (the commands over the stored event log are in :mod:`adoptwatch.cli.event_log`).

Library errors become clean one-line messages here, at the edge, and nowhere else.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.table import Table

from adoptwatch import __version__
from adoptwatch.errors import AdoptwatchError
from adoptwatch.pipeline.progress import NoProgress
from adoptwatch.settings import Settings, load_settings

# Prefect must never phone home from here (there is no network), and its INFO logs
# would interleave with our progress display. Users can still override both.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# The temporary API server takes ~12 s to start on an idle two-core machine; far more
# when the machine is busy.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

DEFAULT_DEMO_DB = "data/demo.duckdb"

err_console = Console(stderr=True)


class AdoptwatchGroup(click.Group):
    """Turns any :class:`~adoptwatch.errors.AdoptwatchError` into ``Error: ...`` and exit
    status 1: the one place where library errors become messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AdoptwatchError as exc:
            raise click.ClickException(_message(exc)) from exc


class Stopped(click.ClickException):
    """A command that ends early on purpose: one line and its own exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _message(exc: AdoptwatchError) -> str:
    from adoptwatch.digest import SendFailed

    if isinstance(exc, SendFailed):
        hint = (
            "the server may be down or busy: run the same command again to retry"
            if exc.transient
            else "fix the SMTP settings or the recipients, then run the command again"
        )
        return f"digest not sent: {exc}. {hint.capitalize()}; the attempt is in digest_log."
    return _one_line(exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if "\n" not in text else text.splitlines()[0]


class CliState:
    def __init__(self, config: Path | None) -> None:
        self.config = config

    def settings(self, **overrides: Any) -> Settings:
        """The settings, with the command's flags (``None``: not given) on top;
        ``allow_networks`` adds to the configured networks."""
        extra_networks = overrides.pop("allow_networks", None) or ()
        return load_settings(self.config, overrides=overrides).allowing(extra_networks)


pass_state = click.make_pass_decorator(CliState)


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        metavar="PATH|URL",
        help="The event log: a DuckDB file, or a DuckLake (ducklake:sqlite:PATH, "
        "ducklake:postgres:dbname=... host=... port=... user=...). Default: "
        "data/adoptwatch.duckdb, or $ADOPTWATCH_DB.",
    )(func)


def lake_data_path_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--lake-data-path",
        "lake_data_path",
        metavar="DIR",
        help="Where a new DuckLake keeps its Parquet files (a directory every writer "
        "reaches); default: $ADOPTWATCH_LAKE_DATA_PATH, or PATH.files/ beside a SQLite "
        "catalog. An existing lake knows its own.",
    )(func)


@click.group(cls=AdoptwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Settings file (TOML) overriding adoptwatch/defaults.toml key by key; "
    "default: ./adoptwatch.toml when present, or $ADOPTWATCH_CONFIG.",
)
@click.version_option(__version__, prog_name="adoptwatch")
@click.pass_context
def main(ctx: click.Context, config: Path | None) -> None:
    """Track which companies adopt which AI models, from tech news and blogs.

    Crawl feeds with `adoptwatch ingest`, then ask the event log questions with
    `adoptwatch query`. `adoptwatch demo` does it all offline on a bundled site.
    """
    ctx.obj = CliState(config)


# --- progress -----------------------------------------------------------------------


class RichProgress:
    """The pipeline's progress protocol (:class:`adoptwatch.pipeline.progress.Progress`)
    drawn with rich, one bar per stage."""

    # Slots, no __dict__: passed as a flow parameter, Prefect stores it as "<RichProgress>"
    # instead of trying to serialise the live display.
    __slots__ = ("_progress", "_task")

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: Any = None

    def stage(self, name: str, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=True)
        self._task = self._progress.add_task(name, total=max(total, 0))

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def __reduce__(self) -> tuple[Any, ...]:
        # The display belongs to the process drawing it. With Dask, Prefect ships each
        # task's context, the flow's parameters included, to the workers: a copy made
        # there reports nowhere (pickling the live display fails on its locks).
        return (NoProgress, ())


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )


def _run_flow_ingest(settings: Settings, quiet: bool = False) -> dict[str, Any]:
    """Run the Prefect ingest flow in this process with a progress display
    (:func:`adoptwatch.ingest_run.run_flow_ingest`)."""
    from adoptwatch.ingest_run import IngestInterrupted, run_flow_ingest

    def say(text: str) -> None:
        err_console.print(text, highlight=False, markup=False, soft_wrap=True)

    try:
        with _progress_bar(err_console) as bar:
            return run_flow_ingest(settings, None if quiet else RichProgress(bar), say)
    except IngestInterrupted as exc:
        raise Stopped(str(exc), 128 + exc.signum) from None


# --- ingest -------------------------------------------------------------------------


@main.command()
@click.option(
    "--sources",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sources file ([[sources]] with name, url, tags; default: sources.toml).",
)
@db_option
@lake_data_path_option
@click.option(
    "--allow-network",
    "allow_networks",
    multiple=True,
    metavar="CIDR",
    help="Allow connections into this private/loopback network (repeatable). "
    "Also $ADOPTWATCH_ALLOW_NETWORKS, comma-separated.",
)
@click.option(
    "--wait",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Wait this long for another ingest of the same database to finish.",
)
@click.option(
    "--dask-address",
    metavar="tcp://HOST:PORT",
    default=None,
    help="Fan text and claim extraction out to this running Dask scheduler (its workers "
    "must run this project's venv). Fetching and writing stay here.",
)
@click.option(
    "--dask-workers",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Start a local Dask cluster of N worker processes for the extraction.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@pass_state
def ingest(
    state: CliState,
    sources: Path | None,
    db: str | None,
    lake_data_path: str | None,
    allow_networks: tuple[str, ...],
    wait: float | None,
    dask_address: str | None,
    dask_workers: int | None,
    as_json: bool,
) -> None:
    """Crawl every enabled source once and store new articles and adoption events.

    Exits 0 when the run completed, even if some sources failed: failures are listed in
    the summary and recorded in the fetch_log table.

    With --dask-address or --dask-workers the CPU work (article text and claims, per
    batch of write_batch_size articles) runs on Dask workers; the events are the same.
    """
    if dask_address and dask_workers:
        raise click.UsageError("give --dask-address or --dask-workers, not both")
    dask: dict[str, Any] = {}
    if dask_address:
        dask = {"dask_address": dask_address, "dask_workers": 0}
    elif dask_workers:
        dask = {"dask_address": "", "dask_workers": dask_workers}
    settings = state.settings(
        sources=sources,
        db=db,
        lake_data_path=lake_data_path,
        allow_networks=allow_networks,
        ingest_wait=wait,
        **dask,
    )
    summary = _run_flow_ingest(settings)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        _print_summary(summary, Console())


def _print_summary(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="Ingest summary", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, key in [
        ("feeds fetched", "feeds_fetched"),
        ("feeds unchanged (304)", "feeds_unchanged"),
        ("feeds failed", "feeds_failed"),
        ("new feed entries", "entries_new"),
        ("new articles", "articles_new"),
        ("duplicate articles", "articles_duplicate"),
        ("failed articles", "articles_failed"),
        ("new adoption events", "events_new"),
        ("new model mentions", "mentions_new"),
        ("new watchlist alerts", "alerts_queued"),
    ]:
        table.add_row(label, str(summary.get(key, 0)))
    console.print(table)
    alerts = summary.get("alerts") or {}
    if alerts.get("due") or alerts.get("error"):
        console.print(
            f"alerts: {alerts.get('sent', 0)} sent, {alerts.get('failed', 0)} failed "
            f"(retried next run), {alerts.get('no_channel', 0)} with no channel set"
            + "".join(f"; {e}" for e in alerts.get("errors", [])[:2])
            + (f"; {alerts['error']}" if alerts.get("error") else ""),
            highlight=False,
        )
    for failure in summary.get("failed_sources", []):
        console.print(
            f"[yellow]feed failed[/] {failure['source']}: "
            f"[bold]{failure['error_class']}[/] {failure['error']}",
            markup=True,
            highlight=False,
        )
    for run_id in summary.get("runs_closed", []):
        console.print(
            f"[yellow]closed run {run_id}[/]: a killed ingest left it open; it is marked "
            "interrupted in the runs table",
            highlight=False,
        )
    for name in summary.get("disabled_sources", []):
        console.print(
            f"[red]disabled[/] {name} after repeated failures; "
            f"re-enable with `adoptwatch sources enable {name}`"
        )


# --- query --------------------------------------------------------------------------


@main.command()
@click.argument("sql")
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format: a table (at most query_max_rows rows), CSV with a header row, or "
    "JSON (a list of row objects); CSV and JSON stream every row.",
)
@pass_state
def query(state: CliState, sql: str, db: str | None, fmt: str) -> None:
    """Run SQL over the event log (read-only) and print the result.

    Tables: adoption_events, model_mentions, articles, feed_entries, sources, fetch_log,
    runs, digest_log. The database opens read-only with no file access, so a query can
    neither change the data nor read or write other files; while an ingest is writing,
    the query waits for its short write to finish.

    Limits (settings): query_timeout seconds (then exit status 2), query_memory_limit,
    query_max_rows for the table. Ctrl-C stops a query (exit status 130).

    Example: adoptwatch query "SELECT adopter, model FROM adoption_events LIMIT 5"
    """
    from adoptwatch.query_view import print_query
    from adoptwatch.storage.sandbox import QueryCancelled, QueryTimeout

    settings = state.settings(db=db)
    try:
        print_query(settings, sql, fmt, err=err_console)
    except QueryTimeout as exc:
        raise Stopped(str(exc), exit_code=2) from exc
    except (QueryCancelled, KeyboardInterrupt) as exc:
        raise Stopped("the query was stopped (Ctrl-C); nothing changed", 130) from exc
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and nothing to flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(141) from None


# --- extract --------------------------------------------------------------------------


@main.command()
@click.option(
    "--jsonl",
    is_flag=True,
    help='Read JSON lines {"id": ..., "text": ..., "title": ...} (title optional) on stdin; '
    'write one line per input line, in order: {"id": ..., "claims": [...]}, or '
    '{"id": ..., "error": "..."} for a line that cannot be read. Exit status 1 when any '
    "line failed.",
)
@click.option(
    "--title",
    default="",
    help='The article\'s title, read with TEXT ("the company" may be whom it names).',
)
@click.argument("text", required=False)
@pass_state
def extract(state: CliState, jsonl: bool, title: str, text: str | None) -> None:
    """Extract adoption claims from text (an argument, stdin, or JSON lines with --jsonl).

    Texts longer than max_article_chars are refused. With --jsonl every line stands on
    its own: a bad line (not UTF-8, not JSON, no "text", too long, too deep) gives an
    error line in its place and the run goes on; the exit status is 1 when any line
    failed, 0 when none did.
    """
    from adoptwatch.extractors.claims import get_extractor
    from adoptwatch.pipeline.extract_lines import extract_lines
    from adoptwatch.query_view import result_table

    settings = state.settings()
    if not jsonl:
        text = _one_text(text, settings.max_article_chars)
    extractor = get_extractor(settings.spacy_pipeline)
    if jsonl:
        tally = extract_lines(
            extractor, sys.stdin.buffer, sys.stdout.buffer, settings.max_article_chars
        )
        if tally.failed:
            first = "; ".join(tally.failures)
            raise Stopped(
                f"{tally.failed} of {tally.lines} line(s) failed (their error lines are in "
                f"the output), first: {first}"[:1000],
                exit_code=1,
            )
        return
    assert text is not None
    claims = extractor.extract(text, title).claims
    rows = [
        (c.adopter, c.relation, c.model, c.model_family, c.vendor, c.origin_country,
         f"{c.confidence:.2f}")
        for c in claims
    ]  # fmt: skip
    columns = ("adopter", "relation", "model", "family", "vendor", "origin", "conf")
    title = f"{len(claims)} claim(s) — extractor {extractor.version}"
    Console().print(result_table(columns, rows, title=title))


def _one_text(text: str | None, max_chars: int) -> str:
    """The text to extract from, from the argument or stdin, checked like a JSON line's."""
    if text is None:
        if sys.stdin.isatty():
            raise click.UsageError("give TEXT, pipe text on stdin, or use --jsonl")
        raw = sys.stdin.buffer.read(4 * max_chars + 1)  # UTF-8: at most 4 bytes a character
        if len(raw) > 4 * max_chars:
            raise click.ClickException(
                f"the text is over max_article_chars ({max_chars:,} characters); split it"
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"stdin is not UTF-8 text (byte {exc.start})") from None
    if len(text) > max_chars:
        raise click.ClickException(
            f"the text is over max_article_chars ({max_chars:,} characters); split it"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise click.ClickException("the text is not valid Unicode (a lone surrogate)") from None
    return text


# --- reextract ---------------------------------------------------------------------------


@main.command()
@db_option
@click.option("--all", "include_current", is_flag=True, help="Re-extract every article.")
@click.option(
    "--pages",
    "from_pages",
    is_flag=True,
    help="First extract each article's text again from its stored page bytes (after an "
    "article-extraction upgrade), then its claims; implies --all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def reextract(
    state: CliState, db: str | None, include_current: bool, from_pages: bool, as_json: bool
) -> None:
    """Re-run the current claims extractor over stored article text (no re-crawl).

    Events from older extractor versions are replaced; prints what changed. With --pages
    the text itself is extracted again from the page bytes kept in the database.
    """
    from adoptwatch.digest.alerts import deliver_alerts_now
    from adoptwatch.pipeline.reextract import reextract as run_reextract

    settings = state.settings(db=db)
    with _progress_bar(err_console) as bar:
        report = run_reextract(
            settings,
            include_current=include_current,
            progress=RichProgress(bar),
            from_pages=from_pages,
        )
    delivery = deliver_alerts_now(settings)  # what the changed facts queued
    if as_json:
        data = report.as_dict() | {
            "examples_added": report.examples_added,
            "examples_removed": report.examples_removed,
            "alerts": delivery.as_dict(),
        }
        click.echo(json.dumps(data, indent=2, default=str))
        return
    console = Console()
    console.print(
        f"Re-extracted {report.articles} article(s) with {report.extractor_version}: "
        f"{report.events_before} event(s) before, {report.events_after} after; "
        f"{sum(report.added.values())} added, {sum(report.removed.values())} removed."
        + (
            f" Texts from stored pages: {report.texts_changed} changed, "
            f"{report.pages_failed} page(s) gave none (old text kept)."
            if from_pages
            else ""
        )
    )
    for label, examples in (("+", report.examples_added), ("-", report.examples_removed)):
        for e in examples:
            console.print(f"  {label} {e['adopter']} {e['relation']} {e['model']}", highlight=False)


# --- digest ----------------------------------------------------------------------------------


@main.command()
@click.option(
    "--week",
    metavar="YYYY-Www",
    help="ISO week to report, e.g. 2026-W48 (default: the last complete week, in digest_timezone).",
)
@db_option
@click.option(
    "--to",
    "recipients",
    multiple=True,
    metavar="ADDR",
    help="Recipient address (repeatable); replaces mail_to / $ADOPTWATCH_MAIL_TO.",
)
@click.option(
    "--dry-run",
    "dry_run",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.eml",
    help="Write the message to FILE.eml, and FILE.html beside it, instead of sending.",
)
@click.option("--force", is_flag=True, help="Send even if this week's digest was already sent.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def digest(
    state: CliState,
    week: str | None,
    db: str | None,
    recipients: tuple[str, ...],
    dry_run: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Email the weekly digest: new adopters, switches, model rankings, origin share.

    A week is sent once: digest_log records what went to whom, and running again sends
    nothing unless --force. A failed send is recorded too; run the command again to
    retry it. SMTP comes from the smtp_* settings ($ADOPTWATCH_SMTP_HOST, _PORT,
    _STARTTLS, _SSL, _USER, _PASSWORD; $ADOPTWATCH_MAIL_FROM, $ADOPTWATCH_MAIL_TO) or
    from the Prefect EmailServerCredentials block named by email_credentials_block.

    Example: adoptwatch digest --week 2026-W48 --dry-run out/digest.eml
    """
    from adoptwatch import digest as dg

    settings = state.settings(db=db)
    result = dg.deliver_digest(
        settings, week, list(recipients) or None, force=force, dry_run_path=dry_run
    )
    if as_json:
        click.echo(json.dumps(result.summary(), indent=2, default=str))
        return
    console = Console()
    style = {"sent": "green", "skipped": "yellow", "dry-run": "cyan"}[result.status]
    console.print(f"[bold {style}]{result.status}[/] {result.subject}", highlight=False)
    console.print(result.detail, highlight=False)


# --- schedules --------------------------------------------------------------------------------


@main.command()
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port of the Prefect server started on 127.0.0.1 (default: serve_port, 4200).",
)
@pass_state
def serve(state: CliState, port: int | None) -> None:
    """Run the schedules: ingest hourly, the digest on Mondays, until Ctrl-C or SIGTERM.

    Starts a Prefect server on 127.0.0.1 (its UI shows every run), or uses the one
    PREFECT_API_URL names (a shared server or Prefect Cloud, with PREFECT_API_KEY), and
    serves the deployments of prefect.yaml (flows/deployments.py) from this process.
    Schedules stay active when it stops; settings ingest_cron, digest_cron and
    digest_timezone change them.
    """
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    from adoptwatch.flows.deployments import deployment_specs
    from adoptwatch.serve import (
        PrefectServer,
        check_api,
        serve_deployments,
        sigterm_as_keyboard_interrupt,
    )

    settings = state.settings(serve_port=port)
    specs = deployment_specs(settings)  # bad crons and time zones fail here, at once
    prefect = get_current_settings()
    api_url = str(prefect.api.url or "")
    server: PrefectServer | None = None
    with sigterm_as_keyboard_interrupt():
        try:
            if not api_url:
                log = Path(prefect.home).expanduser() / "adoptwatch-server.log"
                err_console.print(
                    f"Starting a Prefect server on 127.0.0.1:{settings.serve_port} (log: {log}) …"
                )
                server = PrefectServer(port=settings.serve_port, log_file=log).start()
                api_url = server.api_url
                # Flow runs are this process's children: they must find the server too.
                os.environ["PREFECT_API_URL"] = api_url
            with temporary_settings({PREFECT_API_URL: api_url}):
                if server is None:
                    check_api()
                ui_url = get_current_settings().ui_url or api_url.removesuffix("/api")
                from adoptwatch.flows.deployments import runner_deployments

                deployments = runner_deployments(specs)

                def ready(_ids: object) -> None:
                    for spec in specs:
                        when = f"{spec.cron!r} in {spec.timezone}" if spec.cron else "no schedule"
                        click.echo(f"serving {spec.name}: {when}")
                    click.echo(f"Prefect UI: {ui_url}")
                    click.echo("Stop with Ctrl-C (schedules stay active).")

                serve_deployments(deployments, on_ready=ready)
        except KeyboardInterrupt:
            pass
        except SystemExit as exc:
            # Prefect's runner, once it has installed its own SIGTERM handler, stops with
            # sys.exit(0): that is a stop like Ctrl-C, not an error.
            if exc.code not in (0, None):
                raise
        finally:
            if server is not None:
                err_console.print("Stopping the Prefect server …")
                server.stop()
    click.echo("adoptwatch serve: stopped")


@main.command()
@click.option(
    "--write",
    "write_to",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the file (e.g. prefect.yaml) instead of printing it.",
)
@click.option(
    "--check",
    "check",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Exit 1 if this file differs from what would be written.",
)
@pass_state
def deployments(state: CliState, write_to: Path | None, check: Path | None) -> None:
    """Print prefect.yaml for `prefect deploy --all`, generated from the same deployment
    list and settings (ingest_cron, digest_cron, digest_timezone) as `adoptwatch serve`.

    Regenerate after changing those settings: adoptwatch deployments --write prefect.yaml
    """
    from adoptwatch.flows.deployments import deployment_specs, prefect_yaml

    text = prefect_yaml(deployment_specs(state.settings()))
    if check is not None:
        current = check.read_text() if check.exists() else ""
        if current != text:
            raise click.ClickException(
                f"{check} is out of date; regenerate it with "
                f"`adoptwatch deployments --write {check}`"
            )
        click.echo(f"{check} is up to date")
        return
    if write_to is not None:
        write_to.write_text(text)
        click.echo(f"wrote {write_to}")
        return
    click.echo(text, nl=False)


# --- demo ------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--db",
    metavar="PATH|URL",
    default=DEFAULT_DEMO_DB,
    show_default=True,
    help="DuckDB file or DuckLake URL for the demo (kept apart from your real event log).",
)
@lake_data_path_option
@click.option(
    "--port", type=int, default=None, help="Loopback port for the fixture site (default 8931)."
)
@pass_state
def demo(state: CliState, db: str, lake_data_path: str | None, port: int | None) -> None:
    """Crawl the bundled fixture site offline with the real ingest flow and show results.

    Starts an HTTP server on 127.0.0.1 over adoptwatch/demo_site, runs the ingest flow
    against it, then prints the event log's top rows and a few example queries.
    Running it twice changes nothing.
    """
    from adoptwatch.demo import DEMO_PORT, explorer_hint, run_demo
    from adoptwatch.query_view import result_table
    from adoptwatch.storage.lake import locate

    settings = state.settings(lake_data_path=lake_data_path)
    console = Console()
    console.print("[bold]adoptwatch demo[/]: crawling the bundled fixture site on loopback …")
    result = run_demo(
        settings,
        db=db,
        run_ingest=_run_flow_ingest,
        port=port or DEMO_PORT,
    )
    _print_summary(result.summary, console)
    console.print(
        f"\nThe event log is in [bold]{db}[/]: "
        + ", ".join(f"{n} {t}" for t, n in result.counts.items())
    )
    for example, rows in result.examples:
        console.print()
        console.print(result_table(rows.columns, rows.rows, title=example.title))
        console.print(
            Syntax(textwrap.dedent(example.sql).strip(), "sql", theme="ansi_dark", word_wrap=True)
        )
    console.print(
        f'\nAsk your own questions: [bold]adoptwatch query --db {shlex.quote(db)} "SELECT ..."[/]'
        " (or open it with any DuckDB client)."
    )
    from adoptwatch.digest import demo_digest

    location = locate(db, settings.lake_data_path)
    # Beside the demo's file; for a lake, beside its catalog (or in data/).
    beside = Path(location.target) if location.kind != "postgres" else Path("data/demo")
    digest_result = demo_digest(settings.replace(db=db), beside.with_name("demo-digest.eml"))
    console.print(
        f"\nThe digest of {digest_result.week} (not sent): open [bold]{digest_result.html_path}[/]"
        f" in a browser, or {digest_result.eml_path} in a mail client.",
        highlight=False,
    )
    console.print(f"\n{explorer_hint(db, settings.web_port)}", highlight=False, markup=False)


if __name__ == "__main__":  # pragma: no cover
    main()
