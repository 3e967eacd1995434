"""Cross-infection alerts: a positive in-stay test after a negative one in
the same facility names the neighbours (adjacent rooms, same floor, same
care team), who become close contacts whose stays are counted again from
the exposure; a positive without an earlier negative was brought in.

Stays and tubes are written as rows here (placement is another module's):
``place`` puts a person in a room the way placement does — a risk record
under the measure from the stay's start, a planned end, a test schedule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.config import get_settings
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.policy import get_policy
from fangkong.quarantine import stay_rules
from fangkong.quarantine.alert_board import alerts_board, close_alert, get_alert, list_alerts
from fangkong.quarantine.alert_rules import Spot, neighbour_relation, new_period_tests
from fangkong.quarantine.alerts import raise_cross_infection_alerts
from fangkong.quarantine.models import (
    AlertNeighbour,
    Facility,
    QuarantineAlert,
    Room,
    ScheduledTest,
    Stay,
    StayMove,
)
from fangkong.testing.models import PositivePerson, Tube, TubeMember
from fangkong.testing.results import record_lab_result
from fangkong.tracing.cases import create_case_from_positive
from fangkong.tracing.models import Exposure, RiskPerson, RiskSource
from fangkong.tracing.risk import note_risk_person
from tests.testing.conftest import LAB_NAME, Registry, Resident

NOW = datetime(2022, 3, 14, 2, 0, tzinfo=UTC)  # the frozen clock: 10:00 in Langfang
ZONE = get_settings().zone


# --- helpers: stays and tubes as rows -------------------------------------------------


def room(session: Session, facility: Facility, number: str, care_team: str = "") -> Room:
    found = session.scalars(
        select(Room).where(Room.facility_id == facility.id, Room.number == number)
    ).one()
    if care_team:
        found.care_team = care_team
    return found


def place(
    session: Session,
    resident: Resident,
    into: Room,
    *,
    category: str = "close",
    started_at: datetime = NOW - timedelta(days=5),
    last_exposure_at: datetime = NOW - timedelta(days=6),
) -> Stay:
    """A centralized stay as placement makes one."""
    policy = get_policy()
    risk = note_risk_person(
        session,
        person_id=resident.id,
        region_code=resident.region_code,
        category=category,
        channel="investigation",
        source="case 0",
        reported_at=started_at - timedelta(hours=2),
        last_exposure_at=last_exposure_at,
    ).risk_person
    risk.status, risk.controlled_at = "under_measure", started_at
    end = stay_rules.planned_end_on(
        last_exposure_at.astimezone(ZONE).date(), policy.quarantine_days_for(category)
    )
    stay = Stay(
        person_id=resident.id,
        region_code=into.region_code,
        kind="centralized",
        facility_id=into.facility_id,
        room_id=into.id,
        risk_person_id=risk.id,
        household_id=resident.household_id,
        exposure_key=f"event-{category}",
        last_exposure_at=last_exposure_at,
        started_at=started_at,
        planned_end_on=end,
        end_reason="",
    )
    session.add(stay)
    into.status = "occupied"
    session.flush()
    start_on = started_at.astimezone(ZONE).date()
    for day, due in stay_rules.test_schedule(
        start_on, end, policy.test_days_for(category, "centralized")
    ):
        session.add(ScheduledTest(stay_id=stay.id, day=day, due_on=due))
    session.commit()
    return stay


def take_tube(
    session: Session, stay: Stay, barcode: str, sampled_at: datetime, *, day: int | None = None
) -> Tube:
    """A single tube taken in the stay (for its scheduled test of ``day``)."""
    tube = Tube(
        barcode=barcode,
        round_id=None,
        region_code=stay.region_code,
        site_id=None,
        pool_size=1,
        purpose="stay",
        state="collected",
        opened_at=sampled_at,
        collected_at=sampled_at,
    )
    session.add(tube)
    session.flush()
    session.add(
        TubeMember(
            tube_id=tube.id,
            person_id=stay.person_id,
            round_id=None,
            region_code=stay.region_code,
            sampled_at=sampled_at,
        )
    )
    if day is not None:
        test = session.scalars(
            select(ScheduledTest).where(ScheduledTest.stay_id == stay.id, ScheduledTest.day == day)
        ).one()
        test.tube_id, test.sampled_at = tube.id, sampled_at
    session.commit()
    return tube


def result(session: Session, lab: Actor, tube: Tube, verdict: str) -> None:
    assert tube.collected_at is not None
    record_lab_result(
        session,
        lab,
        barcode=tube.barcode,
        result=verdict,
        tested_at=tube.collected_at + timedelta(minutes=30),
        lab=LAB_NAME,
    )


def raise_alerts(session: Session, tube: Tube) -> list[int]:
    """The alerts of the tube. The lab result has raised them already
    (``follow_up`` calls the step); the step is called again here, which
    must raise nothing more (one alert per stay)."""
    raise_cross_infection_alerts(session.connection(), [tube.id], clock.now())
    session.commit()
    return list(
        session.scalars(select(QuarantineAlert.id).where(QuarantineAlert.tube_id == tube.id))
    )


@pytest.fixture
def lab(make_actor: Callable[..., Actor]) -> Actor:
    return make_actor("lab", "1310")


@pytest.fixture
def ward(session: Session, site: Facility, registry: Registry) -> dict[str, Stay]:
    """The case in 102 (floor 1, team 红队); neighbours in 101 and 103
    (adjacent), 105 (same floor), 201 (floor 2, same team 红队); 305 is
    apart. The neighbours are secondary contacts due out in three days."""
    people = registry.anci_adults
    rooms = {
        "102": room(session, site, "102", "红队"),
        "101": room(session, site, "101"),
        "103": room(session, site, "103"),
        "105": room(session, site, "105"),
        "201": room(session, site, "201", "红队"),
        "305": room(session, site, "305", "蓝队"),
    }
    stays = {"102": place(session, people[0], rooms["102"])}
    for person, number in zip(people[1:6], ["101", "103", "105", "201", "305"], strict=True):
        stays[number] = place(
            session,
            person,
            rooms[number],
            category="secondary",
            started_at=NOW - timedelta(days=4),
            last_exposure_at=NOW - timedelta(days=4),
        )
    return stays


def positive_after_negative(session: Session, lab: Actor, stay: Stay) -> Tube:
    negative = take_tube(session, stay, "Q-NEG-1", NOW - timedelta(days=2), day=4)
    result(session, lab, negative, "negative")
    positive = take_tube(session, stay, "Q-POS-1", NOW - timedelta(hours=2))
    result(session, lab, positive, "positive")
    return positive


# --- the rules ---------------------------------------------------------------------------


def test_an_adjacent_room_beats_the_same_floor_which_beats_the_same_team() -> None:
    case = Spot(1, "A", 1, 2, "红队")
    assert neighbour_relation(case, Spot(2, "A", 1, 3, "红队")) == "adjacent_room"
    assert neighbour_relation(case, Spot(3, "A", 1, 5, "红队")) == "same_floor"
    assert neighbour_relation(case, Spot(4, "A", 2, 2, "红队")) == "same_team"
    assert neighbour_relation(case, Spot(5, "B", 1, 3, "")) is None  # another building
    assert neighbour_relation(case, Spot(1, "A", 1, 2, "红队")) == "adjacent_room"  # shared room
    assert neighbour_relation(Spot(1, "A", 1, 2, ""), Spot(6, "A", 2, 9, "")) is None


def test_a_new_exposure_adds_the_tests_of_a_new_period_as_days_of_the_stay() -> None:
    start = date(2022, 3, 9)
    scheduled = [(1, date(2022, 3, 9)), (4, date(2022, 3, 12)), (7, date(2022, 3, 15))]
    added = new_period_tests(start, date(2022, 3, 14), date(2022, 3, 28), (1, 4, 7, 14), scheduled)
    assert added == [
        (6, date(2022, 3, 14)), (9, date(2022, 3, 17)), (12, date(2022, 3, 20)),
        (19, date(2022, 3, 27)),
    ]  # fmt: skip


# --- raising an alert ----------------------------------------------------------------------


def test_a_positive_after_a_negative_in_the_facility_raises_an_alert_naming_the_neighbours(
    session: Session, lab: Actor, site: Facility, ward: dict[str, Stay]
) -> None:
    positive = positive_after_negative(session, lab, ward["102"])
    raised = raise_alerts(session, positive)
    assert len(raised) == 1
    alert = session.get(QuarantineAlert, raised[0])
    assert alert is not None
    assert (alert.facility_id, alert.stay_id, alert.tube_id, alert.status) == (
        site.id, ward["102"].id, positive.id, "open",
    )  # fmt: skip
    relations = {
        n.stay_id: n.relation
        for n in session.scalars(select(AlertNeighbour).where(AlertNeighbour.alert_id == alert.id))
    }
    assert relations == {
        ward["101"].id: "adjacent_room",
        ward["103"].id: "adjacent_room",
        ward["105"].id: "same_floor",
        ward["201"].id: "same_team",
    }


def test_each_neighbour_becomes_a_close_contact_exposed_at_the_positive_sample(
    session: Session, lab: Actor, ward: dict[str, Stay]
) -> None:
    positive = positive_after_negative(session, lab, ward["102"])
    alert_id = raise_alerts(session, positive)[0]
    session.expire_all()
    sampled_at = NOW - timedelta(hours=2)
    case_person = ward["102"].person_id
    for number in ("101", "103", "105", "201"):
        stay = session.get(Stay, ward[number].id)
        assert stay is not None
        risk = session.scalars(
            select(RiskPerson).where(RiskPerson.person_id == stay.person_id)
        ).one()
        assert (risk.category, risk.measure, risk.status) == (
            "close", "centralized_quarantine", "under_measure",
        )  # fmt: skip
        assert risk.last_exposure_at == sampled_at
        sources = session.scalars(
            select(RiskSource.source).where(
                RiskSource.risk_person_id == risk.id, RiskSource.channel == "investigation"
            )
        ).all()
        assert f"cross-infection alert {alert_id}" in sources
        edge = session.scalars(
            select(Exposure).where(
                Exposure.source_person_id == case_person, Exposure.person_id == stay.person_id
            )
        ).one()
        assert edge.last_exposure_at == sampled_at
    apart = session.scalars(
        select(RiskPerson).where(RiskPerson.person_id == ward["305"].person_id)
    ).one()
    assert apart.category == "secondary"


def test_a_neighbours_stay_is_counted_again_from_the_exposure_with_the_new_tests_added(
    session: Session, lab: Actor, ward: dict[str, Stay]
) -> None:
    before = ward["101"].planned_end_on
    positive = positive_after_negative(session, lab, ward["102"])
    raise_alerts(session, positive)
    session.expire_all()
    stay = session.get(Stay, ward["101"].id)
    assert stay is not None
    today = clock.today_local()
    assert before == today + timedelta(days=3)
    assert stay.planned_end_on == today + timedelta(days=14)  # sampled today at 08:00 local
    dues = set(
        session.scalars(select(ScheduledTest.due_on).where(ScheduledTest.stay_id == stay.id))
    )
    assert {today, today + timedelta(days=3), today + timedelta(days=13)} <= dues
    untouched = session.get(Stay, ward["305"].id)
    assert untouched is not None
    assert untouched.planned_end_on == before
    audit = session.scalars(
        select(AuditEvent).where(AuditEvent.action.in_(["quarantine.alert.raise", "stay.exposure"]))
    ).all()
    assert {(a.action, a.actor_label) for a in audit} == {
        ("quarantine.alert.raise", "system"),
        ("stay.exposure", "system"),
    }
    assert len([a for a in audit if a.action == "stay.exposure"]) == 4


def test_the_same_positive_tube_raises_one_alert_however_often_it_is_seen(
    session: Session, lab: Actor, ward: dict[str, Stay]
) -> None:
    positive = positive_after_negative(session, lab, ward["102"])
    first = raise_alerts(session, positive)
    assert len(first) == 1
    assert raise_cross_infection_alerts(session.connection(), [positive.id], clock.now()) == []
    assert raise_alerts(session, positive) == first
    assert session.scalar(select(func.count()).select_from(AlertNeighbour)) == 4


def test_a_first_positive_without_an_earlier_negative_was_brought_in_and_raises_no_alert(
    session: Session, lab: Actor, site: Facility, ward: dict[str, Stay], county_commander: Actor
) -> None:
    positive = take_tube(session, ward["102"], "Q-POS-IN", NOW - timedelta(hours=2), day=1)
    result(session, lab, positive, "positive")
    assert raise_alerts(session, positive) == []
    board = alerts_board(session, county_commander)
    assert board.alerts == []
    assert [(b.tube_id, b.facility, b.room) for b in board.brought_in] == [
        (positive.id, site.name, "102")
    ]
    assert "*" in board.brought_in[0].id_number  # masked in the list


def test_a_negative_taken_in_another_facility_does_not_count(
    session: Session, lab: Actor, site: Facility, gy_site: Facility, registry: Registry
) -> None:
    """Transferred from the Guangyang site two days ago: the negative there
    says nothing about this site, so the positive here was brought in."""
    stay = place(session, registry.a1[0], room(session, gy_site, "101"))
    negative = take_tube(session, stay, "Q-GY-NEG", NOW - timedelta(days=3))
    result(session, lab, negative, "negative")
    here = room(session, site, "110")
    moved_at = NOW - timedelta(days=2)
    session.add(
        StayMove(stay_id=stay.id, from_room_id=stay.room_id, to_room_id=here.id, moved_at=moved_at)
    )
    stay.facility_id, stay.room_id, stay.region_code = site.id, here.id, here.region_code
    session.commit()
    positive = take_tube(session, stay, "Q-POS-MOVED", NOW - timedelta(hours=1))
    result(session, lab, positive, "positive")
    assert raise_alerts(session, positive) == []


def test_the_case_from_an_in_stay_positive_was_found_in_quarantine_and_is_controlled(
    session: Session, lab: Actor, ward: dict[str, Stay], epidemiologist: Actor
) -> None:
    positive = positive_after_negative(session, lab, ward["102"])
    raise_alerts(session, positive)
    found = session.scalars(
        select(PositivePerson).where(PositivePerson.tube_id == positive.id)
    ).one()
    case = create_case_from_positive(session, epidemiologist, found.id, classification="confirmed")
    assert (case.detection_route, case.controlled, case.control_basis) == (
        "quarantine_screening", True, "quarantine",
    )  # fmt: skip


# --- reading and closing ---------------------------------------------------------------------


def test_an_alert_shows_its_neighbours_and_closes_once_with_a_note(
    session: Session, lab: Actor, ward: dict[str, Stay], facility_manager: Actor
) -> None:
    positive = positive_after_negative(session, lab, ward["102"])
    alert_id = raise_alerts(session, positive)[0]
    [row] = list_alerts(session, facility_manager)
    assert (row.id, row.room, row.neighbours, row.status) == (alert_id, "102", 4, "open")
    assert row.positive_person_id is not None
    assert row.case_id is None
    detail = get_alert(session, facility_manager, alert_id)
    assert [n.relation for n in detail.neighbours] == [
        "adjacent_room", "adjacent_room", "same_floor", "same_team",
    ]  # fmt: skip
    assert {n.category for n in detail.neighbours} == {"close"}
    with pytest.raises(InvalidInput) as empty:
        close_alert(session, facility_manager, alert_id, "  ")
    assert empty.value.field == "note"
    closed = close_alert(session, facility_manager, alert_id, "邻居均已转为密接并加测")
    assert (closed.status, closed.closed_by) == ("closed", facility_manager.user_id)
    with pytest.raises(Conflict, match="closed already"):
        close_alert(session, facility_manager, alert_id, "again")


def test_a_facility_manager_sees_only_the_alerts_of_their_own_facilities(
    session: Session, lab: Actor, ward: dict[str, Stay], other_facility_manager: Actor
) -> None:
    positive = positive_after_negative(session, lab, ward["102"])
    alert_id = raise_alerts(session, positive)[0]
    assert list_alerts(session, other_facility_manager) == []
    with pytest.raises(NotFound):
        get_alert(session, other_facility_manager, alert_id)
    with pytest.raises(NotFound):
        close_alert(session, other_facility_manager, alert_id, "not mine")


# --- through the lab result alone ----------------------------------------------------------


def test_a_lab_result_alone_raises_the_alert(
    session: Session, lab: Actor, ward: dict[str, Stay]
) -> None:
    """The lab result alone raises it: testing/followup.py's ``follow_up``
    calls ``raise_cross_infection_alerts`` for positive tubes (no direct call
    here)."""
    positive = positive_after_negative(session, lab, ward["102"])
    alert = session.scalars(
        select(QuarantineAlert).where(QuarantineAlert.tube_id == positive.id)
    ).one_or_none()
    assert alert is not None
    assert alert.stay_id == ward["102"].id


# --- found in review: the alert as the facility was at the sample time --------------


def test_a_second_positive_of_the_same_stay_raises_no_second_alert(
    session: Session, lab: Actor, ward: dict[str, Stay]
) -> None:
    positive_after_negative(session, lab, ward["102"])
    named = session.scalar(select(func.count()).select_from(AlertNeighbour))
    again = take_tube(session, ward["102"], "Q-POS-2", NOW - timedelta(hours=1))
    result(session, lab, again, "positive")
    assert session.scalar(select(func.count()).select_from(QuarantineAlert)) == 1
    assert session.scalar(select(func.count()).select_from(AlertNeighbour)) == named


def test_a_neighbour_released_after_the_sample_is_named_and_to_be_found_again(
    session: Session, lab: Actor, ward: dict[str, Stay]
) -> None:
    stay = ward["102"]
    negative = take_tube(session, stay, "Q-NEG-1", NOW - timedelta(days=2), day=4)
    result(session, lab, negative, "negative")
    positive = take_tube(session, stay, "Q-POS-1", NOW - timedelta(hours=5))
    left = session.get(Stay, ward["101"].id)
    assert left is not None
    left.ended_at, left.end_reason = NOW - timedelta(hours=3), "released"
    released = session.get(RiskPerson, left.risk_person_id)
    assert released is not None
    released.status, released.released_at = "released", left.ended_at
    released.release_reason = "completed"  # as release_stay leaves it
    session.commit()
    result(session, lab, positive, "positive")
    assert ward["101"].id in set(session.scalars(select(AlertNeighbour.stay_id)))
    session.expire_all()  # the alert wrote through its own session
    risk = session.scalars(
        select(RiskPerson).where(RiskPerson.person_id == ward["101"].person_id)
    ).one()
    assert (risk.category, risk.status) == ("close", "to_find")  # gone home: recall them


def test_a_positive_that_contradicts_a_negative_result_raises_the_alert_at_once(
    session: Session, lab: Actor, ward: dict[str, Stay]
) -> None:
    stay = ward["102"]
    negative = take_tube(session, stay, "Q-NEG-1", NOW - timedelta(days=2), day=4)
    result(session, lab, negative, "negative")
    retested = take_tube(session, stay, "Q-POS-1", NOW - timedelta(hours=5))
    result(session, lab, retested, "negative")
    assert retested.collected_at is not None
    record_lab_result(
        session, lab, barcode=retested.barcode, result="positive",
        tested_at=retested.collected_at + timedelta(hours=2), lab=LAB_NAME,
    )  # fmt: skip
    assert session.scalar(select(func.count()).select_from(QuarantineAlert)) == 1
