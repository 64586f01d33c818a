"""The pipeline: what one ingest, one re-extraction does, as plain functions.

Modules, in the order an article meets them: :mod:`~adoptwatch.pipeline.sources` (the
sources file), :mod:`~adoptwatch.pipeline.crawl` (feeds, which entries to fetch, pages),
:mod:`~adoptwatch.pipeline.pages` (the page gate, article text, claims),
:mod:`~adoptwatch.pipeline.rows` (what is stored), :mod:`~adoptwatch.pipeline.ingest` (the
driver) and :mod:`~adoptwatch.pipeline.reextract`. The flows in ``adoptwatch.flows`` wrap
these functions as Prefect tasks; nothing here knows about Prefect or the CLI.
"""
