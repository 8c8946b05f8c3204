"""How a point in time appears in JSON: ISO 8601 in UTC, milliseconds, ``Z``.

Stores and services keep epoch seconds (or aware datetimes) internally; every
response field that is a time goes through ``iso`` so clients parse one format,
e.g. ``"2026-11-29T10:45:00.123Z"``.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: float | datetime) -> str:
    """``moment`` (epoch seconds, or a datetime; naive ones are taken as UTC)."""
    if isinstance(moment, datetime):
        when = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    else:
        when = datetime.fromtimestamp(moment, UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_or_none(moment: float | datetime | None) -> str | None:
    return None if moment is None else iso(moment)
