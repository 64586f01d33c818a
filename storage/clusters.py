"""Story clusters: which stored articles tell the same story (migrations 7 and 9).

Every stored article gets ``articles.story_cluster``: the article_id of the first stored
article of its story, its own when it starts one. A new article joins the story of the
stored (or earlier in the same batch) article it is most similar to, when that similarity
reaches ``story_cluster_threshold``; clusters never move once assigned, so re-running an
ingest changes none.

Similarity is the Jaccard similarity of the two texts' word shingles, estimated from
their MinHash signatures (:mod:`adoptwatch.extractors.story_signatures`). Finding the
candidates scales with the batch, not the log: ``story_bands`` holds one row per
(article, band) and one join with the batch's band hashes finds the stored articles that
share a band, within ``story_cluster_window_days`` of the new article's story time
(``published_at``, else ``fetched_at``): syndicated copies appear within days of each
other, and the bound keeps the join to a slice of time and keeps a story from absorbing a
rewrite of itself years later. Each candidate is then confirmed on its whole signature
(``story_signatures``).

Both backends: no keys; every write runs inside the caller's
:func:`~adoptwatch.storage.db.atomic`, and :func:`fill_story_clusters` looks again, inside
its transaction, at which articles still lack a cluster, so a fill that runs twice (or in
two writers at once) assigns each article once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from adoptwatch.storage.db import atomic
from adoptwatch.storage.facts import keys_of_articles, recompute_facts
from adoptwatch.storage.records import ArticleRow, StorySignatureRow, registered


@dataclass(frozen=True)
class StoryClustering:
    """How near a copy must be (``threshold``: estimated Jaccard similarity, 0-1) and how
    far apart in time two articles of one story may be (``window_days``)."""

    threshold: float
    window_days: float


@dataclass(frozen=True)
class StoredStory:
    """An article waiting for its outlet or story cluster (:func:`articles_missing_story`)."""

    article_id: str
    canonical_url: str
    text: str
    published_at: datetime | None
    fetched_at: datetime
    outlet: str | None
    story_cluster: str | None


def estimated_jaccard(a: bytes, b: bytes) -> float:
    """The Jaccard similarity of two texts' shingle sets, estimated from their MinHash
    signatures: the share of hash values that are equal."""
    left = np.frombuffer(a, dtype="<u4")
    right = np.frombuffer(b, dtype="<u4")
    if len(left) != len(right) or not len(left):
        return 0.0
    return float(np.count_nonzero(left == right)) / len(left)


def _story_at(published_at: datetime | None, fetched_at: datetime) -> datetime:
    return published_at or fetched_at


@dataclass(frozen=True)
class _Pending:
    article_id: str
    story_at: datetime
    signature: StorySignatureRow


def _stored_candidates(
    con: duckdb.DuckDBPyConnection, pending: Sequence[_Pending], window: timedelta
) -> dict[str, list[tuple[str, datetime, bytes, str]]]:
    """new article_id -> [(stored article_id, its story time, its minhash, its cluster)]
    for the stored articles that share a band with it inside the time window."""
    bands = pa.table(
        {
            "article_id": [p.article_id for p in pending for _ in p.signature.band_hashes],
            "story_at": pa.array(
                [p.story_at for p in pending for _ in p.signature.band_hashes], pa.timestamp("us")
            ),
            "band_hash": pa.array(
                [h for p in pending for h in p.signature.band_hashes], pa.int64()
            ),
        }
    )
    with registered(con, "_new_story_bands", bands):
        rows = con.execute(
            """
            WITH matched AS (
                SELECT DISTINCT n.article_id AS new_id, s.article_id AS stored_id
                FROM _new_story_bands n
                JOIN story_bands s ON s.band_hash = n.band_hash
                 AND s.story_at BETWEEN n.story_at - ?::INTERVAL AND n.story_at + ?::INTERVAL
                -- The same bound for the whole batch, as constants: DuckDB skips the row
                -- groups outside it (min/max per group), and the log is written in
                -- rough time order.
                WHERE s.story_at BETWEEN ? AND ?
            )
            SELECT m.new_id, m.stored_id, g.story_at, g.minhash, a.story_cluster
            FROM matched m
            JOIN story_signatures g ON g.article_id = m.stored_id
            JOIN articles a ON a.article_id = m.stored_id
            WHERE a.story_cluster IS NOT NULL
            """,
            [
                window,
                window,
                min(p.story_at for p in pending) - window,
                max(p.story_at for p in pending) + window,
            ],
        ).fetchall()
    found: dict[str, list[tuple[str, datetime, bytes, str]]] = {}
    for new_id, stored_id, story_at, minhash, cluster in rows:
        found.setdefault(new_id, []).append((stored_id, story_at, bytes(minhash), cluster))
    return found


def _assign(
    con: duckdb.DuckDBPyConnection, pending: Sequence[_Pending], clustering: StoryClustering
) -> dict[str, str]:
    """Give each pending article its story cluster and store its signature; returns
    article_id -> story_cluster. In story-time order, so that within a batch the earliest
    article of a story starts it."""
    if not pending:
        return {}
    ordered = sorted(pending, key=lambda p: (p.story_at, p.article_id))
    window = timedelta(days=clustering.window_days)
    candidates = _stored_candidates(con, ordered, window)
    clusters: dict[str, str] = {}
    by_band: dict[int, list[_Pending]] = {}  # this batch's articles, already assigned
    for p in ordered:
        best: tuple[float, datetime, str, str] | None = None  # similarity, time, id, cluster
        options = list(candidates.get(p.article_id, ()))
        seen: set[str] = set()
        for band in p.signature.band_hashes:
            for q in by_band.get(band, ()):
                if q.article_id not in seen and abs(q.story_at - p.story_at) <= window:
                    seen.add(q.article_id)
                    options.append(
                        (q.article_id, q.story_at, q.signature.minhash, clusters[q.article_id])
                    )
        for other_id, other_at, minhash, cluster in options:
            similarity = estimated_jaccard(p.signature.minhash, minhash)
            if similarity < clustering.threshold:
                continue
            # The most similar; among equals the earliest, then the smallest id.
            key = (-similarity, other_at, other_id, cluster)
            if best is None or key < (-best[0], best[1], best[2], best[3]):
                best = (similarity, other_at, other_id, cluster)
        clusters[p.article_id] = best[3] if best else p.article_id
        for band in p.signature.band_hashes:
            by_band.setdefault(band, []).append(p)
    _insert_signatures(con, ordered)
    return clusters


def _insert_signatures(con: duckdb.DuckDBPyConnection, pending: Sequence[_Pending]) -> None:
    signatures = pa.table(
        {
            "article_id": [p.article_id for p in pending],
            "story_at": pa.array([p.story_at for p in pending], pa.timestamp("us")),
            "minhash": pa.array([p.signature.minhash for p in pending], pa.binary()),
        }
    )
    bands = pa.table(
        {
            "band_hash": pa.array(
                [h for p in pending for h in p.signature.band_hashes], pa.int64()
            ),
            "story_at": pa.array(
                [p.story_at for p in pending for _ in p.signature.band_hashes], pa.timestamp("us")
            ),
            "article_id": [p.article_id for p in pending for _ in p.signature.band_hashes],
        }
    )
    for table, rows in (("story_signatures", signatures), ("story_bands", bands)):
        with registered(con, "_new_story_rows", rows):
            con.execute(
                f"INSERT INTO {table} ({', '.join(rows.schema.names)}) "
                f"SELECT {', '.join(rows.schema.names)} FROM _new_story_rows"
            )


def cluster_new_articles(
    con: duckdb.DuckDBPyConnection,
    articles: Sequence[ArticleRow],
    signatures: Mapping[str, StorySignatureRow],
    clustering: StoryClustering | None,
) -> list[ArticleRow]:
    """The articles a write is about to store, with their story clusters (those with a
    signature and no cluster yet), whose signatures it stores. Runs inside the write's
    transaction, before the articles are inserted (``storage.store.write_batch``).
    ``clustering`` None: the articles are stored as they are, and a later
    :func:`fill_story_clusters` clusters them."""
    if clustering is None:
        return list(articles)
    pending = [
        _Pending(a.article_id, _story_at(a.published_at, a.fetched_at), signatures[a.article_id])
        for a in articles
        if a.story_cluster is None and a.article_id in signatures
    ]
    clusters = _assign(con, pending, clustering)
    return [
        dataclasses.replace(a, story_cluster=clusters[a.article_id])
        if a.article_id in clusters
        else a
        for a in articles
    ]


def articles_missing_story(con: duckdb.DuckDBPyConnection, limit: int) -> list[StoredStory]:
    """Up to ``limit`` stored articles without an outlet or a story cluster (stored
    before migration 7, or written without them), earliest story first."""
    rows = con.execute(
        """
        SELECT article_id, canonical_url, text, published_at, fetched_at, outlet, story_cluster
        FROM articles
        WHERE outlet IS NULL OR story_cluster IS NULL
        ORDER BY coalesce(published_at, fetched_at), article_id
        LIMIT ?
        """,
        [limit],
    ).fetchall()
    return [StoredStory(*r) for r in rows]


def fill_story_clusters(
    con: duckdb.DuckDBPyConnection,
    outlets: Mapping[str, str],
    signatures: Iterable[StorySignatureRow],
    clustering: StoryClustering,
) -> int:
    """Set the missing outlets and story clusters of stored articles (article_id ->
    outlet; the signatures of those to cluster), and recompute the facts their events
    report, in one transaction; returns how many articles changed. Only what is still
    missing is set, so running it twice, or in two writers at once, changes nothing the
    second time."""
    by_id = {s.article_id: s for s in signatures}
    wanted = sorted(set(outlets) | set(by_id))

    def work(con: duckdb.DuckDBPyConnection) -> int:
        rows = con.execute(
            """
            SELECT article_id, published_at, fetched_at, outlet, story_cluster FROM articles
            WHERE list_contains(?, article_id) AND (outlet IS NULL OR story_cluster IS NULL)
            """,
            [wanted],
        ).fetchall()
        if not rows:
            return 0
        pending = [
            _Pending(r[0], _story_at(r[1], r[2]), by_id[r[0]])
            for r in rows
            if r[4] is None and r[0] in by_id
        ]
        # A signature left by an interrupted older fill would be found as a candidate
        # of itself: the articles being clustered are compared without their own.
        con.execute(
            "DELETE FROM story_signatures WHERE list_contains(?, article_id)",
            [[p.article_id for p in pending]],
        )
        con.execute(
            "DELETE FROM story_bands WHERE list_contains(?, article_id)",
            [[p.article_id for p in pending]],
        )
        clusters = _assign(con, pending, clustering)
        update = pa.table(
            {
                "article_id": [r[0] for r in rows],
                "outlet": pa.array([r[3] or outlets.get(r[0]) for r in rows], pa.string()),
                "story_cluster": pa.array([r[4] or clusters.get(r[0]) for r in rows], pa.string()),
            }
        )
        with registered(con, "_filled_stories", update):
            con.execute(
                """
                UPDATE articles SET outlet = f.outlet, story_cluster = f.story_cluster
                FROM _filled_stories f WHERE articles.article_id = f.article_id
                """
            )
        # Their facts counted them as their own publishers until now (storage.facts).
        recompute_facts(con, keys_of_articles(con, [r[0] for r in rows]))
        return len(rows)

    return int(atomic(con, work))


def story_clusters(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str | None, str | None]]:
    """(article_id, outlet, story_cluster) of every stored article, by article_id (tests
    and small databases: it reads the whole column)."""
    return [
        (r[0], r[1], r[2])
        for r in con.execute(
            "SELECT article_id, outlet, story_cluster FROM articles ORDER BY article_id"
        ).fetchall()
    ]
