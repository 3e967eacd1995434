"""The rules of a cross-infection alert, pure (no I/O): how a neighbour's
room relates to the room of the person who tested positive, and which tests
a stay's new quarantine period adds."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

from fangkong.quarantine.release_rules import stay_day
from fangkong.quarantine.stay_rules import test_schedule


class Spot(NamedTuple):
    """Where a room is, as the neighbour rule needs it."""

    room_id: int
    building: str
    floor: int
    position: int
    care_team: str


def neighbour_relation(case: Spot, other: Spot) -> str | None:
    """How a person in room ``other`` was exposed to a case in room
    ``case`` (same facility), the closest first; None when not at all. A
    room shared with the case (a companion) counts as adjacent."""
    same_floor = case.building == other.building and case.floor == other.floor
    if other.room_id == case.room_id or (same_floor and abs(case.position - other.position) == 1):
        return "adjacent_room"
    if same_floor:
        return "same_floor"
    if case.care_team and case.care_team == other.care_team:
        return "same_team"
    return None


def new_period_tests(
    stay_start_on: date,
    period_start_on: date,
    end_on: date,
    test_days: tuple[int, ...],
    scheduled: Iterable[tuple[int, date]],
) -> list[tuple[int, date]]:
    """The tests of a quarantine period counted again from a new exposure
    (starting ``period_start_on``, ending ``end_on``), as (day of the stay,
    due date), leaving out the days and dates the stay has scheduled."""
    known = list(scheduled)
    days = {day for day, _ in known}
    dates = {on for _, on in known}
    added: list[tuple[int, date]] = []
    for _, due in test_schedule(period_start_on, end_on, test_days):
        day = stay_day(stay_start_on, due)
        if day >= 1 and day not in days and due not in dates:
            added.append((day, due))
            days.add(day)
            dates.add(due)
    return added
