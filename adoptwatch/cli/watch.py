"""``adoptwatch watch``: the watchlist (add, list, remove) that alerts and the digest's
"Your watchlist" section follow."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from adoptwatch.cli.commands import CliState, db_option, main


@main.group()
def watch() -> None:
    """Watch companies, models, vendors or origin countries; alerts and the digest follow.

    After each ingest (and re-extraction), a fact that is new or changed status and
    matches a watch is sent once: by email to mail_to (alert_email) and/or as a JSON POST
    to alert_webhook_url. The weekly digest then opens with "Your watchlist".
    """


@watch.command("add")
@click.option("--company", help='A company, by any alias extraction knows ("Airbnb Inc.").')
@click.option("--model", help='A model family or any of its models ("GPT-4o": the GPT family).')
@click.option("--vendor", help='A model vendor, by name or alias ("Alibaba Cloud").')
@click.option("--origin", help="A vendor's country, as a two-letter ISO code (CN, US, FR).")
@click.option(
    "--min-outlets",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Alert only once this many independent outlets reported the fact.",
)
@db_option
@click.pass_obj
def watch_add(
    state: CliState,
    company: str | None,
    model: str | None,
    vendor: str | None,
    origin: str | None,
    min_outlets: int,
    db: str | None,
) -> None:
    """Add a watch (exactly one of --company, --model, --vendor, --origin).

    Example: adoptwatch watch add --model GPT-4o --min-outlets 2
    """
    from adoptwatch.pipeline.watches import add_watch

    given = {"company": company, "model": model, "vendor": vendor, "origin": origin}
    chosen = [(kind, name) for kind, name in given.items() if name is not None]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --company, --model, --vendor, --origin")
    kind, name = chosen[0]
    settings = state.settings(db=db)
    added, new = add_watch(settings, kind, name, min_outlets)
    verb = "watching" if new else "already watching; threshold set:"
    click.echo(
        f"{verb} {added.kind} {added.value} (at least {added.min_outlets} outlet"
        f"{'s' if added.min_outlets != 1 else ''}), id {added.watch_id}"
    )


@watch.command("list")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table, or JSON (a list of watch objects).",
)
@db_option
@click.pass_obj
def watch_list(state: CliState, fmt: str, db: str | None) -> None:
    """List the watches with their ids."""
    from adoptwatch.pipeline.watches import list_watches

    watches = list_watches(state.settings(db=db))
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "id": w.watch_id,
                        "kind": w.kind,
                        "value": w.value,
                        "min_outlets": w.min_outlets,
                        "created_at": w.created_at.isoformat(),
                    }
                    for w in watches
                ],
                indent=2,
            )
        )
        return
    table = Table(title=f"{len(watches)} watch(es)", title_justify="left")
    for column in ("id", "kind", "value", "min outlets", "since"):
        table.add_column(column)
    for w in watches:
        table.add_row(
            w.watch_id, w.kind, w.value, str(w.min_outlets), w.created_at.strftime("%Y-%m-%d")
        )
    Console().print(table, highlight=False)


@watch.command("remove")
@click.argument("watch_id", metavar="ID")
@db_option
@click.pass_obj
def watch_remove(state: CliState, watch_id: str, db: str | None) -> None:
    """Remove a watch by its id (or the start of it, when that names one watch); the
    alerts it raised stay in the alerts table."""
    from adoptwatch.pipeline.watches import remove_watch

    removed = remove_watch(state.settings(db=db), watch_id)
    if removed is None:
        raise click.ClickException(
            f"no single watch with id {watch_id[:40]!r}; `adoptwatch watch list` shows the ids"
        )
    click.echo(f"removed {removed.kind} {removed.value} ({removed.watch_id})")
