"""The explorer's pages and JSON endpoints: a Starlette app over the event log, read-only.

Every request opens the event log the way ``adoptwatch query`` does
(:func:`adoptwatch.storage.db.read_session`: read-only, waiting while an ingest writes a
DuckDB file, a snapshot of its own on a DuckLake) and closes it before answering, so the
explorer never keeps an ingest from writing. The CSV of the events view runs in the
query sandbox itself (:func:`adoptwatch.storage.sandbox.query_session`) and is written
by the same code as ``adoptwatch query --format csv``.

Only GET (and HEAD) exist; every answer carries a strict Content-Security-Policy (no
inline script or style, nothing from another origin); templates escape every value.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adoptwatch.digest import MAX_ITEMS, IsoWeek, build_digest, parse_week, safe_url, zone
from adoptwatch.digest.chart import origin_share_series
from adoptwatch.digest.content import origin_share
from adoptwatch.errors import AdoptwatchError
from adoptwatch.extractors.adopters import default_gazetteer
from adoptwatch.plain_text import clean_text
from adoptwatch.query_view import csv_chunks, json_value
from adoptwatch.settings import Settings
from adoptwatch.storage import digest as digest_sql
from adoptwatch.storage import explorer, store
from adoptwatch.storage import views as fact_views
from adoptwatch.storage.db import DatabaseMissing, StorageError
from adoptwatch.storage.sandbox import QueryLimits, query_session
from adoptwatch.web.reader import EventLogReader

HERE = Path(__file__).parent
# The charting library, served from static/: the npm package's built file, pinned by its
# hash (to update: `npm pack chart.js@VERSION`, copy package/dist/chart.umd.min.js and
# package/LICENSE.md, and put the new version and sha256 here).
CHART_JS = ("chart.js", "4.5.1", "48444a82d4edcb5bec0f1965faacdde18d9c17db3063d042abada2f705c9f54a")
PAGE_ROWS = 50
CHART_WEEKS = 26

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class ExplorerError(AdoptwatchError):
    """The explorer cannot serve (its port is taken)."""


class InvalidParameter(ExplorerError):
    """A page's query parameter is not valid; the message says what to write instead."""


class SecurityHeaders:
    """Adds the CSP and its companions to every response, errors and static files too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- parameters ----------------------------------------------------------------------


def _text(request: Request, name: str, limit: int = 200) -> str:
    return clean_text(request.query_params.get(name, ""), limit)


def _page(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    try:
        page = int(raw)
    except ValueError:
        page = 0
    if not 1 <= page <= 1_000_000:
        raise InvalidParameter(f"page {clean_text(raw, 20)!r} is not a page number (1, 2, ...)")
    return page


def _day(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidParameter(
            f"{name} {clean_text(raw, 20)!r} is not a date; write it like 2026-11-25"
        ) from None


def event_filter(request: Request) -> explorer.EventFilter:
    """The events view's filter from the query string (see docs/explorer.md)."""
    relation = _text(request, "relation", 20)
    if relation and relation not in explorer.RELATIONS:
        raise InvalidParameter(
            f"relation {relation!r} is not one of {', '.join(explorer.RELATIONS)}"
        )
    raw_confidence = request.query_params.get("min_confidence", "").strip()
    confidence = None
    if raw_confidence:
        try:
            confidence = float(raw_confidence)
        except ValueError:
            confidence = math.nan
        if not 0.0 <= confidence <= 1.0:
            raise InvalidParameter(
                f"min_confidence {clean_text(raw_confidence, 20)!r} is not a number from 0 to 1"
            )
    return explorer.EventFilter(
        adopter=_text(request, "adopter"),
        model_family=_text(request, "family"),
        vendor=_text(request, "vendor"),
        origin_country=_text(request, "origin", 8).upper(),
        relation=relation,
        min_confidence=confidence,
        since=_day(request, "since"),
        until=_day(request, "until"),
        text=_text(request, "q"),
    )


def filter_query(flt: explorer.EventFilter) -> dict[str, str]:
    """The query-string parameters that give ``flt`` back."""
    values = {
        "adopter": flt.adopter,
        "family": flt.model_family,
        "vendor": flt.vendor,
        "origin": flt.origin_country,
        "relation": flt.relation,
        "min_confidence": "" if flt.min_confidence is None else f"{flt.min_confidence:g}",
        "since": flt.since.isoformat() if flt.since else "",
        "until": flt.until.isoformat() if flt.until else "",
        "q": flt.text,
    }
    return {k: v for k, v in values.items() if v}


