"""The capacity rules, without a database: counts that add up, the region a
facility rolls up to, and the room forecast day by day."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from fangkong.quarantine.capacity_rules import (
    Counts,
    ForecastInput,
    forecast_rooms,
    is_direct,
    region_at_level,
    total,
)

TODAY = date(2022, 3, 14)


def test_counts_add_up_by_status_and_free_is_the_ready_rooms() -> None:
    a = Counts.of({"ready": 3, "occupied": 2})
    b = Counts.of({"cleaning": 1, "out_of_service": 4, "ready": 1})
    both = total([a, b])
    assert both == Counts(ready=4, occupied=2, cleaning=1, out_of_service=4)
    assert (both.free, both.total) == (4, 11)
    assert both.as_dict() == {"ready": 4, "occupied": 2, "cleaning": 1, "out_of_service": 4}
    with pytest.raises(ValueError, match="unknown room statuses"):
        Counts.of({"dirty": 1})


def test_a_facility_rolls_up_to_its_community_township_county_and_city() -> None:
    code = "131002001001"
    assert [region_at_level(code, level) for level in ("community", "township", "county")] == [
        "131002001001",
        "131002001",
        "131002",
    ]
    assert region_at_level(code, "city") == "131000"


def test_a_county_facility_counts_in_its_own_row_of_a_table_by_community() -> None:
    assert region_at_level("131002", "community") == "131002"
    assert is_direct("131002", "community")
    assert not is_direct("131002001001", "community")
    assert not is_direct("131000", "city")
    with pytest.raises(ValueError, match="unknown level"):
        region_at_level("131002", "province")


def test_the_forecast_takes_placements_on_day_one_and_cleaning_rooms_back_on_day_two() -> None:
    forecast = forecast_rooms(
        ForecastInput(
            today=TODAY, days=3, free_now=10, cleaning_now=4, placements_due=6, new_contacts=6,
            releases_due={date(2022, 3, 16): 3, date(2022, 3, 20): 9},
        )
    )  # fmt: skip
    assert forecast.expected_per_day == 2
    assert [(d.day.day, d.placements, d.releases, d.cleaning_back) for d in forecast.days] == [
        (14, 6, 0, 0),
        (15, 0, 0, 4),
        (16, 0, 3, 0),
    ]
    # 10 - 6 - 2 = 2; 2 - 2 + 4 = 4; 4 - 2 + 3 = 5
    assert [d.balance for d in forecast.days] == [2, 4, 5]
    assert forecast.runs_out_on is None
    assert forecast.shortfall == 0


def test_a_region_runs_out_on_the_first_day_its_balance_goes_below_zero() -> None:
    forecast = forecast_rooms(
        ForecastInput(
            today=TODAY, days=3, free_now=5, cleaning_now=0, placements_due=2, new_contacts=7
        )
    )
    # 7 new contacts over 3 days: 7/3 a day, kept exact
    assert forecast.expected_per_day == Fraction(7, 3)
    assert [d.balance for d in forecast.days] == [Fraction(2, 3), Fraction(-5, 3), -4]
    assert forecast.runs_out_on == date(2022, 3, 15)
    assert forecast.shortfall == 4


def test_a_balance_of_exactly_zero_has_not_run_out() -> None:
    forecast = forecast_rooms(
        ForecastInput(
            today=TODAY, days=2, free_now=3, cleaning_now=0, placements_due=3, new_contacts=0
        )
    )
    assert [d.balance for d in forecast.days] == [0, 0]
    assert forecast.runs_out_on is None


def test_persons_waiting_beyond_the_free_rooms_run_out_today() -> None:
    forecast = forecast_rooms(
        ForecastInput(
            today=TODAY, days=1, free_now=0, cleaning_now=10, placements_due=1, new_contacts=0
        )
    )
    assert forecast.runs_out_on == TODAY
    assert forecast.shortfall == 1
