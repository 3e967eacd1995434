"""The rules of a case, without a database: controlled at detection and its
basis, the detection route, the dates a case may have, the look-back
window, and new cases per day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fangkong.tracing.case_rules import (
    DetectionFacts,
    RiskSnapshot,
    case_date_problem,
    contact_category,
    control_basis,
    count_by_day,
    derive_detection_route,
    exposure_window_start,
    narrowest_prefix,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
SAMPLED = datetime(2022, 3, 14, 2, 0, tzinfo=UTC)  # 10:00 local
HOUR = timedelta(hours=1)


def risk(
    *,
    category: str = "close",
    measure: str = "centralized_quarantine",
    identified: timedelta = -10 * HOUR,
    controlled: timedelta | None = None,
    released: timedelta | None = None,
    known: timedelta | None = None,
) -> RiskSnapshot:
    """A risk record with its times relative to the sample."""
    return RiskSnapshot(
        category=category,
        measure=measure,
        identified_at=SAMPLED + identified,
        controlled_at=None if controlled is None else SAMPLED + controlled,
        released_at=None if released is None else SAMPLED + released,
        contact_known_at=None if known is None else SAMPLED + known,
    )


def facts(record: RiskSnapshot | None = None, **others: object) -> DetectionFacts:
    return DetectionFacts(sampled_at=SAMPLED, risk=record, **others)  # type: ignore[arg-type]


# --- controlled at detection -----------------------------------------------------------


def test_a_person_quarantined_before_the_sample_was_under_control() -> None:
    assert control_basis(facts(risk(controlled=-5 * HOUR))) == "quarantine"
    assert control_basis(facts(risk(measure="home_quarantine", controlled=-HOUR))) == "quarantine"


def test_quarantine_that_began_after_the_sample_does_not_count() -> None:
    assert control_basis(facts(risk(controlled=HOUR))) == ""


def test_quarantine_released_before_the_sample_does_not_count_but_released_after_does() -> None:
    assert control_basis(facts(risk(controlled=-9 * HOUR, released=-HOUR))) == ""
    assert control_basis(facts(risk(controlled=-9 * HOUR, released=HOUR))) == "quarantine"


def test_health_monitoring_is_not_quarantine() -> None:
    record = risk(category="general", measure="health_monitoring", controlled=-5 * HOUR)
    assert control_basis(facts(record)) == ""


def test_a_sealed_or_controlled_zone_at_the_sample_puts_the_person_under_control() -> None:
    assert control_basis(facts(zone_level="sealed")) == "sealed_zone"
    assert control_basis(facts(zone_level="controlled")) == "controlled_zone"
    assert control_basis(facts(zone_level="precaution")) == ""


def test_quarantine_comes_before_a_zone_and_a_zone_before_a_known_contact() -> None:
    quarantined = risk(controlled=-HOUR, known=-2 * HOUR)
    known = risk(known=-2 * HOUR)
    assert control_basis(facts(quarantined, zone_level="sealed")) == "quarantine"
    assert control_basis(facts(known, zone_level="controlled")) == "controlled_zone"
    assert control_basis(facts(known)) == "known_contact"


def test_a_known_contact_is_one_reported_before_the_sample_and_not_released() -> None:
    assert control_basis(facts(risk(known=-HOUR))) == "known_contact"
    assert control_basis(facts(risk(known=HOUR))) == ""  # reported after the sample
    assert control_basis(facts(risk(known=-5 * HOUR, released=-HOUR))) == ""
    # reported once, released, opened again after the sample: not known then
    assert control_basis(facts(risk(known=-9 * HOUR, identified=HOUR))) == ""


def test_a_person_without_a_record_or_zone_is_a_community_case() -> None:
    assert control_basis(facts()) == ""
    assert control_basis(facts(risk(category="general", measure="health_monitoring"))) == ""


# --- the detection route -------------------------------------------------------------


def test_a_positive_found_through_a_pool_is_a_pool_followup_whatever_else_holds() -> None:
    assert derive_detection_route(facts(risk(controlled=-HOUR), via_pool=True)) == "pool_followup"


def test_a_round_positive_is_quarantine_or_contact_screening_when_the_data_says_so() -> None:
    assert derive_detection_route(facts(risk(controlled=-HOUR), from_round=True)) == (
        "quarantine_screening"
    )
    assert derive_detection_route(facts(risk(known=-HOUR), from_round=True)) == (
        "contact_screening"
    )
    general = risk(category="general", measure="health_monitoring")
    assert derive_detection_route(facts(general, from_round=True)) == "contact_screening"
    assert derive_detection_route(facts(from_round=True)) == "mass_testing"


def test_a_hospital_report_keeps_a_specific_route_and_refines_a_generic_one() -> None:
    quarantined = risk(controlled=-HOUR)
    assert derive_detection_route(facts(quarantined), "fever_clinic") == "fever_clinic"
    assert derive_detection_route(facts(quarantined), "hospital") == "quarantine_screening"
    assert derive_detection_route(facts(), "hospital") == "hospital"
    assert derive_detection_route(facts(risk(released=-HOUR)), "other") == "other"


# --- dates -----------------------------------------------------------------------------


def problem(**changes: object) -> tuple[str, str] | None:
    values: dict[str, object] = {
        "classification": "confirmed",
        "severity": "mild",
        "sampled_at": SAMPLED,
        "result_at": SAMPLED + 3 * HOUR,
        "confirmed_at": SAMPLED + 5 * HOUR,
        "onset_date": date(2022, 3, 13),
        "now": SAMPLED + 6 * HOUR,
        "today": date(2022, 3, 14),
    }
    values.update(changes)
    return case_date_problem(**values)  # type: ignore[arg-type]


def test_sound_dates_pass() -> None:
    assert problem() is None
    assert problem(classification="asymptomatic", severity="", onset_date=None) is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"classification": "asymptomatic", "onset_date": None}, "severity"),
        ({"classification": "asymptomatic", "severity": ""}, "onset_date"),
        ({"sampled_at": SAMPLED + 7 * HOUR}, "sampled_at"),
        ({"result_at": SAMPLED - HOUR}, "result_at"),
        ({"result_at": SAMPLED + 7 * HOUR}, "result_at"),
        ({"confirmed_at": SAMPLED - HOUR}, "confirmed_at"),
        ({"confirmed_at": SAMPLED + 7 * HOUR}, "confirmed_at"),
        ({"onset_date": date(2022, 3, 15)}, "onset_date"),
    ],
)
def test_each_impossible_date_names_its_field(changes: dict[str, object], field: str) -> None:
    found = problem(**changes)
    assert found is not None
    assert found[0] == field


# --- the look-back window -----------------------------------------------------------------


def test_the_window_opens_at_local_midnight_days_before_the_onset() -> None:
    start = exposure_window_start(date(2022, 3, 12), SAMPLED, 4, SHANGHAI)
    assert start == datetime(2022, 3, 8, 0, 0, tzinfo=SHANGHAI)


def test_without_an_onset_the_window_opens_before_the_sample_day() -> None:
    late_evening = datetime(2022, 3, 14, 15, 30, tzinfo=UTC)  # 23:30 local
    start = exposure_window_start(None, late_evening, 4, SHANGHAI)
    assert start == datetime(2022, 3, 10, 0, 0, tzinfo=SHANGHAI)


def test_an_onset_after_the_sample_opens_the_window_before_the_sample() -> None:
    start = exposure_window_start(date(2022, 3, 16), SAMPLED, 4, SHANGHAI)
    assert start == datetime(2022, 3, 10, 0, 0, tzinfo=SHANGHAI)


def test_a_contact_inside_the_window_is_close_and_before_it_general() -> None:
    start = datetime(2022, 3, 10, 0, 0, tzinfo=SHANGHAI)
    assert contact_category(start, start) == "close"
    assert contact_category(start + HOUR, start) == "close"
    assert contact_category(start - timedelta(seconds=1), start) == "general"


# --- counts and scope ----------------------------------------------------------------


def test_cases_count_by_local_day_split_into_controlled_and_community() -> None:
    just_before_midnight = datetime(2022, 3, 13, 15, 59, tzinfo=UTC)  # 23:59 on the 13th
    just_after = datetime(2022, 3, 13, 16, 1, tzinfo=UTC)  # 00:01 on the 14th
    counts = count_by_day(
        [(just_before_midnight, True), (just_after, False), (just_after, True)],
        date(2022, 3, 12),
        date(2022, 3, 14),
        SHANGHAI,
    )
    assert [(c.day.day, c.controlled, c.community, c.total) for c in counts] == [
        (12, 0, 0, 0),
        (13, 1, 0, 1),
        (14, 1, 1, 2),
    ]


def test_the_narrowest_prefix_is_the_overlap_of_a_region_and_a_jurisdiction() -> None:
    assert narrowest_prefix("131002001", "131002") == "131002001"
    assert narrowest_prefix("1310", "131002") == "131002"
    assert narrowest_prefix("131003", "131002") is None
    assert narrowest_prefix("13", "") == "13"
