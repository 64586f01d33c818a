"""Story clusters: the near-duplicate threshold, measured on syndicated copies of real articles.

The 181 real news pages of the article-extraction benchmark (``shared/benchmarks/
article-extraction``, MIT; read at run time, never copied into the repository) give the
originals: each page's headline (its ``<title>``, site name cut off) atop its hand-checked
body, as adoptwatch stores an article's text. Copies are made the way syndication alters a
story, with a seeded random generator:

- ``boilerplate``: another site's leftovers around it (a "related stories" list of other
  pages' headlines, newsletter and cookie lines, a copyright footer);
- ``headline``: another headline (words of the original dropped and reordered, a prefix)
  and a dek line under it;
- ``cut``: the last paragraphs cut (a fifth to two fifths of them);
- ``dropped``: one paragraph in the middle dropped;
- ``wire``: a dateline and wire credit before, a reporting/editing credit after;
- ``edits``: a few words edited (about 3 in 100 replaced or deleted);
- ``all``: every change above at once (the hardest copy).

Positive pairs: (original, copy) per page and variant. Negative pairs: every pair of two
different originals, and, for each page, its most similar different story (same topic: the
highest word-set overlap) with both copies wrapped in the *same* site's boilerplate, wire
credit and a changed headline (what two unrelated stories syndicated by one site share).

Each pair's similarity is the one the ingest uses (``extractors.story_signatures`` then
``storage.clusters.estimated_jaccard``); the baseline is the exact Jaccard similarity of the
same shingle sets (what MinHash estimates), in the same run. For each threshold it prints
precision and recall of "same story", and the LSH candidate rate (pairs that share a band,
i.e. that the storage's join finds at all); recall counts a copy as found when it shares
a band and reaches the threshold, as in the ingest. The chosen threshold is the lowest of
the grid that is ``MARGIN`` (0.10) above the most similar pair of different stories: as
low as the data allow, so that copies with more changes still match, with room for the
estimate's error.

It then times the clustering in the write itself (``storage.store.write_batch``) against
a database of ``--stored`` synthetic articles (their signatures spread over three years,
``storage.synthetic``): a batch of 50 syndicated copies written with story clustering,
against the same batch written without it (the baseline), in the same run, and the same
against an empty database, so that the growth with the log shows.

    .venv/bin/python -m benchmarks.story_clusters [--bench DIR] [--limit N] [--stored N]
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from adoptwatch.extractors.story_signatures import (  # noqa: E402
    StorySignature,
    shingles,
    story_signature,
)
from adoptwatch.storage.clusters import estimated_jaccard  # noqa: E402

BENCH_NAME = Path("benchmarks") / "article-extraction"
QUICK_ARGS = ["--limit", "40", "--stored", "20000"]
WRITE_BATCH = 50
SEED = 14
THRESHOLDS = [round(0.20 + 0.05 * i, 2) for i in range(15)]  # 0.20 .. 0.90
VARIANTS = ("boilerplate", "headline", "cut", "dropped", "wire", "edits", "all")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SITE_SUFFIX = re.compile(r"\s+[|\-–—:]\s+[^|\-–—:]{2,40}$")
_WORD = re.compile(r"\w+")

# Self-written leftovers of a syndicating site's template (not from any real site).
_BOILER_TOP = [
    "Skip to main content",
    "Sign in | Subscribe for unlimited access",
    "We use cookies to improve your experience. Accept all cookies",
]
_BOILER_BOTTOM = [
    "Get the morning briefing in your inbox every weekday. Sign up now",
    "Share this article: Facebook Twitter LinkedIn Email",
    "Copyright 2026 The Daily Relay Network. All rights reserved.",
]


def default_bench_dir() -> Path:
    for parent in REPO.parents:
        candidate = parent / "shared" / BENCH_NAME
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / BENCH_NAME


@dataclass(frozen=True)
class Story:
    page_id: str
    headline: str
    paragraphs: tuple[str, ...]

    def text(self) -> str:
        return "\n\n".join((self.headline, *self.paragraphs))


def load_stories(bench: Path, limit: int | None = None) -> list[Story]:
    """The benchmark's pages as stories (headline from ``<title>``, body paragraphs)."""
    truth_file = bench / "ground-truth.json"
    if not truth_file.is_file():
        raise FileNotFoundError(f"no benchmark at {bench}; pass --bench DIR")
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    stories = []
    for page_id in sorted(truth)[:limit] if limit else sorted(truth):
        body = truth[page_id].get("articleBody") or ""
        paragraphs = tuple(p.strip() for p in body.split("\n") if p.strip())
        if not paragraphs:
            continue
        with gzip.open(bench / "html" / f"{page_id}.html.gz") as fh:
            page = fh.read().decode("utf-8", errors="replace")
        found = _TITLE.search(page)
        title = html.unescape(" ".join(found.group(1).split())) if found else ""
        title = _SITE_SUFFIX.sub("", title) or title
        stories.append(Story(page_id, title, paragraphs))
    return stories


