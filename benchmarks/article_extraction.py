"""Article-body extraction against the public benchmark (Scrapinghub/Zyte, 181 news pages).

Runs the project's own ``extract_article`` (the function the crawler calls) over every page,
takes its ``body`` (the main text without the headline, which it returns as ``title``),
writes ``{page_id: {"articleBody": text}}`` to ``--out``, and prints precision, recall and
F1 by the benchmark's published metric, with pages per second (per second of this process's
CPU time, which other work on a shared machine does not distort, and of wall-clock time);
plain ``trafilatura.extract`` with its defaults runs in the same process as the baseline.
It also measures publication dates: on the date fixture pages, and on the benchmark pages
whose URL carries a date (the URL withheld from the extractor).

The metric (as the benchmark's ``evaluate.py`` defines it): texts are split into ``\\w+``
tokens; word 4-shingles are counted per page; per page, true/false positives and false
negatives are normalised by their sum; precision is averaged over pages that predicted
something (or expected nothing), recall over pages that expected something (or predicted
nothing); F1 = 2PR/(P+R). A page with no prediction thus costs recall only. The ``±``
figures are 95% bootstrap intervals over pages.

    .venv/bin/python benchmarks/article_extraction.py [--bench DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import random
import re
import statistics
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from adoptwatch.extractors.article import (  # noqa: E402
    STRATEGIES,
    ArticleExtractionError,
    extract_article,
    published_date,
)
from adoptwatch.extractors.dates import parse_date  # noqa: E402

if TYPE_CHECKING:
    from rich.console import Console

BENCH_NAME = Path("benchmarks") / "article-extraction"
DEFAULT_OUT = REPO / "out" / "article-extraction.json"
DATE_CASES = REPO / "tests" / "fixtures" / "article" / "dates.toml"
BOOTSTRAP_SAMPLES = 1000
BASELINE_NAME = "trafilatura.extract defaults (baseline)"
# What `python -m benchmarks --quick` passes (benchmarks/__main__.py).
QUICK_ARGS = ["--limit", "20"]
_TOKEN = re.compile(r"\w+", re.UNICODE)

PageCounts = tuple[float, float, float]  # tp, fp, fn, normalised by their sum


def default_bench_dir() -> Path:
    """``shared/benchmarks/article-extraction`` in the nearest folder above the repository
    that has one (a worktree's and CI's clone sit beside or below ``shared/``)."""
    for parent in REPO.parents:
        candidate = parent / "shared" / BENCH_NAME
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / BENCH_NAME


# --- the metric ---------------------------------------------------------------------------


def shingles(text: str | None, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def page_counts(true: str | None, pred: str | None) -> PageCounts:
    expected, predicted = shingles(true), shingles(pred)
    tp = sum((expected & predicted).values())
    fp = sum((predicted - expected).values())
    fn = sum((expected - predicted).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


@dataclass(frozen=True)
class Scores:
    f1: float
    precision: float
    recall: float


def scores_from_counts(counts: Sequence[PageCounts]) -> Scores:
    precisions = [_precision(*c) for c in counts if c[0] + c[1] > 0]
    recalls = [_recall(*c) for c in counts if c[0] + c[2] > 0]
    precision = statistics.mean(precisions) if precisions else 0.0
    recall = statistics.mean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(f1, precision, recall)


def evaluate(
    ground_truth: Mapping[str, Mapping[str, str]], predictions: Mapping[str, str]
) -> tuple[Scores, list[PageCounts]]:
    """Scores of ``predictions`` (page id -> text; missing means empty) over the
    ground truth's pages, and the per-page counts."""
    counts = [
        page_counts(ground_truth[key].get("articleBody", ""), predictions.get(key, ""))
        for key in ground_truth
    ]
    return scores_from_counts(counts), counts


def bootstrap_interval(
    counts: Sequence[PageCounts], other: Sequence[PageCounts] | None = None, seed: int = 0
) -> Scores:
    """Half-widths of 95% intervals (of the scores, or of the difference to ``other``)."""
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {"f1": [], "precision": [], "recall": []}
    n = len(counts)
    for _ in range(BOOTSTRAP_SAMPLES):
        idx = [rng.randrange(n) for _ in range(n)]
        mine = scores_from_counts([counts[i] for i in idx])
        theirs = scores_from_counts([other[i] for i in idx]) if other is not None else None
        for name in samples:
            value = getattr(mine, name) - (getattr(theirs, name) if theirs else 0.0)
            samples[name].append(value)
    return Scores(**{k: 1.96 * statistics.stdev(v) for k, v in samples.items()})


# --- running extractors -------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    page_id: str
    url: str
    html: bytes


