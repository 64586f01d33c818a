"""``adoptwatch company NAME`` and ``adoptwatch model NAME``: the fact views, as tables or
JSON. Each table says what its figures count (adoptwatch.glossary)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from adoptwatch.cli.commands import CliState, db_option, main, pass_state
from adoptwatch.glossary import define
from adoptwatch.plain_text import escape_controls
from adoptwatch.query_view import json_value

console = Console(highlight=False)


def format_option(func: Any) -> Any:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="A table for reading, or JSON (every field) for programs.",
    )(func)


def since_option(func: Any) -> Any:
    return click.option(
        "--since",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="Only what was reported on or after DATE (YYYY-MM-DD, UTC).",
    )(func)


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def _text(value: Any) -> Text:
    """Article text is untrusted: no markup, no control characters."""
    return Text(escape_controls(str(value)) if value is not None else "")


def _print_json(view: dict[str, Any]) -> None:
    click.echo(json.dumps(view, default=json_value, indent=1, ensure_ascii=False))


def _notes(*terms: str) -> None:
    for term in terms:
        console.print(Text(f"  {term}: {define(term)}", style="dim"))


@main.command()
@click.argument("name")
@since_option
@format_option
@db_option
@pass_state
def company(state: CliState, name: str, since: datetime | None, fmt: str, db: str | None) -> None:
    """A company's AI stack, timeline of events and switches.

    NAME resolves through the company aliases extraction uses ("Airbnb Inc." finds
    Airbnb) and the adopters already reported. The stack lists every fact about the
    company (its status now); --since limits the timeline and the switches.

    Example: adoptwatch company Airbnb --since 2026-10-01
    """
    from adoptwatch.pipeline.views import company_view

    view = company_view(state.settings(db=db), name, since)
    if fmt == "json":
        _print_json(view)
        return
    console.print(Text(f"{view['company']}: AI stack", style="bold"))
    stack = Table("model", "status", "since", "first reported", "outlets", "articles", "confidence")
    for f in view["stack"]:
        label = f["model_family"] + (" (vendor-level)" if f["vendor_level"] else "")
        status = f["status"] + (f" → {f['replaced_by']}" if f["replaced_by"] else "")
        stack.add_row(
            _text(label),
            status,
            _day(f["status_since"]),
            _day(f["first_reported"]),
            _text(
                f"{f['outlets']}: {', '.join(f['outlet_names'][:3])}"
                + (" …" if len(f["outlet_names"]) > 3 else "")
            ),
            str(f["articles"]),
            f"{f['confidence']:.2f}",
        )
    console.print(stack)
    for f in view["stack"]:
        console.print(_text(f'{f["model_family"]}: "{f["evidence"]}" {f["evidence_url"]}'))
    _notes("status", "since", "outlets", "confidence")
    timeline = Table(
        "reported",
        "relation",
        "model",
        "confidence",
        "outlet",
        "evidence",
        title="Timeline",
        title_justify="left",
    )
    for e in view["timeline"]:
        timeline.add_row(
            _day(e["reported_at"]),
            e["relation"],
            _text(e["model"]),
            f"{e['confidence']:.2f}",
            _text(e["outlet"]),
            _text(f"{e['evidence']} {e['article_url']}"),
        )
    console.print(timeline)
    switches = Table("reported", "from", "to", "evidence", title="Switches", title_justify="left")
    for s in view["switches"]:
        switches.add_row(
            _day(s["reported_at"]),
            _text(s["from_family"]),
            _text(s["to_family"]),
            _text(f"{s['evidence']} {s['article_url']}"),
        )
    console.print(switches if view["switches"] else Text("No switches.", style="dim"))


@main.command()
@click.argument("name")
@since_option
@format_option
@db_option
@pass_state
def model(state: CliState, name: str, since: datetime | None, fmt: str, db: str | None) -> None:
    """A model family's (or a vendor's) adopters over time, share of voice per week and
    the top evidence.

    NAME is a family or model ("GPT-4o" finds the GPT family) or a vendor ("Alibaba
    Cloud" finds Alibaba: every family it makes). The weeks run from --since (default:
    the last 12 ISO weeks, UTC).

    Example: adoptwatch model Qwen
    """
    from adoptwatch.pipeline.views import model_view

    view = model_view(state.settings(db=db), name, since)
    if fmt == "json":
        _print_json(view)
        return
    kind = "vendor" if view["scope"] == "vendor" else "model family"
    console.print(Text(f"{view['name']} ({kind})", style="bold"))
    new = {f["adopter"] for f in view["new_this_month"]}
    adopters = Table(
        "adopter",
        "model",
        "status",
        "since",
        "outlets",
        "confidence",
        title="Adopters",
        title_justify="left",
    )
    for f in view["current"] + view["evaluating"] + view["dropped"]:
        status = f["status"] + (
            " (new this month)" if f["adopter"] in new and f["status"] == "current" else ""
        )
        adopters.add_row(
            _text(f["adopter"]),
            _text(f["model_family"]),
            status,
            _day(f["status_since"]),
            str(f["outlets"]),
            f"{f['confidence']:.2f}",
        )
    console.print(adopters)
    console.print(
        f"{len(view['current'])} current, {len(view['new_this_month'])} new this month, "
        f"{len(view['evaluating'])} evaluating, {len(view['dropped'])} dropped"
    )
    _notes("current adopters", "new this month")
    weeks = Table(
        "week of",
        "adopters",
        "new adopters",
        "dropping",
        "mentioning articles",
        "share of voice",
        title="Per week",
        title_justify="left",
    )
    for w in view["weeks"]:
        weeks.add_row(
            str(w["week"]),
            str(w["adopters"]),
            str(w["new_adopters"]),
            str(w["dropping"]),
            str(w["mentioning_articles"]),
            f"{w['share_of_voice']:.1%}",
        )
    console.print(weeks)
    _notes("adopters (week)", "new adopters (week)", "share of voice (week)")
    evidence = Table(
        "reported",
        "adopter",
        "relation",
        "confidence",
        "evidence",
        title="Top evidence",
        title_justify="left",
    )
    for e in view["top_evidence"]:
        evidence.add_row(
            _day(e["reported_at"]),
            _text(e["adopter"]),
            e["relation"],
            f"{e['confidence']:.2f}",
            _text(f"{e['evidence']} {e['article_url']}"),
        )
    console.print(evidence)
