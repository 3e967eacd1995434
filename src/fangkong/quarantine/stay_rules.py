"""The rules of a stay, pure (no I/O): when it is planned to end and on
which dates its tests are due.

Days are counted as the Protocol 8th ed. counts them: a quarantine of N days
runs N days from the last exposure, so a close contact last exposed on 1
March (any hour) is due for release on 15 March. Test days are days of the
stay (day 1 is the day the person arrives), as the policy's test days say;
a test day that would fall after the planned end moves onto the last day,
so a person is never released on a test older than their last day (two
test days landing on one date keep the later day number). A person placed
after their period had already run (a contact found late) gets one test on
arrival and may be released on it."""

from __future__ import annotations

from datetime import date, timedelta


def planned_end_on(last_exposure_on: date, days: int) -> date:
    return last_exposure_on + timedelta(days=days)


def test_schedule(
    start_on: date, end_on: date, test_days: tuple[int, ...]
) -> list[tuple[int, date]]:
    """(day number, due date) of each test, in date order."""
    last = max(start_on, end_on)
    due: dict[date, int] = {}
    for day in sorted(test_days):
        on = min(start_on + timedelta(days=day - 1), last)
        due[on] = day  # the later day number wins a shared date
    return sorted(((day, on) for on, day in due.items()), key=lambda pair: pair[1])
