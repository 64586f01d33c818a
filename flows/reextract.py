"""The re-extract flow: the current claims extractor over stored article text.

Not scheduled (see flows/deployments.py): run it after the extractor changes, from the
Prefect UI, ``prefect deployment run 'adoptwatch-reextract/reextract'`` or, without
Prefect, ``adoptwatch reextract``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from adoptwatch.digest.alerts import deliver_alerts_now
from adoptwatch.flows import run_settings
from adoptwatch.flows.ingest import DB_TASK_OPTIONS
from adoptwatch.pipeline.progress import Progress
from adoptwatch.pipeline.reextract import reextract
from adoptwatch.settings import Settings

reextract_task = task(name="reextract", **DB_TASK_OPTIONS)(reextract)


@flow(name="adoptwatch-reextract", log_prints=True)
def reextract_flow(
    config: str | None = None,
    db: str | None = None,
    include_current: bool = False,
    overrides: dict[str, Any] | None = None,
    from_pages: bool = False,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Replace events and mentions that older extractor versions produced (``include_current``:
    re-extract every article; ``from_pages``: extract each article's text again from its
    stored page first). Returns what changed."""
    settings = run_settings(settings, config, overrides, db=db)
    report = reextract_task(
        settings, include_current=include_current, progress=progress, from_pages=from_pages
    )
    # After the replacements committed: the alerts their fact changes queued.
    delivery = deliver_alerts_now(settings)
    return report.as_dict() | {
        "examples_added": report.examples_added,
        "examples_removed": report.examples_removed,
        "alerts": delivery.as_dict(),
    }
