"""Moscow time, in which the gateway writes every date."""

from __future__ import annotations

import datetime as dt
import zoneinfo


def _moscow() -> dt.tzinfo:
    """Europe/Moscow from the tz database; a fixed UTC+3 where no database is installed.

    Moscow was UTC+4 from March 2011 to October 2014 and kept summer time before that, so only
    the database is right for older dates; UTC+3 is right for every date since 26.10.2014.
    """
    try:
        return zoneinfo.ZoneInfo("Europe/Moscow")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return dt.timezone(dt.timedelta(hours=3), "MSK")


#: Europe/Moscow (or UTC+3 without a tz database).
MOSCOW = _moscow()
