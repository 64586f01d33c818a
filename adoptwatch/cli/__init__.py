"""The ``adoptwatch`` command: a thin shell over plain functions.

:mod:`adoptwatch.cli.commands` holds the group (:func:`main`), the shared options and
the one error edge, and most commands; :mod:`adoptwatch.cli.event_log` the commands
over the stored event log (``sources``, ``maintain``, ``migrate``). Importing this
package registers them all.
"""

from __future__ import annotations

from adoptwatch.cli import (
    event_log,  # noqa: F401  (registers its commands on main)
    export,  # noqa: F401  (registers its commands on main)
    watch,  # noqa: F401  (registers its commands on main)
)
from adoptwatch.cli.commands import main

__all__ = ["main"]
