"""The root of every error adoptwatch raises on purpose, and the whole tree.

Library code raises these and nothing else for what a user or a source can get wrong;
the edge (``adoptwatch.cli``) turns any of them into one line and exit status 1, in one
place. Anything else escaping is a bug and keeps its traceback. Each class lives beside
the code that raises it; the tree, drawn once, is here::

    AdoptwatchError
     ├── SettingsError            adoptwatch.settings: a settings file, variable or flag is
     │                            wrong (the message names the key)
     ├── SourcesError             adoptwatch.pipeline.sources: the sources file is missing
     │                            or malformed
     ├── FetchError               adoptwatch.fetch: one request failed; ``.error_class`` is
     │    │                       what fetch_log stores
     │    ├── BlockedURL          not http(s), an invalid URL, or an address outside the
     │    │                       allowed networks (never contacted)
     │    ├── RobotsDisallowed    robots.txt forbids the URL to our user agent
     │    ├── TooManyRedirects    a redirect loop, or a chain longer than max_redirects
     │    ├── ResponseTooLarge    the body passed the size cap (after decompression)
     │    ├── BadEncoding         a Content-Encoding we did not ask for, or a corrupt body
     │    ├── TLSFailure          the TLS handshake failed
     │    ├── HTTPStatusError     a 4xx/5xx answer (5xx and 429 count as transient)
     │    └── TransientError      may work next time
     │         ├── FetchTimeout       the total deadline, or a connect/read timeout, passed
     │         └── ConnectionFailed   refused or reset connection, a broken HTTP exchange
     │              └── DNSFailure    the host name did not resolve
     ├── ExportError              adoptwatch.pipeline.export: the export folder cannot be
     │                            written, or the format is unknown
     ├── PageRefused              adoptwatch.pipeline.pages: a fetched page is no article
     │                            we keep (binary, too many tags, text too long)
     ├── StorageError             adoptwatch.storage.db
     │    ├── DatabaseBusy        the file stayed locked for the whole timeout
     │    ├── DatabaseMissing     read of a database that does not exist yet
     │    ├── IngestAlreadyRunning  another ingest holds the ingest lock
     │    ├── WriteConflict       other DuckLake writers kept committing first for the
     │    │                       whole timeout (the write was rolled back whole)
     │    ├── SendInProgress      adoptwatch.storage.digest: another run is sending this
     │    │                       week's digest now
     │    └── QueryError          DuckDB refused a statement (``adoptwatch query``)
     │         ├── QueryTimeout   adoptwatch.storage.sandbox: it ran past query_timeout
     │         └── QueryCancelled adoptwatch.storage.sandbox: stopped on request (Ctrl-C)
     ├── LakeError                adoptwatch.storage.lake: a DuckLake URL, data path or
     │                            extension is wrong or missing, or the lake cannot be
     │                            attached
     ├── FeedParseError           adoptwatch.extractors.feeds: not an RSS or Atom feed
     │    └── UnsafeFeed          the feed declares XML entities
     ├── ArticleExtractionError   adoptwatch.extractors.article: the page holds no article text
     ├── InvalidURL               adoptwatch.extractors.urls: not an absolute http(s) URL
     ├── CatalogError             adoptwatch.extractors.catalog: catalog.toml is malformed
     ├── GazetteerError           adoptwatch.extractors.adopters: companies.toml is malformed
     ├── UnknownName              adoptwatch.extractors.names: a company, model, vendor or
     │                            origin no alias table knows (the message lists close ones)
     ├── PairModelError           adoptwatch.extractors.pair_model: the trained claims model
     │                            is missing or cannot run
     ├── DigestError              adoptwatch.digest
     │    ├── InvalidWeek         not an ISO week such as 2026-W48
     │    ├── InvalidAddress      not exactly one mailbox, or CR/LF in it
     │    ├── DigestConfigError   unknown time zone, no recipients, SSL and STARTTLS both
     │    │                       on, a credentials block that cannot be loaded, a bad
     │    │                       --dry-run path
     │    ├── NotRecorded         the digest WAS sent, but digest_log could not be written
     │    └── SendFailed          not sent (``transient``: a retry may help); the attempt
     │         │                  is in digest_log
     │         ├── SmtpUnavailable     connection refused or lost, timeout, 4xx (transient)
     │         ├── SmtpTlsFailed       TLS handshake or certificate failure
     │         ├── SmtpAuthFailed      the server refused the user name or password
     │         └── RecipientsRefused   the server refused the sender, every recipient or
     │                                 the data
     ├── WebhookFailed            adoptwatch.fetch.webhook: the alert webhook refused or
     │                            missed every try (the alert is retried on later runs)
     ├── DaskUnavailable          adoptwatch.flows.ingest: the Dask cluster asked for cannot
     │                            be reached or started, or has no workers
     ├── ServeError               adoptwatch.serve: the Prefect server could not start, or
     │                            PREFECT_API_URL does not answer
     ├── IngestInterrupted        adoptwatch.ingest_run: SIGTERM or Ctrl-C stopped an ingest
     │                            (the run row is closed as interrupted)
     ├── DemoError                adoptwatch.demo: the demo site cannot be served
     └── ExplorerError            adoptwatch.web: the explorer cannot serve (its port is
          │                       taken)
          └── InvalidParameter    a page's query parameter is not valid (a week, a date,
                                  a confidence, a page number)

``tests/test_architecture.py`` checks that this drawing names every subclass.
"""

from __future__ import annotations


class AdoptwatchError(Exception):
    """Base class of every error adoptwatch raises on purpose (the tree is above)."""