# --- how syndication alters a story ------------------------------------------------------


def _boilerplate(story: Story, others: Sequence[Story], rng: random.Random) -> Story:
    related = [o.headline for o in rng.sample(list(others), k=min(4, len(others)))]
    top = rng.sample(_BOILER_TOP, k=2)
    bottom = ["Related stories", *related, *rng.sample(_BOILER_BOTTOM, k=2)]
    return Story(story.page_id, story.headline, (*top, *story.paragraphs, *bottom))


def _headline(story: Story, rng: random.Random) -> Story:
    words = story.headline.split()
    kept = [w for w in words if rng.random() > 0.3] or words[:1]
    if len(kept) > 3:
        i = rng.randrange(len(kept) - 1)
        kept[i], kept[i + 1] = kept[i + 1], kept[i]
    prefix = rng.choice(["Report:", "Update:", "Analysis:", "Explainer:"])
    dek = rng.choice(
        [
            "What the move means, and what comes next.",
            "The decision was confirmed late on Tuesday.",
            "Here is what we know so far.",
        ]
    )
    return Story(story.page_id, f"{prefix} {' '.join(kept)}", (dek, *story.paragraphs))


def _cut(story: Story, rng: random.Random) -> Story:
    n = len(story.paragraphs)
    keep = max(1, n - max(1, round(n * rng.uniform(0.2, 0.4)))) if n > 1 else 1
    return Story(story.page_id, story.headline, story.paragraphs[:keep])


def _dropped(story: Story, rng: random.Random) -> Story:
    n = len(story.paragraphs)
    if n < 3:
        return story
    i = rng.randrange(1, n - 1)
    return Story(story.page_id, story.headline, story.paragraphs[:i] + story.paragraphs[i + 1 :])


def _wire(story: Story, rng: random.Random) -> Story:
    city = rng.choice(["LONDON", "NEW YORK", "SAN FRANCISCO", "SINGAPORE"])
    first, *rest = story.paragraphs
    credit = "Reporting by the Relay wire desk; editing by the weekend team."
    return Story(story.page_id, story.headline, (f"{city} (Relay Wire) - {first}", *rest, credit))


def _edits(story: Story, rng: random.Random) -> Story:
    vocabulary = _WORD.findall(" ".join(story.paragraphs)) or ["the"]

    def edit(paragraph: str) -> str:
        out = []
        for word in paragraph.split(" "):
            roll = rng.random()
            if roll < 0.015:
                continue  # deleted
            out.append(rng.choice(vocabulary) if roll < 0.03 else word)
        return " ".join(out)

    return Story(story.page_id, story.headline, tuple(edit(p) for p in story.paragraphs))


def copy_of(story: Story, variant: str, others: Sequence[Story], rng: random.Random) -> Story:
    # In the order a syndicating site works: the body is cut and edited, credited, given
    # its own headline and dek, and set in the site's template.
    changes: dict[str, Callable[[Story], Story]] = {
        "cut": lambda s: _cut(s, rng),
        "dropped": lambda s: _dropped(s, rng),
        "edits": lambda s: _edits(s, rng),
        "wire": lambda s: _wire(s, rng),
        "headline": lambda s: _headline(s, rng),
        "boilerplate": lambda s: _boilerplate(s, others, rng),
    }
    for name in changes if variant == "all" else [variant]:
        story = changes[name](story)
    return story


# --- pairs and the sweep -----------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    kind: str  # a variant name (positive), or "different" / "same topic" (negative)
    same_story: bool
    estimated: float  # the ingest's similarity (MinHash)
    exact: float  # the baseline: exact Jaccard of the shingle sets
    shares_band: bool


def _pair(kind: str, same: bool, a: str, b: str, cache: dict[str, tuple]) -> Pair:
    def sig(text: str) -> tuple[StorySignature, set[str]]:
        if text not in cache:
            cache[text] = (story_signature(text), shingles(text))
        return cache[text]

    (sa, ha), (sb, hb) = sig(a), sig(b)
    exact = len(ha & hb) / len(ha | hb) if ha | hb else 0.0
    shares = bool(set(sa.band_hashes) & set(sb.band_hashes))
    return Pair(kind, same, estimated_jaccard(sa.minhash, sb.minhash), exact, shares)