def load_benchmark(
    bench: Path, limit: int | None = None
) -> tuple[dict[str, dict[str, str]], list[Page]]:
    """Ground truth and pages (sorted by id; the first ``limit`` when given)."""
    truth_file = bench / "ground-truth.json"
    if not truth_file.is_file():
        raise FileNotFoundError(
            f"no benchmark at {bench} (expected ground-truth.json and html/*.html.gz); "
            "pass --bench DIR"
        )
    ground_truth = json.loads(truth_file.read_text(encoding="utf-8"))
    ids = sorted(ground_truth)[:limit] if limit else sorted(ground_truth)
    pages = []
    for page_id in ids:
        with gzip.open(bench / "html" / f"{page_id}.html.gz") as fh:
            pages.append(Page(page_id, ground_truth[page_id].get("url", ""), fh.read()))
    return {k: ground_truth[k] for k in ids}, pages


def project_extractor(strategy: str = "ensemble") -> Callable[[Page], str]:
    def run(page: Page) -> str:
        try:
            return extract_article(page.html, page.url, strategy=strategy).body
        except ArticleExtractionError:
            return ""

    return run


def trafilatura_baseline(page: Page) -> str:
    """``trafilatura.extract`` with its defaults, on the page decoded as UTF-8 (how the
    benchmark's own runner feeds it)."""
    import trafilatura

    return trafilatura.extract(page.html.decode("utf-8", errors="replace")) or ""


@dataclass(frozen=True)
class Run:
    name: str
    predictions: dict[str, str]
    cpu_seconds: float  # this process's CPU time: fair on a machine others share
    wall_seconds: float

    def pages_per_cpu_second(self) -> float:
        return len(self.predictions) / self.cpu_seconds if self.cpu_seconds else float("inf")

    def pages_per_wall_second(self) -> float:
        return len(self.predictions) / self.wall_seconds if self.wall_seconds else float("inf")


def run_extractor(
    name: str, function: Callable[[Page], str], pages: Iterable[Page], progress=None
) -> Run:
    pages = list(pages)
    task = progress.add_task(name, total=len(pages)) if progress is not None else None
    predictions: dict[str, str] = {}
    cpu = wall = 0.0
    for page in pages:
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        predictions[page.page_id] = function(page)
        cpu += time.process_time() - cpu_start
        wall += time.perf_counter() - wall_start
        if progress is not None:
            progress.advance(task)
    return Run(name, predictions, cpu, wall)


# --- publication dates ----------------------------------------------------------------------


@dataclass(frozen=True)
class DateCase:
    name: str
    html: str
    url: str
    feed: dt.datetime | None
    expected: dt.datetime | None
    source: str | None


