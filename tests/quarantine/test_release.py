"""Release: one action that checks the criteria (planned end reached, every
scheduled test taken and negative, a recent health check without symptoms)
and refuses naming what is missing; on release the room goes to cleaning
and the risk record is released, which brings the secondary contacts in
line; releases due are listed per facility; a certificate after release."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import Conflict, NotFound
from fangkong.policy import get_policy
from fangkong.quarantine.models import Facility, Room, ScheduledTest, Stay
from fangkong.quarantine.release_rules import CheckFact, ScheduleItem, release_blockers
from fangkong.quarantine.stay_board import release_certificate, releases_due
from fangkong.quarantine.stays import (
    record_health_check,
    release_stay,
)
from fangkong.tracing.cases import record_case
from fangkong.tracing.contacts import name_contact, name_contact_of_contact
from fangkong.tracing.investigations import open_investigation
from fangkong.tracing.models import RiskPerson
from tests.quarantine.test_stays import *  # noqa: F403  (make_stay)
from tests.quarantine.test_stays import at_risk, start_stay, take_all
from tests.testing.conftest import FrozenClock, Registry

NOW = datetime(2022, 3, 14, 2, 0, tzinfo=UTC)
TODAY = date(2022, 3, 14)
ALL_NEGATIVE = {1: "negative", 4: "negative", 7: "negative", 14: "negative"}


# --- the criteria, pure ------------------------------------------------------------------


def item(day: int, result: str | None = "negative", *, taken: bool = True) -> ScheduleItem:
    return ScheduleItem(day, TODAY - timedelta(days=14 - day), taken, result)


def blockers(
    tests: list[ScheduleItem], check: CheckFact | None = None, end: date = TODAY
) -> list[str]:
    return [
        b.en
        for b in release_blockers(
            planned_end_on=end,
            tests=tests,
            last_check=check if check is not None else CheckFact(NOW - timedelta(hours=2), False),
            now=NOW,
            today=TODAY,
            health_check_hours=24,
        )
    ]


def test_a_complete_negative_schedule_with_a_recent_check_has_nothing_in_the_way() -> None:
    assert blockers([item(1), item(4), item(7), item(14)]) == []


def test_each_unmet_criterion_is_named_by_its_test_day() -> None:
    tests = [
        item(1),
        item(4, "positive"),
        item(7, None),
        ScheduleItem(10, TODAY, True, "negative", conflict=True),
        item(12, "invalid"),
        item(14, None, taken=False),
    ]
    assert blockers(tests) == [
        "day 4 test positive",
        "day 7 test result pending",
        "day 10 test has conflicting results to settle",
        "day 12 test invalid; take it again",
        "day 14 test not taken",
    ]


def test_the_planned_end_and_the_health_check_are_criteria_too() -> None:
    tests = [item(1)]
    assert blockers(tests, end=TODAY + timedelta(days=1)) == ["planned end 2022-03-15 not reached"]
    assert blockers(tests, CheckFact(NOW - timedelta(hours=25), False)) == [
        "no health check in the last 24 hours"
    ]
    assert blockers(tests, CheckFact(NOW, True)) == ["symptoms at the latest health check"]
    assert blockers([]) == ["no test scheduled"]


# --- releasing a stay ----------------------------------------------------------------------


def test_release_refuses_naming_the_missing_test_and_changes_nothing(
    session: Session,
    facility_manager: Actor,
    lab: Actor,
    make_stay: Callable[..., Stay],
    registry: Registry,
) -> None:
    risk = at_risk(session, registry.a1[0])
    stay = make_stay(risk=risk)
    take_all(session, facility_manager, lab, stay, {1: "negative", 4: "negative", 7: "negative"})
    record_health_check(session, facility_manager, stay.id, symptoms=False, temperature=36.4)

    with pytest.raises(Conflict, match="day 14 test not taken") as refused:
        release_stay(session, facility_manager, stay.id)

    assert "第14天核酸未采样" in refused.value.message
    session.refresh(stay)
    assert (stay.ended_at, stay.end_reason) == (None, "")
    assert session.get(Room, stay.room_id).status == "occupied"  # type: ignore[union-attr]
    assert session.get(RiskPerson, risk.id).status == "under_measure"  # type: ignore[union-attr]


def test_release_refuses_a_pending_or_positive_test_and_a_check_with_symptoms(
    session: Session, facility_manager: Actor, lab: Actor, make_stay: Callable[..., Stay]
) -> None:
    stay = make_stay()
    take_all(session, facility_manager, lab, stay, {1: "negative", 4: "positive", 7: "", 14: ""})
    record_health_check(session, facility_manager, stay.id, symptoms=True, temperature=38.1)

    with pytest.raises(Conflict) as refused:
        release_stay(session, facility_manager, stay.id)

    for words in (
        "day 4 test positive",
        "day 7 test result pending",
        "day 14 test result pending",
        "symptoms at the latest health check",
    ):
        assert words in refused.value.message


def test_release_refuses_before_the_planned_end(
    session: Session, facility_manager: Actor, lab: Actor, make_stay: Callable[..., Stay]
) -> None:
    stay = make_stay(planned_end=clock.today_local() + timedelta(days=1), test_days=(1,))
    take_all(session, facility_manager, lab, stay, {1: "negative"})
    record_health_check(session, facility_manager, stay.id, symptoms=False)

    with pytest.raises(Conflict, match="planned end 2022-03-15 not reached"):
        release_stay(session, facility_manager, stay.id)


def test_a_complete_stay_is_released_its_room_goes_to_cleaning_and_the_risk_person_is_released(
    session: Session,
    facility_manager: Actor,
    lab: Actor,
    make_stay: Callable[..., Stay],
    registry: Registry,
) -> None:
    risk = at_risk(session, registry.a1[0], "secondary")  # no home monitoring after
    stay = make_stay(risk=risk)
    take_all(session, facility_manager, lab, stay, ALL_NEGATIVE)
    record_health_check(session, facility_manager, stay.id, symptoms=False, temperature=36.5)

    released = release_stay(session, facility_manager, stay.id)

    assert (released.ended_at, released.end_reason) == (clock.now(), "released")
    room = session.get(Room, stay.room_id)
    assert room is not None
    assert (room.status, room.status_at) == ("cleaning", clock.now())
    risk_after = session.get(RiskPerson, risk.id)
    assert risk_after is not None
    assert (risk_after.status, risk_after.release_reason, risk_after.released_at) == (
        "released",
        "completed",
        clock.now(),
    )
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"stay.release", "risk_person.release"} <= actions
    with pytest.raises(Conflict, match="has ended"):
        release_stay(session, facility_manager, stay.id)


def test_a_room_shared_with_a_companion_stays_occupied_until_both_leave(
    session: Session,
    facility_manager: Actor,
    lab: Actor,
    make_stay: Callable[..., Stay],
    registry: Registry,
) -> None:
    parent = make_stay(registry.a1[3])
    child = make_stay(registry.infant)  # the child in the same room 101
    assert child.room_id == parent.room_id
    for stay in (parent, child):
        take_all(session, facility_manager, lab, stay, ALL_NEGATIVE)
        record_health_check(session, facility_manager, stay.id, symptoms=False)

    release_stay(session, facility_manager, parent.id)
    assert session.get(Room, parent.room_id).status == "occupied"  # type: ignore[union-attr]

    release_stay(session, facility_manager, child.id)
    assert session.get(Room, parent.room_id).status == "cleaning"  # type: ignore[union-attr]


@pytest.fixture
def no_home_monitoring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FANGKONG_POLICY_CLOSE_CONTACT_HOME_MONITORING_DAYS", "0")
    get_policy.cache_clear()
    yield
    get_policy.cache_clear()  # the environment is restored after this


def test_a_close_contact_released_from_the_site_goes_on_to_home_health_monitoring(
    session: Session,
    facility_manager: Actor,
    lab: Actor,
    make_stay: Callable[..., Stay],
    registry: Registry,
) -> None:
    risk = at_risk(session, registry.a1[0], "close")
    stay = make_stay(registry.a1[0], risk=risk)
    take_all(session, facility_manager, lab, stay, ALL_NEGATIVE)
    record_health_check(session, facility_manager, stay.id, symptoms=False, temperature=36.5)

    release_stay(session, facility_manager, stay.id)

    home = session.scalars(
        select(Stay).where(Stay.person_id == registry.a1[0].id, Stay.ended_at.is_(None))
    ).one()
    assert (home.kind, home.region_code, home.planned_end_on) == (
        "home_monitoring",
        registry.a1[0].region_code,
        TODAY + timedelta(days=7),
    )
    due = session.execute(
        select(ScheduledTest.day, ScheduledTest.due_on).where(ScheduledTest.stay_id == home.id)
    ).all()
    assert sorted(due) == [(2, TODAY + timedelta(days=1)), (7, TODAY + timedelta(days=6))]
    after = session.get(RiskPerson, risk.id)
    assert after is not None
    assert (after.status, after.measure) == ("under_measure", "health_monitoring")


def test_releasing_a_close_contact_releases_those_secondary_only_through_them(
    session: Session,
    facility_manager: Actor,
    epidemiologist: Actor,
    lab: Actor,
    make_stay: Callable[..., Stay],
    registry: Registry,
    no_home_monitoring: None,
) -> None:
    """With no home monitoring after quarantine (the policy set to 0 days),
    the close contact's release ends the graph's reason for the secondary."""
    case = record_case(
        session,
        epidemiologist,
        person_id=registry.a1[0].id,
        classification="confirmed",
        severity="mild",
        detection_route="fever_clinic",
        sampled_at=clock.now() - timedelta(hours=6),
        confirmed_at=clock.now() - timedelta(hours=1),
        onset_date=date(2022, 3, 13),
    )
    investigation = open_investigation(session, epidemiologist, case.id)
    close, colleague = registry.a1[1], registry.a2[0]
    exposed = clock.now() - timedelta(days=1)
    name_contact(
        session,
        epidemiologist,
        investigation.id,
        person_id=close.id,
        setting="household",
        last_exposure_at=exposed,
    )
    name_contact_of_contact(
        session,
        epidemiologist,
        investigation.id,
        contact_person_id=close.id,
        person_id=colleague.id,
        setting="work",
        last_exposure_at=exposed,
    )
    risks = {r.person_id: r for r in session.scalars(select(RiskPerson))}
    assert risks[colleague.id].category == "secondary"
    stay = make_stay(close, risk=risks[close.id])
    take_all(session, facility_manager, lab, stay, ALL_NEGATIVE)
    record_health_check(session, facility_manager, stay.id, symptoms=False)

    release_stay(session, facility_manager, stay.id)

    secondary = session.get(RiskPerson, risks[colleague.id].id)
    assert secondary is not None
    assert (secondary.status, secondary.release_reason) == ("released", "not_a_contact")


def test_a_facility_manager_of_another_facility_cannot_release(
    session: Session, other_facility_manager: Actor, make_stay: Callable[..., Stay]
) -> None:
    stay = make_stay()
    with pytest.raises(NotFound):
        release_stay(session, other_facility_manager, stay.id)


# --- releases due and the certificate --------------------------------------------------------


def test_releases_due_are_listed_per_facility_with_what_each_still_lacks(
    session: Session,
    facility_manager: Actor,
    other_facility_manager: Actor,
    county_commander: Actor,
    lab: Actor,
    make_stay: Callable[..., Stay],
    registry: Registry,
    gy_site: Facility,
) -> None:
    ready = make_stay(registry.a1[0], room_number="101")
    take_all(session, facility_manager, lab, ready, ALL_NEGATIVE)
    record_health_check(session, facility_manager, ready.id, symptoms=False)
    lacking = make_stay(registry.a1[1], room_number="102")
    take_all(session, facility_manager, lab, lacking, {1: "negative", 4: "negative"})
    make_stay(registry.a1[2], room_number="103", planned_end=TODAY + timedelta(days=2))
    start_stay(session, gy_site, registry.gy[0])

    groups = releases_due(session, facility_manager, TODAY)

    assert [g.label for g in groups] == ["安次区第一集中隔离点"]
    rows = {r.stay_id: r for r in groups[0].rows}
    assert set(rows) == {ready.id, lacking.id}  # not the one due in two days
    assert rows[ready.id].ready
    assert rows[ready.id].place == "A-101"
    assert "*" in rows[ready.id].id_number  # masked in a list
    assert any("day 7 test not taken" in b for b in rows[lacking.id].blockers)
    assert groups[0].ready == 1
    later = releases_due(session, county_commander, TODAY + timedelta(days=2))
    assert sum(len(g.rows) for g in later) == 3
    assert [g.label for g in releases_due(session, other_facility_manager, TODAY)] == [
        "广阳区集中隔离点"
    ]


def test_a_certificate_is_given_only_after_the_release(
    session: Session,
    facility_manager: Actor,
    lab: Actor,
    make_stay: Callable[..., Stay],
    registry: Registry,
    frozen: FrozenClock,
) -> None:
    stay = make_stay(registry.a1[0])
    with pytest.raises(Conflict, match="not been released"):
        release_certificate(session, facility_manager, stay.id)
    take_all(session, facility_manager, lab, stay, ALL_NEGATIVE)
    record_health_check(session, facility_manager, stay.id, symptoms=False)
    release_stay(session, facility_manager, stay.id)

    certificate = release_certificate(session, facility_manager, stay.id)

    assert certificate.name == registry.a1[0].name
    assert certificate.place == "安次区第一集中隔离点 A-101"
    assert certificate.released_at == clock.now()
    assert certificate.released_by == facility_manager.username
    assert [(t.day, t.result) for t in certificate.tests] == [
        (1, "negative"),
        (4, "negative"),
        (7, "negative"),
        (14, "negative"),
    ]
    assert certificate.id_number != registry.a1[0].id_number  # masked for facility staff
