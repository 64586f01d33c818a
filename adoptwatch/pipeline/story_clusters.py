"""Outlets and story clusters for articles stored without them (docs/corroboration.md).

The ingest gives every article it stores its outlet and story cluster in the write
(``rows.build_write_batch``, ``storage.store.write_batch``). Articles stored before
migration 7, or written by other means, have neither: :func:`backfill_story_clusters`
fills them, oldest story first, at the start of every ingest (``ingest.prepare_run``),
so that a database upgraded in place is complete after its next ingest and the older
articles head their stories before new copies arrive. Nothing to fill costs one query.
"""

from __future__ import annotations

import duckdb

from adoptwatch.extractors.outlets import outlet_of
from adoptwatch.pipeline.rows import signature_row
from adoptwatch.settings import Settings
from adoptwatch.storage.clusters import (
    StoryClustering,
    articles_missing_story,
    fill_story_clusters,
)

# Articles read and filled per transaction: their texts are held in memory meanwhile.
BACKFILL_BATCH = 500


def story_clustering(settings: Settings) -> StoryClustering:
    return StoryClustering(settings.story_cluster_threshold, settings.story_cluster_window_days)


def backfill_story_clusters(
    con: duckdb.DuckDBPyConnection, clustering: StoryClustering, batch_size: int = BACKFILL_BATCH
) -> int:
    """Give every stored article without one its outlet and story cluster; returns how
    many articles were filled. Idempotent: a second run finds nothing to fill."""
    filled = 0
    while True:
        missing = articles_missing_story(con, batch_size)
        if not missing:
            return filled
        outlets = {a.article_id: outlet_of(a.canonical_url) for a in missing if a.outlet is None}
        signatures = [
            signature_row(a.article_id, a.text) for a in missing if a.story_cluster is None
        ]
        changed = fill_story_clusters(con, outlets, signatures, clustering)
        if not changed:  # another writer filled them meanwhile and nothing is left
            return filled
        filled += changed