# --- the app ---------------------------------------------------------------------------


@dataclass
class Explorer:
    """The app's state: the settings (the database, its lock timeout, the digest's time
    zone, the query sandbox's limits) and the templates."""

    settings: Settings

    def __post_init__(self) -> None:
        self.tz = zone(self.settings.digest_timezone)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["url"] = safe_url
        self.templates.filters["when"] = _when
        self.templates.filters["day"] = _day_text
        self.templates.globals["link"] = _link
        self.reader = EventLogReader(
            self.settings.db, self.settings.db_lock_timeout, self.settings.web_keep_open
        )
        self.local = threading.local()

    @contextlib.contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The event log, read-only; notes (per thread: each request runs in one) whether
        what is read may be kept (see :mod:`adoptwatch.web.reader`)."""
        with self.reader.session() as (con, generation):
            self.local.generation = generation
            yield con

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(db=_db_label(self.settings), **context)
        return HTMLResponse(html, status_code=status)

    def weeks(self, last: IsoWeek, count: int) -> list[tuple[str, datetime, datetime]]:
        return [
            (w.label, *w.bounds_utc(self.tz))
            for w in (last.shift(-i) for i in range(count - 1, -1, -1))
        ]

    def latest_week(self, con: duckdb.DuckDBPyConnection) -> IsoWeek:
        at = digest_sql.latest_event_at(con)
        now = datetime.now(UTC) if at is None else at.replace(tzinfo=UTC)
        return IsoWeek.of(now.astimezone(self.tz).date())

    def week_param(self, request: Request, con: duckdb.DuckDBPyConnection) -> IsoWeek:
        raw = request.query_params.get("week", "").strip()
        return parse_week(raw) if raw else self.latest_week(con)


def _db_label(settings: Settings) -> str:
    from adoptwatch.storage.lake import locate

    return locate(settings.db).describe()


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


def _day_text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return "" if value is None else str(value)


def _link(path: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urlencode(kept) if kept else "")


# --- pages ---------------------------------------------------------------------------------


def this_week(app: Explorer, request: Request) -> Response:
    with app.session() as con:
        week = app.week_param(request, con)
        # The origin-share chart fetches its own numbers (/api/origin-share).
        digest = build_digest(con, week, app.tz, history_weeks=0)
    return app.render(
        "week.html", digest=digest, week=week, title=f"Week {week.label}", max_items=MAX_ITEMS
    )


def companies(app: Explorer, request: Request) -> Response:
    search = _text(request, "q", 100)
    page = _page(request)
    aliases = _alias_names(search)
    with app.session() as con:
        rows, total = explorer.company_list(
            con, search, aliases, limit=PAGE_ROWS, offset=(page - 1) * PAGE_ROWS
        )
    return app.render(
        "companies.html",
        title="Companies",
        rows=rows,
        total=total,
        search=search,
        page=page,
        pages=max(1, math.ceil(total / PAGE_ROWS)),
    )


def _alias_names(search: str) -> list[str]:
    """Companies whose name or alias in the gazetteer holds ``search``."""
    if not search:
        return []
    needle = search.casefold()
    companies = default_gazetteer().companies
    return sorted({c.name for key, c in companies.items() if needle in key.casefold()})


def company(app: Explorer, request: Request) -> Response:
    name = _text(request, "name")
    with app.session() as con:
        stack = explorer.company_stack(con, name)
        timeline, events = explorer.company_timeline(con, name)
        switches = explorer.company_switches(con, name) if events else []
        # The independent outlets behind each fact (kept with the facts, storage.facts).
        outlets = {
            (family, vendor_level): names
            for (_, family, vendor_level), names in fact_views.fact_outlets(con, name).items()
        }
    if not stack and not events:
        return app.render(
            "missing.html", status=404, title="No such company", what="company", name=name
        )
    return app.render(
        "company.html",
        title=name,
        name=name,
        stack=stack,
        timeline=timeline,
        events=events,
        switches=switches,
        outlets=outlets,
        shown=len(timeline),
        cap=explorer.COUNT_CAP,
    )


def models(app: Explorer, request: Request) -> Response:
    with app.session() as con:
        rows = explorer.model_list(con)
    return app.render("models.html", title="Models and vendors", rows=rows)


def _scope(request: Request, kind: str) -> explorer.ModelScope:
    name = _text(request, "name")
    return explorer.ModelScope(family=name) if kind == "model" else explorer.ModelScope(vendor=name)


def _model_page(app: Explorer, request: Request, kind: str) -> Response:
    scope = _scope(request, kind)
    with app.session() as con:
        profile = explorer.model_profile(con, scope)
        if profile is None:
            return app.render(
                "missing.html", status=404, title=f"No such {kind}", what=kind, name=scope.value
            )
        since = explorer.new_adopter_cutoff(digest_sql.latest_event_at(con))
        lists = {
            "current": explorer.model_adopters(con, scope, "current"),
            "new": explorer.model_adopters(con, scope, "current", since) if since else [],
            "evaluating": explorer.model_adopters(con, scope, "evaluating"),
            "dropped": explorer.model_adopters(con, scope, "dropped"),
        }
    return app.render(
        "model.html",
        title=scope.value,
        kind=kind,
        name=scope.value,
        profile=profile,
        lists=lists,
        since=since,
        new_days=explorer.NEW_ADOPTER_DAYS,
    )


def model(app: Explorer, request: Request) -> Response:
    return _model_page(app, request, "model")


def vendor(app: Explorer, request: Request) -> Response:
    return _model_page(app, request, "vendor")


def events(app: Explorer, request: Request) -> Response:
    flt = event_filter(request)
    page = _page(request)
    with app.session() as con:
        rows = explorer.event_page(con, flt, PAGE_ROWS, (page - 1) * PAGE_ROWS)
        total = explorer.event_count(con, flt)
    sql = explorer.events_sql(flt)
    return app.render(
        "events.html",
        title="Events",
        flt=flt,
        rows=rows,
        total=total,
        cap=explorer.COUNT_CAP,
        page=page,
        pages=max(1, math.ceil(total / PAGE_ROWS)),
        params=filter_query(flt),
        sql=sql,
        command=_query_command(app.settings, sql),
        relations=explorer.RELATIONS,
    )


def _query_command(settings: Settings, sql: str) -> str:
    import shlex

    db = _db_label(settings)  # a PostgreSQL catalog's password is left out
    return f"adoptwatch query --db {shlex.quote(db)} --format csv {shlex.quote(sql)}"


def events_csv(app: Explorer, request: Request) -> Response:
    """Every row of the filtered view as CSV, as ``adoptwatch query --format csv`` writes
    it (the same SQL, in the same sandbox, within the same limits)."""
    sql = explorer.events_sql(event_filter(request))
    settings = app.settings
    limits = QueryLimits(timeout=settings.query_timeout, memory_limit=settings.query_memory_limit)

    def chunks() -> Iterator[str]:
        with query_session(settings.db, settings.db_lock_timeout, limits) as session:
            for text, _ in csv_chunks(session.stream(sql)):
                yield text

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="adoption_events.csv"'},
    )


def sources(app: Explorer, request: Request) -> Response:
    with app.session() as con:
        rows = store.list_sources(con)
        fetches = explorer.fetch_summary(con)
        runs = explorer.recent_runs(con)
    return app.render("sources.html", title="Sources", rows=rows, fetches=fetches, runs=runs)


# --- JSON --------------------------------------------------------------------------------


def _json(payload: Any) -> JSONResponse:
    return JSONResponse(_plain(payload))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json_value(value)


def api_origin_share(app: Explorer, request: Request) -> Response:
    with app.session() as con:
        week = app.week_param(request, con)
        weeks = origin_share(con, week, app.tz)
    return _json(origin_share_series(weeks))


def _chart_weeks(app: Explorer, request: Request, con: duckdb.DuckDBPyConnection) -> list[Any]:
    return app.weeks(app.week_param(request, con), CHART_WEEKS)


def _api_adopters(app: Explorer, request: Request, kind: str) -> Response:
    scope = _scope(request, kind)
    with app.session() as con:
        rows = explorer.adopters_over_time(con, scope, _chart_weeks(app, request, con))
    return _json(
        {
            "title": f"Companies adopting {scope.value}, per ISO week",
            "labels": [r["week"] for r in rows],
            "series": [
                {
                    "label": "adopters to date",
                    "type": "line",
                    "values": [r["adopters"] for r in rows],
                },
                {
                    "label": "new adopters",
                    "type": "bar",
                    "values": [r["new_adopters"] for r in rows],
                },
            ],
        }
    )


def _api_voice(app: Explorer, request: Request, kind: str) -> Response:
    scope = _scope(request, kind)
    with app.session() as con:
        rows = explorer.share_of_voice(con, scope, _chart_weeks(app, request, con))
    return _json(
        {
            "title": f"Share of voice of {scope.value}: articles mentioning it, per ISO week",
            "labels": [r["week"] for r in rows],
            "unit": "%",
            "series": [
                {
                    "label": "share of articles mentioning any model (%)",
                    "type": "line",
                    "values": [
                        round(100 * r["articles"] / r["all_articles"], 1)
                        if r["all_articles"]
                        else 0.0
                        for r in rows
                    ],
                },
            ],
            "table": {
                "columns": ["week", "articles", "all articles"],
                "rows": [[r["week"], r["articles"], r["all_articles"]] for r in rows],
            },
        }
    )


def api_events(app: Explorer, request: Request) -> Response:
    flt = event_filter(request)
    page = _page(request)
    with app.session() as con:
        rows = explorer.event_page(con, flt, PAGE_ROWS, (page - 1) * PAGE_ROWS)
        total = explorer.event_count(con, flt)
    return _json(
        {
            "filter": asdict(flt),
            "page": page,
            "page_rows": PAGE_ROWS,
            "total": min(total, explorer.COUNT_CAP),
            "more": total > explorer.COUNT_CAP,
            "sql": explorer.events_sql(flt),
            "rows": rows,
        }
    )


def api_company(app: Explorer, request: Request) -> Response:
    name = _text(request, "name")
    with app.session() as con:
        stack = explorer.company_stack(con, name)
    if not stack:
        return JSONResponse({"error": "no such company"}, status_code=404)
    return _json({"adopter": name, "stack": stack})


# --- assembly ---------------------------------------------------------------------------


def _handler(app: Explorer, view: Callable[[Explorer, Request], Response]) -> Any:
    # Plain (sync) functions: Starlette runs them in its thread pool, so a slow query
    # never holds up the event loop.
    def endpoint(request: Request) -> Response:
        key = f"{request.url.path}?{request.url.query}"
        cache = app.reader.cache
        if app.reader.warm:
            kept = cache.get(key, cache.generation)
            if kept is not None:
                status, body, media_type = kept
                return Response(body, status_code=status, media_type=media_type)
        app.local.generation = None
        try:
            response = view(app, request)
            generation = app.local.generation
            if generation is not None and isinstance(response, HTMLResponse | JSONResponse):
                kept = (response.status_code, bytes(response.body), response.media_type or "")
                cache.put(key, generation, kept)
            return response
        except InvalidParameter as exc:
            return _error(app, request, 400, str(exc))
        except DatabaseMissing as exc:
            return _error(app, request, 503, str(exc))
        except duckdb.CatalogException as exc:  # a log older than the tables read here
            first = str(exc).strip().splitlines()[0]
            return _error(
                app,
                request,
                503,
                f"the event log predates a table the explorer reads ({first}); a write "
                "brings it up to date: run `adoptwatch maintain` (or an ingest) on it once",
            )
        except AdoptwatchError as exc:  # an invalid week, a busy file, a broken lake
            status = 503 if isinstance(exc, StorageError) else 400
            return _error(app, request, status, str(exc).splitlines()[0])

    return endpoint


def _error(app: Explorer, request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return app.render("error.html", status=status, title="Cannot show this", message=message)


PAGES: list[tuple[str, Callable[[Explorer, Request], Response]]] = [
    ("/", this_week),
    ("/companies", companies),
    ("/company", company),
    ("/models", models),
    ("/model", model),
    ("/vendor", vendor),
    ("/events", events),
    ("/events.csv", events_csv),
    ("/sources", sources),
    ("/api/origin-share", api_origin_share),
    ("/api/model/adopters", lambda a, r: _api_adopters(a, r, "model")),
    ("/api/model/voice", lambda a, r: _api_voice(a, r, "model")),
    ("/api/vendor/adopters", lambda a, r: _api_adopters(a, r, "vendor")),
    ("/api/vendor/voice", lambda a, r: _api_voice(a, r, "vendor")),
    ("/api/events", api_events),
    ("/api/company", api_company),
]


def create_app(settings: Settings, host: str = "127.0.0.1") -> Starlette:
    """The explorer over ``settings.db``; ``host``: the address it is served on (a
    loopback one answers only requests that name a loopback host: no DNS rebinding)."""
    app = Explorer(settings)
    routes: list[Any] = [
        Route(path, _handler(app, view), methods=["GET", "HEAD"]) for path, view in PAGES
    ]
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))
    allowed = list(LOOPBACK_HOSTS) if host in LOOPBACK_HOSTS else ["*"]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(TrustedHostMiddleware, allowed_hosts=allowed),
        ],
    )
