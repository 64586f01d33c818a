"""How a run reports progress: the caller passes an object with these two methods.

The pipeline calls it; the edge draws it (the CLI's rich bars). Nothing is registered
globally: a run without one reports to :class:`NoProgress`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    def stage(self, name: str, total: int) -> None:
        """A new stage of ``total`` steps begins."""

    def advance(self, n: int = 1) -> None:
        """``n`` more steps of the current stage are done."""


class NoProgress:
    """Reports nowhere."""

    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass
