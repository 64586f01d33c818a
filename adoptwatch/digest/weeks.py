"""ISO weeks in the digest's time zone: which week a run reports, and its bounds in UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adoptwatch.digest.errors import DigestConfigError, InvalidWeek

# --- weeks ---------------------------------------------------------------------------

_WEEK_RE = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)
_DATE_RE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def weeks_in_year(year: int) -> int:
    """52 or 53: 28 December always lies in the last ISO week of its year."""
    return date(year, 12, 28).isocalendar().week


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9998:
            raise InvalidWeek(f"year {self.year} is out of range")
        last = weeks_in_year(self.year)
        if not 1 <= self.week <= last:
            raise InvalidWeek(
                f"{self.year}-W{self.week:02d} does not exist: {self.year} has {last} ISO weeks"
            )

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    def shift(self, weeks: int) -> IsoWeek:
        return IsoWeek.of(self.monday + timedelta(weeks=weeks))

    def previous(self) -> IsoWeek:
        return self.shift(-1)

    def bounds_utc(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[Monday 00:00, next Monday 00:00) in ``tz``, as naive UTC (how storage keeps time)."""

        def utc(day: date) -> datetime:
            return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)

        return utc(self.monday), utc(self.monday + timedelta(days=7))

    def date_range(self) -> str:
        """'Mon 23 Nov – Sun 29 Nov 2026' (both years when the week spans two)."""
        start, end = self.monday, self.sunday

        def day(d: date, with_year: bool) -> str:
            text = f"{_DAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]}"
            return f"{text} {d.year}" if with_year else text

        return f"{day(start, start.year != end.year)} – {day(end, True)}"

    def __str__(self) -> str:
        return self.label


def parse_week(text: str) -> IsoWeek:
    """'2026-W48' (or '2026W48', or a date '2026-11-25', meaning the week holding it)."""
    match = _WEEK_RE.match(text or "")
    if match:
        return IsoWeek(int(match.group(1)), int(match.group(2)))
    match = _DATE_RE.match(text or "")
    if match:
        try:
            return IsoWeek.of(date(int(match.group(1)), int(match.group(2)), int(match.group(3))))
        except ValueError:
            pass
    raise InvalidWeek(f"{text!r} is not an ISO week; write it like 2026-W48 (or a date 2026-11-25)")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DigestConfigError(
            f"digest_timezone {name!r} is not a known time zone; use an IANA name such as "
            "UTC or Europe/Berlin"
        ) from None


def last_complete_week(now: datetime, tz: ZoneInfo) -> IsoWeek:
    """The ISO week before the one ``now`` falls in, in ``tz`` (naive ``now`` means UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return IsoWeek.of(now.astimezone(tz).date()).previous()
