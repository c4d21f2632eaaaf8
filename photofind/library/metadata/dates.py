"""Dates as photos carry them (EXIF, XMP/ISO, with or without an offset) to ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from photofind.library.metadata.texts import clean, exif_str

_DATE = re.compile(
    r"(\d{4})(?:[:-](\d\d)(?:[:-](\d\d)"
    r"(?:[ T](\d\d):(\d\d)(?::(\d\d)(?:[.,]\d+)?)?)?)?)?"
    r" *(Z|[+-]\d\d?(?::?\d\d)?)?"
)
_ZONE = re.compile(r"([+-])(\d\d?)(?::?(\d\d))?")
_MIN_YEAR = 1800  # anything older is a broken clock, not a photo


def _zone(text: str | None) -> timezone | None:
    """'+09:00' / '-0500' / '+1:00' / 'Z' as a timezone; None when absent or nonsense."""
    if text == "Z":
        return UTC
    match = _ZONE.fullmatch(text or "")
    if not match or int(match[2]) > 23 or int(match[3] or 0) > 59:
        return None
    minutes = int(match[2]) * 60 + int(match[3] or 0)
    return timezone(timedelta(minutes=-minutes if match[1] == "-" else minutes))


def iso_date(value: object, offset: object = None) -> str | None:
    """EXIF ('2021:04:11 15:47:53') or XMP/ISO ('2021-04-11T15:47:53+09:00') date as ISO 8601.

    None for blank or zeroed dates ("0000:00:00 00:00:00" means "unknown" in EXIF);
    ValueError for anything else that is not a possible date, so it can be reported.
    """
    text = clean(exif_str(value))
    if not text.strip("0:-. T"):
        return None
    match = _DATE.fullmatch(text)
    if not match:
        raise ValueError(f"unreadable date {text!r}")
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=_zone(zone) or _zone(clean(exif_str(offset))),
        )
    except ValueError:
        moment = None
    if moment is None or moment.year < _MIN_YEAR:
        raise ValueError(f"impossible date {text!r}")
    return moment.isoformat()


def file_mtime(path: Path) -> str:
    """Modification time in local time with its offset: the date of last resort."""
    moment = datetime.fromtimestamp(path.stat().st_mtime, UTC).astimezone()
    return moment.replace(microsecond=0).isoformat()