def build_pairs(stories: Sequence[Story]) -> list[Pair]:
    rng = random.Random(SEED)
    cache: dict[str, tuple] = {}
    pairs = []
    for i, story in enumerate(stories):
        others = [s for j, s in enumerate(stories) if j != i]
        for variant in VARIANTS:
            copy = copy_of(story, variant, others, rng)
            pairs.append(_pair(variant, True, story.text(), copy.text(), cache))
    for i, a in enumerate(stories):
        for b in stories[i + 1 :]:
            pairs.append(_pair("different", False, a.text(), b.text(), cache))
    words = [set(_WORD.findall(s.text().casefold())) for s in stories]
    for i, story in enumerate(stories):
        # The same-topic neighbour: the most words in common (relative to both).
        j = max(
            (j for j in range(len(stories)) if j != i),
            key=lambda j: len(words[i] & words[j]) / len(words[i] | words[j]),
        )
        site = random.Random(SEED + i)  # one syndicating site's template for both copies
        state = site.getstate()
        a = copy_of(story, "all", [stories[j]], site)
        site.setstate(state)
        b = copy_of(stories[j], "all", [story], site)
        pairs.append(_pair("same topic", False, a.text(), b.text(), cache))
    return pairs


@dataclass(frozen=True)
class Row:
    threshold: float
    precision: float
    recall: float
    false_positives: int
    exact_precision: float
    exact_recall: float


def sweep(pairs: Sequence[Pair]) -> list[Row]:
    rows = []
    for t in THRESHOLDS:
        exact = _scores(pairs, t, lambda p, t: p.exact >= t)
        rows.append(Row(t, *_scores(pairs, t, _found), exact[0], exact[1]))
    return rows


def _found(p: Pair, t: float) -> bool:
    """What the ingest does: the pair shares a band (the join finds it) and its estimated
    similarity reaches the threshold."""
    return p.shares_band and p.estimated >= t


def _scores(
    pairs: Sequence[Pair], t: float, matches: Callable[[Pair, float], bool]
) -> tuple[float, float, int]:
    tp = sum(1 for p in pairs if p.same_story and matches(p, t))
    fp = sum(1 for p in pairs if not p.same_story and matches(p, t))
    positives = sum(1 for p in pairs if p.same_story)
    precision = tp / (tp + fp) if tp + fp else 1.0
    return precision, tp / positives if positives else 0.0, fp


# How far above the most similar pair of different stories the threshold must be: about
# three standard errors of a 126-value MinHash estimate near 0.25 (sqrt(J(1-J)/126) = 0.04),
# so that an unlucky estimate of a pair like it still stays below.
MARGIN = 0.10


def choose(rows: Sequence[Row], pairs: Sequence[Pair]) -> Row:
    """The lowest threshold at least ``MARGIN`` above the most similar pair of different
    stories (see the module)."""
    floor = max((p.estimated for p in pairs if not p.same_story), default=0.0) + MARGIN
    above = [r for r in rows if r.threshold >= floor - 1e-9]
    return min(above, key=lambda r: r.threshold) if above else rows[-1]


def recall_by_kind(pairs: Sequence[Pair], t: float) -> dict[str, float]:
    out = {}
    for kind in VARIANTS:
        ours = [p for p in pairs if p.kind == kind]
        out[kind] = sum(1 for p in ours if _found(p, t)) / len(ours) if ours else 0.0
    return out


@dataclass(frozen=True)
class Report:
    stories: int
    pairs: list[Pair]
    rows: list[Row]
    chosen: Row
    seconds: float

    @property
    def positives(self) -> list[Pair]:
        return [p for p in self.pairs if p.same_story]

    @property
    def negatives(self) -> list[Pair]:
        return [p for p in self.pairs if not p.same_story]


