"""Capacity rules, pure (no I/O): room counts by status that add up, the
region a facility's counts roll up to at each level, and the forecast of
quarantine rooms over the next days.

The forecast (policy ``capacity_forecast_days`` = N days, day 1 = today)::

    balance(0) = rooms free now (ready, in facilities that may receive)
    balance(d) = balance(d - 1)
                 - placements due               (day 1 only: persons waiting for a room)
                 - expected new contacts        (every day: the mean daily count of new
                                                 close and secondary contacts over the
                                                 last N days)
                 + releases due on day d        (stays whose planned end is that day)
                 + rooms in cleaning now        (day 2 only: back the day after)

The region runs out on the first day whose balance is below zero. Numbers
are kept as exact fractions (the expected contacts are a mean) and shown
rounded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction

from fangkong.quarantine.models import ROOM_STATUSES

# The levels a capacity table rolls up to, and how many digits of a region
# code name the region of that level (a city is its 4 digits + "00").
LEVELS = ("community", "township", "county", "city")
LEVEL_DIGITS = {"community": 12, "township": 9, "county": 6, "city": 4}


@dataclass(frozen=True)
class Counts:
    """Rooms (or beds) by status; ``free`` is the ``ready`` ones."""

    ready: int = 0
    occupied: int = 0
    cleaning: int = 0
    out_of_service: int = 0

    @property
    def free(self) -> int:
        return self.ready

    @property
    def total(self) -> int:
        return self.ready + self.occupied + self.cleaning + self.out_of_service

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.ready + other.ready,
            self.occupied + other.occupied,
            self.cleaning + other.cleaning,
            self.out_of_service + other.out_of_service,
        )

    def as_dict(self) -> dict[str, int]:
        return {status: getattr(self, status) for status in ROOM_STATUSES}

    @classmethod
    def of(cls, by_status: Mapping[str, int]) -> Counts:
        unknown = set(by_status) - set(ROOM_STATUSES)
        if unknown:
            raise ValueError(f"unknown room statuses {sorted(unknown)}")
        return cls(**{status: int(by_status.get(status, 0)) for status in ROOM_STATUSES})


def total(counts: Iterable[Counts]) -> Counts:
    result = Counts()
    for c in counts:
        result = result + c
    return result


def region_at_level(region_code: str, level: str) -> str:
    """The region of ``level`` a facility of ``region_code`` counts in. A
    facility registered above that level (a county's hospital, when the
    table is by community) counts in its own region, so that every
    facility is counted once and the regions add up to the whole."""
    if level not in LEVEL_DIGITS:
        raise ValueError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    if level == "city":
        return region_code[:4] + "00"
    digits = LEVEL_DIGITS[level]
    return region_code[:digits] if len(region_code) >= digits else region_code


def is_direct(region_code: str, level: str) -> bool:
    """Whether a row of a table by ``level`` stands for facilities
    registered directly in a higher region (see :func:`region_at_level`)."""
    return level != "city" and len(region_code) < LEVEL_DIGITS[level]


@dataclass(frozen=True)
class ForecastInput:
    today: date
    days: int  # policy capacity_forecast_days
    free_now: int  # ready rooms in facilities that may receive persons
    cleaning_now: int  # rooms being cleaned, back tomorrow
    placements_due: int  # persons waiting for a room now
    new_contacts: int  # new close and secondary contacts over the last ``days`` days
    releases_due: Mapping[date, int] = field(default_factory=dict)  # planned ends by day


@dataclass(frozen=True)
class ForecastDay:
    day: date
    placements: int
    expected_new: Fraction
    releases: int
    cleaning_back: int
    balance: Fraction

    @property
    def short(self) -> bool:
        return self.balance < 0


@dataclass(frozen=True)
class Forecast:
    free_now: int
    expected_per_day: Fraction
    days: list[ForecastDay]

    @property
    def runs_out_on(self) -> date | None:
        """The first day the balance goes below zero, if any."""
        return next((d.day for d in self.days if d.short), None)

    @property
    def shortfall(self) -> int:
        """Rooms missing on the worst day (0 when the rooms last)."""
        worst = min((d.balance for d in self.days), default=Fraction(0))
        return math.ceil(-worst) if worst < 0 else 0


def forecast_rooms(given: ForecastInput) -> Forecast:
    if given.days < 1:
        raise ValueError("a forecast looks at least one day ahead")
    expected = Fraction(given.new_contacts, given.days)
    balance = Fraction(given.free_now)
    days = []
    for n in range(given.days):
        day = given.today + timedelta(days=n)
        placements = given.placements_due if n == 0 else 0
        cleaning_back = given.cleaning_now if n == 1 else 0
        releases = int(given.releases_due.get(day, 0))
        balance = balance - placements - expected + releases + cleaning_back
        days.append(ForecastDay(day, placements, expected, releases, cleaning_back, balance))
    return Forecast(given.free_now, expected, days)
