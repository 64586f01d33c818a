"""The commands over the stored event log: ``sources`` (list, enable, disable), and its
upkeep, ``maintain`` (DuckLake compaction) and ``migrate`` (copy between backends).

They hang on :data:`adoptwatch.cli.commands.main`, like every command.
"""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from adoptwatch.cli.commands import (
    CliState,
    db_option,
    err_console,
    lake_data_path_option,
    main,
    pass_state,
)

# --- sources -------------------------------------------------------------------------------


@main.group(invoke_without_command=True)
@db_option
@click.pass_context
def sources(ctx: click.Context, db: str | None) -> None:
    """List sources with their health; `sources enable NAME` re-enables one."""
    ctx.ensure_object(CliState)
    ctx.meta["db"] = db
    if ctx.invoked_subcommand is None:
        ctx.invoke(sources_list)


@sources.command("list")
@db_option
@click.pass_context
def sources_list(ctx: click.Context, db: str | None = None) -> None:
    """List sources: enabled, consecutive failures, last status and error."""
    from adoptwatch.storage import store
    from adoptwatch.storage.db import read_session

    state: CliState = ctx.find_object(CliState)
    settings = state.settings(db=db or ctx.meta.get("db"))
    with read_session(settings.db, settings.db_lock_timeout) as con:
        rows = store.list_sources(con)
    table = Table(title=f"{len(rows)} source(s)")
    for column in (
        "name",
        "enabled",
        "failures",
        "status",
        "last fetched",
        "articles",
        "last error",
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        error = " ".join(x for x in (r["last_error_class"], r["last_error"]) if x)
        if not r["enabled"] and r["disabled_reason"]:
            error = f"{r['disabled_reason']}; {error}" if error else r["disabled_reason"]
        table.add_row(
            r["name"],
            "yes" if r["enabled"] else "[red]no[/]",
            str(r["consecutive_failures"]),
            "" if r["last_status"] is None else str(r["last_status"]),
            "" if r["last_fetched_at"] is None else r["last_fetched_at"].isoformat(" ", "seconds"),
            str(r["articles"]),
            error[:200],
        )
    Console().print(table)


def _set_enabled(ctx: click.Context, name: str, db: str | None, enabled: bool) -> None:
    from adoptwatch.pipeline.sources import source_name
    from adoptwatch.plain_text import clean_text
    from adoptwatch.storage import store
    from adoptwatch.storage.db import write_session
    from adoptwatch.storage.lake import locate

    state: CliState = ctx.find_object(CliState)
    settings = state.settings(db=db or ctx.meta.get("db"))
    name = source_name(name)  # as the sources file's names are stored
    with write_session(settings.db, settings.db_lock_timeout, settings.lake_data_path) as con:
        found = store.set_source_enabled(con, name, enabled)
    if not found:
        raise click.ClickException(
            f"no source named {clean_text(name, 80)!r} in {locate(settings.db).describe()}; "
            "`adoptwatch sources` lists them"
        )
    click.echo(f"{name}: {'enabled' if enabled else 'disabled'}")


@sources.command("enable")
@click.argument("name")
@db_option
@click.pass_context
def sources_enable(ctx: click.Context, name: str, db: str | None) -> None:
    """Re-enable a source (and reset its failure counter)."""
    _set_enabled(ctx, name, db, True)


@sources.command("disable")
@click.argument("name")
@db_option
@click.pass_context
def sources_disable(ctx: click.Context, name: str, db: str | None) -> None:
    """Stop fetching a source until it is enabled again."""
    _set_enabled(ctx, name, db, False)


# --- upkeep ---------------------------------------------------------------------------------


@main.command()
@db_option
@lake_data_path_option
@click.option(
    "--keep-snapshots-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Expire DuckLake snapshots older than this many days (default: keep_snapshots_days, "
    "7). Time travel reaches back this far.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def maintain(
    state: CliState,
    db: str | None,
    lake_data_path: str | None,
    keep_snapshots_days: float | None,
    as_json: bool,
) -> None:
    """Compact a DuckLake: merge small files, expire old snapshots, delete unused files.

    Every ingest write adds a few small files; run this now and then (the maintain
    deployment does, daily by default: maintain_cron). Writers and readers may go on
    meanwhile. On a DuckDB file it checkpoints.
    """
    from adoptwatch.pipeline.maintain import run_maintenance

    settings = state.settings(
        db=db, lake_data_path=lake_data_path, keep_snapshots_days=keep_snapshots_days
    )
    with err_console.status("maintaining the event log …"):
        report = run_maintenance(settings)
    if as_json:
        click.echo(json.dumps(vars(report), indent=2))
        return
    click.echo(
        f"files read by the current snapshot: {report.files_before} before, "
        f"{report.files_after} after; {report.snapshots_expired} snapshot(s) expired, "
        f"{report.files_deleted} file(s) deleted"
    )


@main.command()
@click.option("--from", "source", required=True, metavar="PATH|URL", help="The event log to copy.")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="PATH|URL",
    help="A new, empty DuckDB file or DuckLake to copy it into.",
)
@lake_data_path_option
@click.option("--json", "as_json", is_flag=True, help="Print the rows copied as JSON.")
@pass_state
def migrate(
    state: CliState, source: str, target: str, lake_data_path: str | None, as_json: bool
) -> None:
    """Copy a whole event log between backends (a DuckDB file, a DuckLake on SQLite or
    PostgreSQL), in one transaction, then check that every table has as many rows.

    Stop ingests of the source first. Example:
    adoptwatch migrate --from data/adoptwatch.duckdb --to "ducklake:postgres:dbname=adoptwatch
    host=db.internal user=adoptwatch" --lake-data-path /mnt/lake/
    """
    from adoptwatch.pipeline.maintain import migrate_log

    settings = state.settings(lake_data_path=lake_data_path)
    with err_console.status(f"copying {source} …"):
        copied = migrate_log(
            source, target, settings.lake_data_path, lock_timeout=settings.db_lock_timeout
        )
    if as_json:
        click.echo(json.dumps(copied, indent=2))
        return
    table = Table(title=f"copied into {target}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in copied.items():
        table.add_row(name, str(rows))
    Console().print(table)