def run(bench: Path, limit: int | None = None) -> Report:
    began = time.perf_counter()
    stories = load_stories(bench, limit)
    pairs = build_pairs(stories)
    rows = sweep(pairs)
    return Report(len(stories), pairs, rows, choose(rows, pairs), time.perf_counter() - began)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=None, help="the article-extraction set")
    parser.add_argument("--limit", type=int, default=None, help="the first N pages only")
    parser.add_argument(
        "--stored", type=int, default=1_000_000, help="synthetic articles stored (0: skip)"
    )
    args = parser.parse_args(argv)
    try:
        report = run(args.bench or default_bench_dir(), args.limit)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pos, neg = report.positives, report.negatives
    print(
        f"{report.stories} real stories; {len(pos)} syndicated copies (positive pairs), "
        f"{len(neg)} pairs of different stories ({sum(p.kind == 'same topic' for p in neg)} "
        f"same-topic pairs in one site's template); {report.seconds:.1f}s"
    )
    for label, kinds in (("different", ("different",)), ("same topic", ("same topic",))):
        values = sorted((p.estimated for p in neg if p.kind in kinds), reverse=True)
        print(f"  most similar {label} stories: {', '.join(f'{v:.3f}' for v in values[:3])}")
    least = sorted(p.estimated for p in pos)
    print(f"  least similar copies: {', '.join(f'{v:.3f}' for v in least[:3])}")
    print(
        f"  LSH bands shared (found by the join): copies {_share(pos):.3f}, "
        f"different stories {_share(neg):.4f}"
    )
    print()
    print("threshold  precision  recall  false+   | baseline exact Jaccard: precision  recall")
    for r in report.rows:
        mark = "  <- chosen" if r is report.chosen else ""
        print(
            f"  {r.threshold:.2f}     {r.precision:.4f}   {r.recall:.4f}  {r.false_positives:>5}"
            f"    |                         {r.exact_precision:.4f}  {r.exact_recall:.4f}{mark}"
        )
    print()
    t = report.chosen.threshold
    print(
        f"chosen story_cluster_threshold = {t:.2f}: precision {report.chosen.precision:.4f}, "
        f"recall {report.chosen.recall:.4f}"
    )
    print(
        "  recall by change: "
        + ", ".join(f"{k} {v:.3f}" for k, v in recall_by_kind(report.pairs, t).items())
    )
    if args.stored:
        stories = load_stories(args.bench or default_bench_dir(), args.limit)
        print()
        print(f"write of {WRITE_BATCH} syndicated copies, median of 3 (ms):")
        print(
            "  stored articles   with clustering   without (baseline)   clustered with the original"
        )
        for stored in (0, args.stored):
            with_ms, without_ms, joined = time_write(stories, stored)
            print(
                f"  {stored:>15,}   {with_ms:>15.1f}   {without_ms:>18.1f}"
                f"   {joined:>4}/{WRITE_BATCH}"
            )
    return 0


def time_write(stories: Sequence[Story], stored: int) -> tuple[float, float, int]:
    """Milliseconds to write a batch of copies with and without clustering, over a database
    of ``stored`` synthetic articles plus the originals; how many copies joined their
    original's story."""
    import dataclasses
    import statistics
    import tempfile
    from datetime import timedelta

    from adoptwatch.pipeline.rows import article_id_for, content_hash, signature_row
    from adoptwatch.storage import store, synthetic
    from adoptwatch.storage.clusters import StoryClustering, story_clusters
    from adoptwatch.storage.db import write_session
    from adoptwatch.storage.records import ArticleRow

    when = synthetic.START + timedelta(days=400)  # inside the synthetic log's span
    clustering = StoryClustering(0.4, 30.0)
    rng = random.Random(SEED)

    def rows(prefix: str, texts: Sequence[str]) -> store.WriteBatch:
        articles = []
        for i, text in enumerate(texts):
            url = f"https://{prefix}.example/{i}"
            articles.append(
                ArticleRow(
                    article_id_for(url), url, url, "bench", None, when + timedelta(hours=i),
                    when, content_hash(text), text, "bench", "bench",
                )
            )  # fmt: skip
        return store.WriteBatch(
            articles=articles,
            signatures={a.article_id: signature_row(a.article_id, a.text) for a in articles},
            story_clustering=clustering,
        )

    originals = [s.text() for s in stories[:WRITE_BATCH]]
    copies = [copy_of(s, "boilerplate", stories, rng).text() for s in stories[:WRITE_BATCH]]
    timings: dict[bool, list[float]] = {True: [], False: []}
    joined = 0
    with tempfile.TemporaryDirectory() as tmp, write_session(Path(tmp) / "bench.duckdb") as con:
        if stored:
            synthetic.generate_crawl_history(con, stored)
            synthetic.generate_story_signatures(con)
        store.write_batch(con, rows("original", originals))
        for attempt in range(3):
            for clustered in (True, False):
                # A line of its own per write: the same text twice is a duplicate, not stored.
                label = f"copy-{attempt}-{clustered}"
                batch = rows(label, [f"{text}\n\nSyndicated as {label}." for text in copies])
                if not clustered:
                    batch = dataclasses.replace(batch, story_clustering=None)
                began = time.perf_counter()
                store.write_batch(con, batch)
                timings[clustered].append((time.perf_counter() - began) * 1000)
        heads = {article_id_for(f"https://original.example/{i}") for i in range(len(originals))}
        # Each copy was written three times with clustering (under other URLs).
        joined = (
            sum(
                1
                for a, _outlet, cluster in story_clusters(con)
                if cluster in heads and a not in heads
            )
            // 3
        )
    return statistics.median(timings[True]), statistics.median(timings[False]), joined


def _share(pairs: Sequence[Pair]) -> float:
    return sum(p.shares_band for p in pairs) / len(pairs) if pairs else 0.0


if __name__ == "__main__":
    sys.exit(main())
