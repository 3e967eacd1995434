"""Tests taken during a stay and its daily health checks: a stay's tube is a
single tube of the testing capability whose lab result, by API or file,
becomes the scheduled test's result.

The helpers here (``at_risk``, ``start_stay``, ``take_all`` and the
``make_stay`` fixture) are shared by the other stay tests; stays in a
facility are written directly, not through the placement service."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import AuditEvent
from fangkong.access.service import Actor
from fangkong.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from fangkong.quarantine.models import CheckIn, Facility, Room, ScheduledTest, Stay
from fangkong.quarantine.stay_board import stay_detail
from fangkong.quarantine.stay_rules import test_schedule as schedule_of
from fangkong.quarantine.stays import (
    local_date,
    record_health_check,
    take_stay_sample,
)
from fangkong.testing.models import PositivePerson, TemporaryControl, Tube, TubeMember
from fangkong.testing.result_import import import_results
from fangkong.testing.results import record_lab_result
from fangkong.tracing.models import RiskPerson
from fangkong.tracing.risk import note_risk_person
from tests.testing.conftest import (
    LAB_NAME,
    Registry,
    Resident,
    result_row,
    results_file,
)

__all__ = ["make_stay"]


# --- helpers the stay tests share ---------------------------------------------------


def at_risk(
    session: Session,
    person: Resident,
    category: str = "close",
    last_exposure_at: datetime | None = None,
) -> RiskPerson:
    noted = note_risk_person(
        session,
        person_id=person.id,
        region_code=person.region_code,
        category=category,
        channel="investigation",
        source="test",
        reported_at=clock.now(),
        last_exposure_at=last_exposure_at,
    )
    session.commit()
    return noted.risk_person


def start_stay(
    session: Session,
    facility: Facility,
    person: Resident,
    *,
    room_number: str = "101",
    started_on: date | None = None,
    planned_end: date | None = None,
    test_days: Sequence[int] = (1, 4, 7, 14),
    risk: RiskPerson | None = None,
) -> Stay:
    """A centralized stay of ``person`` in a room of ``facility``, started at
    this hour of ``started_on`` (13 days ago: today is day 14), planned to
    end ``planned_end`` (today), with its tests scheduled; the room is
    occupied and the risk record under the measure."""
    today = clock.today_local()
    started_on = started_on or today - timedelta(days=13)
    planned_end = planned_end or today
    started_at = clock.now() - timedelta(days=(today - started_on).days)
    room = session.scalars(
        select(Room).where(Room.facility_id == facility.id, Room.number == room_number)
    ).one()
    stay = Stay(
        person_id=person.id,
        region_code=facility.region_code,
        kind="centralized",
        facility_id=facility.id,
        room_id=room.id,
        risk_person_id=risk.id if risk else None,
        household_id=person.household_id,
        exposure_key="case-1",
        severity="",
        last_exposure_at=started_at - timedelta(days=1),
        started_at=started_at,
        planned_end_on=planned_end,
        end_reason="",
    )
    session.add(stay)
    session.flush()
    session.add_all(
        ScheduledTest(stay_id=stay.id, day=day, due_on=on)
        for day, on in schedule_of(started_on, planned_end, tuple(test_days))
    )
    room.status, room.status_at = "occupied", started_at
    if risk is not None:
        risk.status, risk.controlled_at = "under_measure", started_at
    session.commit()
    return stay


def send_result(session: Session, lab: Actor, barcode: str, result: str) -> None:
    record_lab_result(
        session,
        lab,
        barcode=barcode,
        result=result,
        tested_at=clock.now() - timedelta(minutes=1),
        lab=LAB_NAME,
    )


def take_all(
    session: Session,
    actor: Actor,
    lab: Actor,
    stay: Stay,
    results: dict[int, str],
    prefix: str = "S",
) -> None:
    """Take the test of each day in ``results`` and send its result ("" for
    none yet)."""
    for day, result in results.items():
        barcode = f"{prefix}{stay.id}-{day}"
        take_stay_sample(session, actor, stay.id, barcode, day=day)
        if result:
            send_result(session, lab, barcode, result)


@pytest.fixture
def make_stay(session: Session, site: Facility, registry: Registry) -> Callable[..., Stay]:
    def make(person: Resident | None = None, **kwargs: object) -> Stay:
        return start_stay(session, site, person or registry.a1[0], **kwargs)  # type: ignore[arg-type]

    return make


def results_of(session: Session, actor: Actor, stay: Stay) -> dict[int, tuple[str, str | None]]:
    return {t.day: (t.barcode, t.result) for t in stay_detail(session, actor, stay.id).tests}


# --- tests taken during a stay --------------------------------------------------------------


def test_a_stay_sample_is_a_single_tube_of_the_person_answering_the_test_due(
    session: Session, facility_manager: Actor, make_stay: Callable[..., Stay], registry: Registry
) -> None:
    stay = make_stay(test_days=(1, 4, 7, 14))

    taken = take_stay_sample(session, facility_manager, stay.id, " T-0001 ")

    assert taken.day == 1  # the earliest test due and not taken
    tube = session.scalars(select(Tube).where(Tube.barcode == "T-0001")).one()
    assert (tube.pool_size, tube.purpose, tube.round_id, tube.state) == (
        1,
        "stay",
        None,
        "collected",
    )
    assert (taken.tube_id, taken.sampled_at) == (tube.id, clock.now())
    member = session.scalars(select(TubeMember).where(TubeMember.tube_id == tube.id)).one()
    assert (member.person_id, member.round_id, member.region_code) == (
        registry.a1[0].id,
        None,
        registry.a1[0].region_code,
    )
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "stay.sample")).one()
    assert audit.changes == {"barcode": "T-0001", "day": 1, "extra": False, "replaces": ""}
    assert take_stay_sample(session, facility_manager, stay.id, "T-0002").day == 4


def test_a_lab_result_by_api_or_file_reaches_the_stays_schedule(
    session: Session, facility_manager: Actor, lab: Actor, make_stay: Callable[..., Stay]
) -> None:
    stay = make_stay(test_days=(1, 4))
    take_stay_sample(session, facility_manager, stay.id, "T-API", day=1)
    take_stay_sample(session, facility_manager, stay.id, "T-FILE", day=4)

    send_result(session, lab, "T-API", "negative")
    imported = import_results(
        session, lab, results_file([result_row("T-FILE", "negative")]), "r.csv"
    )

    assert imported.accepted == 1
    assert results_of(session, facility_manager, stay) == {
        1: ("T-API", "negative"),
        4: ("T-FILE", "negative"),
    }


def test_a_positive_stay_tube_is_a_positive_person_without_a_temporary_control(
    session: Session,
    facility_manager: Actor,
    lab: Actor,
    make_stay: Callable[..., Stay],
    registry: Registry,
) -> None:
    stay = make_stay(test_days=(1,))
    take_stay_sample(session, facility_manager, stay.id, "T-POS")

    send_result(session, lab, "T-POS", "positive")

    assert results_of(session, facility_manager, stay) == {1: ("T-POS", "positive")}
    positive = session.scalars(select(PositivePerson)).one()
    assert (positive.person_id, positive.round_id) == (registry.a1[0].id, None)
    assert session.scalar(select(func.count()).select_from(TemporaryControl)) == 0


def test_a_sample_with_no_test_due_is_an_extra_test_on_todays_day_of_the_stay(
    session: Session, facility_manager: Actor, make_stay: Callable[..., Stay]
) -> None:
    today = clock.today_local()
    stay = make_stay(
        started_on=today - timedelta(days=4),
        planned_end=today + timedelta(days=9),
        test_days=(1, 14),
    )
    take_stay_sample(session, facility_manager, stay.id, "T-D1")

    extra = take_stay_sample(session, facility_manager, stay.id, "T-EXTRA")

    assert (extra.day, extra.due_on) == (5, clock.today_local())
    with pytest.raises(Conflict, match="day 5 test was taken"):
        take_stay_sample(session, facility_manager, stay.id, "T-EXTRA-2")


def test_a_used_barcode_a_test_not_on_the_schedule_and_one_not_due_name_the_field(
    session: Session, facility_manager: Actor, make_stay: Callable[..., Stay]
) -> None:
    today = clock.today_local()
    stay = make_stay(
        started_on=today - timedelta(days=2),
        planned_end=today + timedelta(days=5),
        test_days=(1, 4),
    )
    take_stay_sample(session, facility_manager, stay.id, "T-1")

    for barcode, day, field in (
        ("T-1", None, "barcode"),
        ("", None, "barcode"),
        ("T-2", 5, "day"),
        ("T-2", 4, "day"),
    ):
        with pytest.raises(InvalidInput) as refused:
            take_stay_sample(session, facility_manager, stay.id, barcode, day=day)
        assert refused.value.field == field
    assert session.scalar(select(func.count()).select_from(Tube)) == 1


def test_a_test_taken_is_not_taken_again_unless_its_result_was_invalid(
    session: Session, facility_manager: Actor, lab: Actor, make_stay: Callable[..., Stay]
) -> None:
    stay = make_stay(test_days=(1, 14))
    take_stay_sample(session, facility_manager, stay.id, "T-A", day=1)
    with pytest.raises(Conflict, match="day 1 test was taken already"):
        take_stay_sample(session, facility_manager, stay.id, "T-B", day=1)

    send_result(session, lab, "T-A", "invalid")
    take_stay_sample(session, facility_manager, stay.id, "T-C", day=1)

    assert results_of(session, facility_manager, stay)[1] == ("T-C", None)
    audit = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "stay.sample").order_by(AuditEvent.id.desc())
    ).first()
    assert audit is not None
    assert audit.changes["replaces"] == "T-A"


def test_the_staff_of_another_facility_and_a_community_worker_take_no_facility_sample(
    session: Session,
    other_facility_manager: Actor,
    make_actor: Callable[..., Actor],
    make_stay: Callable[..., Stay],
) -> None:
    stay = make_stay()
    with pytest.raises(NotFound):
        take_stay_sample(session, other_facility_manager, stay.id, "T-X")
    worker = make_actor("community_worker", "131002001")
    with pytest.raises(PermissionDenied):
        take_stay_sample(session, worker, stay.id, "T-X")
    assert session.scalar(select(func.count()).select_from(Tube)) == 0


def test_a_sample_for_an_ended_stay_is_refused(
    session: Session, facility_manager: Actor, make_stay: Callable[..., Stay]
) -> None:
    stay = make_stay()
    stay.ended_at, stay.end_reason = clock.now(), "became_case"
    session.commit()
    with pytest.raises(Conflict, match="has ended"):
        take_stay_sample(session, facility_manager, stay.id, "T-LATE")


# --- health checks --------------------------------------------------------------------------


def test_a_second_health_check_the_same_day_updates_the_first(
    session: Session, facility_manager: Actor, make_stay: Callable[..., Stay]
) -> None:
    stay = make_stay()
    record_health_check(session, facility_manager, stay.id, symptoms=True, temperature=37.8)
    clock_now = clock.now()

    check = record_health_check(
        session, facility_manager, stay.id, symptoms=False, temperature=36.5, note="退热"
    )

    assert session.scalar(select(func.count()).select_from(CheckIn)) == 1
    assert (check.on_date, check.symptoms, check.temperature, check.seal_intact) == (
        local_date(clock_now),
        False,
        36.5,
        None,  # no door seal in a facility
    )
    audits = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "stay.check").order_by(AuditEvent.id)
    ).all()
    assert [a.changes["updated"] for a in audits] == [False, True]
    assert audits[1].changes["symptoms"] == [True, False]


def test_a_temperature_out_of_range_names_the_field(
    session: Session, facility_manager: Actor, make_stay: Callable[..., Stay]
) -> None:
    stay = make_stay()
    with pytest.raises(InvalidInput) as refused:
        record_health_check(session, facility_manager, stay.id, symptoms=False, temperature=3.65)
    assert refused.value.field == "temperature"
    assert session.scalar(select(func.count()).select_from(CheckIn)) == 0
