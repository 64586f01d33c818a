"""The ``adoptwatch`` command: a thin shell over plain functions.

:mod:`adoptwatch.cli.commands` holds the group (:func:`main`), the shared options and
the one error edge, and most commands; :mod:`adoptwatch.cli.event_log` the commands
over the stored event log (``sources``, ``maintain``, ``migrate``); :mod:`adoptwatch.cli.views`
the fact views (``company``, ``model``); :mod:`adoptwatch.cli.web` the explorer (``web``).
Importing this package registers them all.
"""

from __future__ import annotations

from adoptwatch.cli import (  # noqa: F401  (each registers its commands on main)
    event_log,
    export,
    views,
    watch,
    web,
)
from adoptwatch.cli.commands import main

__all__ = ["main"]
