"""Dates as feeds and pages write them, to timezone-aware UTC datetimes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_date(value: str | time.struct_time | datetime | None) -> datetime | None:
    """ISO 8601, RFC 822 or a ``time.struct_time`` (as feedparser gives, in UTC); else None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, time.struct_time):
        try:
            dt = datetime(*value[:6], tzinfo=UTC)
        except (TypeError, ValueError):
            return None
    else:
        text = value.strip()
        if not text:
            return None
        dt = None
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                dt = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
        if dt is None:
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
