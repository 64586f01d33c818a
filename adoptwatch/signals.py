"""Signal handlers installed for a while and put back: one rule for every command that
must stop cleanly (``adoptwatch ingest``, ``query``, ``serve``)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

Handler = Callable[[int, FrameType | None], None]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops like Ctrl-C does: ``finally`` blocks run."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def handling(handler: Handler, signals: Sequence[int] = STOP_SIGNALS) -> Iterator[None]:
    """``handler`` for ``signals`` while inside (the main thread only)."""
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
