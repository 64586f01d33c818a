"""``adoptwatch web``: the explorer, a read-only web site over the event log.

It hangs on :data:`adoptwatch.cli.commands.main`, like every command.
"""

from __future__ import annotations

import click

from adoptwatch.cli.commands import CliState, db_option, main, pass_state


@main.command()
@db_option
@click.option(
    "--host",
    metavar="ADDRESS",
    default=None,
    help="Address to listen on (default: web_host, 127.0.0.1: this machine only; the site "
    "has no login, so open it wider only on a network you trust).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port to listen on (default: web_port, 8765; 0 picks a free one).",
)
@pass_state
def web(state: CliState, db: str | None, host: str | None, port: int | None) -> None:
    """Serve the explorer: a read-only web site over the event log.

    Pages: this week (the digest's content for any ISO week), companies, models and
    vendors, events (filters, CSV download, the SQL to paste into `adoptwatch query`)
    and sources; charts fetch their numbers from JSON endpoints under /api/
    (docs/explorer.md). It reads the event log as `adoptwatch query` does, so it works
    on a DuckDB file while an ingest writes it, and on a DuckLake. Ctrl-C stops it.

    Example: adoptwatch web --db data/demo.duckdb, then open http://127.0.0.1:8765/
    """
    from adoptwatch.storage.lake import locate
    from adoptwatch.web import serve

    settings = state.settings(db=db, web_host=host, web_port=port)

    def ready(url: str) -> None:
        click.echo(
            f"The explorer of {locate(settings.db).describe()} is at {url} "
            "(read-only; Ctrl-C stops it)",
            err=True,
        )

    serve(settings, ready=ready)
