"""Time as the event log keeps it: naive UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(dt: datetime | None) -> datetime | None:
    """``dt`` in UTC without tzinfo; naive values are taken to be UTC already."""
    return dt.astimezone(UTC).replace(tzinfo=None) if dt and dt.tzinfo else dt