def load_date_cases(path: Path = DATE_CASES) -> list[DateCase]:
    """The publication-date fixture pages (``tests/fixtures/article/dates.toml``)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    template = data["template"]
    cases = []
    for raw in data["case"]:
        html = (
            template.replace("{title}", "Fernhill Robotics moves its planner to an open model")
            .replace("{head}", raw.get("head", ""))
            .replace("{byline}", raw.get("byline", "By Dana Whitfield"))
            .replace("{footer}", raw.get("footer", "Example Wire"))
        )
        cases.append(
            DateCase(
                name=raw["name"],
                html=html,
                url=raw.get("url", "https://wire.example/ai/fernhill-robotics-open-model"),
                feed=parse_date(raw["feed"]) if "feed" in raw else None,
                expected=parse_date(raw["expected"]) if "expected" in raw else None,
                source=raw.get("source"),
            )
        )
    return cases


@dataclass(frozen=True)
class DateResult:
    case: DateCase
    found: dt.datetime | None
    source: str | None

    @property
    def correct(self) -> bool:
        return self.found == self.case.expected and self.source == self.case.source


def evaluate_date_cases(cases: Iterable[DateCase]) -> list[DateResult]:
    results = []
    for case in cases:
        content = extract_article(case.html.encode("utf-8"), case.url, feed_published=case.feed)
        results.append(DateResult(case, content.published_at, content.date_source))
    return results


_URL_DATE = re.compile(r"/((?:19|20)\d{2})[/-](\d{1,2})[/-](\d{1,2})(?:[/.-]|$)")


def url_date(url: str) -> dt.date | None:
    match = _URL_DATE.search(url)
    if not match:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


@dataclass(frozen=True)
class UrlDateAgreement:
    pages: int  # benchmark pages whose URL carries a date
    same_day: int
    within_a_day: int
    missing: int
    by_source: dict[str, tuple[int, int]]  # source -> (pages, same day)


def url_date_agreement(pages: Iterable[Page]) -> UrlDateAgreement:
    """Extracted dates against the date in the page's URL, on pages whose URL has one;
    the URL is withheld from the extractor so that it cannot simply read it."""
    total = same = near = missing = 0
    by_source: dict[str, list[int]] = {}
    for page in pages:
        truth = url_date(page.url)
        if truth is None:
            continue
        total += 1
        found, source = published_date(page.html)
        if found is None:
            missing += 1
            continue
        tally = by_source.setdefault(source or "?", [0, 0])
        tally[0] += 1
        if found.date() == truth:
            same += 1
            tally[1] += 1
        if abs((found.date() - truth).days) <= 1:
            near += 1
    return UrlDateAgreement(
        total, same, near, missing, {k: (v[0], v[1]) for k, v in by_source.items()}
    )


# --- the command --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/article_extraction.py",
        description=(
            "Score the project's article extraction on the public article-extraction "
            "benchmark (word 4-shingle precision/recall/F1), against plain trafilatura."
        ),
    )
    parser.add_argument(
        "--bench",
        type=Path,
        default=None,
        help="benchmark folder with ground-truth.json and html/*.html.gz "
        "(default: shared/benchmarks/article-extraction beside the repository)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where to write {{page_id: {{articleBody: text}}}} JSON (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--strategy",
        choices=(*STRATEGIES, "all"),
        default="ensemble",
        help="extract_article strategy to score; 'all' scores each (default: ensemble)",
    )
    parser.add_argument("--limit", type=int, default=None, help="score only the first N pages")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the plain trafilatura baseline"
    )
    parser.add_argument(
        "--no-dates", action="store_true", help="skip the publication-date measurements"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped to a file or a log: no need to wrap at 80 columns
        console.width = 120
    bench = args.bench or default_bench_dir()
    try:
        ground_truth, pages = load_benchmark(bench, args.limit)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2

    strategies = list(STRATEGIES) if args.strategy == "all" else [args.strategy]
    jobs: list[tuple[str, Callable[[Page], str]]] = [
        (f"extract_article strategy={s}", project_extractor(s)) for s in strategies
    ]
    if not args.no_baseline:
        jobs.append((BASELINE_NAME, trafilatura_baseline))

    # Warm up imports and caches so the first page does not carry them.
    for _, function in jobs:
        function(pages[0])

    runs = []
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        for name, function in jobs:
            runs.append(run_extractor(name, function, pages, progress))

    main_run = runs[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {k: {"articleBody": v} for k, v in main_run.predictions.items()},
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )

    table = Table(title=f"Article extraction, {len(pages)} pages of {bench}")
    for column in ("extractor", "F1", "precision", "recall", "pages/CPU s", "pages/s", "empty"):
        table.add_column(column, justify="left" if column == "extractor" else "right")
    baseline_counts = None
    evaluated = []
    for run in runs:
        scores, counts = evaluate(ground_truth, run.predictions)
        ci = bootstrap_interval(counts)
        evaluated.append((run, scores, counts))
        empty = sum(1 for text in run.predictions.values() if not text.strip())
        table.add_row(
            run.name,
            f"{scores.f1:.4f} ± {ci.f1:.3f}",
            f"{scores.precision:.4f} ± {ci.precision:.3f}",
            f"{scores.recall:.4f} ± {ci.recall:.3f}",
            f"{run.pages_per_cpu_second():.1f}",
            f"{run.pages_per_wall_second():.1f}",
            str(empty),
        )
        if run.name == BASELINE_NAME:
            baseline_counts = counts
    console.print(table)
    if baseline_counts is not None:
        for run, scores, counts in evaluated:
            if run.name == BASELINE_NAME:
                continue
            base = scores_from_counts(baseline_counts)
            diff = bootstrap_interval(counts, baseline_counts)
            console.print(
                f"{run.name} minus baseline: F1 {scores.f1 - base.f1:+.4f} ± {diff.f1:.3f}, "
                f"precision {scores.precision - base.precision:+.4f} ± {diff.precision:.3f}, "
                f"recall {scores.recall - base.recall:+.4f} ± {diff.recall:.3f}"
            )
    console.print(f"predictions of {main_run.name} written to {args.out}")
    if not args.no_dates:
        _print_dates(console, pages)
    return 0


def _print_dates(console: Console, pages: Sequence[Page]) -> None:
    results = evaluate_date_cases(load_date_cases())
    right = sum(r.correct for r in results)
    console.print(
        f"publication dates, fixture pages ({DATE_CASES.relative_to(REPO)}): "
        f"{right}/{len(results)} right (date and source)"
    )
    with_feed = [r for r in results if r.case.feed is not None]
    console.print(
        f"  of which reached with a feed date: {sum(r.correct for r in with_feed)}/"
        f"{len(with_feed)} right"
    )
    for result in results:
        if not result.correct:
            console.print(
                f"  [yellow]wrong[/yellow]: {result.case.name}: got {result.found} "
                f"({result.source}), expected {result.case.expected} ({result.case.source})"
            )
    agreement = url_date_agreement(pages)
    sources = ", ".join(
        f"{k} {n} ({same} same day)" for k, (n, same) in agreement.by_source.items()
    )
    console.print(
        f"publication dates, benchmark pages whose URL has a date (URL withheld): "
        f"{agreement.same_day}/{agreement.pages} same day, "
        f"{agreement.within_a_day}/{agreement.pages} within a day, "
        f"{agreement.missing} without a date; by source: {sources}"
    )


if __name__ == "__main__":
    sys.exit(main())
